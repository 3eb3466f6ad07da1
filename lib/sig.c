/*
 * sig.c - stopping on SIGINT, SIGTERM and SIGHUP; dying of SIGPIPE.
 *
 * The handler only records the signal.  It is installed without
 * SA_RESTART so that a read(2) blocked on an idle pipe returns EINTR and
 * the command notices, and with SA_RESETHAND so that a second signal
 * kills at once.  The command finishes the record in hand, flushes, and
 * calls kl_exit(), which re-raises the signal with its default action:
 * a parent shell then sees WIFSIGNALED and a loop stops on ^C.
 *
 * SIGPIPE is ignored so that a peer closing a socket inside libcurl or
 * OpenSSL cannot kill us mid-request; EPIPE on standard output means the
 * reader left, and kl_epipe() turns it back into a SIGPIPE death.
 */
#include <config.h>

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kl.h"

static volatile sig_atomic_t stop_sig;

static void
on_stop(int sig)
{
	stop_sig = sig;
}

void
kl_sig_init(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sa.sa_flags = SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* Returns non-zero once a stop signal arrived. */
int
kl_stopping(void)
{
	return stop_sig != 0;
}

int
kl_stop_signal(void)
{
	return stop_sig;
}

/* Behaves as if sig had arrived: for stages that stop their peers. */
void
kl_stop_request(int sig)
{
	stop_sig = sig;
}

/*
 * Exits with status, or, if a stop signal arrived, dies of that signal
 * (status 128+n if re-raising somehow returns).
 */
void
kl_exit(int status)
{
	int sig = stop_sig;

	if (sig != 0 && status != KL_EXIT_FAIL && status != KL_EXIT_USAGE) {
		signal(sig, SIG_DFL);
		raise(sig);
		_exit(128 + sig);
	}
	exit(status);
}

/* The reader of standard output left: die quietly of SIGPIPE. */
void
kl_epipe(void)
{
	signal(SIGPIPE, SIG_DFL);
	raise(SIGPIPE);
	_exit(128 + SIGPIPE);
}

/*
 * Combines two exit statuses: stopping early (1, 75) beats finishing
 * with rejects (3), which beats success (contract §4).  Usage errors (2)
 * come before anything runs and win over everything.
 */
int
kl_exit_worst(int a, int b)
{
	static const int rank[] = { 0, 4, 5, 2, 0 };
	int ra, rb;

	ra = a == 75 ? 3 : (a >= 0 && a <= 3 ? rank[a] : 3);
	rb = b == 75 ? 3 : (b >= 0 && b <= 3 ? rank[b] : 3);
	if (ra == rb)
		return a > b ? a : b;
	return ra > rb ? a : b;
}
