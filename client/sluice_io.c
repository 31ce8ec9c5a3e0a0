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

static void mark_broken(struct sluice_ctx *ctx, int err, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));

/* Record why the connection broke (the first cause wins) and drop the
 * output nobody will read. */
static void
mark_broken(struct sluice_ctx *ctx, int err, const char *fmt, ...)
{
	struct sluice_priv *p = ctx->priv;
	va_list ap;

	if (p->broken)
		return;
	p->broken = err;
	va_start(ap, fmt);
	vsnprintf(p->broken_str, sizeof p->broken_str, fmt, ap);
	va_end(ap);
	p->out.off = p->out.len = 0;
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
unread(const struct sluice_priv *p)
{
	return p->in.data != NULL ? p->in.data + p->in.off : "";
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

/* Read what the socket holds.  Returns 1 when bytes came, 0 when none
 * were ready, -1 when the connection is broken (see priv->broken). */
static int
io_read(struct sluice_ctx *ctx)
{
	struct sluice_priv *p = ctx->priv;
	ssize_t n;

	if (p->broken)
		return -1;
	if (buf_reserve(&p->in, SLUICE_READ_CHUNK) < 0) {
		mark_broken(ctx, SLUICE_ERROR_NOMEM, "out of memory");
		return -1;
	}
	do
		n = recv(ctx->fd, p->in.data + p->in.len,
		    p->in.cap - p->in.len, 0);
	while (n < 0 && errno == EINTR);
	if (n > 0) {
		p->in.len += (size_t)n;
		return 1;
	}
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (n == 0)
		mark_broken(ctx, SLUICE_ERROR_EOF,
		    "server closed the connection");
	else if (closed_errno(errno))
		mark_broken(ctx, SLUICE_ERROR_EOF,
		    "server closed the connection (%s)", strerror(errno));
	else
		mark_broken(ctx, SLUICE_ERROR_IO, "read: %s",
		    strerror(errno));
	return -1;
}

/* Write what the socket takes.  Returns 1 on progress, 0 when it
 * takes nothing now, -1 when the connection is broken. */
static int
io_write(struct sluice_ctx *ctx)
{
	struct sluice_priv *p = ctx->priv;
	ssize_t n;

	if (p->broken)
		return -1;
	do
		n = send(ctx->fd, p->out.data + p->out.off,
		    p->out.len - p->out.off, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n > 0) {
		p->out.off += (size_t)n;
		buf_consumed(&p->out);
		return 1;
	}
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (n < 0 && closed_errno(errno))
		mark_broken(ctx, SLUICE_ERROR_EOF,
		    "server closed the connection (%s)", strerror(errno));
	else
		mark_broken(ctx, SLUICE_ERROR_IO, "write: %s",
		    n < 0 ? strerror(errno) : "nothing written");
	return -1;
}

/* Wait until the socket is ready for `events`.  Returns the events
 * that came, or -1 with ctx->err set (I/O timeout, poll failure). */
static int
io_wait(struct sluice_ctx *ctx, short events)
{
	struct pollfd pfd = { ctx->fd, events, 0 };
	int ms = ctx->priv->io_timeout_ms > 0 ? ctx->priv->io_timeout_ms : -1;
	int n;

	do
		n = poll(&pfd, 1, ms);
	while (n < 0 && errno == EINTR);
	if (n == 0)
		return sluice_set_error(ctx, SLUICE_ERROR_TIMEOUT,
		    "no reply from the server within %d ms", ms);
	if (n < 0)
		return sluice_set_error(ctx, SLUICE_ERROR_IO, "poll: %s",
		    strerror(errno));
	return pfd.revents;
}

/*
 * Write queued output until at most `limit` bytes remain, reading what
 * arrives meanwhile.  Returns 0, or -1 with ctx->err set.  A broken
 * connection is not an error here: its output is dropped, and the read
 * that wants a reply reports it.
 */
static int
flush_until(struct sluice_ctx *ctx, size_t limit)
{
	struct sluice_priv *p = ctx->priv;
	int ev;

	while (!p->broken && p->out.len - p->out.off > limit) {
		if (io_write(ctx) != 0)
			continue;
		if ((ev = io_wait(ctx, POLLIN | POLLOUT)) < 0)
			return -1;
		if (ev & (POLLIN | POLLHUP | POLLERR))
			(void)io_read(ctx);
	}
	return 0;
}

int
sluice_flush(struct sluice_ctx *ctx)
{
	if (sluice_begin(ctx) < 0)
		return -1;
	return flush_until(ctx, 0);
}

int
sluice_queue_request(struct sluice_ctx *ctx, enum proto_cmd cmd,
    const char *line, size_t line_len, const void *body, size_t body_len)
{
	struct sluice_priv *p = ctx->priv;
	struct sluice_buf *o = &p->out;

	if (p->pending >= p->window)
		return sluice_set_error(ctx, SLUICE_ERROR_ARG,
		    "window full: %u requests in flight", p->pending);
	if (!p->broken) {
		if (buf_reserve(o, line_len + 4 + (body ? body_len : 0)) < 0)
			return sluice_set_error(ctx, SLUICE_ERROR_NOMEM,
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
	p->kinds[(p->head + p->pending) % p->window] = cmd;
	p->pending++;
	return flush_until(ctx, SLUICE_OUT_HIGH);
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
		return cmd == PROTO_CMD_ACK || cmd == PROTO_CMD_NACK
		    ? SLUICE_NO_MSG : SLUICE_NO_QUEUE;
	case 409:
		return SLUICE_CONFLICT;
	case 413:
		return SLUICE_TOO_LARGE;
	case 503:
		if (proto_word_is(&r->token, "FULL"))
			return SLUICE_FULL;
		if (proto_word_is(&r->token, "SHUTTING_DOWN"))
			return SLUICE_SHUTTING_DOWN;
		return SLUICE_BUSY;
	}
	if (r->code < 300)
		return SLUICE_OK;
	return r->code < 500 ? SLUICE_BAD_REQUEST : SLUICE_INTERNAL;
}

/*
 * Check that a 200 carries what its command promises and take out the
 * numbers.  Returns 0, or -1 with ctx->err set: a server that answers
 * a GET without a message is not one this library can follow.
 */
static int
reply_numbers(struct sluice_ctx *ctx, enum proto_cmd cmd,
    const struct proto_response *r, struct sluice_reply *out)
{
	bool ok = true;

	if (r->code == 413 && r->argc >= 1)
		(void)proto_word_number(&r->argv[0], &out->count);
	if (r->code != 200)
		return 0;
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
		ok = r->has_body;
		break;
	default:
		break;
	}
	if (!ok)
		return sluice_set_error(ctx, SLUICE_ERROR_PROTOCOL,
		    "unexpected reply to %s: \"%s\"", proto_cmds[cmd].name,
		    out->line);
	return 0;
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

/* Fill *out from the parsed response at the head of the input and
 * retire the oldest pending request.  Returns out->result. */
static enum sluice_result
take_reply(struct sluice_ctx *ctx, const struct proto_response *r,
    struct sluice_reply *out)
{
	struct sluice_priv *p = ctx->priv;
	enum proto_cmd cmd = p->kinds[p->head];
	const char *start = unread(p);
	size_t n = line_length(start, r->frame_len);

	p->head = (p->head + 1) % p->window;
	p->pending--;
	if (n >= sizeof out->line)
		n = sizeof out->line - 1;
	memcpy(out->line, start, n);
	out->line[n] = '\0';
	memcpy(p->last_line, out->line, n + 1);
	out->code = r->code;
	out->has_retry_after = r->has_retry_after;
	out->retry_after_ms = r->retry_after_ms;
	out->result = map_result(cmd, r);
	if (reply_numbers(ctx, cmd, r, out) < 0)
		goto fail;
	if (r->has_body) {
		if ((out->body = malloc(r->body_len + 1)) == NULL) {
			sluice_set_error(ctx, SLUICE_ERROR_NOMEM,
			    "out of memory");
			goto fail;
		}
		memcpy(out->body, r->body, r->body_len);
		out->body[r->body_len] = '\0';
		out->body_len = r->body_len;
	}
	p->in.off += r->frame_len;
	buf_consumed(&p->in);
	return out->result;
fail:
	sluice_reply_free(out);
	out->result = SLUICE_ERR_IO;
	out->code = 0;
	return SLUICE_ERR_IO;
}

/* Turn the recorded breakage into ctx->err, now that a reply that
 * will never come is wanted. */
static void
report_broken(struct sluice_ctx *ctx)
{
	struct sluice_priv *p = ctx->priv;

	if (p->broken == SLUICE_ERROR_EOF && p->in.len > p->in.off)
		sluice_set_error(ctx, p->broken, "%s in the middle of a reply",
		    p->broken_str);
	else
		sluice_set_error(ctx, p->broken, "%s", p->broken_str);
}

enum sluice_result
sluice_read_reply(struct sluice_ctx *ctx, struct sluice_reply *reply)
{
	struct sluice_priv *p = ctx->priv;
	struct proto_response r;
	enum proto_status st;

	memset(reply, 0, sizeof *reply);
	reply->result = SLUICE_ERR_IO;
	if (sluice_begin(ctx) < 0)
		return SLUICE_ERR_IO;
	if (p->pending == 0) {
		sluice_set_error(ctx, SLUICE_ERROR_ARG, "no reply is pending");
		return reply->result = SLUICE_ERR_ARG;
	}
	if (flush_until(ctx, 0) < 0)
		return SLUICE_ERR_IO;
	for (;;) {
		st = proto_parse_response(unread(p),
		    p->in.len - p->in.off, SLUICE_MAX_BODY, &r);
		if (st == PROTO_OK)
			return take_reply(ctx, &r, reply);
		if (st != PROTO_NEED_MORE) {
			size_t n = line_length(unread(p),
			    p->in.len - p->in.off);
			sluice_set_error(ctx, SLUICE_ERROR_PROTOCOL,
			    "not a sluice reply: \"%.*s\"",
			    n > 60 ? 60 : (int)n, unread(p));
			return SLUICE_ERR_IO;
		}
		if (p->broken) {
			report_broken(ctx);
			return SLUICE_ERR_IO;
		}
		if (io_read(ctx) == 0 && io_wait(ctx, POLLIN) < 0)
			return SLUICE_ERR_IO;
	}
}

bool
sluice_reply_ready(struct sluice_ctx *ctx)
{
	struct sluice_priv *p = ctx->priv;
	struct proto_response r;

	if (ctx->err != SLUICE_ERROR_NONE && ctx->err != SLUICE_ERROR_ARG)
		return true;
	if (p->pending == 0)
		return false;
	/* A whole reply already buffered needs no system call. */
	if (proto_parse_response(unread(p), p->in.len - p->in.off,
		SLUICE_MAX_BODY, &r) != PROTO_NEED_MORE)
		return true;
	if (p->out.len > p->out.off)
		(void)io_write(ctx);
	(void)io_read(ctx);
	if (p->broken)
		return true;
	return proto_parse_response(unread(p),
	    p->in.len - p->in.off, SLUICE_MAX_BODY, &r) != PROTO_NEED_MORE;
}

void
sluice_reply_free(struct sluice_reply *reply)
{
	free(reply->body);
	reply->body = NULL;
	reply->body_len = 0;
}

void
sluice_msg_free(struct sluice_msg *msg)
{
	free(msg->body);
	memset(msg, 0, sizeof *msg);
}
