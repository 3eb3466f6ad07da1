/*
 * t-lytrec.c - unit tests of lytrec.c, kl-to-lytics' input lines: the
 * events of a Kinesis record, a plain object and a --filter, the rejects
 * with their codes, the positions, and a record of another stream.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "kl.h"
#include "tap.h"

/* The events of r joined by "|". */
static const char *
events(const struct kl_lytrec *r)
{
	static char out[4096];
	size_t i, from, n = 0;

	out[0] = '\0';
	for (i = 0; i < r->nev; i++) {
		from = i ? r->ev[i - 1] : 0;
		n += (size_t)snprintf(out + n, sizeof(out) - n, "%s%.*s",
		    i ? "|" : "", (int)(r->ev[i] - from), r->evs.data + from);
	}
	return out;
}

static int
line(struct kl_lytrec *r, const char *s, struct kl_ckpt *ck)
{
	return kl_lytrec_line(r, s, strlen(s), ck);
}

static void
test_events(void)
{
	struct kl_lytrec r;

	kl_lytrec_init(&r);
	r.max_event = 64;
	ok(line(&r, "{ \"a\" : 1 , \"n\":12345678901234567890}", NULL) == 0 &&
	    r.code == NULL, "a plain object");
	is_str(events(&r), "{\"a\":1,\"n\":12345678901234567890}",
	    "is its own event, minified, every digit kept");
	ok(r.json && strcmp(r.line.data, events(&r)) == 0,
	    "the minified line is kept");
	ok(line(&r, "{\"stream\":\"s\",\"shard_id\":\"shardId-1\","
	    "\"sequence_number\":\"49\",\"data\":{\"e\":\"pv\"}}", NULL) == 0,
	    "a Kinesis record");
	is_str(events(&r), "{\"e\":\"pv\"}", "its event is data");
	ok(!r.has_pos, "no checkpoint: no position");
	ok(line(&r, "{\"shard_id\":\"shardId-1\",\"sequence_number\":\"49\","
	    "\"data_base64\":\"eyJiIjogMn0=\"}", NULL) == 0 &&
	    r.code == NULL, "a record with data_base64");
	is_str(events(&r), "{\"b\":2}", "its event is the decoded object");

	line(&r, "{\"a\":", NULL);
	is_str(r.code, "InvalidJSON", "not JSON: InvalidJSON");
	ok(!r.json && r.nev == 0, "not JSON: no line, no events");
	line(&r, "[1]", NULL);
	is_str(r.code, "NotAnObject", "an array: NotAnObject");
	line(&r, "{\"shard_id\":\"s\",\"sequence_number\":\"1\",\"data\":3}",
	    NULL);
	is_str(r.why, "data is not a JSON object", "data not an object");
	line(&r, "{\"shard_id\":\"s\",\"sequence_number\":\"1\","
	    "\"data_base64\":\"!!\"}", NULL);
	is_str(r.why, "data_base64 is not base64", "bad base64");
	line(&r, "{\"shard_id\":\"s\",\"sequence_number\":\"1\","
	    "\"data_base64\":\"WzFd\"}", NULL);
	is_str(r.why, "data_base64 does not hold a JSON object",
	    "base64 of an array");
	line(&r, "{\"x\":\"0123456789012345678901234567890123456789012345678"
	    "90123456789\"}", NULL);
	is_str(r.code, "EventTooLarge", "an event over max_event");
	is_str(r.why, "an event of 68 bytes, over the 64-byte event limit",
	    "and by how much");
	kl_lytrec_free(&r);
}

static void
test_filter(void)
{
	struct kl_lytrec r;

	kl_lytrec_init(&r);
	r.max_event = 1000;
	errno = 0;
	ok(kl_lytrec_filter(&r, ".[") == -1 && errno == EINVAL,
	    "a program that does not compile: EINVAL");
	ok(r.jqmsg.len > 0, "with libjq's messages");
	kl_lytrec_free(&r);

	kl_lytrec_init(&r);
	r.max_event = 1000;
	ok(kl_lytrec_filter(&r, ".items[] | {id: .}") == 0, "a filter");
	ok(line(&r, "{\"items\":[1,2]}", NULL) == 0 && r.code == NULL,
	    "a line the filter takes");
	is_str(events(&r), "{\"id\":1}|{\"id\":2}", "its results, in order");
	line(&r, "{\"items\":[1,[2]]}", NULL);
	ok(r.code == NULL, "arrays become objects");
	line(&r, "{\"items\":3}", NULL);
	is_str(r.code, "FilterError", "a filter error: FilterError");
	kl_lytrec_free(&r);

	kl_lytrec_init(&r);
	r.max_event = 1000;
	kl_lytrec_filter(&r, ".a[]");
	line(&r, "{\"a\":[{},2,{}]}", NULL);
	is_str(r.code, "NotAnObject", "a result not an object");
	is_str(r.why, "filter result 2 is number, not an object",
	    "which result, and what it is");
	kl_lytrec_free(&r);
}

static void
test_positions(void)
{
	struct kl_lytrec r;
	struct kl_ckpt ck;

	kl_ckpt_init(&ck);
	kl_lytrec_init(&r);
	r.max_event = 1000;
	ok(line(&r, "{\"stream\":\"clicks\",\"shard_id\":\"shardId-1\","
	    "\"sequence_number\":\"4959\",\"sub_sequence_number\":3,"
	    "\"data\":{}}", &ck) == 0 && r.code == NULL && r.has_pos,
	    "a record's position");
	ok(strcmp(r.pos.shard, "shardId-1") == 0 &&
	    strcmp(r.pos.seq, "4959") == 0 && r.pos.sub == 3,
	    "shard, sequence and sub-sequence number");
	ok(ck.stream != NULL && strcmp(ck.stream, "clicks") == 0,
	    "the checkpoint takes the first record's stream");
	line(&r, "{\"stream\":\"clicks\",\"shard_id\":\"shardId-1\","
	    "\"sequence_number\":\"4960\",\"data\":[]}", &ck);
	ok(r.has_pos && r.pos.sub == KL_CKPT_WHOLE &&
	    strcmp(r.code, "NotAnObject") == 0,
	    "a rejected record has its position too");
	line(&r, "{\"stream\":\"clicks\",\"shard_id\":\"shardId-1\","
	    "\"sequence_number\":\"49x\",\"data\":{}}", &ck);
	ok(!r.has_pos && strcmp(r.code, "BadRecord") == 0,
	    "a bad sequence number: BadRecord");
	line(&r, "{\"shard_id\":\"shardId-1\",\"sequence_number\":\"1\","
	    "\"data\":{}}", &ck);
	is_str(r.why, "a Kinesis record without a stream", "no stream");
	ok(!r.fatal, "none of these stops the run");
	line(&r, "{\"stream\":\"other\",\"shard_id\":\"shardId-1\","
	    "\"sequence_number\":\"4961\",\"data\":{}}", &ck);
	ok(r.fatal && strcmp(r.code, "OtherStream") == 0,
	    "a record of another stream: fatal");
	is_str(r.why, "a record of stream 'other', but the checkpoint is of "
	    "stream 'clicks'", "and said");
	kl_lytrec_free(&r);
	kl_ckpt_free(&ck);
}

int
main(void)
{
	kl_prog = "t-lytrec";
	test_events();
	test_filter();
	test_positions();
	return done_testing();
}
