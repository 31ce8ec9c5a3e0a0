/*
 * hist.c - the log-linear latency histogram.  See hist.h.
 */
#include <math.h>

#include "hist.h"

/* The bucket of v: v itself below 64, else 32 per power of two. */
static unsigned
hist_index(uint64_t v)
{
	unsigned msb, shift;

	if (v < 2 * HIST_SUB)
		return (unsigned)v;
	msb = 63u - (unsigned)__builtin_clzll(v);
	shift = msb - HIST_SUB_BITS;
	return (shift + 1) * HIST_SUB + (unsigned)(v >> shift) - HIST_SUB;
}

/* The largest value bucket i holds. */
static uint64_t
hist_top(unsigned i)
{
	unsigned shift;
	uint64_t mantissa;

	if (i < 2 * HIST_SUB)
		return i;
	shift = i / HIST_SUB - 1;
	mantissa = i % HIST_SUB + HIST_SUB;
	return ((mantissa + 1) << shift) - 1;
}

void
hist_add(struct hist *h, uint64_t v)
{
	h->bucket[hist_index(v)]++;
	h->count++;
	if (v > h->max)
		h->max = v;
}

void
hist_merge(struct hist *into, const struct hist *from)
{
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		into->bucket[i] += from->bucket[i];
	into->count += from->count;
	if (from->max > into->max)
		into->max = from->max;
}

uint64_t
hist_percentile(const struct hist *h, double p)
{
	uint64_t rank, seen = 0;

	if (h->count == 0)
		return 0;
	rank = (uint64_t)ceil(p / 100.0 * (double)h->count);
	if (rank == 0)
		rank = 1;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->bucket[i];
		if (seen >= rank)
			return hist_top(i) < h->max ? hist_top(i) : h->max;
	}
	return h->max;
}
