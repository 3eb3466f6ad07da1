/*
 * fz-awserr.c - libFuzzer target for the AWS error-reply parser (aws.c):
 * kl_aws_error_parse() on any bytes, as JSON 1.1, query XML or neither,
 * with and without an x-amzn-ErrorType header, into buffers of sizes
 * taken from the input, then kl_aws_classify() on what it found.
 *
 * Checked: both outputs are terminated inside their buffers; the code is
 * normalised (no '#', ':' or white space) and the message is one line
 * without control characters, since both go into one-line messages; the
 * return value says whether a code was found; the class is a valid one.
 * Built and run by "make fuzz" (Makefile.am, FUZZ_TARGETS).
 */
#include <config.h>

#include <stdlib.h>
#include <string.h>

#include "kl.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check(const char *p, size_t n, const char *errtype, size_t codesz,
    size_t msgsz)
{
	char code[200], msg[600];
	size_t i, cl, ml;
	int r, kind;

	memset(code, 'X', sizeof(code));
	memset(msg, 'X', sizeof(msg));
	r = kl_aws_error_parse(p, n, errtype, code, codesz, msg, msgsz);
	if ((cl = strnlen(code, codesz)) >= codesz ||
	    (ml = strnlen(msg, msgsz)) >= msgsz)
		abort();
	if (r != (cl > 0))
		abort();
	for (i = 0; i < cl; i++)
		if (code[i] == '#' || code[i] == ':' || code[i] == ' ' ||
		    code[i] == '\t' || code[i] == '\n' || code[i] == '\r')
			abort();
	for (i = 0; i < ml; i++)
		if ((unsigned char)msg[i] < 0x20 || msg[i] == 0x7f)
			abort();
	kind = kl_aws_classify(400 + (long)(n % 200), code, msg);
	if (kind < KL_ERR_NONE || kind > KL_ERR_CONFIG)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	char errtype[64];
	size_t codesz, msgsz, k;

	if (size < 2) {
		check(p, size, NULL, 128, 512);
		return 0;
	}
	/* The first two bytes choose the buffer sizes, 1 to 200 and 600. */
	codesz = 1 + data[0] % 200;
	msgsz = 1 + (data[1] * 3) % 600;
	check(p + 2, size - 2, NULL, codesz, msgsz);
	check(p + 2, size - 2, NULL, 128, 512);
	/* The input's tail, as a header value (a C string). */
	k = size - 2 < sizeof(errtype) - 1 ? size - 2 : sizeof(errtype) - 1;
	memcpy(errtype, p + size - k, k);
	errtype[k] = '\0';
	check("", 0, errtype, codesz, msgsz);
	check(p + 2, size - 2, errtype, 128, 512);
	return 0;
}
