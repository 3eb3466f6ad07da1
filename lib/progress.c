/*
 * progress.c - a progress line on standard error for long backfills and
 * drains ("kl-read-shard: 120,000 records, 41,250/s, lag 3.2 s"), shown
 * only when standard error is a terminal.
 *
 * Design decisions:
 *
 * - Only when isatty(2): under cron, systemd or a redirect the commands
 *   stay quiet, and -v messages are the way to follow progress there.
 * - One line, rewritten in place with a carriage return and padded with
 *   spaces over the previous text (no terminal escapes, so it also works
 *   with TERM=dumb), cut to the terminal's width so it never wraps.
 * - Rate-limited: the first draw comes every_ms (1 s) after the start,
 *   so a run that ends sooner shows nothing, then at most one draw per
 *   every_ms however often kl_progress_update() is called.  The rate is
 *   over the last interval, smoothed.
 * - An update is a counter check: the clock (clock_gettime(2), some 40 ns
 *   even through the vDSO) is read only every stride updates, the stride
 *   doubling while a stride's worth takes under a millisecond, up to
 *   KL_PROGRESS_STRIDE, and shrinking in proportion when it takes longer
 *   (to 1 at once after a pause).  A fast reader reads the clock about
 *   once a millisecond; a slow one at every update, so its line stays
 *   current; a burst that gives way to a trickle delays a draw by at
 *   most KL_PROGRESS_STRIDE updates.
 * - Nothing here logs (log.c calls kl_progress_hide() before each
 *   message), so the two never call each other round.
 * - kl_progress_end() erases the line, leaving the terminal as it was.
 *   A command that logs while a line is shown calls kl_progress_hide()
 *   first (the line comes back at the next draw).
 * - The library writes standard error only here and in log.c; nothing
 *   goes to standard output.
 */
#include <config.h>

#include <sys/ioctl.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kl.h"

static struct kl_progress *active;	/* the line kl_progress_hide erases */

/*
 * Prepares p for counting unit ("records", "members").  It draws
 * nothing unless standard error is a terminal.
 */
void
kl_progress_init(struct kl_progress *p, const char *unit)
{
	memset(p, 0, sizeof(*p));
	p->on = isatty(STDERR_FILENO);
	p->unit = unit;
	p->every_ms = KL_PROGRESS_EVERY_MS;
	p->start_ms = p->last_ms = p->check_ms = kl_mono_ms();
	p->stride = p->skip = 1;
	p->total = -1;
	p->lag_ms = -1;
	active = p;
}

/* Sets the number expected (a scan's total), or -1 if unknown. */
void
kl_progress_total(struct kl_progress *p, long total)
{
	p->total = total;
}

/* Appends n with thousands separators. */
static void
add_count(struct kl_buf *b, long n)
{
	char d[32];
	int len, i;

	len = snprintf(d, sizeof(d), "%ld", n < 0 ? 0 : n);
	for (i = 0; i < len; i++) {
		if (i > 0 && (len - i) % 3 == 0)
			kl_buf_addc(b, ',');
		kl_buf_addc(b, d[i]);
	}
}

static void
add_duration(struct kl_buf *b, long ms)
{
	long s = ms / 1000;

	if (ms < 60000)
		kl_buf_addf(b, "%ld.%ld s", ms / 1000, ms % 1000 / 100);
	else if (s < 3600)
		kl_buf_addf(b, "%ldm%02lds", s / 60, s % 60);
	else
		kl_buf_addf(b, "%ldh%02ldm", s / 3600, s % 3600 / 60);
}

static int
columns(void)
{
	struct winsize ws;

	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 10)
		return ws.ws_col;
	return 80;
}

/* Writes line (without the carriage return) over the previous one. */
static void
draw(struct kl_progress *p, const char *line, size_t n)
{
	struct kl_buf b;
	size_t width = (size_t)columns() - 1, i;

	if (n > width)
		n = width;
	kl_buf_init(&b);
	kl_buf_addc(&b, '\r');
	kl_buf_add(&b, line, n);
	for (i = n; i < p->width; i++)
		kl_buf_addc(&b, ' ');
	if (n == 0)
		kl_buf_addc(&b, '\r');
	if (!b.err)
		(void)kl_write_all(STDERR_FILENO, b.data, b.len);
	kl_buf_free(&b);
	p->width = n;
	p->drawn = n > 0;
}

static void
redraw(struct kl_progress *p, long now)
{
	struct kl_buf b;
	double r;

	if (now > p->last_ms) {
		r = (double)(p->count - p->last_count) * 1000.0 /
		    (double)(now - p->last_ms);
		p->rate = p->draws == 0 ? r : (p->rate + r) / 2;
	}
	p->last_ms = now;
	p->last_count = p->count;
	p->draws++;
	kl_buf_init(&b);
	kl_buf_addf(&b, "%s: ", kl_prog);
	add_count(&b, p->count);
	if (p->total >= 0) {
		kl_buf_adds(&b, " of ");
		add_count(&b, p->total);
	}
	kl_buf_addf(&b, " %s", p->unit);
	if (p->total > 0)
		kl_buf_addf(&b, " (%ld%%)", p->count >= p->total ? 100 :
		    (long)((double)p->count * 100.0 / (double)p->total));
	kl_buf_adds(&b, ", ");
	add_count(&b, (long)(p->rate + 0.5));
	kl_buf_adds(&b, "/s");
	if (p->lag_ms >= 0) {
		kl_buf_adds(&b, ", lag ");
		add_duration(&b, p->lag_ms);
	}
	kl_buf_adds(&b, ", ");
	add_duration(&b, now - p->start_ms);
	if (!b.err)
		draw(p, b.data, b.len);
	kl_buf_free(&b);
}

/*
 * Records count items done so far and the lag behind the source in ms
 * (-1 if not known), and redraws the line if every_ms have passed since
 * the last draw.  Cheap enough to call for every record: the clock is
 * read only every p->stride calls (see the header).
 */
void
kl_progress_update(struct kl_progress *p, long count, long lag_ms)
{
	long now, dt;

	p->count = count;
	if (lag_ms >= 0)
		p->lag_ms = lag_ms;
	if (!p->on || --p->skip > 0)
		return;
	now = kl_mono_ms();
	dt = now - p->check_ms;
	if (dt <= 0) {
		if (p->stride < KL_PROGRESS_STRIDE)
			p->stride *= 2;
	} else if (dt > 1)
		p->stride = p->stride / dt > 1 ? p->stride / dt : 1;
	p->skip = p->stride;
	p->check_ms = now;
	if (now - p->last_ms >= p->every_ms)
		redraw(p, now);
}

/* Erases the line, if one is shown; the next draw brings it back. */
void
kl_progress_clear(struct kl_progress *p)
{
	if (p->on && p->drawn)
		draw(p, "", 0);
}

/* Erases the line of the progress in use, if any (before a message). */
void
kl_progress_hide(void)
{
	if (active != NULL)
		kl_progress_clear(active);
}

/* Ends p: erases its line.  p may be initialised again. */
void
kl_progress_end(struct kl_progress *p)
{
	kl_progress_clear(p);
	if (active == p)
		active = NULL;
}
