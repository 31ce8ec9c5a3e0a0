/*
 * uvloop.c - a libuv loop inside the libevent loop.  See uvloop.h.
 */
#include <stdbool.h>
#include <stdlib.h>

#include "log.h"
#include "uvloop.h"
#include "xmalloc.h"

struct uvloop {
	uv_loop_t loop;
	struct event *io;    /* uv_backend_fd() readable */
	struct event *timer; /* uv_backend_timeout() */
	bool running;	     /* inside uv_run(): no second one */
	bool again;	     /* a kick came while running */
	bool kicked;	     /* one came from after(): run again at once */
	void (*after)(void *);
	void *arg;
};

/* One non-blocking run, then the timer libuv's next deadline wants. */
static void
run(struct uvloop *u)
{
	int ms;

	if (u->running) {
		u->again = true;
		return;
	}
	u->running = true;
	do {
		u->again = false;
		uv_run(&u->loop, UV_RUN_NOWAIT);
	} while (u->again);
	u->running = false;
	u->kicked = false;
	if (u->after != NULL)
		u->after(u->arg);
	ms = u->kicked ? 0 : uv_backend_timeout(&u->loop);
	if (ms < 0) {
		evtimer_del(u->timer);
	} else {
		struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
		evtimer_add(u->timer, &tv);
	}
}

static void
on_event(evutil_socket_t fd, short what, void *arg)
{
	run(arg);
}

struct uvloop *
uvloop_new(struct event_base *base, void (*after)(void *), void *arg)
{
	struct uvloop *u = xcalloc(1, sizeof *u);
	int rc = uv_loop_init(&u->loop);

	if (rc != 0) {
		log_err("libuv: %s", uv_strerror(rc));
		free(u);
		return NULL;
	}
	u->io = event_new(base, uv_backend_fd(&u->loop), EV_READ | EV_PERSIST,
	    on_event, u);
	u->timer = evtimer_new(base, on_event, u);
	u->after = after;
	u->arg = arg;
	event_add(u->io, NULL);
	return u;
}

uv_loop_t *
uvloop_loop(struct uvloop *u)
{
	return &u->loop;
}

void
uvloop_kick(struct uvloop *u)
{
	/* A zero timer, not a run here: the caller may be deep in a
	 * libuv callback, or about to make more calls worth one run. */
	static const struct timeval now = { 0, 0 };

	if (u->running) {
		u->again = true;
	} else {
		u->kicked = true;
		evtimer_add(u->timer, &now);
	}
}

void
uvloop_free(struct uvloop *u)
{
	if (u == NULL)
		return;
	/* The closes' callbacks run here; then the loop is empty. */
	u->after = NULL;
	uv_run(&u->loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&u->loop) != 0)
		log_warn("libuv: handles still open at exit");
	event_free(u->io);
	event_free(u->timer);
	free(u);
}
