/*
 * pipeline.c - running the stages of a job as child processes joined by
 * pipes (kl-import, kl-export), and the lock that keeps two runs of a
 * job apart.
 *
 * Design decisions:
 *
 * - Stages are the sibling binaries of the running one: kl_pipeline_find
 *   looks next to /proc/self/exe first, then on PATH.  A job started by
 *   cron (PATH=/usr/bin:/bin) or systemd then runs the stages of the same
 *   installation as kl-import itself, and a build tree runs its own.
 * - argv only: values from a job file reach a stage as argv elements,
 *   never through a shell.  Secrets are never in argv (contract 2): the
 *   stages inherit the environment and read the files named by options.
 * - The stages get a process group of their own, so a terminal's ^C or
 *   a group kill (timeout(1)) reaches only the runner, which relays the
 *   signal once.  A stage signalled twice would die at once (SA_RESETHAND
 *   in sig.c) instead of finishing the record in hand.  Each stage also
 *   gets SIGTERM if the runner dies (PR_SET_PDEATHSIG), so nothing is
 *   left running.  Under systemd, KillMode=mixed lets the runner do this.
 * - The first stage reads /dev/null; the last one's standard output is
 *   read by the caller (acknowledgements, to count) or goes to /dev/null;
 *   standard error is shared, each stage naming itself in its messages.
 * - When a stage ends, the stages before it have lost their reader: they
 *   get SIGTERM and finish cleanly.  The stages after it see end of input
 *   and finish on their own, which is the gentlest stop (kl-to-lytics
 *   then still retries its last batch).  A stage still running 60 s
 *   after it was told to stop gets SIGKILL.
 * - The status is the most serious of the stages' (kl_exit_worst, which
 *   ranks 128+n with 1 and 75).  A death that the runner caused (SIGTERM
 *   or SIGKILL it sent after another stage ended, SIGPIPE because a later
 *   stage had gone) does not count: the stage that ended first says why.
 *   A stage's output is the next stage's input, so its SIGPIPE death
 *   means that stage left, even when the reaper sees the writer's end
 *   first (the reader closes its input before its own exit is visible);
 *   only the last stage's SIGPIPE, whose reader is the runner, counts.
 *   A status outside the contract's (such as 127, a failed exec) counts
 *   as 1.  Signals relayed from outside count: the runner then dies of
 *   the same signal (kl_exit).
 * - What kl-import and kl-export share of running a job is here too
 *   (kl_pipeline_stage, kl_pipeline_run, kl_job_begin); what each one
 *   runs, and what it makes of the outcome, stays in its command file.
 * - The job lock is flock(2) on a file in the job's state folder, which
 *   holds the holder's PID for the message of the run that finds it
 *   taken.  flock, not fcntl, for the reasons given in ckpt.c; the lock
 *   descriptor is close-on-exec, so the stages do not hold it.
 */
#include <config.h>

#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kl.h"

#define POLL_MS		100	/* reaping and relaying latency */
#define EOF_MS		2000	/* end of output, after the stages ended */

void
kl_argv_init(struct kl_argv *a)
{
	memset(a, 0, sizeof(*a));
}

/* Appends a copy of s; a failure sets a->err (checked by the user). */
void
kl_argv_add(struct kl_argv *a, const char *s)
{
	char **v;
	size_t cap;

	if (a->err)
		return;
	if (a->n + 2 > a->cap) {
		cap = a->cap ? a->cap * 2 : 16;
		if ((v = realloc(a->v, cap * sizeof(*v))) == NULL) {
			a->err = 1;
			return;
		}
		a->v = v;
		a->cap = cap;
	}
	if ((a->v[a->n] = strdup(s)) == NULL) {
		a->err = 1;
		return;
	}
	a->v[++a->n] = NULL;
}

void
kl_argv_addf(struct kl_argv *a, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) == -1)
		a->err = 1;
	else {
		kl_argv_add(a, s);
		free(s);
	}
	va_end(ap);
}

void
kl_argv_free(struct kl_argv *a)
{
	size_t i;

	for (i = 0; i < a->n; i++)
		free(a->v[i]);
	free(a->v);
	memset(a, 0, sizeof(*a));
}

/* Appends s for a POSIX shell: bare if safe, else in single quotes. */
void
kl_shell_quote(struct kl_buf *b, const char *s)
{
	static const char safe[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN"
	    "OPQRSTUVWXYZ0123456789_@%+=:,./-";

	if (*s != '\0' && strspn(s, safe) == strlen(s)) {
		kl_buf_adds(b, s);
		return;
	}
	kl_buf_addc(b, '\'');
	for (; *s != '\0'; s++)
		if (*s == '\'')
			kl_buf_adds(b, "'\\''");
		else
			kl_buf_addc(b, *s);
	kl_buf_addc(b, '\'');
}

/* Returns 1 if path is an executable regular file. */
static int
runnable(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	    access(path, X_OK) == 0;
}

/*
 * Finds the program prog: next to the running binary, else on PATH.
 * Returns its path (caller frees), or NULL with errno ENOENT (or
 * ENOMEM).
 */
char *
kl_pipeline_find(const char *prog)
{
	char self[PATH_MAX], *dir, *s;
	const char *path, *p, *q;
	ssize_t n;

	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) > 0) {
		self[n] = '\0';
		dir = dirname(self);
		if (asprintf(&s, "%s/%s", dir, prog) == -1)
			return NULL;
		if (runnable(s))
			return s;
		free(s);
	}
	if ((path = getenv("PATH")) == NULL)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (p = path;; p = q + 1) {
		q = p + strcspn(p, ":");
		if (asprintf(&s, "%.*s/%s", q == p ? 1 : (int)(q - p),
		    q == p ? "." : p, prog) == -1)
			return NULL;
		if (runnable(s))
			return s;
		free(s);
		if (*q == '\0')
			break;
	}
	errno = ENOENT;
	return NULL;
}

void
kl_pipeline_init(struct kl_pipeline *pl)
{
	memset(pl, 0, sizeof(*pl));
	pl->out = -1;
	pl->grace_ms = KL_PIPELINE_GRACE_MS;
	kl_buf_init(&pl->in);
}

/*
 * Adds a stage: the program prog (for messages and argv[0]) at path,
 * with the arguments in a (copied).  Returns 0, or -1 with errno.
 */
int
kl_pipeline_add(struct kl_pipeline *pl, const char *prog, const char *path,
    const struct kl_argv *a)
{
	struct kl_stage *st;
	size_t i, cap;

	if (a->err) {
		errno = ENOMEM;
		return -1;
	}
	if (pl->n == pl->cap) {
		cap = pl->cap ? pl->cap * 2 : 4;
		if ((st = realloc(pl->st, cap * sizeof(*st))) == NULL)
			return -1;
		pl->st = st;
		pl->cap = cap;
	}
	st = &pl->st[pl->n];
	memset(st, 0, sizeof(*st));
	kl_argv_init(&st->argv);
	kl_argv_add(&st->argv, prog);
	for (i = 0; i < a->n; i++)
		kl_argv_add(&st->argv, a->v[i]);
	st->prog = strdup(prog);
	st->path = strdup(path);
	if (st->argv.err || st->prog == NULL || st->path == NULL) {
		kl_argv_free(&st->argv);
		free(st->prog);
		free(st->path);
		errno = ENOMEM;
		return -1;
	}
	pl->n++;
	return 0;
}

/*
 * Adds the stage prog of a job, found by kl_pipeline_find: its argv is
 * "-v" verbose times (the runner's verbosity), then the arguments in a.
 * Returns 0, or -1 with e filled (KL_ERR_PERMANENT: the program is not
 * there, so the installation is incomplete; or out of memory).
 */
int
kl_pipeline_stage(struct kl_pipeline *pl, const char *prog, int verbose,
    const struct kl_argv *a, struct kl_err *e)
{
	struct kl_argv all;
	char *path;
	size_t i;
	int r;

	if ((path = kl_pipeline_find(prog)) == NULL) {
		kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "cannot find %s next "
		    "to %s or on PATH", prog, kl_prog);
		return -1;
	}
	kl_argv_init(&all);
	while (verbose-- > 0)
		kl_argv_add(&all, "-v");
	for (i = 0; i < a->n; i++)
		kl_argv_add(&all, a->v[i]);
	all.err |= a->err;
	if ((r = kl_pipeline_add(pl, prog, path, &all)) == -1)
		kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "cannot build the "
		    "pipeline: %s", strerror(errno));
	kl_argv_free(&all);
	free(path);
	return r;
}

/* Appends the pipeline as shell text: one stage per line, " |" joined. */
void
kl_pipeline_print(const struct kl_pipeline *pl, struct kl_buf *b)
{
	size_t i, k;

	for (i = 0; i < pl->n; i++) {
		kl_shell_quote(b, pl->st[i].path);
		for (k = 1; k < pl->st[i].argv.n; k++) {
			kl_buf_addc(b, ' ');
			kl_shell_quote(b, pl->st[i].argv.v[k]);
		}
		kl_buf_adds(b, i + 1 < pl->n ? " |\n" : "\n");
	}
}

/* Makes fd the descriptor to, without close-on-exec (child only). */
static int
move_fd(int fd, int to)
{
	if (fd == to)
		return fcntl(fd, F_SETFD, 0);
	return dup2(fd, to) == -1 ? -1 : 0;
}

/* In the child: set up and exec the stage.  Never returns. */
static void KL_NORETURN
child(const struct kl_stage *st, int in, int out, pid_t pgid, pid_t parent)
{
	struct sigaction sa;
	sigset_t none;
	char msg[512];
	int n, err;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	(void)setpgid(0, pgid);
	(void)prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(128 + SIGTERM);
	if (move_fd(in, STDIN_FILENO) == -1 ||
	    move_fd(out, STDOUT_FILENO) == -1)
		_exit(KL_EXIT_FAIL);
	execv(st->path, st->argv.v);
	err = errno;
	n = snprintf(msg, sizeof(msg), "%s: fatal: cannot run '%s': %s\n",
	    kl_prog, st->path, strerror(err));
	if (n > 0)
		(void)write(STDERR_FILENO, msg, (size_t)n < sizeof(msg) ?
		    (size_t)n : sizeof(msg) - 1);
	_exit(127);
}

/* Makes sure descriptors 0, 1 and 2 are open, so pipes land above. */
static void
std_fds(void)
{
	int fd;

	for (fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) == -1 && errno == EBADF)
			(void)open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
}

static void
stop_stage(struct kl_pipeline *pl, struct kl_stage *st, int sig, int relay)
{
	if (!st->running)
		return;
	if (relay)
		st->relayed = sig;
	else if (st->stopped || st->relayed)
		return;		/* once: a second would kill it */
	else
		st->stopped = sig;
	kl_log(KL_DEBUG, 0, "sending signal %d to %s (pid %ld)", sig,
	    st->prog, (long)st->pid);
	(void)kill(st->pid, sig);
	if (pl->stop_ms == 0)
		pl->stop_ms = kl_mono_ms();
}

/*
 * Starts the stages: the first reads /dev/null; with capture the last
 * one's standard output is pl->out, else /dev/null.  Returns 0, or -1
 * with e filled (the stages already started are stopped and reaped).
 */
int
kl_pipeline_start(struct kl_pipeline *pl, int capture, struct kl_err *e)
{
	pid_t parent = getpid(), pid;
	int in, out, next = -1, fds[2];
	size_t i;

	std_fds();
	i = 0;
	if ((in = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1)
		goto fail;
	for (i = 0; i < pl->n; i++) {
		next = -1;
		if (i + 1 < pl->n || capture) {
			if (pipe2(fds, O_CLOEXEC) == -1)
				goto fail;
			out = fds[1];
			next = fds[0];
		} else if ((out = open("/dev/null", O_WRONLY |
		    O_CLOEXEC)) == -1)
			goto fail;
		if ((pid = fork()) == -1) {
			close(out);
			goto fail;
		}
		if (pid == 0)
			child(&pl->st[i], in, out, pl->pgid, parent);
		if (pl->pgid == 0)
			pl->pgid = pid;
		(void)setpgid(pid, pl->pgid);
		pl->st[i].pid = pid;
		pl->st[i].running = 1;
		kl_log(KL_DEBUG, 0, "started %s (pid %ld)", pl->st[i].prog,
		    (long)pid);
		close(in);
		close(out);
		in = next;
	}
	if (capture)
		pl->out = in;
	else if (in != -1)
		close(in);
	return 0;
fail:
	kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "cannot start %s: %s",
	    i < pl->n ? pl->st[i].prog : "the pipeline", strerror(errno));
	if (in != -1)
		close(in);
	if (next != -1 && next != in)
		close(next);
	for (i = 0; i < pl->n; i++)
		stop_stage(pl, &pl->st[i], SIGTERM, 0);
	(void)kl_pipeline_wait(pl, NULL, NULL);
	return -1;
}

/* Records the end of stage k with wait status ws; stops those before. */
static void
reaped(struct kl_pipeline *pl, size_t k, int ws)
{
	struct kl_stage *st = &pl->st[k];
	int s, sig = 0, later = 0, ours;
	size_t i;

	st->running = 0;
	if (WIFSIGNALED(ws)) {
		sig = WTERMSIG(ws);
		s = 128 + sig;
	} else
		s = WEXITSTATUS(ws);
	st->status = s;
	later = k + 1 < pl->n;
	ours = (st->stopped && !st->relayed && (sig == SIGTERM ||
	    sig == SIGKILL || sig == SIGPIPE)) || (sig == SIGPIPE && later);
	if (ours)
		kl_log(KL_DEBUG, 0, "%s (pid %ld) stopped", st->prog,
		    (long)st->pid);
	else if (sig != 0 && !st->relayed)
		kl_log(KL_ERROR, 0, "%s (pid %ld) died of signal %d (%s)",
		    st->prog, (long)st->pid, sig, strsignal(sig));
	else if (s != 0)
		kl_log(sig != 0 ? KL_DEBUG : KL_INFO, 0, "%s (pid %ld) "
		    "exited with status %d", st->prog, (long)st->pid, s);
	else
		kl_log(KL_DEBUG, 0, "%s (pid %ld) done", st->prog,
		    (long)st->pid);
	if (!ours) {
		if (s != 0 && s != KL_EXIT_FAIL && s != KL_EXIT_USAGE &&
		    s != KL_EXIT_PARTIAL && s != KL_EXIT_TEMPFAIL && s < 128)
			s = KL_EXIT_FAIL;
		pl->status = kl_exit_worst(pl->status, s);
	}
	for (i = 0; i < k; i++)
		stop_stage(pl, &pl->st[i], SIGTERM, 0);
}

/* Reads what the last stage wrote; calls line for each line. */
static void
read_out(struct kl_pipeline *pl, int (*line)(void *, const char *, size_t),
    void *arg)
{
	char buf[65536], *s, *nl;
	size_t n;
	ssize_t r;

	r = read(pl->out, buf, sizeof(buf));
	if (r == -1 && (errno == EINTR || errno == EAGAIN))
		return;
	if (r > 0) {
		kl_buf_add(&pl->in, buf, (size_t)r);
		s = pl->in.data;
		while ((nl = memchr(s, '\n', pl->in.len -
		    (size_t)(s - pl->in.data))) != NULL) {
			if (line != NULL)
				(void)line(arg, s, (size_t)(nl - s));
			s = nl + 1;
		}
		n = pl->in.len - (size_t)(s - pl->in.data);
		memmove(pl->in.data, s, n);
		pl->in.len = n;
		pl->in.data[n] = '\0';
		return;
	}
	/* End of output (or an error reading it): a last unended line. */
	if (pl->in.len > 0 && line != NULL)
		(void)line(arg, pl->in.data, pl->in.len);
	kl_buf_reset(&pl->in);
	close(pl->out);
	pl->out = -1;
}

/* Reaps the stages that ended; returns how many still run. */
static size_t
reap(struct kl_pipeline *pl)
{
	size_t i, running = 0;
	pid_t r;
	int ws;

	/* Last first: a SIGPIPE death then sees its reader gone. */
	for (i = pl->n; i-- > 0;) {
		if (!pl->st[i].running)
			continue;
		r = waitpid(pl->st[i].pid, &ws, WNOHANG);
		if (r == pl->st[i].pid)
			reaped(pl, i, ws);
		else if (r == -1 && errno == ECHILD) {
			pl->st[i].running = 0;
			pl->status = kl_exit_worst(pl->status, KL_EXIT_FAIL);
		}
	}
	for (i = 0; i < pl->n; i++)
		running += pl->st[i].running;
	return running;
}

/* SIGKILL for the stages still running grace_ms after a stop. */
static void
escalate(struct kl_pipeline *pl)
{
	size_t i;

	if (pl->stop_ms == 0 || pl->killed ||
	    kl_mono_ms() - pl->stop_ms <= pl->grace_ms)
		return;
	pl->killed = 1;
	for (i = 0; i < pl->n; i++) {
		if (!pl->st[i].running)
			continue;
		kl_log(KL_WARNING, 0, "%s (pid %ld) did not stop within %g s: "
		    "killed", pl->st[i].prog, (long)pl->st[i].pid,
		    (double)pl->grace_ms / 1000);
		pl->st[i].stopped = SIGKILL;
		pl->st[i].relayed = 0;
		(void)kill(pl->st[i].pid, SIGKILL);
	}
}

/*
 * Runs the pipeline to its end: relays a stop signal that the runner
 * receives (kl_stopping) to every stage, reaps the stages, stops those
 * before one that ended, and passes each line of the last stage's output
 * to line (if capturing).  Returns the most serious status of the
 * stages (contract 4; 128+n for a signal).
 */
int
kl_pipeline_wait(struct kl_pipeline *pl,
    int (*line)(void *, const char *, size_t), void *arg)
{
	struct pollfd pfd;
	long end_ms = 0;
	size_t i;

	for (;;) {
		if (kl_stopping() && !pl->relayed) {
			pl->relayed = 1;
			for (i = 0; i < pl->n; i++)
				stop_stage(pl, &pl->st[i], kl_stop_signal(), 1);
		}
		if (reap(pl) > 0)
			escalate(pl);
		else if (pl->out == -1)
			break;
		else if (end_ms == 0)
			end_ms = kl_mono_ms();
		else if (kl_mono_ms() - end_ms > EOF_MS) {
			/* Something a stage left behind holds its output. */
			kl_log(KL_WARNING, 0, "the output of %s stayed open "
			    "after it ended", pl->st[pl->n - 1].prog);
			close(pl->out);
			pl->out = -1;
			break;
		}
		pfd.fd = pl->out;
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (poll(&pfd, pl->out != -1 ? 1 : 0, POLL_MS) > 0)
			read_out(pl, line, arg);
	}
	return pl->status;
}

/*
 * Starts the stages (kl_pipeline_start, capturing the last one's output)
 * and runs them to their end (kl_pipeline_wait, line and arg as there).
 * Returns the most serious status of the stages, or -1 with e filled if
 * they could not be started.
 */
int
kl_pipeline_run(struct kl_pipeline *pl,
    int (*line)(void *, const char *, size_t), void *arg, struct kl_err *e)
{
	if (kl_pipeline_start(pl, 1, e) == -1)
		return -1;
	return kl_pipeline_wait(pl, line, arg);
}

void
kl_pipeline_free(struct kl_pipeline *pl)
{
	size_t i;

	for (i = 0; i < pl->n; i++) {
		kl_argv_free(&pl->st[i].argv);
		free(pl->st[i].prog);
		free(pl->st[i].path);
	}
	free(pl->st);
	if (pl->out != -1)
		close(pl->out);
	kl_buf_free(&pl->in);
	memset(pl, 0, sizeof(*pl));
	pl->out = -1;
}

/* Reads the PID written in the lock file fd; 0 if none (yet). */
static long
holder_pid(int fd)
{
	char buf[32];
	ssize_t n;
	int tries;

	for (tries = 0; tries < 50; tries++) {
		n = pread(fd, buf, sizeof(buf) - 1, 0);
		if (n > 1 && buf[n - 1] == '\n') {
			buf[n] = '\0';
			return strtol(buf, NULL, 10);
		}
		/* The holder may be between flock(2) and writing its PID. */
		(void)kl_sleep_ms(10);
	}
	return 0;
}

/*
 * Takes the lock on the file path (created 0600 if missing) with
 * flock(2), without waiting, and writes this process's PID into it.
 * Returns the descriptor (close-on-exec; closing it, or exiting, frees
 * the lock), or -1 with errno: EWOULDBLOCK when another process holds
 * the lock, *holder then being its PID (0 if it cannot be told).
 */
int
kl_lock_take(const char *path, long *holder)
{
	struct stat a, b;
	char pid[32];
	int fd, n, tries;

	*holder = 0;
	for (tries = 0; tries < 10; tries++) {
		if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC |
		    O_NOFOLLOW, 0600)) == -1)
			return -1;
		if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
			n = errno;
			if (n == EWOULDBLOCK)
				*holder = holder_pid(fd);
			close(fd);
			errno = n;
			return -1;
		}
		/* Removed or replaced since we opened it: lock the new one. */
		if (fstat(fd, &a) == 0 && stat(path, &b) == 0 &&
		    a.st_dev == b.st_dev && a.st_ino == b.st_ino)
			break;
		close(fd);
		fd = -1;
	}
	if (fd == -1) {
		errno = EAGAIN;
		return -1;
	}
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == -1 || pwrite(fd, pid, (size_t)n, 0) != n) {
		n = errno;
		close(fd);
		errno = n;
		return -1;
	}
	return fd;
}

/*
 * Makes a run of job j ready: creates its state folder, and the folder
 * sub in it if sub is not NULL (kl_job_mkdirs), then takes the job's
 * lock (kl_job_lock).  Returns the lock's descriptor (closing it frees
 * the lock), or -1 with e filled: KL_ERR_TRANSIENT when another run
 * holds the lock (exit 75), KL_ERR_PERMANENT otherwise.
 */
int
kl_job_begin(const struct kl_job *j, const char *sub, struct kl_err *e)
{
	char *dir = NULL;
	int r = 0;

	if (sub != NULL && asprintf(&dir, "%s/%s", j->state_dir, sub) == -1) {
		dir = NULL;
		r = -1;
	}
	if (r == 0 && kl_job_mkdirs(dir != NULL ? dir : j->state_dir) == -1)
		r = -1;
	if (r == -1) {
		kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "cannot create the "
		    "state folder '%s': %s", dir != NULL ? dir : j->state_dir,
		    strerror(errno));
		free(dir);
		return -1;
	}
	free(dir);
	return kl_job_lock(j, e);
}
