/*
 * creds.h - what the two files of the credential chain share (creds.c:
 * credential records, fetching and refreshing; credchain.c: the chain of
 * contract §3 resolved into a tree of sources).  Private to them: the
 * rest of kl sees struct kl_credsrc through kl.h only.  Needs
 * <sys/stat.h> and kl.h first.
 */
#ifndef KL_CREDS_H
#define KL_CREDS_H

enum { SRC_KEYS, SRC_FILE, SRC_PROCESS, SRC_ASSUME };

struct node {
	int		 kind;
	char		*label;		/* "profile 'x' (credential_process)" */
	struct kl_creds	 creds;
	int		 have;
	int		 force;		/* refresh at the next get */
	time_t		 fetched;	/* the now of the last fetch */
	time_t		 warned;	/* expiration last warned about */
	char		*path;		/* SRC_FILE */
	struct stat	 st;
	int		 st_ok;
	char		**argv;		/* SRC_PROCESS */
	struct node	*base;		/* SRC_ASSUME */
	char		*role_arn;
	char		*external_id;
	char		*session_name;
	long		 duration;
};

struct kl_credsrc {
	struct node	*top;
	kl_assume_fn	 fn;
	void		*ctx;
	char		*region;
	char		*sts_url;
	char		*desc;
};

/* creds.c */
int	 kl_cs_token_ok(const char *);
int	 kl_cs_nomem(struct kl_err *);
int	 kl_cs_fail(struct kl_err *, int, const char *, ...) KL_PRINTF(3, 4);
int	 kl_cs_read_record(struct node *, struct kl_creds *, struct stat *,
	    struct kl_err *);

#endif /* KL_CREDS_H */
