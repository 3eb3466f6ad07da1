/*
 * reader.c - the multi-shard stream reader behind kl-read-shard: every
 * shard of a stream (or the named ones) read in one process, in order,
 * through resharding, with pacing, retries and checkpoints.
 *
 * One libcurl multi handle carries all requests, one easy handle per
 * request in flight (at most MAX_INFLIGHT), so a 64-shard stream is read
 * by one thread; the connection cache of the multi handle keeps the
 * connections alive between calls.  Each request is signed with aws.c's
 * kl_aws_sign(), set up with http.c's kl_http_prepare() and judged with
 * kl_http_finish() and kl_aws_reply(), so the reply classes are those of
 * every other kl call (house style 8); the scheduling of retries is done
 * here, per shard, instead of kl_aws_call()'s sleeping loop.  This file
 * keeps the shards, their lineage and positions, and the run; readpage.c
 * turns GetRecords replies into records (the per-record path);
 * readcall.c makes the calls, retries and schedules them, and keeps the
 * statistics; reader.h holds what they share.
 *
 * Per shard, a small state machine: WAIT (for its parents), NEEDITER
 * (GetShardIterator due), READY (GetRecords due at next_ms), BUSY, and
 * the ends DONE (closed and read to its end, or done in an earlier run
 * by the checkpoint), CAUGHT (drain mode: caught up), UNTIL (--until
 * passed) and SKIP (closed before a --from latest run began).
 *
 * Design decisions:
 *
 * - Lineage (aws-protocol.md §1.6): a shard starts only when each of its
 *   parents that this run tracks is DONE or SKIP, so per partition key
 *   records come out in stream order across splits and merges.  A child
 *   of a parent that was read starts at TRIM_HORIZON (AT_TIMESTAMP when
 *   the parent itself started there), never LATEST: records written
 *   between the reshard and its discovery would be lost.  Children are
 *   learnt from ChildShards when the service sends them at a shard's end
 *   and from ListShards, called at start, every 30 s with --follow, and
 *   at once when a shard ends without ChildShards (kinesalite).  A shard
 *   the listing calls closed ends at an empty, caught-up page even when
 *   the server still hands out an iterator (kinesalite again).
 * - Positions: each shard keeps the last record emitted (sequence number
 *   and, inside a KPL aggregate, sub-sequence number).  An expired
 *   iterator is replaced by one AFTER_SEQUENCE_NUMBER of that record (AT
 *   it, skipping the user records done, inside an aggregate), or by the
 *   original start if nothing was emitted yet; a LATEST start is pinned
 *   to AT_TIMESTAMP of the reply's Date (less 1 s) as soon as the
 *   iterator arrives, so a renewal cannot skip records that came in
 *   since.  A checkpoint position the service no longer has
 *   (InvalidArgumentException about StartingSequenceNumber: aged out of
 *   retention) falls back to TRIM_HORIZON with a warning, and a second
 *   warning names where the data resumes, so the gap is on record.
 * - Pacing: a shard's GetRecords calls start at least 1000/max_rate ms
 *   apart; an empty caught-up page waits poll_ms before the next call; a
 *   page that carried 9 MiB or more waits 5 s (AWS throttles the 5 s
 *   after a 10 MiB reply).  Transient failures (throttling, 5xx, network)
 *   wait kl_backoff_ms() (full jitter) or Retry-After, whichever is
 *   longer; RETRIES failures in a row of one shard or of the listing end
 *   the run with KL_ERR_TRANSIENT (exit 75).
 * - Memory: replies are held whole (each line needs the page's
 *   MillisBehindLatest, which comes after the records), so GetRecords
 *   calls in flight are admitted against a budget of BODY_BUDGET bytes,
 *   estimated from each shard's previous reply; buffers beyond 256 KiB
 *   are freed after use, except in BIG_KEPT calls, whose buffers are
 *   reused (faulting fresh pages in for every reply costs more CPU than
 *   the copy).  Memory thus stays flat whatever the stream's size.
 * - Output and checkpoints belong to the command: each line goes to the
 *   emit callback; positions reach the checkpoint in memory only at a
 *   commit (every second when something moved, at a shard's end, at the
 *   end of the run), and the commit callback flushes the output before
 *   it writes the file, so a checkpoint never runs ahead of the output.
 * - Stopping: the transfer callbacks abort on a stop signal, and a page
 *   being written stops after the record in hand.
 * - Progress: with o->progress, a line (progress.c) updated after each
 *   record written (readpage.c).
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

const char *const kl_rd_op_names[] = {
	"", "ListShards", "GetShardIterator", "GetRecords",
};

const char *const kl_rd_from_names[] = {
	"", "TRIM_HORIZON", "LATEST", "AT_TIMESTAMP", "AT_SEQUENCE_NUMBER",
	"AFTER_SEQUENCE_NUMBER",
};

void
kl_rd_fail(struct kl_reader *r, const struct kl_err *e)
{
	if (r->failed)
		return;
	r->failed = 1;
	r->err = *e;
}

void
kl_rd_fail_nomem(struct kl_reader *r)
{
	struct kl_err e;

	kl_err_set(&e, KL_ERR_PERMANENT, 0, NULL, "%s", strerror(ENOMEM));
	kl_rd_fail(r, &e);
}

static struct shard *
find_shard(const struct kl_reader *r, const char *id, size_t n)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		if (strlen(r->sh[i]->id) == n && memcmp(r->sh[i]->id, id,
		    n) == 0)
			return r->sh[i];
	return NULL;
}

static int
named(const struct kl_reader *r, const char *id)
{
	size_t i;

	for (i = 0; i < r->o.nshards; i++)
		if (strcmp(r->o.shards[i], id) == 0)
			return 1;
	return r->o.nshards == 0;
}

/* Copies the string span v (no escapes expected) into out[cap]. */
static int
span_id(const struct kl_jspan *v, char *out, size_t cap)
{
	struct kl_buf b;
	int ok;

	out[0] = '\0';
	if (v == NULL || v->type != KL_JSTR)
		return 0;
	kl_buf_init(&b);
	ok = kl_js_str(v, &b) == 0 && !b.err && b.len < cap &&
	    kl_stream_name_ok(b.data);
	if (ok)
		memcpy(out, b.data, b.len + 1);
	kl_buf_free(&b);
	return ok;
}

static struct shard *
add_shard(struct kl_reader *r, const char *id, const char *parent,
    const char *adj, int closed)
{
	const struct kl_ckpt_shard *ck;
	struct shard *sh, **t;
	struct kl_buf p;

	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 16;
		if ((t = reallocarray(r->sh, r->cap, sizeof(*t))) == NULL)
			return NULL;
		r->sh = t;
	}
	if ((sh = calloc(1, sizeof(*sh))) == NULL)
		return NULL;
	snprintf(sh->id, sizeof(sh->id), "%s", id);
	snprintf(sh->parent, sizeof(sh->parent), "%s", parent);
	snprintf(sh->adj, sizeof(sh->adj), "%s", adj);
	sh->closed = closed;
	sh->state = S_WAIT;
	sh->pos_sub = KL_CKPT_WHOLE;
	kl_buf_init(&sh->iter);
	kl_buf_init(&p);
	kl_buf_adds(&p, "{\"stream\":");
	kl_buf_add_jstr(&p, r->o.stream->name, strlen(r->o.stream->name));
	kl_buf_adds(&p, ",\"shard_id\":");
	kl_buf_add_jstr(&p, id, strlen(id));
	kl_buf_adds(&p, ",\"sequence_number\":\"");
	if (p.err) {
		free(sh);
		return NULL;
	}
	sh->prefix_len = p.len;
	sh->prefix = kl_buf_steal(&p);
	if (r->o.ckpt != NULL &&
	    (ck = kl_ckpt_get(r->o.ckpt, id)) != NULL) {
		if (ck->seq != NULL) {
			snprintf(sh->pos, sizeof(sh->pos), "%s", ck->seq);
			sh->pos_sub = ck->sub;
		}
		if (ck->closed) {
			sh->state = S_DONE;
			sh->origin = CKPT_ORIGIN;
		}
	}
	r->sh[r->n++] = sh;
	return sh;
}

/* The shard described by a ListShards entry: added or updated. */
static int
list_entry(struct kl_reader *r, const struct kl_jspan *s)
{
	struct kl_jspan v, range, end;
	char id[129], parent[129], adj[129];
	struct shard *sh;
	int closed;

	if (s->type != KL_JOBJ || !kl_js_get(s, "ShardId", &v) ||
	    !span_id(&v, id, sizeof(id)))
		return 0;
	if (!kl_js_get(s, "ParentShardId", &v) ||
	    !span_id(&v, parent, sizeof(parent)))
		parent[0] = '\0';
	if (!kl_js_get(s, "AdjacentParentShardId", &v) ||
	    !span_id(&v, adj, sizeof(adj)))
		adj[0] = '\0';
	closed = kl_js_get(s, "SequenceNumberRange", &range) &&
	    range.type == KL_JOBJ &&
	    kl_js_get(&range, "EndingSequenceNumber", &end) &&
	    end.type == KL_JSTR;
	if ((sh = find_shard(r, id, strlen(id))) != NULL) {
		sh->closed |= closed;
		return 0;
	}
	if (!named(r, id))
		return 0;
	return add_shard(r, id, parent, adj, closed) == NULL ? -1 : 0;
}

int
kl_rd_is_end(int state)
{
	return state == S_DONE || state == S_SKIP;
}

/* Decides where a shard whose parents are done starts reading. */
static void
decide(struct kl_reader *r, struct shard *sh)
{
	const struct kl_ckpt_shard *ck = r->o.ckpt != NULL ?
	    kl_ckpt_get(r->o.ckpt, sh->id) : NULL;
	const char *pid[2] = { sh->parent, sh->adj };
	struct shard *p;
	int i, read = 0, all_ts = 1;

	memset(&sh->spec, 0, sizeof(sh->spec));
	if (ck != NULL && ck->seq != NULL) {
		snprintf(sh->spec.seq, sizeof(sh->spec.seq), "%s", ck->seq);
		sh->spec.sub = ck->sub;
		sh->spec.type = ck->sub >= 0 ? KL_FROM_AT_SEQUENCE :
		    KL_FROM_AFTER_SEQUENCE;
		sh->origin = CKPT_ORIGIN;
		return;
	}
	for (i = 0; i < 2; i++) {
		if (pid[i][0] == '\0' ||
		    (p = find_shard(r, pid[i], strlen(pid[i]))) == NULL ||
		    p->state == S_SKIP)
			continue;
		read = 1;
		if (p->origin != KL_FROM_AT_TIMESTAMP)
			all_ts = 0;
	}
	if (read) {
		sh->spec.type = all_ts ? KL_FROM_AT_TIMESTAMP :
		    KL_FROM_TRIM_HORIZON;
		sh->spec.ms = r->o.from_ms;
	} else {
		sh->spec.type = r->o.from;
		sh->spec.ms = r->o.from_ms;
		sh->spec.user = 1;
		if (r->o.from_seq != NULL)
			snprintf(sh->spec.seq, sizeof(sh->spec.seq), "%s",
			    r->o.from_seq);
		if (r->o.from == KL_FROM_AT_SEQUENCE)
			sh->spec.sub = KL_CKPT_WHOLE;
		if (r->o.from == KL_FROM_LATEST && sh->closed) {
			sh->state = S_SKIP;
			return;
		}
	}
	sh->origin = sh->spec.type;
}

/* Starts each waiting shard whose parents are done. */
static void
wake(struct kl_reader *r)
{
	const char *pid[2];
	struct shard *sh, *p;
	size_t i;
	int k, ready, again = 1;

	while (again) {
		again = 0;
		for (i = 0; i < r->n; i++) {
			sh = r->sh[i];
			if (sh->state != S_WAIT)
				continue;
			pid[0] = sh->parent;
			pid[1] = sh->adj;
			ready = 1;
			for (k = 0; k < 2; k++)
				if (pid[k][0] != '\0' &&
				    (p = find_shard(r, pid[k],
				    strlen(pid[k]))) != NULL &&
				    !kl_rd_is_end(p->state))
					ready = 0;
			if (!ready)
				continue;
			decide(r, sh);
			if (sh->state == S_SKIP) {
				again = 1;	/* its children may go */
				continue;
			}
			sh->state = S_NEEDITER;
			sh->next_ms = kl_mono_ms();
			kl_log(KL_DEBUG, 0, "%s: starting at %s%s%s", sh->id,
			    kl_rd_from_names[sh->spec.type],
			    sh->spec.seq[0] ? " " : "", sh->spec.seq);
		}
	}
}

/* A shard read to its end: children from ChildShards, or a listing. */
void
kl_rd_shard_end(struct kl_reader *r, struct shard *sh, const struct kl_page *pg)
{
	struct kl_jiter it, ip;
	struct kl_jspan c, v, ps;
	char id[129], par[2][129];
	int k, found = 0;

	sh->state = S_DONE;
	sh->ended = 1;
	r->ckpt_dirty = 1;
	r->commit_ms = 0;		/* commit at once */
	kl_log(KL_INFO, 0, "%s: read to its end (%llu records)", sh->id,
	    sh->records);
	if (pg != NULL && pg->has_children &&
	    kl_js_iter_init(&it, &pg->children) == 0)
		while (kl_js_iter_next(&it, NULL, &c)) {
			if (c.type != KL_JOBJ || !kl_js_get(&c, "ShardId", &v) ||
			    !span_id(&v, id, sizeof(id)))
				continue;
			found = 1;
			par[0][0] = par[1][0] = '\0';
			if (kl_js_get(&c, "ParentShards", &ps) &&
			    kl_js_iter_init(&ip, &ps) == 0)
				for (k = 0; k < 2 &&
				    kl_js_iter_next(&ip, NULL, &v); k++)
					span_id(&v, par[k], sizeof(par[k]));
			if (find_shard(r, id, strlen(id)) != NULL ||
			    !named(r, id))
				continue;
			if (add_shard(r, id, par[0], par[1], 0) == NULL) {
				kl_rd_fail_nomem(r);
				return;
			}
			kl_log(KL_INFO, 0, "%s: child shard %s", sh->id, id);
		}
	if (!found && r->o.nshards == 0) {
		r->list_next_ms = kl_mono_ms();
		r->list_urgent = 1;
		if (r->list_busy)
			r->list_again = 1;
	}
	wake(r);
}

/* Where a new iterator should start after what this run emitted. */
void
kl_rd_resume_spec(struct shard *sh)
{
	if (!sh->any)
		return;
	memset(&sh->spec, 0, sizeof(sh->spec));
	memcpy(sh->spec.seq, sh->pos, sizeof(sh->pos));
	sh->spec.sub = sh->pos_sub;
	sh->spec.type = sh->pos_sub >= 0 ? KL_FROM_AT_SEQUENCE :
	    KL_FROM_AFTER_SEQUENCE;
}

/*
 * GetShardIterator refused a checkpoint position: aged out of the
 * stream's retention.  Returns 1 if the shard falls back.
 */
int
kl_rd_aged_out(struct shard *sh, const struct kl_err *e)
{
	if (sh->spec.user || strcmp(e->code, "InvalidArgumentException") != 0 ||
	    strstr(e->msg, "StartingSequenceNumber") == NULL ||
	    (sh->spec.type != KL_FROM_AT_SEQUENCE &&
	    sh->spec.type != KL_FROM_AFTER_SEQUENCE))
		return 0;
	kl_log(KL_WARNING, 0, "%s: position %s is no longer in the stream "
	    "(aged out of its retention?): reading from TRIM_HORIZON; the "
	    "records after it that were trimmed are lost", sh->id,
	    sh->spec.seq);
	memcpy(sh->pos, sh->spec.seq, sizeof(sh->pos));
	memset(&sh->spec, 0, sizeof(sh->spec));
	sh->spec.type = KL_FROM_TRIM_HORIZON;
	sh->gap = 1;
	sh->state = S_NEEDITER;
	sh->next_ms = kl_mono_ms();
	return 1;
}

void
kl_rd_got_list(struct kl_reader *r, struct call *c)
{
	struct kl_jspan top, shards, s, tok;
	struct kl_jiter it;
	struct kl_err e;
	size_t i;

	if (kl_js_parse(c->resp.body.data ? c->resp.body.data : "",
	    c->resp.body.len, &top, NULL) == -1 || top.type != KL_JOBJ ||
	    !kl_js_get(&top, "Shards", &shards) ||
	    kl_js_iter_init(&it, &shards) == -1) {
		kl_err_set(&e, KL_ERR_PERMANENT, 0, NULL,
		    "ListShards: reply has no Shards array");
		kl_rd_fail(r, &e);
		return;
	}
	while (kl_js_iter_next(&it, NULL, &s))
		if (list_entry(r, &s) == -1) {
			kl_rd_fail_nomem(r);
			return;
		}
	r->list_fails = r->list_creds = r->list_skew = 0;
	kl_buf_reset(&r->list_token);
	if (kl_js_get(&top, "NextToken", &tok) && tok.type == KL_JSTR &&
	    tok.n > 2) {
		if (kl_js_str(&tok, &r->list_token) == -1 ||
		    r->list_token.err)
			kl_rd_fail_nomem(r);
		r->list_next_ms = kl_mono_ms();
		return;
	}
	if (!r->listed) {
		r->listed = 1;
		for (i = 0; i < r->o.nshards; i++)
			if (find_shard(r, r->o.shards[i],
			    strlen(r->o.shards[i])) == NULL) {
				kl_err_set(&e, KL_ERR_PERMANENT, 0,
				    "ResourceNotFoundException", "shard '%s' "
				    "not found in stream '%s'",
				    r->o.shards[i], r->o.stream->name);
				kl_rd_fail(r, &e);
				return;
			}
		kl_log(KL_INFO, 0, "stream '%s': %zu shards to read",
		    r->o.stream->name, r->n);
	}
	r->list_next_ms = r->o.follow ? kl_mono_ms() + LIST_EVERY_MS : -1;
	if (r->list_again) {
		r->list_again = 0;
		r->list_next_ms = kl_mono_ms();
	} else
		r->list_urgent = 0;
	wake(r);
}

void
kl_rd_got_iter(struct kl_reader *r, struct call *c)
{
	struct shard *sh = c->sh;
	struct kl_jspan top, it;
	struct kl_err e;
	long now = kl_mono_ms(), t;

	if (kl_js_parse(c->resp.body.data ? c->resp.body.data : "",
	    c->resp.body.len, &top, NULL) == -1 || top.type != KL_JOBJ ||
	    !kl_js_get(&top, "ShardIterator", &it) || it.type != KL_JSTR ||
	    it.n <= 2) {
		/* No iterator: a closed shard with nothing after the start. */
		if (sh->closed) {
			kl_rd_shard_end(r, sh, NULL);
			return;
		}
		kl_err_set(&e, KL_ERR_PERMANENT, c->resp.status, NULL,
		    "GetShardIterator on %s: reply has no ShardIterator",
		    sh->id);
		kl_rd_fail(r, &e);
		return;
	}
	kl_buf_reset(&sh->iter);
	if (kl_js_str(&it, &sh->iter) == -1 || sh->iter.err) {
		kl_rd_fail_nomem(r);
		return;
	}
	sh->skip_pending = sh->spec.type == KL_FROM_AT_SEQUENCE &&
	    sh->spec.sub >= 0;
	if (sh->spec.type == KL_FROM_LATEST) {
		/* Pin LATEST: a renewal must not skip what came since. */
		sh->spec.type = KL_FROM_AT_TIMESTAMP;
		sh->spec.ms = (c->resp.date ? (long long)c->resp.date :
		    (long long)(time(NULL) + r->aws->skew)) * 1000 - 1000;
	}
	sh->state = S_READY;
	t = sh->call_ms ? sh->call_ms + r->interval_ms : now;
	sh->next_ms = t > now ? t : now;
}

/* Whether nothing is left to do (drain, --until or --limit). */
static int
finished(const struct kl_reader *r)
{
	const char *pid[2];
	struct shard *sh, *p;
	size_t i;
	int k, blocked;

	if (r->done)
		return 1;
	if (!r->listed || r->inflight > 0 || r->list_urgent)
		return 0;
	for (i = 0; i < r->n; i++) {
		sh = r->sh[i];
		switch (sh->state) {
		case S_DONE: case S_SKIP: case S_UNTIL:
			continue;
		case S_CAUGHT:
			if (!r->o.follow)
				continue;
			return 0;
		case S_WAIT:
			/* Behind a parent that will not end in this run? */
			pid[0] = sh->parent;
			pid[1] = sh->adj;
			blocked = 0;
			for (k = 0; k < 2; k++)
				if (pid[k][0] != '\0' &&
				    (p = find_shard(r, pid[k],
				    strlen(pid[k]))) != NULL &&
				    (p->state == S_UNTIL ||
				    (p->state == S_CAUGHT && !r->o.follow)))
					blocked = 1;
			if (blocked)
				continue;
			return 0;
		default:
			return 0;
		}
	}
	return 1;
}

/* Moves the positions into the checkpoint and has the command save it. */
void
kl_rd_commit(struct kl_reader *r)
{
	struct kl_err e;
	struct shard *sh;
	size_t i;

	r->commit_ms = kl_mono_ms() + COMMIT_MS;
	if (!r->o.commit || r->o.ckpt == NULL || !r->ckpt_dirty)
		return;
	for (i = 0; i < r->n; i++) {
		sh = r->sh[i];
		if (sh->moved && kl_ckpt_set(r->o.ckpt, sh->id, sh->pos,
		    sh->pos_sub) == -1)
			kl_log(KL_ERROR, errno, "%s: cannot checkpoint %s",
			    sh->id, sh->pos);
		sh->moved = 0;
		if (sh->ended && kl_ckpt_set_closed(r->o.ckpt, sh->id) == -1)
			kl_log(KL_ERROR, errno, "%s: cannot checkpoint", sh->id);
	}
	kl_err_clear(&e);
	if (r->o.commit_cb(r->o.arg, &e) == -1) {
		kl_log(KL_ERROR, 0, "%s", e.msg);
		return;
	}
	r->ckpt_dirty = 0;
}

/*
 * Sets up a reader of o->stream over a (set up by kl_kinesis_init, its
 * credentials and skew used and updated).  o is copied; the strings,
 * the stream and the checkpoint it points to stay the caller's and must
 * outlive the reader.  Returns the reader, or NULL with e filled.
 */
struct kl_reader *
kl_reader_new(struct kl_aws *a, const struct kl_reader_opts *o,
    struct kl_err *e)
{
	struct kl_reader *r;
	struct kl_buf u;

	kl_err_clear(e);
	if ((r = calloc(1, sizeof(*r))) == NULL)
		goto nomem;
	r->aws = a;
	r->o = *o;
	if (r->o.max_rate <= 0)
		r->o.max_rate = 2;
	r->interval_ms = (long)(1000.0 / r->o.max_rate + 0.5);
	kl_page_init(&r->page);
	r->page.data_only = o->data_only;
	r->page.until_ms = o->until_ms;
	kl_buf_init(&r->list_token);
	kl_buf_init(&u);
	kl_buf_adds(&u, a->origin);
	kl_buf_adds(&u, a->base_path);
	kl_buf_addc(&u, '/');
	if (u.err || (r->url = kl_buf_steal(&u)) == NULL ||
	    (r->multi = curl_multi_init()) == NULL) {
		kl_reader_free(r);
		goto nomem;
	}
	curl_multi_setopt(r->multi, CURLMOPT_MAXCONNECTS,
	    (long)MAX_INFLIGHT + 4);
	return r;
nomem:
	kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "%s", strerror(ENOMEM));
	return NULL;
}

/*
 * Reads until there is nothing left to read: every shard caught up or
 * read to its end (without o->follow), --until passed on every shard,
 * --limit records written, or a stop signal (kl_stopping(): the caller
 * then dies of it).  The positions are committed at the end, whatever
 * happened.  Returns 0, or -1 with e filled: KL_ERR_TRANSIENT when
 * retries ran out (exit 75), KL_ERR_PERMANENT for anything else fatal
 * (unknown stream or shard, an error reply, a write error: exit 1).
 */
int
kl_reader_run(struct kl_reader *r, struct kl_err *e)
{
	CURLMsg *m;
	struct call *c;
	long now, due, wait;
	int running, left;

	kl_err_clear(e);
	r->start_ms = kl_mono_ms();
	r->tick_ms = r->start_ms + TICK_MS;
	r->commit_ms = r->start_ms + COMMIT_MS;
	r->list_next_ms = r->start_ms;
	r->list_urgent = 1;
	while (!r->failed && !kl_stopping() && !finished(r)) {
		now = kl_mono_ms();
		due = kl_rd_schedule(r, now);
		if (r->failed)
			break;
		kl_rd_timers(r, now);
		if (r->commit_ms < due)
			due = r->commit_ms;
		wait = due - kl_mono_ms();
		if (wait > 200)
			wait = 200;
		if (wait < 0)
			wait = 0;
		curl_multi_poll(r->multi, NULL, 0, (int)wait, NULL);
		curl_multi_perform(r->multi, &running);
		while ((m = curl_multi_info_read(r->multi, &left)) != NULL) {
			if (m->msg != CURLMSG_DONE)
				continue;
			c = NULL;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE,
			    (char **)&c);
			if (c != NULL)
				kl_rd_complete(r, c, m->data.result);
		}
	}
	kl_rd_commit(r);
	kl_rd_write_stats(r);
	if (kl_verbose >= 1)
		kl_rd_progress(r, kl_mono_ms() - (r->tick_ms - TICK_MS));
	if (r->failed) {
		*e = r->err;
		return -1;
	}
	return 0;
}

/* Records written so far. */
unsigned long long
kl_reader_count(const struct kl_reader *r)
{
	return r->emitted;
}

/* Stops the transfers in flight and frees r; safe on NULL. */
void
kl_reader_free(struct kl_reader *r)
{
	struct kl_err e;
	struct call *c, *next;
	size_t i;

	if (r == NULL)
		return;
	for (c = r->all_calls; c != NULL; c = next) {
		next = c->all;
		if (c->busy) {
			curl_multi_remove_handle(r->multi, c->easy);
			kl_http_finish(&c->x, CURLE_ABORTED_BY_CALLBACK, &e);
		}
		kl_rd_call_free(c);
	}
	if (r->multi != NULL)
		curl_multi_cleanup(r->multi);
	for (i = 0; i < r->n; i++) {
		kl_buf_free(&r->sh[i]->iter);
		free(r->sh[i]->prefix);
		free(r->sh[i]);
	}
	free(r->sh);
	kl_page_free(&r->page);
	kl_buf_free(&r->list_token);
	free(r->url);
	free(r);
}
