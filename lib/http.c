/*
 * http.c - HTTP requests over libcurl's easy interface, retry timing and
 * stop-aware sleeping.
 *
 * One struct kl_http per endpoint holds one CURL handle that is reused
 * for every request, so the connection (and the TLS session) stays open
 * between calls.  Each request resets the handle's options with
 * curl_easy_reset(), which keeps the live connections, then sets them all
 * again: no option from one request can leak into the next.
 *
 * A transfer is split in two so that a driver over libcurl's multi
 * interface (kl-read-shard) can reuse both halves: kl_http_prepare() sets
 * up any easy handle for one request and points its callbacks at a
 * struct kl_http_xfer and a struct kl_http_resp; kl_http_finish() turns
 * libcurl's result code into a struct kl_err and frees what the transfer
 * held.  kl_http_perform() is prepare, curl_easy_perform(), finish.
 *
 * Design decisions:
 *
 * - No CURLOPT_FAILONERROR: every reply with a status line is a reply,
 *   and the caller classifies it (house style 8); only transport failures
 *   are errors here.  kl_http_class() gives the status-only class; aws.c
 *   refines it with AWS error codes.
 * - CURLOPT_NOSIGNAL, and an XFERINFO callback that aborts the transfer
 *   once kl_stopping(): the process installs its stop handlers without
 *   SA_RESTART, and libcurl retries its own interrupted polls, so the
 *   callback is what makes a transfer notice a signal.  An aborted
 *   transfer is KL_ERR_STOPPED, not a failure.
 * - "Expect:" is sent empty so that a large POST goes out at once instead
 *   of waiting for 100-continue.
 * - The reply headers kept are those a caller decides on: Content-Type,
 *   Date (clock skew), Retry-After, x-amzn-ErrorType and the request id.
 *   A new status line (a 1xx interim reply) clears them.
 * - At -vv the request line and the headers are logged, except the
 *   values of Authorization, X-Amz-Security-Token and any other header
 *   that carries a secret, which are left out whole; bodies never are.
 * - kl_sleep_ms() sleeps in slices of at most 100 ms and checks
 *   kl_stopping() between them, so a signal that arrives just before a
 *   slice starts delays the stop by one slice at most.
 */
#include <config.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "kl.h"

#define BODY_MAX_DEFAULT	(64UL * 1024 * 1024)

_Static_assert(sizeof(((struct kl_http_xfer *)0)->errbuf) >= CURL_ERROR_SIZE,
    "errbuf must hold CURL_ERROR_SIZE bytes");

/* Headers whose values are secrets: never logged, at any verbosity. */
static const char *const secret_hdrs[] = {
	"authorization", "x-amz-security-token", "proxy-authorization",
	"cookie", "x-api-key",
};

/*
 * Whether the header named name[0..n) carries a secret.  n may be
 * (size_t)-1 for a NUL-terminated name.
 */
int
kl_http_secret_header(const char *name, size_t n)
{
	size_t i;

	if (n == (size_t)-1)
		n = strlen(name);
	for (i = 0; i < sizeof(secret_hdrs) / sizeof(secret_hdrs[0]); i++)
		if (strlen(secret_hdrs[i]) == n &&
		    strncasecmp(name, secret_hdrs[i], n) == 0)
			return 1;
	return 0;
}

/*
 * Sets up h for one endpoint: a new CURL handle, default timeouts (5 s to
 * connect, 30 s per transfer) and the CA bundle (copied; NULL for the
 * system's).  Call curl_global_init() first.  Returns 0, or -1 with errno
 * ENOMEM.
 */
int
kl_http_init(struct kl_http *h, const char *ca_bundle)
{
	memset(h, 0, sizeof(*h));
	h->connect_ms = KL_HTTP_CONNECT_MS;
	h->timeout_ms = KL_HTTP_TIMEOUT_MS;
	h->body_max = BODY_MAX_DEFAULT;
	snprintf(h->ua, sizeof(h->ua), "kl/%s %s", PACKAGE_VERSION, kl_prog);
	if (ca_bundle != NULL && *ca_bundle != '\0' &&
	    (h->ca_bundle = strdup(ca_bundle)) == NULL)
		return -1;
	if ((h->curl = curl_easy_init()) == NULL) {
		free(h->ca_bundle);
		h->ca_bundle = NULL;
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

/* Closes h's connections and frees it; safe on a zeroed h. */
void
kl_http_free(struct kl_http *h)
{
	if (h->curl != NULL)
		curl_easy_cleanup(h->curl);
	free(h->ca_bundle);
	memset(h, 0, sizeof(*h));
}

/* Makes r empty: no status, an empty body, no Retry-After. */
void
kl_http_resp_init(struct kl_http_resp *r)
{
	memset(r, 0, sizeof(*r));
	kl_buf_init(&r->body);
	r->retry_after_ms = -1;
}

/* Empties r for another request, keeping the body's memory. */
void
kl_http_resp_reset(struct kl_http_resp *r)
{
	struct kl_buf b = r->body;

	kl_buf_reset(&b);
	b.err = 0;
	memset(r, 0, sizeof(*r));
	r->body = b;
	r->retry_after_ms = -1;
}

/* Frees r's body and empties r; safe on an initialised r. */
void
kl_http_resp_free(struct kl_http_resp *r)
{
	kl_buf_free(&r->body);
	kl_http_resp_init(r);
}

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	struct kl_http_xfer *x = arg;
	size_t len = size * n;

	if (x->resp->body.len + len > x->body_max) {
		x->too_big = 1;
		return 0;
	}
	kl_buf_add(&x->resp->body, p, len);
	return x->resp->body.err ? 0 : len;
}

/* Copies the value v[0..n), trimmed, into out (truncated to fit). */
static void
keep(char *out, size_t cap, const char *v, size_t n)
{
	while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n' ||
	    v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	if (n >= cap)
		n = cap - 1;
	memcpy(out, v, n);
	out[n] = '\0';
}

static size_t
on_header(char *p, size_t size, size_t n, void *arg)
{
	struct kl_http_xfer *x = arg;
	struct kl_http_resp *r = x->resp;
	size_t len = size * n, k;
	const char *v;
	char tmp[128];
	time_t t;

	if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		/* A status line: forget an interim reply's headers. */
		r->ctype[0] = r->errtype[0] = r->reqid[0] = '\0';
		r->date = 0;
		r->retry_after_ms = -1;
		x->retry_after[0] = '\0';
		return len;
	}
	if ((v = memchr(p, ':', len)) == NULL)
		return len;
	k = (size_t)(v - p);
	v++;
	while (v < p + len && (*v == ' ' || *v == '\t'))
		v++;
#define IS(name) (k == sizeof(name) - 1 && strncasecmp(p, name, k) == 0)
	if (IS("content-type"))
		keep(r->ctype, sizeof(r->ctype), v, len - (size_t)(v - p));
	else if (IS("x-amzn-errortype"))
		keep(r->errtype, sizeof(r->errtype), v, len - (size_t)(v - p));
	else if (IS("x-amzn-requestid") || IS("x-amz-request-id") ||
	    IS("x-request-id"))
		keep(r->reqid, sizeof(r->reqid), v, len - (size_t)(v - p));
	else if (IS("retry-after"))
		keep(x->retry_after, sizeof(x->retry_after), v,
		    len - (size_t)(v - p));
	else if (IS("date")) {
		keep(tmp, sizeof(tmp), v, len - (size_t)(v - p));
		if (kl_time_http(tmp, &t) == 0)
			r->date = t;
	}
#undef IS
	return len;
}

/* Frees a header list, wiping it first: it may hold a session token. */
static void
free_slist(struct curl_slist *sl)
{
	struct curl_slist *t;

	for (t = sl; t != NULL; t = t->next)
		explicit_bzero(t->data, strlen(t->data));
	curl_slist_free_all(sl);
}

static int
on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow,
    curl_off_t ultotal, curl_off_t ulnow)
{
	return kl_stopping() ? 1 : 0;
}

static void
trace_request(const struct kl_http_req *req)
{
	const struct kl_hdrs *h = req->hdrs;
	size_t i;

	if (kl_verbose < 2)
		return;
	kl_log(KL_DEBUG, 0, "> %s %s (%zu bytes)", req->method, req->url,
	    req->len);
	for (i = 0; h != NULL && i < h->n; i++)
		if (!kl_http_secret_header(h->name[i], (size_t)-1))
			kl_log(KL_DEBUG, 0, "> %s: %s", h->name[i],
			    h->value[i]);
}

/*
 * Sets up the easy handle curl for req, with h's timeouts, user agent and
 * CA bundle; the reply will go to resp (reset here) through x, which
 * must stay in place until kl_http_finish().  req and its strings must
 * outlive the transfer too.  Returns 0, or -1 with e filled (ENOMEM or a
 * libcurl option that failed: KL_ERR_PERMANENT).
 */
int
kl_http_prepare(struct kl_http_xfer *x, void *curl, const struct kl_http *h,
    const struct kl_http_req *req, struct kl_http_resp *resp,
    struct kl_err *e)
{
	struct curl_slist *sl = NULL, *t;
	const struct kl_hdrs *hd = req->hdrs;
	struct kl_buf line;
	CURLcode rc = CURLE_OK;
	size_t i;

	memset(x, 0, sizeof(*x));
	x->curl = curl;
	x->resp = resp;
	x->method = req->method;
	x->url = req->url;
	x->timeout_ms = h->timeout_ms;
	x->body_max = h->body_max ? h->body_max : BODY_MAX_DEFAULT;
	x->start_ms = kl_mono_ms();
	kl_http_resp_reset(resp);
	kl_buf_init(&line);
	for (i = 0; hd != NULL && i < hd->n; i++) {
		kl_buf_reset(&line);
		kl_buf_addf(&line, "%s: %s", hd->name[i], hd->value[i]);
		if (line.err || (t = curl_slist_append(sl, line.data)) == NULL)
			goto nomem;
		sl = t;
	}
	if ((t = curl_slist_append(sl, "Expect:")) == NULL)
		goto nomem;
	sl = t;
	kl_buf_wipe(&line);
	x->slist = sl;

	curl_easy_reset(curl);
#define SET(opt, val) do {						\
	if (rc == CURLE_OK)						\
		rc = curl_easy_setopt(curl, opt, val);			\
} while (0)
	SET(CURLOPT_URL, req->url);
	SET(CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
#else
	SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	SET(CURLOPT_CONNECTTIMEOUT_MS, h->connect_ms);
	SET(CURLOPT_TIMEOUT_MS, h->timeout_ms);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_USERAGENT, h->ua);
	SET(CURLOPT_HTTPHEADER, sl);
	SET(CURLOPT_ERRORBUFFER, x->errbuf);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, x);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, x);
	SET(CURLOPT_NOPROGRESS, 0L);
	SET(CURLOPT_XFERINFOFUNCTION, on_progress);
	SET(CURLOPT_XFERINFODATA, x);
	if (h->ca_bundle != NULL)
		SET(CURLOPT_CAINFO, h->ca_bundle);
	if (strcmp(req->method, "GET") == 0)
		SET(CURLOPT_HTTPGET, 1L);
	else {
		if (strcmp(req->method, "POST") != 0)
			SET(CURLOPT_CUSTOMREQUEST, req->method);
		SET(CURLOPT_POST, 1L);
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->len);
		SET(CURLOPT_POSTFIELDS, req->len ? req->body : "");
	}
#undef SET
	if (rc != CURLE_OK) {
		kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "%s %s: (%d) %s",
		    req->method, req->url, (int)rc, curl_easy_strerror(rc));
		e->sys = (int)rc;
		free_slist(sl);
		x->slist = NULL;
		return -1;
	}
	trace_request(req);
	return 0;
nomem:
	kl_buf_wipe(&line);
	free_slist(sl);
	kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "%s %s: %s", req->method,
	    req->url, strerror(ENOMEM));
	e->sys = ENOMEM;
	errno = ENOMEM;
	return -1;
}

/* The class of a libcurl result that is not CURLE_OK. */
static int
curl_class(CURLcode rc)
{
	switch (rc) {
	case CURLE_ABORTED_BY_CALLBACK:
		return KL_ERR_STOPPED;
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_HTTP2:
	case CURLE_PARTIAL_FILE:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_AGAIN:
	case CURLE_HTTP2_STREAM:
	case CURLE_HTTP3:
		return KL_ERR_TRANSIENT;
	default:
		return KL_ERR_PERMANENT;
	}
}

/*
 * Completes the transfer x after libcurl's result rc (a CURLcode): frees
 * its header list and fills x->resp's status, elapsed time and
 * Retry-After.  Returns 0 when a reply arrived, whatever its status, or
 * -1 with e filled: KL_ERR_STOPPED (a stop signal aborted it),
 * KL_ERR_TRANSIENT (connect, timeout, reset) or KL_ERR_PERMANENT.  e->msg
 * names the method and URL, then the libcurl code and its text.
 */
int
kl_http_finish(struct kl_http_xfer *x, int rc, struct kl_err *e)
{
	struct kl_http_resp *r = x->resp;
	long status = 0;
	time_t now;

	free_slist(x->slist);
	x->slist = NULL;
	r->elapsed_ms = kl_mono_ms() - x->start_ms;
	if (rc == CURLE_OK) {
		curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &status);
		r->status = status;
		now = r->date ? r->date : time(NULL);
		if (x->retry_after[0] != '\0')
			r->retry_after_ms = kl_http_retry_after(x->retry_after,
			    now);
		if (kl_verbose >= 2)
			kl_log(KL_DEBUG, 0, "< HTTP %ld, %zu bytes in %ld "
			    "ms%s%s", status, r->body.len, r->elapsed_ms,
			    r->reqid[0] ? ", request id " : "", r->reqid);
		return 0;
	}
	if (rc == CURLE_WRITE_ERROR && x->too_big)
		kl_err_set(e, KL_ERR_PERMANENT, 0, NULL,
		    "%s %s: reply larger than %zu bytes", x->method, x->url,
		    x->body_max);
	else if (rc == CURLE_WRITE_ERROR && r->body.err)
		kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "%s %s: %s",
		    x->method, x->url, strerror(ENOMEM));
	else if (rc == CURLE_ABORTED_BY_CALLBACK)
		kl_err_set(e, KL_ERR_STOPPED, 0, NULL, "%s %s: stopped",
		    x->method, x->url);
	else if (rc == CURLE_OPERATION_TIMEDOUT)
		kl_err_set(e, KL_ERR_TRANSIENT, 0, NULL,
		    "%s %s: (%d) timeout after %ld ms", x->method, x->url,
		    rc, kl_mono_ms() - x->start_ms);
	else
		kl_err_set(e, curl_class((CURLcode)rc), 0, NULL,
		    "%s %s: (%d) %s", x->method, x->url, rc,
		    x->errbuf[0] ? x->errbuf :
		    curl_easy_strerror((CURLcode)rc));
	e->sys = rc;
	if (kl_verbose >= 2)
		kl_log(KL_DEBUG, 0, "< %s", e->msg);
	return -1;
}

/*
 * Sends req through h's handle and waits for the reply, which lands in
 * resp (the caller's, reset here; free it with kl_http_resp_free).
 * Returns 0 when a reply arrived, whatever its status, or -1 with e
 * filled as kl_http_finish() says.
 */
int
kl_http_perform(struct kl_http *h, const struct kl_http_req *req,
    struct kl_http_resp *resp, struct kl_err *e)
{
	struct kl_http_xfer x;

	kl_err_clear(e);
	if (kl_stopping()) {
		kl_err_set(e, KL_ERR_STOPPED, 0, NULL, "%s %s: stopped",
		    req->method, req->url);
		return -1;
	}
	if (kl_http_prepare(&x, h->curl, h, req, resp, e) == -1)
		return -1;
	return kl_http_finish(&x, (int)curl_easy_perform(h->curl), e);
}

/*
 * The class of an HTTP status alone (house style 8): KL_ERR_NONE for
 * 2xx, KL_ERR_TRANSIENT for 408, 429 and 5xx, KL_ERR_PERMANENT otherwise.
 */
int
kl_http_class(long status)
{
	if (status >= 200 && status <= 299)
		return KL_ERR_NONE;
	if (status == 408 || status == 429 || (status >= 500 && status <= 599))
		return KL_ERR_TRANSIENT;
	return KL_ERR_PERMANENT;
}

/*
 * Parses a Retry-After value: delay-seconds or an HTTP date, the latter
 * relative to now (best the reply's own Date).  Returns milliseconds
 * (0 for a date in the past, at most one day), or -1 if v is neither.
 */
long
kl_http_retry_after(const char *v, time_t now)
{
	unsigned long long s;
	time_t t;

	while (*v == ' ' || *v == '\t')
		v++;
	if (isdigit((unsigned char)*v)) {
		if (kl_parse_uint(v, 0, ~0ULL, &s) == -1) {
			if (errno != ERANGE)
				return -1;
			s = 86400;
		}
		return s > 86400 ? 86400000L : (long)s * 1000;
	}
	if (kl_time_http(v, &t) == -1)
		return -1;
	if (t <= now)
		return 0;
	return t - now > 86400 ? 86400000L : (long)(t - now) * 1000;
}

/*
 * Capped exponential backoff with full jitter: a random delay in
 * [0, min(cap_ms, base_ms * 2^(attempt-1))] for retry number attempt
 * (1 for the first retry).
 */
long
kl_backoff_ms(int attempt, long base_ms, long cap_ms)
{
	long ceil = base_ms;
	int i;

	if (base_ms <= 0 || cap_ms <= 0)
		return 0;
	for (i = 1; i < attempt && ceil < cap_ms; i++)
		ceil *= 2;
	if (ceil > cap_ms)
		ceil = cap_ms;
	return (long)(kl_random() % ((uint64_t)ceil + 1));
}

/*
 * Sleeps ms milliseconds unless a stop signal arrives.  Returns 0 after
 * the whole sleep, or -1 with errno EINTR as soon as kl_stopping().
 */
int
kl_sleep_ms(long ms)
{
	struct timespec ts;
	long end = kl_mono_ms() + ms, left, slice;

	for (;;) {
		if (kl_stopping()) {
			errno = EINTR;
			return -1;
		}
		if ((left = end - kl_mono_ms()) <= 0)
			return 0;
		slice = left < 100 ? left : 100;
		ts.tv_sec = 0;
		ts.tv_nsec = slice * 1000000L;
		(void)nanosleep(&ts, NULL);
	}
}
