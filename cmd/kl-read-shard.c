/*
 * kl-read-shard.c - read a Kinesis stream's shards in order, in real
 * time, as kl Kinesis records (contract §5.2), one JSON object per line.
 *
 * All the reading is lib/reader.c's (shards, lineage, iterators, pacing,
 * retries) and lib/page.c's (records); this file checks the command
 * line, loads the configuration and the checkpoint, writes the lines and
 * commits the checkpoint for --commit.
 *
 * Design decisions:
 *
 * - Everything the command line can get wrong is checked before anything
 *   is read or sent, the checkpoint file included (a corrupt one, or one
 *   of another stream, is exit 2), so exit 2 keeps its promise.  An
 *   at-timestamp start in the future is refused there too: Kinesis would
 *   refuse it later, and obscurely.
 * - at-sequence and after-sequence name a position in one shard, so they
 *   want exactly one --shard.
 * - --commit writes the checkpoint only after the lines it covers were
 *   flushed (kl_out_flush, then kl_ckpt_merge, which leaves the other
 *   shards to whoever else writes the file, kl-to-lytics for one).
 * - KL_TEST_LIST_PAGE, for tests only, sets ListShards' MaxResults, so
 *   that paging through the shard list can be tested on a small stream.
 * - On a terminal, a progress line (progress.c) counts the records
 *   written and the lag; it is erased when the reading ends, a stop
 *   signal included, before the last messages.
 * - Replies of several MiB come and go all the time; a fixed mmap
 *   threshold keeps glibc from moving them onto the heap, where freed
 *   memory is not given back, so the resident size stays flat.
 */
#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "kl.h"

enum {
	OPT_CHECKPOINT = KL_OPT_FREE, OPT_COMMIT, OPT_DATA_ONLY, OPT_FROM,
	OPT_LIMIT, OPT_MAX_RATE, OPT_POLL, OPT_SHARD, OPT_STATS, OPT_UNTIL
};

struct opts {
	struct kl_awsopts aws;
	struct kl_stream stream;
	const char	*stream_arg;
	char		**shards;	/* ro.shards, filled here */
	const char	*ckpt_path;
	struct kl_ckpt	 ckpt;
	struct kl_reader_opts ro;	/* the reading options, as parsed */
};

static const struct option longopts[] = {
	KL_STD_LONGOPTS,
	KL_AWS_LONGOPTS,
	{ "checkpoint", required_argument, NULL, OPT_CHECKPOINT },
	{ "commit", no_argument, NULL, OPT_COMMIT },
	{ "data-only", no_argument, NULL, OPT_DATA_ONLY },
	{ "follow", no_argument, NULL, 'f' },
	{ "from", required_argument, NULL, OPT_FROM },
	{ "limit", required_argument, NULL, OPT_LIMIT },
	{ "max-rate", required_argument, NULL, OPT_MAX_RATE },
	{ "poll-interval", required_argument, NULL, OPT_POLL },
	{ "shard", required_argument, NULL, OPT_SHARD },
	{ "stats-file", required_argument, NULL, OPT_STATS },
	{ "stream", required_argument, NULL, 's' },
	{ "until", required_argument, NULL, OPT_UNTIL },
	{ NULL, 0, NULL, 0 },
};

static void
usage(int status)
{
	FILE *f = status == 0 ? stdout : stderr;

	fputs("usage: kl-read-shard [-fhVv] [--commit] [--data-only] "
	    "[-r region] [--auth name]\n"
	    "\t[--checkpoint file] [--credentials file] [--endpoint-url url]\n"
	    "\t[--external-id id] [--from position] [--limit n] "
	    "[--max-rate n]\n"
	    "\t[--poll-interval ms] [--profile name] [--role-arn arn] "
	    "[--shard id]\n"
	    "\t[--stats-file file] [--until time] -s stream\n", f);
	if (status == 0)
		fputs("\n"
		    "  -f, --follow             keep reading as records arrive\n"
		    "  -h, --help               print this help and exit\n"
		    "  -V, --version            print the version and exit\n"
		    "  -v, --verbose            progress every 10 s; twice: "
		    "debug\n"
		    "      --commit             advance the checkpoint file\n"
		    "      --data-only          write each payload alone\n"
		    "  -r, --region=REGION      the AWS region\n"
		    "      --auth=NAME          a stored authorization\n"
		    "      --checkpoint=FILE    start after its positions\n"
		    "      --credentials=FILE   a credential record file\n"
		    "      --endpoint-url=URL   the Kinesis endpoint\n"
		    "      --external-id=ID     the external id for --role-arn\n"
		    "      --from=POSITION      trim-horizon (default), latest,\n"
		    "                           at-timestamp=TIME, "
		    "at-sequence=SEQ,\n"
		    "                           after-sequence=SEQ\n"
		    "      --limit=N            stop after N records\n"
		    "      --max-rate=N         GetRecords calls/s per shard "
		    "(2)\n"
		    "      --poll-interval=MS   wait when caught up (1000)\n"
		    "      --profile=NAME       an AWS profile\n"
		    "      --role-arn=ARN       assume this role first\n"
		    "      --shard=ID           read only this shard "
		    "(repeatable)\n"
		    "      --stats-file=FILE    Prometheus text file, every "
		    "10 s\n"
		    "      --until=TIME         stop at records that arrived "
		    "later\n"
		    "  -s, --stream=STREAM      the stream: a name or an ARN\n",
		    f);
	exit(status);
}

static void
bad_arg(const char *opt, const char *want, const char *arg)
{
	kl_log(KL_ERROR, 0, "%s wants %s: '%s'", opt, want, arg);
	usage(2);
}

/* Milliseconds since the epoch of an RFC 3339 time, or -1. */
static long long
time_ms(const char *s)
{
	time_t t;
	int ms;

	if (kl_time_parse(s, &t, &ms) == -1 || t < 0)
		return -1;
	return (long long)t * 1000 + ms;
}

static void
parse_from(struct opts *o, const char *arg)
{
	static const char want[] = "trim-horizon, latest, at-timestamp=TIME, "
	    "at-sequence=SEQ or after-sequence=SEQ";
	const char *v;

	if (strcmp(arg, "trim-horizon") == 0)
		o->ro.from = KL_FROM_TRIM_HORIZON;
	else if (strcmp(arg, "latest") == 0)
		o->ro.from = KL_FROM_LATEST;
	else if (strncmp(arg, "at-timestamp=", 13) == 0) {
		o->ro.from = KL_FROM_AT_TIMESTAMP;
		if ((o->ro.from_ms = time_ms(arg + 13)) < 0)
			bad_arg("--from at-timestamp", "an RFC 3339 time",
			    arg + 13);
		if (o->ro.from_ms > kl_now_ms() + 1000) {
			kl_log(KL_ERROR, 0, "--from at-timestamp: '%s' is in "
			    "the future", arg + 13);
			usage(2);
		}
	} else if (strncmp(arg, "at-sequence=", 12) == 0 ||
	    strncmp(arg, "after-sequence=", 15) == 0) {
		o->ro.from = arg[1] == 't' ? KL_FROM_AT_SEQUENCE :
		    KL_FROM_AFTER_SEQUENCE;
		v = strchr(arg, '=') + 1;
		if (!kl_ckpt_seq_ok(v))
			bad_arg("--from", "a sequence number of 1 to 128 "
			    "digits", v);
		o->ro.from_seq = v;
	} else
		bad_arg("--from", want, arg);
}

static void
check_args(struct opts *o, int argc)
{
	char why[512];

	if (argc > 0) {
		kl_log(KL_ERROR, 0, "no operands are taken");
		usage(2);
	}
	if (o->stream_arg == NULL) {
		kl_log(KL_ERROR, 0, "--stream is required");
		usage(2);
	}
	if (kl_stream_parse(&o->stream, o->stream_arg, why,
	    sizeof(why)) == -1)
		kl_die(KL_EXIT_USAGE, 0, "%s", why);
	if ((o->ro.from == KL_FROM_AT_SEQUENCE ||
	    o->ro.from == KL_FROM_AFTER_SEQUENCE) && o->ro.nshards != 1) {
		kl_log(KL_ERROR, 0, "--from at-sequence and after-sequence "
		    "want exactly one --shard");
		usage(2);
	}
	if (o->ro.commit && o->ckpt_path == NULL) {
		kl_log(KL_ERROR, 0, "--commit wants --checkpoint");
		usage(2);
	}
}

static void
parse_args(struct opts *o, int argc, char **argv)
{
	char *end;
	int ch, r;

	while ((ch = getopt_long(argc, argv, "Vfhr:s:v", longopts,
	    NULL)) != -1) {
		if ((r = kl_opt_common(ch, optarg, &o->aws, NULL)) == -1)
			usage(2);
		if (r == 1)
			continue;
		switch (ch) {
		case 'V':
			printf("kl-read-shard (kl) %s\n", PACKAGE_VERSION);
			exit(0);
		case 'f':
			o->ro.follow = 1;
			break;
		case 'h':
			usage(0);
			break;
		case 's':
			o->stream_arg = optarg;
			break;
		case OPT_CHECKPOINT:
			o->ckpt_path = optarg;
			break;
		case OPT_COMMIT:
			o->ro.commit = 1;
			break;
		case OPT_DATA_ONLY:
			o->ro.data_only = 1;
			break;
		case OPT_FROM:
			parse_from(o, optarg);
			break;
		case OPT_LIMIT:
			if (kl_parse_uint(optarg, 1, ~0ULL >> 1, &o->ro.limit))
				bad_arg("--limit", "a positive integer",
				    optarg);
			break;
		case OPT_MAX_RATE:
			errno = 0;
			o->ro.max_rate = strtod(optarg, &end);
			if (errno || end == optarg || *end != '\0' ||
			    !(o->ro.max_rate > 0) || o->ro.max_rate > 1000)
				bad_arg("--max-rate", "calls per second, more "
				    "than 0 and at most 1000", optarg);
			break;
		case OPT_POLL:
			if (kl_parse_ms(optarg, &o->ro.poll_ms) == -1)
				bad_arg("--poll-interval", "milliseconds",
				    optarg);
			break;
		case OPT_SHARD:
			if (!kl_stream_name_ok(optarg))
				bad_arg("--shard", "a shard id (1 to 128 "
				    "letters, digits, '_', '.' or '-')",
				    optarg);
			o->shards[o->ro.nshards++] = optarg;
			break;
		case OPT_STATS:
			o->ro.stats_file = optarg;
			break;
		case OPT_UNTIL:
			if ((o->ro.until_ms = time_ms(optarg)) < 0)
				bad_arg("--until", "an RFC 3339 time", optarg);
			break;
		default:
			usage(2);
		}
	}
	check_args(o, argc - optind);
}

static int
emit(void *arg, const char *line, size_t n)
{
	return kl_emit(line, n);
}

/* Flushes the output, then merges the positions into the file. */
static int
commit(void *arg, struct kl_err *e)
{
	struct opts *o = arg;

	if (kl_out_flush(&kl_stdout) == -1) {
		kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "checkpoint not "
		    "written: cannot write the standard output: %s",
		    strerror(errno));
		return -1;
	}
	return kl_ckpt_merge(&o->ckpt, e);
}

/* Completes the reading options (o->ro) and makes the reader. */
static struct kl_reader *
setup(struct opts *o, struct kl_aws *aws, struct kl_progress *p,
    struct kl_err *e)
{
	const char *page = getenv("KL_TEST_LIST_PAGE");

	o->ro.stream = &o->stream;
	o->ro.shards = o->shards;
	o->ro.ckpt = o->ckpt_path != NULL ? &o->ckpt : NULL;
	o->ro.list_page = page != NULL ? atol(page) : 0;	/* tests */
	o->ro.progress = p;
	o->ro.emit = emit;
	o->ro.commit_cb = commit;
	o->ro.arg = o;
	return kl_reader_new(aws, &o->ro, e);
}

int
main(int argc, char **argv)
{
	struct opts o;
	struct kl_awsenv env;
	struct kl_reader *r;
	struct kl_progress prog;
	struct kl_err e;
	int status = KL_EXIT_OK;

	kl_prog = "kl-read-shard";
	kl_sig_init();
#ifdef M_MMAP_THRESHOLD
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
#endif
	memset(&o, 0, sizeof(o));
	kl_ckpt_init(&o.ckpt);
	o.ro.from = KL_FROM_TRIM_HORIZON;
	o.ro.poll_ms = 1000;
	o.ro.max_rate = 2;
	if ((o.shards = calloc((size_t)argc + 1, sizeof(char *))) == NULL)
		kl_die(KL_EXIT_FAIL, ENOMEM, "cannot start");
	parse_args(&o, argc, argv);

	kl_err_clear(&e);
	if (kl_awsenv_config(&env, &o.aws, &o.stream, &e) == -1 ||
	    (o.ckpt_path != NULL &&
	    kl_ckpt_load(&o.ckpt, o.ckpt_path, o.stream.name, &e) == -1))
		kl_die(kl_err_status(&e), 0, "%s", e.msg);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		kl_die(KL_EXIT_FAIL, 0, "cannot initialise libcurl");
	if (kl_awsenv_open(&env, &o.aws, &e) == -1)
		kl_die(kl_err_status(&e), 0, "%s", e.msg);

	kl_out_init();
	kl_progress_init(&prog, "records");
	if ((r = setup(&o, &env.aws, &prog, &e)) == NULL ||
	    kl_reader_run(r, &e) == -1)
		status = kl_err_status(&e);
	kl_progress_end(&prog);		/* a stop signal too: run returned */
	if (status != KL_EXIT_OK && e.kind != KL_ERR_STOPPED)
		kl_log(KL_FATAL, 0, "cannot read stream '%s': %s",
		    o.stream.name, e.msg);
	if (kl_out_close(&kl_stdout) == -1) {
		if (status == KL_EXIT_OK)
			kl_log(KL_FATAL, errno, "cannot write the standard "
			    "output");
		status = kl_exit_worst(status, KL_EXIT_FAIL);
	}
	kl_log(KL_INFO, 0, "%llu records written",
	    r != NULL ? kl_reader_count(r) : 0ULL);
	kl_reader_free(r);
	kl_ckpt_free(&o.ckpt);
	kl_awsenv_free(&env);
	free(o.shards);
	curl_global_cleanup();
	kl_exit(status);
}
