/*
 * stats.c - STATS as JSON.  See stats.h; the fields are those of the
 * protocol's STATS table (1.1's closed, delayed, dead_lettered and the
 * queue's max_deliveries and dead_letter included), plus nacks,
 * redelivered and lease_ms.
 */
#include "clock.h"
#include "config.h"
#include "stats.h"

json_t *
stats_queue_json(const struct queue *q)
{
	const struct queue_counters *st = &q->stat;

	return json_pack("{s:s, s:I, s:I, s:s, s:I, s:I, s:s?, s:b, s:I, s:I,"
			 " s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I,"
			 " s:I, s:I}",
	    "name", q->name,
	    "capacity", (json_int_t)q->set.capacity,
	    "max_bytes", (json_int_t)q->set.max_bytes,
	    "policy", proto_policy_name(q->set.policy),
	    "lease_ms", (json_int_t)q->set.lease_ms,
	    "max_deliveries", (json_int_t)q->set.max_deliveries,
	    "dead_letter", q->set.dead_letter[0] ? q->set.dead_letter : NULL,
	    "closed", (int)q->closed,
	    "depth", (json_int_t)queue_depth(q),
	    "reserved", (json_int_t)q->nreserved,
	    "delayed", (json_int_t)q->ndelayed,
	    "bytes", (json_int_t)queue_bytes(q),
	    "puts", (json_int_t)st->puts,
	    "gets", (json_int_t)st->gets,
	    "acks", (json_int_t)st->acks,
	    "nacks", (json_int_t)st->nacks,
	    "redelivered", (json_int_t)st->redelivered,
	    "rejected", (json_int_t)st->rejected,
	    "dropped", (json_int_t)st->dropped,
	    "dead_lettered", (json_int_t)st->dead_lettered,
	    "blocked_producers", (json_int_t)q->nproducers,
	    "waiting_consumers", (json_int_t)q->nconsumers);
}

/* Totals and per-queue objects gathered by qtable_foreach(). */
struct gather {
	json_t *queues;
	uint64_t messages;
	uint64_t bytes;
};

static void
gather_queue(struct queue *q, void *arg)
{
	struct gather *g = arg;

	json_object_set_new(g->queues, q->name, stats_queue_json(q));
	g->messages += queue_held(q);
	g->bytes += queue_bytes(q);
}

json_t *
stats_server_json(struct server *s)
{
	struct gather g = { json_object(), 0, 0 };

	qtable_foreach(&s->queues, gather_queue, &g);
	return json_pack("{s:s, s:I, s:I, s:I, s:I, s:o}",
	    "version", PACKAGE_VERSION,
	    "uptime_s", (json_int_t)((clock_now_ms() - s->started_ms) / 1000),
	    "connections", (json_int_t)s->nconns,
	    "messages", (json_int_t)g.messages,
	    "bytes", (json_int_t)g.bytes,
	    "queues", g.queues);
}
