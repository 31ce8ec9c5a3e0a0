/*
 * sluice_io.c - libsluice's connection I/O: the buffers, non-blocking
 * socket reads and writes, queueing requests within the window, and
 * turning what comes back into struct sluice_reply.  See sluice_priv.h
 * for how it splits with sluice.c and sluice_cmd.c.
 *
 * Every wait is a poll() on the one socket, and while output is queued
 * it waits to read as well as to write: a client that only wrote could
 * fill its receive buffer with replies, make the server stop reading
 * it, and then wait forever on its own write.  What is read meanwhile
 * is bounded by the window, since only pending requests have replies.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "response.h"
#include "sluice_priv.h"

/* Read this much per call: many small replies, or a body in few reads. */
#define SLUICE_READ_CHUNK 65536
/*
 * An append waits for the socket once this much output is queued, so a
 * producer holds about this plus one message, however far ahead of the
 * server it is.
 */
#define SLUICE_OUT_HIGH 65536
/* Buffers grown past this (by one big body) are freed once empty. */
#define SLUICE_BUF_KEEP (4 * SLUICE_READ_CHUNK)
/*
 * The largest reply body accepted.  Messages are at most 1 MiB unless
 * the server is configured otherwise, and a STATS of thousands of
 * queues is a few MiB; a length near this is a broken stream.
 */
#define SLUICE_MAX_BODY ((size_t)256 << 20)

/* Record why the connection broke (the first cause wins) and drop the
 * output nobody will read. */
static void mark_broken(struct sluice_ctx *ctx, enum sluice_result err,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
mark_broken(struct sluice_ctx *ctx, enum sluice_result err, const char *fmt,
    ...)
{
	va_list ap;

	if (ctx->broken)
		return;
	ctx->broken = err;
	va_start(ap, fmt);
	vsnprintf(ctx->broken_str, sizeof ctx->broken_str, fmt, ap);
	va_end(ap);
	ctx->out.off = ctx->out.len = 0;
}

/* Make room for `need` more bytes at the end of b; -1 when out of
 * memory. */
static int
buf_reserve(struct sluice_buf *b, size_t need)
{
	size_t cap;
	char *d;

	if (b->off > 0 && b->cap - b->len < need) {
		memmove(b->data, b->data + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
	}
	if (b->cap - b->len >= need)
		return 0;
	cap = b->cap > 0 ? b->cap : 4096;
	while (cap - b->len < need)
		cap *= 2;
	if ((d = realloc(b->data, cap)) == NULL)
		return -1;
	b->data = d;
	b->cap = cap;
	return 0;
}

/* Forget consumed bytes; give back memory a big body took. */
static void
buf_consumed(struct sluice_buf *b)
{
	if (b->off < b->len)
		return;
	b->off = b->len = 0;
	if (b->cap > SLUICE_BUF_KEEP) {
		free(b->data);
		b->data = NULL;
		b->cap = 0;
	}
}

/* The unread input; never NULL, as the parser's memchr() wants. */
static const char *
unread(const struct sluice_ctx *ctx)
{
	return ctx->in.data != NULL ? ctx->in.data + ctx->in.off : "";
}

/*
 * Errors that mean the server closed the connection: a reset follows a
 * close with unread data, or a write to a socket the server has shut,
 * and which of that and an end of file comes first is a race.
 */
static bool
closed_errno(int e)
{
	return e == ECONNRESET || e == EPIPE;
}

static int tls_read(struct sluice_ctx *ctx);
static int read_failed(struct sluice_ctx *ctx, ssize_t n);

/* Read what the socket holds.  Returns 1 when bytes came, 0 when none
 * were ready, -1 when the connection is broken (see ctx->broken). */
static int
io_read(struct sluice_ctx *ctx)
{
	ssize_t n;

	if (ctx->broken)
		return -1;
	if (buf_reserve(&ctx->in, SLUICE_READ_CHUNK) < 0) {
		mark_broken(ctx, SLUICE_ERR_NOMEM, "out of memory");
		return -1;
	}
	if (ctx->ssl != NULL)
		return tls_read(ctx);
	do
		n = recv(ctx->fd, ctx->in.data + ctx->in.len,
		    ctx->in.cap - ctx->in.len, 0);
	while (n < 0 && errno == EINTR);
	if (n > 0) {
		ctx->in.len += (size_t)n;
		return 1;
	}
	return read_failed(ctx, n);
}

/*
 * io_read() through TLS: a record at a time, until OpenSSL holds no
 * decoded byte more (no socket event would announce those).
 */
static int
tls_read(struct sluice_ctx *ctx)
{
	ssize_t n;
	int got = 0;

	do {
		n = sluice_tls_recv(ctx, ctx->in.data + ctx->in.len,
		    ctx->in.cap - ctx->in.len);
		if (n <= 0)
			return got ? 1 : read_failed(ctx, n);
		ctx->in.len += (size_t)n;
		got = 1;
	} while (sluice_tls_pending(ctx) > 0 &&
	    buf_reserve(&ctx->in, sluice_tls_pending(ctx)) == 0);
	return 1;
}

/* What a failed read (n: recv's return) means; see io_read(). */
static int
read_failed(struct sluice_ctx *ctx, ssize_t n)
{
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (n == 0)
		mark_broken(ctx, SLUICE_ERR_EOF,
		    "server closed the connection");
	else if (closed_errno(errno))
		mark_broken(ctx, SLUICE_ERR_EOF,
		    "server closed the connection (%s)", strerror(errno));
	else if (ctx->ssl != NULL && errno == EPROTO)
		mark_broken(ctx, SLUICE_ERR_TLS, "TLS: %s", ctx->tls_why);
	else
		mark_broken(ctx, SLUICE_ERR_IO, "read: %s", strerror(errno));
	return -1;
}

/* Write what the socket takes.  Returns 1 on progress, 0 when it
 * takes nothing now, -1 when the connection is broken. */
static int
io_write(struct sluice_ctx *ctx)
{
	ssize_t n;

	if (ctx->broken)
		return -1;
	do
		n = ctx->ssl != NULL
		    ? sluice_tls_send(ctx, ctx->out.data + ctx->out.off,
			  ctx->out.len - ctx->out.off)
		    : send(ctx->fd, ctx->out.data + ctx->out.off,
			  ctx->out.len - ctx->out.off, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n > 0) {
		ctx->out.off += (size_t)n;
		buf_consumed(&ctx->out);
		return 1;
	}
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (n < 0 && closed_errno(errno))
		mark_broken(ctx, SLUICE_ERR_EOF,
		    "server closed the connection (%s)", strerror(errno));
	else if (n < 0 && ctx->ssl != NULL && errno == EPROTO)
		mark_broken(ctx, SLUICE_ERR_TLS, "TLS: %s", ctx->tls_why);
	else
		mark_broken(ctx, SLUICE_ERR_IO, "write: %s",
		    n < 0 ? strerror(errno) : "nothing written");
	return -1;
}

/* Wait until the socket is ready for `events`.  Returns the events
 * that came, or a local error with ctx->err set (I/O timeout, poll
 * failure). */
static int
io_wait(struct sluice_ctx *ctx, short events)
{
	struct pollfd pfd = { ctx->fd, events, 0 };
	int ms = sluice_poll_ms(ctx->io_timeout_ms);
	int n;

	/* A TLS call blocked on the other direction waits for that. */
	if (ctx->ssl != NULL && ctx->tls_wants == POLLOUT)
		pfd.events |= POLLOUT;
	else if (ctx->ssl != NULL && ctx->tls_wants == POLLIN)
		pfd.events = (short)((pfd.events & ~POLLOUT) | POLLIN);

	do
		n = poll(&pfd, 1, ms);
	while (n < 0 && errno == EINTR);
	if (n == 0)
		return sluice_set_error(ctx, SLUICE_ERR_TIMEOUT,
		    "no reply from the server within %d ms", ms);
	if (n < 0)
		return sluice_set_error(ctx, SLUICE_ERR_IO, "poll: %s",
		    strerror(errno));
	return pfd.revents;
}

/*
 * Write queued output until at most `limit` bytes remain, reading what
 * arrives meanwhile.  Returns SLUICE_OK, or the local error with
 * ctx->err set.  A broken connection is not an error here: its output
 * is dropped, and the read that wants a reply reports it.
 */
static enum sluice_result
flush_until(struct sluice_ctx *ctx, size_t limit)
{
	int ev;

	while (!ctx->broken && ctx->out.len - ctx->out.off > limit) {
		if (io_write(ctx) != 0)
			continue;
		if ((ev = io_wait(ctx, POLLIN | POLLOUT)) < 0)
			return ctx->err;
		if (ev & (POLLIN | POLLHUP | POLLERR))
			(void)io_read(ctx);
	}
	return SLUICE_OK;
}

enum sluice_result
sluice_flush(struct sluice_ctx *ctx)
{
	if (sluice_begin(ctx) != SLUICE_OK)
		return ctx->err;
	return flush_until(ctx, 0);
}

enum sluice_result
sluice_queue_request(struct sluice_ctx *ctx, enum proto_cmd cmd,
    const char *line, size_t line_len, const void *body, size_t body_len)
{
	struct sluice_buf *o = &ctx->out;

	if (ctx->pending >= ctx->window)
		return sluice_set_error(ctx, SLUICE_ERR_ARG,
		    "window full: %u requests in flight", ctx->pending);
	/* A blocking call's request, kept for failover to send again. */
	if (ctx->call.active && !ctx->call.saved &&
	    line_len <= sizeof ctx->call.line) {
		memcpy(ctx->call.line, line, line_len);
		ctx->call.line_len = line_len;
		ctx->call.cmd = cmd;
		ctx->call.body = body;
		ctx->call.body_len = body_len;
		ctx->call.saved = true;
	}
	if (!ctx->broken) {
		if (buf_reserve(o, line_len + 4 + (body ? body_len : 0)) < 0)
			return sluice_set_error(ctx, SLUICE_ERR_NOMEM,
			    "out of memory");
		memcpy(o->data + o->len, line, line_len);
		memcpy(o->data + o->len + line_len, "\r\n", 2);
		o->len += line_len + 2;
		if (body != NULL) {
			memcpy(o->data + o->len, body, body_len);
			memcpy(o->data + o->len + body_len, "\r\n", 2);
			o->len += body_len + 2;
		}
	}
	ctx->kinds[(ctx->head + ctx->pending) % ctx->window] = cmd;
	ctx->pending++;
	return flush_until(ctx, SLUICE_OUT_HIGH);
}

/* The result of a 503, by its token. */
static enum sluice_result
map_unavailable(const struct proto_word *token)
{
	static const struct {
		const char *token;
		enum sluice_result result;
	} tokens[] = {
		{ "FULL", SLUICE_FULL },
		{ "TOO_MANY_RESERVED", SLUICE_TOO_MANY_RESERVED },
		{ "TOO_MANY_QUEUES", SLUICE_TOO_MANY_QUEUES },
		{ "SHUTTING_DOWN", SLUICE_SHUTTING_DOWN },
		{ "NOT_LEADER", SLUICE_NOT_LEADER },
		{ "BUSY", SLUICE_BUSY },
	};

	for (size_t i = 0; i < sizeof tokens / sizeof tokens[0]; i++)
		if (proto_word_is(token, tokens[i].token))
			return tokens[i].result;
	return SLUICE_UNAVAILABLE;
}

/* The result a reply means, given the request it answers: the code
 * decides, and the token only where codes are shared (503). */
static enum sluice_result
map_result(enum proto_cmd cmd, const struct proto_response *r)
{
	switch (r->code) {
	case 200:
		return cmd == PROTO_CMD_CREATE ? SLUICE_EXISTS : SLUICE_OK;
	case 202:
		return SLUICE_DROPPED;
	case 204:
		return SLUICE_EMPTY;
	case 401:
		return SLUICE_UNAUTHORIZED;
	case 403:
		return SLUICE_FORBIDDEN;
	case 404:
		if (cmd == SLUICE_CMD_CLUSTER)
			return SLUICE_NO_MEMBER;
		return cmd == PROTO_CMD_ACK || cmd == PROTO_CMD_NACK
		    ? SLUICE_NO_MSG : SLUICE_NO_QUEUE;
	case 409:
		return SLUICE_CONFLICT;
	case 410:
		return SLUICE_CLOSED;
	case 413:
		return SLUICE_TOO_LARGE;
	case 503:
		return map_unavailable(&r->token);
	}
	if (r->code < 300)
		return SLUICE_OK;
	return r->code < 500 ? SLUICE_BAD_REQUEST : SLUICE_INTERNAL;
}

/*
 * Check that a 200 carries what its command promises and take out the
 * numbers.  Returns SLUICE_OK, or SLUICE_ERR_PROTOCOL with ctx->err
 * set: a server that answers a GET without a message is not one this
 * library can follow.
 */
static enum sluice_result
reply_numbers(struct sluice_ctx *ctx, enum proto_cmd cmd,
    const struct proto_response *r, struct sluice_reply *out)
{
	bool ok = true;

	if (r->code == 413 && r->argc >= 1)
		(void)proto_word_number(&r->argv[0], &out->count);
	if (r->code != 200)
		return SLUICE_OK;
	switch (cmd) {
	case PROTO_CMD_PUT:
		ok = r->argc >= 1 && proto_word_number(&r->argv[0], &out->id);
		break;
	case PROTO_CMD_GET:
	case PROTO_CMD_RESERVE:
		ok = r->has_body && r->argc == 2 &&
		    proto_word_number(&r->argv[0], &out->id);
		break;
	case PROTO_CMD_PURGE:
		ok = r->argc >= 1 &&
		    proto_word_number(&r->argv[0], &out->count);
		break;
	case PROTO_CMD_STATS:
	case PROTO_CMD_PEEK:
		ok = r->has_body;
		break;
	default:
		break;
	}
	if (!ok)
		return sluice_set_error(ctx, SLUICE_ERR_PROTOCOL,
		    "unexpected reply to %s: \"%s\"", sluice_cmd_name(cmd),
		    out->line);
	return SLUICE_OK;
}

/* The length of the line at s (avail bytes, not NUL-terminated),
 * without its terminator. */
static size_t
line_length(const char *s, size_t avail)
{
	const char *nl = memchr(s, '\n', avail);
	size_t n = nl != NULL ? (size_t)(nl - s) : avail;

	return n > 0 && s[n - 1] == '\r' ? n - 1 : n;
}

/*
 * The value of the hint `key=` in a status line (s, n bytes), or NULL;
 * *len is its length.  Hints are words with a '=' after the token;
 * protocol/response.c takes out only the hints the daemon's tests use.
 */
static const char *
find_hint(const char *s, size_t n, const char *key, size_t *len)
{
	size_t klen = strlen(key), i = 0, start;
	int word = 0;

	while (i < n) {
		while (i < n && s[i] == ' ')
			i++;
		for (start = i; i < n && s[i] != ' '; i++)
			;
		if (word++ >= 2 && i - start > klen &&
		    memcmp(s + start, key, klen) == 0 &&
		    s[start + klen] == '=') {
			*len = i - start - klen - 1;
			return s + start + klen + 1;
		}
	}
	return NULL;
}

/* Remember the status line and hints of the reply just read. */
static void
remember(struct sluice_ctx *ctx, const char *line, size_t n,
    const struct proto_response *r)
{
	const char *leader;
	size_t len;

	memcpy(ctx->last_line, line,
	    n < sizeof ctx->last_line ? n : sizeof ctx->last_line - 1);
	ctx->last_line[n < sizeof ctx->last_line ? n
	                                         : sizeof ctx->last_line - 1] =
	    '\0';
	ctx->last_retry_after_ms =
	    r->has_retry_after ? (int64_t)r->retry_after_ms : -1;
	leader = find_hint(line, n, "leader", &len);
	ctx->has_leader =
	    leader != NULL && len > 0 && len < sizeof ctx->last_leader;
	if (ctx->has_leader) {
		memcpy(ctx->last_leader, leader, len);
		ctx->last_leader[len] = '\0';
	}
}

/* Fill *out from the parsed response at the head of the input and
 * retire the oldest pending request.  Returns the result, or a local
 * error with *out NULL. */
static enum sluice_result
take_reply(struct sluice_ctx *ctx, const struct proto_response *r,
    struct sluice_reply **out)
{
	enum proto_cmd cmd = ctx->kinds[ctx->head];
	const char *start = unread(ctx);
	size_t n = line_length(start, r->frame_len), hint;
	struct sluice_reply *rep = NULL;
	char *line;

	ctx->head = (ctx->head + 1) % ctx->window;
	ctx->pending--;
	remember(ctx, start, n, r);
	/* The reply, its status line and its leader hint in one block;
	 * the body apart, so that sluice_get() can hand it over. */
	hint = ctx->has_leader ? strlen(ctx->last_leader) + 1 : 0;
	if ((rep = calloc(1, sizeof *rep + n + 1 + hint)) == NULL)
		goto nomem;
	line = (char *)(rep + 1);
	memcpy(line, start, n);
	line[n] = '\0';
	rep->line = line;
	if (hint > 0)
		rep->leader = memcpy(line + n + 1, ctx->last_leader, hint);
	rep->code = r->code;
	rep->retry_after_ms = ctx->last_retry_after_ms;
	rep->result = map_result(cmd, r);
	if (reply_numbers(ctx, cmd, r, rep) != SLUICE_OK)
		goto fail;
	if (r->has_body) {
		if ((rep->body = malloc(r->body_len + 1)) == NULL)
			goto nomem;
		memcpy(rep->body, r->body, r->body_len);
		rep->body[r->body_len] = '\0';
		rep->body_len = r->body_len;
	}
	ctx->in.off += r->frame_len;
	buf_consumed(&ctx->in);
	*out = rep;
	return rep->result;
nomem:
	sluice_set_error(ctx, SLUICE_ERR_NOMEM, "out of memory");
fail:
	sluice_reply_free(rep);
	return ctx->err;
}

/* Turn the recorded breakage into ctx->err, now that a reply that
 * will never come is wanted. */
static enum sluice_result
report_broken(struct sluice_ctx *ctx)
{
	if (ctx->broken == SLUICE_ERR_EOF && ctx->in.len > ctx->in.off)
		return sluice_set_error(ctx, ctx->broken,
		    "%s in the middle of a reply", ctx->broken_str);
	return sluice_set_error(ctx, ctx->broken, "%s", ctx->broken_str);
}

enum sluice_result
sluice_read_reply(struct sluice_ctx *ctx, struct sluice_reply **reply)
{
	struct proto_response r;
	enum proto_status st;

	*reply = NULL;
	if (sluice_begin(ctx) != SLUICE_OK)
		return ctx->err;
	if (ctx->pending == 0)
		return sluice_set_error(ctx, SLUICE_ERR_ARG,
		    "no reply is pending");
	if (flush_until(ctx, 0) != SLUICE_OK)
		return ctx->err;
	for (;;) {
		st = proto_parse_response(unread(ctx),
		    ctx->in.len - ctx->in.off, SLUICE_MAX_BODY, &r);
		if (st == PROTO_OK)
			return take_reply(ctx, &r, reply);
		if (st != PROTO_NEED_MORE) {
			size_t n =
			    line_length(unread(ctx), ctx->in.len - ctx->in.off);
			return sluice_set_error(ctx, SLUICE_ERR_PROTOCOL,
			    "not a sluice reply: \"%.*s\"",
			    n > 60 ? 60 : (int)n, unread(ctx));
		}
		if (ctx->broken)
			return report_broken(ctx);
		if (io_read(ctx) == 0 && io_wait(ctx, POLLIN) < 0)
			return ctx->err;
	}
}

bool
sluice_reply_ready(struct sluice_ctx *ctx)
{
	struct proto_response r;

	if (ctx->err != SLUICE_OK && ctx->err != SLUICE_ERR_ARG)
		return true;
	if (ctx->pending == 0)
		return false;
	/* A whole reply already buffered needs no system call. */
	if (proto_parse_response(unread(ctx), ctx->in.len - ctx->in.off,
	        SLUICE_MAX_BODY, &r) != PROTO_NEED_MORE)
		return true;
	if (ctx->out.len > ctx->out.off)
		(void)io_write(ctx);
	(void)io_read(ctx);
	if (ctx->broken)
		return true;
	return proto_parse_response(unread(ctx), ctx->in.len - ctx->in.off,
	           SLUICE_MAX_BODY, &r) != PROTO_NEED_MORE;
}

const char *
sluice_cmd_name(enum proto_cmd cmd)
{
	return cmd == SLUICE_CMD_CLUSTER ? "CLUSTER" : proto_cmds[cmd].name;
}

void
sluice_reply_free(struct sluice_reply *reply)
{
	if (reply == NULL)
		return;
	free(reply->body);
	free(reply);
}

void
sluice_msg_free(struct sluice_msg *msg)
{
	if (msg == NULL)
		return;
	free(msg->body);
	free(msg);
}
