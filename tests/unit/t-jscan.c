/*
 * t-jscan.c - tests for jscan.c and jread.c: accept and reject cases
 * written in the JSONTestSuite manner (y_ must pass, n_ must fail), minify
 * exactness, lookups, paths, iteration, decoders and writers, a
 * differential test against libjq 1.6 on every case, and a seeded random
 * round.
 *
 * Where libjq 1.6 and kl differ, kl is the strict one; each difference
 * was found by experiment against Debian 12's libjq 1.6 and is pinned by
 * an n_ case marked LAX, so a libjq that changes shows up here:
 *
 *   1. Invalid UTF-8 in strings (bad bytes, overlongs, encoded surrogates,
 *      past U+10FFFF, truncated sequences) becomes U+FFFD.
 *   2. Bare tokens go through strtod: leading zeros ("01"), "+1", ".5",
 *      "1.", "nan", "NaN", "-nan", "inf", "Infinity" are numbers (nan
 *      prints as null, infinities as +-1.7976931348623157e+308).
 *   3. Bytes JSON does not allow outside strings are glued into such a
 *      token: "\f1", "\v1" and "[\f1]" are 1 (strtod skips them), a NUL
 *      byte reads as 0 ("\0", "[1,\0]"), and "1\x1e" (RS) is 1.
 *   4. A UTF-8 byte order mark before the value is skipped.
 *   5. A raw NUL or US (0x1f) byte inside a string is accepted: its check
 *      is 0 < c < 0x1f.  The other control bytes are rejected.
 *   6. A lone low surrogate escape ("\udc00") becomes U+FFFD.  A lone high
 *      one is rejected, as in kl.
 *   7. An RS byte (0x1e, the JSON text sequence separator) resets libjq's
 *      parser once a value is complete, even inside a string opened after
 *      it, if what the string holds so far passes libjq's literal check
 *      (nothing, a number or a literal: '0"1e5\x1e', '"a" "\x1e',
 *      '[1]"true\x1e' are the first value; what follows the RS is
 *      dropped).  The oracle takes any string of letters, digits, '+',
 *      '-' and '.', after white space (strtod skips it), ended by RS as
 *      this case.  RS outside strings is
 *      covered by 3, as it is glued into a bare token.
 *
 * They agree on the rest, including trailing commas, "1 2", lone high
 * surrogates and the depth limit (n_ cases marked SAME).  libjq reads
 * numbers as doubles (12345678901234567890123 prints as
 * 12345678901234568000000), so values are compared through kl_js_double;
 * that kl keeps every digit is test_minify's business.
 *
 * The oracle below (jq_lax, differ, same) is shared with the libFuzzer
 * target tests/fuzz/fz-jscan.c, which includes this file with
 * KL_JSCAN_ORACLE_ONLY defined.  It checks the exceptions with its own,
 * deliberately naive code, never with jscan.c's.
 *
 * KL_JSCAN_BENCH=1 in the environment adds a benchmark of typical records.
 */
#include <config.h>

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jv.h>

#include "kl.h"

const char *__lsan_default_suppressions(void);

/*
 * libjq 1.6 leaks the string when one follows a value without a separator
 * ('[1 "a"]', '{"a":1 "b":2}'); LeakSanitizer ignores leaks from libjq
 * (tests/data/jscan/libjq.supp does the same for valgrind).
 */
const char *
__lsan_default_suppressions(void)
{
	return "leak:libjq.so\n";
}

/* A bare token in libjq's lexer: anything but whitespace, structure, '"'. */
static int
bare(unsigned char c)
{
	return c == '\0' || strchr(" \t\r\n[]{}:,\"", c) == NULL;
}

/* Whether t[0..n) is true, false, null or an RFC 8259 number. */
static int
strict_token(const char *t, size_t n)
{
	size_t i = 0;

	if ((n == 4 && memcmp(t, "true", 4) == 0) ||
	    (n == 5 && memcmp(t, "false", 5) == 0) ||
	    (n == 4 && memcmp(t, "null", 4) == 0))
		return 1;
#define DIG(k)	((k) < n && t[k] >= '0' && t[k] <= '9')
	if (i < n && t[i] == '-')
		i++;
	if (i < n && t[i] == '0')
		i++;
	else if (DIG(i))
		while (DIG(i))
			i++;
	else
		return 0;
	if (i < n && t[i] == '.') {
		i++;
		if (!DIG(i))
			return 0;
		while (DIG(i))
			i++;
	}
	if (i < n && (t[i] == 'e' || t[i] == 'E')) {
		if (++i < n && (t[i] == '+' || t[i] == '-'))
			i++;
		if (!DIG(i))
			return 0;
		while (DIG(i))
			i++;
	}
#undef DIG
	return i == n;
}

/* Whether p[0..n) is UTF-8 as Unicode defines it, by decoding. */
static int
utf8_ok(const unsigned char *p, size_t n)
{
	size_t i = 0, len, k;
	unsigned long cp;

	while (i < n) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		len = p[i] >= 0xf0 ? 4 : p[i] >= 0xe0 ? 3 :
		    p[i] >= 0xc0 ? 2 : 0;
		if (len == 0 || p[i] > 0xf7 || i + len > n)
			return 0;
		cp = p[i] & (0x7f >> len);
		for (k = 1; k < len; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		if (cp < (len == 2 ? 0x80UL : len == 3 ? 0x800UL : 0x10000UL) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += len;
	}
	return 1;
}

/* Whether p[0..n) holds one of the libjq 1.6 exceptions listed above. */
static int
jq_lax(const char *p, size_t n)
{
	size_t i = 0, j;
	unsigned long v;
	int high;

	if (!utf8_ok((const unsigned char *)p, n))
		return 1;					/* 1 */
	while (i < n) {
		if (bare(p[i])) {
			for (j = i; j < n && bare(p[j]); j++)
				;
			if (!strict_token(p + i, j - i))
				return 1;			/* 2, 3, 4 */
			i = j;
		} else if (p[i] == '"') {
			for (j = i + 1; j < n && isspace((unsigned char)p[j]); j++)
				;
			for (; j < n && (isalnum((unsigned char)p[j]) ||
			    p[j] == '+' || p[j] == '-' || p[j] == '.'); j++)
				;
			if (j < n && p[j] == 0x1e)
				return 1;			/* 7 */
			for (i++, high = 0; i < n && p[i] != '"'; i++) {
				if (p[i] == '\0' || p[i] == 0x1f)
					return 1;		/* 5 */
				if (p[i] != '\\' || i + 1 == n) {
					high = 0;
					continue;
				}
				if (p[++i] != 'u' || i + 4 >= n) {
					high = 0;
					continue;
				}
				v = strtoul((char []){ p[i + 1], p[i + 2],
				    p[i + 3], p[i + 4], '\0' }, NULL, 16);
				if (v >= 0xdc00 && v <= 0xdfff && !high)
					return 1;		/* 6 */
				high = !high && v >= 0xd800 && v <= 0xdbff;
				i += 4;
			}
			i++;
		} else
			i++;
	}
	return 0;
}

/*
 * Compares a span of validated text with libjq's reading of the same
 * text (j is not consumed), walking members by iteration and checking
 * that every one can be looked up and reached by path.  Returns NULL, or
 * what differs.
 */
static const char *
same(const struct kl_jspan *v, jv j)
{
	static const int kinds[] = { 0, JV_KIND_OBJECT, JV_KIND_ARRAY,
	    JV_KIND_STRING, JV_KIND_NUMBER, JV_KIND_TRUE, JV_KIND_FALSE,
	    JV_KIND_NULL };
	struct kl_jiter it;
	struct kl_jspan k, e, hit, viap;
	struct kl_buf b;
	const char *r = NULL;
	char path[32];
	double d;
	int64_t i64;
	int i, distinct;

	if (v->type < KL_JOBJ || v->type > KL_JNUL ||
	    (int)jv_get_kind(j) != kinds[v->type])
		return "types differ";
	kl_buf_init(&b);
	switch (v->type) {
	case KL_JOBJ:
		if (kl_js_iter_init(&it, v) != 0)
			r = "cannot iterate";
		for (distinct = 0; r == NULL && kl_js_iter_next(&it, &k, &e);) {
			kl_buf_reset(&b);
			kl_js_str(&k, &b);
			if (kl_js_getn(v, b.data, b.len, &hit) != 1) {
				r = "member not found by its name";
				break;
			}
			if (hit.p != e.p)
				continue;	/* a later duplicate wins */
			distinct++;
			if (b.len > 0 && strlen(b.data) == b.len &&
			    strpbrk(b.data, ".[") == NULL &&
			    (kl_js_path(v, b.data, &viap) != 1 ||
			    viap.p != hit.p))
				r = "member not reached by path";
			else {
				jv m = jv_object_get(jv_copy(j),
				    jv_string_sized(b.data, (int)b.len));
				r = same(&hit, m);
				jv_free(m);
			}
		}
		if (r == NULL && distinct != jv_object_length(jv_copy(j)))
			r = "member counts differ";
		break;
	case KL_JARR:
		if (kl_js_iter_init(&it, v) != 0)
			r = "cannot iterate";
		for (i = 0; r == NULL && kl_js_iter_next(&it, NULL, &e); i++) {
			snprintf(path, sizeof(path), "[%d]", i);
			if (kl_js_path(v, path, &viap) != 1 || viap.p != e.p)
				r = "element not reached by path";
			else {
				jv m = jv_array_get(jv_copy(j), i);
				r = same(&e, m);
				jv_free(m);
			}
		}
		if (r == NULL && i != jv_array_length(jv_copy(j)))
			r = "array lengths differ";
		break;
	case KL_JSTR:
		if (kl_js_str(v, &b) != 0 || b.len != (size_t)
		    jv_string_length_bytes(jv_copy(j)) ||
		    memcmp(b.data, jv_string_value(j), b.len) != 0)
			r = "strings differ";
		else if (!kl_js_streqn(v, jv_string_value(j), b.len))
			r = "kl_js_streqn disagrees";
		break;
	case KL_JNUM:
		if (kl_js_double(v, &d) != 0 && errno != ERANGE)
			r = "kl_js_double failed";
		else if (d != jv_number_value(j))
			r = "numbers differ";
		else if (kl_js_i64(v, &i64) == 0 && i64 < (1LL << 53) &&
		    i64 > -(1LL << 53) && (double)i64 != jv_number_value(j))
			r = "kl_js_i64 differs";
		break;
	}
	kl_buf_free(&b);
	return r;
}

/*
 * Runs kl and libjq on p[0..n) and checks that they agree up to the
 * exceptions, and the minify invariants.  Returns NULL, or what failed.
 */
static const char *
differ(const char *p, size_t n)
{
	struct kl_jspan top, top2;
	struct kl_buf m1, m2;
	const char *r = NULL;
	jv j, j2;
	int kl_ok, jq_ok;

	kl_ok = kl_js_parse(p, n, &top, NULL) == 0;
	j = jv_parse_sized(p, (int)n);
	jq_ok = jv_is_valid(j);
	if (kl_ok && !jq_ok)
		r = "kl accepts what libjq rejects";
	else if (kl_ok && jq_lax(p, n))
		r = "kl accepts what the oracle calls invalid";
	else if (!kl_ok && jq_ok && !jq_lax(p, n))
		r = "kl rejects what libjq accepts, with no exception";
	if (r != NULL || !kl_ok) {
		jv_free(j);
		return r;
	}
	if ((r = same(&top, j)) != NULL) {
		jv_free(j);
		return r;
	}
	kl_buf_init(&m1);
	kl_buf_init(&m2);
	if (kl_js_minify(&m1, p, n, &top2, NULL) != 0)
		r = "minify fails on valid text";
	else if (top2.p != top.p || top2.n != top.n || top2.type != top.type)
		r = "minify and parse give different spans";
	else if (m1.len > top.n || kl_js_minify(&m2, m1.data, m1.len, NULL,
	    NULL) != 0 || m2.len != m1.len ||
	    memcmp(m1.data, m2.data, m1.len) != 0)
		r = "minify is not idempotent";
	else {
		j2 = jv_parse_sized(m1.data, (int)m1.len);
		if (!jv_equal(jv_copy(j), j2))
			r = "minified text reads differently in libjq";
	}
	kl_buf_free(&m1);
	kl_buf_free(&m2);
	jv_free(j);
	return r;
}

#ifndef KL_JSCAN_ORACLE_ONLY
#include "tap.h"

#define S(lit)	lit, sizeof(lit) - 1	/* a literal that may hold NULs */

enum { SAME, LAX };

static const struct jcase {
	const char	*name;
	const char	*in;
	size_t		 len;
	int		 code;		/* KL_JE_NONE for y_ cases */
	int		 jq;		/* SAME, or LAX: a libjq exception */
} cases[] = {
	{ "y_empty_array", S("[]"), 0, SAME },
	{ "y_empty_object", S("{}"), 0, SAME },
	{ "y_empty_string", S("\"\""), 0, SAME },
	{ "y_zero", S("0"), 0, SAME },
	{ "y_minus_zero", S("-0"), 0, SAME },
	{ "y_number_forms", S("[-0.0e-0,1E+2,1e-2,0.5,-12.25E3,10]"), 0, SAME },
	{ "y_number_huge_exp", S("[1e400,-1e400,1e-400]"), 0, SAME },
	{ "y_number_big_int", S("12345678901234567890123"), 0, SAME },
	{ "y_literals", S("[true,false,null]"), 0, SAME },
	{ "y_true", S("true"), 0, SAME },
	{ "y_null", S("null"), 0, SAME },
	{ "y_ws_around", S(" \t\r\n[ 1 , \"x\" ] \n"), 0, SAME },
	{ "y_ws_everywhere", S("{ \"a\" : [ 1 , { } , [ ] ] , \"b\":null }"),
	    0, SAME },
	{ "y_nested", S("{\"a\":[{\"b\":null,\"c\":[[],{}]}]}"), 0, SAME },
	{ "y_escapes", S("\"\\/\\b\\f\\n\\r\\t\\\"\\\\\""), 0, SAME },
	{ "y_escape_nul", S("\"a\\u0000b\""), 0, SAME },
	{ "y_escape_pair", S("\"\\ud83d\\ude00\""), 0, SAME },
	{ "y_escape_pair_max", S("\"\\uDBFF\\uDFFF\""), 0, SAME },
	{ "y_escape_bmp", S("\"\\u00e9\\u20AC\\uffff\\ud7ff\\ue000\""), 0,
	    SAME },
	{ "y_utf8_2", S("\"\xc2\x80\xdf\xbf\""), 0, SAME },
	{ "y_utf8_3", S("\"\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf\""),
	    0, SAME },
	{ "y_utf8_4", S("\"\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\""), 0, SAME },
	{ "y_del", S("\"\x7f\""), 0, SAME },
	{ "y_long_string", S("\"0123456789abcdef0123456789abcdef0123\""), 0,
	    SAME },
	{ "y_dup_keys", S("{\"a\":1,\"a\":2}"), 0, SAME },
	{ "y_dup_keys_escaped", S("{\"a\":1,\"\\u0061\":[2]}"), 0, SAME },
	{ "y_empty_key", S("{\"\":0}"), 0, SAME },
	{ "y_key_nul", S("{\"a\\u0000b\":1,\"a\":2}"), 0, SAME },
	{ "y_key_quote", S("{\"a\\\"b\":\"x\\\\\"}"), 0, SAME },

	{ "n_empty", S(""), KL_JE_EOF, SAME },
	{ "n_only_ws", S(" \n"), KL_JE_EOF, SAME },
	{ "n_open_array", S("["), KL_JE_EOF, SAME },
	{ "n_open_object", S("{"), KL_JE_EOF, SAME },
	{ "n_array_unclosed", S("[1"), KL_JE_EOF, SAME },
	{ "n_array_comma_eof", S("[1,"), KL_JE_EOF, SAME },
	{ "n_object_key_eof", S("{\"a\""), KL_JE_EOF, SAME },
	{ "n_object_colon_eof", S("{\"a\":"), KL_JE_EOF, SAME },
	{ "n_string_unclosed", S("\"abc"), KL_JE_EOF, SAME },
	{ "n_string_backslash_eof", S("\"\\"), KL_JE_EOF, SAME },
	{ "n_array_trailing_comma", S("[1,]"), KL_JE_CHAR, SAME },
	{ "n_object_trailing_comma", S("{\"a\":1,}"), KL_JE_CHAR, SAME },
	{ "n_array_leading_comma", S("[,1]"), KL_JE_CHAR, SAME },
	{ "n_array_double_comma", S("[1,,2]"), KL_JE_CHAR, SAME },
	{ "n_array_no_comma", S("[1 2]"), KL_JE_CHAR, SAME },
	{ "n_array_colon", S("[1:2]"), KL_JE_CHAR, SAME },
	{ "n_object_no_colon", S("{\"a\" 1}"), KL_JE_CHAR, SAME },
	{ "n_object_comma_for_colon", S("{\"a\",1}"), KL_JE_CHAR, SAME },
	{ "n_object_no_comma", S("{\"a\":1 \"b\":2}"), KL_JE_CHAR, SAME },
	{ "n_object_number_key", S("{1:2}"), KL_JE_CHAR, SAME },
	{ "n_object_single_quotes", S("{'a':1}"), KL_JE_CHAR, SAME },
	{ "n_mismatched", S("[1}"), KL_JE_CHAR, SAME },
	{ "n_close_only", S("]"), KL_JE_CHAR, SAME },
	{ "n_extra_close", S("[1]]"), KL_JE_TRAIL, SAME },
	{ "n_extra_close_object", S("{\"a\":1}}"), KL_JE_TRAIL, SAME },
	{ "n_two_values", S("1 2"), KL_JE_TRAIL, SAME },
	{ "n_comma_values", S("1,2"), KL_JE_TRAIL, SAME },
	{ "n_trailing_garbage", S("[1] x"), KL_JE_TRAIL, SAME },
	{ "n_trailing_ff", S("1\f"), KL_JE_TRAIL, SAME },
	{ "n_comment", S("/*x*/1"), KL_JE_CHAR, SAME },
	{ "n_lit_short", S("tru"), KL_JE_LIT, SAME },
	{ "n_lit_long", S("truex"), KL_JE_TRAIL, SAME },
	{ "n_lit_case", S("[True]"), KL_JE_CHAR, SAME },
	{ "n_lit_nul", S("nul"), KL_JE_LIT, SAME },
	{ "n_number_minus", S("-"), KL_JE_NUM, SAME },
	{ "n_number_exp_eof", S("1e"), KL_JE_NUM, SAME },
	{ "n_number_exp_sign_eof", S("1e+"), KL_JE_NUM, SAME },
	{ "n_number_minus_minus", S("--1"), KL_JE_NUM, SAME },
	{ "n_number_two_dots", S("1.5.5"), KL_JE_TRAIL, SAME },
	{ "n_number_hex", S("0x10"), KL_JE_TRAIL, SAME },
	{ "n_number_underscore", S("1_000"), KL_JE_TRAIL, SAME },
	{ "n_number_minus_space", S("[- 1]"), KL_JE_NUM, SAME },
	{ "n_nbsp", S("\xc2\xa0" "1"), KL_JE_CHAR, SAME },
	{ "n_bad_byte_outside", S("\xff"), KL_JE_CHAR, SAME },
	{ "n_ctrl_in_string", S("\"a\x01" "b\""), KL_JE_CTRL, SAME },
	{ "n_tab_in_string", S("\"a\tb\""), KL_JE_CTRL, SAME },
	{ "n_newline_in_string", S("\"a\nb\""), KL_JE_CTRL, SAME },
	{ "n_escape_q", S("\"\\q\""), KL_JE_ESC, SAME },
	{ "n_escape_a", S("\"\\a\""), KL_JE_ESC, SAME },
	{ "n_escape_U", S("\"\\U0041\""), KL_JE_ESC, SAME },
	{ "n_escape_short_u", S("\"\\u00\""), KL_JE_ESC, SAME },
	{ "n_escape_bad_hex", S("\"\\u12G4\""), KL_JE_ESC, SAME },
	{ "n_lone_high", S("\"\\ud800\""), KL_JE_SURR, SAME },
	{ "n_lone_high_char", S("\"\\ud800x\""), KL_JE_SURR, SAME },
	{ "n_high_then_bmp", S("\"\\ud800\\u0041\""), KL_JE_SURR, SAME },
	{ "n_high_high", S("\"\\ud800\\ud800\""), KL_JE_SURR, SAME },
	{ "n_low_high", S("\"\\udc00\\ud800\""), KL_JE_SURR, SAME },
	{ "n_depth_arrays_257", NULL, 257, KL_JE_DEPTH, SAME },
	{ "n_depth_objects_129", NULL, 129, KL_JE_DEPTH, SAME },

	/* libjq 1.6 exception 1: invalid UTF-8 becomes U+FFFD. */
	{ "n_utf8_ff", S("\"\xff\""), KL_JE_UTF8, LAX },
	{ "n_utf8_lone_continuation", S("\"\x80\""), KL_JE_UTF8, LAX },
	{ "n_utf8_overlong_nul", S("\"\xc0\x80\""), KL_JE_UTF8, LAX },
	{ "n_utf8_overlong_2", S("\"\xc1\xbf\""), KL_JE_UTF8, LAX },
	{ "n_utf8_overlong_3", S("\"\xe0\x80\xaf\""), KL_JE_UTF8, LAX },
	{ "n_utf8_overlong_4", S("\"\xf0\x80\x80\x80\""), KL_JE_UTF8, LAX },
	{ "n_utf8_surrogate", S("\"\xed\xa0\x80\""), KL_JE_UTF8, LAX },
	{ "n_utf8_past_max", S("\"\xf4\x90\x80\x80\""), KL_JE_UTF8, LAX },
	{ "n_utf8_five_bytes", S("\"\xf8\x88\x80\x80\x80\""), KL_JE_UTF8, LAX },
	{ "n_utf8_truncated_2", S("\"\xc2\""), KL_JE_UTF8, LAX },
	{ "n_utf8_truncated_3", S("\"\xe2\x82\""), KL_JE_UTF8, LAX },
	{ "n_utf8_bad_continuation", S("\"\xc2\x41\""), KL_JE_UTF8, LAX },
	/* Exception 2: bare tokens go through strtod. */
	{ "n_number_leading_zero", S("01"), KL_JE_NUM, LAX },
	{ "n_number_leading_zeros", S("[00]"), KL_JE_NUM, LAX },
	{ "n_number_neg_leading_zero", S("-01"), KL_JE_NUM, LAX },
	{ "n_number_leading_zero_member", S("{\"a\":01}"), KL_JE_NUM, LAX },
	{ "n_number_plus", S("+1"), KL_JE_CHAR, LAX },
	{ "n_number_dot_first", S(".5"), KL_JE_CHAR, LAX },
	{ "n_number_neg_dot_first", S("-.5"), KL_JE_NUM, LAX },
	{ "n_number_dot_last", S("1."), KL_JE_NUM, LAX },
	{ "n_number_dot_last_in_array", S("[1.]"), KL_JE_NUM, LAX },
	{ "n_number_dot_exp", S("1.e5"), KL_JE_NUM, LAX },
	{ "n_nan", S("nan"), KL_JE_LIT, LAX },
	{ "n_NaN", S("NaN"), KL_JE_CHAR, LAX },
	{ "n_minus_nan", S("-nan"), KL_JE_NUM, LAX },
	{ "n_inf", S("inf"), KL_JE_CHAR, LAX },
	{ "n_Infinity", S("Infinity"), KL_JE_CHAR, LAX },
	{ "n_minus_Infinity", S("[-Infinity]"), KL_JE_NUM, LAX },
	/* Exception 3: other bytes glued into a bare token. */
	{ "n_ff_before", S("\f1"), KL_JE_CHAR, LAX },
	{ "n_vt_before", S("\v1"), KL_JE_CHAR, LAX },
	{ "n_ff_in_array", S("[\f1]"), KL_JE_CHAR, LAX },
	{ "n_nul_as_value", S("\0"), KL_JE_CHAR, LAX },
	{ "n_nul_in_array", S("[1,\0]"), KL_JE_CHAR, LAX },
	{ "n_rs_after", S("1\x1e"), KL_JE_TRAIL, LAX },
	/* Exception 4: a byte order mark. */
	{ "n_bom", S("\xef\xbb\xbf{}"), KL_JE_CHAR, LAX },
	/* Exception 5: a raw NUL or US inside a string. */
	{ "n_nul_in_string", S("\"a\0b\""), KL_JE_CTRL, LAX },
	{ "n_us_in_string", S("\"a\x1f\""), KL_JE_CTRL, LAX },
	{ "n_rs_in_string", S("\"a\x1e\""), KL_JE_CTRL, SAME },
	/* Exception 7: RS right after an opening quote resets libjq. */
	{ "n_rs_opens_string", S("\"[\"\"\x1e"), KL_JE_TRAIL, LAX },
	{ "n_rs_drops_rest", S("\"a\" \"\x1e]]]"), KL_JE_TRAIL, LAX },
	{ "n_rs_number_in_string", S("0\"0\x1e\x1c"), KL_JE_TRAIL, LAX },
	{ "n_rs_literal_in_string", S("[1]\"true\x1e"), KL_JE_TRAIL, LAX },
	{ "n_rs_spaced_number_in_string", S(" 0\" 0\x1e\x1c  "), KL_JE_TRAIL,
	    LAX },
	/* Exception 6: a lone low surrogate escape becomes U+FFFD. */
	{ "n_lone_low", S("\"\\udc00\""), KL_JE_SURR, LAX },
	{ "n_lone_low_after_pair", S("\"\\ud800\\udc00\\udfff\""), KL_JE_SURR,
	    LAX },
};

/* Nested containers for the depth cases: len levels of the pattern. */
static void
nest(struct kl_buf *b, const char *open, const char *inner,
    const char *close, int levels)
{
	int i;

	for (i = 0; i < levels; i++)
		kl_buf_adds(b, open);
	kl_buf_adds(b, inner);
	for (i = 0; i < levels; i++)
		kl_buf_adds(b, close);
}

static void
test_cases(void)
{
	const struct jcase *c;
	struct kl_buf b;
	struct kl_jerr e;
	struct kl_jspan top;
	const char *in, *r;
	size_t i, n;
	jv j;
	int rc, jq_ok;

	kl_buf_init(&b);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		c = &cases[i];
		in = c->in;
		n = c->len;
		if (in == NULL) {
			kl_buf_reset(&b);
			if (strstr(c->name, "arrays") != NULL)
				nest(&b, "[", "", "]", (int)n);
			else
				nest(&b, "{\"a\":", "1", "}", (int)n);
			in = b.data;
			n = b.len;
		}
		rc = kl_js_parse(in, n, &top, &e);
		if (c->code == KL_JE_NONE)
			is_int(rc, 0, "%s accepted", c->name);
		else
			ok(rc == -1 && errno == EINVAL && e.code == c->code,
			    "%s rejected: %s", c->name,
			    rc ? e.msg : "accepted");
		j = jv_parse_sized(in, (int)n);
		jq_ok = jv_is_valid(j);
		jv_free(j);
		if (c->jq == LAX)
			ok(jq_ok && jq_lax(in, n), "%s: libjq 1.6 accepts it "
			    "and the oracle knows why", c->name);
		r = differ(in, n);
		ok(r == NULL, "%s: differential: %s", c->name,
		    r ? r : "agrees");
	}
	kl_buf_free(&b);
}

static void
test_depth(void)
{
	struct kl_buf b;
	struct kl_jspan top;

	kl_buf_init(&b);
	nest(&b, "[", "", "]", 256);
	ok(kl_js_parse(b.data, b.len, &top, NULL) == 0 && top.n == 512 &&
	    differ(b.data, b.len) == NULL, "256 nested arrays accepted");
	kl_buf_reset(&b);
	nest(&b, "{\"a\":", "1", "}", 128);
	ok(kl_js_parse(b.data, b.len, NULL, NULL) == 0 &&
	    differ(b.data, b.len) == NULL, "128 nested objects accepted");
	kl_buf_reset(&b);
	nest(&b, "[", "{\"a\":1}", "]", 255);
	ok(kl_js_parse(b.data, b.len, NULL, NULL) == 0 &&
	    differ(b.data, b.len) == NULL, "255 arrays around an object");
	kl_buf_reset(&b);
	nest(&b, "[", "{}", "]", 256);
	ok(kl_js_parse(b.data, b.len, NULL, NULL) == -1 &&
	    differ(b.data, b.len) == NULL, "256 arrays around an object fail");
	kl_buf_reset(&b);
	nest(&b, "[{\"a\":", "[]", "}]", 85);
	ok(kl_js_parse(b.data, b.len, NULL, NULL) == 0 &&
	    differ(b.data, b.len) == NULL, "85 arrays and objects accepted");
	kl_buf_reset(&b);
	nest(&b, "[{\"a\":", "[[]]", "}]", 85);
	ok(kl_js_parse(b.data, b.len, NULL, NULL) == -1 &&
	    differ(b.data, b.len) == NULL, "one more array fails");
	kl_buf_reset(&b);
	nest(&b, "[", "", "]", 100000);
	ok(kl_js_parse(b.data, b.len, NULL, NULL) == -1,
	    "100000 nested arrays fail without recursion");
	kl_buf_free(&b);
}

static void
err_case(const char *in, size_t n, const char *msg)
{
	struct kl_jerr e;

	kl_js_parse(in, n, NULL, &e);
	is_str(e.msg, msg, "error message for '%.*s'", (int)n, in);
}

static void
test_errors(void)
{
	struct kl_buf b;
	struct kl_jerr e;

	err_case(S("[1,2,\"\xff\"]"), "invalid UTF-8 at byte 6");
	err_case(S("{\"a\":1,}"), "unexpected character at byte 7");
	err_case(S("[1] x"), "trailing data after the value at byte 4");
	err_case(S("[01]"), "invalid number at byte 1");
	err_case(S("\"ab\\x\""), "invalid escape at byte 3");
	err_case(S("\"\\ud800\""), "lone surrogate escape at byte 1");
	err_case(S("[\"a\x01\"]"), "control character in string at byte 3");
	err_case(S("[tru]"), "invalid literal at byte 1");
	err_case(S("{\"a\":[1,"), "unexpected end of input at byte 8");
	ok(kl_js_parse(NULL, 0, NULL, &e) == -1 && e.code == KL_JE_EOF,
	    "(NULL, 0) is an empty text");
	ok(kl_js_parse(S("[1]"), NULL, &e) == 0 && e.code == KL_JE_NONE &&
	    e.msg[0] == '\0', "success clears the error");
	kl_buf_init(&b);
	kl_buf_adds(&b, "keep");
	ok(kl_js_minify(&b, S("[1, 2,]"), NULL, &e) == -1 && errno == EINVAL &&
	    b.len == 4 && strcmp(b.data, "keep") == 0 && e.off == 6,
	    "failed minify leaves the buffer as it was");
	kl_buf_free(&b);
}

static void
min_case(const char *in, size_t n, const char *want)
{
	struct kl_buf b;
	int rc;

	kl_buf_init(&b);
	kl_buf_adds(&b, "<");
	rc = kl_js_minify(&b, in, n, NULL, NULL);
	kl_buf_adds(&b, ">");
	ok(rc == 0, "minify '%s' succeeds", want);
	is_str(b.data, want, "minify '%s' exact", want);
	kl_buf_free(&b);
}

static void
test_minify(void)
{
	min_case(S("12345678901234567890123"), "<12345678901234567890123>");
	min_case(S(" 1e400 "), "<1e400>");
	min_case(S("[ -0.0E+00 , 1.10 , 9007199254740993 ]"),
	    "<[-0.0E+00,1.10,9007199254740993]>");
	min_case(S("{\n\t\"a b\" : \"c \\u0061\\n d\" ,\r\n\"e\":[ ] }\n"),
	    "<{\"a b\":\"c \\u0061\\n d\",\"e\":[]}>");
	min_case(S("{\"a\":1}"), "<{\"a\":1}>");
	min_case(S("  \"\xe2\x82\xac \"  "), "<\"\xe2\x82\xac \">");
	min_case(S("[ [ ] , { } , true , null ]"), "<[[],{},true,null]>");
}

static void
test_lookup(void)
{
	static const char doc[] = "{ \"a\" : 1, \"\\u0062\":\"B\", \"a\":[10,"
	    " 20 , {\"x\":\"y\"}], \"q\\\"k\":true, \"n\\u0000l\":null,"
	    " \"data\":{\"email\":\"e@x\",\"m\":{\"n\":[0,[1,2]]}},"
	    " \"\\u00e9t\\u00e9\":2, \"\":3 }";
	struct kl_jspan top, v;

	ok(kl_js_parse(doc, sizeof(doc) - 1, &top, NULL) == 0 &&
	    top.type == KL_JOBJ, "lookup document parses");
	ok(kl_js_get(&top, "a", &v) == 1 && v.type == KL_JARR &&
	    v.n == 20, "duplicate key: the last one wins");
	ok(kl_js_get(&top, "b", &v) == 1 && kl_js_streq(&v, "B"),
	    "escaped key \\u0062 matches b");
	ok(kl_js_get(&top, "q\"k", &v) == 1 && v.type == KL_JTRUE,
	    "key with an escaped quote");
	ok(kl_js_getn(&top, "n\0l", 3, &v) == 1 && v.type == KL_JNUL,
	    "key with a NUL byte");
	ok(kl_js_get(&top, "n", &v) == 0, "prefix of a key is absent");
	ok(kl_js_get(&top, "\xc3\xa9t\xc3\xa9", &v) == 1 && v.n == 1,
	    "escaped non-ASCII key");
	ok(kl_js_get(&top, "", &v) == 1 && v.n == 1 && *v.p == '3',
	    "empty key");
	ok(kl_js_get(&top, "zz", &v) == 0, "missing key is absent");
	ok(kl_js_get(&v, "a", &v) == 0, "lookup in a number is absent");
	ok(kl_js_path(&top, "data.email", &v) == 1 && kl_js_streq(&v, "e@x"),
	    "path data.email");
	ok(kl_js_path(&top, ".data.email", &v) == 1 &&
	    kl_js_streq(&v, "e@x"), "path .data.email");
	ok(kl_js_path(&top, "a[2].x", &v) == 1 && kl_js_streq(&v, "y"),
	    "path a[2].x");
	ok(kl_js_path(&top, ".a.[1]", &v) == 1 && v.n == 2 && *v.p == '2',
	    "path .a.[1]");
	ok(kl_js_path(&top, "data.m.n[1][0]", &v) == 1 && *v.p == '1',
	    "path data.m.n[1][0]");
	ok(kl_js_path(&top, ".", &v) == 1 && v.p == top.p, "path . is v");
	ok(kl_js_path(&top, "", &v) == 1 && v.p == top.p, "empty path is v");
	ok(kl_js_path(&top, "a[3]", &v) == 0, "index past the end is absent");
	ok(kl_js_path(&top, "data[0]", &v) == 0, "index into object absent");
	ok(kl_js_path(&top, "b.c", &v) == 0, "member of a string is absent");
	ok(kl_js_path(&top, "nope.x", &v) == 0, "missing step is absent");
	ok(kl_js_path(&top, "a..b", &v) == -1 && errno == EINVAL,
	    "path a..b is malformed");
	ok(kl_js_path(&top, "nope.", &v) == -1, "path nope. is malformed");
	ok(kl_js_path(&top, "a[x]", &v) == -1, "path a[x] is malformed");
	ok(kl_js_path(&top, "a[0", &v) == -1, "path a[0 is malformed");
	ok(kl_js_path(&top, "a[0]b", &v) == -1, "path a[0]b is malformed");
	ok(kl_js_path(&top, "..", &v) == -1, "path .. is malformed");
}

static void
test_iter(void)
{
	static const char doc[] = " { \"k1\" : [ ] , \"k2\":{\"x\":[1,{}]} ,"
	    "\"k3\" : \"s,]}\\\"\" , \"k4\":-1.5e3 } ";
	struct kl_jspan top, k, v;
	struct kl_jiter it;
	struct kl_buf b;
	int n;

	kl_buf_init(&b);
	kl_js_parse(doc, sizeof(doc) - 1, &top, NULL);
	ok(kl_js_iter_init(&it, &top) == 0, "iterate an object");
	for (n = 0; kl_js_iter_next(&it, &k, &v); n++) {
		kl_buf_addc(&b, '|');
		kl_js_str(&k, &b);
		kl_buf_addc(&b, '=');
		kl_js_put_span(&b, &v);
	}
	is_str(b.data, "|k1=[ ]|k2={\"x\":[1,{}]}|k3=\"s,]}\\\"\"|k4=-1.5e3",
	    "members and values");
	is_int(n, 4, "four members");
	kl_js_parse(S(" [ ] "), &top, NULL);
	kl_js_iter_init(&it, &top);
	ok(kl_js_iter_next(&it, NULL, &v) == 0, "empty array");
	kl_js_parse(S("[\"a\" , 2,[3]]"), &top, NULL);
	kl_js_iter_init(&it, &top);
	ok(kl_js_iter_next(&it, NULL, &v) == 1 && v.type == KL_JSTR &&
	    kl_js_iter_next(&it, NULL, &v) == 1 && v.type == KL_JNUM &&
	    v.n == 1 && kl_js_iter_next(&it, NULL, &v) == 1 &&
	    v.type == KL_JARR && v.n == 3 &&
	    kl_js_iter_next(&it, NULL, &v) == 0, "array elements");
	ok(kl_js_iter_init(&it, &v) == 0, "iterate a nested array");
	kl_js_parse(S("1"), &top, NULL);
	ok(kl_js_iter_init(&it, &top) == -1 && errno == EINVAL,
	    "cannot iterate a number");
	kl_buf_free(&b);
}

static void
str_case(const char *in, size_t n, const char *want, size_t wantlen)
{
	struct kl_jspan s;
	struct kl_buf b;

	kl_buf_init(&b);
	ok(kl_js_parse(in, n, &s, NULL) == 0 && kl_js_str(&s, &b) == 0,
	    "unescape %s", in);
	is_blob(b.data, b.len, want, wantlen, "unescape %s exact", in);
	ok(kl_js_streqn(&s, want, wantlen), "streqn %s", in);
	kl_buf_free(&b);
}

static void
test_decode(void)
{
	struct kl_jspan s = { "\"\\ud800\"", 8, KL_JSTR };
	struct kl_buf b;
	int64_t i;
	double d;

	str_case(S("\"plain\""), S("plain"));
	str_case(S("\"\\/\\b\\f\\n\\r\\t\\\"\\\\\""), S("/\b\f\n\r\t\"\\"));
	str_case(S("\"a\\u0000b\""), S("a\0b"));
	str_case(S("\"\\u00e9\\u20AC\""), S("\xc3\xa9\xe2\x82\xac"));
	str_case(S("\"\\ud83d\\ude00!\""), S("\xf0\x9f\x98\x80!"));
	str_case(S("\"\\uDBFF\\uDFFF\""), S("\xf4\x8f\xbf\xbf"));
	str_case(S("\"\xe2\x82\xac\\n\""), S("\xe2\x82\xac\n"));
	kl_buf_init(&b);
	ok(kl_js_str(&s, &b) == 0 && strcmp(b.data, "\xef\xbf\xbd") == 0,
	    "an unchecked lone surrogate decodes to U+FFFD");
	ok(!kl_js_streq(&s, "x") && kl_js_streq(&s, "\xef\xbf\xbd"),
	    "streq on a lone surrogate");
	s.type = KL_JNUM;
	ok(kl_js_str(&s, &b) == -1 && errno == EINVAL, "str of a non-string");
	ok(!kl_js_streq(&s, "x"), "streq of a non-string");
#define NUM(t)	(kl_js_parse(S(t), &s, NULL), &s)
	ok(kl_js_i64(NUM("9223372036854775807"), &i) == 0 && i == INT64_MAX,
	    "i64 max");
	ok(kl_js_i64(NUM("-9223372036854775808"), &i) == 0 && i == INT64_MIN,
	    "i64 min");
	ok(kl_js_i64(NUM("9223372036854775808"), &i) == -1 && errno == ERANGE,
	    "i64 max + 1");
	ok(kl_js_i64(NUM("-9223372036854775809"), &i) == -1 &&
	    errno == ERANGE, "i64 min - 1");
	ok(kl_js_i64(NUM("-0"), &i) == 0 && i == 0, "i64 -0");
	ok(kl_js_i64(NUM("1732898794123"), &i) == 0 && i == 1732898794123LL,
	    "i64 milliseconds");
	ok(kl_js_i64(NUM("1.0"), &i) == -1 && errno == EINVAL, "i64 1.0");
	ok(kl_js_i64(NUM("1e3"), &i) == -1 && errno == EINVAL, "i64 1e3");
	ok(kl_js_i64(NUM("\"1\""), &i) == -1 && errno == EINVAL, "i64 string");
	ok(kl_js_double(NUM("1.732898794123E9"), &d) == 0 &&
	    d == 1.732898794123E9, "double timestamp");
	ok(kl_js_double(NUM("-0.5e-3"), &d) == 0 && d == -0.5e-3,
	    "double -0.5e-3");
	ok(kl_js_double(NUM("1e400"), &d) == -1 && errno == ERANGE,
	    "double 1e400");
	ok(kl_js_double(NUM("1e-400"), &d) == 0 && d == 0, "double 1e-400");
	ok(kl_js_double(NUM("0.100000000000000000000000000000000000000000"
	    "00000000000000000000000000000000001"), &d) == 0 && d == 0.1,
	    "double longer than 64 bytes");
	ok(kl_js_double(NUM("null"), &d) == -1 && errno == EINVAL,
	    "double null");
	kl_buf_reset(&b);
	kl_js_text(NUM("\"a\\u0062\""), &b);
	kl_js_text(NUM("-1.50"), &b);
	kl_js_text(NUM("true"), &b);
	kl_js_text(NUM("false"), &b);
	kl_js_text(NUM("null"), &b);
	is_str(b.data, "ab-1.50truefalsenull", "scalar text");
	ok(kl_js_text(NUM("[1]"), &b) == -1 && errno == EINVAL &&
	    !KL_JSCALAR(s.type), "an array is no scalar");
#undef NUM
	kl_buf_free(&b);
}

static void
test_writer(void)
{
	static const char in[] = "{\"id\":\"x\",\"n\":[1, 2],"
	    "\"z\":12345678901234567890}";
	struct kl_jspan top, v;
	struct kl_buf b;

	kl_js_parse(in, sizeof(in) - 1, &top, NULL);
	kl_buf_init(&b);
	kl_buf_addc(&b, '{');
	kl_js_put_key(&b, "stream");
	kl_buf_add_jstr(&b, "s\"1", 3);
	kl_js_get(&top, "z", &v);
	kl_js_put_key(&b, "big");
	kl_js_put_span(&b, &v);
	kl_js_put_key(&b, "data");
	kl_js_minify(&b, in, sizeof(in) - 1, NULL, NULL);
	kl_js_put_key(&b, "list");
	kl_buf_addc(&b, '[');
	kl_js_put_sep(&b);
	kl_buf_adds(&b, "1");
	kl_js_put_sep(&b);
	kl_buf_adds(&b, "2]}");
	is_str(b.data, "{\"stream\":\"s\\\"1\",\"big\":12345678901234567890,"
	    "\"data\":{\"id\":\"x\",\"n\":[1,2],\"z\":12345678901234567890},"
	    "\"list\":[1,2]}", "record built from spans");
	ok(!b.err && kl_js_parse(b.data, b.len, NULL, NULL) == 0,
	    "built record is valid");
	kl_buf_free(&b);
}

/* The seeded random round. */
static uint64_t rng = 0x6b6c2d6a7363616eULL;

static unsigned
rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

/* Random insignificant whitespace into sp only. */
static void
rws(struct kl_buf *sp)
{
	int k;

	if (rnd(3) == 0)
		for (k = 1 + (int)rnd(3); k > 0; k--)
			kl_buf_addc(sp, " \t\r\n"[rnd(4)]);
}

static void
radd(struct kl_buf *sp, struct kl_buf *cp, const char *s, size_t n)
{
	kl_buf_add(sp, s, n);
	kl_buf_add(cp, s, n);
}

static void
rstr(struct kl_buf *sp, struct kl_buf *cp)
{
	static const char *const bits[] = { "a", "b", "Zz", " ", "\\\"",
	    "\\\\", "\\/", "\\b\\f\\n\\r\\t", "\\u0061", "\\u0000", "\\u00e9",
	    "\\uD834\\uDD1E", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
	    "\x7f", ",:]}{[", "0123456789abcdef0123" };
	char hex[8];
	int k;

	radd(sp, cp, "\"", 1);
	for (k = (int)rnd(6); k > 0; k--) {
		if (rnd(10) == 0) {
			snprintf(hex, sizeof(hex), "\\u%04x", 1 + rnd(0xd7ff));
			radd(sp, cp, hex, 6);
		} else {
			const char *b = bits[rnd(sizeof(bits) /
			    sizeof(bits[0]))];
			radd(sp, cp, b, strlen(b));
		}
	}
	radd(sp, cp, "\"", 1);
}

static void
rval(struct kl_buf *sp, struct kl_buf *cp, int depth)
{
	static const char *const nums[] = { "0", "-0", "1", "-1", "0.5",
	    "-12.25", "1e3", "2E-2", "1.5e+10", "9007199254740992",
	    "-9007199254740991", "12345678901234567890123", "1e400",
	    "0.000030517578125", "4096.0625" };
	static const char *const keys[] = { "\"a\"", "\"b\"", "\"\\u0061\"",
	    "\"\"", "\"k\\\"\"", "\"data\"" };
	char num[32];
	const char *s;
	int k;

	switch (rnd(depth > 5 ? 5 : 8)) {
	case 0:
		rstr(sp, cp);
		break;
	case 1:
		if (rnd(2)) {
			snprintf(num, sizeof(num), "%d", (int)rnd(2000001) -
			    1000000);
			s = num;
		} else
			s = nums[rnd(sizeof(nums) / sizeof(nums[0]))];
		radd(sp, cp, s, strlen(s));
		break;
	case 2:
		radd(sp, cp, "true", 4);
		break;
	case 3:
		radd(sp, cp, "false", 5);
		break;
	case 4:
		radd(sp, cp, "null", 4);
		break;
	case 5: case 6:
		radd(sp, cp, "{", 1);
		for (k = (int)rnd(5); k > 0; k--) {
			rws(sp);
			if (rnd(2))
				rstr(sp, cp);
			else {
				s = keys[rnd(sizeof(keys) / sizeof(keys[0]))];
				radd(sp, cp, s, strlen(s));
			}
			rws(sp);
			radd(sp, cp, ":", 1);
			rws(sp);
			rval(sp, cp, depth + 1);
			rws(sp);
			if (k > 1)
				radd(sp, cp, ",", 1);
		}
		rws(sp);
		radd(sp, cp, "}", 1);
		break;
	default:
		radd(sp, cp, "[", 1);
		for (k = (int)rnd(5); k > 0; k--) {
			rws(sp);
			rval(sp, cp, depth + 1);
			rws(sp);
			if (k > 1)
				radd(sp, cp, ",", 1);
		}
		rws(sp);
		radd(sp, cp, "]", 1);
		break;
	}
}

static void
test_random(void)
{
	static const char junk[] = "\"\\{}[],:0-+.eE \t\n\x01\x7f\x80\xc0"
	    "\xed\xf4\xffu1aftn";
	struct kl_buf sp, cp, m, mut;
	const char *r;
	jv a, b;
	int i, k, bad = 0, mbad = 0, eq = 0, mut_ok = 0;
	size_t pos;

	kl_buf_init(&sp);
	kl_buf_init(&cp);
	kl_buf_init(&m);
	kl_buf_init(&mut);
	for (i = 0; i < 3000; i++) {
		kl_buf_reset(&sp);
		kl_buf_reset(&cp);
		kl_buf_reset(&m);
		rws(&sp);
		rval(&sp, &cp, 0);
		rws(&sp);
		if (kl_js_minify(&m, sp.data, sp.len, NULL, NULL) != 0 ||
		    m.len != cp.len || memcmp(m.data, cp.data, m.len) != 0) {
			if (bad++ == 0)
				diag("minify differs on '%s'", sp.data);
			continue;
		}
		a = jv_parse_sized(sp.data, (int)sp.len);
		b = jv_parse_sized(m.data, (int)m.len);
		eq += jv_equal(a, b);
		if ((r = differ(sp.data, sp.len)) != NULL && bad++ == 0)
			diag("%s on '%s'", r, sp.data);
		/* Mutate the compact form and compare again. */
		for (k = 0; k < 4; k++) {
			kl_buf_reset(&mut);
			kl_buf_add(&mut, cp.data, cp.len);
			pos = rnd((unsigned)cp.len);
			switch (rnd(3)) {
			case 0:
				mut.data[pos] = junk[rnd(sizeof(junk) - 1)];
				break;
			case 1:
				mut.len = pos;
				break;
			default:
				memmove(mut.data + pos, mut.data + pos + 1,
				    mut.len - pos - 1);
				mut.len--;
				break;
			}
			mut_ok += kl_js_parse(mut.data, mut.len, NULL,
			    NULL) == 0;
			if ((r = differ(mut.data, mut.len)) != NULL &&
			    mbad++ == 0)
				diag("%s on mutant '%.*s'", r, (int)mut.len,
				    mut.data);
		}
	}
	is_int(bad, 0, "3000 random values: minify exact, kl agrees with "
	    "libjq");
	is_int(eq, 3000, "3000 random values: libjq reads minified as "
	    "original");
	is_int(mbad, 0, "12000 mutants: kl agrees with libjq (%d valid)",
	    mut_ok);
	kl_buf_free(&sp);
	kl_buf_free(&cp);
	kl_buf_free(&m);
	kl_buf_free(&mut);
}

static double
cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * A GetRecords page of 10,000 records with 300-byte payloads, read as
 * kl-read-shard does: validate, find Records, walk it, read 3 members of
 * each record in one pass.  Returns the number of failures.
 */
static int
bench_page(void)
{
	struct kl_buf page, pretty, m;
	struct kl_jspan top, recs, rec, k, v;
	struct kl_jiter it, mi;
	double t, tv = 1e9, tw = 1e9, tm = 1e9;
	int i, round, fails = 0, seen;

	kl_buf_init(&page);
	kl_buf_init(&pretty);
	kl_buf_init(&m);
	kl_buf_adds(&page, "{\"Records\":[");
	for (i = 0; i < 10000; i++) {
		kl_buf_addf(&page, "%s{\"SequenceNumber\":\"4959033827149025660"
		    "8559692538361571095921575989136%06d\",\"ApproximateArriva"
		    "lTimestamp\":1.732898794123E9,\"Data\":\"", i ? "," : "",
		    i);
		for (k.n = 0; k.n < 400; k.n += 4)
			kl_buf_adds(&page, "eyJp");
		kl_buf_addf(&page, "\",\"PartitionKey\":\"u-%d\"}", i % 97);
	}
	kl_buf_adds(&page, "],\"NextShardIterator\":\"AAAAAAAAAAH\","
	    "\"MillisBehindLatest\":0}");
	/* The same text pretty-printed, for minify with work to do. */
	for (i = 0; (size_t)i < page.len; i++) {
		kl_buf_addc(&pretty, page.data[i]);
		if (strchr("{[,", page.data[i]) != NULL && i > 0 &&
		    page.data[i - 1] != '\\')
			kl_buf_adds(&pretty, "\n    ");
	}
	for (round = 0; round < 5; round++) {
		t = cpu_now();
		fails += kl_js_parse(page.data, page.len, &top, NULL);
		t = cpu_now() - t;
		tv = t < tv ? t : tv;
		t = cpu_now();
		seen = 0;
		if (kl_js_get(&top, "Records", &recs) != 1 ||
		    kl_js_iter_init(&it, &recs) != 0)
			return 1;
		while (kl_js_iter_next(&it, NULL, &rec)) {
			kl_js_iter_init(&mi, &rec);
			while (kl_js_iter_next(&mi, &k, &v))
				seen += kl_js_streq(&k, "Data") ||
				    kl_js_streq(&k, "PartitionKey") ||
				    kl_js_streq(&k, "SequenceNumber");
		}
		fails += seen != 30000;
		t = cpu_now() - t;
		tw = t < tw ? t : tw;
		kl_buf_reset(&m);
		t = cpu_now();
		fails += kl_js_minify(&m, pretty.data, pretty.len, NULL, NULL);
		t = cpu_now() - t;
		tm = t < tm ? t : tm;
		fails += m.len != page.len;
	}
	diag("bench: page of 10000 records, %zu bytes: validate %.0f MB/s, "
	    "walk %.0f ns/record, minify pretty (%zu bytes) %.0f MB/s",
	    page.len, (double)page.len / tv / 1e6, tw / 10000 * 1e9,
	    pretty.len, (double)pretty.len / tm / 1e6);
	kl_buf_free(&page);
	kl_buf_free(&pretty);
	kl_buf_free(&m);
	return fails;
}

/* Typical records: a trigger event, a Kinesis record, two web events. */
static void
bench(void)
{
	static const char *const recs[] = {
	    "{\"id\":\"15761203643149024539\",\"data\":{\"email\":\"a@example"
	    ".com\",\"_uid\":\"u-1\",\"segment_events\":[{\"id\":\"efdcc4da2"
	    "0554be02e90c563f69bc0ec\",\"slug\":\"high_value\",\"event\":\"en"
	    "ter\",\"enter\":\"2026-11-29T16:46:34Z\"}]},\"meta\":{\"object\""
	    ":\"user\",\"subscription_id\":\"f825f096718d07c65b9d6a94a4cc0c35"
	    "\",\"timestamp\":\"2026-11-29T16:46:35Z\"}}",
	    "{\"stream\":\"clicks\",\"shard_id\":\"shardId-000000000000\",\"se"
	    "quence_number\":\"4959033827149025660855969253836157109592157598"
	    "9136588898\",\"partition_key\":\"u-1\",\"arrival\":\"2026-11-29T1"
	    "6:46:34.123Z\",\"millis_behind_latest\":0,\"data\":{\"_e\":\"pv\""
	    ",\"email\":\"a@example.com\"}}",
	    "{\"_e\":\"pv\",\"url\":\"https://www.example.com/products/shoes?c"
	    "olor=red&size=42\",\"_ts\":1732898794123,\"user_agent\":\"Mozill"
	    "a/5.0 (X11; Linux x86_64) AppleWebKit/537.36\",\"price\":129.95,"
	    "\"qty\":2,\"tags\":[\"sale\",\"new\",\"summer\"],\"name\":\"J\\u00"
	    "fcrgen M\\u00fcller\",\"city\":\"M\xc3\xbc" "nchen\",\"consent\":"
	    "true,\"ref\":null}",
	    "{\"event\":\"purchase\",\"user\":{\"id\":12345,\"email\":\"someon"
	    "e.long@example.org\",\"first_name\":\"Alexandra\",\"last_name\":"
	    "\"Smith\"},\"items\":[{\"sku\":\"A-1\",\"price\":9.99,\"qty\":1},"
	    "{\"sku\":\"B-22\",\"price\":19.5,\"qty\":3}],\"total\":68.49,\"cu"
	    "rrency\":\"EUR\",\"ts\":1.732898794123E9}",
	};
	const size_t nrec = sizeof(recs) / sizeof(recs[0]);
	struct kl_jspan top, v;
	struct kl_buf b;
	size_t len[4], bytes, i;
	double t, best[3] = { 0, 0, 0 };
	long it, n = 2000000;
	int round, fails = 0;

	kl_buf_init(&b);
	for (i = 0; i < nrec; i++)
		len[i] = strlen(recs[i]);
	for (round = 0; round < 5; round++) {
		bytes = 0;
		t = cpu_now();
		for (it = 0; it < n; it++) {
			i = (size_t)it % nrec;
			fails += kl_js_parse(recs[i], len[i], &top, NULL);
			bytes += len[i];
		}
		t = (double)bytes / (cpu_now() - t) / 1e6;
		best[0] = t > best[0] ? t : best[0];
		t = cpu_now();
		for (it = 0; it < n; it++) {
			i = (size_t)it % nrec;
			kl_buf_reset(&b);
			fails += kl_js_minify(&b, recs[i], len[i], &top, NULL);
		}
		t = (double)bytes / (cpu_now() - t) / 1e6;
		best[1] = t > best[1] ? t : best[1];
		t = cpu_now();
		for (it = 0; it < n; it++) {
			i = (size_t)it % nrec;
			kl_js_parse(recs[i], len[i], &top, NULL);
			fails += kl_js_path(&top, "data.email", &v) < 0;
		}
		t = (double)n / (cpu_now() - t) / 1e6;
		best[2] = t > best[2] ? t : best[2];
	}
	diag("bench: records of %zu-%zu bytes, best of 5 rounds, one core",
	    len[3], len[0]);
	diag("bench: validate %.0f MB/s, minify %.0f MB/s, validate + path "
	    "data.email %.2f M records/s", best[0], best[1], best[2]);
	fails += bench_page();
	is_int(fails, 0, "benchmark records are valid");
	kl_buf_free(&b);
}

int
main(void)
{
	test_cases();
	test_depth();
	test_errors();
	test_minify();
	test_lookup();
	test_iter();
	test_decode();
	test_writer();
	test_random();
	if (getenv("KL_JSCAN_BENCH") != NULL)
		bench();
	return done_testing();
}
#endif /* KL_JSCAN_ORACLE_ONLY */
