/*
 * auth/creds.c - kl-auth's creds and verify: the credentials of an
 * authorization (or of the default chain) through the provider chain
 * every kl command uses (creds.c, with sts.c's AssumeRole and cache).
 *
 * Design decisions:
 *
 * - creds needs a region only to assume a role: without one, keys that
 *   need no STS are still printed, so `kl-auth creds NAME` works as a
 *   credential_process wherever the AWS CLI does.
 * - A credential_process that runs kl-auth creds which runs itself again
 *   (a delegated authorization without keys, whose default chain is the
 *   profile that runs it) is stopped at depth DEPTH_MAX through the
 *   variable KL_AUTH_DEPTH, not followed forever.
 * - verify retries once on ExpiredToken with fresh credentials, bypassing
 *   the cache; other refusals end it with STS's code and message.
 * - The record with the secret is written with one write(2) and the
 *   buffers that held it are wiped.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "kl.h"
#include "auth.h"

#define DEPTH_MAX	8

/* Writes the record in b, then wipes b and the output buffer. */
static int
emit_secret(struct kl_buf *b)
{
	int r = b->err ? -1 : kl_emit(b->data, b->len);

	if (r == 0)
		r = kl_out_flush(&kl_stdout);
	kl_buf_wipe(&kl_stdout.b);
	kl_buf_wipe(b);
	return r;
}

/* Loads the configuration; for creds, without a region if need be. */
static void
load_cfg(struct opts *o, struct kl_cfg *cfg, int *noregion)
{
	struct kl_awsopts tmp = o->aws;
	struct kl_err e, e2;

	*noregion = 0;
	if (kl_cfg_load(cfg, &o->aws, &e) == 0)
		return;
	kl_cfg_free(cfg);
	tmp.region = "us-east-1";
	if (strcmp(o->cmd, "creds") != 0 || o->aws.region != NULL ||
	    kl_cfg_load(cfg, &tmp, &e2) == -1)
		kl_die(kl_err_status(&e), 0, "%s", e.msg);
	/* Keep the message: it is the answer if a role needs a region. */
	o->noregion = e;
	*noregion = 1;
}

/* Stops a credential_process loop; counts this level for the next. */
static void
check_depth(void)
{
	const char *d = getenv("KL_AUTH_DEPTH");
	char depth[16];

	if (d != NULL && atoi(d) >= DEPTH_MAX)
		kl_die(KL_EXIT_FAIL, 0, "kl-auth creds runs itself %d deep: is "
		    "it the credential_process of the profile it reads?",
		    DEPTH_MAX);
	snprintf(depth, sizeof(depth), "%d", d != NULL ? atoi(d) + 1 : 1);
	setenv("KL_AUTH_DEPTH", depth, 1);
}

/* The provider chain; without a region, one that needs no STS. */
static struct kl_credsrc *
new_source(struct opts *o, struct kl_cfg *cfg, struct kl_sts *sts,
    int noregion)
{
	struct kl_credsrc *src, *t;
	struct kl_err e, e2;

	src = kl_credsrc_new(&o->aws, cfg, noregion ? NULL : kl_sts_assume,
	    sts, &e);
	if (src == NULL && noregion) {
		/* Would it work with a region?  Then that is what is missing. */
		if ((t = kl_credsrc_new(&o->aws, cfg, kl_sts_assume, sts,
		    &e2)) != NULL)
			e = o->noregion;
		kl_credsrc_free(t);
	}
	if (src == NULL)
		kl_die(kl_err_status(&e), 0, "%s", e.msg);
	kl_log(KL_DEBUG, 0, "credentials: %s", kl_credsrc_describe(src));
	return src;
}

static int
emit_identity(const struct kl_sts_ident *id)
{
	struct kl_buf b;
	int r;

	kl_buf_init(&b);
	kl_buf_adds(&b, "{\"Account\":");
	kl_buf_add_jstr(&b, id->account, strlen(id->account));
	kl_buf_adds(&b, ",\"Arn\":");
	kl_buf_add_jstr(&b, id->arn, strlen(id->arn));
	kl_buf_adds(&b, ",\"UserId\":");
	kl_buf_add_jstr(&b, id->user_id, strlen(id->user_id));
	kl_buf_addc(&b, '}');
	if ((r = b.err ? -1 : kl_emit(b.data, b.len)) == -1)
		kl_log(KL_FATAL, b.err ? ENOMEM : errno, "cannot write the "
		    "identity");
	kl_buf_free(&b);
	return r;
}

/* creds and verify */
int
cmd_creds(struct opts *o, int verify)
{
	struct kl_cfg cfg;
	struct kl_sts sts;
	struct kl_sts_ident id;
	struct kl_credsrc *src;
	const struct kl_creds *c;
	struct kl_err e;
	struct kl_buf b;
	const char *what;
	int noregion, r = -1, again = 0;

	check_depth();
	o->aws.auth = o->name;
	o->aws.endpoint_sts = 1;
	load_cfg(o, &cfg, &noregion);
	if (noregion)
		kl_log(KL_DEBUG, 0, "no region: only credentials that need no "
		    "STS");
	else
		kl_cfg_debug(&cfg);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    kl_sts_init(&sts, cfg.ca_bundle, KL_STS_CACHE) == -1)
		kl_die(KL_EXIT_FAIL, 0, "cannot initialise libcurl");
	src = new_source(o, &cfg, &sts, noregion);
	kl_err_clear(&e);
	for (;;) {
		what = "get the credentials of";
		if (kl_credsrc_get(src, time(NULL), &c, &e) == -1)
			break;
		if (!verify) {
			kl_buf_init(&b);
			kl_creds_format(&b, c);
			if ((r = emit_secret(&b)) == -1)
				kl_log(KL_FATAL, errno, "cannot write the "
				    "credential record");
			break;
		}
		what = "verify";
		if (kl_sts_identity(&sts, cfg.sts_url, cfg.region, c, &id,
		    &e) == 0) {
			r = emit_identity(&id);
			kl_sts_ident_free(&id);
			break;
		}
		if (e.kind != KL_ERR_CREDS || again++)
			break;
		kl_log(KL_WARNING, 0, "HTTP %ld %s, refreshing credentials",
		    e.status, e.code);
		sts.flags &= ~KL_STS_CACHE;
		kl_credsrc_expired(src);
	}
	if (r == -1 && e.kind != KL_ERR_NONE && e.kind != KL_ERR_STOPPED)
		kl_log(KL_FATAL, 0, "cannot %s %s: %s", what,
		    kl_credsrc_describe(src), e.msg);
	kl_credsrc_free(src);
	kl_sts_free(&sts);
	kl_cfg_free(&cfg);
	curl_global_cleanup();
	return r == 0 ? KL_EXIT_OK : e.kind != KL_ERR_NONE ? kl_err_status(&e) :
	    KL_EXIT_FAIL;
}
