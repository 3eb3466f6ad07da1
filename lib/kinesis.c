/*
 * kinesis.c - Kinesis Data Streams over AWS JSON 1.1: the call itself,
 * stream names and ARNs, the control-plane listings, waiting for a
 * stream's status, and turning Kinesis replies into kl records.
 *
 * Every operation is POST / with X-Amz-Target: Kinesis_20131202.<Op> and
 * Content-Type: application/x-amz-json-1.1 (aws-protocol.md 1.1); aws.c
 * signs, retries and classifies.
 *
 * Design decisions:
 *
 * - A STREAM operand is a name or an ARN.  For an ARN, kl sends both
 *   StreamName (taken from the ARN) and StreamARN: the API accepts
 *   either or both, AWS uses the ARN (so a stream of another account
 *   works), and the local peers, which ignore StreamARN (kinesalite) or
 *   cannot work from it alone, still find the stream by name.  The ARN's
 *   region must be the configured one: the request goes to that region's
 *   endpoint, and a mismatch could only fail there, later and obscurely.
 * - Replies are read with the span scanner (jscan.c), not libjq, so
 *   numbers and strings keep their exact text; nothing here builds a
 *   tree.  kl_kinesis_members() renames members to snake_case the way
 *   botocore's xform_name does (StreamARN -> stream_arn,
 *   MaxRecordSizeInKiB -> max_record_size_in_ki_b, as the AWS CLI spells
 *   its options), flattens the wrapper objects StreamModeDetails,
 *   HashKeyRange and SequenceNumberRange, writes *Timestamp members
 *   (epoch seconds) as RFC 3339 UTC strings, and drops null members,
 *   which kinesis-local sends.
 * - Listings paginate as the service does: ListShards by NextToken
 *   alone (with NextToken the stream must not be named again);
 *   ListStreams by NextToken, or, from a server that sends none
 *   (kinesalite), by ExclusiveStartStreamName while HasMoreStreams.
 */
#include <config.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kl.h"

#define TARGET_PREFIX	"Kinesis_20131202."
#define CONTENT_TYPE	"application/x-amz-json-1.1"

/* The partitions a Kinesis ARN may name, and their region prefixes. */
static const struct {
	const char	*partition;
	const char	*prefix;	/* "" matches the rest */
} partitions[] = {
	{ "aws-cn", "cn-" },
	{ "aws-us-gov", "us-gov-" },
	{ "aws", "" },
};

static const char *
region_partition(const char *region)
{
	size_t i;

	for (i = 0; i < sizeof(partitions) / sizeof(partitions[0]); i++)
		if (strncmp(region, partitions[i].prefix,
		    strlen(partitions[i].prefix)) == 0)
			return partitions[i].partition;
	return "aws";
}

/* Copies the next ':'-separated field of *p into out; -1 if too long. */
static int
field(const char **p, char *out, size_t cap)
{
	size_t n = strcspn(*p, ":");

	if (n >= cap || (*p)[n] != ':')
		return -1;
	memcpy(out, *p, n);
	out[n] = '\0';
	*p += n + 1;
	return 0;
}

static int
parse_arn(struct kl_stream *s, const char *arg, char *why, size_t whysz)
{
	const char *p = arg + 4, *name;
	size_t i;

	if (strlen(arg) >= sizeof(s->arn) ||
	    field(&p, s->partition, sizeof(s->partition)) == -1 ||
	    strncmp(p, "kinesis:", 8) != 0)
		goto bad;
	p += 8;
	if (field(&p, s->region, sizeof(s->region)) == -1 ||
	    field(&p, s->account, sizeof(s->account)) == -1 ||
	    strncmp(p, "stream/", 7) != 0)
		goto bad;
	name = p + 7;
	for (i = 0; i < sizeof(partitions) / sizeof(partitions[0]); i++)
		if (strcmp(s->partition, partitions[i].partition) == 0)
			break;
	if (i == sizeof(partitions) / sizeof(partitions[0]))
		goto bad;
	if (s->region[0] == '\0' || strspn(s->region,
	    "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(s->region) ||
	    strcmp(region_partition(s->region), s->partition) != 0)
		goto bad;
	if (strlen(s->account) != 12 ||
	    strspn(s->account, "0123456789") != 12)
		goto bad;
	if (!kl_stream_name_ok(name))
		goto bad;
	snprintf(s->name, sizeof(s->name), "%s", name);
	snprintf(s->arn, sizeof(s->arn), "%s", arg);
	return 0;
bad:
	snprintf(why, whysz, "invalid stream ARN '%.200s': want "
	    "arn:PARTITION:kinesis:REGION:ACCOUNT:stream/NAME, with PARTITION "
	    "aws, aws-cn or aws-us-gov matching REGION, a 12-digit ACCOUNT "
	    "and a valid NAME", arg);
	memset(s, 0, sizeof(*s));
	return -1;
}

/*
 * Parses a STREAM operand, a stream name or a stream ARN, into s.
 * Returns 0, or -1 with a message for the user in why (the rule the
 * operand breaks).
 */
int
kl_stream_parse(struct kl_stream *s, const char *arg, char *why,
    size_t whysz)
{
	memset(s, 0, sizeof(*s));
	if (strncmp(arg, "arn:", 4) == 0)
		return parse_arn(s, arg, why, whysz);
	if (!kl_stream_name_ok(arg)) {
		snprintf(why, whysz, "invalid stream name '%.200s': want 1 to "
		    "128 letters, digits, '_', '.' or '-', or a stream ARN",
		    arg);
		return -1;
	}
	snprintf(s->name, sizeof(s->name), "%s", arg);
	return 0;
}

/*
 * Checks that a stream given by ARN lives in region.  Returns 0 (also
 * for a plain name), or -1 with the reason in why.
 */
int
kl_stream_region_ok(const struct kl_stream *s, const char *region,
    char *why, size_t whysz)
{
	if (s->arn[0] == '\0' || strcmp(s->region, region) == 0)
		return 0;
	snprintf(why, whysz, "stream ARN '%s' is in region '%s', not in "
	    "'%s'", s->arn, s->region, region);
	return -1;
}

/* Appends "StreamName":"..." and, for an ARN, ,"StreamARN":"..." to b. */
void
kl_stream_members(struct kl_buf *b, const struct kl_stream *s)
{
	kl_js_put_key(b, "StreamName");
	kl_buf_add_jstr(b, s->name, strlen(s->name));
	if (s->arn[0] != '\0') {
		kl_js_put_key(b, "StreamARN");
		kl_buf_add_jstr(b, s->arn, strlen(s->arn));
	}
}

/* Sets up a for the Kinesis endpoint of cfg, with src's credentials. */
int
kl_kinesis_init(struct kl_aws *a, const struct kl_cfg *cfg,
    struct kl_credsrc *src, struct kl_err *e)
{
	return kl_aws_init(a, cfg->kinesis_url, cfg->region, "kinesis", src,
	    cfg->ca_bundle, e);
}

/*
 * Fills q for Kinesis operation op with body[0..len) (a JSON object),
 * its headers going to h (initialised by the caller, who frees it after
 * the call; op must outlive q).  Retries and budget are the endpoint's.
 * Returns 0, or -1 with errno ENOMEM.
 */
int
kl_kinesis_req(struct kl_aws_req *q, struct kl_hdrs *h, const char *op,
    const char *body, size_t len)
{
	char target[96];

	snprintf(target, sizeof(target), "%s%s", TARGET_PREFIX, op);
	kl_hdrs_add(h, "Content-Type", CONTENT_TYPE);
	kl_hdrs_add(h, "X-Amz-Target", target);
	memset(q, 0, sizeof(*q));
	q->method = "POST";
	q->path = "/";
	q->op = op;
	q->hdrs = h;
	q->body = body;
	q->len = len;
	q->retries = -1;
	if (h->err) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

/*
 * Calls Kinesis operation op ("ListShards") with the JSON object
 * body[0..len).  The 2xx reply is left in resp.  Returns 0, or -1 with e
 * filled as kl_aws_call() says.
 */
int
kl_kinesis_call(struct kl_aws *a, const char *op, const char *body,
    size_t len, struct kl_http_resp *resp, struct kl_err *e)
{
	struct kl_aws_req q;
	struct kl_hdrs h;
	int r;

	kl_hdrs_init(&h);
	if (kl_kinesis_req(&q, &h, op, body, len) == -1) {
		kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "%s",
		    strerror(ENOMEM));
		r = -1;
	} else
		r = kl_aws_call(a, &q, resp, e);
	kl_hdrs_free(&h);
	return r;
}

/*
 * Writes the snake_case form of the member name camel[0..n) to out, as
 * botocore's xform_name: '_' before a capital that starts a lower-case
 * run, and between a lower-case letter or digit and a capital.
 */
void
kl_kinesis_name(char *out, size_t cap, const char *camel, size_t n)
{
	size_t i, k = 0;
	int cut;

	for (i = 0; i < n && k + 2 < cap; i++) {
		cut = i > 0 && isupper((unsigned char)camel[i]) &&
		    ((i + 1 < n && islower((unsigned char)camel[i + 1])) ||
		    islower((unsigned char)camel[i - 1]) ||
		    isdigit((unsigned char)camel[i - 1]));
		if (cut && k > 0 && out[k - 1] != '_')
			out[k++] = '_';
		out[k++] = (char)tolower((unsigned char)camel[i]);
	}
	out[k] = '\0';
}

static int put_value(struct kl_buf *, const char *, size_t,
    const struct kl_jspan *, int);

static int
is_wrapper(const char *k, size_t n)
{
	static const char *const names[] = {
		"StreamModeDetails", "HashKeyRange", "SequenceNumberRange",
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i]) == n && memcmp(names[i], k, n) == 0)
			return 1;
	return 0;
}

/*
 * Appends the converted members of object obj (no braces) to out, the
 * member named first (if not NULL) before the others.
 */
static int
put_members(struct kl_buf *out, const struct kl_jspan *obj, int depth,
    const char *first)
{
	struct kl_jiter it;
	struct kl_jspan k, v;
	struct kl_buf key;
	char name[160];
	int r = 0;

	if (depth > 32 || kl_js_iter_init(&it, obj) == -1) {
		errno = EINVAL;
		return -1;
	}
	kl_buf_init(&key);
	if (first != NULL && kl_js_get(obj, first, &v) && v.type != KL_JNUL) {
		kl_kinesis_name(name, sizeof(name), first, strlen(first));
		kl_js_put_key(out, name);
		r = put_value(out, first, strlen(first), &v, depth);
	}
	while (r == 0 && kl_js_iter_next(&it, &k, &v)) {
		if (v.type == KL_JNUL ||
		    (first != NULL && kl_js_streq(&k, first)))
			continue;
		kl_buf_reset(&key);
		if (kl_js_str(&k, &key) == -1 || key.err) {
			r = -1;
			break;
		}
		if (v.type == KL_JOBJ && is_wrapper(key.data, key.len)) {
			r = put_members(out, &v, depth + 1, NULL);
			continue;
		}
		kl_kinesis_name(name, sizeof(name), key.data, key.len);
		kl_js_put_key(out, name);
		r = put_value(out, key.data, key.len, &v, depth);
	}
	kl_buf_free(&key);
	return r;
}

/* Appends value v of the member named k[0..n) (converted) to out. */
static int
put_value(struct kl_buf *out, const char *k, size_t n,
    const struct kl_jspan *v, int depth)
{
	struct kl_jiter it;
	struct kl_jspan e;
	char t[40];
	double d;
	long long ms;

	switch (v->type) {
	case KL_JOBJ:
		kl_buf_addc(out, '{');
		if (put_members(out, v, depth + 1, NULL) == -1)
			return -1;
		kl_buf_addc(out, '}');
		return 0;
	case KL_JARR:
		kl_buf_addc(out, '[');
		kl_js_iter_init(&it, v);
		while (kl_js_iter_next(&it, NULL, &e)) {
			kl_js_put_sep(out);
			if (put_value(out, "", 0, &e, depth + 1) == -1)
				return -1;
		}
		kl_buf_addc(out, ']');
		return 0;
	case KL_JNUM:
		if (n >= 9 && memcmp(k + n - 9, "Timestamp", 9) == 0 &&
		    kl_js_double(v, &d) == 0 && d >= 0 && d < 253402300800.0) {
			ms = (long long)(d * 1000.0 + 0.5);	/* d >= 0 */
			if (kl_time_fmt(t, sizeof(t), (time_t)(ms / 1000),
			    (int)(ms % 1000)) > 0) {
				kl_buf_add_jstr(out, t, strlen(t));
				return 0;
			}
		}
		/* FALLTHROUGH */
	default:
		kl_js_put_span(out, v);
		return 0;
	}
}

/*
 * Appends the members of the Kinesis reply object obj to out, converted
 * to kl's record form (see the file comment), each preceded by a comma
 * where one is due: out should end inside an object being built.  The
 * member named first ("StreamName"; NULL for none) goes first, so
 * records read the same whatever order the server used.  Returns 0, or
 * -1 with errno EINVAL (obj is no object) or ENOMEM.
 */
int
kl_kinesis_members(struct kl_buf *out, const struct kl_jspan *obj,
    const char *first)
{
	if (put_members(out, obj, 0, first) == -1)
		return -1;
	if (out->err) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

/* Parses resp's body as an object with member name (if not NULL). */
static int
reply(const char *op, const struct kl_http_resp *resp, const char *name,
    struct kl_jspan *top, struct kl_jspan *member, struct kl_err *e)
{
	struct kl_jerr je;

	if (kl_js_parse(resp->body.data ? resp->body.data : "",
	    resp->body.len, top, &je) == -1 || top->type != KL_JOBJ) {
		kl_err_set(e, KL_ERR_PERMANENT, resp->status, NULL,
		    "%s: reply is not a JSON object%s%s", op,
		    je.msg[0] ? ": " : "", je.msg);
		return -1;
	}
	if (name != NULL && !kl_js_get(top, name, member)) {
		kl_err_set(e, KL_ERR_PERMANENT, resp->status, NULL,
		    "%s: reply has no '%s'", op, name);
		return -1;
	}
	return 0;
}

/*
 * Lists the shards of stream s, all pages, calling each(arg, shard, e)
 * for each shard object (a span valid during the call); each returns 0
 * to go on or -1 with e filled to stop.  filter is the JSON text of a
 * ShardFilter object or NULL; max_results the page size (0: the
 * service's).  Returns 0, or -1 with e filled.
 */
int
kl_kinesis_list_shards(struct kl_aws *a, const struct kl_stream *s,
    const char *filter, long max_results,
    int (*each)(void *, const struct kl_jspan *, struct kl_err *),
    void *arg, struct kl_err *e)
{
	struct kl_http_resp resp;
	struct kl_buf body, token;
	struct kl_jspan top, shards, sh, next;
	struct kl_jiter it;
	int r = -1;

	kl_http_resp_init(&resp);
	kl_buf_init(&body);
	kl_buf_init(&token);
	for (;;) {
		kl_buf_reset(&body);
		kl_buf_addc(&body, '{');
		if (token.len > 0) {
			kl_js_put_key(&body, "NextToken");
			kl_buf_add_jstr(&body, token.data, token.len);
		} else {
			kl_stream_members(&body, s);
			if (filter != NULL) {
				kl_js_put_key(&body, "ShardFilter");
				kl_buf_adds(&body, filter);
			}
		}
		if (max_results > 0) {
			kl_js_put_key(&body, "MaxResults");
			kl_buf_addf(&body, "%ld", max_results);
		}
		kl_buf_addc(&body, '}');
		if (body.err) {
			kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "%s",
			    strerror(ENOMEM));
			goto done;
		}
		if (kl_kinesis_call(a, "ListShards", body.data, body.len,
		    &resp, e) == -1 ||
		    reply("ListShards", &resp, "Shards", &top, &shards,
		    e) == -1)
			goto done;
		if (kl_js_iter_init(&it, &shards) == -1) {
			kl_err_set(e, KL_ERR_PERMANENT, resp.status, NULL,
			    "ListShards: 'Shards' is not an array");
			goto done;
		}
		while (kl_js_iter_next(&it, NULL, &sh))
			if (each(arg, &sh, e) == -1)
				goto done;
		kl_buf_reset(&token);
		if (!kl_js_get(&top, "NextToken", &next) ||
		    next.type != KL_JSTR || next.n <= 2)
			break;
		if (kl_js_str(&next, &token) == -1 || token.err) {
			kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "%s",
			    strerror(ENOMEM));
			goto done;
		}
	}
	r = 0;
done:
	kl_http_resp_free(&resp);
	kl_buf_free(&body);
	kl_buf_free(&token);
	return r;
}

/*
 * Lists the account's streams, all pages, calling each(arg, name,
 * summary, e) for each stream: name is the StreamName string span and
 * summary its StreamSummaries object, or NULL from servers without
 * them.  limit is the page size (0: the service's).  Returns 0, or -1
 * with e filled (by each, or by the call).
 */
int
kl_kinesis_list_streams(struct kl_aws *a, long limit,
    int (*each)(void *, const struct kl_jspan *, const struct kl_jspan *,
    struct kl_err *), void *arg, struct kl_err *e)
{
	struct kl_http_resp resp;
	struct kl_buf body, token, last;
	struct kl_jspan top, names, sums, nm, sm, v;
	struct kl_jiter in, is;
	int r = -1, have_sums, more;

	kl_http_resp_init(&resp);
	kl_buf_init(&body);
	kl_buf_init(&token);
	kl_buf_init(&last);
	for (;;) {
		kl_buf_reset(&body);
		kl_buf_addc(&body, '{');
		if (token.len > 0) {
			kl_js_put_key(&body, "NextToken");
			kl_buf_add_jstr(&body, token.data, token.len);
		} else if (last.len > 0) {
			kl_js_put_key(&body, "ExclusiveStartStreamName");
			kl_buf_add_jstr(&body, last.data, last.len);
		}
		if (limit > 0) {
			kl_js_put_key(&body, "Limit");
			kl_buf_addf(&body, "%ld", limit);
		}
		kl_buf_addc(&body, '}');
		if (body.err)
			goto nomem;
		if (kl_kinesis_call(a, "ListStreams", body.data, body.len,
		    &resp, e) == -1 ||
		    reply("ListStreams", &resp, "StreamNames", &top, &names,
		    e) == -1)
			goto done;
		if (kl_js_iter_init(&in, &names) == -1) {
			kl_err_set(e, KL_ERR_PERMANENT, resp.status, NULL,
			    "ListStreams: 'StreamNames' is not an array");
			goto done;
		}
		have_sums = kl_js_get(&top, "StreamSummaries", &sums) &&
		    kl_js_iter_init(&is, &sums) == 0;
		kl_buf_reset(&last);
		while (kl_js_iter_next(&in, NULL, &nm)) {
			if (nm.type != KL_JSTR)
				continue;
			if (have_sums && !kl_js_iter_next(&is, NULL, &sm))
				have_sums = 0;
			/* A summary counts only if it is this stream's. */
			if (each(arg, &nm, have_sums && sm.type == KL_JOBJ &&
			    kl_js_get(&sm, "StreamName", &v) &&
			    v.n == nm.n && memcmp(v.p, nm.p, nm.n) == 0 ?
			    &sm : NULL, e) == -1)
				goto done;
			kl_buf_reset(&last);
			if (kl_js_str(&nm, &last) == -1 || last.err)
				goto nomem;
		}
		more = kl_js_get(&top, "HasMoreStreams", &v) &&
		    v.type == KL_JTRUE;
		kl_buf_reset(&token);
		if (!more)
			break;
		if (kl_js_get(&top, "NextToken", &v) && v.type == KL_JSTR &&
		    v.n > 2) {
			if (kl_js_str(&v, &token) == -1 || token.err)
				goto nomem;
		} else if (last.len == 0)
			break;
	}
	r = 0;
	goto done;
nomem:
	kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "%s", strerror(ENOMEM));
done:
	kl_http_resp_free(&resp);
	kl_buf_free(&body);
	kl_buf_free(&token);
	kl_buf_free(&last);
	return r;
}

/*
 * Calls DescribeStreamSummary for s.  On success resp holds the reply
 * and sum spans its StreamDescriptionSummary object.  Returns 0, or -1
 * with e filled (code ResourceNotFoundException for an unknown stream).
 */
int
kl_kinesis_describe(struct kl_aws *a, const struct kl_stream *s,
    struct kl_http_resp *resp, struct kl_jspan *sum, struct kl_err *e)
{
	struct kl_buf body;
	struct kl_jspan top;
	int r = -1;

	kl_buf_init(&body);
	kl_buf_addc(&body, '{');
	kl_stream_members(&body, s);
	kl_buf_addc(&body, '}');
	if (body.err)
		kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "%s",
		    strerror(ENOMEM));
	else if (kl_kinesis_call(a, "DescribeStreamSummary", body.data,
	    body.len, resp, e) == 0 &&
	    reply("DescribeStreamSummary", resp, "StreamDescriptionSummary",
	    &top, sum, e) == 0) {
		if (sum->type == KL_JOBJ)
			r = 0;
		else
			kl_err_set(e, KL_ERR_PERMANENT, resp->status, NULL,
			    "DescribeStreamSummary: summary is not an object");
	}
	kl_buf_free(&body);
	return r;
}

/*
 * Waits until stream s has status want ("ACTIVE"), or, with want NULL,
 * until it is gone, polling DescribeStreamSummary every 250 ms at first,
 * then less often, up to every 5 s, for at most timeout_ms.  A stream
 * not found yet is waited for when want is set (it may be about to be
 * created).  On success with want set, resp holds the last reply and sum
 * its summary.  Returns 0, or -1 with e filled: KL_ERR_TRANSIENT on
 * timeout, KL_ERR_PERMANENT when the stream is going the other way
 * (DELETING while waiting for ACTIVE), KL_ERR_STOPPED.
 */
int
kl_kinesis_wait(struct kl_aws *a, const struct kl_stream *s,
    const char *want, long timeout_ms, struct kl_http_resp *resp,
    struct kl_jspan *sum, struct kl_err *e)
{
	struct kl_jspan st;
	struct kl_buf status;
	long start = kl_mono_ms(), pause = 250, left;
	int r = -1;

	kl_buf_init(&status);
	kl_buf_adds(&status, "not found");
	for (;;) {
		if (kl_kinesis_describe(a, s, resp, sum, e) == 0) {
			kl_buf_reset(&status);
			if (kl_js_get(sum, "StreamStatus", &st))
				kl_js_text(&st, &status);
			if (want != NULL && strcmp(status.data, want) == 0) {
				r = 0;
				break;
			}
			if (want != NULL &&
			    strcmp(status.data, "DELETING") == 0) {
				kl_err_set(e, KL_ERR_PERMANENT, 0, NULL,
				    "stream '%s' is being deleted", s->name);
				break;
			}
			kl_log(KL_INFO, 0, "stream '%s' is %s", s->name,
			    status.data);
		} else if (strcmp(e->code, "ResourceNotFoundException") == 0) {
			if (want == NULL) {
				kl_err_clear(e);
				r = 0;
				break;
			}
			kl_buf_reset(&status);
			kl_buf_adds(&status, "not found");
		} else
			break;
		left = timeout_ms - (kl_mono_ms() - start);
		if (left <= 0) {
			kl_err_set(e, KL_ERR_TRANSIENT, 0, NULL, "timed out "
			    "after %ld s waiting for stream '%s' to %s%s "
			    "(last seen: %s)", timeout_ms / 1000, s->name,
			    want ? "become " : "be deleted", want ? want : "",
			    status.err ? "?" : status.data);
			break;
		}
		if (kl_sleep_ms(pause < left ? pause : left) == -1) {
			kl_err_set(e, KL_ERR_STOPPED, 0, NULL, "stopped");
			break;
		}
		if ((pause *= 2) > 5000)
			pause = 5000;
	}
	kl_buf_free(&status);
	return r;
}
