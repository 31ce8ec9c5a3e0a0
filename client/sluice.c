/*
 * sluice.c - libsluice's context: connecting, settings, error state,
 * and names.  The I/O is in sluice_io.c and the commands in
 * sluice_cmd.c; see sluice.h for the API and sluice_priv.h for what
 * the three share.
 */
#include <errno.h>
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

int
sluice_set_error(struct sluice_ctx *ctx, int err, const char *fmt, ...)
{
	va_list ap;

	ctx->err = err;
	va_start(ap, fmt);
	vsnprintf(ctx->errstr, sizeof ctx->errstr, fmt, ap);
	va_end(ap);
	return -1;
}

int
sluice_begin(struct sluice_ctx *ctx)
{
	if (ctx->err == SLUICE_ERROR_ARG) {
		ctx->err = SLUICE_ERROR_NONE;
		ctx->errstr[0] = '\0';
	}
	return ctx->err != SLUICE_ERROR_NONE ? -1 : 0;
}

/* Connect one address, waiting up to timeout_ms (0: no limit of our
 * own).  Returns the socket, or -1 with errno set. */
static int
connect_addr(const struct addrinfo *ai, int timeout_ms)
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
		n = poll(&pfd, 1, timeout_ms > 0 ? timeout_ms : -1);
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

struct sluice_ctx *
sluice_connect(const char *host, int port, int timeout_ms)
{
	struct addrinfo hints = { 0 }, *res, *ai;
	struct sluice_ctx *ctx;
	char portstr[16];
	int rc, one = 1, saved = ECONNREFUSED;

	ctx = calloc(1, sizeof *ctx);
	if (ctx == NULL || (ctx->priv = calloc(1, sizeof *ctx->priv)) == NULL)
		goto nomem;
	ctx->fd = -1;
	ctx->priv->window = SLUICE_DEFAULT_WINDOW;
	ctx->priv->kinds = calloc(SLUICE_DEFAULT_WINDOW,
	    sizeof *ctx->priv->kinds);
	if (ctx->priv->kinds == NULL)
		goto nomem;
	if (host == NULL)
		host = SLUICE_DEFAULT_HOST;
	if (port < 0 || port > 65535) {
		sluice_set_error(ctx, SLUICE_ERROR_CONNECT, "bad port %d",
		    port);
		return ctx;
	}
	snprintf(portstr, sizeof portstr, "%d", port);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((rc = getaddrinfo(host, portstr, &hints, &res)) != 0) {
		sluice_set_error(ctx, SLUICE_ERROR_CONNECT, "%s: %s", host,
		    rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		return ctx;
	}
	for (ai = res; ai != NULL && ctx->fd < 0; ai = ai->ai_next)
		if ((ctx->fd = connect_addr(ai, timeout_ms)) < 0)
			saved = errno;
	freeaddrinfo(res);
	if (ctx->fd < 0) {
		sluice_set_error(ctx, SLUICE_ERROR_CONNECT,
		    "cannot connect to %s:%d: %s", host, port,
		    strerror(saved));
		return ctx;
	}
	/* Requests are whole lines written at once; do not hold them
	 * back waiting for the previous reply's ACK. */
	setsockopt(ctx->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return ctx;
nomem:
	if (ctx != NULL)
		free(ctx->priv);
	free(ctx);
	return NULL;
}

void
sluice_free(struct sluice_ctx *ctx)
{
	if (ctx == NULL)
		return;
	if (ctx->fd >= 0)
		close(ctx->fd);
	free(ctx->priv->in.data);
	free(ctx->priv->out.data);
	free(ctx->priv->kinds);
	free(ctx->priv);
	free(ctx);
}

void
sluice_set_io_timeout(struct sluice_ctx *ctx, int ms)
{
	ctx->priv->io_timeout_ms = ms > 0 ? ms : 0;
}

int
sluice_set_window(struct sluice_ctx *ctx, unsigned n)
{
	struct sluice_priv *p = ctx->priv;
	enum proto_cmd *k;

	if (sluice_begin(ctx) < 0)
		return -1;
	if (n == 0 || p->pending > 0)
		return sluice_set_error(ctx, SLUICE_ERROR_ARG,
		    n == 0 ? "window must be at least 1"
			   : "cannot resize the window with replies pending");
	if ((k = realloc(p->kinds, n * sizeof *k)) == NULL)
		return sluice_set_error(ctx, SLUICE_ERROR_NOMEM,
		    "out of memory");
	p->kinds = k;
	p->window = n;
	p->head = 0;
	return 0;
}

const char *
sluice_status_line(const struct sluice_ctx *ctx)
{
	return ctx->priv->last_line;
}

unsigned
sluice_window(const struct sluice_ctx *ctx)
{
	return ctx->priv->window;
}

unsigned
sluice_pending(const struct sluice_ctx *ctx)
{
	return ctx->priv->pending;
}

const char *
sluice_result_name(enum sluice_result r)
{
	static const char *const names[] = {
		[SLUICE_OK] = "OK",
		[SLUICE_EXISTS] = "EXISTS",
		[SLUICE_DROPPED] = "DROPPED",
		[SLUICE_EMPTY] = "EMPTY",
		[SLUICE_BAD_REQUEST] = "BAD_REQUEST",
		[SLUICE_UNAUTHORIZED] = "UNAUTHORIZED",
		[SLUICE_FORBIDDEN] = "FORBIDDEN",
		[SLUICE_NO_QUEUE] = "NO_QUEUE",
		[SLUICE_NO_MSG] = "NO_MSG",
		[SLUICE_CONFLICT] = "CONFLICT",
		[SLUICE_TOO_LARGE] = "TOO_LARGE",
		[SLUICE_FULL] = "FULL",
		[SLUICE_BUSY] = "BUSY",
		[SLUICE_SHUTTING_DOWN] = "SHUTTING_DOWN",
		[SLUICE_INTERNAL] = "INTERNAL",
		[SLUICE_ERR_IO] = "ERR_IO",
		[SLUICE_ERR_ARG] = "ERR_ARG",
	};

	if ((unsigned)r >= sizeof names / sizeof names[0])
		return "?";
	return names[r];
}
