/*
 * faultproxy.c - the partition proxy of the cluster tests.  See
 * faultproxy.h.
 *
 * One thread polls the listeners, a control pipe and every connection.
 * A connection starts by reading the sender's 24-byte handshake
 * preamble into its downstream buffer; then it is held (its pair is
 * blocked) or connects to its node and forwards both ways, buffered,
 * with non-blocking sockets.  Rules live under the mutex; a change
 * bumps `gen` and writes to the pipe, and the caller waits until the
 * thread reports `applied == gen`.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "faultproxy.h"

#define FP_CONNS 128
#define FP_BUF 65536
#define FP_RULES (FAULTPROXY_NODES * FAULTPROXY_NODES)
/* libraft's handshake preamble: version, sender id, address length. */
#define FP_PREAMBLE 24
#define FP_PROTOCOL 1

enum fp_state {
	FP_FREE,
	FP_HANDSHAKE,  /* reading the preamble */
	FP_CONNECTING, /* non-blocking connect to the node under way */
	FP_FORWARD,
	FP_HELD, /* blocked: read and discard */
};

struct fp_buf {
	size_t off, len;
	unsigned char data[FP_BUF];
};

struct fp_conn {
	enum fp_state state;
	int down;              /* accepted from the sender */
	int up;                /* to the node; -1 until connecting */
	int node;              /* the listener's index: the receiver */
	uint64_t src;          /* sender id, once the preamble is read */
	bool down_eof, up_eof; /* flush the other way, then close */
	struct fp_buf d2u, u2d;
};

struct fp_rule {
	uint64_t src, dst;
};

struct faultproxy {
	int n;
	char host[64];
	int lfd[FAULTPROXY_NODES];
	char addr[FAULTPROXY_NODES][80];
	/* Under mu: */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t id[FAULTPROXY_NODES];
	struct sockaddr_in target[FAULTPROXY_NODES];
	struct fp_rule rules[FP_RULES];
	int nrules;
	unsigned gen, applied;
	bool stop;
	struct faultproxy_counts counts;
	/* The thread's own: */
	int ctl[2]; /* control pipe: [0] the thread reads */
	pthread_t th;
	struct fp_conn *conns; /* FP_CONNS of them */
};

static void
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	ck_assert_int_ge(fl, 0);
	ck_assert_int_eq(fcntl(fd, F_SETFL, fl | O_NONBLOCK), 0);
}

/* Close with an RST: a cut, as a network failure shows it. */
static void
close_rst(int fd)
{
	struct linger lg = { 1, 0 };

	if (fd < 0)
		return;
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	close(fd);
}

/* Under mu. */
static bool
blocked(const struct faultproxy *fp, uint64_t src, uint64_t dst)
{
	for (int i = 0; i < fp->nrules; i++)
		if (fp->rules[i].src == src && fp->rules[i].dst == dst)
			return true;
	return false;
}

/* Under mu: wake whoever waits on a counter. */
static void
counted(struct faultproxy *fp, unsigned *counter)
{
	(*counter)++;
	pthread_cond_broadcast(&fp->cv);
}

static void
conn_close(struct faultproxy *fp, struct fp_conn *c, bool rst)
{
	if (rst) {
		close_rst(c->down);
		close_rst(c->up);
	} else {
		close(c->down);
		if (c->up >= 0)
			close(c->up);
	}
	c->state = FP_FREE;
	pthread_mutex_lock(&fp->mu);
	fp->counts.open--;
	pthread_cond_broadcast(&fp->cv);
	pthread_mutex_unlock(&fp->mu);
}

static void
conn_cut(struct faultproxy *fp, struct fp_conn *c)
{
	conn_close(fp, c, true);
	pthread_mutex_lock(&fp->mu);
	counted(fp, &fp->counts.cut);
	pthread_mutex_unlock(&fp->mu);
}

static void
accept_on(struct faultproxy *fp, int j)
{
	struct fp_conn *c = NULL;
	int fd = accept4(fp->lfd[j], NULL, NULL, SOCK_NONBLOCK);
	int one = 1;

	if (fd < 0)
		return;
	for (int i = 0; i < FP_CONNS; i++)
		if (fp->conns[i].state == FP_FREE) {
			c = &fp->conns[i];
			break;
		}
	if (c == NULL) {
		close_rst(fd); /* more than a test cluster ever opens */
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	memset(c, 0, offsetof(struct fp_conn, d2u));
	c->d2u.off = c->d2u.len = c->u2d.off = c->u2d.len = 0;
	c->state = FP_HANDSHAKE;
	c->down = fd;
	c->up = -1;
	c->node = j;
	pthread_mutex_lock(&fp->mu);
	fp->counts.open++;
	counted(fp, &fp->counts.accepted);
	pthread_mutex_unlock(&fp->mu);
}

/* The preamble is in: hold the connection, or connect it through. */
static void
decide(struct faultproxy *fp, struct fp_conn *c)
{
	const unsigned char *p = c->d2u.data;
	uint64_t version = 0, src = 0;
	struct sockaddr_in to;
	bool hold;
	int one = 1;

	for (int i = 7; i >= 0; i--) {
		version = version << 8 | p[i];
		src = src << 8 | p[8 + i];
	}
	c->src = src;
	pthread_mutex_lock(&fp->mu);
	hold = version != FP_PROTOCOL || blocked(fp, src, fp->id[c->node]);
	to = fp->target[c->node];
	counted(fp, hold ? &fp->counts.held : &fp->counts.forwarded);
	pthread_mutex_unlock(&fp->mu);
	if (hold) {
		c->state = FP_HELD;
		c->d2u.len = 0;
		return;
	}
	c->up = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	ck_assert_int_ge(c->up, 0);
	setsockopt(c->up, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(c->up, (struct sockaddr *)&to, sizeof to) == 0)
		c->state = FP_FORWARD;
	else if (errno == EINPROGRESS)
		c->state = FP_CONNECTING;
	else
		conn_close(fp, c, true); /* the node is down: so is this */
}

/* Read what fd has into b; false at EOF or on an error. */
static bool
buf_read(int fd, struct fp_buf *b)
{
	ssize_t n;

	if (b->off > 0 && b->off == b->len)
		b->off = b->len = 0;
	if (b->len == FP_BUF)
		return true;
	n = recv(fd, b->data + b->len, FP_BUF - b->len, 0);
	if (n > 0)
		b->len += (size_t)n;
	return n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR));
}

/* Write what b holds to fd; false on an error. */
static bool
buf_write(int fd, struct fp_buf *b)
{
	ssize_t n;

	if (b->off == b->len)
		return true;
	n = send(fd, b->data + b->off, b->len - b->off, MSG_NOSIGNAL);
	if (n > 0) {
		b->off += (size_t)n;
		if (b->off == b->len)
			b->off = b->len = 0;
	}
	return n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR));
}

/* Service one connection after poll() reported on it. */
static void
conn_run(struct faultproxy *fp, struct fp_conn *c, short dre, short ure)
{
	switch (c->state) {
	case FP_HANDSHAKE:
		if ((dre & (POLLIN | POLLHUP | POLLERR)) &&
		    !buf_read(c->down, &c->d2u)) {
			conn_close(fp, c, false);
			return;
		}
		if (c->d2u.len >= FP_PREAMBLE)
			decide(fp, c);
		return;
	case FP_HELD:
		if ((dre & (POLLIN | POLLHUP | POLLERR)) &&
		    !buf_read(c->down, &c->d2u)) {
			conn_close(fp, c, false);
			return;
		}
		c->d2u.off = c->d2u.len = 0;
		return;
	case FP_CONNECTING: {
		int err = 0;
		socklen_t len = sizeof err;
		if (!(ure & (POLLOUT | POLLERR | POLLHUP)))
			return;
		getsockopt(c->up, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err != 0) {
			conn_close(fp, c, true);
			return;
		}
		c->state = FP_FORWARD;
		ure = POLLOUT;
		dre = 0;
		break;
	}
	default:
		break;
	}
	/* FP_FORWARD: */
	if (!c->down_eof && (dre & (POLLIN | POLLHUP | POLLERR)) &&
	    !buf_read(c->down, &c->d2u))
		c->down_eof = true;
	if (!c->up_eof && (ure & (POLLIN | POLLHUP | POLLERR)) &&
	    !buf_read(c->up, &c->u2d))
		c->up_eof = true;
	if (!buf_write(c->up, &c->d2u) || !buf_write(c->down, &c->u2d)) {
		conn_close(fp, c, true);
		return;
	}
	/* One side gone: what it sent is delivered, then both close. */
	if ((c->down_eof && c->d2u.len == 0) || (c->up_eof && c->u2d.len == 0))
		conn_close(fp, c, false);
}

/* Apply the rules to the open connections (the rules changed). */
static void
apply_rules(struct faultproxy *fp)
{
	unsigned gen;

	for (int i = 0; i < FP_CONNS; i++) {
		struct fp_conn *c = &fp->conns[i];
		bool now;
		if (c->state != FP_FORWARD && c->state != FP_CONNECTING &&
		    c->state != FP_HELD)
			continue;
		pthread_mutex_lock(&fp->mu);
		now = blocked(fp, c->src, fp->id[c->node]);
		pthread_mutex_unlock(&fp->mu);
		/* Cut what is now blocked; cut the held, so they retry. */
		if (now != (c->state == FP_HELD))
			conn_cut(fp, c);
	}
	pthread_mutex_lock(&fp->mu);
	gen = fp->gen;
	fp->applied = gen;
	pthread_cond_broadcast(&fp->cv);
	pthread_mutex_unlock(&fp->mu);
}

static void *
fp_thread(void *arg)
{
	struct faultproxy *fp = arg;
	struct pollfd pfd[1 + FAULTPROXY_NODES + 2 * FP_CONNS];
	int who[2 * FP_CONNS];

	for (;;) {
		int n = 0;
		pfd[n++] = (struct pollfd){ fp->ctl[0], POLLIN, 0 };
		for (int j = 0; j < fp->n; j++)
			pfd[n++] = (struct pollfd){ fp->lfd[j], POLLIN, 0 };
		int base = n;
		for (int i = 0; i < FP_CONNS; i++) {
			struct fp_conn *c = &fp->conns[i];
			short de = 0, ue = 0;
			switch (c->state) {
			case FP_FREE:
				continue;
			case FP_HANDSHAKE:
			case FP_HELD:
				de = POLLIN;
				break;
			case FP_CONNECTING:
				ue = POLLOUT;
				break;
			case FP_FORWARD:
				if (!c->down_eof && c->d2u.len < FP_BUF)
					de |= POLLIN;
				if (c->u2d.len > c->u2d.off)
					de |= POLLOUT;
				if (!c->up_eof && c->u2d.len < FP_BUF)
					ue |= POLLIN;
				if (c->d2u.len > c->d2u.off)
					ue |= POLLOUT;
				break;
			}
			who[n - base] = i;
			pfd[n++] = (struct pollfd){ c->down, de, 0 };
			who[n - base] = i;
			pfd[n++] = (struct pollfd){ c->up, ue, 0 };
		}
		if (poll(pfd, (nfds_t)n, -1) < 0) {
			ck_assert_int_eq(errno, EINTR);
			continue;
		}
		if (pfd[0].revents) {
			char b[64];
			bool stop;
			(void)!read(fp->ctl[0], b, sizeof b);
			pthread_mutex_lock(&fp->mu);
			stop = fp->stop;
			pthread_mutex_unlock(&fp->mu);
			if (stop)
				break;
			apply_rules(fp);
			continue; /* the connections' events may be stale */
		}
		for (int j = 0; j < fp->n; j++)
			if (pfd[1 + j].revents)
				accept_on(fp, j);
		for (int k = base; k < n; k += 2) {
			struct fp_conn *c = &fp->conns[who[k - base]];
			short dre = pfd[k].revents, ure = pfd[k + 1].revents;
			if (c->state != FP_FREE && (dre || ure))
				conn_run(fp, c, dre, ure);
		}
	}
	for (int i = 0; i < FP_CONNS; i++)
		if (fp->conns[i].state != FP_FREE)
			conn_close(fp, &fp->conns[i], true);
	return NULL;
}

struct faultproxy *
faultproxy_start(const char *host, int n)
{
	struct faultproxy *fp = calloc(1, sizeof *fp);

	ck_assert_ptr_nonnull(fp);
	ck_assert(n > 0 && n <= FAULTPROXY_NODES);
	fp->n = n;
	snprintf(fp->host, sizeof fp->host, "%s", host);
	ck_assert_ptr_nonnull(fp->conns = calloc(FP_CONNS, sizeof *fp->conns));
	for (int j = 0; j < n; j++) {
		struct sockaddr_in sin = { .sin_family = AF_INET };
		socklen_t len = sizeof sin;
		int one = 1;
		ck_assert_int_eq(inet_pton(AF_INET, host, &sin.sin_addr), 1);
		fp->lfd[j] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		ck_assert_int_ge(fp->lfd[j], 0);
		setsockopt(fp->lfd[j], SOL_SOCKET, SO_REUSEADDR, &one,
		    sizeof one);
		ck_assert_msg(bind(fp->lfd[j], (struct sockaddr *)&sin,
		                  sizeof sin) == 0,
		    "faultproxy bind %s: %s", host, strerror(errno));
		ck_assert_int_eq(listen(fp->lfd[j], 64), 0);
		ck_assert_int_eq(getsockname(fp->lfd[j],
		                     (struct sockaddr *)&sin, &len),
		    0);
		snprintf(fp->addr[j], sizeof fp->addr[j], "%s:%d", host,
		    ntohs(sin.sin_port));
	}
	ck_assert_int_eq(pipe(fp->ctl), 0);
	set_nonblock(fp->ctl[0]);
	pthread_mutex_init(&fp->mu, NULL);
	pthread_cond_init(&fp->cv, NULL);
	ck_assert_int_eq(pthread_create(&fp->th, NULL, fp_thread, fp), 0);
	return fp;
}

void
faultproxy_target(struct faultproxy *fp, int j, uint64_t id, const char *host,
    int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };

	ck_assert(j >= 0 && j < fp->n);
	sin.sin_port = htons((uint16_t)port);
	ck_assert_int_eq(inet_pton(AF_INET, host, &sin.sin_addr), 1);
	pthread_mutex_lock(&fp->mu);
	fp->id[j] = id;
	fp->target[j] = sin;
	pthread_mutex_unlock(&fp->mu);
}

const char *
faultproxy_addr(const struct faultproxy *fp, int j)
{
	ck_assert(j >= 0 && j < fp->n);
	return fp->addr[j];
}

/* Under mu: the rules changed; wait until the thread applied them. */
static void
sync_rules(struct faultproxy *fp)
{
	unsigned gen = ++fp->gen;

	ck_assert_int_eq(write(fp->ctl[1], "r", 1), 1);
	while (fp->applied != gen)
		pthread_cond_wait(&fp->cv, &fp->mu);
}

static void
rule_set(struct faultproxy *fp, uint64_t src, uint64_t dst, bool on)
{
	int i;

	for (i = 0; i < fp->nrules; i++)
		if (fp->rules[i].src == src && fp->rules[i].dst == dst)
			break;
	if (on && i == fp->nrules) {
		ck_assert_int_lt(fp->nrules, FP_RULES);
		fp->rules[fp->nrules++] = (struct fp_rule){ src, dst };
	} else if (!on && i < fp->nrules) {
		fp->rules[i] = fp->rules[--fp->nrules];
	}
}

void
faultproxy_block(struct faultproxy *fp, uint64_t src, uint64_t dst, bool on)
{
	pthread_mutex_lock(&fp->mu);
	rule_set(fp, src, dst, on);
	sync_rules(fp);
	pthread_mutex_unlock(&fp->mu);
}

void
faultproxy_isolate(struct faultproxy *fp, uint64_t id)
{
	pthread_mutex_lock(&fp->mu);
	for (int j = 0; j < fp->n; j++) {
		if (fp->id[j] == id)
			continue;
		rule_set(fp, id, fp->id[j], true);
		rule_set(fp, fp->id[j], id, true);
	}
	sync_rules(fp);
	pthread_mutex_unlock(&fp->mu);
}

void
faultproxy_heal(struct faultproxy *fp)
{
	pthread_mutex_lock(&fp->mu);
	fp->nrules = 0;
	sync_rules(fp);
	pthread_mutex_unlock(&fp->mu);
}

struct faultproxy_counts
faultproxy_counts(struct faultproxy *fp)
{
	struct faultproxy_counts c;

	pthread_mutex_lock(&fp->mu);
	c = fp->counts;
	pthread_mutex_unlock(&fp->mu);
	return c;
}

bool
faultproxy_await(struct faultproxy *fp, size_t which, unsigned n, int ms)
{
	struct timespec until;
	bool ok;

	ck_assert(which + sizeof(unsigned) <= sizeof(struct faultproxy_counts));
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&fp->mu);
	for (;;) {
		unsigned v;
		memcpy(&v, (char *)&fp->counts + which, sizeof v);
		if ((ok = v >= n))
			break;
		if (pthread_cond_timedwait(&fp->cv, &fp->mu, &until) != 0) {
			memcpy(&v, (char *)&fp->counts + which, sizeof v);
			ok = v >= n;
			break;
		}
	}
	pthread_mutex_unlock(&fp->mu);
	return ok;
}

void
faultproxy_stop(struct faultproxy *fp)
{
	if (fp == NULL)
		return;
	pthread_mutex_lock(&fp->mu);
	fp->stop = true;
	pthread_mutex_unlock(&fp->mu);
	ck_assert_int_eq(write(fp->ctl[1], "s", 1), 1);
	pthread_join(fp->th, NULL);
	for (int j = 0; j < fp->n; j++)
		close(fp->lfd[j]);
	close(fp->ctl[0]);
	close(fp->ctl[1]);
	pthread_mutex_destroy(&fp->mu);
	pthread_cond_destroy(&fp->cv);
	free(fp->conns);
	free(fp);
}
