/*
 * auth/auth.h - what the source files of kl-auth share: kl-auth.c
 * (options, main), auth/creds.c (creds, verify), auth/keys.c
 * (reading keys), auth/store.c (add, list, show, remove) and
 * auth/policy.c (policy).  Split only to keep each file near the house
 * size; nothing here is for other commands.
 */
#ifndef KL_AUTH_H
#define KL_AUTH_H

enum {
	OPT_ACCOUNT = KL_OPT_FREE, OPT_DESCRIPTION, OPT_DIRECTION,
	OPT_DOCUMENT, OPT_FROM_ENV, OPT_LABEL, OPT_NO_KEYS, OPT_PRINCIPAL,
	OPT_REPLACE, OPT_STREAM
};

/* One bit per option, in the order of optnames[] in kl-auth.c. */
#define A_REGION	0x00001
#define A_CREDENTIALS	0x00002
#define A_DURATION	0x00004
#define A_ENDPOINT	0x00008
#define A_EXTERNAL	0x00010
#define A_PROFILE	0x00020
#define A_ROLE		0x00040
#define A_SESSION	0x00080
#define A_ACCOUNT	0x00100
#define A_DESCRIPTION	0x00200
#define A_DIRECTION	0x00400
#define A_DOCUMENT	0x00800
#define A_FROM_ENV	0x01000
#define A_LABEL		0x02000
#define A_NO_KEYS	0x04000
#define A_PRINCIPAL	0x08000
#define A_REPLACE	0x10000
#define A_STREAM	0x20000

struct opts {
	struct kl_awsopts aws;
	const char	*cmd;		/* the command word */
	const char	*name;		/* its operand, or NULL */
	const char	*label;
	const char	*description;
	const char	*account;
	const char	*direction;
	const char	*document;
	const char	*principal;
	const char	*stream;
	int		 from_env;
	int		 no_keys;
	int		 replace;
	int		 given;		/* A_* of the options given */
	struct kl_err	 noregion;	/* creds: the missing region, kept */
};

int	 cmd_creds(struct opts *, int);
int	 cmd_add(struct opts *);
int	 cmd_show(struct opts *);
int	 cmd_remove(struct opts *);
int	 cmd_policy(struct opts *);
const char *get_keys(const struct opts *, char **, char **);

#endif /* KL_AUTH_H */
