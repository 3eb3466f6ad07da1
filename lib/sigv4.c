/*
 * sigv4.c - AWS Signature Version 4, Authorization-header form, and the
 * percent-encoding that query strings and form bodies share with it.
 *
 * The signer follows the steps of the AWS documentation, one static
 * function each: canonical request, string to sign, signing key,
 * signature; kl_sigv4_sign() then adds the Authorization header.  The
 * reference is https://docs.aws.amazon.com/IAM/latest/UserGuide/
 * create-signed-request.html; where it leaves a choice open, kl does what
 * botocore's SigV4Auth does, because botocore is the oracle the tests
 * compare with, and the AWS test suite (aws-c-auth's copy) agrees.
 *
 * Design decisions:
 *
 * - The time is passed in, never read here: tests sign at fixed times,
 *   and the HTTP layer corrects clock skew by passing an adjusted time.
 *
 * - Every header in the list is signed.  The HTTP layer puts in the list
 *   only the headers it means to sign (host, content-type, x-amz-target)
 *   and lets libcurl add the rest (User-Agent, Content-Length) unsigned.
 *   The signer owns X-Amz-Date, X-Amz-Security-Token, Authorization and,
 *   with KL_SIGV4_CONTENT_SHA256, x-amz-content-sha256: it removes any
 *   copies first, so re-signing a request for a retry is safe.
 *
 * - HMAC-SHA256 is built here on a SHA-256 fetched once per signature,
 *   not taken from HMAC(): in OpenSSL 3.0 each HMAC() call fetches the
 *   algorithm and builds a MAC context, about 1.6 us against 0.3 us for
 *   the two digests it needs (measured on Debian 12), and a signature
 *   needs five.  The signing key is derived for every request, not
 *   cached: it lives on the stack for one call and is wiped, as are the
 *   AWS4+secret block, the HMAC pads and inner hashes, the canonical
 *   request (it holds the session token) and the Authorization value.
 *   Deriving costs about 1.5 us; a cache would keep key material alive.
 *
 * - The path is taken as the caller gives it and each segment is
 *   percent-encoded once, '%' included: a path already encoded on the
 *   wire is thus encoded twice, as every service but S3 expects (and as
 *   botocore does).  By default the path is normalised first, with
 *   botocore's rule: empty and "." segments dropped, ".." removes the
 *   segment before it, a trailing '/' kept only if a segment remains.
 *   KL_SIGV4_NO_NORMALIZE keeps it as is (S3 style).  Kinesis and STS
 *   always use "/".
 *
 * - The query string is taken in its wire form.  Each name and value is
 *   decoded (%XX only: '+' is a plus sign, so encode spaces as %20, as
 *   kl_uri_encode does) and encoded again with the unreserved set
 *   A-Za-z0-9-._~ and upper-case hex, so canonical input is kept as it
 *   is and raw bytes are encoded; pairs are sorted by encoded name, then
 *   value; a name without '=' gets an empty value; empty pairs ("&&")
 *   are dropped.
 *
 * - Header names are compared and lower-cased in ASCII, whatever the
 *   locale, and sorted stably, so repeated names join their values with
 *   ',' in the order given.  Values are "trimmed all": leading and
 *   trailing ASCII white space removed and inner runs of it (CR and LF
 *   included, which folds multi-line values) made one space.
 */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "kl.h"

#define ALGORITHM	"AWS4-HMAC-SHA256"
#define AMZDATE_LEN	16		/* YYYYMMDD'T'HHMMSS'Z' */
#define HMAC_BLOCK	64		/* SHA-256 block size */
#define NHDR_STACK	32		/* header indexes sorted on the stack */

/* One SHA-256 implementation and context, fetched once per signature. */
struct sha {
	EVP_MD		*md;
	EVP_MD_CTX	*ctx;
};

/* A query parameter: its encoded name and value, in a scratch buffer. */
struct qparam {
	const char	*k;
	size_t		 klen;
	const char	*v;
	size_t		 vlen;
};

static const char hexup[] = "0123456789ABCDEF";

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

/* Appends the %XX form of every byte of s that is not unreserved. */
static void
encode(struct kl_buf *b, const unsigned char *s, size_t n, int keep_slash)
{
	size_t i, run;
	char pct[3];

	pct[0] = '%';
	for (i = 0; i < n; i = run + 1) {
		for (run = i; run < n; run++)
			if (!unreserved(s[run]) && !(keep_slash && s[run] == '/'))
				break;
		kl_buf_add(b, s + i, run - i);
		if (run == n)
			break;
		pct[1] = hexup[s[run] >> 4];
		pct[2] = hexup[s[run] & 15];
		kl_buf_add(b, pct, 3);
	}
}

/*
 * Appends s (n bytes, any content) to b percent-encoded as SigV4, query
 * strings and form bodies want: bytes of A-Za-z0-9-._~ as they are, and
 * with keep_slash also '/'; every other byte as %XX with upper-case hex
 * (a space is %20, never '+').  Returns 0, or -1 with errno ENOMEM when
 * b could not grow (b->err is then set).
 */
int
kl_uri_encode(struct kl_buf *b, const char *s, size_t n, int keep_slash)
{
	encode(b, (const unsigned char *)s, n, keep_slash);
	if (b->err) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

/* Appends the canonical form of a query name or value in wire form. */
static void
reencode(struct kl_buf *b, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i;
	unsigned char c;
	int hi, lo;
	char pct[3];

	pct[0] = '%';
	for (i = 0; i < n; i++) {
		c = p[i];
		if (c == '%' && i + 2 < n && (hi = hexval(p[i + 1])) >= 0 &&
		    (lo = hexval(p[i + 2])) >= 0) {
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
		}
		if (unreserved(c))
			kl_buf_addc(b, c);
		else {
			pct[1] = hexup[c >> 4];
			pct[2] = hexup[c & 15];
			kl_buf_add(b, pct, 3);
		}
	}
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

/* Compares header names in ASCII lower case. */
static int
namecmp(const char *a, const char *b)
{
	const unsigned char *p = (const unsigned char *)a;
	const unsigned char *q = (const unsigned char *)b;

	while (*p != '\0' && lower(*p) == lower(*q)) {
		p++;
		q++;
	}
	return (int)lower(*p) - (int)lower(*q);
}

/* A header name must be a non-empty token: no space, control or ':'. */
static int
name_ok(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	if (*p == '\0')
		return 0;
	for (; *p != '\0'; p++)
		if (*p <= ' ' || *p == ':' || *p == 0x7f)
			return 0;
	return 1;
}

static int
qparam_cmp(const void *a, const void *b)
{
	const struct qparam *x = a, *y = b;
	size_t n;
	int c;

	n = x->klen < y->klen ? x->klen : y->klen;
	if ((c = memcmp(x->k, y->k, n)) != 0)
		return c;
	if (x->klen != y->klen)
		return x->klen < y->klen ? -1 : 1;
	n = x->vlen < y->vlen ? x->vlen : y->vlen;
	if ((c = memcmp(x->v, y->v, n)) != 0)
		return c;
	if (x->vlen != y->vlen)
		return x->vlen < y->vlen ? -1 : 1;
	return 0;
}

/* Removes every header of that name, wiping the values. */
static void
hdrs_drop(struct kl_hdrs *h, const char *name)
{
	size_t i, j;

	for (i = j = 0; i < h->n; i++) {
		if (namecmp(h->name[i], name) == 0) {
			free(h->name[i]);
			explicit_bzero(h->value[i], strlen(h->value[i]));
			free(h->value[i]);
			continue;
		}
		h->name[j] = h->name[i];
		h->value[j] = h->value[i];
		j++;
	}
	h->n = j;
}

/* SHA-256 of a followed by b (b may be NULL) into md. */
static int
digest(struct sha *s, const void *a, size_t alen, const void *b,
    size_t blen, unsigned char md[32])
{
	unsigned int len;

	if (EVP_DigestInit_ex(s->ctx, s->md, NULL) != 1 ||
	    EVP_DigestUpdate(s->ctx, a, alen) != 1 ||
	    (blen > 0 && EVP_DigestUpdate(s->ctx, b, blen) != 1) ||
	    EVP_DigestFinal_ex(s->ctx, md, &len) != 1) {
		errno = EIO;
		return -1;
	}
	return 0;
}

/*
 * HMAC-SHA256 (RFC 2104) of msg under key into md: H((K ^ opad) ||
 * H((K ^ ipad) || msg)).  The padded key and inner hash are wiped.
 */
static int
hmac(struct sha *s, const void *key, size_t keylen, const void *msg,
    size_t n, unsigned char md[32])
{
	unsigned char block[HMAC_BLOCK], inner[32];
	size_t i;
	int rc = -1;

	memset(block, 0, sizeof(block));
	if (keylen > HMAC_BLOCK) {
		if (digest(s, key, keylen, NULL, 0, block) == -1)
			goto cleanup;
	} else
		memcpy(block, key, keylen);
	for (i = 0; i < HMAC_BLOCK; i++)
		block[i] ^= 0x36;
	if (digest(s, block, HMAC_BLOCK, msg, n, inner) == -1)
		goto cleanup;
	for (i = 0; i < HMAC_BLOCK; i++)
		block[i] ^= 0x36 ^ 0x5c;
	if (digest(s, block, HMAC_BLOCK, inner, sizeof(inner), md) == -1)
		goto cleanup;
	rc = 0;
cleanup:
	explicit_bzero(block, sizeof(block));
	explicit_bzero(inner, sizeof(inner));
	return rc;
}

/* Formats now as YYYYMMDD'T'HHMMSS'Z' into out (17 bytes). */
static int
amzdate(time_t now, char out[AMZDATE_LEN + 1])
{
	struct tm tm;
	int v[6], w[6] = { 4, 2, 2, 2, 2, 2 }, i, j;
	char *o = out;

	if (gmtime_r(&now, &tm) == NULL || tm.tm_year < -1900 ||
	    tm.tm_year > 9999 - 1900) {
		errno = EINVAL;
		return -1;
	}
	v[0] = tm.tm_year + 1900;
	v[1] = tm.tm_mon + 1;
	v[2] = tm.tm_mday;
	v[3] = tm.tm_hour;
	v[4] = tm.tm_min;
	v[5] = tm.tm_sec;
	for (i = 0; i < 6; i++) {
		if (i == 3)
			*o++ = 'T';
		for (j = w[i] - 1; j >= 0; j--, v[i] /= 10)
			o[j] = (char)('0' + v[i] % 10);
		o += w[i];
	}
	*o++ = 'Z';
	*o = '\0';
	return 0;
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
		encode(b, (const unsigned char *)path, strlen(path), 1);
		return;
	}
	for (seg = path; *seg != '\0'; seg = *end == '\0' ? end : end + 1) {
		for (end = seg; *end != '\0' && *end != '/'; end++)
			continue;
		n = (size_t)(end - seg);
		if (n == 0 || (n == 1 && seg[0] == '.'))
			continue;
		if (n == 2 && seg[0] == '.' && seg[1] == '.') {
			/* Encoded segments hold no '/': cut at the last one. */
			while (b->len > start && b->data[--b->len] != '/')
				continue;
			if (b->data != NULL)
				b->data[b->len] = '\0';
			continue;
		}
		kl_buf_addc(b, '/');
		encode(b, (const unsigned char *)seg, n, 0);
	}
	if (b->len == start)
		kl_buf_addc(b, '/');
	else if (path[strlen(path) - 1] == '/')
		kl_buf_addc(b, '/');
}

/* Appends the canonical query string; tmp is scratch space. */
static int
canonical_query(struct kl_buf *b, struct kl_buf *tmp, const char *query)
{
	struct qparam *qp;
	const char *p, *amp, *eq;
	size_t n, i, *off;

	if (query == NULL || *query == '\0')
		return 0;
	for (n = 1, p = query; *p != '\0'; p++)
		n += *p == '&';
	/* Offsets first (the buffer may move), then pointers. */
	if ((qp = calloc(n, sizeof(*qp))) == NULL ||
	    (off = calloc(n * 3, sizeof(*off))) == NULL) {
		free(qp);
		errno = ENOMEM;
		return -1;
	}
	kl_buf_reset(tmp);
	for (i = 0, p = query;; p = amp + 1) {
		if ((amp = strchr(p, '&')) == NULL)
			amp = p + strlen(p);
		if (amp > p) {
			for (eq = p; eq < amp && *eq != '='; eq++)
				continue;
			off[3 * i] = tmp->len;
			reencode(tmp, p, (size_t)(eq - p));
			off[3 * i + 1] = tmp->len;
			reencode(tmp, eq < amp ? eq + 1 : eq,
			    eq < amp ? (size_t)(amp - eq - 1) : 0);
			off[3 * i + 2] = tmp->len;
			i++;
		}
		if (*amp == '\0')
			break;
	}
	n = i;
	if (!tmp->err) {
		for (i = 0; i < n; i++) {
			qp[i].k = tmp->data + off[3 * i];
			qp[i].klen = off[3 * i + 1] - off[3 * i];
			qp[i].v = tmp->data + off[3 * i + 1];
			qp[i].vlen = off[3 * i + 2] - off[3 * i + 1];
		}
		qsort(qp, n, sizeof(*qp), qparam_cmp);
		for (i = 0; i < n; i++) {
			if (i > 0)
				kl_buf_addc(b, '&');
			kl_buf_add(b, qp[i].k, qp[i].klen);
			kl_buf_addc(b, '=');
			kl_buf_add(b, qp[i].v, qp[i].vlen);
		}
	}
	free(qp);
	free(off);
	if (tmp->err) {
		b->err = 1;
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

/*
 * Appends the canonical headers (each "name:value\n") to b and the
 * signed header list to sh, for every header of h but number skip.
 */
static int
canonical_headers(struct kl_buf *b, struct kl_buf *sh,
    const struct kl_hdrs *h, size_t skip)
{
	size_t stackidx[NHDR_STACK], *idx = stackidx, n, i, j, t;
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
		for (j = n; j > 0 && namecmp(h->name[idx[j - 1]],
		    h->name[i]) > 0; j--)
			idx[j] = idx[j - 1];
		idx[j] = i;
		n++;
	}
	for (i = 0; i < n; i = j) {
		name = h->name[idx[i]];
		if (i > 0)
			kl_buf_addc(sh, ';');
		for (t = 0; name[t] != '\0'; t++) {
			kl_buf_addc(b, lower((unsigned char)name[t]));
			kl_buf_addc(sh, lower((unsigned char)name[t]));
		}
		kl_buf_addc(b, ':');
		for (j = i; j < n && namecmp(h->name[idx[j]], name) == 0;
		    j++) {
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
 */
static int
canonical_request(struct kl_buf *creq, struct kl_buf *sh, struct kl_buf *tmp,
    const char *method, const char *path, const char *query,
    const struct kl_hdrs *h, size_t skip, const char *payload_hash,
    int flags)
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

/*
 * Step 2: Create a string to sign.
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html#create-string-to-sign
 *
 * The algorithm, the request time, the credential scope and the hex
 * SHA-256 of the canonical request, joined by newlines (none at the end).
 */
static int
string_to_sign(struct sha *s, struct kl_buf *sts, const char *date,
    const char *scope, const struct kl_buf *creq)
{
	unsigned char md[32];
	char hex[65];

	if (digest(s, creq->data, creq->len, NULL, 0, md) == -1)
		return -1;
	kl_hex(md, sizeof(md), hex);
	kl_buf_addf(sts, "%s\n%s\n%s\n%s", ALGORITHM, date, scope, hex);
	if (sts->err) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

/*
 * Step 3: Derive a signing key.
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html#derive-signing-key
 *
 * kDate = HMAC("AWS4" + secret, YYYYMMDD), kRegion = HMAC(kDate, region),
 * kService = HMAC(kRegion, service), kSigning = HMAC(kService,
 * "aws4_request").  Every intermediate is wiped; the caller wipes key.
 */
static int
signing_key(struct sha *s, const char *secret, const char *day,
    const char *region, const char *service, unsigned char key[32])
{
	unsigned char k1[32], k2[32];
	char *aws4;
	size_t n;
	int rc = -1;

	n = strlen(secret);
	if ((aws4 = malloc(n + 5)) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	memcpy(aws4, "AWS4", 4);
	memcpy(aws4 + 4, secret, n + 1);
	if (hmac(s, aws4, n + 4, day, 8, k1) == -1 ||
	    hmac(s, k1, 32, region, strlen(region), k2) == -1 ||
	    hmac(s, k2, 32, service, strlen(service), k1) == -1 ||
	    hmac(s, k1, 32, "aws4_request", 12, key) == -1)
		goto cleanup;
	rc = 0;
cleanup:
	explicit_bzero(aws4, n + 5);
	free(aws4);
	explicit_bzero(k1, sizeof(k1));
	explicit_bzero(k2, sizeof(k2));
	return rc;
}

/*
 * Step 4: Calculate the signature.
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html#calculate-signature
 *
 * The lower-case hex HMAC of the string to sign under the signing key.
 */
static int
signature(struct sha *s, const unsigned char key[32],
    const struct kl_buf *sts, char sig[65])
{
	unsigned char md[32];

	if (hmac(s, key, 32, sts->data, sts->len, md) == -1)
		return -1;
	kl_hex(md, sizeof(md), sig);
	explicit_bzero(md, sizeof(md));
	return 0;
}

/* Checks what the caller passed; a token must be a printable value. */
static int
check_args(const struct kl_hdrs *h, const char *method, const char *path,
    const char *region, const char *service, const struct kl_creds *c)
{
	const unsigned char *p;
	size_t i;

	if (h == NULL || method == NULL || !name_ok(method) ||
	    region == NULL || *region == '\0' || service == NULL ||
	    *service == '\0' || c == NULL || c->akid == NULL ||
	    *c->akid == '\0' || c->secret == NULL ||
	    (path != NULL && *path != '\0' && *path != '/') ||
	    kl_hdrs_get(h, "host") == NULL)
		return -1;
	for (i = 0; i < h->n; i++)
		if (!name_ok(h->name[i]) || h->value[i] == NULL)
			return -1;
	if (c->token != NULL)
		for (p = (const unsigned char *)c->token; *p != '\0'; p++)
			if (*p < ' ' || *p == 0x7f)
				return -1;
	return 0;
}

/*
 * Signs a request: adds X-Amz-Date, X-Amz-Security-Token when c->token
 * is set, x-amz-content-sha256 with KL_SIGV4_CONTENT_SHA256, and then
 * Authorization to h, replacing any earlier copies of them.  Every other
 * header in h is signed, so h must hold Host and only headers to sign.
 *
 * method is sent as given ("POST"); path is the unencoded absolute path
 * ("/", or NULL for "/"); query is the wire query string without '?'
 * (NULL or "" for none); body, len the exact bytes to send; region and
 * service the credential scope; now the signing time.  flags:
 * KL_SIGV4_NO_NORMALIZE keeps ".", ".." and "//" in the path (S3);
 * KL_SIGV4_CONTENT_SHA256 adds and signs x-amz-content-sha256;
 * KL_SIGV4_TOKEN_UNSIGNED adds the session token but leaves it out of
 * the signature.  If trace is not NULL, its buffers (initialised by the
 * caller, who frees them; creq holds the token) receive the canonical
 * request and the string to sign, and trace->signature the signature.
 *
 * Nothing of c is kept; every derived key is wiped before returning.
 * Returns 0, or -1 with errno EINVAL (no Host, a bad header name, a path
 * not starting with '/', a token with control characters, a time
 * outside years 0-9999, a missing argument), ENOMEM, or EIO (libcrypto
 * failed).  On failure h holds no Authorization header, but may have
 * lost the signer's old headers and gained X-Amz-Date and the token.
 */
int
kl_sigv4_sign(struct kl_hdrs *h, const char *method, const char *path,
    const char *query, const void *body, size_t len, const char *region,
    const char *service, const struct kl_creds *c, time_t now, int flags,
    struct kl_sigv4_trace *trace)
{
	struct kl_buf creq, sts, sh, tmp, auth;
	struct sha s = { NULL, NULL };
	unsigned char key[32], md[32];
	char date[AMZDATE_LEN + 1], payload[65], sig[65];
	size_t skip = (size_t)-1;
	int rc = -1, saved;

	kl_buf_init(&creq);
	kl_buf_init(&sts);
	kl_buf_init(&sh);
	kl_buf_init(&tmp);
	kl_buf_init(&auth);
	sig[0] = '\0';
	if (h != NULL && h->err) {
		errno = ENOMEM;
		return -1;
	}
	if (check_args(h, method, path, region, service, c) == -1 ||
	    (body == NULL && len > 0)) {
		errno = EINVAL;
		return -1;
	}
	if (amzdate(now, date) == -1)
		return -1;
	if ((s.md = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL ||
	    (s.ctx = EVP_MD_CTX_new()) == NULL) {
		errno = EIO;
		goto cleanup;
	}
	if (digest(&s, len > 0 ? body : "", len, NULL, 0, md) == -1)
		goto cleanup;
	kl_hex(md, sizeof(md), payload);

	hdrs_drop(h, "authorization");
	hdrs_drop(h, "x-amz-date");
	hdrs_drop(h, "x-amz-security-token");
	if (flags & KL_SIGV4_CONTENT_SHA256)
		hdrs_drop(h, "x-amz-content-sha256");
	if (c->token != NULL && *c->token != '\0') {
		if (flags & KL_SIGV4_TOKEN_UNSIGNED)
			skip = h->n;
		kl_hdrs_add(h, "X-Amz-Security-Token", c->token);
	}
	kl_hdrs_add(h, "X-Amz-Date", date);
	if (flags & KL_SIGV4_CONTENT_SHA256)
		kl_hdrs_add(h, "x-amz-content-sha256", payload);
	if (h->err) {
		errno = ENOMEM;
		goto cleanup;
	}

	if (canonical_request(&creq, &sh, &tmp, method, path, query, h, skip,
	    payload, flags) == -1)
		goto cleanup;
	/* The scope, YYYYMMDD/region/service/aws4_request, goes in tmp. */
	kl_buf_reset(&tmp);
	kl_buf_addf(&tmp, "%.8s/%s/%s/aws4_request", date, region, service);
	if (tmp.err) {
		errno = ENOMEM;
		goto cleanup;
	}
	if (string_to_sign(&s, &sts, date, tmp.data, &creq) == -1 ||
	    signing_key(&s, c->secret, date, region, service, key) == -1 ||
	    signature(&s, key, &sts, sig) == -1)
		goto cleanup;

	/*
	 * Step 5: Add the signature to the request.
	 * https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html#add-signature-to-request
	 */
	kl_buf_addf(&auth, "%s Credential=%s/%s, SignedHeaders=%s, "
	    "Signature=%s", ALGORITHM, c->akid, tmp.data, sh.data, sig);
	if (auth.err) {
		errno = ENOMEM;
		goto cleanup;
	}
	kl_hdrs_add(h, "Authorization", auth.data);
	if (h->err) {
		errno = ENOMEM;
		goto cleanup;
	}
	if (trace != NULL) {
		kl_buf_reset(&trace->creq);
		kl_buf_add(&trace->creq, creq.data, creq.len);
		kl_buf_reset(&trace->sts);
		kl_buf_add(&trace->sts, sts.data, sts.len);
		memcpy(trace->signature, sig, sizeof(sig));
		if (trace->creq.err || trace->sts.err) {
			hdrs_drop(h, "authorization");
			errno = ENOMEM;
			goto cleanup;
		}
	}
	rc = 0;
cleanup:
	saved = errno;
	explicit_bzero(key, sizeof(key));
	explicit_bzero(sig, sizeof(sig));
	kl_buf_wipe(&creq);
	kl_buf_wipe(&auth);
	kl_buf_free(&sts);
	kl_buf_free(&sh);
	kl_buf_free(&tmp);
	EVP_MD_CTX_free(s.ctx);
	EVP_MD_free(s.md);
	errno = saved;
	return rc;
}
