/*
 * t-audience.c - tests for audevent.c, the pure parts of the audience
 * reader: member keys (the default _uid-then-email order, numbers, empty and
 * non-scalar values), the fields an event carries (--fields order, the key
 * field kept, segment_events dropped, duplicated names resolved as libjq
 * does, with and without escapes, in small and large profiles), the trigger
 * event of contract 5.3 byte for byte, and the subscription id.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kl.h"
#include "tap.h"

static struct kl_jspan
span(const char *s)
{
	struct kl_jspan v;

	if (kl_js_parse(s, strlen(s), &v, NULL) == -1) {
		printf("Bail out! bad test JSON: %s\n", s);
		exit(1);
	}
	return v;
}

static void
key(const char *profile, const char *field, int want_r, const char *want,
    const char *want_used)
{
	struct kl_jspan p = span(profile);
	const char *used = NULL;
	struct kl_buf b;
	int r;

	kl_buf_init(&b);
	kl_buf_reserve(&b, 1);
	r = kl_audience_key(&p, field, &b, &used);
	is_int(r, want_r, "key of %s (%s): found", profile, field ? field :
	    "default");
	if (want_r == 1) {
		is_str(b.data, want, "key of %s: value", profile);
		is_str(used, want_used, "key of %s: field", profile);
	}
	kl_buf_free(&b);
}

static void
fields(const char *profile, const char *const *f, const char *keyf,
    const char *want)
{
	struct kl_jspan p = span(profile);
	struct kl_buf b;

	kl_buf_init(&b);
	ok(kl_audience_fields(&b, &p, f, keyf) == 0 && strcmp(b.data, want) ==
	    0, "fields of %s", profile);
	if (strcmp(b.data, want) != 0)
		diag("got %s, want %s", b.data, want);
	kl_buf_free(&b);
}

/* A profile of n members "fI":I, with "f<dup>" again at the end. */
static char *
big_profile(int n, int dup)
{
	struct kl_buf b;
	int i;

	kl_buf_init(&b);
	kl_buf_addc(&b, '{');
	for (i = 0; i < n; i++)
		kl_buf_addf(&b, "%s\"f%d\":%d", i ? "," : "", i, i);
	if (dup >= 0)
		kl_buf_addf(&b, ",\"f%d\":\"last\"", dup);
	kl_buf_addc(&b, '}');
	return kl_buf_steal(&b);
}

int
main(void)
{
	static const char *const f1[] = { "first_name", "email", "nosuch",
	    "first_name", "_uid", "segment_events", NULL };
	struct kl_audience a;
	struct kl_buf b, w;
	const char *ids[] = { "bbb", "aaa", "bbb" };
	char sub[33], *p, *q;

	key("{\"_uid\":\"u-1\",\"email\":\"a@x\"}", NULL, 1, "u-1", "_uid");
	key("{\"email\":\"a@x\"}", NULL, 1, "a@x", "email");
	key("{\"_uid\":\"\",\"email\":\"a@x\"}", NULL, 1, "a@x", "email");
	key("{\"_uid\":null,\"email\":[1]}", NULL, 0, NULL, NULL);
	key("{\"crm\":12345678901234567890}", "crm", 1,
	    "12345678901234567890", "crm");
	key("{\"crm\":\"a\\u00e9\\n\"}", "crm", 1, "a\xc3\xa9\n", "crm");
	key("{\"crm\":true,\"_uid\":\"u\"}", "crm", 0, NULL, NULL);

	fields("{\"_uid\":\"u\",\"n\":1.10,\"segment_events\":[1],\"x\":{}}",
	    NULL, NULL, "{\"_uid\":\"u\",\"n\":1.10,\"x\":{}}");
	fields("{}", NULL, NULL, "{}");
	fields("{\"segment_events\":[]}", NULL, NULL, "{}");
	fields("{\"a\":1,\"b\":2,\"a\":3}", NULL, NULL, "{\"b\":2,\"a\":3}");
	fields("{\"a\":1,\"\\u0061\":3}", NULL, NULL, "{\"\\u0061\":3}");
	fields("{\"_uid\":\"u\",\"email\":\"e\",\"first_name\":\"F\","
	    "\"segment_events\":[]}", f1, "_uid",
	    "{\"_uid\":\"u\",\"first_name\":\"F\",\"email\":\"e\"}");
	fields("{\"email\":\"e\",\"first_name\":\"F\"}", f1, "email",
	    "{\"email\":\"e\",\"first_name\":\"F\"}");
	fields("{\"a\":1}", f1, "_uid", "{}");
	p = big_profile(300, -1);
	q = big_profile(300, -1);
	fields(p, NULL, NULL, q);
	free(p);
	free(q);
	p = big_profile(40, -1);
	q = big_profile(40, -1);
	fields(p, NULL, NULL, q);
	free(p);
	p = big_profile(40, 7);
	kl_buf_init(&w);
	kl_buf_adds(&w, q);
	w.len--;		/* the expected text: f7 moved to the end */
	kl_buf_addf(&w, ",\"f7\":\"last\"}");
	memmove(strstr(w.data, "\"f7\":7,"), strstr(w.data, "\"f7\":7,") + 7,
	    strlen(strstr(w.data, "\"f7\":7,") + 7) + 1);
	fields(p, NULL, NULL, w.data);
	kl_buf_free(&w);
	free(p);
	free(q);

	memset(&a, 0, sizeof(a));
	a.id = (char *)"efdcc4da20554be02e90c563f69bc0ec";
	a.slug = (char *)"high_value";
	kl_buf_init(&b);
	p = (char *)"{\"email\":\"a@example.com\",\"_uid\":\"u-1\"}";
	ok(kl_audience_event(&b, &a, KL_MEMBERS_ENTER, "u-1", 3, p, strlen(p),
	    1795970794, 1795970795, "f825f096718d07c65b9d6a94a4cc0c35") == 0,
	    "enter");
	is_str(b.data, "{\"id\":\"11962841256968776916\",\"data\":{\"email\":"
	    "\"a@example.com\",\"_uid\":\"u-1\",\"segment_events\":[{\"id\":"
	    "\"efdcc4da20554be02e90c563f69bc0ec\",\"slug\":\"high_value\","
	    "\"event\":\"enter\",\"enter\":\"2026-11-29T16:46:34Z\"}]},"
	    "\"meta\":{\"object\":\"user\",\"subscription_id\":"
	    "\"f825f096718d07c65b9d6a94a4cc0c35\",\"timestamp\":"
	    "\"2026-11-29T16:46:35Z\"}}", "enter: contract 5.3 byte for byte");
	kl_buf_reset(&b);
	ok(kl_audience_event(&b, &a, KL_MEMBERS_EXIT, "u-1", 3, "{}", 2,
	    1795970794, 1795970795, "s\"1") == 0, "exit");
	is_str(b.data, "{\"id\":\"11962841256968776916\",\"data\":{"
	    "\"segment_events\":[{\"id\":\"efdcc4da20554be02e90c563f69bc0ec\","
	    "\"slug\":\"high_value\",\"event\":\"exit\",\"exit\":"
	    "\"2026-11-29T16:46:34Z\"}]},\"meta\":{\"object\":\"user\","
	    "\"subscription_id\":\"s\\\"1\",\"timestamp\":"
	    "\"2026-11-29T16:46:35Z\"}}", "exit: same id, exit time, escaped");
	kl_buf_reset(&b);
	errno = 0;
	ok(kl_audience_event(&b, &a, KL_MEMBERS_EXIT, "u", 1, "[]", 2, 0, 0,
	    "s") == -1 && errno == EINVAL, "fields that are no object: EINVAL");
	kl_buf_free(&b);

	ok(kl_audience_subscription(sub, ids, 3) == 0, "subscription id");
	is_str(sub, "8b652b8c79f357694a04bd793f533c96",
	    "subscription id: MD5 of \"aaa\\nbbb\\n\"");
	return done_testing();
}
