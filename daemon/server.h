/*
 * server.h - one sluiced instance: its event base, listeners, queues,
 * connections and counters.  Created by main.c and passed down; there
 * is no global server, so tests can build one in-process.
 *
 * struct server is the core's context (conn, cmd*, deliver read its
 * fields), but server.c itself sits above the core: it accepts
 * connections into it and frees it, and nothing in the core calls it.
 */
#ifndef SLUICE_SERVER_H
#define SLUICE_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "budget.h"
#include "config.h"
#include "log.h"
#include "qtable.h"

struct conn;
TAILQ_HEAD(conn_list, conn);

/* Plain listeners (or systemd's sockets), then the TLS ones. */
#define SERVER_LISTENERS_MAX (2 * CONFIG_LISTEN_MAX)

/* What /metrics counts since the start (the core adds, metrics.c reads). */
struct server_counters {
	uint64_t accepted;     /* client connections served */
	uint64_t refused;      /* answered 503 BUSY at accept */
	uint64_t bad_requests; /* requests answered 400 */
	uint64_t bytes_in;     /* read from clients */
	uint64_t bytes_out;    /* written to clients */
};

struct server {
	struct event_base *base;
	struct config cfg;
	struct evconnlistener *listeners[SERVER_LISTENERS_MAX];
	int nlisteners;
	struct qtable queues;
	struct conn_list conns;
	size_t nconns;
	size_t nmetrics;          /* metrics (HTTP) connections: count too */
	/* The pass (conn.h): woken connections to run, then to flush. */
	struct conn_list runq;
	struct conn_list flushq;
	struct event *run_ev;     /* the pass: runs the run list, flushes */
	bool pass_pending;        /* run_ev runs in this loop iteration */
	uint64_t last_id;	  /* the id of the newest accepted message */
	uint64_t started_ms;
	struct acl *acl;	  /* the tokens; NULL: AUTH always succeeds */
	bool shutting_down;	  /* draining: new PUTs get 503 */
	struct config_flags flags; /* the command line, kept for reloads */
	struct admit *admit;      /* connections per address (admit.h) */
	struct persist *persist;  /* the durable log; NULL: memory only */
	struct conn_list holding; /* connections with answers held for it */
	struct event *wal_ev;     /* its eventfd: syncs done */
	struct event *flush_ev;   /* retry a write of the log that failed */
	bool disk_waiters;        /* producers wait for the log's backlog */
	struct budget budget;     /* memory held for clients (budget.h) */
	uint64_t changes;	  /* requests that changed something */
	struct answer_cache *answers; /* shared answers (answer.h) */
	struct delay *delay;	  /* the timer of every delayed message */
	struct server_counters counters;
	struct log_budget refusals_log; /* "refused" lines: one a second */
};

/*
 * Build a server with cfg, ready to listen, its predefined queues made.
 * It takes over what cfg owns (config_free() is its job now).  NULL on
 * failure (logged).
 */
struct server *server_new(const struct config *cfg);

/*
 * Make queue `name` with settings `set` (its storage settled by the
 * server's), logging it when it is a disk queue; for the glue above
 * the core (start, reload).
 */
struct queue *server_add_queue(struct server *s, const char *name,
    const struct queue_settings *set);

/* Give q new settings (a reload); its storage never changes. */
void server_set_queue(struct server *s, struct queue *q,
    const struct queue_settings *set);

/* Bind every configured listener; -1 on failure (logged). */
int server_listen(struct server *s);

/*
 * Bind every TLS listener (cfg.tls), under socket activation too: the
 * sockets systemd passes are plain ones.  -1 on failure (logged).
 */
int server_listen_tls(struct server *s);

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

#endif
