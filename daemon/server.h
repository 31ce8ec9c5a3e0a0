/*
 * server.h - one sluiced instance: its event base, listeners, queues,
 * connections and counters.  Created by main.c and passed down; there
 * is no global server, so tests can build one in-process.
 */
#ifndef SLUICE_SERVER_H
#define SLUICE_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "config.h"
#include "qtable.h"

struct conn;
TAILQ_HEAD(conn_list, conn);

struct server {
	struct event_base *base;
	struct config cfg;
	struct evconnlistener *listeners[CONFIG_LISTEN_MAX];
	int nlisteners;
	struct qtable queues;
	struct queue *last_queue; /* the last one looked up: usually next */
	struct conn_list conns;
	size_t nconns;
	size_t nmetrics;          /* metrics (HTTP) connections: count too */
	uint64_t last_id;	  /* the id of the newest accepted message */
	uint64_t started_ms;
	char *auth_token;	  /* NULL: AUTH always succeeds */
	size_t auth_token_len;
	bool shutting_down;	  /* draining: new PUTs get 503 */
	struct event *sig_term;	  /* SIGTERM, SIGINT: drain, then stop */
	struct event *sig_int;
	struct event *sig_hup;	  /* SIGHUP: reload the config file */
	struct config_flags flags; /* the command line, kept for reloads */
	struct drain *drain;	  /* NULL until the first stop signal */
	struct admit *admit;      /* connections per address (admit.h) */
};

/*
 * Build a server with cfg, ready to listen, its predefined queues made.
 * It takes over what cfg owns (config_free() is its job now).  NULL on
 * failure (logged).
 */
struct server *server_new(const struct config *cfg);

/* Bind every configured listener; -1 on failure (logged). */
int server_listen(struct server *s);

/* Adopt an already listening socket (tests, socket activation). */
int server_listen_fd(struct server *s, int fd);

/*
 * Write the local address of socket fd to host (numeric) and return its
 * port; 0 (and host "?") when it cannot be had.
 */
int server_sockname(int fd, char *host, size_t size);

/* Run the event loop until the server stops. */
int server_run(struct server *s);

/* Close every connection and free everything. */
void server_free(struct server *s);

/* A monotonic clock in milliseconds; replaced by nothing, cheap to call. */
uint64_t server_now_ms(void);

/*
 * Find a queue; with `create`, make it with the default settings when
 * it does not exist.  NULL when it does not exist and was not made.
 */
struct queue *server_queue(struct server *s, const char *name, bool create);

/* Remove a queue: its waiters get 404, its reserved messages vanish. */
void server_delete_queue(struct server *s, struct queue *q);

#endif
