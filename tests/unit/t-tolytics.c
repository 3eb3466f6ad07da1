/*
 * t-tolytics.c - unit tests of tolytics.c, kl-to-lytics' engine, with no
 * Lytics to talk to: the batch acknowledgement line; lines taken into a
 * batch, a reject handed to the callback; a full batch whose request
 * fails (nothing listens), its records and the line in hand handed back
 * as NotDelivered; the end of the input, an input that cannot be read,
 * and a record that forbids going on.  Delivery itself is tested in
 * tests/kl-to-lytics.t against the Lytics stand-in.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "kl.h"
#include "tap.h"

static struct kl_buf bads;	/* "input:line:code:json" of each, by "|" */
static int acks;

static int
on_ack(void *arg, const struct kl_lytics_ack *a, struct kl_err *e)
{
	acks++;
	return 0;
}

static void
on_bad(void *arg, const char *input, long line, long index,
    const char *code, const char *msg, const char *rec, size_t n, int json)
{
	const char *base = strrchr(input, '/');

	kl_buf_addf(&bads, "%s%s:%ld:%s:%.*s:%d", bads.len ? "|" : "",
	    base ? base + 1 : input, line, code, (int)n, rec, json);
}

static void
test_ack(void)
{
	struct kl_lytics_ack a = { 3, 3, 0 };
	struct kl_buf b;

	kl_buf_init(&b);
	kl_tolytics_ack(&b, "web \"x\"", &a);
	is_str(b.data, "{\"stream\":\"web \\\"x\\\"\",\"events\":3,"
	    "\"message_count\":3,\"rejected_count\":0}",
	    "an acknowledgement: the stream quoted, the counts");
	kl_buf_reset(&b);
	a.message_count = a.rejected_count = -1;
	kl_tolytics_ack(&b, "web", &a);
	is_str(b.data, "{\"stream\":\"web\",\"events\":3,"
	    "\"message_count\":null,\"rejected_count\":null}",
	    "counts the reply did not give: null");
	kl_buf_free(&b);
}

/* Writes text to a new file in dir; returns its path (static). */
static const char *
input(const char *dir, const char *text)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/in.ndjson", dir);
	if ((f = fopen(path, "w")) == NULL)
		return path;
	fputs(text, f);
	fclose(f);
	return path;
}

/* Sets t up for stream web: batches of size events, linger a minute. */
static void
engine(struct kl_tolytics *t, size_t size)
{
	static const struct kl_tolytics_cb cb = { on_ack, on_bad, NULL };
	static const struct kl_lytics_collect col = { "web", NULL, 0 };

	kl_tolytics_init(t, &cb);
	t->col = &col;
	t->batch_size = size;
	t->batch_bytes = 1000;
	t->linger = 60000;
	t->lr.max_event = 100;
}

static void
test_batches(const char *dir)
{
	struct kl_lytics l;
	struct kl_tolytics t;
	struct kl_inputs ins;
	struct kl_err e;
	char url[] = "http://127.0.0.1:1", key[] = "at.unit-test-key";
	char *paths[2] = { NULL, NULL };

	engine(&t, 2);
	l.url = url;
	l.key = key;
	l.url_from = l.key_from = "test";
	ok(kl_tolytics_open(&t, &l, 1, &e) == 0 && t.api.finish &&
	    t.api.budget_ms == 1, "open: a transfer finishes after a stop");
	t.api.retries = 1;
	t.api.base_ms = t.api.cap_ms = 1;
	ok(kl_tolytics_flush(&t, &e) == 0, "nothing in hand: nothing sent");
	paths[0] = (char *)input(dir, "{\"a\":1}\nnot json\n{\"b\":2}\n"
	    "{\"c\":3}\n{\"d\":4}\n");
	kl_err_clear(&e);
	kl_inputs_init(&ins, paths);
	ok(kl_tolytics_next(&t, &ins, &e) == 1 && t.line == 1 &&
	    t.batch.n == 1, "a line: its event in the batch");
	ok(kl_tolytics_next(&t, &ins, &e) == 1 && t.batch.n == 1,
	    "a line that is not JSON: taken, no event");
	is_str(bads.data, "in.ndjson:2:InvalidJSON:not json:0",
	    "... handed to the reject callback, as a string");
	kl_buf_reset(&bads);
	ok(kl_tolytics_next(&t, &ins, &e) == 1 && t.batch.n == 2,
	    "a second event: the batch is full");
	is_int(kl_tolytics_next(&t, &ins, &e), KL_TOLYTICS_SEND,
	    "the next event sends it: nothing listens");
	is_int(e.kind, KL_ERR_TRANSIENT, "... a transient failure");
	is_str(bads.data, "in.ndjson:1:NotDelivered:{\"a\":1}:1|"
	    "in.ndjson:3:NotDelivered:{\"b\":2}:1|"
	    "in.ndjson:4:NotDelivered:{\"c\":3}:1",
	    "... its records and the line in hand not delivered");
	ok(t.batch.n == 0 && t.nrec == 0 && t.first_ms == 0 && acks == 0,
	    "... the batch settled, nothing acknowledged");
	ok(kl_tolytics_next(&t, &ins, &e) == 1 && t.line == 5,
	    "the engine can go on");
	is_int(kl_tolytics_next(&t, &ins, &e), 0, "the end of the input: 0");
	kl_inputs_close(&ins);
	paths[0] = (char *)"/nonexistent/t-tolytics";
	kl_inputs_init(&ins, paths);
	ok(kl_tolytics_next(&t, &ins, &e) == KL_TOLYTICS_READ &&
	    e.sys == ENOENT, "an input that cannot be opened: the errno");
	kl_inputs_close(&ins);
	kl_tolytics_free(&t);
}

static void
test_fatal(const char *dir)
{
	struct kl_tolytics t;
	struct kl_inputs ins;
	struct kl_err e;
	char *paths[2] = { NULL, NULL };

	engine(&t, 10);
	t.use_ck = 1;
	paths[0] = (char *)input(dir, "{\"stream\":\"clicks\",\"shard_id\":"
	    "\"shardId-1\",\"sequence_number\":\"49\",\"data\":{}}\n"
	    "{\"stream\":\"other\",\"shard_id\":\"shardId-1\","
	    "\"sequence_number\":\"50\",\"data\":{}}\n");
	kl_err_clear(&e);
	kl_inputs_init(&ins, paths);
	ok(kl_tolytics_next(&t, &ins, &e) == 1 && t.npos == 1 &&
	    strcmp(t.pos[0].seq, "49") == 0, "a record: its position kept");
	is_int(kl_tolytics_next(&t, &ins, &e), KL_TOLYTICS_FATAL,
	    "a record of another stream: fatal");
	ok(t.line == 2 && strstr(t.lr.why, "'other'") != NULL,
	    "... where, and why");
	kl_inputs_close(&ins);
	kl_tolytics_free(&t);
}

int
main(void)
{
	char dir[] = "/tmp/t-tolytics.XXXXXX", path[256];

	kl_prog = "t-tolytics";
	plan(18);
	kl_buf_init(&bads);
	test_ack();
	if (mkdtemp(dir) == NULL) {
		skip(16, "no temporary directory");
		return done_testing();
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	test_batches(dir);
	test_fatal(dir);
	curl_global_cleanup();
	snprintf(path, sizeof(path), "%s/in.ndjson", dir);
	unlink(path);
	rmdir(dir);
	kl_buf_free(&bads);
	return done_testing();
}
