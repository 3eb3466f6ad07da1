/*
 * job.c - job files: the settings of one kl-import or kl-export job
 * (kl-job(5)), where its state lives, and its lock.  The checks of
 * --dry-run are in jobcheck.c.
 *
 * A job file is "key = value" lines and "#" comment lines; its keys
 * mirror the fields of Lytics' own Kinesis jobs (lytics-api.md 5).  The
 * parser is strict, because a job runs unattended from cron or systemd
 * and a typo must stop it before it reads or sends anything: an unknown
 * key, a key given twice, a key of the other kind of job or a bad value
 * is reported as "FILE:LINE: ..." (KL_ERR_CONFIG, exit 2).
 *
 * Design decisions:
 *
 * - Values are taken literally: no quotes, escapes, variables or line
 *   continuations, and a "#" starts a comment only at the start of a
 *   line (a jq filter may hold "#").  Nothing is ever given to a shell:
 *   kl-import passes each value as one argv element of a stage.
 * - Secrets never go in a job file, which is typically world-readable in
 *   /etc.  A key that looks like one (secret_key, aws_secret_access_key,
 *   api_key, ...) and a value that looks like an AWS access key id are
 *   refused with a pointer to kl-auth, and the value is never echoed.
 *   AWS credentials are named by "auth" (a kl-auth authorization) or come
 *   from the default chain; the Lytics key from LYTICS_API_KEY or the file
 *   named by lytics_key_file.
 * - Each value is checked with the rules the stages use (kl_stream_parse,
 *   kl_sts_role_arn_check, ...) and a filter is compiled with libjq, so a
 *   bad job never gets as far as starting a pipeline.
 * - state_dir defaults to $STATE_DIRECTORY (systemd's StateDirectory=),
 *   else $XDG_STATE_HOME/kl/NAME, else ~/.local/state/kl/NAME, NAME being
 *   the job file's name without ".job": one folder per job, found again
 *   on every run, which is what makes reruns resume.
 */
#include <config.h>

#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jq.h>

#include "kl.h"

#define JOB_FILE_MAX	(64 * 1024)
#define BOTH		(KL_JOB_IMPORT | KL_JOB_EXPORT)

static const struct {
	const char	*name;
	int		 kinds;		/* the jobs it belongs to */
} keys[KL_JOB_NKEYS] = {
	[KL_JOB_LABEL] = { "label", BOTH },
	[KL_JOB_DESCRIPTION] = { "description", BOTH },
	[KL_JOB_AUTH] = { "auth", BOTH },
	[KL_JOB_ROLE_ARN] = { "role_arn", BOTH },
	[KL_JOB_EXTERNAL_ID] = { "external_id", BOTH },
	[KL_JOB_REGION] = { "region", BOTH },
	[KL_JOB_KINESIS_STREAM] = { "kinesis_stream", BOTH },
	[KL_JOB_LYTICS_STREAM] = { "lytics_stream", KL_JOB_IMPORT },
	[KL_JOB_FILTER] = { "filter", KL_JOB_IMPORT },
	[KL_JOB_AUDIENCES] = { "audiences", KL_JOB_EXPORT },
	[KL_JOB_IDENTIFIER_FIELD] = { "identifier_field", KL_JOB_EXPORT },
	[KL_JOB_EXPORT_FIELDS] = { "export_fields", KL_JOB_EXPORT },
	[KL_JOB_EXISTING_USERS] = { "existing_users", KL_JOB_EXPORT },
	[KL_JOB_STATE_DIR] = { "state_dir", BOTH },
	[KL_JOB_POLL_INTERVAL] = { "poll_interval", BOTH },
	[KL_JOB_LYTICS_KEY_FILE] = { "lytics_key_file", BOTH },
};

/* Parts of key names that mark a secret. */
static const char *const secret_words[] = {
	"secret", "password", "passwd", "token", "api_key", "apikey",
	"access_key", "private_key", "credential", NULL,
};

struct parse {			/* one parse under way */
	struct kl_job	*j;
	long		 line;
	struct kl_err	*e;
	struct kl_buf	 jqmsg;	/* libjq's first message */
};

const char *
kl_job_key_name(int k)
{
	return k >= 0 && k < KL_JOB_NKEYS ? keys[k].name : "?";
}

const char *
kl_job_kind_name(int kind)
{
	return kind == KL_JOB_IMPORT ? "import" : "export";
}

/* Fills e with "FILE:LINE: message" (KL_ERR_CONFIG); returns -1. */
static int KL_PRINTF(2, 3)
bad(struct parse *p, const char *fmt, ...)
{
	char msg[sizeof(p->e->msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (p->line > 0)
		kl_err_set(p->e, KL_ERR_CONFIG, 0, NULL, "%s:%ld: %s",
		    p->j->path, p->line, msg);
	else
		kl_err_set(p->e, KL_ERR_CONFIG, 0, NULL, "%s: %s", p->j->path,
		    msg);
	return -1;
}

/* Returns 1 if s has a byte below 0x20 (tab allowed if tab) or 0x7f. */
static int
has_ctl(const char *s, int tab)
{
	for (; *s != '\0'; s++)
		if (((unsigned char)*s < 0x20 && !(tab && *s == '\t')) ||
		    *s == 0x7f)
			return 1;
	return 0;
}

/* Returns 1 if s has white space, a control character or any of extra. */
static int
has_blank(const char *s, const char *extra)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f ||
		    strchr(extra, *s) != NULL)
			return 1;
	return 0;
}

static int
secret_key(const char *k)
{
	char low[64];
	size_t i;

	for (i = 0; k[i] != '\0' && i + 1 < sizeof(low); i++)
		low[i] = (char)tolower((unsigned char)k[i]);
	low[i] = '\0';
	for (i = 0; secret_words[i] != NULL; i++)
		if (strstr(low, secret_words[i]) != NULL)
			return 1;
	return 0;
}

/* Returns 1 if v holds something shaped like an AWS access key id. */
static int
akid_value(const char *v)
{
	const char *p;
	size_t n;

	for (p = v; (p = strstr(p, "A")) != NULL; p++) {
		if (strncmp(p, "AKIA", 4) != 0 && strncmp(p, "ASIA", 4) != 0)
			continue;
		for (n = 4; isupper((unsigned char)p[n]) ||
		    isdigit((unsigned char)p[n]); n++)
			;
		if (n >= 16 && (p == v || !isalnum((unsigned char)p[-1])))
			return 1;
	}
	return 0;
}

static void
jq_msg(void *arg, jv msg)
{
	struct kl_buf *b = arg;

	if (b->len == 0 && jv_get_kind(msg) == JV_KIND_STRING)
		kl_buf_adds(b, jv_string_value(msg));
	jv_free(msg);
}

/*
 * Returns the program kl-to-lytics runs for the job's filter v (caller
 * frees), or NULL: v runs on each event (the record's data), with the
 * whole kl-read-shard record in $record.  If v may hold a jq comment,
 * the closing parenthesis goes on a line of its own.
 */
char *
kl_job_filter(const char *v)
{
	char *s;

	return asprintf(&s, ". as $record | .data | (%s%s)", v,
	    strchr(v, '#') != NULL ? "\n" : "") == -1 ? NULL : s;
}

static int
check_filter(struct parse *p, const char *v)
{
	jq_state *jq;
	char *nl, *prog;
	int ok;

	if ((jq = jq_init()) == NULL)
		return bad(p, "filter: cannot start libjq");
	jq_set_error_cb(jq, jq_msg, &p->jqmsg);
	if ((prog = kl_job_filter(v)) == NULL) {
		jq_teardown(&jq);
		return bad(p, "%s", strerror(ENOMEM));
	}
	ok = jq_compile(jq, prog);
	free(prog);
	jq_teardown(&jq);
	if (ok)
		return 0;
	if (p->jqmsg.data != NULL && (nl = strchr(p->jqmsg.data, '\n')))
		*nl = '\0';
	/* jq's hint is about shell quoting, which a job file has none of. */
	if (p->jqmsg.data != NULL && (nl = strstr(p->jqmsg.data,
	    " (Unix shell quoting issues?)")) != NULL)
		memmove(nl, nl + 29, strlen(nl + 29) + 1);
	return bad(p, "filter is not a valid jq program: %s",
	    p->jqmsg.data != NULL ? p->jqmsg.data : "compile error");
}

/* Splits a comma-separated list into a NULL-terminated vector. */
static int
split_list(struct parse *p, const char *key, const char *v, int idrule,
    char ***out)
{
	char **vec = NULL, *s, *t, *item;
	size_t n = 0, i, len;
	const char *q;

	for (q = v, len = 1; *q != '\0'; q++)
		len += *q == ',';
	if ((vec = calloc(len + 1, sizeof(*vec))) == NULL)
		return bad(p, "%s", strerror(ENOMEM));
	*out = vec;
	for (q = v;; q++) {
		s = (char *)q;
		while (*q != ',' && *q != '\0')
			q++;
		while (s < q && (*s == ' ' || *s == '\t'))
			s++;
		for (t = (char *)q; t > s && (t[-1] == ' ' || t[-1] == '\t');)
			t--;
		if (t == s)
			return bad(p, "%s has an empty item: '%s'", key, v);
		if ((item = vec[n++] = strndup(s, (size_t)(t - s))) == NULL)
			return bad(p, "%s", strerror(ENOMEM));
		len = strlen(item);
		if (idrule && (len > 128 || strspn(item, "abcdefghijklmnopqrs"
		    "tuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != len))
			return bad(p, "%s: '%s' is not an audience id or slug "
			    "(1 to 128 letters, digits, '_', '.' or '-')", key,
			    item);
		if (!idrule && (len > 256 || has_blank(item, "")))
			return bad(p, "%s: '%s' is not a field name", key,
			    item);
		for (i = 0; i + 1 < n; i++)
			if (strcmp(vec[i], item) == 0)
				return bad(p, "%s names '%s' twice", key, item);
		if (*q == '\0')
			break;
	}
	return 0;
}

/*
 * Parses an interval: a number with an optional unit, ms, s or m (a
 * bare number is seconds), from 100 ms to one day.
 */
static int
parse_interval(const char *v, long *ms)
{
	unsigned long long n;
	char num[24];
	size_t d = strspn(v, "0123456789");
	const char *u = v + d;
	long mul;

	if (d == 0 || d >= sizeof(num))
		return -1;
	memcpy(num, v, d);
	num[d] = '\0';
	while (*u == ' ')
		u++;
	if (*u == '\0' || strcmp(u, "s") == 0)
		mul = 1000;
	else if (strcmp(u, "ms") == 0)
		mul = 1;
	else if (strcmp(u, "m") == 0 || strcmp(u, "min") == 0)
		mul = 60000;
	else
		return -1;
	if (kl_parse_uint(num, 0, 86400000ULL, &n) == -1 ||
	    n * (unsigned long long)mul < 100 ||
	    n * (unsigned long long)mul > 86400000ULL)
		return -1;
	*ms = (long)(n * (unsigned long long)mul);
	return 0;
}

static int
check_path(struct parse *p, const char *key, const char *v)
{
	if (v[0] != '/')
		return bad(p, "%s wants an absolute path: '%s'", key, v);
	if (strlen(v) > PATH_MAX - 64 || has_ctl(v, 0))
		return bad(p, "%s: not a usable path", key);
	return 0;
}

/* Checks value v of key k; fills the parsed forms in p->j. */
static int
check_value(struct parse *p, int k, const char *v)
{
	struct kl_stream s;
	char why[512];
	size_t n = strlen(v);

	switch (k) {
	case KL_JOB_LABEL:
	case KL_JOB_DESCRIPTION:
		if (has_ctl(v, 1) || n > (k == KL_JOB_LABEL ? 256u : 4096u))
			return bad(p, "%s: at most %d bytes, no control "
			    "characters", keys[k].name,
			    k == KL_JOB_LABEL ? 256 : 4096);
		return 0;
	case KL_JOB_AUTH:
		if (!kl_store_name_ok(v))
			return bad(p, "auth wants the name of a stored "
			    "authorization (see kl-auth list): 1 to 64 "
			    "letters, digits, '_', '.' or '-': '%.100s'", v);
		return 0;
	case KL_JOB_ROLE_ARN:
		if (kl_sts_role_arn_check(v, why, sizeof(why)) == -1)
			return bad(p, "role_arn '%.200s': %s", v, why);
		return 0;
	case KL_JOB_EXTERNAL_ID:
		if (!kl_external_id_ok(v))
			return bad(p, "external_id wants 2 to 1224 letters, "
			    "digits or any of _+=,.@:/-");
		return 0;
	case KL_JOB_REGION:
		if (!kl_region_ok(v))
			return bad(p, "region wants a region name such as "
			    "us-east-1: '%.100s'", v);
		return 0;
	case KL_JOB_KINESIS_STREAM:
		if (kl_stream_parse(&s, v, why, sizeof(why)) == -1)
			return bad(p, "kinesis_stream: %s", why);
		return 0;
	case KL_JOB_LYTICS_STREAM:
		if (n > 0 && !kl_lytics_stream_ok(v))
			return bad(p, "lytics_stream wants a Lytics stream "
			    "name, 1 to 256 bytes without spaces, controls or "
			    "'/': '%.256s'", v);
		return 0;
	case KL_JOB_FILTER:
		return check_filter(p, v);
	case KL_JOB_AUDIENCES:
		return split_list(p, "audiences", v, 1, &p->j->audiences);
	case KL_JOB_IDENTIFIER_FIELD:
		if (n > 256 || has_blank(v, ""))
			return bad(p, "identifier_field wants a field name or "
			    "jq path without spaces: '%.256s'", v);
		return 0;
	case KL_JOB_EXPORT_FIELDS:
		return split_list(p, "export_fields", v, 0,
		    &p->j->export_fields);
	case KL_JOB_EXISTING_USERS:
		if (strcmp(v, "yes") != 0 && strcmp(v, "no") != 0)
			return bad(p, "existing_users wants yes or no: "
			    "'%.100s'", v);
		p->j->existing_users = strcmp(v, "yes") == 0;
		return 0;
	case KL_JOB_STATE_DIR:
	case KL_JOB_LYTICS_KEY_FILE:
		return check_path(p, keys[k].name, v);
	case KL_JOB_POLL_INTERVAL:
		if (parse_interval(v, &p->j->poll_ms) == -1)
			return bad(p, "poll_interval wants a duration from "
			    "100ms to 1 day, such as 500ms, 5s or 1m: '%.100s'",
			    v);
		if (p->j->kind == KL_JOB_EXPORT && p->j->poll_ms % 1000 != 0)
			return bad(p, "poll_interval of an export job is whole "
			    "seconds: '%.100s'", v);
		return 0;
	}
	return 0;
}

/* Appends the names of the keys of kind to b, comma-separated. */
static void
key_list(struct kl_buf *b, int kind)
{
	int k;

	for (k = 0; k < KL_JOB_NKEYS; k++)
		if (keys[k].kinds & kind)
			kl_buf_addf(b, "%s%s", b->len ? ", " : "",
			    keys[k].name);
}

static int
unknown_key(struct parse *p, const char *key)
{
	struct kl_buf b;
	char low[64];
	size_t i;
	int k, r;

	for (i = 0; key[i] != '\0' && i + 1 < sizeof(low); i++)
		low[i] = (char)tolower((unsigned char)key[i]);
	low[i] = '\0';
	for (k = 0; k < KL_JOB_NKEYS; k++)
		if (strcmp(low, keys[k].name) == 0 &&
		    (keys[k].kinds & p->j->kind))
			return bad(p, "unknown key '%s' (keys are lower case: "
			    "'%s')", key, keys[k].name);
	for (k = 0; k < KL_JOB_NKEYS; k++)
		if (strcmp(key, keys[k].name) == 0)
			return bad(p, "'%s' is a key of %s jobs (kl-%s), not "
			    "of %s jobs", key, kl_job_kind_name(keys[k].kinds),
			    kl_job_kind_name(keys[k].kinds),
			    kl_job_kind_name(p->j->kind));
	kl_buf_init(&b);
	key_list(&b, p->j->kind);
	r = bad(p, "unknown key '%s'; an %s job has: %s", key,
	    kl_job_kind_name(p->j->kind), b.data ? b.data : "");
	kl_buf_free(&b);
	return r;
}

/* Parses one line (NUL-terminated, no newline). */
static int
parse_line(struct parse *p, char *s)
{
	char *key, *v, *end;
	int k;

	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '\0' || *s == '#')
		return 0;
	key = s;
	while (isalnum((unsigned char)*s) || *s == '_' || *s == '-' ||
	    *s == '.')
		s++;
	end = s;
	while (*s == ' ' || *s == '\t')
		s++;
	if (end == key || *s != '=' || end - key > 48) {
		/* Not a key: say nothing of the text, it may be a secret. */
		return bad(p, "expected 'key = value' (values are taken "
		    "literally; '#' starts a comment line)");
	}
	*end = '\0';
	for (v = s + 1; *v == ' ' || *v == '\t'; v++)
		;
	for (end = v + strlen(v); end > v && (end[-1] == ' ' ||
	    end[-1] == '\t'); end--)
		;
	*end = '\0';
	if (secret_key(key))
		return bad(p, "'%s' looks like a secret, and secrets never go "
		    "in a job file: store AWS keys with 'kl-auth add NAME' and "
		    "set 'auth = NAME'; give the Lytics key in LYTICS_API_KEY "
		    "or the file named by lytics_key_file", key);
	for (k = 0; k < KL_JOB_NKEYS; k++)
		if (strcmp(key, keys[k].name) == 0)
			break;
	if (k == KL_JOB_NKEYS || !(keys[k].kinds & p->j->kind))
		return unknown_key(p, key);
	if (p->j->line[k] != 0)
		return bad(p, "duplicate key '%s' (first set on line %d)", key,
		    p->j->line[k]);
	if (*v == '\0')
		return bad(p, "'%s' has no value (leave the line out to keep "
		    "the default)", key);
	if (akid_value(v))
		return bad(p, "the value of '%s' looks like an AWS access key "
		    "id: store AWS keys with 'kl-auth add NAME' and set "
		    "'auth = NAME'", key);
	if (check_value(p, k, v) == -1)
		return -1;
	p->j->line[k] = (int)p->line;
	if ((p->j->val[k] = strdup(v)) == NULL)
		return bad(p, "%s", strerror(ENOMEM));
	return 0;
}

/* The checks that need the whole file. */
static int
check_job(struct parse *p)
{
	struct kl_job *j = p->j;
	struct kl_stream s;
	char why[512];
	int req[] = { KL_JOB_KINESIS_STREAM, j->kind == KL_JOB_IMPORT ?
	    KL_JOB_LYTICS_STREAM : KL_JOB_AUDIENCES };
	size_t i;

	p->line = 0;
	for (i = 0; i < sizeof(req) / sizeof(req[0]); i++)
		if (j->val[req[i]] == NULL)
			return bad(p, "missing key '%s': an %s job needs "
			    "kinesis_stream and %s", keys[req[i]].name,
			    kl_job_kind_name(j->kind), keys[req[1]].name);
	if (j->val[KL_JOB_EXTERNAL_ID] != NULL &&
	    j->val[KL_JOB_ROLE_ARN] == NULL) {
		p->line = j->line[KL_JOB_EXTERNAL_ID];
		return bad(p, "external_id goes with role_arn");
	}
	if (j->val[KL_JOB_REGION] != NULL &&
	    kl_stream_parse(&s, j->val[KL_JOB_KINESIS_STREAM], why,
	    sizeof(why)) == 0 && kl_stream_region_ok(&s,
	    j->val[KL_JOB_REGION], why, sizeof(why)) == -1) {
		p->line = j->line[KL_JOB_KINESIS_STREAM];
		return bad(p, "kinesis_stream: %s (region on line %d)", why,
		    j->line[KL_JOB_REGION]);
	}
	return 0;
}

/* Sets j->name: the file's base name without ".job". */
static int
set_name(struct kl_job *j)
{
	const char *b = strrchr(j->path, '/');
	size_t n;

	b = b != NULL ? b + 1 : j->path;
	n = strlen(b);
	if (n > 4 && strcmp(b + n - 4, ".job") == 0)
		n -= 4;
	return (j->name = strndup(b, n)) == NULL ? -1 : 0;
}

/*
 * Parses the job file text (len bytes, read from path) as a job of kind
 * KL_JOB_IMPORT or KL_JOB_EXPORT into j (the caller frees it with
 * kl_job_free, also after a failure).  Returns 0, or -1 with e filled:
 * KL_ERR_CONFIG and "PATH:LINE: ..." for anything wrong in the file.
 */
int
kl_job_parse(struct kl_job *j, int kind, const char *path, const char *text,
    size_t len, struct kl_err *e)
{
	struct parse p;
	const char *s = text, *nl, *end = text + len;
	char *line;
	size_t n;
	int r = 0;

	memset(j, 0, sizeof(*j));
	memset(&p, 0, sizeof(p));
	kl_err_clear(e);
	j->kind = kind;
	p.j = j;
	p.e = e;
	kl_buf_init(&p.jqmsg);
	if ((j->path = strdup(path)) == NULL || set_name(j) == -1) {
		kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "%s",
		    strerror(ENOMEM));
		return -1;
	}
	while (r == 0 && s < end) {
		p.line++;
		nl = memchr(s, '\n', (size_t)(end - s));
		n = (size_t)((nl != NULL ? nl : end) - s);
		if (n > 0 && s[n - 1] == '\r')
			n--;
		if (memchr(s, '\0', n) != NULL ||
		    !kl_utf8_valid((const unsigned char *)s, n))
			r = bad(&p, "not UTF-8 text");
		else if ((line = strndup(s, n)) == NULL)
			r = bad(&p, "%s", strerror(ENOMEM));
		else {
			r = parse_line(&p, line);
			explicit_bzero(line, n);
			free(line);
		}
		s = nl != NULL ? nl + 1 : end;
	}
	if (r == 0)
		r = check_job(&p);
	kl_buf_free(&p.jqmsg);
	return r;
}

/* Reads and parses the job file path; as kl_job_parse. */
int
kl_job_load(struct kl_job *j, int kind, const char *path, struct kl_err *e)
{
	struct kl_buf b;
	int r;

	memset(j, 0, sizeof(*j));
	kl_err_clear(e);
	kl_buf_init(&b);
	if (kl_read_file(path, &b, JOB_FILE_MAX) == -1) {
		kl_err_set(e, errno == EFBIG || errno == ENOENT ||
		    errno == EISDIR ? KL_ERR_CONFIG : KL_ERR_PERMANENT, 0, NULL,
		    "cannot read the job file '%s': %s", path,
		    errno == EFBIG ? "larger than 64 KiB" : strerror(errno));
		kl_buf_free(&b);
		return -1;
	}
	r = kl_job_parse(j, kind, path, b.data != NULL ? b.data : "", b.len,
	    e);
	kl_buf_wipe(&b);
	return r;
}

static void
free_vec(char **v)
{
	size_t i;

	for (i = 0; v != NULL && v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

void
kl_job_free(struct kl_job *j)
{
	int k;

	for (k = 0; k < KL_JOB_NKEYS; k++)
		free(j->val[k]);
	free_vec(j->audiences);
	free_vec(j->export_fields);
	free(j->path);
	free(j->name);
	free(j->state_dir);
	memset(j, 0, sizeof(*j));
}

/*
 * Sets j->state_dir and j->state_from: state_dir, else $STATE_DIRECTORY
 * (its first folder), else $XDG_STATE_HOME/kl/NAME, else
 * $HOME/.local/state/kl/NAME.  Returns 0, or -1 with e filled
 * (KL_ERR_CONFIG: no HOME either).
 */
int
kl_job_state(struct kl_job *j, struct kl_err *e)
{
	const char *v;
	struct kl_buf b;

	kl_buf_init(&b);
	if (j->val[KL_JOB_STATE_DIR] != NULL) {
		kl_buf_adds(&b, j->val[KL_JOB_STATE_DIR]);
		j->state_from = "state_dir";
	} else if ((v = getenv("STATE_DIRECTORY")) != NULL && v[0] == '/') {
		kl_buf_add(&b, v, strcspn(v, ":"));
		j->state_from = "STATE_DIRECTORY";
	} else if ((v = getenv("XDG_STATE_HOME")) != NULL && v[0] == '/') {
		kl_buf_addf(&b, "%s/kl/%s", v, j->name);
		j->state_from = "XDG_STATE_HOME";
	} else if ((v = getenv("HOME")) != NULL && v[0] == '/') {
		kl_buf_addf(&b, "%s/.local/state/kl/%s", v, j->name);
		j->state_from = "HOME";
	} else {
		kl_err_set(e, KL_ERR_CONFIG, 0, NULL, "%s: no state_dir, and "
		    "none of STATE_DIRECTORY, XDG_STATE_HOME or HOME is set",
		    j->path);
		return -1;
	}
	while (b.len > 1 && b.data[b.len - 1] == '/')
		b.data[--b.len] = '\0';
	if (b.err) {
		kl_buf_free(&b);
		kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "%s",
		    strerror(ENOMEM));
		return -1;
	}
	free(j->state_dir);
	j->state_dir = kl_buf_steal(&b);
	return 0;
}

/*
 * Creates dir and its missing parents (each 0700).  Returns 0, or -1
 * with errno.
 */
int
kl_job_mkdirs(const char *dir)
{
	struct stat st;
	char *s, *p;
	int r = 0, last;

	if ((s = strdup(dir)) == NULL)
		return -1;
	for (p = s + 1; r == 0; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		if (*p == '/' && p[1] == '/')
			continue;
		last = *p == '\0';
		*p = '\0';
		if (mkdir(s, 0700) == -1 && errno != EEXIST)
			r = -1;
		else if (stat(s, &st) == -1)
			r = -1;
		else if (!S_ISDIR(st.st_mode)) {
			errno = ENOTDIR;
			r = -1;
		}
		if (last)
			break;
		*p = '/';
	}
	free(s);
	return r;
}

/* Appends the AWS options of the job (contract 2) to a stage's argv. */
void
kl_job_aws_args(const struct kl_job *j, struct kl_argv *a)
{
	if (j->val[KL_JOB_REGION] != NULL) {
		kl_argv_add(a, "--region");
		kl_argv_add(a, j->val[KL_JOB_REGION]);
	}
	if (j->val[KL_JOB_AUTH] != NULL) {
		kl_argv_add(a, "--auth");
		kl_argv_add(a, j->val[KL_JOB_AUTH]);
	}
	if (j->val[KL_JOB_ROLE_ARN] != NULL) {
		kl_argv_add(a, "--role-arn");
		kl_argv_add(a, j->val[KL_JOB_ROLE_ARN]);
	}
	if (j->val[KL_JOB_EXTERNAL_ID] != NULL) {
		kl_argv_add(a, "--external-id");
		kl_argv_add(a, j->val[KL_JOB_EXTERNAL_ID]);
	}
}

/*
 * Takes the job's lock, STATE_DIR/import.lock or export.lock, so that
 * two runs of one job never overlap.  Returns the descriptor (closing it
 * frees the lock), or -1 with e filled: KL_ERR_TRANSIENT (exit 75) when
 * another run holds it, naming that run's PID.
 */
int
kl_job_lock(const struct kl_job *j, struct kl_err *e)
{
	char *path;
	long holder;
	int fd;

	if (asprintf(&path, "%s/%s.lock", j->state_dir,
	    kl_job_kind_name(j->kind)) == -1) {
		kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "%s",
		    strerror(ENOMEM));
		return -1;
	}
	if ((fd = kl_lock_take(path, &holder)) == -1) {
		if (errno == EWOULDBLOCK && holder > 0)
			kl_err_set(e, KL_ERR_TRANSIENT, 0, NULL, "job '%s' is "
			    "already running: process %ld holds the lock '%s'",
			    j->path, holder, path);
		else if (errno == EWOULDBLOCK || errno == EAGAIN)
			kl_err_set(e, KL_ERR_TRANSIENT, 0, NULL, "job '%s' is "
			    "already running: another process holds the lock "
			    "'%s'", j->path, path);
		else
			kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "cannot lock "
			    "'%s': %s", path, strerror(errno));
	}
	free(path);
	return fd;
}
