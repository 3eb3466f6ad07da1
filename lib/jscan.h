/*
 * jscan.h - what the two files of the JSON span code share (jscan.c: the
 * scanner that validates and minifies; jread.c: the readers of validated
 * spans and the writers).  Private to them: the rest of kl sees spans
 * through kl.h only.  Needs kl.h first.
 *
 * The helpers are static inline, not functions of one file, so that each
 * file's per-byte loops still inline them.
 */
#ifndef KL_JSCAN_H
#define KL_JSCAN_H

#define ONES	0x0101010101010101ULL
#define HIGHS	0x8080808080808080ULL

#define DIGIT(c)	((unsigned)((c) - '0') < 10)

/* Whether c is JSON whitespace. */
static inline int
isws(unsigned char c)
{
	return c <= ' ' && (c == ' ' || c == '\n' || c == '\r' || c == '\t');
}

/* The value of 4 hex digits at s, or -1. */
static inline long
hex4(const char *s)
{
	long v = 0;
	int i, d;

	for (i = 0; i < 4; i++) {
		d = (unsigned char)s[i];
		if (DIGIT(d))
			d -= '0';
		else if ((unsigned)((d | 0x20) - 'a') < 6)
			d = (d | 0x20) - 'a' + 10;
		else
			return -1;
		v = v << 4 | d;
	}
	return v;
}

/* The type of the value whose first byte is c (validated text). */
static inline int
type_of(unsigned char c)
{
	return c == '{' ? KL_JOBJ : c == '[' ? KL_JARR : c == '"' ? KL_JSTR :
	    c == 't' ? KL_JTRUE : c == 'f' ? KL_JFALSE : c == 'n' ? KL_JNUL :
	    KL_JNUM;
}

#endif /* KL_JSCAN_H */
