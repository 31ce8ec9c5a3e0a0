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

#include "cmd.h"
#include "log.h"

static enum cmd_result cmd_ping(struct conn *, const struct proto_request *);
static enum cmd_result cmd_auth(struct conn *, const struct proto_request *);
static enum cmd_result cmd_quit(struct conn *, const struct proto_request *);

static const cmd_handler handlers[PROTO_CMD_COUNT] = {
	[PROTO_CMD_PING] = cmd_ping,
	[PROTO_CMD_PUT] = cmd_put,
	[PROTO_CMD_GET] = cmd_get,
	[PROTO_CMD_RESERVE] = cmd_get,
	[PROTO_CMD_ACK] = cmd_ack,
	[PROTO_CMD_NACK] = cmd_ack,
	[PROTO_CMD_CREATE] = cmd_create,
	[PROTO_CMD_DELETE] = cmd_delete,
	[PROTO_CMD_PURGE] = cmd_purge,
	[PROTO_CMD_STATS] = cmd_stats,
	[PROTO_CMD_AUTH] = cmd_auth,
	[PROTO_CMD_QUIT] = cmd_quit,
	[PROTO_CMD_CLOSE] = cmd_close,
	[PROTO_CMD_PEEK] = cmd_peek,
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

bool
cmd_check(struct conn *c, const struct proto_request *r, char *reply,
    size_t size)
{
	struct server *s = c->server;

	if (!c->authenticated && !(proto_cmds[r->cmd].flags & PROTO_F_NO_AUTH)) {
		snprintf(reply, size, "401 UNAUTHORIZED");
		return false;
	}
	if (r->cmd != PROTO_CMD_PUT)
		return true;
	const struct queue *q = cmd_find_queue(s, r->queue, false);
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
	return true;
}

struct queue *
cmd_find_queue(struct server *s, const char *name, bool create)
{
	return qtable_get(&s->queues, name,
	    create ? &s->cfg.queue_defaults : NULL, s->cfg.max_queues);
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
	c->nrequests++;
	if (log_get_level() >= LOG_DEBUG)
		conn_debug(c, "%s%s%s", proto_cmds[c->req.cmd].name,
		    c->req.queue ? " " : "", c->req.queue ? c->req.queue : "");
	return handlers[c->req.cmd](c, &c->req);
}

static enum cmd_result
cmd_ping(struct conn *c, const struct proto_request *r)
{
	conn_reply(c, 200, "PONG", NULL);
	return CMD_DONE;
}

/* Compare in time independent of where the inputs differ. */
static bool
token_equal(const char *a, size_t alen, const char *b, size_t blen)
{
	unsigned char diff = alen != blen;

	for (size_t i = 0; i < alen && i < blen; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return diff == 0;
}

static enum cmd_result
cmd_auth(struct conn *c, const struct proto_request *r)
{
	struct server *s = c->server;

	if (s->auth_token == NULL || token_equal(r->token, r->token_len,
					  s->auth_token, s->auth_token_len)) {
		c->authenticated = true;
		conn_reply(c, 200, "OK", NULL);
	} else {
		conn_reply(c, 401, "UNAUTHORIZED", NULL);
	}
	return CMD_DONE;
}

static enum cmd_result
cmd_quit(struct conn *c, const struct proto_request *r)
{
	conn_reply(c, 200, "BYE", NULL);
	return CMD_CLOSE;
}
