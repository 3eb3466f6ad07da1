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

/*
 * The decoder's tables: rev[k][c] is the 6 bits of character c already
 * shifted into place for position k of a quad, or BAD, so that a quad is
 * four lookups and three ORs, and one test finds any invalid character.
 */
#define BAD	0x80000000U

static const uint32_t (*b64rev(void))[256]
{
	static uint32_t rev[4][256];
	static int ready;
	int i, k;

	if (!ready) {
		for (k = 0; k < 4; k++)
			for (i = 0; i < 256; i++)
				rev[k][i] = BAD;
		for (i = 0; i < 64; i++)
			for (k = 0; k < 4; k++)
				rev[k][(unsigned char)b64[i]] =
				    (uint32_t)i << (18 - 6 * k);
		ready = 1;
	}
	return (const uint32_t (*)[256])rev;
}

/*
 * Appends the bytes that the base64 text s (n bytes) stands for.  Returns
 * the number of bytes appended, or -1 with errno EINVAL if s is not
 * canonical padded base64 (ENOMEM if the buffer could not grow).
 */
int
kl_base64_dec(struct kl_buf *b, const char *s, size_t n)
{
	const uint32_t (*rev)[256] = b64rev();
	const unsigned char *p = (const unsigned char *)s;
	size_t i, start = b->len, pad = 0;
	unsigned char *o;
	uint32_t v;

	if (n % 4 != 0)
		goto bad;
	if (n > 0 && p[n - 1] == '=')
		pad = p[n - 2] == '=' ? 2 : 1;
	if (kl_buf_reserve(b, n / 4 * 3) == -1)
		return -1;
	o = (unsigned char *)b->data + b->len;
	/* All quads but the last, which may hold padding: no checks. */
	for (i = 0; i + 4 < n; i += 4) {
		v = rev[0][p[i]] | rev[1][p[i + 1]] | rev[2][p[i + 2]] |
		    rev[3][p[i + 3]];
		if (v & BAD)
			goto bad;
		o[0] = (unsigned char)(v >> 16);
		o[1] = (unsigned char)(v >> 8);
		o[2] = (unsigned char)v;
		o += 3;
	}
	if (i < n) {
		v = rev[0][p[i]] | rev[1][p[i + 1]] |
		    (pad == 2 ? 0 : rev[2][p[i + 2]]) |
		    (pad >= 1 ? 0 : rev[3][p[i + 3]]);
		/* Padding must leave no bits behind: canonical text only. */
		if ((v & BAD) || (pad == 2 && (v & 0xffff)) ||
		    (pad == 1 && (v & 0xff)))
			goto bad;
		*o++ = (unsigned char)(v >> 16);
		if (pad < 2)
			*o++ = (unsigned char)(v >> 8);
		if (pad < 1)
			*o++ = (unsigned char)v;
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
