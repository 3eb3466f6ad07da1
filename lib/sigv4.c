/*
 * sigv4.c - AWS Signature Version 4 in the Authorization-header form,
 * and the percent-encoding that query strings and form bodies share
 * with it.
 *
 * The signer follows the steps of the AWS documentation, one static
 * function each (canonical request, string to sign, signing key,
 * signature, Authorization header).  Where the documentation leaves a
 * choice open, kl does what botocore's SigV4Auth does: botocore is the
 * oracle the tests compare with, and the AWS test suite agrees with it.
 *
 * Design decisions:
 *
 * - The time is passed in, never read here: tests sign at fixed times,
 *   and the HTTP layer corrects clock skew by passing an adjusted time.
 *
 * - Every header in the list is signed.  The HTTP layer puts there only
 *   the headers it means to sign (Host, Content-Type, X-Amz-Target) and
 *   lets libcurl add the others (User-Agent, Content-Length) unsigned.
 *   The signer owns X-Amz-Date, X-Amz-Security-Token, Authorization and,
 *   with KL_SIGV4_CONTENT_SHA256, x-amz-content-sha256: it first removes
 *   any copies, so re-signing the same list for a retry is safe.
 *
 * - HMAC-SHA256 is built here on one SHA-256 fetched per signature, not
 *   taken from HMAC(): in OpenSSL 3.0 each HMAC() call fetches the
 *   algorithm and builds a MAC context, 1.6 us against 0.3 us for the
 *   two digests it needs (measured on Debian 12), and a signature needs
 *   five.  The signing key is derived anew for every request rather than
 *   cached per day: it lives on the stack for one call and is wiped, as
 *   are the AWS4+secret key, the HMAC pads and inner hashes, the
 *   canonical request (it holds the session token) and the Authorization
 *   value.  Deriving costs about 1.5 us; a cache would keep keys alive.
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
#include <time.h>

#include <openssl/evp.h>

#include "kl.h"

#define ALGORITHM	"AWS4-HMAC-SHA256"
#define AMZDATE_LEN	16		/* YYYYMMDD'T'HHMMSS'Z' */
#define HMAC_BLOCK	64		/* the SHA-256 block size */
#define NHDR_STACK	32		/* sorted without malloc */
#define ENC_SLASH	0x01		/* encode(): keep '/' */
#define ENC_DECODE	0x02		/* encode(): read %XX as one byte */

/* The SHA-256 implementation and a context, fetched once per call. */
struct sha {
	EVP_MD		*md;
	EVP_MD_CTX	*ctx;
};

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

/* A header name or method is a non-empty token: no space, CTL or ':'. */
static int
token_ok(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	if (p == NULL || *p == '\0')
		return 0;
	for (; *p != '\0'; p++)
		if (*p <= ' ' || *p == ':' || *p == 0x7f)
			return 0;
	return 1;
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

/* SHA-256 of a followed by b into md. */
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
 * HMAC-SHA256 (RFC 2104) of msg under key into md:
 * H((K ^ opad) || H((K ^ ipad) || msg)).  The padded key and the inner
 * hash are wiped.
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

/* Formats now as YYYYMMDD'T'HHMMSS'Z'. */
static int
amzdate(time_t now, char out[AMZDATE_LEN + 1])
{
	static const int width[6] = { 4, 2, 2, 2, 2, 2 };
	struct tm tm;
	int v[6], i, j;
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
		for (j = width[i] - 1; j >= 0; j--, v[i] /= 10)
			o[j] = (char)('0' + v[i] % 10);
		o += width[i];
	}
	*o++ = 'Z';
	*o = '\0';
	return 0;
}

/*
 * Removes the headers the signer owns (Authorization, X-Amz-Date,
 * X-Amz-Security-Token and, if sha, x-amz-content-sha256), wiping them.
 */
static void
drop_own(struct kl_hdrs *h, int sha)
{
	size_t i, j;
	const char *n;

	for (i = j = 0; i < h->n; i++) {
		n = h->name[i];
		if (namecmp(n, "authorization") == 0 ||
		    namecmp(n, "x-amz-date") == 0 ||
		    namecmp(n, "x-amz-security-token") == 0 ||
		    (sha && namecmp(n, "x-amz-content-sha256") == 0)) {
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
		    namecmp(h->name[idx[j - 1]], h->name[i]) > 0; j--)
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
canonical_request(struct kl_buf *creq, struct kl_buf *sh,
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
	kl_buf_adds(sts, ALGORITHM "\n");
	kl_buf_adds(sts, date);
	kl_buf_addc(sts, '\n');
	kl_buf_adds(sts, scope);
	kl_buf_addc(sts, '\n');
	kl_buf_add(sts, hex, 64);
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
	char stackbuf[128], *aws4 = stackbuf;
	size_t n = strlen(secret);
	int rc = -1;

	if (n + 5 > sizeof(stackbuf) && (aws4 = malloc(n + 5)) == NULL) {
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
	if (aws4 != stackbuf)
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

/*
 * Step 5: Add the signature to the request.
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html#add-signature-to-request
 *
 * Authorization: AWS4-HMAC-SHA256 Credential=AKID/scope,
 * SignedHeaders=h1;h2, Signature=hex.  auth is scratch space.
 */
static int
add_authorization(struct kl_hdrs *h, struct kl_buf *auth, const char *akid,
    const struct kl_buf *scope, const struct kl_buf *sh, const char *sig)
{
	kl_buf_adds(auth, ALGORITHM " Credential=");
	kl_buf_adds(auth, akid);
	kl_buf_addc(auth, '/');
	kl_buf_add(auth, scope->data, scope->len);
	kl_buf_adds(auth, ", SignedHeaders=");
	kl_buf_add(auth, sh->data, sh->len);
	kl_buf_adds(auth, ", Signature=");
	kl_buf_add(auth, sig, 64);
	if (!auth->err)
		kl_hdrs_add(h, "Authorization", auth->data);
	if (auth->err || h->err) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

/* Checks the arguments; a token must be fit for a header value. */
static int
check_args(const struct kl_hdrs *h, const char *method, const char *path,
    const void *body, size_t len, const char *region, const char *service,
    const struct kl_creds *c)
{
	const unsigned char *p;
	size_t i;
	int host = 0;

	if (h == NULL || !token_ok(method) || (body == NULL && len > 0) ||
	    region == NULL || *region == '\0' || service == NULL ||
	    *service == '\0' || c == NULL || c->akid == NULL ||
	    *c->akid == '\0' || c->secret == NULL ||
	    (path != NULL && *path != '\0' && *path != '/'))
		return -1;
	for (i = 0; i < h->n; i++) {
		if (!token_ok(h->name[i]) || h->value[i] == NULL)
			return -1;
		host |= namecmp(h->name[i], "host") == 0;
	}
	if (c->token != NULL)
		for (p = (const unsigned char *)c->token; *p != '\0'; p++)
			if (*p < ' ' || *p == 0x7f)
				return -1;
	return host ? 0 : -1;
}

/*
 * Removes the signer's own headers from h, then adds the session token
 * (returning its index in *skip if it is not to be signed), X-Amz-Date
 * and x-amz-content-sha256 as asked.
 */
static int
add_own(struct kl_hdrs *h, const struct kl_creds *c, const char *date,
    const char *payload, int flags, size_t *skip)
{
	drop_own(h, flags & KL_SIGV4_CONTENT_SHA256);
	if (c->token != NULL && *c->token != '\0') {
		if (flags & KL_SIGV4_TOKEN_UNSIGNED)
			*skip = h->n;
		kl_hdrs_add(h, "X-Amz-Security-Token", c->token);
	}
	kl_hdrs_add(h, "X-Amz-Date", date);
	if (flags & KL_SIGV4_CONTENT_SHA256)
		kl_hdrs_add(h, "x-amz-content-sha256", payload);
	if (h->err) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

/*
 * Signs a request: adds to h X-Amz-Date, X-Amz-Security-Token when
 * c->token is set, x-amz-content-sha256 with KL_SIGV4_CONTENT_SHA256,
 * and last Authorization, after removing any earlier copies of these.
 * Every other header in h is signed, so h must hold Host and only the
 * headers to sign.  Nothing of c is kept.
 *
 * method is sent as given ("POST"); path is the unencoded absolute path
 * (NULL or "" for "/"); query the wire query string without '?' (NULL
 * or "" for none); body and len the exact bytes to send; region and
 * service the credential scope; now the signing time.  flags:
 * KL_SIGV4_NO_NORMALIZE keeps ".", ".." and "//" in the path (S3);
 * KL_SIGV4_CONTENT_SHA256 adds and signs x-amz-content-sha256;
 * KL_SIGV4_TOKEN_UNSIGNED sends the session token but does not sign it.
 * If trace is not NULL, its buffers (initialised and freed by the
 * caller; creq holds the token, so wipe it) receive the canonical
 * request and the string to sign, and trace->signature the signature.
 *
 * Returns 0, or -1 with errno EINVAL (no Host; a header name or method
 * that is not a token; a path not starting with '/'; a token with
 * control characters; a time outside years 0-9999; a missing argument),
 * ENOMEM, or EIO (libcrypto failed).  On failure h has no Authorization
 * header, but may have lost the signer's old headers and gained
 * X-Amz-Date and the token.
 */
int
kl_sigv4_sign(struct kl_hdrs *h, const char *method, const char *path,
    const char *query, const void *body, size_t len, const char *region,
    const char *service, const struct kl_creds *c, time_t now, int flags,
    struct kl_sigv4_trace *trace)
{
	struct kl_buf creq, sts, sh, scope, tmp;
	struct sha s = { NULL, NULL };
	unsigned char key[32], md[32];
	char date[AMZDATE_LEN + 1], payload[65], sig[65];
	size_t skip = SIZE_MAX;
	int rc = -1, saved;

	if (h != NULL && h->err) {
		errno = ENOMEM;
		return -1;
	}
	if (check_args(h, method, path, body, len, region, service, c) == -1) {
		errno = EINVAL;
		return -1;
	}
	if (amzdate(now, date) == -1)
		return -1;
	kl_buf_init(&creq);
	kl_buf_init(&sts);
	kl_buf_init(&sh);
	kl_buf_init(&scope);
	kl_buf_init(&tmp);
	memset(key, 0, sizeof(key));
	memset(sig, 0, sizeof(sig));
	if ((s.md = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL ||
	    (s.ctx = EVP_MD_CTX_new()) == NULL) {
		errno = EIO;
		goto cleanup;
	}
	if (digest(&s, len > 0 ? body : "", len, NULL, 0, md) == -1)
		goto cleanup;
	kl_hex(md, sizeof(md), payload);
	kl_buf_add(&scope, date, 8);
	kl_buf_addc(&scope, '/');
	kl_buf_adds(&scope, region);
	kl_buf_addc(&scope, '/');
	kl_buf_adds(&scope, service);
	kl_buf_adds(&scope, "/aws4_request");
	if (scope.err) {
		errno = ENOMEM;
		goto cleanup;
	}
	if (add_own(h, c, date, payload, flags, &skip) == -1 ||
	    canonical_request(&creq, &sh, &tmp, method, path, query, h, skip,
	    payload, flags) == -1 ||
	    string_to_sign(&s, &sts, date, scope.data, &creq) == -1 ||
	    signing_key(&s, c->secret, date, region, service, key) == -1 ||
	    signature(&s, key, &sts, sig) == -1)
		goto cleanup;
	if (trace != NULL) {
		kl_buf_reset(&trace->creq);
		kl_buf_add(&trace->creq, creq.data, creq.len);
		kl_buf_reset(&trace->sts);
		kl_buf_add(&trace->sts, sts.data, sts.len);
		memcpy(trace->signature, sig, sizeof(sig));
		if (trace->creq.err || trace->sts.err) {
			errno = ENOMEM;
			goto cleanup;
		}
	}
	kl_buf_reset(&tmp);
	if (add_authorization(h, &tmp, c->akid, &scope, &sh, sig) == -1)
		goto cleanup;
	rc = 0;
cleanup:
	saved = errno;
	explicit_bzero(key, sizeof(key));
	explicit_bzero(sig, sizeof(sig));
	kl_buf_wipe(&creq);
	kl_buf_wipe(&tmp);		/* the Authorization value */
	kl_buf_free(&sts);
	kl_buf_free(&sh);
	kl_buf_free(&scope);
	EVP_MD_CTX_free(s.ctx);
	EVP_MD_free(s.md);
	errno = saved;
	return rc;
}
