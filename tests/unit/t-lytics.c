/*
 * t-lytics.c - unit tests of lytics.c: the batch layout (one body,
 * events in place, sizes), how kl_lytics_send reports a transport failure
 * (events left pending) and a stop; then the read side against the Lytics
 * stand-in (tests/fakes/lytics-standin.py, started here from $srcdir with
 * its seed): segment list and lookup, a paged scan, an expired scan
 * token, entity lookups; and the set-up helpers, kl_lytics_config and
 * kl_lytics_stream_ok.  Collect is tested in tests/kl-to-lytics.t.
 */
#include <config.h>

#include <sys/wait.h>

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kl.h"
#include "tap.h"

#define KEY	"at.t-lytics-key-0123456789"

static int acks, rejects;

static int
on_ack(void *arg, const struct kl_lytics_ack *a, struct kl_err *e)
{
	acks++;
	return 0;
}

static int
on_reject(void *arg, const struct kl_lytics_ev *ev, struct kl_err *e)
{
	rejects++;
	return 0;
}

/* Starts the stand-in; fills url, returns its pid or -1. */
static pid_t
standin(const char *dir, char *url, size_t cap)
{
	char cmd[1024], line[256], *p, *q;
	FILE *f;
	pid_t pid;
	int fd[2];

	snprintf(cmd, sizeof(cmd), "%s/key", dir);
	if ((f = fopen(cmd, "w")) == NULL)
		return -1;
	fputs(KEY "\n", f);
	fclose(f);
	if (pipe(fd) == -1 || (pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		char seed[512], py[512];

		dup2(fd[1], 1);
		close(fd[0]);
		snprintf(seed, sizeof(seed), "%s/tests/data/lytics/seed.json",
		    getenv("srcdir"));
		snprintf(py, sizeof(py), "%s/tests/fakes/lytics-standin.py",
		    getenv("srcdir"));
		execl("/usr/bin/python3", "python3", py, "--port", "0",
		    "--key-file", cmd, "--seed", seed, (char *)NULL);
		_exit(127);
	}
	close(fd[1]);
	f = fdopen(fd[0], "r");
	if (f == NULL || fgets(line, sizeof(line), f) == NULL ||
	    (p = strstr(line, "http://")) == NULL ||
	    (q = strchr(p, '"')) == NULL || (size_t)(q - p) >= cap) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
		return -1;
	}
	memcpy(url, p, (size_t)(q - p));
	url[q - p] = '\0';
	fclose(f);
	return pid;
}

/*
 * The string member name of obj, in a static buffer ("" if none); a NULL
 * obj frees the buffer.
 */
static const char *
member(const struct kl_jspan *obj, const char *name)
{
	static struct kl_buf b;
	struct kl_jspan v;

	kl_buf_free(&b);
	if (obj == NULL || !kl_js_get(obj, name, &v) ||
	    kl_js_str(&v, &b) == -1)
		return "";
	return b.data;
}

static void
read_side(void)
{
	struct kl_lytics_api a;
	struct kl_lytics l;
	struct kl_lytics_scan sc;
	struct kl_http_resp resp;
	struct kl_jspan data, v;
	struct kl_jiter it;
	struct kl_err e;
	char dir[] = "/tmp/t-lytics.XXXXXX", url[128], key[] = KEY;
	long n, total = 0, pages = 0;
	pid_t pid;
	int r;

	if (getenv("srcdir") == NULL || access("/usr/bin/python3", X_OK) != 0 ||
	    mkdtemp(dir) == NULL || (pid = standin(dir, url, sizeof(url))) ==
	    -1) {
		skip(14, "the Lytics stand-in cannot start");
		return;
	}
	l.url = url;
	l.key = key;
	l.url_from = l.key_from = "test";
	kl_lytics_open(&a, &l, &e);
	kl_http_resp_init(&resp);
	r = kl_lytics_segments(&a, NULL, &resp, &data, &e);
	n = 0;
	if (r == 0 && kl_js_iter_init(&it, &data) == 0)
		while (kl_js_iter_next(&it, NULL, &v))
			n++;
	ok(r == 0 && n >= 4, "GET /api/segment: the seed's user segments "
	    "(%ld)", n);
	r = kl_lytics_segment(&a, "high_value", &resp, &data, &e);
	ok(r == 0, "GET /api/segment/high_value");
	is_str(member(&data, "id"), "efdcc4da20554be02e90c563f69bc0ec",
	    "... its id");
	r = kl_lytics_segment(&a, "no_such", &resp, &data, &e);
	ok(r == -1 && e.kind == KL_ERR_PERMANENT && e.status == 404,
	    "an unknown segment: 404, permanent");
	kl_lytics_scan_open(&sc, &a, "big", 100, NULL, NULL, &e);
	while ((n = kl_lytics_scan_page(&sc, &data, &e)) > 0) {
		total += n;
		pages++;
	}
	ok(n == 0, "scan of 'big': ends cleanly");
	is_int(total, 1000, "scan of 'big': 1000 profiles");
	is_int(pages, 10, "scan of 'big': 10 pages of 100");
	is_int(sc.total, 1000, "scan of 'big': total");
	kl_lytics_scan_close(&sc);
	kl_lytics_scan_open(&sc, &a, "big", 0, NULL, "bogus-token", &e);
	ok(kl_lytics_scan_page(&sc, &data, &e) == -1 && e.status == 400,
	    "a scan from a bad start token: 400");
	kl_lytics_scan_close(&sc);
	kl_lytics_scan_open(&sc, &a, "empty", 0, NULL, NULL, &e);
	ok(kl_lytics_scan_page(&sc, &data, &e) == 0 && sc.done,
	    "a scan of an empty segment: over at once");
	kl_lytics_scan_close(&sc);
	r = kl_lytics_entity(&a, "user", "email", "ann@example.com", NULL,
	    &resp, &data, &e);
	ok(r == 1, "entity by email: found");
	is_str(member(&data, "_uid"), "a-1", "... the profile");
	r = kl_lytics_entity(&a, "user", "email", "nobody@example.com", NULL,
	    &resp, &data, &e);
	ok(r == 0, "entity not found: 0 (HTTP 200 \"Not Found\")");
	kl_lytics_close(&a);
	l.key = (char *)"at.wrong";
	kl_lytics_open(&a, &l, &e);
	r = kl_lytics_segments(&a, NULL, &resp, &data, &e);
	ok(r == -1 && e.status == 401 && strstr(e.msg, KEY) == NULL,
	    "a wrong key: 401, the key not in the message");
	kl_lytics_close(&a);
	kl_http_resp_free(&resp);
	member(NULL, NULL);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	snprintf(url, sizeof(url), "%s/key", dir);
	unlink(url);
	rmdir(dir);
}

static void
setup_helpers(void)
{
	struct kl_lyticsopts o = { "http://127.0.0.1:9/", NULL };
	struct kl_lytics l;
	struct kl_err e;
	char s[258];

	unsetenv("LYTICS_API_KEY");
	ok(kl_lytics_config(&l, &o, &e) == -1 && e.kind == KL_ERR_CONFIG,
	    "config without a key: -1, a configuration error");
	setenv("LYTICS_API_KEY", "at.unit-test-key", 1);
	ok(kl_lytics_config(&l, &o, &e) == 0 &&
	    strcmp(l.url, "http://127.0.0.1:9") == 0 &&
	    strcmp(l.url_from, "--lytics-url") == 0 &&
	    strcmp(l.key, "at.unit-test-key") == 0,
	    "config: the URL without its slash, the key from the environment");
	kl_lytics_free(&l);
	unsetenv("LYTICS_API_KEY");
	memset(s, 'x', sizeof(s) - 2);
	s[256] = '\0';
	ok(kl_lytics_stream_ok("web") && kl_lytics_stream_ok(s),
	    "stream names of 1 and 256 bytes");
	s[256] = 'x';
	s[257] = '\0';
	ok(!kl_lytics_stream_ok(s) && !kl_lytics_stream_ok(""),
	    "not of 257 bytes, nor empty");
	ok(!kl_lytics_stream_ok("a b") && !kl_lytics_stream_ok("a/b") &&
	    !kl_lytics_stream_ok("a\tb") && !kl_lytics_stream_ok("a\177"),
	    "no spaces, '/' or controls");
}

int
main(void)
{
	struct kl_lytics_batch b;
	struct kl_lytics_api a;
	struct kl_lytics l;
	struct kl_lytics_collect o = { "web", NULL, 0 };
	struct kl_lytics_cb cb = { on_ack, on_reject, NULL };
	struct kl_err e;
	char url[] = "http://127.0.0.1:1", key[] = "at.unit-test-key";

	kl_prog = "t-lytics";
	plan(38);
	kl_lytics_batch_init(&b);
	is_int((long long)kl_lytics_batch_size_with(&b, 7), 9,
	    "an empty batch with a 7-byte event: 9 bytes with brackets");
	ok(kl_lytics_batch_add(&b, "{\"a\":1}", 7, 10) == 0, "add a first event");
	ok(kl_lytics_batch_add(&b, "{}", 2, 11) == 0, "add a second event");
	is_int((long long)b.n, 2, "two events");
	is_blob(b.body.data, b.body.len, "[{\"a\":1},{}", 11,
	    "the body: '[' and the events joined by ','");
	is_int((long long)b.ev[1].off, 9, "the second event's offset");
	is_int(b.ev[1].tag, 11, "the second event's tag");
	is_int((long long)kl_lytics_batch_size_with(&b, 3), 16,
	    "the size with a third event of 3 bytes");
	kl_lytics_batch_reset(&b);
	is_int((long long)b.n, 0, "reset: empty");
	ok(kl_lytics_batch_add(&b, "{\"b\":2}", 7, 0) == 0 &&
	    strcmp(b.body.data, "[{\"b\":2}") == 0, "reset: a new body");

	setup_helpers();
	curl_global_init(CURL_GLOBAL_DEFAULT);
	read_side();
	l.url = url;
	l.key = key;
	l.url_from = l.key_from = "test";
	ok(kl_lytics_open(&a, &l, &e) == 0, "open a client");
	is_str(kl_hdrs_get(&a.hdrs, "Authorization"), key,
	    "the raw key is the Authorization value, no Bearer");
	a.retries = 1;
	a.base_ms = a.cap_ms = 1;
	ok(kl_lytics_send(&a, &o, &b, &cb, &e) == -1, "nothing listens: -1");
	is_int(e.kind, KL_ERR_TRANSIENT, "... a transient failure");
	ok(strstr(e.msg, "POST http://127.0.0.1:1/collect/json/web: ") ==
	    e.msg, "... naming the method and URL");
	is_int(b.ev[0].state, KL_LYTICS_EV_PENDING, "... the event pending");
	is_int((long long)b.body.len, 8, "... the body as it was");
	kl_stop_request(SIGTERM);
	ok(kl_lytics_send(&a, &o, &b, &cb, &e) == -1 &&
	    e.kind == KL_ERR_STOPPED, "a stop: no retry (KL_ERR_STOPPED)");
	is_int(acks + rejects, 0, "no callbacks were made");
	kl_lytics_close(&a);
	kl_lytics_batch_free(&b);
	curl_global_cleanup();
	return done_testing();
}
