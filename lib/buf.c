/*
 * buf.c - growable byte buffers and header lists.
 *
 * A struct kl_buf keeps a sticky error flag instead of returning a status
 * from every append: callers build a whole request or record, then check
 * b.err once.  The data is always NUL-terminated so it can be handed to
 * C string functions, but it may also hold NUL bytes.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kl.h"

void
kl_buf_init(struct kl_buf *b)
{
	b->data = NULL;
	b->len = b->cap = 0;
	b->err = 0;
}

void
kl_buf_free(struct kl_buf *b)
{
	free(b->data);
	kl_buf_init(b);
}

/* Like kl_buf_free, but first overwrites the bytes: for secrets. */
void
kl_buf_wipe(struct kl_buf *b)
{
	if (b->data != NULL)
		explicit_bzero(b->data, b->cap);
	kl_buf_free(b);
}

void
kl_buf_reset(struct kl_buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

/*
 * Makes room for n more bytes plus the terminating NUL.  Returns 0, or -1
 * with errno ENOMEM and b->err set.
 */
int
kl_buf_reserve(struct kl_buf *b, size_t n)
{
	size_t cap;
	char *p;

	if (b->err)
		return -1;
	if (n < b->cap - b->len && b->data != NULL)
		return 0;
	if (n > SIZE_MAX / 2 - b->len) {
		b->err = 1;
		errno = ENOMEM;
		return -1;
	}
	cap = b->cap ? b->cap : 256;
	while (cap - b->len <= n)
		cap *= 2;
	if ((p = realloc(b->data, cap)) == NULL) {
		b->err = 1;
		errno = ENOMEM;
		return -1;
	}
	b->data = p;
	b->cap = cap;
	return 0;
}

void
kl_buf_add(struct kl_buf *b, const void *p, size_t n)
{
	if (kl_buf_reserve(b, n) == -1)
		return;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
kl_buf_adds(struct kl_buf *b, const char *s)
{
	kl_buf_add(b, s, strlen(s));
}

void
kl_buf_addc(struct kl_buf *b, int c)
{
	if (kl_buf_reserve(b, 1) == -1)
		return;
	b->data[b->len++] = (char)c;
	b->data[b->len] = '\0';
}

void
kl_buf_vaddf(struct kl_buf *b, const char *fmt, va_list ap)
{
	va_list aq;
	int n;

	va_copy(aq, ap);
	n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n < 0) {
		b->err = 1;
		return;
	}
	if (kl_buf_reserve(b, (size_t)n) == -1)
		return;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
}

void
kl_buf_addf(struct kl_buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	kl_buf_vaddf(b, fmt, ap);
	va_end(ap);
}

/*
 * Appends s (n bytes, assumed UTF-8) as a JSON string with its quotes.
 * Control characters are escaped; other bytes are copied as they are.
 */
void
kl_buf_add_jstr(struct kl_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t i, run;

	kl_buf_addc(b, '"');
	for (i = 0; i < n; i = run + 1) {
		run = i;
		while (run < n && p[run] >= 0x20 && p[run] != '"' &&
		    p[run] != '\\')
			run++;
		kl_buf_add(b, p + i, run - i);
		if (run == n)
			break;
		kl_buf_addc(b, '\\');
		switch (p[run]) {
		case '"':
		case '\\':
			kl_buf_addc(b, p[run]);
			break;
		case '\b':
			kl_buf_addc(b, 'b');
			break;
		case '\f':
			kl_buf_addc(b, 'f');
			break;
		case '\n':
			kl_buf_addc(b, 'n');
			break;
		case '\r':
			kl_buf_addc(b, 'r');
			break;
		case '\t':
			kl_buf_addc(b, 't');
			break;
		default:
			kl_buf_adds(b, "u00");
			kl_buf_addc(b, hex[p[run] >> 4]);
			kl_buf_addc(b, hex[p[run] & 15]);
			break;
		}
	}
	kl_buf_addc(b, '"');
}

/* Returns the data, now owned by the caller, and empties b. */
char *
kl_buf_steal(struct kl_buf *b)
{
	char *p;

	if (b->data == NULL && !b->err)
		kl_buf_reserve(b, 0);
	if (b->err) {
		kl_buf_free(b);
		return NULL;
	}
	p = b->data;
	kl_buf_init(b);
	return p;
}

void
kl_hdrs_init(struct kl_hdrs *h)
{
	memset(h, 0, sizeof(*h));
}

void
kl_hdrs_free(struct kl_hdrs *h)
{
	size_t i;

	for (i = 0; i < h->n; i++) {
		free(h->name[i]);
		if (h->value[i] != NULL) {
			/* Values may be Authorization or a session token. */
			explicit_bzero(h->value[i], strlen(h->value[i]));
			free(h->value[i]);
		}
	}
	free(h->name);
	free(h->value);
	kl_hdrs_init(h);
}

/* Appends a header; repeated names are kept in order. */
void
kl_hdrs_add(struct kl_hdrs *h, const char *name, const char *value)
{
	char **n, **v;
	size_t cap;

	if (h->err)
		return;
	if (h->n == h->cap) {
		cap = h->cap ? h->cap * 2 : 8;
		n = realloc(h->name, cap * sizeof(*n));
		if (n != NULL)
			h->name = n;
		v = realloc(h->value, cap * sizeof(*v));
		if (v != NULL)
			h->value = v;
		if (n == NULL || v == NULL) {
			h->err = 1;
			return;
		}
		h->cap = cap;
	}
	h->name[h->n] = strdup(name);
	h->value[h->n] = strdup(value);
	if (h->name[h->n] == NULL || h->value[h->n] == NULL) {
		free(h->name[h->n]);
		free(h->value[h->n]);
		h->err = 1;
		return;
	}
	h->n++;
}

/* Replaces every header of that name (case-insensitive) with one. */
void
kl_hdrs_set(struct kl_hdrs *h, const char *name, const char *value)
{
	size_t i, j;

	for (i = j = 0; i < h->n; i++) {
		if (strcasecmp(h->name[i], name) == 0) {
			free(h->name[i]);
			explicit_bzero(h->value[i], strlen(h->value[i]));
			free(h->value[i]);
			continue;
		}
		h->name[j] = h->name[i];
		h->value[j] = h->value[i];
		j++;
	}
	h->n = j;
	kl_hdrs_add(h, name, value);
}

/* Returns the first value of that name (case-insensitive), or NULL. */
const char *
kl_hdrs_get(const struct kl_hdrs *h, const char *name)
{
	size_t i;

	for (i = 0; i < h->n; i++)
		if (strcasecmp(h->name[i], name) == 0)
			return h->value[i];
	return NULL;
}
