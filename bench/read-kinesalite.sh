#!/bin/sh
# read-kinesalite.sh - client CPU per record reading from kinesalite:
# kl-read-shard beside the AWS SDK for JavaScript (bench/sdk-reader.js),
# the same stream, the same kind of lines, output to a regular file.
#
#	sh bench/read-kinesalite.sh [RECORDS [BYTES [SHARDS]]]
#
# Run from a build directory; needs node and tests/node_modules
# (kinesalite, @aws-sdk/client-kinesis).  Defaults: 100,000 records of
# about 200 bytes in 4 shards.  Each reader reads the whole stream once
# (drain mode); the table shows user + system CPU of the reader process
# alone (the peer's is not counted), microseconds per record, wall time
# and peak RSS.  kinesalite itself is the bottleneck for wall time.
set -eu
n=${1:-100000}
bytes=${2:-200}
shards=${3:-4}
src=$(cd "$(dirname "$0")/.." && pwd)
KL_NODE_MODULES=${KL_NODE_MODULES:-$src/tests/node_modules}
export KL_NODE_MODULES NODE_NO_WARNINGS=1
make cmd/kl-read-shard cmd/kl-stream >/dev/null
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kl-readbench.XXXXXX")
trap 'kill "$kpid" 2>/dev/null; wait "$kpid" 2>/dev/null; rm -rf "$tmp"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
node "$src/tests/peers/kinesalite-lo.js" "$port" >"$tmp/peer" 2>&1 &
kpid=$!
i=0
until grep -q ready "$tmp/peer"; do
	i=$((i + 1)); [ $i -lt 200 ] || { echo "no kinesalite" >&2; exit 1; }
	sleep 0.05
done
ep=http://127.0.0.1:$port
AWS_ACCESS_KEY_ID=AKIDEXAMPLE
AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
AWS_REGION=us-east-1 AWS_CONFIG_FILE=/dev/null
AWS_SHARED_CREDENTIALS_FILE=/dev/null
export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_REGION AWS_CONFIG_FILE \
    AWS_SHARED_CREDENTIALS_FILE
cmd/kl-stream --endpoint-url "$ep" --shards "$shards" create bench >/dev/null
node "$src/bench/sdk-reader.js" put "$ep" bench "$n" "$bytes"
report() {
	read -r u s e m <"$tmp/time"
	got=$(wc -l <"$tmp/out")
	awk -v what="$1" -v t="$got" -v u="$u" -v s="$s" -v e="$e" -v m="$m" \
	    'BEGIN { c = u + s; printf "%-14s %7d records  cpu %6.2f s  %6.2f us/rec" \
	    "  wall %5.2f s  rss %6.1f MiB\n", what, t, c, c * 1e6 / t, e, m / 1024 }'
}
for k in 1 2; do
	/usr/bin/time -f '%U %S %e %M' -o "$tmp/time" cmd/kl-read-shard \
	    --endpoint-url "$ep" -s bench --max-rate 50 --poll-interval 0 \
	    >"$tmp/out"
	report kl-read-shard
	/usr/bin/time -f '%U %S %e %M' -o "$tmp/time" node \
	    "$src/bench/sdk-reader.js" read "$ep" bench >"$tmp/out" 2>/dev/null
	report "SDK v3 (node)"
done
