#!/bin/sh
# audience-5m.sh - peak RSS and time of kl-read-audience --watch comparing
# an audience of 5 million members (issue 6: at most 64 MiB).
#
#	bench/audience-5m.sh [MEMBERS] [CHANGES]
#
# Starts the Lytics stand-in (tests/fakes/lytics-standin.py) on a free
# 127.0.0.1 port, generates MEMBERS members (5000000 by default) in a new
# audience, and runs kl-read-audience --watch --once twice under
# /usr/bin/time: the baseline, then, after CHANGES members (10000 by
# default) left and as many entered, the comparison.  Prints each run's
# peak RSS, wall time and kl's own CPU time (the rest of the wall time is
# the stand-in serving pages: one request per 100 members), the state
# file's size, and checks that the comparison wrote exactly 2 x CHANGES
# events.  kl-read-audience is taken from $KL_READ_AUDIENCE, else PATH.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-5000000}
c=${2:-10000}
kl=${KL_READ_AUDIENCE:-$(command -v kl-read-audience)}
[ -n "$kl" ] && [ -x "$kl" ] || { echo "audience-5m: no kl-read-audience" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "audience-5m: no /usr/bin/time" >&2; exit 1; }

T=$(mktemp -d "${TMPDIR:-/tmp}/kl-bench.XXXXXX")
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$T"' EXIT
umask 077
echo "bench-key" >"$T/key"
python3 "$here/tests/fakes/lytics-standin.py" --port 0 --key-file "$T/key" \
    >"$T/standin.log" 2>&1 &
pid=$!
i=0
until grep -q '"url"' "$T/standin.log" 2>/dev/null; do
	i=$((i + 1))
	[ $i -le 200 ] || { echo "audience-5m: stand-in did not start" >&2; exit 1; }
	sleep 0.05
done
url=$(sed -n 's/.*"url": *"\([^"]*\)".*/\1/p' "$T/standin.log" | head -n 1)
hook() { curl -sf -X POST "$url/_standin/$1" ${2:+--data-binary "$2"} >/dev/null; }
hook segments '{"slug_name":"bench","name":"bench audience"}'
hook "segment/bench/generate?count=$n"

# run LABEL: one watch cycle, timed.
run() {
	/usr/bin/time -f '%M %e %U %S' -o "$T/time" "$kl" -v --lytics-url "$url" \
	    --lytics-key-file "$T/key" --watch --once --state "$T/state" \
	    -a bench >"$T/out" 2>"$T/err" || { cat "$T/err" >&2; exit 1; }
	read -r rss wall user sys <"$T/time"
	printf '%-11s %9d members  peak RSS %6d KiB (%5.1f MiB)  wall %7.1f s  kl CPU %6.1f s\n' \
	    "$1" "$n" "$rss" "$(echo "$rss / 1024" | bc -l)" "$wall" \
	    "$(echo "$user + $sys" | bc -l)"
}
echo "kl-read-audience --watch --once, $n members, $c enter + $c exit"
run baseline
hook "segment/bench/remove-range?count=$c"
hook "segment/bench/generate?start=$n&count=$c"
run comparison
ev=$(wc -l <"$T/out")
printf 'state file  %d bytes; events written %d (want %d)\n' \
    "$(cat "$T"/state/*/members | wc -c)" "$ev" $((2 * c))
grep 'info: audience' "$T/err" | sed 's/^/  /'
[ "$ev" -eq $((2 * c)) ] && [ "$rss" -le 65536 ]
