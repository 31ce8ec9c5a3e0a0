/*
 * msglog.h - a compact FIFO of messages: the ready messages of a queue.
 *
 * Records are packed back to back in chunks: 8 bytes of id, 4 of
 * length, then the body, so a million 64-byte messages take about 76
 * MB instead of a malloc and a fat header each.  Bodies longer than
 * MSGLOG_INLINE_MAX live in their own heap block (the record holds the
 * pointer), so a large message is copied once on the way in and handed
 * to the output buffer by reference on the way out.
 *
 *   msglog_push()/msglog_push_heap()  append at the tail
 *   msglog_front()                    look at the head
 *   msglog_pop()                      remove the head
 *   msglog_walk()                     look at each record in order
 */
#ifndef SLUICE_MSGLOG_H
#define SLUICE_MSGLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bodies up to this size are stored inline in the chunk. */
#define MSGLOG_INLINE_MAX 4096

struct msglog_chunk;

struct msglog {
	struct msglog_chunk *first; /* head records are read from here */
	struct msglog_chunk *last;  /* new records are written here */
	struct msglog_chunk *spare; /* one emptied chunk kept for reuse */
	size_t next_size;	    /* size of the next chunk to allocate */
	size_t count;		    /* records held */
	uint64_t bytes;		    /* body bytes held */
};

/* A view of the head record, valid until the next push or pop. */
struct msglog_entry {
	uint64_t id;
	size_t len;
	char *body;
	bool heap; /* body is its own heap block, see msglog_pop() */
};

void msglog_init(struct msglog *l);

/* Free every record (heap bodies too) and every chunk. */
void msglog_clear(struct msglog *l);

/* True when a body of len bytes is stored in its own heap block. */
static inline bool
msglog_wants_heap(size_t len)
{
	return len > MSGLOG_INLINE_MAX;
}

/*
 * Append a record with an inline body of len bytes (len must be at most
 * MSGLOG_INLINE_MAX) and return where the caller writes the body.
 */
char *msglog_push(struct msglog *l, uint64_t id, size_t len);

/*
 * Append a record whose body is the heap block `body` (now owned).  len
 * must be below 2^31: the top bit of the record's length word marks a
 * heap body (config.c caps max_message at 1 GiB).
 */
void msglog_push_heap(struct msglog *l, uint64_t id, char *body, size_t len);

/* Describe the head record; false when the log is empty. */
bool msglog_front(const struct msglog *l, struct msglog_entry *e);

/*
 * Look at the records from the head on without changing anything:
 * start with *pos zeroed; each call describes the next record and
 * returns true, false after the last.  Valid until the next push or
 * pop.
 */
struct msglog_pos {
	const struct msglog_chunk *chunk;
	size_t off;
	size_t seen;
};
bool msglog_walk(const struct msglog *l, struct msglog_pos *pos,
    struct msglog_entry *e);

/*
 * Remove the head record.  A heap body is freed unless keep_heap, in
 * which case the caller took ownership of it from msglog_front().
 */
void msglog_pop(struct msglog *l, bool keep_heap);

#endif
