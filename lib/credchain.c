/*
 * credchain.c - which AWS credentials apply: the provider chain of
 * contract §3 resolved once into a small tree of sources (creds.c
 * describes the tree and fetches and refreshes it).
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
 * - Profiles follow botocore (aws-protocol.md §4.2, §4.3): for the
 *   profile chosen at the top, role_arn wins; then static keys from the
 *   credentials file, credential_process, static keys from the config
 *   file.  As a source_profile, a profile's static keys win over its
 *   role_arn, and a profile may name itself only if it has static keys.
 *   credential_source = Environment takes the AWS_* key variables; the
 *   EC2 and ECS sources are not supported.  Empty values count as absent.
 *
 * - credential_process: the command line is split into words here, as
 *   Python's shlex does for botocore: blanks separate, '...' is literal,
 *   "..." honours \" and \\, a backslash outside quotes escapes any
 *   character.  A line that cannot be split is a configuration error
 *   before anything runs.
 *
 * - Messages name files, profiles and roles, and key ids by their last 4
 *   characters; never a secret.
 */
#include <config.h>

#include <sys/stat.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kl.h"
#include "creds.h"

#define CHAIN_MAX	16		/* source_profile depth */

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

static struct node *node_new(int, struct kl_err *, const char *, ...)
    KL_PRINTF(3, 4);

static struct node *
node_new(int kind, struct kl_err *e, const char *fmt, ...)
{
	struct node *n;
	struct kl_buf b;
	va_list ap;

	if ((n = calloc(1, sizeof(*n))) == NULL) {
		kl_cs_nomem(e);
		return NULL;
	}
	n->kind = kind;
	kl_buf_init(&b);
	va_start(ap, fmt);
	kl_buf_vaddf(&b, fmt, ap);
	va_end(ap);
	if ((n->label = kl_buf_steal(&b)) == NULL) {
		free(n);
		kl_cs_nomem(e);
		return NULL;
	}
	return n;
}

/* A leaf of static keys; what is the name of their source in messages. */
static struct node *
keys_node(const char *akid, const char *secret, const char *token,
    const char *what, struct kl_err *e)
{
	struct node *n;

	if (!kl_cs_token_ok(akid) || !kl_cs_token_ok(secret) ||
	    (token != NULL && !kl_cs_token_ok(token))) {
		kl_cs_fail(e, KL_ERR_CONFIG, "%s: a key or token has blanks or "
		    "control characters", what);
		return NULL;
	}
	if ((n = node_new(SRC_KEYS, e, "%s", what)) == NULL)
		return NULL;
	if ((n->creds.akid = strdup(akid)) == NULL ||
	    (n->creds.secret = strdup(secret)) == NULL ||
	    (token != NULL && (n->creds.token = strdup(token)) == NULL)) {
		node_free(n);
		kl_cs_nomem(e);
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
			kl_cs_fail(e, KL_ERR_CONFIG, "credential_source "
			    "Environment: AWS_ACCESS_KEY_ID and "
			    "AWS_SECRET_ACCESS_KEY are not set");
		return NULL;
	}
	if (akid == NULL || secret == NULL) {
		kl_cs_fail(e, KL_ERR_CONFIG, "AWS_%s is set but AWS_%s is not",
		    akid != NULL ? "ACCESS_KEY_ID" : "SECRET_ACCESS_KEY",
		    akid != NULL ? "SECRET_ACCESS_KEY" : "ACCESS_KEY_ID");
		return NULL;
	}
	snprintf(what, sizeof(what), "environment (AWS_ACCESS_KEY_ID %s)",
	    kl_akid_tail(akid));
	return keys_node(akid, secret, token, what, e);
}

static struct node *
file_node(const char *path, struct kl_err *e)
{
	struct node *n;

	if ((n = node_new(SRC_FILE, e, "--credentials '%s'", path)) == NULL)
		return NULL;
	if ((n->path = strdup(path)) == NULL) {
		node_free(n);
		kl_cs_nomem(e);
		return NULL;
	}
	if (kl_cs_read_record(n, &n->creds, &n->st, e) == -1) {
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
		kl_cs_fail(e, KL_ERR_CONFIG, "profile '%s': credential_process "
		    "%s", prof, why);
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
		kl_cs_nomem(e);
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
		kl_cs_fail(e, KL_ERR_CONFIG, "profile '%s' has "
		    "aws_access_key_id but no aws_secret_access_key in '%s'",
		    prof, ini->path);
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
		kl_cs_fail(e, KL_ERR_CONFIG, "profile '%s': %s", prof, why);
		return NULL;
	}
	if (src != NULL && strcmp(src, prof) == 0) {
		base = static_node(c, prof, KL_PROF_CREDS, e);
		if (base == NULL && e->kind == KL_ERR_NONE)
			base = static_node(c, prof, KL_PROF_CONFIG, e);
		if (base == NULL && e->kind == KL_ERR_NONE)
			kl_cs_fail(e, KL_ERR_CONFIG, "profile '%s' is its own "
			    "source_profile but has no static keys", prof);
	} else if (src != NULL) {
		for (i = 0, loop = 0; i < nseen; i++)
			loop |= strcmp(seen[i], src) == 0;
		if (loop || nseen + 1 >= CHAIN_MAX) {
			kl_buf_init(&b);
			for (i = 0; i < nseen; i++)
				kl_buf_addf(&b, "%s -> ", seen[i]);
			kl_buf_addf(&b, "%s -> %s", prof, src);
			kl_cs_fail(e, KL_ERR_CONFIG, "source_profile %s: %s",
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
		kl_cs_fail(e, KL_ERR_CONFIG, "profile '%s': credential_source "
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
	kl_cs_fail(e, KL_ERR_CONFIG, "profile '%s' has no credentials: no "
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
		kl_cs_fail(e, KL_ERR_CONFIG, "no AWS credentials: tried "
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
		kl_cs_fail(e, KL_ERR_CONFIG, "these credentials need a role to "
		    "be assumed, which this program cannot do");
		return NULL;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		node_free(top);
		kl_cs_nomem(e);
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
		kl_cs_nomem(e);
		return NULL;
	}
	return s;
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
