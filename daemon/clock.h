/*
 * clock.h - the daemon's one clock: monotonic milliseconds (and
 * microseconds).
 *
 * A leaf: every layer may read it, it calls nothing of the daemon.
 */
#ifndef SLUICE_CLOCK_H
#define SLUICE_CLOCK_H

#include <stdint.h>

/* A monotonic clock in milliseconds; cheap to call. */
uint64_t clock_now_ms(void);

/*
 * The same clock in microseconds, precise: for a deadline a timer must
 * not wake up ahead of (clock_now_ms() may lag the timer by a tick).
 */
uint64_t clock_now_us(void);

#endif
