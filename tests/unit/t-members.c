/*
 * t-members.c - tests for members.c and extsort.c: baseline and backfill, enters and
 * exits, duplicates within a scan, keys with any bytes, runs spilled
 * and merged under a tiny memory budget (compared byte for byte with
 * the in-memory result), abort, a crash before the commit (the next
 * diff repeats), meta mismatch and locking, damaged state files, and a
 * 1,000,000-member scan whose peak RSS must grow by at most 64 MiB.
 *
 * Everything happens in a mkdtemp(3) scratch directory, removed at the
 * end.  Events are collected as text ("enter KEY FIELDS", the key as a
 * JSON string) so one is_str() shows a whole comparison.
 */
#include <config.h>

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kl.h"
#include "tap.h"

#define AUD	"efdcc4da20554be02e90c563f69bc0ec"

#if defined(__SANITIZE_ADDRESS__)
static const int asan = 1;	/* shadow memory and quarantine: no RSS */
#else
static const int asan = 0;
#endif

static char top[] = "/tmp/kl-t-members.XXXXXX";

/* The state directory most tests share. */
static char adir[512];

static char *
sub(const char *name)
{
	static char path[4][512];
	static int i;

	i = (i + 1) % 4;
	snprintf(path[i], sizeof(path[i]), "%s/%s", top, name);
	return path[i];
}

/* Collects events as lines of text. */
static int
collect(void *arg, int ev, const char *key, size_t klen, const char *f,
    size_t flen)
{
	struct kl_buf *b = arg;

	kl_buf_adds(b, ev == KL_MEMBERS_ENTER ? "enter " :
	    ev == KL_MEMBERS_EXIT ? "exit " : "change ");
	kl_buf_add_jstr(b, key, klen);
	kl_buf_addc(b, ' ');
	kl_buf_add(b, f, flen);
	kl_buf_addc(b, '\n');
	if (f[flen] != '\0' || key[klen] != '\0')
		kl_buf_adds(b, "NOT NUL-TERMINATED\n");
	return 0;
}

static int
count_cb(void *arg, int ev, const char *key, size_t klen, const char *f,
    size_t flen)
{
	long *n = arg;

	n[ev]++;
	return 0;
}

static int
add(struct kl_members *m, const char *key, const char *fields)
{
	return kl_members_add(m, key, strlen(key), fields,
	    fields ? strlen(fields) : 0);
}

static struct kl_members *
open_ok(const char *dir)
{
	struct kl_members *m;
	struct kl_err e;

	if ((m = kl_members_open(dir, AUD, "_uid", &e)) == NULL)
		diag("open '%s': %s", dir, e.msg);
	return m;
}

static char *
slurp(const char *path)
{
	struct kl_buf b;

	kl_buf_init(&b);
	if (kl_read_file(path, &b, 1UL << 30) == -1) {
		kl_buf_free(&b);
		return NULL;
	}
	kl_buf_addc(&b, '\0');
	return kl_buf_steal(&b);
}

static void
put(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd == -1 || kl_write_all(fd, text, strlen(text)) == -1)
		abort();
	close(fd);
}

/* The names in a directory, sorted, space-separated. */
static char *
listing(const char *dir)
{
	static char out[1024];
	struct dirent **names;
	int i, n;

	out[0] = '\0';
	if ((n = scandir(dir, &names, NULL, alphasort)) == -1)
		return out;
	for (i = 0; i < n; i++) {
		if (names[i]->d_name[0] != '.') {
			if (out[0] != '\0')
				strncat(out, " ",
				    sizeof(out) - strlen(out) - 1);
			strncat(out, names[i]->d_name,
			    sizeof(out) - strlen(out) - 1);
		}
		free(names[i]);
	}
	free(names);
	return out;
}

static int
diff_text(struct kl_members *m, int flags, struct kl_buf *b)
{
	struct kl_err e;
	int r;

	kl_buf_reset(b);
	kl_buf_adds(b, "");
	if ((r = kl_members_diff(m, flags, collect, b, &e)) == -1)
		diag("diff: %s", e.msg);
	return r;
}

static void
test_baseline(void)
{
	const struct kl_members_stats *st;
	struct kl_members *m;
	struct kl_buf ev;
	char *s, *dir = adir;

	kl_buf_init(&ev);
	m = open_ok(dir);
	ok(m != NULL, "open creates the state directory");
	if (m == NULL)
		return;
	is_int(kl_members_have_state(m), 0, "a new directory has no state");
	is_str(s = slurp(sub("a/meta")), "{\"version\":1,\"audience\":\"" AUD
	    "\",\"key_field\":\"_uid\"}\n", "meta names audience, key field");
	free(s);
	kl_members_begin(m, 0);
	ok(add(m, "u-2", "{\"email\":\"b@example.com\"}") == 0 &&
	    add(m, "u-1", "{\"email\":\"a@example.com\"}") == 0 &&
	    add(m, "u-3", "{\"email\":\"c@example.com\"}") == 0, "add three");
	is_int(kl_members_finish(m), 3, "finish counts the members");
	is_str(s = slurp(sub("a/members.new")),
	    "\"u-1\"\t{\"email\":\"a@example.com\"}\n"
	    "\"u-2\"\t{\"email\":\"b@example.com\"}\n"
	    "\"u-3\"\t{\"email\":\"c@example.com\"}\n",
	    "members.new: sorted, key as JSON, tab, fields");
	free(s);
	ok(kl_members_commit(m) == 0, "a baseline commits without a diff");
	is_int(kl_members_have_state(m), 1, "the directory now has state");
	is_str(listing(dir), "lock members meta", "no temporary file left");
	kl_members_close(m);

	/* Second scan: b leaves, d enters, a changes its fields. */
	m = open_ok(dir);
	ok(m != NULL && kl_members_have_state(m), "reopened with state");
	if (m == NULL)
		return;
	kl_members_begin(m, 0);
	add(m, "u-4", "{\"email\":\"d@example.com\"}");
	add(m, "u-3", "{\"email\":\"c@example.com\"}");
	add(m, "u-1", "{\"email\":\"a2@example.com\"}");
	is_int(kl_members_finish(m), 3, "second scan");
	diff_text(m, 0, &ev);
	is_str(ev.data, "exit \"u-2\" {\"email\":\"b@example.com\"}\n"
	    "enter \"u-4\" {\"email\":\"d@example.com\"}\n",
	    "exit with the saved fields, enter with the new");
	st = kl_members_stats(m);
	ok(st->enters == 1 && st->exits == 1 && st->old_members == 3 &&
	    st->members == 3, "diff counts");
	diff_text(m, KL_MEMBERS_CHANGES, &ev);
	is_str(ev.data, "change \"u-1\" {\"email\":\"a2@example.com\"}\n"
	    "exit \"u-2\" {\"email\":\"b@example.com\"}\n"
	    "enter \"u-4\" {\"email\":\"d@example.com\"}\n",
	    "KL_MEMBERS_CHANGES reports changed fields too");
	ok(kl_members_commit(m) == 0, "commit");
	is_str(s = slurp(sub("a/members")),
	    "\"u-1\"\t{\"email\":\"a2@example.com\"}\n"
	    "\"u-3\"\t{\"email\":\"c@example.com\"}\n"
	    "\"u-4\"\t{\"email\":\"d@example.com\"}\n", "committed state");
	free(s);

	/* Same members again: nothing. */
	kl_members_begin(m, 0);
	add(m, "u-3", "{\"email\":\"c@example.com\"}");
	add(m, "u-4", "{\"email\":\"d@example.com\"}");
	add(m, "u-1", "{\"email\":\"a2@example.com\"}");
	kl_members_finish(m);
	diff_text(m, KL_MEMBERS_CHANGES, &ev);
	is_str(ev.data, "", "an unchanged audience gives no event");
	kl_members_commit(m);

	/* An empty audience: everyone exits. */
	kl_members_begin(m, 0);
	is_int(kl_members_finish(m), 0, "an empty scan");
	diff_text(m, 0, &ev);
	is_str(ev.data, "exit \"u-1\" {\"email\":\"a2@example.com\"}\n"
	    "exit \"u-3\" {\"email\":\"c@example.com\"}\n"
	    "exit \"u-4\" {\"email\":\"d@example.com\"}\n",
	    "an empty scan: every member exits");
	kl_members_abort(m);
	kl_members_close(m);
	kl_buf_free(&ev);
}

static void
test_backfill(void)
{
	struct kl_members *m;
	struct kl_buf ev;

	kl_buf_init(&ev);
	if ((m = open_ok(sub("b"))) == NULL) {
		ok(0, "open");
		return;
	}
	kl_members_begin(m, 0);
	add(m, "y", "{\"_uid\":\"y\"}");
	add(m, "x", NULL);
	kl_members_finish(m);
	diff_text(m, 0, &ev);
	is_str(ev.data, "enter \"x\" {}\nenter \"y\" {\"_uid\":\"y\"}\n",
	    "first scan diffed (backfill): every member enters, NULL is {}");
	kl_members_close(m);
	is_str(listing(sub("b")), "lock meta", "close aborts: no members.new");
	kl_buf_free(&ev);
}

static void
test_dups(void)
{
	struct kl_members *m;
	char *s;

	if ((m = open_ok(sub("c"))) == NULL) {
		ok(0, "open");
		return;
	}
	kl_members_begin(m, 0);
	add(m, "x", "{\"v\":1}");
	add(m, "y", "{\"v\":1}");
	add(m, "x", "{\"v\":2}");
	add(m, "z", "{\"v\":1}");
	add(m, "x", "{\"v\":3}");
	add(m, "y", "{\"v\":2}");
	is_int(kl_members_finish(m), 3, "duplicates collapse");
	is_int(kl_members_stats(m)->added, 6, "six added");
	is_str(s = slurp(sub("c/members.new")), "\"x\"\t{\"v\":3}\n"
	    "\"y\"\t{\"v\":2}\n\"z\"\t{\"v\":1}\n", "the last fields win");
	free(s);
	kl_members_close(m);
}

#define K(s)	{ s, sizeof(s) - 1 }
static const struct {
	const char	*k;
	size_t		 n;
} odd[] = {
	K("a"), K("a\0"), K("a\0b"), K("ab"), K("q\"uote"), K("tab\there"),
	K("nl\nx"), K("cr\rx"), K("back\\slash"), K("\x01" "ctl"), K("\x7f"),
	K("caf\xc3\xa9 \xc3\xbcn\xc3\xaf"), K("\xf0\x9f\x98\x80"),
	K("\xff raw"), K(" lead space"), K("{\"json\":1}"), K("\\u0041"),
};
#define NODD	(sizeof(odd) / sizeof(odd[0]))

static int
keys_cb(void *arg, int ev, const char *key, size_t klen, const char *f,
    size_t flen)
{
	struct kl_buf *b = arg;

	kl_buf_add(b, &klen, sizeof(klen));
	kl_buf_add(b, key, klen);
	return 0;
}

static int
cmp_odd(const void *a, const void *b)
{
	size_t i = *(const size_t *)a, j = *(const size_t *)b, n;
	int r;

	n = odd[i].n < odd[j].n ? odd[i].n : odd[j].n;
	if ((r = memcmp(odd[i].k, odd[j].k, n)) != 0)
		return r;
	return odd[i].n < odd[j].n ? -1 : odd[i].n > odd[j].n;
}

static void
test_keys(void)
{
	struct kl_members *m;
	struct kl_buf got, want;
	struct kl_err e;
	size_t order[NODD], i;
	int r;

	kl_buf_init(&got);
	kl_buf_init(&want);
	if ((m = open_ok(sub("d"))) == NULL) {
		ok(0, "open");
		return;
	}
	for (i = 0; i < NODD; i++)
		order[i] = i;
	qsort(order, NODD, sizeof(order[0]), cmp_odd);
	for (i = 0; i < NODD; i++) {
		kl_buf_add(&want, &odd[order[i]].n, sizeof(size_t));
		kl_buf_add(&want, odd[order[i]].k, odd[order[i]].n);
	}
	kl_members_begin(m, 0);
	for (r = 0, i = NODD; i-- > 0; )
		r |= kl_members_add(m, odd[i].k, odd[i].n, "{}", 2);
	is_int(r, 0, "keys with quotes, tabs, newlines, NUL, UTF-8, 0xff");
	is_int(kl_members_finish(m), NODD, "all distinct");
	kl_members_diff(m, 0, keys_cb, &got, &e);
	is_blob(got.data, got.len, want.data, want.len,
	    "enters carry the exact key bytes, in memcmp order");
	kl_members_commit(m);
	kl_buf_reset(&got);
	kl_buf_reset(&want);
	for (i = 0; i < NODD; i++) {
		kl_buf_add(&want, &odd[order[i]].n, sizeof(size_t));
		kl_buf_add(&want, odd[order[i]].k, odd[order[i]].n);
	}
	kl_members_begin(m, 0);
	kl_members_finish(m);
	kl_members_diff(m, 0, keys_cb, &got, &e);
	is_blob(got.data, got.len, want.data, want.len,
	    "exits read the same bytes back from the file");
	kl_members_close(m);

	/* The reader takes what the writer writes, nothing else. */
	put(sub("esc"), "\"\\u0001\\u001F\"\t{}\n\"\\u0041\"\t{}\n");
	kl_buf_reset(&got);
	r = kl_members_diff_files(NULL, sub("esc"), 0, collect, &got, NULL,
	    &e);
	ok(r == -1 && strstr(e.msg, "esc:1: bad or over-long key") != NULL,
	    "upper-case hex is refused: %s", e.msg);
	put(sub("esc"), "\"\\u0001\\u001f\"\t{}\n\"\\u0041\"\t{}\n");
	r = kl_members_diff_files(NULL, sub("esc"), 0, collect, &got, NULL,
	    &e);
	ok(r == -1 && strstr(e.msg, "esc:2: bad or over-long key") != NULL,
	    "\\u0041 is refused (never written): %s", e.msg);
	is_str(got.data, "enter \"\\u0001\\u001f\" {}\n",
	    "\\u0001\\u001f decode to the control bytes");
	kl_buf_free(&got);
	kl_buf_free(&want);
}

static void
test_validation(void)
{
	struct kl_members *m;
	struct kl_buf ev;
	struct kl_err e;
	char key[KL_MEMBERS_KEY_MAX + 2], *s;
	int r;

	kl_buf_init(&ev);
	if ((m = open_ok(sub("e"))) == NULL) {
		ok(0, "open");
		return;
	}
	errno = 0;
	ok(add(m, "x", "{}") == -1 && errno == EINVAL, "add before begin");
	ok(kl_members_finish(m) == -1 && errno == EINVAL,
	    "finish before begin");
	ok(kl_members_diff(m, 0, collect, &ev, &e) == -1 && errno == EINVAL,
	    "diff before finish: %s", e.msg);
	ok(kl_members_commit(m) == -1 && errno == EINVAL,
	    "commit before finish");
	kl_members_begin(m, 0);
	memset(key, 'k', sizeof(key));
	errno = 0;
	r = kl_members_add(m, key, KL_MEMBERS_KEY_MAX + 1, "{}", 2);
	ok(r == -1 && errno == EMSGSIZE, "a key of 1025 bytes: EMSGSIZE");
	is_int(kl_members_add(m, key, KL_MEMBERS_KEY_MAX, "{}", 2), 0,
	    "a key of 1024 bytes is fine");
	ok(kl_members_add(m, "", 0, "{}", 2) == -1 && errno == EINVAL,
	    "an empty key: EINVAL");
	ok(add(m, "x", "{\"a\":\n1}") == -1 && errno == EINVAL,
	    "fields with a newline: EINVAL");
	ok(add(m, "x", "[1]") == -1 && errno == EINVAL,
	    "fields not an object: EINVAL");
	ok(add(m, "x", "") == -1 && errno == EINVAL, "empty fields: EINVAL");
	is_int(add(m, "y", "{}"), 0, "the scan goes on after a refusal");
	is_int(kl_members_finish(m), 2, "two members kept");
	s = slurp(sub("e/members.new"));
	ok(s != NULL && strlen(s) == KL_MEMBERS_KEY_MAX + 6 + 7,
	    "the long key is written whole");
	free(s);
	ok(add(m, "z", "{}") == -1 && errno == EINVAL, "add after finish");
	kl_members_close(m);
	kl_buf_free(&ev);
}

/* Key i of a synthetic scan: a permutation, so arrival is unsorted. */
static void
synth(unsigned long i, unsigned long n, int gen, char *key, char *fields)
{
	unsigned long k = (i * 2654435761UL) % n;

	snprintf(key, 32, "k%07lu", k);
	snprintf(fields, 128, "{\"email\":\"user%lu@example.com\",\"_uid\":"
	    "\"u-%lu\",\"gen\":%d}", k, k, gen);
}

static void
scan_synth(struct kl_members *m, unsigned long n, size_t budget)
{
	char key[32], fields[128];
	unsigned long i;
	char *big;

	kl_members_begin(m, budget);
	for (i = 0; i < n; i++) {
		synth(i, n, 1, key, fields);
		add(m, key, fields);
		if (i % 20 == 7) {	/* seen again on a later page */
			synth(i / 2, n, 2, key, fields);
			add(m, key, fields);
		}
	}
	/* One member bigger than the whole tiny budget. */
	big = malloc(100 * 1024);
	memset(big, ' ', 100 * 1024);
	big[0] = '{';
	big[100 * 1024 - 1] = '}';
	kl_members_add(m, "k0000005", 8, big, 100 * 1024);
	free(big);
}

static void
test_spills(void)
{
	struct kl_members *m, *m2;
	const struct kl_members_stats *st;
	struct kl_err e;
	char *a, *b;
	long n[4] = { 0 };
	char key[32], fields[128], line[200];
	unsigned long N = 100000;

	if ((m = open_ok(sub("f"))) == NULL ||
	    (m2 = open_ok(sub("g"))) == NULL) {
		ok(0, "open");
		return;
	}
	scan_synth(m, N, 64 * 1024);
	is_int(kl_members_finish(m), (long)N, "100k members under 64 KiB");
	st = kl_members_stats(m);
	ok(st->runs > 64 && st->merges >= 1, "spilled %ld runs, %ld merges",
	    st->runs, st->merges);
	is_str(listing(sub("f")), "lock members.new meta",
	    "runs leave no file behind");
	scan_synth(m2, N, 0);
	is_int(kl_members_finish(m2), (long)N, "the same in memory");
	is_int(kl_members_stats(m2)->runs, 0, "no run at 16 MiB");
	a = slurp(sub("f/members.new"));
	b = slurp(sub("g/members.new"));
	ok(a != NULL && b != NULL && strcmp(a, b) == 0,
	    "merged runs equal the in-memory sort, byte for byte");
	synth(7 / 2, N, 2, key, fields);	/* the first one seen twice */
	snprintf(line, sizeof(line), "\"%s\"\t%s\n", key, fields);
	ok(a != NULL && strstr(a, "\"k0000005\"\t{ ") != NULL &&
	    strstr(a, line) != NULL, "later duplicates win across runs");
	free(a);
	free(b);
	ok(kl_members_diff_files(NULL, sub("f/members.new"), 0, count_cb, n,
	    NULL, &e) == 0 && n[KL_MEMBERS_ENTER] == (long)N,
	    "the merged file reads back strictly sorted");
	kl_members_close(m);
	kl_members_close(m2);
}

static void
test_abort(void)
{
	struct kl_members *m;
	char key[32], fields[128], *before, *after;
	unsigned long i;
	const char *dir = adir;

	if ((m = open_ok(dir)) == NULL) {
		ok(0, "open");
		return;
	}
	before = slurp(sub("a/members"));
	kl_members_begin(m, 64 * 1024);
	for (i = 0; i < 20000; i++) {
		synth(i, 20000, 1, key, fields);
		add(m, key, fields);
	}
	ok(kl_members_stats(m)->runs > 5, "a scan with runs in progress");
	kl_members_abort(m);
	after = slurp(sub("a/members"));
	ok(before != NULL && after != NULL && strcmp(before, after) == 0,
	    "abort mid-scan leaves the saved state intact");
	is_str(listing(dir), "lock members meta", "and no temporary file");
	free(after);
	kl_members_begin(m, 0);
	add(m, "u-9", "{}");
	kl_members_finish(m);
	kl_members_abort(m);
	after = slurp(sub("a/members"));
	ok(after != NULL && strcmp(before, after) == 0,
	    "abort after finish leaves it intact too");
	is_str(listing(dir), "lock members meta", "members.new removed");
	free(after);
	free(before);
	ok(add(m, "u-9", "{}") == -1 && errno == EINVAL, "no scan after abort");
	kl_members_close(m);
}

/* A file size limit makes writes fail with EFBIG: a full disk. */
static void
test_write_error(void)
{
	struct kl_members *m;
	struct rlimit old, lim;
	char key[32], fields[128], *before, *after;
	unsigned long i;
	int r1, r2, e1, e2;

	if ((m = open_ok(adir)) == NULL) {
		ok(0, "open");
		return;
	}
	before = slurp(sub("a/members"));
	getrlimit(RLIMIT_FSIZE, &old);
	signal(SIGXFSZ, SIG_IGN);
	lim = old;
	lim.rlim_cur = 32 * 1024;
	setrlimit(RLIMIT_FSIZE, &lim);
	kl_members_begin(m, 64 * 1024);
	for (r1 = 0, i = 0; i < 5000 && r1 == 0; i++) {
		synth(i, 5000, 1, key, fields);
		r1 = add(m, key, fields);
	}
	e1 = errno;
	r2 = add(m, "x", "{}");
	e2 = errno;
	ok(r1 == -1 && e1 == EFBIG && r2 == -1 && e2 == EFBIG,
	    "a failed spill breaks the scan: later adds fail too");
	ok(kl_members_finish(m) == -1 && errno == EFBIG, "and so does finish");
	kl_members_abort(m);
	lim.rlim_cur = 256 * 1024;
	setrlimit(RLIMIT_FSIZE, &lim);
	kl_members_begin(m, 64 * 1024);
	for (i = 0; i < 20000; i++) {
		synth(i, 20000, 1, key, fields);
		add(m, key, fields);
	}
	ok(kl_members_finish(m) == -1 && errno == EFBIG,
	    "writing members.new fails");
	kl_members_abort(m);
	setrlimit(RLIMIT_FSIZE, &old);
	signal(SIGXFSZ, SIG_DFL);
	after = slurp(sub("a/members"));
	ok(before != NULL && after != NULL && strcmp(before, after) == 0,
	    "the saved state is intact");
	is_str(listing(adir), "lock members meta", "nothing left behind");
	free(after);
	kl_members_begin(m, 64 * 1024);
	add(m, "u-3", "{\"email\":\"c@example.com\"}");
	add(m, "u-4", "{\"email\":\"d@example.com\"}");
	add(m, "u-1", "{\"email\":\"a2@example.com\"}");
	kl_members_finish(m);
	after = slurp(sub("a/members.new"));
	ok(after != NULL && strcmp(before, after) == 0,
	    "the next scan works, with nothing of the failed one");
	free(after);
	free(before);
	kl_members_close(m);
}

/* The scan of the crash test: u-1 leaves, u-5 enters. */
static void
crash_scan(struct kl_members *m)
{
	kl_members_begin(m, 0);
	add(m, "u-5", "{\"email\":\"e@example.com\"}");
	add(m, "u-3", "{\"email\":\"c@example.com\"}");
	add(m, "u-4", "{\"email\":\"d@example.com\"}");
}

static void
test_crash(void)
{
	struct kl_members *m;
	struct kl_buf ev;
	char key[32], fields[128];
	unsigned long i;
	pid_t pid;
	int status;
	const char *dir = adir, *want =
	    "exit \"u-1\" {\"email\":\"a2@example.com\"}\n"
	    "enter \"u-5\" {\"email\":\"e@example.com\"}\n";

	kl_buf_init(&ev);
	/* A child finishes the scan, then dies before committing. */
	if ((pid = fork()) == 0) {
		if ((m = open_ok(dir)) == NULL)
			_exit(1);
		crash_scan(m);
		if (kl_members_finish(m) != 3)
			_exit(1);
		raise(SIGKILL);
		_exit(1);
	}
	waitpid(pid, &status, 0);
	ok(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
	    "child killed between finish and commit");
	is_str(listing(dir), "lock members members.new meta",
	    "it left members.new");
	if ((m = open_ok(dir)) == NULL) {
		ok(0, "open");
		return;
	}
	is_str(listing(dir), "lock members meta", "open removes it");
	crash_scan(m);
	kl_members_finish(m);
	diff_text(m, 0, &ev);
	is_str(ev.data, want, "the next scan repeats the lost events");
	kl_members_close(m);

	/* A child dies mid-scan with runs open. */
	if ((pid = fork()) == 0) {
		if ((m = open_ok(dir)) == NULL)
			_exit(1);
		kl_members_begin(m, 64 * 1024);
		for (i = 0; i < 20000; i++) {
			synth(i, 20000, 1, key, fields);
			add(m, key, fields);
		}
		raise(SIGKILL);
		_exit(1);
	}
	waitpid(pid, &status, 0);
	is_str(listing(dir), "lock members meta",
	    "a crash mid-scan leaves nothing behind");
	if ((m = open_ok(dir)) == NULL) {
		ok(0, "open");
		return;
	}
	crash_scan(m);
	kl_members_finish(m);
	diff_text(m, 0, &ev);
	is_str(ev.data, want, "and the state is as before");
	ok(kl_members_commit(m) == 0, "commit after the events");
	crash_scan(m);
	kl_members_finish(m);
	diff_text(m, 0, &ev);
	is_str(ev.data, "", "once committed, they are not repeated");
	kl_members_close(m);
	kl_buf_free(&ev);
}

static void
test_meta(void)
{
	struct kl_members *m, *m2;
	struct kl_err e;
	const char *dir = adir;

	m = kl_members_open(dir, "another_audience", "_uid", &e);
	ok(m == NULL && e.kind == KL_ERR_CONFIG &&
	    strstr(e.msg, "is not for audience 'another_audience' with key "
	    "field '_uid' (version 1): its meta file says '{\"version\":1,"
	    "\"audience\":\"" AUD "\",\"key_field\":\"_uid\"}'") != NULL,
	    "another audience is refused: %s", e.msg);
	kl_members_close(m);
	m = kl_members_open(dir, AUD, "email", &e);
	ok(m == NULL && e.kind == KL_ERR_CONFIG &&
	    strstr(e.msg, "with key field 'email'") != NULL &&
	    strstr(e.msg, "\"key_field\":\"_uid\"") != NULL,
	    "another key field is refused");
	kl_members_close(m);
	m = open_ok(dir);
	m2 = kl_members_open(dir, AUD, "_uid", &e);
	ok(m != NULL && m2 == NULL && e.kind == KL_ERR_PERMANENT &&
	    strstr(e.msg, "in use by another process") != NULL,
	    "a second open of the same directory is refused: %s", e.msg);
	kl_members_close(m2);
	kl_members_close(m);
	ok((m = open_ok(dir)) != NULL, "open again after close");
	kl_members_close(m);

	put(sub("a/meta"), "{\"version\":7,\"audience\":\"x\","
	    "\"key_field\":\"y\"}\n");
	m = kl_members_open(dir, AUD, "_uid", &e);
	ok(m == NULL && e.kind == KL_ERR_CONFIG &&
	    strstr(e.msg, "says '{\"version\":7,") != NULL,
	    "another version: %s", e.msg);
	kl_members_close(m);
	put(sub("a/meta"), "garbage\n");
	m = kl_members_open(dir, AUD, "_uid", &e);
	ok(m == NULL && e.kind == KL_ERR_CONFIG &&
	    strstr(e.msg, "says 'garbage'") != NULL, "garbage meta: %s", e.msg);
	kl_members_close(m);
	put(sub("a/meta"), "");
	m = kl_members_open(dir, AUD, "_uid", &e);
	ok(m == NULL && e.kind == KL_ERR_CONFIG, "empty meta: %s", e.msg);
	kl_members_close(m);
	unlink(sub("a/meta"));
	m = kl_members_open(dir, AUD, "_uid", &e);
	ok(m == NULL && e.kind == KL_ERR_CONFIG, "members without meta: %s",
	    e.msg);
	kl_members_close(m);
	m = kl_members_open(sub("nonexistent/x"), AUD, "_uid", &e);
	ok(m == NULL && e.kind == KL_ERR_PERMANENT && e.sys == ENOENT,
	    "a missing parent: %s", e.msg);
	kl_members_close(m);
	m = kl_members_open(dir, "", "_uid", &e);
	ok(m == NULL && e.kind == KL_ERR_CONFIG, "an empty audience");
}

static void
test_corrupt(void)
{
	struct kl_buf ev;
	struct kl_err e;
	int r;

	kl_buf_init(&ev);
	put(sub("new"), "\"a\"\t{}\n\"c\"\t{}\n");
	put(sub("bad"), "\"a\"\t{}\n\"b\"\t{}\n\"b\"\t{}\n");
	r = kl_members_diff_files(sub("bad"), sub("new"), 0, collect, &ev,
	    NULL, &e);
	ok(r == -1 && errno == EINVAL && strstr(e.msg, "/bad:3: keys not in "
	    "strictly increasing order") != NULL, "a repeated key: %s", e.msg);
	put(sub("bad"), "\"b\"\t{}\n\"a\"\t{}\n");
	r = kl_members_diff_files(sub("bad"), sub("new"), 0, collect, &ev,
	    NULL, &e);
	ok(r == -1 && strstr(e.msg, ":2: keys not") != NULL,
	    "keys out of order: %s", e.msg);
	put(sub("bad"), "\"a\"\t{}\n\"b\"\t{}");
	r = kl_members_diff_files(sub("bad"), sub("new"), 0, collect, &ev,
	    NULL, &e);
	ok(r == -1 && strstr(e.msg, ":2: last line cut short") != NULL,
	    "no final newline: %s", e.msg);
	put(sub("bad"), "a\t{}\n");
	r = kl_members_diff_files(sub("bad"), sub("new"), 0, collect, &ev,
	    NULL, &e);
	ok(r == -1 && strstr(e.msg, ":1: bad or over-long key") != NULL,
	    "an unquoted key: %s", e.msg);
	put(sub("bad"), "\"a\" {}\n");
	r = kl_members_diff_files(sub("bad"), sub("new"), 0, collect, &ev,
	    NULL, &e);
	ok(r == -1 && strstr(e.msg, "no fields") != NULL,
	    "no tab: %s", e.msg);
	r = kl_members_diff_files(sub("none"), sub("new"), 0, collect, &ev,
	    NULL, &e);
	ok(r == 0, "a missing old file is an empty membership");
	r = kl_members_diff_files(sub("new"), sub("none"), 0, collect, &ev,
	    NULL, &e);
	ok(r == -1 && errno == ENOENT, "a missing new file is an error: %s",
	    e.msg);
	kl_buf_free(&ev);
}

static long
maxrss_kib(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

static void
test_million(void)
{
	struct kl_members *m;
	struct kl_err e;
	char key[32], fields[128];
	unsigned long i, N = 1000000;
	long rss0, grew, ms, n[4] = { 0 };

	rss0 = maxrss_kib();
	ms = kl_mono_ms();
	if ((m = open_ok(sub("h"))) == NULL) {
		ok(0, "open");
		return;
	}
	kl_members_begin(m, 0);
	for (i = 0; i < N; i++) {
		synth(i, N, 1, key, fields);
		add(m, key, fields);
	}
	is_int(kl_members_finish(m), (long)N, "1,000,000 members sorted");
	kl_members_commit(m);
	/* Next scan: the first 1% leave, 1% new ones enter. */
	kl_members_begin(m, 0);
	for (i = 0; i < N; i++) {
		synth(i, N, 1, key, fields);
		if (strcmp(key, "k0010000") >= 0)
			add(m, key, fields);
	}
	for (i = 0; i < N / 100; i++) {
		snprintf(key, sizeof(key), "n%07lu", i);
		add(m, key, "{}");
	}
	is_int(kl_members_finish(m), (long)N, "second scan");
	kl_members_diff(m, 0, count_cb, n, &e);
	ok(n[KL_MEMBERS_ENTER] == 10000 && n[KL_MEMBERS_EXIT] == 10000,
	    "10000 enters, 10000 exits");
	kl_members_commit(m);
	kl_members_close(m);
	grew = maxrss_kib() - rss0;
	diag("1M: %ld ms, peak RSS grew %ld KiB", kl_mono_ms() - ms, grew);
	if (asan)
		skip(1, "RSS is not meaningful under AddressSanitizer");
	else
		ok(grew <= 64 * 1024, "peak RSS grew %ld KiB (at most 64 MiB)",
		    grew);
}

int
main(void)
{
	char cmd[600];

	if (mkdtemp(top) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(adir, sizeof(adir), "%s/a", top);
	plan(94);
	test_million();
	test_baseline();
	test_backfill();
	test_dups();
	test_keys();
	test_validation();
	test_spills();
	test_abort();
	test_write_error();
	test_crash();
	test_meta();
	test_corrupt();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
	if (system(cmd) != 0)
		diag("could not remove %s", top);
	return done_testing();
}
