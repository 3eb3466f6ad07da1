/*
 * t-io.c - tests for io.c and reject.c: line splitting (CR LF, blank
 * lines, a last line without newline, NUL bytes, lines longer than one
 * read), several inputs with positions, output buffering, and the
 * rejects line format.
 */
#include <config.h>

#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kl.h"
#include "tap.h"

static char dir[] = "/tmp/kl-t-io.XXXXXX";

static char *
put_file(const char *name, const void *p, size_t n)
{
	static char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd == -1 || kl_write_all(fd, p, n) == -1)
		abort();
	close(fd);
	return path;
}

static void
test_lines(void)
{
	static const char text[] = "a\r\n\n  \nb\n\r\nlast";
	struct kl_in in;
	char *line, *path;
	size_t len;

	path = put_file("lines", text, sizeof(text) - 1);
	ok(kl_in_open(&in, path) == 0, "open a file");
	ok(kl_in_line(&in, &line, &len) == 1 && len == 1 &&
	    strcmp(line, "a") == 0 && in.line == 1, "CR LF dropped, line 1");
	ok(kl_in_line(&in, &line, &len) == 1 && strcmp(line, "  ") == 0 &&
	    in.line == 3, "blank line skipped; spaces kept for the parser");
	ok(kl_in_line(&in, &line, &len) == 1 && strcmp(line, "b") == 0 &&
	    in.line == 4, "line 4");
	ok(kl_in_line(&in, &line, &len) == 1 && strcmp(line, "last") == 0 &&
	    in.line == 6, "last line without newline, CR-only line skipped");
	is_int(kl_in_line(&in, &line, &len), 0, "end of input");
	is_int(kl_in_line(&in, &line, &len), 0, "end of input again");
	kl_in_close(&in);
}

static void
test_long(void)
{
	struct kl_in in;
	char *big, *line, *path;
	size_t n = 300000, len;

	big = malloc(2 * n + 2);
	memset(big, 'x', n);
	big[n] = '\n';
	memset(big + n + 1, 'y', n);
	big[2 * n + 1] = '\n';
	big[10] = '\0';
	path = put_file("long", big, 2 * n + 2);
	kl_in_open(&in, path);
	ok(kl_in_line(&in, &line, &len) == 1 && len == n &&
	    line[10] == '\0' && line[11] == 'x', "300 kB line with a NUL");
	ok(kl_in_line(&in, &line, &len) == 1 && len == n && line[0] == 'y',
	    "second long line");
	is_int(kl_in_line(&in, &line, &len), 0, "end after long lines");
	kl_in_close(&in);
	free(big);
}

static void
test_inputs(void)
{
	char a[256], b[256], missing[] = "/nonexistent/kl";
	char *paths[4], *line;
	struct kl_inputs ins;
	size_t len;
	int r;

	snprintf(a, sizeof(a), "%s", put_file("a", "1\n2\n", 4));
	snprintf(b, sizeof(b), "%s", put_file("b", "3", 1));
	paths[0] = a;
	paths[1] = missing;
	paths[2] = b;
	paths[3] = NULL;
	kl_inputs_init(&ins, paths);
	ok(kl_inputs_line(&ins, &line, &len) == 1 && ins.in.line == 1 &&
	    strcmp(ins.in.name, a) == 0, "first input, line 1");
	ok(kl_inputs_line(&ins, &line, &len) == 1 && ins.in.line == 2,
	    "first input, line 2");
	r = kl_inputs_line(&ins, &line, &len);
	ok(r == -1 && errno == ENOENT &&
	    strcmp(ins.in.name, "/nonexistent/kl") == 0,
	    "missing input reported by name");
	ok(kl_inputs_line(&ins, &line, &len) == 1 && strcmp(line, "3") == 0 &&
	    ins.in.line == 1, "goes on with the next input");
	is_int(kl_inputs_line(&ins, &line, &len), 0, "end of all inputs");
	kl_inputs_close(&ins);
}

static void
test_rejects(void)
{
	struct kl_rejects r;
	struct kl_buf b;
	char path[256];

	snprintf(path, sizeof(path), "%s/rej", dir);
	ok(kl_rejects_open(&r, path) == 0, "rejects open");
	kl_reject(&r, "<stdin>", 7, "ValidationException", "bad \"x\"",
	    "{\"a\":1}", 7, 1);
	kl_reject(&r, "in.ndjson", 8, NULL, "not JSON", "a\tb", 3, 0);
	is_int(r.count, 2, "two rejects counted");
	kl_rejects_close(&r);
	kl_buf_init(&b);
	kl_read_file(path, &b, 1 << 20);
	is_str(b.data, "{\"line\":7,\"error\":{\"code\":\"ValidationException\","
	    "\"message\":\"bad \\\"x\\\"\"},\"record\":{\"a\":1}}\n"
	    "{\"line\":8,\"input\":\"in.ndjson\",\"error\":{\"code\":"
	    "\"Rejected\",\"message\":\"not JSON\"},\"record\":\"a\\tb\"}\n",
	    "rejects lines");
	kl_buf_free(&b);
}

static void
test_atomic(void)
{
	struct kl_buf b;
	char path[256];

	snprintf(path, sizeof(path), "%s/atomic", dir);
	ok(kl_atomic_write(path, "one", 3, 0600) == 0, "atomic write");
	ok(kl_atomic_write(path, "two", 3, 0600) == 0, "atomic replace");
	kl_buf_init(&b);
	kl_read_file(path, &b, 100);
	is_str(b.data, "two", "replaced content");
	kl_buf_reset(&b);
	ok(kl_read_file(path, &b, 2) == -1 && errno == EFBIG,
	    "read_file size limit");
	kl_buf_free(&b);
}

static void
test_buf(void)
{
	struct kl_buf b;

	kl_buf_init(&b);
	kl_buf_add_jstr(&b, "a\"\\\n\x01\xc3\xa9", 7);
	is_str(b.data, "\"a\\\"\\\\\\n\\u0001\xc3\xa9\"", "json string");
	kl_buf_reset(&b);
	kl_buf_addf(&b, "%d-%s", 42, "x");
	is_str(b.data, "42-x", "addf");
	kl_buf_free(&b);
}

int
main(void)
{
	char cmd[300];

	if (mkdtemp(dir) == NULL)
		return 1;
	test_lines();
	test_long();
	test_inputs();
	test_rejects();
	test_atomic();
	test_buf();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		diag("could not remove %s", dir);
	return done_testing();
}
