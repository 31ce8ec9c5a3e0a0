/*
 * bench_report.c - the end of "sluice bench": the exactly-once check
 * over what producers had accepted and consumers received, and the
 * report, as text or JSON.
 *
 * The check: no message arrives twice, nothing arrives that the server
 * did not accept (a 503 or 202 means it was not stored), every body is
 * a bench stamp, and every accepted message arrives, except under
 * drop-oldest, where exactly as many may be missing as the server says
 * it dropped.  With one consumer, each producer's messages must also
 * arrive in the order they were sent.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bench.h"

struct bench_check {
	uint64_t accepted;	/* 200 QUEUED, all producers */
	uint64_t rejected;
	uint64_t dropped;	/* 202 DROPPED */
	uint64_t received;	/* messages consumers read */
	uint64_t delivered;	/* accepted messages received at least once */
	uint64_t duplicates;
	uint64_t unexpected;	/* received but never accepted */
	uint64_t corrupt;
	uint64_t out_of_order;
	uint64_t missing;	/* accepted, never received */
	uint64_t allowed_missing;
	uint64_t resent; /* PUTs sent again by failover */
	bool order_checked;
	bool ok;
};

static bool
bit(const struct bench_bits *b, uint64_t i)
{
	return i / 64 < b->words && (b->w[i / 64] >> (i % 64) & 1);
}

/* Walk every received key against the producers' accepted bitmaps. */
static void
check_keys(struct bench *b, struct bench_check *k, struct bench_bits *seen,
    uint64_t *next)
{
	for (unsigned c = 0; c < b->nconsumers; c++) {
		const struct bench_consumer *con = &b->consumers[c];
		k->received += con->nkeys + con->corrupt;
		k->corrupt += con->corrupt;
		for (size_t i = 0; i < con->nkeys; i++) {
			uint64_t p = con->keys[i] >> BENCH_SEQ_BITS;
			uint64_t seq = con->keys[i] & (BENCH_SEQ_LIMIT - 1);
			struct bench_bits *s = &seen[p];
			if (!bit(&b->producers[p].acc, seq)) {
				k->unexpected++;
				continue;
			}
			if (k->order_checked && seq < next[p])
				k->out_of_order++;
			next[p] = seq + 1;
			if (bit(s, seq)) {
				k->duplicates++;
				continue;
			}
			s->w[seq / 64] |= (uint64_t)1 << (seq % 64);
			k->delivered++;
		}
	}
}

static void
check(struct bench *b, struct bench_check *k)
{
	struct bench_bits *seen = calloc(b->nproducers, sizeof *seen);
	uint64_t *next = calloc(b->nproducers, sizeof *next);
	bool drop_oldest = b->opts.policy != NULL &&
	    strcmp(b->opts.policy, "drop-oldest") == 0;

	memset(k, 0, sizeof *k);
	k->order_checked = b->nconsumers == 1;
	for (unsigned p = 0; p < b->nproducers; p++) {
		const struct bench_producer *pr = &b->producers[p];
		k->accepted += pr->accepted;
		k->rejected += pr->rejected;
		k->dropped += pr->dropped;
		if (seen != NULL) {
			seen[p].words = pr->acc.words;
			seen[p].w = calloc(pr->acc.words + 1, sizeof(uint64_t));
		}
	}
	for (unsigned p = 0; seen != NULL && p < b->nproducers; p++)
		if (seen[p].w == NULL)
			goto out;
	if (seen == NULL || next == NULL)
		goto out;
	check_keys(b, k, seen, next);
	k->missing = k->accepted - k->delivered;
	if (drop_oldest && b->server_dropped > 0)
		k->allowed_missing = (uint64_t)b->server_dropped;
	/* PUTs sent again (failover) may arrive twice (allowed with
	 * --allow-duplicates) and after later ones. */
	k->resent = atomic_load(&b->resent);
	k->ok = (k->duplicates == 0 || b->allow_dups) && k->unexpected == 0 &&
	    k->corrupt == 0 && (k->out_of_order == 0 || k->resent > 0) &&
	    k->missing == k->allowed_missing;
out:
	for (unsigned p = 0; seen != NULL && p < b->nproducers; p++)
		free(seen[p].w);
	free(seen);
	free(next);
}

/* Seconds from the start to the last message received (or, when none
 * was, to the end of the producers). */
static double
elapsed_s(const struct bench *b)
{
	uint64_t last = 0;

	for (unsigned c = 0; c < b->nconsumers; c++)
		if (b->consumers[c].last_us > last)
			last = b->consumers[c].last_us;
	if (last == 0)
		last = b->produced_us;
	return last > b->start_us ? (double)(last - b->start_us) / 1e6 : 0;
}

/* A latency in microseconds as milliseconds, for people. */
static double
ms(uint64_t us)
{
	return (double)us / 1000.0;
}

static void
print_text(const struct bench *b, const struct bench_check *k,
    const struct hist *lat, double secs)
{
	double rate = secs > 0 ? (double)k->received / secs : 0;

	printf("sluice bench: %u producer%s, %u consumer%s, %zu-byte "
	       "messages, window %u\n",
	    b->nproducers, b->nproducers == 1 ? "" : "s", b->nconsumers,
	    b->nconsumers == 1 ? "" : "s", b->size, b->window);
	printf("queue %s: policy %s, capacity %" PRIu64 "\n\n", b->queue,
	    b->opts.policy ? b->opts.policy : "(server default)",
	    b->opts.capacity);
	printf("  sent          %" PRIu64 " in %.2f s\n", k->accepted +
	    k->rejected + k->dropped, (double)(b->produced_us - b->start_us) /
	    1e6);
	printf("  queued        %" PRIu64 "   rejected (503) %" PRIu64
	       "   dropped (202) %" PRIu64 "\n",
	    k->accepted, k->rejected, k->dropped);
	printf("  received      %" PRIu64 " in %.2f s\n", k->received, secs);
	printf("  throughput    %.0f msgs/s   %.1f MB/s\n", rate,
	    rate * (double)b->size / 1e6);
	printf("  latency       p50 %.3f ms   p99 %.3f ms   p99.9 %.3f ms   "
	       "max %.3f ms\n",
	    ms(hist_percentile(lat, 50)), ms(hist_percentile(lat, 99)),
	    ms(hist_percentile(lat, 99.9)), ms(lat->max));
	if (atomic_load(&b->reconnects) > 0)
		printf("  failover      %" PRIu64 " reconnections, %" PRIu64
		       " PUTs sent again, %" PRIu64 " duplicates%s\n",
		    (uint64_t)atomic_load(&b->reconnects), k->resent,
		    k->duplicates, b->allow_dups ? " (allowed)" : "");
	if (k->ok && k->allowed_missing > 0)
		printf("  exactly once  yes: every queued message was received "
		       "once, or dropped\n                by drop-oldest (%"
		       PRIu64 ")\n", k->allowed_missing);
	else if (k->ok)
		printf("  exactly once  yes: every queued message was received "
		       "once%s\n", k->order_checked ? ", in order" : "");
	else
		printf("  exactly once  NO: %" PRIu64 " missing (%" PRIu64
		       " allowed), %" PRIu64 " duplicates, %" PRIu64
		       " never queued, %" PRIu64 " corrupt, %" PRIu64
		       " out of order\n",
		    k->missing, k->allowed_missing, k->duplicates,
		    k->unexpected, k->corrupt, k->out_of_order);
}

static void
print_json(const struct bench *b, const struct bench_check *k,
    const struct hist *lat, double secs)
{
	double rate = secs > 0 ? (double)k->received / secs : 0;
	json_t *j = json_pack("{s:s, s:s?, s:I, s:I, s:I, s:I, s:I}",
	    "queue", b->queue, "policy", b->opts.policy,
	    "capacity", (json_int_t)b->opts.capacity,
	    "producers", (json_int_t)b->nproducers,
	    "consumers", (json_int_t)b->nconsumers,
	    "size", (json_int_t)b->size, "window", (json_int_t)b->window);
	char *text;

	json_object_update_new(j, json_pack(
	    "{s:I, s:I, s:I, s:I, s:f, s:f, s:f}",
	    "queued", (json_int_t)k->accepted,
	    "rejected", (json_int_t)k->rejected,
	    "dropped", (json_int_t)k->dropped,
	    "received", (json_int_t)k->received, "seconds", secs,
	    "msgs_per_s", rate, "mb_per_s", rate * (double)b->size / 1e6));
	json_object_set_new(j, "latency_ms", json_pack(
	    "{s:f, s:f, s:f, s:f}", "p50", ms(hist_percentile(lat, 50)),
	    "p99", ms(hist_percentile(lat, 99)),
	    "p99.9", ms(hist_percentile(lat, 99.9)), "max", ms(lat->max)));
	json_object_set_new(j, "exactly_once", json_pack(
	    "{s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:b}", "ok", k->ok,
	    "missing", (json_int_t)k->missing,
	    "allowed_missing", (json_int_t)k->allowed_missing,
	    "duplicates", (json_int_t)k->duplicates,
	    "never_queued", (json_int_t)k->unexpected,
	    "corrupt", (json_int_t)k->corrupt,
	    "out_of_order", (json_int_t)k->out_of_order,
	    "order_checked", k->order_checked));
	json_object_set_new(j, "failover",
	    json_pack("{s:I, s:I, s:b}", "reconnects",
	        (json_int_t)atomic_load(&b->reconnects), "resent",
	        (json_int_t)k->resent, "duplicates_allowed", b->allow_dups));
	if (b->error[0] != '\0')
		json_object_set_new(j, "error", json_string(b->error));
	text = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(6));
	if (text != NULL)
		printf("%s\n", text);
	free(text);
	json_decref(j);
}

int
bench_report(struct bench *b)
{
	struct bench_check k;
	struct hist *lat = calloc(1, sizeof *lat);
	double secs = elapsed_s(b);

	if (lat == NULL)
		return cli_error(b->cli, CLI_EX_ERROR, "out of memory");
	for (unsigned c = 0; c < b->nconsumers; c++)
		hist_merge(lat, &b->consumers[c].lat);
	check(b, &k);
	if (b->json)
		print_json(b, &k, lat, secs);
	else
		print_text(b, &k, lat, secs);
	free(lat);
	fflush(stdout);
	if (b->error[0] != '\0')
		return cli_error(b->cli, CLI_EX_ERROR, "%s", b->error);
	return k.ok ? 0 : CLI_EX_ERROR;
}

void
bench_free(struct bench *b)
{
	for (unsigned p = 0; p < b->nproducers; p++)
		free(b->producers[p].acc.w);
	for (unsigned c = 0; c < b->nconsumers; c++)
		free(b->consumers[c].keys);
	free(b->producers);
	free(b->consumers);
	pthread_mutex_destroy(&b->lock);
}
