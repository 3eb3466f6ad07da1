/*
 * ckpt.c - checkpoint files (contract §7): where each shard of a stream
 * has been read and delivered up to.
 *
 * The file is one JSON object on one line:
 *
 *	{"version":1,"stream":"clicks","shards":{
 *	    "shardId-000000000000":{"sequence_number":"4959...",
 *	        "sub_sequence_number":3},
 *	    "shardId-000000000001":{"sequence_number":"4958...",
 *	        "closed":true}}}
 *
 *   version              1.  Another number is refused, so that an older
 *                        kl never overwrites a format it does not know.
 *   stream               the stream name; loading a checkpoint of another
 *                        stream is an error that names both.
 *   shards               one member per shard id, written sorted by id.
 *   sequence_number      the last record done, as a decimal string of 1 to
 *                        128 digits (it does not fit in a JSON number).
 *                        Absent only for a closed shard that held nothing.
 *   sub_sequence_number  when the record at sequence_number is a KPL
 *                        aggregate and not all of it is done: the last
 *                        user record done (0-based).  Absent means the
 *                        whole record is done.  On input, null and -1
 *                        also mean "absent".
 *   closed               true once the shard was read to its end (a
 *                        parent after a reshard): its children may start
 *                        (aws-protocol.md §1.6).  Absent means false.
 *
 * The contract's example is thus a valid version 1 file, and a file
 * without any closed shard is exactly the contract's format.  Other
 * members are ignored on input and not written back.
 *
 * Design decisions:
 *
 * - Positions only move forward.  A position is the pair (sequence
 *   number, sub-sequence number), with "whole record" above every
 *   sub-sequence number of the same record.  kl_ckpt_set() ignores a
 *   position that is not ahead of the stored one and says so (returns 0):
 *   replaying rejected records (jq -c .record rejects | kl-to-lytics)
 *   sends old positions, which must not rewind the file.  Sequence
 *   numbers are compared as decimal strings (leading zeros skipped, then
 *   length, then digits), never as doubles, which would lose digits
 *   past 2^53.
 *
 * - Atomic replacement through kl_atomic_write() (temporary file, fsync,
 *   rename, fsync of the folder): a reader sees the old or the new file,
 *   never a mix, so loading needs no lock.  A new file is 0644; an
 *   existing file keeps its mode.
 *
 * - The lock is flock(2) on a separate FILE.lock, never on FILE itself:
 *   rename() puts a new inode at FILE, so a lock on the old inode would
 *   not exclude a writer that opened the new one.  The lock file is left
 *   in place on purpose (removing it would let a waiter lock an unlinked
 *   inode while a newcomer locks a new one); after locking, the inode is
 *   compared with the path's, and a lock file removed by hand is retried.
 *   flock rather than fcntl locks: an fcntl lock is dropped when the
 *   process closes any descriptor of the file, and is per process, not
 *   per handle.  Waiting is a non-blocking try in a loop with a growing
 *   sleep (1 ms up to 50 ms) until the timeout.
 *
 * - Several writers, one file: kl-read-shard --commit and kl-to-lytics
 *   may both write the same file, each for its own shards.  Each handle
 *   remembers which shards it changed (dirty); kl_ckpt_merge() locks,
 *   re-reads the file, applies only those shards (still forward only),
 *   writes, unlocks, and leaves the handle holding the merged state.  A
 *   shard changed by both writers ends at the greater position.
 *   kl_ckpt_save() instead writes the handle's state as it is.
 *
 * - Parsing uses libjq's jv: this is a cold path (once at start, once
 *   per merge).  Members are read through json.c's kind-checked getters
 *   (jv_string_value() and friends assert on the wrong kind); the few
 *   kinds json.c has no getter for are checked here.  Writing is done by
 *   hand so that big sequence numbers stay strings.
 */
#include <config.h>

#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jv.h>

#include "kl.h"

#define CKPT_MAX	(64UL * 1024 * 1024)	/* largest file we read */
#define CKPT_LOCK_MS	10000			/* default lock wait */

/* Fills e (if any) with the message and sets errno to err. */
static int
ckfail(struct kl_err *e, int kind, int err, const char *fmt, ...)
    KL_PRINTF(4, 5);

static int
ckfail(struct kl_err *e, int kind, int err, const char *fmt, ...)
{
	va_list ap;

	if (e != NULL) {
		kl_err_clear(e);
		e->kind = kind;
		e->sys = err == EINVAL || err == ETIMEDOUT ? 0 : err;
		va_start(ap, fmt);
		vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
		va_end(ap);
	}
	errno = err;
	return -1;
}

/*
 * Returns 1 if s is a sequence number as kl keeps them: 1 to
 * KL_CKPT_SEQMAX decimal digits.  Else 0.
 */
int
kl_ckpt_seq_ok(const char *s)
{
	size_t n;

	for (n = 0; s[n] >= '0' && s[n] <= '9'; n++)
		if (n == KL_CKPT_SEQMAX)
			return 0;
	return n > 0 && s[n] == '\0';
}

/*
 * Compares two sequence numbers (strings of decimal digits) by value:
 * returns <0, 0 or >0.  Any length works; leading zeros do not count.
 */
int
kl_ckpt_seqcmp(const char *a, const char *b)
{
	size_t na, nb;
	int c;

	while (*a == '0')
		a++;
	while (*b == '0')
		b++;
	na = strlen(a);
	nb = strlen(b);
	if (na != nb)
		return na < nb ? -1 : 1;
	c = memcmp(a, b, na);
	return (c > 0) - (c < 0);
}

/*
 * Compares positions (sequence number, sub-sequence number): a NULL
 * sequence number is before everything, and KL_CKPT_WHOLE after every
 * sub-sequence number of the same record.  Returns <0, 0 or >0.
 */
int
kl_ckpt_poscmp(const char *seqa, int64_t suba, const char *seqb,
    int64_t subb)
{
	int c;

	if (seqa == NULL || seqb == NULL)
		return (seqa != NULL) - (seqb != NULL);
	if ((c = kl_ckpt_seqcmp(seqa, seqb)) != 0)
		return c;
	if (suba < 0)
		suba = INT64_MAX;
	if (subb < 0)
		subb = INT64_MAX;
	return (suba > subb) - (suba < subb);
}

/* Prepares an empty handle: no file, no stream, not locked. */
void
kl_ckpt_init(struct kl_ckpt *ck)
{
	memset(ck, 0, sizeof(*ck));
	ck->lockfd = -1;
	ck->lock_ms = CKPT_LOCK_MS;
}

static void
free_shards(struct kl_ckpt *ck)
{
	size_t i;

	for (i = 0; i < ck->n; i++) {
		free(ck->sh[i].id);
		free(ck->sh[i].seq);
	}
	free(ck->sh);
	ck->sh = NULL;
	ck->n = ck->cap = 0;
}

/* Releases everything ck holds, the lock included. */
void
kl_ckpt_free(struct kl_ckpt *ck)
{
	kl_ckpt_unlock(ck);
	free_shards(ck);
	free(ck->path);
	free(ck->stream);
	kl_ckpt_init(ck);
}

/* Binary search: returns the index of id, or where it would go. */
static size_t
find(const struct kl_ckpt *ck, const char *id, int *found)
{
	size_t lo = 0, hi = ck->n, mid;
	int c;

	*found = 0;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strcmp(ck->sh[mid].id, id);
		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Returns the entry of shard id, created empty if new; NULL: ENOMEM. */
static struct kl_ckpt_shard *
entry(struct kl_ckpt *ck, const char *id)
{
	struct kl_ckpt_shard *sh;
	size_t i, cap;
	int found;

	i = find(ck, id, &found);
	if (found)
		return &ck->sh[i];
	if (ck->n == ck->cap) {
		cap = ck->cap ? ck->cap * 2 : 8;
		if ((sh = reallocarray(ck->sh, cap, sizeof(*sh))) == NULL)
			return NULL;
		ck->sh = sh;
		ck->cap = cap;
	}
	memmove(&ck->sh[i + 1], &ck->sh[i], (ck->n - i) * sizeof(*ck->sh));
	sh = &ck->sh[i];
	memset(sh, 0, sizeof(*sh));
	sh->sub = KL_CKPT_WHOLE;
	if ((sh->id = strdup(id)) == NULL) {
		memmove(&ck->sh[i], &ck->sh[i + 1],
		    (ck->n - i) * sizeof(*ck->sh));
		return NULL;
	}
	ck->n++;
	return sh;
}

/*
 * Returns the entry of shard id, or NULL if the checkpoint has none.
 * The pointer is valid until the next call that changes ck.
 */
const struct kl_ckpt_shard *
kl_ckpt_get(const struct kl_ckpt *ck, const char *id)
{
	size_t i;
	int found;

	i = find(ck, id, &found);
	return found ? &ck->sh[i] : NULL;
}

/* Moves sh to (seq, sub) if that is ahead: 1 moved, 0 not, -1 ENOMEM. */
static int
advance(struct kl_ckpt_shard *sh, const char *seq, int64_t sub)
{
	char *copy;

	if (kl_ckpt_poscmp(seq, sub, sh->seq, sh->sub) <= 0)
		return 0;
	if ((copy = strdup(seq)) == NULL)
		return -1;
	free(sh->seq);
	sh->seq = copy;
	sh->sub = sub;
	return 1;
}

/*
 * Records that shard id is done up to sequence number seq and, within an
 * aggregate, sub-sequence number sub (KL_CKPT_WHOLE: the whole record).
 * Only moves forward.  Returns 1 if the position moved, 0 if it was not
 * ahead of the stored one (nothing changed), or -1 with errno EINVAL (bad
 * shard id, sequence number or sub-sequence number) or ENOMEM.
 */
int
kl_ckpt_set(struct kl_ckpt *ck, const char *id, const char *seq, int64_t sub)
{
	struct kl_ckpt_shard *sh;
	int r;

	if (id == NULL || *id == '\0' || seq == NULL ||
	    !kl_ckpt_seq_ok(seq) || sub < KL_CKPT_WHOLE) {
		errno = EINVAL;
		return -1;
	}
	if ((sh = entry(ck, id)) == NULL)
		return -1;
	if ((r = advance(sh, seq, sub)) == 1)
		sh->dirty = 1;
	return r;
}

/*
 * Records that shard id was read to its end.  Returns 0, or -1 with
 * errno EINVAL (empty id) or ENOMEM.
 */
int
kl_ckpt_set_closed(struct kl_ckpt *ck, const char *id)
{
	struct kl_ckpt_shard *sh;

	if (id == NULL || *id == '\0') {
		errno = EINVAL;
		return -1;
	}
	if ((sh = entry(ck, id)) == NULL)
		return -1;
	if (!sh->closed)
		sh->dirty = 1;
	sh->closed = 1;
	return 0;
}

/* The kind of member key of object o; JV_KIND_NULL if absent. */
static jv_kind
kind_of(jv o, const char *key)
{
	jv v = jv_object_get(jv_copy(o), jv_string(key));
	jv_kind k = jv_is_valid(v) ? jv_get_kind(v) : JV_KIND_NULL;

	jv_free(v);
	return k;
}

/* Reads one member of "shards" into ck. */
static int
parse_shard(struct kl_ckpt *ck, const char *path, jv key, jv val,
    struct kl_err *e)
{
	struct kl_ckpt_shard *sh;
	const char *id = jv_string_value(key), *seq;
	jv hold;
	long sub;
	jv_kind closed;

	if ((size_t)jv_string_length_bytes(jv_copy(key)) != strlen(id) ||
	    *id == '\0')
		return ckfail(e, KL_ERR_CONFIG, EINVAL,
		    "%s: bad shard id", path);
	if (jv_get_kind(val) != JV_KIND_OBJECT)
		return ckfail(e, KL_ERR_CONFIG, EINVAL,
		    "%s: shard '%s' is not an object", path, id);
	if ((sh = entry(ck, id)) == NULL)
		return ckfail(e, KL_ERR_PERMANENT, ENOMEM, "%s: %s", path,
		    strerror(ENOMEM));
	closed = kind_of(val, "closed");
	if (closed != JV_KIND_TRUE && closed != JV_KIND_FALSE &&
	    closed != JV_KIND_NULL)
		return ckfail(e, KL_ERR_CONFIG, EINVAL,
		    "%s: shard '%s': closed is not a boolean", path, id);
	sh->closed = closed == JV_KIND_TRUE;
	if (kl_json_str(val, "sequence_number", &hold, &seq) == -1) {
		if (errno == ENOENT && sh->closed)
			return 0;	/* closed before any record */
		if (errno == ENOENT)
			return ckfail(e, KL_ERR_CONFIG, EINVAL,
			    "%s: shard '%s' has no sequence_number", path, id);
		seq = "";
	}
	if (!kl_ckpt_seq_ok(seq)) {
		jv_free(hold);
		return ckfail(e, KL_ERR_CONFIG, EINVAL, "%s: shard '%s': "
		    "sequence_number is not a string of 1 to %d digits", path,
		    id, KL_CKPT_SEQMAX);
	}
	sh->seq = strdup(seq);
	jv_free(hold);
	if (sh->seq == NULL)
		return ckfail(e, KL_ERR_PERMANENT, ENOMEM, "%s: %s", path,
		    strerror(ENOMEM));
	/* Absent, null and -1 all mean the whole record. */
	if (kl_json_long(val, "sub_sequence_number", -1,
	    (long)(INT64_C(1) << 53) - 1, &sub) == 0)
		sh->sub = sub;
	else if (errno != ENOENT)
		return ckfail(e, KL_ERR_CONFIG, EINVAL, "%s: shard '%s': "
		    "sub_sequence_number is not a whole number from -1", path,
		    id);
	return 0;
}

/*
 * Parses the text of a checkpoint into ck (which must hold no shards)
 * and checks its stream against ck->stream (taken from the file when
 * NULL).
 */
static int
parse(struct kl_ckpt *ck, const char *path, const char *text, size_t n,
    struct kl_err *e)
{
	jv top, hold = jv_invalid(), shards = jv_invalid();
	const char *name;
	char why[256];
	long ver;
	int i, r = -1;

	if (kl_json_parse_obj(text, n, &top, why, sizeof(why)) == -1)
		return ckfail(e, KL_ERR_CONFIG, EINVAL, "%s: %s", path,
		    n == 0 ? "not valid JSON: empty file" : why);
	if (kl_json_long(top, "version", 0, 1000000, &ver) == -1) {
		ckfail(e, KL_ERR_CONFIG, EINVAL, "%s: no version", path);
		goto out;
	}
	if (ver != 1) {
		ckfail(e, KL_ERR_CONFIG, EINVAL,
		    "%s: unsupported checkpoint version %ld", path, ver);
		goto out;
	}
	if (kl_json_str(top, "stream", &hold, &name) == -1 || *name == '\0') {
		ckfail(e, KL_ERR_CONFIG, EINVAL, "%s: no stream name", path);
		goto out;
	}
	if (ck->stream != NULL && strcmp(ck->stream, name) != 0) {
		ckfail(e, KL_ERR_CONFIG, EINVAL,
		    "%s: checkpoint of stream '%s', not '%s'", path, name,
		    ck->stream);
		goto out;
	}
	if (ck->stream == NULL && (ck->stream = strdup(name)) == NULL) {
		ckfail(e, KL_ERR_PERMANENT, ENOMEM, "%s: %s", path,
		    strerror(ENOMEM));
		goto out;
	}
	shards = jv_object_get(jv_copy(top), jv_string("shards"));
	if (jv_get_kind(shards) != JV_KIND_OBJECT) {
		ckfail(e, KL_ERR_CONFIG, EINVAL, "%s: no shards object", path);
		goto out;
	}
	for (i = jv_object_iter(shards); jv_object_iter_valid(shards, i);
	    i = jv_object_iter_next(shards, i)) {
		jv k = jv_object_iter_key(shards, i);
		jv v = jv_object_iter_value(shards, i);
		int bad = parse_shard(ck, path, k, v, e);

		jv_free(k);
		jv_free(v);
		if (bad)
			goto out;
	}
	r = 0;
out:
	jv_free(top);
	jv_free(hold);
	jv_free(shards);
	return r;
}

/* Reads path into ck's (empty) shard list; a missing file is empty. */
static int
read_into(struct kl_ckpt *ck, const char *path, struct kl_err *e)
{
	struct kl_buf b;
	int r;

	kl_buf_init(&b);
	if (kl_read_file(path, &b, CKPT_MAX) == -1) {
		r = errno;
		kl_buf_free(&b);
		if (r == ENOENT)
			return 0;
		return ckfail(e, KL_ERR_PERMANENT, r, "%s: cannot read: %s",
		    path, strerror(r));
	}
	r = parse(ck, path, b.data != NULL ? b.data : "", b.len, e);
	kl_buf_free(&b);
	return r;
}

/*
 * Loads the checkpoint at path into ck (set up by kl_ckpt_init; what it
 * held is dropped, its lock too).  stream is the stream the caller reads
 * or writes; NULL takes the file's.  A missing file is an empty
 * checkpoint.  Both strings are copied.
 *
 * Returns 0, or -1 with errno and e (which may be NULL) filled, the
 * message starting with "PATH:": EINVAL for a corrupt file (not JSON,
 * not version 1, bad fields: kind KL_ERR_CONFIG) or a checkpoint of
 * another stream (the message names both), else the errno of the failed
 * read (KL_ERR_PERMANENT).
 */
int
kl_ckpt_load(struct kl_ckpt *ck, const char *path, const char *stream,
    struct kl_err *e)
{
	long ms = ck->lock_ms;

	kl_ckpt_free(ck);
	ck->lock_ms = ms;
	if ((ck->path = strdup(path)) == NULL ||
	    (stream != NULL && (ck->stream = strdup(stream)) == NULL))
		return ckfail(e, KL_ERR_PERMANENT, ENOMEM, "%s: %s", path,
		    strerror(ENOMEM));
	if (read_into(ck, path, e) == -1) {
		free_shards(ck);
		return -1;
	}
	return 0;
}

static void
sleep_ms(long ms)
{
	struct timespec ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = ms % 1000 * 1000000L;
	nanosleep(&ts, NULL);
}

/* Opens the lock file and locks it, or fails with EWOULDBLOCK. */
static int
try_lock(const char *lockpath, int *fdp)
{
	struct stat a, b;
	int fd;

	if ((fd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) == -1 &&
	    errno == EACCES)
		fd = open(lockpath, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return -1;
	while (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if (errno != EINTR) {
			int saved = errno;

			close(fd);
			errno = saved;
			return -1;
		}
	}
	/* Someone removed the lock file: this inode no longer counts. */
	if (fstat(fd, &a) == -1 || stat(lockpath, &b) == -1 ||
	    a.st_ino != b.st_ino || a.st_dev != b.st_dev) {
		close(fd);
		errno = EAGAIN;
		return -1;
	}
	*fdp = fd;
	return 0;
}

/*
 * Takes the exclusive lock on ck's file (PATH.lock, created 0644 if
 * needed), waiting at most timeout_ms (0: one try).  A handle that holds
 * the lock already succeeds at once.  Returns 0, or -1 with errno and e
 * filled: ETIMEDOUT (KL_ERR_TRANSIENT) if another writer kept it, EINVAL
 * if ck has no file, else the errno of open(2) or flock(2).
 */
int
kl_ckpt_lock(struct kl_ckpt *ck, long timeout_ms, struct kl_err *e)
{
	char *lockpath;
	long deadline, now, delay = 1;
	int err;

	if (ck->lockfd != -1)
		return 0;
	if (ck->path == NULL)
		return ckfail(e, KL_ERR_PERMANENT, EINVAL,
		    "checkpoint has no file");
	if (asprintf(&lockpath, "%s.lock", ck->path) == -1)
		return ckfail(e, KL_ERR_PERMANENT, ENOMEM, "%s: %s",
		    ck->path, strerror(ENOMEM));
	deadline = kl_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	for (;;) {
		if (try_lock(lockpath, &ck->lockfd) == 0)
			break;
		err = errno;
		if (err != EWOULDBLOCK && err != EAGAIN) {
			ckfail(e, KL_ERR_PERMANENT, err,
			    "%s: cannot lock: %s", lockpath, strerror(err));
			free(lockpath);
			return -1;
		}
		if ((now = kl_mono_ms()) >= deadline) {
			ckfail(e, KL_ERR_TRANSIENT, ETIMEDOUT,
			    "%s: still locked by another writer after %ld ms",
			    lockpath, timeout_ms);
			free(lockpath);
			return -1;
		}
		sleep_ms(delay < deadline - now ? delay : deadline - now);
		if ((delay *= 2) > 50)
			delay = 50;
	}
	free(lockpath);
	return 0;
}

/* Releases the lock if ck holds it.  Keeps errno. */
void
kl_ckpt_unlock(struct kl_ckpt *ck)
{
	int saved = errno;

	if (ck->lockfd != -1) {
		close(ck->lockfd);	/* releases the flock */
		ck->lockfd = -1;
	}
	errno = saved;
}

/* Formats ck as the file's one line. */
static void
format(const struct kl_ckpt *ck, struct kl_buf *b)
{
	const struct kl_ckpt_shard *sh;
	size_t i;

	kl_buf_adds(b, "{\"version\":1,\"stream\":");
	kl_buf_add_jstr(b, ck->stream, strlen(ck->stream));
	kl_buf_adds(b, ",\"shards\":{");
	for (i = 0; i < ck->n; i++) {
		sh = &ck->sh[i];
		if (sh->seq == NULL && !sh->closed)
			continue;	/* an entry created by a failed set */
		if (b->len > 0 && b->data[b->len - 1] != '{')
			kl_buf_addc(b, ',');
		kl_buf_add_jstr(b, sh->id, strlen(sh->id));
		kl_buf_addc(b, ':');
		kl_buf_addc(b, '{');
		if (sh->seq != NULL) {
			kl_buf_addf(b, "\"sequence_number\":\"%s\"", sh->seq);
			if (sh->sub >= 0)
				kl_buf_addf(b, ",\"sub_sequence_number\":%lld",
				    (long long)sh->sub);
		}
		if (sh->closed)
			kl_buf_adds(b, sh->seq != NULL ? ",\"closed\":true" :
			    "\"closed\":true");
		kl_buf_addc(b, '}');
	}
	kl_buf_adds(b, "}}\n");
}

/* Writes ck to its file atomically; the caller holds the lock. */
static int
write_file(const struct kl_ckpt *ck, struct kl_err *e)
{
	struct kl_buf b;
	struct stat st;
	mode_t mode = 0644;
	int err;

	if (stat(ck->path, &st) == 0)
		mode = st.st_mode & 07777;
	kl_buf_init(&b);
	format(ck, &b);
	if (b.err) {
		kl_buf_free(&b);
		return ckfail(e, KL_ERR_PERMANENT, ENOMEM, "%s: %s",
		    ck->path, strerror(ENOMEM));
	}
	if (kl_atomic_write(ck->path, b.data, b.len, mode) == -1) {
		err = errno;
		kl_buf_free(&b);
		return ckfail(e, KL_ERR_PERMANENT, err,
		    "%s: cannot write: %s", ck->path, strerror(err));
	}
	kl_buf_free(&b);
	return 0;
}

/* Locks for save or merge unless the caller holds the lock: 1 if taken. */
static int
lock_for(struct kl_ckpt *ck, struct kl_err *e)
{
	if (ck->path == NULL || ck->stream == NULL)
		return ckfail(e, KL_ERR_PERMANENT, EINVAL,
		    "checkpoint has no file or no stream");
	if (ck->lockfd != -1)
		return 0;
	if (kl_ckpt_lock(ck, ck->lock_ms, e) == -1)
		return -1;
	return 1;
}

/*
 * Writes ck as it is to its file, atomically, under the lock (taken for
 * the call, waiting up to ck->lock_ms, unless the caller holds it).
 * Shards other writers changed since the load are overwritten: see
 * kl_ckpt_merge.  Returns 0 (the handle is then clean), or -1 with errno
 * and e filled as kl_ckpt_lock does, or with the errno of the write.
 */
int
kl_ckpt_save(struct kl_ckpt *ck, struct kl_err *e)
{
	size_t i;
	int took, r;

	if ((took = lock_for(ck, e)) == -1)
		return -1;
	if ((r = write_file(ck, e)) == 0)
		for (i = 0; i < ck->n; i++)
			ck->sh[i].dirty = 0;
	if (took)
		kl_ckpt_unlock(ck);
	return r;
}

/*
 * Applies this handle's changes to the file without undoing another
 * writer's: under the lock (as for kl_ckpt_save), re-reads the file,
 * moves each shard this handle changed since its load or last save
 * forward to this handle's position (and closes it if closed here),
 * writes the result atomically, and leaves ck holding it, clean.
 * Returns 0, or -1 with errno and e filled as kl_ckpt_load (the file is
 * now corrupt or of another stream), kl_ckpt_lock or kl_ckpt_save do;
 * on failure ck keeps its changes for another try.
 */
int
kl_ckpt_merge(struct kl_ckpt *ck, struct kl_err *e)
{
	struct kl_ckpt disk;
	struct kl_ckpt_shard *d, *s;
	size_t i;
	int took, r = -1;

	if ((took = lock_for(ck, e)) == -1)
		return -1;
	kl_ckpt_init(&disk);
	disk.stream = ck->stream;	/* borrowed: checked, not freed */
	if (read_into(&disk, ck->path, e) == -1)
		goto out;
	for (i = 0; i < ck->n; i++) {
		s = &ck->sh[i];
		if (!s->dirty)
			continue;
		if ((d = entry(&disk, s->id)) == NULL ||
		    (s->seq != NULL && advance(d, s->seq, s->sub) == -1)) {
			ckfail(e, KL_ERR_PERMANENT, ENOMEM, "%s: %s",
			    ck->path, strerror(ENOMEM));
			goto out;
		}
		d->closed |= s->closed;
	}
	disk.path = ck->path;
	if (write_file(&disk, e) == -1)
		goto out;
	free_shards(ck);
	ck->sh = disk.sh;
	ck->n = disk.n;
	ck->cap = disk.cap;
	disk.sh = NULL;
	disk.n = disk.cap = 0;
	r = 0;
out:
	free_shards(&disk);
	if (took)
		kl_ckpt_unlock(ck);
	return r;
}
