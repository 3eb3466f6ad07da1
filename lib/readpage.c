/*
 * readpage.c - the per-record path of the stream reader (reader.c): a
 * GetRecords reply opened as a page (page.c), its records written through
 * the emit callback one at a time, the shard's position moved after each,
 * and the time of the shard's next call set by the pacing rules that
 * reader.c describes.  reader.h holds what the reader's files share.
 *
 * - A record's position is kept only once the emit callback has taken
 *   it, and a page being written stops after the record in hand (a stop
 *   signal, --limit, a failure), so a commit never runs ahead of what was
 *   written.
 * - Progress: with o->progress, the line (progress.c) is updated after
 *   each record written, with the largest MillisBehindLatest of the
 *   shards being read, worked out once per page.  The command starts and
 *   ends it.
 */
#include <config.h>

#include <errno.h>
#include <string.h>

#include <curl/curl.h>

#include "kl.h"

#include "reader.h"

/* Notes the first record after a checkpoint that had aged out. */
static void
report_gap(struct shard *sh, const struct kl_page_rec *rec)
{
	kl_log(KL_WARNING, 0, "%s: gap in the data: records after %s and "
	    "before %.*s were trimmed before they could be read", sh->id,
	    sh->pos, (int)rec->seq_len, rec->seq);
	sh->gap = 0;
}

/* The most any shard being read is behind the tip, in ms. */
static long
max_lag(const struct kl_reader *r)
{
	long long m = 0;
	size_t i;

	for (i = 0; i < r->n; i++)
		if (!kl_rd_is_end(r->sh[i]->state) && r->sh[i]->mbl > m)
			m = r->sh[i]->mbl;
	return (long)m;
}

/*
 * Writes the records of a page, updating the progress line after each
 * with lag (max_lag()); returns 1 if the page was not finished.
 */
static int
emit_page(struct kl_reader *r, struct shard *sh, struct kl_page *pg,
    long lag)
{
	struct kl_page_rec rec;
	struct kl_err e;
	int k;

	while (!kl_stopping() && !r->done && !r->failed) {
		if ((k = kl_page_next(pg, &rec)) == 0)
			return 0;
		if (k == KL_PAGE_UNTIL) {
			sh->state = S_UNTIL;
			kl_log(KL_INFO, 0, "%s: reached --until", sh->id);
			return 1;
		}
		if (k == -1) {
			kl_err_set(&e, KL_ERR_PERMANENT, 0, NULL, "GetRecords "
			    "on %s: %s", sh->id, errno == EBADMSG ? pg->why :
			    strerror(errno));
			kl_rd_fail(r, &e);
			return 1;
		}
		if (r->o.emit(r->o.arg, rec.line, rec.len) == -1) {
			kl_err_set(&e, KL_ERR_PERMANENT, errno, NULL,
			    "cannot write the standard output: %s",
			    strerror(errno));
			e.sys = errno;
			kl_rd_fail(r, &e);
			return 1;
		}
		if (sh->gap)
			report_gap(sh, &rec);
		memcpy(sh->pos, rec.seq, rec.seq_len);
		sh->pos[rec.seq_len] = '\0';
		sh->pos_sub = rec.last ? KL_CKPT_WHOLE : rec.sub;
		sh->any = sh->moved = 1;
		sh->records++;
		r->ckpt_dirty = 1;
		if (++r->emitted == r->o.limit)
			r->done = 1;
		if (r->o.progress != NULL)
			kl_progress_update(r->o.progress, (long)r->emitted,
			    lag);
	}
	return 1;
}

/*
 * Handles the GetRecords reply of c: writes its records, moves the
 * shard's position, and sets when the shard is read next or ends it.
 * Failures go to kl_rd_fail().
 */
void
kl_rd_got_page(struct kl_reader *r, struct call *c)
{
	struct shard *sh = c->sh;
	struct kl_page *pg = &r->page;
	struct kl_err e;
	long now, next, idle;
	int empty;

	sh->body_est = c->resp.body.len + c->resp.body.len / 8;
	pg->prefix = sh->prefix;
	pg->prefix_len = sh->prefix_len;
	pg->shard_id = sh->id;
	pg->skip_seq = sh->skip_pending ? sh->spec.seq : NULL;
	pg->skip_sub = sh->spec.sub;
	if (kl_page_open(pg, c->resp.body.data ? c->resp.body.data : "",
	    c->resp.body.len, &e) == -1) {
		kl_rd_fail(r, &e);
		return;
	}
	sh->calls++;
	sh->fails = sh->creds_again = sh->skew_again = 0;
	if (pg->has_mbl)
		sh->mbl = pg->mbl;
	sh->state = S_READY;
	if (emit_page(r, sh, pg, r->o.progress != NULL ? max_lag(r) : -1)) {
		if (pg->nrec > 0)
			sh->skip_pending = 0;
		return;
	}
	empty = pg->nrec == 0;
	if (!empty)
		sh->skip_pending = 0;
	kl_rd_resume_spec(sh);
	if (!pg->has_next) {
		kl_rd_shard_end(r, sh, pg);
		return;
	}
	kl_buf_reset(&sh->iter);
	if (kl_js_str(&pg->next, &sh->iter) == -1 || sh->iter.err) {
		kl_rd_fail_nomem(r);
		return;
	}
	now = kl_mono_ms();
	idle = r->o.poll_ms > r->interval_ms ? r->o.poll_ms : r->interval_ms;
	next = sh->call_ms + r->interval_ms;
	if (empty && pg->mbl == 0) {
		if (sh->closed) {
			kl_rd_shard_end(r, sh, pg);
			return;
		}
		if (!r->o.follow) {
			sh->state = S_CAUGHT;
			kl_log(KL_DEBUG, 0, "%s: caught up", sh->id);
			return;
		}
		if (r->o.until_ms > 0 &&
		    kl_now_ms() + r->aws->skew * 1000LL >
		    r->o.until_ms + UNTIL_SLACK_MS) {
			sh->state = S_UNTIL;
			return;
		}
		next = sh->call_ms + idle;
	}
	if (pg->data_bytes >= BIG_PAGE && next < now + BIG_PAUSE_MS)
		next = now + BIG_PAUSE_MS;
	sh->next_ms = next;
}
