#!/bin/sh
# stream-list.sh - wall time of "kl-stream list" against the AWS CLI's
# "aws kinesis list-streams", both against one kinesalite on loopback.
#
#	bench/stream-list.sh [RUNS] [STREAMS]
#
# Starts kinesalite (tests/peers/kinesalite-lo.js, from tests/node_modules
# or $KL_NODE_MODULES) on a free 127.0.0.1 port, creates STREAMS streams
# (5 by default) with kl-stream, then times RUNS runs (10 by default) of
# each client, alternating them, and prints the median wall time of each
# and their ratio.  kl-stream is taken from $KL_STREAM, else from PATH;
# the CLI is /usr/bin/aws.  Both get the AWS example keys, empty
# configuration files and the same endpoint, and both list every page.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-10}
nstreams=${2:-5}
modules=${KL_NODE_MODULES:-$here/tests/node_modules}
kl=${KL_STREAM:-$(command -v kl-stream)}
cli=/usr/bin/aws
[ -n "$kl" ] && [ -x "$kl" ] || { echo "stream-list: no kl-stream" >&2; exit 1; }
[ -x "$cli" ] || { echo "stream-list: no $cli" >&2; exit 1; }
[ -d "$modules/kinesalite" ] || { echo "stream-list: no kinesalite" >&2; exit 1; }

T=$(mktemp -d "${TMPDIR:-/tmp}/kl-bench.XXXXXX")
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$T"' EXIT
: >"$T/config"
: >"$T/credentials"
export AWS_ACCESS_KEY_ID=AKIDEXAMPLE \
    AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY \
    AWS_REGION=us-east-1 AWS_CONFIG_FILE=$T/config \
    AWS_SHARED_CREDENTIALS_FILE=$T/credentials AWS_PAGER= \
    AWS_EC2_METADATA_DISABLED=true HOME=$T KL_NODE_MODULES=$modules
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_ENDPOINT_URL_KINESIS

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
node "$here/tests/peers/kinesalite-lo.js" "$port" >"$T/peer.log" 2>&1 &
pid=$!
i=0
until grep -q '^ready' "$T/peer.log" 2>/dev/null; do
	i=$((i + 1))
	[ $i -le 200 ] || { echo "stream-list: kinesalite did not start" >&2; exit 1; }
	sleep 0.05
done
url=http://127.0.0.1:$port
i=1
while [ $i -le "$nstreams" ]; do
	"$kl" --endpoint-url "$url" create "bench$i" || exit 1
	i=$((i + 1))
done

# ms CMD...: the wall time of CMD in milliseconds; its output is checked.
ms() {
	t0=$(date +%s%N)
	"$@" >"$T/out" 2>"$T/err" || { cat "$T/err" >&2; exit 1; }
	t1=$(date +%s%N)
	echo $(( (t1 - t0) / 1000000 ))
}
median() { sort -n | awk '{ v[NR] = $1 } END {
	print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

: >"$T/kl.ms"
: >"$T/cli.ms"
i=1
while [ $i -le "$runs" ]; do
	ms "$kl" --endpoint-url "$url" list >>"$T/kl.ms"
	[ "$(wc -l <"$T/out")" -eq "$nstreams" ] ||
	    { echo "stream-list: kl-stream listed $(wc -l <"$T/out")" >&2; exit 1; }
	ms "$cli" --endpoint-url "$url" kinesis list-streams >>"$T/cli.ms"
	i=$((i + 1))
done
k=$(median <"$T/kl.ms")
c=$(median <"$T/cli.ms")
printf 'kl-stream list:          median %s ms of %d runs (%s)\n' "$k" "$runs" \
    "$(tr '\n' ' ' <"$T/kl.ms" | sed 's/ $//')"
printf 'aws kinesis list-streams: median %s ms of %d runs (%s)\n' "$c" \
    "$runs" "$(tr '\n' ' ' <"$T/cli.ms" | sed 's/ $//')"
awk -v k="$k" -v c="$c" 'BEGIN { printf "ratio (aws / kl-stream): %.1f\n",
    c / (k > 0 ? k : 1) }'
