/*
 * clock.h - the daemon's one clock: monotonic milliseconds.
 *
 * A leaf: every layer may read it, it calls nothing of the daemon.
 */
#ifndef SLUICE_CLOCK_H
#define SLUICE_CLOCK_H

#include <stdint.h>

/* A monotonic clock in milliseconds; cheap to call. */
uint64_t clock_now_ms(void);

#endif
