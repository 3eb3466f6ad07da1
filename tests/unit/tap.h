/*
 * tap.h - a header-only Test Anything Protocol emitter for kl's C unit
 * tests.  Each test program includes it once; automake's tap-driver.sh
 * reads what it prints.  Failures print the expected and actual values
 * as TAP diagnostics, never secrets: tests use only the suite's example
 * keys.
 */
#ifndef KL_TAP_H
#define KL_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_n, tap_fail, tap_planned;

#define TAP_FMT(i)	__attribute__((format(printf, i, i + 1), unused))
static void	diag(const char *, ...) TAP_FMT(1);
static int	ok(int, const char *, ...) TAP_FMT(2);
static int	is_int(long long, long long, const char *, ...) TAP_FMT(3);
static int	is_str(const char *, const char *, const char *, ...)
		    TAP_FMT(3);
static int	is_blob(const void *, size_t, const void *, size_t,
		    const char *, ...) TAP_FMT(5);
static void	tap_vline(int, const char *, va_list)
		    __attribute__((format(printf, 2, 0)));
static void	plan(int) __attribute__((unused));
static void	skip(int, const char *) __attribute__((unused));
static int	done_testing(void) __attribute__((unused));

static void
tap_vline(int good, const char *fmt, va_list ap)
{
	printf("%sok %d - ", good ? "" : "not ", ++tap_n);
	vprintf(fmt, ap);
	putchar('\n');
	if (!good)
		tap_fail++;
	fflush(stdout);
}

static void
diag(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("# ", stdout);
	vprintf(fmt, ap);
	putchar('\n');
	va_end(ap);
	fflush(stdout);
}

static void
plan(int n)
{
	tap_planned = n;
	printf("1..%d\n", n);
}

static int
ok(int good, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tap_vline(good, fmt, ap);
	va_end(ap);
	return good;
}

static int
is_int(long long got, long long want, const char *fmt, ...)
{
	va_list ap;
	int good = got == want;

	va_start(ap, fmt);
	tap_vline(good, fmt, ap);
	va_end(ap);
	if (!good)
		diag("got %lld, want %lld", got, want);
	return good;
}

static int
is_str(const char *got, const char *want, const char *fmt, ...)
{
	va_list ap;
	int good;

	good = got != NULL && want != NULL ? strcmp(got, want) == 0 :
	    got == want;
	va_start(ap, fmt);
	tap_vline(good, fmt, ap);
	va_end(ap);
	if (!good)
		diag("got '%s', want '%s'", got ? got : "(null)",
		    want ? want : "(null)");
	return good;
}

static int
is_blob(const void *got, size_t gotlen, const void *want, size_t wantlen,
    const char *fmt, ...)
{
	va_list ap;
	int good = gotlen == wantlen && (gotlen == 0 ||
	    memcmp(got, want, gotlen) == 0);

	va_start(ap, fmt);
	tap_vline(good, fmt, ap);
	va_end(ap);
	if (!good)
		diag("got %zu bytes '%.*s', want %zu bytes '%.*s'", gotlen,
		    (int)(gotlen > 200 ? 200 : gotlen), (const char *)got,
		    wantlen, (int)(wantlen > 200 ? 200 : wantlen),
		    (const char *)want);
	return good;
}

static void
skip(int n, const char *why)
{
	while (n-- > 0) {
		printf("ok %d # skip %s\n", ++tap_n, why);
	}
	fflush(stdout);
}

static int
done_testing(void)
{
	if (!tap_planned)
		printf("1..%d\n", tap_n);
	else if (tap_planned != tap_n) {
		diag("planned %d tests but ran %d", tap_planned, tap_n);
		return 1;
	}
	return tap_fail ? 1 : 0;
}

#endif /* KL_TAP_H */
