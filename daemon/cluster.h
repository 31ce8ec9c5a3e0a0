/*
 * cluster.h - this server as one member of a Raft group (libraft).
 *
 * The group's log carries the durable log's records (wal_record.h),
 * batched: the records one loop iteration appends go out as one
 * raft_apply() entry, headed by who wrote it.  The leader changes its
 * queues first and logs what it did, as with the local log, and holds
 * each answer until its entry is applied (cluster_committed());
 * followers apply the records of committed entries through the
 * owner's apply() (persist.c keeps them as recovery does, and builds
 * live queues from them when this server comes to lead).
 *
 * The leader's state runs ahead of the committed one by what is in
 * flight, so a leader that loses its place (deposed) cannot keep it:
 * the owner forgets it, and the Raft instance is restarted, which
 * restores the last snapshot and applies the committed entries after
 * it as a follower.  A new leader serves only once its first entry (its
 * "hello") is applied: everything committed before is in its state.
 *
 * Snapshots are the state as records, taken when nothing of the
 * leader's is in flight (persist.c refuses otherwise and the pass
 * pauses until the log settles, see cluster_settling()).
 *
 * Nothing here calls up: the owner's callbacks are the way out.
 */
#ifndef SLUICE_CLUSTER_H
#define SLUICE_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "config.h"
#include "wal_record.h"

struct cluster;

/* A snapshot being written: records appended with cluster_snap_add(). */
struct cluster_snap {
	uint8_t *buf; /* raft_malloc()ed: libraft frees it */
	size_t len, cap;
};

struct cluster_owner {
	void *arg;
	/* A committed record this server's state does not hold yet. */
	void (*apply)(void *arg, const struct wal_rec *r);
	/* Forget the state: a snapshot's records follow through apply(). */
	void (*reset)(void *arg);
	/* The committed state as records into snap; -1 when it cannot be
	 * had now (the leader has records in flight): asked again later. */
	int (*snapshot)(void *arg, struct cluster_snap *snap);
	/* This server leads, and everything committed before is applied. */
	void (*lead)(void *arg);
	/* It led and no longer does: its live state must go. */
	void (*deposed)(void *arg);
	/* Entries were committed: held answers may go, producers move. */
	void (*progress)(void *arg);
};

/* Roles, as libraft names them. */
enum cluster_role {
	CLUSTER_UNAVAILABLE,
	CLUSTER_FOLLOWER,
	CLUSTER_CANDIDATE,
	CLUSTER_LEADER,
};

/*
 * Start this member: <data_dir>/raft holds the Raft log (made here),
 * bootstrapped with cfg->cluster.members when new (unless join).  NULL
 * with a one-line message in err on failure.
 */
struct cluster *cluster_open(const struct config *cfg, struct event_base *base,
    const struct cluster_owner *owner, char *err, size_t errsize);

/* Stop the Raft instance and free; what is in flight is abandoned. */
void cluster_close(struct cluster *c);

/* Add r to this iteration's entry; its sequence number. */
uint64_t cluster_append(struct cluster *c, const struct wal_rec *r);

/* End of a loop iteration: the entry goes (raft_apply). */
void cluster_flush(struct cluster *c);

/* The last sequence number appended, and the last one committed. */
uint64_t cluster_appended(const struct cluster *c);
uint64_t cluster_committed(const struct cluster *c);

/* Records of this loop iteration wait to go out as one entry. */
bool cluster_batching(const struct cluster *c);

/* Too many bytes wait for commit: producers into disk queues wait. */
bool cluster_backlogged(const struct cluster *c);

/*
 * A snapshot waits for the leader's in-flight entries: take no new
 * requests until the log settles (the progress callback says when).
 */
bool cluster_settling(const struct cluster *c);

/* Serving: the leader, with everything before its lead applied. */
bool cluster_serving(const struct cluster *c);

enum cluster_role cluster_role(const struct cluster *c);
const char *cluster_role_name(enum cluster_role role);

/* The leader's client address ("host:port"); NULL when unknown. */
const char *cluster_leader_client(const struct cluster *c);

/* Append a record to a snapshot being written. */
void cluster_snap_add(struct cluster_snap *snap, const struct wal_rec *r);

/*
 * Membership changes (leader only).  0 when started; else -1 with the
 * answer's code and text in *code and err: 503 not the leader, 409
 * another change in flight or already a member, 404 no such member,
 * 400 bad address.
 */
int cluster_add(struct cluster *c, uint64_t id, const char *raft,
    const char *client, int *code, char *err, size_t errsize);
int cluster_remove(struct cluster *c, uint64_t id, int *code, char *err,
    size_t errsize);

/*
 * The group as JSON (CLUSTER STATUS): a malloc()ed string, owned by
 * the caller.
 */
char *cluster_status_json(const struct cluster *c);

/* Counters for STATS / metrics. */
struct cluster_stats {
	uint64_t term;
	uint64_t applied;      /* Raft index applied */
	uint64_t entries;      /* entries this server proposed */
	uint64_t inflight;     /* bytes waiting for commit */
	uint64_t snapshots;    /* snapshots this server took */
	uint64_t restarts;     /* deposed: the instance restarted */
	uint64_t last_snapshot_us; /* time the last one took to build */
};
void cluster_stats(const struct cluster *c, struct cluster_stats *st);

#endif
