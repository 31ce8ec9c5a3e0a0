/*
 * persist.c - disk queues on the durable log.  See persist.h.
 *
 * Invariants: a message of a disk queue that is ready or reserved has
 * exactly one live PUT record, whose location the index holds under
 * its id; any other record that stops mattering is wal_kill()ed right
 * after the record that ends it is appended.  Ids below p->ceiling may
 * have been given; ids are given only below p->ceiling_synced, a
 * ceiling whose IDS record is on stable storage.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "cluster.h"
#include "log.h"
#include "persist.h"
#include "xmalloc.h"

/*
 * Ids reserved per IDS record.  A new range is asked for at half use,
 * and its sync takes milliseconds while half a range takes the daemon
 * far longer to give out, so taking an id never waits in practice; a
 * crash skips at most this many ids.
 */
#define ID_RANGE (1ULL << 20)
/* Bytes of live records compaction may copy per loop iteration. */
#define COMPACT_BUDGET (64 * 1024)
/* Small bodies read back at recovery are kept in arenas this large. */
#define ARENA_CHUNK (1024 * 1024)

/* An open-addressing map from a non-zero u64 key to a u64 value. */
struct u64map {
	uint64_t *keys; /* 0: empty */
	uint64_t *vals;
	size_t cap; /* a power of two */
	size_t count;
};

/* A message read back at recovery. */
struct rmsg {
	uint64_t id;
	uint64_t loc;
	uint64_t deliveries;
	uint64_t not_before_ms;
	uint32_t qno;
	uint32_t len;
	char *body;
	bool heap; /* body is a malloc block of its own, else an arena's */
	bool alive;
};

/* A queue read back at recovery. */
struct rqueue {
	uint32_t qno;
	bool alive;
	bool closed;
	char name[PROTO_NAME_MAX + 1];
	struct queue_settings set;
	size_t *msgs; /* indexes into rec.msgs, possibly stale */
	size_t nmsgs, msgcap;
	/* What it holds (a follower's STATS): messages, those logged with
	 * a due time, bytes. */
	uint64_t held, held_due, held_bytes;
};

struct arena {
	struct arena *next;
	size_t used;
	char data[ARENA_CHUNK];
};

struct persist {
	struct wal *wal;	 /* the local log; NULL in a cluster */
	struct cluster *cl; /* the group's log (cluster.h); NULL alone */
	bool group;	    /* a member of a group (set before cl) */
	struct persist_events ev; /* a cluster's role changes */
	struct qtable *queues;
	struct event *flush; /* end of iteration; NULL while opening */
	bool flush_armed;
	struct u64map index; /* id -> location of its PUT record */
	uint32_t next_qno;
	uint64_t ceiling;        /* ids below may have been given */
	uint64_t ceiling_lsn;    /* where that IDS record ends */
	uint64_t ceiling_synced; /* ids below this may be given now */
	uint64_t *last_id;
	/* Recovery, while persist_open() runs. */
	struct {
		bool on;
		struct rmsg *msgs;
		size_t nmsgs, cap;
		struct u64map byid; /* id -> index in msgs */
		struct rqueue *queues;
		size_t nqueues, qcap;
		struct u64map byqno; /* qno -> index in queues */
		size_t live_queues;
		struct arena *arena;
		uint64_t max_id;
		uint64_t ids_seen; /* the highest IDS record */
	} rec;
};

/* ---- the map ---- */

static size_t
slot_of(uint64_t key, size_t cap)
{
	key ^= key >> 33;
	key *= 0xff51afd7ed558ccdULL;
	key ^= key >> 33;
	return (size_t)key & (cap - 1);
}

static void
map_free(struct u64map *m)
{
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof *m);
}

static void map_put(struct u64map *m, uint64_t key, uint64_t val);

static void
map_grow(struct u64map *m)
{
	struct u64map old = *m;

	m->cap = old.cap ? old.cap * 2 : 1024;
	m->keys = xcalloc(m->cap, sizeof *m->keys);
	m->vals = xcalloc(m->cap, sizeof *m->vals);
	m->count = 0;
	for (size_t i = 0; i < old.cap; i++)
		if (old.keys[i] != 0)
			map_put(m, old.keys[i], old.vals[i]);
	free(old.keys);
	free(old.vals);
}

/* Insert or replace. */
static void
map_put(struct u64map *m, uint64_t key, uint64_t val)
{
	size_t i;

	if ((m->count + 1) * 4 > m->cap * 3)
		map_grow(m);
	for (i = slot_of(key, m->cap); m->keys[i] != 0 && m->keys[i] != key;
	     i = (i + 1) & (m->cap - 1))
		;
	if (m->keys[i] == 0)
		m->count++;
	m->keys[i] = key;
	m->vals[i] = val;
}

/* The slot of key, or SIZE_MAX. */
static size_t
map_find(const struct u64map *m, uint64_t key)
{
	if (m->cap == 0)
		return SIZE_MAX;
	for (size_t i = slot_of(key, m->cap); m->keys[i] != 0;
	     i = (i + 1) & (m->cap - 1))
		if (m->keys[i] == key)
			return i;
	return SIZE_MAX;
}

/* Remove the entry in slot i, shifting later entries back. */
static void
map_del_slot(struct u64map *m, size_t i)
{
	size_t mask = m->cap - 1, j = i;

	for (;;) {
		j = (j + 1) & mask;
		if (m->keys[j] == 0)
			break;
		size_t home = slot_of(m->keys[j], m->cap);
		/* Move j back to i unless its home lies in (i, j]. */
		if (i <= j ? (home > i && home <= j) : (home > i || home <= j))
			continue;
		m->keys[i] = m->keys[j];
		m->vals[i] = m->vals[j];
		i = j;
	}
	m->keys[i] = 0;
	m->count--;
}

/* ---- locations ---- */

static uint64_t
loc_pack(struct wal_loc l)
{
	return l.seg << 32 | l.len;
}

static struct wal_loc
loc_unpack(uint64_t v)
{
	struct wal_loc l = { v >> 32, (uint32_t)v };

	return l;
}

/* ---- records ---- */

static void
arm_flush(struct persist *p)
{
	if (!p->flush_armed && p->flush != NULL) {
		p->flush_armed = true;
		event_active(p->flush, EV_TIMEOUT, 1);
	}
}

static uint64_t
append(struct persist *p, const struct wal_rec *r, struct wal_loc *loc)
{
	uint64_t lsn;

	if (p->cl != NULL) {
		lsn = cluster_append(p->cl, r);
		arm_flush(p);
		return lsn;
	}
	lsn = wal_append(p->wal, r, loc);

	arm_flush(p);
	return lsn;
}

/* A QUEUE_SET record of a live queue or of one recovery holds. */
static void
settings_rec(uint32_t qno, const char *name, const struct queue_settings *set,
    bool closed, struct wal_rec *r)
{
	memset(r, 0, sizeof *r);
	r->kind = WAL_QUEUE_SET;
	r->qno = qno;
	r->u.queue.name = name;
	r->u.queue.name_len = strlen(name);
	r->u.queue.capacity = set->capacity;
	r->u.queue.max_bytes = set->max_bytes;
	r->u.queue.lease_ms = set->lease_ms;
	r->u.queue.policy = set->policy;
	r->u.queue.max_deliveries = set->max_deliveries;
	r->u.queue.dead_letter = set->dead_letter;
	r->u.queue.dead_letter_len = strlen(set->dead_letter);
	r->u.queue.flags = closed ? WAL_QF_CLOSED : 0;
}

static void
queue_rec(const struct queue *q, struct wal_rec *r)
{
	settings_rec(q->qno, q->name, &q->set, q->closed, r);
}

/* A PUT record: message id of queue qno, its count and due time. */
static void
put_rec(uint32_t qno, uint64_t id, const char *body, size_t len,
    uint64_t deliveries, uint64_t not_before_ms, struct wal_rec *r)
{
	memset(r, 0, sizeof *r);
	r->kind = WAL_PUT;
	r->qno = qno;
	r->u.put.id = id;
	r->u.put.body = body;
	r->u.put.len = len;
	r->u.put.deliveries = deliveries;
	r->u.put.not_before_ms = not_before_ms;
}

static void
ids_rec(uint64_t next_id, struct wal_rec *r)
{
	memset(r, 0, sizeof *r);
	r->kind = WAL_IDS;
	r->u.next_id = next_id;
}

/* Forget id's PUT record: it no longer matters. */
static void
kill_id(struct persist *p, uint64_t id)
{
	size_t i = map_find(&p->index, id);

	if (i == SIZE_MAX)
		return;
	wal_kill(p->wal, loc_unpack(p->index.vals[i]));
	map_del_slot(&p->index, i);
}

uint64_t
persist_queue_set(struct persist *p, struct queue *q)
{
	struct wal_rec r;

	queue_rec(q, &r);
	return append(p, &r, NULL);
}

uint64_t
persist_queue_new(struct persist *p, struct queue *q)
{
	q->qno = p->next_qno++;
	return persist_queue_set(p, q);
}

uint64_t
persist_queue_delete(struct persist *p, struct queue *q)
{
	struct wal_rec r = { .kind = WAL_QUEUE_DELETE, .qno = q->qno };
	uint64_t lsn = append(p, &r, NULL), id;
	struct msg *m;

	while (queue_drop_head_id(q, &id))
		kill_id(p, id);
	for (m = TAILQ_FIRST(&q->reserved); m != NULL; m = TAILQ_NEXT(m, qlink))
		kill_id(p, m->id);
	for (m = TAILQ_FIRST(&q->delayed); m != NULL; m = TAILQ_NEXT(m, qlink))
		kill_id(p, m->id);
	return lsn;
}

/* Log message id of q with its delivery count and due time. */
static uint64_t
put_record(struct persist *p, struct queue *q, uint64_t id, const char *body,
    size_t len, uint64_t deliveries, uint64_t not_before_ms)
{
	struct wal_rec r;
	struct wal_loc loc;
	uint64_t lsn;

	put_rec(q->qno, id, body, len, deliveries, not_before_ms, &r);
	lsn = append(p, &r, &loc);
	if (p->wal == NULL)
		return lsn; /* a group's log keeps no index */
	kill_id(p, id); /* a re-put replaces the old record */
	map_put(&p->index, id, loc_pack(loc));
	return lsn;
}

uint64_t
persist_put(struct persist *p, struct queue *q, uint64_t id, const char *body,
    size_t len)
{
	return put_record(p, q, id, body, len, 0, 0);
}

uint64_t
persist_delay(struct persist *p, struct queue *q, const struct msg *m,
    uint64_t not_before_ms)
{
	return put_record(p, q, m->id, m->body, m->len, m->deliveries,
	    not_before_ms ? not_before_ms : 1);
}

uint64_t
persist_handed(struct persist *p, struct queue *q, uint64_t id,
    const char *body, size_t len)
{
	return put_record(p, q, id, body, len, 1, 0);
}

uint64_t
persist_barrier(struct persist *p)
{
	struct wal_rec r;

	if (p == NULL || p->cl == NULL)
		return 0;
	/* This iteration's entry, not sent yet, proves the lead as well. */
	if (cluster_batching(p->cl))
		return cluster_appended(p->cl);
	/* The range in force again: changes nothing where applied. */
	ids_rec(p->ceiling, &r);
	return append(p, &r, NULL);
}

uint64_t
persist_delivered(struct persist *p, struct queue *q, const struct msg *m)
{
	if (p->cl == NULL)
		return 0;
	return put_record(p, q, m->id, m->body, m->len, m->deliveries, 0);
}

uint64_t
persist_queue_close(struct persist *p, struct queue *q)
{
	struct wal_rec r = { .kind = WAL_QUEUE_CLOSE, .qno = q->qno };

	return append(p, &r, NULL);
}

uint64_t
persist_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t
persist_remove(struct persist *p, struct queue *q, uint64_t id,
    enum wal_rm_reason reason)
{
	struct wal_rec r = { .kind = WAL_REMOVE, .qno = q->qno };
	uint64_t lsn;

	r.u.rm.reason = reason;
	r.u.rm.count = 1;
	r.u.rm.idv = &id;
	lsn = append(p, &r, NULL);
	kill_id(p, id);
	return lsn;
}

/* Append one REMOVE(PURGE) of ids[0..n) and kill them. */
static uint64_t
purge_chunk(struct persist *p, struct queue *q, const uint64_t *ids, size_t n)
{
	struct wal_rec r = { .kind = WAL_REMOVE, .qno = q->qno };
	uint64_t lsn;

	r.u.rm.reason = WAL_RM_PURGE;
	r.u.rm.count = n;
	r.u.rm.idv = ids;
	lsn = append(p, &r, NULL);
	for (size_t i = 0; i < n; i++)
		kill_id(p, ids[i]);
	return lsn;
}

uint64_t
persist_purge(struct persist *p, struct queue *q, uint64_t *n)
{
	size_t cap = queue_depth(q) < WAL_RM_MAX ? queue_depth(q) : WAL_RM_MAX;
	uint64_t *ids = xcalloc(cap ? cap : 1, sizeof *ids), id, lsn = 0;
	size_t k = 0;

	*n = 0;
	while (queue_drop_head_id(q, &id)) {
		ids[k++] = id;
		(*n)++;
		if (k == cap) {
			lsn = purge_chunk(p, q, ids, k);
			k = 0;
		}
	}
	if (k > 0)
		lsn = purge_chunk(p, q, ids, k);
	free(ids);
	return lsn;
}

/* Reserve the next range of ids: log it and ask for its sync. */
static void
reserve_ids(struct persist *p)
{
	struct wal_rec r;

	p->ceiling = *p->last_id + 1 + ID_RANGE;
	ids_rec(p->ceiling, &r);
	p->ceiling_lsn = append(p, &r, NULL);
	if (p->wal != NULL)
		wal_want_sync(p->wal, p->ceiling_lsn);
}

/* Take a reserved range that is on stable storage by now. */
static void
note_synced_ids(struct persist *p)
{
	uint64_t done = p->cl != NULL ? cluster_committed(p->cl)
	                              : wal_synced(p->wal);

	if (p->ceiling_synced < p->ceiling && done >= p->ceiling_lsn)
		p->ceiling_synced = p->ceiling;
}

uint64_t
persist_take_id(struct persist *p, uint64_t *last_id)
{
	uint64_t id = *last_id + 1;

	/*
	 * In a group the ranges are committed entries: a new leader starts
	 * above the last one committed, so above every id given before,
	 * those that left no record (hand-offs, memory queues) included.
	 * It serves only once its first range is committed (group_lead),
	 * and a range is asked for at half use: one not committed in time
	 * would take half a million ids within a commit's round trip.
	 */
	if (p->cl != NULL) {
		if (id + ID_RANGE / 2 >= p->ceiling_synced) {
			note_synced_ids(p);
			if (p->ceiling == p->ceiling_synced &&
			    id + ID_RANGE / 2 >= p->ceiling)
				reserve_ids(p);
			if (id >= p->ceiling_synced)
				log_warn("persist: id %" PRIu64 " given before "
				         "its range is committed",
				    id);
		}
		*last_id = id;
		return id;
	}

	if (id + ID_RANGE / 2 >= p->ceiling_synced) {
		note_synced_ids(p);
		if (p->ceiling == p->ceiling_synced &&
		    id + ID_RANGE / 2 >= p->ceiling)
			reserve_ids(p);
		if (id >= p->ceiling_synced) {
			/* Rare: a range used up before its sync. */
			log_warn("persist: waiting for an id range to be "
			         "synced");
			wal_sync_all(p->wal);
			note_synced_ids(p);
		}
	}
	*last_id = id;
	return id;
}

uint64_t
persist_appended(const struct persist *p)
{
	if (p->cl != NULL)
		return cluster_appended(p->cl);
	return wal_appended(p->wal);
}

uint64_t
persist_durable(const struct persist *p)
{
	if (p->cl != NULL)
		return cluster_committed(p->cl);
	return wal_durable(p->wal);
}

bool
persist_backlogged(const struct persist *p)
{
	if (p->cl != NULL)
		return cluster_backlogged(p->cl);
	return wal_backlogged(p->wal);
}

bool
persist_full(const struct persist *p)
{
	if (p->cl != NULL)
		return false; /* libraft's own errors end the process */
	return wal_full(p->wal);
}

int
persist_fd(const struct persist *p)
{
	if (p->cl != NULL)
		return -1; /* libuv's loop is watched by uvloop.c */
	return wal_eventfd(p->wal);
}

void
persist_poll(struct persist *p)
{
	if (p->cl != NULL)
		return;
	wal_poll(p->wal);
	note_synced_ids(p);
}

bool
persist_flush(struct persist *p)
{
	uint64_t before;

	p->flush_armed = false;
	if (p->cl != NULL) {
		cluster_flush(p->cl);
		return true;
	}
	before = wal_appended(p->wal);
	wal_compact_step(p->wal, COMPACT_BUDGET);
	/* Compaction goes on a little per iteration until it is done. */
	if (wal_appended(p->wal) != before)
		arm_flush(p);
	wal_flush(p->wal);
	return wal_written(p->wal) == wal_appended(p->wal);
}

void
persist_stats(const struct persist *p, struct wal_stats *st)
{
	if (p->cl != NULL) {
		memset(st, 0, sizeof *st);
		return;
	}
	wal_stats(p->wal, st);
}

/* ---- the owner's callbacks ---- */

static struct rqueue *
rqueue_of(struct persist *p, uint32_t qno)
{
	size_t i = map_find(&p->rec.byqno, qno);

	if (i == SIZE_MAX)
		return NULL;
	struct rqueue *rq = &p->rec.queues[p->rec.byqno.vals[i]];
	return rq->alive ? rq : NULL;
}

static char *
arena_copy(struct persist *p, const char *body, size_t len)
{
	struct arena *a = p->rec.arena;

	if (a == NULL || ARENA_CHUNK - a->used < len) {
		a = xmalloc(sizeof *a);
		a->next = p->rec.arena;
		a->used = 0;
		p->rec.arena = a;
	}
	char *dst = a->data + a->used;
	memcpy(dst, body, len);
	a->used += len;
	return dst;
}

static struct rqueue *rqueue_of(struct persist *p, uint32_t qno);

/* Count m in or out of its queue's totals (+1 or -1). */
static void
rmsg_count(struct persist *p, const struct rmsg *m, int sign)
{
	struct rqueue *rq = rqueue_of(p, m->qno);

	if (rq == NULL)
		return;
	rq->held += (uint64_t)(int64_t)sign;
	rq->held_bytes += (uint64_t)((int64_t)sign * (int64_t)m->len);
	if (m->not_before_ms > 0)
		rq->held_due += (uint64_t)(int64_t)sign;
}

/* Message m is dead: its record no longer matters. */
static void
rmsg_kill(struct persist *p, struct wal *w, struct rmsg *m)
{
	size_t i = map_find(&p->rec.byid, m->id);

	rmsg_count(p, m, -1);
	if (w != NULL)
		wal_kill(w, loc_unpack(m->loc));
	if (m->heap)
		free(m->body);
	m->body = NULL;
	m->alive = false;
	if (i != SIZE_MAX)
		map_del_slot(&p->rec.byid, i);
}

static void
apply_queue_set(struct persist *p, const struct wal_rec *r)
{
	const struct wal_rec_queue *wq = &r->u.queue;
	struct rqueue *rq = rqueue_of(p, r->qno);

	if (rq == NULL) {
		if (p->rec.nqueues == p->rec.qcap) {
			p->rec.qcap = p->rec.qcap ? p->rec.qcap * 2 : 16;
			p->rec.queues = realloc(p->rec.queues,
			    p->rec.qcap * sizeof *p->rec.queues);
			if (p->rec.queues == NULL)
				abort();
		}
		rq = &p->rec.queues[p->rec.nqueues];
		memset(rq, 0, sizeof *rq);
		rq->qno = r->qno;
		rq->alive = true;
		map_put(&p->rec.byqno, r->qno, p->rec.nqueues);
		p->rec.live_queues++;
		p->rec.nqueues++;
	}
	size_t n =
	    wq->name_len < PROTO_NAME_MAX ? wq->name_len : PROTO_NAME_MAX;
	memcpy(rq->name, wq->name, n);
	rq->name[n] = '\0';
	rq->set.capacity = wq->capacity;
	rq->set.max_bytes = wq->max_bytes;
	rq->set.lease_ms = wq->lease_ms;
	rq->set.policy = wq->policy <= PROTO_POLICY_DROP_NEWEST
	    ? (enum proto_policy)wq->policy
	    : PROTO_POLICY_BLOCK;
	rq->set.storage = QUEUE_STORAGE_DISK;
	rq->set.max_deliveries = wq->max_deliveries;
	n = wq->dead_letter_len < PROTO_NAME_MAX ? wq->dead_letter_len
	                                         : PROTO_NAME_MAX;
	memcpy(rq->set.dead_letter, wq->dead_letter, n);
	rq->set.dead_letter[n] = '\0';
	rq->closed = (wq->flags & WAL_QF_CLOSED) != 0;
	if (r->qno >= p->next_qno)
		p->next_qno = r->qno + 1;
}

static void
apply_queue_delete(struct persist *p, struct wal *w, const struct wal_rec *r)
{
	struct rqueue *rq = rqueue_of(p, r->qno);

	if (rq == NULL)
		return;
	for (size_t i = 0; i < rq->nmsgs; i++) {
		struct rmsg *m = &p->rec.msgs[rq->msgs[i]];
		if (m->alive && m->qno == rq->qno)
			rmsg_kill(p, w, m);
	}
	free(rq->msgs);
	rq->msgs = NULL;
	rq->nmsgs = rq->msgcap = 0;
	rq->alive = false;
	p->rec.live_queues--;
}

static void
apply_put(struct persist *p, struct wal *w, const struct wal_rec *r,
    struct wal_loc loc)
{
	const struct wal_rec_put *wp = &r->u.put;
	size_t i = map_find(&p->rec.byid, wp->id);
	struct rqueue *rq;
	struct rmsg *m;

	if (i != SIZE_MAX)
		rmsg_kill(p, w, &p->rec.msgs[p->rec.byid.vals[i]]);
	if (p->rec.nmsgs == p->rec.cap) {
		p->rec.cap = p->rec.cap ? p->rec.cap * 2 : 1024;
		p->rec.msgs =
		    realloc(p->rec.msgs, p->rec.cap * sizeof *p->rec.msgs);
		if (p->rec.msgs == NULL)
			abort();
	}
	m = &p->rec.msgs[p->rec.nmsgs];
	m->id = wp->id;
	m->loc = loc_pack(loc);
	m->deliveries = wp->deliveries;
	m->not_before_ms = wp->not_before_ms;
	m->qno = r->qno;
	m->len = (uint32_t)wp->len;
	/* A follower frees each body as it goes: no arenas. */
	m->heap = p->group || msglog_wants_heap(wp->len);
	m->body = m->heap
	    ? memcpy(xmalloc(wp->len ? wp->len : 1), wp->body, wp->len)
	    : arena_copy(p, wp->body, wp->len);
	m->alive = true;
	map_put(&p->rec.byid, wp->id, p->rec.nmsgs);
	if ((rq = rqueue_of(p, r->qno)) != NULL) {
		if (rq->nmsgs == rq->msgcap) {
			rq->msgcap = rq->msgcap ? rq->msgcap * 2 : 16;
			rq->msgs =
			    realloc(rq->msgs, rq->msgcap * sizeof *rq->msgs);
			if (rq->msgs == NULL)
				abort();
		}
		rq->msgs[rq->nmsgs++] = p->rec.nmsgs;
	}
	rmsg_count(p, m, +1);
	p->rec.nmsgs++;
	if (wp->id > p->rec.max_id)
		p->rec.max_id = wp->id;
}

static void
apply_remove(struct persist *p, struct wal *w, const struct wal_rec *r)
{
	struct wal_rm_iter it;
	uint64_t id;

	wal_rm_iter_init(&it, r);
	while (wal_rm_next(&it, &id)) {
		size_t i = map_find(&p->rec.byid, id);
		if (i != SIZE_MAX)
			rmsg_kill(p, w, &p->rec.msgs[p->rec.byid.vals[i]]);
		if (id > p->rec.max_id)
			p->rec.max_id = id;
	}
}

static int
owner_apply(void *arg, struct wal *w, const struct wal_rec *r,
    struct wal_loc loc)
{
	struct persist *p = arg;

	switch (r->kind) {
	case WAL_QUEUE_SET:
		apply_queue_set(p, r);
		break;
	case WAL_QUEUE_DELETE:
		apply_queue_delete(p, w, r);
		break;
	case WAL_QUEUE_CLOSE: {
		struct rqueue *rq = rqueue_of(p, r->qno);
		if (rq != NULL)
			rq->closed = true;
		break;
	}
	case WAL_PUT:
		apply_put(p, w, r, loc);
		break;
	case WAL_REMOVE:
		apply_remove(p, w, r);
		break;
	case WAL_IDS:
		if (r->u.next_id > p->rec.ids_seen)
			p->rec.ids_seen = r->u.next_id;
		break;
	}
	return 0;
}

static int
cmp_rmsg(const void *a, const void *b)
{
	const struct rmsg *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/*
 * A message delivered before, or delayed: a struct msg with its count,
 * ready among the given-back ones or delayed until its due time (kept
 * in ready_us for the server to time).
 */
static void
restore_msg(struct queue *q, const struct rmsg *r, uint64_t now_ms)
{
	struct msg *m = r->heap ? msg_new_adopt(r->id, r->body, r->len)
	                        : msg_new_copy(r->id, r->body, r->len);
	bool delayed = r->not_before_ms > now_ms;

	m->deliveries = r->deliveries;
	queue_restore(q, m, delayed);
	if (delayed)
		m->ready_us = r->not_before_ms;
}

/* Free what recovery holds (heap bodies of live messages too). */
static void
rec_free(struct persist *p)
{
	for (size_t i = 0; i < p->rec.nmsgs; i++)
		if (p->rec.msgs[i].alive && p->rec.msgs[i].heap)
			free(p->rec.msgs[i].body);
	for (size_t i = 0; i < p->rec.nqueues; i++)
		free(p->rec.queues[i].msgs);
	free(p->rec.queues);
	free(p->rec.msgs);
	map_free(&p->rec.byid);
	map_free(&p->rec.byqno);
	while (p->rec.arena != NULL) {
		struct arena *a = p->rec.arena;
		p->rec.arena = a->next;
		free(a);
	}
	memset(&p->rec, 0, sizeof p->rec);
}

/* Turn what recovery read into queues, messages in id order. */
static void
finish_recovery(struct persist *p, struct wal *w)
{
	struct queue **byq = xcalloc(p->rec.nqueues + 1, sizeof *byq);
	uint64_t *last_back = xcalloc(p->rec.nqueues + 1, sizeof *last_back);
	size_t nlive = 0, orphans = 0;
	uint64_t now_ms = persist_wall_ms();
	bool sorted = true;

	p->rec.on = false;
	for (size_t i = 0; i < p->rec.nqueues; i++) {
		struct rqueue *rq = &p->rec.queues[i];
		if (!rq->alive)
			continue;
		if (qtable_find(p->queues, rq->name) != NULL) {
			log_warn("persist: queue %s is in the log twice; "
			         "keeping the first",
			    rq->name);
			rq->alive = false;
			continue;
		}
		byq[i] = queue_new(rq->name, &rq->set);
		byq[i]->qno = rq->qno;
		byq[i]->closed = rq->closed;
		qtable_insert(p->queues, byq[i]);
	}
	/* Compact the live messages, then put them in id order. */
	for (size_t i = 0; i < p->rec.nmsgs; i++) {
		struct rmsg *m = &p->rec.msgs[i];
		if (!m->alive)
			continue;
		if (nlive > 0 && p->rec.msgs[nlive - 1].id > m->id)
			sorted = false;
		p->rec.msgs[nlive++] = *m;
	}
	if (!sorted)
		qsort(p->rec.msgs, nlive, sizeof *p->rec.msgs, cmp_rmsg);
	/*
	 * A message delivered before is ready again as a struct msg on the
	 * queue's given-back list, which is served before the packed log:
	 * so every ready message up to the last such id goes there too,
	 * and the queue is in id order.
	 */
	for (size_t i = 0; i < nlive; i++) {
		const struct rmsg *m = &p->rec.msgs[i];
		size_t qi = map_find(&p->rec.byqno, m->qno);
		if (qi != SIZE_MAX && m->deliveries > 0 &&
		    m->not_before_ms <= now_ms)
			last_back[p->rec.byqno.vals[qi]] = m->id;
	}
	for (size_t i = 0; i < nlive; i++) {
		struct rmsg *m = &p->rec.msgs[i];
		size_t qi = map_find(&p->rec.byqno, m->qno);
		struct queue *q =
		    qi == SIZE_MAX ? NULL : byq[p->rec.byqno.vals[qi]];
		if (q == NULL) {
			/* Its queue is gone: the message went with it. */
			if (w != NULL)
				wal_kill(w, loc_unpack(m->loc));
			if (m->heap)
				free(m->body);
			orphans++;
			continue;
		}
		if (m->deliveries > 0 || m->not_before_ms > 0 ||
		    m->id <= last_back[p->rec.byqno.vals[qi]])
			restore_msg(q, m, now_ms);
		else if (m->heap)
			msglog_push_heap(&q->log, m->id, m->body, m->len);
		else
			memcpy(queue_store(q, m->id, m->len), m->body, m->len);
		if (w != NULL)
			map_put(&p->index, m->id, m->loc);
	}
	if (orphans > 0)
		log_warn("persist: %zu messages of unknown queues dropped",
		    orphans);
	*p->last_id = p->rec.max_id;
	if (p->rec.ids_seen > 0 && p->rec.ids_seen - 1 > *p->last_id)
		*p->last_id = p->rec.ids_seen - 1;
	/* Every live heap body now belongs to a queue. */
	p->rec.nmsgs = 0;
	rec_free(p);
	free(byq);
	free(last_back);
	if (p->next_qno == 0)
		p->next_qno = 1;
	/* Give the copies' pages back: RSS as if the messages came by PUT. */
	malloc_trim(0);
}

static void
snapshot_queue(struct queue *q, void *arg)
{
	struct wal *w = arg;
	struct wal_rec r;

	if (q->qno == 0)
		return;
	queue_rec(q, &r);
	wal_append(w, &r, NULL);
}

static void
owner_snapshot(void *arg, struct wal *w)
{
	struct persist *p = arg;
	struct wal_rec r;

	if (p->rec.on) {
		finish_recovery(p, w);
		p->ceiling = *p->last_id + 1 + ID_RANGE;
	}
	qtable_foreach(p->queues, snapshot_queue, w);
	ids_rec(p->ceiling, &r);
	p->ceiling_lsn = wal_append(w, &r, NULL);
}

static bool
owner_is_live(void *arg, const struct wal_rec *r, struct wal_loc loc)
{
	struct persist *p = arg;
	size_t i = map_find(&p->index, r->u.put.id);

	return i != SIZE_MAX && p->index.vals[i] == loc_pack(loc);
}

static void
owner_moved(void *arg, const struct wal_rec *r, struct wal_loc from,
    struct wal_loc to)
{
	struct persist *p = arg;

	map_put(&p->index, r->u.put.id, loc_pack(to));
	arm_flush(p);
}

/* ---- opening ---- */

struct persist *
persist_open(const struct config *cfg, struct qtable *queues,
    struct event *flush, uint64_t *last_id, char *err, size_t errsize)
{
	struct persist *p = xcalloc(1, sizeof *p);
	struct wal_config wc = {
		.dir = cfg->data_dir,
		.fsync = cfg->fsync,
		.segment_size = cfg->segment_size,
		.max_unsynced = cfg->max_unsynced,
		.force_recover = cfg->force_recover,
	};
	struct wal_owner owner = { p, owner_apply, owner_snapshot,
		owner_is_live, owner_moved };
	struct wal_recovery rs;
	size_t nq = queues->count;
	uint64_t nmsg, t0 = clock_now_ms();

	p->queues = queues;
	p->last_id = last_id;
	p->next_qno = 1;
	p->rec.on = true;
	p->wal = wal_open(&wc, &owner, &rs, err, errsize);
	if (p->wal == NULL) {
		free(p);
		return NULL;
	}
	/* The first range of ids must be on disk before one is given. */
	wal_sync_all(p->wal);
	note_synced_ids(p);
	p->flush = flush;
	nmsg = qtable_messages(queues);
	log_notice("data_dir %s: recovered %zu queues and %" PRIu64
		   " messages from %" PRIu64 " segments (%" PRIu64
		   " records, %" PRIu64 " bytes) in %" PRIu64
		   " ms (%" PRIu64 " ms reading); fsync %s",
	    cfg->data_dir, queues->count - nq, nmsg, rs.segments, rs.records,
	    rs.bytes_read, clock_now_ms() - t0, rs.usec / 1000,
	    wal_fsync_name(cfg->fsync));
	if (rs.bytes_cut > 0)
		log_warn("data_dir %s: cut %" PRIu64 " bytes of a torn or "
		         "damaged tail",
		    cfg->data_dir, rs.bytes_cut);
	return p;
}

void
persist_close(struct persist *p)
{
	if (p == NULL)
		return;
	if (p->cl != NULL) {
		cluster_close(p->cl);
		rec_free(p);
		free(p);
		return;
	}
	wal_sync_all(p->wal);
	wal_close(p->wal);
	map_free(&p->index);
	free(p);
}

int
persist_check_dir(const char *dir, char *err, size_t errsize)
{
	struct stat st;
	int fd;

	if (stat(dir, &st) < 0) {
		char parent[PATH_MAX];
		const char *slash = strrchr(dir, '/');

		/*
		 * Made at start (or by systemd's StateDirectory=) when its
		 * parent is there.
		 */
		snprintf(parent, sizeof parent, "%.*s",
		    slash == NULL ? 1 : slash == dir ? 1 : (int)(slash - dir),
		    slash == NULL ? "." : dir);
		if (errno == ENOENT && stat(parent, &st) == 0 &&
		    S_ISDIR(st.st_mode))
			return 0;
		snprintf(err, errsize, "%s: %s", dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errsize, "%s: not a directory", dir);
		return -1;
	}
	if (access(dir, W_OK | X_OK) < 0) {
		snprintf(err, errsize, "%s: %s", dir, strerror(errno));
		return -1;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0) {
		snprintf(err, errsize, "%s: %s", dir,
		    errno == EWOULDBLOCK ? "in use by another sluiced"
		                         : strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* ---- in a replication group (cluster.h) ---- */

/*
 * A follower applies records for as long as it follows, so what
 * recovery keeps of dead messages and queues (their slots) is taken
 * out once it is half of the whole: memory follows what is live.
 */
#define REC_COMPACT_MIN 1024

static void
rec_compact_msgs(struct persist *p)
{
	size_t n = 0;

	map_free(&p->rec.byid);
	memset(&p->rec.byid, 0, sizeof p->rec.byid);
	for (size_t i = 0; i < p->rec.nqueues; i++)
		p->rec.queues[i].nmsgs = 0;
	for (size_t i = 0; i < p->rec.nmsgs; i++) {
		struct rmsg *m = &p->rec.msgs[i];
		struct rqueue *rq;

		if (!m->alive)
			continue;
		if ((rq = rqueue_of(p, m->qno)) == NULL) {
			/* Its queue went: so does it. */
			if (m->heap)
				free(m->body);
			continue;
		}
		p->rec.msgs[n] = *m;
		map_put(&p->rec.byid, m->id, n);
		if (rq->nmsgs == rq->msgcap) {
			rq->msgcap = rq->msgcap ? rq->msgcap * 2 : 16;
			rq->msgs = realloc(rq->msgs, rq->msgcap * sizeof *rq->msgs);
			if (rq->msgs == NULL)
				abort();
		}
		rq->msgs[rq->nmsgs++] = n;
		n++;
	}
	p->rec.nmsgs = n;
	p->rec.cap = n * 2 > REC_COMPACT_MIN ? n * 2 : REC_COMPACT_MIN;
	p->rec.msgs = realloc(p->rec.msgs, p->rec.cap * sizeof *p->rec.msgs);
	if (p->rec.msgs == NULL)
		abort();
}

static void
rec_compact_queues(struct persist *p)
{
	size_t n = 0;

	map_free(&p->rec.byqno);
	memset(&p->rec.byqno, 0, sizeof p->rec.byqno);
	for (size_t i = 0; i < p->rec.nqueues; i++) {
		struct rqueue *rq = &p->rec.queues[i];

		if (!rq->alive) {
			free(rq->msgs);
			continue;
		}
		p->rec.queues[n] = *rq;
		map_put(&p->rec.byqno, rq->qno, n);
		n++;
	}
	p->rec.nqueues = n;
	p->rec.live_queues = n;
	/* Messages of dead queues went with them (their slots too). */
	rec_compact_msgs(p);
}

/*
 * A follower keeps the committed state as recovery does (p->rec),
 * applying entries as they commit; it becomes queues when this server
 * comes to lead.
 */
static void
group_apply(void *arg, const struct wal_rec *r)
{
	struct persist *p = arg;

	if (!p->rec.on) {
		log_err("persist: a committed %s record while leading",
		    wal_kind_name(r->kind));
		return;
	}
	owner_apply(p, NULL, r, (struct wal_loc) { 0, 0 });
	if (p->rec.nmsgs > REC_COMPACT_MIN && p->rec.nmsgs / 2 > p->rec.byid.count)
		rec_compact_msgs(p);
	if (p->rec.nqueues > REC_COMPACT_MIN &&
	    p->rec.nqueues / 2 > p->rec.live_queues)
		rec_compact_queues(p);
}

static void
group_reset(void *arg)
{
	struct persist *p = arg;

	rec_free(p);
	p->rec.on = true;
	p->next_qno = 1;
	p->ceiling = p->ceiling_synced = p->ceiling_lsn = 0;
}

static void
snap_put(struct cluster_snap *snap, uint32_t qno, uint64_t id,
    const char *body, size_t len, uint64_t deliveries, uint64_t not_before)
{
	struct wal_rec r;

	put_rec(qno, id, body, len, deliveries, not_before, &r);
	cluster_snap_add(snap, &r);
}

struct snap_walk {
	struct cluster_snap *snap;
	uint32_t qno;
	uint64_t now_us, wall_ms;
};

static bool
snap_ready(void *arg, const struct queue_item *it)
{
	struct snap_walk *w = arg;

	snap_put(w->snap, w->qno, it->id, it->body, it->len,
	    it->msg != NULL ? it->msg->deliveries : 0, 0);
	return true;
}

/* A live disk queue: settings, then ready, reserved, delayed messages. */
static void
snap_queue(struct queue *q, void *arg)
{
	struct snap_walk *w = arg;
	struct wal_rec r;
	struct msg *m;

	if (q->qno == 0)
		return;
	queue_rec(q, &r);
	cluster_snap_add(w->snap, &r);
	w->qno = q->qno;
	queue_walk(q, snap_ready, w);
	/* Reserved ones are ready again wherever this snapshot is read. */
	TAILQ_FOREACH(m, &q->reserved, qlink)
	snap_put(w->snap, q->qno, m->id, m->body, m->len, m->deliveries, 0);
	TAILQ_FOREACH(m, &q->delayed, qlink)
	{
		uint64_t left_ms = m->ready_us > w->now_us
		    ? (m->ready_us - w->now_us) / 1000
		    : 0;
		snap_put(w->snap, q->qno, m->id, m->body, m->len,
		    m->deliveries, w->wall_ms + left_ms);
	}
}

/*
 * The committed state as records: the follower's p->rec as it is; the
 * leader's live queues only when nothing of its own is in flight
 * (cluster.c checks), since they are committed state exactly then.
 * The IDS record carries the highest id given, removed messages' too.
 */
static int
group_snapshot(void *arg, struct cluster_snap *snap)
{
	struct persist *p = arg;
	struct wal_rec r;

	if (p->rec.on) {
		for (size_t i = 0; i < p->rec.nqueues; i++) {
			if (!p->rec.queues[i].alive)
				continue;
			const struct rqueue *rq = &p->rec.queues[i];
			settings_rec(rq->qno, rq->name, &rq->set, rq->closed,
			    &r);
			cluster_snap_add(snap, &r);
		}
		for (size_t i = 0; i < p->rec.nmsgs; i++) {
			const struct rmsg *m = &p->rec.msgs[i];
			if (m->alive && rqueue_of(p, m->qno) != NULL)
				snap_put(snap, m->qno, m->id, m->body, m->len,
				    m->deliveries, m->not_before_ms);
		}
		ids_rec(p->rec.max_id + 1 > p->rec.ids_seen
		        ? p->rec.max_id + 1
		        : p->rec.ids_seen,
		    &r);
	} else {
		struct snap_walk w = { snap, 0, clock_now_us(),
			persist_wall_ms() };
		qtable_foreach(p->queues, snap_queue, &w);
		ids_rec(*p->last_id + 1 > p->ceiling ? *p->last_id + 1
		                                     : p->ceiling,
		    &r);
	}
	cluster_snap_add(snap, &r);
	return 0;
}

/*
 * Leading: the committed state becomes live queues, and the first range
 * of ids goes out with what the server's lead makes (dead letters,
 * predefined queues); clients are served once that entry commits.
 */
static void
group_lead(void *arg)
{
	struct persist *p = arg;
	uint64_t before = *p->last_id;

	finish_recovery(p, NULL);
	/* A member that led before may have given ids not committed. */
	if (before > *p->last_id)
		*p->last_id = before;
	p->ceiling = p->ceiling_synced = p->ceiling_lsn = 0;
	reserve_ids(p);
	p->ev.lead(p->ev.arg);
}

static void
group_deposed(void *arg)
{
	struct persist *p = arg;

	p->ev.deposed(p->ev.arg);
	p->rec.on = true;
}

static void
group_progress(void *arg)
{
	struct persist *p = arg;

	p->ev.progress(p->ev.arg);
}

struct persist *
persist_open_cluster(const struct config *cfg, struct qtable *queues,
    struct event_base *base, struct event *flush, uint64_t *last_id,
    const struct persist_events *ev, char *err, size_t errsize)
{
	struct persist *p = xcalloc(1, sizeof *p);
	struct cluster_owner owner = { p, group_apply, group_reset,
		group_snapshot, group_lead, group_deposed, group_progress };

	p->queues = queues;
	p->last_id = last_id;
	p->next_qno = 1;
	p->rec.on = true;
	p->group = true;
	p->ev = *ev;
	p->flush = flush;
	p->cl = cluster_open(cfg, base, &owner, err, errsize);
	if (p->cl == NULL) {
		free(p);
		return NULL;
	}
	return p;
}

struct cluster *
persist_cluster(const struct persist *p)
{
	return p != NULL ? p->cl : NULL;
}

bool
persist_settling(const struct persist *p)
{
	return p->cl != NULL && cluster_settling(p->cl);
}

/* Counted as messages are applied: STATS costs no walk of them. */
static void
view_of(const struct rqueue *rq, struct persist_view *v)
{
	memset(v, 0, sizeof *v);
	v->name = rq->name;
	v->set = &rq->set;
	v->closed = rq->closed;
	v->depth = rq->held - rq->held_due;
	v->delayed = rq->held_due;
	v->bytes = rq->held_bytes;
}

void
persist_follower_queues(const struct persist *p,
    void (*fn)(void *arg, const struct persist_view *v), void *arg)
{
	struct persist_view v;

	if (p == NULL || p->cl == NULL || !p->rec.on)
		return;
	for (size_t i = 0; i < p->rec.nqueues; i++) {
		if (!p->rec.queues[i].alive)
			continue;
		view_of(&p->rec.queues[i], &v);
		fn(arg, &v);
	}
}

bool
persist_follower_queue(const struct persist *p, const char *name,
    struct persist_view *v)
{
	if (p == NULL || p->cl == NULL || !p->rec.on)
		return false;
	for (size_t i = 0; i < p->rec.nqueues; i++) {
		const struct rqueue *rq = &p->rec.queues[i];
		if (rq->alive && strcmp(rq->name, name) == 0) {
			view_of(rq, v);
			return true;
		}
	}
	return false;
}
