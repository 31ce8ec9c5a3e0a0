/*
 * wal_sync.c - the sync thread: fdatasync off the event loop.
 *
 * The loop writes batches (wal_flush()) and says how far it wants them
 * synced (sh.want).  This thread syncs the segments with data (the
 * current one and, after a rollover, the one before), then publishes
 * sh.synced and writes the eventfd so the loop releases the answers
 * that waited.  While it syncs, the loop gathers the next batch: that
 * is the group commit.  It also syncs the directory after the loop
 * unlinked segments, and makes the next spare segment in advance.
 *
 * Under WAL_FSYNC_EVERYSEC it syncs each second on its own (sooner when
 * half of max_unsynced waits); under WAL_FSYNC_NO only when the loop
 * asks (a rollover seals the old segment, a deletion needs its kills
 * on disk).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "wal_int.h"

void
wal_fatal(const char *what, const char *file, int err)
{
	/* log.c writes to stderr: this is the daemon's last line. */
	log_err("%s %s: %s: stopping: the log's state on disk is unknown "
	        "(a retry after a failed sync can falsely succeed)",
	    what, file, strerror(err));
	_exit(EX_IOERR);
}

uint64_t
wal_now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void
wake_loop(struct wal *w)
{
	uint64_t one = 1;

	/* EAGAIN: the counter is already non-zero, the loop will look. */
	if (write(w->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("wal: eventfd: %s", strerror(errno));
}

static bool
has_work(const struct wal *w, uint64_t next_sec)
{
	const struct wal_shared *sh = &w->sh;

	if (sh->stop || (sh->want > sh->synced && sh->written > sh->synced) ||
	    sh->dir_req > sh->dir_done || sh->spare_wanted)
		return true;
	if (w->cfg.fsync == WAL_FSYNC_EVERYSEC && sh->written > sh->synced &&
	    (wal_now_usec() >= next_sec ||
	        sh->written - sh->synced >= w->cfg.max_unsynced / 2))
		return true;
	return false;
}

static void
wait_for_work(struct wal *w, uint64_t next_sec)
{
	struct timespec ts;

	while (!has_work(w, next_sec)) {
		if (w->cfg.fsync != WAL_FSYNC_EVERYSEC) {
			pthread_cond_wait(&w->sh.cv, &w->sh.mu);
			continue;
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100 * 1000 * 1000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&w->sh.cv, &w->sh.mu, &ts);
	}
}

/* One pass: directory, then data up to what was written.  Unlocked. */
static void
sync_pass(struct wal *w, uint64_t dir_gen, const int fd[2],
    const uint64_t seq[2], bool data)
{
	char path[4096];

	if (dir_gen > 0 && fsync(w->dirfd) < 0)
		wal_fatal("fsync", w->dir, errno);
	if (!data)
		return;
	for (int i = 0; i < 2; i++) {
		if (fd[i] < 0)
			continue;
		if (fdatasync(fd[i]) < 0) {
			int err = errno;
			wal_seg_path(w, seq[i], path, sizeof(path));
			wal_fatal("fdatasync", path, err);
		}
	}
}

static void
make_spare(struct wal *w)
{
	uint64_t seq;
	int fd = -1, rc;

	pthread_mutex_lock(&w->sh.mu);
	seq = w->sh.spare_seq;
	pthread_mutex_unlock(&w->sh.mu);
	rc = wal_seg_create(w, seq, &fd);
	pthread_mutex_lock(&w->sh.mu);
	w->sh.spare_wanted = false;
	if (rc == 0) {
		w->sh.spare_fd = fd;
		w->sh.spare_err = 0;
	} else {
		w->sh.spare_err = errno ? errno : EIO;
	}
	pthread_cond_broadcast(&w->sh.done);
	pthread_mutex_unlock(&w->sh.mu);
}

static void *
sync_main(void *arg)
{
	struct wal *w = arg;
	struct wal_shared *sh = &w->sh;
	uint64_t next_sec = wal_now_usec() + 1000000;

	pthread_mutex_lock(&sh->mu);
	for (;;) {
		wait_for_work(w, next_sec);
		uint64_t target = sh->written;
		bool data = target > sh->synced &&
		    (sh->want > sh->synced || sh->stop ||
		        w->cfg.fsync == WAL_FSYNC_EVERYSEC);
		uint64_t dir_gen = sh->dir_req > sh->dir_done ? sh->dir_req : 0;
		int fd[2] = { sh->cur_fd, sh->prev_fd };
		uint64_t seq[2] = { sh->cur_seq, sh->prev_seq };
		bool spare = sh->spare_wanted && !sh->stop;
		if (sh->stop && !data && dir_gen == 0)
			break;
		pthread_mutex_unlock(&sh->mu);

		uint64_t t0 = wal_now_usec();
		sync_pass(w, dir_gen, fd, seq, data);
		uint64_t took = wal_now_usec() - t0;
		if (w->cfg.fsync == WAL_FSYNC_EVERYSEC && data)
			next_sec = t0 + 1000000;

		pthread_mutex_lock(&sh->mu);
		if (data) {
			sh->samples[sh->syncs % WAL_SYNC_SAMPLES] = took;
			sh->syncs++;
			if (target > sh->synced)
				sh->synced = target;
			if (sh->synced >= sh->seal)
				sh->prev_fd = -1;
		}
		if (dir_gen > sh->dir_done)
			sh->dir_done = dir_gen;
		pthread_cond_broadcast(&sh->done);
		pthread_mutex_unlock(&sh->mu);
		if (spare)
			make_spare(w);
		wake_loop(w);
		pthread_mutex_lock(&sh->mu);
	}
	pthread_mutex_unlock(&sh->mu);
	return NULL;
}

int
wal_sync_start(struct wal *w)
{
	sigset_t all, old;
	int rc;

	/*
	 * Signals are the loop's: a thread that took one after the daemon
	 * gave a stop signal its default action back would kill it.
	 */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&w->thread, NULL, sync_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		errno = rc;
		return -1;
	}
	w->thread_on = true;
	return 0;
}

void
wal_sync_stop(struct wal *w)
{
	if (!w->thread_on)
		return;
	pthread_mutex_lock(&w->sh.mu);
	w->sh.stop = true;
	pthread_cond_signal(&w->sh.cv);
	pthread_mutex_unlock(&w->sh.mu);
	pthread_join(w->thread, NULL);
	w->thread_on = false;
}
