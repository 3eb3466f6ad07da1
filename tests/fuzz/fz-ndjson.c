/*
 * fz-ndjson.c - libFuzzer target for the NDJSON reader (io.c).
 *
 * The input is fed through a pipe in chunks whose sizes come from the
 * data itself, so line boundaries fall across reads in every way.  The
 * lines read must be exactly the non-blank lines of the input with a
 * trailing CR dropped, in order: checked against a trivial splitter.
 */
#include <config.h>

#include <sys/wait.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kl.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* The reference: split on \n, drop one trailing \r, skip empty lines. */
static size_t
ref_next(const uint8_t *p, size_t n, size_t *off, size_t *len)
{
	size_t s, e, k;

	while (*off < n || *off == n) {
		if (*off >= n)
			return 0;
		s = *off;
		e = s;
		while (e < n && p[e] != '\n')
			e++;
		*off = e + 1;
		k = e - s;
		if (k > 0 && p[e - 1] == '\r')
			k--;
		if (k > 0) {
			*len = k;
			return s + 1;
		}
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kl_in in;
	size_t off = 0, rlen = 0, start, got;
	char *line;
	int fds[2];
	pid_t pid;

	if (size > 60000 || pipe(fds) == -1)
		return 0;
	if ((pid = fork()) == 0) {
		size_t i = 0, chunk;

		close(fds[0]);
		while (i < size) {
			chunk = 1 + data[i] % 97;
			if (chunk > size - i)
				chunk = size - i;
			if (kl_write_all(fds[1], data + i, chunk) == -1)
				_exit(1);
			i += chunk;
		}
		_exit(0);
	}
	close(fds[1]);
	kl_in_fdopen(&in, fds[0], "fuzz");
	for (;;) {
		int r = kl_in_line(&in, &line, &got);

		if (r == -1 && errno == EINTR)
			continue;
		start = ref_next(data, size, &off, &rlen);
		if (r != 1) {
			if (r != 0 || start != 0)
				abort();
			break;
		}
		if (start == 0 || got != rlen ||
		    memcmp(line, data + start - 1, got) != 0)
			abort();
	}
	close(fds[0]);
	kl_in_close(&in);
	while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
		;
	return 0;
}
