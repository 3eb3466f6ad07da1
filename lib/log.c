/*
 * log.c - diagnostics on standard error, one line per message.
 *
 * Format (contract §8): "kl-x: LEVEL: text[: strerror]".  Each line is
 * built whole and written with one write(2), so commands sharing a log
 * file do not interleave.  errnum is passed explicitly rather than read
 * from errno, which anything called in between may clobber.  Nothing here
 * knows about secrets: callers never pass them, and kl_akid_tail() is the
 * one sanctioned way to mention an access key id.  A progress line
 * (progress.c) is erased before each message and drawn again later.
 *
 * The helpers of struct kl_err live here too.  kl_err_status is the one
 * mapping from a library failure to an exit status (contract 4), so that
 * every command exits alike for alike failures.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kl.h"

const char *kl_prog = "kl";
int kl_verbose;

static const char *const levels[] = {
	"fatal", "error", "warning", "info", "debug",
};

void
kl_vlog(int level, int errnum, const char *fmt, va_list ap)
{
	char line[4096];
	int n, m;

	if (level > KL_WARNING && level - KL_WARNING > kl_verbose)
		return;
	kl_progress_hide();	/* never on the progress line; it never logs */
	n = snprintf(line, sizeof(line), "%s: %s: ", kl_prog, levels[level]);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	if (m < 0)
		return;
	n += m;
	if ((size_t)n >= sizeof(line) - 1) {
		/* Truncated: mark it and keep the newline. */
		n = (int)sizeof(line) - 5;
		memcpy(line + n, "...", 3);
		n += 3;
	}
	if (errnum != 0)
		n += snprintf(line + n, sizeof(line) - (size_t)n, ": %s",
		    strerror(errnum));
	if ((size_t)n >= sizeof(line) - 1)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	(void)kl_write_all(STDERR_FILENO, line, (size_t)n);
}

/* Writes one message at level (enum kl_level) if verbosity allows it. */
void
kl_log(int level, int errnum, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	kl_vlog(level, errnum, fmt, ap);
	va_end(ap);
}

/*
 * Logs a fatal message and exits with status.  For commands only: the
 * library never calls it.
 */
void
kl_die(int status, int errnum, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	kl_vlog(KL_FATAL, errnum, fmt, ap);
	va_end(ap);
	exit(status);
}

/*
 * Returns "...WXYZ": the form in which an access key id may appear in
 * messages (contract §8).  Uses a static buffer.
 */
const char *
kl_akid_tail(const char *akid)
{
	static char out[8];
	size_t n;

	if (akid == NULL)
		return "(none)";
	n = strlen(akid);
	snprintf(out, sizeof(out), "...%s", n > 4 ? akid + n - 4 : "");
	return out;
}

void
kl_err_clear(struct kl_err *e)
{
	memset(e, 0, sizeof(*e));
}

/* Fills e: kind, HTTP status, service code (may be NULL), message. */
void
kl_err_set(struct kl_err *e, int kind, long status, const char *code,
    const char *fmt, ...)
{
	va_list ap;

	e->kind = kind;
	e->status = status;
	snprintf(e->code, sizeof(e->code), "%s", code ? code : "");
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
}

/*
 * Returns the exit status (contract 4) for the failure described in e:
 * KL_EXIT_USAGE for bad configuration (KL_ERR_CONFIG: a bad value, a
 * secret file that group or others can read), KL_EXIT_TEMPFAIL for a
 * transient failure after the retries and for a stop signal (kl_exit
 * then dies of the signal), KL_EXIT_FAIL for anything else.
 */
int
kl_err_status(const struct kl_err *e)
{
	switch (e->kind) {
	case KL_ERR_CONFIG:
		return KL_EXIT_USAGE;
	case KL_ERR_TRANSIENT:
	case KL_ERR_STOPPED:
		return KL_EXIT_TEMPFAIL;
	default:
		return KL_EXIT_FAIL;
	}
}
