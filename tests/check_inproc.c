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
	char buf[16384];   /* received, not yet expected */
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
	TEST(s, test_close_answers_parked_producers_410_and_resumes_them);
	TEST(s, test_last_ack_on_closed_queue_wakes_every_consumer_with_410);
	TEST(s,
	    test_put_whose_body_is_still_arriving_when_the_queue_closes_410);
	TEST(s, test_drain_end_answers_waiting_consumers_503);
	return test_run(s);
}
