#!/bin/sh
# kl-auth-secrets.t - runs kl-auth.t and kl-assume-role.t again with every
# kl command at -vv (a wrapper first on PATH adds -vv and keeps a copy of
# all each run writes on stdout and stderr), then checks that the test
# secret key, and every secret key and session token the fake STS issued
# in those runs, appear nowhere except in credential records (and the
# export lines of --format env) on stdout.  The inner tests' own results
# do not count here: -vv changes their stderr.
. "$srcdir/tests/tap.sh"
. "$srcdir/tests/sts-lib.sh"

S=$T/secrets
mkdir -p "$S/bin" "$S/log"
if ! command -v bash >/dev/null 2>&1 || ! have_sts; then
	skip 8 "needs bash and the fake STS (python3-botocore)"
	done_testing
	exit 0
fi
for c in kl-auth kl-assume-role kl-stream; do
	real=$(command -v "$c") || continue
	# Signals are passed on, so the inner tests' signal cases still work.
	cat >"$S/bin/$c" <<EOF
#!/bin/bash
n=\$(mktemp "$S/log/$c.XXXXXX")
"$real" -vv "\$@" <&0 >"\$n.out" 2>"\$n.err" &
pid=\$!
for s in TERM INT HUP; do trap "kill -\$s \$pid 2>/dev/null" \$s; done
while kill -0 \$pid 2>/dev/null; do wait \$pid; done
wait \$pid
rc=\$?
cat "\$n.out"
cat "\$n.err" >&2
exit \$rc
EOF
	chmod 755 "$S/bin/$c"
done

for t in kl-auth kl-assume-role; do
	PATH="$S/bin:$PATH" KL_SECRETS_DIR=$S sh "$srcdir/tests/$t.t" \
	    >"$S/$t.tap" 2>&1
	diag "$t.t at -vv: $(grep -c '^ok' "$S/$t.tap") ok, $(grep -c '^not ok' "$S/$t.tap") not ok (-vv and the wrapper change stderr)"
	grep '^not ok' "$S/$t.tap" | head -n 10 | sed 's/^/#   /'
done

{
	printf '%s\n%s\n' "$TEST_SECRET" "$OTHER_SECRET"
	cat "$S"/issued.*.jsonl 2>/dev/null |
	    jq -r '.secret_access_key, .session_token'
} | sort -u >"$S/secrets"
nsec=$(wc -l <"$S/secrets" | tr -d ' ')
nruns=$(ls "$S/log" | grep -c '\.out$')
ok $(( nsec >= 40 ? 0 : 1 )) "the runs issued secrets to look for ($nsec)"
ok $(( nruns >= 150 ? 0 : 1 )) "the runs were captured ($nruns runs of kl)"
ndebug=$(cat "$S"/log/*.err | grep -c ': debug: ')
ok $(( ndebug >= 500 ? 0 : 1 )) "at -vv ($ndebug debug lines)"

# stderr: no secret at all.
cat "$S"/log/*.err | grep -F -f "$S/secrets" >"$S/err-leaks"
is "$(wc -l <"$S/err-leaks" | tr -d ' ')" 0 \
    "no secret key or session token on any stderr"
head -n 3 "$S/err-leaks" | cut -c 1-100 | sed 's/^/# /'

# stdout: only in credential records and export lines.
for f in "$S"/log/*.out; do
	jq -R -r '. as $l | try (fromjson | if type == "object" and
	    .Version == 1 and has("SecretAccessKey") then "RECORD" else $l
	    end) catch $l' "$f"
done >"$S/stdout"
grep -v '^export AWS_' "$S/stdout" | grep -F -f "$S/secrets" >"$S/out-leaks"
is "$(wc -l <"$S/out-leaks" | tr -d ' ')" 0 \
    "no secret on stdout outside credential records"
head -n 3 "$S/out-leaks" | cut -c 1-100 | sed 's/^/# /'
nrec=$(grep -c '^RECORD$' "$S/stdout")
ok $(( nrec >= 20 ? 0 : 1 )) "credential records were written ($nrec)"
cat "$S"/log/*.out | grep -F -f "$S/secrets" | grep -c . >"$S/n"
ok $(( $(cat "$S/n") >= nrec ? 0 : 1 )) \
    "the search finds the secrets where they belong ($(cat "$S/n") lines)"
ntok=$(cat "$S"/issued.*.jsonl | jq -r .session_token | sort -u |
    grep -F -f - "$S"/log/*.out | grep -c .)
ok $(( ntok >= 10 ? 0 : 1 )) "issued session tokens reached stdout ($ntok)"
done_testing
