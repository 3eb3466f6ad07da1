/*
 * lytrec.c - kl-to-lytics' input lines: the events each one yields and,
 * for a kl-read-shard record, its position in the stream.
 *
 * A line is a kl Kinesis record (contract 5.2: the event is "data", or
 * the JSON object base64-encoded in "data_base64"), or a plain JSON
 * object (the event is the object); with --filter, a jq program makes the
 * events of the line instead.  What kl-to-lytics does with them (batches,
 * rejects, the checkpoint) is the command's.
 *
 * Design decisions:
 *
 * - The per-record path builds no jv (house style 6.3): the line is
 *   checked and minified with jscan in one pass, its members found in
 *   that copy, and the events cut from it byte for byte, so numbers keep
 *   every digit.  Only --filter parses the line with libjq, and only its
 *   results pass through doubles.
 * - A line is rejected for the first reason found (the code and message
 *   of contract 6); later checks do not overwrite it.
 * - A record of another stream than the checkpoint's is not a reject but
 *   a reason to stop (fatal): its position cannot go into that file.
 * - Out of memory is not a reject either: kl_lytrec_line returns -1 and
 *   names what could not be held, for the command's fatal message.
 */
#include <config.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jq.h>

#include "kl.h"

/* The members of a Kinesis record that matter here, by index. */
enum { M_STREAM, M_SHARD, M_SEQ, M_SUB, M_DATA, M_DATA64, M_COUNT };

/* Sets r up, empty and without a filter; the caller sets max_event. */
void
kl_lytrec_init(struct kl_lytrec *r)
{
	memset(r, 0, sizeof(*r));
	kl_buf_init(&r->line);
	kl_buf_init(&r->evs);
	kl_buf_init(&r->tmp);
	kl_buf_init(&r->jqmsg);
}

/* Frees what r holds, the compiled filter included. */
void
kl_lytrec_free(struct kl_lytrec *r)
{
	kl_buf_free(&r->line);
	kl_buf_free(&r->evs);
	kl_buf_free(&r->tmp);
	kl_buf_free(&r->jqmsg);
	free(r->ev);
	if (r->jq != NULL)
		jq_teardown(&r->jq);
	memset(r, 0, sizeof(*r));
}

static void
jq_msg(void *arg, jv msg)
{
	struct kl_lytrec *r = arg;

	if (jv_get_kind(msg) == JV_KIND_STRING)
		kl_buf_adds(&r->jqmsg, jv_string_value(msg));
	kl_buf_addc(&r->jqmsg, '\n');
	jv_free(msg);
}

/*
 * Compiles the jq program prog: from then on it makes the events of
 * each line.  Returns 0, or -1 with errno: ENOMEM, or EINVAL when prog
 * does not compile, r->jqmsg then holding libjq's messages, one a line.
 */
int
kl_lytrec_filter(struct kl_lytrec *r, const char *prog)
{
	if ((r->jq = jq_init()) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	jq_set_error_cb(r->jq, jq_msg, r);
	if (jq_compile(r->jq, prog))
		return 0;
	errno = EINVAL;
	return -1;
}

static int fail(struct kl_lytrec *, const char *, const char *, ...)
    KL_PRINTF(3, 4);

/* Sets why the line in hand is rejected; returns -1. */
static int
fail(struct kl_lytrec *r, const char *code, const char *fmt, ...)
{
	va_list ap;

	if (r->code != NULL)
		return -1;	/* the first reason stands */
	r->code = code;
	va_start(ap, fmt);
	vsnprintf(r->why, sizeof(r->why), fmt, ap);
	va_end(ap);
	return -1;
}

/* Notes what could not be held (the first thing); returns -1. */
static int
nomem(struct kl_lytrec *r, const char *what)
{
	if (r->nomem == NULL)
		r->nomem = what;
	return -1;
}

/* Reads a Kinesis record's position into p; -1 if it has none. */
static int
get_pos(struct kl_lytrec *r, struct kl_jspan *const *f, struct kl_ckpt *ck,
    struct kl_lytpos *p)
{
	int64_t v = KL_CKPT_WHOLE;

	kl_buf_reset(&r->tmp);
	if (f[M_STREAM] == NULL || kl_js_str(f[M_STREAM], &r->tmp) == -1 ||
	    r->tmp.len == 0)
		return fail(r, "BadRecord", "a Kinesis record without a "
		    "stream");
	if (ck->stream == NULL && (ck->stream = strdup(r->tmp.data)) == NULL)
		return nomem(r, "checkpoint");
	if (strcmp(ck->stream, r->tmp.data) != 0) {
		r->fatal = 1;
		return fail(r, "OtherStream", "a record of stream '%.128s', "
		    "but the checkpoint is of stream '%.128s'", r->tmp.data,
		    ck->stream);
	}
	if (f[M_SHARD]->n - 2 > KL_LYTREC_SHARD_MAX ||
	    f[M_SEQ]->n - 2 > KL_CKPT_SEQMAX ||
	    (f[M_SUB] != NULL && f[M_SUB]->type != KL_JNUL &&
	    (kl_js_i64(f[M_SUB], &v) == -1 || v < 0)))
		goto bad;
	memcpy(p->shard, f[M_SHARD]->p + 1, f[M_SHARD]->n - 2);
	p->shard[f[M_SHARD]->n - 2] = '\0';
	memcpy(p->seq, f[M_SEQ]->p + 1, f[M_SEQ]->n - 2);
	p->seq[f[M_SEQ]->n - 2] = '\0';
	p->sub = v;
	if (kl_ckpt_seq_ok(p->seq) && p->shard[0] != '\0' &&
	    strchr(p->shard, '\\') == NULL)
		return 0;
bad:
	return fail(r, "BadRecord", "a bad shard_id, sequence_number or "
	    "sub_sequence_number");
}

/* Ends the event just appended to evs; -1 if it is too large. */
static int
end_event(struct kl_lytrec *r)
{
	size_t from = r->nev ? r->ev[r->nev - 1] : 0, cap;
	size_t *ev;

	if (r->evs.err)
		return nomem(r, "cannot hold an event");
	if (r->evs.len - from > r->max_event)
		return fail(r, "EventTooLarge", "an event of %zu bytes, over "
		    "the %zu-byte event limit", r->evs.len - from,
		    r->max_event);
	if (r->nev == r->evcap) {
		cap = r->evcap ? r->evcap * 2 : 64;
		if ((ev = reallocarray(r->ev, cap, sizeof(*ev))) == NULL)
			return nomem(r, "cannot grow a batch");
		r->ev = ev;
		r->evcap = cap;
	}
	r->ev[r->nev++] = r->evs.len;
	return 0;
}

/* Runs the filter on the line: its results become the events. */
static int
run_filter(struct kl_lytrec *r, const char *line, size_t len)
{
	jv in, v, s;
	long n = 0;

	if (len > 0x7fffffff || !jv_is_valid(in = jv_parse_sized(line,
	    (int)len)))
		return fail(r, "InvalidJSON", "libjq cannot parse the line");
	jq_start(r->jq, in, 0);
	while (jv_is_valid(v = jq_next(r->jq))) {
		n++;
		if (jv_get_kind(v) != JV_KIND_OBJECT)
			fail(r, "NotAnObject", "filter result %ld is %s, not "
			    "an object", n, jv_kind_name(jv_get_kind(v)));
		else if (r->code == NULL) {
			s = jv_dump_string(jv_copy(v), 0);
			kl_buf_adds(&r->evs, jv_string_value(s));
			jv_free(s);
			end_event(r);
		}
		jv_free(v);
	}
	if (jv_invalid_has_msg(jv_copy(v))) {
		v = jv_invalid_get_msg(v);
		s = jv_get_kind(v) == JV_KIND_STRING ? jv_copy(v) :
		    jv_dump_string(jv_copy(v), 0);
		fail(r, "FilterError", "filter: %s", jv_string_value(s));
		jv_free(s);
	}
	jv_free(v);
	return r->code != NULL ? -1 : 0;
}

/* Appends the event in the span v (base64 in it if b64) to evs. */
static int
event_of(struct kl_lytrec *r, const struct kl_jspan *v, int b64)
{
	struct kl_jspan top;

	if (!b64 && v->type != KL_JOBJ)
		return fail(r, "NotAnObject", "data is not a JSON object");
	if (!b64) {
		kl_buf_add(&r->evs, v->p, v->n);	/* minified already */
		return end_event(r);
	}
	kl_buf_reset(&r->tmp);
	kl_buf_reset(&r->jqmsg);
	if (v->type != KL_JSTR || kl_js_str(v, &r->jqmsg) == -1 ||
	    kl_base64_dec(&r->tmp, r->jqmsg.data, r->jqmsg.len) == -1)
		return fail(r, "NotAnObject", "data_base64 is not base64");
	if (kl_js_minify(&r->evs, r->tmp.data, r->tmp.len, &top,
	    NULL) == -1 || top.type != KL_JOBJ)
		return fail(r, "NotAnObject", "data_base64 does not hold a "
		    "JSON object");
	return end_event(r);
}

/* Which of the members kl_lytrec_line wants k names (M_*), or -1. */
static int
member(const struct kl_jspan *k)
{
	static const struct { const char *s; size_t n; } names[M_COUNT] = {
		{ "stream", 6 }, { "shard_id", 8 }, { "sequence_number", 15 },
		{ "sub_sequence_number", 19 }, { "data", 4 },
		{ "data_base64", 11 },
	};
	const char *p = k->p + 1;
	size_t n = k->n - 2;
	int i, slow = memchr(p, '\\', n) != NULL;

	for (i = 0; i < M_COUNT; i++)
		if (slow ? kl_js_streqn(k, names[i].s, names[i].n) :
		    n == names[i].n && memcmp(p, names[i].s, n) == 0)
			return i;
	return -1;
}

/*
 * Turns one input line[0..len) into its events, r->nev of them back to
 * back in r->evs, event i ending at r->ev[i].  The line is checked and
 * minified in one pass into r->line (r->json set), and the events are
 * cut from that copy.  With ck (a checkpoint being advanced), a Kinesis
 * record's position goes to r->pos (r->has_pos set), also when the line
 * is rejected, and ck->stream is set from the first record.
 *
 * Returns 0; r->code is then NULL, or the line is rejected: r->code and
 * r->why say why (contract 6), and r->fatal is set if it must stop the
 * run (a record of another stream than ck's).  Returns -1 with errno
 * ENOMEM, r->nomem naming what could not be held.
 */
int
kl_lytrec_line(struct kl_lytrec *r, const char *line, size_t len,
    struct kl_ckpt *ck)
{
	struct kl_jspan top, k, v, sp[M_COUNT], *f[M_COUNT] = { NULL };
	struct kl_jiter it;
	struct kl_jerr je;
	int i, kin;

	r->nev = 0;
	r->code = NULL;
	r->nomem = NULL;
	r->json = r->has_pos = 0;
	kl_buf_reset(&r->evs);
	kl_buf_reset(&r->line);
	if (kl_js_minify(&r->line, line, len, &top, &je) == -1) {
		if (je.code == KL_JE_NOMEM) {
			errno = ENOMEM;
			return nomem(r, "cannot hold a line");
		}
		fail(r, "InvalidJSON", "not JSON: %s", je.msg);
		return 0;
	}
	r->json = 1;
	top.p = r->line.data;
	top.n = r->line.len;
	if (top.type == KL_JOBJ) {
		kl_js_iter_init(&it, &top);
		while (kl_js_iter_next(&it, &k, &v))
			if ((i = member(&k)) >= 0)
				f[i] = (sp[i] = v, &sp[i]);
	}
	kin = f[M_SHARD] != NULL && f[M_SHARD]->type == KL_JSTR &&
	    f[M_SEQ] != NULL && f[M_SEQ]->type == KL_JSTR &&
	    (f[M_DATA] != NULL || f[M_DATA64] != NULL);
	if (kin && ck != NULL)
		r->has_pos = get_pos(r, f, ck, &r->pos) == 0;
	if (r->fatal || r->nomem != NULL)
		goto out;
	if (r->code == NULL && r->jq != NULL)
		run_filter(r, r->line.data, r->line.len);
	else if (r->code == NULL && kin)
		event_of(r, f[M_DATA] != NULL ? f[M_DATA] : f[M_DATA64],
		    f[M_DATA] == NULL);
	else if (r->code == NULL && top.type != KL_JOBJ)
		fail(r, "NotAnObject", "not a JSON object");
	else if (r->code == NULL) {
		kl_buf_add(&r->evs, top.p, top.n);
		end_event(r);
	}
out:
	if (r->nomem != NULL) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}
