/*
 * sluice_group.c - libsluice's side of a replication group: the list of
 * servers a context was given, connecting to the first that answers,
 * and failover around a blocking call: following 503 NOT_LEADER's
 * leader= hint (also to a server not in the list), moving to the next
 * server when there is no hint or a connection fails, with a short
 * backoff, and sending the call's request again where that is safe.
 *
 * A blocking call is sluice_call_begin(), one append (whose request
 * line sluice_queue_request() keeps in ctx->call), then
 * sluice_call_finish().  Only a request that did nothing (NOT_LEADER,
 * BUSY, SHUTTING_DOWN) or whose repetition is harmless is sent again;
 * the rest end in SLUICE_ERR_LOST when their connection breaks.
 * Invariant: ctx->call.active only between those two functions.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sluice_priv.h"

/* The first pause between two connection attempts of one call, and
 * the longest: short enough that a failover costs little more than
 * the election, long enough not to hammer a group without a leader. */
#define SLUICE_BACKOFF_FIRST_MS 10
#define SLUICE_BACKOFF_MAX_MS 500

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Parse a port, 1..65535, from s[0..n). */
static bool
parse_port(const char *s, size_t n, int *port)
{
	long v = 0;

	if (n == 0 || n > 5)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	if (v < 1 || v > 65535)
		return false;
	*port = (int)v;
	return true;
}

bool
sluice_server_parse(const char *s, size_t n, int port,
    struct sluice_server *out)
{
	const char *host = s, *colon = NULL;
	size_t hlen = n;

	if (n > 0 && s[0] == '[') {
		const char *end = memchr(s, ']', n);
		if (end == NULL)
			return false;
		host = s + 1;
		hlen = (size_t)(end - host);
		if (end + 1 < s + n) {
			if (end[1] != ':')
				return false;
			colon = end + 1;
		}
	} else if ((colon = memchr(s, ':', n)) != NULL &&
	    memchr(colon + 1, ':', n - (size_t)(colon + 1 - s)) != NULL) {
		/* Two colons without brackets: a bare IPv6 address. */
		colon = NULL;
	} else if (colon != NULL) {
		hlen = (size_t)(colon - s);
	}
	if (colon != NULL &&
	    !parse_port(colon + 1, n - (size_t)(colon + 1 - s), &port))
		return false;
	if (hlen == 0 || hlen >= sizeof out->host ||
	    memchr(host, ' ', hlen) != NULL || memchr(host, ',', hlen) != NULL)
		return false;
	memcpy(out->host, host, hlen);
	out->host[hlen] = '\0';
	out->port = port;
	return true;
}

/* Take the list of servers in host into ctx->servers.  Returns
 * SLUICE_OK or the error, with ctx->err set. */
static enum sluice_result
parse_list(struct sluice_ctx *ctx, const char *host, int port)
{
	const char *p = host, *eq = strchr(host, '=');
	size_t n = 1;

	/* "NAME=list": the name is sharding's key, not a server. */
	if (eq != NULL)
		p = eq + 1;
	for (const char *c = p; *c != '\0'; c++)
		n += *c == ',';
	if (n > SLUICE_SERVERS_MAX)
		return sluice_set_error(ctx, SLUICE_ERR_CONNECT,
		    "%zu servers in a group; at most %d", n,
		    SLUICE_SERVERS_MAX);
	if ((ctx->servers = calloc(n, sizeof *ctx->servers)) == NULL)
		return sluice_set_error(ctx, SLUICE_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		size_t len = strcspn(p, ",");
		if (!sluice_server_parse(p, len, port, &ctx->servers[i]))
			return sluice_set_error(ctx, SLUICE_ERR_CONNECT,
			    "bad server \"%.*s\" in \"%.80s\" (want host, "
			    "host:port or [ipv6]:port)",
			    (int)(len > 80 ? 80 : len), p, host);
		p += len + (p[len] == ',');
	}
	ctx->nservers = n;
	return SLUICE_OK;
}

/* Forget the connection: its bytes, its pending requests, TLS, the
 * error it left.  The last reply's hints stay. */
static void
conn_reset(struct sluice_ctx *ctx)
{
	sluice_tls_free(ctx);
	if (ctx->fd >= 0)
		close(ctx->fd);
	ctx->fd = -1;
	ctx->in.off = ctx->in.len = 0;
	ctx->out.off = ctx->out.len = 0;
	ctx->pending = 0;
	ctx->head = 0;
	ctx->broken = SLUICE_OK;
	ctx->broken_str[0] = '\0';
	ctx->tls_wants = 0;
	ctx->err = SLUICE_OK;
	ctx->errstr[0] = '\0';
}

/*
 * Connect to one server, then TLS and AUTH as the context had them.
 * Waits up to the connect timeout, and not past deadline.  Returns
 * SLUICE_OK or the local error.
 */
static enum sluice_result
connect_one(struct sluice_ctx *ctx, const struct sluice_server *srv,
    uint64_t deadline)
{
	int64_t timeout = ctx->connect_timeout_ms, left;
	struct sluice_reply *r;
	enum sluice_result res;
	char line[PROTO_LINE_MAX];
	int n;

	conn_reset(ctx);
	left = (int64_t)(deadline - now_ms());
	if (deadline > now_ms() && (timeout < 0 || timeout > left))
		timeout = left;
	if ((res = sluice_dial(ctx, srv->host, srv->port, timeout)) != 0)
		return res;
	if (ctx->tls &&
	    (res = sluice_start_tls(ctx, ctx->tls_ca, ctx->tls_cert,
	         ctx->tls_key, ctx->tls_timeout_ms)) != SLUICE_OK)
		return res;
	if (ctx->token == NULL)
		return SLUICE_OK;
	/* The token was checked (one word) when sluice_auth() kept it. */
	n = snprintf(line, sizeof line, "AUTH %s", ctx->token);
	if (n < 0 || (size_t)n + 2 > sizeof line)
		return sluice_set_error(ctx, SLUICE_ERR_CONNECT,
		    "the AUTH token is too long to send");
	if ((res = sluice_queue_request(ctx, PROTO_CMD_AUTH, line, (size_t)n,
	         NULL, 0)) != SLUICE_OK ||
	    (res = sluice_read_reply(ctx, &r)) < 0)
		return res;
	sluice_reply_free(r);
	if (res != SLUICE_OK)
		return sluice_set_error(ctx, SLUICE_ERR_CONNECT,
		    "%s refused the token: %s", ctx->server,
		    sluice_status_line(ctx));
	return SLUICE_OK;
}

enum sluice_result
sluice_group_open(struct sluice_ctx *ctx, const char *host, int port,
    int64_t timeout_ms)
{
	enum sluice_result res;

	ctx->connect_timeout_ms = timeout_ms;
	snprintf(ctx->host, sizeof ctx->host, "%s", host);
	if ((res = parse_list(ctx, host, port)) != SLUICE_OK)
		return res;
	ctx->failover_ms = ctx->nservers > 1 ? SLUICE_DEFAULT_FAILOVER_MS : 0;
	for (size_t i = 0; i < ctx->nservers; i++) {
		ctx->cur = i;
		if ((res = sluice_dial(ctx, ctx->servers[i].host,
		         ctx->servers[i].port, timeout_ms)) == SLUICE_OK)
			return SLUICE_OK;
	}
	if (ctx->nservers > 1) {
		char last[sizeof ctx->errstr];

		memcpy(last, ctx->errstr, sizeof last);
		sluice_set_error(ctx, SLUICE_ERR_CONNECT,
		    "no server of %.60s answers (the last: %.80s)", host, last);
	}
	return ctx->err;
}

/* Sleep before the attempt-th connection of a call (0: none). */
static void
backoff(unsigned attempt, uint64_t deadline)
{
	uint64_t ms, now = now_ms();

	if (attempt == 0 || now >= deadline)
		return;
	ms = attempt > 6 ? SLUICE_BACKOFF_MAX_MS
	                 : (uint64_t)SLUICE_BACKOFF_FIRST_MS << (attempt - 1);
	if (ms > SLUICE_BACKOFF_MAX_MS)
		ms = SLUICE_BACKOFF_MAX_MS;
	if (ms > deadline - now)
		ms = deadline - now;
	(void)poll(NULL, 0, (int)ms);
}

/*
 * Connect again: to the leader the last reply named when follow_hint,
 * else to the next server of the list, and on to the following ones,
 * until one answers or, after at least one round, deadline passes.
 * *attempts counts the connections tried (backoff grows with it).
 */
static enum sluice_result
reconnect(struct sluice_ctx *ctx, uint64_t deadline, bool follow_hint,
    unsigned *attempts)
{
	struct sluice_server target;
	enum sluice_result res = SLUICE_ERR_CONNECT;
	size_t tried = 0;

	if (ctx->nservers == 0)
		return ctx->err;
	if (follow_hint && ctx->has_leader &&
	    sluice_server_parse(ctx->last_leader, strlen(ctx->last_leader),
	        SLUICE_DEFAULT_PORT, &ctx->hint_server)) {
		backoff((*attempts)++, deadline);
		ctx->at_hint = true;
		if ((res = connect_one(ctx, &ctx->hint_server, deadline)) ==
		    SLUICE_OK)
			return res;
	}
	ctx->has_leader = false;
	while (tried < ctx->nservers || now_ms() < deadline) {
		backoff((*attempts)++, deadline);
		ctx->cur = (ctx->cur + 1) % ctx->nservers;
		ctx->at_hint = false;
		target = ctx->servers[ctx->cur];
		tried++;
		if ((res = connect_one(ctx, &target, deadline)) == SLUICE_OK ||
		    res == SLUICE_ERR_NOMEM || res == SLUICE_ERR_TLS)
			return res;
	}
	return res;
}

/* True when the context has no connection a request could use. */
static bool
conn_gone(struct sluice_ctx *ctx)
{
	char b;
	ssize_t n;

	switch (ctx->err) {
	case SLUICE_ERR_CONNECT:
	case SLUICE_ERR_EOF:
	case SLUICE_ERR_IO:
	case SLUICE_ERR_TIMEOUT:
	case SLUICE_ERR_LOST:
		return true;
	default:
		break;
	}
	if (ctx->fd < 0 || ctx->broken != SLUICE_OK)
		return true;
	if (ctx->ssl != NULL || ctx->pending > 0)
		return false;
	/* An idle connection the server closed (a leader that stepped
	 * down does): found now, nothing is lost by moving on. */
	n = recv(ctx->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	return n == 0 ||
	    (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
	        errno != EINTR);
}

/*
 * The call's deadline: the failover time from its first failure, not
 * from its start, since a PUT may wait for room or a GET for a message
 * for long before its server fails.
 */
static uint64_t
failing(struct sluice_ctx *ctx)
{
	if (ctx->call.deadline_ms == 0)
		ctx->call.deadline_ms = now_ms() + (uint64_t)ctx->failover_ms;
	return ctx->call.deadline_ms;
}

enum sluice_result
sluice_call_begin(struct sluice_ctx *ctx, enum sluice_retry retry)
{
	enum sluice_result res;

	if (ctx->err == SLUICE_ERR_ARG) {
		ctx->err = SLUICE_OK;
		ctx->errstr[0] = '\0';
	}
	memset(&ctx->call, 0, offsetof(struct sluice_call, line));
	ctx->call.retry = retry;
	if (ctx->failover_ms > 0 && conn_gone(ctx) &&
	    (res = reconnect(ctx, failing(ctx), false, &ctx->call.attempts)) !=
	        SLUICE_OK)
		return res;
	if (ctx->err != SLUICE_OK)
		return ctx->err;
	if (ctx->pending > 0)
		return sluice_set_error(ctx, SLUICE_ERR_ARG,
		    "%u pipelined replies are pending; read them first",
		    ctx->pending);
	ctx->call.active = true;
	return SLUICE_OK;
}

/* May the call's request go out again after its connection broke? */
static bool
may_resend(const struct sluice_ctx *ctx)
{
	return ctx->call.retry == SLUICE_RETRY_SAFE ||
	    (ctx->call.retry == SLUICE_RETRY_PUT && ctx->allow_dups);
}

/* A refusal that did nothing and that another server may not give. */
static bool
try_elsewhere(const struct sluice_ctx *ctx, enum sluice_result res)
{
	if (res == SLUICE_NOT_LEADER)
		return true;
	return ctx->nservers > 1 &&
	    (res == SLUICE_BUSY || res == SLUICE_SHUTTING_DOWN);
}

/* The call's connection broke before its answer: SLUICE_ERR_LOST. */
static enum sluice_result
lost(struct sluice_ctx *ctx)
{
	char why[sizeof ctx->errstr];

	memcpy(why, ctx->errstr, sizeof why);
	return sluice_set_error(ctx, SLUICE_ERR_LOST,
	    "%s: %.60s before the answer to %s; it may have been done",
	    ctx->server, why, sluice_cmd_name(ctx->call.cmd));
}

enum sluice_result
sluice_call_finish(struct sluice_ctx *ctx, enum sluice_result res,
    struct sluice_reply **reply)
{
	const struct sluice_call *c = &ctx->call;
	bool hint;

	*reply = NULL;
	for (;;) {
		if (res == SLUICE_OK)
			res = sluice_read_reply(ctx, reply);
		if (ctx->failover_ms <= 0 || !c->active || !c->saved)
			break;
		if (try_elsewhere(ctx, res)) {
			if (now_ms() >= failing(ctx))
				break;
			hint = res == SLUICE_NOT_LEADER;
			sluice_reply_free(*reply);
			*reply = NULL;
		} else if (res == SLUICE_ERR_EOF || res == SLUICE_ERR_IO) {
			if (!may_resend(ctx) || now_ms() >= failing(ctx)) {
				res = lost(ctx);
				break;
			}
			hint = false;
		} else {
			break;
		}
		res = reconnect(ctx, c->deadline_ms, hint, &ctx->call.attempts);
		if (res == SLUICE_OK)
			res = sluice_queue_request(ctx, c->cmd, c->line,
			    c->line_len, c->body, c->body_len);
	}
	ctx->call.active = false;
	return res;
}

enum sluice_result
sluice_reconnect(struct sluice_ctx *ctx)
{
	uint64_t deadline =
	    now_ms() + (uint64_t)(ctx->failover_ms > 0 ? ctx->failover_ms : 0);
	unsigned attempts = 0;

	if (ctx->servers == NULL)
		return ctx->err;
	return reconnect(ctx, deadline, true, &attempts);
}

void
sluice_set_failover(struct sluice_ctx *ctx, int64_t timeout_ms)
{
	ctx->failover_ms = timeout_ms > 0 ? timeout_ms : 0;
}

void
sluice_set_allow_duplicates(struct sluice_ctx *ctx, bool allow)
{
	ctx->allow_dups = allow;
}

const char *
sluice_server(const struct sluice_ctx *ctx)
{
	return ctx->server;
}
