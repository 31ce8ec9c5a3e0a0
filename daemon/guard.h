/*
 * guard.h - a connection's deadlines besides its wait: a request must
 * arrive whole within request_timeout_ms of its first byte (slowloris),
 * a connection that does nothing for idle_timeout_s is closed, and an
 * unauthenticated one must AUTH within auth_timeout_ms of connecting
 * when a token is configured.
 *
 * They share the connection's one timer (conn.h: c->timer) with its
 * wait: a waiting connection is answered by its wait's timeout, never
 * by these (it sent a whole request, and waiting is what it asked for).
 * Nothing is armed per request: the input loop notes when the request
 * being received began and when the connection was last active
 * (guard_pass), and the timer is re-armed only when a deadline comes
 * earlier than the one it is pending for (c->timer_due_ms, whoever
 * armed it: a wait's timer left pending after the wait serves too); a
 * timer that fires early finds the later deadline and re-arms for it
 * (guard_check).
 *
 * A connection holding reservations is not idle: its client is working
 * on them (TCP keepalive and leases cover it vanishing), and closing it
 * would deliver them again.
 */
#ifndef SLUICE_GUARD_H
#define SLUICE_GUARD_H

#include <stdbool.h>
#include <stdint.h>

struct conn;

struct guard {
	uint64_t connected_ms; /* accepted */
	uint64_t active_ms;    /* the last pass of its input loop */
	uint64_t request_ms;   /* the request being received began; 0: none */
};

/* A new connection: start its clocks and arm the timer. */
void guard_start(struct conn *c);

/* The connection parks: its deadlines stop (the wait's own applies). */
void guard_park(struct conn *c);

/* A request was served whole: its clock stops. */
static inline void
guard_request_done(struct guard *g)
{
	g->request_ms = 0;
}

/* After a pass of the input loop: note activity, re-arm if need be. */
void guard_pass(struct conn *c);

/* The timer fired outside a wait: close the connection or re-arm. */
void guard_check(struct conn *c);

#endif
