/*
 * wal_compact.c - reclaiming the space of a log whose oldest segment is
 * mostly dead but still holds a few live messages.
 *
 * Deleting wholly dead segments (wal.c) is not enough: one message
 * reserved for hours would pin its segment and, through the removals
 * that point back at that segment, every segment after it.  So when
 * more than half of the log is dead, the live records of the oldest
 * segment are copied to the end of the log (the owner says which are
 * live and learns where they went), a budget of bytes per call so the
 * loop never stalls; the segment is then wholly dead and deleted once
 * the copies are synced.  Disk use stays within about twice the live
 * bytes plus the current segment and the spare.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "wal_int.h"

/* True when more than half of the log's bytes are dead. */
static bool
worth_it(const struct wal *w)
{
	uint64_t log_bytes, live, segments;

	/* Not wal_stats(): this runs every loop iteration. */
	wal_usage(w, &log_bytes, &live, &segments);
	return segments >= 2 && log_bytes > 2 * live;
}

/* Read the record at off in s into w->cbuf; its size, or 0. */
static size_t
read_record(struct wal *w, const struct wal_seg *s, uint64_t off,
    struct wal_rec *r)
{
	uint8_t hdr[WAL_REC_HEADER];
	size_t used;
	const char *why;

	if (off + WAL_REC_HEADER > s->end ||
	    pread(s->fd, hdr, sizeof(hdr), (off_t)off) != (ssize_t)sizeof(hdr))
		return 0;
	size_t n = WAL_REC_HEADER +
	    ((size_t)hdr[4] | (size_t)hdr[5] << 8 | (size_t)hdr[6] << 16 |
	        (size_t)hdr[7] << 24);
	if (off + n > s->end)
		return 0;
	if (n > w->ccap) {
		uint8_t *nb = realloc(w->cbuf, n);
		if (nb == NULL)
			return 0;
		w->cbuf = nb;
		w->ccap = n;
	}
	if (pread(s->fd, w->cbuf, n, (off_t)off) != (ssize_t)n)
		return 0;
	if (wal_rec_decode(w->cbuf, n, r, &used, &why) != WAL_DEC_OK)
		return 0;
	return used;
}

void
wal_compact_step(struct wal *w, size_t budget)
{
	struct wal_seg *s;
	struct wal_rec r;

	if (w->compact_seq == 0) {
		if (w->nsegs < 2 || !worth_it(w))
			return;
		s = &w->segs[0];
		if (s->state != WAL_SEG_OPEN || s->live == 0)
			return; /* dead already: wal_poll() deletes it */
		w->compact_seq = s->seq;
		w->compact_off = WAL_SEG_HEADER;
	}
	s = wal_seg_find(w, w->compact_seq);
	while (s != NULL && budget > 0 && s->live > 0) {
		size_t n = read_record(w, s, w->compact_off, &r);
		if (n == 0) {
			log_err("wal: segment %" PRIu64
			        " unreadable at %" PRIu64
			        " during compaction: %s",
			    s->seq, w->compact_off, strerror(errno));
			w->last_error = errno ? errno : EIO;
			break;
		}
		struct wal_loc from = { s->seq, (uint32_t)n };
		if (r.kind == WAL_PUT && w->owner.is_live != NULL &&
		    w->owner.is_live(w->owner.arg, &r, from)) {
			struct wal_loc to;
			wal_append(w, &r, &to);
			/* wal_append may have rolled: find s again. */
			s = wal_seg_find(w, w->compact_seq);
			wal_kill(w, from);
			if (w->owner.moved != NULL)
				w->owner.moved(w->owner.arg, &r, from, to);
			w->compacted += n;
			budget = budget > n ? budget - n : 0;
		} else {
			budget = budget > n / 8 ? budget - n / 8 : 0;
		}
		w->compact_off += n;
	}
	if (s == NULL || s->live == 0 || w->compact_off >= s->end)
		w->compact_seq = 0;
}
