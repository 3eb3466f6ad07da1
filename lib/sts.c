/*
 * sts.c - AWS STS over the query protocol: AssumeRole and
 * GetCallerIdentity (aws-protocol.md §2), the AssumeRole step that
 * creds.c calls (kl_assume_fn), and the cache of assumed credentials.
 *
 * Design decisions:
 *
 * - Requests are form-encoded POSTs to "/" of the STS endpoint, signed
 *   for service "sts" with the credentials passed in: the AssumeRole step
 *   gets its base credentials from creds.c, not from a chain, so the
 *   retry loop here uses aws.c's halves (kl_aws_sign, kl_aws_reply,
 *   kl_backoff_ms) rather than kl_aws_call.  Throttling and 5xx are
 *   retried with backoff, clock skew once; ExpiredToken goes back to the
 *   caller as KL_ERR_CREDS, so creds.c refreshes the base and asks again.
 *
 * - Replies are parsed strictly (stsxml.c).  A 2xx reply that does not
 *   parse is a permanent error: nothing is guessed from a broken reply.
 *   Error replies are judged by aws.c (its classes, its redaction of the
 *   secrets used); the strict reader only adds why a body is not an STS
 *   <ErrorResponse>.  The reply body, which holds the new secret key and
 *   session token, is wiped once parsed.
 *
 * - The cache: one credential record per (role ARN, external id, base
 *   access key id, STS endpoint, session name if given, duration if
 *   given), named by the SHA-256 of those, in
 *   $XDG_CACHE_HOME/kl (an absolute XDG_CACHE_HOME only) or ~/.cache/kl.
 *   Files are 0600, written atomically, in a 0700 folder owned by us;
 *   a folder that group or others can enter, or a file they can read, is
 *   not used (with a warning naming the chmod), and the file is then
 *   replaced.  An entry is reused until KL_CREDS_WINDOW (5 minutes)
 *   before its Expiration, the window creds.c refreshes in, so a cached
 *   entry is never one creds.c would refuse.  The endpoint is part of the
 *   key so that keys issued by one STS (or a test's fake) never reach
 *   another.
 */
#include <config.h>

#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "kl.h"

#define FORM_TYPE	"application/x-www-form-urlencoded; charset=utf-8"
#define STS_VERSION	"2011-06-15"
#define CACHE_MAX	(64 * 1024)

/* Checking names and ARNs. */

/*
 * Checks an account id: 12 digits.  Returns 0, or -1 with why, which for
 * a 9-digit id points at the placeholder in Lytics' own example.
 */
int
kl_sts_account_check(const char *s, char *why, size_t whysz)
{
	size_t n = strspn(s, "0123456789");

	if (s[n] != '\0' || n == 0)
		snprintf(why, whysz, "the account id '%.40s' is not a number "
		    "(AWS account ids are 12 digits)", s);
	else if (n != 12)
		snprintf(why, whysz, "the account id '%s' has %zu digits, but "
		    "AWS account ids have 12%s", s, n, n == 9 ? " (the 9-digit "
		    "111111111 in Lytics' example ARN is a placeholder: use "
		    "your own account's id)" : "");
	else
		return 0;
	return -1;
}

/*
 * Checks a role ARN, arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME
 * (aws-protocol.md §2.4).  Returns 0, or -1 with the rule broken in why.
 */
int
kl_sts_role_arn_check(const char *arn, char *why, size_t whysz)
{
	const char *p, *acct, *name;
	char a[32];
	size_t n;

	if (strncmp(arn, "arn:", 4) != 0)
		goto shape;
	for (p = arn + 4; islower((unsigned char)*p) || *p == '-'; p++)
		;
	if (p == arn + 4 || strncmp(p, ":iam::", 6) != 0)
		goto shape;
	acct = p + 6;
	n = strcspn(acct, ":");
	if (acct[n] != ':')
		goto shape;
	snprintf(a, sizeof(a), "%.*s", (int)(n < 20 ? n : 20), acct);
	if (kl_sts_account_check(a, why, whysz) == -1)
		return -1;
	p = acct + n;
	if (strncmp(p, ":role/", 6) != 0)
		goto shape;
	if (strlen(arn) > 2048) {
		snprintf(why, whysz, "a role ARN has at most 2048 characters");
		return -1;
	}
	for (p += 5; *p != '\0'; p++)
		if (*p < '!' || *p > '~') {
			snprintf(why, whysz, "a role ARN has no blanks or "
			    "control characters");
			return -1;
		}
	name = strrchr(arn, '/') + 1;
	n = strlen(name);
	if (n < 1 || n > 64 || strspn(name, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+=,.@-") != n) {
		snprintf(why, whysz, "the role name is 1-64 of "
		    "[A-Za-z0-9_+=,.@-]");
		return -1;
	}
	if (!kl_role_arn_ok(arn))
		goto shape;
	return 0;
shape:
	snprintf(why, whysz, "a role ARN is arn:aws:iam::ACCOUNT:role/"
	    "[PATH/]NAME, with a 12-digit ACCOUNT");
	return -1;
}

/*
 * Writes the default RoleSessionName for time now into out (at least 65
 * bytes): "kl-USER-EPOCH", USER cut to 40 characters, characters STS
 * refuses made '-'.
 */
void
kl_sts_session_name(char *out, size_t n, time_t now)
{
	const char *user = getenv("USER");
	struct passwd *pw;
	size_t i;

	if ((user == NULL || *user == '\0') &&
	    (pw = getpwuid(getuid())) != NULL)
		user = pw->pw_name;
	if (user == NULL || *user == '\0')
		user = "user";
	snprintf(out, n, "kl-%.40s-%lld", user, (long long)now);
	for (i = 3; out[i] != '\0'; i++)
		if (!isalnum((unsigned char)out[i]) &&
		    strchr("_+=,.@-", out[i]) == NULL)
			out[i] = '-';
}

/* Calls. */

/*
 * Sets s up (zeroed first; free it with kl_sts_free): ca_bundle (copied,
 * or NULL) for TLS, flags KL_STS_CACHE to reuse assumed credentials.
 * Nothing is sent until the first call.  Returns 0, or -1 with errno.
 */
int
kl_sts_init(struct kl_sts *s, const char *ca_bundle, int flags)
{
	memset(s, 0, sizeof(*s));
	kl_buf_init(&s->served);
	s->flags = flags;
	if (ca_bundle != NULL && (s->ca_bundle = strdup(ca_bundle)) == NULL)
		return -1;
	return 0;
}

/* Frees what s holds; safe on a zeroed s. */
void
kl_sts_free(struct kl_sts *s)
{
	if (s->url != NULL)
		kl_aws_free(&s->aws);
	free(s->url);
	free(s->ca_bundle);
	kl_buf_free(&s->served);
	memset(s, 0, sizeof(*s));
}

/* Points s at the endpoint url, signing for region. */
static int
endpoint(struct kl_sts *s, const char *url, const char *region,
    struct kl_err *e)
{
	if (url == NULL || region == NULL) {
		kl_err_set(e, KL_ERR_CONFIG, 0, NULL, "no STS endpoint: no "
		    "AWS region");
		return -1;
	}
	if (s->url != NULL && strcmp(s->url, url) == 0)
		return 0;
	if (s->url != NULL) {
		kl_aws_free(&s->aws);
		free(s->url);
		s->url = NULL;
	}
	/* The global endpoint signs for us-east-1 (aws-protocol.md §2.1). */
	if (strcasecmp(url, "https://sts.amazonaws.com") == 0)
		region = "us-east-1";
	if (kl_aws_init(&s->aws, url, region, "sts", NULL, s->ca_bundle,
	    e) == -1)
		return -1;
	if ((s->url = strdup(url)) == NULL) {
		kl_aws_free(&s->aws);
		kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "%s", strerror(ENOMEM));
		return -1;
	}
	return 0;
}

/* A transport failure's "POST URL: (7) ..." gains the operation. */
static void
with_op(struct kl_err *e, const char *url, const char *op)
{
	char tmp[sizeof(e->msg)];
	size_t k = strlen("POST ") + strlen(url);

	if (strncmp(e->msg, "POST ", 5) != 0 ||
	    strncmp(e->msg + 5, url, k - 5) != 0)
		return;
	snprintf(tmp, sizeof(tmp), "%.*s (%s)%s", (int)k, e->msg, op,
	    e->msg + k);
	memcpy(e->msg, tmp, sizeof(tmp));
}

/* Adds to an error reply's message why the body is no <ErrorResponse>. */
static void
check_error_body(const struct kl_http_resp *resp, struct kl_err *e)
{
	char code[128], msg[512], why[160];
	size_t k;

	if (resp->body.len == 0 || kl_sts_parse_error(resp->body.data,
	    resp->body.len, code, sizeof(code), msg, sizeof(msg), why,
	    sizeof(why)) == 0)
		return;
	k = strlen(e->msg);
	snprintf(e->msg + k, sizeof(e->msg) - k, " (the reply is not an "
	    "STS ErrorResponse: %s)", why);
}

/*
 * Sends the form body to s's endpoint as operation op, signed with c,
 * retrying throttling, 5xx and transport failures with backoff and a
 * skewed clock once.  Leaves a 2xx reply in resp.  Returns 0, or -1 with
 * e filled (KL_ERR_CREDS for ExpiredToken: the caller refreshes c).
 */
static int
call(struct kl_sts *s, const char *op, const struct kl_buf *body,
    const struct kl_creds *c, struct kl_http_resp *resp, struct kl_err *e)
{
	struct kl_aws *a = &s->aws;
	struct kl_aws_req q;
	struct kl_http_req hr;
	struct kl_hdrs qh, h;
	struct kl_buf url;
	long start = kl_mono_ms(), delay;
	int n = 0, skewed = 0, r = -1;

	kl_hdrs_init(&qh);
	kl_hdrs_init(&h);
	kl_buf_init(&url);
	kl_hdrs_add(&qh, "Content-Type", FORM_TYPE);
	kl_buf_addf(&url, "%s%s/", a->origin, a->base_path);
	if (qh.err || url.err || body->err) {
		kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "%s", strerror(ENOMEM));
		goto done;
	}
	memset(&q, 0, sizeof(q));
	q.method = "POST";
	q.path = "/";
	q.op = op;
	q.hdrs = &qh;
	q.body = body->data;
	q.len = body->len;
	hr.method = "POST";
	hr.url = url.data;
	hr.hdrs = &h;
	hr.body = body->data;
	hr.len = body->len;
	for (;;) {
		kl_err_clear(e);
		if (kl_aws_sign(a, &q, c, time(NULL) + a->skew, &h, e) == -1)
			goto done;
		if (kl_http_perform(&a->http, &hr, resp, e) == -1)
			with_op(e, url.data, op);
		else if (kl_aws_reply(a, &q, c, resp, e) == 0) {
			r = 0;
			goto done;
		} else
			check_error_body(resp, e);
		if (e->kind == KL_ERR_SKEW && !skewed++ && resp->date != 0) {
			a->skew = (long)(resp->date - time(NULL));
			kl_log(KL_WARNING, 0, "HTTP %ld %s: local clock is %ld s "
			    "%s the server's, signing again", e->status, e->code,
			    labs(a->skew), a->skew > 0 ? "behind" : "ahead of");
			continue;
		}
		if (e->kind != KL_ERR_TRANSIENT || n >= a->retries)
			goto done;
		delay = kl_backoff_ms(n + 1, a->base_ms, a->cap_ms);
		if (resp->retry_after_ms > delay && e->status != 0)
			delay = resp->retry_after_ms;
		if (kl_mono_ms() - start + delay > a->budget_ms)
			goto done;
		n++;
		if (e->status != 0)
			kl_log(KL_WARNING, 0, "HTTP %ld%s%s, retry %d of %d in "
			    "%ld ms", e->status, e->code[0] ? " " : "", e->code,
			    n, a->retries, delay);
		else
			kl_log(KL_WARNING, 0, "%s, retry %d of %d in %ld ms",
			    strstr(e->msg, ": (") != NULL ?
			    strstr(e->msg, ": (") + 2 : e->msg, n, a->retries,
			    delay);
		if (kl_sleep_ms(delay) == -1) {
			kl_err_set(e, KL_ERR_STOPPED, 0, NULL, "POST %s (%s): "
			    "stopped", url.data, op);
			goto done;
		}
	}
done:
	if (r == -1 && e->kind == KL_ERR_TRANSIENT && n > 0) {
		size_t k = strlen(e->msg);

		snprintf(e->msg + k, sizeof(e->msg) - k, " (gave up after %d "
		    "%s)", n, n == 1 ? "retry" : "retries");
	}
	kl_hdrs_free(&qh);
	kl_hdrs_free(&h);
	kl_buf_free(&url);
	return r;
}

static void
form(struct kl_buf *b, const char *name, const char *value)
{
	kl_buf_addf(b, "&%s=", name);
	kl_uri_encode(b, value, strlen(value), 0);
}

/*
 * Calls AssumeRole for a (role, external id, session name or the
 * default, duration if not 0, a->sts_url and a->region) with the base
 * credentials c, without the cache.  Fills out (the caller frees it with
 * kl_creds_free, also after a failure).  Returns 0, or -1 with e filled:
 * KL_ERR_TRANSIENT (retries ran out), KL_ERR_CREDS (STS says c expired),
 * KL_ERR_STOPPED, KL_ERR_PERMANENT (a refusal, a malformed reply).
 */
int
kl_sts_assume_role(struct kl_sts *s, const struct kl_creds *c,
    const struct kl_assume *a, struct kl_creds *out, struct kl_err *e)
{
	struct kl_http_resp resp;
	struct kl_buf body;
	char sess[80], why[200], t[32];
	char *arn = NULL;
	int r = -1;

	memset(out, 0, sizeof(*out));
	kl_err_clear(e);
	if (endpoint(s, a->sts_url, a->region, e) == -1)
		return -1;
	if (a->session_name != NULL)
		snprintf(sess, sizeof(sess), "%s", a->session_name);
	else
		kl_sts_session_name(sess, sizeof(sess), time(NULL));
	kl_buf_init(&body);
	kl_buf_adds(&body, "Action=AssumeRole&Version=" STS_VERSION);
	form(&body, "RoleArn", a->role_arn);
	form(&body, "RoleSessionName", sess);
	if (a->external_id != NULL)
		form(&body, "ExternalId", a->external_id);
	if (a->duration != 0)
		kl_buf_addf(&body, "&DurationSeconds=%ld", a->duration);
	kl_http_resp_init(&resp);
	s->calls++;
	kl_log(KL_DEBUG, 0, "AssumeRole '%s' as '%s' with key %s", a->role_arn,
	    sess, kl_akid_tail(c->akid));
	if (call(s, "AssumeRole", &body, c, &resp, e) == -1)
		goto done;
	if (kl_sts_parse_assume(resp.body.data, resp.body.len, out, &arn, why,
	    sizeof(why)) == -1) {
		kl_err_set(e, KL_ERR_PERMANENT, resp.status, NULL, "POST %s/ "
		    "(AssumeRole): HTTP %ld, but the reply is not valid STS "
		    "XML: %s", s->url, resp.status, why);
		goto done;
	}
	kl_time_fmt(t, sizeof(t), out->expiration, -1);
	kl_log(KL_INFO, 0, "assumed role '%s' as '%s' (key %s), until %s",
	    a->role_arn, arn != NULL ? arn : sess, kl_akid_tail(out->akid), t);
	r = 0;
done:
	if (r == -1)
		kl_creds_free(out);
	free(arn);
	kl_buf_wipe(&resp.body);
	kl_http_resp_free(&resp);
	kl_buf_free(&body);
	return r;
}

/*
 * Calls GetCallerIdentity at url (region for signing) with credentials
 * c and fills id (the caller frees it with kl_sts_ident_free).  Returns
 * 0, or -1 with e filled as for kl_sts_assume_role.
 */
int
kl_sts_identity(struct kl_sts *s, const char *url, const char *region,
    const struct kl_creds *c, struct kl_sts_ident *id, struct kl_err *e)
{
	struct kl_http_resp resp;
	struct kl_buf body;
	char why[200];
	int r = -1;

	memset(id, 0, sizeof(*id));
	kl_err_clear(e);
	if (endpoint(s, url, region, e) == -1)
		return -1;
	kl_buf_init(&body);
	kl_buf_adds(&body, "Action=GetCallerIdentity&Version=" STS_VERSION);
	kl_http_resp_init(&resp);
	if (call(s, "GetCallerIdentity", &body, c, &resp, e) == 0) {
		if (kl_sts_parse_identity(resp.body.data, resp.body.len, id,
		    why, sizeof(why)) == 0)
			r = 0;
		else
			kl_err_set(e, KL_ERR_PERMANENT, resp.status, NULL,
			    "POST %s/ (GetCallerIdentity): HTTP %ld, but the "
			    "reply is not valid STS XML: %s", s->url,
			    resp.status, why);
	}
	kl_http_resp_free(&resp);
	kl_buf_free(&body);
	return r;
}

/* The cache. */

/* Creates dir and its missing parents, each 0700. */
static int
mkdirs(char *dir)
{
	char *p;
	int r = 0;

	for (p = dir + 1; r == 0; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		if (*p == '\0')
			return mkdir(dir, 0700) == -1 && errno != EEXIST ? -1 : 0;
		*p = '\0';
		if (mkdir(dir, 0700) == -1 && errno != EEXIST)
			r = -1;
		*p = '/';
	}
	return r;
}

/*
 * The cache file for assuming a with base credentials c: a malloc'd
 * path, the folder made and checked first, or NULL (no caching, warned
 * about once if the folder is unsafe).
 */
static char *
cache_path(struct kl_sts *s, const struct kl_assume *a,
    const struct kl_creds *c)
{
	const char *v = getenv("XDG_CACHE_HOME"), *bad = NULL;
	unsigned char md[32];
	char hex[65], *dir;
	struct kl_buf b, k;
	struct passwd *pw;
	struct stat st;

	kl_buf_init(&b);
	if (v != NULL && *v == '/')
		kl_buf_addf(&b, "%s/kl", v);
	else if ((v = getenv("HOME")) != NULL && *v == '/')
		kl_buf_addf(&b, "%s/.cache/kl", v);
	else if ((pw = getpwuid(getuid())) != NULL && pw->pw_dir != NULL)
		kl_buf_addf(&b, "%s/.cache/kl", pw->pw_dir);
	else
		return NULL;
	if ((dir = kl_buf_steal(&b)) == NULL)
		return NULL;
	if (mkdirs(dir) == -1 || lstat(dir, &st) == -1)
		bad = strerror(errno);
	else if (!S_ISDIR(st.st_mode))
		bad = "not a folder";
	else if (st.st_uid != geteuid())
		bad = "owned by another user";
	else if ((st.st_mode & 077) != 0)
		bad = "group or others may enter it; run: chmod 700 ";
	if (bad != NULL) {
		if (!s->warned++)
			kl_log(KL_WARNING, 0, "not caching credentials in "
			    "'%s': %s%s", dir, bad, strchr(bad, ':') != NULL ?
			    dir : "");
		free(dir);
		return NULL;
	}
	kl_buf_init(&k);
	kl_buf_addf(&k, "kl-sts-cache 1\n%s\n%s\n%s\n%s\n%s\n%ld\n",
	    a->role_arn, a->external_id != NULL ? a->external_id : "",
	    c->akid, a->sts_url != NULL ? a->sts_url : "",
	    a->session_name != NULL ? a->session_name : "", a->duration);
	if (k.err || kl_sha256(k.data, k.len, md) == -1) {
		kl_buf_free(&k);
		free(dir);
		return NULL;
	}
	kl_buf_free(&k);
	kl_hex(md, 20, hex);
	kl_buf_addf(&b, "%s/role-%.40s.json", dir, hex);
	free(dir);
	return kl_buf_steal(&b);
}

/* Fills out from the cache file if it is ours, private and fresh. */
static int
cache_get(const char *path, time_t now, struct kl_creds *out)
{
	struct kl_buf b;
	struct kl_err e;
	struct stat st;
	char why[160], t[32];
	int r;

	memset(out, 0, sizeof(*out));
	if (lstat(path, &st) == -1)
		return -1;
	if (!S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
		kl_log(KL_WARNING, 0, "not using cached credentials '%s': not "
		    "a file of ours", path);
		return -1;
	}
	kl_buf_init(&b);
	kl_err_clear(&e);
	if (kl_read_private(path, CACHE_MAX, &b, NULL, &e) == -1) {
		kl_log(KL_WARNING, 0, "not using cached credentials: %s",
		    e.msg);
		kl_buf_wipe(&b);
		return -1;
	}
	r = kl_creds_parse(b.data, b.len, out, why, sizeof(why));
	kl_buf_wipe(&b);
	if (r == -1 || out->token == NULL || out->expiration == 0) {
		kl_log(KL_WARNING, 0, "not using cached credentials '%s': %s",
		    path, r == -1 ? why : "no SessionToken or Expiration");
		kl_creds_free(out);
		return -1;
	}
	if (now + KL_CREDS_WINDOW >= out->expiration) {
		kl_time_fmt(t, sizeof(t), out->expiration, -1);
		kl_log(KL_DEBUG, 0, "cached credentials '%s' expire at %s, "
		    "within %d minutes", path, t, KL_CREDS_WINDOW / 60);
		kl_creds_free(out);
		return -1;
	}
	return 0;
}

static void
cache_put(const char *path, const struct kl_creds *c)
{
	struct kl_buf b;

	kl_buf_init(&b);
	if (kl_creds_format(&b, c) == 0)
		kl_buf_addc(&b, '\n');
	if (b.err)
		errno = ENOMEM;
	if (b.err || kl_atomic_write(path, b.data, b.len, 0600) == -1)
		kl_log(KL_WARNING, errno, "cannot cache credentials in '%s'",
		    path);
	else
		kl_log(KL_DEBUG, 0, "cached credentials in '%s'", path);
	kl_buf_wipe(&b);
}

/*
 * Whether the cached c was handed out before in this process: creds.c
 * asks again only for credentials it finds stale or the service refused,
 * so the same entry is not good twice (it is then dropped, and replaced).
 */
static int
served(struct kl_sts *s, struct kl_creds *c)
{
	const char *p = s->served.data;
	size_t n = strlen(c->akid);

	for (; p != NULL && (p = strstr(p, c->akid)) != NULL; p += n)
		if ((p == s->served.data || p[-1] == '\n') && p[n] == '\n') {
			kl_log(KL_DEBUG, 0, "cached key %s was used already: "
			    "assuming the role again", kl_akid_tail(c->akid));
			kl_creds_free(c);
			return 1;
		}
	kl_buf_addf(&s->served, "%s\n", c->akid);
	return 0;
}

/*
 * The AssumeRole step (kl_assume_fn) creds.c calls: ctx is a struct
 * kl_sts.  With KL_STS_CACHE, credentials cached for the same role,
 * external id, base key and endpoint are reused while more than
 * KL_CREDS_WINDOW seconds from expiry, and fresh ones are cached.
 * Returns 0, or -1 with e filled as for kl_sts_assume_role.
 */
int
kl_sts_assume(void *ctx, const struct kl_creds *base,
    const struct kl_assume *a, struct kl_creds *out, struct kl_err *e)
{
	struct kl_sts *s = ctx;
	char *path = NULL, t[32];
	int r;

	memset(out, 0, sizeof(*out));
	if ((s->flags & KL_STS_CACHE) &&
	    (path = cache_path(s, a, base)) != NULL &&
	    cache_get(path, time(NULL), out) == 0 && !served(s, out)) {
		kl_time_fmt(t, sizeof(t), out->expiration, -1);
		kl_log(KL_INFO, 0, "role '%s': cached credentials (key %s), "
		    "until %s", a->role_arn, kl_akid_tail(out->akid), t);
		free(path);
		return 0;
	}
	if ((r = kl_sts_assume_role(s, base, a, out, e)) == 0 && path != NULL)
		cache_put(path, out);
	free(path);
	return r;
}
