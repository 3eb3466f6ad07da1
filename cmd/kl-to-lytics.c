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
 * - How a line becomes events, and a Kinesis record its position, is
 *   lytrec.c's: the per-record path builds no jv, so events go out byte
 *   for byte and numbers keep every digit; only --filter parses the line
 *   with libjq.  A record with data_base64 (a payload kl-read-shard found
 *   not to be JSON) is sent if its bytes are a JSON object.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "kl.h"

enum {
	OPT_BATCH_BYTES = KL_OPT_FREE, OPT_BATCH_SIZE, OPT_CHECKPOINT,
	OPT_DRY_RUN, OPT_FILTER, OPT_LINGER, OPT_MAX_EVENT_BYTES,
	OPT_MAX_REJECTS, OPT_REJECTS, OPT_RETRY_BUDGET, OPT_TIMESTAMP_FIELD
};

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

struct state {
	const struct opts	*o;
	struct kl_lytics_api	 api;
	struct kl_lytics_batch	 batch;
	struct kl_buf		 recs;		/* text of the batch's records */
	struct rec		*rec;
	size_t			 nrec, reccap;
	long			 cur;		/* the record in hand's, or -1 */
	struct kl_lytpos	*pos;		/* the newest of each shard */
	size_t			 npos, poscap;
	long			 first_ms;	/* 0: nothing waits */
	struct kl_lytrec	 lr;		/* the line in hand's events */
	struct kl_ckpt		 ck;
	int			 use_ck;
	struct kl_rejects	 rj;
	const char		*name;		/* the line in hand's input */
	long			 line;
	long			 events, batches, refused;
	int			 status;
};

static const struct option longopts[] = {
	KL_STD_LONGOPTS,
	KL_LYTICS_LONGOPTS,
	{ "batch-bytes", required_argument, NULL, OPT_BATCH_BYTES },
	{ "batch-size", required_argument, NULL, OPT_BATCH_SIZE },
	{ "checkpoint", required_argument, NULL, OPT_CHECKPOINT },
	{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
	{ "filter", required_argument, NULL, OPT_FILTER },
	{ "linger", required_argument, NULL, OPT_LINGER },
	{ "max-event-bytes", required_argument, NULL, OPT_MAX_EVENT_BYTES },
	{ "max-rejects", required_argument, NULL, OPT_MAX_REJECTS },
	{ "rejects", required_argument, NULL, OPT_REJECTS },
	{ "retry-budget", required_argument, NULL, OPT_RETRY_BUDGET },
	{ "stream", required_argument, NULL, 's' },
	{ "timestamp-field", required_argument, NULL, OPT_TIMESTAMP_FIELD },
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

/* Rejects the record rec[0..n) of name:line, with the reason. */
static int
reject(struct state *st, const char *name, long line, const char *code,
    const char *msg, const char *rec, size_t n, int is_json, int quiet)
{
	if (!quiet)
		kl_log(KL_ERROR, 0, "%s:%ld: %s", kl_input_name(name), line,
		    msg);
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

/* Adds the record in hand's events to the batch, sending when full. */
static int
add_events(struct state *st, const char *line, size_t len, struct kl_err *e)
{
	const struct opts *o = st->o;
	size_t i, from, n;
	struct rec *r;
	long r0;

	for (i = 0; i < st->lr.nev; i++) {
		from = i ? st->lr.ev[i - 1] : 0;
		n = st->lr.ev[i] - from;
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
		    st->lr.evs.data + from, n, st->cur) == -1)
			kl_die(KL_EXIT_FAIL, ENOMEM, "cannot grow a batch");
		if (st->first_ms == 0)
			st->first_ms = kl_mono_ms();
	}
	return 0;
}

/* Makes p the newest position of its shard in the batch being filled. */
static void
put_pos(struct state *st, const struct kl_lytpos *p)
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

/* One input line: its events into the batch (lytrec.c), or a reject. */
static int
do_line(struct state *st, const char *line, size_t len, struct kl_err *e)
{
	struct kl_lytrec *r = &st->lr;

	st->cur = -1;
	if (kl_lytrec_line(r, line, len, st->use_ck ? &st->ck : NULL) == -1)
		kl_die(KL_EXIT_FAIL, ENOMEM, "%s", r->nomem);
	if (r->fatal)
		return -1;
	if (r->json) {
		line = r->line.data;
		len = r->line.len;
	}
	if (r->code != NULL)
		reject(st, st->name, st->line, r->code, r->why, line, len,
		    r->json, 0);
	else if (add_events(st, line, len, e) == -1)
		return -1;
	if (r->has_pos)
		put_pos(st, &r->pos);
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
			    "not NDJSON", kl_input_name(ins.in.name),
			    ins.in.line + 1, KL_LINE_MAX);
		else if (r == -1)
			kl_log(KL_FATAL, errno, "cannot read '%s'",
			    kl_input_name(ins.in.name));
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
	if (st->lr.fatal) {
		kl_log(KL_FATAL, 0, "%s:%ld: %s", kl_input_name(st->name),
		    st->line, st->lr.why);
		status = KL_EXIT_FAIL;
	}
	if (e.kind == KL_ERR_NONE && flush(st, &e) == 0 &&
	    status != KL_EXIT_FAIL && too_many(st))
		status = KL_EXIT_FAIL;
	if (e.kind != KL_ERR_NONE) {
		status = kl_exit_worst(status, kl_err_status(&e));
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
		if ((r = kl_opt_common(ch, optarg, NULL, &o->lyt)) == -1)
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
			if (kl_opt_ms("linger", optarg, &o->linger) == -1)
				usage(2);
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
		if (num != NULL && kl_opt_uint(kl_opt_name(longopts, ch),
		    optarg, min, max, num) == -1)
			usage(2);
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
	st->lr.max_event = (size_t)o->max_event;
	if (o->filter == NULL || kl_lytrec_filter(&st->lr, o->filter) == 0)
		return;
	if (errno == ENOMEM)
		kl_die(KL_EXIT_FAIL, ENOMEM, "jq_init");
	for (s = st->lr.jqmsg.data; s != NULL && *s != '\0'; s = p + 1) {
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
		kl_die(kl_err_status(&e), 0, "%s", e.msg);
	}
	kl_log(KL_DEBUG, 0, "lytics endpoint %s (from %s), key from %s",
	    cfg.url, cfg.url_from, cfg.key_from);
	kl_ckpt_init(&st->ck);
	if (o->checkpoint != NULL) {
		if (kl_ckpt_load(&st->ck, o->checkpoint, NULL, &e) == -1)
			kl_die(kl_err_status(&e), 0, "%s", e.msg);
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
	kl_lytrec_free(&st->lr);
	free(st->rec);
	free(st->pos);
	kl_ckpt_free(&st->ck);
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
	kl_lytrec_init(&st.lr);
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
