/*
 * t-sigv4-oracle.c - compares kl's SigV4 signer with botocore's.
 *
 * The test generates requests shaped like kl's own, deterministically
 * from a seed: Kinesis JSON 1.1 calls (PutRecords with random records,
 * base64 data and partition keys, and other operations) and STS calls
 * (AssumeRole form bodies whose values need percent-encoding, the GET
 * query form, GetCallerIdentity), with random hosts (regional, global,
 * loopback with a port), regions, times, session tokens on some, header
 * values with odd spacing and repeated names, extra query strings and
 * paths to normalise on some.  Each is signed by kl_sigv4_sign() and by
 * botocore (tests/sigv4-oracle.py, one process for the whole run, fed
 * one JSON line per request and answering one line each), and the
 * canonical request, string to sign, signature, Authorization value and
 * X-Amz-Date must agree byte for byte.
 *
 * Environment: KL_SIGV4_SEED (default 0x6b6c2d7369677634), KL_SIGV4_N
 * (default 1000), KL_PYTHON (default /usr/bin/python3: Debian's botocore
 * is not visible to another python3 on PATH), KL_SIGV4_ORACLE (the
 * script; default $srcdir/tests/sigv4-oracle.py).  Without botocore the
 * test is skipped, unless KL_REQUIRE_ORACLE is set (CI), when it fails.
 */
#include <config.h>

#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jv.h>

#include "kl.h"
#include "tap.h"

#define DEFAULT_SEED	0x6b6c2d7369677634ULL
#define DEFAULT_N	1000
#define SHOW_MAX	5		/* mismatches described in full */

struct rng {
	uint64_t	 s;
};

/* One generated request. */
struct gen {
	const char	*method;
	const char	*service;
	char		 region[32];
	struct kl_buf	 host, path, query, body;
	struct kl_hdrs	 h;
	struct kl_creds	 c;
	time_t		 now;
	int		 kind;		/* enum kind */
};

enum kind { K_PUTRECORDS, K_KINESIS, K_ASSUME, K_ASSUME_GET, K_CALLER,
	K_NKINDS };

struct stats {
	int	 kinds[K_NKINDS];
	int	 token, query, path, extra, spacing, dup, loopback;
};

static const char *const regions[] = { "us-east-1", "us-east-2",
	"us-west-1", "us-west-2", "eu-west-1", "eu-west-2", "eu-west-3",
	"eu-central-1", "eu-north-1", "eu-south-1", "ap-south-1",
	"ap-northeast-1", "ap-northeast-2", "ap-southeast-1",
	"ap-southeast-2", "sa-east-1", "ca-central-1", "me-south-1",
	"af-south-1", "cn-north-1", "us-gov-west-1", "il-central-1" };
#define NREGIONS	(sizeof(regions) / sizeof(regions[0]))

static const char *const kinesis_ops[] = { "GetRecords",
	"GetShardIterator", "ListShards", "DescribeStreamSummary",
	"PutRecord", "SubscribeToShard" };
#define NOPS		(sizeof(kinesis_ops) / sizeof(kinesis_ops[0]))

/* Characters that need encoding, and some that do not, UTF-8 included. */
static const char *const oddchars[] = { " ", "/", ":", "+", "=", "&",
	"%", "@", ",", ";", "!", "*", "'", "(", ")", "$", "\"", "<", ">",
	"[", "]", "{", "}", "|", "\\", "^", "`", "-", "_", ".", "~",
	"\xc3\xa9", "\xe1\x88\xb4", "\xf0\x9f\x98\x80", "\xe2\x82\xac" };
#define NODD		(sizeof(oddchars) / sizeof(oddchars[0]))

static const char alnum[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* splitmix64: small, fast and the same everywhere. */
static uint64_t
rnd(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static size_t
below(struct rng *r, size_t n)
{
	return (size_t)(rnd(r) % n);
}

static int
chance(struct rng *r, int percent)
{
	return (int)below(r, 100) < percent;
}

static void
add_chars(struct rng *r, struct kl_buf *b, const char *set, size_t n)
{
	size_t len = strlen(set);

	while (n-- > 0)
		kl_buf_addc(b, set[below(r, len)]);
}

/* Random text, n pieces, mostly alphanumeric, some needing encoding. */
static void
add_text(struct rng *r, struct kl_buf *b, size_t n, int odd_percent)
{
	while (n-- > 0) {
		if (chance(r, odd_percent))
			kl_buf_adds(b, oddchars[below(r, NODD)]);
		else
			add_chars(r, b, alnum, 1);
	}
}

/* A header value with runs of spaces and tabs around and inside. */
static void
add_spaced(struct rng *r, struct kl_buf *b, const char *v, int odd,
    struct stats *st)
{
	static const char *const runs[] = { " ", "  ", "\t", " \t ", "   " };

	if (!odd) {
		kl_buf_adds(b, v);
		return;
	}
	st->spacing++;
	if (chance(r, 60))
		kl_buf_adds(b, runs[below(r, 5)]);
	for (; *v != '\0'; v++) {
		if (*v == ' ')
			kl_buf_adds(b, runs[below(r, 5)]);
		else
			kl_buf_addc(b, *v);
	}
	if (chance(r, 60))
		kl_buf_adds(b, runs[below(r, 5)]);
}

static void
hdr(struct gen *g, const char *name, const char *value)
{
	kl_hdrs_add(&g->h, name, value);
}

static void
gen_free(struct gen *g)
{
	kl_buf_free(&g->host);
	kl_buf_free(&g->path);
	kl_buf_free(&g->query);
	kl_buf_free(&g->body);
	kl_hdrs_free(&g->h);
	free(g->c.akid);
	free(g->c.secret);
	free(g->c.token);
}

static char *
rand_str(struct rng *r, const char *prefix, const char *set, size_t n)
{
	struct kl_buf b;

	kl_buf_init(&b);
	kl_buf_adds(&b, prefix);
	add_chars(r, &b, set, n);
	return kl_buf_steal(&b);
}

static void
gen_kinesis_body(struct rng *r, struct gen *g)
{
	struct kl_buf tmp, raw;
	size_t i, n, len;

	kl_buf_init(&tmp);
	kl_buf_init(&raw);
	kl_buf_adds(&g->body, "{\"StreamName\":\"");
	add_chars(r, &g->body, alnum, 1 + below(r, 30));
	kl_buf_adds(&g->body, "\"");
	if (g->kind == K_PUTRECORDS) {
		kl_buf_adds(&g->body, ",\"Records\":[");
		n = 1 + below(r, chance(r, 5) ? 500 : 20);
		for (i = 0; i < n; i++) {
			kl_buf_reset(&raw);
			len = below(r, chance(r, 3) ? 4000 : 300);
			while (raw.len < len)
				kl_buf_addc(&raw, (int)(rnd(r) & 0xff));
			kl_buf_reset(&tmp);
			add_text(r, &tmp, 1 + below(r, 40), 20);
			kl_buf_adds(&g->body, i > 0 ? ",{\"Data\":\"" :
			    "{\"Data\":\"");
			kl_base64_enc(&g->body, (unsigned char *)raw.data,
			    raw.len);
			kl_buf_adds(&g->body, "\",\"PartitionKey\":");
			kl_buf_add_jstr(&g->body, tmp.data, tmp.len);
			kl_buf_addc(&g->body, '}');
		}
		kl_buf_adds(&g->body, "]");
	} else if (chance(r, 50)) {
		kl_buf_addf(&g->body, ",\"Limit\":%zu", 1 + below(r, 10000));
	}
	kl_buf_addc(&g->body, '}');
	kl_buf_free(&tmp);
	kl_buf_free(&raw);
}

/* Appends "&name=value" (or "name=value" first), value encoded. */
static void
form_add(struct kl_buf *b, const char *name, const char *value)
{
	if (b->len > 0)
		kl_buf_addc(b, '&');
	kl_buf_adds(b, name);
	kl_buf_addc(b, '=');
	kl_uri_encode(b, value, strlen(value), 0);
}

static void
gen_sts_params(struct rng *r, struct gen *g, struct kl_buf *out)
{
	struct kl_buf v;
	size_t i;

	kl_buf_init(&v);
	if (g->kind == K_CALLER) {
		form_add(out, "Action", "GetCallerIdentity");
		form_add(out, "Version", "2011-06-15");
		kl_buf_free(&v);
		return;
	}
	form_add(out, "Action", "AssumeRole");
	form_add(out, "Version", "2011-06-15");
	kl_buf_adds(&v, "arn:aws:iam::");
	add_chars(r, &v, "0123456789", 12);
	kl_buf_adds(&v, ":role/");
	for (i = below(r, 4); i > 0; i--) {
		add_text(r, &v, 1 + below(r, 12), 0);
		kl_buf_addc(&v, '/');
	}
	add_chars(r, &v, alnum, 1 + below(r, 20));
	add_chars(r, &v, "+=,.@-_", below(r, 3));
	form_add(out, "RoleArn", v.data);
	kl_buf_reset(&v);
	kl_buf_adds(&v, "kl-");
	add_chars(r, &v, "abcdefghijklmnopqrstuvwxyz0123456789+=,.@-_",
	    2 + below(r, 40));
	form_add(out, "RoleSessionName", v.data);
	if (chance(r, 70)) {
		kl_buf_reset(&v);
		add_text(r, &v, 2 + below(r, 60), 30);
		form_add(out, "ExternalId", v.data);
	}
	if (chance(r, 50)) {
		kl_buf_reset(&v);
		kl_buf_addf(&v, "%zu", 900 + below(r, 42301));
		form_add(out, "DurationSeconds", v.data);
	}
	kl_buf_free(&v);
}

/* A random query string in wire form: each name and value encoded. */
static void
gen_query(struct rng *r, struct kl_buf *q)
{
	struct kl_buf k, v, last;
	size_t i, n = 1 + below(r, 6);

	kl_buf_init(&k);
	kl_buf_init(&v);
	kl_buf_init(&last);
	kl_buf_adds(&last, "k");
	for (i = 0; i < n; i++) {
		kl_buf_reset(&k);
		kl_buf_reset(&v);
		if (i > 0 && chance(r, 20))	/* a repeated name */
			kl_buf_add(&k, last.data, last.len);
		else
			add_text(r, &k, below(r, 12), 25);
		add_text(r, &v, below(r, 20), 25);
		if (i > 0)
			kl_buf_addc(q, '&');
		kl_uri_encode(q, k.data ? k.data : "", k.len, 0);
		/*
		 * Never an empty piece ("&&"): kl drops those, botocore
		 * signs them as "=", npm aws4 drops them; AWS says nothing.
		 */
		if (v.len > 0 || k.len == 0 || chance(r, 50)) {
			kl_buf_addc(q, '=');
			kl_uri_encode(q, v.data ? v.data : "", v.len, 0);
		}
		kl_buf_reset(&last);
		kl_buf_add(&last, k.data ? k.data : "", k.len);
	}
	kl_buf_free(&k);
	kl_buf_free(&v);
	kl_buf_free(&last);
}

/* A path with empty, "." and ".." segments and characters to encode. */
static void
gen_path(struct rng *r, struct kl_buf *p)
{
	static const char pathodd[] = " %!$&'()*+,;=:@-._~";
	size_t i, n = 1 + below(r, 6), j;

	for (i = 0; i < n; i++) {
		kl_buf_addc(p, '/');
		switch (below(r, 8)) {
		case 0:
			break;
		case 1:
			kl_buf_addc(p, '.');
			break;
		case 2:
			kl_buf_adds(p, "..");
			break;
		default:
			for (j = 1 + below(r, 10); j > 0; j--) {
				if (chance(r, 20))
					add_chars(r, p, pathodd, 1);
				else if (chance(r, 5))
					kl_buf_adds(p, oddchars[NODD - 1 -
					    below(r, 4)]);
				else
					add_chars(r, p, alnum, 1);
			}
		}
	}
	if (chance(r, 30))
		kl_buf_addc(p, '/');
}

static void
generate(struct rng *r, struct gen *g, struct stats *st)
{
	struct kl_buf v;
	size_t i, n;
	int port = 1024 + (int)below(r, 64511), odd;

	memset(g, 0, sizeof(*g));
	kl_buf_init(&v);
	kl_hdrs_init(&g->h);
	g->kind = (int)below(r, K_NKINDS);
	st->kinds[g->kind]++;
	g->service = g->kind <= K_KINESIS ? "kinesis" : "sts";
	g->method = g->kind == K_ASSUME_GET ? "GET" : "POST";
	if (chance(r, 90))
		snprintf(g->region, sizeof(g->region), "%s",
		    regions[below(r, NREGIONS)]);
	else
		snprintf(g->region, sizeof(g->region), "xx-test-%zu",
		    below(r, 10));
	switch (below(r, 6)) {
	case 0:
	case 1:
		kl_buf_addf(&g->host, "%s.%s.amazonaws.com", g->service,
		    g->region);
		break;
	case 2:
		kl_buf_adds(&g->host, g->kind <= K_KINESIS ?
		    "kinesis.eu-west-1.amazonaws.com" : "sts.amazonaws.com");
		break;
	case 3:
		kl_buf_addf(&g->host, "127.0.0.1:%d", port);
		st->loopback++;
		break;
	case 4:
		kl_buf_addf(&g->host, "localhost:%d", port);
		st->loopback++;
		break;
	default:
		kl_buf_addf(&g->host, "[::1]:%d", port);
		st->loopback++;
		break;
	}
	g->c.akid = rand_str(r, chance(r, 50) ? "AKIA" : "ASIA",
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16);
	g->c.secret = rand_str(r, "", b64chars, 40);
	if (chance(r, 40)) {
		g->c.token = rand_str(r, "IQoJb3JpZ2luX2Vj", b64chars,
		    200 + below(r, 1000));
		st->token++;
	}
	/* 2000-01-01 to 2099-12-31, some on the edges of a day. */
	g->now = (time_t)(946684800 + below(r, 3155673600ULL));
	if (chance(r, 10))
		g->now -= g->now % 86400 + (chance(r, 50) ? 1 : 0);

	if (chance(r, 12)) {
		gen_path(r, &g->path);
		st->path++;
	} else
		kl_buf_adds(&g->path, "/");
	if (g->kind == K_ASSUME_GET) {
		gen_sts_params(r, g, &g->query);
		st->query++;
	} else if (chance(r, 15)) {
		gen_query(r, &g->query);
		st->query++;
	}

	odd = chance(r, 40);
	hdr(g, chance(r, 80) ? "Host" : chance(r, 50) ? "host" : "HOST",
	    g->host.data);
	if (g->kind <= K_KINESIS) {
		gen_kinesis_body(r, g);
		add_spaced(r, &v, "application/x-amz-json-1.1", odd, st);
		hdr(g, "Content-Type", v.data);
		kl_buf_reset(&v);
		kl_buf_addf(&v, "Kinesis_20131202.%s", g->kind == K_PUTRECORDS ?
		    "PutRecords" : kinesis_ops[below(r, NOPS)]);
		hdr(g, chance(r, 80) ? "X-Amz-Target" : "x-amz-target",
		    v.data);
	} else if (g->kind != K_ASSUME_GET) {
		gen_sts_params(r, g, &g->body);
		add_spaced(r, &v, chance(r, 80) ? "application/"
		    "x-www-form-urlencoded; charset=utf-8" :
		    "application/x-www-form-urlencoded", odd, st);
		hdr(g, "Content-Type", v.data);
	}
	if (chance(r, 30)) {
		st->extra++;
		for (i = 0, n = 1 + below(r, 3); i < n; i++) {
			kl_buf_reset(&v);
			add_text(r, &v, 1 + below(r, 8), 0);
			kl_buf_adds(&v, " ");
			add_text(r, &v, below(r, 30), 10);
			if (chance(r, 30))
				kl_buf_adds(&v, " \t  x  ");
			hdr(g, i % 2 ? "x-kl-extra" : "X-Kl-Extra", v.data);
			if (chance(r, 30)) {
				st->dup++;
				hdr(g, "X-KL-EXTRA", chance(r, 20) ? "  " :
				    "again");
			}
		}
		if (chance(r, 50))
			hdr(g, "X-Amz-Meta-Note", "  spaced   out\tvalue ");
	}
	kl_buf_free(&v);
}

/* Writes the request as one JSON line for the oracle. */
static void
to_json(const struct gen *g, struct kl_buf *j)
{
	size_t i;

	kl_buf_reset(j);
	kl_buf_adds(j, "{\"method\":");
	kl_buf_add_jstr(j, g->method, strlen(g->method));
	kl_buf_adds(j, ",\"host\":");
	kl_buf_add_jstr(j, g->host.data, g->host.len);
	kl_buf_adds(j, ",\"path\":");
	kl_buf_add_jstr(j, g->path.data, g->path.len);
	kl_buf_adds(j, ",\"query\":");
	kl_buf_add_jstr(j, g->query.data ? g->query.data : "", g->query.len);
	kl_buf_adds(j, ",\"headers\":[");
	for (i = 0; i < g->h.n; i++) {
		kl_buf_adds(j, i > 0 ? ",[" : "[");
		kl_buf_add_jstr(j, g->h.name[i], strlen(g->h.name[i]));
		kl_buf_addc(j, ',');
		kl_buf_add_jstr(j, g->h.value[i], strlen(g->h.value[i]));
		kl_buf_addc(j, ']');
	}
	kl_buf_adds(j, "],\"body_b64\":\"");
	kl_base64_enc(j, (const unsigned char *)g->body.data, g->body.len);
	kl_buf_adds(j, "\",\"region\":");
	kl_buf_add_jstr(j, g->region, strlen(g->region));
	kl_buf_adds(j, ",\"service\":");
	kl_buf_add_jstr(j, g->service, strlen(g->service));
	kl_buf_adds(j, ",\"akid\":");
	kl_buf_add_jstr(j, g->c.akid, strlen(g->c.akid));
	kl_buf_adds(j, ",\"secret\":");
	kl_buf_add_jstr(j, g->c.secret, strlen(g->c.secret));
	kl_buf_adds(j, ",\"token\":");
	if (g->c.token != NULL)
		kl_buf_add_jstr(j, g->c.token, strlen(g->c.token));
	else
		kl_buf_adds(j, "null");
	kl_buf_addf(j, ",\"time\":%lld}\n", (long long)g->now);
}

struct oracle {
	pid_t	 pid;
	FILE	*to;
	FILE	*from;
};

/* Starts the oracle; returns 0, or -1 after setting *why. */
static int
oracle_start(struct oracle *o, const char *python, const char *script)
{
	int in[2], out[2];

	o->pid = -1;
	o->to = o->from = NULL;
	if (pipe2(in, O_CLOEXEC) == -1)
		return -1;
	if (pipe2(out, O_CLOEXEC) == -1) {
		close(in[0]);
		close(in[1]);
		return -1;
	}
	if ((o->pid = fork()) == -1)
		return -1;
	if (o->pid == 0) {
		if (dup2(in[0], 0) == -1 || dup2(out[1], 1) == -1)
			_exit(127);
		signal(SIGPIPE, SIG_DFL);
		execl(python, python, script, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	o->to = fdopen(in[1], "w");
	o->from = fdopen(out[0], "r");
	return o->to != NULL && o->from != NULL ? 0 : -1;
}

static int
oracle_stop(struct oracle *o)
{
	int status = 0;

	if (o->to != NULL)
		fclose(o->to);
	if (o->from != NULL)
		fclose(o->from);
	if (o->pid > 0 && waitpid(o->pid, &status, 0) == -1)
		return -1;
	return status;
}

/* Returns a string member of the reply (owned by the caller) or NULL. */
static char *
member(jv o, const char *key)
{
	jv v;
	char *s = NULL;

	if (jv_get_kind(o) != JV_KIND_OBJECT)
		return NULL;
	v = jv_object_get(jv_copy(o), jv_string(key));
	if (jv_get_kind(v) == JV_KIND_STRING)
		s = strdup(jv_string_value(v));
	jv_free(v);
	return s;
}

struct tally {
	int	 replies, creq, sts, sig, auth, date, errors, shown;
};

static int
same(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/* Signs g with kl and compares with the oracle's reply line. */
static void
compare(int i, struct gen *g, const char *line, struct tally *t)
{
	struct kl_sigv4_trace tr;
	char *creq, *sts, *sig, *auth, *date, *err;
	const char *a;
	jv j;
	int rc, good;

	kl_buf_init(&tr.creq);
	kl_buf_init(&tr.sts);
	tr.signature[0] = '\0';
	j = jv_parse(line);
	creq = member(j, "creq");
	sts = member(j, "sts");
	sig = member(j, "signature");
	auth = member(j, "authorization");
	date = member(j, "x_amz_date");
	err = member(j, "error");
	jv_free(j);
	rc = kl_sigv4_sign(&g->h, g->method, g->path.data, g->query.data,
	    g->body.data, g->body.len, g->region, g->service, &g->c, g->now,
	    0, &tr);
	if (err != NULL || rc == -1) {
		t->errors++;
		diag("request %d: %s%s", i, err ? "oracle: " : "kl: ",
		    err ? err : strerror(errno));
	} else
		t->replies++;
	a = kl_hdrs_get(&g->h, "authorization");
	t->creq += same(tr.creq.data, creq);
	t->sts += same(tr.sts.data, sts);
	t->sig += same(tr.signature, sig);
	t->auth += same(a, auth);
	t->date += same(kl_hdrs_get(&g->h, "x-amz-date"), date);
	good = same(tr.creq.data, creq) && same(tr.sts.data, sts) &&
	    same(tr.signature, sig) && same(a, auth);
	if (!good && err == NULL && t->shown++ < SHOW_MAX) {
		diag("request %d differs", i);
		diag("kl canonical request:\n%s", tr.creq.data ? tr.creq.data :
		    "(none)");
		diag("botocore canonical request:\n%s", creq ? creq : "(none)");
		diag("kl Authorization: %s", a ? a : "(none)");
		diag("botocore Authorization: %s", auth ? auth : "(none)");
	}
	free(creq);
	free(sts);
	free(sig);
	free(auth);
	free(date);
	free(err);
	kl_buf_wipe(&tr.creq);
	kl_buf_free(&tr.sts);
}

static void
not_available(const char *why)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "python3-botocore oracle not available: "
	    "%s", why);
	if (getenv("KL_REQUIRE_ORACLE") != NULL && *getenv("KL_REQUIRE_ORACLE"))
		ok(0, "%s (KL_REQUIRE_ORACLE is set)", msg);
	else
		skip(1, msg);
}

int
main(void)
{
	const char *python, *script, *env, *srcdir;
	char path[4096], *line = NULL;
	struct oracle o;
	struct stats st;
	struct tally t;
	struct kl_buf j;
	struct rng r;
	struct gen g;
	uint64_t seed = DEFAULT_SEED;
	size_t cap = 0;
	int n = DEFAULT_N, i, status;

	(void)plan;
	(void)is_blob;
	(void)is_str;
	signal(SIGPIPE, SIG_IGN);
	if ((env = getenv("KL_SIGV4_SEED")) != NULL && *env != '\0')
		seed = strtoull(env, NULL, 0);
	if ((env = getenv("KL_SIGV4_N")) != NULL && *env != '\0')
		n = atoi(env);
	if ((python = getenv("KL_PYTHON")) == NULL || *python == '\0')
		python = "/usr/bin/python3";
	if ((script = getenv("KL_SIGV4_ORACLE")) == NULL || *script == '\0') {
		if ((srcdir = getenv("srcdir")) == NULL || *srcdir == '\0')
			srcdir = ".";
		snprintf(path, sizeof(path), "%s/tests/sigv4-oracle.py",
		    srcdir);
		script = path;
	}
	if (access(python, X_OK) == -1) {
		not_available("cannot run python");
		diag("%s: %s", python, strerror(errno));
		return done_testing();
	}
	if (access(script, R_OK) == -1) {
		not_available("cannot read the oracle script");
		diag("%s: %s", script, strerror(errno));
		return done_testing();
	}
	if (oracle_start(&o, python, script) == -1 ||
	    getline(&line, &cap, o.from) == -1 ||
	    strstr(line, "\"ready\"") == NULL) {
		not_available(line != NULL && *line != '\0' ? line :
		    "the oracle did not start");
		free(line);
		oracle_stop(&o);
		return done_testing();
	}
	ok(1, "oracle started: %.*s", (int)strcspn(line, "\n"), line);
	diag("seed %#llx, %d requests", (unsigned long long)seed, n);

	memset(&st, 0, sizeof(st));
	memset(&t, 0, sizeof(t));
	r.s = seed;
	kl_buf_init(&j);
	for (i = 0; i < n; i++) {
		generate(&r, &g, &st);
		to_json(&g, &j);
		if (j.err || fwrite(j.data, 1, j.len, o.to) != j.len ||
		    fflush(o.to) == EOF || getline(&line, &cap, o.from) == -1) {
			diag("request %d: the oracle stopped answering", i);
			gen_free(&g);
			break;
		}
		compare(i, &g, line, &t);
		gen_free(&g);
	}
	kl_buf_free(&j);
	free(line);
	status = oracle_stop(&o);
	ok(status == 0, "the oracle exited cleanly (status %d)", status);

	is_int(t.replies, n, "botocore and kl signed all %d requests", n);
	is_int(t.sig, n, "signatures agree: %d of %d", t.sig, n);
	is_int(t.creq, n, "canonical requests agree: %d of %d", t.creq, n);
	is_int(t.sts, n, "strings to sign agree: %d of %d", t.sts, n);
	is_int(t.auth, n, "Authorization values agree: %d of %d", t.auth, n);
	is_int(t.date, n, "X-Amz-Date values agree: %d of %d", t.date, n);
	diag("compared %d requests: %d PutRecords, %d other Kinesis, "
	    "%d AssumeRole POST, %d AssumeRole GET, %d GetCallerIdentity; "
	    "%d with a token, %d with a query, %d with a path to normalise, "
	    "%d with odd spacing, %d with extra headers (%d repeated), "
	    "%d on loopback", t.replies, st.kinds[K_PUTRECORDS],
	    st.kinds[K_KINESIS], st.kinds[K_ASSUME], st.kinds[K_ASSUME_GET],
	    st.kinds[K_CALLER], st.token, st.query, st.path, st.spacing,
	    st.extra, st.dup, st.loopback);
	ok(n < 100 || (st.token > 0 && st.query > 0 && st.path > 0 &&
	    st.spacing > 0 && st.dup > 0 && st.loopback > 0 &&
	    st.kinds[K_ASSUME_GET] > 0), "the requests cover every shape");
	return done_testing();
}
