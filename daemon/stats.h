/*
 * stats.h - the STATS answer as JSON (jansson), for one queue or the
 * whole server.  New references: the caller owns the result.
 */
#ifndef SLUICE_STATS_H
#define SLUICE_STATS_H

#include <jansson.h>

#include "queue.h"
#include "server.h"

json_t *stats_queue_json(const struct queue *q);
struct acl_token;

/*
 * The server's answer, listing the queues `who` has some right on (all
 * of them when who is NULL); its totals are over those queues.
 */
json_t *stats_server_json(struct server *s, const struct acl_token *who);

#endif
