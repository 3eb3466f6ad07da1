/*
 * audevent.c - what kl-read-audience makes of a profile: its member key,
 * the fields its events carry, and the trigger event in Lytics' default
 * payload (contract 5.3, lytics-api.md 6.2 and 8.1), with the
 * subscription id.  These are pure functions over jscan spans and
 * buffers, kept apart from audience.c, which talks to Lytics and keeps
 * the state of each audience.
 *
 * Design decisions:
 *
 * - The event "id" is the first 8 bytes of MD5(member key) as a decimal
 *   uint64: one user's enter and exit share it, as in Lytics' examples
 *   (lytics-api.md 8.1).  The subscription id is MD5 of the sorted,
 *   distinct audience ids, each followed by a newline.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "kl.h"

#define DUP_KEYS	256	/* names checked for duplicates by hashing */
#define DUP_PAIRWISE	16	/* up to this many, compared pairwise */

/*
 * Profiles.
 */

/*
 * Appends the member key of profile (an object span) to out: the value of
 * field, or, with field NULL, of "_uid", else "email"; a non-empty string
 * (unescaped) or a number (as written).  Returns 1 and points *used at
 * the field's name, 0 when the profile has no such value, or -1 with
 * errno ENOMEM.
 */
int
kl_audience_key(const struct kl_jspan *profile, const char *field,
    struct kl_buf *out, const char **used)
{
	static const char *const dflt[] = { "_uid", "email", NULL };
	const char *one[2];
	const char *const *f;
	struct kl_jspan v;

	one[0] = field;
	one[1] = NULL;
	for (f = field != NULL ? one : dflt; *f != NULL; f++) {
		if (!kl_js_get(profile, *f, &v) || !(v.type == KL_JNUM ||
		    (v.type == KL_JSTR && v.n > 2)))
			continue;
		if (kl_js_text(&v, out) == -1)
			return -1;
		*used = *f;
		return 1;
	}
	return 0;
}

static uint32_t
fnv(const char *p, size_t n)
{
	uint32_t h = 2166136261u;

	while (n-- > 0)
		h = (h ^ (unsigned char)*p++) * 16777619u;
	return h;
}

static int
span_eq(const struct kl_jspan *a, const struct kl_jspan *b)
{
	return a->n == b->n && memcmp(a->p, b->p, a->n) == 0;
}

/*
 * Whether obj may hold a member name twice.  Exact for names without
 * escapes; a name with a backslash, or too many names, says "maybe".
 */
static int
may_dup(const struct kl_jspan *obj)
{
	struct kl_jspan k[DUP_KEYS], kk, v;
	uint16_t tab[2 * DUP_KEYS];
	struct kl_jiter it;
	size_t n = 0, i, j, h;

	kl_js_iter_init(&it, obj);
	while (kl_js_iter_next(&it, &kk, &v)) {
		if (n == DUP_KEYS || memchr(kk.p, '\\', kk.n) != NULL)
			return 1;
		k[n++] = kk;
	}
	if (n <= DUP_PAIRWISE) {
		for (i = 1; i < n; i++)
			for (j = 0; j < i; j++)
				if (span_eq(&k[i], &k[j]))
					return 1;
		return 0;
	}
	memset(tab, 0, sizeof(tab));
	for (i = 0; i < n; i++) {
		h = fnv(k[i].p, k[i].n) & (2 * DUP_KEYS - 1);
		for (; tab[h] != 0; h = (h + 1) & (2 * DUP_KEYS - 1))
			if (span_eq(&k[tab[h] - 1], &k[i]))
				return 1;
		tab[h] = (uint16_t)(i + 1);
	}
	return 0;
}

/* Copies every member of obj but segment_events, the last of duplicates. */
static void
copy_all(struct kl_buf *out, const struct kl_jspan *obj)
{
	struct kl_jspan k, v, last;
	struct kl_jiter it;
	struct kl_buf name;
	int dups = may_dup(obj);

	kl_buf_init(&name);
	kl_js_iter_init(&it, obj);
	while (kl_js_iter_next(&it, &k, &v)) {
		if (kl_js_streq(&k, "segment_events"))
			continue;
		if (dups) {
			kl_buf_reset(&name);
			if (kl_js_str(&k, &name) == -1) {
				out->err = 1;
				break;
			}
			if (kl_js_getn(obj, name.data != NULL ? name.data : "",
			    name.len, &last) && last.p != v.p)
				continue;
		}
		kl_js_put_sep(out);
		kl_js_put_span(out, &k);
		kl_buf_addc(out, ':');
		kl_js_put_span(out, &v);
	}
	kl_buf_free(&name);
}

/* Copies the member name of obj unless absent or copied already. */
static void
copy_one(struct kl_buf *out, const struct kl_jspan *obj, const char *name,
    const char *const *before, size_t n)
{
	struct kl_jspan v;
	size_t i;

	if (strcmp(name, "segment_events") == 0)
		return;
	for (i = 0; i < n; i++)
		if (strcmp(before[i], name) == 0)
			return;
	if (!kl_js_get(obj, name, &v))
		return;
	kl_js_put_key(out, name);
	kl_js_put_span(out, &v);
}

/*
 * Appends profile (an object span of compact JSON) as an event's data
 * carries it, without segment_events: with fields NULL every member in
 * order; else the key field keyf (if not NULL), then the members named
 * by fields (NULL-terminated), in that order, each once.  Of duplicated
 * member names the last counts, as in libjq.  Returns 0, or -1 with
 * errno ENOMEM (out->err set).
 */
int
kl_audience_fields(struct kl_buf *out, const struct kl_jspan *profile,
    const char *const *fields, const char *keyf)
{
	size_t i;

	kl_buf_addc(out, '{');
	if (fields == NULL)
		copy_all(out, profile);
	else {
		if (keyf != NULL)
			copy_one(out, profile, keyf, NULL, 0);
		for (i = 0; fields[i] != NULL; i++)
			if (keyf == NULL || strcmp(fields[i], keyf) != 0)
				copy_one(out, profile, fields[i], fields, i);
	}
	kl_buf_addc(out, '}');
	if (out->err) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

/*
 * Appends one trigger event (contract 5.3) to out, without a newline: ev
 * (KL_MEMBERS_ENTER or KL_MEMBERS_EXIT) of the member key[0..klen) of
 * audience a, whose data are fields[0..flen) (a compact JSON object, as
 * kl_audience_fields makes it); when is the enter or exit time, now the
 * meta.timestamp, sub the subscription id.  Returns 0, or -1 with errno
 * EINVAL (fields is no object) or ENOMEM.
 */
int
kl_audience_event(struct kl_buf *out, const struct kl_audience *a, int ev,
    const char *key, size_t klen, const char *fields, size_t flen,
    time_t when, time_t now, const char *sub)
{
	const char *what = ev == KL_MEMBERS_EXIT ? "exit" : "enter";
	unsigned char md[16];
	uint64_t id = 0;
	char t[40];
	int i;

	if (flen < 2 || fields[0] != '{' || fields[flen - 1] != '}') {
		errno = EINVAL;
		return -1;
	}
	if (kl_md5(key, klen, md) == -1)
		return -1;
	for (i = 0; i < 8; i++)
		id = id << 8 | md[i];
	kl_buf_addf(out, "{\"id\":\"%" PRIu64 "\",\"data\":", id);
	kl_buf_add(out, fields, flen - 1);
	if (flen > 2)
		kl_buf_addc(out, ',');
	kl_buf_adds(out, "\"segment_events\":[{\"id\":");
	kl_buf_add_jstr(out, a->id, strlen(a->id));
	kl_buf_adds(out, ",\"slug\":");
	kl_buf_add_jstr(out, a->slug, strlen(a->slug));
	kl_time_fmt(t, sizeof(t), when, -1);
	kl_buf_addf(out, ",\"event\":\"%s\",\"%s\":\"%s\"}]},\"meta\":"
	    "{\"object\":\"user\",\"subscription_id\":", what, what, t);
	kl_buf_add_jstr(out, sub, strlen(sub));
	kl_time_fmt(t, sizeof(t), now, -1);
	kl_buf_addf(out, ",\"timestamp\":\"%s\"}}", t);
	if (out->err) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

static int
strpcmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * Writes into out (33 bytes) the subscription id of the n audience ids:
 * the MD5 hex of the distinct ids, sorted, each followed by a newline.
 * Returns 0, or -1 with errno.
 */
int
kl_audience_subscription(char *out, const char *const *ids, size_t n)
{
	const char **s;
	unsigned char md[16];
	struct kl_buf b;
	size_t i;
	int r = -1;

	if ((s = calloc(n + 1, sizeof(*s))) == NULL)
		return -1;
	memcpy(s, ids, n * sizeof(*s));
	qsort(s, n, sizeof(*s), strpcmp);
	kl_buf_init(&b);
	kl_buf_reserve(&b, 1);
	for (i = 0; i < n; i++)
		if (i == 0 || strcmp(s[i], s[i - 1]) != 0)
			kl_buf_addf(&b, "%s\n", s[i]);
	if (b.err)
		errno = ENOMEM;
	else if (kl_md5(b.data, b.len, md) == 0) {
		kl_hex(md, sizeof(md), out);
		r = 0;
	}
	kl_buf_free(&b);
	free(s);
	return r;
}
