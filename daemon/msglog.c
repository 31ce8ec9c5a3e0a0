/*
 * msglog.c - packed chunks of message records.  See msglog.h.
 *
 * Invariants: records never straddle chunks; a chunk's records lie in
 * data[head, tail); an emptied chunk is rewound if it is the last one
 * and otherwise unlinked (kept as the spare, or freed); so only an
 * empty log holds an empty chunk, and the first chunk is where the
 * head record is.
 */
#include <stdlib.h>
#include <string.h>

#include "msglog.h"
#include "xmalloc.h"

/* id (8) + length word (4); the top bit of the length marks a heap body. */
#define REC_HDR 12
#define REC_HEAP_BIT 0x80000000u
/* Chunks start small so that thousands of idle queues cost little. */
#define CHUNK_MIN 1024
#define CHUNK_MAX (256 * 1024)
/*
 * What an emptied log keeps: one chunk up to this size.  Busy queues
 * regrow in a few doublings; thousands of idle ones cost little.
 */
#define CHUNK_KEEP (4 * 1024)

struct msglog_chunk {
	struct msglog_chunk *next;
	size_t size; /* bytes of data[] */
	size_t head; /* offset of the first record */
	size_t tail; /* offset just past the last record */
	char data[];
};

void
msglog_init(struct msglog *l)
{
	memset(l, 0, sizeof *l);
	l->next_size = CHUNK_MIN;
}

void
msglog_clear(struct msglog *l)
{
	while (l->count > 0)
		msglog_pop(l, false);
	for (struct msglog_chunk *c = l->first, *n; c != NULL; c = n) {
		n = c->next;
		free(c);
	}
	free(l->spare);
	msglog_init(l);
}

/* Keep an unlinked, emptied chunk as the spare if it is the bigger. */
static void
retire_chunk(struct msglog *l, struct msglog_chunk *c)
{
	if (l->spare == NULL || l->spare->size < c->size) {
		free(l->spare);
		l->spare = c;
	} else {
		free(c);
	}
}

/* Return where a record of rec bytes goes, adding a chunk if needed. */
static char *
reserve_tail(struct msglog *l, size_t rec)
{
	struct msglog_chunk *c = l->last;

	if (c == NULL || c->size - c->tail < rec) {
		size_t size = l->next_size > rec ? l->next_size : rec;

		/*
		 * An empty log keeps its one chunk, rewound; if the record
		 * does not fit there the chunk must go, or the head would
		 * still be read from it (a stale record).
		 */
		if (c != NULL && l->count == 0) {
			l->first = l->last = NULL;
			retire_chunk(l, c);
		}
		if (l->spare != NULL && l->spare->size >= rec) {
			c = l->spare;
			l->spare = NULL;
		} else {
			c = xmalloc(sizeof *c + size);
			c->size = size;
			if (l->next_size < CHUNK_MAX)
				l->next_size *= 2;
		}
		c->next = NULL;
		c->head = c->tail = 0;
		if (l->last != NULL)
			l->last->next = c;
		else
			l->first = c;
		l->last = c;
	}
	c->tail += rec;
	return c->data + c->tail - rec;
}

static void
write_header(char *p, uint64_t id, uint32_t word)
{
	memcpy(p, &id, 8);
	memcpy(p + 8, &word, 4);
}

char *
msglog_push(struct msglog *l, uint64_t id, size_t len)
{
	char *p = reserve_tail(l, REC_HDR + len);

	write_header(p, id, (uint32_t)len);
	l->count++;
	l->bytes += len;
	return p + REC_HDR;
}

void
msglog_push_heap(struct msglog *l, uint64_t id, char *body, size_t len)
{
	char *p = reserve_tail(l, REC_HDR + sizeof body);

	write_header(p, id, (uint32_t)len | REC_HEAP_BIT);
	memcpy(p + REC_HDR, &body, sizeof body);
	l->count++;
	l->bytes += len;
}

/* Describe the record at p. */
static void
read_record(const char *p, struct msglog_entry *e)
{
	uint32_t word;

	memcpy(&e->id, p, 8);
	memcpy(&word, p + 8, 4);
	e->heap = (word & REC_HEAP_BIT) != 0;
	e->len = word & ~REC_HEAP_BIT;
	if (e->heap)
		memcpy(&e->body, p + REC_HDR, sizeof e->body);
	else
		e->body = (char *)p + REC_HDR;
}

bool
msglog_front(const struct msglog *l, struct msglog_entry *e)
{
	if (l->count == 0)
		return false;
	read_record(l->first->data + l->first->head, e);
	return true;
}

bool
msglog_walk(const struct msglog *l, struct msglog_pos *pos,
    struct msglog_entry *e)
{
	if (pos->seen >= l->count)
		return false;
	if (pos->chunk == NULL) {
		pos->chunk = l->first;
		pos->off = l->first->head;
	}
	/* Records never straddle chunks: past a chunk's tail, the next
	 * record starts the next chunk. */
	if (pos->off >= pos->chunk->tail) {
		pos->chunk = pos->chunk->next;
		pos->off = pos->chunk->head;
	}
	read_record(pos->chunk->data + pos->off, e);
	pos->off += REC_HDR + (e->heap ? sizeof e->body : e->len);
	pos->seen++;
	return true;
}

void
msglog_pop(struct msglog *l, bool keep_heap)
{
	struct msglog_chunk *c = l->first;
	struct msglog_entry e;

	if (!msglog_front(l, &e))
		return;
	if (e.heap && !keep_heap)
		free(e.body);
	c->head += REC_HDR + (e.heap ? sizeof e.body : e.len);
	l->count--;
	l->bytes -= e.len;
	if (c->head < c->tail)
		return;
	if (c != l->last) {
		l->first = c->next;
		retire_chunk(l, c);
		return;
	}
	/* Empty: rewind, and give back all but a small chunk. */
	c->head = c->tail = 0;
	free(l->spare);
	l->spare = NULL;
	if (c->size > CHUNK_KEEP) {
		free(c);
		l->first = l->last = NULL;
		l->next_size = CHUNK_MIN;
	}
}
