/*
 * lytics.c - the Lytics API client (lytics-api.md): data collection
 * (POST /collect/json/{stream}), segments, segment scans and the entity
 * lookup, over one kept-alive connection; and the first step of a
 * Lytics command, its endpoint and key (kl_lytics_config).
 *
 * The API key is sent as the raw Authorization header value (contract
 * 3), never in the URL: query strings end up in proxy and server logs.
 * The client keeps its only copy of the key in its header list, which is
 * wiped when freed; http.c leaves that header out of its -vv trace.
 *
 * Replies are classified as house style 8 says, by HTTP status alone
 * (Lytics has no throttling codes):
 *
 *   2xx                       done; the v1 envelope is read with jscan
 *   408, 429, 5xx, network    retry: capped exponential backoff with full
 *                             jitter, at least Retry-After, bounded by a
 *                             count and a time budget (KL_ERR_TRANSIENT)
 *   anything else             KL_ERR_PERMANENT, e->status set: the caller
 *                             tells 401/403 (fatal) from 400 (bad input)
 *
 * Design decisions:
 *
 * - A collect batch is kept as one body, "[e1,e2,...", with each event's
 *   offset.  Any run of consecutive events can then be posted in place:
 *   the byte before its first event is '[' or ',' and the byte after its
 *   last is ',' or the closing ']', so both are swapped for brackets for
 *   the request and put back after.  Bisecting a batch that Lytics
 *   refuses with 400 (or 413, 422) costs no copy: halves are posted until
 *   each offending event stands alone, and the rest is delivered in order.
 * - kl_lytics_api.finish lets a transfer complete after a stop signal
 *   (kl-to-lytics sends the batch in hand on SIGTERM); no retry waits once
 *   stopping.  Without it a stop aborts the transfer (KL_ERR_STOPPED).
 * - Scans page with the opaque _next token; a missing or empty one ends
 *   the scan (lytics-api.md 4.3).  Pages and entity replies are left in a
 *   struct kl_http_resp and described by jscan spans into it, so a caller
 *   such as kl-read-audience copies profile bytes without a jv round trip.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "kl.h"

/* Copies s[0..n) into out as one line, control characters made spaces. */
static void
one_line(char *out, size_t cap, const char *s, size_t n)
{
	size_t i, k = 0;

	for (i = 0; i < n && k + 1 < cap; i++) {
		if (s[i] == '\n' || s[i] == '\r')
			break;
		out[k++] = (unsigned char)s[i] < 0x20 ? ' ' : s[i];
	}
	out[k] = '\0';
}

/*
 * Sets up a for the endpoint and key in l (copied: the caller may free l
 * at once).  Call curl_global_init() first.  Returns 0, or -1 with e
 * filled (ENOMEM: KL_ERR_PERMANENT).  Free a with kl_lytics_close().
 */
int
kl_lytics_open(struct kl_lytics_api *a, const struct kl_lytics *l,
    struct kl_err *e)
{
	memset(a, 0, sizeof(*a));
	kl_hdrs_init(&a->hdrs);
	a->retries = KL_LYTICS_RETRIES;
	a->budget_ms = KL_LYTICS_BUDGET_MS;
	a->base_ms = KL_LYTICS_BASE_MS;
	a->cap_ms = KL_LYTICS_CAP_MS;
	kl_hdrs_add(&a->hdrs, "Authorization", l->key);
	kl_hdrs_add(&a->hdrs, "Accept", "application/json");
	kl_hdrs_add(&a->hdrs, "Content-Type", "application/json");
	if (a->hdrs.err || (a->url = strdup(l->url)) == NULL ||
	    kl_http_init(&a->http, NULL) == -1) {
		kl_lytics_close(a);
		kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "%s",
		    strerror(ENOMEM));
		return -1;
	}
	return 0;
}

/* Closes a's connection and wipes its key; safe on a zeroed a. */
void
kl_lytics_close(struct kl_lytics_api *a)
{
	kl_http_free(&a->http);
	kl_hdrs_free(&a->hdrs);
	free(a->url);
	memset(a, 0, sizeof(*a));
}

/* One transfer; with a->finish, a stop signal does not abort it. */
static int
perform(struct kl_lytics_api *a, const struct kl_http_req *req,
    struct kl_http_resp *resp, struct kl_err *e)
{
	struct kl_http_xfer x;

	if (!a->finish)
		return kl_http_perform(&a->http, req, resp, e);
	kl_err_clear(e);
	if (kl_http_prepare(&x, a->http.curl, &a->http, req, resp, e) == -1)
		return -1;
	curl_easy_setopt(a->http.curl, CURLOPT_NOPROGRESS, 1L);
	return kl_http_finish(&x, (int)curl_easy_perform(a->http.curl), e);
}

/* Fills e for a reply that is not 2xx, with the envelope's message. */
static void
reply_error(const struct kl_http_req *req, const struct kl_http_resp *resp,
    struct kl_err *e)
{
	struct kl_jspan top, m;
	struct kl_buf b;
	char msg[256];

	msg[0] = '\0';
	kl_buf_init(&b);
	if (kl_js_parse(resp->body.data != NULL ? resp->body.data : "",
	    resp->body.len, &top, NULL) == 0 && kl_js_get(&top, "message",
	    &m) && kl_js_str(&m, &b) == 0 && !b.err)
		one_line(msg, sizeof(msg), b.data, b.len);
	kl_buf_free(&b);
	kl_err_set(e, kl_http_class(resp->status), resp->status, NULL,
	    "%s %s: HTTP %ld%s%s", req->method, req->url, resp->status,
	    msg[0] ? " " : "", msg);
}

static void
warn_retry(const struct kl_err *e, int n, int max, long ms)
{
	const char *s = strstr(e->msg, ": ");

	kl_log(KL_WARNING, 0, "%s, retry %d of %d in %ld ms",
	    s != NULL ? s + 2 : e->msg, n, max, ms);
}

/*
 * Sends req, retrying transient failures as the file header says, and
 * leaves a 2xx reply in resp.  Returns 0, or -1 with e filled
 * (KL_ERR_TRANSIENT once retries ran out, KL_ERR_PERMANENT with e->status
 * for another reply, KL_ERR_STOPPED); resp then holds the last reply.
 */
static int
request(struct kl_lytics_api *a, const struct kl_http_req *req,
    struct kl_http_resp *resp, struct kl_err *e)
{
	long start = kl_mono_ms(), delay;
	size_t k;
	int n = 0;

	for (;;) {
		if (perform(a, req, resp, e) == 0) {
			if (resp->status >= 200 && resp->status <= 299)
				return 0;
			reply_error(req, resp, e);
		}
		if (e->kind != KL_ERR_TRANSIENT || n >= a->retries)
			break;
		delay = kl_backoff_ms(n + 1, a->base_ms, a->cap_ms);
		if (resp->status != 0 && resp->retry_after_ms > delay)
			delay = resp->retry_after_ms;
		if (kl_mono_ms() - start + delay > a->budget_ms)
			break;
		n++;
		warn_retry(e, n, a->retries, delay);
		if (kl_sleep_ms(delay) == -1) {
			kl_err_set(e, KL_ERR_STOPPED, 0, NULL, "%s %s: stopped",
			    req->method, req->url);
			return -1;
		}
	}
	if (e->kind == KL_ERR_TRANSIENT && n > 0) {
		k = strlen(e->msg);
		snprintf(e->msg + k, sizeof(e->msg) - k, " (gave up after %d "
		    "%s in %ld ms)", n, n == 1 ? "retry" : "retries",
		    kl_mono_ms() - start);
	}
	return -1;
}

/* Appends a->url, then each path segment "/SEG" percent-encoded. */
static void
url_path(struct kl_buf *u, const struct kl_lytics_api *a, const char *fixed,
    const char *const *segs)
{
	kl_buf_adds(u, a->url);
	kl_buf_adds(u, fixed);
	for (; segs != NULL && *segs != NULL; segs++) {
		kl_buf_addc(u, '/');
		kl_uri_encode(u, *segs, strlen(*segs), 0);
	}
}

/* Appends "?name=value" or "&name=value", value percent-encoded. */
static void
url_query(struct kl_buf *u, const char *name, const char *value)
{
	kl_buf_addc(u, strchr(u->data != NULL ? u->data : "", '?') ? '&' :
	    '?');
	kl_buf_adds(u, name);
	kl_buf_addc(u, '=');
	kl_uri_encode(u, value, strlen(value), 0);
}

static int
nomem(struct kl_err *e)
{
	kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "%s", strerror(ENOMEM));
	errno = ENOMEM;
	return -1;
}

/* Parses a 2xx reply's v1 envelope into *top; -1 with e if it is none. */
static int
envelope(const struct kl_http_req *req, const struct kl_http_resp *resp,
    struct kl_jspan *top, struct kl_err *e)
{
	struct kl_jerr je;

	if (kl_js_parse(resp->body.data != NULL ? resp->body.data : "",
	    resp->body.len, top, &je) == -1 || top->type != KL_JOBJ) {
		kl_err_set(e, KL_ERR_PERMANENT, resp->status, NULL,
		    "%s %s: HTTP %ld with a reply that is not a JSON object%s"
		    "%s", req->method, req->url, resp->status,
		    je.code ? ": " : "", je.code ? je.msg : "");
		return -1;
	}
	return 0;
}

/*
 * Resolves the endpoint and key of the options o into cfg (kl_lytics_load)
 * and logs where they came from at debug level; the first step of a
 * Lytics command, before kl_lytics_open.  The caller frees cfg with
 * kl_lytics_free after a success; after a failure it is freed already.
 * Returns 0, or -1 with e filled (kl_err_status gives the exit status).
 */
int
kl_lytics_config(struct kl_lytics *cfg, const struct kl_lyticsopts *o,
    struct kl_err *e)
{
	if (kl_lytics_load(cfg, o, e) == -1) {
		kl_lytics_free(cfg);
		return -1;
	}
	kl_log(KL_DEBUG, 0, "lytics endpoint %s (from %s), key from %s",
	    cfg->url, cfg->url_from, cfg->key_from);
	return 0;
}

/*
 * Returns 1 if s can name a Lytics data stream: 1 to 256 bytes, none of
 * them white space, a control character or '/'; else 0.
 */
int
kl_lytics_stream_ok(const char *s)
{
	const char *p;

	for (p = s; *p != '\0' && (unsigned char)*p > ' ' && *p != 0x7f &&
	    *p != '/'; p++)
		;
	return *s != '\0' && *p == '\0' && p - s <= 256;
}

/*
 * Posts body[0..len) (a JSON object or array) to /collect/json/{stream}
 * with o's query parameters and fills ack from the reply's
 * data.message_count and data.rejected_count (-1 when absent).
 * ack->events is left to the caller.  Returns 0, or -1 with e filled as
 * the file header says.
 */
int
kl_lytics_collect(struct kl_lytics_api *a, const struct kl_lytics_collect *o,
    const char *body, size_t len, struct kl_lytics_ack *ack, struct kl_err *e)
{
	const char *segs[] = { o->stream, NULL };
	struct kl_http_req req;
	struct kl_http_resp resp;
	struct kl_jspan top, v;
	struct kl_err ee;
	struct kl_buf u;
	int64_t n;
	int r = -1;

	kl_err_clear(e);
	kl_http_resp_init(&resp);
	kl_buf_init(&u);
	url_path(&u, a, "/collect/json", segs);
	if (o->dryrun)
		url_query(&u, "dryrun", "true");
	if (o->timestamp_field != NULL)
		url_query(&u, "timestamp_field", o->timestamp_field);
	if (u.err) {
		nomem(e);
		goto done;
	}
	req.method = "POST";
	req.url = u.data;
	req.hdrs = &a->hdrs;
	req.body = body;
	req.len = len;
	if (request(a, &req, &resp, e) == -1)
		goto done;
	ack->message_count = ack->rejected_count = -1;
	if (envelope(&req, &resp, &top, &ee) == 0) {
		if (kl_js_path(&top, "data.message_count", &v) == 1 &&
		    kl_js_i64(&v, &n) == 0)
			ack->message_count = (long)n;
		if (kl_js_path(&top, "data.rejected_count", &v) == 1 &&
		    kl_js_i64(&v, &n) == 0)
			ack->rejected_count = (long)n;
	}
	r = 0;
done:
	kl_http_resp_free(&resp);
	kl_buf_free(&u);
	return r;
}

/* Batches. */

/* Prepares an empty batch; kl_lytics_batch_free releases it. */
void
kl_lytics_batch_init(struct kl_lytics_batch *b)
{
	memset(b, 0, sizeof(*b));
	kl_buf_init(&b->body);
}

/* Empties b for the next batch, keeping its memory. */
void
kl_lytics_batch_reset(struct kl_lytics_batch *b)
{
	kl_buf_reset(&b->body);
	b->n = 0;
}

/* Frees what b holds and leaves it empty. */
void
kl_lytics_batch_free(struct kl_lytics_batch *b)
{
	kl_buf_free(&b->body);
	free(b->ev);
	kl_lytics_batch_init(b);
}

/* The request body's size, brackets included, with n more bytes. */
size_t
kl_lytics_batch_size_with(const struct kl_lytics_batch *b, size_t n)
{
	return (b->n == 0 ? 1 : b->body.len + 1) + n + 1;
}

/*
 * Appends the event p[0..n) (compact JSON: an object) with the caller's
 * tag.  Returns 0, or -1 with errno ENOMEM (b unchanged).
 */
int
kl_lytics_batch_add(struct kl_lytics_batch *b, const char *p, size_t n,
    long tag)
{
	struct kl_lytics_ev *ev;
	size_t cap, len = b->body.len;

	if (b->n == b->cap) {
		cap = b->cap ? b->cap * 2 : 64;
		if ((ev = reallocarray(b->ev, cap, sizeof(*ev))) == NULL)
			return -1;
		b->ev = ev;
		b->cap = cap;
	}
	kl_buf_addc(&b->body, b->n == 0 ? '[' : ',');
	kl_buf_add(&b->body, p, n);
	if (b->body.err) {
		b->body.err = 0;
		b->body.len = len;
		errno = ENOMEM;
		return -1;
	}
	ev = &b->ev[b->n++];
	ev->off = b->body.len - n;
	ev->len = n;
	ev->tag = tag;
	ev->state = KL_LYTICS_EV_PENDING;
	return 0;
}

/* Whether a refusal of a batch is about its content: bisect it. */
static int
bisectable(const struct kl_err *e)
{
	return e->kind == KL_ERR_PERMANENT && (e->status == 400 ||
	    e->status == 413 || e->status == 422);
}

struct send {
	struct kl_lytics_api		*a;
	const struct kl_lytics_collect	*o;
	struct kl_lytics_batch		*b;
	const struct kl_lytics_cb	*cb;
};

/* Posts events [i, j) in place; bisects a refusal (see the header). */
static int
post_range(struct send *s, size_t i, size_t j, struct kl_err *e)
{
	struct kl_lytics_batch *b = s->b;
	struct kl_lytics_ack ack;
	size_t from = b->ev[i].off - 1, to = b->ev[j - 1].off +
	    b->ev[j - 1].len, k, mid;
	char c0 = b->body.data[from], c1 = b->body.data[to];
	int r;

	b->body.data[from] = '[';
	b->body.data[to] = ']';
	r = kl_lytics_collect(s->a, s->o, b->body.data + from, to + 1 - from,
	    &ack, e);
	b->body.data[from] = c0;
	b->body.data[to] = c1;
	if (r == 0) {
		for (k = i; k < j; k++)
			b->ev[k].state = KL_LYTICS_EV_SENT;
		ack.events = (long)(j - i);
		return s->cb->ack != NULL ? s->cb->ack(s->cb->arg, &ack, e) : 0;
	}
	if (!bisectable(e))
		return -1;
	if (j - i == 1) {
		b->ev[i].state = KL_LYTICS_EV_REJECTED;
		return s->cb->reject != NULL ? s->cb->reject(s->cb->arg,
		    &b->ev[i], e) : 0;
	}
	if (i == 0 && j == b->n)
		kl_log(KL_INFO, 0, "HTTP %ld on a batch of %zu events: "
		    "bisecting to find the events refused", e->status, j - i);
	mid = i + (j - i) / 2;
	if (post_range(s, i, mid, e) == -1)
		return -1;
	return post_range(s, mid, j, e);
}

/*
 * Delivers every event of b to o->stream: one request, or, if Lytics
 * refuses the batch as bad input (400, 413, 422), halves of it in order
 * until each refused event stands alone.  cb->ack is called for each
 * acknowledged request, cb->reject for each refused event (its e says
 * why); either may return -1 (with e filled) to stop.  Each event's state
 * ends KL_LYTICS_EV_SENT or _REJECTED.  Returns 0, or -1 with e filled:
 * KL_ERR_TRANSIENT (retries ran out), KL_ERR_PERMANENT (e.g. 401, 403,
 * 404), KL_ERR_STOPPED, or a callback's error; events still
 * KL_LYTICS_EV_PENDING were then not delivered.
 */
int
kl_lytics_send(struct kl_lytics_api *a, const struct kl_lytics_collect *o,
    struct kl_lytics_batch *b, const struct kl_lytics_cb *cb,
    struct kl_err *e)
{
	struct send s;
	int r;

	kl_err_clear(e);
	if (b->n == 0)
		return 0;
	kl_buf_addc(&b->body, ']');
	if (b->body.err)
		return nomem(e);
	s.a = a;
	s.o = o;
	s.b = b;
	s.cb = cb;
	r = post_range(&s, 0, b->n, e);
	b->body.data[--b->body.len] = '\0';
	return r;
}

/* Segments, scans, entities. */

/* GETs u and parses the envelope; 0 or -1 with e filled. */
static int
get(struct kl_lytics_api *a, const char *u, struct kl_http_resp *resp,
    struct kl_jspan *top, struct kl_err *e)
{
	struct kl_http_req req;

	kl_err_clear(e);
	req.method = "GET";
	req.url = u;
	req.hdrs = &a->hdrs;
	req.body = NULL;
	req.len = 0;
	if (request(a, &req, resp, e) == -1)
		return -1;
	return envelope(&req, resp, top, e);
}

/* GETs u and returns its envelope's "data" member in *data. */
static int
get_data(struct kl_lytics_api *a, struct kl_buf *u, int want,
    struct kl_http_resp *resp, struct kl_jspan *top, struct kl_jspan *data,
    struct kl_err *e)
{
	if (u->err)
		return nomem(e);
	if (get(a, u->data, resp, top, e) == -1)
		return -1;
	if (!kl_js_get(top, "data", data) || data->type != want) {
		kl_err_set(e, KL_ERR_PERMANENT, resp->status, NULL,
		    "GET %s: HTTP %ld with no %s in \"data\"", u->data,
		    resp->status, want == KL_JARR ? "array" : "object");
		return -1;
	}
	return 0;
}

/*
 * GET /api/segment[?table=T]: the segments of table (NULL: Lytics'
 * default, user).  Fills *data with the array of segment objects; it
 * points into resp (the caller's, from kl_http_resp_init) and lives as
 * long as resp is not reused.  Returns 0, or -1 with e filled.
 */
int
kl_lytics_segments(struct kl_lytics_api *a, const char *table,
    struct kl_http_resp *resp, struct kl_jspan *data, struct kl_err *e)
{
	struct kl_jspan top;
	struct kl_buf u;
	int r;

	kl_buf_init(&u);
	url_path(&u, a, "/api/segment", NULL);
	if (table != NULL)
		url_query(&u, "table", table);
	r = get_data(a, &u, KL_JARR, resp, &top, data, e);
	kl_buf_free(&u);
	return r;
}

/*
 * GET /api/segment/{id}: one segment by id or slug, its object in *data
 * (as for kl_lytics_segments).  An unknown segment is -1 with
 * KL_ERR_PERMANENT and e->status 404.
 */
int
kl_lytics_segment(struct kl_lytics_api *a, const char *id,
    struct kl_http_resp *resp, struct kl_jspan *data, struct kl_err *e)
{
	const char *segs[] = { id, NULL };
	struct kl_jspan top;
	struct kl_buf u;
	int r;

	kl_buf_init(&u);
	url_path(&u, a, "/api/segment", segs);
	r = get_data(a, &u, KL_JOBJ, resp, &top, data, e);
	kl_buf_free(&u);
	return r;
}

/*
 * GET /api/entity/{table}/{field}/{value}: a profile by one of its
 * identifying fields; fields, if not NULL, is Lytics' comma-separated
 * list of fields to return.  Returns 1 with the profile object in *data
 * (as for kl_lytics_segments), 0 when Lytics answers "Not Found" (HTTP
 * 200, lytics-api.md 4.4), or -1 with e filled.
 */
int
kl_lytics_entity(struct kl_lytics_api *a, const char *table,
    const char *field, const char *value, const char *fields,
    struct kl_http_resp *resp, struct kl_jspan *data, struct kl_err *e)
{
	const char *segs[] = { table, field, value, NULL };
	struct kl_jspan top, m;
	struct kl_buf u;
	int r;

	kl_buf_init(&u);
	url_path(&u, a, "/api/entity", segs);
	if (fields != NULL)
		url_query(&u, "fields", fields);
	r = get_data(a, &u, KL_JOBJ, resp, &top, data, e);
	kl_buf_free(&u);
	if (r == 0 && kl_js_get(&top, "message", &m) &&
	    (kl_js_streq(&m, "Not Found") || kl_js_streq(&m, "not found")))
		return 0;
	return r == 0 ? 1 : -1;
}

/*
 * Starts a scan of segment id (id or slug): limit profiles a page (0:
 * Lytics' default of 10; at most 100), fields as for kl_lytics_entity,
 * start a _next token to resume from (NULL: the beginning).  The strings
 * are copied.  Returns 0, or -1 with e filled (ENOMEM).
 */
int
kl_lytics_scan_open(struct kl_lytics_scan *sc, struct kl_lytics_api *a,
    const char *id, int limit, const char *fields, const char *start,
    struct kl_err *e)
{
	memset(sc, 0, sizeof(*sc));
	kl_http_resp_init(&sc->resp);
	sc->a = a;
	sc->limit = limit;
	sc->total = -1;
	if ((sc->id = strdup(id)) == NULL ||
	    (fields != NULL && (sc->fields = strdup(fields)) == NULL) ||
	    (start != NULL && (sc->next = strdup(start)) == NULL)) {
		kl_lytics_scan_close(sc);
		return nomem(e);
	}
	return 0;
}

/*
 * Fetches the next page: *data is its array of profiles, pointing into
 * sc->resp until the next call.  sc->total is the reply's total (-1 if
 * absent) and sc->next the token of the page after (NULL at the end).
 * Returns the number of profiles on the page, 0 once the scan is over
 * (no request is made then), or -1 with e filled: an unknown segment is
 * KL_ERR_PERMANENT with status 404, an expired start 400 (scan again
 * from the beginning).
 */
long
kl_lytics_scan_page(struct kl_lytics_scan *sc, struct kl_jspan *data,
    struct kl_err *e)
{
	const char *segs[] = { sc->id, "scan", NULL };
	struct kl_jspan top, v;
	struct kl_jiter it;
	struct kl_buf u, nx;
	int64_t n;
	long count = 0;
	char num[24];

	if (sc->done)
		return 0;
	kl_buf_init(&u);
	kl_buf_init(&nx);
	url_path(&u, sc->a, "/api/segment", segs);
	if (sc->limit > 0) {
		snprintf(num, sizeof(num), "%d", sc->limit);
		url_query(&u, "limit", num);
	}
	if (sc->fields != NULL)
		url_query(&u, "fields", sc->fields);
	if (sc->next != NULL)
		url_query(&u, "start", sc->next);
	if (get_data(sc->a, &u, KL_JARR, &sc->resp, &top, data, e) == -1) {
		kl_buf_free(&u);
		return -1;
	}
	kl_buf_free(&u);
	if (kl_js_get(&top, "total", &v) && kl_js_i64(&v, &n) == 0)
		sc->total = (long)n;
	free(sc->next);
	sc->next = NULL;
	if (kl_js_get(&top, "_next", &v) && v.type == KL_JSTR && v.n > 2) {
		if (kl_js_str(&v, &nx) == -1 || (sc->next =
		    kl_buf_steal(&nx)) == NULL) {
			kl_buf_free(&nx);
			return nomem(e);
		}
	} else
		sc->done = 1;
	kl_js_iter_init(&it, data);
	while (kl_js_iter_next(&it, NULL, &v))
		count++;
	sc->pages++;
	sc->profiles += count;
	if (count == 0 && !sc->done) {
		/* An empty page that is not the last: never loop forever. */
		kl_err_set(e, KL_ERR_PERMANENT, sc->resp.status, NULL,
		    "GET scan of segment '%s': empty page with a _next token",
		    sc->id);
		return -1;
	}
	return count;
}

/* Frees what sc holds, the last page included. */
void
kl_lytics_scan_close(struct kl_lytics_scan *sc)
{
	kl_http_resp_free(&sc->resp);
	free(sc->id);
	free(sc->fields);
	free(sc->next);
	memset(sc, 0, sizeof(*sc));
}
