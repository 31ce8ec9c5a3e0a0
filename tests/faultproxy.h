/*
 * faultproxy.h - a fault-injecting TCP proxy between the members of a
 * test cluster, for partitions.
 *
 * One listener per node j: the address every member lists as node j's
 * Raft address, forwarding to the port node j really listens on.
 * libraft's TCP transport opens one-way connections, and the sender
 * first writes a handshake (libraft 0.15, src/uv_tcp_connect.c): u64
 * protocol version (1), u64 sender id, u64 address length, then the
 * address, NUL-padded to 8 bytes, all little-endian.  The proxy reads
 * the first 24 bytes to learn who sends, and so applies rules "block
 * src -> dst":
 *   - a connection of a pair that becomes blocked is cut (RST both
 *     ways), with whatever the proxy held of it;
 *   - a new connection of a blocked pair is accepted and held: what it
 *     sends is read and thrown away, as a network that drops packets
 *     would (the sender learns nothing);
 *   - healing cuts the held connections, so their senders reconnect and
 *     go through.
 * Everything else is forwarded byte for byte, both ways.
 *
 * The proxy is one thread of the test process, driven by poll(); a rule
 * change returns once that thread has applied it (every connection it
 * cuts is closed by then), so what a test sends afterwards meets the
 * new rules.  No sleeps anywhere.
 */
#ifndef SLUICE_FAULTPROXY_H
#define SLUICE_FAULTPROXY_H

#include <stdbool.h>
#include <stdint.h>

#define FAULTPROXY_NODES 9

struct faultproxy;

/* What the proxy did so far (for its own test, and to wait on). */
struct faultproxy_counts {
	unsigned accepted;  /* connections accepted on any listener */
	unsigned forwarded; /* ... connected through to their node */
	unsigned held;      /* ... held, their pair being blocked */
	unsigned cut;       /* connections cut by a rule change */
	unsigned open;      /* connections open now */
};

/*
 * Listen for n nodes (n <= FAULTPROXY_NODES) on host (numeric IPv4),
 * each on a port the kernel picks, and start the proxy's thread.
 * Fails the test if it cannot.
 */
struct faultproxy *faultproxy_start(const char *host, int n);

/* Node j (0..n-1): its Raft id, and the port it really listens on. */
void faultproxy_target(struct faultproxy *fp, int j, uint64_t id,
    const char *host, int port);

/* "host:port" of node j's listener: its Raft address for the others. */
const char *faultproxy_addr(const struct faultproxy *fp, int j);

/* Block (or unblock) what server src sends to server dst. */
void faultproxy_block(struct faultproxy *fp, uint64_t src, uint64_t dst,
    bool on);

/* Block every pair with server id on either side (of the n nodes). */
void faultproxy_isolate(struct faultproxy *fp, uint64_t id);

/* Lift every rule. */
void faultproxy_heal(struct faultproxy *fp);

/* A copy of the counters. */
struct faultproxy_counts faultproxy_counts(struct faultproxy *fp);

/*
 * Wait (at most ms) until the counter at offset `which` (offsetof into
 * struct faultproxy_counts) reaches at least n; false on timeout.
 */
bool faultproxy_await(struct faultproxy *fp, size_t which, unsigned n, int ms);

/* Stop the thread, close every socket, free fp (NULL is fine). */
void faultproxy_stop(struct faultproxy *fp);

#endif
