/*
 * bench.h - what the two halves of "sluice bench" share: cli_bench.c
 * runs the threads, bench_report.c checks and reports what they saw.
 */
#ifndef SLUICE_BENCH_H
#define SLUICE_BENCH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "cli.h"
#include "hist.h"

/* The head of every bench message body. */
struct bench_stamp {
	uint32_t magic;		/* BENCH_MAGIC: a body this bench wrote */
	uint32_t producer;	/* index of the producer thread */
	uint64_t seq;		/* 0, 1, 2... per producer */
	uint64_t sent_us;	/* bench_now_us() when the PUT was queued */
};
#define BENCH_MAGIC 0x534c4231u	/* "SLB1" */
/* A consumer keeps (producer << BENCH_SEQ_BITS | seq) per message. */
#define BENCH_SEQ_BITS 40
#define BENCH_SEQ_LIMIT ((uint64_t)1 << BENCH_SEQ_BITS)

/* A growable bitmap indexed by sequence number. */
struct bench_bits {
	uint64_t *w;
	size_t words;
};

struct bench;

struct bench_producer {
	struct bench *bench;
	uint32_t index;
	uint64_t quota;		/* messages to put with -n */
	uint64_t sent;          /* PUTs appended: seqs 0..sent-1 */
	uint64_t accepted;	/* 200 QUEUED */
	uint64_t rejected;	/* 503 FULL */
	uint64_t dropped;	/* 202 DROPPED */
	struct bench_bits acc;	/* which seqs were accepted */
	uint64_t done_us;	/* when its last reply came */
	/*
	 * Failover: the seqs in flight, oldest first (a ring of window
	 * entries, since seqs sent again break the order), and the seqs
	 * to send again once every reply is in: refused by a server that
	 * is not the leader, or, with allow_dups, left unanswered by a
	 * broken connection.
	 */
	uint64_t *inflight;
	unsigned head;
	uint64_t *redo;
	unsigned nredo;
	uint64_t failing_since_us; /* first refusal since the last QUEUED */
};

struct bench_consumer {
	struct bench *bench;
	struct hist lat;	/* end-to-end latency, microseconds */
	uint64_t *keys;		/* every message received, in order */
	size_t nkeys;
	size_t capkeys;
	uint64_t corrupt;	/* bodies that are not a bench stamp */
	uint64_t last_us;	/* when the last message came */
	bool oom;
};

struct bench {
	struct cli *cli;
	const char *queue;
	struct cli_queue_opts opts;
	unsigned nproducers;
	unsigned nconsumers;
	unsigned window;
	size_t size;
	uint64_t count;		/* -n */
	unsigned duration_s;	/* -d; 0: use count */
	bool json;
	uint64_t start_us;
	uint64_t end_us;	/* with -d: producers stop here */
	uint64_t produced_us;	/* when the last producer finished */
	int64_t server_dropped;	/* STATS dropped at the end, -1: unknown */
	struct bench_producer *producers;
	struct bench_consumer *consumers;
	/* Shared by the threads; the totals only feed the progress line. */
	atomic_uint producers_running;
	atomic_bool drain;	/* producers are done: consumers drain */
	atomic_bool failed;
	atomic_uint_fast64_t sent;
	atomic_uint_fast64_t accepted;
	atomic_uint_fast64_t rejected;
	atomic_uint_fast64_t dropped;
	atomic_uint_fast64_t received;
	bool allow_dups;                 /* --allow-duplicates */
	atomic_uint_fast64_t resent;     /* PUTs sent again (failover) */
	atomic_uint_fast64_t reconnects; /* connections made again */
	pthread_mutex_t lock;	/* guards error */
	char error[256];	/* the first failure, "" when none */
};

/* Microseconds on the monotonic clock all threads share. */
uint64_t bench_now_us(void);

/* Check exactly-once, print the report (text or JSON) and return the
 * exit status: 0 when the check passed and nothing failed. */
int bench_report(struct bench *b);

/* Free what the threads collected. */
void bench_free(struct bench *b);

#endif
