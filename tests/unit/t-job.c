/*
 * t-job.c - unit tests of job.c: the job file parser (good files, every
 * kind of bad line with its FILE:LINE), the filter wrapping, the default
 * state folder, and kl_shell_quote from pipeline.c.
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kl.h"
#include "tap.h"

struct bad {
	int		 kind;
	const char	*text;
	const char	*want;		/* in the message */
};

static const struct bad bads[] = {
	{ KL_JOB_IMPORT, "lytics_stream = web\n", "t.job: missing key "
	    "'kinesis_stream'" },
	{ KL_JOB_IMPORT, "kinesis_stream = s\n", "t.job: missing key "
	    "'lytics_stream'" },
	{ KL_JOB_EXPORT, "kinesis_stream = s\n", "missing key 'audiences'" },
	{ KL_JOB_IMPORT, "kinesis_stream = s\nlytics_stream = w\nfoo = 1\n",
	    "t.job:3: unknown key 'foo'; an import job has: label," },
	{ KL_JOB_IMPORT, "Region = us-east-1\n", "t.job:1: unknown key "
	    "'Region' (keys are lower case: 'region')" },
	{ KL_JOB_IMPORT, "kinesis_stream = s\nkinesis_stream = t\n",
	    "t.job:2: duplicate key 'kinesis_stream' (first set on line 1)" },
	{ KL_JOB_IMPORT, "audiences = a\n", "t.job:1: 'audiences' is a key "
	    "of export jobs (kl-export), not of import jobs" },
	{ KL_JOB_EXPORT, "\n# c\nfilter = .\n", "t.job:3: 'filter' is a key "
	    "of import jobs (kl-import)" },
	{ KL_JOB_EXPORT, "existing_users = maybe\n", "t.job:1: "
	    "existing_users wants yes or no: 'maybe'" },
	{ KL_JOB_EXPORT, "existing_users = Yes\n", "wants yes or no" },
	{ KL_JOB_IMPORT, "role_arn = arn:aws:iam::111111111:role/x\n",
	    "t.job:1: role_arn 'arn:aws:iam::111111111:role/x': the account "
	    "id '111111111' has 9 digits" },
	{ KL_JOB_IMPORT, "role_arn = arn:aws:iam::111111111:role/x\n",
	    "placeholder" },
	{ KL_JOB_IMPORT, "role_arn = arn:aws:s3:::bucket\n", "t.job:1: "
	    "role_arn" },
	{ KL_JOB_IMPORT, "secret_key = wJalrXUtnFEMI\n", "t.job:1: "
	    "'secret_key' looks like a secret" },
	{ KL_JOB_IMPORT, "secret_key = wJalrXUtnFEMI\n", "kl-auth add NAME" },
	{ KL_JOB_IMPORT, "aws_secret_access_key = x\n", "looks like a secret" },
	{ KL_JOB_EXPORT, "api_key = x\n", "looks like a secret" },
	{ KL_JOB_IMPORT, "lytics_api_key = x\n", "looks like a secret" },
	{ KL_JOB_IMPORT, "aws_access_key_id = AKIDEXAMPLE\n",
	    "looks like a secret" },
	{ KL_JOB_IMPORT, "session_token = x\n", "looks like a secret" },
	{ KL_JOB_IMPORT, "label = AKIAIOSFODNN7EXAMPLE\n", "t.job:1: the "
	    "value of 'label' looks like an AWS access key id" },
	{ KL_JOB_IMPORT, "export AWS_SECRET_ACCESS_KEY=x\n", "t.job:1: "
	    "expected 'key = value'" },
	{ KL_JOB_IMPORT, "kinesis_stream\n", "t.job:1: expected 'key = "
	    "value'" },
	{ KL_JOB_IMPORT, "kinesis_stream =\n", "t.job:1: 'kinesis_stream' "
	    "has no value" },
	{ KL_JOB_IMPORT, "kinesis_stream = a b\n", "t.job:1: kinesis_stream: "
	    "invalid stream name 'a b'" },
	{ KL_JOB_IMPORT, "kinesis_stream = clicks; rm -rf /\n",
	    "invalid stream name" },
	{ KL_JOB_IMPORT, "kinesis_stream = \"clicks\"\n",
	    "invalid stream name" },
	{ KL_JOB_IMPORT, "lytics_stream = a/b\n", "t.job:1: lytics_stream "
	    "wants a Lytics stream name" },
	{ KL_JOB_IMPORT, "filter = .[\n", "t.job:1: filter is not a valid "
	    "jq program" },
	{ KL_JOB_IMPORT, "filter = $nope\n", "filter is not a valid jq" },
	{ KL_JOB_IMPORT, "region = US-EAST-1\n", "t.job:1: region wants a "
	    "region name" },
	{ KL_JOB_IMPORT, "auth = a b\n", "t.job:1: auth wants the name of a "
	    "stored authorization" },
	{ KL_JOB_IMPORT, "external_id = has space\n", "t.job:1: external_id "
	    "wants 2 to 1224" },
	{ KL_JOB_IMPORT, "kinesis_stream = s\nlytics_stream = w\n"
	    "external_id = abc\n", "t.job:3: external_id goes with role_arn" },
	{ KL_JOB_IMPORT, "state_dir = var/lib/kl\n", "t.job:1: state_dir "
	    "wants an absolute path" },
	{ KL_JOB_IMPORT, "poll_interval = 5 hours\n", "t.job:1: "
	    "poll_interval wants a duration" },
	{ KL_JOB_IMPORT, "poll_interval = 50ms\n", "poll_interval wants" },
	{ KL_JOB_EXPORT, "poll_interval = 1500ms\n", "t.job:1: poll_interval "
	    "of an export job is whole seconds" },
	{ KL_JOB_EXPORT, "audiences = a,,b\n", "t.job:1: audiences has an "
	    "empty item" },
	{ KL_JOB_EXPORT, "audiences = a, a\n", "audiences names 'a' twice" },
	{ KL_JOB_EXPORT, "audiences = high value\n", "'high value' is not "
	    "an audience id or slug" },
	{ KL_JOB_EXPORT, "export_fields = email, first name\n",
	    "'first name' is not a field name" },
	{ KL_JOB_EXPORT, "identifier_field = a b\n", "identifier_field wants" },
	{ KL_JOB_IMPORT, "label = a\001b\n", "t.job:1: label: at most 256 "
	    "bytes, no control characters" },
	{ KL_JOB_IMPORT, "label = \xff\xfe\n", "t.job:1: not UTF-8 text" },
	{ KL_JOB_IMPORT, "region = us-east-1\nkinesis_stream = "
	    "arn:aws:kinesis:eu-west-1:123456789012:stream/s\nlytics_stream = "
	    "w\n", "t.job:2: kinesis_stream: stream ARN" },
};

static const char *const secrets[] = {
	"secret_key = hunter2xyz\n",
	"AWS_SECRET=hunter2xyz\n",
	"password hunter2xyz\n",
	"label = x AKIAIOSFODNN7EXAMPLE\n",
};

static const char good_import[] =
    "# a comment\n"
    "   # an indented comment\n"
    "\n"
    "label = Web clicks  \r\n"
    "description=\tClicks # not a comment\n"
    "auth = prod\n"
    "role_arn = arn:aws:iam::123456789012:role/path/r\n"
    "external_id = ab:c\n"
    "region = eu-west-1\n"
    "kinesis_stream = clicks\n"
    "lytics_stream = web_activity\n"
    "filter = select(._e != \"hb\") # drop heartbeats\n"
    "state_dir = /var/lib/kl/clicks/\n"
    "poll_interval = 250ms\n"
    "lytics_key_file = /etc/kl/lytics.key";	/* no final newline */

static const char good_export[] =
    "kinesis_stream = arn:aws:kinesis:us-east-1:123456789012:stream/t\n"
    "audiences = high_value , efdcc4da20554be02e90c563f69bc0ec\n"
    "identifier_field = email\n"
    "export_fields = email,first_name\n"
    "existing_users = yes\n"
    "poll_interval = 2m\n";

static void
test_bad(void)
{
	struct kl_job j;
	struct kl_err e;
	size_t i;

	for (i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		int r = kl_job_parse(&j, bads[i].kind, "t.job", bads[i].text,
		    strlen(bads[i].text), &e);
		ok(r == -1 && e.kind == KL_ERR_CONFIG &&
		    strstr(e.msg, bads[i].want) != NULL, "bad %zu: %s", i,
		    bads[i].want);
		if (r != -1 || strstr(e.msg, bads[i].want) == NULL)
			diag("got: %s", e.msg);
		kl_job_free(&j);
	}
	/* The value of a secret-looking key is never repeated. */
	for (i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
		kl_job_parse(&j, KL_JOB_IMPORT, "t.job", secrets[i],
		    strlen(secrets[i]), &e);
		ok(strstr(e.msg, "hunter2xyz") == NULL &&
		    strstr(e.msg, "AKIAIOSFODNN7EXAMPLE") == NULL,
		    "secret %zu is not echoed", i);
		kl_job_free(&j);
	}
}

static void
test_good(void)
{
	struct kl_job j;
	struct kl_err e;
	char *f;

	is_int(kl_job_parse(&j, KL_JOB_IMPORT, "/etc/kl/clicks.job",
	    good_import, strlen(good_import), &e), 0, "a full import job");
	if (j.path == NULL)
		diag("%s", e.msg);
	is_str(j.val[KL_JOB_LABEL], "Web clicks", "trailing blanks and CR "
	    "dropped");
	is_str(j.val[KL_JOB_DESCRIPTION], "Clicks # not a comment",
	    "'#' inside a value is kept");
	is_str(j.val[KL_JOB_FILTER], "select(._e != \"hb\") # drop heartbeats",
	    "a filter is kept as written");
	is_int(j.line[KL_JOB_KINESIS_STREAM], 10, "lines are counted");
	is_int(j.poll_ms, 250, "poll_interval in ms");
	is_str(j.name, "clicks", "the job's name");
	is_int(kl_job_state(&j, &e), 0, "state folder");
	is_str(j.state_dir, "/var/lib/kl/clicks", "state_dir wins, without "
	    "its trailing slash");
	f = kl_job_filter(j.val[KL_JOB_FILTER]);
	is_str(f, ". as $record | .data | (select(._e != \"hb\") # drop "
	    "heartbeats\n)", "the filter runs on .data; a comment cannot eat "
	    "the parenthesis");
	free(f);
	f = kl_job_filter(".a");
	is_str(f, ". as $record | .data | (.a)", "a filter without '#' stays "
	    "on one line");
	free(f);
	kl_job_free(&j);

	is_int(kl_job_parse(&j, KL_JOB_EXPORT, "x/hv", good_export,
	    strlen(good_export), &e), 0, "a full export job");
	is_str(j.audiences[0], "high_value", "audiences are trimmed");
	is_str(j.audiences[1], "efdcc4da20554be02e90c563f69bc0ec",
	    "second audience");
	ok(j.audiences[2] == NULL, "two audiences");
	is_str(j.export_fields[1], "first_name", "export fields");
	is_int(j.existing_users, 1, "existing_users = yes");
	is_int(j.poll_ms, 120000, "2m");
	setenv("STATE_DIRECTORY", "/var/lib/kl/hv:/other", 1);
	is_int(kl_job_state(&j, &e), 0, "default state folder");
	is_str(j.state_dir, "/var/lib/kl/hv", "from STATE_DIRECTORY (first)");
	unsetenv("STATE_DIRECTORY");
	setenv("XDG_STATE_HOME", "/xdg", 1);
	kl_job_state(&j, &e);
	is_str(j.state_dir, "/xdg/kl/hv", "from XDG_STATE_HOME");
	unsetenv("XDG_STATE_HOME");
	setenv("HOME", "/home/u", 1);
	kl_job_state(&j, &e);
	is_str(j.state_dir, "/home/u/.local/state/kl/hv", "from HOME");
	kl_job_free(&j);
}

static void
test_quote(void)
{
	struct kl_buf b;

	kl_buf_init(&b);
	kl_shell_quote(&b, "--stream");
	kl_buf_addc(&b, ' ');
	kl_shell_quote(&b, "it's $(x) a b");
	kl_buf_addc(&b, ' ');
	kl_shell_quote(&b, "");
	is_str(b.data, "--stream 'it'\\''s $(x) a b' ''", "shell quoting");
	kl_buf_free(&b);
}

int
main(void)
{
	test_bad();
	test_good();
	test_quote();
	return done_testing();
}
