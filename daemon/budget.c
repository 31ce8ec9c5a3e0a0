/*
 * budget.c - the memory budget.  See budget.h.
 *
 * A connection's buffers are counted once per pass of its input loop
 * and after each write (budget_sync_conn), not at each evbuffer
 * operation: libevent's buffer callbacks cost some 350 instructions a
 * message.  Between syncs a connection may hold one pass's worth more
 * than counted: one read, and the answers of one pass.  Crossing back below the
 * budget, with someone waiting, schedules `freed` on the event loop (never
 * inside the evbuffer callback or the caller that freed the memory).
 */
#include <stdlib.h>

#include "budget.h"
#include "clock.h"
#include "conn.h"
#include "conn_io.h"
#include "server.h"

/* Paused connections resumed per loop iteration. */
#define BUDGET_RESUME_BATCH 64

static void freed_cb(evutil_socket_t fd, short what, void *arg);

void
budget_init(struct server *s, void (*kick)(struct server *),
    void (*resume)(struct conn *))
{
	struct budget *b = &s->budget;

	b->kick = kick;
	b->resume = resume;
	TAILQ_INIT(&b->paused);
	TAILQ_INIT(&b->waiting);
	b->freed = event_new(s->base, -1, 0, freed_cb, s);
}

void
budget_free(struct server *s)
{
	/* The queues may be freed already: forget them without a look. */
	TAILQ_INIT(&s->budget.waiting);
	if (s->budget.freed != NULL)
		event_free(s->budget.freed);
	s->budget.freed = NULL;
}

bool
budget_full(const struct server *s)
{
	return s->budget.used >= s->cfg.max_memory;
}

/* Someone waits for memory and there is some: wake them, later. */
static void
maybe_wake(struct server *s)
{
	struct budget *b = &s->budget;

	if (!budget_full(s) && b->freed != NULL &&
	    (!TAILQ_EMPTY(&b->paused) || !TAILQ_EMPTY(&b->waiting)))
		event_active(b->freed, EV_TIMEOUT, 1);
}

void
budget_add(struct server *s, int64_t delta)
{
	bool was_full = budget_full(s);

	s->budget.used += (uint64_t)delta;
	if (was_full && delta < 0)
		maybe_wake(s);
}

void
budget_sync_conn(struct conn *c)
{
	size_t now = evbuffer_get_length(c->in) + evbuffer_get_length(c->out);

	/* Shared answers are counted once, where they are built. */
	now = now > c->shared_out ? now - c->shared_out : 0;
	if (now != c->budget_counted) {
		budget_add(c->server,
		    (int64_t)now - (int64_t)c->budget_counted);
		c->budget_counted = now;
	}
}

void
budget_sync_queue(struct server *s, struct queue *q)
{
	/* Ready, reserved and delayed (NACKed with a delay) alike. */
	uint64_t now = queue_bytes(q) + BUDGET_MSG_OVERHEAD * queue_held(q);

	if (now != q->budget_counted) {
		budget_add(s, (int64_t)(now - q->budget_counted));
		q->budget_counted = now;
	}
}

bool
budget_freeable(const struct server *s, const struct queue *q)
{
	uint64_t ready = q->log.bytes + q->returned_bytes +
	    BUDGET_MSG_OVERHEAD * queue_depth(q);

	return ready >= s->budget.used ||
	    s->budget.used - ready < s->cfg.max_memory;
}

void
budget_forget_queue(struct server *s, struct queue *q)
{
	budget_add(s, -(int64_t)q->budget_counted);
	q->budget_counted = 0;
	if (q->budget_waiting) {
		TAILQ_REMOVE(&s->budget.waiting, q, budget_link);
		q->budget_waiting = false;
	}
}

void
budget_wait_room(struct server *s, struct queue *q)
{
	if (q->budget_waiting)
		return;
	TAILQ_INSERT_TAIL(&s->budget.waiting, q, budget_link);
	q->budget_waiting = true;
}

struct queue *
budget_next_waiting(struct server *s)
{
	struct queue *q = TAILQ_FIRST(&s->budget.waiting);

	if (q != NULL) {
		TAILQ_REMOVE(&s->budget.waiting, q, budget_link);
		q->budget_waiting = false;
	}
	return q;
}

static void
pause_conn(struct conn *c)
{
	if (c->budget_paused)
		return;
	TAILQ_INSERT_TAIL(&c->server->budget.paused, c, budget_link);
	c->budget_paused = true;
	/* Not its fault: its request clock stops (guard.h). */
	guard_request_done(&c->guard);
}

static void
unpause_conn(struct conn *c)
{
	if (!c->budget_paused)
		return;
	TAILQ_REMOVE(&c->server->budget.paused, c, budget_link);
	c->budget_paused = false;
}

/*
 * The PUT whose body c is reading will not hold memory: its queue
 * drops the oldest and has enough of them, or a consumer waits for it.
 */
static bool
body_frees(const struct conn *c)
{
	struct queue *q = qtable_get(&c->server->queues, c->req.queue, NULL, 0);

	if (q == NULL)
		return false;
	return q->nconsumers > 0 ||
	    (q->set.policy == PROTO_POLICY_DROP_OLDEST &&
	        budget_freeable(c->server, q));
}

size_t
budget_input_room(struct conn *c, size_t room)
{
	size_t have = evbuffer_get_length(c->in), cap;

	if (!budget_full(c->server) || c->state == CONN_DISCARD_BODY) {
		unpause_conn(c);
		return room;
	}
	/*
	 * A body grows the count as it comes: it waits for memory, unless
	 * its PUT will make the memory itself (see body_frees), or all
	 * that is missing is its line terminator.
	 */
	if (c->state == CONN_READ_BODY)
		cap = have >= c->req.body_len || body_frees(c) ? room : 0;
	else
		cap = have < PROTO_LINE_MAX ? PROTO_LINE_MAX - have : 0;
	if (cap >= room) {
		unpause_conn(c);
		return room;
	}
	if (cap == 0)
		pause_conn(c);
	else
		unpause_conn(c);
	return cap;
}

void
budget_forget_conn(struct conn *c)
{
	unpause_conn(c);
	budget_add(c->server, -(int64_t)c->budget_counted);
	c->budget_counted = 0;
}

void
budget_changed(struct server *s)
{
	maybe_wake(s);
}

/*
 * Memory came free: first the producers parked for it (they hold their
 * messages already), then the connections not read, a batch at a time;
 * the rest at the next iteration while memory lasts.
 */
static void
freed_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;
	struct budget *b = &s->budget;
	uint64_t now = clock_now_ms();
	struct conn *c;

	b->kick(s);
	for (int i = 0; i < BUDGET_RESUME_BATCH && !budget_full(s); i++) {
		if ((c = TAILQ_FIRST(&b->paused)) == NULL)
			break;
		unpause_conn(c);
		c->guard.active_ms = now;
		/* The pass re-arms its read event and runs what it holds. */
		b->resume(c);
	}
	maybe_wake(s);
}
