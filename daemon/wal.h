/*
 * wal.h - the durable log: one log for the whole daemon, in segments.
 *
 * Files in the data directory (flock'ed: one daemon per directory):
 *   wal-<seq as 16 hex digits>.seg   segments, in seq order
 * Each segment starts with a 32-byte header (magic, version, seq) and
 * holds wal_record.h records back to back; its preallocated tail reads
 * as zeros.  The next segment (the spare) is created, preallocated and
 * synced by the sync thread before it is needed, so a full disk shows
 * when a spare cannot be made, while the records that free space
 * (removals) still have the current segment and the spare to go to.
 *
 * Group commit: wal_append() only encodes into a batch buffer and
 * returns the record's log position (lsn: bytes appended since open,
 * the end of the record); wal_flush(), called once per loop iteration,
 * writes the batch with one write().  Syncing is the sync thread's:
 *   WAL_FSYNC_ALWAYS    fdatasync after every flush, while the loop
 *                       gathers the next batch; wal_durable() rises
 *                       when it is done (the eventfd wakes the loop)
 *   WAL_FSYNC_EVERYSEC  fdatasync each second (or sooner when half of
 *                       max_unsynced waits); wal_durable() is what
 *                       has been written
 *   WAL_FSYNC_NO        the kernel decides
 * A failed fdatasync stops the process (exit EX_IOERR, with the file
 * and the error): after a failed sync the kernel may have dropped the
 * dirty pages, and a retry can falsely succeed.
 *
 * Live bytes: the owner tells the log when a record it appended stops
 * mattering (wal_kill(): a message removed, re-put or its queue
 * deleted).  Records of queue settings and id reservations matter only
 * in the current segment: every new segment starts with the owner's
 * snapshot of them.  A removal or queue deletion matters while a
 * segment older than it remains.  A segment with nothing live is
 * deleted once the records that made it dead are synced; when more
 * than half of the log is dead, wal_compact_step() copies the live
 * records of the oldest segment forward, a little per call.
 *
 * Recovery (in wal_open()) reads every segment in order, checks every
 * record and hands each to the owner's apply(); a torn or zeroed tail
 * of the newest segment is cut, a bad record anywhere else refuses to
 * start (naming file and offset) unless force_recover, which cuts that
 * segment there and goes on.
 */
#ifndef SLUICE_WAL_H
#define SLUICE_WAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wal_record.h"

enum wal_fsync {
	WAL_FSYNC_NO,
	WAL_FSYNC_EVERYSEC,
	WAL_FSYNC_ALWAYS,
};

/* Defaults for the config keys. */
#define WAL_DEFAULT_SEGMENT_SIZE (64ULL * 1024 * 1024)
/*
 * Bytes appended but not yet synced beyond which wal_backlogged() asks
 * the daemon to stop reading producers: a few MiB is a few
 * milliseconds of disk, and bounds what a stalled disk costs in memory.
 */
#define WAL_DEFAULT_MAX_UNSYNCED (4ULL * 1024 * 1024)
#define WAL_MIN_SEGMENT_SIZE (64ULL * 1024)

struct wal_config {
	const char *dir;
	enum wal_fsync fsync;
	uint64_t segment_size;
	uint64_t max_unsynced;
	bool force_recover;
};

/* Where a record lives: its segment and size, for wal_kill(). */
struct wal_loc {
	uint64_t seg;
	uint32_t len;
};

struct wal;

/* The owner of the state the log describes (the daemon, or a test). */
struct wal_owner {
	void *arg;
	/*
	 * Recovery: apply r (at loc), calling wal_kill() for what it
	 * makes dead (never wal_append()); 0, or -1 to refuse to start.
	 */
	int (*apply)(void *arg, struct wal *w, const struct wal_rec *r,
	    struct wal_loc loc);
	/* A new segment began: append every queue's WAL_QUEUE_SET, WAL_IDS. */
	void (*snapshot)(void *arg, struct wal *w);
	/* Compaction: is the WAL_PUT r at loc still live? */
	bool (*is_live)(void *arg, const struct wal_rec *r, struct wal_loc loc);
	/* Compaction copied the live record r from `from` to `to`. */
	void (*moved)(void *arg, const struct wal_rec *r, struct wal_loc from,
	    struct wal_loc to);
};

/* What recovery found. */
struct wal_recovery {
	uint64_t segments;
	uint64_t bytes_read; /* record bytes checked */
	uint64_t records;
	uint64_t bytes_cut; /* torn tail of the newest segment, or forced */
	uint64_t usec;      /* how long it took */
};

struct wal_stats {
	enum wal_fsync fsync;
	uint64_t log_bytes;  /* bytes of records in all segments */
	uint64_t live_bytes; /* of which still needed */
	uint64_t disk_bytes; /* segment files, preallocation included */
	uint64_t segments;
	uint64_t syncs;
	uint64_t sync_p99_usec; /* over the last WAL_SYNC_SAMPLES syncs */
	uint64_t appended;      /* lsn of the last record appended */
	uint64_t durable;       /* wal_durable() */
	uint64_t compacted_bytes;
	int last_error; /* errno of the last storage error, 0 none */
};

/*
 * Lock cfg->dir, recover it through owner->apply() and open it for
 * appending (a new segment, started with owner->snapshot()).  Returns
 * the log, or NULL with a one-line message in err.
 */
struct wal *wal_open(const struct wal_config *cfg,
    const struct wal_owner *owner, struct wal_recovery *rs, char *err,
    size_t errsize);

/* Flush, sync whatever the policy, stop the sync thread, close. */
void wal_close(struct wal *w);

/*
 * Append r to the batch; returns its lsn, the position durability is
 * measured in, and its location in *loc (NULL: not wanted).  Never
 * fails: a full disk is reported by wal_full() before it matters.
 */
uint64_t wal_append(struct wal *w, const struct wal_rec *r,
    struct wal_loc *loc);

/* The record at loc no longer matters (removed, replaced, deleted). */
void wal_kill(struct wal *w, struct wal_loc loc);

/* Write the batch (once per loop iteration); -1 only on a write error. */
int wal_flush(struct wal *w);

/* The lsn of the last record appended. */
uint64_t wal_appended(const struct wal *w);

/* The lsn up to which the batches have been written. */
uint64_t wal_written(const struct wal *w);

/* Records up to this lsn are as durable as the fsync policy promises. */
uint64_t wal_durable(const struct wal *w);

/*
 * Records up to this lsn are on stable storage, whatever the policy.
 * An id reservation (WAL_IDS) must be here before its ids are given:
 * ask for it early with wal_want_sync().
 */
uint64_t wal_synced(const struct wal *w);

/* Have the sync thread sync up to lsn (written by then) soon. */
void wal_want_sync(struct wal *w, uint64_t lsn);

/* Readable when wal_durable() may have risen: then call wal_poll(). */
int wal_eventfd(const struct wal *w);

/* Take the sync thread's news: durable position, segments to delete. */
void wal_poll(struct wal *w);

/* Wait (blocking) until wal_durable() >= lsn; for tests and shutdown. */
void wal_wait_durable(struct wal *w, uint64_t lsn);

/*
 * Write and sync everything, and the directory, then poll (blocking):
 * for shutdown and tests.
 */
void wal_sync_all(struct wal *w);

/* True while too much waits for a sync: stop reading producers. */
bool wal_backlogged(const struct wal *w);

/*
 * True when the disk is full (no spare segment could be made): answer
 * new messages 503 but keep logging removals, which have the spare.
 */
bool wal_full(const struct wal *w);

/* Copy up to budget bytes of live records forward when worth it. */
void wal_compact_step(struct wal *w, size_t budget);

void wal_stats(const struct wal *w, struct wal_stats *st);

const char *wal_fsync_name(enum wal_fsync f);

/* Parse "always", "everysec" or "no"; -1 for anything else. */
int wal_fsync_parse(const char *s, enum wal_fsync *f);

#endif
