/*
 * t-reader.c - tests for page.c, the GetRecords reply to kl records step
 * of kl-read-shard (the network side of the reader is tested against
 * real peers in tests/kl-read-shard*.t).
 *
 * Replies are written here by hand so that every odd corner is reached:
 * arrival times in plain and exponent notation and absent, escaped
 * member names, "\/" inside base64, payloads that are JSON (whitespace
 * dropped, digits kept), not JSON, not UTF-8, empty; a KPL aggregate
 * built here, resumed inside, and corrupted; --until and --data-only;
 * replies that are not GetRecords replies.
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kl.h"
#include "tap.h"

static const char prefix[] = "{\"stream\":\"s\",\"shard_id\":\"sh\","
    "\"sequence_number\":\"";

static struct kl_page pg;

static void
setup(void)
{
	kl_page_free(&pg);
	pg.prefix = prefix;
	pg.prefix_len = sizeof(prefix) - 1;
	pg.shard_id = "sh";
}

/* The next line of the open page, or "" at its end / on error. */
static const char *
next(int *r)
{
	static char line[8192];
	struct kl_page_rec rec;

	*r = kl_page_next(&pg, &rec);
	if (*r != 1)
		return "";
	snprintf(line, sizeof(line), "%.*s", (int)rec.len, rec.line);
	return line;
}

/* A reply of one record with Data base64 b64 (and optional members). */
static int
open1(struct kl_buf *b, const char *b64, const char *more)
{
	struct kl_err e;

	kl_buf_reset(b);
	kl_buf_addf(b, "{\"Records\":[{\"SequenceNumber\":\"123\","
	    "\"ApproximateArrivalTimestamp\":1764441234.5678,\"Data\":\"%s\","
	    "\"PartitionKey\":\"p\\\"k\"%s}],\"NextShardIterator\":\"it\","
	    "\"MillisBehindLatest\":7}", b64, more);
	return kl_page_open(&pg, b->data, b->len, &e);
}

static void
payloads(void)
{
	struct kl_buf b, enc;
	const char *l;
	int r;
	static const struct {
		const char *data, *want;
	} t[] = {
		{ " {\"a\" : [1, 2.50, 123456789012345678901234567890e-3] }\n",
		    "\"data\":{\"a\":[1,2.50,123456789012345678901234567890e-3]}}" },
		{ "\"str\\u00e9\"", "\"data\":\"str\\u00e9\"}" },
		{ "not json", "\"data_base64\":\"bm90IGpzb24=\"}" },
		{ "", "\"data_base64\":\"\"}" },
		{ "\"\xff\"", "\"data_base64\":\"Iv8i\"}" },
		{ "01", "\"data_base64\":\"MDE=\"}" },
	};
	size_t i;

	kl_buf_init(&b);
	kl_buf_init(&enc);
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		setup();
		kl_buf_reset(&enc);
		kl_base64_enc(&enc, (const unsigned char *)t[i].data,
		    strlen(t[i].data));
		ok(open1(&b, enc.data ? enc.data : "", "") == 0,
		    "payload %zu: opens", i);
		l = next(&r);
		ok(strstr(l, t[i].want) != NULL, "payload %zu: %s", i,
		    t[i].want);
		if (strstr(l, t[i].want) == NULL)
			diag("got %s", l);
	}
	setup();
	open1(&b, "a\\/", "");
	l = next(&r);
	is_int(r, -1, "\\/ in base64 that decodes badly: an error");
	setup();
	/* "{}" with "/" escaped: base64 of 0xfb 0xff 0xbf is "+/+/". */
	open1(&b, "e30=", "");
	l = next(&r);
	is_str(l, "{\"stream\":\"s\",\"shard_id\":\"sh\",\"sequence_number\":"
	    "\"123\",\"partition_key\":\"p\\\"k\",\"arrival\":"
	    "\"2025-11-29T18:33:54.568Z\",\"millis_behind_latest\":7,"
	    "\"data\":{}}", "the whole line, contract 5.2");
	l = next(&r);
	is_int(r, 0, "then the end of the page");
	ok(pg.has_next && pg.has_mbl && pg.mbl == 7, "iterator and lag read");
	setup();
	open1(&b, "\\/\\/\\/\\/", "");
	l = next(&r);
	ok(strstr(l, "\"data_base64\":\"////\"}") != NULL,
	    "escaped slashes in Data: unescaped, decoded");
	kl_buf_free(&b);
	kl_buf_free(&enc);
}

static void
members(void)
{
	struct kl_buf b;
	struct kl_err e;
	const char *l;
	int r;

	kl_buf_init(&b);
	setup();
	kl_buf_adds(&b, "{\"MillisBehindLatest\":0,\"Rec\\u006frds\":[{"
	    "\"Data\":\"e30=\",\"Partition\\u004bey\":\"k\",\"EncryptionType\":"
	    "\"NONE\",\"ApproximateArrivalTimestamp\":1.441215410867E9,"
	    "\"SequenceNumber\":\"5\"},{\"SequenceNumber\":\"6\",\"Data\":"
	    "\"e30=\",\"PartitionKey\":\"k\"}]}");
	ok(kl_page_open(&pg, b.data, b.len, &e) == 0, "escaped names: opens");
	l = next(&r);
	ok(strstr(l, "\"sequence_number\":\"5\",\"partition_key\":\"k\","
	    "\"arrival\":\"2015-09-02T17:36:50.867Z\",\"millis_behind_latest\":0")
	    != NULL, "exponent arrival, escaped key, member order");
	l = next(&r);
	ok(strstr(l, "\"arrival\":null") != NULL, "no arrival: null");
	ok(!pg.has_next, "no NextShardIterator: the shard's end");
	kl_buf_reset(&b);
	kl_buf_adds(&b, "{\"Records\":[{\"Data\":\"e30=\",\"PartitionKey\":"
	    "\"k\"}]}");
	setup();
	kl_page_open(&pg, b.data, b.len, &e);
	next(&r);
	ok(r == -1 && strstr(pg.why, "SequenceNumber") != NULL,
	    "no SequenceNumber: an error that says so");
	kl_buf_reset(&b);
	kl_buf_adds(&b, "{\"Records\":[{\"SequenceNumber\":\"1x\",\"Data\":"
	    "\"e30=\",\"PartitionKey\":\"k\"}]}");
	setup();
	kl_page_open(&pg, b.data, b.len, &e);
	next(&r);
	is_int(r, -1, "a sequence number that is not digits: an error");
	ok(kl_page_open(&pg, "{\"Records\":{}}", 14, &e) == -1,
	    "Records not an array: refused");
	ok(kl_page_open(&pg, "[1]", 3, &e) == -1, "not an object: refused");
	ok(kl_page_open(&pg, "{\"Records\":[]", 13, &e) == -1,
	    "truncated: refused");
	kl_buf_free(&b);
}

/* Appends a protobuf length-delimited field. */
static void
pb(struct kl_buf *b, int field, const void *p, size_t n)
{
	kl_buf_addc(b, field << 3 | 2);
	kl_buf_addc(b, (int)n);
	kl_buf_add(b, p, n);
}

static void
kpl(void)
{
	struct kl_buf msg, rec, agg, enc, b;
	unsigned char md[16];
	const char *l;
	char data[8];
	int r, i;

	kl_buf_init(&msg);
	kl_buf_init(&rec);
	kl_buf_init(&agg);
	kl_buf_init(&enc);
	kl_buf_init(&b);
	pb(&msg, 1, "a", 1);
	pb(&msg, 1, "b\xff", 2);		/* not UTF-8 */
	pb(&msg, 2, "42", 2);
	for (i = 0; i < 3; i++) {
		kl_buf_reset(&rec);
		kl_buf_addc(&rec, 1 << 3);
		kl_buf_addc(&rec, i == 1);
		if (i == 2) {
			kl_buf_addc(&rec, 2 << 3);
			kl_buf_addc(&rec, 0);
		}
		snprintf(data, sizeof(data), "{\"u\":%d}", i);
		pb(&rec, 3, data, strlen(data));
		pb(&msg, 3, rec.data, rec.len);
	}
	kl_buf_add(&agg, "\xf3\x89\x9a\xc2", 4);
	kl_buf_add(&agg, msg.data, msg.len);
	kl_md5(msg.data, msg.len, md);
	kl_buf_add(&agg, md, 16);
	kl_base64_enc(&enc, (unsigned char *)agg.data, agg.len);

	setup();
	open1(&b, enc.data, "");
	l = next(&r);
	ok(strstr(l, "\"sequence_number\":\"123\",\"sub_sequence_number\":0,"
	    "\"partition_key\":\"a\",\"arrival\"") != NULL, "user record 0");
	ok(strstr(l, "\"data\":{\"u\":0}}") != NULL, "user record 0: data");
	l = next(&r);
	ok(strstr(l, "\"partition_key\":\"b\xef\xbf\xbd\"") != NULL,
	    "a key that is not UTF-8: U+FFFD");
	l = next(&r);
	ok(strstr(l, "\"partition_key\":\"a\",\"explicit_hash_key\":\"42\"")
	    != NULL, "explicit hash key");
	next(&r);
	is_int(r, 0, "three user records, then the end");

	setup();
	pg.skip_seq = "123";
	pg.skip_sub = 1;
	open1(&b, enc.data, "");
	l = next(&r);
	ok(strstr(l, "\"sub_sequence_number\":2") != NULL,
	    "resumed after user record 1: record 2 next");
	setup();
	pg.data_only = 1;
	open1(&b, enc.data, "");
	is_str(next(&r), "{\"u\":0}", "--data-only: the payload alone");
	setup();
	pg.until_ms = 1764441234000LL;
	open1(&b, enc.data, "");
	next(&r);
	is_int(r, KL_PAGE_UNTIL, "--until before the arrival: stop");

	agg.data[10] ^= 1;			/* MD5 now wrong */
	kl_buf_reset(&enc);
	kl_base64_enc(&enc, (unsigned char *)agg.data, agg.len);
	setup();
	open1(&b, enc.data, "");
	l = next(&r);
	ok(strstr(l, "\"data_base64\":\"") != NULL &&
	    strstr(l, "sub_sequence_number") == NULL,
	    "corrupt aggregate: passed through whole");
	kl_buf_free(&msg);
	kl_buf_free(&rec);
	kl_buf_free(&agg);
	kl_buf_free(&enc);
	kl_buf_free(&b);
}

int
main(void)
{
	kl_prog = "t-reader";
	kl_page_init(&pg);
	payloads();
	members();
	kpl();
	kl_page_free(&pg);
	return done_testing();
}
