/*
 * conn_io.h - a connection's socket: reading into its input buffer,
 * writing its output, and which events are armed.  Private to conn.c
 * and conn_io.c; the rest of the daemon sees conn.h.
 */
#ifndef SLUICE_CONN_IO_H
#define SLUICE_CONN_IO_H

#include "conn.h"

/*
 * Read iff the state, the output and the input bound allow: at once, or
 * within a pass as it ends (conn_io_arm).
 */
void conn_io_update(struct conn *c);

/* Arm or disarm the read and close events as conn_io_update() says. */
void conn_io_arm(struct conn *c);

/* The event callbacks conn_new() registers. */
void conn_io_readcb(evutil_socket_t fd, short what, void *arg);
void conn_io_writecb(evutil_socket_t fd, short what, void *arg);
void conn_io_hupcb(evutil_socket_t fd, short what, void *arg);

/*
 * conn.c: serve buffered requests until one waits, input runs out or
 * max (at most a run's share) have been served; then c goes to the back
 * of the run list.  Returns the steps taken (at least 1).
 */
int conn_run_requests(struct conn *c, int max);

/* conn.c: the pass (conn.h).  Begin, then end: run the run list, flush. */
void conn_pass_begin(struct server *s);
void conn_pass_end(struct server *s);

/* conn.c: put c on the run list (its buffered requests run this pass). */
void conn_schedule(struct conn *c);

/* conn.c: write c's output at the end of this pass. */
void conn_flush_later(struct conn *c);

#endif
