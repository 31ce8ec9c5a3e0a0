/*
 * check_reserve.c - at-least-once delivery against the real sluiced:
 * RESERVE, ACK, NACK, the return of a closed connection's reservations,
 * leases (the lease_ms extension), the per-connection reservation
 * limit, and how reservations meet capacity, STATS, DELETE and PURGE.
 *
 * Every test starts its own daemon (harness.h) and talks raw protocol.
 * Where a test needs the daemon to have reached a state (a producer
 * parked, a consumer waiting), it polls STATS on another connection
 * until it says so; nothing waits on a clock.  The last test case is
 * the worker-pool soak of issue 4: workers die at random points and
 * every message must still be acknowledged exactly once.
 */
#include <check.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "testcase.h"

static struct daemon d;

static void
setup(void)
{
	harness_start(&d, NULL);
}

static void
teardown(void)
{
	/* A clean exit: under the sanitizers, also no leak and no error. */
	ck_assert_int_eq(harness_stop(&d), 0);
}

/* Send a request that answers "404 NO_MSG <id>" and check it does. */
static void
expect_no_msg(struct tconn *t, const char *verb, unsigned long long id)
{
	char want[64];

	tc_send(t, "%s %llu\r\n", verb, id);
	snprintf(want, sizeof want, "404 NO_MSG %llu", id);
	tc_expect(t, want);
}

/* ---- RESERVE, ACK, NACK ---- */

START_TEST(test_reserve_then_ack_removes_the_message)
{
	struct tconn *t = tc_open(&d);
	unsigned long long id = tc_put(t, "q", "hello"), got;

	got = tc_reserve(t, "q", "hello");
	ck_assert_uint_eq(got, id);
	ck_assert_int_eq(tc_stat(t, "q", "depth"), 0);
	ck_assert_int_eq(tc_stat(t, "q", "reserved"), 1);
	tc_ack(t, id);
	ck_assert_int_eq(tc_stat(t, "q", "reserved"), 0);
	tc_request(t, "RESERVE q", "204 EMPTY");
	tc_close(t);
}
END_TEST

START_TEST(test_reserve_on_empty_queue_gets_204)
{
	struct tconn *t = tc_open(&d);

	tc_send(t, "RESERVE q\r\nRESERVE q 0\r\n");
	tc_expect(t, "204 EMPTY");
	tc_expect(t, "204 EMPTY");
	tc_close(t);
}
END_TEST

START_TEST(test_reserved_message_is_not_given_to_other_consumers)
{
	struct tconn *a = tc_open(&d), *b = tc_open(&d);

	tc_put(a, "q", "only");
	tc_reserve(a, "q", "only");
	tc_send(b, "GET q\r\nRESERVE q\r\n");
	tc_expect(b, "204 EMPTY");
	tc_expect(b, "204 EMPTY");
	tc_close(a);
	tc_close(b);
}
END_TEST

START_TEST(test_ack_twice_gets_404_no_msg)
{
	struct tconn *t = tc_open(&d);
	unsigned long long id = tc_put(t, "q", "x");

	tc_reserve(t, "q", "x");
	tc_ack(t, id);
	expect_no_msg(t, "ACK", id);
	expect_no_msg(t, "NACK", id);
	tc_close(t);
}
END_TEST

START_TEST(test_ack_of_unknown_id_gets_404_no_msg)
{
	struct tconn *t = tc_open(&d);

	expect_no_msg(t, "ACK", 999);
	expect_no_msg(t, "NACK", 999);
	/* A message that was only ever stored is not reserved either. */
	unsigned long long id = tc_put(t, "q", "x");
	expect_no_msg(t, "ACK", id);
	ck_assert_int_eq(tc_stat(t, "q", "depth"), 1);
	tc_close(t);
}
END_TEST

START_TEST(test_ack_of_a_delivered_get_gets_404_no_msg)
{
	struct tconn *t = tc_open(&d);
	unsigned long long id = tc_put(t, "q", "x");

	tc_send(t, "GET q\r\n");
	tc_expect_msg(t, "x");
	expect_no_msg(t, "ACK", id);
	tc_close(t);
}
END_TEST

START_TEST(test_ack_of_another_connections_reservation_gets_404)
{
	struct tconn *a = tc_open(&d), *b = tc_open(&d);
	unsigned long long id = tc_put(a, "q", "mine");

	tc_reserve(a, "q", "mine");
	expect_no_msg(b, "ACK", id);
	expect_no_msg(b, "NACK", id);
	/* Still a's, untouched. */
	ck_assert_int_eq(tc_stat(b, "q", "reserved"), 1);
	ck_assert_int_eq(tc_stat(b, "q", "depth"), 0);
	tc_ack(a, id);
	tc_close(a);
	tc_close(b);
}
END_TEST

START_TEST(test_nack_puts_message_back_at_the_head)
{
	struct tconn *t = tc_open(&d);
	unsigned long long a = tc_put(t, "q", "a"), b = tc_put(t, "q", "b");

	ck_assert_uint_eq(tc_reserve(t, "q", "a"), a);
	tc_nack(t, a);
	ck_assert_int_eq(tc_stat(t, "q", "depth"), 2);
	ck_assert_int_eq(tc_stat(t, "q", "reserved"), 0);
	/* Again first, with its id. */
	ck_assert_uint_eq(tc_reserve(t, "q", "a"), a);
	ck_assert_uint_eq(tc_reserve(t, "q", "b"), b);
	tc_ack(t, a);
	tc_ack(t, b);
	tc_close(t);
}
END_TEST

START_TEST(test_nack_delivers_to_a_waiting_consumer_at_once)
{
	struct tconn *a = tc_open(&d), *b = tc_open(&d), *s = tc_open(&d);
	unsigned long long id = tc_put(a, "q", "again");

	tc_reserve(a, "q", "again");
	tc_send(b, "RESERVE q 10000\r\n");
	tc_await_stat(s, "q", "waiting_consumers", 1);
	tc_nack(a, id);
	ck_assert_uint_eq(tc_expect_msg(b, "again"), id);
	expect_no_msg(a, "ACK", id);
	tc_ack(b, id);
	tc_close(a);
	tc_close(b);
	tc_close(s);
}
END_TEST

START_TEST(test_waiting_reserve_takes_a_new_message)
{
	struct tconn *c = tc_open(&d), *p = tc_open(&d);
	unsigned long long id;

	tc_send(c, "RESERVE q 10000\r\n");
	tc_await_stat(p, "q", "waiting_consumers", 1);
	id = tc_put(p, "q", "fresh");
	ck_assert_uint_eq(tc_expect_msg(c, "fresh"), id);
	/* Handed straight over, yet reserved like any other. */
	ck_assert_int_eq(tc_stat(p, "q", "reserved"), 1);
	tc_ack(c, id);
	ck_assert_int_eq(tc_stat(p, "q", "reserved"), 0);
	tc_close(c);
	tc_close(p);
}
END_TEST

START_TEST(test_pipelined_acks_in_any_order)
{
	struct tconn *t = tc_open(&d);
	unsigned long long id[3];

	for (int i = 0; i < 3; i++)
		id[i] = tc_put(t, "q", "m");
	tc_send(t, "RESERVE q\r\nRESERVE q\r\nRESERVE q\r\n");
	for (int i = 0; i < 3; i++)
		ck_assert_uint_eq(tc_expect_msg(t, "m"), id[i]);
	tc_send(t, "ACK %llu\r\nNACK %llu\r\nACK %llu\r\n", id[2], id[0],
	    id[1]);
	tc_expect(t, "200 ACKED");
	tc_expect(t, "200 REQUEUED");
	tc_expect(t, "200 ACKED");
	ck_assert_int_eq(tc_stat(t, "q", "depth"), 1);
	ck_assert_uint_eq(tc_reserve(t, "q", "m"), id[0]);
	tc_close(t);
}
END_TEST

/* ---- reservations and the queue's bounds ---- */

START_TEST(test_reserved_message_counts_toward_capacity)
{
	struct tconn *t = tc_open(&d);
	unsigned long long a;

	tc_request(t, "CREATE q capacity=2 policy=reject", "201 CREATED");
	a = tc_put(t, "q", "a");
	tc_put(t, "q", "b");
	tc_reserve(t, "q", "a");
	tc_send(t, "PUT q 1\r\nc\r\n");
	tc_expect_prefix(t, "503 FULL q");
	tc_ack(t, a);
	tc_put(t, "q", "c");
	tc_close(t);
}
END_TEST

START_TEST(test_reserved_message_counts_toward_max_bytes)
{
	struct tconn *t = tc_open(&d);
	unsigned long long a;

	tc_request(t, "CREATE q max_bytes=10 policy=reject", "201 CREATED");
	a = tc_put(t, "q", "123456");
	tc_reserve(t, "q", "123456");
	ck_assert_int_eq(tc_stat(t, "q", "bytes"), 6);
	tc_send(t, "PUT q 6\r\n654321\r\n");
	tc_expect_prefix(t, "503 FULL q");
	tc_ack(t, a);
	ck_assert_int_eq(tc_stat(t, "q", "bytes"), 0);
	tc_put(t, "q", "654321");
	tc_close(t);
}
END_TEST

START_TEST(test_parked_producer_resumes_on_ack_not_on_reserve)
{
	struct tconn *c = tc_open(&d), *p = tc_open(&d), *s = tc_open(&d);
	unsigned long long a, b;

	tc_request(c, "CREATE q capacity=1", "201 CREATED");
	a = tc_put(c, "q", "a");
	tc_send(p, "PUT q 1\r\nb\r\n");
	tc_await_stat(s, "q", "blocked_producers", 1);
	tc_reserve(c, "q", "a");
	/* The reservation still fills the queue: the producer waits on. */
	ck_assert_int_eq(tc_stat(s, "q", "blocked_producers"), 1);
	ck_assert(tc_quiet(p, 0));
	/* NACK makes it ready again: still no room. */
	tc_nack(c, a);
	ck_assert_int_eq(tc_stat(s, "q", "blocked_producers"), 1);
	tc_reserve(c, "q", "a");
	tc_ack(c, a);
	b = tc_expect_queued(p);
	ck_assert_uint_eq(tc_reserve(c, "q", "b"), b);
	tc_close(c);
	tc_close(p);
	tc_close(s);
}
END_TEST

START_TEST(test_parked_producer_resumes_when_returned_message_is_taken)
{
	struct tconn *c = tc_open(&d), *p = tc_open(&d), *s = tc_open(&d);

	tc_request(s, "CREATE q capacity=1", "201 CREATED");
	tc_put(s, "q", "a");
	tc_reserve(c, "q", "a");
	tc_send(p, "PUT q 1\r\nb\r\n");
	tc_await_stat(s, "q", "blocked_producers", 1);
	/* The message comes back ready, and still fills the queue. */
	tc_close(c);
	tc_await_stat(s, "q", "depth", 1);
	ck_assert_int_eq(tc_stat(s, "q", "blocked_producers"), 1);
	tc_send(s, "GET q\r\n");
	tc_expect_msg(s, "a");
	tc_expect_queued(p);
	tc_close(p);
	tc_close(s);
}
END_TEST

START_TEST(test_waiting_reserve_gets_parked_put_after_ack)
{
	struct tconn *a = tc_open(&d), *b = tc_open(&d), *p = tc_open(&d);
	struct tconn *s = tc_open(&d);
	unsigned long long x, y;

	tc_request(s, "CREATE q capacity=1", "201 CREATED");
	x = tc_put(s, "q", "x");
	tc_reserve(a, "q", "x");
	/* A waiting RESERVE would hold the message: no room for it yet. */
	tc_send(b, "RESERVE q 10000\r\n");
	tc_await_stat(s, "q", "waiting_consumers", 1);
	tc_send(p, "PUT q 1\r\ny\r\n");
	tc_await_stat(s, "q", "blocked_producers", 1);
	tc_ack(a, x);
	y = tc_expect_queued(p);
	ck_assert_uint_eq(tc_expect_msg(b, "y"), y);
	ck_assert_int_eq(tc_stat(s, "q", "reserved"), 1);
	tc_close(a);
	tc_close(b);
	tc_close(p);
	tc_close(s);
}
END_TEST

/* ---- return of a closed connection's reservations ---- */

/* a reserves two of three messages and goes away by `how`. */
static void
check_return_on_close(int how)
{
	struct tconn *a = tc_open(&d), *b = tc_open(&d);
	unsigned long long id[3];

	id[0] = tc_put(b, "q", "one");
	id[1] = tc_put(b, "q", "two");
	id[2] = tc_put(b, "q", "three");
	tc_reserve(a, "q", "one");
	tc_reserve(a, "q", "two");
	if (how == 0) {
		tc_close(a);
	} else if (how == 1) {
		tc_close_rst(a);
	} else {
		/* End of file only: it could still read, but counts as gone. */
		shutdown(a->fd, SHUT_WR);
	}
	tc_await_stat(b, "q", "depth", 3);
	ck_assert_int_eq(tc_stat(b, "q", "reserved"), 0);
	ck_assert_uint_eq(tc_reserve(b, "q", "one"), id[0]);
	ck_assert_uint_eq(tc_reserve(b, "q", "two"), id[1]);
	ck_assert_uint_eq(tc_reserve(b, "q", "three"), id[2]);
	ck_assert_int_eq(tc_stat(b, "q", "redelivered"), 2);
	if (how == 2)
		tc_close(a);
	tc_close(b);
}

START_TEST(test_closed_consumers_reservations_return_in_order)
{
	check_return_on_close(0);
}
END_TEST

START_TEST(test_reset_consumers_reservations_return_in_order)
{
	check_return_on_close(1);
}
END_TEST

START_TEST(test_half_closed_consumers_reservations_return_in_order)
{
	check_return_on_close(2);
}
END_TEST

START_TEST(test_killed_consumer_reservations_go_to_waiting_consumer)
{
	struct tconn *a = tc_open(&d), *b = tc_open(&d), *s = tc_open(&d);
	unsigned long long one = tc_put(s, "q", "one"), two = tc_put(s, "q",
	    "two");

	tc_reserve(a, "q", "one");
	tc_reserve(a, "q", "two");
	tc_send(b, "RESERVE q 10000\r\n");
	tc_await_stat(s, "q", "waiting_consumers", 1);
	tc_close_rst(a);
	ck_assert_uint_eq(tc_expect_msg(b, "one"), one);
	tc_send(b, "RESERVE q 10000\r\n");
	ck_assert_uint_eq(tc_expect_msg(b, "two"), two);
	tc_ack(b, one);
	tc_ack(b, two);
	ck_assert_int_eq(tc_stat(s, "q", "redelivered"), 2);
	tc_close(b);
	tc_close(s);
}
END_TEST

START_TEST(test_returned_messages_go_before_a_nacked_one_behind_them)
{
	struct tconn *a = tc_open(&d), *b = tc_open(&d);
	unsigned long long one = tc_put(b, "q", "one"), two = tc_put(b, "q",
	    "two");

	/* b's NACKed "two" is at the head; a's "one" comes back before it. */
	tc_reserve(a, "q", "one");
	tc_reserve(b, "q", "two");
	tc_nack(b, two);
	tc_close(a);
	tc_await_stat(b, "q", "depth", 2);
	ck_assert_uint_eq(tc_reserve(b, "q", "one"), one);
	ck_assert_uint_eq(tc_reserve(b, "q", "two"), two);
	tc_close(b);
}
END_TEST

START_TEST(test_reservations_on_several_queues_return_to_each)
{
	struct tconn *a = tc_open(&d), *b = tc_open(&d);
	unsigned long long x1 = tc_put(b, "x", "x1"), y1 = tc_put(b, "y", "y1");
	unsigned long long x2 = tc_put(b, "x", "x2"), y2 = tc_put(b, "y", "y2");

	tc_reserve(a, "x", "x1");
	tc_reserve(a, "y", "y1");
	tc_reserve(a, "x", "x2");
	tc_reserve(a, "y", "y2");
	tc_close(a);
	tc_await_stat(b, "y", "depth", 2);
	tc_await_stat(b, "x", "depth", 2);
	ck_assert_uint_eq(tc_reserve(b, "y", "y1"), y1);
	ck_assert_uint_eq(tc_reserve(b, "x", "x1"), x1);
	ck_assert_uint_eq(tc_reserve(b, "x", "x2"), x2);
	ck_assert_uint_eq(tc_reserve(b, "y", "y2"), y2);
	tc_close(b);
}
END_TEST

START_TEST(test_waiting_consumer_that_closes_returns_its_reservations)
{
	struct tconn *a = tc_open(&d), *s = tc_open(&d);
	unsigned long long one = tc_put(s, "q", "one");

	tc_reserve(a, "q", "one");
	tc_send(a, "RESERVE q 10000\r\n");
	tc_await_stat(s, "q", "waiting_consumers", 1);
	tc_close(a);
	tc_await_stat(s, "q", "waiting_consumers", 0);
	tc_await_stat(s, "q", "depth", 1);
	ck_assert_uint_eq(tc_reserve(s, "q", "one"), one);
	tc_close(s);
}
END_TEST

START_TEST(test_acked_messages_do_not_return_on_close)
{
	struct tconn *a = tc_open(&d), *b = tc_open(&d);
	unsigned long long one = tc_put(b, "q", "one"), two = tc_put(b, "q",
	    "two");

	tc_reserve(a, "q", "one");
	tc_reserve(a, "q", "two");
	tc_ack(a, one);
	tc_close(a);
	tc_await_stat(b, "q", "depth", 1);
	ck_assert_uint_eq(tc_reserve(b, "q", "two"), two);
	tc_request(b, "RESERVE q", "204 EMPTY");
	tc_close(b);
}
END_TEST

START_TEST(test_quit_returns_reservations)
{
	struct tconn *a = tc_open(&d), *b = tc_open(&d);
	unsigned long long one = tc_put(b, "q", "one");

	tc_reserve(a, "q", "one");
	tc_request(a, "QUIT", "200 BYE");
	tc_expect_closed(a);
	tc_close(a);
	tc_await_stat(b, "q", "depth", 1);
	ck_assert_uint_eq(tc_reserve(b, "q", "one"), one);
	tc_close(b);
}
END_TEST

/* ---- leases ---- */

START_TEST(test_lease_end_redelivers_to_a_waiting_consumer)
{
	struct tconn *a = tc_open(&d), *b = tc_open(&d);
	unsigned long long id;

	tc_request(a, "CREATE q lease_ms=200", "201 CREATED");
	ck_assert_int_eq(tc_stat(a, "q", "lease_ms"), 200);
	id = tc_put(a, "q", "slow");
	tc_reserve(a, "q", "slow");
	/* Nothing else is ready: b gets "slow" only if the lease ends. */
	tc_send(b, "RESERVE q 10000\r\n");
	ck_assert_uint_eq(tc_expect_msg(b, "slow"), id);
	/* The lease took it from a: a's ACK comes too late. */
	expect_no_msg(a, "ACK", id);
	ck_assert_int_eq(tc_stat(a, "q", "redelivered"), 1);
	ck_assert_int_eq(tc_stat(a, "q", "reserved"), 1);
	tc_ack(b, id);
	ck_assert_int_eq(tc_stat(a, "q", "reserved"), 0);
	tc_close(a);
	tc_close(b);
}
END_TEST

/*
 * Reservations are bounded in bytes per connection too: on a
 * capacity-0 queue no queue bound counts them.
 */
START_TEST(test_reserved_bytes_per_connection_are_bounded)
{
	struct daemon small;
	struct tconn *a, *p;

	harness_start_with_config(&small, "{\"max_reserved_bytes\": 10}");
	a = tc_open(&small);
	p = tc_open(&small);
	tc_request(a, "CREATE r capacity=0", "201 CREATED");
	for (int i = 0; i < 2; i++) {
		tc_send(a, "RESERVE r 10000\r\n");
		tc_await_stat(p, "r", "waiting_consumers", 1);
		tc_put(p, "r", "sixsix");
		tc_expect_msg(a, "sixsix");
	}
	/* 12 bytes held, over the 10 allowed: refused, nothing taken. */
	tc_request(a, "RESERVE r 10000", "503 TOO_MANY_RESERVED");
	ck_assert_int_eq(tc_stat(p, "r", "waiting_consumers"), 0);
	ck_assert_int_eq(tc_stat(p, "r", "reserved"), 2);
	/* Another connection has its own allowance. */
	tc_send(p, "RESERVE r 10000\r\n");
	tc_await_stat(a, "r", "waiting_consumers", 1);
	tc_close(p);
	/* An ACK brings a back under the bound. */
	tc_request(a, "ACK 1", "200 ACKED");
	tc_send(a, "RESERVE r 0\r\n");
	tc_expect(a, "204 EMPTY");
	tc_close(a);
	ck_assert_int_eq(harness_stop(&small), 0);
}
END_TEST

START_TEST(test_lease_end_returns_reservations_in_order)
{
	struct tconn *a = tc_open(&d), *b = tc_open(&d);
	unsigned long long one, two;

	tc_request(a, "CREATE q lease_ms=100", "201 CREATED");
	one = tc_put(a, "q", "one");
	two = tc_put(a, "q", "two");
	tc_send(a, "RESERVE q\r\nRESERVE q\r\n");
	tc_expect_msg(a, "one");
	tc_expect_msg(a, "two");
	tc_send(b, "RESERVE q 10000\r\n");
	ck_assert_uint_eq(tc_expect_msg(b, "one"), one);
	tc_send(b, "RESERVE q 10000\r\n");
	ck_assert_uint_eq(tc_expect_msg(b, "two"), two);
	expect_no_msg(a, "NACK", one);
	expect_no_msg(a, "ACK", two);
	tc_ack(b, two);
	tc_ack(b, one);
	tc_close(a);
	tc_close(b);
}
END_TEST

START_TEST(test_acked_reservation_does_not_come_back_after_its_lease)
{
	struct tconn *a = tc_open(&d), *b = tc_open(&d);
	unsigned long long one, two;

	tc_request(a, "CREATE q lease_ms=100", "201 CREATED");
	one = tc_put(a, "q", "one");
	two = tc_put(a, "q", "two");
	ck_assert_uint_eq(tc_reserve(a, "q", "one"), one);
	tc_ack(a, one);
	tc_reserve(a, "q", "two");
	/* "one"'s lease would end first: b must see "two", never "one". */
	tc_send(b, "RESERVE q 10000\r\n");
	ck_assert_uint_eq(tc_expect_msg(b, "two"), two);
	tc_ack(b, two);
	ck_assert_int_eq(tc_stat(b, "q", "acks"), 2);
	ck_assert_int_eq(tc_stat(b, "q", "depth"), 0);
	ck_assert_int_eq(tc_stat(b, "q", "reserved"), 0);
	tc_close(a);
	tc_close(b);
}
END_TEST

START_TEST(test_lease_restarts_for_each_delivery)
{
	struct tconn *a = tc_open(&d), *b = tc_open(&d), *c = tc_open(&d);
	unsigned long long id;

	tc_request(a, "CREATE q lease_ms=100", "201 CREATED");
	id = tc_put(a, "q", "hot");
	tc_reserve(a, "q", "hot");
	tc_send(b, "RESERVE q 10000\r\n");
	ck_assert_uint_eq(tc_expect_msg(b, "hot"), id);
	tc_send(c, "RESERVE q 10000\r\n");
	ck_assert_uint_eq(tc_expect_msg(c, "hot"), id);
	expect_no_msg(b, "ACK", id);
	tc_ack(c, id);
	ck_assert_int_eq(tc_stat(a, "q", "redelivered"), 2);
	ck_assert_int_eq(tc_stat(a, "q", "gets"), 3);
	tc_close(a);
	tc_close(b);
	tc_close(c);
}
END_TEST

START_TEST(test_close_after_lease_end_returns_nothing_twice)
{
	struct tconn *a = tc_open(&d), *b = tc_open(&d);
	unsigned long long id;

	tc_request(a, "CREATE q lease_ms=100", "201 CREATED");
	id = tc_put(a, "q", "x");
	tc_reserve(a, "q", "x");
	tc_send(b, "RESERVE q 10000\r\n");
	ck_assert_uint_eq(tc_expect_msg(b, "x"), id);
	tc_close(a);
	tc_await_stat(b, NULL, "connections", 1);
	ck_assert_int_eq(tc_stat(b, "q", "depth"), 0);
	tc_ack(b, id);
	tc_close(b);
}
END_TEST

START_TEST(test_create_compares_lease_ms)
{
	struct tconn *t = tc_open(&d);

	tc_request(t, "CREATE q lease_ms=200", "201 CREATED");
	tc_request(t, "CREATE q lease_ms=200", "200 EXISTS");
	tc_request(t, "CREATE q lease_ms=300", "409 CONFLICT q");
	tc_request(t, "CREATE q", "409 CONFLICT q");
	tc_request(t, "CREATE r", "201 CREATED");
	ck_assert_int_eq(tc_stat(t, "r", "lease_ms"), 0);
	tc_close(t);
}
END_TEST

/* ---- the reservation limit ---- */

#define MAX_RESERVED 1024

START_TEST(test_reserve_beyond_limit_gets_503_too_many_reserved)
{
	struct tconn *a = tc_open(&d), *b = tc_open(&d);
	unsigned long long first = 0;
	char body[16];

	tc_request(a, "CREATE q capacity=4096", "201 CREATED");
	for (int i = 0; i <= MAX_RESERVED; i++)
		tc_send(a, "PUT q %d\r\n%d\r\n",
		    snprintf(body, sizeof body, "%d", i), i);
	for (int i = 0; i <= MAX_RESERVED; i++)
		tc_expect_queued(a);
	for (int i = 0; i < MAX_RESERVED; i++)
		tc_send(a, "RESERVE q\r\n");
	for (int i = 0; i < MAX_RESERVED; i++) {
		snprintf(body, sizeof body, "%d", i);
		unsigned long long id = tc_expect_msg(a, body);
		if (i == 0)
			first = id;
	}
	tc_send(a, "RESERVE q\r\nRESERVE q 1000\r\n");
	tc_expect(a, "503 TOO_MANY_RESERVED");
	tc_expect(a, "503 TOO_MANY_RESERVED");
	/* The refusal took nothing: the last message is still ready. */
	ck_assert_int_eq(tc_stat(a, "q", "depth"), 1);
	ck_assert_int_eq(tc_stat(a, "q", "reserved"), MAX_RESERVED);
	/* GET is not limited, and the limit is per connection. */
	tc_send(b, "RESERVE q\r\n");
	snprintf(body, sizeof body, "%d", MAX_RESERVED);
	tc_nack(b, tc_expect_msg(b, body));
	tc_send(a, "GET q\r\n");
	tc_expect_msg(a, body);
	/* One ACK makes room for one more. */
	tc_ack(a, first);
	tc_put(a, "q", "more");
	tc_reserve(a, "q", "more");
	tc_request(a, "RESERVE q", "503 TOO_MANY_RESERVED");
	tc_close(a);
	tc_close(b);
}
END_TEST

/* ---- STATS ---- */

START_TEST(test_stats_count_reservations_acks_nacks_and_redeliveries)
{
	struct tconn *t = tc_open(&d);
	unsigned long long a = tc_put(t, "q", "a");

	tc_put(t, "q", "bb");
	tc_reserve(t, "q", "a");
	ck_assert_int_eq(tc_stat(t, "q", "reserved"), 1);
	ck_assert_int_eq(tc_stat(t, "q", "depth"), 1);
	ck_assert_int_eq(tc_stat(t, "q", "bytes"), 3);
	tc_nack(t, a);
	tc_reserve(t, "q", "a");
	tc_ack(t, a);
	tc_send(t, "GET q\r\n");
	tc_expect_msg(t, "bb");
	ck_assert_int_eq(tc_stat(t, "q", "puts"), 2);
	ck_assert_int_eq(tc_stat(t, "q", "gets"), 3);
	ck_assert_int_eq(tc_stat(t, "q", "acks"), 1);
	ck_assert_int_eq(tc_stat(t, "q", "nacks"), 1);
	ck_assert_int_eq(tc_stat(t, "q", "redelivered"), 1);
	ck_assert_int_eq(tc_stat(t, "q", "reserved"), 0);
	ck_assert_int_eq(tc_stat(t, "q", "bytes"), 0);
	tc_close(t);
}
END_TEST

START_TEST(test_server_stats_count_reserved_messages)
{
	struct tconn *t = tc_open(&d);

	tc_put(t, "q", "abc");
	tc_put(t, "q", "de");
	tc_reserve(t, "q", "abc");
	ck_assert_int_eq(tc_stat(t, NULL, "messages"), 2);
	ck_assert_int_eq(tc_stat(t, NULL, "bytes"), 5);
	tc_close(t);
}
END_TEST

/* ---- DELETE and PURGE ---- */

START_TEST(test_delete_discards_reservations_and_their_acks_get_404)
{
	struct tconn *a = tc_open(&d), *b = tc_open(&d);
	unsigned long long one = tc_put(a, "q", "one"), two = tc_put(a, "q",
	    "two");

	tc_reserve(a, "q", "one");
	tc_reserve(a, "q", "two");
	tc_request(b, "DELETE q", "200 DELETED");
	expect_no_msg(a, "ACK", one);
	expect_no_msg(a, "NACK", two);
	ck_assert_int_eq(tc_stat(b, NULL, "messages"), 0);
	/* A queue of that name is new and empty; closing returns nothing. */
	tc_request(b, "RESERVE q", "204 EMPTY");
	tc_close(a);
	tc_await_stat(b, NULL, "connections", 1);
	ck_assert_int_eq(tc_stat(b, "q", "depth"), 0);
	tc_close(b);
}
END_TEST

START_TEST(test_delete_frees_the_reservation_limit)
{
	struct tconn *a = tc_open(&d);

	tc_request(a, "CREATE q capacity=4096", "201 CREATED");
	for (int i = 0; i < MAX_RESERVED; i++)
		tc_send(a, "PUT q 1\r\nx\r\n");
	for (int i = 0; i < MAX_RESERVED; i++)
		tc_expect_queued(a);
	for (int i = 0; i < MAX_RESERVED; i++)
		tc_send(a, "RESERVE q\r\n");
	for (int i = 0; i < MAX_RESERVED; i++)
		tc_expect_msg(a, "x");
	tc_request(a, "DELETE q", "200 DELETED");
	tc_put(a, "q", "y");
	tc_reserve(a, "q", "y");
	tc_close(a);
}
END_TEST

START_TEST(test_delete_with_lease_running)
{
	struct tconn *a = tc_open(&d), *b = tc_open(&d);
	unsigned long long id;

	tc_request(a, "CREATE q lease_ms=100", "201 CREATED");
	id = tc_put(a, "q", "x");
	tc_reserve(a, "q", "x");
	tc_request(a, "DELETE q", "200 DELETED");
	/* The old lease must not touch the new queue, nor a's list. */
	tc_request(b, "CREATE q lease_ms=100", "201 CREATED");
	tc_put(b, "q", "y");
	tc_reserve(b, "q", "y");
	tc_send(a, "RESERVE q 10000\r\n");
	tc_expect_msg(a, "y");
	expect_no_msg(a, "ACK", id);
	tc_close(a);
	tc_close(b);
}
END_TEST

START_TEST(test_purge_leaves_reserved_messages_alone)
{
	struct tconn *t = tc_open(&d);
	unsigned long long one = tc_put(t, "q", "one");

	tc_put(t, "q", "two");
	tc_put(t, "q", "three");
	tc_reserve(t, "q", "one");
	tc_request(t, "PURGE q", "200 PURGED 2");
	ck_assert_int_eq(tc_stat(t, "q", "depth"), 0);
	ck_assert_int_eq(tc_stat(t, "q", "reserved"), 1);
	ck_assert_int_eq(tc_stat(t, "q", "bytes"), 3);
	tc_ack(t, one);
	tc_close(t);
}
END_TEST

START_TEST(test_purged_queue_still_counts_its_reservations)
{
	struct tconn *t = tc_open(&d), *p = tc_open(&d), *s = tc_open(&d);
	unsigned long long one;

	tc_request(t, "CREATE q capacity=1", "201 CREATED");
	one = tc_put(t, "q", "one");
	tc_reserve(t, "q", "one");
	tc_send(p, "PUT q 3\r\ntwo\r\n");
	tc_await_stat(s, "q", "blocked_producers", 1);
	tc_request(t, "PURGE q", "200 PURGED 0");
	ck_assert_int_eq(tc_stat(s, "q", "blocked_producers"), 1);
	ck_assert(tc_quiet(p, 0));
	tc_ack(t, one);
	tc_expect_queued(p);
	tc_close(t);
	tc_close(p);
	tc_close(s);
}
END_TEST

START_TEST(test_purge_discards_returned_messages)
{
	struct tconn *t = tc_open(&d);
	unsigned long long one = tc_put(t, "q", "one");

	tc_reserve(t, "q", "one");
	tc_nack(t, one);
	tc_request(t, "PURGE q", "200 PURGED 1");
	expect_no_msg(t, "ACK", one);
	tc_request(t, "RESERVE q", "204 EMPTY");
	tc_close(t);
}
END_TEST

/* ---- capacity 0 ---- */

/*
 * Where three rendezvous tests start: on a new capacity-0 queue r
 * (CREATE r <opts>), a's waiting RESERVE takes x straight from p's PUT,
 * then p's PUT of y parks, as nobody waits for it.  Returns x's id.
 */
static unsigned long long
rendezvous_x_held_y_parked(struct tconn *s, struct tconn *a, struct tconn *p,
    const char *opts)
{
	char create[64];
	unsigned long long x;

	snprintf(create, sizeof create, "CREATE r %s", opts);
	tc_request(s, create, "201 CREATED");
	tc_send(a, "RESERVE r 10000\r\n");
	tc_await_stat(s, "r", "waiting_consumers", 1);
	x = tc_put(p, "r", "x");
	ck_assert_uint_eq(tc_expect_msg(a, "x"), x);
	tc_send(p, "PUT r 1\r\ny\r\n");
	tc_await_stat(s, "r", "blocked_producers", 1);
	return x;
}

START_TEST(test_rendezvous_reservations_are_outside_the_bound)
{
	struct tconn *a = tc_open(&d), *b = tc_open(&d), *p = tc_open(&d);
	struct tconn *s = tc_open(&d);
	unsigned long long x, y;

	tc_request(s, "CREATE r capacity=0", "201 CREATED");
	tc_send(a, "RESERVE r 10000\r\n");
	tc_await_stat(s, "r", "waiting_consumers", 1);
	x = tc_put(p, "r", "x");
	ck_assert_uint_eq(tc_expect_msg(a, "x"), x);
	/* a holds x, yet the next PUT still goes straight to b. */
	tc_send(b, "RESERVE r 10000\r\n");
	tc_await_stat(s, "r", "waiting_consumers", 1);
	y = tc_put(p, "r", "y");
	ck_assert_uint_eq(tc_expect_msg(b, "y"), y);
	ck_assert_int_eq(tc_stat(s, "r", "reserved"), 2);
	tc_ack(a, x);
	tc_ack(b, y);
	ck_assert_int_eq(tc_stat(s, "r", "reserved"), 0);
	tc_close(a);
	tc_close(b);
	tc_close(p);
	tc_close(s);
}
END_TEST

START_TEST(test_rendezvous_reserve_takes_a_parked_put)
{
	struct tconn *c = tc_open(&d), *p = tc_open(&d), *s = tc_open(&d);
	unsigned long long id;

	tc_request(s, "CREATE r capacity=0", "201 CREATED");
	tc_send(p, "PUT r 1\r\nz\r\n");
	tc_await_stat(s, "r", "blocked_producers", 1);
	tc_send(c, "RESERVE r\r\n");
	id = tc_expect_msg(c, "z");
	ck_assert_uint_eq(tc_expect_queued(p), id);
	tc_ack(c, id);
	tc_close(c);
	tc_close(p);
	tc_close(s);
}
END_TEST

START_TEST(test_rendezvous_nacked_message_goes_before_a_waiting_put)
{
	struct tconn *a = tc_open(&d), *p = tc_open(&d), *s = tc_open(&d);
	unsigned long long x, y;

	x = rendezvous_x_held_y_parked(s, a, p, "capacity=0");
	tc_nack(a, x);
	/* x is back and ready; the parked PUT still waits. */
	ck_assert_int_eq(tc_stat(s, "r", "depth"), 1);
	ck_assert_int_eq(tc_stat(s, "r", "blocked_producers"), 1);
	ck_assert_uint_eq(tc_reserve(a, "r", "x"), x);
	ck_assert(tc_quiet(p, 0));
	tc_send(a, "RESERVE r\r\n");
	y = tc_expect_msg(a, "y");
	tc_expect_queued(p);
	tc_ack(a, x);
	tc_ack(a, y);
	tc_close(a);
	tc_close(p);
	tc_close(s);
}
END_TEST

START_TEST(test_rendezvous_returned_message_goes_to_waiting_consumer)
{
	struct tconn *a = tc_open(&d), *b = tc_open(&d), *p = tc_open(&d);
	struct tconn *s = tc_open(&d);
	unsigned long long x;

	x = rendezvous_x_held_y_parked(s, a, p, "capacity=0");
	/* A waiting consumer now would take y; x must come first. */
	tc_close_rst(a);
	tc_await_stat(s, "r", "depth", 1);
	tc_send(b, "RESERVE r 10000\r\n");
	ck_assert_uint_eq(tc_expect_msg(b, "x"), x);
	tc_send(b, "GET r 10000\r\n");
	tc_expect_msg(b, "y");
	tc_expect_queued(p);
	tc_close(b);
	tc_close(p);
	tc_close(s);
}
END_TEST

START_TEST(test_rendezvous_lease_end_goes_before_a_waiting_put)
{
	struct tconn *a = tc_open(&d), *b = tc_open(&d), *p = tc_open(&d);
	struct tconn *s = tc_open(&d);
	unsigned long long x;

	x = rendezvous_x_held_y_parked(s, a, p, "capacity=0 lease_ms=100");
	/* The lease ends with nobody waiting: x waits, ready. */
	tc_await_stat(s, "r", "depth", 1);
	tc_send(b, "RESERVE r\r\n");
	ck_assert_uint_eq(tc_expect_msg(b, "x"), x);
	tc_ack(b, x);
	tc_send(b, "GET r\r\n");
	tc_expect_msg(b, "y");
	tc_expect_queued(p);
	tc_close(a);
	tc_close(b);
	tc_close(p);
	tc_close(s);
}
END_TEST

/* ---- large bodies (stored apart from the packed log) ---- */

#define BIG_LEN 20000

/* A body of BIG_LEN bytes that shows where a byte went astray. */
static char *
big_body(char tag)
{
	char *b = malloc(BIG_LEN + 1);

	for (int i = 0; i < BIG_LEN; i++)
		b[i] = i % 100 == 0 ? tag : (char)('a' + i % 26);
	b[BIG_LEN] = '\0';
	return b;
}

START_TEST(test_large_reserved_body_survives_nack_close_and_get)
{
	struct tconn *a = tc_open(&d), *b = tc_open(&d);
	char *one = big_body('1'), *two = big_body('2');
	unsigned long long id1 = tc_put(a, "q", one), id2 = tc_put(a, "q", two);

	ck_assert_uint_eq(tc_reserve(a, "q", one), id1);
	tc_nack(a, id1);
	ck_assert_uint_eq(tc_reserve(a, "q", one), id1);
	ck_assert_uint_eq(tc_reserve(a, "q", two), id2);
	tc_close_rst(a);
	tc_await_stat(b, "q", "depth", 2);
	/* Returned, then sent by GET (by reference) and by RESERVE. */
	tc_send(b, "GET q\r\n");
	ck_assert_uint_eq(tc_expect_msg(b, one), id1);
	ck_assert_uint_eq(tc_reserve(b, "q", two), id2);
	tc_ack(b, id2);
	ck_assert_int_eq(tc_stat(b, "q", "bytes"), 0);
	tc_close(b);
	free(one);
	free(two);
}
END_TEST

/* ---- the worker pool of issue 4 ---- */

#define POOL_MESSAGES 5000
#define POOL_WORKERS 4
#define POOL_BATCH_MAX 3    /* reservations a worker holds at once */
#define POOL_LIFE_MAX 30    /* batches a worker finishes before dying */
#define POOL_PUT_BATCH 100  /* pipelined PUTs per round trip */
#define POOL_LEASE_MS 200   /* the lease variant's lease */
#define POOL_HUNG_MAX 256   /* hung connections kept open to the end */

/* Where a worker's connection dies. */
enum death {
	DIE_AFTER_RESERVE_SENT,	 /* the reply never read */
	DIE_AFTER_HEADER,	 /* "200 MSG" read, the body not */
	DIE_BEFORE_ACK,		 /* processed, not acknowledged */
	DIE_MID_ACK_LINE,	 /* half an ACK line, no terminator */
	DIE_AFTER_ACK_SENT,	 /* the ACK's reply never read */
	DIE_HANG,		 /* stops,
	    connection open: only a lease helps */
};

/* Deaths drawn without a lease (a hang would hold messages forever). */
#define DEATHS_WITHOUT_LEASE DIE_HANG
#define DEATHS_WITH_LEASE (DIE_HANG + 1)

/* What the test learned about each message number. */
struct pool_msg {
	unsigned long long id;	      /* from PUT's 200 QUEUED */
	unsigned long long seen_id;   /* from a delivery */
	int deliveries;		      /* MSG lines read */
	int acked;		      /* 200 ACKED read */
	int in_doubt;		      /* ACKs whose reply was never read */
};

struct pool {
	pthread_mutex_t lock;
	pthread_cond_t changed; /* a worker ended */
	struct pool_msg msg[POOL_MESSAGES];
	bool lease;		/* the queue has a lease */
	bool done;		/* every message acknowledged */
	int live;
	int kills;
	int late_acks;		/* 404 NO_MSG: the lease had run out */
	struct tconn *hung[POOL_HUNG_MAX];
	int nhung;
};

struct worker {
	struct pool *pool;
	pthread_t th;
	bool running;
	bool ended;
	int life;		/* batches to finish before dying */
	enum death death;
	bool rst;		/* die with an RST instead of a FIN */
	int batch;		/* reservations to hold at once */
};

static struct pool pool;

/* Parse "job-<n>" into n, failing the test on anything else. */
static int
job_number(const char *body)
{
	int n;

	ck_assert_msg(sscanf(body, "job-%d", &n) == 1 && n >= 0 &&
		n < POOL_MESSAGES, "bad body \"%s\"", body);
	return n;
}

/*
 * Read one delivery: the message number; -1 on 204 EMPTY; -2 when
 * header_only and the header (and so the id) is all that was read.
 */
static int
read_delivery(struct tconn *t, unsigned long long *id, bool header_only)
{
	char body[64];
	size_t len;
	const char *l = tc_line(t);

	if (strcmp(l, "204 EMPTY") == 0)
		return -1;
	ck_assert_msg(sscanf(l, "200 MSG %llu %zu", id, &len) == 2 &&
		len < sizeof body, "worker got \"%s\"", l);
	if (header_only)
		return -2;
	tc_read(t, body, len + 2);
	body[len] = '\0';
	return job_number(body);
}

static void
record_delivery(struct pool *p, int n, unsigned long long id)
{
	pthread_mutex_lock(&p->lock);
	struct pool_msg *m = &p->msg[n];
	ck_assert_msg(m->seen_id == 0 || m->seen_id == id,
	    "job-%d came as %llu and as %llu", n, m->seen_id, id);
	m->seen_id = id;
	m->deliveries++;
	pthread_mutex_unlock(&p->lock);
}

/* ACK job n (message id) and note how it went. */
static void
ack_job(struct pool *p, struct tconn *t, unsigned long long id, int n)
{
	char late[64];
	const char *l;

	tc_send(t, "ACK %llu\r\n", id);
	l = tc_line(t);
	snprintf(late, sizeof late, "404 NO_MSG %llu", id);
	pthread_mutex_lock(&p->lock);
	if (strcmp(l, "200 ACKED") == 0) {
		p->msg[n].acked++;
	} else {
		/* Only a lease may take a reservation from a live worker. */
		ck_assert_msg(p->lease && strcmp(l, late) == 0,
		    "ACK %llu: \"%s\"", id, l);
		p->late_acks++;
	}
	pthread_mutex_unlock(&p->lock);
}

/* Die as told: the connection goes (or hangs on), the worker ends. */
static void
worker_die(struct worker *w, struct tconn *t)
{
	struct pool *p = w->pool;

	if (w->death == DIE_HANG) {
		pthread_mutex_lock(&p->lock);
		if (p->nhung < POOL_HUNG_MAX) {
			p->hung[p->nhung++] = t;
			t = NULL;
		}
		pthread_mutex_unlock(&p->lock);
		if (t == NULL)
			return;
	}
	if (w->rst)
		tc_close_rst(t);
	else
		tc_close(t);
}

/*
 * Reserve up to w->batch messages into ids/nums; returns how many, or
 * -1 when the worker's death came first.
 */
static int
reserve_batch(struct worker *w, struct tconn *t, bool dying,
    unsigned long long *ids, int *nums)
{
	int held = 0;

	while (held < w->batch) {
		/* Wait a little for the first, not at all for the rest. */
		tc_send(t, "RESERVE pool %d\r\n", held ? 0 : 50);
		if (dying && w->death == DIE_AFTER_RESERVE_SENT)
			return -1;
		int n = read_delivery(t, &ids[held],
		    dying && w->death == DIE_AFTER_HEADER);
		if (n == -2)
			return -1;
		if (n == -1)
			break;
		record_delivery(w->pool, n, ids[held]);
		nums[held++] = n;
	}
	return held;
}

/* One worker: reserve a batch, "process" it, ACK it, until told to die. */
static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct pool *p = w->pool;
	struct tconn *t = tc_open(&d);
	unsigned long long ids[POOL_BATCH_MAX];
	int nums[POOL_BATCH_MAX];

	for (;;) {
		bool dying = w->life == 0, done;

		pthread_mutex_lock(&p->lock);
		done = p->done;
		pthread_mutex_unlock(&p->lock);
		if (done)
			break;
		int held = reserve_batch(w, t, dying, ids, nums);
		if (held < 0)
			goto die;
		if (held == 0)
			continue;
		if (dying && (w->death == DIE_BEFORE_ACK ||
				 w->death == DIE_HANG))
			goto die;
		for (int i = 0; i < held; i++) {
			bool last = dying && i == held - 1;
			if (last && w->death == DIE_MID_ACK_LINE) {
				tc_send(t, "ACK %llu", ids[i]);
				goto die;
			}
			if (last && w->death == DIE_AFTER_ACK_SENT) {
				tc_send(t, "ACK %llu\r\n", ids[i]);
				pthread_mutex_lock(&p->lock);
				p->msg[nums[i]].in_doubt++;
				pthread_mutex_unlock(&p->lock);
				goto die;
			}
			ack_job(p, t, ids[i], nums[i]);
		}
		if (w->life > 0)
			w->life--;
	}
	tc_close(t);
	t = NULL;
die:
	if (t != NULL)
		worker_die(w, t);
	pthread_mutex_lock(&p->lock);
	w->ended = true;
	p->live--;
	pthread_cond_signal(&p->changed);
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* Give slot w a new worker whose fate is drawn from the seeded rand. */
static void
worker_start(struct worker *w, struct pool *p)
{
	w->pool = p;
	w->life = rand() % (POOL_LIFE_MAX + 1);
	w->death = (enum death)(rand() % (p->lease ? DEATHS_WITH_LEASE
						    : DEATHS_WITHOUT_LEASE));
	w->rst = rand() % 2;
	w->batch = 1 + rand() % POOL_BATCH_MAX;
	w->ended = false;
	w->running = true;
	p->live++;
	ck_assert_int_eq(pthread_create(&w->th, NULL, worker_main, w), 0);
}

/* The producer: every job number, in order, in pipelined batches. */
static void *
producer_main(void *arg)
{
	struct pool *p = arg;
	struct tconn *t = tc_open(&d);
	char body[32];

	for (int base = 0; base < POOL_MESSAGES; base += POOL_PUT_BATCH) {
		int end = base + POOL_PUT_BATCH;
		if (end > POOL_MESSAGES)
			end = POOL_MESSAGES;
		for (int n = base; n < end; n++)
			tc_send(t, "PUT pool %d\r\n%s\r\n",
			    snprintf(body, sizeof body, "job-%d", n),
			    body);
		for (int n = base; n < end; n++) {
			unsigned long long id = tc_expect_queued(t);
			pthread_mutex_lock(&p->lock);
			p->msg[n].id = id;
			pthread_mutex_unlock(&p->lock);
		}
	}
	tc_close(t);
	return NULL;
}

/* True once the daemon holds nothing of the pool: all acknowledged. */
static bool
pool_drained(struct tconn *s)
{
	return tc_stat(s, "pool", "puts") == POOL_MESSAGES &&
	    tc_stat(s, "pool", "depth") == 0 &&
	    tc_stat(s, "pool", "reserved") == 0;
}

/* Replace dead workers until the daemon says every job is done. */
static void
pool_run(struct pool *p, struct worker *w, struct tconn *s)
{
	pthread_mutex_lock(&p->lock);
	for (int i = 0; i < POOL_WORKERS; i++)
		worker_start(&w[i], p);
	while (!p->done) {
		/* Wake for a death, or now and then to ask the daemon. */
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 20 * 1000000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		if (p->live == POOL_WORKERS)
			pthread_cond_timedwait(&p->changed, &p->lock, &until);
		for (int i = 0; i < POOL_WORKERS; i++) {
			if (!w[i].running || !w[i].ended)
				continue;
			pthread_mutex_unlock(&p->lock);
			pthread_join(w[i].th, NULL);
			pthread_mutex_lock(&p->lock);
			w[i].running = false;
			p->kills++;
			worker_start(&w[i], p);
		}
		pthread_mutex_unlock(&p->lock);
		bool drained = pool_drained(s);
		pthread_mutex_lock(&p->lock);
		p->done = drained;
	}
	pthread_mutex_unlock(&p->lock);
	for (int i = 0; i < POOL_WORKERS; i++)
		if (w[i].running)
			pthread_join(w[i].th, NULL);
	for (int i = 0; i < p->nhung; i++)
		tc_close(p->hung[i]);
}

/*
 * _i 0: no lease, workers die by closing.  _i 1: lease_ms, and some
 * workers hang with their connection open, so only the lease brings
 * their messages back; a live worker's ACK may then come too late.
 */
START_TEST(test_killed_workers_lose_no_message_and_ack_each_once)
{
	struct worker w[POOL_WORKERS] = { 0 };
	struct tconn *s = tc_open(&d);
	struct pool *p = &pool;
	unsigned seed = 4;
	pthread_t producer;
	long long redelivered;
	int dups = 0;

	if (getenv("SLUICE_TEST_SEED") != NULL)
		seed = (unsigned)strtoul(getenv("SLUICE_TEST_SEED"), NULL, 0);
	printf("worker pool%s: seed %u (SLUICE_TEST_SEED)\n",
	    _i ? " with lease" : "", seed);
	fflush(stdout);
	srand(seed);
	memset(p, 0, sizeof *p);
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->changed, NULL);
	p->lease = _i == 1;
	if (p->lease)
		tc_send(s, "CREATE pool capacity=256 lease_ms=%d\r\n",
		    POOL_LEASE_MS);
	else
		tc_send(s, "CREATE pool capacity=256\r\n");
	tc_expect(s, "201 CREATED");
	ck_assert_int_eq(pthread_create(&producer, NULL, producer_main, p), 0);
	pool_run(p, w, s);
	pthread_join(producer, NULL);

	/*
	 * The daemon holds nothing, so each message was acknowledged; an
	 * ACK whose reply was never read may or may not have counted, so
	 * the daemon's own count settles it: exactly one per message.
	 */
	for (int n = 0; n < POOL_MESSAGES; n++) {
		struct pool_msg *m = &p->msg[n];
		ck_assert_msg(m->deliveries > 0, "job-%d never delivered", n);
		ck_assert_msg(m->seen_id == m->id,
		    "job-%d: id %llu, came as %llu", n, m->id, m->seen_id);
		ck_assert_msg(m->acked <= 1, "job-%d acknowledged %d times", n,
		    m->acked);
		ck_assert_msg(m->acked == 1 || m->in_doubt > 0,
		    "job-%d lost: never acknowledged", n);
		dups += m->deliveries - 1;
	}
	ck_assert_int_eq(tc_stat(s, "pool", "acks"), POOL_MESSAGES);
	redelivered = tc_stat(s, "pool", "redelivered");
	ck_assert_int_eq(tc_stat(s, "pool", "gets"),
	    POOL_MESSAGES + redelivered);
	/* Some deliveries died unseen (the reply was never read). */
	ck_assert_int_le(dups, redelivered);
	/* The run did what it is for: workers died holding messages. */
	ck_assert_int_gt(p->kills, 0);
	ck_assert_int_gt(dups, 0);
	printf("worker pool%s: %d messages, %d workers killed (%d hung),"
	       " %d duplicate deliveries seen, %lld redelivered by the"
	       " daemon, %d ACKs after the lease\n",
	    _i ? " with lease" : "", POOL_MESSAGES, p->kills, p->nhung, dups,
	    redelivered, p->late_acks);
	tc_close(s);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("reserve");

	/* ack_nack */
	TEST(s, test_reserve_then_ack_removes_the_message);
	TEST(s, test_reserve_on_empty_queue_gets_204);
	TEST(s, test_reserved_message_is_not_given_to_other_consumers);
	TEST(s, test_ack_twice_gets_404_no_msg);
	TEST(s, test_ack_of_unknown_id_gets_404_no_msg);
	TEST(s, test_ack_of_a_delivered_get_gets_404_no_msg);
	TEST(s, test_ack_of_another_connections_reservation_gets_404);
	TEST(s, test_nack_puts_message_back_at_the_head);
	TEST(s, test_nack_delivers_to_a_waiting_consumer_at_once);
	TEST(s, test_waiting_reserve_takes_a_new_message);
	TEST(s, test_pipelined_acks_in_any_order);

	/* bounds */
	TEST(s, test_reserved_message_counts_toward_capacity);
	TEST(s, test_reserved_message_counts_toward_max_bytes);
	TEST(s, test_parked_producer_resumes_on_ack_not_on_reserve);
	TEST(s, test_parked_producer_resumes_when_returned_message_is_taken);
	TEST(s, test_waiting_reserve_gets_parked_put_after_ack);

	/* return */
	TEST(s, test_closed_consumers_reservations_return_in_order);
	TEST(s, test_reset_consumers_reservations_return_in_order);
	TEST(s, test_half_closed_consumers_reservations_return_in_order);
	TEST(s, test_killed_consumer_reservations_go_to_waiting_consumer);
	TEST(s, test_returned_messages_go_before_a_nacked_one_behind_them);
	TEST(s, test_reservations_on_several_queues_return_to_each);
	TEST(s, test_waiting_consumer_that_closes_returns_its_reservations);
	TEST(s, test_acked_messages_do_not_return_on_close);
	TEST(s, test_quit_returns_reservations);

	/* lease */
	TEST(s, test_lease_end_redelivers_to_a_waiting_consumer);
	TEST(s, test_lease_end_returns_reservations_in_order);
	TEST(s, test_acked_reservation_does_not_come_back_after_its_lease);
	TEST(s, test_lease_restarts_for_each_delivery);
	TEST(s, test_close_after_lease_end_returns_nothing_twice);
	TEST(s, test_create_compares_lease_ms);

	/* limit */
	TEST(s, test_reserved_bytes_per_connection_are_bounded);
	TEST(s, test_reserve_beyond_limit_gets_503_too_many_reserved);
	TEST(s, test_delete_frees_the_reservation_limit);

	/* stats */
	TEST(s, test_stats_count_reservations_acks_nacks_and_redeliveries);
	TEST(s, test_server_stats_count_reserved_messages);

	/* delete_purge */
	TEST(s, test_delete_discards_reservations_and_their_acks_get_404);
	TEST(s, test_delete_with_lease_running);
	TEST(s, test_purge_leaves_reserved_messages_alone);
	TEST(s, test_purged_queue_still_counts_its_reservations);
	TEST(s, test_purge_discards_returned_messages);

	/* rendezvous */
	TEST(s, test_rendezvous_reservations_are_outside_the_bound);
	TEST(s, test_rendezvous_reserve_takes_a_parked_put);
	TEST(s, test_rendezvous_nacked_message_goes_before_a_waiting_put);
	TEST(s, test_rendezvous_returned_message_goes_to_waiting_consumer);
	TEST(s, test_rendezvous_lease_end_goes_before_a_waiting_put);

	/* large */
	TEST(s, test_large_reserved_body_survives_nack_close_and_get);

	/* worker_pool */
	test_add(s, "test_killed_workers_lose_no_message_and_ack_each_once",
	    test_killed_workers_lose_no_message_and_ack_each_once, setup,
	    teardown, 20, 2);

	return test_run(s);
}
