/*
 * t-sigv4.c - tests for sigv4.c.
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
	int rc;

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
	is_str(line_of(t.creq.data, target != NULL ? 9 : 8), signed_hdrs,
	    "%s: signed headers", what);
	is_str(sha_hex(body, strlen(body)), payload, "%s: payload hash",
	    what);
	is_str(line_of(t.creq.data, target != NULL ? 10 : 9), payload,
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
	    "[{\"Data\":\"eyJ1c2VyX2lkIjoiNDIifQ==\",\"PartitionKey\":\"42\"}]}";
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
