/*
 * members.c - the saved membership of an audience, for
 * kl-read-audience --watch --state DIR: an external sort of the members
 * one scan saw, and a streaming comparison with the last scan.
 *
 * Memory stays bounded whatever the audience size; nothing ever holds
 * the whole membership.  A scan adds members one at a time, in any
 * order, into one arena the size of the memory budget (16 MiB by
 * default; an mmap(2), so freeing it gives the pages back).  Entries
 * grow up from the bottom and an index grows down from the top; when
 * they meet, the index is sorted and the arena written out as a sorted
 * run.  Each index slot holds the key's first 8 bytes (big endian) and
 * its length, so the sort seldom leaves the index, and the sort is a
 * hand-written introsort (inlined comparison, no allocation, no
 * quadratic case).  kl_members_finish() merges the runs with a heap
 * (k-way merge) into DIR/members.new, or writes the arena there
 * directly if nothing was spilled.  Every FANIN runs are merged into
 * one while the scan goes on, which bounds the open descriptors and
 * the merge buffers (those take half the budget) too.  Run files are
 * unlinked as soon as they are created, so a crash leaves none;
 * kl_members_open() removes whatever else a crash can leave ("run.*",
 * "meta.tmp.*", "members.new") under the directory lock.
 *
 * A key seen twice in one scan (a member on two pages, because the
 * audience changed during the scan) keeps its last fields: within a run
 * the later arena offset wins, across runs the later run.
 *
 * The state file has one line per member, sorted by the raw key bytes
 * (memcmp; a prefix sorts first): the key as a JSON string, a tab, the
 * fields object as given (compact JSON on one line), a newline.  Keys
 * are escaped by kl_buf_add_jstr(), so any byte survives (quotes, tabs,
 * newlines, NUL); bytes from 0x80 are copied as they are, so a UTF-8 key
 * makes a valid JSON string.  The reader accepts exactly what that
 * writer produces, and checks that keys strictly increase: a damaged or
 * edited file is reported with its line number, never mis-compared.
 * Files are mode 0600, since profiles hold emails.
 *
 * The protocol, and why enters and exits are emitted at least once:
 *
 *	m = kl_members_open(dir, audience, key_field, &e);
 *	kl_members_begin(m, budget);
 *	kl_members_add(m, key, ...);	every member of a complete scan
 *	kl_members_finish(m);		sorted DIR/members.new, fsync'd
 *	kl_members_diff(m, ...);	enter/exit callbacks; caller emits
 *	kl_members_commit(m);		rename to DIR/members, fsync dir
 *
 * The caller commits only once the events are written and flushed.  A
 * crash before the commit leaves DIR/members as it was, so the next scan
 * repeats the comparison: events may come twice, never get lost.  A scan
 * that fails or stops midway must end in kl_members_abort() (or
 * kl_members_close()), which removes members.new and the runs: a
 * partial scan is never compared, or every member it missed would
 * "exit".  With no committed membership yet (kl_members_have_state()
 * is 0) the first scan is a baseline: commit it without a diff to emit
 * nothing, or diff it to emit every member as an enter (--backfill).
 *
 * DIR/meta names the audience and key field the state belongs to;
 * opening the directory for another one fails with KL_ERR_CONFIG, since
 * comparing would emit false events.  DIR/lock is held with flock(2)
 * while the handle is open, so two watchers cannot share a directory
 * (which also makes removing stale files safe).
 *
 * A scan needs about twice the state file's size on disk (runs, then
 * members.new beside members).  Runs are not fsync'd: they die with the
 * process.  Nothing here looks at kl_stopping(); finishing 5 million
 * members takes seconds, and the caller may abort after it.
 */
#include <config.h>

#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kl.h"

#define FANIN		64		/* runs merged at once */
#define BUDGET_MIN	(64UL * 1024)
#define BUDGET_MAX	(1024UL * 1024 * 1024)	/* uint32 offsets */
#define WBUF		(256UL * 1024)	/* write(2) chunks */
#define RBUF_MIN	(16UL * 1024)
#define RBUF_MAX	(1024UL * 1024)
#define META_VERSION	1

enum { IDLE, SCAN, DONE };

struct kl_members {
	char		*dir;
	char		*p_members;	/* DIR/members: committed */
	char		*p_new;		/* DIR/members.new */
	char		*p_meta;
	int		 dirfd;
	int		 lockfd;
	int		 state;		/* IDLE, SCAN or DONE */
	int		 err;		/* sticky errno: broken scan */
	int		 have_state;
	size_t		 budget;
	char		*arena;		/* budget bytes or NULL */
	size_t		 used;		/* entry bytes, bottom */
	size_t		 nidx;		/* slots at the top */
	int		 runs[FANIN];	/* sorted runs, oldest first */
	int		 nruns;
	unsigned long	 runseq;
	struct kl_buf	 out;		/* the write buffer */
	struct kl_members_stats st;
};

/* An arena entry: the key, then the fields follow, unterminated. */
struct ent {
	uint32_t klen;
	uint32_t flen;
};

/* An index slot: the key's first 8 bytes, zero-padded, big endian. */
struct slot {
	uint64_t pfx;
	uint32_t off;		/* of the struct ent */
	uint32_t klen;
};

/* A reader of a sorted file: one line at a time, its key decoded. */
struct srd {
	int		 fd;
	int		 age;		/* merge: higher is newer */
	long		 lineno;
	char		*buf;
	size_t		 cap, off, len;
	int		 eof;
	char		*line;		/* this line, NUL for \n */
	size_t		 linelen;
	char		*key;		/* decoded, NUL-terminated */
	size_t		 klen;
	char		*fields;	/* inside line */
	size_t		 flen;
	char		 kb[2][KL_MEMBERS_KEY_MAX + 1]; /* key, last */
	int		 kbi;
	const char	*why;		/* what is wrong with it */
};

static int
keycmp(const char *a, size_t an, const char *b, size_t bn)
{
	int r;

	if ((r = memcmp(a, b, an < bn ? an : bn)) != 0)
		return r;
	return an < bn ? -1 : an > bn;
}

static int
close_fail(int fd)
{
	int saved = errno;

	close(fd);
	errno = saved;
	return -1;
}

/* Writes m->out to fd; -1 with errno (ENOMEM if an append failed). */
static int
out_flush(struct kl_members *m, int fd)
{
	if (m->out.err) {
		errno = ENOMEM;
		return -1;
	}
	if (kl_write_all(fd, m->out.data, m->out.len) == -1)
		return -1;
	kl_buf_reset(&m->out);
	return 0;
}

/* Ends a line in m->out, writing the buffer out once it is full. */
static int
out_eol(struct kl_members *m, int fd)
{
	kl_buf_addc(&m->out, '\n');
	return m->out.len >= WBUF || m->out.err ? out_flush(m, fd) : 0;
}

static void
out_member(struct kl_members *m, const char *key, size_t klen,
    const char *fields, size_t flen)
{
	kl_buf_add_jstr(&m->out, key, klen);
	kl_buf_addc(&m->out, '\t');
	kl_buf_add(&m->out, fields, flen);
}

/*
 * Reading sorted files.
 */
static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * Decodes the key at *pp, a JSON string as kl_buf_add_jstr() writes it
 * (\" \\ \b \f \n \r \t, \u00XX for other bytes below 0x20, every other
 * byte as it is), into out: at most KL_MEMBERS_KEY_MAX bytes and a NUL.
 * Leaves *pp after the closing quote.  Returns the length, or -1.
 */
static long
key_decode(const char **pp, const char *end, char *out)
{
	static const char from[] = "\"\\bfnrt", to[] = "\"\\\b\f\n\r\t";
	const char *p = *pp, *e;
	size_t n = 0;
	int c, hi, lo;

	if (p >= end || *p++ != '"')
		return -1;
	for (; p < end && *p != '"'; out[n++] = (char)c) {
		c = (unsigned char)*p++;
		if (c < 0x20 || n == KL_MEMBERS_KEY_MAX || (c == '\\' &&
		    p == end))
			return -1;
		if (c != '\\')
			continue;
		if (*p == 'u') {
			if (end - p < 5 || p[1] != '0' || p[2] != '0' ||
			    (hi = hexval(p[3])) == -1 || hi > 1 ||
			    (lo = hexval(p[4])) == -1)
				return -1;
			c = hi << 4 | lo;
			p += 5;
		} else if (*p != '\0' && (e = strchr(from, *p)) != NULL) {
			c = to[e - from];
			p++;
		} else
			return -1;
	}
	if (p >= end)
		return -1;
	out[n] = '\0';
	*pp = p + 1;
	return (long)n;
}

/* Splits r's line into key and fields; -1 with r->why if it cannot. */
static int
srd_parse(struct srd *r)
{
	const char *p = r->line, *end = r->line + r->linelen;
	const char *prev = r->kb[r->kbi];
	long n;

	r->kbi ^= 1;
	if ((n = key_decode(&p, end, r->kb[r->kbi])) <= 0) {
		r->why = "bad or over-long key";
		return -1;
	}
	if (end - p < 3 || *p != '\t' || p[1] != '{' || end[-1] != '}') {
		r->why = "no fields object after the key";
		return -1;
	}
	if (r->lineno > 1 && keycmp(prev, r->klen, r->kb[r->kbi],
	    (size_t)n) >= 0) {
		r->why = "keys not in strictly increasing order";
		return -1;
	}
	r->key = r->kb[r->kbi];
	r->klen = (size_t)n;
	r->fields = r->line + (p + 1 - r->line);
	r->flen = (size_t)(end - p - 1);
	return 0;
}

static int
srd_bad(struct srd *r, const char *why)
{
	r->lineno++;
	r->why = why;
	errno = EINVAL;
	return -1;
}

/*
 * Reads the next line of r.  Returns 1, 0 at the end, or -1 with errno
 * (EINVAL and r->why for a line that is not a state line).
 */
static int
srd_next(struct srd *r)
{
	char *nl, *p;
	ssize_t got;

	while ((nl = memchr(r->buf + r->off, '\n', r->len - r->off)) == NULL) {
		if (r->eof)
			return r->off == r->len ? 0 :
			    srd_bad(r, "last line cut short");
		if (r->off > 0) {
			memmove(r->buf, r->buf + r->off, r->len - r->off);
			r->len -= r->off;
			r->off = 0;
		}
		if (r->len == r->cap) {
			if (r->cap >= KL_LINE_MAX)
				return srd_bad(r, "line too long");
			if ((p = realloc(r->buf, r->cap * 2)) == NULL)
				return -1;
			r->buf = p;
			r->cap *= 2;
		}
		got = read(r->fd, r->buf + r->len, r->cap - r->len);
		if (got == -1 && errno != EINTR)
			return -1;
		if (got == 0)
			r->eof = 1;
		if (got > 0)
			r->len += (size_t)got;
	}
	*nl = '\0';
	r->line = r->buf + r->off;
	r->linelen = (size_t)(nl - r->line);
	r->off += r->linelen + 1;
	r->lineno++;
	if (srd_parse(r) == -1) {
		errno = EINVAL;
		return -1;
	}
	return 1;
}

/*
 * The k-way merge: a min-heap of readers ordered by key, then age.
 */
static int
srd_less(const struct srd *a, const struct srd *b)
{
	int r = keycmp(a->key, a->klen, b->key, b->klen);

	return r < 0 || (r == 0 && a->age < b->age);
}

static void
srd_sift(struct srd **h, size_t n, size_t i)
{
	struct srd *t;
	size_t c;

	while ((c = 2 * i + 1) < n) {
		if (c + 1 < n && srd_less(h[c + 1], h[c]))
			c++;
		if (!srd_less(h[c], h[i]))
			return;
		t = h[i];
		h[i] = h[c];
		h[c] = t;
		i = c;
	}
}

/*
 * Merges the n runs (rewound, oldest first) into fd, keeping the most
 * recent line of each key.  The heap's root is superseded when a child
 * has its key: that child came later.  Returns the number of lines
 * written, or -1 with errno.
 */
static long
merge_runs(struct kl_members *m, const int *fds, int n, int fd)
{
	struct srd *rd, **heap;
	size_t bufsz, nh = 0, i;
	long count = 0;
	int r, dup;

	bufsz = m->budget / 2 / (size_t)(n + 1);
	bufsz = bufsz < RBUF_MIN ? RBUF_MIN : bufsz > RBUF_MAX ? RBUF_MAX :
	    bufsz;
	rd = calloc((size_t)n, sizeof(*rd));
	heap = calloc((size_t)n, sizeof(*heap));
	if (rd == NULL || heap == NULL)
		goto fail;
	for (i = 0; i < (size_t)n; i++) {
		rd[i].fd = fds[i];
		rd[i].age = (int)i;
		rd[i].cap = bufsz;
		if ((rd[i].buf = malloc(bufsz)) == NULL ||
		    (r = srd_next(&rd[i])) == -1)
			goto fail;
		if (r == 1)
			heap[nh++] = &rd[i];
	}
	for (i = nh / 2; i-- > 0; )
		srd_sift(heap, nh, i);
	while (nh > 0) {
		for (dup = 0, i = 1; i <= 2 && i < nh; i++)
			dup |= heap[i]->klen == heap[0]->klen && memcmp(
			    heap[i]->key, heap[0]->key, heap[0]->klen) == 0;
		if (!dup) {
			kl_buf_add(&m->out, heap[0]->line, heap[0]->linelen);
			if (out_eol(m, fd) == -1)
				goto fail;
			count++;
		}
		if ((r = srd_next(heap[0])) == -1)
			goto fail;
		if (r == 0)
			heap[0] = heap[--nh];
		srd_sift(heap, nh, 0);
	}
	if (out_flush(m, fd) == -1)
		goto fail;
	r = 0;
	goto out;
fail:
	r = errno;
	count = -1;
out:
	for (i = 0; rd != NULL && i < (size_t)n; i++)
		free(rd[i].buf);
	free(rd);
	free(heap);
	if (count == -1)
		errno = r;
	return count;
}

/*
 * The arena and its sort.
 */
static uint64_t
key_pfx(const char *key, size_t klen)
{
	const unsigned char *k = (const unsigned char *)key;
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < 8; i++)
		v = v << 8 | (i < klen ? k[i] : 0);
	return v;
}

static inline const char *
slot_key(const char *base, const struct slot *s)
{
	return (const char *)((const struct ent *)(const void *)
	    (base + s->off) + 1);
}

/* Compares the keys of two slots in memcmp order. */
static inline int
slot_keycmp(const char *base, const struct slot *a, const struct slot *b)
{
	uint32_t n;
	int r;

	if (a->pfx != b->pfx)
		return a->pfx < b->pfx ? -1 : 1;
	n = a->klen < b->klen ? a->klen : b->klen;
	if (n > 8 && (r = memcmp(slot_key(base, a) + 8,
	    slot_key(base, b) + 8, n - 8)) != 0)
		return r;
	return a->klen < b->klen ? -1 : a->klen > b->klen;
}

/* The sort order: key, then arrival. */
static inline int
slot_less(const char *base, const struct slot *a, const struct slot *b)
{
	int r = slot_keycmp(base, a, b);

	return r < 0 || (r == 0 && a->off < b->off);
}

static inline void
slot_swap(struct slot *s, size_t i, size_t j)
{
	struct slot t = s[i];

	s[i] = s[j];
	s[j] = t;
}

static void
slot_down(const char *base, struct slot *s, size_t n, size_t k)
{
	size_t c;

	for (; (c = 2 * k + 1) < n; k = c) {
		if (c + 1 < n && slot_less(base, &s[c], &s[c + 1]))
			c++;
		if (!slot_less(base, &s[k], &s[c]))
			return;
		slot_swap(s, k, c);
	}
}

/*
 * Introsort: quicksort on the median of three (Hoare partition),
 * heapsort past the depth limit, insertion sort for short ranges.
 */
static void
slot_sort(const char *base, struct slot *s, size_t n, int depth)
{
	struct slot piv;
	size_t i, j;

	while (n > 16) {
		if (depth-- == 0) {
			for (i = n / 2; i-- > 0; )
				slot_down(base, s, n, i);
			while (n > 1) {
				slot_swap(s, 0, --n);
				slot_down(base, s, n, 0);
			}
			return;
		}
		if (slot_less(base, &s[n / 2], &s[0]))
			slot_swap(s, n / 2, 0);
		if (slot_less(base, &s[n - 1], &s[n / 2]))
			slot_swap(s, n - 1, n / 2);
		if (slot_less(base, &s[n / 2], &s[0]))
			slot_swap(s, n / 2, 0);
		piv = s[n / 2];
		for (i = 0, j = n - 1; ; i++, j--) {
			while (slot_less(base, &s[i], &piv))
				i++;
			while (slot_less(base, &piv, &s[j]))
				j--;
			if (i >= j)
				break;
			slot_swap(s, i, j);
		}
		/* [0, j] <= pivot <= (j, n): recurse into the smaller. */
		if (j + 1 < n - j - 1) {
			slot_sort(base, s, j + 1, depth);
			s += j + 1;
			n -= j + 1;
		} else {
			slot_sort(base, s + j + 1, n - j - 1, depth);
			n = j + 1;
		}
	}
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && slot_less(base, &s[j], &s[j - 1]); j--)
			slot_swap(s, j, j - 1);
}

/* Sorts the arena and writes it to fd, a line per key, and empties it. */
static long
write_arena(struct kl_members *m, int fd)
{
	struct slot *s = (struct slot *)(void *)(m->arena + m->budget) -
	    m->nidx;
	const struct ent *e;
	size_t i, n;
	long count = 0;
	int depth;

	for (depth = 0, n = m->nidx; n > 0; n >>= 1)
		depth += 2;
	slot_sort(m->arena, s, m->nidx, depth);
	for (i = 0; i < m->nidx; i++) {
		if (i + 1 < m->nidx &&
		    slot_keycmp(m->arena, &s[i], &s[i + 1]) == 0)
			continue;	/* a later one follows */
		e = (const void *)(m->arena + s[i].off);
		out_member(m, (const char *)(e + 1), e->klen,
		    (const char *)(e + 1) + e->klen, e->flen);
		if (out_eol(m, fd) == -1)
			return -1;
		count++;
	}
	if (out_flush(m, fd) == -1)
		return -1;
	m->used = m->nidx = 0;
	return count;
}

static void
arena_free(struct kl_members *m)
{
	if (m->arena != NULL)
		munmap(m->arena, m->budget);
	m->arena = NULL;
	m->used = m->nidx = 0;
}

/*
 * Runs.
 */
static int
run_create(struct kl_members *m)
{
	char name[64];
	int fd;

	snprintf(name, sizeof(name), "run.%ld.%lu", (long)getpid(),
	    m->runseq++);
	fd = openat(m->dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600);
	if (fd != -1 && unlinkat(m->dirfd, name, 0) == -1)
		return close_fail(fd);
	return fd;
}

static void
runs_close(struct kl_members *m)
{
	while (m->nruns > 0)
		close(m->runs[--m->nruns]);
}

/* Merges all runs into fd; the runs stay open. */
static long
runs_merge(struct kl_members *m, int fd)
{
	int i;

	arena_free(m);
	for (i = 0; i < m->nruns; i++)
		if (lseek(m->runs[i], 0, SEEK_SET) == -1)
			return -1;
	return merge_runs(m, m->runs, m->nruns, fd);
}

/* Adds a written run; FANIN runs are merged into one. */
static int
add_run(struct kl_members *m, int fd)
{
	m->runs[m->nruns++] = fd;
	m->st.runs++;
	if (m->nruns < FANIN)
		return 0;
	if ((fd = run_create(m)) == -1)
		return -1;
	if (runs_merge(m, fd) == -1)
		return close_fail(fd);
	runs_close(m);
	m->runs[m->nruns++] = fd;
	m->st.merges++;
	return 0;
}

/* Writes the arena out as one more run. */
static int
spill(struct kl_members *m)
{
	int fd;

	if (m->nidx == 0)
		return 0;
	if ((fd = run_create(m)) == -1)
		return -1;
	if (write_arena(m, fd) == -1)
		return close_fail(fd);
	return add_run(m, fd);
}

/* Writes a member too big for the arena as a run of its own. */
static int
spill_one(struct kl_members *m, const char *key, size_t klen,
    const char *fields, size_t flen)
{
	int fd;

	if (spill(m) == -1 || (fd = run_create(m)) == -1)
		return -1;
	out_member(m, key, klen, fields, flen);
	if (out_eol(m, fd) == -1 || out_flush(m, fd) == -1)
		return close_fail(fd);
	return add_run(m, fd);
}

/*
 * Opening the directory.
 */
static int
meta_check(struct kl_members *m, const char *audience, const char *key_field,
    struct kl_err *e)
{
	struct kl_buf want, got;
	int r = -1;

	kl_buf_init(&want);
	kl_buf_init(&got);
	kl_buf_addf(&want, "{\"version\":%d,\"audience\":", META_VERSION);
	kl_buf_add_jstr(&want, audience, strlen(audience));
	kl_buf_adds(&want, ",\"key_field\":");
	kl_buf_add_jstr(&want, key_field, strlen(key_field));
	kl_buf_adds(&want, "}\n");
	errno = ENOMEM;
	if (want.err || kl_read_file(m->p_meta, &got, 4096) == -1) {
		if (errno != ENOENT)
			kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "cannot read "
			    "'%s': %s", m->p_meta, strerror(e->sys = errno));
		else if (m->have_state)
			kl_err_set(e, KL_ERR_CONFIG, 0, NULL, "'%s' holds a "
			    "membership but no meta file", m->dir);
		else if ((r = kl_atomic_write(m->p_meta, want.data, want.len,
		    0600)) == -1)
			kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "cannot write "
			    "'%s': %s", m->p_meta, strerror(e->sys = errno));
	} else if (got.len == want.len && memcmp(got.data, want.data,
	    got.len) == 0)
		r = 0;
	else
		kl_err_set(e, KL_ERR_CONFIG, 0, NULL, "state directory '%s' is "
		    "not for audience '%s' with key field '%s' (version %d): "
		    "its meta file says '%.*s'", m->dir, audience, key_field,
		    META_VERSION, got.data ? (int)strcspn(got.data, "\n") : 0,
		    got.data ? got.data : "");
	kl_buf_free(&want);
	kl_buf_free(&got);
	return r;
}

/* Removes what a crash can leave: runs, members.new, meta temps. */
static int
clean_stale(struct kl_members *m)
{
	struct dirent *de;
	DIR *d;
	int fd;

	if (unlinkat(m->dirfd, "members.new", 0) == -1 && errno != ENOENT)
		return -1;
	if ((fd = openat(m->dirfd, ".", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1)
		return -1;
	if ((d = fdopendir(fd)) == NULL)
		return close_fail(fd);
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, "run.", 4) == 0 ||
		    strncmp(de->d_name, "meta.tmp.", 9) == 0)
			unlinkat(m->dirfd, de->d_name, 0);
	closedir(d);
	return 0;
}

static char *
path_join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p;

	if ((p = malloc(n)) != NULL)
		snprintf(p, n, "%s/%s", dir, name);
	return p;
}

/*
 * Opens the state directory dir (made, mode 0700, if missing; its
 * parent must exist) for the given audience and key field, locks it,
 * and removes what a crashed run left.  A new directory gets a meta
 * file; an existing one must name the same audience and key field.
 * Returns the handle (the caller frees it with kl_members_close), or
 * NULL with e filled: KL_ERR_CONFIG for bad arguments and a directory
 * of another audience, key field or version; KL_ERR_PERMANENT, with
 * e->sys, for system errors and a directory another process holds.
 */
struct kl_members *
kl_members_open(const char *dir, const char *audience, const char *key_field,
    struct kl_err *e)
{
	struct kl_members *m;
	struct stat st;

	kl_err_clear(e);
	if (dir == NULL || audience == NULL || key_field == NULL ||
	    *dir == '\0' || *audience == '\0' || *key_field == '\0' ||
	    strlen(audience) > 200 || strlen(key_field) > 200) {
		e->sys = errno = EINVAL;
		kl_err_set(e, KL_ERR_CONFIG, 0, NULL, "membership state needs "
		    "a directory, an audience and a key field of at most "
		    "200 bytes");
		return NULL;
	}
	if ((m = calloc(1, sizeof(*m))) == NULL)
		goto sys;
	m->dirfd = m->lockfd = -1;
	kl_buf_init(&m->out);
	m->dir = strdup(dir);
	m->p_members = path_join(dir, "members");
	m->p_new = path_join(dir, "members.new");
	m->p_meta = path_join(dir, "meta");
	if (m->dir == NULL || m->p_members == NULL || m->p_new == NULL ||
	    m->p_meta == NULL || kl_buf_reserve(&m->out, WBUF + 8192) == -1 ||
	    (mkdir(dir, 0700) == -1 && errno != EEXIST) ||
	    (m->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    (m->lockfd = openat(m->dirfd, "lock", O_RDWR | O_CREAT |
	    O_CLOEXEC, 0600)) == -1)
		goto sys;
	if (flock(m->lockfd, LOCK_EX | LOCK_NB) == -1) {
		if (errno != EWOULDBLOCK)
			goto sys;
		e->sys = errno;
		kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "state directory '%s' "
		    "is in use by another process", dir);
		goto fail;
	}
	if (clean_stale(m) == -1)
		goto sys;
	if (fstatat(m->dirfd, "members", &st, 0) == 0)
		m->have_state = 1;
	else if (errno != ENOENT)
		goto sys;
	if (meta_check(m, audience, key_field, e) == -1)
		goto fail;
	return m;
sys:
	e->sys = errno;
	kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "cannot open state directory "
	    "'%s': %s", dir, strerror(errno));
fail:
	kl_members_close(m);
	errno = e->sys ? e->sys : EINVAL;
	return NULL;
}

/*
 * Returns 1 if the directory holds a committed membership (the next
 * scan is compared with it), 0 if the next scan is the first: a
 * baseline.
 */
int
kl_members_have_state(const struct kl_members *m)
{
	return m->have_state;
}

/* The counts of the current or last scan; valid until kl_members_close. */
const struct kl_members_stats *
kl_members_stats(const struct kl_members *m)
{
	return &m->st;
}

/*
 * Starts a scan, discarding any scan not committed.  budget is the
 * sort memory in bytes: 0 for KL_MEMBERS_BUDGET, else clamped to 64 KiB
 * .. 1 GiB; the process needs about 2 MiB more.  Returns 0.
 */
int
kl_members_begin(struct kl_members *m, size_t budget)
{
	long pg = sysconf(_SC_PAGESIZE);

	kl_members_abort(m);
	if (budget == 0)
		budget = KL_MEMBERS_BUDGET;
	budget = budget < BUDGET_MIN ? BUDGET_MIN : budget > BUDGET_MAX ?
	    BUDGET_MAX : budget;
	if (pg > 0)
		budget = (budget + (size_t)pg - 1) / (size_t)pg * (size_t)pg;
	m->budget = budget;
	memset(&m->st, 0, sizeof(m->st));
	m->state = SCAN;
	return 0;
}

/*
 * Adds a member to the scan: its key (klen bytes, any bytes, 1 to
 * KL_MEMBERS_KEY_MAX) and its fields (a JSON object on one line, at
 * most KL_MEMBERS_FIELDS_MAX bytes; NULL for "{}"), both copied.  A key
 * added again replaces its fields.  Returns 0, or -1 with errno:
 * EMSGSIZE for a key or fields too long, EINVAL for an empty key,
 * fields that are not "{...}" on one line, or no scan begun; the scan
 * goes on after these.  Other errors (ENOMEM, ENOSPC, EIO) break the
 * scan: every later call fails the same way until kl_members_abort.
 */
int
kl_members_add(struct kl_members *m, const char *key, size_t klen,
    const char *fields, size_t flen)
{
	struct ent *e;
	struct slot *s;
	size_t need;

	if (m->state != SCAN || m->err) {
		errno = m->state != SCAN ? EINVAL : m->err;
		return -1;
	}
	if (fields == NULL) {
		fields = "{}";
		flen = 2;
	}
	if (klen > KL_MEMBERS_KEY_MAX || flen > KL_MEMBERS_FIELDS_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	if (klen == 0 || flen < 2 || fields[0] != '{' ||
	    fields[flen - 1] != '}' || memchr(fields, '\n', flen) != NULL) {
		errno = EINVAL;
		return -1;
	}
	m->st.added++;
	need = (sizeof(*e) + klen + flen + 7) & ~(size_t)7;
	if (need + sizeof(*s) > m->budget) {
		if (spill_one(m, key, klen, fields, flen) == -1)
			m->err = errno;
		return m->err ? -1 : 0;
	}
	if ((m->used + need + (m->nidx + 1) * sizeof(*s) > m->budget &&
	    spill(m) == -1) || (m->arena == NULL && (m->arena = mmap(NULL,
	    m->budget, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
	    -1, 0)) == MAP_FAILED)) {
		if (m->arena == MAP_FAILED)
			m->arena = NULL;
		m->err = errno;
		return -1;
	}
	e = (struct ent *)(void *)(m->arena + m->used);
	e->klen = (uint32_t)klen;
	e->flen = (uint32_t)flen;
	memcpy(e + 1, key, klen);
	memcpy((char *)(e + 1) + klen, fields, flen);
	s = (struct slot *)(void *)(m->arena + m->budget) - ++m->nidx;
	s->pfx = key_pfx(key, klen);
	s->off = (uint32_t)m->used;
	s->klen = (uint32_t)klen;
	m->used += need;
	return 0;
}

/*
 * Ends the scan: sorts and merges the members added into
 * DIR/members.new (fsync'd), for kl_members_diff and kl_members_commit,
 * and releases the sort memory.  Returns the number of distinct
 * members, or -1 with errno (EINVAL if no scan is going on; otherwise
 * the scan is broken: call kl_members_abort).
 */
long
kl_members_finish(struct kl_members *m)
{
	long count;
	int fd;

	if (m->state != SCAN || m->err) {
		errno = m->state != SCAN ? EINVAL : m->err;
		return -1;
	}
	fd = open(m->p_new, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd == -1)
		goto fail;
	if (m->nruns == 0)
		count = m->nidx > 0 ? write_arena(m, fd) : 0;
	else
		count = spill(m) == -1 ? -1 : runs_merge(m, fd);
	if (count == -1 || fsync(fd) == -1) {
		close_fail(fd);
		goto fail;
	}
	if (close(fd) == -1)
		goto fail;
	arena_free(m);
	runs_close(m);
	m->st.members = count;
	m->state = DONE;
	return count;
fail:
	m->err = errno;
	unlink(m->p_new);
	errno = m->err;
	return -1;
}

static void
srd_error(struct kl_err *e, const struct srd *r, const char *path)
{
	e->sys = errno;
	if (path == NULL)
		path = "(none)";
	if (errno == EINVAL && r->why != NULL)
		kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "%s:%ld: %s", path,
		    r->lineno, r->why);
	else
		kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "cannot read '%s': "
		    "%s", path, strerror(errno));
}

/* The merge join of kl_members_diff_files: r[0] old, r[1] new. */
static int
join(struct srd *r, const char **path, int flags,
    int (*cb)(void *, int, const char *, size_t, const char *, size_t),
    void *arg, struct kl_members_stats *st, struct kl_err *e)
{
	struct srd *x;
	int got[2], c, ev;

	got[0] = r[0].fd == -1 ? 0 : srd_next(&r[0]);
	got[1] = srd_next(&r[1]);
	while (got[0] == 1 || got[1] == 1) {
		if (got[0] == -1 || got[1] == -1)
			break;
		c = !got[0] ? 1 : !got[1] ? -1 :
		    keycmp(r[0].key, r[0].klen, r[1].key, r[1].klen);
		ev = c < 0 ? KL_MEMBERS_EXIT : c > 0 ? KL_MEMBERS_ENTER :
		    (flags & KL_MEMBERS_CHANGES) && (r[0].flen != r[1].flen ||
		    memcmp(r[0].fields, r[1].fields, r[0].flen) != 0) ?
		    KL_MEMBERS_CHANGE : 0;
		x = &r[ev == KL_MEMBERS_EXIT ? 0 : 1];
		if (ev != 0 && cb(arg, ev, x->key, x->klen, x->fields,
		    x->flen) == -1) {
			e->sys = errno;
			kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "event "
			    "callback failed: %s", strerror(errno));
			return -1;
		}
		st->enters += ev == KL_MEMBERS_ENTER;
		st->exits += ev == KL_MEMBERS_EXIT;
		st->changes += ev == KL_MEMBERS_CHANGE;
		if (c <= 0) {
			st->old_members++;
			got[0] = srd_next(&r[0]);
		}
		if (c >= 0) {
			st->members++;
			got[1] = srd_next(&r[1]);
		}
	}
	if (got[0] == -1 || got[1] == -1) {
		c = got[0] == -1 ? 0 : 1;
		srd_error(e, &r[c], path[c]);
		return -1;
	}
	return 0;
}

/*
 * Compares two state files with a merge join, in one pass and constant
 * memory.  oldp may be NULL or missing: an empty membership.  Calls cb
 * for each key only in newp (KL_MEMBERS_ENTER, the new fields), only in
 * oldp (KL_MEMBERS_EXIT, the saved fields), and, if flags has
 * KL_MEMBERS_CHANGES, in both with other fields (KL_MEMBERS_CHANGE, the
 * new fields), in key order.  Key and fields are NUL-terminated (a key
 * may hold NULs: use its length) and valid during the call; cb returns
 * 0 to go on, -1 with errno to stop.  Fills st, if not NULL, with the
 * counts.  Returns 0, or -1 with errno and e filled (a file that is not
 * a sorted state file is named with the line at fault).
 */
int
kl_members_diff_files(const char *oldp, const char *newp, int flags,
    int (*cb)(void *, int, const char *, size_t, const char *, size_t),
    void *arg, struct kl_members_stats *st, struct kl_err *e)
{
	struct kl_members_stats cnt;
	const char *path[2] = { oldp, newp };
	struct srd *r;
	int i, rv = -1;

	kl_err_clear(e);
	memset(&cnt, 0, sizeof(cnt));
	if ((r = calloc(2, sizeof(*r))) == NULL) {
		e->sys = errno;
		kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "%s", strerror(errno));
		return -1;
	}
	r[0].fd = r[1].fd = -1;
	for (i = 0; i < 2; i++) {
		r[i].cap = WBUF;
		if ((r[i].buf = malloc(WBUF)) == NULL ||
		    (path[i] != NULL && (r[i].fd = open(path[i], O_RDONLY |
		    O_CLOEXEC)) == -1 && (i == 1 || errno != ENOENT))) {
			srd_error(e, &r[i], path[i]);
			goto out;
		}
	}
	rv = join(r, path, flags, cb, arg, &cnt, e);
out:
	for (i = 0; i < 2; i++) {
		free(r[i].buf);
		if (r[i].fd != -1)
			close(r[i].fd);
	}
	free(r);
	if (st != NULL) {
		st->old_members = cnt.old_members;
		st->members = cnt.members;
		st->enters = cnt.enters;
		st->exits = cnt.exits;
		st->changes = cnt.changes;
	}
	if (rv == -1)
		errno = e->sys;
	return rv;
}

/*
 * Compares the finished scan with the committed membership (with none,
 * every member enters), as kl_members_diff_files() does; the counts go
 * to kl_members_stats().  Returns 0, or -1 with errno and e filled
 * (EINVAL if no scan is finished).
 */
int
kl_members_diff(struct kl_members *m, int flags,
    int (*cb)(void *, int, const char *, size_t, const char *, size_t),
    void *arg, struct kl_err *e)
{
	if (m->state != DONE) {
		kl_err_clear(e);
		e->sys = errno = EINVAL;
		kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "no finished scan "
		    "to compare");
		return -1;
	}
	return kl_members_diff_files(m->have_state ? m->p_members : NULL,
	    m->p_new, flags, cb, arg, &m->st, e);
}

/*
 * Makes the finished scan the saved membership: renames members.new
 * over members and syncs the directory.  Call it only once the events
 * of kl_members_diff are written and flushed.  Returns 0, or -1 with
 * errno (EINVAL if no scan is finished); if the rename failed the scan
 * stays finished and commit may be retried.
 */
int
kl_members_commit(struct kl_members *m)
{
	if (m->state != DONE) {
		errno = EINVAL;
		return -1;
	}
	if (rename(m->p_new, m->p_members) == -1)
		return -1;
	m->have_state = 1;
	m->state = IDLE;
	if (fsync(m->dirfd) == -1 && errno != EINVAL)
		return -1;
	return 0;
}

/*
 * Drops a scan in progress, or finished and not committed: frees the
 * sort memory, closes the runs, removes members.new, and clears the
 * error of a broken scan.  The saved
 * membership is untouched.  Safe at any time; keeps errno.
 */
void
kl_members_abort(struct kl_members *m)
{
	int saved = errno;

	arena_free(m);
	runs_close(m);
	if (m->state != IDLE)
		unlink(m->p_new);
	kl_buf_reset(&m->out);		/* what a failed write left */
	m->out.err = 0;
	m->state = IDLE;
	m->err = 0;
	errno = saved;
}

/* Aborts any scan not committed, unlocks and frees m (which may be NULL). */
void
kl_members_close(struct kl_members *m)
{
	if (m == NULL)
		return;
	kl_members_abort(m);
	if (m->lockfd != -1)
		close(m->lockfd);
	if (m->dirfd != -1)
		close(m->dirfd);
	kl_buf_free(&m->out);
	free(m->dir);
	free(m->p_members);
	free(m->p_new);
	free(m->p_meta);
	free(m);
}
