/*
 * kl-stream.c - list, describe, create, delete and wait for Kinesis
 * streams; list a stream's shards.
 *
 * One command word, then at most one STREAM operand (a name or an ARN,
 * see kinesis.c).  Output is one JSON object per line in the Kinesis
 * API's own names, snake_case (contract 5.6): a stream per line for list,
 * one for describe, wait and create --wait, a shard per line for shards.
 *
 * Design decisions:
 *
 * - describe, wait and --wait use DescribeStreamSummary, shards uses
 *   ListShards with NextToken: DescribeStream is limited to 10 calls per
 *   second per account and pages by 100 shards.
 * - Waiting is bounded by --timeout (600 s by default); running out of
 *   time is a transient failure (exit 75): the stream may yet get there.
 *   wait and create --wait wait through "not found", which AWS may answer
 *   for a moment after CreateStream.
 * - Whatever the command line can get wrong is checked before the
 *   configuration is read, and an ARN's region right after it: exit 2
 *   still means that nothing was sent.
 */
#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "kl.h"

enum { OPT_ON_DEMAND = KL_OPT_FREE, OPT_PAGE_SIZE, OPT_SHARDS, OPT_TIMEOUT,
	OPT_WAIT };

struct opts {
	struct kl_awsopts aws;
	const char	*cmd;		/* the command word */
	const char	*what;		/* "describe stream", for messages */
	struct kl_stream stream;
	unsigned long long page_size;	/* 0: the service's */
	unsigned long long shards;	/* 0: not given */
	int		 on_demand;
	int		 wait;
	unsigned long long timeout;	/* seconds */
	long		 count;		/* records written */
};

static const struct option longopts[] = {
	KL_STD_LONGOPTS,
	KL_AWS_LONGOPTS,
	{ "on-demand", no_argument, NULL, OPT_ON_DEMAND },
	{ "page-size", required_argument, NULL, OPT_PAGE_SIZE },
	{ "shards", required_argument, NULL, OPT_SHARDS },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "wait", no_argument, NULL, OPT_WAIT },
	{ NULL, 0, NULL, 0 },
};

static void
usage(int status)
{
	FILE *f = status == 0 ? stdout : stderr;

	fputs("usage: kl-stream [-hVv] [--on-demand] [--wait] [-r region] "
	    "[--auth name]\n"
	    "\t[--credentials file] [--endpoint-url url] [--external-id id]\n"
	    "\t[--page-size n] [--profile name] [--role-arn arn] [--shards n]\n"
	    "\t[--timeout seconds] command [stream]\n", f);
	if (status == 0)
		fputs("\ncommands: list, describe STREAM, shards STREAM, "
		    "create STREAM,\n\tdelete STREAM, wait STREAM\n"
		    "  -h, --help              print this help and exit\n"
		    "  -V, --version           print the version and exit\n"
		    "  -v, --verbose           report progress; twice: debug\n"
		    "      --on-demand         create: on-demand capacity\n"
		    "      --wait              create, delete: wait till done\n"
		    "  -r, --region=REGION     the AWS region\n"
		    "      --auth=NAME         a stored authorization\n"
		    "      --credentials=FILE  a credential record file\n"
		    "      --endpoint-url=URL  the Kinesis endpoint\n"
		    "      --external-id=ID    the external id for --role-arn\n"
		    "      --page-size=N       list, shards: items per call\n"
		    "      --profile=NAME      an AWS profile\n"
		    "      --role-arn=ARN      assume this role first\n"
		    "      --shards=N          create: shards (default 1)\n"
		    "      --timeout=SECONDS   wait at most (default 600)\n",
		    f);
	exit(status);
}

/*
 * Writes one record: "stream_name":name (JSON text, if not NULL), then
 * the converted members of obj (if not NULL), its member first leading.
 */
static int
emit(struct opts *o, const char *name, size_t n, const struct kl_jspan *obj,
    const char *first, struct kl_err *e)
{
	struct kl_buf b;
	int r;

	kl_buf_init(&b);
	kl_buf_addc(&b, '{');
	if (name != NULL) {
		kl_js_put_key(&b, "stream_name");
		kl_buf_add(&b, name, n);
	}
	if (obj != NULL && kl_kinesis_members(&b, obj, first) == -1)
		b.err = 1;
	kl_buf_addc(&b, '}');
	if ((r = b.err ? -1 : kl_emit(b.data, b.len)) == -1)
		kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "cannot write a %s "
		    "record: %s", o->cmd, b.err ? "out of memory" :
		    strerror(errno));
	else
		o->count++;
	kl_buf_free(&b);
	return r;
}

static int
each_stream(void *arg, const struct kl_jspan *name,
    const struct kl_jspan *summary, struct kl_err *e)
{
	if (summary != NULL)
		return emit(arg, NULL, 0, summary, "StreamName", e);
	return emit(arg, name->p, name->n, NULL, NULL, e);
}

static int
each_shard(void *arg, const struct kl_jspan *shard, struct kl_err *e)
{
	struct opts *o = arg;
	char q[sizeof(o->stream.name) + 2];

	/* A stream name needs no escapes: [a-zA-Z0-9_.-]. */
	snprintf(q, sizeof(q), "\"%s\"", o->stream.name);
	return emit(o, q, strlen(q), shard, "ShardId", e);
}

/* Waits for ACTIVE (or, with gone, for the end) and prints the summary. */
static int
wait_for(struct opts *o, struct kl_aws *a, int gone, struct kl_err *e)
{
	struct kl_http_resp resp;
	struct kl_jspan sum;
	int r;

	kl_http_resp_init(&resp);
	r = kl_kinesis_wait(a, &o->stream, gone ? NULL : "ACTIVE",
	    (long)o->timeout * 1000, &resp, &sum, e);
	if (r == 0 && !gone)
		r = emit(o, NULL, 0, &sum, "StreamName", e);
	kl_http_resp_free(&resp);
	return r;
}

static int
change(struct opts *o, struct kl_aws *a, struct kl_err *e)
{
	struct kl_http_resp resp;
	struct kl_buf b;
	int create = strcmp(o->cmd, "create") == 0, r = -1;

	kl_http_resp_init(&resp);
	kl_buf_init(&b);
	kl_buf_addc(&b, '{');
	kl_stream_members(&b, &o->stream);
	if (create && o->on_demand)
		kl_buf_adds(&b, ",\"StreamModeDetails\":"
		    "{\"StreamMode\":\"ON_DEMAND\"}");
	else if (create)
		kl_buf_addf(&b, ",\"ShardCount\":%llu",
		    o->shards ? o->shards : 1);
	kl_buf_addc(&b, '}');
	if (b.err)
		kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "out of memory");
	else if (kl_kinesis_call(a, create ? "CreateStream" : "DeleteStream",
	    b.data, b.len, &resp, e) == 0) {
		kl_log(KL_INFO, 0, "stream '%s' %s", o->stream.name,
		    create ? "created" : "deleted");
		r = o->wait ? wait_for(o, a, !create, e) : 0;
	}
	kl_http_resp_free(&resp);
	kl_buf_free(&b);
	return r;
}

/* Runs the command word; -1 with e filled on failure. */
static int
run(struct opts *o, struct kl_aws *a, struct kl_err *e)
{
	struct kl_http_resp resp;
	struct kl_jspan sum;
	int r = -1;

	if (strcmp(o->cmd, "list") == 0)
		return kl_kinesis_list_streams(a, (long)o->page_size,
		    each_stream, o, e);
	if (strcmp(o->cmd, "shards") == 0)
		return kl_kinesis_list_shards(a, &o->stream, NULL,
		    (long)o->page_size, each_shard, o, e);
	if (strcmp(o->cmd, "wait") == 0)
		return wait_for(o, a, 0, e);
	if (strcmp(o->cmd, "describe") != 0)
		return change(o, a, e);
	kl_http_resp_init(&resp);
	if (kl_kinesis_describe(a, &o->stream, &resp, &sum, e) == 0)
		r = emit(o, NULL, 0, &sum, "StreamName", e);
	kl_http_resp_free(&resp);
	return r;
}

/* Checks the command word, operands and options that go with them. */
static void
check_args(struct opts *o, int argc, char **argv)
{
	static const char *const cmds[][2] = {	/* word, for messages */
		{ "list", "list streams" }, { "describe", "describe stream" },
		{ "shards", "list the shards of stream" },
		{ "create", "create stream" }, { "delete", "delete stream" },
		{ "wait", "wait for stream" },
	};
	char why[512];
	size_t i;
	int create;

	if (argc < 1)
		usage(2);
	o->cmd = argv[0];
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(o->cmd, cmds[i][0]) == 0)
			break;
	if (i == sizeof(cmds) / sizeof(cmds[0])) {
		kl_log(KL_ERROR, 0, "unknown command '%s'", o->cmd);
		usage(2);
	}
	o->what = cmds[i][1];
	if (argc != (i == 0 ? 1 : 2)) {
		kl_log(KL_ERROR, 0, i == 0 ? "list takes no stream" :
		    "%s wants one stream", o->cmd);
		usage(2);
	}
	create = strcmp(o->cmd, "create") == 0;
	if ((o->shards || o->on_demand) && !create) {
		kl_log(KL_ERROR, 0, "--shards and --on-demand go with create");
		usage(2);
	}
	if (o->shards && o->on_demand) {
		kl_log(KL_ERROR, 0, "--shards and --on-demand exclude each "
		    "other");
		usage(2);
	}
	if (o->page_size && i != 0 && strcmp(o->cmd, "shards") != 0) {
		kl_log(KL_ERROR, 0, "--page-size goes with list and shards");
		usage(2);
	}
	if (o->wait && !create && strcmp(o->cmd, "delete") != 0) {
		kl_log(KL_ERROR, 0, "--wait goes with create and delete");
		usage(2);
	}
	if (i > 0 && kl_stream_parse(&o->stream, argv[1], why,
	    sizeof(why)) == -1)
		kl_die(KL_EXIT_USAGE, 0, "%s", why);
	if (create && o->stream.arn[0] != '\0')
		kl_die(KL_EXIT_USAGE, 0, "create wants a stream name, not an "
		    "ARN: '%s'", o->stream.arn);
}

static void
parse_args(struct opts *o, int argc, char **argv)
{
	int ch, r;

	while ((ch = getopt_long(argc, argv, "Vhr:v", longopts, NULL)) != -1) {
		if ((r = kl_opt_common(ch, optarg, &o->aws, NULL)) == -1)
			usage(2);
		if (r == 1)
			continue;
		switch (ch) {
		case 'V':
			printf("kl-stream (kl) %s\n", PACKAGE_VERSION);
			exit(0);
		case 'h':
			usage(0);
			break;
		case OPT_ON_DEMAND:
			o->on_demand = 1;
			break;
		case OPT_PAGE_SIZE:
			if (kl_opt_uint("page-size", optarg, 1, 10000,
			    &o->page_size) == -1)
				usage(2);
			break;
		case OPT_SHARDS:
			if (kl_opt_uint("shards", optarg, 1, 100000,
			    &o->shards) == -1)
				usage(2);
			break;
		case OPT_TIMEOUT:
			if (kl_parse_uint(optarg, 1, 86400, &o->timeout)) {
				kl_log(KL_ERROR, 0, "--timeout wants seconds, "
				    "1 to 86400: '%s'", optarg);
				usage(2);
			}
			break;
		case OPT_WAIT:
			o->wait = 1;
			break;
		default:
			usage(2);
		}
	}
	check_args(o, argc - optind, argv + optind);
}

int
main(int argc, char **argv)
{
	struct opts o;
	struct kl_awsenv env;
	struct kl_err e;
	int status = KL_EXIT_OK, i;

	kl_prog = "kl-stream";
	kl_sig_init();
	memset(&o, 0, sizeof(o));
	o.timeout = 600;
	parse_args(&o, argc, argv);

	kl_err_clear(&e);
	if (kl_awsenv_config(&env, &o.aws, &o.stream, &e) == -1)
		kl_die(kl_err_status(&e), 0, "%s", e.msg);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		kl_die(KL_EXIT_FAIL, 0, "cannot initialise libcurl");
	if (kl_awsenv_open(&env, &o.aws, &e) == -1)
		kl_die(kl_err_status(&e), 0, "%s", e.msg);

	kl_out_init();
	i = o.stream.name[0] != '\0';
	if (run(&o, &env.aws, &e) == -1) {
		status = kl_err_status(&e);
		if (e.kind != KL_ERR_STOPPED)
			kl_log(KL_FATAL, 0, "cannot %s%s%s%s: %s", o.what,
			    i ? " '" : "", o.stream.name, i ? "'" : "", e.msg);
	}
	if (kl_out_close(&kl_stdout) == -1) {
		if (status == KL_EXIT_OK)
			kl_log(KL_FATAL, errno, "cannot write the standard "
			    "output");
		status = kl_exit_worst(status, KL_EXIT_FAIL);
	}
	if (status == KL_EXIT_OK)
		kl_log(KL_INFO, 0, "%s: %ld %s written", o.cmd, o.count,
		    o.count == 1 ? "record" : "records");
	kl_awsenv_free(&env);
	curl_global_cleanup();
	kl_exit(status);
}
