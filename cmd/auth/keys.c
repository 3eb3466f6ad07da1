/*
 * auth/keys.c - how kl-auth add gets the keys it stores.
 *
 * Design decisions:
 *
 * - Never from argv.  In this order of choice: --from-env (the AWS_*
 *   variables); a terminal on the standard input (a prompt on /dev/tty,
 *   the secret read with echo off and the terminal restored, even on a
 *   signal); else the whole standard input: a JSON object with
 *   AccessKeyId and SecretAccessKey (at the top, or under "AccessKey" as
 *   `aws iam create-access-key` prints them), or two non-blank lines.
 * - Input is read with read(2) into one buffer sized once (no realloc
 *   copies of a secret) and wiped; jv's own copies cannot be wiped (house
 *   style 6.3, store.c).  Messages say what is wrong with the input,
 *   never what it holds.
 * - Only long-term keys are stored: a session token, or a temporary
 *   (ASIA...) key id, is refused, since it would expire in the store.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <jv.h>

#include "kl.h"
#include "auth.h"

#define INPUT_MAX	(64 * 1024)
#define SECRET_MAX	1024

static int
akid_ok(const char *s)
{
	size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuv"
	    "wxyz0123456789");

	return s[n] == '\0' && n >= 4 && n <= 128;
}

static int
secret_ok(const char *s)
{
	size_t n;

	for (n = 0; s[n] != '\0'; n++)
		if (s[n] <= ' ' || s[n] > '~')
			return 0;
	return n >= 16 && n <= SECRET_MAX;
}

/* Reads the whole standard input into b, sized once. */
static int
read_all(int fd, struct kl_buf *b)
{
	ssize_t r;

	if (kl_buf_reserve(b, INPUT_MAX + 1) == -1)
		return -1;
	for (;;) {
		r = read(fd, b->data + b->len, INPUT_MAX + 1 - b->len);
		if (r == -1 && errno == EINTR && !kl_stopping())
			continue;
		if (r == -1)
			return -1;
		if (r == 0)
			break;
		b->len += (size_t)r;
		if (b->len > INPUT_MAX) {
			errno = EFBIG;
			return -1;
		}
	}
	b->data[b->len] = '\0';
	return 0;
}

/* The keys of a JSON object; NULL, or what is wrong. */
static const char *
from_json(const char *p, size_t n, char **akid, char **secret)
{
	static char why[200];
	char pwhy[160];
	jv top, o;

	if (kl_json_parse_obj(p, n, &top, pwhy, sizeof(pwhy)) == -1) {
		snprintf(why, sizeof(why), "the keys on the standard input are "
		    "%s", pwhy);
		return why;
	}
	o = jv_object_get(jv_copy(top), jv_string("AccessKey"));
	if (jv_get_kind(o) != JV_KIND_OBJECT) {
		jv_free(o);
		o = jv_copy(top);
	}
	jv_free(top);
	if (jv_object_has(jv_copy(o), jv_string("SessionToken")))
		snprintf(why, sizeof(why), "the keys on the standard input "
		    "have a SessionToken: temporary credentials expire, store "
		    "long-term keys");
	else if (kl_json_dup(o, "AccessKeyId", akid) == -1)
		snprintf(why, sizeof(why), "the JSON object on the standard "
		    "input has no string AccessKeyId");
	else if (kl_json_dup(o, "SecretAccessKey", secret) == -1)
		snprintf(why, sizeof(why), "the JSON object on the standard "
		    "input has no string SecretAccessKey");
	else
		why[0] = '\0';
	jv_free(o);
	return why[0] != '\0' ? why : NULL;
}

/* The keys as two non-blank lines; NULL, or what is wrong. */
static const char *
from_lines(char *p, char **akid, char **secret)
{
	static char why[200];
	char *line, *end, *v[2];
	int n = 0;

	for (line = p; *line != '\0'; line = end) {
		end = line + strcspn(line, "\n");
		if (*end == '\n')
			*end++ = '\0';
		while (*line == ' ' || *line == '\t')
			line++;
		line[strcspn(line, " \t\r")] = '\0';
		if (*line != '\0' && n++ < 2)
			v[n - 1] = line;
	}
	if (n != 2) {
		snprintf(why, sizeof(why), "the standard input holds %d "
		    "non-blank line%s: want a JSON object with AccessKeyId and "
		    "SecretAccessKey, or two lines, the access key id then the "
		    "secret access key", n, n == 1 ? "" : "s");
		return why;
	}
	if ((*akid = strdup(v[0])) == NULL || (*secret = strdup(v[1])) == NULL)
		return "out of memory";
	return NULL;
}

/* Prompts on the terminal fd and reads one line into b (echo off). */
static int
prompt(int fd, const char *what, int echo, struct kl_buf *b)
{
	struct termios t, quiet;
	ssize_t n;
	char c;
	int r = 0, restore = 0;

	if (kl_buf_reserve(b, SECRET_MAX + 1) == -1)
		return -1;
	kl_write_all(fd, what, strlen(what));
	if (!echo && tcgetattr(fd, &t) == 0) {
		quiet = t;
		quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
		restore = tcsetattr(fd, TCSAFLUSH, &quiet) == 0;
	}
	for (;;) {
		n = read(fd, &c, 1);
		if (n == -1 && errno == EINTR && !kl_stopping())
			continue;
		if (n != 1 || b->len >= SECRET_MAX) {
			r = -1;
			break;
		}
		if (c == '\n' || c == '\r')
			break;
		b->data[b->len++] = c;
		b->data[b->len] = '\0';
	}
	c = 0;
	if (restore) {
		tcsetattr(fd, TCSAFLUSH, &t);
		kl_write_all(fd, "\n", 1);
	}
	return r;
}

/* Both keys from the terminal; NULL, or what is wrong. */
static const char *
from_tty(char **akid, char **secret)
{
	struct kl_buf a, s;
	const char *why = NULL;
	int fd;

	if ((fd = open("/dev/tty", O_RDWR | O_CLOEXEC)) == -1)
		return "the standard input is a terminal, but /dev/tty cannot "
		    "be opened";
	kl_buf_init(&a);
	kl_buf_init(&s);
	if (prompt(fd, "AWS access key id: ", 1, &a) == -1 ||
	    prompt(fd, "AWS secret access key (not shown): ", 0, &s) == -1)
		why = "no keys were typed";
	else if ((*akid = strdup(a.data)) == NULL ||
	    (*secret = strdup(s.data)) == NULL)
		why = "out of memory";
	close(fd);
	kl_buf_wipe(&a);
	kl_buf_wipe(&s);
	if (kl_stopping())
		kl_exit(KL_EXIT_TEMPFAIL);
	return why;
}

/*
 * The keys add stores, in *akid and *secret (malloc'd; the caller wipes
 * the secret and frees both, also after a failure).  Returns NULL, or
 * what is wrong, never a piece of the keys.  A stop signal while reading
 * ends the process.
 */
const char *
get_keys(const struct opts *o, char **akid, char **secret)
{
	struct kl_buf b;
	const char *why, *a, *s;
	size_t i;

	*akid = *secret = NULL;
	if (o->from_env) {
		a = getenv("AWS_ACCESS_KEY_ID");
		s = getenv("AWS_SECRET_ACCESS_KEY");
		if (a == NULL || *a == '\0' || s == NULL || *s == '\0')
			return "--from-env: AWS_ACCESS_KEY_ID and "
			    "AWS_SECRET_ACCESS_KEY must both be set";
		if (getenv("AWS_SESSION_TOKEN") != NULL)
			return "--from-env: AWS_SESSION_TOKEN is set: temporary "
			    "credentials expire, store long-term keys";
		if ((*akid = strdup(a)) == NULL || (*secret = strdup(s)) == NULL)
			return "out of memory";
		why = NULL;
	} else if (isatty(STDIN_FILENO))
		why = from_tty(akid, secret);
	else {
		kl_buf_init(&b);
		if (read_all(STDIN_FILENO, &b) == -1) {
			kl_buf_wipe(&b);
			if (kl_stopping())
				kl_exit(KL_EXIT_TEMPFAIL);
			return errno == EFBIG ? "the standard input is larger "
			    "than 64 KiB: not keys" : "cannot read the standard "
			    "input";
		}
		for (i = 0; i < b.len && strchr(" \t\r\n", b.data[i]); i++)
			;
		if (i < b.len && b.data[i] == '{')
			why = from_json(b.data, b.len, akid, secret);
		else if (memchr(b.data, '\0', b.len) != NULL)
			why = "the standard input holds a NUL byte: not keys";
		else
			why = from_lines(b.data, akid, secret);
		kl_buf_wipe(&b);
	}
	if (why == NULL && !akid_ok(*akid))
		why = "the access key id is not 4-128 letters and digits";
	else if (why == NULL && strncmp(*akid, "ASIA", 4) == 0)
		why = "the access key id is a temporary one (ASIA...): it "
		    "expires, store long-term keys";
	else if (why == NULL && !secret_ok(*secret))
		why = "the secret access key is not 16-1024 printable "
		    "characters without blanks";
	return why;
}
