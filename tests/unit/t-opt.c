/*
 * t-opt.c - unit tests of what every command handles alike: the exit
 * status of a library failure (log.c, kl_err_status) and the shared
 * option helpers of opt.c.  The helpers' messages go to standard error.
 */
#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "kl.h"
#include "tap.h"

static void
test_status(void)
{
	static const struct { int kind, status; } t[] = {
		{ KL_ERR_NONE, KL_EXIT_FAIL },
		{ KL_ERR_TRANSIENT, KL_EXIT_TEMPFAIL },
		{ KL_ERR_PERMANENT, KL_EXIT_FAIL },
		{ KL_ERR_CREDS, KL_EXIT_FAIL },
		{ KL_ERR_SKEW, KL_EXIT_FAIL },
		{ KL_ERR_ITERATOR, KL_EXIT_FAIL },
		{ KL_ERR_STOPPED, KL_EXIT_TEMPFAIL },
		{ KL_ERR_CONFIG, KL_EXIT_USAGE },
	};
	struct kl_err e;
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		kl_err_clear(&e);
		e.kind = t[i].kind;
		is_int(kl_err_status(&e), t[i].status, "kind %d: exit %d",
		    t[i].kind, t[i].status);
	}
	kl_err_set(&e, KL_ERR_CONFIG, 0, NULL, "'f' is readable by group or "
	    "others; run: chmod 600 f");
	e.sys = EPERM;
	is_int(kl_err_status(&e), KL_EXIT_USAGE,
	    "a secret file others can read: exit 2, as any configuration");
}

static void
test_values(void)
{
	static const struct option longopts[] = {
		KL_STD_LONGOPTS,
		{ "batch-size", required_argument, NULL, 400 },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long long v = 7;
	long ms = 7;
	int verbose = kl_verbose;

	ok(kl_opt_uint("limit", "12", 1, 100, &v) == 0 && v == 12,
	    "a number in range");
	ok(kl_opt_uint("limit", "0", 1, 100, &v) == -1 && v == 12,
	    "a number below the range: -1, unchanged");
	ok(kl_opt_uint("limit", "12x", 1, 100, &v) == -1, "not a number: -1");
	ok(kl_opt_ms("linger", "250", &ms) == 0 && ms == 250, "milliseconds");
	ok(kl_opt_ms("linger", "86400001", &ms) == -1 && ms == 250,
	    "more than a day: -1");
	is_str(kl_opt_name(longopts, 400), "batch-size", "an option's name");
	is_str(kl_opt_name(longopts, 'v'), "verbose", "-v is --verbose");
	is_str(kl_opt_name(longopts, 401), "?", "no such option");
	is_str(kl_input_name("-"), "<stdin>", "'-' is <stdin>");
	is_str(kl_input_name("a.ndjson"), "a.ndjson", "a file is its path");
	is_int(kl_opt_common('v', NULL, NULL, NULL), 1, "-v is taken");
	is_int(kl_verbose, verbose + 1, "-v counts");
	kl_verbose = verbose;
	is_int(kl_opt_common('x', NULL, NULL, NULL), 0, "-x is not");
	ok(kl_opt_role_arn("arn:aws:iam::123456789012:role/kl") == 0,
	    "a role ARN");
	ok(kl_opt_role_arn("arn:aws:iam::123456789:role/kl") == -1,
	    "a role ARN with a 9-digit account: -1");
}

static void
test_jobopts(void)
{
	struct kl_jobopts o;
	char extra[] = "extra";
	char *operands[] = { extra, NULL };

	memset(&o, 0, sizeof(o));
	ok(kl_jobopt(&o, KL_OPT_JOB, "a.job") == 1 && o.file != NULL &&
	    strcmp(o.file, "a.job") == 0, "--job");
	ok(kl_jobopt(&o, KL_OPT_ONCE, NULL) == 1 && o.once, "--once");
	ok(kl_jobopt(&o, KL_OPT_DRY_RUN, NULL) == 1 && o.dry_run,
	    "--dry-run");
	is_int(kl_jobopt(&o, 'v', NULL), 0, "-v is not a job option");
	is_int(kl_jobopts_check(&o, 0, operands + 1, 0, "--follow"), 0,
	    "--job --once: good");
	is_int(kl_jobopts_check(&o, 1, operands, 0, "--follow"), -1,
	    "an operand: bad");
	is_int(kl_jobopts_check(&o, 0, operands + 1, 1, "--follow"), -1,
	    "--once --follow: bad");
	o.file = NULL;
	o.once = 0;
	is_int(kl_jobopts_check(&o, 0, operands + 1, 1, "--follow"), -1,
	    "no --job: bad");
}

int
main(void)
{
	kl_prog = "t-opt";
	test_status();
	test_values();
	test_jobopts();
	return done_testing();
}
