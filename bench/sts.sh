#!/bin/sh
# sts.sh - wall time of "kl-auth creds NAME" (a delegated authorization,
# its role's credentials cached), "kl-assume-role" and the AWS CLI's
# "aws sts assume-role", all against one fake STS on loopback.
#
#	bench/sts.sh [RUNS]
#
# Starts tests/fakes/sts.py (needs /usr/bin/python3 with botocore) on a
# free 127.0.0.1 port, stores a delegated authorization with the AWS
# example keys, warms its cache once, then times RUNS runs (10 by
# default) of each client in turn and prints each one's median wall time
# and the ratios to the AWS CLI.  The kl commands are taken from PATH (or
# $KL_BIN); the CLI is /usr/bin/aws.  All use the same keys, role,
# external id, endpoint and empty configuration files; every run's
# output is checked to be a credential (or the CLI's) record.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-10}
bin=${KL_BIN:-$(dirname "$(command -v kl-auth 2>/dev/null || echo /x/x)")}
cli=/usr/bin/aws
py=/usr/bin/python3
for p in "$bin/kl-auth" "$bin/kl-assume-role" "$cli" "$py"; do
	[ -x "$p" ] || { echo "sts: no $p" >&2; exit 1; }
done

T=$(mktemp -d "${TMPDIR:-/tmp}/kl-bench.XXXXXX")
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$T"' EXIT
: >"$T/config"
: >"$T/credentials"
akid=AKIDEXAMPLE
secret=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
role=arn:aws:iam::123456789012:role/bench
mkdir -m 700 "$T/home"
export AWS_REGION=us-east-1 AWS_CONFIG_FILE=$T/config \
    AWS_SHARED_CREDENTIALS_FILE=$T/credentials AWS_PAGER= \
    AWS_EC2_METADATA_DISABLED=true HOME=$T/home
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_ENDPOINT_URL_STS \
    AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY KL_CONFIG_DIR XDG_CONFIG_HOME \
    XDG_CACHE_HOME
printf '{"%s": {"secret": "%s", "account": "123456789012", "arn": "arn:aws:iam::123456789012:user/bench"}}\n' \
    "$akid" "$secret" >"$T/keys.json"
printf '{"%s": "ext-bench"}\n' "$role" >"$T/roles.json"

"$py" "$here/tests/fakes/sts.py" --port 0 --keys "$T/keys.json" \
    --roles "$T/roles.json" >"$T/sts.out" 2>"$T/sts.err" &
pid=$!
i=0
until grep -q '"url"' "$T/sts.out" 2>/dev/null; do
	i=$((i + 1))
	[ $i -le 200 ] || { echo "sts: the fake STS did not start" >&2; exit 1; }
	sleep 0.05
done
url=$(sed -n 's/.*"url": *"\([^"]*\)".*/\1/p' "$T/sts.out")

printf '%s\n%s\n' "$akid" "$secret" |
    "$bin/kl-auth" add bench --role-arn "$role" --external-id ext-bench \
    >/dev/null || exit 1
AWS_ENDPOINT_URL_STS=$url "$bin/kl-auth" creds bench >/dev/null || exit 1

# ms CMD...: the wall time of CMD in milliseconds; its output is checked.
ms() {
	t0=$(date +%s%N)
	"$@" >"$T/out" 2>"$T/err" || { cat "$T/err" >&2; exit 1; }
	t1=$(date +%s%N)
	grep -q '"SecretAccessKey"' "$T/out" ||
	    { echo "sts: no credentials from $1" >&2; exit 1; }
	echo $(( (t1 - t0) / 1000000 ))
}
median() { sort -n | awk '{ v[NR] = $1 } END {
	print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

: >"$T/creds.ms"
: >"$T/assume.ms"
: >"$T/cli.ms"
i=1
while [ $i -le "$runs" ]; do
	AWS_ENDPOINT_URL_STS=$url ms "$bin/kl-auth" creds bench >>"$T/creds.ms"
	AWS_ACCESS_KEY_ID=$akid AWS_SECRET_ACCESS_KEY=$secret \
	    ms "$bin/kl-assume-role" --endpoint-url "$url" --role-arn "$role" \
	    --external-id ext-bench --session-name bench >>"$T/assume.ms"
	AWS_ACCESS_KEY_ID=$akid AWS_SECRET_ACCESS_KEY=$secret \
	    ms "$cli" --endpoint-url "$url" sts assume-role --role-arn "$role" \
	    --external-id ext-bench --role-session-name bench >>"$T/cli.ms"
	i=$((i + 1))
done
calls=$(curl -s "$url/_sts/stats" | jq -r '.by_action.AssumeRole')
cr=$(median <"$T/creds.ms")
as=$(median <"$T/assume.ms")
c=$(median <"$T/cli.ms")
row() { printf '%-34s median %5s ms of %d runs (%s)\n' "$1" "$2" "$runs" \
    "$(tr '\n' ' ' <"$3" | sed 's/ $//')"; }
row "kl-auth creds NAME (cached):" "$cr" "$T/creds.ms"
row "kl-assume-role:" "$as" "$T/assume.ms"
row "aws sts assume-role:" "$c" "$T/cli.ms"
awk -v cr="$cr" -v as="$as" -v c="$c" 'BEGIN {
	printf "ratio aws / kl-auth creds (cached): %.0f\n", c / (cr > 0 ? cr : 1)
	printf "ratio aws / kl-assume-role:         %.0f\n", c / (as > 0 ? as : 1) }'
echo "AssumeRole calls the fake answered: $calls (1 warm-up + $runs + $runs)"
