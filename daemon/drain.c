/*
 * drain.c - stopping gracefully.  See drain.h.
 *
 * Whether the drain is over is checked on a short timer rather than
 * hooked into every place that takes a message out of a queue: it costs
 * a walk over the queues a few times a second, only while stopping,
 * and keeps the serving code unaware of shutdown.
 */
#include <inttypes.h>
#include <stdlib.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "clock.h"
#include "conn.h"
#include "deliver.h"
#include "drain.h"
#include "log.h"
#include "notify.h"
#include "server.h"
#include "xmalloc.h"

/*
 * How often the drain checks whether it is done: short enough that the
 * exit follows the last ACK closely, long enough to cost nothing.
 */
#define DRAIN_TICK_MS 50

struct drain {
	struct server *server;
	struct event *tick;   /* DRAIN_TICK_MS, persistent */
	uint64_t deadline_ms; /* clock_now_ms() at which to give up */
};

/* Answer every producer parked on q 503 SHUTTING_DOWN. */
static void
refuse_producers(struct queue *q, void *arg)
{
	deliver_release(q, DELIVER_PRODUCERS, 503, "SHUTTING_DOWN", NULL);
}

/* Answer every consumer still waiting on q 503 SHUTTING_DOWN. */
static void
refuse_consumers(struct queue *q, void *arg)
{
	deliver_release(q, DELIVER_CONSUMERS, 503, "SHUTTING_DOWN", NULL);
}

/* True when some connection still has a reply on its way out. */
static bool
output_pending(struct server *s)
{
	struct conn *c;

	TAILQ_FOREACH(c, &s->conns, link)
		if (evbuffer_get_length(c->out) > 0)
			return true;
	return false;
}

/* End the drain if there is nothing left to wait for. */
static void
drain_check(evutil_socket_t fd, short what, void *arg)
{
	struct drain *d = arg;
	struct server *s = d->server;
	const char *why;

	if (s->nconns == 0)
		why = "no client left";
	else if (qtable_messages(&s->queues) == 0 && !output_pending(s))
		why = "every queue is empty";
	else if (clock_now_ms() >= d->deadline_ms)
		why = "the grace period is over";
	else
		return;
	log_notice("drain done: %s", why);
	drain_end(d);
}

void
drain_end(struct drain *d)
{
	struct server *s = d->server;
	struct conn *c;

	event_del(d->tick);
	/*
	 * No request is left waiting unanswered: the GETs and RESERVEs
	 * still waiting are told, through the same door as DELETE and
	 * CLOSE, and what the sockets take of it is written now, since
	 * nothing runs once the loop is over.
	 */
	qtable_foreach(&s->queues, refuse_consumers, NULL);
	TAILQ_FOREACH(c, &s->conns, link)
		conn_flush(c);
	event_base_loopexit(s->base, NULL);
}

struct drain *
drain_start(struct server *s)
{
	struct drain *d = xcalloc(1, sizeof *d);
	struct timeval tv = { 0, DRAIN_TICK_MS * 1000 };

	s->shutting_down = true;
	/* Closed, not paused: new clients are refused at once, not queued. */
	for (int i = 0; i < s->nlisteners; i++)
		evconnlistener_free(s->listeners[i]);
	s->nlisteners = 0;
	qtable_foreach(&s->queues, refuse_producers, NULL);
	d->server = s;
	d->deadline_ms = clock_now_ms() + s->cfg.shutdown_grace_ms;
	d->tick = event_new(s->base, -1, EV_PERSIST, drain_check, d);
	log_notice("draining %" PRIu64 " messages for %zu clients, for up "
		   "to %" PRIu64 " ms",
	    qtable_messages(&s->queues), s->nconns, s->cfg.shutdown_grace_ms);
	notify_stopping(s);
	event_add(d->tick, &tv);
	drain_check(-1, 0, d);
	return d;
}

void
drain_free(struct drain *d)
{
	if (d == NULL)
		return;
	event_free(d->tick);
	free(d);
}
