# sts-lib.sh - what kl-auth.t and kl-assume-role.t share (sourced after
# tap.sh): the fake STS's keys and roles, starting it, reading its log.
#
# With KL_SECRETS_DIR set (kl-auth-secrets.t reruns these tests at -vv),
# the keys each fake STS issues go to that folder, so the secrets test can
# look for every secret key and session token in what kl wrote.

: "${KL_SECRETS_DIR:=}"
ACCOUNT=123456789012
ROLE_DEMO=arn:aws:iam::$ACCOUNT:role/demo		# external id ext-1
ROLE_OPEN=arn:aws:iam::$ACCOUNT:role/open		# anyone, no external id
ROLE_SHORT=arn:aws:iam::$ACCOUNT:role/short		# 299 s: inside the window
ROLE_REFRESH=arn:aws:iam::$ACCOUNT:role/refresh	# 302 s: 2 s outside it
ROLE_LONG=arn:aws:iam::$ACCOUNT:role/long		# sessions up to 12 hours
USER_ARN=arn:aws:iam::$ACCOUNT:user/test
OTHER_SECRET=NotTheRightSecretKeyForAKIDEXAMPLE0000000

STS_KEYS=$T/sts-keys.json
STS_ROLES=$T/sts-roles.json
cat >"$STS_KEYS" <<EOF
{"$TEST_AKID": {"secret": "$TEST_SECRET", "account": "$ACCOUNT",
 "arn": "$USER_ARN"}}
EOF
cat >"$STS_ROLES" <<EOF
{"$ROLE_DEMO": "ext-1", "$ROLE_OPEN": null,
 "$ROLE_SHORT": {"lifetime": 299}, "$ROLE_REFRESH": {"lifetime": 302},
 "$ROLE_LONG": {"max_session_duration": 43200}}
EOF

have_sts() {
	[ -x "$PY" ] && "$PY" -c 'import botocore' 2>/dev/null
}

sts_n=0
# start_sts [ARGS...]: starts a fake STS; sets STS_URL, STS_PID, STS_LOG
# and STS_ISSUED (one JSON line per issued key).
start_sts() {
	sts_n=$((sts_n + 1))
	STS_LOG=$T/sts.$sts_n.log
	STS_ISSUED=${KL_SECRETS_DIR:-$T}/issued.$$.$sts_n.jsonl
	: >"$STS_LOG"
	start_fake sts.py --keys "$STS_KEYS" --roles "$STS_ROLES" \
	    --log "$STS_LOG" --issued "$STS_ISSUED" "$@" || return 1
	STS_URL=$FAKE_URL
	STS_PID=$FAKE_PID
}

# sts_config JSON: changes the running fake's settings (faults, lifetime).
sts_config() {
	curl -s -o /dev/null -X POST -d "$1" "$STS_URL/_sts/config"
}

# sts_count ACTION: how many requests for ACTION the fake has logged.
sts_count() {
	grep -c "\"action\":\"$1\"" "$STS_LOG"
}

# sts_last FIELD: FIELD of the last request logged.
sts_last() {
	tail -n 1 "$STS_LOG" | jq -r ".$1"
}

# with_sts CMD...: CMD with the region and the fake as STS endpoint.
with_sts() {
	AWS_REGION=us-east-1 AWS_ENDPOINT_URL_STS=$STS_URL "$@"
}
