/*
 * canned-kinesis.c - a tiny, fast stand-in for Kinesis that answers
 * ListShards, GetShardIterator and GetRecords from pages built once, so
 * that kl-read-shard's own ceiling can be measured (bench/read-ceiling.sh)
 * without a real peer's cost in the way.
 *
 *	canned-kinesis [-b payload-bytes] [-n records-per-page]
 *	    [-P pages-per-shard] [-p port] [-s shards]
 *
 * Binds 127.0.0.1 (port 0: a free one), prints "ready PORT" and serves
 * HTTP/1.1 with keep-alive, single-threaded over poll(2), until SIGTERM
 * or SIGINT.  Requests are not checked beyond X-Amz-Target and the
 * iterator or shard id in the body; signatures are ignored.  Iterators
 * are "it-SHARD-PAGE": pages 0 to P-1 of each shard carry the same
 * records (JSON payloads of about b bytes, sequence numbers unique within
 * a page) and MillisBehindLatest 1000; page P is empty with
 * MillisBehindLatest 0, so a reader in drain mode stops there.  Replies
 * go out with writev(2) from the prebuilt page, never copied.
 */
#include <config.h>

#include <sys/socket.h>
#include <sys/uio.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define MAXCONN	512
#define INBUF	65536

struct conn {
	int	 fd;
	char	 in[INBUF];
	size_t	 inlen;
	char	 head[256];	/* status line and headers */
	char	 tail[256];	/* the end of a GetRecords reply */
	char	*small;		/* a whole small reply */
	struct iovec iov[4];
	int	 niov;
	int	 iovi;		/* first iov not fully written */
};

static volatile sig_atomic_t stop;
static char *records;		/* "[{...},{...}]" of one page */
static size_t records_len;
static int shards = 4, pages = 10;

static void
on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void
base64(const unsigned char *p, size_t n, char *o)
{
	size_t i;
	unsigned v;

	for (i = 0; i + 3 <= n; i += 3) {
		v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
		*o++ = b64[v >> 18];
		*o++ = b64[v >> 12 & 63];
		*o++ = b64[v >> 6 & 63];
		*o++ = b64[v & 63];
	}
	if (n - i == 1) {
		v = (unsigned)p[i] << 16;
		*o++ = b64[v >> 18];
		*o++ = b64[v >> 12 & 63];
		*o++ = '=';
		*o++ = '=';
	} else if (n - i == 2) {
		v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8;
		*o++ = b64[v >> 18];
		*o++ = b64[v >> 12 & 63];
		*o++ = b64[v >> 6 & 63];
		*o++ = '=';
	}
	*o = '\0';
}

static void
build(int n, int bytes)
{
	char payload[4096], enc[6000];
	size_t cap = (size_t)n * ((size_t)bytes * 4 / 3 + 256) + 16, k = 0;
	int i, m;

	if ((records = malloc(cap)) == NULL)
		exit(1);
	records[k++] = '[';
	for (i = 0; i < n; i++) {
		m = snprintf(payload, sizeof(payload), "{\"_e\":\"pv\","
		    "\"email\":\"user%d@example.com\",\"n\":%d,"
		    "\"big\":123456789012345678901234567890,\"url\":\"https://"
		    "example.com/", i, i);
		while (m < bytes - 2 && m < (int)sizeof(payload) - 3) {
			payload[m] = (char)('a' + m % 26);
			m++;
		}
		payload[m++] = '"';
		payload[m++] = '}';
		base64((unsigned char *)payload, (size_t)m, enc);
		k += (size_t)snprintf(records + k, cap - k, "%s{\"SequenceNumber"
		    "\":\"4968068444615298286426616492265573980523717449136%06d"
		    "\",\"ApproximateArrivalTimestamp\":1764441234.%03d,"
		    "\"Data\":\"%s\",\"PartitionKey\":\"user-%d\"}",
		    i ? "," : "", i, i % 1000, enc, i % 1000);
	}
	records[k++] = ']';
	records_len = k;
}

/* A number after key in the body (0 if none). */
static int
num_after(const char *body, size_t n, const char *key)
{
	const char *p = memmem(body, n, key, strlen(key));

	if (p == NULL)
		return 0;
	p += strlen(key);
	while (p < body + n && (*p < '0' || *p > '9'))
		p++;
	return atoi(p);
}

static void
reply(struct conn *c, const char *target, const char *body, size_t n)
{
	size_t len = 0;
	int s, pg, k;

	c->niov = c->iovi = 0;
	free(c->small);
	c->small = NULL;
	if (strstr(target, "GetRecords") != NULL) {
		const char *it = memmem(body, n, "it-", 3);

		s = it ? atoi(it + 3) : 0;
		pg = it && strchr(it + 3, '-') ? atoi(strchr(it + 3, '-') + 1) :
		    0;
		if (pg < pages) {
			snprintf(c->tail, sizeof(c->tail), ",\"NextShardIterator"
			    "\":\"it-%d-%d\",\"MillisBehindLatest\":1000}", s,
			    pg + 1);
			c->iov[1].iov_base = (char *)"{\"Records\":";
			c->iov[1].iov_len = 11;
			c->iov[2].iov_base = records;
			c->iov[2].iov_len = records_len;
			c->iov[3].iov_base = c->tail;
			c->iov[3].iov_len = strlen(c->tail);
			c->niov = 4;
			len = 11 + records_len + c->iov[3].iov_len;
		} else {
			k = asprintf(&c->small, "{\"Records\":[],"
			    "\"NextShardIterator\":\"it-%d-%d\","
			    "\"MillisBehindLatest\":0}", s, pg);
			len = k > 0 ? (size_t)k : 0;
		}
	} else if (strstr(target, "GetShardIterator") != NULL) {
		k = asprintf(&c->small, "{\"ShardIterator\":\"it-%d-0\"}",
		    num_after(body, n, "\"ShardId\""));
		len = k > 0 ? (size_t)k : 0;
	} else if (strstr(target, "ListShards") != NULL) {
		size_t cap = (size_t)shards * 160 + 32;

		c->small = malloc(cap);
		len = (size_t)snprintf(c->small, cap, "{\"Shards\":[");
		for (s = 0; s < shards; s++)
			len += (size_t)snprintf(c->small + len, cap - len,
			    "%s{\"ShardId\":\"shardId-%012d\",\"HashKeyRange\":"
			    "{\"StartingHashKey\":\"0\",\"EndingHashKey\":\"1\"},"
			    "\"SequenceNumberRange\":{\"StartingSequenceNumber\":"
			    "\"1\"}}", s ? "," : "", s);
		len += (size_t)snprintf(c->small + len, cap - len, "]}");
	} else {
		k = asprintf(&c->small, "{\"__type\":\"UnknownOperationException"
		    "\"}");
		len = k > 0 ? (size_t)k : 0;
	}
	if (c->small != NULL) {
		c->iov[1].iov_base = c->small;
		c->iov[1].iov_len = len;
		c->niov = 2;
	}
	snprintf(c->head, sizeof(c->head), "HTTP/1.1 %s\r\nContent-Type: "
	    "application/x-amz-json-1.1\r\nContent-Length: %zu\r\n"
	    "x-amzn-RequestId: canned\r\n\r\n", strstr(target, "Unknown") ||
	    c->small == NULL || strstr(c->small, "__type") == NULL ?
	    "200 OK" : "400 Bad Request", len);
	c->iov[0].iov_base = c->head;
	c->iov[0].iov_len = strlen(c->head);
}

/* Parses a whole request in c->in, if there is one; 1 if replied. */
static int
serve(struct conn *c)
{
	char *end, *p, target[128] = "";
	size_t hlen, clen = 0, k;

	if ((end = memmem(c->in, c->inlen, "\r\n\r\n", 4)) == NULL)
		return 0;
	hlen = (size_t)(end - c->in) + 4;
	for (p = c->in; p < end; p = memchr(p, '\n', (size_t)(end - p)) + 1) {
		if (strncasecmp(p, "content-length:", 15) == 0)
			clen = strtoul(p + 15, NULL, 10);
		else if (strncasecmp(p, "x-amz-target:", 13) == 0) {
			for (p += 13; *p == ' '; p++)
				;
			for (k = 0; k + 1 < sizeof(target) && p[k] != '\r' &&
			    p[k] != '\n'; k++)
				target[k] = p[k];
			target[k] = '\0';
		}
		if (memchr(p, '\n', (size_t)(end - p)) == NULL)
			break;
	}
	if (c->inlen < hlen + clen)
		return 0;
	reply(c, target, c->in + hlen, clen);
	memmove(c->in, c->in + hlen + clen, c->inlen - hlen - clen);
	c->inlen -= hlen + clen;
	return 1;
}

/* Writes what it can of the reply; 1 when all of it is out. */
static int
flush_out(struct conn *c)
{
	ssize_t w;

	while (c->iovi < c->niov) {
		w = writev(c->fd, c->iov + c->iovi, c->niov - c->iovi);
		if (w < 0)
			return errno == EAGAIN ? 0 : -1;
		while (w > 0 && c->iovi < c->niov) {
			if ((size_t)w >= c->iov[c->iovi].iov_len) {
				w -= (ssize_t)c->iov[c->iovi].iov_len;
				c->iov[c->iovi++].iov_len = 0;
			} else {
				c->iov[c->iovi].iov_base =
				    (char *)c->iov[c->iovi].iov_base + w;
				c->iov[c->iovi].iov_len -= (size_t)w;
				w = 0;
			}
		}
	}
	c->niov = c->iovi = 0;
	return 1;
}

int
main(int argc, char **argv)
{
	static struct conn *conns[MAXCONN];
	struct pollfd pf[MAXCONN + 1];
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int ls, ch, i, n, port = 0, per_page = 10000, bytes = 200, one = 1;
	ssize_t r;

	while ((ch = getopt(argc, argv, "P:b:n:p:s:")) != -1) {
		switch (ch) {
		case 'P': pages = atoi(optarg); break;
		case 'b': bytes = atoi(optarg); break;
		case 'n': per_page = atoi(optarg); break;
		case 'p': port = atoi(optarg); break;
		case 's': shards = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: canned-kinesis [-b bytes] "
			    "[-n records] [-P pages] [-p port] [-s shards]\n");
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_stop);
	signal(SIGINT, on_stop);
	build(per_page, bytes);
	ls = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(ls, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    listen(ls, 128) == -1 ||
	    getsockname(ls, (struct sockaddr *)&sa, &sl) == -1) {
		perror("canned-kinesis");
		return 1;
	}
	printf("ready %d\n", ntohs(sa.sin_port));
	fflush(stdout);
	while (!stop) {
		pf[0].fd = ls;
		pf[0].events = POLLIN;
		for (i = 0; i < MAXCONN; i++) {
			pf[i + 1].fd = conns[i] ? conns[i]->fd : -1;
			pf[i + 1].events = conns[i] && conns[i]->niov ?
			    POLLOUT : POLLIN;
		}
		if ((n = poll(pf, MAXCONN + 1, 500)) <= 0)
			continue;
		if (pf[0].revents & POLLIN) {
			int fd = accept(ls, NULL, NULL);

			for (i = 0; fd >= 0 && i < MAXCONN && conns[i]; i++)
				;
			if (fd >= 0 && i < MAXCONN &&
			    (conns[i] = calloc(1, sizeof(**conns))) != NULL) {
				fcntl(fd, F_SETFL, O_NONBLOCK);
				conns[i]->fd = fd;
			} else if (fd >= 0)
				close(fd);
		}
		for (i = 0; i < MAXCONN; i++) {
			struct conn *c = conns[i];

			if (c == NULL || pf[i + 1].revents == 0)
				continue;
			if (c->niov) {
				if (flush_out(c) == -1)
					goto drop;
			} else {
				r = read(c->fd, c->in + c->inlen,
				    INBUF - c->inlen);
				if (r <= 0 && !(r < 0 && errno == EAGAIN))
					goto drop;
				if (r > 0)
					c->inlen += (size_t)r;
			}
			while (c->niov == 0 && serve(c))
				if (flush_out(c) == -1)
					goto drop;
			continue;
drop:
			close(c->fd);
			free(c->small);
			free(c);
			conns[i] = NULL;
		}
	}
	return 0;
}
