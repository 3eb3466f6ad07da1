#!/bin/sh
# kl-job.t - kl-import and kl-export without peers: the command line, bad
# job files (FILE:LINE, exit 2, nothing run), the pipeline each job runs
# (argv, no shell), exit statuses, stopping, relayed signals, the lock
# (overlap), the backfill marker, --dry-run, and the progress line under
# script(1).
#
# The stages here are fakes: kl-import and kl-export run the programs
# next to them, so each test copies the two binaries into $T/bin beside
# shell scripts named like the stages, which record their arguments and
# do what FAKE_<STAGE> says.
. "$srcdir/tests/tap.sh"

lines() { if [ -s "$1" ]; then wc -l <"$1" | tr -d ' '; else echo 0; fi; }

B=$T/bin
mkdir -p "$B"
for c in kl-import kl-export; do
	p=$(command -v "$c") || bail "$c not built"
	cp "$p" "$B/$c"
done
FAKE_DIR=$T/fake
mkdir -p "$FAKE_DIR"
export FAKE_DIR

# A fake stage.  FAKE_KL_X (for kl-x): "cat" (default) copies its input;
# "emit N" reads its input, then writes N acknowledgements; "json TEXT"
# writes TEXT; "exit N" reads its input, then exits N; "wait" runs until
# a signal, noting each SIGTERM or SIGINT it gets, and dies of it after
# 0.3 s; "after STAGE N" exits N once STAGE waits; "sig NAME" dies of
# that signal.
cat >"$T/fake-stage" <<'EOF'
#!/bin/sh
name=${0##*/}
{ printf '%s\n' "$@"; echo --; } >>"$FAKE_DIR/argv.$name"
echo $$ >"$FAKE_DIR/pid.$name"
var=FAKE_$(echo "$name" | tr 'a-z-' 'A-Z_')
eval "mode=\${$var:-cat}"
case $mode in
cat)	exec cat ;;
emit*)	cat >/dev/null
	i=0
	while [ $i -lt "${mode#emit }" ]; do
		echo '{"stream":"w","events":2,"message_count":2,"rejected_count":0}'
		i=$((i + 1))
	done ;;
json*)	printf '%s\n' "${mode#json }" ;;
exit*)	cat >/dev/null
	exit "${mode#exit }" ;;
sig*)	kill -"${mode#sig }" $$ ;;
wait)	trap 'echo TERM >>"$FAKE_DIR/term.$name"; sleep 0.3; trap - TERM; kill -TERM $$' TERM
	trap 'echo INT >>"$FAKE_DIR/term.$name"; sleep 0.3; trap - INT; kill -INT $$' INT
	echo ready >"$FAKE_DIR/ready.$name"
	while :; do sleep 0.1 & wait $!; done ;;
after*)	set -- ${mode#after }	# after STAGE N: once STAGE waits, exit N
	i=0
	while [ ! -e "$FAKE_DIR/ready.$1" ] && [ $i -lt 100 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	exit "$2" ;;
esac
EOF
chmod +x "$T/fake-stage"
for s in kl-read-shard kl-to-lytics kl-read-audience kl-trigger-put kl-stream
do
	cp "$T/fake-stage" "$B/$s"
done
reset_fakes() { rm -f "$FAKE_DIR"/*; }

S=$T/state
cat >"$T/import.job" <<EOF
# test import job
label = Web clicks
region = us-east-1
kinesis_stream = clicks
lytics_stream = web_activity
state_dir = $S
EOF
cat >"$T/export.job" <<EOF
kinesis_stream = triggers
audiences = high_value, big
identifier_field = email
export_fields = email,first_name
existing_users = yes
poll_interval = 30s
state_dir = $S
EOF

# --- The command line. ---------------------------------------------------
for c in kl-import kl-export; do
	run "$B/$c" --help
	is "$rc" 0 "$c --help: exit 0"
	like "$out" "usage: $c [-hVv] [--dry-run]" "$c --help: usage"
	run "$B/$c" -V
	like "$out" "$c (kl) " "$c -V"
	run "$B/$c"
	is "$rc" 2 "$c without --job: exit 2"
	like "$err" "--job is required" "$c without --job: said"
	run "$B/$c" --job x extra
	is "$rc" 2 "$c with an operand: exit 2"
	run "$B/$c" --frobnicate
	is "$rc" 2 "$c: unknown option: exit 2"
	run "$B/$c" --job "$T/nonexistent.job"
	is "$rc" 2 "$c: a missing job file: exit 2"
	like "$err" "cannot read the job file '$T/nonexistent.job'" \
	    "$c: a missing job file: named"
done
run "$B/kl-import" --once --follow --job "$T/import.job"
is "$rc" 2 "--once with --follow: exit 2"
run "$B/kl-export" --once --watch --job "$T/export.job"
is "$rc" 2 "--once with --watch: exit 2"
run "$B/kl-import" --job "$T/export.job"
is "$rc" 2 "an export job given to kl-import: exit 2"
like "$err" "$T/export.job:2: 'audiences' is a key of export jobs" \
    "an export job given to kl-import: FILE:LINE"

# --- Bad job files: exit 2, FILE:LINE, nothing run. ----------------------
D=$srcdir/tests/data/job
badjob() {	# badjob COMMAND FILE WANT DESCRIPTION
	reset_fakes
	run "$B/$1" --once --job "$D/$2"
	is "$rc" 2 "$4: exit 2"
	like "$err" "$D/$3" "$4: the message"
	is "$(ls "$FAKE_DIR" | wc -l | tr -d ' ')" 0 "$4: no stage ran"
}
badjob kl-import unknown-key.job "unknown-key.job:4: unknown key 'stream_name'" \
    "unknown key"
badjob kl-import missing-stream.job \
    "missing-stream.job: missing key 'kinesis_stream'" "missing kinesis_stream"
badjob kl-export maybe.job "maybe.job:4: existing_users wants yes or no: 'maybe'" \
    "existing_users = maybe"
badjob kl-export nine-digit.job "nine-digit.job:4: role_arn 'arn:aws:iam::111111111:role/lytics-kinesis': the account id '111111111' has 9 digits" \
    "a 9-digit account"
like "$err" "placeholder" "a 9-digit account: the seed's example is named"
badjob kl-import secret.job "secret.job:4: 'secret_key' looks like a secret" \
    "secret_key"
like "$err" "kl-auth add NAME" "secret_key: points to kl-auth add"
unlike "$err" "wJalrXUtnFEMI" "secret_key: the secret is not repeated"
badjob kl-import shell.job "shell.job:2: expected 'key = value'" "a shell line"
unlike "$err" "wJalrXUtnFEMI" "a shell line: the secret is not repeated"

# --- The pipelines. ------------------------------------------------------
reset_fakes
FAKE_KL_TO_LYTICS="emit 3" run "$B/kl-import" --once --job "$T/import.job"
is "$rc" 0 "import --once with stages that succeed: exit 0"
is "$err" "" "import: quiet on success"
is "$out" "" "import: nothing on stdout"
is "$(tr '\n' ' ' <"$FAKE_DIR/argv.kl-read-shard")" \
    "--stream clicks --from trim-horizon --checkpoint $S/import.checkpoint.json --region us-east-1 -- " \
    "import: the arguments of kl-read-shard"
is "$(tr '\n' ' ' <"$FAKE_DIR/argv.kl-to-lytics")" \
    "--stream web_activity --checkpoint $S/import.checkpoint.json --rejects=$S/import.rejects.ndjson -- " \
    "import: the arguments of kl-to-lytics"
ok $([ -f "$S/import.lock" ]; echo $?) "the lock file is in the state folder"
is "$(stat -c %a "$S")" 700 "the state folder is created 0700"
reset_fakes
FAKE_KL_TO_LYTICS="emit 3" run "$B/kl-import" -v --once --job "$T/import.job"
like "$err" "kl-import: info: 6 events delivered in 3 batches" \
    "-v: the acknowledgements are counted"
is "$(head -n 1 "$FAKE_DIR/argv.kl-read-shard")" "-v" "-v is passed on"

# No shell anywhere: values reach the stages as they are.
cat >"$T/inject.job" <<EOF
label = \$(touch $T/pwned-label)
kinesis_stream = clicks
lytics_stream = web;touch
filter = {a: "\$(touch $T/pwned)", b: "\`touch $T/pwned\`"} # "'
state_dir = $S
EOF
reset_fakes
run "$B/kl-import" --once --job "$T/inject.job"
is "$rc" 0 "a job with shell syntax in its values: runs"
ok $([ ! -e "$T/pwned" ] && [ ! -e "$T/pwned-label" ]; echo $?) \
    "nothing in it was run by a shell"
grep -qxF 'web;touch' "$FAKE_DIR/argv.kl-to-lytics"
ok $? "the stream name reaches kl-to-lytics as one argument"
grep -qF ". as \$record | .data | ({a: \"\$(touch $T/pwned)\"" \
    "$FAKE_DIR/argv.kl-to-lytics"
ok $? "the filter reaches kl-to-lytics as written, run on .data"

# Follow by default; poll_interval.
printf 'poll_interval = 2s\n' >>"$T/import.job"
reset_fakes
FAKE_KL_READ_SHARD=exit\ 0 run "$B/kl-import" --job "$T/import.job"
grep -qx -- --follow "$FAKE_DIR/argv.kl-read-shard" &&
    grep -qx -- --poll-interval=2000 "$FAKE_DIR/argv.kl-read-shard"
ok $? "without --once: --follow and the poll interval in ms"

# --- Statuses and stopping. ----------------------------------------------
reset_fakes
start=$(date +%s)
FAKE_KL_READ_SHARD=wait FAKE_KL_TO_LYTICS="after kl-read-shard 75" \
    run "$B/kl-import" --job "$T/import.job"
is "$rc" 75 "kl-to-lytics exits 75: so does kl-import"
is "$(cat "$FAKE_DIR/term.kl-read-shard" 2>/dev/null)" TERM \
    "kl-read-shard was stopped with one SIGTERM"
ok $([ $(( $(date +%s) - start )) -lt 10 ]; echo $?) "at once"
unlike "$err" "died of signal" "its SIGTERM death does not count"
reset_fakes
FAKE_KL_READ_SHARD=exit\ 1 run "$B/kl-import" --once --job "$T/import.job"
is "$rc" 1 "kl-read-shard exits 1: so does kl-import"
reset_fakes
FAKE_KL_READ_SHARD=exit\ 3 FAKE_KL_TO_LYTICS=exit\ 75 \
    run "$B/kl-import" --once --job "$T/import.job"
is "$rc" 75 "75 beats 3"
reset_fakes
FAKE_KL_READ_SHARD=sig\ USR1 run "$B/kl-import" --once --job "$T/import.job"
is "$rc" 138 "a stage dying of a signal: 128+n"
like "$err" "kl-import: error: kl-read-shard (pid " \
    "a stage dying of a signal: named"
like "$err" "died of signal 10" "a stage dying of a signal: which"
reset_fakes
FAKE_KL_READ_SHARD=exit\ 0 FAKE_KL_TO_LYTICS=exit\ 42 \
    run "$B/kl-import" --once --job "$T/import.job"
is "$rc" 1 "a status outside the contract counts as 1"

# A signal is relayed to each stage once, and kl-import dies of it.
reset_fakes
FAKE_KL_READ_SHARD=wait FAKE_KL_TO_LYTICS=wait \
    "$B/kl-import" --job "$T/import.job" >"$T/out" 2>"$T/err" &
pid=$!
wait_for "$FAKE_DIR/ready.kl-to-lytics" . 200 &&
    wait_for "$FAKE_DIR/ready.kl-read-shard" . 200
kill -TERM "$pid"
wait "$pid"
rc=$?
is "$rc" 143 "SIGTERM: kl-import dies of it after its stages"
is "$(cat "$FAKE_DIR/term.kl-read-shard")" TERM "kl-read-shard got it once"
is "$(cat "$FAKE_DIR/term.kl-to-lytics")" TERM "kl-to-lytics got it once"
# A group kill (a terminal's ^C, timeout(1)) reaches kl-import alone:
# the stages, in a group of their own, get the signal once, from it.
reset_fakes
if command -v setsid >/dev/null 2>&1; then
	FAKE_KL_READ_SHARD=wait FAKE_KL_TO_LYTICS=wait \
	    setsid "$B/kl-import" --job "$T/import.job" >"$T/out" 2>"$T/err" &
	pid=$!
	wait_for "$FAKE_DIR/ready.kl-to-lytics" . 200 &&
	    wait_for "$FAKE_DIR/ready.kl-read-shard" . 200
	kill -INT "-$pid"
	wait "$pid"
	rc=$?
	is "$rc" 130 "SIGINT to kl-import's group: it dies of it"
	is "$(cat "$FAKE_DIR/term.kl-read-shard")" INT \
	    "kl-read-shard got SIGINT once"
	is "$(cat "$FAKE_DIR/term.kl-to-lytics")" INT \
	    "kl-to-lytics got SIGINT once"
else
	skip 3 "setsid(1) missing"
fi

# --- The lock: a second run of the same job exits 75. --------------------
reset_fakes
FAKE_KL_READ_SHARD=wait FAKE_KL_TO_LYTICS=wait \
    "$B/kl-import" --job "$T/import.job" >"$T/out1" 2>"$T/err1" &
pid=$!
wait_for "$S/import.lock" "^$pid\$" 200
ok $? "the lock file holds the PID of the run"
wait_for "$FAKE_DIR/ready.kl-to-lytics" . 200
rm -f "$FAKE_DIR/argv.kl-read-shard"
run "$B/kl-import" --once --job "$T/import.job"
is "$rc" 75 "overlap: the second run exits 75"
like "$err" "kl-import: fatal: job '$T/import.job' is already running: process $pid holds the lock '$S/import.lock'" \
    "overlap: the holder's PID is named"
ok $([ ! -e "$FAKE_DIR/argv.kl-read-shard" ]; echo $?) \
    "overlap: the second run started nothing"
run "$B/kl-export" --once --job "$T/export.job"
is "$rc" 0 "an export job with the same state folder is not locked out"
kill -TERM "$pid"
wait "$pid"
reset_fakes
FAKE_KL_TO_LYTICS="emit 1" run "$B/kl-import" --once --job "$T/import.job"
is "$rc" 0 "the lock is free once the holder ended"
rm -f "$S/export.backfilled"

# --- Export: the pipeline and the backfill once per state folder. --------
reset_fakes
FAKE_KL_TRIGGER_PUT=exit\ 75 run "$B/kl-export" --once --job "$T/export.job"
is "$rc" 75 "export: a failed first run: 75"
grep -qx -- --backfill "$FAKE_DIR/argv.kl-read-audience"
ok $? "export: the first run backfills"
ok $([ ! -e "$S/export.backfilled" ]; echo $?) \
    "export: a failed backfill is not recorded"
reset_fakes
run "$B/kl-export" --once --job "$T/export.job"
is "$rc" 0 "export: the backfill again: 0"
is "$(tr '\n' ' ' <"$FAKE_DIR/argv.kl-read-audience")" \
    "--audience high_value --audience big --backfill --watch --state $S/export.audiences --once --fields email,first_name -- " \
    "export: the arguments of kl-read-audience"
is "$(tr '\n' ' ' <"$FAKE_DIR/argv.kl-trigger-put")" \
    "--stream triggers --partition-key email --rejects=$S/export.rejects.ndjson -- " \
    "export: the arguments of kl-trigger-put"
ok $([ -f "$S/export.backfilled" ]; echo $?) "export: the backfill is recorded"
ok $([ -d "$S/export.audiences" ]; echo $?) "export: its state folder exists"
reset_fakes
run "$B/kl-export" --once --job "$T/export.job"
grep -qx -- --backfill "$FAKE_DIR/argv.kl-read-audience"
ok $([ $? -ne 0 ]; echo $?) "export: a rerun does not backfill"
# Watching with a backfill due: first the backfill, once, then the watch.
rm -f "$S/export.backfilled"
reset_fakes
FAKE_KL_READ_AUDIENCE=exit\ 0 run "$B/kl-export" --job "$T/export.job"
is "$rc" 0 "export --watch with a backfill due: 0"
is "$(grep -c -- '^--$' "$FAKE_DIR/argv.kl-read-audience")" 2 \
    "two pipelines ran"
is "$(sed -n '1,/^--$/p' "$FAKE_DIR/argv.kl-read-audience" | grep -cx -- '--backfill\|--once')" 2 \
    "the first: --backfill --once"
is "$(sed '1,/^--$/d' "$FAKE_DIR/argv.kl-read-audience" | grep -cx -- '--backfill\|--once\|--interval=30')" 1 \
    "the second: the watch, every poll_interval seconds"

# --- --dry-run. ----------------------------------------------------------
reset_fakes
run env LYTICS_API_KEY=k FAKE_KL_STREAM='json {"stream_name":"clicks","stream_status":"ACTIVE","open_shard_count":2}' \
    "$B/kl-import" --dry-run --job "$T/import.job"
is "$rc" 0 "--dry-run: exit 0"
is "$(printf '%s\n' "$out" | grep -vc '^#')" 2 "--dry-run: one line per stage"
is "$(printf '%s\n' "$out" | head -n 1)" \
    "$B/kl-read-shard --stream clicks --from trim-horizon --checkpoint $S/import.checkpoint.json --follow --poll-interval=2000 --region us-east-1 |" \
    "--dry-run: the first stage, ending in a pipe"
like "$out" "# kinesis stream 'clicks': found, ACTIVE, 2 open shards" \
    "--dry-run: the stream is checked"
like "$out" "# authorization: none named" "--dry-run: the authorization"
like "$out" "key from LYTICS_API_KEY" "--dry-run: the Lytics key"
is "$(tr '\n' ' ' <"$FAKE_DIR/argv.kl-stream")" \
    "--region us-east-1 describe clicks -- " "--dry-run: kl-stream describe"
ok $([ ! -e "$FAKE_DIR/argv.kl-read-shard" ]; echo $?) \
    "--dry-run: no stage ran"
reset_fakes
run env LYTICS_API_KEY=k FAKE_KL_STREAM='exit 1' \
    "$B/kl-import" --dry-run --job "$T/import.job"
is "$rc" 1 "--dry-run: a stream that is not there: exit 1"
like "$err" "import.job:4: kinesis_stream 'clicks'" "--dry-run: FILE:LINE"
printf 'auth = nosuch\n' >>"$T/import.job"
run env LYTICS_API_KEY=k KL_CONFIG_DIR="$T/auth" \
    "$B/kl-import" --dry-run --job "$T/import.job"
is "$rc" 2 "--dry-run: an unknown authorization: exit 2"
like "$err" "import.job:8: auth: no authorization named 'nosuch'" \
    "--dry-run: the authorization is named"
reset_fakes
run "$B/kl-import" --once --job "$T/import.job"
grep -qx -- nosuch "$FAKE_DIR/argv.kl-read-shard" &&
    grep -qx -- --auth "$FAKE_DIR/argv.kl-read-shard"
ok $? "auth is passed to kl-read-shard as --auth NAME"

# --- The default state folder. -------------------------------------------
sed '/^state_dir/d' "$T/export.job" >"$T/hv.job"
reset_fakes
run env XDG_STATE_HOME="$T/xdg" "$B/kl-export" --once --job "$T/hv.job"
ok $([ -f "$T/xdg/kl/hv/export.lock" ]; echo $?) \
    "no state_dir: \$XDG_STATE_HOME/kl/NAME"
run env STATE_DIRECTORY="$T/sd" "$B/kl-export" --once --job "$T/hv.job"
ok $([ -f "$T/sd/export.lock" ]; echo $?) "no state_dir: \$STATE_DIRECTORY"

# --- The stages are found next to the binary, else on PATH. --------------
mkdir -p "$T/lone"
cp "$B/kl-import" "$T/lone/"
run env PATH=/usr/bin:/bin "$T/lone/kl-import" --once --job "$T/import.job"
is "$rc" 1 "no stages next to it or on PATH: exit 1"
like "$err" "cannot find kl-read-shard next to kl-import or on PATH" \
    "no stages: said"
reset_fakes
run env PATH="$B:/usr/bin:/bin" "$T/lone/kl-import" --once \
    --job "$T/import.job"
is "$rc" 0 "stages on PATH: found"

# --- The progress line: only on a terminal (script(1)). ------------------
P=$top_builddir/tests/unit/t-progress
if command -v script >/dev/null 2>&1 && [ -x "$P" ]; then
	script -qec "$P --demo" /dev/null </dev/null >"$T/tty" 2>&1
	like "$(cat -v "$T/tty")" "^Mt-progress: " \
	    "on a terminal: a line rewritten with carriage returns"
	like "$(cat "$T/tty")" " of 3,000 records (" "with counts"
	like "$(cat "$T/tty")" "/s, lag 2.5 s, " "the rate and the lag"
	"$P" --demo 2>"$T/notty"
	is "$(lines "$T/notty")$(wc -c <"$T/notty" | tr -d ' ')" 00 \
	    "not a terminal: quiet"
else
	skip 4 "script(1) or t-progress missing"
fi
done_testing
