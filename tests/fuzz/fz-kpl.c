/*
 * fz-kpl.c - libFuzzer target for the KPL aggregate unpacker (kpl.c).
 *
 * Each input is tried twice: as the Data of a Kinesis record as it is,
 * and as a protobuf body sealed here with the magic and a correct MD5, so
 * that the fuzzer reaches the parser behind the digest (it could never
 * forge an MD5 itself).  Both copies sit in heap blocks of exactly their
 * size, so AddressSanitizer sees any read past the end.
 *
 * Checked for every input: open succeeds only for something is_agg
 * accepts; every span of every record lies inside the protobuf; the
 * sub-sequence numbers run 0, 1, ...; kl_kpl_next delivers exactly
 * k.nrec records and then keeps returning 0; a second open of the same
 * bytes gives the same records (the handle's reused table is not stale).
 * A seed corpus: the protobuf bodies of the .bin files in tests/data/kpl
 * (strip the first 4 and last 16 bytes).
 */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kl.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int
inside(const void *s, size_t n, const unsigned char *lo,
    const unsigned char *hi)
{
	const unsigned char *p = s;

	return p >= lo && p <= hi && n <= (size_t)(hi - p);
}

/* Unpacks p fully, checking the invariants; returns a digest of it. */
static uint64_t
run(struct kl_kpl *k, const unsigned char *p, size_t n)
{
	struct kl_kpl_rec r;
	uint64_t i = 0, h = 1469598103934665603ULL;
	int rc;

	if (kl_kpl_open(k, p, n) == -1) {
		if (errno != ENOMSG && errno != EBADMSG)
			abort();
		if (kl_kpl_next(k, &r) != -1)
			abort();
		return 0;
	}
	if (!kl_kpl_is_agg(p, n) || k->nrec == 0)
		abort();
	while ((rc = kl_kpl_next(k, &r)) == 1) {
		if (r.sub != i++ ||
		    !inside(r.pk, r.pk_len, k->msg, k->end) ||
		    !inside(r.data, r.data_len, k->msg, k->end) ||
		    (r.ehk != NULL && !inside(r.ehk, r.ehk_len, k->msg,
		    k->end)) || (r.ehk == NULL && r.ehk_len != 0))
			abort();
		h = (h ^ (uint64_t)(r.pk - (const char *)p)) * 1099511628211ULL;
		h = (h ^ (uint64_t)(r.data - p)) * 1099511628211ULL;
		h = (h ^ r.data_len) * 1099511628211ULL;
		h = (h ^ (r.ehk ? (uint64_t)(r.ehk - (const char *)p) : 0)) *
		    1099511628211ULL;
	}
	if (rc != 0 || i != k->nrec || kl_kpl_next(k, &r) != 0)
		abort();
	return h;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct kl_kpl k;		/* reused, as a reader would */
	static int init;
	unsigned char *raw, *agg;
	uint64_t h;

	if (!init) {
		kl_kpl_init(&k);
		init = 1;
	}
	if ((raw = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(raw, data, size);
	run(&k, raw, size);
	free(raw);

	if ((agg = malloc(size + 20)) == NULL)
		return 0;
	memcpy(agg, "\xf3\x89\x9a\xc2", 4);
	memcpy(agg + 4, data, size);
	if (kl_md5(agg + 4, size, agg + 4 + size) == -1)
		abort();
	h = run(&k, agg, size + 20);
	if (size > 0 && kl_kpl_open(&k, agg, size + 20) == 0 &&
	    run(&k, agg, size + 20) != h)
		abort();
	free(agg);
	return 0;
}
