/*
 * page.c - one GetRecords reply turned into kl's Kinesis records
 * (contract §5.2), one output line at a time, for reader.c.
 *
 * kl_page_open() validates the whole reply once with the span scanner
 * (jscan.c) and finds Records, NextShardIterator, MillisBehindLatest and
 * ChildShards; kl_page_next() then walks the Records array lazily and
 * renders each record (or each user record of a KPL aggregate) into one
 * line in a buffer that is reused for every record.
 *
 * Design decisions:
 *
 * - This is the per-record path, so nothing here builds a libjq tree and
 *   nothing allocates per record once the buffers have grown.  The
 *   payload is decoded from base64 into a reused buffer and minified
 *   straight into the output line by kl_js_minify(), which validates it
 *   (strict RFC 8259 and UTF-8) in the same pass and keeps every digit:
 *   numbers are copied as text, never converted.  If it is not valid
 *   UTF-8 JSON the line is cut back and gets data_base64 instead; for a
 *   plain record that is the reply's own base64 text, copied, not
 *   encoded again.
 * - Sequence numbers and partition keys of plain records are copied from
 *   the reply as JSON text (the reply has been validated); stream name
 *   and shard id come pre-rendered in the caller's prefix.  Partition
 *   keys and hash keys inside an aggregate are raw protobuf bytes, not
 *   checked for UTF-8 by anyone: invalid sequences become U+FFFD so the
 *   line stays valid JSON.
 * - The arrival time is cut to milliseconds without a double where the
 *   reply writes it plainly (kinesalite: 1764441234.567); exponent forms
 *   (AWS: 1.441215410867E9) go through strtod.  Its date and time of day
 *   are formatted once per second and reused.
 * - KPL (aws-protocol.md §5): a record whose Data is a well-formed
 *   aggregate becomes one line per user record, with the outer sequence
 *   number and arrival, sub_sequence_number and, when set,
 *   explicit_hash_key.  A record with the magic but a bad MD5 or body is
 *   passed through whole with a warning (it is never valid JSON, so it
 *   comes out as data_base64).  The shard hash-range filter of the KCL
 *   is not applied: it drops data.
 * - Resuming inside an aggregate: the caller names the record it resumes
 *   at (GetShardIterator AT_SEQUENCE_NUMBER) and the last user record
 *   done; those are skipped when that record is the first of the page.
 * - Member names are matched by their bytes, with a fallback through the
 *   scanner's unescaping comparison when a key holds a backslash.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kl.h"

/* Prepares pg; the caller then sets prefix, data_only and until_ms. */
void
kl_page_init(struct kl_page *pg)
{
	memset(pg, 0, sizeof(*pg));
	kl_buf_init(&pg->raw);
	kl_buf_init(&pg->line);
	kl_buf_init(&pg->tmp);
	kl_kpl_init(&pg->kpl);
	pg->tsec = -1;
}

/* Frees the buffers pg holds; pg is left as kl_page_init leaves it. */
void
kl_page_free(struct kl_page *pg)
{
	kl_buf_free(&pg->raw);
	kl_buf_free(&pg->line);
	kl_buf_free(&pg->tmp);
	kl_kpl_free(&pg->kpl);
	kl_page_init(pg);
}

/*
 * Gives back memory after a large page: buffers above limit bytes are
 * freed (they grow again as needed).
 */
void
kl_page_trim(struct kl_page *pg, size_t limit)
{
	if (pg->raw.cap > limit)
		kl_buf_free(&pg->raw);
	if (pg->line.cap > limit)
		kl_buf_free(&pg->line);
	if (pg->tmp.cap > limit)
		kl_buf_free(&pg->tmp);
}

/* Whether the key span k (with quotes) is lit[0..n), escapes aside. */
static int
keyis(const struct kl_jspan *k, const char *lit, size_t n)
{
	return k->n == n + 2 && memcmp(k->p + 1, lit, n) == 0;
}
#define KEYIS(k, lit)	keyis(k, lit, sizeof(lit) - 1)

/* The same for a key that holds escapes (never seen from AWS). */
static int
keyis_esc(const struct kl_jspan *k, const char *lit)
{
	return memchr(k->p, '\\', k->n) != NULL && kl_js_streq(k, lit);
}

static int
bad(struct kl_page *pg, const char *what)
{
	snprintf(pg->why, sizeof(pg->why), "record %zu: %s", pg->index,
	    what);
	errno = EBADMSG;
	return -1;
}

/*
 * Opens the GetRecords reply body[0..n) (which must stay unchanged until
 * the last kl_page_next).  Returns 0, or -1 with e filled
 * (KL_ERR_PERMANENT: not a JSON object, or no Records array).
 */
int
kl_page_open(struct kl_page *pg, const char *body, size_t n,
    struct kl_err *e)
{
	struct kl_jspan top, k, v;
	struct kl_jiter it;
	struct kl_jerr je;
	int64_t mbl;
	int have = 0;

	pg->has_next = pg->has_mbl = pg->has_children = 0;
	pg->nrec = pg->index = 0;
	pg->data_bytes = 0;
	pg->in_agg = 0;
	pg->mbl = 0;
	if (kl_js_parse(body, n, &top, &je) == -1 || top.type != KL_JOBJ) {
		kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "GetRecords: reply "
		    "is not a JSON object%s%s", je.msg[0] ? ": " : "",
		    je.msg);
		return -1;
	}
	kl_js_iter_init(&it, &top);
	while (kl_js_iter_next(&it, &k, &v)) {
		if ((KEYIS(&k, "Records") || keyis_esc(&k, "Records")) &&
		    v.type == KL_JARR) {
			pg->records = v;
			have = 1;
		} else if (KEYIS(&k, "NextShardIterator") &&
		    v.type == KL_JSTR && v.n > 2) {
			pg->next = v;
			pg->has_next = 1;
		} else if (KEYIS(&k, "MillisBehindLatest") &&
		    kl_js_i64(&v, &mbl) == 0 && mbl >= 0) {
			pg->mbl = mbl;
			pg->has_mbl = 1;
		} else if (KEYIS(&k, "ChildShards") && v.type == KL_JARR) {
			pg->children = v;
			pg->has_children = 1;
		}
	}
	if (!have) {
		kl_err_set(e, KL_ERR_PERMANENT, 0, NULL,
		    "GetRecords: reply has no Records array");
		return -1;
	}
	if (pg->has_mbl)
		snprintf(pg->mbl_text, sizeof(pg->mbl_text), "%lld",
		    (long long)pg->mbl);
	else
		snprintf(pg->mbl_text, sizeof(pg->mbl_text), "null");
	pg->mbl_len = strlen(pg->mbl_text);
	kl_js_iter_init(&pg->it, &pg->records);
	return 0;
}

/* Milliseconds since the epoch of an arrival time span, or -1. */
static long long
arrival_ms(const struct kl_jspan *v)
{
	const char *p = v->p, *end = v->p + v->n;
	long long sec = 0, ms = 0;
	int i;
	double d;

	if (v->type != KL_JNUM)
		return -1;
	for (; p < end && *p >= '0' && *p <= '9'; p++)
		sec = sec * 10 + (*p - '0');
	if (p == v->p || sec > 253402300799LL)
		goto slow;
	if (p < end && *p == '.') {
		p++;
		for (i = 0; i < 3; i++, p++)
			ms = ms * 10 + (p < end && *p >= '0' && *p <= '9' ?
			    *p - '0' : 0);
		if (p < end && *p >= '5' && *p <= '9')
			ms++;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	if (p != end)
		goto slow;
	return sec * 1000 + ms;
slow:
	if (kl_js_double(v, &d) == -1 || !(d >= 0) || d > 253402300799.0)
		return -1;
	return (long long)(d * 1000.0 + 0.5);
}

/* A record member whose key holds escapes: matched the slow way. */
static void
slow_member(struct kl_page *pg, const struct kl_jspan *k,
    const struct kl_jspan *v, struct kl_jspan *data)
{
	if (v->type == KL_JSTR && kl_js_streq(k, "SequenceNumber")) {
		pg->seq = v->p + 1;
		pg->seq_len = v->n - 2;
	} else if (v->type == KL_JSTR && kl_js_streq(k, "Data"))
		*data = *v;
	else if (v->type == KL_JSTR && kl_js_streq(k, "PartitionKey"))
		pg->pk = *v;
	else if (kl_js_streq(k, "ApproximateArrivalTimestamp"))
		pg->arrival = arrival_ms(v);
}

/* Reads the members of the record object rec into pg. */
static int
load_record(struct kl_page *pg, const struct kl_jspan *rec)
{
	struct kl_jiter it;
	struct kl_jspan k, v, data = { NULL, 0, 0 };
	size_t i;

	pg->seq = NULL;
	pg->pk.p = NULL;
	pg->arrival = -1;
	if (rec->type != KL_JOBJ)
		return bad(pg, "not an object");
	kl_js_iter_init(&it, rec);
	while (kl_js_iter_next(&it, &k, &v)) {
		if (KEYIS(&k, "SequenceNumber")) {
			if (v.type == KL_JSTR) {
				pg->seq = v.p + 1;
				pg->seq_len = v.n - 2;
			}
		} else if (KEYIS(&k, "Data")) {
			if (v.type == KL_JSTR)
				data = v;
		} else if (KEYIS(&k, "PartitionKey")) {
			if (v.type == KL_JSTR)
				pg->pk = v;
		} else if (KEYIS(&k, "ApproximateArrivalTimestamp"))
			pg->arrival = arrival_ms(&v);
		else if (memchr(k.p, '\\', k.n) != NULL)
			slow_member(pg, &k, &v, &data);
	}
	if (pg->seq == NULL || pg->seq_len == 0 ||
	    pg->seq_len > KL_CKPT_SEQMAX)
		return bad(pg, "no valid SequenceNumber");
	for (i = 0; i < pg->seq_len; i++)
		if (pg->seq[i] < '0' || pg->seq[i] > '9')
			return bad(pg, "no valid SequenceNumber");
	if (data.p == NULL)
		return bad(pg, "no Data");
	if (pg->pk.p == NULL)
		return bad(pg, "no PartitionKey");
	kl_buf_reset(&pg->raw);
	pg->b64 = data.p + 1;
	pg->b64_len = data.n - 2;
	if (kl_base64_dec(&pg->raw, pg->b64, pg->b64_len) == -1) {
		if (errno != EINVAL ||
		    memchr(pg->b64, '\\', pg->b64_len) == NULL)
			return errno == EINVAL ?
			    bad(pg, "Data is not base64") : -1;
		/* "\/" is legal JSON: unescape first, keep the result. */
		kl_buf_reset(&pg->tmp);
		if (kl_js_str(&data, &pg->tmp) == -1 || pg->tmp.err)
			return -1;
		pg->b64 = pg->tmp.data;
		pg->b64_len = pg->tmp.len;
		if (kl_base64_dec(&pg->raw, pg->b64, pg->b64_len) == -1)
			return errno == EINVAL ?
			    bad(pg, "Data is not base64") : -1;
	}
	pg->data_bytes += pg->raw.len;
	return 0;
}

/* Appends s[0..n) as a JSON string, invalid UTF-8 made U+FFFD. */
static void
put_raw_str(struct kl_buf *b, struct kl_buf *tmp, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, k;

	if (kl_utf8_valid(p, n)) {
		kl_buf_add_jstr(b, s, n);
		return;
	}
	kl_buf_reset(tmp);
	while (i < n) {
		k = p[i] < 0x80 ? 1 : p[i] < 0xe0 ? 2 : p[i] < 0xf0 ? 3 : 4;
		if (i + k <= n && kl_utf8_valid(p + i, k)) {
			kl_buf_add(tmp, p + i, k);
			i += k;
		} else {
			kl_buf_add(tmp, "\xef\xbf\xbd", 3);
			i++;
		}
	}
	kl_buf_add_jstr(b, tmp->data, tmp->len);
}

static void
put_arrival(struct kl_page *pg, struct kl_buf *b)
{
	long long ms = pg->arrival;
	time_t sec;
	struct tm tm;
	char t[8];

	if (ms < 0) {
		kl_buf_add(b, "null", 4);
		return;
	}
	sec = (time_t)(ms / 1000);
	if (sec != pg->tsec) {
		if (gmtime_r(&sec, &tm) == NULL ||
		    strftime(pg->tbuf, sizeof(pg->tbuf), "%Y-%m-%dT%H:%M:%S",
		    &tm) == 0) {
			kl_buf_add(b, "null", 4);
			return;
		}
		pg->tsec = sec;
	}
	kl_buf_addc(b, '"');
	kl_buf_add(b, pg->tbuf, strlen(pg->tbuf));
	t[0] = '.';
	t[1] = (char)('0' + ms % 1000 / 100);
	t[2] = (char)('0' + ms % 100 / 10);
	t[3] = (char)('0' + ms % 10);
	t[4] = 'Z';
	t[5] = '"';
	kl_buf_add(b, t, 6);
}

/*
 * Appends the payload d[0..n): ,"data":<minified JSON>, or when it is not
 * valid UTF-8 JSON ,"data_base64":"..." (b64[0..b64n) if not NULL, else
 * encoded here).  In data-only mode the payload alone, or an object
 * {"data_base64":"..."}.
 */
static void
put_data(struct kl_page *pg, const unsigned char *d, size_t n,
    const char *b64, size_t b64n)
{
	struct kl_buf *b = &pg->line;
	size_t mark = b->len;

	if (!pg->data_only)
		kl_buf_add(b, ",\"data\":", 8);
	if (kl_js_minify(b, (const char *)d, n, NULL, NULL) == 0) {
		if (pg->data_only)
			return;
		kl_buf_addc(b, '}');
		return;
	}
	b->len = mark;
	if (b->data != NULL)
		b->data[mark] = '\0';
	kl_buf_add(b, pg->data_only ? "{\"data_base64\":\"" :
	    ",\"data_base64\":\"", pg->data_only ? 16 : 16);
	if (b64 != NULL)
		kl_buf_add(b, b64, b64n);
	else
		kl_base64_enc(b, d, n);
	kl_buf_add(b, "\"}", 2);
}

/* Starts the line: prefix, the sequence number, sub-sequence number. */
static void
put_head(struct kl_page *pg, long long sub)
{
	struct kl_buf *b = &pg->line;
	char t[32];
	int k;

	kl_buf_reset(b);
	if (pg->data_only)
		return;
	kl_buf_add(b, pg->prefix, pg->prefix_len);
	kl_buf_add(b, pg->seq, pg->seq_len);
	kl_buf_addc(b, '"');
	if (sub >= 0) {
		k = snprintf(t, sizeof(t), ",\"sub_sequence_number\":%lld",
		    sub);
		kl_buf_add(b, t, (size_t)k);
	}
}

/* The middle: partition key, hash key, arrival, lag. */
static void
put_middle(struct kl_page *pg, const struct kl_kpl_rec *u)
{
	struct kl_buf *b = &pg->line;

	if (pg->data_only)
		return;
	kl_buf_add(b, ",\"partition_key\":", 17);
	if (u == NULL)
		kl_buf_add(b, pg->pk.p, pg->pk.n);
	else
		put_raw_str(b, &pg->tmp, u->pk, u->pk_len);
	if (u != NULL && u->ehk != NULL) {
		kl_buf_add(b, ",\"explicit_hash_key\":", 21);
		put_raw_str(b, &pg->tmp, u->ehk, u->ehk_len);
	}
	kl_buf_add(b, ",\"arrival\":", 11);
	put_arrival(pg, b);
	kl_buf_add(b, ",\"millis_behind_latest\":", 24);
	kl_buf_add(b, pg->mbl_text, pg->mbl_len);
}

static int
finish(struct kl_page *pg, struct kl_page_rec *out, long long sub, int last)
{
	if (pg->line.err) {
		errno = ENOMEM;
		return -1;
	}
	out->seq = pg->seq;
	out->seq_len = pg->seq_len;
	out->sub = sub;
	out->last = last;
	out->arrival_ms = pg->arrival;
	out->line = pg->line.data;
	out->len = pg->line.len;
	return 1;
}

/* Opens the Data just loaded as an aggregate if it is one. */
static int
try_kpl(struct kl_page *pg)
{
	if (pg->raw.len < 4 || (unsigned char)pg->raw.data[0] != 0xf3)
		return 0;
	if (kl_kpl_open(&pg->kpl, (const unsigned char *)pg->raw.data,
	    pg->raw.len) == 0)
		return 1;
	if (errno == EBADMSG)
		kl_log(KL_WARNING, 0, "%s: record %.*s: corrupt KPL aggregate "
		    "(%s): passed through whole", pg->shard_id,
		    (int)pg->seq_len, pg->seq, pg->kpl.why);
	else if (errno != ENOMSG)
		return -1;
	return 0;
}

/*
 * Renders the next record of the page into out (valid until the next
 * call).  Returns 1; 0 at the end of the page; KL_PAGE_UNTIL when the
 * next record arrived after pg->until_ms (it is not rendered, and the
 * page should not be read further); or -1 with errno: EBADMSG (a record
 * without a sequence number, data or key, or with bad base64: pg->why
 * says which) or ENOMEM.
 */
int
kl_page_next(struct kl_page *pg, struct kl_page_rec *out)
{
	struct kl_jspan rec;
	struct kl_kpl_rec u;
	int r;

	for (;;) {
		if (pg->in_agg) {
			if ((r = kl_kpl_next(&pg->kpl, &u)) == 1) {
				if (pg->skipping &&
				    (int64_t)u.sub <= pg->skip_sub)
					continue;
				put_head(pg, (long long)u.sub);
				put_middle(pg, &u);
				put_data(pg, u.data, u.data_len, NULL, 0);
				return finish(pg, out, (long long)u.sub,
				    u.sub + 1 == pg->kpl.nrec);
			}
			pg->in_agg = 0;
			if (r == -1)
				return bad(pg, "bad aggregate");
			continue;
		}
		if (!kl_js_iter_next(&pg->it, NULL, &rec))
			return 0;
		pg->index++;
		pg->nrec++;
		if (load_record(pg, &rec) == -1)
			return -1;
		if (pg->until_ms > 0 && pg->arrival > pg->until_ms)
			return KL_PAGE_UNTIL;
		pg->skipping = pg->skip_seq != NULL && pg->index == 1 &&
		    strlen(pg->skip_seq) == pg->seq_len &&
		    memcmp(pg->skip_seq, pg->seq, pg->seq_len) == 0;
		if ((r = try_kpl(pg)) == -1)
			return -1;
		if (r == 1) {
			pg->in_agg = 1;
			continue;
		}
		if (pg->skipping)
			continue;
		put_head(pg, -1);
		put_middle(pg, NULL);
		put_data(pg, (const unsigned char *)pg->raw.data, pg->raw.len,
		    pg->b64, pg->b64_len);
		return finish(pg, out, -1, 1);
	}
}
