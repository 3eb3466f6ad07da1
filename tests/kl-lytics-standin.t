#!/bin/sh
# TAP test of the Lytics stand-in itself (tests/fakes/lytics-standin.py):
# every endpoint, error and hook, driven with curl and checked with jq.
# Self-contained for now; it will move onto tests/tap.sh.

set -u

top=$(cd "${srcdir:-$(dirname "$0")/..}" && pwd) || exit 1
PYTHON=${PYTHON:-/usr/bin/python3}
STANDIN=$top/tests/fakes/lytics-standin.py
SEED=$top/tests/data/lytics/seed.json
KEY=at.standin-test-key-0123456789

tmp=$(mktemp -d) || exit 1
pid=
pid2=
cleanup() {
	for p in $pid $pid2; do
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

n=0
failed=0
pass() { n=$((n + 1)); echo "ok $n - $1"; }
fail() {
	n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"
	shift
	for l in "$@"; do echo "# $l"; done
}
skip() { n=$((n + 1)); echo "ok $n # skip $1"; }
is() { # is GOT WANT DESC
	if [ "$1" = "$2" ]; then pass "$3"; else fail "$3" "got:  $1" "want: $2"; fi
}
t() { # t DESC COMMAND...: passes when COMMAND succeeds
	d=$1; shift
	if "$@" >/dev/null 2>&1; then pass "$d"; else fail "$d" "failed: $*"; fi
}
body() { head -c 400 "$tmp/b"; }
# chk DESC STATUS JQ: the last reply had STATUS and its body satisfies JQ
chk() {
	if [ "$code" = "$2" ] && jq -e "$3" "$tmp/b" >/dev/null 2>&1; then
		pass "$1"
	else
		fail "$1" "status $code (want $2), jq: $3" "body: $(body)"
	fi
}
# req METHOD PATH [CURL-ARGS]: reply body in $tmp/b, headers in $tmp/h,
# status in $code, curl's exit status in $rc
req() {
	m=$1 p=$2; shift 2
	code=$(curl -s -X "$m" -o "$tmp/b" -D "$tmp/h" -w '%{http_code}' "$@" "$url$p")
	rc=$?
}
# areq: req with the API key in the Authorization header (read from a
# file: no key in argv)
areq() { m=$1 p=$2; shift 2; req "$m" "$p" -H @"$tmp/auth" "$@"; }
post() { # post PATH JSON-TEXT [CURL-ARGS]
	p=$1 d=$2; shift 2
	areq POST "$p" -H 'Content-Type: application/json' --data-binary "$d" "$@"
}
hook() { m=$1 p=$2; shift 2; req "$m" "/_standin$p" "$@"; }
# start OUT ARGS...: run the stand-in, wait (bounded) for its first line;
# sets $spid and $surl
start() {
	o=$1; shift
	"$PYTHON" "$STANDIN" "$@" >"$o" 2>"$o.err" &
	spid=$!
	i=0
	until grep -q '^{"url":' "$o" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -gt 100 ] || ! kill -0 "$spid" 2>/dev/null; then
			return 1
		fi
		sleep 0.05
	done
	surl=$(jq -r .url "$o")
}
# scan_all SEG LIMIT: every page of a scan; uids in $tmp/scan, the
# totals seen in $tmp/totals, page count in $pages
scan_all() {
	: >"$tmp/scan"; : >"$tmp/totals"; s=; pages=0
	while :; do
		areq GET "/api/segment/$1/scan?limit=$2&start=$s"
		[ "$code" = 200 ] || return 1
		jq -r '.data[]._uid' "$tmp/b" >>"$tmp/scan"
		jq -r .total "$tmp/b" >>"$tmp/totals"
		s=$(jq -r ._next "$tmp/b")
		pages=$((pages + 1))
		[ $pages -le 2000 ] || return 1
		[ -n "$s" ] || return 0
	done
}

printf '%s\n' "$KEY" >"$tmp/key"
chmod 600 "$tmp/key"
printf 'Authorization: %s\n' "$KEY" >"$tmp/auth"

# ---------------------------------------------------------------- start-up

"$PYTHON" "$STANDIN" --help >"$tmp/help" 2>&1
is "$?" 0 '--help exits 0'
t '--help documents the hooks and the seed' \
	grep -q '/_standin/fault' "$tmp/help"

"$PYTHON" "$STANDIN" --port 0 >/dev/null 2>&1
is "$?" 2 'no --key-file: exit 2'
: >"$tmp/emptykey"
"$PYTHON" "$STANDIN" --port 0 --key-file "$tmp/emptykey" >/dev/null 2>"$tmp/err"
is "$?" 2 'empty key file: exit 2'
printf '{"segments":[{"name":"no slug"}]}' >"$tmp/badseed"
"$PYTHON" "$STANDIN" --port 0 --key-file "$tmp/key" --seed "$tmp/badseed" \
	>/dev/null 2>"$tmp/err"
is "$?" 2 'seed segment without slug_name: exit 2'

spid=
if start "$tmp/out" --port 0 --seed "$SEED" --key-file "$tmp/key" \
	--log "$tmp/log" --ready-file "$tmp/ready"; then
	pid=$spid url=$surl
	pass 'starts and prints its line within 5 s'
else
	pid=$spid
	fail 'starts and prints its line within 5 s' "$(cat "$tmp/out.err")"
	echo "1..$n"
	exit 1
fi
t 'start line is {"url","pid"} with our pid on 127.0.0.1' \
	jq -e --argjson p "$pid" \
	'(keys == ["pid","url"]) and .pid == $p and (.url | test("^http://127\\.0\\.0\\.1:[0-9]+$"))' \
	"$tmp/out"
t '--ready-file holds the same line' cmp "$tmp/out" "$tmp/ready"
port=${url##*:}
if command -v ss >/dev/null 2>&1; then
	ss -ltnH "sport = :$port" >"$tmp/ss" 2>/dev/null
	t 'listens on 127.0.0.1 only' sh -c \
		"grep -q '127.0.0.1:$port' '$tmp/ss' && ! grep -vq '127.0.0.1:$port' '$tmp/ss'"
else
	skip 'ss not installed'
fi
hook GET /health
chk 'health hook' 200 '.ok == true'

# ---------------------------------------------------------------- auth

req GET /api/segment
chk 'no credentials: 401 v1 envelope' 401 \
	'. == {"data":null,"message":"Not authorized","status":401}'
req GET /api/segment -H "@$tmp/auth" -H 'X-Dummy: 1'
chk 'raw token in Authorization header: 200' 200 '.status == 200 and .message == "success"'
printf 'Authorization: Bearer %s\n' "$KEY" >"$tmp/bearer"
req GET /api/segment -H "@$tmp/bearer"
chk 'Bearer TOKEN is a wrong token: 401' 401 '.status == 401 and .data == null'
req GET /api/segment -H 'Authorization: nope'
chk 'wrong token: 401' 401 '.message == "Not authorized"'
req GET "/api/segment?access_token=$KEY"
chk 'access_token query parameter: 200' 200 '.status == 200'
req GET "/api/segment?key=$KEY"
chk 'key query parameter: 200' 200 '.status == 200'
req GET "/api/segment?key=$KEY" -H 'Authorization: nope'
chk 'a wrong header is not rescued by a right key param' 401 '.status == 401'
req POST /collect/json/web -H 'Authorization: nope' -H 'Content-Type: application/json' \
	--data-binary '{"a":1}'
chk 'collect with a wrong token: 401' 401 '.status == 401'
t 'log names each auth form' sh -c "
	jq -e -s '[.[] | select(.path == \"/api/segment\") | [.auth, .auth_ok]] ==
		[[\"none\",false],[\"header\",true],[\"header\",false],[\"header\",false],
		 [\"access_token\",true],[\"key\",true],[\"header\",false]]' '$tmp/log'"
t 'log never holds the key' sh -c "! grep -qF '$KEY' '$tmp/log'"
t 'log redacts key query values' sh -c \
	"jq -e -s 'any(.[]; .query.access_token == \"<redacted>\") and any(.[]; .query.key == \"<redacted>\")' '$tmp/log'"

# ---------------------------------------------------------------- collect

post '/collect/json/web' '{"_e":"pv","email":"a@example.com"}'
chk 'collect one object: the 3.2 envelope' 200 \
	'.status == 200 and .message == "success" and
	 (.data | keys) == (["content-type","droperrors","dryrun","filename","message_count","rejected_count","timestamp_field"] | sort) and
	 .data.message_count == 1 and .data.rejected_count == 0 and .data.dryrun == false and
	 .data["content-type"] == "application/json" and .data.droperrors == false'
post '/collect/json/web?timestamp_field=ts&filename=f1.json' \
	'[{"n":1.10,"big":12345678901234567890123,"s":"a b"} , {"n":2}, 3, "x", null, [1], {"n":3,"_standin_reject":true}]'
chk 'array: non-objects and marked events counted as rejected' 200 \
	'.data.message_count == 2 and .data.rejected_count == 5 and
	 .data.timestamp_field == "ts" and .data.filename == "f1.json"'
post '/collect/json/web' '[]'
chk 'empty array: 200 with zero counts' 200 '.data.message_count == 0 and .data.rejected_count == 0'
post '/collect/json/web?dryrun=true' '[{"dry":1},{"dry":2}]'
chk 'dryrun=true echoed' 200 '.data.dryrun == true and .data.message_count == 2'
post '/collect/json/web?dryrun=maybe' '{"a":1}'
chk 'bad dryrun value: 400' 400 '.status == 400 and .data == null'
post /collect/json/web '{"a":'
chk 'invalid JSON: 400 v1 envelope' 400 \
	'.status == 400 and .data == null and (.message | startswith("Invalid JSON"))'
post /collect/json/web '42'
chk 'a scalar body: 400' 400 '.status == 400'
post /collect/json/web '{"a":NaN}'
chk 'NaN is not JSON: 400' 400 '.status == 400'
post /collect/json/web '{"a":1}
{"b":2}'
chk 'NDJSON body (no --accept-ndjson): 400' 400 '.status == 400'
post /collect/json/web '' 
chk 'empty body: 400' 400 '.status == 400'
printf '\377\376{}' >"$tmp/notutf8"
areq POST /collect/json/web -H 'Content-Type: application/json' --data-binary @"$tmp/notutf8"
chk 'body not UTF-8: 400' 400 '.status == 400'
areq POST /collect/json/web -H 'Content-Type: text/plain' --data-binary '{"a":1}'
chk 'Content-Type text/plain: 415' 415 '.status == 415 and .data == null'
areq POST /collect/json/web --data-binary '{"a":1}'
chk 'form Content-Type (curl default): 415' 415 '.status == 415'
post '/collect/json/web' '[{"ok":1},{"_standin_poison":true,"x":1}]'
chk 'batch with a poison event: 400, nothing stored' 400 '.status == 400 and .data == null'
areq GET /collect/json/web
chk 'GET on collect: 405' 405 '.status == 405'
t '405 names the allowed method' grep -qi '^Allow: POST' "$tmp/h"
post /collect/json/acct/web '{"a":1}'
chk '/collect/json/{account}/{stream} is not an endpoint: 404' 404 '.status == 404'

{ printf '{"pad":"'; head -c 10000000 /dev/zero | tr '\0' x; printf '"}'; } >"$tmp/huge"
areq POST /collect/json/web -H 'Content-Type: application/json' --data-binary @"$tmp/huge"
chk 'body over 10,000,000 bytes: 413 v1 envelope' 413 '.status == 413 and .data == null'
post /collect/json/web '{"after":"413"}'
chk 'collect works after a 413' 200 '.data.message_count == 1'

# chunked request body
printf '[{"chunked":1},{"chunked":2}]' | areq POST /collect/json/chunky \
	-H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' --data-binary @-
chk 'chunked request body' 200 '.data.message_count == 2'

cat >"$tmp/want-web" <<'EOF'
{"_e":"pv","email":"a@example.com"}
{"n":1.10,"big":12345678901234567890123,"s":"a b"}
{"n":2}
{"after":"413"}
EOF
hook GET '/events?stream=web'
t 'events hook: accepted events, arrival order, bytes as sent' cmp "$tmp/b" "$tmp/want-web"
hook GET '/events?stream=web&offset=3'
is "$(cat "$tmp/b")" '{"after":"413"}' 'events hook with offset'
hook GET '/events'
chk 'events hook needs stream' 400 '.error'
hook GET '/counts?stream=web'
chk 'counts per stream' 200 \
	'. == {"events":4,"batches":5,"rejected":5,"dryrun_batches":1,"dryrun_events":2,"poisoned":1}'
hook GET '/batches?stream=web'
t 'batches hook: timestamp_field, filename, dryrun, auth' sh -c "
	jq -e -s '.[1] | .events == 7 and .message_count == 2 and .rejected_count == 5 and
		.timestamp_field == \"ts\" and .filename == \"f1.json\" and .auth == \"header\" and
		.dryrun == false' '$tmp/b' &&
	jq -e -s '[.[].dryrun] == [false,false,false,true,false]' '$tmp/b'"

# keep-alive: two requests in one curl run share one connection
hook GET '/requests?limit=1'
c0=$(jq -r .conn "$tmp/b")
areq GET /api/segment/big -o /dev/null "$url/api/segment/empty"
hook GET '/requests?limit=2'
t 'keep-alive: two requests, one connection (Content-Length correct)' \
	jq -e -s --argjson c0 "$c0" '.[0].conn == .[1].conn and .[0].conn > $c0 and
		map(.status) == [200,200]' "$tmp/b"

# ---------------------------------------------------------------- segments

areq GET /api/segment
chk 'segment list: user table, default valid=all' 200 \
	'[.data[].slug_name] == ["high_value","big","empty","broken"]'
chk 'segment objects carry the documented fields' 200 \
	'.data[0] | .id == "efdcc4da20554be02e90c563f69bc0ec" and .kind == "segment" and
	 .table == "user" and .name == "High value" and .is_public == true and
	 (.created | test("Z$")) and (has("members") | not) and (has("generate") | not)'
areq GET '/api/segment?valid=true'
chk 'valid=true hides invalid segments' 200 '[.data[].slug_name] == ["high_value","big","empty"]'
areq GET '/api/segment?valid=false'
chk 'valid=false: only invalid ones' 200 '[.data[].slug_name] == ["broken"]'
areq GET '/api/segment?table=content'
chk 'table=content' 200 '[.data[].slug_name] == ["articles"]'
areq GET '/api/segment?valid=maybe'
chk 'bad valid value: 400' 400 '.status == 400'
areq GET /api/segment/high_value
chk 'fetch by slug' 200 '.data.id == "efdcc4da20554be02e90c563f69bc0ec" and .data.slug_name == "high_value"'
areq GET /api/segment/7a7f76ff97ad0e3e96c162f74aee8f8f
chk 'fetch by id' 200 '.data.slug_name == "big"'
areq GET /api/segment/nope
chk 'unknown segment: 404 v1 envelope' 404 '. == {"data":null,"message":"Not Found","status":404}'
areq POST /api/segment
chk 'POST /api/segment: 405' 405 '.status == 405'

# ---------------------------------------------------------------- scan

areq GET '/api/segment/high_value/scan?limit=2'
chk 'scan page 1: _next, total, data' 200 \
	'.status == 200 and .message == "success" and .total == 3 and (._next | length > 0) and
	 [.data[]._uid] == ["a-1","a-2"]'
chk 'scanned profiles: stored fields plus segments' 200 \
	'.data[0] == {"_uid":"a-1","email":"ann@example.com","first_name":"Ann","score_frequency":99,"segments":["high_value"]}'
next1=$(jq -r ._next "$tmp/b")
areq GET "/api/segment/high_value/scan?limit=2&start=$next1"
chk 'last page: _next is ""' 200 '._next == "" and .total == 3 and [.data[]._uid] == ["a-3"]'
cp "$tmp/b" "$tmp/page2"
areq GET "/api/segment/high_value/scan?limit=2&start=$next1"
t 'a retried page is the same page, byte for byte' cmp "$tmp/b" "$tmp/page2"
areq GET '/api/segment/big/scan'
chk 'limit defaults to 10' 200 '(.data | length) == 10 and .total == 1000 and .data[0]._uid == "u-0"'
areq GET '/api/segment/big/scan?limit=1000'
chk 'limit is clamped to 100' 200 '(.data | length) == 100'
areq GET '/api/segment/big/scan?limit=0'
chk 'limit 0 is clamped to 1' 200 '(.data | length) == 1'
areq GET '/api/segment/big/scan?limit=ten'
chk 'limit not an integer: 400' 400 '.status == 400'
areq GET '/api/segment/big/scan?limit=3&fields=email,_uid'
chk 'fields selects profile fields' 200 '[.data[] | keys] == [["_uid","email"],["_uid","email"],["_uid","email"]]'
areq GET '/api/segment/big/scan?start=bogus'
chk 'unknown start token: 400 v1 envelope' 400 '.status == 400 and .data == null and (.message | test("start"))'
areq GET "/api/segment/big/scan?start=$next1"
chk "another segment's token: 400" 400 '.status == 400'
areq GET '/api/segment/high_value/scan?limit=1'
next2=$(jq -r ._next "$tmp/b")
hook POST /scan/expire
chk 'scan/expire hook' 200 '.expired >= 1'
areq GET "/api/segment/high_value/scan?limit=1&start=$next2"
chk 'expired start token: 400 (client restarts the scan)' 400 '.status == 400'
areq GET /api/segment/empty/scan
chk 'empty segment: no rows, _next "", total 0' 200 '.data == [] and ._next == "" and .total == 0'
areq GET /api/segment/nope/scan
chk 'scan of an unknown segment: 404' 404 '.status == 404 and .message == "Not Found"'

if scan_all big 100; then
	is "$pages $(wc -l <"$tmp/scan") $(sort -u "$tmp/scan" | wc -l) $(sort -u "$tmp/totals")" \
		'10 1000 1000 1000' 'full scan of 1000 members: 10 pages, no repeats, total constant'
else
	fail 'full scan of 1000 members' "status $code: $(body)"
fi

# snapshot: membership changes during a scan do not show in it
areq GET '/api/segment/big/scan?limit=100'
snap=$(jq -r ._next "$tmp/b")
hook POST /segment/big/remove --data-binary '["u-500","u-501"]'
chk 'remove hook' 200 '.removed == 2 and .count == 998'
hook POST /segment/big/add --data-binary '[{"_uid":"late-1","email":"late@example.com"}]'
chk 'add hook (profile object)' 200 '.added == 1 and .count == 999'
: >"$tmp/rest"; s=$snap; i=0
while [ -n "$s" ] && [ $i -lt 50 ]; do
	areq GET "/api/segment/big/scan?limit=100&start=$s"
	jq -r '.data[]._uid' "$tmp/b" >>"$tmp/rest"
	jq -r .total "$tmp/b" >>"$tmp/rest-totals"
	s=$(jq -r ._next "$tmp/b"); i=$((i + 1))
done
t 'a scan in progress sees its snapshot' sh -c "
	[ \$(wc -l <'$tmp/rest') -eq 900 ] && grep -qx u-500 '$tmp/rest' &&
	! grep -qx late-1 '$tmp/rest' && [ \"\$(sort -u '$tmp/rest-totals')\" = 1000 ]"
scan_all big 100
t 'the next scan sees the change' sh -c "
	[ \$(wc -l <'$tmp/scan') -eq 999 ] && ! grep -qx u-500 '$tmp/scan' &&
	grep -qx late-1 '$tmp/scan' && [ \"\$(sort -u '$tmp/totals')\" = 999 ]"
hook POST /segment/big/add --data-binary '"u-500"'
chk 'add back a removed generated member' 200 '.added == 1 and .count == 1000'

# ---------------------------------------------------------------- entity

areq GET /api/entity/user/email/ann@example.com
chk 'entity by email: profile, segments, meta' 200 \
	'.status == 200 and .message == "success" and .data._uid == "a-1" and
	 .data.first_name == "Ann" and .data.segments == ["high_value"] and
	 .meta.name == "user" and .meta.format == "json"'
areq GET /api/entity/user/_uids/cookie-3
chk 'entity by an element of a list field' 200 '.data._uid == "a-3"'
areq GET /api/entity/user/email/u-7@example.com
chk 'entity of a generated member' 200 \
	'.data == {"_uid":"u-7","email":"u-7@example.com","segments":["big"]}'
areq GET '/api/entity/user/_uid/u-7?fields=email'
chk 'entity fields' 200 '.data == {"email":"u-7@example.com"}'
areq GET /api/entity/user/email/nobody@example.com
chk 'entity not found: 200 "Not Found" placeholder' 200 \
	'. == {"status":200,"message":"Not Found","data":{"segments":["not_found","all"]}}'
req GET /api/entity/user/email/ann@example.com
chk 'entity needs auth' 401 '.status == 401'

# ---------------------------------------------------------------- membership hooks

hook POST '/segment/empty/generate?count=1000000&prefix=m-&domain=m.example'
chk 'generate 1,000,000 members' 200 '.added == 1000000 and .count == 1000000'
areq GET '/api/segment/empty/scan?limit=100'
chk '1M audience: total, first page of 100' 200 \
	'.total == 1000000 and (.data | length) == 100 and .data[99] == {"_uid":"m-99","email":"m-99@m.example","segments":["empty"]}'
hook POST '/segment/empty/remove-range?prefix=m-&start=100&count=999890'
chk 'remove-range' 200 '.removed == 999890 and .count == 10110 - 10000'
hook GET /segment/empty/members
t 'members hook lists current uids' sh -c \
	"[ \$(wc -l <'$tmp/b') -eq 110 ] && tail -n1 '$tmp/b' | grep -qx '\"m-999999\"'"
hook POST '/segment/empty/generate?count=5&prefix=m-&start=98' --data-binary '{"tier":"gold"}'
chk 'generate over an existing range adds only new uids' 200 '.added == 3 and .count == 113'
areq GET /api/entity/user/_uid/m-101
chk 'generated fields from the generate body; domain per range' 200 \
	'.data.tier == "gold" and .data.email == "m-101@example.com"'
hook POST '/segment/empty/generate?count=5&prefix=m'
chk 'a prefix overlapping another range prefix: 409' 409 '.error'
hook GET /segment/empty
chk 'segment hook describes the membership' 200 '.count == 113 and .slug_name == "empty" and (.ranges | length) >= 2'
hook POST /segment/empty/clear
chk 'clear hook' 200 '.count == 0'
printf '"x-1"\n"x-2"\n{"_uid":"x-3","email":"x3@example.com"}\n' >"$tmp/nd"
hook POST /segment/empty/add --data-binary @"$tmp/nd"
chk 'add hook takes NDJSON' 200 '.added == 3 and .count == 3'
hook POST /segment/empty/add --data-binary '[{"email":"no-uid@example.com"}]'
chk 'add hook: profile without _uid is 400' 400 '.error'
hook POST /segment/nope/add --data-binary '["a"]'
chk 'hook on an unknown segment: 404' 404 '.error'
hook POST /segments -H 'Content-Type: application/json' \
	--data-binary '{"slug_name":"vip","members":["a-1"],"generate":{"count":2,"prefix":"v-"}}'
chk 'segments hook creates a segment' 200 '.created[0].slug_name == "vip" and .created[0].count == 3'
hook POST /segments --data-binary '{"slug_name":"vip"}'
chk 'creating an existing slug: 409' 409 '.error'
areq GET /api/entity/user/email/ann@example.com
chk 'profile segments follow membership' 200 '.data.segments == ["high_value","vip"]'
hook POST /profiles --data-binary '{"_uid":"v-0","email":"vee@example.com","plan":"pro"}'
chk 'profiles hook' 200 '.stored == 1'
areq GET '/api/segment/vip/scan?fields=_uid,plan'
chk 'stored profile replaces the generated one' 200 '.data[0] == {"_uid":"v-0","plan":"pro"}'
hook DELETE /segment/vip
chk 'delete a segment' 200 '.deleted'
areq GET /api/segment/vip
chk 'deleted segment: 404' 404 '.status == 404'

# ---------------------------------------------------------------- faults

hook POST '/fault?kind=429&count=2&retry_after=2&path=/collect/'
chk 'fault hook' 200 '.kind == 429 and .count == 2 and .retry_after == "2"'
post /collect/json/faulty '{"try":1}'
chk 'fault 429 with the v1 envelope' 429 '. == {"data":null,"message":"Too Many Requests","status":429}'
t 'fault 429 carries Retry-After' grep -qi '^Retry-After: 2' "$tmp/h"
areq GET /api/segment/big
chk 'path prefix: other paths unaffected' 200 '.status == 200'
post /collect/json/faulty '{"try":2}'
chk 'second 429' 429 '.status == 429'
post /collect/json/faulty '{"try":3}'
chk 'after count requests, normal again' 200 '.data.message_count == 1'
hook GET '/events?stream=faulty'
is "$(cat "$tmp/b")" '{"try":3}' 'faulted requests store nothing'
hook POST '/fault?kind=500'
req GET /api/segment/big
chk 'fault 500 (before auth)' 500 '.status == 500 and .data == null'
hook POST '/fault?kind=400&method=POST'
areq GET /api/segment/big
chk 'method filter: GET unaffected' 200 '.status == 200'
post /collect/json/faulty '{"try":4}'
chk 'fault 400' 400 '.status == 400'
hook POST '/fault?kind=drop'
post /collect/json/faulty '{"try":5}'
is "$rc" 52 'drop: connection closed without a reply (curl 52)'
hook POST '/fault?kind=reset'
post /collect/json/faulty '{"try":6}'
is "$rc" 56 'reset: connection reset (curl 56)'
hook POST '/fault?kind=drop&when=after&path=/collect/'
post /collect/json/faulty '{"try":7}'
is "$rc" 52 'drop after processing: no reply'
hook GET '/events?stream=faulty'
is "$(tail -n1 "$tmp/b")" '{"try":7}' '... but the events were stored (lost ack)'
hook POST /fault -H 'Content-Type: application/json' --data-binary '{"kind":"latency","ms":300}'
chk 'fault hook takes a JSON body' 200 '.kind == "latency" and .ms == 300'
tt=$(curl -s -o /dev/null -w '%{time_total}' -H @"$tmp/auth" "$url/api/segment/big")
t 'latency fault delays the reply (>= 0.3 s)' awk -v t="$tt" 'BEGIN { exit !(t >= 0.3) }'
hook POST '/fault?kind=503&count=-1&path=/api/entity/'
areq GET /api/entity/user/_uid/u-1
areq GET /api/entity/user/_uid/u-2
chk 'count=-1 lasts until cleared' 503 '.status == 503'
hook GET /faults
chk 'faults hook lists pending rules' 200 '[.faults[].kind] == [503]'
hook POST /faults/clear
areq GET /api/entity/user/_uid/u-2
chk 'faults/clear' 200 '.data._uid == "u-2"'
hook POST '/fault?kind=200'
chk 'fault kind must be 4xx/5xx or drop/reset/latency' 400 '.error'
hook GET /nope
chk 'unknown hook: 404' 404 '.error'

# ---------------------------------------------------------------- counts, reset

hook GET /counts
chk 'counts hook' 200 \
	'.requests > 50 and .status["401"] >= 5 and .auth.access_token >= 1 and .auth.key >= 1 and
	 .streams.web.events == 4 and .connections > 1'
hook GET '/requests?limit=1'
chk 'requests hook returns API requests only' 200 '.path == "/api/entity/user/_uid/u-2" and .status == 200'
hook POST /reset
hook GET /counts
chk 'reset forgets events and counters' 200 '.streams == {} and .requests == 0'
areq GET /api/segment/empty
hook GET /segment/empty
chk 'reset keeps membership' 200 '.count == 3'
hook POST '/reset?all=1'
hook GET /segment/empty
chk 'reset?all=1 restores the seed' 200 '.count == 0'
t 'every log line is JSON with the fields' sh -c "
	jq -e -s 'length > 100 and all(.[]; has(\"method\") and has(\"path\") and has(\"status\") and
		has(\"auth\") and has(\"req_bytes\") and has(\"query\"))' '$tmp/log'"

# ---------------------------------------------------------------- --accept-ndjson, stop

spid=
start "$tmp/out2" --port 0 --key-file "$tmp/key" --accept-ndjson
r=$?
pid2=$spid
if [ $r -eq 0 ]; then
	printf '{"n":1}\r\n\n{"n": 2}\n' | curl -s -o "$tmp/b" -H @"$tmp/auth" \
		-H 'Content-Type: application/x-ndjson' --data-binary @- "$surl/collect/json/nd"
	t '--accept-ndjson takes NDJSON bodies' jq -e '.data.message_count == 2' "$tmp/b"
	kill "$pid2"; wait "$pid2"; r=$?; pid2=
	is "$r" 0 'second instance stops on SIGTERM with 0'
else
	fail '--accept-ndjson instance starts' "$(cat "$tmp/out2.err")"
fi

kill "$pid"; wait "$pid"; r=$?; pid=
is "$r" 0 'SIGTERM: exit 0'
t 'nothing on stderr' test ! -s "$tmp/out.err"

echo "1..$n"
[ $failed -eq 0 ]
