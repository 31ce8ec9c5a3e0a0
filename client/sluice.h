/*
 * sluice.h - libsluice, the C client library of the sluice broker.
 *
 * Three layers, as in hiredis:
 *   sluice_connect()            one TCP connection, one context (to
 *                               one of a replication group's servers)
 *   sluice_put(), sluice_get()  blocking calls, one per command, each
 *                               answering a typed enum sluice_result
 *   sluice_append_*() +         pipelining: queue requests without
 *   sluice_read_reply()         waiting, read their replies in order
 *
 * Results: every call that talks to the server returns an enum
 * sluice_result.  Values >= 0 are the server's answers; values < 0
 * (SLUICE_ERR_*) are local errors, when there is no answer.
 * SLUICE_ERR_ARG means the call was refused before anything was sent
 * (a bad queue name, a full window): the connection is still usable
 * and the next call clears it.  Any other SLUICE_ERR_* means the
 * connection is dead: every later call fails the same way and the
 * context is only good for sluice_free(), unless failover is on (see
 * sluice_set_failover()): then the next blocking call connects again.
 * sluice_error() and
 * sluice_errstr() say which local error came last, and why.
 *
 * The library never prints, never exits, keeps no global state and
 * raises no SIGPIPE; a context belongs to one thread at a time.
 *
 * ABI: the context and the option set are opaque; the replies and
 * messages the library hands out are allocated by it and freed by it,
 * and new fields are only ever added at their end, so they can grow
 * without breaking programs built against an older header.  Enumerators
 * have fixed values that never change.
 *
 * Timeouts are int64_t milliseconds everywhere: 0 means do not wait,
 * SLUICE_FOREVER (or any negative value) means no bound.
 */
#ifndef SLUICE_H
#define SLUICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The version of this header; configure takes the package version from
 * here.  A program built against it runs with any later library of
 * the same soname (libsluice.so.1), which changes whenever a release
 * breaks the ABI; sluice_version() says which library it runs with.
 */
#define SLUICE_VERSION_MAJOR 0
#define SLUICE_VERSION_MINOR 3
#define SLUICE_VERSION_PATCH 0
#define SLUICE_VERSION_NUMBER                                         \
	((SLUICE_VERSION_MAJOR << 16) | (SLUICE_VERSION_MINOR << 8) | \
	    SLUICE_VERSION_PATCH)

/* The running library's SLUICE_VERSION_NUMBER. */
uint32_t sluice_version(void);

#define SLUICE_DEFAULT_HOST "127.0.0.1"
#define SLUICE_DEFAULT_PORT 7470
/* Requests in flight on one context unless sluice_set_window() says. */
#define SLUICE_DEFAULT_WINDOW 256
/* A timeout: no bound.  PUT: wait for room as long as it takes; GET and
 * RESERVE: wait for a message as long as the protocol allows. */
#define SLUICE_FOREVER ((int64_t)-1)
/* How long a call to a group of servers keeps looking for its leader
 * unless sluice_set_failover() says (see there). */
#define SLUICE_DEFAULT_FAILOVER_MS 10000

/*
 * What a request came to.  The values are fixed: >= 0 the server's
 * answers, grouped by class (0.. done, 100.. the request was wrong,
 * 200.. refused for now), < 0 local errors.
 */
enum sluice_result {
	/* 2xx: done.  QUEUED, MSG, CREATED, ..., and any other 2xx. */
	SLUICE_OK = 0,
	/* 200 EXISTS: CREATE found the same queue. */
	SLUICE_EXISTS = 1,
	/* 202 DROPPED: the queue is full and drop-newest discarded it. */
	SLUICE_DROPPED = 2,
	/* 204 EMPTY: no message in time. */
	SLUICE_EMPTY = 3,

	/* 4xx: the request was wrong and changed nothing.  400, and any
	 * 4xx not listed here. */
	SLUICE_BAD_REQUEST = 100,
	/* 401: AUTH first. */
	SLUICE_UNAUTHORIZED = 101,
	/* 404 NO_QUEUE. */
	SLUICE_NO_QUEUE = 102,
	/* 404 NO_MSG: this connection holds no such reservation. */
	SLUICE_NO_MSG = 103,
	/* 409: the queue exists with other settings. */
	SLUICE_CONFLICT = 104,
	/* 413: the body can never fit (see sluice_reply's count). */
	SLUICE_TOO_LARGE = 105,
	/* 410 CLOSED (protocol 1.1): the queue is closed (for GET and
	 * RESERVE: and drained); it will not succeed on it again. */
	SLUICE_CLOSED = 106,
	/* 403 FORBIDDEN <queue> (sluiced's permissions): the token may not
	 * do this on that queue. */
	SLUICE_FORBIDDEN = 107,
	/* 404 NO_MEMBER <id> (sluiced's CLUSTER REMOVE): no such member. */
	SLUICE_NO_MEMBER = 108,

	/* 5xx: refused for now; the same request may succeed later.  The
	 * connection stays usable, except after SLUICE_BUSY. */
	/* 503 FULL: see sluice_retry_after_ms(). */
	SLUICE_FULL = 200,
	/* 503 TOO_MANY_RESERVED: this connection holds its limit of
	 * reservations; ACK or NACK some first. */
	SLUICE_TOO_MANY_RESERVED = 201,
	/* 503 TOO_MANY_QUEUES: the server holds its limit of queues. */
	SLUICE_TOO_MANY_QUEUES = 202,
	/* 503 SHUTTING_DOWN: the server takes no new messages. */
	SLUICE_SHUTTING_DOWN = 203,
	/* 503 NOT_LEADER (protocol 1.1): ask the leader, which
	 * sluice_leader() names when the server said. */
	SLUICE_NOT_LEADER = 204,
	/* 503 BUSY: the server is at its connection limit and closes
	 * this connection. */
	SLUICE_BUSY = 205,
	/* Any other 503. */
	SLUICE_UNAVAILABLE = 206,
	/* 500, and any other 5xx. */
	SLUICE_INTERNAL = 207,

	/* Local errors: no answer from the server.  Refused before
	 * anything was sent; the connection is still usable. */
	SLUICE_ERR_ARG = -1,
	/* Out of memory. */
	SLUICE_ERR_NOMEM = -2,
	/* Cannot resolve the host or connect. */
	SLUICE_ERR_CONNECT = -3,
	/* A read or write failed. */
	SLUICE_ERR_IO = -4,
	/* The server closed (or reset) the connection. */
	SLUICE_ERR_EOF = -5,
	/* The server sent what is not a sluice reply, or not the one the
	 * request calls for. */
	SLUICE_ERR_PROTOCOL = -6,
	/* Nothing moved within the I/O timeout. */
	SLUICE_ERR_TIMEOUT = -7,
	/* TLS: a certificate or key that does not load, a server whose
	 * certificate or name does not check out, a failed handshake, a
	 * bad record. */
	SLUICE_ERR_TLS = -8,
	/*
	 * Failover (sluice_set_failover()): the connection broke after the
	 * request went out and before its answer came, and the request is
	 * not one the library repeats.  It may have been done: a PUT
	 * stored, a GET's message taken and lost, an ACK applied.  The
	 * context is not dead: the next blocking call connects again.
	 */
	SLUICE_ERR_LOST = -9,
};

/* The name of a result ("OK", "FULL", "ERR_EOF", ...), for messages. */
const char *sluice_result_name(enum sluice_result r);

/* One connection; opaque. */
struct sluice_ctx;

/*
 * Connect to host:port (host NULL: SLUICE_DEFAULT_HOST), giving up after
 * timeout_ms (SLUICE_FOREVER: the system's own limit).  Returns a
 * context, NULL only when out of memory; check sluice_error() before
 * use.
 *
 * host may also be the servers of one replication group, a list
 * "host:port,host:port,..." (an entry without ":port" takes port; an
 * IPv6 address is written "[::1]:7470"), optionally named
 * "NAME=host:port,..." (the name only matters to sharding, see
 * sluice_shard_pick()).  The servers are tried in turn, each for up to
 * timeout_ms, and the first that accepts the connection is used; a
 * context given two servers or more has failover on (see
 * sluice_set_failover()).
 */
struct sluice_ctx *sluice_connect(const char *host, int port,
    int64_t timeout_ms);

/*
 * Failover: for up to timeout_ms (0: off) from its first failure
 * (not from its start: a PUT may wait long for room), a blocking call
 * answered 503 NOT_LEADER (which did nothing) is sent again to the
 * leader the answer names (also one not in the list), else to the next
 * server of the list, with a short backoff; so are 503 BUSY and
 * SHUTTING_DOWN when the list has several servers.
 * A connection that cannot be made or that breaks moves to the next
 * server likewise.  A request whose connection broke after it went
 * out is sent again only when that is safe: PING, STATS, PEEK, AUTH,
 * CREATE, CLOSE and sluice_cluster_status() always, PUT only with
 * sluice_set_allow_duplicates(); GET, RESERVE, ACK, NACK, DELETE,
 * PURGE and the membership changes answer SLUICE_ERR_LOST instead.
 * After a broken connection, the next blocking call connects again
 * (re-doing TLS and the last sluice_auth()); a new connection holds
 * none of the old one's reservations (the server gave them back).
 * Pipelining calls never reconnect by themselves: see
 * sluice_reconnect().  The default is SLUICE_DEFAULT_FAILOVER_MS for a
 * context given two servers or more, 0 for one server (which then
 * behaves as in libsluice 0.2: a broken connection leaves the context
 * only good for sluice_free()).
 */
void sluice_set_failover(struct sluice_ctx *ctx, int64_t timeout_ms);

/*
 * Let failover send a PUT again whose connection broke before its
 * answer (default: no).  The first may have been stored: the queue
 * then holds the message twice, under two ids.  For producers whose
 * consumers tolerate duplicates and that must not stop at a failover.
 */
void sluice_set_allow_duplicates(struct sluice_ctx *ctx, bool allow);

/*
 * Connect again, for pipelining users after a broken connection or a
 * NOT_LEADER: to the leader the last reply named, else to the next
 * server of the list, trying them in turn for up to the failover time
 * (at least one round).  Replies still pending are dropped (their
 * requests' fate is unknown) and reservations are lost.  Returns
 * SLUICE_OK, or the local error.
 */
enum sluice_result sluice_reconnect(struct sluice_ctx *ctx);

/* The server the context talks to (or last tried), "host:port". */
const char *sluice_server(const struct sluice_ctx *ctx);

/*
 * Speak TLS on a context just connected, before any request: check the
 * server's certificate against the CA certificates in ca_file (PEM;
 * NULL: the system's) and the host given to sluice_connect() (a name,
 * also sent as SNI, or an IP address), and present cert_file with the
 * key in key_file (NULL: in cert_file) when the server asks for a
 * client certificate (mutual TLS; cert_file NULL: none).  Each step of
 * the handshake waits up to timeout_ms.  Returns SLUICE_OK, or the
 * local error (SLUICE_ERR_TLS and why, in sluice_errstr(); the
 * connection is then dead).  Over TLS, sluice_fd() may show nothing
 * to read while a reply waits decoded in the library: ask
 * sluice_reply_ready() before polling it.
 */
enum sluice_result sluice_start_tls(struct sluice_ctx *ctx,
    const char *ca_file, const char *cert_file, const char *key_file,
    int64_t timeout_ms);

/* Close the connection and free the context (NULL: nothing). */
void sluice_free(struct sluice_ctx *ctx);

/* The last local error (SLUICE_OK when none), and why, for people. */
enum sluice_result sluice_error(const struct sluice_ctx *ctx);
const char *sluice_errstr(const struct sluice_ctx *ctx);

/* The socket, -1 when none: for poll(), never for reading or writing. */
int sluice_fd(const struct sluice_ctx *ctx);

/*
 * Fail a blocking wait with SLUICE_ERR_TIMEOUT when nothing moves for
 * timeout_ms (SLUICE_FOREVER, the default: wait as long as it takes).
 * Set it above any timeout given to the server, or a waiting PUT or
 * GET will look like a dead server.
 */
void sluice_set_io_timeout(struct sluice_ctx *ctx, int64_t timeout_ms);

/*
 * Keep at most n requests in flight (n >= 1); an append beyond that is
 * refused until a reply is read.  SLUICE_ERR_ARG while replies are
 * pending or for n 0.
 */
enum sluice_result sluice_set_window(struct sluice_ctx *ctx, unsigned n);

/* The window: the most requests in flight. */
unsigned sluice_window(const struct sluice_ctx *ctx);

/* Requests sent or queued whose replies have not been read. */
unsigned sluice_pending(const struct sluice_ctx *ctx);

/*
 * About the last reply read, by a blocking call or sluice_read_reply():
 * its status line ("409 CONFLICT jobs", without terminator, cut at 255
 * bytes; "" before the first), its retry_after_ms hint (-1 when it had
 * none), and the leader=<host>:<port> hint of 503 NOT_LEADER (NULL when
 * none).  Valid until the next reply is read.
 */
const char *sluice_status_line(const struct sluice_ctx *ctx);
int64_t sluice_retry_after_ms(const struct sluice_ctx *ctx);
const char *sluice_leader(const struct sluice_ctx *ctx);

/*
 * A message taken by sluice_get() or sluice_reserve().  Allocated by
 * the library: free it with sluice_msg_free(); fields may be added at
 * the end.
 */
struct sluice_msg {
	uint64_t id;
	size_t len;
	/* The body, NUL-terminated past len. */
	char *body;
};

void sluice_msg_free(struct sluice_msg *msg);

/* CREATE's options: an opaque set; only the options set are sent. */
struct sluice_queue_opts;

/* A new, empty option set; NULL when out of memory. */
struct sluice_queue_opts *sluice_queue_opts_new(void);
void sluice_queue_opts_free(struct sluice_queue_opts *opts);

/* Set one option.  SLUICE_ERR_ARG for a value the protocol cannot
 * carry (above 2^63-1) or an unknown policy. */
enum sluice_result sluice_queue_opts_capacity(struct sluice_queue_opts *o,
    uint64_t capacity);
enum sluice_result sluice_queue_opts_max_bytes(struct sluice_queue_opts *o,
    uint64_t max_bytes);
/* "block", "reject", "drop-oldest" or "drop-newest". */
enum sluice_result sluice_queue_opts_policy(struct sluice_queue_opts *o,
    const char *policy);
/* sluiced's extension: reservations expire after lease_ms. */
enum sluice_result sluice_queue_opts_lease_ms(struct sluice_queue_opts *o,
    uint64_t lease_ms);
/*
 * Protocol 1.1: a message delivered max_deliveries times that comes
 * back (NACK, its connection closing, its lease running out) is
 * dead-lettered: moved to the dead_letter queue, or discarded when
 * there is none.  0: no limit.  SLUICE_ERR_ARG for a bad queue name.
 */
enum sluice_result sluice_queue_opts_max_deliveries(
    struct sluice_queue_opts *o, uint64_t max_deliveries);
enum sluice_result sluice_queue_opts_dead_letter(struct sluice_queue_opts *o,
    const char *queue);

/* Blocking calls.  Each refuses (SLUICE_ERR_ARG) while replies are
 * pending, since the next reply would be another request's. */

/*
 * PUT a message.  timeout_ms bounds the wait for room in a block queue.
 * On SLUICE_OK, *id (may be NULL) is its id.  On SLUICE_FULL,
 * sluice_retry_after_ms() is the server's hint.
 */
enum sluice_result sluice_put(struct sluice_ctx *ctx, const char *queue,
    const void *body, size_t len, int64_t timeout_ms, uint64_t *id);

/*
 * GET the oldest message, waiting up to timeout_ms for one.  SLUICE_OK
 * sets *msg to a message the caller frees with sluice_msg_free();
 * otherwise *msg is NULL.
 */
enum sluice_result sluice_get(struct sluice_ctx *ctx, const char *queue,
    int64_t timeout_ms, struct sluice_msg **msg);

/* RESERVE: like sluice_get(), but the message stays reserved to this
 * connection until sluice_ack() or sluice_nack(). */
enum sluice_result sluice_reserve(struct sluice_ctx *ctx, const char *queue,
    int64_t timeout_ms, struct sluice_msg **msg);

/* Acknowledge (delete) or give back a reserved message. */
enum sluice_result sluice_ack(struct sluice_ctx *ctx, uint64_t id);
enum sluice_result sluice_nack(struct sluice_ctx *ctx, uint64_t id);

/*
 * Protocol 1.1: give back a reserved message to be ready again only
 * after delay_ms (0: at once, as sluice_nack()).  Either NACK answers
 * SLUICE_OK whatever became of the message; sluice_dead_lettered()
 * then says whether it was dead-lettered instead.
 */
enum sluice_result sluice_nack_delay(struct sluice_ctx *ctx, uint64_t id,
    uint64_t delay_ms);

/*
 * After a NACK's reply: true when the server said the message was
 * dead-lettered (past its queue's max_deliveries) rather than given
 * back; *moved (may be NULL) says whether it went to the dead-letter
 * queue (false: discarded).
 */
bool sluice_dead_lettered(const struct sluice_ctx *ctx, bool *moved);

/*
 * Protocol 1.1: CLOSE a queue, the end of its stream: PUTs into it get
 * SLUICE_CLOSED from then on, and GET and RESERVE get SLUICE_CLOSED
 * once it is drained.  SLUICE_OK also when it already was closed.
 */
enum sluice_result sluice_close(struct sluice_ctx *ctx, const char *queue);

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
 * the JSON text (malloc'd, NUL-terminated; free() it; NULL unless
 * SLUICE_OK) and *len (may be NULL) its length.
 */
enum sluice_result sluice_stats(struct sluice_ctx *ctx, const char *queue,
    char **json, size_t *len);

/*
 * PEEK (sluiced's extension): the first n ready messages
 * of a queue (n 1..100; 0: the server's default, 1), in the order GET
 * would take them, without taking them.  *json and *len as for
 * sluice_stats(): an object {"queue", "depth", "messages": [{"id",
 * "bytes", "body_base64", and "cut": true when the body shown is only
 * its start}]}.  SLUICE_NO_QUEUE when there is no such queue (PEEK
 * never creates one); SLUICE_ERR_ARG for n above 100.
 */
enum sluice_result sluice_peek(struct sluice_ctx *ctx, const char *queue,
    unsigned n, char **json, size_t *len);

enum sluice_result sluice_ping(struct sluice_ctx *ctx);
/* AUTH; the token is kept, for the connections failover makes. */
enum sluice_result sluice_auth(struct sluice_ctx *ctx, const char *token);

/*
 * sluiced's replication (CLUSTER): the group's state as JSON (*json and
 * *len as for sluice_stats(); any member answers); add a member, which
 * answers once the change is accepted (the member then catches up as
 * a spare and becomes a voter: the status shows when); remove one.  Membership
 * changes only the leader makes (failover finds it); SLUICE_CONFLICT
 * when the id is a member already or a change is under way,
 * SLUICE_NO_MEMBER when there is no such member, SLUICE_BAD_REQUEST
 * for a bad address or a server that is not in a cluster.  Addresses
 * are "a.b.c.d:port".
 */
enum sluice_result sluice_cluster_status(struct sluice_ctx *ctx, char **json,
    size_t *len);
enum sluice_result sluice_cluster_add(struct sluice_ctx *ctx, uint64_t id,
    const char *raft_addr, const char *client_addr);
enum sluice_result sluice_cluster_remove(struct sluice_ctx *ctx, uint64_t id);

/*
 * Sharding: which of n groups (n >= 1) holds a queue, by rendezvous
 * hashing.  groups[i] is a group as given to sluice_connect(); its key
 * is NAME when it is written "NAME=servers", else the whole string as
 * written.  score = splitmix64 finalizer (FNV-1a-64 (key "\n" queue));
 * the highest score wins, the lowest index on a tie.  protocol/
 * PROTOCOL.md specifies it for clients in every language, with test
 * vectors; it never changes.  Adding a group moves only the queues
 * that the new group wins, about 1/n of them.  Returns the index (0
 * when n is 0 or queue NULL).
 */
size_t sluice_shard_pick(const char *queue, const char *const groups[],
    size_t n);

/* The score of queue on the group whose key (not the whole group
 * string) is key[0..key_len). */
uint64_t sluice_shard_score(const char *key, size_t key_len, const char *queue);

/*
 * A sharded handle: one context per group, each connected by
 * sluice_connect(groups[i], port, timeout_ms) with failover on, and
 * the queue's group found by sluice_shard_pick().  NULL when out of
 * memory or n is 0; a group that could not be reached has a context in
 * error, which its next blocking call tries again.
 */
struct sluice_shards;
struct sluice_shards *sluice_shards_new(const char *const groups[], size_t n,
    int port, int64_t timeout_ms);
void sluice_shards_free(struct sluice_shards *s);
size_t sluice_shards_count(const struct sluice_shards *s);
/* The context of group i (i < count), e.g. to set TLS or AUTH on. */
struct sluice_ctx *sluice_shards_ctx(struct sluice_shards *s, size_t i);
/* The context of the group that holds queue. */
struct sluice_ctx *sluice_shards_for(struct sluice_shards *s,
    const char *queue);

/* QUIT: the server answers and closes; only sluice_free() is left. */
enum sluice_result sluice_quit(struct sluice_ctx *ctx);

/*
 * Pipelining.  Each append queues one request and returns SLUICE_OK,
 * or a local error: SLUICE_ERR_ARG for a bad argument or a full window
 * (read a reply, then append again), another SLUICE_ERR_* when the
 * connection failed.  Requests go out as the output buffer fills, on
 * sluice_flush(), and before any wait for a reply; replies come back
 * in request order.  While it writes, the library also reads, so a
 * server answering faster than it is fed never deadlocks either side.
 */
enum sluice_result sluice_append_put(struct sluice_ctx *ctx, const char *queue,
    const void *body, size_t len, int64_t timeout_ms);
enum sluice_result sluice_append_get(struct sluice_ctx *ctx, const char *queue,
    int64_t timeout_ms);
enum sluice_result sluice_append_reserve(struct sluice_ctx *ctx,
    const char *queue, int64_t timeout_ms);
enum sluice_result sluice_append_ack(struct sluice_ctx *ctx, uint64_t id);
enum sluice_result sluice_append_nack(struct sluice_ctx *ctx, uint64_t id);
enum sluice_result sluice_append_nack_delay(struct sluice_ctx *ctx,
    uint64_t id, uint64_t delay_ms);
enum sluice_result sluice_append_close(struct sluice_ctx *ctx,
    const char *queue);
enum sluice_result sluice_append_create(struct sluice_ctx *ctx,
    const char *queue, const struct sluice_queue_opts *opts);
enum sluice_result sluice_append_delete(struct sluice_ctx *ctx,
    const char *queue);
enum sluice_result sluice_append_purge(struct sluice_ctx *ctx,
    const char *queue);
enum sluice_result sluice_append_stats(struct sluice_ctx *ctx,
    const char *queue);
enum sluice_result sluice_append_peek(struct sluice_ctx *ctx, const char *queue,
    unsigned n);
enum sluice_result sluice_append_ping(struct sluice_ctx *ctx);
enum sluice_result sluice_append_auth(struct sluice_ctx *ctx,
    const char *token);
enum sluice_result sluice_append_quit(struct sluice_ctx *ctx);

/* Write every queued request (reading replies meanwhile into the
 * buffer).  SLUICE_OK or a local error. */
enum sluice_result sluice_flush(struct sluice_ctx *ctx);

/*
 * One reply read by sluice_read_reply().  Allocated by the library:
 * free it with sluice_reply_free(); fields may be added at the end.
 */
struct sluice_reply {
	enum sluice_result result;
	/* 200, 503, ... */
	int code;
	/* The status line as sent, without its \r\n. */
	const char *line;
	/* QUEUED <id>, MSG <id>. */
	uint64_t id;
	/* PURGED <count>, TOO_LARGE <limit>. */
	uint64_t count;
	/* The retry_after_ms hint, -1 when none. */
	int64_t retry_after_ms;
	/* NOT_LEADER's leader=<host>:<port> hint, or NULL. */
	const char *leader;
	/* MSG, JSON: the body, NUL-terminated past body_len; else NULL. */
	char *body;
	size_t body_len;
};

/*
 * Read the reply to the oldest pending request, flushing and waiting
 * as needed.  On a server's answer (result >= 0) sets *reply, freed by
 * sluice_reply_free(), and returns its result; on a local error sets
 * *reply to NULL (SLUICE_ERR_ARG when nothing is pending).
 */
enum sluice_result sluice_read_reply(struct sluice_ctx *ctx,
    struct sluice_reply **reply);

/* True when sluice_read_reply() can return without waiting: a whole
 * reply has arrived, or the connection has failed.  Never blocks. */
bool sluice_reply_ready(struct sluice_ctx *ctx);

/* Free a reply (NULL: nothing). */
void sluice_reply_free(struct sluice_reply *reply);

#ifdef __cplusplus
}
#endif

#endif
