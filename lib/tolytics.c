/*
 * tolytics.c - kl-to-lytics' engine: input lines into batches of events,
 * the batches to Lytics one after the other, and the checkpoint moved as
 * each one is settled.
 *
 * How a line becomes events and a Kinesis record its position is
 * lytrec.c's, the requests lytics.c's.  What is printed, logged and
 * exited with is the command's: it hears of each acknowledged request and
 * each record not delivered through callbacks, and of the rest through
 * return values; the engine logs only the warning of a batch Lytics
 * refused part of without saying which.
 *
 * Design decisions:
 *
 * - A record belongs to the batch its last event lands in; a record that
 *   yields nothing or is rejected belongs to the batch being filled.
 *   Once a batch is settled (each event acknowledged, or refused and
 *   handed to the reject callback) the checkpoint moves to the newest
 *   position of each shard among its records: batches go one after the
 *   other, so everything earlier of that shard is settled too.
 * - A batch leaves when full (batch_size events, batch_bytes of body) or
 *   linger ms after its first record, whichever comes first.
 * - When a request fails for good (retries ran out, or a stop signal),
 *   each record of the batch not delivered goes to the reject callback
 *   as NotDelivered, and the checkpoint stops moving.
 * - Out of memory, an unreadable input and a record that forbids going on
 *   (lytrec.c's fatal) are returned, not rejected: the command words
 *   them and decides.
 */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kl.h"

struct kl_tolytics_rec {	/* a record with events in the batch */
	const char	*name;		/* its input */
	long		 line;
	size_t		 off, len;	/* its text in recs */
	int		 rejected;
};

/*
 * Sets t up, empty, to report to cb; the caller then fills in the rest of
 * its part (kl.h) and opens the client with kl_tolytics_open.
 */
void
kl_tolytics_init(struct kl_tolytics *t, const struct kl_tolytics_cb *cb)
{
	memset(t, 0, sizeof(*t));
	t->cb = *cb;
	kl_lytics_batch_init(&t->batch);
	kl_buf_init(&t->recs);
	kl_lytrec_init(&t->lr);
	kl_ckpt_init(&t->ck);
	t->cur = -1;
}

/*
 * Opens t's Lytics client on cfg: a request is retried for budget_ms, and
 * a transfer under way when a stop signal arrives is let finish, so that
 * the batch in hand is still delivered.  Returns 0, or -1 with e filled.
 */
int
kl_tolytics_open(struct kl_tolytics *t, const struct kl_lytics *cfg,
    long budget_ms, struct kl_err *e)
{
	if (kl_lytics_open(&t->api, cfg, e) == -1)
		return -1;
	t->api.finish = 1;
	t->api.budget_ms = budget_ms;
	return 0;
}

/* Frees what t holds, the Lytics client and the checkpoint included. */
void
kl_tolytics_free(struct kl_tolytics *t)
{
	kl_lytics_close(&t->api);
	kl_lytics_batch_free(&t->batch);
	kl_buf_free(&t->recs);
	kl_lytrec_free(&t->lr);
	free(t->rec);
	free(t->pos);
	kl_ckpt_free(&t->ck);
	t->rec = NULL;
	t->pos = NULL;
}

/*
 * Appends the batch acknowledgement of contract 5.5 (no newline) for
 * stream to b; b->err says whether it could be held.
 */
void
kl_tolytics_ack(struct kl_buf *b, const char *stream,
    const struct kl_lytics_ack *a)
{
	kl_buf_addc(b, '{');
	kl_js_put_key(b, "stream");
	kl_buf_add_jstr(b, stream, strlen(stream));
	kl_buf_addf(b, ",\"events\":%ld", a->events);
	kl_buf_adds(b, ",\"message_count\":");
	kl_buf_addf(b, a->message_count < 0 ? "null" : "%ld",
	    a->message_count);
	kl_buf_adds(b, ",\"rejected_count\":");
	kl_buf_addf(b, a->rejected_count < 0 ? "null" : "%ld",
	    a->rejected_count);
	kl_buf_addc(b, '}');
}

/* Room for one more of size bytes past *cap, or NULL (p kept). */
static void *
grow(void *p, size_t *cap, size_t size)
{
	size_t c = *cap ? *cap * 2 : 64;

	if ((p = reallocarray(p, c, size)) != NULL)
		*cap = c;
	return p;
}

static int
nomem(struct kl_err *e, const char *what)
{
	kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "%s", what);
	e->sys = ENOMEM;
	return KL_TOLYTICS_NOMEM;
}

/* Hands the record name:line, rec[0..n), to the reject callback. */
static void
bad(struct kl_tolytics *t, const char *name, long line, const char *code,
    const char *msg, const char *rec, size_t n, int is_json)
{
	t->cb.bad(t->cb.arg, kl_input_name(name), line, -1, code, msg, rec,
	    n, is_json);
}

static void
reject_rec(struct kl_tolytics *t, struct kl_tolytics_rec *r,
    const char *code, const char *msg)
{
	if (r->rejected)
		return;
	r->rejected = 1;
	bad(t, r->name, r->line, code, msg, t->recs.data + r->off, r->len, 1);
}

static int
on_ack(void *arg, const struct kl_lytics_ack *a, struct kl_err *e)
{
	struct kl_tolytics *t = arg;

	t->batches++;
	t->events += a->events;
	if (a->rejected_count > 0) {
		kl_log(KL_WARNING, 0, "Lytics refused %ld of %ld events of a "
		    "batch without saying which", a->rejected_count, a->events);
		t->refused += a->rejected_count;
	}
	return t->cb.ack(t->cb.arg, a, e);
}

static int
on_reject(void *arg, const struct kl_lytics_ev *ev, struct kl_err *e)
{
	struct kl_tolytics *t = arg;

	reject_rec(t, &t->rec[ev->tag], "BadRequest", e->msg);
	return 0;
}

/* Moves the checkpoint to the settled batch's positions. */
static int
advance(struct kl_tolytics *t, struct kl_err *e)
{
	size_t i;
	int moved = 0;

	if (!t->use_ck || t->col->dryrun || t->npos == 0)
		return 0;
	for (i = 0; i < t->npos; i++)
		if (kl_ckpt_set(&t->ck, t->pos[i].shard, t->pos[i].seq,
		    t->pos[i].sub) == 1)
			moved = 1;
	return moved ? kl_ckpt_merge(&t->ck, e) : 0;
}

/*
 * Sends the batch in hand, if any, and settles it: acknowledgements to
 * cb.ack, refused events' records to cb.bad, then the checkpoint.
 * Returns 0, or -1 with e filled; after a transient failure or a stop
 * signal the records not delivered went to cb.bad as NotDelivered and
 * the checkpoint no longer moves.
 */
int
kl_tolytics_flush(struct kl_tolytics *t, struct kl_err *e)
{
	struct kl_lytics_cb cb = { on_ack, on_reject, t };
	size_t i;
	int r;

	if (t->first_ms == 0)
		return 0;
	r = kl_lytics_send(&t->api, t->col, &t->batch, &cb, e);
	if (r == 0)
		r = advance(t, e);
	else if (e->kind == KL_ERR_TRANSIENT || e->kind == KL_ERR_STOPPED) {
		for (i = 0; i < t->batch.n; i++)
			if (t->batch.ev[i].state == KL_LYTICS_EV_PENDING)
				reject_rec(t, &t->rec[t->batch.ev[i].tag],
				    "NotDelivered", e->msg);
		t->use_ck = 0;
	}
	kl_lytics_batch_reset(&t->batch);
	kl_buf_reset(&t->recs);
	t->nrec = t->npos = 0;
	t->cur = -1;
	t->first_ms = 0;
	return r;
}

/* Makes the line in hand a record of the batch (its text kept). */
static int
add_rec(struct kl_tolytics *t, const char *line, size_t len)
{
	struct kl_tolytics_rec *r;

	if (t->nrec == t->reccap) {
		if ((r = grow(t->rec, &t->reccap, sizeof(*r))) == NULL)
			return -1;
		t->rec = r;
	}
	r = &t->rec[t->cur = (long)t->nrec++];
	r->name = t->name;
	r->line = t->line;
	r->off = t->recs.len;
	r->len = len;
	r->rejected = 0;
	kl_buf_add(&t->recs, line, len);
	return 0;
}

/* Adds the line in hand's events to the batch, sending when full. */
static int
add_events(struct kl_tolytics *t, const char *line, size_t len,
    struct kl_err *e)
{
	size_t i, from, n;
	long r0;

	for (i = 0; i < t->lr.nev; i++) {
		from = i ? t->lr.ev[i - 1] : 0;
		n = t->lr.ev[i] - from;
		if (t->batch.n > 0 && (t->batch.n >= t->batch_size ||
		    kl_lytics_batch_size_with(&t->batch, n) > t->batch_bytes)
		    && (r0 = t->cur) >= -1 && kl_tolytics_flush(t, e) == -1) {
			if (r0 < 0 && (e->kind == KL_ERR_TRANSIENT ||
			    e->kind == KL_ERR_STOPPED))
				bad(t, t->name, t->line, "NotDelivered",
				    e->msg, line, len, 1);
			return KL_TOLYTICS_SEND;
		}
		if (t->cur < 0 && add_rec(t, line, len) == -1)
			return nomem(e, "cannot grow a batch");
		if (t->recs.err || kl_lytics_batch_add(&t->batch,
		    t->lr.evs.data + from, n, t->cur) == -1)
			return nomem(e, "cannot grow a batch");
		if (t->first_ms == 0)
			t->first_ms = kl_mono_ms();
	}
	return 1;
}

/* Makes p the newest position of its shard in the batch being filled. */
static int
put_pos(struct kl_tolytics *t, const struct kl_lytpos *p)
{
	struct kl_lytpos *np;
	size_t i;

	for (i = 0; i < t->npos; i++)
		if (strcmp(t->pos[i].shard, p->shard) == 0)
			break;
	if (i == t->npos) {
		if (t->npos == t->poscap) {
			if ((np = grow(t->pos, &t->poscap,
			    sizeof(*np))) == NULL)
				return -1;
			t->pos = np;
		}
		t->npos++;
	}
	t->pos[i] = *p;
	if (t->first_ms == 0)
		t->first_ms = kl_mono_ms();
	return 0;
}

/* One input line: its events into the batch (lytrec.c), or a reject. */
static int
do_line(struct kl_tolytics *t, const char *line, size_t len,
    struct kl_err *e)
{
	struct kl_lytrec *r = &t->lr;
	int ret;

	t->cur = -1;
	if (kl_lytrec_line(r, line, len, t->use_ck ? &t->ck : NULL) == -1)
		return nomem(e, r->nomem);
	if (r->fatal)
		return KL_TOLYTICS_FATAL;
	if (r->json) {
		line = r->line.data;
		len = r->line.len;
	}
	if (r->code != NULL)
		bad(t, t->name, t->line, r->code, r->why, line, len, r->json);
	else if ((ret = add_events(t, line, len, e)) != 1)
		return ret;
	if (r->has_pos && put_pos(t, &r->pos) == -1)
		return nomem(e, "cannot grow a batch");
	return 1;
}

/*
 * Takes the next line of ins (t->name, t->line say where it is from),
 * sending the batch in hand first when linger ran out, and when full.
 * Returns 1 when a line was taken; 0 when the input ended or a stop
 * signal arrived; or
 *   KL_TOLYTICS_SEND   a request failed: e filled (kl_tolytics_flush);
 *   KL_TOLYTICS_READ   ins cannot be read: e->sys the errno (E2BIG: a
 *                      line over KL_LINE_MAX), ins->in where;
 *   KL_TOLYTICS_FATAL  the line forbids going on: t->lr.why says why;
 *   KL_TOLYTICS_NOMEM  out of memory: e->msg names what.
 * The batch in hand is then still to be sent (kl_tolytics_flush), but
 * after KL_TOLYTICS_SEND.
 */
int
kl_tolytics_next(struct kl_tolytics *t, struct kl_inputs *ins,
    struct kl_err *e)
{
	long left;
	size_t len;
	char *line;
	int r;

	while (!kl_stopping()) {
		if (t->first_ms != 0 && ins->open) {
			left = t->first_ms + t->linger - kl_mono_ms();
			r = left > 0 ? kl_in_wait(&ins->in, left) : 0;
			if (r == 0 && kl_tolytics_flush(t, e) == -1)
				return KL_TOLYTICS_SEND;
			if (r <= 0)
				continue;
		}
		if ((r = kl_inputs_line(ins, &line, &len)) == 0)
			return 0;
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			e->sys = errno;
			return KL_TOLYTICS_READ;
		}
		t->name = ins->paths[ins->i - 1];
		t->line = ins->in.line;
		return do_line(t, line, len, e);
	}
	return 0;
}
