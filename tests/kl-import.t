#!/bin/sh
# kl-import.t - import jobs end to end, from job files, against kinesalite
# and the Lytics stand-in: --once, then a rerun that delivers only what
# is new; a filter; --follow with an overlapping run and SIGTERM; a bad
# Lytics key that stops the job with nothing advanced; --dry-run against
# the real stream; the progress line under script(1).
. "$srcdir/tests/tap.sh"

for c in kl-import kl-read-shard kl-to-lytics kl-stream; do
	if ! command -v "$c" >/dev/null 2>&1; then
		skip 1 "$c not built"
		done_testing
		exit 0
	fi
done
if ! have_node_peer kinesalite || [ ! -x "$AWSCLI" ]; then
	skip 1 "kinesalite or the AWS CLI missing"
	done_testing
	exit 0
fi
start_kinesalite || bail "kinesalite did not start"
KEY=kl-test-key-$$
printf '%s\n' "$KEY" >"$T/lytics.key"
chmod 600 "$T/lytics.key"
start_fake lytics-standin.py --seed "$srcdir/tests/data/lytics/seed.json" \
    --key-file "$T/lytics.key" || bail "the Lytics stand-in did not start"
LURL=$FAKE_URL
AWS_ENDPOINT_URL_KINESIS=$KINESIS_URL
LYTICS_API_URL=$LURL
LYTICS_API_KEY=$KEY
export AWS_ENDPOINT_URL_KINESIS LYTICS_API_URL LYTICS_API_KEY

# put_events STREAM FIRST LAST: events n = FIRST..LAST, by the AWS CLI.
put_events() {
	$PY - "$2" "$3" >"$T/batches" <<'EOF'
import base64, json, sys
first, last = int(sys.argv[1]), int(sys.argv[2])
recs = []
for n in range(first, last + 1):
    ev = {"_e": "pv", "n": n, "email": "u%d@example.com" % n,
          "big": 123456789012345678901234567890}
    data = json.dumps(ev, separators=(",", ":"))
    recs.append({"Data": base64.b64encode(data.encode()).decode(),
                 "PartitionKey": "u%d" % n})
for i in range(0, len(recs), 500):
    print(json.dumps(recs[i:i + 500]))
EOF
	while read -r batch; do
		printf '%s' "$batch" >"$T/batch.json"
		aws kinesis put-records --endpoint-url "$KINESIS_URL" \
		    --stream-name "$1" --records "file://$T/batch.json" \
		    --query FailedRecordCount --output text >"$T/failed" ||
		    return 1
		[ "$(cat "$T/failed")" = 0 ] || return 1
	done <"$T/batches"
}
# events STREAM: events the stand-in holds; distinct STREAM: distinct n.
events() {
	curl -s "$LURL/_standin/counts?stream=$1" | jq -r .events
}
distinct() {
	curl -s "$LURL/_standin/events?stream=$1" | jq -s 'map(.n)|unique|length'
}
# wait_events STREAM N: up to 20 s.
wait_events() {
	i=0
	until [ "$(events "$1")" = "$2" ]; do
		i=$((i + 1))
		[ $i -le 200 ] || return 1
		sleep 0.1
	done
}

run with_keys kl-stream --shards 2 --wait create clicks
is "$rc" 0 "a 2-shard stream"
put_events clicks 1 300
ok $? "300 events put with the AWS CLI"

S=$T/state
cat >"$T/clicks.job" <<EOF
label = Web clicks
region = us-east-1
kinesis_stream = clicks
lytics_stream = web
state_dir = $S
EOF

# --- --once, then reruns. ------------------------------------------------
run with_keys kl-import --once --job "$T/clicks.job"
is "$rc" 0 "--once: exit 0"
is "$err" "" "--once: quiet"
is "$out" "" "--once: nothing on stdout"
is "$(events web)" 300 "every event arrived"
is "$(distinct web)" 300 "each once"
curl -s "$LURL/_standin/events?stream=web" | head -n 1 >"$T/first"
like "$(cat "$T/first")" '{"_e":"pv","n":' "the event is the record's data"
like "$(cat "$T/first")" '"big":123456789012345678901234567890}' \
    "every digit kept"
ok $([ -s "$S/import.checkpoint.json" ]; echo $?) "a checkpoint is kept"

put_events clicks 301 400
run with_keys kl-import -v --once --job "$T/clicks.job"
is "$rc" 0 "rerun: exit 0"
is "$(events web)" 400 "the rerun delivered the 100 new events"
is "$(distinct web)" 400 "and only those"
like "$err" "kl-import: info: 100 events delivered" "-v: the count"
run with_keys kl-import --once --job "$T/clicks.job"
is "$(events web)" 400 "a rerun with nothing new delivers nothing"

# --- A filter on the events; $record is the whole record. ----------------
cat >"$T/even.job" <<EOF
kinesis_stream = clicks
lytics_stream = web2
filter = select(.n % 2 == 0) | {n, key: \$record.partition_key} # even only
state_dir = $T/state2
EOF
run with_keys kl-import --once --job "$T/even.job"
is "$rc" 0 "a filter: exit 0"
is "$(events web2)" 200 "a filter: half the events"
is "$(curl -s "$LURL/_standin/events?stream=web2" |
    jq -s -c 'map(select(.n == 2))')" \
    '[{"n":2,"key":"u2"}]' "a filter: its output, with \$record"

# --- --follow, an overlapping run, SIGTERM. ------------------------------
AWS_ACCESS_KEY_ID=$TEST_AKID AWS_SECRET_ACCESS_KEY=$TEST_SECRET \
    kl-import --job "$T/clicks.job" >"$T/fout" 2>"$T/ferr" &
pid=$!
tap_pids="$tap_pids $pid"
wait_for "$S/import.lock" "^$pid\$" 200
ok $? "--follow: running, holding the lock"
put_events clicks 401 410
wait_events web 410
ok $? "--follow: new events arrive while it runs"
run with_keys kl-import --once --job "$T/clicks.job"
is "$rc" 75 "overlap: a second run exits 75"
like "$err" "is already running: process $pid holds the lock" \
    "overlap: the holder's PID"
kill -TERM "$pid"
wait "$pid"
is "$?" 143 "SIGTERM: kl-import stops its stages and dies of it"
is "$(grep -v 'Terminated' "$T/ferr")" "" "SIGTERM: no error"
run with_keys kl-import --once --job "$T/clicks.job"
is "$rc" 0 "after SIGTERM: a rerun"
is "$(events web)" 410 "nothing was repeated or lost"
is "$(distinct web)" 410 "each event once"

# --- A bad Lytics key: exit 1, nothing advanced. -------------------------
printf 'wrong-key\n' >"$T/bad.key"
chmod 600 "$T/bad.key"
cat >"$T/web3.job" <<EOF
kinesis_stream = clicks
lytics_stream = web3
state_dir = $T/state3
lytics_key_file = $T/bad.key
EOF
run with_keys kl-import --once --job "$T/web3.job"
is "$rc" 1 "a wrong Lytics key: exit 1"
like "$err" "kl-to-lytics: " "kl-to-lytics says why"
is "$(events web3)" 0 "nothing delivered"
sed '/lytics_key_file/d' "$T/web3.job" >"$T/web3b.job"
run with_keys kl-import --once --job "$T/web3b.job"
is "$rc" 0 "with the right key: exit 0"
is "$(events web3)" 410 "everything delivered: the checkpoint had not moved"

# --- --dry-run against the real stream. ----------------------------------
run with_keys kl-import --dry-run --job "$T/clicks.job"
is "$rc" 0 "--dry-run: exit 0"
like "$out" "# kinesis stream 'clicks': found, ACTIVE, 2 open shards" \
    "--dry-run: the stream, by kl-stream"
like "$out" "key from LYTICS_API_KEY" "--dry-run: the Lytics key"
sed 's/^kinesis_stream = .*/kinesis_stream = nosuch/' "$T/clicks.job" \
    >"$T/nosuch.job"
run with_keys kl-import --dry-run --job "$T/nosuch.job"
is "$rc" 1 "--dry-run: a stream that does not exist: exit 1"
like "$err" "nosuch.job:3: kinesis_stream 'nosuch'" "--dry-run: FILE:LINE"

# --- Progress on a terminal (script(1)), quiet otherwise. ----------------
if ! command -v script >/dev/null 2>&1; then
	skip 2 "script(1) missing"
elif ! grep -q kl_progress_update "$(command -v kl-read-shard)"; then
	skip 2 "kl-read-shard draws no progress line yet"
else
	put_events clicks 411 3410
	sed 's/^lytics_stream = .*/lytics_stream = web4/; s|^state_dir = .*|state_dir = '"$T"'/state4|' \
	    "$T/clicks.job" >"$T/web4.job"
	# The read takes 0.7 s: slow Lytics, so that the pipe holds it
	# back past the first draw, at 1 s.
	curl -s -X POST --data-binary '{"kind":"latency","ms":500,
	    "count":-1,"path":"/collect/json/web4"}' \
	    "$LURL/_standin/fault" >/dev/null
	AWS_ACCESS_KEY_ID=$TEST_AKID AWS_SECRET_ACCESS_KEY=$TEST_SECRET \
	    script -qec "kl-import --once --job $T/web4.job" /dev/null \
	    </dev/null >"$T/tty" 2>&1
	curl -s -X POST "$LURL/_standin/faults/clear" >/dev/null
	like "$(cat -v "$T/tty")" "^Mkl-read-shard: " \
	    "a terminal: kl-read-shard's progress line"
	rm -rf "$T/state4"
	run with_keys kl-import --once --job "$T/web4.job"
	unlike "$err" "$(printf '\r')" "not a terminal: no progress line"
fi
done_testing
