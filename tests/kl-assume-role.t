#!/bin/sh
# kl-assume-role.t - kl-assume-role: its checks before anything is sent,
# then against tests/fakes/sts.py: the credential record and the export
# lines (each used by the AWS CLI afterwards), every source of the base
# credentials (environment, --auth keys and delegated, --credentials,
# --profile, a record on stdin, role chaining), the request sent, STS's
# refusals and faults (AccessDenied, ExpiredToken, InvalidClientTokenId,
# Throttling, 5xx, malformed XML) and their exit codes.
. "$srcdir/tests/tap.sh"
. "$srcdir/tests/sts-lib.sh"

# --- The command line: checked before anything is read or sent. -------

run kl-assume-role --help
is "$rc" 0 "--help: exit 0"
like "$out" "usage: kl-assume-role [-hVv] [-r region]" "--help: usage on stdout"
is "$err" "" "--help: nothing on stderr"
run kl-assume-role -V
like "$out" "kl-assume-role (kl) " "-V: the version"
run kl-assume-role
is "$rc" 2 "no --role-arn: exit 2"
like "$err" "--role-arn is required" "no --role-arn: said"
like "$err" "usage: kl-assume-role" "no --role-arn: the usage"
run kl-assume-role --role-arn arn:aws:iam::111111111:role/Lytics/WriteToKinesis/LyticsWriteToKinesis
is "$rc" 2 "a 9-digit account: exit 2"
like "$err" "the account id '111111111' has 9 digits, but AWS account ids have 12 (the 9-digit 111111111 in Lytics' example ARN is a placeholder: use your own account's id)" \
    "a 9-digit account: 12 digits, and the example's placeholder named"
for arn in "arn:aws:iam::$ACCOUNT:user/x" "arn:aws:iam::$ACCOUNT:role/" \
    "arn:aws:iam:$ACCOUNT:role/x" "arn:aws:sts::$ACCOUNT:role/x" "demo" \
    "arn:aws:iam::$ACCOUNT:role/a b"; do
	run kl-assume-role --role-arn "$arn"
	is "$rc" 2 "a malformed role ARN '$arn': exit 2"
	like "$err" "--role-arn '$arn': " "  the ARN and the rule broken"
done
run kl-assume-role --role-arn "$ROLE_DEMO" --external-id 'ext 1'
is "$rc" 2 "an external id with a space: exit 2"
like "$err" "--external-id wants 2-1224 of [A-Za-z0-9_+=,.@:/-]: 'ext 1'" \
    "an external id with a space: the rule"
run kl-assume-role --role-arn "$ROLE_DEMO" --external-id x
is "$rc" 2 "a one-character external id: exit 2"
run kl-assume-role --role-arn "$ROLE_DEMO" --duration 100
is "$rc" 2 "duration 100: exit 2"
like "$err" "--duration wants seconds from 900 to 43200: '100'" \
    "duration 100: the rule"
run kl-assume-role --role-arn "$ROLE_DEMO" --duration 43201
is "$rc" 2 "duration 43201: exit 2"
run kl-assume-role --role-arn "$ROLE_DEMO" --session-name 'a b'
is "$rc" 2 "a session name with a space: exit 2"
like "$err" "--session-name wants 2-64 of [A-Za-z0-9_+=,.@-]" \
    "a session name with a space: the rule"
run kl-assume-role --role-arn "$ROLE_DEMO" --format xml
is "$rc" 2 "--format xml: exit 2"
run kl-assume-role --role-arn "$ROLE_DEMO" --profile p --auth a
is "$rc" 2 "two sources: exit 2"
like "$err" "--auth, --credentials, --profile and '-' exclude each other" \
    "two sources: said"
run kl-assume-role --role-arn "$ROLE_DEMO" --auth a -
is "$rc" 2 "--auth and '-': exit 2"
run kl-assume-role --role-arn "$ROLE_DEMO" file
is "$rc" 2 "an operand other than '-': exit 2"
run with_keys env -u AWS_REGION kl-assume-role --role-arn "$ROLE_DEMO"
is "$rc" 2 "no region: exit 2"
like "$err" "no AWS region" "no region: said"
run with_keys kl-assume-role --role-arn "$ROLE_DEMO" --auth nope
is "$rc" 2 "an unknown authorization: exit 2"
like "$err" "no authorization named 'nope'" "an unknown authorization: said"

# --- Against the fake STS. ----------------------------------------------

if ! have_sts || ! start_sts; then
	skip 71 "the fake STS cannot run (python3-botocore)"
	done_testing
	exit 0
fi
E="--endpoint-url $STS_URL"

run with_keys kl-assume-role $E --role-arn "$ROLE_DEMO" --external-id ext-1
is "$rc" 0 "assume with the environment's keys: exit 0"
is "$err" "" "assume: nothing on stderr"
is "$(echo "$out" | jq -r 'keys_unsorted|join(",")')" \
    "Version,AccessKeyId,SecretAccessKey,SessionToken,Expiration" \
    "assume: a credential record (contract 5.1)"
rec=$out
now=$(date +%s)
exp=$(date -u -d "$(echo "$out" | jq -r .Expiration)" +%s)
ok $(( exp - now >= 3590 && exp - now <= 3610 ? 0 : 1 )) \
    "assume: Expiration an hour away (STS's default)"
is "$(tail -n 1 "$STS_LOG" | jq -r '[.action,.method,.path,.content_type,.role_arn,.external_id,.access_key_id,.signed_headers,(.duration_seconds // "none"),.status]|@tsv')" \
    "AssumeRole	POST	/	application/x-www-form-urlencoded; charset=utf-8	$ROLE_DEMO	ext-1	$TEST_AKID	content-type;host;x-amz-date	none	200" \
    "assume: a signed form POST, the role, external id, no duration"
like "$(sts_last role_session_name)" "kl-" "assume: session name kl-USER-TIME"
is "$(jq -r .issued_access_key_id "$STS_LOG" | tail -n 1)" \
    "$(echo "$rec" | jq -r .AccessKeyId)" "assume: the key STS issued"

if [ -x "$AWSCLI" ]; then
	AWS_ACCESS_KEY_ID=$(echo "$rec" | jq -r .AccessKeyId) \
	    AWS_SECRET_ACCESS_KEY=$(echo "$rec" | jq -r .SecretAccessKey) \
	    AWS_SESSION_TOKEN=$(echo "$rec" | jq -r .SessionToken) \
	    AWS_REGION=us-east-1 "$AWSCLI" $E sts get-caller-identity \
	    >"$T/gci.json" 2>"$T/gci.err"
	is "$(jq -r .Arn "$T/gci.json")" \
	    "arn:aws:sts::$ACCOUNT:assumed-role/demo/$(sed -n 1p "$STS_LOG" | jq -r .role_session_name)" \
	    "the record works in the AWS CLI: the assumed role"
	aws $E sts assume-role --role-arn "$ROLE_DEMO" --external-id ext-1 \
	    --role-session-name cli-session >"$T/cli.json" 2>&1
	run with_keys kl-assume-role $E --role-arn "$ROLE_DEMO" \
	    --external-id ext-1 --session-name cli-session
	is "$(tail -n 2 "$STS_LOG" | jq -r '[.status,.method,.path,.content_type,.signed_headers,.role_session_name,.external_id]|@tsv' | sort -u | wc -l | tr -d ' ')" \
	    1 "kl's AssumeRole request is the AWS CLI's: method, type, signed headers"
	is "$(jq -r .AssumedRoleUser.Arn "$T/cli.json")" \
	    "arn:aws:sts::$ACCOUNT:assumed-role/demo/cli-session" \
	    "the AWS CLI reads the fake's reply as kl does"
else
	skip 3 "no AWS CLI"
fi

run with_keys kl-assume-role $E --role-arn "$ROLE_OPEN" --format env
is "$rc" 0 "--format env: exit 0"
is "$(echo "$out" | sed 's/=.*//' | tr '\n' ' ')" \
    "export AWS_ACCESS_KEY_ID export AWS_SECRET_ACCESS_KEY export AWS_SESSION_TOKEN export AWS_CREDENTIAL_EXPIRATION " \
    "--format env: four export lines"
env_out=$out
if [ -x "$AWSCLI" ]; then
	(eval "$env_out"; AWS_REGION=us-east-1 "$AWSCLI" $E sts \
	    get-caller-identity) >"$T/gci2.json" 2>&1
	like "$(jq -r .Arn "$T/gci2.json")" \
	    "arn:aws:sts::$ACCOUNT:assumed-role/open/kl-" \
	    "eval of --format env: the AWS CLI is the role"
else
	skip 1 "no AWS CLI"
fi

run with_keys kl-assume-role $E --role-arn "$ROLE_OPEN" --duration 900 \
    --session-name s-900
exp=$(date -u -d "$(echo "$out" | jq -r .Expiration)" +%s)
ok $(( exp - $(date +%s) <= 905 && exp - $(date +%s) >= 890 ? 0 : 1 )) \
    "--duration 900: Expiration 15 minutes away"
is "$(sts_last duration_seconds) $(sts_last role_session_name)" "900 s-900" \
    "--duration and --session-name sent"
run with_keys kl-assume-role $E --role-arn "$ROLE_OPEN" --duration 7200
is "$rc" 1 "a duration past the role's maximum: exit 1"
like "$err" "HTTP 400 ValidationError: The requested DurationSeconds exceeds the MaxSessionDuration" \
    "a duration past the role's maximum: STS's ValidationError"

run with_keys kl-assume-role $E --role-arn "$ROLE_LONG" --duration 43200
is "$rc" 0 "--duration 43200 where the role allows it: exit 0"

# Sources.
printf '%s\n%s\n' "$TEST_AKID" "$TEST_SECRET" >"$T/two"
kl-auth add prod <"$T/two" >/dev/null
run with_sts kl-assume-role $E --role-arn "$ROLE_OPEN" --auth prod
is "$rc" 0 "--auth (keys): exit 0"
is "$(sts_last access_key_id)" "$TEST_AKID" "--auth: signed with its key"
kl-auth creds prod >"$T/rec.json"
chmod 600 "$T/rec.json"
run with_sts kl-assume-role $E --role-arn "$ROLE_OPEN" --credentials "$T/rec.json"
is "$rc" 0 "--credentials FILE: exit 0"
chmod 640 "$T/rec.json"
run with_sts kl-assume-role $E --role-arn "$ROLE_OPEN" --credentials "$T/rec.json"
is "$rc" 2 "--credentials FILE readable by group: exit 2"
like "$err" "rec.json' is readable by group or others; run: chmod 600" \
    "--credentials FILE readable by group: the chmod"
chmod 600 "$T/rec.json"
printf '[src]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
    "$TEST_AKID" "$TEST_SECRET" >"$AWS_SHARED_CREDENTIALS_FILE"
run with_sts kl-assume-role $E --role-arn "$ROLE_OPEN" --profile src
is "$rc" 0 "--profile: exit 0"
: >"$AWS_SHARED_CREDENTIALS_FILE"
kl-auth creds prod | with_sts kl-assume-role $E --role-arn "$ROLE_DEMO" \
    --external-id ext-1 - >"$T/out" 2>"$T/err"
is "$?" 0 "kl-auth creds prod | kl-assume-role ... -: exit 0"
is "$(jq -r '.AccessKeyId|test("^ASIA")' "$T/out")" true "the pipe: a role record"
cp "$T/out" "$T/first"
with_sts kl-assume-role $E --role-arn "$ROLE_OPEN" - <"$T/first" \
    >"$T/out" 2>"$T/err"
is "$?" 0 "role chaining: an assumed role's record on stdin: exit 0"
is "$(sts_last token_sent) $(sts_last signed_headers)" \
    "true content-type;host;x-amz-date;x-amz-security-token" \
    "role chaining: the session token sent and signed"
is "$(sts_last access_key_id)" "$(jq -r .AccessKeyId "$T/first")" \
    "role chaining: signed with the first role's key"
with_sts kl-assume-role $E --role-arn "$ROLE_LONG" --duration 7200 - \
    <"$T/first" >"$T/out" 2>"$T/err"
is "$?" 1 "role chaining past an hour: exit 1"
like "$(cat "$T/err")" "1 hour session limit for roles assumed by role chaining" \
    "role chaining past an hour: STS says why"
run kl-auth add dprod --role-arn "$ROLE_DEMO" --external-id ext-1 <"$T/two"
n0=$(sts_count AssumeRole)
run with_sts kl-assume-role $E --role-arn "$ROLE_OPEN" --auth dprod
is "$rc" 0 "--auth (delegated): exit 0"
is "$(( $(sts_count AssumeRole) - n0 ))" 2 "--auth (delegated): two roles assumed"
is "$(sts_last access_key_id | cut -c 1-4) $(sts_last role_arn)" \
    "ASIA $ROLE_OPEN" "--auth (delegated): the second with the first's key"

for bad in '' 'not json' '{"Version":1,"AccessKeyId":"AKIDEXAMPLE"}' \
    '{"Version":2,"AccessKeyId":"AKIDEXAMPLE","SecretAccessKey":"x"}'; do
	printf '%s' "$bad" >"$T/badrec"
	with_sts kl-assume-role $E --role-arn "$ROLE_OPEN" - <"$T/badrec" \
	    >"$T/out" 2>"$T/err"
	is "$?" 1 "stdin not a credential record ('$bad'): exit 1"
	like "$(cat "$T/err")" "<stdin>: not a credential record" "  said"
done
echo '{"Version":1,"AccessKeyId":"ASIAEXAMPLEEXAMPLE12","SecretAccessKey":"x","SessionToken":"t","Expiration":"2020-01-01T00:00:00Z"}' >"$T/old"
with_sts kl-assume-role $E --role-arn "$ROLE_OPEN" - <"$T/old" >"$T/out" 2>"$T/err"
is "$?" 1 "an expired record on stdin: exit 1"
like "$(cat "$T/err")" "<stdin>: the credentials expired at 2020-01-01T00:00:00Z" \
    "an expired record on stdin: said"

# Refusals and faults.
run with_keys kl-assume-role $E --role-arn "$ROLE_DEMO"
is "$rc" 1 "no external id where the role wants one: exit 1"
is "$err" "kl-assume-role: fatal: cannot assume role '$ROLE_DEMO': POST $STS_URL/ (AssumeRole): HTTP 403 AccessDenied: User: $USER_ARN is not authorized to perform: sts:AssumeRole on resource: $ROLE_DEMO" \
    "AccessDenied: the role, method, URL, operation, status, code, message"
run with_keys kl-assume-role $E --role-arn "arn:aws:iam::$ACCOUNT:role/nope"
is "$rc" 1 "a role the fake does not know: exit 1 (AccessDenied)"
printf 'AKIDUNKNOWNEXAMPLE00\n%s\n' "$TEST_SECRET" | kl-auth add unknown >/dev/null
run with_sts kl-assume-role $E --role-arn "$ROLE_OPEN" --auth unknown
is "$rc" 1 "an unknown key: exit 1"
like "$err" "HTTP 403 InvalidClientTokenId" "an unknown key: InvalidClientTokenId"
printf '%s\n%s\n' "$TEST_AKID" "$OTHER_SECRET" | kl-auth add wrong >/dev/null
run with_sts kl-assume-role $E --role-arn "$ROLE_OPEN" --auth wrong
is "$rc" 1 "a wrong secret: exit 1"
like "$err" "HTTP 403 SignatureDoesNotMatch" "a wrong secret: SignatureDoesNotMatch"
unlike "$err" "$OTHER_SECRET" "a wrong secret: not quoted"
sts_config '{"fail_count":1,"fail_code":"ExpiredToken","fail_actions":["AssumeRole"]}'
run with_keys kl-assume-role $E --role-arn "$ROLE_OPEN"
is "$rc" 1 "ExpiredToken: exit 1"
like "$err" "HTTP 400 ExpiredToken: The security token included in the request is expired" \
    "ExpiredToken: code and message"
sts_config '{"fail_count":2,"fail_code":"Throttling","fail_actions":null}'
n0=$(sts_count AssumeRole)
run with_keys kl-assume-role $E --role-arn "$ROLE_OPEN"
is "$rc" 0 "Throttling twice: retried, exit 0"
is "$(( $(sts_count AssumeRole) - n0 ))" 3 "Throttling twice: 3 requests"
is "$(echo "$err" | grep -c 'warning: HTTP 400 Throttling, retry [12] of 5 in')" 2 \
    "Throttling: each retry a warning"
sts_config '{"fail_count":100,"fail_code":"Throttling"}'
run with_keys kl-assume-role $E --role-arn "$ROLE_OPEN"
is "$rc" 75 "Throttling every time: exit 75"
like "$err" "HTTP 400 Throttling: Rate exceeded (gave up after 5 retries)" \
    "Throttling every time: gave up after 5 retries"
sts_config '{"fail_count":1,"fail_code":"InternalError"}'
run with_keys kl-assume-role $E --role-arn "$ROLE_OPEN"
is "$rc" 0 "HTTP 500 once: retried, exit 0"
like "$err" "HTTP 500 InternalError, retry 1 of 5" "HTTP 500: a warning"
sts_config '{"fail_count":0,"drop_count":1}'
run with_keys kl-assume-role $E --role-arn "$ROLE_OPEN"
is "$rc" 0 "a dropped connection: retried, exit 0"
sts_config '{"drop_count":0,"malformed_count":1}'
run with_keys kl-assume-role $E --role-arn "$ROLE_OPEN"
is "$rc" 1 "malformed XML: exit 1"
is "$err" "kl-assume-role: fatal: cannot assume role '$ROLE_OPEN': POST $STS_URL/ (AssumeRole): HTTP 200, but the reply is not valid STS XML: line 4: unexpected end of the reply" \
    "malformed XML: said, with the line, no part of the reply"
is "$out" "" "malformed XML: nothing on stdout"
run with_keys kl-assume-role --endpoint-url http://127.0.0.1:1 --role-arn "$ROLE_OPEN"
is "$rc" 75 "connection refused: exit 75 after the retries"
like "$err" "POST http://127.0.0.1:1/ (AssumeRole): (7) " \
    "connection refused: method, URL, operation, libcurl code"
run with_sts with_keys env -u AWS_ENDPOINT_URL_STS kl-assume-role \
    --role-arn "$ROLE_OPEN" -vv --endpoint-url "$STS_URL"
like "$err" "sts endpoint $STS_URL (from --endpoint-url)" \
    "--endpoint-url is the STS endpoint"
run with_keys env AWS_ENDPOINT_URL_STS="$STS_URL" kl-assume-role \
    --role-arn "$ROLE_OPEN"
is "$rc" 0 "AWS_ENDPOINT_URL_STS: exit 0"
with_keys kl-assume-role $E --role-arn "$ROLE_OPEN" >/dev/full 2>"$T/err"
is "$?" 1 ">/dev/full: exit 1"
like "$(cat "$T/err")" "No space left on device" ">/dev/full: said"
if [ -z "$KL_SECRETS_DIR" ]; then
	sts_config '{"latency_ms":3000}'
	with_keys exec kl-assume-role $E --role-arn "$ROLE_OPEN" \
	    >"$T/out" 2>"$T/err" &
	kpid=$!
	sleep 0.5
	kill -TERM "$kpid"
	t0=$(date +%s)
	wait "$kpid" 2>/dev/null
	is "$?" 143 "SIGTERM during the request: dies of it (143)"
	ok $(( $(date +%s) - t0 <= 1 ? 0 : 1 )) "SIGTERM: at once"
	sts_config '{"latency_ms":0}'
else
	skip 2 "signals in the secrets run"
fi
done_testing
