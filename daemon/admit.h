/*
 * admit.h - what happens to a client socket as it is accepted, beyond
 * the total connection limit: the per-address limit
 * (max_connections_per_address), so one address cannot take every
 * slot, and TCP keepalive (tcp_keepalive_s), so a peer that vanished
 * without a FIN is noticed and its reservations come back.
 *
 * The server keeps a count of open connections per client address and
 * remembers, by descriptor, which address each connection counts
 * against: admit_client() when it is accepted, admit_release() when it
 * is closed.  Addresses other than IPv4 and IPv6 (a UNIX socket under
 * socket activation) are not limited.
 */
#ifndef SLUICE_ADMIT_H
#define SLUICE_ADMIT_H

#include <stdbool.h>
#include <sys/socket.h>

struct server;
struct admit;

/*
 * Count fd (a new client from sa) against its address and set its
 * keepalive.  False, counting nothing, when its address already has
 * max_connections_per_address connections open: refuse it.
 */
bool admit_client(struct server *s, int fd, const struct sockaddr *sa);

/* The connection on fd is closing: it no longer counts. */
void admit_release(struct server *s, int fd);

/* Free the counts (every connection is closed by then). */
void admit_free(struct admit *a);

#endif
