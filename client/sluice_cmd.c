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

#include <jansson.h>

#include "sluice_priv.h"

/* Format a request line and queue it with its body (NULL: none). */
static int
append_line(struct sluice_ctx *ctx, enum proto_cmd cmd, const void *body,
    size_t body_len, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int
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
		return sluice_set_error(ctx, SLUICE_ERROR_ARG,
		    "%s request longer than %d bytes", proto_cmds[cmd].name,
		    PROTO_LINE_MAX);
	return sluice_queue_request(ctx, cmd, line, (size_t)n, body,
	    body_len);
}

/* Start an append: clear an old refusal, check the queue name. */
static int
begin_queue(struct sluice_ctx *ctx, const char *queue)
{
	if (sluice_begin(ctx) < 0)
		return -1;
	if (queue == NULL || !proto_valid_queue_name(queue, strlen(queue)))
		return sluice_set_error(ctx, SLUICE_ERROR_ARG,
		    "bad queue name \"%.40s\" (1 to %d of A-Z a-z 0-9 _ . : -)",
		    queue ? queue : "", PROTO_NAME_MAX);
	return 0;
}

int
sluice_append_put(struct sluice_ctx *ctx, const char *queue,
    const void *body, size_t len, long timeout_ms)
{
	if (begin_queue(ctx, queue) < 0)
		return -1;
	if (body == NULL && len > 0)
		return sluice_set_error(ctx, SLUICE_ERROR_ARG,
		    "PUT of %zu bytes from NULL", len);
	if (body == NULL)
		body = "";
	if (timeout_ms < 0)
		return append_line(ctx, PROTO_CMD_PUT, body, len, "PUT %s %zu",
		    queue, len);
	return append_line(ctx, PROTO_CMD_PUT, body, len, "PUT %s %zu %ld",
	    queue, len, timeout_ms);
}

/* GET and RESERVE: a timeout of 0 and none mean the same, no wait. */
static int
append_take(struct sluice_ctx *ctx, enum proto_cmd cmd, const char *queue,
    long timeout_ms)
{
	if (begin_queue(ctx, queue) < 0)
		return -1;
	if (timeout_ms <= 0)
		return append_line(ctx, cmd, NULL, 0, "%s %s",
		    proto_cmds[cmd].name, queue);
	return append_line(ctx, cmd, NULL, 0, "%s %s %ld",
	    proto_cmds[cmd].name, queue, timeout_ms);
}

int
sluice_append_get(struct sluice_ctx *ctx, const char *queue, long timeout_ms)
{
	return append_take(ctx, PROTO_CMD_GET, queue, timeout_ms);
}

int
sluice_append_reserve(struct sluice_ctx *ctx, const char *queue,
    long timeout_ms)
{
	return append_take(ctx, PROTO_CMD_RESERVE, queue, timeout_ms);
}

/* ACK and NACK. */
static int
append_id(struct sluice_ctx *ctx, enum proto_cmd cmd, uint64_t id)
{
	if (sluice_begin(ctx) < 0)
		return -1;
	if (id > (uint64_t)PROTO_NUM_MAX)
		return sluice_set_error(ctx, SLUICE_ERROR_ARG,
		    "message id %" PRIu64 " out of range", id);
	return append_line(ctx, cmd, NULL, 0, "%s %" PRIu64,
	    proto_cmds[cmd].name, id);
}

int
sluice_append_ack(struct sluice_ctx *ctx, uint64_t id)
{
	return append_id(ctx, PROTO_CMD_ACK, id);
}

int
sluice_append_nack(struct sluice_ctx *ctx, uint64_t id)
{
	return append_id(ctx, PROTO_CMD_NACK, id);
}

/* Append " name=value" to line[*n]; false when it does not fit. */
static bool
add_option(char *line, size_t size, size_t *n, const char *name,
    uint64_t v)
{
	int k = snprintf(line + *n, size - *n, " %s=%" PRIu64, name, v);

	if (k < 0 || (size_t)k >= size - *n || v > (uint64_t)PROTO_NUM_MAX)
		return false;
	*n += (size_t)k;
	return true;
}

int
sluice_append_create(struct sluice_ctx *ctx, const char *queue,
    const struct sluice_queue_opts *o)
{
	char opts[PROTO_LINE_MAX];
	size_t n = 0;
	bool ok = true;

	opts[0] = '\0';
	if (begin_queue(ctx, queue) < 0)
		return -1;
	if (o != NULL && o->policy != NULL &&
	    proto_policy_parse(o->policy, strlen(o->policy)) < 0)
		return sluice_set_error(ctx, SLUICE_ERROR_ARG,
		    "unknown policy \"%.40s\" (block, reject, drop-oldest, "
		    "drop-newest)", o->policy);
	if (o != NULL && o->has_capacity)
		ok = ok && add_option(opts, sizeof opts, &n, "capacity",
		    o->capacity);
	if (o != NULL && o->has_max_bytes)
		ok = ok && add_option(opts, sizeof opts, &n, "max_bytes",
		    o->max_bytes);
	if (o != NULL && o->has_lease_ms)
		ok = ok && add_option(opts, sizeof opts, &n, "lease_ms",
		    o->lease_ms);
	if (!ok)
		return sluice_set_error(ctx, SLUICE_ERROR_ARG,
		    "CREATE option out of range");
	return append_line(ctx, PROTO_CMD_CREATE, NULL, 0, "CREATE %s%s%s%s",
	    queue, opts, o != NULL && o->policy ? " policy=" : "",
	    o != NULL && o->policy ? o->policy : "");
}

/* DELETE and PURGE. */
static int
append_queue(struct sluice_ctx *ctx, enum proto_cmd cmd, const char *queue)
{
	if (begin_queue(ctx, queue) < 0)
		return -1;
	return append_line(ctx, cmd, NULL, 0, "%s %s", proto_cmds[cmd].name,
	    queue);
}

int
sluice_append_delete(struct sluice_ctx *ctx, const char *queue)
{
	return append_queue(ctx, PROTO_CMD_DELETE, queue);
}

int
sluice_append_purge(struct sluice_ctx *ctx, const char *queue)
{
	return append_queue(ctx, PROTO_CMD_PURGE, queue);
}

int
sluice_append_stats(struct sluice_ctx *ctx, const char *queue)
{
	if (queue != NULL)
		return append_queue(ctx, PROTO_CMD_STATS, queue);
	if (sluice_begin(ctx) < 0)
		return -1;
	return append_line(ctx, PROTO_CMD_STATS, NULL, 0, "STATS");
}

int
sluice_append_ping(struct sluice_ctx *ctx)
{
	if (sluice_begin(ctx) < 0)
		return -1;
	return append_line(ctx, PROTO_CMD_PING, NULL, 0, "PING");
}

int
sluice_append_auth(struct sluice_ctx *ctx, const char *token)
{
	if (sluice_begin(ctx) < 0)
		return -1;
	if (token == NULL || token[0] == '\0' ||
	    token[strcspn(token, " \r\n")] != '\0')
		return sluice_set_error(ctx, SLUICE_ERROR_ARG,
		    "an AUTH token is one word, without spaces or newlines");
	return append_line(ctx, PROTO_CMD_AUTH, NULL, 0, "AUTH %s", token);
}

int
sluice_append_quit(struct sluice_ctx *ctx)
{
	if (sluice_begin(ctx) < 0)
		return -1;
	return append_line(ctx, PROTO_CMD_QUIT, NULL, 0, "QUIT");
}

/*
 * Blocking calls.  begin_blocking() refuses while pipelined replies are
 * pending, since the next reply read would answer one of those; after
 * a failed append, refused() tells a refusal from a dead connection.
 */
static int
begin_blocking(struct sluice_ctx *ctx)
{
	if (sluice_begin(ctx) < 0)
		return -1;
	if (sluice_pending(ctx) > 0)
		return sluice_set_error(ctx, SLUICE_ERROR_ARG,
		    "%u pipelined replies are pending; read them first",
		    sluice_pending(ctx));
	return 0;
}

static enum sluice_result
refused(const struct sluice_ctx *ctx)
{
	return ctx->err == SLUICE_ERROR_ARG ? SLUICE_ERR_ARG : SLUICE_ERR_IO;
}

/* Read the one reply of a blocking call and throw its body away. */
static enum sluice_result
read_simple(struct sluice_ctx *ctx, struct sluice_reply *r)
{
	enum sluice_result res = sluice_read_reply(ctx, r);

	sluice_reply_free(r);
	return res;
}

enum sluice_result
sluice_put(struct sluice_ctx *ctx, const char *queue, const void *body,
    size_t len, long timeout_ms, uint64_t *id, uint64_t *retry_after_ms)
{
	struct sluice_reply r;
	enum sluice_result res;

	if (id != NULL)
		*id = 0;
	if (retry_after_ms != NULL)
		*retry_after_ms = 0;
	if (begin_blocking(ctx) < 0 ||
	    sluice_append_put(ctx, queue, body, len, timeout_ms) < 0)
		return refused(ctx);
	res = read_simple(ctx, &r);
	if (id != NULL)
		*id = r.id;
	if (retry_after_ms != NULL)
		*retry_after_ms = r.retry_after_ms;
	return res;
}

/* GET and RESERVE: hand the reply's body over to *msg. */
static enum sluice_result
take_blocking(struct sluice_ctx *ctx, enum proto_cmd cmd, const char *queue,
    long timeout_ms, struct sluice_msg *msg)
{
	struct sluice_reply r;
	enum sluice_result res;

	memset(msg, 0, sizeof *msg);
	if (begin_blocking(ctx) < 0 ||
	    append_take(ctx, cmd, queue, timeout_ms) < 0)
		return refused(ctx);
	res = sluice_read_reply(ctx, &r);
	if (res == SLUICE_OK) {
		msg->id = r.id;
		msg->body = r.body;
		msg->len = r.body_len;
	} else {
		sluice_reply_free(&r);
	}
	return res;
}

enum sluice_result
sluice_get(struct sluice_ctx *ctx, const char *queue, long timeout_ms,
    struct sluice_msg *msg)
{
	return take_blocking(ctx, PROTO_CMD_GET, queue, timeout_ms, msg);
}

enum sluice_result
sluice_reserve(struct sluice_ctx *ctx, const char *queue, long timeout_ms,
    struct sluice_msg *msg)
{
	return take_blocking(ctx, PROTO_CMD_RESERVE, queue, timeout_ms, msg);
}

enum sluice_result
sluice_ack(struct sluice_ctx *ctx, uint64_t id)
{
	struct sluice_reply r;

	if (begin_blocking(ctx) < 0 || sluice_append_ack(ctx, id) < 0)
		return refused(ctx);
	return read_simple(ctx, &r);
}

enum sluice_result
sluice_nack(struct sluice_ctx *ctx, uint64_t id)
{
	struct sluice_reply r;

	if (begin_blocking(ctx) < 0 || sluice_append_nack(ctx, id) < 0)
		return refused(ctx);
	return read_simple(ctx, &r);
}

enum sluice_result
sluice_create(struct sluice_ctx *ctx, const char *queue,
    const struct sluice_queue_opts *opts)
{
	struct sluice_reply r;

	if (begin_blocking(ctx) < 0 ||
	    sluice_append_create(ctx, queue, opts) < 0)
		return refused(ctx);
	return read_simple(ctx, &r);
}

enum sluice_result
sluice_delete(struct sluice_ctx *ctx, const char *queue)
{
	struct sluice_reply r;

	if (begin_blocking(ctx) < 0 || sluice_append_delete(ctx, queue) < 0)
		return refused(ctx);
	return read_simple(ctx, &r);
}

enum sluice_result
sluice_purge(struct sluice_ctx *ctx, const char *queue, uint64_t *count)
{
	struct sluice_reply r;
	enum sluice_result res;

	if (count != NULL)
		*count = 0;
	if (begin_blocking(ctx) < 0 || sluice_append_purge(ctx, queue) < 0)
		return refused(ctx);
	res = read_simple(ctx, &r);
	if (count != NULL)
		*count = r.count;
	return res;
}

enum sluice_result
sluice_stats(struct sluice_ctx *ctx, const char *queue, char **json,
    size_t *len)
{
	struct sluice_reply r;
	enum sluice_result res;

	*json = NULL;
	if (len != NULL)
		*len = 0;
	if (begin_blocking(ctx) < 0 || sluice_append_stats(ctx, queue) < 0)
		return refused(ctx);
	res = sluice_read_reply(ctx, &r);
	if (res == SLUICE_OK) {
		*json = r.body;
		if (len != NULL)
			*len = r.body_len;
	} else {
		sluice_reply_free(&r);
	}
	return res;
}

enum sluice_result
sluice_stats_json(struct sluice_ctx *ctx, const char *queue,
    struct json_t **out)
{
	enum sluice_result res;
	json_error_t jerr;
	char *text;
	size_t len;

	*out = NULL;
	if ((res = sluice_stats(ctx, queue, &text, &len)) != SLUICE_OK)
		return res;
	*out = json_loadb(text, len, 0, &jerr);
	free(text);
	if (*out == NULL || !json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		sluice_set_error(ctx, SLUICE_ERROR_PROTOCOL,
		    "STATS reply is not a JSON object: %s", jerr.text);
		return SLUICE_ERR_IO;
	}
	return SLUICE_OK;
}

enum sluice_result
sluice_ping(struct sluice_ctx *ctx)
{
	struct sluice_reply r;

	if (begin_blocking(ctx) < 0 || sluice_append_ping(ctx) < 0)
		return refused(ctx);
	return read_simple(ctx, &r);
}

enum sluice_result
sluice_auth(struct sluice_ctx *ctx, const char *token)
{
	struct sluice_reply r;

	if (begin_blocking(ctx) < 0 || sluice_append_auth(ctx, token) < 0)
		return refused(ctx);
	return read_simple(ctx, &r);
}

enum sluice_result
sluice_quit(struct sluice_ctx *ctx)
{
	struct sluice_reply r;

	if (begin_blocking(ctx) < 0 || sluice_append_quit(ctx) < 0)
		return refused(ctx);
	return read_simple(ctx, &r);
}
