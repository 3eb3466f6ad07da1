/*
 * creds.c - AWS credentials: the provider chain of contract §3, resolved
 * once into a small tree of sources, then fetched and refreshed lazily.
 *
 * Design decisions:
 *
 * - kl_credsrc_new() decides which provider applies and checks all it can
 *   without running a program or calling AWS: it reads the --credentials
 *   record and the --auth record, splits credential_process command
 *   lines, checks role settings and follows source_profile chains with
 *   loop detection.  Mistakes in configuration so surface before any
 *   record is read: KL_ERR_CONFIG, exit 2.  A file that cannot be read is
 *   KL_ERR_PERMANENT, exit 1.
 *
 * - The chain becomes a tree.  A leaf is static keys (a profile, the
 *   environment, an authorization), a credential record file, or a
 *   credential_process; an inner node assumes a role with its child's
 *   credentials (role_arn profiles, delegated authorizations, --role-arn)
 *   through the kl_assume_fn that sts.c provides.  kl_credsrc_get()
 *   refreshes from the top down, and only what is stale: a node is stale
 *   from KL_CREDS_WINDOW (5 minutes) before its Expiration, never later,
 *   so a --follow run lasting days never signs with expired credentials.
 *   A base is refreshed only when its role must be assumed again; if
 *   AssumeRole says the base is expired (KL_ERR_CREDS), the base is
 *   forced to refresh and the call made once more.
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
 * - credential_process: the command line is split into words as Python's
 *   shlex does for botocore: blanks separate, '...' is literal, "..."
 *   honours \" and \\, a backslash outside quotes escapes any character.
 *   No shell runs.  posix_spawnp() starts it with /dev/null as stdin (our
 *   stdin is the NDJSON input), a pipe as stdout read up to OUT_MAX bytes,
 *   our stderr, SIGPIPE and the stop signals at their defaults and an
 *   empty signal mask.  It may run RUN_MS; a stop signal ends it.  A
 *   non-zero exit is an error naming the first word and the status, never
 *   the output.
 *
 * - Profiles follow botocore (aws-protocol.md §4.2, §4.3): for the
 *   profile chosen at the top, role_arn wins; then static keys from the
 *   credentials file, credential_process, static keys from the config
 *   file.  As a source_profile, a profile's static keys win over its
 *   role_arn, and a profile may name itself only if it has static keys.
 *   credential_source = Environment takes the AWS_* key variables; the
 *   EC2 and ECS sources are not supported.  Empty values count as absent.
 *
 * - Secrets are wiped when replaced or freed.  Messages name files,
 *   profiles, roles and commands, and key ids by their last 4 characters.
 *   jv (kl_creds_parse) frees its own copies without wiping them.
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
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <jv.h>

#include "kl.h"

#define OUT_MAX		(64 * 1024)	/* credential_process output */
#define RECORD_MAX	(64 * 1024)	/* --credentials file */
#define RUN_MS		300000L		/* credential_process time limit */
#define SHORT_KEEP	10		/* see the header comment */
#define SHORT_MIN	60
#define CHAIN_MAX	16		/* source_profile depth */

enum { SRC_KEYS, SRC_FILE, SRC_PROCESS, SRC_ASSUME };

struct node {
	int		 kind;
	char		*label;		/* "profile 'x' (credential_process)" */
	struct kl_creds	 creds;
	int		 have;
	int		 force;		/* refresh at the next get */
	time_t		 fetched;	/* the now of the last fetch */
	time_t		 warned;	/* expiration last warned about */
	char		*path;		/* SRC_FILE */
	struct stat	 st;
	int		 st_ok;
	char		**argv;		/* SRC_PROCESS */
	struct node	*base;		/* SRC_ASSUME */
	char		*role_arn;
	char		*external_id;
	char		*session_name;
	long		 duration;
};

struct kl_credsrc {
	struct node	*top;
	kl_assume_fn	 fn;
	void		*ctx;
	char		*region;
	char		*sts_url;
	char		*desc;
};

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

/* Returns 1 if s is a usable key or token: printable ASCII, no blanks. */
static int
token_ok(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (*s <= ' ' || *s > '~')
			return 0;
	return 1;
}

static int
get_field(jv o, const char *key, int required, char **out, char *why,
    size_t n)
{
	if (kl_json_dup(o, key, out) == 0) {
		if (token_ok(*out))
			return 0;
		snprintf(why, n, "'%s' is empty or has blanks or control "
		    "characters", key);
		return -1;
	}
	if (errno == ENOENT && !required)
		return 0;
	snprintf(why, n, errno == ENOENT ? "no '%s'" : errno == ENOMEM ?
	    "out of memory reading '%s'" : "'%s' is not a string", key);
	return -1;
}

/*
 * Parses a credential record (contract §5.1: Version 1, AccessKeyId,
 * SecretAccessKey, optional SessionToken and Expiration) from the n
 * bytes at p into out (the caller frees it with kl_creds_free, also
 * after a failure).  Returns 0, or -1 with why naming the field that is
 * wrong; why never holds a piece of the input.
 */
int
kl_creds_parse(const char *p, size_t n, struct kl_creds *out, char *why,
    size_t whysz)
{
	const char *s;
	long version;
	jv o, h;
	int r = -1;

	memset(out, 0, sizeof(*out));
	if (kl_json_parse_obj(p, n, &o, why, whysz) == -1)
		return -1;
	if (kl_json_long(o, "Version", 1, 1, &version) == -1) {
		snprintf(why, whysz, errno == ENOENT ? "no 'Version'" :
		    "'Version' is not 1");
		goto done;
	}
	if (get_field(o, "AccessKeyId", 1, &out->akid, why, whysz) == -1 ||
	    get_field(o, "SecretAccessKey", 1, &out->secret, why, whysz) ==
	    -1 ||
	    get_field(o, "SessionToken", 0, &out->token, why, whysz) == -1)
		goto done;
	if (kl_json_str(o, "Expiration", &h, &s) == 0) {
		if (kl_time_parse(s, &out->expiration, NULL) == -1) {
			snprintf(why, whysz,
			    "'Expiration' is not an RFC 3339 time");
			jv_free(h);
			goto done;
		}
		jv_free(h);
	} else if (errno != ENOENT) {
		snprintf(why, whysz, "'Expiration' is not a string");
		goto done;
	}
	r = 0;
done:
	jv_free(o);
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

/* The tree. */

static void
node_free(struct node *n)
{
	size_t i;

	if (n == NULL)
		return;
	node_free(n->base);
	kl_creds_free(&n->creds);
	free(n->label);
	free(n->path);
	for (i = 0; n->argv != NULL && n->argv[i] != NULL; i++)
		free(n->argv[i]);
	free(n->argv);
	free(n->role_arn);
	free(n->external_id);
	free(n->session_name);
	free(n);
}

static int nomem(struct kl_err *);

static struct node *node_new(int, struct kl_err *, const char *, ...)
    KL_PRINTF(3, 4);

static struct node *
node_new(int kind, struct kl_err *e, const char *fmt, ...)
{
	struct node *n;
	struct kl_buf b;
	va_list ap;

	if ((n = calloc(1, sizeof(*n))) == NULL) {
		nomem(e);
		return NULL;
	}
	n->kind = kind;
	kl_buf_init(&b);
	va_start(ap, fmt);
	kl_buf_vaddf(&b, fmt, ap);
	va_end(ap);
	if ((n->label = kl_buf_steal(&b)) == NULL) {
		free(n);
		nomem(e);
		return NULL;
	}
	return n;
}

static int
nomem(struct kl_err *e)
{
	kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "%s", strerror(ENOMEM));
	e->sys = ENOMEM;
	return -1;
}

static int fail(struct kl_err *, int, const char *, ...) KL_PRINTF(3, 4);

static int
fail(struct kl_err *e, int kind, const char *fmt, ...)
{
	char msg[sizeof(e->msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	kl_err_set(e, kind, 0, NULL, "%s", msg);
	return -1;
}

/* A leaf of static keys; what is the name of their source in messages. */
static struct node *
keys_node(const char *akid, const char *secret, const char *token,
    const char *what, struct kl_err *e)
{
	struct node *n;

	if (!token_ok(akid) || !token_ok(secret) ||
	    (token != NULL && !token_ok(token))) {
		fail(e, KL_ERR_CONFIG, "%s: a key or token has blanks or "
		    "control characters", what);
		return NULL;
	}
	if ((n = node_new(SRC_KEYS, e, "%s", what)) == NULL)
		return NULL;
	if ((n->creds.akid = strdup(akid)) == NULL ||
	    (n->creds.secret = strdup(secret)) == NULL ||
	    (token != NULL && (n->creds.token = strdup(token)) == NULL)) {
		node_free(n);
		nomem(e);
		return NULL;
	}
	n->have = 1;
	return n;
}

static const char *
env(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0' ? v : NULL;
}

/*
 * The AWS_* key variables: NULL without error if neither key variable is
 * set (unless required), an error if only one is.
 */
static struct node *
env_node(int required, struct kl_err *e)
{
	const char *akid = env("AWS_ACCESS_KEY_ID");
	const char *secret = env("AWS_SECRET_ACCESS_KEY");
	const char *token = env("AWS_SESSION_TOKEN");
	char what[64];

	if (token == NULL)
		token = env("AWS_SECURITY_TOKEN");
	if (akid == NULL && secret == NULL) {
		if (required)
			fail(e, KL_ERR_CONFIG, "credential_source Environment: "
			    "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are "
			    "not set");
		return NULL;
	}
	if (akid == NULL || secret == NULL) {
		fail(e, KL_ERR_CONFIG, "AWS_%s is set but AWS_%s is not",
		    akid != NULL ? "ACCESS_KEY_ID" : "SECRET_ACCESS_KEY",
		    akid != NULL ? "SECRET_ACCESS_KEY" : "ACCESS_KEY_ID");
		return NULL;
	}
	snprintf(what, sizeof(what), "environment (AWS_ACCESS_KEY_ID %s)",
	    kl_akid_tail(akid));
	return keys_node(akid, secret, token, what, e);
}

/* Reads a credential record file into n (a SRC_FILE node). */
static int
read_record(struct node *n, struct kl_creds *out, struct stat *st,
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
		return fail(e, KL_ERR_CONFIG, "'%s' is not a credential record "
		    "(contract §5.1): %s", n->path, why);
	}
	return 0;
}

static struct node *
file_node(const char *path, struct kl_err *e)
{
	struct node *n;

	if ((n = node_new(SRC_FILE, e, "--credentials '%s'", path)) == NULL)
		return NULL;
	if ((n->path = strdup(path)) == NULL) {
		node_free(n);
		nomem(e);
		return NULL;
	}
	if (read_record(n, &n->creds, &n->st, e) == -1) {
		node_free(n);
		return NULL;
	}
	n->have = n->st_ok = 1;
	return n;
}

/*
 * Splits a command line into words like Python's shlex.split (POSIX
 * mode).  Returns a NULL-terminated malloc'd vector, or NULL with why.
 */
static char **
split_words(const char *s, const char **why)
{
	struct kl_buf w;
	char **v = NULL, **nv;
	size_t n = 0;
	int inword = 0, q;

	kl_buf_init(&w);
	*why = "out of memory";
	for (;; s++) {
		if (*s == '\0' || *s == ' ' || *s == '\t' || *s == '\n' ||
		    *s == '\r') {
			if (inword) {
				if ((nv = reallocarray(v, n + 2,
				    sizeof(*v))) == NULL)
					goto bad;
				v = nv;
				if ((v[n] = kl_buf_steal(&w)) == NULL)
					goto bad;
				v[++n] = NULL;
				inword = 0;
			}
			if (*s == '\0')
				break;
			continue;
		}
		inword = 1;
		if (*s == '\\') {
			if (*++s == '\0') {
				*why = "ends in a backslash";
				goto bad;
			}
			kl_buf_addc(&w, *s);
		} else if (*s == '\'' || *s == '"') {
			for (q = *s++; *s != q; s++) {
				if (*s == '\0') {
					*why = "has an unterminated quote";
					goto bad;
				}
				if (q == '"' && *s == '\\' &&
				    (s[1] == '"' || s[1] == '\\'))
					s++;
				kl_buf_addc(&w, *s);
			}
			kl_buf_add(&w, "", 0);
		} else
			kl_buf_addc(&w, *s);
	}
	if (n == 0) {
		*why = "is empty";
		goto bad;
	}
	return v;
bad:
	kl_buf_free(&w);
	while (n > 0)
		free(v[--n]);
	free(v);
	return NULL;
}

static struct node *
process_node(const char *prof, const char *cmd, struct kl_err *e)
{
	const char *why;
	struct node *n;

	if ((n = node_new(SRC_PROCESS, e, "profile '%s' (credential_process)",
	    prof)) == NULL)
		return NULL;
	if ((n->argv = split_words(cmd, &why)) == NULL) {
		fail(e, KL_ERR_CONFIG, "profile '%s': credential_process %s",
		    prof, why);
		node_free(n);
		return NULL;
	}
	return n;
}

static struct node *
assume_node(struct node *base, const char *role, const char *ext,
    const char *sess, long dur, const char *label, struct kl_err *e)
{
	struct node *n;

	if (base == NULL)
		return NULL;
	if ((n = node_new(SRC_ASSUME, e, "%s", label)) == NULL) {
		node_free(base);
		return NULL;
	}
	n->base = base;
	n->duration = dur;
	if ((n->role_arn = strdup(role)) == NULL ||
	    (ext != NULL && (n->external_id = strdup(ext)) == NULL) ||
	    (sess != NULL && (n->session_name = strdup(sess)) == NULL)) {
		node_free(n);
		nomem(e);
		return NULL;
	}
	return n;
}

/* Profiles. */

static const char *
pget(const struct kl_cfg *c, const char *prof, const char *key, int which)
{
	const char *v = kl_profile_get(c, prof, key, which);

	return v != NULL && *v != '\0' ? v : NULL;
}

/*
 * Static keys of profile prof from one file (which): NULL without error
 * if the file has no aws_access_key_id for it.
 */
static struct node *
static_node(const struct kl_cfg *c, const char *prof, int which,
    struct kl_err *e)
{
	const struct kl_ini *ini = which == KL_PROF_CREDS ? &c->creds_ini :
	    &c->config_ini;
	const char *akid, *secret;
	char what[320];

	if ((akid = pget(c, prof, "aws_access_key_id", which)) == NULL)
		return NULL;
	if ((secret = pget(c, prof, "aws_secret_access_key", which)) ==
	    NULL) {
		fail(e, KL_ERR_CONFIG, "profile '%s' has aws_access_key_id but "
		    "no aws_secret_access_key in '%s'", prof, ini->path);
		return NULL;
	}
	if ((ini->mode & (S_IRGRP | S_IROTH)) != 0)
		kl_log(KL_WARNING, 0, "'%s' is readable by group or others; "
		    "run: chmod 600 %s", ini->path, ini->path);
	snprintf(what, sizeof(what), "profile '%s' (static keys)", prof);
	return keys_node(akid, secret, pget(c, prof, "aws_session_token",
	    which), what, e);
}

static struct node *profile_node(const struct kl_cfg *, const char *,
    const char **, int, struct kl_err *);

/* A role_arn profile: its source, then the role. */
static struct node *
role_node(const struct kl_cfg *c, const char *prof, const char **seen,
    int nseen, struct kl_err *e)
{
	const char *role = pget(c, prof, "role_arn", KL_PROF_ANY);
	const char *src = pget(c, prof, "source_profile", KL_PROF_ANY);
	const char *csrc = pget(c, prof, "credential_source", KL_PROF_ANY);
	const char *ext = pget(c, prof, "external_id", KL_PROF_ANY);
	const char *sess = pget(c, prof, "role_session_name", KL_PROF_ANY);
	const char *durs = pget(c, prof, "duration_seconds", KL_PROF_ANY);
	unsigned long long dur = 0;
	struct node *base;
	struct kl_buf b;
	const char *why = NULL;
	char label[320];
	int i, loop;

	if (!kl_role_arn_ok(role))
		why = "role_arn is not arn:aws:iam::ACCOUNT:role/NAME";
	else if (src != NULL && csrc != NULL)
		why = "source_profile and credential_source exclude each other";
	else if (src == NULL && csrc == NULL)
		why = "role_arn needs source_profile or credential_source";
	else if (durs != NULL && kl_parse_uint(durs, 900, 43200, &dur) == -1)
		why = "duration_seconds wants 900 to 43200";
	else if (ext != NULL && !kl_external_id_ok(ext))
		why = "external_id wants 2-1224 of [A-Za-z0-9_+=,.@:/-]";
	else if (sess != NULL && !kl_session_name_ok(sess))
		why = "role_session_name wants 2-64 of [A-Za-z0-9_+=,.@-]";
	if (why != NULL) {
		fail(e, KL_ERR_CONFIG, "profile '%s': %s", prof, why);
		return NULL;
	}
	if (src != NULL && strcmp(src, prof) == 0) {
		base = static_node(c, prof, KL_PROF_CREDS, e);
		if (base == NULL && e->kind == KL_ERR_NONE)
			base = static_node(c, prof, KL_PROF_CONFIG, e);
		if (base == NULL && e->kind == KL_ERR_NONE)
			fail(e, KL_ERR_CONFIG, "profile '%s' is its own "
			    "source_profile but has no static keys", prof);
	} else if (src != NULL) {
		for (i = 0, loop = 0; i < nseen; i++)
			loop |= strcmp(seen[i], src) == 0;
		if (loop || nseen + 1 >= CHAIN_MAX) {
			kl_buf_init(&b);
			for (i = 0; i < nseen; i++)
				kl_buf_addf(&b, "%s -> ", seen[i]);
			kl_buf_addf(&b, "%s -> %s", prof, src);
			fail(e, KL_ERR_CONFIG, "source_profile %s: %s",
			    loop ? "loop" : "chain too long",
			    b.err ? "?" : b.data);
			kl_buf_free(&b);
			return NULL;
		}
		seen[nseen] = prof;
		base = profile_node(c, src, seen, nseen + 1, e);
	} else if (strcasecmp(csrc, "Environment") == 0)
		base = env_node(1, e);
	else {
		fail(e, KL_ERR_CONFIG, "profile '%s': credential_source "
		    "'%.40s' is not supported (only Environment)", prof, csrc);
		return NULL;
	}
	snprintf(label, sizeof(label), "profile '%s' (role_arn)", prof);
	return assume_node(base, role, ext, sess, (long)dur, label, e);
}

/*
 * The credentials of profile prof.  seen holds the profiles that led
 * here through source_profile (none at the top); it has room for
 * CHAIN_MAX names.
 */
static struct node *
profile_node(const struct kl_cfg *c, const char *prof, const char **seen,
    int nseen, struct kl_err *e)
{
	const char *cmd;
	struct node *n;

	if (!kl_profile_exists(c, prof)) {
		kl_profile_missing(c, prof, e);
		return NULL;
	}
	if (pget(c, prof, "role_arn", KL_PROF_ANY) != NULL && (nseen == 0 ||
	    pget(c, prof, "aws_access_key_id", KL_PROF_ANY) == NULL))
		return role_node(c, prof, seen, nseen, e);
	if ((n = static_node(c, prof, KL_PROF_CREDS, e)) != NULL ||
	    e->kind != KL_ERR_NONE)
		return n;
	if ((cmd = pget(c, prof, "credential_process", KL_PROF_ANY)) != NULL)
		return process_node(prof, cmd, e);
	if ((n = static_node(c, prof, KL_PROF_CONFIG, e)) != NULL ||
	    e->kind != KL_ERR_NONE)
		return n;
	fail(e, KL_ERR_CONFIG, "profile '%s' has no credentials: no "
	    "aws_access_key_id, credential_process or role_arn", prof);
	return NULL;
}

/* Steps 3 to 5 of contract §3: --profile, the environment, the files. */
static struct node *
rest_chain(const struct kl_awsopts *o, const struct kl_cfg *c,
    struct kl_err *e)
{
	const char *seen[CHAIN_MAX], *prof;
	struct node *n;

	if (o->profile != NULL)
		return profile_node(c, o->profile, seen, 0, e);
	if ((n = env_node(0, e)) != NULL || e->kind != KL_ERR_NONE)
		return n;
	prof = env("AWS_PROFILE") != NULL ? env("AWS_PROFILE") : "default";
	if (!kl_profile_exists(c, prof) || (pget(c, prof, "role_arn",
	    KL_PROF_ANY) == NULL && pget(c, prof, "aws_access_key_id",
	    KL_PROF_ANY) == NULL && pget(c, prof, "credential_process",
	    KL_PROF_ANY) == NULL)) {
		fail(e, KL_ERR_CONFIG, "no AWS credentials: tried "
		    "--credentials, --auth, --profile, AWS_ACCESS_KEY_ID and "
		    "AWS_SECRET_ACCESS_KEY, and profile '%s' in '%s' and '%s'",
		    prof, c->creds_ini.path, c->config_ini.path);
		return NULL;
	}
	return profile_node(c, prof, seen, 0, e);
}

/* Step 2: a stored authorization. */
static struct node *
auth_node(const struct kl_awsopts *o, const struct kl_cfg *c,
    struct kl_err *e)
{
	struct kl_auth a;
	struct node *n;
	char what[160];

	if (kl_store_load(o->auth, &a, e) == -1) {
		kl_auth_free(&a);
		return NULL;
	}
	snprintf(what, sizeof(what), "authorization '%s' (%s)", a.name,
	    a.access_key_id != NULL ? "keys" : "no keys");
	if (a.access_key_id != NULL)
		n = keys_node(a.access_key_id, a.secret_access_key, NULL, what,
		    e);
	else
		n = rest_chain(o, c, e);
	if (a.method == KL_AUTH_DELEGATED) {
		snprintf(what, sizeof(what), "authorization '%s' (delegated)",
		    a.name);
		n = assume_node(n, a.role_arn, a.external_id, a.session_name,
		    a.duration, what, e);
	}
	kl_auth_free(&a);
	return n;
}

static int
has_assume(const struct node *n)
{
	for (; n != NULL; n = n->base)
		if (n->kind == SRC_ASSUME)
			return 1;
	return 0;
}

/*
 * Resolves which credential provider applies (contract §3) for options o
 * and configuration c (both only read here; c may be freed afterwards).
 * fn is the AssumeRole step (sts.c) with its context; NULL if the
 * program cannot assume roles.  Nothing is run or sent yet.  Returns the
 * chain (free it with kl_credsrc_free), or NULL with e filled:
 * KL_ERR_CONFIG (exit 2) for configuration mistakes, KL_ERR_PERMANENT
 * (exit 1) for a file that cannot be read or ENOMEM.
 */
struct kl_credsrc *
kl_credsrc_new(const struct kl_awsopts *o, const struct kl_cfg *c,
    kl_assume_fn fn, void *ctx, struct kl_err *e)
{
	struct kl_credsrc *s;
	struct kl_buf b;
	struct node *n, *top;
	char label[2200];

	kl_err_clear(e);
	if (o->credentials != NULL)
		top = file_node(o->credentials, e);
	else if (o->auth != NULL)
		top = auth_node(o, c, e);
	else
		top = rest_chain(o, c, e);
	if (top != NULL && o->role_arn != NULL) {
		snprintf(label, sizeof(label), "role '%s' (--role-arn)",
		    o->role_arn);
		top = assume_node(top, o->role_arn, o->external_id,
		    o->session_name, o->duration, label, e);
	}
	if (top == NULL)
		return NULL;
	if (fn == NULL && has_assume(top)) {
		node_free(top);
		fail(e, KL_ERR_CONFIG, "these credentials need a role to be "
		    "assumed, which this program cannot do");
		return NULL;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		node_free(top);
		nomem(e);
		return NULL;
	}
	s->top = top;
	s->fn = fn;
	s->ctx = ctx;
	s->region = c->region != NULL ? strdup(c->region) : NULL;
	s->sts_url = c->sts_url != NULL ? strdup(c->sts_url) : NULL;
	kl_buf_init(&b);
	for (n = top; n != NULL; n = n->base)
		kl_buf_addf(&b, "%s%s", n == top ? "" : " via ", n->label);
	s->desc = kl_buf_steal(&b);
	if ((c->region != NULL && s->region == NULL) ||
	    (c->sts_url != NULL && s->sts_url == NULL) || s->desc == NULL) {
		kl_credsrc_free(s);
		nomem(e);
		return NULL;
	}
	return s;
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
		return fail(e, KL_ERR_PERMANENT, "%s: the credentials expired "
		    "at %s", n->label, t);
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
	if (read_record(n, &fresh, &st, e) == 0) {
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
		fail(e, KL_ERR_PERMANENT, "pipe: %s", strerror(errno));
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
		fail(e, KL_ERR_PERMANENT, "cannot run credential_process "
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
		return nomem(e);
	if ((pid = spawn(n->argv, &fd, e)) == -1)
		goto done;
	why = drain(fd, &b, deadline, &stopped);
	close(fd);
	why = reap(pid, deadline, why, &status, &stopped);
	if (stopped)
		kl_err_set(e, KL_ERR_STOPPED, 0, NULL, "stopped");
	else if (why != NULL)
		fail(e, KL_ERR_PERMANENT, "credential_process '%s' %s",
		    n->argv[0], why);
	else if (WIFSIGNALED(status))
		fail(e, KL_ERR_PERMANENT, "credential_process '%s' was killed "
		    "by signal %d", n->argv[0], WTERMSIG(status));
	else if (WEXITSTATUS(status) != 0)
		fail(e, KL_ERR_PERMANENT, "credential_process '%s' exited with "
		    "status %d%s", n->argv[0], WEXITSTATUS(status),
		    WEXITSTATUS(status) == 127 ? " (not found?)" : "");
	else if (kl_creds_parse(b.data, b.len, &fresh, pwhy,
	    sizeof(pwhy)) == -1) {
		kl_creds_free(&fresh);
		fail(e, KL_ERR_PERMANENT, "credential_process '%s' did not "
		    "print a credential record: %s", n->argv[0], pwhy);
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

/* Frees s and everything it holds, wiping the credentials. */
void
kl_credsrc_free(struct kl_credsrc *s)
{
	if (s == NULL)
		return;
	node_free(s->top);
	free(s->region);
	free(s->sts_url);
	free(s->desc);
	free(s);
}
