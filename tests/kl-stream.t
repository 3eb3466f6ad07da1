#!/bin/sh
# kl-stream.t - kl-stream against kinesalite (cross-checked with the AWS
# CLI), kinesis-local (pagination, on-demand) and tests/fakes/stub.py
# (exact fault sequences: retries, Retry-After, throttling, expired
# credentials, clock skew, a stop signal); and its usage and
# configuration errors, which need no peer.
. "$srcdir/tests/tap.sh"

squeeze() { tr -s ' \t\n' '   ' | sed 's/^ //; s/ $//'; }
lines() { if [ -s "$1" ]; then wc -l <"$1" | tr -d ' '; else echo 0; fi; }

# --- The command line and the configuration: nothing is sent. ---------

run kl-stream --help
is "$rc" 0 "--help: exit 0"
like "$out" "usage: kl-stream [-hVv]" "--help: usage on stdout"
is "$err" "" "--help: nothing on stderr"
run kl-stream -V
like "$out" "kl-stream (kl) " "-V: the version"
run kl-stream --frobnicate list
is "$rc" 2 "unknown option: exit 2"
like "$err" "usage: kl-stream [-hVv]" "unknown option: usage on stderr"
is "$out" "" "unknown option: nothing on stdout"
use=$(kl-stream --help | sed -n '/^usage:/,/^$/p' | squeeze)
bad=$(kl-stream --frobnicate list 2>&1 | sed -n '/^usage:/,/^$/p' | squeeze)
is "$bad" "$use" "the usage on errors is the usage of --help"
run kl-stream frobnicate
is "$rc" 2 "unknown command: exit 2"
like "$err" "unknown command 'frobnicate'" "unknown command: named"
run kl-stream describe
is "$rc" 2 "describe without a stream: exit 2"
run kl-stream list extra
is "$rc" 2 "list with an operand: exit 2"
run kl-stream
is "$rc" 2 "no command: exit 2"
run with_keys kl-stream describe 'bad name!'
is "$rc" 2 "invalid stream name: exit 2"
like "$err" "invalid stream name 'bad name!': want 1 to 128 letters, digits, '_', '.' or '-'" \
    "invalid stream name: the rule"
run with_keys kl-stream describe arn:aws:kinesis:us-east-1:123:stream/s
is "$rc" 2 "invalid stream ARN: exit 2"
like "$err" "invalid stream ARN" "invalid stream ARN: said"
run with_keys kl-stream create arn:aws:kinesis:us-east-1:123456789012:stream/s
is "$rc" 2 "create with an ARN: exit 2"
run with_keys kl-stream --shards 0 create s
is "$rc" 2 "--shards 0: exit 2"
like "$err" "--shards wants a whole number from 1 to 100000: '0'" \
    "--shards 0: the rule"
run with_keys kl-stream --shards 2 --on-demand create s
is "$rc" 2 "--shards with --on-demand: exit 2"
run with_keys kl-stream --wait describe s
is "$rc" 2 "--wait with describe: exit 2"
run with_keys kl-stream --page-size 5 describe s
is "$rc" 2 "--page-size with describe: exit 2"
run with_keys kl-stream --timeout x wait s
is "$rc" 2 "--timeout x: exit 2"
run env AWS_ACCESS_KEY_ID=$TEST_AKID AWS_SECRET_ACCESS_KEY=$TEST_SECRET \
    kl-stream --endpoint-url http://127.0.0.1:1 list
is "$rc" 2 "no region: exit 2"
for w in --region AWS_REGION AWS_DEFAULT_REGION "'region' in profile"; do
	like "$err" "$w" "no region: the message names $w"
done
mkdir "$T/adir"
run with_keys env AWS_CONFIG_FILE="$T/adir" kl-stream \
    --endpoint-url http://127.0.0.1:1 list
is "$rc" 1 "unreadable config file: exit 1"
like "$err" "'$T/adir': Is a directory" "unreadable config file: path, reason"
printf '[default]\nregion = us-east-1\n[profile x\n' >"$T/bad-config"
run with_keys env AWS_CONFIG_FILE="$T/bad-config" kl-stream \
    --endpoint-url http://127.0.0.1:1 list
is "$rc" 2 "malformed profile file: exit 2"
like "$err" "$T/bad-config:3:" "malformed profile file: FILE:LINE:"
echo '{"AccessKeyId":"AKIDEXAMPLE"}' >"$T/notcreds.json"
chmod 600 "$T/notcreds.json"
run with_keys kl-stream --credentials "$T/notcreds.json" \
    --endpoint-url http://127.0.0.1:1 list
is "$rc" 2 "--credentials not a credential record: exit 2"
like "$err" "notcreds.json' is not a credential record" \
    "--credentials not a credential record: said"
chmod 640 "$T/notcreds.json"
run with_keys kl-stream --credentials "$T/notcreds.json" \
    --endpoint-url http://127.0.0.1:1 list
is "$rc" 2 "--credentials readable by group: exit 2"
like "$err" "notcreds.json' is readable by group or others; run: chmod 600" \
    "--credentials readable by group: the chmod"
chmod 600 "$T/notcreds.json"
run with_keys kl-stream -r eu-west-1 --endpoint-url http://127.0.0.1:1 \
    describe arn:aws:kinesis:us-east-1:123456789012:stream/s
is "$rc" 2 "ARN in another region: exit 2"
like "$err" "is in region 'us-east-1', not in 'eu-west-1'" \
    "ARN in another region: both named"

# --- Against the stub: exact reply sequences. ---------------------------

# stub NAME REPLY...: starts the stub with these replies (one JSON object
# each); requests go to $T/NAME.log.
stub() {
	name=$1
	shift
	printf '%s\n' "$@" >"$T/$name.replies"
	: >"$T/$name.log"
	start_fake stub.py --replies "$T/$name.replies" --log "$T/$name.log"
}
LIST='{"status":200,"json":{"StreamNames":["x"],"HasMoreStreams":false}}'
E500='{"status":500,"json":{"__type":"InternalFailure","message":"boom"}}'

if stub r500 "$E500" "$E500" "$LIST"; then
	run with_keys kl-stream --endpoint-url "$FAKE_URL" list
	is "$rc" 0 "500, 500, 200: exit 0"
	is "$out" '{"stream_name":"x"}' "500, 500, 200: the listing"
	is "$(lines "$T/r500.log")" 3 "500, 500, 200: 3 requests"
	like "$err" "warning: HTTP 500 InternalFailure, retry 2 of 5 in " \
	    "500, 500, 200: retries are warnings"
	stop "$FAKE_PID"

	stub r503 '{"status":503,"body":""}'
	run with_keys kl-stream --endpoint-url "$FAKE_URL" list
	is "$rc" 75 "503 every time: exit 75"
	is "$(lines "$T/r503.log")" 6 "503 every time: 1 + 5 retries"
	like "$err" "fatal: cannot list streams: POST $FAKE_URL/ (ListStreams): HTTP 503 (gave up after 5 retries)" \
	    "503 every time: method, URL, operation, status"
	stop "$FAKE_PID"

	stub rthr '{"status":400,"json":{"__type":"LimitExceededException","message":"Rate exceeded"}}' "$LIST"
	run with_keys kl-stream --endpoint-url "$FAKE_URL" list
	is "$rc" 0 "400 LimitExceededException: retried, exit 0"
	like "$err" "kl-stream: warning: HTTP 400 LimitExceededException, retry 1 of 5 in " \
	    "400 throttling: the warning of house style 5"
	stop "$FAKE_PID"

	stub rra '{"status":503,"headers":{"Retry-After":"1"}}' "$LIST"
	t0=$(date +%s%N)
	run with_keys kl-stream --endpoint-url "$FAKE_URL" list
	t1=$(date +%s%N)
	is "$rc" 0 "503 Retry-After: 1: exit 0"
	like "$err" "HTTP 503, retry 1 of 5 in 1000 ms" \
	    "Retry-After: 1: waits 1000 ms"
	ok $(( (t1 - t0) / 1000000 >= 1000 ? 0 : 1 )) \
	    "Retry-After: 1: at least a second passed"
	stop "$FAKE_PID"

	stub rtok '{"status":400,"json":{"__type":"ExpiredTokenException","message":"The security token included in the request is expired"}}' "$LIST"
	run with_keys kl-stream --endpoint-url "$FAKE_URL" list
	is "$rc" 0 "ExpiredTokenException once: refreshed, exit 0"
	is "$(lines "$T/rtok.log")" 2 "ExpiredTokenException once: 2 requests"
	like "$err" "ExpiredTokenException, refreshing credentials" \
	    "ExpiredTokenException: said"
	stop "$FAKE_PID"

	stub rtok2 '{"status":400,"json":{"__type":"ExpiredTokenException","message":"expired"}}'
	run with_keys kl-stream --endpoint-url "$FAKE_URL" list
	is "$rc" 1 "ExpiredTokenException twice: exit 1"
	is "$(lines "$T/rtok2.log")" 2 "ExpiredTokenException twice: retried once"
	stop "$FAKE_PID"

	stub rskew '{"status":400,"headers":{"Date":"@date+3600"},"json":{"__type":"InvalidSignatureException","message":"Signature expired: 20260101T000000Z is now earlier than 20260101T010000Z (20260101T011500Z - 15 min.)"}}' "$LIST"
	run with_keys kl-stream --endpoint-url "$FAKE_URL" list
	is "$rc" 0 "Signature expired: re-signed, exit 0"
	like "$err" "local clock is 3600 s behind the server's, signing again" \
	    "Signature expired: the offset from Date"
	d1=$(sed -n 1p "$T/rskew.log" | sed 's/.*"x-amz-date": "\([0-9TZ]*\)".*/\1/')
	d2=$(sed -n 2p "$T/rskew.log" | sed 's/.*"x-amz-date": "\([0-9TZ]*\)".*/\1/')
	s1=$(date -u -d "$(echo "$d1" | sed 's/\(....\)\(..\)\(..\)T\(..\)\(..\)\(..\)Z/\1-\2-\3 \4:\5:\6/')" +%s)
	s2=$(date -u -d "$(echo "$d2" | sed 's/\(....\)\(..\)\(..\)T\(..\)\(..\)\(..\)Z/\1-\2-\3 \4:\5:\6/')" +%s)
	ok $(( s2 - s1 >= 3598 && s2 - s1 <= 3602 ? 0 : 1 )) \
	    "Signature expired: signed again an hour later ($d1, $d2)"
	stop "$FAKE_PID"

	stub r413 '{"status":413,"body":""}'
	run with_keys kl-stream --endpoint-url "$FAKE_URL" list
	is "$rc" 1 "413 with an empty body: exit 1"
	like "$err" "(ListStreams): HTTP 413" "413: the status"
	is "$(lines "$T/r413.log")" 1 "413: not retried"
	stop "$FAKE_PID"

	stub rden '{"status":400,"json":{"__type":"AccessDeniedException","message":"User is not authorized"}}'
	run with_keys kl-stream --endpoint-url "$FAKE_URL" describe s
	is "$rc" 1 "AccessDeniedException: exit 1"
	like "$err" "HTTP 400 AccessDeniedException: User is not authorized" \
	    "AccessDeniedException: code and message"
	stop "$FAKE_PID"

	stub rdrop '{"drop":true}' "$LIST"
	run with_keys kl-stream --endpoint-url "$FAKE_URL" list
	is "$rc" 0 "a dropped connection: retried, exit 0"
	like "$err" "(52) " "a dropped connection: the libcurl code"
	stop "$FAKE_PID"

	stub rsig '{"status":503,"headers":{"Retry-After":"30"}}'
	with_keys exec kl-stream --endpoint-url "$FAKE_URL" list \
	    >"$T/out" 2>"$T/err" &
	kpid=$!
	wait_for "$T/err" "retry 1 of 5" 100
	kill -TERM "$kpid"
	t0=$(date +%s)
	wait "$kpid"
	rc=$?
	is "$rc" 143 "SIGTERM in a backoff pause: dies of it (143)"
	ok $(( $(date +%s) - t0 <= 2 ? 0 : 1 )) "SIGTERM: at once"
	stop "$FAKE_PID"
else
	skip 29 "stub.py did not start"
fi
run with_keys kl-stream --endpoint-url http://127.0.0.1:1 list
is "$rc" 75 "connection refused: exit 75 after the retries"
like "$err" "POST http://127.0.0.1:1/ (ListStreams): (7) " \
    "connection refused: method, URL, operation, libcurl code"

# --- Against kinesalite, cross-checked with the AWS CLI. ----------------

if ! start_kinesalite; then
	skip 43 "kinesalite not available"
else
	KS="--endpoint-url $KINESIS_URL"
	AWSK="aws --endpoint-url $KINESIS_URL kinesis"
	have_cli=0
	[ -x "$AWSCLI" ] && have_cli=1

	run with_keys kl-stream $KS create --shards 2 --wait k1
	is "$rc" 0 "create --shards 2 --wait: exit 0"
	is "$(echo "$out" | jq -r '[.stream_name,.stream_status,.open_shard_count]|@tsv')" \
	    "k1	ACTIVE	2" "create --wait: the summary, ACTIVE"
	is "$err" "" "create --wait: nothing on stderr"
	run with_keys kl-stream $KS describe k1
	is "$rc" 0 "describe: exit 0"
	is "$(echo "$out" | jq -r 'keys_unsorted[0]')" stream_name \
	    "describe: stream_name first"
	is "$(echo "$out" | jq -r .stream_arn)" \
	    "arn:aws:kinesis:us-east-1:000000000000:stream/k1" "describe: the ARN"
	run with_keys kl-stream $KS describe \
	    arn:aws:kinesis:us-east-1:000000000000:stream/k1
	is "$(echo "$out" | jq -r .stream_name)" k1 "describe by ARN"
	run with_keys kl-stream $KS shards k1
	is "$rc" 0 "shards: exit 0"
	is "$(echo "$out" | jq -r .shard_id | tr '\n' ' ')" \
	    "shardId-000000000000 shardId-000000000001 " "shards: both shards"
	is "$(echo "$out" | jq -r '.ending_hash_key' | tail -n 1)" \
	    340282366920938463463374607431768211455 \
	    "shards: hash keys as strings, every digit"
	if [ $have_cli = 1 ]; then
		cli=$($AWSK describe-stream-summary --stream-name k1 --query \
		    'StreamDescriptionSummary.[StreamStatus,OpenShardCount,StreamARN]' \
		    --output text 2>&1)
		is "$cli" "ACTIVE	2	arn:aws:kinesis:us-east-1:000000000000:stream/k1" \
		    "created by kl, described by the AWS CLI"
		cli=$($AWSK list-shards --stream-name k1 --query \
		    'Shards[].[ShardId,HashKeyRange.StartingHashKey,HashKeyRange.EndingHashKey,SequenceNumberRange.StartingSequenceNumber]' \
		    --output text 2>&1)
		is "$(echo "$out" | jq -r '[.shard_id,.starting_hash_key,.ending_hash_key,.starting_sequence_number]|@tsv')" \
		    "$cli" "shards: the same as the AWS CLI's list-shards"
		$AWSK create-stream --stream-name a1 --shard-count 1 \
		    >"$T/cli.out" 2>&1
		ok $? "the AWS CLI creates a1"
	else
		skip 3 "no AWS CLI"
		with_keys kl-stream $KS create a1 2>/dev/null
	fi
	i=2
	while [ $i -le 12 ]; do
		with_keys kl-stream $KS create "k$i" || break
		i=$((i + 1))
	done
	run with_keys kl-stream $KS list
	is "$rc" 0 "list: exit 0"
	is "$(echo "$out" | jq -r .stream_name | sort | tr '\n' ' ')" \
	    "a1 k1 k10 k11 k12 k2 k3 k4 k5 k6 k7 k8 k9 " \
	    "list: 13 streams over 2 pages of 10 (a1 made by the AWS CLI)"
	run with_keys kl-stream $KS --page-size 3 list
	is "$(echo "$out" | wc -l | tr -d ' ')" 13 "list --page-size 3: 13 streams"
	if [ $have_cli = 1 ]; then
		cli=$($AWSK list-streams --no-paginate --limit 100 \
		    --query 'StreamNames' --output text |
		    tr '\t' '\n' | sort | tr '\n' ' ')
		is "$(echo "$out" | jq -r .stream_name | sort | tr '\n' ' ')" \
		    "$cli" "list: as the AWS CLI's list-streams"
	else
		skip 1 "no AWS CLI"
	fi
	run with_keys kl-stream $KS describe nope
	is "$rc" 1 "unknown stream: exit 1"
	like "$err" "cannot describe stream 'nope'" "unknown stream: named"
	like "$err" "ResourceNotFoundException: Stream nope under account" \
	    "unknown stream: the service's code and message"
	run with_keys kl-stream $KS create k1
	is "$rc" 1 "create an existing stream: exit 1"
	like "$err" "ResourceInUseException" "create an existing stream: said"
	# kinesalite has no on-demand mode: CreateStream wants ShardCount.
	run with_keys kl-stream $KS create --on-demand od
	is "$rc" 1 "create --on-demand on kinesalite: exit 1"
	like "$err" "ValidationException" \
	    "create --on-demand on kinesalite: its ValidationException"
	run with_keys kl-stream $KS delete --wait a1
	is "$rc" 0 "delete --wait: exit 0"
	is "$out" "" "delete: nothing on stdout"
	if [ $have_cli = 1 ]; then
		cli=$($AWSK list-streams --query 'StreamNames' --output text)
		unlike "$cli" "a1" "deleted by kl: gone for the AWS CLI"
	else
		skip 1 "no AWS CLI"
	fi
	run with_keys kl-stream $KS wait k1
	is "$rc" 0 "wait: exit 0"
	is "$(echo "$out" | jq -r .stream_status)" ACTIVE "wait: the summary"
	run with_keys kl-stream $KS --timeout 1 wait nope
	is "$rc" 75 "wait for a stream that never comes: exit 75"
	like "$err" "timed out after 1 s waiting for stream 'nope' to become ACTIVE" \
	    "wait: timed out, said"
	run env AWS_ENDPOINT_URL_KINESIS="$KINESIS_URL" \
	    AWS_ACCESS_KEY_ID=$TEST_AKID AWS_SECRET_ACCESS_KEY=$TEST_SECRET \
	    kl-stream -r us-east-1 describe k1
	is "$(echo "$out" | jq -r .stream_name)" k1 \
	    "AWS_ENDPOINT_URL_KINESIS and -r"
	with_keys kl-stream $KS list >/dev/full 2>"$T/err"
	is "$?" 1 ">/dev/full: exit 1"
	like "$(cat "$T/err")" "No space left on device" ">/dev/full: said"
	with_keys kl-stream $KS create --shards 500 big 2>/dev/null
	{ with_keys kl-stream $KS shards big 2>"$T/err"; echo $? >"$T/rc"; } |
	    head -n 1 >"$T/out"
	is "$(cat "$T/rc")" 141 "| head -n1: dies of SIGPIPE (141)"
	is "$(cat "$T/err")" "" "| head -n1: nothing on stderr"
	is "$(jq -r .shard_id "$T/out")" shardId-000000000000 \
	    "| head -n1: the first shard"
	run with_keys env AWS_SESSION_TOKEN=TESTSESSIONTOKENVALUE \
	    kl-stream -vv $KS describe k1
	is "$rc" 0 "-vv: exit 0"
	like "$err" "debug: > X-Amz-Target: Kinesis_20131202.DescribeStreamSummary" \
	    "-vv: the request headers"
	unlike "$err" "$TEST_SECRET" "-vv: no secret key"
	unlike "$err" "TESTSESSIONTOKENVALUE" "-vv: no session token"
	unlike "$err" "Signature=" "-vv: no Authorization value"
	like "$err" "...MPLE" "-vv: the access key id's last 4 characters"
fi

# --- Against kinesis-local: ListShards pages, on-demand. ----------------

# kinesis-local reads server.json from the current directory.
here=$(pwd)
cd "$KL_NODE_MODULES/kinesis-local" 2>/dev/null || true
if ! start_kinesis_local; then
	cd "$here"
	skip 6 "kinesis-local not available"
else
	cd "$here"
	KS="--endpoint-url $KLOCAL_URL"
	run with_keys kl-stream $KS create --shards 5 --wait p1
	is "$rc" 0 "kinesis-local: create --shards 5 --wait"
	run with_keys kl-stream -vv $KS --page-size 2 shards p1
	is "$rc" 0 "kinesis-local: shards --page-size 2: exit 0"
	is "$(echo "$out" | jq -r .shard_id | tr '\n' ' ')" \
	    "shardId-000000000000 shardId-000000000001 shardId-000000000002 shardId-000000000003 shardId-000000000004 " \
	    "kinesis-local: all 5 shards"
	is "$(printf '%s\n' "$err" | grep -c 'debug: < HTTP 200')" 3 \
	    "kinesis-local: in 3 pages (NextToken)"
	run with_keys kl-stream $KS create --on-demand --wait od1
	is "$rc" 0 "kinesis-local: create --on-demand --wait"
	is "$(echo "$out" | jq -r .stream_mode)" ON_DEMAND \
	    "kinesis-local: stream_mode ON_DEMAND"
fi

# --- TLS: kinesalite with its own certificate; AWS_CA_BUNDLE trusts it. --

cat >"$T/tls.js" <<'EOF'
'use strict';
const fs = require('fs'), path = require('path');
const kinesalite = require(path.join(process.env.KL_NODE_MODULES, 'kinesalite'));
const dir = process.argv[3];
kinesalite({ ssl: true, key: fs.readFileSync(dir + '/key.pem'),
  cert: fs.readFileSync(dir + '/cert.pem'), createStreamMs: 0 })
  .listen(Number(process.argv[2]), '127.0.0.1', () => console.log('ready'));
EOF
if have_node_peer kinesalite && command -v openssl >/dev/null 2>&1 &&
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$T/key.pem" \
    -out "$T/cert.pem" >/dev/null 2>&1; then
	port=$(free_port)
	node "$T/tls.js" "$port" "$T" >"$T/tls.log" 2>&1 &
	tap_pids="$tap_pids $!"
	wait_for "$T/tls.log" '^ready' 200
	run with_keys kl-stream --endpoint-url "https://127.0.0.1:$port" list
	is "$rc" 1 "TLS, certificate not trusted: exit 1"
	like "$err" "(ListStreams): (60) SSL certificate problem" \
	    "TLS, certificate not trusted: the libcurl code"
	run with_keys env AWS_CA_BUNDLE="$T/cert.pem" kl-stream \
	    --endpoint-url "https://127.0.0.1:$port" create --wait t1
	is "$rc" 0 "TLS with AWS_CA_BUNDLE: create --wait"
	is "$(echo "$out" | jq -r .stream_status)" ACTIVE \
	    "TLS with AWS_CA_BUNDLE: ACTIVE"
else
	skip 4 "no kinesalite or openssl for the TLS tests"
fi
done_testing
