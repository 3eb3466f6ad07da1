/*
 * creds.c - AWS credentials: credential records (contract §5.1), and the
 * sources of the provider chain of contract §3 fetched and refreshed
 * lazily, once credchain.c has resolved the chain into a small tree.
 *
 * Design decisions:
 *
 * - The chain is a tree of struct node (creds.h).  A leaf is static keys
 *   (a profile, the environment, an authorization), a credential record
 *   file, or a credential_process; an inner node assumes a role with its
 *   child's credentials (role_arn profiles, delegated authorizations,
 *   --role-arn) through the kl_assume_fn that sts.c provides.
 *   kl_credsrc_get() refreshes from the top down, and only what is stale:
 *   a node is stale from KL_CREDS_WINDOW (5 minutes) before its
 *   Expiration, never later, so a --follow run lasting days never signs
 *   with expired credentials.  A base is refreshed only when its role
 *   must be assumed again; if AssumeRole says the base is expired
 *   (KL_ERR_CREDS), the base is forced to refresh and the call made once
 *   more.
 *
 * - Credentials that arrive already inside the window (a short-lived
 *   source) would be fetched again on every call; they are kept for up to
 *   SHORT_KEEP seconds while they stay valid for SHORT_MIN more.  In the
 *   same way a refresh that fails (a credential_process hiccup, STS
 *   throttling) keeps the credentials in hand, with a warning, and is
 *   tried again SHORT_KEEP seconds later, until SHORT_MIN seconds before
 *   they expire; not when the service refused them (kl_credsrc_expired).
 *
 * - The time is passed in, never read here, so tests drive refreshes
 *   exactly.  Errors from kl_credsrc_get() are never KL_ERR_CONFIG: by
 *   then the command may have read or sent something, so it exits 1 (or
 *   75 for a transient STS failure, or as stopped).
 *
 * - --credentials FILE is re-read when stat(2) shows it replaced or
 *   changed (device, inode, size, mtime) or when its record is inside the
 *   window; a file that cannot be used is not read again until it
 *   changes, or SHORT_KEEP seconds later inside the window.
 *
 * - credential_process (its command line split into words by
 *   credchain.c): no shell runs.  posix_spawnp() starts it with /dev/null
 *   as stdin (our stdin is the NDJSON input), a pipe as stdout read up to
 *   OUT_MAX bytes, our stderr, SIGPIPE and the stop signals at their
 *   defaults and an empty signal mask.  It may run RUN_MS; a stop signal
 *   ends it.  A non-zero exit is an error naming the first word and the
 *   status, never the output.
 *
 * - Secrets are wiped when replaced or freed.  Messages name files,
 *   profiles, roles and commands, and key ids by their last 4 characters.
 *   Credential records are read with jscan, in place: libjq would keep
 *   copies of the secrets and free them unwiped.
 */
#include <config.h>

#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kl.h"
#include "creds.h"

#define OUT_MAX		(64 * 1024)	/* credential_process output */
#define RECORD_MAX	(64 * 1024)	/* --credentials file */
#define RUN_MS		300000L		/* credential_process time limit */
#define SHORT_KEEP	10		/* see the header comment */
#define SHORT_MIN	60

/* Credentials. */

static void
wipe_free(char *s)
{
	if (s != NULL) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

/* Frees what c holds, wiping the secret and the token; zeroes c. */
void
kl_creds_free(struct kl_creds *c)
{
	free(c->akid);
	wipe_free(c->secret);
	wipe_free(c->token);
	memset(c, 0, sizeof(*c));
}

/*
 * Copies src into dst (which holds nothing); dst is the caller's to free
 * with kl_creds_free.  Returns 0, or -1 with errno ENOMEM (dst zeroed).
 */
int
kl_creds_copy(struct kl_creds *dst, const struct kl_creds *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->expiration = src->expiration;
	if ((src->akid != NULL && (dst->akid = strdup(src->akid)) == NULL) ||
	    (src->secret != NULL &&
	    (dst->secret = strdup(src->secret)) == NULL) ||
	    (src->token != NULL && (dst->token = strdup(src->token)) == NULL)) {
		kl_creds_free(dst);
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

/*
 * Returns 1 if s is a usable key or token: printable ASCII, no blanks.
 * credchain.c checks static keys with it.
 */
int
kl_cs_token_ok(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (*s <= ' ' || *s > '~')
			return 0;
	return 1;
}

/*
 * Copies the string member key of obj into *out, decoded through b, which
 * is wiped after: the secret leaves no copy behind (libjq would free its
 * copies unwiped).  Returns 0, or -1 with errno ENOENT (absent or null),
 * EINVAL (not a string), EILSEQ (holds a NUL) or ENOMEM.
 */
static int
get_str(const struct kl_jspan *obj, const char *key, struct kl_buf *b,
    char **out)
{
	struct kl_jspan v;
	int r = 0;

	*out = NULL;
	if (!kl_js_get(obj, key, &v) || v.type == KL_JNUL) {
		errno = ENOENT;
		return -1;
	}
	if (v.type != KL_JSTR) {
		errno = EINVAL;
		return -1;
	}
	kl_buf_reset(b);
	if (kl_js_str(&v, b) == -1 || b->err || b->data == NULL) {
		errno = ENOMEM;
		r = -1;
	} else if (strlen(b->data) != b->len) {
		errno = EILSEQ;
		r = -1;
	} else if ((*out = strdup(b->data)) == NULL)
		r = -1;
	kl_buf_wipe(b);
	return r;
}

static int
get_field(const struct kl_jspan *o, const char *key, int required,
    struct kl_buf *b, char **out, char *why, size_t n)
{
	if (get_str(o, key, b, out) == 0) {
		if (kl_cs_token_ok(*out))
			return 0;
		errno = EILSEQ;
	}
	if (errno == ENOENT && !required)
		return 0;
	snprintf(why, n, errno == ENOENT ? "no '%s'" : errno == ENOMEM ?
	    "out of memory reading '%s'" : errno == EILSEQ ? "'%s' is empty "
	    "or has blanks or control characters" : "'%s' is not a string",
	    key);
	return -1;
}

/* Reads the Version member, which must be the number 1. */
static int
version_ok(const struct kl_jspan *o, char *why, size_t n)
{
	struct kl_jspan v;
	double d;

	if (!kl_js_get(o, "Version", &v) || v.type == KL_JNUL) {
		snprintf(why, n, "no 'Version'");
		return 0;
	}
	if (v.type != KL_JNUM || kl_js_double(&v, &d) == -1 || d != 1) {
		snprintf(why, n, "'Version' is not 1");
		return 0;
	}
	return 1;
}

/*
 * Parses a credential record (contract §5.1: Version 1, AccessKeyId,
 * SecretAccessKey, optional SessionToken and Expiration) from the n
 * bytes at p into out (the caller frees it with kl_creds_free, also
 * after a failure).  Returns 0, or -1 with why naming the field that is
 * wrong; why never holds a piece of the input.  jscan reads it in place,
 * so the only copies of the secrets are out's and a wiped buffer.
 */
int
kl_creds_parse(const char *p, size_t n, struct kl_creds *out, char *why,
    size_t whysz)
{
	struct kl_jspan o;
	struct kl_jerr je;
	struct kl_buf b;
	char *exp = NULL;
	int r = -1;

	memset(out, 0, sizeof(*out));
	if (kl_js_parse(p, n, &o, &je) == -1) {
		snprintf(why, whysz, "not valid JSON: %s", je.msg);
		return -1;
	}
	if (o.type != KL_JOBJ) {
		snprintf(why, whysz, "not a JSON object");
		return -1;
	}
	if (!version_ok(&o, why, whysz))
		return -1;
	kl_buf_init(&b);
	if (get_field(&o, "AccessKeyId", 1, &b, &out->akid, why, whysz) == -1 ||
	    get_field(&o, "SecretAccessKey", 1, &b, &out->secret, why,
	    whysz) == -1 ||
	    get_field(&o, "SessionToken", 0, &b, &out->token, why, whysz) ==
	    -1)
		goto done;
	if (get_str(&o, "Expiration", &b, &exp) == 0) {
		if (kl_time_parse(exp, &out->expiration, NULL) == -1) {
			snprintf(why, whysz,
			    "'Expiration' is not an RFC 3339 time");
			goto done;
		}
	} else if (errno != ENOENT) {
		snprintf(why, whysz, errno == ENOMEM ? "out of memory "
		    "reading 'Expiration'" : "'Expiration' is not a string");
		goto done;
	}
	r = 0;
done:
	free(exp);
	kl_buf_free(&b);
	return r;
}

/*
 * Appends c as a credential record (contract §5.1), without a newline,
 * to b; the caller wipes b.  Returns 0, or -1 (ENOMEM: b->err is set).
 */
int
kl_creds_format(struct kl_buf *b, const struct kl_creds *c)
{
	char t[32];

	kl_buf_adds(b, "{\"Version\":1,\"AccessKeyId\":");
	kl_buf_add_jstr(b, c->akid, strlen(c->akid));
	kl_buf_adds(b, ",\"SecretAccessKey\":");
	kl_buf_add_jstr(b, c->secret, strlen(c->secret));
	if (c->token != NULL) {
		kl_buf_adds(b, ",\"SessionToken\":");
		kl_buf_add_jstr(b, c->token, strlen(c->token));
	}
	if (c->expiration != 0 &&
	    kl_time_fmt(t, sizeof(t), c->expiration, -1) > 0)
		kl_buf_addf(b, ",\"Expiration\":\"%s\"", t);
	kl_buf_addc(b, '}');
	if (b->err) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

/* Errors, and the credential record file. */

/* Fills e with ENOMEM; returns -1. */
int
kl_cs_nomem(struct kl_err *e)
{
	kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "%s", strerror(ENOMEM));
	e->sys = ENOMEM;
	return -1;
}

/* Fills e with kind and the formatted message; returns -1. */
int
kl_cs_fail(struct kl_err *e, int kind, const char *fmt, ...)
{
	char msg[sizeof(e->msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	kl_err_set(e, kind, 0, NULL, "%s", msg);
	return -1;
}

/*
 * Reads the credential record file of n (a SRC_FILE node) into out
 * (the caller frees it with kl_creds_free) and its stat(2) into st.
 * Returns 0, or -1 with e filled: as kl_read_private, or
 * KL_ERR_CONFIG for a file that holds no credential record.
 */
int
kl_cs_read_record(struct node *n, struct kl_creds *out, struct stat *st,
    struct kl_err *e)
{
	struct kl_buf b;
	char why[160];
	int r;

	kl_buf_init(&b);
	memset(out, 0, sizeof(*out));
	if (kl_read_private(n->path, RECORD_MAX, &b, st, e) == -1) {
		kl_buf_wipe(&b);
		return -1;
	}
	r = kl_creds_parse(b.data, b.len, out, why, sizeof(why));
	kl_buf_wipe(&b);
	if (r == -1) {
		kl_creds_free(out);
		return kl_cs_fail(e, KL_ERR_CONFIG, "'%s' is not a credential "
		    "record (contract §5.1): %s", n->path, why);
	}
	return 0;
}

/* Refreshing. */

static int
stale(const struct node *n, time_t now)
{
	time_t exp = n->creds.expiration;

	if (!n->have || n->force)
		return 1;
	if (exp == 0 || now + KL_CREDS_WINDOW < exp)
		return 0;
	return !(now - n->fetched < SHORT_KEEP && now + SHORT_MIN < exp);
}

/* Installs fresh credentials in n; refuses expired ones. */
static int
install(struct node *n, struct kl_creds *fresh, time_t now,
    struct kl_err *e)
{
	char t[32] = "?";

	if (fresh->expiration != 0)
		kl_time_fmt(t, sizeof(t), fresh->expiration, -1);
	if (fresh->expiration != 0 && fresh->expiration <= now) {
		kl_creds_free(fresh);
		return kl_cs_fail(e, KL_ERR_PERMANENT, "%s: the credentials "
		    "expired at %s", n->label, t);
	}
	if (fresh->expiration != 0 &&
	    now + KL_CREDS_WINDOW >= fresh->expiration &&
	    fresh->expiration != n->warned) {
		kl_log(KL_WARNING, 0, "%s: the credentials expire at %s, in "
		    "less than %d minutes", n->label, t, KL_CREDS_WINDOW / 60);
		n->warned = fresh->expiration;
	}
	kl_creds_free(&n->creds);
	n->creds = *fresh;
	memset(fresh, 0, sizeof(*fresh));
	n->have = 1;
	n->force = 0;
	n->fetched = now;
	return 0;
}

static int
refresh_file(struct node *n, time_t now, struct kl_err *e)
{
	struct kl_creds fresh;
	struct stat st;
	int ok, changed;

	ok = stat(n->path, &st) == 0;
	changed = ok != n->st_ok || (ok && (st.st_dev != n->st.st_dev ||
	    st.st_ino != n->st.st_ino || st.st_size != n->st.st_size ||
	    st.st_mtim.tv_sec != n->st.st_mtim.tv_sec ||
	    st.st_mtim.tv_nsec != n->st.st_mtim.tv_nsec));
	if (!changed && !stale(n, now))
		return 0;
	if (kl_cs_read_record(n, &fresh, &st, e) == 0) {
		n->st = st;
		n->st_ok = 1;
		return install(n, &fresh, now, e);
	}
	/* Not again until it changes (or SHORT_KEEP in the window). */
	n->st_ok = ok;
	if (ok)
		n->st = st;
	return -1;
}

static pid_t
spawn(char **argv, int *fd, struct kl_err *e)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t def, none;
	pid_t pid = -1;
	int p[2], rc;

	if (pipe2(p, O_CLOEXEC) == -1) {
		kl_cs_fail(e, KL_ERR_PERMANENT, "pipe: %s", strerror(errno));
		return -1;
	}
	sigemptyset(&none);
	sigemptyset(&def);
	sigaddset(&def, SIGPIPE);
	sigaddset(&def, SIGINT);
	sigaddset(&def, SIGTERM);
	sigaddset(&def, SIGHUP);
	sigaddset(&def, SIGQUIT);
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	if ((rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null",
	    O_RDONLY, 0)) == 0 &&
	    (rc = posix_spawn_file_actions_adddup2(&fa, p[1], 1)) == 0 &&
	    (rc = posix_spawnattr_setsigdefault(&at, &def)) == 0 &&
	    (rc = posix_spawnattr_setsigmask(&at, &none)) == 0 &&
	    (rc = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF |
	    POSIX_SPAWN_SETSIGMASK)) == 0)
		rc = posix_spawnp(&pid, argv[0], &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(p[1]);
	if (rc != 0) {
		close(p[0]);
		kl_cs_fail(e, KL_ERR_PERMANENT, "cannot run credential_process "
		    "'%s': %s", argv[0], strerror(rc));
		return -1;
	}
	*fd = p[0];
	return pid;
}

/*
 * Reads the child's output into b (room for OUT_MAX + 1 bytes reserved)
 * until end of file or the deadline.  Returns NULL at end of file, or a
 * static reason to kill the child.
 */
static const char *
drain(int fd, struct kl_buf *b, long deadline, int *stopped)
{
	struct pollfd pfd = { fd, POLLIN, 0 };
	long left;
	ssize_t r;

	for (;;) {
		if (kl_stopping()) {
			*stopped = 1;
			return "stopped";
		}
		if ((left = deadline - kl_mono_ms()) <= 0)
			return "did not finish within 300 s";
		if (poll(&pfd, 1, (int)left) == -1) {
			if (errno != EINTR)
				return "poll failed";
			continue;
		}
		if (pfd.revents == 0)
			continue;
		r = read(fd, b->data + b->len, OUT_MAX + 1 - b->len);
		if (r == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r == -1)
			return "could not be read";
		if (r == 0)
			return NULL;
		b->len += (size_t)r;
		if (b->len > OUT_MAX)
			return "wrote more than 64 KiB";
	}
}

/*
 * Waits for the child, which closed its output, until the deadline;
 * then, or at once if why is set, kills it.  Returns the reason it was
 * killed, or why, or NULL.
 */
static const char *
reap(pid_t pid, long deadline, const char *why, int *status, int *stopped)
{
	struct timespec ts = { 0, 5000000 };
	pid_t r;

	while (why == NULL) {
		if ((r = waitpid(pid, status, WNOHANG)) == pid)
			return NULL;
		if (r == -1 && errno != EINTR)
			return "could not be waited for";
		if (kl_stopping()) {
			*stopped = 1;
			why = "stopped";
		} else if (kl_mono_ms() >= deadline)
			why = "did not exit within 300 s";
		else
			nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
	while (waitpid(pid, status, 0) == -1 && errno == EINTR)
		;
	return why;
}

static int
run_process(struct node *n, time_t now, struct kl_err *e)
{
	struct kl_creds fresh;
	struct kl_buf b;
	const char *why;
	char pwhy[160];
	int fd, status = 0, stopped = 0, r = -1;
	long deadline = kl_mono_ms() + RUN_MS;
	pid_t pid;

	kl_buf_init(&b);
	if (kl_buf_reserve(&b, OUT_MAX + 1) == -1)
		return kl_cs_nomem(e);
	if ((pid = spawn(n->argv, &fd, e)) == -1)
		goto done;
	why = drain(fd, &b, deadline, &stopped);
	close(fd);
	why = reap(pid, deadline, why, &status, &stopped);
	if (stopped)
		kl_err_set(e, KL_ERR_STOPPED, 0, NULL, "stopped");
	else if (why != NULL)
		kl_cs_fail(e, KL_ERR_PERMANENT, "credential_process '%s' %s",
		    n->argv[0], why);
	else if (WIFSIGNALED(status))
		kl_cs_fail(e, KL_ERR_PERMANENT, "credential_process '%s' was "
		    "killed by signal %d", n->argv[0], WTERMSIG(status));
	else if (WEXITSTATUS(status) != 0)
		kl_cs_fail(e, KL_ERR_PERMANENT, "credential_process '%s' "
		    "exited with status %d%s", n->argv[0], WEXITSTATUS(status),
		    WEXITSTATUS(status) == 127 ? " (not found?)" : "");
	else if (kl_creds_parse(b.data, b.len, &fresh, pwhy,
	    sizeof(pwhy)) == -1) {
		kl_creds_free(&fresh);
		kl_cs_fail(e, KL_ERR_PERMANENT, "credential_process '%s' did "
		    "not print a credential record: %s", n->argv[0], pwhy);
	} else
		r = install(n, &fresh, now, e);
done:
	kl_buf_wipe(&b);
	return r;
}

static int refresh(struct kl_credsrc *, struct node *, time_t,
    struct kl_err *);

static int
refresh_assume(struct kl_credsrc *s, struct node *n, time_t now,
    struct kl_err *e)
{
	struct kl_assume a;
	struct kl_creds fresh;
	char msg[sizeof(e->msg)];
	int tries;

	memset(&a, 0, sizeof(a));
	a.role_arn = n->role_arn;
	a.external_id = n->external_id;
	a.session_name = n->session_name;
	a.duration = n->duration;
	a.region = s->region;
	a.sts_url = s->sts_url;
	for (tries = 0; tries < 2; tries++) {
		if (refresh(s, n->base, now, e) == -1)
			return -1;
		memset(&fresh, 0, sizeof(fresh));
		kl_err_clear(e);
		if (s->fn(s->ctx, &n->base->creds, &a, &fresh, e) == 0)
			return install(n, &fresh, now, e);
		kl_creds_free(&fresh);
		if (e->kind != KL_ERR_CREDS || n->base->kind == SRC_KEYS)
			break;
		n->base->force = 1;
	}
	snprintf(msg, sizeof(msg), "%s", e->msg);
	snprintf(e->msg, sizeof(e->msg), "assuming role '%.200s': %.290s",
	    n->role_arn, msg);
	if (e->kind == KL_ERR_NONE || e->kind == KL_ERR_CONFIG)
		e->kind = KL_ERR_PERMANENT;
	return -1;
}

/*
 * Refreshes n if it is stale.  A failed refresh keeps credentials that
 * are still valid for SHORT_MIN seconds, unless the service refused them
 * or a stop signal came: a passing failure of a credential_process or
 * of STS five minutes before expiry must not end a long run.  The next
 * attempt comes SHORT_KEEP seconds later.
 */
static int
refresh(struct kl_credsrc *s, struct node *n, time_t now, struct kl_err *e)
{
	int r;

	switch (n->kind) {
	case SRC_FILE:
		r = refresh_file(n, now, e);
		break;
	case SRC_PROCESS:
		r = stale(n, now) ? run_process(n, now, e) : 0;
		break;
	case SRC_ASSUME:
		r = stale(n, now) ? refresh_assume(s, n, now, e) : 0;
		break;
	default:
		r = 0;
		break;
	}
	if (r == 0 || e->kind == KL_ERR_STOPPED || !n->have || n->force ||
	    (n->creds.expiration != 0 &&
	    now + SHORT_MIN >= n->creds.expiration))
		return r;
	kl_log(KL_WARNING, 0, "%s; keeping the current credentials", e->msg);
	kl_err_clear(e);
	n->fetched = now;
	return 0;
}

/*
 * Returns in *out the credentials to sign with at time now, fetching or
 * refreshing what is within KL_CREDS_WINDOW of expiry (or was marked
 * expired).  *out belongs to s and stays valid until the next
 * kl_credsrc_get or kl_credsrc_free.  Returns 0, or -1 with e filled
 * (KL_ERR_PERMANENT, KL_ERR_TRANSIENT or KL_ERR_CREDS from STS,
 * KL_ERR_STOPPED; never KL_ERR_CONFIG) and *out NULL.
 */
int
kl_credsrc_get(struct kl_credsrc *s, time_t now, const struct kl_creds **out,
    struct kl_err *e)
{
	kl_err_clear(e);
	*out = NULL;
	if (refresh(s, s->top, now, e) == -1) {
		if (e->kind == KL_ERR_CONFIG || e->kind == KL_ERR_NONE)
			e->kind = KL_ERR_PERMANENT;
		return -1;
	}
	*out = &s->top->creds;
	return 0;
}

/*
 * Marks the current credentials as refused by the service (ExpiredToken):
 * the next kl_credsrc_get fetches them again.
 */
void
kl_credsrc_expired(struct kl_credsrc *s)
{
	s->top->force = 1;
}

/*
 * Returns a description of the chain for messages, e.g. "profile 'prod'
 * (credential_process)"; no secrets.  It belongs to s.
 */
const char *
kl_credsrc_describe(const struct kl_credsrc *s)
{
	return s->desc;
}

