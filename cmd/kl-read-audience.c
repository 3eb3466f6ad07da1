/*
 * kl-read-audience.c - read Lytics audiences: list them, backfill their
 * members, and watch them for members entering and leaving.
 *
 * --list prints one record per audience of the account.  Otherwise each
 * --audience (an id or a slug) is looked up first, so an unknown one
 * stops the run (exit 1) before anything is written, and then scanned
 * whole, audience after audience; audience.c turns complete scans into
 * trigger events (contract 5.3), one segment event per line.
 *
 * Design decisions:
 *
 * - --backfill alone scans once and sends every member as an enter.
 *   --watch --state DIR compares each scan with the membership saved in
 *   DIR/ID and saves the new one once its events are written and
 *   flushed; the first watch of a folder saves a baseline and sends
 *   nothing, unless --backfill asks for the current members, which is
 *   done once per folder (audience.c).
 * - A state folder that is not a writable directory is a configuration
 *   error (exit 2), found before any request; so is a folder saved for
 *   another audience or key field.
 * - With --watch and no --once a cycle that fails for a transient reason
 *   (retries ran out) is reported and tried again at the next interval,
 *   since the folder still holds the last good scan; --once and a plain
 *   backfill exit 75 instead.  Anything else is fatal (exit 1).
 * - Profiles without the key field are skipped with a warning, not
 *   rejected: there is no input record to replay, and the next scan
 *   would skip them again.  The exit status stays 0.
 * - On a terminal, each scan shows a progress line (audience.c with
 *   progress.c), erased when the scan ends.
 */
#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "kl.h"

enum { OPT_BACKFILL = KL_OPT_FREE, OPT_FIELDS, OPT_INTERVAL, OPT_KEY_FIELD,
	OPT_LIST, OPT_ONCE, OPT_RETRY_BUDGET, OPT_STATE, OPT_SUB_ID,
	OPT_WATCH };

#define NAMES_MAX	1000	/* audiences, fields */

struct opts {
	struct kl_lyticsopts	 lyt;
	struct kl_audience_cfg	 cfg;
	const char		*names[NAMES_MAX + 1];	/* --audience */
	size_t			 nnames;
	const char		*fields[NAMES_MAX + 1];	/* --fields */
	size_t			 nfields;
	const char		*state;
	const char		*sub_id;
	char			 sub[33];
	int			 list, watch, once, has_fields;
	unsigned long long	 interval, retry_budget;
};

static const struct option longopts[] = {
	KL_STD_LONGOPTS,
	KL_LYTICS_LONGOPTS,
	{ "audience", required_argument, NULL, 'a' },
	{ "backfill", no_argument, NULL, OPT_BACKFILL },
	{ "fields", required_argument, NULL, OPT_FIELDS },
	{ "interval", required_argument, NULL, OPT_INTERVAL },
	{ "key-field", required_argument, NULL, OPT_KEY_FIELD },
	{ "list", no_argument, NULL, OPT_LIST },
	{ "once", no_argument, NULL, OPT_ONCE },
	{ "retry-budget", required_argument, NULL, OPT_RETRY_BUDGET },
	{ "state", required_argument, NULL, OPT_STATE },
	{ "subscription-id", required_argument, NULL, OPT_SUB_ID },
	{ "watch", no_argument, NULL, OPT_WATCH },
	{ NULL, 0, NULL, 0 },
};

static const char help[] = "\noptions:\n"
"  -h, --help               print this help and exit\n"
"  -V, --version            print the version and exit\n"
"  -v, --verbose            report progress; twice for debugging\n"
"  -a, --audience=ID|SLUG   an audience to read (repeatable, or a,b,...)\n"
"      --backfill           send the members as enters (once per --state)\n"
"      --fields=F,...       the profile fields events carry (default all)\n"
"      --interval=SECONDS   --watch: scan this often (default 60)\n"
"      --key-field=FIELD    what names a member (default _uid, then email)\n"
"      --list               list the account's audiences and exit\n"
"      --lytics-key-file=F  the API key (else LYTICS_API_KEY)\n"
"      --lytics-url=URL     the API (else LYTICS_API_URL, api.lytics.io)\n"
"      --once               --watch: compare once and exit\n"
"      --retry-budget=MS    how long to retry a request (default 60000)\n"
"      --state=DIR          --watch: the saved memberships (required)\n"
"      --subscription-id=ID meta.subscription_id (default from audiences)\n"
"      --watch              send enters and exits since the last scan\n";

static void
usage(int status)
{
	FILE *f = status == 0 ? stdout : stderr;

	fputs("usage: kl-read-audience [-hVv] --list [--lytics-key-file file] "
	    "[--lytics-url url]\n"
	    "\t[--retry-budget ms]\n"
	    "       kl-read-audience [-hVv] [--backfill] [--once] [--watch]\n"
	    "\t[--fields field,...] [--interval seconds] [--key-field field]\n"
	    "\t[--lytics-key-file file] [--lytics-url url] "
	    "[--retry-budget ms]\n"
	    "\t[--state dir] [--subscription-id id] -a audience ...\n", f);
	if (status == 0)
		fputs(help, f);
	exit(status);
}

static void
bad(const char *why)
{
	kl_log(KL_ERROR, 0, "%s", why);
	usage(2);
}

/* Splits a comma-separated list into v, skipping empty and repeated. */
static void
split(char *s, const char **v, size_t *n)
{
	char *t;
	size_t i;

	for (t = strtok(s, ","); t != NULL; t = strtok(NULL, ",")) {
		for (i = 0; i < *n && strcmp(v[i], t) != 0; i++)
			;
		if (i < *n)
			continue;
		if (*n == NAMES_MAX)
			bad("too many names in --audience or --fields");
		v[(*n)++] = t;
	}
}

static void
parse_args(struct opts *o, int argc, char **argv)
{
	int ch, r;

	while ((ch = getopt_long(argc, argv, "Va:hv", longopts, NULL)) != -1) {
		if ((r = kl_opt_common(ch, optarg, NULL, &o->lyt)) == -1)
			usage(2);
		if (r == 1)
			continue;
		switch (ch) {
		case 'V':
			printf("kl-read-audience (kl) %s\n", PACKAGE_VERSION);
			exit(0);
		case 'a':
			split(optarg, o->names, &o->nnames);
			break;
		case 'h':
			usage(0);
			break;
		case OPT_BACKFILL:
			o->cfg.backfill = 1;
			break;
		case OPT_FIELDS:
			o->has_fields = 1;
			split(optarg, o->fields, &o->nfields);
			break;
		case OPT_INTERVAL:
			if (kl_opt_uint("interval", optarg, 1, 86400,
			    &o->interval) == -1)
				usage(2);
			break;
		case OPT_KEY_FIELD:
			if (*optarg == '\0' || strlen(optarg) > 200)
				bad("--key-field wants 1 to 200 bytes");
			o->cfg.key_field = optarg;
			break;
		case OPT_LIST:
			o->list = 1;
			break;
		case OPT_ONCE:
			o->once = 1;
			break;
		case OPT_RETRY_BUDGET:
			if (kl_opt_uint("retry-budget", optarg, 0, 86400000,
			    &o->retry_budget) == -1)
				usage(2);
			break;
		case OPT_STATE:
			o->state = optarg;
			break;
		case OPT_SUB_ID:
			o->sub_id = optarg;
			break;
		case OPT_WATCH:
			o->watch = 1;
			break;
		default:
			usage(2);
		}
	}
	if (optind < argc)
		bad("no operands are taken: give audiences with -a");
}

/* The checks of option combinations, and of the state folder. */
static void
check_args(struct opts *o)
{
	if (o->list && (o->nnames > 0 || o->cfg.backfill || o->watch ||
	    o->once || o->state || o->has_fields || o->cfg.key_field ||
	    o->interval || o->sub_id))
		bad("--list goes with the Lytics options only");
	if (o->list)
		return;
	if (o->nnames == 0)
		bad("no audience: give --audience (or --list)");
	if (!o->cfg.backfill && !o->watch)
		bad("nothing to do: give --backfill, --watch or both");
	if (o->watch != (o->state != NULL))
		bad("--watch and --state go together");
	if ((o->once || o->interval) && !o->watch)
		bad("--once and --interval go with --watch");
	if (o->has_fields && o->nfields == 0)
		bad("--fields wants at least one field name");
	if (o->sub_id != NULL && (*o->sub_id == '\0' ||
	    strlen(o->sub_id) > 128))
		bad("--subscription-id wants 1 to 128 bytes");
	o->cfg.fields = o->has_fields ? o->fields : NULL;
	if (o->state != NULL && kl_audience_state_ok(o->state) == -1)
		kl_die(KL_EXIT_USAGE, errno, "--state '%s' is not a writable "
		    "folder", o->state);
}

static int
emit(void *arg, const char *p, size_t n)
{
	return kl_emit(p, n);
}

static int
flush(void *arg)
{
	return kl_out_flush(&kl_stdout);
}

/* One cycle of every audience; 0 or an exit status. */
static int
cycle(struct opts *o, struct kl_lytics_api *api, struct kl_audience *a)
{
	struct kl_audience_stats st;
	struct kl_err e;
	size_t i;
	long t0;

	for (i = 0; i < o->nnames && a[i].m != NULL; i++) {
		t0 = kl_mono_ms();
		if (kl_audience_cycle(api, &o->cfg, &a[i], &st, &e) == -1) {
			if (e.kind == KL_ERR_STOPPED)
				return KL_EXIT_TEMPFAIL;
			kl_log(o->watch && !o->once && e.kind ==
			    KL_ERR_TRANSIENT ? KL_ERROR : KL_FATAL, 0,
			    "audience '%s': %s", a[i].name, e.msg);
			if (!o->watch || o->once || e.kind != KL_ERR_TRANSIENT)
				return kl_err_status(&e);
			continue;
		}
		if (st.baseline)
			kl_log(KL_INFO, 0, "audience '%s': baseline of %ld "
			    "members saved, nothing sent", a[i].name,
			    st.members);
		else
			kl_log(KL_INFO, 0, "audience '%s': %ld members, %ld "
			    "enters, %ld exits, %ld skipped, %ld pages in %ld "
			    "ms", a[i].name, st.members, st.enters, st.exits,
			    st.skipped, st.pages, kl_mono_ms() - t0);
	}
	return KL_EXIT_OK;
}

/* Looks up and opens every audience, then runs the cycles. */
static int
run(struct opts *o, struct kl_lytics_api *api, struct kl_audience *a)
{
	struct kl_err e;
	long n, start;
	int status;

	if ((n = kl_audience_open_all(api, o->names, o->nnames, o->state,
	    o->cfg.key_field ? o->cfg.key_field : KL_AUDIENCE_KEYS, a, o->sub,
	    &e)) == -1) {
		if (e.kind != KL_ERR_STOPPED)
			kl_log(KL_FATAL, 0, "%s", e.msg);
		return kl_err_status(&e);
	}
	o->nnames = (size_t)n;
	if (o->cfg.sub_id == NULL)
		o->cfg.sub_id = o->sub;
	for (;;) {
		start = kl_mono_ms();
		if ((status = cycle(o, api, a)) != KL_EXIT_OK || !o->watch ||
		    o->once || kl_stopping())
			return status;
		kl_log(KL_DEBUG, 0, "next scan in %llu s", o->interval);
		if (kl_sleep_ms(start + (long)o->interval * 1000 -
		    kl_mono_ms()) == -1)
			return KL_EXIT_OK;
	}
}

/* --list: one record per audience. */
static int
list(struct kl_lytics_api *api)
{
	struct kl_err e;
	long n;

	if ((n = kl_audience_list(api, emit, NULL, &e)) == -1) {
		if (e.kind != KL_ERR_STOPPED)
			kl_log(KL_FATAL, 0, "cannot list the audiences: %s",
			    e.msg);
		return kl_err_status(&e);
	}
	kl_log(KL_INFO, 0, "%ld audiences listed", n);
	return KL_EXIT_OK;
}

int
main(int argc, char **argv)
{
	struct kl_audience *a = NULL;
	struct kl_progress prog;
	struct kl_lytics_api api;
	struct kl_lytics cfg;
	struct opts o;
	struct kl_err e;
	size_t i;
	int status;

	kl_prog = "kl-read-audience";
	kl_sig_init();
	memset(&o, 0, sizeof(o));
	o.retry_budget = KL_LYTICS_BUDGET_MS;
	o.cfg.emit = emit;
	o.cfg.flush = flush;
	o.cfg.progress = &prog;		/* each scan's line, on a terminal */
	parse_args(&o, argc, argv);
	check_args(&o);
	if (o.interval == 0)
		o.interval = 60;
	o.cfg.sub_id = o.sub_id;

	if (kl_lytics_config(&cfg, &o.lyt, &e) == -1)
		kl_die(kl_err_status(&e), 0, "%s", e.msg);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		kl_die(KL_EXIT_FAIL, 0, "cannot initialise libcurl");
	if (kl_lytics_open(&api, &cfg, &e) == -1)
		kl_die(KL_EXIT_FAIL, 0, "%s", e.msg);
	kl_lytics_free(&cfg);
	api.budget_ms = (long)o.retry_budget;
	if (!o.list && (a = calloc(o.nnames, sizeof(*a))) == NULL)
		kl_die(KL_EXIT_FAIL, errno, "out of memory");

	kl_out_init();
	status = o.list ? list(&api) : run(&o, &api, a);
	status = kl_outputs_close(status, NULL, NULL);
	for (i = 0; a != NULL && i < o.nnames; i++)
		kl_audience_free(&a[i]);
	free(a);
	kl_lytics_close(&api);
	curl_global_cleanup();
	kl_exit(status);
}
