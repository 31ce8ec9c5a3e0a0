/*
 * delay.c - delayed messages: a binary heap and one timer.  See delay.h.
 *
 * Invariants: heap[0] is the earliest message (by ready_us, then
 * delay_seq); every message's heap_idx is its index in heap; the timer
 * is pending exactly when the heap is not empty, due at heap[0]'s
 * ready time or earlier (a stale early wake-up only re-arms it).
 */
#include <stdbool.h>
#include <stdlib.h>

#include "clock.h"
#include "delay.h"
#include "log.h"
#include "xmalloc.h"

/* The heap's first allocation; it doubles from there. */
#define DELAY_HEAP_MIN 64
/*
 * Longer delays (some 290,000 years) are cut to this, so that the ready
 * time in microseconds cannot overflow.
 */
#define DELAY_MS_MAX (UINT64_MAX / 4000)

struct delay {
	struct msg **heap;
	size_t count;
	size_t size;	   /* slots allocated */
	uint64_t next_seq; /* delay_seq of the next message added */
	struct event *timer;
	delay_ready_fn ready;
	void *arg;
};

static void delay_fire(evutil_socket_t fd, short what, void *arg);

struct delay *
delay_new(struct event_base *base, delay_ready_fn ready, void *arg)
{
	struct delay *d = xcalloc(1, sizeof *d);

	d->timer = evtimer_new(base, delay_fire, d);
	if (d->timer == NULL) {
		log_err("out of memory for the delay timer");
		abort();
	}
	d->ready = ready;
	d->arg = arg;
	return d;
}

void
delay_free(struct delay *d)
{
	if (d == NULL)
		return;
	event_free(d->timer);
	free(d->heap);
	free(d);
}

size_t
delay_count(const struct delay *d)
{
	return d->count;
}

/* True when a becomes ready before b. */
static bool
earlier(const struct msg *a, const struct msg *b)
{
	if (a->ready_us != b->ready_us)
		return a->ready_us < b->ready_us;
	return a->delay_seq < b->delay_seq;
}

static void
place(struct delay *d, size_t i, struct msg *m)
{
	d->heap[i] = m;
	m->heap_idx = i;
}

static void
sift_up(struct delay *d, size_t i)
{
	struct msg *m = d->heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!earlier(m, d->heap[parent]))
			break;
		place(d, i, d->heap[parent]);
		i = parent;
	}
	place(d, i, m);
}

static void
sift_down(struct delay *d, size_t i)
{
	struct msg *m = d->heap[i];

	for (;;) {
		size_t child = 2 * i + 1;
		if (child >= d->count)
			break;
		if (child + 1 < d->count &&
		    earlier(d->heap[child + 1], d->heap[child]))
			child++;
		if (!earlier(d->heap[child], m))
			break;
		place(d, i, d->heap[child]);
		i = child;
	}
	place(d, i, m);
}

/* Arm the timer for the earliest message, or disarm it. */
static void
arm(struct delay *d)
{
	uint64_t now, wait;
	struct timeval tv;

	if (d->count == 0) {
		evtimer_del(d->timer);
		return;
	}
	now = clock_now_us();
	wait = d->heap[0]->ready_us > now ? d->heap[0]->ready_us - now : 0;
	tv.tv_sec = (time_t)(wait / 1000000);
	tv.tv_usec = (suseconds_t)(wait % 1000000);
	evtimer_add(d->timer, &tv);
}

void
delay_add(struct delay *d, struct msg *m, uint64_t delay_ms)
{
	if (d->count == d->size) {
		d->size = d->size ? d->size * 2 : DELAY_HEAP_MIN;
		d->heap = xrealloc(d->heap, d->size * sizeof *d->heap);
	}
	if (delay_ms > DELAY_MS_MAX)
		delay_ms = DELAY_MS_MAX;
	m->ready_us = clock_now_us() + delay_ms * 1000;
	m->delay_seq = d->next_seq++;
	place(d, d->count++, m);
	sift_up(d, m->heap_idx);
	if (d->heap[0] == m)
		arm(d);
}

/* Take the message at index i out of the heap. */
static void
take(struct delay *d, size_t i)
{
	struct msg *last = d->heap[--d->count];

	if (i < d->count) {
		place(d, i, last);
		if (i > 0 && earlier(last, d->heap[(i - 1) / 2]))
			sift_up(d, i);
		else
			sift_down(d, i);
	}
	/* After a burst, give the room back (halving at a quarter full). */
	if (d->size > DELAY_HEAP_MIN && d->count < d->size / 4) {
		d->size /= 2;
		d->heap = xrealloc(d->heap, d->size * sizeof *d->heap);
	}
}

void
delay_remove(struct delay *d, struct msg *m)
{
	bool was_first = m->heap_idx == 0;

	take(d, m->heap_idx);
	if (was_first)
		arm(d);
}

/*
 * The timer: hand every message that is due to the callback, earliest
 * first, then arm for the next.  The callback may add messages.
 */
static void
delay_fire(evutil_socket_t fd, short what, void *arg)
{
	struct delay *d = arg;
	uint64_t now = clock_now_us();

	while (d->count > 0 && d->heap[0]->ready_us <= now) {
		struct msg *m = d->heap[0];
		take(d, 0);
		d->ready(m, d->arg);
	}
	arm(d);
}
