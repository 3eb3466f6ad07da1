/*
 * jobcheck.c - the checks of kl-import --dry-run and kl-export --dry-run:
 * the authorization a job names, its Kinesis stream, the Lytics key and
 * the audiences.
 *
 * Design decisions:
 *
 * - The stream is checked by running "kl-stream describe" with the job's
 *   AWS options (pipeline.c), not in process: the check then goes
 *   through exactly the configuration and credential chain the stages
 *   will use, and kl-stream's own messages say what is wrong.
 * - The audiences are fetched in process (lytics.c), one request each.
 * - Each result is one "# ..." line: the output of --dry-run stays a
 *   shell script (the pipeline, then comments).
 * - A failed check names the job file and the line of the key at fault.
 */
#include <config.h>

#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kl.h"

/* Fills e anew; the arguments may point into e->msg. */
static void KL_PRINTF(3, 4)
job_err(struct kl_err *e, int kind, const char *fmt, ...)
{
	char msg[sizeof(e->msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	kl_err_set(e, kind, 0, NULL, "%s", msg);
}

/*
 * --dry-run: checks that the authorization named by auth exists and is
 * whole.  Appends a description ("keys ...WXYZ" or "delegated ...") to
 * out.  Returns 0 (also when the job names none), or -1 with e filled.
 */
int
kl_job_check_auth(const struct kl_job *j, struct kl_buf *out,
    struct kl_err *e)
{
	struct kl_auth a;
	char why[256];
	int r = -1;

	if (j->val[KL_JOB_AUTH] == NULL) {
		kl_buf_adds(out, "none named: the default credential chain");
		return 0;
	}
	if (kl_store_load(j->val[KL_JOB_AUTH], &a, e) == -1)
		job_err(e, e->kind, "%s:%d: auth: %s", j->path,
		    j->line[KL_JOB_AUTH], e->msg);
	else if (kl_auth_check(&a, why, sizeof(why)) == -1)
		job_err(e, KL_ERR_CONFIG, "%s:%d: auth '%s': %s", j->path,
		    j->line[KL_JOB_AUTH], a.name, why);
	else {
		if (a.method == KL_AUTH_DELEGATED)
			kl_buf_addf(out, "'%s': delegated, role %s", a.name,
			    a.role_arn != NULL ? a.role_arn : "?");
		else
			kl_buf_addf(out, "'%s': keys %s", a.name,
			    kl_akid_tail(a.access_key_id));
		r = 0;
	}
	kl_auth_free(&a);
	return r;
}

/*
 * --dry-run: checks that the Lytics key can be found, and, for an export
 * job, that each audience exists, by fetching it.  Appends what was
 * found to out, one line per item.  Returns 0, or -1 with e filled.
 */
int
kl_job_check_lytics(const struct kl_job *j, struct kl_buf *out,
    struct kl_err *e)
{
	struct kl_lyticsopts lo;
	struct kl_lytics l;
	struct kl_lytics_api api;
	struct kl_http_resp resp;
	struct kl_jspan seg, v;
	struct kl_buf name;
	size_t i;
	int r = 0;

	memset(&lo, 0, sizeof(lo));
	lo.key_file = j->val[KL_JOB_LYTICS_KEY_FILE];
	if (kl_lytics_load(&l, &lo, e) == -1) {
		kl_lytics_free(&l);
		return -1;
	}
	kl_buf_addf(out, "Lytics: %s (from %s), key from %s\n", l.url,
	    l.url_from, l.key_from);
	if (j->audiences == NULL) {
		kl_lytics_free(&l);
		return 0;
	}
	if (kl_lytics_open(&api, &l, e) == -1) {
		kl_lytics_free(&l);
		return -1;
	}
	kl_http_resp_init(&resp);
	kl_buf_init(&name);
	for (i = 0; r == 0 && j->audiences[i] != NULL; i++) {
		kl_http_resp_reset(&resp);
		if (kl_lytics_segment(&api, j->audiences[i], &resp, &seg,
		    e) == -1) {
			job_err(e, e->status == 404 ? KL_ERR_PERMANENT :
			    e->kind, "%s:%d: audience '%s': %s", j->path,
			    j->line[KL_JOB_AUDIENCES], j->audiences[i],
			    e->status == 404 ? "not found" : e->msg);
			r = -1;
			break;
		}
		kl_buf_reset(&name);
		if (kl_js_get(&seg, "name", &v))
			kl_js_text(&v, &name);
		kl_buf_addf(out, "audience '%s': found", j->audiences[i]);
		if (name.len > 0)
			kl_buf_addf(out, " (%s)", name.data);
		if (kl_js_get(&seg, "id", &v) && v.type == KL_JSTR) {
			kl_buf_reset(&name);
			kl_js_text(&v, &name);
			kl_buf_addf(out, ", id %s", name.data);
		}
		kl_buf_addc(out, '\n');
	}
	kl_buf_free(&name);
	kl_http_resp_free(&resp);
	kl_lytics_close(&api);
	kl_lytics_free(&l);
	return r;
}

struct stream_seen {
	struct kl_buf	 line;
};

static int
stream_line(void *arg, const char *s, size_t n)
{
	struct stream_seen *ss = arg;

	if (ss->line.len == 0)
		kl_buf_add(&ss->line, s, n);
	return 0;
}

/*
 * --dry-run: checks that the Kinesis stream exists by running
 * "kl-stream describe STREAM" (found like the stages: kl_pipeline_find)
 * with the job's AWS options, so the check uses the very credential
 * chain the stages will.  Appends "kinesis stream 'S': STATUS, N open
 * shards" to out.  Returns 0, or -1 with e filled; the exit status of
 * kl-stream is in *status.
 */
int
kl_job_check_stream(const struct kl_job *j, int verbose, struct kl_buf *out,
    int *status, struct kl_err *e)
{
	struct kl_pipeline pl;
	struct kl_argv a;
	struct stream_seen ss;
	struct kl_jspan top, v;
	struct kl_jerr je;
	struct kl_buf t;
	char *path;
	int i;

	*status = KL_EXIT_FAIL;
	if ((path = kl_pipeline_find("kl-stream")) == NULL) {
		kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "cannot find "
		    "kl-stream next to %s or on PATH", kl_prog);
		return -1;
	}
	kl_argv_init(&a);
	for (i = 0; i < verbose; i++)
		kl_argv_add(&a, "-v");
	kl_job_aws_args(j, &a);
	kl_argv_add(&a, "describe");
	kl_argv_add(&a, j->val[KL_JOB_KINESIS_STREAM]);
	kl_pipeline_init(&pl);
	memset(&ss, 0, sizeof(ss));
	kl_buf_init(&ss.line);
	kl_buf_init(&t);
	if (kl_pipeline_add(&pl, "kl-stream", path, &a) == -1 ||
	    kl_pipeline_start(&pl, 1, e) == -1) {
		if (e->kind == KL_ERR_NONE)
			kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "%s",
			    strerror(errno));
		*status = KL_EXIT_FAIL;
	} else if ((*status = kl_pipeline_wait(&pl, stream_line, &ss)) != 0)
		kl_err_set(e, *status == KL_EXIT_USAGE ? KL_ERR_CONFIG :
		    KL_ERR_PERMANENT, 0, NULL, "%s:%d: kinesis_stream '%s': "
		    "kl-stream describe failed (exit %d)", j->path,
		    j->line[KL_JOB_KINESIS_STREAM],
		    j->val[KL_JOB_KINESIS_STREAM], *status);
	else {
		kl_buf_addf(out, "kinesis stream '%s': found",
		    j->val[KL_JOB_KINESIS_STREAM]);
		if (ss.line.len > 0 && kl_js_parse(ss.line.data, ss.line.len,
		    &top, &je) == 0) {
			if (kl_js_get(&top, "stream_status", &v) &&
			    kl_js_text(&v, &t) == 0)
				kl_buf_addf(out, ", %s", t.data);
			kl_buf_reset(&t);
			if (kl_js_get(&top, "open_shard_count", &v) &&
			    kl_js_text(&v, &t) == 0)
				kl_buf_addf(out, ", %s open shards", t.data);
		}
		kl_buf_addc(out, '\n');
	}
	kl_buf_free(&t);
	kl_buf_free(&ss.line);
	kl_pipeline_free(&pl);
	kl_argv_free(&a);
	free(path);
	return *status == 0 ? 0 : -1;
}

/* Appends each line of text to out as a "# " comment line. */
static void
add_comments(struct kl_buf *out, const char *text)
{
	const char *p = text, *nl;

	while (p != NULL && *p != '\0') {
		nl = strchr(p, '\n');
		kl_buf_adds(out, "# ");
		kl_buf_add(out, p, nl ? (size_t)(nl - p + 1) : strlen(p));
		if (nl == NULL)
			kl_buf_addc(out, '\n');
		p = nl ? nl + 1 : NULL;
	}
}

/*
 * The checks of --dry-run: the state folder, the authorization, the
 * Kinesis stream (by kl-stream), the Lytics key and, for an export, the
 * audiences.  Appends one "# ..." line per check to out (a shell
 * comment: the output of --dry-run stays a script).  Returns the exit
 * status: 0, or that of the first check that failed, with e filled.
 */
int
kl_job_dry_run(const struct kl_job *j, int verbose, struct kl_buf *out,
    struct kl_err *e)
{
	struct kl_buf b;
	struct stat st;
	int status = 0;

	kl_buf_init(&b);
	kl_buf_addf(out, "# %s job '%s'", kl_job_kind_name(j->kind),
	    j->path);
	if (j->val[KL_JOB_LABEL] != NULL)
		kl_buf_addf(out, ": %s", j->val[KL_JOB_LABEL]);
	kl_buf_addf(out, "\n# state folder: %s (from %s): ", j->state_dir,
	    j->state_from);
	if (stat(j->state_dir, &st) == -1)
		kl_buf_adds(out, "to be created\n");
	else if (!S_ISDIR(st.st_mode) || access(j->state_dir, W_OK) == -1) {
		kl_buf_adds(out, "not a writable folder\n");
		kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "%s:%d: state folder "
		    "'%s' is not a writable folder", j->path,
		    j->line[KL_JOB_STATE_DIR], j->state_dir);
		status = KL_EXIT_FAIL;
		goto done;
	} else
		kl_buf_adds(out, "exists\n");
	kl_buf_adds(out, "# authorization: ");
	if (kl_job_check_auth(j, out, e) == -1) {
		kl_buf_adds(out, "FAILED\n");
		status = e->kind == KL_ERR_CONFIG ? KL_EXIT_USAGE :
		    KL_EXIT_FAIL;
		goto done;
	}
	kl_buf_adds(out, "\n# ");
	if (kl_job_check_stream(j, verbose, &b, &status, e) == -1) {
		kl_buf_addf(out, "kinesis stream '%s': FAILED\n",
		    j->val[KL_JOB_KINESIS_STREAM]);
		goto done;
	}
	kl_buf_add(out, b.data, b.len);
	kl_buf_reset(&b);
	if (kl_job_check_lytics(j, &b, e) == -1) {
		status = e->kind == KL_ERR_CONFIG ? KL_EXIT_USAGE :
		    e->kind == KL_ERR_TRANSIENT ? KL_EXIT_TEMPFAIL :
		    KL_EXIT_FAIL;
	}
	add_comments(out, b.data);
	if (status != 0)
		kl_buf_adds(out, "# Lytics: FAILED\n");
done:
	kl_buf_free(&b);
	return status;
}
