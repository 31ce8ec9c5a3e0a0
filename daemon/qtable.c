/*
 * qtable.c - queues by name.  See qtable.h.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "qtable.h"
#include "xmalloc.h"

#define QTABLE_MIN_BUCKETS 16

/* FNV-1a: short names, no adversarial cost (names are bounded). */
static size_t
hash_name(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return (size_t)h;
}

void
qtable_init(struct qtable *t)
{
	t->nbuckets = QTABLE_MIN_BUCKETS;
	t->buckets = xcalloc(t->nbuckets, sizeof *t->buckets);
	t->count = 0;
	t->last = NULL;
}

void
qtable_clear(struct qtable *t)
{
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct queue *q = t->buckets[i], *next;
		for (; q != NULL; q = next) {
			next = q->hash_next;
			queue_free(q);
		}
	}
	free(t->buckets);
	t->buckets = NULL;
	t->nbuckets = t->count = 0;
	t->last = NULL;
}

struct queue *
qtable_find(const struct qtable *t, const char *name)
{
	struct queue *q = t->buckets[hash_name(name) & (t->nbuckets - 1)];

	while (q != NULL && strcmp(q->name, name) != 0)
		q = q->hash_next;
	return q;
}

struct queue *
qtable_get(struct qtable *t, const char *name,
    const struct queue_settings *create, size_t max)
{
	struct queue *q = t->last;

	if (q != NULL && strcmp(q->name, name) == 0)
		return q;
	q = qtable_find(t, name);
	if (q == NULL && create != NULL && t->count < max) {
		q = queue_new(name, create);
		qtable_insert(t, q);
		log_debug("queue %s: created", name);
	}
	if (q != NULL)
		t->last = q;
	return q;
}

static void
grow(struct qtable *t)
{
	size_t n = t->nbuckets * 2;
	struct queue **b = xcalloc(n, sizeof *b);

	for (size_t i = 0; i < t->nbuckets; i++) {
		struct queue *q = t->buckets[i], *next;
		for (; q != NULL; q = next) {
			size_t h = hash_name(q->name) & (n - 1);
			next = q->hash_next;
			q->hash_next = b[h];
			b[h] = q;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = n;
}

void
qtable_insert(struct qtable *t, struct queue *q)
{
	size_t h;

	if (t->count >= t->nbuckets)
		grow(t);
	h = hash_name(q->name) & (t->nbuckets - 1);
	q->hash_next = t->buckets[h];
	t->buckets[h] = q;
	t->count++;
}

void
qtable_remove(struct qtable *t, struct queue *q)
{
	struct queue **pp = &t->buckets[hash_name(q->name) & (t->nbuckets - 1)];

	for (; *pp != NULL; pp = &(*pp)->hash_next) {
		if (*pp == q) {
			*pp = q->hash_next;
			if (t->last == q)
				t->last = NULL;
			q->hash_next = NULL;
			t->count--;
			return;
		}
	}
}

void
qtable_foreach(const struct qtable *t, void (*fn)(struct queue *, void *),
    void *arg)
{
	for (size_t i = 0; i < t->nbuckets; i++)
		for (struct queue *q = t->buckets[i]; q != NULL;
		     q = q->hash_next)
			fn(q, arg);
}

static void
count_messages(struct queue *q, void *arg)
{
	*(uint64_t *)arg += queue_held(q);
}

uint64_t
qtable_messages(const struct qtable *t)
{
	uint64_t n = 0;

	qtable_foreach(t, count_messages, &n);
	return n;
}
