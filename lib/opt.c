/*
 * opt.c - the parts of a command line that every command handles alike:
 * -v, the AWS and Lytics options of contract 2, the options of the job
 * runners, and the checks and messages of option values that several
 * commands take.
 *
 * Design decisions:
 *
 * - The command keeps its getopt_long loop, its usage and -h and -V
 *   (they print to standard output and exit, which the library never
 *   does).  These helpers store a value or log why it is wrong at error
 *   level and return -1; the command then calls its usage(2), so exit 2
 *   still means that nothing was read or sent.
 * - One wording per kind of value, so that "--linger wants milliseconds"
 *   reads the same in every command that takes it.
 */
#include <config.h>

#include <getopt.h>
#include <string.h>

#include "kl.h"

/*
 * Offers the option ch (with its argument arg) to the options every
 * command shares: -v counts into kl_verbose; the AWS options go to aws
 * and the Lytics options to lyt, each if not NULL (kl_awsopt,
 * kl_lyticsopt).  Returns 1 if ch was one of them, 0 if not, -1 if its
 * value is bad (the reason logged).
 */
int
kl_opt_common(int ch, const char *arg, struct kl_awsopts *aws,
    struct kl_lyticsopts *lyt)
{
	int r;

	if (ch == 'v') {
		kl_verbose++;
		return 1;
	}
	if (aws != NULL && (r = kl_awsopt(aws, ch, arg)) != 0)
		return r;
	if (lyt != NULL && (r = kl_lyticsopt(lyt, ch, arg)) != 0)
		return r;
	return 0;
}

/*
 * Offers the option ch to the options of the job runners kl-import and
 * kl-export (KL_JOB_LONGOPTS).  Returns 1 if ch was one of them (stored
 * in o; arg is kept, not copied), else 0.
 */
int
kl_jobopt(struct kl_jobopts *o, int ch, const char *arg)
{
	switch (ch) {
	case KL_OPT_DRY_RUN:
		o->dry_run = 1;
		return 1;
	case KL_OPT_JOB:
		o->file = arg;
		return 1;
	case KL_OPT_ONCE:
		o->once = 1;
		return 1;
	default:
		return 0;
	}
}

/*
 * Checks a job runner's command line once the options are read: no
 * operands (argc, argv: those left), --job given, and --once not with
 * the runner's own option for running until stopped (keep, named
 * keep_name).  Returns 0, or -1 with what is wrong logged.
 */
int
kl_jobopts_check(const struct kl_jobopts *o, int argc, char **argv,
    int keep, const char *keep_name)
{
	if (argc > 0)
		kl_log(KL_ERROR, 0, "unexpected operand '%s'", argv[0]);
	else if (o->file == NULL)
		kl_log(KL_ERROR, 0, "--job is required");
	else if (o->once && keep)
		kl_log(KL_ERROR, 0, "--once and %s exclude each other",
		    keep_name);
	else
		return 0;
	return -1;
}

/*
 * Checks a --role-arn value by STS's rules (kl_sts_role_arn_check), for
 * the commands that assume the role themselves.  Returns 0, or -1 with
 * the rule broken logged.
 */
int
kl_opt_role_arn(const char *arg)
{
	char why[400];

	if (kl_sts_role_arn_check(arg, why, sizeof(why)) == 0)
		return 0;
	kl_log(KL_ERROR, 0, "--role-arn '%s': %s", arg, why);
	return -1;
}

/*
 * Parses the value arg of option --name as a whole number from min to
 * max into *v.  Returns 0, or -1 with "--NAME wants a whole number from
 * MIN to MAX" logged.
 */
int
kl_opt_uint(const char *name, const char *arg, unsigned long long min,
    unsigned long long max, unsigned long long *v)
{
	if (kl_parse_uint(arg, min, max, v) == 0)
		return 0;
	kl_log(KL_ERROR, 0, "--%s wants a whole number from %llu to %llu: "
	    "'%s'", name, min, max, arg);
	return -1;
}

/*
 * Parses the value arg of option --name as milliseconds, 0 to a day
 * (kl_parse_ms), into *v.  Returns 0, or -1 with the reason logged.
 */
int
kl_opt_ms(const char *name, const char *arg, long *v)
{
	if (kl_parse_ms(arg, v) == 0)
		return 0;
	kl_log(KL_ERROR, 0, "--%s wants milliseconds, 0 to 86400000: '%s'",
	    name, arg);
	return -1;
}

/*
 * Returns the long name of the option whose code is ch in the table
 * longopts (ended by a NULL name), or "?" if it has none.
 */
const char *
kl_opt_name(const struct option *longopts, int ch)
{
	for (; longopts->name != NULL; longopts++)
		if (longopts->val == ch)
			return longopts->name;
	return "?";
}

/* Returns how messages name the input operand path: "<stdin>" for "-". */
const char *
kl_input_name(const char *path)
{
	return strcmp(path, "-") == 0 ? "<stdin>" : path;
}
