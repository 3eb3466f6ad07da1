#!/bin/sh
# kl-read-shard-faults.t - kl-read-shard through tests/fakes/kinesis-front.py
# in front of kinesalite: the front checks every signature and injects
# seeded faults (throttling, ExpiredIteratorException, HTTP 500 and 503,
# dropped connections, slow replies, a stream deleted mid-run).  Whatever
# happens, the output holds every record exactly once, in shard order,
# or the run ends with the right status.
. "$srcdir/tests/tap.sh"

RS="$PY $srcdir/tests/read-shard.py"
lines() { if [ -s "$1" ]; then wc -l <"$1" | tr -d ' '; else echo 0; fi; }

if [ ! -x "$AWSCLI" ] || ! $PY -c 'import botocore' 2>/dev/null ||
    ! start_kinesalite; then
	skip 1 "kinesalite, node, botocore or the AWS CLI not available"
	done_testing
	exit 0
fi
with_keys kl-stream --endpoint-url "$KINESIS_URL" --shards 4 create f \
    >/dev/null || bail "cannot create the stream"
$RS put "$KINESIS_URL" f seq 500 "$T/f.ex" || bail "put-records failed"
printf '{"%s": {"secret": "%s"}}\n' "$TEST_AKID" "$TEST_SECRET" >"$T/keys.json"
start_fake kinesis-front.py --upstream "$KINESIS_URL" --keys "$T/keys.json" \
    --log "$T/front.log" --seed 7 --call-throttle 0.15 --http500 0.05 \
    --http503 0.05 --expired-iterator 0.15 --drop 0.05 \
    --fault-ops GetRecords,GetShardIterator,ListShards ||
    bail "kinesis-front did not start"
EP=$FAKE_URL
krs() { with_keys kl-read-shard --endpoint-url "$EP" "$@"; }
config() {
	curl -s -X POST -d "$1" "$EP/_front/config" >/dev/null
}
stats() { curl -s "$EP/_front/stats"; }

# Seeded random faults on every call, and to be sure of each kind, a
# queue of them for the first GetRecords calls.
config '{"next":["throttle","expired-iterator","throttle","http500","http503","drop","throttle","ok","throttle"],"fault_ops":["GetRecords"]}'
run krs -s f --max-rate 20 --stats-file "$T/stats.prom"
is "$rc" 0 "faults: exit 0"
is "$($RS check "$T/f.ex" "$T/out")" "ok 500 records" \
    "faults: every record once, in shard order"
s=$(stats)
for f in throttle http500 http503 expired-iterator drop; do
	like "$s" "\"$f\"" "faults: the front injected $f"
done
like "$err" "ProvisionedThroughputExceededException, retry 1 of 10 in " \
    "faults: throttling is retried, with a warning"
like "$err" "HTTP 503 ServiceUnavailable, retry" "faults: 503 is retried"
ok $(awk '/^kl_read_shard_throttles_total/ { n += $2 } END { exit !(n > 0) }' \
    "$T/stats.prom"; echo $?) "faults: throttles counted in --stats-file"
unlike "$(cat "$T/front.log")" '"status": 403' "faults: every request signed right"

# Expired iterators mid-stream, with a checkpoint to resume from.
config '{"call_throttle":0,"http500":0,"http503":0,"drop":0,"expired_iterator":0.4}'
run krs -s f --max-rate 20 --checkpoint "$T/ck.json" --commit --limit 300
is "$(lines "$T/out")" 300 "expired iterators, --limit 300: 300 records"
cp "$T/out" "$T/part1"
run krs -s f --max-rate 20 --checkpoint "$T/ck.json" --commit
cat "$T/part1" "$T/out" >"$T/both"
is "$($RS check "$T/f.ex" "$T/both")" "ok 500 records" \
    "expired iterators, resumed: nothing skipped or repeated"

# Slow replies.
config '{"expired_iterator":0,"latency_ms":300}'
run krs -s f
is "$rc" 0 "slow replies: exit 0"
is "$($RS check "$T/f.ex" "$T/out")" "ok 500 records" \
    "slow replies: every record once"

# The stream deleted under the reader.
config '{"latency_ms":0,"delete_after":3}'
run krs -s f
is "$rc" 1 "stream deleted: exit 1"
like "$err" "fatal: cannot read stream 'f': " "stream deleted: the stream named"
like "$err" "ResourceNotFoundException" "stream deleted: the service's code"
config '{"stream_deleted":false,"delete_after":null}'

# Throttled and failing without end: exit 75 after 10 retries.  The
# queued faults hit ListShards, the first call.
config '{"next":["http503","http503","http503","http503","http503","http503","http503","http503","http503","http503","http503"],"fault_ops":["ListShards"]}'
run krs -s f
is "$rc" 75 "503 eleven times: exit 75"
like "$err" "(gave up after 10 retries)" "503 eleven times: said"
config '{"next":["throttle","throttle","ok"],"fault_ops":["GetRecords"]}'
run krs -s f
is "$rc:$(lines "$T/out")" "0:500" "throttled twice, then through: all records"

done_testing
