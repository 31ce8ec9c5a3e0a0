/*
 * conn.c - a client connection: state machine, input loop, replies.
 * See conn.h.
 *
 * Reading is on unless the connection is a parked producer (its bytes
 * must stay in the kernel: that is the backpressure), is closing, has
 * too much unsent output, or holds as much input as it may.  A parked
 * consumer keeps reading, only to notice when the client goes away.
 *
 * Output is written once per pass of the input loop (conn_flush); what
 * the socket does not take waits for the write event.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "admit.h"
#include "cmd.h"
#include "conn.h"
#include "deliver.h"
#include "log.h"
#include "response.h"
#include "xmalloc.h"

/*
 * Requests served per pass of the input loop before yielding to other
 * connections; the rest is picked up by a deferred read callback.
 */
#define CONN_REQUESTS_PER_PASS 1024
/*
 * Reads per readable event: while a read fills all the room offered,
 * more is probably waiting, so serve it before writing the answers.
 * Fewer, larger writes mean fewer wake-ups on both ends.
 */
#define CONN_READS_PER_EVENT 4
/* How long a closing connection may take to flush its last output. */
#define CONN_CLOSE_FLUSH_SEC 10

static const char *const state_names[] = {
	[CONN_READ_LINE] = "READ_LINE",
	[CONN_READ_BODY] = "READ_BODY",
	[CONN_DISCARD_BODY] = "DISCARD_BODY",
	[CONN_WAITING] = "WAITING",
	[CONN_CLOSING] = "CLOSING",
};

/* Outcome of one step of the input loop. */
enum step {
	STEP_NEXT, /* a request was handled: go on */
	STEP_STOP, /* nothing more can be done until something happens */
};

static void conn_readcb(evutil_socket_t fd, short what, void *arg);
static void conn_writecb(evutil_socket_t fd, short what, void *arg);
static void conn_resumecb(evutil_socket_t fd, short what, void *arg);
static void conn_hupcb(evutil_socket_t fd, short what, void *arg);
static void conn_timercb(evutil_socket_t fd, short what, void *arg);

static void
conn_set_state(struct conn *c, enum conn_state s)
{
	if (c->state != s)
		log_debug("fd %d: %s -> %s", c->fd, state_names[c->state],
		    state_names[s]);
	c->state = s;
}

/* Read iff the state, the output and the input bound allow. */
static void
update_reading(struct conn *c)
{
	bool want = c->state != CONN_CLOSING && !c->output_stalled &&
	    !c->eof && !(c->state == CONN_WAITING && c->waiting_producer) &&
	    evbuffer_get_length(c->in) < c->in_bound;

	bool hup = !want && !c->eof && c->state == CONN_WAITING &&
	    !c->waiting_producer;

	if (want != c->reading) {
		c->reading = want;
		if (want)
			event_add(c->rev, NULL);
		else
			event_del(c->rev);
	}
	/*
	 * A waiting consumer whose input is full is not read, yet must not
	 * be handed a message once it has gone: watch for its close.
	 */
	if (hup != c->watching_hup) {
		c->watching_hup = hup;
		if (hup)
			event_add(c->hup, NULL);
		else
			event_del(c->hup);
	}
}

/*
 * The input a connection may hold: the read-ahead, or the whole of the
 * request being served when that is larger.
 */
static void
set_input_bound(struct conn *c, uint64_t need)
{
	size_t high = c->server->cfg.input_readahead;

	c->in_bound = need > high ? (size_t)need : high;
}

/* Run the input loop again from the event loop, not from the caller. */
static void
schedule_resume(struct conn *c)
{
	event_active(c->resume, EV_TIMEOUT, 1);
}

struct conn *
conn_new(struct server *s, int fd)
{
	struct conn *c = xcalloc(1, sizeof *c);

	evutil_make_socket_nonblocking(fd);
	c->server = s;
	c->fd = fd;
	c->state = CONN_READ_LINE;
	c->authenticated = s->auth_token == NULL;
	c->in = evbuffer_new();
	c->out = evbuffer_new();
	c->rev = event_new(s->base, fd, EV_READ | EV_PERSIST, conn_readcb, c);
	c->wev = event_new(s->base, fd, EV_WRITE | EV_PERSIST, conn_writecb, c);
	c->resume = event_new(s->base, -1, 0, conn_resumecb, c);
	c->hup = event_new(s->base, fd, EV_CLOSED | EV_PERSIST, conn_hupcb, c);
	c->timer = evtimer_new(s->base, conn_timercb, c);
	if (!c->in || !c->out || !c->rev || !c->wev || !c->resume ||
	    !c->hup || !c->timer) {
		log_err("fd %d: out of memory for a connection", fd);
		abort();
	}
	TAILQ_INIT(&c->reserved);
	TAILQ_INSERT_TAIL(&s->conns, c, link);
	s->nconns++;
	set_input_bound(c, 0);
	update_reading(c);
	log_debug("fd %d: connected (%zu open)", fd, s->nconns);
	return c;
}

void
conn_reply(struct conn *c, int code, const char *token, const char *arg)
{
	char line[PROTO_LINE_MAX];
	size_t n = proto_write_status(line, sizeof line, code, token, arg);

	evbuffer_add(c->out, line, n);
}

void
conn_reply_full(struct conn *c, struct queue *q)
{
	evbuffer_add_printf(c->out,
	    "503 FULL %s retry_after_ms=%" PRIu64 "\r\n", q->name,
	    queue_retry_after_ms(q));
	q->stat.rejected++;
}

void
conn_park(struct conn *c, struct queue *q, bool producer, bool has_timeout,
    uint64_t timeout_ms)
{
	c->waiting_producer = producer;
	c->wait_start_ms = server_now_ms();
	c->waiter.owner = c;
	queue_wait(q, &c->waiter, producer);
	if (has_timeout) {
		struct timeval tv = { (time_t)(timeout_ms / 1000),
			(suseconds_t)(timeout_ms % 1000) * 1000 };
		evtimer_add(c->timer, &tv);
	}
	conn_set_state(c, CONN_WAITING);
	update_reading(c);
}

/* Leave the line the connection waits in, if any. */
static void
unpark(struct conn *c)
{
	struct queue *q = c->waiter.queue;

	if (q == NULL)
		return;
	if (c->waiting_producer)
		q->stat.blocked_ms += server_now_ms() - c->wait_start_ms;
	queue_unwait(&c->waiter, c->waiting_producer);
	evtimer_del(c->timer);
}

void
conn_wake(struct conn *c)
{
	unpark(c);
	conn_set_state(c, CONN_READ_LINE);
	set_input_bound(c, 0);
	update_reading(c);
	/*
	 * Bytes already buffered bring no new read event, so run the loop
	 * again, later: never inside whoever woke us.
	 */
	if (!c->in_loop)
		schedule_resume(c);
}

void
conn_take_body(struct conn *c, char *dst, struct evbuffer *out)
{
	struct evbuffer *in = c->in;
	size_t len = (size_t)c->req.body_len;

	if (c->body_ptr != NULL) {
		if (dst != NULL)
			memcpy(dst, c->body_ptr, len);
		else if (out != NULL)
			evbuffer_add(out, c->body_ptr, len);
		evbuffer_drain(in, c->body_off + len + c->term_len);
	} else {
		evbuffer_drain(in, c->body_off);
		if (dst != NULL)
			evbuffer_remove(in, dst, len);
		else if (out != NULL)
			evbuffer_remove_buffer(in, out, len);
		else
			evbuffer_drain(in, len);
		evbuffer_drain(in, c->term_len);
	}
	c->body_ptr = NULL;
	c->body_off = 0;
}

/* Start skipping a body, to answer `reply` after it. */
static void
start_discard(struct conn *c, uint64_t len, const char *reply)
{
	c->discard.left = len;
	snprintf(c->discard.reply, sizeof c->discard.reply, "%s", reply);
	conn_set_state(c, CONN_DISCARD_BODY);
}

/* A request the server cannot frame past: answer 400, then close. */
static enum step
fatal(struct conn *c, const char *why)
{
	log_debug("fd %d: closing: %s", c->fd, why);
	conn_reply(c, 400, "BAD_REQUEST", why);
	conn_close(c);
	return STEP_STOP;
}

static enum step
run(struct conn *c)
{
	switch (cmd_dispatch(c)) {
	case CMD_DONE:
		if (c->state != CONN_CLOSING)
			conn_set_state(c, CONN_READ_LINE);
		/* A big body raised the bound: back to the read-ahead. */
		set_input_bound(c, 0);
		return STEP_NEXT;
	case CMD_WAIT:
		return STEP_STOP;
	case CMD_CLOSE:
		conn_close(c);
		return STEP_STOP;
	}
	return STEP_STOP;
}

/*
 * Serve a PUT whose whole frame lies in `head` (contiguous input) at
 * once, taking the body from memory: the common case for pipelined
 * small messages, which then cost one drain instead of four calls.
 * Returns false (nothing done) when the frame is not all there.
 */
static bool
run_contiguous(struct conn *c, const char *head, size_t contig,
    size_t consumed, enum step *st)
{
	size_t end, term;

	if (c->req.body_len > contig - consumed)
		return false;
	end = consumed + (size_t)c->req.body_len;
	if (proto_scan_body_end(head + end, contig - end < 2 ? contig - end : 2,
		&term) != PROTO_OK)
		return false;
	c->body_ptr = head + consumed;
	c->body_off = consumed;
	c->term_len = term;
	*st = run(c);
	/* A parked PUT keeps its frame buffered, but not this pointer. */
	c->body_ptr = NULL;
	return true;
}

static enum step
read_line(struct conn *c)
{
	struct evbuffer *in = c->in;
	size_t avail = evbuffer_get_length(in), line_len, consumed, contig;
	size_t look = avail < PROTO_LINE_MAX ? avail : PROTO_LINE_MAX;
	struct evbuffer_iovec first;
	const char *head;
	char reply[160];
	enum proto_status st;
	enum step step;

	/* An empty buffer pulls up to NULL, which memchr may not see. */
	if (avail == 0)
		return STEP_STOP;
	if (evbuffer_peek(in, -1, NULL, &first, 1) >= 1 &&
	    first.iov_len >= look) {
		head = first.iov_base;
		contig = first.iov_len;
	} else {
		head = (const char *)evbuffer_pullup(in, (ssize_t)look);
		contig = look;
	}
	st = proto_scan_line(head, look, &line_len, &consumed);
	if (st == PROTO_NEED_MORE)
		return STEP_STOP;
	if (st == PROTO_FATAL)
		return fatal(c, "line too long");
	memcpy(c->line, head, line_len);
	st = proto_parse_request(c->line, line_len, &c->req);
	if (st == PROTO_OK && cmd_check(c, &c->req, reply, sizeof reply)) {
		if (c->req.has_body &&
		    run_contiguous(c, head, contig, consumed, &step))
			return step;
		evbuffer_drain(in, consumed);
		if (!c->req.has_body)
			return run(c);
		conn_set_state(c, CONN_READ_BODY);
		set_input_bound(c, c->req.body_len + 2);
		return STEP_NEXT;
	}
	evbuffer_drain(in, consumed);
	if (st == PROTO_FATAL)
		return fatal(c, c->req.error);
	if (st == PROTO_BAD)
		snprintf(reply, sizeof reply, "400 BAD_REQUEST %s",
		    c->req.error);
	if (c->req.has_body) {
		start_discard(c, c->req.body_len, reply);
		return STEP_NEXT;
	}
	evbuffer_add_printf(c->out, "%s\r\n", reply);
	return STEP_NEXT;
}

/* Check the terminator after `skip` buffered bytes. */
static enum proto_status
body_end(struct evbuffer *in, size_t skip, size_t *term)
{
	size_t avail = evbuffer_get_length(in) - skip;
	struct evbuffer_ptr pos;
	char buf[2];

	if (avail > 2)
		avail = 2;
	if (avail > 0) {
		evbuffer_ptr_set(in, &pos, skip, EVBUFFER_PTR_SET);
		evbuffer_copyout_from(in, &pos, buf, avail);
	}
	return proto_scan_body_end(buf, avail, term);
}

static enum step
read_body(struct conn *c)
{
	struct evbuffer *in = c->in;
	size_t term;
	enum proto_status st;

	if (evbuffer_get_length(in) <= c->req.body_len)
		return STEP_STOP;
	st = body_end(in, (size_t)c->req.body_len, &term);
	if (st == PROTO_NEED_MORE)
		return STEP_STOP;
	if (st == PROTO_FATAL)
		return fatal(c, "body not followed by a line terminator");
	c->body_off = 0;
	c->term_len = term;
	return run(c);
}

static enum step
discard_body(struct conn *c)
{
	struct evbuffer *in = c->in;
	size_t avail = evbuffer_get_length(in), term;
	enum proto_status st;

	if (c->discard.left > 0) {
		size_t n = avail < c->discard.left ? avail
						   : (size_t)c->discard.left;
		evbuffer_drain(in, n);
		c->discard.left -= n;
		if (c->discard.left > 0)
			return STEP_STOP;
	}
	st = body_end(in, 0, &term);
	if (st == PROTO_NEED_MORE)
		return STEP_STOP;
	if (st == PROTO_FATAL)
		return fatal(c, "body not followed by a line terminator");
	evbuffer_drain(in, term);
	evbuffer_add_printf(c->out, "%s\r\n", c->discard.reply);
	conn_set_state(c, CONN_READ_LINE);
	return STEP_NEXT;
}

/* True (and reading paused) when unsent output is above the mark. */
static bool
output_full(struct conn *c)
{
	if (evbuffer_get_length(c->out) < c->server->cfg.output_high)
		return false;
	c->output_stalled = true;
	update_reading(c);
	return true;
}

/* Serve buffered requests until one waits or input runs out. */
static void
run_requests(struct conn *c)
{
	enum step st = STEP_NEXT;
	int served = 0;

	c->in_loop = true;
	while (st == STEP_NEXT && !output_full(c)) {
		if (++served > CONN_REQUESTS_PER_PASS) {
			schedule_resume(c);
			break;
		}
		switch (c->state) {
		case CONN_READ_LINE:
			st = read_line(c);
			break;
		case CONN_READ_BODY:
			st = read_body(c);
			break;
		case CONN_DISCARD_BODY:
			st = discard_body(c);
			break;
		case CONN_WAITING:
		case CONN_CLOSING:
			st = STEP_STOP;
			break;
		}
	}
	c->in_loop = false;
	/* The client sent all it will: once nothing is left to run, close. */
	if (c->eof && st == STEP_STOP && c->state != CONN_WAITING &&
	    c->state != CONN_CLOSING && !c->output_stalled)
		conn_close(c);
}

void
conn_process_input(struct conn *c)
{
	run_requests(c);
	update_reading(c);
	conn_flush(c);
}

/* Give back everything the connection holds in the queues. */
static void
detach(struct conn *c)
{
	struct queue *q = c->waiter.queue;

	unpark(c);
	deliver_return_all(c);
	/*
	 * Producers parked behind it may fit where it did not; a consumer
	 * that could not take a hand-off may have stood before one that can.
	 */
	if (q != NULL)
		deliver_kick(c->server, q);
}

void
conn_hold(struct conn *c, struct msg *m)
{
	m->owner = c;
	TAILQ_INSERT_TAIL(&c->reserved, m, clink);
	c->nreserved++;
	c->reserved_bytes += m->len;
}

void
conn_release(struct conn *c, struct msg *m)
{
	TAILQ_REMOVE(&c->reserved, m, clink);
	c->nreserved--;
	c->reserved_bytes -= m->len;
}

void
conn_close(struct conn *c)
{
	struct timeval flush = { CONN_CLOSE_FLUSH_SEC, 0 };
	struct timeval now = { 0, 0 };

	if (c->state == CONN_CLOSING)
		return;
	detach(c);
	conn_set_state(c, CONN_CLOSING);
	update_reading(c);
	/*
	 * Free from the event loop, never under a caller still using c:
	 * at once if the last output is written now (the write event
	 * will not fire for it), else once the write event has written
	 * it or the client has had long enough to read it.
	 */
	conn_flush(c);
	evtimer_add(c->timer,
	    evbuffer_get_length(c->out) == 0 ? &now : &flush);
}

void
conn_free(struct conn *c)
{
	struct server *s = c->server;

	detach(c);
	TAILQ_REMOVE(&s->conns, c, link);
	s->nconns--;
	log_debug("fd %d: closed (%zu open)", c->fd, s->nconns);
	event_free(c->rev);
	event_free(c->wev);
	event_free(c->resume);
	event_free(c->hup);
	event_free(c->timer);
	evbuffer_free(c->in);
	evbuffer_free(c->out);
	admit_release(s, c->fd);
	close(c->fd);
	free(c);
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
	update_reading(c);
	if (c->state == CONN_WAITING && !c->waiting_producer) {
		/* A consumer that left: its wait ends unanswered. */
		conn_close(c);
		return;
	}
	if (c->state != CONN_WAITING && c->state != CONN_CLOSING)
		conn_process_input(c);
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
		schedule_resume(c);
	}
}

/*
 * Read once, straight into the input buffer, as much as the bound
 * allows.  Returns the bytes read, 0 at end of file, -1 when nothing
 * more can be read now (or the connection was lost: *lost is set).
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

static void
conn_readcb(evutil_socket_t fd, short what, void *arg)
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
		run_requests(c);
		update_reading(c);
		if ((size_t)n < offered)
			break;
	}
	update_reading(c);
	conn_flush(c);
}

static void
conn_writecb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	if (evbuffer_write(c->out, c->fd) < 0 && errno != EAGAIN &&
	    errno != EINTR) {
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

static void
conn_resumecb(evutil_socket_t fd, short what, void *arg)
{
	conn_process_input(arg);
}

static void
conn_hupcb(evutil_socket_t fd, short what, void *arg)
{
	conn_eof(arg);
}

static void
conn_timercb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	struct queue *q = c->waiter.queue;

	if (c->state == CONN_CLOSING) {
		conn_free(c);
		return;
	}
	if (c->state != CONN_WAITING || q == NULL)
		return;
	if (c->waiting_producer) {
		unpark(c);
		conn_reply_full(c, q);
		/* The parked body is still buffered: skip it. */
		conn_take_body(c, NULL, NULL);
		conn_wake(c);
		/* Producers parked behind it may fit where it did not. */
		deliver_kick(c->server, q);
		return;
	}
	conn_reply(c, 204, "EMPTY", NULL);
	conn_wake(c);
	deliver_kick(c->server, q);
}
