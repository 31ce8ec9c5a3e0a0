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
 *                          nothing more can move; on a closed queue
 *                          left drained, 410 CLOSED to the consumers
 *   deliver_close()        CLOSE: 410 CLOSED to the parked producers
 *   deliver_accept()       a parked producer's message handed straight
 *                          to a waiting consumer wakes that consumer
 *   deliver_take_parked()  a consumer takes the message of the first
 *                          parked producer (rendezvous), releasing it
 *   deliver_timeout()      a wait's timeout: 503 FULL or 204 EMPTY
 *   deliver_answer()       answer one waiter with a given status line
 *   deliver_release()      ... every waiter of a queue, or every
 *                          producer, or every consumer (DELETE's 404,
 *                          CLOSE's 410, the drain's 503 SHUTTING_DOWN)
 *   deliver_rejudge()      after a queue's settings changed (reload)
 *   deliver_budget_freed() memory came free under the budget: kick the
 *                          queues whose producers wait for it
 *   deliver_come_back()    a message dead-lettered straight to a
 *                          consumer waiting on the dead-letter queue
 *   deliver_recovered()    the same, for a group's new leader
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

/*
 * Serve waiters of q until nothing more can move; once q is closed and
 * drained, answer its waiting consumers 410 CLOSED.
 */
void deliver_kick(struct server *s, struct queue *q);

/* q was just closed: its parked producers get 410 CLOSED, then a kick. */
void deliver_close(struct server *s, struct queue *q);

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

/*
 * The durable log moved (a sync done, a batch written): send the
 * answers it made durable.
 */
void deliver_durable(struct server *s);

/*
 * The end of a pass (conn.h): write the log's batch (persist_flush),
 * then deliver_durable().
 */
void deliver_log_pass(struct server *s);

/* Give every reservation of c back to its queue, in order. */
void deliver_return_all(struct conn *c);

/* What became of a message that came back (deliver_come_back). */
enum deliver_back {
	DELIVER_BACK_READY,	   /* at the head of its queue */
	DELIVER_BACK_DELAYED,	   /* ready after its delay */
	DELIVER_BACK_MOVED,	   /* dead-lettered: in the dead-letter queue */
	DELIVER_BACK_DISCARDED,	   /* dead-lettered: nowhere to go */
};

/*
 * Reserved m (released by its connection) comes back to q: by NACK,
 * ready after delay_ms (0: at once, at the head), or by its connection
 * closing or its lease ending (delay_ms 0).  Once delivered q's
 * max_deliveries times it is dead-lettered instead: moved to the end of
 * q's dead_letter queue, or discarded when there is none, it is closed
 * or full.  Returns which; the caller then kicks q.
 */
enum deliver_back deliver_come_back(struct server *s, struct queue *q,
    struct msg *m, uint64_t delay_ms);

/*
 * A replication group's new leader: q's messages that were reserved on
 * the old one are ready again; those delivered max_deliveries times
 * are dead-lettered, as if their connections had closed.
 */
void deliver_recovered(struct server *s, struct queue *q);

/* delay.h's callback (arg: the server): delayed m is ready. */
void deliver_ready(struct msg *m, void *arg);

/* Stop q's timers (lease, delayed messages) before q goes. */
void deliver_forget_queue(struct server *s, struct queue *q);

#endif
