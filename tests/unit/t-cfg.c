/*
 * t-cfg.c - tests for cfg.c and profile.c: the shared option parser, region
 * and endpoint resolution in the order of contract §3, the AWS profile files
 * (sections, comments, nesting, FILE:LINE errors, unreadable files), and the
 * Lytics endpoint and key.
 *
 * Every case sets its own environment: the AWS_* and LYTICS_* variables
 * are unset first and HOME points at a scratch folder, so nothing from
 * the machine running the tests leaks in.
 */
#include <config.h>

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kl.h"
#include "tap.h"

static char dir[] = "/tmp/kl-t-cfg.XXXXXX";
static struct kl_awsopts o;
static struct kl_cfg c;
static struct kl_err e;

static const char *const vars[] = {
	"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
	"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION",
	"AWS_DEFAULT_REGION", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
	"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_KINESIS", "AWS_ENDPOINT_URL_STS",
	"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_CA_BUNDLE",
	"LYTICS_API_KEY", "LYTICS_API_URL", "KL_CONFIG_DIR",
	"XDG_CONFIG_HOME", NULL,
};

/* Clears the environment and the options; frees the last result. */
static void
reset(void)
{
	size_t i;

	for (i = 0; vars[i] != NULL; i++)
		unsetenv(vars[i]);
	setenv("HOME", dir, 1);
	memset(&o, 0, sizeof(o));
	kl_cfg_free(&c);
	kl_err_clear(&e);
}

/* Writes a file in the scratch folder; returns its path (static). */
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

static void
use_files(const char *config, const char *creds)
{
	setenv("AWS_CONFIG_FILE", put("config", config, 0600), 1);
	setenv("AWS_SHARED_CREDENTIALS_FILE", put("credentials", creds, 0600),
	    1);
}

static int
load(void)
{
	kl_cfg_free(&c);
	kl_err_clear(&e);
	return kl_cfg_load(&c, &o, &e);
}

static int
has(const char *hay, const char *needle)
{
	return hay != NULL && strstr(hay, needle) != NULL;
}

static void
test_opts(void)
{
	struct option table[] = { KL_AWS_LONGOPTS, KL_ASSUME_LONGOPTS,
	    KL_LYTICS_LONGOPTS, { NULL, 0, NULL, 0 } };
	struct kl_lyticsopts lo;
	int fd, saved;

	reset();
	is_int(sizeof(table) / sizeof(table[0]), 12, "option macros: 11 "
	    "entries");
	ok(table[5].val == 'r' && strcmp(table[5].name, "region") == 0,
	    "--region maps to -r");
	/* Bad values are logged: keep them off the TAP stream's neighbour. */
	fflush(stderr);
	saved = dup(2);
	fd = open("/dev/null", O_WRONLY);
	dup2(fd, 2);
	close(fd);
	is_int(kl_awsopt(&o, 'r', "eu-west-1"), 1, "-r consumed");
	is_str(o.region, "eu-west-1", "-r stored");
	is_int(kl_awsopt(&o, 'r', "EU-WEST-1"), -1, "-r upper case refused");
	is_int(kl_awsopt(&o, 'x', "y"), 0, "other options not consumed");
	is_int(kl_awsopt(&o, KL_OPT_PROFILE, "prod"), 1, "--profile");
	is_int(kl_awsopt(&o, KL_OPT_AUTH, "../etc"), -1, "--auth bad name");
	is_int(kl_awsopt(&o, KL_OPT_AUTH, "acme.prod"), 1, "--auth");
	is_int(kl_awsopt(&o, KL_OPT_CREDENTIALS, "c.json"), 1, "--credentials");
	is_int(kl_awsopt(&o, KL_OPT_ROLE_ARN,
	    "arn:aws:iam::111111111:role/Lytics/WriteToKinesis/X"), -1,
	    "--role-arn with a 9-digit account refused");
	is_int(kl_awsopt(&o, KL_OPT_ROLE_ARN,
	    "arn:aws:iam::123456789012:role/Lytics/WriteToKinesis/X"), 1,
	    "--role-arn with a path");
	is_int(kl_awsopt(&o, KL_OPT_EXTERNAL_ID, "x"), -1,
	    "--external-id too short");
	is_int(kl_awsopt(&o, KL_OPT_EXTERNAL_ID, "acme-ext:1/2"), 1,
	    "--external-id");
	is_int(kl_awsopt(&o, KL_OPT_ENDPOINT_URL, "localhost:4567"), -1,
	    "--endpoint-url without scheme");
	is_int(kl_awsopt(&o, KL_OPT_ENDPOINT_URL, "ftp://h"), -1,
	    "--endpoint-url ftp");
	is_int(kl_awsopt(&o, KL_OPT_ENDPOINT_URL, "http://127.0.0.1:4567/"),
	    1, "--endpoint-url http with port");
	is_int(kl_awsopt(&o, KL_OPT_SESSION_NAME, "a b"), -1,
	    "--session-name with a space");
	is_int(kl_awsopt(&o, KL_OPT_SESSION_NAME, "kl@host"), 1,
	    "--session-name");
	is_int(kl_awsopt(&o, KL_OPT_DURATION, "899"), -1, "--duration 899");
	is_int(kl_awsopt(&o, KL_OPT_DURATION, "43201"), -1,
	    "--duration 43201");
	ok(kl_awsopt(&o, KL_OPT_DURATION, "3600") == 1 && o.duration == 3600,
	    "--duration 3600");
	memset(&lo, 0, sizeof(lo));
	is_int(kl_lyticsopt(&lo, KL_OPT_LYTICS_URL, "api.lytics.io"), -1,
	    "--lytics-url without scheme");
	is_int(kl_lyticsopt(&lo, KL_OPT_LYTICS_URL, "http://127.0.0.1:9/x/"),
	    1, "--lytics-url with a path");
	is_int(kl_lyticsopt(&lo, KL_OPT_LYTICS_KEY_FILE, "k"), 1,
	    "--lytics-key-file");
	is_int(kl_lyticsopt(&lo, KL_OPT_PROFILE, "p"), 0,
	    "AWS options are not Lytics options");
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
}

static void
test_validators(void)
{
	static const struct {
		const char *in, *out;
		int path;
	} urls[] = {
		{ "HTTPS://Kinesis.example:443/", "https://Kinesis.example:443",
		    0 },
		{ "http://[::1]:8080", "http://[::1]:8080", 0 },
		{ "http://h/a/b//", "http://h/a/b", 1 },
		{ "http://h/a", NULL, 0 },
		{ "http://h:0", NULL, 0 },
		{ "http://h:65536", NULL, 0 },
		{ "http://user@h", NULL, 0 },
		{ "http://h?x=1", NULL, 1 },
		{ "http://h/a b", NULL, 1 },
		{ "http://", NULL, 0 },
		{ "https://h:", NULL, 0 },
	};
	const char *why;
	char *out;
	size_t i;
	int r;

	for (i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		r = kl_url_norm(urls[i].in, urls[i].path, &out, &why);
		if (urls[i].out != NULL)
			is_str(r == 0 ? out : why, urls[i].out, "url '%s'",
			    urls[i].in);
		else
			ok(r == -1 && out == NULL, "url '%s' refused: %s",
			    urls[i].in, r == -1 ? why : "");
		free(out);
	}
	ok(kl_region_ok("us-gov-west-1") && kl_region_ok("cn-north-1") &&
	    !kl_region_ok("") && !kl_region_ok("us_east_1") &&
	    !kl_region_ok("us-east-1 "), "region names");
	ok(!kl_role_arn_ok("arn:aws:iam::123456789012:role/") &&
	    !kl_role_arn_ok("arn:aws:iam::123456789012:user/x") &&
	    kl_role_arn_ok("arn:aws-cn:iam::123456789012:role/x"),
	    "role ARNs");
}

static void
test_region(void)
{
	static const char config[] =
	    "[default]\nregion = eu-west-1\n"
	    "[profile p]\nregion = ap-south-1\n"
	    "[profile noregion]\noutput = json\n"
	    "[profile bad]\nregion = us-east-1 # comment\n";

	reset();
	use_files(config, "[fromcreds]\nregion = sa-east-1\n");
	ok(load() == 0, "load with the default profile");
	is_str(c.region, "eu-west-1", "region from [default]");
	is_str(c.region_from, "profile 'default'", "region_from");
	is_str(c.profile, "default", "profile default");
	setenv("AWS_PROFILE", "p", 1);
	ok(load() == 0 && strcmp(c.region, "ap-south-1") == 0,
	    "AWS_PROFILE picks [profile p]");
	setenv("AWS_DEFAULT_REGION", "us-west-2", 1);
	ok(load() == 0 && strcmp(c.region, "us-west-2") == 0 &&
	    strcmp(c.region_from, "AWS_DEFAULT_REGION") == 0,
	    "AWS_DEFAULT_REGION beats the profile");
	setenv("AWS_REGION", "us-east-2", 1);
	ok(load() == 0 && strcmp(c.region, "us-east-2") == 0 &&
	    strcmp(c.region_from, "AWS_REGION") == 0,
	    "AWS_REGION beats AWS_DEFAULT_REGION");
	o.region = "ca-central-1";
	ok(load() == 0 && strcmp(c.region, "ca-central-1") == 0 &&
	    strcmp(c.region_from, "--region") == 0, "--region beats all");
	o.region = NULL;
	setenv("AWS_REGION", "Not A Region", 1);
	ok(load() == -1 && e.kind == KL_ERR_CONFIG &&
	    has(e.msg, "AWS_REGION is not a region name"),
	    "a bad AWS_REGION is named: %s", e.msg);
	unsetenv("AWS_REGION");
	unsetenv("AWS_DEFAULT_REGION");
	o.profile = "noregion";
	ok(load() == -1 && e.kind == KL_ERR_CONFIG, "no region: error");
	ok(has(e.msg, "--region") && has(e.msg, "AWS_REGION") &&
	    has(e.msg, "AWS_DEFAULT_REGION") && has(e.msg, "'region' in "
	    "profile 'noregion'"), "the message names all four: %s", e.msg);
	o.profile = "fromcreds";
	ok(load() == 0 && strcmp(c.region, "sa-east-1") == 0,
	    "a region in the credentials file counts");
	o.profile = "bad";
	ok(load() == -1 && has(e.msg, "profile 'bad': region is not"),
	    "no inline comments, as in the CLI: %s", e.msg);
}

static void
test_auth_region(void)
{
	struct kl_auth a;

	reset();
	use_files("[default]\nregion = eu-west-1\n", "");
	setenv("KL_CONFIG_DIR", dir, 1);
	memset(&a, 0, sizeof(a));
	a.name = (char *)"acme";
	a.method = KL_AUTH_DELEGATED;
	a.role_arn = (char *)"arn:aws:iam::123456789012:role/R";
	a.region = (char *)"eu-central-1";
	ok(kl_store_save(&a, 0, &e) == 0, "store an authorization");
	o.auth = "acme";
	ok(load() == 0 && strcmp(c.region, "eu-central-1") == 0 &&
	    strcmp(c.region_from, "authorization 'acme'") == 0,
	    "--auth: the authorization's region beats the profile's");
	setenv("AWS_DEFAULT_REGION", "us-west-1", 1);
	ok(load() == 0 && strcmp(c.region, "us-west-1") == 0,
	    "--auth: the environment beats the authorization");
	unsetenv("AWS_DEFAULT_REGION");
	o.auth = "nosuch";
	ok(load() == -1 && e.kind == KL_ERR_CONFIG &&
	    has(e.msg, "no authorization named 'nosuch'"),
	    "--auth unknown: %s", e.msg);
}

static void
test_endpoints(void)
{
	reset();
	use_files("[default]\nregion = us-east-1\n"
	    "[profile ep]\nregion = us-east-1\n"
	    "endpoint_url = http://127.0.0.1:7000\n", "");
	ok(load() == 0, "defaults load");
	is_str(c.kinesis_url, "https://kinesis.us-east-1.amazonaws.com",
	    "default Kinesis endpoint");
	is_str(c.sts_url, "https://sts.us-east-1.amazonaws.com",
	    "default STS endpoint");
	o.region = "cn-north-1";
	ok(load() == 0 && strcmp(c.kinesis_url,
	    "https://kinesis.cn-north-1.amazonaws.com.cn") == 0 &&
	    strcmp(c.sts_url, "https://sts.cn-north-1.amazonaws.com.cn") == 0,
	    "cn- regions use amazonaws.com.cn");
	o.region = NULL;
	setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1111/", 1);
	ok(load() == 0 && strcmp(c.kinesis_url, "http://127.0.0.1:1111") ==
	    0 && strcmp(c.sts_url, "http://127.0.0.1:1111") == 0 &&
	    strcmp(c.kinesis_from, "AWS_ENDPOINT_URL") == 0,
	    "AWS_ENDPOINT_URL for both, trailing slash dropped");
	setenv("AWS_ENDPOINT_URL_KINESIS", "http://127.0.0.1:2222", 1);
	ok(load() == 0 && strcmp(c.kinesis_url, "http://127.0.0.1:2222") ==
	    0 && strcmp(c.sts_url, "http://127.0.0.1:1111") == 0,
	    "AWS_ENDPOINT_URL_KINESIS beats AWS_ENDPOINT_URL");
	setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:3333", 1);
	ok(load() == 0 && strcmp(c.sts_url, "http://127.0.0.1:3333") == 0 &&
	    strcmp(c.sts_from, "AWS_ENDPOINT_URL_STS") == 0,
	    "AWS_ENDPOINT_URL_STS beats AWS_ENDPOINT_URL");
	o.endpoint_url = "http://127.0.0.1:4444";
	ok(load() == 0 && strcmp(c.kinesis_url, "http://127.0.0.1:4444") ==
	    0 && strcmp(c.sts_url, "http://127.0.0.1:3333") == 0 &&
	    strcmp(c.kinesis_from, "--endpoint-url") == 0,
	    "--endpoint-url is Kinesis's; STS keeps its own");
	o.endpoint_sts = 1;
	ok(load() == 0 && strcmp(c.sts_url, "http://127.0.0.1:4444") == 0 &&
	    strcmp(c.kinesis_url, "http://127.0.0.1:2222") == 0,
	    "endpoint_sts: --endpoint-url is STS's (kl-assume-role)");
	o.endpoint_sts = 0;
	o.endpoint_url = NULL;
	setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true", 1);
	ok(load() == 0 && has(c.kinesis_url, "amazonaws.com") &&
	    has(c.sts_url, "amazonaws.com"),
	    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS skips the variables");
	unsetenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
	unsetenv("AWS_ENDPOINT_URL");
	unsetenv("AWS_ENDPOINT_URL_KINESIS");
	unsetenv("AWS_ENDPOINT_URL_STS");
	o.profile = "ep";
	ok(load() == 0 && strcmp(c.kinesis_url, "http://127.0.0.1:7000") ==
	    0 && strcmp(c.kinesis_from, "profile 'ep' endpoint_url") == 0,
	    "the profile's endpoint_url comes last");
	o.profile = NULL;
	setenv("AWS_ENDPOINT_URL_KINESIS", "localhost:4567", 1);
	ok(load() == -1 && e.kind == KL_ERR_CONFIG &&
	    has(e.msg, "AWS_ENDPOINT_URL_KINESIS wants an http"),
	    "a bad endpoint variable is named: %s", e.msg);
	setenv("AWS_ENDPOINT_URL_KINESIS", "http://h/path", 1);
	ok(load() == -1 && has(e.msg, "has a path"), "no path: %s", e.msg);
	unsetenv("AWS_ENDPOINT_URL_KINESIS");
	setenv("AWS_CA_BUNDLE", "/etc/ca.pem", 1);
	ok(load() == 0 && strcmp(c.ca_bundle, "/etc/ca.pem") == 0,
	    "AWS_CA_BUNDLE");
}

static void
test_profiles(void)
{
	char path[600];

	reset();
	o.region = "us-east-1";
	use_files("[x]\nregion = eu-west-1\n[profile y]\noutput = json\n"
	    "[profile \"with space\"]\nregion = eu-west-3\n"
	    "[default]\nregion = eu-north-1\n"
	    "[profile default]\nregion = eu-south-1\n",
	    "[z]\naws_access_key_id = AKIDZ\n[profile w]\nregion = x\n");
	ok(load() == 0 && strcmp(c.profile, "default") == 0,
	    "no profile named: default");
	o.region = NULL;
	ok(load() == 0 && strcmp(c.region, "eu-south-1") == 0,
	    "[profile default] beats [default]");
	o.region = "us-east-1";
	setenv("AWS_PROFILE", "x", 1);
	ok(load() == -1 && e.kind == KL_ERR_CONFIG &&
	    has(e.msg, "profile 'x' not found"),
	    "[x] in the config file is not a profile: %s", e.msg);
	ok(has(e.msg, "[profile x]"), "the message says how to fix it");
	setenv("AWS_PROFILE", "y", 1);
	ok(load() == 0 && strcmp(c.profile, "y") == 0, "[profile y] is");
	setenv("AWS_PROFILE", "z", 1);
	ok(load() == 0, "[z] in the credentials file is a profile");
	setenv("AWS_PROFILE", "profile w", 1);
	ok(load() == 0, "[profile w] in the credentials file is 'profile w'");
	unsetenv("AWS_PROFILE");
	o.profile = "with space";
	o.region = NULL;
	ok(load() == 0 && strcmp(c.region, "eu-west-3") == 0,
	    "[profile \"with space\"]");
	o.profile = "nope";
	ok(load() == -1 && has(e.msg, "profile 'nope' not found") &&
	    has(e.msg, "/config'") && has(e.msg, "/credentials'"),
	    "--profile unknown names the profile and both files: %s", e.msg);
	o.profile = NULL;
	o.region = "us-east-1";
	setenv("AWS_CONFIG_FILE", "/nonexistent/config", 1);
	setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials", 1);
	ok(load() == 0 && !c.config_ini.found && !c.creds_ini.found,
	    "missing files are no error");
	setenv("AWS_CONFIG_FILE", "/dev/null", 1);
	ok(load() == 0 && c.config_ini.found && c.config_ini.n == 0,
	    "AWS_CONFIG_FILE=/dev/null: empty");
	unsetenv("AWS_CONFIG_FILE");
	unsetenv("AWS_SHARED_CREDENTIALS_FILE");
	snprintf(path, sizeof(path), "%s/.aws", dir);
	mkdir(path, 0700);
	put(".aws/config", "[default]\nregion = me-south-1\n", 0600);
	o.region = NULL;
	ok(load() == 0 && strcmp(c.region, "me-south-1") == 0,
	    "~/.aws/config by default");
}

static void
test_malformed(void)
{
	static const struct {
		const char *text;
		const char *msg;
	} cases[] = {
		{ "region = x\n", ":1: line outside a section" },
		{ "# c\n\n[default\n", ":3: section header without ']'" },
		{ "[default]\nregion\n", ":2: line without '='" },
		{ "[default] x\n", ":1: text after ']'" },
		{ "[ ]\n", ":1: empty section name" },
		{ "[default]\n= v\n", ":2: no key before '='" },
		{ "[default]\na = 1\nA = 2\n",
		    ":3: duplicate key 'a' (first at line 2)" },
		{ "[default]\n[p]\n[default]\n",
		    ":3: duplicate section [default] (first at line 1)" },
		{ "[default]\r\nregion = a\r\nnokey\r\n",
		    ":3: line without '='" },
	};
	char want[600];
	const char *path;
	size_t i;

	reset();
	o.region = "us-east-1";
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		use_files(cases[i].text, "");
		path = getenv("AWS_CONFIG_FILE");
		snprintf(want, sizeof(want), "%s%s", path, cases[i].msg);
		ok(load() == -1 && e.kind == KL_ERR_CONFIG &&
		    strncmp(e.msg, want, strlen(want)) == 0,
		    "malformed %zu: %s", i + 1, e.msg);
	}
	use_files("[default]\n", "[p]\naws_secret_access_key\n");
	ok(load() == -1 && has(e.msg, "credentials:2: line without '='") &&
	    !has(e.msg, "aws_secret"),
	    "the credentials file too; the line is not quoted: %s", e.msg);
	setenv("AWS_CONFIG_FILE", dir, 1);
	ok(load() == -1 && e.kind == KL_ERR_PERMANENT && has(e.msg, dir) &&
	    has(e.msg, "Is a directory"),
	    "unreadable config: path and reason: %s", e.msg);
	if (geteuid() != 0) {
		setenv("AWS_CONFIG_FILE", put("config", "[default]\n", 0), 1);
		ok(load() == -1 && e.kind == KL_ERR_PERMANENT &&
		    has(e.msg, "Permission denied"), "mode 000: %s", e.msg);
	} else
		skip(1, "root reads a mode 000 file");
}

static void
test_ini(void)
{
	static const char text[] =
	    "# comment\n"
	    "; another\n"
	    "\n"
	    "[default]   ; trailing comment\n"
	    "   Region=eu-west-1   \n"
	    "output:json\n"
	    "s3 =\n"
	    "  max_concurrent_requests = 10\n"
	    "  region = nested-not-top\n"
	    "   # indented comment\n"
	    "cli_pager =\n"
	    "multi = a\n"
	    "  b\n"
	    "hash = v # not a comment\n"
	    "\n"
	    "[profile  p]\n"
	    "key = \n";
	struct kl_ini ini;
	struct kl_err err;

	memset(&ini, 0, sizeof(ini));
	kl_err_clear(&err);
	ok(kl_ini_parse(&ini, KL_INI_CONFIG, "mem", text, sizeof(text) - 1,
	    &err) == 0, "parse a file with every feature: %s", err.msg);
	is_str(kl_ini_get(&ini, "default", "region"), "eu-west-1",
	    "keys lower-cased, blanks around '=' dropped");
	is_str(kl_ini_get(&ini, "default", "output"), "json",
	    "':' separates too");
	is_str(kl_ini_get(&ini, "default", "s3"), "",
	    "a nested sub-section is skipped");
	is_str(kl_ini_get(&ini, "default", "max_concurrent_requests"), NULL,
	    "nested keys are not the profile's");
	is_str(kl_ini_get(&ini, "default", "cli_pager"), "",
	    "the key after a nested section is read");
	is_str(kl_ini_get(&ini, "default", "multi"), "a\nb",
	    "continuation lines");
	is_str(kl_ini_get(&ini, "default", "hash"), "v # not a comment",
	    "no inline comments");
	is_str(kl_ini_get(&ini, "p", "key"), "", "[profile  p]: empty value");
	kl_ini_free(&ini);
	ok(kl_ini_parse(&ini, KL_INI_CREDS, "mem", "[a]\nk=\0v\n", 8,
	    &err) == -1 && has(err.msg, "mem:2: NUL byte"), "NUL byte: %s",
	    err.msg);
	kl_ini_free(&ini);
	ok(kl_ini_parse(&ini, KL_INI_CREDS, "mem", "", 0, &err) == 0 &&
	    ini.n == 0, "empty file");
	kl_ini_free(&ini);
}

static void
test_lytics(void)
{
	struct kl_lyticsopts lo;
	struct kl_lytics l;
	const char *path;

	reset();
	memset(&lo, 0, sizeof(lo));
	ok(kl_lytics_load(&l, &lo, &e) == -1 && e.kind == KL_ERR_CONFIG &&
	    has(e.msg, "--lytics-key-file") && has(e.msg, "LYTICS_API_KEY"),
	    "no key: %s", e.msg);
	kl_lytics_free(&l);
	setenv("LYTICS_API_KEY", "envkey123", 1);
	ok(kl_lytics_load(&l, &lo, &e) == 0, "key from the environment");
	is_str(l.url, "https://api.lytics.io", "default URL");
	is_str(l.key, "envkey123", "LYTICS_API_KEY");
	is_str(l.key_from, "LYTICS_API_KEY", "key_from");
	kl_lytics_free(&l);
	setenv("LYTICS_API_URL", "http://127.0.0.1:5000/", 1);
	ok(kl_lytics_load(&l, &lo, &e) == 0 &&
	    strcmp(l.url, "http://127.0.0.1:5000") == 0 &&
	    strcmp(l.url_from, "LYTICS_API_URL") == 0, "LYTICS_API_URL");
	kl_lytics_free(&l);
	lo.url = "http://127.0.0.1:6000";
	ok(kl_lytics_load(&l, &lo, &e) == 0 &&
	    strcmp(l.url, "http://127.0.0.1:6000") == 0,
	    "--lytics-url beats LYTICS_API_URL");
	kl_lytics_free(&l);
	setenv("LYTICS_API_URL", "ftp://x", 1);
	lo.url = NULL;
	ok(kl_lytics_load(&l, &lo, &e) == -1 && e.kind == KL_ERR_CONFIG &&
	    has(e.msg, "LYTICS_API_URL"), "bad LYTICS_API_URL: %s", e.msg);
	kl_lytics_free(&l);
	unsetenv("LYTICS_API_URL");
	lo.key_file = put("lytics.key", "  filekey456\n", 0600);
	ok(kl_lytics_load(&l, &lo, &e) == 0 && strcmp(l.key, "filekey456") ==
	    0 && strcmp(l.key_from, "--lytics-key-file") == 0,
	    "--lytics-key-file beats LYTICS_API_KEY, blanks dropped");
	kl_lytics_free(&l);
	ok(l.key == NULL && l.url == NULL, "freed");
	path = lo.key_file = put("lytics-open.key", "filekey456\n", 0644);
	ok(kl_lytics_load(&l, &lo, &e) == -1 && e.kind == KL_ERR_CONFIG &&
	    has(e.msg, path) && has(e.msg, "chmod 600 ") &&
	    !has(e.msg, "filekey456"),
	    "a key file others can read is refused: %s", e.msg);
	kl_lytics_free(&l);
	lo.key_file = put("lytics-bad.key", "two words\n", 0600);
	ok(kl_lytics_load(&l, &lo, &e) == -1 && e.kind == KL_ERR_CONFIG &&
	    !has(e.msg, "words"), "a key with a space: %s", e.msg);
	kl_lytics_free(&l);
	lo.key_file = "/nonexistent/key";
	ok(kl_lytics_load(&l, &lo, &e) == -1 && e.kind == KL_ERR_PERMANENT &&
	    has(e.msg, "/nonexistent/key") &&
	    has(e.msg, "No such file"), "missing key file: %s", e.msg);
	kl_lytics_free(&l);
}

static void
test_private(void)
{
	struct kl_buf b;
	char q[600];
	const char *path;

	kl_buf_init(&b);
	path = put("it's private", "s3cr3t", 0640);
	snprintf(q, sizeof(q), "chmod 600 '%s/it'\\''s private'", dir);
	ok(kl_read_private(path, 100, &b, NULL, &e) == -1 &&
	    has(e.msg, q), "the chmod in the message is quoted: %s", e.msg);
	chmod(path, 0600);
	ok(kl_read_private(path, 100, &b, NULL, &e) == 0 &&
	    strcmp(b.data, "s3cr3t") == 0, "0600 is read");
	kl_buf_wipe(&b);
	ok(kl_read_private(path, 3, &b, NULL, &e) == -1 &&
	    e.kind == KL_ERR_CONFIG && has(e.msg, "larger than"), "too big");
	kl_buf_wipe(&b);
	ok(kl_read_private(dir, 100, &b, NULL, &e) == -1 &&
	    e.kind == KL_ERR_PERMANENT && has(e.msg, "Is a directory"),
	    "a folder cannot be read");
	kl_buf_wipe(&b);
	ok(kl_read_private("/dev/null", 100, &b, NULL, &e) == -1 &&
	    e.kind == KL_ERR_CONFIG && has(e.msg, "not a regular file"),
	    "a secret is never read from a device");
	kl_buf_wipe(&b);
}

int
main(void)
{
	char cmd[600];

	(void)plan;		/* tap.h helpers this file does not use */
	(void)is_blob;
	if (mkdtemp(dir) == NULL)
		return 99;
	memset(&c, 0, sizeof(c));
	test_opts();
	test_validators();
	test_region();
	test_auth_region();
	test_endpoints();
	test_profiles();
	test_malformed();
	test_ini();
	test_lytics();
	test_private();
	reset();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		diag("could not remove %s", dir);
	return done_testing();
}
