/*
 * conn_io.h - a connection's socket: reading into its input buffer,
 * writing its output, and which events are armed.  Private to conn.c
 * and conn_io.c; the rest of the daemon sees conn.h.
 */
#ifndef SLUICE_CONN_IO_H
#define SLUICE_CONN_IO_H

#include "conn.h"

/* Read iff the state, the output and the input bound allow. */
void conn_io_update(struct conn *c);

/* The event callbacks conn_new() registers. */
void conn_io_readcb(evutil_socket_t fd, short what, void *arg);
void conn_io_writecb(evutil_socket_t fd, short what, void *arg);
void conn_io_hupcb(evutil_socket_t fd, short what, void *arg);

/* conn.c: input c may read now (its bound, the memory budget). */
size_t conn_input_room(struct conn *c);

/* conn.c: serve buffered requests until one waits or input runs out. */
void conn_run_requests(struct conn *c);

#endif
