/*
 * reject.c - the --rejects file (contract §6).
 *
 * One line per input that was not delivered:
 *   {"line":7,"error":{"code":"...","message":"..."},"record":...}
 * The record is the input object as it came (already valid JSON) or, when
 * the input was not JSON, the raw line as a string, so that
 * "jq -c .record FILE | kl-x" replays exactly what failed.  Each line is
 * one write(2) to a file opened O_APPEND, so a crash can lose at most the
 * line being written, never corrupt earlier ones.
 */
#include <config.h>

#include <errno.h>
#include <string.h>

#include "kl.h"

/* Opens path for appending rejects; path NULL means none are kept. */
int
kl_rejects_open(struct kl_rejects *r, const char *path)
{
	memset(r, 0, sizeof(*r));
	if (path == NULL)
		return 0;
	if (kl_out_open(&r->out, path, 0600) == -1)
		return -1;
	r->open = 1;
	return 0;
}

/*
 * Records one undelivered input: line number (0 if none), error code
 * (may be NULL) and message, and the record (rec, n bytes; is_json says
 * whether it is valid JSON to embed as is).  Counts it even when no
 * rejects file is open.  Returns 0, or -1 with errno if the write failed.
 */
int
kl_reject(struct kl_rejects *r, const char *name, long line,
    const char *code, const char *msg, const char *rec, size_t n,
    int is_json)
{
	struct kl_buf b;
	int ret;

	r->count++;
	if (!r->open)
		return 0;
	kl_buf_init(&b);
	kl_buf_addf(&b, "{\"line\":%ld,", line);
	if (name != NULL && strcmp(name, "<stdin>") != 0) {
		kl_buf_adds(&b, "\"input\":");
		kl_buf_add_jstr(&b, name, strlen(name));
		kl_buf_addc(&b, ',');
	}
	kl_buf_adds(&b, "\"error\":{\"code\":");
	code = code != NULL && *code != '\0' ? code : "Rejected";
	kl_buf_add_jstr(&b, code, strlen(code));
	kl_buf_adds(&b, ",\"message\":");
	kl_buf_add_jstr(&b, msg, strlen(msg));
	kl_buf_adds(&b, "},\"record\":");
	if (is_json)
		kl_buf_add(&b, rec, n);
	else
		kl_buf_add_jstr(&b, rec, n);
	kl_buf_adds(&b, "}\n");
	if (b.err) {
		kl_buf_free(&b);
		errno = ENOMEM;
		return -1;
	}
	ret = kl_write_all(r->out.fd, b.data, b.len);
	kl_buf_free(&b);
	return ret;
}

int
kl_rejects_close(struct kl_rejects *r)
{
	int ret = 0;

	if (r->open)
		ret = kl_out_close(&r->out);
	r->open = 0;
	return ret;
}

/*
 * Closes the standard output (kl_out_close) and rj if not NULL, whose
 * file is path, logging each failure at fatal level.  Returns status,
 * made at least KL_EXIT_FAIL (kl_exit_worst) if either failed: the
 * last step of kl-to-lytics, kl-trigger-put and kl-read-audience.  A
 * failure to write the standard output already said (status 1) is not
 * said again.
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
