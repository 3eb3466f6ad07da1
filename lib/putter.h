/*
 * putter.h - what the two files of the PutRecords engine share (putter.c:
 * the records held, their chains per key, the ready list and the loop;
 * putcall.c: building, signing and starting a request, and reading its
 * reply).  Private to them: the rest of kl sees struct kl_putter through
 * kl.h only.  Needs <curl/curl.h> and kl.h first.
 */
#ifndef KL_PUTTER_H
#define KL_PUTTER_H

struct prec {
	struct prec	*next;		/* ready or retry list */
	struct prec	*knext;		/* next record of its key */
	struct prec	*ktail;		/* head only: its key's newest */
	uint64_t	 hash;
	uint64_t	 seq;		/* input order */
	long		 ready_ms;	/* 0: due at once */
	long		 not_before;	/* backing off until then */
	int		 tries;		/* failed attempts */
	size_t		 size;		/* data + key bytes */
	struct kl_putrec r;		/* its strings are in mem */
	char		 mem[];
};

struct slot {			/* one request in flight */
	CURL			*curl;
	struct kl_http_xfer	 x;
	struct kl_http_resp	 resp;
	struct kl_hdrs		 qh;	/* Content-Type, X-Amz-Target */
	struct kl_hdrs		 hdrs;	/* signed */
	struct kl_aws_req	 q;
	struct kl_http_req	 hr;
	struct kl_buf		 body;
	struct kl_creds		 creds;	/* what it was signed with */
	struct prec		**rec;
	size_t			 n;
	int			 busy;
};

struct head {			/* an entry of the table of heads */
	uint64_t	 hash;
	struct prec	*rec;		/* NULL: empty */
};

struct kl_putter {
	struct kl_aws		*aws;
	struct kl_putopts	 o;
	struct kl_putcb		 cb;
	CURLM			*multi;
	char			*url;
	struct slot		*slot;
	int			 busy;		/* slots in flight */
	struct head		*tab;		/* the heads, open addressing */
	size_t			 mask;		/* entries - 1 */
	size_t			 nheads;
	struct prec		*rhead, *rtail;	/* ready */
	size_t			 nready, rbytes;
	struct prec		*retry;		/* backing off */
	long			 held;
	size_t			 hbytes;
	size_t			 win_n, win_bytes;
	uint64_t		 seq;
	int			 eof, last, halted;
	int			 creds_again, skew_again;
	struct kl_err		 err;
	struct kl_putstats	 st;
};

/* putter.c */
void	 kl_pt_settle(struct kl_putter *, struct prec *);

/* putcall.c */
void	 kl_pt_send(struct kl_putter *, struct slot *);
void	 kl_pt_finish(struct kl_putter *, struct slot *, int);

#endif /* KL_PUTTER_H */
