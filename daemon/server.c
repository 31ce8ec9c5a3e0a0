/*
 * server.c - listeners, accepting connections, the queue table, and the
 * server's life cycle.  See server.h.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "admit.h"
#include "conn.h"
#include "deliver.h"
#include "drain.h"
#include "log.h"
#include "reload.h"
#include "server.h"
#include "xmalloc.h"

/* How long accepting pauses when the process is out of descriptors. */
#define ACCEPT_PAUSE_MS 100

uint64_t
server_now_ms(void)
{
	struct timespec ts;

	/* Millisecond resolution is all any caller needs; coarse is cheap. */
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The first SIGTERM or SIGINT drains; a second one stops at once. */
static void
on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
	struct server *s = arg;

	if (s->shutting_down) {
		log_notice("signal %d again: stopping now", (int)sig);
		event_base_loopexit(s->base, NULL);
		return;
	}
	log_notice("signal %d: stopping once drained", (int)sig);
	drain_start(s);
}

static void
on_reload_signal(evutil_socket_t sig, short what, void *arg)
{
	reload_config(arg);
}

struct server *
server_new(const struct config *cfg)
{
	struct server *s = xcalloc(1, sizeof *s);

	s->cfg = *cfg;
	s->flags.port = -1;
	s->base = event_base_new();
	if (s->base == NULL) {
		log_err("cannot create the event loop");
		config_free(&s->cfg);
		free(s);
		return NULL;
	}
	qtable_init(&s->queues);
	TAILQ_INIT(&s->conns);
	s->started_ms = server_now_ms();
	/* The token lives in the server, where AUTH looks. */
	s->auth_token = s->cfg.auth_token;
	s->auth_token_len = s->cfg.auth_token_len;
	s->cfg.auth_token = NULL;
	s->cfg.auth_token_len = 0;
	reload_queues(s, &s->cfg);
	s->sig_term = evsignal_new(s->base, SIGTERM, on_stop_signal, s);
	s->sig_int = evsignal_new(s->base, SIGINT, on_stop_signal, s);
	s->sig_hup = evsignal_new(s->base, SIGHUP, on_reload_signal, s);
	evsignal_add(s->sig_term, NULL);
	evsignal_add(s->sig_int, NULL);
	evsignal_add(s->sig_hup, NULL);
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

static void
on_accept(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct server *s = arg;
	int one = 1;

	if (s->nconns + s->nmetrics >= s->cfg.max_connections ||
	    s->shutting_down) {
		log_debug("fd %d: refused, %zu connections open", (int)fd,
		    s->nconns);
		refuse_busy(fd);
		return;
	}
	if (!admit_client(s, fd, sa)) {
		refuse_busy(fd);
		return;
	}
	/* Replies are already batched per loop pass; do not delay them. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	conn_new(s, fd);
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
log_bound(int fd)
{
	char host[64];
	int port = server_sockname(fd, host, sizeof host);

	log_notice("listening on %s:%d", host, port);
}

int
server_listen(struct server *s)
{
	for (int i = 0; i < s->cfg.nlisten; i++) {
		const struct config_listen *cl = &s->cfg.listen[i];
		struct sockaddr_storage ss;
		int sslen = sizeof ss;
		char spec[96];
		struct evconnlistener *l;

		snprintf(spec, sizeof spec, strchr(cl->addr, ':') ? "[%s]:%d"
								  : "%s:%d",
		    cl->addr, cl->port);
		/* libevent refuses port 0 in "host:port": set it apart. */
		if (evutil_parse_sockaddr_port(cl->addr,
			(struct sockaddr *)&ss, &sslen) < 0) {
			log_err("bad listen address %s", spec);
			return -1;
		}
		if (ss.ss_family == AF_INET6)
			((struct sockaddr_in6 *)&ss)->sin6_port =
			    htons((uint16_t)cl->port);
		else
			((struct sockaddr_in *)&ss)->sin_port =
			    htons((uint16_t)cl->port);
		l = evconnlistener_new_bind(s->base, on_accept, s,
		    LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE |
			LEV_OPT_CLOSE_ON_EXEC,
		    -1, (struct sockaddr *)&ss, sslen);
		if (add_listener(s, l) < 0) {
			log_err("cannot listen on %s: %s", spec,
			    strerror(errno));
			return -1;
		}
		log_bound(evconnlistener_get_fd(l));
	}
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
	log_bound(fd);
	return 0;
}

int
server_run(struct server *s)
{
	return event_base_dispatch(s->base) < 0 ? -1 : 0;
}

struct queue *
server_queue(struct server *s, const char *name, bool create)
{
	struct queue *q = s->last_queue;

	if (q != NULL && strcmp(q->name, name) == 0)
		return q;
	q = qtable_find(&s->queues, name);
	if (q == NULL && create && s->queues.count < s->cfg.max_queues) {
		q = queue_new(name, &s->cfg.queue_defaults);
		qtable_insert(&s->queues, q);
		log_debug("queue %s: created", name);
	}
	if (q != NULL)
		s->last_queue = q;
	return q;
}

/* Answer every waiter of q 404 and send it on its way. */
static void
dismiss_waiters(struct queue *q, struct waiter_list *l)
{
	struct waiter *w;

	while ((w = TAILQ_FIRST(l)) != NULL) {
		struct conn *c = w->owner;

		if (c->waiting_producer)
			conn_take_body(c, NULL, NULL);
		conn_reply(c, 404, "NO_QUEUE", q->name);
		conn_wake(c);
	}
}

void
server_delete_queue(struct server *s, struct queue *q)
{
	struct msg *m;

	dismiss_waiters(q, &q->producers);
	dismiss_waiters(q, &q->consumers);
	/* Reserved messages vanish: their ACKs will find nothing. */
	TAILQ_FOREACH(m, &q->reserved, qlink)
		conn_release(m->owner, m);
	deliver_forget_queue(q);
	if (s->last_queue == q)
		s->last_queue = NULL;
	qtable_remove(&s->queues, q);
	log_debug("queue %s: deleted", q->name);
	queue_free(q);
}

static void
forget_lease(struct queue *q, void *arg)
{
	deliver_forget_queue(q);
}

void
server_free(struct server *s)
{
	struct conn *c;

	while ((c = TAILQ_FIRST(&s->conns)) != NULL)
		conn_free(c);
	for (int i = 0; i < s->nlisteners; i++)
		evconnlistener_free(s->listeners[i]);
	qtable_foreach(&s->queues, forget_lease, NULL);
	qtable_clear(&s->queues);
	drain_free(s->drain);
	admit_free(s->admit);
	event_free(s->sig_term);
	event_free(s->sig_int);
	event_free(s->sig_hup);
	event_base_free(s->base);
	free(s->auth_token);
	config_free(&s->cfg);
	free(s);
}
