/*
 * harness_cluster.h - a replication group of real sluiced processes for
 * the cluster tests (check_cluster).
 *
 * cluster_init() writes one JSON config per member into a temporary
 * directory: each member's data_dir, client listener and the "cluster"
 * object (CLUSTER.md, issue 15) with every member's Raft and client
 * address.  Addresses are on a loopback address of their own,
 * 127.a.b.c picked at random for the cluster (the whole 127/8 is
 * loopback on Linux), and their ports are ones the kernel just handed
 * out there: bound to port 0, read, closed, then given to the daemon.
 * No other process binds on that address, so the port cannot be taken
 * in between (CLUSTER_HOST=127.0.0.1 turns this off).
 *
 * With a proxy (faultproxy.h), each member lists the others' Raft
 * addresses as the proxy's listeners, and its own as the port it really
 * binds: every Raft connection between two members goes through the
 * proxy, which can cut them.
 *
 * Each group's files (configs, data directories) are in a temporary
 * directory, made below $CLUSTER_TMPDIR when it is set: a suite sets it
 * to a directory of its own and removes that at the end, so a failed
 * test, which ends before it can clean up, leaves nothing behind either.
 *
 * Roles are learned from the members' global STATS ("role", "leader"),
 * polled with a bounded deadline; a member that is down is not asked.
 * The connections used for that never fail the test by themselves: a
 * member may close a connection when it loses leadership.
 */
#ifndef SLUICE_HARNESS_CLUSTER_H
#define SLUICE_HARNESS_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "faultproxy.h"
#include "harness.h"

#define CLUSTER_NODES 6
/* Raft timing of the test clusters (ms): quick failovers, not flaky. */
#define CLUSTER_ELECTION_MS 500
#define CLUSTER_HEARTBEAT_MS 50
/* How long a new leader may take (an election, maybe a few). */
#define CLUSTER_ELECT_WAIT_MS 15000

struct cluster_node {
	uint64_t id;
	struct daemon d;
	bool up;
	bool join;         /* made by cluster_add_joiner() */
	int client_port;   /* where it listens for clients */
	int raft_port;     /* where it binds for Raft */
	char client[80];   /* "host:port": its client address */
	char raft[80];     /* its Raft address as the others dial it */
	char raft_own[80]; /* ... and as it binds it */
	char dir[160];     /* data_dir */
	char conf[160];
};

struct cluster {
	int n;        /* nodes made: members, then joiners */
	int nmembers; /* the group it starts with: nodes 0..nmembers-1 */
	char host[32];
	char root[128];      /* the temporary directory */
	char settings[2048]; /* more top-level config keys, or "" */
	struct faultproxy *fp;
	struct cluster_node node[CLUSTER_NODES];
};

/*
 * True when $SLUICED takes a "cluster" config (sluiced -t); probed
 * once per process.
 */
bool cluster_supported(void);

/*
 * Write the configs of n members (ids 1..n), started by nothing yet.
 * `settings`: more top-level keys for every member's config, such as
 * "\"queues\": [...]", or NULL.  proxy: Raft goes through a faultproxy.
 */
struct cluster *cluster_new(int n, bool proxy, const char *settings);

/*
 * A node that starts with "join": true (id n+1, not a member until
 * CLUSTER ADD); returns its index.  Started by cluster_start_node().
 */
int cluster_add_joiner(struct cluster *c);

/* Start node i (again, on its data_dir) and wait until it listens. */
void cluster_start_node(struct cluster *c, int i);

/* Start every member. */
void cluster_start(struct cluster *c);

/* kill -9 node i and reap it. */
void cluster_kill(struct cluster *c, int i);

/*
 * Rewrite node i's config with `settings` (as cluster_new()'s) instead
 * of the group's; it applies at its next start or reload.
 */
void cluster_write_settings(struct cluster *c, int i, const char *settings);

/* SIGHUP node i and wait (bounded) until its log says it reloaded. */
void cluster_reload(struct cluster *c, int i);

/* Stop node i (SIGTERM, SIGINT); its exit status as harness_stop(). */
int cluster_stop(struct cluster *c, int i);

/*
 * Stop every node, stop the proxy, remove the files, free c; fails the
 * test if a node did not exit 0 (a crash, or death by a stop signal).
 */
void cluster_free(struct cluster *c);

/*
 * Global STATS of node i, or NULL if it could not be had (down, closed
 * on us, ...).  Never fails the test.
 */
json_t *cluster_stats(struct cluster *c, int i);

/* One request line to node i, a JSON answer ("200 JSON n"), or NULL. */
json_t *cluster_json(struct cluster *c, int i, const char *req);

/*
 * One request line to node i; its first answer line into out (without
 * \r\n), or false if none came (down, EOF, 10 s).  Never fails the test.
 */
bool cluster_request(struct cluster *c, int i, const char *req, char *out,
    size_t outlen);

/* The node whose client address is addr, or -1. */
int cluster_node_by_client(struct cluster *c, const char *addr);

/*
 * Wait until, among the up nodes of `mask` (bit i: node i; 0: every up
 * node), exactly one says it is the leader and every other names it as
 * its leader and says it is a follower, and the leader serves (a new
 * leader answers 503 NOT_LEADER until it has caught up with its log,
 * although its STATS says "leader").  Returns the leader's index;
 * fails the test after CLUSTER_ELECT_WAIT_MS.  Returns -2 at once if a
 * member's STATS has no "role" at all (a daemon without replication).
 */
int cluster_await_leader(struct cluster *c, unsigned mask);

/*
 * Wait until node i's STATS of queue q shows field == want (the queue
 * missing counts as not yet); fails the test after CLUSTER_ELECT_WAIT_MS.
 */
void cluster_await_queue(struct cluster *c, int i, const char *q,
    const char *field, long long want);

/* Connect to node i's client port (a harness tconn). */
struct tconn *cluster_tc_open(struct cluster *c, int i);

#endif
