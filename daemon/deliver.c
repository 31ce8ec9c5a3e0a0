/*
 * deliver.c - hand-offs, deliveries, reservations and their return,
 * and every way out of a wait.  See deliver.h, whose comment lists the
 * entry points; conn_wake() is called from this file only.
 *
 * A message goes from a producer's input buffer either into the queue
 * (queue_store) or, when a consumer is already waiting, straight into
 * that consumer's output buffer without touching the queue.  GET sends
 * a large body by reference (no copy); RESERVE keeps the message as a
 * struct msg on the connection until ACK, NACK, close or lease end.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "clock.h"
#include "cmd.h"
#include "delay.h"
#include "deliver.h"
#include "log.h"
#include "persist.h"
#include "response.h"
#include "xmalloc.h"

/* The lease timer of a queue, kept in queue->lease_timer. */
struct lease {
	struct event *ev;
	struct server *server;
	struct queue *queue;
	uint64_t due_ms; /* when ev fires, while it is pending */
};

static void arm_at(struct server *s, struct queue *q, uint64_t expiry_ms);

static struct conn *
first_waiter(struct waiter_list *l)
{
	struct waiter *w = TAILQ_FIRST(l);

	return w ? w->owner : NULL;
}

static bool
wants_reserve(const struct conn *c)
{
	return c->req.cmd == PROTO_CMD_RESERVE;
}

/* How soon a write of the log that failed or had to wait is retried. */
#define DELIVER_FLUSH_RETRY_MS 100

/* Bodies up to this size go out header, body and CRLF in one append. */
#define SMALL_MSG_MAX 512

static void
add_header(struct evbuffer *out, uint64_t id, size_t len)
{
	char line[64];

	evbuffer_add(out, line, proto_write_msg(line, sizeof line, id, len));
}

/* Append a whole "200 MSG" response with a copy of body. */
static void
add_message(struct evbuffer *out, uint64_t id, const char *body, size_t len)
{
	char buf[64 + SMALL_MSG_MAX + 2];
	size_t n;

	if (len > SMALL_MSG_MAX) {
		add_header(out, id, len);
		evbuffer_add(out, body, len);
		evbuffer_add(out, "\r\n", 2);
		return;
	}
	n = proto_write_msg(buf, 64, id, len);
	memcpy(buf + n, body, len);
	memcpy(buf + n + len, "\r\n", 2);
	evbuffer_add(out, buf, n + len + 2);
}

/* Record m as reserved by c. */
static void
reserve(struct conn *c, struct queue *q, struct msg *m)
{
	queue_reserve(q, m, clock_now_ms());
	conn_hold(c, m);
	arm_at(c->server, q, m->lease_expiry_ms);
}

static void
free_body_cb(const void *data, size_t len, void *extra)
{
	free((void *)data);
}

static void
free_msg_cb(const void *data, size_t len, void *extra)
{
	msg_free(extra);
}

void
deliver_head(struct conn *c, struct queue *q, bool reserve_it)
{
	struct evbuffer *out = c->out;
	struct queue_item it;
	struct msg *m = NULL;
	bool referenced = false;

	if (!queue_front(q, &it))
		return;
	/*
	 * A disk queue's GET is answered once its removal is logged; a
	 * reservation once its message's PUT is (the newest record is a
	 * bound for that, without keeping each message's lsn).
	 */
	if (q->qno != 0)
		conn_hold_until(c,
		    reserve_it ? persist_appended(c->server->persist)
		               : persist_remove(c->server->persist, q, it.id,
		                     WAL_RM_GET));
	/*
	 * Copy or reference the body before queue_pop() may free it.
	 * Large bodies go by reference (no copy): the output buffer frees
	 * them once written.
	 */
	if (reserve_it) {
		m = it.msg ? it.msg
		    : it.heap ? msg_new_adopt(it.id, it.body, it.len)
			      : msg_new_copy(it.id, it.body, it.len);
		m->deliveries++;
		/* In a group, where the count must outlive the leader. */
		if (q->qno != 0 && q->set.max_deliveries != 0)
			conn_hold_until(c,
			    persist_delivered(c->server->persist, q, m));
		add_message(out, it.id, m->body, m->len);
	} else if (it.heap || (it.msg != NULL && it.len > SMALL_MSG_MAX)) {
		add_header(out, it.id, it.len);
		if (it.msg != NULL)
			evbuffer_add_reference(out, it.msg->body, it.len,
			    free_msg_cb, it.msg);
		else
			evbuffer_add_reference(out, it.body, it.len,
			    free_body_cb, NULL);
		evbuffer_add(out, "\r\n", 2);
		referenced = true;
	} else {
		add_message(out, it.id, it.body, it.len);
	}
	queue_pop(q, &it, clock_now_ms());
	if (m != NULL)
		reserve(c, q, m);
	else if (it.msg != NULL && !referenced)
		msg_free(it.msg);
}

/*
 * True when a message may go straight to q's first waiting consumer:
 * only where it could have been stored (the spec: a PUT into a full
 * queue meets its policy, and only capacity 0 hands off without room).
 * To a GET it then only moves (the memory budget does not mind); a
 * RESERVE keeps a copy, so a new message (`grows`: a PUT's body) needs
 * memory too.
 */
static bool
can_hand_off(struct server *s, struct queue *q, size_t len, bool grows)
{
	struct conn *to = first_waiter(&q->consumers);

	if (to == NULL)
		return false;
	if (q->set.capacity != 0 && !queue_has_room(q, len))
		return false;
	return !wants_reserve(to) || !(grows && budget_full(s));
}

/* Move p's buffered body to consumer `to` as message id. */
static void
hand_over(struct conn *p, struct queue *q, struct conn *to, uint64_t id)
{
	struct evbuffer *out = to->out;
	size_t len = (size_t)p->req.body_len;

	if (wants_reserve(to)) {
		struct msg *m = msg_new(id, len);
		m->deliveries = 1;
		conn_copy_body(p, m->body);
		/* A reservation comes back after a crash: log it first. */
		if (q->qno != 0) {
			uint64_t lsn = persist_handed(p->server->persist, q,
			    id, m->body, len);
			conn_hold_until(to, lsn);
			conn_hold_until(p, lsn);
		}
		add_header(out, id, len);
		evbuffer_add(out, m->body, len);
		reserve(to, q, m);
	} else {
		/* A GET hand-off leaves nothing to log; in a group both
		 * answers wait until this server is known to still lead. */
		if (q->qno != 0) {
			uint64_t lsn = persist_barrier(p->server->persist);
			conn_hold_until(to, lsn);
			conn_hold_until(p, lsn);
		}
		add_header(out, id, len);
		conn_move_body(p, out);
	}
	evbuffer_add(out, "\r\n", 2);
	q->stat.gets++;
	if (to->wait.queue != NULL)
		conn_wake(to);
}

bool
deliver_can_accept(struct server *s, struct queue *q, size_t len)
{
	return (queue_has_room(q, len) && !budget_full(s)) ||
	    can_hand_off(s, q, len, true);
}

/* The next message id: from the reserved range when there is a log. */
static uint64_t
next_id(struct server *s)
{
	if (s->persist == NULL)
		return ++s->last_id;
	return persist_take_id(s->persist, &s->last_id);
}

void
deliver_accept(struct conn *p, struct queue *q, struct conn *to)
{
	struct server *s = p->server;
	uint64_t id = next_id(s);
	size_t len = (size_t)p->req.body_len;
	char arg[PROTO_U64_DIGITS + 1];

	if (to == NULL && can_hand_off(s, q, len, true))
		to = first_waiter(&q->consumers);
	if (to != NULL) {
		hand_over(p, q, to, id);
	} else {
		char *body = queue_store(q, id, len);
		conn_copy_body(p, body);
		if (q->qno != 0)
			conn_hold_until(p,
			    persist_put(p->server->persist, q, id, body, len));
	}
	q->stat.puts++;
	budget_sync_queue(s, q);
	arg[proto_format_u64(arg, id)] = '\0';
	conn_reply(p, 200, "QUEUED", arg);
}

void
deliver_close(struct server *s, struct queue *q)
{
	deliver_release(q, DELIVER_PRODUCERS, 410, "CLOSED", q->name);
	deliver_kick(s, q);
}

void
deliver_kick(struct server *s, struct queue *q)
{
	for (;;) {
		struct conn *cons = first_waiter(&q->consumers);
		struct conn *prod = first_waiter(&q->producers);

		if (cons != NULL && queue_depth(q) > 0) {
			deliver_head(cons, q, wants_reserve(cons));
			conn_wake(cons);
			continue;
		}
		if (prod == NULL)
			break;
		if (q->qno != 0 && persist_full(s->persist)) {
			deliver_answer(prod, 503, "DISK_FULL", q->name);
			continue;
		}
		/* Waiting for the disk: deliver_durable() kicks again. */
		if (q->qno != 0 && persist_backlogged(s->persist)) {
			s->disk_waiters = true;
			break;
		}
		if (!deliver_can_accept(s, q, (size_t)prod->req.body_len)) {
			/* Its own room is there: it waits for memory. */
			if (budget_full(s) &&
			    queue_has_room(q, (size_t)prod->req.body_len))
				budget_wait_room(s, q);
			break;
		}
		deliver_accept(prod, q, NULL);
		conn_wake(prod);
	}
	/* Closed and now drained: consumers wait for nothing. */
	if (queue_drained(q))
		deliver_release(q, DELIVER_CONSUMERS, 410, "CLOSED", q->name);
	budget_sync_queue(s, q);
}

void
deliver_budget_freed(struct server *s)
{
	struct queue *q;

	/* A queue still short of memory is listed again, behind. */
	while (!budget_full(s) && (q = budget_next_waiting(s)) != NULL)
		deliver_kick(s, q);
}

bool
deliver_take_parked(struct conn *c, struct queue *q)
{
	struct conn *p = first_waiter(&q->producers);

	if (p == NULL)
		return false;
	deliver_accept(p, q, c);
	conn_wake(p);
	return true;
}

void
deliver_answer(struct conn *c, int code, const char *token, const char *arg)
{
	bool parked_put = c->state == CONN_WAIT_ROOM;

	assert(conn_waiting(c));
	/* First: a retry hint in the answer counts only those still waiting. */
	conn_wake(c);
	if (parked_put)
		conn_skip_body(c);
	conn_reply(c, code, token, arg);
}

static void
release_line(struct waiter_list *l, int code, const char *token,
    const char *arg)
{
	struct waiter *w;

	while ((w = TAILQ_FIRST(l)) != NULL)
		deliver_answer(w->owner, code, token, arg);
}

void
deliver_release(struct queue *q, enum deliver_who who, int code,
    const char *token, const char *arg)
{
	if (who & DELIVER_PRODUCERS)
		release_line(&q->producers, code, token, arg);
	if (who & DELIVER_CONSUMERS)
		release_line(&q->consumers, code, token, arg);
}

void
deliver_rejudge(struct server *s, struct queue *q)
{
	struct waiter *w, *next;

	/* More room may let waiters through; the rest are judged. */
	deliver_kick(s, q);
	for (w = TAILQ_FIRST(&q->producers); w != NULL; w = next) {
		struct conn *c = w->owner;

		next = TAILQ_NEXT(w, link);
		/* Judged as a new PUT would be. */
		if (cmd_refuse_too_large(c, q)) {
			conn_wake(c);
		} else if (q->set.policy != PROTO_POLICY_BLOCK) {
			/*
			 * Out of line first, as in deliver_timeout(): a
			 * retry hint counts those still waiting, not c.
			 */
			conn_wake(c);
			cmd_put_full(c, q);
		}
	}
}

void
deliver_timeout(struct conn *c)
{
	struct queue *q = c->wait.queue;

	if (c->state == CONN_WAIT_ROOM) {
		/* conn_wake() first: the hint counts those behind it only. */
		conn_wake(c);
		conn_skip_body(c);
		conn_reply_full(c, q);
	} else {
		deliver_answer(c, 204, "EMPTY", NULL);
	}
	/* Producers parked behind it may fit where it did not. */
	deliver_kick(c->server, q);
}

/* Admit the producers of a disk queue that waited for the log. */
static void
kick_disk_queue(struct queue *q, void *arg)
{
	if (q->qno != 0 && q->nproducers > 0)
		deliver_kick(arg, q);
}

void
deliver_log_pass(struct server *s)
{
	struct timeval retry = { 0, DELIVER_FLUSH_RETRY_MS * 1000 };

	/* What could not be written is tried again without a new record. */
	if (!persist_flush(s->persist))
		event_add(s->flush_ev, &retry);
	deliver_durable(s);
}

void
deliver_durable(struct server *s)
{
	conn_release_held(s);
	if (s->disk_waiters &&
	    (!persist_backlogged(s->persist) || persist_full(s->persist))) {
		s->disk_waiters = false;
		qtable_foreach(&s->queues, kick_disk_queue, s);
	}
}

void
deliver_return_all(struct conn *c)
{
	struct queue **kick;
	size_t nkick = 0;
	struct msg *m;

	if (c->nreserved == 0)
		return;
	kick = xcalloc(c->nreserved, sizeof *kick);
	/* Newest first, each to the head: they end in their old order. */
	while ((m = TAILQ_LAST(&c->reserved, msg_list)) != NULL) {
		size_t i;

		conn_release(c, m);
		for (i = 0; i < nkick && kick[i] != m->queue; i++)
			;
		if (i == nkick)
			kick[nkick++] = m->queue;
		(void)deliver_come_back(c->server, m->queue, m, 0);
	}
	for (size_t i = 0; i < nkick; i++)
		deliver_kick(c->server, kick[i]);
	free(kick);
}

/*
 * Give m to consumer `to`, waiting on q, which can take it: sent (GET)
 * or reserved (RESERVE), as a new delivery.
 */
static void
give(struct conn *to, struct queue *q, struct msg *m)
{
	/* A reservation comes back after a crash: in q's log first. */
	if (q->qno != 0 && wants_reserve(to))
		conn_hold_until(to,
		    persist_handed(to->server->persist, q, m->id, m->body,
		        m->len));
	else if (q->qno != 0)
		conn_hold_until(to, persist_barrier(to->server->persist));
	add_message(to->out, m->id, m->body, m->len);
	q->stat.gets++;
	if (wants_reserve(to)) {
		m->deliveries = 1;
		reserve(to, q, m);
	} else {
		msg_free(m);
	}
	conn_wake(to);
}

/*
 * Move m to the end of q, or straight to its first waiting consumer
 * when one can take it; false (m untouched) when q has no room for it.
 * q's policy does not apply: this never waits.  Nor does the memory
 * budget: m is counted already, and moves from one queue's count to
 * q's (synced by the kick, or by the caller for m's old queue).
 */
static bool
move_into(struct server *s, struct queue *q, struct msg *m)
{
	if (q->closed)
		return false;
	if (queue_has_room(q, m->len)) {
		if (q->qno != 0)
			persist_put(s->persist, q, m->id, m->body, m->len);
		/* Consumers wait only on an empty queue: m is the head. */
		queue_store_msg(q, m);
		deliver_kick(s, q);
		return true;
	}
	if (can_hand_off(s, q, m->len, false)) {
		give(first_waiter(&q->consumers), q, m);
		return true;
	}
	return false;
}

/*
 * m, delivered max_deliveries times, came back to q: move it to q's
 * dead-letter queue (made if auto-create allows), or discard it.
 */
static enum deliver_back
dead_letter(struct server *s, struct queue *q, struct msg *m)
{
	struct queue *to = NULL;

	q->stat.dead_lettered++;
	/* Gone from q either way; a move logs its PUT into the other. */
	if (q->qno != 0)
		persist_remove(s->persist, q, m->id, WAL_RM_DEAD);
	if (q->set.dead_letter[0] != '\0')
		to = cmd_find_queue(s, q->set.dead_letter, s->cfg.auto_create);
	if (to != NULL && move_into(s, to, m)) {
		log_debug("queue %s: %" PRIu64 " moved to %s", q->name, m->id,
		    to->name);
		return DELIVER_BACK_MOVED;
	}
	log_debug("queue %s: %" PRIu64 " discarded after %" PRIu64
		  " deliveries",
	    q->name, m->id, m->deliveries);
	msg_free(m);
	return DELIVER_BACK_DISCARDED;
}

enum deliver_back
deliver_come_back(struct server *s, struct queue *q, struct msg *m,
    uint64_t delay_ms)
{
	enum deliver_back back;

	if (q->set.max_deliveries != 0 &&
	    m->deliveries >= q->set.max_deliveries) {
		queue_unreserve(q, m, clock_now_ms());
		back = dead_letter(s, q, m);
	} else if (delay_ms > 0) {
		/* Kept across a restart: a new PUT with its due time. */
		if (q->qno != 0)
			persist_delay(s->persist, q, m,
			    persist_wall_ms() + delay_ms);
		/* Still held, and counted: queue_bytes() has it. */
		queue_delay(q, m);
		delay_add(s->delay, m, delay_ms);
		back = DELIVER_BACK_DELAYED;
	} else {
		queue_give_back(q, m);
		back = DELIVER_BACK_READY;
	}
	/* Moved or discarded: q holds less; and a delayed one is counted. */
	budget_sync_queue(s, q);
	return back;
}

void
deliver_recovered(struct server *s, struct queue *q)
{
	struct msg *m, *next;

	if (q->set.max_deliveries == 0)
		return;
	for (m = TAILQ_FIRST(&q->returned); m != NULL; m = next) {
		next = TAILQ_NEXT(m, qlink);
		if (m->deliveries < q->set.max_deliveries)
			continue;
		queue_unreturn(q, m);
		dead_letter(s, q, m);
	}
	budget_sync_queue(s, q);
}

void
deliver_ready(struct msg *m, void *arg)
{
	struct queue *q = m->queue;

	queue_undelay(q, m);
	/* Each in turn, as if NACKed now: the oldest waiter gets it. */
	deliver_kick(arg, q);
}

static void lease_cb(evutil_socket_t fd, short what, void *arg);

/* Make sure q's lease timer fires by expiry_ms (0: never needed). */
static void
arm_at(struct server *s, struct queue *q, uint64_t expiry_ms)
{
	struct lease *l = q->lease_timer;
	uint64_t now, wait;

	if (expiry_ms == 0)
		return;
	if (l == NULL) {
		l = xcalloc(1, sizeof *l);
		l->server = s;
		l->queue = q;
		l->ev = evtimer_new(s->base, lease_cb, l);
		q->lease_timer = l;
	}
	if (evtimer_pending(l->ev, NULL) && l->due_ms <= expiry_ms)
		return;
	l->due_ms = expiry_ms;
	now = clock_now_ms();
	wait = expiry_ms > now ? expiry_ms - now : 0;
	struct timeval tv = { (time_t)(wait / 1000),
		(suseconds_t)(wait % 1000) * 1000 };
	evtimer_add(l->ev, &tv);
}

/*
 * Lease timer: give back every reservation of the queue whose lease
 * ended, in reservation order, and arm for the next one.  Deadlines are
 * scanned, not assumed in order: a reload may change lease_ms, and a
 * deadline of 0 never ends.
 */
static void
lease_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lease *l = arg;
	struct queue *q = l->queue;
	uint64_t now = clock_now_ms(), next = 0;
	struct msg *m, *prev;

	/* Newest first, each to the head: they end in their old order. */
	for (m = TAILQ_LAST(&q->reserved, msg_list); m != NULL; m = prev) {
		prev = TAILQ_PREV(m, msg_list, qlink);
		if (m->lease_expiry_ms == 0)
			continue;
		if (m->lease_expiry_ms > now) {
			if (next == 0 || m->lease_expiry_ms < next)
				next = m->lease_expiry_ms;
			continue;
		}
		conn_release(m->owner, m);
		log_debug("queue %s: lease of %" PRIu64 " ended", q->name,
		    m->id);
		(void)deliver_come_back(l->server, q, m, 0);
	}
	deliver_kick(l->server, q);
	arm_at(l->server, q, next);
}

void
deliver_forget_queue(struct server *s, struct queue *q)
{
	struct lease *l = q->lease_timer;
	struct msg *m;

	TAILQ_FOREACH(m, &q->delayed, qlink)
		delay_remove(s->delay, m);
	if (l == NULL)
		return;
	event_free(l->ev);
	free(l);
	q->lease_timer = NULL;
}
