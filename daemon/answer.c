/*
 * answer.c - shared answers.  See answer.h.
 *
 * A shared answer is one malloc'd block, reference-counted: the cache
 * holds one reference, and each output buffer sending it another
 * (evbuffer_add_reference, released by its cleanup once written or
 * dropped).  The budget counts the block once, while it lives; a
 * connection's count of its output leaves out the shared answers in it
 * (conn.h: shared_out, kept here).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "persist.h"
#include "acl.h"
#include "answer.h"
#include "clock.h"
#include "conn.h"
#include "server.h"
#include "stats.h"

/* Views kept: every queue, and some restricted tokens'. */
#define ANSWER_VIEWS 16
/* Room before the JSON for "200 JSON <n>\r\n". */
#define HEAD_MAX 32

struct shared {
	struct server *s;
	int refs;
	char *buf;        /* the block: head room, then the answer */
	const char *text; /* where the answer starts in it */
	size_t len;       /* of the answer */
	size_t size;      /* counted in the budget */
};

struct view {
	struct acl *acl;             /* referenced; NULL for every queue */
	const struct acl_token *who; /* NULL: every queue */
	struct shared *ans;
	uint64_t built_ms;
	uint64_t built_changes; /* s->changes when it was built */
};

struct answer_cache {
	struct view v[ANSWER_VIEWS];
	size_t next; /* the view replaced next when all are taken */
};

static void
shared_unref(struct shared *a)
{
	if (--a->refs > 0)
		return;
	budget_add(a->s, -(int64_t)a->size);
	a->s->budget.shared_live--;
	free(a->buf);
	free(a);
}

/* One connection's reference: released once written, or dropped. */
struct sending {
	struct shared *a;
	struct conn *c;
};

static void
shared_cleanup(const void *data, size_t len, void *arg)
{
	struct sending *r = arg;

	r->c->shared_out -= len;
	shared_unref(r->a);
	free(r);
}

static void
shared_send(struct shared *a, struct conn *c)
{
	struct sending *r = malloc(sizeof *r);

	if (r == NULL)
		return;
	r->a = a;
	r->c = c;
	if (evbuffer_add_reference(c->out, a->text, a->len, shared_cleanup, r) <
	    0) {
		free(r);
		return;
	}
	a->refs++;
	c->shared_out += a->len;
}

static struct shared *
build(struct server *s, const struct acl_token *who)
{
	struct shared *a = calloc(1, sizeof *a);
	size_t json, n;
	char head[HEAD_MAX];

	if (a == NULL)
		return NULL;
	a->s = s;
	a->refs = 1;
	a->buf = stats_server_text(s, who, HEAD_MAX, &json);
	n = (size_t)snprintf(head, sizeof head, "200 JSON %zu\r\n", json);
	memcpy(a->buf + HEAD_MAX - n, head, n);
	memcpy(a->buf + HEAD_MAX + json, "\r\n", 2);
	a->text = a->buf + HEAD_MAX - n;
	a->len = n + json + 2;
	a->size = HEAD_MAX + json + 2;
	budget_add(s, (int64_t)a->size);
	s->budget.shared_live++;
	return a;
}

static void
view_clear(struct view *v)
{
	if (v->ans != NULL)
		shared_unref(v->ans);
	acl_unref(v->acl);
	memset(v, 0, sizeof *v);
}

/* The view of who (acl) in the cache, made (or reused) when absent. */
static struct view *
view_of(struct answer_cache *ac, struct acl *acl, const struct acl_token *who)
{
	struct view *free_slot = NULL;

	/* Slot 0 is every queue's; the others take turns. */
	for (size_t i = 1; i < ANSWER_VIEWS; i++) {
		struct view *v = &ac->v[i];
		if (v->ans != NULL && v->acl == acl && v->who == who)
			return v;
		if (v->ans == NULL && free_slot == NULL)
			free_slot = v;
	}
	if (free_slot == NULL) {
		free_slot = &ac->v[1 + ac->next++ % (ANSWER_VIEWS - 1)];
		view_clear(free_slot);
	}
	free_slot->acl = acl_ref(acl);
	free_slot->who = who;
	return free_slot;
}

/*
 * Build again when any request changed something since, or a
 * connection came or went (the spec: STATS says what is, not what
 * was), or when the copy is older than ANSWER_STATS_MS (what timers
 * and wake-ups changed).  Many clients asking while nothing changes
 * share one copy.
 * With the memory budget spent, not while ANSWER_LIVE_MAX copies are
 * alive (kept by connections that do not read them): each is counted,
 * but clients must not make the daemon hold one per connection.
 */
static bool
stale(const struct server *s, const struct view *v, uint64_t now,
    uint64_t changed_at)
{
	uint64_t age = now - v->built_ms;

	if (budget_full(s) && s->budget.shared_live >= ANSWER_LIVE_MAX)
		return false;
	/*
	 * A group member that does not serve: its role, leader and the
	 * follower's queues change under libraft, unseen by s->changes,
	 * and nothing makes STATS hot there.
	 */
	if (persist_cluster(s->persist) != NULL &&
	    !cluster_serving(persist_cluster(s->persist)))
		return true;
	return age >= ANSWER_STATS_MS || changed_at > v->built_changes ||
	    s->changes != v->built_changes;
}

void
answer_stats(struct conn *c)
{
	struct server *s = c->server;
	struct acl *acl = c->acl;
	const struct acl_token *who = c->who;
	uint64_t changed_at = c->changed_at;
	uint64_t now = clock_now_ms();
	struct answer_cache *ac = s->answers;
	struct view *v;

	if (ac == NULL) {
		ac = s->answers = calloc(1, sizeof *ac);
		if (ac == NULL)
			return;
	}
	/* Tokens that see every queue share the view of every queue. */
	if (who == NULL || who->sees_all) {
		v = &ac->v[0];
		acl = NULL;
		who = NULL;
	} else {
		v = view_of(ac, acl, who);
	}
	if (v->ans == NULL || stale(s, v, now, changed_at)) {
		struct shared *a = build(s, who);
		if (a == NULL)
			return;
		if (v->ans != NULL)
			shared_unref(v->ans);
		v->ans = a;
		v->built_ms = now;
		v->built_changes = s->changes;
	}
	shared_send(v->ans, c);
}

void
answer_clear(struct server *s)
{
	struct answer_cache *ac = s->answers;

	if (ac == NULL)
		return;
	for (size_t i = 0; i < ANSWER_VIEWS; i++)
		view_clear(&ac->v[i]);
	free(ac);
	s->answers = NULL;
}
