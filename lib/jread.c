/*
 * jread.c - the readers of JSON spans and the writers, the per-record
 * side of jscan.c: lookups, paths, iteration and decoders on spans of
 * text that kl_js_parse validated, and the kl_js_put_* writers.  jscan.h
 * holds what it shares with the scanner.
 *
 * Nothing builds a tree (jscan.c says why).  Lookups, paths and
 * iteration work lazily on spans of validated text, skipping what they
 * do not need; strings and numbers are decoded only when asked.  Only the
 * writers allocate, by appending to a struct kl_buf (and kl_js_double,
 * for a number of 64 bytes or more).
 *
 * - The readers assume spans of validated text.  Each loop is still
 *   bounded by the span's end, so a bad span gives wrong answers, never
 *   an access outside it.
 * - Readers skip strings 16 bytes at a time (SSE2) up to a quote or
 *   backslash.  skip_str, skip_val and kl_js_iter_next run per member and
 *   share this file, so that they inline into each other.
 * - A lone surrogate escape, which the scanner rejects, becomes U+FFFD
 *   should an unchecked span hold one.
 * - Of duplicated keys the last counts, as in libjq, so a lookup walks the
 *   whole object.  Keys compare after unescaping.
 * - kl_js_double uses strtod: kl commands keep the C locale.
 */
#include <config.h>

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kl.h"

#include "jscan.h"

#if defined(__SSE2__) && defined(__GNUC__)
#include <emmintrin.h>
#endif

/*
 * The first byte at or after s that is not whitespace, or end.  Inline:
 * kl_js_iter_next calls it up to four times per member, and GCC 12 keeps
 * it out of line here, where it is the only user of isws.
 */
static inline const char *
ws(const char *s, const char *end)
{
	while (s < end && isws(*s))
		s++;
	return s;
}

/*
 * The first quote or backslash in [s, end), or end.  Strings in records
 * run from a few bytes (keys) to kilobytes (base64 payloads): 16 bytes a
 * step with SSE2 serves both, where a memchr call per string cost more
 * than the scan of a short one; 8 bytes a step (SWAR) elsewhere.
 */
static const char *
quote_or_bs(const char *s, const char *end)
{
#if defined(__SSE2__) && defined(__GNUC__)
	const __m128i q = _mm_set1_epi8('"'), b = _mm_set1_epi8('\\');
	__m128i x;
	unsigned m;

	for (; end - s >= 16; s += 16) {
		x = _mm_loadu_si128((const __m128i *)(const void *)s);
		m = (unsigned)_mm_movemask_epi8(_mm_or_si128(
		    _mm_cmpeq_epi8(x, q), _mm_cmpeq_epi8(x, b)));
		if (m != 0)
			return s + __builtin_ctz(m);
	}
#elif defined(__GNUC__) && defined(__BYTE_ORDER__) && \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	uint64_t w, q, b, m;

	/* As in jscan.c's special8, the lowest flagged byte is exact. */
	for (; end - s >= 8; s += 8) {
		memcpy(&w, s, 8);
		q = w ^ (ONES * '"');
		b = w ^ (ONES * '\\');
		if ((m = (((q - ONES) & ~q) | ((b - ONES) & ~b)) & HIGHS) != 0)
			return s + (__builtin_ctzll(m) >> 3);
	}
#endif
	while (s < end && *s != '"' && *s != '\\')
		s++;
	return s;
}

/*
 * Skips a string at s (its opening quote).  A backslash escapes the byte
 * after it (the rest of a \u escape is hex digits).
 */
static const char *
skip_str(const char *s, const char *end)
{
	for (s++;;) {
		if ((s = quote_or_bs(s, end)) >= end)
			return end;
		if (*s == '"')
			return s + 1;
		if (end - s < 2)
			return end;
		s += 2;
	}
}

/* The bytes that end a bare token (a number or a literal). */
static const unsigned char tokend[256] = {
	[' '] = 1, ['\t'] = 1, ['\n'] = 1, ['\r'] = 1, [','] = 1, [']'] = 1,
	['}'] = 1, [':'] = 1
};

/* Skips the value at s. */
static const char *
skip_val(const char *s, const char *end)
{
	long depth = 0;

	if (*s == '"')
		return skip_str(s, end);
	if (*s != '{' && *s != '[') {
		while (s < end && !tokend[(unsigned char)*s])
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
	static const char from[] = "bfnrt", to[] = "\b\f\n\r\t";
	const char *c;
	unsigned long v;
	long w;
	size_t k;

	*len = 1;
	if (end - s < 2) {
		u[0] = '\\';
		return end;
	}
	if (s[1] != 'u' || end - s < 6 || (w = hex4(s + 2)) < 0) {
		c = s[1] != '\0' ? strchr(from, s[1]) : NULL;
		u[0] = c != NULL ? to[c - from] : s[1] == 'u' ? '?' : s[1];
		return s + 2;
	}
	v = (unsigned long)w;
	s += 6;
	if (v >= 0xd800 && v <= 0xdbff && end - s >= 6 && s[0] == '\\' &&
	    s[1] == 'u' && (w = hex4(s + 2)) >= 0xdc00 && w <= 0xdfff) {
		v = 0x10000 + ((v - 0xd800) << 10) +
		    ((unsigned long)w - 0xdc00);
		s += 6;
	} else if (v >= 0xd800 && v <= 0xdfff)
		v = 0xfffd;
	if (v < 0x80) {
		u[0] = (char)v;
		return s;
	}
	/* Continuation bytes from the end; the lead byte has len high bits. */
	*len = v < 0x800 ? 2 : v < 0x10000 ? 3 : 4;
	for (k = *len - 1; k > 0; k--, v >>= 6)
		u[k] = (char)(0x80 | (v & 0x3f));
	u[0] = (char)((0xf00 >> *len) | v);
	return s;
}

/*
 * Whether the string body s[0..n) unescapes to exactly lit[0..ln).  Every
 * escape shrinks the text, so a body as long as lit must equal it byte for
 * byte and hold no backslash, and a shorter one never matches.
 */
static int
str_eq(const char *s, size_t n, const char *lit, size_t ln)
{
	const char *end = s + n, *b;
	char u[4];
	size_t k;

	if (n == ln)
		return memcmp(s, lit, n) == 0 && memchr(lit, '\\', n) == NULL;
	if (n < ln)
		return 0;
	for (b = s; b < end && *b != '\\'; b++)
		;
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
		for (b = s; b < end && *b != '\\'; b++)
			;
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
	if ((v->type != KL_JOBJ && v->type != KL_JARR) || v->n < 2) {
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
		if (key != NULL)
			*key = (struct kl_jspan){ k, (size_t)(s - k), KL_JSTR };
		s = ws(ws(s, end) + 1, end);	/* the colon */
		if (s >= end)
			return 0;
	}
	k = s;
	s = skip_val(s, end);
	*val = (struct kl_jspan){ k, (size_t)(s - k), type_of(*k) };
	it->p = s > k ? s : s + 1;	/* progress even on a bad span */
	return 1;
}

/*
 * Looks up the member named key[0..klen) of obj, comparing names after
 * unescaping; of duplicated names the last counts, so the whole object is
 * walked (to read several members of a big one, iterate once and compare
 * names with kl_js_streq).  Returns 1 and fills out (which may be obj
 * itself), or 0 when absent or obj is no object.
 */
int
kl_js_getn(const struct kl_jspan *obj, const char *key, size_t klen,
    struct kl_jspan *out)
{
	struct kl_jiter it;
	struct kl_jspan k, v, hit;
	int found = 0;

	if (obj->type != KL_JOBJ || kl_js_iter_init(&it, obj) != 0)
		return 0;
	while (kl_js_iter_next(&it, &k, &v))
		if (k.n >= 2 && str_eq(k.p + 1, k.n - 2, key, klen)) {
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
			if (!DIGIT(*++path))
				goto bad;
			for (idx = 0; DIGIT(*path); path++) {
				if (idx > (SIZE_MAX - 9) / 10)
					goto bad;
				idx = idx * 10 + (size_t)(*path - '0');
			}
			if (*path++ != ']' || (*path != '\0' && *path != '.' &&
			    *path != '['))
				goto bad;
			if (found && (cur.type != KL_JARR ||
			    kl_js_iter_init(&it, &cur) != 0))
				found = 0;
			if (found) {
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
	const char *p, *q, *end = s->p + s->n;
	int neg = s->n > 0 && *s->p == '-';
	uint64_t u = 0, lim = (uint64_t)INT64_MAX + (uint64_t)neg;

	p = s->p + neg;
	for (q = p; q < end && DIGIT(*q); q++)
		;
	if (s->type != KL_JNUM || p == end || q != end) {
		errno = EINVAL;
		return -1;
	}
	for (; p < end; p++) {
		if (u > (lim - (uint64_t)(*p - '0')) / 10) {
			errno = ERANGE;
			return -1;
		}
		u = u * 10 + (uint64_t)(*p - '0');
	}
	*v = neg ? (int64_t)(0 - u) : (int64_t)u;
	return 0;
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
	if (b->len > 0 && b->data[b->len - 1] != '{' &&
	    b->data[b->len - 1] != '[')
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
