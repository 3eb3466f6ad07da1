/*
 * kl-trigger-put.c - put trigger events (any JSON objects) into a Kinesis
 * stream, one record per object, in order per partition key.
 *
 * Each input line is an object, or an array of objects (a Lytics webhook
 * batch); each object becomes one record whose data is the object as it
 * came minus insignificant whitespace (jscan: numbers keep every digit),
 * or with --fields the object with "data" cut down to those fields and
 * segment_events.  putter.c batches, sends, retries and orders them; each
 * record in the stream prints one put acknowledgement (contract 5.4).
 *
 * Design decisions:
 *
 * - putrec.c turns lines into records and finds their partition keys
 *   (--partition-key in "data", then at the top; else _uid, _uids[0],
 *   id, the record's MD5: never dropped; cut to 256 characters).  The
 *   first fallback is said once at -v.
 * - The stream's record size limit comes from DescribeStreamSummary once
 *   at start (1 MiB when the peer does not say, or the policy does not
 *   allow the call); a record over it (data plus key) is rejected alone.
 * - Acknowledgements are written as replies arrive: per key in input
 *   order, across keys in completion order; each reply's lines go out in
 *   one write.  "input" and "index" are added for named files and for
 *   the elements of an array line.
 * - When the engine halts (retries ran out: 75; the stream deleted, a
 *   permanent error: 1) or a stop signal arrives, every record read and
 *   not delivered goes to --rejects in input order; after a halt the
 *   rest of the input is drained there too until it ends or stays quiet.
 */
#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "kl.h"

/* The options with a number first: num[] follows their order. */
enum { OPT_BATCH_BYTES = KL_OPT_FREE, OPT_BATCH_SIZE, OPT_MAX_IN_FLIGHT,
	OPT_MAX_RETRIES, OPT_FIELDS, OPT_LINGER, OPT_PARTITION_KEY,
	OPT_REJECTS };
static const unsigned long long limits[][3] = {	/* min, max, default */
	{ 1, 10UL * 1024 * 1024, 5UL * 1024 * 1024 }, { 1, 500, 500 },
	{ 1, 64, 4 }, { 0, 1000, 10 },
};

struct opts {
	struct kl_awsopts	 aws;
	struct kl_stream	 stream;
	struct kl_putopts	 put;
	unsigned long long	 num[4];	/* as limits[] */
	const char		*pk;		/* --partition-key */
	char			**fields;	/* NULL-terminated, or NULL */
	const char		*rejects;
};

struct state {
	const struct opts	*o;
	struct kl_putter	*p;
	struct kl_putshape	 sh;
	struct kl_rejects	 rj;
	struct kl_buf		 acks;
	int			 said, dropping, status;
};

static const struct option longopts[] = {
	KL_STD_LONGOPTS,
	KL_AWS_LONGOPTS,
	{ "batch-bytes", required_argument, NULL, OPT_BATCH_BYTES },
	{ "batch-size", required_argument, NULL, OPT_BATCH_SIZE },
	{ "fields", required_argument, NULL, OPT_FIELDS },
	{ "linger", required_argument, NULL, OPT_LINGER },
	{ "max-in-flight", required_argument, NULL, OPT_MAX_IN_FLIGHT },
	{ "max-retries", required_argument, NULL, OPT_MAX_RETRIES },
	{ "partition-key", required_argument, NULL, OPT_PARTITION_KEY },
	{ "rejects", required_argument, NULL, OPT_REJECTS },
	{ "stream", required_argument, NULL, 's' },
	{ NULL, 0, NULL, 0 },
};

static void
usage(int status)
{
	FILE *f = status == 0 ? stdout : stderr;

	fputs("usage: kl-trigger-put [-hVv] [-r region] [--auth name] "
	    "[--batch-bytes bytes]\n\t[--batch-size n] [--credentials file] "
	    "[--endpoint-url url]\n\t[--external-id id] [--fields field,...] "
	    "[--linger ms]\n\t[--max-in-flight n] [--max-retries n] "
	    "[--partition-key field]\n\t[--profile name] [--rejects file] "
	    "[--role-arn arn] -s stream [file ...]\n", f);
	if (status == 0)
		fputs("\noptions:\n"
		    "  -h, --help               print this help and exit\n"
		    "  -V, --version            print the version and exit\n"
		    "  -v, --verbose            report progress; twice: debug\n"
		    "  -r, --region=REGION      the AWS region\n"
		    "      --auth=NAME          a stored authorization\n"
		    "      --batch-bytes=BYTES  data, keys per call (5 MiB)\n"
		    "      --batch-size=N       records per call (500)\n"
		    "      --credentials=FILE   a credential record file\n"
		    "      --endpoint-url=URL   the Kinesis endpoint\n"
		    "      --external-id=ID     the external id for --role-arn\n"
		    "      --fields=F,...       keep only these fields of data\n"
		    "      --linger=MS          a partial batch waits (100)\n"
		    "      --max-in-flight=N    calls at once (4)\n"
		    "      --max-retries=N      sends after a failure (10)\n"
		    "      --partition-key=F    a field, path or jq program\n"
		    "      --profile=NAME       an AWS profile\n"
		    "      --rejects=FILE       append undelivered records\n"
		    "      --role-arn=ARN       assume this role first\n"
		    "  -s, --stream=STREAM      the stream: a name or an ARN\n",
		    f);
	exit(status);
}

/* Writes one reject (kl_putbad_fn); exit 3 unless dropping. */
static void
reject(void *arg, const char *input, long line, long index,
    const char *code, const char *msg, const char *rec, size_t n, int json)
{
	struct state *st = arg;

	if (!st->dropping) {
		if (index >= 0)
			kl_log(KL_ERROR, 0, "%s:%ld: element %ld: %s", input,
			    line, index, msg);
		else
			kl_log(KL_ERROR, 0, "%s:%ld: %s", input, line, msg);
		st->status = kl_exit_worst(st->status, KL_EXIT_PARTIAL);
	}
	if (kl_reject(&st->rj, input, line, code, msg, rec, n, json) == -1)
		kl_die(KL_EXIT_FAIL, errno, "cannot write '%s'",
		    st->o->rejects);
}

static void
on_reject(void *arg, const struct kl_putrec *r, const char *code,
    const char *msg)
{
	reject(arg, r->input, r->line, r->index, code, msg,
	    r->orig ? r->orig : r->data, r->orig ? r->olen : r->dlen, 1);
}

static void
on_ack(void *arg, const struct kl_putrec *r, const struct kl_jspan *shard,
    const struct kl_jspan *seq)
{
	kl_put_ack(&((struct state *)arg)->acks, r, shard, seq);
}

static int
on_put(void *arg, const struct kl_putrec *r, int kind)
{
	struct state *st = arg;

	if (kind != KL_PUTKEY_FIELD && st->said++ == 0)
		kl_log(KL_INFO, 0, "%s:%ld: %s%s%s: the partition key falls "
		    "back to _uid, _uids[0], id or the record's MD5 (said "
		    "once)", r->input, r->line, st->o->pk ? "no usable '" :
		    "no --partition-key", st->o->pk ? st->o->pk : "",
		    st->o->pk ? "'" : "");
	return kl_putter_add(st->p, r);
}

static void
flush_acks(struct state *st)
{
	struct kl_err e;

	if (st->acks.err)
		kl_die(KL_EXIT_FAIL, ENOMEM, "cannot hold acknowledgements");
	if (st->acks.len > 0 && kl_out_write(&kl_stdout, st->acks.data,
	    st->acks.len) == -1) {
		kl_err_set(&e, KL_ERR_PERMANENT, 0, NULL, "cannot write the "
		    "standard output: %s", strerror(errno));
		kl_putter_halt(st->p, &e);
	}
	kl_buf_reset(&st->acks);
}

/* Reads the inputs, drives the engine; returns the exit status. */
static int
run(struct state *st, char **argv)
{
	const struct kl_putline_cb lcb = { on_put, reject, st };
	const struct kl_err *e;
	struct kl_inputs ins;
	int eof = 0, readable = 0, fd, r, stop;
	size_t len;
	char *line;
	long n;

	kl_inputs_init(&ins, argv);
	for (;;) {
		stop = kl_stopping();
		e = kl_putter_error(st->p);
		fd = -1;
		if (!eof && !stop && e == NULL && !kl_putter_full(st->p)) {
			if (readable || !ins.open || kl_in_pending(&ins.in)) {
				readable = 0;
				if ((r = kl_inputs_line(&ins, &line, &len)) ==
				    1) {
					if (kl_put_line(&st->sh, line, len,
					    kl_input_name(ins.paths[ins.i - 1]),
					    ins.in.line, &lcb) == -1)
						kl_die(KL_EXIT_FAIL, ENOMEM,
						    "cannot hold a record");
				} else if (r == 0)
					eof = 1;
				else if (errno != EINTR) {
					kl_log(KL_FATAL, errno, "cannot read "
					    "'%s'", kl_input_name(ins.in.name));
					st->status = KL_EXIT_FAIL;
					eof = 1;
				}
				continue;
			}
			fd = ins.in.fd;
		}
		if ((eof || stop || e != NULL) && kl_putter_done(st->p))
			break;
		readable = kl_putter_step(st->p, fd, (eof ? KL_PUT_EOF : 0) |
		    (stop ? KL_PUT_LAST : 0));
		flush_acks(st);
	}
	if ((n = kl_putter_held(st->p)) > 0) {
		st->dropping = 1;
		kl_putter_drop(st->p, e && e->code[0] ? e->code :
		    "NotDelivered", e ? e->msg : "stopped by a signal");
		kl_log(KL_ERROR, 0, "%ld %s not delivered%s%s%s", n,
		    n == 1 ? "record" : "records", st->o->rejects ? ": see '" :
		    "", st->o->rejects ? st->o->rejects : "",
		    st->o->rejects ? "'" : "");
	}
	if (e != NULL) {
		kl_log(KL_FATAL, 0, "cannot put records into stream '%s': %s",
		    st->o->stream.name, e->msg);
		st->status = kl_exit_worst(st->status, kl_err_status(e));
		if (st->o->rejects != NULL && !eof && (n = kl_put_drain(&ins,
		    st->o->put.linger_ms > 100 ? st->o->put.linger_ms : 100,
		    e->msg, reject, st)) > 0)
			kl_log(KL_ERROR, 0, "%ld more input lines not sent", n);
	}
	kl_inputs_close(&ins);
	return st->status;
}

/* Parses the options; the numbers are checked here, the rest below. */
static const char *
parse_args(struct opts *o, int argc, char **argv)
{
	const char *stream = NULL, *fields = NULL;
	int ch, r, i;

	while ((ch = getopt_long(argc, argv, "Vhr:s:v", longopts, NULL)) !=
	    -1) {
		if ((r = kl_opt_common(ch, optarg, &o->aws, NULL)) == -1)
			usage(2);
		if (r == 1)
			continue;
		switch (ch) {
		case 'V':
			printf("kl-trigger-put (kl) %s\n", PACKAGE_VERSION);
			exit(0);
		case 'h':
			usage(0);
			break;
		case 's':
			stream = optarg;
			break;
		case OPT_BATCH_BYTES:
		case OPT_BATCH_SIZE:
		case OPT_MAX_IN_FLIGHT:
		case OPT_MAX_RETRIES:
			i = ch - OPT_BATCH_BYTES;
			if (kl_opt_uint(kl_opt_name(longopts, ch), optarg,
			    limits[i][0], limits[i][1], &o->num[i]) == -1)
				usage(2);
			break;
		case OPT_FIELDS:
			fields = optarg;
			break;
		case OPT_LINGER:
			if (kl_opt_ms("linger", optarg, &o->put.linger_ms) == -1)
				usage(2);
			break;
		case OPT_PARTITION_KEY:
			o->pk = optarg;
			break;
		case OPT_REJECTS:
			o->rejects = optarg;
			break;
		default:
			usage(2);
		}
	}
	if (fields != NULL && kl_put_fields_parse(fields, &o->fields) == -1)
		kl_die(errno == ENOMEM ? KL_EXIT_FAIL : KL_EXIT_USAGE, 0,
		    "--fields wants field names separated by commas: '%s'",
		    fields);
	o->put.batch_bytes = (size_t)o->num[0];
	o->put.batch_size = (size_t)o->num[1];
	o->put.max_in_flight = (int)o->num[2];
	o->put.max_retries = (int)o->num[3];
	return stream;
}

/* Checks what needs no network; nothing is read or sent yet. */
static void
check_args(struct opts *o, struct state *st, const char *stream,
    char **argv)
{
	struct kl_err e;
	char why[512];

	if (stream == NULL) {
		kl_log(KL_ERROR, 0, "--stream is required");
		usage(2);
	}
	if (kl_stream_parse(&o->stream, stream, why, sizeof(why)) == -1)
		kl_die(KL_EXIT_USAGE, 0, "%s", why);
	if (kl_stdin_is_tty(argv))
		usage(2);
	if ((st->sh.key = kl_putkey_new(o->pk, &e)) == NULL)
		kl_die(kl_err_status(&e), 0, "%s", e.msg);
	st->sh.fields = (const char *const *)o->fields;
}

/* Resolves the configuration and the stream; opens --rejects. */
static void
setup(struct state *st, struct kl_awsenv *env)
{
	const struct opts *o = st->o;
	struct kl_err e;

	if (kl_awsenv_config(env, &o->aws, &o->stream, &e) == -1)
		kl_die(kl_err_status(&e), 0, "%s", e.msg);
	if (kl_rejects_open(&st->rj, o->rejects) == -1)
		kl_die(KL_EXIT_FAIL, errno, "cannot open '%s'", o->rejects);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		kl_die(KL_EXIT_FAIL, 0, "cannot initialise libcurl");
	if (kl_awsenv_open(env, &o->aws, &e) == -1)
		kl_die(kl_err_status(&e), 0, "%s", e.msg);
	if (kl_put_limit(&env->aws, &o->stream, &st->sh.record_max,
	    &e) == -1) {
		if (e.kind != KL_ERR_STOPPED)
			kl_log(KL_FATAL, 0, "cannot describe stream '%s': %s",
			    o->stream.name, e.msg);
		kl_exit(kl_err_status(&e));
	}
	kl_log(KL_DEBUG, 0, "records may hold %zu bytes", st->sh.record_max);
}

int
main(int argc, char **argv)
{
	struct opts o;
	struct state st;
	struct kl_awsenv env;
	struct kl_err e;
	const struct kl_putstats *ps;
	const struct kl_putcb cb = { on_ack, on_reject, &st };
	const char *stream;
	int i;

	kl_prog = "kl-trigger-put";
	kl_sig_init();
	memset(&o, 0, sizeof(o));
	memset(&st, 0, sizeof(st));
	for (i = 0; i < 4; i++)
		o.num[i] = limits[i][2];
	o.put.linger_ms = 100;
	o.put.stream = &o.stream;
	st.o = &o;
	stream = parse_args(&o, argc, argv);
	argv += optind;
	check_args(&o, &st, stream, argv);
	setup(&st, &env);
	if ((st.p = kl_putter_new(&env.aws, &o.put, &cb, &e)) == NULL)
		kl_die(KL_EXIT_FAIL, 0, "%s", e.msg);

	kl_out_init();
	st.status = kl_outputs_close(run(&st, argv), &st.rj, o.rejects);
	ps = kl_putter_stats(st.p);
	kl_log(KL_INFO, 0, "%ld records put in %ld requests, %ld retried, "
	    "%ld rejected", ps->acked, ps->requests, ps->retried,
	    st.rj.count);
	kl_putter_free(st.p);
	kl_awsenv_free(&env);
	kl_put_shape_free(&st.sh);
	kl_buf_free(&st.acks);
	curl_global_cleanup();
	kl_exit(st.status);
}
