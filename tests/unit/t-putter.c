/*
 * t-putter.c - tests for putrec.c, the record side of kl-trigger-put:
 * lines into records, partition keys and their fallbacks, the cut to 256
 * UTF-16 units, --fields, the PutRecords entry and result, the
 * acknowledgement line.  The engine (putter.c, putcall.c) needs a peer:
 * its tests are in tests/kl-trigger-put.t, against a stub, kinesalite and
 * a faulty front.
 */
#include <config.h>

#include <errno.h>
#include <string.h>

#include "kl.h"
#include "tap.h"

struct got {			/* what kl_put_line handed on */
	struct kl_buf	 out;	/* "P key|data|orig|index" or "B code|text" */
	int		 kinds[8];
	int		 n;
};

static int
put(void *arg, const struct kl_putrec *r, int kind)
{
	struct got *g = arg;

	kl_buf_addf(&g->out, "P %.*s|%.*s|%.*s|%ld\n", (int)r->klen, r->key,
	    (int)r->dlen, r->data, r->orig ? (int)r->olen : 1,
	    r->orig ? r->orig : "-", r->index);
	if (g->n < 8)
		g->kinds[g->n++] = kind;
	return 0;
}

static void
bad(void *arg, const char *input, long line, long index, const char *code,
    const char *msg, const char *rec, size_t n, int json)
{
	struct got *g = arg;

	kl_buf_addf(&g->out, "B %s:%ld:%ld %s|%.*s|%d\n", input, line, index,
	    code, (int)n, rec, json);
}

static struct kl_putshape sh;

/* Runs line through a shape with key field and fields; returns the log. */
static const char *
shape(struct got *g, const char *field, const char *fields, size_t max,
    const char *line)
{
	struct kl_putline_cb cb = { put, bad, g };
	static struct kl_err e;
	char **f = NULL;

	kl_put_shape_free(&sh);
	kl_buf_reset(&g->out);
	g->n = 0;
	if ((sh.key = kl_putkey_new(field, &e)) == NULL)
		return e.msg;
	if (fields != NULL && kl_put_fields_parse(fields, &f) == 0)
		sh.fields = (const char *const *)f;
	sh.record_max = max;
	if (kl_put_line(&sh, line, strlen(line), "in", 7, &cb) == -1)
		return "ENOMEM";
	return g->out.data ? g->out.data : "";
}

static void
keycut(void)
{
	char k[1200];
	size_t i;

	is_int((long long)kl_put_keycut("abc", 3, 256), 3, "short key whole");
	memset(k, 'x', 300);
	is_int((long long)kl_put_keycut(k, 300, 256), 256, "ASCII: 256 bytes");
	for (i = 0; i < 300; i++)
		memcpy(k + 2 * i, "\xc3\xa9", 2);
	is_int((long long)kl_put_keycut(k, 600, 256), 512,
	    "two-byte characters: 256 characters, 512 bytes");
	for (i = 0; i < 300; i++)
		memcpy(k + 3 * i, "\xe2\x82\xac", 3);
	is_int((long long)kl_put_keycut(k, 900, 256), 768,
	    "three-byte characters: 256 characters");
	for (i = 0; i < 200; i++)
		memcpy(k + 4 * i, "\xf0\x9f\x98\x80", 4);
	is_int((long long)kl_put_keycut(k, 800, 256), 512,
	    "astral characters count two units: 128 of them");
	memcpy(k, "a\xf0\x9f\x98\x80", 5);
	is_int((long long)kl_put_keycut(k, 5, 2), 1,
	    "a cut never splits a character");
}

static void
keys(void)
{
	struct got g;

	memset(&g, 0, sizeof(g));
	kl_buf_init(&g.out);
	is_str(shape(&g, "email", NULL, 1 << 20,
	    "{ \"id\" : 1 , \"data\" : { \"email\" : \"a@x\" } }"),
	    "P a@x|{\"id\":1,\"data\":{\"email\":\"a@x\"}}|-|-1\n",
	    "a field in data; the data minified");
	is_int(g.kinds[0], KL_PUTKEY_FIELD, "the field is the key");
	is_str(shape(&g, "email", NULL, 1 << 20,
	    "{\"email\":\"top\",\"data\":{\"x\":1}}"),
	    "P top|{\"email\":\"top\",\"data\":{\"x\":1}}|-|-1\n",
	    "not in data: the top level");
	is_str(shape(&g, "email", NULL, 1 << 20,
	    "{\"email\":\"top\",\"data\":{\"email\":\"in\"}}"),
	    "P in|{\"email\":\"top\",\"data\":{\"email\":\"in\"}}|-|-1\n",
	    "data first");
	is_str(shape(&g, "user.id", NULL, 1 << 20,
	    "{\"data\":{\"user\":{\"id\":12345678901234567890}}}"),
	    "P 12345678901234567890|{\"data\":{\"user\":{\"id\":"
	    "12345678901234567890}}}|-|-1\n", "a path; a number as written");
	shape(&g, "email", NULL, 1 << 20,
	    "{\"data\":{\"email\":\"\",\"_uid\":\"u-1\"}}");
	is_str(g.out.data, "P u-1|{\"data\":{\"email\":\"\",\"_uid\":\"u-1\"}}"
	    "|-|-1\n", "empty: _uid");
	is_int(g.kinds[0], KL_PUTKEY_FALLBACK, "a fallback is said so");
	is_str(shape(&g, "email", NULL, 1 << 20,
	    "{\"data\":{\"email\":null,\"_uids\":[\"x1\",\"x2\"]}}"),
	    "P x1|{\"data\":{\"email\":null,\"_uids\":[\"x1\",\"x2\"]}}|-|-1\n",
	    "null: the first of _uids");
	is_str(shape(&g, "email", NULL, 1 << 20,
	    "{\"id\":\"m-9\",\"data\":{\"email\":[1]}}"),
	    "P m-9|{\"id\":\"m-9\",\"data\":{\"email\":[1]}}|-|-1\n",
	    "not a scalar: id at the top");
	shape(&g, NULL, NULL, 1 << 20, "{\"a\":true}");
	is_str(g.out.data, "P f754c96b4d5e612d51e65b4ba046b81c|{\"a\":true}|-|-1\n",
	    "nothing: the MD5 of the data");
	is_int(g.kinds[0], KL_PUTKEY_MD5, "the MD5 is said so");
	is_str(shape(&g, ".data.name | ascii_downcase", NULL, 1 << 20,
	    "{\"data\":{\"name\":\"MiXed\"}}"),
	    "P mixed|{\"data\":{\"name\":\"MiXed\"}}|-|-1\n", "a jq program");
	is_str(shape(&g, ".name", NULL, 1 << 20,
	    "{\"data\":{\"name\":\"in data\"},\"name\":\"top\"}"),
	    "P in data|{\"data\":{\"name\":\"in data\"},\"name\":\"top\"}|-|-1\n",
	    "a jq program runs on data first");
	ok(strstr(shape(&g, ".a |", NULL, 1 << 20, "{}"),
	    "neither a field name nor a jq program") != NULL,
	    "a program that does not compile is refused");
	ok(strstr(shape(&g, "", NULL, 1 << 20, "{}"), "wants a field") != NULL,
	    "an empty field is refused");
	kl_buf_free(&g.out);
}

static void
lines(void)
{
	struct got g;

	memset(&g, 0, sizeof(g));
	kl_buf_init(&g.out);
	is_str(shape(&g, "k", NULL, 1 << 20,
	    "[{\"k\":\"a\"}, 5, {\"k\":\"b\"}]"),
	    "P a|{\"k\":\"a\"}|-|0\nB in:7:1 NotAnObject|5|1\n"
	    "P b|{\"k\":\"b\"}|-|2\n", "an array: one record per object");
	is_str(shape(&g, "k", NULL, 1 << 20, "\"str\""),
	    "B in:7:-1 NotAnObject|\"str\"|1\n", "a string is no object");
	is_str(shape(&g, "k", NULL, 1 << 20, "{\"k\":"),
	    "B in:7:-1 InvalidJSON|{\"k\":|0\n", "not JSON: the raw line");
	is_str(shape(&g, "k", NULL, 10, "{\"k\":\"abcd\"}"),
	    "B in:7:-1 RecordTooLarge|{\"k\":\"abcd\"}|1\n",
	    "data plus key over the limit: rejected");
	is_str(shape(&g, "k", NULL, 16, "{\"k\":\"abcd\"}"),
	    "P abcd|{\"k\":\"abcd\"}|-|-1\n", "exactly at the limit: sent");
	is_str(shape(&g, "email", "first,last", 1 << 20,
	    "{\"id\":\"1\",\"data\":{\"email\":\"e\",\"first\":\"F\",\"x\":{},"
	    "\"segment_events\":[1],\"last\":\"L\"},\"meta\":{}}"),
	    "P e|{\"id\":\"1\",\"data\":{\"first\":\"F\",\"segment_events\":[1],"
	    "\"last\":\"L\"},\"meta\":{}}|{\"id\":\"1\",\"data\":{\"email\":\"e\","
	    "\"first\":\"F\",\"x\":{},\"segment_events\":[1],\"last\":\"L\"},"
	    "\"meta\":{}}|-1\n",
	    "--fields: data cut, key from the whole, the input kept for rejects");
	is_str(shape(&g, "k", "a", 1 << 20, "{\"k\":\"v\"}"),
	    "P v|{\"k\":\"v\"}|{\"k\":\"v\"}|-1\n",
	    "--fields without data: the object whole");
	kl_buf_free(&g.out);
}

static void
wire(void)
{
	struct kl_putrec r;
	struct kl_jspan top, f[4], shard, seq;
	struct kl_buf b;
	char **v = NULL;
	const char *p;
	char t[8];

	memset(&r, 0, sizeof(r));
	kl_buf_init(&b);
	r.input = "<stdin>";
	r.line = 12;
	r.index = -1;
	r.key = "a\"b";
	r.klen = 3;
	r.data = "{}";
	r.dlen = 2;
	kl_put_entry(&b, &r, 1);
	kl_put_entry(&b, &r, 0);
	is_str(b.data, "{\"Data\":\"e30=\",\"PartitionKey\":\"a\\\"b\"},"
	    "{\"Data\":\"e30=\",\"PartitionKey\":\"a\\\"b\"}",
	    "PutRecords entries: base64 data, the key escaped");
	kl_buf_reset(&b);
	kl_js_parse("\"shardId-1\"", 11, &shard, NULL);
	kl_js_parse("\"4959\"", 6, &seq, NULL);
	kl_put_ack(&b, &r, &shard, &seq);
	r.input = "f.ndjson";
	r.index = 3;
	r.key = "k";
	r.klen = 1;
	kl_put_ack(&b, &r, &shard, &seq);
	is_str(b.data, "{\"line\":12,\"partition_key\":\"a\\\"b\",\"shard_id\":"
	    "\"shardId-1\",\"sequence_number\":\"4959\"}\n{\"line\":12,"
	    "\"input\":\"f.ndjson\",\"index\":3,\"partition_key\":\"k\","
	    "\"shard_id\":\"shardId-1\",\"sequence_number\":\"4959\"}\n",
	    "acknowledgements: contract 5.4, input and index when they apply");
	p = "{\"ErrorCode\":\"Throttled\",\"Err\\u006frMessage\":\"m\","
	    "\"ShardId\":null}";
	kl_js_parse(p, strlen(p), &top, NULL);
	kl_put_result(&top, f);
	kl_put_text(t, sizeof(t), &f[1]);
	ok(f[0].type == KL_JSTR && f[2].type == 0 && f[3].type == 0 &&
	    strcmp(t, "m") == 0, "a result: members by name, escaped too");
	kl_put_text(t, 4, &f[0]);
	is_str(t, "Thr", "a result's text is cut to fit");
	ok(kl_put_fields_parse("a,b", &v) == 0 && strcmp(v[0], "a") == 0 &&
	    strcmp(v[1], "b") == 0 && v[2] == NULL, "--fields a,b");
	free(v[0]);
	free(v);
	ok(kl_put_fields_parse("a,", &v) == -1 && errno == EINVAL,
	    "--fields with an empty name: refused");
	kl_buf_free(&b);
}

int
main(void)
{
	keycut();
	keys();
	lines();
	wire();
	kl_put_shape_free(&sh);
	return done_testing();
}
