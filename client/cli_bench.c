/*
 * cli_bench.c - "sluice bench": producer and consumer threads, each on
 * its own connection, through a fresh queue; then a report of
 * throughput, end-to-end latency, refusals, and whether every message
 * arrived exactly once (or as the policy allows).
 *
 * Each body starts with a struct bench_stamp (producer, sequence number,
 * send time); producers and consumers share this process's monotonic
 * clock, so latency is measured from the moment a PUT is queued in the
 * producer to the moment its message is read by a consumer.  Producers
 * pipeline PUTs and consumers GETs (cli_take.c) through the library's
 * window.  Checking is done after the run, from a bitmap per producer
 * of what the server accepted and a list per consumer of what it got.
 * bench_report.c does the arithmetic and the printing.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "bench.h"

/* A waiting consumer asks again this often; bounds the end-of-run tail. */
#define BENCH_WAIT_MS 200
/* Progress line period, and how often the end of the producers is
 * looked for. */
#define BENCH_TICK_MS 100
#define BENCH_PROGRESS_MS 1000

static const char bench_usage[] =
    "usage: sluice bench [-P N] [-C N] [-s BYTES] [-n COUNT | -d SECONDS]\n"
    "                    [-w N] [--policy P] [--capacity N] [--max-bytes N]\n"
    "                    [-q QUEUE] [-D] [--json]\n"
    "\n"
    "Load test: producer and consumer threads, each on a connection of its\n"
    "own, put and get messages through a fresh queue (created at the\n"
    "start, deleted at the end).  Reports throughput, end-to-end latency,\n"
    "refusals, and whether every message arrived exactly once (under\n"
    "drop-oldest: once, or dropped by the server).\n"
    "\n"
    "  -P, --producers N   producer threads (default 1)\n"
    "  -C, --consumers N   consumer threads (default 1)\n"
    "  -s, --size BYTES    message size (default 64; at least 24, which\n"
    "                      carry producer, sequence number and send time)\n"
    "  -n, --count N       messages to put, in all (default 100000)\n"
    "  -d, --duration S    put for S seconds instead\n"
    "  -w, --window N      requests in flight per connection (default 256)\n"
    "      --policy P      the queue's policy (default: the server's)\n"
    "      --capacity N    the queue's capacity (default 1024)\n"
    "      --max-bytes N   the queue's byte limit (default: the server's)\n"
    "  -q, --queue NAME    the queue (default sluice-bench-<pid>); it must\n"
    "                      not exist yet\n"
    "  -D, --allow-duplicates\n"
    "                      when a connection breaks before PUTs' answers\n"
    "                      (a failover), send them again to the new\n"
    "                      leader: duplicates then pass the check\n"
    "  -j, --json          print the report as JSON\n"
    "  -h, --help          this help\n"
    "\n"
    "A live progress line goes to stderr when it is a terminal.  Ctrl-C\n"
    "stops the producers early; the report covers what was sent.  Exit\n"
    "status 1 when the exactly-once check fails.\n"
    "\n"
    "Given a group's servers (-H), PUTs a follower refuses go to the\n"
    "leader, and consumers follow it (their GETs in flight when a\n"
    "connection breaks are lost: at most once); the order check then\n"
    "allows what moved.\n";

/* Ctrl-C: stop producing, then drain and report as usual. */
static atomic_bool interrupted;

static void
on_sigint(int sig)
{
	(void)sig;
	atomic_store(&interrupted, true);
}

uint64_t
bench_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* Set bit i, growing the bitmap as needed; -1 when out of memory. */
static int
bits_set(struct bench_bits *b, uint64_t i)
{
	if (i / 64 >= b->words) {
		size_t words = b->words ? b->words * 2 : 1024;
		uint64_t *w;
		while (i / 64 >= words)
			words *= 2;
		if ((w = realloc(b->w, words * sizeof *w)) == NULL)
			return -1;
		memset(w + b->words, 0, (words - b->words) * sizeof *w);
		b->w = w;
		b->words = words;
	}
	b->w[i / 64] |= (uint64_t)1 << (i % 64);
	return 0;
}

/* Record a thread's failure (the first one is kept) and stop the run. */
static void
bench_fail_text(struct bench *b, const char *who, const char *text)
{
	pthread_mutex_lock(&b->lock);
	if (b->error[0] == '\0')
		snprintf(b->error, sizeof b->error, "%s: %s", who, text);
	pthread_mutex_unlock(&b->lock);
	atomic_store(&b->failed, true);
}

/* bench_fail_text() for a result of ctx: a local error says why, a
 * server's answer is its status line. */
static void
bench_fail(struct bench *b, struct sluice_ctx *ctx, const char *who,
    enum sluice_result r)
{
	bench_fail_text(b, who,
	    r < 0 ? sluice_errstr(ctx) : sluice_status_line(ctx));
}

static struct sluice_ctx *
bench_connect(struct bench *b, const char *who)
{
	struct sluice_ctx *ctx =
	    sluice_connect(b->cli->groups[cli_group_of(b->cli, b->queue)],
	        b->cli->port, 5000);
	enum sluice_result r;

	if (ctx == NULL) {
		bench_fail_text(b, who, "out of memory");
		return NULL;
	}
	sluice_set_failover(ctx, SLUICE_DEFAULT_FAILOVER_MS);
	if ((r = sluice_error(ctx)) == SLUICE_OK)
		r = cli_start_tls(b->cli, ctx);
	if (r == SLUICE_OK && b->cli->token != NULL)
		r = sluice_auth(ctx, b->cli->token);
	if (r == SLUICE_OK)
		r = sluice_set_window(ctx, b->window);
	if (r == SLUICE_OK)
		return ctx;
	bench_fail(b, ctx, who, r);
	sluice_free(ctx);
	return NULL;
}

/* Append the PUT of seq, stamped now, and note it in flight. */
static enum sluice_result
producer_put(struct bench *b, struct bench_producer *p, struct sluice_ctx *ctx,
    char *body, uint64_t seq)
{
	struct bench_stamp st = { BENCH_MAGIC, p->index, seq, bench_now_us() };
	enum sluice_result r;

	memcpy(body, &st, sizeof st);
	r = sluice_append_put(ctx, b->queue, body, b->size, SLUICE_FOREVER);
	if (r == SLUICE_OK)
		p->inflight[(p->head + sluice_pending(ctx) - 1) % b->window] =
		    seq;
	return r;
}

/*
 * Every reply is in and some seqs must go again: connect to the leader
 * (or the next server) and send them, for up to the failover time.
 * Returns 0, or -1 after a failure is recorded.
 */
static int
producer_again(struct bench *b, struct bench_producer *p,
    struct sluice_ctx *ctx, char *body)
{
	enum sluice_result r;

	if (p->failing_since_us == 0)
		p->failing_since_us = bench_now_us();
	if (bench_now_us() - p->failing_since_us >
	    (uint64_t)SLUICE_DEFAULT_FAILOVER_MS * 1000) {
		bench_fail_text(b, "producer", "no leader within 10 s");
		return -1;
	}
	if ((r = sluice_reconnect(ctx)) != SLUICE_OK) {
		bench_fail(b, ctx, "producer", r);
		return -1;
	}
	atomic_fetch_add(&b->reconnects, 1);
	p->head = 0;
	for (unsigned i = 0; i < p->nredo; i++) {
		if ((r = producer_put(b, p, ctx, body, p->redo[i])) != 0) {
			bench_fail(b, ctx, "producer", r);
			return -1;
		}
		atomic_fetch_add(&b->resent, 1);
	}
	p->nredo = 0;
	return 0;
}

/* Account for the reply to the producer's oldest PUT. */
static int
producer_reply(struct bench *b, struct bench_producer *p,
    struct sluice_ctx *ctx, char *body)
{
	struct sluice_reply *r;
	enum sluice_result res = sluice_read_reply(ctx, &r);
	uint64_t seq = p->inflight[p->head];

	sluice_reply_free(r);
	if (res == SLUICE_ERR_EOF || res == SLUICE_ERR_IO) {
		if (!b->allow_dups) {
			bench_fail(b, ctx, "producer", res);
			return -1;
		}
		/* Each PUT in flight may or may not be stored: again. */
		for (unsigned n = sluice_pending(ctx); n > 0; n--) {
			p->redo[p->nredo++] = p->inflight[p->head];
			p->head = (p->head + 1) % b->window;
		}
		return producer_again(b, p, ctx, body);
	}
	p->head = (p->head + 1) % b->window;
	if (res == SLUICE_OK || res == SLUICE_DROPPED || res == SLUICE_FULL)
		p->failing_since_us = 0;
	switch (res) {
	case SLUICE_OK:
		p->accepted++;
		atomic_fetch_add(&b->accepted, 1);
		if (bits_set(&p->acc, seq) < 0) {
			bench_fail_text(b, "producer", "out of memory");
			return -1;
		}
		break;
	case SLUICE_FULL:
		p->rejected++;
		atomic_fetch_add(&b->rejected, 1);
		break;
	case SLUICE_DROPPED:
		p->dropped++;
		atomic_fetch_add(&b->dropped, 1);
		break;
	case SLUICE_NOT_LEADER:
		/* It did nothing: to the leader, once the rest are in. */
		p->redo[p->nredo++] = seq;
		break;
	default:
		bench_fail(b, ctx, "producer", res);
		return -1;
	}
	if (p->nredo > 0 && sluice_pending(ctx) == 0)
		return producer_again(b, p, ctx, body);
	return 0;
}

/* Whether the producer should put another message. */
static bool
producer_more(struct bench *b, const struct bench_producer *p)
{
	if (atomic_load(&b->failed) || atomic_load(&interrupted))
		return false;
	if (b->duration_s > 0)
		return bench_now_us() < b->end_us;
	return p->sent < p->quota;
}

static void *
producer_main(void *arg)
{
	struct bench_producer *p = arg;
	struct bench *b = p->bench;
	struct sluice_ctx *ctx = bench_connect(b, "producer");
	char *body = malloc(b->size);

	p->inflight = calloc(b->window, sizeof *p->inflight);
	p->redo = calloc(b->window, sizeof *p->redo);
	if (ctx == NULL || body == NULL || p->inflight == NULL ||
	    p->redo == NULL)
		goto out;
	memset(body, 'x', b->size);
	while (producer_more(b, p)) {
		/*
		 * A full window: take half of it back, then send a batch
		 * (one write per half window, not per message).
		 */
		if (sluice_pending(ctx) == b->window)
			while (sluice_pending(ctx) > b->window / 2)
				if (producer_reply(b, p, ctx, body) < 0)
					goto out;
		enum sluice_result r = producer_put(b, p, ctx, body, p->sent);
		if (r != SLUICE_OK) {
			bench_fail(b, ctx, "producer", r);
			goto out;
		}
		p->sent++;
		atomic_fetch_add(&b->sent, 1);
	}
	while (sluice_pending(ctx) > 0)
		if (producer_reply(b, p, ctx, body) < 0)
			goto out;
out:
	p->done_us = bench_now_us();
	free(body);
	free(p->inflight);
	free(p->redo);
	sluice_free(ctx);
	atomic_fetch_sub(&b->producers_running, 1);
	return NULL;
}

/* A consumer's per-message work: check the stamp, time it, note it. */
static int
consumer_msg(void *arg, const struct sluice_reply *r)
{
	struct bench_consumer *c = arg;
	struct bench_stamp st;
	uint64_t now = bench_now_us();

	atomic_fetch_add(&c->bench->received, 1);
	c->last_us = now;
	if (r->body_len != c->bench->size || r->body_len < sizeof st) {
		c->corrupt++;
		return 0;
	}
	memcpy(&st, r->body, sizeof st);
	if (st.magic != BENCH_MAGIC || st.producer >= c->bench->nproducers ||
	    st.seq >= BENCH_SEQ_LIMIT) {
		c->corrupt++;
		return 0;
	}
	hist_add(&c->lat, now > st.sent_us ? now - st.sent_us : 0);
	if (c->nkeys == c->capkeys) {
		size_t cap = c->capkeys ? c->capkeys * 2 : 65536;
		uint64_t *k = realloc(c->keys, cap * sizeof *k);
		if (k == NULL) {
			c->oom = true;
			return -1;
		}
		c->keys = k;
		c->capkeys = cap;
	}
	c->keys[c->nkeys++] = (uint64_t)st.producer << BENCH_SEQ_BITS | st.seq;
	return 0;
}

/*
 * Whether every message the server accepted has been received: then
 * nothing is left to take, and the GETs still waiting in the server
 * need not be waited for.  (Under drop-oldest some never arrive; the
 * drain flag ends those runs.)
 */
static bool
consumer_finished(void *arg)
{
	struct bench_consumer *c = arg;
	struct bench *b = c->bench;

	return atomic_load(&b->producers_running) == 0 &&
	    atomic_load(&b->received) >= atomic_load(&b->accepted);
}

static void *
consumer_main(void *arg)
{
	struct bench_consumer *c = arg;
	struct bench *b = c->bench;
	struct sluice_ctx *ctx = bench_connect(b, "consumer");
	struct cli_take t = { 0 };
	enum sluice_result r;

	uint64_t seen = 0, since = bench_now_us();

	if (ctx == NULL)
		return NULL;
	t.queue = b->queue;
	t.window = b->window;
	t.wait_ms = BENCH_WAIT_MS;
	t.follow = true;
	t.drain = &b->drain;
	t.on_msg = consumer_msg;
	t.finished = consumer_finished;
	t.arg = c;
	/* A server that is not the leader, or a broken connection: the
	 * leader takes over (GETs lost in flight show as missing). */
	while ((r = cli_take_run(ctx, &t)) == SLUICE_NOT_LEADER ||
	    r == SLUICE_ERR_EOF || r == SLUICE_ERR_IO) {
		uint64_t now = bench_now_us(), got = atomic_load(&b->received);

		if (got != seen) {
			seen = got;
			since = now;
		}
		if (now - since > (uint64_t)SLUICE_DEFAULT_FAILOVER_MS * 1000 ||
		    sluice_reconnect(ctx) != SLUICE_OK)
			break;
		atomic_fetch_add(&b->reconnects, 1);
	}
	if (r != SLUICE_OK) {
		bench_fail(b, ctx, "consumer", r);
	} else if (c->oom) {
		bench_fail_text(b, "consumer", "out of memory");
	}
	sluice_free(ctx);
	return NULL;
}

/* The queue's counters, or -1 fields when STATS fails. */
static void
queue_stats(struct bench *b, struct sluice_ctx *ctx, int64_t *depth,
    int64_t *dropped)
{
	json_t *j;

	*depth = *dropped = -1;
	if (cli_stats_json(ctx, b->queue, &j) != SLUICE_OK)
		return;
	*depth = json_integer_value(json_object_get(j, "depth"));
	*dropped = json_integer_value(json_object_get(j, "dropped"));
	json_decref(j);
}

/*
 * Watch the producers: a progress line every second on a terminal, and
 * on a failure, delete the queue so that no thread stays parked on it.
 */
static void
watch_producers(struct bench *b, struct sluice_ctx *ctx)
{
	bool tty = isatty(STDERR_FILENO) && !b->json;
	uint64_t last_us = bench_now_us(), last_recv = 0;
	int64_t depth, dropped;
	bool deleted = false;

	while (atomic_load(&b->producers_running) > 0) {
		struct timespec tick = { 0, BENCH_TICK_MS * 1000000L };
		nanosleep(&tick, NULL);
		if (atomic_load(&b->failed) && !deleted) {
			(void)sluice_delete(ctx, b->queue);
			deleted = true;
		}
		uint64_t now = bench_now_us();
		if (!tty || now - last_us < BENCH_PROGRESS_MS * 1000)
			continue;
		uint64_t recv = atomic_load(&b->received);
		queue_stats(b, ctx, &depth, &dropped);
		fprintf(stderr, "\r\033[K%6.1f s  sent %" PRIu64 "  received %"
		    PRIu64 "  %.0f msgs/s  depth %" PRId64 "  503s %" PRIu64,
		    (double)(now - b->start_us) / 1e6, atomic_load(&b->sent),
		    recv, (double)(recv - last_recv) * 1e6 /
			(double)(now - last_us), depth,
		    atomic_load(&b->rejected));
		last_us = now;
		last_recv = recv;
	}
	if (tty)
		fprintf(stderr, "\r\033[K");
}

/* A thread or window count: 1..4096. */
static bool
positive(struct cli *cli, const char *opt, const char *s, unsigned *out)
{
	uint64_t v;

	if (!cli_number(cli, bench_usage, opt, s, 4096, &v))
		return false;
	if (v == 0) {
		cli_usage_error(cli, bench_usage, "%s wants at least 1", opt);
		return false;
	}
	*out = (unsigned)v;
	return true;
}

/* Parse the options into b; returns -1 to go on, else an exit status. */
static int
bench_options(struct cli *cli, int argc, char **argv, struct bench *b)
{
	static const struct option longopts[] = {
		{ "producers", required_argument, NULL, 'P' },
		{ "consumers", required_argument, NULL, 'C' },
		{ "size", required_argument, NULL, 's' },
		{ "count", required_argument, NULL, 'n' },
		{ "duration", required_argument, NULL, 'd' },
		{ "window", required_argument, NULL, 'w' },
		{ "policy", required_argument, NULL, 'p' },
		{ "capacity", required_argument, NULL, 'c' },
		{ "max-bytes", required_argument, NULL, 'm' },
		{ "queue", required_argument, NULL, 'q' },
		{ "json", no_argument, NULL, 'j' },
		{ "allow-duplicates", no_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	int ch;

	while ((ch = getopt_long(argc, argv, ":P:C:s:n:d:w:q:jDh", longopts,
	            NULL)) != -1) {
		switch (ch) {
		case 'D':
			b->allow_dups = true;
			break;
		case 'P':
			if (!positive(cli, "-P", optarg, &b->nproducers))
				return EX_USAGE;
			break;
		case 'C':
			if (!positive(cli, "-C", optarg, &b->nconsumers))
				return EX_USAGE;
			break;
		case 'w':
			if (!positive(cli, "-w", optarg, &b->window))
				return EX_USAGE;
			break;
		case 's':
			if (!cli_number(cli, bench_usage, "-s", optarg,
				1 << 30, &v))
				return EX_USAGE;
			if (v < sizeof(struct bench_stamp))
				return cli_usage_error(cli, bench_usage,
				    "-s wants at least %zu bytes",
				    sizeof(struct bench_stamp));
			b->size = (size_t)v;
			break;
		case 'n':
			if (!cli_number(cli, bench_usage, "-n", optarg,
				BENCH_SEQ_LIMIT, &b->count))
				return EX_USAGE;
			break;
		case 'd':
			if (!cli_number(cli, bench_usage, "-d", optarg,
				86400 * 365, &v))
				return EX_USAGE;
			b->duration_s = (unsigned)v;
			break;
		case 'p':
			if (!cli_policy_ok(optarg))
				return cli_usage_error(cli, bench_usage, "%s",
				    CLI_POLICY_ERROR);
			b->opts.policy = optarg;
			break;
		case 'c':
			if (!cli_number(cli, bench_usage, "--capacity", optarg,
				INT64_MAX, &b->opts.capacity))
				return EX_USAGE;
			break;
		case 'm':
			if (!cli_number(cli, bench_usage, "--max-bytes",
				optarg, INT64_MAX, &b->opts.max_bytes))
				return EX_USAGE;
			b->opts.has_max_bytes = true;
			break;
		case 'q':
			b->queue = optarg;
			break;
		case 'j':
			b->json = true;
			break;
		case 'h':
			fputs(bench_usage, stdout);
			return 0;
		default:
			return cli_option_error(cli, ch, argv);
		}
	}
	if (optind < argc)
		return cli_usage_error(cli, bench_usage, "too many arguments");
	return -1;
}

/* Create the queue, run the threads, and delete the queue. */
static int
bench_run(struct bench *b, struct sluice_ctx *ctx)
{
	pthread_t *th;
	unsigned n = b->nproducers + b->nconsumers, started = 0;
	enum sluice_result r;
	int64_t depth;

	r = cli_create_queue(ctx, b->queue, &b->opts);
	if (r != SLUICE_OK)
		return cli_fail(b->cli, ctx, b->queue, r == SLUICE_EXISTS
			? SLUICE_CONFLICT : r);
	if ((th = calloc(n, sizeof *th)) == NULL)
		return cli_error(b->cli, EX_OSERR, "out of memory");
	b->start_us = bench_now_us();
	b->end_us = b->start_us + (uint64_t)b->duration_s * 1000000;
	atomic_store(&b->producers_running, b->nproducers);
	for (unsigned i = 0; i < b->nconsumers; i++)
		if (pthread_create(&th[started], NULL, consumer_main,
			&b->consumers[i]) == 0)
			started++;
	for (unsigned i = 0; i < b->nproducers; i++)
		if (pthread_create(&th[started], NULL, producer_main,
			&b->producers[i]) == 0)
			started++;
		else
			atomic_fetch_sub(&b->producers_running, 1);
	watch_producers(b, ctx);
	atomic_store(&b->drain, true);
	for (unsigned i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	free(th);
	b->produced_us = b->start_us;
	for (unsigned i = 0; i < b->nproducers; i++)
		if (b->producers[i].done_us > b->produced_us)
			b->produced_us = b->producers[i].done_us;
	if (started < n)
		snprintf(b->error, sizeof b->error, "cannot start threads");
	queue_stats(b, ctx, &depth, &b->server_dropped);
	(void)sluice_delete(ctx, b->queue);
	return 0;
}

int
cli_bench(struct cli *cli, int argc, char **argv)
{
	struct bench b;
	struct sluice_ctx *ctx;
	char name[64];
	struct sigaction sa;
	int status;

	memset(&b, 0, sizeof b);
	pthread_mutex_init(&b.lock, NULL);
	b.cli = cli;
	b.nproducers = b.nconsumers = 1;
	b.size = 64;
	b.count = 100000;
	b.window = 256; /* as the load generator the targets are set with */
	b.opts.has_capacity = true;
	b.opts.capacity = 1024;
	snprintf(name, sizeof name, "sluice-bench-%ld", (long)getpid());
	b.queue = name;
	if ((status = bench_options(cli, argc, argv, &b)) >= 0)
		return status;
	b.producers = calloc(b.nproducers, sizeof *b.producers);
	b.consumers = calloc(b.nconsumers, sizeof *b.consumers);
	if (b.producers == NULL || b.consumers == NULL)
		return cli_error(cli, EX_OSERR, "out of memory");
	for (unsigned i = 0; i < b.nproducers; i++) {
		b.producers[i].bench = &b;
		b.producers[i].index = i;
		b.producers[i].quota = b.count / b.nproducers +
		    (i < b.count % b.nproducers ? 1 : 0);
	}
	for (unsigned i = 0; i < b.nconsumers; i++)
		b.consumers[i].bench = &b;
	if ((ctx = cli_connect_queue(cli, b.queue, &status)) == NULL)
		return status;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_sigint;
	sigaction(SIGINT, &sa, NULL);
	if ((status = bench_run(&b, ctx)) == 0)
		status = bench_report(&b);
	sluice_free(ctx);
	bench_free(&b);
	return status;
}
