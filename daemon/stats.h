/*
 * stats.h - the STATS answer as JSON (jansson), for one queue or the
 * whole server.  New references: the caller owns the result.
 */
#ifndef SLUICE_STATS_H
#define SLUICE_STATS_H

#include <jansson.h>

#include "persist.h"
#include "queue.h"
#include "server.h"

json_t *stats_queue_json(const struct queue *q);
struct acl_token;

/*
 * The server's answer, listing the queues `who` has some right on (all
 * of them when who is NULL); its totals are over those queues.
 */
json_t *stats_server_json(struct server *s, const struct acl_token *who);

/* A follower's queue's STATS object: settings and what it holds. */
json_t *stats_view_json(const struct persist_view *v);

/*
 * A replication group member's fields of the global STATS, as JSON text
 * starting with a comma and ending the object ("}"): its length.
 */
size_t stats_cluster_text(struct server *s, char *line, size_t size);

/*
 * The same answer as JSON text, written straight into a malloc'd
 * buffer after `head` bytes left free for the caller (a status line),
 * with room for 2 more bytes after it; *len is the length of the JSON.
 */
char *stats_server_text(struct server *s, const struct acl_token *who,
    size_t head, size_t *len);

#endif
