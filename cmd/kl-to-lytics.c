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
 * - Batching, sending and moving the checkpoint are tolytics.c's: a
 *   batch leaves when full (--batch-size, --batch-bytes) or --linger ms
 *   after its first record; the checkpoint moves once a batch is settled
 *   (each event acknowledged, or refused and in --rejects).  This file
 *   prints the acknowledgements, writes the rejects and decides the exit.
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

struct state {
	const struct opts	*o;
	struct kl_tolytics	 t;		/* the engine */
	struct kl_rejects	 rj;
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

/* Writes one reject (cb.bad); NotDelivered ones are said all at once. */
static void
reject(void *arg, const char *input, long line, long index,
    const char *code, const char *msg, const char *rec, size_t n, int json)
{
	struct state *st = arg;

	if (strcmp(code, "NotDelivered") != 0)
		kl_log(KL_ERROR, 0, "%s:%ld: %s", input, line, msg);
	if (kl_reject(&st->rj, input, line, code, msg, rec, n, json) == -1)
		kl_die(KL_EXIT_FAIL, errno, "cannot write '%s'",
		    st->o->rejects);
	if (st->status == KL_EXIT_OK)
		st->status = KL_EXIT_PARTIAL;
}

/* Prints one batch acknowledgement (cb.ack). */
static int
on_ack(void *arg, const struct kl_lytics_ack *a, struct kl_err *e)
{
	struct state *st = arg;
	struct kl_buf b;
	int r;

	kl_buf_init(&b);
	kl_tolytics_ack(&b, st->o->col.stream, a);
	if (a->rejected_count > 0 && st->status == KL_EXIT_OK)
		st->status = KL_EXIT_PARTIAL;	/* the engine warned */
	if ((r = b.err ? -1 : kl_emit(b.data, b.len)) == -1)
		kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "cannot write the "
		    "standard output: %s", strerror(b.err ? ENOMEM : errno));
	kl_buf_free(&b);
	return r;
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

/* Says why the input stopped short (kl_tolytics_next's r). */
static void
input_failed(struct state *st, const struct kl_inputs *ins, int r, int err)
{
	if (r == KL_TOLYTICS_READ && err == E2BIG)
		kl_log(KL_FATAL, 0, "%s:%ld: a line over %lu bytes: not NDJSON",
		    kl_input_name(ins->in.name), ins->in.line + 1,
		    KL_LINE_MAX);
	else if (r == KL_TOLYTICS_READ)
		kl_log(KL_FATAL, err, "cannot read '%s'",
		    kl_input_name(ins->in.name));
	else
		kl_log(KL_FATAL, 0, "%s:%ld: %s", kl_input_name(st->t.name),
		    st->t.line, st->t.lr.why);
}

/*
 * Reads every input into batches (tolytics.c) and sends the last one;
 * after a failed request, drains the input into --rejects.  Returns the
 * exit status.
 */
static int
run(struct state *st, char **argv)
{
	struct kl_inputs ins;
	struct kl_err e;
	int r, status = KL_EXIT_OK;
	long n;

	kl_err_clear(&e);
	kl_inputs_init(&ins, argv);
	while ((r = kl_tolytics_next(&st->t, &ins, &e)) == 1 && !too_many(st))
		;
	if (r == KL_TOLYTICS_NOMEM)
		kl_die(KL_EXIT_FAIL, ENOMEM, "%s", e.msg);
	if (r == KL_TOLYTICS_READ || r == KL_TOLYTICS_FATAL)
		input_failed(st, &ins, r, e.sys);
	if (r == 1 || r == KL_TOLYTICS_READ || r == KL_TOLYTICS_FATAL) {
		status = KL_EXIT_FAIL;
		kl_err_clear(&e);
	}
	if (e.kind == KL_ERR_NONE && kl_tolytics_flush(&st->t, &e) == 0 &&
	    status != KL_EXIT_FAIL && too_many(st))
		status = KL_EXIT_FAIL;
	if (e.kind != KL_ERR_NONE) {
		status = kl_exit_worst(status, kl_err_status(&e));
		if (e.kind != KL_ERR_STOPPED)
			kl_log(KL_FATAL, 0, "%s", e.msg);
		if (e.kind == KL_ERR_TRANSIENT && (n = kl_put_drain(&ins,
		    st->o->linger, e.msg, reject, st)) > 0)
			kl_log(KL_ERROR, 0, "%ld more records not sent", n);
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
	if (!kl_lytics_stream_ok(s))
		kl_die(KL_EXIT_USAGE, 0, "--stream wants a Lytics stream name, "
		    "1 to 256 bytes without spaces, controls or '/': '%s'", s);
	if (o->col.timestamp_field != NULL && *o->col.timestamp_field == '\0')
		kl_die(KL_EXIT_USAGE, 0, "--timestamp-field wants a field "
		    "name");
	if (o->max_event > o->batch_bytes - 2)
		o->max_event = o->batch_bytes - 2;
	if (kl_stdin_is_tty(argv))
		usage(2);
	st->t.lr.max_event = (size_t)o->max_event;
	if (o->filter == NULL || kl_lytrec_filter(&st->t.lr, o->filter) == 0)
		return;
	if (errno == ENOMEM)
		kl_die(KL_EXIT_FAIL, ENOMEM, "jq_init");
	for (s = st->t.lr.jqmsg.data; s != NULL && *s != '\0'; s = p + 1) {
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

	if (kl_lytics_config(&cfg, &o->lyt, &e) == -1)
		kl_die(kl_err_status(&e), 0, "%s", e.msg);
	if (o->checkpoint != NULL) {
		if (kl_ckpt_load(&st->t.ck, o->checkpoint, NULL, &e) == -1)
			kl_die(kl_err_status(&e), 0, "%s", e.msg);
		st->t.use_ck = 1;
		if (o->col.dryrun)
			kl_log(KL_INFO, 0, "--dry-run: '%s' stays as it is",
			    o->checkpoint);
	}
	if (kl_rejects_open(&st->rj, o->rejects) == -1)
		kl_die(KL_EXIT_FAIL, errno, "cannot open '%s'", o->rejects);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		kl_die(KL_EXIT_FAIL, 0, "cannot initialise libcurl");
	r = kl_tolytics_open(&st->t, &cfg, (long)o->retry_budget, &e);
	kl_lytics_free(&cfg);
	if (r == -1)
		kl_die(KL_EXIT_FAIL, 0, "%s", e.msg);
	st->t.col = &o->col;
	st->t.batch_size = (size_t)o->batch_size;
	st->t.batch_bytes = (size_t)o->batch_bytes;
	st->t.linger = o->linger;
}

int
main(int argc, char **argv)
{
	struct opts o;
	struct state st;
	const struct kl_tolytics_cb cb = { on_ack, reject, &st };
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
	kl_tolytics_init(&st.t, &cb);
	parse_args(&o, argc, argv);
	argv += optind;
	check_args(&o, &st, argv);
	setup(&o, &st);

	kl_out_init();
	status = kl_outputs_close(run(&st, argv), &st.rj, o.rejects);
	kl_log(KL_INFO, 0, "%ld events in %ld batches delivered to '%s'%s, "
	    "%ld records rejected", st.t.events, st.t.batches, o.col.stream,
	    o.col.dryrun ? " (dry run)" : "", st.rj.count);
	kl_tolytics_free(&st.t);
	curl_global_cleanup();
	kl_exit(status);
}
