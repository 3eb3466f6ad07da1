/*
 * putcall.c - the PutRecords calls of the putter engine (putter.c): the
 * request of a batch built, signed and started on the multi handle, and
 * its reply read: each entry acknowledged, refused for good or put back
 * to be retried, and a call that failed as a whole retried or the engine
 * halted.  putter.h holds what the two files share.
 *
 * - A failed entry backs off with full jitter, one delay per reply for
 *   all of its failed entries (kl_backoff_ms, at least Retry-After), and
 *   counts one try; a whole call that fails transiently (5xx, throttling,
 *   a dropped connection) counts one try for each of its records.  When a
 *   record has failed more than --max-retries times the engine halts:
 *   nothing new is sent, the requests in flight finish, and the caller
 *   drops what is left (exit 75).  A request too large for the peer
 *   (413) lowers --batch-bytes for the rest of the run.  Other whole-call
 *   errors (ResourceNotFound, AccessDenied, a reply that does not match
 *   the request) halt too (exit 1); an entry refused for good
 *   (ValidationException and the like) is rejected alone.
 * - Expired credentials and clock skew get one more try without counting
 *   one, as kl_aws_call() does.
 * - A stop signal does not abort transfers (the progress callback of
 *   http.c is switched off): a request whose fate is unknown would have
 *   to be sent again, a duplicate in the stream.  After KL_PUT_LAST,
 *   failed records are not retried: they stay for kl_putter_drop().
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "kl.h"

#include "putter.h"

/*
 * Puts the n records of a failed attempt back to be sent again after a
 * backoff (count: the attempt counts as a try) of at least retry_after
 * ms, logging "what, retry N of M in T ms" at level; or leaves them for
 * kl_putter_drop() when the engine sends nothing more, or halts it when
 * a record is out of tries (the error names what, code and status).
 */
static void
again(struct kl_putter *p, struct prec **rec, size_t n, int count,
    long retry_after, const char *what, const struct kl_err *e, int level)
{
	long delay, now = kl_mono_ms();
	int most = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (count)
			rec[i]->tries++;
		if (rec[i]->tries > most)
			most = rec[i]->tries;
	}
	if (p->halted || p->last || n == 0)
		return;
	if (most > p->o.max_retries) {
		kl_err_set(&p->err, KL_ERR_TRANSIENT, e ? e->status : 0,
		    e ? e->code : NULL, "PutRecords: %s (gave up after %d %s)",
		    what, p->o.max_retries, p->o.max_retries == 1 ? "retry" :
		    "retries");
		p->halted = 1;
		return;
	}
	delay = count ? kl_backoff_ms(most, p->aws->base_ms,
	    p->aws->cap_ms) : 0;
	if (retry_after > delay)
		delay = retry_after;
	for (i = 0; i < n; i++) {
		rec[i]->not_before = now + delay;
		rec[i]->next = p->retry;
		p->retry = rec[i];
	}
	if (count)
		p->st.retried += (long)n;
	kl_log(level, 0, "%s, retry %d of %d in %ld ms", what, most,
	    p->o.max_retries, delay);
}

/*
 * Handles a 2xx reply: acks, refusals and entries to retry (result i is
 * record i).  Returns 0, or -1 with e filled when the reply is not a
 * PutRecords result for this request.
 */
static int
results(struct kl_putter *p, struct slot *s, struct kl_err *e)
{
	struct kl_jspan top, recs, res, f[4];
	struct kl_jiter ji;
	char code[128], msg[256], what[256];
	size_t i, nf = 0;
	const char *body = s->resp.body.data ? s->resp.body.data : "";

	if (kl_js_parse(body, s->resp.body.len, &top, NULL) == -1 ||
	    top.type != KL_JOBJ || !kl_js_get(&top, "Records", &recs) ||
	    kl_js_iter_init(&ji, &recs) == -1) {
		kl_err_set(e, KL_ERR_PERMANENT, s->resp.status, NULL,
		    "PutRecords: the reply is not a PutRecords result");
		return -1;
	}
	p->st.requests++;
	code[0] = '\0';
	for (i = 0; i < s->n && kl_js_iter_next(&ji, NULL, &res); i++) {
		struct prec *r = s->rec[i];

		kl_put_result(&res, f);
		if (f[0].type != 0) {
			kl_put_text(code, sizeof(code), &f[0]);
			kl_put_text(msg, sizeof(msg), &f[1]);
			if (kl_aws_classify(400, code, msg) ==
			    KL_ERR_TRANSIENT) {
				s->rec[nf++] = r;
				continue;
			}
			p->st.refused++;
			p->cb.reject(p->cb.arg, &r->r, code, msg);
		} else if (f[2].type != 0 && f[3].type != 0) {
			p->st.acked++;
			p->cb.ack(p->cb.arg, &r->r, &f[2], &f[3]);
		} else {
			p->st.refused++;
			p->cb.reject(p->cb.arg, &r->r, "InvalidReply",
			    "PutRecords: a result with neither an error nor "
			    "a sequence number");
		}
		kl_pt_settle(p, r);
	}
	if (i < s->n || kl_js_iter_next(&ji, NULL, &res)) {
		/* Which of the rest were written cannot be known. */
		kl_err_set(e, KL_ERR_PERMANENT, s->resp.status, NULL,
		    "PutRecords: the reply does not have %zu results", s->n);
		while (i < s->n)
			s->rec[nf++] = s->rec[i++];
		s->n = nf;
		kl_putter_halt(p, e);
		return 0;
	}
	if (nf > 0) {
		snprintf(what, sizeof(what), "%zu of %zu records failed (%s)",
		    nf, s->n, code);
		kl_err_set(e, KL_ERR_TRANSIENT, s->resp.status, code, "%s",
		    what);
		again(p, s->rec, nf, 1, s->resp.retry_after_ms, what, e,
		    KL_INFO);
	}
	return 0;
}

/*
 * A request the peer found too large (413, as kinesalite answers over
 * 7 MiB; "Records size exceeds 5 MB limit" from Kinesis): the limit is
 * lower than --batch-bytes, which is halved below this request's size
 * for the rest of the run, and its records go again without counting a
 * try; a record alone is refused.  Returns 1 if e was that, else 0.
 */
static int
too_big(struct kl_putter *p, struct slot *s, const struct kl_err *e)
{
	size_t i, bytes = 0;

	if (e->status != 413 && (strcmp(e->code, "InvalidArgumentException") ||
	    strstr(e->msg, "exceeds") == NULL))
		return 0;
	for (i = 0; i < s->n; i++)
		bytes += s->rec[i]->size;
	if (s->n == 1) {
		p->st.refused++;
		p->cb.reject(p->cb.arg, &s->rec[0]->r, e->code[0] ? e->code :
		    "RequestTooLarge", e->msg);
		kl_pt_settle(p, s->rec[0]);
		return 1;
	}
	p->o.batch_bytes = bytes / 2 > 0 ? bytes / 2 : 1;
	kl_log(KL_WARNING, 0, "HTTP %ld%s%s: a request of %zu records and %zu "
	    "bytes is too large; sending at most %zu bytes per request",
	    e->status, e->code[0] ? " " : "", e->code, s->n, bytes,
	    p->o.batch_bytes);
	again(p, s->rec, s->n, 0, 0, "PutRecords", e, KL_DEBUG);
	return 1;
}

/* Handles a whole call that failed with e. */
static void
call_failed(struct kl_putter *p, struct slot *s, struct kl_err *e)
{
	char what[300];
	const char *t;

	p->st.failed_calls++;
	if (e->kind == KL_ERR_CREDS && p->creds_again++ == 0) {
		kl_log(KL_WARNING, 0, "HTTP %ld %s, refreshing credentials",
		    e->status, e->code);
		kl_credsrc_expired(p->aws->creds);
		again(p, s->rec, s->n, 0, 0, "PutRecords", e, KL_DEBUG);
		return;
	}
	if (e->kind == KL_ERR_SKEW && p->skew_again++ == 0 &&
	    s->resp.date != 0) {
		p->aws->skew = (long)(s->resp.date - time(NULL));
		kl_log(KL_WARNING, 0, "HTTP %ld %s: local clock is %ld s off, "
		    "signing again", e->status, e->code, labs(p->aws->skew));
		again(p, s->rec, s->n, 0, 0, "PutRecords", e, KL_DEBUG);
		return;
	}
	if (e->kind == KL_ERR_TRANSIENT || e->kind == KL_ERR_STOPPED) {
		if (e->status != 0)
			snprintf(what, sizeof(what), "HTTP %ld%s%s", e->status,
			    e->code[0] ? " " : "", e->code);
		else
			snprintf(what, sizeof(what), "%.280s",
			    (t = strstr(e->msg, ": (")) ? t + 2 : e->msg);
		again(p, s->rec, s->n, 1, e->status ? s->resp.retry_after_ms :
		    0, what, e, KL_WARNING);
		return;
	}
	if (too_big(p, s, e))
		return;
	e->kind = KL_ERR_PERMANENT;
	kl_putter_halt(p, e);
}

/* A transfer ended with libcurl's result rc. */
void
kl_pt_finish(struct kl_putter *p, struct slot *s, int rc)
{
	struct kl_err e;

	curl_multi_remove_handle(p->multi, s->curl);
	s->busy = 0;
	p->busy--;
	kl_err_clear(&e);
	if (kl_http_finish(&s->x, rc, &e) == 0 &&
	    kl_aws_reply(p->aws, &s->q, &s->creds, &s->resp, &e) == 0) {
		if (results(p, s, &e) == 0) {
			p->creds_again = p->skew_again = 0;
			return;
		}
	}
	call_failed(p, s, &e);
}

/* Builds the request body of s from its records. */
static int
body(struct kl_putter *p, struct slot *s)
{
	struct kl_buf *b = &s->body;
	size_t i, need = 64 + 160;

	for (i = 0; i < s->n; i++)
		need += kl_base64_enclen(s->rec[i]->r.dlen) +
		    2 * s->rec[i]->r.klen + 40;
	kl_buf_reset(b);
	if (kl_buf_reserve(b, need) == -1)
		return -1;
	kl_buf_addc(b, '{');
	kl_stream_members(b, p->o.stream);
	kl_buf_adds(b, ",\"Records\":[");
	for (i = 0; i < s->n; i++)
		kl_put_entry(b, &s->rec[i]->r, i == 0);
	kl_buf_add(b, "]}", 2);
	return b->err ? -1 : 0;
}

/* Signs and starts the request of s; on failure halts the engine. */
void
kl_pt_send(struct kl_putter *p, struct slot *s)
{
	const struct kl_creds *c;
	struct kl_err e;
	time_t now;

	kl_err_clear(&e);
	if (body(p, s) == -1) {
		kl_err_set(&e, KL_ERR_PERMANENT, 0, NULL, "PutRecords: %s",
		    strerror(ENOMEM));
		goto fail;
	}
	s->q.body = s->body.data;
	s->q.len = s->body.len;
	s->hr.body = s->body.data;
	s->hr.len = s->body.len;
	now = time(NULL) + p->aws->skew;
	kl_creds_free(&s->creds);
	if (kl_credsrc_get(p->aws->creds, now, &c, &e) == -1)
		goto fail;
	if (kl_creds_copy(&s->creds, c) == -1) {
		kl_err_set(&e, KL_ERR_PERMANENT, 0, NULL, "%s",
		    strerror(ENOMEM));
		goto fail;
	}
	if (kl_aws_sign(p->aws, &s->q, c, now, &s->hdrs, &e) == -1 ||
	    kl_http_prepare(&s->x, s->curl, &p->aws->http, &s->hr, &s->resp,
	    &e) == -1)
		goto fail;
	/* Let a transfer finish after a stop signal: see the top. */
	curl_easy_setopt(s->curl, CURLOPT_NOPROGRESS, 1L);
	curl_easy_setopt(s->curl, CURLOPT_PRIVATE, (void *)s);
	if (curl_multi_add_handle(p->multi, s->curl) != CURLM_OK) {
		kl_http_finish(&s->x, CURLE_FAILED_INIT, &e);
		kl_err_set(&e, KL_ERR_PERMANENT, 0, NULL, "PutRecords: "
		    "cannot start a transfer");
		goto fail;
	}
	s->busy = 1;
	p->busy++;
	return;
fail:
	/* Credentials that cannot be had for now stay transient: exit 75. */
	if (e.kind != KL_ERR_TRANSIENT && e.kind != KL_ERR_STOPPED)
		e.kind = KL_ERR_PERMANENT;
	kl_putter_halt(p, &e);
}
