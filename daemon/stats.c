/*
 * stats.c - STATS as JSON.  See stats.h; the fields are those of the
 * protocol's STATS table, plus nacks, redelivered and lease_ms.
 */
#include "acl.h"
#include "clock.h"
#include "config.h"
#include "stats.h"

json_t *
stats_queue_json(const struct queue *q)
{
	const struct queue_counters *st = &q->stat;

	return json_pack("{s:s, s:I, s:I, s:s, s:I, s:I, s:I, s:I, s:I,"
			 " s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
	    "name", q->name,
	    "capacity", (json_int_t)q->set.capacity,
	    "max_bytes", (json_int_t)q->set.max_bytes,
	    "policy", proto_policy_name(q->set.policy),
	    "lease_ms", (json_int_t)q->set.lease_ms,
	    "depth", (json_int_t)queue_depth(q),
	    "reserved", (json_int_t)q->nreserved,
	    "bytes", (json_int_t)queue_bytes(q),
	    "puts", (json_int_t)st->puts,
	    "gets", (json_int_t)st->gets,
	    "acks", (json_int_t)st->acks,
	    "nacks", (json_int_t)st->nacks,
	    "redelivered", (json_int_t)st->redelivered,
	    "rejected", (json_int_t)st->rejected,
	    "dropped", (json_int_t)st->dropped,
	    "blocked_producers", (json_int_t)q->nproducers,
	    "waiting_consumers", (json_int_t)q->nconsumers);
}

/* Totals and per-queue objects gathered by qtable_foreach(). */
struct gather {
	const struct acl_token *who; /* lists only what it may see */
	json_t *queues;
	uint64_t messages;
	uint64_t bytes;
};

static void
gather_queue(struct queue *q, void *arg)
{
	struct gather *g = arg;

	if (!acl_allows(g->who, CONFIG_CAN_ALL, q->name))
		return;
	json_object_set_new(g->queues, q->name, stats_queue_json(q));
	g->messages += queue_depth(q) + q->nreserved;
	g->bytes += queue_bytes(q);
}

json_t *
stats_server_json(struct server *s, const struct acl_token *who)
{
	struct gather g = { who, json_object(), 0, 0 };

	qtable_foreach(&s->queues, gather_queue, &g);
	return json_pack("{s:s, s:I, s:I, s:I, s:I, s:o}",
	    "version", PACKAGE_VERSION,
	    "uptime_s", (json_int_t)((clock_now_ms() - s->started_ms) / 1000),
	    "connections", (json_int_t)s->nconns,
	    "messages", (json_int_t)g.messages,
	    "bytes", (json_int_t)g.bytes,
	    "queues", g.queues);
}
