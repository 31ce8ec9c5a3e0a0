/*
 * metrics.c - /metrics and /healthz over a small HTTP/1.x server of its
 * own.  See metrics.h.
 *
 * Every metric family is a row of a table: its name, type, help text
 * and which number of the queue it reports.  The names follow the
 * Prometheus conventions: a sluice_ prefix, _total on counters, base
 * units (seconds, bytes).  Queue names need no escaping in a label
 * value: the protocol allows none of \ " or newline in them.
 *
 * Why not evhttp: it owns its listener's callbacks, so an accept()
 * failing with EMFILE could not be paused (it logged and retried in a
 * tight loop), its connections could not be counted or refused by
 * address, and each connection kept its own copy of the answer for as
 * long as the scraper chose not to read it.  Here:
 * - the listener pauses on EMFILE and the like, as the protocol one does;
 * - connections count against max_connections (server.nmetrics) and
 *   are at most METRICS_CONNECTIONS_MAX, refused outside metrics_allow;
 * - one request per connection, headers at most METRICS_HEADERS_MAX,
 *   and the whole exchange within METRICS_TIMEOUT_SEC, then it closes;
 * - the scrape text is built once and shared by reference between the
 *   connections writing it, and at most two versions of it exist at a
 *   time (struct scrape): a scraper that never reads pins one shared
 *   copy for at most the timeout, not one copy each.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <dirent.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "clock.h"
#include "drain.h"
#include "log.h"
#include "metrics.h"
#include "cluster.h"
#include "persist.h"
#include "secret.h"
#include "server.h"
#include "xmalloc.h"

/* A scraper sends one small GET; anything bigger is abuse. */
#define METRICS_HEADERS_MAX 8192
/* The whole exchange, request and answer, or the connection closes. */
#define METRICS_TIMEOUT_SEC 10
/*
 * Scrapers at once.  Prometheus sends one at a time per target; a few
 * servers scrape each target.  Each also counts against max_connections.
 */
#define METRICS_CONNECTIONS_MAX 16
/* How long accepting pauses when the process is out of descriptors. */
#define METRICS_ACCEPT_PAUSE_MS 100

/*
 * One rendering of /metrics, shared by reference between the
 * connections writing it; freed when the last of them is done and the
 * metrics server has moved on to a newer one.
 */
struct scrape {
	struct metrics *m;
	struct evbuffer *text;
	const char *data; /* the text, made contiguous */
	size_t len;
	size_t refs; /* connections writing it, plus one while current */
};

/* One HTTP connection: a single request, a single answer. */
struct mconn {
	struct metrics *m;
	TAILQ_ENTRY(mconn) link;
	struct bufferevent *bev;
	struct event *deadline;
	bool answered; /* the answer is queued; close once written */
};

TAILQ_HEAD(mconn_list, mconn);

struct metrics {
	struct server *server;
	struct evconnlistener *listener;
	struct event *resume; /* re-enables accepting after a pause */
	struct mconn_list conns;
	size_t nconns;
	struct scrape *current; /* the newest scrape, or NULL */
	size_t nscrapes;        /* scrapes alive, current included */
};

/* Which number of a queue a family reports. */
enum qvalue {
	QV_DEPTH,
	QV_RESERVED,
	QV_DELAYED,
	QV_CLOSED,
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
	QV_DEAD_LETTERED,
	QV_BLOCKED_MS,    /* printed in seconds */
	QV_OLDEST_AGE_MS, /* printed in seconds */
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
	{ "sluice_queue_delayed", "gauge",
	    "Messages NACKed with a delay, not ready yet.", QV_DELAYED },
	{ "sluice_queue_closed", "gauge",
	    "1 once the queue is closed (CLOSE), else 0.", QV_CLOSED },
	{ "sluice_queue_bytes", "gauge",
	    "Body bytes of ready, reserved and delayed messages.", QV_BYTES },
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
	{ "sluice_queue_gets_total", "counter", "Deliveries by GET or RESERVE.",
	    QV_GETS },
	{ "sluice_queue_acks_total", "counter", "ACKs.", QV_ACKS },
	{ "sluice_queue_nacks_total", "counter", "NACKs.", QV_NACKS },
	{ "sluice_queue_redelivered_total", "counter",
	    "Deliveries of a message given back.", QV_REDELIVERED },
	{ "sluice_queue_rejected_total", "counter", "PUTs answered 503 FULL.",
	    QV_REJECTED },
	{ "sluice_queue_dropped_total", "counter",
	    "Messages discarded by a drop policy.", QV_DROPPED },
	{ "sluice_queue_dead_lettered_total", "counter",
	    "Messages past max_deliveries, moved to the dead-letter queue "
	    "or discarded.", QV_DEAD_LETTERED },
	{ "sluice_queue_blocked_seconds_total", "counter",
	    "Time producers spent waiting for room, summed.", QV_BLOCKED_MS },
	{ "sluice_queue_oldest_age_seconds", "gauge",
	    "How long the oldest message never delivered has waited (0: none).",
	    QV_OLDEST_AGE_MS },
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
	case QV_DELAYED:
		return q->ndelayed;
	case QV_CLOSED:
		return q->closed ? 1 : 0;
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
	case QV_DEAD_LETTERED:
		return q->stat.dead_lettered;
	case QV_BLOCKED_MS:
		return q->stat.blocked_ms +
		    ongoing_blocked_ms(q, clock_now_ms());
	case QV_OLDEST_AGE_MS:
		return queue_oldest_age_ms(q, clock_now_ms());
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

	if (x->f->value == QV_BLOCKED_MS || x->f->value == QV_OLDEST_AGE_MS)
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

/* One gauge or counter of the durable log. */
static void
add_log_value(struct evbuffer *out, const char *name, const char *type,
    const char *help, uint64_t v)
{
	add_family(out, name, type, help);
	evbuffer_add_printf(out, "%s %" PRIu64 "\n", name, v);
}

/* The durable log (only with a data_dir). */
static void
add_log(struct evbuffer *out, const struct persist *p)
{
	struct wal_stats st;

	persist_stats(p, &st);
	add_family(out, "sluice_log_fsync_info", "gauge",
	    "The log's fsync policy.");
	evbuffer_add_printf(out, "sluice_log_fsync_info{fsync=\"%s\"} 1\n",
	    wal_fsync_name(st.fsync));
	add_log_value(out, "sluice_log_bytes", "gauge",
	    "Bytes of records in the log's segments.", st.log_bytes);
	add_log_value(out, "sluice_log_live_bytes", "gauge",
	    "Bytes of records still needed.", st.live_bytes);
	add_log_value(out, "sluice_log_disk_bytes", "gauge",
	    "Bytes of segment files, preallocation and spare included.",
	    st.disk_bytes);
	add_log_value(out, "sluice_log_segments", "gauge",
	    "Segment files of the log.", st.segments);
	add_log_value(out, "sluice_log_syncs_total", "counter",
	    "fdatasync calls done.", st.syncs);
	add_family(out, "sluice_log_sync_p99_seconds", "gauge",
	    "99th percentile of the last 1024 syncs' durations.");
	evbuffer_add_printf(out, "sluice_log_sync_p99_seconds %.6f\n",
	    (double)st.sync_p99_usec / 1e6);
	add_log_value(out, "sluice_log_compacted_bytes_total", "counter",
	    "Bytes of live records copied forward by compaction.",
	    st.compacted_bytes);
	add_log_value(out, "sluice_log_error", "gauge",
	    "errno of the last storage error (0: none).",
	    (uint64_t)st.last_error);
}

/* A member of a replication group. */
static void
add_cluster(struct evbuffer *out, struct cluster *cl)
{
	struct cluster_stats st;

	cluster_stats(cl, &st);
	add_family(out, "sluice_cluster_role", "gauge",
	    "This member's Raft role (1 for the one it has).");
	for (int r = CLUSTER_UNAVAILABLE; r <= CLUSTER_LEADER; r++)
		evbuffer_add_printf(out,
		    "sluice_cluster_role{role=\"%s\"} %d\n",
		    cluster_role_name((enum cluster_role)r),
		    cluster_role(cl) == (enum cluster_role)r);
	add_log_value(out, "sluice_cluster_serving", "gauge",
	    "1 while this member leads and serves queue requests.",
	    cluster_serving(cl) ? 1 : 0);
	add_log_value(out, "sluice_cluster_has_leader", "gauge",
	    "1 while this member knows a leader's client address.",
	    cluster_leader_client(cl) != NULL ? 1 : 0);
	add_log_value(out, "sluice_raft_term", "gauge",
	    "The Raft term this member is in.", st.term);
	add_log_value(out, "sluice_raft_applied_index", "gauge",
	    "The last Raft log index applied here.", st.applied);
	add_log_value(out, "sluice_raft_entries_total", "counter",
	    "Entries this member proposed as leader.", st.entries);
	add_log_value(out, "sluice_raft_inflight_bytes", "gauge",
	    "Bytes proposed and not yet committed.", st.inflight);
	add_log_value(out, "sluice_raft_snapshots_total", "counter",
	    "Snapshots this member took.", st.snapshots);
	add_log_value(out, "sluice_raft_restarts_total", "counter",
	    "Times this member stopped leading (and restarted its Raft "
	    "instance).",
	    st.restarts);
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
	    "Ready, reserved and delayed messages over all queues.");
	evbuffer_add_printf(out, "sluice_messages %" PRIu64 "\n",
	    qtable_messages(&s->queues));
	add_family(out, "sluice_memory_bytes", "gauge",
	    "Memory held for clients, as the budget counts it.");
	evbuffer_add_printf(out, "sluice_memory_bytes %" PRIu64 "\n",
	    s->budget.used);
	add_family(out, "sluice_memory_budget_bytes", "gauge",
	    "The memory budget (max_memory).");
	evbuffer_add_printf(out, "sluice_memory_budget_bytes %" PRIu64 "\n",
	    s->cfg.max_memory);
	add_family(out, "sluice_shutting_down", "gauge",
	    "1 once a stop has begun.");
	evbuffer_add_printf(out, "sluice_shutting_down %d\n",
	    s->shutting_down ? 1 : 0);
	if (persist_cluster(s->persist) != NULL)
		add_cluster(out, persist_cluster(s->persist));
	else if (s->persist != NULL)
		add_log(out, s->persist);
}

/* One number family with its HELP and TYPE. */
static void
add_one(struct evbuffer *out, const char *name, const char *type,
    const char *help, uint64_t v)
{
	add_family(out, name, type, help);
	evbuffer_add_printf(out, "%s %" PRIu64 "\n", name, v);
}

/* The server's counters of connections, 400s and bytes. */
static void
add_counters(struct evbuffer *out, const struct server_counters *n)
{
	add_one(out, "sluice_connections_accepted_total", "counter",
	    "Client connections accepted and served.", n->accepted);
	add_one(out, "sluice_connections_refused_total", "counter",
	    "Client connections refused with 503 BUSY (a limit).", n->refused);
	add_one(out, "sluice_protocol_errors_total", "counter",
	    "Requests answered 400 BAD_REQUEST.", n->bad_requests);
	add_one(out, "sluice_received_bytes_total", "counter",
	    "Bytes read from clients.", n->bytes_in);
	add_one(out, "sluice_sent_bytes_total", "counter",
	    "Bytes written to clients.", n->bytes_out);
}

/* Open descriptors: the entries of /proc/self/fd, less its own. */
static long
open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	long n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1;
}

/*
 * The process metrics every Prometheus client library exports, under
 * their usual names, from /proc (Linux); those that cannot be read are
 * left out rather than reported as 0.
 */
static void
add_process(struct evbuffer *out)
{
	long tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE), fds;
	unsigned long long utime, stime, start, rss, btime = 0;
	struct rlimit rl;
	char buf[1024], *p;
	FILE *f;
	int ok = 0;

	if ((f = fopen("/proc/self/stat", "r")) != NULL) {
		size_t n = fread(buf, 1, sizeof buf - 1, f);
		buf[n] = '\0';
		fclose(f);
		/* After the command name, which may hold spaces: fields 3.. */
		p = strrchr(buf, ')');
		ok = p != NULL &&
		    sscanf(p + 2,
		        "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu "
		        "%llu %*d %*d %*d %*d %*d %*d %llu %*u %llu",
		        &utime, &stime, &start, &rss) == 4;
	}
	if ((f = fopen("/proc/stat", "r")) != NULL) {
		while (fgets(buf, sizeof buf, f) != NULL)
			if (sscanf(buf, "btime %llu", &btime) == 1)
				break;
		fclose(f);
	}
	if (ok && tick > 0) {
		add_family(out, "process_cpu_seconds_total", "counter",
		    "User and system CPU time spent, in seconds.");
		evbuffer_add_printf(out, "process_cpu_seconds_total %.2f\n",
		    (double)(utime + stime) / (double)tick);
		add_one(out, "process_resident_memory_bytes", "gauge",
		    "Resident memory size in bytes.", rss * (uint64_t)page);
		if (btime > 0)
			add_one(out, "process_start_time_seconds", "gauge",
			    "Start time of the process since the Unix epoch, "
			    "in seconds.",
			    btime + start / (unsigned long long)tick);
	}
	if ((fds = open_fds()) >= 0)
		add_one(out, "process_open_fds", "gauge",
		    "Open file descriptors.", (uint64_t)fds);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		add_one(out, "process_max_fds", "gauge",
		    "The most file descriptors the process may open.",
		    (uint64_t)rl.rlim_cur);
}

/* The whole /metrics text, freshly built. */
static struct evbuffer *
render(struct server *s)
{
	struct evbuffer *out = evbuffer_new();
	struct sample_ctx x = { out, NULL };

	add_server(out, s);
	add_counters(out, &s->counters);
	add_process(out);
	for (size_t i = 0; i < sizeof families / sizeof *families; i++) {
		x.f = &families[i];
		add_family(out, x.f->name, x.f->type, x.f->help);
		qtable_foreach(&s->queues, add_sample, &x);
	}
	return out;
}

static void
scrape_unref(struct scrape *sc)
{
	if (--sc->refs > 0)
		return;
	sc->m->nscrapes--;
	evbuffer_free(sc->text);
	free(sc);
}

/* evbuffer_add_reference() cleanup: a connection is done with it. */
static void
scrape_written(const void *data, size_t len, void *arg)
{
	scrape_unref(arg);
}

/*
 * The scrape to send now, with a reference taken for the caller.  A
 * fresh one, unless two already exist (an older one still being
 * written): then the current one is shared, so a few scrapers that
 * never read hold at most two copies however many connect.
 */
static struct scrape *
scrape_get(struct metrics *m)
{
	struct scrape *sc = m->current;

	if (sc != NULL && sc->refs == 1) {
		/* Nobody is writing it: replace it rather than share it. */
		m->current = NULL;
		scrape_unref(sc);
		sc = NULL;
	}
	if (sc == NULL || m->nscrapes < 2) {
		if (m->current != NULL)
			scrape_unref(m->current);
		sc = xcalloc(1, sizeof *sc);
		sc->m = m;
		sc->text = render(m->server);
		sc->len = evbuffer_get_length(sc->text);
		sc->data = (const char *)evbuffer_pullup(sc->text, -1);
		sc->refs = 1;
		m->nscrapes++;
		m->current = sc;
	}
	sc->refs++;
	return sc;
}

static void
mconn_free(struct mconn *mc)
{
	struct metrics *m = mc->m;

	TAILQ_REMOVE(&m->conns, mc, link);
	m->nconns--;
	m->server->nmetrics--;
	event_free(mc->deadline);
	/*
	 * Drop its scrape reference now: libevent frees a bufferevent's
	 * buffers later, from the loop (or from event_base_free(), after
	 * metrics_free() is long done with m).
	 */
	evbuffer_drain(bufferevent_get_output(mc->bev),
	    evbuffer_get_length(bufferevent_get_output(mc->bev)));
	bufferevent_free(mc->bev);
	free(mc);
}

/*
 * Queue the answer: status line, headers, and the body unless HEAD.
 * Either text (copied) or a shared scrape (by reference) is the body.
 */
static void
respond(struct mconn *mc, bool head, int code, const char *reason,
    const char *extra, const char *text, struct scrape *sc)
{
	struct evbuffer *out = bufferevent_get_output(mc->bev);
	size_t len = sc != NULL ? sc->len : strlen(text);

	evbuffer_add_printf(out,
	    "HTTP/1.1 %d %s\r\n"
	    "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
	    "Content-Length: %zu\r\n"
	    "Connection: close\r\n"
	    "%s\r\n",
	    code, reason, len, extra != NULL ? extra : "");
	if (sc != NULL && !head)
		evbuffer_add_reference(out, sc->data, sc->len, scrape_written,
		    sc);
	else if (sc != NULL)
		scrape_unref(sc);
	else if (!head)
		evbuffer_add(out, text, len);
	mc->answered = true;
	bufferevent_disable(mc->bev, EV_READ);
	bufferevent_enable(mc->bev, EV_WRITE);
}

/* The value of header `name` in the header block, or NULL; cut at CR/LF. */
static const char *
find_header(char *headers, const char *name, size_t *len)
{
	size_t nlen = strlen(name);
	char *p = headers;

	while ((p = strchr(p, '\n')) != NULL) {
		p++;
		if (strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
			char *v = p + nlen + 1;
			v += strspn(v, " \t");
			*len = strcspn(v, "\r\n");
			while (*len > 0 &&
			    (v[*len - 1] == ' ' || v[*len - 1] == '\t'))
				(*len)--;
			return v;
		}
	}
	return NULL;
}

/* With metrics_token_file set: "Authorization: Bearer <token>". */
static bool
authorized(const struct config *cfg, char *headers)
{
	const char *v;
	size_t len;

	if (cfg->metrics_token == NULL)
		return true;
	if ((v = find_header(headers, "Authorization", &len)) == NULL ||
	    len < 7 || strncasecmp(v, "Bearer ", 7) != 0)
		return false;
	return secret_equal(v + 7, len - 7, cfg->metrics_token,
	    cfg->metrics_token_len);
}

/* A whole request head is in req (NUL-terminated): answer it. */
static void
serve(struct mconn *mc, char *req)
{
	struct server *s = mc->m->server;
	char method[8], target[256];
	bool head;
	int n = 0;

	if (sscanf(req, "%7s %255s HTTP/1.%*1[01]%n", method, target, &n) !=
	        2 ||
	    n == 0) {
		respond(mc, false, 400, "Bad Request", NULL, "bad request\n",
		    NULL);
		return;
	}
	head = strcmp(method, "HEAD") == 0;
	if (!head && strcmp(method, "GET") != 0) {
		respond(mc, false, 405, "Method Not Allowed",
		    "Allow: GET, HEAD\r\n", "method not allowed\n", NULL);
		return;
	}
	target[strcspn(target, "?")] = '\0';
	if (strcmp(target, "/healthz") == 0) {
		/* Says only "up" or "draining": no token needed. */
		if (s->shutting_down)
			respond(mc, head, 503, "Service Unavailable", NULL,
			    "draining\n", NULL);
		else
			respond(mc, head, 200, "OK", NULL, "ok\n", NULL);
	} else if (strcmp(target, "/metrics") != 0) {
		respond(mc, head, 404, "Not Found", NULL, "not found\n", NULL);
	} else if (!authorized(&s->cfg, req)) {
		respond(mc, head, 401, "Unauthorized",
		    "WWW-Authenticate: Bearer realm=\"sluice\"\r\n",
		    "unauthorized\n", NULL);
	} else {
		respond(mc, head, 200, "OK", NULL, NULL, scrape_get(mc->m));
	}
}

static void
mconn_readcb(struct bufferevent *bev, void *arg)
{
	struct mconn *mc = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr end;
	size_t len;
	char *req;

	if (mc->answered)
		return;
	end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	len = end.pos >= 0 ? (size_t)end.pos + 4 : 0;
	if (end.pos < 0) {
		end = evbuffer_search(in, "\n\n", 2, NULL);
		len = end.pos >= 0 ? (size_t)end.pos + 2 : 0;
	}
	if (len == 0 || len > METRICS_HEADERS_MAX) {
		if (len > METRICS_HEADERS_MAX ||
		    evbuffer_get_length(in) >= METRICS_HEADERS_MAX)
			respond(mc, false, 431,
			    "Request Header Fields Too Large", NULL,
			    "request too large\n", NULL);
		return;
	}
	req = xmalloc(len + 1);
	evbuffer_remove(in, req, len);
	req[len] = '\0';
	serve(mc, req);
	free(req);
}

/* Everything queued is written: the exchange is over. */
static void
mconn_writecb(struct bufferevent *bev, void *arg)
{
	struct mconn *mc = arg;

	if (mc->answered) {
		shutdown(bufferevent_getfd(bev), SHUT_WR);
		mconn_free(mc);
	}
}

static void
mconn_eventcb(struct bufferevent *bev, short what, void *arg)
{
	struct mconn *mc = arg;

	/* A client's EOF after its request still wants the answer. */
	if ((what & BEV_EVENT_EOF) && mc->answered &&
	    !(what & BEV_EVENT_WRITING))
		return;
	mconn_free(mc);
}

static void
mconn_timeoutcb(evutil_socket_t fd, short what, void *arg)
{
	struct mconn *mc = arg;

	log_debug("metrics: fd %d: timed out", (int)fd);
	mconn_free(mc);
}

/* True when metrics_allow is empty or holds the peer's address. */
static bool
allowed(const struct config *cfg, const struct sockaddr *sa)
{
	const unsigned char *a;
	unsigned char mapped[4];
	int family;

	if (cfg->nmetrics_allow == 0)
		return true;
	if (sa->sa_family == AF_INET) {
		family = AF_INET;
		a = (const unsigned char *)&((const struct sockaddr_in *)sa)
		        ->sin_addr;
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *in6 =
		    &((const struct sockaddr_in6 *)sa)->sin6_addr;
		family = AF_INET6;
		a = in6->s6_addr;
		/* An IPv4 client of an IPv6 listener is judged as IPv4. */
		if (IN6_IS_ADDR_V4MAPPED(in6)) {
			memcpy(mapped, in6->s6_addr + 12, 4);
			family = AF_INET;
			a = mapped;
		}
	} else {
		return false;
	}
	for (size_t i = 0; i < cfg->nmetrics_allow; i++) {
		const struct config_cidr *c = &cfg->metrics_allow[i];
		int full = c->bits / 8, rest = c->bits % 8;

		if (c->family != family || memcmp(c->addr, a, (size_t)full))
			continue;
		if (rest == 0 ||
		    ((c->addr[full] ^ a[full]) & (0xff << (8 - rest))) == 0)
			return true;
	}
	return false;
}

/* Answer a connection that will not be served, and hang up. */
static void
refuse(int fd, const char *status)
{
	char buf[160];
	int n = snprintf(buf, sizeof buf,
	    "HTTP/1.1 %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
	    status);

	char in[512];

	/* What already came is read, so the close sends FIN, not RST. */
	for (int i = 0; i < 16; i++)
		if (recv(fd, in, sizeof in, MSG_DONTWAIT) <= 0)
			break;
	(void)send(fd, buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
	close(fd);
}

static void
on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct metrics *m = arg;
	struct server *s = m->server;
	struct timeval tv = { METRICS_TIMEOUT_SEC, 0 };
	struct mconn *mc;

	if (!allowed(&s->cfg, sa)) {
		log_debug("metrics: fd %d: address not allowed", (int)fd);
		refuse(fd, "403 Forbidden");
		return;
	}
	/* Scrapers share the descriptors with clients: count them too. */
	if (m->nconns >= METRICS_CONNECTIONS_MAX ||
	    s->nconns + s->nmetrics >= s->cfg.max_connections) {
		log_debug("metrics: fd %d: refused, %zu open", (int)fd,
		    m->nconns);
		refuse(fd, "503 Service Unavailable");
		return;
	}
	mc = xcalloc(1, sizeof *mc);
	mc->m = m;
	mc->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
	mc->deadline = evtimer_new(s->base, mconn_timeoutcb, mc);
	if (mc->bev == NULL || mc->deadline == NULL) {
		if (mc->bev != NULL)
			bufferevent_free(mc->bev);
		else
			close(fd);
		if (mc->deadline != NULL)
			event_free(mc->deadline);
		free(mc);
		return;
	}
	TAILQ_INSERT_TAIL(&m->conns, mc, link);
	m->nconns++;
	s->nmetrics++;
	evtimer_add(mc->deadline, &tv);
	bufferevent_setcb(mc->bev, mconn_readcb, mconn_writecb, mconn_eventcb,
	    mc);
	/* Reading stops at the header bound: the rest stays in the kernel. */
	bufferevent_setwatermark(mc->bev, EV_READ, 0, METRICS_HEADERS_MAX);
	bufferevent_enable(mc->bev, EV_READ);
}

static void
resume_accept(evutil_socket_t fd, short what, void *arg)
{
	struct metrics *m = arg;

	evconnlistener_enable(m->listener);
}

/*
 * accept() failed.  Out of descriptors or memory, retrying at once
 * would find the same pending connection and fail again, forever:
 * pause accepting for a while instead (one log line per pause).
 */
static void
on_accept_error(struct evconnlistener *l, void *arg)
{
	struct metrics *m = arg;
	int err = EVUTIL_SOCKET_ERROR();
	struct timeval pause = { 0, METRICS_ACCEPT_PAUSE_MS * 1000 };

	log_warn("metrics: accept: %s", evutil_socket_error_to_string(err));
	if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
		evconnlistener_disable(l);
		evtimer_add(m->resume, &pause);
	}
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
	struct sockaddr_storage ss;
	int sslen = sizeof ss;

	m->server = s;
	TAILQ_INIT(&m->conns);
	m->resume = evtimer_new(s->base, resume_accept, m);
	if (evutil_parse_sockaddr_port(at->addr, (struct sockaddr *)&ss,
	        &sslen) < 0) {
		log_err("metrics: bad address %s", at->addr);
		metrics_free(m);
		return NULL;
	}
	/* libevent refuses port 0 in "host:port": set it apart. */
	if (ss.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&ss)->sin6_port =
		    htons((uint16_t)at->port);
	else
		((struct sockaddr_in *)&ss)->sin_port =
		    htons((uint16_t)at->port);
	m->listener = evconnlistener_new_bind(s->base, on_accept, m,
	    LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
	    -1, (struct sockaddr *)&ss, sslen);
	if (m->listener == NULL) {
		log_err("metrics: cannot listen on %s port %d: %s", at->addr,
		    at->port, strerror(errno));
		metrics_free(m);
		return NULL;
	}
	evconnlistener_set_error_cb(m->listener, on_accept_error);
	log_bound(evconnlistener_get_fd(m->listener));
	return m;
}

void
metrics_free(struct metrics *m)
{
	struct mconn *mc;

	if (m == NULL)
		return;
	while ((mc = TAILQ_FIRST(&m->conns)) != NULL)
		mconn_free(mc);
	if (m->current != NULL)
		scrape_unref(m->current);
	if (m->listener != NULL)
		evconnlistener_free(m->listener);
	if (m->resume != NULL)
		event_free(m->resume);
	free(m);
}
