/*
 * reader.h - what the three files of the stream reader share (reader.c:
 * shards, lineage, positions, the run; readpage.c: GetRecords pages into
 * records; readcall.c: requests over the libcurl multi handle, retries,
 * scheduling, statistics).  Private to them: the rest of kl sees struct
 * kl_reader through kl.h only.  Needs <curl/curl.h> and kl.h first.
 */
#ifndef KL_READER_H
#define KL_READER_H

#define MAX_INFLIGHT	64
#define BODY_BUDGET	(8UL * 1024 * 1024)
#define BODY_GUESS	(4UL * 1024 * 1024)	/* a reply not seen yet */
#define KEEP_MAX	(256UL * 1024)
#define BIG_KEPT	2	/* large reply buffers kept for reuse */
#define LIST_EVERY_MS	30000L
#define TICK_MS		10000L
#define COMMIT_MS	1000L
#define BIG_PAGE	(9UL * 1024 * 1024)
#define BIG_PAUSE_MS	5000L
#define UNTIL_SLACK_MS	2000LL
#define RETRIES		10
#define BASE_MS		100L
#define CAP_MS		10000L
#define PAGE_LIMIT	10000

enum { S_WAIT, S_NEEDITER, S_READY, S_BUSY, S_DONE, S_CAUGHT, S_UNTIL,
    S_SKIP };
enum { OP_LIST = 1, OP_ITER, OP_GET };
#define CKPT_ORIGIN	100	/* struct shard origin: from the checkpoint */

struct spec {			/* where GetShardIterator should point */
	int		 type;		/* enum kl_from */
	char		 seq[KL_CKPT_SEQMAX + 1];
	int64_t		 sub;		/* AT_SEQUENCE: user records done */
	long long	 ms;		/* AT_TIMESTAMP */
	int		 user;		/* given by --from: no fallback */
};

struct shard {
	char		 id[129];
	char		 parent[129];
	char		 adj[129];
	int		 closed;	/* the listing has an ending number */
	int		 state;
	int		 origin;	/* spec type it started with */
	struct spec	 spec;
	struct kl_buf	 iter;		/* the current iterator */
	int		 skip_pending;	/* first page: skip spec.sub */
	long		 next_ms;
	long		 call_ms;	/* start of the last GetRecords */
	int		 fails;		/* transient failures in a row */
	int		 creds_again, skew_again;
	char		 pos[KL_CKPT_SEQMAX + 1];	/* last emitted */
	int64_t		 pos_sub;
	int		 any;		/* something emitted this run */
	int		 moved;		/* pos not yet in the checkpoint */
	int		 ended;		/* read to its end this run */
	int		 gap;		/* report where data resumes */
	char		*prefix;
	size_t		 prefix_len;
	long long	 mbl;
	size_t		 body_est;
	unsigned long long records, calls, retries, throttles, expired;
	unsigned long long tick_records;
};

struct call {
	struct kl_reader	*r;
	void			*easy;
	int			 op;
	struct shard		*sh;
	struct kl_buf		 body;
	struct kl_hdrs		 ophdrs;
	struct kl_aws_req	 q;
	struct kl_http_req	 hr;
	struct kl_http_xfer	 x;
	struct kl_http_resp	 resp;
	struct kl_creds		 creds;
	size_t			 est;
	int			 busy;	/* in the multi handle */
	int			 big;	/* keeps a large reply buffer */
	struct call		*next;	/* free list */
	struct call		*all;	/* every call made */
};

struct kl_reader {
	struct kl_aws		*aws;
	struct kl_reader_opts	 o;
	CURLM			*multi;
	char			*url;
	struct shard		**sh;
	size_t			 n, cap;
	size_t			 rr;		/* round-robin start */
	struct call		*free_calls;
	struct call		*all_calls;
	int			 big_kept;	/* calls with a large buffer */
	int			 inflight;
	size_t			 body_inflight;
	int			 gets_inflight;
	struct kl_page		 page;
	int			 list_busy;
	int			 list_urgent;	/* the run needs a listing */
	int			 list_again;	/* urgent once the one in flight ends */
	int			 listed;	/* one listing completed */
	long			 list_next_ms;	/* -1: none due */
	struct kl_buf		 list_token;
	int			 list_fails;
	int			 list_creds, list_skew;
	long			 tick_ms;
	long			 commit_ms;
	long			 start_ms;
	int			 ckpt_dirty;
	unsigned long long	 emitted;
	unsigned long long	 tick_emitted;
	long			 interval_ms;	/* 1000 / max_rate */
	int			 done;		/* limit reached */
	int			 failed;
	struct kl_err		 err;
};

extern const char *const kl_rd_op_names[];
extern const char *const kl_rd_from_names[];

/* reader.c */
void	 kl_rd_fail(struct kl_reader *, const struct kl_err *);
void	 kl_rd_fail_nomem(struct kl_reader *);
int	 kl_rd_is_end(int);
void	 kl_rd_shard_end(struct kl_reader *, struct shard *,
	    const struct kl_page *);
void	 kl_rd_resume_spec(struct shard *);
int	 kl_rd_aged_out(struct shard *, const struct kl_err *);
void	 kl_rd_got_list(struct kl_reader *, struct call *);
void	 kl_rd_got_iter(struct kl_reader *, struct call *);
void	 kl_rd_commit(struct kl_reader *);

/* readpage.c */
void	 kl_rd_got_page(struct kl_reader *, struct call *);

/* readcall.c */
void	 kl_rd_call_put(struct kl_reader *, struct call *);
void	 kl_rd_call_free(struct call *);
void	 kl_rd_complete(struct kl_reader *, struct call *, CURLcode);
long	 kl_rd_schedule(struct kl_reader *, long);
void	 kl_rd_progress(struct kl_reader *, long);
void	 kl_rd_write_stats(struct kl_reader *);
void	 kl_rd_timers(struct kl_reader *, long);

#endif /* KL_READER_H */
