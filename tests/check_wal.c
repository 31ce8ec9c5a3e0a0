/*
 * check_wal.c - unit tests of the durable log: CRC-32C against the
 * RFC 3720 vectors, record encoding, recovery of torn and damaged
 * segments, compaction's disk bound, the sync thread's progress, and
 * the power-cut library (tests/powercut.c) the crash tests rely on.
 *
 * Each test works in a fresh directory under $TMPDIR (or /tmp), with
 * small segments so that rollovers and compaction happen within a few
 * hundred records.  A "test owner" stands in for the daemon: it keeps
 * the live messages with their log locations, as the daemon will.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crc32c.h"
#include "wal.h"
#include "wal_record.h"

#define SEG (64 * 1024)
#define MAXMSG 4096

/* ---- helpers: directories ---- */

static void
make_dir(char *buf, size_t size)
{
	const char *t = getenv("TMPDIR");

	snprintf(buf, size, "%s/check_wal.XXXXXX", t ? t : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(buf));
}

static void
remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[4096];

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

static char *
read_file(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY);
	struct stat st;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	char *b = malloc((size_t)st.st_size + 1);
	ck_assert_int_eq(pread(fd, b, (size_t)st.st_size, 0), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return b;
}

static void
write_file(const char *path, const char *b, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, b, len), (ssize_t)len);
	close(fd);
}

static void
seg_name(char *buf, size_t size, const char *dir, uint64_t seq)
{
	snprintf(buf, size, "%s/wal-%016" PRIx64 ".seg", dir, seq);
}

/* ---- the test owner: live messages and where their records are ---- */

struct tmsg {
	uint64_t id;
	struct wal_loc loc;
	size_t len;
	bool live;
};

struct towner {
	struct tmsg *m;
	size_t n, cap;
	uint64_t records;
	uint64_t next_id; /* from WAL_IDS */
	int queues;       /* WAL_QUEUE_SET seen */
};

static struct tmsg *
tfind(struct towner *o, uint64_t id)
{
	for (size_t i = 0; i < o->n; i++)
		if (o->m[i].id == id && o->m[i].live)
			return &o->m[i];
	return NULL;
}

static struct tmsg *
tadd(struct towner *o, uint64_t id, struct wal_loc loc, size_t len)
{
	if (o->n == o->cap) {
		o->cap = o->cap ? o->cap * 2 : 256;
		o->m = realloc(o->m, o->cap * sizeof(*o->m));
	}
	struct tmsg *t = &o->m[o->n++];
	t->id = id;
	t->loc = loc;
	t->len = len;
	t->live = true;
	return t;
}

static size_t
tlive(const struct towner *o)
{
	size_t n = 0;

	for (size_t i = 0; i < o->n; i++)
		n += o->m[i].live;
	return n;
}

static int
t_apply(void *arg, struct wal *w, const struct wal_rec *r, struct wal_loc loc)
{
	struct towner *o = arg;
	struct wal_rm_iter it;
	struct tmsg *t;
	uint64_t id;

	o->records++;
	switch (r->kind) {
	case WAL_PUT:
		if ((t = tfind(o, r->u.put.id)) != NULL) {
			wal_kill(w, t->loc);
			t->loc = loc;
		} else {
			tadd(o, r->u.put.id, loc, r->u.put.len);
		}
		break;
	case WAL_REMOVE:
		wal_rm_iter_init(&it, r);
		while (wal_rm_next(&it, &id))
			if ((t = tfind(o, id)) != NULL) {
				wal_kill(w, t->loc);
				t->live = false;
			}
		break;
	case WAL_IDS:
		o->next_id = r->u.next_id;
		break;
	case WAL_QUEUE_SET:
		o->queues++;
		break;
	default:
		break;
	}
	return 0;
}

static void
t_snapshot(void *arg, struct wal *w)
{
	struct towner *o = arg;
	struct wal_rec r = { .kind = WAL_QUEUE_SET, .qno = 1 };

	r.u.queue.name = "jobs";
	r.u.queue.name_len = 4;
	r.u.queue.capacity = 1024;
	wal_append(w, &r, NULL);
	r.kind = WAL_IDS;
	r.u.next_id = o->next_id + 1000;
	wal_append(w, &r, NULL);
}

static bool
t_is_live(void *arg, const struct wal_rec *r, struct wal_loc loc)
{
	struct tmsg *t = tfind(arg, r->u.put.id);

	return t != NULL && t->loc.seg == loc.seg;
}

static void
t_moved(void *arg, const struct wal_rec *r, struct wal_loc from,
    struct wal_loc to)
{
	struct tmsg *t = tfind(arg, r->u.put.id);

	(void)from;
	t->loc = to;
}

static struct wal *
topen(const char *dir, struct towner *o, enum wal_fsync f, bool force,
    char *err, size_t errsize)
{
	struct wal_config cfg = { .dir = dir,
		.fsync = f,
		.segment_size = SEG,
		.max_unsynced = 1 << 20,
		.force_recover = force };
	struct wal_owner ow = { o, t_apply, t_snapshot, t_is_live, t_moved };

	memset(o, 0, sizeof(*o));
	return wal_open(&cfg, &ow, NULL, err, errsize);
}

static void
tfree(struct towner *o)
{
	free(o->m);
	memset(o, 0, sizeof(*o));
}

/* Append a PUT of len bytes of a pattern of id. */
static uint64_t
tput(struct wal *w, struct towner *o, uint64_t id, size_t len)
{
	char body[MAXMSG];
	struct wal_rec r = { .kind = WAL_PUT, .qno = 1 };
	struct wal_loc loc;

	for (size_t i = 0; i < len; i++)
		body[i] = (char)(id * 31 + i);
	r.u.put.id = id;
	r.u.put.body = body;
	r.u.put.len = len;
	uint64_t lsn = wal_append(w, &r, &loc);
	tadd(o, id, loc, len);
	if (id >= o->next_id)
		o->next_id = id + 1;
	return lsn;
}

static uint64_t
tremove(struct wal *w, struct towner *o, uint64_t id)
{
	struct wal_rec r = { .kind = WAL_REMOVE, .qno = 1 };
	struct tmsg *t = tfind(o, id);

	r.u.rm.reason = WAL_RM_ACK;
	r.u.rm.count = 1;
	r.u.rm.idv = &id;
	uint64_t lsn = wal_append(w, &r, NULL);
	wal_kill(w, t->loc);
	t->live = false;
	return lsn;
}

/* ---- CRC-32C ---- */

/* RFC 3720 B.4, plus the classic "123456789" check value. */
START_TEST(test_crc32c_matches_rfc3720_vectors_on_both_paths)
{
	uint8_t buf[48];
	static const uint8_t pdu[48] = { 0x01, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0, 0, 0, 0, 0, 0x14, 0, 0, 0, 0, 0, 0x04, 0, 0, 0, 0, 0x14, 0,
		0, 0, 0x18, 0x28, 0, 0, 0, 0, 0, 0, 0, 0x02, 0, 0, 0, 0, 0, 0,
		0 };
	uint32_t (*fn[2])(uint32_t, const void *, size_t) = { crc32c_extend,
		crc32c_extend_portable };

	for (int f = 0; f < 2; f++) {
		memset(buf, 0, 32);
		ck_assert_uint_eq(fn[f](0, buf, 32), 0x8a9136aa);
		memset(buf, 0xff, 32);
		ck_assert_uint_eq(fn[f](0, buf, 32), 0x62a8ab43);
		for (int i = 0; i < 32; i++)
			buf[i] = (uint8_t)i;
		ck_assert_uint_eq(fn[f](0, buf, 32), 0x46dd794e);
		for (int i = 0; i < 32; i++)
			buf[i] = (uint8_t)(31 - i);
		ck_assert_uint_eq(fn[f](0, buf, 32), 0x113fdb5c);
		ck_assert_uint_eq(fn[f](0, pdu, 48), 0xd9963a56);
		ck_assert_uint_eq(fn[f](0, "123456789", 9), 0xe3069283);
		/* In pieces, the same. */
		for (size_t cut = 0; cut <= 48; cut++)
			ck_assert_uint_eq(fn[f](fn[f](0, pdu, cut), pdu + cut,
			                      48 - cut),
			    0xd9963a56);
	}
}
END_TEST

/* ---- records ---- */

static void
roundtrip(const struct wal_rec *in, struct wal_rec *out, uint8_t *buf)
{
	size_t n = wal_rec_size(in), used;
	const char *why;

	ck_assert_uint_eq(wal_rec_encode(in, buf), n);
	ck_assert_int_eq(wal_rec_decode(buf, n, out, &used, &why), WAL_DEC_OK);
	ck_assert_uint_eq(used, n);
	/* Every shorter prefix is short, never a record. */
	for (size_t k = 0; k < n; k++) {
		struct wal_rec junk;
		ck_assert_int_eq(wal_rec_decode(buf, k, &junk, &used, &why),
		    k == 0 ? WAL_DEC_SHORT : WAL_DEC_SHORT);
	}
	/* Every flipped byte is caught. */
	for (size_t k = 0; k < n; k++) {
		struct wal_rec junk;
		buf[k] ^= 0x40;
		ck_assert_int_ne(wal_rec_decode(buf, n, &junk, &used, &why),
		    WAL_DEC_OK);
		buf[k] ^= 0x40;
	}
}

START_TEST(test_records_round_trip_and_catch_damage)
{
	uint8_t buf[8192];
	struct wal_rec in, out;
	char body[3000];
	uint64_t ids[] = { 5, 6, 7, 3, UINT64_C(0x7fffffffffffffff), 0 };
	struct wal_rm_iter it;
	uint64_t id;

	memset(&in, 0, sizeof(in));
	in.kind = WAL_QUEUE_SET;
	in.qno = 70000;
	in.u.queue = (struct wal_rec_queue){ .name = "jobs.a:b-c",
		.name_len = 10,
		.capacity = 1024,
		.max_bytes = 1 << 24,
		.lease_ms = 30000,
		.max_deliveries = 5,
		.policy = 2,
		.flags = WAL_QF_CLOSED,
		.dead_letter = "dlq",
		.dead_letter_len = 3 };
	roundtrip(&in, &out, buf);
	ck_assert_int_eq(out.kind, WAL_QUEUE_SET);
	ck_assert_uint_eq(out.qno, 70000);
	ck_assert_uint_eq(out.u.queue.name_len, 10);
	ck_assert_mem_eq(out.u.queue.name, "jobs.a:b-c", 10);
	ck_assert_uint_eq(out.u.queue.capacity, 1024);
	ck_assert_uint_eq(out.u.queue.max_bytes, 1 << 24);
	ck_assert_uint_eq(out.u.queue.lease_ms, 30000);
	ck_assert_uint_eq(out.u.queue.max_deliveries, 5);
	ck_assert_uint_eq(out.u.queue.policy, 2);
	ck_assert_uint_eq(out.u.queue.flags, WAL_QF_CLOSED);
	ck_assert_mem_eq(out.u.queue.dead_letter, "dlq", 3);

	for (size_t len = 0; len < sizeof(body); len += 997) {
		memset(body, 'x', sizeof(body));
		memset(&in, 0, sizeof(in));
		in.kind = WAL_PUT;
		in.qno = 3;
		in.u.put = (struct wal_rec_put){ .id = UINT64_C(1) << 40,
			.deliveries = 2,
			.not_before_ms = 1700000000000ULL,
			.body = body,
			.len = len };
		roundtrip(&in, &out, buf);
		ck_assert_int_eq(out.kind, WAL_PUT);
		ck_assert_uint_eq(out.u.put.id, UINT64_C(1) << 40);
		ck_assert_uint_eq(out.u.put.deliveries, 2);
		ck_assert_uint_eq(out.u.put.not_before_ms, 1700000000000ULL);
		ck_assert_uint_eq(out.u.put.len, len);
		ck_assert(len == 0 || memcmp(out.u.put.body, body, len) == 0);
	}

	memset(&in, 0, sizeof(in));
	in.kind = WAL_REMOVE;
	in.qno = 1;
	in.u.rm = (struct wal_rec_rm){ .reason = WAL_RM_PURGE,
		.count = 6,
		.idv = ids };
	roundtrip(&in, &out, buf);
	ck_assert_uint_eq(out.u.rm.reason, WAL_RM_PURGE);
	ck_assert_uint_eq(out.u.rm.count, 6);
	wal_rm_iter_init(&it, &out);
	for (size_t i = 0; i < 6; i++) {
		ck_assert(wal_rm_next(&it, &id));
		ck_assert_uint_eq(id, ids[i]);
	}
	ck_assert(!wal_rm_next(&it, &id));

	enum wal_kind small[] = { WAL_QUEUE_DELETE, WAL_QUEUE_CLOSE, WAL_IDS };
	for (size_t k = 0; k < 3; k++) {
		memset(&in, 0, sizeof(in));
		in.kind = small[k];
		in.qno = 9;
		in.u.next_id = 123456789;
		roundtrip(&in, &out, buf);
		ck_assert_int_eq(out.kind, small[k]);
		if (small[k] == WAL_IDS)
			ck_assert_uint_eq(out.u.next_id, 123456789);
		else
			ck_assert_uint_eq(out.qno, 9);
	}

	/* Zeros are the end of the written bytes, not a record. */
	size_t used;
	const char *why;
	memset(buf, 0, 64);
	ck_assert_int_eq(wal_rec_decode(buf, 64, &out, &used, &why),
	    WAL_DEC_ZERO);
}
END_TEST

/* ---- restart ---- */

START_TEST(test_restart_gives_back_exactly_the_live_records)
{
	char dir[256], err[512];
	struct towner o, o2;
	struct wal *w;

	make_dir(dir, sizeof(dir));
	w = topen(dir, &o, WAL_FSYNC_ALWAYS, false, err, sizeof(err));
	ck_assert_msg(w != NULL, "%s", err);
	/* 400 messages of 0..399 bytes over several segments; remove
	 * every third. */
	for (uint64_t id = 1; id <= 400; id++) {
		tput(w, &o, id, (size_t)(id - 1));
		if (id % 3 == 0)
			tremove(w, &o, id - 1);
		if (id % 16 == 0) {
			wal_flush(w);
			wal_poll(w);
		}
	}
	wal_close(w);

	w = topen(dir, &o2, WAL_FSYNC_ALWAYS, false, err, sizeof(err));
	ck_assert_msg(w != NULL, "%s", err);
	ck_assert_uint_eq(tlive(&o2), tlive(&o));
	for (size_t i = 0; i < o.n; i++) {
		struct tmsg *t = tfind(&o2, o.m[i].id);
		ck_assert_int_eq(t != NULL, o.m[i].live);
		if (t != NULL)
			ck_assert_uint_eq(t->len, o.m[i].len);
	}
	ck_assert_uint_ge(o2.next_id, 401);
	ck_assert_int_ge(o2.queues, 1);
	wal_close(w);
	tfree(&o);
	tfree(&o2);
	remove_dir(dir);
}
END_TEST

/* ---- torn tails and damage ---- */

/* Offsets of the records of a segment image, up to its clean end. */
static size_t
record_offsets(const char *img, size_t len, size_t *offs, size_t max)
{
	size_t off = 32, n = 0, used;
	struct wal_rec r;
	const char *why;

	while (n < max &&
	    wal_rec_decode((const uint8_t *)img + off, len - off, &r, &used,
	        &why) == WAL_DEC_OK) {
		offs[n++] = off;
		off += used;
	}
	offs[n] = off;
	return n;
}

START_TEST(test_torn_tail_is_cut_at_every_byte_of_the_last_records)
{
	char dir[256], dir2[256], err[512], p[4096], p2[4096];
	struct towner o, o2;
	struct wal *w;
	size_t offs[64], len, len2;

	make_dir(dir, sizeof(dir));
	w = topen(dir, &o, WAL_FSYNC_NO, false, err, sizeof(err));
	ck_assert_msg(w != NULL, "%s", err);
	for (uint64_t id = 1; id <= 8; id++)
		tput(w, &o, id, 5 + (size_t)id * 3);
	tremove(w, &o, 2);
	wal_sync_all(w); /* the spare is made */
	wal_close(w);

	/*
	 * Segment 1 has the records; segment 2, when the sync thread made
	 * it before the close, is the empty spare (after the segment with
	 * the torn tail, which must still count as the newest).
	 */
	seg_name(p, sizeof(p), dir, 1);
	char *img = read_file(p, &len);
	seg_name(p2, sizeof(p2), dir, 2);
	char *spare = read_file(p2, &len2);
	size_t n = record_offsets(img, len, offs, 63);
	ck_assert_uint_ge(n, 3 + 8);
	size_t from = offs[n - 3], end = offs[n];

	make_dir(dir2, sizeof(dir2));
	/* At every byte: the tail zeroed, or a 16-byte hole in it (a
	 * torn batch whose later pages reached the disk). */
	for (size_t c = from; c <= end; c++)
		for (int hole = 0; hole < 2; hole++) {
			size_t whole = 0;
			while (whole < n && offs[whole + 1] <= c)
				whole++;
			char *cut = calloc(1, len);
			memcpy(cut, img, hole ? len : c);
			memset(cut + c, 0, c + 16 <= len && hole ? 16 : 0);
			seg_name(p, sizeof(p), dir2, 1);
			write_file(p, cut, len);
			seg_name(p, sizeof(p), dir2, 2);
			write_file(p, spare, len2);
			free(cut);

			struct wal_recovery rs;
			struct wal_config cfg = { .dir = dir2,
				.fsync = WAL_FSYNC_NO,
				.segment_size = SEG };
			struct wal_owner ow = { &o2, t_apply, t_snapshot,
				t_is_live, t_moved };
			memset(&o2, 0, sizeof(o2));
			w = wal_open(&cfg, &ow, &rs, err, sizeof(err));
			ck_assert_msg(w != NULL, "cut at %zu: %s", c, err);
			ck_assert_msg(o2.records == whole,
			    "cut at %zu hole %d: %" PRIu64 " records, want %zu",
			    c, hole, o2.records, whole);
			/* A hole before the end leaves bytes to cut. */
			if (hole && c + 16 < end)
				ck_assert_uint_gt(rs.bytes_cut, 0);
			wal_close(w);
			tfree(&o2);
			remove_dir(dir2);
			ck_assert_int_eq(mkdir(dir2, 0700), 0);
		}
	free(img);
	free(spare);
	tfree(&o);
	remove_dir(dir);
	remove_dir(dir2);
}
END_TEST

START_TEST(test_flipped_byte_in_an_older_segment_refuses_to_start)
{
	char dir[256], err[512], p[4096];
	struct towner o, o2;
	struct wal *w;
	size_t len, offs[512];

	make_dir(dir, sizeof(dir));
	w = topen(dir, &o, WAL_FSYNC_NO, false, err, sizeof(err));
	ck_assert_msg(w != NULL, "%s", err);
	for (uint64_t id = 1; id <= 300; id++)
		tput(w, &o, id, 700);
	wal_close(w);

	/* Damage the fifth record of segment 1 (older: 2 and 3 follow). */
	seg_name(p, sizeof(p), dir, 1);
	char *img = read_file(p, &len);
	size_t n = record_offsets(img, len, offs, 511);
	ck_assert_uint_ge(n, 10);
	img[offs[4] + 20] ^= 0x01;
	write_file(p, img, len);
	free(img);

	w = topen(dir, &o2, WAL_FSYNC_NO, false, err, sizeof(err));
	ck_assert_ptr_null(w);
	ck_assert_msg(strstr(err, "wal-0000000000000001.seg") != NULL &&
	        strstr(err, "offset") != NULL,
	    "%s", err);
	char want[64];
	snprintf(want, sizeof(want), "offset %zu", offs[4]);
	ck_assert_msg(strstr(err, want) != NULL, "%s", err);
	tfree(&o2);

	/* force_recover drops the rest of segment 1 and goes on. */
	w = topen(dir, &o2, WAL_FSYNC_NO, true, err, sizeof(err));
	ck_assert_msg(w != NULL, "%s", err);
	ck_assert_ptr_null(tfind(&o2, 3)); /* record 5: ids 3 on */
	ck_assert_ptr_nonnull(tfind(&o2, 1));
	ck_assert_ptr_nonnull(tfind(&o2, 300));
	ck_assert_uint_lt(tlive(&o2), 300);
	wal_close(w);
	tfree(&o2);

	/* And the cut is permanent: a plain start now works. */
	w = topen(dir, &o2, WAL_FSYNC_NO, false, err, sizeof(err));
	ck_assert_msg(w != NULL, "%s", err);
	ck_assert_ptr_nonnull(tfind(&o2, 300));
	wal_close(w);
	tfree(&o2);
	tfree(&o);
	remove_dir(dir);
}
END_TEST

/* ---- compaction ---- */

START_TEST(test_compaction_keeps_disk_bounded_with_one_old_live_record)
{
	char dir[256], err[512];
	struct towner o, o2;
	struct wal_stats st;
	struct wal *w;
	uint64_t maxdisk = 0, maxlog = 0;

	make_dir(dir, sizeof(dir));
	w = topen(dir, &o, WAL_FSYNC_ALWAYS, false, err, sizeof(err));
	ck_assert_msg(w != NULL, "%s", err);
	tput(w, &o, 1, 100); /* never removed */
	/* 40 segments' worth of traffic: each message put, then taken. */
	for (uint64_t id = 2; id < 6000; id++) {
		tput(w, &o, id, 400);
		if (id > 10)
			tremove(w, &o, id - 8);
		if (id % 8 == 0) {
			wal_flush(w);
			wal_poll(w);
			wal_compact_step(w, 16 * 1024);
		}
		if (id % 500 == 0) {
			/* A few loop iterations' worth of syncs: each
			 * deletion lets the next segment's removals go. */
			for (int k = 0; k < 8; k++) {
				wal_sync_all(w);
				wal_compact_step(w, SEG);
			}
			wal_sync_all(w);
			wal_stats(w, &st);
			if (st.disk_bytes > maxdisk)
				maxdisk = st.disk_bytes;
			if (st.log_bytes > maxlog)
				maxlog = st.log_bytes;
			/* About 2x live plus the current segment and the
			 * spare; live is ~8 messages here. */
			ck_assert_msg(st.log_bytes <=
			        2 * st.live_bytes + 3 * SEG,
			    "log %" PRIu64 " live %" PRIu64, st.log_bytes,
			    st.live_bytes);
			ck_assert_uint_le(st.segments, 5);
		}
	}
	wal_stats(w, &st);
	ck_assert_uint_gt(st.compacted_bytes, 0);
	wal_close(w);

	/* The old message survived being copied forward. */
	w = topen(dir, &o2, WAL_FSYNC_ALWAYS, false, err, sizeof(err));
	ck_assert_msg(w != NULL, "%s", err);
	ck_assert_ptr_nonnull(tfind(&o2, 1));
	ck_assert_uint_eq(tfind(&o2, 1)->len, 100);
	ck_assert_uint_eq(tlive(&o2), tlive(&o));
	wal_close(w);
	tfree(&o);
	tfree(&o2);
	remove_dir(dir);
}
END_TEST

/* ---- sync thread ---- */

START_TEST(test_sync_position_advances_under_always)
{
	char dir[256], err[512];
	struct towner o;
	struct wal_stats st;
	struct wal *w;

	make_dir(dir, sizeof(dir));
	w = topen(dir, &o, WAL_FSYNC_ALWAYS, false, err, sizeof(err));
	ck_assert_msg(w != NULL, "%s", err);
	uint64_t prev = wal_durable(w);
	for (int batch = 0; batch < 5; batch++) {
		uint64_t lsn = 0;
		for (int i = 0; i < 10; i++)
			lsn = tput(w, &o, (uint64_t)(batch * 10 + i + 1), 50);
		ck_assert_uint_lt(wal_durable(w), lsn); /* not yet synced */
		ck_assert_int_eq(wal_flush(w), 0);
		/* Wait for the sync thread's word through the eventfd. */
		struct pollfd pfd = { wal_eventfd(w), POLLIN, 0 };
		for (int k = 0; k < 1000 && wal_durable(w) < lsn; k++) {
			ck_assert_int_ge(poll(&pfd, 1, 5000), 0);
			wal_poll(w);
		}
		ck_assert_uint_ge(wal_durable(w), lsn);
		ck_assert_uint_gt(wal_durable(w), prev);
		prev = wal_durable(w);
	}
	wal_stats(w, &st);
	ck_assert_uint_ge(st.syncs, 5);
	ck_assert_uint_eq(st.durable, st.appended);
	ck_assert(!wal_backlogged(w));
	ck_assert(!wal_full(w));
	wal_close(w);
	tfree(&o);
	remove_dir(dir);
}
END_TEST

START_TEST(test_id_reservation_is_synced_on_request_under_no)
{
	char dir[256], err[512];
	struct towner o;
	struct wal *w;
	struct wal_rec r = { .kind = WAL_IDS };

	make_dir(dir, sizeof(dir));
	w = topen(dir, &o, WAL_FSYNC_NO, false, err, sizeof(err));
	ck_assert_msg(w != NULL, "%s", err);
	wal_sync_all(w); /* the open's own syncs are done */
	r.u.next_id = 1000000;
	uint64_t lsn = wal_append(w, &r, NULL);
	wal_flush(w);
	/* Under "no" a write is durable for answers, not synced. */
	ck_assert_uint_ge(wal_durable(w), lsn);
	ck_assert_uint_lt(wal_synced(w), lsn);
	wal_want_sync(w, lsn);
	struct pollfd pfd = { wal_eventfd(w), POLLIN, 0 };
	for (int k = 0; k < 1000 && wal_synced(w) < lsn; k++) {
		ck_assert_int_ge(poll(&pfd, 1, 5000), 0);
		wal_poll(w);
	}
	ck_assert_uint_ge(wal_synced(w), lsn);
	wal_close(w);
	tfree(&o);
	remove_dir(dir);
}
END_TEST

START_TEST(test_backlog_is_bounded_and_everysec_does_not_hold_answers)
{
	char dir[256], err[512];
	struct towner o;
	struct wal *w;
	uint64_t lsn = 0, id = 1;

	make_dir(dir, sizeof(dir));
	w = topen(dir, &o, WAL_FSYNC_EVERYSEC, false, err, sizeof(err));
	ck_assert_msg(w != NULL, "%s", err);
	/* topen's max_unsynced is 1 MiB. */
	while (w != NULL && !wal_backlogged(w) && id < 1000)
		lsn = tput(w, &o, id++, 4000);
	ck_assert(wal_backlogged(w));
	ck_assert_uint_gt(lsn, 1 << 20);
	ck_assert_uint_lt(lsn, (1 << 20) + 8192);
	wal_sync_all(w);
	ck_assert(!wal_backlogged(w));
	/* everysec: written is durable enough to answer. */
	lsn = tput(w, &o, id, 10);
	ck_assert_uint_lt(wal_durable(w), lsn);
	ck_assert_int_eq(wal_flush(w), 0);
	ck_assert_uint_ge(wal_durable(w), lsn);
	wal_close(w);
	tfree(&o);
	remove_dir(dir);
}
END_TEST

START_TEST(test_a_dead_segment_is_deleted_once_its_removals_are_synced)
{
	char dir[256], err[512], p[4096];
	struct towner o;
	struct wal_stats st;
	struct wal *w;

	make_dir(dir, sizeof(dir));
	w = topen(dir, &o, WAL_FSYNC_ALWAYS, false, err, sizeof(err));
	ck_assert_msg(w != NULL, "%s", err);
	/* Fill segment 1 and go on into 2 and 3. */
	for (uint64_t id = 1; id <= 200; id++)
		tput(w, &o, id, 800);
	wal_sync_all(w);
	seg_name(p, sizeof(p), dir, 1);
	ck_assert_int_eq(access(p, F_OK), 0);
	/* Take every message of segment 1 (ids 1.. in it). */
	for (uint64_t id = 1; id <= 200; id++)
		if (tfind(&o, id)->loc.seg == 1)
			tremove(w, &o, id);
	wal_sync_all(w); /* the removals are synced: unlink */
	wal_sync_all(w); /* the directory is synced: forgotten */
	ck_assert_int_eq(access(p, F_OK), -1);
	wal_stats(w, &st);
	ck_assert_uint_ge(st.segments, 2);
	wal_close(w);
	tfree(&o);
	remove_dir(dir);
}
END_TEST

START_TEST(test_a_second_daemon_cannot_lock_the_directory)
{
	char dir[256], err[512];
	struct towner o, o2;
	struct wal *w, *w2;

	make_dir(dir, sizeof(dir));
	w = topen(dir, &o, WAL_FSYNC_NO, false, err, sizeof(err));
	ck_assert_msg(w != NULL, "%s", err);
	w2 = topen(dir, &o2, WAL_FSYNC_NO, false, err, sizeof(err));
	ck_assert_ptr_null(w2);
	ck_assert_msg(strstr(err, "in use") != NULL, "%s", err);
	wal_close(w);
	tfree(&o);
	tfree(&o2);
	remove_dir(dir);
}
END_TEST

/* ---- the power-cut library ---- */

/*
 * The child side: a process using the log under LD_PRELOAD=powercut.so.
 * It reports on stdout, one line per event, and is killed by the test.
 */
static int
child_main(const char *dir, const char *mode)
{
	char err[512];
	struct towner o;
	struct wal *w;
	enum wal_fsync f =
	    strcmp(mode, "nosync") == 0 ? WAL_FSYNC_NO : WAL_FSYNC_ALWAYS;

	setvbuf(stdout, NULL, _IONBF, 0);
	w = topen(dir, &o, f, false, err, sizeof(err));
	if (w == NULL) {
		fprintf(stderr, "child: %s\n", err);
		return 1;
	}
	if (strcmp(mode, "always") == 0 || strcmp(mode, "eio") == 0) {
		/* Report each message once it is durable, as an answer. */
		for (uint64_t id = 1; id < 1000000; id++) {
			uint64_t lsn = tput(w, &o, id, 100 + (size_t)id % 300);
			wal_flush(w);
			wal_wait_durable(w, lsn);
			printf("%" PRIu64 "\n", id);
		}
	} else if (strcmp(mode, "nosync") == 0) {
		for (uint64_t id = 1; id <= 50; id++)
			tput(w, &o, id, 100);
		wal_flush(w);
		printf("written 50\n");
		for (;;)
			pause();
	} else if (strcmp(mode, "enospc") == 0) {
		/* No room for a spare: new messages must be refused, yet
		 * removals still go to the log. */
		wal_sync_all(w);
		printf("full=%d\n", wal_full(w));
		uint64_t lsn = tput(w, &o, 1, 10);
		lsn = tremove(w, &o, 1);
		wal_flush(w);
		wal_wait_durable(w, lsn);
		printf("removal durable\n");
	}
	wal_close(w);
	tfree(&o);
	return 0;
}

static void
find_lib(char *buf, size_t size)
{
	char exe[2048];
	ssize_t n;

	if (getenv("POWERCUT_LIB") != NULL) {
		snprintf(buf, size, "%s", getenv("POWERCUT_LIB"));
		return;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	ck_assert_int_gt(n, 0);
	exe[n] = '\0';
	*strrchr(exe, '/') = '\0';
	/* Beside a libtool-wrapped binary (in .libs), or in .libs. */
	snprintf(buf, size, "%s/powercut.so", exe);
	if (access(buf, R_OK) != 0)
		snprintf(buf, size, "%s/.libs/powercut.so", exe);
	ck_assert_msg(access(buf, R_OK) == 0, "no %s", buf);
}

struct child {
	pid_t pid;
	FILE *out;
};

/* Start this binary as a child in `mode` under the library. */
static struct child
child_start(const char *dir, const char *shadow, const char *mode,
    const char *fault, const char *fault_value)
{
	char lib[4096], asan[1024];
	int fds[2];
	struct child c;

	find_lib(lib, sizeof(lib));
	ck_assert_int_eq(pipe(fds), 0);
	c.pid = fork();
	ck_assert_int_ge(c.pid, 0);
	if (c.pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		setenv("LD_PRELOAD", lib, 1);
		setenv("POWERCUT_DIR", dir, 1);
		setenv("POWERCUT_SHADOW", shadow, 1);
		if (fault != NULL)
			setenv(fault, fault_value, 1);
		/* The sanitizer runtime wants to be first; here it is not. */
		snprintf(asan, sizeof(asan), "%s%sverify_asan_link_order=0",
		    getenv("ASAN_OPTIONS") ? getenv("ASAN_OPTIONS") : "",
		    getenv("ASAN_OPTIONS") ? ":" : "");
		setenv("ASAN_OPTIONS", asan, 1);
		execl("/proc/self/exe", "check_wal", "--child", dir, mode,
		    (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	c.out = fdopen(fds[0], "r");
	return c;
}

static int
child_kill(struct child *c)
{
	int status;

	kill(c->pid, SIGKILL);
	ck_assert_int_eq(waitpid(c->pid, &status, 0), c->pid);
	fclose(c->out);
	return status;
}

/* Put dir back to what stable storage held: the power cut. */
static void
powercut_restore(const char *dir, const char *shadow)
{
	char p[4096], id[64], name[256];
	size_t len;
	FILE *names;

	remove_dir(dir);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	snprintf(p, sizeof(p), "%s/names", shadow);
	names = fopen(p, "r");
	ck_assert_ptr_nonnull(names);
	while (fscanf(names, "%63s %255s", id, name) == 2) {
		char *data = NULL;
		len = 0;
		snprintf(p, sizeof(p), "%s/f%s", shadow, id);
		if (access(p, R_OK) == 0)
			data = read_file(p, &len);
		snprintf(p, sizeof(p), "%s/%s", dir, name);
		write_file(p, data ? data : "", len);
		free(data);
	}
	fclose(names);
}

START_TEST(test_powercut_keeps_synced_records_under_always)
{
	char dir[256], shadow[256], err[512], line[64];
	struct towner o;
	uint64_t acked = 0;
	struct wal *w;

	make_dir(dir, sizeof(dir));
	make_dir(shadow, sizeof(shadow));
	struct child c = child_start(dir, shadow, "always", NULL, NULL);
	while (acked < 40 && fgets(line, sizeof(line), c.out) != NULL)
		acked = strtoull(line, NULL, 10);
	ck_assert_uint_eq(acked, 40);
	child_kill(&c);
	powercut_restore(dir, shadow);

	w = topen(dir, &o, WAL_FSYNC_ALWAYS, false, err, sizeof(err));
	ck_assert_msg(w != NULL, "%s", err);
	for (uint64_t id = 1; id <= acked; id++)
		ck_assert_msg(tfind(&o, id) != NULL, "acked %" PRIu64 " lost",
		    id);
	wal_close(w);
	tfree(&o);
	remove_dir(dir);
	remove_dir(shadow);
}
END_TEST

START_TEST(test_powercut_loses_what_was_never_synced)
{
	char dir[256], shadow[256], copy[256], err[512], line[64], p[4096];
	char q[4096];
	struct towner o;
	struct wal *w;
	size_t len;

	make_dir(dir, sizeof(dir));
	make_dir(shadow, sizeof(shadow));
	make_dir(copy, sizeof(copy));
	struct child c = child_start(dir, shadow, "nosync", NULL, NULL);
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), c.out));
	ck_assert_str_eq(line, "written 50\n");
	child_kill(&c);

	/* kill -9 alone: the page cache keeps every written record. */
	DIR *d = opendir(dir);
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		snprintf(q, sizeof(q), "%s/%s", copy, e->d_name);
		char *data = read_file(p, &len);
		write_file(q, data, len);
		free(data);
	}
	closedir(d);
	w = topen(copy, &o, WAL_FSYNC_NO, false, err, sizeof(err));
	ck_assert_msg(w != NULL, "%s", err);
	ck_assert_uint_eq(tlive(&o), 50);
	wal_close(w);
	tfree(&o);

	/* A power cut: nothing was synced but the segment headers. */
	powercut_restore(dir, shadow);
	w = topen(dir, &o, WAL_FSYNC_NO, false, err, sizeof(err));
	ck_assert_msg(w != NULL, "%s", err);
	ck_assert_uint_eq(tlive(&o), 0);
	wal_close(w);
	tfree(&o);
	remove_dir(dir);
	remove_dir(shadow);
	remove_dir(copy);
}
END_TEST

START_TEST(test_powercut_full_disk_refuses_new_messages_keeps_removals)
{
	char dir[256], shadow[256], line[64];

	make_dir(dir, sizeof(dir));
	make_dir(shadow, sizeof(shadow));
	/* The first segment gets its space; the spare does not. */
	struct child c = child_start(dir, shadow, "enospc",
	    "POWERCUT_ENOSPC_FALLOCATE_AFTER", "1");
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), c.out));
	ck_assert_str_eq(line, "full=1\n");
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), c.out));
	ck_assert_str_eq(line, "removal durable\n");
	child_kill(&c);
	remove_dir(dir);
	remove_dir(shadow);
}
END_TEST

START_TEST(test_powercut_failed_sync_stops_the_process)
{
	char dir[256], shadow[256], line[64];
	int status;

	make_dir(dir, sizeof(dir));
	make_dir(shadow, sizeof(shadow));
	/* The first segment's two syncs pass, then the disk fails. */
	struct child c =
	    child_start(dir, shadow, "eio", "POWERCUT_EIO_SYNC_AFTER", "2");
	/* Nothing is reported durable; the child stops by itself. */
	ck_assert_ptr_null(fgets(line, sizeof(line), c.out));
	ck_assert_int_eq(waitpid(c.pid, &status, 0), c.pid);
	fclose(c.out);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 74); /* EX_IOERR */
	remove_dir(dir);
	remove_dir(shadow);
}
END_TEST

static Suite *
wal_suite(void)
{
	Suite *s = suite_create("wal");
	TCase *tc = tcase_create("unit");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_crc32c_matches_rfc3720_vectors_on_both_paths);
	tcase_add_test(tc, test_records_round_trip_and_catch_damage);
	tcase_add_test(tc, test_restart_gives_back_exactly_the_live_records);
	tcase_add_test(tc,
	    test_torn_tail_is_cut_at_every_byte_of_the_last_records);
	tcase_add_test(tc,
	    test_flipped_byte_in_an_older_segment_refuses_to_start);
	tcase_add_test(tc,
	    test_compaction_keeps_disk_bounded_with_one_old_live_record);
	tcase_add_test(tc, test_sync_position_advances_under_always);
	tcase_add_test(tc, test_id_reservation_is_synced_on_request_under_no);
	tcase_add_test(tc,
	    test_backlog_is_bounded_and_everysec_does_not_hold_answers);
	tcase_add_test(tc,
	    test_a_dead_segment_is_deleted_once_its_removals_are_synced);
	tcase_add_test(tc, test_a_second_daemon_cannot_lock_the_directory);
	suite_add_tcase(s, tc);

	tc = tcase_create("powercut");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_powercut_keeps_synced_records_under_always);
	tcase_add_test(tc, test_powercut_loses_what_was_never_synced);
	tcase_add_test(tc,
	    test_powercut_full_disk_refuses_new_messages_keeps_removals);
	tcase_add_test(tc, test_powercut_failed_sync_stops_the_process);
	suite_add_tcase(s, tc);
	return s;
}

int
main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "--child") == 0)
		return child_main(argv[2], argv[3]);

	SRunner *sr = srunner_create(wal_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
