/*
 * t-creds.c - tests for creds.c, credchain.c and store.c: credential
 * records, the provider chain and its order (contract §3), --credentials
 * re-reading, credential_process (success, failure, expiry, refresh; small
 * shell scripts in a scratch folder), role_arn + source_profile chains and
 * loops, refresh timing, and the kl-auth store.
 *
 * AssumeRole is a fake that records its inputs and answers with
 * credentials that expire after the requested duration on a fake clock:
 * the time handed to kl_credsrc_get() is the only clock creds.c sees.
 */
#include <config.h>

#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kl.h"
#include "tap.h"

#define ROLE(x)	"arn:aws:iam::123456789012:role/" x

static char dir[] = "/tmp/kl-t-creds.XXXXXX";
static struct kl_awsopts o;
static struct kl_cfg c;
static struct kl_err e;
static struct kl_credsrc *src;
static const struct kl_creds *cr;
static time_t T;		/* 2030-01-01T00:00:00Z, the scripts' expiry */

static const char *const vars[] = {
	"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
	"AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
	"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_CONFIG_FILE",
	"AWS_SHARED_CREDENTIALS_FILE", "AWS_ENDPOINT_URL",
	"AWS_ENDPOINT_URL_KINESIS", "AWS_ENDPOINT_URL_STS", "KL_CONFIG_DIR",
	"XDG_CONFIG_HOME", NULL,
};

/* The fake AssumeRole. */
static struct call {
	char	role[128];
	char	ext[64];
	char	sess[64];
	char	base[64];
	char	sts[128];
	long	dur;
} calls[16];
static int ncalls, fail_creds;
static time_t clock_now;

static int
fake_assume(void *ctx, const struct kl_creds *base, const struct kl_assume *a,
    struct kl_creds *out, struct kl_err *err)
{
	struct call *k = &calls[ncalls < 15 ? ncalls : 15];
	char akid[32];

	ncalls++;
	snprintf(k->role, sizeof(k->role), "%s", a->role_arn);
	snprintf(k->ext, sizeof(k->ext), "%s", a->external_id ?
	    a->external_id : "");
	snprintf(k->sess, sizeof(k->sess), "%s", a->session_name ?
	    a->session_name : "");
	snprintf(k->base, sizeof(k->base), "%s", base->akid);
	snprintf(k->sts, sizeof(k->sts), "%s", a->sts_url);
	k->dur = a->duration;
	if (fail_creds > 0) {
		fail_creds--;
		kl_err_set(err, KL_ERR_CREDS, 400, "ExpiredToken", "The "
		    "security token included in the request is expired");
		return -1;
	}
	snprintf(akid, sizeof(akid), "ASIAFAKE%04d", ncalls);
	out->akid = strdup(akid);
	out->secret = strdup("fakesecret");
	out->token = strdup("faketoken");
	out->expiration = clock_now + (a->duration ? a->duration : 3600);
	return 0;
}

static void
reset(void)
{
	size_t i;

	for (i = 0; vars[i] != NULL; i++)
		unsetenv(vars[i]);
	setenv("HOME", dir, 1);
	memset(&o, 0, sizeof(o));
	o.region = "us-east-1";
	kl_credsrc_free(src);
	src = NULL;
	kl_cfg_free(&c);
	kl_err_clear(&e);
	ncalls = fail_creds = 0;
}

static const char *
put(const char *name, const char *text, mode_t mode)
{
	static char path[8][512];
	static int k;
	char *p = path[k++ % 8];
	int fd;

	snprintf(p, 512, "%s/%s", dir, name);
	unlink(p);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd == -1 || kl_write_all(fd, text, strlen(text)) == -1)
		abort();
	fchmod(fd, mode);
	close(fd);
	return p;
}

/* A shell script; "@" in body stands for the scratch folder. */
static const char *
script(const char *name, const char *body)
{
	struct kl_buf b;
	const char *p;

	kl_buf_init(&b);
	kl_buf_adds(&b, "#!/bin/sh\n");
	for (; *body != '\0'; body++)
		if (*body == '@')
			kl_buf_adds(&b, dir);
		else
			kl_buf_addc(&b, *body);
	p = put(name, b.data, 0755);
	kl_buf_free(&b);
	return p;
}

static int
count(const char *name)
{
	char path[600], buf[32] = "0";
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "r")) != NULL) {
		if (fgets(buf, sizeof(buf), f) == NULL)
			buf[0] = '0';
		fclose(f);
	}
	return atoi(buf);
}

/* Loads the configuration and resolves the chain; 0 or -1. */
static int
mk(void)
{
	kl_credsrc_free(src);
	src = NULL;
	cr = NULL;
	kl_cfg_free(&c);
	kl_err_clear(&e);
	if (kl_cfg_load(&c, &o, &e) == -1)
		return -1;
	src = kl_credsrc_new(&o, &c, fake_assume, NULL, &e);
	return src == NULL ? -1 : 0;
}

static int
get(time_t now)
{
	clock_now = now;
	cr = NULL;
	return kl_credsrc_get(src, now, &cr, &e);
}

static const char *
akid(void)
{
	return cr != NULL ? cr->akid : e.msg;
}

static int
has(const char *hay, const char *needle)
{
	return hay != NULL && strstr(hay, needle) != NULL;
}

static const char record[] = "{\"Version\":1,\"AccessKeyId\":\"%s\","
    "\"SecretAccessKey\":\"sec\",\"SessionToken\":\"tok\","
    "\"Expiration\":\"2030-01-01T00:00:00Z\"}";

static const char *
put_record(const char *name, const char *id, mode_t mode)
{
	char text[256];

	snprintf(text, sizeof(text), record, id);
	return put(name, text, mode);
}

static const char config[] =
    "[profile r]\nrole_arn = " ROLE("R") "\nsource_profile = base\n"
    "external_id = ext-1\nduration_seconds = 1800\n"
    "role_session_name = sess-1\n"
    "[profile r2]\nrole_arn = " ROLE("R2") "\nsource_profile = r\n"
    "[profile loopa]\nrole_arn = " ROLE("A") "\nsource_profile = loopb\n"
    "[profile loopb]\nrole_arn = " ROLE("B") "\nsource_profile = loopc\n"
    "[profile loopc]\nrole_arn = " ROLE("C") "\nsource_profile = loopa\n"
    "[profile self]\nrole_arn = " ROLE("S") "\nsource_profile = self\n"
    "[profile selfnokeys]\nrole_arn = " ROLE("S") "\n"
    "source_profile = selfnokeys\n"
    "[profile envrole]\nrole_arn = " ROLE("E") "\n"
    "credential_source = Environment\n"
    "[profile ec2role]\nrole_arn = " ROLE("E") "\n"
    "credential_source = Ec2InstanceMetadata\n"
    "[profile both]\nrole_arn = " ROLE("E") "\nsource_profile = base\n"
    "credential_source = Environment\n"
    "[profile neither]\nrole_arn = " ROLE("E") "\n"
    "[profile badext]\nrole_arn = " ROLE("X") "\nsource_profile = base\n"
    "external_id = x\n"
    "[profile badarn]\nrole_arn = arn:aws:iam::1:role/x\n"
    "source_profile = base\n"
    "[profile t]\nrole_arn = " ROLE("T") "\nsource_profile = u\n"
    "[profile u]\nrole_arn = " ROLE("U") "\nsource_profile = base\n"
    "[profile proc]\ncredential_process = @/proc.sh\n"
    "[profile procrole]\nrole_arn = " ROLE("P") "\nsource_profile = proc\n"
    "[profile badquote]\ncredential_process = \"@/proc.sh\n"
    "[profile nocreds]\nregion = eu-west-1\n"
    "[profile cfgkeys]\naws_access_key_id = AKIDCONF0001\n"
    "aws_secret_access_key = cfgsecret\n"
    "credential_process = @/proc.sh\n"
    "[profile onlycfg]\naws_access_key_id = AKIDCONF0002\n"
    "aws_secret_access_key = cfgsecret\n";

static const char creds[] =
    "[base]\naws_access_key_id = AKIDBASE0001\n"
    "aws_secret_access_key = basesecret\n"
    "[self]\naws_access_key_id = AKIDSELF0001\n"
    "aws_secret_access_key = selfsecret\n"
    "[u]\naws_access_key_id = AKIDUUUU0001\naws_secret_access_key = us\n"
    "[default]\naws_access_key_id = AKIDDEFA0001\n"
    "aws_secret_access_key = defsecret\n"
    "[q]\naws_access_key_id = AKIDQQQQ0001\naws_secret_access_key = qs\n"
    "[p]\naws_access_key_id = AKIDPROF0001\naws_secret_access_key = ps\n"
    "aws_session_token = ptoken\n"
    "[half]\naws_access_key_id = AKIDHALF0001\n";

static void
use_files(void)
{
	struct kl_buf b;
	const char *s;

	kl_buf_init(&b);
	for (s = config; *s != '\0'; s++)
		if (*s == '@')
			kl_buf_adds(&b, dir);
		else
			kl_buf_addc(&b, *s);
	setenv("AWS_CONFIG_FILE", put("config", b.data, 0600), 1);
	setenv("AWS_SHARED_CREDENTIALS_FILE", put("credentials", creds, 0600),
	    1);
	kl_buf_free(&b);
	setenv("KL_CONFIG_DIR", dir, 1);
}

static void
test_record(void)
{
	static const struct {
		const char *in, *why;
	} bad[] = {
		{ "{\"Version\":2,\"AccessKeyId\":\"A\",\"SecretAccessKey\":"
		    "\"S\"}", "'Version' is not 1" },
		{ "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\"}",
		    "no 'Version'" },
		{ "{\"Version\":1,\"SecretAccessKey\":\"S\"}",
		    "no 'AccessKeyId'" },
		{ "{\"Version\":1,\"AccessKeyId\":\"A\"}",
		    "no 'SecretAccessKey'" },
		{ "{\"Version\":1,\"AccessKeyId\":7,\"SecretAccessKey\":\"S\"}",
		    "'AccessKeyId' is not a string" },
		{ "{\"Version\":1,\"AccessKeyId\":\"A\",\"SecretAccessKey\":"
		    "\"S\",\"Expiration\":\"tomorrow\"}",
		    "'Expiration' is not an RFC 3339 time" },
		{ "{\"Version\":1,\"AccessKeyId\":\"A\",\"SecretAccessKey\":"
		    "\"S\\nX\"}", "'SecretAccessKey' is empty or has blanks" },
		{ "{\"Version\":1,\"AccessKeyId\":\"A\",\"SecretAccessKey\":"
		    "\"S\\u0000X\"}", "'SecretAccessKey' is empty or has blanks" },
		{ "{\"Version\":1.0,\"AccessKeyId\":\"A\",\"SecretAccessKey\":"
		    "\"S\",\"Expiration\":7}", "'Expiration' is not a string" },
		{ "{\"Version\":\"1\"}", "'Version' is not 1" },
		{ "[1]", "not a JSON object" },
		{ "{\"Version\":1,\"AccessKeyId\":\"A\\q\"}",
		    "not valid JSON" },
	};
	struct kl_creds x, y;
	struct kl_buf b;
	char why[200];
	size_t i;
	int r;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = kl_creds_parse(bad[i].in, strlen(bad[i].in), &x, why,
		    sizeof(why));
		ok(r == -1 && has(why, bad[i].why) && !has(why, "\\q"),
		    "record %zu: %s", i + 1, why);
		kl_creds_free(&x);
	}
	snprintf(why, sizeof(why), record, "AKIDREC00001");
	ok(kl_creds_parse(why, strlen(why), &x, why, sizeof(why)) == 0 &&
	    strcmp(x.akid, "AKIDREC00001") == 0 &&
	    strcmp(x.secret, "sec") == 0 && strcmp(x.token, "tok") == 0 &&
	    x.expiration == T, "a good record");
	kl_buf_init(&b);
	ok(kl_creds_format(&b, &x) == 0, "format");
	snprintf(why, sizeof(why), record, "AKIDREC00001");
	is_blob(b.data, b.len, why, strlen(why), "format round trip");
	kl_buf_wipe(&b);
	ok(kl_creds_copy(&y, &x) == 0 && strcmp(y.secret, "sec") == 0 &&
	    y.secret != x.secret && y.expiration == T, "copy");
	kl_creds_free(&x);
	kl_creds_free(&y);
	ok(x.akid == NULL && x.secret == NULL && x.expiration == 0, "free");
}

static void
test_order(void)
{
	struct kl_auth a;

	reset();
	use_files();
	memset(&a, 0, sizeof(a));
	a.name = (char *)"keys1";
	a.method = KL_AUTH_KEYS;
	a.access_key_id = (char *)"AKIDAUTH0001";
	a.secret_access_key = (char *)"authsecret";
	ok(kl_store_save(&a, 0, &e) == 0, "store 'keys1': %s", e.msg);
	o.credentials = put_record("c.json", "AKIDFILE0001", 0600);
	o.auth = "keys1";
	o.profile = "p";
	setenv("AWS_ACCESS_KEY_ID", "AKIDENVV0001", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
	setenv("AWS_PROFILE", "q", 1);
	ok(mk() == 0 && get(T - 3600) == 0, "all five sources: %s", e.msg);
	is_str(akid(), "AKIDFILE0001", "1. --credentials wins");
	ok(strncmp(kl_credsrc_describe(src), "--credentials '", 15) == 0,
	    "describe --credentials");
	o.credentials = NULL;
	ok(mk() == 0 && get(T) == 0, "without --credentials");
	is_str(akid(), "AKIDAUTH0001", "2. --auth");
	is_str(kl_credsrc_describe(src), "authorization 'keys1' (keys)",
	    "describe --auth");
	o.auth = NULL;
	ok(mk() == 0 && get(T) == 0 && strcmp(akid(), "AKIDPROF0001") == 0 &&
	    strcmp(cr->token, "ptoken") == 0, "3. --profile, with its token");
	is_str(kl_credsrc_describe(src), "profile 'p' (static keys)",
	    "describe --profile");
	o.profile = NULL;
	ok(mk() == 0 && get(T) == 0, "environment");
	is_str(akid(), "AKIDENVV0001", "4. AWS_ACCESS_KEY_ID beats "
	    "AWS_PROFILE");
	is_str(kl_credsrc_describe(src),
	    "environment (AWS_ACCESS_KEY_ID ...0001)", "describe env");
	ok(cr->token == NULL, "no AWS_SESSION_TOKEN, no token");
	setenv("AWS_SESSION_TOKEN", "envtoken", 1);
	ok(mk() == 0 && get(T) == 0 && strcmp(cr->token, "envtoken") == 0,
	    "AWS_SESSION_TOKEN");
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("AWS_SESSION_TOKEN");
	ok(mk() == 0 && get(T) == 0, "AWS_PROFILE");
	is_str(akid(), "AKIDQQQQ0001", "5. AWS_PROFILE from the files");
	unsetenv("AWS_PROFILE");
	ok(mk() == 0 && get(T) == 0, "default");
	is_str(akid(), "AKIDDEFA0001", "5. else [default]");
	o.role_arn = ROLE("Top");
	o.external_id = "ext-top";
	o.session_name = "sess-top";
	o.duration = 900;
	ok(mk() == 0 && get(T) == 0 && ncalls == 1, "then --role-arn");
	ok(strcmp(calls[0].role, ROLE("Top")) == 0 &&
	    strcmp(calls[0].base, "AKIDDEFA0001") == 0 &&
	    strcmp(calls[0].ext, "ext-top") == 0 &&
	    strcmp(calls[0].sess, "sess-top") == 0 && calls[0].dur == 900 &&
	    strcmp(calls[0].sts, "https://sts.us-east-1.amazonaws.com") == 0,
	    "--role-arn assumed with the chain's credentials");
	is_str(akid(), "ASIAFAKE0001", "the role's credentials");
	is_str(kl_credsrc_describe(src), "role '" ROLE("Top") "' "
	    "(--role-arn) via profile 'default' (static keys)",
	    "describe --role-arn");
	kl_credsrc_free(src);
	src = kl_credsrc_new(&o, &c, NULL, NULL, &e);
	ok(src == NULL && e.kind == KL_ERR_CONFIG,
	    "no AssumeRole function: config error: %s", e.msg);
}

static void
test_errors(void)
{
	reset();
	use_files();
	setenv("AWS_ACCESS_KEY_ID", "AKIDENVV0001", 1);
	ok(mk() == -1 && e.kind == KL_ERR_CONFIG &&
	    has(e.msg, "AWS_SECRET_ACCESS_KEY is not"),
	    "half the key variables: %s", e.msg);
	unsetenv("AWS_ACCESS_KEY_ID");
	o.profile = "half";
	ok(mk() == -1 && e.kind == KL_ERR_CONFIG &&
	    has(e.msg, "no aws_secret_access_key"), "half a profile: %s",
	    e.msg);
	o.profile = "nocreds";
	ok(mk() == -1 && has(e.msg, "profile 'nocreds' has no credentials"),
	    "a profile without credentials: %s", e.msg);
	o.profile = NULL;
	setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent", 1);
	ok(mk() == -1 && e.kind == KL_ERR_CONFIG &&
	    has(e.msg, "no AWS credentials: tried --credentials, --auth, "
	    "--profile, AWS_ACCESS_KEY_ID"), "nothing at all: %s", e.msg);
	use_files();
	o.profile = "onlycfg";
	ok(mk() == 0 && get(T) == 0 && strcmp(akid(), "AKIDCONF0002") == 0,
	    "static keys in the config file");
}

static void
test_file(void)
{
	struct timespec ts[2];
	struct stat st;
	const char *path;
	int fd;

	reset();
	use_files();
	o.credentials = put_record("open.json", "AKIDFILE0001", 0644);
	ok(mk() == -1 && e.kind == KL_ERR_CONFIG && has(e.msg, o.credentials) &&
	    has(e.msg, "chmod 600 "), "a 0644 record is refused: %s", e.msg);
	o.credentials = put("bad.json", "{\"Version\":1,\"AccessKeyId\":"
	    "\"AKIDFILE0001\"}", 0600);
	ok(mk() == -1 && e.kind == KL_ERR_CONFIG &&
	    has(e.msg, "not a credential record") &&
	    has(e.msg, "no 'SecretAccessKey'"), "a bad record names the field: "
	    "%s", e.msg);
	o.credentials = "/nonexistent/c.json";
	ok(mk() == -1 && e.kind == KL_ERR_PERMANENT &&
	    has(e.msg, "No such file"), "a missing record: exit 1: %s", e.msg);
	path = o.credentials = put_record("c.json", "AKIDFILE0001", 0600);
	ok(mk() == 0 && get(T - 3600) == 0 &&
	    strcmp(akid(), "AKIDFILE0001") == 0, "a record");
	put_record("c.json.new", "AKIDFILE0002", 0600);
	{
		char from[600];

		snprintf(from, sizeof(from), "%s/c.json.new", dir);
		rename(from, path);
	}
	ok(get(T - 3600) == 0 && strcmp(akid(), "AKIDFILE0002") == 0,
	    "re-read when the file is replaced");
	/* Rewrite in place: same inode, size and times. */
	stat(path, &st);
	fd = open(path, O_WRONLY);
	{
		char text[256];

		snprintf(text, sizeof(text), record, "AKIDFILE0003");
		kl_write_all(fd, text, strlen(text));
	}
	close(fd);
	ts[0] = st.st_atim;
	ts[1] = st.st_mtim;
	utimensat(AT_FDCWD, path, ts, 0);
	ok(get(T - 301) == 0 && strcmp(akid(), "AKIDFILE0002") == 0,
	    "unchanged file, 301 s before expiry: not re-read");
	ok(get(T - 300) == 0 && strcmp(akid(), "AKIDFILE0003") == 0,
	    "300 s before expiry: re-read");
	unlink(path);
	ok(get(T - 200) == 0 && strcmp(akid(), "AKIDFILE0003") == 0,
	    "file gone, credentials still valid: kept (warning)");
	ok(get(T) == -1 && e.kind == KL_ERR_PERMANENT,
	    "file gone, credentials expired: error: %s", e.msg);
	put_record("c.json", "AKIDFILE0004", 0600);
	ok(get(T - 200) == 0 && strcmp(akid(), "AKIDFILE0004") == 0,
	    "the file is back: read");
	put_record("c.json", "AKIDFILE0005", 0644);
	ok(get(T - 190) == 0 && strcmp(akid(), "AKIDFILE0004") == 0,
	    "a re-read refused (0644) keeps valid credentials");
	kl_credsrc_expired(src);
	ok(get(T - 180) == -1 && e.kind == KL_ERR_PERMANENT &&
	    has(e.msg, "chmod 600"), "but not once they were refused: %s",
	    e.msg);
	put_record("c.json", "AKIDFILE0006", 0600);
	ok(get(T) == -1 && e.kind == KL_ERR_PERMANENT &&
	    has(e.msg, "expired at 2030-01-01T00:00:00Z"),
	    "an expired record is an error: %s", e.msg);
}

static void
test_process(void)
{
	char text[1200];
	struct stat st;
	long t;
	pid_t pid;
	int p[2];

	reset();
	use_files();
	script("proc.sh",
	    "n=$(( $(cat @/count 2>/dev/null || echo 0) + 1 ))\n"
	    "echo $n > @/count\n"
	    "[ -e @/failnow ] && exit 4\n"
	    "printf '{\"Version\":1,\"AccessKeyId\":\"AKIDPROC%04d\","
	    "\"SecretAccessKey\":\"s\",\"SessionToken\":\"t\","
	    "\"Expiration\":\"2030-01-01T00:00:00Z\"}' $n\n");
	o.profile = "proc";
	ok(mk() == 0 && count("count") == 0, "credential_process: nothing "
	    "runs at resolution");
	is_str(kl_credsrc_describe(src), "profile 'proc' "
	    "(credential_process)", "describe");
	ok(get(T - 3600) == 0 && strcmp(akid(), "AKIDPROC0001") == 0 &&
	    cr->expiration == T, "first get runs it: %s", e.msg);
	ok(get(T - 301) == 0 && count("count") == 1, "cached until 5 min "
	    "before Expiration");
	ok(get(T - 300) == 0 && count("count") == 2 &&
	    strcmp(akid(), "AKIDPROC0002") == 0, "run again at 5 min");
	kl_credsrc_expired(src);
	ok(get(T - 3000) == 0 && count("count") == 3,
	    "kl_credsrc_expired forces a run");
	put("failnow", "", 0600);
	ok(get(T - 250) == 0 && count("count") == 4 &&
	    strcmp(akid(), "AKIDPROC0003") == 0,
	    "a failed refresh keeps credentials still valid (warning)");
	ok(get(T - 245) == 0 && count("count") == 4, "no new try for 10 s");
	ok(get(T - 240) == 0 && count("count") == 5, "then one");
	ok(get(T - 60) == -1 && count("count") == 6 &&
	    e.kind == KL_ERR_PERMANENT && has(e.msg, "status 4"),
	    "a minute before expiry the failure is an error: %s", e.msg);
	unlink(put("failnow", "", 0600));
	ok(get(T - 50) == 0 && count("count") == 7 &&
	    strcmp(akid(), "AKIDPROC0007") == 0, "and it recovers");
	o.profile = "cfgkeys";
	ok(mk() == 0 && get(T - 3600) == 0 &&
	    strcmp(akid(), "AKIDPROC0008") == 0,
	    "credential_process beats static keys in the config file");
	o.profile = "badquote";
	ok(mk() == -1 && e.kind == KL_ERR_CONFIG &&
	    has(e.msg, "unterminated quote"), "bad quoting: %s", e.msg);

	/* Quoting, SIGPIPE, stdin. */
	script("my args.sh", "for a; do printf '[%s]' \"$a\"; done > @/args\n"
	    "ign=$(sed -n 's/^SigIgn:[[:space:]]*//p' /proc/$$/status)\n"
	    "[ $(( 0x$ign & 0x1000 )) -eq 0 ] || exit 9\n"
	    "if read -r line; then exit 8; fi\n"
	    "printf '{\"Version\":1,\"AccessKeyId\":\"AKIDARGS0001\","
	    "\"SecretAccessKey\":\"s\"}'\n");
	snprintf(text, sizeof(text), "[profile qp]\ncredential_process = "
	    "\"%s/my args.sh\" 'a b' \"c\\\"d\" e\\ f '' g\\\\h\n", dir);
	setenv("AWS_CONFIG_FILE", put("config2", text, 0600), 1);
	o.profile = "qp";
	if (pipe(p) == 0) {
		/* Our stdin must not reach the child. */
		(void)!write(p[1], "leak\n", 5);
		close(p[1]);
		dup2(p[0], 0);
		close(p[0]);
	}
	ok(mk() == 0 && get(T) == 0 && strcmp(akid(), "AKIDARGS0001") == 0,
	    "a quoted command line; SIGPIPE at its default; stdin empty: %s",
	    e.msg);
	ok(cr != NULL && cr->expiration == 0 && cr->token == NULL,
	    "no Expiration: long-term");
	{
		FILE *f;
		char line[200] = "";

		snprintf(text, sizeof(text), "%s/args", dir);
		if ((f = fopen(text, "r")) != NULL) {
			if (fgets(line, sizeof(line), f) == NULL)
				line[0] = '\0';
			fclose(f);
		}
		is_str(line, "[a b][c\"d][e f][][g\\h]", "the words");
	}
	ok(get(T + 86400 * 365) == 0 && strcmp(akid(), "AKIDARGS0001") == 0,
	    "long-term credentials are never fetched again");

	/* Failures. */
	script("fail.sh", "echo '{\"SecretAccessKey\":\"SECRETLEAK\"}'\n"
	    "exit 3\n");
	snprintf(text, sizeof(text), "[profile qp]\ncredential_process = "
	    "%s/fail.sh --flag\n", dir);
	setenv("AWS_CONFIG_FILE", put("config2", text, 0600), 1);
	snprintf(text, sizeof(text), "credential_process '%s/fail.sh' exited "
	    "with status 3", dir);
	ok(mk() == 0 && get(T) == -1 && e.kind == KL_ERR_PERMANENT &&
	    strcmp(e.msg, text) == 0, "non-zero exit names the command and "
	    "the status: %s", e.msg);
	ok(!has(e.msg, "SECRETLEAK"), "never the output");
	script("v2.sh", "printf '{\"Version\":2,\"AccessKeyId\":\"A\","
	    "\"SecretAccessKey\":\"SECRETLEAK\"}'\n");
	snprintf(text, sizeof(text), "[profile qp]\ncredential_process = "
	    "%s/v2.sh\n", dir);
	setenv("AWS_CONFIG_FILE", put("config2", text, 0600), 1);
	ok(mk() == 0 && get(T) == -1 && has(e.msg, "did not print a "
	    "credential record: 'Version' is not 1") &&
	    !has(e.msg, "SECRETLEAK"), "a bad record: %s", e.msg);
	script("big.sh", "head -c 70000 /dev/zero | tr '\\000' a\n");
	snprintf(text, sizeof(text), "[profile qp]\ncredential_process = "
	    "%s/big.sh\n", dir);
	setenv("AWS_CONFIG_FILE", put("config2", text, 0600), 1);
	ok(mk() == 0 && get(T) == -1 && has(e.msg, "more than 64 KiB"),
	    "output over the limit: %s", e.msg);
	script("old.sh", "printf '{\"Version\":1,\"AccessKeyId\":\"A\","
	    "\"SecretAccessKey\":\"s\",\"Expiration\":"
	    "\"2020-01-01T00:00:00Z\"}'\n");
	snprintf(text, sizeof(text), "[profile qp]\ncredential_process = "
	    "%s/old.sh\n", dir);
	setenv("AWS_CONFIG_FILE", put("config2", text, 0600), 1);
	ok(mk() == 0 && get(T) == -1 && has(e.msg, "expired at "
	    "2020-01-01T00:00:00Z"), "expired credentials: %s", e.msg);
	snprintf(text, sizeof(text), "[profile qp]\ncredential_process = "
	    "%s/nonexistent --x\n", dir);
	setenv("AWS_CONFIG_FILE", put("config2", text, 0600), 1);
	/* posix_spawnp reports ENOENT; under valgrind the child exits 127. */
	ok(mk() == 0 && get(T) == -1 && ((has(e.msg, "cannot run "
	    "credential_process") && has(e.msg, "No such file")) ||
	    has(e.msg, "status 127 (not found?)")),
	    "a command that does not exist: %s", e.msg);
	ok(stat(dir, &st) == 0, "scratch folder intact");

	/* A stop signal ends a slow credential_process. */
	script("slow.sh", "exec sleep 30\n");
	snprintf(text, sizeof(text), "[profile qp]\ncredential_process = "
	    "%s/slow.sh\n", dir);
	setenv("AWS_CONFIG_FILE", put("config2", text, 0600), 1);
	kl_sig_init();
	if ((pid = fork()) == 0) {
		usleep(300000);
		kill(getppid(), SIGTERM);
		_exit(0);
	}
	t = kl_mono_ms();
	ok(mk() == 0 && get(T) == -1 && e.kind == KL_ERR_STOPPED &&
	    kl_mono_ms() - t < 10000, "SIGTERM stops a credential_process "
	    "at once: %s", e.msg);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	kl_stop_request(0);
}

static void
test_roles(void)
{
	time_t t0 = T - 86400;

	reset();
	use_files();
	o.profile = "r";
	ok(mk() == 0 && ncalls == 0, "role_arn profile: nothing sent yet");
	is_str(kl_credsrc_describe(src), "profile 'r' (role_arn) via profile "
	    "'base' (static keys)", "describe the chain");
	ok(get(t0) == 0 && ncalls == 1 && strcmp(akid(), "ASIAFAKE0001") == 0,
	    "assumed");
	ok(strcmp(calls[0].role, ROLE("R")) == 0 &&
	    strcmp(calls[0].base, "AKIDBASE0001") == 0 &&
	    strcmp(calls[0].ext, "ext-1") == 0 &&
	    strcmp(calls[0].sess, "sess-1") == 0 && calls[0].dur == 1800,
	    "role_arn, external_id, role_session_name, duration_seconds, and "
	    "source_profile's keys reach AssumeRole");
	ok(get(t0 + 1800 - 301) == 0 && ncalls == 1, "cached at 301 s left");
	ok(get(t0 + 1800 - 300) == 0 && ncalls == 2 &&
	    strcmp(akid(), "ASIAFAKE0002") == 0, "refreshed at 300 s left");
	kl_credsrc_expired(src);
	ok(get(t0 + 1800) == 0 && ncalls == 3, "ExpiredToken: re-assumed");

	reset();
	use_files();
	o.profile = "r2";
	ok(mk() == 0 && get(t0) == 0 && ncalls == 2, "a chain of two roles");
	ok(strcmp(calls[0].role, ROLE("R")) == 0 &&
	    strcmp(calls[0].base, "AKIDBASE0001") == 0 &&
	    strcmp(calls[1].role, ROLE("R2")) == 0 &&
	    strcmp(calls[1].base, "ASIAFAKE0001") == 0 &&
	    strcmp(akid(), "ASIAFAKE0002") == 0,
	    "the inner role first, its credentials for the outer");
	ok(get(t0 + 1800 - 300) == 0 && ncalls == 2,
	    "the inner role (1800 s) is not refreshed while the outer "
	    "(3600 s) needs nothing");
	ok(get(t0 + 3600 - 300) == 0 && ncalls == 4 &&
	    strcmp(calls[2].role, ROLE("R")) == 0 &&
	    strcmp(calls[3].role, ROLE("R2")) == 0 &&
	    strcmp(calls[3].base, "ASIAFAKE0003") == 0,
	    "the outer one at 300 s left: the inner first, then the outer");

	o.profile = "loopa";
	ok(mk() == -1 && e.kind == KL_ERR_CONFIG && has(e.msg,
	    "source_profile loop: loopa -> loopb -> loopc -> loopa"),
	    "a loop: %s", e.msg);
	o.profile = "self";
	ok(mk() == 0 && get(t0) == 0 &&
	    strcmp(calls[ncalls - 1].base, "AKIDSELF0001") == 0,
	    "its own source_profile, with static keys");
	o.profile = "selfnokeys";
	ok(mk() == -1 && has(e.msg, "its own source_profile but has no "
	    "static keys"), "its own source, without keys: %s", e.msg);
	o.profile = "t";
	ncalls = 0;
	ok(mk() == 0 && get(t0) == 0 && ncalls == 1 &&
	    strcmp(calls[0].base, "AKIDUUUU0001") == 0,
	    "a source profile's static keys beat its role_arn");
	o.profile = "envrole";
	ok(mk() == -1 && has(e.msg, "Environment"),
	    "credential_source Environment without variables: %s", e.msg);
	setenv("AWS_ACCESS_KEY_ID", "AKIDENVV0001", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
	ok(mk() == 0 && get(t0) == 0 &&
	    strcmp(calls[ncalls - 1].base, "AKIDENVV0001") == 0,
	    "credential_source Environment");
	o.profile = "ec2role";
	ok(mk() == -1 && has(e.msg, "'Ec2InstanceMetadata' is not "
	    "supported"), "other credential sources: %s", e.msg);
	o.profile = "both";
	ok(mk() == -1 && has(e.msg, "exclude each other"), "both sources: %s",
	    e.msg);
	o.profile = "neither";
	ok(mk() == -1 && has(e.msg, "needs source_profile or "
	    "credential_source"), "no source: %s", e.msg);
	o.profile = "badarn";
	ok(mk() == -1 && has(e.msg, "role_arn is not"), "a bad role ARN: %s",
	    e.msg);
	o.profile = "badext";
	ok(mk() == -1 && has(e.msg, "profile 'badext': external_id wants"),
	    "a bad external_id: %s", e.msg);
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");

	/* A role over credential_process. */
	reset();
	use_files();
	unlink(put("count", "", 0600));
	o.profile = "procrole";
	ok(mk() == 0 && get(T - 7200) == 0 && ncalls == 1 &&
	    count("count") == 1 && strcmp(calls[0].base, "AKIDPROC0001") == 0,
	    "role over credential_process");
	kl_credsrc_expired(src);
	ok(get(T - 7000) == 0 && ncalls == 2 && count("count") == 1,
	    "ExpiredToken re-assumes without re-running the process");
	kl_credsrc_expired(src);
	fail_creds = 1;
	ok(get(T - 6900) == 0 && ncalls == 4 && count("count") == 2 &&
	    strcmp(calls[3].base, "AKIDPROC0002") == 0,
	    "STS says the base expired: the process runs again, one retry");
	kl_credsrc_expired(src);
	fail_creds = 2;
	ok(get(T - 6800) == -1 && e.kind == KL_ERR_CREDS &&
	    has(e.msg, "assuming role '" ROLE("P") "'"),
	    "twice: the error, with the role: %s", e.msg);
	ok(get(T - 6700) == 0, "and then it works again");
}

static void
test_auth(void)
{
	struct kl_auth a;

	reset();
	use_files();
	memset(&a, 0, sizeof(a));
	a.name = (char *)"deleg";
	a.method = KL_AUTH_DELEGATED;
	a.role_arn = (char *)ROLE("Lytics/WriteToKinesis/W");
	a.external_id = (char *)"lytics-ext";
	a.session_name = (char *)"kl-deleg";
	a.duration = 900;
	ok(kl_store_save(&a, 0, &e) == 0, "store a delegated authorization");
	a.name = (char *)"delegkeys";
	a.access_key_id = (char *)"AKIDDELK0001";
	a.secret_access_key = (char *)"dksecret";
	ok(kl_store_save(&a, 0, &e) == 0, "and one with its own keys");
	o.auth = "delegkeys";
	ok(mk() == 0 && get(T) == 0 && ncalls == 1 &&
	    strcmp(calls[0].base, "AKIDDELK0001") == 0 &&
	    strcmp(calls[0].role, ROLE("Lytics/WriteToKinesis/W")) == 0 &&
	    strcmp(calls[0].ext, "lytics-ext") == 0 &&
	    strcmp(calls[0].sess, "kl-deleg") == 0 && calls[0].dur == 900,
	    "delegated with keys: its keys assume its role");
	is_str(kl_credsrc_describe(src), "authorization 'delegkeys' "
	    "(delegated) via authorization 'delegkeys' (keys)", "describe");
	o.auth = "deleg";
	setenv("AWS_ACCESS_KEY_ID", "AKIDENVV0001", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
	ok(mk() == 0 && get(T) == 0 &&
	    strcmp(calls[ncalls - 1].base, "AKIDENVV0001") == 0,
	    "delegated without keys: the rest of the chain (environment)");
	o.profile = "p";
	ok(mk() == 0 && get(T) == 0 &&
	    strcmp(calls[ncalls - 1].base, "AKIDPROF0001") == 0,
	    "delegated without keys: --profile");
	o.auth = "missing";
	ok(mk() == -1 && e.kind == KL_ERR_CONFIG &&
	    has(e.msg, "no authorization named 'missing'"), "unknown: %s",
	    e.msg);
}

static void
test_store(void)
{
	struct kl_auth a, b;
	struct stat st;
	char path[600], **names;
	const char *p;
	int n;

	reset();
	setenv("XDG_CONFIG_HOME", "relative", 1);
	p = kl_store_dir(&e);
	snprintf(path, sizeof(path), "%s/.config/kl", dir);
	is_str(p, path, "~/.config/kl (a relative XDG_CONFIG_HOME ignored)");
	free((char *)p);
	snprintf(path, sizeof(path), "%s/xdg", dir);
	setenv("XDG_CONFIG_HOME", path, 1);
	p = kl_store_dir(&e);
	snprintf(path, sizeof(path), "%s/xdg/kl", dir);
	is_str(p, path, "$XDG_CONFIG_HOME/kl");
	free((char *)p);
	snprintf(path, sizeof(path), "%s/store/a/b", dir);
	setenv("KL_CONFIG_DIR", path, 1);
	p = kl_store_dir(&e);
	is_str(p, path, "$KL_CONFIG_DIR first");
	free((char *)p);
	ok(kl_store_list(&names, &e) == 0 && names[0] == NULL,
	    "a missing folder lists nothing");
	kl_store_list_free(names);

	memset(&a, 0, sizeof(a));
	a.name = (char *)"prod.us-1";
	a.label = (char *)"Production \"US\"";
	a.description = (char *)"line 1\nline 2";
	a.method = KL_AUTH_DELEGATED;
	a.region = (char *)"us-east-1";
	a.access_key_id = (char *)"AKIDSTOR0001";
	a.secret_access_key =
	    (char *)"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
	a.role_arn = (char *)ROLE("R");
	a.external_id = (char *)"ext-1";
	a.session_name = (char *)"sess-1";
	a.duration = 1800;
	a.created = T;
	ok(kl_store_save(&a, 0, &e) == 0, "save: %s", e.msg);
	ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0700,
	    "the folder is created 0700");
	snprintf(path, sizeof(path), "%s/store/a/b/prod.us-1.json", dir);
	ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600,
	    "NAME.json, 0600");
	ok(kl_store_load("prod.us-1", &b, &e) == 0, "load: %s", e.msg);
	ok(strcmp(b.name, a.name) == 0 && strcmp(b.label, a.label) == 0 &&
	    strcmp(b.description, a.description) == 0 &&
	    b.method == a.method && strcmp(b.region, a.region) == 0 &&
	    strcmp(b.access_key_id, a.access_key_id) == 0 &&
	    strcmp(b.secret_access_key, a.secret_access_key) == 0 &&
	    strcmp(b.role_arn, a.role_arn) == 0 &&
	    strcmp(b.external_id, a.external_id) == 0 &&
	    strcmp(b.session_name, a.session_name) == 0 &&
	    b.duration == a.duration && b.created == a.created,
	    "round trip: every field");
	kl_auth_free(&b);
	ok(b.secret_access_key == NULL && b.name == NULL, "kl_auth_free");
	ok(kl_store_save(&a, 0, &e) == -1 && e.kind == KL_ERR_CONFIG &&
	    has(e.msg, "exists already"), "no silent overwrite");
	a.region = (char *)"eu-west-1";
	ok(kl_store_save(&a, KL_STORE_REPLACE, &e) == 0 &&
	    kl_store_load("prod.us-1", &b, &e) == 0 &&
	    strcmp(b.region, "eu-west-1") == 0, "KL_STORE_REPLACE");
	kl_auth_free(&b);
	a.name = (char *)"a";
	a.method = KL_AUTH_KEYS;
	a.role_arn = NULL;
	a.created = 0;
	ok(kl_store_save(&a, 0, &e) == 0 &&
	    kl_store_load("a", &b, &e) == 0 && b.created > T - 86400 * 3650,
	    "created defaults to now");
	kl_auth_free(&b);
	snprintf(path, sizeof(path), "%s/store/a/b/notes.txt", dir);
	close(open(path, O_WRONLY | O_CREAT, 0600));
	snprintf(path, sizeof(path), "%s/store/a/b/bad name.json", dir);
	close(open(path, O_WRONLY | O_CREAT, 0600));
	snprintf(path, sizeof(path), "%s/store/a/b/.json", dir);
	close(open(path, O_WRONLY | O_CREAT, 0600));
	a.name = (char *)"B";
	ok(kl_store_save(&a, 0, &e) == 0, "save B");
	n = kl_store_list(&names, &e);
	ok(n == 3 && strcmp(names[0], "B") == 0 &&
	    strcmp(names[1], "a") == 0 && strcmp(names[2], "prod.us-1") == 0 &&
	    names[3] == NULL, "list: sorted names, other files skipped");
	kl_store_list_free(names);
	ok(kl_store_remove("B", &e) == 0 && kl_store_list(&names, &e) == 2,
	    "remove");
	kl_store_list_free(names);
	ok(kl_store_remove("B", &e) == -1 && e.kind == KL_ERR_CONFIG &&
	    has(e.msg, "no authorization named 'B'"), "remove again: %s",
	    e.msg);

	snprintf(path, sizeof(path), "%s/store/a/b/prod.us-1.json", dir);
	chmod(path, 0644);
	ok(kl_store_load("prod.us-1", &b, &e) == -1 &&
	    e.kind == KL_ERR_PERMANENT && e.sys == EPERM && has(e.msg, path) &&
	    has(e.msg, "chmod 600 ") && !has(e.msg, "EXAMPLEKEY"),
	    "a 0644 record is refused: %s", e.msg);
	kl_auth_free(&b);
	p = put("store/a/b/m.json", "{\"method\":\"other\"}", 0600);
	ok(kl_store_load("m", &b, &e) == -1 && e.kind == KL_ERR_CONFIG &&
	    has(e.msg, "method must be"), "bad method: %s", e.msg);
	kl_auth_free(&b);
	put("store/a/b/m.json", "{\"method\":\"keys\",\"access_key_id\":"
	    "\"AKID\"}", 0600);
	ok(kl_store_load("m", &b, &e) == -1 &&
	    has(e.msg, "go together"), "keys without secret: %s", e.msg);
	kl_auth_free(&b);
	put("store/a/b/m.json", "{\"method\":\"delegated\",\"role_arn\":"
	    "\"" ROLE("R") "\",\"duration\":\"1h\"}", 0600);
	ok(kl_store_load("m", &b, &e) == -1 &&
	    has(e.msg, "'duration' is not"), "bad duration: %s", e.msg);
	kl_auth_free(&b);
	put("store/a/b/m.json", "{\"method\":", 0600);
	ok(kl_store_load("m", &b, &e) == -1 &&
	    has(e.msg, "not valid JSON"), "not JSON: %s", e.msg);
	kl_auth_free(&b);
	put("store/a/b/m.json", "{\"method\":\"delegated\",\"role_arn\":"
	    "\"" ROLE("R") "\",\"name\":\"other\",\"future\":[1]}", 0600);
	ok(kl_store_load("m", &b, &e) == 0 && strcmp(b.name, "m") == 0 &&
	    b.access_key_id == NULL, "the file name is the name; unknown "
	    "members ignored");
	kl_auth_free(&b);
	(void)p;

	ok(!kl_store_name_ok("") && !kl_store_name_ok(".") &&
	    !kl_store_name_ok("..") && !kl_store_name_ok("a/b") &&
	    !kl_store_name_ok("a b") && !kl_store_name_ok("é"),
	    "bad names");
	memset(path, 'x', 65);
	path[65] = '\0';
	ok(!kl_store_name_ok(path) && (path[64] = '\0', kl_store_name_ok(path)),
	    "64 characters at most");
	ok(kl_store_load("../x", &b, &e) == -1 && e.kind == KL_ERR_CONFIG &&
	    has(e.msg, "bad authorization name"), "load a bad name: %s",
	    e.msg);
	kl_auth_free(&b);
	a.name = (char *)"..";
	ok(kl_store_save(&a, 0, &e) == -1 && e.kind == KL_ERR_CONFIG,
	    "save a bad name");
	ok(kl_store_remove("a/../../x", &e) == -1 && e.kind == KL_ERR_CONFIG,
	    "remove a bad name");
}

int
main(void)
{
	char cmd[600];

	(void)plan;		/* tap.h helpers this file does not use */
	(void)is_int;
	(void)skip;
	signal(SIGPIPE, SIG_IGN);	/* as every kl command does */
	if (mkdtemp(dir) == NULL ||
	    kl_time_parse("2030-01-01T00:00:00Z", &T, NULL) == -1)
		return 99;
	memset(&c, 0, sizeof(c));
	test_record();
	test_order();
	test_errors();
	test_file();
	test_process();
	test_roles();
	test_auth();
	test_store();
	reset();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		diag("could not remove %s", dir);
	return done_testing();
}
