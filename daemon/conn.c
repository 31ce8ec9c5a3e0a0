/*
 * conn.c - a client connection: state machine, waits, input loop,
 * replies.  See conn.h; the socket side is conn_io.c.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "acl.h"
#include "admit.h"
#include "clock.h"
#include "cmd.h"
#include "conn_io.h"
#include "deliver.h"
#include "log.h"
#include "persist.h"
#include "response.h"
#include "tls.h"
#include "xmalloc.h"

/*
 * Requests one connection serves in one run of its input loop before
 * it goes to the back of the run list, behind the others.
 */
#define CONN_REQUESTS_PER_RUN 1024
/* How long a closing connection may take to flush its last output. */
#define CONN_CLOSE_FLUSH_SEC 10

/* Outcome of one step of the input loop. */
enum step {
	STEP_NEXT, /* a request was handled: go on */
	STEP_STOP, /* nothing more can be done until something happens */
};

static void conn_timercb(evutil_socket_t fd, short what, void *arg);

/* The invariants of conn.h and queue.h that state s must meet. */
static void
check_state(const struct conn *c, enum conn_state s)
{
	const struct queue *q = c->wait.queue;

	assert(c->state != CONN_CLOSING || s == CONN_CLOSING);
	switch (s) {
	case CONN_WAIT_ROOM:
		assert(q != NULL && c->req.cmd == PROTO_CMD_PUT);
		assert(evbuffer_get_length(c->in) >=
		    c->body_off + c->req.body_len + c->term_len);
		break;
	case CONN_WAIT_MESSAGE:
		assert(q != NULL && (c->req.cmd == PROTO_CMD_GET ||
					c->req.cmd == PROTO_CMD_RESERVE));
		assert(queue_depth(q) == 0);
		break;
	default:
		assert(q == NULL);
		break;
	}
}

/* conn_debug(), or with `always` a line outside c's allowance (its
 * connecting and leaving, which frame the rest). */
static void __attribute__((format(printf, 3, 0)))
debug_line(struct conn *c, bool always, const char *fmt, va_list ap)
{
	char line[512];
	unsigned held = 0;

	if (log_get_level() < LOG_DEBUG)
		return;
	if (always) {
		held = c->log_budget.held;
		c->log_budget.held = 0;
	} else if (!log_budget_take(&c->log_budget, LOG_BUDGET_LINES, &held)) {
		return;
	}
	vsnprintf(line, sizeof line, fmt, ap);
	if (held > 0)
		log_msg(LOG_DEBUG,
		    "client %s: %s; %u lines about it were held back", c->peer,
		    line, held);
	else
		log_msg(LOG_DEBUG, "client %s: %s", c->peer, line);
}

void
conn_debug(struct conn *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	debug_line(c, false, fmt, ap);
	va_end(ap);
}

static void __attribute__((format(printf, 2, 3)))
conn_debug_always(struct conn *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	debug_line(c, true, fmt, ap);
	va_end(ap);
}

/* A state change in words, for the debug log. */
static void
log_state(struct conn *c, enum conn_state s)
{
	const char *q = c->wait.queue ? c->wait.queue->name : c->req.queue;

	switch (s) {
	case CONN_WAIT_ROOM:
		conn_debug(c, "waits for room in %s, which is full", q);
		break;
	case CONN_WAIT_MESSAGE:
		conn_debug(c, "waits for a message in %s, which is empty", q);
		break;
	case CONN_READ_BODY:
		conn_debug(c, "reads a body of %" PRIu64 " bytes",
		    c->req.body_len);
		break;
	case CONN_DISCARD_BODY:
		conn_debug(c, "skips a body of %" PRIu64 " bytes: %s",
		    c->discard.left, c->discard.reply);
		break;
	case CONN_CLOSING:
		conn_debug(c, "closing");
		break;
	case CONN_READ_LINE:
		if (c->state == CONN_WAIT_ROOM || c->state == CONN_WAIT_MESSAGE)
			conn_debug(c, "wait over");
		break;
	}
}

static void
conn_set_state(struct conn *c, enum conn_state s)
{
	check_state(c, s);
	if (c->state != s && log_get_level() >= LOG_DEBUG)
		log_state(c, s);
	c->state = s;
}

/*
 * The input a connection may hold: the rest of the request being served
 * (need: a PUT's body and terminator) plus the read-ahead.  Counting the
 * read-ahead on top keeps every read of a stream of large messages a
 * full one: with the larger of the two instead, 16 KiB messages were
 * read three per 48 KiB read, the fourth always split.
 */
static void
set_input_bound(struct conn *c, uint64_t need)
{
	c->in_bound = c->server->cfg.input_readahead + (size_t)need;
}

/* Make sure the pass runs, later in this iteration of the event loop. */
static void
pass_needed(struct server *s)
{
	if (s->pass_pending)
		return;
	s->pass_pending = true;
	event_active(s->run_ev, EV_TIMEOUT, 1);
}

void
conn_schedule(struct conn *c)
{
	struct server *s = c->server;

	if (c->runnable || c->state == CONN_CLOSING)
		return;
	c->runnable = true;
	TAILQ_INSERT_TAIL(&s->runq, c, runlink);
	pass_needed(s);
}

void
conn_flush_later(struct conn *c)
{
	if (c->to_flush)
		return;
	c->to_flush = true;
	TAILQ_INSERT_TAIL(&c->server->flushq, c, flushlink);
	pass_needed(c->server);
}

void
conn_pass_resume(struct server *s)
{
	if (!TAILQ_EMPTY(&s->runq))
		pass_needed(s);
}

void
conn_run_pass(struct server *s)
{
	static const struct timeval now = { 0, 0 };
	int budget = CONN_PASS_REQUESTS;
	/* A group's snapshot waits for the log to settle (persist.h):
	 * requests wait on the run list; conn_pass_resume() goes on. */
	bool settling = s->persist != NULL && persist_settling(s->persist);
	struct conn *c;

	/* What this run wakes joins it: no second activation. */
	s->pass_pending = true;
	while (!settling && budget > 0 && (c = TAILQ_FIRST(&s->runq)) != NULL) {
		TAILQ_REMOVE(&s->runq, c, runlink);
		c->runnable = false;
		budget -= conn_run_requests(c, budget);
		conn_flush_later(c);
	}
	/*
	 * Out of budget: go on once the loop has polled (a zero timer), so
	 * that sockets that became ready meanwhile are served first.
	 */
	/*
	 * The log's batch of this pass goes with one write() before the
	 * answers are flushed, so those it made durable go out with them.
	 */
	if (s->persist != NULL)
		deliver_log_pass(s);
	if (!TAILQ_EMPTY(&s->runq) && !settling)
		evtimer_add(s->run_ev, &now);
	else
		s->pass_pending = false;
	while ((c = TAILQ_FIRST(&s->flushq)) != NULL) {
		TAILQ_REMOVE(&s->flushq, c, flushlink);
		c->to_flush = false;
		conn_io_arm(c);
		conn_flush(c);
	}
}

struct conn *
conn_new(struct server *s, int fd)
{
	struct conn *c = xcalloc(1, sizeof *c);

	evutil_make_socket_nonblocking(fd);
	c->server = s;
	c->fd = fd;
	c->state = CONN_READ_LINE;
	c->authenticated = s->acl == NULL;
	c->in = evbuffer_new();
	c->out = evbuffer_new();
	c->rev = event_new(s->base, fd, EV_READ | EV_PERSIST, conn_io_readcb,
	    c);
	c->wev =
	    event_new(s->base, fd, EV_WRITE | EV_PERSIST, conn_io_writecb, c);
	c->hup = event_new(s->base, fd, EV_CLOSED | EV_PERSIST, conn_io_hupcb,
	    c);
	c->timer = evtimer_new(s->base, conn_timercb, c);
	if (!c->in || !c->out || !c->rev || !c->wev || !c->hup || !c->timer) {
		log_err("fd %d: out of memory for a connection", fd);
		abort();
	}
	TAILQ_INIT(&c->reserved);
	TAILQ_INSERT_TAIL(&s->conns, c, link);
	s->nconns++;
	s->changes++; /* STATS counts connections (answer.h) */
	set_input_bound(c, 0);
	guard_start(c);
	conn_io_arm(c);
	{
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss;
		log_addr(getpeername(fd, (struct sockaddr *)&ss, &len) == 0
		        ? (struct sockaddr *)&ss
		        : NULL,
		    c->peer, sizeof c->peer);
	}
	c->since_ms = clock_now_ms();
	conn_debug_always(c, "connected (%zu connections open)", s->nconns);
	return c;
}

void
conn_reply(struct conn *c, int code, const char *token, const char *arg)
{
	char line[PROTO_LINE_MAX];
	size_t n = proto_write_status(line, sizeof line, code, token, arg);

	if (code == 400)
		c->server->counters.bad_requests++;
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

/* Arm the wait's timer to fire in ms milliseconds, for this wait. */
static void
arm_timer(struct conn *c, uint64_t ms)
{
	struct timeval tv = { (time_t)(ms / 1000),
		(suseconds_t)(ms % 1000) * 1000 };

	evtimer_add(c->timer, &tv);
	c->timer_due_ms = clock_now_ms() + ms;
	c->timer_current = true;
}

void
conn_park(struct conn *c, struct queue *q, enum conn_state wait,
    bool has_timeout, uint64_t timeout_ms)
{
	assert(wait == CONN_WAIT_ROOM || wait == CONN_WAIT_MESSAGE);
	c->wait.since_ms = clock_now_ms();
	c->wait.owner = c;
	queue_wait(q, &c->wait, wait == CONN_WAIT_ROOM);
	guard_park(c);
	c->deadline_ms = has_timeout ? c->wait.since_ms + timeout_ms : 0;
	c->timer_current = false;
	/*
	 * A timer an earlier wait left pending that fires first re-arms
	 * for this one (conn_timercb): a consumer that parks and is woken
	 * once per message then costs no timer operations at all.
	 */
	if (has_timeout &&
	    !(evtimer_pending(c->timer, NULL) &&
	        c->timer_due_ms <= c->deadline_ms))
		arm_timer(c, timeout_ms);
	conn_set_state(c, wait);
	conn_io_update(c);
}

/* Leave the line the connection waits in, if any. */
static void
unpark(struct conn *c)
{
	struct queue *q = c->wait.queue;
	bool producer = c->state == CONN_WAIT_ROOM;

	if (q == NULL)
		return;
	if (producer)
		q->stat.blocked_ms += clock_now_ms() - c->wait.since_ms;
	queue_unwait(&c->wait, producer);
	/* The timer stays pending: a stale one does nothing (conn_timercb). */
	c->deadline_ms = 0;
	c->timer_current = false;
}

void
conn_wake(struct conn *c)
{
	unpark(c);
	conn_set_state(c, CONN_READ_LINE);
	set_input_bound(c, 0);
	conn_io_update(c);
	/*
	 * Bytes already buffered bring no new read event: run them in
	 * this pass, from the run list, never inside whoever woke us.
	 */
	conn_schedule(c);
}

/* Consume the current PUT's frame, its body going to dst, out or nowhere. */
static void
take_body(struct conn *c, char *dst, struct evbuffer *out)
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

void
conn_copy_body(struct conn *c, char *dst)
{
	take_body(c, dst, NULL);
}

void
conn_move_body(struct conn *c, struct evbuffer *out)
{
	take_body(c, NULL, out);
}

void
conn_skip_body(struct conn *c)
{
	take_body(c, NULL, NULL);
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
reject_and_close(struct conn *c, const char *why)
{
	conn_debug(c, "bad request, closing: %s", why);
	conn_reply(c, 400, "BAD_REQUEST", why);
	conn_close(c);
	return STEP_STOP;
}

/* Run the complete request c->req and follow what its handler says. */
static enum step
dispatch_request(struct conn *c)
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
    struct proto_frame *fr, enum step *st)
{
	size_t end;

	if (c->req.body_len > contig - fr->body_off)
		return false;
	end = fr->body_off + (size_t)c->req.body_len;
	if (proto_frame_body_end(head + end, contig - end, &c->req, fr) !=
	    PROTO_OK)
		return false;
	c->body_ptr = head + fr->body_off;
	c->body_off = fr->body_off;
	c->term_len = fr->term_len;
	*st = dispatch_request(c);
	/* A parked PUT keeps its frame buffered, but not this pointer. */
	c->body_ptr = NULL;
	return true;
}

/*
 * CONN_READ_LINE: frame the next request line with protocol/'s framer
 * (proto_frame_line, over the first contiguous chunk of input), judge
 * it, and run it, wait for its body, or start skipping a refused body.
 */
static enum step
read_line(struct conn *c)
{
	struct evbuffer *in = c->in;
	size_t avail = evbuffer_get_length(in), contig;
	size_t look = avail < PROTO_LINE_MAX ? avail : PROTO_LINE_MAX;
	struct evbuffer_iovec first;
	struct proto_frame fr;
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
	st = proto_frame_line(head, look, c->line, &c->req, &fr);
	if (st == PROTO_NEED_MORE)
		return STEP_STOP;
	if (st == PROTO_FATAL)
		return reject_and_close(c, c->req.error);
	if (st == PROTO_OK && cmd_check(c, &c->req, reply, sizeof reply)) {
		if (c->req.has_body &&
		    run_contiguous(c, head, contig, &fr, &step))
			return step;
		evbuffer_drain(in, fr.body_off);
		if (!c->req.has_body)
			return dispatch_request(c);
		conn_set_state(c, CONN_READ_BODY);
		set_input_bound(c, c->req.body_len + 2);
		return STEP_NEXT;
	}
	evbuffer_drain(in, fr.body_off);
	if (st == PROTO_BAD) {
		snprintf(reply, sizeof reply, "400 BAD_REQUEST %s",
		    c->req.error);
		c->server->counters.bad_requests++;
	}
	if (c->req.has_body) {
		start_discard(c, c->req.body_len, reply);
		return STEP_NEXT;
	}
	evbuffer_add_printf(c->out, "%s\r\n", reply);
	return STEP_NEXT;
}

/*
 * protocol/'s second framing step on the bytes after a body that lies
 * `skip` bytes into the input: sets c->term_len on PROTO_OK.
 */
static enum proto_status
body_end(struct conn *c, size_t skip)
{
	struct evbuffer *in = c->in;
	size_t avail = evbuffer_get_length(in) - skip;
	struct proto_frame fr = { .body_off = 0 };
	struct evbuffer_ptr pos;
	enum proto_status st;
	char buf[2];

	if (avail > 2)
		avail = 2;
	if (avail > 0) {
		evbuffer_ptr_set(in, &pos, skip, EVBUFFER_PTR_SET);
		evbuffer_copyout_from(in, &pos, buf, avail);
	}
	st = proto_frame_body_end(buf, avail, &c->req, &fr);
	c->term_len = fr.term_len;
	return st;
}

/* CONN_READ_BODY: once the whole body and its terminator are in, run. */
static enum step
read_body(struct conn *c)
{
	size_t have = evbuffer_get_length(c->in);
	enum proto_status st;
	char reply[160];

	if (have <= c->req.body_len) {
		/*
		 * The memory budget ran out with the body half in: a PUT
		 * that would not wait for memory is answered now, its body
		 * skipped (budget.h); the others wait for memory.
		 */
		if (budget_full(c->server) &&
		    cmd_refuse_for_memory(c, reply, sizeof reply)) {
			evbuffer_drain(c->in, have);
			start_discard(c, c->req.body_len - have, reply);
			return STEP_NEXT;
		}
		return STEP_STOP;
	}
	st = body_end(c, (size_t)c->req.body_len);
	if (st == PROTO_NEED_MORE)
		return STEP_STOP;
	if (st == PROTO_FATAL)
		return reject_and_close(c, c->req.error);
	c->body_off = 0;
	return dispatch_request(c);
}

/* CONN_DISCARD_BODY: skip a refused body, then give its answer. */
static enum step
discard_body(struct conn *c)
{
	struct evbuffer *in = c->in;
	size_t avail = evbuffer_get_length(in);
	enum proto_status st;

	if (c->discard.left > 0) {
		size_t n = avail < c->discard.left ? avail
						   : (size_t)c->discard.left;
		evbuffer_drain(in, n);
		c->discard.left -= n;
		if (c->discard.left > 0)
			return STEP_STOP;
	}
	st = body_end(c, 0);
	if (st == PROTO_NEED_MORE)
		return STEP_STOP;
	if (st == PROTO_FATAL)
		return reject_and_close(c, c->req.error);
	evbuffer_drain(in, c->term_len);
	evbuffer_add_printf(c->out, "%s\r\n", c->discard.reply);
	conn_set_state(c, CONN_READ_LINE);
	return STEP_NEXT;
}

size_t
conn_input_room(struct conn *c)
{
	size_t have = evbuffer_get_length(c->in);

	return budget_input_room(c,
	    have < c->in_bound ? c->in_bound - have : 0);
}

/*
 * True (and reading paused) when unsent output is above the mark; with
 * the memory budget spent, when there is any: one answer at a time.
 */
static bool
output_full(struct conn *c)
{
	size_t high = budget_full(c->server) ? 1 : c->server->cfg.output_high;

	if (evbuffer_get_length(c->out) < high)
		return false;
	c->output_stalled = true;
	conn_io_update(c);
	return true;
}

int
conn_run_requests(struct conn *c, int max)
{
	enum step st = STEP_NEXT;
	int served = 0;

	if (max > CONN_REQUESTS_PER_RUN)
		max = CONN_REQUESTS_PER_RUN;
	/* What was just read counts before requests are judged on it. */
	budget_sync_conn(c);
	while (st == STEP_NEXT && !output_full(c)) {
		if (served == max) {
			conn_schedule(c);
			break;
		}
		served++;
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
		case CONN_WAIT_ROOM:
		case CONN_WAIT_MESSAGE:
		case CONN_CLOSING:
			st = STEP_STOP;
			break;
		}
		/* Back to reading a line after a step: a request was served. */
		if (st == STEP_NEXT && c->state == CONN_READ_LINE)
			guard_request_done(&c->guard);
	}
	/* The client sent all it will: once nothing is left to run, close. */
	if (c->eof && st == STEP_STOP && !conn_waiting(c) &&
	    c->state != CONN_CLOSING && !c->output_stalled)
		conn_close(c);
	budget_sync_conn(c);
	guard_pass(c);
	return served > 0 ? served : 1;
}

/* Give back everything the connection holds in the queues. */
static void
detach(struct conn *c)
{
	struct queue *q = c->wait.queue;

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
conn_hold_until(struct conn *c, uint64_t lsn)
{
	struct server *s = c->server;
	struct conn_hold *h;

	if (c->nholds == 0 && lsn <= persist_durable(s->persist))
		return;
	/* Held behind an answer that waits for as much already. */
	if (c->nholds > 0 &&
	    c->holds[(c->hold_head + c->nholds - 1) % c->hold_cap].lsn >= lsn)
		return;
	if (c->nholds == c->hold_cap) {
		size_t cap = c->hold_cap ? c->hold_cap * 2 : 8;
		struct conn_hold *n = xcalloc(cap, sizeof *n);
		for (size_t i = 0; i < c->nholds; i++)
			n[i] = c->holds[(c->hold_head + i) % c->hold_cap];
		free(c->holds);
		c->holds = n;
		c->hold_cap = cap;
		c->hold_head = 0;
	}
	h = &c->holds[(c->hold_head + c->nholds) % c->hold_cap];
	h->lsn = lsn;
	h->pos = c->out_sent + evbuffer_get_length(c->out);
	c->nholds++;
	if (!c->holding) {
		c->holding = true;
		TAILQ_INSERT_TAIL(&s->holding, c, hold_link);
	}
}

size_t
conn_sendable(const struct conn *c)
{
	size_t len = evbuffer_get_length(c->out);

	if (c->nholds == 0)
		return len;
	uint64_t free_to = c->holds[c->hold_head].pos - c->out_sent;
	return free_to < len ? (size_t)free_to : len;
}

/* Let go of the holds the log has passed; true if any went. */
static bool
release_one(struct conn *c, uint64_t durable)
{
	bool any = false;

	while (c->nholds > 0 && c->holds[c->hold_head].lsn <= durable) {
		c->hold_head = (c->hold_head + 1) % c->hold_cap;
		c->nholds--;
		any = true;
	}
	return any;
}

/* Take c out of the holding list. */
static void
stop_holding(struct conn *c)
{
	if (!c->holding)
		return;
	TAILQ_REMOVE(&c->server->holding, c, hold_link);
	c->holding = false;
}

void
conn_release_held(struct server *s)
{
	uint64_t durable = persist_durable(s->persist);
	struct conn *c, *next;

	for (c = TAILQ_FIRST(&s->holding); c != NULL; c = next) {
		next = TAILQ_NEXT(c, hold_link);
		if (!release_one(c, durable))
			continue;
		if (c->nholds == 0) {
			stop_holding(c);
			/* Once written, a closing connection may go. */
			c->holding_released = true;
		}
		conn_flush_later(c);
	}
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
	conn_io_update(c);
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
	stop_holding(c);
	free(c->holds);
	/* Nothing holds c now (see conn.h); the pass lists must not. */
	if (c->runnable)
		TAILQ_REMOVE(&s->runq, c, runlink);
	if (c->to_flush)
		TAILQ_REMOVE(&s->flushq, c, flushlink);
	TAILQ_REMOVE(&s->conns, c, link);
	s->nconns--;
	s->changes++;
	conn_debug_always(c,
	    "disconnected after %" PRIu64 " requests in %" PRIu64
	    " ms (%zu connections open)",
	    c->nrequests, clock_now_ms() - c->since_ms, s->nconns);
	event_free(c->rev);
	event_free(c->wev);
	event_free(c->hup);
	event_free(c->timer);
	budget_forget_conn(c);
	evbuffer_free(c->in);
	evbuffer_free(c->out);
	admit_release(s, c->fd);
	acl_unref(c->acl);
	tls_conn_free(c->tls);
	close(c->fd);
	free(c);
}

static void
conn_timercb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	if (c->state == CONN_CLOSING) {
		conn_free(c);
	} else if (conn_waiting(c) && c->deadline_ms != 0) {
		uint64_t now = clock_now_ms();

		/* A timer left by an earlier wait: arm for this one's end. */
		if (c->timer_current)
			deliver_timeout(c);
		else
			arm_timer(c,
			    c->deadline_ms > now ? c->deadline_ms - now : 0);
	} else if (!conn_waiting(c)) {
		guard_check(c);
	}
}
