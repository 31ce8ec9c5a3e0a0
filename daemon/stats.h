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
json_t *stats_server_json(struct server *s);

#endif
