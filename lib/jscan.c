/*
 * jscan.c - the span-based JSON scanner and writer for the per-record path.
 *
 * kl validates every record it passes on, reads a few members of it, and
 * copies the rest as bytes: numbers must keep every digit (contract 5.2)
 * and building a libjq tree costs more CPU per record than kl may spend
 * (house style 6.3).  So nothing here builds a tree.  kl_js_parse checks
 * one JSON text in one pass and describes it as a span: a pointer, a
 * length and a type.  Lookups, paths and iteration work lazily on spans
 * of text that has been validated, skipping what they do not need; the
 * getters decode strings and numbers only when asked.  Nothing allocates
 * except the writers, which append to a struct kl_buf.
 *
 * Design decisions:
 *
 * - Strict RFC 8259 with UTF-8 checked (Unicode table 3-7: no overlongs,
 *   no encoded surrogates, nothing past U+10FFFF).  Whatever kl accepts,
 *   libjq 1.6 accepts too, so a line kl writes never breaks a jq stage
 *   downstream.  libjq is laxer (nan, leading zeros, invalid UTF-8 turned
 *   into U+FFFD, and more; see tests/unit/t-jscan.c); such input is
 *   rejected here and a command then falls back to data_base64.
 * - Lone surrogate escapes ("\ud800", "\udc00") are rejected: libjq 1.6
 *   rejects a lone high one, so accepting them would break that rule, and
 *   RFC 8259 8.2 calls their behaviour unpredictable.  The decoders still
 *   turn one into U+FFFD should an unchecked span reach them.
 * - Depth is limited exactly as libjq 1.6 limits it: a container may open
 *   only while the enclosing arrays count 1 and objects 2 (jq stacks the
 *   pending key) below KL_JDEPTH, i.e. 256 nested arrays or 128 objects.
 *   The scanner is iterative with a bit stack of 256 bits: no recursion.
 * - One scanner serves validation and minification; it is inlined twice so
 *   the validating copy carries no output code.  Minifying copies runs of
 *   bytes between insignificant whitespace, so text without whitespace is
 *   a single memcpy.
 * - Strings are scanned 8 bytes at a time (SWAR) until a quote, backslash,
 *   control character or non-ASCII byte; only those take the slow path.
 * - Lookups return the LAST of duplicated keys, as libjq does, so they
 *   walk the whole object.  Keys compare after unescaping, with a memcmp
 *   fast path when the key holds no backslash.
 * - kl_js_double uses strtod, so it assumes the C locale for LC_NUMERIC,
 *   which kl commands never change.
 */
#include <config.h>

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kl.h"
#include "jscan.h"

#if defined(__GNUC__)
#define INLINE		static inline __attribute__((always_inline))
#else
#define INLINE		static inline
#endif

#define ONES	0x0101010101010101ULL
#define HIGHS	0x8080808080808080ULL

struct scan {
	const char	*err;		/* where the fault is */
	int		 code;		/* enum kl_jerrcode */
	const char	*run;		/* minify: first byte not yet copied */
};

static const char *const why[] = {
	"no error", "unexpected end of input", "unexpected character",
	"trailing data after the value", "invalid UTF-8",
	"control character in string", "invalid escape",
	"lone surrogate escape", "invalid number", "invalid literal",
	"nesting too deep", "out of memory"
};

static int
isws(unsigned char c)
{
	return c <= ' ' && (c == ' ' || c == '\n' || c == '\r' || c == '\t');
}

static int
isdigit_(unsigned char c)
{
	return (unsigned)(c - '0') < 10;
}

static int
hexval(unsigned char c)
{
	if ((unsigned)(c - '0') < 10)
		return c - '0';
	c |= 0x20;
	if ((unsigned)(c - 'a') < 6)
		return c - 'a' + 10;
	return -1;
}

/* The value of 4 hex digits at s, or -1. */
static long
hex4(const char *s)
{
	int a = hexval(s[0]), b = hexval(s[1]), c = hexval(s[2]),
	    d = hexval(s[3]);

	if ((a | b | c | d) < 0)
		return -1;
	return (long)a << 12 | b << 8 | c << 4 | d;
}

static int
type_of(unsigned char c)
{
	switch (c) {
	case '{':
		return KL_JOBJ;
	case '[':
		return KL_JARR;
	case '"':
		return KL_JSTR;
	case 't':
		return KL_JTRUE;
	case 'f':
		return KL_JFALSE;
	case 'n':
		return KL_JNUL;
	default:
		return KL_JNUM;
	}
}

static const char *
fail(struct scan *sc, const char *at, int code)
{
	sc->err = at;
	sc->code = code;
	return NULL;
}

/*
 * Nonzero when one of the 8 bytes of w is a quote, a backslash, below 0x20
 * or above 0x7f.  The lowest flagged byte is exact: the carries of the
 * subtractions only raise false flags above a true one.
 */
static uint64_t
special8(uint64_t w)
{
	uint64_t q = w ^ (ONES * '"'), b = w ^ (ONES * '\\');

	return (((w - ONES * 0x20) & ~w) | ((q - ONES) & ~q) |
	    ((b - ONES) & ~b) | w) & HIGHS;
}

/* Checks one UTF-8 sequence at s (its first byte is above 0x7f). */
static const char *
scan_utf8(struct scan *sc, const char *s, const char *end)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t left = (size_t)(end - s);
	unsigned lo = 0x80, hi = 0xbf;

	if (u[0] < 0xc2 || u[0] > 0xf4)
		return fail(sc, s, KL_JE_UTF8);
	if (u[0] < 0xe0) {
		if (left < 2 || (u[1] & 0xc0) != 0x80)
			return fail(sc, s, KL_JE_UTF8);
		return s + 2;
	}
	if (u[0] == 0xe0)
		lo = 0xa0;
	else if (u[0] == 0xed)
		hi = 0x9f;
	else if (u[0] == 0xf0)
		lo = 0x90;
	else if (u[0] == 0xf4)
		hi = 0x8f;
	if (u[0] < 0xf0) {
		if (left < 3 || u[1] < lo || u[1] > hi ||
		    (u[2] & 0xc0) != 0x80)
			return fail(sc, s, KL_JE_UTF8);
		return s + 3;
	}
	if (left < 4 || u[1] < lo || u[1] > hi || (u[2] & 0xc0) != 0x80 ||
	    (u[3] & 0xc0) != 0x80)
		return fail(sc, s, KL_JE_UTF8);
	return s + 4;
}

/* Checks one escape at s (a backslash). */
static const char *
scan_esc(struct scan *sc, const char *s, const char *end)
{
	long v, w;

	if (end - s < 2)
		return fail(sc, s, KL_JE_EOF);
	switch (s[1]) {
	case '"': case '\\': case '/': case 'b': case 'f': case 'n':
	case 'r': case 't':
		return s + 2;
	case 'u':
		break;
	default:
		return fail(sc, s, KL_JE_ESC);
	}
	if (end - s < 6 || (v = hex4(s + 2)) < 0)
		return fail(sc, s, KL_JE_ESC);
	if (v < 0xd800 || v > 0xdfff)
		return s + 6;
	if (v > 0xdbff || end - s < 12 || s[6] != '\\' || s[7] != 'u' ||
	    (w = hex4(s + 8)) < 0xdc00 || w > 0xdfff)
		return fail(sc, s, KL_JE_SURR);
	return s + 12;
}

/* Checks a string whose opening quote is just before s. */
INLINE const char *
scan_str(struct scan *sc, const char *s, const char *end)
{
	unsigned char c;
	uint64_t w, m;

	for (;;) {
		while (end - s >= 8) {
			memcpy(&w, s, 8);
			if ((m = special8(w)) == 0) {
				s += 8;
				continue;
			}
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
			s += __builtin_ctzll(m) >> 3;
#endif
			break;
		}
		for (;; s++) {
			if (s == end)
				return fail(sc, s, KL_JE_EOF);
			c = (unsigned char)*s;
			if (c == '"')
				return s + 1;
			if (c == '\\' || c < 0x20 || c > 0x7f)
				break;
		}
		if (c == '\\')
			s = scan_esc(sc, s, end);
		else if (c > 0x7f)
			s = scan_utf8(sc, s, end);
		else
			return fail(sc, s, KL_JE_CTRL);
		if (s == NULL)
			return NULL;
	}
}

/* Checks a number starting at s ('-' or a digit). */
INLINE const char *
scan_num(struct scan *sc, const char *s, const char *end)
{
	const char *p = s;

	if (*p == '-' && ++p == end)
		return fail(sc, s, KL_JE_NUM);
	if (*p == '0') {
		if (++p < end && isdigit_(*p))
			return fail(sc, s, KL_JE_NUM);
	} else if (isdigit_(*p)) {
		while (++p < end && isdigit_(*p))
			;
	} else
		return fail(sc, s, KL_JE_NUM);
	if (p < end && *p == '.') {
		if (++p == end || !isdigit_(*p))
			return fail(sc, s, KL_JE_NUM);
		while (++p < end && isdigit_(*p))
			;
	}
	if (p < end && (*p | 0x20) == 'e') {
		if (++p < end && (*p == '+' || *p == '-'))
			p++;
		if (p == end || !isdigit_(*p))
			return fail(sc, s, KL_JE_NUM);
		while (++p < end && isdigit_(*p))
			;
	}
	return p;
}

/* Skips whitespace; when minifying, first copies the run before it. */
INLINE const char *
skip_ws(struct scan *sc, struct kl_buf *out, const char *s, const char *end)
{
	if (out != NULL)
		kl_buf_add(out, sc->run, (size_t)(s - sc->run));
	while (++s < end && isws(*s))
		;
	sc->run = s;
	return s;
}

#define WS()	do {							\
	if (s < end && isws(*s))					\
		s = skip_ws(sc, out, s, end);				\
} while (0)
#define NEED()	do {							\
	if (s == end) {							\
		code = KL_JE_EOF;					\
		goto bad;						\
	}								\
} while (0)
#define BAD(c)	do {							\
	code = (c);							\
	goto bad;							\
} while (0)

/*
 * The scanner: one JSON text in [s, end), leading and trailing whitespace
 * allowed.  Appends the minified value to out unless out is NULL.  Bit i
 * of stack is set when container i (0 outermost) is an object.
 */
INLINE int
scan(struct scan *sc, const char *s, const char *end, struct kl_jspan *top,
    struct kl_buf *out)
{
	unsigned char stack[KL_JDEPTH / 8];
	const char *start;
	int code, depth = 0, weight = 0;

	memset(stack, 0, sizeof(stack));
	sc->run = s;
	WS();
	NEED();
	start = s;
value:
	switch (*s) {
	case '{':
		if (weight >= KL_JDEPTH)
			BAD(KL_JE_DEPTH);
		weight += 2;
		stack[depth >> 3] |= 1 << (depth & 7);
		depth++;
		s++;
		WS();
		NEED();
		if (*s == '}') {
			s++;
			goto close;
		}
		goto key;
	case '[':
		if (weight >= KL_JDEPTH)
			BAD(KL_JE_DEPTH);
		weight += 1;
		stack[depth >> 3] &= ~(1 << (depth & 7));
		depth++;
		s++;
		WS();
		NEED();
		if (*s == ']') {
			s++;
			goto close;
		}
		goto value;
	case '"':
		if ((s = scan_str(sc, s + 1, end)) == NULL)
			return -1;
		break;
	case '-': case '0': case '1': case '2': case '3': case '4':
	case '5': case '6': case '7': case '8': case '9':
		if ((s = scan_num(sc, s, end)) == NULL)
			return -1;
		break;
	case 't':
		if (end - s < 4 || memcmp(s, "true", 4) != 0)
			BAD(KL_JE_LIT);
		s += 4;
		break;
	case 'f':
		if (end - s < 5 || memcmp(s, "false", 5) != 0)
			BAD(KL_JE_LIT);
		s += 5;
		break;
	case 'n':
		if (end - s < 4 || memcmp(s, "null", 4) != 0)
			BAD(KL_JE_LIT);
		s += 4;
		break;
	default:
		BAD(KL_JE_CHAR);
	}
more:
	if (depth == 0)
		goto done;
	WS();
	NEED();
	if (*s == ',') {
		s++;
		WS();
		NEED();
		if (stack[(depth - 1) >> 3] & 1 << ((depth - 1) & 7))
			goto key;
		goto value;
	}
	if (*s != (stack[(depth - 1) >> 3] & 1 << ((depth - 1) & 7) ?
	    '}' : ']'))
		BAD(KL_JE_CHAR);
	s++;
close:
	depth--;
	weight -= stack[depth >> 3] & 1 << (depth & 7) ? 2 : 1;
	goto more;
key:
	if (*s != '"')
		BAD(KL_JE_CHAR);
	if ((s = scan_str(sc, s + 1, end)) == NULL)
		return -1;
	WS();
	NEED();
	if (*s != ':')
		BAD(KL_JE_CHAR);
	s++;
	WS();
	NEED();
	goto value;
done:
	if (top != NULL) {
		top->p = start;
		top->n = (size_t)(s - start);
		top->type = type_of(*start);
	}
	if (out != NULL)
		kl_buf_add(out, sc->run, (size_t)(s - sc->run));
	while (s < end && isws(*s))
		s++;
	if (s != end)
		BAD(KL_JE_TRAIL);
	return 0;
bad:
	fail(sc, s, code);
	return -1;
}

static void
set_err(struct kl_jerr *e, const struct scan *sc, const char *base)
{
	if (e == NULL)
		return;
	e->off = (size_t)(sc->err - base);
	e->code = sc->code;
	e->why = why[sc->code];
	snprintf(e->msg, sizeof(e->msg), "%s at byte %zu", e->why, e->off);
}

static void
clear_err(struct kl_jerr *e)
{
	if (e == NULL)
		return;
	e->off = 0;
	e->code = KL_JE_NONE;
	e->why = why[0];
	e->msg[0] = '\0';
}

/*
 * Validates p[0..n) as exactly one JSON text (whitespace around it
 * allowed).  On success fills top (if not NULL) with the value's span,
 * which points into p, and returns 0.  Otherwise returns -1 with errno
 * EINVAL and, if e is not NULL, the offset and reason of the first fault.
 */
int
kl_js_parse(const char *p, size_t n, struct kl_jspan *top, struct kl_jerr *e)
{
	struct scan sc;

	if (scan(&sc, p, p + n, top, NULL) == 0) {
		clear_err(e);
		return 0;
	}
	set_err(e, &sc, p);
	errno = EINVAL;
	return -1;
}

/*
 * Like kl_js_parse, and also appends the value to out without its
 * insignificant whitespace; everything else is copied byte for byte.
 * top, if not NULL, describes the value in p, not in out.  Returns 0, or
 * -1 with errno EINVAL (invalid text) or ENOMEM (out->err set); on either
 * failure out keeps only what it held before the call.
 */
int
kl_js_minify(struct kl_buf *out, const char *p, size_t n,
    struct kl_jspan *top, struct kl_jerr *e)
{
	struct scan sc;
	size_t len = out->len;

	if (scan(&sc, p, p + n, top, out) == 0 && !out->err) {
		clear_err(e);
		return 0;
	}
	if (out->err) {
		sc.err = p;
		sc.code = KL_JE_NOMEM;
	}
	if (out->data != NULL) {
		out->len = len;
		out->data[len] = '\0';
	}
	set_err(e, &sc, p);
	errno = out->err ? ENOMEM : EINVAL;
	return -1;
}

/*
 * The readers below assume spans of validated text.  Each loop is still
 * bounded by the span's end, so a bad span gives wrong answers, never an
 * access outside it.
 */
static const char *
ws(const char *s, const char *end)
{
	while (s < end && isws(*s))
		s++;
	return s;
}

/* Skips a string at s (its opening quote). */
static const char *
skip_str(const char *s, const char *end)
{
	const char *q, *b;

	for (s++; s < end && (q = memchr(s, '"', (size_t)(end - s))) != NULL;
	    s = q + 1) {
		for (b = q; b > s && b[-1] == '\\'; b--)
			;
		if (((q - b) & 1) == 0)
			return q + 1;
	}
	return end;
}

/* Skips the value at s. */
static const char *
skip_val(const char *s, const char *end)
{
	long depth = 0;

	if (*s == '"')
		return skip_str(s, end);
	if (*s != '{' && *s != '[') {
		while (s < end && !isws(*s) && *s != ',' && *s != ']' &&
		    *s != '}' && *s != ':')
			s++;
		return s;
	}
	while (s < end) {
		switch (*s) {
		case '"':
			s = skip_str(s, end);
			continue;
		case '{': case '[':
			depth++;
			break;
		case '}': case ']':
			if (--depth == 0)
				return s + 1;
			break;
		}
		s++;
	}
	return end;
}

/*
 * Decodes the escape at s (a backslash) into u (4 bytes); sets *len and
 * returns the byte after the escape.  A lone surrogate becomes U+FFFD.
 */
static const char *
unescape(const char *s, const char *end, char *u, size_t *len)
{
	unsigned long v;
	long w;

	*len = 1;
	switch (s[1]) {
	case 'b': u[0] = '\b'; return s + 2;
	case 'f': u[0] = '\f'; return s + 2;
	case 'n': u[0] = '\n'; return s + 2;
	case 'r': u[0] = '\r'; return s + 2;
	case 't': u[0] = '\t'; return s + 2;
	case 'u': break;
	default: u[0] = s[1]; return s + 2;
	}
	if (end - s < 6 || (w = hex4(s + 2)) < 0) {
		u[0] = '?';
		return s + 2;
	}
	v = (unsigned long)w;
	s += 6;
	if (v >= 0xd800 && v <= 0xdbff && end - s >= 6 && s[0] == '\\' &&
	    s[1] == 'u' && (w = hex4(s + 2)) >= 0xdc00 && w <= 0xdfff) {
		v = 0x10000 + ((v - 0xd800) << 10) + ((unsigned long)w - 0xdc00);
		s += 6;
	} else if (v >= 0xd800 && v <= 0xdfff)
		v = 0xfffd;
	if (v < 0x80) {
		u[0] = (char)v;
	} else if (v < 0x800) {
		u[0] = (char)(0xc0 | v >> 6);
		u[1] = (char)(0x80 | (v & 0x3f));
		*len = 2;
	} else if (v < 0x10000) {
		u[0] = (char)(0xe0 | v >> 12);
		u[1] = (char)(0x80 | (v >> 6 & 0x3f));
		u[2] = (char)(0x80 | (v & 0x3f));
		*len = 3;
	} else {
		u[0] = (char)(0xf0 | v >> 18);
		u[1] = (char)(0x80 | (v >> 12 & 0x3f));
		u[2] = (char)(0x80 | (v >> 6 & 0x3f));
		u[3] = (char)(0x80 | (v & 0x3f));
		*len = 4;
	}
	return s;
}

/* Whether the string body s[0..n) unescapes to exactly lit[0..ln). */
static int
str_eq(const char *s, size_t n, const char *lit, size_t ln)
{
	const char *end = s + n, *b;
	char u[4];
	size_t k;

	if (n < ln)
		return 0;	/* unescaping never lengthens */
	if ((b = memchr(s, '\\', n)) == NULL)
		return n == ln && memcmp(s, lit, n) == 0;
	for (;;) {
		k = (size_t)(b - s);
		if (k > ln || memcmp(s, lit, k) != 0)
			return 0;
		lit += k;
		ln -= k;
		if (b == end)
			return ln == 0;
		s = unescape(b, end, u, &k);
		if (k > ln || memcmp(u, lit, k) != 0)
			return 0;
		lit += k;
		ln -= k;
		if ((b = memchr(s, '\\', (size_t)(end - s))) == NULL)
			b = end;
	}
}

/*
 * Sets up it to walk the members of an object or the elements of an
 * array (v is not copied; its text must outlive it).  Returns 0, or -1
 * with errno EINVAL when v is neither.
 */
int
kl_js_iter_init(struct kl_jiter *it, const struct kl_jspan *v)
{
	if (v->type != KL_JOBJ && v->type != KL_JARR) {
		errno = EINVAL;
		return -1;
	}
	it->p = v->p + 1;
	it->end = v->p + v->n - 1;
	it->type = v->type;
	return 0;
}

/*
 * Fills val with the next element, or for an object key (if not NULL)
 * with the member's name, quotes included, and val with its value.
 * Returns 1, or 0 at the end.
 */
int
kl_js_iter_next(struct kl_jiter *it, struct kl_jspan *key,
    struct kl_jspan *val)
{
	const char *s, *end = it->end, *k;

	s = ws(it->p, end);
	if (s < end && *s == ',')
		s = ws(s + 1, end);
	if (s >= end)
		return 0;
	if (it->type == KL_JOBJ) {
		k = s;
		s = skip_str(s, end);
		if (key != NULL) {
			key->p = k;
			key->n = (size_t)(s - k);
			key->type = KL_JSTR;
		}
		s = ws(s, end);
		if (s >= end)
			return 0;
		s = ws(s + 1, end);
		if (s >= end)
			return 0;
	}
	val->p = s;
	val->type = type_of(*s);
	s = skip_val(s, end);
	val->n = (size_t)(s - val->p);
	it->p = s;
	return 1;
}

/*
 * Looks up the member named key[0..klen) of obj, comparing names after
 * unescaping; of duplicated names the last counts.  Returns 1 and fills
 * out (which may be obj itself), or 0 when absent or obj is no object.
 */
int
kl_js_getn(const struct kl_jspan *obj, const char *key, size_t klen,
    struct kl_jspan *out)
{
	struct kl_jiter it;
	struct kl_jspan k, v, hit;
	int found = 0;

	if (obj->type != KL_JOBJ)
		return 0;
	kl_js_iter_init(&it, obj);
	while (kl_js_iter_next(&it, &k, &v))
		if (str_eq(k.p + 1, k.n - 2, key, klen)) {
			hit = v;
			found = 1;
		}
	if (found)
		*out = hit;
	return found;
}

/* kl_js_getn for a NUL-terminated key. */
int
kl_js_get(const struct kl_jspan *obj, const char *key, struct kl_jspan *out)
{
	return kl_js_getn(obj, key, strlen(key), out);
}

/*
 * Follows path from v: member names separated by dots, with an optional
 * leading dot, and array indexes in brackets, either directly after a
 * name or after a dot: "data.email", ".data.email", "a[0].b", ".a.[0]",
 * "[2]".  "" and "." mean v itself.  A name runs to the next dot or
 * bracket, so names holding those cannot be reached, and digits after a
 * dot name a member ("a.0"), not an index.  Returns 1 and fills out, 0
 * when some step is absent (or indexes the wrong type), or -1 with errno
 * EINVAL when the path is malformed (even if an earlier step is absent).
 */
int
kl_js_path(const struct kl_jspan *v, const char *path, struct kl_jspan *out)
{
	struct kl_jspan cur = *v;
	struct kl_jiter it;
	const char *q;
	size_t idx;
	int found = 1;

	if (*path == '.')
		path++;
	while (*path != '\0') {
		if (*path == '[') {
			if (!isdigit_(*++path))
				goto bad;
			for (idx = 0; isdigit_(*path); path++) {
				if (idx > (SIZE_MAX - 9) / 10)
					goto bad;
				idx = idx * 10 + (size_t)(*path - '0');
			}
			if (*path++ != ']' || (*path != '\0' && *path != '.' &&
			    *path != '['))
				goto bad;
			if (found && cur.type != KL_JARR)
				found = 0;
			if (found) {
				kl_js_iter_init(&it, &cur);
				while ((found = kl_js_iter_next(&it, NULL,
				    &cur)) && idx-- > 0)
					;
			}
		} else {
			for (q = path; *path != '\0' && *path != '.' &&
			    *path != '['; path++)
				;
			if (path == q)
				goto bad;
			if (found)
				found = kl_js_getn(&cur, q, (size_t)(path - q),
				    &cur);
		}
		if (*path == '.' && *++path == '\0')
			goto bad;
	}
	if (found)
		*out = cur;
	return found;
bad:
	errno = EINVAL;
	return -1;
}

/*
 * Appends the unescaped contents of the string span s to out, as UTF-8.
 * Returns 0, or -1 with errno EINVAL (s is no string) or ENOMEM.
 */
int
kl_js_str(const struct kl_jspan *s, struct kl_buf *out)
{
	const char *p, *end, *b;
	char *d;
	size_t k;

	if (s->type != KL_JSTR || s->n < 2) {
		errno = EINVAL;
		return -1;
	}
	p = s->p + 1;
	end = s->p + s->n - 1;
	/* The text never grows when unescaped. */
	if (kl_buf_reserve(out, (size_t)(end - p)) == -1)
		return -1;
	d = out->data + out->len;
	while (p < end) {
		if ((b = memchr(p, '\\', (size_t)(end - p))) == NULL)
			b = end;
		memcpy(d, p, (size_t)(b - p));
		d += b - p;
		if (b == end)
			break;
		p = unescape(b, end, d, &k);
		d += k;
	}
	out->len = (size_t)(d - out->data);
	out->data[out->len] = '\0';
	return 0;
}

/* Whether s is a string whose contents unescape to lit[0..n). */
int
kl_js_streqn(const struct kl_jspan *s, const char *lit, size_t n)
{
	return s->type == KL_JSTR && s->n >= 2 &&
	    str_eq(s->p + 1, s->n - 2, lit, n);
}

/* Whether s is a string whose contents unescape to the C string lit. */
int
kl_js_streq(const struct kl_jspan *s, const char *lit)
{
	return kl_js_streqn(s, lit, strlen(lit));
}

/*
 * Stores the integer number s in *v.  Returns 0, or -1 with errno EINVAL
 * (not a number, or one with a fraction or exponent, even "1.0") or
 * ERANGE (outside int64_t).
 */
int
kl_js_i64(const struct kl_jspan *s, int64_t *v)
{
	const char *p = s->p, *end = s->p + s->n;
	uint64_t u = 0, lim = INT64_MAX;
	int neg = 0;

	if (s->type != KL_JNUM || s->n == 0)
		goto inval;
	if (*p == '-') {
		neg = 1;
		lim = (uint64_t)INT64_MAX + 1;
		p++;
	}
	if (p == end)
		goto inval;
	for (; p < end; p++) {
		if (!isdigit_(*p))
			goto inval;
		if (u > (lim - (uint64_t)(*p - '0')) / 10) {
			while (++p < end)
				if (!isdigit_(*p))
					goto inval;
			errno = ERANGE;
			return -1;
		}
		u = u * 10 + (uint64_t)(*p - '0');
	}
	*v = neg ? (int64_t)(0 - u) : (int64_t)u;
	return 0;
inval:
	errno = EINVAL;
	return -1;
}

/*
 * Stores the number s in *v, correctly rounded (e.g. 1.732898794123E9).
 * Returns 0 (also when tiny values round to zero), or -1 with errno
 * EINVAL (not a number), ERANGE (too large: *v is +-HUGE_VAL) or ENOMEM.
 */
int
kl_js_double(const struct kl_jspan *s, double *v)
{
	char tmp[64], *b = tmp;

	if (s->type != KL_JNUM || s->n == 0) {
		errno = EINVAL;
		return -1;
	}
	if (s->n >= sizeof(tmp) && (b = malloc(s->n + 1)) == NULL)
		return -1;
	memcpy(b, s->p, s->n);
	b[s->n] = '\0';
	*v = strtod(b, NULL);
	if (b != tmp)
		free(b);
	if (*v == HUGE_VAL || *v == -HUGE_VAL) {
		errno = ERANGE;
		return -1;
	}
	return 0;
}

/*
 * Appends the text of a scalar, as a partition key wants it: a string
 * unescaped, a number as written, "true", "false" or "null".  Returns 0,
 * or -1 with errno EINVAL (an object or array) or ENOMEM.
 */
int
kl_js_text(const struct kl_jspan *s, struct kl_buf *out)
{
	if (s->type == KL_JSTR)
		return kl_js_str(s, out);
	if (!KL_JSCALAR(s->type)) {
		errno = EINVAL;
		return -1;
	}
	kl_buf_add(out, s->p, s->n);
	if (out->err) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

/*
 * Appends the comma that separates members or elements, unless b is empty
 * or ends with '{' or '[' (b must end inside a container being built).
 */
void
kl_js_put_sep(struct kl_buf *b)
{
	char c;

	if (b->len == 0 || b->data == NULL)
		return;
	c = b->data[b->len - 1];
	if (c != '{' && c != '[')
		kl_buf_addc(b, ',');
}

/* Appends a separator if needed (kl_js_put_sep), then "key":. */
void
kl_js_put_key(struct kl_buf *b, const char *key)
{
	kl_js_put_sep(b);
	kl_buf_add_jstr(b, key, strlen(key));
	kl_buf_addc(b, ':');
}

/* Appends the bytes of v as they are (kl_js_minify drops whitespace). */
void
kl_js_put_span(struct kl_buf *b, const struct kl_jspan *v)
{
	kl_buf_add(b, v->p, v->n);
}
