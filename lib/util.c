/*
 * util.c - small helpers shared by the commands: checked number parsing,
 * stream names, atomic file replacement, clocks and randomness.
 *
 * kl_atomic_write() is how checkpoints, membership state and secrets reach
 * the disk: a temporary file beside the target (so rename(2) stays on one
 * file system), fsync, rename, then fsync of the folder, so that after a
 * crash the file holds either the old or the new content, never a mix.
 */
#include <config.h>

#include <sys/random.h>
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kl.h"

/*
 * Parses a decimal unsigned integer in [min, max].  Returns 0, or -1 with
 * errno EINVAL (not a number, trailing junk) or ERANGE.
 */
int
kl_parse_uint(const char *s, unsigned long long min, unsigned long long max,
    unsigned long long *out)
{
	unsigned long long v;
	char *end;

	if (s == NULL || !isdigit((unsigned char)s[0])) {
		errno = EINVAL;
		return -1;
	}
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end != '\0') {
		errno = EINVAL;
		return -1;
	}
	if (errno == ERANGE || v < min || v > max) {
		errno = ERANGE;
		return -1;
	}
	*out = v;
	return 0;
}

/* Parses milliseconds: a whole number, 0 to one day. */
int
kl_parse_ms(const char *s, long *out)
{
	unsigned long long v;

	if (kl_parse_uint(s, 0, 86400000ULL, &v) == -1)
		return -1;
	*out = (long)v;
	return 0;
}

/* Returns 1 if s is a valid Kinesis stream name: 1-128 of [a-zA-Z0-9_.-]. */
int
kl_stream_name_ok(const char *s)
{
	size_t n;

	for (n = 0; s[n] != '\0'; n++)
		if (!isalnum((unsigned char)s[n]) && s[n] != '_' &&
		    s[n] != '.' && s[n] != '-')
			return 0;
	return n >= 1 && n <= 128;
}

/*
 * Creates a unique temporary file beside path, mode 0600.  Returns the
 * descriptor and sets *tmp (caller frees), or -1 with errno.
 */
int
kl_mkstemp_near(const char *path, char **tmp)
{
	size_t n = strlen(path) + 32;
	int fd;

	if ((*tmp = malloc(n)) == NULL)
		return -1;
	snprintf(*tmp, n, "%s.tmp.%ld.XXXXXX", path, (long)getpid());
	if ((fd = mkostemp(*tmp, O_CLOEXEC)) == -1) {
		free(*tmp);
		*tmp = NULL;
	}
	return fd;
}

static int
sync_dir(const char *path)
{
	char *copy, *dir;
	int fd, r = 0;

	if ((copy = strdup(path)) == NULL)
		return -1;
	dir = dirname(copy);
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
		if (fsync(fd) == -1 && errno != EINVAL)
			r = -1;
		close(fd);
	}
	free(copy);
	return r;
}

/*
 * Replaces path with the n bytes at p, atomically and durably, with the
 * given mode.  Returns 0 or -1 with errno; on failure path is unchanged.
 */
int
kl_atomic_write(const char *path, const void *p, size_t n, mode_t mode)
{
	char *tmp = NULL;
	int fd, saved;

	if ((fd = kl_mkstemp_near(path, &tmp)) == -1)
		return -1;
	if (fchmod(fd, mode) == -1 || kl_write_all(fd, p, n) == -1 ||
	    fsync(fd) == -1)
		goto fail;
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) == -1)
		goto fail;
	free(tmp);
	return sync_dir(path);
fail:
	saved = errno;
	if (fd != -1)
		close(fd);
	unlink(tmp);
	free(tmp);
	errno = saved;
	return -1;
}

/*
 * Reads a whole file into b (appending), at most max bytes (EFBIG past
 * that).  Returns 0 or -1 with errno.
 */
int
kl_read_file(const char *path, struct kl_buf *b, size_t max)
{
	char chunk[8192];
	ssize_t r;
	size_t total = 0;
	int fd, saved;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	for (;;) {
		r = read(fd, chunk, sizeof(chunk));
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		total += (size_t)r;
		if (total > max) {
			errno = EFBIG;
			r = -1;
			break;
		}
		kl_buf_add(b, chunk, (size_t)r);
	}
	saved = errno;
	close(fd);
	explicit_bzero(chunk, sizeof(chunk));
	if (r == -1) {
		errno = saved;
		return -1;
	}
	if (b->err) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

/* Wall-clock time in milliseconds since the epoch. */
long
kl_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Monotonic time in milliseconds: for timeouts and pacing. */
long
kl_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A random 64-bit number for jitter and ids (not for secrets' sake). */
uint64_t
kl_random(void)
{
	static uint64_t s;
	uint64_t x;

	if (s == 0 && getrandom(&s, sizeof(s), 0) != sizeof(s))
		s = (uint64_t)kl_now_ms() ^ (uint64_t)getpid() << 32;
	if (s == 0)
		s = 0x9e3779b97f4a7c15ULL;
	/* xorshift64*: fast, and jitter needs no more. */
	x = s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	s = x;
	return x * 0x2545f4914f6cdd1dULL;
}
