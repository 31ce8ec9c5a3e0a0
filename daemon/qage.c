/*
 * qage.c - sampled store times of a queue's messages.  See qage.h.
 */
#include "qage.h"

/* The ring's i-th sample from the oldest. */
#define AT(a, arr, i) ((a)->arr[((a)->first + (i)) % QAGE_SAMPLES])

void
qage_note(struct qage *a, uint64_t id, uint64_t oldest_id, uint64_t now_ms)
{
	/* Drop what no stored message needs: a sample is needed while
	 * the next one is above the oldest id. */
	while (a->n >= 2 && AT(a, id, 1) <= oldest_id) {
		a->first = (a->first + 1) % QAGE_SAMPLES;
		a->n--;
	}
	if (oldest_id == id)
		a->n = 0; /* it is the only one: the queue was empty */
	if (a->n == 0)
		a->gap_ms = QAGE_GAP_MIN_MS;
	else if (now_ms - AT(a, ms, a->n - 1) < a->gap_ms)
		return;
	if (a->n == QAGE_SAMPLES) {
		/* Keep the even ones (the first covers the oldest). */
		for (unsigned i = 1; i < QAGE_SAMPLES / 2; i++) {
			AT(a, id, i) = AT(a, id, 2 * i);
			AT(a, ms, i) = AT(a, ms, 2 * i);
		}
		a->n = QAGE_SAMPLES / 2;
		a->gap_ms *= 2;
	}
	AT(a, id, a->n) = id;
	AT(a, ms, a->n) = now_ms;
	a->n++;
}

uint64_t
qage_stored_ms(const struct qage *a, uint64_t id, uint64_t now_ms)
{
	uint64_t at = now_ms;

	for (unsigned i = 0; i < a->n && AT(a, id, i) <= id; i++)
		at = AT(a, ms, i);
	return at;
}
