/*
 * kl-auth.c - keep named AWS authorizations, resolve and verify AWS
 * credentials, print the IAM policy documents of delegated access.
 *
 * One command word, then its operand.  add, list, show and remove manage
 * the store (store.c); creds prints a credential record (contract 5.1)
 * through the same provider chain every command uses (creds.c, with
 * sts.c's AssumeRole and cache), so it works as credential_process;
 * verify asks STS who the credentials are; policy prints a document and
 * needs no credentials.
 *
 * Design decisions:
 *
 * - Keys never come from argv: add reads them from the standard input (a
 *   JSON object, or two lines), from a terminal prompt that does not echo
 *   the secret, or with --from-env from the AWS_* variables.
 *   Keys that cannot be right (a temporary ASIA key, blanks, the wrong
 *   shape) are a configuration error, exit 2, and are never quoted.
 * - Every option is checked against the command word before anything is
 *   read, so exit 2 still means nothing was read or sent.
 * - A store file that group or others can read is refused with exit 1
 *   (the rule; store.c reports it so for every command), naming
 *   the chmod that fixes it; list goes on past it and exits 1.  A
 *   --credentials file like that is exit 2, as in every command, and a
 *   cache file like that is not used.
 * - The command is split in files only for size: auth/creds.c
 *   (creds, verify), auth/keys.c (reading keys), auth/store.c (add,
 *   list, show, remove), auth/policy.c (policy); auth/auth.h is what
 *   they share.
 */
#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kl.h"
#include "auth/auth.h"

static const struct option longopts[] = {
	KL_STD_LONGOPTS,
	{ "account", required_argument, NULL, OPT_ACCOUNT },
	{ "credentials", required_argument, NULL, KL_OPT_CREDENTIALS },
	{ "description", required_argument, NULL, OPT_DESCRIPTION },
	{ "direction", required_argument, NULL, OPT_DIRECTION },
	{ "document", required_argument, NULL, OPT_DOCUMENT },
	{ "duration", required_argument, NULL, KL_OPT_DURATION },
	{ "endpoint-url", required_argument, NULL, KL_OPT_ENDPOINT_URL },
	{ "external-id", required_argument, NULL, KL_OPT_EXTERNAL_ID },
	{ "from-env", no_argument, NULL, OPT_FROM_ENV },
	{ "label", required_argument, NULL, OPT_LABEL },
	{ "no-keys", no_argument, NULL, OPT_NO_KEYS },
	{ "principal", required_argument, NULL, OPT_PRINCIPAL },
	{ "profile", required_argument, NULL, KL_OPT_PROFILE },
	{ "region", required_argument, NULL, 'r' },
	{ "replace", no_argument, NULL, OPT_REPLACE },
	{ "role-arn", required_argument, NULL, KL_OPT_ROLE_ARN },
	{ "session-name", required_argument, NULL, KL_OPT_SESSION_NAME },
	{ "stream", required_argument, NULL, OPT_STREAM },
	{ NULL, 0, NULL, 0 },
};

/* Which options each command word takes, and how many operands. */
#define CHAIN	(A_REGION | A_CREDENTIALS | A_DURATION | A_ENDPOINT | \
	    A_EXTERNAL | A_PROFILE | A_ROLE | A_SESSION)
static const struct {
	const char	*cmd;
	int		 allowed;
	int		 min, max;
} cmds[] = {
	{ "add", A_REGION | A_DESCRIPTION | A_DURATION | A_EXTERNAL |
	    A_FROM_ENV | A_LABEL | A_NO_KEYS | A_REPLACE | A_ROLE | A_SESSION,
	    1, 1 },
	{ "list", 0, 0, 0 },
	{ "show", 0, 1, 1 },
	{ "remove", 0, 1, 1 },
	{ "creds", CHAIN, 0, 1 },
	{ "verify", CHAIN, 0, 1 },
	{ "policy", A_REGION | A_ACCOUNT | A_DIRECTION | A_DOCUMENT |
	    A_EXTERNAL | A_PRINCIPAL | A_STREAM, 0, 0 },
};

static const char *const optnames[] = {	/* by bit number */
	"--region", "--credentials", "--duration", "--endpoint-url",
	"--external-id", "--profile", "--role-arn", "--session-name",
	"--account", "--description", "--direction", "--document",
	"--from-env", "--label", "--no-keys", "--principal", "--replace",
	"--stream",
};

static void usage(int) KL_NORETURN;

static void
usage(int status)
{
	FILE *f = status == 0 ? stdout : stderr;

	fputs("usage: kl-auth add [-v] [--from-env | --no-keys] [--replace] "
	    "[-r region]\n"
	    "\t[--description text] [--duration seconds] [--external-id id]\n"
	    "\t[--label text] [--role-arn arn] [--session-name name] name\n"
	    "       kl-auth list [-v]\n"
	    "       kl-auth show [-v] name\n"
	    "       kl-auth remove [-v] name\n"
	    "       kl-auth creds [-v] [-r region] [--credentials file] "
	    "[--duration seconds]\n"
	    "\t[--endpoint-url url] [--external-id id] [--profile name]\n"
	    "\t[--role-arn arn] [--session-name name] [name]\n"
	    "       kl-auth verify [-v] [-r region] [--credentials file] "
	    "[--duration seconds]\n"
	    "\t[--endpoint-url url] [--external-id id] [--profile name]\n"
	    "\t[--role-arn arn] [--session-name name] [name]\n"
	    "       kl-auth policy [-r region] [--direction export | import] "
	    "[--external-id id]\n"
	    "\t[--principal arn] [--stream name] --account id\n"
	    "\t--document trust | permissions\n"
	    "       kl-auth -h | -V\n", f);
	if (status == 0)
		fputs("\n"
		    "commands:\n"
		    "  add NAME       store an authorization; keys from stdin, "
		    "a prompt or --from-env\n"
		    "  list           one line per stored authorization\n"
		    "  show NAME      the authorization, without its secret\n"
		    "  remove NAME    forget an authorization\n"
		    "  creds [NAME]   a credential record (credential_process)\n"
		    "  verify [NAME]  who the credentials are "
		    "(GetCallerIdentity)\n"
		    "  policy         an IAM policy document for delegated "
		    "access\n"
		    "options:\n"
		    "  -h, --help                  print this help and exit\n"
		    "  -V, --version               print the version and exit\n"
		    "  -v, --verbose               report progress; twice for "
		    "debugging\n"
		    "      --from-env              add: keys from "
		    "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY\n"
		    "      --no-keys               add: no keys; the default "
		    "chain's are the base\n"
		    "      --replace               add: replace an "
		    "authorization of that name\n"
		    "  -r, --region=REGION         the AWS region\n"
		    "      --account=ID            policy: the 12-digit account "
		    "of the stream and role\n"
		    "      --credentials=FILE      a credential record file\n"
		    "      --description=TEXT      add: what it is for\n"
		    "      --direction=DIR         policy: export (put) or "
		    "import (read)\n"
		    "      --document=DOC          policy: trust or "
		    "permissions\n"
		    "      --duration=SECONDS      AssumeRole duration, 900 to "
		    "43200\n"
		    "      --endpoint-url=URL      the STS endpoint\n"
		    "      --external-id=ID        the role's external id\n"
		    "      --label=TEXT            add: a short label\n"
		    "      --principal=ARN         policy: who may assume the "
		    "role\n"
		    "      --profile=NAME          an AWS profile\n"
		    "      --role-arn=ARN          the role to assume\n"
		    "      --session-name=NAME     the AssumeRole session name\n"
		    "      --stream=NAME           policy: the Kinesis stream\n",
		    f);
	exit(status);
}

static void bad(const char *, ...) KL_PRINTF(1, 2) KL_NORETURN;

static void
bad(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	kl_vlog(KL_ERROR, 0, fmt, ap);
	va_end(ap);
	usage(2);
}

/* Options of this command only (kl_awsopt takes the shared ones). */
static void
own_opt(struct opts *o, int ch, const char *arg)
{
	switch (ch) {
	case OPT_ACCOUNT:
		o->account = arg;
		break;
	case OPT_DESCRIPTION:
		o->description = arg;
		break;
	case OPT_DIRECTION:
		if (strcmp(arg, "export") != 0 && strcmp(arg, "import") != 0)
			bad("--direction wants export or import: '%s'", arg);
		o->direction = arg;
		break;
	case OPT_DOCUMENT:
		if (strcmp(arg, "trust") != 0 &&
		    strcmp(arg, "permissions") != 0)
			bad("--document wants trust or permissions: '%s'", arg);
		o->document = arg;
		break;
	case OPT_FROM_ENV:
		o->from_env = 1;
		break;
	case OPT_LABEL:
		o->label = arg;
		break;
	case OPT_NO_KEYS:
		o->no_keys = 1;
		break;
	case OPT_PRINCIPAL:
		o->principal = arg;
		break;
	case OPT_REPLACE:
		o->replace = 1;
		break;
	case OPT_STREAM:
		if (!kl_stream_name_ok(arg))
			bad("--stream wants 1-128 letters, digits, '_', '.' or "
			    "'-': '%s'", arg);
		o->stream = arg;
		break;
	default:
		usage(2);
	}
}

static int
bit_of(int ch)
{
	switch (ch) {
	case 'r': return A_REGION;
	case KL_OPT_CREDENTIALS: return A_CREDENTIALS;
	case KL_OPT_DURATION: return A_DURATION;
	case KL_OPT_ENDPOINT_URL: return A_ENDPOINT;
	case KL_OPT_EXTERNAL_ID: return A_EXTERNAL;
	case KL_OPT_PROFILE: return A_PROFILE;
	case KL_OPT_ROLE_ARN: return A_ROLE;
	case KL_OPT_SESSION_NAME: return A_SESSION;
	case OPT_ACCOUNT: return A_ACCOUNT;
	case OPT_DESCRIPTION: return A_DESCRIPTION;
	case OPT_DIRECTION: return A_DIRECTION;
	case OPT_DOCUMENT: return A_DOCUMENT;
	case OPT_FROM_ENV: return A_FROM_ENV;
	case OPT_LABEL: return A_LABEL;
	case OPT_NO_KEYS: return A_NO_KEYS;
	case OPT_PRINCIPAL: return A_PRINCIPAL;
	case OPT_REPLACE: return A_REPLACE;
	case OPT_STREAM: return A_STREAM;
	default: return 0;
	}
}

/* The command word, its operands, and the options that go with it. */
static void
check_args(struct opts *o, int argc, char **argv)
{
	size_t i, n = sizeof(cmds) / sizeof(cmds[0]);
	int b, k;

	if (argc < 1)
		usage(2);
	for (i = 0; i < n && strcmp(argv[0], cmds[i].cmd) != 0; i++)
		;
	if (i == n)
		bad("unknown command '%s'", argv[0]);
	o->cmd = argv[0];
	if (argc - 1 < cmds[i].min || argc - 1 > cmds[i].max) {
		kl_log(KL_ERROR, 0, cmds[i].max == 0 ? "%s takes no operand" :
		    cmds[i].min == 1 ? "%s wants one name" :
		    "%s takes at most one name", o->cmd);
		usage(2);
	}
	o->name = argc > 1 ? argv[1] : NULL;
	for (b = o->given & ~cmds[i].allowed, k = 0; b != 0; b >>= 1, k++)
		if (b & 1) {
			kl_log(KL_ERROR, 0, "%s does not go with %s",
			    optnames[k], o->cmd);
			usage(2);
		}
	if (o->name != NULL && !kl_store_name_ok(o->name))
		bad("bad authorization name '%s': 1-64 letters, digits, '_', "
		    "'.' or '-'", o->name);
	if ((o->given & (A_EXTERNAL | A_SESSION | A_DURATION)) &&
	    !(o->given & A_ROLE) && strcmp(o->cmd, "policy") != 0)
		bad("%s", "--external-id, --session-name and --duration go "
		    "with --role-arn");
	if (o->from_env && o->no_keys)
		bad("%s", "--from-env and --no-keys exclude each other");
	if (o->no_keys && !(o->given & A_ROLE))
		bad("%s", "--no-keys goes with --role-arn: an authorization of "
		    "keys needs keys");
}

static void
parse_args(struct opts *o, int argc, char **argv)
{
	int ch, r;

	while ((ch = getopt_long(argc, argv, "Vhr:v", longopts, NULL)) != -1) {
		o->given |= bit_of(ch);
		if ((ch == KL_OPT_ROLE_ARN && kl_opt_role_arn(optarg) == -1) ||
		    (r = kl_opt_common(ch, optarg, &o->aws, NULL)) == -1)
			usage(2);
		if (r == 1)
			continue;
		switch (ch) {
		case 'V':
			printf("kl-auth (kl) %s\n", PACKAGE_VERSION);
			exit(0);
		case 'h':
			usage(0);
			break;
		default:
			own_opt(o, ch, optarg);
		}
	}
	check_args(o, argc - optind, argv + optind);
}

int
main(int argc, char **argv)
{
	struct opts o;
	int status;

	kl_prog = "kl-auth";
	kl_sig_init();
	memset(&o, 0, sizeof(o));
	parse_args(&o, argc, argv);
	kl_out_init();
	if (strcmp(o.cmd, "add") == 0)
		status = cmd_add(&o);
	else if (strcmp(o.cmd, "list") == 0 || strcmp(o.cmd, "show") == 0)
		status = cmd_show(&o);
	else if (strcmp(o.cmd, "remove") == 0)
		status = cmd_remove(&o);
	else if (strcmp(o.cmd, "policy") == 0)
		status = cmd_policy(&o);
	else
		status = cmd_creds(&o, strcmp(o.cmd, "verify") == 0);
	if (kl_out_close(&kl_stdout) == -1) {
		if (status == KL_EXIT_OK)
			kl_log(KL_FATAL, errno, "cannot write the standard "
			    "output");
		status = kl_exit_worst(status, KL_EXIT_FAIL);
	}
	kl_exit(status);
}
