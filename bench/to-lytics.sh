#!/bin/sh
# to-lytics.sh - CPU time and peak resident size of kl-to-lytics posting
# 100,000 events of about 300 bytes into the Lytics stand-in.
#
#	bench/to-lytics.sh [RUNS] [EVENTS]
#
# Starts tests/fakes/lytics-standin.py on a free 127.0.0.1 port, writes
# EVENTS (100000 by default) kl-read-shard records over 4 shards whose
# "data" is an event of about 300 bytes, and the same events as plain
# objects, then runs kl-to-lytics RUNS times (3 by default) on each input
# with the default batching (--checkpoint for the records) and prints,
# from GNU time, the median user+sys CPU seconds of kl-to-lytics alone
# (the stand-in runs in its own process), scaled to 100,000 events, and
# the largest peak RSS.  Targets: 0.5 CPU-s per 100k events, 16 MiB.
# kl-to-lytics is taken from $KL_TO_LYTICS, else from PATH.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-3}
n=${2:-100000}
kl=${KL_TO_LYTICS:-$(command -v kl-to-lytics)}
[ -n "$kl" ] && [ -x "$kl" ] || { echo "to-lytics: no kl-to-lytics" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "to-lytics: no /usr/bin/time" >&2; exit 1; }

T=$(mktemp -d "${TMPDIR:-/tmp}/kl-bench.XXXXXX")
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$T"' EXIT
printf 'at.bench-key-0123456789\n' >"$T/key"
chmod 600 "$T/key"
python3 "$here/tests/fakes/lytics-standin.py" --port 0 --key-file "$T/key" \
    >"$T/standin.out" 2>&1 &
pid=$!
i=0
until grep -q '"url"' "$T/standin.out" 2>/dev/null; do
	i=$((i + 1))
	[ $i -le 200 ] || { echo "to-lytics: the stand-in did not start" >&2; exit 1; }
	sleep 0.05
done
url=$(sed -n 's/.*"url": *"\([^"]*\)".*/\1/p' "$T/standin.out")

python3 - "$n" "$T/records" "$T/events" <<'EOF'
import json, sys
n, recs, evs = int(sys.argv[1]), open(sys.argv[2], "w"), open(sys.argv[3], "w")
for i in range(n):
    ev = {"_e": "pv", "email": "user%d@example.com" % i, "_uid": "u-%d" % i,
          "n": 12345678901234567890 + i, "price": "19.990",
          "url": "https://www.example.com/catalog/item/%d?utm_source=news" % i,
          "ref": "https://news.example.org/story/%d" % (i * 7),
          "ts": "2026-11-29T16:46:34.123Z",
          "ua": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120"}
    data = json.dumps(ev, separators=(",", ":"))
    evs.write(data + "\n")
    r = {"stream": "clicks", "shard_id": "shardId-%012d" % (i % 4),
         "sequence_number": str(49590338271490256608559692538361571095921575989136588898 + i),
         "partition_key": "u-%d" % i, "arrival": "2026-11-29T16:46:34.123Z",
         "millis_behind_latest": 0}
    recs.write(json.dumps(r, separators=(",", ":"))[:-1] + ',"data":' + data + "}\n")
EOF
avg=$(head -n 1000 "$T/events" | wc -c)
echo "to-lytics: $n events of about $((avg / 1000)) bytes, $runs runs each"

# one INPUT [ARGS]: prints "CPU-SECONDS RSS-KIB" of one run
one() {
	in=$1
	shift
	curl -s -X POST "$url/_standin/reset" >/dev/null
	rm -f "$T/ck" "$T/ck.lock"
	/usr/bin/time -o "$T/time" -f '%U %S %M' "$kl" -s bench \
	    --lytics-url "$url" --lytics-key-file "$T/key" "$@" "$in" \
	    >/dev/null 2>"$T/err" || { cat "$T/err" >&2; exit 1; }
	got=$(curl -s "$url/_standin/counts?stream=bench" |
	    python3 -c 'import json, sys; print(json.load(sys.stdin)["events"])')
	[ "$got" = "$n" ] || { echo "to-lytics: $got events arrived, not $n" >&2; exit 1; }
	awk '{ printf "%.3f %d\n", $1 + $2, $3 }' "$T/time"
}

for what in records events; do
	: >"$T/runs"
	r=0
	while [ $r -lt "$runs" ]; do
		if [ $what = records ]; then
			one "$T/records" --checkpoint "$T/ck" >>"$T/runs"
		else
			one "$T/events" >>"$T/runs"
		fi
		r=$((r + 1))
	done
	sort -n "$T/runs" | awk -v n="$n" -v what="$what" '
	    { cpu[NR] = $1; if ($2 > rss) rss = $2 }
	    END { m = cpu[int((NR + 1) / 2)]
		printf "%-8s CPU %.3f s per 100k events (median of %d), " \
		    "peak RSS %.1f MiB\n", what, m * 100000 / n, NR, rss / 1024 }'
done
