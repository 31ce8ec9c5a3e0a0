/*
 * cmd_put.c - PUT: accept, hand off, wait, or refuse by policy.
 */
#include "cmd.h"
#include "deliver.h"

/* Skip the body and answer 503 FULL with a retry hint. */
static enum cmd_result
refuse_full(struct conn *c, struct queue *q)
{
	conn_skip_body(c);
	conn_reply_full(c, q);
	return CMD_DONE;
}

enum cmd_result
cmd_put(struct conn *c, const struct proto_request *r)
{
	struct server *s = c->server;
	struct queue *q = cmd_find_queue(s, r->queue, s->cfg.auto_create);
	size_t len = (size_t)r->body_len;

	if (q == NULL || q->closed || s->shutting_down) {
		conn_skip_body(c);
		if (q == NULL)
			cmd_reply_no_queue(c, r->queue);
		else if (q->closed)
			conn_reply(c, 410, "CLOSED", q->name);
		else
			conn_reply(c, 503, "SHUTTING_DOWN", NULL);
		return CMD_DONE;
	}
	/* The queue may have changed since the line was judged. */
	if (cmd_refuse_too_large(c, q))
		return CMD_DONE;
	/* Producers already waiting go first, even if this one would fit. */
	if (q->nproducers == 0 && deliver_can_accept(s, q, len)) {
		deliver_accept(c, q, NULL);
		return CMD_DONE;
	}
	return cmd_put_full(c, q);
}

enum cmd_result
cmd_put_full(struct conn *c, struct queue *q)
{
	struct server *s = c->server;
	const struct proto_request *r = &c->req;
	size_t len = (size_t)r->body_len;

	switch (q->set.policy) {
	case PROTO_POLICY_BLOCK:
		if (r->has_timeout && r->timeout_ms == 0)
			return refuse_full(c, q);
		if (budget_full(s))
			budget_wait_room(s, q);
		conn_park(c, q, CONN_WAIT_ROOM, r->has_timeout, r->timeout_ms);
		return CMD_WAIT;
	case PROTO_POLICY_REJECT:
		return refuse_full(c, q);
	case PROTO_POLICY_DROP_NEWEST:
		conn_skip_body(c);
		q->stat.dropped++;
		conn_reply(c, 202, "DROPPED", q->name);
		return CMD_DONE;
	case PROTO_POLICY_DROP_OLDEST:
		if (!queue_can_drop_for(q, len))
			return refuse_full(c, q);
		/* Memory too is made by dropping the oldest, if they suffice.
		 */
		if (budget_full(s) && !budget_freeable(s, q))
			return refuse_full(c, q);
		queue_drop_for(q, len);
		budget_sync_queue(s, q);
		while (budget_full(s) && queue_depth(q) > 0) {
			queue_drop_oldest(q);
			budget_sync_queue(s, q);
		}
		deliver_accept(c, q, NULL);
		return CMD_DONE;
	}
	return refuse_full(c, q);
}
