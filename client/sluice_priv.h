/*
 * sluice_priv.h - what the parts of libsluice share; not installed.
 *
 * sluice.c owns the context: connecting, settings, the error state.
 * sluice_io.c owns the connection's bytes: buffers, socket I/O, and
 * turning what comes back into struct sluice_reply.  sluice_cmd.c owns
 * the requests: formatting each command into the output buffer, and
 * the blocking calls built from one append and one read.
 *
 * Invariant: pending counts every request appended and not yet
 * answered, sent or not, and kinds[] holds their commands oldest
 * first; pending <= window always.
 */
#ifndef SLUICE_PRIV_H
#define SLUICE_PRIV_H

#include <stdarg.h>

#include "proto.h"
#include "sluice.h"

/* A byte buffer; the live bytes are data[off..len). */
struct sluice_buf {
	char *data;
	size_t off;
	size_t len;
	size_t cap;
};

struct sluice_priv {
	int io_timeout_ms;	/* 0: none */
	unsigned window;	/* most requests in flight */
	unsigned pending;	/* appended, reply not yet read */
	unsigned head;		/* kinds[head] is the oldest pending */
	enum proto_cmd *kinds;	/* ring of window entries */
	struct sluice_buf out;	/* requests not yet written */
	struct sluice_buf in;	/* bytes read, not yet parsed */
	/*
	 * The connection broke (EOF, reset, failed write) but replies it
	 * delivered before may still be buffered: they are handed out
	 * first, and only a read that needs more sets ctx->err from here.
	 */
	int broken;		/* enum sluice_error, 0 while healthy */
	char broken_str[160];
	char last_line[160];	/* status line of the last reply read */
};

/* Internal functions stay out of the shared library's symbol table. */
#define SLUICE_HIDDEN __attribute__((visibility("hidden")))

/* Set ctx->err and ctx->errstr; returns -1 for the callers' tails. */
SLUICE_HIDDEN int sluice_set_error(struct sluice_ctx *ctx, int err,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Clear a refusal left by the previous call; -1 if the context is
 * dead (ctx->err stays). */
SLUICE_HIDDEN int sluice_begin(struct sluice_ctx *ctx);

/*
 * Queue one request: the line (without terminator), then, when body is
 * not NULL, the body.  Checks the window; writes out what is above the
 * output high mark.  Returns 0 or -1 with ctx->err set.
 */
SLUICE_HIDDEN int sluice_queue_request(struct sluice_ctx *ctx,
    enum proto_cmd cmd, const char *line, size_t line_len, const void *body,
    size_t body_len);

#endif
