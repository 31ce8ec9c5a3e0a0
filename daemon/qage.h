/*
 * qage.h - when a queue's oldest ready message was stored, to about a
 * second, without a timestamp per message.
 *
 * Ids increase in the order messages are stored, so a few samples
 * (id, time) place any stored message in time: it came at or after the
 * newest sample with an id not above its own.  A sample is taken for
 * the first message stored at least gap_ms after the previous sample;
 * samples older than the one that covers the oldest stored message are
 * dropped; when all QAGE_SAMPLES are in use, every other one goes and
 * the gap doubles; an empty queue starts afresh.  So the memory is
 * fixed (256 bytes a queue) and an age read from it is never under the
 * truth and over it by less than the gap: a second while the queue has
 * held under QAGE_SAMPLES seconds of messages since it was last empty,
 * at most an eighth of the longest span it has held beyond that.
 */
#ifndef SLUICE_QAGE_H
#define SLUICE_QAGE_H

#include <stdint.h>

#define QAGE_SAMPLES 16
#define QAGE_GAP_MIN_MS 1000

struct qage {
	uint64_t id[QAGE_SAMPLES]; /* a ring, oldest at first */
	uint64_t ms[QAGE_SAMPLES];
	unsigned first;
	unsigned n;
	uint64_t gap_ms;
};

/*
 * Message id was stored at now_ms; oldest_id is the id of the oldest
 * message the queue still stores (id itself when it is the only one).
 */
void qage_note(struct qage *a, uint64_t id, uint64_t oldest_id,
    uint64_t now_ms);

/* When stored message id came, at the earliest; now_ms when unknown. */
uint64_t qage_stored_ms(const struct qage *a, uint64_t id, uint64_t now_ms);

#endif
