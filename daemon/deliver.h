/*
 * deliver.h - moving messages between producers, queues and consumers.
 *
 * deliver_kick() is the one place that wakes waiters: after anything
 * that adds a message or frees room, it hands ready messages to waiting
 * consumers and admits waiting producers, in arrival order, until
 * nothing more can move.
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
bool deliver_can_accept(struct queue *q, size_t len);

/* Serve waiters of q until nothing more can move. */
void deliver_kick(struct server *s, struct queue *q);

/* Send (GET) or reserve (RESERVE) q's head message to c. */
void deliver_head(struct conn *c, struct queue *q, bool reserve);

/*
 * Accept producer p's buffered message into q: give it to `to` if set,
 * else to the oldest waiting consumer, else store it.  Answers p
 * "200 QUEUED <id>".
 */
void deliver_accept(struct conn *p, struct queue *q, struct conn *to);

/* Give every reservation of c back to its queue, in order. */
void deliver_return_all(struct conn *c);

/* Free what deliver.c keeps for q (its lease timer) before q goes. */
void deliver_forget_queue(struct queue *q);

#endif
