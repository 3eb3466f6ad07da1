/*
 * extsort.c - the external sort behind members.c: the members one scan
 * of an audience adds, in any order, written out as one sorted state
 * file (DIR/members.new) for kl_members_diff() to compare.  Kept apart
 * from members.c, which owns the state directory and the comparison:
 * the sort has its own memory rules and uses the directory only for its
 * run files and the result.
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
 * unlinked as soon as they are created, so a crash leaves none.
 *
 * A key seen twice in one scan (a member on two pages, because the
 * audience changed during the scan) keeps its last fields: within a run
 * the later arena offset wins, across runs the later run.  Runs and
 * DIR/members.new are lines of the state file format members.c
 * describes, and are read back with its reader.
 *
 * A scan needs about twice the state file's size on disk (runs, then
 * members.new beside members).  Runs are not fsync'd: they die with the
 * process.  Nothing here looks at kl_stopping(); finishing 5 million
 * members takes seconds, and the caller may abort after it.
 */
#include <config.h>

#include <sys/mman.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kl.h"
#include "members.h"

#define BUDGET_MIN	(64UL * 1024)
#define BUDGET_MAX	(1024UL * 1024 * 1024)	/* uint32 offsets */
#define RBUF_MIN	(16UL * 1024)
#define RBUF_MAX	(1024UL * 1024)

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
 * The k-way merge: a min-heap of readers ordered by key, then age.
 */
static int
srd_less(const struct srd *a, const struct srd *b)
{
	int r = kl_mb_keycmp(a->key, a->klen, b->key, b->klen);

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
		    (r = kl_mb_srd_next(&rd[i])) == -1)
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
		if ((r = kl_mb_srd_next(heap[0])) == -1)
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
		return kl_mb_close_fail(fd);
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
		return kl_mb_close_fail(fd);
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
		return kl_mb_close_fail(fd);
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
		return kl_mb_close_fail(fd);
	return add_run(m, fd);
}

/*
 * Scans.
 */
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
		kl_mb_close_fail(fd);
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

