#!/bin/sh
# kl-read-shard-reshard.t - kl-read-shard through resharding: every record
# once, and per partition key in the order it was put, parents before
# children.  kinesis-local has UpdateShardCount and sends ChildShards at
# a parent's end; kinesalite splits and merges but sends no ChildShards,
# so there the shard list must be read again.  Each peer is read while
# the stream is resharded (--follow) and after it (drain).  Records are
# put by the AWS CLI (tests/read-shard.py).
. "$srcdir/tests/tap.sh"

RS="$PY $srcdir/tests/read-shard.py"
lines() { if [ -s "$1" ]; then wc -l <"$1" | tr -d ' '; else echo 0; fi; }
wait_for_lines() {
	i=0
	while [ "$(lines "$1")" -lt "$2" ] && [ $i -lt "${3:-400}" ]; do
		i=$((i + 1))
		sleep 0.05
	done
}

if [ ! -x "$AWSCLI" ] || ! have_node_peer kinesalite; then
	skip 1 "kinesalite, node or the AWS CLI not available"
	done_testing
	exit 0
fi

krs() { with_keys kl-read-shard --endpoint-url "$EP" "$@"; }
# follow_start OUT: kl-read-shard -f, its output through a pipe into OUT.
follow_start() {
	rm -f "$T/fifo"
	mkfifo "$T/fifo"
	cat <"$T/fifo" >"$1" &
	cpid=$!
	shift
	(AWS_ACCESS_KEY_ID=$TEST_AKID AWS_SECRET_ACCESS_KEY=$TEST_SECRET \
	    AWS_REGION=us-east-1; export AWS_ACCESS_KEY_ID \
	    AWS_SECRET_ACCESS_KEY AWS_REGION
	exec kl-read-shard --endpoint-url "$EP" -fv --poll-interval 200 \
	    --max-rate 5 "$@") >"$T/fifo" 2>"$T/follow.err" &
	fpid=$!
	tap_pids="$tap_pids $fpid $cpid"
}
follow_stop() {
	kill -TERM "$fpid"
	wait "$fpid"
	frc=$?
	wait "$cpid"
}
mk() { with_keys kl-stream --endpoint-url "$EP" --shards "$2" create "$1" \
    >/dev/null || bail "cannot create stream $1"; }
put() { $RS put "$EP" "$@" || bail "put-records failed"; }

# --- kinesalite: SplitShard and MergeShards, no ChildShards. -------------

start_kinesalite || bail "kinesalite did not start"
EP=$KINESIS_URL
mk rs 2
follow_start "$T/lite-follow" -s rs
put rs seq 120 "$T/rs.ex" 0
# Split shard 0 [0, 2^127) at 2^126, then merge its upper half (shard 3)
# with shard 1 [2^127, 2^128).
aws --endpoint-url "$EP" kinesis split-shard --stream-name rs \
    --shard-to-split shardId-000000000000 \
    --new-starting-hash-key 85070591730234615865843651857942052864
sleep 0.3
put rs seq 120 "$T/rs.ex" 120
aws --endpoint-url "$EP" kinesis merge-shards --stream-name rs \
    --shard-to-merge shardId-000000000003 \
    --adjacent-shard-to-merge shardId-000000000001
sleep 0.3
put rs seq 120 "$T/rs.ex" 240
run krs -s rs
is "$rc" 0 "kinesalite, after a split and a merge: exit 0"
is "$($RS check "$T/rs.ex" "$T/out")" "ok 360 records" \
    "kinesalite, after: every record once"
is "$($RS order "$T/out")" "keys 16 records 360" \
    "kinesalite, after: per key in put order, parents first"
like "$(with_keys kl-stream --endpoint-url "$EP" shards rs)" \
    '"shard_id":"shardId-000000000004","parent_shard_id":"shardId-000000000003","adjacent_parent_shard_id":"shardId-000000000001"' \
    "kinesalite: the merge child has both parents"
wait_for_lines "$T/lite-follow" 360
follow_stop
is "$frc" 143 "kinesalite, during (-f): stopped by SIGTERM"
is "$($RS check "$T/rs.ex" "$T/lite-follow")" "ok 360 records" \
    "kinesalite, during: every record once"
is "$($RS order "$T/lite-follow")" "keys 16 records 360" \
    "kinesalite, during: per key in put order, parents first"
unlike "$(cat "$T/follow.err")" "warning:" "kinesalite, during: no warnings"

# A checkpoint taken before the reshard: parents finish, then children.
mk rs2 2
put rs2 seq 60 "$T/rs2.ex" 0
run krs -s rs2 --checkpoint "$T/ck.json" --commit
is "$(lines "$T/out")" 60 "checkpoint before the reshard: 60 records"
aws --endpoint-url "$EP" kinesis split-shard --stream-name rs2 \
    --shard-to-split shardId-000000000001 \
    --new-starting-hash-key 255211775190703847597530955573826158592
sleep 0.3
put rs2 seq 60 "$T/rs2.ex" 60
run krs -s rs2 --checkpoint "$T/ck.json" --commit
cat "$T/out" >>"$T/rs2.out"
run krs -s rs2 --checkpoint "$T/ck.json" --commit
is "$(lines "$T/out")" 0 "after the reshard, from the checkpoint: nothing more"
krs -s rs2 >"$T/rs2.all"
is "$($RS check "$T/rs2.ex" "$T/rs2.all")" "ok 120 records" \
    "checkpoint and reshard: the stream as put"
like "$(cat "$T/ck.json")" '"shardId-000000000001":{"sequence_number":"' \
    "checkpoint: the parent's position"
like "$(cat "$T/ck.json")" '"closed":true' "checkpoint: the parent closed"
stop "$KINESALITE_PID"

# --- kinesis-local: UpdateShardCount, MergeShards, ChildShards. ----------

if ! start_kinesis_local; then
	skip 8 "kinesis-local not available"
	done_testing
	exit 0
fi
EP=$KLOCAL_URL
mk up 2
follow_start "$T/local-follow" -s up --checkpoint "$T/ck-up.json" --commit
put up seq 60 "$T/up.ex" 0
aws --endpoint-url "$EP" kinesis update-shard-count --stream-name up \
    --target-shard-count 4 --scaling-type UNIFORM_SCALING >/dev/null
sleep 0.5
put up seq 60 "$T/up.ex" 60
# Merge the two lowest open shards (adjacent by hash key).
with_keys kl-stream --endpoint-url "$EP" shards up >"$T/shards"
set -- $($PY -c 'import json, sys
s = [json.loads(l) for l in open(sys.argv[1])]
s = sorted((int(x["starting_hash_key"]), x["shard_id"]) for x in s
           if "ending_sequence_number" not in x)
print(s[0][1], s[1][1])' "$T/shards")
aws --endpoint-url "$EP" kinesis merge-shards --stream-name up \
    --shard-to-merge "$1" --adjacent-shard-to-merge "$2" >/dev/null
sleep 0.5
put up seq 60 "$T/up.ex" 120
run env KL_TEST_LIST_PAGE=2 AWS_ACCESS_KEY_ID=$TEST_AKID \
    AWS_SECRET_ACCESS_KEY=$TEST_SECRET AWS_REGION=us-east-1 \
    kl-read-shard --endpoint-url "$EP" -s up
is "$rc" 0 "kinesis-local, after 2 -> 4 and a merge: exit 0"
is "$($RS check "$T/up.ex" "$T/out")" "ok 180 records" \
    "kinesis-local, after (ListShards 2 a page): every record once"
is "$($RS order "$T/out")" "keys 16 records 180" \
    "kinesis-local, after: per key in put order, parents first"
wait_for_lines "$T/local-follow" 180 600
follow_stop
is "$frc" 143 "kinesis-local, during (-f): stopped by SIGTERM"
is "$($RS check "$T/up.ex" "$T/local-follow")" "ok 180 records" \
    "kinesis-local, during: every record once"
is "$($RS order "$T/local-follow")" "keys 16 records 180" \
    "kinesis-local, during: per key in put order, parents first"
like "$(cat "$T/follow.err")" "child shard" \
    "kinesis-local, during: children learnt from ChildShards"
run krs -s up --checkpoint "$T/ck-up.json"
is "$rc:$(lines "$T/out")" "0:0" \
    "kinesis-local: the -f run's checkpoint covers everything"

done_testing
