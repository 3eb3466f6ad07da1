/*
 * fz-profile.c - libFuzzer target for the AWS profile-file parser
 * (kl_ini_parse in profile.c).
 *
 * The first byte picks the dialect (config file or credentials file); the
 * rest is parsed from memory.  Besides crashes and sanitizer reports, it
 * checks what the parser promises: a failure is KL_ERR_CONFIG with a
 * "NAME:LINE: reason" message on a line that exists; a success yields
 * unique, non-empty section names, keys that are lower case, non-empty
 * and free of '=', ':' and line breaks, values without surrounding
 * blanks, and every section and key found again by the lookups.
 *
 * Build and run: make fuzz-build && make fuzz (FUZZ_TARGETS=fz-profile
 * for this one); seeds are in tests/data/cfg.
 */
#include <config.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kl.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check_ok(const struct kl_ini *ini)
{
	const struct kl_ini_sec *s;
	const struct kl_ini_kv *kv;
	const char *p;
	size_t i, j, k;

	for (i = 0; i < ini->n; i++) {
		s = &ini->sec[i];
		if (s->name == NULL || s->name[0] == '\0' ||
		    strchr(s->name, '\n') != NULL)
			abort();
		for (k = 0; k < i; k++)
			if (strcmp(ini->sec[k].name, s->name) == 0)
				abort();
		if (ini->kind == KL_INI_CREDS &&
		    (s->profile == NULL || strcmp(s->profile, s->name) != 0))
			abort();
		if (s->profile != NULL && kl_ini_profile(ini, s->profile) ==
		    NULL)
			abort();
		for (j = 0; j < s->n; j++) {
			kv = &s->kv[j];
			if (kv->key[0] == '\0' || kv->line < s->line)
				abort();
			for (p = kv->key; *p != '\0'; p++)
				if (*p == '=' || *p == ':' || *p == '\n' ||
				    (unsigned char)*p !=
				    tolower((unsigned char)*p))
					abort();
			for (k = 0; k < j; k++)
				if (strcmp(s->kv[k].key, kv->key) == 0)
					abort();
			p = kv->val;
			k = strlen(p);
			if (k > 0 && (p[0] == ' ' || p[0] == '\t' ||
			    p[k - 1] == ' ' || p[k - 1] == '\t'))
				abort();
			if (s->profile != NULL &&
			    kl_ini_get(ini, s->profile, kv->key) == NULL &&
			    kl_ini_profile(ini, s->profile) == s)
				abort();
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kl_ini ini;
	struct kl_err e;
	const char *p;
	long line, lines = 1;
	size_t i;
	int kind;

	if (size < 1 || size > 100000)
		return 0;
	kind = data[0] & 1 ? KL_INI_CREDS : KL_INI_CONFIG;
	for (i = 1; i < size; i++)
		lines += data[i] == '\n';
	memset(&ini, 0, sizeof(ini));
	kl_err_clear(&e);
	if (kl_ini_parse(&ini, kind, "fuzz", (const char *)data + 1, size - 1,
	    &e) == 0)
		check_ok(&ini);
	else {
		if (e.kind != KL_ERR_CONFIG || strncmp(e.msg, "fuzz:", 5) != 0)
			abort();
		line = strtol(e.msg + 5, (char **)&p, 10);
		if (line < 1 || line > lines || strncmp(p, ": ", 2) != 0)
			abort();
	}
	kl_ini_free(&ini);
	return 0;
}
