/*
 * cmd.h - the command table and the dispatcher.
 *
 * cmd_check() runs what can be judged from the request line alone (auth,
 * the message limit) before a body is read; cmd_dispatch() runs the
 * handler once the request is complete.  Handlers live beside their
 * concept: cmd_put.c, cmd_get.c (GET, RESERVE, ACK, NACK), cmd_queue.c
 * (CREATE, DELETE, PURGE, STATS, CLOSE), cmd_peek.c (PEEK).
 */
#ifndef SLUICE_CMD_H
#define SLUICE_CMD_H

#include "conn.h"

/* What the connection does after a handler. */
enum cmd_result {
	CMD_DONE,  /* answered: go on to the next request */
	CMD_WAIT,  /* parked: answer comes later, hold the input */
	CMD_CLOSE, /* answered: close once the answer is flushed */
};

typedef enum cmd_result (*cmd_handler)(struct conn *c,
    const struct proto_request *r);

/*
 * Judge a parsed request before its body: returns false and fills
 * reply (a whole status line) when it must be refused.
 */
bool cmd_check(struct conn *c, const struct proto_request *r, char *reply,
    size_t size);

/*
 * The memory budget is spent while the current PUT's body is being
 * read: true, with its answer in reply, when the PUT would not wait
 * (its queue rejects or drops the newest, or its timeout is 0).
 */
bool cmd_refuse_for_memory(struct conn *c, char *reply, size_t size);

/*
 * Find a queue by name; with `create`, make it with the default
 * settings when it does not exist and the queue limit allows.
 */
struct queue *cmd_find_queue(struct server *s, const char *name, bool create);

/*
 * Answer a request naming a queue that does not exist and was not made:
 * 404 NO_QUEUE, or 503 TOO_MANY_QUEUES when auto-create hit its limit.
 */
void cmd_reply_no_queue(struct conn *c, const char *name);

/*
 * If the current PUT's body could never fit q, skip it, answer
 * 413 TOO_LARGE and return true.
 */
bool cmd_refuse_too_large(struct conn *c, const struct queue *q);

/*
 * The current PUT found q full, or producers already waiting: do what
 * q's policy says (park under block).  Also used when a reload changes
 * the policy of a queue with producers parked on it.
 */
enum cmd_result cmd_put_full(struct conn *c, struct queue *q);

/*
 * True when c's token has any of the rights `can` on `queue`; else
 * answers 403 FORBIDDEN <queue> and returns false.  (Requests naming a
 * queue are checked by cmd_check(); this is for the others.)
 */
bool cmd_allowed(struct conn *c, unsigned can, const char *queue);

/* Run the handler for the complete request c->req. */
enum cmd_result cmd_dispatch(struct conn *c);

enum cmd_result cmd_put(struct conn *c, const struct proto_request *r);
enum cmd_result cmd_get(struct conn *c, const struct proto_request *r);
enum cmd_result cmd_ack(struct conn *c, const struct proto_request *r);
enum cmd_result cmd_create(struct conn *c, const struct proto_request *r);
enum cmd_result cmd_delete(struct conn *c, const struct proto_request *r);
enum cmd_result cmd_purge(struct conn *c, const struct proto_request *r);
enum cmd_result cmd_stats(struct conn *c, const struct proto_request *r);
enum cmd_result cmd_close(struct conn *c, const struct proto_request *r);
enum cmd_result cmd_peek(struct conn *c, const struct proto_request *r);
enum cmd_result cmd_cluster(struct conn *c, const struct proto_request *r);

/*
 * True when this server serves queue requests: alone, or the leader of
 * its replication group with everything before its lead applied.
 * Else false, with "503 NOT_LEADER [leader=<host>:<port>]" in reply.
 */
bool cmd_leads(struct server *s, char *reply, size_t size);

#endif
