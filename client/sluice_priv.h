/*
 * sluice_priv.h - what the parts of libsluice share; not installed.
 *
 * sluice.c owns the context: connecting, settings, the error state.
 * sluice_io.c owns the connection's bytes: buffers, socket I/O, and
 * turning what comes back into struct sluice_reply; on a TLS
 * connection its socket reads and writes go through sluice_tls.c.
 * sluice_cmd.c owns the requests: formatting each command into the
 * output buffer, and the blocking calls built from one append and one
 * read.  sluice_group.c owns the servers of a replication group: the
 * list, (re)connecting, and failover's retries around a blocking
 * call.  sluice_shard.c maps queues to groups.
 *
 * Invariant: pending counts every request appended and not yet
 * answered, sent or not, and kinds[] holds their commands oldest
 * first; pending <= window always.
 */
#ifndef SLUICE_PRIV_H
#define SLUICE_PRIV_H

#include <stdarg.h>
#include <stdbool.h>
#include <sys/types.h>

#include "proto.h"
#include "sluice.h"

/* A byte buffer; the live bytes are data[off..len). */
struct sluice_buf {
	char *data;
	size_t off;
	size_t len;
	size_t cap;
};

/* Bytes kept of a status line and of a leader hint (host:port). */
#define SLUICE_LINE_KEEP 256
#define SLUICE_LEADER_KEEP 272
/* Servers in one group's list: a Raft group has at most 9 members,
 * and a list is typed by people; more is a mistake. */
#define SLUICE_SERVERS_MAX 32
/* The client-side kind of a CLUSTER request in the kinds[] ring; the
 * protocol table (proto.h) knows only the version 1.1 commands. */
#define SLUICE_CMD_CLUSTER PROTO_CMD_COUNT

/* One server of a group. */
struct sluice_server {
	char host[256];
	int port;
};

/* Whether failover may send a blocking call's request again after its
 * connection broke before the answer. */
enum sluice_retry {
	SLUICE_RETRY_NEVER, /* GET, RESERVE, ACK, NACK, DELETE, PURGE */
	SLUICE_RETRY_PUT,   /* only with allow_duplicates */
	SLUICE_RETRY_SAFE,  /* doing it twice is doing it once */
};

/* The request of the blocking call under way, kept to be sent again. */
struct sluice_call {
	bool active; /* a blocking call is under way */
	bool saved;  /* line/body hold its request */
	enum sluice_retry retry;
	uint64_t deadline_ms; /* failover gives up then; 0 until the
	                       * first failure */
	unsigned attempts;    /* connections made or tried for it */
	enum proto_cmd cmd;
	size_t line_len;
	char line[PROTO_LINE_MAX];
	const void *body; /* the caller's, valid during the call */
	size_t body_len;
};

struct sluice_ctx {
	enum sluice_result err; /* the last local error, SLUICE_OK if none */
	char errstr[160];       /* why, for people */
	int fd;                 /* the socket, -1 when none */
	int64_t io_timeout_ms;  /* < 0: none */
	unsigned window;	/* most requests in flight */
	unsigned pending;	/* appended, reply not yet read */
	unsigned head;		/* kinds[head] is the oldest pending */
	enum proto_cmd *kinds;	/* ring of window entries */
	struct sluice_buf out;	/* requests not yet written */
	struct sluice_buf in;	/* bytes read, not yet parsed */
	/*
	 * The connection broke (EOF, reset, failed write) but replies it
	 * delivered before may still be buffered: they are handed out
	 * first, and only a read that needs more sets err from here.
	 */
	enum sluice_result broken; /* SLUICE_OK while healthy */
	char broken_str[160];
	/* The last reply read: status line, hints. */
	char last_line[SLUICE_LINE_KEEP];
	int64_t last_retry_after_ms; /* -1: none */
	bool has_leader;
	char last_leader[SLUICE_LEADER_KEEP];
	char host[256];		/* as given to sluice_connect(): TLS checks
				 * the server's certificate names it */
	/* TLS (sluice_tls.c); ssl is NULL on a plain connection. */
	struct ssl_ctx_st *ssl_ctx;
	struct ssl_st *ssl;
	struct bio_method_st *bio_method;
	short tls_wants;	/* POLLIN/POLLOUT: what a blocked call awaits */
	char tls_why[120];	/* why the last TLS call failed */
	/* The group (sluice_group.c). */
	struct sluice_server *servers; /* the list, nservers long */
	size_t nservers;
	size_t cur;   /* servers[cur] is (or was) the one used,
	               * unless at_hint */
	bool at_hint; /* connected to a leader= address */
	struct sluice_server hint_server; /* that address */
	char server[SLUICE_LEADER_KEEP];  /* "host:port" in use */
	int64_t connect_timeout_ms;
	int64_t failover_ms; /* 0: off */
	bool allow_dups;
	char *token; /* sluice_auth()'s, for reconnections */
	bool tls;    /* sluice_start_tls() was called: */
	char *tls_ca, *tls_cert, *tls_key; /* its files, for reconnections */
	int64_t tls_timeout_ms;
	struct sluice_call call;
};

/* CREATE's options; a has_ flag says the option was set. */
struct sluice_queue_opts {
	bool has_capacity;
	bool has_max_bytes;
	bool has_lease_ms;
	uint64_t capacity;
	uint64_t max_bytes;
	uint64_t lease_ms;
	enum proto_policy policy;
	bool has_policy;
	bool has_max_deliveries;
	bool has_dead_letter;
	uint64_t max_deliveries;
	char dead_letter[PROTO_NAME_MAX + 1];
};

/* Internal functions stay out of the shared library's symbol table. */
#define SLUICE_HIDDEN __attribute__((visibility("hidden")))

/* Set ctx->err and ctx->errstr; returns err for the callers' tails. */
SLUICE_HIDDEN enum sluice_result sluice_set_error(struct sluice_ctx *ctx,
    enum sluice_result err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Clear a refusal left by the previous call; returns the error that
 * stays when the context is dead, else SLUICE_OK. */
SLUICE_HIDDEN enum sluice_result sluice_begin(struct sluice_ctx *ctx);

/*
 * Queue one request: the line (without terminator), then, when body is
 * not NULL, the body.  Checks the window; writes out what is above the
 * output high mark.  Returns SLUICE_OK or the local error.
 */
SLUICE_HIDDEN enum sluice_result sluice_queue_request(struct sluice_ctx *ctx,
    enum proto_cmd cmd, const char *line, size_t line_len, const void *body,
    size_t body_len);

/*
 * Open a TCP connection to host:port into ctx->fd (closed first),
 * waiting up to timeout_ms.  Returns SLUICE_OK or SLUICE_ERR_CONNECT
 * with ctx->err set.
 */
SLUICE_HIDDEN enum sluice_result sluice_dial(struct sluice_ctx *ctx,
    const char *host, int port, int64_t timeout_ms);

/*
 * Parse one server, "host", "host:port", "[v6]" or "[v6]:port" (s, n
 * bytes; port when it names none) into *out.  false when malformed.
 */
SLUICE_HIDDEN bool sluice_server_parse(const char *s, size_t n, int port,
    struct sluice_server *out);

/*
 * Take the list of servers in host (see sluice_connect()) into ctx and
 * connect the first that answers.  Returns SLUICE_OK or the local
 * error, with ctx->err set.
 */
SLUICE_HIDDEN enum sluice_result sluice_group_open(struct sluice_ctx *ctx,
    const char *host, int port, int64_t timeout_ms);

/*
 * Start a blocking call with its retry policy: clear a refusal,
 * connect again when failover is on and the connection is gone, and
 * refuse while pipelined replies are pending.  Returns SLUICE_OK or
 * the error the call returns.
 */
SLUICE_HIDDEN enum sluice_result sluice_call_begin(struct sluice_ctx *ctx,
    enum sluice_retry retry);

/*
 * Read the reply of the blocking call begun (once its append returned
 * res), following NOT_LEADER and broken connections as failover
 * allows.  Returns the result with *reply set (result >= 0), or a
 * local error with *reply NULL.
 */
SLUICE_HIDDEN enum sluice_result sluice_call_finish(struct sluice_ctx *ctx,
    enum sluice_result res, struct sluice_reply **reply);

/* A request kind's name, for messages (CLUSTER included). */
SLUICE_HIDDEN const char *sluice_cmd_name(enum proto_cmd cmd);

/* A timeout in ms as poll() takes it: < 0 none, capped at INT_MAX. */
SLUICE_HIDDEN int sluice_poll_ms(int64_t timeout_ms);

/*
 * recv() and send() through TLS, with the same returns (-1 with errno
 * EAGAIN when blocked: ctx->tls_wants says on what; EPROTO: see
 * ctx->tls_why).
 */
SLUICE_HIDDEN ssize_t sluice_tls_recv(struct sluice_ctx *ctx, void *buf,
    size_t len);
SLUICE_HIDDEN ssize_t sluice_tls_send(struct sluice_ctx *ctx,
    const void *buf, size_t len);

/* Plaintext OpenSSL has decoded and not yet handed out. */
SLUICE_HIDDEN size_t sluice_tls_pending(struct sluice_ctx *ctx);

/* End TLS (close_notify, if the socket takes it) and free its state. */
SLUICE_HIDDEN void sluice_tls_free(struct sluice_ctx *ctx);

#endif
