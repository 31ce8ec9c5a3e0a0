/*
 * check_inproc.c - the daemon's core in-process: a server built with
 * server_new(), one end of a socketpair() handed to conn_new() for each
 * client, and the event loop run by the test itself.  Pipelining,
 * parking and the order of resumption are checked on the bytes each
 * client receives and on the server's own state (connection states, the
 * queues' lines of waiters), with no process, no port and no log to
 * parse: the middle layer between check_queue (no sockets) and
 * check_daemon (the real sluiced over TCP).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "conn.h"
#include "deliver.h"
#include "drain.h"
#include "qtable.h"
#include "server.h"
#include "testcase.h"

/* How long expect() waits for an answer before failing the test. */
#define EXPECT_MS 2000
/* Loop passes that settle every event a request caused. */
#define SETTLE_PASSES 8

/* The test's end of one connection. */
struct client {
	int fd;
	struct conn *conn; /* the server's end; valid while it is open */
	char buf[262144];  /* received, not yet expected */
	size_t len;
};

static struct server *srv;
static struct drain *drain;

static void
setup(void)
{
	struct config cfg;

	config_defaults(&cfg);
	srv = server_new(&cfg);
	ck_assert_ptr_nonnull(srv);
	drain = NULL;
}

static void
teardown(void)
{
	drain_free(drain);
	server_free(srv);
}

static struct client *
client_open(void)
{
	struct client *cl = calloc(1, sizeof *cl);
	int sv[2];

	ck_assert_ptr_nonnull(cl);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	cl->fd = sv[1];
	fcntl(cl->fd, F_SETFL, fcntl(cl->fd, F_GETFL) | O_NONBLOCK);
	cl->conn = conn_new(srv, sv[0]);
	ck_assert_ptr_nonnull(cl->conn);
	return cl;
}

static void
client_close(struct client *cl)
{
	close(cl->fd);
	free(cl);
}

/* Run the server's loop until what is ready now has been handled. */
static void
settle(void)
{
	for (int i = 0; i < SETTLE_PASSES; i++)
		event_base_loop(srv->base, EVLOOP_NONBLOCK);
}

/* Send len bytes as the client, all at once, without running the loop. */
static void
send_raw(struct client *cl, const char *s, size_t len)
{
	ck_assert_int_eq(write(cl->fd, s, len), (ssize_t)len);
}

/* One iteration of the server's loop: one poll, one pass per callback. */
static void
one_iteration(void)
{
	event_base_loop(srv->base, EVLOOP_NONBLOCK | EVLOOP_ONCE);
}

/* Send bytes as the client, and let the server handle them. */
static void
send_str(struct client *cl, const char *s)
{
	size_t len = strlen(s);

	ck_assert_int_eq(write(cl->fd, s, len), (ssize_t)len);
	settle();
}

/* Take what the server has sent the client so far. */
static void
receive(struct client *cl)
{
	ssize_t n;

	while ((n = read(cl->fd, cl->buf + cl->len,
		    sizeof cl->buf - cl->len)) > 0)
		cl->len += (size_t)n;
	ck_assert(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
}

/*
 * The client's next bytes must be `want`: run the loop until they have
 * arrived (bounded by EXPECT_MS), then compare and consume them.
 */
static void
expect(struct client *cl, const char *want)
{
	size_t len = strlen(want);
	struct pollfd pf = { cl->fd, POLLIN, 0 };
	uint64_t deadline = clock_now_ms() + EXPECT_MS;

	for (;;) {
		settle();
		receive(cl);
		if (cl->len >= len || clock_now_ms() >= deadline)
			break;
		poll(&pf, 1, 1);
	}
	ck_assert_msg(cl->len >= len && memcmp(cl->buf, want, len) == 0,
	    "expected \"%s\", got \"%.*s\"", want, (int)cl->len, cl->buf);
	memmove(cl->buf, cl->buf + len, cl->len - len);
	cl->len -= len;
}

/* The client has been sent nothing more (after the loop settled). */
static void
expect_nothing(struct client *cl)
{
	settle();
	receive(cl);
	ck_assert_msg(cl->len == 0, "unexpected \"%.*s\"", (int)cl->len,
	    cl->buf);
}

static struct queue *
queue_named(const char *name)
{
	return qtable_find(&srv->queues, name);
}

/* The connections waiting in line l, in order, are exactly these. */
static void
assert_line(struct waiter_list *l, struct client **cls, int n)
{
	struct waiter *w = TAILQ_FIRST(l);

	for (int i = 0; i < n; i++, w = TAILQ_NEXT(w, link)) {
		ck_assert_msg(w != NULL, "line ends after %d of %d", i, n);
		ck_assert_msg(w->owner == cls[i]->conn, "place %d", i);
	}
	ck_assert_msg(w == NULL, "more than %d waiting", n);
}

/* A full block queue "q" of capacity 1 holding message 1. */
static struct client *
full_queue(void)
{
	struct client *a = client_open();

	send_str(a, "CREATE q capacity=1\r\nPUT q 1\r\na\r\n");
	expect(a, "201 CREATED\r\n200 QUEUED 1\r\n");
	return a;
}

START_TEST(test_pipelined_requests_are_answered_in_order_in_one_pass)
{
	static const char burst[] = "PUT q 1\r\na\r\nPUT q 2\nbb\nGET q\r\n"
				    "PING\r\nGET q\r\nGET q\r\n";
	static const char answers[] = "200 QUEUED 1\r\n200 QUEUED 2\r\n"
				      "200 MSG 1 1\r\na\r\n200 PONG\r\n"
				      "200 MSG 2 2\r\nbb\r\n204 EMPTY\r\n";
	struct client *a = client_open();

	/* One write, one pass of the loop: all of it read, run, answered. */
	ck_assert_int_eq(write(a->fd, burst, sizeof burst - 1),
	    (ssize_t)sizeof burst - 1);
	event_base_loop(srv->base, EVLOOP_NONBLOCK | EVLOOP_ONCE);
	receive(a);
	ck_assert_uint_eq(a->len, sizeof answers - 1);
	expect(a, answers);
	ck_assert_int_eq(a->conn->state, CONN_READ_LINE);
	client_close(a);
}
END_TEST

START_TEST(test_parked_producers_resume_in_the_order_they_came)
{
	struct client *a = full_queue(), *p[3], *g = client_open();
	struct queue *q = queue_named("q");
	char put[64];

	for (int i = 0; i < 3; i++) {
		p[i] = client_open();
		/* The PING behind each PUT waits with it. */
		snprintf(put, sizeof put, "PUT q 1\r\n%c\r\nPING\r\n", 'b' + i);
		send_str(p[i], put);
		ck_assert_int_eq(p[i]->conn->state, CONN_WAIT_ROOM);
		expect_nothing(p[i]);
	}
	assert_line(&q->producers, p, 3);
	ck_assert_uint_eq(q->nproducers, 3);
	for (int i = 0; i < 3; i++) {
		char msg[64], queued[64];

		/* Each GET makes room for exactly the first in line. */
		snprintf(msg, sizeof msg, "200 MSG %d 1\r\n%c\r\n", i + 1,
		    'a' + i);
		send_str(g, "GET q\r\n");
		expect(g, msg);
		snprintf(queued, sizeof queued, "200 QUEUED %d\r\n200 PONG\r\n",
		    i + 2);
		expect(p[i], queued);
		ck_assert_int_eq(p[i]->conn->state, CONN_READ_LINE);
		assert_line(&q->producers, p + i + 1, 2 - i);
		for (int j = i + 1; j < 3; j++)
			expect_nothing(p[j]);
	}
	for (int i = 0; i < 3; i++)
		client_close(p[i]);
	client_close(a);
	client_close(g);
}
END_TEST

START_TEST(test_waiting_consumers_are_woken_in_the_order_they_came)
{
	struct client *c[2] = { client_open(), client_open() };
	struct client *p = client_open();
	struct queue *q;

	send_str(c[0], "GET q 60000\r\nPING\r\n");
	send_str(c[1], "RESERVE q 60000\r\n");
	q = queue_named("q");
	ck_assert_ptr_nonnull(q);
	ck_assert_int_eq(c[0]->conn->state, CONN_WAIT_MESSAGE);
	ck_assert_int_eq(c[1]->conn->state, CONN_WAIT_MESSAGE);
	assert_line(&q->consumers, c, 2);
	expect_nothing(c[0]);

	send_str(p, "PUT q 2\r\nm1\r\n");
	expect(p, "200 QUEUED 1\r\n");
	/* Handed over: straight to the first consumer, never stored. */
	expect(c[0], "200 MSG 1 2\r\nm1\r\n200 PONG\r\n");
	ck_assert_int_eq(c[0]->conn->state, CONN_READ_LINE);
	assert_line(&q->consumers, c + 1, 1);
	expect_nothing(c[1]);

	send_str(p, "PUT q 2\r\nm2\r\n");
	expect(p, "200 QUEUED 2\r\n");
	expect(c[1], "200 MSG 2 2\r\nm2\r\n");
	ck_assert_uint_eq(c[1]->conn->nreserved, 1);
	ck_assert_uint_eq(q->nconsumers, 0);
	ck_assert_uint_eq(queue_depth(q), 0);
	client_close(c[0]);
	client_close(c[1]);
	client_close(p);
}
END_TEST

START_TEST(test_delete_answers_every_waiter_404_and_resumes_it)
{
	struct client *a = full_queue(), *p[2] = { client_open(),
					   client_open() };
	struct client *c = client_open(), *d = client_open();

	send_str(p[0], "PUT q 1\r\nb\r\nPING\r\n");
	send_str(p[1], "PUT q 1\r\nc\r\nPING\r\n");
	send_str(c, "GET e 60000\r\nPING\r\n");
	ck_assert_uint_eq(queue_named("q")->nproducers, 2);
	ck_assert_uint_eq(queue_named("e")->nconsumers, 1);

	send_str(d, "DELETE q\r\nDELETE e\r\n");
	expect(d, "200 DELETED\r\n200 DELETED\r\n");
	/* Each parked body is skipped; the request behind it runs. */
	expect(p[0], "404 NO_QUEUE q\r\n200 PONG\r\n");
	expect(p[1], "404 NO_QUEUE q\r\n200 PONG\r\n");
	expect(c, "404 NO_QUEUE e\r\n200 PONG\r\n");
	ck_assert_ptr_null(queue_named("q"));
	ck_assert_ptr_null(queue_named("e"));
	ck_assert_int_eq(p[0]->conn->state, CONN_READ_LINE);
	ck_assert_int_eq(c->conn->state, CONN_READ_LINE);
	client_close(a);
	client_close(p[0]);
	client_close(p[1]);
	client_close(c);
	client_close(d);
}
END_TEST

START_TEST(test_drain_refuses_parked_producers_and_keeps_serving_consumers)
{
	struct client *a = full_queue(), *p[2] = { client_open(),
					   client_open() };
	struct client *g = client_open();

	send_str(p[0], "PUT q 1\r\nb\r\nPING\r\n");
	send_str(p[1], "PUT q 1\r\nc\r\n");
	ck_assert_uint_eq(queue_named("q")->nproducers, 2);

	drain = drain_start(srv);
	expect(p[0], "503 SHUTTING_DOWN\r\n200 PONG\r\n");
	expect(p[1], "503 SHUTTING_DOWN\r\n");
	ck_assert_uint_eq(queue_named("q")->nproducers, 0);
	/* What was queued is still delivered; new PUTs are refused. */
	send_str(g, "GET q\r\nPUT q 1\r\nd\r\n");
	expect(g, "200 MSG 1 1\r\na\r\n503 SHUTTING_DOWN\r\n");
	client_close(a);
	client_close(p[0]);
	client_close(p[1]);
	client_close(g);
}
END_TEST

START_TEST(test_rejudge_answers_parked_producers_by_the_new_policy)
{
	struct client *a = full_queue(), *p[2] = { client_open(),
					   client_open() };
	struct queue *q;

	send_str(p[0], "PUT q 1\r\nb\r\n");
	send_str(p[1], "PUT q 1\r\nc\r\n");
	q = queue_named("q");
	/* What a reload does once a queue's settings changed. */
	q->set.policy = PROTO_POLICY_DROP_NEWEST;
	deliver_rejudge(srv, q);
	settle();
	expect(p[0], "202 DROPPED q\r\n");
	expect(p[1], "202 DROPPED q\r\n");
	ck_assert_uint_eq(q->nproducers, 0);
	ck_assert_uint_eq(queue_depth(q), 1);
	client_close(a);
	client_close(p[0]);
	client_close(p[1]);
}
END_TEST

/*
 * A parked PUT refused by a reload's new policy is told when to retry
 * as one refused by its timeout is: counting those still waiting behind
 * it, not itself (it once counted itself too, one gap more).
 */
START_TEST(test_rejudge_retry_hint_counts_those_behind_only)
{
	struct client *a = full_queue(),
	              *p[2] = { client_open(), client_open() };
	struct queue *q;

	send_str(p[0], "PUT q 1\r\nb\r\n");
	send_str(p[1], "PUT q 1\r\nc\r\n");
	q = queue_named("q");
	ck_assert_uint_eq(q->nproducers, 2);
	q->drain_gap_ms = 100;
	q->set.policy = PROTO_POLICY_REJECT;
	deliver_rejudge(srv, q);
	expect(p[0], "503 FULL q retry_after_ms=200\r\n");
	expect(p[1], "503 FULL q retry_after_ms=100\r\n");
	ck_assert_uint_eq(q->nproducers, 0);
	client_close(a);
	client_close(p[0]);
	client_close(p[1]);
}
END_TEST

/*
 * n pipelined PUTs of q (4-digit bodies 0001...) and n GETs, with a PING
 * after every tenth request on both sides when pings is set.
 */
static void
pipeline_pair(struct client *p, struct client *c, int n, bool pings)
{
	size_t cap = (size_t)n * 24 + 64, plen = 0, clen = 0;
	char *pb = malloc(cap), *cb = malloc(cap);

	ck_assert(pb != NULL && cb != NULL);
	for (int i = 1; i <= n; i++) {
		plen += (size_t)sprintf(pb + plen, "PUT q 4\r\n%04d\r\n", i);
		clen += (size_t)sprintf(cb + clen, "GET q 60000\r\n");
		if (pings && i % 10 == 0) {
			plen += (size_t)sprintf(pb + plen, "PING\r\n");
			clen += (size_t)sprintf(cb + clen, "PING\r\n");
		}
	}
	/* Each side fits in one read-ahead, so one read takes it all. */
	ck_assert_uint_le(plen, srv->cfg.input_readahead);
	ck_assert_uint_le(clen, srv->cfg.input_readahead);
	send_raw(p, pb, plen);
	send_raw(c, cb, clen);
	free(pb);
	free(cb);
}

/* The answers pipeline_pair()'s clients must get, in this order. */
static void
expect_pair(struct client *p, struct client *c, int n, bool pings)
{
	char want[64];

	for (int i = 1; i <= n; i++) {
		snprintf(want, sizeof want, "200 QUEUED %d\r\n", i);
		expect(p, want);
		snprintf(want, sizeof want, "200 MSG %d 4\r\n%04d\r\n", i, i);
		expect(c, want);
		if (pings && i % 10 == 0) {
			expect(p, "200 PONG\r\n");
			expect(c, "200 PONG\r\n");
		}
	}
}

START_TEST(test_capacity_one_moves_a_pipelined_pair_in_order_in_one_pass)
{
	enum { N = 100 };
	struct client *a = client_open(), *p = client_open();
	struct client *c = client_open();
	struct queue *q;

	send_str(a, "CREATE q capacity=1\r\n");
	expect(a, "201 CREATED\r\n");
	q = queue_named("q");
	pipeline_pair(p, c, N, true);
	/*
	 * One poll: whichever side runs first parks at once (a full queue,
	 * or an empty one); from then on each wakes the other, and the pass
	 * alternates them from the run list until both run dry.
	 */
	one_iteration();
	ck_assert_uint_eq(q->stat.puts, N);
	ck_assert_uint_eq(q->stat.gets, N);
	ck_assert(TAILQ_EMPTY(&srv->runq));
	receive(p);
	receive(c);
	/* Everything was written by the end of that pass, in order. */
	expect_pair(p, c, N, true);
	expect_nothing(p);
	expect_nothing(c);
	ck_assert_uint_eq(queue_depth(q), 0);
	ck_assert_int_eq(p->conn->state, CONN_READ_LINE);
	ck_assert_int_eq(c->conn->state, CONN_READ_LINE);
	client_close(a);
	client_close(p);
	client_close(c);
}
END_TEST

START_TEST(test_woken_producers_and_consumers_keep_arrival_order)
{
	struct client *a = full_queue(),
	              *p[2] = { client_open(), client_open() };
	struct client *c[2] = { client_open(), client_open() };
	struct client *g = client_open();
	struct queue *q = queue_named("q");

	/* Two producers park, each with a second PUT behind the first. */
	send_str(p[0], "PUT q 1\r\nb\r\nPUT q 1\r\nd\r\n");
	send_str(p[1], "PUT q 1\r\nc\r\nPUT q 1\r\ne\r\n");
	assert_line(&q->producers, p, 2);
	/*
	 * Five GETs in one read: each of the first two removals admits the
	 * first parked producer, in the order they parked.  The woken
	 * producers' second PUTs run later in the same pass, once the
	 * GETs' own run has parked on the empty queue: d is handed to the
	 * waiting GET, e stored for the last one.
	 */
	send_str(g,
	    "GET q\r\nGET q\r\nGET q\r\nGET q 60000\r\n"
	    "GET q 60000\r\n");
	expect(g,
	    "200 MSG 1 1\r\na\r\n200 MSG 2 1\r\nb\r\n"
	    "200 MSG 3 1\r\nc\r\n200 MSG 4 1\r\nd\r\n"
	    "200 MSG 5 1\r\ne\r\n");
	expect(p[0], "200 QUEUED 2\r\n200 QUEUED 4\r\n");
	expect(p[1], "200 QUEUED 3\r\n200 QUEUED 5\r\n");

	/* Consumers: two wait; one PUT burst serves them in turn. */
	send_str(c[0], "GET q 60000\r\nGET q 60000\r\n");
	send_str(c[1], "GET q 60000\r\n");
	assert_line(&q->consumers, c, 2);
	send_str(g, "PUT q 1\r\nf\r\nPUT q 1\r\ng\r\nPUT q 1\r\nh\r\n");
	expect(g, "200 QUEUED 6\r\n200 QUEUED 7\r\n200 QUEUED 8\r\n");
	expect(c[0], "200 MSG 6 1\r\nf\r\n200 MSG 8 1\r\nh\r\n");
	expect(c[1], "200 MSG 7 1\r\ng\r\n");
	ck_assert_uint_eq(q->nconsumers, 0);
	client_close(a);
	client_close(p[0]);
	client_close(p[1]);
	client_close(c[0]);
	client_close(c[1]);
	client_close(g);
}
END_TEST

START_TEST(test_the_pass_bound_yields_to_other_connections)
{
	/* Twice as many requests as one pass may serve. */
	enum { N = CONN_PASS_REQUESTS };
	struct client *a = client_open(), *p = client_open();
	struct client *c = client_open(), *b = client_open();
	struct queue *q;

	send_str(a, "CREATE q capacity=1\r\n");
	expect(a, "201 CREATED\r\n");
	q = queue_named("q");
	pipeline_pair(p, c, N, false);
	one_iteration();
	/* The pass stopped at its bound, the pair still on the run list. */
	ck_assert_uint_gt(q->stat.puts, 0);
	ck_assert_uint_lt(q->stat.puts, N);
	ck_assert(!TAILQ_EMPTY(&srv->runq));
	/* Another client is served at the next poll, ahead of the rest. */
	send_raw(b, "PING\r\n", 6);
	one_iteration();
	receive(b);
	expect(b, "200 PONG\r\n");
	/* And the pair finishes, every message once and in order. */
	expect_pair(p, c, N, false);
	expect_nothing(p);
	expect_nothing(c);
	ck_assert_uint_eq(q->stat.gets, N);
	client_close(a);
	client_close(p);
	client_close(c);
	client_close(b);
}
END_TEST

START_TEST(test_a_timer_left_by_an_earlier_wait_does_not_end_a_later_one)
{
	struct client *c = client_open(), *p = client_open();
	uint64_t deadline;

	/* A short wait, ended by a message: its timer is left pending. */
	send_str(c, "GET q 100\r\n");
	send_str(p, "PUT q 1\r\na\r\n");
	expect(c, "200 MSG 1 1\r\na\r\n");
	/* A longer wait: the old timer fires first, and must re-arm. */
	send_str(c, "GET q 60000\r\n");
	ck_assert_int_eq(c->conn->state, CONN_WAIT_MESSAGE);
	ck_assert(!c->conn->timer_current);
	deadline = clock_now_ms() + EXPECT_MS;
	while (!c->conn->timer_current && clock_now_ms() < deadline) {
		struct pollfd pf = { c->fd, POLLIN, 0 };

		settle();
		poll(&pf, 1, 1);
	}
	ck_assert(c->conn->timer_current);
	expect_nothing(c);
	ck_assert_int_eq(c->conn->state, CONN_WAIT_MESSAGE);
	/* Still waiting, in line, and served when a message comes. */
	send_str(p, "PUT q 1\r\nb\r\n");
	expect(c, "200 MSG 2 1\r\nb\r\n");
	client_close(c);
	client_close(p);
}
END_TEST

START_TEST(test_close_answers_parked_producers_410_and_resumes_them)
{
	struct client *a = full_queue(), *p[2] = { client_open(),
					   client_open() };
	struct client *c = client_open();

	send_str(p[0], "PUT q 1\r\nb\r\nPING\r\n");
	send_str(p[1], "PUT q 1\r\nc\r\nPUT q 1\r\nd\r\n");
	ck_assert_uint_eq(queue_named("q")->nproducers, 2);

	send_str(c, "CLOSE q\r\n");
	expect(c, "200 CLOSED\r\n");
	/* Each parked body is skipped; the requests behind it run. */
	expect(p[0], "410 CLOSED q\r\n200 PONG\r\n");
	expect(p[1], "410 CLOSED q\r\n410 CLOSED q\r\n");
	ck_assert_uint_eq(queue_named("q")->nproducers, 0);
	ck_assert_int_eq(p[1]->conn->state, CONN_READ_LINE);
	/* What was stored is still delivered, then the end. */
	send_str(c, "GET q\r\nGET q 60000\r\nPING\r\n");
	expect(c, "200 MSG 1 1\r\na\r\n410 CLOSED q\r\n200 PONG\r\n");
	client_close(a);
	client_close(p[0]);
	client_close(p[1]);
	client_close(c);
}
END_TEST

START_TEST(test_last_ack_on_closed_queue_wakes_every_consumer_with_410)
{
	struct client *w = client_open(), *g[2] = { client_open(),
					   client_open() };

	send_str(w, "PUT q 1\r\na\r\nRESERVE q\r\nCLOSE q\r\n");
	expect(w, "200 QUEUED 1\r\n200 MSG 1 1\r\na\r\n200 CLOSED\r\n");
	/* A reservation may come back: they wait, in order. */
	send_str(g[0], "GET q 60000\r\nPING\r\n");
	send_str(g[1], "RESERVE q 60000\r\nPING\r\n");
	assert_line(&queue_named("q")->consumers, g, 2);
	expect_nothing(g[0]);
	send_str(w, "ACK 1\r\n");
	expect(w, "200 ACKED\r\n");
	expect(g[0], "410 CLOSED q\r\n200 PONG\r\n");
	expect(g[1], "410 CLOSED q\r\n200 PONG\r\n");
	ck_assert_uint_eq(queue_named("q")->nconsumers, 0);
	client_close(w);
	client_close(g[0]);
	client_close(g[1]);
}
END_TEST

START_TEST(test_put_whose_body_is_still_arriving_when_the_queue_closes_410)
{
	struct client *p = client_open(), *c = client_open();

	send_str(c, "CREATE q\r\n");
	expect(c, "201 CREATED\r\n");
	/* Judged open from its line; its body is not all there yet. */
	send_str(p, "PUT q 6\r\nhal");
	ck_assert_int_eq(p->conn->state, CONN_READ_BODY);
	send_str(c, "CLOSE q\r\n");
	expect(c, "200 CLOSED\r\n");
	send_str(p, "f!\r\nPING\r\n");
	expect(p, "410 CLOSED q\r\n200 PONG\r\n");
	ck_assert_uint_eq(queue_depth(queue_named("q")), 0);
	client_close(p);
	client_close(c);
}
END_TEST

START_TEST(test_drain_end_answers_waiting_consumers_503)
{
	struct client *g = client_open(), *w = client_open();

	send_str(w, "PUT q 1\r\na\r\nRESERVE q\r\n");
	expect(w, "200 QUEUED 1\r\n200 MSG 1 1\r\na\r\n");
	send_str(g, "GET q 60000\r\n");
	drain = drain_start(srv);
	/* A reservation is out: the drain waits, and so does the GET. */
	expect_nothing(g);
	drain_end(drain);
	expect(g, "503 SHUTTING_DOWN\r\n");
	ck_assert_uint_eq(queue_named("q")->nconsumers, 0);
	client_close(g);
	client_close(w);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("inproc");

	signal(SIGPIPE, SIG_IGN);
	TEST(s, test_pipelined_requests_are_answered_in_order_in_one_pass);
	TEST(s, test_parked_producers_resume_in_the_order_they_came);
	TEST(s, test_waiting_consumers_are_woken_in_the_order_they_came);
	TEST(s, test_delete_answers_every_waiter_404_and_resumes_it);
	TEST(s,
	    test_drain_refuses_parked_producers_and_keeps_serving_consumers);
	TEST(s, test_rejudge_answers_parked_producers_by_the_new_policy);
	TEST(s, test_rejudge_retry_hint_counts_those_behind_only);
	TEST(s, test_capacity_one_moves_a_pipelined_pair_in_order_in_one_pass);
	TEST(s, test_woken_producers_and_consumers_keep_arrival_order);
	TEST(s, test_the_pass_bound_yields_to_other_connections);
	TEST(s, test_a_timer_left_by_an_earlier_wait_does_not_end_a_later_one);
	TEST(s, test_close_answers_parked_producers_410_and_resumes_them);
	TEST(s, test_last_ack_on_closed_queue_wakes_every_consumer_with_410);
	TEST(s,
	    test_put_whose_body_is_still_arriving_when_the_queue_closes_410);
	TEST(s, test_drain_end_answers_waiting_consumers_503);
	return test_run(s);
}
