/*
 * kl-to-lytics.c - post events into a Lytics data stream.
 *
 * Input lines are kl-read-shard records (contract 5.2: the event is
 * "data") or plain JSON objects (the event is the object); --filter runs
 * a jq program on each line instead and posts what it yields.  Events go
 * out in order as JSON-array batches (lytics.c); each acknowledged
 * request prints one batch acknowledgement (contract 5.5).
 *
 * Design decisions:
 *
 * - The per-record path builds no jv: records are checked, searched and
 *   minified with jscan, so events go out byte for byte and numbers keep
 *   every digit.  Only --filter parses the line with libjq, and only its
 *   results pass through doubles.
 * - A record with data_base64 (a payload kl-read-shard found not to be
 *   JSON) is decoded: sent if the bytes are a JSON object, else rejected.
 * - A record belongs to the batch its last event lands in; a record that
 *   yields nothing or is rejected belongs to the batch being filled.
 *   Once a batch is settled (each event acknowledged, or refused and in
 *   --rejects) the checkpoint moves to the newest position of each shard
 *   among its records: batches go one after the other, so everything
 *   earlier of that shard is settled too.
 * - A batch leaves when full (--batch-size, --batch-bytes) or --linger
 *   ms after its first record, whichever comes first.
 * - When retries run out, each record read and not delivered goes to
 *   --rejects; then the input is drained there too until it ends or stays
 *   quiet for --linger ms, so replaying the rejects loses nothing.  The
 *   checkpoint does not move.  Exit 75.
 * - On a stop signal the batch in hand is still sent (the transfer under
 *   way is not aborted; failures are not retried), the checkpoint moved,
 *   and the process dies of the signal.
 */
#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jq.h>

#include "kl.h"

enum {
	OPT_BATCH_BYTES = KL_OPT_FREE, OPT_BATCH_SIZE, OPT_CHECKPOINT,
	OPT_DRY_RUN, OPT_FILTER, OPT_LINGER, OPT_MAX_EVENT_BYTES,
	OPT_MAX_REJECTS, OPT_REJECTS, OPT_RETRY_BUDGET, OPT_TIMESTAMP_FIELD
};

#define SHARD_MAX	128

struct opts {
	struct kl_lyticsopts	 lyt;
	struct kl_lytics_collect col;	/* stream, timestamp field, dry run */
	const char		*filter;
	const char		*checkpoint;
	const char		*rejects;
	unsigned long long	 batch_size, batch_bytes, max_event;
	unsigned long long	 max_rejects, retry_budget;
	int			 has_max_rejects;
	long			 linger;
};

struct rec {			/* a record with events in the batch */
	const char	*name;	/* its input */
	long		 line;
	size_t		 off, len;	/* its text in recs */
	int		 rejected;
};

struct pos {			/* the newest record of a shard */
	char		 shard[SHARD_MAX + 1];
	char		 seq[KL_CKPT_SEQMAX + 1];
	int64_t		 sub;
};

struct state {
	const struct opts	*o;
	struct kl_lytics_api	 api;
	struct kl_lytics_batch	 batch;
	struct kl_buf		 recs;		/* text of the batch's records */
	struct rec		*rec;
	size_t			 nrec, reccap;
	long			 cur;		/* the record in hand's, or -1 */
	struct pos		*pos;
	size_t			 npos, poscap;
	long			 first_ms;	/* 0: nothing waits */
	struct kl_buf		 evs;		/* the record in hand's events */
	size_t			*ev;		/* their ends in evs */
	size_t			 nev, evcap;
	struct kl_buf		 tmp;
	struct kl_buf		 mline;		/* the line in hand, minified */
	jq_state		*jq;
	struct kl_buf		 jqmsg;
	struct kl_ckpt		 ck;
	int			 use_ck;
	struct kl_rejects	 rj;
	const char		*name;		/* the line in hand's input */
	long			 line;
	const char		*code;		/* why it is rejected */
	char			 why[512];
	int			 fatal;		/* stop: a record of another stream */
	long			 events, batches, refused;
	int			 status;
};

static const struct option longopts[] = {
	KL_LYTICS_LONGOPTS,
	{ "batch-bytes", required_argument, NULL, OPT_BATCH_BYTES },
	{ "batch-size", required_argument, NULL, OPT_BATCH_SIZE },
	{ "checkpoint", required_argument, NULL, OPT_CHECKPOINT },
	{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
	{ "filter", required_argument, NULL, OPT_FILTER },
	{ "help", no_argument, NULL, 'h' },
	{ "linger", required_argument, NULL, OPT_LINGER },
	{ "max-event-bytes", required_argument, NULL, OPT_MAX_EVENT_BYTES },
	{ "max-rejects", required_argument, NULL, OPT_MAX_REJECTS },
	{ "rejects", required_argument, NULL, OPT_REJECTS },
	{ "retry-budget", required_argument, NULL, OPT_RETRY_BUDGET },
	{ "stream", required_argument, NULL, 's' },
	{ "timestamp-field", required_argument, NULL, OPT_TIMESTAMP_FIELD },
	{ "verbose", no_argument, NULL, 'v' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static void
usage(int status)
{
	FILE *f = status == 0 ? stdout : stderr;

	fputs("usage: kl-to-lytics [-hVv] [--dry-run] [--batch-bytes bytes] "
	    "[--batch-size n]\n"
	    "\t[--checkpoint file] [--filter program] [--linger ms]\n"
	    "\t[--lytics-key-file file] [--lytics-url url] "
	    "[--max-event-bytes bytes]\n"
	    "\t[--max-rejects n] [--rejects file] [--retry-budget ms]\n"
	    "\t[--timestamp-field field] -s stream [file ...]\n", f);
	if (status == 0)
		fputs("\noptions:\n"
		    "  -h, --help                 print this help and exit\n"
		    "  -V, --version              print the version and exit\n"
		    "  -v, --verbose              report progress; twice for "
		    "debugging\n"
		    "      --dry-run              have Lytics check the events, "
		    "not store them\n"
		    "      --batch-bytes=BYTES    largest request body "
		    "(default 4000000)\n"
		    "      --batch-size=N         events per request "
		    "(default 500)\n"
		    "      --checkpoint=FILE      advance FILE after each "
		    "acknowledged batch\n"
		    "      --filter=PROGRAM       a jq program that makes the "
		    "events of a line\n"
		    "      --linger=MS            send a partial batch after MS "
		    "(default 500)\n"
		    "      --lytics-key-file=FILE the API key (else "
		    "LYTICS_API_KEY)\n"
		    "      --lytics-url=URL       the API (else LYTICS_API_URL, "
		    "api.lytics.io)\n"
		    "      --max-event-bytes=N    reject larger events "
		    "(default 16384)\n"
		    "      --max-rejects=N        exit 1 once more than N "
		    "records were rejected\n"
		    "      --rejects=FILE         append undelivered records "
		    "to FILE\n"
		    "      --retry-budget=MS      how long to retry a request "
		    "(default 60000)\n"
		    "  -s, --stream=STREAM        the Lytics data stream "
		    "(required)\n"
		    "      --timestamp-field=F    the events' time field\n", f);
	exit(status);
}

static int
status_of(const struct kl_err *e)
{
	switch (e->kind) {
	case KL_ERR_CONFIG:
		return KL_EXIT_USAGE;
	case KL_ERR_TRANSIENT:
	case KL_ERR_STOPPED:
		return KL_EXIT_TEMPFAIL;
	default:
		return KL_EXIT_FAIL;
	}
}

static void *
xgrow(void *p, size_t *cap, size_t n, size_t size)
{
	size_t c = *cap ? *cap * 2 : 64;

	if (n < *cap)
		return p;
	if ((p = reallocarray(p, c, size)) == NULL)
		kl_die(KL_EXIT_FAIL, ENOMEM, "cannot grow a batch");
	*cap = c;
	return p;
}

static const char *
shown(const char *name)
{
	return strcmp(name, "-") == 0 ? "<stdin>" : name;
}

/* Rejects the record rec[0..n) of name:line, with the reason. */
static int
reject(struct state *st, const char *name, long line, const char *code,
    const char *msg, const char *rec, size_t n, int is_json, int quiet)
{
	if (!quiet)
		kl_log(KL_ERROR, 0, "%s:%ld: %s", shown(name), line, msg);
	if (kl_reject(&st->rj, strcmp(name, "-") == 0 ? NULL : name, line,
	    code, msg, rec, n, is_json) == -1)
		kl_die(KL_EXIT_FAIL, errno, "cannot write '%s'",
		    st->o->rejects);
	if (st->status == KL_EXIT_OK)
		st->status = KL_EXIT_PARTIAL;
	return 0;
}

static void
reject_rec(struct state *st, struct rec *r, const char *code,
    const char *msg, int quiet)
{
	if (r->rejected)
		return;
	r->rejected = 1;
	reject(st, r->name, r->line, code, msg, st->recs.data + r->off,
	    r->len, 1, quiet);
}

static int
on_ack(void *arg, const struct kl_lytics_ack *a, struct kl_err *e)
{
	struct state *st = arg;
	struct kl_buf b;
	int r;

	kl_buf_init(&b);
	kl_buf_addc(&b, '{');
	kl_js_put_key(&b, "stream");
	kl_buf_add_jstr(&b, st->o->col.stream, strlen(st->o->col.stream));
	kl_buf_addf(&b, ",\"events\":%ld", a->events);
	kl_buf_adds(&b, ",\"message_count\":");
	kl_buf_addf(&b, a->message_count < 0 ? "null" : "%ld",
	    a->message_count);
	kl_buf_adds(&b, ",\"rejected_count\":");
	kl_buf_addf(&b, a->rejected_count < 0 ? "null" : "%ld",
	    a->rejected_count);
	kl_buf_addc(&b, '}');
	st->batches++;
	st->events += a->events;
	if (a->rejected_count > 0) {
		kl_log(KL_WARNING, 0, "Lytics refused %ld of %ld events of a "
		    "batch without saying which", a->rejected_count, a->events);
		st->refused += a->rejected_count;
		if (st->status == KL_EXIT_OK)
			st->status = KL_EXIT_PARTIAL;
	}
	if ((r = b.err ? -1 : kl_emit(b.data, b.len)) == -1)
		kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "cannot write the "
		    "standard output: %s", strerror(b.err ? ENOMEM : errno));
	kl_buf_free(&b);
	return r;
}

static int
on_reject(void *arg, const struct kl_lytics_ev *ev, struct kl_err *e)
{
	struct state *st = arg;

	reject_rec(st, &st->rec[ev->tag], "BadRequest", e->msg, 0);
	return 0;
}

/* Moves the checkpoint to the settled batch's positions. */
static int
advance(struct state *st, struct kl_err *e)
{
	size_t i;
	int moved = 0;

	if (!st->use_ck || st->o->col.dryrun || st->npos == 0)
		return 0;
	for (i = 0; i < st->npos; i++)
		if (kl_ckpt_set(&st->ck, st->pos[i].shard, st->pos[i].seq,
		    st->pos[i].sub) == 1)
			moved = 1;
	return moved ? kl_ckpt_merge(&st->ck, e) : 0;
}

/*
 * Sends the batch in hand and settles it.  Returns 0, or -1 with e
 * filled; records not delivered are then in --rejects.
 */
static int
flush(struct state *st, struct kl_err *e)
{
	struct kl_lytics_cb cb = { on_ack, on_reject, st };
	size_t i;
	int r;

	if (st->first_ms == 0)
		return 0;
	r = kl_lytics_send(&st->api, &st->o->col, &st->batch, &cb, e);
	if (r == 0)
		r = advance(st, e);
	else if (e->kind == KL_ERR_TRANSIENT || e->kind == KL_ERR_STOPPED) {
		for (i = 0; i < st->batch.n; i++)
			if (st->batch.ev[i].state == KL_LYTICS_EV_PENDING)
				reject_rec(st, &st->rec[st->batch.ev[i].tag],
				    "NotDelivered", e->msg, 1);
		st->use_ck = 0;
	}
	kl_lytics_batch_reset(&st->batch);
	kl_buf_reset(&st->recs);
	st->nrec = st->npos = 0;
	st->cur = -1;
	st->first_ms = 0;
	return r;
}

static int fail(struct state *, const char *, const char *, ...)
    KL_PRINTF(3, 4);

/* Sets why the record in hand is rejected; returns -1. */
static int
fail(struct state *st, const char *code, const char *fmt, ...)
{
	va_list ap;

	if (st->code != NULL)
		return -1;	/* the first reason stands */
	st->code = code;
	va_start(ap, fmt);
	vsnprintf(st->why, sizeof(st->why), fmt, ap);
	va_end(ap);
	return -1;
}

/* Adds the record in hand's events to the batch, sending when full. */
static int
add_events(struct state *st, const char *line, size_t len, struct kl_err *e)
{
	const struct opts *o = st->o;
	size_t i, from, n;
	struct rec *r;
	long r0;

	for (i = 0; i < st->nev; i++) {
		from = i ? st->ev[i - 1] : 0;
		n = st->ev[i] - from;
		if (st->batch.n > 0 && (st->batch.n >= o->batch_size ||
		    kl_lytics_batch_size_with(&st->batch, n) > o->batch_bytes)
		    && (r0 = st->cur) >= -1 && flush(st, e) == -1) {
			if (r0 < 0 && (e->kind == KL_ERR_TRANSIENT ||
			    e->kind == KL_ERR_STOPPED))
				reject(st, st->name, st->line, "NotDelivered",
				    e->msg, line, len, 1, 1);
			return -1;
		}
		if (st->cur < 0) {
			st->rec = xgrow(st->rec, &st->reccap, st->nrec,
			    sizeof(*st->rec));
			r = &st->rec[st->cur = (long)st->nrec++];
			r->name = st->name;
			r->line = st->line;
			r->off = st->recs.len;
			r->len = len;
			r->rejected = 0;
			kl_buf_add(&st->recs, line, len);
		}
		if (st->recs.err || kl_lytics_batch_add(&st->batch,
		    st->evs.data + from, n, st->cur) == -1)
			kl_die(KL_EXIT_FAIL, ENOMEM, "cannot grow a batch");
		if (st->first_ms == 0)
			st->first_ms = kl_mono_ms();
	}
	return 0;
}

/* Reads a Kinesis record's position into p; -1 if it has none. */
static int
get_pos(struct state *st, struct kl_jspan *const *f, struct pos *p)
{
	int64_t v = KL_CKPT_WHOLE;

	kl_buf_reset(&st->tmp);
	if (f[0] == NULL || kl_js_str(f[0], &st->tmp) == -1 ||
	    st->tmp.len == 0)
		return fail(st, "BadRecord", "a Kinesis record without a "
		    "stream");
	if (st->ck.stream == NULL &&
	    (st->ck.stream = strdup(st->tmp.data)) == NULL)
		kl_die(KL_EXIT_FAIL, ENOMEM, "checkpoint");
	if (strcmp(st->ck.stream, st->tmp.data) != 0) {
		st->fatal = 1;
		return fail(st, "OtherStream", "a record of stream '%.128s', "
		    "but the checkpoint is of stream '%.128s'", st->tmp.data,
		    st->ck.stream);
	}
	if (f[1]->n - 2 > SHARD_MAX || f[2]->n - 2 > KL_CKPT_SEQMAX ||
	    (f[3] != NULL && f[3]->type != KL_JNUL &&
	    (kl_js_i64(f[3], &v) == -1 || v < 0)))
		goto bad;
	memcpy(p->shard, f[1]->p + 1, f[1]->n - 2);
	p->shard[f[1]->n - 2] = '\0';
	memcpy(p->seq, f[2]->p + 1, f[2]->n - 2);
	p->seq[f[2]->n - 2] = '\0';
	p->sub = v;
	if (kl_ckpt_seq_ok(p->seq) && p->shard[0] != '\0' &&
	    strchr(p->shard, '\\') == NULL)
		return 0;
bad:
	return fail(st, "BadRecord", "a bad shard_id, sequence_number or "
	    "sub_sequence_number");
}

/* Makes p the newest position of its shard in the batch being filled. */
static void
put_pos(struct state *st, const struct pos *p)
{
	size_t i;

	for (i = 0; i < st->npos; i++)
		if (strcmp(st->pos[i].shard, p->shard) == 0)
			break;
	if (i == st->npos) {
		st->pos = xgrow(st->pos, &st->poscap, st->npos,
		    sizeof(*st->pos));
		st->npos++;
	}
	st->pos[i] = *p;
	if (st->first_ms == 0)
		st->first_ms = kl_mono_ms();
}

/* Ends the event just appended to evs; -1 if it is too large. */
static int
end_event(struct state *st)
{
	size_t from = st->nev ? st->ev[st->nev - 1] : 0;

	if (st->evs.err)
		kl_die(KL_EXIT_FAIL, ENOMEM, "cannot hold an event");
	if (st->evs.len - from > st->o->max_event)
		return fail(st, "EventTooLarge", "an event of %zu bytes, over "
		    "the %llu-byte event limit", st->evs.len - from,
		    st->o->max_event);
	st->ev = xgrow(st->ev, &st->evcap, st->nev, sizeof(*st->ev));
	st->ev[st->nev++] = st->evs.len;
	return 0;
}

static void
jq_msg(void *arg, jv msg)
{
	struct state *st = arg;

	if (jv_get_kind(msg) == JV_KIND_STRING)
		kl_buf_adds(&st->jqmsg, jv_string_value(msg));
	kl_buf_addc(&st->jqmsg, '\n');
	jv_free(msg);
}

/* Runs --filter on the line: its results become the events. */
static int
run_filter(struct state *st, const char *line, size_t len)
{
	jv in, v, s;
	long n = 0;

	if (len > 0x7fffffff || !jv_is_valid(in = jv_parse_sized(line,
	    (int)len)))
		return fail(st, "InvalidJSON", "libjq cannot parse the line");
	jq_start(st->jq, in, 0);
	while (jv_is_valid(v = jq_next(st->jq))) {
		n++;
		if (jv_get_kind(v) != JV_KIND_OBJECT)
			fail(st, "NotAnObject", "filter result %ld is %s, not "
			    "an object", n, jv_kind_name(jv_get_kind(v)));
		else if (st->code == NULL) {
			s = jv_dump_string(jv_copy(v), 0);
			kl_buf_adds(&st->evs, jv_string_value(s));
			jv_free(s);
			end_event(st);
		}
		jv_free(v);
	}
	if (jv_invalid_has_msg(jv_copy(v))) {
		v = jv_invalid_get_msg(v);
		s = jv_get_kind(v) == JV_KIND_STRING ? jv_copy(v) :
		    jv_dump_string(jv_copy(v), 0);
		fail(st, "FilterError", "filter: %s", jv_string_value(s));
		jv_free(s);
	}
	jv_free(v);
	return st->code != NULL ? -1 : 0;
}

/* Appends the event in the span v (base64 in it if b64) to evs. */
static int
event_of(struct state *st, const struct kl_jspan *v, int b64)
{
	struct kl_jspan top;

	if (!b64 && v->type != KL_JOBJ)
		return fail(st, "NotAnObject", "data is not a JSON object");
	if (!b64) {
		kl_buf_add(&st->evs, v->p, v->n);	/* minified already */
		return end_event(st);
	}
	kl_buf_reset(&st->tmp);
	kl_buf_reset(&st->jqmsg);
	if (v->type != KL_JSTR || kl_js_str(v, &st->jqmsg) == -1 ||
	    kl_base64_dec(&st->tmp, st->jqmsg.data, st->jqmsg.len) == -1)
		return fail(st, "NotAnObject", "data_base64 is not base64");
	if (kl_js_minify(&st->evs, st->tmp.data, st->tmp.len, &top,
	    NULL) == -1 || top.type != KL_JOBJ)
		return fail(st, "NotAnObject", "data_base64 does not hold a "
		    "JSON object");
	return end_event(st);
}

/* Which of the members do_line wants k names, or -1. */
static int
member(const struct kl_jspan *k)
{
	static const struct { const char *s; size_t n; } names[6] = {
		{ "stream", 6 }, { "shard_id", 8 }, { "sequence_number", 15 },
		{ "sub_sequence_number", 19 }, { "data", 4 },
		{ "data_base64", 11 },
	};
	const char *p = k->p + 1;
	size_t n = k->n - 2;
	int i, slow = memchr(p, '\\', n) != NULL;

	for (i = 0; i < 6; i++)
		if (slow ? kl_js_streqn(k, names[i].s, names[i].n) :
		    n == names[i].n && memcmp(p, names[i].s, n) == 0)
			return i;
	return -1;
}

/*
 * One input line: its events into the batch, or a reject.  The line is
 * checked and minified in one pass; the record kept for --rejects and the
 * events are cut from that copy.
 */
static int
do_line(struct state *st, const char *line, size_t len, struct kl_err *e)
{
	struct kl_jspan top, k, v, sp[6], *f[6] = { NULL };
	struct kl_jiter it;
	struct kl_jerr je;
	struct pos p;
	int i, kin, pos = 0;

	st->nev = 0;
	st->cur = -1;
	st->code = NULL;
	kl_buf_reset(&st->evs);
	kl_buf_reset(&st->mline);
	if (kl_js_minify(&st->mline, line, len, &top, &je) == -1) {
		if (je.code == KL_JE_NOMEM)
			kl_die(KL_EXIT_FAIL, ENOMEM, "cannot hold a line");
		fail(st, "InvalidJSON", "not JSON: %s", je.msg);
		return reject(st, st->name, st->line, st->code, st->why, line,
		    len, 0, 0);
	}
	line = top.p = st->mline.data;
	len = top.n = st->mline.len;
	if (top.type == KL_JOBJ) {
		kl_js_iter_init(&it, &top);
		while (kl_js_iter_next(&it, &k, &v))
			if ((i = member(&k)) >= 0)
				f[i] = (sp[i] = v, &sp[i]);
	}
	kin = f[1] != NULL && f[1]->type == KL_JSTR && f[2] != NULL &&
	    f[2]->type == KL_JSTR && (f[4] != NULL || f[5] != NULL);
	if (kin && st->use_ck)
		pos = get_pos(st, f, &p) == 0;
	if (st->fatal)
		return -1;
	if (st->code == NULL && st->jq != NULL)
		run_filter(st, line, len);
	else if (st->code == NULL && kin)
		event_of(st, f[4] != NULL ? f[4] : f[5], f[4] == NULL);
	else if (st->code == NULL && top.type != KL_JOBJ)
		fail(st, "NotAnObject", "not a JSON object");
	else if (st->code == NULL) {
		kl_buf_add(&st->evs, top.p, top.n);
		end_event(st);
	}
	if (st->code != NULL)
		reject(st, st->name, st->line, st->code, st->why, line, len,
		    1, 0);
	else if (add_events(st, line, len, e) == -1)
		return -1;
	if (pos)
		put_pos(st, &p);
	return 0;
}

/*
 * After retries ran out: rejects the rest of the input until it ends,
 * stays quiet for --linger ms, or a stop signal arrives.
 */
static void
drain(struct state *st, struct kl_inputs *ins, const char *msg)
{
	long n = 0;
	size_t len;
	char *line;
	int r;

	while (!kl_stopping()) {
		if (ins->open && kl_in_wait(&ins->in, st->o->linger) != 1)
			break;
		if ((r = kl_inputs_line(ins, &line, &len)) == 0)
			break;
		if (r == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		reject(st, ins->paths[ins->i - 1], ins->in.line,
		    "NotDelivered", msg, line, len, kl_js_parse(line, len,
		    NULL, NULL) == 0, 1);
		n++;
	}
	if (n > 0)
		kl_log(KL_ERROR, 0, "%ld more records not sent", n);
}

/* Whether --max-rejects was exceeded (said once). */
static int
too_many(struct state *st)
{
	if (!st->o->has_max_rejects || st->rj.count <=
	    (long)st->o->max_rejects)
		return 0;
	kl_log(KL_FATAL, 0, "more than %llu records rejected",
	    st->o->max_rejects);
	return 1;
}

/* Reads every input; returns the exit status. */
static int
run(struct state *st, char **argv)
{
	struct kl_inputs ins;
	struct kl_err e;
	long left;
	size_t len;
	char *line;
	int r, status = KL_EXIT_OK;

	kl_err_clear(&e);
	kl_inputs_init(&ins, argv);
	while (!kl_stopping()) {
		if (st->first_ms != 0 && ins.open) {
			left = st->first_ms + st->o->linger - kl_mono_ms();
			r = left > 0 ? kl_in_wait(&ins.in, left) : 0;
			if (r == 0 && flush(st, &e) == -1)
				break;
			if (r <= 0)
				continue;
		}
		if ((r = kl_inputs_line(&ins, &line, &len)) == 0)
			break;
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1 && errno == E2BIG)
			kl_log(KL_FATAL, 0, "%s:%ld: a line over %lu bytes: "
			    "not NDJSON", shown(ins.in.name), ins.in.line + 1,
			    KL_LINE_MAX);
		else if (r == -1)
			kl_log(KL_FATAL, errno, "cannot read '%s'",
			    shown(ins.in.name));
		if (r == -1) {
			status = KL_EXIT_FAIL;
			break;
		}
		st->name = ins.paths[ins.i - 1];
		st->line = ins.in.line;
		if (do_line(st, line, len, &e) == -1)
			break;
		if (too_many(st)) {
			status = KL_EXIT_FAIL;
			break;
		}
	}
	if (st->fatal) {
		kl_log(KL_FATAL, 0, "%s:%ld: %s", shown(st->name), st->line,
		    st->why);
		status = KL_EXIT_FAIL;
	}
	if (e.kind == KL_ERR_NONE && flush(st, &e) == 0 &&
	    status != KL_EXIT_FAIL && too_many(st))
		status = KL_EXIT_FAIL;
	if (e.kind != KL_ERR_NONE) {
		status = kl_exit_worst(status, status_of(&e));
		if (e.kind != KL_ERR_STOPPED)
			kl_log(KL_FATAL, 0, "%s", e.msg);
		if (e.kind == KL_ERR_TRANSIENT)
			drain(st, &ins, e.msg);
	}
	kl_inputs_close(&ins);
	return kl_exit_worst(status, st->status);
}

static void
parse_args(struct opts *o, int argc, char **argv)
{
	unsigned long long *num = NULL, min = 0, max = 0;
	int ch, r;

	while ((ch = getopt_long(argc, argv, "Vhs:v", longopts, NULL)) != -1) {
		if ((r = kl_lyticsopt(&o->lyt, ch, optarg)) == -1)
			usage(2);
		if (r == 1)
			continue;
		switch (ch) {
		case 'V':
			printf("kl-to-lytics (kl) %s\n", PACKAGE_VERSION);
			exit(0);
		case 'h':
			usage(0);
			break;
		case 's':
			o->col.stream = optarg;
			break;
		case 'v':
			kl_verbose++;
			break;
		case OPT_BATCH_BYTES:
			num = &o->batch_bytes, min = 2, max = KL_LYTICS_BODY_MAX;
			break;
		case OPT_BATCH_SIZE:
			num = &o->batch_size, min = 1, max = 100000;
			break;
		case OPT_CHECKPOINT:
			o->checkpoint = optarg;
			break;
		case OPT_DRY_RUN:
			o->col.dryrun = 1;
			break;
		case OPT_FILTER:
			o->filter = optarg;
			break;
		case OPT_LINGER:
			if (kl_parse_ms(optarg, &o->linger) == -1) {
				kl_log(KL_ERROR, 0, "--linger wants "
				    "milliseconds, 0 to 86400000: '%s'", optarg);
				usage(2);
			}
			break;
		case OPT_MAX_EVENT_BYTES:
			num = &o->max_event, min = 2, max = KL_LYTICS_BODY_MAX;
			break;
		case OPT_MAX_REJECTS:
			num = &o->max_rejects, min = 0, max = 1000000000;
			o->has_max_rejects = 1;
			break;
		case OPT_REJECTS:
			o->rejects = optarg;
			break;
		case OPT_RETRY_BUDGET:
			num = &o->retry_budget, min = 0, max = 86400000;
			break;
		case OPT_TIMESTAMP_FIELD:
			o->col.timestamp_field = optarg;
			break;
		default:
			usage(2);
		}
		if (num != NULL && kl_parse_uint(optarg, min, max, num) == -1) {
			for (r = 0; longopts[r].val != ch; r++)
				;
			kl_log(KL_ERROR, 0, "--%s wants a whole number from "
			    "%llu to %llu: '%s'", longopts[r].name, min, max,
			    optarg);
			usage(2);
		}
		num = NULL;
	}
}

/* Checks the options; compiles --filter.  Nothing is read yet. */
static void
check_args(struct opts *o, struct state *st, char **argv)
{
	const char *s = o->col.stream, *p;

	if (s == NULL) {
		kl_log(KL_ERROR, 0, "--stream is required");
		usage(2);
	}
	for (p = s; *p != '\0' && (unsigned char)*p > ' ' && *p != 0x7f &&
	    *p != '/'; p++)
		;
	if (*s == '\0' || *p != '\0' || p - s > 256)
		kl_die(KL_EXIT_USAGE, 0, "--stream wants a Lytics stream name, "
		    "1 to 256 bytes without spaces, controls or '/': '%s'", s);
	if (o->col.timestamp_field != NULL && *o->col.timestamp_field == '\0')
		kl_die(KL_EXIT_USAGE, 0, "--timestamp-field wants a field "
		    "name");
	if (o->max_event > o->batch_bytes - 2)
		o->max_event = o->batch_bytes - 2;
	if (kl_stdin_is_tty(argv))
		usage(2);
	if (o->filter == NULL)
		return;
	if ((st->jq = jq_init()) == NULL)
		kl_die(KL_EXIT_FAIL, ENOMEM, "jq_init");
	jq_set_error_cb(st->jq, jq_msg, st);
	if (jq_compile(st->jq, o->filter))
		return;
	for (s = st->jqmsg.data; s != NULL && *s != '\0'; s = p + 1) {
		p = strchr(s, '\n');
		kl_log(KL_ERROR, 0, "--filter: %.*s", (int)(p - s), s);
	}
	kl_die(KL_EXIT_USAGE, 0, "--filter does not compile");
}

/* Resolves the endpoint, key, rejects file and checkpoint. */
static void
setup(struct opts *o, struct state *st)
{
	struct kl_lytics cfg;
	struct kl_err e;
	int r;

	if (kl_lytics_load(&cfg, &o->lyt, &e) == -1) {
		kl_lytics_free(&cfg);
		kl_die(status_of(&e), 0, "%s", e.msg);
	}
	kl_log(KL_DEBUG, 0, "lytics endpoint %s (from %s), key from %s",
	    cfg.url, cfg.url_from, cfg.key_from);
	kl_ckpt_init(&st->ck);
	if (o->checkpoint != NULL) {
		if (kl_ckpt_load(&st->ck, o->checkpoint, NULL, &e) == -1)
			kl_die(status_of(&e), 0, "%s", e.msg);
		st->use_ck = 1;
		if (o->col.dryrun)
			kl_log(KL_INFO, 0, "--dry-run: '%s' stays as it is",
			    o->checkpoint);
	}
	if (kl_rejects_open(&st->rj, o->rejects) == -1)
		kl_die(KL_EXIT_FAIL, errno, "cannot open '%s'", o->rejects);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		kl_die(KL_EXIT_FAIL, 0, "cannot initialise libcurl");
	r = kl_lytics_open(&st->api, &cfg, &e);
	kl_lytics_free(&cfg);
	if (r == -1)
		kl_die(KL_EXIT_FAIL, 0, "%s", e.msg);
	st->api.finish = 1;
	st->api.budget_ms = (long)o->retry_budget;
}

static void
cleanup(struct state *st)
{
	kl_lytics_close(&st->api);
	kl_lytics_batch_free(&st->batch);
	kl_buf_free(&st->recs);
	kl_buf_free(&st->evs);
	kl_buf_free(&st->tmp);
	kl_buf_free(&st->mline);
	kl_buf_free(&st->jqmsg);
	free(st->rec);
	free(st->pos);
	free(st->ev);
	kl_ckpt_free(&st->ck);
	if (st->jq != NULL)
		jq_teardown(&st->jq);
	curl_global_cleanup();
}

int
main(int argc, char **argv)
{
	struct opts o;
	struct state st;
	int status;

	kl_prog = "kl-to-lytics";
	kl_sig_init();
	memset(&o, 0, sizeof(o));
	memset(&st, 0, sizeof(st));
	o.batch_size = 500;
	o.batch_bytes = 4000000;
	o.max_event = 16384;
	o.linger = 500;
	o.retry_budget = KL_LYTICS_BUDGET_MS;
	st.o = &o;
	st.cur = -1;
	kl_lytics_batch_init(&st.batch);
	parse_args(&o, argc, argv);
	argv += optind;
	check_args(&o, &st, argv);
	setup(&o, &st);

	kl_out_init();
	status = run(&st, argv);
	if (kl_out_close(&kl_stdout) == -1) {
		if (status != KL_EXIT_FAIL)
			kl_log(KL_FATAL, errno, "cannot write the standard "
			    "output");
		status = kl_exit_worst(status, KL_EXIT_FAIL);
	}
	if (kl_rejects_close(&st.rj) == -1) {
		kl_log(KL_FATAL, errno, "cannot write '%s'", o.rejects);
		status = kl_exit_worst(status, KL_EXIT_FAIL);
	}
	kl_log(KL_INFO, 0, "%ld events in %ld batches delivered to '%s'%s, "
	    "%ld records rejected", st.events, st.batches, o.col.stream,
	    o.col.dryrun ? " (dry run)" : "", st.rj.count);
	cleanup(&st);
	kl_exit(status);
}
