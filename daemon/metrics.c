/*
 * metrics.c - /metrics and /healthz over evhttp.  See metrics.h.
 *
 * Every metric family is a row of a table: its name, type, help text
 * and which number of the queue it reports.  The names follow the
 * Prometheus conventions: a sluice_ prefix, _total on counters, base
 * units (seconds, bytes).  Queue names need no escaping in a label
 * value: the protocol allows none of \ " or newline in them.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "clock.h"
#include "drain.h"
#include "log.h"
#include "metrics.h"
#include "server.h"
#include "xmalloc.h"

/* HTTP bounds: a scraper sends one small GET; anything else is abuse. */
#define METRICS_HEADERS_MAX 8192
#define METRICS_TIMEOUT_SEC 10

struct metrics {
	struct server *server;
	struct evhttp *http;
};

/* Which number of a queue a family reports. */
enum qvalue {
	QV_DEPTH,
	QV_RESERVED,
	QV_BYTES,
	QV_CAPACITY,
	QV_MAX_BYTES,
	QV_BLOCKED_PRODUCERS,
	QV_WAITING_CONSUMERS,
	QV_PUTS,
	QV_GETS,
	QV_ACKS,
	QV_NACKS,
	QV_REDELIVERED,
	QV_REJECTED,
	QV_DROPPED,
	QV_BLOCKED_MS, /* printed in seconds */
};

static const struct family {
	const char *name;
	const char *type;
	const char *help;
	enum qvalue value;
} families[] = {
	{ "sluice_queue_depth", "gauge", "Ready messages.", QV_DEPTH },
	{ "sluice_queue_reserved", "gauge",
	    "Reserved, unacknowledged messages.", QV_RESERVED },
	{ "sluice_queue_bytes", "gauge",
	    "Body bytes of ready and reserved messages.", QV_BYTES },
	{ "sluice_queue_capacity", "gauge", "Most messages the queue holds.",
	    QV_CAPACITY },
	{ "sluice_queue_max_bytes", "gauge", "Most body bytes the queue holds.",
	    QV_MAX_BYTES },
	{ "sluice_queue_blocked_producers", "gauge",
	    "PUTs waiting for room now.", QV_BLOCKED_PRODUCERS },
	{ "sluice_queue_waiting_consumers", "gauge",
	    "GETs and RESERVEs waiting for a message now.",
	    QV_WAITING_CONSUMERS },
	{ "sluice_queue_puts_total", "counter", "Messages accepted.", QV_PUTS },
	{ "sluice_queue_gets_total", "counter",
	    "Deliveries by GET or RESERVE.", QV_GETS },
	{ "sluice_queue_acks_total", "counter", "ACKs.", QV_ACKS },
	{ "sluice_queue_nacks_total", "counter", "NACKs.", QV_NACKS },
	{ "sluice_queue_redelivered_total", "counter",
	    "Deliveries of a message given back.", QV_REDELIVERED },
	{ "sluice_queue_rejected_total", "counter", "PUTs answered 503 FULL.",
	    QV_REJECTED },
	{ "sluice_queue_dropped_total", "counter",
	    "Messages discarded by a drop policy.", QV_DROPPED },
	{ "sluice_queue_blocked_seconds_total", "counter",
	    "Time producers spent waiting for room, summed.", QV_BLOCKED_MS },
};

/* Waiting time so far of the producers parked on q now. */
static uint64_t
ongoing_blocked_ms(const struct queue *q, uint64_t now)
{
	const struct waiter *w;
	uint64_t ms = 0;

	TAILQ_FOREACH(w, &q->producers, link) {
		if (now > w->since_ms)
			ms += now - w->since_ms;
	}
	return ms;
}

static uint64_t
queue_value(const struct queue *q, enum qvalue v)
{
	switch (v) {
	case QV_DEPTH:
		return queue_depth(q);
	case QV_RESERVED:
		return q->nreserved;
	case QV_BYTES:
		return queue_bytes(q);
	case QV_CAPACITY:
		return q->set.capacity;
	case QV_MAX_BYTES:
		return q->set.max_bytes;
	case QV_BLOCKED_PRODUCERS:
		return q->nproducers;
	case QV_WAITING_CONSUMERS:
		return q->nconsumers;
	case QV_PUTS:
		return q->stat.puts;
	case QV_GETS:
		return q->stat.gets;
	case QV_ACKS:
		return q->stat.acks;
	case QV_NACKS:
		return q->stat.nacks;
	case QV_REDELIVERED:
		return q->stat.redelivered;
	case QV_REJECTED:
		return q->stat.rejected;
	case QV_DROPPED:
		return q->stat.dropped;
	case QV_BLOCKED_MS:
		return q->stat.blocked_ms +
		    ongoing_blocked_ms(q, clock_now_ms());
	}
	return 0;
}

/* One family's samples, gathered by qtable_foreach(). */
struct sample_ctx {
	struct evbuffer *out;
	const struct family *f;
};

static void
add_sample(struct queue *q, void *arg)
{
	struct sample_ctx *x = arg;
	uint64_t v = queue_value(q, x->f->value);

	if (x->f->value == QV_BLOCKED_MS)
		evbuffer_add_printf(x->out, "%s{queue=\"%s\"} %" PRIu64
					    ".%03" PRIu64 "\n",
		    x->f->name, q->name, v / 1000, v % 1000);
	else
		evbuffer_add_printf(x->out, "%s{queue=\"%s\"} %" PRIu64 "\n",
		    x->f->name, q->name, v);
}

static void
add_family(struct evbuffer *out, const char *name, const char *type,
    const char *help)
{
	evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help,
	    name, type);
}

static void
add_server(struct evbuffer *out, struct server *s)
{
	add_family(out, "sluice_info", "gauge", "The running version.");
	evbuffer_add_printf(out, "sluice_info{version=\"%s\"} 1\n",
	    PACKAGE_VERSION);
	add_family(out, "sluice_uptime_seconds", "gauge",
	    "Seconds since the server started.");
	evbuffer_add_printf(out, "sluice_uptime_seconds %" PRIu64 "\n",
	    (clock_now_ms() - s->started_ms) / 1000);
	add_family(out, "sluice_connections", "gauge",
	    "Client connections open now.");
	evbuffer_add_printf(out, "sluice_connections %zu\n", s->nconns);
	add_family(out, "sluice_queues", "gauge", "Queues that exist now.");
	evbuffer_add_printf(out, "sluice_queues %zu\n", s->queues.count);
	add_family(out, "sluice_messages", "gauge",
	    "Ready and reserved messages over all queues.");
	evbuffer_add_printf(out, "sluice_messages %" PRIu64 "\n",
	    qtable_messages(&s->queues));
	add_family(out, "sluice_shutting_down", "gauge",
	    "1 once a stop has begun.");
	evbuffer_add_printf(out, "sluice_shutting_down %d\n",
	    s->shutting_down ? 1 : 0);
}

static void
send_text(struct evhttp_request *req, int code, const char *reason,
    struct evbuffer *body)
{
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, code, reason, body);
}

static void
on_metrics(struct evhttp_request *req, void *arg)
{
	struct metrics *m = arg;
	struct evbuffer *out = evbuffer_new();
	struct sample_ctx x = { out, NULL };

	add_server(out, m->server);
	for (size_t i = 0; i < sizeof families / sizeof *families; i++) {
		x.f = &families[i];
		add_family(out, x.f->name, x.f->type, x.f->help);
		qtable_foreach(&m->server->queues, add_sample, &x);
	}
	send_text(req, 200, "OK", out);
	evbuffer_free(out);
}

static void
on_healthz(struct evhttp_request *req, void *arg)
{
	struct metrics *m = arg;
	struct evbuffer *out = evbuffer_new();
	bool draining = m->server->shutting_down;

	evbuffer_add_printf(out, "%s\n", draining ? "draining" : "ok");
	send_text(req, draining ? 503 : 200,
	    draining ? "Service Unavailable" : "OK", out);
	evbuffer_free(out);
}

static void
on_other(struct evhttp_request *req, void *arg)
{
	evhttp_send_error(req, 404, NULL);
}

/* Log where the listener ended up (the port, when 0 was asked for). */
static void
log_bound(evutil_socket_t fd)
{
	char host[64];
	int port = server_sockname(fd, host, sizeof host);

	log_notice(strchr(host, ':') ? "metrics on http://[%s]:%d/metrics"
				     : "metrics on http://%s:%d/metrics",
	    host, port);
}

struct metrics *
metrics_new(struct server *s, const struct config_listen *at)
{
	struct metrics *m = xcalloc(1, sizeof *m);
	struct evhttp_bound_socket *bound;

	m->server = s;
	if ((m->http = evhttp_new(s->base)) == NULL) {
		log_err("metrics: cannot create the HTTP server");
		free(m);
		return NULL;
	}
	evhttp_set_allowed_methods(m->http,
	    EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_max_headers_size(m->http, METRICS_HEADERS_MAX);
	evhttp_set_max_body_size(m->http, 0);
	evhttp_set_timeout(m->http, METRICS_TIMEOUT_SEC);
	evhttp_set_cb(m->http, "/metrics", on_metrics, m);
	evhttp_set_cb(m->http, "/healthz", on_healthz, m);
	evhttp_set_gencb(m->http, on_other, m);
	bound = evhttp_bind_socket_with_handle(m->http, at->addr,
	    (ev_uint16_t)at->port);
	if (bound == NULL) {
		log_err("metrics: cannot listen on %s port %d", at->addr,
		    at->port);
		metrics_free(m);
		return NULL;
	}
	log_bound(evhttp_bound_socket_get_fd(bound));
	return m;
}

void
metrics_free(struct metrics *m)
{
	if (m == NULL)
		return;
	evhttp_free(m->http);
	free(m);
}
