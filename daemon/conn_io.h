/*
 * conn_io.h - a connection's socket: reading into its input buffer,
 * writing its output, and which events are armed.  Private to conn.c
 * and conn_io.c; the rest of the daemon sees conn.h.
 */
#ifndef SLUICE_CONN_IO_H
#define SLUICE_CONN_IO_H

#include "conn.h"

/*
 * Read iff the state, the output and the input bound allow: the events
 * are armed as the pass ends (conn_io_arm), once however often the
 * state changed.
 */
void conn_io_update(struct conn *c);

/*
 * Arm or disarm the read and close events as the connection's state
 * says (and, on TLS, the write event: tls_events()).
 */
void conn_io_arm(struct conn *c);

/* The event callbacks conn_new() registers. */
void conn_io_readcb(evutil_socket_t fd, short what, void *arg);
void conn_io_writecb(evutil_socket_t fd, short what, void *arg);
void conn_io_hupcb(evutil_socket_t fd, short what, void *arg);

/* conn.c: input c may read now (its bound, the memory budget). */
size_t conn_input_room(struct conn *c);

/*
 * conn.c: serve buffered requests until one waits, input runs out or
 * max (at most a run's share) have been served; then c goes to the back
 * of the run list.  Returns the steps taken (at least 1).
 */
int conn_run_requests(struct conn *c, int max);

/* conn.c: put c at the back of the run list (it runs in this pass). */
void conn_schedule(struct conn *c);

/* conn.c: write c's output at the end of this pass. */
void conn_flush_later(struct conn *c);

#endif
