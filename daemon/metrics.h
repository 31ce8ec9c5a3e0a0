/*
 * metrics.h - the optional HTTP listener for monitoring ("metrics" in
 * the config, off by default).
 *
 * GET /metrics answers the STATS numbers in the Prometheus text format
 * (per queue, labelled queue="<name>", plus server-wide gauges); GET
 * /healthz answers 200 "ok" while serving and 503 "draining" once a
 * stop has begun, so a load balancer moves clients away first.
 */
#ifndef SLUICE_METRICS_H
#define SLUICE_METRICS_H

#include "config.h"

struct server;
struct metrics;

/* Listen for HTTP at `at`; NULL when it cannot (logged). */
struct metrics *metrics_new(struct server *s, const struct config_listen *at);

/* Close the listener and its connections; NULL is fine. */
void metrics_free(struct metrics *m);

#endif
