/*
 * json.c - kind-checked getters over libjq's jv, for the cold paths that
 * read small JSON documents once: credential records, the kl-auth store,
 * API replies (house style §6.3).
 *
 * libjq 1.6 assert()s when an accessor meets the wrong kind, so every
 * lookup goes through here and checks first.  Ownership follows jv.h:
 * the object passed in is never consumed (we jv_copy it before each
 * consuming call), and what comes out is either a malloc'd C string or a
 * pointer valid while a returned holder jv lives.
 *
 * Errors are errno values, so callers can word the message: ENOENT for a
 * member that is absent or null, EINVAL for one of the wrong kind or out
 * of range, ENOMEM.  Parse errors never quote the input: libjq's message
 * ends in "(while parsing '...')" with the token text, which could be part
 * of a secret, and that tail is cut off.
 */
#include <config.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jv.h>		/* before kl.h: it declares json.c's API */

#include "kl.h"

/*
 * Parses the n bytes at p as one JSON object into *out (the caller frees
 * it with jv_free).  Returns 0, or -1 with a reason in why (never a piece
 * of the input) and *out left invalid.
 */
int
kl_json_parse_obj(const char *p, size_t n, jv *out, char *why, size_t whysz)
{
	const char *m, *cut;
	jv v, msg;

	*out = jv_invalid();
	if (n > INT_MAX) {
		snprintf(why, whysz, "too large");
		return -1;
	}
	v = jv_parse_sized(p, (int)n);
	if (!jv_is_valid(v)) {
		msg = jv_invalid_get_msg(v);
		if (jv_get_kind(msg) == JV_KIND_STRING) {
			m = jv_string_value(msg);
			if ((cut = strstr(m, " (while parsing")) == NULL)
				cut = m + strlen(m);
			snprintf(why, whysz, "not valid JSON: %.*s",
			    (int)(cut - m), m);
		} else
			snprintf(why, whysz, "not valid JSON");
		jv_free(msg);
		return -1;
	}
	if (jv_get_kind(v) != JV_KIND_OBJECT) {
		jv_free(v);
		snprintf(why, whysz, "not a JSON object");
		return -1;
	}
	*out = v;
	return 0;
}

/* Returns obj[key] (a new reference), or an invalid jv if obj is no object. */
static jv
member(jv obj, const char *key)
{
	if (jv_get_kind(obj) != JV_KIND_OBJECT)
		return jv_invalid();
	return jv_object_get(jv_copy(obj), jv_string(key));
}

/*
 * Looks up the string obj[key].  obj is not consumed.  On success *out
 * points into *holder and stays valid until the caller's jv_free(*holder).
 * Returns 0, or -1 with errno ENOENT (absent or null) or EINVAL (not a
 * string); *holder then needs no freeing.
 */
int
kl_json_str(jv obj, const char *key, jv *holder, const char **out)
{
	jv v = member(obj, key);

	*holder = jv_invalid();
	*out = NULL;
	switch (jv_get_kind(v)) {
	case JV_KIND_STRING:
		*holder = v;
		*out = jv_string_value(v);
		return 0;
	case JV_KIND_INVALID:
	case JV_KIND_NULL:
		jv_free(v);
		errno = ENOENT;
		return -1;
	default:
		jv_free(v);
		errno = EINVAL;
		return -1;
	}
}

/*
 * Like kl_json_str, but *out is a malloc'd copy the caller frees.
 * Returns 0, or -1 with errno ENOENT, EINVAL or ENOMEM (*out NULL).
 */
int
kl_json_dup(jv obj, const char *key, char **out)
{
	const char *s;
	jv h;

	*out = NULL;
	if (kl_json_str(obj, key, &h, &s) == -1)
		return -1;
	*out = strdup(s);
	jv_free(h);
	return *out == NULL ? -1 : 0;
}

/*
 * Reads obj[key] as a whole number in [min, max] into *out.  obj is not
 * consumed.  Returns 0, or -1 with errno ENOENT (absent or null) or
 * EINVAL (not a number, not whole, out of range).
 */
int
kl_json_long(jv obj, const char *key, long min, long max, long *out)
{
	jv v = member(obj, key);
	double d;
	int kind = jv_get_kind(v);

	if (kind == JV_KIND_INVALID || kind == JV_KIND_NULL) {
		jv_free(v);
		errno = ENOENT;
		return -1;
	}
	if (kind != JV_KIND_NUMBER) {
		jv_free(v);
		errno = EINVAL;
		return -1;
	}
	d = jv_number_value(v);
	jv_free(v);
	if (!(d >= (double)min && d <= (double)max) || d != (double)(long)d) {
		errno = EINVAL;
		return -1;
	}
	*out = (long)d;
	return 0;
}
