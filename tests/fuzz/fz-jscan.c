/*
 * fz-jscan.c - libFuzzer target for jscan.c and jread.c.
 *
 * Each input is checked three ways:
 *
 * - differentially against libjq 1.6 with the oracle of
 *   tests/unit/t-jscan.c (included below, so the documented exceptions
 *   live in one place): kl and libjq agree on acceptance up to those
 *   exceptions, read the same strings, numbers, members and elements,
 *   every iterated member can be looked up and reached by path, and
 *   minify(x) parses, reads the same in libjq and is a fixed point;
 * - when the input is "PATH\nJSON" and the JSON is valid, kl_js_path
 *   follows PATH, and what it finds must parse on its own;
 * - the readers, which trust their spans, are run on the raw bytes as if
 *   they were a validated container or string: the answers mean nothing,
 *   but AddressSanitizer sees any access outside the input.
 *
 * Build and run (Debian 12, clang 14):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -I/tmp/cfg -Ilib \
 *       lib/jscan.c lib/jread.c lib/buf.c tests/fuzz/fz-jscan.c -ljq -o fz
 *   ./fz -max_total_time=60
 */
#include <config.h>

#define KL_JSCAN_ORACLE_ONLY
#include "../unit/t-jscan.c"

#include <stdio.h>

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/*
 * libjq 1.6 leaks when a string follows a value without a separator
 * ('[1 "a"]'), and after every leaking input libFuzzer rescans the heap:
 * 200 inputs a second instead of thousands.  So the per-input leak check
 * is off unless -detect_leaks is given; the check LeakSanitizer makes at
 * exit still runs, with libjq's leaks suppressed by t-jscan.c.
 */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static char off[] = "-detect_leaks=0";
	static char *args[256];
	int i;

	for (i = 1; i < *argc; i++)
		if (strncmp((*argv)[i], "-detect_leaks=", 14) == 0)
			return 0;
	if (*argc >= 255)
		return 0;
	for (i = 0; i < *argc; i++)
		args[i] = (*argv)[i];
	args[i++] = off;
	args[i] = NULL;
	*argc = i;
	*argv = args;
	return 0;
}

/* Exercises the readers on an arbitrary span; results are ignored. */
static void
walk(const struct kl_jspan *v, struct kl_buf *b, int depth)
{
	struct kl_jiter it;
	struct kl_jspan k, e, hit;
	int64_t i;
	double d;

	kl_buf_reset(b);
	kl_js_str(v, b);
	kl_js_text(v, b);
	kl_js_streq(v, "a");
	kl_js_i64(v, &i);
	kl_js_double(v, &d);
	if (depth > 16 || kl_js_iter_init(&it, v) != 0)
		return;
	while (kl_js_iter_next(&it, &k, &e)) {
		if (v->type == KL_JOBJ) {
			kl_buf_reset(b);
			kl_js_str(&k, b);
			if (b->data != NULL)
				kl_js_getn(v, b->data, b->len, &hit);
			kl_js_path(v, "a.b[1]", &hit);
		}
		walk(&e, b, depth + 1);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *nl, *r;
	struct kl_jspan top, hit, raw;
	struct kl_buf b;
	char *path;

	if (size > 65536)
		return 0;
	if ((r = differ(p, size)) != NULL) {
		fprintf(stderr, "fz-jscan: %s\n", r);
		abort();
	}
	kl_buf_init(&b);
	if ((nl = memchr(p, '\n', size)) != NULL &&
	    kl_js_parse(nl + 1, size - (size_t)(nl - p) - 1, &top, NULL) == 0 &&
	    (path = strndup(p, (size_t)(nl - p))) != NULL) {
		if (kl_js_path(&top, path, &hit) == 1 &&
		    (hit.p < top.p || hit.p + hit.n > top.p + top.n ||
		    kl_js_parse(hit.p, hit.n, NULL, NULL) != 0)) {
			fprintf(stderr, "fz-jscan: bad path result\n");
			abort();
		}
		free(path);
	}
	if (size >= 1) {
		raw.p = p;
		raw.n = size;
		raw.type = *p == '{' ? KL_JOBJ : *p == '[' ? KL_JARR :
		    *p == '"' ? KL_JSTR : KL_JNUM;
		walk(&raw, &b, 0);
	}
	kl_buf_free(&b);
	return 0;
}
