/*
 * delay.h - the timer of every delayed message (NACK <id> <delay_ms>).
 *
 * One binary heap of messages keyed by the time they become ready, and
 * ONE libevent timer armed for the earliest, for the whole server: a
 * million delayed messages cost a pointer each in the heap and nothing
 * while they wait (no event per message, no polling).  When the timer
 * fires, every message that is due goes to the callback given to
 * delay_new(), earliest first (messages due at the same microsecond in
 * the order they were added).
 *
 *   delay_add()     start timing a message
 *   delay_remove()  stop timing it (its queue is deleted)
 *
 * The heap holds messages, not owns them: each is also on its queue's
 * delayed list, and whoever frees the queue frees them.  Times are
 * microseconds of the precise monotonic clock, so a message is never
 * ready before its delay has passed (the coarse clock of clock_now_ms
 * may lag by a few milliseconds).
 */
#ifndef SLUICE_DELAY_H
#define SLUICE_DELAY_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "msg.h"

struct delay;

/* Called with each message whose delay is over, taken out of the heap. */
typedef void (*delay_ready_fn)(struct msg *m, void *arg);

/* A heap and its timer on base; ready(m, arg) for each message due. */
struct delay *delay_new(struct event_base *base, delay_ready_fn ready,
    void *arg);

/* Free the heap and the timer; the messages are left to their queues. */
void delay_free(struct delay *d);

/* Make m ready delay_ms milliseconds from now. */
void delay_add(struct delay *d, struct msg *m, uint64_t delay_ms);

/* Stop timing m, which delay_add() was given. */
void delay_remove(struct delay *d, struct msg *m);

/* Messages being timed. */
size_t delay_count(const struct delay *d);

#endif
