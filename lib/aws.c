/*
 * aws.c - signed calls to AWS services: SigV4, retries, the reply
 * classes of house style 8, clock skew and credential refresh.
 *
 * kl_aws_call() signs a request with the current credentials, sends it,
 * and decides on the reply by the service's error code first and the
 * HTTP status second, because AWS throttles with HTTP 400:
 *
 *   2xx                                   done
 *   408, 429, 5xx, network, throttling    retry: capped exponential
 *     codes (ProvisionedThroughput...,      backoff with full jitter, at
 *     LimitExceeded..., Throttling...)      least Retry-After, bounded by
 *                                           a count and a time budget
 *   ExpiredTokenException, ExpiredToken   mark the credentials expired,
 *                                           fetch new ones, retry once
 *   "Signature expired", RequestExpired,  take the offset to the reply's
 *     RequestTimeTooSkewed                  Date, re-sign, retry once; the
 *                                           offset stays for later calls
 *   ExpiredIteratorException              KL_ERR_ITERATOR: the caller
 *                                           gets a new iterator
 *   anything else                         KL_ERR_PERMANENT
 *
 * Each retry is a warning in house style 5's words ("HTTP 400
 * ProvisionedThroughputExceededException, retry 2 of 5 in 400 ms").
 *
 * Error replies come in two shapes, told apart by their first byte rather
 * than Content-Type (kinesalite's 413 has an empty body and no type):
 * JSON 1.1 ({"__type":"ns#Code","message":"..."}, "Message" too) and the
 * query protocol's XML (<ErrorResponse><Error><Code>..</Code><Message>..
 * </Message></Error></ErrorResponse>, which STS uses).  The header
 * x-amzn-ErrorType fills in when the body names no code.  A code is
 * normalised as botocore does: cut at ':', keep what follows the last
 * '#'.
 *
 * Secrets: an InvalidSignatureException message from AWS goes on with
 * the canonical request the service expected, session token included.
 * Messages are cut at the first line break, control characters become
 * spaces, and the secret key and token of the credentials used are
 * blotted out should they appear anyway.  Bodies are never logged.
 *
 * The signing and reply halves are public (kl_aws_sign, kl_aws_reply)
 * so that a driver over libcurl's multi interface can keep many requests
 * in flight and do its own retry scheduling with kl_backoff_ms().
 */
#include <config.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "kl.h"

/* Codes that mean "slow down" whatever the status (botocore's list). */
static const char *const throttle_codes[] = {
	"ProvisionedThroughputExceededException", "LimitExceededException",
	"KMSThrottlingException", "ThrottlingException", "Throttling",
	"ThrottledException", "RequestThrottledException",
	"TooManyRequestsException", "RequestLimitExceeded",
	"RequestThrottled", "SlowDown", "BandwidthLimitExceeded",
	"TransactionInProgressException", "PriorRequestNotComplete",
	"EC2ThrottledException",
};

/* Server-side faults that may come with a 4xx status all the same. */
static const char *const transient_codes[] = {
	"InternalFailure", "InternalFailureException", "InternalError",
	"InternalServerError", "ServiceUnavailable",
	"ServiceUnavailableException", "IDPCommunicationError",
	"RequestTimeout", "RequestTimeoutException",
};

static int
in_list(const char *code, const char *const *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(code, list[i]) == 0)
			return 1;
	return 0;
}
#define IN(code, list) in_list(code, list, sizeof(list) / sizeof(list[0]))

/*
 * The class (enum kl_errkind) of a reply: status, its service error code
 * ("" if none) and message.  KL_ERR_NONE for 2xx.
 */
int
kl_aws_classify(long status, const char *code, const char *msg)
{
	if (status >= 200 && status <= 299)
		return KL_ERR_NONE;
	if (code == NULL)
		code = "";
	if (msg == NULL)
		msg = "";
	if (IN(code, throttle_codes) || IN(code, transient_codes))
		return KL_ERR_TRANSIENT;
	if (strcmp(code, "ExpiredTokenException") == 0 ||
	    strcmp(code, "ExpiredToken") == 0)
		return KL_ERR_CREDS;
	if (strcmp(code, "RequestTimeTooSkewed") == 0 ||
	    strcmp(code, "RequestExpired") == 0 ||
	    strcmp(code, "RequestInTheFuture") == 0)
		return KL_ERR_SKEW;
	if ((strcmp(code, "InvalidSignatureException") == 0 ||
	    strcmp(code, "SignatureDoesNotMatch") == 0 ||
	    strcmp(code, "AuthFailure") == 0) &&
	    (strstr(msg, "Signature expired") != NULL ||
	    strstr(msg, "Signature not yet current") != NULL ||
	    strstr(msg, "too skewed") != NULL))
		return KL_ERR_SKEW;
	if (strcmp(code, "ExpiredIteratorException") == 0)
		return KL_ERR_ITERATOR;
	return kl_http_class(status);
}

/* Normalises code in place: "ns#Code:extra" becomes "Code". */
static void
norm_code(char *code)
{
	char *p;

	if ((p = strchr(code, ':')) != NULL)
		*p = '\0';
	if ((p = strrchr(code, '#')) != NULL)
		memmove(code, p + 1, strlen(p + 1) + 1);
}

/*
 * Copies s[0..n) into out as one line: cut at the first CR or LF, other
 * control characters made spaces, trailing spaces dropped.
 */
static void
one_line(char *out, size_t cap, const char *s, size_t n)
{
	size_t i, k = 0;

	for (i = 0; i < n && k + 1 < cap; i++) {
		if (s[i] == '\n' || s[i] == '\r')
			break;
		out[k++] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ?
		    ' ' : s[i];
	}
	while (k > 0 && out[k - 1] == ' ')
		k--;
	out[k] = '\0';
}

static void
json_member(const struct kl_jspan *obj, const char *const *names,
    char *out, size_t cap)
{
	struct kl_jspan v;
	struct kl_buf b;

	for (; *names != NULL; names++) {
		if (!kl_js_get(obj, *names, &v) || v.type != KL_JSTR)
			continue;
		kl_buf_init(&b);
		if (kl_js_str(&v, &b) == 0 && !b.err)
			one_line(out, cap, b.data, b.len);
		kl_buf_free(&b);
		return;
	}
}

static void
json_error(const char *p, size_t n, char *code, size_t codesz, char *msg,
    size_t msgsz)
{
	static const char *const cnames[] = { "__type", "code", "Code", NULL };
	static const char *const mnames[] = {
		"message", "Message", "errorMessage", NULL,
	};
	struct kl_jspan top;

	if (kl_js_parse(p, n, &top, NULL) == -1 || top.type != KL_JOBJ)
		return;
	json_member(&top, cnames, code, codesz);
	json_member(&top, mnames, msg, msgsz);
}

/* Decodes XML's five entities and numeric references in s, in place. */
static void
xml_unescape(char *s)
{
	static const struct { const char *e; char c; } ents[] = {
		{ "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' },
		{ "&quot;", '"' }, { "&apos;", '\'' },
	};
	char *r = s, *w = s, *end;
	unsigned long c;
	size_t i, k;

	while (*r != '\0') {
		if (*r != '&') {
			*w++ = *r++;
			continue;
		}
		for (i = 0; i < sizeof(ents) / sizeof(ents[0]); i++) {
			k = strlen(ents[i].e);
			if (strncmp(r, ents[i].e, k) == 0)
				break;
		}
		if (i < sizeof(ents) / sizeof(ents[0])) {
			*w++ = ents[i].c;
			r += k;
		} else if (r[1] == '#') {
			c = r[2] == 'x' ? strtoul(r + 3, &end, 16) :
			    strtoul(r + 2, &end, 10);
			if (*end == ';' && c > 0 && c < 0x80) {
				*w++ = (char)c;
				r = end + 1;
			} else
				*w++ = *r++;
		} else
			*w++ = *r++;
	}
	*w = '\0';
}

/* Copies the text of the first <tag>..</tag> in p[0..n) into out. */
static void
xml_elem(const char *p, size_t n, const char *tag, char *out, size_t cap)
{
	char open[32], close[32];
	const char *s, *e;
	size_t k;

	snprintf(open, sizeof(open), "<%s>", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	if ((s = memmem(p, n, open, strlen(open))) == NULL)
		return;
	s += strlen(open);
	if ((e = memmem(s, n - (size_t)(s - p), close, strlen(close))) == NULL)
		return;
	k = (size_t)(e - s);
	if (k >= cap)
		k = cap - 1;
	memcpy(out, s, k);
	out[k] = '\0';
	xml_unescape(out);
	one_line(out, cap, out, strlen(out));
}

/*
 * Parses an AWS error reply body p[0..n) (JSON 1.1 or query-protocol
 * XML, told apart by the first non-blank byte) and, when the body names
 * no code, the x-amzn-ErrorType header value errtype (or NULL).  Fills
 * code (normalised: "Code", never "ns#Code:x") and msg (one line), each
 * "" when absent.  Returns 1 if a code was found, else 0.  Never fails:
 * any byte string is accepted.
 */
int
kl_aws_error_parse(const char *p, size_t n, const char *errtype,
    char *code, size_t codesz, char *msg, size_t msgsz)
{
	size_t i = 0;

	code[0] = msg[0] = '\0';
	while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' ||
	    p[i] == '\n'))
		i++;
	if (i < n && p[i] == '{')
		json_error(p + i, n - i, code, codesz, msg, msgsz);
	else if (i < n && p[i] == '<') {
		xml_elem(p + i, n - i, "Code", code, codesz);
		xml_elem(p + i, n - i, "Message", msg, msgsz);
	}
	if (code[0] == '\0' && errtype != NULL)
		one_line(code, codesz, errtype, strlen(errtype));
	norm_code(code);
	for (i = 0; code[i] != '\0'; i++)
		if (isspace((unsigned char)code[i])) {
			code[i] = '\0';
			break;
		}
	return code[0] != '\0';
}

/* Replaces each copy of secret s in msg with "[redacted]". */
static void
redact(char *msg, const char *s)
{
	static const char mark[] = "[redacted]";
	size_t k, m = sizeof(mark) - 1;
	char *p;

	if (s == NULL || (k = strlen(s)) < 8)
		return;
	while ((p = strstr(msg, s)) != NULL) {
		if (k >= m) {
			memcpy(p, mark, m);
			memmove(p + m, p + k, strlen(p + k) + 1);
		} else
			memset(p, '*', k);
	}
}

/*
 * Sets up a for calls to one service endpoint.  url is the endpoint
 * (scheme://host[:port][/path]); region and service give the signing
 * scope ("us-east-1", "kinesis"); src supplies credentials and stays the
 * caller's; ca_bundle may be NULL.  Defaults: 5 retries within 60 s,
 * backoff from 100 ms up to 10 s.  Returns 0, or -1 with e filled
 * (KL_ERR_CONFIG for a URL kl cannot use).
 */
int
kl_aws_init(struct kl_aws *a, const char *url, const char *region,
    const char *service, struct kl_credsrc *src, const char *ca_bundle,
    struct kl_err *e)
{
	const char *h, *slash;
	size_t n;

	memset(a, 0, sizeof(*a));
	kl_err_clear(e);
	if (strncasecmp(url, "http://", 7) == 0)
		h = url + 7;
	else if (strncasecmp(url, "https://", 8) == 0)
		h = url + 8;
	else {
		kl_err_set(e, KL_ERR_CONFIG, 0, NULL,
		    "endpoint '%s' is not an http or https URL", url);
		return -1;
	}
	slash = h + strcspn(h, "/?#");
	if (slash == h || memchr(h, '@', (size_t)(slash - h)) != NULL ||
	    (*slash != '\0' && *slash != '/')) {
		kl_err_set(e, KL_ERR_CONFIG, 0, NULL,
		    "endpoint '%s' wants the form scheme://host[:port][/path]",
		    url);
		return -1;
	}
	n = (size_t)(slash - h);
	/* Host as botocore signs it: without the scheme's default port. */
	if ((h - url == 7 && n > 3 && strncmp(slash - 3, ":80", 3) == 0) ||
	    (h - url == 8 && n > 4 && strncmp(slash - 4, ":443", 4) == 0))
		n = (size_t)(strrchr(h, ':') - h);
	a->origin = strndup(url, (size_t)(slash - url));
	a->host = strndup(h, n);
	a->base_path = strdup(*slash == '/' ? slash : "");
	a->region = strdup(region);
	a->service = strdup(service);
	if (a->origin == NULL || a->host == NULL || a->base_path == NULL ||
	    a->region == NULL || a->service == NULL ||
	    kl_http_init(&a->http, ca_bundle) == -1) {
		kl_aws_free(a);
		kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "%s",
		    strerror(ENOMEM));
		return -1;
	}
	/* A trailing '/' of the base path joins the request's leading one. */
	n = strlen(a->base_path);
	if (n > 0 && a->base_path[n - 1] == '/')
		a->base_path[n - 1] = '\0';
	a->creds = src;
	a->retries = KL_AWS_RETRIES;
	a->budget_ms = KL_AWS_BUDGET_MS;
	a->base_ms = KL_AWS_BASE_MS;
	a->cap_ms = KL_AWS_CAP_MS;
	return 0;
}

/* Frees what a holds (not its credential source); safe on a zeroed a. */
void
kl_aws_free(struct kl_aws *a)
{
	kl_http_free(&a->http);
	free(a->origin);
	free(a->host);
	free(a->base_path);
	free(a->region);
	free(a->service);
	memset(a, 0, sizeof(*a));
}

/* Builds the request's URL and signing path into url and path. */
static void
req_target(const struct kl_aws *a, const struct kl_aws_req *q,
    struct kl_buf *url, struct kl_buf *path)
{
	const char *p = q->path != NULL && *q->path != '\0' ? q->path : "/";

	kl_buf_adds(path, a->base_path);
	kl_buf_adds(path, p);
	kl_buf_adds(url, a->origin);
	/* The wire path: the caller gives it URL-safe (Kinesis, STS: "/"). */
	kl_buf_adds(url, path->data);
	if (q->query != NULL && *q->query != '\0') {
		kl_buf_addc(url, '?');
		kl_buf_adds(url, q->query);
	}
}

/*
 * Signs request q for a at time now into h (emptied first): Host, q's
 * own headers, then X-Amz-Date, the session token and Authorization.
 * c is the credentials to sign with.  Returns 0, or -1 with e filled.
 */
int
kl_aws_sign(const struct kl_aws *a, const struct kl_aws_req *q,
    const struct kl_creds *c, time_t now, struct kl_hdrs *h,
    struct kl_err *e)
{
	struct kl_buf url, path;
	size_t i;
	int r = 0;

	kl_hdrs_free(h);
	kl_hdrs_init(h);
	kl_buf_init(&url);
	kl_buf_init(&path);
	req_target(a, q, &url, &path);
	kl_hdrs_add(h, "Host", a->host);
	for (i = 0; q->hdrs != NULL && i < q->hdrs->n; i++)
		kl_hdrs_add(h, q->hdrs->name[i], q->hdrs->value[i]);
	if (h->err || path.err || url.err) {
		errno = ENOMEM;
		r = -1;
	} else
		r = kl_sigv4_sign(h, q->method, path.data, q->query, q->body,
		    q->len, a->region, a->service, c, now, q->sign_flags,
		    NULL);
	if (r == -1)
		kl_err_set(e, KL_ERR_PERMANENT, 0, NULL,
		    "cannot sign %s %s%s: %s", q->method, a->origin,
		    path.data ? path.data : "", strerror(errno));
	kl_buf_free(&url);
	kl_buf_free(&path);
	return r;
}

/*
 * Judges the reply resp to q.  Returns 0 for 2xx; otherwise -1 with e
 * filled: its kind (enum kl_errkind), the status, the service's code and
 * a message naming the method, URL and operation, then the status, code
 * and the service's message.  c (or NULL) is what the request was
 * signed with: its secrets are blotted out of the message.
 */
int
kl_aws_reply(const struct kl_aws *a, const struct kl_aws_req *q,
    const struct kl_creds *c, const struct kl_http_resp *resp,
    struct kl_err *e)
{
	char code[128], msg[400];
	const char *p = q->path != NULL && *q->path != '\0' ? q->path : "/";
	int kind;

	kl_err_clear(e);
	if (resp->status >= 200 && resp->status <= 299)
		return 0;
	kl_aws_error_parse(resp->body.data ? resp->body.data : "",
	    resp->body.len, resp->errtype, code, sizeof(code), msg,
	    sizeof(msg));
	if (c != NULL) {
		redact(msg, c->secret);
		redact(msg, c->token);
	}
	kind = kl_aws_classify(resp->status, code, msg);
	kl_err_set(e, kind, resp->status, code,
	    "%s %s%s%s%s%s%s: HTTP %ld%s%s%s%s", q->method, a->origin,
	    a->base_path, p, q->op ? " (" : "", q->op ? q->op : "",
	    q->op ? ")" : "", resp->status, code[0] ? " " : "", code,
	    msg[0] ? ": " : "", msg);
	return -1;
}

static void
warn_retry(const struct kl_err *e, int n, int max, long ms)
{
	if (e->status != 0)
		kl_log(KL_WARNING, 0, "HTTP %ld%s%s, retry %d of %d in %ld ms",
		    e->status, e->code[0] ? " " : "", e->code, n, max, ms);
	else {
		/* "POST URL: (7) text": keep the part after the URL. */
		const char *s = strstr(e->msg, ": (");

		kl_log(KL_WARNING, 0, "%s, retry %d of %d in %ld ms",
		    s != NULL ? s + 2 : e->msg, n, max, ms);
	}
}

/* Names the operation after the URL in a transport failure's message. */
static void
with_op(struct kl_err *e, const char *url, const struct kl_aws_req *q)
{
	char tmp[sizeof(e->msg)];
	size_t m = strlen(q->method), k = m + 1 + strlen(url);

	if (q->op == NULL || strncmp(e->msg, q->method, m) != 0 ||
	    e->msg[m] != ' ' || strncmp(e->msg + m + 1, url, k - m - 1) != 0)
		return;
	snprintf(tmp, sizeof(tmp), "%.*s (%s)%s", (int)k, e->msg, q->op,
	    e->msg + k);
	memcpy(e->msg, tmp, sizeof(tmp));
}

/* Appends to e->msg how many retries were spent. */
static void
gave_up(struct kl_err *e, int n)
{
	size_t k = strlen(e->msg);

	if (n > 0)
		snprintf(e->msg + k, sizeof(e->msg) - k,
		    " (gave up after %d %s)", n, n == 1 ? "retry" : "retries");
}

/*
 * Makes the call q to a and leaves the 2xx reply in resp (the caller's:
 * initialised with kl_http_resp_init, freed with kl_http_resp_free).
 * Credentials come from a->creds at each attempt.  Transient failures
 * are retried q->retries times (a->retries if negative) within
 * q->budget_ms (a->budget_ms if not positive); expired credentials and
 * clock skew once each.  Returns 0, or -1 with e filled; e->kind says
 * what the caller should do: KL_ERR_TRANSIENT (retries ran out: exit
 * 75), KL_ERR_STOPPED (a stop signal), KL_ERR_ITERATOR, KL_ERR_CONFIG,
 * or KL_ERR_PERMANENT and KL_ERR_CREDS/KL_ERR_SKEW that persisted.  On
 * failure resp holds the last reply, if any.
 */
int
kl_aws_call(struct kl_aws *a, const struct kl_aws_req *q,
    struct kl_http_resp *resp, struct kl_err *e)
{
	struct kl_http_req hr;
	struct kl_hdrs h;
	struct kl_buf url, path;
	const struct kl_creds *c;
	int retries = q->retries >= 0 ? q->retries : a->retries;
	long budget = q->budget_ms > 0 ? q->budget_ms : a->budget_ms;
	long start = kl_mono_ms(), delay;
	int n = 0, creds_again = 0, skew_again = 0, r = -1;

	kl_hdrs_init(&h);
	kl_buf_init(&url);
	kl_buf_init(&path);
	req_target(a, q, &url, &path);
	if (url.err) {
		kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "%s",
		    strerror(ENOMEM));
		goto done;
	}
	hr.method = q->method;
	hr.url = url.data;
	hr.hdrs = &h;
	hr.body = q->body;
	hr.len = q->len;
	for (;;) {
		kl_err_clear(e);
		if (kl_credsrc_get(a->creds, time(NULL) + a->skew, &c,
		    e) == -1)
			goto done;
		if (kl_aws_sign(a, q, c, time(NULL) + a->skew, &h, e) == -1)
			goto done;
		if (kl_http_perform(&a->http, &hr, resp, e) == -1)
			with_op(e, url.data, q);
		else if (kl_aws_reply(a, q, c, resp, e) == 0) {
			r = 0;
			goto done;
		}
		switch (e->kind) {
		case KL_ERR_CREDS:
			if (creds_again++)
				goto done;
			kl_log(KL_WARNING, 0, "HTTP %ld %s, refreshing "
			    "credentials", e->status, e->code);
			kl_credsrc_expired(a->creds);
			continue;
		case KL_ERR_SKEW:
			if (skew_again++ || resp->date == 0)
				goto done;
			a->skew = (long)(resp->date - time(NULL));
			kl_log(KL_WARNING, 0, "HTTP %ld %s: local clock is %ld "
			    "s %s the server's, signing again", e->status,
			    e->code, labs(a->skew),
			    a->skew > 0 ? "behind" : "ahead of");
			continue;
		case KL_ERR_TRANSIENT:
			if (n >= retries)
				goto done;
			delay = kl_backoff_ms(n + 1, a->base_ms, a->cap_ms);
			if (resp->retry_after_ms > delay && e->status != 0)
				delay = resp->retry_after_ms;
			if (kl_mono_ms() - start + delay > budget)
				goto done;
			n++;
			warn_retry(e, n, retries, delay);
			if (kl_sleep_ms(delay) == -1) {
				kl_err_set(e, KL_ERR_STOPPED, 0, NULL, "%s %s: "
				    "stopped", q->method, url.data);
				goto done;
			}
			continue;
		default:
			goto done;
		}
	}
done:
	if (r == -1 && e->kind == KL_ERR_TRANSIENT)
		gave_up(e, n);
	kl_hdrs_free(&h);
	kl_buf_free(&url);
	kl_buf_free(&path);
	return r;
}
