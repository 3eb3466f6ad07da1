#!/bin/sh
# kl-to-lytics.t - kl-to-lytics against the Lytics stand-in
# (tests/fakes/lytics-standin.py): exact delivery, batching, linger,
# retries and faults, bisection of a refused batch, checkpoints, --filter,
# bad input, signals; and, when kl-read-shard is on PATH, the import
# pipeline from kinesalite end to end.
. "$srcdir/tests/tap.sh"

lines() { if [ -s "$1" ]; then wc -l <"$1" | tr -d ' '; else echo 0; fi; }
# mk N [PREFIX]: N plain events {"n":I,...} on stdout
mk() {
	$PY -c 'import sys
n=int(sys.argv[1]); p=sys.argv[2]
for i in range(n):
    print("{\"n\":%d,\"id\":\"%s%d\",\"big\":1234567890123456789%d}" % (i, p, i, i % 10))' "$1" "${2:-e}"
}
# kin N SHARDS [PAYLOAD-PY]: kl-read-shard records of stream "clicks"
kin() {
	$PY -c 'import json, sys
n, shards = int(sys.argv[1]), int(sys.argv[2])
for i in range(n):
    s = i % shards
    r = {"stream": "clicks", "shard_id": "shardId-%012d" % s,
         "sequence_number": str(49590338271490256608559692538361571095921575989136588898 + i),
         "partition_key": "u-%d" % i, "arrival": "2026-11-29T16:46:34.123Z",
         "millis_behind_latest": 0}
    line = json.dumps(r, separators=(",", ":"))[:-1]
    print(line + ",\"data\":{\"_e\":\"pv\",\"i\":%d,\"v\":1.10,\"big\":98765432109876543210%d}}" % (i, i % 10))' "$1" "$2"
}

# --- The command line and the configuration: nothing is sent. ---------

run kl-to-lytics --help
is "$rc" 0 "--help: exit 0"
like "$out" "usage: kl-to-lytics [-hVv]" "--help: usage on stdout"
is "$err" "" "--help: nothing on stderr"
run kl-to-lytics -V
like "$out" "kl-to-lytics (kl) " "-V: the version"
run kl-to-lytics </dev/null
is "$rc" 2 "no --stream: exit 2"
like "$err" "--stream is required" "no --stream: said"
like "$err" "usage: kl-to-lytics" "no --stream: usage on stderr"
run kl-to-lytics -s '' </dev/null
is "$rc" 2 "an empty stream name: exit 2"
like "$err" "--stream wants a Lytics stream name" "an empty stream name: said"
run kl-to-lytics -s 'a b' </dev/null
is "$rc" 2 "a stream name with a space: exit 2"
run kl-to-lytics -s web --batch-size 0 </dev/null
is "$rc" 2 "--batch-size 0: exit 2"
like "$err" "--batch-size wants a whole number from 1 to 100000: '0'" \
    "--batch-size 0: the rule"
run kl-to-lytics -s web --batch-bytes 10000001 </dev/null
is "$rc" 2 "--batch-bytes over 10 MB: exit 2"
run kl-to-lytics -s web --linger soon </dev/null
is "$rc" 2 "--linger soon: exit 2"
run kl-to-lytics -s web --filter '.a |' </dev/null
is "$rc" 2 "a filter that does not compile: exit 2"
like "$err" "--filter: jq: error: syntax error" "... with jq's message"
like "$err" "jq: 1 compile error" "... all of it"
run kl-to-lytics -s web --lytics-url http://127.0.0.1:1 </dev/null
is "$rc" 2 "no key: exit 2"
like "$err" "no Lytics API key" "no key: said"
run kl-to-lytics -s web --lytics-url http://127.0.0.1:1 \
    --lytics-key-file "$T/nokey" </dev/null
is "$rc" 1 "a missing key file: exit 1 (cannot read it)"
like "$err" "cannot open '$T/nokey'" "a missing key file: named"
KEY=at.kl-to-lytics-test-0123456789abcdef
printf '%s\n' "$KEY" >"$T/key"
chmod 644 "$T/key"
run kl-to-lytics -s web --lytics-url http://127.0.0.1:1 \
    --lytics-key-file "$T/key" </dev/null
is "$rc" 2 "a key file others can read: exit 2"
chmod 600 "$T/key"
run kl-to-lytics -s web --lytics-url ftp://x --lytics-key-file "$T/key" \
    </dev/null
is "$rc" 2 "a bad --lytics-url: exit 2"
printf '{"version":7}\n' >"$T/badck"
run kl-to-lytics -s web --lytics-url http://127.0.0.1:1 \
    --lytics-key-file "$T/key" --checkpoint "$T/badck" </dev/null
is "$rc" 2 "a corrupt checkpoint: exit 2"

# --- Against the stand-in. ------------------------------------------------

if ! start_fake lytics-standin.py --seed "$srcdir/tests/data/lytics/seed.json" \
    --key-file "$T/key" --log "$T/standin.log"; then
	bail "the Lytics stand-in did not start"
fi
U=$FAKE_URL
KL="kl-to-lytics --lytics-url $U --lytics-key-file $T/key"
events() { curl -s "$U/_standin/events?stream=$1"; }
count() { curl -s "$U/_standin/counts?stream=$1" | jq -r ".$2"; }
fault() { curl -s -X POST "$U/_standin/fault?$1" >/dev/null; }
clear_faults() { curl -s -X POST "$U/_standin/faults/clear" >/dev/null; }

# Exact delivery: bytes as sent minus whitespace, every digit kept.
cat >"$T/in1" <<'EOF'
{"a": 1, "big": 12345678901234567890123, "f": 1.10, "e": 1E400}
{"stream":"clicks","shard_id":"shardId-000000000000","sequence_number":"49590338271490256608559692538361571095921575989136588898","partition_key":"u-1","arrival":"2026-11-29T16:46:34.123Z","millis_behind_latest":0,"data":{ "_e" : "pv", "u":"\u00e9\ud83d\ude00", "n":[1, 2.50, -0.0] }}

  {"nested":{"x":{"y":[{"z":null}]}},"t":true}
EOF
cat >"$T/want1" <<'EOF'
{"a":1,"big":12345678901234567890123,"f":1.10,"e":1E400}
{"_e":"pv","u":"\u00e9\ud83d\ude00","n":[1,2.50,-0.0]}
{"nested":{"x":{"y":[{"z":null}]}},"t":true}
EOF
run $KL -s exact "$T/in1"
is "$rc" 0 "exact: exit 0"
is "$err" "" "exact: nothing on stderr"
is "$out" '{"stream":"exact","events":3,"message_count":3,"rejected_count":0}' \
    "exact: one batch acknowledgement (contract 5.5)"
is "$(events exact)" "$(cat "$T/want1")" \
    "exact: the stand-in holds the events byte for byte, minified"
is "$(jq -r 'select(.path == "/collect/json/exact") |
    [.auth, .content_type] | join(" ")' "$T/standin.log")" \
    "header application/json" "exact: raw-token Authorization, JSON type"

# Several operands and "-", in order.
mk 2 a >"$T/a"; mk 2 b >"$T/b"; mk 2 c >"$T/c"
run sh -c "$KL -s ops '$T/a' - '$T/b' <'$T/c'"
is "$rc" 0 "operands and -: exit 0"
is "$(events ops | jq -r .id | tr '\n' ' ')" "a0 a1 c0 c1 b0 b1 " \
    "operands and -: in order"

# Batching.
mk 1200 >"$T/n1200"
run $KL -s b500 "$T/n1200"
is "$(echo "$out" | jq -r .events | tr '\n' ' ')" "500 500 200 " \
    "1200 events: batches of 500, 500, 200"
is "$(events b500 | jq -r .n | awk '{ s += $1 } END { print NR, s }')" \
    "1200 719400" "1200 events: each once"
run $KL -s b100 --batch-size 100 "$T/n1200"
is "$(lines "$T/out")" 12 "--batch-size 100: 12 batches"
run $KL -s bbytes --batch-bytes 1000 "$T/n1200"
is "$rc" 0 "--batch-bytes 1000: exit 0"
is "$(curl -s "$U/_standin/batches?stream=bbytes" | jq -s 'map(.bytes) | max <= 1000')" \
    true "--batch-bytes 1000: no request over 1000 bytes"
is "$(count bbytes events)" 1200 "--batch-bytes 1000: every event"

# Linger: a quiet pipe still delivers within a second.
mkfifo "$T/fifo"
kl-to-lytics --lytics-url "$U" --lytics-key-file "$T/key" -s linger \
    --checkpoint "$T/ck-linger" <"$T/fifo" >"$T/linger.out" 2>"$T/linger.err" &
lpid=$!
exec 7>"$T/fifo"
kin 3 1 >&7
sleep 1
is "$(count linger events)" 3 "--linger: 3 events delivered while the input stays open"
is "$(jq -r '.shards["shardId-000000000000"].sequence_number' "$T/ck-linger" 2>/dev/null)" \
    49590338271490256608559692538361571095921575989136588900 \
    "--linger: the checkpoint advanced with the acknowledgement"
# SIGTERM: the batch in hand is still sent, then death by the signal.
kin 5 1 | tail -n 2 >&7
sleep 0.1
kill -TERM "$lpid"
wait "$lpid"
is "$?" 143 "SIGTERM: dies of it (143)"
exec 7>&-
is "$(count linger events)" 5 "SIGTERM: the batch in hand was sent"
is "$(jq -r '.shards["shardId-000000000000"].sequence_number' "$T/ck-linger")" \
    49590338271490256608559692538361571095921575989136588902 \
    "SIGTERM: the checkpoint advanced to the last record"
is "$(lines "$T/linger.out")" 2 "SIGTERM: an acknowledgement per batch"

# Retries: 429 with Retry-After is waited out, 500s retried.
fault 'kind=429&count=2&retry_after=1&path=/collect'
start=$(date +%s)
run $KL -s r429 "$T/a"
end=$(date +%s)
is "$rc" 0 "429 twice with Retry-After: exit 0"
like "$err" "HTTP 429 Too Many Requests, retry 2 of 10 in 1000 ms" \
    "429: Retry-After honoured, said"
ok $([ $((end - start)) -ge 2 ]; echo $?) "429: waited at least 2 s"
is "$(count r429 events)" 2 "429: delivered once"
fault 'kind=500&count=2&path=/collect'
fault 'kind=drop&count=1&path=/collect'
run $KL -s r500 "$T/a"
is "$rc" 0 "500, 500, dropped connection, then 200: exit 0"
is "$(count r500 events)" 2 "500s: delivered once"

# An outage longer than the retry budget: 75, everything in --rejects.
fault 'kind=503&count=-1&path=/collect'
run $KL -s outage --retry-budget 1000 --rejects "$T/rj-out" \
    --checkpoint "$T/ck-out" "$T/n1200"
is "$rc" 75 "an outage: exit 75"
like "$err" "HTTP 503" "an outage: said"
is "$(lines "$T/rj-out")" 1200 "an outage: every record in --rejects"
ok $([ ! -e "$T/ck-out" ]; echo $?) "an outage: no checkpoint written"
clear_faults
jq -c .record "$T/rj-out" >"$T/replay"
run $KL -s outage "$T/replay"
is "$rc" 0 "an outage: replaying the rejects: exit 0"
is "$(events outage | jq -r .n | sort -n | uniq | wc -l | tr -d ' ')" 1200 \
    "an outage: after the replay the stand-in holds every event"
is "$(count outage events)" 1200 "an outage: ... each once"

# A wrong key: exit 1 at once, nothing advanced.
printf 'at.wrong\n' >"$T/wkey"
chmod 600 "$T/wkey"
kin 4 2 >"$T/k4"
run kl-to-lytics --lytics-url "$U" --lytics-key-file "$T/wkey" -s wk \
    --checkpoint "$T/ck-wk" --rejects "$T/rj-wk" "$T/k4"
is "$rc" 1 "a wrong key: exit 1"
like "$err" "HTTP 401 Not authorized" "a wrong key: the status and message"
is "$(lines "$T/rj-wk")" 0 "a wrong key: no rejects"
ok $([ ! -e "$T/ck-wk" ]; echo $?) "a wrong key: no checkpoint"
is "$(count wk events)" 0 "a wrong key: nothing stored"

# Bisection: one poisoned event among 500.
mk 500 p | sed '321s/}$/,"_standin_poison":true}/' >"$T/p500"
run $KL -s bis --rejects "$T/rj-bis" "$T/p500"
is "$rc" 3 "a poisoned event: exit 3"
is "$(lines "$T/rj-bis")" 1 "a poisoned event: one reject"
is "$(jq -r '[.line, .error.code, .record.id] | join(" ")' "$T/rj-bis")" \
    "321 BadRequest p320" "a poisoned event: the right one, named"
like "$err" "$T/p500:321: POST $U/collect/json/bis: HTTP 400" \
    "a poisoned event: NAME:LINE on stderr"
is "$(count bis events)" 499 "a poisoned event: the other 499 delivered"
is "$(events bis | jq -r .n | sort -n | uniq | wc -l | tr -d ' ')" 499 \
    "a poisoned event: each once"
is "$(echo "$out" | jq -s 'map(.events) | add')" 499 \
    "a poisoned event: the acknowledgements add up to 499"

# Lytics acknowledges a batch but counts an event as rejected.
printf '%s\n' '{"n":1}' '{"n":2,"_standin_reject":true}' >"$T/srj"
run $KL -s srj "$T/srj"
is "$rc" 3 "rejected_count above 0: exit 3"
is "$out" '{"stream":"srj","events":2,"message_count":1,"rejected_count":1}' \
    "rejected_count above 0: in the acknowledgement"
like "$err" "Lytics refused 1 of 2 events of a batch without saying which" \
    "rejected_count above 0: a warning"

# Checkpoints: per shard, only after acknowledgements.
kin 10 2 >"$T/k10"
run $KL -s ck --checkpoint "$T/ck" "$T/k10"
is "$rc" 0 "checkpoint: exit 0"
is "$(jq -c . "$T/ck")" '{"version":1,"stream":"clicks","shards":{"shardId-000000000000":{"sequence_number":"49590338271490256608559692538361571095921575989136588906"},"shardId-000000000001":{"sequence_number":"49590338271490256608559692538361571095921575989136588907"}}}' \
    "checkpoint: the newest position of each shard"
head -n 3 "$T/k10" >"$T/k3"
run $KL -s ck --checkpoint "$T/ck" "$T/k3"
is "$(jq -r '.shards["shardId-000000000000"].sequence_number' "$T/ck")" \
    49590338271490256608559692538361571095921575989136588906 \
    "checkpoint: replaying old records does not move it back"
printf '%s\n' '{"stream":"clicks","shard_id":"shardId-000000000002","sequence_number":"5","sub_sequence_number":0,"data":{"k":0}}' \
    '{"stream":"clicks","shard_id":"shardId-000000000002","sequence_number":"5","sub_sequence_number":1,"data":{"k":1}}' >"$T/kpl"
run $KL -s ck --checkpoint "$T/ck" "$T/kpl"
is "$(jq -c '.shards["shardId-000000000002"]' "$T/ck")" \
    '{"sequence_number":"5","sub_sequence_number":1}' \
    "checkpoint: sub-sequence numbers of KPL records"
cp "$T/ck" "$T/ck-before"
kin 20 2 | tail -n 4 >"$T/k4b"
fault 'kind=500&count=-1&when=after&path=/collect'
run $KL -s lost --checkpoint "$T/ck" --retry-budget 800 --rejects "$T/rj-lost" \
    "$T/k4b"
is "$rc" 75 "lost acknowledgements: exit 75"
ok $([ "$(count lost events)" -ge 4 ]; echo $?) \
    "lost acknowledgements: the stand-in stored the events"
is "$(cat "$T/ck")" "$(cat "$T/ck-before")" \
    "lost acknowledgements: the checkpoint did not move"
clear_faults
fault 'kind=drop&count=1&when=after&path=/collect'
run $KL -s lost --checkpoint "$T/ck" "$T/k4b"
is "$rc" 0 "one lost acknowledgement, then the retry: exit 0"
is "$(jq -r '.shards["shardId-000000000001"].sequence_number' "$T/ck")" \
    49590338271490256608559692538361571095921575989136588917 \
    "after the acknowledgement the checkpoint moved"
printf '%s\n' '{"stream":"other","shard_id":"shardId-000000000000","sequence_number":"1","data":{}}' >"$T/other"
run $KL -s ck --checkpoint "$T/ck" "$T/other"
is "$rc" 1 "a record of another stream than the checkpoint's: exit 1"
like "$err" "the checkpoint is of stream 'clicks'" "... said"

# Bad input: rejected with NAME:LINE, the rest delivered, replayable.
printf '%s\n' '{"ok":1}' 'not json' '[1,2]' '"str"' '{"ok":2}' \
    '{"stream":"clicks","shard_id":"s","sequence_number":"1","data":[1]}' \
    '{"stream":"clicks","shard_id":"s","sequence_number":"2","data_base64":"eyJiNjQiOjF9"}' \
    '{"stream":"clicks","shard_id":"s","sequence_number":"3","data_base64":"/wA="}' >"$T/bad"
run $KL -s bad --rejects "$T/rj-bad" "$T/bad"
is "$rc" 3 "bad lines: exit 3"
like "$err" "$T/bad:2: not JSON" "bad lines: a non-JSON line named"
like "$err" "$T/bad:3: not a JSON object" "bad lines: an array named"
like "$err" "$T/bad:6: data is not a JSON object" "bad lines: data not an object"
like "$err" "$T/bad:8: data_base64 does not hold a JSON object" \
    "bad lines: binary data_base64"
is "$(events bad)" "$(printf '%s\n' '{"ok":1}' '{"ok":2}' '{"b64":1}')" \
    "bad lines: the good ones delivered (data_base64 decoded)"
is "$(jq -r .line "$T/rj-bad" | tr '\n' ' ')" "2 3 4 6 8 " \
    "bad lines: each in --rejects"
is "$(jq -c .record "$T/rj-bad" | sed -n 1p)" '"not json"' \
    "bad lines: a non-JSON line kept as a string"
printf '{"n":1}\n{"n":2}\nx\ny\nz\n{"n":3}\n' >"$T/bad3"
run $KL -s maxrj --max-rejects 2 "$T/bad3"
is "$rc" 1 "--max-rejects 2 with 3 bad lines: exit 1"
like "$err" "more than 2 records rejected" "--max-rejects: said"
is "$(count maxrj events)" 2 "--max-rejects: the batch in hand still sent"

# --filter: zero or more events per line, runtime errors rejected.
run $KL -s flt --filter '.data + {pk: .partition_key}' "$T/k3"
is "$rc" 0 "--filter: exit 0"
is "$(events flt | jq -r .pk | tr '\n' ' ')" "u-0 u-1 u-2 " "--filter: its results"
printf '%s\n' '{"a":[{"x":1},{"x":2}]}' '{"a":[]}' '{"a":"s"}' '{"a":[{"x":3}]}' \
    '{"a":[5]}' >"$T/fin"
run $KL -s flt2 --filter '.a[]' --rejects "$T/rj-flt" "$T/fin"
is "$rc" 3 "--filter errors: exit 3"
is "$(events flt2 | jq -r .x | tr '\n' ' ')" "1 2 3 " \
    "--filter: 2, 0 and 1 events from lines; failing lines none"
like "$err" "$T/fin:3: filter: Cannot iterate over string" \
    "--filter: a runtime error named with jq's message"
like "$err" "$T/fin:5: filter result 1 is number, not an object" \
    "--filter: a result that is not an object"
is "$(jq -r '.error.code' "$T/rj-flt" | tr '\n' ' ')" "FilterError NotAnObject " \
    "--filter: both in --rejects"

# Large events.
$PY -c 'print("{\"big\":\"" + "x" * 2100000 + "\",\"n\":%d}" % 1)' >"$T/huge"
$PY -c 'print("{\"big\":\"" + "x" * 2100000 + "\",\"n\":%d}" % 2)' >>"$T/huge"
mk 3 s >>"$T/huge"
run $KL -s huge --rejects "$T/rj-huge" "$T/huge"
is "$rc" 3 "2 MB events: exit 3 (over --max-event-bytes)"
like "$err" "over the 16384-byte event limit" "2 MB events: said"
is "$(count huge events)" 3 "2 MB events: the small ones delivered"
run $KL -s huge2 --max-event-bytes 3000000 "$T/huge"
is "$rc" 0 "2 MB events with --max-event-bytes 3000000: exit 0"
is "$(echo "$out" | jq -r .events | tr '\n' ' ')" "1 4 " \
    "2 MB events: two batches under 4 MB"
is "$(events huge2 | jq -r '.big | length' | head -n 2 | tr '\n' ' ')" \
    "2100000 2100000 " "2 MB events: intact"

# --dry-run and --timestamp-field.
run $KL -s dry --dry-run --checkpoint "$T/ck-dry" "$T/k3"
is "$rc" 0 "--dry-run: exit 0"
is "$(count dry events) $(count dry dryrun_events)" "0 3" \
    "--dry-run: checked, not stored"
ok $([ ! -e "$T/ck-dry" ]; echo $?) "--dry-run: no checkpoint"
run $KL -s tsf --timestamp-field arrival "$T/a"
is "$(curl -s "$U/_standin/batches?stream=tsf" | jq -r .timestamp_field)" \
    arrival "--timestamp-field: sent"

# Output errors, SIGPIPE, secrets.
$KL -s full "$T/a" >/dev/full 2>"$T/err"
is "$?" 1 ">/dev/full: exit 1"
like "$(cat "$T/err")" "No space left on device" ">/dev/full: said"
{ $KL -s pipe --batch-size 1 "$T/n1200" 2>"$T/err"; echo $? >"$T/rc"; } |
    head -n 1 >"$T/out"
is "$(cat "$T/rc")" 141 "| head -n1: dies of SIGPIPE (141)"
is "$(cat "$T/err")" "" "| head -n1: nothing on stderr"
run $KL -vv -s secret "$T/a"
is "$rc" 0 "-vv: exit 0"
like "$err" "debug: > POST $U/collect/json/secret" "-vv: the request traced"
unlike "$err" "$KEY" "-vv: the key never appears"
unlike "$(cat "$T/standin.log")" "$KEY" "the stand-in's log has no key either"

# --- The import pipeline, end to end (needs kl-read-shard). ----------

# stored STREAM: "TOTAL DISTINCT" of the events (by .i) the stand-in holds
stored() {
	events "$1" | jq -r .i | sort -n | uniq -c |
	    awk '{ t += $1; u++ } END { print t + 0, u + 0 }'
}
# progress STREAM N: waits (up to 30 s) until the stand-in holds N events
progress() {
	i=0
	while [ "$(count "$1" events)" -lt "$2" ]; do
		i=$((i + 1))
		[ $i -le 600 ] || return 1
		sleep 0.05
	done
}
KEYS="AWS_ACCESS_KEY_ID=$TEST_AKID AWS_SECRET_ACCESS_KEY=$TEST_SECRET AWS_REGION=us-east-1"
# pipe STREAM LYTICS-STREAM CHECKPOINT [kl-to-lytics ARGS]: starts the
# pipeline in the background through a fifo; sets rpid and tpid
pipe() {
	rm -f "$T/pf"
	mkfifo "$T/pf"
	env $KEYS kl-read-shard --endpoint-url "$KINESIS_URL" -s "$1" \
	    --checkpoint "$3" >"$T/pf" 2>>"$T/rs.err" &
	rpid=$!
	ls=$2 ck=$3
	shift 3
	kl-to-lytics --lytics-url "$U" --lytics-key-file "$T/key" -s "$ls" \
	    --checkpoint "$ck" "$@" <"$T/pf" >>"$T/tl.out" 2>>"$T/tl.err" &
	tpid=$!
}

if ! command -v kl-read-shard >/dev/null 2>&1; then
	skip 15 "kl-read-shard is not built: no pipeline tests"
elif ! start_kinesalite; then
	skip 15 "kinesalite is not installed: no pipeline tests"
else
	KE="--endpoint-url $KINESIS_URL"
	with_keys kl-stream $KE create --shards 4 --wait imp >/dev/null
	$PY - "$T" <<'PYEOF'
import base64, json, sys
t = sys.argv[1]
want = open(t + "/imp-want", "w")
for b in range(4):
    recs = []
    for i in range(b * 500, b * 500 + 500):
        d = '{"i":%d,"big":98765432109876543210%d,"f":1.10,"e":"\\u00e9","a":[{"x":null}]}' % (i, i % 10)
        want.write(d + "\n")
        recs.append({"Data": base64.b64encode(d.encode()).decode(),
                     "PartitionKey": "pk-%d" % i})
    json.dump(recs, open("%s/put%d.json" % (t, b), "w"))
PYEOF
	failed=0
	for b in 0 1 2 3; do
		n=$(aws --endpoint-url "$KINESIS_URL" kinesis put-records \
		    --stream-name imp --records "file://$T/put$b.json" \
		    --query FailedRecordCount --output text) || failed=1
		[ "$n" = 0 ] || failed=1
	done
	is "$failed" 0 "pipeline: 2,000 events put by the AWS CLI over 4 shards"
	run with_keys sh -c "kl-read-shard $KE -s imp --checkpoint '$T/ck-imp' |
	    $KL -s imp --checkpoint '$T/ck-imp'"
	is "$rc" 0 "pipeline: exit 0"
	is "$(events imp | sort)" "$(sort "$T/imp-want")" \
	    "pipeline: the stand-in holds each event exactly once, every field intact"
	is "$(jq '.shards | length' "$T/ck-imp")" 4 \
	    "pipeline: the checkpoint has the 4 shards"
	run with_keys sh -c "kl-read-shard $KE -s imp --checkpoint '$T/ck-imp' |
	    $KL -s imp --checkpoint '$T/ck-imp'"
	is "$rc.$(count imp events)" 0.2000 "pipeline: a rerun sends nothing again"

	# Crash safety: 20,000 events, SIGKILL at random moments, rerun.
	if ! have_node_peer @aws-sdk/client-kinesis; then
		skip 10 "no @aws-sdk/client-kinesis to put 20,000 events"
	else
		with_keys kl-stream $KE create --shards 4 --wait crash >/dev/null
		cat >"$T/put.js" <<'JSEOF'
const m = process.env.KL_NODE_MODULES;
const { KinesisClient, PutRecordsCommand } = require(m + '/@aws-sdk/client-kinesis');
const { NodeHttpHandler } = require(m + '/@smithy/node-http-handler');
const [url, stream, n] = process.argv.slice(2);
const c = new KinesisClient({ endpoint: url, region: 'us-east-1',
  requestHandler: new NodeHttpHandler(), maxAttempts: 10,
  credentials: { accessKeyId: process.env.AWS_ACCESS_KEY_ID,
    secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY } });
(async () => {
  for (let b = 0; b < +n; b += 500) {
    let recs = [];
    for (let i = b; i < Math.min(b + 500, +n); i++)
      recs.push({ PartitionKey: 'pk-' + i, Data: Buffer.from(
        '{"i":' + i + ',"big":1234567890123456789' + (i % 10) + '}') });
    for (let t = 0; recs.length > 0; t++) {
      if (t > 100) throw new Error('PutRecords keeps failing');
      const r = await c.send(new PutRecordsCommand({ StreamName: stream,
        Records: recs }));
      recs = recs.filter((_, k) => r.Records[k].ErrorCode);
      if (recs.length) await new Promise(s => setTimeout(s, 100));
    }
  }
})().catch(e => { console.error(String(e)); process.exit(1); });
JSEOF
		with_keys node --no-warnings "$T/put.js" "$KINESIS_URL" crash 20000
		is "$?" 0 "crash: 20,000 events put"
		# Slow Lytics down so that the kills land mid-stream.
		fault 'kind=latency&ms=30&count=-1&path=/collect'
		kills=0
		for k in 1 2 3; do
			pipe crash crash "$T/ck-crash" --batch-size 200
			progress crash $((k * 4000)) || break
			sleep "$($PY -c 'import random; print(random.random() / 5)')"
			kill -KILL "$rpid" "$tpid"
			wait "$rpid" "$tpid"
			kills=$((kills + 1))
			diag "SIGKILL $k: the stand-in holds $(count crash events) events"
		done
		is "$kills" 3 "crash: SIGKILL 3 times mid-stream"
		clear_faults
		pipe crash crash "$T/ck-crash" --batch-size 200
		wait "$tpid"
		is "$?" 0 "crash: the rerun completes"
		wait "$rpid"
		set -- $(stored crash)
		diag "crash: $1 events stored, $2 distinct, $(($1 - $2)) duplicates after $kills kills (at most $((kills * 200)) allowed)"
		is "$2" 20000 "crash: nothing lost"
		ok $([ $(($1 - $2)) -le $((kills * 200)) ]; echo $?) \
		    "crash: duplicates at most the batches in flight"

		# SIGTERM: nothing lost, nothing repeated.
		fault 'kind=latency&ms=30&count=-1&path=/collect'
		pipe crash term "$T/ck-term" --batch-size 200
		progress term 6000
		kill -TERM "$rpid" "$tpid"
		wait "$tpid"
		is "$?" 143 "SIGTERM: kl-to-lytics dies of it"
		wait "$rpid"
		clear_faults
		diag "SIGTERM: the stand-in holds $(count term events) events"
		pipe crash term "$T/ck-term" --batch-size 200
		wait "$tpid"
		is "$?" 0 "SIGTERM: the rerun completes"
		wait "$rpid"
		is "$(stored term)" "20000 20000" \
		    "SIGTERM: nothing lost, nothing repeated"

		# An outage longer than the retry budget: 75, a rerun completes.
		fault 'kind=503&count=-1&path=/collect'
		pipe crash outp "$T/ck-outp" --retry-budget 500 \
		    --rejects "$T/rj-outp"
		wait "$tpid"
		is "$?" 75 "pipeline outage: exit 75"
		wait "$rpid"
		clear_faults
		pipe crash outp "$T/ck-outp"
		wait "$tpid"
		is "$?" 0 "pipeline outage: the rerun exits 0"
		wait "$rpid"
		set -- $(stored outp)
		is "$2" 20000 "pipeline outage: the rerun completes with nothing lost"
	fi
fi

done_testing
