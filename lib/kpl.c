/*
 * kpl.c - unpacking of KPL aggregated records (aws-protocol.md §5).
 *
 * An aggregate is the Data of one Kinesis record: the magic f3 89 9a c2,
 * a protobuf AggregatedRecord, and the 16-byte MD5 of that protobuf.
 * The messages, in proto2:
 *
 *	AggregatedRecord { repeated string partition_key_table = 1;
 *	    repeated string explicit_hash_key_table = 2;
 *	    repeated Record records = 3; }
 *	Record { required uint64 partition_key_index = 1;
 *	    optional uint64 explicit_hash_key_index = 2;
 *	    required bytes data = 3; repeated Tag tags = 4; }
 *	Tag { required string key = 1; optional string value = 2; }
 *
 * Design decisions:
 *
 * - All or nothing.  The KCL rule (§5.2) is that a record with the magic
 *   but a bad MD5 or a body that does not parse is passed through as one
 *   plain record.  A reader that had already emitted half of the user
 *   records could no longer do that, so kl_kpl_open() checks the whole
 *   aggregate (MD5, every field, every record, every table index) before
 *   it returns, and kl_kpl_next() then cannot fail on good input.
 *
 * - One pass in kl_kpl_open(), no allocation per record.  Protobuf lets
 *   repeated fields come in any order, so the key tables may follow the
 *   records that index them.  The pass stores the table spans as it meets
 *   them, checks each record's structure and remembers the largest index
 *   used (and where); the indices are checked against the table sizes at
 *   the end.  The tables live in arrays kept in struct kl_kpl and reused
 *   by the next aggregate, so a reader that unpacks many aggregates stops
 *   allocating once the largest table has been seen.  kl_kpl_next()
 *   parses each record a second time (cheaper than storing it).
 *
 * - No copies.  Every span in struct kl_kpl_rec points into the caller's
 *   buffer, which must outlive the iteration.  Partition keys and hash
 *   keys are proto2 strings, which protobuf does not check for UTF-8 on
 *   parsing; neither does this file: the spans are raw bytes and the
 *   caller escapes them.
 *
 * - A hand-written, bounds-checked reader, no libprotobuf.  Every read
 *   checks the end of its enclosing message first.  Varints longer than
 *   10 bytes or past 64 bits, lengths past the end of the enclosing
 *   message, field number 0, wire types 6 and 7, stray end-group markers
 *   and groups nested deeper than KPL_DEPTH are malformed.  Unknown
 *   fields of every valid wire type (groups included) are skipped, as
 *   protobuf does.
 *
 * - Stricter than protobuf in three places, all of which no encoder
 *   produces: a known field with the wrong wire type is malformed (not
 *   kept as an unknown field), a Tag without its key is malformed, and so
 *   is an aggregate without any user record (passing it through keeps its
 *   bytes, where unpacking would silently drop the Kinesis record).
 *   Repeated occurrences of a singular field are not an error: the last
 *   one wins, as in protobuf.
 *
 * - The shard hash-range filter of the KCL (§5.2 rule 3) is left to the
 *   caller, which knows the shard.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kl.h"

#define KPL_HDR		4	/* the magic */
#define KPL_MD5		16	/* the trailing digest */
#define KPL_DEPTH	32	/* nesting limit for unknown groups */

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_SGROUP = 3,
    WT_EGROUP = 4, WT_I32 = 5 };

static const unsigned char kpl_magic[KPL_HDR] = { 0xf3, 0x89, 0x9a, 0xc2 };

/* One Record message, as read by get_record. */
struct rec {
	uint64_t		 pki;
	uint64_t		 ehki;
	int			 have_ehk;
	const unsigned char	*data;
	size_t			 len;
};

/* Fills k->why with the reason and the offset of p in the record. */
static int
fail(struct kl_kpl *k, const unsigned char *p, const char *what)
{
	snprintf(k->why, sizeof(k->why), "%s at byte %zu", what,
	    (size_t)(p - k->base));
	errno = EBADMSG;
	return -1;
}

/* The multi-byte case of get_varint. */
static int
varint_slow(struct kl_kpl *k, const unsigned char **pp,
    const unsigned char *end, uint64_t *out)
{
	const unsigned char *p = *pp;
	uint64_t v = 0;
	unsigned shift, c;

	for (shift = 0; shift < 64; shift += 7) {
		if (p == end)
			return fail(k, *pp, "truncated varint");
		c = *p++;
		if (shift == 63 && c > 1)
			break;
		v |= (uint64_t)(c & 0x7f) << shift;
		if (c < 0x80) {
			*out = v;
			*pp = p;
			return 0;
		}
	}
	return fail(k, *pp, "varint past 64 bits");
}

static inline int
get_varint(struct kl_kpl *k, const unsigned char **pp,
    const unsigned char *end, uint64_t *out)
{
	if (*pp < end && **pp < 0x80) {
		*out = *(*pp)++;
		return 0;
	}
	return varint_slow(k, pp, end, out);
}

/* Reads a field key: field number and wire type. */
static inline int
get_key(struct kl_kpl *k, const unsigned char **pp, const unsigned char *end,
    uint32_t *field, unsigned *wt)
{
	const unsigned char *at = *pp;
	uint64_t v;

	if (get_varint(k, pp, end, &v) == -1)
		return -1;
	if (v > UINT32_MAX || (v >> 3) == 0)
		return fail(k, at, "bad field number");
	*field = (uint32_t)(v >> 3);
	*wt = (unsigned)(v & 7);
	return 0;
}

/* Reads the length and span of a length-delimited value. */
static inline int
get_bytes(struct kl_kpl *k, const unsigned char **pp,
    const unsigned char *end, const unsigned char **s, size_t *n)
{
	const unsigned char *at = *pp;
	uint64_t len;

	if (get_varint(k, pp, end, &len) == -1)
		return -1;
	if (len > (uint64_t)(end - *pp))
		return fail(k, at, "length past the end");
	*s = *pp;
	*n = (size_t)len;
	*pp += len;
	return 0;
}

/*
 * Skips the value of a field of wire type wt whose key has just been
 * read; a group is skipped to its matching end-group key.
 */
static int
skip(struct kl_kpl *k, const unsigned char **pp, const unsigned char *end,
    uint32_t field, unsigned wt, int depth)
{
	const unsigned char *at = *pp, *s;
	uint64_t v;
	uint32_t f;
	size_t n;
	unsigned w;

	switch (wt) {
	case WT_VARINT:
		return get_varint(k, pp, end, &v);
	case WT_I64:
	case WT_I32:
		n = wt == WT_I64 ? 8 : 4;
		if (n > (size_t)(end - at))
			return fail(k, at, "truncated fixed-width value");
		*pp += n;
		return 0;
	case WT_LEN:
		return get_bytes(k, pp, end, &s, &n);
	case WT_SGROUP:
		if (depth >= KPL_DEPTH)
			return fail(k, at, "groups nested too deep");
		for (;;) {
			at = *pp;
			if (at == end)
				return fail(k, at, "unterminated group");
			if (get_key(k, pp, end, &f, &w) == -1)
				return -1;
			if (w == WT_EGROUP) {
				if (f != field)
					return fail(k, at,
					    "mismatched end of group");
				return 0;
			}
			if (skip(k, pp, end, f, w, depth + 1) == -1)
				return -1;
		}
	case WT_EGROUP:
		return fail(k, at, "end of group outside a group");
	default:
		return fail(k, at, "invalid wire type");
	}
}

/* Checks a Tag message: well formed, with its required key. */
static int
check_tag(struct kl_kpl *k, const unsigned char *p, const unsigned char *end)
{
	const unsigned char *at = p, *s, *key;
	uint32_t f;
	unsigned wt;
	size_t n;
	int have_key = 0;

	while (p < end) {
		key = p;
		if (get_key(k, &p, end, &f, &wt) == -1)
			return -1;
		if (f == 1 || f == 2) {
			if (wt != WT_LEN)
				return fail(k, key,
				    "tag field has the wrong type");
			if (get_bytes(k, &p, end, &s, &n) == -1)
				return -1;
			if (f == 1)
				have_key = 1;
		} else if (skip(k, &p, end, f, wt, 0) == -1)
			return -1;
	}
	if (!have_key)
		return fail(k, at, "tag without a key");
	return 0;
}

/*
 * Reads one Record message from p to end, checking its structure and
 * required fields (not the indices: the tables may not be known yet).
 * The last occurrence of a singular field wins, as in protobuf.
 */
static int
get_record(struct kl_kpl *k, const unsigned char *p, const unsigned char *end,
    struct rec *r)
{
	const unsigned char *at = p, *s, *key;
	uint32_t f;
	unsigned wt;
	size_t n;
	int have_pk = 0;

	r->data = NULL;
	r->have_ehk = 0;
	while (p < end) {
		key = p;
		if (get_key(k, &p, end, &f, &wt) == -1)
			return -1;
		if (f == 1 && wt == WT_VARINT) {
			if (get_varint(k, &p, end, &r->pki) == -1)
				return -1;
			have_pk = 1;
		} else if (f == 3 && wt == WT_LEN) {
			if (get_bytes(k, &p, end, &r->data, &r->len) == -1)
				return -1;
		} else if (f == 2 && wt == WT_VARINT) {
			if (get_varint(k, &p, end, &r->ehki) == -1)
				return -1;
			r->have_ehk = 1;
		} else if (f == 4 && wt == WT_LEN) {
			if (get_bytes(k, &p, end, &s, &n) == -1 ||
			    check_tag(k, s, s + n) == -1)
				return -1;
		} else if (f <= 4)
			return fail(k, key, "record field has the wrong type");
		else if (skip(k, &p, end, f, wt, 0) == -1)
			return -1;
	}
	if (!have_pk)
		return fail(k, at, "record without a partition key index");
	if (r->data == NULL)
		return fail(k, at, "record without data");
	return 0;
}

/* Appends a span to a key table, growing it (kept across aggregates). */
static int
push(struct kl_kpl *k, struct kl_kpl_span **tab, size_t *n, size_t *cap,
    const unsigned char *s, size_t len)
{
	struct kl_kpl_span *t;
	size_t c;

	if (*n == *cap) {
		c = *cap ? *cap * 2 : 16;
		if ((t = reallocarray(*tab, c, sizeof(*t))) == NULL) {
			snprintf(k->why, sizeof(k->why), "out of memory");
			errno = ENOMEM;
			return -1;
		}
		*tab = t;
		*cap = c;
	}
	(*tab)[*n].p = (const char *)s;
	(*tab)[(*n)++].n = len;
	return 0;
}

/*
 * The pass of kl_kpl_open over the AggregatedRecord: stores the tables,
 * checks every record, then every index against the complete tables.
 */
static int
scan(struct kl_kpl *k)
{
	const unsigned char *p = k->msg, *end = k->end, *key, *s;
	const unsigned char *pk_at = NULL, *ehk_at = NULL;
	uint64_t maxpk = 0, maxehk = 0;
	struct rec r;
	uint32_t f;
	unsigned wt;
	size_t n;

	while (p < end) {
		key = p;
		if (get_key(k, &p, end, &f, &wt) == -1)
			return -1;
		if (f > 3) {
			if (skip(k, &p, end, f, wt, 0) == -1)
				return -1;
			continue;
		}
		if (wt != WT_LEN)
			return fail(k, key,
			    "aggregate field has the wrong type");
		if (get_bytes(k, &p, end, &s, &n) == -1)
			return -1;
		if (f == 1) {
			if (push(k, &k->pkt, &k->npk, &k->pkcap, s, n) == -1)
				return -1;
		} else if (f == 2) {
			if (push(k, &k->ehkt, &k->nehk, &k->ehkcap, s, n) == -1)
				return -1;
		} else {
			if (get_record(k, s, s + n, &r) == -1)
				return -1;
			if (pk_at == NULL || r.pki > maxpk) {
				maxpk = r.pki;
				pk_at = s;
			}
			if (r.have_ehk && (ehk_at == NULL || r.ehki > maxehk)) {
				maxehk = r.ehki;
				ehk_at = s;
			}
			k->nrec++;
		}
	}
	if (k->nrec == 0)
		return fail(k, k->msg, "no user records");
	if (maxpk >= k->npk)
		return fail(k, pk_at, "partition key index out of range");
	if (ehk_at != NULL && maxehk >= k->nehk)
		return fail(k, ehk_at, "explicit hash key index out of range");
	return 0;
}

/* Prepares k for kl_kpl_open; it holds no resources yet. */
void
kl_kpl_init(struct kl_kpl *k)
{
	memset(k, 0, sizeof(*k));
}

/* Releases the tables k holds; k is left as kl_kpl_init leaves it. */
void
kl_kpl_free(struct kl_kpl *k)
{
	free(k->pkt);
	free(k->ehkt);
	kl_kpl_init(k);
}

/*
 * Returns 1 if the n bytes at p are a KPL aggregate by the KCL's test:
 * the magic, more than 16 bytes after it, and an MD5 of the protobuf that
 * matches the last 16 bytes.  Returns 0 otherwise (also if the digest
 * cannot be computed).  It does not parse the protobuf: kl_kpl_open does.
 */
int
kl_kpl_is_agg(const unsigned char *p, size_t n)
{
	unsigned char md[KPL_MD5];

	if (n <= KPL_HDR + KPL_MD5 || memcmp(p, kpl_magic, KPL_HDR) != 0)
		return 0;
	if (kl_md5(p + KPL_HDR, n - KPL_HDR - KPL_MD5, md) == -1)
		return 0;
	return memcmp(md, p + n - KPL_MD5, KPL_MD5) == 0;
}

/*
 * Opens the n bytes at p (the Data of one Kinesis record) for unpacking
 * with kl_kpl_next.  k must have been set up with kl_kpl_init; it may be
 * opened again and again without freeing.  p is borrowed: it must stay
 * valid and unchanged until the last kl_kpl_next.
 *
 * Returns 0 when p is a well-formed aggregate of at least one record
 * (k->nrec of them).  Otherwise returns -1 with errno:
 *   ENOMSG   no magic: a plain record, not an aggregate (no message due);
 *   EBADMSG  the magic, but too short, a bad MD5 or a malformed body;
 *            k->why says what and where (a byte offset into p);
 *   ENOMEM, EIO  out of memory, or the digest failed.
 * In every error case the caller passes the record through unchanged.
 */
int
kl_kpl_open(struct kl_kpl *k, const unsigned char *p, size_t n)
{
	unsigned char md[KPL_MD5];

	k->base = p;
	k->msg = k->end = k->cur = NULL;
	k->npk = k->nehk = k->nrec = 0;
	k->sub = 0;
	k->why[0] = '\0';
	if (n < KPL_HDR || memcmp(p, kpl_magic, KPL_HDR) != 0) {
		snprintf(k->why, sizeof(k->why), "no KPL magic");
		errno = ENOMSG;
		return -1;
	}
	if (n <= KPL_HDR + KPL_MD5) {
		snprintf(k->why, sizeof(k->why),
		    "KPL magic, but only %zu bytes", n);
		errno = EBADMSG;
		return -1;
	}
	if (kl_md5(p + KPL_HDR, n - KPL_HDR - KPL_MD5, md) == -1) {
		snprintf(k->why, sizeof(k->why), "cannot compute MD5");
		return -1;
	}
	if (memcmp(md, p + n - KPL_MD5, KPL_MD5) != 0) {
		snprintf(k->why, sizeof(k->why), "MD5 mismatch");
		errno = EBADMSG;
		return -1;
	}
	k->msg = p + KPL_HDR;
	k->end = p + n - KPL_MD5;
	if (scan(k) == -1) {
		k->msg = k->end = NULL;
		return -1;
	}
	k->cur = k->msg;
	return 0;
}

/*
 * Fills r with the next user record of the aggregate opened in k: its
 * sub-sequence number (0-based position), partition key, explicit hash
 * key (NULL if none) and data, all spans into the buffer given to
 * kl_kpl_open.  Returns 1, 0 after the last record, or -1 with errno
 * EINVAL if k is not open (or EBADMSG, which a checked aggregate cannot
 * give).
 */
int
kl_kpl_next(struct kl_kpl *k, struct kl_kpl_rec *r)
{
	const unsigned char *p = k->cur, *end = k->end, *s;
	struct rec x;
	uint32_t f;
	unsigned wt;
	size_t n;

	if (p == NULL) {
		errno = EINVAL;
		return -1;
	}
	while (p < end) {
		if (get_key(k, &p, end, &f, &wt) == -1)
			goto bad;
		if (f != 3) {
			if (skip(k, &p, end, f, wt, 0) == -1)
				goto bad;
			continue;
		}
		if (get_bytes(k, &p, end, &s, &n) == -1 ||
		    get_record(k, s, s + n, &x) == -1)
			goto bad;
		if (x.pki >= k->npk || (x.have_ehk && x.ehki >= k->nehk)) {
			fail(k, s, "index out of range");
			goto bad;
		}
		r->sub = k->sub++;
		r->pk = k->pkt[x.pki].p;
		r->pk_len = k->pkt[x.pki].n;
		r->ehk = x.have_ehk ? k->ehkt[x.ehki].p : NULL;
		r->ehk_len = x.have_ehk ? k->ehkt[x.ehki].n : 0;
		r->data = x.data;
		r->data_len = x.len;
		k->cur = p;
		return 1;
	}
	k->cur = p;
	return 0;
bad:
	k->cur = NULL;
	return -1;
}
