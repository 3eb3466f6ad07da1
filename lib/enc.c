/*
 * enc.c - byte encodings and digests: hex, base64, SHA-256, HMAC-SHA256,
 * MD5 and UTF-8 validation.
 *
 * Digests go through libcrypto's one-shot EVP calls: kl needs only these
 * few, and OpenSSL 3 deprecates the low-level SHA256_* interface.  MD5 is
 * for KPL aggregate checksums and partition-key fallbacks, not security.
 * The base64 decoder is strict (RFC 4648 alphabet, padding required,
 * no whitespace): Kinesis always sends canonical base64, so anything else
 * means the data is not what we think it is.
 */
#include <config.h>

#include <errno.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "kl.h"

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Writes 2n lowercase hex digits and a NUL to out (2n + 1 bytes). */
void
kl_hex(const unsigned char *p, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hex[p[i] >> 4];
		out[2 * i + 1] = hex[p[i] & 15];
	}
	out[2 * n] = '\0';
}

size_t
kl_base64_enclen(size_t n)
{
	return (n + 2) / 3 * 4;
}

/*
 * The base64 of every 12-bit value, two characters each: the encoder's
 * hot loop (kl-trigger-put base64s every record it sends) does two
 * lookups per three bytes instead of four.
 */
static const char *
b64pairs(void)
{
	static char pairs[4096 * 2];
	static int ready;
	int i;

	if (!ready) {
		for (i = 0; i < 4096; i++) {
			pairs[2 * i] = b64[i >> 6];
			pairs[2 * i + 1] = b64[i & 63];
		}
		ready = 1;
	}
	return pairs;
}

/* Appends the padded base64 of p to b. */
void
kl_base64_enc(struct kl_buf *b, const unsigned char *p, size_t n)
{
	const char *pairs = b64pairs();
	size_t i;
	char *o;
	unsigned v;

	if (kl_buf_reserve(b, kl_base64_enclen(n)) == -1)
		return;
	o = b->data + b->len;
	for (i = 0; i + 3 <= n; i += 3) {
		v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
		memcpy(o, pairs + 2 * (v >> 12), 2);
		memcpy(o + 2, pairs + 2 * (v & 4095), 2);
		o += 4;
	}
	if (n - i == 1) {
		v = (unsigned)p[i] << 16;
		*o++ = b64[v >> 18];
		*o++ = b64[v >> 12 & 63];
		*o++ = '=';
		*o++ = '=';
	} else if (n - i == 2) {
		v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8;
		*o++ = b64[v >> 18];
		*o++ = b64[v >> 12 & 63];
		*o++ = b64[v >> 6 & 63];
		*o++ = '=';
	}
	b->len = (size_t)(o - b->data);
	b->data[b->len] = '\0';
}

static const signed char *
b64rev(void)
{
	static signed char rev[256];
	static int ready;
	int i;

	if (!ready) {
		memset(rev, -1, sizeof(rev));
		for (i = 0; i < 64; i++)
			rev[(unsigned char)b64[i]] = (signed char)i;
		ready = 1;
	}
	return rev;
}

/*
 * Appends the bytes that the base64 text s (n bytes) stands for.  Returns
 * the number of bytes appended, or -1 with errno EINVAL if s is not
 * canonical padded base64 (ENOMEM if the buffer could not grow).
 */
int
kl_base64_dec(struct kl_buf *b, const char *s, size_t n)
{
	const signed char *rev = b64rev();
	const unsigned char *p = (const unsigned char *)s;
	size_t i, start = b->len, pad = 0;
	unsigned char *o;
	int a, c, d, e;

	if (n % 4 != 0)
		goto bad;
	if (n > 0 && p[n - 1] == '=')
		pad = p[n - 2] == '=' ? 2 : 1;
	if (kl_buf_reserve(b, n / 4 * 3) == -1)
		return -1;
	o = (unsigned char *)b->data + b->len;
	/* All quads but the last, which may hold padding: no checks. */
	for (i = 0; i + 4 < n; i += 4) {
		a = rev[p[i]];
		c = rev[p[i + 1]];
		d = rev[p[i + 2]];
		e = rev[p[i + 3]];
		if ((a | c | d | e) < 0)
			goto bad;
		o[0] = (unsigned char)(a << 2 | c >> 4);
		o[1] = (unsigned char)((c & 15) << 4 | d >> 2);
		o[2] = (unsigned char)((d & 3) << 6 | e);
		o += 3;
	}
	for (; i < n; i += 4) {
		a = rev[p[i]];
		c = rev[p[i + 1]];
		d = i + 4 == n && pad == 2 ? 0 : rev[p[i + 2]];
		e = i + 4 == n && pad >= 1 ? 0 : rev[p[i + 3]];
		if ((a | c | d | e) < 0)
			goto bad;
		*o++ = (unsigned char)(a << 2 | c >> 4);
		if (i + 4 == n && pad == 2) {
			if (c & 15)
				goto bad;	/* non-canonical trailing bits */
			break;
		}
		*o++ = (unsigned char)((c & 15) << 4 | d >> 2);
		if (i + 4 == n && pad == 1) {
			if (d & 3)
				goto bad;
			break;
		}
		*o++ = (unsigned char)((d & 3) << 6 | e);
	}
	b->len = (size_t)((char *)o - b->data);
	b->data[b->len] = '\0';
	return (int)(b->len - start);
bad:
	b->len = start;
	if (b->data != NULL)
		b->data[start] = '\0';
	errno = EINVAL;
	return -1;
}

/* SHA-256 of p into md.  Returns 0, or -1 if libcrypto failed. */
int
kl_sha256(const void *p, size_t n, unsigned char md[32])
{
	unsigned int len = 32;

	if (EVP_Digest(p, n, md, &len, EVP_sha256(), NULL) != 1) {
		errno = EIO;
		return -1;
	}
	return 0;
}

/* HMAC-SHA256 of msg with key into md.  Returns 0 or -1. */
int
kl_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t n,
    unsigned char md[32])
{
	unsigned int len = 32;

	if (HMAC(EVP_sha256(), key, (int)keylen, msg, n, md, &len) == NULL) {
		errno = EIO;
		return -1;
	}
	return 0;
}

int
kl_md5(const void *p, size_t n, unsigned char md[16])
{
	unsigned int len = 16;

	if (EVP_Digest(p, n, md, &len, EVP_md5(), NULL) != 1) {
		errno = EIO;
		return -1;
	}
	return 0;
}

/*
 * Returns 1 if p is well-formed UTF-8 (no overlongs, no surrogates,
 * nothing past U+10FFFF), else 0.
 */
int
kl_utf8_valid(const unsigned char *p, size_t n)
{
	size_t i = 0;
	unsigned c;

	while (i < n) {
		c = p[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			if (i + 1 >= n || (p[i + 1] & 0xc0) != 0x80)
				return 0;
			i += 2;
		} else if (c >= 0xe0 && c <= 0xef) {
			if (i + 2 >= n || (p[i + 1] & 0xc0) != 0x80 ||
			    (p[i + 2] & 0xc0) != 0x80)
				return 0;
			if (c == 0xe0 && p[i + 1] < 0xa0)
				return 0;
			if (c == 0xed && p[i + 1] >= 0xa0)
				return 0;
			i += 3;
		} else if (c >= 0xf0 && c <= 0xf4) {
			if (i + 3 >= n || (p[i + 1] & 0xc0) != 0x80 ||
			    (p[i + 2] & 0xc0) != 0x80 ||
			    (p[i + 3] & 0xc0) != 0x80)
				return 0;
			if (c == 0xf0 && p[i + 1] < 0x90)
				return 0;
			if (c == 0xf4 && p[i + 1] >= 0x90)
				return 0;
			i += 4;
		} else
			return 0;
	}
	return 1;
}
