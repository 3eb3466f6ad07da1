/*
 * stsxml.c - reading STS replies: a small, strict XML reader written for
 * the fixed shapes STS answers with, and the three parsers on top of it
 * (AssumeRole, GetCallerIdentity, ErrorResponse; aws-protocol.md §2).
 *
 * Design decisions:
 *
 * - Well-formed XML only: matching tags, quoted attributes without '<',
 *   the five entities and character references (to characters XML
 *   allows), CDATA, comments and processing instructions; valid UTF-8;
 *   no document type declaration (so no entity of the reply's own); no
 *   text beside child elements; at most XML_DEPTH levels, XML_NODES
 *   elements and REPLY_MAX bytes.  Anything else is refused, with the
 *   line and what was expected.
 * - The document becomes a flat array of elements in document order,
 *   each with its parent, its local name (a prefix is dropped) and its
 *   text.  Lookups go by path from a parent; an element a shape needs
 *   once must be there exactly once (a second one is an error, not a
 *   choice), values are trimmed of blanks, unknown elements are ignored.
 *   The root must be in STS's namespace.
 * - Messages never quote the reply: they give a line number and a name
 *   from this file.  Element text, which holds the secret key and the
 *   session token, is read in one piece where it can be (no realloc
 *   copies) and wiped when the document is freed.
 */
#include <config.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kl.h"

#define REPLY_MAX	(1024 * 1024)	/* an STS reply we parse */
#define XML_NODES	256
#define XML_DEPTH	16

/* The XML reader. */

struct xnode {
	const char	*qname;		/* the tag as written, into the input */
	size_t		 qlen;
	const char	*name;		/* its local part */
	size_t		 nlen;
	int		 parent;	/* -1 for the root */
	int		 elems;		/* child elements */
	int		 textful;	/* non-blank character data */
	struct kl_buf	 text;		/* character data, decoded */
	char		*xmlns;		/* the xmlns attribute, or NULL */
};

struct xdoc {
	struct xnode	*n;
	int		 count;
	int		 cap;
};

struct xp {
	const char	*start, *p, *end;
	struct xdoc	*doc;
	char		*why;
	size_t		 whysz;
};

static int
xfail(struct xp *x, const char *what)
{
	const char *s;
	int line = 1;

	for (s = x->start; s < x->p && s < x->end; s++)
		line += *s == '\n';
	snprintf(x->why, x->whysz, "line %d: %s", line, what);
	return -1;
}

static int
at(const struct xp *x, const char *s)
{
	size_t n = strlen(s);

	return (size_t)(x->end - x->p) >= n && memcmp(x->p, s, n) == 0;
}

static int
blank(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void
skip_blank(struct xp *x)
{
	while (x->p < x->end && blank(*x->p))
		x->p++;
}

/* Skips to just past the terminator t; -1 if the input ends first. */
static int
skip_past(struct xp *x, const char *t, const char *what)
{
	const char *f;

	f = memmem(x->p, (size_t)(x->end - x->p), t, strlen(t));
	if (f == NULL)
		return xfail(x, what);
	x->p = f + strlen(t);
	return 0;
}

/* Comments, processing instructions and blanks outside the root. */
static int
skip_misc(struct xp *x)
{
	for (;;) {
		skip_blank(x);
		if (at(x, "<!--")) {
			x->p += 4;
			if (skip_past(x, "-->", "unterminated comment") == -1)
				return -1;
		} else if (at(x, "<?")) {
			if (skip_past(x, "?>", "unterminated processing "
			    "instruction") == -1)
				return -1;
		} else if (at(x, "<!"))
			return xfail(x, "document type declarations are not "
			    "accepted");
		else
			return 0;
	}
}

static int
name_start(int c)
{
	return isalpha((unsigned char)c) || c == '_' || c == ':';
}

static int
name_char(int c)
{
	return name_start(c) || isdigit((unsigned char)c) || c == '-' ||
	    c == '.';
}

static int
parse_name(struct xp *x, const char **s, size_t *n)
{
	if (x->p >= x->end || !name_start(*x->p))
		return xfail(x, "expected a name");
	*s = x->p;
	while (x->p < x->end && name_char(*x->p))
		x->p++;
	*n = (size_t)(x->p - *s);
	return 0;
}

static void
put_utf8(struct kl_buf *b, unsigned long c)
{
	if (c < 0x80)
		kl_buf_addc(b, (int)c);
	else if (c < 0x800) {
		kl_buf_addc(b, (int)(0xc0 | c >> 6));
		kl_buf_addc(b, (int)(0x80 | (c & 0x3f)));
	} else if (c < 0x10000) {
		kl_buf_addc(b, (int)(0xe0 | c >> 12));
		kl_buf_addc(b, (int)(0x80 | (c >> 6 & 0x3f)));
		kl_buf_addc(b, (int)(0x80 | (c & 0x3f)));
	} else {
		kl_buf_addc(b, (int)(0xf0 | c >> 18));
		kl_buf_addc(b, (int)(0x80 | (c >> 12 & 0x3f)));
		kl_buf_addc(b, (int)(0x80 | (c >> 6 & 0x3f)));
		kl_buf_addc(b, (int)(0x80 | (c & 0x3f)));
	}
}

/* An entity or character reference at x->p ('&'), decoded into b. */
static int
parse_ref(struct xp *x, struct kl_buf *b)
{
	static const struct { const char *e; char c; } ents[] = {
		{ "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' },
		{ "&quot;", '"' }, { "&apos;", '\'' },
	};
	unsigned long c = 0;
	size_t i;
	int hex, digits = 0;

	for (i = 0; i < sizeof(ents) / sizeof(ents[0]); i++)
		if (at(x, ents[i].e)) {
			kl_buf_addc(b, ents[i].c);
			x->p += strlen(ents[i].e);
			return 0;
		}
	if (!at(x, "&#"))
		return xfail(x, "unknown entity or bare '&'");
	x->p += 2;
	hex = x->p < x->end && *x->p == 'x';
	x->p += hex;
	for (; x->p < x->end && *x->p != ';'; x->p++, digits++) {
		if (hex ? !isxdigit((unsigned char)*x->p) :
		    !isdigit((unsigned char)*x->p))
			return xfail(x, "bad character reference");
		c = c * (hex ? 16 : 10) + (unsigned long)(isdigit(
		    (unsigned char)*x->p) ? *x->p - '0' :
		    tolower((unsigned char)*x->p) - 'a' + 10);
		if (c > 0x10ffff)
			return xfail(x, "character reference out of range");
	}
	if (x->p >= x->end || digits == 0)
		return xfail(x, "bad character reference");
	x->p++;
	if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') ||
	    (c >= 0xd800 && c <= 0xdfff) || c == 0xfffe || c == 0xffff)
		return xfail(x, "character reference to a character XML "
		    "does not allow");
	put_utf8(b, c);
	return 0;
}

static struct xnode *
new_node(struct xp *x, int parent)
{
	struct xdoc *d = x->doc;
	struct xnode *nn;

	if (d->count >= XML_NODES) {
		xfail(x, "too many elements");
		return NULL;
	}
	if (d->count == d->cap) {
		nn = reallocarray(d->n, (size_t)d->cap + 32, sizeof(*nn));
		if (nn == NULL) {
			xfail(x, "out of memory");
			return NULL;
		}
		d->n = nn;
		d->cap += 32;
	}
	nn = &d->n[d->count++];
	memset(nn, 0, sizeof(*nn));
	kl_buf_init(&nn->text);
	nn->parent = parent;
	if (parent >= 0)
		d->n[parent].elems++;
	return nn;
}

/* The attributes of a start tag, up to and including '>' or "/>". */
static int
parse_attrs(struct xp *x, int me, int *empty)
{
	const char *names[16], *an;
	size_t lens[16], al;
	struct kl_buf v;
	int na = 0, i, q;

	for (;;) {
		const char *before = x->p;

		skip_blank(x);
		if (at(x, "/>") || at(x, ">")) {
			*empty = *x->p == '/';
			x->p += *empty ? 2 : 1;
			return 0;
		}
		if (x->p == before)
			return xfail(x, x->p >= x->end ? "unexpected end of "
			    "the reply" : "expected blank, '>' or '/>' in a "
			    "start tag");
		if (parse_name(x, &an, &al) == -1)
			return -1;
		for (i = 0; i < na; i++)
			if (lens[i] == al && memcmp(names[i], an, al) == 0)
				return xfail(x, "repeated attribute");
		if (na == 16)
			return xfail(x, "too many attributes");
		names[na] = an;
		lens[na++] = al;
		skip_blank(x);
		if (x->p >= x->end || *x->p++ != '=')
			return xfail(x, "expected '=' after an attribute name");
		skip_blank(x);
		if (x->p >= x->end || (*x->p != '"' && *x->p != '\''))
			return xfail(x, "expected a quoted attribute value");
		q = *x->p++;
		kl_buf_init(&v);
		while (x->p < x->end && *x->p != q) {
			if (*x->p == '<') {
				kl_buf_free(&v);
				return xfail(x, "'<' in an attribute value");
			}
			if (*x->p == '&') {
				if (parse_ref(x, &v) == -1) {
					kl_buf_free(&v);
					return -1;
				}
			} else
				kl_buf_addc(&v, *x->p++);
		}
		if (x->p >= x->end) {
			kl_buf_free(&v);
			return xfail(x, "unterminated attribute value");
		}
		x->p++;
		if (al == 5 && memcmp(an, "xmlns", 5) == 0) {
			kl_buf_add(&v, "", 0);
			x->doc->n[me].xmlns = kl_buf_steal(&v);
		} else
			kl_buf_free(&v);
	}
}

/* Character data up to the next '<', '&' or the end, into node me. */
static int
parse_text(struct xp *x, int me)
{
	const char *s = x->p;
	struct xnode *n = &x->doc->n[me];

	while (x->p < x->end && *x->p != '<' && *x->p != '&') {
		if ((unsigned char)*x->p < 0x20 && !blank(*x->p))
			return xfail(x, "a control character in text");
		if (!blank(*x->p))
			n->textful = 1;
		x->p++;
	}
	if (kl_buf_reserve(&n->text, (size_t)(x->p - s)) == -1)
		return xfail(x, "out of memory");
	kl_buf_add(&n->text, s, (size_t)(x->p - s));
	return 0;
}

/* An element at x->p ('<'), its content and its end tag. */
static int
parse_elem(struct xp *x, int parent, int depth)
{
	struct xnode *n;
	const char *f;
	size_t len;
	int me, empty;

	if (depth > XML_DEPTH)
		return xfail(x, "elements nested too deep");
	if ((n = new_node(x, parent)) == NULL)
		return -1;
	me = (int)(n - x->doc->n);
	x->p++;
	if (parse_name(x, &n->qname, &n->qlen) == -1)
		return -1;
	f = memchr(n->qname, ':', n->qlen);
	n->name = f != NULL ? f + 1 : n->qname;
	n->nlen = n->qlen - (size_t)(n->name - n->qname);
	if (n->nlen == 0)
		return xfail(x, "an empty local name");
	if (parse_attrs(x, me, &empty) == -1)
		return -1;
	while (!empty) {
		n = &x->doc->n[me];
		if (x->p >= x->end)
			return xfail(x, "unexpected end of the reply");
		if (at(x, "</")) {
			x->p += 2;
			if (parse_name(x, &f, &len) == -1)
				return -1;
			if (len != n->qlen || memcmp(f, n->qname, len) != 0)
				return xfail(x, "end tag does not match its "
				    "start tag");
			skip_blank(x);
			if (x->p >= x->end || *x->p++ != '>')
				return xfail(x, "expected '>' to end an end tag");
			break;
		} else if (at(x, "<!--")) {
			x->p += 4;
			if (skip_past(x, "-->", "unterminated comment") == -1)
				return -1;
		} else if (at(x, "<![CDATA[")) {
			x->p += 9;
			f = memmem(x->p, (size_t)(x->end - x->p), "]]>", 3);
			if (f == NULL)
				return xfail(x, "unterminated CDATA section");
			kl_buf_add(&n->text, x->p, (size_t)(f - x->p));
			n->textful |= f > x->p;
			x->p = f + 3;
		} else if (at(x, "<?")) {
			if (skip_past(x, "?>", "unterminated processing "
			    "instruction") == -1)
				return -1;
		} else if (at(x, "<!"))
			return xfail(x, "a declaration inside an element");
		else if (*x->p == '<') {
			if (parse_elem(x, me, depth + 1) == -1)
				return -1;
		} else if (*x->p == '&') {
			if (parse_ref(x, &n->text) == -1)
				return -1;
			n->textful = 1;
		} else if (parse_text(x, me) == -1)
			return -1;
	}
	n = &x->doc->n[me];
	if (n->text.err)
		return xfail(x, "out of memory");
	if (n->elems > 0 && n->textful)
		return xfail(x, "text beside child elements");
	return 0;
}

static void
xml_free(struct xdoc *d)
{
	int i;

	for (i = 0; i < d->count; i++) {
		kl_buf_wipe(&d->n[i].text);
		free(d->n[i].xmlns);
	}
	free(d->n);
	memset(d, 0, sizeof(*d));
}

/* Parses p[0..n) into d (freed here on failure).  Returns 0 or -1. */
static int
xml_parse(const char *p, size_t n, struct xdoc *d, char *why, size_t whysz)
{
	struct xp x;

	memset(d, 0, sizeof(*d));
	x.start = x.p = p;
	x.end = p + n;
	x.doc = d;
	x.why = why;
	x.whysz = whysz;
	if (n > REPLY_MAX)
		return xfail(&x, "the reply is too large");
	if (!kl_utf8_valid((const unsigned char *)p, n))
		return xfail(&x, "not valid UTF-8");
	if (n >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
		x.p += 3;
	if (skip_misc(&x) == -1)
		goto bad;
	if (x.p >= x.end || *x.p != '<') {
		xfail(&x, x.p >= x.end ? "no element" :
		    "text before the root element");
		goto bad;
	}
	if (parse_elem(&x, -1, 0) == -1 || skip_misc(&x) == -1)
		goto bad;
	if (x.p != x.end) {
		xfail(&x, "more after the root element");
		goto bad;
	}
	return 0;
bad:
	xml_free(d);
	return -1;
}

static int
named(const struct xnode *n, const char *name)
{
	return n->nlen == strlen(name) && memcmp(n->name, name, n->nlen) == 0;
}

/*
 * The child of parent named name: its index, or -1 with why (missing, or
 * more than one; missing is no error when optional).
 */
static int
child(const struct xdoc *d, int parent, const char *name, int optional,
    char *why, size_t whysz)
{
	int i, found = -1;

	for (i = parent + 1; i < d->count; i++) {
		if (d->n[i].parent != parent || !named(&d->n[i], name))
			continue;
		if (found != -1) {
			snprintf(why, whysz, "more than one <%s>", name);
			return -2;
		}
		found = i;
	}
	if (found == -1 && !optional)
		snprintf(why, whysz, "no <%s>", name);
	return found;
}

/*
 * The text of the leaf at path (names separated by '/') under parent,
 * trimmed of blanks: a pointer into d, or NULL with why.  With optional,
 * a missing element gives NULL and why "".
 */
static const char *
leaf(struct xdoc *d, int parent, const char *path, int optional, char *why,
    size_t whysz)
{
	char name[64];
	const char *s = path, *slash;
	struct kl_buf *t;
	size_t k;
	int i = parent;

	why[0] = '\0';
	for (;;) {
		slash = strchr(s, '/');
		k = slash != NULL ? (size_t)(slash - s) : strlen(s);
		snprintf(name, sizeof(name), "%.*s", (int)k, s);
		if ((i = child(d, i, name, optional, why, whysz)) < 0)
			return NULL;
		if (slash == NULL)
			break;
		s = slash + 1;
	}
	if (d->n[i].elems > 0) {
		snprintf(why, whysz, "<%s> holds elements, not a value", name);
		return NULL;
	}
	t = &d->n[i].text;
	if (kl_buf_reserve(t, 0) == -1) {
		snprintf(why, whysz, "out of memory");
		return NULL;
	}
	while (t->len > 0 && blank(t->data[t->len - 1]))
		t->data[--t->len] = '\0';
	for (k = 0; blank(t->data[k]); k++)
		;
	return t->data + k;
}

/* Checks that d's root is <root xmlns="KL_STS_NS">. */
static int
root_is(const struct xdoc *d, const char *root, char *why, size_t whysz)
{
	if (!named(&d->n[0], root)) {
		snprintf(why, whysz, "the root element is not <%s>", root);
		return -1;
	}
	if (d->n[0].xmlns == NULL || strcmp(d->n[0].xmlns, KL_STS_NS) != 0) {
		snprintf(why, whysz, "<%s> is not in the namespace %s", root,
		    KL_STS_NS);
		return -1;
	}
	return 0;
}

/* Printable ASCII without blanks, 1 to max bytes. */
static int
token_ok(const char *s, size_t max)
{
	size_t n;

	for (n = 0; s[n] != '\0'; n++)
		if (s[n] <= ' ' || s[n] > '~')
			return 0;
	return n > 0 && n <= max;
}

static int
word_ok(const char *s, size_t min, size_t max)
{
	size_t n;

	for (n = 0; s[n] != '\0'; n++)
		if (!isalnum((unsigned char)s[n]) && s[n] != '_')
			return 0;
	return n >= min && n <= max;
}

/* Parsing STS replies. */

/*
 * Parses an AssumeRole reply body p[0..n) into out (the caller frees it
 * with kl_creds_free, also after a failure) and, if arn is not NULL, the
 * assumed-role user's ARN into *arn (malloc'd; NULL if absent).  Returns
 * 0, or -1 with why, which never holds a piece of the reply.
 */
int
kl_sts_parse_assume(const char *p, size_t n, struct kl_creds *out,
    char **arn, char *why, size_t whysz)
{
	static const char *const f[] = {
		"AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration",
	};
	const char *v[4], *a;
	struct xdoc d;
	int res, cr, i, r = -1;

	memset(out, 0, sizeof(*out));
	if (arn != NULL)
		*arn = NULL;
	if (xml_parse(p, n, &d, why, whysz) == -1)
		return -1;
	if (root_is(&d, "AssumeRoleResponse", why, whysz) == -1 ||
	    (res = child(&d, 0, "AssumeRoleResult", 0, why, whysz)) < 0 ||
	    (cr = child(&d, res, "Credentials", 0, why, whysz)) < 0)
		goto done;
	for (i = 0; i < 4; i++)
		if ((v[i] = leaf(&d, cr, f[i], 0, why, whysz)) == NULL)
			goto done;
	if (!word_ok(v[0], 16, 128))
		snprintf(why, whysz, "<AccessKeyId> is not 16-128 letters and "
		    "digits");
	else if (!token_ok(v[1], 1024))
		snprintf(why, whysz, "<SecretAccessKey> is empty or has blanks");
	else if (!token_ok(v[2], 65536))
		snprintf(why, whysz, "<SessionToken> is empty or has blanks");
	else if (kl_time_parse(v[3], &out->expiration, NULL) == -1)
		snprintf(why, whysz, "<Expiration> is not an ISO 8601 time");
	else if ((a = leaf(&d, res, "AssumedRoleUser/Arn", 1, why,
	    whysz)) == NULL && why[0] != '\0')
		;
	else if ((out->akid = strdup(v[0])) == NULL ||
	    (out->secret = strdup(v[1])) == NULL ||
	    (out->token = strdup(v[2])) == NULL ||
	    (arn != NULL && a != NULL && (*arn = strdup(a)) == NULL))
		snprintf(why, whysz, "out of memory");
	else
		r = 0;
done:
	if (r == -1) {
		kl_creds_free(out);
		if (arn != NULL) {
			free(*arn);
			*arn = NULL;
		}
	}
	xml_free(&d);
	return r;
}

/* Frees what id holds. */
void
kl_sts_ident_free(struct kl_sts_ident *id)
{
	free(id->account);
	free(id->arn);
	free(id->user_id);
	memset(id, 0, sizeof(*id));
}

/*
 * Parses a GetCallerIdentity reply p[0..n) into id (the caller frees it
 * with kl_sts_ident_free).  Returns 0, or -1 with why.
 */
int
kl_sts_parse_identity(const char *p, size_t n, struct kl_sts_ident *id,
    char *why, size_t whysz)
{
	const char *acct, *arn, *uid;
	struct xdoc d;
	int res, r = -1;

	memset(id, 0, sizeof(*id));
	if (xml_parse(p, n, &d, why, whysz) == -1)
		return -1;
	if (root_is(&d, "GetCallerIdentityResponse", why, whysz) == -1 ||
	    (res = child(&d, 0, "GetCallerIdentityResult", 0, why,
	    whysz)) < 0 ||
	    (arn = leaf(&d, res, "Arn", 0, why, whysz)) == NULL ||
	    (uid = leaf(&d, res, "UserId", 0, why, whysz)) == NULL ||
	    (acct = leaf(&d, res, "Account", 0, why, whysz)) == NULL)
		goto done;
	if (strlen(acct) != 12 || strspn(acct, "0123456789") != 12)
		snprintf(why, whysz, "<Account> is not 12 digits");
	else if (strncmp(arn, "arn:", 4) != 0 || !token_ok(arn, 2048))
		snprintf(why, whysz, "<Arn> is not an ARN");
	else if (!token_ok(uid, 256))
		snprintf(why, whysz, "<UserId> is empty or has blanks");
	else if ((id->account = strdup(acct)) == NULL ||
	    (id->arn = strdup(arn)) == NULL ||
	    (id->user_id = strdup(uid)) == NULL)
		snprintf(why, whysz, "out of memory");
	else
		r = 0;
done:
	if (r == -1)
		kl_sts_ident_free(id);
	xml_free(&d);
	return r;
}

/*
 * Parses an STS <ErrorResponse> p[0..n): its Error/Code into code and
 * Error/Message (may be absent: "") into msg, each cut to fit.  Returns
 * 0, or -1 with why.
 */
int
kl_sts_parse_error(const char *p, size_t n, char *code, size_t codesz,
    char *msg, size_t msgsz, char *why, size_t whysz)
{
	const char *c, *m;
	struct xdoc d;
	int err, r = -1;

	code[0] = msg[0] = '\0';
	if (xml_parse(p, n, &d, why, whysz) == -1)
		return -1;
	if (root_is(&d, "ErrorResponse", why, whysz) == -1 ||
	    (err = child(&d, 0, "Error", 0, why, whysz)) < 0 ||
	    (c = leaf(&d, err, "Code", 0, why, whysz)) == NULL)
		goto done;
	if ((m = leaf(&d, err, "Message", 1, why, whysz)) == NULL &&
	    why[0] != '\0')
		goto done;
	if (!word_ok(c, 1, 128)) {
		snprintf(why, whysz, "<Code> is not a word");
		goto done;
	}
	snprintf(code, codesz, "%s", c);
	snprintf(msg, msgsz, "%s", m != NULL ? m : "");
	r = 0;
done:
	xml_free(&d);
	return r;
}
