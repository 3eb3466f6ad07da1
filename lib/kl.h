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
int	 kl_uri_encode(struct kl_buf *, const char *, size_t, int);

/* cfg.c: options, region and endpoints (contract §2, §3) */
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
};
struct kl_cfg {
	char	*region;
	char	*region_from;	/* "--region", "AWS_REGION", "profile x" */
	char	*profile;	/* the profile in effect */
	char	*kinesis_url;	/* scheme://host[:port], no path */
	char	*sts_url;
	char	*ca_bundle;	/* AWS_CA_BUNDLE or the profile's */
};

/* creds.c: credential providers (contract §3) */
struct kl_creds {
	char	*akid;		/* access key id */
	char	*secret;	/* secret access key: wiped when freed */
	char	*token;		/* session token or NULL: wiped when freed */
	time_t	 expiration;	/* 0 for long-term keys */
};
void	 kl_creds_free(struct kl_creds *);
int	 kl_creds_copy(struct kl_creds *, const struct kl_creds *);

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
struct kl_credsrc;		/* opaque: a resolved credential chain */

#endif /* KL_H */
