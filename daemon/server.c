/*
 * server.c - listeners, accepting connections, and the server's life
 * cycle.  See server.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "budget.h"
#include "clock.h"
#include "acl.h"
#include "admit.h"
#include "answer.h"
#include "conn.h"
#include "conn_io.h"
#include "delay.h"
#include "deliver.h"
#include "log.h"
#include "persist.h"
#include "server.h"
#include "xmalloc.h"

/* How long accepting pauses when the process is out of descriptors. */
#define ACCEPT_PAUSE_MS 100

/* The log synced (or made a spare): answers and producers may move. */
static void
on_wal_ready(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;

	persist_poll(s->persist);
	deliver_durable(s);
}

/*
 * A write of the log that failed, or had to wait for a new segment's
 * turn, is tried again on this timer (the pass writes the log otherwise,
 * see conn_run_pass()).
 */
static void
on_flush_retry(evutil_socket_t fd, short what, void *arg)
{
	deliver_log_pass(arg);
}

/* A queue's storage, once the server knows whether it can persist. */
static void
settle_storage(const struct server *s, struct queue_settings *set)
{
	if (set->storage == QUEUE_STORAGE_DEFAULT)
		set->storage = s->persist != NULL ? QUEUE_STORAGE_DISK
		                                  : QUEUE_STORAGE_MEMORY;
}

/* Time q's recovered delayed messages (due at a wall-clock time). */
static void
time_delayed(struct queue *q, void *arg)
{
	struct server *s = arg;
	uint64_t now = persist_wall_ms();
	struct msg *m;

	for (m = TAILQ_FIRST(&q->delayed); m != NULL; m = TAILQ_NEXT(m, qlink))
		delay_add(s->delay, m,
		    m->ready_us > now ? m->ready_us - now : 0);
}

static void
count_recovered(struct queue *q, void *arg)
{
	budget_sync_queue(arg, q);
}

/*
 * The predefined queues; the file's settings win over the log's, as
 * they do at a reload.
 */
static void
add_predefined(struct server *s)
{
	for (size_t i = 0; i < s->cfg.nqueues; i++) {
		const struct config_queue *cq = &s->cfg.queues[i];
		struct queue *q = qtable_find(&s->queues, cq->name);

		if (q == NULL)
			server_add_queue(s, cq->name, &cq->set);
		else if (!config_settings_equal(&q->set, &cq->set))
			server_set_queue(s, q, &cq->set);
	}
}

static void
collect_queue(struct queue *q, void *arg)
{
	struct queue ***at = arg;

	*(*at)++ = q;
}

/* Leading a group: the committed queues are live; serve them. */
static void
on_lead(void *arg)
{
	struct server *s = arg;
	struct queue **all, **at;

	qtable_foreach(&s->queues, time_delayed, s);
	qtable_foreach(&s->queues, count_recovered, s);
	/* What was reserved on the old leader came back: dead letters
	 * (which may make queues: not inside qtable_foreach()). */
	all = at = xcalloc(s->queues.count + 1, sizeof *all);
	qtable_foreach(&s->queues, collect_queue, &at);
	for (struct queue **q = all; q < at; q++)
		deliver_recovered(s, *q);
	free(all);
	add_predefined(s);
	s->changes++;
	log_notice("cluster: serving %zu queues, %" PRIu64 " messages",
	    s->queues.count, qtable_messages(&s->queues));
}


/*
 * No longer leading: what this server did may not all be committed,
 * so its connections (their held answers, waits and reservations) and
 * its queues go; the group's log brings the queues back as committed.
 * A client reconnects and is told who leads.
 */
static void
on_deposed(void *arg)
{
	struct server *s = arg;
	struct queue **all, **at;
	struct conn *c;
	size_t n = 0;

	while ((c = TAILQ_FIRST(&s->conns)) != NULL) {
		conn_free(c);
		n++;
	}
	all = at = xcalloc(s->queues.count + 1, sizeof *all);
	qtable_foreach(&s->queues, collect_queue, &at);
	for (struct queue **q = all; q < at; q++) {
		deliver_forget_queue(s, *q);
		budget_forget_queue(s, *q);
		qtable_remove(&s->queues, *q);
		queue_free(*q);
	}
	s->changes++;
	log_notice("cluster: closed %zu connections, dropped %zu queues", n,
	    (size_t)(at - all));
	free(all);
}

/* Entries committed: answers and producers move; a pass that paused
 * for a snapshot goes on. */
static void
on_progress(void *arg)
{
	struct server *s = arg;

	deliver_durable(s);
	conn_pass_resume(s);
}

/* Join the replication group: its log holds the disk queues. */
static int
open_group(struct server *s)
{
	char err[CONFIG_ERR_MAX];
	struct persist_events ev = { s, on_lead, on_deposed, on_progress };

	s->flush_ev = event_new(s->base, -1, 0, on_flush_retry, s);
	s->persist = persist_open_cluster(&s->cfg, &s->queues, s->base,
	    s->run_ev, &s->last_id, &ev, err, sizeof err);
	if (s->persist == NULL) {
		log_err("cluster: %s", err);
		return -1;
	}
	return 0;
}

/* Open the data directory: recover its queues, watch its sync thread. */
static int
open_log(struct server *s)
{
	char err[CONFIG_ERR_MAX];

	if (s->cfg.cluster.on)
		return open_group(s);
	s->flush_ev = event_new(s->base, -1, 0, on_flush_retry, s);
	/* A record makes the pass run: it writes the batch at its end. */
	s->persist = persist_open(&s->cfg, &s->queues, s->run_ev, &s->last_id,
	    err, sizeof err);
	if (s->persist == NULL) {
		log_err("data_dir: %s", err);
		return -1;
	}
	s->wal_ev = event_new(s->base, persist_fd(s->persist),
	    EV_READ | EV_PERSIST, on_wal_ready, s);
	event_add(s->wal_ev, NULL);
	qtable_foreach(&s->queues, time_delayed, s);
	/* What recovery stored counts against the memory budget too. */
	qtable_foreach(&s->queues, count_recovered, s);
	return 0;
}

void
server_set_queue(struct server *s, struct queue *q,
    const struct queue_settings *set)
{
	struct queue_settings next = *set;

	settle_storage(s, &next);
	if (next.storage != q->set.storage) {
		log_notice("queue %s: storage stays %s (DELETE the queue to "
		           "change it)",
		    q->name, config_storage_name(q->set.storage));
		next.storage = q->set.storage;
	}
	q->set = next;
	if (q->qno != 0)
		persist_queue_set(s->persist, q);
}

struct queue *
server_add_queue(struct server *s, const char *name,
    const struct queue_settings *set)
{
	struct queue_settings next = *set;
	struct queue *q;

	settle_storage(s, &next);
	q = queue_new(name, &next);
	qtable_insert(&s->queues, q);
	if (next.storage == QUEUE_STORAGE_DISK)
		persist_queue_new(s->persist, q);
	return q;
}

/* The pass at the end of a loop iteration (conn.h). */
static void
run_cb(evutil_socket_t fd, short what, void *arg)
{
	conn_run_pass(arg);
}

/*
 * The event base.  epoll's change list folds the arming and disarming
 * of one socket within a loop iteration into at most one epoll_ctl: a
 * parked producer woken in the same pass would otherwise cost two.
 */
static struct event_base *
new_base(void)
{
	struct event_config *ec = event_config_new();
	struct event_base *base;

	if (ec == NULL)
		return NULL;
	event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	base = event_base_new_with_config(ec);
	event_config_free(ec);
	return base;
}

struct server *
server_new(const struct config *cfg)
{
	struct server *s = xcalloc(1, sizeof *s);

	s->cfg = *cfg;
	s->flags.port = -1;
	s->base = new_base();
	if (s->base == NULL) {
		log_err("cannot create the event loop");
		config_free(&s->cfg);
		free(s);
		return NULL;
	}
	qtable_init(&s->queues);
	TAILQ_INIT(&s->conns);
	TAILQ_INIT(&s->runq);
	TAILQ_INIT(&s->flushq);
	TAILQ_INIT(&s->holding);
	s->run_ev = event_new(s->base, -1, 0, run_cb, s);
	if (s->run_ev == NULL) {
		log_err("cannot create the run event");
		event_base_free(s->base);
		config_free(&s->cfg);
		free(s);
		return NULL;
	}
	s->delay = delay_new(s->base, deliver_ready, s);
	budget_init(s, deliver_budget_freed, conn_schedule);
	if (s->cfg.data_dir != NULL && open_log(s) < 0) {
		server_free(s);
		return NULL;
	}
	settle_storage(s, &s->cfg.queue_defaults);
	s->started_ms = clock_now_ms();
	/* The tokens live in the server, where AUTH looks. */
	s->acl = acl_new(&s->cfg);
	/* In a group, the leader makes them (on_lead). */
	if (!s->cfg.cluster.on)
		add_predefined(s);
	return s;
}

/* Over the connection limit: say so and hang up. */
static void
refuse_busy(int fd)
{
	static const char busy[] = "503 BUSY\r\n";

	(void)send(fd, busy, sizeof busy - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
	close(fd);
}

/*
 * Say why a client was refused: a warning, since clients fail, but at
 * most one line a second, with the count of those not logged, so that
 * a flood of refusals cannot fill the disk.
 */
static void
log_refusal(struct server *s, const struct sockaddr *sa, bool busy,
    const char *why)
{
	const char *how = busy ? "with 503 BUSY" : "on TLS by closing";
	char peer[64];
	unsigned held;

	if (!log_budget_take(&s->refusals_log, 1, &held))
		return;
	log_addr(sa, peer, sizeof peer);
	if (held > 0)
		log_warn("refused client %s %s: %s (and %u more refused since "
		         "the last such line)",
		    peer, how, why, held);
	else
		log_warn("refused client %s %s: %s", peer, how, why);
}

/*
 * Whether a new client may be served; a refused one is told so in
 * plain text (`busy`), or, on a TLS listener, just closed: a handshake
 * only to say BUSY would cost more than the refusal saves.
 */
static bool
admit(struct server *s, int fd, struct sockaddr *sa, bool busy)
{
	const char *why;
	int one = 1;

	if (s->shutting_down)
		why = "shutting down";
	else if (s->nconns + s->nmetrics >= s->cfg.max_connections)
		why = "max_connections reached";
	else if (!admit_client(s, fd, sa))
		why = "its address holds max_connections_per_address";
	else {
		s->counters.accepted++;
		/* Replies are batched per loop pass; do not delay them. */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		return true;
	}
	log_refusal(s, sa, busy, why);
	s->counters.refused++;
	if (busy)
		refuse_busy(fd);
	else
		close(fd);
	return false;
}

static void
on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct server *s = arg;

	if (admit(s, fd, sa, true))
		conn_new(s, fd);
}

/* A TLS listener: the same, with the context of the latest reload. */
static void
on_accept_tls(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct server *s = arg;
	struct conn *c;

	if (!admit(s, fd, sa, false))
		return;
	c = conn_new(s, fd);
	if (!conn_start_tls(c, s->cfg.tls.ctx)) {
		log_warn("client %s: out of memory for TLS", c->peer);
		conn_free(c);
	}
}

static void
resume_accept(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;

	for (int i = 0; i < s->nlisteners; i++)
		evconnlistener_enable(s->listeners[i]);
}

static void
on_accept_error(struct evconnlistener *l, void *arg)
{
	struct server *s = arg;
	int err = EVUTIL_SOCKET_ERROR();
	struct timeval pause = { 0, ACCEPT_PAUSE_MS * 1000 };

	log_warn("accept: %s", evutil_socket_error_to_string(err));
	if (err == EMFILE || err == ENFILE || err == ENOBUFS ||
	    err == ENOMEM) {
		/* Retrying at once would spin: wait for a descriptor. */
		evconnlistener_disable(l);
		event_base_once(s->base, -1, EV_TIMEOUT, resume_accept, s,
		    &pause);
	}
}

static int
add_listener(struct server *s, struct evconnlistener *l)
{
	if (l == NULL)
		return -1;
	evconnlistener_set_error_cb(l, on_accept_error);
	s->listeners[s->nlisteners++] = l;
	return 0;
}

int
server_sockname(int fd, char *host, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;

	snprintf(host, size, "?");
	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return 0;
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		evutil_inet_ntop(AF_INET6, &sin6->sin6_addr, host, size);
		return ntohs(sin6->sin6_port);
	}
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	evutil_inet_ntop(AF_INET, &sin->sin_addr, host, size);
	return ntohs(sin->sin_port);
}

/* Log where a listener ended up (the port, when 0 was asked for). */
static void
log_bound(int fd, const char *what)
{
	char host[64];
	int port = server_sockname(fd, host, sizeof host);

	log_notice("listening on %s:%d%s", host, port, what);
}

/* Bind one listener of cl, accepting with cb; -1 on failure (logged). */
static int
bind_one(struct server *s, const struct config_listen *cl, evconnlistener_cb cb,
    const char *what)
{
	struct sockaddr_storage ss;
	int sslen = sizeof ss;
	char spec[96];
	struct evconnlistener *l;

	snprintf(spec, sizeof spec, strchr(cl->addr, ':') ? "[%s]:%d" : "%s:%d",
	    cl->addr, cl->port);
	/* libevent refuses port 0 in "host:port": set it apart. */
	if (evutil_parse_sockaddr_port(cl->addr, (struct sockaddr *)&ss,
	        &sslen) < 0) {
		log_err("bad listen address %s", spec);
		return -1;
	}
	if (ss.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&ss)->sin6_port =
		    htons((uint16_t)cl->port);
	else
		((struct sockaddr_in *)&ss)->sin_port =
		    htons((uint16_t)cl->port);
	l = evconnlistener_new_bind(s->base, cb, s,
	    LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
	    -1, (struct sockaddr *)&ss, sslen);
	if (add_listener(s, l) < 0) {
		log_err("cannot listen on %s%s: %s", spec, what,
		    strerror(errno));
		return -1;
	}
	log_bound(evconnlistener_get_fd(l), what);
	return 0;
}

int
server_listen(struct server *s)
{
	for (int i = 0; i < s->cfg.nlisten; i++)
		if (bind_one(s, &s->cfg.listen[i], on_accept, "") < 0)
			return -1;
	return 0;
}

int
server_listen_tls(struct server *s)
{
	for (int i = 0; i < s->cfg.tls.nlisten; i++)
		if (bind_one(s, &s->cfg.tls.listen[i], on_accept_tls,
		        " (TLS)") < 0)
			return -1;
	return 0;
}

int
server_listen_fd(struct server *s, int fd)
{
	struct evconnlistener *l;

	if (s->nlisteners >= CONFIG_LISTEN_MAX)
		return -1;
	evutil_make_socket_nonblocking(fd);
	l = evconnlistener_new(s->base, on_accept, s,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
	if (add_listener(s, l) < 0)
		return -1;
	log_bound(fd, "");
	return 0;
}

int
server_run(struct server *s)
{
	return event_base_dispatch(s->base) < 0 ? -1 : 0;
}

static void
forget_lease(struct queue *q, void *arg)
{
	deliver_forget_queue(arg, q);
}

void
server_free(struct server *s)
{
	struct conn *c;

	while ((c = TAILQ_FIRST(&s->conns)) != NULL)
		conn_free(c);
	for (int i = 0; i < s->nlisteners; i++)
		evconnlistener_free(s->listeners[i]);
	qtable_foreach(&s->queues, forget_lease, s);
	if (s->wal_ev != NULL)
		event_free(s->wal_ev);
	persist_close(s->persist);
	if (s->flush_ev != NULL)
		event_free(s->flush_ev);
	qtable_clear(&s->queues);
	admit_free(s->admit);
	answer_clear(s);
	budget_free(s);
	event_free(s->run_ev);
	delay_free(s->delay);
	event_base_free(s->base);
	acl_unref(s->acl);
	config_free(&s->cfg);
	free(s);
}
