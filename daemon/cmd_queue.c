/*
 * cmd_queue.c - managing queues: CREATE, DELETE, PURGE, STATS, CLOSE.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "answer.h"
#include "cmd.h"
#include "deliver.h"
#include "log.h"
#include "persist.h"
#include "stats.h"

/*
 * A queue's bounds are what stops clients storing without end, so a
 * CREATE may not ask for more than the config allows.  Answers 400 and
 * returns true when it does.  The reason names the limit (without "=",
 * which the protocol keeps out of reasons).
 */
static bool
over_ceiling(struct conn *c, const struct queue_settings *set)
{
	const struct config *cfg = &c->server->cfg;
	char why[96];

	if (set->capacity > cfg->max_queue_capacity)
		snprintf(why, sizeof why,
		    "capacity is over the limit max_queue_capacity %" PRIu64,
		    cfg->max_queue_capacity);
	else if (set->max_bytes > cfg->max_queue_bytes)
		snprintf(why, sizeof why,
		    "max_bytes is over the limit max_queue_bytes %" PRIu64,
		    cfg->max_queue_bytes);
	else
		return false;
	conn_reply(c, 400, "BAD_REQUEST", why);
	return true;
}

enum cmd_result
cmd_create(struct conn *c, const struct proto_request *r)
{
	struct server *s = c->server;
	struct queue_settings set = s->cfg.queue_defaults;
	const struct proto_queue_opts *o = &r->opts;
	struct queue *q;

	/* Its dead letters go into that queue: as if the token put them. */
	if (o->has_dead_letter &&
	    !cmd_allowed(c, CONFIG_CAN_PRODUCE, o->dead_letter))
		return CMD_DONE;
	if (o->has_capacity)
		set.capacity = o->capacity;
	if (o->has_max_bytes)
		set.max_bytes = o->max_bytes;
	if (o->has_policy)
		set.policy = o->policy;
	if (o->has_lease_ms)
		set.lease_ms = o->lease_ms;
	if (o->has_max_deliveries)
		set.max_deliveries = o->max_deliveries;
	if (o->has_dead_letter)
		snprintf(set.dead_letter, sizeof set.dead_letter, "%s",
		    o->dead_letter);
	if (o->has_storage)
		set.storage = o->storage_memory ? QUEUE_STORAGE_MEMORY
						: QUEUE_STORAGE_DISK;
	if (set.storage == QUEUE_STORAGE_DISK && s->persist == NULL) {
		conn_reply(c, 400, "BAD_REQUEST",
		    "storage disk needs a data directory");
		return CMD_DONE;
	}
	if (set.capacity == 0 && (set.policy == PROTO_POLICY_DROP_OLDEST ||
				     set.policy == PROTO_POLICY_DROP_NEWEST)) {
		conn_reply(c, 400, "BAD_REQUEST",
		    proto_reasons[PROTO_R_DROP_NEEDS_CAPACITY]);
		return CMD_DONE;
	}
	if (strcmp(set.dead_letter, r->queue) == 0) {
		conn_reply(c, 400, "BAD_REQUEST",
		    proto_reasons[PROTO_R_SELF_DEAD_LETTER]);
		return CMD_DONE;
	}
	if (over_ceiling(c, &set))
		return CMD_DONE;
	q = cmd_find_queue(s, r->queue, false);
	if (q == NULL && s->queues.count >= s->cfg.max_queues) {
		conn_reply(c, 503, "TOO_MANY_QUEUES", NULL);
	} else if (q == NULL) {
		q = queue_new(r->queue, &set);
		qtable_insert(&s->queues, q);
		if (set.storage == QUEUE_STORAGE_DISK)
			conn_hold_until(c, persist_queue_new(s->persist, q));
		conn_reply(c, 201, "CREATED", NULL);
	} else if (config_settings_equal(&q->set, &set)) {
		conn_reply(c, 200, "EXISTS", NULL);
	} else {
		conn_reply(c, 409, "CONFLICT", r->queue);
	}
	return CMD_DONE;
}

/*
 * Remove a queue: its waiters get 404, its reserved messages vanish.
 * Returns the lsn its answer waits for (0: a memory queue).
 */
static uint64_t
delete_queue(struct server *s, struct queue *q)
{
	uint64_t lsn = 0;
	struct msg *m;

	deliver_release(q, DELIVER_ALL, 404, "NO_QUEUE", q->name);
	if (q->qno != 0)
		lsn = persist_queue_delete(s->persist, q);
	/* Reserved messages vanish: their ACKs will find nothing. */
	TAILQ_FOREACH(m, &q->reserved, qlink)
		conn_release(m->owner, m);
	deliver_forget_queue(s, q);
	budget_forget_queue(s, q);
	qtable_remove(&s->queues, q);
	log_debug("queue %s: deleted", q->name);
	queue_free(q);
	return lsn;
}

enum cmd_result
cmd_delete(struct conn *c, const struct proto_request *r)
{
	struct queue *q = cmd_find_queue(c->server, r->queue, false);
	uint64_t lsn;

	if (q == NULL) {
		conn_reply(c, 404, "NO_QUEUE", r->queue);
		return CMD_DONE;
	}
	lsn = delete_queue(c->server, q);
	if (lsn != 0)
		conn_hold_until(c, lsn);
	conn_reply(c, 200, "DELETED", NULL);
	return CMD_DONE;
}

enum cmd_result
cmd_purge(struct conn *c, const struct proto_request *r)
{
	struct queue *q = cmd_find_queue(c->server, r->queue, false);
	char arg[24];

	if (q == NULL) {
		conn_reply(c, 404, "NO_QUEUE", r->queue);
		return CMD_DONE;
	}
	if (q->qno != 0) {
		uint64_t n;
		conn_hold_until(c, persist_purge(c->server->persist, q, &n));
		snprintf(arg, sizeof arg, "%" PRIu64, n);
	} else {
		snprintf(arg, sizeof arg, "%" PRIu64, queue_purge(q));
	}
	conn_reply(c, 200, "PURGED", arg);
	deliver_kick(c->server, q);
	return CMD_DONE;
}

enum cmd_result
cmd_stats(struct conn *c, const struct proto_request *r)
{
	struct evbuffer *out = c->out;
	json_t *j;
	char *text;
	size_t len;

	if (r->queue == NULL) {
		answer_stats(c);
		return CMD_DONE;
	}
	struct queue *q = cmd_find_queue(c->server, r->queue, false);
	struct persist_view v;
	if (q != NULL)
		j = stats_queue_json(q);
	else if (persist_follower_queue(c->server->persist, r->queue, &v))
		j = stats_view_json(&v);
	else {
		conn_reply(c, 404, "NO_QUEUE", r->queue);
		return CMD_DONE;
	}
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (text == NULL) {
		conn_reply(c, 500, "INTERNAL", "cannot encode statistics");
		return CMD_DONE;
	}
	len = strlen(text);
	evbuffer_add_printf(out, "200 JSON %zu\r\n", len);
	evbuffer_add(out, text, len);
	evbuffer_add(out, "\r\n", 2);
	free(text);
	return CMD_DONE;
}

enum cmd_result
cmd_close(struct conn *c, const struct proto_request *r)
{
	struct queue *q = cmd_find_queue(c->server, r->queue, false);

	if (q == NULL) {
		conn_reply(c, 404, "NO_QUEUE", r->queue);
		return CMD_DONE;
	}
	if (!q->closed) {
		q->closed = true;
		if (q->qno != 0)
			conn_hold_until(c,
			    persist_queue_close(c->server->persist, q));
		deliver_close(c->server, q);
	}
	conn_reply(c, 200, "CLOSED", NULL);
	return CMD_DONE;
}
