/*
 * kl-export.c - run an "Export Audience Triggers" job from a job file:
 * each user entering or leaving the job's Lytics audiences becomes a
 * record in a Kinesis stream, keyed by the identifier field.
 *
 * The job file (kl-job(5), job.c) names the audiences and the stream;
 * kl-export runs
 *
 *	kl-read-audience --audience A... --watch --state DIR [--once]
 *	    [--backfill] | kl-trigger-put --stream S [--partition-key F]
 *
 * as two child processes (pipeline.c), DIR being in the job's state
 * folder, and exits with the most serious of their statuses.
 *
 * Design decisions:
 *
 * - As in kl-import: sibling binaries run by fork/exec, argv from the job
 *   file, no shell, no secret in argv, a lock in the state folder, quiet
 *   on success (the put acknowledgements are counted, not printed).
 * - existing_users = yes backfills once per state folder: the first run
 *   adds --backfill, which sends every current member as an enter event;
 *   once a run with it has ended with status 0, the file
 *   export.backfilled in the state folder records that, and later runs
 *   only send what changed.  A backfill that fails is done again.
 * - Without --once the job watches until a signal, as Lytics' own export
 *   does; a pending backfill then runs first as a pipeline of its own
 *   with --once, so that its success is known (and recorded) before the
 *   watch begins.
 */
#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kl.h"

enum { OPT_WATCH = KL_OPT_FREE };

struct opts {
	struct kl_jobopts job;		/* --dry-run, --job, --once */
	int		 watch;		/* given; the default */
};

static const struct option longopts[] = {
	KL_STD_LONGOPTS,
	KL_JOB_LONGOPTS,
	{ "watch", no_argument, NULL, OPT_WATCH },
	{ NULL, 0, NULL, 0 },
};

static void
usage(int status)
{
	FILE *f = status == 0 ? stdout : stderr;

	fputs("usage: kl-export [-hVv] [--dry-run] [--once | --watch] "
	    "--job file\n", f);
	if (status == 0)
		fputs("\n"
		    "  -h, --help       print this help and exit\n"
		    "  -V, --version    print the version and exit\n"
		    "  -v, --verbose    report progress; twice for debugging\n"
		    "      --dry-run    print the pipeline, check the job, "
		    "run nothing\n"
		    "      --job=FILE   the job file (kl-job(5))\n"
		    "      --once       send what changed since the last run, "
		    "then exit\n"
		    "      --watch      run until stopped (the default)\n", f);
	exit(status);
}

static void
parse_args(struct opts *o, int argc, char **argv)
{
	int ch;

	while ((ch = getopt_long(argc, argv, "Vhv", longopts, NULL)) != -1) {
		if (kl_opt_common(ch, optarg, NULL, NULL) == 1 ||
		    kl_jobopt(&o->job, ch, optarg) == 1)
			continue;
		switch (ch) {
		case 'V':
			printf("kl-export (kl) %s\n", PACKAGE_VERSION);
			exit(0);
		case 'h':
			usage(0);
			break;
		case OPT_WATCH:
			o->watch = 1;
			break;
		default:
			usage(2);
		}
	}
	if (kl_jobopts_check(&o->job, argc - optind, argv + optind, o->watch,
	    "--watch") == -1)
		usage(2);
}

/*
 * Builds into pl the pipeline of job j: with once, one comparison (and
 * the backfill, if backfill), else the watch.
 */
static void
build(struct kl_pipeline *pl, const struct kl_job *j, int once, int backfill)
{
	struct kl_argv a, b;
	struct kl_err e;
	size_t i;

	kl_argv_init(&a);
	kl_argv_init(&b);
	for (i = 0; j->audiences[i] != NULL; i++) {
		kl_argv_add(&a, "--audience");
		kl_argv_add(&a, j->audiences[i]);
	}
	if (backfill)
		kl_argv_add(&a, "--backfill");
	kl_argv_add(&a, "--watch");
	kl_argv_add(&a, "--state");
	kl_argv_addf(&a, "%s/export.audiences", j->state_dir);
	if (once)
		kl_argv_add(&a, "--once");
	else if (j->poll_ms > 0)
		/* Whole seconds, rounded up: --interval=0 is refused. */
		kl_argv_addf(&a, "--interval=%ld", (j->poll_ms + 999) / 1000);
	if (j->export_fields != NULL) {
		kl_argv_add(&a, "--fields");
		kl_argv_add(&a, j->val[KL_JOB_EXPORT_FIELDS]);
	}
	if (j->val[KL_JOB_LYTICS_KEY_FILE] != NULL) {
		kl_argv_add(&a, "--lytics-key-file");
		kl_argv_add(&a, j->val[KL_JOB_LYTICS_KEY_FILE]);
	}

	kl_argv_add(&b, "--stream");
	kl_argv_add(&b, j->val[KL_JOB_KINESIS_STREAM]);
	if (j->val[KL_JOB_IDENTIFIER_FIELD] != NULL) {
		kl_argv_add(&b, "--partition-key");
		kl_argv_add(&b, j->val[KL_JOB_IDENTIFIER_FIELD]);
	}
	kl_argv_addf(&b, "--rejects=%s/export.rejects.ndjson", j->state_dir);
	kl_job_aws_args(j, &b);
	if (kl_pipeline_stage(pl, "kl-read-audience", kl_verbose, &a,
	    &e) == -1 ||
	    kl_pipeline_stage(pl, "kl-trigger-put", kl_verbose, &b, &e) == -1)
		kl_die(KL_EXIT_FAIL, 0, "%s", e.msg);
	kl_argv_free(&a);
	kl_argv_free(&b);
}

/* Counts one put acknowledgement (contract 5.4) of kl-trigger-put. */
static int
ack(void *arg, const char *s, size_t n)
{
	long *puts = arg;

	if (n > 0 && s[0] == '{')
		(*puts)++;
	return 0;
}

/* --dry-run: prints the pipelines and the checks; returns the status. */
static int
dry_run(const struct kl_pipeline *first, const struct kl_pipeline *pl,
    const struct kl_job *j)
{
	struct kl_buf b;
	struct kl_err e;
	int status;

	kl_buf_init(&b);
	if (first != NULL) {
		kl_buf_adds(&b, "# the backfill, once per state folder:\n");
		kl_pipeline_print(first, &b);
		kl_buf_adds(&b, "# then:\n");
	}
	kl_pipeline_print(pl, &b);
	kl_err_clear(&e);
	status = kl_job_dry_run(j, kl_verbose, &b, &e);
	if (b.err || kl_out_write(&kl_stdout, b.data, b.len) == -1 ||
	    kl_out_close(&kl_stdout) == -1)
		kl_die(KL_EXIT_FAIL, errno, "cannot write the standard output");
	kl_buf_free(&b);
	if (status != 0)
		kl_log(KL_FATAL, 0, "%s", e.msg);
	return status;
}

/* Runs pl; returns its status.  puts counts the records put. */
static int
run_one(struct kl_pipeline *pl, long *puts)
{
	struct kl_err e;
	int status;

	if ((status = kl_pipeline_run(pl, ack, puts, &e)) == -1)
		kl_die(KL_EXIT_FAIL, 0, "%s", e.msg);
	return status;
}

/* Records that the backfill is done: later runs leave it out. */
static void
backfilled(const char *mark)
{
	if (kl_atomic_write(mark, "yes\n", 4, 0600) == -1)
		kl_die(KL_EXIT_FAIL, errno, "cannot write '%s'", mark);
	kl_log(KL_INFO, 0, "backfill done: recorded in '%s'", mark);
}

/*
 * Runs the job: the state folder, the lock, the backfill pipeline bf (if
 * it has stages), then pl; records the backfill, if one was due, once it
 * succeeded.  Returns the status.
 */
static int
run(struct kl_pipeline *bf, struct kl_pipeline *pl, const struct kl_job *j,
    const struct opts *o, const char *mark, int backfill)
{
	struct kl_err e;
	long puts = 0;
	int status = 0, lock;

	if ((lock = kl_job_begin(j, "export.audiences", &e)) == -1)
		kl_die(kl_err_status(&e), 0, "%s", e.msg);
	kl_log(KL_INFO, 0, "job '%s': Lytics audiences '%s' to Kinesis stream "
	    "'%s'%s%s; state in '%s'", j->path, j->val[KL_JOB_AUDIENCES],
	    j->val[KL_JOB_KINESIS_STREAM], backfill ? ", with the backfill" :
	    "", o->job.once ? ", once" : "", j->state_dir);
	if (bf->n > 0 && (status = run_one(bf, &puts)) == 0)
		backfilled(mark);
	if (status == 0 && !kl_stopping() &&
	    (status = run_one(pl, &puts)) == 0 && backfill && bf->n == 0)
		backfilled(mark);
	kl_log(KL_INFO, 0, "%ld records put into '%s'%s", puts,
	    j->val[KL_JOB_KINESIS_STREAM], status == 0 ? "" :
	    " before the pipeline stopped");
	close(lock);
	return status;
}

int
main(int argc, char **argv)
{
	struct opts o;
	struct kl_job j;
	struct kl_pipeline bf, pl;
	struct kl_err e;
	char *mark;
	int status, backfill;

	kl_prog = "kl-export";
	kl_sig_init();
	memset(&o, 0, sizeof(o));
	parse_args(&o, argc, argv);

	if (kl_job_load(&j, KL_JOB_EXPORT, o.job.file, &e) == -1 ||
	    kl_job_state(&j, &e) == -1)
		kl_die(kl_err_status(&e), 0, "%s", e.msg);
	if (asprintf(&mark, "%s/export.backfilled", j.state_dir) == -1)
		kl_die(KL_EXIT_FAIL, ENOMEM, "kl-export");
	backfill = j.existing_users && access(mark, F_OK) == -1;
	kl_pipeline_init(&bf);
	kl_pipeline_init(&pl);
	if (backfill && !o.job.once)
		build(&bf, &j, 1, 1);
	build(&pl, &j, o.job.once, backfill && o.job.once);
	kl_out_init();
	status = o.job.dry_run ? dry_run(bf.n > 0 ? &bf : NULL, &pl, &j) :
	    run(&bf, &pl, &j, &o, mark, backfill);
	free(mark);
	kl_pipeline_free(&bf);
	kl_pipeline_free(&pl);
	kl_job_free(&j);
	kl_exit(status);
}
