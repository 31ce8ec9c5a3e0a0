/*
 * qtable.h - the server's queues by name: a chained hash table that
 * doubles when it fills, so lookups stay O(1) however many queues
 * auto-create makes.
 */
#ifndef SLUICE_QTABLE_H
#define SLUICE_QTABLE_H

#include <stddef.h>

#include "queue.h"

struct qtable {
	struct queue **buckets;
	size_t nbuckets; /* a power of two */
	size_t count;
};

void qtable_init(struct qtable *t);

/* Free the table and every queue in it. */
void qtable_clear(struct qtable *t);

struct queue *qtable_find(const struct qtable *t, const char *name);

/* Add q, whose name must not be in the table yet. */
void qtable_insert(struct qtable *t, struct queue *q);

/* Take q out of the table (the caller frees it). */
void qtable_remove(struct qtable *t, struct queue *q);

/* Call fn for every queue, in no particular order; fn must not modify. */
void qtable_foreach(const struct qtable *t,
    void (*fn)(struct queue *q, void *arg), void *arg);

#endif
