/*
 * store.c - the kl-auth authorization store: named AWS authorizations,
 * one JSON file each, in a private folder.  kl-auth manages them; every
 * AWS command reads one with --auth NAME (contract §3, step 2).
 *
 * Design decisions:
 *
 * - The folder is $KL_CONFIG_DIR, else $XDG_CONFIG_HOME/kl (only an
 *   absolute XDG_CONFIG_HOME counts, as the XDG specification says), else
 *   ~/.config/kl.  Missing folders are created 0700; an existing one is
 *   left as it is: the files themselves are private.
 *
 * - NAME.json, where NAME is 1-64 of [A-Za-z0-9_.-] and not "." or "..",
 *   so a name can never leave the folder.  The file name is the
 *   authorization's name: a "name" member that disagrees is ignored.
 *
 * - Files are written with kl_atomic_write (temporary file, fsync,
 *   rename), mode 0600, so a crash leaves the old or the new record.  They
 *   are read with kl_read_private, which refuses a file that group or
 *   others can read and names the chmod 600 that fixes it.
 *
 * - Writing builds the JSON by hand in a kl_buf that is wiped afterwards,
 *   so the secret key never passes through jv on the way out.  Reading
 *   parses with jv (a cold path, house style §6.3); jv frees its own
 *   copies without wiping them, a limit shared with every jv use.
 *
 * - Unknown members are ignored when loading (a newer kl-auth may add
 *   some) and not written back.
 *
 * - Errors: a bad name, a missing or malformed record are KL_ERR_CONFIG
 *   (the command exits 2); a record that group or others can read, and a
 *   folder or file that cannot be created, read or removed are
 *   KL_ERR_PERMANENT (exit 1): the store is kl's own, and an exposed
 *   secret in it is refused as a fatal error, as kl-auth's issue asks.  A
 *   --credentials file the user names stays configuration (exit 2).
 */
#include <config.h>

#include <sys/stat.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jv.h>

#include "kl.h"

#define RECORD_MAX	(64 * 1024)

/* Returns 1 if s can name an authorization: 1-64 of [A-Za-z0-9_.-]. */
int
kl_store_name_ok(const char *s)
{
	size_t n;

	for (n = 0; s[n] != '\0'; n++)
		if (!isalnum((unsigned char)s[n]) && s[n] != '_' &&
		    s[n] != '.' && s[n] != '-')
			return 0;
	return n >= 1 && n <= 64 && strcmp(s, ".") != 0 &&
	    strcmp(s, "..") != 0;
}

/*
 * Returns the store folder (malloc'd; the caller frees it), or NULL with
 * e filled (no home folder, or ENOMEM).  Creates nothing.
 */
char *
kl_store_dir(struct kl_err *e)
{
	const char *v;
	struct passwd *pw;
	struct kl_buf b;

	kl_buf_init(&b);
	if ((v = getenv("KL_CONFIG_DIR")) != NULL && *v != '\0')
		kl_buf_adds(&b, v);
	else if ((v = getenv("XDG_CONFIG_HOME")) != NULL && *v == '/')
		kl_buf_addf(&b, "%s/kl", v);
	else {
		if ((v = getenv("HOME")) == NULL || *v == '\0') {
			if ((pw = getpwuid(getuid())) == NULL ||
			    pw->pw_dir == NULL) {
				kl_err_set(e, KL_ERR_CONFIG, 0, NULL, "no home "
				    "folder: set HOME or KL_CONFIG_DIR");
				return NULL;
			}
			v = pw->pw_dir;
		}
		kl_buf_addf(&b, "%s/.config/kl", v);
	}
	if (b.err) {
		kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "%s",
		    strerror(ENOMEM));
		e->sys = ENOMEM;
		kl_buf_free(&b);
		return NULL;
	}
	return kl_buf_steal(&b);
}

/* Returns the malloc'd path of NAME.json, or NULL with e filled. */
static char *
record_path(const char *name, char **dirp, struct kl_err *e)
{
	struct kl_buf b;
	char *dir;

	if (!kl_store_name_ok(name)) {
		kl_err_set(e, KL_ERR_CONFIG, 0, NULL, "bad authorization name "
		    "'%.80s': 1-64 letters, digits, '_', '.' or '-'", name);
		return NULL;
	}
	if ((dir = kl_store_dir(e)) == NULL)
		return NULL;
	kl_buf_init(&b);
	kl_buf_addf(&b, "%s/%s.json", dir, name);
	if (dirp != NULL)
		*dirp = dir;
	else
		free(dir);
	if (b.err) {
		if (dirp != NULL) {
			free(*dirp);
			*dirp = NULL;
		}
		kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "%s",
		    strerror(ENOMEM));
		return NULL;
	}
	return kl_buf_steal(&b);
}

static int
printable(const char *s, size_t min, size_t max)
{
	size_t n;

	for (n = 0; s[n] != '\0'; n++)
		if (s[n] <= ' ' || s[n] > '~')
			return 0;
	return n >= min && n <= max;
}

/*
 * Checks that a is a complete, consistent authorization.  Returns 0, or
 * -1 with the reason (never a secret) in why.
 */
int
kl_auth_check(const struct kl_auth *a, char *why, size_t n)
{
	const char *w = NULL;

	if (a->name == NULL || !kl_store_name_ok(a->name))
		w = "the name must be 1-64 letters, digits, '_', '.' or '-'";
	else if (a->method != KL_AUTH_KEYS && a->method != KL_AUTH_DELEGATED)
		w = "method must be \"keys\" or \"delegated\"";
	else if ((a->access_key_id == NULL) != (a->secret_access_key == NULL))
		w = "access_key_id and secret_access_key go together";
	else if (a->method == KL_AUTH_KEYS && a->access_key_id == NULL)
		w = "method \"keys\" needs access_key_id and secret_access_key";
	else if (a->method == KL_AUTH_DELEGATED && a->role_arn == NULL)
		w = "method \"delegated\" needs role_arn";
	else if (a->access_key_id != NULL &&
	    !printable(a->access_key_id, 1, 128))
		w = "access_key_id has spaces or control characters";
	else if (a->secret_access_key != NULL &&
	    !printable(a->secret_access_key, 1, 1024))
		w = "secret_access_key has spaces or control characters";
	else if (a->role_arn != NULL && !kl_role_arn_ok(a->role_arn))
		w = "role_arn is not arn:aws:iam::ACCOUNT:role/NAME";
	else if (a->region != NULL && !kl_region_ok(a->region))
		w = "region is not a region name";
	else if (a->external_id != NULL &&
	    !kl_external_id_ok(a->external_id))
		w = "external_id wants 2-1224 of [A-Za-z0-9_+=,.@:/-]";
	else if (a->session_name != NULL &&
	    !kl_session_name_ok(a->session_name))
		w = "session_name wants 2-64 of [A-Za-z0-9_+=,.@-]";
	else if (a->duration != 0 &&
	    (a->duration < 900 || a->duration > 43200))
		w = "duration wants seconds from 900 to 43200";
	if (w == NULL)
		return 0;
	snprintf(why, n, "%s", w);
	return -1;
}

static const struct {
	const char	*key;
	size_t		 off;
} fields[] = {
	{ "label", offsetof(struct kl_auth, label) },
	{ "description", offsetof(struct kl_auth, description) },
	{ "region", offsetof(struct kl_auth, region) },
	{ "access_key_id", offsetof(struct kl_auth, access_key_id) },
	{ "secret_access_key", offsetof(struct kl_auth, secret_access_key) },
	{ "role_arn", offsetof(struct kl_auth, role_arn) },
	{ "external_id", offsetof(struct kl_auth, external_id) },
	{ "session_name", offsetof(struct kl_auth, session_name) },
};

/* Fills a from the parsed record o.  Returns 0, or -1 with why. */
static int
from_json(jv o, struct kl_auth *a, char *why, size_t n)
{
	const char *s;
	size_t i;
	char **f;
	jv h;

	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		f = (char **)((char *)a + fields[i].off);
		if (kl_json_dup(o, fields[i].key, f) == -1 &&
		    errno != ENOENT) {
			snprintf(why, n, "'%s' is not a string",
			    fields[i].key);
			return -1;
		}
	}
	if (kl_json_str(o, "method", &h, &s) == -1) {
		snprintf(why, n, "'method' is %s", errno == ENOENT ?
		    "missing" : "not a string");
		return -1;
	}
	a->method = strcmp(s, "keys") == 0 ? KL_AUTH_KEYS :
	    strcmp(s, "delegated") == 0 ? KL_AUTH_DELEGATED : 0;
	jv_free(h);
	if (kl_json_long(o, "duration", 0, 43200, &a->duration) == -1 &&
	    errno != ENOENT) {
		snprintf(why, n, "'duration' is not a number of seconds");
		return -1;
	}
	if (kl_json_str(o, "created", &h, &s) == 0) {
		if (kl_time_parse(s, &a->created, NULL) == -1) {
			jv_free(h);
			snprintf(why, n, "'created' is not an RFC 3339 time");
			return -1;
		}
		jv_free(h);
	} else if (errno != ENOENT) {
		snprintf(why, n, "'created' is not a string");
		return -1;
	}
	return kl_auth_check(a, why, n);
}

/*
 * Loads the authorization name into a (zeroed first; the caller frees it
 * with kl_auth_free, also after a failure).  Returns 0, or -1 with e
 * filled: KL_ERR_CONFIG for a bad name, no such authorization, a record
 * that group or others can read or that is malformed; KL_ERR_PERMANENT
 * for one that cannot be read.
 */
int
kl_store_load(const char *name, struct kl_auth *a, struct kl_err *e)
{
	struct kl_buf b;
	char *path, *dir = NULL, why[200];
	jv o;
	int r = -1;

	memset(a, 0, sizeof(*a));
	if ((path = record_path(name, &dir, e)) == NULL)
		return -1;
	kl_buf_init(&b);
	if (kl_read_private(path, RECORD_MAX, &b, NULL, e) == -1) {
		if (e->sys == ENOENT)
			kl_err_set(e, KL_ERR_CONFIG, 0, NULL, "no "
			    "authorization named '%s' in '%s' (see kl-auth)",
			    name, dir);
		else if (e->sys == EPERM)
			e->kind = KL_ERR_PERMANENT;	/* issue 3: exit 1 */
		goto done;
	}
	if (kl_json_parse_obj(b.data, b.len, &o, why, sizeof(why)) == -1) {
		kl_err_set(e, KL_ERR_CONFIG, 0, NULL, "'%s': %s", path, why);
		goto done;
	}
	a->name = strdup(name);
	r = from_json(o, a, why, sizeof(why));
	jv_free(o);
	if (r == -1)
		kl_err_set(e, KL_ERR_CONFIG, 0, NULL, "'%s': %s", path, why);
done:
	kl_buf_wipe(&b);
	free(path);
	free(dir);
	return r;
}

/* Creates dir and its missing parents, each 0700. */
static int
mkdirs(const char *dir)
{
	char *p, *s;
	int r = 0, last = 0;

	if ((s = strdup(dir)) == NULL)
		return -1;
	for (p = s + 1; r == 0 && !last; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		last = *p == '\0';
		*p = '\0';
		if (mkdir(s, 0700) == -1 && errno != EEXIST)
			r = -1;
		if (!last)
			*p = '/';
	}
	free(s);
	return r;
}

static void
put(struct kl_buf *b, const char *key, const char *val)
{
	if (val == NULL)
		return;
	kl_buf_adds(b, b->len > 1 ? ",\"" : "\"");
	kl_buf_adds(b, key);
	kl_buf_adds(b, "\":");
	kl_buf_add_jstr(b, val, strlen(val));
}

/*
 * Writes a as NAME.json (mode 0600, atomically), creating the folder
 * (0700) if needed.  Without KL_STORE_REPLACE in flags an existing
 * authorization is an error.  created 0 is written as now.  Returns 0, or
 * -1 with e filled: KL_ERR_CONFIG for an invalid authorization or one
 * that exists, KL_ERR_PERMANENT for a write failure.
 */
int
kl_store_save(const struct kl_auth *a, int flags, struct kl_err *e)
{
	struct kl_buf b;
	struct stat st;
	char *path, *dir = NULL, why[200], t[32];
	int r = -1;

	if (kl_auth_check(a, why, sizeof(why)) == -1) {
		kl_err_set(e, KL_ERR_CONFIG, 0, NULL, "authorization '%.80s': "
		    "%s", a->name != NULL ? a->name : "", why);
		return -1;
	}
	if ((path = record_path(a->name, &dir, e)) == NULL)
		return -1;
	kl_buf_init(&b);
	if (mkdirs(dir) == -1) {
		kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "cannot create '%s': "
		    "%s", dir, strerror(errno));
		e->sys = errno;
		goto done;
	}
	if (!(flags & KL_STORE_REPLACE) && lstat(path, &st) == 0) {
		kl_err_set(e, KL_ERR_CONFIG, 0, NULL, "authorization '%s' "
		    "exists already", a->name);
		goto done;
	}
	kl_buf_addc(&b, '{');
	put(&b, "name", a->name);
	put(&b, "label", a->label);
	put(&b, "description", a->description);
	put(&b, "method", a->method == KL_AUTH_KEYS ? "keys" : "delegated");
	put(&b, "region", a->region);
	put(&b, "access_key_id", a->access_key_id);
	put(&b, "secret_access_key", a->secret_access_key);
	put(&b, "role_arn", a->role_arn);
	put(&b, "external_id", a->external_id);
	put(&b, "session_name", a->session_name);
	if (a->duration != 0)
		kl_buf_addf(&b, ",\"duration\":%ld", a->duration);
	kl_time_fmt(t, sizeof(t), a->created ? a->created : time(NULL), -1);
	put(&b, "created", t);
	kl_buf_adds(&b, "}\n");
	if (b.err)
		errno = ENOMEM;
	if (b.err || kl_atomic_write(path, b.data, b.len, 0600) == -1) {
		kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "cannot write '%s': "
		    "%s", path, strerror(errno));
		e->sys = errno;
		goto done;
	}
	r = 0;
done:
	kl_buf_wipe(&b);
	free(path);
	free(dir);
	return r;
}

/*
 * Removes the authorization name.  Returns 0, or -1 with e filled
 * (KL_ERR_CONFIG: bad name or none such; KL_ERR_PERMANENT otherwise).
 */
int
kl_store_remove(const char *name, struct kl_err *e)
{
	char *path, *dir = NULL;
	int r = 0;

	if ((path = record_path(name, &dir, e)) == NULL)
		return -1;
	if (unlink(path) == -1) {
		if (errno == ENOENT)
			kl_err_set(e, KL_ERR_CONFIG, 0, NULL, "no "
			    "authorization named '%s' in '%s'", name, dir);
		else {
			kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "cannot "
			    "remove '%s': %s", path, strerror(errno));
			e->sys = errno;
		}
		r = -1;
	}
	free(path);
	free(dir);
	return r;
}

static int
cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Lists the stored authorizations' names, sorted, as a NULL-terminated
 * array in *out (free it with kl_store_list_free).  A missing folder
 * holds none.  Returns the count, or -1 with e filled.
 */
int
kl_store_list(char ***out, struct kl_err *e)
{
	struct dirent *d;
	char **v = NULL, **nv, *dir, *name;
	size_t n = 0, len;
	DIR *dp;

	*out = NULL;
	if ((dir = kl_store_dir(e)) == NULL)
		return -1;
	if ((dp = opendir(dir)) == NULL && errno != ENOENT) {
		kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "cannot read '%s': %s",
		    dir, strerror(errno));
		e->sys = errno;
		free(dir);
		return -1;
	}
	while (dp != NULL && (d = readdir(dp)) != NULL) {
		len = strlen(d->d_name);
		if (len <= 5 || strcmp(d->d_name + len - 5, ".json") != 0)
			continue;
		if ((name = strndup(d->d_name, len - 5)) == NULL)
			goto nomem;
		if (!kl_store_name_ok(name)) {
			free(name);
			continue;
		}
		if ((nv = reallocarray(v, n + 2, sizeof(*v))) == NULL) {
			free(name);
			goto nomem;
		}
		v = nv;
		v[n++] = name;
		v[n] = NULL;
	}
	if (dp != NULL)
		closedir(dp);
	free(dir);
	if (v == NULL && (v = calloc(1, sizeof(*v))) == NULL)
		goto nomem2;
	qsort(v, n, sizeof(*v), cmp);
	*out = v;
	return (int)n;
nomem:
	closedir(dp);
	free(dir);
nomem2:
	if (v != NULL)
		v[n] = NULL;
	kl_store_list_free(v);
	kl_err_set(e, KL_ERR_PERMANENT, 0, NULL, "%s", strerror(ENOMEM));
	e->sys = ENOMEM;
	return -1;
}

/* Frees a list from kl_store_list; NULL is fine. */
void
kl_store_list_free(char **v)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

/* Frees what a holds, wiping the secret key first. */
void
kl_auth_free(struct kl_auth *a)
{
	if (a->secret_access_key != NULL)
		explicit_bzero(a->secret_access_key,
		    strlen(a->secret_access_key));
	free(a->name);
	free(a->label);
	free(a->description);
	free(a->region);
	free(a->access_key_id);
	free(a->secret_access_key);
	free(a->role_arn);
	free(a->external_id);
	free(a->session_name);
	memset(a, 0, sizeof(*a));
}
