#!/bin/sh
# kl-trigger-put.t - kl-trigger-put into kinesalite, read back with the AWS
# CLI on every shard: records exactly once, data byte for byte, partition
# keys and their fallbacks and cuts, --fields, arrays, bad input and
# rejects; through tests/fakes/kinesis-front.py: per-record and whole-call
# failures with the order per key kept, retries running out (75) and a
# stream deleted mid-run (1, rejects, replay); the shell contract (usage,
# /dev/full, head, signals, secrets); and, when kl-read-audience is
# built, the export job end to end against the Lytics stand-in.
. "$srcdir/tests/tap.sh"

lines() { if [ -s "$1" ]; then wc -l <"$1" | tr -d ' '; else echo 0; fi; }

# --- The command line: nothing is read or sent. -------------------------

run kl-trigger-put --help
is "$rc" 0 "--help: exit 0"
like "$out" "usage: kl-trigger-put [-hVv]" "--help: usage on stdout"
is "$err" "" "--help: nothing on stderr"
run kl-trigger-put -V
like "$out" "kl-trigger-put (kl) " "-V: the version"
run kl-trigger-put --frobnicate -s s
is "$rc" 2 "unknown option: exit 2"
like "$err" "usage: kl-trigger-put [-hVv]" "unknown option: usage on stderr"
run with_keys kl-trigger-put </dev/null
is "$rc" 2 "no --stream: exit 2"
like "$err" "--stream is required" "no --stream: said"
run with_keys kl-trigger-put -s 'bad name!' </dev/null
is "$rc" 2 "invalid stream name: exit 2"
like "$err" "invalid stream name 'bad name!'" "invalid stream name: named"
for a in "--batch-size 0" "--batch-size 501" "--batch-bytes 0" \
    "--batch-bytes 10485761" "--max-in-flight 0" "--max-retries x" \
    "--linger soon" "--fields a,,b" "--partition-key ''" \
    "--partition-key '.a |'"; do
	eval "run with_keys kl-trigger-put -s s $a" </dev/null
	is "$rc" 2 "$a: exit 2"
done
like "$err" "--partition-key is neither a field name nor a jq program" \
    "a partition key that does not compile: said"
run env AWS_ACCESS_KEY_ID=$TEST_AKID AWS_SECRET_ACCESS_KEY=$TEST_SECRET \
    kl-trigger-put --endpoint-url http://127.0.0.1:1 -s s </dev/null
is "$rc" 2 "no region: exit 2"

# --- Exact reply sequences: tests/fakes/stub.py. -------------------------

# stub NAME REPLY...: a stub serving these replies in order; requests go
# to $T/NAME.log.  calls NAME: one line per request, the operation and
# the partition keys of its records.
stub() {
	name=$1
	shift
	printf '%s\n' "$@" >"$T/$name.replies"
	: >"$T/$name.log"
	start_fake stub.py --replies "$T/$name.replies" --log "$T/$name.log" ||
	    bail "the stub did not start"
}
calls() {
	$PY -c '
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    op = r["headers"].get("x-amz-target", "").split(".")[-1]
    b = json.loads(r["body"])
    print(op, " ".join(x["PartitionKey"] for x in b.get("Records", [])))' \
	    "$T/$1.log"
}
DESC='{"status":200,"json":{"StreamDescriptionSummary":{"StreamName":"s","StreamStatus":"ACTIVE"}}}'
ok1() {	# ok1 SEQ...: a PutRecords reply, one success per argument
	printf '{"status":200,"json":{"FailedRecordCount":0,"Records":['
	sep=
	for q in "$@"; do
		printf '%s{"SequenceNumber":"%s","ShardId":"shardId-000000000000"}' \
		    "$sep" "$q"
		sep=,
	done
	printf ']}}'
}
printf '%s\n' '{"data":{"k":"a","i":1}}' '{"data":{"k":"b","i":2}}' \
    '{"data":{"k":"c","i":3}}' >"$T/abc.ndjson"
stub retry "$DESC" \
    '{"status":200,"json":{"FailedRecordCount":1,"Records":[{"SequenceNumber":"1","ShardId":"shardId-000000000000"},{"ErrorCode":"ProvisionedThroughputExceededException","ErrorMessage":"Rate exceeded for shard"},{"SequenceNumber":"3","ShardId":"shardId-000000000000"}]}}' \
    '{"status":500,"json":{"__type":"InternalFailure","message":"boom"}}' \
    "$(ok1 2)"
run with_keys kl-trigger-put --endpoint-url "$FAKE_URL" -s s \
    --partition-key k "$T/abc.ndjson"
is "$rc" 0 "a failed entry, then a 500: exit 0"
is "$(calls retry | tr '\n' ';')" \
    "DescribeStreamSummary ;PutRecords a b c;PutRecords b;PutRecords b;" \
    "only the failed entry is sent again, also after a 500"
is "$(jq -r '.partition_key + .sequence_number' "$T/out" | tr '\n' ' ')" \
    "a1 c3 b2 " "acknowledgements in completion order, each its own"
like "$err" "warning: HTTP 500 InternalFailure, retry 2 of 10 in " \
    "a whole call that fails is a warning"
stop "$FAKE_PID"

printf '%s\n' '{"data":{"k":"a","i":1}}' '{"data":{"k":"a","i":2}}' \
    '{"data":{"k":"b","i":3}}' '{"data":{"k":"a","i":4}}' >"$T/aab.ndjson"
stub hot "$DESC" "$(ok1 1 3)" "$(ok1 2)" "$(ok1 4)"
run with_keys kl-trigger-put --endpoint-url "$FAKE_URL" -s s \
    --partition-key k "$T/aab.ndjson"
is "$rc:$(calls hot | tr '\n' ';')" \
    "0:DescribeStreamSummary ;PutRecords a b;PutRecords a;PutRecords a;" \
    "a record waits while an earlier one of its key is unacknowledged"
is "$(jq -c '[.line, .sequence_number]' "$T/out" | tr '\n' ' ')" \
    '[1,"1"] [3,"3"] [2,"2"] [4,"4"] ' "per key, acknowledgements in input order"
stop "$FAKE_PID"

stub refuse "$DESC" '{"status":200,"json":{"FailedRecordCount":1,"Records":[{"SequenceNumber":"1","ShardId":"shardId-000000000000"},{"ErrorCode":"InvalidArgumentException","ErrorMessage":"no good"},{"SequenceNumber":"3","ShardId":"shardId-000000000000"}]}}'
run with_keys kl-trigger-put --endpoint-url "$FAKE_URL" -s s \
    --partition-key k --rejects "$T/refuse.rej" "$T/abc.ndjson"
is "$rc:$(lines "$T/out"):$(lines "$T/refuse.log")" "3:2:2" \
    "an entry refused for good: rejected alone, not retried, exit 3"
is "$(jq -c '[.error.code, .record.data.k]' "$T/refuse.rej")" \
    '["InvalidArgumentException","b"]' "the refused entry in --rejects"
stop "$FAKE_PID"

stub large "$DESC" '{"status":413,"body":""}' "$(ok1 1)" "$(ok1 2)" "$(ok1 3)"
# One request in flight, so that the stub sees the smaller requests in
# input order (a, b and c have different keys and may otherwise race).
run with_keys kl-trigger-put --endpoint-url "$FAKE_URL" -s s \
    --max-in-flight 1 --partition-key k "$T/abc.ndjson"
is "$rc:$(calls large | tr '\n' ';')" \
    "0:DescribeStreamSummary ;PutRecords a b c;PutRecords a;PutRecords b;PutRecords c;" \
    "HTTP 413: smaller requests, the records sent again"
like "$err" "HTTP 413: a request of 3 records and 75 bytes is too large; sending at most 37 bytes per request" \
    "HTTP 413: said"
stop "$FAKE_PID"

$PY -c 'import json; print(json.dumps({"data": {"k": "big", "blob": "z" * (3 << 20)}}))' >"$T/3m.ndjson"
stub roomy '{"status":200,"json":{"StreamDescriptionSummary":{"StreamName":"s","MaxRecordSizeInKiB":4096}}}' "$(ok1 9)"
run with_keys kl-trigger-put --endpoint-url "$FAKE_URL" -s s \
    --partition-key k "$T/3m.ndjson"
is "$rc:$(calls roomy | tail -n 1)" "0:PutRecords big" \
    "a stream of 4 MiB records (MaxRecordSizeInKiB) takes a 3 MiB record"
stop "$FAKE_PID"

if ! start_kinesalite; then
	skip 1 "kinesalite is not installed"
	done_testing
	exit 0
fi
EP="--endpoint-url $KINESIS_URL"
K="--endpoint-url $KINESIS_URL"

mkstream() {	# mkstream NAME SHARDS
	aws $EP kinesis create-stream --stream-name "$1" --shard-count "$2"
}
# readback STREAM FILE: every record of every shard as a line
# {"shard","seq","pk","data"} (data: the payload's text), via the AWS CLI.
readback() {
	: >"$2"
	for sh in $(aws $EP kinesis list-shards --stream-name "$1" \
	    --query 'Shards[].ShardId' --output text); do
		it=$(aws $EP kinesis get-shard-iterator --stream-name "$1" \
		    --shard-id "$sh" --shard-iterator-type TRIM_HORIZON \
		    --query ShardIterator --output text)
		i=0
		while [ $i -lt 20 ]; do
			aws $EP kinesis get-records --shard-iterator "$it" \
			    --limit 10000 >"$T/gr.json" || break
			jq -c --arg sh "$sh" '.Records[] | {shard: $sh,
			    seq: .SequenceNumber, pk: .PartitionKey,
			    data: (.Data | @base64d)}' "$T/gr.json" >>"$2"
			[ "$(jq '.Records | length' "$T/gr.json")" -gt 0 ] ||
			    break
			it=$(jq -r .NextShardIterator "$T/gr.json")
			i=$((i + 1))
		done
	done
}
sorted_data() { jq -r .data "$1" | sort; }

# --- Into kinesalite: data, keys, arrays, --fields. ----------------------

mkstream main 2 || bail "cannot create a stream in kinesalite"
$PY - "$T/in.ndjson" <<'EOF'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(300):
        f.write(json.dumps({"id": str(15761203643149024539 + i),
            "data": {"email": "u%d@example.com" % i, "_uid": "u-%d" % i,
                     "segment_events": [{"id": "efdcc4da20554be02e90c563f69bc0ec",
                         "slug": "high_value", "event": "enter",
                         "enter": "2026-11-29T16:46:34Z"}]},
            "meta": {"object": "user"}}, separators=(",", ":")) + "\n")
EOF
cat >>"$T/in.ndjson" <<'EOF'
{ "data" : { "email" : "big@example.com" , "n" : 123456789012345678901234567890.50e-3 , "m" : -0.0 , "a" : [ 1 , 2 ] } }
[{"data":{"email":"arr0@example.com"}},{"data":{"email":"arr1@example.com"}}]
{"data":{"email":"","_uid":"fb-uid"}}
{"data":{"other":1,"_uids":["fb-uids0","x"]}}
{"data":{"email":{"not":"scalar"}},"id":"fb-id"}
{"data":{"nothing":true}}
EOF
$PY -c 'import json; print(json.dumps({"data": {"email": "\u00c9" * 300}}, ensure_ascii=False)); print(json.dumps({"data": {"email": "\U0001f600" * 200}}, ensure_ascii=False))' >>"$T/in.ndjson"
run with_keys kl-trigger-put $K -s main --partition-key email -v "$T/in.ndjson"
is "$rc" 0 "309 records: exit 0"
is "$(lines "$T/out")" 309 "one acknowledgement per record"
like "$err" "no usable 'email': the partition key falls back to _uid, _uids[0], id or the record's MD5 (said once)" \
    "-v: the fallback is said"
is "$(grep -c 'falls back' "$T/err")" 1 "-v: the fallback is said once"
cp "$T/out" "$T/acks"
is "$(jq -c 'keys_unsorted' "$T/acks" | sort -u | tr '\n' ' ')" \
    '["line","input","index","partition_key","shard_id","sequence_number"] ["line","input","partition_key","shard_id","sequence_number"] ' \
    "acknowledgements: line, input, index for array elements, key, shard, sequence"
is "$(jq -r .line "$T/acks" | sort -n | uniq | tr '\n' ' ' | cut -c1-20)" \
    "1 2 3 4 5 6 7 8 9 10" "acknowledgements name the input lines"
readback main "$T/main.rb"
is "$(lines "$T/main.rb")" 309 "kinesalite holds 309 records"
is "$(jq -r '.shard' "$T/main.rb" | sort -u | wc -l | tr -d ' ')" 2 \
    "records on both shards"
$PY -c '
import json, sys
def minify(s):	# whitespace out, every other byte kept
    out, q, esc = [], False, False
    for c in s:
        if q:
            out.append(c)
            q = not (c == "\"" and not esc)
            esc = c == "\\" and not esc
        elif c not in " \t\r\n":
            out.append(c)
            q = c == "\""
    return "".join(out)
for l in open(sys.argv[1], encoding="utf-8"):
    l = minify(l)
    if l.startswith("["):
        for e in json.loads(l):
            print(json.dumps(e, separators=(",", ":"), ensure_ascii=False))
    else:
        print(l)' "$T/in.ndjson" | sort >"$T/want.data"
is "$(sorted_data "$T/main.rb")" "$(cat "$T/want.data")" \
    "every record exactly once, data minified byte for byte"
like "$(cat "$T/main.rb")" '123456789012345678901234567890.50e-3,\"m\":-0.0,\"a\":[1,2]' \
    "numbers keep every digit"
is "$(jq -r 'select(.data | startswith("{\"id\"")) | [.pk, (.data | fromjson | .data.email)] | select(.[0] != .[1]) | .[0]' "$T/main.rb")" "" \
    "partition keys are the emails"
pk_of() {	# pk_of TEXT: the key of the record whose data contains TEXT
	jq -r --arg t "$1" 'select(.data | contains($t)) | .pk' "$T/main.rb"
}
is "$(pk_of arr1@)" "arr1@example.com" "an array line: one record per element"
is "$(pk_of fb-uid\")" "fb-uid" "empty key: _uid"
is "$(pk_of fb-uids0)" "fb-uids0" "no key: the first of _uids"
is "$(pk_of fb-id)" "fb-id" "a key that is not a scalar: id"
is "$(pk_of nothing)" "$(printf '%s' '{"data":{"nothing":true}}' | md5sum | cut -c1-32)" \
    "no key at all: the MD5 of the record"
e300=$(pk_of ÉÉÉ)
is "$(printf '%s' "$e300" | wc -c | tr -d ' '):$(printf '%s' "$e300" | $PY -c 'import sys; print(len(sys.stdin.read()))')" \
    "512:256" "a 300-character key: cut to 256 characters, not bytes"
emo=$(pk_of 😀)
is "$(printf '%s' "$emo" | $PY -c 'import sys; print(len(sys.stdin.read()))')" \
    128 "emoji count two units: cut to 128, as Kinesis counts"
is "$(jq -r 'select(.partition_key | startswith("É")) | .partition_key' "$T/acks")" \
    "$e300" "the acknowledgement carries the cut key"

# --fields, jq programs, file operands.
mkstream other 1
printf '%s\n' '{"id":"9","data":{"email":"f@x","first_name":"F","secret_score":7,"segment_events":[{"event":"enter"}],"last":"L"},"meta":{"object":"user"}}' \
    '{"data":{"Name":"Mixed"}}' >"$T/f.ndjson"
run with_keys kl-trigger-put $K -s other --fields first_name,last \
    --partition-key email "$T/f.ndjson"
is "$rc" 0 "--fields: exit 0"
run with_keys kl-trigger-put $K -s other --partition-key '.Name | ascii_downcase' \
    - <"$T/f.ndjson"
is "$rc" 0 "a jq program as the key: exit 0"
readback other "$T/other.rb"
is "$(jq -r 'select(.pk == "f@x") | .data' "$T/other.rb")" \
    '{"id":"9","data":{"first_name":"F","segment_events":[{"event":"enter"}],"last":"L"},"meta":{"object":"user"}}' \
    "--fields: data cut to the fields and segment_events, the rest kept"
is "$(jq -r .pk "$T/other.rb" | sort | tr '\n' ' ')" \
    "$( (printf '9\nf@x\nmixed\n'; printf '%s' '{"data":{}}' | md5sum |
    cut -c1-32) | sort | tr '\n' ' ')" \
    "keys from a field (before --fields), a jq program, the fallbacks"

# --- Bad input: rejected alone, the rest delivered. ----------------------

mkstream bad 1
$PY - "$T/bad.ndjson" <<'EOF'
import json, sys
with open(sys.argv[1], "w") as f:
    f.write('{"data":{"email":"ok1@x"}}\n')
    f.write(json.dumps({"data": {"email": "huge@x", "blob": "x" * (2 << 20)}}) + "\n")
    f.write('42\n"a string"\nnot json\n[{"data":{"email":"ok2@x"}},7]\n')
    f.write(json.dumps({"data": {"email": "edge@x", "blob": "y" * (1048576 - 60)}}) + "\n")
    f.write('{"data":{"email":"ok3@x"}}\n')
EOF
run with_keys kl-trigger-put $K -s bad --partition-key email \
    --rejects "$T/bad.rej" "$T/bad.ndjson"
is "$rc" 3 "bad input: exit 3"
is "$(lines "$T/out")" 4 "bad input: the good records delivered"
like "$err" "kl-trigger-put: error: $T/bad.ndjson:2: a record of 2097" \
    "a 2 MiB record: FILE:LINE: and why"
like "$err" "$T/bad.ndjson:3: not a JSON object" "a number: not an object"
like "$err" "$T/bad.ndjson:5: not JSON: " "not JSON: said"
like "$err" "$T/bad.ndjson:6: element 1: not a JSON object" \
    "an array element that is no object: named"
is "$(jq -r .error.code "$T/bad.rej" | tr '\n' ' ')" \
    "RecordTooLarge NotAnObject NotAnObject InvalidJSON NotAnObject " \
    "rejects: one line each, with codes"
is "$(jq -c .record "$T/bad.rej" | sed -n '2,5p' | tr '\n' ' ')" \
    '42 "a string" "not json" 7 ' "rejects: the records as they came"
is "$(jq -r '.record.data.email' "$T/bad.rej" | head -n 1)" "huge@x" \
    "rejects: the large record whole"
readback bad "$T/bad.rb"
is "$(jq -r .pk "$T/bad.rb" | sort | tr '\n' ' ')" "edge@x ok1@x ok2@x ok3@x " \
    "bad input: the others in the stream, a record of nearly 1 MiB too"
run with_keys kl-trigger-put $K -s nosuchstream </dev/null
is "$rc" 1 "an unknown stream: exit 1"
like "$err" "cannot describe stream 'nosuchstream'" "an unknown stream: said"

# --- The shell contract. -------------------------------------------------

head -n 20 "$T/in.ndjson" >"$T/20.ndjson"
with_keys kl-trigger-put $K -s other "$T/20.ndjson" >/dev/full 2>"$T/err"
is "$?" 1 ">/dev/full: exit 1"
like "$(cat "$T/err")" "cannot write the standard output" ">/dev/full: said"
# 3,000 acknowledgements (over 400 KiB) cannot all fit in the pipe before
# head exits, so the SIGPIPE is certain however the machine is loaded.
$PY -c 'for i in range(3000): print("{\"_uid\":\"u-%d\",\"n\":%d}" % (i, i))' \
    >"$T/3000.ndjson"
{ with_keys kl-trigger-put $K -s other "$T/3000.ndjson" 2>"$T/err"
    echo $? >"$T/rc"; } | head -n 1 >"$T/out"
is "$(cat "$T/rc")" 141 "| head -n1: dies of SIGPIPE"
is "$(cat "$T/err")" "" "| head -n1: nothing on stderr"
is "$(lines "$T/out")" 1 "| head -n1: one line"
run with_keys env AWS_SESSION_TOKEN=tok-SECRET-session-0123456789 \
    kl-trigger-put -vv $K -s other "$T/20.ndjson"
is "$rc" 0 "-vv: exit 0"
like "$err" "debug: > POST $KINESIS_URL/" "-vv: requests traced"
unlike "$err" "$TEST_SECRET" "-vv: no secret key on stderr"
unlike "$err" "tok-SECRET-session" "-vv: no session token on stderr"
unlike "$err" "Signature=" "-vv: no signature on stderr"
mkfifo "$T/fifo"
( env AWS_ACCESS_KEY_ID=$TEST_AKID AWS_SECRET_ACCESS_KEY=$TEST_SECRET \
    AWS_REGION=us-east-1 kl-trigger-put $K -s other <"$T/fifo" &
    echo $! >"$T/pid"
    wait $!; echo $? >"$T/rc" ) | cat >"$T/sig.out" &
catpid=$!
exec 3>"$T/fifo"
head -n 2 "$T/20.ndjson" >&3
i=0
while [ "$(lines "$T/sig.out")" -lt 2 ] && [ $i -lt 100 ]; do
	sleep 0.05
	i=$((i + 1))
done
kill -TERM "$(cat "$T/pid")"
wait "$catpid"
exec 3>&-
is "$(cat "$T/rc")" 143 "SIGTERM on an idle pipe: dies of SIGTERM"
is "$(lines "$T/sig.out")" 2 "SIGTERM: the records so far acknowledged"

# --- Faults: kinesis-front in front of kinesalite. -----------------------

cat >"$T/keys.json" <<EOF
{"$TEST_AKID": {"secret": "$TEST_SECRET", "account": "123456789012"}}
EOF
front() {	# front ARGS...: sets FRONT (the URL) and FRONT_PID
	start_fake kinesis-front.py --upstream "$KINESIS_URL" \
	    --keys "$T/keys.json" "$@" || bail "kinesis-front did not start"
	FRONT=$FAKE_URL
	FRONT_PID=$FAKE_PID
}
mkstream faults 2
$PY - "$T/keyed.ndjson" <<'EOF'
import json, sys
with open(sys.argv[1], "w") as f:
    for n in range(1000):
        f.write(json.dumps({"data": {"email": "k%d@example.com" % (n % 50), "n": n}},
                           separators=(",", ":")) + "\n")
EOF
front --seed 7 --put-record-fail 0.2 --http503 0.05 --fault-ops PutRecords
run with_keys kl-trigger-put --endpoint-url "$FRONT" -s faults \
    --partition-key email --linger 10 "$T/keyed.ndjson"
is "$rc" 0 "20% failed entries, 5% 503: exit 0"
is "$(lines "$T/out")" 1000 "20% failed entries, 5% 503: 1000 acknowledgements"
stats=$(curl -sf "$FRONT/_front/stats")
is "$(printf '%s' "$stats" | jq '.records_failed > 50 and
    .faults.http503 > 0 and .faults["put-record-fail"] > 0')" true \
    "the front failed entries and whole calls"
stop "$FRONT_PID"
readback faults "$T/faults.rb"
is "$(lines "$T/faults.rb")" 1000 "faults: the stream holds 1000 records"
is "$(jq -r '.data | fromjson | .data.n' "$T/faults.rb" | sort -n | uniq | wc -l | tr -d ' ')" \
    1000 "faults: every record exactly once"
order=$($PY -c '
import json, sys
by = {}
for l in open(sys.argv[1]):
    r = json.loads(l)
    d = json.loads(r["data"])
    if r["pk"] != d["data"]["email"]:
        print("wrong key", r["pk"])
    by.setdefault(r["pk"], []).append((int(r["seq"]), d["data"]["n"]))
for k, v in by.items():
    ns = [n for s, n in sorted(v)]
    if ns != sorted(ns):
        print("out of order", k, ns)
print(len(by), "keys")' "$T/faults.rb")
is "$order" "50 keys" "faults: per key, sequence numbers follow input order"
is "$(jq -r .partition_key "$T/out" | sort -u | wc -l | tr -d ' ')" \
    50 "faults: acknowledgements for the 50 keys"

# Retries run out: 75, every record in --rejects, in input order.
front --http503 1 --fault-ops PutRecords
head -n 30 "$T/keyed.ndjson" >"$T/30.ndjson"
run with_keys kl-trigger-put --endpoint-url "$FRONT" -s faults \
    --max-retries 2 --rejects "$T/75.rej" "$T/30.ndjson"
is "$rc" 75 "503 every time: exit 75"
like "$err" "(gave up after 2 retries)" "503 every time: gave up"
is "$(jq -c .record "$T/75.rej")" "$(cat "$T/30.ndjson")" \
    "503 every time: all records in --rejects, in input order"
stop "$FRONT_PID"

# The stream deleted mid-run: 1, the rest in --rejects, replay completes.
mkstream gone 1
front --delete-after 3
run with_keys kl-trigger-put --endpoint-url "$FRONT" -s gone \
    --partition-key email --batch-size 100 --max-in-flight 1 \
    --rejects "$T/gone.rej" "$T/keyed.ndjson"
is "$rc" 1 "stream deleted mid-run: exit 1"
like "$err" "ResourceNotFoundException" "stream deleted mid-run: said"
is "$(($(lines "$T/out") + $(lines "$T/gone.rej")))" 1000 \
    "stream deleted mid-run: every record acknowledged or in --rejects"
ok "$([ "$(lines "$T/gone.rej")" -gt 0 ] && [ "$(lines "$T/out")" -gt 0 ]; echo $?)" \
    "stream deleted mid-run: some delivered, some rejected"
curl -sf -X POST -d '{"stream_deleted":false,"delete_after":null}' \
    "$FRONT/_front/config" >/dev/null
jq -c .record "$T/gone.rej" >"$T/replay.ndjson"
run with_keys kl-trigger-put --endpoint-url "$FRONT" -s gone \
    --partition-key email "$T/replay.ndjson"
is "$rc" 0 "the replay: exit 0"
stop "$FRONT_PID"
readback gone "$T/gone.rb"
is "$(jq -r '.data | fromjson | .data.n' "$T/gone.rb" | sort -n | uniq -c | awk '$1 == 1' | wc -l | tr -d ' ')" \
    1000 "after the replay: every record exactly once"

# A stop signal mid-run: the requests under way finish, what was read is
# sent once or put in --rejects, nothing twice, and the process dies of
# the signal.
mkstream sig 1
front --latency-ms 300
mkfifo "$T/sigfifo"
env AWS_ACCESS_KEY_ID=$TEST_AKID AWS_SECRET_ACCESS_KEY=$TEST_SECRET \
    AWS_REGION=us-east-1 kl-trigger-put --endpoint-url "$FRONT" -s sig \
    --batch-size 50 --rejects "$T/sig.rej" <"$T/sigfifo" >"$T/sig.acks" \
    2>"$T/sig.err" &
sigpid=$!
exec 4>"$T/sigfifo"
cat "$T/keyed.ndjson" >&4
i=0
while [ "$(curl -sf "$FRONT/_front/stats" | jq .calls)" -lt 4 ] &&
    [ $i -lt 200 ]; do
	sleep 0.05
	i=$((i + 1))
done
kill -TERM "$sigpid"
wait "$sigpid"
sigrc=$?
exec 4>&-
stop "$FRONT_PID"
readback sig "$T/sig.rb"
is "$sigrc" 143 "SIGTERM mid-run: dies of SIGTERM"
is "$(jq -r '.data | fromjson | .data.n' "$T/sig.rb" | sort -n | tr '\n' ' ')" \
    "$(jq -r '.line - 1' "$T/sig.acks" | sort -n | tr '\n' ' ')" \
    "SIGTERM mid-run: the stream holds the acknowledged records, once each"
ok "$([ "$(lines "$T/sig.acks")" -gt 0 ] &&
    [ "$(lines "$T/sig.acks")" -lt 1000 ]; echo $?)" \
    "SIGTERM mid-run: stopped after some records, not all"
is "$(cat "$T/sig.rej" 2>/dev/null | jq -r .record.data.n | sort -n | uniq -d)" \
    "" "SIGTERM mid-run: rejects once each"

# --- The export job end to end. ------------------------------------------

if ! command -v kl-read-audience >/dev/null 2>&1 ||
    ! printf 'lytics-test-key\n' >"$T/lkey" || ! chmod 600 "$T/lkey" ||
    ! start_fake lytics-standin.py --seed "$srcdir/tests/data/lytics/seed.json" \
    --key-file "$T/lkey"; then
	skip 4 "kl-read-audience or the Lytics stand-in is not available"
else
	mkstream triggers 2
	kl-read-audience --lytics-url "$FAKE_URL" --lytics-key-file "$T/lkey" \
	    --backfill -a big 2>"$T/ra.err" |
	    with_keys kl-trigger-put $K -s triggers --partition-key email \
	    >"$T/out" 2>"$T/err"
	is "$?:$(cat "$T/ra.err" "$T/err")" "0:" \
	    "kl-read-audience --backfill | kl-trigger-put: exit 0, quiet"
	readback triggers "$T/tr.rb"
	is "$(jq -r '.data | fromjson | .data._uid' "$T/tr.rb" | sort -u | wc -l | tr -d ' '):$(lines "$T/tr.rb")" \
	    "1000:1000" "export: every member exactly once"
	is "$(jq -r '.data | fromjson | .data.segment_events[0].event' "$T/tr.rb" | sort -u)" \
	    enter "export: every record an enter event"
	is "$(jq -r '(.data | fromjson | .data.email) == .pk' "$T/tr.rb" | sort -u)" \
	    true "export: the partition key is the member's email"
fi

done_testing
