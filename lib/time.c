/*
 * time.c - RFC 3339 / ISO 8601 times in UTC, as Kinesis records, STS
 * expirations and checkpoints carry them, and HTTP dates for clock-skew
 * correction.  timegm(3) is used rather than mktime(3) so the local time
 * zone never enters.
 */
#include <config.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kl.h"

/*
 * Formats t as 2026-11-29T16:46:34Z, or with ms >= 0 as
 * 2026-11-29T16:46:34.123Z.  Returns the length, or -1 if it did not fit.
 */
int
kl_time_fmt(char *out, size_t n, time_t t, int ms)
{
	struct tm tm;
	size_t k;

	if (gmtime_r(&t, &tm) == NULL)
		return -1;
	k = strftime(out, n, "%Y-%m-%dT%H:%M:%S", &tm);
	if (k == 0)
		return -1;
	if (ms >= 0)
		k += (size_t)snprintf(out + k, n - k, ".%03dZ", ms % 1000);
	else
		k += (size_t)snprintf(out + k, n - k, "Z");
	return k < n ? (int)k : -1;
}

static int
digits(const char **s, int n, int *v)
{
	int i;

	*v = 0;
	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*s)[i]))
			return -1;
		*v = *v * 10 + (*s)[i] - '0';
	}
	*s += n;
	return 0;
}

/*
 * Parses YYYY-MM-DDTHH:MM:SS[.fff...](Z|+HH:MM|-HH:MM), also with a space
 * or lower-case t, into *t and milliseconds (*ms may be NULL).  A bare
 * date (YYYY-MM-DD) means midnight UTC.  Returns 0 or -1 (EINVAL).
 */
int
kl_time_parse(const char *s, time_t *t, int *ms)
{
	struct tm tm;
	int y, mo, d, h = 0, mi = 0, se = 0, frac = 0, scale = 100, oh, om;
	long off = 0;

	memset(&tm, 0, sizeof(tm));
	if (digits(&s, 4, &y) || *s++ != '-' || digits(&s, 2, &mo) ||
	    *s++ != '-' || digits(&s, 2, &d))
		goto bad;
	if (*s != '\0') {
		if (*s != 'T' && *s != 't' && *s != ' ')
			goto bad;
		s++;
		if (digits(&s, 2, &h) || *s++ != ':' || digits(&s, 2, &mi) ||
		    *s++ != ':' || digits(&s, 2, &se))
			goto bad;
		if (*s == '.') {
			s++;
			if (!isdigit((unsigned char)*s))
				goto bad;
			for (; isdigit((unsigned char)*s); s++, scale /= 10)
				frac += (*s - '0') * scale;
		}
		if (*s == 'Z' || *s == 'z')
			s++;
		else if (*s == '+' || *s == '-') {
			int sign = *s++ == '-' ? -1 : 1;

			if (digits(&s, 2, &oh) || *s++ != ':' ||
			    digits(&s, 2, &om))
				goto bad;
			off = sign * (oh * 3600L + om * 60L);
		} else
			goto bad;
		if (*s != '\0')
			goto bad;
	}
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
	    se > 60)
		goto bad;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	*t = timegm(&tm) - off;
	if (ms != NULL)
		*ms = frac;
	return 0;
bad:
	errno = EINVAL;
	return -1;
}

/* Parses an HTTP date (RFC 7231 IMF-fixdate).  Returns 0 or -1. */
int
kl_time_http(const char *s, time_t *t)
{
	struct tm tm;
	char *end;

	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (end == NULL) {
		errno = EINVAL;
		return -1;
	}
	*t = timegm(&tm);
	return 0;
}
