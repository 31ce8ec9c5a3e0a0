/*
 * sluice.c - libsluice's context: connecting, settings, error state,
 * and names.  The I/O is in sluice_io.c and the commands in
 * sluice_cmd.c; see sluice.h for the API and sluice_priv.h for what
 * the three share.
 */
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sluice_priv.h"

uint32_t
sluice_version(void)
{
	return SLUICE_VERSION_NUMBER;
}

enum sluice_result
sluice_set_error(struct sluice_ctx *ctx, enum sluice_result err,
    const char *fmt, ...)
{
	va_list ap;

	ctx->err = err;
	va_start(ap, fmt);
	vsnprintf(ctx->errstr, sizeof ctx->errstr, fmt, ap);
	va_end(ap);
	return err;
}

enum sluice_result
sluice_begin(struct sluice_ctx *ctx)
{
	if (ctx->err == SLUICE_ERR_ARG) {
		ctx->err = SLUICE_OK;
		ctx->errstr[0] = '\0';
	}
	return ctx->err;
}

/* Connect one address, waiting up to timeout_ms (< 0: no limit of our
 * own).  Returns the socket, or -1 with errno set. */
static int
connect_addr(const struct addrinfo *ai, int64_t timeout_ms)
{
	struct pollfd pfd;
	socklen_t len;
	int fd, soerr = 0, n;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0)
		return -1;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return fd;
	if (errno != EINPROGRESS)
		goto fail;
	pfd.fd = fd;
	pfd.events = POLLOUT;
	do
		n = poll(&pfd, 1, sluice_poll_ms(timeout_ms));
	while (n < 0 && errno == EINTR);
	if (n == 0)
		errno = ETIMEDOUT;
	if (n <= 0)
		goto fail;
	len = sizeof soerr;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		goto fail;
	if (soerr == 0)
		return fd;
	errno = soerr;
fail:
	n = errno;
	close(fd);
	errno = n;
	return -1;
}

enum sluice_result
sluice_dial(struct sluice_ctx *ctx, const char *host, int port,
    int64_t timeout_ms)
{
	struct addrinfo hints = { 0 }, *res, *ai;
	char portstr[16];
	int rc, one = 1, saved = ECONNREFUSED;

	if (ctx->fd >= 0)
		close(ctx->fd);
	ctx->fd = -1;
	snprintf(ctx->host, sizeof ctx->host, "%s", host);
	snprintf(ctx->server, sizeof ctx->server,
	    strchr(host, ':') != NULL ? "[%s]:%d" : "%s:%d", host, port);
	if (port < 0 || port > 65535)
		return sluice_set_error(ctx, SLUICE_ERR_CONNECT, "bad port %d",
		    port);
	snprintf(portstr, sizeof portstr, "%d", port);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((rc = getaddrinfo(host, portstr, &hints, &res)) != 0)
		return sluice_set_error(ctx, SLUICE_ERR_CONNECT, "%s: %s", host,
		    rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
	for (ai = res; ai != NULL && ctx->fd < 0; ai = ai->ai_next)
		if ((ctx->fd = connect_addr(ai, timeout_ms)) < 0)
			saved = errno;
	freeaddrinfo(res);
	if (ctx->fd < 0)
		return sluice_set_error(ctx, SLUICE_ERR_CONNECT,
		    "cannot connect to %s: %s", ctx->server, strerror(saved));
	/* Requests are whole lines written at once; do not hold them
	 * back waiting for the previous reply's ACK. */
	setsockopt(ctx->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	/* An earlier server of the list may have failed. */
	ctx->err = SLUICE_OK;
	ctx->errstr[0] = '\0';
	return SLUICE_OK;
}

struct sluice_ctx *
sluice_connect(const char *host, int port, int64_t timeout_ms)
{
	struct sluice_ctx *ctx;

	if ((ctx = calloc(1, sizeof *ctx)) == NULL)
		return NULL;
	ctx->fd = -1;
	ctx->io_timeout_ms = SLUICE_FOREVER;
	ctx->last_retry_after_ms = -1;
	ctx->window = SLUICE_DEFAULT_WINDOW;
	ctx->kinds = calloc(SLUICE_DEFAULT_WINDOW, sizeof *ctx->kinds);
	if (ctx->kinds == NULL) {
		free(ctx);
		return NULL;
	}
	if (host == NULL)
		host = SLUICE_DEFAULT_HOST;
	(void)sluice_group_open(ctx, host, port, timeout_ms);
	if (ctx->err == SLUICE_ERR_NOMEM && ctx->servers == NULL) {
		sluice_free(ctx);
		return NULL;
	}
	return ctx;
}

void
sluice_free(struct sluice_ctx *ctx)
{
	if (ctx == NULL)
		return;
	sluice_tls_free(ctx);
	if (ctx->fd >= 0)
		close(ctx->fd);
	free(ctx->in.data);
	free(ctx->out.data);
	free(ctx->kinds);
	free(ctx->servers);
	free(ctx->token);
	free(ctx->tls_ca);
	free(ctx->tls_cert);
	free(ctx->tls_key);
	free(ctx);
}

enum sluice_result
sluice_error(const struct sluice_ctx *ctx)
{
	return ctx->err;
}

const char *
sluice_errstr(const struct sluice_ctx *ctx)
{
	return ctx->errstr;
}

int
sluice_fd(const struct sluice_ctx *ctx)
{
	return ctx->fd;
}

int
sluice_poll_ms(int64_t timeout_ms)
{
	if (timeout_ms < 0)
		return -1;
	return timeout_ms > INT_MAX ? INT_MAX : (int)timeout_ms;
}

void
sluice_set_io_timeout(struct sluice_ctx *ctx, int64_t timeout_ms)
{
	ctx->io_timeout_ms = timeout_ms < 0 ? SLUICE_FOREVER : timeout_ms;
}

enum sluice_result
sluice_set_window(struct sluice_ctx *ctx, unsigned n)
{
	enum proto_cmd *k;

	if (sluice_begin(ctx) != SLUICE_OK)
		return ctx->err;
	if (n == 0 || ctx->pending > 0)
		return sluice_set_error(ctx, SLUICE_ERR_ARG,
		    n == 0 ? "window must be at least 1"
		           : "cannot resize the window with replies pending");
	if ((k = realloc(ctx->kinds, n * sizeof *k)) == NULL)
		return sluice_set_error(ctx, SLUICE_ERR_NOMEM, "out of memory");
	ctx->kinds = k;
	ctx->window = n;
	ctx->head = 0;
	return SLUICE_OK;
}

const char *
sluice_status_line(const struct sluice_ctx *ctx)
{
	return ctx->last_line;
}

int64_t
sluice_retry_after_ms(const struct sluice_ctx *ctx)
{
	return ctx->last_retry_after_ms;
}

bool
sluice_dead_lettered(const struct sluice_ctx *ctx, bool *moved)
{
	/* A hint: "key=value" after the token; no argument holds an '='. */
	const char *h = strstr(ctx->last_line, " dead_lettered=");

	if (moved != NULL)
		*moved = false;
	if (h == NULL || strncmp(ctx->last_line, "200 ", 4) != 0)
		return false;
	h += strlen(" dead_lettered=");
	if (moved != NULL)
		*moved = strncmp(h, "moved", 5) == 0 &&
		    (h[5] == '\0' || h[5] == ' ');
	return true;
}

const char *
sluice_leader(const struct sluice_ctx *ctx)
{
	return ctx->has_leader ? ctx->last_leader : NULL;
}

unsigned
sluice_window(const struct sluice_ctx *ctx)
{
	return ctx->window;
}

unsigned
sluice_pending(const struct sluice_ctx *ctx)
{
	return ctx->pending;
}

const char *
sluice_result_name(enum sluice_result r)
{
	switch (r) {
	case SLUICE_OK:
		return "OK";
	case SLUICE_EXISTS:
		return "EXISTS";
	case SLUICE_DROPPED:
		return "DROPPED";
	case SLUICE_EMPTY:
		return "EMPTY";
	case SLUICE_BAD_REQUEST:
		return "BAD_REQUEST";
	case SLUICE_UNAUTHORIZED:
		return "UNAUTHORIZED";
	case SLUICE_NO_QUEUE:
		return "NO_QUEUE";
	case SLUICE_NO_MSG:
		return "NO_MSG";
	case SLUICE_CONFLICT:
		return "CONFLICT";
	case SLUICE_TOO_LARGE:
		return "TOO_LARGE";
	case SLUICE_CLOSED:
		return "CLOSED";
	case SLUICE_FORBIDDEN:
		return "FORBIDDEN";
	case SLUICE_NO_MEMBER:
		return "NO_MEMBER";
	case SLUICE_FULL:
		return "FULL";
	case SLUICE_TOO_MANY_RESERVED:
		return "TOO_MANY_RESERVED";
	case SLUICE_TOO_MANY_QUEUES:
		return "TOO_MANY_QUEUES";
	case SLUICE_SHUTTING_DOWN:
		return "SHUTTING_DOWN";
	case SLUICE_NOT_LEADER:
		return "NOT_LEADER";
	case SLUICE_BUSY:
		return "BUSY";
	case SLUICE_UNAVAILABLE:
		return "UNAVAILABLE";
	case SLUICE_INTERNAL:
		return "INTERNAL";
	case SLUICE_ERR_ARG:
		return "ERR_ARG";
	case SLUICE_ERR_NOMEM:
		return "ERR_NOMEM";
	case SLUICE_ERR_CONNECT:
		return "ERR_CONNECT";
	case SLUICE_ERR_IO:
		return "ERR_IO";
	case SLUICE_ERR_EOF:
		return "ERR_EOF";
	case SLUICE_ERR_PROTOCOL:
		return "ERR_PROTOCOL";
	case SLUICE_ERR_TIMEOUT:
		return "ERR_TIMEOUT";
	case SLUICE_ERR_TLS:
		return "ERR_TLS";
	case SLUICE_ERR_LOST:
		return "ERR_LOST";
	}
	return "?";
}

struct sluice_queue_opts *
sluice_queue_opts_new(void)
{
	return calloc(1, sizeof(struct sluice_queue_opts));
}

void
sluice_queue_opts_free(struct sluice_queue_opts *o)
{
	free(o);
}

/* Check a number option: the protocol carries at most 2^63-1. */
static enum sluice_result
opt_number(bool *has, uint64_t *field, uint64_t v)
{
	if (v > (uint64_t)PROTO_NUM_MAX)
		return SLUICE_ERR_ARG;
	*has = true;
	*field = v;
	return SLUICE_OK;
}

enum sluice_result
sluice_queue_opts_capacity(struct sluice_queue_opts *o, uint64_t capacity)
{
	return opt_number(&o->has_capacity, &o->capacity, capacity);
}

enum sluice_result
sluice_queue_opts_max_bytes(struct sluice_queue_opts *o, uint64_t max_bytes)
{
	return opt_number(&o->has_max_bytes, &o->max_bytes, max_bytes);
}

enum sluice_result
sluice_queue_opts_lease_ms(struct sluice_queue_opts *o, uint64_t lease_ms)
{
	return opt_number(&o->has_lease_ms, &o->lease_ms, lease_ms);
}

enum sluice_result
sluice_queue_opts_max_deliveries(struct sluice_queue_opts *o,
    uint64_t max_deliveries)
{
	return opt_number(&o->has_max_deliveries, &o->max_deliveries,
	    max_deliveries);
}

enum sluice_result
sluice_queue_opts_dead_letter(struct sluice_queue_opts *o, const char *queue)
{
	if (queue == NULL || !proto_valid_queue_name(queue, strlen(queue)))
		return SLUICE_ERR_ARG;
	memcpy(o->dead_letter, queue, strlen(queue) + 1);
	o->has_dead_letter = true;
	return SLUICE_OK;
}

enum sluice_result
sluice_queue_opts_policy(struct sluice_queue_opts *o, const char *policy)
{
	int p;

	if (policy == NULL ||
	    (p = proto_policy_parse(policy, strlen(policy))) < 0)
		return SLUICE_ERR_ARG;
	o->policy = (enum proto_policy)p;
	o->has_policy = true;
	return SLUICE_OK;
}
