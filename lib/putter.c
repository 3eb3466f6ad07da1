/*
 * putter.c - the PutRecords engine of kl-trigger-put: batches, requests
 * in flight over libcurl's multi interface, retries of the failed entries
 * only, and order per partition key.  (putrec.c shapes the records.)
 *
 * The caller adds records (kl_putter_add copies them) and calls
 * kl_putter_step() in its loop; each step starts the batches that are
 * due, waits for replies, for the caller's input descriptor or for the
 * next deadline (a linger or a backoff running out), and hands each
 * record to a callback once it is settled: ack (in the stream, with its
 * shard and sequence number) or reject (refused for good).
 *
 * Order per partition key.  PutRecords writes the entries of a request
 * in order, but any entry may fail alone (ProvisionedThroughputExceeded,
 * InternalFailure) while a later one succeeds, and requests in flight
 * at once land in any order.  The one rule that keeps every key in input
 * order whatever fails is: at most one record of a key is unsettled at
 * any time.  The records of a key form a chain in input order; only its
 * head may be sent, retried or be in flight, and the next record becomes
 * sendable when the head is acknowledged or refused for good.  Records
 * of other keys pass it freely, so with many keys (one per user, as
 * audience triggers have) batches stay full and up to --max-in-flight
 * requests run at once; a hot key gets one record per round trip.
 * Shard-aware ordering (a queue per shard) would not help: entries of one
 * shard in one request still fail one by one.  Acknowledgements come in
 * completion order, which is input order for each key.
 *
 * Design decisions:
 *
 * - Heads live in a hash table keyed by the partition key (open
 *   addressing, the hashes inline: records are scattered in memory, and
 *   a cache miss per probe cost more than the rest of a lookup); a head
 *   keeps the key's chain (knext) and its tail.  Every record held is in
 *   the table, so kl_putter_drop() finds them all and reports them in
 *   input order, and a replay of --rejects keeps the order per key.
 * - A record is ready when it is a head and not in flight or backing
 *   off.  A batch leaves when the ready records fill one (--batch-size,
 *   or --batch-bytes counting data plus keys), when the oldest has waited
 *   --linger, at end of input, or at once for a retry or a released
 *   chain member (both go to the front of the ready list).  A record
 *   takes the time of the ready record before it, so the clock is read
 *   once per burst, and a batch leaves --linger ms after the ready list
 *   stopped being empty.
 * - A failed entry backs off with full jitter, one delay per reply for
 *   all of its failed entries (kl_backoff_ms, at least Retry-After), and
 *   counts one try; a whole call that fails transiently (5xx, throttling,
 *   a dropped connection) counts one try for each of its records.  When a
 *   record has failed more than --max-retries times the engine halts:
 *   nothing new is sent, the requests in flight finish, and the caller
 *   drops what is left (exit 75).  A request too large for the peer
 *   (413) lowers --batch-bytes for the rest of the run.  Other whole-call
 *   errors (ResourceNotFound, AccessDenied, a reply that does not match
 *   the request) halt too (exit 1); an entry refused for good
 *   (ValidationException and the like) is rejected alone.
 * - Expired credentials and clock skew get one more try without counting
 *   one, as kl_aws_call() does.
 * - A stop signal does not abort transfers (the progress callback of
 *   http.c is switched off): a request whose fate is unknown would have
 *   to be sent again, a duplicate in the stream.  KL_PUT_LAST sends the
 *   ready records once, retries nothing, and releases no chain member.
 * - Memory is bounded by the caller through kl_putter_full(): the records
 *   held stay below (--max-in-flight + 1) batches of records and bytes.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "kl.h"

#define WAIT_MAX_MS	100	/* longest wait: notice signals soon */

struct prec {
	struct prec	*next;		/* ready or retry list */
	struct prec	*knext;		/* next record of its key */
	struct prec	*ktail;		/* head only: its key's newest */
	uint64_t	 hash;
	uint64_t	 seq;		/* input order */
	long		 ready_ms;	/* 0: due at once */
	long		 not_before;	/* backing off until then */
	int		 tries;		/* failed attempts */
	size_t		 size;		/* data + key bytes */
	struct kl_putrec r;		/* its strings are in mem */
	char		 mem[];
};

struct slot {			/* one request in flight */
	CURL			*curl;
	struct kl_http_xfer	 x;
	struct kl_http_resp	 resp;
	struct kl_hdrs		 qh;	/* Content-Type, X-Amz-Target */
	struct kl_hdrs		 hdrs;	/* signed */
	struct kl_aws_req	 q;
	struct kl_http_req	 hr;
	struct kl_buf		 body;
	struct kl_creds		 creds;	/* what it was signed with */
	struct prec		**rec;
	size_t			 n;
	int			 busy;
};

struct head {			/* an entry of the table of heads */
	uint64_t	 hash;
	struct prec	*rec;		/* NULL: empty */
};

struct kl_putter {
	struct kl_aws		*aws;
	struct kl_putopts	 o;
	struct kl_putcb		 cb;
	CURLM			*multi;
	char			*url;
	struct slot		*slot;
	int			 busy;		/* slots in flight */
	struct head		*tab;		/* the heads, open addressing */
	size_t			 mask;		/* entries - 1 */
	size_t			 nheads;
	struct prec		*rhead, *rtail;	/* ready */
	size_t			 nready, rbytes;
	struct prec		*retry;		/* backing off */
	long			 held;
	size_t			 hbytes;
	size_t			 win_n, win_bytes;
	uint64_t		 seq;
	int			 eof, last, halted;
	int			 creds_again, skew_again;
	struct kl_err		 err;
	struct kl_putstats	 st;
};

/* FNV-1a, then a final mix so that the low bits index well. */
static uint64_t
hash(const char *k, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	while (n-- > 0)
		h = (h ^ (unsigned char)*k++) * 0x100000001b3ULL;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

/*
 * The entry of the key k[0..n) with hash h, or the empty one where it
 * would go.  Hashes sit in the table, so a probe reads a record only when
 * the hashes match: the records are scattered, and a miss costs more
 * than the rest of the lookup.
 */
static struct head *
find(const struct kl_putter *p, uint64_t h, const char *k, size_t n)
{
	struct head *e;
	size_t i;

	for (i = h & p->mask;; i = (i + 1) & p->mask) {
		e = &p->tab[i];
		if (e->rec == NULL || (e->hash == h && e->rec->r.klen == n &&
		    memcmp(e->rec->r.key, k, n) == 0))
			return e;
	}
}

/* Empties entry e, moving up what probed past it (no tombstones). */
static void
unlink_head(struct kl_putter *p, struct head *e)
{
	size_t i = (size_t)(e - p->tab), j = i, home;

	for (;;) {
		j = (j + 1) & p->mask;
		if (p->tab[j].rec == NULL)
			break;
		home = p->tab[j].hash & p->mask;
		if (i <= j ? i < home && home <= j : i < home || home <= j)
			continue;
		p->tab[i] = p->tab[j];
		i = j;
	}
	p->tab[i].rec = NULL;
	p->nheads--;
}

/* Doubles the table when it is half full.  Returns 0, or -1 (ENOMEM). */
static int
grow(struct kl_putter *p)
{
	struct head *old = p->tab, *e;
	size_t n = p->mask + 1, i;

	if (2 * (p->nheads + 1) <= n)
		return 0;
	if ((p->tab = calloc(2 * n, sizeof(*p->tab))) == NULL) {
		p->tab = old;
		return -1;
	}
	p->mask = 2 * n - 1;
	for (i = 0; i < n; i++)
		if (old[i].rec != NULL) {
			e = find(p, old[i].hash, old[i].rec->r.key,
			    old[i].rec->r.klen);
			*e = old[i];
		}
	free(old);
	return 0;
}

static void
ready_push(struct kl_putter *p, struct prec *r, int front, long now)
{
	r->ready_ms = front ? 0 : now;
	if (front) {
		r->next = p->rhead;
		p->rhead = r;
		if (p->rtail == NULL)
			p->rtail = r;
	} else {
		r->next = NULL;
		if (p->rtail != NULL)
			p->rtail->next = r;
		else
			p->rhead = r;
		p->rtail = r;
	}
	p->nready++;
	p->rbytes += r->size;
}

static struct prec *
ready_pop(struct kl_putter *p)
{
	struct prec *r = p->rhead;

	if ((p->rhead = r->next) == NULL)
		p->rtail = NULL;
	p->nready--;
	p->rbytes -= r->size;
	return r;
}

/*
 * The head r of its key is done with (acknowledged or refused): frees it
 * and makes the next record of the key the head, ready unless the engine
 * sends nothing new.
 */
static void
settle(struct kl_putter *p, struct prec *r)
{
	struct head *e = &p->tab[r->hash & p->mask];
	struct prec *n = r->knext;

	while (e->rec != r)
		e = e + 1 == p->tab + p->mask + 1 ? p->tab : e + 1;
	if (n != NULL) {
		n->ktail = r->ktail;
		e->rec = n;
		if (!p->halted && !p->last)
			ready_push(p, n, 1, 0);
	} else
		unlink_head(p, e);
	p->held--;
	p->hbytes -= r->size;
	free(r);
}

/*
 * Creates the engine for the stream and endpoint a (the caller's; its
 * credentials, skew and backoff settings are used and updated).  cb is
 * copied.  Call curl_global_init() first.  Returns the engine, or NULL
 * with e filled.
 */
struct kl_putter *
kl_putter_new(struct kl_aws *a, const struct kl_putopts *o,
    const struct kl_putcb *cb, struct kl_err *e)
{
	struct kl_putter *p;
	size_t nb = 1024;
	int k;

	kl_err_clear(e);
	if ((p = calloc(1, sizeof(*p))) == NULL)
		goto nomem;
	p->aws = a;
	p->o = *o;
	p->cb = *cb;
	if (p->o.batch_size < 1 || p->o.batch_size > KL_PUT_RECORDS_MAX)
		p->o.batch_size = KL_PUT_RECORDS_MAX;
	if (p->o.max_in_flight < 1)
		p->o.max_in_flight = 1;
	p->win_n = (size_t)(p->o.max_in_flight + 1) * p->o.batch_size;
	p->win_bytes = (size_t)(p->o.max_in_flight + 1) * p->o.batch_bytes;
	while (nb < 2 * p->win_n)
		nb *= 2;
	p->mask = nb - 1;
	if ((p->tab = calloc(nb, sizeof(*p->tab))) == NULL ||
	    (p->slot = calloc((size_t)p->o.max_in_flight,
	    sizeof(*p->slot))) == NULL ||
	    (p->multi = curl_multi_init()) == NULL ||
	    asprintf(&p->url, "%s%s/", a->origin, a->base_path) == -1) {
		p->url = NULL;
		goto nomem;
	}
	for (k = 0; k < p->o.max_in_flight; k++) {
		struct slot *s = &p->slot[k];

		kl_http_resp_init(&s->resp);
		kl_hdrs_init(&s->qh);
		kl_hdrs_init(&s->hdrs);
		kl_buf_init(&s->body);
		if ((s->curl = curl_easy_init()) == NULL ||
		    (s->rec = calloc(p->o.batch_size, sizeof(*s->rec))) ==
		    NULL ||
		    kl_kinesis_req(&s->q, &s->qh, "PutRecords", NULL, 0) == -1)
			goto nomem;
		s->hr.method = "POST";
		s->hr.url = p->url;
		s->hr.hdrs = &s->hdrs;
	}
	return p;
nomem:
	kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "%s", strerror(ENOMEM));
	kl_putter_free(p);
	return NULL;
}

/*
 * Adds a copy of record r (the caller checked its size).  It goes after
 * every record of its key added before.  Returns 0, or -1 with errno
 * ENOMEM.
 */
int
kl_putter_add(struct kl_putter *p, const struct kl_putrec *r)
{
	size_t olen = r->orig != NULL ? r->olen : 0;
	struct prec *c;
	struct head *e;
	char *m;

	if (grow(p) == -1 ||
	    (c = malloc(sizeof(*c) + r->klen + r->dlen + olen + 3)) == NULL)
		return -1;
	memset(c, 0, sizeof(*c));
	c->r = *r;
	m = c->mem;
	c->r.key = memcpy(m, r->key, r->klen);
	m += r->klen;
	*m++ = '\0';
	c->r.data = memcpy(m, r->data, r->dlen);
	m += r->dlen;
	*m++ = '\0';
	if (r->orig != NULL) {
		c->r.orig = memcpy(m, r->orig, olen);
		m[olen] = '\0';
	}
	c->size = r->klen + r->dlen;
	c->seq = p->seq++;
	c->hash = hash(r->key, r->klen);
	p->held++;
	p->hbytes += c->size;
	e = find(p, c->hash, r->key, r->klen);
	if (e->rec != NULL) {
		e->rec->ktail->knext = c;
		e->rec->ktail = c;
		return 0;
	}
	c->ktail = c;
	e->hash = c->hash;
	e->rec = c;
	p->nheads++;
	/* Only the head's time counts (linger): read the clock for it. */
	ready_push(p, c, 0, p->rtail != NULL ? p->rtail->ready_ms :
	    kl_mono_ms());
	return 0;
}

/* Whether the caller should hold back input: the window is full. */
int
kl_putter_full(const struct kl_putter *p)
{
	return (size_t)p->held >= p->win_n || p->hbytes >= p->win_bytes;
}

/* The number of records held: not yet acknowledged or refused. */
long
kl_putter_held(const struct kl_putter *p)
{
	return p->held;
}

/*
 * Stops sending: the requests in flight finish, failures are kept for
 * kl_putter_drop().  The first reason given stays (kl_putter_error).
 */
void
kl_putter_halt(struct kl_putter *p, const struct kl_err *e)
{
	if (!p->halted)
		p->err = *e;
	p->halted = 1;
}

/* Why the engine halted, or NULL while it runs. */
const struct kl_err *
kl_putter_error(const struct kl_putter *p)
{
	return p->halted ? &p->err : NULL;
}

const struct kl_putstats *
kl_putter_stats(const struct kl_putter *p)
{
	return &p->st;
}

/*
 * Puts the n records of a failed attempt back to be sent again after a
 * backoff (count: the attempt counts as a try) of at least retry_after
 * ms, logging "what, retry N of M in T ms" at level; or leaves them for
 * kl_putter_drop() when the engine sends nothing more, or halts it when
 * a record is out of tries (the error names what, code and status).
 */
static void
again(struct kl_putter *p, struct prec **rec, size_t n, int count,
    long retry_after, const char *what, const struct kl_err *e, int level)
{
	long delay, now = kl_mono_ms();
	int most = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (count)
			rec[i]->tries++;
		if (rec[i]->tries > most)
			most = rec[i]->tries;
	}
	if (p->halted || p->last || n == 0)
		return;
	if (most > p->o.max_retries) {
		kl_err_set(&p->err, KL_ERR_TRANSIENT, e ? e->status : 0,
		    e ? e->code : NULL, "PutRecords: %s (gave up after %d %s)",
		    what, p->o.max_retries, p->o.max_retries == 1 ? "retry" :
		    "retries");
		p->halted = 1;
		return;
	}
	delay = count ? kl_backoff_ms(most, p->aws->base_ms,
	    p->aws->cap_ms) : 0;
	if (retry_after > delay)
		delay = retry_after;
	for (i = 0; i < n; i++) {
		rec[i]->not_before = now + delay;
		rec[i]->next = p->retry;
		p->retry = rec[i];
	}
	if (count)
		p->st.retried += (long)n;
	kl_log(level, 0, "%s, retry %d of %d in %ld ms", what, most,
	    p->o.max_retries, delay);
}

/*
 * Handles a 2xx reply: acks, refusals and entries to retry (result i is
 * record i).  Returns 0, or -1 with e filled when the reply is not a
 * PutRecords result for this request.
 */
static int
results(struct kl_putter *p, struct slot *s, struct kl_err *e)
{
	struct kl_jspan top, recs, res, f[4];
	struct kl_jiter ji;
	char code[128], msg[256], what[256];
	size_t i, nf = 0;
	const char *body = s->resp.body.data ? s->resp.body.data : "";

	if (kl_js_parse(body, s->resp.body.len, &top, NULL) == -1 ||
	    top.type != KL_JOBJ || !kl_js_get(&top, "Records", &recs) ||
	    kl_js_iter_init(&ji, &recs) == -1) {
		kl_err_set(e, KL_ERR_PERMANENT, s->resp.status, NULL,
		    "PutRecords: the reply is not a PutRecords result");
		return -1;
	}
	p->st.requests++;
	code[0] = '\0';
	for (i = 0; i < s->n && kl_js_iter_next(&ji, NULL, &res); i++) {
		struct prec *r = s->rec[i];

		kl_put_result(&res, f);
		if (f[0].type != 0) {
			kl_put_text(code, sizeof(code), &f[0]);
			kl_put_text(msg, sizeof(msg), &f[1]);
			if (kl_aws_classify(400, code, msg) ==
			    KL_ERR_TRANSIENT) {
				s->rec[nf++] = r;
				continue;
			}
			p->st.refused++;
			p->cb.reject(p->cb.arg, &r->r, code, msg);
		} else if (f[2].type != 0 && f[3].type != 0) {
			p->st.acked++;
			p->cb.ack(p->cb.arg, &r->r, &f[2], &f[3]);
		} else {
			p->st.refused++;
			p->cb.reject(p->cb.arg, &r->r, "InvalidReply",
			    "PutRecords: a result with neither an error nor "
			    "a sequence number");
		}
		settle(p, r);
	}
	if (i < s->n || kl_js_iter_next(&ji, NULL, &res)) {
		/* Which of the rest were written cannot be known. */
		kl_err_set(e, KL_ERR_PERMANENT, s->resp.status, NULL,
		    "PutRecords: the reply does not have %zu results", s->n);
		while (i < s->n)
			s->rec[nf++] = s->rec[i++];
		s->n = nf;
		kl_putter_halt(p, e);
		return 0;
	}
	if (nf > 0) {
		snprintf(what, sizeof(what), "%zu of %zu records failed (%s)",
		    nf, s->n, code);
		kl_err_set(e, KL_ERR_TRANSIENT, s->resp.status, code, "%s",
		    what);
		again(p, s->rec, nf, 1, s->resp.retry_after_ms, what, e,
		    KL_INFO);
	}
	return 0;
}

/*
 * A request the peer found too large (413, as kinesalite answers over
 * 7 MiB; "Records size exceeds 5 MB limit" from Kinesis): the limit is
 * lower than --batch-bytes, which is halved below this request's size
 * for the rest of the run, and its records go again without counting a
 * try; a record alone is refused.  Returns 1 if e was that, else 0.
 */
static int
too_big(struct kl_putter *p, struct slot *s, const struct kl_err *e)
{
	size_t i, bytes = 0;

	if (e->status != 413 && (strcmp(e->code, "InvalidArgumentException") ||
	    strstr(e->msg, "exceeds") == NULL))
		return 0;
	for (i = 0; i < s->n; i++)
		bytes += s->rec[i]->size;
	if (s->n == 1) {
		p->st.refused++;
		p->cb.reject(p->cb.arg, &s->rec[0]->r, e->code[0] ? e->code :
		    "RequestTooLarge", e->msg);
		settle(p, s->rec[0]);
		return 1;
	}
	p->o.batch_bytes = bytes / 2 > 0 ? bytes / 2 : 1;
	kl_log(KL_WARNING, 0, "HTTP %ld%s%s: a request of %zu records and %zu "
	    "bytes is too large; sending at most %zu bytes per request",
	    e->status, e->code[0] ? " " : "", e->code, s->n, bytes,
	    p->o.batch_bytes);
	again(p, s->rec, s->n, 0, 0, "PutRecords", e, KL_DEBUG);
	return 1;
}

/* Handles a whole call that failed with e. */
static void
call_failed(struct kl_putter *p, struct slot *s, struct kl_err *e)
{
	char what[300];
	const char *t;

	p->st.failed_calls++;
	if (e->kind == KL_ERR_CREDS && p->creds_again++ == 0) {
		kl_log(KL_WARNING, 0, "HTTP %ld %s, refreshing credentials",
		    e->status, e->code);
		kl_credsrc_expired(p->aws->creds);
		again(p, s->rec, s->n, 0, 0, "PutRecords", e, KL_DEBUG);
		return;
	}
	if (e->kind == KL_ERR_SKEW && p->skew_again++ == 0 &&
	    s->resp.date != 0) {
		p->aws->skew = (long)(s->resp.date - time(NULL));
		kl_log(KL_WARNING, 0, "HTTP %ld %s: local clock is %ld s off, "
		    "signing again", e->status, e->code, labs(p->aws->skew));
		again(p, s->rec, s->n, 0, 0, "PutRecords", e, KL_DEBUG);
		return;
	}
	if (e->kind == KL_ERR_TRANSIENT || e->kind == KL_ERR_STOPPED) {
		if (e->status != 0)
			snprintf(what, sizeof(what), "HTTP %ld%s%s", e->status,
			    e->code[0] ? " " : "", e->code);
		else
			snprintf(what, sizeof(what), "%.280s",
			    (t = strstr(e->msg, ": (")) ? t + 2 : e->msg);
		again(p, s->rec, s->n, 1, e->status ? s->resp.retry_after_ms :
		    0, what, e, KL_WARNING);
		return;
	}
	if (too_big(p, s, e))
		return;
	e->kind = KL_ERR_PERMANENT;
	kl_putter_halt(p, e);
}

/* A transfer ended with libcurl's result rc. */
static void
finish(struct kl_putter *p, struct slot *s, int rc)
{
	struct kl_err e;

	curl_multi_remove_handle(p->multi, s->curl);
	s->busy = 0;
	p->busy--;
	kl_err_clear(&e);
	if (kl_http_finish(&s->x, rc, &e) == 0 &&
	    kl_aws_reply(p->aws, &s->q, &s->creds, &s->resp, &e) == 0) {
		if (results(p, s, &e) == 0) {
			p->creds_again = p->skew_again = 0;
			return;
		}
	}
	call_failed(p, s, &e);
}

/* Builds the request body of s from its records. */
static int
body(struct kl_putter *p, struct slot *s)
{
	struct kl_buf *b = &s->body;
	size_t i, need = 64 + 160;

	for (i = 0; i < s->n; i++)
		need += kl_base64_enclen(s->rec[i]->r.dlen) +
		    2 * s->rec[i]->r.klen + 40;
	kl_buf_reset(b);
	if (kl_buf_reserve(b, need) == -1)
		return -1;
	kl_buf_addc(b, '{');
	kl_stream_members(b, p->o.stream);
	kl_buf_adds(b, ",\"Records\":[");
	for (i = 0; i < s->n; i++)
		kl_put_entry(b, &s->rec[i]->r, i == 0);
	kl_buf_add(b, "]}", 2);
	return b->err ? -1 : 0;
}

/* Signs and starts the request of s; on failure halts the engine. */
static void
launch_slot(struct kl_putter *p, struct slot *s)
{
	const struct kl_creds *c;
	struct kl_err e;
	time_t now;

	kl_err_clear(&e);
	if (body(p, s) == -1) {
		kl_err_set(&e, KL_ERR_PERMANENT, 0, NULL, "PutRecords: %s",
		    strerror(ENOMEM));
		goto fail;
	}
	s->q.body = s->body.data;
	s->q.len = s->body.len;
	s->hr.body = s->body.data;
	s->hr.len = s->body.len;
	now = time(NULL) + p->aws->skew;
	kl_creds_free(&s->creds);
	if (kl_credsrc_get(p->aws->creds, now, &c, &e) == -1)
		goto fail;
	if (kl_creds_copy(&s->creds, c) == -1) {
		kl_err_set(&e, KL_ERR_PERMANENT, 0, NULL, "%s",
		    strerror(ENOMEM));
		goto fail;
	}
	if (kl_aws_sign(p->aws, &s->q, c, now, &s->hdrs, &e) == -1 ||
	    kl_http_prepare(&s->x, s->curl, &p->aws->http, &s->hr, &s->resp,
	    &e) == -1)
		goto fail;
	/* Let a transfer finish after a stop signal: see the top. */
	curl_easy_setopt(s->curl, CURLOPT_NOPROGRESS, 1L);
	curl_easy_setopt(s->curl, CURLOPT_PRIVATE, (void *)s);
	if (curl_multi_add_handle(p->multi, s->curl) != CURLM_OK) {
		kl_http_finish(&s->x, CURLE_FAILED_INIT, &e);
		kl_err_set(&e, KL_ERR_PERMANENT, 0, NULL, "PutRecords: "
		    "cannot start a transfer");
		goto fail;
	}
	s->busy = 1;
	p->busy++;
	return;
fail:
	/* Credentials that cannot be had for now stay transient: exit 75. */
	if (e.kind != KL_ERR_TRANSIENT && e.kind != KL_ERR_STOPPED)
		e.kind = KL_ERR_PERMANENT;
	kl_putter_halt(p, &e);
}

/* Whether the ready records make a batch that should leave now. */
static int
due(const struct kl_putter *p, long now)
{
	if (p->nready == 0)
		return 0;
	return p->nready >= p->o.batch_size ||
	    p->rbytes >= p->o.batch_bytes || p->eof || p->last ||
	    p->rhead->ready_ms == 0 ||
	    now - p->rhead->ready_ms >= p->o.linger_ms;
}

/* Starts the batches that are due while a slot is free. */
static void
launch(struct kl_putter *p, long now)
{
	struct prec *r, **pp;
	struct slot *s;
	size_t bytes;
	int k;

	/* Backoffs that ran out: their records go first. */
	for (pp = &p->retry; !p->halted && !p->last && *pp != NULL;) {
		r = *pp;
		if (r->not_before > now) {
			pp = &r->next;
			continue;
		}
		*pp = r->next;
		ready_push(p, r, 1, now);
	}
	for (k = 0; k < p->o.max_in_flight && !p->halted && due(p, now);
	    k++) {
		s = &p->slot[k];
		if (s->busy)
			continue;
		for (s->n = 0, bytes = 0; p->nready > 0 &&
		    s->n < p->o.batch_size && (s->n == 0 ||
		    bytes + p->rhead->size <= p->o.batch_bytes); s->n++) {
			r = ready_pop(p);
			bytes += r->size;
			s->rec[s->n] = r;
		}
		launch_slot(p, s);
	}
}

/* Handles the transfers that ended; returns how many. */
static int
reap(struct kl_putter *p)
{
	CURLMsg *m;
	struct slot *s;
	int left, n = 0, rc;

	while ((m = curl_multi_info_read(p->multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		rc = (int)m->data.result;
		s = NULL;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &s);
		if (s == NULL)
			continue;
		finish(p, s, rc);
		n++;
	}
	return n;
}

/* How long to wait for something to do: at most WAIT_MAX_MS. */
static long
wait_ms(const struct kl_putter *p, long now)
{
	const struct prec *r;
	long t = WAIT_MAX_MS, d;

	if (p->halted)
		return t;
	if (p->nready > 0 && p->busy < p->o.max_in_flight) {
		d = p->rhead->ready_ms + p->o.linger_ms - now;
		if (d < t)
			t = d;
	}
	if (!p->last)
		for (r = p->retry; r != NULL; r = r->next)
			if ((d = r->not_before - now) < t)
				t = d;
	return t < 0 ? 0 : t;
}

/*
 * One turn of the engine: starts the batches that are due, waits until a
 * transfer ends, the descriptor fd (if not -1) is readable, or the next
 * deadline, and handles the replies (calling back).  flags: KL_PUT_EOF
 * when no more records will come, KL_PUT_LAST after a stop signal.
 * Returns 1 if fd is readable (or at its end), else 0.  Failures do not
 * return: they halt the engine (kl_putter_error).
 */
int
kl_putter_step(struct kl_putter *p, int fd, int flags)
{
	struct curl_waitfd w;
	int running, n;

	p->eof = (flags & KL_PUT_EOF) != 0;
	if ((flags & KL_PUT_LAST) && !p->last)
		p->last = 1;
	do {
		launch(p, kl_mono_ms());
		curl_multi_perform(p->multi, &running);
		n = reap(p);
	} while (n > 0);
	memset(&w, 0, sizeof(w));
	w.fd = fd;
	w.events = CURL_WAIT_POLLIN;
	curl_multi_poll(p->multi, fd >= 0 ? &w : NULL, fd >= 0 ? 1 : 0,
	    (int)wait_ms(p, kl_mono_ms()), NULL);
	curl_multi_perform(p->multi, &running);
	reap(p);
	return fd >= 0 && w.revents != 0;
}

/*
 * Whether there is nothing more to do: no transfer in flight and every
 * record settled, or nothing more to send (halted; after KL_PUT_LAST,
 * the ready records sent).  What is still held goes to kl_putter_drop().
 */
int
kl_putter_done(const struct kl_putter *p)
{
	if (p->busy > 0)
		return 0;
	if (p->halted)
		return 1;
	if (p->last)
		return p->nready == 0;
	return p->held == 0;
}

static int
by_seq(const void *a, const void *b)
{
	const struct prec *x = *(struct prec *const *)a,
	    *y = *(struct prec *const *)b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/*
 * Gives up every record held (call when kl_putter_done): rejects each,
 * in input order, with code and msg, and frees it.  Returns how many.
 */
long
kl_putter_drop(struct kl_putter *p, const char *code, const char *msg)
{
	struct prec **all, *n;
	size_t i, k = 0;

	if (p->held == 0)
		return 0;
	if ((all = calloc((size_t)p->held, sizeof(*all))) == NULL)
		return -1;
	for (i = 0; i <= p->mask; i++)
		for (n = p->tab[i].rec; n != NULL && k < (size_t)p->held;
		    n = n->knext)
			all[k++] = n;
	qsort(all, k, sizeof(*all), by_seq);
	for (i = 0; i < k; i++)
		p->cb.reject(p->cb.arg, &all[i]->r, code, msg);
	for (i = 0; i < k; i++)
		free(all[i]);
	free(all);
	memset(p->tab, 0, (p->mask + 1) * sizeof(*p->tab));
	p->nheads = 0;
	p->rhead = p->rtail = p->retry = NULL;
	p->nready = p->rbytes = p->hbytes = 0;
	p->held = 0;
	return (long)k;
}

/* Frees p; transfers still in flight are abandoned.  Safe on NULL. */
void
kl_putter_free(struct kl_putter *p)
{
	struct prec *r, *n;
	size_t i;
	int k;

	if (p == NULL)
		return;
	for (k = 0; p->slot != NULL && k < p->o.max_in_flight; k++) {
		struct slot *s = &p->slot[k];

		if (s->busy) {
			curl_multi_remove_handle(p->multi, s->curl);
			kl_http_finish(&s->x, CURLE_ABORTED_BY_CALLBACK,
			    &p->err);
		}
		if (s->curl != NULL)
			curl_easy_cleanup(s->curl);
		kl_http_resp_free(&s->resp);
		kl_hdrs_free(&s->qh);
		kl_hdrs_free(&s->hdrs);
		kl_buf_free(&s->body);
		kl_creds_free(&s->creds);
		free(s->rec);
	}
	for (i = 0; p->tab != NULL && i <= p->mask; i++)
		for (r = p->tab[i].rec; r != NULL; r = n) {
			n = r->knext;
			free(r);
		}
	if (p->multi != NULL)
		curl_multi_cleanup(p->multi);
	free(p->tab);
	free(p->slot);
	free(p->url);
	free(p);
}
