/*
 * guard.c - request, idle and auth deadlines of a connection.
 * See guard.h.
 */
#include <stdbool.h>

#include "clock.h"
#include "conn.h"
#include "guard.h"
#include "log.h"

/* True while part of a request has arrived but not all of it. */
static bool
in_request(const struct conn *c)
{
	return c->state == CONN_READ_BODY || c->state == CONN_DISCARD_BODY ||
	    (c->state == CONN_READ_LINE && evbuffer_get_length(c->in) > 0);
}

/* Which deadline comes first, and when (0: none). */
enum which { NONE, AUTH, REQUEST, IDLE };

static uint64_t
first_deadline(const struct conn *c, enum which *w)
{
	const struct config *cfg = &c->server->cfg;
	const struct guard *g = &c->guard;
	uint64_t due = 0, d;

	*w = NONE;
	if (!c->authenticated && cfg->auth_timeout_ms > 0) {
		due = g->connected_ms + cfg->auth_timeout_ms;
		*w = AUTH;
	}
	if (g->request_ms != 0 && cfg->request_timeout_ms > 0) {
		d = g->request_ms + cfg->request_timeout_ms;
		if (due == 0 || d < due) {
			due = d;
			*w = REQUEST;
		}
	}
	/* Held back by the memory budget is waiting, not idling. */
	if (cfg->idle_timeout_s > 0 && c->nreserved == 0 && !c->budget_paused) {
		d = g->active_ms + cfg->idle_timeout_s * 1000;
		if (due == 0 || d < due) {
			due = d;
			*w = IDLE;
		}
	}
	return due;
}

/*
 * Arm the timer for the first deadline unless it is already armed for
 * that or earlier (an early firing re-arms; see guard_check).
 */
static void
arm(struct conn *c, uint64_t now)
{
	enum which w;
	uint64_t due = first_deadline(c, &w), wait;

	if (due == 0)
		return;
	if (evtimer_pending(c->timer, NULL) && c->timer_due_ms <= due)
		return;
	wait = due > now ? due - now : 0;
	struct timeval tv = { (time_t)(wait / 1000),
		(suseconds_t)(wait % 1000) * 1000 };
	evtimer_add(c->timer, &tv);
	c->timer_due_ms = now + wait;
	/* Not armed for a wait: one that starts re-arms (conn_timercb). */
	c->timer_current = false;
}

void
guard_start(struct conn *c)
{
	uint64_t now = clock_now_ms();

	c->guard.connected_ms = now;
	c->guard.active_ms = now;
	arm(c, now);
}

void
guard_park(struct conn *c)
{
	/* A timer left pending finds it waiting and does nothing. */
	c->guard.request_ms = 0;
}

void
guard_pass(struct conn *c)
{
	struct guard *g = &c->guard;
	uint64_t now;

	if (c->state == CONN_CLOSING || conn_waiting(c))
		return;
	now = clock_now_ms();
	g->active_ms = now;
	/*
	 * A connection whose answers are not being read is not read
	 * either, nor one the memory budget holds back: its request
	 * cannot be the client's slowness.  The idle
	 * deadline covers a client that reads nothing at all.
	 */
	if (c->output_stalled || c->budget_paused || !in_request(c))
		g->request_ms = 0;
	else if (g->request_ms == 0)
		g->request_ms = now;
	arm(c, now);
}

void
guard_check(struct conn *c)
{
	static const char *const why[] = {
		[AUTH] = "no AUTH in time",
		[REQUEST] = "request not complete in time",
		[IDLE] = "idle",
	};
	uint64_t now = clock_now_ms(), due;
	enum which w;

	due = first_deadline(c, &w);
	if (due == 0)
		return;
	if (due <= now) {
		/*
		 * Freed at once (we are its timer's callback): output it
		 * left unread would only hold it ten more seconds.
		 */
		log_debug("fd %d: closing: %s", c->fd, why[w]);
		conn_free(c);
		return;
	}
	arm(c, now);
}
