/*
 * audience.c - the library half of kl-read-audience: audiences listed
 * and resolved by id or slug, their state folders, and the cycle that
 * turns complete scans into enters and exits (lytics-api.md 9).  The
 * member key, the fields and the trigger events a cycle keeps and writes
 * are made by audevent.c.
 *
 * One cycle of one audience:
 *
 *	scan every page (limit 100, _next)	kl_members_add per member
 *	kl_members_finish			sorted DIR/members.new
 *	kl_members_diff				enters and exits written
 *	flush					the events are out
 *	kl_members_commit			DIR/members replaced
 *
 * Design decisions:
 *
 * - Nothing is emitted before a scan is complete, so a scan that fails,
 *   stops or restarts produces no event at all, and in particular no exit
 *   for the members it did not reach.  An expired _next (HTTP 400 on a
 *   page after the first, lytics.c) restarts the scan from the start, up
 *   to KL_AUDIENCE_RESTARTS times; what the scan had added is dropped.
 * - The events of a cycle are committed only once all are written and
 *   flushed.  A stop signal ends the comparison after the line in hand
 *   and nothing is committed, so the next run sends those events again:
 *   at least once, never lost.
 * - A backfill without --state goes the same way through a temporary
 *   folder that is never committed: every member enters exactly once,
 *   even when the scan restarts or a member shows up on two pages
 *   because the audience changed while it was scanned.  The events come
 *   in key order (the order of the sorted membership), not scan order.
 *   The folder is removed as soon as the comparison has the sorted file
 *   open, before the first event: a reader that leaves (EPIPE, then a
 *   SIGPIPE death) leaves no files behind.
 * - A member's saved fields are its profile as scanned, cut down to
 *   --fields plus its key field, compact, without "segment_events".  An
 *   exit carries the fields saved by the last scan that saw the member.
 * - A backfill done is recorded in the audience's folder (the file
 *   "backfill", written after the commit).  A backfill asked for on a
 *   folder that holds a membership but no such record (a baseline saved
 *   without --backfill, or a crash between commit and record) sends every
 *   current member as an enter, after the exits since the saved scan.
 *   That takes two comparisons over the two files members.c documents,
 *   DIR/members and DIR/members.new.
 * - Pages are read with jscan, never jv: each page's data array is
 *   minified once, then members are copied as spans; numbers keep every
 *   digit and a million profiles build no tree.
 * - Enter and exit times are the start of the scan that saw the change
 *   (the stand-in and, as far as known, Lytics take a scan's snapshot at
 *   its first page); meta.timestamp is when the event was written.  Both
 *   in seconds, UTC.
 * - With c->progress, each scan shows a progress line (progress.c): the
 *   profiles seen of the reply's total, started with the scan and erased
 *   when it ends, before the events.
 */
#include <config.h>

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kl.h"

#define WARN_MAX	10	/* skipped profiles named per scan */

static int
nomem(struct kl_err *e)
{
	kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "%s", strerror(ENOMEM));
	errno = ENOMEM;
	return -1;
}

static char *
join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p;

	if ((p = malloc(n)) != NULL)
		snprintf(p, n, "%s/%s", dir, name);
	return p;
}

/*
 * Audiences.
 */

/* Appends the --list record of a segment object; -1 with ENOMEM. */
static int
listrec(struct kl_buf *out, const struct kl_jspan *seg)
{
	static const char *const f[][2] = { { "id", "id" },
	    { "slug", "slug_name" }, { "name", "name" },
	    { "description", "description" } };
	struct kl_jspan v;
	size_t i;

	kl_buf_addc(out, '{');
	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		kl_js_put_key(out, f[i][0]);
		if (kl_js_get(seg, f[i][1], &v) && v.type == KL_JSTR)
			kl_js_put_span(out, &v);
		else
			kl_buf_adds(out, "null");
	}
	kl_buf_addc(out, '}');
	if (out->err) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

/*
 * GET /api/segment?table=user: calls emit with the --list record of each
 * audience, {"id":..,"slug":..,"name":..,"description":..}, each the
 * segment's string (the slug from slug_name) or null.  Returns the
 * number of records, or -1 with e filled (as kl_lytics_segments; emit's
 * failure is KL_ERR_PERMANENT with e->sys).
 */
long
kl_audience_list(struct kl_lytics_api *api,
    int (*emit)(void *, const char *, size_t), void *arg, struct kl_err *e)
{
	struct kl_http_resp resp;
	struct kl_jspan data, seg;
	struct kl_jiter it;
	struct kl_buf b;
	long n = 0;

	kl_http_resp_init(&resp);
	kl_buf_init(&b);
	if (kl_lytics_segments(api, "user", &resp, &data, e) == -1)
		n = -1;
	else
		kl_js_iter_init(&it, &data);
	while (n >= 0 && kl_js_iter_next(&it, NULL, &seg)) {
		kl_buf_reset(&b);
		if (seg.type != KL_JOBJ)
			continue;
		if (listrec(&b, &seg) == -1 || emit(arg, b.data, b.len) == -1) {
			e->sys = errno;
			kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "cannot write "
			    "the standard output: %s", strerror(errno));
			n = -1;
		} else
			n++;
	}
	kl_buf_free(&b);
	kl_http_resp_free(&resp);
	return n;
}

/* A member string of obj into *out (malloc'd); 1, 0 if absent, -1. */
static int
get_str(const struct kl_jspan *obj, const char *name, char **out)
{
	struct kl_jspan v;
	struct kl_buf b;

	*out = NULL;
	if (!kl_js_get(obj, name, &v) || v.type != KL_JSTR)
		return 0;
	kl_buf_init(&b);
	if (kl_js_str(&v, &b) == -1 || kl_buf_reserve(&b, 1) == -1 ||
	    (*out = kl_buf_steal(&b)) == NULL) {
		kl_buf_free(&b);
		return -1;
	}
	return 1;
}

/* Whether an id can name a folder: letters, digits, '-' and '_'. */
static int
id_ok(const char *s)
{
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTU"
	    "VWXYZ0123456789-_");

	return n > 0 && n <= 128 && s[n] == '\0';
}

/*
 * Looks up the audience name (an id or a slug) with GET /api/segment/NAME
 * and fills a (free it with kl_audience_free) with its id, slug and the
 * name.  Returns 0, or -1 with e filled: KL_ERR_PERMANENT with status 404
 * and "unknown audience 'NAME'" when Lytics has no such segment, also
 * KL_ERR_PERMANENT for a segment of another table than "user"; as
 * kl_lytics_segment otherwise.
 */
int
kl_audience_resolve(struct kl_lytics_api *api, const char *name,
    struct kl_audience *a, struct kl_err *e)
{
	struct kl_http_resp resp;
	struct kl_jspan seg, v;
	char *table = NULL, *why = NULL;
	int r = -1;

	memset(a, 0, sizeof(*a));
	kl_http_resp_init(&resp);
	if (kl_lytics_segment(api, name, &resp, &seg, e) == -1) {
		if (e->kind == KL_ERR_PERMANENT && e->status == 404)
			kl_err_set(e, KL_ERR_PERMANENT, 404, NULL, "unknown "
			    "audience '%s'", name);
		goto done;
	}
	if ((a->name = strdup(name)) == NULL || get_str(&seg, "id",
	    &a->id) == -1 || get_str(&seg, "slug_name", &a->slug) == -1 ||
	    get_str(&seg, "table", &table) == -1 || get_str(&seg,
	    "invalid_reason", &why) == -1 || (a->slug == NULL &&
	    (a->slug = strdup("")) == NULL)) {
		nomem(e);
		goto done;
	}
	if (a->id == NULL || !id_ok(a->id))
		kl_err_set(e, KL_ERR_PERMANENT, resp.status, NULL, "audience "
		    "'%s': Lytics gave no usable segment id", name);
	else if (table != NULL && strcmp(table, "user") != 0)
		kl_err_set(e, KL_ERR_PERMANENT, resp.status, NULL, "'%s' is "
		    "not an audience: a segment of table '%s'", name, table);
	else {
		if (kl_js_get(&seg, "invalid", &v) && v.type == KL_JTRUE)
			kl_log(KL_WARNING, 0, "audience '%s' is marked invalid"
			    "%s%s", name, why != NULL ? ": " : "",
			    why != NULL ? why : "");
		r = 0;
	}
done:
	if (r == -1)
		kl_audience_free(a);
	free(table);
	free(why);
	kl_http_resp_free(&resp);
	return r;
}

/*
 * Makes sure dir is a folder kl can keep states in: made (mode 0700) if
 * missing, its parent must exist.  Returns 0, or -1 with errno.
 */
int
kl_audience_state_ok(const char *dir)
{
	struct stat st;

	if ((mkdir(dir, 0700) == -1 && errno != EEXIST) ||
	    stat(dir, &st) == -1)
		return -1;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	return access(dir, R_OK | W_OK | X_OK);
}

/*
 * Opens the membership state of a: the folder STATE/ID (made if missing;
 * STATE must exist), or, with state NULL, a temporary folder under
 * $TMPDIR (else /tmp) that kl_audience_free removes.  key_name is the
 * key field as the state records it.  Returns 0, or -1 with e filled as
 * kl_members_open fills it.
 */
int
kl_audience_open(struct kl_audience *a, const char *state,
    const char *key_name, struct kl_err *e)
{
	const char *tmp = getenv("TMPDIR");
	struct stat st;
	char *p;

	kl_err_clear(e);
	if (state == NULL) {
		if (tmp == NULL || *tmp == '\0')
			tmp = "/tmp";
		if ((a->dir = join(tmp, "kl-audience.XXXXXX")) == NULL)
			return nomem(e);
		if (mkdtemp(a->dir) == NULL) {
			e->sys = errno;
			kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "cannot make "
			    "a temporary folder in '%s': %s", tmp,
			    strerror(errno));
			free(a->dir);
			a->dir = NULL;
			return -1;
		}
		a->tmp = 1;
	} else if ((a->dir = join(state, a->id)) == NULL)
		return nomem(e);
	if ((a->m = kl_members_open(a->dir, a->id, key_name, e)) == NULL)
		return -1;
	if (!a->tmp) {
		if ((p = join(a->dir, "backfill")) == NULL)
			return nomem(e);
		a->backfilled = stat(p, &st) == 0;
		free(p);
	}
	return 0;
}

/* Removes the temporary folder dir and the files in it. */
static void
remove_tmp(const char *dir)
{
	struct dirent *de;
	char *p;
	DIR *d;

	if ((d = opendir(dir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0 ||
			    (p = join(dir, de->d_name)) == NULL)
				continue;
			unlink(p);
			free(p);
		}
		closedir(d);
	}
	rmdir(dir);
}

/* Closes a's state (dropping any cycle not committed) and frees a. */
void
kl_audience_free(struct kl_audience *a)
{
	kl_members_close(a->m);
	if (a->tmp && a->dir != NULL)
		remove_tmp(a->dir);
	free(a->id);
	free(a->slug);
	free(a->name);
	free(a->dir);
	memset(a, 0, sizeof(*a));
}

/*
 * Looks up the n audiences names[] (ids or slugs, kl_audience_resolve),
 * drops those that name an audience already found, and opens the state
 * of each (kl_audience_open with state and key_name) into a[] (n
 * entries, zeroed by the caller; free each with kl_audience_free).
 * Writes the subscription id of the audiences into sub (33 bytes).
 * Returns the number of distinct audiences in a[], in the order given,
 * or -1 with e filled at the first failure.
 */
long
kl_audience_open_all(struct kl_lytics_api *api, const char *const *names,
    size_t n, const char *state, const char *key_name, struct kl_audience *a,
    char *sub, struct kl_err *e)
{
	const char **ids;
	size_t i, j, k = 0;
	long r = -1;

	if ((ids = calloc(n + 1, sizeof(*ids))) == NULL)
		return nomem(e);
	for (i = 0; i < n; i++) {
		if (kl_audience_resolve(api, names[i], &a[k], e) == -1)
			goto done;
		for (j = 0; j < k && strcmp(a[j].id, a[k].id) != 0; j++)
			;
		if (j < k)
			kl_audience_free(&a[k]);
		else
			ids[k++] = a[j].id;
	}
	if (kl_audience_subscription(sub, ids, k) == -1) {
		nomem(e);
		goto done;
	}
	for (i = 0; i < k; i++)
		if (kl_audience_open(&a[i], state, key_name, e) == -1)
			goto done;
	r = (long)k;
done:
	free(ids);
	return r;
}

/*
 * Cycles.
 */

struct cycle {
	struct kl_lytics_api		*api;
	const struct kl_audience_cfg	*c;
	struct kl_audience		*a;
	struct kl_audience_stats	*st;
	struct kl_buf			 page, key, fields, line, scanf;
	time_t				 when;	/* scan start */
	long				 seen;	/* profiles */
	int				 only;	/* event kind */
	int				 stopped, werr;
	int				 cleaned;	/* tmp gone */
};

/* Reports a profile that cannot be a member: the first few at warning. */
static void
skip(struct cycle *y, const char *why)
{
	const char *k = y->c->key_field;

	y->st->skipped++;
	if (why == NULL)
		kl_log(y->st->skipped <= WARN_MAX ? KL_WARNING : KL_DEBUG, 0,
		    "audience '%s': profile %ld of the scan has no '%s'%s: "
		    "skipped", y->a->name, y->seen, k != NULL ? k : "_uid",
		    k != NULL ? "" : " or 'email'");
	else
		kl_log(y->st->skipped <= WARN_MAX ? KL_WARNING : KL_DEBUG, 0,
		    "audience '%s': profile %ld of the scan %s: skipped",
		    y->a->name, y->seen, why);
}

/* Adds one profile of a page to the scan; -1 with e on a broken scan. */
static int
add(struct cycle *y, const struct kl_jspan *p, struct kl_err *e)
{
	const char *used = NULL;
	int k;

	y->seen++;
	kl_buf_reset(&y->key);
	kl_buf_reset(&y->fields);
	if (p->type != KL_JOBJ) {
		skip(y, "is not a JSON object");
		return 0;
	}
	if ((k = kl_audience_key(p, y->c->key_field, &y->key, &used)) == -1 ||
	    (k == 1 && kl_audience_fields(&y->fields, p, y->c->fields,
	    y->c->fields != NULL ? used : NULL) == -1))
		return nomem(e);
	if (k == 0) {
		skip(y, NULL);
		return 0;
	}
	if (kl_members_add(y->a->m, y->key.data, y->key.len, y->fields.data,
	    y->fields.len) == 0)
		return 0;
	if (errno == EMSGSIZE || errno == EINVAL) {
		skip(y, errno == EMSGSIZE ? "is too large (key or fields)" :
		    "has an unusable key");
		return 0;
	}
	e->sys = errno;
	kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "cannot keep the members of "
	    "audience '%s' in '%s': %s", y->a->name, y->a->dir,
	    strerror(errno));
	return -1;
}

/* One scan into a->m: 0 complete, 1 to restart (expired _next), -1. */
static int
scan(struct cycle *y, struct kl_err *e)
{
	struct kl_progress *pr = y->c->progress;
	struct kl_lytics_scan sc;
	struct kl_jspan data, arr, p;
	struct kl_jiter it;
	long n;
	int r = -1;

	kl_members_begin(y->a->m, y->c->budget);
	y->when = time(NULL);
	y->seen = 0;
	y->st->skipped = 0;
	if (kl_lytics_scan_open(&sc, y->api, y->a->id, KL_AUDIENCE_LIMIT,
	    y->scanf.len > 0 ? y->scanf.data : NULL, NULL, e) == -1)
		return -1;
	if (pr != NULL)
		kl_progress_init(pr, "members");
	while ((n = kl_lytics_scan_page(&sc, &data, e)) > 0) {
		y->st->pages++;
		if (pr != NULL)
			kl_progress_total(pr, sc.total);
		kl_buf_reset(&y->page);
		if (kl_js_minify(&y->page, data.p, data.n, NULL, NULL) == -1 ||
		    kl_js_parse(y->page.data, y->page.len, &arr, NULL) == -1) {
			nomem(e);
			goto done;
		}
		kl_js_iter_init(&it, &arr);
		while (kl_js_iter_next(&it, NULL, &p)) {
			if (add(y, &p, e) == -1)
				goto done;
			if (pr != NULL)
				kl_progress_update(pr, y->seen, -1);
		}
		if (kl_stopping()) {
			kl_err_set(e, KL_ERR_STOPPED, 0, NULL, "stopped");
			goto done;
		}
	}
	if (n == 0) {
		if (kl_members_finish(y->a->m) == -1) {
			e->sys = errno;
			kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "cannot sort "
			    "the members of audience '%s' in '%s': %s",
			    y->a->name, y->a->dir, strerror(errno));
		} else
			r = 0;
	} else if (e->kind == KL_ERR_PERMANENT && e->status == 400 &&
	    sc.pages > 0)
		r = 1;
done:
	if (pr != NULL)
		kl_progress_end(pr);
	kl_lytics_scan_close(&sc);
	return r;
}

/* kl_members_diff's callback: writes one event. */
static int
on_event(void *arg, int ev, const char *key, size_t klen,
    const char *fields, size_t flen)
{
	struct cycle *y = arg;

	if (y->only != 0 && ev != y->only)
		return 0;
	if (y->a->tmp && !y->cleaned) {
		/* The sorted file is open: a SIGPIPE death leaves nothing. */
		remove_tmp(y->a->dir);
		y->cleaned = 1;
	}
	if (kl_stopping()) {
		y->stopped = 1;
		errno = EINTR;
		return -1;
	}
	kl_buf_reset(&y->line);
	if (kl_audience_event(&y->line, y->a, ev, key, klen, fields, flen,
	    y->when, time(NULL), y->c->sub_id) == -1)
		return -1;
	if (y->c->emit(y->c->arg, y->line.data, y->line.len) == -1) {
		y->werr = errno;
		return -1;
	}
	if (ev == KL_MEMBERS_EXIT)
		y->st->exits++;
	else
		y->st->enters++;
	return 0;
}

/* Every current member as an enter, after the exits (see the header). */
static int
late_backfill(struct cycle *y, struct kl_err *e)
{
	char *old = join(y->a->dir, "members");
	char *cur = join(y->a->dir, "members.new");
	int r = -1;

	if (old == NULL || cur == NULL)
		nomem(e);
	else {
		kl_log(KL_INFO, 0, "audience '%s': backfill of a saved "
		    "membership: every member enters", y->a->name);
		y->only = KL_MEMBERS_EXIT;
		r = kl_members_diff_files(old, cur, 0, on_event, y, NULL, e);
		y->only = KL_MEMBERS_ENTER;
		if (r == 0)
			r = kl_members_diff_files(NULL, cur, 0, on_event, y,
			    NULL, e);
	}
	free(old);
	free(cur);
	return r;
}

/* Records the backfill in the audience's folder. */
static int
mark_backfill(struct cycle *y, struct kl_err *e)
{
	char *p = join(y->a->dir, "backfill"), t[40];
	struct kl_buf b;
	int r = -1;

	kl_buf_init(&b);
	kl_time_fmt(t, sizeof(t), y->when, -1);
	kl_buf_addf(&b, "{\"backfill\":\"%s\",\"members\":%ld}\n", t,
	    y->st->members);
	if (p == NULL || b.err)
		nomem(e);
	else if (kl_atomic_write(p, b.data, b.len, 0600) == -1) {
		e->sys = errno;
		kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "cannot write '%s': "
		    "%s", p, strerror(errno));
	} else {
		y->a->backfilled = 1;
		r = 0;
	}
	kl_buf_free(&b);
	free(p);
	return r;
}

/* After a complete scan: baseline, or compare, emit, flush, commit. */
static int
settle(struct cycle *y, struct kl_err *e)
{
	struct kl_audience *a = y->a;
	int have = kl_members_have_state(a->m), r;

	y->st->members = kl_members_stats(a->m)->members;
	if (!have && !y->c->backfill) {
		y->st->baseline = 1;
	} else {
		if (have && y->c->backfill && !a->backfilled)
			r = late_backfill(y, e);
		else
			r = kl_members_diff(a->m, 0, on_event, y, e);
		if (r == -1 && y->stopped)
			kl_err_set(e, KL_ERR_STOPPED, 0, NULL, "stopped");
		if (r == -1 && y->werr != 0) {
			e->sys = y->werr;
			kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "cannot write "
			    "the standard output: %s", strerror(y->werr));
		}
		if (r == -1)
			return -1;
		if (y->c->flush != NULL && y->c->flush(y->c->arg) == -1) {
			e->sys = errno;
			kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "cannot write "
			    "the standard output: %s", strerror(errno));
			return -1;
		}
	}
	if (a->tmp)
		return 0;
	if (kl_members_commit(a->m) == -1) {
		e->sys = errno;
		kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "cannot save the "
		    "membership of audience '%s' in '%s': %s", a->name, a->dir,
		    strerror(errno));
		return -1;
	}
	if (y->c->backfill && !a->backfilled)
		return mark_backfill(y, e);
	return 0;
}

/* The scan's fields parameter: the key field(s), then c->fields. */
static void
scan_fields(struct kl_buf *b, const struct kl_audience_cfg *c)
{
	const char *const *f;

	if (c->fields == NULL)
		return;
	kl_buf_adds(b, c->key_field != NULL ? c->key_field : "_uid,email");
	for (f = c->fields; *f != NULL; f++) {
		kl_buf_addc(b, ',');
		kl_buf_adds(b, *f);
	}
}

/*
 * Runs one cycle of audience a (opened with kl_audience_open): a complete
 * scan, then, as the file header says, a baseline saved (a first scan
 * without c->backfill), or the enters and exits since the saved scan (or
 * every member, for a backfill) passed one line at a time to c->emit,
 * c->flush, and the commit.  st gets the counts.  Returns 0, or -1 with e
 * filled and nothing committed: KL_ERR_TRANSIENT (retries ran out, or the
 * scan expired too often), KL_ERR_STOPPED (a stop signal; the line in
 * hand was finished), KL_ERR_PERMANENT (an HTTP error such as 404, a
 * write error, a state that cannot be saved).
 */
int
kl_audience_cycle(struct kl_lytics_api *api, const struct kl_audience_cfg *c,
    struct kl_audience *a, struct kl_audience_stats *st, struct kl_err *e)
{
	struct cycle y;
	int r;

	kl_err_clear(e);
	memset(st, 0, sizeof(*st));
	memset(&y, 0, sizeof(y));
	y.api = api;
	y.c = c;
	y.a = a;
	y.st = st;
	kl_buf_init(&y.page);
	kl_buf_init(&y.key);
	kl_buf_init(&y.fields);
	kl_buf_init(&y.line);
	kl_buf_init(&y.scanf);
	scan_fields(&y.scanf, c);
	for (;;) {
		if (y.scanf.err) {
			r = nomem(e);
			break;
		}
		if (kl_stopping()) {
			kl_err_set(e, KL_ERR_STOPPED, 0, NULL, "stopped");
			r = -1;
			break;
		}
		if ((r = scan(&y, e)) != 1)
			break;
		if (st->restarts == KL_AUDIENCE_RESTARTS) {
			kl_err_set(e, KL_ERR_TRANSIENT, e->status, NULL, "scan "
			    "of audience '%s' expired %d times in a row",
			    a->name, st->restarts + 1);
			r = -1;
			break;
		}
		st->restarts++;
		kl_log(KL_WARNING, 0, "scan of audience '%s' expired after %ld "
		    "profiles (%s): restarting it from the start", a->name,
		    y.seen, e->msg);
		kl_err_clear(e);
	}
	if (r == 0 && st->skipped > WARN_MAX)
		kl_log(KL_WARNING, 0, "audience '%s': %ld profiles skipped in "
		    "all", a->name, st->skipped);
	if (r == 0 && kl_stopping()) {
		kl_err_set(e, KL_ERR_STOPPED, 0, NULL, "stopped");
		r = -1;
	}
	if (r == 0)
		r = settle(&y, e);
	if (r == -1)
		kl_members_abort(a->m);
	kl_buf_free(&y.page);
	kl_buf_free(&y.key);
	kl_buf_free(&y.fields);
	kl_buf_free(&y.line);
	kl_buf_free(&y.scanf);
	return r;
}
