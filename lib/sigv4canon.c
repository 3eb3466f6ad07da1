/*
 * sigv4canon.c - step 1 of AWS Signature Version 4, the canonical
 * request, and the percent-encoding it shares with query strings and
 * form bodies (kl_uri_encode).  sigv4.c runs the other steps and signs;
 * the canonical forms are kept apart because their rules, below, are
 * about the text of the request, not about keys and digests.
 *
 * Design decisions:
 *
 * - The path is taken as given and each segment is percent-encoded
 *   once, '%' included: a path already encoded on the wire is thus
 *   encoded twice, as every service but S3 expects (botocore does the
 *   same).  By default it is first normalised with botocore's rule:
 *   empty and "." segments dropped, ".." drops the segment before it,
 *   a trailing '/' kept only if a segment remains.  KL_SIGV4_NO_NORMALIZE
 *   keeps it as is (S3 style).  Kinesis and STS always use "/".
 *
 * - The query string is taken in its wire form.  Each name and value is
 *   decoded (%XX only: '+' is a plus sign, so encode a space as %20, as
 *   kl_uri_encode does) and encoded again, so canonical input is kept
 *   as it is and raw bytes are encoded; pairs are sorted by encoded name,
 *   then value; a name without '=' gets an empty value.  Empty pieces
 *   ("a=1&&b=2") are dropped, as npm aws4 does (botocore signs them as
 *   "="; AWS does not say).
 *
 * - Header names are compared and lower-cased in ASCII, whatever the
 *   locale, and sorted stably, so repeated names join their values with
 *   ',' in the order given.  Values are trimmed: leading and trailing
 *   ASCII white space dropped and inner runs of it (CR and LF included,
 *   which folds multi-line values) made one space.
 */
#include <config.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kl.h"
#include "sigv4.h"

#define NHDR_STACK	32		/* sorted without malloc */
#define ENC_SLASH	0x01		/* encode(): keep '/' */
#define ENC_DECODE	0x02		/* encode(): read %XX as one byte */

/* A query parameter: its encoded name and value. */
struct qparam {
	const char	*k;
	size_t		 klen;
	const char	*v;
	size_t		 vlen;
};

static int
unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	    c == '~';
}

static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int
ws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
	    c == '\v' || c == '\f';
}

static unsigned char
lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

/*
 * Appends s percent-encoded: unreserved bytes (and '/' with ENC_SLASH)
 * as they are, any other as %XX in upper case.  With ENC_DECODE a valid
 * %XX in s is first taken as the byte it stands for.
 */
static void
encode(struct kl_buf *b, const char *s, size_t n, int how)
{
	static const char hexup[] = "0123456789ABCDEF";
	const unsigned char *p = (const unsigned char *)s;
	size_t i, run;
	unsigned char c;
	int hi, lo;
	char pct[3] = { '%', 0, 0 };

	for (i = 0; i < n; i++) {
		for (run = i; run < n && (unreserved(p[run]) ||
		    (p[run] == '/' && (how & ENC_SLASH))); run++)
			continue;
		if (run > i) {
			kl_buf_add(b, p + i, run - i);
			if ((i = run) == n)
				break;
		}
		c = p[i];
		if ((how & ENC_DECODE) && c == '%' && i + 2 < n &&
		    (hi = hexval(p[i + 1])) >= 0 &&
		    (lo = hexval(p[i + 2])) >= 0) {
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
			if (unreserved(c)) {
				kl_buf_addc(b, c);
				continue;
			}
		}
		pct[1] = hexup[c >> 4];
		pct[2] = hexup[c & 15];
		kl_buf_add(b, pct, 3);
	}
}

/*
 * Appends s (n bytes, any content) to b percent-encoded as SigV4 wants
 * for query strings, and as form bodies accept: A-Za-z0-9-._~ (and with
 * keep_slash also '/') as they are, every other byte as %XX with upper-
 * case hex (a space is %20, never '+').  Returns 0, or -1 with errno
 * ENOMEM if b could not grow (b->err is then set, and stays set).
 */
int
kl_uri_encode(struct kl_buf *b, const char *s, size_t n, int keep_slash)
{
	if (n > 0)
		encode(b, s, n, keep_slash ? ENC_SLASH : 0);
	if (b->err) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

/* Appends value with white space trimmed and inner runs made one space. */
static void
trimall(struct kl_buf *b, const char *value)
{
	const unsigned char *p = (const unsigned char *)value;
	const unsigned char *word;
	int first = 1;

	for (;;) {
		while (ws(*p))
			p++;
		if (*p == '\0')
			break;
		if (!first)
			kl_buf_addc(b, ' ');
		for (word = p; *p != '\0' && !ws(*p); p++)
			continue;
		kl_buf_add(b, word, (size_t)(p - word));
		first = 0;
	}
}

/* Appends s in ASCII lower case. */
static void
add_lower(struct kl_buf *b, const char *s)
{
	size_t n = strlen(s), i;
	char *o;

	if (kl_buf_reserve(b, n) == -1)
		return;
	o = b->data + b->len;
	for (i = 0; i < n; i++)
		o[i] = (char)lower((unsigned char)s[i]);
	b->len += n;
	b->data[b->len] = '\0';
}

/* Compares header names in ASCII lower case; sigv4.c uses it too. */
int
kl_sv_namecmp(const char *a, const char *b)
{
	const unsigned char *p = (const unsigned char *)a;
	const unsigned char *q = (const unsigned char *)b;

	while (*p != '\0' && lower(*p) == lower(*q)) {
		p++;
		q++;
	}
	return (int)lower(*p) - (int)lower(*q);
}

static int
memcmp2(const char *a, size_t alen, const char *b, size_t blen)
{
	int c;

	if ((c = memcmp(a, b, alen < blen ? alen : blen)) != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

static int
qparam_cmp(const void *a, const void *b)
{
	const struct qparam *x = a, *y = b;
	int c;

	if ((c = memcmp2(x->k, x->klen, y->k, y->klen)) != 0)
		return c;
	return memcmp2(x->v, x->vlen, y->v, y->vlen);
}

/* Appends the canonical URI: path normalised unless raw, then encoded. */
static void
canonical_uri(struct kl_buf *b, const char *path, int raw)
{
	const char *seg, *end;
	size_t start = b->len, n;

	if (path == NULL || *path == '\0') {
		kl_buf_addc(b, '/');
		return;
	}
	if (raw) {
		encode(b, path, strlen(path), ENC_SLASH);
		return;
	}
	for (seg = path; *seg != '\0'; seg = *end == '\0' ? end : end + 1) {
		for (end = seg; *end != '\0' && *end != '/'; end++)
			continue;
		n = (size_t)(end - seg);
		if (n == 0 || (n == 1 && seg[0] == '.'))
			continue;
		if (n == 2 && seg[0] == '.' && seg[1] == '.') {
			/* Encoded segments hold no '/': cut at the last. */
			while (b->len > start && b->data[--b->len] != '/')
				continue;
			if (b->data != NULL)
				b->data[b->len] = '\0';
			continue;
		}
		kl_buf_addc(b, '/');
		encode(b, seg, n, 0);
	}
	if (b->len == start || path[strlen(path) - 1] == '/')
		kl_buf_addc(b, '/');
}

/* Appends the canonical query string; tmp is scratch space. */
static int
canonical_query(struct kl_buf *b, struct kl_buf *tmp, const char *query)
{
	struct qparam *qp;
	const char *p, *amp, *eq;
	size_t len, n, i;

	if (query == NULL || *query == '\0')
		return 0;
	len = strlen(query);
	for (n = 1, p = query; *p != '\0'; p++)
		n += *p == '&';
	/* Encoding at most triples the text: tmp never moves below. */
	kl_buf_reset(tmp);
	if (len > SIZE_MAX / 4 || kl_buf_reserve(tmp, 3 * len) == -1 ||
	    (qp = calloc(n, sizeof(*qp))) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	for (i = 0, p = query;; p = amp + 1) {
		for (amp = p; *amp != '\0' && *amp != '&'; amp++)
			continue;
		if (amp > p) {
			for (eq = p; eq < amp && *eq != '='; eq++)
				continue;
			qp[i].k = tmp->data + tmp->len;
			encode(tmp, p, (size_t)(eq - p), ENC_DECODE);
			qp[i].klen = (size_t)(tmp->data + tmp->len - qp[i].k);
			qp[i].v = tmp->data + tmp->len;
			if (eq < amp)
				encode(tmp, eq + 1, (size_t)(amp - eq - 1),
				    ENC_DECODE);
			qp[i].vlen = (size_t)(tmp->data + tmp->len - qp[i].v);
			i++;
		}
		if (*amp == '\0')
			break;
	}
	qsort(qp, i, sizeof(*qp), qparam_cmp);
	for (n = i, i = 0; i < n; i++) {
		if (i > 0)
			kl_buf_addc(b, '&');
		kl_buf_add(b, qp[i].k, qp[i].klen);
		kl_buf_addc(b, '=');
		kl_buf_add(b, qp[i].v, qp[i].vlen);
	}
	free(qp);
	return 0;
}

/*
 * Appends the canonical headers ("name:value\n" each) to b and the
 * signed header list to sh, for every header of h but number skip.
 */
static int
canonical_headers(struct kl_buf *b, struct kl_buf *sh,
    const struct kl_hdrs *h, size_t skip)
{
	size_t stackidx[NHDR_STACK], *idx = stackidx, n, i, j;
	const char *name;

	if (h->n > NHDR_STACK &&
	    (idx = calloc(h->n, sizeof(*idx))) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	/* A stable insertion sort: repeated names keep their order. */
	for (i = n = 0; i < h->n; i++) {
		if (i == skip)
			continue;
		for (j = n; j > 0 &&
		    kl_sv_namecmp(h->name[idx[j - 1]], h->name[i]) > 0; j--)
			idx[j] = idx[j - 1];
		idx[j] = i;
		n++;
	}
	for (i = 0; i < n; i = j) {
		name = h->name[idx[i]];
		if (i > 0)
			kl_buf_addc(sh, ';');
		add_lower(sh, name);
		add_lower(b, name);
		kl_buf_addc(b, ':');
		for (j = i; j < n &&
		    kl_sv_namecmp(h->name[idx[j]], name) == 0; j++) {
			if (j > i)
				kl_buf_addc(b, ',');
			trimall(b, h->value[idx[j]]);
		}
		kl_buf_addc(b, '\n');
	}
	if (idx != stackidx)
		free(idx);
	return 0;
}

/*
 * Step 1: Create a canonical request.
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html#create-canonical-request
 *
 * Method, canonical URI, canonical query string, canonical headers, a
 * blank line, signed headers and the hex SHA-256 of the payload, joined
 * by newlines.  The signed header list is also left in sh for step 5.
 * creq, sh and tmp (scratch space) are the caller's; creq may hold the
 * session token, so the caller wipes it.  Returns 0, or -1 with errno
 * ENOMEM.
 */
int
kl_sv_canonical_request(struct kl_buf *creq, struct kl_buf *sh,
    struct kl_buf *tmp, const char *method, const char *path,
    const char *query, const struct kl_hdrs *h, size_t skip,
    const char *payload_hash, int flags)
{
	kl_buf_adds(creq, method);
	kl_buf_addc(creq, '\n');
	canonical_uri(creq, path, flags & KL_SIGV4_NO_NORMALIZE);
	kl_buf_addc(creq, '\n');
	if (canonical_query(creq, tmp, query) == -1)
		return -1;
	kl_buf_addc(creq, '\n');
	if (canonical_headers(creq, sh, h, skip) == -1)
		return -1;
	kl_buf_addc(creq, '\n');
	kl_buf_add(creq, sh->data, sh->len);
	kl_buf_addc(creq, '\n');
	kl_buf_adds(creq, payload_hash);
	if (creq->err || sh->err) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}
