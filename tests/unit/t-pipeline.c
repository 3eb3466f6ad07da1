/*
 * t-pipeline.c - unit tests of pipeline.c with /bin/sh stages: pipes and
 * captured output, the status as the most serious of the stages', the
 * stop of the stages before one that ended (not counted), SIGKILL after
 * the grace period, relayed signals, a process group of their own, the
 * search for programs, the job lock, and what kl-import and kl-export
 * share: a stage found and added, a run, the state folder and lock.
 */
#include <config.h>

#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kl.h"
#include "tap.h"

struct lines {
	struct kl_buf	 all;
	int		 n;
};

static int
collect(void *arg, const char *s, size_t n)
{
	struct lines *l = arg;

	kl_buf_add(&l->all, s, n);
	kl_buf_addc(&l->all, '|');
	l->n++;
	return 0;
}

/* Runs "sh -c" stages; returns the status, the output in *out. */
static int
run(long grace_ms, struct lines *out, const char *first, ...)
{
	struct kl_pipeline pl;
	struct kl_argv a;
	struct kl_err e;
	const char *s;
	va_list ap;
	int status;

	kl_pipeline_init(&pl);
	if (grace_ms > 0)
		pl.grace_ms = grace_ms;
	va_start(ap, first);
	for (s = first; s != NULL; s = va_arg(ap, const char *)) {
		kl_argv_init(&a);
		kl_argv_add(&a, "-c");
		kl_argv_add(&a, s);
		kl_pipeline_add(&pl, "sh", "/bin/sh", &a);
		kl_argv_free(&a);
	}
	va_end(ap);
	kl_buf_init(&out->all);
	out->n = 0;
	if (kl_pipeline_start(&pl, 1, &e) == -1) {
		diag("start: %s", e.msg);
		kl_pipeline_free(&pl);
		return -1;
	}
	status = kl_pipeline_wait(&pl, collect, out);
	kl_pipeline_free(&pl);
	return status;
}

static void
test_status(void)
{
	struct lines l;
	char want[64];
	long t;

	is_int(run(0, &l, "echo a; echo b", "cat", NULL), 0, "two stages: 0");
	is_str(l.all.data, "a|b|", "the last stage's lines are captured");
	kl_buf_free(&l.all);
	is_int(run(0, &l, "printf 'x\\ny'", "cat", NULL), 0, "unended line");
	is_str(l.all.data, "x|y|", "a last line without newline");
	kl_buf_free(&l.all);
	is_int(run(0, &l, "cat; echo done", NULL), 0, "first stage: stdin");
	is_str(l.all.data, "done|", "the first stage reads /dev/null");
	kl_buf_free(&l.all);
	is_int(run(0, &l, "exit 3", "cat", NULL), 3, "rejects (3) count");
	kl_buf_free(&l.all);
	is_int(run(0, &l, "exit 75", "cat >/dev/null; exit 3", NULL), 75,
	    "75 beats 3");
	kl_buf_free(&l.all);
	is_int(run(0, &l, "exit 3", "cat >/dev/null; exit 1", NULL), 1,
	    "1 beats 3");
	kl_buf_free(&l.all);
	is_int(run(0, &l, "exit 2", "cat >/dev/null; exit 75", NULL), 2,
	    "2 beats all");
	kl_buf_free(&l.all);
	is_int(run(0, &l, "exit 42", "cat", NULL), 1,
	    "a status outside the contract counts as 1");
	kl_buf_free(&l.all);
	is_int(run(0, &l, "kill -USR1 $$", "cat", NULL), 128 + SIGUSR1,
	    "a stage dying of a signal counts");
	kl_buf_free(&l.all);
	is_int(run(0, &l, "cat >/dev/null; exit 3", "kill -USR1 $$", NULL),
	    128 + SIGUSR1, "a signal beats 3");
	kl_buf_free(&l.all);

	t = kl_mono_ms();
	is_int(run(0, &l, "while :; do sleep 0.05; done", "exit 75", NULL), 75,
	    "a stage that ends stops the one before; its SIGTERM does not "
	    "count");
	ok(kl_mono_ms() - t < 5000, "and that is quick");
	kl_buf_free(&l.all);
	is_int(run(0, &l, "exec yes", "head -n 2", NULL), 0,
	    "SIGPIPE after the reader left does not count");
	is_str(l.all.data, "y|y|", "head's output");
	kl_buf_free(&l.all);
	is_int(run(0, &l, "exec sleep 30", "exit 0", NULL), 0,
	    "a reader that ends with 0 stops a writer that waits");
	kl_buf_free(&l.all);
	is_int(run(0, &l, "exit 0", "while read x; do :; done; exit 3", NULL),
	    3, "the stages after one that ended finish their input");
	kl_buf_free(&l.all);

	t = kl_mono_ms();
	is_int(run(300, &l, "trap '' TERM; while :; do sleep 0.05; done",
	    "exit 1", NULL), 1, "a stage that ignores SIGTERM is killed");
	ok(kl_mono_ms() - t < 3000, "after the grace period");
	kl_buf_free(&l.all);

	t = kl_mono_ms();
	is_int(run(0, &l, "echo a", "cat; sleep 3 & echo b", NULL), 0,
	    "a process left behind holding the output");
	ok(kl_mono_ms() - t < 2800, "is not waited for");
	is_str(l.all.data, "a|b|", "what came before is read");
	kl_buf_free(&l.all);

	is_int(run(0, &l, "cut -d' ' -f5 /proc/$$/stat", "cat", NULL), 0,
	    "process group");
	snprintf(want, sizeof(want), "%ld|", (long)getpgrp());
	ok(l.all.data != NULL && strcmp(l.all.data, want) != 0,
	    "the stages have a process group of their own (%s)",
	    l.all.data ? l.all.data : "");
	kl_buf_free(&l.all);
}

static void
test_exec(void)
{
	struct kl_pipeline pl;
	struct kl_argv a;
	struct kl_err e;
	struct kl_buf b;
	char *p;

	p = kl_pipeline_find("sh");
	ok(p != NULL && strcmp(p + strlen(p) - 3, "/sh") == 0,
	    "sh is found on PATH: %s", p ? p : "(null)");
	free(p);
	errno = 0;
	p = kl_pipeline_find("kl-no-such-program");
	ok(p == NULL && errno == ENOENT, "a missing program: ENOENT");

	kl_pipeline_init(&pl);
	kl_argv_init(&a);
	kl_argv_add(&a, "--stream");
	kl_argv_add(&a, "a b");
	kl_pipeline_add(&pl, "kl-x", "/nonexistent/kl-x", &a);
	kl_argv_free(&a);
	kl_argv_init(&a);
	kl_argv_add(&a, "--filter");
	kl_argv_add(&a, "select(.x == \"it's\")");
	kl_pipeline_add(&pl, "kl-y", "/bin/cat", &a);
	kl_argv_free(&a);
	kl_buf_init(&b);
	kl_pipeline_print(&pl, &b);
	is_str(b.data, "/nonexistent/kl-x --stream 'a b' |\n"
	    "/bin/cat --filter 'select(.x == \"it'\\''s\")'\n",
	    "the pipeline as a script, one stage per line");
	kl_buf_free(&b);
	ok(kl_pipeline_start(&pl, 0, &e) == 0, "start");
	is_int(kl_pipeline_wait(&pl, NULL, NULL), 1,
	    "a program that cannot be run: 1");
	kl_pipeline_free(&pl);
}

static void
test_lock(void)
{
	char path[] = "/tmp/t-pipeline.XXXXXX";
	long holder = -1;
	int fd, fd2, tmp;

	tmp = mkstemp(path);
	close(tmp);
	fd = kl_lock_take(path, &holder);
	ok(fd >= 0, "the lock is taken");
	errno = 0;
	fd2 = kl_lock_take(path, &holder);
	ok(fd2 == -1 && errno == EWOULDBLOCK, "a second take fails");
	is_int(holder, (long long)getpid(), "and names the holder's PID");
	close(fd);
	fd2 = kl_lock_take(path, &holder);
	ok(fd2 >= 0, "free again once the holder closed it");
	close(fd2);
	unlink(path);
}

/* kl_pipeline_stage and kl_pipeline_run, as kl-import and kl-export. */
static void
test_stage(void)
{
	struct kl_pipeline pl;
	struct kl_argv a;
	struct kl_err e;
	struct lines l;

	kl_pipeline_init(&pl);
	kl_argv_init(&a);
	kl_argv_add(&a, "-c");
	kl_argv_add(&a, "echo \"$@\"");
	kl_argv_add(&a, "sh");
	ok(kl_pipeline_stage(&pl, "sh", 2, &a, &e) == 0, "a stage on PATH");
	kl_argv_free(&a);
	is_int(pl.st[0].argv.n, 6, "argv: sh, -v twice, then the arguments");
	is_str(pl.st[0].argv.v[1], "-v", "argv[1]: -v");
	is_str(pl.st[0].argv.v[3], "-c", "argv[3]: the first argument");
	kl_buf_init(&l.all);
	l.n = 0;
	is_int(kl_pipeline_run(&pl, collect, &l, &e), 0, "run: the status");
	is_str(l.all.data, "|", "run: the output, line by line");
	kl_buf_free(&l.all);
	kl_pipeline_free(&pl);

	kl_pipeline_init(&pl);
	kl_argv_init(&a);
	ok(kl_pipeline_stage(&pl, "kl-no-such-stage", 0, &a, &e) == -1 &&
	    e.kind == KL_ERR_PERMANENT, "a missing stage: -1, permanent");
	is_str(e.msg, "cannot find kl-no-such-stage next to t-pipeline or on "
	    "PATH", "a missing stage: the message");
	is_int((long long)pl.n, 0, "a missing stage is not added");
	a.err = 1;
	ok(kl_pipeline_stage(&pl, "sh", 0, &a, &e) == -1 &&
	    strcmp(e.msg, "cannot build the pipeline: Cannot allocate "
	    "memory") == 0, "an argv that ran out of memory: said");
	kl_argv_free(&a);
	kl_pipeline_free(&pl);
}

/* kl_job_begin: the state folder, a folder in it, the lock. */
static void
test_begin(void)
{
	char dir[] = "/tmp/t-pipeline.XXXXXX", path[256], job[] = "t.job";
	struct kl_job j;
	struct kl_err e;
	struct stat st;
	int fd, fd2;

	if (mkdtemp(dir) == NULL) {
		ok(0, "mkdtemp");
		return;
	}
	memset(&j, 0, sizeof(j));
	j.kind = KL_JOB_EXPORT;
	j.path = job;
	snprintf(path, sizeof(path), "%s/state/deep", dir);
	j.state_dir = path;
	fd = kl_job_begin(&j, "export.audiences", &e);
	ok(fd >= 0, "begin: the lock is taken");
	snprintf(path, sizeof(path), "%s/state/deep/export.audiences", dir);
	ok(stat(path, &st) == 0 && S_ISDIR(st.st_mode) &&
	    (st.st_mode & 0777) == 0700, "begin: the folders, mode 0700");
	snprintf(path, sizeof(path), "%s/state/deep", dir);
	fd2 = kl_job_begin(&j, NULL, &e);
	ok(fd2 == -1 && e.kind == KL_ERR_TRANSIENT,
	    "begin again: the job is running (exit 75)");
	ok(strstr(e.msg, "is already running") != NULL, "and says so: %s",
	    e.msg);
	close(fd);
	snprintf(path, sizeof(path), "%s/state/deep/export.lock", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/state/deep/export.audiences", dir);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/file", dir);
	close(open(path, O_WRONLY | O_CREAT, 0600));
	j.state_dir = path;
	ok(kl_job_begin(&j, NULL, &e) == -1 && e.kind == KL_ERR_PERMANENT,
	    "a state folder that is a file: permanent");
	snprintf(path, sizeof(path), "cannot create the state folder "
	    "'%s/file': Not a directory", dir);
	is_str(e.msg, path, "and the message names it");
	snprintf(path, sizeof(path), "%s/file", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/state/deep", dir);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/state", dir);
	rmdir(path);
	rmdir(dir);
}

static void
test_relay(void)
{
	struct lines l;

	/* Last: kl_stopping() stays true from here on. */
	kl_stop_request(SIGTERM);
	is_int(run(0, &l, "exec sleep 30", "cat", NULL), 128 + SIGTERM,
	    "a stop signal is relayed to the stages, and counts");
	kl_buf_free(&l.all);
}

int
main(void)
{
	kl_prog = "t-pipeline";
	test_status();
	test_exec();
	test_lock();
	test_stage();
	test_begin();
	test_relay();
	return done_testing();
}
