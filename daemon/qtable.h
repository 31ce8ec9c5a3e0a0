/*
 * qtable.h - the server's queues by name: a chained hash table that
 * doubles when it fills, so lookups stay O(1) however many queues
 * auto-create makes.  It is the registry: qtable_get() looks a queue
 * up (remembering the last one, usually asked for next) or makes it,
 * and qtable_messages() counts what the queues hold, for the service
 * glue (STATUS=, metrics, the drain) to read without the core.
 */
#ifndef SLUICE_QTABLE_H
#define SLUICE_QTABLE_H

#include <stddef.h>

#include "queue.h"

struct qtable {
	struct queue **buckets;
	size_t nbuckets; /* a power of two */
	size_t count;
	struct queue *last; /* the last one looked up: usually next */
};

void qtable_init(struct qtable *t);

/* Free the table and every queue in it. */
void qtable_clear(struct qtable *t);

struct queue *qtable_find(const struct qtable *t, const char *name);

/*
 * Find a queue by name.  With `create` non-NULL, make it with those
 * settings when it does not exist and fewer than `max` queues do.
 * NULL when it does not exist and was not made.
 */
struct queue *qtable_get(struct qtable *t, const char *name,
    const struct queue_settings *create, size_t max);

/* Add q, whose name must not be in the table yet. */
void qtable_insert(struct qtable *t, struct queue *q);

/* Take q out of the table (the caller frees it). */
void qtable_remove(struct qtable *t, struct queue *q);

/* Messages held over every queue: ready, reserved and delayed. */
uint64_t qtable_messages(const struct qtable *t);

/* Call fn for every queue, in no particular order; fn must not modify. */
void qtable_foreach(const struct qtable *t,
    void (*fn)(struct queue *q, void *arg), void *arg);

#endif
