# bench/lib.sh - shell functions for bench/run: peers on loopback,
# measurements, medians.  Sourced, never run; bash.
#
# Peers are started on free 127.0.0.1 ports, each one's PID kept in
# BL_PIDS, and stopped by that PID (bl_stop, or bl_stop_all from the
# EXIT trap); every wait is a bounded loop.  Measurements use GNU time
# around the client process alone, so a peer's CPU never counts:
#
#	bl_measure NAME CMD...   runs CMD (stdin, stdout and stderr as
#	                         given) under /usr/bin/time -f '%U %S %M %e'
#	                         into $BL_T/NAME.time and logs CMD once
#
# The caller sets BL_T (a scratch directory) before using anything here.

BL_PIDS=

# bl_port: prints a free TCP port on 127.0.0.1.
bl_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# bl_wait FILE REGEX [TRIES]: waits (TRIES x 50 ms, 200 by default) until
# FILE has a line matching REGEX; 1 if it never does.
bl_wait() {
	local i=0
	until grep -Eq "$2" "$1" 2>/dev/null; do
		i=$((i + 1))
		[ $i -le "${3:-200}" ] || return 1
		sleep 0.05
	done
}

# bl_forget PID: drops PID from BL_PIDS.
bl_forget() {
	local p keep=
	for p in $BL_PIDS; do
		[ "$p" = "$1" ] || keep="$keep $p"
	done
	BL_PIDS=$keep
}

# bl_stop PID: SIGTERM, up to 5 s for it to go, then SIGKILL; reaps it.
bl_stop() {
	local pid=$1 i=0
	[ -n "$pid" ] || return 0
	kill "$pid" 2>/dev/null
	while kill -0 "$pid" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -gt 100 ]; then
			kill -KILL "$pid" 2>/dev/null
			break
		fi
		sleep 0.05
	done
	wait "$pid" 2>/dev/null
	bl_forget "$pid"
	return 0
}

# bl_stop_all: stops every peer still running (the EXIT trap).
bl_stop_all() {
	local p
	for p in $BL_PIDS; do
		bl_stop "$p"
	done
}

# bl_kinesalite: (re)starts kinesalite (tests/peers/kinesalite-lo.js) on
# a free port: sets KIN_PID and KIN_URL.  A restart frees the memory the
# last case left (about 430 MB per million records).
bl_kinesalite() {
	local port try
	[ -z "${KIN_PID:-}" ] || bl_stop "$KIN_PID"
	KIN_PID=
	for try in 1 2; do
		port=$(bl_port)
		rm -f "$BL_T/kinesalite.log"	# no stale "ready" line
		node "$BL_ROOT/tests/peers/kinesalite-lo.js" "$port" \
		    >"$BL_T/kinesalite.log" 2>&1 &
		KIN_PID=$!
		BL_PIDS="$BL_PIDS $KIN_PID"
		if bl_wait "$BL_T/kinesalite.log" '^ready' 200; then
			KIN_URL=http://127.0.0.1:$port
			return 0
		fi
		bl_stop "$KIN_PID"
		KIN_PID=
	done
	echo "bench: kinesalite did not start" >&2
	cat "$BL_T/kinesalite.log" >&2
	return 1
}

# bl_standin [ARGS]: starts the Lytics stand-in with the key in
# $BL_T/lytics.key: sets LYT_PID and LYT_URL.
bl_standin() {
	[ -s "$BL_T/lytics.key" ] || {
		(umask 077 && printf 'bench-key-0123456789\n' >"$BL_T/lytics.key")
	}
	rm -f "$BL_T/standin.out"
	python3 "$BL_ROOT/tests/fakes/lytics-standin.py" --port 0 \
	    --key-file "$BL_T/lytics.key" "$@" >"$BL_T/standin.out" 2>&1 &
	LYT_PID=$!
	BL_PIDS="$BL_PIDS $LYT_PID"
	if ! bl_wait "$BL_T/standin.out" '"url"' 200; then
		echo "bench: the Lytics stand-in did not start" >&2
		cat "$BL_T/standin.out" >&2
		bl_stop "$LYT_PID"
		return 1
	fi
	LYT_URL=$(sed -n 's/.*"url": *"\([^"]*\)".*/\1/p' "$BL_T/standin.out" |
	    head -n 1)
}

# bl_canned CMD...: starts a canned responder that prints "ready PORT"
# (CMD may start with "taskset -c N", which execs it: same PID): sets
# CAN_PID and CAN_URL.
bl_canned() {
	rm -f "$BL_T/canned.out"
	"$@" >"$BL_T/canned.out" 2>"$BL_T/canned.err" &
	CAN_PID=$!
	BL_PIDS="$BL_PIDS $CAN_PID"
	if ! bl_wait "$BL_T/canned.out" '^ready [0-9]+' 200; then
		echo "bench: $* did not start" >&2
		bl_stop "$CAN_PID"
		return 1
	fi
	CAN_URL=http://127.0.0.1:$(awk '/^ready/ { print $2; exit }' \
	    "$BL_T/canned.out")
}

# bl_log_cmd CMD...: records CMD in $BL_T/commands, with the scratch
# directory, the source tree, the kl build, ports, batch numbers, shard
# ids and per-call values made generic, so each command shows once.
bl_log_cmd() {
	printf '%s\n' "$*" | sed -e "s#$BL_T#\$T#g" -e "s#$BL_ROOT/##g" \
	    -e 's#[^ =]*/cmd/\(kl-[a-z-]*\)#\1#g' \
	    -e 's#127\.0\.0\.1:[0-9][0-9]*#127.0.0.1:PORT#g' \
	    -e 's#batch-[0-9][0-9]*#batch-NN#g' \
	    -e 's#shardId-[0-9]*#shardId-N#g' \
	    -e 's#--shard-iterator [^ ]*#--shard-iterator IT#g' \
	    -e 's#--partition-key [^ ]*#--partition-key KEY#g' \
	    -e 's#--data [^ ]*#--data LINE#g' >>"$BL_T/commands"
}

# bl_measure NAME CMD...: runs CMD under GNU time into $BL_T/NAME.time
# ("user sys maxrss-KiB wall") and returns CMD's status.
bl_measure() {
	local name=$1
	shift
	bl_log_cmd "$@"
	/usr/bin/time -f '%U %S %M %e' -o "$BL_T/$name.time" "$@"
}

# bl_time NAME: prints the four figures of $BL_T/NAME.time (the last
# line: GNU time puts "Command exited with non-zero status" first).
bl_time() {
	tail -n 1 "$BL_T/$1.time"
}

# bl_median: the median of the numbers on stdin, one a line ("-" if none).
bl_median() {
	sort -g | awk '{ v[NR] = $1 } END {
	    if (NR == 0) print "-"
	    else if (NR % 2) print v[(NR + 1) / 2]
	    else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# bl_ms: wall clock in milliseconds.
bl_ms() {
	echo $(( $(date +%s%N) / 1000000 ))
}
