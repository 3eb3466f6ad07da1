/*
 * t-kpl.c - tests for kpl.c, the KPL aggregate unpacker.
 *
 * Three kinds of input:
 *
 * - aggregates made by an independent encoder (npm aws-kinesis-agg): the
 *   shared fixture $KL_SHARED/testdata/kpl/agg-0.bin (skipped when
 *   KL_SHARED is absent), the fixtures committed in tests/data/kpl (made
 *   by tests/peers/kpl-make.js), and, when Node and the package are
 *   installed ($KL_NODE_MODULES), a fresh run of that script: it must
 *   reproduce the committed files byte for byte, and its "big" set of
 *   several ~1 MiB aggregates must unpack too.  Each comes with a JSON
 *   list of the user records it must unpack to.
 *
 * - corrupted variants of those (bad MD5, truncation, wrong magic), which
 *   must be refused as a whole;
 *
 * - protobufs built here byte by byte and sealed with a correct MD5, to
 *   reach the parser's checks behind the digest: unknown fields of every
 *   wire type, tables after records, out-of-range indices, missing
 *   required fields, bad varints and lengths.
 *
 * The expected lists are read with libjq (test code, cold path).  The
 * last test reports the unpacking speed as a diagnostic, not a check.
 */
#include <config.h>

#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jv.h>

#include "kl.h"
#include "tap.h"

static char dir[] = "/tmp/t-kpl.XXXXXX";
static const unsigned char magic[4] = { 0xf3, 0x89, 0x9a, 0xc2 };

static int
slurp(const char *path, struct kl_buf *b)
{
	kl_buf_reset(b);
	return kl_read_file(path, b, 64UL * 1024 * 1024);
}

/* A string member of o, or NULL if absent or null. */
static const char *
jstr(jv o, const char *key, jv *hold)
{
	*hold = jv_object_get(jv_copy(o), jv_string(key));
	return jv_get_kind(*hold) == JV_KIND_STRING ?
	    jv_string_value(*hold) : NULL;
}

static int
span_is(const char *p, size_t n, const char *want)
{
	if (want == NULL)
		return p == NULL;
	return p != NULL && n == strlen(want) && memcmp(p, want, n) == 0;
}

/*
 * Unpacks one blob and compares its records with want[first ...].
 * Six tests.
 */
static void
check_blob(const char *name, const unsigned char *p, size_t n, jv want,
    int first, int count)
{
	struct kl_kpl k;
	struct kl_kpl_rec r;
	struct kl_buf data;
	int i, got = 0, bad_pk = -1, bad_ehk = -1, bad_data = -1, bad_sub = -1;
	int r1;

	kl_kpl_init(&k);
	kl_buf_init(&data);
	ok(kl_kpl_is_agg(p, n), "%s: is an aggregate", name);
	r1 = kl_kpl_open(&k, p, n);
	if (!ok(r1 == 0 && k.nrec == (size_t)count, "%s: opens, %d records",
	    name, count))
		diag("open %d (%s), %zu records", r1, k.why, k.nrec);
	for (i = 0; r1 == 0 && kl_kpl_next(&k, &r) == 1; i++) {
		jv u = jv_array_get(jv_copy(want), first + i), h1, h2, h3;
		const char *pk = jstr(u, "partitionKey", &h1);
		const char *ehk = jstr(u, "explicitHashKey", &h2);
		const char *d64 = jstr(u, "dataBase64", &h3);

		got++;
		if (bad_pk < 0 && !span_is(r.pk, r.pk_len, pk))
			bad_pk = i;
		if (bad_ehk < 0 && !span_is(r.ehk, r.ehk_len, ehk))
			bad_ehk = i;
		kl_buf_reset(&data);
		if (bad_data < 0 && (d64 == NULL ||
		    kl_base64_dec(&data, d64, strlen(d64)) == -1 ||
		    data.len != r.data_len ||
		    (data.len > 0 && memcmp(data.data, r.data, data.len))))
			bad_data = i;
		if (bad_sub < 0 && r.sub != (uint64_t)i)
			bad_sub = i;
		jv_free(u);
		jv_free(h1);
		jv_free(h2);
		jv_free(h3);
	}
	if (!ok(got == count && bad_sub < 0,
	    "%s: %d records, sub-sequence numbers 0...", name, count))
		diag("got %d records, first bad sub at %d", got, bad_sub);
	if (!ok(bad_pk < 0 && got > 0, "%s: partition keys", name))
		diag("first mismatch at record %d", bad_pk);
	if (!ok(bad_ehk < 0 && got > 0, "%s: explicit hash keys", name))
		diag("first mismatch at record %d", bad_ehk);
	if (!ok(bad_data < 0 && got > 0, "%s: data", name))
		diag("first mismatch at record %d", bad_data);
	kl_buf_free(&data);
	kl_kpl_free(&k);
}

/* Tests per blob in check_set. */
#define BLOB_TESTS	6

/*
 * Checks every blob listed in DIR/JSON.  Returns the number of blobs, or
 * -1 (after one failed test) if the list cannot be read.
 */
static int
check_set(const char *d, const char *json, int nblobs)
{
	struct kl_buf b;
	char path[4096], name[256];
	jv top, blobs, users;
	int i, first = 0, total, count;

	kl_buf_init(&b);
	snprintf(path, sizeof(path), "%s/%s", d, json);
	if (slurp(path, &b) == -1) {
		ok(0, "read %s: %s", path, strerror(errno));
		kl_buf_free(&b);
		return -1;
	}
	top = jv_parse_sized(b.data, (int)b.len);
	if (jv_get_kind(top) != JV_KIND_OBJECT) {
		ok(0, "parse %s", path);
		jv_free(top);
		kl_buf_free(&b);
		return -1;
	}
	blobs = jv_object_get(jv_copy(top), jv_string("blobs"));
	users = jv_object_get(jv_copy(top), jv_string("userRecords"));
	total = jv_array_length(jv_copy(users));
	if (!is_int(jv_array_length(jv_copy(blobs)), nblobs, "%s: %d blobs",
	    json, nblobs))
		nblobs = 0;
	for (i = 0; i < nblobs; i++) {
		jv bl = jv_array_get(jv_copy(blobs), i), h, c;
		const char *file = jstr(bl, "file", &h);

		c = jv_object_get(jv_copy(bl), jv_string("records"));
		count = jv_get_kind(c) == JV_KIND_NUMBER ?
		    (int)jv_number_value(c) : total - first;
		snprintf(path, sizeof(path), "%s/%s", d, file ? file : "?");
		snprintf(name, sizeof(name), "%s", file ? file : "?");
		if (slurp(path, &b) == -1) {
			skip(BLOB_TESTS, "cannot read blob");
			diag("%s: %s", path, strerror(errno));
		} else
			check_blob(name, (unsigned char *)b.data, b.len, users,
			    first, count);
		first += count;
		jv_free(c);
		jv_free(h);
		jv_free(bl);
	}
	is_int(first, total, "%s: blobs hold all %d user records", json,
	    total);
	jv_free(users);
	jv_free(blobs);
	jv_free(top);
	kl_buf_free(&b);
	return nblobs;
}

static void
test_shared(void)
{
	const char *sh = getenv("KL_SHARED");
	char d[4096];
	struct stat st;

	snprintf(d, sizeof(d), "%s/testdata/kpl", sh ? sh : "");
	if (sh == NULL || stat(d, &st) == -1) {
		skip(1 + BLOB_TESTS + 1,
		    "shared KPL fixture absent (KL_SHARED unset or no "
		    "testdata/kpl)");
		return;
	}
	check_set(d, "expected.json", 1);
}

static void
test_committed(void)
{
	const char *src = getenv("srcdir");
	char d[4096];

	snprintf(d, sizeof(d), "%s/tests/data/kpl", src ? src : ".");
	check_set(d, "one.json", 1);
	check_set(d, "mixed.json", 1);
}

/* Runs the fixture script with Node into the scratch folder. */
static int
node_make(const char *set)
{
	const char *src = getenv("srcdir"), *mods = getenv("KL_NODE_MODULES");
	char cmd[8192], probe[4096];
	struct stat st;

	if (mods == NULL || system("node --version >/dev/null 2>&1") != 0)
		return -1;
	snprintf(probe, sizeof(probe), "%s/aws-kinesis-agg/package.json", mods);
	if (stat(probe, &st) == -1)
		return -1;
	snprintf(cmd, sizeof(cmd), "node '%s/tests/peers/kpl-make.js' %s "
	    "'%s/node' >'%s/node.log' 2>&1", src ? src : ".", set, dir, dir);
	return system(cmd) == 0 ? 0 : 1;
}

static int
same_file(const char *a, const char *b)
{
	struct kl_buf x, y;
	int same;

	kl_buf_init(&x);
	kl_buf_init(&y);
	same = slurp(a, &x) == 0 && slurp(b, &y) == 0 && x.len == y.len &&
	    memcmp(x.data, y.data, x.len) == 0;
	kl_buf_free(&x);
	kl_buf_free(&y);
	return same;
}

static void
test_node(void)
{
	static const char *files[] = { "agg-one-0.bin", "agg-mixed-0.bin",
	    "one.json", "mixed.json" };
	const char *src = getenv("srcdir");
	char a[4096], b[4096], d[4096];
	size_t i;
	int r;

	if ((r = node_make("small")) == -1) {
		skip(4 + 1 + 3 * BLOB_TESTS + 1,
		    "node or aws-kinesis-agg not installed");
		return;
	}
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(a, sizeof(a), "%s/tests/data/kpl/%s",
		    src ? src : ".", files[i]);
		snprintf(b, sizeof(b), "%s/node/%s", dir, files[i]);
		ok(r == 0 && same_file(a, b),
		    "kpl-make.js reproduces %s byte for byte", files[i]);
	}
	if (node_make("big") != 0) {
		ok(0, "kpl-make.js big");
		return;
	}
	snprintf(d, sizeof(d), "%s/node", dir);
	check_set(d, "big.json", 3);
}

/* Hand-made protobufs. */

static void
pb_varint(struct kl_buf *b, uint64_t v)
{
	while (v >= 0x80) {
		kl_buf_addc(b, (int)(v & 0x7f) | 0x80);
		v >>= 7;
	}
	kl_buf_addc(b, (int)v);
}

static void
pb_key(struct kl_buf *b, unsigned f, unsigned wt)
{
	pb_varint(b, (uint64_t)f << 3 | wt);
}

static void
pb_bytes(struct kl_buf *b, unsigned f, const void *p, size_t n)
{
	pb_key(b, f, 2);
	pb_varint(b, n);
	kl_buf_add(b, p, n);
}

static void
pb_uint(struct kl_buf *b, unsigned f, uint64_t v)
{
	pb_key(b, f, 0);
	pb_varint(b, v);
}

/* Appends a Record with pk index, ehk index (or -1) and data. */
static void
pb_rec(struct kl_buf *b, long pki, long ehki, const char *data)
{
	struct kl_buf r;

	kl_buf_init(&r);
	if (pki >= 0)
		pb_uint(&r, 1, (uint64_t)pki);
	if (ehki >= 0)
		pb_uint(&r, 2, (uint64_t)ehki);
	if (data != NULL)
		pb_bytes(&r, 3, data, strlen(data));
	pb_bytes(b, 3, r.data, r.len);
	kl_buf_free(&r);
}

/* Wraps protobuf pb as an aggregate: magic, pb, MD5(pb). */
static void
seal(struct kl_buf *out, const struct kl_buf *pb)
{
	unsigned char md[16];

	kl_buf_reset(out);
	kl_buf_add(out, magic, 4);
	kl_buf_add(out, pb->data, pb->len);
	kl_md5(pb->data, pb->len, md);
	kl_buf_add(out, md, 16);
}

/* Opens pb sealed; expects failure with errno err and why containing s. */
static void
refuse(const struct kl_buf *pb, int err, const char *s, const char *what)
{
	struct kl_kpl k;
	struct kl_kpl_rec r;
	struct kl_buf agg;
	int rc, e;

	kl_buf_init(&agg);
	seal(&agg, pb);
	kl_kpl_init(&k);
	rc = kl_kpl_open(&k, (unsigned char *)agg.data, agg.len);
	e = errno;
	if (!ok(rc == -1 && e == err && strstr(k.why, s) != NULL &&
	    kl_kpl_next(&k, &r) == -1, "refuses %s", what))
		diag("open %d errno %d why '%s'", rc, e, k.why);
	kl_kpl_free(&k);
	kl_buf_free(&agg);
}

static void
test_handmade(void)
{
	struct kl_buf pb, agg, r, g;
	struct kl_kpl k;
	struct kl_kpl_rec rec;
	int i;

	kl_buf_init(&pb);
	kl_buf_init(&agg);
	kl_buf_init(&r);
	kl_buf_init(&g);
	kl_kpl_init(&k);

	/*
	 * Unknown fields of every wire type, at the top and inside a
	 * record; the tables after the records; a tag; a repeated data
	 * field (the last wins).
	 */
	pb_uint(&pb, 9, 123456789);			/* varint */
	pb_key(&pb, 10, 1);				/* fixed64 */
	kl_buf_add(&pb, "12345678", 8);
	pb_key(&pb, 11, 3);				/* group */
	pb_uint(&pb, 1, 5);
	pb_key(&pb, 12, 3);				/* nested group */
	pb_key(&pb, 1, 5);
	kl_buf_add(&pb, "abcd", 4);
	pb_key(&pb, 12, 4);
	pb_bytes(&pb, 2, "x", 1);
	pb_key(&pb, 11, 4);
	pb_uint(&r, 1, 1);
	pb_uint(&r, 99, 7);
	pb_bytes(&r, 3, "first", 5);
	pb_bytes(&g, 1, "tagkey", 6);
	pb_bytes(&g, 2, "tagvalue", 8);
	pb_bytes(&r, 4, g.data, g.len);
	pb_key(&r, 50, 5);
	kl_buf_add(&r, "wxyz", 4);
	pb_bytes(&r, 3, "second", 6);
	pb_uint(&r, 2, 0);
	pb_bytes(&pb, 3, r.data, r.len);
	pb_rec(&pb, 0, -1, "plain");
	pb_bytes(&pb, 1, "pk-a", 4);
	pb_key(&pb, 13, 5);				/* fixed32 */
	kl_buf_add(&pb, "1234", 4);
	pb_bytes(&pb, 1, "pk-b", 4);
	pb_bytes(&pb, 2, "12345678901234567890", 20);
	pb_bytes(&pb, 14, "unknown", 7);
	seal(&agg, &pb);
	ok(kl_kpl_is_agg((unsigned char *)agg.data, agg.len),
	    "hand-made: is an aggregate");
	if (!ok(kl_kpl_open(&k, (unsigned char *)agg.data, agg.len) == 0 &&
	    k.nrec == 2 && k.npk == 2 && k.nehk == 1,
	    "hand-made: unknown fields skipped, tables after records"))
		diag("why '%s'", k.why);
	ok(kl_kpl_next(&k, &rec) == 1 && rec.sub == 0 &&
	    span_is(rec.pk, rec.pk_len, "pk-b") &&
	    span_is(rec.ehk, rec.ehk_len, "12345678901234567890") &&
	    span_is((const char *)rec.data, rec.data_len, "second"),
	    "hand-made: record 0 (last data wins, tag skipped)");
	ok(kl_kpl_next(&k, &rec) == 1 && rec.sub == 1 &&
	    span_is(rec.pk, rec.pk_len, "pk-a") && rec.ehk == NULL &&
	    rec.ehk_len == 0, "hand-made: record 1 without a hash key");
	is_blob(rec.data, rec.data_len, "plain", 5, "hand-made: its data");
	ok(kl_kpl_next(&k, &rec) == 0 && kl_kpl_next(&k, &rec) == 0,
	    "hand-made: then the end, and it stays there");

	/* A big table: multi-byte indices; empty key and empty data. */
	kl_buf_reset(&pb);
	for (i = 0; i < 300; i++)
		pb_bytes(&pb, 1, i == 299 ? "" : "k", i == 299 ? 0 : 1);
	pb_rec(&pb, 299, -1, "");
	pb_rec(&pb, 298, -1, "z");
	seal(&agg, &pb);
	ok(kl_kpl_open(&k, (unsigned char *)agg.data, agg.len) == 0 &&
	    kl_kpl_next(&k, &rec) == 1 && rec.pk_len == 0 &&
	    rec.data_len == 0 && kl_kpl_next(&k, &rec) == 1 &&
	    span_is(rec.pk, rec.pk_len, "k") && kl_kpl_next(&k, &rec) == 0,
	    "300 keys, index 299, empty key and data");

	/* Refusals behind a good MD5. */
	kl_buf_reset(&pb);
	pb_bytes(&pb, 1, "pk", 2);
	refuse(&pb, EBADMSG, "no user records", "an aggregate of no records");
	pb_rec(&pb, 1, -1, "d");
	refuse(&pb, EBADMSG, "partition key index out of range",
	    "a partition key index out of range");
	kl_buf_reset(&pb);
	pb_bytes(&pb, 1, "pk", 2);
	pb_rec(&pb, 0, 0, "d");
	refuse(&pb, EBADMSG, "explicit hash key index out of range",
	    "a hash key index with an empty table");
	kl_buf_reset(&pb);
	pb_bytes(&pb, 1, "pk", 2);
	pb_rec(&pb, 0, -1, "good");
	pb_rec(&pb, -1, -1, "d");
	refuse(&pb, EBADMSG, "without a partition key index",
	    "a record without a partition key index (after a good one)");
	kl_buf_reset(&pb);
	pb_bytes(&pb, 1, "pk", 2);
	pb_rec(&pb, 0, -1, NULL);
	refuse(&pb, EBADMSG, "without data", "a record without data");

	kl_buf_reset(&pb);
	pb_bytes(&pb, 1, "pk", 2);
	pb_rec(&pb, 0, -1, "d");
	kl_buf_addc(&pb, 0x1a);			/* field 3, wire type 2 */
	kl_buf_addc(&pb, 0x80);			/* truncated length */
	refuse(&pb, EBADMSG, "truncated varint", "a truncated varint");
	pb.len--;
	kl_buf_addc(&pb, 0x05);
	kl_buf_add(&pb, "abc", 3);
	refuse(&pb, EBADMSG, "length past the end", "a length past the end");
	pb.len -= 5;
	pb_key(&pb, 15, 0);
	kl_buf_add(&pb, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 10);
	seal(&agg, &pb);
	ok(kl_kpl_open(&k, (unsigned char *)agg.data, agg.len) == 0,
	    "accepts an unknown field holding 2^64 - 1");
	pb.len -= 1;
	kl_buf_addc(&pb, 0x02);
	refuse(&pb, EBADMSG, "past 64 bits", "a varint past 64 bits");
	pb.len -= 1;
	kl_buf_add(&pb, "\xff\x01", 2);
	refuse(&pb, EBADMSG, "past 64 bits", "an 11-byte varint");
	pb.len -= 12;
	pb_key(&pb, 15, 6);
	refuse(&pb, EBADMSG, "invalid wire type", "wire type 6");
	pb.len--;
	pb_key(&pb, 15, 7);
	refuse(&pb, EBADMSG, "invalid wire type", "wire type 7");
	pb.len--;
	kl_buf_addc(&pb, 0x02);			/* field 0 */
	kl_buf_addc(&pb, 0x00);
	refuse(&pb, EBADMSG, "bad field number", "field number 0");
	pb.len -= 2;
	pb_uint(&pb, 1, 3);
	refuse(&pb, EBADMSG, "wrong type",
	    "a key table entry of wire type 0");
	pb.len -= 2;
	pb_key(&pb, 14, 4);
	refuse(&pb, EBADMSG, "outside a group", "a stray end of group");
	pb.len--;
	pb_key(&pb, 14, 3);
	pb_uint(&pb, 1, 1);
	refuse(&pb, EBADMSG, "unterminated group", "an unterminated group");
	pb_key(&pb, 13, 4);
	refuse(&pb, EBADMSG, "mismatched end of group",
	    "a group closed by another field's end");
	pb.len--;
	pb_key(&pb, 14, 4);
	seal(&agg, &pb);
	ok(kl_kpl_open(&k, (unsigned char *)agg.data, agg.len) == 0,
	    "(that group, closed properly, is fine)");
	for (i = 0; i < 40; i++)
		pb_key(&pb, 12, 3);
	for (i = 0; i < 40; i++)
		pb_key(&pb, 12, 4);
	refuse(&pb, EBADMSG, "nested too deep", "groups nested 40 deep");

	kl_buf_reset(&pb);
	pb_bytes(&pb, 1, "pk", 2);
	kl_buf_reset(&r);
	kl_buf_reset(&g);
	pb_uint(&r, 1, 0);
	pb_bytes(&r, 3, "d", 1);
	pb_bytes(&g, 2, "value only", 10);
	pb_bytes(&r, 4, g.data, g.len);
	pb_bytes(&pb, 3, r.data, r.len);
	refuse(&pb, EBADMSG, "tag without a key", "a tag without its key");
	kl_buf_reset(&pb);
	pb_bytes(&pb, 1, "pk", 2);
	kl_buf_reset(&r);
	pb_bytes(&r, 1, "x", 1);
	pb_bytes(&r, 3, "d", 1);
	pb_bytes(&pb, 3, r.data, r.len);
	refuse(&pb, EBADMSG, "wrong type", "a key index of wire type 2");
	kl_buf_reset(&pb);
	pb_bytes(&pb, 1, "pk", 2);
	kl_buf_reset(&r);
	pb_uint(&r, 1, 0);
	pb_uint(&r, 3, 1);
	pb_bytes(&pb, 3, r.data, r.len);
	refuse(&pb, EBADMSG, "wrong type", "data of wire type 0");
	kl_buf_reset(&pb);
	pb_bytes(&pb, 1, "pk", 2);
	kl_buf_reset(&r);
	pb_uint(&r, 1, 0);
	pb_bytes(&r, 3, "dd", 2);
	r.len--;				/* data runs past its record */
	pb_bytes(&pb, 3, r.data, r.len);
	refuse(&pb, EBADMSG, "length past the end",
	    "data longer than its record");

	kl_kpl_free(&k);
	kl_buf_free(&pb);
	kl_buf_free(&agg);
	kl_buf_free(&r);
	kl_buf_free(&g);
}

/* Opens p; expects -1 with errno err. */
static void
refuse_raw(const unsigned char *p, size_t n, int err, const char *what)
{
	struct kl_kpl k;
	int rc, e;

	kl_kpl_init(&k);
	rc = kl_kpl_open(&k, p, n);
	e = errno;
	if (!ok(rc == -1 && e == err && !kl_kpl_is_agg(p, n), "refuses %s",
	    what))
		diag("open %d errno %d why '%s'", rc, e, k.why);
	kl_kpl_free(&k);
}

static void
test_corrupt(void)
{
	const char *src = getenv("srcdir");
	char path[4096];
	struct kl_buf b, c;
	struct kl_kpl k;
	struct kl_kpl_rec r;
	size_t i, bad = 0;
	unsigned char empty[20];

	kl_buf_init(&b);
	kl_buf_init(&c);
	snprintf(path, sizeof(path), "%s/tests/data/kpl/agg-mixed-0.bin",
	    src ? src : ".");
	if (slurp(path, &b) == -1 || b.len < 100) {
		skip(12, "no tests/data/kpl/agg-mixed-0.bin");
		kl_buf_free(&b);
		return;
	}
	kl_buf_add(&c, b.data, b.len);
	c.data[c.len - 1] ^= 1;
	refuse_raw((unsigned char *)c.data, c.len, EBADMSG, "a bad MD5");
	kl_kpl_init(&k);
	kl_kpl_open(&k, (unsigned char *)c.data, c.len);
	is_str(k.why, "MD5 mismatch", "the reason for a bad MD5");
	c.data[c.len - 1] ^= 1;
	c.data[c.len / 2] ^= 0x40;
	refuse_raw((unsigned char *)c.data, c.len, EBADMSG,
	    "a flipped byte in the protobuf");
	c.data[c.len / 2] ^= 0x40;
	refuse_raw((unsigned char *)c.data, c.len - 1, EBADMSG,
	    "an aggregate cut by one byte");
	refuse_raw((unsigned char *)c.data, 20, EBADMSG,
	    "an aggregate cut to 20 bytes");
	refuse_raw((unsigned char *)c.data, 3, ENOMSG,
	    "3 bytes (no room for the magic)");
	refuse_raw((unsigned char *)c.data, 0, ENOMSG, "0 bytes");
	c.data[0] = 0xf2;
	refuse_raw((unsigned char *)c.data, c.len, ENOMSG, "a wrong magic");
	refuse_raw((const unsigned char *)"{\"a\":1}", 7, ENOMSG,
	    "a plain JSON record");
	memcpy(empty, magic, 4);
	kl_md5("", 0, empty + 4);
	refuse_raw(empty, 20, EBADMSG, "magic and the MD5 of nothing");

	/* Every single-bit flip of the mixed fixture is refused. */
	kl_kpl_init(&k);
	for (i = 0; i < b.len * 8; i += 7) {
		b.data[i / 8] ^= (char)(1 << (i % 8));
		if (kl_kpl_open(&k, (unsigned char *)b.data, b.len) != -1)
			bad++;
		b.data[i / 8] ^= (char)(1 << (i % 8));
	}
	is_int((long long)bad, 0, "every 7th bit flipped: all refused");
	ok(kl_kpl_open(&k, (unsigned char *)b.data, b.len) == 0 &&
	    kl_kpl_next(&k, &r) == 1 && kl_kpl_open(&k, (unsigned char *)
	    c.data, c.len) == -1 && kl_kpl_next(&k, &r) == -1 &&
	    errno == EINVAL, "a failed open ends the previous iteration");
	kl_kpl_free(&k);
	kl_buf_free(&b);
	kl_buf_free(&c);
}

/* Reports records/s unpacking the shared (or committed) fixture. */
static void
test_speed(void)
{
	const char *sh = getenv("KL_SHARED"), *src = getenv("srcdir");
	char path[4096];
	struct kl_buf b;
	struct kl_kpl k;
	struct kl_kpl_rec r;
	long t0, t;
	unsigned long long recs = 0, bytes = 0;
	int rounds = 0;

	kl_buf_init(&b);
	snprintf(path, sizeof(path), "%s/testdata/kpl/agg-0.bin",
	    sh ? sh : "");
	if (sh == NULL || slurp(path, &b) == -1) {
		snprintf(path, sizeof(path), "%s/tests/data/kpl/"
		    "agg-mixed-0.bin", src ? src : ".");
		if (slurp(path, &b) == -1) {
			skip(1, "no fixture for the speed test");
			kl_buf_free(&b);
			return;
		}
	}
	kl_kpl_init(&k);
	t0 = kl_mono_ms();
	do {
		if (kl_kpl_open(&k, (unsigned char *)b.data, b.len) == -1)
			break;
		while (kl_kpl_next(&k, &r) == 1) {
			recs++;
			bytes += r.data_len;
		}
		rounds++;
	} while ((t = kl_mono_ms() - t0) < 300);
	t = kl_mono_ms() - t0;
	ok(recs > 0, "speed: %d rounds of %s", rounds, strrchr(path, '/') + 1);
	diag("%.0f user records/s, %.1f MB/s of aggregate",
	    t > 0 ? recs * 1000.0 / t : 0.0,
	    t > 0 ? rounds * (double)b.len / 1000.0 / t : 0.0);
	kl_kpl_free(&k);
	kl_buf_free(&b);
}

int
main(void)
{
	char cmd[300];

	plan(91);
	if (mkdtemp(dir) == NULL)
		return 1;
	test_shared();
	test_committed();
	test_handmade();
	test_corrupt();
	test_node();
	test_speed();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		diag("could not remove %s", dir);
	return done_testing();
}
