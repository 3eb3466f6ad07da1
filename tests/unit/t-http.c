/*
 * t-http.c - tests for http.c, aws.c and kinesis.c: reply classes,
 * AWS error bodies (JSON 1.1, query XML, empty), Retry-After, backoff
 * bounds, stop-aware sleeping, stream names and ARNs, snake_case record
 * conversion, endpoint parsing, signing headers, and transfers against
 * tests/fakes/stub.py (keep-alive, captured headers, timeouts, size cap,
 * no Expect, no secret at -vv).  The stop tests run last: a stop
 * request cannot be taken back.
 */
#include <config.h>

#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "kl.h"
#include "tap.h"

static char dir[] = "/tmp/kl-t-http.XXXXXX";

/* AWS's example keys: they open no account. */
static char akid[] = "AKIDEXAMPLE";
static char secret[] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
static char token[] = "SESSIONTOKENEXAMPLE";

static void
test_classes(void)
{
	static const struct { long st; int kind; } hc[] = {
		{ 200, KL_ERR_NONE }, { 204, KL_ERR_NONE },
		{ 408, KL_ERR_TRANSIENT }, { 429, KL_ERR_TRANSIENT },
		{ 500, KL_ERR_TRANSIENT }, { 503, KL_ERR_TRANSIENT },
		{ 599, KL_ERR_TRANSIENT }, { 400, KL_ERR_PERMANENT },
		{ 403, KL_ERR_PERMANENT }, { 404, KL_ERR_PERMANENT },
		{ 413, KL_ERR_PERMANENT }, { 301, KL_ERR_PERMANENT },
	};
	static const struct {
		long st;
		const char *code, *msg;
		int kind;
	} ac[] = {
		{ 200, "", "", KL_ERR_NONE },
		{ 400, "ProvisionedThroughputExceededException", "Rate "
		    "exceeded for shard", KL_ERR_TRANSIENT },
		{ 400, "LimitExceededException", "", KL_ERR_TRANSIENT },
		{ 400, "KMSThrottlingException", "", KL_ERR_TRANSIENT },
		{ 400, "ThrottlingException", "", KL_ERR_TRANSIENT },
		{ 400, "Throttling", "Rate exceeded", KL_ERR_TRANSIENT },
		{ 400, "InternalFailure", "", KL_ERR_TRANSIENT },
		{ 500, "", "", KL_ERR_TRANSIENT },
		{ 400, "ExpiredTokenException", "The security token included "
		    "in the request is expired", KL_ERR_CREDS },
		{ 400, "ExpiredToken", "", KL_ERR_CREDS },
		{ 400, "InvalidSignatureException", "Signature expired: "
		    "20190226T160712Z is now earlier than 20190226T161223Z "
		    "(20190226T162723Z - 15 min.)", KL_ERR_SKEW },
		{ 400, "InvalidSignatureException", "Signature not yet "
		    "current: 20260101T000000Z is still later than ...",
		    KL_ERR_SKEW },
		{ 403, "SignatureDoesNotMatch", "Signature expired: ...",
		    KL_ERR_SKEW },
		{ 400, "RequestExpired", "", KL_ERR_SKEW },
		{ 400, "InvalidSignatureException", "The request signature "
		    "we calculated does not match", KL_ERR_PERMANENT },
		{ 400, "ExpiredIteratorException", "Iterator expired",
		    KL_ERR_ITERATOR },
		{ 400, "ResourceNotFoundException", "", KL_ERR_PERMANENT },
		{ 400, "ValidationException", "", KL_ERR_PERMANENT },
		{ 403, "AccessDeniedException", "", KL_ERR_PERMANENT },
		{ 413, "", "", KL_ERR_PERMANENT },
		{ 503, "ServiceUnavailable", "", KL_ERR_TRANSIENT },
		{ 429, "", "", KL_ERR_TRANSIENT },
	};
	size_t i;

	for (i = 0; i < sizeof(hc) / sizeof(hc[0]); i++)
		is_int(kl_http_class(hc[i].st), hc[i].kind, "HTTP %ld class",
		    hc[i].st);
	for (i = 0; i < sizeof(ac) / sizeof(ac[0]); i++)
		is_int(kl_aws_classify(ac[i].st, ac[i].code, ac[i].msg),
		    ac[i].kind, "AWS %ld %s%s%.20s", ac[i].st, ac[i].code,
		    ac[i].msg[0] ? ": " : "", ac[i].msg);
	is_int(kl_aws_classify(400, NULL, NULL), KL_ERR_PERMANENT,
	    "400 without a code");
}

static void
check_err(const char *body, const char *errtype, const char *code,
    const char *msg, const char *what)
{
	char c[128], m[512];
	int r;

	r = kl_aws_error_parse(body, strlen(body), errtype, c, sizeof(c), m,
	    sizeof(m));
	is_int(r, code[0] != '\0', "%s: found", what);
	is_str(c, code, "%s: code", what);
	is_str(m, msg, "%s: message", what);
}

static void
test_error_parse(void)
{
	static const char small[] = "{\"__type\":\"ProvisionedThroughput"
	    "Exceeded\",\"message\":\"a message too long for m\"}";
	char c[8], m[16];

	check_err("{\"__type\":\"ResourceNotFoundException\",\"message\":"
	    "\"Stream x under account 000000000000 not found.\"}", NULL,
	    "ResourceNotFoundException",
	    "Stream x under account 000000000000 not found.", "JSON message");
	check_err("{\"__type\":\"SerializationException\",\"Message\":\"bad "
	    "blob\"}", NULL, "SerializationException", "bad blob",
	    "JSON Message");
	check_err("{\"__type\":\"com.amazonaws.kinesis.v20131202#Expired"
	    "IteratorException\",\"message\":\"Iterator expired\"}", NULL,
	    "ExpiredIteratorException", "Iterator expired",
	    "namespaced code");
	check_err(" \n{\"__type\":\"Throttling:http://internal/\"}", NULL,
	    "Throttling", "", "code with :suffix, leading blanks");
	check_err("", "ResourceNotFoundException:http://internal.amazon.com/"
	    "coral/com.amazon.coral.service/", "ResourceNotFoundException", "",
	    "x-amzn-ErrorType, empty body");
	check_err("", NULL, "", "", "empty body (kinesalite 413)");
	check_err("<html>Bad Gateway</html>", NULL, "", "", "HTML page");
	check_err("{\"__type\":42,\"message\":[1]}", NULL, "", "",
	    "wrong member types");
	check_err("{\"__type\":\"X\"", NULL, "", "", "truncated JSON");
	check_err("{\"__type\":\"InvalidSignatureException\",\"message\":"
	    "\"The request signature we calculated does not match.\\n\\nThe "
	    "Canonical String for this request should have been\\n'POST\\n/"
	    "\\nx-amz-security-token:SECRETTOKEN'\"}", NULL,
	    "InvalidSignatureException",
	    "The request signature we calculated does not match.",
	    "message cut at its first line break");
	check_err("{\"__type\":\"X\",\"message\":\"a\\tb\\u0007c\"}", NULL,
	    "X", "a b c", "control characters become spaces");
	check_err("<?xml version=\"1.0\"?>\n<ErrorResponse xmlns=\"https://"
	    "sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>"
	    "<Code>AccessDenied</Code><Message>User: arn:aws:iam::1:user/u "
	    "is not authorized &amp; &lt;denied&gt; &#39;x&#x27;</Message>"
	    "</Error><RequestId>r</RequestId></ErrorResponse>", NULL,
	    "AccessDenied", "User: arn:aws:iam::1:user/u is not authorized "
	    "& <denied> 'x'", "STS XML");
	check_err("<ErrorResponse><Error><Code>ExpiredToken</Code></Error>"
	    "</ErrorResponse>", NULL, "ExpiredToken", "", "XML, no message");
	check_err("<Error><Code>Throttling", NULL, "", "", "truncated XML");
	kl_aws_error_parse(small, strlen(small), NULL, c, sizeof(c), m,
	    sizeof(m));
	ok(strlen(c) == sizeof(c) - 1 && strlen(m) < sizeof(m),
	    "small buffers: truncated, terminated");
}

static void
test_retry_after(void)
{
	time_t now = 1790000000;
	char d[64];
	struct tm tm;
	time_t t = now + 7;

	gmtime_r(&t, &tm);
	strftime(d, sizeof(d), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	is_int(kl_http_retry_after("5", now), 5000, "Retry-After seconds");
	is_int(kl_http_retry_after(" 0", now), 0, "Retry-After 0");
	is_int(kl_http_retry_after(d, now), 7000, "Retry-After HTTP date");
	is_int(kl_http_retry_after(d, now + 60), 0, "a date in the past");
	is_int(kl_http_retry_after("99999999999999999999999", now), 86400000,
	    "huge: capped at a day");
	is_int(kl_http_retry_after("soon", now), -1, "garbage");
	is_int(kl_http_retry_after("5s", now), -1, "seconds with junk");
}

static void
test_backoff(void)
{
	long v, max1 = 0, max3 = 0, maxc = 0, min3 = 1000000;
	int i, zero_seen = 0;

	for (i = 0; i < 20000; i++) {
		v = kl_backoff_ms(1, 100, 10000);
		max1 = v > max1 ? v : max1;
		v = kl_backoff_ms(3, 100, 10000);
		max3 = v > max3 ? v : max3;
		min3 = v < min3 ? v : min3;
		v = kl_backoff_ms(30, 100, 10000);
		maxc = v > maxc ? v : maxc;
		zero_seen |= v < 0;
	}
	ok(max1 <= 100 && max1 >= 90, "retry 1: within [0, 100] (max %ld)",
	    max1);
	ok(max3 <= 400 && max3 >= 360 && min3 < 40,
	    "retry 3: full jitter over [0, 400] (%ld..%ld)", min3, max3);
	ok(maxc <= 10000 && maxc >= 9000 && !zero_seen,
	    "retry 30: capped at 10000 (max %ld)", maxc);
	is_int(kl_backoff_ms(1, 0, 100), 0, "no base: no delay");
}

static void
test_sleep(void)
{
	long t0 = kl_mono_ms();

	ok(kl_sleep_ms(60) == 0 && kl_mono_ms() - t0 >= 60 &&
	    kl_mono_ms() - t0 < 1000, "kl_sleep_ms(60) sleeps 60 ms");
	ok(kl_sleep_ms(0) == 0 && kl_sleep_ms(-5) == 0, "no sleep for <= 0");
}

static void
check_stream(const char *arg, int good, const char *name, const char *what)
{
	struct kl_stream s;
	char why[512];
	int r;

	r = kl_stream_parse(&s, arg, why, sizeof(why));
	if (good)
		ok(r == 0 && strcmp(s.name, name) == 0, "%s", what);
	else
		ok(r == -1 && strstr(why, "invalid stream") != NULL &&
		    s.name[0] == '\0', "%s: refused", what);
}

static void
test_streams(void)
{
	static const char arn[] =
	    "arn:aws:kinesis:us-east-1:123456789012:stream/clicks";
	struct kl_stream s;
	struct kl_buf b;
	char why[512], n129[130];

	memset(n129, 'a', 129);
	n129[129] = '\0';
	check_stream("clicks", 1, "clicks", "a name");
	check_stream("a.b-c_D9", 1, "a.b-c_D9", "all allowed characters");
	check_stream(n129 + 1, 1, n129 + 1, "128 characters");
	check_stream(n129, 0, NULL, "129 characters");
	check_stream("", 0, NULL, "empty");
	check_stream("a b", 0, NULL, "a space");
	check_stream("a/b", 0, NULL, "a slash");
	check_stream(arn, 1, "clicks", "an ARN");
	check_stream("arn:aws-cn:kinesis:cn-north-1:123456789012:stream/s", 1,
	    "s", "an aws-cn ARN");
	check_stream("arn:aws-us-gov:kinesis:us-gov-west-1:123456789012:"
	    "stream/s", 1, "s", "an aws-us-gov ARN");
	check_stream("arn:aws:kinesis:cn-north-1:123456789012:stream/s", 0,
	    NULL, "partition does not match the region");
	check_stream("arn:aws:kinesis:us-east-1:12345678901:stream/s", 0, NULL,
	    "11-digit account");
	check_stream("arn:aws:kinesis:us-east-1:12345678901a:stream/s", 0,
	    NULL, "account with a letter");
	check_stream("arn:aws:sqs:us-east-1:123456789012:stream/s", 0, NULL,
	    "another service");
	check_stream("arn:aws:kinesis:us-east-1:123456789012:stream/", 0,
	    NULL, "no name");
	check_stream("arn:aws:kinesis:us-east-1:123456789012:stream/s/"
	    "consumer/c:1", 0, NULL, "a consumer ARN");
	check_stream("arn:aws:kinesis::123456789012:stream/s", 0, NULL,
	    "no region");
	check_stream("arn:aws:kinesis:us-east-1:123456789012:table/s", 0,
	    NULL, "not a stream");
	check_stream("arn:xyz:kinesis:us-east-1:123456789012:stream/s", 0,
	    NULL, "unknown partition");

	kl_stream_parse(&s, arn, why, sizeof(why));
	ok(strcmp(s.arn, arn) == 0 && strcmp(s.region, "us-east-1") == 0 &&
	    strcmp(s.account, "123456789012") == 0 &&
	    strcmp(s.partition, "aws") == 0, "ARN parts");
	is_int(kl_stream_region_ok(&s, "us-east-1", why, sizeof(why)), 0,
	    "ARN in the configured region");
	ok(kl_stream_region_ok(&s, "eu-west-1", why, sizeof(why)) == -1 &&
	    strstr(why, "'us-east-1', not in 'eu-west-1'") != NULL,
	    "ARN in another region: refused");
	kl_buf_init(&b);
	kl_buf_addc(&b, '{');
	kl_stream_members(&b, &s);
	kl_buf_addc(&b, '}');
	is_str(b.data, "{\"StreamName\":\"clicks\",\"StreamARN\":\"arn:aws:"
	    "kinesis:us-east-1:123456789012:stream/clicks\"}",
	    "an ARN sends both StreamName and StreamARN");
	kl_stream_parse(&s, "clicks", why, sizeof(why));
	is_int(kl_stream_region_ok(&s, "eu-west-1", why, sizeof(why)), 0,
	    "a plain name has no region");
	kl_buf_reset(&b);
	kl_stream_members(&b, &s);
	is_str(b.data, "\"StreamName\":\"clicks\"", "a name sends StreamName");
	kl_buf_free(&b);
}

static void
check_name(const char *camel, const char *snake)
{
	char out[64];

	kl_kinesis_name(out, sizeof(out), camel, strlen(camel));
	is_str(out, snake, "%s -> %s", camel, snake);
}

static void
check_members(const char *in, const char *first, const char *want,
    const char *what)
{
	struct kl_jspan top;
	struct kl_buf b;

	kl_buf_init(&b);
	kl_buf_addc(&b, '{');
	ok(kl_js_parse(in, strlen(in), &top, NULL) == 0 &&
	    kl_kinesis_members(&b, &top, first) == 0, "%s: converted", what);
	kl_buf_addc(&b, '}');
	is_str(b.data, want, "%s: record", what);
	kl_buf_free(&b);
}

static void
test_records(void)
{
	check_name("StreamName", "stream_name");
	check_name("StreamARN", "stream_arn");
	check_name("ShardId", "shard_id");
	check_name("AdjacentParentShardId", "adjacent_parent_shard_id");
	check_name("OpenShardCount", "open_shard_count");
	check_name("RetentionPeriodHours", "retention_period_hours");
	check_name("MaxRecordSizeInKiB", "max_record_size_in_ki_b");
	check_name("TargetMiBps", "target_mi_bps");
	check_name("KeyId", "key_id");
	check_name("HasMoreShards", "has_more_shards");

	check_members("{\"StreamName\":\"s\",\"StreamARN\":\"arn:aws:kinesis:"
	    "us-east-1:000000000000:stream/s\",\"StreamStatus\":\"ACTIVE\","
	    "\"StreamModeDetails\":{\"StreamMode\":\"PROVISIONED\"},"
	    "\"RetentionPeriodHours\":24,\"StreamCreationTimestamp\":"
	    "1764438394.123,\"EnhancedMonitoring\":[{\"ShardLevelMetrics\":"
	    "[]}],\"EncryptionType\":\"NONE\",\"KeyId\":null,"
	    "\"OpenShardCount\":3,\"ConsumerCount\":0}", "StreamName",
	    "{\"stream_name\":\"s\",\"stream_arn\":\"arn:aws:kinesis:us-east-1:"
	    "000000000000:stream/s\",\"stream_status\":\"ACTIVE\","
	    "\"stream_mode\":\"PROVISIONED\",\"retention_period_hours\":24,"
	    "\"stream_creation_timestamp\":\"2025-11-29T17:46:34.123Z\","
	    "\"enhanced_monitoring\":[{\"shard_level_metrics\":[]}],"
	    "\"encryption_type\":\"NONE\",\"open_shard_count\":3,"
	    "\"consumer_count\":0}", "stream summary");
	check_members("{\"ShardId\":\"shardId-000000000002\",\"ParentShardId\":"
	    "\"shardId-000000000000\",\"AdjacentParentShardId\":\"shardId-"
	    "000000000001\",\"HashKeyRange\":{\"StartingHashKey\":\"0\","
	    "\"EndingHashKey\":\"340282366920938463463374607431768211455\"},"
	    "\"SequenceNumberRange\":{\"StartingSequenceNumber\":\"495903382"
	    "71490256608559692538361571095921575989136588898\","
	    "\"EndingSequenceNumber\":null}}", NULL,
	    "{\"shard_id\":\"shardId-000000000002\",\"parent_shard_id\":"
	    "\"shardId-000000000000\",\"adjacent_parent_shard_id\":\"shardId-"
	    "000000000001\",\"starting_hash_key\":\"0\",\"ending_hash_key\":"
	    "\"340282366920938463463374607431768211455\","
	    "\"starting_sequence_number\":\"4959033827149025660855969253836"
	    "1571095921575989136588898\"}", "shard (nulls dropped)");
	check_members("{\"StreamCreationTimestamp\":1.764438394E9,\"N\":"
	    "12345678901234567890}", NULL, "{\"stream_creation_timestamp\":"
	    "\"2025-11-29T17:46:34.000Z\",\"n\":12345678901234567890}",
	    "exponent timestamp; big numbers keep their digits");
	check_members("{\"HashKeyRange\":{\"StartingHashKey\":\"0\"},"
	    "\"ShardId\":\"shardId-000000000000\",\"X\":{\"YZ\":null}}",
	    "ShardId", "{\"shard_id\":\"shardId-000000000000\","
	    "\"starting_hash_key\":\"0\",\"x\":{}}",
	    "the member named first leads");
}

static void
test_endpoints(void)
{
	struct kl_aws a;
	struct kl_err e;

	ok(kl_aws_init(&a, "http://127.0.0.1:4567", "us-east-1", "kinesis",
	    NULL, NULL, &e) == 0 && strcmp(a.host, "127.0.0.1:4567") == 0 &&
	    strcmp(a.origin, "http://127.0.0.1:4567") == 0 &&
	    a.base_path[0] == '\0', "host and port");
	kl_aws_free(&a);
	ok(kl_aws_init(&a, "https://kinesis.us-east-1.amazonaws.com:443/",
	    "us-east-1", "kinesis", NULL, NULL, &e) == 0 &&
	    strcmp(a.host, "kinesis.us-east-1.amazonaws.com") == 0 &&
	    a.base_path[0] == '\0', "default port dropped from Host");
	kl_aws_free(&a);
	ok(kl_aws_init(&a, "http://[::1]:8080/proxy/", "us-east-1", "kinesis",
	    NULL, NULL, &e) == 0 && strcmp(a.host, "[::1]:8080") == 0 &&
	    strcmp(a.base_path, "/proxy") == 0, "IPv6 host, base path");
	kl_aws_free(&a);
	ok(kl_aws_init(&a, "ftp://h", "us-east-1", "kinesis", NULL, NULL,
	    &e) == -1 && e.kind == KL_ERR_CONFIG, "ftp:// refused");
	ok(kl_aws_init(&a, "http://user:pw@h/", "us-east-1", "kinesis", NULL,
	    NULL, &e) == -1 && e.kind == KL_ERR_CONFIG &&
	    strstr(e.msg, "scheme://host") != NULL, "user info refused");
}

static void
test_sign(void)
{
	struct kl_creds c = { akid, secret, token, 0 };
	struct kl_aws a;
	struct kl_aws_req q;
	struct kl_hdrs qh, h;
	struct kl_err e;
	const char *auth;

	kl_aws_init(&a, "http://127.0.0.1:4567", "us-east-1", "kinesis", NULL,
	    NULL, &e);
	kl_hdrs_init(&qh);
	kl_hdrs_init(&h);
	kl_kinesis_req(&q, &qh, "ListStreams", "{}", 2);
	ok(kl_aws_sign(&a, &q, &c, 1440938160, &h, &e) == 0, "signed");
	is_str(kl_hdrs_get(&h, "Host"), "127.0.0.1:4567", "Host signed");
	is_str(kl_hdrs_get(&h, "X-Amz-Target"), "Kinesis_20131202.ListStreams",
	    "X-Amz-Target");
	is_str(kl_hdrs_get(&h, "Content-Type"), "application/x-amz-json-1.1",
	    "Content-Type");
	is_str(kl_hdrs_get(&h, "X-Amz-Date"), "20150830T123600Z",
	    "X-Amz-Date from the time given");
	is_str(kl_hdrs_get(&h, "X-Amz-Security-Token"), "SESSIONTOKENEXAMPLE",
	    "session token");
	auth = kl_hdrs_get(&h, "Authorization");
	ok(auth != NULL && strncmp(auth, "AWS4-HMAC-SHA256 Credential="
	    "AKIDEXAMPLE/20150830/us-east-1/kinesis/aws4_request, "
	    "SignedHeaders=content-type;host;x-amz-date;"
	    "x-amz-security-token;x-amz-target, Signature=", 159) == 0,
	    "Authorization: scope and signed headers");
	ok(kl_aws_sign(&a, &q, &c, 1440938161, &h, &e) == 0 &&
	    strcmp(kl_hdrs_get(&h, "X-Amz-Date"), "20150830T123601Z") == 0 &&
	    h.n == 6, "signing again replaces the old headers");
	kl_hdrs_free(&qh);
	kl_hdrs_free(&h);
	kl_aws_free(&a);
}

static void
test_reply(void)
{
	struct kl_creds c = { akid, secret, token, 0 };
	static const char body[] = "{\"__type\":\"UnrecognizedClient"
	    "Exception\",\"message\":\"bad token SESSIONTOKENEXAMPLE and "
	    "key wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY\"}";
	struct kl_http_resp r;
	struct kl_aws a;
	struct kl_aws_req q;
	struct kl_hdrs qh;
	struct kl_err e;

	kl_aws_init(&a, "http://127.0.0.1:4567", "us-east-1", "kinesis", NULL,
	    NULL, &e);
	kl_hdrs_init(&qh);
	kl_kinesis_req(&q, &qh, "ListStreams", "{}", 2);
	kl_http_resp_init(&r);
	r.status = 200;
	is_int(kl_aws_reply(&a, &q, &c, &r, &e), 0, "2xx: no error");
	r.status = 400;
	kl_buf_adds(&r.body, body);
	ok(kl_aws_reply(&a, &q, &c, &r, &e) == -1 &&
	    e.kind == KL_ERR_PERMANENT && e.status == 400 &&
	    strcmp(e.code, "UnrecognizedClientException") == 0,
	    "400: permanent, code kept");
	is_str(e.msg, "POST http://127.0.0.1:4567/ (ListStreams): HTTP 400 "
	    "UnrecognizedClientException: bad token [redacted] and key "
	    "[redacted]", "message: method, URL, operation, status, code; "
	    "secrets blotted out");
	kl_buf_reset(&r.body);
	r.status = 413;
	ok(kl_aws_reply(&a, &q, &c, &r, &e) == -1 && strcmp(e.msg, "POST "
	    "http://127.0.0.1:4567/ (ListStreams): HTTP 413") == 0,
	    "413 with an empty body");
	kl_http_resp_free(&r);
	kl_hdrs_free(&qh);
	kl_aws_free(&a);
}

/* Starts the stub with these replies; fills url, returns its pid. */
static pid_t
start_stub(const char *replies, const char *log, char *url, size_t cap)
{
	const char *src = getenv("srcdir");
	char script[1024], rpath[512], line[256], *p, *q;
	int fd[2], n = 0;
	ssize_t k;
	pid_t pid;
	FILE *f;

	snprintf(script, sizeof(script), "%s/tests/fakes/stub.py",
	    src ? src : ".");
	if (access(script, R_OK) != 0 || access("/usr/bin/python3", X_OK) != 0)
		return -1;
	snprintf(rpath, sizeof(rpath), "%s/replies", dir);
	if ((f = fopen(rpath, "w")) == NULL)
		return -1;
	fputs(replies, f);
	fclose(f);
	if (pipe(fd) == -1 || (pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		dup2(fd[1], 1);
		close(fd[0]);
		execl("/usr/bin/python3", "python3", script, "--port", "0",
		    "--replies", rpath, "--log", log, (char *)NULL);
		_exit(127);
	}
	close(fd[1]);
	while (n < (int)sizeof(line) - 1 &&
	    (k = read(fd[0], line + n, sizeof(line) - 1 - (size_t)n)) > 0) {
		n += (int)k;
		if (memchr(line, '\n', (size_t)n) != NULL)
			break;
	}
	close(fd[0]);
	line[n] = '\0';
	if ((p = strstr(line, "\"url\": \"")) == NULL ||
	    (q = strchr(p + 8, '"')) == NULL) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
		return -1;
	}
	snprintf(url, cap, "%.*s", (int)(q - p - 8), p + 8);
	return pid;
}

static int
count_in(const char *path, const char *s)
{
	struct kl_buf b;
	char *p;
	int n = 0;

	kl_buf_init(&b);
	if (kl_read_file(path, &b, 1 << 24) == 0)
		for (p = b.data; p != NULL && (p = strstr(p, s)) != NULL; p++)
			n++;
	kl_buf_free(&b);
	return n;
}

static void
test_transfers(void)
{
	static const char replies[] =
	    "{\"status\":200,\"json\":{\"a\":1},\"headers\":"
	    "{\"x-amzn-RequestId\":\"req-1\",\"Date\":\"@date+120\"}}\n"
	    "{\"status\":503,\"body\":\"busy\",\"headers\":"
	    "{\"Retry-After\":\"3\",\"x-amzn-ErrorType\":\"ServiceUnavailable\","
	    "\"Content-Type\":\"text/plain\"}}\n"
	    "{\"status\":200,\"body\":\"" "big" "\"}\n"
	    "{\"status\":200,\"body\":\"late\",\"delay_ms\":1500}\n"
	    "{\"status\":200,\"body\":\"0123456789abcdef\"}\n";
	struct kl_http h;
	struct kl_http_req req;
	struct kl_http_resp r;
	struct kl_hdrs hd;
	struct kl_err e;
	char url[128], log[512], *big;
	pid_t pid;
	time_t now = time(NULL);
	size_t bigsz = 2 * 1024 * 1024;

	snprintf(log, sizeof(log), "%s/stub.log", dir);
	if ((pid = start_stub(replies, log, url, sizeof(url))) == -1) {
		skip(15, "stub.py or python3 not available");
		return;
	}
	kl_prog = "t-http";
	kl_http_init(&h, NULL);
	kl_http_resp_init(&r);
	kl_hdrs_init(&hd);
	kl_hdrs_add(&hd, "Content-Type", "application/x-amz-json-1.1");
	kl_hdrs_add(&hd, "X-Amz-Security-Token", "SESSIONTOKENEXAMPLE");
	req.method = "POST";
	req.url = url;
	req.hdrs = &hd;
	req.body = "{}";
	req.len = 2;

	ok(kl_http_perform(&h, &req, &r, &e) == 0 && r.status == 200,
	    "200");
	is_blob(r.body.data, r.body.len, "{\"a\":1}", 7, "the body");
	ok(strcmp(r.ctype, "application/x-amz-json-1.1") == 0 &&
	    strcmp(r.reqid, "req-1") == 0 && r.retry_after_ms == -1,
	    "Content-Type, request id kept; no Retry-After");
	ok(r.date >= now + 118 && r.date <= now + 125, "Date parsed");
	ok(kl_http_perform(&h, &req, &r, &e) == 0 && r.status == 503 &&
	    strcmp(r.body.data, "busy") == 0 && r.retry_after_ms == 3000 &&
	    strcmp(r.errtype, "ServiceUnavailable") == 0,
	    "503: Retry-After, x-amzn-ErrorType");
	big = malloc(bigsz);
	memset(big, 'x', bigsz);
	req.body = big;
	req.len = bigsz;
	ok(kl_http_perform(&h, &req, &r, &e) == 0 && r.status == 200,
	    "a 2 MiB POST");
	free(big);
	req.body = "{}";
	req.len = 2;
	h.timeout_ms = 300;
	ok(kl_http_perform(&h, &req, &r, &e) == -1 &&
	    e.kind == KL_ERR_TRANSIENT && e.sys == CURLE_OPERATION_TIMEDOUT &&
	    strstr(e.msg, "POST http://127.0.0.1:") == e.msg &&
	    strstr(e.msg, ": (28) timeout after ") != NULL,
	    "timeout: transient, '(28) timeout after N ms'");
	h.timeout_ms = KL_HTTP_TIMEOUT_MS;
	h.body_max = 8;
	ok(kl_http_perform(&h, &req, &r, &e) == -1 &&
	    e.kind == KL_ERR_PERMANENT &&
	    strstr(e.msg, "reply larger than 8 bytes") != NULL,
	    "reply over body_max: permanent");
	h.body_max = 0;
	is_int(count_in(log, "\"n\": "), 5, "5 requests logged");
	is_int(count_in(log, "\"expect\""), 0, "no Expect header sent");
	is_int(count_in(log, "\"user-agent\": \"kl/" PACKAGE_VERSION
	    " t-http\""), 5, "User-Agent kl/VERSION prog");
	is_int(count_in(log, "\"conn\": 1,"), 4,
	    "keep-alive: the first 4 requests on one connection");
	is_int(count_in(log, "\"len\": 2097152"), 1, "the 2 MiB body arrived");
	kl_http_free(&h);
	kl_hdrs_free(&hd);
	kl_http_resp_free(&r);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);

	kl_http_init(&h, NULL);
	req.url = "http://127.0.0.1:1/";
	ok(kl_http_perform(&h, &req, &r, &e) == -1 &&
	    e.kind == KL_ERR_TRANSIENT && e.sys == CURLE_COULDNT_CONNECT &&
	    strstr(e.msg, "POST http://127.0.0.1:1/: (7) ") == e.msg,
	    "connection refused: transient, '(7) ...'");
	req.url = "gopher://127.0.0.1/";
	ok(kl_http_perform(&h, &req, &r, &e) == -1 &&
	    e.kind == KL_ERR_PERMANENT, "unsupported scheme: permanent");
	kl_http_free(&h);
	kl_http_resp_free(&r);
}

static void
test_trace(void)
{
	static const char replies[] = "{\"status\":200,\"body\":\"{}\"}\n";
	struct kl_http h;
	struct kl_http_req req;
	struct kl_http_resp r;
	struct kl_hdrs hd;
	struct kl_err e;
	char url[128], log[512], errpath[512];
	int saved, fd;
	pid_t pid;

	snprintf(log, sizeof(log), "%s/stub2.log", dir);
	snprintf(errpath, sizeof(errpath), "%s/stderr", dir);
	if ((pid = start_stub(replies, log, url, sizeof(url))) == -1) {
		skip(3, "stub.py or python3 not available");
		return;
	}
	kl_http_init(&h, NULL);
	kl_http_resp_init(&r);
	kl_hdrs_init(&hd);
	kl_hdrs_add(&hd, "X-Amz-Target", "Kinesis_20131202.ListStreams");
	kl_hdrs_add(&hd, "X-Amz-Security-Token", "SESSIONTOKENEXAMPLE");
	kl_hdrs_add(&hd, "Authorization", "AWS4-HMAC-SHA256 Credential=AKID"
	    "EXAMPLE/x, Signature=abcdef");
	req.method = "POST";
	req.url = url;
	req.hdrs = &hd;
	req.body = "{}";
	req.len = 2;
	saved = dup(2);
	fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	dup2(fd, 2);
	close(fd);
	kl_verbose = 2;
	kl_http_perform(&h, &req, &r, &e);
	kl_verbose = 0;
	dup2(saved, 2);
	close(saved);
	ok(count_in(errpath, "debug: > POST http://127.0.0.1:") == 1 &&
	    count_in(errpath, "debug: > X-Amz-Target: Kinesis_20131202."
	    "ListStreams") == 1 && count_in(errpath, "debug: < HTTP 200") == 1,
	    "-vv: request line, headers, status");
	is_int(count_in(errpath, "SESSIONTOKENEXAMPLE") +
	    count_in(errpath, "Signature=") +
	    count_in(errpath, "uthorization") +
	    count_in(errpath, "ecurity-Token"), 0,
	    "-vv: no token, no Authorization");
	is_int(count_in(log, "SESSIONTOKENEXAMPLE"), 1,
	    "the token was sent all the same");
	kl_http_free(&h);
	kl_hdrs_free(&hd);
	kl_http_resp_free(&r);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
}

/* Last: a stop request stays. */
static void
test_stop(void)
{
	struct kl_http h;
	struct kl_http_req req = { "GET", "http://127.0.0.1:1/", NULL, NULL, 0 };
	struct kl_http_resp r;
	struct kl_err e;
	long t0;

	kl_stop_request(SIGTERM);
	t0 = kl_mono_ms();
	ok(kl_sleep_ms(5000) == -1 && errno == EINTR &&
	    kl_mono_ms() - t0 < 200, "sleep returns at once when stopping");
	kl_http_init(&h, NULL);
	kl_http_resp_init(&r);
	ok(kl_http_perform(&h, &req, &r, &e) == -1 &&
	    e.kind == KL_ERR_STOPPED, "no transfer starts when stopping");
	kl_http_free(&h);
	kl_http_resp_free(&r);
}

int
main(void)
{
	(void)plan;
	if (mkdtemp(dir) == NULL)
		return 1;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	test_classes();
	test_error_parse();
	test_retry_after();
	test_backoff();
	test_sleep();
	test_streams();
	test_records();
	test_endpoints();
	test_sign();
	test_reply();
	test_transfers();
	test_trace();
	test_stop();
	curl_global_cleanup();
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			diag("cannot remove %s", dir);
	}
	return done_testing();
}
