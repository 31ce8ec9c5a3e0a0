/*
 * wal_recover.c - reading the log back at start.
 *
 * Segments are read in seq order, each record checked (checksum, then
 * payload) and handed to the owner's apply() with its location, so the
 * owner rebuilds its queues and tells the log what is dead (wal_kill())
 * exactly as it did while running.  Where a segment's records end, the
 * rest of the file must read as zeros (its preallocated tail).
 *
 * A record that fails its check in the newest segment is a write torn
 * by a crash: the segment is cut there (truncated and synced, so the
 * cut is not met again once a newer segment exists) and the bytes cut
 * are logged.  Anywhere else it is damage: recovery refuses, naming the
 * file and offset, unless force_recover, which cuts that segment there
 * too and goes on, losing what followed in it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "wal_int.h"

static int
cmp_seq(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The seqs of the segment files in the directory, sorted. */
static int
list_segments(struct wal *w, uint64_t **seqs, size_t *n, char *err,
    size_t errsize)
{
	DIR *d = opendir(w->dir);
	struct dirent *e;
	size_t cap = 0;

	*seqs = NULL;
	*n = 0;
	if (d == NULL) {
		snprintf(err, errsize, "%s: %s", w->dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		uint64_t seq;
		char tail;
		if (strlen(e->d_name) != 24 ||
		    sscanf(e->d_name, "wal-%16" SCNx64 ".se%c", &seq, &tail) !=
		        2 ||
		    tail != 'g' || seq == 0)
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			uint64_t *ns = realloc(*seqs, cap * sizeof(**seqs));
			if (ns == NULL)
				abort();
			*seqs = ns;
		}
		(*seqs)[(*n)++] = seq;
	}
	closedir(d);
	if (*n > 0)
		qsort(*seqs, *n, sizeof(**seqs), cmp_seq);
	return 0;
}

static uint64_t
get_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static bool
header_ok(const uint8_t *p, size_t size, uint64_t seq)
{
	return size >= WAL_SEG_HEADER && memcmp(p, WAL_SEG_MAGIC, 8) == 0 &&
	    get_le64(p + 8) == WAL_SEG_VERSION && get_le64(p + 16) == seq;
}

/* Offset after the last non-zero byte of p[from..size), or from. */
static size_t
last_nonzero(const uint8_t *p, size_t from, size_t size)
{
	while (size > from && size % 8 != 0 && p[size - 1] == 0)
		size--;
	while (size >= from + 8) {
		uint64_t v;
		memcpy(&v, p + size - 8, 8);
		if (v != 0)
			break;
		size -= 8;
	}
	while (size > from && p[size - 1] == 0)
		size--;
	return size;
}

/*
 * The same over the file's data only: SEEK_DATA/SEEK_HOLE skip what
 * was preallocated and never written, which reading would zero-fill
 * page by page (most of a fresh segment).
 */
static size_t
tail_end(int fd, const uint8_t *p, size_t from, size_t size)
{
	size_t end = from, pos = from;

	while (pos < size) {
		off_t d = lseek(fd, (off_t)pos, SEEK_DATA);
		if (d < 0 || (size_t)d >= size)
			break;
		off_t h = lseek(fd, d, SEEK_HOLE);
		size_t hole = h < 0 || (size_t)h > size ? size : (size_t)h;
		size_t e = last_nonzero(p, (size_t)d, hole);
		if (e > (size_t)d)
			end = e;
		pos = hole;
	}
	return end;
}

/* Cut the segment at off (truncate and sync); the bytes cut, logged. */
static int
cut(struct wal *w, int fd, const char *path, const uint8_t *p, size_t off,
    size_t size, struct wal_recovery *rs, const char *why, bool forced)
{
	size_t end = tail_end(fd, p, off, size);

	if (ftruncate(fd, (off_t)off) < 0 || fsync(fd) < 0) {
		log_err("wal: cannot cut %s at %zu: %s", path, off,
		    strerror(errno));
		return -1;
	}
	rs->bytes_cut += end - off;
	if (forced)
		log_warn("wal: force_recover: %s: bad record at offset %zu "
		         "(%s): dropped the %zu bytes after it",
		    path, off, why, end - off);
	else if (end > off)
		log_notice("wal: %s: cut a torn tail of %zu bytes at offset "
		           "%zu (%s)",
		    path, end - off, off, why);
	(void)w;
	return 0;
}

/* Apply every record of one mapped segment; -1 refuses (err set). */
static int
read_segment(struct wal *w, struct wal_seg *s, const char *path,
    const uint8_t *p, size_t size, bool newest, struct wal_recovery *rs,
    char *err, size_t errsize)
{
	size_t off = WAL_SEG_HEADER, used;
	const char *why = NULL;
	struct wal_rec r;

	while (off < size) {
		enum wal_decode d =
		    wal_rec_decode(p + off, size - off, &r, &used, &why);
		if (d == WAL_DEC_ZERO) {
			/* The end; a newer segment exists only once this
			 * one was synced, so only the newest may have a
			 * torn batch beyond a zeroed gap. */
			if (!newest)
				break;
			why = "zeroed";
		} else if (d == WAL_DEC_SHORT) {
			why = "record cut short";
		}
		if (d != WAL_DEC_OK) {
			s->end = off;
			if (newest || w->cfg.force_recover) {
				/* Appending goes on in a new segment: nothing
				 * may stay after this one's end. */
				s->alloc = off;
				return cut(w, s->fd, path, p, off, size, rs,
				    why, !newest);
			}
			snprintf(err, errsize,
			    "%s: bad record at offset %zu (%s); refusing to "
			    "start (force_recover drops the rest of this "
			    "segment)",
			    path, off, why);
			return -1;
		}
		struct wal_loc loc = { s->seq, (uint32_t)used };
		s->end = off + used;
		wal_seg_account(w, s, r.kind, (uint32_t)used);
		if (w->owner.apply != NULL &&
		    w->owner.apply(w->owner.arg, w, &r, loc) < 0) {
			snprintf(err, errsize,
			    "%s: record at offset %zu (%s) "
			    "rejected by the daemon",
			    path, off, wal_kind_name(r.kind));
			return -1;
		}
		rs->records++;
		rs->bytes_read += used;
		off += used;
	}
	s->end = off;
	return 0;
}

/* Open, check and read segment seq; -1 refuses (err set). */
static int
recover_one(struct wal *w, uint64_t seq, bool newest, struct wal_recovery *rs,
    char *err, size_t errsize)
{
	char path[4096];
	struct stat st;
	uint8_t *p = NULL;
	int fd;

	wal_seg_path(w, seq, path, sizeof(path));
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(err, errsize, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	size_t size = (size_t)st.st_size;
	if (size > 0) {
		p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (p == MAP_FAILED) {
			snprintf(err, errsize, "%s: mmap: %s", path,
			    strerror(errno));
			close(fd);
			return -1;
		}
		madvise(p, size, MADV_SEQUENTIAL);
	}
	if (p == NULL || !header_ok(p, size, seq)) {
		/* Nothing past the header: a spare being made at the stop. */
		bool blank = size <= WAL_SEG_HEADER ||
		    last_nonzero(p, WAL_SEG_HEADER, size) == WAL_SEG_HEADER;
		if (p != NULL)
			munmap(p, size);
		close(fd);
		if (newest && blank) {
			log_notice("wal: %s: unfinished segment removed", path);
			unlink(path);
			return 0;
		}
		snprintf(err, errsize,
		    "%s: not a sluice log segment (bad "
		    "header)",
		    path);
		return -1;
	}
	/* Recovered records may be in the page cache only: make them safe
	 * before deletions start relying on them. */
	if (fdatasync(fd) < 0)
		wal_fatal("fdatasync", path, errno);
	struct wal_seg *s;
	if (w->nsegs == w->segcap) {
		w->segcap = w->segcap ? w->segcap * 2 : 16;
		w->segs = realloc(w->segs, w->segcap * sizeof(*w->segs));
		if (w->segs == NULL)
			abort();
	}
	s = &w->segs[w->nsegs++];
	memset(s, 0, sizeof(*s));
	s->seq = seq;
	s->fd = fd;
	s->end = WAL_SEG_HEADER;
	s->alloc = size;
	int rc = read_segment(w, s, path, p, size, newest, rs, err, errsize);
	munmap(p, size);
	rs->segments++;
	return rc;
}

/*
 * True when segment seq has a record frame after its header.  Batches
 * are written from the front, and a segment gets data only once the
 * one before is synced, so a segment whose first frame is zero holds
 * nothing that was ever synced.
 */
static bool
has_data(struct wal *w, uint64_t seq)
{
	char path[4096];
	uint8_t b[WAL_REC_HEADER] = { 0 };
	int fd;

	wal_seg_path(w, seq, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true; /* let recover_one() say what is wrong */
	ssize_t n = pread(fd, b, sizeof(b), WAL_SEG_HEADER);
	close(fd);
	if (n < 0)
		return true;
	for (size_t i = 0; i < sizeof(b); i++)
		if (b[i] != 0)
			return true;
	return false;
}

int
wal_recover(struct wal *w, struct wal_recovery *rs, char *err, size_t errsize)
{
	uint64_t *seqs, t0 = wal_now_usec();
	size_t n;
	int rc = 0;

	if (list_segments(w, &seqs, &n, err, errsize) < 0)
		return -1;
	/*
	 * The newest segment with data may have a torn tail; the segments
	 * after it are spares, made in advance, with nothing in them.
	 */
	size_t last = n;
	while (last > 0 && !has_data(w, seqs[last - 1]))
		last--;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = recover_one(w, seqs[i], i + 1 >= last, rs, err, errsize);
	free(seqs);
	rs->usec = wal_now_usec() - t0;
	if (rc == 0 && rs->segments > 0)
		log_info("wal: recovered %" PRIu64 " records (%" PRIu64
		         " bytes) from %" PRIu64 " segments in %" PRIu64 " ms",
		    rs->records, rs->bytes_read, rs->segments, rs->usec / 1000);
	return rc;
}
