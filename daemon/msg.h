/*
 * msg.h - a message outside the packed log: reserved by a consumer,
 * given back (NACK, closed connection, lease) and waiting at the head of
 * its queue, or delayed by a NACK with a delay.  Each of these has been
 * delivered at least once; they can afford a header and a malloc each.
 */
#ifndef SLUICE_MSG_H
#define SLUICE_MSG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

struct queue;
struct conn;

/*
 * A message is reserved or delayed, never both, so the fields of each
 * state share their room: a delayed message costs no more than a
 * reservation (a million of them are a million reservations' worth).
 */
struct msg {
	TAILQ_ENTRY(msg) qlink;	    /* its queue's list: returned, reserved,
				     * or delayed */
	union {
		TAILQ_ENTRY(msg) clink; /* reserved: its connection's list */
		struct {		/* delayed: its place in delay.c */
			uint64_t delay_seq; /* order among equal ready_us */
			size_t heap_idx;    /* index in the heap */
		};
	};
	struct queue *queue;
	struct conn *owner;	    /* reserving connection; NULL if ready */
	uint64_t id;
	union {
		uint64_t lease_expiry_ms; /* reserved: when it comes back;
					   * 0 never */
		uint64_t ready_us;	  /* delayed: when it is ready */
	};
	uint64_t deliveries;	    /* times delivered (RESERVE, or GET) */
	size_t len;
	char *body;		    /* data[] or a heap block of its own */
	char data[];
};

TAILQ_HEAD(msg_list, msg);

/* A message with room for a body of len bytes, to be filled in. */
struct msg *msg_new(uint64_t id, size_t len);

/* A message with a copy of body. */
struct msg *msg_new_copy(uint64_t id, const char *body, size_t len);

/* A message that takes ownership of the heap block body. */
struct msg *msg_new_adopt(uint64_t id, char *body, size_t len);

void msg_free(struct msg *m);

#endif
