/*
 * queue.c - storage, bounds and policy arithmetic of one queue.
 * See queue.h.
 */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "queue.h"
#include "xmalloc.h"

/* Upper bound on retry_after_ms: a stalled queue should be polled. */
#define RETRY_AFTER_MAX_MS 60000

struct queue *
queue_new(const char *name, const struct queue_settings *s)
{
	struct queue *q = xcalloc(1, sizeof *q);

	strncpy(q->name, name, PROTO_NAME_MAX);
	q->set = *s;
	msglog_init(&q->log);
	TAILQ_INIT(&q->returned);
	TAILQ_INIT(&q->reserved);
	TAILQ_INIT(&q->delayed);
	TAILQ_INIT(&q->producers);
	TAILQ_INIT(&q->consumers);
	return q;
}

void
queue_free(struct queue *q)
{
	struct msg *m;

	queue_purge(q);
	msglog_clear(&q->log);
	while ((m = TAILQ_FIRST(&q->reserved)) != NULL) {
		TAILQ_REMOVE(&q->reserved, m, qlink);
		msg_free(m);
	}
	while ((m = TAILQ_FIRST(&q->delayed)) != NULL) {
		TAILQ_REMOVE(&q->delayed, m, qlink);
		msg_free(m);
	}
	free(q);
}

bool
queue_has_room(const struct queue *q, size_t len)
{
	if (q->set.capacity == 0)
		return false;
	return queue_held(q) + 1 <= q->set.capacity &&
	    queue_bytes(q) + len <= q->set.max_bytes;
}

bool
queue_can_drop_for(const struct queue *q, size_t len)
{
	if (q->set.capacity == 0)
		return false;
	/* Only ready messages can be dropped: the rest stays. */
	return q->nreserved + q->ndelayed + 1 <= q->set.capacity &&
	    q->reserved_bytes + q->delayed_bytes + len <= q->set.max_bytes;
}

/* Discard the head ready message. */
static void
drop_head(struct queue *q)
{
	struct msg *m = TAILQ_FIRST(&q->returned);

	if (m != NULL) {
		TAILQ_REMOVE(&q->returned, m, qlink);
		q->nreturned--;
		q->returned_bytes -= m->len;
		msg_free(m);
	} else {
		msglog_pop(&q->log, false);
	}
}

bool
queue_drop_head_id(struct queue *q, uint64_t *id)
{
	struct queue_item it;

	if (!queue_front(q, &it))
		return false;
	*id = it.id;
	drop_head(q);
	return true;
}

void
queue_drop_oldest(struct queue *q)
{
	drop_head(q);
	q->stat.dropped++;
}

uint64_t
queue_drop_for(struct queue *q, size_t len)
{
	uint64_t n = 0;

	while (queue_depth(q) > 0 && !queue_has_room(q, len)) {
		drop_head(q);
		n++;
	}
	q->stat.dropped += n;
	return n;
}

char *
queue_store(struct queue *q, uint64_t id, size_t len)
{
	struct msglog_entry head;
	char *body;

	if (msglog_wants_heap(len)) {
		body = xmalloc(len);
		msglog_push_heap(&q->log, id, body, len);
	} else {
		body = msglog_push(&q->log, id, len);
	}
	msglog_front(&q->log, &head);
	qage_note(&q->age, id, head.id, clock_now_ms());
	return body;
}

uint64_t
queue_oldest_age_ms(const struct queue *q, uint64_t now_ms)
{
	struct msglog_entry head;

	if (!msglog_front(&q->log, &head))
		return 0;
	return now_ms - qage_stored_ms(&q->age, head.id, now_ms);
}

bool
queue_front(const struct queue *q, struct queue_item *it)
{
	struct msg *m = TAILQ_FIRST(&q->returned);
	struct msglog_entry e;

	if (m != NULL) {
		it->id = m->id;
		it->len = m->len;
		it->body = m->body;
		it->msg = m;
		it->heap = false;
		return true;
	}
	if (!msglog_front(&q->log, &e))
		return false;
	it->id = e.id;
	it->len = e.len;
	it->body = e.body;
	it->msg = NULL;
	it->heap = e.heap;
	return true;
}

void
queue_walk(const struct queue *q,
    bool (*fn)(void *arg, const struct queue_item *it), void *arg)
{
	struct msglog_pos pos = { 0 };
	struct msglog_entry e;
	struct queue_item it = { 0 };
	struct msg *m;

	TAILQ_FOREACH(m, &q->returned, qlink)
	{
		it.id = m->id;
		it.len = m->len;
		it.body = m->body;
		it.msg = m;
		if (!fn(arg, &it))
			return;
	}
	it.msg = NULL;
	while (msglog_walk(&q->log, &pos, &e)) {
		it.id = e.id;
		it.len = e.len;
		it.body = e.body;
		it.heap = e.heap;
		if (!fn(arg, &it))
			return;
	}
}

/*
 * Note a removal for the drain estimate: a smoothed gap between
 * removals (1/8 weight to the newest, like TCP's RTT estimator).
 */
static void
note_drain(struct queue *q, uint64_t now_ms)
{
	if (q->last_drain_ms != 0) {
		uint64_t gap = now_ms - q->last_drain_ms;
		q->drain_gap_ms = q->drain_gap_ms == 0
		    ? gap + 1
		    : (q->drain_gap_ms * 7 + gap) / 8 + 1;
	}
	q->last_drain_ms = now_ms ? now_ms : 1;
}

void
queue_unreturn(struct queue *q, struct msg *m)
{
	TAILQ_REMOVE(&q->returned, m, qlink);
	q->nreturned--;
	q->returned_bytes -= m->len;
}

void
queue_pop(struct queue *q, const struct queue_item *it, uint64_t now_ms)
{
	if (it->msg != NULL) {
		TAILQ_REMOVE(&q->returned, it->msg, qlink);
		q->nreturned--;
		q->returned_bytes -= it->len;
		q->stat.redelivered++;
	} else {
		msglog_pop(&q->log, it->heap);
	}
	q->stat.gets++;
	note_drain(q, now_ms);
}

uint64_t
queue_purge(struct queue *q)
{
	uint64_t n = queue_depth(q);

	while (queue_depth(q) > 0)
		drop_head(q);
	return n;
}

void
queue_reserve(struct queue *q, struct msg *m, uint64_t now_ms)
{
	m->queue = q;
	m->lease_expiry_ms = q->set.lease_ms ? now_ms + q->set.lease_ms : 0;
	TAILQ_INSERT_TAIL(&q->reserved, m, qlink);
	q->nreserved++;
	q->reserved_bytes += m->len;
}

/* Take m out of the reserved list. */
static void
unreserve(struct queue *q, struct msg *m)
{
	TAILQ_REMOVE(&q->reserved, m, qlink);
	q->nreserved--;
	q->reserved_bytes -= m->len;
	m->owner = NULL;
}

void
queue_ack(struct queue *q, struct msg *m, uint64_t now_ms)
{
	unreserve(q, m);
	q->stat.acks++;
	note_drain(q, now_ms);
}

/* Put m, in no list of q, at the head of the ready messages. */
static void
to_head(struct queue *q, struct msg *m)
{
	m->lease_expiry_ms = 0;
	TAILQ_INSERT_HEAD(&q->returned, m, qlink);
	q->nreturned++;
	q->returned_bytes += m->len;
}

void
queue_restore(struct queue *q, struct msg *m, bool delayed)
{
	m->queue = q;
	m->owner = NULL;
	m->lease_expiry_ms = 0;
	if (delayed) {
		TAILQ_INSERT_TAIL(&q->delayed, m, qlink);
		q->ndelayed++;
		q->delayed_bytes += m->len;
	} else {
		TAILQ_INSERT_TAIL(&q->returned, m, qlink);
		q->nreturned++;
		q->returned_bytes += m->len;
	}
}

void
queue_give_back(struct queue *q, struct msg *m)
{
	unreserve(q, m);
	to_head(q, m);
}

void
queue_unreserve(struct queue *q, struct msg *m, uint64_t now_ms)
{
	unreserve(q, m);
	/* It made room, as an ACK does. */
	note_drain(q, now_ms);
}

void
queue_delay(struct queue *q, struct msg *m)
{
	unreserve(q, m);
	m->lease_expiry_ms = 0;
	TAILQ_INSERT_TAIL(&q->delayed, m, qlink);
	q->ndelayed++;
	q->delayed_bytes += m->len;
}

void
queue_undelay(struct queue *q, struct msg *m)
{
	TAILQ_REMOVE(&q->delayed, m, qlink);
	q->ndelayed--;
	q->delayed_bytes -= m->len;
	to_head(q, m);
}

void
queue_store_msg(struct queue *q, struct msg *m)
{
	if (msglog_wants_heap(m->len) && m->body != m->data) {
		/* Its heap block moves into the log as it is. */
		msglog_push_heap(&q->log, m->id, m->body, m->len);
		m->body = m->data;
	} else {
		char *dst = queue_store(q, m->id, m->len);
		if (m->len > 0)
			memcpy(dst, m->body, m->len);
	}
	msg_free(m);
}

uint64_t
queue_retry_after_ms(const struct queue *q)
{
	uint64_t ms;

	if (q->drain_gap_ms == 0)
		return QUEUE_RETRY_AFTER_UNKNOWN_MS;
	/* Room for us comes after room for everyone already waiting. */
	ms = q->drain_gap_ms * (q->nproducers + 1);
	return ms < RETRY_AFTER_MAX_MS ? ms : RETRY_AFTER_MAX_MS;
}

void
queue_wait(struct queue *q, struct waiter *w, bool producer)
{
	w->queue = q;
	if (producer) {
		TAILQ_INSERT_TAIL(&q->producers, w, link);
		q->nproducers++;
	} else {
		TAILQ_INSERT_TAIL(&q->consumers, w, link);
		q->nconsumers++;
	}
}

void
queue_unwait(struct waiter *w, bool producer)
{
	struct queue *q = w->queue;

	if (q == NULL)
		return;
	if (producer) {
		TAILQ_REMOVE(&q->producers, w, link);
		q->nproducers--;
	} else {
		TAILQ_REMOVE(&q->consumers, w, link);
		q->nconsumers--;
	}
	w->queue = NULL;
}
