/*
 * kl-import.c - run an "Import Activity Data" job from a job file: every
 * record of a Kinesis stream becomes an event in a Lytics data stream.
 *
 * The job file (kl-job(5), job.c) names the streams; kl-import runs
 *
 *	kl-read-shard --stream S --from trim-horizon --checkpoint CK \
 *	    [--follow] | kl-to-lytics --stream L --checkpoint CK \
 *	    --rejects RJ [--filter F]
 *
 * as two child processes (pipeline.c), CK and RJ being files in the
 * job's state folder, and exits with the most serious of their statuses.
 *
 * Design decisions:
 *
 * - The stages are the sibling binaries of kl-import (then PATH), run by
 *   fork/exec with argv built from the job file: no shell.  Secrets never
 *   reach argv: the stages inherit the environment (AWS_*, LYTICS_API_KEY)
 *   and read the files the job names (auth, lytics_key_file).
 * - kl-read-shard starts each shard just after its position in CK, and
 *   kl-to-lytics advances CK only once Lytics has acknowledged the events
 *   (contract 7): a rerun delivers only what is new, and a run that was
 *   killed loses nothing.  Shards not in CK start at TRIM_HORIZON, so a
 *   first run imports what the stream still holds.
 * - Without --once the job runs until a signal, as Lytics' own import
 *   does; --once drains the stream and exits (cron).
 * - A flock(2) lock in the state folder keeps two runs of one job apart;
 *   the second exits 75, naming the first one's PID.
 * - The batch acknowledgements of kl-to-lytics are read (not printed): a
 *   job is quiet on success, for cron; -v reports the counts.
 */
#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kl.h"

enum { OPT_FOLLOW = KL_OPT_FREE };

struct opts {
	struct kl_jobopts job;		/* --dry-run, --job, --once */
	int		 follow;	/* given; the default */
};

struct counts {			/* from kl-to-lytics' acknowledgements */
	long	 batches;
	long	 events;
	long	 rejected;
};

static const struct option longopts[] = {
	KL_STD_LONGOPTS,
	KL_JOB_LONGOPTS,
	{ "follow", no_argument, NULL, OPT_FOLLOW },
	{ NULL, 0, NULL, 0 },
};

static void
usage(int status)
{
	FILE *f = status == 0 ? stdout : stderr;

	fputs("usage: kl-import [-hVv] [--dry-run] [--follow | --once] "
	    "--job file\n", f);
	if (status == 0)
		fputs("\n"
		    "  -h, --help       print this help and exit\n"
		    "  -V, --version    print the version and exit\n"
		    "  -v, --verbose    report progress; twice for debugging\n"
		    "      --dry-run    print the pipeline, check the job, "
		    "run nothing\n"
		    "      --follow     run until stopped (the default)\n"
		    "      --job=FILE   the job file (kl-job(5))\n"
		    "      --once       import what the stream holds, then "
		    "exit\n", f);
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
			printf("kl-import (kl) %s\n", PACKAGE_VERSION);
			exit(0);
		case 'h':
			usage(0);
			break;
		case OPT_FOLLOW:
			o->follow = 1;
			break;
		default:
			usage(2);
		}
	}
	if (kl_jobopts_check(&o->job, argc - optind, argv + optind, o->follow,
	    "--follow") == -1)
		usage(2);
}

/* Builds the pipeline of job j into pl. */
static void
build(struct kl_pipeline *pl, const struct kl_job *j, const struct opts *o)
{
	struct kl_argv a, b;
	struct kl_err e;
	char *ck, *f;

	if (asprintf(&ck, "%s/import.checkpoint.json", j->state_dir) == -1)
		kl_die(KL_EXIT_FAIL, ENOMEM, "cannot build the pipeline");
	kl_argv_init(&a);
	kl_argv_init(&b);
	kl_argv_add(&a, "--stream");
	kl_argv_add(&a, j->val[KL_JOB_KINESIS_STREAM]);
	kl_argv_add(&a, "--from");
	kl_argv_add(&a, "trim-horizon");
	kl_argv_add(&a, "--checkpoint");
	kl_argv_add(&a, ck);
	if (!o->job.once) {
		kl_argv_add(&a, "--follow");
		if (j->poll_ms > 0)
			kl_argv_addf(&a, "--poll-interval=%ld", j->poll_ms);
	}
	kl_job_aws_args(j, &a);

	kl_argv_add(&b, "--stream");
	kl_argv_add(&b, j->val[KL_JOB_LYTICS_STREAM]);
	kl_argv_add(&b, "--checkpoint");
	kl_argv_add(&b, ck);
	kl_argv_addf(&b, "--rejects=%s/import.rejects.ndjson", j->state_dir);
	if (j->val[KL_JOB_FILTER] != NULL) {
		if ((f = kl_job_filter(j->val[KL_JOB_FILTER])) == NULL)
			kl_die(KL_EXIT_FAIL, ENOMEM, "kl-import");
		kl_argv_add(&b, "--filter");
		kl_argv_add(&b, f);
		free(f);
	}
	if (j->val[KL_JOB_LYTICS_KEY_FILE] != NULL) {
		kl_argv_add(&b, "--lytics-key-file");
		kl_argv_add(&b, j->val[KL_JOB_LYTICS_KEY_FILE]);
	}
	if (kl_pipeline_stage(pl, "kl-read-shard", kl_verbose, &a, &e) == -1 ||
	    kl_pipeline_stage(pl, "kl-to-lytics", kl_verbose, &b, &e) == -1)
		kl_die(KL_EXIT_FAIL, 0, "%s", e.msg);
	kl_argv_free(&a);
	kl_argv_free(&b);
	free(ck);
}

/* Counts one batch acknowledgement (contract 5.5) of kl-to-lytics. */
static int
ack(void *arg, const char *s, size_t n)
{
	struct counts *c = arg;
	struct kl_jspan top, v;
	struct kl_jerr je;
	int64_t x;

	if (kl_js_parse(s, n, &top, &je) == -1 || top.type != KL_JOBJ)
		return 0;
	c->batches++;
	if (kl_js_get(&top, "events", &v) && kl_js_i64(&v, &x) == 0)
		c->events += (long)x;
	if (kl_js_get(&top, "rejected_count", &v) && kl_js_i64(&v, &x) == 0 &&
	    x > 0)
		c->rejected += (long)x;
	return 0;
}

/* --dry-run: prints the pipeline and the checks; returns the status. */
static int
dry_run(const struct kl_pipeline *pl, const struct kl_job *j)
{
	struct kl_buf b;
	struct kl_err e;
	int status;

	kl_buf_init(&b);
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

/* Runs the job: the state folder, the lock, the pipeline. */
static int
run(struct kl_pipeline *pl, const struct kl_job *j, const struct opts *o)
{
	struct counts c;
	struct kl_err e;
	int status, lock;

	memset(&c, 0, sizeof(c));
	if ((lock = kl_job_begin(j, NULL, &e)) == -1)
		kl_die(kl_err_status(&e), 0, "%s", e.msg);
	kl_log(KL_INFO, 0, "job '%s': Kinesis stream '%s' to Lytics stream "
	    "'%s'%s; state in '%s'", j->path, j->val[KL_JOB_KINESIS_STREAM],
	    j->val[KL_JOB_LYTICS_STREAM], o->job.once ? ", once" : "",
	    j->state_dir);
	if ((status = kl_pipeline_run(pl, ack, &c, &e)) == -1)
		kl_die(KL_EXIT_FAIL, 0, "%s", e.msg);
	kl_log(KL_INFO, 0, "%ld events delivered in %ld batches%s%s",
	    c.events, c.batches, c.rejected > 0 ? ", some rejected by Lytics" :
	    "", status == 0 ? "" : " before the pipeline stopped");
	close(lock);
	return status;
}

int
main(int argc, char **argv)
{
	struct opts o;
	struct kl_job j;
	struct kl_pipeline pl;
	struct kl_err e;
	int status;

	kl_prog = "kl-import";
	kl_sig_init();
	memset(&o, 0, sizeof(o));
	parse_args(&o, argc, argv);

	if (kl_job_load(&j, KL_JOB_IMPORT, o.job.file, &e) == -1 ||
	    kl_job_state(&j, &e) == -1)
		kl_die(kl_err_status(&e), 0, "%s", e.msg);
	kl_pipeline_init(&pl);
	build(&pl, &j, &o);
	kl_out_init();
	status = o.job.dry_run ? dry_run(&pl, &j) : run(&pl, &j, &o);
	kl_pipeline_free(&pl);
	kl_job_free(&j);
	kl_exit(status);
}
