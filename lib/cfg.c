/*
 * cfg.c - the options every AWS or Lytics command shares (contract §2),
 * region and endpoint resolution (contract §3), and the AWS shared
 * profile files (aws-protocol.md §4.2).
 *
 * Design decisions:
 *
 * - Option parsing stays in the command's getopt_long loop: the command
 *   splices KL_AWS_LONGOPTS (and KL_ASSUME_LONGOPTS, KL_LYTICS_LONGOPTS)
 *   into its table and offers each option to kl_awsopt() or kl_lyticsopt()
 *   first.  Values are checked there, so a bad one is a usage error (exit
 *   2) before anything is read; the message is logged here because only
 *   this file knows what each option wants.
 *
 * - Region: --region, AWS_REGION, AWS_DEFAULT_REGION, the profile's
 *   `region`.  With --auth NAME the authorization's own region comes
 *   just before the profile's: it stands where the profile would.
 *
 * - Endpoints: --endpoint-url names the command's own service: Kinesis,
 *   or STS when the command sets kl_awsopts.endpoint_sts (kl-assume-role,
 *   whose only service is STS; the Kinesis URL is then resolved without
 *   it).  Then AWS_ENDPOINT_URL_KINESIS (or _STS), AWS_ENDPOINT_URL, and
 *   the profile's `endpoint_url` (botocore's order); the `[services]`
 *   sections are not read.  AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true skips
 *   the variables and the profile, as in the SDKs.  An endpoint is
 *   scheme://host[:port], http or https, no path; a trailing "/" is
 *   dropped.
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
 *   is.  A profile named by --profile or AWS_PROFILE must exist in one of
 *   the files; `default` need not.
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
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "kl.h"

#define INI_MAX		(1024 * 1024)
#define LYTICS_KEY_MAX	4096
#define LYTICS_DEFAULT	"https://api.lytics.io"

/* Validation of option values. */

/* Returns 1 if s is a plausible region name: 1-64 of [a-z0-9-]. */
int
kl_region_ok(const char *s)
{
	size_t n;

	for (n = 0; s[n] != '\0'; n++)
		if (!islower((unsigned char)s[n]) &&
		    !isdigit((unsigned char)s[n]) && s[n] != '-')
			return 0;
	return n >= 1 && n <= 64;
}

static int
span_ok(const char *s, size_t min, size_t max, const char *extra)
{
	size_t n;

	for (n = 0; s[n] != '\0'; n++)
		if (!isalnum((unsigned char)s[n]) && s[n] != '_' &&
		    strchr(extra, s[n]) == NULL)
			return 0;
	return n >= min && n <= max;
}

/* Returns 1 if s is a valid AssumeRole ExternalId: 2-1224 of [\w+=,.@:/-]. */
int
kl_external_id_ok(const char *s)
{
	return span_ok(s, 2, 1224, "+=,.@:/-");
}

/* Returns 1 if s is a valid RoleSessionName: 2-64 of [\w+=,.@-]. */
int
kl_session_name_ok(const char *s)
{
	return span_ok(s, 2, 64, "+=,.@-");
}

/*
 * Returns 1 if s is an IAM role ARN: arn:PARTITION:iam::ACCOUNT:role/NAME
 * with a 12-digit account and an optional path (aws-protocol.md §2.4).
 */
int
kl_role_arn_ok(const char *s)
{
	const char *p;
	size_t i;

	if (strncmp(s, "arn:", 4) != 0)
		return 0;
	for (p = s + 4; islower((unsigned char)*p) || *p == '-'; p++)
		;
	if (p == s + 4 || strncmp(p, ":iam::", 6) != 0)
		return 0;
	for (p += 6, i = 0; i < 12; i++)
		if (!isdigit((unsigned char)p[i]))
			return 0;
	p += 12;
	if (strncmp(p, ":role/", 6) != 0 || strlen(s) > 2048)
		return 0;
	for (p += 6; *p != '\0'; p++)
		if (*p <= ' ' || *p > '~')
			return 0;
	return p[-1] != '/';
}

/*
 * Checks an endpoint URL and returns a normalised copy in *out (caller
 * frees): the scheme lower-cased, trailing slashes dropped.  With
 * allow_path a path may follow the authority; never a query, a fragment,
 * user information or white space.  Returns 0, or -1 with a static
 * reason in *why.
 */
int
kl_url_norm(const char *in, int allow_path, char **out, const char **why)
{
	unsigned long long port;
	const char *p, *host, *end;
	size_t n, skip;
	char num[8], *s;

	*out = NULL;
	if (strncasecmp(in, "https://", 8) == 0)
		skip = 8;
	else if (strncasecmp(in, "http://", 7) == 0)
		skip = 7;
	else {
		*why = "wants an http:// or https:// URL";
		return -1;
	}
	host = p = in + skip;
	if (*p == '[') {
		for (p++; isxdigit((unsigned char)*p) || *p == ':' ||
		    *p == '.'; p++)
			;
		if (*p++ != ']' || p == host + 2) {
			*why = "has a bad IPv6 address";
			return -1;
		}
	} else
		while (isalnum((unsigned char)*p) || *p == '.' || *p == '-' ||
		    *p == '_')
			p++;
	if (p == host) {
		*why = "has no host";
		return -1;
	}
	if (*p == ':') {
		for (n = 1; isdigit((unsigned char)p[n]) && n < 7; n++)
			;
		memcpy(num, p + 1, n - 1);
		num[n - 1] = '\0';
		if (kl_parse_uint(num, 1, 65535, &port) == -1) {
			*why = "has a bad port";
			return -1;
		}
		p += n;
	}
	if (*p != '\0' && *p != '/') {
		*why = "has a character that does not belong in a host name";
		return -1;
	}
	for (end = p + strlen(p); end > p && end[-1] == '/'; end--)
		;
	if (!allow_path && end > p) {
		*why = "has a path; kl wants scheme://host[:port]";
		return -1;
	}
	for (; p < end; p++)
		if (*p <= ' ' || *p > '~' || *p == '?' || *p == '#') {
			*why = "has white space, a query or a fragment";
			return -1;
		}
	if ((s = strndup(in, (size_t)(end - in))) == NULL) {
		*why = "out of memory";
		return -1;
	}
	for (n = 0; n < skip; n++)
		s[n] = (char)tolower((unsigned char)s[n]);
	*out = s;
	return 0;
}

/*
 * Offers one command-line option to the AWS option set.  Returns 1 if ch
 * was one of them (its value stored in o: arg is kept, not copied), 0 if
 * not, or -1 if the value is bad (the reason logged at error level; the
 * command then exits 2).
 */
int
kl_awsopt(struct kl_awsopts *o, int ch, const char *arg)
{
	unsigned long long v;
	const char *why;
	char *url;

	switch (ch) {
	case 'r':
		if (!kl_region_ok(arg))
			goto bad;
		o->region = arg;
		return 1;
	case KL_OPT_PROFILE:
		if (*arg == '\0' || strlen(arg) > 256)
			goto bad;
		o->profile = arg;
		return 1;
	case KL_OPT_AUTH:
		if (!kl_store_name_ok(arg))
			goto bad;
		o->auth = arg;
		return 1;
	case KL_OPT_CREDENTIALS:
		if (*arg == '\0')
			goto bad;
		o->credentials = arg;
		return 1;
	case KL_OPT_ROLE_ARN:
		if (!kl_role_arn_ok(arg))
			goto bad;
		o->role_arn = arg;
		return 1;
	case KL_OPT_EXTERNAL_ID:
		if (!kl_external_id_ok(arg))
			goto bad;
		o->external_id = arg;
		return 1;
	case KL_OPT_ENDPOINT_URL:
		if (kl_url_norm(arg, 0, &url, &why) == -1) {
			kl_log(KL_ERROR, 0, "--endpoint-url %s: '%s'", why,
			    arg);
			return -1;
		}
		free(url);
		o->endpoint_url = arg;
		return 1;
	case KL_OPT_SESSION_NAME:
		if (!kl_session_name_ok(arg))
			goto bad;
		o->session_name = arg;
		return 1;
	case KL_OPT_DURATION:
		if (kl_parse_uint(arg, 900, 43200, &v) == -1)
			goto bad;
		o->duration = (long)v;
		return 1;
	default:
		return 0;
	}
bad:
	switch (ch) {
	case 'r':
		why = "--region wants a region name such as us-east-1";
		break;
	case KL_OPT_PROFILE:
		why = "--profile wants a profile name";
		break;
	case KL_OPT_AUTH:
		why = "--auth wants 1-64 letters, digits, '_', '.' or '-'";
		break;
	case KL_OPT_CREDENTIALS:
		why = "--credentials wants a file name";
		break;
	case KL_OPT_ROLE_ARN:
		why = "--role-arn wants arn:aws:iam::ACCOUNT:role/NAME "
		    "(a 12-digit account)";
		break;
	case KL_OPT_EXTERNAL_ID:
		why = "--external-id wants 2-1224 of [A-Za-z0-9_+=,.@:/-]";
		break;
	case KL_OPT_SESSION_NAME:
		why = "--session-name wants 2-64 of [A-Za-z0-9_+=,.@-]";
		break;
	default:
		why = "--duration wants seconds from 900 to 43200";
		break;
	}
	/* The values are not secrets (contract §2): quoting them is safe. */
	kl_log(KL_ERROR, 0, "%s: '%s'", why, arg);
	return -1;
}

/* Files: paths, private reads. */

/*
 * Returns a malloc'd path: $HOME (or the password entry's home) joined
 * with rel, or NULL with errno.
 */
static char *
home_path(const char *rel)
{
	const char *home = getenv("HOME");
	struct passwd *pw;
	struct kl_buf b;

	if (home == NULL || *home == '\0') {
		if ((pw = getpwuid(getuid())) == NULL || pw->pw_dir == NULL) {
			errno = ENOENT;
			return NULL;
		}
		home = pw->pw_dir;
	}
	kl_buf_init(&b);
	kl_buf_addf(&b, "%s/%s", home, rel);
	return kl_buf_steal(&b);
}

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

/* Region and endpoints. */

static int
set2(char **a, const char *va, char **b, const char *vb)
{
	if ((*a = strdup(va)) == NULL || (*b = strdup(vb)) == NULL)
		return -1;
	return 0;
}

static const char *
env(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0' ? v : NULL;
}

static int
region(struct kl_cfg *c, const struct kl_awsopts *o, struct kl_err *e)
{
	static const char *const vars[] = {
		"AWS_REGION", "AWS_DEFAULT_REGION",
	};
	struct kl_auth a;
	struct kl_buf b;
	const char *v;
	size_t i;
	int r;

	if (o->region != NULL)
		return set2(&c->region, o->region, &c->region_from,
		    "--region");
	for (i = 0; i < 2; i++) {
		if ((v = env(vars[i])) == NULL)
			continue;
		if (!kl_region_ok(v)) {
			kl_err_set(e, KL_ERR_CONFIG, 0, NULL, "%s is not a "
			    "region name: '%.64s'", vars[i], v);
			return -1;
		}
		return set2(&c->region, v, &c->region_from, vars[i]);
	}
	if (o->auth != NULL) {
		if (kl_store_load(o->auth, &a, e) == -1)
			return -1;
		kl_buf_init(&b);
		kl_buf_addf(&b, "authorization '%s'", o->auth);
		r = a.region == NULL ? 1 : b.err ? -1 :
		    set2(&c->region, a.region, &c->region_from, b.data);
		kl_buf_free(&b);
		kl_auth_free(&a);
		if (r <= 0)
			return r;
	}
	if ((v = kl_profile_get(c, c->profile, "region", KL_PROF_ANY)) !=
	    NULL) {
		if (!kl_region_ok(v)) {
			kl_err_set(e, KL_ERR_CONFIG, 0, NULL, "profile '%s': "
			    "region is not a region name: '%.64s'", c->profile,
			    v);
			return -1;
		}
		kl_buf_init(&b);
		kl_buf_addf(&b, "profile '%s'", c->profile);
		r = b.err ? -1 : set2(&c->region, v, &c->region_from, b.data);
		kl_buf_free(&b);
		return r;
	}
	kl_err_set(e, KL_ERR_CONFIG, 0, NULL, "no AWS region: use --region, "
	    "or set AWS_REGION or AWS_DEFAULT_REGION, or 'region' in "
	    "profile '%s' of '%s'%s", c->profile, c->config_ini.path,
	    o->auth != NULL ? ", or store one in the authorization" : "");
	return -1;
}

/*
 * Resolves one service's endpoint into *url and *from: opt (the
 * command's --endpoint-url, if it names this service), AWS_ENDPOINT_URL_
 * SVC, AWS_ENDPOINT_URL, the profile's endpoint_url, the regional
 * default.
 */
static int
endpoint(struct kl_cfg *c, const char *svc, const char *opt, char **url,
    char **from, struct kl_err *e)
{
	char var[64], fromb[320], *p;
	const char *v = NULL, *why, *ign;
	int skip;

	ign = env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
	skip = ign != NULL && strcasecmp(ign, "true") == 0;
	snprintf(var, sizeof(var), "AWS_ENDPOINT_URL_%s", svc);
	for (p = var; *p != '\0'; p++)
		*p = (char)toupper((unsigned char)*p);
	if (opt != NULL) {
		v = opt;
		snprintf(fromb, sizeof(fromb), "--endpoint-url");
	} else if (!skip && (v = env(var)) != NULL)
		snprintf(fromb, sizeof(fromb), "%s", var);
	else if (!skip && (v = env("AWS_ENDPOINT_URL")) != NULL)
		snprintf(fromb, sizeof(fromb), "AWS_ENDPOINT_URL");
	else if (!skip && (v = kl_profile_get(c, c->profile, "endpoint_url",
	    KL_PROF_ANY)) != NULL)
		snprintf(fromb, sizeof(fromb), "profile '%.256s' endpoint_url",
		    c->profile);
	if (v != NULL) {
		if (kl_url_norm(v, 0, url, &why) == -1) {
			kl_err_set(e, KL_ERR_CONFIG, 0, NULL, "%s %s: '%.200s'",
			    fromb, why, v);
			return -1;
		}
		return (*from = strdup(fromb)) == NULL ? -1 : 0;
	}
	snprintf(fromb, sizeof(fromb), "https://%s.%s.amazonaws.com%s", svc,
	    c->region, strncmp(c->region, "cn-", 3) == 0 ? ".cn" : "");
	return set2(url, fromb, from, "the region's default");
}

/*
 * Resolves the configuration of an AWS command from its options, the
 * environment and the profile files (contract §3) into c, which the
 * caller frees with kl_cfg_free (also after a failure).  Returns 0, or
 * -1 with e filled: KL_ERR_CONFIG (no region, malformed file, unknown
 * profile, bad value: exit 2) or KL_ERR_PERMANENT (a file that cannot be
 * read: exit 1).
 */
int
kl_cfg_load(struct kl_cfg *c, const struct kl_awsopts *o, struct kl_err *e)
{
	const char *v;
	char *path;
	int named = 1, r;

	memset(c, 0, sizeof(*c));
	kl_err_clear(e);
	path = (v = env("AWS_CONFIG_FILE")) != NULL ? strdup(v) :
	    home_path(".aws/config");
	r = path == NULL ? -1 :
	    kl_ini_load(&c->config_ini, KL_INI_CONFIG, path, e);
	free(path);
	if (r == -1)
		goto fail;
	path = (v = env("AWS_SHARED_CREDENTIALS_FILE")) != NULL ? strdup(v) :
	    home_path(".aws/credentials");
	r = path == NULL ? -1 :
	    kl_ini_load(&c->creds_ini, KL_INI_CREDS, path, e);
	free(path);
	if (r == -1)
		goto fail;
	if (o->profile != NULL)
		v = o->profile;
	else if ((v = env("AWS_PROFILE")) == NULL) {
		v = "default";
		named = 0;
	}
	if ((c->profile = strdup(v)) == NULL)
		goto fail;
	if (named && !kl_profile_exists(c, c->profile))
		return kl_profile_missing(c, c->profile, e);
	if (region(c, o, e) == -1 ||
	    endpoint(c, "kinesis", o->endpoint_sts ? NULL : o->endpoint_url,
	    &c->kinesis_url, &c->kinesis_from, e) == -1 ||
	    endpoint(c, "sts", o->endpoint_sts ? o->endpoint_url : NULL,
	    &c->sts_url, &c->sts_from, e) == -1)
		goto fail;
	if ((v = env("AWS_CA_BUNDLE")) != NULL ||
	    (v = kl_profile_get(c, c->profile, "ca_bundle", KL_PROF_ANY)) !=
	    NULL)
		if ((c->ca_bundle = strdup(v)) == NULL)
			goto fail;
	return 0;
fail:
	if (e->kind == KL_ERR_NONE) {
		kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "%s",
		    strerror(ENOMEM));
		e->sys = ENOMEM;
	}
	return -1;
}

/* Frees what c holds (the profile files' values are wiped). */
void
kl_cfg_free(struct kl_cfg *c)
{
	free(c->region);
	free(c->region_from);
	free(c->profile);
	free(c->kinesis_url);
	free(c->kinesis_from);
	free(c->sts_url);
	free(c->sts_from);
	free(c->ca_bundle);
	kl_ini_free(&c->config_ini);
	kl_ini_free(&c->creds_ini);
	memset(c, 0, sizeof(*c));
}

/* Logs, at debug level (-vv), each resolved value and where it came from. */
void
kl_cfg_debug(const struct kl_cfg *c)
{
	kl_log(KL_DEBUG, 0, "profile '%s'; files '%s'%s, '%s'%s", c->profile,
	    c->config_ini.path, c->config_ini.found ? "" : " (absent)",
	    c->creds_ini.path, c->creds_ini.found ? "" : " (absent)");
	kl_log(KL_DEBUG, 0, "region %s (from %s)", c->region, c->region_from);
	kl_log(KL_DEBUG, 0, "kinesis endpoint %s (from %s)", c->kinesis_url,
	    c->kinesis_from);
	kl_log(KL_DEBUG, 0, "sts endpoint %s (from %s)", c->sts_url,
	    c->sts_from);
	if (c->ca_bundle != NULL)
		kl_log(KL_DEBUG, 0, "CA bundle '%s'", c->ca_bundle);
}

/* Lytics. */

/*
 * Offers one command-line option to the Lytics option set.  Returns 1 if
 * consumed (arg kept, not copied), 0 if not ours, -1 on a bad value
 * (logged; the command exits 2).
 */
int
kl_lyticsopt(struct kl_lyticsopts *o, int ch, const char *arg)
{
	const char *why;
	char *url;

	switch (ch) {
	case KL_OPT_LYTICS_URL:
		if (kl_url_norm(arg, 1, &url, &why) == -1) {
			kl_log(KL_ERROR, 0, "--lytics-url %s: '%s'", why, arg);
			return -1;
		}
		free(url);
		o->url = arg;
		return 1;
	case KL_OPT_LYTICS_KEY_FILE:
		if (*arg == '\0') {
			kl_log(KL_ERROR, 0, "--lytics-key-file wants a file "
			    "name");
			return -1;
		}
		o->key_file = arg;
		return 1;
	default:
		return 0;
	}
}

/* A key is sent as a header value: printable ASCII, no spaces. */
static int
key_ok(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] > '~')
			return 0;
	return n > 0;
}

/*
 * Resolves the Lytics endpoint and API key (contract §3) into l, which
 * the caller frees with kl_lytics_free (also after a failure; the key is
 * wiped).  URL: --lytics-url, LYTICS_API_URL, https://api.lytics.io,
 * without trailing slashes.  Key: --lytics-key-file FILE (refused if
 * group or others can read it; surrounding white space dropped), then
 * LYTICS_API_KEY.  Returns 0, or -1 with e filled: KL_ERR_CONFIG (no key,
 * a bad URL or key, a key file others can read: exit 2) or
 * KL_ERR_PERMANENT (the key file cannot be read: exit 1).
 */
int
kl_lytics_load(struct kl_lytics *l, const struct kl_lyticsopts *o,
    struct kl_err *e)
{
	const char *v, *why, *from;
	struct kl_buf b;
	char *s, *t;

	memset(l, 0, sizeof(*l));
	kl_err_clear(e);
	if ((v = o->url) != NULL)
		from = "--lytics-url";
	else if ((v = env("LYTICS_API_URL")) != NULL)
		from = "LYTICS_API_URL";
	else {
		v = LYTICS_DEFAULT;
		from = "the default";
	}
	if (kl_url_norm(v, 1, &l->url, &why) == -1) {
		kl_err_set(e, KL_ERR_CONFIG, 0, NULL, "%s %s: '%.200s'", from,
		    why, v);
		return -1;
	}
	l->url_from = from;
	if (o->key_file != NULL) {
		kl_buf_init(&b);
		if (kl_read_private(o->key_file, LYTICS_KEY_MAX, &b, NULL,
		    e) == -1) {
			kl_buf_wipe(&b);
			return -1;
		}
		s = b.data;
		t = b.data + b.len;
		while (s < t && isspace((unsigned char)*s))
			s++;
		while (t > s && isspace((unsigned char)t[-1]))
			t--;
		if (!key_ok(s, (size_t)(t - s))) {
			kl_buf_wipe(&b);
			kl_err_set(e, KL_ERR_CONFIG, 0, NULL, "'%s' does not "
			    "hold a Lytics API key (one line, no spaces)",
			    o->key_file);
			return -1;
		}
		l->key = strndup(s, (size_t)(t - s));
		kl_buf_wipe(&b);
		l->key_from = "--lytics-key-file";
	} else if ((v = env("LYTICS_API_KEY")) != NULL) {
		if (!key_ok(v, strlen(v))) {
			kl_err_set(e, KL_ERR_CONFIG, 0, NULL, "LYTICS_API_KEY "
			    "has spaces or control characters");
			return -1;
		}
		l->key = strdup(v);
		l->key_from = "LYTICS_API_KEY";
	} else {
		kl_err_set(e, KL_ERR_CONFIG, 0, NULL, "no Lytics API key: use "
		    "--lytics-key-file FILE or set LYTICS_API_KEY");
		return -1;
	}
	if (l->key == NULL) {
		kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "%s",
		    strerror(ENOMEM));
		return -1;
	}
	return 0;
}

/* Frees l, wiping the key. */
void
kl_lytics_free(struct kl_lytics *l)
{
	if (l->key != NULL)
		explicit_bzero(l->key, strlen(l->key));
	free(l->key);
	free(l->url);
	memset(l, 0, sizeof(*l));
}
