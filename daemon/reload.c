/*
 * reload.c - SIGHUP.  See reload.h.
 *
 * A reload builds a whole new config with config_load(), exactly as at
 * start, and only then touches the server: a file with any error is
 * reported and the running configuration stays as it was.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "answer.h"
#include "deliver.h"
#include "log.h"
#include "notify.h"
#include "reload.h"
#include "server.h"
#include "cluster.h"
#include "persist.h"
#include "xmalloc.h"

static bool
same_listen(const struct config_listen *a, const struct config_listen *b)
{
	return strcmp(a->addr, b->addr) == 0 && a->port == b->port;
}

void
reload_queues(struct server *s, const struct config *cfg)
{
	struct cluster *cl = persist_cluster(s->persist);

	/*
	 * A group member that does not serve has no live queues, and what
	 * it would make could not be logged: the leader applies the file
	 * when it comes to lead (server.c), or at its own reload.
	 */
	if (cl != NULL && !cluster_serving(cl)) {
		if (cfg->nqueues > 0)
			log_notice("reload: the queues of the file apply when "
			           "this member leads");
		return;
	}
	for (size_t i = 0; i < cfg->nqueues; i++) {
		const struct config_queue *cq = &cfg->queues[i];
		struct queue *q = qtable_get(&s->queues, cq->name, NULL, 0);

		if (q == NULL) {
			server_add_queue(s, cq->name, &cq->set);
			log_debug("queue %s: created from the configuration",
			    cq->name);
			continue;
		}
		if (config_settings_equal(&q->set, &cq->set))
			continue;
		server_set_queue(s, q, &cq->set);
		log_notice("queue %s: now capacity %" PRIu64 ", max_bytes %"
			   PRIu64 ", policy %s, lease_ms %" PRIu64,
		    q->name, q->set.capacity, q->set.max_bytes,
		    proto_policy_name(q->set.policy), q->set.lease_ms);
		deliver_rejudge(s, q);
	}
}

/*
 * The TLS listeners stay as they are until a restart; their context
 * is next's, built afresh from the files, so renewed certificates
 * serve every connection accepted from now on (those open keep theirs:
 * OpenSSL counts the context's references).  A file that drops TLS
 * altogether leaves the listeners with the context they have.
 */
static void
keep_tls_listeners(struct server *s, struct config *next)
{
	struct config_tls *cur = &s->cfg.tls, *nt = &next->tls;
	bool same = cur->nlisten == nt->nlisten;

	for (int i = 0; same && i < cur->nlisten; i++)
		same = same_listen(&cur->listen[i], &nt->listen[i]);
	if (!same)
		log_notice("reload: \"tls_listen\" changed; it applies at the "
		           "next restart");
	memcpy(nt->listen, cur->listen, sizeof nt->listen);
	nt->nlisten = cur->nlisten;
	if (nt->nlisten > 0 && nt->ctx == NULL) {
		nt->ctx = cur->ctx;
		cur->ctx = NULL;
	} else if (nt->ctx != NULL && nt->nlisten > 0) {
		log_notice("reload: TLS certificate and settings from %s",
		    nt->cert_file);
	}
}

/* Log, and undo in next, the changes that need a restart. */
static void
keep_restart_settings(struct server *s, struct config *next)
{
	const struct config *cur = &s->cfg;
	bool same = cur->nlisten == next->nlisten;

	for (int i = 0; same && i < cur->nlisten; i++)
		same = same_listen(&cur->listen[i], &next->listen[i]);
	if (!same)
		log_notice("reload: \"listen\" changed; it applies at the "
			   "next restart");
	memcpy(next->listen, cur->listen, sizeof next->listen);
	next->nlisten = cur->nlisten;
	if (cur->metrics_on != next->metrics_on ||
	    (cur->metrics_on && !same_listen(&cur->metrics, &next->metrics)))
		log_notice("reload: \"metrics\" changed; it applies at the "
			   "next restart");
	next->metrics_on = cur->metrics_on;
	next->metrics = cur->metrics;
	keep_tls_listeners(s, next);
	if ((cur->data_dir == NULL) != (next->data_dir == NULL) ||
	    (cur->data_dir != NULL &&
	        strcmp(cur->data_dir, next->data_dir) != 0) ||
	    cur->fsync != next->fsync ||
	    cur->segment_size != next->segment_size ||
	    cur->max_unsynced != next->max_unsynced)
		log_notice("reload: \"data_dir\", \"fsync\", "
		           "\"segment_size\" and \"max_unsynced_bytes\" "
		           "apply at the next restart");
	free(next->data_dir);
	next->data_dir = cur->data_dir ? xstrdup(cur->data_dir) : NULL;
	next->fsync = cur->fsync;
	next->segment_size = cur->segment_size;
	next->max_unsynced = cur->max_unsynced;
	next->force_recover = cur->force_recover;
	next->fsync_set = cur->fsync_set;
	/* The Raft group is set up at start: id, peers, timeouts. */
	if (!config_cluster_equal(&cur->cluster, &next->cluster))
		log_notice("reload: \"cluster\" changed; it applies at the "
		           "next restart");
	next->cluster = cur->cluster;
}

/* Queues the old file defined and the new one does not stay. */
static void
note_dropped_queues(const struct config *cur, const struct config *next)
{
	for (size_t i = 0; i < cur->nqueues; i++) {
		size_t j;

		for (j = 0; j < next->nqueues; j++)
			if (strcmp(cur->queues[i].name, next->queues[j].name) ==
			    0)
				break;
		if (j == next->nqueues)
			log_notice("queue %s: no longer in the configuration; "
				   "it stays until DELETE",
			    cur->queues[i].name);
	}
}

void
reload_config(struct server *s)
{
	char err[CONFIG_ERR_MAX];
	struct config next;

	if (s->shutting_down) {
		log_notice("SIGHUP: ignored while shutting down");
		return;
	}
	if (s->flags.file == NULL) {
		log_notice("SIGHUP: no configuration file (-c) to reload");
		return;
	}
	log_notice("SIGHUP: reloading %s", s->flags.file);
	notify_reloading();
	if (config_load(&next, &s->flags, err, sizeof err) < 0) {
		log_err("reload failed, the running configuration stays: %s",
		    err);
		notify_reloaded(s, err);
		return;
	}
	keep_restart_settings(s, &next);
	note_dropped_queues(&s->cfg, &next);
	/* New AUTHs find the new tokens; older connections keep theirs. */
	acl_unref(s->acl);
	s->acl = acl_new(&next);
	answer_clear(s);
	log_set_level(next.log_level);
	config_free(&s->cfg);
	s->cfg = next;
	reload_queues(s, &s->cfg);
	/* A larger max_memory may let waiting producers in. */
	budget_changed(s);
	log_notice("reloaded %s", s->flags.file);
	notify_reloaded(s, NULL);
}
