/*
 * t-sigv4.c - tests for sigv4.c and sigv4canon.c.
 *
 * Three parts.  Known answers: the worked examples of aws-protocol.md
 * §3.2 (Kinesis PutRecords, STS AssumeRole with and without a session
 * token) and small cases for each canonicalisation rule and error.  The
 * AWS SigV4 test suite: every case directory under
 * $KL_SHARED/testdata/aws-sigv4-suite/v4 is signed in header mode and
 * the canonical request, string to sign, signature, Authorization line
 * and the whole signed request are compared byte for byte; if KL_SHARED
 * is unset or the suite is absent (as under make distcheck), that part is
 * one skipped test.  A benchmark, only when KL_SIGV4_BENCH is set, prints
 * signing times as TAP diagnostics.
 *
 * The suite's files are parsed here: context.json with libjq (a cold
 * path), request.txt by hand (request line, "Name:value" lines, indented
 * continuation lines, a blank line and the body).
 */
#include <config.h>

#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jv.h>

#include "kl.h"
#include "tap.h"

#define AKID	"AKIDEXAMPLE"
#define SECRET	"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define T2015	((time_t)1440938160)	/* 2015-08-30T12:36:00Z */
#define T2026	((time_t)1767323045)	/* 2026-01-02T03:04:05Z */
#define EMPTY_SHA256 \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define KINESIS_JSON	"application/x-amz-json-1.1"
#define STS_FORM	"application/x-www-form-urlencoded; charset=utf-8"

static struct kl_creds example = { (char *)AKID, (char *)SECRET, NULL, 0 };

static void
trace_init(struct kl_sigv4_trace *t)
{
	kl_buf_init(&t->creq);
	kl_buf_init(&t->sts);
	t->signature[0] = '\0';
}

static void
trace_free(struct kl_sigv4_trace *t)
{
	kl_buf_wipe(&t->creq);
	kl_buf_free(&t->sts);
}

/* Returns line i (from 0) of s in a static buffer, "" past the end. */
static const char *
line_of(const char *s, int i)
{
	static char line[4096];
	const char *e;
	size_t n;

	for (; i > 0 && s != NULL; i--)
		if ((s = strchr(s, '\n')) != NULL)
			s++;
	if (s == NULL)
		return "";
	e = strchr(s, '\n');
	n = e != NULL ? (size_t)(e - s) : strlen(s);
	if (n >= sizeof(line))
		n = sizeof(line) - 1;
	memcpy(line, s, n);
	line[n] = '\0';
	return line;
}

static int
count_hdr(const struct kl_hdrs *h, const char *name)
{
	size_t i;
	int n = 0;

	for (i = 0; i < h->n; i++)
		n += strcasecmp(h->name[i], name) == 0;
	return n;
}

/* The hex SHA-256 of s, in a static buffer. */
static const char *
sha_hex(const void *p, size_t n)
{
	static char hex[65];
	unsigned char md[32];

	kl_sha256(p, n, md);
	kl_hex(md, sizeof(md), hex);
	return hex;
}

/*
 * One Kinesis or STS request of aws-protocol.md §3.2: checks the signed
 * headers, the payload hash, the hash line of the string to sign and the
 * signature; creq, if not NULL, is the whole expected canonical request.
 */
static void
worked(const char *what, const char *host, const char *ctype,
    const char *target, const char *body, const char *token, time_t now,
    const char *creq, const char *signed_hdrs, const char *payload,
    const char *sts_hash, const char *sig)
{
	struct kl_creds c = example;
	struct kl_sigv4_trace t;
	struct kl_hdrs h;
	char want[512];
	int rc, nh = 3 + (target != NULL) + (token != NULL);

	c.token = (char *)token;
	kl_hdrs_init(&h);
	trace_init(&t);
	kl_hdrs_add(&h, "Host", host);
	kl_hdrs_add(&h, "Content-Type", ctype);
	if (target != NULL)
		kl_hdrs_add(&h, "X-Amz-Target", target);
	rc = kl_sigv4_sign(&h, "POST", "/", NULL, body, strlen(body),
	    "us-east-1", strncmp(host, "sts", 3) == 0 ? "sts" : "kinesis", &c,
	    now, 0, &t);
	is_int(rc, 0, "%s: signs", what);
	if (creq != NULL)
		is_str(t.creq.data, creq, "%s: canonical request", what);
	is_str(line_of(t.creq.data, nh + 4), signed_hdrs,
	    "%s: signed headers", what);
	is_str(sha_hex(body, strlen(body)), payload, "%s: payload hash",
	    what);
	is_str(line_of(t.creq.data, nh + 5), payload,
	    "%s: payload hash in the canonical request", what);
	if (sts_hash != NULL)
		is_str(line_of(t.sts.data, 3), sts_hash,
		    "%s: string to sign hash", what);
	is_str(t.signature, sig, "%s: signature", what);
	snprintf(want, sizeof(want), "AWS4-HMAC-SHA256 Credential=" AKID
	    "/%.8s/us-east-1/%s/aws4_request, SignedHeaders=%s, "
	    "Signature=%s", line_of(t.sts.data, 1),
	    strncmp(host, "sts", 3) == 0 ? "sts" : "kinesis", signed_hdrs, sig);
	is_str(kl_hdrs_get(&h, "authorization"), want, "%s: Authorization",
	    what);
	kl_hdrs_free(&h);
	trace_free(&t);
}

static void
worked_examples(void)
{
	const char *kin_body = "{\"StreamName\":\"my-stream\",\"Records\":"
	    "[{\"Data\":\"eyJ1c2VyX2lkIjoiNDIifQ==\","
	    "\"PartitionKey\":\"42\"}]}";
	const char *sts_body = "Action=AssumeRole&Version=2011-06-15&RoleArn="
	    "arn%3Aaws%3Aiam%3A%3A111111111111%3Arole%2FLytics%2FWriteToKinesis"
	    "%2FLyticsWriteToKinesis&RoleSessionName=kl-assume-role-1&"
	    "ExternalId=example-external-id&DurationSeconds=3600";

	worked("kinesis PutRecords 2015", "kinesis.us-east-1.amazonaws.com",
	    KINESIS_JSON, "Kinesis_20131202.PutRecords", kin_body, NULL, T2015,
	    "POST\n/\n\ncontent-type:application/x-amz-json-1.1\n"
	    "host:kinesis.us-east-1.amazonaws.com\n"
	    "x-amz-date:20150830T123600Z\n"
	    "x-amz-target:Kinesis_20131202.PutRecords\n\n"
	    "content-type;host;x-amz-date;x-amz-target\n"
	    "6e21ef0602469c5e8a3b86c25290740de8f6c505488d16d6df0f4561d3193f63",
	    "content-type;host;x-amz-date;x-amz-target",
	    "6e21ef0602469c5e8a3b86c25290740de8f6c505488d16d6df0f4561d3193f63",
	    "0f1743e3dd3e45e0cddb20fbe8834ea157649fda53684946b2b2c291a88befb6",
	    "a51441b2f244b28c109ec273bd4c642713a7d9d0f92d960327572ac03757c12c");
	worked("sts AssumeRole 2015", "sts.us-east-1.amazonaws.com", STS_FORM,
	    NULL, sts_body, NULL, T2015, NULL, "content-type;host;x-amz-date",
	    "f9edea7d61980c7c277d27f8122776ebde252710f9b88aadda59ddfbee342ff9",
	    "049bfbcd4e38341213d7bf6c3065fec4683c7e4ccf3b4ff5c4db0832140ec7d8",
	    "20d905d0211673cc2cc739761f065eafc229f6c27660881e972e91adc21adfbf");
	worked("sts AssumeRole 2015 without charset",
	    "sts.us-east-1.amazonaws.com", "application/x-www-form-urlencoded",
	    NULL, sts_body, NULL, T2015, NULL, "content-type;host;x-amz-date",
	    "f9edea7d61980c7c277d27f8122776ebde252710f9b88aadda59ddfbee342ff9",
	    NULL,
	    "bfe1ef36474f22e2d5b8e61741281b47af8addd774249c187d21bacc6c0c7e83");
	worked("sts AssumeRole 2026 with token", "sts.us-east-1.amazonaws.com",
	    STS_FORM, NULL, "Action=AssumeRole&Version=2011-06-15&RoleArn="
	    "arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fdemo&"
	    "RoleSessionName=s1", "SESSIONTOKEN/EXAMPLE==", T2026, NULL,
	    "content-type;host;x-amz-date;x-amz-security-token",
	    "a6a1c98d7e9f00cd6b063b53d79249ea093b3b379193512f6ff614e2b6383ea9",
	    NULL,
	    "f83468e82a252d21a215849f90c042b54e39875cf7536874c7330fe42c3ad890");
	worked("kinesis PutRecords 2026", "kinesis.us-east-1.amazonaws.com",
	    KINESIS_JSON, "Kinesis_20131202.PutRecords",
	    "{\"StreamName\":\"s1\",\"Records\":[{\"Data\":\"eyJhIjoxfQ==\","
	    "\"PartitionKey\":\"pk1\"}]}", NULL, T2026, NULL,
	    "content-type;host;x-amz-date;x-amz-target",
	    "d6ddc32c82ed89bf1f630d95db1e97a2fc59d0172cedc2f790b667704af4a06b",
	    NULL,
	    "21f8c8e07a87bbb6894a2e08fa03fe5c213a4ad693f927e7a12f3bcff96f4e73");
}

static void
enc_case(const char *raw, size_t n, int keep_slash, const char *want)
{
	struct kl_buf b;

	kl_buf_init(&b);
	is_int(kl_uri_encode(&b, raw, n, keep_slash), 0,
	    "kl_uri_encode '%s' returns 0", want);
	is_str(b.data != NULL ? b.data : "", want, "kl_uri_encode -> '%s'",
	    want);
	kl_buf_free(&b);
}

/*
 * Signs a GET to example.amazonaws.com with extra headers (name, value
 * pairs, NULL-terminated) and returns the canonical request in *creq.
 */
static int
sign_get(const char *path, const char *query, int flags,
    const char *const *hdrs, struct kl_buf *creq)
{
	struct kl_sigv4_trace t;
	struct kl_hdrs h;
	int rc;

	kl_hdrs_init(&h);
	trace_init(&t);
	kl_hdrs_add(&h, "Host", "example.amazonaws.com");
	for (; hdrs != NULL && hdrs[0] != NULL; hdrs += 2)
		kl_hdrs_add(&h, hdrs[0], hdrs[1]);
	rc = kl_sigv4_sign(&h, "GET", path, query, NULL, 0, "us-east-1",
	    "service", &example, T2015, flags, &t);
	kl_buf_reset(creq);
	kl_buf_add(creq, t.creq.data, t.creq.len);
	kl_hdrs_free(&h);
	trace_free(&t);
	return rc;
}

static void
path_case(const char *path, int flags, const char *want)
{
	struct kl_buf creq;

	kl_buf_init(&creq);
	is_int(sign_get(path, NULL, flags, NULL, &creq), 0, "path '%s' signs",
	    path ? path : "(null)");
	is_str(line_of(creq.data, 1), want, "path '%s'%s -> '%s'",
	    path ? path : "(null)", flags ? " raw" : "", want);
	kl_buf_free(&creq);
}

static void
query_case(const char *query, const char *want)
{
	struct kl_buf creq;

	kl_buf_init(&creq);
	is_int(sign_get("/", query, 0, NULL, &creq), 0, "query '%s' signs",
	    query);
	is_str(line_of(creq.data, 2), want, "query '%s' -> '%s'", query, want);
	kl_buf_free(&creq);
}

static void
canon_rules(void)
{
	static const char *const dup[] = { "X-Dup", " 1 ", "My-Header",
	    "  a \t  b\t", "x-dup", "2", "Empty", " \t ", "x-DUP", "3",
	    "Multi", "one\r\n  two", NULL };
	struct kl_buf creq;

	enc_case("", 0, 0, "");
	enc_case("AZaz09-._~", 10, 0, "AZaz09-._~");
	enc_case("a b+c=d&e/f%", 12, 0, "a%20b%2Bc%3Dd%26e%2Ff%25");
	enc_case("/a b/", 5, 1, "/a%20b/");
	enc_case("\xe1\x88\xb4\xff", 4, 0, "%E1%88%B4%FF");
	enc_case("a\0b", 3, 0, "a%00b");

	path_case(NULL, 0, "/");
	path_case("", 0, "/");
	path_case("/", 0, "/");
	path_case("/a/./b/../c", 0, "/a/c");
	path_case("//a//b//", 0, "/a/b/");
	path_case("/a/b/..", 0, "/a");
	path_case("/a/b/../", 0, "/a/");
	path_case("/../..", 0, "/");
	path_case("/a/.", 0, "/a");
	path_case("/a b/%41/~x", 0, "/a%20b/%2541/~x");
	path_case("/..a/.b./...", 0, "/..a/.b./...");
	path_case("/a/../b//", KL_SIGV4_NO_NORMALIZE, "/a/../b//");

	query_case("b=2&a=1", "a=1&b=2");
	query_case("a=2&a=1&a", "a=&a=1&a=2");
	query_case("k=%e1%88%b4", "k=%E1%88%B4");
	query_case("k=a+b c", "k=a%2Bb%20c");
	query_case("k=%zz%4", "k=%25zz%254");
	query_case("&&x=1&", "x=1");
	query_case("a-b=1&a=2", "a=2&a-b=1");
	query_case("k=v=w", "k=v%3Dw");
	query_case("=v", "=v");
	query_case("%41%7e%2f=1", "A~%2F=1");

	kl_buf_init(&creq);
	is_int(sign_get("/", NULL, 0, dup, &creq), 0, "header rules sign");
	is_str(creq.data, "GET\n/\n\nempty:\nhost:example.amazonaws.com\n"
	    "multi:one two\nmy-header:a b\nx-amz-date:20150830T123600Z\n"
	    "x-dup:1,2,3\n\nempty;host;multi;my-header;x-amz-date;x-dup\n"
	    EMPTY_SHA256, "header names lowered, sorted, merged; values "
	    "trimmed");
	kl_buf_free(&creq);
}

/* Checks the signer's HMAC against libcrypto's HMAC() via enc.c. */
static void
hmac_check(const char *secret)
{
	struct kl_creds c = example;
	struct kl_sigv4_trace t;
	struct kl_hdrs h;
	struct kl_buf k;
	unsigned char k1[32], k2[32];
	char hex[65];

	c.secret = (char *)secret;
	kl_hdrs_init(&h);
	trace_init(&t);
	kl_buf_init(&k);
	kl_hdrs_add(&h, "Host", "example.amazonaws.com");
	is_int(kl_sigv4_sign(&h, "GET", "/", NULL, NULL, 0, "eu-west-1",
	    "kinesis", &c, T2026, 0, &t), 0, "secret of %zu bytes signs",
	    strlen(secret));
	kl_buf_addf(&k, "AWS4%s", secret);
	kl_hmac_sha256(k.data, k.len, "20260102", 8, k1);
	kl_hmac_sha256(k1, 32, "eu-west-1", 9, k2);
	kl_hmac_sha256(k2, 32, "kinesis", 7, k1);
	kl_hmac_sha256(k1, 32, "aws4_request", 12, k2);
	kl_hmac_sha256(k2, 32, t.sts.data, t.sts.len, k1);
	kl_hex(k1, 32, hex);
	is_str(t.signature, hex, "secret of %zu bytes: signature matches "
	    "libcrypto HMAC", strlen(secret));
	kl_buf_wipe(&k);
	kl_hdrs_free(&h);
	trace_free(&t);
}

static void
headers_and_flags(void)
{
	struct kl_creds c = example;
	struct kl_sigv4_trace t;
	struct kl_hdrs h;
	char *big;
	size_t bigsz = 256 * 1024, i;
	const char *a;

	kl_hdrs_init(&h);
	trace_init(&t);
	kl_hdrs_add(&h, "Host", "kinesis.eu-west-1.amazonaws.com");
	c.token = (char *)"tok1";
	is_int(kl_sigv4_sign(&h, "POST", "/", NULL, "{}", 2, "eu-west-1",
	    "kinesis", &c, T2015, 0, NULL), 0, "first signature");
	c.token = (char *)"tok2";
	is_int(kl_sigv4_sign(&h, "POST", "/", NULL, "{}", 2, "eu-west-1",
	    "kinesis", &c, T2026, 0, &t), 0, "re-signing the same headers");
	ok(count_hdr(&h, "authorization") == 1 &&
	    count_hdr(&h, "x-amz-date") == 1 &&
	    count_hdr(&h, "x-amz-security-token") == 1 && h.n == 4,
	    "re-signing replaces Authorization, X-Amz-Date and the token");
	is_str(kl_hdrs_get(&h, "x-amz-date"), "20260102T030405Z",
	    "X-Amz-Date is the new time");
	is_str(kl_hdrs_get(&h, "x-amz-security-token"), "tok2",
	    "X-Amz-Security-Token is the new token");
	c.token = NULL;
	is_int(kl_sigv4_sign(&h, "POST", "/", NULL, "{}", 2, "eu-west-1",
	    "kinesis", &c, T2026, 0, &t), 0, "re-signing without a token");
	ok(count_hdr(&h, "x-amz-security-token") == 0 && h.n == 3,
	    "re-signing without a token drops the old token");

	c.token = (char *)"tok3";
	is_int(kl_sigv4_sign(&h, "POST", "/", NULL, "", 0, "eu-west-1",
	    "kinesis", &c, T2026, KL_SIGV4_TOKEN_UNSIGNED |
	    KL_SIGV4_CONTENT_SHA256, &t), 0, "token unsigned, content hash");
	is_str(kl_hdrs_get(&h, "x-amz-security-token"), "tok3",
	    "unsigned token still sent");
	is_str(kl_hdrs_get(&h, "x-amz-content-sha256"), EMPTY_SHA256,
	    "x-amz-content-sha256 holds the payload hash");
	a = kl_hdrs_get(&h, "authorization");
	ok(a != NULL && strstr(a, "SignedHeaders=host;x-amz-content-sha256;"
	    "x-amz-date, ") != NULL, "token not signed, content hash signed");
	ok(strstr(t.creq.data, "tok3") == NULL,
	    "unsigned token not in the canonical request");
	kl_hdrs_free(&h);

	if ((big = malloc(bigsz)) == NULL)
		abort();
	for (i = 0; i < bigsz; i++)
		big[i] = (char)(i * 7 + (i >> 9));
	kl_hdrs_init(&h);
	kl_hdrs_add(&h, "Host", "kinesis.eu-west-1.amazonaws.com");
	is_int(kl_sigv4_sign(&h, "POST", "/", NULL, big, bigsz, "eu-west-1",
	    "kinesis", &example, T2026, 0, &t), 0, "256 KiB body signs");
	is_str(line_of(t.creq.data, 7), sha_hex(big, bigsz),
	    "256 KiB body: payload hash is its SHA-256");
	kl_hdrs_free(&h);
	free(big);
	trace_free(&t);

	hmac_check(SECRET);
	hmac_check("0123456789012345678901234567890123456789012345678901234567"
	    "8901234567890123456789");
}

/* Expects kl_sigv4_sign to fail with EINVAL and add no Authorization. */
static void
fails(const char *what, const char *name, const char *value,
    const char *method, const char *path, const char *token, time_t now)
{
	struct kl_creds c = example;
	struct kl_hdrs h;
	int rc;

	c.token = (char *)token;
	kl_hdrs_init(&h);
	if (name != NULL)
		kl_hdrs_add(&h, name, value);
	errno = 0;
	rc = kl_sigv4_sign(&h, method, path, NULL, NULL, 0, "us-east-1",
	    "service", &c, now, 0, NULL);
	ok(rc == -1 && errno == EINVAL && count_hdr(&h, "authorization") == 0,
	    "fails with EINVAL: %s", what);
	kl_hdrs_free(&h);
}

static void
errors(void)
{
	struct kl_creds c = example;
	struct kl_hdrs h;

	fails("no Host", "Content-Type", "x", "GET", "/", NULL, T2015);
	fails("relative path", "Host", "h", "GET", "a/b", NULL, T2015);
	fails("token with a newline", "Host", "h", "GET", "/", "a\nb", T2015);
	fails("method with a space", "Host", "h", "P OST", "/", NULL, T2015);
	fails("empty method", "Host", "h", "", "/", NULL, T2015);
	fails("year 10000", "Host", "h", "GET", "/", NULL,
	    (time_t)253402300800LL);
	kl_hdrs_init(&h);
	kl_hdrs_add(&h, "Host", "h");
	kl_hdrs_add(&h, "Bad Name", "v");
	ok(kl_sigv4_sign(&h, "GET", "/", NULL, NULL, 0, "r", "s", &c, T2015,
	    0, NULL) == -1 && errno == EINVAL, "fails with EINVAL: header "
	    "name with a space");
	c.secret = NULL;
	ok(kl_sigv4_sign(&h, "GET", "/", NULL, NULL, 0, "r", "s", &c, T2015,
	    0, NULL) == -1 && errno == EINVAL, "fails with EINVAL: no secret");
	ok(kl_sigv4_sign(&h, "GET", "/", NULL, NULL, 0, "", "s", &example,
	    T2015, 0, NULL) == -1 && errno == EINVAL,
	    "fails with EINVAL: empty region");
	kl_hdrs_free(&h);
}

/* The AWS SigV4 test suite. */

struct req {
	char		*method;
	char		*path;
	char		*query;		/* NULL if none */
	struct kl_hdrs	 h;
	char		*body;		/* NULL if none */
	size_t		 len;
};

static void
req_free(struct req *r)
{
	free(r->method);
	free(r->path);
	free(r->query);
	kl_hdrs_free(&r->h);
	free(r->body);
}

/* Parses request.txt (aws-protocol.md §3.3).  Returns 0 or -1. */
static int
req_parse(const char *s, size_t len, struct req *r)
{
	const char *end = s + len, *eol, *sp1, *sp2, *q, *colon;
	struct kl_buf v;
	char *name = NULL;

	memset(r, 0, sizeof(*r));
	kl_hdrs_init(&r->h);
	kl_buf_init(&v);
	if ((eol = memchr(s, '\n', len)) == NULL ||
	    (sp1 = memchr(s, ' ', (size_t)(eol - s))) == NULL)
		return -1;
	for (sp2 = eol; sp2 > sp1 && *sp2 != ' '; sp2--)
		continue;
	if (sp2 == sp1)
		return -1;
	r->method = strndup(s, (size_t)(sp1 - s));
	for (q = sp1 + 1; q < sp2 && *q != '?'; q++)
		continue;
	r->path = strndup(sp1 + 1, (size_t)(q - sp1 - 1));
	if (q < sp2)
		r->query = strndup(q + 1, (size_t)(sp2 - q - 1));
	for (s = eol + 1; s < end; s = eol + 1) {
		if ((eol = memchr(s, '\n', (size_t)(end - s))) == NULL)
			eol = end;
		if (eol == s) {		/* a blank line, then the body */
			r->len = (size_t)(end - eol - 1);
			r->body = strndup(eol + 1, r->len);
			break;
		}
		if (*s == ' ' || *s == '\t') {	/* continuation */
			kl_buf_addc(&v, '\n');
			kl_buf_add(&v, s, (size_t)(eol - s));
			continue;
		}
		if (name != NULL)
			kl_hdrs_add(&r->h, name, v.data);
		free(name);
		if ((colon = memchr(s, ':', (size_t)(eol - s))) == NULL) {
			kl_buf_free(&v);
			return -1;
		}
		name = strndup(s, (size_t)(colon - s));
		kl_buf_reset(&v);
		kl_buf_add(&v, colon + 1, (size_t)(eol - colon - 1));
		if (eol == end)
			break;
	}
	if (name != NULL)
		kl_hdrs_add(&r->h, name, v.data != NULL ? v.data : "");
	free(name);
	kl_buf_free(&v);
	return r->method != NULL && r->path != NULL && !r->h.err ? 0 : -1;
}

static char *
jget_str(jv o, const char *key)
{
	jv v = jv_object_get(jv_copy(o), jv_string(key));
	char *s = NULL;

	if (jv_get_kind(v) == JV_KIND_STRING)
		s = strdup(jv_string_value(v));
	jv_free(v);
	return s;
}

static int
jget_true(jv o, const char *key)
{
	jv v = jv_object_get(jv_copy(o), jv_string(key));
	int t = jv_get_kind(v) == JV_KIND_TRUE;

	jv_free(v);
	return t;
}

static int
read_file(const char *dir, const char *name, const char *file,
    struct kl_buf *b)
{
	char path[4096];

	kl_buf_reset(b);
	snprintf(path, sizeof(path), "%s/%s/%s", dir, name, file);
	if (kl_read_file(path, b, 1 << 20) == -1) {
		diag("%s: %s", path, strerror(errno));
		return -1;
	}
	if (b->data == NULL)
		kl_buf_adds(b, "");
	return 0;
}

/* Parses "2015-08-30T12:36:00Z". */
static int
parse_time(const char *s, time_t *t)
{
	struct tm tm;
	char z;

	memset(&tm, 0, sizeof(tm));
	if (s == NULL || sscanf(s, "%d-%d-%dT%d:%d:%d%c", &tm.tm_year,
	    &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec,
	    &z) != 7 || z != 'Z')
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	*t = timegm(&tm);
	return 0;
}

#define SUITE_CHECKS	5

static void
suite_case(const char *dir, const char *name)
{
	struct kl_buf ctx, rq, creq, sts, sig, sreq, got;
	struct kl_sigv4_trace t;
	struct kl_creds c;
	struct req r;
	const char *auth;
	char *region, *service, *ts;
	time_t now;
	size_t i;
	int flags = 0, rc = -1;
	jv j = jv_invalid(), cred = jv_invalid();

	kl_buf_init(&ctx);
	kl_buf_init(&rq);
	kl_buf_init(&creq);
	kl_buf_init(&sts);
	kl_buf_init(&sig);
	kl_buf_init(&sreq);
	kl_buf_init(&got);
	trace_init(&t);
	memset(&c, 0, sizeof(c));
	memset(&r, 0, sizeof(r));
	kl_hdrs_init(&r.h);
	region = service = ts = NULL;
	if (read_file(dir, name, "context.json", &ctx) == -1 ||
	    read_file(dir, name, "request.txt", &rq) == -1 ||
	    read_file(dir, name, "header-canonical-request.txt", &creq) == -1 ||
	    read_file(dir, name, "header-string-to-sign.txt", &sts) == -1 ||
	    read_file(dir, name, "header-signature.txt", &sig) == -1 ||
	    read_file(dir, name, "header-signed-request.txt", &sreq) == -1)
		goto done;
	j = jv_parse(ctx.data);
	if (jv_get_kind(j) != JV_KIND_OBJECT) {
		diag("%s: context.json is not a JSON object", name);
		goto done;
	}
	cred = jv_object_get(jv_copy(j), jv_string("credentials"));
	if (jv_get_kind(cred) != JV_KIND_OBJECT) {
		diag("%s: no credentials", name);
		goto done;
	}
	c.akid = jget_str(cred, "access_key_id");
	c.secret = jget_str(cred, "secret_access_key");
	c.token = jget_str(cred, "token");
	region = jget_str(j, "region");
	service = jget_str(j, "service");
	ts = jget_str(j, "timestamp");
	if (!jget_true(j, "normalize"))
		flags |= KL_SIGV4_NO_NORMALIZE;
	if (jget_true(j, "sign_body"))
		flags |= KL_SIGV4_CONTENT_SHA256;
	if (jget_true(j, "omit_session_token"))
		flags |= KL_SIGV4_TOKEN_UNSIGNED;
	if (parse_time(ts, &now) == -1 ||
	    req_parse(rq.data, rq.len, &r) == -1) {
		diag("%s: cannot parse the timestamp or request.txt", name);
		goto done;
	}
	rc = kl_sigv4_sign(&r.h, r.method, r.path, r.query, r.body, r.len,
	    region, service, &c, now, flags, &t);
	if (rc == -1)
		diag("%s: kl_sigv4_sign: %s", name, strerror(errno));
done:
	if (rc == -1) {
		for (i = 0; i < SUITE_CHECKS; i++)
			ok(0, "%s: signed", name);
	} else {
		is_blob(t.creq.data, t.creq.len, creq.data, creq.len,
		    "%s: canonical request", name);
		is_blob(t.sts.data, t.sts.len, sts.data, sts.len,
		    "%s: string to sign", name);
		is_blob(t.signature, strlen(t.signature), sig.data, sig.len,
		    "%s: signature", name);
		auth = strstr(sreq.data, "\nAuthorization:");
		kl_buf_adds(&got, kl_hdrs_get(&r.h, "Authorization"));
		is_blob(got.data, got.len, auth != NULL ? auth + 15 : "",
		    auth != NULL ? strcspn(auth + 15, "\n") : 0,
		    "%s: Authorization", name);
		/* The whole request as sent, headers in order. */
		kl_buf_reset(&got);
		kl_buf_add(&got, rq.data, strcspn(rq.data, "\n") + 1);
		for (i = 0; i < r.h.n; i++)
			kl_buf_addf(&got, "%s:%s\n", r.h.name[i], r.h.value[i]);
		kl_buf_addc(&got, '\n');
		if (r.body != NULL)
			kl_buf_add(&got, r.body, r.len);
		is_blob(got.data, got.len, sreq.data, sreq.len,
		    "%s: signed request", name);
	}
	jv_free(cred);
	jv_free(j);
	free(c.akid);
	free(c.secret);
	free(c.token);
	free(region);
	free(service);
	free(ts);
	req_free(&r);
	trace_free(&t);
	kl_buf_free(&ctx);
	kl_buf_free(&rq);
	kl_buf_free(&creq);
	kl_buf_free(&sts);
	kl_buf_free(&sig);
	kl_buf_free(&sreq);
	kl_buf_free(&got);
}

static int
strpcmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
suite(void)
{
	const char *shared = getenv("KL_SHARED");
	char dir[4096], path[4400], **names = NULL, **n;
	struct dirent *de;
	size_t count = 0, i;
	FILE *f;
	DIR *d;

	if (shared == NULL || *shared == '\0') {
		skip(1, "sigv4 suite not found (KL_SHARED is not set)");
		return;
	}
	snprintf(dir, sizeof(dir), "%s/testdata/aws-sigv4-suite/v4", shared);
	if ((d = opendir(dir)) == NULL) {
		skip(1, "sigv4 suite not found");
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s/context.json", dir,
		    de->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		fclose(f);
		if ((n = realloc(names, (count + 1) * sizeof(*n))) == NULL)
			abort();
		names = n;
		if ((names[count++] = strdup(de->d_name)) == NULL)
			abort();
	}
	closedir(d);
	qsort(names, count, sizeof(*names), strpcmp);
	is_int((long long)count, 38, "the suite has 38 cases");
	for (i = 0; i < count; i++) {
		suite_case(dir, names[i]);
		free(names[i]);
	}
	free(names);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Signs a request in batches of n; returns the microseconds per
 * signature of the fastest batch, which is the least disturbed by other
 * work on the machine.
 */
static double
bench_one(const char *body, size_t len, const char *token, int n)
{
	struct kl_creds c = example;
	struct kl_hdrs h;
	double t0, best = 1e9;
	int i, batch;

	c.token = (char *)token;
	for (batch = 0; batch < 30; batch++) {
		kl_hdrs_init(&h);
		kl_hdrs_add(&h, "Host", "kinesis.eu-west-1.amazonaws.com");
		kl_hdrs_add(&h, "Content-Type", KINESIS_JSON);
		kl_hdrs_add(&h, "X-Amz-Target", "Kinesis_20131202.PutRecords");
		t0 = now_s();
		for (i = 0; i < n; i++)
			if (kl_sigv4_sign(&h, "POST", "/", NULL, body, len,
			    "eu-west-1", "kinesis", &c, T2026 + i, 0,
			    NULL) == -1)
				abort();
		t0 = (now_s() - t0) / n * 1e6;
		if (t0 < best)
			best = t0;
		kl_hdrs_free(&h);
	}
	return best;
}

static void
bench(void)
{
	static const char tok[] = "IQoJb3JpZ2luX2VjEXAMPLEXAMPLEXAMPLEXAMPLE"
	    "XAMPLEXAMPLEXAMPLEXAMPLEXAMPLEXAMPLEXAMPLEXAMPLEXAMPLEXAMPLEXAMP"
	    "LEXAMPLEXAMPLEXAMPLEXAMPLEXAMPLEXAMPLEXAMPLEXAMPLEXAMPLEXAMPLE==";
	struct kl_buf b;
	size_t big = 256 * 1024;
	char *p;
	double us;
	int i;

	kl_buf_init(&b);
	kl_buf_adds(&b, "{\"StreamName\":\"clicks\",\"Records\":[");
	for (i = 0; i < 10; i++)
		kl_buf_addf(&b, "%s{\"Data\":\"eyJ1c2VyX2lkIjoiNDIiLCJldmVudCI6"
		    "ImNsaWNrIiwidHMiOjE3Njc0MDAwMDB9\",\"PartitionKey\":"
		    "\"user-%d\"}", i ? "," : "", i);
	kl_buf_adds(&b, "]}");
	us = bench_one(b.data, b.len, NULL, 5000);
	diag("bench: PutRecords %zu-byte body, no token: %.2f us/signature",
	    b.len, us);
	us = bench_one(b.data, b.len, tok, 5000);
	diag("bench: PutRecords %zu-byte body, session token: %.2f "
	    "us/signature", b.len, us);
	us = bench_one("{}", 2, NULL, 5000);
	diag("bench: 2-byte body: %.2f us/signature", us);
	if ((p = calloc(1, big)) == NULL)
		abort();
	us = bench_one(p, big, NULL, 50);
	diag("bench: 256 KiB body: %.1f us/signature, %.0f MB/s", us,
	    (double)big / us);
	free(p);
	kl_buf_free(&b);
}

int
main(void)
{
	(void)plan;		/* the count depends on the suite found */
	worked_examples();
	canon_rules();
	headers_and_flags();
	errors();
	suite();
	if (getenv("KL_SIGV4_BENCH") != NULL)
		bench();
	return done_testing();
}
