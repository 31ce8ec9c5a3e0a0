/*
 * stats.c - STATS as JSON.  See stats.h; the fields are those of the
 * protocol's STATS table (1.1's closed, delayed, dead_lettered and the
 * queue's max_deliveries and dead_letter included), plus nacks,
 * redelivered and lease_ms.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "clock.h"
#include "config.h"
#include "cluster.h"
#include "persist.h"
#include "stats.h"
#include "xmalloc.h"

json_t *
stats_queue_json(const struct queue *q)
{
	const struct queue_counters *st = &q->stat;

	return json_pack("{s:s, s:I, s:I, s:s, s:I, s:I, s:s?, s:b, s:I, s:I,"
			 " s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I,"
			 " s:I, s:I, s:s}",
	    "name", q->name,
	    "capacity", (json_int_t)q->set.capacity,
	    "max_bytes", (json_int_t)q->set.max_bytes,
	    "policy", proto_policy_name(q->set.policy),
	    "lease_ms", (json_int_t)q->set.lease_ms,
	    "max_deliveries", (json_int_t)q->set.max_deliveries,
	    "dead_letter", q->set.dead_letter[0] ? q->set.dead_letter : NULL,
	    "closed", (int)q->closed,
	    "depth", (json_int_t)queue_depth(q),
	    "reserved", (json_int_t)q->nreserved,
	    "delayed", (json_int_t)q->ndelayed,
	    "bytes", (json_int_t)queue_bytes(q),
	    "puts", (json_int_t)st->puts,
	    "gets", (json_int_t)st->gets,
	    "acks", (json_int_t)st->acks,
	    "nacks", (json_int_t)st->nacks,
	    "redelivered", (json_int_t)st->redelivered,
	    "rejected", (json_int_t)st->rejected,
	    "dropped", (json_int_t)st->dropped,
	    "dead_lettered", (json_int_t)st->dead_lettered,
	    "blocked_producers", (json_int_t)q->nproducers,
	    "waiting_consumers", (json_int_t)q->nconsumers,
	    "storage", config_storage_name(q->set.storage));
}

json_t *
stats_view_json(const struct persist_view *v)
{
	return json_pack("{s:s, s:I, s:I, s:s, s:I, s:I, s:s?, s:b, s:I, s:I,"
			 " s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I,"
			 " s:I, s:I, s:s}",
	    "name", v->name,
	    "capacity", (json_int_t)v->set->capacity,
	    "max_bytes", (json_int_t)v->set->max_bytes,
	    "policy", proto_policy_name(v->set->policy),
	    "lease_ms", (json_int_t)v->set->lease_ms,
	    "max_deliveries", (json_int_t)v->set->max_deliveries,
	    "dead_letter", v->set->dead_letter[0] ? v->set->dead_letter : NULL,
	    "closed", (int)v->closed,
	    "depth", (json_int_t)v->depth,
	    "reserved", (json_int_t)0,
	    "delayed", (json_int_t)v->delayed,
	    "bytes", (json_int_t)v->bytes,
	    "puts", (json_int_t)0, "gets", (json_int_t)0,
	    "acks", (json_int_t)0, "nacks", (json_int_t)0,
	    "redelivered", (json_int_t)0, "rejected", (json_int_t)0,
	    "dropped", (json_int_t)0, "dead_lettered", (json_int_t)0,
	    "blocked_producers", (json_int_t)0,
	    "waiting_consumers", (json_int_t)0,
	    "storage", "disk");
}

/* Totals and per-queue objects gathered by qtable_foreach(). */
struct gather {
	const struct acl_token *who; /* lists only what it may see */
	json_t *queues;
	uint64_t messages;
	uint64_t bytes;
};

static void
gather_queue(struct queue *q, void *arg)
{
	struct gather *g = arg;

	if (!acl_allows(g->who, CONFIG_CAN_ALL, q->name))
		return;
	json_object_set_new(g->queues, q->name, stats_queue_json(q));
	g->messages += queue_held(q);
	g->bytes += queue_bytes(q);
}

json_t *
stats_server_json(struct server *s, const struct acl_token *who)
{
	struct gather g = { who, json_object(), 0, 0 };

	struct wal_stats ws;
	json_t *j;

	qtable_foreach(&s->queues, gather_queue, &g);
	j = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:o}", "version",
	    PACKAGE_VERSION, "uptime_s",
	    (json_int_t)((clock_now_ms() - s->started_ms) / 1000),
	    "connections", (json_int_t)s->nconns, "messages",
	    (json_int_t)g.messages, "bytes", (json_int_t)g.bytes, "memory",
	    (json_int_t)s->budget.used, "max_memory",
	    (json_int_t)s->cfg.max_memory, "queues", g.queues);
	if (s->persist == NULL || j == NULL)
		return j;
	if (persist_cluster(s->persist) != NULL) {
		char line[512];
		stats_cluster_text(s, line, sizeof line);
		line[0] = '{';
		json_t *cj = json_loads(line, 0, NULL);
		if (cj != NULL)
			json_object_update_new(j, cj);
		return j;
	}
	persist_stats(s->persist, &ws);
	json_object_update_new(j,
	    json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s?}", "fsync",
		wal_fsync_name(ws.fsync), "log_bytes", (json_int_t)ws.log_bytes,
		"log_live_bytes", (json_int_t)ws.live_bytes, "log_disk_bytes",
		(json_int_t)ws.disk_bytes, "log_segments",
		(json_int_t)ws.segments, "log_syncs", (json_int_t)ws.syncs,
		"log_sync_p99_us", (json_int_t)ws.sync_p99_usec,
		"log_compacted_bytes", (json_int_t)ws.compacted_bytes,
		"log_error", ws.last_error ? strerror(ws.last_error) : NULL));
	return j;
}

/*
 * The server's answer as text, written by hand: jansson builds and
 * frees a tree of some 40 allocations per queue, which over 10000
 * queues made each global STATS cost the loop a fifth of a second.
 * Queue names need no escaping (A-Z a-z 0-9 _ . : -).
 */
struct text {
	char *buf;
	size_t len, size;
	const struct acl_token *who;
	uint64_t messages, bytes;
	bool first;
};

static void
text_add(struct text *t, const char *s, size_t n)
{
	/* Room is kept for a terminator after the last addition. */
	if (t->len + n + 2 > t->size) {
		while (t->len + n + 2 > t->size)
			t->size *= 2;
		t->buf = xrealloc(t->buf, t->size);
	}
	memcpy(t->buf + t->len, s, n);
	t->len += n;
}

/* Append the literal s. */
#define ADD_LIT(p, s) (memcpy((p), (s), sizeof(s) - 1), (p) + sizeof(s) - 1)

/* Append ",\"<key>\":<v>" (key a literal) at p; the new end. */
#define ADD_NUM(p, key, v)                       \
	do {                                     \
		p = ADD_LIT(p, ",\"" key "\":"); \
		p += proto_format_u64(p, (v));   \
	} while (0)

/*
 * One queue's object.  Field by field, not snprintf: this runs for
 * every queue of a global STATS, and parsing a format of 22
 * conversions cost more than all the rest.  The fields and their order
 * are stats_queue_json()'s (STATS <q>); a test compares the two.
 */
static void
text_queue(struct queue *q, void *arg)
{
	struct text *t = arg;
	const struct queue_counters *st = &q->stat;
	const char *policy = proto_policy_name(q->set.policy);
	size_t nlen = strlen(q->name);
	char line[2048], *p = line; /* ~1.1 KiB at most */

	if (!acl_allows(t->who, CONFIG_CAN_ALL, q->name))
		return;
	if (!t->first)
		*p++ = ',';
	*p++ = '"';
	memcpy(p, q->name, nlen);
	p += nlen;
	p = ADD_LIT(p, "\":{\"name\":\"");
	memcpy(p, q->name, nlen);
	p += nlen;
	*p++ = '"';
	ADD_NUM(p, "capacity", q->set.capacity);
	ADD_NUM(p, "max_bytes", q->set.max_bytes);
	p = ADD_LIT(p, ",\"policy\":\"");
	memcpy(p, policy, strlen(policy));
	p += strlen(policy);
	*p++ = '"';
	ADD_NUM(p, "lease_ms", q->set.lease_ms);
	ADD_NUM(p, "max_deliveries", q->set.max_deliveries);
	if (q->set.dead_letter[0] != '\0') {
		size_t dlen = strlen(q->set.dead_letter);

		p = ADD_LIT(p, ",\"dead_letter\":\"");
		memcpy(p, q->set.dead_letter, dlen);
		p += dlen;
		*p++ = '"';
	} else {
		p = ADD_LIT(p, ",\"dead_letter\":null");
	}
	if (q->closed)
		p = ADD_LIT(p, ",\"closed\":true");
	else
		p = ADD_LIT(p, ",\"closed\":false");
	ADD_NUM(p, "depth", queue_depth(q));
	ADD_NUM(p, "reserved", q->nreserved);
	ADD_NUM(p, "delayed", q->ndelayed);
	ADD_NUM(p, "bytes", queue_bytes(q));
	ADD_NUM(p, "puts", st->puts);
	ADD_NUM(p, "gets", st->gets);
	ADD_NUM(p, "acks", st->acks);
	ADD_NUM(p, "nacks", st->nacks);
	ADD_NUM(p, "redelivered", st->redelivered);
	ADD_NUM(p, "rejected", st->rejected);
	ADD_NUM(p, "dropped", st->dropped);
	ADD_NUM(p, "dead_lettered", st->dead_lettered);
	ADD_NUM(p, "blocked_producers", q->nproducers);
	ADD_NUM(p, "waiting_consumers", q->nconsumers);
	if (q->set.storage == QUEUE_STORAGE_DISK)
		p = ADD_LIT(p, ",\"storage\":\"disk\"");
	else
		p = ADD_LIT(p, ",\"storage\":\"memory\"");
	*p++ = '}';
	text_add(t, line, (size_t)(p - line));
	t->first = false;
	t->messages += queue_held(q);
	t->bytes += queue_bytes(q);
}

size_t
stats_cluster_text(struct server *s, char *line, size_t size)
{
	struct cluster *cl = persist_cluster(s->persist);
	const char *leader = cluster_leader_client(cl);
	struct cluster_stats st;
	int n;

	cluster_stats(cl, &st);
	n = snprintf(line, size,
	    ",\"role\":\"%s\",\"leader\":%s%s%s,\"raft_term\":%" PRIu64
	    ",\"raft_applied\":%" PRIu64 ",\"raft_entries\":%" PRIu64
	    ",\"raft_inflight_bytes\":%" PRIu64 ",\"raft_snapshots\":%" PRIu64
	    ",\"raft_restarts\":%" PRIu64 "}",
	    cluster_role_name(cluster_role(cl)), leader ? "\"" : "",
	    leader ? leader : "null", leader ? "\"" : "", st.term, st.applied,
	    st.entries, st.inflight, st.snapshots, st.restarts);
	return n < 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1;
}

/* A follower's queue in the global STATS (jansson: followers are not
 * where STATS is hot). */
static void
text_view(void *arg, const struct persist_view *v)
{
	struct text *t = arg;
	json_t *j;
	char *s;

	if (!acl_allows(t->who, CONFIG_CAN_ALL, v->name))
		return;
	j = stats_view_json(v);
	s = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (s == NULL)
		return;
	if (!t->first)
		text_add(t, ",", 1);
	text_add(t, "\"", 1);
	text_add(t, v->name, strlen(v->name));
	text_add(t, "\":", 2);
	text_add(t, s, strlen(s));
	free(s);
	t->first = false;
	t->messages += v->depth + v->delayed;
	t->bytes += v->bytes;
}

char *
stats_server_text(struct server *s, const struct acl_token *who, size_t head,
    size_t *len)
{
	struct text t = { NULL, head, 4096, who, 0, 0, true };
	char line[512];
	int n;

	t.buf = xmalloc(t.size);
	text_add(&t, "{\"queues\":{", 11);
	qtable_foreach(&s->queues, text_queue, &t);
	persist_follower_queues(s->persist, text_view, &t);
	n = snprintf(line, sizeof line,
	    "},\"version\":\"%s\",\"uptime_s\":%" PRIu64
	    ",\"connections\":%zu,\"messages\":%" PRIu64 ",\"bytes\":%" PRIu64
	    ",\"memory\":%" PRIu64 ",\"max_memory\":%" PRIu64 "%s",
	    PACKAGE_VERSION, (clock_now_ms() - s->started_ms) / 1000, s->nconns,
	    t.messages, t.bytes, s->budget.used, s->cfg.max_memory,
	    s->persist != NULL ? "" : "}");
	text_add(&t, line, (size_t)n);
	if (persist_cluster(s->persist) != NULL) {
		n = stats_cluster_text(s, line, sizeof line);
		text_add(&t, line, (size_t)n);
	} else if (s->persist != NULL) {
		struct wal_stats ws;

		persist_stats(s->persist, &ws);
		n = snprintf(line, sizeof line,
		    ",\"fsync\":\"%s\",\"log_bytes\":%" PRIu64
		    ",\"log_live_bytes\":%" PRIu64 ",\"log_disk_bytes\":%" PRIu64
		    ",\"log_segments\":%" PRIu64 ",\"log_syncs\":%" PRIu64
		    ",\"log_sync_p99_us\":%" PRIu64
		    ",\"log_compacted_bytes\":%" PRIu64 ",\"log_error\":%s%s%s}",
		    wal_fsync_name(ws.fsync), ws.log_bytes, ws.live_bytes,
		    ws.disk_bytes, ws.segments, ws.syncs, ws.sync_p99_usec,
		    ws.compacted_bytes, ws.last_error ? "\"" : "",
		    ws.last_error ? strerror(ws.last_error) : "null",
		    ws.last_error ? "\"" : "");
		text_add(&t, line, (size_t)n);
	}
	*len = t.len - head;
	return t.buf;
}
