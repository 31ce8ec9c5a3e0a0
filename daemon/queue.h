/*
 * queue.h - a named, bounded FIFO and its policy arithmetic.
 *
 * A queue holds ready messages (the packed log, behind the list of
 * messages given back, which are served first), reserved ones and
 * delayed ones (NACKed with a delay, not ready yet; delay.c times
 * them); all count toward capacity and max_bytes, except on a
 * capacity-0 queue, where nothing is stored and reservations are
 * outside the bound.  It also lists who waits on it: producers for
 * room, consumers for a message, each in arrival order.  A closed queue
 * (CLOSE) takes no more messages; it is drained once it holds none.
 *
 * This file decides and stores; it never touches a socket.  Waking
 * waiters is deliver.c's job, replying is the commands'.
 *
 * Invariants: consumers wait only while depth is 0; producers wait only
 * while the head producer's message does not fit (or capacity is 0).
 */
#ifndef SLUICE_QUEUE_H
#define SLUICE_QUEUE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "config.h"
#include "msg.h"
#include "msglog.h"
#include "proto.h"
#include "qage.h"

struct conn;
struct lease;

/* What retry_after_ms says before any drain has been seen. */
#define QUEUE_RETRY_AFTER_UNKNOWN_MS 1000

/* A connection's place in a queue's line of producers or consumers. */
struct waiter {
	TAILQ_ENTRY(waiter) link;
	struct queue *queue; /* the queue waited on; NULL when not waiting */
	struct conn *owner;  /* the waiting connection */
	uint64_t since_ms;   /* when the wait began */
};

TAILQ_HEAD(waiter_list, waiter);

/* The per-queue counters of STATS. */
struct queue_counters {
	uint64_t puts;	      /* accepted, hand-offs included */
	uint64_t gets;	      /* deliveries, redeliveries included */
	uint64_t acks;
	uint64_t nacks;
	uint64_t rejected;    /* 503 FULL for any reason */
	uint64_t dropped;     /* by drop-oldest or drop-newest */
	uint64_t redelivered; /* deliveries of a message given back */
	uint64_t dead_lettered; /* over max_deliveries: moved or discarded */
	uint64_t blocked_ms;  /* time producers spent waiting, summed */
};

struct queue {
	char name[PROTO_NAME_MAX + 1];
	struct queue_settings set;
	struct msglog log;	   /* ready messages, never delivered */
	struct msg_list returned;  /* ready messages given back: go first */
	size_t nreturned;
	uint64_t returned_bytes;
	struct msg_list reserved;  /* reserved, in order of reservation */
	size_t nreserved;
	uint64_t reserved_bytes;
	struct msg_list delayed;   /* NACKed with a delay, in no order */
	size_t ndelayed;
	uint64_t delayed_bytes;
	bool closed;		   /* CLOSE: no more PUTs, ever */
	struct waiter_list producers;
	size_t nproducers;
	struct waiter_list consumers;
	size_t nconsumers;
	struct queue_counters stat;
	struct qage age; /* when the log's messages came (qage.h) */
	/* Drain-rate estimate behind retry_after_ms. */
	uint64_t last_drain_ms;
	uint64_t drain_gap_ms; /* smoothed time between removals */
	uint32_t qno; /* its number in the durable log; 0: not logged */
	struct queue *hash_next; /* qtable chain */
	struct lease *lease_timer; /* owned by deliver.c */
	/* The memory budget's (budget.h): what it counts for this queue,
	 * and its place among queues whose producers wait for memory. */
	uint64_t budget_counted;
	bool budget_waiting;
	TAILQ_ENTRY(queue) budget_link;
};

/* The message at the head of a queue, as queue_front() sees it. */
struct queue_item {
	uint64_t id;
	size_t len;
	char *body;
	struct msg *msg; /* it came from the returned list */
	bool heap;	 /* body is a heap block of its own */
};

struct queue *queue_new(const char *name, const struct queue_settings *s);

/* Free the queue and its ready messages; reserved ones must be gone. */
void queue_free(struct queue *q);

/* Ready messages. */
static inline uint64_t
queue_depth(const struct queue *q)
{
	return q->log.count + q->nreturned;
}

/* Body bytes of ready, reserved and delayed messages (max_bytes bounds). */
static inline uint64_t
queue_bytes(const struct queue *q)
{
	return q->log.bytes + q->returned_bytes + q->reserved_bytes +
	    q->delayed_bytes;
}

/* Messages held: ready, reserved and delayed (what capacity bounds). */
static inline uint64_t
queue_held(const struct queue *q)
{
	return queue_depth(q) + q->nreserved + q->ndelayed;
}

/* True when a closed queue holds nothing more to deliver, ever. */
static inline bool
queue_drained(const struct queue *q)
{
	return q->closed && queue_held(q) == 0;
}

/* True when one more message of len bytes fits within the bounds. */
bool queue_has_room(const struct queue *q, size_t len);

/*
 * True when discarding ready messages, oldest first, can make room for
 * len bytes (the drop-oldest policy); then queue_drop_for() does it.
 */
bool queue_can_drop_for(const struct queue *q, size_t len);
uint64_t queue_drop_for(struct queue *q, size_t len);

/*
 * Store a message of len bytes at the tail and return where its body
 * is to be written (in the log, or a heap block the log now owns).
 */
char *queue_store(struct queue *q, uint64_t id, size_t len);

/*
 * How long the oldest message never delivered has waited in q, in ms
 * (0 when none); never under the truth, over it by about a second at
 * most for a queue holding under 16 s of messages (qage.h).  Messages
 * given back are not counted: they were delivered once.
 */
uint64_t queue_oldest_age_ms(const struct queue *q, uint64_t now_ms);

/* Describe the head ready message; false when there is none. */
bool queue_front(const struct queue *q, struct queue_item *it);

/*
 * Remove the head described by queue_front() as delivered.  The caller
 * now owns it->msg, or the heap block it->body when it->heap; any other
 * body lived in the log and may be freed by the pop: copy it first.
 */
void queue_pop(struct queue *q, const struct queue_item *it, uint64_t now_ms);

/* Take given-back message m off q's ready list, counting nothing. */
void queue_unreturn(struct queue *q, struct msg *m);

/* Discard the head ready message, its id in *id; false when none. */
bool queue_drop_head_id(struct queue *q, uint64_t *id);
/*
 * Call fn for each ready message in the order GET would take them (the
 * given-back ones first), without changing anything, until fn returns
 * false.  The items are valid only during the call.
 */
void queue_walk(const struct queue *q,
    bool (*fn)(void *arg, const struct queue_item *it), void *arg);

/* Discard the head ready message (drop-oldest), counting it dropped. */
void queue_drop_oldest(struct queue *q);

/* Discard every ready message; returns how many. */
uint64_t queue_purge(struct queue *q);

/* Account m (owned by the caller's connection) as reserved. */
void queue_reserve(struct queue *q, struct msg *m, uint64_t now_ms);

/* m was acknowledged: forget it (the caller frees it). */
void queue_ack(struct queue *q, struct msg *m, uint64_t now_ms);

/* m comes back: to the head of the ready messages, before the rest. */
void queue_give_back(struct queue *q, struct msg *m);

/* Reserved m leaves q for good (dead-lettered); the caller owns it. */
void queue_unreserve(struct queue *q, struct msg *m, uint64_t now_ms);

/* Reserved m comes back delayed: held, but neither ready nor reserved. */
void queue_delay(struct queue *q, struct msg *m);

/* Delayed m is ready: to the head of the ready messages. */
void queue_undelay(struct queue *q, struct msg *m);

/*
 * Recovery: m, read back from the log, goes to the tail of q's given-back
 * messages (ready, ahead of the never-delivered ones) or, when
 * `delayed`, to its delayed list (the caller times it).
 */
void queue_restore(struct queue *q, struct msg *m, bool delayed);

/* Store the message m at the tail of q, as a PUT would; m is freed. */
void queue_store_msg(struct queue *q, struct msg *m);

/* Milliseconds after which a producer refused 503 FULL may retry. */
uint64_t queue_retry_after_ms(const struct queue *q);

/* Line up a waiter at the back of the producers or the consumers. */
void queue_wait(struct queue *q, struct waiter *w, bool producer);

/* Take w out of the line it stands in, if any. */
void queue_unwait(struct waiter *w, bool producer);

#endif
