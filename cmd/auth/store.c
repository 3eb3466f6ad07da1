/*
 * auth/store.c - kl-auth's add, list, show and remove (see kl-auth.c
 * for the command as a whole, auth/keys.c for how add gets its keys).
 *
 * Design decisions:
 *
 * - add checks what it can before asking for keys (the label, the
 *   description, a name already taken), so a typed secret is not wasted.
 * - add prints what it stored, as show does: never the secret, the key
 *   id by its last 4 characters.  The secret is wiped once stored.
 * - list goes on past an authorization it cannot read (an exposed file,
 *   a malformed record), names it, and exits 1 at the end.
 */
#include <config.h>

#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kl.h"
#include "auth.h"

static int
text_ok(const char *s, size_t max)
{
	size_t n;

	for (n = 0; s[n] != '\0'; n++)
		if ((unsigned char)s[n] < 0x20 || s[n] == 0x7f)
			return 0;
	return n <= max && kl_utf8_valid((const unsigned char *)s, n);
}

static void
put(struct kl_buf *b, const char *key, const char *val)
{
	if (val == NULL)
		return;
	kl_buf_addf(b, ",\"%s\":", key);
	kl_buf_add_jstr(b, val, strlen(val));
}

/* Writes one authorization record: never the secret. */
static int
emit_auth(const struct kl_auth *a)
{
	struct kl_buf b;
	char t[32];
	int r;

	kl_buf_init(&b);
	kl_buf_adds(&b, "{\"name\":");
	kl_buf_add_jstr(&b, a->name, strlen(a->name));
	put(&b, "label", a->label);
	put(&b, "description", a->description);
	put(&b, "method", a->method == KL_AUTH_KEYS ? "keys" : "delegated");
	put(&b, "region", a->region);
	if (a->access_key_id != NULL)
		put(&b, "access_key_id", kl_akid_tail(a->access_key_id));
	put(&b, "role_arn", a->role_arn);
	if (a->method == KL_AUTH_DELEGATED)
		kl_buf_addf(&b, ",\"has_external_id\":%s",
		    a->external_id != NULL ? "true" : "false");
	put(&b, "session_name", a->session_name);
	if (a->duration != 0)
		kl_buf_addf(&b, ",\"duration\":%ld", a->duration);
	if (a->created != 0 && kl_time_fmt(t, sizeof(t), a->created, -1) > 0)
		put(&b, "created", t);
	kl_buf_addc(&b, '}');
	r = b.err ? -1 : kl_emit(b.data, b.len);
	if (r == -1)
		kl_log(KL_FATAL, b.err ? ENOMEM : errno, "cannot write the "
		    "record of '%s'", a->name);
	kl_buf_free(&b);
	return r;
}

static int
exists(const char *name)
{
	struct kl_err e;
	struct stat st;
	char *dir, path[4200];
	int r;

	if ((dir = kl_store_dir(&e)) == NULL)
		return 0;
	snprintf(path, sizeof(path), "%s/%s.json", dir, name);
	r = lstat(path, &st) == 0;
	free(dir);
	return r;
}

/* add NAME */
int
cmd_add(struct opts *o)
{
	struct kl_auth a, saved;
	struct kl_err e;
	const char *why = NULL;
	char *akid = NULL, *secret = NULL;
	int r;

	if (o->label != NULL && !text_ok(o->label, 256))
		why = "--label wants at most 256 characters, no control "
		    "characters";
	else if (o->description != NULL && !text_ok(o->description, 4096))
		why = "--description wants at most 4096 characters, no control "
		    "characters";
	else if (!o->replace && exists(o->name))
		kl_die(KL_EXIT_USAGE, 0, "authorization '%s' exists already "
		    "(add --replace to replace it)", o->name);
	if (why != NULL) {
		kl_log(KL_ERROR, 0, "%s", why);
		return KL_EXIT_USAGE;
	}
	if (!o->no_keys && (why = get_keys(o, &akid, &secret)) != NULL) {
		free(akid);
		if (secret != NULL)
			explicit_bzero(secret, strlen(secret));
		free(secret);
		kl_die(KL_EXIT_USAGE, 0, "%s; nothing stored", why);
	}
	memset(&a, 0, sizeof(a));
	a.name = (char *)o->name;
	a.label = (char *)o->label;
	a.description = (char *)o->description;
	a.method = o->aws.role_arn != NULL ? KL_AUTH_DELEGATED : KL_AUTH_KEYS;
	a.region = (char *)o->aws.region;
	a.access_key_id = akid;
	a.secret_access_key = secret;
	a.role_arn = (char *)o->aws.role_arn;
	a.external_id = (char *)o->aws.external_id;
	a.session_name = (char *)o->aws.session_name;
	a.duration = o->aws.duration;
	kl_err_clear(&e);
	r = kl_store_save(&a, o->replace ? KL_STORE_REPLACE : 0, &e);
	free(akid);
	if (secret != NULL)
		explicit_bzero(secret, strlen(secret));
	free(secret);
	if (r == -1)
		kl_die(kl_err_status(&e), 0, "%s", e.msg);
	kl_log(KL_INFO, 0, "stored authorization '%s' (%s)", o->name,
	    a.method == KL_AUTH_KEYS ? "keys" : "delegated");
	if (kl_store_load(o->name, &saved, &e) == -1) {
		kl_auth_free(&saved);
		kl_die(kl_err_status(&e), 0, "%s", e.msg);
	}
	r = emit_auth(&saved);
	kl_auth_free(&saved);
	return r == 0 ? KL_EXIT_OK : KL_EXIT_FAIL;
}

/* list, and show NAME */
int
cmd_show(struct opts *o)
{
	struct kl_auth a;
	struct kl_err e;
	char **names, *one[2];
	int i, status = KL_EXIT_OK;

	if (o->name != NULL) {
		one[0] = (char *)o->name;
		one[1] = NULL;
		names = one;
	} else if (kl_store_list(&names, &e) == -1)
		kl_die(kl_err_status(&e), 0, "%s", e.msg);
	for (i = 0; names[i] != NULL && !kl_stopping(); i++) {
		kl_err_clear(&e);
		if (kl_store_load(names[i], &a, &e) == -1) {
			kl_auth_free(&a);
			if (o->name != NULL)
				kl_die(kl_err_status(&e), 0, "%s", e.msg);
			kl_log(KL_ERROR, 0, "%s", e.msg);
			status = KL_EXIT_FAIL;
			continue;
		}
		if (emit_auth(&a) == -1)
			status = KL_EXIT_FAIL;
		kl_auth_free(&a);
	}
	if (o->name == NULL) {
		kl_log(KL_INFO, 0, "%d authorization%s", i, i == 1 ? "" : "s");
		kl_store_list_free(names);
	}
	return status;
}

/* remove NAME */
int
cmd_remove(struct opts *o)
{
	struct kl_err e;

	kl_err_clear(&e);
	if (kl_store_remove(o->name, &e) == -1)
		kl_die(kl_err_status(&e), 0, "%s", e.msg);
	kl_log(KL_INFO, 0, "removed authorization '%s'", o->name);
	return KL_EXIT_OK;
}
