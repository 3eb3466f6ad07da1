#!/bin/sh
# kl-auth.t - kl-auth: the store (add, list, show, remove; keys from stdin,
# a terminal, the environment; bad input; exposed files), policy
# documents, creds and verify against tests/fakes/sts.py (delegated
# authorizations, the cache, STS errors and faults), credential_process
# under the AWS CLI, and delegated --auth in kl-stream refreshing its
# credentials before they expire (kinesalite behind kinesis-front.py).
. "$srcdir/tests/tap.sh"
. "$srcdir/tests/sts-lib.sh"

STORE=$HOME/.config/kl
CACHE=$HOME/.cache/kl
KEYS_JSON="{\"AccessKeyId\":\"$TEST_AKID\",\"SecretAccessKey\":\"$TEST_SECRET\"}"
mode() { stat -c %a "$1"; }

# --- The command line: nothing is read or sent. ------------------------

run kl-auth --help
is "$rc" 0 "--help: exit 0"
like "$out" "usage: kl-auth add [-v]" "--help: usage on stdout"
is "$err" "" "--help: nothing on stderr"
run kl-auth -V
like "$out" "kl-auth (kl) " "-V: the version"
run kl-auth
is "$rc" 2 "no command: exit 2"
like "$err" "usage: kl-auth" "no command: usage on stderr"
run kl-auth frob
is "$rc" 2 "unknown command: exit 2"
like "$err" "unknown command 'frob'" "unknown command: named"
run kl-auth add
is "$rc" 2 "add without a name: exit 2"
run kl-auth show a b
is "$rc" 2 "show with two names: exit 2"
run kl-auth add 'bad/name' </dev/null
is "$rc" 2 "a name with '/': exit 2"
like "$err" "bad authorization name 'bad/name'" "a bad name: the rule"
run kl-auth list --label x
is "$rc" 2 "an option that does not go with the command: exit 2"
like "$err" "--label does not go with list" "the option and the command named"
run kl-auth add x --role-arn arn:aws:iam::111111111:role/Lytics/WriteToKinesis/LyticsWriteToKinesis </dev/null
is "$rc" 2 "9-digit account in --role-arn: exit 2"
like "$err" "has 9 digits, but AWS account ids have 12" \
    "9-digit account: real accounts have 12 digits"
like "$err" "111111111 in Lytics' example ARN is a placeholder" \
    "9-digit account: the example's placeholder named"
run kl-auth add x --role-arn arn:aws:iam:123456789012:role/x </dev/null
is "$rc" 2 "malformed role ARN: exit 2"
like "$err" "a role ARN is arn:aws:iam::ACCOUNT:role/[PATH/]NAME" \
    "malformed role ARN: the form"
run kl-auth add x --role-arn "$ROLE_DEMO" --external-id 'ext 1' </dev/null
is "$rc" 2 "external id with a space: exit 2"
like "$err" "--external-id wants 2-1224 of [A-Za-z0-9_+=,.@:/-]: 'ext 1'" \
    "external id with a space: the rule"
run kl-auth add x --role-arn "$ROLE_DEMO" --duration 100 </dev/null
is "$rc" 2 "duration 100: exit 2"
like "$err" "--duration wants seconds from 900 to 43200: '100'" \
    "duration 100: the rule"
run kl-auth add x --role-arn "$ROLE_DEMO" --session-name x </dev/null
is "$rc" 2 "a one-letter session name: exit 2"
run kl-auth add x --external-id ext-1 </dev/null
is "$rc" 2 "--external-id without --role-arn: exit 2"
run kl-auth add x --no-keys </dev/null
is "$rc" 2 "--no-keys without --role-arn: exit 2"
run kl-auth add x --no-keys --from-env --role-arn "$ROLE_DEMO"
is "$rc" 2 "--no-keys with --from-env: exit 2"
ok "$([ -d "$STORE" ] && echo 1 || echo 0)" "after usage errors: no store"

# --- add, list, show, remove. -------------------------------------------

run kl-auth add prod --label Production --description 'the live stream' \
    --region us-east-1 <<EOF
$KEYS_JSON
EOF
is "$rc" 0 "add, keys as JSON on stdin: exit 0"
is "$out" '{"name":"prod","label":"Production","description":"the live stream","method":"keys","region":"us-east-1","access_key_id":"...MPLE","created":"'"$(jq -r .created "$STORE/prod.json")"'"}' \
    "add: the record stored, key id by its last 4 characters"
is "$err" "" "add: nothing on stderr"
is "$(mode "$STORE")" 700 "the store folder is 0700"
is "$(mode "$STORE/prod.json")" 600 "the authorization file is 0600"
is "$(jq -r .secret_access_key "$STORE/prod.json")" "$TEST_SECRET" \
    "the file keeps the secret"
is "$(ls -a "$STORE" | grep -c tmp)" 0 "no temporary file left"
printf '%s\n%s\n' "$TEST_AKID" "$TEST_SECRET" >"$T/two"
run kl-auth add two <"$T/two"
is "$rc" 0 "add, keys as two lines: exit 0"
printf '\r\n  %s \r\n\n%s\r\n' "$TEST_AKID" "$TEST_SECRET" >"$T/two-crlf"
run kl-auth add crlf <"$T/two-crlf"
is "$(jq -r .secret_access_key "$STORE/crlf.json")" "$TEST_SECRET" \
    "two lines with blanks and CRLF: trimmed"
echo "{\"AccessKey\":{\"UserName\":\"kl\",\"AccessKeyId\":\"$TEST_AKID\",\"Status\":\"Active\",\"SecretAccessKey\":\"$TEST_SECRET\",\"CreateDate\":\"2026-11-29T16:46:34+00:00\"}}" >"$T/cak"
run kl-auth add cak <"$T/cak"
is "$rc" 0 "add, 'aws iam create-access-key' output: exit 0"
run env AWS_ACCESS_KEY_ID=$TEST_AKID AWS_SECRET_ACCESS_KEY=$TEST_SECRET \
    kl-auth add fromenv --from-env
is "$rc" 0 "add --from-env: exit 0"
is "$(jq -r .access_key_id "$STORE/fromenv.json")" "$TEST_AKID" \
    "add --from-env: the key stored"
run kl-auth add fromenv2 --from-env
is "$rc" 2 "add --from-env without the variables: exit 2"
run env AWS_ACCESS_KEY_ID=$TEST_AKID AWS_SECRET_ACCESS_KEY=$TEST_SECRET \
    AWS_SESSION_TOKEN=tok kl-auth add fromenv3 --from-env
is "$rc" 2 "add --from-env with a session token: exit 2"
run kl-auth add prod <"$T/two"
is "$rc" 2 "add an existing name: exit 2"
like "$err" "authorization 'prod' exists already" "add an existing name: said"
run kl-auth add prod --replace --label New <"$T/two"
is "$rc" 0 "add --replace: exit 0"
is "$(jq -r .label "$STORE/prod.json")" New "add --replace: replaced"

# Keys that are not valid: exit 2, nothing stored, nothing quoted.
n=0
for keys in "" "just-one-line" \
    "$TEST_AKID
$TEST_SECRET
third" \
    '{"AccessKeyId":"'$TEST_AKID'"}' \
    '{"AccessKeyId":"'$TEST_AKID'","SecretAccessKey":5}' \
    '{"AccessKeyId":"AKID EXAMPLE","SecretAccessKey":"'$TEST_SECRET'"}' \
    '{"AccessKeyId":"ASIAEXAMPLEEXAMPLE12","SecretAccessKey":"'$TEST_SECRET'"}' \
    '{"AccessKeyId":"'$TEST_AKID'","SecretAccessKey":"'$TEST_SECRET'","SessionToken":"x"}' \
    '{"AccessKeyId":"'$TEST_AKID'","SecretAccessKey":"short"}' \
    '["'$TEST_AKID'","'$TEST_SECRET'"]' \
    '{"AccessKeyId":"'$TEST_AKID'","SecretAccessKey":"'$TEST_SECRET'"'; do
	n=$((n + 1))
	printf '%s' "$keys" >"$T/badkeys"
	run kl-auth add "bad$n" <"$T/badkeys"
	is "$rc" 2 "invalid keys on stdin #$n: exit 2"
	like "$err" "nothing stored" "invalid keys #$n: said: $(echo "$err" | cut -c 1-90)"
	unlike "$err" "$TEST_SECRET" "invalid keys #$n: the secret not quoted"
	ok "$([ -e "$STORE/bad$n.json" ] && echo 1 || echo 0)" \
	    "invalid keys #$n: nothing stored"
done

run kl-auth list
is "$rc" 0 "list: exit 0"
is "$(echo "$out" | jq -r .name | tr '\n' ' ')" "cak crlf fromenv prod two " \
    "list: one record per authorization, sorted"
unlike "$out" "$TEST_SECRET" "list: no secret"
is "$(echo "$out" | jq -r .access_key_id | sort -u)" "...MPLE" \
    "list: key ids by their last 4 characters"
run kl-auth show prod
is "$(echo "$out" | jq -c '[.name,.label,.method,.region]')" \
    '["prod","New","keys",null]' "show: one record"
run kl-auth show nope
is "$rc" 2 "show an unknown name: exit 2"
like "$err" "no authorization named 'nope'" "show an unknown name: said"
run kl-auth remove two
is "$rc" 0 "remove: exit 0"
ok "$([ -e "$STORE/two.json" ] && echo 1 || echo 0)" "remove: the file is gone"
run kl-auth remove two
is "$rc" 2 "remove an unknown name: exit 2"

# A store file others can read is refused with exit 1 (kl's own store;
# a --credentials file the user names is exit 2, see kl-stream.t).
chmod 640 "$STORE/cak.json"
run kl-auth show cak
is "$rc" 1 "a group-readable store file: exit 1"
is "$err" "kl-auth: fatal: '$STORE/cak.json' is readable by group or others; run: chmod 600 $STORE/cak.json" \
    "a group-readable store file: the path and the chmod"
run kl-auth list
is "$rc" 1 "list with a group-readable file: exit 1 (the others were read)"
is "$(echo "$out" | jq -r .name | tr '\n' ' ')" "crlf fromenv prod " \
    "list with a group-readable file: the others are listed"
run with_keys kl-auth creds cak
is "$rc" 1 "creds from a group-readable file: exit 1"
chmod 600 "$STORE/cak.json"

run env KL_CONFIG_DIR="$T/kcd" kl-auth add elsewhere <"$T/two"
ok "$([ -f "$T/kcd/elsewhere.json" ] && echo 0 || echo 1)" \
    "KL_CONFIG_DIR: the store is there"
run env XDG_CONFIG_HOME="$T/xdg" kl-auth add elsewhere <"$T/two"
ok "$([ -f "$T/xdg/kl/elsewhere.json" ] && echo 0 || echo 1)" \
    "XDG_CONFIG_HOME: the store is \$XDG_CONFIG_HOME/kl"

kl-auth list >/dev/full 2>"$T/err"
is "$?" 1 "list >/dev/full: exit 1"

if [ -z "$KL_SECRETS_DIR" ]; then
	mkfifo "$T/fifo"
	kl-auth add sig <"$T/fifo" >/dev/null 2>&1 &
	kpid=$!
	exec 3>"$T/fifo"
	sleep 0.3
	kill -TERM "$kpid"
	wait "$kpid" 2>/dev/null
	is "$?" 143 "SIGTERM while reading the keys: dies of it (143)"
	exec 3>&-
	ok "$([ -e "$STORE/sig.json" ] && echo 1 || echo 0)" \
	    "SIGTERM: nothing stored"
else
	skip 2 "signals in the secrets run"
fi

# A terminal: the secret is not echoed.
if command -v script >/dev/null 2>&1; then
	(sleep 0.5; printf '%s\n' "$TEST_AKID"; sleep 0.5
	    printf '%s\n' "$TEST_SECRET"; sleep 0.5) |
	    script -qec "kl-auth add typed --label typed" /dev/null \
	    >"$T/tty.out" 2>&1
	is "$?" 0 "keys typed at a terminal: exit 0"
	tty=$(tr -d '\r' <"$T/tty.out")
	like "$tty" "AWS access key id: $TEST_AKID" "the key id prompt, echoed"
	like "$tty" "AWS secret access key (not shown): " "the secret prompt"
	unlike "$tty" "$TEST_SECRET" "the secret is not echoed"
	is "$(jq -r .secret_access_key "$STORE/typed.json")" "$TEST_SECRET" \
	    "the typed secret is stored"
else
	skip 5 "no script(1)"
fi

# --- policy. -------------------------------------------------------------

run kl-auth policy --document trust --account $ACCOUNT \
    --principal arn:aws:iam::210987654321:user/kl --external-id ext-1
is "$rc" 0 "policy trust: exit 0"
is "$out" '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::210987654321:user/kl"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"ext-1"}}}]}' \
    "policy trust: the principal and the external id"
run kl-auth policy --document trust --account $ACCOUNT -r cn-north-1
is "$(echo "$out" | jq -r '.Statement[0].Principal.AWS')" \
    "arn:aws-cn:iam::$ACCOUNT:root" "policy trust: default principal, cn partition"
run kl-auth policy --document permissions --direction export \
    --stream lytics_triggers_stream -r us-east-2 --account $ACCOUNT
is "$out" '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kinesis:PutRecord","kinesis:PutRecords"],"Resource":"arn:aws:kinesis:us-east-2:123456789012:stream/lytics_triggers_stream"}]}' \
    "policy permissions export: PutRecord, PutRecords on the stream"
run env AWS_REGION=eu-west-1 kl-auth policy --document permissions \
    --direction import --stream clicks --account $ACCOUNT
is "$out" '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kinesis:GetRecords","kinesis:GetShardIterator","kinesis:ListShards","kinesis:DescribeStreamSummary"],"Resource":"arn:aws:kinesis:eu-west-1:123456789012:stream/clicks"},{"Effect":"Allow","Action":"kinesis:ListStreams","Resource":"*"}]}' \
    "policy permissions import: the read actions, ListStreams on *"
run kl-auth policy --document permissions --direction import \
    --stream clicks -r us-east-1 --account 111111111
is "$rc" 2 "policy with a 9-digit account: exit 2"
like "$err" "has 9 digits, but AWS account ids have 12" \
    "policy with a 9-digit account: said"
run kl-auth policy --document permissions --account $ACCOUNT -r us-east-1
is "$rc" 2 "policy permissions without --stream and --direction: exit 2"
run kl-auth policy --document both --account $ACCOUNT
is "$rc" 2 "policy --document both: exit 2"
run kl-auth policy --document trust --account $ACCOUNT --principal nobody
is "$rc" 2 "policy with a bad principal: exit 2"

# --- creds without STS. --------------------------------------------------

run kl-auth creds prod
is "$rc" 0 "creds of keys, no region needed: exit 0"
is "$out" "{\"Version\":1,\"AccessKeyId\":\"$TEST_AKID\",\"SecretAccessKey\":\"$TEST_SECRET\"}" \
    "creds of keys: a credential record, no token or expiry"
run env AWS_ACCESS_KEY_ID=$TEST_AKID AWS_SECRET_ACCESS_KEY=$TEST_SECRET \
    AWS_SESSION_TOKEN=tok kl-auth creds
is "$out" "{\"Version\":1,\"AccessKeyId\":\"$TEST_AKID\",\"SecretAccessKey\":\"$TEST_SECRET\",\"SessionToken\":\"tok\"}" \
    "creds without a name: the default chain (environment)"
run kl-auth creds
is "$rc" 2 "creds with no credentials at all: exit 2"
run kl-auth creds nope
is "$rc" 2 "creds of an unknown authorization: exit 2"
like "$err" "no authorization named 'nope'" "creds of an unknown name: said"
run kl-auth add dnoregion --role-arn "$ROLE_DEMO" <"$T/two"
run kl-auth creds dnoregion
is "$rc" 2 "creds of a delegated authorization without a region: exit 2"
like "$err" "no AWS region" "without a region: said"
kl-auth creds prod >/dev/full 2>"$T/err"
is "$?" 1 "creds >/dev/full: exit 1"

# --- Against the fake STS. ----------------------------------------------

if ! have_sts || ! start_sts; then
	skip 68 "the fake STS cannot run (python3-botocore)"
	done_testing
	exit 0
fi

run kl-auth add d1 --label delegated --role-arn "$ROLE_DEMO" \
    --external-id ext-1 --session-name kl-test <"$T/two"
is "$rc" 0 "add a delegated authorization with keys: exit 0"
is "$(echo "$out" | jq -c '[.method,.role_arn,.has_external_id,.session_name]')" \
    "[\"delegated\",\"$ROLE_DEMO\",true,\"kl-test\"]" \
    "add delegated: method, role, external id present, session name"
run with_sts kl-auth creds d1
is "$rc" 0 "creds of a delegated authorization: exit 0"
is "$(echo "$out" | jq -r '[.Version,(.AccessKeyId|test("^ASIA")),(.SessionToken|length>100),(.Expiration|test("Z$"))]|@tsv')" \
    "1	true	true	true" "creds delegated: an assumed-role record"
first=$out
is "$(sts_count AssumeRole)" 1 "creds delegated: one AssumeRole"
is "$(sts_last external_id) $(sts_last role_session_name) $(sts_last access_key_id)" \
    "ext-1 kl-test $TEST_AKID" "AssumeRole: external id, session name, base key"
ls "$CACHE"/role-*.json >/dev/null 2>&1
ok $? "the assumed credentials are cached under ~/.cache/kl"
is "$(mode "$CACHE") $(mode "$CACHE"/role-*.json)" "700 600" \
    "the cache: a 0700 folder, a 0600 file"
run with_sts kl-auth creds d1
is "$out" "$first" "creds again: the same credentials"
is "$(sts_count AssumeRole)" 1 "creds again: from the cache, no AssumeRole"
chmod 644 "$CACHE"/role-*.json
run with_sts kl-auth creds d1
is "$rc" 0 "a group-readable cache file: exit 0"
like "$err" "warning: not using cached credentials: '$CACHE/role-" \
    "a group-readable cache file: refused"
like "$err" "run: chmod 600" "a group-readable cache file: the chmod"
is "$(sts_count AssumeRole)" 2 "a group-readable cache file: assumed again"
is "$(mode "$CACHE"/role-*.json)" 600 "and replaced, 0600"
chmod 755 "$CACHE"
run with_sts kl-auth creds d1
like "$err" "not caching credentials in '$CACHE': group or others may enter it" \
    "a cache folder others may enter: not used"
is "$(sts_count AssumeRole)" 3 "a cache folder others may enter: assumed"
chmod 700 "$CACHE"
run with_sts env XDG_CACHE_HOME="$T/xc" kl-auth creds d1
ls "$T/xc/kl"/role-*.json >/dev/null 2>&1
ok $? "XDG_CACHE_HOME: the cache is \$XDG_CACHE_HOME/kl"

run kl-auth add dshort --role-arn "$ROLE_SHORT" <"$T/two"
with_sts kl-auth creds dshort >/dev/null 2>&1
n0=$(sts_count AssumeRole)
run with_sts kl-auth creds dshort
is "$(( $(sts_count AssumeRole) - n0 ))" 1 \
    "credentials within 5 minutes of expiry are not reused from the cache"
like "$err" "warning: authorization 'dshort' (delegated): the credentials expire at" \
    "credentials that short: a warning"

run kl-auth add dnokeys --role-arn "$ROLE_OPEN" --no-keys
is "$(echo "$out" | jq -c '[.method,.access_key_id]')" '["delegated",null]' \
    "add --no-keys: delegated, no key"
run with_sts kl-auth creds dnokeys
is "$rc" 2 "--no-keys and no default credentials: exit 2"
run with_sts with_keys kl-auth creds dnokeys
is "$(echo "$out" | jq -r '.AccessKeyId|test("^ASIA")')" true \
    "--no-keys: the default chain's keys assume the role"
is "$(sts_last access_key_id) $(sts_last role_arn)" "$TEST_AKID $ROLE_OPEN" \
    "--no-keys: AssumeRole signed with the environment's key"
run with_sts kl-auth creds prod --role-arn "$ROLE_OPEN" --session-name s2
is "$(sts_last role_session_name)" s2 "creds --role-arn: a role on top"

run with_sts kl-auth verify prod
is "$rc" 0 "verify keys: exit 0"
is "$(echo "$out" | jq -c '[keys_unsorted,.Account,.Arn,(.UserId|length>0)]')" \
    "[[\"Account\",\"Arn\",\"UserId\"],\"$ACCOUNT\",\"$USER_ARN\",true]" \
    "verify keys: Account, Arn, UserId"
is "$(sts_last action)" GetCallerIdentity "verify: GetCallerIdentity"
run with_sts kl-auth verify d1
is "$(echo "$out" | jq -r .Arn)" \
    "arn:aws:sts::$ACCOUNT:assumed-role/demo/kl-test" \
    "verify delegated: the assumed role's ARN"
printf '%s\n%s\n' "$TEST_AKID" "$OTHER_SECRET" | kl-auth add wrong >/dev/null
run with_sts kl-auth verify wrong
is "$rc" 1 "verify, wrong secret: exit 1"
like "$err" "HTTP 403 SignatureDoesNotMatch: The request signature we calculated does not match" \
    "verify, wrong secret: SignatureDoesNotMatch and the message"
unlike "$err" "$OTHER_SECRET" "verify, wrong secret: the secret not quoted"
printf 'AKIDUNKNOWNEXAMPLE00\n%s\n' "$TEST_SECRET" | kl-auth add unknown >/dev/null
run with_sts kl-auth verify unknown
is "$rc" 1 "verify, unknown key: exit 1"
like "$err" "HTTP 403 InvalidClientTokenId: The security token included in the request is invalid" \
    "verify, unknown key: InvalidClientTokenId"
sts_config '{"fail_count":2,"fail_code":"ExpiredToken","fail_actions":["GetCallerIdentity"]}'
run with_sts kl-auth verify prod
is "$rc" 1 "verify, ExpiredToken: exit 1"
like "$err" "HTTP 400 ExpiredToken: The security token included in the request is expired" \
    "verify, ExpiredToken: code and message"
like "$err" "refreshing credentials" "verify, ExpiredToken: refreshed and retried once"
sts_config '{"fail_count":1,"fail_code":"AccessDenied","fail_actions":["GetCallerIdentity"]}'
run with_sts kl-auth verify prod
is "$rc" 1 "verify, AccessDenied: exit 1"
like "$err" "HTTP 403 AccessDenied: User: $USER_ARN is not authorized" \
    "verify, AccessDenied: code and message"
run kl-auth add dwrong --role-arn "$ROLE_DEMO" --external-id ext-2 <"$T/two"
run with_sts kl-auth verify dwrong
is "$rc" 1 "verify, a wrong external id: exit 1"
like "$err" "assuming role '$ROLE_DEMO': POST $STS_URL/ (AssumeRole): HTTP 403 AccessDenied" \
    "verify, a wrong external id: AssumeRole's AccessDenied"
sts_config '{"fail_count":2,"fail_code":"Throttling","fail_actions":null}'
n0=$(sts_count GetCallerIdentity)
run with_sts kl-auth verify prod
is "$rc" 0 "verify, Throttling twice: retried, exit 0"
like "$err" "warning: HTTP 400 Throttling, retry 2 of 5 in " \
    "verify, Throttling: the retries are warnings"
is "$(( $(sts_count GetCallerIdentity) - n0 ))" 3 "verify, Throttling twice: 3 requests"
sts_config '{"fail_count":1,"fail_code":"InternalError"}'
run with_sts kl-auth verify prod
is "$rc" 0 "verify, HTTP 500 once: retried, exit 0"
sts_config '{"fail_count":100,"fail_code":"ServiceUnavailable"}'
run with_sts kl-auth verify prod
is "$rc" 75 "verify, 503 every time: exit 75"
like "$err" "HTTP 503 ServiceUnavailable: Service is unavailable. (gave up after 5 retries)" \
    "verify, 503 every time: gave up after the retries"
sts_config '{"fail_count":0,"malformed_count":1}'
run with_sts kl-auth verify prod
is "$rc" 1 "verify, malformed XML: exit 1"
like "$err" "(GetCallerIdentity): HTTP 200, but the reply is not valid STS XML: line 4: unexpected end of the reply" \
    "verify, malformed XML: said, with the line"
rm -f "$CACHE"/role-*.json
sts_config '{"malformed_count":1}'
run with_sts kl-auth creds d1
is "$rc" 1 "creds, AssumeRole answered with malformed XML: exit 1"
like "$err" "(AssumeRole): HTTP 200, but the reply is not valid STS XML" \
    "creds, malformed AssumeRole reply: said"
ls "$CACHE"/role-*.json >/dev/null 2>&1
is "$?" 2 "creds, malformed reply: nothing cached"

# credential_process: the AWS CLI runs kl-auth creds NAME.
if [ -x "$AWSCLI" ]; then
	klauth=$(command -v kl-auth)
	for name in prod d1; do
		printf '[default]\nregion = us-east-1\ncredential_process = %s creds %s\n' \
		    "$klauth" "$name" >"$T/cp-config"
		AWS_CONFIG_FILE=$T/cp-config AWS_ENDPOINT_URL_STS=$STS_URL \
		    "$AWSCLI" --endpoint-url "$STS_URL" sts get-caller-identity \
		    >"$T/cp.json" 2>"$T/cp.err"
		is "$?" 0 "credential_process = kl-auth creds $name: the AWS CLI succeeds"
		case $name in
		prod) want=$USER_ARN ;;
		*) want=arn:aws:sts::$ACCOUNT:assumed-role/demo/kl-test ;;
		esac
		is "$(jq -r .Arn "$T/cp.json")" "$want" \
		    "credential_process $name: the CLI is $want"
	done
	is "$(sts_last access_key_id | cut -c 1-4)" ASIA \
	    "credential_process d1: the CLI signed with the assumed key"
else
	skip 5 "no AWS CLI"
fi

# --- Delegated --auth and --role-arn in kl-stream: refresh before expiry. --
# Credentials from ROLE_REFRESH live 302 s: kl must assume the role again
# well before they expire (creds.c keeps such short-lived ones for 10 s),
# so a listing of one stream a page, 1.1 s a call, assumes it twice or
# more, and every call is signed with credentials still valid.

if ! command -v kl-stream >/dev/null 2>&1 || ! start_kinesalite; then
	skip 11 "kl-stream or kinesalite not available"
	done_testing
	exit 0
fi
FRONT_LOG=$T/front.log
if ! start_fake kinesis-front.py --upstream "$KINESIS_URL" \
    --keys "$STS_KEYS" --sts-keys "$STS_ISSUED" --log "$FRONT_LOG"; then
	skip 11 "kinesis-front.py did not start"
	done_testing
	exit 0
fi
FRONT=$FAKE_URL
i=0
while [ $i -lt 11 ]; do
	with_keys kl-stream --endpoint-url "$KINESIS_URL" create "r$i" \
	    >/dev/null 2>&1 || break
	i=$((i + 1))
done
rm -f "$CACHE"/role-*.json
run kl-auth add dref --role-arn "$ROLE_REFRESH" <"$T/two"
: >"$FRONT_LOG"
run with_sts kl-stream --auth dref --endpoint-url "$FRONT" describe r1
is "$rc" 0 "kl-stream --auth (delegated): exit 0"
is "$(echo "$out" | jq -r .stream_name)" r1 "kl-stream --auth: the stream"
is "$(jq -r .access_key_id "$FRONT_LOG" | cut -c 1-4)" ASIA \
    "kl-stream --auth: Kinesis signed with the assumed key"
is "$(sts_last role_arn)" "$ROLE_REFRESH" "kl-stream --auth: the role assumed"
rm -f "$CACHE"/role-*.json
n0=$(sts_count AssumeRole)
: >"$FRONT_LOG"
curl -s -o /dev/null -X POST -d '{"latency_ms":1100}' "$FRONT/_front/config"
run with_sts with_keys kl-stream --role-arn "$ROLE_REFRESH" \
    --endpoint-url "$FRONT" --page-size 1 list
curl -s -o /dev/null -X POST -d '{"latency_ms":0}' "$FRONT/_front/config"
is "$rc" 0 "kl-stream --role-arn, 302 s credentials, 12 s of calls: exit 0"
is "$(echo "$out" | wc -l | tr -d ' ')" 11 "kl-stream --role-arn: every stream"
nassume=$(( $(sts_count AssumeRole) - n0 ))
ok $(( nassume >= 2 ? 0 : 1 )) \
    "kl-stream --role-arn: assumed again before expiry ($nassume AssumeRole calls)"
keys=$(jq -r .access_key_id "$FRONT_LOG" | sort -u | grep -c '^ASIA')
ok $(( keys >= 2 ? 0 : 1 )) \
    "kl-stream --role-arn: signed with $keys assumed keys in turn"
is "$(jq -r .status "$FRONT_LOG" | sort -u | tr '\n' ' ')" "200 " \
    "kl-stream --role-arn: every Kinesis call succeeded"
unlike "$(cat "$FRONT_LOG")$err" "ExpiredToken" \
    "kl-stream --role-arn: never an expired token"
like "$(grep '"action":"AssumeRole"' "$STS_LOG" | tail -n 1)" '"status":200' \
    "kl-stream --role-arn: the refresh succeeded"
done_testing
