/*
 * hist.h - a latency histogram in constant memory, for sluice bench.
 *
 * Log-linear buckets: exact below 64, then 32 buckets per power of two,
 * so any value is kept within about 3% and the whole uint64_t range
 * fits in HIST_BUCKETS counters.  One per thread, merged at the end.
 */
#ifndef SLUICE_HIST_H
#define SLUICE_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 5
#define HIST_SUB (1u << HIST_SUB_BITS)
/* Buckets 0..63 exact, then 32 per power of two up to 2^64. */
#define HIST_BUCKETS ((64 - HIST_SUB_BITS) * HIST_SUB + HIST_SUB)

struct hist {
	uint64_t count;
	uint64_t max;
	uint64_t bucket[HIST_BUCKETS];
};

/* Count one value. */
void hist_add(struct hist *h, uint64_t v);

/* Add every count of `from` into `into`. */
void hist_merge(struct hist *into, const struct hist *from);

/*
 * The value at percentile p (0 < p <= 100): at least p% of the values
 * are at or below it.  It is the top of its bucket, never above the
 * largest value counted; 0 when nothing was.
 */
uint64_t hist_percentile(const struct hist *h, double p);

#endif
