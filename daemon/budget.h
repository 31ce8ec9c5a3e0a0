/*
 * budget.h - the daemon's one memory budget (max_memory): what clients
 * make it hold, counted as it changes, and what stops when it is spent.
 *
 * Counted: every connection's input and output buffers (read-ahead, the
 * body being read, unsent answers; synced after each pass of its input
 * loop and each write), the queues' bodies, ready, reserved and delayed
 * (NACKed with a delay), plus a fixed overhead per message (synced after
 * every change through deliver.c's door, budget_sync_queue; a message
 * moved to a dead-letter queue moves from one count to the other, and
 * is never refused for memory it already holds), and shared answers such as a
 * global STATS (once, however many connections are sending it).
 *
 * When the count reaches the budget, nothing a client sends may grow
 * it, while everything that frees memory goes on:
 *   - a PUT meets a full queue whatever the queue's own bounds say, and
 *     its policy decides (block parks it, reject answers 503 FULL, the
 *     drop policies drop); a hand-off to a waiting GET still goes (it
 *     moves the body, it adds nothing);
 *   - the body of a PUT being read is read no further (the producer's
 *     bytes stay in the kernel, as for a parked PUT);
 *   - a connection is read only while its answers are all sent, and a
 *     line at most at a time (PROTO_LINE_MAX bytes), so each holds at
 *     most one request and its answer: GET, RESERVE, ACK, NACK,
 *     DELETE and PURGE still come through and free memory.
 * Once the count falls below the budget, the queues whose producers
 * wait for memory are kicked (deliver.c) and the paused connections
 * resumed, a batch per loop iteration, oldest first.
 */
#ifndef SLUICE_BUDGET_H
#define SLUICE_BUDGET_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/event.h>

struct server;
struct conn;
struct queue;

/* Bytes counted per stored or reserved message besides its body. */
#define BUDGET_MSG_OVERHEAD 64

TAILQ_HEAD(budget_conns, conn);
TAILQ_HEAD(budget_queues, queue);

struct budget {
	uint64_t used;                 /* counted now */
	struct event *freed;           /* resumes what waits for memory */
	void (*kick)(struct server *); /* admits producers waiting for it */
	void (*resume)(struct conn *); /* runs a connection it paused */
	size_t shared_live;            /* shared answers alive (answer.h) */
	struct budget_conns paused;    /* not read because of the budget */
	struct budget_queues waiting;  /* producers parked for memory */
};

/*
 * Set up s->budget (s->base exists).  When memory comes free, kick(s)
 * admits the producers parked for it (deliver_budget_freed(), the one
 * door out of waiting) and resume(c) runs each connection it had
 * stopped reading (conn_schedule()); both are given from above so that
 * this stays a leaf.
 */
void budget_init(struct server *s, void (*kick)(struct server *),
    void (*resume)(struct conn *));

/* Free it (every connection is gone by then; queues may be too). */
void budget_free(struct server *s);

/* True when what is counted has reached max_memory. */
bool budget_full(const struct server *s);

/*
 * Bring the count of c's input and output up to date (after a pass of
 * its input loop and after a write).
 */
void budget_sync_conn(struct conn *c);

/* Count delta more bytes (negative: fewer) held outside the above. */
void budget_add(struct server *s, int64_t delta);

/* Bring q's count (bodies plus overhead) up to date. */
void budget_sync_queue(struct server *s, struct queue *q);

/*
 * True when discarding q's ready messages would bring the count below
 * the budget (drop-oldest: whether dropping can make the memory).
 */
bool budget_freeable(const struct server *s, const struct queue *q);

/* q is going away: its count goes, and it waits for nothing. */
void budget_forget_queue(struct server *s, struct queue *q);

/* A producer on q waits for memory (not for q's own room). */
void budget_wait_room(struct server *s, struct queue *q);

/* The first queue waiting for memory, taken off the list; NULL: none. */
struct queue *budget_next_waiting(struct server *s);

/*
 * How much more input c may read now, `room` being what its own bound
 * allows; when the budget says less, c is paused until memory frees.
 */
size_t budget_input_room(struct conn *c, size_t room);

/* c is going away: it waits for nothing, its buffers count no more. */
void budget_forget_conn(struct conn *c);

/* max_memory changed (reload): resume whatever now fits. */
void budget_changed(struct server *s);

#endif
