/*
 * canned-put.c - a loopback Kinesis stand-in that answers PutRecords at
 * once with canned success, so that bench/put-ceiling.sh measures
 * kl-trigger-put's own ceiling rather than a peer's.
 *
 * usage: canned-put [-p port]
 *
 * Binds 127.0.0.1 (port 0: a free one), prints "ready PORT" on standard
 * output, and serves HTTP/1.1 with keep-alive until SIGTERM or SIGINT,
 * then prints "requests N records M" on standard error.  PutRecords gets
 * {"FailedRecordCount":0,"Records":[...]} with one made-up sequence
 * number per entry (entries counted by their "PartitionKey" members,
 * which no escaped JSON string can imitate); DescribeStreamSummary gets a
 * small ACTIVE summary; anything else 400 UnknownOperationException.
 * Nothing is checked, signed or stored.  One thread, poll(2), blocking
 * writes: replies are small and the client reads them at once.
 */
#include <config.h>

#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define CONNS	64

struct conn {
	int	 fd;
	char	*buf;
	size_t	 len, cap;
};

static volatile sig_atomic_t done;
static unsigned long long requests, records, seq;
static char *out;
static size_t outcap;

static void
on_term(int sig)
{
	(void)sig;
	done = 1;
}

static void
put(size_t *n, const char *s, size_t k)
{
	if (*n + k + 1 > outcap) {
		outcap = (*n + k + 1) * 2;
		if ((out = realloc(out, outcap)) == NULL) {
			perror("canned-put");
			exit(1);
		}
	}
	memcpy(out + *n, s, k);
	*n += k;
}

static int
write_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, p, n)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Answers the request whose head is h[0..hl) and body b[0..bl). */
static int
answer(int fd, const char *h, size_t hl, const char *b, size_t bl)
{
	static const char pk[] = "\"PartitionKey\":";
	char head[256], item[160];
	const char *t, *p, *end = b + bl;
	size_t n = 0, k, count = 0;
	int status = 200;

	t = memmem(h, hl, "X-Amz-Target:", 13);
	if (t == NULL)
		t = memmem(h, hl, "x-amz-target:", 13);
	if (t != NULL && memmem(t, hl - (size_t)(t - h) > 80 ? 80 :
	    hl - (size_t)(t - h), ".PutRecords", 11) != NULL) {
		for (p = b; (p = memmem(p, (size_t)(end - p), pk,
		    sizeof(pk) - 1)) != NULL; p += sizeof(pk) - 1)
			count++;
		put(&n, "{\"FailedRecordCount\":0,\"Records\":[", 34);
		for (k = 0; k < count; k++) {
			int m = snprintf(item, sizeof(item), "%s{\"SequenceNumb"
			    "er\":\"4968068460317252980712028246219301612729932"
			    "%013llu\",\"ShardId\":\"shardId-000000000000\"}",
			    k ? "," : "", seq++);
			put(&n, item, (size_t)m);
		}
		put(&n, "]}", 2);
		records += count;
	} else if (t != NULL && memmem(t, 80, ".DescribeStreamSummary", 22)) {
		static const char s[] = "{\"StreamDescriptionSummary\":{"
		    "\"StreamName\":\"bench\",\"StreamStatus\":\"ACTIVE\","
		    "\"OpenShardCount\":1}}";
		put(&n, s, sizeof(s) - 1);
	} else {
		static const char s[] = "{\"__type\":\"UnknownOperationExcep"
		    "tion\",\"message\":\"canned-put answers PutRecords\"}";
		put(&n, s, sizeof(s) - 1);
		status = 400;
	}
	requests++;
	k = (size_t)snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\n"
	    "Content-Type: application/x-amz-json-1.1\r\n"
	    "x-amzn-RequestId: canned\r\nContent-Length: %zu\r\n\r\n",
	    status, status == 200 ? "OK" : "Bad Request", n);
	return write_all(fd, head, k) == -1 || write_all(fd, out, n) == -1 ?
	    -1 : 0;
}

/* Serves what c holds; -1 when the connection should close. */
static int
serve(struct conn *c)
{
	const char *e, *cl;
	size_t hl, bl;

	for (;;) {
		if ((e = memmem(c->buf, c->len, "\r\n\r\n", 4)) == NULL)
			return 0;
		hl = (size_t)(e - c->buf) + 4;
		bl = 0;
		for (cl = c->buf; cl < e; cl++)
			if ((*cl == '\n') &&
			    strncasecmp(cl + 1, "content-length:", 15) == 0) {
				bl = strtoul(cl + 16, NULL, 10);
				break;
			}
		if (c->len < hl + bl)
			return 0;
		if (answer(c->fd, c->buf, hl, c->buf + hl, bl) == -1)
			return -1;
		memmove(c->buf, c->buf + hl + bl, c->len - hl - bl);
		c->len -= hl + bl;
	}
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sa;
	struct pollfd pf[CONNS + 1];
	struct conn c[CONNS];
	socklen_t sl = sizeof(sa);
	struct sigaction act;
	int ls, fd, i, port = 0, one = 1;
	ssize_t r;

	if (argc == 3 && strcmp(argv[1], "-p") == 0)
		port = atoi(argv[2]);
	else if (argc != 1) {
		fputs("usage: canned-put [-p port]\n", stderr);
		return 2;
	}
	memset(&act, 0, sizeof(act));
	act.sa_handler = on_term;
	sigaction(SIGTERM, &act, NULL);
	sigaction(SIGINT, &act, NULL);
	signal(SIGPIPE, SIG_IGN);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((ls = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(ls, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    listen(ls, 64) == -1 ||
	    getsockname(ls, (struct sockaddr *)&sa, &sl) == -1) {
		perror("canned-put");
		return 1;
	}
	printf("ready %d\n", ntohs(sa.sin_port));
	fflush(stdout);
	memset(c, 0, sizeof(c));
	for (i = 0; i < CONNS; i++)
		c[i].fd = -1;
	while (!done) {
		pf[0].fd = ls;
		pf[0].events = POLLIN;
		for (i = 0; i < CONNS; i++) {
			pf[i + 1].fd = c[i].fd;
			pf[i + 1].events = POLLIN;
		}
		if (poll(pf, CONNS + 1, -1) == -1)
			continue;
		if (pf[0].revents & POLLIN &&
		    (fd = accept(ls, NULL, NULL)) != -1) {
			for (i = 0; i < CONNS && c[i].fd != -1; i++)
				;
			if (i == CONNS)
				close(fd);
			else {
				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
				    sizeof(one));
				c[i].fd = fd;
				c[i].len = 0;
			}
		}
		for (i = 0; i < CONNS; i++) {
			if (c[i].fd == -1 || !(pf[i + 1].revents &
			    (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (c[i].cap - c[i].len < 65536) {
				c[i].cap = c[i].cap * 2 + 65536;
				if ((c[i].buf = realloc(c[i].buf, c[i].cap)) ==
				    NULL) {
					perror("canned-put");
					return 1;
				}
			}
			r = read(c[i].fd, c[i].buf + c[i].len,
			    c[i].cap - c[i].len);
			if (r > 0)
				c[i].len += (size_t)r;
			if (r <= 0 || serve(&c[i]) == -1) {
				if (r == -1 && errno == EINTR)
					continue;
				close(c[i].fd);
				c[i].fd = -1;
			}
		}
	}
	fprintf(stderr, "requests %llu records %llu\n", requests, records);
	return 0;
}
