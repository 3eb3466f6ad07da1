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

enum { OPT_DRY_RUN = KL_OPT_FREE, OPT_FOLLOW, OPT_JOB, OPT_ONCE };

struct opts {
	const char	*job;
	int		 once;		/* --once; else --follow */
	int		 follow;
	int		 dry_run;
};

struct counts {			/* from kl-to-lytics' acknowledgements */
	long	 batches;
	long	 events;
	long	 rejected;
};

static const struct option longopts[] = {
	{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
	{ "follow", no_argument, NULL, OPT_FOLLOW },
	{ "help", no_argument, NULL, 'h' },
	{ "job", required_argument, NULL, OPT_JOB },
	{ "once", no_argument, NULL, OPT_ONCE },
	{ "verbose", no_argument, NULL, 'v' },
	{ "version", no_argument, NULL, 'V' },
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

static int
status_of(const struct kl_err *e)
{
	return e->kind == KL_ERR_CONFIG ? KL_EXIT_USAGE :
	    e->kind == KL_ERR_TRANSIENT ? KL_EXIT_TEMPFAIL : KL_EXIT_FAIL;
}

static void
parse_args(struct opts *o, int argc, char **argv)
{
	int ch;

	while ((ch = getopt_long(argc, argv, "Vhv", longopts, NULL)) != -1) {
		switch (ch) {
		case 'V':
			printf("kl-import (kl) %s\n", PACKAGE_VERSION);
			exit(0);
		case 'h':
			usage(0);
			break;
		case 'v':
			kl_verbose++;
			break;
		case OPT_DRY_RUN:
			o->dry_run = 1;
			break;
		case OPT_FOLLOW:
			o->follow = 1;
			break;
		case OPT_JOB:
			o->job = optarg;
			break;
		case OPT_ONCE:
			o->once = 1;
			break;
		default:
			usage(2);
		}
	}
	if (optind < argc) {
		kl_log(KL_ERROR, 0, "unexpected operand '%s'", argv[optind]);
		usage(2);
	}
	if (o->job == NULL) {
		kl_log(KL_ERROR, 0, "--job is required");
		usage(2);
	}
	if (o->once && o->follow) {
		kl_log(KL_ERROR, 0, "--once and --follow exclude each other");
		usage(2);
	}
}

/* Finds a stage's program or dies: the installation is incomplete. */
static char *
stage(const char *prog)
{
	char *path;

	if ((path = kl_pipeline_find(prog)) == NULL)
		kl_die(KL_EXIT_FAIL, 0, "cannot find %s next to kl-import or "
		    "on PATH", prog);
	return path;
}

/* Builds the pipeline of job j into pl. */
static void
build(struct kl_pipeline *pl, const struct kl_job *j, const struct opts *o)
{
	struct kl_argv a, b;
	char *rs, *tl, *ck, *f;
	int i;

	rs = stage("kl-read-shard");
	tl = stage("kl-to-lytics");
	if (asprintf(&ck, "%s/import.checkpoint.json", j->state_dir) == -1)
		kl_die(KL_EXIT_FAIL, ENOMEM, "cannot build the pipeline");
	kl_argv_init(&a);
	kl_argv_init(&b);
	for (i = 0; i < kl_verbose; i++) {
		kl_argv_add(&a, "-v");
		kl_argv_add(&b, "-v");
	}
	kl_argv_add(&a, "--stream");
	kl_argv_add(&a, j->val[KL_JOB_KINESIS_STREAM]);
	kl_argv_add(&a, "--from");
	kl_argv_add(&a, "trim-horizon");
	kl_argv_add(&a, "--checkpoint");
	kl_argv_add(&a, ck);
	if (!o->once) {
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
	if (kl_pipeline_add(pl, "kl-read-shard", rs, &a) == -1 ||
	    kl_pipeline_add(pl, "kl-to-lytics", tl, &b) == -1)
		kl_die(KL_EXIT_FAIL, errno, "cannot build the pipeline");
	kl_argv_free(&a);
	kl_argv_free(&b);
	free(ck);
	free(rs);
	free(tl);
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
	if (kl_job_mkdirs(j->state_dir) == -1)
		kl_die(KL_EXIT_FAIL, errno, "cannot create the state folder "
		    "'%s'", j->state_dir);
	if ((lock = kl_job_lock(j, &e)) == -1)
		kl_die(status_of(&e), 0, "%s", e.msg);
	kl_log(KL_INFO, 0, "job '%s': Kinesis stream '%s' to Lytics stream "
	    "'%s'%s; state in '%s'", j->path, j->val[KL_JOB_KINESIS_STREAM],
	    j->val[KL_JOB_LYTICS_STREAM], o->once ? ", once" : "",
	    j->state_dir);
	if (kl_pipeline_start(pl, 1, &e) == -1)
		kl_die(KL_EXIT_FAIL, 0, "%s", e.msg);
	status = kl_pipeline_wait(pl, ack, &c);
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

	if (kl_job_load(&j, KL_JOB_IMPORT, o.job, &e) == -1 ||
	    kl_job_state(&j, &e) == -1)
		kl_die(status_of(&e), 0, "%s", e.msg);
	kl_pipeline_init(&pl);
	build(&pl, &j, &o);
	kl_out_init();
	status = o.dry_run ? dry_run(&pl, &j) : run(&pl, &j, &o);
	kl_pipeline_free(&pl);
	kl_job_free(&j);
	kl_exit(status);
}
