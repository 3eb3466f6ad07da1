/*
 * t-ckpt.c - tests for ckpt.c, checkpoint files (contract §7).
 *
 * Everything happens in a scratch folder under /tmp: the round trip and
 * the exact text written, forward-only positions, big sequence numbers
 * compared as strings, corrupt files and another stream's file, atomic
 * replacement (new inode, no temporary left, mode kept), lock contention
 * with a forked holder, and merges: two handles in one process, then
 * several forked writers hammering one file, each on its own shard, where
 * any lost update would show.
 */
#include <config.h>

#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kl.h"
#include "tap.h"

static char dir[] = "/tmp/t-ckpt.XXXXXX";

/* 56 digits, and the same less its last digit. */
#define SEQ56	"49590338271490256608559692538361571095921575989136588898"
#define SEQ55	"4959033827149025660855969253836157109592157598913658889"
#define SEQ128	"12345678901234567890123456789012345678901234567890" \
		"12345678901234567890123456789012345678901234567890" \
		"1234567890123456789012345678"

static char *
path_of(const char *name)
{
	static char buf[8][512];
	static int i;

	i = (i + 1) % 8;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, name);
	return buf[i];
}

static int
put(const char *name, const char *text)
{
	return kl_atomic_write(path_of(name), text, strlen(text), 0644);
}

static char *
get(const char *name)
{
	struct kl_buf b;

	kl_buf_init(&b);
	if (kl_read_file(path_of(name), &b, 1 << 20) == -1) {
		kl_buf_free(&b);
		return NULL;
	}
	kl_buf_addc(&b, '\0');
	return kl_buf_steal(&b);
}

static void
test_compare(void)
{
	ok(kl_ckpt_seq_ok("0") && kl_ckpt_seq_ok(SEQ56) &&
	    kl_ckpt_seq_ok(SEQ128), "sequence numbers: 1 to 128 digits");
	ok(!kl_ckpt_seq_ok("") && !kl_ckpt_seq_ok(SEQ128 "9") &&
	    !kl_ckpt_seq_ok("-1") && !kl_ckpt_seq_ok("12a") &&
	    !kl_ckpt_seq_ok(" 1") && !kl_ckpt_seq_ok("1e5"),
	    "sequence numbers: empty, 129 digits, sign, letters refused");
	ok(kl_ckpt_seqcmp(SEQ56, SEQ55) > 0 && kl_ckpt_seqcmp(SEQ55, SEQ56) < 0,
	    "56 digits > 55 digits (whatever the digits)");
	ok(kl_ckpt_seqcmp("9", SEQ55) < 0, "9 < a 55-digit number");
	ok(kl_ckpt_seqcmp(SEQ56, SEQ56) == 0, "equal");
	ok(kl_ckpt_seqcmp("9007199254740993", "9007199254740992") > 0,
	    "2^53 + 1 > 2^53 (equal as doubles)");
	ok(kl_ckpt_seqcmp("49590338271490256608559692538361571095921575989136"
	    "588899", SEQ56) > 0, "last digit decides");
	ok(kl_ckpt_seqcmp("0007", "7") == 0 && kl_ckpt_seqcmp("010", "9") > 0,
	    "leading zeros do not count");
	ok(kl_ckpt_poscmp(NULL, -1, "0", 0) < 0 &&
	    kl_ckpt_poscmp(NULL, -1, NULL, -1) == 0,
	    "no position is before every position");
	ok(kl_ckpt_poscmp("5", 3, "5", 4) < 0 &&
	    kl_ckpt_poscmp("5", 4, "5", KL_CKPT_WHOLE) < 0 &&
	    kl_ckpt_poscmp("5", KL_CKPT_WHOLE, "6", 0) < 0,
	    "sub-sequence order: 3 < 4 < whole record < next record");
}

static void
test_roundtrip(void)
{
	struct kl_ckpt a, b;
	const struct kl_ckpt_shard *s;
	struct kl_err e;
	struct stat st;
	char *text;

	kl_ckpt_init(&a);
	kl_ckpt_init(&b);
	ok(kl_ckpt_load(&a, path_of("rt.json"), "clicks", &e) == 0 &&
	    a.n == 0, "a missing file is an empty checkpoint");
	ok(stat(path_of("rt.json"), &st) == -1, "loading creates nothing");
	is_int(kl_ckpt_set(&a, "shardId-000000000001", SEQ56, 3), 1,
	    "set a position");
	is_int(kl_ckpt_set(&a, "shardId-000000000000", SEQ128, KL_CKPT_WHOLE),
	    1, "set a 128-digit position");
	is_int(kl_ckpt_set_closed(&a, "shardId-000000000000"), 0,
	    "close a shard");
	is_int(kl_ckpt_set_closed(&a, "shardId-000000000002"), 0,
	    "close a shard never read");
	is_int(kl_ckpt_set(&a, "shard\"q\\", "1", KL_CKPT_WHOLE), 1,
	    "a shard id that needs escaping");
	if (!ok(kl_ckpt_save(&a, &e) == 0, "save"))
		diag("%s", e.msg);
	text = get("rt.json");
	is_str(text, "{\"version\":1,\"stream\":\"clicks\",\"shards\":{"
	    "\"shard\\\"q\\\\\":{\"sequence_number\":\"1\"},"
	    "\"shardId-000000000000\":{\"sequence_number\":\"" SEQ128 "\","
	    "\"closed\":true},"
	    "\"shardId-000000000001\":{\"sequence_number\":\"" SEQ56 "\","
	    "\"sub_sequence_number\":3},"
	    "\"shardId-000000000002\":{\"closed\":true}}}\n",
	    "the file: one line, shards sorted, big numbers as strings");
	free(text);
	ok(stat(path_of("rt.json"), &st) == 0 && (st.st_mode & 07777) == 0644,
	    "a new file is 0644");
	ok(stat(path_of("rt.json.lock"), &st) == 0,
	    "the lock file is left in place");
	ok(kl_ckpt_load(&b, path_of("rt.json"), "clicks", &e) == 0 &&
	    b.n == 4, "load it again: 4 shards");
	s = kl_ckpt_get(&b, "shardId-000000000001");
	ok(s != NULL && strcmp(s->seq, SEQ56) == 0 && s->sub == 3 &&
	    !s->closed && !s->dirty, "shard 1 read back");
	s = kl_ckpt_get(&b, "shardId-000000000000");
	ok(s != NULL && strcmp(s->seq, SEQ128) == 0 &&
	    s->sub == KL_CKPT_WHOLE && s->closed,
	    "shard 0 read back: 128 digits exactly, closed");
	s = kl_ckpt_get(&b, "shardId-000000000002");
	ok(s != NULL && s->seq == NULL && s->closed,
	    "shard 2: closed without a position");
	s = kl_ckpt_get(&b, "shard\"q\\");
	ok(s != NULL && strcmp(s->seq, "1") == 0, "escaped shard id");
	ok(kl_ckpt_get(&b, "shardId-000000000009") == NULL,
	    "an unknown shard has no entry");
	ok(kl_ckpt_load(&b, path_of("rt.json"), NULL, &e) == 0 &&
	    strcmp(b.stream, "clicks") == 0, "load without a stream takes "
	    "the file's");
	kl_ckpt_free(&a);
	kl_ckpt_free(&b);
}

static void
test_forward(void)
{
	struct kl_ckpt a;
	const struct kl_ckpt_shard *s;

	kl_ckpt_init(&a);
	kl_ckpt_set(&a, "s", SEQ56, 5);
	is_int(kl_ckpt_set(&a, "s", SEQ55, KL_CKPT_WHOLE), 0,
	    "an older record is ignored");
	is_int(kl_ckpt_set(&a, "s", SEQ56, 4), 0,
	    "an older user record is ignored");
	is_int(kl_ckpt_set(&a, "s", SEQ56, 5), 0,
	    "the same position is no move");
	is_int(kl_ckpt_set(&a, "s", SEQ56, 6), 1, "the next user record");
	is_int(kl_ckpt_set(&a, "s", SEQ56, KL_CKPT_WHOLE), 1,
	    "the whole record");
	is_int(kl_ckpt_set(&a, "s", SEQ56, 99), 0,
	    "a user record of a whole record is ignored");
	s = kl_ckpt_get(&a, "s");
	ok(s != NULL && strcmp(s->seq, SEQ56) == 0 &&
	    s->sub == KL_CKPT_WHOLE && s->dirty, "position kept, dirty");
	ok(kl_ckpt_set(&a, "s", "12x", 0) == -1 && errno == EINVAL &&
	    kl_ckpt_set(&a, "s", SEQ128 "0", 0) == -1 &&
	    kl_ckpt_set(&a, "s", "1", -2) == -1 &&
	    kl_ckpt_set(&a, "", "1", 0) == -1 && errno == EINVAL,
	    "bad sequence, sub-sequence or shard: EINVAL");
	ok(kl_ckpt_save(&a, NULL) == -1 && errno == EINVAL,
	    "a handle without a file cannot save");
	kl_ckpt_free(&a);
}

/* Loads text as a checkpoint of "clicks"; expects failure with msg. */
static void
corrupt(const char *text, const char *msg, const char *what)
{
	struct kl_ckpt a;
	struct kl_err e;
	char want[600];
	int r;

	put("bad.json", text);
	kl_ckpt_init(&a);
	kl_err_clear(&e);
	r = kl_ckpt_load(&a, path_of("bad.json"), "clicks", &e);
	snprintf(want, sizeof(want), "%s: %s", path_of("bad.json"), msg);
	if (!ok(r == -1 && errno == EINVAL && strncmp(e.msg, want,
	    strlen(want)) == 0 && a.n == 0, "refuses %s", what))
		diag("got %d '%s', want '%s...'", r, e.msg, want);
	kl_ckpt_free(&a);
}

static void
test_corrupt(void)
{
	struct kl_ckpt a;
	struct kl_err e;
	const struct kl_ckpt_shard *s;

	corrupt("", "not valid JSON", "an empty file");
	corrupt("{\"version\":1,\"stream\":\"clicks\",\"sha",
	    "not valid JSON", "a cut file");
	corrupt("{\"version\":1} {}", "not valid JSON", "two values");
	corrupt("[1]", "not a JSON object", "an array");
	corrupt("{\"stream\":\"clicks\",\"shards\":{}}", "no version",
	    "no version");
	corrupt("{\"version\":2,\"stream\":\"clicks\",\"shards\":{}}",
	    "unsupported checkpoint version 2", "version 2");
	corrupt("{\"version\":\"1\",\"stream\":\"clicks\",\"shards\":{}}",
	    "no version", "a version string");
	corrupt("{\"version\":1,\"shards\":{}}", "no stream name",
	    "no stream");
	corrupt("{\"version\":1,\"stream\":\"clicks\"}", "no shards object",
	    "no shards");
	corrupt("{\"version\":1,\"stream\":\"clicks\",\"shards\":[]}",
	    "no shards object", "shards as an array");
	corrupt("{\"version\":1,\"stream\":\"clicks\",\"shards\":{\"s\":1}}",
	    "shard 's' is not an object", "a shard that is a number");
	corrupt("{\"version\":1,\"stream\":\"clicks\",\"shards\":{\"s\":"
	    "{\"sequence_number\":4959}}}", "shard 's': sequence_number",
	    "a sequence number as a JSON number");
	corrupt("{\"version\":1,\"stream\":\"clicks\",\"shards\":{\"s\":"
	    "{\"sequence_number\":\"4959...\"}}}", "shard 's': sequence_number",
	    "a sequence number with dots");
	corrupt("{\"version\":1,\"stream\":\"clicks\",\"shards\":{\"s\":"
	    "{\"sequence_number\":\"" SEQ128 "1\"}}}",
	    "shard 's': sequence_number", "129 digits");
	corrupt("{\"version\":1,\"stream\":\"clicks\",\"shards\":{\"s\":"
	    "{\"sequence_number\":\"1\",\"sub_sequence_number\":1.5}}}",
	    "shard 's': sub_sequence_number", "a fractional sub-sequence");
	corrupt("{\"version\":1,\"stream\":\"clicks\",\"shards\":{\"s\":"
	    "{\"sequence_number\":\"1\",\"sub_sequence_number\":-2}}}",
	    "shard 's': sub_sequence_number", "sub-sequence -2");
	corrupt("{\"version\":1,\"stream\":\"clicks\",\"shards\":{\"s\":"
	    "{\"sequence_number\":\"1\",\"sub_sequence_number\":\"3\"}}}",
	    "shard 's': sub_sequence_number", "a sub-sequence string");
	corrupt("{\"version\":1,\"stream\":\"clicks\",\"shards\":{\"s\":"
	    "{\"sequence_number\":\"1\",\"closed\":\"yes\"}}}",
	    "shard 's': closed", "closed as a string");
	corrupt("{\"version\":1,\"stream\":\"clicks\",\"shards\":{\"s\":{}}}",
	    "shard 's' has no sequence_number", "an open shard without "
	    "a position");
	corrupt("{\"version\":1,\"stream\":\"orders\",\"shards\":{}}",
	    "checkpoint of stream 'orders', not 'clicks'",
	    "another stream's checkpoint, naming both");

	/* The contract's example, null and -1 sub-sequence numbers. */
	put("ok.json", "{\"version\":1,\"stream\":\"clicks\",\"shards\":{"
	    "\"shardId-000000000000\":{\"sequence_number\":\"" SEQ56 "\","
	    "\"sub_sequence_number\":3},\"a\":{\"sequence_number\":\"1\","
	    "\"sub_sequence_number\":null,\"extra\":[1]},\"b\":{"
	    "\"sequence_number\":\"2\",\"sub_sequence_number\":-1,"
	    "\"closed\":false}},\"comment\":\"ignored\"}\n");
	kl_ckpt_init(&a);
	ok(kl_ckpt_load(&a, path_of("ok.json"), "clicks", &e) == 0 &&
	    a.n == 3, "the contract's format loads; unknown members ignored");
	s = kl_ckpt_get(&a, "shardId-000000000000");
	ok(s != NULL && s->sub == 3 && strcmp(s->seq, SEQ56) == 0,
	    "the contract's example shard");
	ok((s = kl_ckpt_get(&a, "a")) != NULL && s->sub == KL_CKPT_WHOLE &&
	    (s = kl_ckpt_get(&a, "b")) != NULL && s->sub == KL_CKPT_WHOLE &&
	    !s->closed, "null and -1 mean the whole record");
	mkdir(path_of("dir.json"), 0700);
	ok(kl_ckpt_load(&a, path_of("dir.json"), "clicks", &e) == -1 &&
	    errno == EISDIR && strstr(e.msg, "cannot read") != NULL &&
	    e.kind == KL_ERR_PERMANENT,
	    "an unreadable file is an error (not an empty checkpoint)");
	kl_ckpt_free(&a);
}

static int
count_tmp(void)
{
	DIR *d;
	struct dirent *de;
	int n = 0;

	if ((d = opendir(dir)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strstr(de->d_name, ".tmp.") != NULL)
			n++;
	closedir(d);
	return n;
}

static void
test_atomic(void)
{
	struct kl_ckpt a;
	struct kl_err e;
	struct stat st1, st2;
	char *text;
	int fd;

	kl_ckpt_init(&a);
	kl_ckpt_load(&a, path_of("at.json"), "clicks", &e);
	kl_ckpt_set(&a, "s", "1", KL_CKPT_WHOLE);
	kl_ckpt_save(&a, &e);
	chmod(path_of("at.json"), 0600);
	/* A reader holding the old file keeps seeing the old content. */
	fd = open(path_of("at.json"), O_RDONLY);
	stat(path_of("at.json"), &st1);
	kl_ckpt_set(&a, "s", "2", KL_CKPT_WHOLE);
	ok(kl_ckpt_save(&a, &e) == 0, "save again");
	stat(path_of("at.json"), &st2);
	ok(st1.st_ino != st2.st_ino, "replaced by rename: a new inode");
	ok((st2.st_mode & 07777) == 0600, "the file keeps its mode 0600");
	{
		char buf[256];
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

		buf[n > 0 ? n : 0] = '\0';
		is_str(buf, "{\"version\":1,\"stream\":\"clicks\",\"shards\":"
		    "{\"s\":{\"sequence_number\":\"1\"}}}\n",
		    "an open reader still has the old file whole");
		if (fd >= 0)
			close(fd);
	}
	text = get("at.json");
	is_blob(text, text ? strlen(text) : 0, "{\"version\":1,\"stream\":"
	    "\"clicks\",\"shards\":{\"s\":{\"sequence_number\":\"2\"}}}\n",
	    71, "the path has the new content");
	free(text);
	is_int(count_tmp(), 0, "no temporary file left behind");
	/* A save that cannot write leaves the handle dirty. */
	kl_ckpt_load(&a, path_of("gone/at.json"), "clicks", &e);
	kl_ckpt_set(&a, "s", "3", KL_CKPT_WHOLE);
	ok(kl_ckpt_save(&a, &e) == -1 && errno == ENOENT &&
	    strstr(e.msg, "gone/at.json") != NULL &&
	    kl_ckpt_get(&a, "s")->dirty,
	    "a failed save says why and leaves the handle dirty");
	kl_ckpt_free(&a);
}

/* Forks a child that holds the lock of path for ms, then exits. */
static pid_t
hold_lock(const char *path, long ms)
{
	int p[2];
	pid_t pid;
	char c = 0;

	if (pipe(p) == -1 || (pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		struct kl_ckpt h;

		close(p[0]);
		kl_ckpt_init(&h);
		kl_ckpt_load(&h, path, "clicks", NULL);
		if (kl_ckpt_lock(&h, 1000, NULL) == -1)
			_exit(1);
		(void)write(p[1], "x", 1);
		usleep((useconds_t)ms * 1000);
		_exit(0);	/* the lock goes with the process */
	}
	close(p[1]);
	(void)read(p[0], &c, 1);
	close(p[0]);
	return c == 'x' ? pid : -1;
}

static void
test_lock(void)
{
	struct kl_ckpt a, b;
	struct kl_err e;
	pid_t pid;
	long t0, dt;
	int st;

	kl_ckpt_init(&a);
	kl_ckpt_load(&a, path_of("lk.json"), "clicks", &e);
	pid = hold_lock(path_of("lk.json"), 1500);
	if (!ok(pid > 0, "a child holds the lock")) {
		skip(9, "no lock holder");
		kl_ckpt_free(&a);
		return;
	}
	t0 = kl_mono_ms();
	ok(kl_ckpt_lock(&a, 100, &e) == -1 && errno == ETIMEDOUT &&
	    e.kind == KL_ERR_TRANSIENT && strstr(e.msg, "lk.json.lock") &&
	    kl_mono_ms() - t0 >= 100, "a bounded wait times out (ETIMEDOUT)");
	ok(kl_ckpt_lock(&a, 0, &e) == -1 && errno == ETIMEDOUT,
	    "a try without waiting fails at once");
	a.lock_ms = 50;
	kl_ckpt_set(&a, "s", "1", KL_CKPT_WHOLE);
	ok(kl_ckpt_save(&a, &e) == -1 && errno == ETIMEDOUT &&
	    kl_ckpt_get(&a, "s")->dirty, "save waits for the lock, then fails");
	t0 = kl_mono_ms();
	ok(kl_ckpt_lock(&a, 5000, &e) == 0 && a.lockfd >= 0,
	    "a longer wait gets the lock when the child exits");
	dt = kl_mono_ms() - t0;
	ok(dt >= 100 && dt < 5000, "... after a while (%ld ms)", dt);
	waitpid(pid, &st, 0);
	ok(kl_ckpt_lock(&a, 0, &e) == 0, "locking twice is a no-op");
	kl_ckpt_init(&b);
	kl_ckpt_load(&b, path_of("lk.json"), "clicks", &e);
	ok(kl_ckpt_lock(&b, 0, &e) == -1,
	    "another handle of the same process is excluded too");
	ok(kl_ckpt_save(&a, &e) == 0 && a.lockfd >= 0,
	    "save under a held lock keeps it");
	kl_ckpt_unlock(&a);
	ok(a.lockfd == -1 && kl_ckpt_lock(&b, 0, &e) == 0,
	    "unlock lets the other in");
	kl_ckpt_free(&b);
	kl_ckpt_free(&a);
}

static void
test_merge(void)
{
	struct kl_ckpt a, b, c;
	struct kl_err e;
	const struct kl_ckpt_shard *s;
	char *text;

	kl_ckpt_init(&a);
	kl_ckpt_init(&b);
	kl_ckpt_init(&c);
	kl_ckpt_load(&a, path_of("mg.json"), "clicks", &e);
	kl_ckpt_load(&b, path_of("mg.json"), "clicks", &e);
	kl_ckpt_set(&a, "shard-a", "100", KL_CKPT_WHOLE);
	kl_ckpt_set(&b, "shard-b", "200", 7);
	ok(kl_ckpt_merge(&a, &e) == 0, "writer A merges its shard");
	ok(kl_ckpt_merge(&b, &e) == 0, "writer B merges its shard");
	text = get("mg.json");
	is_str(text, "{\"version\":1,\"stream\":\"clicks\",\"shards\":{"
	    "\"shard-a\":{\"sequence_number\":\"100\"},"
	    "\"shard-b\":{\"sequence_number\":\"200\","
	    "\"sub_sequence_number\":7}}}\n", "the file has both shards");
	free(text);
	ok(kl_ckpt_get(&b, "shard-a") != NULL && !kl_ckpt_get(&b,
	    "shard-b")->dirty, "B now holds A's shard too, clean");
	/* A saves plainly: it would drop B's shard; merge does not. */
	kl_ckpt_set(&a, "shard-a", "101", KL_CKPT_WHOLE);
	kl_ckpt_set(&b, "shard-b", "201", KL_CKPT_WHOLE);
	kl_ckpt_merge(&b, &e);
	kl_ckpt_set_closed(&a, "shard-a");
	ok(kl_ckpt_merge(&a, &e) == 0 &&
	    (s = kl_ckpt_get(&a, "shard-b")) != NULL &&
	    strcmp(s->seq, "201") == 0, "A's merge keeps B's newer position");
	/* Both move the same shard: the greater position wins. */
	kl_ckpt_set(&b, "shard-a", "150", KL_CKPT_WHOLE);
	kl_ckpt_set(&a, "shard-a", "120", KL_CKPT_WHOLE);
	kl_ckpt_merge(&b, &e);
	kl_ckpt_merge(&a, &e);
	kl_ckpt_load(&c, path_of("mg.json"), "clicks", &e);
	s = kl_ckpt_get(&c, "shard-a");
	ok(s != NULL && strcmp(s->seq, "150") == 0 && s->closed,
	    "the same shard from both: the greater position, still closed");
	/* The file is removed: a merge writes this handle's changes. */
	unlink(path_of("mg.json"));
	kl_ckpt_set(&a, "shard-c", "5", KL_CKPT_WHOLE);
	ok(kl_ckpt_merge(&a, &e) == 0 && a.n == 1 &&
	    kl_ckpt_get(&a, "shard-c") != NULL,
	    "after removal, only this handle's changes");
	/* The file now belongs to another stream: refused, changes kept. */
	put("mg.json", "{\"version\":1,\"stream\":\"orders\",\"shards\":{}}");
	kl_ckpt_set(&a, "shard-c", "6", KL_CKPT_WHOLE);
	ok(kl_ckpt_merge(&a, &e) == -1 && strstr(e.msg, "'orders'") &&
	    kl_ckpt_get(&a, "shard-c")->dirty && a.lockfd == -1,
	    "merge into another stream's file: refused, still dirty");
	kl_ckpt_free(&a);
	kl_ckpt_free(&b);
	kl_ckpt_free(&c);
}

#define WRITERS	4
#define ROUNDS	40

/* Forked writers advance their own shards; no update may be lost. */
static void
test_merge_fork(void)
{
	struct kl_ckpt c;
	struct kl_err e;
	const struct kl_ckpt_shard *s;
	pid_t pid[WRITERS];
	char id[32], seq[32];
	int i, j, st, bad = 0, good = 0;

	for (i = 0; i < WRITERS; i++) {
		if ((pid[i] = fork()) == 0) {
			struct kl_ckpt w;

			kl_ckpt_init(&w);
			if (kl_ckpt_load(&w, path_of("mf.json"), "clicks",
			    NULL) == -1)
				_exit(1);
			snprintf(id, sizeof(id), "shardId-%012d", i);
			for (j = 1; j <= ROUNDS; j++) {
				snprintf(seq, sizeof(seq), "%d", 1000 + j);
				kl_ckpt_set(&w, id, seq, j % 3 ? j :
				    KL_CKPT_WHOLE);
				if (kl_ckpt_merge(&w, NULL) == -1)
					_exit(2);
			}
			kl_ckpt_free(&w);
			_exit(0);
		}
	}
	for (i = 0; i < WRITERS; i++)
		if (pid[i] > 0 && waitpid(pid[i], &st, 0) == pid[i] &&
		    WIFEXITED(st) && WEXITSTATUS(st) == 0)
			good++;
	is_int(good, WRITERS, "%d writers, %d merges each, all succeed",
	    WRITERS, ROUNDS);
	kl_ckpt_init(&c);
	ok(kl_ckpt_load(&c, path_of("mf.json"), "clicks", &e) == 0 &&
	    c.n == WRITERS, "the file holds every writer's shard");
	for (i = 0; i < WRITERS; i++) {
		snprintf(id, sizeof(id), "shardId-%012d", i);
		snprintf(seq, sizeof(seq), "%d", 1000 + ROUNDS);
		s = kl_ckpt_get(&c, id);
		if (s == NULL || strcmp(s->seq, seq) != 0 ||
		    s->sub != (ROUNDS % 3 ? ROUNDS : KL_CKPT_WHOLE))
			bad++;
	}
	is_int(bad, 0, "each at its writer's last position");
	is_int(count_tmp(), 0, "no temporary file left behind");
	kl_ckpt_free(&c);
}

int
main(void)
{
	char cmd[300];

	plan(90);
	if (mkdtemp(dir) == NULL)
		return 1;
	test_compare();
	test_roundtrip();
	test_forward();
	test_corrupt();
	test_atomic();
	test_lock();
	test_merge();
	test_merge_fork();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		diag("could not remove %s", dir);
	return done_testing();
}
