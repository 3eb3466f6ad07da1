/*
 * profile.c - the AWS shared profile files (aws-protocol.md §4.2): a
 * small INI parser, the profiles of a loaded configuration, and the
 * whole-file read behind them and behind kl_read_private().  cfg.c
 * resolves options, region and endpoints from what this file reads; the
 * reading is kept apart because its rules (configparser's, botocore's)
 * have nothing to do with the order of contract §3.
 *
 * Design decisions:
 *
 * - The profile files are read whole (1 MiB at most) by a small INI
 *   parser that follows Python's configparser as botocore uses it: keys
 *   are lower-cased, `=` or `:` separates key and value, full-line
 *   comments start with `#` or `;` (no inline comments: `a = b # c` is
 *   "b # c", as in the CLI), more-indented lines continue the value above,
 *   and those under a key with an empty value form a nested sub-section
 *   (`s3 =` then `  max_concurrent_requests = 10`), which is skipped.  It
 *   is stricter than configparser where a silent mistake would cost: text
 *   after `]`, an empty section name, a line outside any section, a line
 *   without `=`, duplicate sections and keys are errors with FILE:LINE.
 *   Messages never quote a line: a pasted secret must not reach stderr.
 *
 * - In the config file a profile's section is `[profile NAME]` (or
 *   `[default]`); a bare `[NAME]` is not a profile there, as in the CLI,
 *   but a profile that is not found mentions such a section.  In the
 *   credentials file sections are bare names.  The credentials file's
 *   values win over the config file's for the same profile (botocore
 *   merges them that way).  A missing file is no error; an unreadable one
 *   is.
 *
 * - Secret-bearing files (the Lytics key, credential records, the kl-auth
 *   store) go through kl_read_private(), which refuses a file that group
 *   or others can read, with the chmod that fixes it, and reads into a
 *   buffer sized once so no stale copy is left behind by realloc.
 */
#include <config.h>

#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kl.h"

#define INI_MAX		(1024 * 1024)

/* Private reads. */

/* Quotes a path for a shell command in a message, if it needs it. */
static const char *
shell_quote(const char *s, char *buf, size_t n)
{
	size_t i, k = 0;

	if (s[strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789_./+-~")] == '\0' && *s != '\0' && *s != '~')
		return s;
	buf[k++] = '\'';
	for (i = 0; s[i] != '\0' && k + 6 < n; i++) {
		if (s[i] == '\'') {
			memcpy(buf + k, "'\\''", 4);
			k += 4;
		} else
			buf[k++] = s[i];
	}
	buf[k++] = '\'';
	buf[k] = '\0';
	return buf;
}

static int
sys_fail(struct kl_err *e, const char *what, const char *path, int fd)
{
	int errnum = errno;

	if (fd != -1)
		close(fd);
	kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "cannot %s '%s': %s", what,
	    path, strerror(errnum));
	e->sys = errnum;
	return -1;
}

/*
 * Reads a whole file of at most max bytes into b (which must be empty).
 * A regular file goes into one buffer sized from fstat, so no copy is
 * left behind by realloc.  With private set, refuses a file that group
 * or others can read, and anything but a regular file; without, a
 * device such as /dev/null is read too.  Fills *st if not NULL.  Returns
 * 0, or -1 with e filled: KL_ERR_CONFIG for a file that is readable by
 * others, of the wrong type or too large; KL_ERR_PERMANENT for a file
 * that cannot be opened or read (e->sys holds errno: ENOENT for a
 * missing file, EISDIR for a folder).
 */
static int
slurp(const char *path, int private, size_t max, struct kl_buf *b,
    struct stat *st, struct kl_err *e)
{
	struct stat sb;
	char q[512], chunk[4096];
	ssize_t r;
	size_t want;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) == -1)
		return sys_fail(e, "open", path, -1);
	if (fstat(fd, &sb) == -1)
		return sys_fail(e, "read", path, fd);
	if (S_ISDIR(sb.st_mode)) {
		errno = EISDIR;
		return sys_fail(e, "read", path, fd);
	}
	if (private && !S_ISREG(sb.st_mode)) {
		close(fd);
		kl_err_set(e, KL_ERR_CONFIG, 0, NULL,
		    "'%s' is not a regular file", path);
		e->sys = EINVAL;
		return -1;
	}
	if (private && (sb.st_mode & (S_IRGRP | S_IROTH)) != 0) {
		close(fd);
		kl_err_set(e, KL_ERR_CONFIG, 0, NULL,
		    "'%s' is readable by group or others; run: chmod 600 %s",
		    path, shell_quote(path, q, sizeof(q)));
		e->sys = EPERM;
		return -1;
	}
	if ((unsigned long long)sb.st_size > max) {
		close(fd);
		kl_err_set(e, KL_ERR_CONFIG, 0, NULL,
		    "'%s' is larger than %zu bytes", path, max);
		e->sys = EFBIG;
		return -1;
	}
	/* The byte past st_size shows a file that grows meanwhile. */
	want = S_ISREG(sb.st_mode) ? (size_t)sb.st_size + 1 : max + 1;
	if (S_ISREG(sb.st_mode) && kl_buf_reserve(b, want) == -1)
		return sys_fail(e, "read", path, fd);
	while (b->len < want) {
		if (S_ISREG(sb.st_mode))
			r = read(fd, b->data + b->len, want - b->len);
		else if ((r = read(fd, chunk, sizeof(chunk))) > 0)
			kl_buf_add(b, chunk, (size_t)r);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1 || b->err)
			return sys_fail(e, "read", path, fd);
		if (r == 0)
			break;
		if (S_ISREG(sb.st_mode))
			b->len += (size_t)r;
	}
	close(fd);
	if (b->len == want) {
		kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "'%s' %s", path,
		    S_ISREG(sb.st_mode) ? "changed while being read" :
		    "is too large");
		e->sys = EAGAIN;
		return -1;
	}
	if (kl_buf_reserve(b, 0) == -1)
		return sys_fail(e, "read", path, -1);
	b->data[b->len] = '\0';
	if (st != NULL)
		*st = sb;
	return 0;
}

/*
 * Reads a secret-bearing file (at most max bytes) into b, which must be
 * empty; the caller wipes it with kl_buf_wipe.  Refuses a file that group
 * or others can read, naming the path and the chmod 600 that fixes it.
 * Fills *st if not NULL.  Returns 0, or -1 with e filled: KL_ERR_CONFIG
 * (readable by others, not a regular file, too large: exit 2) or
 * KL_ERR_PERMANENT (cannot open or read it: exit 1; e->sys is errno).
 */
int
kl_read_private(const char *path, size_t max, struct kl_buf *b,
    struct stat *st, struct kl_err *e)
{
	return slurp(path, 1, max, b, st, e);
}

/* The INI parser. */

static void
trim(const char **s, const char **end)
{
	while (*s < *end && (**s == ' ' || **s == '\t'))
		(*s)++;
	while (*end > *s && ((*end)[-1] == ' ' || (*end)[-1] == '\t'))
		(*end)--;
}

static int ini_fail(struct kl_err *, const char *, long, const char *, ...)
    KL_PRINTF(4, 5);

static int
ini_fail(struct kl_err *e, const char *name, long line, const char *fmt, ...)
{
	char why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	kl_err_set(e, KL_ERR_CONFIG, 0, NULL, "%s:%ld: %s", name, line, why);
	return -1;
}

/*
 * The profile a config-file section stands for: "default" for [default]
 * and [profile default], NAME for [profile NAME] or [profile "NAME"],
 * none for anything else.
 */
static char *
config_profile(const char *sec, int *explicit)
{
	const char *p, *end;

	*explicit = 0;
	if (strcmp(sec, "default") == 0)
		return strdup(sec);
	if (strncmp(sec, "profile", 7) != 0 || (sec[7] != ' ' &&
	    sec[7] != '\t'))
		return NULL;
	for (p = sec + 7; *p == ' ' || *p == '\t'; p++)
		;
	end = p + strlen(p);
	if (end - p >= 2 && *p == '"' && end[-1] == '"') {
		p++;
		end--;
	} else if (strpbrk(p, " \t\"'") != NULL)
		return NULL;
	if (end == p)
		return NULL;
	*explicit = 1;
	return strndup(p, (size_t)(end - p));
}

static struct kl_ini_sec *
ini_find(const struct kl_ini *ini, const char *name)
{
	size_t i;

	for (i = 0; i < ini->n; i++)
		if (strcmp(ini->sec[i].name, name) == 0)
			return &ini->sec[i];
	return NULL;
}

static struct kl_ini_kv *
sec_find(const struct kl_ini_sec *s, const char *key)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->kv[i].key, key) == 0)
			return &s->kv[i];
	return NULL;
}

static int
ini_add_sec(struct kl_ini *ini, char *name, long line)
{
	struct kl_ini_sec *s;
	size_t cap;

	if (ini->n == ini->cap) {
		cap = ini->cap ? ini->cap * 2 : 8;
		if ((s = reallocarray(ini->sec, cap, sizeof(*s))) == NULL)
			return -1;
		ini->sec = s;
		ini->cap = cap;
	}
	s = &ini->sec[ini->n];
	memset(s, 0, sizeof(*s));
	s->name = name;
	s->line = line;
	if (ini->kind == KL_INI_CONFIG)
		s->profile = config_profile(name, &s->explicit);
	else
		s->profile = strdup(name);
	ini->n++;
	return 0;
}

static struct kl_ini_kv *
ini_add_kv(struct kl_ini_sec *s, char *key, char *val, long line)
{
	struct kl_ini_kv *kv;
	size_t cap;

	if (s->n == s->cap) {
		cap = s->cap ? s->cap * 2 : 8;
		if ((kv = reallocarray(s->kv, cap, sizeof(*kv))) == NULL)
			return NULL;
		s->kv = kv;
		s->cap = cap;
	}
	kv = &s->kv[s->n++];
	kv->key = key;
	kv->val = val;
	kv->line = line;
	return kv;
}

/* Appends "\n" and the n bytes at p to a value, wiping the old copy. */
static int
kv_append(struct kl_ini_kv *kv, const char *p, size_t n)
{
	size_t old = strlen(kv->val);
	char *v;

	if ((v = malloc(old + n + 2)) == NULL)
		return -1;
	memcpy(v, kv->val, old);
	v[old] = '\n';
	memcpy(v + old + 1, p, n);
	v[old + n + 1] = '\0';
	explicit_bzero(kv->val, old);
	free(kv->val);
	kv->val = v;
	return 0;
}

/*
 * Parses the n bytes at p as an INI file of the given kind (KL_INI_CONFIG
 * or KL_INI_CREDS) into ini, which the caller zeroed or kl_ini_free'd;
 * name is used in messages ("FILE:LINE: reason").  The caller frees ini
 * with kl_ini_free, also after a failure.  Returns 0, or -1 with e filled
 * (KL_ERR_CONFIG; KL_ERR_PERMANENT with e->sys ENOMEM).
 */
int
kl_ini_parse(struct kl_ini *ini, int kind, const char *name, const char *p,
    size_t n, struct kl_err *e)
{
	const char *end = p + n, *nl, *s, *t, *eq, *k, *v;
	struct kl_ini_sec *sec = NULL, *dup;
	struct kl_ini_kv *kv = NULL, *dkv;
	size_t indent, kv_indent = 0;
	char *ks, *vs, *q;
	long line = 0;
	int nested = 0;

	ini->kind = kind;
	for (; p < end; p = nl + 1) {
		line++;
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		if (memchr(p, '\0', (size_t)(nl - p)) != NULL)
			return ini_fail(e, name, line, "NUL byte");
		s = p;
		t = nl;
		if (t > s && t[-1] == '\r')
			t--;
		for (indent = 0; s < t && (*s == ' ' || *s == '\t'); s++)
			indent++;
		trim(&s, &t);
		if (s == t || *s == '#' || *s == ';')
			continue;
		if (kv != NULL && indent > kv_indent) {
			/* Continuation, or a nested sub-section: skipped. */
			if (!nested && kv_append(kv, s, (size_t)(t - s)) == -1)
				goto nomem;
			continue;
		}
		kv = NULL;
		if (*s == '[') {
			if ((eq = memchr(s, ']', (size_t)(t - s))) == NULL)
				return ini_fail(e, name, line,
				    "section header without ']'");
			for (k = eq + 1; k < t && (*k == ' ' || *k == '\t');
			    k++)
				;
			if (k < t && *k != '#' && *k != ';')
				return ini_fail(e, name, line,
				    "text after ']'");
			s++;
			trim(&s, &eq);
			if (s == eq)
				return ini_fail(e, name, line,
				    "empty section name");
			if ((ks = strndup(s, (size_t)(eq - s))) == NULL)
				goto nomem;
			if ((dup = ini_find(ini, ks)) != NULL) {
				ini_fail(e, name, line, "duplicate section "
				    "[%s] (first at line %d)", ks, dup->line);
				free(ks);
				return -1;
			}
			if (ini_add_sec(ini, ks, line) == -1) {
				free(ks);
				goto nomem;
			}
			sec = &ini->sec[ini->n - 1];
			kv_indent = indent;
			continue;
		}
		if (sec == NULL)
			return ini_fail(e, name, line, "line outside a section "
			    "(a [section] header must come first)");
		for (eq = s; eq < t && *eq != '=' && *eq != ':'; eq++)
			;
		if (eq == t)
			return ini_fail(e, name, line,
			    "line without '=' (expected 'key = value')");
		k = s;
		v = eq + 1;
		trim(&k, &eq);
		trim(&v, &t);
		if (k == eq)
			return ini_fail(e, name, line, "no key before '='");
		if ((ks = strndup(k, (size_t)(eq - k))) == NULL)
			goto nomem;
		for (q = ks; *q != '\0'; q++)
			*q = (char)tolower((unsigned char)*q);
		if ((dkv = sec_find(sec, ks)) != NULL) {
			ini_fail(e, name, line, "duplicate key '%s' (first at "
			    "line %d)", ks, dkv->line);
			free(ks);
			return -1;
		}
		if ((vs = strndup(v, (size_t)(t - v))) == NULL ||
		    (kv = ini_add_kv(sec, ks, vs, line)) == NULL) {
			free(ks);
			free(vs);
			goto nomem;
		}
		nested = *vs == '\0';
		kv_indent = indent;
	}
	return 0;
nomem:
	kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "%s: %s", name,
	    strerror(ENOMEM));
	e->sys = ENOMEM;
	return -1;
}

/*
 * Reads and parses the INI file at path into ini (see kl_ini_parse).  A
 * missing file leaves ini empty with ini->found 0 and is no error.
 * Returns 0, or -1 with e filled: KL_ERR_PERMANENT if the file cannot be
 * read (path and reason; exit 1), KL_ERR_CONFIG if it is malformed.
 */
int
kl_ini_load(struct kl_ini *ini, int kind, const char *path, struct kl_err *e)
{
	struct kl_buf b;
	struct stat st;
	int r;

	memset(ini, 0, sizeof(*ini));
	ini->kind = kind;
	if ((ini->path = strdup(path)) == NULL) {
		kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "%s",
		    strerror(ENOMEM));
		return -1;
	}
	kl_buf_init(&b);
	if (slurp(path, 0, INI_MAX, &b, &st, e) == -1) {
		if (e->kind == KL_ERR_PERMANENT && (e->sys == ENOENT ||
		    e->sys == ENOTDIR)) {
			kl_err_clear(e);
			return 0;
		}
		return -1;
	}
	ini->found = 1;
	ini->mode = st.st_mode;
	r = kl_ini_parse(ini, kind, path, b.data, b.len, e);
	kl_buf_wipe(&b);
	return r;
}

/* Frees what ini holds, wiping every value (keys may be among them). */
void
kl_ini_free(struct kl_ini *ini)
{
	size_t i, j;

	for (i = 0; i < ini->n; i++) {
		for (j = 0; j < ini->sec[i].n; j++) {
			free(ini->sec[i].kv[j].key);
			explicit_bzero(ini->sec[i].kv[j].val,
			    strlen(ini->sec[i].kv[j].val));
			free(ini->sec[i].kv[j].val);
		}
		free(ini->sec[i].kv);
		free(ini->sec[i].name);
		free(ini->sec[i].profile);
	}
	free(ini->sec);
	free(ini->path);
	memset(ini, 0, sizeof(*ini));
}

/*
 * Returns the section of ini that holds profile prof, or NULL.  In a
 * config file [profile default] wins over [default].
 */
const struct kl_ini_sec *
kl_ini_profile(const struct kl_ini *ini, const char *prof)
{
	const struct kl_ini_sec *best = NULL;
	size_t i;

	for (i = 0; i < ini->n; i++)
		if (ini->sec[i].profile != NULL &&
		    strcmp(ini->sec[i].profile, prof) == 0 &&
		    (best == NULL || ini->sec[i].explicit))
			best = &ini->sec[i];
	return best;
}

/* Returns the value of key (lower case) in profile prof of ini, or NULL. */
const char *
kl_ini_get(const struct kl_ini *ini, const char *prof, const char *key)
{
	const struct kl_ini_sec *s = kl_ini_profile(ini, prof);
	const struct kl_ini_kv *kv;

	if (s == NULL || (kv = sec_find(s, key)) == NULL)
		return NULL;
	return kv->val;
}

/* Profiles of a loaded configuration. */

/* Returns 1 if profile prof is in the credentials or the config file. */
int
kl_profile_exists(const struct kl_cfg *c, const char *prof)
{
	return kl_ini_profile(&c->creds_ini, prof) != NULL ||
	    kl_ini_profile(&c->config_ini, prof) != NULL;
}

/*
 * Returns the value of key in profile prof, or NULL: from the
 * credentials file (if which has KL_PROF_CREDS), else from the config
 * file (if which has KL_PROF_CONFIG).  The string belongs to c.
 */
const char *
kl_profile_get(const struct kl_cfg *c, const char *prof, const char *key,
    int which)
{
	const char *v = NULL;

	if (which & KL_PROF_CREDS)
		v = kl_ini_get(&c->creds_ini, prof, key);
	if (v == NULL && (which & KL_PROF_CONFIG))
		v = kl_ini_get(&c->config_ini, prof, key);
	return v;
}

/*
 * Fills e with "profile 'x' not found in 'CONFIG' or 'CREDENTIALS'" and
 * a hint when the config file has a bare [x].  Returns -1.
 */
int
kl_profile_missing(const struct kl_cfg *c, const char *prof,
    struct kl_err *e)
{
	char hint[160] = "";

	if (ini_find(&c->config_ini, prof) != NULL)
		snprintf(hint, sizeof(hint), " (the config file has [%.40s], "
		    "but there a profile's section is [profile %.40s])", prof,
		    prof);
	kl_err_set(e, KL_ERR_CONFIG, 0, NULL,
	    "profile '%s' not found in '%s' or '%s'%s", prof,
	    c->config_ini.path, c->creds_ini.path, hint);
	return -1;
}
