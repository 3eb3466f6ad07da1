/*
 * members.c - the saved membership of an audience, for
 * kl-read-audience --watch --state DIR: an external sort of the members
 * one scan saw (extsort.c), and a streaming comparison with the last
 * scan.
 *
 * The state file has one line per member, sorted by the raw key bytes
 * (memcmp; a prefix sorts first): the key as a JSON string, a tab, the
 * fields object as given (compact JSON on one line), a newline.  Keys
 * are escaped by kl_buf_add_jstr(), so any byte survives (quotes, tabs,
 * newlines, NUL); bytes from 0x80 are copied as they are, so a UTF-8 key
 * makes a valid JSON string.  The reader here (the merge of runs in
 * extsort.c uses it too) accepts exactly what the writer in extsort.c
 * produces, and checks that keys strictly increase: a damaged or edited
 * file is reported with its line number, never mis-compared.  Files are
 * mode 0600, since profiles hold emails.
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
 * (which also makes removing stale files safe): kl_members_open()
 * removes whatever a crash can leave ("run.*", "meta.tmp.*",
 * "members.new") under the lock.
 */
#include <config.h>

#include <sys/file.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kl.h"
#include "members.h"

#define META_VERSION	1

/* Compares keys in memcmp order; a prefix sorts first. */
int
kl_mb_keycmp(const char *a, size_t an, const char *b, size_t bn)
{
	int r;

	if ((r = memcmp(a, b, an < bn ? an : bn)) != 0)
		return r;
	return an < bn ? -1 : an > bn;
}

/* Closes fd, keeping errno; returns -1. */
int
kl_mb_close_fail(int fd)
{
	int saved = errno;

	close(fd);
	errno = saved;
	return -1;
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
	if (r->lineno > 1 && kl_mb_keycmp(prev, r->klen, r->kb[r->kbi],
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
int
kl_mb_srd_next(struct srd *r)
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
		return kl_mb_close_fail(fd);
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

	got[0] = r[0].fd == -1 ? 0 : kl_mb_srd_next(&r[0]);
	got[1] = kl_mb_srd_next(&r[1]);
	while (got[0] == 1 || got[1] == 1) {
		if (got[0] == -1 || got[1] == -1)
			break;
		c = !got[0] ? 1 : !got[1] ? -1 :
		    kl_mb_keycmp(r[0].key, r[0].klen, r[1].key, r[1].klen);
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
			got[0] = kl_mb_srd_next(&r[0]);
		}
		if (c >= 0) {
			st->members++;
			got[1] = kl_mb_srd_next(&r[1]);
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
