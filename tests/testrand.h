/*
 * testrand.h - the unit suites' random numbers: xorshift64, a small
 * deterministic generator, so that a failing run repeats from its seed.
 */
#ifndef SLUICE_TESTRAND_H
#define SLUICE_TESTRAND_H

#include <stdint.h>

/* Advance *state (which must not be 0) and return the new value. */
static inline uint64_t
testrand_next(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *state = x;
}

#endif
