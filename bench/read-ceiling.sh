#!/bin/sh
# read-ceiling.sh - kl-read-shard's own ceiling: records per second on
# one core against bench/canned-kinesis (pages built once, served from
# memory), so that the peer costs next to nothing.
#
#	sh bench/read-ceiling.sh [RECORDS_PER_PAGE [PAGES [SHARDS [BYTES]]]]
#
# Run from a build directory (make bench builds bench/canned-kinesis).
# Defaults: 10,000-record pages, 30 pages per shard, 1 shard, payloads of
# about 200 bytes.  The reader runs pinned to CPU 0, the responder to
# CPU 1; each run reads everything once (drain mode) and reports user +
# system CPU, wall time, records per CPU second and per wall second, and
# peak RSS, for output to a regular file (buffered), to /dev/null and
# to a pipe (one write(2) per record).
set -eu
n=${1:-10000}
pages=${2:-30}
shards=${3:-1}
bytes=${4:-200}
make bench/canned-kinesis cmd/kl-read-shard >/dev/null
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kl-ceiling.XXXXXX")
trap 'kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null; rm -rf "$tmp"' EXIT
taskset -c 1 bench/canned-kinesis -n "$n" -P "$pages" -s "$shards" \
    -b "$bytes" >"$tmp/srv" &
spid=$!
i=0
until grep -q ready "$tmp/srv"; do
	i=$((i + 1)); [ $i -lt 100 ] || { echo "no responder" >&2; exit 1; }
	sleep 0.05
done
port=$(sed -n 's/^ready //p' "$tmp/srv")
AWS_ACCESS_KEY_ID=AKIDEXAMPLE
AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_CONFIG_FILE \
    AWS_SHARED_CREDENTIALS_FILE
total=$((n * pages * shards))
run() {
	/usr/bin/time -f '%U %S %e %M' -o "$tmp/time" taskset -c 0 \
	    cmd/kl-read-shard -r us-east-1 --endpoint-url "http://127.0.0.1:$port" \
	    -s bench --max-rate 1000 --poll-interval 0 "$@"
}
report() {
	read -r u s e m <"$tmp/time"
	awk -v what="$1" -v t="$total" -v u="$u" -v s="$s" -v e="$e" -v m="$m" \
	    'BEGIN { c = u + s; printf "%-10s %9d records  cpu %6.2f s (%5.2f us/rec)  " \
	    "%8.0f rec/cpu-s  %8.0f rec/s wall  rss %5.1f MiB\n", what, t, c,
	    c * 1e6 / t, t / c, t / e, m / 1024 }'
}
run >"$tmp/out"
[ "$(wc -l <"$tmp/out")" -eq "$total" ] || { echo "short output" >&2; exit 1; }
report file
run >/dev/null
report /dev/null
run | cat >/dev/null
report pipe
