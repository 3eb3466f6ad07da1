#!/bin/sh
# kl-fakes.t: TAP test of kl's own test fakes, checked against independent
# peers.  tests/fakes/sts.py (fake STS) is driven by the AWS CLI v2 and
# curl --aws-sigv4; tests/fakes/kinesis-front.py (verifying, fault-injecting
# front) runs in front of kinesalite and is driven by the AWS CLI, curl and
# a botocore client.  A fake that the real clients accept, and that rejects
# what real AWS rejects, is a fake kl's tests can trust.
#
# Needs /usr/bin/python3 with botocore (Debian python3-botocore) and
# /usr/bin/aws (Debian awscli); skips everything without them.  The Kinesis
# cases also need node and kinesalite, found as node_modules/kinesalite
# under $KL_NODE_MODULES (the node_modules directory itself or its parent)
# or tests/node_modules; without them they are skipped.
#
# Hermetic: scratch dir from mktemp -d (also HOME), the AWS environment
# cleared except throw-away test keys, every server on a free 127.0.0.1
# port, every wait bounded, every process stopped by its PID.

if [ -n "${srcdir:-}" ] && [ -d "$srcdir/tests/fakes" ]; then
	here=$(cd "$srcdir/tests" && pwd)
else
	here=$(cd "$(dirname "$0")" && pwd)
fi
fakes=$here/fakes
PY=${KL_PYTHON:-/usr/bin/python3}
AWS=${KL_AWS:-/usr/bin/aws}

for v in $(env | sed -n 's/^\(AWS_[A-Za-z0-9_]*\)=.*/\1/p'); do
	unset "$v"
done
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY \
    LYTICS_API_KEY LYTICS_API_URL
NO_PROXY=127.0.0.1,localhost; no_proxy=$NO_PROXY
LC_ALL=C
AKID=AKIDEXAMPLE
SECRET=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
export NO_PROXY no_proxy LC_ALL

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kl-fakes.XXXXXX") || exit 1
HOME=$tmp
AWS_ACCESS_KEY_ID=$AKID
AWS_SECRET_ACCESS_KEY=$SECRET
AWS_REGION=us-east-1
AWS_CONFIG_FILE=/dev/null
AWS_SHARED_CREDENTIALS_FILE=/dev/null
AWS_PAGER=
AWS_MAX_ATTEMPTS=1
AWS_RETRY_MODE=standard
AWS_EC2_METADATA_DISABLED=true
export HOME AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_REGION \
    AWS_CONFIG_FILE AWS_SHARED_CREDENTIALS_FILE AWS_PAGER AWS_MAX_ATTEMPTS \
    AWS_RETRY_MODE AWS_EC2_METADATA_DISABLED

pids=
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null; done
	for p in $pids; do wait "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
trap 'exit 129' HUP

PLAN=47
echo "1..$PLAN"
t=0
pass() { t=$((t + 1)); echo "ok $t - $1"; }
fail() {
	t=$((t + 1)); echo "not ok $t - $1"; shift
	for f in "$@"; do
		[ -f "$f" ] && sed 's/^/#   /' "$f" | head -n 40
	done
	return 0
}
skip() { t=$((t + 1)); echo "ok $t # skip $1"; }
skip_rest() { while [ $t -lt "$2" ]; do skip "$1"; done; }
# check DESC COMMAND...: ok when COMMAND succeeds; on failure show the
# files named in $show.
check() {
	d=$1; shift
	if "$@"; then pass "$d"; else fail "$d" $show; fi
	show=
}
has() { grep -q -- "$2" "$1"; }
hasnt() { ! grep -q -- "$2" "$1"; }
py() { "$PY" -c "$@"; }
# jq-like: jget FILE EXPR (EXPR in Python over d).
jget() { "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
freeport() {
	py 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# only_loopback PORT: listening on 127.0.0.1:PORT and on no other address.
only_loopback() {
	ss -ltn | awk '{print $4}' >"$tmp/ss.out"
	grep -qx "127.0.0.1:$1" "$tmp/ss.out" &&
	    ! grep -v '^127\.0\.0\.1:' "$tmp/ss.out" | grep -q ":$1\$"
}
portof() { echo "$1" | sed 's/.*://'; }
# start NAME COMMAND...: run a fake, wait (bounded) for its start line; sets
# $url and $pid.
start() {
	name=$1; shift
	"$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
	pid=$!
	pids="$pids $pid"
	i=0
	until grep -q '"url"' "$tmp/$name.out" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -gt 200 ] || ! kill -0 "$pid" 2>/dev/null; then
			url=
			return 1
		fi
		sleep 0.05
	done
	url=$(sed -n 's/.*"url":"\([^"]*\)".*/\1/p' "$tmp/$name.out")
	[ -n "$url" ]
}
# stop PID: SIGTERM, then wait; returns the exit status.
stop() {
	kill "$1" 2>/dev/null
	wait "$1"
	rc=$?
	pids=$(echo "$pids" | sed "s/ $1\$//; s/ $1 / /")
	return $rc
}
aws() { timeout 60 "$AWS" "$@"; }
# scurl SERVICE ARGS...: curl signed with SigV4 by curl itself.
printf 'user = "%s:%s"\n' "$AKID" "$SECRET" >"$tmp/curl.cfg"
scurl() {
	svc=$1; shift
	curl -sS --max-time 20 -K "$tmp/curl.cfg" \
	    --aws-sigv4 "aws:amz:${REGION_OVERRIDE:-us-east-1}:$svc" "$@"
}

if ! "$PY" -c 'import botocore' 2>/dev/null || [ ! -x "$AWS" ] ||
    ! command -v curl >/dev/null || ! command -v ss >/dev/null; then
	skip_rest "needs $PY with botocore, $AWS, curl and ss" $PLAN
	exit 0
fi

cat >"$tmp/keys.json" <<EOF
{"$AKID": {"secret": "$SECRET", "account": "123456789012",
  "arn": "arn:aws:iam::123456789012:user/test"}}
EOF
cat >"$tmp/roles.json" <<'EOF'
{"arn:aws:iam::123456789012:role/demo": {"external_id": "ext-1"},
 "arn:aws:iam::123456789012:role/open": null,
 "arn:aws:iam::123456789012:role/web": {"web_identity_tokens": ["tok-good"]}}
EOF

### Fake STS ###########################################################

start sts "$PY" "$fakes/sts.py" --port 0 --keys "$tmp/keys.json" \
    --roles "$tmp/roles.json" --log "$tmp/sts.log" \
    --issued "$tmp/issued.jsonl"
sts=$url sts_pid=$pid
show="$tmp/sts.out $tmp/sts.err"
check "sts: starts, prints url and pid, listens on 127.0.0.1 only" \
    eval '[ -n "$sts" ] && has "$tmp/sts.out" "\"pid\":$sts_pid" &&
	only_loopback "$(portof "$sts")"'
if [ -z "$sts" ]; then
	skip_rest "fake STS did not start" $PLAN
	exit 0
fi
E="--endpoint-url $sts"

aws $E sts get-caller-identity >"$tmp/gci.json" 2>"$tmp/err"
show="$tmp/gci.json $tmp/err"
check "sts: AWS CLI get-caller-identity succeeds, Arn from the keys file" \
    eval '[ "$(jget "$tmp/gci.json" "d[\"Arn\"]+\" \"+d[\"Account\"]")" = \
	"arn:aws:iam::123456789012:user/test 123456789012" ]'

now=$(date +%s)
aws $E sts assume-role --role-arn arn:aws:iam::123456789012:role/demo \
    --role-session-name kl-test --external-id ext-1 \
    >"$tmp/ar.json" 2>"$tmp/err"
show="$tmp/ar.json $tmp/err"
check "sts: assume-role issues ASIA key, token, Expiration now+3600" \
    py 'import json, re, sys, calendar, time
d = json.load(open(sys.argv[1])); c = d["Credentials"]
exp = calendar.timegm(time.strptime(c["Expiration"][:19], "%Y-%m-%dT%H:%M:%S"))
assert re.fullmatch(r"ASIA[A-Z0-9]{16}", c["AccessKeyId"]), c["AccessKeyId"]
assert len(c["SecretAccessKey"]) == 40 and len(c["SessionToken"]) > 300
assert abs(exp - int(sys.argv[2]) - 3600) < 30, exp
assert d["AssumedRoleUser"]["Arn"] == "arn:aws:sts::123456789012:assumed-role/demo/kl-test"
' "$tmp/ar.json" "$now"
TMP_AKID=$(jget "$tmp/ar.json" 'd["Credentials"]["AccessKeyId"]')
TMP_SECRET=$(jget "$tmp/ar.json" 'd["Credentials"]["SecretAccessKey"]')
TMP_TOKEN=$(jget "$tmp/ar.json" 'd["Credentials"]["SessionToken"]')

AWS_ACCESS_KEY_ID=$TMP_AKID AWS_SECRET_ACCESS_KEY=$TMP_SECRET \
    AWS_SESSION_TOKEN=$TMP_TOKEN aws $E sts get-caller-identity \
    >"$tmp/gci2.json" 2>"$tmp/err"
show="$tmp/gci2.json $tmp/err"
check "sts: issued key works, signed x-amz-security-token, assumed-role ARN" \
    eval '[ "$(jget "$tmp/gci2.json" "d[\"Arn\"]")" = \
	"arn:aws:sts::123456789012:assumed-role/demo/kl-test" ] &&
	tail -n 1 "$tmp/sts.log" | grep -q "content-type;host;x-amz-date;x-amz-security-token"'

AWS_SECRET_ACCESS_KEY=wrong-secret aws $E sts get-caller-identity \
    >/dev/null 2>"$tmp/err"
rc=$?
show=$tmp/err
check "sts: wrong secret gets SignatureDoesNotMatch (exit 254)" \
    eval '[ $rc = 254 ] && has "$tmp/err" "(SignatureDoesNotMatch)" &&
	has "$tmp/err" "Canonical String for this request"'

AWS_ACCESS_KEY_ID=AKIDUNKNOWN00000000 aws $E sts get-caller-identity \
    >/dev/null 2>"$tmp/err"
rc=$?
check "sts: unknown access key id gets InvalidClientTokenId" \
    eval '[ $rc = 254 ] && has "$tmp/err" "(InvalidClientTokenId)"'

AWS_ACCESS_KEY_ID=$TMP_AKID AWS_SECRET_ACCESS_KEY=$TMP_SECRET \
    AWS_SESSION_TOKEN=wrong-token aws $E sts get-caller-identity \
    >/dev/null 2>"$tmp/err"
rc=$?
check "sts: temporary key with the wrong session token: InvalidClientTokenId" \
    eval '[ $rc = 254 ] && has "$tmp/err" "(InvalidClientTokenId)"'

aws $E sts assume-role --role-arn arn:aws:iam::123456789012:role/demo \
    --role-session-name kl-test >/dev/null 2>"$tmp/err"
rc=$?
check "sts: missing external id gets AccessDenied (exit 254)" \
    eval '[ $rc = 254 ] && has "$tmp/err" "(AccessDenied)" &&
	has "$tmp/err" "not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::123456789012:role/demo"'

ar='Action=AssumeRole&Version=2011-06-15&RoleSessionName=kl-test&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2F'
c1=$(scurl sts -o "$tmp/err1" -w '%{http_code}' -d "${ar}demo&ExternalId=ext-2" "$sts/")
c2=$(scurl sts -o "$tmp/err2" -w '%{http_code}' -d "${ar}other" "$sts/")
show="$tmp/err1 $tmp/err2"
check "sts: wrong external id and an untrusted role get 403 AccessDenied" \
    eval '[ "$c1 $c2" = "403 403" ] && has "$tmp/err1" "<Code>AccessDenied</Code>" &&
	has "$tmp/err2" "<Code>AccessDenied</Code>"'

aws $E sts assume-role --role-arn arn:aws:iam::123456789012:role/open \
    --role-session-name 'bad name!' >/dev/null 2>"$tmp/err"
rc=$?
check "sts: bad RoleSessionName gets ValidationError with the STS pattern" \
    eval '[ $rc = 254 ] && has "$tmp/err" "(ValidationError)" &&
	has "$tmp/err" "at .roleSessionName. failed to satisfy constraint"'

# curl 7.88 does not sort or re-encode the query when signing: give it the
# canonical form.
q='Action=AssumeRole&DurationSeconds=100&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fopen&RoleSessionName=ab&Version=2011-06-15'
scurl sts "$sts/?$q" >"$tmp/v1.xml" 2>&1
q='Action=AssumeRole&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789%3Arole%2Fopen&RoleSessionName=ab&Version=2011-06-15'
scurl sts "$sts/?$q" >"$tmp/v2.xml" 2>&1
show="$tmp/v1.xml $tmp/v2.xml"
check "sts: DurationSeconds 100 and a 9-digit account are ValidationErrors" \
    eval 'has "$tmp/v1.xml" "<Code>ValidationError</Code>" &&
	has "$tmp/v1.xml" "greater than or equal to 900" &&
	has "$tmp/v2.xml" "<Code>ValidationError</Code>" &&
	has "$tmp/v2.xml" "<Type>Sender</Type>"'

scurl sts -d "${ar}open&DurationSeconds=7200" "$sts/" >"$tmp/err" 2>&1
show=$tmp/err
check "sts: DurationSeconds above the role's MaxSessionDuration refused" \
    eval 'has "$tmp/err" "<Code>ValidationError</Code>" &&
	has "$tmp/err" "exceeds the MaxSessionDuration"'

scurl sts -D "$tmp/h" \
    "$sts/?Action=GetCallerIdentity&Version=2011-06-15" >"$tmp/get.xml" 2>&1
show="$tmp/h $tmp/get.xml"
check "sts: signed GET with a query string answers STS XML" \
    eval 'has "$tmp/h" "^HTTP/1.1 200" && has "$tmp/h" "^Content-Type: text/xml" &&
	has "$tmp/h" "^x-amzn-RequestId: " &&
	has "$tmp/get.xml" "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">" &&
	has "$tmp/get.xml" "<Arn>arn:aws:iam::123456789012:user/test</Arn>"'

code=$(curl -sS --max-time 20 -o "$tmp/un.xml" -w '%{http_code}' \
    -d 'Action=GetCallerIdentity&Version=2011-06-15' "$sts/")
show=$tmp/un.xml
check "sts: unsigned request gets 403 MissingAuthenticationToken" \
    eval '[ "$code" = 403 ] && has "$tmp/un.xml" "<Code>MissingAuthenticationToken</Code>"'

scurl sts -H 'X-Amz-Date: 20200101T000000Z' \
    "$sts/?Action=GetCallerIdentity&Version=2011-06-15" >"$tmp/skew.xml" 2>&1
show=$tmp/skew.xml
check "sts: X-Amz-Date beyond the 5-minute skew: Signature expired" \
    eval 'has "$tmp/skew.xml" "<Code>SignatureDoesNotMatch</Code>" &&
	has "$tmp/skew.xml" "Signature expired: 20200101T000000Z is now earlier than"'

REGION_OVERRIDE=us-west-2 scurl sts \
    "$sts/?Action=GetCallerIdentity&Version=2011-06-15" >"$tmp/rg.xml" 2>&1
show=$tmp/rg.xml
check "sts: credential scope for another region: SignatureDoesNotMatch" \
    eval 'has "$tmp/rg.xml" "<Code>SignatureDoesNotMatch</Code>" &&
	has "$tmp/rg.xml" "scoped to a valid region, not .us-west-2."'

curl -sS -o /dev/null -X POST -d '{"lifetime": 2}' "$sts/_sts/config"
aws $E sts assume-role --role-arn arn:aws:iam::123456789012:role/open \
    --role-session-name short >"$tmp/ar3.json" 2>"$tmp/err"
curl -sS -o /dev/null -X POST -d '{"lifetime": null}' "$sts/_sts/config"
sleep 3
AWS_ACCESS_KEY_ID=$(jget "$tmp/ar3.json" 'd["Credentials"]["AccessKeyId"]') \
AWS_SECRET_ACCESS_KEY=$(jget "$tmp/ar3.json" 'd["Credentials"]["SecretAccessKey"]') \
AWS_SESSION_TOKEN=$(jget "$tmp/ar3.json" 'd["Credentials"]["SessionToken"]') \
    aws $E sts get-caller-identity >/dev/null 2>"$tmp/err"
rc=$?
show="$tmp/ar3.json $tmp/err"
check "sts: lifetime 2 s: the key is refused with ExpiredToken 3 s later" \
    eval '[ $rc = 254 ] && has "$tmp/err" "(ExpiredToken)"'

curl -sS -o /dev/null -X POST -d '{"max_duration": 301}' "$sts/_sts/config"
now=$(date +%s)
aws $E sts assume-role --role-arn arn:aws:iam::123456789012:role/open \
    --role-session-name capped --duration-seconds 3600 \
    >"$tmp/ar4.json" 2>"$tmp/err"
curl -sS -o /dev/null -X POST -d '{"max_duration": null}' "$sts/_sts/config"
show="$tmp/ar4.json $tmp/err"
check "sts: max_duration 301 caps Expiration at now+301 (refresh test)" \
    py 'import json, sys, calendar, time
c = json.load(open(sys.argv[1]))["Credentials"]
exp = calendar.timegm(time.strptime(c["Expiration"][:19], "%Y-%m-%dT%H:%M:%S"))
assert 296 <= exp - int(sys.argv[2]) <= 306, exp - int(sys.argv[2])
' "$tmp/ar4.json" "$now"

n0=$(wc -l <"$tmp/sts.log")
curl -sS -o /dev/null -X POST \
    -d '{"fail_count": 2, "fail_code": "Throttling"}' "$sts/_sts/config"
AWS_MAX_ATTEMPTS=3 aws $E sts get-caller-identity >"$tmp/thr.json" 2>"$tmp/err"
rc=$?
tail -n +$((n0 + 1)) "$tmp/sts.log" >"$tmp/thr.log"
show="$tmp/err $tmp/thr.log"
check "sts: two Throttling faults, the CLI retries and succeeds on the 3rd" \
    eval '[ $rc = 0 ] && [ $(grep -c "\"code\":\"Throttling\"" "$tmp/thr.log") = 2 ] &&
	[ $(wc -l <"$tmp/thr.log") = 3 ]'

curl -sS -o /dev/null -X POST \
    -d '{"fail_count": 1, "fail_code": "AccessDenied"}' "$sts/_sts/config"
code=$(scurl sts -o "$tmp/err" -w '%{http_code}' \
    "$sts/?Action=GetCallerIdentity&Version=2011-06-15")
show=$tmp/err
check "sts: injected AccessDenied is 403 AccessDenied" \
    eval '[ "$code" = 403 ] && has "$tmp/err" "<Code>AccessDenied</Code>"'

curl -sS -o /dev/null -X POST \
    -d '{"fail_count": 1, "fail_code": "InternalFailure"}' "$sts/_sts/config"
code=$(scurl sts -o "$tmp/500.xml" -w '%{http_code}' \
    "$sts/?Action=GetCallerIdentity&Version=2011-06-15")
show=$tmp/500.xml
check "sts: injected InternalFailure is HTTP 500 with Type Receiver" \
    eval '[ "$code" = 500 ] && has "$tmp/500.xml" "<Type>Receiver</Type>" &&
	has "$tmp/500.xml" "<Code>InternalFailure</Code>"'

curl -sS -o /dev/null -X POST -d '{"malformed_count": 1}' "$sts/_sts/config"
aws $E sts get-caller-identity >/dev/null 2>"$tmp/err"
rc=$?
show=$tmp/err
check "sts: malformed XML reply makes the CLI fail" \
    eval '[ $rc != 0 ] && has "$tmp/err" "invalid XML"'

body='Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fweb&RoleSessionName=w1&WebIdentityToken='
curl -sS --max-time 20 -d "${body}tok-good" "$sts/" >"$tmp/w1.xml" 2>&1
curl -sS --max-time 20 -d "${body}tok-bad" "$sts/" >"$tmp/w2.xml" 2>&1
show="$tmp/w1.xml $tmp/w2.xml"
check "sts: AssumeRoleWithWebIdentity (unsigned): good token ok, bad refused" \
    eval 'has "$tmp/w1.xml" "<AccessKeyId>ASIA" &&
	has "$tmp/w1.xml" "assumed-role/web/w1" &&
	has "$tmp/w2.xml" "<Code>InvalidIdentityToken</Code>"'

scurl sts -v "$sts/?Action=GetCallerIdentity&Version=2011-06-15" \
    "$sts/?Action=GetCallerIdentity&Version=2011-06-15" >"$tmp/ka.out" 2>&1
show=$tmp/ka.out
check "sts: HTTP/1.1 keep-alive (curl reuses the connection)" \
    eval '[ $(grep -c "<GetCallerIdentityResponse" "$tmp/ka.out") = 2 ] &&
	has "$tmp/ka.out" "Re-using existing connection"'

show=$tmp/sts.log
check "sts: log is one JSON object per request, with no secret or token" \
    eval 'py "import json,sys
for l in open(sys.argv[1]): o = json.loads(l); assert \"action\" in o and \"status\" in o
" "$tmp/sts.log" && hasnt "$tmp/sts.log" "$SECRET" &&
	hasnt "$tmp/sts.log" "$TMP_SECRET" && hasnt "$tmp/sts.log" "$TMP_TOKEN" &&
	hasnt "$tmp/sts.log" "Signature="'

### Kinesis front over kinesalite ######################################

nm=
for d in "${KL_NODE_MODULES:-}" \
    ${KL_NODE_MODULES:+"$KL_NODE_MODULES/node_modules"} \
    "$here/node_modules"; do
	if [ -n "$d" ] && [ -f "$d/kinesalite/package.json" ]; then
		nm=$d
		break
	fi
done
if [ -z "$nm" ] || ! command -v node >/dev/null; then
	skip_rest "kinesalite not found (KL_NODE_MODULES, tests/node_modules)" \
	    $((PLAN - 1))
	stop "$sts_pid"
	rc=$?
	check "sts: exits 0 on SIGTERM" [ $rc = 0 ]
	exit 0
fi

cat >"$tmp/kinesalite-lo.js" <<'EOF'
const kinesalite = require('kinesalite');
kinesalite({ createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 100 })
  .listen(Number(process.argv[2]), '127.0.0.1', () => console.log('ready'));
EOF
kin=
for attempt in 1 2; do
	kport=$(freeport)
	NODE_PATH=$nm node "$tmp/kinesalite-lo.js" "$kport" >"$tmp/kin.log" 2>&1 &
	kin_pid=$!
	pids="$pids $kin_pid"
	i=0
	until grep -q ready "$tmp/kin.log" 2>/dev/null; do
		i=$((i + 1))
		[ $i -le 200 ] && kill -0 "$kin_pid" 2>/dev/null || break
		sleep 0.05
	done
	if grep -q ready "$tmp/kin.log"; then
		kin=http://127.0.0.1:$kport
		break
	fi
	stop "$kin_pid"
done
show=$tmp/kin.log
check "kinesalite starts on 127.0.0.1 only" \
    eval '[ -n "$kin" ] && only_loopback "$kport"'
if [ -z "$kin" ]; then
	skip_rest "kinesalite did not start" $((PLAN - 1))
	stop "$sts_pid"
	rc=$?
	check "sts: exits 0 on SIGTERM" [ $rc = 0 ]
	exit 0
fi

start front "$PY" "$fakes/kinesis-front.py" --port 0 --upstream "$kin" \
    --keys "$tmp/keys.json" --sts-keys "$tmp/issued.jsonl" \
    --log "$tmp/front.log" --seed 7 --put-record-fail 0.2
front=$url front_pid=$pid
show="$tmp/front.out $tmp/front.err"
check "front: starts, prints url and pid, listens on 127.0.0.1 only" \
    eval '[ -n "$front" ] && has "$tmp/front.out" "\"pid\":$front_pid" &&
	only_loopback "$(portof "$front")"'
F="--endpoint-url $front"
raw='--cli-binary-format raw-in-base64-out'

# kcurl OP JSON [CURL-ARGS...]: a Kinesis call through the front, signed
# by curl.
kcurl() {
	op=$1 body=$2
	shift 2
	scurl kinesis -H 'Content-Type: application/x-amz-json-1.1' \
	    -H "X-Amz-Target: Kinesis_20131202.$op" "$@" -d "$body" "$front/"
}
# wait_active STREAM: bounded poll for ACTIVE through the front.
wait_active() {
	i=0
	while [ $i -lt 50 ]; do
		kcurl DescribeStreamSummary "{\"StreamName\":\"$1\"}" |
		    grep -q '"StreamStatus":"ACTIVE"' && return 0
		i=$((i + 1))
		sleep 0.1
	done
	return 1
}
aws $F kinesis create-stream --stream-name s1 --shard-count 1 \
    >"$tmp/cs.out" 2>&1 && wait_active s1
rc=$?
show=$tmp/cs.out
check "front: AWS CLI create-stream through the front, stream ACTIVE" [ $rc = 0 ]

AWS_SECRET_ACCESS_KEY=wrong-secret aws $F kinesis list-streams \
    >/dev/null 2>"$tmp/err"
rc=$?
show=$tmp/err
check "front: wrong secret gets InvalidSignatureException" \
    eval '[ $rc = 254 ] && has "$tmp/err" "(InvalidSignatureException)"'

AWS_ACCESS_KEY_ID=AKIDUNKNOWN00000000 aws $F kinesis list-streams \
    >/dev/null 2>"$tmp/err"
rc=$?
check "front: unknown access key id gets UnrecognizedClientException" \
    eval '[ $rc = 254 ] && has "$tmp/err" "(UnrecognizedClientException)"'

py 'import json
print(json.dumps([{"Data": json.dumps({"i": i}), "PartitionKey": "pk-%d" % i}
                  for i in range(100)]))' >"$tmp/recs.json"
aws $F kinesis put-records --stream-name s1 $raw \
    --records "file://$tmp/recs.json" >"$tmp/put.json" 2>"$tmp/err"
show="$tmp/err $tmp/put.json"
check "front: put-record-fail 0.2: the CLI sees 0 < FailedRecordCount < 100" \
    py 'import json, sys
d = json.load(open(sys.argv[1])); r = d["Records"]
bad = [x for x in r if "ErrorCode" in x]
assert len(r) == 100 and 0 < d["FailedRecordCount"] == len(bad) < 100, d["FailedRecordCount"]
assert all(x["ErrorCode"] == "ProvisionedThroughputExceededException" and x["ErrorMessage"] for x in bad)
assert all("SequenceNumber" in x for x in r if "ErrorCode" not in x)
' "$tmp/put.json"

# read_all STREAM OUT: every record of shard 0 through the front.
read_all() {
	it=$(aws $F kinesis get-shard-iterator --stream-name "$1" \
	    --shard-id shardId-000000000000 --shard-iterator-type TRIM_HORIZON \
	    --query ShardIterator --output text) &&
	aws $F kinesis get-records --shard-iterator "$it" --limit 10000 >"$2"
}
read_all s1 "$tmp/got.json" 2>"$tmp/err"
show="$tmp/err"
check "front: the stream holds exactly the records reported successful" \
    py 'import base64, json, sys
put = json.load(open(sys.argv[1]))["Records"]
got = json.load(open(sys.argv[2]))["Records"]
want = [(i, r["SequenceNumber"]) for i, r in enumerate(put) if "SequenceNumber" in r]
have = [(json.loads(base64.b64decode(r["Data"]))["i"], r["SequenceNumber"]) for r in got]
assert want == have, (len(want), len(have))
assert all(r["PartitionKey"] == "pk-%d" % i for (i, _), r in zip(have, got))
' "$tmp/put.json" "$tmp/got.json"

# Determinism: two fresh fronts with the same seed fail the same entries.
kcurl CreateStream '{"StreamName":"d1","ShardCount":1}' >/dev/null
kcurl CreateStream '{"StreamName":"d2","ShardCount":1}' >/dev/null
wait_active d1 && wait_active d2
for k in 1 2; do
	start "det$k" "$PY" "$fakes/kinesis-front.py" --port 0 --upstream "$kin" \
	    --keys "$tmp/keys.json" --seed 11 --put-record-fail 0.3 &&
	aws --endpoint-url "$url" kinesis put-records --stream-name "d$k" $raw \
	    --records "file://$tmp/recs.json" >"$tmp/det$k.json" 2>"$tmp/err"
	stop "$pid"
done
show="$tmp/det1.json $tmp/err"
check "front: same seed, same call order: the same entries fail" \
    py 'import json, sys
f = [[i for i, r in enumerate(json.load(open(p))["Records"]) if "ErrorCode" in r]
     for p in sys.argv[1:]]
assert f[0] == f[1] and 0 < len(f[0]) < 100, f
' "$tmp/det1.json" "$tmp/det2.json"

curl -sS -o /dev/null -X POST \
    -d '{"put_record_fail": 0, "expired_iterator": 1}' "$front/_front/config"
it=$(aws $F kinesis get-shard-iterator --stream-name s1 \
    --shard-id shardId-000000000000 --shard-iterator-type TRIM_HORIZON \
    --query ShardIterator --output text)
aws $F kinesis get-records --shard-iterator "$it" >/dev/null 2>"$tmp/err"
rc=$?
curl -sS -o /dev/null -X POST -d '{"expired_iterator": 0}' \
    "$front/_front/config"
aws $F kinesis get-records --shard-iterator "$it" --limit 10000 \
    >"$tmp/got2.json" 2>"$tmp/err2"
show="$tmp/err $tmp/err2"
check "front: ExpiredIteratorException does not consume the iterator" \
    eval '[ $rc = 254 ] && has "$tmp/err" "(ExpiredIteratorException)" &&
	[ "$(jget "$tmp/got2.json" "len(d[\"Records\"])")" = \
	  "$(jget "$tmp/got.json" "len(d[\"Records\"])")" ]'

curl -sS -o /dev/null -X POST -d '{"call_throttle": 1}' "$front/_front/config"
aws $F kinesis put-records --stream-name s1 $raw \
    --records "file://$tmp/recs.json" >/dev/null 2>"$tmp/err"
rc=$?
curl -sS -o /dev/null -X POST -d '{"call_throttle": 0}' "$front/_front/config"
read_all s1 "$tmp/got3.json" 2>/dev/null
show=$tmp/err
check "front: whole-call throttle: 400 ProvisionedThroughputExceeded, nothing written" \
    eval '[ $rc = 254 ] && has "$tmp/err" "(ProvisionedThroughputExceededException)" &&
	[ "$(jget "$tmp/got3.json" "len(d[\"Records\"])")" = \
	  "$(jget "$tmp/got.json" "len(d[\"Records\"])")" ]'

curl -sS -o /dev/null -X POST -d '{"next": ["http500", "http503"]}' \
    "$front/_front/config"
for k in 1 2; do
	kcurl ListStreams '{}' -o "$tmp/5xx$k.json" -w '%{http_code}\n'
done >"$tmp/codes"
show="$tmp/codes $tmp/5xx1.json $tmp/5xx2.json"
check "front: queued faults give HTTP 500 then 503 with JSON bodies" \
    eval '[ "$(tr "\n" " " <"$tmp/codes")" = "500 503 " ] &&
	has "$tmp/5xx1.json" "\"__type\":\"InternalFailure\"" &&
	has "$tmp/5xx2.json" "\"__type\":\"ServiceUnavailable\""'

curl -sS -o /dev/null -X POST -d '{"next": ["drop"]}' "$front/_front/config"
aws $F kinesis list-streams >/dev/null 2>"$tmp/err"
rc=$?
show=$tmp/err
check "front: dropped connection: the CLI sees the connection closed" \
    eval '[ $rc != 0 ] && has "$tmp/err" "onnection was closed"'

curl -sS -o /dev/null -X POST -d '{"delete_after": 1}' "$front/_front/config"
aws $F kinesis describe-stream-summary --stream-name s1 >/dev/null 2>"$tmp/err1"
rc1=$?
aws $F kinesis describe-stream-summary --stream-name s1 >/dev/null 2>"$tmp/err2"
rc2=$?
curl -sS -o /dev/null -X POST -d '{"delete_after": null}' "$front/_front/config"
show="$tmp/err1 $tmp/err2"
check "front: stream deleted after 1 more call: ResourceNotFoundException" \
    eval '[ $rc1 = 0 ] && [ $rc2 = 254 ] &&
	has "$tmp/err2" "(ResourceNotFoundException)"'

AWS_ACCESS_KEY_ID=$TMP_AKID AWS_SECRET_ACCESS_KEY=$TMP_SECRET \
    AWS_SESSION_TOKEN=$TMP_TOKEN aws $F kinesis list-streams \
    >"$tmp/ls.json" 2>"$tmp/err"
show="$tmp/err"
check "front: a temporary key issued by the fake STS is accepted (--sts-keys)" \
    has "$tmp/ls.json" '"s1"'

AWS_ACCESS_KEY_ID=$TMP_AKID AWS_SECRET_ACCESS_KEY=$TMP_SECRET \
    AWS_SESSION_TOKEN=wrong-token aws $F kinesis list-streams \
    >/dev/null 2>"$tmp/err"
rc=$?
check "front: issued key with a wrong session token: UnrecognizedClient" \
    eval '[ $rc = 254 ] && has "$tmp/err" "(UnrecognizedClientException)"'

AWS_ACCESS_KEY_ID=$(jget "$tmp/ar3.json" 'd["Credentials"]["AccessKeyId"]') \
AWS_SECRET_ACCESS_KEY=$(jget "$tmp/ar3.json" 'd["Credentials"]["SecretAccessKey"]') \
AWS_SESSION_TOKEN=$(jget "$tmp/ar3.json" 'd["Credentials"]["SessionToken"]') \
    aws $F kinesis list-streams >/dev/null 2>"$tmp/err"
rc=$?
check "front: an expired issued key gets ExpiredTokenException" \
    eval '[ $rc = 254 ] && has "$tmp/err" "(ExpiredTokenException)"'

scurl kinesis -H 'X-Amz-Date: 20200101T000000Z' \
    -H 'Content-Type: application/x-amz-json-1.1' \
    -H 'X-Amz-Target: Kinesis_20131202.ListStreams' -d '{}' \
    "$front/" >"$tmp/skew.json" 2>&1
show=$tmp/skew.json
check "front: X-Amz-Date beyond the skew: InvalidSignatureException expired" \
    eval 'has "$tmp/skew.json" "\"__type\":\"InvalidSignatureException\"" &&
	has "$tmp/skew.json" "Signature expired: 20200101T000000Z"'

scurl kinesis -v -H 'Content-Type: application/x-amz-json-1.1' \
    -H 'X-Amz-Target: Kinesis_20131202.ListStreams' -d '{}' \
    "$front/" "$front/" >"$tmp/ka.out" 2>&1
show=$tmp/ka.out
check "front: HTTP/1.1 keep-alive (curl reuses the connection)" \
    eval '[ $(grep -c "\"StreamNames\"" "$tmp/ka.out") = 2 ] &&
	has "$tmp/ka.out" "Re-using existing connection"'

# Volume: 20,000 records in 40 PutRecords calls from a botocore client,
# 4 calls in flight, 10 % of records failed by the front.
cat >"$tmp/vol.py" <<'EOF'
import json, sys, time
import botocore.session
from botocore.config import Config
from concurrent.futures import ThreadPoolExecutor
ep, stream, total = sys.argv[1], sys.argv[2], int(sys.argv[3])
c = botocore.session.get_session().create_client(
    "kinesis", region_name="us-east-1", endpoint_url=ep,
    config=Config(retries={"max_attempts": 1}, max_pool_connections=4))
c.create_stream(StreamName=stream, ShardCount=4)
for _ in range(50):
    if c.describe_stream_summary(StreamName=stream)[
            "StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE":
        break
    time.sleep(0.1)
def put(b):
    recs = [{"Data": json.dumps({"i": i}).encode(), "PartitionKey": "k%d" % i}
            for i in range(b * 500, b * 500 + 500)]
    r = c.put_records(StreamName=stream, Records=recs)
    return [recs[j]["PartitionKey"] for j, x in enumerate(r["Records"])
            if "SequenceNumber" in x]
t0 = time.time()
with ThreadPoolExecutor(4) as ex:
    ok = [k for l in ex.map(put, range(total // 500)) for k in l]
dt = time.time() - t0
got = []
for sh in c.list_shards(StreamName=stream)["Shards"]:
    it = c.get_shard_iterator(StreamName=stream, ShardId=sh["ShardId"],
                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    for _ in range(1000):
        r = c.get_records(ShardIterator=it, Limit=10000)
        got += [x["PartitionKey"] for x in r["Records"]]
        if not r["Records"]:
            break
        it = r["NextShardIterator"]
print("put %d, accepted %d, read %d, %.1f s, %.0f records/s"
      % (total, len(ok), len(got), dt, total / dt))
assert 0.85 * total < len(ok) < 0.95 * total
assert sorted(ok) == sorted(got)
EOF
curl -sS -o /dev/null -X POST -d '{"put_record_fail": 0.1}' "$front/_front/config"
curl -sS -o /dev/null -X POST "$front/_front/stats/reset"
timeout 120 "$PY" "$tmp/vol.py" "$front" vol 20000 >"$tmp/vol.out" 2>&1
rc=$?
show=$tmp/vol.out
check "front: 20,000 records, 4 in flight, p=0.1: stream holds the accepted ($(cat "$tmp/vol.out" | tail -n 1))" \
    [ $rc = 0 ]

curl -sS "$front/_front/stats" >"$tmp/stats.json"
show=$tmp/stats.json
check "front: stats count records in = failed + written" \
    py 'import json, sys
s = json.load(open(sys.argv[1]))
assert s["records_in"] == 20000 == s["records_failed"] + s["records_written"], s
assert s["by_op"]["PutRecords"] == 40 and s["faults"]["put-record-fail"] == 40, s
' "$tmp/stats.json"

show=$tmp/front.log
check "front: log is one JSON object per request, with no secret or token" \
    eval 'py "import json,sys
for l in open(sys.argv[1]): o = json.loads(l); assert \"op\" in o and \"fault\" in o
" "$tmp/front.log" && hasnt "$tmp/front.log" "$SECRET" &&
	hasnt "$tmp/front.log" "$TMP_SECRET" && hasnt "$tmp/front.log" "$TMP_TOKEN" &&
	hasnt "$tmp/front.log" "Signature="'

stop "$front_pid"
rc1=$?
stop "$sts_pid"
rc2=$?
show="$tmp/front.err $tmp/sts.err"
check "front and sts exit 0 on SIGTERM, nothing on stderr" \
    eval '[ $rc1 = 0 ] && [ $rc2 = 0 ] && [ ! -s "$tmp/front.err" ] &&
	[ ! -s "$tmp/sts.err" ]'
