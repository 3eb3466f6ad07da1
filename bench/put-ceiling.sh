#!/bin/sh
# put-ceiling.sh - what kl-trigger-put costs (issue 6, "Measure and report").
#
#   1. Its own ceiling: N records into bench/canned-put, a loopback stand-in
#      that answers PutRecords at once, kl pinned to one core: records/s,
#      CPU (user+sys) per record, peak RSS.
#   2. N records of about 200 B into kinesalite, side by side in one run
#      with an @aws-sdk/client-kinesis script (PutRecords of 500, one at a
#      time) and /usr/bin/aws kinesis put-records (SDK_CALLS calls of 500,
#      scaled: a call costs the CLI about a second): CPU per record of the
#      client alone, and peak RSS.
#   3. 20 sequential single-record runs, kl-trigger-put against
#      /usr/bin/aws kinesis put-record: the wall-time ratio.
#
# usage: bench/put-ceiling.sh            (from the build folder, after
#                                         "make" and "make bench")
# Environment: N (100000), RUNS (3, the best is reported), SDK_CALLS (4),
# KL_NODE_MODULES (tests/node_modules of the source tree).  Everything
# binds 127.0.0.1; nothing reaches the network; the throw-away test keys
# are used.  Figures vary with the machine and its load: take the best of
# several runs on a quiet machine.
set -eu
top=$(pwd)
src=$(cd "$(dirname "$0")/.." && pwd)
N=${N:-100000}
RUNS=${RUNS:-3}
SDK_CALLS=${SDK_CALLS:-4}
: "${KL_NODE_MODULES:=$src/tests/node_modules}"
export KL_NODE_MODULES
KL=$top/cmd/kl-trigger-put
CANNED=$top/bench/canned-put
[ -x "$KL" ] && [ -x "$CANNED" ] ||
    { echo "put-ceiling: run 'make' and 'make bench' first" >&2; exit 2; }

T=$(mktemp -d "${TMPDIR:-/tmp}/kl-put-bench.XXXXXX")
pids=
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT INT TERM
export AWS_ACCESS_KEY_ID=AKIDEXAMPLE
export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
export AWS_REGION=us-east-1 AWS_PAGER= AWS_CONFIG_FILE=/dev/null
export AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
export NODE_NO_WARNINGS=1 LC_ALL=C
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL \
    AWS_ENDPOINT_URL_KINESIS 2>/dev/null || true

# Trigger events of about 200 bytes, one user each, keyed by email.
/usr/bin/python3 - "$T/in.ndjson" "$N" <<'EOF'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(int(sys.argv[2])):
        f.write(json.dumps({"id": str(15761203643149024539 + i), "data": {
            "email": "u%07d@example.com" % i, "_uid": "u-%d" % i,
            "segment_events": [{"id": "efdcc4da20554be02e90c563f69bc0ec",
                "slug": "high_value", "event": "enter",
                "enter": "2026-11-29T16:46:34Z"}]}},
            separators=(",", ":")) + "\n")
EOF
bytes=$(($(wc -c <"$T/in.ndjson") / N))
echo "input: $N trigger events of $bytes bytes on average"

# timed LABEL CMD...: runs CMD with /usr/bin/time; sets cpu (s), wall (s)
# and rss (KiB).
timed() {
	label=$1
	shift
	/usr/bin/time -f '%e %U %S %M' -o "$T/time" "$@" >"$T/out" 2>"$T/err" ||
	    { echo "$label failed:"; tail -n 5 "$T/err"; exit 1; }
	read -r wall u s rss <"$T/time"
	cpu=$(echo "$u + $s" | bc)
}
per() { echo "scale=2; $1 * 1000000 / $2" | bc; }	# per CPU-s count: us

# 1. Against canned-put.
"$CANNED" >"$T/canned.port" 2>"$T/canned.log" &
pids="$pids $!"
i=0
until [ -s "$T/canned.port" ] || [ $i -gt 100 ]; do sleep 0.05; i=$((i + 1)); done
cport=$(awk '{ print $2 }' "$T/canned.port")
pin=
command -v taskset >/dev/null 2>&1 && [ "$(nproc)" -ge 2 ] && pin="taskset -c 0"
bcpu= bwall= brss=0
r=0
while [ $r -lt "$RUNS" ]; do
	timed canned $pin "$KL" --endpoint-url "http://127.0.0.1:$cport" \
	    -s bench --partition-key email "$T/in.ndjson"
	[ "$(wc -l <"$T/out")" -eq "$N" ] || { echo "canned: wrong count"; exit 1; }
	[ -n "$bcpu" ] && [ "$(echo "$cpu >= $bcpu" | bc)" = 1 ] || bcpu=$cpu
	[ -n "$bwall" ] && [ "$(echo "$wall >= $bwall" | bc)" = 1 ] || bwall=$wall
	[ "$rss" -le "$brss" ] || brss=$rss
	r=$((r + 1))
done
echo "1. kl-trigger-put -> canned-put (best of $RUNS, kl on one core):"
echo "   $(echo "$N / $bwall" | bc) records/s, $(per "$bcpu" "$N") us CPU per record" \
    "($bcpu CPU-s), peak RSS at most $brss KiB"

# 2. Into kinesalite: kl, the SDK, the CLI.
node "$src/tests/peers/kinesalite-lo.js" 0 >"$T/kinesalite.log" 2>&1 &
pids="$pids $!"
i=0
until grep -qs '^ready' "$T/kinesalite.log" || [ $i -gt 200 ]; do sleep 0.05; i=$((i + 1)); done
kport=$(awk '/^ready/ { print $2 }' "$T/kinesalite.log")
EP="--endpoint-url http://127.0.0.1:$kport"
/usr/bin/aws $EP kinesis create-stream --stream-name kl --shard-count 4
/usr/bin/aws $EP kinesis create-stream --stream-name sdk --shard-count 4
/usr/bin/aws $EP kinesis create-stream --stream-name cli --shard-count 4
kcpu= krss=0
r=0
while [ $r -lt "$RUNS" ]; do
	timed kinesalite "$KL" $EP -s kl --partition-key email "$T/in.ndjson"
	[ "$(wc -l <"$T/out")" -eq "$N" ] ||
	    { echo "kinesalite: wrong count"; exit 1; }
	[ -n "$kcpu" ] && [ "$(echo "$cpu >= $kcpu" | bc)" = 1 ] ||
	    kcpu=$cpu kwall=$wall
	[ "$rss" -le "$krss" ] || krss=$rss
	r=$((r + 1))
done
echo "2. $N records into kinesalite (4 shards), best of $RUNS:"
echo "   kl-trigger-put: $(per "$kcpu" "$N") us CPU per record ($kcpu CPU-s)," \
    "${kwall} s wall, peak RSS at most $krss KiB"
cat >"$T/sdk.js" <<'EOF'
// PutRecords of 500 with @aws-sdk/client-kinesis, one call at a time.
const path = require('path');
const m = process.env.KL_NODE_MODULES;
const { KinesisClient, PutRecordsCommand } =
    require(path.join(m, '@aws-sdk/client-kinesis'));
const { NodeHttpHandler } = require(path.join(m, '@smithy/node-http-handler'));
const fs = require('fs');
const [endpoint, file] = process.argv.slice(2);
const client = new KinesisClient({ endpoint, region: 'us-east-1',
  requestHandler: new NodeHttpHandler() });
(async () => {
  const lines = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
  for (let i = 0; i < lines.length; i += 500) {
    const Records = lines.slice(i, i + 500).map((l) => ({
      Data: Buffer.from(l), PartitionKey: JSON.parse(l).data.email }));
    const r = await client.send(new PutRecordsCommand({ StreamName: 'sdk', Records }));
    if (r.FailedRecordCount) throw new Error('failed records');
  }
})().catch((e) => { console.error(e); process.exit(1); });
EOF
if [ -d "$KL_NODE_MODULES/@aws-sdk/client-kinesis" ]; then
	timed sdk node "$T/sdk.js" "http://127.0.0.1:$kport" "$T/in.ndjson"
	echo "   @aws-sdk/client-kinesis: $(per "$cpu" "$N") us CPU per record" \
	    "($cpu CPU-s), ${wall} s wall, peak RSS $rss KiB;" \
	    "kl uses $(echo "scale=3; $kcpu / $cpu" | bc) of its CPU"
else
	echo "   @aws-sdk/client-kinesis: not installed (npm ci in tests/)"
fi
M=$((SDK_CALLS * 500))
head -n "$M" "$T/in.ndjson" | /usr/bin/python3 -c '
import json, sys
lines = [l.rstrip("\n") for l in sys.stdin]
for i in range(0, len(lines), 500):
    with open(sys.argv[1] + "/cli%d.json" % (i // 500), "w") as f:
        json.dump([{"Data": l, "PartitionKey": json.loads(l)["data"]["email"]}
                   for l in lines[i:i + 500]], f)' "$T"
cat >"$T/cli.sh" <<EOF
for f in $T/cli*.json; do
	/usr/bin/aws $EP kinesis put-records --stream-name cli \
	    --cli-binary-format raw-in-base64-out --records "file://\$f" >/dev/null
done
EOF
timed cli sh "$T/cli.sh"
echo "   aws kinesis put-records: $(per "$cpu" "$M") us CPU per record" \
    "($cpu CPU-s for $SDK_CALLS calls of 500), peak RSS $rss KiB"

# 3. 20 single-record runs.
head -n 1 "$T/in.ndjson" >"$T/one.ndjson"
cat >"$T/kl20.sh" <<EOF
i=0
while [ \$i -lt 20 ]; do
	"$KL" $EP -s kl --partition-key email "$T/one.ndjson" >/dev/null
	i=\$((i + 1))
done
EOF
cat >"$T/cli20.sh" <<EOF
i=0
while [ \$i -lt 20 ]; do
	/usr/bin/aws $EP kinesis put-record --stream-name cli --partition-key \
	    u0000000@example.com --cli-binary-format raw-in-base64-out \
	    --data "\$(cat "$T/one.ndjson")" >/dev/null
	i=\$((i + 1))
done
EOF
timed kl20 sh "$T/kl20.sh"
klw=$wall
timed cli20 sh "$T/cli20.sh"
echo "3. 20 single-record runs: kl-trigger-put ${klw} s, aws kinesis" \
    "put-record ${wall} s: $(echo "scale=1; $wall / $klw" | bc)x"
