/*
 * drain.h - stopping gracefully.
 *
 * The first SIGTERM or SIGINT calls drain_start(): the listeners close,
 * every PUT (parked or new) is answered 503 SHUTTING_DOWN, and GET,
 * RESERVE, ACK and the rest go on being served until every queue is
 * empty and every reply written, or no client is left to drain them,
 * or the grace period (shutdown_grace_ms) ends.  Then drain_end()
 * answers the GETs and RESERVEs still waiting 503 SHUTTING_DOWN, writes
 * what it can, and the event loop exits.  main.c wires the signals; a
 * second one calls drain_end() at once.
 */
#ifndef SLUICE_DRAIN_H
#define SLUICE_DRAIN_H

#include <stdint.h>

struct server;
struct drain;

/* Begin draining s (sets s->shutting_down); free it with drain_free(). */
struct drain *drain_start(struct server *s);

/*
 * Stop now: answer every waiting consumer 503 SHUTTING_DOWN, flush, and
 * make the event loop exit.
 */
void drain_end(struct drain *d);

/* Free the drain's timer; NULL is fine. */
void drain_free(struct drain *d);

#endif
