/*
 * cfg.c - the options every AWS or Lytics command shares (contract §2),
 * and region and endpoint resolution (contract §3) from the options, the
 * environment and the AWS shared profile files that profile.c reads
 * (aws-protocol.md §4.2).
 *
 * Design decisions:
 *
 * - Option parsing stays in the command's getopt_long loop: the command
 *   splices KL_AWS_LONGOPTS (and KL_ASSUME_LONGOPTS, KL_LYTICS_LONGOPTS)
 *   into its table and offers each option to kl_awsopt() or kl_lyticsopt()
 *   first.  Values are checked there, so a bad one is a usage error (exit
 *   2) before anything is read; the message is logged here because only
 *   this file knows what each option wants.
 *
 * - Region: --region, AWS_REGION, AWS_DEFAULT_REGION, the profile's
 *   `region`.  With --auth NAME the authorization's own region comes
 *   just before the profile's: it stands where the profile would.
 *
 * - Endpoints: --endpoint-url names the command's own service: Kinesis,
 *   or STS when the command sets kl_awsopts.endpoint_sts (kl-assume-role,
 *   whose only service is STS; the Kinesis URL is then resolved without
 *   it).  Then AWS_ENDPOINT_URL_KINESIS (or _STS), AWS_ENDPOINT_URL, and
 *   the profile's `endpoint_url` (botocore's order); the `[services]`
 *   sections are not read.  AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true skips
 *   the variables and the profile, as in the SDKs.  An endpoint is
 *   scheme://host[:port], http or https, no path; a trailing "/" is
 *   dropped.
 *
 * - Profiles: --profile, AWS_PROFILE, then `default`.  A profile named by
 *   --profile or AWS_PROFILE must exist in one of the files; `default`
 *   need not.
 */
#include <config.h>

#include <ctype.h>
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "kl.h"

#define LYTICS_KEY_MAX	4096
#define LYTICS_DEFAULT	"https://api.lytics.io"

/* Validation of option values. */

/* Returns 1 if s is a plausible region name: 1-64 of [a-z0-9-]. */
int
kl_region_ok(const char *s)
{
	size_t n;

	for (n = 0; s[n] != '\0'; n++)
		if (!islower((unsigned char)s[n]) &&
		    !isdigit((unsigned char)s[n]) && s[n] != '-')
			return 0;
	return n >= 1 && n <= 64;
}

static int
span_ok(const char *s, size_t min, size_t max, const char *extra)
{
	size_t n;

	for (n = 0; s[n] != '\0'; n++)
		if (!isalnum((unsigned char)s[n]) && s[n] != '_' &&
		    strchr(extra, s[n]) == NULL)
			return 0;
	return n >= min && n <= max;
}

/* Returns 1 if s is a valid AssumeRole ExternalId: 2-1224 of [\w+=,.@:/-]. */
int
kl_external_id_ok(const char *s)
{
	return span_ok(s, 2, 1224, "+=,.@:/-");
}

/* Returns 1 if s is a valid RoleSessionName: 2-64 of [\w+=,.@-]. */
int
kl_session_name_ok(const char *s)
{
	return span_ok(s, 2, 64, "+=,.@-");
}

/*
 * Returns 1 if s is an IAM role ARN: arn:PARTITION:iam::ACCOUNT:role/NAME
 * with a 12-digit account and an optional path (aws-protocol.md §2.4).
 */
int
kl_role_arn_ok(const char *s)
{
	const char *p;
	size_t i;

	if (strncmp(s, "arn:", 4) != 0)
		return 0;
	for (p = s + 4; islower((unsigned char)*p) || *p == '-'; p++)
		;
	if (p == s + 4 || strncmp(p, ":iam::", 6) != 0)
		return 0;
	for (p += 6, i = 0; i < 12; i++)
		if (!isdigit((unsigned char)p[i]))
			return 0;
	p += 12;
	if (strncmp(p, ":role/", 6) != 0 || strlen(s) > 2048)
		return 0;
	for (p += 6; *p != '\0'; p++)
		if (*p <= ' ' || *p > '~')
			return 0;
	return p[-1] != '/';
}

/*
 * Checks an endpoint URL and returns a normalised copy in *out (caller
 * frees): the scheme lower-cased, trailing slashes dropped.  With
 * allow_path a path may follow the authority; never a query, a fragment,
 * user information or white space.  Returns 0, or -1 with a static
 * reason in *why.
 */
int
kl_url_norm(const char *in, int allow_path, char **out, const char **why)
{
	unsigned long long port;
	const char *p, *host, *end;
	size_t n, skip;
	char num[8], *s;

	*out = NULL;
	if (strncasecmp(in, "https://", 8) == 0)
		skip = 8;
	else if (strncasecmp(in, "http://", 7) == 0)
		skip = 7;
	else {
		*why = "wants an http:// or https:// URL";
		return -1;
	}
	host = p = in + skip;
	if (*p == '[') {
		for (p++; isxdigit((unsigned char)*p) || *p == ':' ||
		    *p == '.'; p++)
			;
		if (*p++ != ']' || p == host + 2) {
			*why = "has a bad IPv6 address";
			return -1;
		}
	} else
		while (isalnum((unsigned char)*p) || *p == '.' || *p == '-' ||
		    *p == '_')
			p++;
	if (p == host) {
		*why = "has no host";
		return -1;
	}
	if (*p == ':') {
		for (n = 1; isdigit((unsigned char)p[n]) && n < 7; n++)
			;
		memcpy(num, p + 1, n - 1);
		num[n - 1] = '\0';
		if (kl_parse_uint(num, 1, 65535, &port) == -1) {
			*why = "has a bad port";
			return -1;
		}
		p += n;
	}
	if (*p != '\0' && *p != '/') {
		*why = "has a character that does not belong in a host name";
		return -1;
	}
	for (end = p + strlen(p); end > p && end[-1] == '/'; end--)
		;
	if (!allow_path && end > p) {
		*why = "has a path; kl wants scheme://host[:port]";
		return -1;
	}
	for (; p < end; p++)
		if (*p <= ' ' || *p > '~' || *p == '?' || *p == '#') {
			*why = "has white space, a query or a fragment";
			return -1;
		}
	if ((s = strndup(in, (size_t)(end - in))) == NULL) {
		*why = "out of memory";
		return -1;
	}
	for (n = 0; n < skip; n++)
		s[n] = (char)tolower((unsigned char)s[n]);
	*out = s;
	return 0;
}

/*
 * Offers one command-line option to the AWS option set.  Returns 1 if ch
 * was one of them (its value stored in o: arg is kept, not copied), 0 if
 * not, or -1 if the value is bad (the reason logged at error level; the
 * command then exits 2).
 */
int
kl_awsopt(struct kl_awsopts *o, int ch, const char *arg)
{
	unsigned long long v;
	const char *why;
	char *url;

	switch (ch) {
	case 'r':
		if (!kl_region_ok(arg))
			goto bad;
		o->region = arg;
		return 1;
	case KL_OPT_PROFILE:
		if (*arg == '\0' || strlen(arg) > 256)
			goto bad;
		o->profile = arg;
		return 1;
	case KL_OPT_AUTH:
		if (!kl_store_name_ok(arg))
			goto bad;
		o->auth = arg;
		return 1;
	case KL_OPT_CREDENTIALS:
		if (*arg == '\0')
			goto bad;
		o->credentials = arg;
		return 1;
	case KL_OPT_ROLE_ARN:
		if (!kl_role_arn_ok(arg))
			goto bad;
		o->role_arn = arg;
		return 1;
	case KL_OPT_EXTERNAL_ID:
		if (!kl_external_id_ok(arg))
			goto bad;
		o->external_id = arg;
		return 1;
	case KL_OPT_ENDPOINT_URL:
		if (kl_url_norm(arg, 0, &url, &why) == -1) {
			kl_log(KL_ERROR, 0, "--endpoint-url %s: '%s'", why,
			    arg);
			return -1;
		}
		free(url);
		o->endpoint_url = arg;
		return 1;
	case KL_OPT_SESSION_NAME:
		if (!kl_session_name_ok(arg))
			goto bad;
		o->session_name = arg;
		return 1;
	case KL_OPT_DURATION:
		if (kl_parse_uint(arg, 900, 43200, &v) == -1)
			goto bad;
		o->duration = (long)v;
		return 1;
	default:
		return 0;
	}
bad:
	switch (ch) {
	case 'r':
		why = "--region wants a region name such as us-east-1";
		break;
	case KL_OPT_PROFILE:
		why = "--profile wants a profile name";
		break;
	case KL_OPT_AUTH:
		why = "--auth wants 1-64 letters, digits, '_', '.' or '-'";
		break;
	case KL_OPT_CREDENTIALS:
		why = "--credentials wants a file name";
		break;
	case KL_OPT_ROLE_ARN:
		why = "--role-arn wants arn:aws:iam::ACCOUNT:role/NAME "
		    "(a 12-digit account)";
		break;
	case KL_OPT_EXTERNAL_ID:
		why = "--external-id wants 2-1224 of [A-Za-z0-9_+=,.@:/-]";
		break;
	case KL_OPT_SESSION_NAME:
		why = "--session-name wants 2-64 of [A-Za-z0-9_+=,.@-]";
		break;
	default:
		why = "--duration wants seconds from 900 to 43200";
		break;
	}
	/* The values are not secrets (contract §2): quoting them is safe. */
	kl_log(KL_ERROR, 0, "%s: '%s'", why, arg);
	return -1;
}

/* Paths. */

/*
 * Returns a malloc'd path: $HOME (or the password entry's home) joined
 * with rel, or NULL with errno.
 */
static char *
home_path(const char *rel)
{
	const char *home = getenv("HOME");
	struct passwd *pw;
	struct kl_buf b;

	if (home == NULL || *home == '\0') {
		if ((pw = getpwuid(getuid())) == NULL || pw->pw_dir == NULL) {
			errno = ENOENT;
			return NULL;
		}
		home = pw->pw_dir;
	}
	kl_buf_init(&b);
	kl_buf_addf(&b, "%s/%s", home, rel);
	return kl_buf_steal(&b);
}

/* Region and endpoints. */

static int
set2(char **a, const char *va, char **b, const char *vb)
{
	if ((*a = strdup(va)) == NULL || (*b = strdup(vb)) == NULL)
		return -1;
	return 0;
}

static const char *
env(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0' ? v : NULL;
}

static int
region(struct kl_cfg *c, const struct kl_awsopts *o, struct kl_err *e)
{
	static const char *const vars[] = {
		"AWS_REGION", "AWS_DEFAULT_REGION",
	};
	struct kl_auth a;
	struct kl_buf b;
	const char *v;
	size_t i;
	int r;

	if (o->region != NULL)
		return set2(&c->region, o->region, &c->region_from,
		    "--region");
	for (i = 0; i < 2; i++) {
		if ((v = env(vars[i])) == NULL)
			continue;
		if (!kl_region_ok(v)) {
			kl_err_set(e, KL_ERR_CONFIG, 0, NULL, "%s is not a "
			    "region name: '%.64s'", vars[i], v);
			return -1;
		}
		return set2(&c->region, v, &c->region_from, vars[i]);
	}
	if (o->auth != NULL) {
		if (kl_store_load(o->auth, &a, e) == -1)
			return -1;
		kl_buf_init(&b);
		kl_buf_addf(&b, "authorization '%s'", o->auth);
		r = a.region == NULL ? 1 : b.err ? -1 :
		    set2(&c->region, a.region, &c->region_from, b.data);
		kl_buf_free(&b);
		kl_auth_free(&a);
		if (r <= 0)
			return r;
	}
	if ((v = kl_profile_get(c, c->profile, "region", KL_PROF_ANY)) !=
	    NULL) {
		if (!kl_region_ok(v)) {
			kl_err_set(e, KL_ERR_CONFIG, 0, NULL, "profile '%s': "
			    "region is not a region name: '%.64s'", c->profile,
			    v);
			return -1;
		}
		kl_buf_init(&b);
		kl_buf_addf(&b, "profile '%s'", c->profile);
		r = b.err ? -1 : set2(&c->region, v, &c->region_from, b.data);
		kl_buf_free(&b);
		return r;
	}
	kl_err_set(e, KL_ERR_CONFIG, 0, NULL, "no AWS region: use --region, "
	    "or set AWS_REGION or AWS_DEFAULT_REGION, or 'region' in "
	    "profile '%s' of '%s'%s", c->profile, c->config_ini.path,
	    o->auth != NULL ? ", or store one in the authorization" : "");
	return -1;
}

/*
 * Resolves one service's endpoint into *url and *from: opt (the
 * command's --endpoint-url, if it names this service), AWS_ENDPOINT_URL_
 * SVC, AWS_ENDPOINT_URL, the profile's endpoint_url, the regional
 * default.
 */
static int
endpoint(struct kl_cfg *c, const char *svc, const char *opt, char **url,
    char **from, struct kl_err *e)
{
	char var[64], fromb[320], *p;
	const char *v = NULL, *why, *ign;
	int skip;

	ign = env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
	skip = ign != NULL && strcasecmp(ign, "true") == 0;
	snprintf(var, sizeof(var), "AWS_ENDPOINT_URL_%s", svc);
	for (p = var; *p != '\0'; p++)
		*p = (char)toupper((unsigned char)*p);
	if (opt != NULL) {
		v = opt;
		snprintf(fromb, sizeof(fromb), "--endpoint-url");
	} else if (!skip && (v = env(var)) != NULL)
		snprintf(fromb, sizeof(fromb), "%s", var);
	else if (!skip && (v = env("AWS_ENDPOINT_URL")) != NULL)
		snprintf(fromb, sizeof(fromb), "AWS_ENDPOINT_URL");
	else if (!skip && (v = kl_profile_get(c, c->profile, "endpoint_url",
	    KL_PROF_ANY)) != NULL)
		snprintf(fromb, sizeof(fromb), "profile '%.256s' endpoint_url",
		    c->profile);
	if (v != NULL) {
		if (kl_url_norm(v, 0, url, &why) == -1) {
			kl_err_set(e, KL_ERR_CONFIG, 0, NULL, "%s %s: '%.200s'",
			    fromb, why, v);
			return -1;
		}
		return (*from = strdup(fromb)) == NULL ? -1 : 0;
	}
	snprintf(fromb, sizeof(fromb), "https://%s.%s.amazonaws.com%s", svc,
	    c->region, strncmp(c->region, "cn-", 3) == 0 ? ".cn" : "");
	return set2(url, fromb, from, "the region's default");
}

/*
 * Resolves the configuration of an AWS command from its options, the
 * environment and the profile files (contract §3) into c, which the
 * caller frees with kl_cfg_free (also after a failure).  Returns 0, or
 * -1 with e filled: KL_ERR_CONFIG (no region, malformed file, unknown
 * profile, bad value: exit 2) or KL_ERR_PERMANENT (a file that cannot be
 * read: exit 1).
 */
int
kl_cfg_load(struct kl_cfg *c, const struct kl_awsopts *o, struct kl_err *e)
{
	const char *v;
	char *path;
	int named = 1, r;

	memset(c, 0, sizeof(*c));
	kl_err_clear(e);
	path = (v = env("AWS_CONFIG_FILE")) != NULL ? strdup(v) :
	    home_path(".aws/config");
	r = path == NULL ? -1 :
	    kl_ini_load(&c->config_ini, KL_INI_CONFIG, path, e);
	free(path);
	if (r == -1)
		goto fail;
	path = (v = env("AWS_SHARED_CREDENTIALS_FILE")) != NULL ? strdup(v) :
	    home_path(".aws/credentials");
	r = path == NULL ? -1 :
	    kl_ini_load(&c->creds_ini, KL_INI_CREDS, path, e);
	free(path);
	if (r == -1)
		goto fail;
	if (o->profile != NULL)
		v = o->profile;
	else if ((v = env("AWS_PROFILE")) == NULL) {
		v = "default";
		named = 0;
	}
	if ((c->profile = strdup(v)) == NULL)
		goto fail;
	if (named && !kl_profile_exists(c, c->profile))
		return kl_profile_missing(c, c->profile, e);
	if (region(c, o, e) == -1 ||
	    endpoint(c, "kinesis", o->endpoint_sts ? NULL : o->endpoint_url,
	    &c->kinesis_url, &c->kinesis_from, e) == -1 ||
	    endpoint(c, "sts", o->endpoint_sts ? o->endpoint_url : NULL,
	    &c->sts_url, &c->sts_from, e) == -1)
		goto fail;
	if ((v = env("AWS_CA_BUNDLE")) != NULL ||
	    (v = kl_profile_get(c, c->profile, "ca_bundle", KL_PROF_ANY)) !=
	    NULL)
		if ((c->ca_bundle = strdup(v)) == NULL)
			goto fail;
	return 0;
fail:
	if (e->kind == KL_ERR_NONE) {
		kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "%s",
		    strerror(ENOMEM));
		e->sys = ENOMEM;
	}
	return -1;
}

/* Frees what c holds (the profile files' values are wiped). */
void
kl_cfg_free(struct kl_cfg *c)
{
	free(c->region);
	free(c->region_from);
	free(c->profile);
	free(c->kinesis_url);
	free(c->kinesis_from);
	free(c->sts_url);
	free(c->sts_from);
	free(c->ca_bundle);
	kl_ini_free(&c->config_ini);
	kl_ini_free(&c->creds_ini);
	memset(c, 0, sizeof(*c));
}

/* Logs, at debug level (-vv), each resolved value and where it came from. */
void
kl_cfg_debug(const struct kl_cfg *c)
{
	kl_log(KL_DEBUG, 0, "profile '%s'; files '%s'%s, '%s'%s", c->profile,
	    c->config_ini.path, c->config_ini.found ? "" : " (absent)",
	    c->creds_ini.path, c->creds_ini.found ? "" : " (absent)");
	kl_log(KL_DEBUG, 0, "region %s (from %s)", c->region, c->region_from);
	kl_log(KL_DEBUG, 0, "kinesis endpoint %s (from %s)", c->kinesis_url,
	    c->kinesis_from);
	kl_log(KL_DEBUG, 0, "sts endpoint %s (from %s)", c->sts_url,
	    c->sts_from);
	if (c->ca_bundle != NULL)
		kl_log(KL_DEBUG, 0, "CA bundle '%s'", c->ca_bundle);
}

/* Lytics. */

/*
 * Offers one command-line option to the Lytics option set.  Returns 1 if
 * consumed (arg kept, not copied), 0 if not ours, -1 on a bad value
 * (logged; the command exits 2).
 */
int
kl_lyticsopt(struct kl_lyticsopts *o, int ch, const char *arg)
{
	const char *why;
	char *url;

	switch (ch) {
	case KL_OPT_LYTICS_URL:
		if (kl_url_norm(arg, 1, &url, &why) == -1) {
			kl_log(KL_ERROR, 0, "--lytics-url %s: '%s'", why, arg);
			return -1;
		}
		free(url);
		o->url = arg;
		return 1;
	case KL_OPT_LYTICS_KEY_FILE:
		if (*arg == '\0') {
			kl_log(KL_ERROR, 0, "--lytics-key-file wants a file "
			    "name");
			return -1;
		}
		o->key_file = arg;
		return 1;
	default:
		return 0;
	}
}

/* A key is sent as a header value: printable ASCII, no spaces. */
static int
key_ok(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] > '~')
			return 0;
	return n > 0;
}

/*
 * Resolves the Lytics endpoint and API key (contract §3) into l, which
 * the caller frees with kl_lytics_free (also after a failure; the key is
 * wiped).  URL: --lytics-url, LYTICS_API_URL, https://api.lytics.io,
 * without trailing slashes.  Key: --lytics-key-file FILE (refused if
 * group or others can read it; surrounding white space dropped), then
 * LYTICS_API_KEY.  Returns 0, or -1 with e filled: KL_ERR_CONFIG (no key,
 * a bad URL or key, a key file others can read: exit 2) or
 * KL_ERR_PERMANENT (the key file cannot be read: exit 1).
 */
int
kl_lytics_load(struct kl_lytics *l, const struct kl_lyticsopts *o,
    struct kl_err *e)
{
	const char *v, *why, *from;
	struct kl_buf b;
	char *s, *t;

	memset(l, 0, sizeof(*l));
	kl_err_clear(e);
	if ((v = o->url) != NULL)
		from = "--lytics-url";
	else if ((v = env("LYTICS_API_URL")) != NULL)
		from = "LYTICS_API_URL";
	else {
		v = LYTICS_DEFAULT;
		from = "the default";
	}
	if (kl_url_norm(v, 1, &l->url, &why) == -1) {
		kl_err_set(e, KL_ERR_CONFIG, 0, NULL, "%s %s: '%.200s'", from,
		    why, v);
		return -1;
	}
	l->url_from = from;
	if (o->key_file != NULL) {
		kl_buf_init(&b);
		if (kl_read_private(o->key_file, LYTICS_KEY_MAX, &b, NULL,
		    e) == -1) {
			kl_buf_wipe(&b);
			return -1;
		}
		s = b.data;
		t = b.data + b.len;
		while (s < t && isspace((unsigned char)*s))
			s++;
		while (t > s && isspace((unsigned char)t[-1]))
			t--;
		if (!key_ok(s, (size_t)(t - s))) {
			kl_buf_wipe(&b);
			kl_err_set(e, KL_ERR_CONFIG, 0, NULL, "'%s' does not "
			    "hold a Lytics API key (one line, no spaces)",
			    o->key_file);
			return -1;
		}
		l->key = strndup(s, (size_t)(t - s));
		kl_buf_wipe(&b);
		l->key_from = "--lytics-key-file";
	} else if ((v = env("LYTICS_API_KEY")) != NULL) {
		if (!key_ok(v, strlen(v))) {
			kl_err_set(e, KL_ERR_CONFIG, 0, NULL, "LYTICS_API_KEY "
			    "has spaces or control characters");
			return -1;
		}
		l->key = strdup(v);
		l->key_from = "LYTICS_API_KEY";
	} else {
		kl_err_set(e, KL_ERR_CONFIG, 0, NULL, "no Lytics API key: use "
		    "--lytics-key-file FILE or set LYTICS_API_KEY");
		return -1;
	}
	if (l->key == NULL) {
		kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "%s",
		    strerror(ENOMEM));
		return -1;
	}
	return 0;
}

/* Frees l, wiping the key. */
void
kl_lytics_free(struct kl_lytics *l)
{
	if (l->key != NULL)
		explicit_bzero(l->key, strlen(l->key));
	free(l->key);
	free(l->url);
	memset(l, 0, sizeof(*l));
}
