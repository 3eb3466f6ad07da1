/*
 * outputs.c - the last step of a command that writes records to the
 * standard output and, if it has one, undelivered ones to --rejects
 * (kl-to-lytics, kl-trigger-put, kl-read-audience): closing both,
 * checked.
 *
 * Design decisions:
 *
 * - A failed close is exit 1 (house style 5): the helper logs what
 *   failed and returns the worse of that and the status so far, which
 *   the command still exits with (kl_exit).  It exits nothing itself.
 * - A failure to write the standard output already said (the status is
 *   1) is not said again.
 */
#include <config.h>

#include <errno.h>

#include "kl.h"

/*
 * Closes the standard output (kl_out_close) and rj if not NULL, whose
 * file is path, logging each failure at fatal level.  Returns status,
 * made at least KL_EXIT_FAIL (kl_exit_worst) if either failed.
 */
int
kl_outputs_close(int status, struct kl_rejects *rj, const char *path)
{
	if (kl_out_close(&kl_stdout) == -1) {
		if (status != KL_EXIT_FAIL)
			kl_log(KL_FATAL, errno, "cannot write the standard "
			    "output");
		status = kl_exit_worst(status, KL_EXIT_FAIL);
	}
	if (rj != NULL && kl_rejects_close(rj) == -1) {
		kl_log(KL_FATAL, errno, "cannot write '%s'", path);
		status = kl_exit_worst(status, KL_EXIT_FAIL);
	}
	return status;
}
