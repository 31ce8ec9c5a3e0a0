/*
 * clock.c - monotonic milliseconds and microseconds.  See clock.h.
 */
#include <time.h>

#include "clock.h"

uint64_t
clock_now_ms(void)
{
	struct timespec ts;

	/* Millisecond resolution is all any caller needs; coarse is cheap. */
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t
clock_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}
