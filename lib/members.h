/*
 * members.h - what the two files of the saved membership share
 * (members.c: the state directory, the state file reader, the
 * comparison and the commit; extsort.c: the external sort of one scan).
 * Private to them: the rest of kl sees struct kl_members through kl.h
 * only.  Needs kl.h first.
 */
#ifndef KL_MEMBERS_H
#define KL_MEMBERS_H

#define FANIN		64		/* runs merged at once */
#define WBUF		(256UL * 1024)	/* write(2) chunks */

enum { IDLE, SCAN, DONE };

struct kl_members {
	char		*dir;
	char		*p_members;	/* DIR/members: committed */
	char		*p_new;		/* DIR/members.new */
	char		*p_meta;
	int		 dirfd;
	int		 lockfd;
	int		 state;		/* IDLE, SCAN or DONE */
	int		 err;		/* sticky errno: broken scan */
	int		 have_state;
	size_t		 budget;
	char		*arena;		/* budget bytes or NULL */
	size_t		 used;		/* entry bytes, bottom */
	size_t		 nidx;		/* slots at the top */
	int		 runs[FANIN];	/* sorted runs, oldest first */
	int		 nruns;
	unsigned long	 runseq;
	struct kl_buf	 out;		/* the write buffer */
	struct kl_members_stats st;
};

/* A reader of a sorted file: one line at a time, its key decoded. */
struct srd {
	int		 fd;
	int		 age;		/* merge: higher is newer */
	long		 lineno;
	char		*buf;
	size_t		 cap, off, len;
	int		 eof;
	char		*line;		/* this line, NUL for \n */
	size_t		 linelen;
	char		*key;		/* decoded, NUL-terminated */
	size_t		 klen;
	char		*fields;	/* inside line */
	size_t		 flen;
	char		 kb[2][KL_MEMBERS_KEY_MAX + 1]; /* key, last */
	int		 kbi;
	const char	*why;		/* what is wrong with it */
};

/* members.c */
int	 kl_mb_keycmp(const char *, size_t, const char *, size_t);
int	 kl_mb_close_fail(int);
int	 kl_mb_srd_next(struct srd *);

#endif /* KL_MEMBERS_H */
