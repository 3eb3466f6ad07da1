/*
 * t-sts.c - tests for sts.c without a network: the strict XML reader
 * through the three reply parsers (AssumeRole, GetCallerIdentity,
 * ErrorResponse), well-formed and malformed, every truncation of a good
 * reply, that no parse error quotes the reply's secrets, the role ARN and
 * account checks, and the default session name.
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kl.h"
#include "tap.h"

#define NS	"xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\""
#define AKID	"ASIAJEXAMPLEXAMPLE12"
#define SECRET	"wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"
#define TOKEN	"IQoJb3JpZ2luX2VjEXAMPLETOKEN+/abc=="
#define EXP	"2026-11-29T17:46:34Z"

#define CREDS(a, s, t, x)						\
	"<Credentials><AccessKeyId>" a "</AccessKeyId>"			\
	"<SecretAccessKey>" s "</SecretAccessKey>"			\
	"<SessionToken>" t "</SessionToken>"				\
	"<Expiration>" x "</Expiration></Credentials>"
#define GOOD_CREDS	CREDS(AKID, SECRET, TOKEN, EXP)
#define ASSUME(inner)							\
	"<AssumeRoleResponse " NS "><AssumeRoleResult>" inner		\
	"</AssumeRoleResult><ResponseMetadata><RequestId>r-1</RequestId>" \
	"</ResponseMetadata></AssumeRoleResponse>"
#define USER	"<AssumedRoleUser><Arn>arn:aws:sts::123456789012:"	\
	"assumed-role/demo/s1</Arn><AssumedRoleId>AROAEXAMPLE:s1"	\
	"</AssumedRoleId></AssumedRoleUser>"

/* The fake STS's layout, indentation and all. */
static const char pretty[] =
    "<AssumeRoleResponse " NS ">\n"
    "  <AssumeRoleResult>\n"
    "    <AssumedRoleUser>\n"
    "      <Arn>arn:aws:sts::123456789012:assumed-role/demo/s1</Arn>\n"
    "      <AssumedRoleId>AROAEXAMPLE:s1</AssumedRoleId>\n"
    "    </AssumedRoleUser>\n"
    "    <Credentials>\n"
    "      <AccessKeyId>" AKID "</AccessKeyId>\n"
    "      <SecretAccessKey>" SECRET "</SecretAccessKey>\n"
    "      <SessionToken>" TOKEN "</SessionToken>\n"
    "      <Expiration>" EXP "</Expiration>\n"
    "    </Credentials>\n"
    "    <PackedPolicySize>6</PackedPolicySize>\n"
    "  </AssumeRoleResult>\n"
    "  <ResponseMetadata>\n"
    "    <RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId>\n"
    "  </ResponseMetadata>\n"
    "</AssumeRoleResponse>\n";

static int
no_secret(const char *why)
{
	return strstr(why, SECRET) == NULL && strstr(why, TOKEN) == NULL &&
	    strstr(why, "EXAMPLEKEY") == NULL && strstr(why, "TOKEN") == NULL;
}

static void
like_why(const char *why, const char *want)
{
	ok(strstr(why, want) != NULL && no_secret(why), "  the reason says "
	    "'%s': %s", want, why);
}

/* Parses s as an AssumeRole reply; 0 or -1; why left for the caller. */
static int
assume(const char *s, struct kl_creds *c, char **arn, char *why, size_t n)
{
	return kl_sts_parse_assume(s, strlen(s), c, arn, why, n);
}

static void
good_assume(void)
{
	struct kl_creds c;
	char why[200], *arn;
	time_t t;

	kl_time_parse(EXP, &t, NULL);
	is_int(assume(pretty, &c, &arn, why, sizeof(why)), 0,
	    "the fake STS's AssumeRole reply parses");
	is_str(c.akid, AKID, "AccessKeyId");
	is_str(c.secret, SECRET, "SecretAccessKey");
	is_str(c.token, TOKEN, "SessionToken");
	is_int((long long)c.expiration, (long long)t, "Expiration");
	is_str(arn, "arn:aws:sts::123456789012:assumed-role/demo/s1",
	    "AssumedRoleUser/Arn");
	kl_creds_free(&c);
	free(arn);

	is_int(assume("\xef\xbb\xbf<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
	    "\n<!-- a comment -->" ASSUME(CREDS(AKID,
	    "<![CDATA[wJalrXUtnFEMI/K7MDENG/]]>bPxRfiCYzEXAMPLEKEY",
	    "IQoJb3JpZ2luX2VjEXAMPLETOKEN&#43;&#x2F;abc&#61;=", EXP)
	    "<!-- x --><?pi y?>") "\n<!-- end -->\n", &c, &arn, why,
	    sizeof(why)), 0, "declaration, BOM, comments, CDATA, references");
	is_str(c.secret, SECRET, "CDATA joins the text around it");
	is_str(c.token, TOKEN, "character references decode");
	is_str(arn, NULL, "no AssumedRoleUser: no ARN, no error");
	kl_creds_free(&c);

	is_int(assume(ASSUME("<Credentials>\n <AccessKeyId>\n  " AKID
	    "\n </AccessKeyId><SecretAccessKey>" SECRET "</SecretAccessKey>"
	    "<SessionToken>" TOKEN "</SessionToken><Expiration>"
	    "2026-11-29T17:46:34.000Z</Expiration><Extra a='1'/>"
	    "</Credentials><SourceIdentity>x</SourceIdentity>"), &c, NULL, why,
	    sizeof(why)), 0, "blanks around a value, unknown elements, "
	    "milliseconds");
	is_str(c.akid, AKID, "blanks around a value are trimmed");
	kl_creds_free(&c);
	is_int(assume("<sts:AssumeRoleResponse " NS " xmlns:sts='x'>"
	    "<sts:AssumeRoleResult>" GOOD_CREDS "</sts:AssumeRoleResult>"
	    "</sts:AssumeRoleResponse>", &c, NULL, why, sizeof(why)), 0,
	    "prefixed names match by their local part");
	kl_creds_free(&c);
}

static void
bad_assume(void)
{
	static const struct {
		const char *xml;
		const char *why;	/* a part of the expected reason */
		const char *name;
	} cases[] = {
		{ "", "no element", "empty" },
		{ "   \n", "no element", "blanks only" },
		{ "<AssumeRoleResponse " NS "><AssumeRoleResult><Credentials>"
		    "<AccessKeyId>ASIA", "unexpected end", "truncated "
		    "(the fake's malformed reply)" },
		{ ASSUME(GOOD_CREDS) "<x/>", "more after the root",
		    "a second root" },
		{ ASSUME(GOOD_CREDS) "junk", "more after the root",
		    "text after the root" },
		{ "junk" ASSUME(GOOD_CREDS), "text before", "text before" },
		{ "<!DOCTYPE x [<!ENTITY e 'v'>]>" ASSUME(GOOD_CREDS),
		    "document type", "a DOCTYPE" },
		{ ASSUME("<Credentials><AccessKeyId>" AKID "</AccessKeyID>"),
		    "does not match", "mismatched end tag" },
		{ ASSUME(CREDS(AKID, SECRET "&", TOKEN, EXP)), "bare '&'",
		    "a bare ampersand" },
		{ ASSUME(CREDS(AKID, SECRET "&nbsp;", TOKEN, EXP)), "entity",
		    "an HTML entity" },
		{ ASSUME(CREDS(AKID, SECRET "&#0;", TOKEN, EXP)),
		    "does not allow", "&#0;" },
		{ ASSUME(CREDS(AKID, SECRET "&#xD800;", TOKEN, EXP)),
		    "does not allow", "a surrogate reference" },
		{ ASSUME(CREDS(AKID, SECRET "&#1114112;", TOKEN, EXP)),
		    "out of range", "a reference past U+10FFFF" },
		{ ASSUME(CREDS(AKID, SECRET "&#x;", TOKEN, EXP)),
		    "bad character reference", "an empty reference" },
		{ ASSUME(CREDS(AKID, SECRET "\001", TOKEN, EXP)),
		    "control character", "a control character" },
		{ ASSUME(CREDS(AKID, SECRET "\xff", TOKEN, EXP)), "UTF-8",
		    "invalid UTF-8" },
		{ ASSUME(CREDS(AKID, SECRET "<b>x</b>", TOKEN, EXP)),
		    "text beside", "mixed content" },
		{ ASSUME(CREDS(AKID, SECRET "<![CDATA[x", TOKEN, EXP)),
		    "CDATA", "unterminated CDATA" },
		{ ASSUME(CREDS(AKID, SECRET "<!-- x", TOKEN, EXP)),
		    "comment", "unterminated comment" },
		{ "<AssumeRoleResponse xmlns=x>", "quoted", "an unquoted "
		    "attribute" },
		{ "<AssumeRoleResponse a='1' a='2'/>", "repeated",
		    "a repeated attribute" },
		{ "<AssumeRoleResponse a='<'/>", "'<'", "'<' in an attribute" },
		{ "<AssumeRoleResponse" NS "/>", "blank", "no blank before an "
		    "attribute" },
		{ "<1AssumeRoleResponse/>", "name", "a name starting with a "
		    "digit" },
		{ "<AssumeRoleResponse/>", "namespace", "no namespace" },
		{ "<AssumeRoleResponse xmlns='https://example.com/'/>",
		    "namespace", "another namespace" },
		{ "<ErrorResponse " NS "><Error><Code>X</Code></Error>"
		    "</ErrorResponse>", "not <AssumeRoleResponse>",
		    "an ErrorResponse" },
		{ "<AssumeRoleResponse " NS "/>", "no <AssumeRoleResult>",
		    "no result" },
		{ ASSUME(""), "no <Credentials>", "no Credentials" },
		{ ASSUME(GOOD_CREDS GOOD_CREDS), "more than one <Credentials>",
		    "two Credentials" },
		{ ASSUME("<Credentials><AccessKeyId>" AKID "</AccessKeyId>"
		    "<SecretAccessKey>" SECRET "</SecretAccessKey>"
		    "<Expiration>" EXP "</Expiration></Credentials>"),
		    "no <SessionToken>", "no SessionToken" },
		{ ASSUME(CREDS(AKID, SECRET, TOKEN "</SessionToken>"
		    "<SessionToken>" TOKEN, EXP)), "more than one "
		    "<SessionToken>", "two SessionTokens" },
		{ ASSUME(CREDS(AKID, "<x>" SECRET "</x>", TOKEN, EXP)),
		    "holds elements", "an element where a value goes" },
		{ ASSUME(CREDS(AKID, "", TOKEN, EXP)), "SecretAccessKey",
		    "an empty secret" },
		{ ASSUME(CREDS(AKID, "wJal rXUt", TOKEN, EXP)),
		    "SecretAccessKey", "a secret with a blank" },
		{ ASSUME(CREDS(AKID, SECRET, "IQo Jb3", EXP)), "SessionToken",
		    "a token with a blank" },
		{ ASSUME(CREDS("ASIA-BAD-KEY-ID-123", SECRET, TOKEN, EXP)),
		    "AccessKeyId", "a key id with a dash" },
		{ ASSUME(CREDS("ASIASHORT", SECRET, TOKEN, EXP)),
		    "AccessKeyId", "a key id too short" },
		{ ASSUME(CREDS(AKID, SECRET, TOKEN, "tomorrow")), "Expiration",
		    "an Expiration that is no time" },
		{ ASSUME("<AssumedRoleUser><Arn>a</Arn><Arn>b</Arn>"
		    "</AssumedRoleUser>" GOOD_CREDS), "more than one <Arn>",
		    "two assumed-role ARNs" },
	};
	struct kl_creds c;
	char why[200], *arn;
	size_t i;
	int deep;
	char buf[2048];

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		why[0] = '\0';
		c.akid = (char *)"x";
		is_int(assume(cases[i].xml, &c, &arn, why, sizeof(why)), -1,
		    "refused: %s", cases[i].name);
		ok(strstr(why, cases[i].why) != NULL && no_secret(why),
		    "  the reason says '%s', no secret: %s", cases[i].why,
		    why);
		ok(c.akid == NULL && c.secret == NULL && arn == NULL,
		    "  nothing is left filled in");
	}
	buf[0] = '\0';
	for (deep = 0; deep < 20; deep++)
		strcat(buf, "<a>");
	strcat(buf, "x");
	for (deep = 0; deep < 20; deep++)
		strcat(buf, "</a>");
	is_int(assume(buf, &c, NULL, why, sizeof(why)), -1, "20 levels deep: "
	    "refused");
	like_why(why, "too deep");
}

static void
truncations(void)
{
	struct kl_creds c;
	char why[200];
	size_t n, len = strlen(pretty), bad = 0, leak = 0, good = 0;

	for (n = 0; n <= len; n++) {
		if (kl_sts_parse_assume(pretty, n, &c, NULL, why,
		    sizeof(why)) == 0) {
			good++;
			kl_creds_free(&c);
			continue;
		}
		bad++;
		leak += !no_secret(why);
	}
	/* Only the whole reply, and the reply without its last newline. */
	is_int((long long)good, 2, "every truncation of the reply is refused "
	    "but the whole and the whole less its newline");
	is_int((long long)leak, 0, "no reason quotes the secret or token "
	    "(%zu refusals)", bad);
}

static void
identity(void)
{
	struct kl_sts_ident id;
	char why[200];
	const char *good = "<GetCallerIdentityResponse " NS ">\n"
	    "  <GetCallerIdentityResult>\n"
	    "    <Arn>arn:aws:iam::123456789012:user/test</Arn>\n"
	    "    <UserId>AIDAEXAMPLE</UserId>\n"
	    "    <Account>123456789012</Account>\n"
	    "  </GetCallerIdentityResult>\n"
	    "  <ResponseMetadata><RequestId>x</RequestId></ResponseMetadata>\n"
	    "</GetCallerIdentityResponse>\n";
	const char *nine = "<GetCallerIdentityResponse " NS ">"
	    "<GetCallerIdentityResult><Arn>arn:aws:iam::111111111:user/t"
	    "</Arn><UserId>A</UserId><Account>111111111</Account>"
	    "</GetCallerIdentityResult></GetCallerIdentityResponse>";
	const char *noarn = "<GetCallerIdentityResponse " NS ">"
	    "<GetCallerIdentityResult><UserId>A</UserId><Account>"
	    "123456789012</Account></GetCallerIdentityResult>"
	    "</GetCallerIdentityResponse>";

	is_int(kl_sts_parse_identity(good, strlen(good), &id, why,
	    sizeof(why)), 0, "GetCallerIdentity parses");
	is_str(id.account, "123456789012", "Account");
	is_str(id.arn, "arn:aws:iam::123456789012:user/test", "Arn");
	is_str(id.user_id, "AIDAEXAMPLE", "UserId");
	kl_sts_ident_free(&id);
	is_int(kl_sts_parse_identity(nine, strlen(nine), &id, why,
	    sizeof(why)), -1, "a 9-digit Account is refused");
	like_why(why, "12 digits");
	is_int(kl_sts_parse_identity(noarn, strlen(noarn), &id, why,
	    sizeof(why)), -1, "no Arn is refused");
	like_why(why, "no <Arn>");
	is_int(kl_sts_parse_identity(pretty, strlen(pretty), &id, why,
	    sizeof(why)), -1, "an AssumeRole reply is no identity");
	ok(id.arn == NULL && no_secret(why), "  nothing filled, no secret");
	is_int(kl_sts_parse_identity(good, 60, &id, why, sizeof(why)), -1,
	    "a truncated identity is refused");
}

static void
errors(void)
{
	char code[128], msg[512], why[200];
	const char *fake = "<ErrorResponse " NS ">\n  <Error>\n"
	    "    <Type>Sender</Type>\n    <Code>AccessDenied</Code>\n"
	    "    <Message>User: arn:aws:iam::123456789012:user/test is not "
	    "authorized to perform: sts:AssumeRole on resource: &quot;x&quot;"
	    " &amp; &lt;y&gt; caf&#233;</Message>\n  </Error>\n"
	    "  <RequestId>r</RequestId>\n</ErrorResponse>\n";
	const char *nomsg = "<ErrorResponse " NS "><Error><Code>Throttling"
	    "</Code></Error></ErrorResponse>";
	const char *nocode = "<ErrorResponse " NS "><Error><Message>m"
	    "</Message></Error></ErrorResponse>";
	const char *badcode = "<ErrorResponse " NS "><Error><Code>Access "
	    "Denied</Code></Error></ErrorResponse>";
	const char *html = "<html><body>502 Bad Gateway</body></html>";

	is_int(kl_sts_parse_error(fake, strlen(fake), code, sizeof(code), msg,
	    sizeof(msg), why, sizeof(why)), 0, "ErrorResponse parses");
	is_str(code, "AccessDenied", "Error/Code");
	is_str(msg, "User: arn:aws:iam::123456789012:user/test is not "
	    "authorized to perform: sts:AssumeRole on resource: \"x\" & <y> "
	    "caf\xc3\xa9", "Error/Message, entities and references decoded");
	is_int(kl_sts_parse_error(nomsg, strlen(nomsg), code, sizeof(code),
	    msg, sizeof(msg), why, sizeof(why)), 0, "no Message: parses");
	ok(strcmp(code, "Throttling") == 0 && msg[0] == '\0',
	    "  the code, and an empty message");
	is_int(kl_sts_parse_error(nocode, strlen(nocode), code, sizeof(code),
	    msg, sizeof(msg), why, sizeof(why)), -1, "no Code: refused");
	like_why(why, "no <Code>");
	is_int(kl_sts_parse_error(badcode, strlen(badcode), code, sizeof(code),
	    msg, sizeof(msg), why, sizeof(why)), -1, "a Code with a blank: "
	    "refused");
	is_int(kl_sts_parse_error(html, strlen(html), code, sizeof(code),
	    msg, sizeof(msg), why, sizeof(why)), -1, "an HTML page: refused");
	like_why(why, "not <ErrorResponse>");
	is_int(kl_sts_parse_error(fake, 100, code, sizeof(code), msg,
	    sizeof(msg), why, sizeof(why)), -1, "a truncated ErrorResponse: "
	    "refused");
	like_why(why, "unexpected end");
}

static void
checks(void)
{
	char why[300], s[80];
	size_t i;

	is_int(kl_sts_role_arn_check("arn:aws:iam::123456789012:role/demo",
	    why, sizeof(why)), 0, "a role ARN");
	is_int(kl_sts_role_arn_check("arn:aws:iam::123456789012:role/"
	    "Lytics/WriteToKinesis/LyticsWriteToKinesis", why, sizeof(why)),
	    0, "a role ARN with a path");
	is_int(kl_sts_role_arn_check("arn:aws-cn:iam::123456789012:role/x",
	    why, sizeof(why)), 0, "the aws-cn partition");
	is_int(kl_sts_role_arn_check("arn:aws:iam::111111111:role/Lytics/"
	    "WriteToKinesis/LyticsWriteToKinesis", why, sizeof(why)), -1,
	    "the 9-digit account of Lytics' example is refused");
	ok(strstr(why, "has 9 digits") != NULL && strstr(why, "have 12") &&
	    strstr(why, "placeholder") != NULL, "  saying why: %s", why);
	is_int(kl_sts_role_arn_check("arn:aws:iam::1234567890123:role/x", why,
	    sizeof(why)), -1, "13 digits refused");
	like_why(why, "has 13 digits");
	is_int(kl_sts_role_arn_check("arn:aws:iam:123456789012:role/x", why,
	    sizeof(why)), -1, "a missing ':' refused");
	like_why(why, "arn:aws:iam::ACCOUNT:role/");
	is_int(kl_sts_role_arn_check("arn:aws:iam::123456789012:user/x", why,
	    sizeof(why)), -1, "a user ARN refused");
	is_int(kl_sts_role_arn_check("arn:aws:iam::123456789012:role/", why,
	    sizeof(why)), -1, "no role name refused");
	is_int(kl_sts_role_arn_check("arn:aws:iam::123456789012:role/a b",
	    why, sizeof(why)), -1, "a blank refused");
	is_int(kl_sts_role_arn_check("arn:aws:iam::123456789012:role/a!b",
	    why, sizeof(why)), -1, "'!' in the name refused");
	like_why(why, "role name");
	is_int(kl_sts_role_arn_check("role/demo", why, sizeof(why)), -1,
	    "not an ARN refused");
	is_int(kl_sts_account_check("123456789012", why, sizeof(why)), 0,
	    "a 12-digit account");
	is_int(kl_sts_account_check("111111111", why, sizeof(why)), -1,
	    "a 9-digit account refused");
	like_why(why, "111111111");
	is_int(kl_sts_account_check("12345678901x", why, sizeof(why)), -1,
	    "an account with a letter refused");

	setenv("USER", "J\xc3\xa9r\xc3\xb4me O'Neil/the-admin-of-a-very-long"
	    "-user-name-here", 1);
	kl_sts_session_name(s, sizeof(s), (time_t)1795000000);
	ok(strlen(s) >= 2 && strlen(s) <= 64, "session name: 2-64 characters "
	    "(%zu)", strlen(s));
	for (i = 0; s[i] != '\0'; i++)
		if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789_+=,.@-", s[i]) == NULL)
			break;
	ok(s[i] == '\0' && kl_session_name_ok(s), "session name: only "
	    "[A-Za-z0-9_+=,.@-]: %s", s);
	ok(strncmp(s, "kl-J", 4) == 0 && strstr(s, "-1795000000") != NULL,
	    "session name: kl-USER-EPOCH");
}

int
main(void)
{
	good_assume();
	bad_assume();
	truncations();
	identity();
	errors();
	checks();
	return done_testing();
}
