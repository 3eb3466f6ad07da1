/*
 * io.c - NDJSON input and output (contract §5, house style §6).
 *
 * Input is read with read(2) into our own buffer rather than getline(3):
 * stopping relies on EINTR, and glibc's getline interrupted mid-line
 * returns the partial line as if it were whole, then the rest, turning
 * one record into two.  Here an interrupted read returns -1 with EINTR
 * and keeps the partial line for the next call.  Lines are returned in
 * place (no copy) with the newline and a trailing CR removed and a NUL
 * written where the newline was; blank lines are skipped.
 *
 * Output is written with write(2), retried on EINTR: glibc's fflush
 * interrupted on a full pipe reports EINTR and loses the buffered data.
 * One record is one write unless the output is a regular file, where
 * records are gathered up to 64 KiB (git's rule: flush per record when
 * someone may be waiting on the other end).  EPIPE on standard output
 * means the reader left: kl_epipe() dies quietly of SIGPIPE.
 */
#include <config.h>

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kl.h"

#define READ_CHUNK	(64 * 1024)
#define OUT_BUFFER	(64 * 1024)

struct kl_out kl_stdout = { STDOUT_FILENO, 0, 1, { NULL, 0, 0, 0 } };

/* Opens path for reading ("-" or NULL is standard input). */
int
kl_in_open(struct kl_in *in, const char *path)
{
	int fd;

	if (path == NULL || strcmp(path, "-") == 0)
		return kl_in_fdopen(in, STDIN_FILENO, "<stdin>");
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	if (kl_in_fdopen(in, fd, path) == -1) {
		close(fd);
		return -1;
	}
	in->owned = 1;
	return 0;
}

/* Wraps an open descriptor; name is copied and used in messages. */
int
kl_in_fdopen(struct kl_in *in, int fd, const char *name)
{
	memset(in, 0, sizeof(*in));
	in->fd = fd;
	if ((in->name = strdup(name)) == NULL)
		return -1;
	return 0;
}

void
kl_in_close(struct kl_in *in)
{
	if (in->owned && in->fd >= 0)
		close(in->fd);
	free(in->buf);
	free(in->name);
	memset(in, 0, sizeof(*in));
	in->fd = -1;
}

/* Moves unread data to the front and makes room for one more read. */
static int
make_room(struct kl_in *in)
{
	size_t cap;
	char *p;

	if (in->off > 0) {
		memmove(in->buf, in->buf + in->off, in->len - in->off);
		in->len -= in->off;
		in->off = 0;
	}
	if (in->cap - in->len >= READ_CHUNK / 4 + 1)
		return 0;
	if (in->len >= KL_LINE_MAX) {
		errno = E2BIG;
		return -1;
	}
	cap = in->cap ? in->cap * 2 : READ_CHUNK + 1;
	if ((p = realloc(in->buf, cap)) == NULL)
		return -1;
	in->buf = p;
	in->cap = cap;
	return 0;
}

/* Returns the line at off..off+n, terminated, with a CR dropped. */
static void
take(struct kl_in *in, size_t n, size_t skip, char **line, size_t *len)
{
	char *p = in->buf + in->off;

	in->off += n + skip;
	in->scan = 0;
	if (n > 0 && p[n - 1] == '\r')
		n--;
	p[n] = '\0';
	*line = p;
	*len = n;
}

/*
 * Returns the next non-blank line: 1 with *line (valid until the next
 * call; NUL-terminated; may contain NUL bytes) and *len set, 0 at end of
 * input, or -1 with errno: EINTR (a signal; call again to continue), E2BIG
 * (a line over KL_LINE_MAX), or a read(2) error.
 */
int
kl_in_line(struct kl_in *in, char **line, size_t *len)
{
	char *nl, *p;
	size_t n, k;
	ssize_t r;

	for (;;) {
		p = in->buf + in->off;
		n = in->len - in->off;
		nl = n > in->scan ? memchr(p + in->scan, '\n', n - in->scan) :
		    NULL;
		if (nl != NULL) {
			k = (size_t)(nl - p);
			in->line++;
			take(in, k, 1, line, len);
			if (*len == 0)
				continue;	/* blank line */
			return 1;
		}
		in->scan = n;
		if (in->eof) {
			if (n == 0)
				return 0;
			in->line++;
			if (in->len == in->cap && make_room(in) == -1)
				return -1;
			take(in, in->len - in->off, 0, line, len);
			if (*len == 0)
				return 0;
			return 1;
		}
		if (n > KL_LINE_MAX) {
			errno = E2BIG;
			return -1;
		}
		if (make_room(in) == -1)
			return -1;
		r = read(in->fd, in->buf + in->len, in->cap - in->len - 1);
		if (r == -1)
			return -1;
		if (r == 0)
			in->eof = 1;
		in->len += (size_t)r;
	}
}

/* Returns 1 if a complete line or end of input is already buffered. */
int
kl_in_pending(const struct kl_in *in)
{
	if (in->eof)
		return 1;
	return memchr(in->buf + in->off, '\n', in->len - in->off) != NULL;
}

/*
 * Waits up to ms milliseconds (-1: forever) for input.  Returns 1 if
 * input (or end of input) is there, 0 on timeout, -1 with errno (EINTR
 * when a signal arrived).  Used to send a partial batch after a pause.
 */
int
kl_in_wait(const struct kl_in *in, long ms)
{
	struct pollfd pfd;
	int r;

	if (kl_in_pending(in))
		return 1;
	pfd.fd = in->fd;
	pfd.events = POLLIN;
	r = poll(&pfd, 1, ms > INT32_MAX ? INT32_MAX : (int)ms);
	if (r == -1)
		return -1;
	return r > 0;
}

/*
 * Reads from each path in turn (none means standard input): the one place
 * that implements "no operands or '-' means stdin".
 */
void
kl_inputs_init(struct kl_inputs *ins, char **paths)
{
	static char dash0[] = "-";
	static char *dash[] = { dash0, NULL };

	memset(ins, 0, sizeof(*ins));
	ins->paths = paths != NULL && paths[0] != NULL ? paths : dash;
	ins->in.fd = -1;
}

/*
 * Like kl_in_line across all inputs.  ins->in.name and ins->in.line give
 * the position.  An input that cannot be opened returns -1 with errno and
 * ins->in.name naming it; calling again goes on with the next one.
 */
int
kl_inputs_line(struct kl_inputs *ins, char **line, size_t *len)
{
	int r;

	for (;;) {
		if (!ins->open) {
			if (ins->paths[ins->i] == NULL)
				return 0;
			free(ins->in.name);	/* the last failed input's */
			ins->in.name = NULL;
			if (kl_in_open(&ins->in, ins->paths[ins->i++]) == -1) {
				free(ins->in.name);
				ins->in.name = strdup(ins->paths[ins->i - 1]);
				return -1;
			}
			ins->open = 1;
		}
		if ((r = kl_in_line(&ins->in, line, len)) != 0)
			return r;
		kl_in_close(&ins->in);
		ins->open = 0;
	}
}

void
kl_inputs_close(struct kl_inputs *ins)
{
	if (ins->open)
		kl_in_close(&ins->in);
	else
		free(ins->in.name);
	ins->open = 0;
	ins->in.name = NULL;
}

/* Returns 1 if the command would read a terminal: print usage instead. */
int
kl_stdin_is_tty(char **paths)
{
	return (paths == NULL || paths[0] == NULL) && isatty(STDIN_FILENO);
}

/* Writes all of p, retrying on EINTR and short writes. */
int
kl_write_all(int fd, const void *p, size_t n)
{
	const char *s = p;
	ssize_t w;

	while (n > 0) {
		w = write(fd, s, n);
		if (w == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
is_regular(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

/* Prepares standard output: buffered only if it is a regular file. */
int
kl_out_init(void)
{
	kl_stdout.fd = STDOUT_FILENO;
	kl_stdout.is_stdout = 1;
	kl_stdout.buffered = is_regular(STDOUT_FILENO);
	kl_buf_init(&kl_stdout.b);
	return 0;
}

/* Opens path for appending (mode for a new file). */
int
kl_out_open(struct kl_out *o, const char *path, int mode)
{
	memset(o, 0, sizeof(*o));
	o->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, mode);
	if (o->fd == -1)
		return -1;
	o->buffered = 0;
	return 0;
}

static int
out_fail(struct kl_out *o)
{
	if (errno == EPIPE && o->is_stdout)
		kl_epipe();
	return -1;
}

/* Writes n bytes (whole records) to o, or buffers them. */
int
kl_out_write(struct kl_out *o, const void *p, size_t n)
{
	if (!o->buffered)
		return kl_write_all(o->fd, p, n) == -1 ? out_fail(o) : 0;
	kl_buf_add(&o->b, p, n);
	if (o->b.err) {
		errno = ENOMEM;
		return -1;
	}
	if (o->b.len >= OUT_BUFFER)
		return kl_out_flush(o);
	return 0;
}

int
kl_out_flush(struct kl_out *o)
{
	if (o->b.len == 0)
		return 0;
	if (kl_write_all(o->fd, o->b.data, o->b.len) == -1)
		return out_fail(o);
	kl_buf_reset(&o->b);
	return 0;
}

/* Flushes and closes; -1 with errno if any write failed. */
int
kl_out_close(struct kl_out *o)
{
	int r = kl_out_flush(o);

	kl_buf_free(&o->b);
	if (!o->is_stdout && o->fd >= 0 && close(o->fd) == -1)
		r = -1;
	if (!o->is_stdout)
		o->fd = -1;
	return r;
}

/* Writes one record line (without its newline: added here) to stdout. */
int
kl_emit(const char *p, size_t n)
{
	if (!kl_stdout.buffered) {
		kl_buf_reset(&kl_stdout.b);
		kl_buf_add(&kl_stdout.b, p, n);
		kl_buf_addc(&kl_stdout.b, '\n');
		if (kl_stdout.b.err) {
			errno = ENOMEM;
			return -1;
		}
		if (kl_write_all(kl_stdout.fd, kl_stdout.b.data,
		    kl_stdout.b.len) == -1)
			return out_fail(&kl_stdout);
		kl_buf_reset(&kl_stdout.b);
		return 0;
	}
	kl_buf_add(&kl_stdout.b, p, n);
	kl_buf_addc(&kl_stdout.b, '\n');
	if (kl_stdout.b.err) {
		errno = ENOMEM;
		return -1;
	}
	if (kl_stdout.b.len >= OUT_BUFFER)
		return kl_out_flush(&kl_stdout);
	return 0;
}
