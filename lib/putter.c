/*
 * putter.c - the PutRecords engine of kl-trigger-put: batches, requests
 * in flight over libcurl's multi interface, retries of the failed entries
 * only, and order per partition key.  This file holds the records, their
 * chains per key and the loop; putcall.c makes the calls and reads their
 * replies; putter.h holds what the two share.  (putrec.c shapes the
 * records.)
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
 * - A record that fails goes back to be retried after a backoff, and a
 *   whole call that fails may halt the engine: putcall.c, which makes the
 *   calls and reads their replies, says how.
 * - After a stop signal (KL_PUT_LAST) the engine sends the ready records
 *   once, retries nothing, and releases no chain member; the transfers in
 *   flight finish (putcall.c).
 * - Memory is bounded by the caller through kl_putter_full(): the records
 *   held stay below (--max-in-flight + 1) batches of records and bytes.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "kl.h"

#include "putter.h"

#define WAIT_MAX_MS	100	/* longest wait: notice signals soon */

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
void
kl_pt_settle(struct kl_putter *p, struct prec *r)
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
		kl_pt_send(p, s);
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
		kl_pt_finish(p, s, rc);
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
