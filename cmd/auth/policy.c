/*
 * auth/policy.c - kl-auth policy: the IAM policy documents of
 * delegated access, as the customer applies them (see kl-auth(1)).
 *
 * The trust document lets a principal assume the role, behind an external
 * id when one is given.  The permissions document allows one stream and
 * nothing more: for export (kl-trigger-put) kinesis:PutRecord and
 * PutRecords; for import (kl-read-shard) GetRecords, GetShardIterator,
 * ListShards and DescribeStreamSummary, and ListStreams on "*", which
 * cannot be limited to a stream.  These are the actions Lytics itself
 * asks for, so one customer set-up serves both.  No credentials, files
 * or network: the document is computed from the options alone.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kl.h"
#include "auth.h"

/* The ARN partition of a region. */
static const char *
partition(const char *region)
{
	if (region == NULL)
		return "aws";
	if (strncmp(region, "cn-", 3) == 0)
		return "aws-cn";
	if (strncmp(region, "us-gov-", 7) == 0)
		return "aws-us-gov";
	return "aws";
}

/*
 * A principal IAM accepts in a trust policy: a 12-digit account id, or
 * arn:PARTITION:(iam|sts)::ACCOUNT:RESOURCE.
 */
static int
principal_ok(const char *p)
{
	const char *s;
	char why[300];
	size_t n;

	if (strncmp(p, "arn:", 4) != 0)
		return kl_sts_account_check(p, why, sizeof(why)) == 0;
	for (s = p + 4; (*s >= 'a' && *s <= 'z') || *s == '-'; s++)
		;
	if (strncmp(s, ":iam::", 6) != 0 && strncmp(s, ":sts::", 6) != 0)
		return 0;
	s += 6;
	n = strspn(s, "0123456789");
	if (n != 12 || s[12] != ':' || s[13] == '\0')
		return 0;
	for (s += 13; *s != '\0'; s++)
		if (*s <= ' ' || *s > '~' || *s == '"' || *s == '\\')
			return 0;
	return 1;
}

static void
trust(struct kl_buf *b, const struct opts *o, const char *part)
{
	kl_buf_adds(b, "{\"Version\":\"2012-10-17\",\"Statement\":[{"
	    "\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"");
	if (o->principal == NULL)
		kl_buf_addf(b, "arn:%s:iam::%s:root", part, o->account);
	else if (strncmp(o->principal, "arn:", 4) != 0)
		kl_buf_addf(b, "arn:%s:iam::%s:root", part, o->principal);
	else
		kl_buf_adds(b, o->principal);
	kl_buf_adds(b, "\"},\"Action\":\"sts:AssumeRole\"");
	if (o->aws.external_id != NULL) {
		kl_buf_adds(b, ",\"Condition\":{\"StringEquals\":"
		    "{\"sts:ExternalId\":");
		kl_buf_add_jstr(b, o->aws.external_id,
		    strlen(o->aws.external_id));
		kl_buf_adds(b, "}}");
	}
	kl_buf_adds(b, "}]}");
}

static void
permissions(struct kl_buf *b, const struct opts *o, const char *part,
    const char *region)
{
	char arn[400];

	snprintf(arn, sizeof(arn), "arn:%s:kinesis:%s:%s:stream/%s", part,
	    region, o->account, o->stream);
	kl_buf_adds(b, "{\"Version\":\"2012-10-17\",\"Statement\":[{"
	    "\"Effect\":\"Allow\",\"Action\":[");
	if (strcmp(o->direction, "export") == 0)
		kl_buf_adds(b, "\"kinesis:PutRecord\",\"kinesis:PutRecords\"");
	else
		kl_buf_adds(b, "\"kinesis:GetRecords\","
		    "\"kinesis:GetShardIterator\",\"kinesis:ListShards\","
		    "\"kinesis:DescribeStreamSummary\"");
	kl_buf_addf(b, "],\"Resource\":\"%s\"}", arn);
	if (strcmp(o->direction, "import") == 0)
		kl_buf_adds(b, ",{\"Effect\":\"Allow\",\"Action\":"
		    "\"kinesis:ListStreams\",\"Resource\":\"*\"}");
	kl_buf_adds(b, "]}");
}

/* policy */
int
cmd_policy(struct opts *o)
{
	const char *region = o->aws.region;
	struct kl_buf b;
	char why[300];
	int perm, r;

	if (o->document == NULL)
		kl_die(KL_EXIT_USAGE, 0, "policy wants --document trust or "
		    "--document permissions");
	perm = strcmp(o->document, "permissions") == 0;
	if (o->account == NULL)
		kl_die(KL_EXIT_USAGE, 0, "policy wants --account: the 12-digit "
		    "id of the account that owns the stream and the role");
	if (kl_sts_account_check(o->account, why, sizeof(why)) == -1)
		kl_die(KL_EXIT_USAGE, 0, "--account: %s", why);
	if (region == NULL && (region = getenv("AWS_REGION")) == NULL)
		region = getenv("AWS_DEFAULT_REGION");
	if (region != NULL && !kl_region_ok(region))
		kl_die(KL_EXIT_USAGE, 0, "not a region name: '%.64s'", region);
	if (perm && (o->stream == NULL || o->direction == NULL ||
	    region == NULL))
		kl_die(KL_EXIT_USAGE, 0, "policy --document permissions wants "
		    "--stream, --direction and a region (--region, AWS_REGION "
		    "or AWS_DEFAULT_REGION)");
	if (o->principal != NULL && !principal_ok(o->principal))
		kl_die(KL_EXIT_USAGE, 0, "--principal wants a 12-digit account "
		    "id or an IAM or STS ARN with one: '%s'", o->principal);
	kl_buf_init(&b);
	if (perm)
		permissions(&b, o, partition(region), region);
	else
		trust(&b, o, partition(region));
	r = b.err ? -1 : kl_emit(b.data, b.len);
	if (r == -1)
		kl_log(KL_FATAL, errno, "cannot write the policy document");
	kl_buf_free(&b);
	return r == 0 ? KL_EXIT_OK : KL_EXIT_FAIL;
}
