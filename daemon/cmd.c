/*
 * cmd.c - the command table, the checks every command shares, and the
 * commands too small for a file of their own (PING, AUTH, QUIT).
 * See cmd.h.
 *
 * The grammar (names, argument counts and kinds) is protocol/'s
 * proto_cmds table, already applied by the parser; this table adds
 * what the daemon does for each command.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "acl.h"
#include "cluster.h"
#include "cmd.h"
#include "log.h"
#include "persist.h"
#include "secret.h"

static enum cmd_result cmd_ping(struct conn *, const struct proto_request *);
static enum cmd_result cmd_auth(struct conn *, const struct proto_request *);
static enum cmd_result cmd_quit(struct conn *, const struct proto_request *);

/*
 * Each command's handler, the rights (CONFIG_CAN_*, any of them) its
 * token needs on the queue the request names (0: none), and whether
 * only a replication group's leader serves it (LEAD: it reads or
 * changes queues; a member that does not lead answers 503 NOT_LEADER).  ACK and NACK
 * name a message, not a queue: cmd_ack() checks its queue.  STATS of a
 * queue needs any right on it; a global STATS lists only the queues the
 * token has some right on (stats.c).
 */
#define ANY CONFIG_CAN_ALL
#define LEAD true
static const struct {
	cmd_handler run;
	unsigned needs;
	bool lead;
} cmds[PROTO_CMD_COUNT] = {
	[PROTO_CMD_PING] = { cmd_ping, 0, false },
	[PROTO_CMD_PUT] = { cmd_put, CONFIG_CAN_PRODUCE, LEAD },
	[PROTO_CMD_GET] = { cmd_get, CONFIG_CAN_CONSUME, LEAD },
	[PROTO_CMD_RESERVE] = { cmd_get, CONFIG_CAN_CONSUME, LEAD },
	[PROTO_CMD_ACK] = { cmd_ack, CONFIG_CAN_CONSUME, LEAD },
	[PROTO_CMD_NACK] = { cmd_ack, CONFIG_CAN_CONSUME, LEAD },
	[PROTO_CMD_CREATE] = { cmd_create, CONFIG_CAN_ADMIN, LEAD },
	[PROTO_CMD_DELETE] = { cmd_delete, CONFIG_CAN_ADMIN, LEAD },
	[PROTO_CMD_PURGE] = { cmd_purge, CONFIG_CAN_ADMIN, LEAD },
	[PROTO_CMD_STATS] = { cmd_stats, ANY, false },
	[PROTO_CMD_AUTH] = { cmd_auth, 0, false },
	[PROTO_CMD_QUIT] = { cmd_quit, 0, false },
	[PROTO_CMD_CLOSE] = { cmd_close, CONFIG_CAN_ADMIN, LEAD },
	/* It shows what GET would take: the right to take it. */
	[PROTO_CMD_PEEK] = { cmd_peek, CONFIG_CAN_CONSUME, LEAD },
	/* Its subcommands check rights and leadership themselves. */
	[PROTO_CMD_CLUSTER] = { cmd_cluster, 0, false },
};

/*
 * The largest body a PUT into q (NULL: a queue not made yet) could ever
 * store: the message limit or the queue's max_bytes, the smaller.
 */
static uint64_t
cmd_message_limit(struct server *s, const struct queue *q)
{
	uint64_t limit = s->cfg.max_message;
	uint64_t qmax = q ? q->set.max_bytes
			  : s->cfg.queue_defaults.max_bytes;

	return qmax < limit ? qmax : limit;
}

bool
cmd_refuse_too_large(struct conn *c, const struct queue *q)
{
	uint64_t limit = cmd_message_limit(c->server, q);
	char arg[PROTO_U64_DIGITS + 1];

	if (c->req.body_len <= limit)
		return false;
	arg[proto_format_u64(arg, limit)] = '\0';
	conn_skip_body(c);
	conn_reply(c, 413, "TOO_LARGE", arg);
	return true;
}

/*
 * With the memory budget spent, a PUT into a queue that rejects or
 * drops the newest, or a PUT that would not wait (timeout 0), is
 * answered from its line (budget.h): its body, which would not be read
 * on, is skipped.  Not when a consumer waits
 * on the queue: the message would go to it, and that needs no memory.
 */
static bool
refuse_for_memory(struct server *s, struct queue *q,
    const struct proto_request *r, char *reply, size_t size)
{
	/* A queue not made yet would be made with the defaults (and is
	 * not made for a refusal). */
	enum proto_policy policy =
	    q ? q->set.policy : s->cfg.queue_defaults.policy;

	if ((q != NULL && q->nconsumers > 0) || !budget_full(s))
		return false;
	switch (policy) {
	case PROTO_POLICY_BLOCK:
		/* Timeout 0: it would not wait for room, nor for memory. */
		if (!r->has_timeout || r->timeout_ms > 0)
			return false;
		/* FALLTHROUGH */
	case PROTO_POLICY_REJECT:
		snprintf(reply, size, "503 FULL %s retry_after_ms=%" PRIu64,
		    r->queue,
		    q ? queue_retry_after_ms(q) : QUEUE_RETRY_AFTER_UNKNOWN_MS);
		if (q != NULL)
			q->stat.rejected++;
		return true;
	case PROTO_POLICY_DROP_NEWEST:
		snprintf(reply, size, "202 DROPPED %s", r->queue);
		if (q != NULL)
			q->stat.dropped++;
		return true;
	default:
		return false;
	}
}

bool
cmd_check(struct conn *c, const struct proto_request *r, char *reply,
    size_t size)
{
	struct server *s = c->server;

	if (!c->authenticated && !(proto_cmds[r->cmd].flags & PROTO_F_NO_AUTH)) {
		snprintf(reply, size, "401 UNAUTHORIZED");
		return false;
	}
	/* Refused before anything is looked up, so nothing is made. */
	if (r->queue != NULL && cmds[r->cmd].needs != 0 &&
	    !acl_allows(c->who, cmds[r->cmd].needs, r->queue)) {
		snprintf(reply, size, "403 FORBIDDEN %s", r->queue);
		return false;
	}
	if (cmds[r->cmd].lead && !cmd_leads(s, reply, size))
		return false;
	if (r->cmd != PROTO_CMD_PUT)
		return true;
	struct queue *q = cmd_find_queue(s, r->queue, false);
	/* A closed queue is for good: that wins over any 503 or 413. */
	if (q != NULL && q->closed) {
		snprintf(reply, size, "410 CLOSED %s", q->name);
		return false;
	}
	if (s->shutting_down) {
		snprintf(reply, size, "503 SHUTTING_DOWN");
		return false;
	}
	uint64_t limit = cmd_message_limit(s, q);
	if (r->body_len > limit) {
		snprintf(reply, size, "413 TOO_LARGE %" PRIu64, limit);
		return false;
	}
	return !refuse_for_memory(s, q, r, reply, size);
}

bool
cmd_leads(struct server *s, char *reply, size_t size)
{
	struct cluster *cl = persist_cluster(s->persist);
	const char *leader;

	if (cl == NULL || cluster_serving(cl))
		return true;
	/* A leader that is catching up has no better member to name. */
	leader = cluster_role(cl) == CLUSTER_LEADER ? NULL
	                                            : cluster_leader_client(cl);
	if (leader != NULL)
		snprintf(reply, size, "503 NOT_LEADER leader=%s", leader);
	else
		snprintf(reply, size, "503 NOT_LEADER");
	return false;
}

bool
cmd_refuse_for_memory(struct conn *c, char *reply, size_t size)
{
	struct server *s = c->server;

	return refuse_for_memory(s, cmd_find_queue(s, c->req.queue, false),
	    &c->req, reply, size);
}

struct queue *
cmd_find_queue(struct server *s, const char *name, bool create)
{
	struct queue *q = qtable_get(&s->queues, name, NULL, 0);

	if (q != NULL || !create)
		return q;
	q = qtable_get(&s->queues, name, &s->cfg.queue_defaults,
	    s->cfg.max_queues);
	/* Made on first use: a disk queue's settings go in the log too. */
	if (q != NULL && q->set.storage == QUEUE_STORAGE_DISK)
		persist_queue_new(s->persist, q);
	return q;
}

void
cmd_reply_no_queue(struct conn *c, const char *name)
{
	struct server *s = c->server;

	if (s->cfg.auto_create && s->queues.count >= s->cfg.max_queues)
		conn_reply(c, 503, "TOO_MANY_QUEUES", NULL);
	else
		conn_reply(c, 404, "NO_QUEUE", name);
}

enum cmd_result
cmd_dispatch(struct conn *c)
{
	unsigned needs = cmds[c->req.cmd].needs;

	c->nrequests++;
	if (log_get_level() >= LOG_DEBUG)
		conn_debug(c, "%s%s%s", proto_cmds[c->req.cmd].name,
		    c->req.queue ? " " : "", c->req.queue ? c->req.queue : "");
	/*
	 * What a connection may have changed, its STATS must show (answer.h).
	 * PEEK needs a right but only reads.
	 */
	if (needs != 0 && needs != ANY && c->req.cmd != PROTO_CMD_PEEK)
		c->changed_at = ++c->server->changes;
	return cmds[c->req.cmd].run(c, &c->req);
}

bool
cmd_allowed(struct conn *c, unsigned can, const char *queue)
{
	if (acl_allows(c->who, can, queue))
		return true;
	conn_reply(c, 403, "FORBIDDEN", queue);
	return false;
}

static enum cmd_result
cmd_ping(struct conn *c, const struct proto_request *r)
{
	conn_reply(c, 200, "PONG", NULL);
	return CMD_DONE;
}

/*
 * The connection takes the rights of the token it sends, from the acl
 * of now; it keeps them (and that acl) across reloads.
 */
static enum cmd_result
cmd_auth(struct conn *c, const struct proto_request *r)
{
	struct server *s = c->server;
	const struct acl_token *who;

	if (s->acl == NULL) {
		conn_reply(c, 200, "OK", NULL);
		return CMD_DONE;
	}
	who = acl_find(s->acl, r->token, r->token_len);
	if (who == NULL) {
		conn_reply(c, 401, "UNAUTHORIZED", NULL);
		return CMD_DONE;
	}
	acl_unref(c->acl);
	c->acl = acl_ref(s->acl);
	c->who = who;
	c->authenticated = true;
	conn_reply(c, 200, "OK", NULL);
	return CMD_DONE;
}

static enum cmd_result
cmd_quit(struct conn *c, const struct proto_request *r)
{
	conn_reply(c, 200, "BYE", NULL);
	return CMD_CLOSE;
}
