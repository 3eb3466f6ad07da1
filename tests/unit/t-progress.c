/*
 * t-progress.c - unit tests of progress.c: nothing is drawn unless
 * standard error is a terminal (a pseudo-terminal opened here), draws are
 * rate-limited, the line is rewritten in place and erased at the end.
 *
 * "t-progress --demo" counts 3,000 records over 1.5 s with the default
 * rate (one draw a second), for tests/kl-job.t to run under script(1).
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kl.h"
#include "tap.h"

/* Counts updates for ms milliseconds, n per millisecond. */
static void
count_for(struct kl_progress *p, long ms, long lag)
{
	long start = kl_mono_ms(), i = 0;

	while (kl_mono_ms() - start < ms) {
		i += 2;
		kl_progress_update(p, i, lag);
		usleep(1000);
	}
}

static int
demo(void)
{
	struct kl_progress p;

	kl_progress_init(&p, "records");
	kl_progress_total(&p, 3000);
	count_for(&p, 1500, 2500);
	kl_progress_end(&p);
	return 0;
}

/* Reads what the master side of a pty holds, without waiting. */
static void
drain(int fd, struct kl_buf *b)
{
	char buf[4096];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		kl_buf_add(b, buf, (size_t)n);
}

static int
count_of(const char *s, char c)
{
	int n = 0;

	for (; s != NULL && *s != '\0'; s++)
		n += *s == c;
	return n;
}

int
main(int argc, char **argv)
{
	struct kl_progress p;
	struct kl_buf b;
	char path[] = "/tmp/t-progress.XXXXXX";
	int saved, fd, master, slave, draws;

	kl_prog = "t-progress";
	if (argc > 1 && strcmp(argv[1], "--demo") == 0)
		return demo();

	/* Not a terminal: nothing at all. */
	saved = dup(2);
	fd = mkstemp(path);
	dup2(fd, 2);
	kl_progress_init(&p, "records");
	p.every_ms = 10;
	count_for(&p, 100, 10);
	kl_progress_end(&p);
	dup2(saved, 2);
	is_int(lseek(fd, 0, SEEK_END), 0, "not a terminal: nothing drawn");
	is_int(p.on, 0, "and progress is off");
	close(fd);
	unlink(path);

	/* A pseudo-terminal. */
	master = posix_openpt(O_RDWR | O_NOCTTY);
	if (master == -1 || grantpt(master) == -1 || unlockpt(master) == -1 ||
	    (slave = open(ptsname(master), O_RDWR | O_NOCTTY)) == -1) {
		skip(9, "no pseudo-terminal");
		return done_testing();
	}
	fcntl(master, F_SETFL, O_NONBLOCK);
	kl_buf_init(&b);

	dup2(slave, 2);
	kl_progress_init(&p, "records");
	count_for(&p, 200, -1);
	kl_progress_end(&p);
	dup2(saved, 2);
	usleep(50000);
	drain(master, &b);
	is_int((long long)b.len, 0, "default rate: a short run draws nothing");

	dup2(slave, 2);
	kl_progress_init(&p, "records");
	p.every_ms = 40;
	count_for(&p, 300, 1500);
	draws = (int)p.draws;
	kl_progress_hide();
	count_for(&p, 100, 1500);
	kl_progress_end(&p);
	dup2(saved, 2);
	usleep(50000);
	drain(master, &b);
	ok(p.on, "a terminal: progress is on");
	ok(draws >= 3 && draws <= 9, "rate-limited: %d draws in 300 ms at "
	    "40 ms", draws);
	ok(b.data != NULL && strstr(b.data, "\rt-progress: ") != NULL,
	    "the line starts with a carriage return and the program");
	ok(b.data != NULL && strstr(b.data, " records, ") != NULL &&
	    strstr(b.data, "/s, lag 1.5 s, ") != NULL,
	    "records, rate and lag");
	ok(count_of(b.data, '\n') == 0, "no newline: rewritten in place");
	ok(b.len > 2 && b.data[b.len - 1] == '\r' && b.data[b.len - 2] == ' ',
	    "erased at the end");

	kl_buf_reset(&b);
	dup2(slave, 2);
	kl_progress_init(&p, "members");
	kl_progress_total(&p, 1000);
	p.every_ms = 20;
	count_for(&p, 60, -1);
	kl_progress_end(&p);
	dup2(saved, 2);
	usleep(50000);
	drain(master, &b);
	ok(b.data != NULL && strstr(b.data, " of 1,000 members (") != NULL,
	    "with a total: the share done");
	ok(b.data != NULL && strstr(b.data, "lag") == NULL,
	    "no lag when none is known");
	kl_buf_free(&b);
	close(slave);
	close(master);
	close(saved);
	return done_testing();
}
