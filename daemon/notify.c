/*
 * notify.c - sluiced and its service manager.  See notify.h.
 *
 * The whole file is one #ifdef: with libsystemd the real thing, without
 * it stubs, so no caller ever needs an #ifdef of its own.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "log.h"
#include "notify.h"
#include "server.h"
#include "xmalloc.h"

#ifdef HAVE_SYSTEMD
#include <sys/socket.h>
#include <systemd/sd-daemon.h>

/* How often STATUS= is refreshed: `systemctl status` stays current. */
#define NOTIFY_STATUS_SEC 5
/*
 * Time asked for beyond the grace period when a drain starts, for
 * writing the last replies and freeing everything.
 */
#define NOTIFY_STOP_MARGIN_MS 5000

struct notify {
	struct server *server;
	struct event *status;	/* refreshes STATUS= */
	struct event *watchdog; /* sends WATCHDOG=1; NULL when not asked */
};

/* The one-line STATUS= summary. */
static void
summary(struct server *s, char *buf, size_t size)
{
	uint64_t left = qtable_messages(&s->queues);

	if (s->shutting_down)
		snprintf(buf, size, "draining: %" PRIu64 " messages left, "
				    "%zu clients",
		    left, s->nconns);
	else
		snprintf(buf, size, "%zu clients, %zu queues, %" PRIu64
				    " messages",
		    s->nconns, s->queues.count, left);
}

static void
status_cb(evutil_socket_t fd, short what, void *arg)
{
	struct notify *n = arg;
	char buf[256];

	summary(n->server, buf, sizeof buf);
	sd_notifyf(0, "STATUS=%s", buf);
}

static void
watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	sd_notify(0, "WATCHDOG=1");
}

int
notify_listen_fds(struct server *s)
{
	int n = sd_listen_fds(1);

	if (n < 0) {
		log_err("socket activation: %s", strerror(-n));
		return -1;
	}
	for (int fd = SD_LISTEN_FDS_START; fd < SD_LISTEN_FDS_START + n;
	     fd++) {
		if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0) {
			log_err("socket activation: fd %d is not a listening "
				"stream socket",
			    fd);
			return -1;
		}
		if (server_listen_fd(s, fd) < 0) {
			log_err("socket activation: cannot use fd %d", fd);
			return -1;
		}
	}
	if (n > 0)
		log_info("socket activation: %d sockets from systemd; the "
			 "configured listen addresses are not used",
		    n);
	return n;
}

struct notify *
notify_ready(struct server *s)
{
	struct notify *n;
	struct timeval status = { NOTIFY_STATUS_SEC, 0 };
	uint64_t usec;
	char buf[256];

	summary(s, buf, sizeof buf);
	sd_notifyf(0, "READY=1\nSTATUS=%s", buf);
	if (getenv("NOTIFY_SOCKET") == NULL)
		return NULL;
	n = xcalloc(1, sizeof *n);
	n->server = s;
	n->status = event_new(s->base, -1, EV_PERSIST, status_cb, n);
	event_add(n->status, &status);
	if (sd_watchdog_enabled(0, &usec) > 0) {
		/* Half the period: one late ping is not yet a failure. */
		struct timeval tv = { (time_t)(usec / 2 / 1000000),
			(suseconds_t)(usec / 2 % 1000000) };
		n->watchdog = event_new(s->base, -1, EV_PERSIST, watchdog_cb,
		    n);
		event_add(n->watchdog, &tv);
		log_info("watchdog: pinging every %" PRIu64 " ms",
		    usec / 2 / 1000);
	}
	return n;
}

void
notify_reloading(void)
{
	sd_notify(0, "RELOADING=1");
}

void
notify_reloaded(struct server *s, const char *problem)
{
	char buf[256];

	if (problem != NULL)
		snprintf(buf, sizeof buf, "reload failed: %s", problem);
	else
		summary(s, buf, sizeof buf);
	sd_notifyf(0, "READY=1\nSTATUS=%s", buf);
}

void
notify_stopping(struct server *s)
{
	char buf[256];

	summary(s, buf, sizeof buf);
	sd_notifyf(0, "STOPPING=1\nEXTEND_TIMEOUT_USEC=%" PRIu64 "\nSTATUS=%s",
	    (s->cfg.shutdown_grace_ms + NOTIFY_STOP_MARGIN_MS) * 1000, buf);
}

void
notify_free(struct notify *n)
{
	if (n == NULL)
		return;
	event_free(n->status);
	if (n->watchdog != NULL)
		event_free(n->watchdog);
	free(n);
}

#else /* !HAVE_SYSTEMD */

int
notify_listen_fds(struct server *s)
{
	if (getenv("LISTEN_FDS") != NULL)
		log_warn("LISTEN_FDS is set, but sluiced was built without "
			 "libsystemd: binding the configured addresses");
	return 0;
}

struct notify *
notify_ready(struct server *s)
{
	return NULL;
}

void
notify_reloading(void)
{
}

void
notify_reloaded(struct server *s, const char *problem)
{
}

void
notify_stopping(struct server *s)
{
}

void
notify_free(struct notify *n)
{
}

#endif
