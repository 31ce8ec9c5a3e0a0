/*
 * sluice.h - libsluice, the C client library of the sluice broker.
 *
 * Three layers, as in hiredis:
 *   sluice_connect()            one TCP connection, one context
 *   sluice_put(), sluice_get()  blocking calls, one per command, each
 *                               answering a typed enum sluice_result
 *   sluice_append_*() +         pipelining: queue requests without
 *   sluice_read_reply()         waiting, read their replies in order
 *
 * Errors: a call that gets no reply returns SLUICE_ERR_IO and leaves
 * the reason in ctx->err / ctx->errstr; the connection is then dead
 * (every later call fails the same way) and the context is only good
 * for sluice_free().  A call refused before anything was sent (a bad
 * queue name, a full window) returns SLUICE_ERR_ARG or -1 with ctx->err
 * SLUICE_ERROR_ARG; that leaves the connection usable, and the next call
 * clears it.  The library never prints, never exits, keeps no global
 * state and raises no SIGPIPE; a context belongs to one thread at a time.
 *
 * Responses are parsed by protocol/response.h, the same code the daemon
 * tests run, so the library has no framing of its own.
 */
#ifndef SLUICE_H
#define SLUICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SLUICE_DEFAULT_HOST "127.0.0.1"
#define SLUICE_DEFAULT_PORT 7470
/* Requests in flight on one context unless sluice_set_window() says. */
#define SLUICE_DEFAULT_WINDOW 256
/* Pass as timeout_ms: no timeout argument (PUT: wait for room as long
 * as it takes; GET and RESERVE: do not wait). */
#define SLUICE_NO_TIMEOUT (-1)

/* What a request came to: one value per reply the protocol defines. */
enum sluice_result {
	SLUICE_OK,		/* 2xx: done (QUEUED, MSG, CREATED, ...) */
	SLUICE_EXISTS,		/* 200 EXISTS: CREATE found the same queue */
	SLUICE_DROPPED,		/* 202 DROPPED: drop-newest discarded it */
	SLUICE_EMPTY,		/* 204 EMPTY: no message in time */
	SLUICE_BAD_REQUEST,	/* 400, and any 4xx this library does not
				   know */
	SLUICE_UNAUTHORIZED,	/* 401: AUTH first */
	SLUICE_FORBIDDEN,	/* 403: the token may not, on that queue
				   (sluiced's permissions) */
	SLUICE_NO_QUEUE,	/* 404 NO_QUEUE */
	SLUICE_NO_MSG,		/* 404 NO_MSG: no such reservation here */
	SLUICE_CONFLICT,	/* 409: queue exists with other settings */
	SLUICE_TOO_LARGE,	/* 413: the body can never fit */
	SLUICE_FULL,		/* 503 FULL: see retry_after_ms */
	SLUICE_BUSY,		/* 503 BUSY: connection limit; closed */
	SLUICE_SHUTTING_DOWN,	/* 503 SHUTTING_DOWN */
	SLUICE_INTERNAL,	/* 500, and any 5xx this library does not
				   know */
	SLUICE_ERR_IO,		/* no reply: see ctx->err, ctx->errstr */
	SLUICE_ERR_ARG,		/* refused locally, nothing sent */
};

/* What is wrong with the context itself (ctx->err). */
enum sluice_error {
	SLUICE_ERROR_NONE,
	SLUICE_ERROR_ARG,	/* the last call was refused; still usable */
	SLUICE_ERROR_CONNECT,	/* cannot resolve or connect */
	SLUICE_ERROR_IO,	/* a read or write failed */
	SLUICE_ERROR_EOF,	/* the server closed (or reset) the
				   connection */
	SLUICE_ERROR_PROTOCOL,	/* the server sent what is not a reply */
	SLUICE_ERROR_TIMEOUT,	/* no byte moved within the I/O timeout */
	SLUICE_ERROR_NOMEM,
};

struct sluice_priv;

/* One connection.  Only the first three fields are public. */
struct sluice_ctx {
	int err;		/* enum sluice_error */
	char errstr[160];	/* the reason, for people */
	int fd;			/* the socket, -1 when none */
	struct sluice_priv *priv;
};

/*
 * One reply read by sluice_read_reply().  body is malloc'd and
 * NUL-terminated (so text bodies print as they are); free it with
 * sluice_reply_free().
 */
struct sluice_reply {
	enum sluice_result result;
	int code;		/* 200, 503, ...; 0 for SLUICE_ERR_IO */
	char line[160];		/* the status line as sent, for messages
				   (truncated, without \r\n) */
	uint64_t id;		/* QUEUED <id>, MSG <id> */
	uint64_t count;		/* PURGED <count>, TOO_LARGE <limit> */
	bool has_retry_after;	/* 503 FULL carried retry_after_ms */
	uint64_t retry_after_ms;
	char *body;		/* MSG, JSON; else NULL */
	size_t body_len;
};

/* A message taken by sluice_get() or sluice_reserve(). */
struct sluice_msg {
	uint64_t id;
	char *body;		/* malloc'd, NUL-terminated past len */
	size_t len;
};

/* CREATE's options; only those with has_ set are sent. */
struct sluice_queue_opts {
	bool has_capacity;
	bool has_max_bytes;
	bool has_lease_ms;
	uint64_t capacity;
	uint64_t max_bytes;
	uint64_t lease_ms;	/* extension: reservations expire */
	const char *policy;	/* "block", "reject", ...; NULL: default */
};

/*
 * Connect to host:port, giving up after timeout_ms (0: the system's
 * own limit).  Returns a context, NULL only when out of memory; check
 * ctx->err before use.
 */
struct sluice_ctx *sluice_connect(const char *host, int port,
    int timeout_ms);

/* Close the connection and free the context. */
void sluice_free(struct sluice_ctx *ctx);

/*
 * Fail a blocking wait with SLUICE_ERROR_TIMEOUT when no byte moves
 * for ms milliseconds (0, the default: wait as long as it takes).  Set
 * it above any timeout_ms given to the server, or a waiting PUT or GET
 * will look like a dead server.
 */
void sluice_set_io_timeout(struct sluice_ctx *ctx, int ms);

/*
 * Keep at most n requests in flight (n >= 1); an append beyond that is
 * refused until a reply is read.  Returns 0, or -1 when replies are
 * pending or n is 0.
 */
int sluice_set_window(struct sluice_ctx *ctx, unsigned n);

/* The window: the most requests in flight. */
unsigned sluice_window(const struct sluice_ctx *ctx);

/* Requests sent or queued whose replies have not been read. */
unsigned sluice_pending(const struct sluice_ctx *ctx);

/* The status line of the last reply read ("409 CONFLICT jobs"), without
 * its terminator; "" before the first.  For messages and logs. */
const char *sluice_status_line(const struct sluice_ctx *ctx);

/* The name of a result ("OK", "FULL", ...), for messages. */
const char *sluice_result_name(enum sluice_result r);

/* Blocking calls.  Each refuses (SLUICE_ERR_ARG) while replies are
 * pending, since the next reply would be another request's. */

/*
 * PUT a message.  timeout_ms bounds the wait for room in a block queue
 * (SLUICE_NO_TIMEOUT: no bound; 0: none at all).  On SLUICE_OK *id
 * (may be NULL) is its id; on SLUICE_FULL, *retry_after_ms (may be
 * NULL) is the server's hint, 0 when it gave none.
 */
enum sluice_result sluice_put(struct sluice_ctx *ctx, const char *queue,
    const void *body, size_t len, long timeout_ms, uint64_t *id,
    uint64_t *retry_after_ms);

/*
 * GET the oldest message, waiting up to timeout_ms for one (0 or
 * SLUICE_NO_TIMEOUT: not at all).  SLUICE_OK fills *msg, which the
 * caller frees with sluice_msg_free(); SLUICE_EMPTY leaves it zeroed.
 */
enum sluice_result sluice_get(struct sluice_ctx *ctx, const char *queue,
    long timeout_ms, struct sluice_msg *msg);

/* RESERVE: like sluice_get(), but the message stays reserved to this
 * connection until sluice_ack() or sluice_nack(). */
enum sluice_result sluice_reserve(struct sluice_ctx *ctx,
    const char *queue, long timeout_ms, struct sluice_msg *msg);

/* Acknowledge (delete) or give back a reserved message. */
enum sluice_result sluice_ack(struct sluice_ctx *ctx, uint64_t id);
enum sluice_result sluice_nack(struct sluice_ctx *ctx, uint64_t id);

/* CREATE a queue; opts may be NULL.  SLUICE_OK when created,
 * SLUICE_EXISTS when it already was, with the same settings. */
enum sluice_result sluice_create(struct sluice_ctx *ctx, const char *queue,
    const struct sluice_queue_opts *opts);

enum sluice_result sluice_delete(struct sluice_ctx *ctx, const char *queue);

/* PURGE a queue's ready messages; *count (may be NULL) says how many. */
enum sluice_result sluice_purge(struct sluice_ctx *ctx, const char *queue,
    uint64_t *count);

/*
 * STATS of one queue, or of the server when queue is NULL: *json gets
 * the JSON text (malloc'd, NUL-terminated; free() it) and *len (may be
 * NULL) its length.
 */
enum sluice_result sluice_stats(struct sluice_ctx *ctx, const char *queue,
    char **json, size_t *len);

/* STATS parsed by jansson: *out is a new reference (json_decref() it).
 * A reply that is not a JSON object is SLUICE_ERR_IO, protocol error. */
struct json_t;
enum sluice_result sluice_stats_json(struct sluice_ctx *ctx,
    const char *queue, struct json_t **out);

enum sluice_result sluice_ping(struct sluice_ctx *ctx);
enum sluice_result sluice_auth(struct sluice_ctx *ctx, const char *token);

/* QUIT: the server answers and closes; only sluice_free() is left. */
enum sluice_result sluice_quit(struct sluice_ctx *ctx);

/* Free a message's body and zero it. */
void sluice_msg_free(struct sluice_msg *msg);

/*
 * Pipelining.  Each append queues one request and returns 0, or -1
 * with ctx->err set: SLUICE_ERROR_ARG for a bad argument or a full
 * window (read a reply, then append again), anything else when the
 * connection failed.  Requests go out as the output buffer fills, on
 * sluice_flush(), and before any wait for a reply; replies come back
 * in request order.  While it writes, the library also reads, so a
 * server answering faster than it is fed never deadlocks either side.
 */
int sluice_append_put(struct sluice_ctx *ctx, const char *queue,
    const void *body, size_t len, long timeout_ms);
int sluice_append_get(struct sluice_ctx *ctx, const char *queue,
    long timeout_ms);
int sluice_append_reserve(struct sluice_ctx *ctx, const char *queue,
    long timeout_ms);
int sluice_append_ack(struct sluice_ctx *ctx, uint64_t id);
int sluice_append_nack(struct sluice_ctx *ctx, uint64_t id);
int sluice_append_create(struct sluice_ctx *ctx, const char *queue,
    const struct sluice_queue_opts *opts);
int sluice_append_delete(struct sluice_ctx *ctx, const char *queue);
int sluice_append_purge(struct sluice_ctx *ctx, const char *queue);
int sluice_append_stats(struct sluice_ctx *ctx, const char *queue);
int sluice_append_ping(struct sluice_ctx *ctx);
int sluice_append_auth(struct sluice_ctx *ctx, const char *token);
int sluice_append_quit(struct sluice_ctx *ctx);

/* Write every queued request (reading replies meanwhile into the
 * buffer).  Returns 0, or -1 with ctx->err set. */
int sluice_flush(struct sluice_ctx *ctx);

/*
 * Read the reply to the oldest pending request, flushing and waiting
 * as needed.  Fills *reply (body freed by sluice_reply_free()) and
 * returns reply->result; SLUICE_ERR_ARG when nothing is pending,
 * SLUICE_ERR_IO when the connection failed.
 */
enum sluice_result sluice_read_reply(struct sluice_ctx *ctx,
    struct sluice_reply *reply);

/* True when sluice_read_reply() can return without waiting: a whole
 * reply has arrived, or the connection has failed.  Never blocks. */
bool sluice_reply_ready(struct sluice_ctx *ctx);

/* Free a reply's body and zero it. */
void sluice_reply_free(struct sluice_reply *reply);

#ifdef __cplusplus
}
#endif

#endif
