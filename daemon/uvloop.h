/*
 * uvloop.h - a libuv loop run inside sluiced's libevent loop.
 *
 * libraft (cluster.c) is driven by libuv.  Rather than a second thread
 * (and locks around every queue), libuv's loop is embedded: libevent
 * watches uv_backend_fd() (an epoll fd, readable when any of libuv's
 * watchers is) and a timer set to uv_backend_timeout(); either runs one
 * non-blocking uv_run(), on the daemon's one thread.  Work libuv hands
 * to its thread pool (libraft's disk writes) comes back through its
 * async handle, which is one of those watchers.
 */
#ifndef SLUICE_UVLOOP_H
#define SLUICE_UVLOOP_H

#include <event2/event.h>
#include <uv.h>

struct uvloop;

/*
 * A libuv loop watched by base; NULL when libuv fails to start.  After
 * every run, after(arg) is called: what libuv's callbacks changed can
 * be looked at there, outside them.
 */
struct uvloop *uvloop_new(struct event_base *base, void (*after)(void *),
    void *arg);

/* The loop libuv users (libraft) are given. */
uv_loop_t *uvloop_loop(struct uvloop *u);

/*
 * Let libuv act on calls made into it from libevent's side (libuv
 * registers new watchers and starts writes only when its loop runs):
 * one non-blocking run, at once unless one is running (then right
 * after it).
 */
void uvloop_kick(struct uvloop *u);

/*
 * Run libuv until every handle closed (uv_close callbacks ran), then
 * free.  The handles must have been closed (uv_close) before.
 */
void uvloop_free(struct uvloop *u);

#endif
