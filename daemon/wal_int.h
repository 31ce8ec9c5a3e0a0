/*
 * wal_int.h - what wal.c, wal_sync.c and wal_recover.c share; not for
 * the rest of the daemon (wal.h is the interface).
 *
 * Threads: everything but struct wal_shared belongs to the loop
 * thread.  The sync thread reads and writes only `sh`, under sh.mu,
 * and the file descriptors it names (the loop closes a segment's fd
 * only after the thread has finished the sync pass that used it).
 */
#ifndef SLUICE_WAL_INT_H
#define SLUICE_WAL_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "wal.h"

/* Segment header: magic, version, seq, reserved. */
#define WAL_SEG_HEADER 32
#define WAL_SEG_MAGIC "SLUICWAL"
#define WAL_SEG_VERSION 1
/* Sync durations kept for the p99 in STATS. */
#define WAL_SYNC_SAMPLES 1024

enum wal_seg_state {
	WAL_SEG_OPEN,     /* a file of the log */
	WAL_SEG_UNLINKED, /* unlinked; gone once the directory is synced */
};

struct wal_seg {
	uint64_t seq;
	int fd;
	enum wal_seg_state state;
	uint64_t end;        /* offset after its last record (batch included) */
	uint64_t alloc;      /* file size: preallocated or grown */
	uint64_t live;       /* WAL_PUT bytes not killed */
	uint64_t meta;       /* settings and id records: live while current */
	uint64_t tomb;       /* removals and deletions */
	uint64_t tomb_pin;   /* tombs matter while a segment <= this exists */
	uint64_t dead_lsn;   /* its last kill; deletable once synced past */
	uint64_t unlink_gen; /* WAL_SEG_UNLINKED: the directory sync needed */
};

/* The loop and the sync thread meet here, under mu. */
struct wal_shared {
	pthread_mutex_t mu;
	pthread_cond_t cv;   /* the thread waits for work on it */
	pthread_cond_t done; /* the loop waits for a spare or a sync on it */
	uint64_t written;    /* lsn written by the loop */
	uint64_t want;       /* the loop wants a sync up to here */
	uint64_t synced;     /* lsn synced by the thread */
	int cur_fd;          /* segments with data to sync */
	int prev_fd;         /* the one before, until synced past seal */
	uint64_t cur_seq;    /* their segments, for error messages */
	uint64_t prev_seq;
	uint64_t seal;       /* lsn where cur_fd's data begins */
	uint64_t dir_req;    /* directory syncs asked for (a generation) */
	uint64_t dir_done;   /* and done */
	bool spare_wanted;
	uint64_t spare_seq; /* the spare to make, or made */
	int spare_fd;       /* ready: preallocated, header synced; or -1 */
	int spare_err;      /* errno of the last failure to make one */
	bool stop;
	uint64_t syncs;
	uint64_t samples[WAL_SYNC_SAMPLES]; /* sync durations, usec */
};

struct wal {
	struct wal_config cfg;
	char *dir;
	int dirfd; /* flock'ed */
	struct wal_owner owner;
	struct wal_seg *segs; /* by seq; the last one is current */
	size_t nsegs, segcap;
	uint8_t *buf; /* the batch, for the current segment */
	size_t buflen, bufcap;
	uint64_t buf_off;  /* segment offset of buf[0] */
	uint64_t lsn;      /* appended */
	uint64_t written;  /* written (the loop's copy) */
	uint64_t synced;   /* synced (the loop's copy of sh.synced) */
	uint64_t dir_done; /* the loop's copy of sh.dir_done */
	uint64_t seal;     /* current segment writable once synced here */
	uint64_t want_pending; /* wal_want_sync() beyond what was written */
	bool recovering;
	bool rolling;
	bool full;
	int last_error;
	uint64_t spare_retry_usec; /* when a failed spare is tried again */
	/* Compaction cursor. */
	uint64_t compact_seq; /* 0: none in progress */
	uint64_t compact_off;
	uint8_t *cbuf;
	size_t ccap;
	uint64_t compacted;
	int efd;
	pthread_t thread;
	bool thread_on;
	struct wal_shared sh;
};

/* The segment with this seq, or NULL. */
struct wal_seg *wal_seg_find(struct wal *w, uint64_t seq);

/* Account a record of kind k and len bytes just placed in seg s. */
void wal_seg_account(struct wal *w, struct wal_seg *s, enum wal_kind k,
    uint32_t len);

/* The file name of segment seq, in buf. */
void wal_seg_path(const struct wal *w, uint64_t seq, char *buf, size_t size);

/* Make segment seq: create, preallocate, write its header, sync. */
int wal_seg_create(struct wal *w, uint64_t seq, int *fdp);

/* Bytes of records, of live ones, and segments: cheap, unlike wal_stats. */
void wal_usage(const struct wal *w, uint64_t *log_bytes, uint64_t *live,
    uint64_t *segments);

/* Recover the directory (wal_recover.c); 0 or -1 with err. */
int wal_recover(struct wal *w, struct wal_recovery *rs, char *err,
    size_t errsize);

/* Start and stop the sync thread (wal_sync.c). */
int wal_sync_start(struct wal *w);
void wal_sync_stop(struct wal *w);

/* Stop the process on a storage error it must not go on after. */
void wal_fatal(const char *what, const char *file, int err)
    __attribute__((noreturn));

uint64_t wal_now_usec(void);

#endif
