/*
 * conn_io.c - a connection's socket.  See conn_io.h.
 *
 * Reading is on unless the connection is a parked producer (its bytes
 * must stay in the kernel: that is the backpressure), is closing, has
 * too much unsent output, or holds as much input as it may.  A waiting
 * consumer that is not read is still watched for its close, so that it
 * is not handed a message once it has gone; so is a parked producer,
 * so that one that has gone stops counting as blocked (see
 * hup_events()).
 *
 * Output is written once per pass of the input loop (conn_flush); what
 * the socket does not take waits for the write event.
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "conn_io.h"
#include "log.h"

/*
 * Reads per readable event: while a read fills all the room offered,
 * more is probably waiting, so serve it before writing the answers.
 * Fewer, larger writes mean fewer wake-ups on both ends.
 */
#define CONN_READS_PER_EVENT 4

/*
 * What the hup event watches on a connection that is not read: a
 * waiting consumer, its close (EV_CLOSED, EPOLLRDHUP).  A parked
 * producer, its socket's readability, but only while the kernel holds
 * none of its bytes: then the socket turns readable only on a close,
 * a reset, or a new request, and conn_io_hupcb() tells which without
 * reading.  (EV_CLOSED alone misses a reset: epoll reports it as
 * EPOLLHUP|EPOLLERR, which libevent hands only to read and write
 * events, and reports it again on every poll.)  A producer with bytes
 * waiting in the kernel is not watched: it is seen when the queue has
 * room, as before.
 */
static short
hup_events(struct conn *c, bool reading)
{
	int queued = 0;

	if (reading || c->eof)
		return 0;
	if (c->state == CONN_WAIT_MESSAGE)
		return EV_CLOSED;
	if (c->state != CONN_WAIT_ROOM || ioctl(c->fd, FIONREAD, &queued) < 0 ||
	    queued > 0)
		return 0;
	return EV_READ;
}

void
conn_io_update(struct conn *c)
{
	bool want = c->state != CONN_CLOSING && !c->output_stalled &&
	    !c->eof && c->state != CONN_WAIT_ROOM &&
	    evbuffer_get_length(c->in) < c->in_bound;
	short hup = hup_events(c, want);
	short watched = c->watching_hup
	    ? (short)(event_get_events(c->hup) & (EV_READ | EV_CLOSED))
	    : 0;

	if (want != c->reading) {
		c->reading = want;
		if (want)
			event_add(c->rev, NULL);
		else
			event_del(c->rev);
	}
	if (hup != watched) {
		if (c->watching_hup)
			event_del(c->hup);
		c->watching_hup = hup != 0;
		if (hup != 0) {
			event_assign(c->hup, c->server->base, c->fd,
			    hup | EV_PERSIST, conn_io_hupcb, c);
			event_add(c->hup, NULL);
		}
	}
}

void
conn_flush(struct conn *c)
{
	size_t len = evbuffer_get_length(c->out);

	if (len > 0 && !c->writing) {
		int n = evbuffer_write(c->out, c->fd);
		if (n > 0)
			c->server->counters.bytes_out += (uint64_t)n;
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			/*
			 * Reported by the write event, away from callers;
			 * armed too, in case its retry only meets EAGAIN.
			 */
			c->writing = true;
			event_add(c->wev, NULL);
			event_active(c->wev, EV_WRITE, 1);
			return;
		}
		len = evbuffer_get_length(c->out);
	}
	if ((len > 0) != c->writing) {
		c->writing = len > 0;
		if (c->writing)
			event_add(c->wev, NULL);
		else
			event_del(c->wev);
	}
	if (len == 0 && c->output_stalled) {
		c->output_stalled = false;
		event_active(c->resume, EV_TIMEOUT, 1);
	}
}

/* The client went away or broke the connection: drop it now. */
static void
conn_lost(struct conn *c, const char *why)
{
	conn_debug(c, "connection lost: %s", why);
	conn_free(c);
}

/* The client shut down its sending side. */
static void
conn_eof(struct conn *c)
{
	c->eof = true;
	conn_io_update(c);
	if (conn_waiting(c)) {
		/* A consumer or a parked producer that left: its wait ends
		 * unanswered (a parked PUT was never accepted, so nothing
		 * queued is lost). */
		conn_close(c);
		return;
	}
	if (!conn_waiting(c) && c->state != CONN_CLOSING)
		conn_process_input(c);
}

/*
 * Read once, straight into the input buffer, as much as the bound
 * allows.  Returns the bytes read, 0 at end of file, -1 when nothing
 * more can be read now or on error (errno says which).
 */
static ssize_t
read_some(struct conn *c, size_t *offered)
{
	struct evbuffer_iovec vec[2];
	struct iovec iov[2];
	int nvec;
	ssize_t n, left;

	*offered = c->in_bound - evbuffer_get_length(c->in);
	nvec = evbuffer_reserve_space(c->in, (ev_ssize_t)*offered, vec, 2);
	/* The space reserved may be larger than asked: read no more. */
	left = (ssize_t)*offered;
	for (int i = 0; i < nvec; i++) {
		iov[i].iov_base = vec[i].iov_base;
		iov[i].iov_len = (size_t)left < vec[i].iov_len ? (size_t)left
							     : vec[i].iov_len;
		left -= (ssize_t)iov[i].iov_len;
	}
	n = readv(c->fd, iov, nvec);
	if (n > 0)
		c->server->counters.bytes_in += (uint64_t)n;
	left = n > 0 ? n : 0;
	for (int i = 0; i < nvec; i++) {
		size_t take = (size_t)left < vec[i].iov_len ? (size_t)left
							    : vec[i].iov_len;
		vec[i].iov_len = take;
		left -= (ssize_t)take;
	}
	evbuffer_commit_space(c->in, vec, n > 0 ? nvec : 0);
	return n;
}

void
conn_io_readcb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	size_t offered;
	ssize_t n;

	for (int i = 0; i < CONN_READS_PER_EVENT; i++) {
		if (!c->reading || c->in_bound <= evbuffer_get_length(c->in))
			break;
		n = read_some(c, &offered);
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			conn_lost(c, strerror(errno));
			return;
		}
		if (n == 0) {
			conn_eof(c);
			return;
		}
		if (n < 0)
			break;
		conn_run_requests(c);
		conn_io_update(c);
		if ((size_t)n < offered)
			break;
	}
	conn_io_update(c);
	conn_flush(c);
}

void
conn_io_writecb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	int n = evbuffer_write(c->out, c->fd);

	if (n > 0)
		c->server->counters.bytes_out += (uint64_t)n;
	if (n < 0 && errno != EAGAIN && errno != EINTR) {
		conn_lost(c, strerror(errno));
		return;
	}
	if (evbuffer_get_length(c->out) > 0)
		return;
	if (c->state == CONN_CLOSING) {
		conn_free(c);
		return;
	}
	conn_flush(c); /* disarms the write event, resumes a stalled loop */
}

void
conn_io_hupcb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	char byte;
	ssize_t n;

	if (what & EV_CLOSED) {
		conn_eof(c);
		return;
	}
	/* A parked producer's socket turned readable: look, not read. */
	n = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n == 0)
		conn_eof(c);
	else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
	    errno != EINTR)
		conn_lost(c, strerror(errno));
	else
		conn_io_update(c); /* more requests: stop watching */
}
