#!/bin/sh
# kl-read-audience.t - kl-read-audience against the Lytics stand-in:
# --list, backfill, watch (baseline, enters and exits, backfill once per
# state folder), expired _next tokens, retried and fatal faults, keys,
# --fields, state folder errors, output errors, signals, and the memory
# of a 200,000-member comparison (1 and 5 million: bench/audience-5m.sh).
. "$srcdir/tests/tap.sh"

HV=efdcc4da20554be02e90c563f69bc0ec
BIG=7a7f76ff97ad0e3e96c162f74aee8f8f
EMPTY=42976a269a5e6b9d06c681b1c27292df
KEY=at.kl-read-audience-test-key
umask 077
printf '%s\n' "$KEY" >"$T/key"

if ! start_fake lytics-standin.py --seed "$srcdir/tests/data/lytics/seed.json" \
    --key-file "$T/key" --log "$T/req.log"; then
	bail "the Lytics stand-in did not start"
fi
K="--lytics-url $FAKE_URL --lytics-key-file $T/key"

hook() {	# hook PATH [BODY]
	curl -sf -X POST "$FAKE_URL/_standin/$1" ${2:+--data-binary "$2"} \
	    >/dev/null
}
# norm: the times of events, which change from run to run, as "T".
norm() {
	sed 's/"\(enter\|exit\|timestamp\)":"[0-9]\{4\}-[0-9][0-9]-[0-9][0-9]T[0-9:]\{8\}Z"/"\1":"T"/g'
}
# events FILE: "event uid" per line, sorted.
events() {
	jq -r '.data.segment_events[0].event + " " + .data._uid' "$1" | sort
}
members() {
	curl -sf "$FAKE_URL/_standin/segment/$1/members" | jq -r . | sort
}
scans() {	# scans ID: scan requests so far
	grep -c "/api/segment/$1/scan" "$T/req.log"
}
# bg_until_scans N CMD...: runs CMD in the background (stdout $T/bg.out,
# stderr $T/bg.err, PID $bg) and waits until N more scan pages of BIG
# were asked for.
bg_until_scans() {
	want=$(($(scans $BIG) + $1))
	shift
	"$@" >"$T/bg.out" 2>"$T/bg.err" &
	bg=$!
	i=0
	while [ "$(scans $BIG)" -lt "$want" ] && [ $i -lt 200 ]; do
		sleep 0.05
		i=$((i + 1))
	done
}

# Command line.
run kl-read-audience --help
is "$rc" 0 "--help exits 0"
like "$out" "usage: kl-read-audience [-hVv] --list" "--help prints the usage"
is "$err" "" "--help: nothing on stderr"
run kl-read-audience -V
like "$out" "kl-read-audience (kl) " "-V prints the version"
run kl-read-audience $K
is "$rc" 2 "no audience: exit 2"
like "$err" "usage:" "no audience: usage on stderr"
run kl-read-audience $K -a big
is "$rc" 2 "neither --backfill nor --watch: exit 2"
run kl-read-audience $K --watch -a big
is "$rc" 2 "--watch without --state: exit 2"
run kl-read-audience $K --list -a big
is "$rc" 2 "--list with --audience: exit 2"
run kl-read-audience $K --watch --state "$T/s0" --interval 0 -a big
is "$rc" 2 "--interval 0: exit 2"
is "$(grep -c /api/ "$T/req.log")" 0 "usage errors send nothing"

# --list.
run kl-read-audience $K --list
is "$rc" 0 "--list exits 0"
is "$out" '{"id":"efdcc4da20554be02e90c563f69bc0ec","slug":"high_value","name":"High value","description":""}
{"id":"7a7f76ff97ad0e3e96c162f74aee8f8f","slug":"big","name":"Big generated audience","description":""}
{"id":"42976a269a5e6b9d06c681b1c27292df","slug":"empty","name":"Nobody yet","description":""}
{"id":"163bda069207c88cfdb7c84e06b9270f","slug":"broken","name":"An invalid segment","description":""}' \
    "--list prints the user audiences, one per line"
is "$err" "" "--list: nothing on stderr"

# Backfill: the exact shape of contract 5.3.
sub_hv=$(printf '%s\n' $HV | md5sum | cut -c1-32)
run kl-read-audience $K --backfill -a high_value
is "$rc" 0 "backfill exits 0"
is "$err" "" "backfill: nothing on stderr"
is "$(printf '%s\n' "$out" | norm)" '{"id":"8321553814915269899","data":{"_uid":"a-1","email":"ann@example.com","first_name":"Ann","score_frequency":99,"segments":["high_value"],"segment_events":[{"id":"efdcc4da20554be02e90c563f69bc0ec","slug":"high_value","event":"enter","enter":"T"}]},"meta":{"object":"user","subscription_id":"'$sub_hv'","timestamp":"T"}}
{"id":"12942130382692628736","data":{"_uid":"a-2","email":"bob@example.com","first_name":"Bob","score_frequency":"50","segments":["high_value"],"segment_events":[{"id":"efdcc4da20554be02e90c563f69bc0ec","slug":"high_value","event":"enter","enter":"T"}]},"meta":{"object":"user","subscription_id":"'$sub_hv'","timestamp":"T"}}
{"id":"8110044834260647633","data":{"_uid":"a-3","email":"cy@example.com","first_name":"Cy","_uids":["a-3","cookie-3"],"segments":["high_value"],"segment_events":[{"id":"efdcc4da20554be02e90c563f69bc0ec","slug":"high_value","event":"enter","enter":"T"}]},"meta":{"object":"user","subscription_id":"'$sub_hv'","timestamp":"T"}}' \
    "backfill: one enter per member in Lytics' default payload"
like "$(sed -n 1p "$T/out")" '"enter":"20' "backfill: times are RFC 3339"
run kl-read-audience $K --backfill -a big
is "$rc" 0 "backfill of 1,000 members exits 0"
is "$(events "$T/out" | uniq | wc -l)" 1000 "every member once"
is "$(events "$T/out" | cut -d' ' -f1 | uniq -c | tr -s ' ')" " 1000 enter" \
    "every event an enter"
is "$(events "$T/out" | cut -d' ' -f2)" "$(members big)" \
    "the members are exactly the audience's"
is "$(jq -c '[(.data.segment_events | length),
    (.data.segment_events[0] | keys_unsorted), (.meta | keys_unsorted),
    .meta.object, .data.segment_events[0].id, .data.segment_events[0].slug,
    (.data | keys_unsorted | last)]' "$T/out" | sort -u)" \
    '[1,["id","slug","event","enter"],["object","subscription_id","timestamp"],"user","'$BIG'","big","segment_events"]' \
    "every event has the shape of contract 5.3"
bad_ids=$($PY -c '
import hashlib, json, sys
for l in open(sys.argv[1]):
    e = json.loads(l)
    k = e["data"]["_uid"].encode()
    if e["id"] != str(int.from_bytes(hashlib.md5(k).digest()[:8], "big")):
        print(e["data"]["_uid"])' "$T/out")
is "$bad_ids" "" "id: 64 bits of the MD5 of the member key"

run kl-read-audience $K --backfill -a nope
is "$rc" 1 "unknown audience: exit 1"
like "$err" "fatal: unknown audience 'nope'" "unknown audience: named"
is "$out" "" "unknown audience: nothing written"
run kl-read-audience $K --backfill -a high_value -a nope
is "$rc:$out" "1:" "an unknown audience among others: exit 1, nothing written"
run kl-read-audience $K --backfill -a articles
is "$rc" 1 "a content collection is no audience: exit 1"
printf 'wrong\n' >"$T/badkey"
run kl-read-audience --lytics-url "$FAKE_URL" --lytics-key-file "$T/badkey" \
    --backfill -a big
is "$rc" 1 "wrong key: exit 1"
like "$err" "HTTP 401" "wrong key: HTTP 401 reported"

# Two audiences; the subscription id does not depend on their order.
run kl-read-audience $K --backfill -a high_value,big
a=$(jq -r .meta.subscription_id "$T/out" | sort -u)
run kl-read-audience $K --backfill -a big -a high_value -a $HV
b=$(jq -r .meta.subscription_id "$T/out" | sort -u)
is "$(printf '%s\n' "$out" | wc -l)" 1003 "two audiences, one named twice: read once each"
is "$a" "$b" "subscription_id stable for the same audiences"
is "$a" "$(printf '%s\n' $HV $BIG | sort | md5sum | cut -c1-32)" \
    "subscription_id: MD5 of the sorted ids"
run kl-read-audience $K --backfill -a high_value --subscription-id sub-1
is "$(jq -r .meta.subscription_id "$T/out" | sort -u)" sub-1 \
    "--subscription-id sets it"

# Watch: a baseline, then exactly the difference.
S=$T/state
run kl-read-audience $K --watch --once --state "$S" -a big
is "$rc:$out:$err" "0::" "first watch: a baseline, nothing written"
is "$(wc -l <"$S/$BIG/members")" 1000 "the baseline holds 1,000 members"
hook "segment/big/remove-range?start=1&count=5"
hook "segment/big/generate?start=2000&count=3"
run kl-read-audience $K --watch --once --state "$S" -a big
is "$rc" 0 "second watch exits 0"
is "$(events "$T/out")" "enter u-2000
enter u-2001
enter u-2002
exit u-1
exit u-2
exit u-3
exit u-4
exit u-5" "the events are exactly the difference"
is "$(jq -c 'select(.data.segment_events[0].event == "exit") |
    .data.segment_events[0] | keys_unsorted' "$T/out" | sort -u)" \
    '["id","slug","event","exit"]' 'exits carry "exit":TIME'
is "$(jq -c 'select(.data._uid == "u-3") | .data.email' "$T/out")" \
    '"u-3@example.com"' "exits carry the member's saved fields"
run kl-read-audience $K --watch --once --state "$S" -a big
is "$rc:$out" "0:" "no change, no event"

S2=$T/state2
run kl-read-audience $K --backfill --watch --once --state "$S2" -a high_value
is "$(events "$T/out" | tr '\n' ' ')" "enter a-1 enter a-2 enter a-3 " \
    "--backfill --watch on a new folder: every member enters"
test -f "$S2/$HV/backfill"
ok $? "the backfill is recorded in the state"
run kl-read-audience $K --backfill --watch --once --state "$S2" -a high_value
is "$rc:$out" "0:" "backfill once per state folder: a rerun sends nothing"

# --backfill on a folder holding a baseline: the exits, then everyone.
S3=$T/state3
run kl-read-audience $K --watch --once --state "$S3" -a big
hook "segment/big/remove-range?start=6&count=1"
run kl-read-audience $K --backfill --watch --once --state "$S3" -a big
is "$(events "$T/out" | grep -c '^enter')" 997 "late backfill: every member enters"
is "$(events "$T/out" | grep '^exit')" "exit u-6" "late backfill: and the exit since"
run kl-read-audience $K --backfill --watch --once --state "$S3" -a big
is "$rc:$out" "0:" "late backfill: once"

# An expired _next token mid-scan restarts the scan: output still exact.
run kl-read-audience $K --watch --once --state "$S" -a big
hook "segment/big/remove-range?start=7&count=1"
hook "segment/big/generate?start=3000&count=1"
hook "fault?kind=latency&ms=150&count=-1&path=/api/segment/$BIG/scan"
bg_until_scans 3 kl-read-audience $K --watch --once --state "$S" -a big
hook "scan/expire"
wait $bg 2>/dev/null
rc=$?
hook "faults/clear"
is "$rc" 0 "expired _next in watch: exit 0"
like "$(cat "$T/bg.err")" "warning: scan of audience 'big' expired after" \
    "expired _next: a warning"
like "$(cat "$T/bg.err")" "restarting it" "expired _next: the scan restarts"
is "$(events "$T/bg.out" | tr '\n' ' ')" "enter u-3000 exit u-7 " \
    "expired _next in watch: exactly the difference"
hook "fault?kind=latency&ms=150&count=-1&path=/api/segment/$BIG/scan"
bg_until_scans 4 kl-read-audience $K --backfill -a big
hook "scan/expire"
wait $bg 2>/dev/null
rc=$?
hook "faults/clear"
is "$rc" 0 "expired _next in a backfill: exit 0"
is "$(events "$T/bg.out" | cut -d' ' -f2)" "$(members big)" \
    "expired _next in a backfill: every member exactly once"

# Retried faults: 429 with Retry-After, 500.
hook "fault?kind=429&retry_after=1&count=1&path=/api/segment/$BIG/scan"
hook "fault?kind=500&count=2&path=/api/segment/$BIG/scan"
run kl-read-audience $K --backfill -a big
is "$rc" 0 "429 and 500 on scan pages: exit 0"
like "$err" "HTTP 429" "the 429 is reported"
like "$err" "retry 3 of 10" "and retried"
is "$(events "$T/out" | cut -d' ' -f2)" "$(members big)" \
    "429 and 500: output exact"
hook "faults/clear"

# A fault that outlasts the retries: 75, nothing saved.
hook "segment/big/remove-range?start=8&count=1"
cp "$S/$BIG/members" "$T/members.before"
hook "fault?kind=500&count=-1&path=/api/segment/$BIG/scan"
run kl-read-audience $K --watch --once --state "$S" --retry-budget 1000 -a big
hook "faults/clear"
is "$rc" 75 "retries run out: exit 75"
is "$out" "" "retries run out: nothing written"
like "$err" "gave up after" "retries run out: said so"
cmp -s "$T/members.before" "$S/$BIG/members"
ok $? "retries run out: the state is not committed"
run kl-read-audience $K --watch --once --state "$S" -a big
is "$(events "$T/out")" "exit u-8" "the next run sends the difference"

# Keys and fields.
hook "segment/empty/add" '[{"_uid":"k-1","crm":"c1","first_name":"K"},{"_uid":"k-2"},{"_uid":"k-3","crm":42},{"_uid":"k-4","crm":""}]'
run kl-read-audience $K --backfill --key-field crm -a empty
is "$rc" 0 "members without the key field: exit 0"
is "$(jq -r '.data.crm' "$T/out" | sort | tr '\n' ' ')" "42 c1 " \
    "the members with a key are sent"
is "$(printf '%s\n' "$err" | grep -c "has no 'crm': skipped")" 2 \
    "each member without one is reported and skipped"
run kl-read-audience $K --backfill --fields first_name,nosuch -a high_value
is "$(jq -c '.data | keys_unsorted' "$T/out" | sort -u)" \
    '["_uid","first_name","segment_events"]' \
    "--fields: the key field, the fields asked for, segment_events"
like "$(grep "/api/segment/$HV/scan" "$T/req.log" | tail -n 1)" \
    '"fields":"_uid,email,first_name,nosuch"' "--fields: asked of Lytics too"

# State folders.
run kl-read-audience $K --watch --once --state "$S" --key-field email -a big
is "$rc" 2 "a state of another key field: exit 2"
like "$err" "not for audience" "a state of another key field: said so"
: >"$T/afile"
run kl-read-audience $K --watch --once --state "$T/afile" -a big
is "$rc" 2 "--state names a file: exit 2"
run kl-read-audience $K --watch --once --state "$T/no/such" -a big
is "$rc" 2 "--state in a missing folder: exit 2"
mkdir "$T/ro"
if [ "$(id -u)" -ne 0 ]; then
	chmod 500 "$T/ro"
	ro=1
elif chattr +i "$T/ro" 2>/dev/null; then
	trap 'chattr -i "$T/ro" 2>/dev/null; tap_cleanup' EXIT
	ro=1
else
	ro=0
fi
if [ $ro = 1 ]; then
	n=$(grep -c /api/ "$T/req.log")
	run kl-read-audience $K --watch --once --state "$T/ro" -a big
	chattr -i "$T/ro" 2>/dev/null
	chmod 700 "$T/ro"
	is "$rc" 2 "a state folder that is not writable: exit 2"
	like "$err" "is not a writable folder" "not writable: said so"
	is "$(grep -c /api/ "$T/req.log")" "$n" "not writable: nothing sent"
else
	skip 3 "cannot make a folder read-only here"
fi

# Output errors.
run kl-read-audience $K --backfill -a high_value
kl-read-audience $K --backfill -a big >/dev/full 2>"$T/err"
is "$?" 1 ">/dev/full: exit 1"
like "$(cat "$T/err")" "cannot write the standard output" ">/dev/full: said so"
mkdir "$T/tmpd"
{ TMPDIR=$T/tmpd kl-read-audience $K --backfill -a big 2>"$T/err"
    echo $? >"$T/rc"; } | head -n 1 >/dev/null
is "$(cat "$T/rc")" 141 "| head -n1: dies of SIGPIPE"
is "$(cat "$T/err")" "" "| head -n1: nothing on stderr"
is "$(ls "$T/tmpd")" "" "| head -n1: no temporary files left"
run kl-read-audience -vv $K --backfill -a high_value
unlike "$err" "$KEY" "-vv: the key never shows"
like "$err" "key from --lytics-key-file" "-vv: where the key came from"

# Signals.
hook "segment/big/remove-range?start=9&count=1"
cp "$S/$BIG/members" "$T/members.before"
hook "fault?kind=latency&ms=150&count=-1&path=/api/segment/$BIG/scan"
bg_until_scans 2 kl-read-audience $K --watch --once --state "$S" -a big
kill -TERM $bg
wait $bg 2>/dev/null
rc=$?
hook "faults/clear"
is "$rc" 143 "SIGTERM mid-scan: dies of it"
is "$(cat "$T/bg.out")" "" "SIGTERM mid-scan: nothing written"
cmp -s "$T/members.before" "$S/$BIG/members"
ok $? "SIGTERM mid-scan: the state is not committed"
run kl-read-audience $K --watch --once --state "$S" -a big
is "$(events "$T/out")" "exit u-9" "after SIGTERM the next run sends the difference"

S4=$T/state4
mkfifo "$T/fifo"
{ sleep 1; cat; } <"$T/fifo" >"$T/sig.out" &
rd=$!
kl-read-audience $K --backfill --watch --once --state "$S4" -a big \
    >"$T/fifo" 2>"$T/sig.err" &
pid=$!
sleep 0.5
kill -TERM $pid
wait $pid 2>/dev/null
rc=$?
wait $rd
is "$rc" 143 "SIGTERM mid-output: dies of it"
n=$(wc -l <"$T/sig.out")
is "$(jq -c . "$T/sig.out" 2>/dev/null | wc -l)" "$n" \
    "SIGTERM mid-output: the line in hand is finished ($n lines)"
test ! -e "$S4/$BIG/members" && test ! -e "$S4/$BIG/backfill"
ok $? "SIGTERM mid-output: a half-emitted difference is not committed"
run kl-read-audience $K --backfill --watch --once --state "$S4" -a big
is "$(wc -l <"$T/out")" 995 "the next run sends all of it again (at least once)"

kl-read-audience -v $K --watch --interval 60 --state "$S" -a big \
    >"$T/idle.out" 2>"$T/idle.err" &
pid=$!
wait_for "$T/idle.err" "info: audience 'big'" 200
kill -TERM $pid
wait $pid 2>/dev/null
is "$?" 143 "SIGTERM between scans: dies of it"

# Memory: a comparison of 200,000 members (each about 300 bytes) within
# 64 MiB.  A million takes the stand-in about 30 s a scan: see bench/.
if [ -x /usr/bin/time ]; then
	hook segments '{"slug_name":"mem","name":"memory test"}'
	pad=$(printf '%0200d' 0)
	hook "segment/mem/generate?count=200000&prefix=m-" "{\"note\":\"$pad\"}"
	/usr/bin/time -f %M -o "$T/rss1" kl-read-audience $K --watch --once \
	    --state "$T/mem" -a mem >"$T/out" 2>"$T/err"
	is "$?" 0 "200,000 members: baseline"
	hook "segment/mem/remove-range?count=1000&prefix=m-"
	hook "segment/mem/generate?start=200000&count=1000&prefix=m-" \
	    "{\"note\":\"$pad\"}"
	t0=$(date +%s)
	/usr/bin/time -f %M -o "$T/rss2" kl-read-audience $K --watch --once \
	    --state "$T/mem" -a mem >"$T/out" 2>"$T/err"
	is "$?" 0 "200,000 members: comparison"
	diag "200,000 members: peak RSS $(cat "$T/rss1") KiB (baseline)," \
	    "$(cat "$T/rss2") KiB (comparison, $(($(date +%s) - t0)) s)"
	is "$(events "$T/out" | cut -d' ' -f1 | uniq -c |
	    awk '{ printf "%s %s;", $1, $2 }')" "1000 enter;1000 exit;" \
	    "200,000 members: exactly the difference"
	if ldd "$(command -v kl-read-audience)" 2>/dev/null |
	    grep -q libasan; then
		skip 1 "AddressSanitizer's shadow memory: RSS not comparable"
	else
		test "$(cat "$T/rss2")" -le 65536
		ok $? "200,000 members compared within 64 MiB"
	fi
else
	skip 4 "no /usr/bin/time"
fi

done_testing
