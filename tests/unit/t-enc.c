/*
 * t-enc.c - tests for enc.c (hex, base64, digests, UTF-8), time.c and
 * util.c: known answers from the RFCs, and round trips.
 */
#include <config.h>

#include <errno.h>
#include <string.h>

#include "kl.h"
#include "tap.h"

static void
b64_case(const char *raw, const char *enc)
{
	struct kl_buf b;

	kl_buf_init(&b);
	kl_base64_enc(&b, (const unsigned char *)raw, strlen(raw));
	is_str(b.data, enc, "base64 encode '%s'", raw);
	kl_buf_reset(&b);
	is_int(kl_base64_dec(&b, enc, strlen(enc)), (long long)strlen(raw),
	    "base64 decode '%s' length", enc);
	is_blob(b.data, b.len, raw, strlen(raw), "base64 decode '%s'", enc);
	kl_buf_free(&b);
}

static void
b64_bad(const char *enc)
{
	struct kl_buf b;

	kl_buf_init(&b);
	kl_buf_adds(&b, "keep");
	ok(kl_base64_dec(&b, enc, strlen(enc)) == -1 && errno == EINVAL &&
	    b.len == 4, "base64 rejects '%s'", enc);
	kl_buf_free(&b);
}

static void
test_digests(void)
{
	unsigned char md[32];
	char hex[65];

	kl_sha256("abc", 3, md);
	kl_hex(md, 32, hex);
	is_str(hex, "ba7816bf8f01cfea414140de5dae2223"
	    "b00361a396177a9cb410ff61f20015ad", "sha256 abc");
	/* RFC 4231 test case 2. */
	kl_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, md);
	kl_hex(md, 32, hex);
	is_str(hex, "5bdcc146bf60754e6a042426089575c7"
	    "5a003f089d2739839dec58b964ec3843", "hmac-sha256 rfc4231 #2");
	kl_md5("", 0, md);
	kl_hex(md, 16, hex);
	is_str(hex, "d41d8cd98f00b204e9800998ecf8427e", "md5 empty");
}

static void
test_utf8(void)
{
	ok(kl_utf8_valid((const unsigned char *)"h\xc3\xa9llo", 6),
	    "utf8 valid 2-byte");
	ok(kl_utf8_valid((const unsigned char *)"\xf0\x9f\x98\x80", 4),
	    "utf8 valid 4-byte");
	ok(!kl_utf8_valid((const unsigned char *)"\xc0\xaf", 2),
	    "utf8 overlong rejected");
	ok(!kl_utf8_valid((const unsigned char *)"\xed\xa0\x80", 3),
	    "utf8 surrogate rejected");
	ok(!kl_utf8_valid((const unsigned char *)"\xf4\x90\x80\x80", 4),
	    "utf8 past U+10FFFF rejected");
	ok(!kl_utf8_valid((const unsigned char *)"\xff", 1),
	    "utf8 0xff rejected");
	ok(!kl_utf8_valid((const unsigned char *)"\xe2\x82", 2),
	    "utf8 truncated rejected");
}

static void
test_time(void)
{
	char out[64];
	time_t t;
	int ms;

	is_int(kl_time_fmt(out, sizeof(out), 1448886960, -1), 20,
	    "time format length");
	is_str(out, "2015-11-30T12:36:00Z", "time format");
	kl_time_fmt(out, sizeof(out), 1448886960, 123);
	is_str(out, "2015-11-30T12:36:00.123Z", "time format with ms");
	ok(kl_time_parse("2015-11-30T12:36:00.1234Z", &t, &ms) == 0 &&
	    t == 1448886960 && ms == 123, "time parse with fraction");
	ok(kl_time_parse("2015-11-30T14:36:00+02:00", &t, NULL) == 0 &&
	    t == 1448886960, "time parse with offset");
	ok(kl_time_parse("2015-11-30", &t, NULL) == 0 && t == 1448841600,
	    "time parse date only");
	ok(kl_time_parse("2015-11-30T12:36", &t, NULL) == -1,
	    "time parse rejects missing seconds");
	ok(kl_time_parse("yesterday", &t, NULL) == -1,
	    "time parse rejects words");
	ok(kl_time_http("Mon, 30 Nov 2015 12:36:00 GMT", &t) == 0 &&
	    t == 1448886960, "http date");
}

static void
test_util(void)
{
	unsigned long long v;

	ok(kl_parse_uint("42", 1, 100, &v) == 0 && v == 42, "uint 42");
	ok(kl_parse_uint("0", 1, 100, &v) == -1 && errno == ERANGE,
	    "uint below range");
	ok(kl_parse_uint("4x", 1, 100, &v) == -1 && errno == EINVAL,
	    "uint junk");
	ok(kl_parse_uint("-1", 0, 100, &v) == -1 && errno == EINVAL,
	    "uint negative");
	ok(kl_parse_uint("99999999999999999999999", 0, ~0ULL, &v) == -1,
	    "uint overflow");
	ok(kl_stream_name_ok("a.b-c_D9"), "stream name ok");
	ok(!kl_stream_name_ok(""), "stream name empty");
	ok(!kl_stream_name_ok("a b"), "stream name space");
	ok(!kl_stream_name_ok("a/b"), "stream name slash");
	ok(kl_stream_name_ok("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaa"), "stream name 128");
	ok(!kl_stream_name_ok("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaa"), "stream name 129");
	is_int(kl_exit_worst(0, 3), 3, "worst 0 3");
	is_int(kl_exit_worst(3, 75), 75, "worst 3 75");
	is_int(kl_exit_worst(1, 75), 1, "worst 1 75");
	is_int(kl_exit_worst(3, 0), 3, "worst 3 0");
}

int
main(void)
{
	b64_case("", "");
	b64_case("f", "Zg==");
	b64_case("fo", "Zm8=");
	b64_case("foo", "Zm9v");
	b64_case("foobar", "Zm9vYmFy");
	b64_bad("Zm9");
	b64_bad("Zm9v YmFy");
	b64_bad("Zh==");
	b64_bad("Zm9=v");
	b64_bad("Z===");
	test_digests();
	test_utf8();
	test_time();
	test_util();
	return done_testing();
}
