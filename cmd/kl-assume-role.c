/*
 * kl-assume-role.c - STS AssumeRole for delegated authorization: assume
 * a role with some source credentials and write the role's credentials,
 * a credential record (contract 5.1) or export lines for eval.
 *
 * Design decisions:
 *
 * - The source credentials come from the chain of contract 3 without its
 *   --role-arn step (that role is the one assumed here), or, with the
 *   operand '-', from a credential record on the standard input, so
 *   `kl-auth creds prod | kl-assume-role --role-arn ... -` works and the
 *   secret never passes through argv.  --auth, --credentials, --profile
 *   and '-' exclude each other.
 * - The role is always assumed afresh: the cache (sts.c) serves only the
 *   source chain, say a delegated --auth, never this command's answer.
 * - The role ARN, external id, session name and duration are checked
 *   before anything is read or sent (exit 2), with the rule broken; a
 *   9-digit account is named as the placeholder of Lytics' example.
 * - --endpoint-url is the STS endpoint: STS is this command's service.
 * - Failures: STS refusing (AccessDenied, InvalidClientTokenId,
 *   ExpiredToken, a malformed reply) exit 1; Throttling and 5xx after the
 *   retries exit 75; a source record on stdin that is not one exits 1.
 */
#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "kl.h"

#define RECORD_MAX	(64 * 1024)

enum { OPT_FORMAT = KL_OPT_FREE };

struct opts {
	struct kl_awsopts aws;		/* the source chain's options */
	struct kl_assume  role;		/* the role to assume */
	int		  env;		/* --format env */
	int		  stdin_record;	/* the operand '-' */
};

static const struct option longopts[] = {
	KL_STD_LONGOPTS,
	KL_AWS_LONGOPTS,
	KL_ASSUME_LONGOPTS,
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ NULL, 0, NULL, 0 },
};

static void usage(int) KL_NORETURN;

static void
usage(int status)
{
	FILE *f = status == 0 ? stdout : stderr;

	fputs("usage: kl-assume-role [-hVv] [-r region]\n"
	    "\t[--auth name | --credentials file | --profile name]\n"
	    "\t[--duration seconds] [--endpoint-url url] [--external-id id]\n"
	    "\t[--format json | env] [--session-name name] --role-arn arn "
	    "[-]\n", f);
	if (status == 0)
		fputs("\n"
		    "  -h, --help               print this help and exit\n"
		    "  -V, --version            print the version and exit\n"
		    "  -v, --verbose            report progress; twice for "
		    "debugging\n"
		    "  -r, --region=REGION      the AWS region (its STS "
		    "endpoint)\n"
		    "      --auth=NAME          source: a stored authorization "
		    "(kl-auth)\n"
		    "      --credentials=FILE   source: a credential record "
		    "file\n"
		    "      --profile=NAME       source: an AWS profile\n"
		    "      --duration=SECONDS   the session's length, 900 to "
		    "43200\n"
		    "      --endpoint-url=URL   the STS endpoint\n"
		    "      --external-id=ID     the external id the role "
		    "wants\n"
		    "      --format=FORMAT      json (a credential record) or "
		    "env (export lines)\n"
		    "      --session-name=NAME  the session name (default "
		    "kl-USER-TIME)\n"
		    "      --role-arn=ARN       the role to assume; required\n"
		    "  -                        source: a credential record on "
		    "the standard input\n", f);
	exit(status);
}

static void
parse_args(struct opts *o, int argc, char **argv)
{
	int ch, r, sources;

	while ((ch = getopt_long(argc, argv, "Vhr:v", longopts, NULL)) != -1) {
		if ((ch == KL_OPT_ROLE_ARN && kl_opt_role_arn(optarg) == -1) ||
		    (r = kl_opt_common(ch, optarg, &o->aws, NULL)) == -1)
			usage(2);
		if (r == 1)
			continue;
		switch (ch) {
		case 'V':
			printf("kl-assume-role (kl) %s\n", PACKAGE_VERSION);
			exit(0);
		case 'h':
			usage(0);
			break;
		case OPT_FORMAT:
			if (strcmp(optarg, "json") != 0 &&
			    strcmp(optarg, "env") != 0) {
				kl_log(KL_ERROR, 0, "--format wants json or env: "
				    "'%s'", optarg);
				usage(2);
			}
			o->env = strcmp(optarg, "env") == 0;
			break;
		default:
			usage(2);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc > 1 || (argc == 1 && strcmp(argv[0], "-") != 0)) {
		kl_log(KL_ERROR, 0, "the only operand is '-', a credential "
		    "record on the standard input");
		usage(2);
	}
	o->stdin_record = argc == 1;
	if (o->aws.role_arn == NULL) {
		kl_log(KL_ERROR, 0, "--role-arn is required");
		usage(2);
	}
	sources = o->stdin_record + (o->aws.auth != NULL) +
	    (o->aws.credentials != NULL) + (o->aws.profile != NULL);
	if (sources > 1) {
		kl_log(KL_ERROR, 0, "--auth, --credentials, --profile and '-' "
		    "exclude each other");
		usage(2);
	}
	/* The role is ours to assume, not the source chain's. */
	o->role.role_arn = o->aws.role_arn;
	o->role.external_id = o->aws.external_id;
	o->role.session_name = o->aws.session_name;
	o->role.duration = o->aws.duration;
	o->aws.role_arn = o->aws.external_id = o->aws.session_name = NULL;
	o->aws.duration = 0;
	o->aws.endpoint_sts = 1;
}

/* The source credentials from a record on the standard input. */
static void
stdin_creds(struct kl_creds *c)
{
	struct kl_buf b;
	char why[200], t[32];
	ssize_t r;

	kl_buf_init(&b);
	if (kl_buf_reserve(&b, RECORD_MAX + 1) == -1)
		kl_die(KL_EXIT_FAIL, ENOMEM, "cannot read the standard input");
	for (;;) {
		r = read(STDIN_FILENO, b.data + b.len, RECORD_MAX + 1 - b.len);
		if (r == -1 && errno == EINTR && !kl_stopping())
			continue;
		if (r == -1 && kl_stopping())
			kl_exit(KL_EXIT_TEMPFAIL);
		if (r == -1)
			kl_die(KL_EXIT_FAIL, errno, "cannot read the standard "
			    "input");
		if (r == 0 || (b.len += (size_t)r) > RECORD_MAX)
			break;
	}
	if (b.len > RECORD_MAX)
		kl_die(KL_EXIT_FAIL, 0, "<stdin>: more than 64 KiB: not a "
		    "credential record");
	if (kl_creds_parse(b.data, b.len, c, why, sizeof(why)) == -1) {
		kl_buf_wipe(&b);
		kl_die(KL_EXIT_FAIL, 0, "<stdin>: not a credential record "
		    "(contract 5.1): %s", why);
	}
	kl_buf_wipe(&b);
	if (c->expiration != 0 && c->expiration <= time(NULL)) {
		kl_time_fmt(t, sizeof(t), c->expiration, -1);
		kl_die(KL_EXIT_FAIL, 0, "<stdin>: the credentials expired at %s",
		    t);
	}
	kl_log(KL_DEBUG, 0, "source credentials: <stdin> (key %s)",
	    kl_akid_tail(c->akid));
}

/* Appends "export NAME='value'\n", value quoted for the shell. */
static void
export(struct kl_buf *b, const char *name, const char *v)
{
	kl_buf_addf(b, "export %s='", name);
	for (; *v != '\0'; v++)
		if (*v == '\'')
			kl_buf_adds(b, "'\\''");
		else
			kl_buf_addc(b, *v);
	kl_buf_adds(b, "'\n");
}

static int
output(const struct opts *o, const struct kl_creds *c)
{
	struct kl_buf b;
	char t[32];
	int r;

	kl_buf_init(&b);
	if (!o->env)
		kl_creds_format(&b, c);
	else {
		export(&b, "AWS_ACCESS_KEY_ID", c->akid);
		export(&b, "AWS_SECRET_ACCESS_KEY", c->secret);
		export(&b, "AWS_SESSION_TOKEN", c->token);
		kl_time_fmt(t, sizeof(t), c->expiration, -1);
		export(&b, "AWS_CREDENTIAL_EXPIRATION", t);
		b.len--;	/* kl_emit adds the last newline */
	}
	r = b.err ? -1 : kl_emit(b.data, b.len);
	if (r == 0)
		r = kl_out_flush(&kl_stdout);
	kl_buf_wipe(&kl_stdout.b);
	kl_buf_wipe(&b);
	return r;
}

int
main(int argc, char **argv)
{
	struct opts o;
	struct kl_cfg cfg;
	struct kl_sts sts;
	struct kl_credsrc *src = NULL;
	struct kl_creds in, out;
	const struct kl_creds *base;
	struct kl_err e;
	int status = KL_EXIT_OK;

	kl_prog = "kl-assume-role";
	kl_sig_init();
	memset(&o, 0, sizeof(o));
	memset(&in, 0, sizeof(in));
	parse_args(&o, argc, argv);

	if (kl_cfg_load(&cfg, &o.aws, &e) == -1)
		kl_die(kl_err_status(&e), 0, "%s", e.msg);
	kl_cfg_debug(&cfg);
	o.role.region = cfg.region;
	o.role.sts_url = cfg.sts_url;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    kl_sts_init(&sts, cfg.ca_bundle, KL_STS_CACHE) == -1)
		kl_die(KL_EXIT_FAIL, 0, "cannot initialise libcurl");
	if (o.stdin_record) {
		stdin_creds(&in);
		base = &in;
	} else {
		if ((src = kl_credsrc_new(&o.aws, &cfg, kl_sts_assume, &sts,
		    &e)) == NULL)
			kl_die(kl_err_status(&e), 0, "%s", e.msg);
		kl_log(KL_DEBUG, 0, "source credentials: %s",
		    kl_credsrc_describe(src));
		if (kl_credsrc_get(src, time(NULL), &base, &e) == -1)
			kl_die(kl_err_status(&e), 0, "%s", e.msg);
	}

	kl_out_init();
	if (kl_sts_assume_role(&sts, base, &o.role, &out, &e) == -1) {
		status = kl_err_status(&e);
		if (e.kind != KL_ERR_STOPPED)
			kl_log(KL_FATAL, 0, "cannot assume role '%s': %s",
			    o.role.role_arn, e.msg);
	} else if (output(&o, &out) == -1) {
		kl_log(KL_FATAL, errno, "cannot write the credentials");
		status = KL_EXIT_FAIL;
	}
	kl_creds_free(&out);
	if (kl_out_close(&kl_stdout) == -1 && status == KL_EXIT_OK) {
		kl_log(KL_FATAL, errno, "cannot write the standard output");
		status = KL_EXIT_FAIL;
	}
	kl_creds_free(&in);
	kl_credsrc_free(src);
	kl_sts_free(&sts);
	kl_cfg_free(&cfg);
	curl_global_cleanup();
	kl_exit(status);
}
