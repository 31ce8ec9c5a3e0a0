/*
 * deliver.h - moving messages between producers, queues and consumers,
 * and the one door out of waiting.
 *
 * A connection waits on a queue (conn_park: a PUT for room, a GET or
 * RESERVE for a message) until one of these answers it and releases
 * it; nothing else in the daemon calls conn_wake():
 *
 *   deliver_kick()         after anything that adds a message or frees
 *                          room: serve waiting consumers and admit
 *                          waiting producers, in arrival order, until
 *                          nothing more can move
 *   deliver_accept()       a parked producer's message handed straight
 *                          to a waiting consumer wakes that consumer
 *   deliver_take_parked()  a consumer takes the message of the first
 *                          parked producer (rendezvous), releasing it
 *   deliver_timeout()      a wait's timeout: 503 FULL or 204 EMPTY
 *   deliver_answer()       answer one waiter with a given status line
 *   deliver_release()      ... every waiter of a queue, or every
 *                          producer, or every consumer (DELETE's 404,
 *                          the drain's 503 SHUTTING_DOWN)
 *   deliver_rejudge()      after a queue's settings changed (reload)
 *   deliver_budget_freed() memory came free under the budget: kick the
 *                          queues whose producers wait for it
 *
 * A connection that goes away leaves its line unanswered (conn_close).
 */
#ifndef SLUICE_DELIVER_H
#define SLUICE_DELIVER_H

#include <stdbool.h>

#include "conn.h"
#include "queue.h"

/*
 * True when a message of len bytes can be accepted into q now: there is
 * room, or a waiting consumer can take it.
 */
bool deliver_can_accept(struct server *s, struct queue *q, size_t len);

/* Serve waiters of q until nothing more can move. */
void deliver_kick(struct server *s, struct queue *q);

/*
 * Memory came free under the budget (budget.h): kick the queues whose
 * producers wait for it, in the order they began to, while it lasts.
 */
void deliver_budget_freed(struct server *s);

/* Send (GET) or reserve (RESERVE) q's head message to c. */
void deliver_head(struct conn *c, struct queue *q, bool reserve);

/*
 * Accept producer p's buffered message into q: give it to `to` if set,
 * else to the oldest waiting consumer, else store it.  Answers p
 * "200 QUEUED <id>".
 */
void deliver_accept(struct conn *p, struct queue *q, struct conn *to);

/*
 * Consumer c takes the message of q's first parked producer straight
 * from that producer's input, which is answered and released.  False
 * (nothing done) when no producer is parked on q.
 */
bool deliver_take_parked(struct conn *c, struct queue *q);

/* Which waiters of a queue deliver_release() answers. */
enum deliver_who {
	DELIVER_PRODUCERS = 1 << 0, /* parked PUTs: their bodies are skipped */
	DELIVER_CONSUMERS = 1 << 1, /* waiting GETs and RESERVEs */
	DELIVER_ALL = DELIVER_PRODUCERS | DELIVER_CONSUMERS,
};

/*
 * End waiting connection c's wait with the status line
 * "<code> <token>[ <arg>]" (a parked PUT's body is skipped first) and
 * resume its input.
 */
void deliver_answer(struct conn *c, int code, const char *token,
    const char *arg);

/* deliver_answer() every waiter of q that `who` names, in arrival order. */
void deliver_release(struct queue *q, enum deliver_who who, int code,
    const char *token, const char *arg);

/*
 * q's settings changed: serve what the new bounds let through, then
 * judge the producers still parked again (413 for a message the new
 * max_bytes can never hold, the new policy when it no longer blocks).
 */
void deliver_rejudge(struct server *s, struct queue *q);

/*
 * Waiting connection c's timeout ran out: a producer is refused
 * 503 FULL, a consumer gets 204 EMPTY; those behind it may now move.
 */
void deliver_timeout(struct conn *c);

/* Give every reservation of c back to its queue, in order. */
void deliver_return_all(struct conn *c);

/* Free what deliver.c keeps for q (its lease timer) before q goes. */
void deliver_forget_queue(struct queue *q);

#endif
