#!/bin/sh
# kl-read-shard.t - kl-read-shard against kinesalite, with records put by
# the AWS CLI (tests/read-shard.py): exact payloads and keys, every record
# once and in shard order, all five start positions and --until,
# checkpoints (--commit, SIGTERM and SIGKILL mid-stream, inside a KPL
# aggregate, aged out of retention), KPL aggregates made by
# aws-kinesis-agg and the shared fixture, a corrupt aggregate; and the
# command line and its errors.  Resharding is in kl-read-shard-reshard.t,
# faults in kl-read-shard-faults.t.
. "$srcdir/tests/tap.sh"

RS="$PY $srcdir/tests/read-shard.py"
lines() { if [ -s "$1" ]; then wc -l <"$1" | tr -d ' '; else echo 0; fi; }
NOWHERE=--endpoint-url=http://127.0.0.1:1

# --- The command line: nothing is read or sent. -------------------------

run kl-read-shard --help
is "$rc" 0 "--help: exit 0"
like "$out" "usage: kl-read-shard [-fhVv] [--commit]" "--help: usage on stdout"
is "$err" "" "--help: nothing on stderr"
run kl-read-shard -V
like "$out" "kl-read-shard (kl) " "-V: the version"
run with_keys kl-read-shard $NOWHERE
is "$rc" 2 "no --stream: exit 2"
like "$err" "--stream is required" "no --stream: said"
like "$err" "usage: kl-read-shard" "no --stream: usage"
run with_keys kl-read-shard $NOWHERE -s s --from sideways
is "$rc" 2 "bad --from: exit 2"
like "$err" "--from wants trim-horizon, latest, at-timestamp=TIME, at-sequence=SEQ or after-sequence=SEQ: 'sideways'" \
    "bad --from: the rule"
run with_keys kl-read-shard $NOWHERE -s s --from at-timestamp=2999-01-01T00:00:00Z
is "$rc" 2 "at-timestamp in the future: exit 2"
like "$err" "'2999-01-01T00:00:00Z' is in the future" "at-timestamp in the future: said"
run with_keys kl-read-shard $NOWHERE -s s --from at-timestamp=yesterday
is "$rc" 2 "at-timestamp not a time: exit 2"
run with_keys kl-read-shard $NOWHERE -s s --from at-sequence=12x
is "$rc" 2 "at-sequence not a number: exit 2"
run with_keys kl-read-shard $NOWHERE -s s --from after-sequence=123
is "$rc" 2 "after-sequence without --shard: exit 2"
like "$err" "want exactly one --shard" "after-sequence without --shard: said"
run with_keys kl-read-shard $NOWHERE -s s --commit
is "$rc" 2 "--commit without --checkpoint: exit 2"
run with_keys kl-read-shard $NOWHERE -s s --max-rate 0
is "$rc" 2 "--max-rate 0: exit 2"
run with_keys kl-read-shard $NOWHERE -s s --limit 0
is "$rc" 2 "--limit 0: exit 2"
like "$err" "--limit wants a positive integer: '0'" "--limit 0: the rule"
run with_keys kl-read-shard $NOWHERE -s s --shard 'no such!'
is "$rc" 2 "bad --shard: exit 2"
run with_keys kl-read-shard $NOWHERE -s 'bad name!'
is "$rc" 2 "bad stream name: exit 2"
run env AWS_ACCESS_KEY_ID=$TEST_AKID AWS_SECRET_ACCESS_KEY=$TEST_SECRET \
    kl-read-shard $NOWHERE -s s
is "$rc" 2 "no region: exit 2"
printf '{"version":1,"stream":' >"$T/corrupt.json"
run with_keys kl-read-shard $NOWHERE -s s --checkpoint "$T/corrupt.json"
is "$rc" 2 "corrupt checkpoint: exit 2"
like "$err" "$T/corrupt.json: not valid JSON" "corrupt checkpoint: named"
echo '{"version":1,"stream":"other","shards":{}}' >"$T/other.json"
run with_keys kl-read-shard $NOWHERE -s s --checkpoint "$T/other.json"
is "$rc" 2 "checkpoint of another stream: exit 2"
like "$err" "checkpoint of stream 'other', not 's'" \
    "checkpoint of another stream: both named"

# --- Against kinesalite. -------------------------------------------------

if ! start_kinesalite || [ ! -x "$AWSCLI" ] || ! $PY -c 1; then
	skip 1 "kinesalite, node or the AWS CLI not available"
	done_testing
	exit 0
fi
EP=$KINESIS_URL
krs() { with_keys kl-read-shard --endpoint-url "$EP" "$@"; }
# krs_bg ARGS...: krs in the background, as one process: $! is its pid.
krs_bg() {
	(AWS_ACCESS_KEY_ID=$TEST_AKID AWS_SECRET_ACCESS_KEY=$TEST_SECRET \
	    AWS_REGION=us-east-1; export AWS_ACCESS_KEY_ID \
	    AWS_SECRET_ACCESS_KEY AWS_REGION
	exec kl-read-shard --endpoint-url "$EP" "$@") &
	tap_pids="$tap_pids $!"
}
# Streams are made with kl-stream (fast); records are put by the AWS CLI.
mk() { with_keys kl-stream --endpoint-url "$EP" --shards "$2" create "$1" \
    >/dev/null || bail "cannot create stream $1"; }
put() { $RS put "$EP" "$@" || bail "put-records failed"; }

mk four 4
put four mixed 500 "$T/four.ex"
run krs -s four
is "$rc" 0 "4 shards: exit 0"
is "$err" "" "4 shards: nothing on stderr"
is "$($RS check "$T/four.ex" "$T/out")" "ok 500 records" \
    "4 shards: every record once, in shard order, payloads and keys exact"
krs -s four >"$T/file.ndjson" 2>"$T/err"
is "$($RS check "$T/four.ex" "$T/file.ndjson")" "ok 500 records" \
    "to a regular file (buffered): the same"
run krs -s arn:aws:kinesis:us-east-1:000000000000:stream/four
is "$($RS check "$T/four.ex" "$T/out")" "ok 500 records" "stream by ARN: the same"
run krs -s four --data-only
is "$(lines "$T/out")" 500 "--data-only: 500 lines"
like "$out" '{"data_base64":"' "--data-only: non-JSON as data_base64 objects"
like "$out" ',18446744073709551617,true,false,"ünï"]' "--data-only: payloads alone, digits kept"
run krs -s four --limit 5
is "$rc" 0 "--limit 5: exit 0"
is "$(lines "$T/out")" 5 "--limit 5: 5 records"
run krs -s four --shard shardId-000000000001 --shard shardId-000000000003
want=$(grep -c -e '"shardId-000000000001"' -e '"shardId-000000000003"' "$T/four.ex")
is "$(lines "$T/out")" "$want" "--shard twice: those shards' records"
is "$($RS check "$T/four.ex" "$T/out" --subset)" "ok $want records" \
    "--shard twice: exact, in order"
run krs -v -s four --stats-file "$T/stats.prom"
like "$err" "info: shardId-000000000002: " "-v: progress per shard"
like "$err" "500 records written" "-v: the count"
is "$(awk '/^kl_read_shard_records_total/ { n += $2 } END { print n }' "$T/stats.prom")" 500 \
    "--stats-file: records per shard add up"
like "$(cat "$T/stats.prom")" '# TYPE kl_read_shard_throttles_total counter' \
    "--stats-file: Prometheus text format"

run krs -s nosuch
is "$rc" 1 "unknown stream: exit 1"
like "$err" "fatal: cannot read stream 'nosuch': " "unknown stream: named"
like "$err" "ResourceNotFoundException" "unknown stream: the service's code"
run krs -s four --shard shardId-000000000009
is "$rc" 1 "unknown shard: exit 1"
like "$err" "shard 'shardId-000000000009' not found in stream 'four'" \
    "unknown shard: named"
run krs -s four --from at-sequence=1 --shard shardId-000000000000
is "$rc" 1 "at-sequence not of the shard: exit 1"
krs -s four >/dev/full 2>"$T/err"
is "$?" 1 ">/dev/full: exit 1"
like "$(cat "$T/err")" "No space left on device" ">/dev/full: said"
(krs -s four 2>"$T/err"; echo $? >"$T/rc") | head -n 1 >/dev/null
is "$(cat "$T/rc")" 141 "| head -n1: dies of SIGPIPE"
is "$(cat "$T/err")" "" "| head -n1: nothing on stderr"

# --- Start positions and --until. ----------------------------------------

mk pos 4
put pos seq 40 "$T/pos-a.ex"
sleep 1.2
MID=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
sleep 0.3
put pos seq 40 "$T/pos-b.ex" 40
cat "$T/pos-a.ex" "$T/pos-b.ex" >"$T/pos.ex"
run krs -s pos --from trim-horizon
is "$($RS check "$T/pos.ex" "$T/out")" "ok 80 records" "--from trim-horizon: all"
run krs -s pos --from "at-timestamp=$MID"
is "$($RS check "$T/pos-b.ex" "$T/out")" "ok 40 records" \
    "--from at-timestamp: exactly the records that came later"
run krs -s pos --until "$MID"
is "$($RS check "$T/pos-a.ex" "$T/out")" "ok 40 records" \
    "--until: exactly the records that came before"
# The 3rd record of shard 0, and the records of shard 0 from it on.
$PY - "$T/pos.ex" "$T" <<'EOF'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
s0 = [r for r in recs if r['shard'] == 'shardId-000000000000']
open(sys.argv[2] + '/seq', 'w').write(s0[2]['seq'])
with open(sys.argv[2] + '/at.ex', 'w') as f:
    f.writelines(json.dumps(r) + '\n' for r in s0[2:])
with open(sys.argv[2] + '/after.ex', 'w') as f:
    f.writelines(json.dumps(r) + '\n' for r in s0[3:])
EOF
SEQ=$(cat "$T/seq")
n=$(lines "$T/at.ex")
run krs -s pos --shard shardId-000000000000 --from "at-sequence=$SEQ"
is "$($RS check "$T/at.ex" "$T/out")" "ok $n records" "--from at-sequence: from it"
run krs -s pos --shard shardId-000000000000 --from "after-sequence=$SEQ"
is "$($RS check "$T/after.ex" "$T/out")" "ok $((n - 1)) records" \
    "--from after-sequence: after it"
rm -f "$T/fifo"
mkfifo "$T/fifo"
cat <"$T/fifo" >"$T/latest.out" &
cpid=$!
krs_bg -f -s pos --from latest >"$T/fifo" 2>"$T/latest.err"
pid=$!
sleep 1.5
put pos seq 20 "$T/pos-c.ex" 80
wait_for_lines() {
	i=0
	while [ "$(lines "$1")" -lt "$2" ] && [ $i -lt 200 ]; do
		i=$((i + 1))
		sleep 0.05
	done
}
wait_for_lines "$T/latest.out" 20
kill -TERM "$pid"
wait "$pid"
is "$?" 143 "--from latest -f: SIGTERM, dies of it"
wait "$cpid"
is "$($RS check "$T/pos-c.ex" "$T/latest.out")" "ok 20 records" \
    "--from latest -f: exactly the records put after the start"

# --- Checkpoints. --------------------------------------------------------

run krs -s pos --checkpoint "$T/ck.json" --commit
cat "$T/pos-c.ex" >>"$T/pos.ex"
is "$($RS check "$T/pos.ex" "$T/out")" "ok 100 records" "--commit: all records"
like "$(cat "$T/ck.json")" '"shardId-000000000003":{"sequence_number":"' \
    "--commit: positions in the checkpoint"
run krs -s pos --checkpoint "$T/ck.json" --commit
is "$rc:$(lines "$T/out")" "0:0" "again from the checkpoint: nothing"
put pos seq 20 "$T/pos-d.ex" 100
run krs -s pos --checkpoint "$T/ck.json"
is "$($RS check "$T/pos-d.ex" "$T/out")" "ok 20 records" \
    "more records: exactly those"
run krs -s pos --checkpoint "$T/ck.json"
is "$(lines "$T/out")" 20 "without --commit the checkpoint stays put"

# stop_midway SIGNAL CKPT OUT: kl-read-shard -f into a slow reader,
# stopped by SIGNAL once 300 lines are through.
mk big 2
put big seq 1000 "$T/big.ex"
slow='import sys, time
for l in sys.stdin:
    sys.stdout.write(l); sys.stdout.flush(); time.sleep(0.0003)'
stop_midway() {
	rm -f "$T/fifo"
	mkfifo "$T/fifo"
	$PY -c "$slow" <"$T/fifo" >"$3" &
	spid=$!
	krs_bg -f -s big --checkpoint "$2" --commit >"$T/fifo" 2>"$T/stop.err"
	kpid=$!
	wait_for_lines "$3" 300
	kill "-$1" "$kpid"
	wait "$kpid"
	krc=$?
	wait "$spid"
}
stop_midway TERM "$T/ck-term.json" "$T/term1"
is "$krc" 143 "SIGTERM mid-stream: dies of it"
n1=$(lines "$T/term1")
ok $(( n1 >= 300 && n1 < 1000 ? 0 : 1 )) "SIGTERM mid-stream: stopped midway ($n1)"
krs -s big --checkpoint "$T/ck-term.json" --commit >"$T/term2"
cat "$T/term1" "$T/term2" >"$T/term"
is "$($RS check "$T/big.ex" "$T/term")" "ok 1000 records" \
    "SIGTERM, then again: nothing skipped, nothing repeated"
stop_midway KILL "$T/ck-kill.json" "$T/kill1"
is "$krc" 137 "SIGKILL mid-stream"
krs -s big --checkpoint "$T/ck-kill.json" --commit >"$T/kill2"
cat "$T/kill1" "$T/kill2" >"$T/kill"
like "$($RS check "$T/big.ex" "$T/kill" --dups)" "ok " \
    "SIGKILL, then again: nothing skipped"

# A checkpoint position that aged out: a stream deleted and made again.
mk aged 1
put aged seq 1 "$T/aged-old.ex"
old=$($PY -c 'import json, sys; print(json.load(sys.stdin)["seq"])' <"$T/aged-old.ex")
with_keys kl-stream --endpoint-url "$EP" delete aged >/dev/null
sleep 1.1
mk aged 1
put aged seq 3 "$T/aged.ex"
printf '{"version":1,"stream":"aged","shards":{"shardId-000000000000":{"sequence_number":"%s"}}}\n' \
    "$old" >"$T/ck-aged.json"
run krs -s aged --checkpoint "$T/ck-aged.json"
is "$rc" 0 "checkpoint aged out: exit 0"
is "$($RS check "$T/aged.ex" "$T/out")" "ok 3 records" \
    "checkpoint aged out: read from the trim horizon"
like "$err" "warning: shardId-000000000000: position $old is no longer in the stream" \
    "checkpoint aged out: a warning"
like "$err" "gap in the data: records after $old and before " \
    "checkpoint aged out: the gap named"

# --- KPL aggregates: one stream, a shard for each aggregate. -------------

FIX=${KL_SHARED:-}/testdata/kpl
if have_node_peer aws-kinesis-agg &&
    node "$srcdir/tests/peers/kpl-make.js" small "$T/kpl" >/dev/null 2>&1; then
	$PY -c 'import sys; b = bytearray(open(sys.argv[1], "rb").read()); b[100] ^= 1
open(sys.argv[2], "wb").write(b)' "$T/kpl/agg-mixed-0.bin" "$T/corrupt.bin"
	set -- "$T/kpl/agg-mixed-0.bin" "$T/corrupt.bin"
	[ -n "${KL_SHARED:-}" ] && [ -f "$FIX/agg-0.bin" ] &&
	    set -- "$@" "$FIX/agg-0.bin"
	mk kpl $#
	$RS putfiles "$EP" kpl $# "$@" || bail "cannot put the aggregates"
	run krs -s kpl --shard shardId-000000000000
	is "$rc:$err" "0:" "KPL aggregate: exit 0, silent"
	is "$($RS kpl "$T/out" "$T/kpl/mixed.json")" "ok 60 user records" \
	    "KPL aggregate: user records, keys, hash keys, payloads"
	run krs -s kpl --shard shardId-000000000000 \
	    --checkpoint "$T/ck-kpl.json" --commit --limit 25
	like "$(cat "$T/ck-kpl.json")" '"sub_sequence_number":24' \
	    "--limit inside an aggregate: sub-sequence number in the checkpoint"
	run krs -s kpl --shard shardId-000000000000 \
	    --checkpoint "$T/ck-kpl.json" --commit
	is "$($RS kpl "$T/out" "$T/kpl/mixed.json" 25)" "ok 35 user records" \
	    "resumed inside the aggregate: neither skipped nor repeated"
	run krs -s kpl --shard shardId-000000000000 --checkpoint "$T/ck-kpl.json"
	is "$(lines "$T/out")" 0 "the aggregate done: nothing more"
	run krs -s kpl --shard shardId-000000000001
	is "$rc:$(lines "$T/out")" "0:1" "corrupt aggregate: one record"
	is "$($PY -c 'import json, sys, base64
r = json.loads(open(sys.argv[1]).readline())
print(base64.b64decode(r["data_base64"]) == open(sys.argv[2], "rb").read())' \
	    "$T/out" "$T/corrupt.bin")" True "corrupt aggregate: passed through whole"
	like "$err" "warning: shardId-000000000001: record " \
	    "corrupt aggregate: a warning"
	like "$err" "corrupt KPL aggregate (MD5 mismatch)" \
	    "corrupt aggregate: the reason"
	if [ $# -eq 3 ]; then
		run krs -s kpl --shard shardId-000000000002
		is "$($RS kpl "$T/out" "$FIX/expected.json")" \
		    "ok 100 user records" "the shared KPL fixture: 100 user records"
		printf '{"version":1,"stream":"kpl","shards":{"shardId-000000000002":{"sequence_number":"%s","sub_sequence_number":41}}}\n' \
		    "$($PY -c 'import json,sys; print(json.loads(sys.stdin.readline())["sequence_number"])' <"$T/out")" \
		    >"$T/ck-fix.json"
		run krs -s kpl --shard shardId-000000000002 \
		    --checkpoint "$T/ck-fix.json"
		is "$($RS kpl "$T/out" "$FIX/expected.json" 42)" \
		    "ok 58 user records" "a checkpoint at sub-sequence 41: from 42 on"
	else
		skip 2 "the shared KPL fixture is not there"
	fi
else
	skip 11 "node or aws-kinesis-agg not available"
fi

done_testing
