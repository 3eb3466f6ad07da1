/*
 * readcall.c - the requests of the stream reader (reader.c): building,
 * signing and starting ListShards, GetShardIterator and GetRecords calls
 * on the libcurl multi handle, judging their replies, scheduling retries
 * with backoff, admitting calls within the in-flight and memory budgets,
 * and the periodic progress report and statistics file.
 *
 * A call is one easy handle and its buffers; calls are pooled and reused
 * (the multi handle's connection cache keeps the connections, whichever
 * easy handle made them).  Every request is signed afresh (credentials
 * are fetched, and refreshed if due, through the credential source at
 * each start) and judged by aws.c's classes: throttling and server
 * errors come back here as KL_ERR_TRANSIENT and are retried per shard;
 * an expired iterator sends the shard back for a new one; anything the
 * reader can act on (an aged-out checkpoint, a deleted closed shard) is
 * decided in reader.c.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "kl.h"
#include "reader.h"

static const char *const state_names[] = {
	"waiting", "starting", "reading", "reading", "done", "caught up",
	"until", "skipped",
};

/* Builds the request body of op for shard sh into b. */
static void
body_of(struct kl_reader *r, int op, struct shard *sh, struct kl_buf *b)
{
	const struct kl_stream *s = r->o.stream;
	const struct spec *sp = sh != NULL ? &sh->spec : NULL;

	kl_buf_reset(b);
	kl_buf_addc(b, '{');
	switch (op) {
	case OP_LIST:
		if (r->list_token.len > 0) {
			kl_js_put_key(b, "NextToken");
			kl_buf_add_jstr(b, r->list_token.data,
			    r->list_token.len);
		} else
			kl_stream_members(b, s);
		if (r->o.list_page > 0)
			kl_buf_addf(b, ",\"MaxResults\":%ld", r->o.list_page);
		break;
	case OP_ITER:
		kl_stream_members(b, s);
		kl_js_put_key(b, "ShardId");
		kl_buf_add_jstr(b, sh->id, strlen(sh->id));
		kl_js_put_key(b, "ShardIteratorType");
		kl_buf_add_jstr(b, kl_rd_from_names[sp->type],
		    strlen(kl_rd_from_names[sp->type]));
		if (sp->type == KL_FROM_AT_SEQUENCE ||
		    sp->type == KL_FROM_AFTER_SEQUENCE) {
			kl_js_put_key(b, "StartingSequenceNumber");
			kl_buf_add_jstr(b, sp->seq, strlen(sp->seq));
		} else if (sp->type == KL_FROM_AT_TIMESTAMP)
			kl_buf_addf(b, ",\"Timestamp\":%lld.%03lld",
			    sp->ms / 1000, sp->ms % 1000);
		break;
	case OP_GET:
		kl_js_put_key(b, "ShardIterator");
		kl_buf_add_jstr(b, sh->iter.data, sh->iter.len);
		kl_buf_addf(b, ",\"Limit\":%d", PAGE_LIMIT);
		if (s->arn[0] != '\0') {
			kl_js_put_key(b, "StreamARN");
			kl_buf_add_jstr(b, s->arn, strlen(s->arn));
		}
		break;
	}
	kl_buf_addc(b, '}');
}

static struct call *
call_get(struct kl_reader *r)
{
	struct call *c;

	if ((c = r->free_calls) != NULL) {
		r->free_calls = c->next;
		return c;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	if ((c->easy = curl_easy_init()) == NULL) {
		free(c);
		return NULL;
	}
	c->r = r;
	kl_buf_init(&c->body);
	kl_http_resp_init(&c->resp);
	c->all = r->all_calls;
	r->all_calls = c;
	return c;
}

void
kl_rd_call_put(struct kl_reader *r, struct call *c)
{
	kl_hdrs_free(&c->ophdrs);
	kl_creds_free(&c->creds);
	/* Keep a few large reply buffers: refaulting them costs CPU. */
	if (c->resp.body.cap > KEEP_MAX && !c->big) {
		if (r->big_kept < BIG_KEPT) {
			c->big = 1;
			r->big_kept++;
		} else
			kl_buf_free(&c->resp.body);
	}
	if (c->body.cap > KEEP_MAX)
		kl_buf_free(&c->body);
	c->sh = NULL;
	c->busy = 0;
	c->next = r->free_calls;
	r->free_calls = c;
}

void
kl_rd_call_free(struct call *c)
{
	kl_hdrs_free(&c->ophdrs);
	kl_creds_free(&c->creds);
	kl_buf_free(&c->body);
	kl_http_resp_free(&c->resp);
	if (c->easy != NULL)
		curl_easy_cleanup(c->easy);
	free(c);
}

/* Signs and starts op for sh (NULL for the listing).  -1: e filled. */
static int
start(struct kl_reader *r, int op, struct shard *sh, struct kl_err *e)
{
	struct kl_aws *a = r->aws;
	const struct kl_creds *cr;
	struct kl_hdrs h;
	struct call *c;
	time_t now;

	kl_err_clear(e);
	if ((c = call_get(r)) == NULL) {
		kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "%s",
		    strerror(ENOMEM));
		return -1;
	}
	c->op = op;
	c->sh = sh;
	body_of(r, op, sh, &c->body);
	kl_hdrs_init(&c->ophdrs);
	kl_hdrs_init(&h);
	if (c->body.err || kl_kinesis_req(&c->q, &c->ophdrs, kl_rd_op_names[op],
	    c->body.data, c->body.len) == -1) {
		kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "%s",
		    strerror(ENOMEM));
		goto bad;
	}
	now = time(NULL) + a->skew;
	if (kl_credsrc_get(a->creds, now, &cr, e) == -1)
		goto bad;
	if (kl_creds_copy(&c->creds, cr) == -1) {
		kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "%s",
		    strerror(ENOMEM));
		goto bad;
	}
	if (kl_aws_sign(a, &c->q, cr, now, &h, e) == -1)
		goto bad;
	c->hr.method = "POST";
	c->hr.url = r->url;
	c->hr.hdrs = &h;
	c->hr.body = c->body.data;
	c->hr.len = c->body.len;
	if (kl_http_prepare(&c->x, c->easy, &a->http, &c->hr, &c->resp,
	    e) == -1)
		goto bad;
	kl_hdrs_free(&h);
	curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
	if (curl_multi_add_handle(r->multi, c->easy) != CURLM_OK) {
		kl_http_finish(&c->x, CURLE_FAILED_INIT, e);
		kl_err_set(e, KL_ERR_PERMANENT, 0, NULL,
		    "cannot start a transfer");
		kl_rd_call_put(r, c);
		return -1;
	}
	r->inflight++;
	c->busy = 1;
	if (op == OP_GET) {
		c->est = sh->body_est ? sh->body_est : BODY_GUESS;
		r->body_inflight += c->est;
		r->gets_inflight++;
		sh->call_ms = kl_mono_ms();
	}
	if (sh != NULL)
		sh->state = S_BUSY;
	else
		r->list_busy = 1;
	return 0;
bad:
	kl_hdrs_free(&h);
	kl_rd_call_put(r, c);
	return -1;
}

static int
is_throttle(const char *code)
{
	return strstr(code, "Throttl") != NULL ||
	    strstr(code, "LimitExceeded") != NULL ||
	    strcmp(code, "ProvisionedThroughputExceededException") == 0;
}

/* The state a shard goes back to for its call op to be made again. */
static int
retry_state(int op)
{
	return op == OP_GET ? S_READY : S_NEEDITER;
}

/* Schedules call c again after a failure e, or ends the run. */
static void
failed(struct kl_reader *r, struct call *c, struct kl_err *e)
{
	struct shard *sh = c->sh;
	int *fails = sh ? &sh->fails : &r->list_fails;
	int *creds = sh ? &sh->creds_again : &r->list_creds;
	int *skew = sh ? &sh->skew_again : &r->list_skew;
	const char *who = sh ? sh->id : "ListShards";
	long delay = 0, now = kl_mono_ms();

	switch (e->kind) {
	case KL_ERR_STOPPED:
		break;
	case KL_ERR_CREDS:
		if ((*creds)++)
			goto fatal;
		kl_log(KL_WARNING, 0, "HTTP %ld %s, refreshing credentials",
		    e->status, e->code);
		kl_credsrc_expired(r->aws->creds);
		break;
	case KL_ERR_SKEW:
		if ((*skew)++ || c->resp.date == 0)
			goto fatal;
		r->aws->skew = (long)(c->resp.date - time(NULL));
		kl_log(KL_WARNING, 0, "HTTP %ld %s: local clock is %ld s %s "
		    "the server's, signing again", e->status, e->code,
		    labs(r->aws->skew), r->aws->skew > 0 ? "behind" :
		    "ahead of");
		break;
	case KL_ERR_ITERATOR:
		if (sh == NULL || ++*fails > RETRIES)
			goto fatal;
		sh->expired++;
		kl_rd_resume_spec(sh);
		kl_log(KL_INFO, 0, "%s: iterator expired, new one at %s%s%s",
		    sh->id, kl_rd_from_names[sh->spec.type],
		    sh->spec.seq[0] ? " " : "", sh->spec.seq);
		sh->state = S_NEEDITER;
		sh->next_ms = now;
		return;
	case KL_ERR_TRANSIENT:
		if (++*fails > RETRIES)
			goto fatal;
		delay = kl_backoff_ms(*fails, BASE_MS, CAP_MS);
		if (c->resp.retry_after_ms > delay && e->status != 0)
			delay = c->resp.retry_after_ms;
		if (sh != NULL) {
			sh->retries++;
			if (is_throttle(e->code))
				sh->throttles++;
		}
		if (e->status != 0)
			kl_log(KL_WARNING, 0, "%s: %s: HTTP %ld%s%s, retry %d "
			    "of %d in %ld ms", who, kl_rd_op_names[c->op], e->status,
			    e->code[0] ? " " : "", e->code, *fails, RETRIES,
			    delay);
		else
			kl_log(KL_WARNING, 0, "%s: %s, retry %d of %d in %ld "
			    "ms", who, strstr(e->msg, ": (") ?
			    strstr(e->msg, ": (") + 2 : e->msg, *fails,
			    RETRIES, delay);
		break;
	default:
		goto fatal;
	}
	if (sh != NULL) {
		sh->state = retry_state(c->op);
		sh->next_ms = now + delay;
	} else
		r->list_next_ms = now + delay;
	return;
fatal:
	if (e->kind == KL_ERR_TRANSIENT || e->kind == KL_ERR_ITERATOR) {
		size_t k = strlen(e->msg);

		e->kind = KL_ERR_TRANSIENT;
		snprintf(e->msg + k, sizeof(e->msg) - k, " (gave up after %d "
		    "retries)", RETRIES);
	}
	kl_rd_fail(r, e);
}

void
kl_rd_complete(struct kl_reader *r, struct call *c, CURLcode rc)
{
	struct kl_err e;
	struct shard *sh = c->sh;

	curl_multi_remove_handle(r->multi, c->easy);
	r->inflight--;
	if (c->op == OP_GET) {
		r->body_inflight -= c->est;
		r->gets_inflight--;
	} else if (c->op == OP_LIST)
		r->list_busy = 0;
	if (kl_http_finish(&c->x, (int)rc, &e) == 0 &&
	    kl_aws_reply(r->aws, &c->q, &c->creds, &c->resp, &e) == 0) {
		if (c->op == OP_LIST)
			kl_rd_got_list(r, c);
		else if (c->op == OP_ITER)
			kl_rd_got_iter(r, c);
		else
			kl_rd_got_page(r, c);
	} else if (e.kind == KL_ERR_STOPPED) {
		if (sh != NULL)
			sh->state = retry_state(c->op);
	} else if (sh != NULL && c->op == OP_ITER && kl_rd_aged_out(sh, &e)) {
		;
	} else if (strcmp(e.code, "ResourceNotFoundException") == 0 &&
	    sh != NULL && sh->closed) {
		kl_log(KL_WARNING, 0, "%s: %s", sh->id, e.msg);
		kl_rd_shard_end(r, sh, NULL);
	} else
		failed(r, c, &e);
	kl_rd_call_put(r, c);
}

/* Starts what is due; returns the next time something falls due. */
long
kl_rd_schedule(struct kl_reader *r, long now)
{
	struct kl_err e;
	struct shard *sh;
	long due = now + TICK_MS;
	size_t i, k;
	size_t est;

	if (!r->list_busy && r->list_next_ms >= 0) {
		if (r->list_next_ms <= now) {
			if (start(r, OP_LIST, NULL, &e) == -1)
				failed(r, &(struct call){ .op = OP_LIST }, &e);
		} else if (r->list_next_ms < due)
			due = r->list_next_ms;
	}
	for (k = 0; k < r->n && !r->failed; k++) {
		i = (r->rr + k) % r->n;
		sh = r->sh[i];
		if (sh->state != S_NEEDITER && sh->state != S_READY)
			continue;
		if (sh->next_ms > now) {
			if (sh->next_ms < due)
				due = sh->next_ms;
			continue;
		}
		if (r->inflight >= MAX_INFLIGHT)
			break;
		est = sh->body_est ? sh->body_est : BODY_GUESS;
		if (sh->state == S_READY && r->gets_inflight > 0 &&
		    r->body_inflight + est > BODY_BUDGET)
			continue;
		if (start(r, sh->state == S_READY ? OP_GET : OP_ITER, sh,
		    &e) == -1) {
			struct call fake = { .op = sh->state == S_READY ?
			    OP_GET : OP_ITER, .sh = sh };

			kl_http_resp_init(&fake.resp);
			failed(r, &fake, &e);
		}
	}
	if (r->n > 0)
		r->rr = (r->rr + 1) % r->n;
	return due;
}

void
kl_rd_progress(struct kl_reader *r, long dt)
{
	struct shard *sh;
	size_t i;

	for (i = 0; i < r->n; i++) {
		sh = r->sh[i];
		if ((kl_rd_is_end(sh->state) || sh->state == S_WAIT) &&
		    sh->records == sh->tick_records)
			continue;
		kl_log(KL_INFO, 0, "%s: %llu records, %.1f/s, %lld ms behind, "
		    "%s", sh->id, sh->records, dt > 0 ?
		    (double)(sh->records - sh->tick_records) * 1000.0 / dt : 0,
		    sh->mbl, state_names[sh->state]);
		sh->tick_records = sh->records;
	}
}

static void
metric(struct kl_buf *b, const char *name, const char *type,
    const char *help)
{
	kl_buf_addf(b, "# HELP kl_read_shard_%s %s\n# TYPE kl_read_shard_%s "
	    "%s\n", name, help, name, type);
}

/* Rewrites the Prometheus text file of --stats-file, atomically. */
void
kl_rd_write_stats(struct kl_reader *r)
{
	static const struct {
		const char	*name, *type, *help;
		size_t		 off;
	} m[] = {
		{ "records_total", "counter", "Records written.",
		    offsetof(struct shard, records) },
		{ "get_records_total", "counter", "GetRecords calls that "
		    "succeeded.", offsetof(struct shard, calls) },
		{ "retries_total", "counter", "Calls retried after a "
		    "transient failure.", offsetof(struct shard, retries) },
		{ "throttles_total", "counter", "Calls the service throttled.",
		    offsetof(struct shard, throttles) },
		{ "expired_iterators_total", "counter", "Shard iterators "
		    "that expired.", offsetof(struct shard, expired) },
	};
	struct kl_buf b;
	size_t i, j;
	const char *s = r->o.stream->name;

	if (r->o.stats_file == NULL)
		return;
	kl_buf_init(&b);
	for (j = 0; j < sizeof(m) / sizeof(m[0]); j++) {
		metric(&b, m[j].name, m[j].type, m[j].help);
		for (i = 0; i < r->n; i++)
			kl_buf_addf(&b, "kl_read_shard_%s{stream=\"%s\","
			    "shard_id=\"%s\"} %llu\n", m[j].name, s,
			    r->sh[i]->id, *(unsigned long long *)(void *)
			    ((char *)r->sh[i] + m[j].off));
	}
	metric(&b, "millis_behind_latest", "gauge", "MillisBehindLatest of "
	    "the shard's last GetRecords reply.");
	for (i = 0; i < r->n; i++)
		kl_buf_addf(&b, "kl_read_shard_millis_behind_latest{stream="
		    "\"%s\",shard_id=\"%s\"} %lld\n", s, r->sh[i]->id,
		    r->sh[i]->mbl);
	metric(&b, "shard_done", "gauge", "1 once the shard was read to "
	    "its end (or --until), else 0.");
	for (i = 0; i < r->n; i++)
		kl_buf_addf(&b, "kl_read_shard_shard_done{stream=\"%s\","
		    "shard_id=\"%s\"} %d\n", s, r->sh[i]->id,
		    kl_rd_is_end(r->sh[i]->state) || r->sh[i]->state == S_UNTIL);
	metric(&b, "last_update_timestamp_seconds", "gauge", "When this file "
	    "was written.");
	kl_buf_addf(&b, "kl_read_shard_last_update_timestamp_seconds{stream="
	    "\"%s\"} %.3f\n", s, kl_now_ms() / 1000.0);
	if (b.err || kl_atomic_write(r->o.stats_file, b.data, b.len,
	    0644) == -1)
		kl_log(KL_WARNING, b.err ? ENOMEM : errno, "cannot write "
		    "'%s'", r->o.stats_file);
	kl_buf_free(&b);
}

void
kl_rd_timers(struct kl_reader *r, long now)
{
	if (now >= r->tick_ms) {
		if (kl_verbose >= 1)
			kl_rd_progress(r, now - (r->tick_ms - TICK_MS));
		kl_rd_write_stats(r);
		r->tick_ms = now + TICK_MS;
	}
	if (now >= r->commit_ms)
		kl_rd_commit(r);
}
