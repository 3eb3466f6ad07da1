/*
 * jscan.h - declarations of jscan.c, the span-based JSON scanner and
 * writer.  Temporary: these move into kl.h under a jscan.c heading.
 */
#ifndef KL_JSCAN_H
#define KL_JSCAN_H

#include <stddef.h>
#include <stdint.h>

struct kl_buf;

/* jscan.c */
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

#endif /* KL_JSCAN_H */
