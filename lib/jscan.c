/*
 * jscan.c - the span-based JSON scanner for the per-record path: one pass
 * that validates a JSON text and, when asked, minifies it.  jread.c holds
 * the readers of the spans it describes and the writers; jscan.h what
 * both share.
 *
 * Payloads must keep every digit (contract 5.2) and a libjq tree costs more
 * CPU per record than kl may spend (house style 6.3), so nothing here
 * builds a tree.  kl_js_parse checks one JSON text in one pass and
 * describes it as a span: pointer, length, type.
 *
 * - Strict RFC 8259, UTF-8 checked as Unicode table 3-7 says (no overlongs,
 *   encoded surrogates or code points past U+10FFFF).  What kl accepts,
 *   libjq 1.6 accepts too, so no line kl writes breaks a jq stage; libjq
 *   is laxer (tests/unit/t-jscan.c lists how), and commands fall back to
 *   data_base64 for what kl rejects.
 * - Lone surrogate escapes are rejected: libjq 1.6 rejects a lone high one
 *   and RFC 8259 8.2 calls them unpredictable.  Should an unchecked span
 *   hold one, jread.c's decoders make it U+FFFD.
 * - Depth is limited as libjq 1.6 limits it: a container opens only while
 *   the enclosing arrays, counting 1, and objects, counting 2 (jq stacks
 *   the pending key), sum below KL_JDEPTH: 256 arrays or 128 objects.  The
 *   scanner is iterative with a 256-bit stack.
 * - One scanner validates and minifies, inlined twice so that validating
 *   carries no output code.  Minifying copies the runs between
 *   insignificant whitespace: compact text is one memcpy.
 * - Strings are checked 8 bytes at a time (SWAR) up to a quote, backslash,
 *   control or non-ASCII byte; only those take the slow path.
 */
#include <config.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "kl.h"

#include "jscan.h"

#if defined(__GNUC__)
#define INLINE		static inline __attribute__((always_inline))
#else
#define INLINE		static inline
#endif

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

/*
 * Checks one UTF-8 sequence at s (its first byte is above 0x7f): the
 * lead byte gives the length, and for E0, ED, F0 and F4 a narrower range
 * of the second byte rules out overlongs, surrogates and > U+10FFFF.
 */
static const char *
scan_utf8(struct scan *sc, const char *s, const char *end)
{
	const unsigned char *u = (const unsigned char *)s;
	unsigned c = u[0], lo, hi;
	ptrdiff_t len;

	len = c < 0xc2 ? 0 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : c < 0xf5 ? 4 : 0;
	lo = c == 0xe0 ? 0xa0 : c == 0xf0 ? 0x90 : 0x80;
	hi = c == 0xed ? 0x9f : c == 0xf4 ? 0x8f : 0xbf;
	if (len == 0 || end - s < len || u[1] < lo || u[1] > hi ||
	    (len > 2 && (u[2] & 0xc0) != 0x80) ||
	    (len > 3 && (u[3] & 0xc0) != 0x80))
		return fail(sc, s, KL_JE_UTF8);
	return s + len;
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
		if (++p < end && DIGIT(*p))
			return fail(sc, s, KL_JE_NUM);
	} else if (DIGIT(*p)) {
		while (++p < end && DIGIT(*p))
			;
	} else
		return fail(sc, s, KL_JE_NUM);
	if (p < end && *p == '.') {
		if (++p == end || !DIGIT(*p))
			return fail(sc, s, KL_JE_NUM);
		while (++p < end && DIGIT(*p))
			;
	}
	if (p < end && (*p | 0x20) == 'e') {
		if (++p < end && (*p == '+' || *p == '-'))
			p++;
		if (p == end || !DIGIT(*p))
			return fail(sc, s, KL_JE_NUM);
		while (++p < end && DIGIT(*p))
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

/* WS skips whitespace; NEED also fails at the end of the input. */
#define WS()	do {							\
	if (s < end && isws(*s))					\
		s = skip_ws(sc, out, s, end);				\
} while (0)
#define BAD(c)	do { code = (c); goto bad; } while (0)
#define NEED()	do { WS(); if (s == end) BAD(KL_JE_EOF); } while (0)
#define BIT(i)	(stack[(i) >> 3] & 1 << ((i) & 7))

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
	int code, depth = 0, weight = 0, obj = 0;
	size_t n;

	memset(stack, 0, sizeof(stack));
	sc->run = s;
	NEED();
	start = s;
value:
	switch (*s) {
	case '{': case '[':
		if (weight >= KL_JDEPTH)
			BAD(KL_JE_DEPTH);
		obj = *s++ == '{';
		weight += 1 + obj;
		stack[depth >> 3] = (unsigned char)((stack[depth >> 3] &
		    ~(1 << (depth & 7))) | obj << (depth & 7));
		depth++;
		NEED();
		if (*s == (obj ? '}' : ']')) {
			s++;
			goto close;
		}
		if (obj)
			goto key;
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
	case 't': case 'f': case 'n':
		n = *s == 'f' ? 5 : 4;
		if ((size_t)(end - s) < n || memcmp(s, *s == 't' ? "true" :
		    *s == 'f' ? "false" : "null", n) != 0)
			BAD(KL_JE_LIT);
		s += n;
		break;
	default:
		BAD(KL_JE_CHAR);
	}
more:
	if (depth == 0)
		goto done;
	NEED();
	if (*s == ',') {
		s++;
		NEED();
		if (obj)
			goto key;
		goto value;
	}
	if (*s != (obj ? '}' : ']'))
		BAD(KL_JE_CHAR);
	s++;
close:
	weight -= 1 + obj;
	if (--depth > 0)
		obj = BIT(depth - 1) != 0;
	goto more;
key:
	if (*s != '"')
		BAD(KL_JE_CHAR);
	if ((s = scan_str(sc, s + 1, end)) == NULL)
		return -1;
	NEED();
	if (*s != ':')
		BAD(KL_JE_CHAR);
	s++;
	NEED();
	goto value;
done:
	if (top != NULL)
		*top = (struct kl_jspan){ start, (size_t)(s - start),
		    type_of(*start) };
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

/* Fills e (if not NULL) from sc, or clears it when sc is NULL. */
static void
report(struct kl_jerr *e, const struct scan *sc, const char *base)
{
	if (e == NULL)
		return;
	e->off = sc != NULL ? (size_t)(sc->err - base) : 0;
	e->code = sc != NULL ? sc->code : KL_JE_NONE;
	e->why = why[e->code];
	e->msg[0] = '\0';
	if (sc != NULL)
		snprintf(e->msg, sizeof(e->msg), "%s at byte %zu", e->why,
		    e->off);
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

	if (p == NULL)
		p = "";		/* (NULL, 0) is an empty text */
	if (scan(&sc, p, p + n, top, NULL) == 0) {
		report(e, NULL, p);
		return 0;
	}
	report(e, &sc, p);
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

	if (p == NULL)
		p = "";
	if (scan(&sc, p, p + n, top, out) == 0 && !out->err) {
		report(e, NULL, p);
		return 0;
	}
	if (out->err)
		fail(&sc, p, KL_JE_NOMEM);
	if (out->data != NULL)
		out->data[out->len = len] = '\0';
	report(e, &sc, p);
	errno = out->err ? ENOMEM : EINVAL;
	return -1;
}
