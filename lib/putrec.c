/*
 * putrec.c - kl-trigger-put's records, outside the engine (putter.c):
 * input lines into objects (a line may hold an array of them), the
 * partition key of an object and its cut to Kinesis' limit, --fields,
 * the stream's record size limit, the PutRecords entry and result, the
 * put acknowledgement, and draining the input after a halt.
 *
 * The partition key (kl_putkey_get): the field the user names is looked
 * up in the object's "data" (a trigger event keeps the profile there),
 * then at the top level.  A field name or a simple path ("a.b", "a[0]")
 * is followed by jscan on the minified text, the field and the fallbacks
 * in one walk of each object; anything else is compiled
 * once as a jq program and run on "data", then on the object: the only
 * per-record use of libjq, which costs about ten times as much.  The
 * first non-empty scalar wins: a string's text, a number as written,
 * true or false.  A key that is missing, empty, null or no scalar falls
 * back to _uid, the first of _uids, id (each in "data", then at the top),
 * and at last to the MD5 hex of the record's data, so no record is ever
 * dropped for want of a key.
 *
 * The cut (kl_put_keycut): Kinesis allows 256 characters, which its Java
 * front end and kinesalite both count in UTF-16 units; a character
 * outside the Basic Multilingual Plane counts two.  The cut keeps whole
 * characters.
 */
#include <config.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jq.h>

#include "kl.h"

struct kl_putkey {
	char		*field;		/* NULL: the fallbacks only */
	int		 path;		/* field has a dot or a bracket */
	jq_state	*jq;		/* when field is a jq program */
	struct kl_buf	 msg;		/* jq's compile messages */
};

/* Whether f is a field name or a path jscan follows (a.b, a[0]). */
static int
simple(const char *f)
{
	struct kl_jspan none = { "{}", 2, KL_JOBJ }, v;
	const char *s;

	for (s = f; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && (unsigned char)*s < 0x80 &&
		    strchr("_-.[]@$", *s) == NULL)
			return 0;
	return kl_js_path(&none, f, &v) != -1;
}

static void
jq_msg(void *arg, jv msg)
{
	struct kl_buf *b = arg;

	if (jv_get_kind(msg) == JV_KIND_STRING) {
		if (b->len > 0)
			kl_buf_adds(b, "; ");
		kl_buf_adds(b, jv_string_value(msg));
	}
	jv_free(msg);
}

/*
 * Prepares the partition-key lookup for field (a name, a simple path or
 * a jq program; NULL for the fallbacks alone).  Returns it, or NULL with
 * e filled: KL_ERR_CONFIG when field is empty or does not compile.
 */
struct kl_putkey *
kl_putkey_new(const char *field, struct kl_err *e)
{
	struct kl_putkey *k;

	kl_err_clear(e);
	if (field != NULL && *field == '\0') {
		kl_err_set(e, KL_ERR_CONFIG, 0, NULL, "--partition-key wants "
		    "a field name, a path or a jq program");
		return NULL;
	}
	if ((k = calloc(1, sizeof(*k))) == NULL ||
	    (field != NULL && (k->field = strdup(field)) == NULL))
		goto nomem;
	kl_buf_init(&k->msg);
	if (field == NULL || simple(field)) {
		k->path = field != NULL && strpbrk(field, ".[") != NULL;
		return k;
	}
	if ((k->jq = jq_init()) == NULL)
		goto nomem;
	jq_set_error_cb(k->jq, jq_msg, &k->msg);
	if (jq_compile(k->jq, field))
		return k;
	kl_err_set(e, KL_ERR_CONFIG, 0, NULL, "--partition-key is neither a "
	    "field name nor a jq program: '%s'%s%s", field,
	    k->msg.len ? ": " : "", k->msg.len ? k->msg.data : "");
	kl_putkey_free(k);
	return NULL;
nomem:
	kl_putkey_free(k);
	kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "%s", strerror(ENOMEM));
	return NULL;
}

/* Frees what sh holds: its key lookup, fields and buffers. */
void
kl_put_shape_free(struct kl_putshape *sh)
{
	kl_putkey_free(sh->key);
	if (sh->fields != NULL)
		free((char *)sh->fields[0]);
	free((void *)sh->fields);
	kl_buf_free(&sh->m);
	kl_buf_free(&sh->f);
	kl_buf_free(&sh->k);
	memset(sh, 0, sizeof(*sh));
}

void
kl_putkey_free(struct kl_putkey *k)
{
	if (k == NULL)
		return;
	if (k->jq != NULL)
		jq_teardown(&k->jq);
	kl_buf_free(&k->msg);
	free(k->field);
	free(k);
}

/* Takes v as the key if it is a non-empty scalar; 1 if so. */
static int
usable(struct kl_buf *out, const struct kl_jspan *v)
{
	if (!KL_JSCALAR(v->type) || v->type == KL_JNUL)
		return 0;
	kl_buf_reset(out);
	return kl_js_text(v, out) == 0 && out->len > 0;
}

/* Whether s[0..n) holds a backslash; keys are short, so no memchr call. */
static int
has_backslash(const char *s, size_t n)
{
	while (n-- > 0)
		if (*s++ == '\\')
			return 1;
	return 0;
}

/* The members kl_putkey_get looks for, found in one walk each. */
enum { M_DATA, M_FIELD, M_UID, M_UIDS, M_ID, M_N };

/*
 * Fills v[i] with the member of obj named names[i] (lens[i] bytes, NULL
 * for none; of duplicates the last, as kl_js_get; type 0 when absent).
 * One walk for all: kl_js_get walks the whole object for each name.
 */
static void
members(const struct kl_jspan *obj, const char *const *names,
    const size_t *lens, struct kl_jspan *v)
{
	struct kl_jiter it;
	struct kl_jspan k, val;
	size_t bn;
	int i, esc;

	memset(v, 0, M_N * sizeof(*v));
	if (obj->type != KL_JOBJ || kl_js_iter_init(&it, obj) == -1)
		return;
	while (kl_js_iter_next(&it, &k, &val)) {
		if (k.n < 2)
			continue;
		bn = k.n - 2;
		esc = -1;	/* not looked for yet: most keys never need it */
		for (i = 0; i < M_N; i++) {
			if (names[i] == NULL || bn < lens[i] ||
			    (bn == lens[i] && memcmp(k.p + 1, names[i], bn)))
				continue;
			if (esc == -1)
				esc = has_backslash(k.p + 1, bn);
			if (esc ? kl_js_streqn(&k, names[i], lens[i]) :
			    bn == lens[i])
				v[i] = val;
		}
	}
}

/* A field with a dot or a bracket: as a member, then as a path. */
static int
by_path(const struct kl_jspan *sc, int n, const char *name,
    struct kl_buf *out)
{
	struct kl_jspan v;
	int i;

	for (i = 0; i < n; i++)
		if ((kl_js_get(&sc[i], name, &v) && usable(out, &v)) ||
		    (kl_js_path(&sc[i], name, &v) == 1 && usable(out, &v)))
			return 1;
	return 0;
}

/* Runs the program on in (consumed); 1 if it gave a usable key. */
static int
run_jq(struct kl_putkey *k, jv in, struct kl_buf *out)
{
	jv v, s;
	int kind, ok = 0;

	jq_start(k->jq, in, 0);
	while (!ok && jv_is_valid(v = jq_next(k->jq))) {
		kind = jv_get_kind(v);
		if (kind == JV_KIND_STRING || kind == JV_KIND_NUMBER ||
		    kind == JV_KIND_TRUE || kind == JV_KIND_FALSE) {
			s = kind == JV_KIND_STRING ? jv_copy(v) :
			    jv_dump_string(jv_copy(v), 0);
			kl_buf_reset(out);
			kl_buf_add(out, jv_string_value(s),
			    (size_t)jv_string_length_bytes(jv_copy(s)));
			ok = out->len > 0;
			jv_free(s);
		}
		jv_free(v);
	}
	if (!ok)
		jv_free(v);
	return ok;
}

static int
by_program(struct kl_putkey *k, const struct kl_jspan *obj,
    struct kl_buf *out)
{
	jv in, d;

	if (obj->n > 0x7fffffff)
		return 0;
	in = jv_parse_sized(obj->p, (int)obj->n);
	if (jv_get_kind(in) != JV_KIND_OBJECT) {
		jv_free(in);
		return 0;
	}
	d = jv_object_get(jv_copy(in), jv_string("data"));
	if (jv_get_kind(d) != JV_KIND_OBJECT)
		jv_free(d);
	else if (run_jq(k, d, out)) {
		jv_free(in);
		return 1;
	}
	return run_jq(k, in, out);
}

/*
 * Puts the partition key of the object obj (a span of validated,
 * minified text) into out (reset first), cut to KL_PUT_KEY_MAX
 * characters; data[0..len) is what will be sent, hashed when no field
 * gives a key.  Returns KL_PUTKEY_FIELD (the field given), _FALLBACK
 * (_uid, _uids[0] or id) or _MD5, or -1 with errno ENOMEM.
 */
int
kl_putkey_get(struct kl_putkey *k, const struct kl_jspan *obj,
    const char *data, size_t len, struct kl_buf *out)
{
	const char *names[M_N] = { "data", NULL, "_uid", "_uids", "id" };
	size_t lens[M_N] = { 4, 0, 4, 5, 2 };
	struct kl_jspan m[2][M_N], sc[2], first;
	struct kl_jiter it;
	unsigned char md[16];
	char hex[33];
	int i, f, n = 0, r = KL_PUTKEY_MD5;

	if (k->field != NULL && k->jq == NULL && !k->path) {
		names[M_FIELD] = k->field;
		lens[M_FIELD] = strlen(k->field);
	}
	members(obj, names, lens, m[1]);
	if (m[1][M_DATA].type == KL_JOBJ) {
		members(&m[1][M_DATA], names, lens, m[0]);
		sc[n++] = m[1][M_DATA];
	} else
		memcpy(m[0], m[1], sizeof(m[0]));
	sc[n++] = *obj;
	if (k->field != NULL && (k->jq != NULL ? by_program(k, obj, out) :
	    k->path ? by_path(sc, n, k->field, out) :
	    usable(out, &m[0][M_FIELD]) || usable(out, &m[1][M_FIELD])))
		r = KL_PUTKEY_FIELD;
	for (f = M_UID; r == KL_PUTKEY_MD5 && f <= M_ID; f++)
		for (i = 0; i < 2 && r == KL_PUTKEY_MD5; i++) {
			first = m[i][f];
			if (f == M_UIDS && (kl_js_iter_init(&it, &first) == -1 ||
			    first.type != KL_JARR ||
			    !kl_js_iter_next(&it, NULL, &first)))
				continue;
			if (usable(out, &first))
				r = KL_PUTKEY_FALLBACK;
		}
	if (r == KL_PUTKEY_MD5) {
		if (kl_md5(data, len, md) == -1)
			return -1;
		kl_hex(md, sizeof(md), hex);
		kl_buf_reset(out);
		kl_buf_add(out, hex, 32);
	}
	if (out->err) {
		errno = ENOMEM;
		return -1;
	}
	out->len = kl_put_keycut(out->data, out->len, KL_PUT_KEY_MAX);
	out->data[out->len] = '\0';
	return r;
}

/*
 * The length of the longest prefix of the UTF-8 key k[0..n) that holds
 * at most max characters counted in UTF-16 units (see the top).
 */
size_t
kl_put_keycut(const char *k, size_t n, size_t max)
{
	const unsigned char *u = (const unsigned char *)k;
	size_t i = 0, units = 0, w, c;

	while (i < n) {
		c = 1;
		if (u[i] < 0x80)
			w = 1;
		else if (u[i] < 0xe0)
			w = 2;
		else if (u[i] < 0xf0)
			w = 3;
		else
			w = 4, c = 2;
		if (units + c > max || i + w > n)
			break;
		units += c;
		i += w;
	}
	return i;
}

/* Whether the member name span k is one of fields or segment_events. */
static int
kept(const struct kl_jspan *k, const char *const *fields)
{
	if (kl_js_streq(k, "segment_events"))
		return 1;
	for (; *fields != NULL; fields++)
		if (kl_js_streq(k, *fields))
			return 1;
	return 0;
}

/*
 * Appends to out the object obj (validated, minified) with its "data"
 * object cut down to the members named in fields (NULL-terminated) and
 * segment_events, in their order; the other members are copied as they
 * are.  Returns 0, or -1 with errno EINVAL (obj is no object) or ENOMEM.
 */
int
kl_put_fields(struct kl_buf *out, const struct kl_jspan *obj,
    const char *const *fields)
{
	struct kl_jiter it, dt;
	struct kl_jspan k, v, dk, dv;
	int first;

	if (obj->type != KL_JOBJ || kl_js_iter_init(&it, obj) == -1) {
		errno = EINVAL;
		return -1;
	}
	kl_buf_addc(out, '{');
	for (first = 1; kl_js_iter_next(&it, &k, &v); first = 0) {
		if (!first)
			kl_buf_addc(out, ',');
		kl_js_put_span(out, &k);
		kl_buf_addc(out, ':');
		if (v.type != KL_JOBJ || !kl_js_streq(&k, "data")) {
			kl_js_put_span(out, &v);
			continue;
		}
		kl_buf_addc(out, '{');
		kl_js_iter_init(&dt, &v);
		while (kl_js_iter_next(&dt, &dk, &dv)) {
			if (!kept(&dk, fields))
				continue;
			kl_js_put_sep(out);
			kl_js_put_span(out, &dk);
			kl_buf_addc(out, ':');
			kl_js_put_span(out, &dv);
		}
		kl_buf_addc(out, '}');
	}
	kl_buf_addc(out, '}');
	if (out->err) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

/*
 * Reads the record size limit of stream s from DescribeStreamSummary
 * (MaxRecordSizeInKiB) into *max; KL_PUT_RECORD_MAX when the peer does
 * not say or the caller may not ask (AccessDenied: a policy may allow
 * PutRecords alone).  Returns 0, or -1 with e filled (ResourceNotFound
 * for a stream that does not exist).
 */
int
kl_put_limit(struct kl_aws *a, const struct kl_stream *s, size_t *max,
    struct kl_err *e)
{
	struct kl_http_resp resp;
	struct kl_jspan sum, v;
	int64_t kib;
	int r = 0;

	*max = KL_PUT_RECORD_MAX;
	kl_http_resp_init(&resp);
	if (kl_kinesis_describe(a, s, &resp, &sum, e) == -1) {
		if (e->kind != KL_ERR_PERMANENT ||
		    (strcmp(e->code, "AccessDeniedException") != 0 &&
		    strcmp(e->code, "UnknownOperationException") != 0))
			r = -1;
		else
			kl_log(KL_INFO, 0, "cannot describe stream '%s' (%s): "
			    "records may hold 1 MiB", s->name, e->code);
	} else if (kl_js_get(&sum, "MaxRecordSizeInKiB", &v) &&
	    kl_js_i64(&v, &kib) == 0 && kib >= 1 && kib <= 1024 * 1024)
		*max = (size_t)kib * 1024;
	kl_http_resp_free(&resp);
	return r;
}

/* Makes one record of the object obj and hands it on. */
static int
one(struct kl_putshape *sh, const struct kl_jspan *obj,
    struct kl_putrec *r, const struct kl_putline_cb *cb)
{
	char why[160];
	int k;

	r->data = obj->p;
	r->dlen = obj->n;
	r->orig = NULL;
	if (sh->fields != NULL) {
		kl_buf_reset(&sh->f);
		if (kl_put_fields(&sh->f, obj, sh->fields) == -1)
			return -1;
		r->data = sh->f.data;
		r->dlen = sh->f.len;
		r->orig = obj->p;
		r->olen = obj->n;
	}
	if ((k = kl_putkey_get(sh->key, obj, r->data, r->dlen, &sh->k)) ==
	    -1)
		return -1;
	r->key = sh->k.data;
	r->klen = sh->k.len;
	if (r->dlen + r->klen > sh->record_max) {
		snprintf(why, sizeof(why), "a record of %zu bytes (data and "
		    "partition key), over the stream's limit of %zu",
		    r->dlen + r->klen, sh->record_max);
		cb->bad(cb->arg, r->input, r->line, r->index, "RecordTooLarge",
		    why, obj->p, obj->n, 1);
		return 0;
	}
	return cb->put(cb->arg, r, k);
}

/*
 * Turns one input line into records (contract 5.3): an object, or an
 * array of objects, minified.  Calls cb->put for each record (its key
 * kind as kl_putkey_get gives it; the strings live until the next call)
 * and cb->bad for what cannot be one (kl_putbad_fn: input, line, index
 * or -1, code, message, the text and whether it is JSON): invalid JSON,
 * a value that is no object, a record over sh->record_max.  Returns
 * 0, or -1 with errno ENOMEM or as cb->put set it.
 */
int
kl_put_line(struct kl_putshape *sh, const char *line, size_t len,
    const char *input, long lineno, const struct kl_putline_cb *cb)
{
	struct kl_jspan top, el;
	struct kl_jiter it;
	struct kl_jerr je;
	struct kl_putrec r;
	char why[96];

	memset(&r, 0, sizeof(r));
	r.input = input;
	r.line = lineno;
	r.index = -1;
	kl_buf_reset(&sh->m);
	if (kl_js_minify(&sh->m, line, len, NULL, &je) == -1) {
		if (je.code == KL_JE_NOMEM)
			return -1;
		snprintf(why, sizeof(why), "not JSON: %s", je.msg);
		cb->bad(cb->arg, input, lineno, -1, "InvalidJSON", why, line,
		    len, 0);
		return 0;
	}
	top.p = sh->m.data;
	top.n = sh->m.len;
	top.type = *top.p == '{' ? KL_JOBJ : *top.p == '[' ? KL_JARR : 0;
	if (top.type == KL_JOBJ)
		return one(sh, &top, &r, cb);
	if (top.type != KL_JARR) {
		cb->bad(cb->arg, input, lineno, -1, "NotAnObject",
		    "not a JSON object", top.p, top.n, 1);
		return 0;
	}
	kl_js_iter_init(&it, &top);
	for (r.index = 0; kl_js_iter_next(&it, NULL, &el); r.index++)
		if (el.type != KL_JOBJ)
			cb->bad(cb->arg, input, lineno, r.index,
			    "NotAnObject", "not a JSON object", el.p, el.n, 1);
		else if (one(sh, &el, &r, cb) == -1)
			return -1;
	return 0;
}

/* Copies s[0..n) as a JSON string to o; NULL if it needs escapes. */
static char *
put_str(char *o, const char *s, size_t n)
{
	size_t i;

	*o++ = '"';
	for (i = 0; i < n; i++) {
		if ((unsigned char)s[i] < 0x20 || s[i] == '"' || s[i] == '\\')
			return NULL;
		*o++ = s[i];
	}
	*o++ = '"';
	return o;
}

/* Writes the decimal v (>= 0) to o. */
static char *
put_num(char *o, long v)
{
	char d[24], *p = d + sizeof(d);

	do
		*--p = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	memcpy(o, p, (size_t)(d + sizeof(d) - p));
	return o + (d + sizeof(d) - p);
}
#define PUT(o, lit)	(memcpy(o, lit, sizeof(lit) - 1), o + sizeof(lit) - 1)

/*
 * Appends the put acknowledgement (contract 5.4) of record r, in the
 * stream at shard and seq (string spans), to b: {"line":N, "input" for a
 * named file, "index" for an element of an array line, "partition_key",
 * "shard_id", "sequence_number"}, and a newline.  Written in place:
 * vsnprintf and appends cost more than the rest of a record's way out.
 * On ENOMEM b->err is set.
 */
void
kl_put_ack(struct kl_buf *b, const struct kl_putrec *r,
    const struct kl_jspan *shard, const struct kl_jspan *seq)
{	int in = strcmp(r->input, "<stdin>") != 0;
	size_t il = in ? strlen(r->input) : 0, start = b->len;
	char *o;

	if (kl_buf_reserve(b, 160 + il + r->klen + shard->n + seq->n) == -1)
		return;
	o = PUT(b->data + b->len, "{\"line\":");
	o = put_num(o, r->line);
	if (in && (o = put_str(PUT(o, ",\"input\":"), r->input, il)) == NULL)
		goto slow;
	if (r->index >= 0)
		o = put_num(PUT(o, ",\"index\":"), r->index);
	if ((o = put_str(PUT(o, ",\"partition_key\":"), r->key,
	    r->klen)) == NULL)
		goto slow;
	o = PUT(o, ",\"shard_id\":");
	memcpy(o, shard->p, shard->n);
	o = PUT(o + shard->n, ",\"sequence_number\":");
	memcpy(o, seq->p, seq->n);
	o = PUT(o + seq->n, "}\n");
	b->len = (size_t)(o - b->data);
	b->data[b->len] = '\0';
	return;
slow:
	b->len = start;
	kl_buf_addf(b, "{\"line\":%ld", r->line);
	if (in) {
		kl_buf_adds(b, ",\"input\":");
		kl_buf_add_jstr(b, r->input, il);
	}
	if (r->index >= 0)
		kl_buf_addf(b, ",\"index\":%ld", r->index);
	kl_buf_adds(b, ",\"partition_key\":");
	kl_buf_add_jstr(b, r->key, r->klen);
	kl_buf_adds(b, ",\"shard_id\":");
	kl_js_put_span(b, shard);
	kl_buf_adds(b, ",\"sequence_number\":");
	kl_js_put_span(b, seq);
	kl_buf_adds(b, "}\n");
}

/*
 * Appends the PutRecords entry of record r to b, after a comma unless
 * first: {"Data":"<base64>","PartitionKey":"..."}.
 */
void
kl_put_entry(struct kl_buf *b, const struct kl_putrec *r, int first)
{
	size_t k;

	if (!first)
		kl_buf_addc(b, ',');
	kl_buf_add(b, "{\"Data\":\"", 9);
	kl_base64_enc(b, (const unsigned char *)r->data, r->dlen);
	kl_buf_add(b, "\",\"PartitionKey\":", 17);
	for (k = 0; k < r->klen; k++)
		if ((unsigned char)r->key[k] < 0x20 || r->key[k] == '"' ||
		    r->key[k] == '\\')
			break;
	if (k < r->klen)
		kl_buf_add_jstr(b, r->key, r->klen);
	else {
		kl_buf_addc(b, '"');
		kl_buf_add(b, r->key, r->klen);
		kl_buf_addc(b, '"');
	}
	kl_buf_addc(b, '}');
}

/*
 * Reads one PutRecords result res (a span of validated text): its string
 * members ErrorCode, ErrorMessage, ShardId and SequenceNumber into
 * f[0..3] (type 0 when absent or not strings), in one walk.
 */
void
kl_put_result(const struct kl_jspan *res, struct kl_jspan *f)
{
	static const struct {
		const char	*name;
		size_t		 len;
	} names[4] = {
		{ "ErrorCode", 9 }, { "ErrorMessage", 12 }, { "ShardId", 7 },
		{ "SequenceNumber", 14 },
	};
	struct kl_jiter ji;
	struct kl_jspan k, v;
	int i, esc;

	memset(f, 0, 4 * sizeof(*f));
	if (res->type != KL_JOBJ || kl_js_iter_init(&ji, res) == -1)
		return;
	while (kl_js_iter_next(&ji, &k, &v)) {
		if (v.type != KL_JSTR || k.n < 2)
			continue;
		/* Names as AWS writes them compare as bytes. */
		esc = memchr(k.p, '\\', k.n) != NULL;
		for (i = 0; i < 4; i++)
			if (esc ? kl_js_streqn(&k, names[i].name,
			    names[i].len) : k.n == names[i].len + 2 &&
			    memcmp(k.p + 1, names[i].name, names[i].len) == 0) {
				f[i] = v;
				break;
			}
	}
}

/* Copies the text of the string span v (or "") into out, cut to fit. */
void
kl_put_text(char *out, size_t cap, const struct kl_jspan *v)
{
	struct kl_buf b;

	kl_buf_init(&b);
	if (v->type == KL_JSTR)
		kl_js_text(v, &b);
	snprintf(out, cap, "%s", b.err || b.data == NULL ? "" : b.data);
	kl_buf_free(&b);
}

/*
 * Splits arg, field names separated by commas, into *out: a
 * NULL-terminated array whose first element owns the strings (free both).
 * Returns 0, or -1 with errno EINVAL (an empty name) or ENOMEM.
 */
int
kl_put_fields_parse(const char *arg, char ***out)
{
	char *copy = NULL, *f;
	size_t n = 2;

	for (f = (char *)arg; *f != '\0'; f++)
		n += *f == ',';
	if ((*out = calloc(n, sizeof(**out))) == NULL ||
	    (copy = strdup(arg)) == NULL) {
		free(*out);
		*out = NULL;
		return -1;
	}
	for (n = 0; (f = strsep(&copy, ",")) != NULL; n++)
		(*out)[n] = f;
	for (n = 0; (*out)[n] != NULL; n++)
		if (*(*out)[n] == '\0') {
			free((*out)[0]);
			free(*out);
			*out = NULL;
			errno = EINVAL;
			return -1;
		}
	return 0;
}

/*
 * After a halt: hands each line left in ins to bad (its input, "<stdin>"
 * for "-", line, index -1, code NotDelivered, message msg, the line, and
 * whether it is JSON) until the input ends, stays quiet for wait_ms, or
 * a stop signal arrives.  Returns how many.
 */
long
kl_put_drain(struct kl_inputs *ins, long wait_ms, const char *msg,
    kl_putbad_fn bad, void *arg)
{
	long n = 0;
	size_t len;
	char *line;
	int r;

	while (!kl_stopping()) {
		if (ins->open && kl_in_wait(&ins->in, wait_ms) != 1)
			break;
		if ((r = kl_inputs_line(ins, &line, &len)) == 0)
			break;
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			break;
		bad(arg, strcmp(ins->paths[ins->i - 1], "-") == 0 ? "<stdin>" :
		    ins->paths[ins->i - 1], ins->in.line, -1, "NotDelivered",
		    msg, line, len, kl_js_parse(line, len, NULL, NULL) == 0);
		n++;
	}
	return n;
}
