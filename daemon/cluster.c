/*
 * cluster.c - a member of a Raft group, on libraft.  See cluster.h.
 *
 * An entry is a batch: a header naming its writer, then records as the
 * local log frames them (wal_record.h), so one codec serves both logs.
 *
 *   u32 magic "SLRB", u16 version, u16 client address length,
 *   u64 writer's id, u64 writer's lead (a random number drawn each time
 *   it comes to lead), the writer's client address, then records.
 *
 * A leader skips its own entries of its current lead when they are
 * applied: their changes are in its state already.  Everything else is
 * applied through the owner.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>
#include <raft.h>
#include <raft/uv.h>

#include "clock.h"
#include "cluster.h"
#include "log.h"
#include "uvloop.h"
#include "xmalloc.h"

#define BATCH_MAGIC 0x42524c53u /* "SLRB" little-endian */
#define SNAP_MAGIC 0x53524c53u	/* "SLRS" */
#define FORMAT_VERSION 1
#define BATCH_HEADER 24 /* before the address */
#define SNAP_HEADER 8
/* Client addresses learnt of members (config, ADD, entries). */
#define KNOWN_MAX (CONFIG_MEMBERS_MAX * 2)

/* One incarnation of the Raft instance (a deposed leader starts anew). */
struct node {
	struct raft raft;
	struct raft_io io;
	struct raft_uv_transport tr;
	struct raft_fsm fsm;
	struct cluster *c;
};

/* An entry on its way: what its commit releases. */
struct inflight {
	struct raft_apply req;
	struct cluster *c;
	uint64_t last_seq;
	uint64_t bytes;
	uint64_t lead; /* the lead it was written in */
	bool hello;
	bool open; /* the first of the lead: its commit opens service */
};

struct change {
	struct raft_change req;
	struct cluster *c;
	uint64_t id;
};

struct known {
	uint64_t id;
	char client[CONFIG_ADDR_MAX];
};

struct cluster {
	struct uvloop *uv;
	struct node *node; /* NULL while restarting */
	struct cluster_owner own;
	char dir[PATH_MAX];
	uint64_t self;
	char self_raft[CONFIG_ADDR_MAX];
	char self_client[CONFIG_ADDR_MAX];
	struct config_cluster cfg;
	bool bootstrap; /* first start of a listed member */
	uint64_t lead;	/* this lead's number; 0: not leading */
	bool hello_pending;
	bool opening; /* hello applied, state live, first entry in flight */
	bool serving;
	bool lost;	/* an apply of ours failed: look at the role */
	bool settling;	/* a snapshot waits for in-flight entries */
	bool changing;	/* a membership change is in flight */
	struct event *restart_ev;
	/* The entry being built. */
	uint8_t *batch;
	size_t blen, bcap;
	uint64_t seq_appended, seq_committed;
	uint64_t inflight_bytes;
	uint64_t max_inflight;
	struct known known[KNOWN_MAX];
	size_t nknown;
	struct cluster_stats st;
};

static int start_node(struct cluster *c, char *err, size_t errsize);
static void submit(struct cluster *c, bool hello, bool open);

/* ---- little-endian fields ---- */

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void
put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void
put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static uint64_t
get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* ---- members' client addresses ---- */

static void
know(struct cluster *c, uint64_t id, const char *client, size_t len)
{
	size_t i;

	if (len == 0 || len >= CONFIG_ADDR_MAX)
		return;
	for (i = 0; i < c->nknown; i++)
		if (c->known[i].id == id)
			break;
	if (i == c->nknown) {
		if (c->nknown == KNOWN_MAX)
			i = 0; /* forget the oldest: only hints suffer */
		else
			c->nknown++;
	}
	c->known[i].id = id;
	memcpy(c->known[i].client, client, len);
	c->known[i].client[len] = '\0';
}

static const char *
client_of(const struct cluster *c, uint64_t id)
{
	if (id == c->self)
		return c->self_client;
	for (size_t i = 0; i < c->nknown; i++)
		if (c->known[i].id == id)
			return c->known[i].client;
	return NULL;
}

/* ---- records in, records out ---- */

static void
grow(uint8_t **buf, size_t *cap, size_t need)
{
	if (need <= *cap)
		return;
	size_t n = *cap ? *cap : 4096;
	while (n < need)
		n *= 2;
	*buf = raft_realloc(*buf, n);
	if (*buf == NULL) {
		log_err("cluster: out of memory");
		abort();
	}
	*cap = n;
}

/*
 * libraft's disk format wants entries a multiple of 8 bytes long (its
 * segments' reader assumes the writer's padding): zeros after the last
 * record, which the reader below stops at.
 */
static size_t
pad8(uint8_t **buf, size_t *cap, size_t len)
{
	size_t padded = (len + 7) & ~(size_t)7;

	grow(buf, cap, padded);
	memset(*buf + len, 0, padded - len);
	return padded;
}

static bool
all_zero(const uint8_t *p, size_t len)
{
	while (len > 0)
		if (p[--len] != 0)
			return false;
	return true;
}

static void
apply_records(struct cluster *c, const uint8_t *p, size_t len)
{
	while (len > 0 && !(len < 8 && all_zero(p, len))) {
		struct wal_rec r;
		size_t used = 0;
		const char *why = NULL;

		if (wal_rec_decode(p, len, &r, &used, &why) != WAL_DEC_OK) {
			log_err("cluster: a damaged record in a committed "
			        "entry (%s): the rest of it is skipped",
			    why != NULL ? why : "short");
			return;
		}
		c->own.apply(c->own.arg, &r);
		p += used;
		len -= used;
	}
}

void
cluster_snap_add(struct cluster_snap *snap, const struct wal_rec *r)
{
	size_t n = wal_rec_size(r);

	grow(&snap->buf, &snap->cap, snap->len + n);
	snap->len += wal_rec_encode(r, snap->buf + snap->len);
}

/* ---- the state machine libraft drives ---- */

static int
fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
	struct cluster *c = fsm->data;
	const uint8_t *p = buf->base;
	size_t alen;
	uint64_t writer, lead;

	*result = NULL;
	if (buf->len < BATCH_HEADER || get32(p) != BATCH_MAGIC ||
	    get16(p + 4) != FORMAT_VERSION ||
	    (alen = get16(p + 6)) > buf->len - BATCH_HEADER) {
		log_err("cluster: an entry this version cannot read: skipped");
		return 0;
	}
	writer = get64(p + 8);
	lead = get64(p + 16);
	know(c, writer, (const char *)p + BATCH_HEADER, alen);
	if (writer == c->self && lead == c->lead && c->lead != 0)
		return 0; /* ours, of this lead: already done */
	if (c->serving || c->opening) {
		/* Cannot be: a new leader applies all before serving. */
		log_err("cluster: another writer's entry while leading");
		c->lost = true;
		return 0;
	}
	apply_records(c, p + BATCH_HEADER + alen,
	    buf->len - BATCH_HEADER - alen);
	return 0;
}

static int
fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n)
{
	struct cluster *c = fsm->data;
	struct cluster_snap snap = { NULL, 0, 0 };
	uint64_t t0 = clock_now_us();

	if ((c->serving || c->opening) &&
	    (c->seq_committed != c->seq_appended || c->blen > 0 || c->lost ||
	        raft_state(&c->node->raft) != RAFT_LEADER)) {
		c->settling = true;
		return RAFT_BUSY;
	}
	grow(&snap.buf, &snap.cap, SNAP_HEADER);
	put32(snap.buf, SNAP_MAGIC);
	put32(snap.buf + 4, FORMAT_VERSION);
	snap.len = SNAP_HEADER;
	if (c->own.snapshot(c->own.arg, &snap) != 0) {
		raft_free(snap.buf);
		c->settling = c->serving || c->opening;
		return RAFT_BUSY;
	}
	c->settling = false;
	snap.len = pad8(&snap.buf, &snap.cap, snap.len);
	*bufs = raft_malloc(sizeof **bufs);
	if (*bufs == NULL) {
		raft_free(snap.buf);
		return RAFT_NOMEM;
	}
	(*bufs)[0].base = snap.buf;
	(*bufs)[0].len = snap.len;
	*n = 1;
	c->st.snapshots++;
	c->st.last_snapshot_us = clock_now_us() - t0;
	/* The loop stood still meanwhile: heartbeats too. */
	if (c->st.last_snapshot_us / 1000 > c->cfg.election_timeout_ms / 2)
		log_warn("cluster: a snapshot of %zu bytes took %" PRIu64
		         " ms, over half the election timeout: raise "
		         "snapshot_threshold or election_timeout_ms",
		    snap.len, c->st.last_snapshot_us / 1000);
	else
		log_info("cluster: snapshot of %zu bytes built in %" PRIu64
		         " us",
		    snap.len, c->st.last_snapshot_us);
	return 0;
}

static int
fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
	struct cluster *c = fsm->data;
	const uint8_t *p = buf->base;

	if (buf->len < SNAP_HEADER || get32(p) != SNAP_MAGIC ||
	    get32(p + 4) != FORMAT_VERSION) {
		log_err("cluster: a snapshot this version cannot read");
		return RAFT_MALFORMED;
	}
	c->own.reset(c->own.arg);
	apply_records(c, p + SNAP_HEADER, buf->len - SNAP_HEADER);
	raft_free(buf->base); /* libraft gave it to us */
	return 0;
}

/* ---- entries out ---- */

static void
open_batch(struct cluster *c)
{
	size_t alen = strlen(c->self_client);

	grow(&c->batch, &c->bcap, BATCH_HEADER + alen);
	put32(c->batch, BATCH_MAGIC);
	put16(c->batch + 4, FORMAT_VERSION);
	put16(c->batch + 6, (uint16_t)alen);
	put64(c->batch + 8, c->self);
	put64(c->batch + 16, c->lead);
	memcpy(c->batch + BATCH_HEADER, c->self_client, alen);
	c->blen = BATCH_HEADER + alen;
}

static void
on_applied(struct raft_apply *req, int status, void *result)
{
	struct inflight *f = req->data;
	struct cluster *c = f->c;

	(void)result;
	if (f->lead == c->lead)
		c->inflight_bytes -= f->bytes;
	if (status != 0) {
		if (f->lead == c->lead && c->lead != 0) {
			log_notice("cluster: an entry failed (%s): no longer "
			           "leading",
			    raft_strerror(status));
			c->lost = true;
		}
	} else if (f->hello) {
		if (f->lead == c->lead && c->lead != 0 && c->hello_pending) {
			/* Everything before is applied: go live, and serve
			 * once what going live logs is committed. */
			c->hello_pending = false;
			c->opening = true;
			c->own.lead(c->own.arg);
			submit(c, false, true);
		}
	} else {
		if (f->last_seq > c->seq_committed)
			c->seq_committed = f->last_seq;
		if (f->open && f->lead == c->lead && c->opening) {
			c->opening = false;
			c->serving = true;
			log_notice("cluster: leading (term %llu); serving",
			    (unsigned long long)c->node->raft.current_term);
		}
	}
	if (c->inflight_bytes == 0)
		c->settling = false;
	free(f);
	c->own.progress(c->own.arg);
}

/*
 * Send what the batch holds (or, for hello, just the header; open: the
 * first entry of a lead, sent even when empty).
 */
static void
submit(struct cluster *c, bool hello, bool open)
{
	struct inflight *f;
	struct raft_buffer b;
	int rc;

	if (hello || (open && c->blen == 0))
		open_batch(c);
	if (c->blen == 0)
		return;
	f = xcalloc(1, sizeof *f);
	f->c = c;
	f->req.data = f;
	f->last_seq = c->seq_appended;
	c->blen = pad8(&c->batch, &c->bcap, c->blen);
	f->bytes = c->blen;
	f->lead = c->lead;
	f->hello = hello;
	f->open = open;
	b.base = c->batch;
	b.len = c->blen;
	c->batch = NULL;
	c->blen = c->bcap = 0;
	rc = c->node != NULL
	    ? raft_apply(&c->node->raft, &f->req, &b, 1, on_applied)
	    : RAFT_NOTLEADER;
	if (rc != 0) {
		log_notice("cluster: an entry was refused (%s)",
		    raft_strerror(rc));
		raft_free(b.base);
		free(f);
		c->lost = true;
		uvloop_kick(c->uv);
		return;
	}
	c->inflight_bytes += f->bytes;
	c->st.entries++;
	uvloop_kick(c->uv);
}

uint64_t
cluster_append(struct cluster *c, const struct wal_rec *r)
{
	size_t n = wal_rec_size(r);

	if (!c->serving && !c->opening) {
		/* Nothing but the leader changes queues (cmd.c's gate). */
		log_warn("cluster: a %s record while not serving: not "
		         "replicated",
		    wal_kind_name(r->kind));
		return c->seq_committed;
	}
	if (c->blen == 0)
		open_batch(c);
	grow(&c->batch, &c->bcap, c->blen + n);
	c->blen += wal_rec_encode(r, c->batch + c->blen);
	c->seq_appended++;
	if (c->blen >= c->cfg.max_batch && c->serving)
		submit(c, false, false);
	return c->seq_appended;
}

void
cluster_flush(struct cluster *c)
{
	if (c->blen > 0 && c->serving)
		submit(c, false, false);
}

uint64_t
cluster_appended(const struct cluster *c)
{
	return c->seq_appended;
}

uint64_t
cluster_committed(const struct cluster *c)
{
	return c->seq_committed;
}

bool
cluster_batching(const struct cluster *c)
{
	return c->blen > 0;
}

bool
cluster_backlogged(const struct cluster *c)
{
	return c->inflight_bytes + c->blen > c->max_inflight;
}

bool
cluster_settling(const struct cluster *c)
{
	return c->settling && (c->serving || c->opening);
}

bool
cluster_serving(const struct cluster *c)
{
	return c->serving;
}

/* ---- roles ---- */

enum cluster_role
cluster_role(const struct cluster *c)
{
	if (c->node == NULL)
		return CLUSTER_UNAVAILABLE;
	switch (raft_state((struct raft *)&c->node->raft)) {
	case RAFT_FOLLOWER:
		return CLUSTER_FOLLOWER;
	case RAFT_CANDIDATE:
		return CLUSTER_CANDIDATE;
	case RAFT_LEADER:
		return CLUSTER_LEADER;
	default:
		return CLUSTER_UNAVAILABLE;
	}
}

const char *
cluster_role_name(enum cluster_role role)
{
	static const char *const names[] = { "unavailable", "follower",
		"candidate", "leader" };

	return names[role];
}

const char *
cluster_leader_client(const struct cluster *c)
{
	raft_id id = 0;
	const char *addr = NULL;

	if (c->node == NULL)
		return NULL;
	raft_leader((struct raft *)&c->node->raft, &id, &addr);
	return id == 0 ? NULL : client_of(c, id);
}

static uint64_t
draw_lead(void)
{
	uint64_t v = 0;

	while (v == 0)
		if (getrandom(&v, sizeof v, 0) != sizeof v)
			v = clock_now_us() ^ (uint64_t)clock();
	return v;
}

static void
on_restart(evutil_socket_t fd, short what, void *arg)
{
	struct cluster *c = arg;
	char err[256];

	c->own.reset(c->own.arg);
	if (start_node(c, err, sizeof err) != 0) {
		/* The log on disk is what it was: a restart of the
		 * process is the same start again. */
		log_err("cluster: cannot restart the Raft instance: %s", err);
		exit(1);
	}
	uvloop_kick(c->uv);
}

static void
on_closed(struct raft *r)
{
	struct node *n = r->data;
	struct cluster *c = n->c;
	static const struct timeval now = { 0, 0 };

	raft_uv_close(&n->io);
	raft_uv_tcp_close(&n->tr);
	free(n);
	/* Out of libuv's callbacks before a new instance binds. */
	if (c->restart_ev != NULL)
		evtimer_add(c->restart_ev, &now);
}

/*
 * Deposed: the live state is ahead of the committed one.  The owner
 * drops it (and the connections that hold answers or reservations);
 * a new instance restores the snapshot and follows.
 */
static void
restart(struct cluster *c)
{
	struct node *n = c->node;

	log_notice("cluster: no longer leading; restarting as a follower");
	c->st.restarts++;
	c->serving = false;
	c->opening = false;
	c->hello_pending = false;
	c->settling = false;
	c->inflight_bytes = 0;
	c->lead = 0;
	c->lost = false;
	if (c->batch != NULL)
		raft_free(c->batch);
	c->batch = NULL;
	c->blen = c->bcap = 0;
	/* Nobody waits for what was appended: its connections go now. */
	c->seq_committed = c->seq_appended;
	c->own.deposed(c->own.arg);
	c->node = NULL;
	raft_close(&n->raft, on_closed);
	uvloop_kick(c->uv);
}

/* After every libuv run: act on a change of role. */
static void
look_at_role(void *arg)
{
	struct cluster *c = arg;
	bool leader;

	if (c->node == NULL)
		return;
	leader = raft_state(&c->node->raft) == RAFT_LEADER;
	if ((c->serving || c->opening) && (!leader || c->lost)) {
		restart(c);
	} else if (c->hello_pending && (!leader || c->lost)) {
		/* Nothing was served: nothing to undo. */
		c->hello_pending = false;
		c->lead = 0;
		c->lost = false;
	} else if (leader && !c->serving && !c->opening &&
	    !c->hello_pending) {
		c->lost = false;
		c->lead = draw_lead();
		c->hello_pending = true;
		log_notice("cluster: elected (term %llu); catching up",
		    (unsigned long long)c->node->raft.current_term);
		submit(c, true, false);
	}
}

/* ---- starting ---- */

static int
start_node(struct cluster *c, char *err, size_t errsize)
{
	struct node *n = xcalloc(1, sizeof *n);
	uv_loop_t *loop = uvloop_loop(c->uv);
	int rc;

	n->c = c;
	rc = raft_uv_tcp_init(&n->tr, loop);
	if (rc != 0) {
		snprintf(err, errsize, "raft transport: %s", raft_strerror(rc));
		free(n);
		return -1;
	}
	rc = raft_uv_init(&n->io, loop, c->dir, &n->tr);
	if (rc != 0) {
		snprintf(err, errsize, "%s: %s", c->dir, n->io.errmsg);
		raft_uv_tcp_close(&n->tr);
		free(n);
		return -1;
	}
	/* Bodies are mostly incompressible; the write is what counts. */
	raft_uv_set_snapshot_compression(&n->io, false);
	n->fsm.version = 1;
	n->fsm.data = c;
	n->fsm.apply = fsm_apply;
	n->fsm.snapshot = fsm_snapshot;
	n->fsm.restore = fsm_restore;
	rc = raft_init(&n->raft, &n->io, &n->fsm, c->self, c->self_raft);
	if (rc != 0) {
		snprintf(err, errsize, "raft: %s", raft_errmsg(&n->raft));
		raft_uv_close(&n->io);
		raft_uv_tcp_close(&n->tr);
		free(n);
		return -1;
	}
	n->raft.data = n;
	raft_set_election_timeout(&n->raft, c->cfg.election_timeout_ms);
	raft_set_heartbeat_timeout(&n->raft, c->cfg.heartbeat_timeout_ms);
	raft_set_snapshot_threshold(&n->raft, c->cfg.snapshot_threshold);
	raft_set_snapshot_trailing(&n->raft, c->cfg.snapshot_trailing);
	/* A member cut off and back does not depose a working leader. */
	raft_set_pre_vote(&n->raft, true);
	if (c->bootstrap) {
		struct raft_configuration conf;

		raft_configuration_init(&conf);
		for (size_t i = 0; i < c->cfg.nmembers; i++)
			raft_configuration_add(&conf, c->cfg.members[i].id,
			    c->cfg.members[i].raft, RAFT_VOTER);
		rc = raft_bootstrap(&n->raft, &conf);
		raft_configuration_close(&conf);
		if (rc != 0 && rc != RAFT_CANTBOOTSTRAP) {
			snprintf(err, errsize, "bootstrap: %s",
			    raft_errmsg(&n->raft));
			c->node = n;
			return -1;
		}
		c->bootstrap = false;
	}
	rc = raft_start(&n->raft);
	c->node = n;
	if (rc != 0) {
		snprintf(err, errsize, "raft start: %s", raft_errmsg(&n->raft));
		return -1;
	}
	return 0;
}

struct cluster *
cluster_open(const struct config *cfg, struct event_base *base,
    const struct cluster_owner *owner, char *err, size_t errsize)
{
	const struct config_cluster *cc = &cfg->cluster;
	struct cluster *c = xcalloc(1, sizeof *c);

	c->own = *owner;
	c->cfg = *cc;
	c->self = cc->id;
	c->max_inflight = cfg->max_unsynced;
	if (cc->join) {
		snprintf(c->self_raft, sizeof c->self_raft, "%s", cc->raft);
		snprintf(c->self_client, sizeof c->self_client, "%s",
		    cc->client);
	}
	for (size_t i = 0; i < cc->nmembers; i++) {
		const struct config_member *m = &cc->members[i];
		if (m->id == cc->id && !cc->join) {
			snprintf(c->self_raft, sizeof c->self_raft, "%s",
			    m->raft);
			snprintf(c->self_client, sizeof c->self_client, "%s",
			    m->client);
		}
		know(c, m->id, m->client, strlen(m->client));
	}
	c->bootstrap = !cc->join;
	if (snprintf(c->dir, sizeof c->dir, "%s/raft", cfg->data_dir) >=
	    (int)sizeof c->dir) {
		snprintf(err, errsize, "data_dir: too long");
		free(c);
		return NULL;
	}
	if (mkdir(cfg->data_dir, 0750) < 0 && errno != EEXIST) {
		snprintf(err, errsize, "%s: %s", cfg->data_dir, strerror(errno));
		free(c);
		return NULL;
	}
	if (mkdir(c->dir, 0750) < 0 && errno != EEXIST) {
		snprintf(err, errsize, "%s: %s", c->dir, strerror(errno));
		free(c);
		return NULL;
	}
	c->uv = uvloop_new(base, look_at_role, c);
	if (c->uv == NULL) {
		snprintf(err, errsize, "libuv would not start");
		free(c);
		return NULL;
	}
	c->restart_ev = evtimer_new(base, on_restart, c);
	if (start_node(c, err, errsize) != 0) {
		cluster_close(c);
		return NULL;
	}
	uvloop_kick(c->uv);
	log_notice("cluster: member %" PRIu64 " (raft %s, clients %s), "
	           "log in %s",
	    c->self, c->self_raft, c->self_client, c->dir);
	return c;
}

static void
on_final_close(struct raft *r)
{
	struct node *n = r->data;

	raft_uv_close(&n->io);
	raft_uv_tcp_close(&n->tr);
	free(n);
}

void
cluster_close(struct cluster *c)
{
	if (c == NULL)
		return;
	if (c->restart_ev != NULL)
		event_free(c->restart_ev);
	c->restart_ev = NULL;
	if (c->node != NULL) {
		c->node->raft.data = c->node;
		raft_close(&c->node->raft, on_final_close);
		c->node = NULL;
	}
	uvloop_free(c->uv);
	if (c->batch != NULL)
		raft_free(c->batch);
	free(c);
}

/* ---- membership ---- */

static const struct raft_server *
member(const struct cluster *c, uint64_t id)
{
	const struct raft_configuration *conf = &c->node->raft.configuration;

	for (unsigned i = 0; i < conf->n; i++)
		if (conf->servers[i].id == id)
			return &conf->servers[i];
	return NULL;
}

static int
refuse(int *code, int value, char *err, size_t errsize, const char *why)
{
	*code = value;
	snprintf(err, errsize, "%s", why);
	return -1;
}

static void
on_assigned(struct raft_change *req, int status)
{
	struct change *ch = req->data;

	if (status != 0)
		log_warn("cluster: member %" PRIu64 " not promoted: %s",
		    ch->id, raft_strerror(status));
	else
		log_notice("cluster: member %" PRIu64 " votes", ch->id);
	ch->c->changing = false;
	free(ch);
}

static void
on_added(struct raft_change *req, int status)
{
	struct change *ch = req->data;
	struct cluster *c = ch->c;
	int rc;

	if (status == 0 && c->node != NULL) {
		log_notice("cluster: member %" PRIu64 " added; catching up",
		    ch->id);
		rc = raft_assign(&c->node->raft, &ch->req, ch->id, RAFT_VOTER,
		    on_assigned);
		if (rc == 0) {
			uvloop_kick(c->uv);
			return;
		}
		status = rc;
	}
	log_warn("cluster: member %" PRIu64 " not added: %s", ch->id,
	    raft_strerror(status));
	c->changing = false;
	free(ch);
}

static void
on_removed(struct raft_change *req, int status)
{
	struct change *ch = req->data;

	if (status != 0)
		log_warn("cluster: member %" PRIu64 " not removed: %s", ch->id,
		    raft_strerror(status));
	else
		log_notice("cluster: member %" PRIu64 " removed", ch->id);
	ch->c->changing = false;
	free(ch);
}

static int
can_change(struct cluster *c, int *code, char *err, size_t errsize)
{
	if (!c->serving)
		return refuse(code, 503, err, errsize, "NOT_LEADER");
	if (c->changing)
		return refuse(code, 409, err, errsize,
		    "CONFLICT another membership change is under way");
	return 0;
}

int
cluster_add(struct cluster *c, uint64_t id, const char *raft,
    const char *client, int *code, char *err, size_t errsize)
{
	char raft_addr[CONFIG_ADDR_MAX], client_addr[CONFIG_ADDR_MAX];
	struct change *ch;
	int rc;

	if (can_change(c, code, err, errsize) != 0)
		return -1;
	/* The rules and spelling of the config's "members". */
	if (id == 0 || config_peer_address(raft, raft_addr) != 0 ||
	    config_peer_address(client, client_addr) != 0)
		return refuse(code, 400, err, errsize,
		    "BAD_REQUEST want CLUSTER ADD <id> <raft a.b.c.d:port> "
		    "<client a.b.c.d:port>");
	if (member(c, id) != NULL)
		return refuse(code, 409, err, errsize,
		    "CONFLICT already a member");
	ch = xcalloc(1, sizeof *ch);
	ch->c = c;
	ch->id = id;
	ch->req.data = ch;
	rc = raft_add(&c->node->raft, &ch->req, id, raft_addr, on_added);
	if (rc != 0) {
		free(ch);
		if (rc == RAFT_NOTLEADER)
			return refuse(code, 503, err, errsize, "NOT_LEADER");
		*code = 409;
		snprintf(err, errsize, "CONFLICT %s", raft_strerror(rc));
		return -1;
	}
	know(c, id, client_addr, strlen(client_addr));
	c->changing = true;
	uvloop_kick(c->uv);
	return 0;
}

int
cluster_remove(struct cluster *c, uint64_t id, int *code, char *err,
    size_t errsize)
{
	struct change *ch;
	int rc;

	if (can_change(c, code, err, errsize) != 0)
		return -1;
	if (member(c, id) == NULL) {
		*code = 404;
		snprintf(err, errsize, "NO_MEMBER %" PRIu64, id);
		return -1;
	}
	ch = xcalloc(1, sizeof *ch);
	ch->c = c;
	ch->id = id;
	ch->req.data = ch;
	rc = raft_remove(&c->node->raft, &ch->req, id, on_removed);
	if (rc != 0) {
		free(ch);
		*code = rc == RAFT_NOTLEADER ? 503 : 409;
		snprintf(err, errsize, "%s",
		    rc == RAFT_NOTLEADER ? "NOT_LEADER" : "CONFLICT");
		return -1;
	}
	c->changing = true;
	uvloop_kick(c->uv);
	return 0;
}

/* ---- looking in ---- */

static const char *
member_role_name(int role)
{
	switch (role) {
	case RAFT_VOTER:
		return "voter";
	case RAFT_STANDBY:
		return "standby";
	default:
		return "spare";
	}
}

char *
cluster_status_json(const struct cluster *c)
{
	const char *leader = cluster_leader_client(c);
	json_t *o = json_object(), *ms = json_array();
	struct cluster_stats st;
	char *s;

	cluster_stats(c, &st);
	json_object_set_new(o, "id", json_integer((json_int_t)c->self));
	json_object_set_new(o, "role",
	    json_string(cluster_role_name(cluster_role(c))));
	json_object_set_new(o, "leader",
	    leader != NULL ? json_string(leader) : json_null());
	json_object_set_new(o, "serving", json_boolean(c->serving));
	json_object_set_new(o, "term", json_integer((json_int_t)st.term));
	json_object_set_new(o, "applied",
	    json_integer((json_int_t)st.applied));
	if (c->node != NULL) {
		const struct raft_configuration *conf =
		    &c->node->raft.configuration;
		for (unsigned i = 0; i < conf->n; i++) {
			const struct raft_server *sv = &conf->servers[i];
			const char *cl = client_of(c, sv->id);
			json_array_append_new(ms,
			    json_pack("{s:I,s:s,s:s?,s:s}", "id",
				(json_int_t)sv->id, "raft", sv->address,
				"client", cl, "role",
				member_role_name(sv->role)));
		}
	}
	json_object_set_new(o, "members", ms);
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

void
cluster_stats(const struct cluster *c, struct cluster_stats *st)
{
	*st = c->st;
	st->inflight = c->inflight_bytes;
	if (c->node != NULL) {
		st->term = c->node->raft.current_term;
		st->applied = raft_last_applied((struct raft *)&c->node->raft);
	}
}
