# tap.sh - shell functions for kl's TAP tests (sourced by tests/*.t).
#
# Every test gets a scratch folder (removed on exit), a HOME inside it,
# empty AWS configuration files and no AWS or Lytics variables, so no
# test can reach a real account.  Peers bind 127.0.0.1 on free ports and
# are stopped by PID when the test exits.  Every wait is bounded.

set -u
: "${srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
case $srcdir in /*) ;; *) srcdir=$(cd "$srcdir" && pwd) ;; esac
: "${KL_NODE_MODULES:=$srcdir/tests/node_modules}"
export KL_NODE_MODULES
PY=/usr/bin/python3
AWSCLI=/usr/bin/aws

unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE \
    AWS_DEFAULT_PROFILE AWS_REGION AWS_DEFAULT_REGION AWS_ENDPOINT_URL \
    AWS_ENDPOINT_URL_KINESIS AWS_ENDPOINT_URL_STS AWS_ROLE_ARN \
    AWS_CA_BUNDLE AWS_WEB_IDENTITY_TOKEN_FILE LYTICS_API_KEY LYTICS_API_URL \
    KL_CONFIG_DIR XDG_CONFIG_HOME XDG_CACHE_HOME 2>/dev/null || true
LC_ALL=C
export LC_ALL

T=$(mktemp -d "${TMPDIR:-/tmp}/kl-test.XXXXXX")
HOME=$T/home
mkdir -p "$HOME"
chmod 700 "$HOME"
export HOME
: >"$T/aws-config"
: >"$T/aws-credentials"
AWS_CONFIG_FILE=$T/aws-config
AWS_SHARED_CREDENTIALS_FILE=$T/aws-credentials
AWS_PAGER=
AWS_EC2_METADATA_DISABLED=true
export AWS_CONFIG_FILE AWS_SHARED_CREDENTIALS_FILE AWS_PAGER \
    AWS_EC2_METADATA_DISABLED

# KL_VALGRIND=1 runs every kl command a test starts through PATH under
# valgrind (house style 11): a wrapper per command goes first on PATH, and
# a memory error or a leak makes the command exit 9, which fails the test
# that ran it.  Reports go to KL_VALGRIND_LOGS (default
# $TMPDIR/kl-valgrind), one file per process, kept after the test.
if [ -n "${KL_VALGRIND:-}" ] && kl_real=$(command -v kl-stream); then
	kl_real=$(dirname "$kl_real")
	: "${KL_VALGRIND_LOGS:=${TMPDIR:-/tmp}/kl-valgrind}"
	mkdir -p "$T/valgrind" "$KL_VALGRIND_LOGS"
	for kl_p in "$kl_real"/kl-*; do
		case $kl_p in *.*) continue ;; esac
		[ -f "$kl_p" ] && [ -x "$kl_p" ] || continue
		printf '#!/bin/sh\nexec valgrind -q --leak-check=full --error-exitcode=9 --log-file=%s/%s.%%p.log %s "$@"\n' \
		    "$KL_VALGRIND_LOGS" "${kl_p##*/}" "$kl_p" \
		    >"$T/valgrind/${kl_p##*/}"
		chmod +x "$T/valgrind/${kl_p##*/}"
	done
	PATH=$T/valgrind:$PATH
	export PATH
fi

# The throw-away keys of AWS's own examples: they open no account.
TEST_AKID=AKIDEXAMPLE
TEST_SECRET=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY

tap_n=0
tap_failed=0
tap_pids=

tap_cleanup() {
	for p in $tap_pids; do
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	rm -rf "$T"
}
trap 'tap_cleanup' EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

plan() { echo "1..$1"; }
done_testing() { echo "1..$tap_n"; }

ok() {
	# ok STATUS DESCRIPTION: STATUS 0 passes.
	tap_n=$((tap_n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $tap_n - $2"
	else
		echo "not ok $tap_n - $2"
		tap_failed=$((tap_failed + 1))
	fi
}

# is GOT WANT DESCRIPTION
is() {
	if [ "$1" = "$2" ]; then
		ok 0 "$3"
	else
		ok 1 "$3"
		printf '# got:  %s\n# want: %s\n' "$1" "$2" | head -n 20
	fi
}

# like TEXT PATTERN DESCRIPTION: TEXT contains the fixed string PATTERN.
like() {
	case $1 in
	*"$2"*) ok 0 "$3" ;;
	*) ok 1 "$3"; printf '# got: %s\n# missing: %s\n' "$1" "$2" |
	    head -n 20 ;;
	esac
}

# unlike TEXT PATTERN DESCRIPTION
unlike() {
	case $1 in
	*"$2"*) ok 1 "$3"; printf '# found: %s\n' "$2" ;;
	*) ok 0 "$3" ;;
	esac
}

skip() {
	# skip N REASON
	i=0
	while [ $i -lt "$1" ]; do
		tap_n=$((tap_n + 1))
		echo "ok $tap_n # skip $2"
		i=$((i + 1))
	done
}

diag() { printf '# %s\n' "$*"; }

bail() { echo "Bail out! $*"; exit 1; }

# run CMD...: runs CMD, keeping stdout in $T/out, stderr in $T/err and
# the status in $rc.
run() {
	"$@" >"$T/out" 2>"$T/err"
	rc=$?
	out=$(cat "$T/out")
	err=$(cat "$T/err")
}

free_port() {
	$PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_for FILE PATTERN [TRIES]: waits up to TRIES x 0.05 s for PATTERN.
wait_for() {
	i=0
	until grep -q "$2" "$1" 2>/dev/null; do
		i=$((i + 1))
		[ "$i" -le "${3:-200}" ] || return 1
		sleep 0.05
	done
	return 0
}

have_node_peer() {
	[ -d "$KL_NODE_MODULES/$1" ] && command -v node >/dev/null 2>&1
}

# start_kinesalite: sets KINESIS_URL and KINESALITE_PID.
start_kinesalite() {
	have_node_peer kinesalite || return 1
	for attempt in 1 2; do
		port=$(free_port)
		node "$srcdir/tests/peers/kinesalite-lo.js" "$port" \
		    >"$T/kinesalite.log" 2>&1 &
		KINESALITE_PID=$!
		tap_pids="$tap_pids $KINESALITE_PID"
		if wait_for "$T/kinesalite.log" '^ready' 200; then
			KINESIS_URL=http://127.0.0.1:$port
			return 0
		fi
		kill "$KINESALITE_PID" 2>/dev/null
	done
	return 1
}

# start_kinesis_local: sets KLOCAL_URL and KLOCAL_PID (resharding peer).
start_kinesis_local() {
	have_node_peer kinesis-local || return 1
	main=$KL_NODE_MODULES/kinesis-local/main.js
	[ -f "$main" ] || main=$(ls "$KL_NODE_MODULES"/kinesis-local/*.js |
	    head -n 1)
	port=$(free_port)
	tport=$(free_port)
	# It reads server.json from the current folder: start it there.
	(cd "$(dirname "$main")" &&
	    KINESIS_MOCK_PLAIN_PORT=$port KINESIS_MOCK_TLS_PORT=$tport \
	    CREATE_STREAM_DURATION=0ms DELETE_STREAM_DURATION=0ms \
	    MERGE_SHARDS_DURATION=0ms SPLIT_SHARD_DURATION=0ms \
	    UPDATE_SHARD_COUNT_DURATION=0ms LOG_LEVEL=WARN \
	    AWS_REGION=us-east-1 \
	    exec node -r "$srcdir/tests/peers/loopback.js" "$main" \
	    >"$T/kinesis-local.log" 2>&1) &
	KLOCAL_PID=$!
	tap_pids="$tap_pids $KLOCAL_PID"
	i=0
	until curl -s -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null; do
		i=$((i + 1))
		[ $i -le 200 ] || return 1
		sleep 0.05
	done
	KLOCAL_URL=http://127.0.0.1:$port
	return 0
}

# start_fake SCRIPT ARGS...: starts a fake that prints {"url":..,"pid":..}
# as its first line; sets FAKE_URL and FAKE_PID.
start_fake() {
	script=$1
	shift
	log=$T/$(basename "$script").$$.$tap_n.log
	$PY "$srcdir/tests/fakes/$script" --port 0 "$@" >"$log" 2>&1 &
	FAKE_PID=$!
	tap_pids="$tap_pids $FAKE_PID"
	wait_for "$log" '"url"' 200 || return 1
	FAKE_URL=$(sed -n 's/.*"url": *"\([^"]*\)".*/\1/p' "$log" | head -n 1)
	[ -n "$FAKE_URL" ]
}

# stop PID: stops one background process and waits for it.
stop() {
	kill "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 0
}

# aws ARGS...: the Debian AWS CLI v2 with the test keys, never a real
# account.
aws() {
	AWS_ACCESS_KEY_ID=$TEST_AKID AWS_SECRET_ACCESS_KEY=$TEST_SECRET \
	    AWS_REGION=${AWS_REGION:-us-east-1} "$AWSCLI" "$@"
}

# with_keys CMD...: runs a kl command with the test keys in the
# environment (never in argv).
with_keys() {
	AWS_ACCESS_KEY_ID=$TEST_AKID AWS_SECRET_ACCESS_KEY=$TEST_SECRET \
	    AWS_REGION=${AWS_REGION:-us-east-1} "$@"
}
