/*
 * sluice_priv.h - what the parts of libsluice share; not installed.
 *
 * sluice.c owns the context: connecting, settings, the error state.
 * sluice_io.c owns the connection's bytes: buffers, socket I/O, and
 * turning what comes back into struct sluice_reply; on a TLS
 * connection its socket reads and writes go through sluice_tls.c.
 * sluice_cmd.c owns the requests: formatting each command into the
 * output buffer, and the blocking calls built from one append and one
 * read.
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
