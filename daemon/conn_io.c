/*
 * conn_io.c - a connection's socket.  See conn_io.h.
 *
 * Reading is on unless the connection is a parked producer (its bytes
 * must stay in the kernel: that is the backpressure), is closing, has
 * too much unsent output, or holds as much input as it may.  A waiting
 * consumer that is not read is still watched for its close, so that it
 * is not handed a message once it has gone.
 *
 * Output is written once per pass of the input loop (conn_flush); what
 * the socket does not take waits for the write event.
 */
#include <errno.h>
#include <string.h>
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

void
conn_io_update(struct conn *c)
{
	bool want = c->state != CONN_CLOSING && !c->output_stalled && !c->eof &&
	    c->state != CONN_WAIT_ROOM && conn_input_room(c) > 0;
	bool hup = !want && !c->eof && c->state == CONN_WAIT_MESSAGE;

	if (want != c->reading) {
		c->reading = want;
		if (want)
			event_add(c->rev, NULL);
		else
			event_del(c->rev);
	}
	if (hup != c->watching_hup) {
		c->watching_hup = hup;
		if (hup)
			event_add(c->hup, NULL);
		else
			event_del(c->hup);
	}
}

void
conn_flush(struct conn *c)
{
	size_t len = evbuffer_get_length(c->out);

	if (len > 0 && !c->writing) {
		if (evbuffer_write(c->out, c->fd) < 0 && errno != EAGAIN &&
		    errno != EINTR) {
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
		budget_sync_conn(c);
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
	log_debug("fd %d: %s", c->fd, why);
	conn_free(c);
}

/* The client shut down its sending side. */
static void
conn_eof(struct conn *c)
{
	c->eof = true;
	conn_io_update(c);
	if (c->state == CONN_WAIT_MESSAGE) {
		/* A consumer that left: its wait ends unanswered. */
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
	n = readv(c->fd, iov, nvec);
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
		if (!c->reading || conn_input_room(c) == 0)
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

	if (evbuffer_write(c->out, c->fd) < 0 && errno != EAGAIN &&
	    errno != EINTR) {
		conn_lost(c, strerror(errno));
		return;
	}
	budget_sync_conn(c);
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
	conn_eof(arg);
}
