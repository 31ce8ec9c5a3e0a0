/*
 * conn.h - one client connection: its state machine, input loop and
 * replies.
 *
 * The input loop frames requests straight out of the connection's
 * input buffer, hands each complete one to cmd_dispatch(), and stops
 * when the handler parks the connection (CONN_WAIT_ROOM,
 * CONN_WAIT_MESSAGE), when input runs out, or when unsent output passes
 * the high-water mark.  A wait ends through deliver.c (see deliver.h),
 * which answers and calls conn_wake(): that answers nothing itself but
 * puts the connection back to reading and on the server's run list.
 *
 * The pass ends every iteration of the event loop that did anything:
 * the event callbacks of the iteration (reads, timers, signals) run a
 * connection's own requests, and what they wake goes on the run list;
 * then the pass (the server's run event, activated behind them) runs
 * each woken connection's buffered requests in turn (FIFO), which may
 * wake more, until nothing is runnable or CONN_PASS_REQUESTS requests
 * have been served (the rest goes on after the loop has polled once, so
 * a busy pair cannot starve other sockets).  Only then are the events
 * of every connection touched armed, and its output written, once
 * each.  So a producer and a consumer pipelined through a queue of
 * capacity 1 alternate in memory, without a system call per message,
 * and consumers woken by many producers' messages in one iteration
 * take them in one run each.
 *
 * Invariants, asserted whenever the state changes: a connection in a
 * queue's line (wait.queue set) is in a wait state and only then; in
 * CONN_WAIT_ROOM its request is a PUT whose whole frame is buffered;
 * in CONN_WAIT_MESSAGE its request is a GET or RESERVE and the queue
 * has no ready message (queue.h); CONN_CLOSING is never left.
 *
 * The socket side (reading into the input, writing the output, which
 * events are armed) is conn_io.c; on a TLS connection it goes through
 * tls.c, with the same bounds.
 *
 * The socket is driven with plain libevent events and evbuffers, not a
 * bufferevent: libevent 2.1's evbuffer_read() reads at most 4096 bytes
 * per call (after an ioctl), and a bufferevent re-arms its write event
 * around every flush; both cost several syscalls per pipelined burst.
 */
#ifndef SLUICE_CONN_H
#define SLUICE_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "guard.h"
#include "log.h"
#include "msg.h"
#include "queue.h"
#include "request.h"
#include "server.h"

enum conn_state {
	CONN_READ_LINE,	   /* the next request line */
	CONN_READ_BODY,	   /* the rest of the body of a PUT being served */
	CONN_DISCARD_BODY, /* the end of a body nobody will store */
	CONN_WAIT_ROOM,	   /* a PUT parked until its queue has room; its
			    * frame stays buffered and the socket unread */
	CONN_WAIT_MESSAGE, /* a GET or RESERVE until a message comes */
	CONN_CLOSING,	   /* its output to drain; then it is freed */
};

struct tls_conn;
struct ssl_ctx_st;

/*
 * A held answer: output from byte `pos` on (counted from the first byte
 * the connection ever answered) waits until the log is durable to lsn.
 */
struct conn_hold {
	uint64_t lsn;
	uint64_t pos;
};

struct conn {
	struct server *server;
	TAILQ_ENTRY(conn) link; /* server's list of connections */
	TAILQ_ENTRY(conn) hold_link; /* server's list of those holding */
	TAILQ_ENTRY(conn) runlink;   /* server's run list, while runnable */
	TAILQ_ENTRY(conn) flushlink; /* ran this pass: to flush at its end */
	int fd;
	struct tls_conn *tls;	/* NULL: plain TCP */
	struct evbuffer *in;	/* read, not yet consumed */
	struct evbuffer *out;	/* answered, not yet written */
	struct event *rev;	/* readable (persistent, added while reading) */
	struct event *wev;      /* writable (added while output is pending) */
	struct event *hup;	/* peer closed: watched while a waiting
				 * consumer is not read (input bound) */
	size_t in_bound;	/* input held at most (read-ahead or request) */
	enum conn_state state;
	char line[PROTO_LINE_MAX + 1]; /* the current line, split in place */
	struct proto_request req;      /* the request being served */
	/*
	 * Where its body is: body_off bytes into the input (its line, not
	 * yet consumed), then body_len bytes and term_len of terminator.
	 * body_ptr points at it while the whole frame was contiguous when
	 * the request was dispatched; NULL once anything may have moved.
	 */
	const char *body_ptr;
	size_t body_off;
	size_t term_len;
	/* CONN_DISCARD_BODY: what is left to skip, and the reply after. */
	struct {
		uint64_t left;
		char reply[160];
	} discard;
	/* CONN_WAIT_*: its place in the queue's line, and since when. */
	struct waiter wait;
	struct event *timer;      /* wait timeout, guard.h's deadlines, and
	                           * the deferred free */
	uint64_t deadline_ms;     /* when the wait times out (0: never) */
	uint64_t timer_due_ms;    /* when timer fires, while pending */
	bool timer_current;       /* timer was armed for the current wait */
	struct guard guard;       /* request, idle and auth deadlines */
	struct msg_list reserved; /* its reservations, oldest first */
	size_t nreserved;
	uint64_t reserved_bytes;  /* their bodies */
	bool authenticated;
	const struct acl_token *who; /* its token (NULL: none configured) */
	struct acl *acl;	     /* who's acl, referenced */
	uint64_t changed_at; /* server->changes after its last change */
	size_t budget_counted; /* its buffers, as the budget counts them */
	size_t shared_out;     /* of its output: shared answers (answer.h) */
	bool eof;	     /* the client shut down its sending side */
	bool output_stalled; /* reading paused until output drains */
	bool runnable;       /* on the run list */
	bool to_flush;       /* on the flush list */
	bool reading;	     /* rev is added */
	bool writing;	     /* wev is added */
	bool out_blocked;    /* TLS: output left after the last write */
	bool watching_hup;   /* hup is added */
	/*
	 * Answers held for the durable log (persist.h), a FIFO in a ring:
	 * output before holds[hold_head].pos may be written, the rest
	 * waits (and counts toward output_high like any output).
	 */
	struct conn_hold *holds;
	size_t hold_head, nholds, hold_cap;
	uint64_t out_sent; /* output bytes written so far */
	bool holding;      /* in the server's holding list */
	bool holding_released; /* closing: free once the output is out */
	char peer[64];       /* its address, for the log */
	uint64_t since_ms;   /* when it connected */
	uint64_t nrequests;  /* requests served */
	struct log_budget log_budget; /* its debug lines (log.h) */
	bool budget_paused;  /* not read until memory frees (budget.h) */
	TAILQ_ENTRY(conn) budget_link; /* the budget's paused list */
};

/*
 * A debug line about c, "client <address>: ...", within c's allowance
 * of lines a second (log.h); the lines held back are counted.
 */
void conn_debug(struct conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Accept fd as a new connection of s; NULL (fd closed) on failure. */
struct conn *conn_new(struct server *s, int fd);

/*
 * Requests served in one pass by the connections on the run list
 * before the pass yields to the event loop (see the top of this file).
 */
#define CONN_PASS_REQUESTS 4096

/* Run the pass again if requests wait (after a snapshot's pause). */
void conn_pass_resume(struct server *s);

/* The pass (the run event): run the run list, arm events, flush. */
void conn_run_pass(struct server *s);

/*
 * Speak TLS with ctx on c, just made by conn_new(): nothing is read
 * but the handshake until it is done.  False when out of memory.
 */
bool conn_start_tls(struct conn *c, struct ssl_ctx_st *ctx);

/* Append a status line "<code> <token>[ <arg>]" to the output. */
void conn_reply(struct conn *c, int code, const char *token,
    const char *arg);

/* Same, with a hint "retry_after_ms=<n>" after the argument. */
void conn_reply_full(struct conn *c, struct queue *q);

/* True in either wait state. */
static inline bool
conn_waiting(const struct conn *c)
{
	return c->state == CONN_WAIT_ROOM || c->state == CONN_WAIT_MESSAGE;
}

/*
 * Park the connection on q in wait state `wait` (CONN_WAIT_ROOM or
 * CONN_WAIT_MESSAGE), with a timeout of timeout_ms if has_timeout.
 */
void conn_park(struct conn *c, struct queue *q, enum conn_state wait,
    bool has_timeout, uint64_t timeout_ms);

/*
 * End the connection's wait (already answered), resume reading and put
 * it on the run list: its buffered requests run later in this pass,
 * never inside the caller.  Only deliver.c calls it: the one door out
 * of waiting.
 */
void conn_wake(struct conn *c);

/*
 * The buffered body of the current PUT, consumed with its line and
 * terminator: copied to dst (body_len bytes), moved to the end of the
 * evbuffer out, or skipped.
 */
void conn_copy_body(struct conn *c, char *dst);
void conn_move_body(struct conn *c, struct evbuffer *out);
void conn_skip_body(struct conn *c);

/*
 * The answer about to be appended reports a change whose record ends at
 * lsn: hold it, and all later output, until the log is durable there.
 */
void conn_hold_until(struct conn *c, uint64_t lsn);

/* The log moved: write the held answers it made durable, everywhere. */
void conn_release_held(struct server *s);

/* Output bytes that may be written now (the rest is held). */
size_t conn_sendable(const struct conn *c);

/* Write what output the socket takes now; arm the write event for the rest. */
void conn_flush(struct conn *c);

/* Add m to c's reservations (the newest). */
void conn_hold(struct conn *c, struct msg *m);

/* Take m out of c's reservations. */
void conn_release(struct conn *c, struct msg *m);

/* Stop reading; free the connection once its output is flushed. */
void conn_close(struct conn *c);

/* Free the connection now, whatever its output. */
void conn_free(struct conn *c);

#endif
