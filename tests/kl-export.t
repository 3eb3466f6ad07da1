#!/bin/sh
# kl-export.t - export jobs end to end, from job files, against the
# Lytics stand-in and kinesalite: existing_users = yes backfills once per
# state folder, reruns send only enters and exits; existing_users = no
# starts from a baseline; export_fields; --watch with an overlapping run
# and SIGTERM; --dry-run checks the audiences; the progress line of a
# backfill under script(1).
. "$srcdir/tests/tap.sh"

for c in kl-export kl-read-audience kl-trigger-put kl-read-shard kl-stream
do
	if ! command -v "$c" >/dev/null 2>&1; then
		skip 1 "$c not built"
		done_testing
		exit 0
	fi
done
if ! have_node_peer kinesalite; then
	skip 1 "kinesalite missing"
	done_testing
	exit 0
fi
start_kinesalite || bail "kinesalite did not start"
KEY=kl-test-key-$$
printf '%s\n' "$KEY" >"$T/lytics.key"
chmod 600 "$T/lytics.key"
start_fake lytics-standin.py --seed "$srcdir/tests/data/lytics/seed.json" \
    --key-file "$T/lytics.key" || bail "the Lytics stand-in did not start"
LURL=$FAKE_URL
AWS_ENDPOINT_URL_KINESIS=$KINESIS_URL
LYTICS_API_URL=$LURL
LYTICS_API_KEY=$KEY
export AWS_ENDPOINT_URL_KINESIS LYTICS_API_URL LYTICS_API_KEY

# records STREAM: what the stream holds, read back with kl-read-shard, as
# "event partition_key" lines in stream order per shard.
records() {
	with_keys kl-read-shard -s "$1" >"$T/recs" 2>"$T/recs.err" || return 1
	jq -r '.data.data.segment_events[0].event + " " + .partition_key' \
	    "$T/recs"
}
count() { records "$1" | wc -l | tr -d ' '; }
hook() {	# hook PATH BODY
	curl -s -X POST --data-binary "$2" "$LURL/_standin/$1" >/dev/null
}

for s in triggers triggers2 triggers3; do
	with_keys kl-stream --wait create "$s" >/dev/null 2>&1 ||
	    bail "cannot create stream $s"
done

cat >"$T/hv.job" <<EOF
label = High value customers
region = us-east-1
kinesis_stream = triggers
audiences = high_value
identifier_field = email
existing_users = yes
state_dir = $T/hv
EOF

# --- existing_users = yes: the backfill, once. ---------------------------
run with_keys kl-export --once --job "$T/hv.job"
is "$rc" 0 "the first run: exit 0"
is "$err" "" "quiet"
is "$out" "" "nothing on stdout"
is "$(records triggers | sort | tr '\n' ',')" \
    "enter ann@example.com,enter bob@example.com,enter cy@example.com," \
    "the backfill: each member once, an enter keyed by email"
ok $([ -f "$T/hv/export.backfilled" ]; echo $?) "the backfill is recorded"
run with_keys kl-export --once --job "$T/hv.job"
is "$rc" 0 "a rerun: exit 0"
is "$(count triggers)" 3 "a rerun sends nothing: no second backfill"

hook segment/high_value/add '{"_uid":"a-9","email":"dee@example.com"}'
run with_keys kl-export -v --once --job "$T/hv.job"
is "$rc" 0 "after a member entered: exit 0"
is "$(records triggers | sed -n '4,$p')" "enter dee@example.com" \
    "only the new member, as an enter"
like "$err" "kl-export: info: 1 records put" "-v: the count"
hook segment/high_value/remove '"a-1"'
run with_keys kl-export --once --job "$T/hv.job"
is "$(records triggers | sed -n '5,$p')" "exit ann@example.com" \
    "a member who left: an exit"

# --- existing_users = no: a baseline first. ------------------------------
sed 's/^kinesis_stream = .*/kinesis_stream = triggers2/;
    s/^existing_users = .*/existing_users = no/;
    s|^state_dir = .*|state_dir = '"$T"'/hv2|' "$T/hv.job" >"$T/hv2.job"
run with_keys kl-export --once --job "$T/hv2.job"
is "$rc" 0 "existing_users = no: exit 0"
is "$(count triggers2)" 0 "existing_users = no: the first run sends nothing"
hook segment/high_value/add '{"_uid":"a-10","email":"eve@example.com"}'
run with_keys kl-export --once --job "$T/hv2.job"
is "$(records triggers2)" "enter eve@example.com" "then the changes"

# --- export_fields. ------------------------------------------------------
sed 's/^kinesis_stream = .*/kinesis_stream = triggers3/;
    s|^state_dir = .*|state_dir = '"$T"'/hv3|' "$T/hv.job" >"$T/hv3.job"
printf 'export_fields = email\n' >>"$T/hv3.job"
run with_keys kl-export --once --job "$T/hv3.job"
is "$rc" 0 "export_fields: exit 0"
records triggers3 >/dev/null
is "$(jq -r '.data.data | has("first_name")' "$T/recs" | sort -u)" false \
    "export_fields: the other fields are left out"
is "$(jq -r '.data.data.email != null' "$T/recs" | sort -u)" true \
    "export_fields: those named are there"

# --- --watch, an overlapping run, SIGTERM. -------------------------------
printf 'poll_interval = 1s\n' >>"$T/hv.job"
AWS_ACCESS_KEY_ID=$TEST_AKID AWS_SECRET_ACCESS_KEY=$TEST_SECRET \
    kl-export --job "$T/hv.job" >"$T/wout" 2>"$T/werr" &
pid=$!
tap_pids="$tap_pids $pid"
wait_for "$T/hv/export.lock" "^$pid\$" 200
ok $? "--watch: running, holding the lock"
run with_keys kl-export --once --job "$T/hv.job"
is "$rc" 75 "overlap: a second run exits 75"
like "$err" "is already running: process $pid holds the lock" \
    "overlap: the holder's PID"
hook segment/high_value/add '{"_uid":"a-11","email":"fay@example.com"}'
i=0
until [ "$(count triggers)" -ge 7 ] || [ $i -ge 100 ]; do
	sleep 0.2
	i=$((i + 1))
done
# eve entered while the job was not running (for the hv2 job), fay while
# it watched.
is "$(records triggers | sed -n '6,$p' | sort | tr '\n' ,)" \
    "enter eve@example.com,enter fay@example.com," \
    "--watch: what changed is sent while it runs"
kill -TERM "$pid"
wait "$pid"
is "$?" 143 "SIGTERM: kl-export stops its stages and dies of it"

# --- --dry-run: the audiences are checked. -------------------------------
run with_keys kl-export --dry-run --job "$T/hv.job"
is "$rc" 0 "--dry-run: exit 0"
like "$out" "# audience 'high_value': found (High value), id efdcc4da20554be02e90c563f69bc0ec" \
    "--dry-run: the audience"
like "$out" "# kinesis stream 'triggers': found, ACTIVE" "--dry-run: the stream"
sed 's/^audiences = .*/audiences = high_value,nosuch/' "$T/hv.job" \
    >"$T/nosuch.job"
run with_keys kl-export --dry-run --job "$T/nosuch.job"
is "$rc" 1 "--dry-run: an unknown audience: exit 1"
like "$err" "nosuch.job:4: audience 'nosuch': not found" \
    "--dry-run: the audience and the line"

# --- The progress of a backfill on a terminal. ---------------------------
if ! command -v script >/dev/null 2>&1; then
	skip 1 "script(1) missing"
elif ! grep -q kl_progress_update "$(command -v kl-read-audience)"; then
	skip 1 "kl-read-audience draws no progress line yet"
else
	sed 's/^audiences = .*/audiences = big/;
	    s|^state_dir = .*|state_dir = '"$T"'/big|' "$T/hv.job" \
	    >"$T/big.job"
	# Its 10 pages come in 60 ms: slowed to 1.5 s, past the first draw.
	hook fault '{"kind":"latency","ms":150,"count":-1,
	    "path":"/api/segment/7a7f76ff97ad0e3e96c162f74aee8f8f/scan"}'
	AWS_ACCESS_KEY_ID=$TEST_AKID AWS_SECRET_ACCESS_KEY=$TEST_SECRET \
	    script -qec "kl-export --once --job $T/big.job" /dev/null \
	    </dev/null >"$T/tty" 2>&1
	hook faults/clear ''
	like "$(cat -v "$T/tty")" "^Mkl-read-audience: " \
	    "a terminal: the backfill's progress line"
fi
done_testing
