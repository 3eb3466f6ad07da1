/*
 * awsenv.c - what a Kinesis command sets up before its first request:
 * the configuration (contract 3), the stream's region, the credential
 * chain with STS for the roles it assumes, and the signed endpoint.
 *
 * Design decisions:
 *
 * - Two steps, so that a command can do its own checks in between:
 *   kl_awsenv_config reads only the configuration and sends nothing (its
 *   failures are exit 2 where contract 4 says so); kl_awsenv_open builds
 *   the credential chain, which may read credential files and run
 *   credential_process, and the Kinesis endpoint.  The command calls
 *   curl_global_init() between them, once.
 * - Every failure fills a struct kl_err and the command decides:
 *   kl_die(kl_err_status(&e), 0, "%s", e.msg).
 * - The chain is always given STS (kl_sts_assume) with the role cache,
 *   for --role-arn and for delegated --auth.
 */
#include <config.h>

#include <errno.h>
#include <string.h>

#include "kl.h"

/*
 * Loads the configuration of the options o into env (zeroed first; free
 * it with kl_awsenv_free) and checks that the stream s, if it is an ARN,
 * is in the region in effect.  Logs the configuration at debug level.
 * Returns 0, or -1 with e filled (KL_ERR_CONFIG: exit 2).
 */
int
kl_awsenv_config(struct kl_awsenv *env, const struct kl_awsopts *o,
    const struct kl_stream *s, struct kl_err *e)
{
	char why[512];

	memset(env, 0, sizeof(*env));
	if (kl_cfg_load(&env->cfg, o, e) == -1)
		return -1;
	kl_cfg_debug(&env->cfg);
	if (s != NULL && kl_stream_region_ok(s, env->cfg.region, why,
	    sizeof(why)) == -1) {
		kl_err_set(e, KL_ERR_CONFIG, 0, NULL, "%s (region from %s)",
		    why, env->cfg.region_from);
		return -1;
	}
	return 0;
}

/*
 * Builds env's credential chain for the options o (the ones given to
 * kl_awsenv_config) and sets up env->aws for the Kinesis endpoint.
 * Nothing is sent yet.  Returns 0, or -1 with e filled.
 */
int
kl_awsenv_open(struct kl_awsenv *env, const struct kl_awsopts *o,
    struct kl_err *e)
{
	if (kl_sts_init(&env->sts, env->cfg.ca_bundle, KL_STS_CACHE) == -1) {
		kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "cannot set up STS: "
		    "%s", strerror(errno));
		return -1;
	}
	if ((env->src = kl_credsrc_new(o, &env->cfg, kl_sts_assume, &env->sts,
	    e)) == NULL)
		return -1;
	kl_log(KL_DEBUG, 0, "credentials: %s", kl_credsrc_describe(env->src));
	if (kl_kinesis_init(&env->aws, &env->cfg, env->src, e) == -1)
		return -1;
	return 0;
}

/* Frees what env holds; safe on a zeroed env and after any failure. */
void
kl_awsenv_free(struct kl_awsenv *env)
{
	kl_aws_free(&env->aws);
	kl_credsrc_free(env->src);
	kl_sts_free(&env->sts);
	kl_cfg_free(&env->cfg);
	memset(env, 0, sizeof(*env));
}
