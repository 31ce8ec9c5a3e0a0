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
 * The callbacks here read and run a connection's own requests; what
 * they wake, and every connection's output, waits for the pass at the
 * end of the loop iteration (conn.h), which writes each output once
 * (conn_flush); what the socket does not take waits for the write event.
 *
 * TLS (tls.h) changes only the calls that move bytes and which events
 * they wait for: the handshake runs first, driven by whichever event
 * it waits on; then reads go through SSL_read into the same input
 * buffer, within the same bound, and writes through SSL_write from the
 * same output.  A parked producer is not read at all, so neither its
 * socket nor OpenSSL's buffer is drained past the bound.  Plaintext
 * OpenSSL has already decoded brings no socket event: while the
 * connection wants input and some is pending, the read event is made
 * active by hand (conn_io_arm).
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
#include "tls.h"

/*
 * Reads per readable event: while a read fills all the room offered,
 * more is probably waiting, so serve it before writing the answers.
 * Fewer, larger writes mean fewer wake-ups on both ends.
 */
#define CONN_READS_PER_EVENT 4

/* Whether the connection's socket should be read now (its bound and
 * the memory budget: conn_input_room). */
static bool
wants_read(struct conn *c)
{
	return c->state != CONN_CLOSING && !c->output_stalled && !c->eof &&
	    c->state != CONN_WAIT_ROOM && conn_input_room(c) > 0;
}

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
 * room, as before.  TLS changes nothing here: a client that is killed
 * sends no close_notify, only the FIN seen here; one that sent
 * close_notify left bytes in the kernel and is seen when there is room.
 */
static short
hup_events(const struct conn *c, bool reading)
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

/* Watch c's socket for `hup` (hup_events()), re-assigned on a change. */
static void
set_hup(struct conn *c, short hup)
{
	short watched = c->watching_hup
	    ? (short)(event_get_events(c->hup) & (EV_READ | EV_CLOSED))
	    : 0;

	if (hup == watched)
		return;
	if (c->watching_hup)
		event_del(c->hup);
	c->watching_hup = hup != 0;
	if (hup != 0) {
		event_assign(c->hup, c->server->base, c->fd, hup | EV_PERSIST,
		    conn_io_hupcb, c);
		event_add(c->hup, NULL);
	}
}

void
conn_io_update(struct conn *c)
{
	/*
	 * Within a pass a producer may park and be woken many times over;
	 * its events are armed once, as the pass ends (conn_io_arm).
	 */
	conn_flush_later(c);
}

/* Add or delete ev so that it is armed iff `want`; *on tracks it. */
static void
set_event(struct event *ev, bool *on, bool want)
{
	if (want == *on)
		return;
	*on = want;
	if (want)
		event_add(ev, NULL);
	else
		event_del(ev);
}

void
conn_io_arm(struct conn *c)
{
	bool want = wants_read(c), rd = want, wr;

	if (c->tls != NULL) {
		wr = c->out_blocked;
		tls_events(c->tls, &rd, &wr);
		set_event(c->wev, &c->writing, wr);
	}
	set_event(c->rev, &c->reading, rd);
	set_hup(c, hup_events(c, want));
	/*
	 * Only once added: libevent does not register an event that is
	 * already active, and it would never fire again.
	 */
	if (c->tls != NULL && want && c->reading && tls_pending(c->tls) > 0)
		event_active(c->rev, EV_READ, 1);
}

/*
 * Write what the socket takes of the output that may be sent (answers
 * held for the log wait); as evbuffer_write().
 */
static int
write_out(struct conn *c)
{
	size_t n = conn_sendable(c);
	int w;

	if (n == 0)
		return 0;
	w = c->tls != NULL ? (int)tls_write(c->tls, c->out, n)
			   : evbuffer_write_atmost(c->out, c->fd, (ev_ssize_t)n);
	if (w > 0) {
		c->out_sent += (uint64_t)w;
		c->server->counters.bytes_out += (uint64_t)w;
	}
	return w;
}

void
conn_flush(struct conn *c)
{
	size_t len = conn_sendable(c);

	/* A TLS write blocked on the socket being readable tries again. */
	if (len > 0 && (!c->writing || c->tls != NULL)) {
		if (write_out(c) < 0 && errno != EAGAIN && errno != EINTR) {
			/*
			 * Reported by the write event, away from callers;
			 * armed too, in case its retry only meets EAGAIN.
			 */
			c->writing = c->out_blocked = true;
			event_add(c->wev, NULL);
			event_active(c->wev, EV_WRITE, 1);
			return;
		}
		len = conn_sendable(c);
		budget_sync_conn(c);
	}
	if (c->tls != NULL) {
		/* Which event a TLS write waits for may have changed. */
		c->out_blocked = len > 0;
		conn_io_arm(c);
	} else {
		/* Held answers arm nothing: their release flushes again. */
		set_event(c->wev, &c->writing, len > 0);
	}
	if (evbuffer_get_length(c->out) == 0 && c->output_stalled) {
		c->output_stalled = false;
		conn_schedule(c);
	}
	/* A closing connection whose held answers just went: free it. */
	if (c->holding_released && c->state == CONN_CLOSING &&
	    evbuffer_get_length(c->out) == 0) {
		static const struct timeval now = { 0, 0 };
		c->holding_released = false;
		evtimer_add(c->timer, &now);
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
	if (!conn_waiting(c) && c->state != CONN_CLOSING) {
		conn_run_requests(c, CONN_PASS_REQUESTS);
		conn_io_update(c);
		conn_flush_later(c);
	}
}

/* readv() through TLS: the vectors in turn, as long as each fills. */
static ssize_t
read_tls(struct conn *c, const struct iovec *iov, int nvec)
{
	ssize_t n, got = 0;

	for (int i = 0; i < nvec; i++) {
		if (iov[i].iov_len == 0)
			continue;
		n = tls_read(c->tls, iov[i].iov_base, iov[i].iov_len);
		if (n <= 0)
			return got > 0 ? got : n;
		got += n;
		if ((size_t)n < iov[i].iov_len)
			break;
	}
	return got;
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

	*offered = conn_input_room(c);
	nvec = evbuffer_reserve_space(c->in, (ev_ssize_t)*offered, vec, 2);
	/* The space reserved may be larger than asked: read no more. */
	left = (ssize_t)*offered;
	for (int i = 0; i < nvec; i++) {
		iov[i].iov_base = vec[i].iov_base;
		iov[i].iov_len = (size_t)left < vec[i].iov_len ? (size_t)left
							     : vec[i].iov_len;
		left -= (ssize_t)iov[i].iov_len;
	}
	n = c->tls != NULL ? read_tls(c, iov, nvec) : readv(c->fd, iov, nvec);
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

/*
 * Advance the TLS handshake on either event; once done, read what
 * came with its last flight (no new event would bring it).
 */
static void
handshake(struct conn *c)
{
	char desc[256];
	int r = tls_handshake(c->tls);

	if (r < 0) {
		conn_lost(c, tls_why(c->tls));
		return;
	}
	conn_io_arm(c);
	if (r == 0)
		return;
	if (log_get_level() >= LOG_DEBUG) {
		tls_describe(c->tls, desc, sizeof desc);
		conn_debug(c, "TLS: %s", desc);
	}
	if (c->reading)
		event_active(c->rev, EV_READ, 1);
}

bool
conn_start_tls(struct conn *c, struct ssl_ctx_st *ctx)
{
	if ((c->tls = tls_conn_new(ctx, c->fd)) == NULL)
		return false;
	conn_io_arm(c);
	return true;
}

void
conn_io_readcb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	size_t offered;
	ssize_t n;

	if (c->tls != NULL && !tls_ready(c->tls)) {
		handshake(c);
		return;
	}
	if (c->tls != NULL && tls_write_wants_read(c->tls))
		conn_flush(c);
	for (int i = 0; i < CONN_READS_PER_EVENT; i++) {
		if (!wants_read(c))
			break;
		n = read_some(c, &offered);
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			conn_lost(c,
			    c->tls != NULL && errno == EPROTO
			        ? tls_why(c->tls)
			        : strerror(errno));
			return;
		}
		if (n == 0) {
			conn_eof(c);
			return;
		}
		if (n < 0)
			break;
		conn_run_requests(c, CONN_PASS_REQUESTS);
		conn_io_update(c);
		if ((size_t)n < offered)
			break;
	}
	conn_io_update(c);
	conn_flush_later(c);
}

void
conn_io_writecb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	if (c->tls != NULL && !tls_ready(c->tls)) {
		handshake(c);
		return;
	}
	/* A TLS read waiting for writable: retry it now (it writes too). */
	if (c->tls != NULL && tls_read_wants_write(c->tls)) {
		conn_io_readcb(fd, EV_READ, c);
		return;
	}
	if (conn_sendable(c) > 0 && write_out(c) < 0 && errno != EAGAIN &&
	    errno != EINTR) {
		conn_lost(c,
		    c->tls != NULL && errno == EPROTO ? tls_why(c->tls)
						      : strerror(errno));
		return;
	}
	budget_sync_conn(c);
	if (conn_sendable(c) > 0) {
		/* TLS: a write may now wait for readable instead. */
		if (c->tls != NULL)
			conn_io_arm(c);
		return;
	}
	if (evbuffer_get_length(c->out) > 0) {
		conn_flush(c); /* only held answers left: disarm */
		return;
	}
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
	/*
	 * A parked producer's socket turned readable: look, not read (on
	 * TLS too: only whether a byte is there matters).
	 */
	n = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n == 0)
		conn_eof(c);
	else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
	    errno != EINTR)
		conn_lost(c, strerror(errno));
	else
		conn_io_arm(c); /* more requests: stop watching */
}
