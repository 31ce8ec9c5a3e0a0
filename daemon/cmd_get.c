/*
 * cmd_get.c - the consuming side: GET, RESERVE, ACK and NACK.
 */
#include <inttypes.h>
#include <stdio.h>

#include "clock.h"
#include "cmd.h"
#include "deliver.h"
#include "persist.h"

/* GET and RESERVE: serve now, take from a rendezvous PUT, or wait. */
enum cmd_result
cmd_get(struct conn *c, const struct proto_request *r)
{
	struct server *s = c->server;
	bool reserve = r->cmd == PROTO_CMD_RESERVE;
	struct queue *q = cmd_find_queue(s, r->queue, false);

	if (q == NULL && !s->cfg.auto_create) {
		conn_reply(c, 404, "NO_QUEUE", r->queue);
		return CMD_DONE;
	}
	/* Closed and drained: nothing will ever come, say so first. */
	if (q != NULL && queue_drained(q)) {
		conn_reply(c, 410, "CLOSED", q->name);
		return CMD_DONE;
	}
	/* Refused before auto-create: a refusal should leave no queue. */
	if (reserve && (c->nreserved >= s->cfg.max_reserved ||
			   c->reserved_bytes >= s->cfg.max_reserved_bytes)) {
		conn_reply(c, 503, "TOO_MANY_RESERVED", NULL);
		return CMD_DONE;
	}
	if (q == NULL && (q = cmd_find_queue(s, r->queue, true)) == NULL) {
		cmd_reply_no_queue(c, r->queue);
		return CMD_DONE;
	}
	if (queue_depth(q) > 0) {
		deliver_head(c, q, reserve);
		deliver_kick(s, q); /* room for waiting producers */
		return CMD_DONE;
	}
	/*
	 * A waiting producer's message goes straight to this consumer only
	 * on a rendezvous queue: elsewhere a producer waits because the
	 * queue is full, and GET takes ready messages, not waiting ones.
	 */
	if (q->set.capacity == 0 && deliver_take_parked(c, q))
		return CMD_DONE;
	if (!r->has_timeout || r->timeout_ms == 0) {
		conn_reply(c, 204, "EMPTY", NULL);
		return CMD_DONE;
	}
	/* Seen closed (end of file): its wait ends unanswered. */
	if (c->eof)
		return CMD_CLOSE;
	conn_park(c, q, CONN_WAIT_MESSAGE, true, r->timeout_ms);
	return CMD_WAIT;
}

/* The reservation of c with this id, or NULL. */
static struct msg *
find_reservation(struct conn *c, uint64_t id)
{
	struct msg *m;

	/* Consumers mostly acknowledge in order: the oldest comes first. */
	TAILQ_FOREACH(m, &c->reserved, clink)
		if (m->id == id)
			return m;
	return NULL;
}

/* ACK and NACK. */
enum cmd_result
cmd_ack(struct conn *c, const struct proto_request *r)
{
	struct msg *m = find_reservation(c, r->id);
	struct queue *q;
	char arg[24];

	if (m == NULL) {
		snprintf(arg, sizeof arg, "%" PRIu64, r->id);
		conn_reply(c, 404, "NO_MSG", arg);
		return CMD_DONE;
	}
	q = m->queue;
	/* A connection may AUTH again, with a token that may not. */
	if (!cmd_allowed(c, CONFIG_CAN_CONSUME, q->name))
		return CMD_DONE;
	conn_release(c, m);
	if (r->cmd == PROTO_CMD_ACK) {
		if (q->qno != 0)
			conn_hold_until(c,
			    persist_remove(c->server->persist, q, m->id,
			        WAL_RM_ACK));
		queue_ack(q, m, clock_now_ms());
		msg_free(m);
		conn_reply(c, 200, "ACKED", NULL);
	} else {
		/*
		 * Whatever becomes of it, 200; a hint tells a worker that
		 * it will not see this message again.
		 */
		q->stat.nacks++;
		enum deliver_back back = deliver_come_back(c->server, q, m,
		    r->has_delay ? r->delay_ms : 0);
		/* What it logged (a delay, a dead letter) goes first. */
		if (q->qno != 0)
			conn_hold_until(c,
			    persist_appended(c->server->persist));
		switch (back) {
		case DELIVER_BACK_MOVED:
			conn_reply(c, 200, "REQUEUED", "dead_lettered=moved");
			break;
		case DELIVER_BACK_DISCARDED:
			conn_reply(c, 200, "REQUEUED",
			    "dead_lettered=discarded");
			break;
		default:
			conn_reply(c, 200, "REQUEUED", NULL);
			break;
		}
	}
	deliver_kick(c->server, q);
	return CMD_DONE;
}
