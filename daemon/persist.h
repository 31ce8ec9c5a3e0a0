/*
 * persist.h - disk queues on the durable log (wal.h): the owner of the
 * log's records.
 *
 * The core calls down into it as things change on a storage=disk queue
 * (struct queue's qno is non-zero for exactly those):
 *
 *   persist_queue_new()     a disk queue came into being: QUEUE_SET
 *   persist_queue_set()     its settings changed (reload): QUEUE_SET
 *   persist_queue_delete()  DELETE: QUEUE_DELETE, its messages dead
 *   persist_put()           a message stored or reserved: PUT
 *   persist_remove()        GET, ACK, drop-oldest: REMOVE
 *   persist_purge()         PURGE: REMOVE records in chunks
 *   persist_take_id()       every accepted message's id, memory queues
 *                           included: ids are reserved in ranges by an
 *                           IDS record synced before they are given
 *
 * Each returns the lsn the change's answer must wait for (conn.c holds
 * an answer until persist_durable() reaches it).  Nothing here calls up
 * into the core: the server wakes the core when the log moves
 * (persist_poll() on the eventfd, persist_flush() at the end of a loop
 * iteration, both in server.c).
 *
 * Which message lives where in the log is kept here, in an index from
 * id to the location of its PUT record (for wal_kill() and for
 * compaction's is_live), so memory queues and the packed message store
 * carry nothing extra.
 *
 * Recovery (in persist_open()) rebuilds the disk queues in the qtable:
 * settings, and every message not removed, ready again in id order.
 */
#ifndef SLUICE_PERSIST_H
#define SLUICE_PERSIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "config.h"
#include "qtable.h"
#include "wal.h"

struct cluster;

struct persist;

/*
 * Open (lock, recover) cfg->data_dir: the disk queues it holds are
 * added to `queues`, and *last_id is set above every id given before.
 * Recovered delayed messages are on their queues' delayed lists with,
 * in ready_us, the wall-clock millisecond they are due at: the caller
 * times them.
 * `flush` is the event that ends the loop iteration (the server's pass,
 * conn.h): made active by the first record of an iteration, it must
 * call persist_flush().  NULL
 * with a one-line message in err on failure.
 */
struct persist *persist_open(const struct config *cfg, struct qtable *queues,
    struct event *flush, uint64_t *last_id, char *err, size_t errsize);

/* What a replication group's events ask of the server. */
struct persist_events {
	void *arg;
	/* This server leads: the queues are live in the qtable now. */
	void (*lead)(void *arg);
	/* It led and no longer does: its connections and queues must go. */
	void (*deposed)(void *arg);
	/* Entries were committed: held answers may go. */
	void (*progress)(void *arg);
};

/*
 * Open as a member of a replication group (cfg->cluster.on): the
 * records go to the group's log (cluster.h) instead of a local one.
 * The qtable gets the disk queues only when this server comes to lead
 * (ev->lead).  NULL with a one-line message in err on failure.
 */
struct persist *persist_open_cluster(const struct config *cfg,
    struct qtable *queues, struct event_base *base, struct event *flush,
    uint64_t *last_id, const struct persist_events *ev, char *err,
    size_t errsize);

/* The group this server is a member of; NULL when alone. */
struct cluster *persist_cluster(const struct persist *p);

/*
 * A group's snapshot waits for the leader's entries in flight: the
 * pass takes no requests until progress says the log settled.
 */
bool persist_settling(const struct persist *p);

/* A queue as a follower holds it: committed, not served. */
struct persist_view {
	const char *name;
	const struct queue_settings *set;
	bool closed;
	uint64_t depth;	  /* messages ready (reserved ones are, here) */
	uint64_t delayed; /* messages logged with a due time (NACKed with
			   * a delay; a follower does not watch the clock) */
	uint64_t bytes;
};

/* A follower's queues, each given to fn (none while leading or alone). */
void persist_follower_queues(const struct persist *p,
    void (*fn)(void *arg, const struct persist_view *v), void *arg);

/* One of them by name: false when there is no such queue. */
bool persist_follower_queue(const struct persist *p, const char *name,
    struct persist_view *v);

/* Write and sync everything, then close the log. */
void persist_close(struct persist *p);

/* Check that dir can be used (sluiced -t): made, writable, not locked. */
int persist_check_dir(const char *dir, char *err, size_t errsize);

/* The next id (*last_id + 1, stored back), within the reserved range. */
uint64_t persist_take_id(struct persist *p, uint64_t *last_id);

/* A new disk queue: give it a number and log its settings. */
uint64_t persist_queue_new(struct persist *p, struct queue *q);

/* Log the settings (and closed state) of disk queue q again. */
uint64_t persist_queue_set(struct persist *p, struct queue *q);

/*
 * Disk queue q is being deleted: log it, and forget its messages
 * (ready ones are discarded from q here; reserved ones the caller
 * frees with q).
 */
uint64_t persist_queue_delete(struct persist *p, struct queue *q);

/* Message id with this body is now in disk queue q (stored or reserved). */
uint64_t persist_put(struct persist *p, struct queue *q, uint64_t id,
    const char *body, size_t len);

/*
 * Reserved m of disk queue q comes back delayed: ready at the wall-clock
 * time not_before_ms (a new PUT record, with its delivery count).
 */
uint64_t persist_delay(struct persist *p, struct queue *q, const struct msg *m,
    uint64_t not_before_ms);

/* Message id, handed to a consumer that reserves it: PUT, delivered once. */
uint64_t persist_handed(struct persist *p, struct queue *q, uint64_t id,
    const char *body, size_t len);

/*
 * In a replication group, an entry that changes nothing: an answer held
 * for it goes only if this server still leads when it commits (for
 * answers no record stands behind, such as a GET hand-off).  0 alone.
 */
uint64_t persist_barrier(struct persist *p);

/*
 * Reserved m of disk queue q was delivered once more (in a replication
 * group, for a queue with max_deliveries: the next leader must know the
 * count, to dead-letter m when its reservation comes back).  0 alone:
 * a restart forgets reservations' counts, as before.
 */
uint64_t persist_delivered(struct persist *p, struct queue *q,
    const struct msg *m);

/* Disk queue q was closed. */
uint64_t persist_queue_close(struct persist *p, struct queue *q);

/* The wall clock in milliseconds (what a delayed PUT record holds). */
uint64_t persist_wall_ms(void);

/* Message id left disk queue q for `reason` (enum wal_rm_reason). */
uint64_t persist_remove(struct persist *p, struct queue *q, uint64_t id,
    enum wal_rm_reason reason);

/* Discard q's ready messages, logging their removal; *n how many. */
uint64_t persist_purge(struct persist *p, struct queue *q, uint64_t *n);

/* The lsn of the last record appended. */
uint64_t persist_appended(const struct persist *p);

/* Answers waiting for an lsn up to this may go. */
uint64_t persist_durable(const struct persist *p);

/* Too much waits for a sync: producers into disk queues wait. */
bool persist_backlogged(const struct persist *p);

/* No room for new messages on disk (503 DISK_FULL). */
bool persist_full(const struct persist *p);

/* The log's eventfd: readable when persist_poll() has news. */
int persist_fd(const struct persist *p);

/* Take the sync thread's news (the eventfd fired). */
void persist_poll(struct persist *p);

/*
 * End of a loop iteration: compact a little, write the iteration's
 * records with one write().  False when some are left unwritten (a
 * write failed, or a new segment waits for the old one's sync): try
 * again a little later.
 */
bool persist_flush(struct persist *p);

void persist_stats(const struct persist *p, struct wal_stats *st);

#endif
