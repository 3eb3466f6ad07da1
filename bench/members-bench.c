/*
 * members-bench.c - times the membership state of members.c on N
 * synthetic members and reports the peak RSS.  Built only by
 * "make bench"; not installed.
 *
 *	bench/members-bench [-b budget] N DIR
 *
 * DIR must not exist (its parent must); it is removed at the end.  Two
 * scans run, as kl-read-audience --watch would run them: a baseline of
 * N members, committed without a diff; then a second scan in which 1%
 * of the members left, 1% are new, 1% have changed fields and 0.5% are
 * seen twice (on two pages), compared with the first (changes
 * reported) and committed.  Members arrive in a scrambled order, the
 * key a 16-hex-digit id and the fields an email and a _uid, about the
 * size of a --key-field _uid state with two exported fields.
 *
 * The peak RSS is getrusage(RUSAGE_SELF).ru_maxrss, the figure the
 * 64 MiB requirement is about; the generator itself uses next to no
 * memory, so it is the state's.
 */
#include <config.h>

#include <sys/resource.h>
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kl.h"

static uint64_t
mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

static double
secs(long since)
{
	return (double)(kl_mono_ms() - since) / 1000;
}

static double
peak_mib(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_maxrss / 1024;
}

static void
fail(const char *what)
{
	fprintf(stderr, "members-bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* Member id's key and fields; gen changes the fields. */
static void
member(uint64_t id, int gen, char *key, size_t *klen, char *f, size_t *flen)
{
	*klen = (size_t)snprintf(key, 32, "%016llx",
	    (unsigned long long)mix(id + 1));
	*flen = (size_t)snprintf(f, 128, "{\"email\":\"user%llu@example.com\","
	    "\"_uid\":\"%s\"%s}", (unsigned long long)id, key,
	    gen ? ",\"tier\":\"gold\"" : "");
}

static int
count(void *arg, int ev, const char *key, size_t klen, const char *f,
    size_t flen)
{
	long *n = arg;

	n[ev]++;
	return 0;
}

/* One scan: ids 0..n-1 in a scrambled order, less and more for scan 2. */
static void
scan(struct kl_members *m, uint64_t n, size_t budget, int second)
{
	char key[32], f[128];
	size_t klen, flen;
	uint64_t i, id, p = 2654435761ULL;
	long t;

	while (n % p == 0)
		p += 2;
	t = kl_mono_ms();
	kl_members_begin(m, budget);
	for (i = 0; i < n; i++) {
		id = i * p % n;
		if (second && id % 100 == 0)
			continue;		/* left */
		member(id, second && id % 100 == 1, key, &klen, f, &flen);
		if (kl_members_add(m, key, klen, f, flen) == -1)
			fail("add");
		if (second && i % 200 == 3) {	/* on a later page too */
			member(i / 2 * p % n, 0, key, &klen, f, &flen);
			if (i / 2 * p % n % 100 != 0 &&
			    kl_members_add(m, key, klen, f, flen) == -1)
				fail("add");
		}
	}
	for (i = 0; second && i < n / 100; i++) {
		member(n + i, 0, key, &klen, f, &flen);	/* new */
		if (kl_members_add(m, key, klen, f, flen) == -1)
			fail("add");
	}
	printf("  add      %8.2f s  %ld added\n", secs(t),
	    kl_members_stats(m)->added);
	t = kl_mono_ms();
	if (kl_members_finish(m) == -1)
		fail("finish");
	printf("  finish   %8.2f s  %ld members, %ld runs, %ld merges\n",
	    secs(t), kl_members_stats(m)->members, kl_members_stats(m)->runs,
	    kl_members_stats(m)->merges);
}

int
main(int argc, char *argv[])
{
	struct kl_members *m;
	struct kl_err e;
	unsigned long long n, budget = 0;
	long t, t0, ev[4] = { 0 };
	char path[4096];
	struct stat st;
	int c;

	while ((c = getopt(argc, argv, "b:")) != -1) {
		if (c != 'b' || kl_parse_uint(optarg, 0, 1ULL << 30,
		    &budget) == -1) {
			fprintf(stderr, "usage: members-bench [-b budget] N "
			    "DIR\n");
			return 2;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 2 || kl_parse_uint(argv[0], 1, 1ULL << 32, &n) == -1) {
		fprintf(stderr, "usage: members-bench [-b budget] N DIR\n");
		return 2;
	}
	if (stat(argv[1], &st) == 0) {
		fprintf(stderr, "members-bench: '%s' exists\n", argv[1]);
		return 2;
	}
	t0 = kl_mono_ms();
	if ((m = kl_members_open(argv[1], "bench", "_uid", &e)) == NULL) {
		fprintf(stderr, "members-bench: %s\n", e.msg);
		return 1;
	}
	printf("%llu members, budget %llu bytes\n", n,
	    budget ? budget : (unsigned long long)KL_MEMBERS_BUDGET);
	printf("scan 1 (baseline)\n");
	scan(m, n, (size_t)budget, 0);
	t = kl_mono_ms();
	if (kl_members_commit(m) == -1)
		fail("commit");
	snprintf(path, sizeof(path), "%s/members", argv[1]);
	stat(path, &st);
	printf("  commit   %8.2f s  state %.1f MiB\n", secs(t),
	    (double)st.st_size / 1048576);
	printf("  peak RSS %8.1f MiB\n", peak_mib());
	printf("scan 2 (1%% exit, 1%% enter, 1%% change, 0.5%% twice)\n");
	scan(m, n, (size_t)budget, 1);
	t = kl_mono_ms();
	if (kl_members_diff(m, KL_MEMBERS_CHANGES, count, ev, &e) == -1) {
		fprintf(stderr, "members-bench: %s\n", e.msg);
		return 1;
	}
	printf("  diff     %8.2f s  %ld enter, %ld exit, %ld change\n",
	    secs(t), ev[KL_MEMBERS_ENTER], ev[KL_MEMBERS_EXIT],
	    ev[KL_MEMBERS_CHANGE]);
	t = kl_mono_ms();
	if (kl_members_commit(m) == -1)
		fail("commit");
	printf("  commit   %8.2f s\n", secs(t));
	kl_members_close(m);
	printf("total      %8.2f s  peak RSS %.1f MiB\n", secs(t0),
	    peak_mib());
	snprintf(path, sizeof(path), "rm -rf -- '%s'", argv[1]);
	if (strchr(argv[1], '\'') == NULL && system(path) != 0)
		fprintf(stderr, "members-bench: cannot remove '%s'\n",
		    argv[1]);
	return 0;
}
