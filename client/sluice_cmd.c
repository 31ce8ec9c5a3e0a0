/*
 * sluice_cmd.c - libsluice's requests: one sluice_append_*() per command,
 * which checks its arguments and formats the request line, and the
 * blocking calls, each one append followed by one sluice_read_reply().
 *
 * Arguments are checked here, before anything is sent, because a queue
 * name or token with a space or newline in it would not be a bad
 * request but a different one.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice_priv.h"

/* Format a request line and queue it with its body (NULL: none). */
static enum sluice_result append_line(struct sluice_ctx *ctx,
    enum proto_cmd cmd, const void *body, size_t body_len, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static enum sluice_result
append_line(struct sluice_ctx *ctx, enum proto_cmd cmd, const void *body,
    size_t body_len, const char *fmt, ...)
{
	char line[PROTO_LINE_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	/* The terminator counts against the protocol's line limit. */
	if (n < 0 || (size_t)n + 2 > PROTO_LINE_MAX)
		return sluice_set_error(ctx, SLUICE_ERR_ARG,
		    "%s request longer than %d bytes", sluice_cmd_name(cmd),
		    PROTO_LINE_MAX);
	return sluice_queue_request(ctx, cmd, line, (size_t)n, body,
	    body_len);
}

/* Start an append: clear an old refusal, check the queue name. */
static enum sluice_result
begin_queue(struct sluice_ctx *ctx, const char *queue)
{
	if (sluice_begin(ctx) != SLUICE_OK)
		return ctx->err;
	if (queue == NULL || !proto_valid_queue_name(queue, strlen(queue)))
		return sluice_set_error(ctx, SLUICE_ERR_ARG,
		    "bad queue name \"%.40s\" (1 to %d of A-Z a-z 0-9 _ . : -)",
		    queue ? queue : "", PROTO_NAME_MAX);
	return SLUICE_OK;
}

enum sluice_result
sluice_append_put(struct sluice_ctx *ctx, const char *queue, const void *body,
    size_t len, int64_t timeout_ms)
{
	if (begin_queue(ctx, queue) != SLUICE_OK)
		return ctx->err;
	if (body == NULL && len > 0)
		return sluice_set_error(ctx, SLUICE_ERR_ARG,
		    "PUT of %zu bytes from NULL", len);
	if (body == NULL)
		body = "";
	if (timeout_ms < 0)
		return append_line(ctx, PROTO_CMD_PUT, body, len, "PUT %s %zu",
		    queue, len);
	return append_line(ctx, PROTO_CMD_PUT, body, len, "PUT %s %zu %" PRId64,
	    queue, len, timeout_ms);
}

/*
 * GET and RESERVE.  Without a timeout the protocol does not wait, so
 * "no bound" is sent as the longest wait it can carry.
 */
static enum sluice_result
append_take(struct sluice_ctx *ctx, enum proto_cmd cmd, const char *queue,
    int64_t timeout_ms)
{
	if (begin_queue(ctx, queue) != SLUICE_OK)
		return ctx->err;
	if (timeout_ms == 0)
		return append_line(ctx, cmd, NULL, 0, "%s %s",
		    proto_cmds[cmd].name, queue);
	return append_line(ctx, cmd, NULL, 0, "%s %s %" PRId64,
	    proto_cmds[cmd].name, queue,
	    timeout_ms < 0 ? (int64_t)PROTO_NUM_MAX : timeout_ms);
}

enum sluice_result
sluice_append_get(struct sluice_ctx *ctx, const char *queue, int64_t timeout_ms)
{
	return append_take(ctx, PROTO_CMD_GET, queue, timeout_ms);
}

enum sluice_result
sluice_append_reserve(struct sluice_ctx *ctx, const char *queue,
    int64_t timeout_ms)
{
	return append_take(ctx, PROTO_CMD_RESERVE, queue, timeout_ms);
}

/* ACK and NACK. */
static enum sluice_result
append_id(struct sluice_ctx *ctx, enum proto_cmd cmd, uint64_t id)
{
	if (sluice_begin(ctx) != SLUICE_OK)
		return ctx->err;
	if (id > (uint64_t)PROTO_NUM_MAX)
		return sluice_set_error(ctx, SLUICE_ERR_ARG,
		    "message id %" PRIu64 " out of range", id);
	return append_line(ctx, cmd, NULL, 0, "%s %" PRIu64,
	    proto_cmds[cmd].name, id);
}

enum sluice_result
sluice_append_ack(struct sluice_ctx *ctx, uint64_t id)
{
	return append_id(ctx, PROTO_CMD_ACK, id);
}

enum sluice_result
sluice_append_nack(struct sluice_ctx *ctx, uint64_t id)
{
	return append_id(ctx, PROTO_CMD_NACK, id);
}

enum sluice_result
sluice_append_nack_delay(struct sluice_ctx *ctx, uint64_t id,
    uint64_t delay_ms)
{
	if (delay_ms == 0)
		return append_id(ctx, PROTO_CMD_NACK, id);
	if (sluice_begin(ctx) != SLUICE_OK)
		return ctx->err;
	if (id > (uint64_t)PROTO_NUM_MAX || delay_ms > (uint64_t)PROTO_NUM_MAX)
		return sluice_set_error(ctx, SLUICE_ERR_ARG,
		    "NACK %" PRIu64 " %" PRIu64 ": out of range", id,
		    delay_ms);
	return append_line(ctx, PROTO_CMD_NACK, NULL, 0,
	    "NACK %" PRIu64 " %" PRIu64, id, delay_ms);
}

/* Append " name=value" to line[*n]; false when it does not fit. */
static bool
add_option(char *line, size_t size, size_t *n, const char *name,
    const char *value)
{
	int k = snprintf(line + *n, size - *n, " %s=%s", name, value);

	if (k < 0 || (size_t)k >= size - *n)
		return false;
	*n += (size_t)k;
	return true;
}

/* add_option() for a number. */
static bool
add_number(char *line, size_t size, size_t *n, const char *name, uint64_t v)
{
	char num[PROTO_U64_DIGITS + 1];

	num[proto_format_u64(num, v)] = '\0';
	return add_option(line, size, n, name, num);
}

enum sluice_result
sluice_append_create(struct sluice_ctx *ctx, const char *queue,
    const struct sluice_queue_opts *o)
{
	char opts[PROTO_LINE_MAX];
	size_t n = 0;
	bool ok = true;

	opts[0] = '\0';
	if (begin_queue(ctx, queue) != SLUICE_OK)
		return ctx->err;
	if (o != NULL && o->has_capacity)
		ok = ok &&
		    add_number(opts, sizeof opts, &n, "capacity", o->capacity);
	if (o != NULL && o->has_max_bytes)
		ok = ok &&
		    add_number(opts, sizeof opts, &n, "max_bytes",
		        o->max_bytes);
	if (o != NULL && o->has_policy)
		ok = ok &&
		    add_option(opts, sizeof opts, &n, "policy",
		        proto_policy_name(o->policy));
	if (o != NULL && o->has_lease_ms)
		ok = ok &&
		    add_number(opts, sizeof opts, &n, "lease_ms", o->lease_ms);
	if (o != NULL && o->has_max_deliveries)
		ok = ok &&
		    add_number(opts, sizeof opts, &n, "max_deliveries",
		        o->max_deliveries);
	if (o != NULL && o->has_dead_letter)
		ok = ok &&
		    add_option(opts, sizeof opts, &n, "dead_letter",
		        o->dead_letter);
	if (!ok)
		return sluice_set_error(ctx, SLUICE_ERR_ARG,
		    "CREATE options too long");
	return append_line(ctx, PROTO_CMD_CREATE, NULL, 0, "CREATE %s%s", queue,
	    opts);
}

/* DELETE, PURGE and CLOSE. */
static enum sluice_result
append_queue(struct sluice_ctx *ctx, enum proto_cmd cmd, const char *queue)
{
	if (begin_queue(ctx, queue) != SLUICE_OK)
		return ctx->err;
	return append_line(ctx, cmd, NULL, 0, "%s %s", proto_cmds[cmd].name,
	    queue);
}

enum sluice_result
sluice_append_delete(struct sluice_ctx *ctx, const char *queue)
{
	return append_queue(ctx, PROTO_CMD_DELETE, queue);
}

enum sluice_result
sluice_append_close(struct sluice_ctx *ctx, const char *queue)
{
	return append_queue(ctx, PROTO_CMD_CLOSE, queue);
}

enum sluice_result
sluice_append_purge(struct sluice_ctx *ctx, const char *queue)
{
	return append_queue(ctx, PROTO_CMD_PURGE, queue);
}

enum sluice_result
sluice_append_peek(struct sluice_ctx *ctx, const char *queue, unsigned n)
{
	if (begin_queue(ctx, queue) != SLUICE_OK)
		return ctx->err;
	if (n > PROTO_PEEK_MAX)
		return sluice_set_error(ctx, SLUICE_ERR_ARG,
		    "PEEK shows at most %d messages, not %u", PROTO_PEEK_MAX,
		    n);
	if (n == 0)
		return append_line(ctx, PROTO_CMD_PEEK, NULL, 0, "PEEK %s",
		    queue);
	return append_line(ctx, PROTO_CMD_PEEK, NULL, 0, "PEEK %s %u", queue,
	    n);
}

enum sluice_result
sluice_append_stats(struct sluice_ctx *ctx, const char *queue)
{
	if (queue != NULL)
		return append_queue(ctx, PROTO_CMD_STATS, queue);
	if (sluice_begin(ctx) != SLUICE_OK)
		return ctx->err;
	return append_line(ctx, PROTO_CMD_STATS, NULL, 0, "STATS");
}

enum sluice_result
sluice_append_ping(struct sluice_ctx *ctx)
{
	if (sluice_begin(ctx) != SLUICE_OK)
		return ctx->err;
	return append_line(ctx, PROTO_CMD_PING, NULL, 0, "PING");
}

enum sluice_result
sluice_append_auth(struct sluice_ctx *ctx, const char *token)
{
	if (sluice_begin(ctx) != SLUICE_OK)
		return ctx->err;
	if (token == NULL || token[0] == '\0' ||
	    token[strcspn(token, " \r\n")] != '\0')
		return sluice_set_error(ctx, SLUICE_ERR_ARG,
		    "an AUTH token is one word, without spaces or newlines");
	return append_line(ctx, PROTO_CMD_AUTH, NULL, 0, "AUTH %s", token);
}

enum sluice_result
sluice_append_quit(struct sluice_ctx *ctx)
{
	if (sluice_begin(ctx) != SLUICE_OK)
		return ctx->err;
	return append_line(ctx, PROTO_CMD_QUIT, NULL, 0, "QUIT");
}

/*
 * Blocking calls: sluice_call_begin() with the request's retry policy
 * (sluice_group.c: it refuses while pipelined replies are pending,
 * since the next reply read would answer one of those), one append,
 * then sluice_call_finish(), which follows failover.
 */

/*
 * Finish a blocking call (once the append res succeeded) and keep its
 * reply's numbers in *id and *count (either may be NULL).
 */
static enum sluice_result
read_simple(struct sluice_ctx *ctx, enum sluice_result res, uint64_t *id,
    uint64_t *count)
{
	struct sluice_reply *r;

	if (id != NULL)
		*id = 0;
	if (count != NULL)
		*count = 0;
	if ((res = sluice_call_finish(ctx, res, &r)) < 0)
		return res;
	if (id != NULL)
		*id = r->id;
	if (count != NULL)
		*count = r->count;
	sluice_reply_free(r);
	return res;
}

enum sluice_result
sluice_put(struct sluice_ctx *ctx, const char *queue, const void *body,
    size_t len, int64_t timeout_ms, uint64_t *id)
{
	enum sluice_result res = sluice_call_begin(ctx, SLUICE_RETRY_PUT);

	if (res == SLUICE_OK)
		res = sluice_append_put(ctx, queue, body, len, timeout_ms);
	return read_simple(ctx, res, id, NULL);
}

/*
 * Finish a blocking call that brings a body, and hand the body over
 * (*body NULL unless SLUICE_OK).
 */
static enum sluice_result
read_body(struct sluice_ctx *ctx, enum sluice_result res, uint64_t *id,
    char **body, size_t *len)
{
	struct sluice_reply *r;

	*body = NULL;
	*len = 0;
	if ((res = sluice_call_finish(ctx, res, &r)) < 0)
		return res;
	if (res == SLUICE_OK) {
		*id = r->id;
		*body = r->body;
		*len = r->body_len;
		r->body = NULL;
	}
	sluice_reply_free(r);
	return res;
}

/* GET and RESERVE: hand the reply's body over to a new message. */
static enum sluice_result
take_blocking(struct sluice_ctx *ctx, enum proto_cmd cmd, const char *queue,
    int64_t timeout_ms, struct sluice_msg **msg)
{
	enum sluice_result res;
	struct sluice_msg *m;

	*msg = NULL;
	if ((m = calloc(1, sizeof *m)) == NULL)
		return sluice_set_error(ctx, SLUICE_ERR_NOMEM, "out of memory");
	res = sluice_call_begin(ctx, SLUICE_RETRY_NEVER);
	if (res == SLUICE_OK)
		res = append_take(ctx, cmd, queue, timeout_ms);
	res = read_body(ctx, res, &m->id, &m->body, &m->len);
	if (res == SLUICE_OK)
		*msg = m;
	else
		free(m);
	return res;
}

enum sluice_result
sluice_get(struct sluice_ctx *ctx, const char *queue, int64_t timeout_ms,
    struct sluice_msg **msg)
{
	return take_blocking(ctx, PROTO_CMD_GET, queue, timeout_ms, msg);
}

enum sluice_result
sluice_reserve(struct sluice_ctx *ctx, const char *queue, int64_t timeout_ms,
    struct sluice_msg **msg)
{
	return take_blocking(ctx, PROTO_CMD_RESERVE, queue, timeout_ms, msg);
}

enum sluice_result
sluice_ack(struct sluice_ctx *ctx, uint64_t id)
{
	enum sluice_result res = sluice_call_begin(ctx, SLUICE_RETRY_NEVER);

	if (res == SLUICE_OK)
		res = sluice_append_ack(ctx, id);
	return read_simple(ctx, res, NULL, NULL);
}

enum sluice_result
sluice_nack(struct sluice_ctx *ctx, uint64_t id)
{
	enum sluice_result res = sluice_call_begin(ctx, SLUICE_RETRY_NEVER);

	if (res == SLUICE_OK)
		res = sluice_append_nack(ctx, id);
	return read_simple(ctx, res, NULL, NULL);
}

enum sluice_result
sluice_nack_delay(struct sluice_ctx *ctx, uint64_t id, uint64_t delay_ms)
{
	enum sluice_result res = sluice_call_begin(ctx, SLUICE_RETRY_NEVER);

	if (res == SLUICE_OK)
		res = sluice_append_nack_delay(ctx, id, delay_ms);
	return read_simple(ctx, res, NULL, NULL);
}

enum sluice_result
sluice_close(struct sluice_ctx *ctx, const char *queue)
{
	/* CLOSE of a closed queue answers the same. */
	enum sluice_result res = sluice_call_begin(ctx, SLUICE_RETRY_SAFE);

	if (res == SLUICE_OK)
		res = sluice_append_close(ctx, queue);
	return read_simple(ctx, res, NULL, NULL);
}

enum sluice_result
sluice_create(struct sluice_ctx *ctx, const char *queue,
    const struct sluice_queue_opts *opts)
{
	/* Done twice, the second answers EXISTS: still the queue asked
	 * for. */
	enum sluice_result res = sluice_call_begin(ctx, SLUICE_RETRY_SAFE);

	if (res == SLUICE_OK)
		res = sluice_append_create(ctx, queue, opts);
	return read_simple(ctx, res, NULL, NULL);
}

enum sluice_result
sluice_delete(struct sluice_ctx *ctx, const char *queue)
{
	/* Done twice, the second would answer NO_QUEUE: a lie. */
	enum sluice_result res = sluice_call_begin(ctx, SLUICE_RETRY_NEVER);

	if (res == SLUICE_OK)
		res = sluice_append_delete(ctx, queue);
	return read_simple(ctx, res, NULL, NULL);
}

enum sluice_result
sluice_purge(struct sluice_ctx *ctx, const char *queue, uint64_t *count)
{
	enum sluice_result res = sluice_call_begin(ctx, SLUICE_RETRY_NEVER);

	if (res == SLUICE_OK)
		res = sluice_append_purge(ctx, queue);
	return read_simple(ctx, res, NULL, count);
}

enum sluice_result
sluice_stats(struct sluice_ctx *ctx, const char *queue, char **json,
    size_t *len)
{
	enum sluice_result res = sluice_call_begin(ctx, SLUICE_RETRY_SAFE);
	uint64_t id;
	size_t n;

	if (res == SLUICE_OK)
		res = sluice_append_stats(ctx, queue);
	res = read_body(ctx, res, &id, json, &n);
	if (len != NULL)
		*len = n;
	return res;
}

enum sluice_result
sluice_peek(struct sluice_ctx *ctx, const char *queue, unsigned n, char **json,
    size_t *len)
{
	enum sluice_result res = sluice_call_begin(ctx, SLUICE_RETRY_SAFE);
	uint64_t id;
	size_t k;

	if (res == SLUICE_OK)
		res = sluice_append_peek(ctx, queue, n);
	res = read_body(ctx, res, &id, json, &k);
	if (len != NULL)
		*len = k;
	return res;
}

enum sluice_result
sluice_ping(struct sluice_ctx *ctx)
{
	enum sluice_result res = sluice_call_begin(ctx, SLUICE_RETRY_SAFE);

	if (res == SLUICE_OK)
		res = sluice_append_ping(ctx);
	return read_simple(ctx, res, NULL, NULL);
}

enum sluice_result
sluice_auth(struct sluice_ctx *ctx, const char *token)
{
	enum sluice_result res;
	char *copy;

	/* Kept first, so that a connection failover makes for this very
	 * call authenticates too; only a token that is one word, since
	 * failover sends it as a line of its own. */
	if (token != NULL && token[0] != '\0' &&
	    token[strcspn(token, " \r\n")] == '\0' &&
	    (ctx->token == NULL || strcmp(ctx->token, token) != 0)) {
		if ((copy = strdup(token)) == NULL)
			return sluice_set_error(ctx, SLUICE_ERR_NOMEM,
			    "out of memory");
		free(ctx->token);
		ctx->token = copy;
	}
	res = sluice_call_begin(ctx, SLUICE_RETRY_SAFE);
	if (res == SLUICE_OK)
		res = sluice_append_auth(ctx, token);
	res = read_simple(ctx, res, NULL, NULL);
	/* A token refused is not one to log in again with. */
	if (res == SLUICE_UNAUTHORIZED) {
		free(ctx->token);
		ctx->token = NULL;
	}
	return res;
}

enum sluice_result
sluice_quit(struct sluice_ctx *ctx)
{
	enum sluice_result res = sluice_call_begin(ctx, SLUICE_RETRY_NEVER);

	if (res == SLUICE_OK)
		res = sluice_append_quit(ctx);
	return read_simple(ctx, res, NULL, NULL);
}

/* ---- CLUSTER (sluiced's replication) --------------------------------- */

/* An address the protocol's line can carry: one word. */
static bool
one_word(const char *s)
{
	return s != NULL && s[0] != '\0' && strlen(s) < 128 &&
	    s[strcspn(s, " \r\n")] == '\0';
}

enum sluice_result
sluice_cluster_status(struct sluice_ctx *ctx, char **json, size_t *len)
{
	enum sluice_result res = sluice_call_begin(ctx, SLUICE_RETRY_SAFE);
	uint64_t id;
	size_t n;

	if (res == SLUICE_OK)
		res = append_line(ctx, SLUICE_CMD_CLUSTER, NULL, 0,
		    "CLUSTER STATUS");
	res = read_body(ctx, res, &id, json, &n);
	if (len != NULL)
		*len = n;
	if (res == SLUICE_OK && *json == NULL)
		return sluice_set_error(ctx, SLUICE_ERR_PROTOCOL,
		    "CLUSTER STATUS answered without JSON: \"%s\"",
		    sluice_status_line(ctx));
	return res;
}

/* A membership change: id checked, the rest of the line formatted. */
static enum sluice_result
cluster_change(struct sluice_ctx *ctx, bool add, uint64_t id,
    const char *raft_addr, const char *client_addr)
{
	enum sluice_result res = sluice_call_begin(ctx, SLUICE_RETRY_NEVER);

	if (res != SLUICE_OK)
		return res;
	if (id == 0 || id > (uint64_t)PROTO_NUM_MAX)
		res = sluice_set_error(ctx, SLUICE_ERR_ARG,
		    "member id %" PRIu64 " out of range (1 to 2^63-1)", id);
	else if (!add)
		res = append_line(ctx, SLUICE_CMD_CLUSTER, NULL, 0,
		    "CLUSTER REMOVE %" PRIu64, id);
	else if (!one_word(raft_addr) || !one_word(client_addr))
		res = sluice_set_error(ctx, SLUICE_ERR_ARG,
		    "a member's addresses are host:port, one word each");
	else
		res = append_line(ctx, SLUICE_CMD_CLUSTER, NULL, 0,
		    "CLUSTER ADD %" PRIu64 " %s %s", id, raft_addr,
		    client_addr);
	return read_simple(ctx, res, NULL, NULL);
}

enum sluice_result
sluice_cluster_add(struct sluice_ctx *ctx, uint64_t id, const char *raft_addr,
    const char *client_addr)
{
	return cluster_change(ctx, true, id, raft_addr, client_addr);
}

enum sluice_result
sluice_cluster_remove(struct sluice_ctx *ctx, uint64_t id)
{
	return cluster_change(ctx, false, id, NULL, NULL);
}
