#!/bin/sh
# man.t - every manual page lints clean with mandoc, and each command's
# usage text (--help) matches its page's SYNOPSIS, whitespace squeezed.
. "$srcdir/tests/tap.sh"

squeeze() { tr -s ' \t\n' '   ' | sed 's/^ //; s/ $//'; }

if [ -z "${MANDOC:-}" ] && ! command -v mandoc >/dev/null 2>&1; then
	skip 1 "mandoc not installed"
	done_testing
	exit 0
fi
MANDOC=${MANDOC:-mandoc}

for page in "$srcdir"/man/*.[1-9]; do
	name=$(basename "$page")
	lint=$($MANDOC -Tlint -Wwarning "$page" 2>&1)
	is "$lint" "" "$name lints clean"
	case $name in
	*.1) ;;
	*) continue ;;
	esac
	cmd=${name%.1}
	if ! command -v "$cmd" >/dev/null 2>&1; then
		skip 1 "$cmd not built"
		continue
	fi
	syn=$($MANDOC -Tascii -O width=1000 "$page" | col -b |
	    sed -n '/^SYNOPSIS/,/^DESCRIPTION/p' | sed '1d;$d' | squeeze)
	use=$("$cmd" --help 2>&1 | sed -n '/^usage:/,/^$/p' |
	    sed 's/^usage://' | squeeze)
	is "$use" "$syn" "$cmd --help usage matches the SYNOPSIS of $name"
done
done_testing
