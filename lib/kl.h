/*
 * kl.h - the one header of the kl library (lib/libkl.a).
 *
 * Declarations are grouped by the file that defines them.  The library
 * reports and the command decides: nothing declared here exits the
 * process or writes to standard output.  Functions return 0 (or a count)
 * on success and -1 with errno on failure; calls whose failures carry
 * more than errno (HTTP, AWS, Lytics) fill a struct kl_err.
 */
#ifndef KL_H
#define KL_H

#include <sys/types.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define KL_EXIT_OK		0	/* every record processed */
#define KL_EXIT_FAIL		1	/* fatal error, stopped early */
#define KL_EXIT_USAGE		2	/* bad command line or configuration */
#define KL_EXIT_PARTIAL		3	/* ran to the end, some records rejected */
#define KL_EXIT_TEMPFAIL	75	/* transient failure after retries */

#define KL_LINE_MAX	(64UL * 1024 * 1024)

#if defined(__GNUC__)
#define KL_PRINTF(f, a)	__attribute__((format(printf, f, a)))
#define KL_NORETURN	__attribute__((noreturn))
#else
#define KL_PRINTF(f, a)
#define KL_NORETURN
#endif

/* buf.c */
struct kl_buf {
	char	*data;		/* always NUL-terminated when non-NULL */
	size_t	 len;
	size_t	 cap;
	int	 err;		/* sticky: set once an allocation failed */
};
void	 kl_buf_init(struct kl_buf *);
void	 kl_buf_free(struct kl_buf *);
void	 kl_buf_wipe(struct kl_buf *);
void	 kl_buf_reset(struct kl_buf *);
int	 kl_buf_reserve(struct kl_buf *, size_t);
void	 kl_buf_add(struct kl_buf *, const void *, size_t);
void	 kl_buf_adds(struct kl_buf *, const char *);
void	 kl_buf_addc(struct kl_buf *, int);
void	 kl_buf_addf(struct kl_buf *, const char *, ...) KL_PRINTF(2, 3);
void	 kl_buf_vaddf(struct kl_buf *, const char *, va_list)
	    KL_PRINTF(2, 0);
void	 kl_buf_add_jstr(struct kl_buf *, const char *, size_t);
char	*kl_buf_steal(struct kl_buf *);

struct kl_hdrs {
	char	**name;
	char	**value;
	size_t	  n;
	size_t	  cap;
	int	  err;
};
void	 kl_hdrs_init(struct kl_hdrs *);
void	 kl_hdrs_free(struct kl_hdrs *);
void	 kl_hdrs_add(struct kl_hdrs *, const char *, const char *);
void	 kl_hdrs_set(struct kl_hdrs *, const char *, const char *);
const char *kl_hdrs_get(const struct kl_hdrs *, const char *);

/* jscan.c: the span-based JSON scanner for the per-record path */

enum kl_jtype {
	KL_JOBJ = 1, KL_JARR, KL_JSTR, KL_JNUM, KL_JTRUE, KL_JFALSE, KL_JNUL
};
#define KL_JSCALAR(t)	((t) >= KL_JSTR)
#define KL_JDEPTH	256	/* libjq 1.6's limit; an object counts 2 */

struct kl_jspan {
	const char	*p;	/* first byte; a string's span has its quotes */
	size_t		 n;
	int		 type;	/* enum kl_jtype */
};

enum kl_jerrcode {
	KL_JE_NONE, KL_JE_EOF, KL_JE_CHAR, KL_JE_TRAIL, KL_JE_UTF8,
	KL_JE_CTRL, KL_JE_ESC, KL_JE_SURR, KL_JE_NUM, KL_JE_LIT,
	KL_JE_DEPTH, KL_JE_NOMEM
};
struct kl_jerr {
	size_t		 off;		/* byte offset of the fault */
	int		 code;		/* enum kl_jerrcode */
	const char	*why;		/* "invalid UTF-8" */
	char		 msg[64];	/* "invalid UTF-8 at byte 17" */
};

struct kl_jiter {
	const char	*p;	/* next member or element */
	const char	*end;	/* the closing bracket */
	int		 type;	/* KL_JOBJ or KL_JARR */
};

int	 kl_js_parse(const char *, size_t, struct kl_jspan *, struct kl_jerr *);
int	 kl_js_minify(struct kl_buf *, const char *, size_t, struct kl_jspan *,
	    struct kl_jerr *);
int	 kl_js_get(const struct kl_jspan *, const char *, struct kl_jspan *);
int	 kl_js_getn(const struct kl_jspan *, const char *, size_t,
	    struct kl_jspan *);
int	 kl_js_path(const struct kl_jspan *, const char *, struct kl_jspan *);
int	 kl_js_iter_init(struct kl_jiter *, const struct kl_jspan *);
int	 kl_js_iter_next(struct kl_jiter *, struct kl_jspan *,
	    struct kl_jspan *);
int	 kl_js_str(const struct kl_jspan *, struct kl_buf *);
int	 kl_js_streq(const struct kl_jspan *, const char *);
int	 kl_js_streqn(const struct kl_jspan *, const char *, size_t);
int	 kl_js_i64(const struct kl_jspan *, int64_t *);
int	 kl_js_double(const struct kl_jspan *, double *);
int	 kl_js_text(const struct kl_jspan *, struct kl_buf *);
void	 kl_js_put_sep(struct kl_buf *);
void	 kl_js_put_key(struct kl_buf *, const char *);
void	 kl_js_put_span(struct kl_buf *, const struct kl_jspan *);

/* log.c */
enum kl_level { KL_FATAL, KL_ERROR, KL_WARNING, KL_INFO, KL_DEBUG };
extern const char *kl_prog;
extern int kl_verbose;		/* 0 warnings, 1 info (-v), 2 debug (-vv) */
void	 kl_log(int, int, const char *, ...) KL_PRINTF(3, 4);
void	 kl_vlog(int, int, const char *, va_list) KL_PRINTF(3, 0);
void	 kl_die(int, int, const char *, ...) KL_PRINTF(3, 4) KL_NORETURN;
const char *kl_akid_tail(const char *);

struct kl_err {
	int	 kind;		/* enum kl_errkind */
	long	 status;	/* HTTP status, 0 if none */
	int	 sys;		/* errno or libcurl code, 0 if none */
	char	 code[128];	/* service error code, "" if none */
	char	 msg[512];	/* human-readable, never a secret */
};
enum kl_errkind {
	KL_ERR_NONE,
	KL_ERR_TRANSIENT,	/* retry with backoff */
	KL_ERR_PERMANENT,	/* do not retry */
	KL_ERR_CREDS,		/* expired token: refresh, retry once */
	KL_ERR_SKEW,		/* signature expired: fix clock, retry once */
	KL_ERR_ITERATOR,	/* expired shard iterator */
	KL_ERR_STOPPED,		/* a stop signal arrived */
	KL_ERR_CONFIG		/* bad configuration: exit 2 */
};
void	 kl_err_clear(struct kl_err *);
void	 kl_err_set(struct kl_err *, int, long, const char *, const char *,
	    ...) KL_PRINTF(5, 6);
int	 kl_err_status(const struct kl_err *);

/* sig.c */
void	 kl_sig_init(void);
int	 kl_stopping(void);
int	 kl_stop_signal(void);
void	 kl_stop_request(int);
void	 kl_exit(int) KL_NORETURN;
void	 kl_epipe(void) KL_NORETURN;
int	 kl_exit_worst(int, int);

/* io.c */
struct kl_in {
	int	 fd;
	int	 owned;		/* close fd at kl_in_close */
	char	*name;		/* "<stdin>" or the path */
	long	 line;		/* number of the line last returned */
	char	*buf;
	size_t	 len;		/* bytes held */
	size_t	 off;		/* start of unread data */
	size_t	 cap;
	size_t	 scan;		/* bytes from off already searched for \n */
	int	 eof;
};
int	 kl_in_open(struct kl_in *, const char *);
int	 kl_in_fdopen(struct kl_in *, int, const char *);
int	 kl_in_line(struct kl_in *, char **, size_t *);
void	 kl_in_close(struct kl_in *);
int	 kl_in_pending(const struct kl_in *);
int	 kl_in_wait(const struct kl_in *, long);

struct kl_inputs {
	char	**paths;	/* the operands; NULL-terminated */
	int	  i;		/* next operand */
	int	  open;
	struct kl_in in;
};
void	 kl_inputs_init(struct kl_inputs *, char **);
int	 kl_inputs_line(struct kl_inputs *, char **, size_t *);
void	 kl_inputs_close(struct kl_inputs *);
int	 kl_stdin_is_tty(char **);

struct kl_out {
	int		 fd;
	int		 buffered;	/* a regular file: flush at 64 KiB */
	int		 is_stdout;
	struct kl_buf	 b;
};
extern struct kl_out kl_stdout;
int	 kl_out_init(void);
int	 kl_out_open(struct kl_out *, const char *, int);
int	 kl_out_write(struct kl_out *, const void *, size_t);
int	 kl_out_flush(struct kl_out *);
int	 kl_out_close(struct kl_out *);
int	 kl_emit(const char *, size_t);
int	 kl_write_all(int, const void *, size_t);

/* reject.c */
struct kl_rejects {
	struct kl_out	 out;
	int		 open;
	long		 count;
};
int	 kl_rejects_open(struct kl_rejects *, const char *);
int	 kl_reject(struct kl_rejects *, const char *, long, const char *,
	    const char *, const char *, size_t, int);
int	 kl_rejects_close(struct kl_rejects *);

/* reject.c: a command's last step: the standard output and --rejects */
int	 kl_outputs_close(int, struct kl_rejects *, const char *);

/* util.c */
int	 kl_parse_uint(const char *, unsigned long long, unsigned long long,
	    unsigned long long *);
int	 kl_parse_ms(const char *, long *);
int	 kl_stream_name_ok(const char *);
int	 kl_mkstemp_near(const char *, char **);
int	 kl_atomic_write(const char *, const void *, size_t, mode_t);
int	 kl_read_file(const char *, struct kl_buf *, size_t);
long	 kl_now_ms(void);
long	 kl_mono_ms(void);
uint64_t kl_random(void);

/* enc.c */
void	 kl_hex(const unsigned char *, size_t, char *);
void	 kl_base64_enc(struct kl_buf *, const unsigned char *, size_t);
size_t	 kl_base64_enclen(size_t);
int	 kl_base64_dec(struct kl_buf *, const char *, size_t);
int	 kl_sha256(const void *, size_t, unsigned char[32]);
int	 kl_hmac_sha256(const void *, size_t, const void *, size_t,
	    unsigned char[32]);
int	 kl_md5(const void *, size_t, unsigned char[16]);
int	 kl_utf8_valid(const unsigned char *, size_t);

/* time.c */
int	 kl_time_fmt(char *, size_t, time_t, int);
int	 kl_time_parse(const char *, time_t *, int *);
int	 kl_time_http(const char *, time_t *);

/* sigv4.c */
struct kl_creds;
#define KL_SIGV4_NO_NORMALIZE	0x01	/* keep ".", ".." and "//" (S3) */
#define KL_SIGV4_CONTENT_SHA256	0x02	/* add, sign x-amz-content-sha256 */
#define KL_SIGV4_TOKEN_UNSIGNED	0x04	/* send the token, do not sign it */
struct kl_sigv4_trace {			/* what was signed, for tests */
	struct kl_buf	 creq;		/* canonical request: holds the token */
	struct kl_buf	 sts;		/* string to sign */
	char		 signature[65];	/* lower-case hex */
};
int	 kl_sigv4_sign(struct kl_hdrs *, const char *, const char *,
	    const char *, const void *, size_t, const char *, const char *,
	    const struct kl_creds *, time_t, int, struct kl_sigv4_trace *);
/* sigv4canon.c */
int	 kl_uri_encode(struct kl_buf *, const char *, size_t, int);

/* cfg.c, profile.c: options, region, endpoints, profiles (contract §2, §3) */
enum kl_optcode {		/* getopt_long codes of the shared options */
	KL_OPT_PROFILE = 256,
	KL_OPT_AUTH,
	KL_OPT_CREDENTIALS,
	KL_OPT_ROLE_ARN,
	KL_OPT_EXTERNAL_ID,
	KL_OPT_ENDPOINT_URL,
	KL_OPT_SESSION_NAME,
	KL_OPT_DURATION,
	KL_OPT_LYTICS_URL,
	KL_OPT_LYTICS_KEY_FILE,
	KL_OPT_DRY_RUN,		/* the job runners' (opt.c) */
	KL_OPT_JOB,
	KL_OPT_ONCE,
	KL_OPT_FREE = 320	/* a command's own long-only codes start here */
};
/*
 * Entries for a command's struct option table (<getopt.h>): the AWS
 * options of contract §2 ("r:" goes in the short-option string), the
 * AssumeRole extras (kl-assume-role, kl-auth), the Lytics options.
 */
#define KL_AWS_LONGOPTS \
	{ "auth", required_argument, NULL, KL_OPT_AUTH }, \
	{ "credentials", required_argument, NULL, KL_OPT_CREDENTIALS }, \
	{ "endpoint-url", required_argument, NULL, KL_OPT_ENDPOINT_URL }, \
	{ "external-id", required_argument, NULL, KL_OPT_EXTERNAL_ID }, \
	{ "profile", required_argument, NULL, KL_OPT_PROFILE }, \
	{ "region", required_argument, NULL, 'r' }, \
	{ "role-arn", required_argument, NULL, KL_OPT_ROLE_ARN }
#define KL_ASSUME_LONGOPTS \
	{ "duration", required_argument, NULL, KL_OPT_DURATION }, \
	{ "session-name", required_argument, NULL, KL_OPT_SESSION_NAME }
#define KL_LYTICS_LONGOPTS \
	{ "lytics-key-file", required_argument, NULL, KL_OPT_LYTICS_KEY_FILE }, \
	{ "lytics-url", required_argument, NULL, KL_OPT_LYTICS_URL }

struct kl_awsopts {		/* the common AWS options, as given */
	const char	*region;
	const char	*profile;
	const char	*auth;		/* a stored authorization (kl-auth) */
	const char	*credentials;	/* a credential record file */
	const char	*role_arn;
	const char	*external_id;
	const char	*endpoint_url;
	const char	*session_name;
	long		 duration;	/* AssumeRole seconds, 0 = default */
	int		 endpoint_sts;	/* --endpoint-url is STS's (assume-role) */
};

enum { KL_INI_CONFIG = 1, KL_INI_CREDS };	/* the two profile files */
struct kl_ini_kv {
	char		*key;		/* lower case */
	char		*val;		/* wiped when freed */
	int		 line;
};
struct kl_ini_sec {
	char		*name;		/* as between the brackets, trimmed */
	char		*profile;	/* the profile it holds, or NULL */
	int		 explicit;	/* [profile x] rather than [default] */
	int		 line;
	struct kl_ini_kv *kv;
	size_t		 n, cap;
};
struct kl_ini {
	char		*path;
	int		 kind;		/* KL_INI_CONFIG or KL_INI_CREDS */
	int		 found;		/* 0: the file does not exist */
	mode_t		 mode;		/* st_mode when found */
	struct kl_ini_sec *sec;
	size_t		 n, cap;
};

struct kl_cfg {
	char	*region;
	char	*region_from;	/* "--region", "AWS_REGION", "profile 'x'" */
	char	*profile;	/* the profile in effect */
	char	*kinesis_url;	/* scheme://host[:port], no path */
	char	*kinesis_from;
	char	*sts_url;
	char	*sts_from;
	char	*ca_bundle;	/* AWS_CA_BUNDLE or the profile's */
	struct kl_ini config_ini;	/* AWS_CONFIG_FILE */
	struct kl_ini creds_ini;	/* AWS_SHARED_CREDENTIALS_FILE */
};
#define KL_PROF_CREDS	1	/* kl_profile_get: the credentials file */
#define KL_PROF_CONFIG	2	/* the config file */
#define KL_PROF_ANY	3	/* credentials file first */

struct kl_lyticsopts {
	const char	*url;
	const char	*key_file;
};
struct kl_lytics {
	char		*url;		/* without trailing slashes */
	const char	*url_from;
	char		*key;		/* wiped by kl_lytics_free */
	const char	*key_from;
};

struct stat;
int	 kl_awsopt(struct kl_awsopts *, int, const char *);
int	 kl_cfg_load(struct kl_cfg *, const struct kl_awsopts *,
	    struct kl_err *);
void	 kl_cfg_free(struct kl_cfg *);
void	 kl_cfg_debug(const struct kl_cfg *);
int	 kl_region_ok(const char *);
int	 kl_role_arn_ok(const char *);
int	 kl_external_id_ok(const char *);
int	 kl_session_name_ok(const char *);
int	 kl_url_norm(const char *, int, char **, const char **);
/* profile.c */
int	 kl_read_private(const char *, size_t, struct kl_buf *, struct stat *,
	    struct kl_err *);
int	 kl_ini_parse(struct kl_ini *, int, const char *, const char *, size_t,
	    struct kl_err *);
int	 kl_ini_load(struct kl_ini *, int, const char *, struct kl_err *);
void	 kl_ini_free(struct kl_ini *);
const struct kl_ini_sec *kl_ini_profile(const struct kl_ini *, const char *);
const char *kl_ini_get(const struct kl_ini *, const char *, const char *);
int	 kl_profile_exists(const struct kl_cfg *, const char *);
const char *kl_profile_get(const struct kl_cfg *, const char *, const char *,
	    int);
int	 kl_profile_missing(const struct kl_cfg *, const char *,
	    struct kl_err *);
/* cfg.c */
int	 kl_lyticsopt(struct kl_lyticsopts *, int, const char *);
int	 kl_lytics_load(struct kl_lytics *, const struct kl_lyticsopts *,
	    struct kl_err *);
void	 kl_lytics_free(struct kl_lytics *);

/* opt.c: the command line every command handles alike (contract §2) */
#define KL_STD_LONGOPTS \
	{ "help", no_argument, NULL, 'h' }, \
	{ "verbose", no_argument, NULL, 'v' }, \
	{ "version", no_argument, NULL, 'V' }
struct option;
int	 kl_opt_common(int, const char *, struct kl_awsopts *,
	    struct kl_lyticsopts *);
int	 kl_opt_role_arn(const char *);
int	 kl_opt_uint(const char *, const char *, unsigned long long,
	    unsigned long long, unsigned long long *);
int	 kl_opt_ms(const char *, const char *, long *);
const char *kl_opt_name(const struct option *, int);
const char *kl_input_name(const char *);
#define KL_JOB_LONGOPTS \
	{ "dry-run", no_argument, NULL, KL_OPT_DRY_RUN }, \
	{ "job", required_argument, NULL, KL_OPT_JOB }, \
	{ "once", no_argument, NULL, KL_OPT_ONCE }
struct kl_jobopts {		/* the options of kl-import and kl-export */
	const char	*file;		/* --job: the job file */
	int		 once;
	int		 dry_run;
};
int	 kl_jobopt(struct kl_jobopts *, int, const char *);
int	 kl_jobopts_check(const struct kl_jobopts *, int, char **, int,
	    const char *);

/* creds.c, credchain.c: credential providers (contract §3) */
struct kl_creds {
	char	*akid;		/* access key id */
	char	*secret;	/* secret access key: wiped when freed */
	char	*token;		/* session token or NULL: wiped when freed */
	time_t	 expiration;	/* 0 for long-term keys */
};
#define KL_CREDS_WINDOW	300	/* refresh this many seconds before expiry */
void	 kl_creds_free(struct kl_creds *);
int	 kl_creds_copy(struct kl_creds *, const struct kl_creds *);
int	 kl_creds_parse(const char *, size_t, struct kl_creds *, char *,
	    size_t);
int	 kl_creds_format(struct kl_buf *, const struct kl_creds *);

/*
 * The AssumeRole step.  creds.c calls it for --role-arn, delegated
 * --auth and role_arn profiles; sts.c provides it.  Fills *out (caller
 * frees with kl_creds_free).  Returns 0, or -1 with e filled.
 */
struct kl_assume {
	const char	*role_arn;
	const char	*external_id;	/* or NULL */
	const char	*session_name;	/* or NULL: derived */
	long		 duration;	/* seconds, 0 = 3600 */
	const char	*region;
	const char	*sts_url;
};
typedef int (*kl_assume_fn)(void *, const struct kl_creds *,
    const struct kl_assume *, struct kl_creds *, struct kl_err *);
struct kl_credsrc;		/* opaque: a resolved credential chain */
/* credchain.c */
struct kl_credsrc *kl_credsrc_new(const struct kl_awsopts *,
	    const struct kl_cfg *, kl_assume_fn, void *, struct kl_err *);
void	 kl_credsrc_free(struct kl_credsrc *);
/* creds.c */
int	 kl_credsrc_get(struct kl_credsrc *, time_t, const struct kl_creds **,
	    struct kl_err *);
void	 kl_credsrc_expired(struct kl_credsrc *);
const char *kl_credsrc_describe(const struct kl_credsrc *);

/* store.c: the kl-auth authorization store */
enum { KL_AUTH_KEYS = 1, KL_AUTH_DELEGATED };
struct kl_auth {		/* one authorization; strings may be NULL */
	char	*name;
	char	*label;
	char	*description;
	int	 method;		/* KL_AUTH_KEYS or KL_AUTH_DELEGATED */
	char	*region;
	char	*access_key_id;
	char	*secret_access_key;	/* wiped by kl_auth_free */
	char	*role_arn;
	char	*external_id;
	char	*session_name;
	long	 duration;		/* seconds, 0 = default */
	time_t	 created;
};
#define KL_STORE_REPLACE	0x01	/* kl_store_save: overwrite */
int	 kl_store_name_ok(const char *);
char	*kl_store_dir(struct kl_err *);
int	 kl_store_load(const char *, struct kl_auth *, struct kl_err *);
int	 kl_store_save(const struct kl_auth *, int, struct kl_err *);
int	 kl_store_remove(const char *, struct kl_err *);
int	 kl_store_list(char ***, struct kl_err *);
void	 kl_store_list_free(char **);
int	 kl_auth_check(const struct kl_auth *, char *, size_t);
void	 kl_auth_free(struct kl_auth *);

/* json.c: kind-checked jv getters (house style §6.3); need <jv.h> */
#ifdef JV_H
int	 kl_json_parse_obj(const char *, size_t, jv *, char *, size_t);
int	 kl_json_str(jv, const char *, jv *, const char **);
int	 kl_json_dup(jv, const char *, char **);
int	 kl_json_long(jv, const char *, long, long, long *);
#endif

/* http.c: libcurl transfers, retry timing, stop-aware sleeps */
#define KL_HTTP_CONNECT_MS	5000L
#define KL_HTTP_TIMEOUT_MS	30000L
struct kl_http {		/* one endpoint: one reused CURL handle */
	void		*curl;		/* CURL *: keeps the connection */
	long		 connect_ms;
	long		 timeout_ms;	/* per transfer */
	size_t		 body_max;	/* largest reply body accepted */
	char		*ca_bundle;	/* CURLOPT_CAINFO, or NULL */
	char		 ua[64];	/* "kl/VERSION kl-x" */
};
struct kl_http_req {
	const char		*method;	/* "GET", "POST", ... */
	const char		*url;
	const struct kl_hdrs	*hdrs;		/* or NULL */
	const void		*body;
	size_t			 len;
};
struct kl_http_resp {
	long		 status;	/* 0 until a reply arrived */
	struct kl_buf	 body;
	char		 ctype[128];	/* Content-Type, "" if none */
	char		 errtype[128];	/* x-amzn-ErrorType, "" if none */
	char		 reqid[96];	/* x-amzn-RequestId, "" if none */
	time_t		 date;		/* the reply's Date, 0 if none */
	long		 retry_after_ms; /* Retry-After, -1 if none */
	long		 elapsed_ms;
};
struct kl_http_xfer {		/* one transfer: reusable by a multi driver */
	void			*curl;
	void			*slist;		/* struct curl_slist * */
	struct kl_http_resp	*resp;
	const char		*method;
	const char		*url;
	long			 timeout_ms;
	long			 start_ms;
	size_t			 body_max;
	int			 too_big;
	char			 retry_after[64];
	char			 errbuf[256];	/* CURLOPT_ERRORBUFFER */
};
int	 kl_http_init(struct kl_http *, const char *);
void	 kl_http_free(struct kl_http *);
void	 kl_http_resp_init(struct kl_http_resp *);
void	 kl_http_resp_reset(struct kl_http_resp *);
void	 kl_http_resp_free(struct kl_http_resp *);
int	 kl_http_prepare(struct kl_http_xfer *, void *, const struct kl_http *,
	    const struct kl_http_req *, struct kl_http_resp *, struct kl_err *);
int	 kl_http_finish(struct kl_http_xfer *, int, struct kl_err *);
int	 kl_http_perform(struct kl_http *, const struct kl_http_req *,
	    struct kl_http_resp *, struct kl_err *);
int	 kl_http_class(long);
int	 kl_http_secret_header(const char *, size_t);
long	 kl_http_retry_after(const char *, time_t);
long	 kl_backoff_ms(int, long, long);
int	 kl_sleep_ms(long);

/* members.c, extsort.c: saved audience membership, external sort, diff */
#define KL_MEMBERS_KEY_MAX	1024		/* bytes of a member key */
#define KL_MEMBERS_FIELDS_MAX	(1024 * 1024)	/* bytes of its fields */
#define KL_MEMBERS_BUDGET	(16UL * 1024 * 1024)	/* sort memory */
enum kl_members_event {
	KL_MEMBERS_ENTER = 1,	/* key only in the new scan: new fields */
	KL_MEMBERS_EXIT,	/* key only in the saved state: old fields */
	KL_MEMBERS_CHANGE	/* fields differ (KL_MEMBERS_CHANGES): new */
};
#define KL_MEMBERS_CHANGES	0x01	/* diff: report KL_MEMBERS_CHANGE */
struct kl_members;		/* opaque: one locked state directory */
struct kl_members_stats {
	long	 added;		/* kl_members_add calls of the scan */
	long	 members;	/* distinct keys of the scan */
	long	 runs;		/* sorted runs spilled to disk */
	long	 merges;	/* intermediate merges of FANIN runs */
	long	 old_members;	/* diff: keys of the saved state */
	long	 enters;
	long	 exits;
	long	 changes;
};
struct kl_members *kl_members_open(const char *, const char *, const char *,
	    struct kl_err *);
int	 kl_members_have_state(const struct kl_members *);
/* extsort.c */
int	 kl_members_begin(struct kl_members *, size_t);
int	 kl_members_add(struct kl_members *, const char *, size_t,
	    const char *, size_t);
long	 kl_members_finish(struct kl_members *);
void	 kl_members_abort(struct kl_members *);
/* members.c */
int	 kl_members_diff(struct kl_members *, int,
	    int (*)(void *, int, const char *, size_t, const char *, size_t),
	    void *, struct kl_err *);
int	 kl_members_diff_files(const char *, const char *, int,
	    int (*)(void *, int, const char *, size_t, const char *, size_t),
	    void *, struct kl_members_stats *, struct kl_err *);
int	 kl_members_commit(struct kl_members *);
const struct kl_members_stats *kl_members_stats(const struct kl_members *);
void	 kl_members_close(struct kl_members *);

/* kpl.c: KPL aggregated records (aws-protocol.md §5) */
struct kl_kpl_span {
	const char	*p;
	size_t		 n;
};
struct kl_kpl {			/* an aggregate being unpacked */
	const unsigned char	*base;	/* the record's Data */
	const unsigned char	*msg;	/* its protobuf */
	const unsigned char	*end;
	const unsigned char	*cur;	/* next field; NULL if not open */
	struct kl_kpl_span	*pkt;	/* partition key table */
	size_t			 npk;
	size_t			 pkcap;
	struct kl_kpl_span	*ehkt;	/* explicit hash key table */
	size_t			 nehk;
	size_t			 ehkcap;
	size_t			 nrec;	/* user records */
	uint64_t		 sub;	/* next sub-sequence number */
	char			 why[96];	/* why kl_kpl_open failed */
};
struct kl_kpl_rec {		/* one user record: spans into the Data */
	uint64_t		 sub;	/* sub-sequence number, 0-based */
	const char		*pk;	/* partition key (not NUL-ended) */
	size_t			 pk_len;
	const char		*ehk;	/* explicit hash key, NULL if none */
	size_t			 ehk_len;
	const unsigned char	*data;
	size_t			 data_len;
};
void	 kl_kpl_init(struct kl_kpl *);
void	 kl_kpl_free(struct kl_kpl *);
int	 kl_kpl_is_agg(const unsigned char *, size_t);
int	 kl_kpl_open(struct kl_kpl *, const unsigned char *, size_t);
int	 kl_kpl_next(struct kl_kpl *, struct kl_kpl_rec *);

/* ckpt.c: checkpoint files (contract §7) */
#define KL_CKPT_WHOLE	(-1)	/* sub-sequence number: the whole record */
#define KL_CKPT_SEQMAX	128	/* digits in a sequence number */
struct kl_ckpt_shard {
	char	*id;		/* shard id */
	char	*seq;		/* last sequence number done, or NULL */
	int64_t	 sub;		/* last sub-sequence done, or KL_CKPT_WHOLE */
	int	 closed;	/* read to its end */
	int	 dirty;		/* changed by this handle since load/save */
};
struct kl_ckpt {
	char			*path;
	char			*stream;
	struct kl_ckpt_shard	*sh;	/* sorted by id */
	size_t			 n;
	size_t			 cap;
	int			 lockfd;	/* -1 when not locked */
	long			 lock_ms;	/* save/merge wait, 10000 */
};
int	 kl_ckpt_seq_ok(const char *);
int	 kl_ckpt_seqcmp(const char *, const char *);
int	 kl_ckpt_poscmp(const char *, int64_t, const char *, int64_t);
void	 kl_ckpt_init(struct kl_ckpt *);
void	 kl_ckpt_free(struct kl_ckpt *);
int	 kl_ckpt_load(struct kl_ckpt *, const char *, const char *,
	    struct kl_err *);
const struct kl_ckpt_shard *kl_ckpt_get(const struct kl_ckpt *,
	    const char *);
int	 kl_ckpt_set(struct kl_ckpt *, const char *, const char *, int64_t);
int	 kl_ckpt_set_closed(struct kl_ckpt *, const char *);
int	 kl_ckpt_lock(struct kl_ckpt *, long, struct kl_err *);
void	 kl_ckpt_unlock(struct kl_ckpt *);
int	 kl_ckpt_save(struct kl_ckpt *, struct kl_err *);
int	 kl_ckpt_merge(struct kl_ckpt *, struct kl_err *);

/* aws.c: signed AWS calls, retry classes, clock skew, credential refresh */
#define KL_AWS_RETRIES		5	/* transient retries per call */
#define KL_AWS_BUDGET_MS	60000L	/* a call's retries end by then */
#define KL_AWS_BASE_MS		100L	/* backoff: first ceiling */
#define KL_AWS_CAP_MS		10000L	/* backoff: largest ceiling */
struct kl_aws {			/* one AWS endpoint, e.g. Kinesis */
	struct kl_http		 http;
	char			*origin;	/* scheme://host[:port] */
	char			*host;		/* the signed Host value */
	char			*base_path;	/* the endpoint's path, or "" */
	char			*region;	/* signing region */
	char			*service;	/* signing name: "kinesis" */
	struct kl_credsrc	*creds;		/* the caller's */
	long			 skew;		/* seconds added to time(NULL) */
	int			 retries;
	long			 budget_ms;
	long			 base_ms;
	long			 cap_ms;
};
struct kl_aws_req {
	const char		*method;
	const char		*path;		/* unencoded; NULL: "/" */
	const char		*query;		/* wire form, or NULL */
	const char		*op;		/* for messages: "ListShards" */
	const struct kl_hdrs	*hdrs;		/* signed, besides Host */
	const void		*body;
	size_t			 len;
	int			 retries;	/* < 0: the endpoint's */
	long			 budget_ms;	/* <= 0: the endpoint's */
	int			 sign_flags;	/* KL_SIGV4_* */
};
int	 kl_aws_init(struct kl_aws *, const char *, const char *,
	    const char *, struct kl_credsrc *, const char *, struct kl_err *);
void	 kl_aws_free(struct kl_aws *);
int	 kl_aws_call(struct kl_aws *, const struct kl_aws_req *,
	    struct kl_http_resp *, struct kl_err *);
int	 kl_aws_sign(const struct kl_aws *, const struct kl_aws_req *,
	    const struct kl_creds *, time_t, struct kl_hdrs *, struct kl_err *);
int	 kl_aws_reply(const struct kl_aws *, const struct kl_aws_req *,
	    const struct kl_creds *, const struct kl_http_resp *,
	    struct kl_err *);
int	 kl_aws_classify(long, const char *, const char *);
int	 kl_aws_error_parse(const char *, size_t, const char *, char *, size_t,
	    char *, size_t);

/* kinesis.c: Kinesis JSON 1.1, stream names and ARNs, listings */
struct kl_jspan;
struct kl_stream {		/* a STREAM operand */
	char	 name[129];
	char	 arn[2049];	/* "" for a plain name */
	char	 partition[16];	/* the ARN's parts, or "" */
	char	 region[32];
	char	 account[13];
};
int	 kl_stream_parse(struct kl_stream *, const char *, char *, size_t);
int	 kl_stream_region_ok(const struct kl_stream *, const char *, char *,
	    size_t);
void	 kl_stream_members(struct kl_buf *, const struct kl_stream *);
int	 kl_kinesis_init(struct kl_aws *, const struct kl_cfg *,
	    struct kl_credsrc *, struct kl_err *);
int	 kl_kinesis_req(struct kl_aws_req *, struct kl_hdrs *, const char *,
	    const char *, size_t);
int	 kl_kinesis_call(struct kl_aws *, const char *, const char *, size_t,
	    struct kl_http_resp *, struct kl_err *);
void	 kl_kinesis_name(char *, size_t, const char *, size_t);
int	 kl_kinesis_members(struct kl_buf *, const struct kl_jspan *,
	    const char *);
int	 kl_kinesis_list_shards(struct kl_aws *, const struct kl_stream *,
	    const char *, long,
	    int (*)(void *, const struct kl_jspan *, struct kl_err *), void *,
	    struct kl_err *);
int	 kl_kinesis_list_streams(struct kl_aws *, long,
	    int (*)(void *, const struct kl_jspan *, const struct kl_jspan *,
	    struct kl_err *), void *, struct kl_err *);
int	 kl_kinesis_describe(struct kl_aws *, const struct kl_stream *,
	    struct kl_http_resp *, struct kl_jspan *, struct kl_err *);
int	 kl_kinesis_wait(struct kl_aws *, const struct kl_stream *,
	    const char *, long, struct kl_http_resp *, struct kl_jspan *,
	    struct kl_err *);

/* lytics.c: the Lytics API client (lytics-api.md) */
#define KL_LYTICS_BODY_MAX	10000000L	/* a collect request ("10MB") */
#define KL_LYTICS_RETRIES	10	/* transient retries per request */
#define KL_LYTICS_BUDGET_MS	60000L	/* a request's retries end by then */
#define KL_LYTICS_BASE_MS	200L	/* backoff: first ceiling */
#define KL_LYTICS_CAP_MS	10000L	/* backoff: largest ceiling */
struct kl_lytics_api {		/* one Lytics endpoint and key */
	struct kl_http	 http;
	char		*url;		/* base URL, no trailing slash */
	struct kl_hdrs	 hdrs;		/* Authorization (wiped when freed) */
	int		 retries;
	long		 budget_ms;
	long		 base_ms;
	long		 cap_ms;
	int		 finish;	/* let a transfer end after a stop */
};
struct kl_lytics_collect {	/* POST /collect/json/{stream} options */
	const char	*stream;
	const char	*timestamp_field;	/* or NULL */
	int		 dryrun;
};
struct kl_lytics_ack {		/* an acknowledged collect request */
	long	 events;		/* events in the request */
	long	 message_count;		/* the reply's; -1 if absent */
	long	 rejected_count;	/* the reply's; -1 if absent */
};
enum { KL_LYTICS_EV_PENDING, KL_LYTICS_EV_SENT, KL_LYTICS_EV_REJECTED };
struct kl_lytics_ev {		/* one event of a batch */
	size_t	 off;		/* its bytes in the body */
	size_t	 len;
	long	 tag;		/* the caller's */
	int	 state;		/* KL_LYTICS_EV_* */
};
struct kl_lytics_batch {	/* events to post as one JSON array */
	struct kl_buf		 body;	/* "[" and the events joined by "," */
	struct kl_lytics_ev	*ev;
	size_t			 n;
	size_t			 cap;
};
struct kl_lytics_cb {		/* kl_lytics_send's callbacks */
	int	(*ack)(void *, const struct kl_lytics_ack *, struct kl_err *);
	int	(*reject)(void *, const struct kl_lytics_ev *, struct kl_err *);
	void	*arg;
};
struct kl_lytics_scan {		/* a segment scan under way */
	struct kl_lytics_api	*a;
	char			*id;
	char			*fields;
	char			*next;		/* _next, NULL at the end */
	int			 limit;
	int			 done;
	long			 total;		/* the reply's, -1 if none */
	long			 pages;
	long			 profiles;
	struct kl_http_resp	 resp;		/* the last page */
};
struct kl_jspan;
int	 kl_lytics_open(struct kl_lytics_api *, const struct kl_lytics *,
	    struct kl_err *);
void	 kl_lytics_close(struct kl_lytics_api *);
int	 kl_lytics_collect(struct kl_lytics_api *,
	    const struct kl_lytics_collect *, const char *, size_t,
	    struct kl_lytics_ack *, struct kl_err *);
void	 kl_lytics_batch_init(struct kl_lytics_batch *);
void	 kl_lytics_batch_reset(struct kl_lytics_batch *);
void	 kl_lytics_batch_free(struct kl_lytics_batch *);
size_t	 kl_lytics_batch_size_with(const struct kl_lytics_batch *, size_t);
int	 kl_lytics_batch_add(struct kl_lytics_batch *, const char *, size_t,
	    long);
int	 kl_lytics_send(struct kl_lytics_api *,
	    const struct kl_lytics_collect *, struct kl_lytics_batch *,
	    const struct kl_lytics_cb *, struct kl_err *);
int	 kl_lytics_segments(struct kl_lytics_api *, const char *,
	    struct kl_http_resp *, struct kl_jspan *, struct kl_err *);
int	 kl_lytics_segment(struct kl_lytics_api *, const char *,
	    struct kl_http_resp *, struct kl_jspan *, struct kl_err *);
int	 kl_lytics_entity(struct kl_lytics_api *, const char *, const char *,
	    const char *, const char *, struct kl_http_resp *,
	    struct kl_jspan *, struct kl_err *);
int	 kl_lytics_scan_open(struct kl_lytics_scan *, struct kl_lytics_api *,
	    const char *, int, const char *, const char *, struct kl_err *);
long	 kl_lytics_scan_page(struct kl_lytics_scan *, struct kl_jspan *,
	    struct kl_err *);
void	 kl_lytics_scan_close(struct kl_lytics_scan *);
int	 kl_lytics_stream_ok(const char *);
int	 kl_lytics_config(struct kl_lytics *, const struct kl_lyticsopts *,
	    struct kl_err *);

/* lytrec.c: kl-to-lytics' input lines: their events and positions */
#define KL_LYTREC_SHARD_MAX	128	/* bytes of a shard id */
struct kl_lytpos {		/* a Kinesis record's position */
	char	 shard[KL_LYTREC_SHARD_MAX + 1];
	char	 seq[KL_CKPT_SEQMAX + 1];
	int64_t	 sub;		/* or KL_CKPT_WHOLE */
};
struct jq_state;
struct kl_lytrec {		/* how lines become events; the line in hand */
	struct jq_state	*jq;		/* the filter, or NULL */
	size_t		 max_event;	/* larger events are rejected */
	struct kl_buf	 line;		/* the line, minified, if json */
	int		 json;		/* the line is JSON */
	struct kl_buf	 evs;		/* its events, back to back */
	size_t		*ev;		/* where each one ends in evs */
	size_t		 nev, evcap;
	int		 has_pos;	/* pos holds the record's position */
	struct kl_lytpos pos;
	const char	*code;		/* why it is rejected, or NULL */
	char		 why[512];
	int		 fatal;		/* a record of another stream: stop */
	const char	*nomem;		/* what could not be held, or NULL */
	struct kl_buf	 tmp, jqmsg;	/* scratch; libjq's messages */
};
void	 kl_lytrec_init(struct kl_lytrec *);
void	 kl_lytrec_free(struct kl_lytrec *);
int	 kl_lytrec_filter(struct kl_lytrec *, const char *);
int	 kl_lytrec_line(struct kl_lytrec *, const char *, size_t,
	    struct kl_ckpt *);

/* tolytics.c: kl-to-lytics' engine: batches, delivery, the checkpoint */
enum {				/* kl_tolytics_next, besides 1 and 0 */
	KL_TOLYTICS_NOMEM = -4, KL_TOLYTICS_FATAL, KL_TOLYTICS_READ,
	KL_TOLYTICS_SEND
};
struct kl_tolytics_cb {
	/* an acknowledged request: 0, or -1 with e filled to stop */
	int	(*ack)(void *, const struct kl_lytics_ack *, struct kl_err *);
	/* a record not delivered: input, line, -1, code, msg, rec, json */
	void	(*bad)(void *, const char *, long, long, const char *,
		    const char *, const char *, size_t, int);
	void	*arg;
};
struct kl_tolytics_rec;
struct kl_tolytics {		/* after kl_tolytics_init, the caller sets: */
	const struct kl_lytics_collect *col;
	size_t			 batch_size;	/* events per request */
	size_t			 batch_bytes;	/* body bytes per request */
	long			 linger;	/* ms a partial batch waits */
	struct kl_tolytics_cb	 cb;		/* kl_tolytics_init */
	struct kl_lytics_api	 api;		/* kl_tolytics_open */
	struct kl_lytrec	 lr;		/* max_event, the filter */
	struct kl_ckpt		 ck;		/* loaded if use_ck */
	int			 use_ck;
	/* and reads: */
	const char		*name;		/* the line in hand's input */
	long			 line;
	long			 events, batches, refused; /* acked */
	/* the engine's own: */
	struct kl_lytics_batch	 batch;
	struct kl_buf		 recs;		/* the records' text */
	struct kl_tolytics_rec	*rec;
	size_t			 nrec, reccap;
	long			 cur;		/* the line's rec, or -1 */
	struct kl_lytpos	*pos;		/* the newest of each shard */
	size_t			 npos, poscap;
	long			 first_ms;	/* 0: nothing waits */
};
void	 kl_tolytics_init(struct kl_tolytics *,
	    const struct kl_tolytics_cb *);
int	 kl_tolytics_open(struct kl_tolytics *, const struct kl_lytics *, long,
	    struct kl_err *);
void	 kl_tolytics_free(struct kl_tolytics *);
void	 kl_tolytics_ack(struct kl_buf *, const char *,
	    const struct kl_lytics_ack *);
int	 kl_tolytics_flush(struct kl_tolytics *, struct kl_err *);
int	 kl_tolytics_next(struct kl_tolytics *, struct kl_inputs *,
	    struct kl_err *);

/* sts.c, stsxml.c: STS AssumeRole, GetCallerIdentity, the role cache */
#define KL_STS_NS	"https://sts.amazonaws.com/doc/2011-06-15/"
#define KL_STS_CACHE	0x01	/* kl_sts_init: reuse assumed credentials */
struct kl_sts {			/* context of kl_sts_assume (kl_assume_fn) */
	struct kl_aws	 aws;		/* the endpoint, set up at first use */
	char		*url;		/* its URL; NULL until then */
	char		*ca_bundle;
	int		 flags;
	int		 warned;	/* the cache folder was refused */
	long		 calls;		/* AssumeRole requests made */
	struct kl_buf	 served;	/* key ids handed out from the cache */
};
struct kl_sts_ident {		/* a GetCallerIdentity reply */
	char	*account;
	char	*arn;
	char	*user_id;
};
int	 kl_sts_init(struct kl_sts *, const char *, int);
void	 kl_sts_free(struct kl_sts *);
int	 kl_sts_assume(void *, const struct kl_creds *,
	    const struct kl_assume *, struct kl_creds *, struct kl_err *);
int	 kl_sts_assume_role(struct kl_sts *, const struct kl_creds *,
	    const struct kl_assume *, struct kl_creds *, struct kl_err *);
int	 kl_sts_identity(struct kl_sts *, const char *, const char *,
	    const struct kl_creds *, struct kl_sts_ident *, struct kl_err *);
void	 kl_sts_ident_free(struct kl_sts_ident *);
/* stsxml.c */
int	 kl_sts_parse_assume(const char *, size_t, struct kl_creds *, char **,
	    char *, size_t);
int	 kl_sts_parse_identity(const char *, size_t, struct kl_sts_ident *,
	    char *, size_t);
int	 kl_sts_parse_error(const char *, size_t, char *, size_t, char *,
	    size_t, char *, size_t);
/* sts.c */
int	 kl_sts_account_check(const char *, char *, size_t);
int	 kl_sts_role_arn_check(const char *, char *, size_t);
void	 kl_sts_session_name(char *, size_t, time_t);

/* awsenv.c: a Kinesis command's configuration, credentials and endpoint */
struct kl_awsenv {
	struct kl_cfg		 cfg;
	struct kl_sts		 sts;		/* for the roles it assumes */
	struct kl_credsrc	*src;
	struct kl_aws		 aws;		/* the Kinesis endpoint */
};
int	 kl_awsenv_config(struct kl_awsenv *, const struct kl_awsopts *,
	    const struct kl_stream *, struct kl_err *);
int	 kl_awsenv_open(struct kl_awsenv *, const struct kl_awsopts *,
	    struct kl_err *);
void	 kl_awsenv_free(struct kl_awsenv *);

/* page.c: a GetRecords reply turned into kl records (contract §5.2) */
#define KL_PAGE_UNTIL	2	/* kl_page_next: a record past until_ms */
struct kl_page_rec {		/* one output line, valid until the next */
	const char	*seq;		/* sequence number: digits, no NUL */
	size_t		 seq_len;
	long long	 sub;		/* KPL sub-sequence number, or -1 */
	int		 last;		/* the Kinesis record's last line */
	long long	 arrival_ms;	/* -1 if the reply had none */
	const char	*line;		/* the record, without its newline */
	size_t		 len;
};
struct kl_page {
	/* set by the caller */
	const char	*prefix;	/* {"stream":..,"shard_id":..,"seq..":" */
	size_t		 prefix_len;
	const char	*shard_id;	/* for messages */
	int		 data_only;	/* the payload alone */
	long long	 until_ms;	/* 0: no --until */
	const char	*skip_seq;	/* resume inside this aggregate: */
	int64_t		 skip_sub;	/* user records up to this one done */
	/* the reply */
	struct kl_jspan	 records, next, children;
	int		 has_next, has_mbl, has_children;
	long long	 mbl;
	char		 mbl_text[24];
	size_t		 mbl_len;
	size_t		 nrec;		/* Kinesis records read so far */
	size_t		 index;
	size_t		 data_bytes;	/* decoded payload bytes so far */
	struct kl_jiter	 it;
	/* the record in hand */
	const char	*seq;
	size_t		 seq_len;
	struct kl_jspan	 pk;
	long long	 arrival;
	const char	*b64;
	size_t		 b64_len;
	int		 in_agg, skipping;
	struct kl_buf	 raw, line, tmp;
	struct kl_kpl	 kpl;
	long long	 tsec;		/* the second formatted in tbuf */
	char		 tbuf[32];
	char		 why[128];	/* EBADMSG: what is wrong */
};
void	 kl_page_init(struct kl_page *);
void	 kl_page_free(struct kl_page *);
void	 kl_page_trim(struct kl_page *, size_t);
int	 kl_page_open(struct kl_page *, const char *, size_t, struct kl_err *);
int	 kl_page_next(struct kl_page *, struct kl_page_rec *);

/* reader.c: the multi-shard stream reader of kl-read-shard */
enum kl_from {			/* start positions (GetShardIterator types) */
	KL_FROM_TRIM_HORIZON = 1, KL_FROM_LATEST, KL_FROM_AT_TIMESTAMP,
	KL_FROM_AT_SEQUENCE, KL_FROM_AFTER_SEQUENCE
};
struct kl_reader_opts {
	const struct kl_stream	*stream;
	char * const		*shards;	/* --shard ids; nshards 0: all */
	size_t			 nshards;
	int			 from;		/* enum kl_from */
	const char		*from_seq;	/* AT_/AFTER_SEQUENCE */
	long long		 from_ms;	/* AT_TIMESTAMP */
	struct kl_ckpt		*ckpt;		/* loaded, or NULL */
	int			 commit;	/* advance ckpt (commit_cb) */
	int			 follow;
	long long		 until_ms;	/* arrival bound, 0: none */
	unsigned long long	 limit;		/* records, 0: none */
	long			 poll_ms;	/* wait when caught up */
	double			 max_rate;	/* GetRecords/s per shard */
	int			 data_only;
	long			 list_page;	/* ListShards MaxResults, 0 */
	const char		*stats_file;	/* or NULL */
	struct kl_progress	*progress;	/* updated per record, or NULL */
	/* one line (no newline): 0, or -1 with errno to stop (exit 1) */
	int			(*emit)(void *, const char *, size_t);
	/* flush the output, then save ckpt: 0, or -1 with e filled */
	int			(*commit_cb)(void *, struct kl_err *);
	void			*arg;
};
struct kl_reader;
struct kl_reader *kl_reader_new(struct kl_aws *,
	    const struct kl_reader_opts *, struct kl_err *);
int	 kl_reader_run(struct kl_reader *, struct kl_err *);
unsigned long long kl_reader_count(const struct kl_reader *);
void	 kl_reader_free(struct kl_reader *);

/* audience.c, audevent.c: kl-read-audience: audiences, events, cycles */
#define KL_AUDIENCE_LIMIT	100	/* scan page size: Lytics' largest */
#define KL_AUDIENCE_RESTARTS	3	/* restarts of a scan whose _next expired */
#define KL_AUDIENCE_KEYS	"_uid,email"	/* the default key, as saved */
struct kl_audience {		/* an audience being read */
	char			*id;		/* the segment id */
	char			*slug;		/* its slug_name, or "" */
	char			*name;		/* as given: id or slug */
	char			*dir;		/* its state folder */
	int			 tmp;		/* dir is temporary (no --state) */
	int			 backfilled;	/* the state records a backfill */
	struct kl_members	*m;
};
struct kl_audience_cfg {	/* how members are read and events written */
	const char		*key_field;	/* NULL: _uid, then email */
	const char *const	*fields;	/* NULL-terminated; NULL: all */
	const char		*sub_id;	/* meta.subscription_id */
	int			 backfill;	/* send the current members once */
	size_t			 budget;	/* sort memory; 0: the default */
	int			(*emit)(void *, const char *, size_t);
	int			(*flush)(void *);	/* or NULL */
	void			*arg;
	struct kl_progress	*progress;	/* for each scan, or NULL */
};
struct kl_audience_stats {	/* one cycle */
	long	 pages;		/* scan pages, restarts included */
	long	 members;	/* distinct members of the complete scan */
	long	 skipped;	/* profiles without a usable key */
	long	 enters;
	long	 exits;
	int	 restarts;	/* scans restarted after an expired _next */
	int	 baseline;	/* saved as a baseline: nothing emitted */
};
struct kl_jspan;
struct kl_lytics_api;
/* audevent.c */
int	 kl_audience_key(const struct kl_jspan *, const char *, struct kl_buf *,
	    const char **);
int	 kl_audience_fields(struct kl_buf *, const struct kl_jspan *,
	    const char *const *, const char *);
int	 kl_audience_event(struct kl_buf *, const struct kl_audience *, int,
	    const char *, size_t, const char *, size_t, time_t, time_t,
	    const char *);
int	 kl_audience_subscription(char *, const char *const *, size_t);
/* audience.c */
long	 kl_audience_list(struct kl_lytics_api *,
	    int (*)(void *, const char *, size_t), void *, struct kl_err *);
int	 kl_audience_resolve(struct kl_lytics_api *, const char *,
	    struct kl_audience *, struct kl_err *);
int	 kl_audience_state_ok(const char *);
int	 kl_audience_open(struct kl_audience *, const char *, const char *,
	    struct kl_err *);
void	 kl_audience_free(struct kl_audience *);
long	 kl_audience_open_all(struct kl_lytics_api *, const char *const *,
	    size_t, const char *, const char *, struct kl_audience *, char *,
	    struct kl_err *);
int	 kl_audience_cycle(struct kl_lytics_api *,
	    const struct kl_audience_cfg *, struct kl_audience *,
	    struct kl_audience_stats *, struct kl_err *);

/* putter.c: the PutRecords engine of kl-trigger-put */
#define KL_PUT_RECORDS_MAX	500		/* records per PutRecords */
#define KL_PUT_KEY_MAX		256		/* partition key, UTF-16 units */
#define KL_PUT_RECORD_MAX	(1024L * 1024)	/* default record size */
#define KL_PUT_EOF	0x01	/* kl_putter_step: no more input */
#define KL_PUT_LAST	0x02	/* a stop signal: send what is ready, once */
struct kl_jspan;
struct kl_putopts {
	const struct kl_stream	*stream;
	size_t			 batch_size;	/* records per request */
	size_t			 batch_bytes;	/* data + keys per request */
	long			 linger_ms;	/* a partial batch waits */
	int			 max_in_flight;	/* requests at once */
	int			 max_retries;	/* per record */
};
struct kl_putrec {		/* one record; strings need no NUL */
	const char	*input;		/* its input's name: must outlive it */
	long		 line;
	long		 index;		/* element of an array line, or -1 */
	const char	*key;		/* partition key, UTF-8 */
	size_t		 klen;
	const char	*data;		/* what is sent */
	size_t		 dlen;
	const char	*orig;		/* the input object, or NULL: data */
	size_t		 olen;
};
struct kl_putcb {
	/* a record is in the stream: shard and seq are string spans */
	void	(*ack)(void *, const struct kl_putrec *,
		    const struct kl_jspan *, const struct kl_jspan *);
	/* a record will not be sent: refused, or given up at the end */
	void	(*reject)(void *, const struct kl_putrec *, const char *,
		    const char *);
	void	*arg;
};
struct kl_putstats {
	long	 requests;	/* PutRecords calls answered */
	long	 acked;		/* records in the stream */
	long	 refused;	/* records refused for good */
	long	 retried;	/* record attempts that failed and were retried */
	long	 failed_calls;	/* whole calls that failed */
};
struct kl_putter;
struct kl_putter *kl_putter_new(struct kl_aws *, const struct kl_putopts *,
	    const struct kl_putcb *, struct kl_err *);
int	 kl_putter_add(struct kl_putter *, const struct kl_putrec *);
int	 kl_putter_full(const struct kl_putter *);
long	 kl_putter_held(const struct kl_putter *);
int	 kl_putter_step(struct kl_putter *, int, int);
int	 kl_putter_done(const struct kl_putter *);
void	 kl_putter_halt(struct kl_putter *, const struct kl_err *);
const struct kl_err *kl_putter_error(const struct kl_putter *);
long	 kl_putter_drop(struct kl_putter *, const char *, const char *);
const struct kl_putstats *kl_putter_stats(const struct kl_putter *);
void	 kl_putter_free(struct kl_putter *);

/* putrec.c: kl-trigger-put's records: lines, keys, wire format, acks */
typedef void (*kl_putbad_fn)(void *, const char *, long, long,
    const char *, const char *, const char *, size_t, int);
enum { KL_PUTKEY_FIELD, KL_PUTKEY_FALLBACK, KL_PUTKEY_MD5 };
struct kl_putkey;		/* opaque: how a partition key is found */
struct kl_putkey *kl_putkey_new(const char *, struct kl_err *);
int	 kl_putkey_get(struct kl_putkey *, const struct kl_jspan *,
	    const char *, size_t, struct kl_buf *);
void	 kl_putkey_free(struct kl_putkey *);
size_t	 kl_put_keycut(const char *, size_t, size_t);
int	 kl_put_fields(struct kl_buf *, const struct kl_jspan *,
	    const char *const *);
int	 kl_put_limit(struct kl_aws *, const struct kl_stream *, size_t *,
	    struct kl_err *);
void	 kl_put_ack(struct kl_buf *, const struct kl_putrec *,
	    const struct kl_jspan *, const struct kl_jspan *);
void	 kl_put_entry(struct kl_buf *, const struct kl_putrec *, int);
void	 kl_put_result(const struct kl_jspan *, struct kl_jspan *);
void	 kl_put_text(char *, size_t, const struct kl_jspan *);
int	 kl_put_fields_parse(const char *, char ***);
struct kl_inputs;
long	 kl_put_drain(struct kl_inputs *, long, const char *, kl_putbad_fn,
	    void *);
struct kl_putshape {		/* how input lines become records */
	struct kl_putkey	*key;
	const char *const	*fields;	/* kl_put_fields_parse, or NULL */
	size_t			 record_max;	/* data + key */
	struct kl_buf		 m, f, k;	/* scratch: line, data, key */
};
struct kl_putline_cb {
	int		(*put)(void *, const struct kl_putrec *, int);
	kl_putbad_fn	  bad;	/* input, line, index, code, msg, rec, json */
	void		 *arg;
};
int	 kl_put_line(struct kl_putshape *, const char *, size_t,
	    const char *, long, const struct kl_putline_cb *);
void	 kl_put_shape_free(struct kl_putshape *);

/* job.c: job files of kl-import and kl-export (kl-job(5)) */
enum { KL_JOB_IMPORT = 1, KL_JOB_EXPORT = 2 };
enum kl_job_key {
	KL_JOB_LABEL, KL_JOB_DESCRIPTION, KL_JOB_AUTH, KL_JOB_ROLE_ARN,
	KL_JOB_EXTERNAL_ID, KL_JOB_REGION, KL_JOB_KINESIS_STREAM,
	KL_JOB_LYTICS_STREAM, KL_JOB_FILTER, KL_JOB_AUDIENCES,
	KL_JOB_IDENTIFIER_FIELD, KL_JOB_EXPORT_FIELDS, KL_JOB_EXISTING_USERS,
	KL_JOB_STATE_DIR, KL_JOB_POLL_INTERVAL, KL_JOB_LYTICS_KEY_FILE,
	KL_JOB_NKEYS
};
struct kl_job {
	int		 kind;		/* KL_JOB_IMPORT or KL_JOB_EXPORT */
	char		*path;		/* the job file, as given */
	char		*name;		/* its base name without ".job" */
	char		*val[KL_JOB_NKEYS];	/* as written, trimmed; or NULL */
	int		 line[KL_JOB_NKEYS];	/* where set; 0 if not */
	char		**audiences;	/* NULL-terminated, or NULL */
	char		**export_fields;	/* NULL-terminated, or NULL */
	int		 existing_users;	/* 1 for yes */
	long		 poll_ms;	/* poll_interval; 0: the stages' */
	char		*state_dir;	/* set by kl_job_state */
	const char	*state_from;	/* "state_dir", "STATE_DIRECTORY", ... */
};
struct kl_argv;
const char *kl_job_key_name(int);
const char *kl_job_kind_name(int);
int	 kl_job_parse(struct kl_job *, int, const char *, const char *, size_t,
	    struct kl_err *);
int	 kl_job_load(struct kl_job *, int, const char *, struct kl_err *);
void	 kl_job_free(struct kl_job *);
char	*kl_job_filter(const char *);
int	 kl_job_state(struct kl_job *, struct kl_err *);
int	 kl_job_mkdirs(const char *);
void	 kl_job_aws_args(const struct kl_job *, struct kl_argv *);
int	 kl_job_check_auth(const struct kl_job *, struct kl_buf *,
	    struct kl_err *);
int	 kl_job_check_lytics(const struct kl_job *, struct kl_buf *,
	    struct kl_err *);
int	 kl_job_check_stream(const struct kl_job *, int, struct kl_buf *, int *,
	    struct kl_err *);
int	 kl_job_lock(const struct kl_job *, struct kl_err *);
int	 kl_job_dry_run(const struct kl_job *, int, struct kl_buf *,
	    struct kl_err *);

/* pipeline.c: stages as child processes joined by pipes; the job lock */
#define KL_PIPELINE_GRACE_MS	60000L	/* stop, then SIGKILL after this */
struct kl_argv {		/* an argument vector being built */
	char	**v;		/* NULL-terminated once non-empty */
	size_t	  n, cap;
	int	  err;		/* sticky: an allocation failed */
};
struct kl_stage {
	char		*prog;		/* "kl-read-shard": argv[0], messages */
	char		*path;		/* what is run */
	struct kl_argv	 argv;
	pid_t		 pid;
	int		 running;
	int		 status;	/* exit status, or 128+signal */
	int		 stopped;	/* signal sent: a later stage ended */
	int		 relayed;	/* signal relayed from outside */
};
struct kl_pipeline {
	struct kl_stage	*st;
	size_t		 n, cap;
	pid_t		 pgid;		/* the stages' process group */
	int		 out;		/* the last stage's output, or -1 */
	long		 grace_ms;	/* KL_PIPELINE_GRACE_MS */
	long		 stop_ms;	/* when the first stop was sent; 0 */
	int		 relayed;	/* a stop signal was relayed */
	int		 killed;	/* SIGKILL was sent */
	int		 status;	/* the most serious so far */
	struct kl_buf	 in;		/* a partial line of out */
};
void	 kl_argv_init(struct kl_argv *);
void	 kl_argv_add(struct kl_argv *, const char *);
void	 kl_argv_addf(struct kl_argv *, const char *, ...) KL_PRINTF(2, 3);
void	 kl_argv_free(struct kl_argv *);
void	 kl_shell_quote(struct kl_buf *, const char *);
char	*kl_pipeline_find(const char *);
void	 kl_pipeline_init(struct kl_pipeline *);
int	 kl_pipeline_add(struct kl_pipeline *, const char *, const char *,
	    const struct kl_argv *);
int	 kl_pipeline_stage(struct kl_pipeline *, const char *, int,
	    const struct kl_argv *, struct kl_err *);
void	 kl_pipeline_print(const struct kl_pipeline *, struct kl_buf *);
int	 kl_pipeline_start(struct kl_pipeline *, int, struct kl_err *);
int	 kl_pipeline_wait(struct kl_pipeline *,
	    int (*)(void *, const char *, size_t), void *);
int	 kl_pipeline_run(struct kl_pipeline *,
	    int (*)(void *, const char *, size_t), void *, struct kl_err *);
void	 kl_pipeline_free(struct kl_pipeline *);
int	 kl_lock_take(const char *, long *);
int	 kl_job_begin(const struct kl_job *, const char *, struct kl_err *);

/* progress.c: a progress line on standard error, if it is a terminal */
#define KL_PROGRESS_EVERY_MS	1000L
#define KL_PROGRESS_STRIDE	64	/* most updates between clock reads */
struct kl_progress {
	int		 on;		/* standard error is a terminal */
	const char	*unit;		/* "records", "members" */
	long		 every_ms;	/* at most one draw per this */
	long		 start_ms;
	long		 last_ms;	/* of the last draw (or the start) */
	long		 last_count;
	long		 count;
	long		 total;		/* -1: unknown */
	long		 lag_ms;	/* -1: unknown */
	double		 rate;		/* per second, smoothed */
	long		 draws;
	long		 stride;	/* updates between clock reads */
	long		 skip;		/* updates left before the next one */
	long		 check_ms;	/* of the last clock read */
	size_t		 width;		/* of the line shown */
	int		 drawn;		/* a line is shown */
};
void	 kl_progress_init(struct kl_progress *, const char *);
void	 kl_progress_total(struct kl_progress *, long);
void	 kl_progress_update(struct kl_progress *, long, long);
void	 kl_progress_clear(struct kl_progress *);
void	 kl_progress_hide(void);
void	 kl_progress_end(struct kl_progress *);

#endif /* KL_H */
