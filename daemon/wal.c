/*
 * wal.c - the durable log's loop side: appending, group commit,
 * live-byte accounting, rollover to the spare segment, deletion of
 * dead segments.  See wal.h for the model; the sync thread is in
 * wal_sync.c, recovery in wal_recover.c, compaction in wal_compact.c.
 *
 * Invariants: the last segment in segs[] is the current one, and the
 * batch (buf) holds only its bytes, from buf_off on.  The current
 * segment's bytes are written only once the previous segment is synced
 * to its end (sh.synced >= seal), so on disk no record of a newer
 * segment exists without every record of the older ones: only the
 * newest segment can have a torn tail.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "log.h"
#include "wal_int.h"
#include "xmalloc.h"

/* How often a spare that failed (a full disk) is tried again. */
#define WAL_SPARE_RETRY_USEC 1000000

void
wal_seg_path(const struct wal *w, uint64_t seq, char *buf, size_t size)
{
	snprintf(buf, size, "%s/wal-%016" PRIx64 ".seg", w->dir, seq);
}

static void
put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

int
wal_seg_create(struct wal *w, uint64_t seq, int *fdp)
{
	char path[4096];
	uint8_t hdr[WAL_SEG_HEADER] = { 0 };
	int fd, rc, saved;

	wal_seg_path(w, seq, path, sizeof(path));
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	rc = posix_fallocate(fd, 0, (off_t)w->cfg.segment_size);
	/* A file system without fallocate: the file grows as written. */
	if (rc != 0 && rc != EOPNOTSUPP && rc != EINVAL) {
		errno = rc;
		goto fail;
	}
	memcpy(hdr, WAL_SEG_MAGIC, 8);
	put_le64(hdr + 8, WAL_SEG_VERSION);
	put_le64(hdr + 16, seq);
	if (pwrite(fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr))
		goto fail;
	if (fsync(fd) < 0)
		wal_fatal("fsync", path, errno);
	if (fsync(w->dirfd) < 0)
		wal_fatal("fsync", w->dir, errno);
	*fdp = fd;
	return 0;
fail:
	saved = errno ? errno : ENOSPC;
	close(fd);
	unlink(path);
	errno = saved;
	return -1;
}

struct wal_seg *
wal_seg_find(struct wal *w, uint64_t seq)
{
	size_t lo = 0, hi = w->nsegs;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (w->segs[mid].seq == seq)
			return &w->segs[mid];
		if (w->segs[mid].seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static struct wal_seg *
cur_seg(struct wal *w)
{
	return &w->segs[w->nsegs - 1];
}

void
wal_seg_account(struct wal *w, struct wal_seg *s, enum wal_kind k, uint32_t len)
{
	switch (k) {
	case WAL_PUT:
		s->live += len;
		break;
	case WAL_QUEUE_SET:
	case WAL_QUEUE_CLOSE:
	case WAL_IDS:
		s->meta += len;
		break;
	case WAL_QUEUE_DELETE:
		/* Its queue's settings may be in any older segment. */
		if (s->seq > 1 && s->tomb_pin < s->seq - 1)
			s->tomb_pin = s->seq - 1;
		s->tomb += len;
		break;
	case WAL_REMOVE:
		s->tomb += len;
		break;
	}
}

/* True while a segment with seq <= pin is still in the directory. */
static bool
pinned(const struct wal *w, uint64_t pin)
{
	return pin > 0 && w->nsegs > 0 && w->segs[0].seq <= pin;
}

/* Bytes of s still needed. */
static uint64_t
seg_needed(const struct wal *w, const struct wal_seg *s)
{
	uint64_t n = s->live;

	if (s == &w->segs[w->nsegs - 1])
		n += s->meta;
	if (pinned(w, s->tomb_pin))
		n += s->tomb;
	return n;
}

void
wal_kill(struct wal *w, struct wal_loc loc)
{
	struct wal_seg *s = wal_seg_find(w, loc.seg);
	struct wal_seg *c = cur_seg(w);

	if (s == NULL || s->live < loc.len) {
		log_warn("wal: kill of %" PRIu32 " bytes in segment %" PRIu64
		         " that has %" PRIu64 " live",
		    loc.len, loc.seg, s ? s->live : 0);
		if (s != NULL)
			s->live = 0;
		return;
	}
	s->live -= loc.len;
	s->dead_lsn = w->lsn;
	/* The record that killed it (just appended) must outlive it. */
	if (loc.seg < c->seq && c->tomb_pin < loc.seg)
		c->tomb_pin = loc.seg;
}

static void
buf_reserve(struct wal *w, size_t n)
{
	if (w->buflen + n <= w->bufcap)
		return;
	size_t cap = w->bufcap ? w->bufcap : 64 * 1024;
	while (cap < w->buflen + n)
		cap *= 2;
	uint8_t *nb = realloc(w->buf, cap);
	if (nb == NULL) {
		log_err("wal: out of memory for a batch of %zu bytes", cap);
		abort();
	}
	w->buf = nb;
	w->bufcap = cap;
}

/* Write the batch to the current segment; 0, or -1 with errno. */
static int
write_batch(struct wal *w)
{
	struct wal_seg *c = cur_seg(w);
	size_t done = 0;

	while (done < w->buflen) {
		ssize_t n = pwrite(c->fd, w->buf + done, w->buflen - done,
		    (off_t)(w->buf_off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			/* Keep what was not written for the next try. */
			memmove(w->buf, w->buf + done, w->buflen - done);
			w->buflen -= done;
			w->buf_off += done;
			return -1;
		}
		done += (size_t)n;
	}
	w->buf_off += w->buflen;
	if (w->buf_off > c->alloc)
		c->alloc = w->buf_off;
	w->buflen = 0;
	w->written = w->lsn;
	pthread_mutex_lock(&w->sh.mu);
	w->sh.written = w->written;
	if (w->cfg.fsync == WAL_FSYNC_ALWAYS)
		w->sh.want = w->written;
	else if (w->want_pending > w->sh.want)
		w->sh.want =
		    w->want_pending < w->written ? w->want_pending : w->written;
	pthread_cond_signal(&w->sh.cv);
	pthread_mutex_unlock(&w->sh.mu);
	return 0;
}

static void
write_error(struct wal *w, int err)
{
	char path[4096];

	wal_seg_path(w, cur_seg(w)->seq, path, sizeof(path));
	w->last_error = err;
	if (err != ENOSPC)
		wal_fatal("write", path, err);
	if (!w->full)
		log_err("wal: %s: %s: new messages refused until there is "
		        "room",
		    path, strerror(err));
	w->full = true;
}

/* Ask the sync thread for a sync of everything written, and wait. */
static void
sync_now(struct wal *w)
{
	pthread_mutex_lock(&w->sh.mu);
	w->sh.want = w->sh.written;
	pthread_cond_signal(&w->sh.cv);
	while (w->sh.synced < w->sh.want)
		pthread_cond_wait(&w->sh.done, &w->sh.mu);
	w->synced = w->sh.synced;
	pthread_mutex_unlock(&w->sh.mu);
}

/* The spare, waiting for the thread to finish it if needed; -1: none. */
static int
take_spare(struct wal *w)
{
	int fd;

	pthread_mutex_lock(&w->sh.mu);
	while (w->sh.spare_fd < 0 && w->sh.spare_wanted)
		pthread_cond_wait(&w->sh.done, &w->sh.mu);
	fd = w->sh.spare_fd;
	w->sh.spare_fd = -1;
	if (fd < 0)
		w->last_error = w->sh.spare_err;
	pthread_mutex_unlock(&w->sh.mu);
	return fd;
}

static void
want_spare(struct wal *w, uint64_t seq)
{
	pthread_mutex_lock(&w->sh.mu);
	w->sh.spare_seq = seq;
	w->sh.spare_wanted = true;
	pthread_cond_signal(&w->sh.cv);
	pthread_mutex_unlock(&w->sh.mu);
}

static void
add_seg(struct wal *w, uint64_t seq, int fd, uint64_t alloc)
{
	if (w->nsegs == w->segcap) {
		w->segcap = w->segcap ? w->segcap * 2 : 16;
		w->segs = realloc(w->segs, w->segcap * sizeof(*w->segs));
		if (w->segs == NULL)
			abort();
	}
	struct wal_seg *s = &w->segs[w->nsegs++];
	memset(s, 0, sizeof(*s));
	s->seq = seq;
	s->fd = fd;
	s->end = WAL_SEG_HEADER;
	s->alloc = alloc;
}

/*
 * Move to the spare segment: write the old one's batch, make the spare
 * current (its bytes wait until the old one is synced), start it with
 * the owner's snapshot, and ask for the next spare.
 */
static void
roll(struct wal *w)
{
	struct wal_seg *old = cur_seg(w);
	uint64_t seq = old->seq + 1;
	int fd;

	if (w->buflen > 0 && write_batch(w) < 0)
		write_error(w, errno);
	if (w->buflen > 0)
		return; /* no room even for the old segment: stay */
	fd = take_spare(w);
	if (fd < 0) {
		if (!w->full)
			log_err("wal: no spare segment (%s): new messages "
			        "refused until there is room",
			    strerror(w->last_error));
		w->full = true;
		return;
	}
	int old_fd = old->fd;
	add_seg(w, seq, fd, w->cfg.segment_size);
	old = &w->segs[w->nsegs - 2];
	w->buf_off = WAL_SEG_HEADER;
	w->seal = w->lsn;
	pthread_mutex_lock(&w->sh.mu);
	w->sh.prev_fd = old_fd;
	w->sh.prev_seq = seq - 1;
	w->sh.cur_fd = fd;
	w->sh.cur_seq = seq;
	w->sh.seal = w->seal;
	w->sh.want = w->sh.written;
	pthread_cond_signal(&w->sh.cv);
	pthread_mutex_unlock(&w->sh.mu);
	w->rolling = true;
	if (w->owner.snapshot != NULL)
		w->owner.snapshot(w->owner.arg, w);
	w->rolling = false;
	old = &w->segs[w->nsegs - 2];
	old->dead_lsn = w->lsn; /* its settings are dead once these are in */
	want_spare(w, seq + 1);
}

uint64_t
wal_append(struct wal *w, const struct wal_rec *r, struct wal_loc *loc)
{
	size_t n = wal_rec_size(r);
	struct wal_seg *c = cur_seg(w);

	if (!w->rolling && !w->recovering && c->end + n > c->alloc &&
	    c->end > WAL_SEG_HEADER) {
		roll(w);
		c = cur_seg(w);
	}
	buf_reserve(w, n);
	wal_rec_encode(r, w->buf + w->buflen);
	w->buflen += n;
	c->end += n;
	w->lsn += n;
	wal_seg_account(w, c, r->kind, (uint32_t)n);
	if (loc != NULL) {
		loc->seg = c->seq;
		loc->len = (uint32_t)n;
	}
	return w->lsn;
}

int
wal_flush(struct wal *w)
{
	if (w->buflen == 0)
		return 0;
	if (w->synced < w->seal) {
		pthread_mutex_lock(&w->sh.mu);
		w->synced = w->sh.synced;
		pthread_mutex_unlock(&w->sh.mu);
		if (w->synced < w->seal)
			return 0; /* wal_poll() flushes when the seal is in */
	}
	if (write_batch(w) < 0) {
		write_error(w, errno);
		return -1;
	}
	return 0;
}

uint64_t
wal_appended(const struct wal *w)
{
	return w->lsn;
}

uint64_t
wal_written(const struct wal *w)
{
	return w->written;
}

void
wal_usage(const struct wal *w, uint64_t *log_bytes, uint64_t *live,
    uint64_t *segments)
{
	*log_bytes = *live = *segments = 0;
	for (size_t i = 0; i < w->nsegs; i++) {
		const struct wal_seg *s = &w->segs[i];
		if (s->state != WAL_SEG_OPEN)
			continue;
		(*segments)++;
		*log_bytes += s->end - WAL_SEG_HEADER;
		*live += seg_needed(w, s);
	}
}

uint64_t
wal_durable(const struct wal *w)
{
	return w->cfg.fsync == WAL_FSYNC_ALWAYS ? w->synced : w->written;
}

uint64_t
wal_synced(const struct wal *w)
{
	return w->synced;
}

void
wal_want_sync(struct wal *w, uint64_t lsn)
{
	if (lsn > w->want_pending)
		w->want_pending = lsn;
	if (lsn > w->written)
		wal_flush(w);
	pthread_mutex_lock(&w->sh.mu);
	if (w->sh.want < lsn) {
		w->sh.want = lsn < w->sh.written ? lsn : w->sh.written;
		pthread_cond_signal(&w->sh.cv);
	}
	pthread_mutex_unlock(&w->sh.mu);
}

int
wal_eventfd(const struct wal *w)
{
	return w->efd;
}

/* Unlink the segments nothing needs whose killers are on disk. */
static void
delete_dead(struct wal *w)
{
	char path[4096];
	bool want_sync = false;

	for (size_t i = 0; i + 1 < w->nsegs; i++) {
		struct wal_seg *s = &w->segs[i];
		if (s->state != WAL_SEG_OPEN || seg_needed(w, s) > 0 ||
		    w->compact_seq == s->seq)
			continue;
		if (w->synced < s->dead_lsn) {
			want_sync = true;
			continue;
		}
		wal_seg_path(w, s->seq, path, sizeof(path));
		if (unlink(path) < 0)
			log_warn("wal: unlink %s: %s", path, strerror(errno));
		close(s->fd);
		s->fd = -1;
		s->state = WAL_SEG_UNLINKED;
		pthread_mutex_lock(&w->sh.mu);
		s->unlink_gen = ++w->sh.dir_req;
		pthread_cond_signal(&w->sh.cv);
		pthread_mutex_unlock(&w->sh.mu);
	}
	/* Forget segments whose unlinking is on disk. */
	size_t j = 0;
	for (size_t i = 0; i < w->nsegs; i++) {
		struct wal_seg *s = &w->segs[i];
		if (s->state == WAL_SEG_UNLINKED &&
		    s->unlink_gen <= w->dir_done)
			continue;
		w->segs[j++] = *s;
	}
	w->nsegs = j;
	if (want_sync) {
		pthread_mutex_lock(&w->sh.mu);
		if (w->sh.want < w->sh.written) {
			w->sh.want = w->sh.written;
			pthread_cond_signal(&w->sh.cv);
		}
		pthread_mutex_unlock(&w->sh.mu);
	}
}

void
wal_poll(struct wal *w)
{
	uint64_t v;
	int spare_fd, spare_err;
	bool spare_wanted;

	while (read(w->efd, &v, sizeof(v)) > 0)
		;
	pthread_mutex_lock(&w->sh.mu);
	w->synced = w->sh.synced;
	w->dir_done = w->sh.dir_done;
	spare_fd = w->sh.spare_fd;
	spare_err = w->sh.spare_err;
	spare_wanted = w->sh.spare_wanted;
	pthread_mutex_unlock(&w->sh.mu);
	if (w->full && spare_fd >= 0 && w->buflen == 0) {
		log_notice("wal: a spare segment is ready again: taking new "
		           "messages");
		w->full = false;
	}
	if (spare_fd < 0 && !spare_wanted && spare_err != 0) {
		w->last_error = spare_err;
		if (!w->full)
			log_err("wal: cannot make a spare segment (%s): new "
			        "messages refused until there is room",
			    strerror(spare_err));
		w->full = true;
		uint64_t now = wal_now_usec();
		if (now >= w->spare_retry_usec) {
			w->spare_retry_usec = now + WAL_SPARE_RETRY_USEC;
			want_spare(w, cur_seg(w)->seq + 1);
		}
	}
	if (w->buflen > 0 && w->synced >= w->seal)
		wal_flush(w);
	delete_dead(w);
}

void
wal_wait_durable(struct wal *w, uint64_t lsn)
{
	while (wal_durable(w) < lsn) {
		wal_flush(w);
		if (w->cfg.fsync != WAL_FSYNC_ALWAYS && w->written >= lsn)
			break;
		sync_now(w);
		wal_poll(w);
	}
}

void
wal_sync_all(struct wal *w)
{
	if (w->buflen > 0 && w->synced < w->seal)
		sync_now(w);
	wal_flush(w);
	pthread_mutex_lock(&w->sh.mu);
	w->sh.want = w->sh.written;
	pthread_cond_signal(&w->sh.cv);
	while (w->sh.synced < w->sh.written || w->sh.dir_done < w->sh.dir_req ||
	    w->sh.spare_wanted)
		pthread_cond_wait(&w->sh.done, &w->sh.mu);
	pthread_mutex_unlock(&w->sh.mu);
	wal_poll(w);
}

bool
wal_backlogged(const struct wal *w)
{
	uint64_t waiting =
	    w->lsn - (w->cfg.fsync == WAL_FSYNC_NO ? w->written : w->synced);

	return waiting > w->cfg.max_unsynced;
}

bool
wal_full(const struct wal *w)
{
	return w->full;
}

void
wal_stats(const struct wal *w, struct wal_stats *st)
{
	uint64_t samples[WAL_SYNC_SAMPLES];
	size_t n;

	memset(st, 0, sizeof(*st));
	st->fsync = w->cfg.fsync;
	for (size_t i = 0; i < w->nsegs; i++) {
		const struct wal_seg *s = &w->segs[i];
		if (s->state != WAL_SEG_OPEN)
			continue;
		st->segments++;
		st->log_bytes += s->end - WAL_SEG_HEADER;
		st->live_bytes += seg_needed(w, s);
		st->disk_bytes += s->alloc;
	}
	st->appended = w->lsn;
	st->durable = wal_durable(w);
	st->compacted_bytes = w->compacted;
	st->last_error = w->last_error;
	pthread_mutex_lock((pthread_mutex_t *)&w->sh.mu);
	st->syncs = w->sh.syncs;
	n = st->syncs < WAL_SYNC_SAMPLES ? st->syncs : WAL_SYNC_SAMPLES;
	memcpy(samples, w->sh.samples, n * sizeof(*samples));
	if (w->sh.spare_fd >= 0)
		st->disk_bytes += w->cfg.segment_size;
	pthread_mutex_unlock((pthread_mutex_t *)&w->sh.mu);
	if (n > 0) {
		/* Insertion sort of at most 1024: STATS is rare. */
		for (size_t i = 1; i < n; i++)
			for (size_t j = i; j > 0 && samples[j - 1] > samples[j];
			     j--) {
				uint64_t t = samples[j];
				samples[j] = samples[j - 1];
				samples[j - 1] = t;
			}
		st->sync_p99_usec =
		    samples[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1];
	}
}

static int
lock_dir(struct wal *w, char *err, size_t errsize)
{
	if (mkdir(w->dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errsize, "%s: %s", w->dir, strerror(errno));
		return -1;
	}
	w->dirfd = open(w->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (w->dirfd < 0) {
		snprintf(err, errsize, "%s: %s", w->dir, strerror(errno));
		return -1;
	}
	if (flock(w->dirfd, LOCK_EX | LOCK_NB) < 0) {
		snprintf(err, errsize, "%s: %s", w->dir,
		    errno == EWOULDBLOCK ? "in use by another sluiced"
		                         : strerror(errno));
		return -1;
	}
	return 0;
}

struct wal *
wal_open(const struct wal_config *cfg, const struct wal_owner *owner,
    struct wal_recovery *rs, char *err, size_t errsize)
{
	struct wal *w = xcalloc(1, sizeof(*w));
	struct wal_recovery unused;
	int fd;

	w->cfg = *cfg;
	if (w->cfg.segment_size < WAL_MIN_SEGMENT_SIZE)
		w->cfg.segment_size = WAL_MIN_SEGMENT_SIZE;
	if (w->cfg.max_unsynced == 0)
		w->cfg.max_unsynced = WAL_DEFAULT_MAX_UNSYNCED;
	w->dir = strdup(cfg->dir);
	w->owner = *owner;
	w->dirfd = -1;
	w->efd = -1;
	pthread_mutex_init(&w->sh.mu, NULL);
	pthread_cond_init(&w->sh.cv, NULL);
	pthread_cond_init(&w->sh.done, NULL);
	w->sh.cur_fd = w->sh.prev_fd = w->sh.spare_fd = -1;
	if (rs == NULL)
		rs = &unused;
	memset(rs, 0, sizeof(*rs));
	if (w->dir == NULL || lock_dir(w, err, errsize) < 0)
		goto fail;
	w->recovering = true;
	if (wal_recover(w, rs, err, errsize) < 0)
		goto fail;
	w->recovering = false;
	uint64_t seq = w->nsegs > 0 ? cur_seg(w)->seq + 1 : 1;
	if (wal_seg_create(w, seq, &fd) < 0) {
		snprintf(err, errsize, "%s: cannot make a segment: %s", w->dir,
		    strerror(errno));
		goto fail;
	}
	w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->efd < 0) {
		snprintf(err, errsize, "eventfd: %s", strerror(errno));
		close(fd);
		goto fail;
	}
	add_seg(w, seq, fd, w->cfg.segment_size);
	w->buf_off = WAL_SEG_HEADER;
	w->sh.cur_fd = fd;
	w->sh.cur_seq = seq;
	if (wal_sync_start(w) < 0) {
		snprintf(err, errsize, "sync thread: %s", strerror(errno));
		goto fail;
	}
	w->rolling = true;
	if (w->owner.snapshot != NULL)
		w->owner.snapshot(w->owner.arg, w);
	w->rolling = false;
	/* The recovered segments' settings now live in the new one. */
	for (size_t i = 0; i + 1 < w->nsegs; i++)
		w->segs[i].dead_lsn = w->lsn;
	want_spare(w, seq + 1);
	return w;
fail:
	wal_close(w);
	return NULL;
}

void
wal_close(struct wal *w)
{
	if (w == NULL)
		return;
	if (w->thread_on) {
		if (w->buflen > 0 && w->synced < w->seal)
			sync_now(w);
		wal_flush(w);
	}
	wal_sync_stop(w);
	for (size_t i = 0; i < w->nsegs; i++)
		if (w->segs[i].fd >= 0)
			close(w->segs[i].fd);
	if (w->sh.spare_fd >= 0)
		close(w->sh.spare_fd);
	if (w->efd >= 0)
		close(w->efd);
	if (w->dirfd >= 0)
		close(w->dirfd); /* and the flock with it */
	pthread_mutex_destroy(&w->sh.mu);
	pthread_cond_destroy(&w->sh.cv);
	pthread_cond_destroy(&w->sh.done);
	free(w->segs);
	free(w->buf);
	free(w->cbuf);
	free(w->dir);
	free(w);
}

const char *
wal_fsync_name(enum wal_fsync f)
{
	switch (f) {
	case WAL_FSYNC_NO:
		return "no";
	case WAL_FSYNC_EVERYSEC:
		return "everysec";
	case WAL_FSYNC_ALWAYS:
		return "always";
	}
	return "?";
}

int
wal_fsync_parse(const char *s, enum wal_fsync *f)
{
	if (strcmp(s, "always") == 0)
		*f = WAL_FSYNC_ALWAYS;
	else if (strcmp(s, "everysec") == 0)
		*f = WAL_FSYNC_EVERYSEC;
	else if (strcmp(s, "no") == 0)
		*f = WAL_FSYNC_NO;
	else
		return -1;
	return 0;
}
