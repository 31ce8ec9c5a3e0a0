/*
 * bench_wal.c - a measurement, not a test: how fast the durable log
 * appends 64-byte PUT records under a fsync policy, in batches of a
 * given size (each batch one wal_flush(), and under "always" one wait
 * for its sync: the group commit of a loop iteration), and how long
 * reading the log back takes.  Built by `make check`, never run by it.
 *
 *   tests/bench_wal DIR always|everysec|no COUNT BATCH
 *
 * DIR is recovered first (so a second run with COUNT 0 times the
 * recovery of what the first one wrote), then COUNT records appended.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "wal.h"

static uint64_t puts_seen;

static int
count_puts(void *arg, struct wal *w, const struct wal_rec *r,
    struct wal_loc loc)
{
	(void)arg;
	(void)w;
	(void)loc;
	puts_seen += r->kind == WAL_PUT;
	return 0;
}

static double
now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	struct wal_config cfg = { .segment_size = WAL_DEFAULT_SEGMENT_SIZE,
		.max_unsynced = WAL_DEFAULT_MAX_UNSYNCED };
	struct wal_owner owner = { .apply = count_puts };
	struct wal_recovery rs;
	struct wal_stats st;
	struct rusage ru;
	char err[512], body[64];
	uint64_t lsn = 0;

	if (argc != 5 || wal_fsync_parse(argv[2], &cfg.fsync) < 0) {
		fprintf(stderr,
		    "usage: bench_wal DIR always|everysec|no "
		    "COUNT BATCH\n");
		return 64;
	}
	cfg.dir = argv[1];
	long count = atol(argv[3]), batch = atol(argv[4]);
	if (batch < 1)
		batch = 1;
	struct wal *w = wal_open(&cfg, &owner, &rs, err, sizeof(err));
	if (w == NULL) {
		fprintf(stderr, "bench_wal: %s\n", err);
		return 1;
	}
	printf("recovery: %" PRIu64 " records (%" PRIu64 " PUTs), %" PRIu64
	       " bytes, in %.3f s\n",
	    rs.records, puts_seen, rs.bytes_read, (double)rs.usec / 1e6);
	memset(body, 'x', sizeof(body));
	double t0 = now();
	for (long i = 0; i < count; i++) {
		struct wal_rec r = { .kind = WAL_PUT, .qno = 1 };
		r.u.put.id = (uint64_t)i + 1;
		r.u.put.body = body;
		r.u.put.len = sizeof(body);
		lsn = wal_append(w, &r, NULL);
		if ((i + 1) % batch == 0 || i + 1 == count) {
			wal_flush(w);
			if (cfg.fsync == WAL_FSYNC_ALWAYS)
				wal_wait_durable(w, lsn);
			wal_poll(w);
		}
	}
	double t1 = now();
	wal_stats(w, &st);
	if (count > 0)
		printf("append: %ld x 64 B in batches of %ld, fsync %s: %.0f "
		       "records/s, %" PRIu64 " syncs, p99 sync %" PRIu64
		       " us\n",
		    count, batch, argv[2], (double)count / (t1 - t0), st.syncs,
		    st.sync_p99_usec);
	wal_close(w);
	getrusage(RUSAGE_SELF, &ru);
	printf("max RSS: %ld KiB\n", ru.ru_maxrss);
	return 0;
}
