/*
 * sigv4.h - what the two files of the SigV4 signer share (sigv4.c: the
 * entry point and steps 2 to 5; sigv4canon.c: step 1, the canonical
 * request, and percent-encoding).  Private to them: the rest of kl sees
 * kl_sigv4_sign() and kl_uri_encode() through kl.h only.  Needs kl.h
 * first.
 */
#ifndef KL_SIGV4_H
#define KL_SIGV4_H

/* sigv4canon.c */
int	 kl_sv_namecmp(const char *, const char *);
int	 kl_sv_canonical_request(struct kl_buf *, struct kl_buf *,
	    struct kl_buf *, const char *, const char *, const char *,
	    const struct kl_hdrs *, size_t, const char *, int);

#endif /* KL_SIGV4_H */
