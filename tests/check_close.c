/*
 * check_close.c - protocol 1.1's end of stream, dead letters and
 * delayed retries against the real sluiced, one rule of the spec per
 * test: CLOSE and 410 CLOSED, max_deliveries with dead_letter, and
 * NACK with a delay.
 *
 * Written from the protocol document alone.  As in the other suites, a
 * test that needs another connection to be waiting polls STATS until
 * it is (tc_await_stat); the delay tests measure that a message is not
 * ready before its delay, never that it is ready by a deadline.  A few
 * tests start a daemon of their own (a configuration, a shutdown, the
 * 100,000-message scale test); the rest share the fixture's.  Each test
 * is a test case of its own (testcase.h): CK_RUN_CASE=name runs one.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "testcase.h"
#include "testrand.h"

static struct daemon d;

static void
setup(void)
{
	harness_start(&d, NULL);
}

static void
teardown(void)
{
	ck_assert_int_eq(harness_stop(&d), 0);
}

static bool
stat_bool(struct tconn *t, const char *q, const char *field)
{
	json_t *j = tc_stats(t, q), *v;
	bool b;

	ck_assert_ptr_nonnull(j);
	v = json_object_get(j, field);
	ck_assert_msg(json_is_boolean(v), "STATS: no boolean \"%s\"", field);
	b = json_is_true(v);
	json_decref(j);
	return b;
}

/* ---- CLOSE ---- */

START_TEST(test_close_answers_closed_and_again_when_already_closed)
{
	struct tconn *t = tc_open(&d);

	tc_request(t, "CREATE q", "201 CREATED");
	ck_assert(!stat_bool(t, "q", "closed"));
	tc_request(t, "CLOSE q", "200 CLOSED");
	ck_assert(stat_bool(t, "q", "closed"));
	tc_request(t, "CLOSE q", "200 CLOSED");
	tc_request(t, "close q", "200 CLOSED");
	tc_close(t);
}
END_TEST

START_TEST(test_close_of_unknown_queue_is_404_and_creates_nothing)
{
	struct tconn *t = tc_open(&d);

	tc_request(t, "CLOSE nosuch", "404 NO_QUEUE nosuch");
	ck_assert_ptr_null(tc_stats(t, "nosuch"));
	tc_send(t, "CLOSE\r\n");
	tc_expect_prefix(t, "400 BAD_REQUEST");
	tc_close(t);
}
END_TEST

START_TEST(test_put_into_closed_queue_gets_410_and_stores_nothing)
{
	struct tconn *t = tc_open(&d);

	tc_put(t, "q", "before");
	tc_request(t, "CLOSE q", "200 CLOSED");
	tc_send_put(t, "q", "after");
	tc_expect(t, "410 CLOSED q");
	/* The body was read and discarded: the connection is in step. */
	tc_sync(t);
	ck_assert_int_eq(tc_stat(t, "q", "depth"), 1);
	ck_assert_int_eq(tc_stat(t, "q", "puts"), 1);
	tc_close(t);
}
END_TEST

START_TEST(test_410_wins_over_413)
{
	struct tconn *t = tc_open(&d);
	static char big[2048];

	tc_request(t, "CREATE q max_bytes=1024", "201 CREATED");
	tc_request(t, "CLOSE q", "200 CLOSED");
	memset(big, 'x', sizeof big);
	tc_send_put_bytes(t, "q", big, sizeof big, NULL);
	tc_expect(t, "410 CLOSED q");
	tc_sync(t);
	tc_close(t);
}
END_TEST

START_TEST(test_410_wins_over_503_full)
{
	struct tconn *t = tc_open(&d);

	tc_request(t, "CREATE q capacity=1 policy=reject", "201 CREATED");
	tc_put(t, "q", "one");
	tc_request(t, "CLOSE q", "200 CLOSED");
	tc_send_put(t, "q", "two");
	tc_expect(t, "410 CLOSED q");
	/* And over a PUT with timeout 0 on a full block queue. */
	tc_request(t, "CREATE b capacity=1", "201 CREATED");
	tc_put(t, "b", "one");
	tc_request(t, "CLOSE b", "200 CLOSED");
	tc_send_put_bytes(t, "b", "two", 3, "0");
	tc_expect(t, "410 CLOSED b");
	tc_close(t);
}
END_TEST

START_TEST(test_parked_puts_get_410_when_the_queue_closes)
{
	struct tconn *a = tc_open(&d), *b = tc_open(&d), *s = tc_open(&d);

	tc_request(s, "CREATE q capacity=1", "201 CREATED");
	tc_put(s, "q", "stored");
	tc_send_put(a, "q", "a");
	tc_await_stat(s, "q", "blocked_producers", 1);
	tc_send_put(b, "q", "b");
	tc_await_stat(s, "q", "blocked_producers", 2);
	tc_request(s, "CLOSE q", "200 CLOSED");
	tc_expect(a, "410 CLOSED q");
	tc_expect(b, "410 CLOSED q");
	/* Both connections go on serving requests. */
	tc_sync(a);
	tc_sync(b);
	ck_assert_int_eq(tc_stat(s, "q", "blocked_producers"), 0);
	ck_assert_int_eq(tc_stat(s, "q", "depth"), 1);
	tc_close(a);
	tc_close(b);
	tc_close(s);
}
END_TEST

START_TEST(test_closed_queue_delivers_what_is_left_then_410)
{
	struct tconn *t = tc_open(&d);
	unsigned long long a = tc_put(t, "q", "a"), b = tc_put(t, "q", "b");

	tc_request(t, "CLOSE q", "200 CLOSED");
	tc_send(t, "GET q\r\n");
	ck_assert_uint_eq(tc_expect_msg(t, "a"), a);
	tc_send(t, "RESERVE q\r\n");
	ck_assert_uint_eq(tc_expect_msg(t, "b"), b);
	tc_ack(t, b);
	/* Drained: 410 instead of 204 EMPTY, and instead of waiting. */
	tc_request(t, "GET q", "410 CLOSED q");
	tc_request(t, "RESERVE q", "410 CLOSED q");
	tc_request(t, "GET q 60000", "410 CLOSED q");
	tc_request(t, "RESERVE q 60000", "410 CLOSED q");
	tc_close(t);
}
END_TEST

START_TEST(test_waiting_consumers_get_410_when_an_empty_queue_closes)
{
	struct tconn *a = tc_open(&d), *b = tc_open(&d), *s = tc_open(&d);

	tc_request(s, "CREATE q", "201 CREATED");
	tc_send(a, "GET q 60000\r\n");
	tc_send(b, "RESERVE q\r\nRESERVE q 60000\r\n");
	tc_expect(b, "204 EMPTY");
	tc_await_stat(s, "q", "waiting_consumers", 2);
	tc_request(s, "CLOSE q", "200 CLOSED");
	tc_expect(a, "410 CLOSED q");
	tc_expect(b, "410 CLOSED q");
	ck_assert_int_eq(tc_stat(s, "q", "waiting_consumers"), 0);
	tc_close(a);
	tc_close(b);
	tc_close(s);
}
END_TEST

START_TEST(test_outstanding_reservation_keeps_get_waiting_and_ack_ends_it)
{
	struct tconn *w = tc_open(&d), *g = tc_open(&d), *s = tc_open(&d);
	unsigned long long id = tc_put(s, "q", "held");

	tc_reserve(w, "q", "held");
	tc_request(s, "CLOSE q", "200 CLOSED");
	/* A reservation may come back: no 410 yet. */
	tc_request(g, "GET q", "204 EMPTY");
	tc_request(g, "RESERVE q 0", "204 EMPTY");
	tc_send(g, "GET q 60000\r\n");
	tc_await_stat(s, "q", "waiting_consumers", 1);
	ck_assert(tc_quiet(g, 50));
	tc_ack(w, id);
	tc_expect(g, "410 CLOSED q");
	tc_close(w);
	tc_close(g);
	tc_close(s);
}
END_TEST

START_TEST(test_nack_on_closed_queue_makes_the_message_deliverable_first)
{
	struct tconn *w = tc_open(&d), *g = tc_open(&d), *s = tc_open(&d);
	unsigned long long id = tc_put(s, "q", "back");

	tc_reserve(w, "q", "back");
	tc_request(s, "CLOSE q", "200 CLOSED");
	tc_send(g, "GET q 60000\r\n");
	tc_await_stat(s, "q", "waiting_consumers", 1);
	tc_nack(w, id);
	ck_assert_uint_eq(tc_expect_msg(g, "back"), id);
	tc_request(g, "GET q", "410 CLOSED q");
	tc_close(w);
	tc_close(g);
	tc_close(s);
}
END_TEST

START_TEST(test_reservation_returned_by_close_is_delivered_then_410)
{
	struct tconn *w = tc_open(&d), *g = tc_open(&d), *s = tc_open(&d);
	unsigned long long id = tc_put(s, "q", "again");

	tc_reserve(w, "q", "again");
	tc_request(s, "CLOSE q", "200 CLOSED");
	tc_send(g, "GET q 60000\r\n");
	tc_await_stat(s, "q", "waiting_consumers", 1);
	tc_close_rst(w);
	ck_assert_uint_eq(tc_expect_msg(g, "again"), id);
	tc_request(g, "GET q 60000", "410 CLOSED q");
	tc_close(g);
	tc_close(s);
}
END_TEST

START_TEST(test_create_on_closed_queue_compares_settings)
{
	struct tconn *t = tc_open(&d);

	tc_request(t, "CREATE q capacity=5", "201 CREATED");
	tc_request(t, "CLOSE q", "200 CLOSED");
	tc_request(t, "CREATE q capacity=5", "200 EXISTS");
	tc_request(t, "CREATE q capacity=6", "409 CONFLICT q");
	ck_assert(stat_bool(t, "q", "closed"));
	tc_close(t);
}
END_TEST

START_TEST(test_delete_ends_the_closed_state)
{
	struct tconn *t = tc_open(&d);

	tc_request(t, "CREATE q", "201 CREATED");
	tc_request(t, "CLOSE q", "200 CLOSED");
	tc_request(t, "DELETE q", "200 DELETED");
	/* Auto-created again, open. */
	tc_put(t, "q", "new");
	ck_assert(!stat_bool(t, "q", "closed"));
	tc_close(t);
}
END_TEST

START_TEST(test_purge_on_closed_queue_then_consumers_get_410)
{
	struct tconn *t = tc_open(&d);

	tc_put(t, "q", "x");
	tc_request(t, "CLOSE q", "200 CLOSED");
	tc_request(t, "PURGE q", "200 PURGED 1");
	tc_request(t, "GET q", "410 CLOSED q");
	tc_close(t);
}
END_TEST

START_TEST(test_closing_rendezvous_queue_answers_waiting_put_and_get)
{
	struct tconn *p = tc_open(&d), *s = tc_open(&d), *g = tc_open(&d);

	tc_request(s, "CREATE r capacity=0", "201 CREATED");
	tc_send_put(p, "r", "x");
	tc_await_stat(s, "r", "blocked_producers", 1);
	tc_request(s, "CLOSE r", "200 CLOSED");
	tc_expect(p, "410 CLOSED r");
	tc_request(g, "GET r 60000", "410 CLOSED r");

	tc_request(s, "CREATE r2 capacity=0", "201 CREATED");
	tc_send(g, "RESERVE r2 60000\r\n");
	tc_await_stat(s, "r2", "waiting_consumers", 1);
	tc_request(s, "CLOSE r2", "200 CLOSED");
	tc_expect(g, "410 CLOSED r2");
	tc_close(p);
	tc_close(s);
	tc_close(g);
}
END_TEST

START_TEST(test_pipelined_requests_behind_a_410_are_served)
{
	struct tconn *t = tc_open(&d);

	tc_request(t, "CREATE q", "201 CREATED");
	tc_request(t, "CLOSE q", "200 CLOSED");
	tc_send(t, "PUT q 1\r\nx\r\nGET q 60000\r\nPING\r\n");
	tc_expect(t, "410 CLOSED q");
	tc_expect(t, "410 CLOSED q");
	tc_expect(t, "200 PONG");
	tc_close(t);
}
END_TEST

START_TEST(test_server_stats_show_closed_queue)
{
	struct tconn *t = tc_open(&d);
	json_t *j, *q;

	tc_request(t, "CREATE q", "201 CREATED");
	tc_request(t, "CLOSE q", "200 CLOSED");
	j = tc_stats(t, NULL);
	q = json_object_get(json_object_get(j, "queues"), "q");
	ck_assert(json_is_true(json_object_get(q, "closed")));
	json_decref(j);
	tc_close(t);
}
END_TEST

/* ---- dead letters ---- */

START_TEST(test_message_moves_to_dead_letter_after_max_deliveries)
{
	struct tconn *t = tc_open(&d);
	unsigned long long id, next;

	tc_request(t, "CREATE q max_deliveries=2 dead_letter=dlq",
	    "201 CREATED");
	id = tc_put(t, "q", "poison");
	next = tc_put(t, "q", "fine");
	ck_assert_uint_eq(tc_reserve(t, "q", "poison"), id);
	tc_nack(t, id);
	ck_assert_uint_eq(tc_reserve(t, "q", "poison"), id);
	/* Second delivery comes back: dead-lettered, still 200 REQUEUED. */
	tc_send(t, "NACK %llu\r\n", id);
	tc_expect(t, "200 REQUEUED dead_lettered=moved");
	ck_assert_int_eq(tc_stat(t, "q", "dead_lettered"), 1);
	ck_assert_int_eq(tc_stat(t, "q", "depth"), 1);
	/* The worker goes on with the next one. */
	ck_assert_uint_eq(tc_reserve(t, "q", "fine"), next);
	/* Keeping its id and body, at the end of the dead-letter queue. */
	tc_send(t, "GET dlq\r\n");
	ck_assert_uint_eq(tc_expect_msg(t, "poison"), id);
	tc_close(t);
}
END_TEST

START_TEST(test_closing_connection_counts_as_coming_back)
{
	struct tconn *w = tc_open(&d), *s = tc_open(&d);
	unsigned long long id;

	tc_request(s, "CREATE q max_deliveries=1 dead_letter=dlq",
	    "201 CREATED");
	id = tc_put(s, "q", "crash");
	tc_reserve(w, "q", "crash");
	tc_close_rst(w);
	tc_await_stat(s, "q", "dead_lettered", 1);
	ck_assert_int_eq(tc_stat(s, "q", "depth"), 0);
	ck_assert_int_eq(tc_stat(s, "q", "reserved"), 0);
	tc_send(s, "GET dlq\r\n");
	ck_assert_uint_eq(tc_expect_msg(s, "crash"), id);
	tc_close(s);
}
END_TEST

START_TEST(test_get_and_reserve_both_count_as_deliveries)
{
	struct tconn *t = tc_open(&d);
	unsigned long long id;

	tc_request(t, "CREATE q max_deliveries=2 dead_letter=dlq",
	    "201 CREATED");
	id = tc_put(t, "q", "m");
	tc_reserve(t, "q", "m");
	tc_nack(t, id);
	/* The second delivery is a GET: it is gone, never dead-lettered. */
	tc_send(t, "GET q\r\n");
	tc_expect_msg(t, "m");
	ck_assert_int_eq(tc_stat(t, "q", "dead_lettered"), 0);
	ck_assert_ptr_null(tc_stats(t, "dlq"));
	tc_close(t);
}
END_TEST

START_TEST(test_without_dead_letter_queue_the_message_is_discarded)
{
	struct tconn *t = tc_open(&d);
	unsigned long long id;

	tc_request(t, "CREATE q max_deliveries=1", "201 CREATED");
	id = tc_put(t, "q", "m");
	tc_reserve(t, "q", "m");
	tc_send(t, "NACK %llu\r\n", id);
	tc_expect(t, "200 REQUEUED dead_lettered=discarded");
	ck_assert_int_eq(tc_stat(t, "q", "dead_lettered"), 1);
	ck_assert_int_eq(tc_stat(t, "q", "depth"), 0);
	ck_assert_int_eq(tc_stat(t, "q", "bytes"), 0);
	tc_request(t, "GET q", "204 EMPTY");
	tc_close(t);
}
END_TEST

START_TEST(test_full_dead_letter_queue_discards_and_never_blocks)
{
	struct tconn *t = tc_open(&d);
	unsigned long long a, b;

	tc_request(t, "CREATE dlq capacity=1", "201 CREATED");
	tc_request(t, "CREATE q max_deliveries=1 dead_letter=dlq",
	    "201 CREATED");
	a = tc_put(t, "q", "a");
	b = tc_put(t, "q", "b");
	tc_reserve(t, "q", "a");
	tc_reserve(t, "q", "b");
	tc_send(t, "NACK %llu\r\nNACK %llu\r\n", a, b);
	tc_expect(t, "200 REQUEUED dead_lettered=moved");
	tc_expect(t, "200 REQUEUED dead_lettered=discarded");
	ck_assert_int_eq(tc_stat(t, "q", "dead_lettered"), 2);
	ck_assert_int_eq(tc_stat(t, "dlq", "depth"), 1);
	tc_send(t, "GET dlq\r\n");
	ck_assert_uint_eq(tc_expect_msg(t, "a"), a);
	tc_request(t, "GET dlq", "204 EMPTY");
	tc_close(t);
}
END_TEST

START_TEST(test_closed_dead_letter_queue_discards)
{
	struct tconn *t = tc_open(&d);
	unsigned long long id;

	tc_request(t, "CREATE dlq", "201 CREATED");
	tc_request(t, "CLOSE dlq", "200 CLOSED");
	tc_request(t, "CREATE q max_deliveries=1 dead_letter=dlq",
	    "201 CREATED");
	id = tc_put(t, "q", "m");
	tc_reserve(t, "q", "m");
	tc_send(t, "NACK %llu\r\n", id);
	tc_expect(t, "200 REQUEUED dead_lettered=discarded");
	ck_assert_int_eq(tc_stat(t, "q", "dead_lettered"), 1);
	ck_assert_int_eq(tc_stat(t, "dlq", "depth"), 0);
	tc_request(t, "GET dlq", "410 CLOSED dlq");
	tc_close(t);
}
END_TEST

START_TEST(test_dead_letter_move_hands_to_a_waiting_consumer)
{
	struct tconn *t = tc_open(&d), *g = tc_open(&d);
	unsigned long long id;

	tc_request(t, "CREATE dlq", "201 CREATED");
	tc_request(t, "CREATE q max_deliveries=1 dead_letter=dlq",
	    "201 CREATED");
	id = tc_put(t, "q", "m");
	tc_reserve(t, "q", "m");
	tc_send(g, "GET dlq 60000\r\n");
	tc_await_stat(t, "dlq", "waiting_consumers", 1);
	tc_send(t, "NACK %llu\r\n", id);
	tc_expect(t, "200 REQUEUED dead_lettered=moved");
	ck_assert_uint_eq(tc_expect_msg(g, "m"), id);
	tc_close(t);
	tc_close(g);
}
END_TEST

START_TEST(test_dead_letter_settings_are_validated_and_compared)
{
	struct tconn *t = tc_open(&d);

	tc_send(t, "CREATE q dead_letter=q\r\n");
	tc_expect_prefix(t, "400 BAD_REQUEST");
	tc_send(t, "CREATE q dead_letter=bad/name\r\n");
	tc_expect_prefix(t, "400 BAD_REQUEST");
	tc_send(t, "CREATE q max_deliveries=x\r\n");
	tc_expect_prefix(t, "400 BAD_REQUEST");
	ck_assert_ptr_null(tc_stats(t, "q"));
	tc_request(t, "CREATE q max_deliveries=3 dead_letter=dlq",
	    "201 CREATED");
	tc_request(t, "CREATE q dead_letter=dlq max_deliveries=3",
	    "200 EXISTS");
	tc_request(t, "CREATE q max_deliveries=4 dead_letter=dlq",
	    "409 CONFLICT q");
	tc_request(t, "CREATE q max_deliveries=3", "409 CONFLICT q");
	tc_close(t);
}
END_TEST

START_TEST(test_lease_running_out_counts_as_coming_back)
{
	struct tconn *w = tc_open(&d), *s = tc_open(&d);
	unsigned long long id;

	tc_request(s, "CREATE q lease_ms=50 max_deliveries=1 dead_letter=dlq",
	    "201 CREATED");
	id = tc_put(s, "q", "hung");
	tc_reserve(w, "q", "hung");
	tc_await_stat(s, "q", "dead_lettered", 1);
	/* The lease is over: the old holder no longer has it. */
	tc_send(w, "ACK %llu\r\n", id);
	tc_expect_prefix(w, "404 NO_MSG");
	tc_send(s, "GET dlq\r\n");
	ck_assert_uint_eq(tc_expect_msg(s, "hung"), id);
	tc_close(w);
	tc_close(s);
}
END_TEST

START_TEST(test_dead_letter_goes_to_the_end_of_its_queue)
{
	struct tconn *t = tc_open(&d);
	unsigned long long first, id;

	tc_request(t, "CREATE q max_deliveries=1 dead_letter=dlq",
	    "201 CREATED");
	first = tc_put(t, "dlq", "first");
	id = tc_put(t, "q", "m");
	tc_reserve(t, "q", "m");
	tc_send(t, "NACK %llu\r\n", id);
	tc_expect(t, "200 REQUEUED dead_lettered=moved");
	tc_send(t, "GET dlq\r\n");
	ck_assert_uint_eq(tc_expect_msg(t, "first"), first);
	tc_send(t, "GET dlq\r\n");
	ck_assert_uint_eq(tc_expect_msg(t, "m"), id);
	tc_close(t);
}
END_TEST

START_TEST(test_dead_letter_move_ignores_the_queue_policy)
{
	struct tconn *t = tc_open(&d);
	unsigned long long old, a, b;

	/* A full drop-oldest queue keeps its message: the move is dropped. */
	tc_request(t, "CREATE dlq capacity=1 policy=drop-oldest",
	    "201 CREATED");
	tc_request(t, "CREATE q max_deliveries=1 dead_letter=dlq",
	    "201 CREATED");
	old = tc_put(t, "dlq", "old");
	a = tc_put(t, "q", "a");
	tc_reserve(t, "q", "a");
	tc_send(t, "NACK %llu\r\n", a);
	tc_expect(t, "200 REQUEUED dead_lettered=discarded");
	tc_send(t, "GET dlq\r\n");
	ck_assert_uint_eq(tc_expect_msg(t, "old"), old);
	/* A reject queue with room takes it. */
	tc_request(t, "CREATE rj capacity=1 policy=reject", "201 CREATED");
	tc_request(t, "CREATE q2 max_deliveries=1 dead_letter=rj",
	    "201 CREATED");
	b = tc_put(t, "q2", "b");
	tc_reserve(t, "q2", "b");
	tc_send(t, "NACK %llu\r\n", b);
	tc_expect(t, "200 REQUEUED dead_lettered=moved");
	tc_send(t, "GET rj\r\n");
	ck_assert_uint_eq(tc_expect_msg(t, "b"), b);
	ck_assert_int_eq(tc_stat(t, "q", "dead_lettered"), 1);
	ck_assert_int_eq(tc_stat(t, "q2", "dead_lettered"), 1);
	tc_close(t);
}
END_TEST

START_TEST(test_dead_letter_queue_without_room_for_the_bytes_discards)
{
	struct tconn *t = tc_open(&d);
	unsigned long long id;

	tc_request(t, "CREATE dlq max_bytes=4", "201 CREATED");
	tc_request(t, "CREATE q max_deliveries=1 dead_letter=dlq",
	    "201 CREATED");
	id = tc_put(t, "q", "12345");
	tc_reserve(t, "q", "12345");
	tc_send(t, "NACK %llu\r\n", id);
	tc_expect(t, "200 REQUEUED dead_lettered=discarded");
	ck_assert_int_eq(tc_stat(t, "q", "dead_lettered"), 1);
	ck_assert_int_eq(tc_stat(t, "q", "bytes"), 0);
	ck_assert_int_eq(tc_stat(t, "dlq", "depth"), 0);
	tc_close(t);
}
END_TEST

START_TEST(test_rendezvous_dead_letter_queue_takes_it_only_by_hand_off)
{
	struct tconn *t = tc_open(&d), *g = tc_open(&d);
	unsigned long long a, b;

	tc_request(t, "CREATE dlq capacity=0", "201 CREATED");
	tc_request(t, "CREATE q max_deliveries=1 dead_letter=dlq",
	    "201 CREATED");
	a = tc_put(t, "q", "a");
	b = tc_put(t, "q", "b");
	tc_reserve(t, "q", "a");
	tc_reserve(t, "q", "b");
	/* Nobody waits on dlq: nowhere to put it. */
	tc_send(t, "NACK %llu\r\n", a);
	tc_expect(t, "200 REQUEUED dead_lettered=discarded");
	/* A waiting RESERVE takes the next one. */
	tc_send(g, "RESERVE dlq 60000\r\n");
	tc_await_stat(t, "dlq", "waiting_consumers", 1);
	tc_send(t, "NACK %llu\r\n", b);
	tc_expect(t, "200 REQUEUED dead_lettered=moved");
	ck_assert_uint_eq(tc_expect_msg(g, "b"), b);
	ck_assert_int_eq(tc_stat(t, "q", "dead_lettered"), 2);
	ck_assert_int_eq(tc_stat(t, "dlq", "reserved"), 1);
	tc_close(t);
	tc_close(g);
}
END_TEST

START_TEST(test_dead_lettering_gives_room_to_a_parked_producer)
{
	struct tconn *t = tc_open(&d), *p = tc_open(&d);
	unsigned long long id;

	tc_request(t, "CREATE q capacity=1 max_deliveries=1", "201 CREATED");
	id = tc_put(t, "q", "x");
	tc_reserve(t, "q", "x");
	tc_send_put(p, "q", "y");
	tc_await_stat(t, "q", "blocked_producers", 1);
	tc_send(t, "NACK %llu\r\n", id);
	tc_expect(t, "200 REQUEUED dead_lettered=discarded");
	tc_expect_queued(p);
	tc_send(t, "GET q\r\n");
	tc_expect_msg(t, "y");
	tc_close(t);
	tc_close(p);
}
END_TEST

START_TEST(test_dead_lettering_the_last_message_ends_waits_on_closed_queue)
{
	struct tconn *w = tc_open(&d), *g = tc_open(&d), *s = tc_open(&d);
	unsigned long long id;

	tc_request(s, "CREATE q max_deliveries=1 dead_letter=dlq",
	    "201 CREATED");
	id = tc_put(s, "q", "last");
	tc_reserve(w, "q", "last");
	tc_request(s, "CLOSE q", "200 CLOSED");
	tc_send(g, "RESERVE q 60000\r\n");
	tc_await_stat(s, "q", "waiting_consumers", 1);
	tc_send(w, "NACK %llu\r\n", id);
	tc_expect(w, "200 REQUEUED dead_lettered=moved");
	tc_expect(g, "410 CLOSED q");
	tc_close(w);
	tc_close(g);
	tc_close(s);
}
END_TEST

START_TEST(test_stats_show_dead_letter_settings)
{
	struct tconn *t = tc_open(&d);
	json_t *j;

	tc_request(t, "CREATE q max_deliveries=3 dead_letter=dlq",
	    "201 CREATED");
	j = tc_stats(t, "q");
	ck_assert_int_eq(stats_int(j, "max_deliveries"), 3);
	ck_assert_str_eq(stats_str(j, "dead_letter"), "dlq");
	ck_assert_int_eq(stats_int(j, "dead_lettered"), 0);
	json_decref(j);
	tc_request(t, "CREATE plain", "201 CREATED");
	j = tc_stats(t, "plain");
	ck_assert_int_eq(stats_int(j, "max_deliveries"), 0);
	ck_assert(json_is_null(json_object_get(j, "dead_letter")));
	json_decref(j);
	tc_close(t);
}
END_TEST

/* ---- dead letters without auto-create (a daemon of its own) ---- */

START_TEST(test_missing_dead_letter_queue_discards_without_auto_create)
{
	struct daemon own;
	struct tconn *t;
	unsigned long long id;

	harness_start_with_config(&own, "{\"auto_create\": false}");
	t = tc_open(&own);
	tc_request(t, "CREATE q max_deliveries=1 dead_letter=dlq",
	    "201 CREATED");
	id = tc_put(t, "q", "m");
	tc_reserve(t, "q", "m");
	tc_send(t, "NACK %llu\r\n", id);
	tc_expect(t, "200 REQUEUED dead_lettered=discarded");
	ck_assert_int_eq(tc_stat(t, "q", "dead_lettered"), 1);
	ck_assert_int_eq(tc_stat(t, "q", "depth"), 0);
	ck_assert_ptr_null(tc_stats(t, "dlq"));
	tc_close(t);
	ck_assert_int_eq(harness_stop(&own), 0);
}
END_TEST

/* ---- shutdown answers every waiter (a daemon of its own) ---- */

START_TEST(test_get_waiting_when_the_drain_ends_gets_503)
{
	struct daemon own;
	struct tconn *g, *s;

	harness_start(&own, NULL);
	g = tc_open(&own);
	s = tc_open(&own);
	tc_send(g, "GET q 60000\r\n");
	tc_await_stat(s, "q", "waiting_consumers", 1);
	/* Nothing to drain: the drain ends at once, answering the GET. */
	kill(own.pid, SIGTERM);
	tc_expect(g, "503 SHUTTING_DOWN");
	tc_expect_closed(g);
	ck_assert_int_eq(harness_wait(&own), 0);
	tc_close(g);
	tc_close(s);
}
END_TEST

START_TEST(test_reserve_waiting_when_the_grace_period_ends_gets_503)
{
	struct daemon own;
	struct tconn *w, *g, *s;

	harness_start_with_config(&own, "{\"shutdown_grace_ms\": 300}");
	w = tc_open(&own);
	g = tc_open(&own);
	s = tc_open(&own);
	tc_put(s, "q", "held");
	tc_reserve(w, "q", "held");
	/* The reservation may come back: the consumer waits, and so does
	 * the drain, until its grace period is over. */
	tc_send(g, "RESERVE q 60000\r\n");
	tc_await_stat(s, "q", "waiting_consumers", 1);
	kill(own.pid, SIGTERM);
	tc_expect(g, "503 SHUTTING_DOWN");
	tc_expect_closed(g);
	ck_assert_int_eq(harness_wait(&own), 0);
	tc_close(w);
	tc_close(g);
	tc_close(s);
}
END_TEST

/* ---- delayed retries ---- */

START_TEST(test_delayed_nack_is_not_ready_before_its_delay)
{
	struct tconn *t = tc_open(&d);
	unsigned long long id = tc_put(t, "q", "later"), got;
	uint64_t t0;

	tc_reserve(t, "q", "later");
	t0 = harness_now_ms();
	tc_send(t, "NACK %llu 300\r\n", id);
	tc_expect(t, "200 REQUEUED");
	ck_assert_int_eq(tc_stat(t, "q", "delayed"), 1);
	ck_assert_int_eq(tc_stat(t, "q", "depth"), 0);
	ck_assert_int_eq(tc_stat(t, "q", "reserved"), 0);
	ck_assert_int_eq(tc_stat(t, "q", "bytes"), 5);
	tc_request(t, "GET q", "204 EMPTY");
	tc_send(t, "GET q 10000\r\n");
	got = tc_expect_msg(t, "later");
	ck_assert_uint_eq(got, id);
	ck_assert_uint_ge(harness_now_ms() - t0, 300);
	ck_assert_int_eq(tc_stat(t, "q", "delayed"), 0);
	tc_close(t);
}
END_TEST

START_TEST(test_delayed_message_comes_back_at_the_head)
{
	struct tconn *t = tc_open(&d);
	unsigned long long a = tc_put(t, "q", "a"), b;

	tc_reserve(t, "q", "a");
	tc_send(t, "NACK %llu 100\r\n", a);
	tc_expect(t, "200 REQUEUED");
	/* Wait (as a consumer) until it is ready, then store b behind. */
	tc_send(t, "RESERVE q 10000\r\n");
	ck_assert_uint_eq(tc_expect_msg(t, "a"), a);
	b = tc_put(t, "q", "b");
	tc_send(t, "NACK %llu 1\r\n", a);
	tc_expect(t, "200 REQUEUED");
	tc_await_stat(t, "q", "delayed", 0);
	/* Ready again at the head, before b. */
	tc_send(t, "GET q\r\n");
	ck_assert_uint_eq(tc_expect_msg(t, "a"), a);
	tc_send(t, "GET q\r\n");
	ck_assert_uint_eq(tc_expect_msg(t, "b"), b);
	tc_close(t);
}
END_TEST

START_TEST(test_delayed_message_counts_toward_capacity)
{
	struct tconn *t = tc_open(&d);
	unsigned long long id;

	tc_request(t, "CREATE q capacity=1", "201 CREATED");
	id = tc_put(t, "q", "x");
	tc_reserve(t, "q", "x");
	tc_send(t, "NACK %llu 60000\r\n", id);
	tc_expect(t, "200 REQUEUED");
	tc_send_put_bytes(t, "q", "y", 1, "0");
	tc_expect_prefix(t, "503 FULL q");
	tc_close(t);
}
END_TEST

START_TEST(test_purge_leaves_delayed_messages)
{
	struct tconn *t = tc_open(&d);
	unsigned long long id = tc_put(t, "q", "x");
	json_t *j;

	tc_put(t, "q", "ready");
	tc_reserve(t, "q", "x");
	tc_send(t, "NACK %llu 60000\r\n", id);
	tc_expect(t, "200 REQUEUED");
	tc_request(t, "PURGE q", "200 PURGED 1");
	ck_assert_int_eq(tc_stat(t, "q", "delayed"), 1);
	ck_assert_int_eq(tc_stat(t, "q", "bytes"), 1);
	j = tc_stats(t, NULL);
	ck_assert_int_eq(stats_int(j, "messages"), 1);
	ck_assert_int_eq(stats_int(j, "bytes"), 1);
	json_decref(j);
	tc_close(t);
}
END_TEST

START_TEST(test_delayed_message_keeps_closed_queue_from_being_drained)
{
	struct tconn *t = tc_open(&d);
	unsigned long long id = tc_put(t, "q", "x");

	tc_reserve(t, "q", "x");
	tc_send(t, "NACK %llu 200\r\n", id);
	tc_expect(t, "200 REQUEUED");
	tc_request(t, "CLOSE q", "200 CLOSED");
	tc_request(t, "GET q", "204 EMPTY");
	tc_send(t, "GET q 10000\r\n");
	ck_assert_uint_eq(tc_expect_msg(t, "x"), id);
	tc_request(t, "GET q", "410 CLOSED q");
	tc_close(t);
}
END_TEST

START_TEST(test_delayed_nack_counts_toward_max_deliveries)
{
	struct tconn *t = tc_open(&d);
	unsigned long long id;

	tc_request(t, "CREATE q max_deliveries=1 dead_letter=dlq",
	    "201 CREATED");
	id = tc_put(t, "q", "m");
	tc_reserve(t, "q", "m");
	/* Dead-lettered at once: the delay does not apply. */
	tc_send(t, "NACK %llu 60000\r\n", id);
	tc_expect(t, "200 REQUEUED dead_lettered=moved");
	ck_assert_int_eq(tc_stat(t, "q", "delayed"), 0);
	ck_assert_int_eq(tc_stat(t, "q", "dead_lettered"), 1);
	tc_send(t, "GET dlq\r\n");
	ck_assert_uint_eq(tc_expect_msg(t, "m"), id);
	tc_close(t);
}
END_TEST

START_TEST(test_delete_discards_delayed_messages)
{
	struct tconn *t = tc_open(&d);
	unsigned long long id = tc_put(t, "q", "x");
	json_t *j;

	tc_reserve(t, "q", "x");
	tc_send(t, "NACK %llu 60000\r\n", id);
	tc_expect(t, "200 REQUEUED");
	tc_request(t, "DELETE q", "200 DELETED");
	j = tc_stats(t, NULL);
	ck_assert_int_eq(stats_int(j, "messages"), 0);
	json_decref(j);
	tc_close(t);
}
END_TEST

START_TEST(test_nack_with_bad_delay_is_400)
{
	struct tconn *t = tc_open(&d);
	unsigned long long id = tc_put(t, "q", "x");

	tc_reserve(t, "q", "x");
	tc_send(t, "NACK %llu abc\r\n", id);
	tc_expect_prefix(t, "400 BAD_REQUEST");
	tc_send(t, "NACK %llu 1 2\r\n", id);
	tc_expect_prefix(t, "400 BAD_REQUEST");
	/* Nothing changed: still reserved. */
	ck_assert_int_eq(tc_stat(t, "q", "reserved"), 1);
	tc_close(t);
}
END_TEST

START_TEST(test_delayed_messages_become_ready_in_order_of_their_delays)
{
	struct tconn *t = tc_open(&d), *g = tc_open(&d);
	unsigned long long a = tc_put(t, "q", "a"), b = tc_put(t, "q", "b");
	unsigned long long c = tc_put(t, "q", "c");

	tc_reserve(t, "q", "a");
	tc_reserve(t, "q", "b");
	tc_reserve(t, "q", "c");
	tc_send(g, "GET q 10000\r\nGET q 10000\r\nGET q 10000\r\n");
	tc_await_stat(t, "q", "waiting_consumers", 1);
	tc_send(t, "NACK %llu 600\r\nNACK %llu 200\r\nNACK %llu 400\r\n",
	    a, b, c);
	tc_expect(t, "200 REQUEUED");
	tc_expect(t, "200 REQUEUED");
	tc_expect(t, "200 REQUEUED");
	ck_assert_int_eq(tc_stat(t, "q", "delayed"), 3);
	ck_assert_uint_eq(tc_expect_msg(g, "b"), b);
	ck_assert_uint_eq(tc_expect_msg(g, "c"), c);
	ck_assert_uint_eq(tc_expect_msg(g, "a"), a);
	tc_close(t);
	tc_close(g);
}
END_TEST

START_TEST(test_nack_with_delay_zero_is_ready_at_once)
{
	struct tconn *t = tc_open(&d);
	unsigned long long id = tc_put(t, "q", "x");

	tc_reserve(t, "q", "x");
	tc_send(t, "NACK %llu 0\r\n", id);
	tc_expect(t, "200 REQUEUED");
	ck_assert_int_eq(tc_stat(t, "q", "delayed"), 0);
	tc_send(t, "GET q\r\n");
	ck_assert_uint_eq(tc_expect_msg(t, "x"), id);
	tc_close(t);
}
END_TEST

/* CPU time (user + system) the daemon has used, in milliseconds. */
static uint64_t
daemon_cpu_ms(const struct daemon *dm)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st;
	FILE *f;
	size_t n;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)dm->pid);
	ck_assert_ptr_nonnull(f = fopen(path, "r"));
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* After "pid (comm)": state, then 10 fields, then utime stime. */
	ck_assert_ptr_nonnull(p = strrchr(buf, ')'));
	ck_assert_int_eq(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u "
				       "%*u %*u %llu %llu", &ut, &st), 2);
	return (ut + st) * 1000 / (uint64_t)sysconf(_SC_CLK_TCK);
}

/*
 * The scale test: MANY messages NACKed with delays of
 * DELAY_MIN_MS plus up to DELAY_SPREAD_MS, requests sent BATCH at a
 * time (answers read between batches, so neither side's buffers fill).
 */
#define MANY 100000
#define BATCH 1000
#define DELAY_MIN_MS 3000
#define DELAY_SPREAD_MS 1000

START_TEST(test_100000_delayed_messages_are_never_early_and_cost_no_cpu)
{
	static unsigned long long ids[MANY];
	static uint64_t delay_ms[MANY];
	static bool seen[MANY];
	static char buf[BATCH * 64];
	struct daemon own;
	struct tconn *t, *g;
	uint64_t seed = 0x5eed, t0, cpu0, idle_until, now;
	size_t len;

	harness_start_with_config(&own, "{\"max_reserved\": 100000}");
	t = tc_open(&own);
	g = tc_open(&own);
	tc_request(t, "CREATE q capacity=100000", "201 CREATED");
	for (int i = 0; i < MANY; i += BATCH) {
		len = 0;
		for (int k = i; k < i + BATCH; k++)
			len += (size_t)sprintf(buf + len, "PUT q %d\r\n%*d\r\n",
			    6, 6, k);
		tc_send_raw(t, buf, len);
		for (int k = i; k < i + BATCH; k++)
			ids[k] = tc_expect_queued(t);
	}
	for (int i = 0; i < MANY; i += BATCH) {
		for (int k = 0; k < BATCH; k++)
			tc_send_raw(t, "RESERVE q\r\n", 11);
		for (int k = i; k < i + BATCH; k++) {
			char body[7];
			snprintf(body, sizeof body, "%6d", k);
			ck_assert_uint_eq(tc_expect_msg(t, body), ids[k]);
		}
	}
	t0 = harness_now_ms();
	for (int i = 0; i < MANY; i += BATCH) {
		len = 0;
		for (int k = i; k < i + BATCH; k++) {
			delay_ms[k] = DELAY_MIN_MS +
			    testrand_next(&seed) % DELAY_SPREAD_MS;
			len += (size_t)sprintf(buf + len, "NACK %llu %llu\r\n",
			    ids[k], (unsigned long long)delay_ms[k]);
		}
		tc_send_raw(t, buf, len);
		for (int k = i; k < i + BATCH; k++)
			tc_expect(t, "200 REQUEUED");
	}
	ck_assert_int_eq(tc_stat(t, "q", "delayed"), MANY);
	/*
	 * Until the first is due the daemon has nothing to do: over what is
	 * left of that time (at least half a second) it must stay idle, as
	 * it would not with a timer per message or a polling loop.
	 */
	idle_until = t0 + DELAY_MIN_MS - 200;
	now = harness_now_ms();
	if (idle_until >= now + 500) {
		cpu0 = daemon_cpu_ms(&own);
		usleep((useconds_t)(idle_until - now) * 1000);
		ck_assert_uint_le(daemon_cpu_ms(&own) - cpu0,
		    20 + (idle_until - now) / 20);
	}
	/* Consume them all, each no earlier than its delay after t0. */
	for (int got = 0; got < MANY; got += BATCH) {
		for (int k = 0; k < BATCH; k++)
			tc_send_raw(g, "GET q 10000\r\n", 13);
		for (int k = 0; k < BATCH; k++) {
			unsigned long long id;
			size_t blen;
			char body[9];

			ck_assert_int_eq(sscanf(tc_line(g), "200 MSG %llu %zu",
					     &id, &blen), 2);
			now = harness_now_ms();
			ck_assert_uint_eq(blen, 6);
			tc_read(g, body, 8);
			size_t i = (size_t)(id - ids[0]);
			ck_assert_uint_lt(i, MANY);
			ck_assert_uint_eq(ids[i], id);
			ck_assert(!seen[i]);
			seen[i] = true;
			ck_assert_msg(now >= t0 + delay_ms[i],
			    "message %zu ready %llu ms early", i,
			    (unsigned long long)(t0 + delay_ms[i] - now));
		}
	}
	ck_assert_int_eq(tc_stat(t, "q", "delayed"), 0);
	ck_assert_int_eq(tc_stat(t, "q", "depth"), 0);
	tc_close(t);
	tc_close(g);
	ck_assert_int_eq(harness_stop(&own), 0);
}
END_TEST

/* A test that starts a daemon of its own: no fixture. */
#define TEST_OWN(s, fn, sec) test_add((s), #fn, (fn), NULL, NULL, (sec), 1)

int
main(void)
{
	Suite *s = suite_create("close");

	/* CLOSE, dead letters, delayed retries: one rule of the spec each. */
	TEST(s, test_close_answers_closed_and_again_when_already_closed);
	TEST(s, test_close_of_unknown_queue_is_404_and_creates_nothing);
	TEST(s, test_put_into_closed_queue_gets_410_and_stores_nothing);
	TEST(s, test_410_wins_over_413);
	TEST(s, test_410_wins_over_503_full);
	TEST(s, test_parked_puts_get_410_when_the_queue_closes);
	TEST(s, test_closed_queue_delivers_what_is_left_then_410);
	TEST(s, test_waiting_consumers_get_410_when_an_empty_queue_closes);
	TEST(s, test_outstanding_reservation_keeps_get_waiting_and_ack_ends_it);
	TEST(s, test_nack_on_closed_queue_makes_the_message_deliverable_first);
	TEST(s, test_reservation_returned_by_close_is_delivered_then_410);
	TEST(s, test_create_on_closed_queue_compares_settings);
	TEST(s, test_delete_ends_the_closed_state);
	TEST(s, test_purge_on_closed_queue_then_consumers_get_410);
	TEST(s, test_closing_rendezvous_queue_answers_waiting_put_and_get);
	TEST(s, test_pipelined_requests_behind_a_410_are_served);
	TEST(s, test_server_stats_show_closed_queue);
	TEST(s, test_message_moves_to_dead_letter_after_max_deliveries);
	TEST(s, test_closing_connection_counts_as_coming_back);
	TEST(s, test_get_and_reserve_both_count_as_deliveries);
	TEST(s, test_without_dead_letter_queue_the_message_is_discarded);
	TEST(s, test_full_dead_letter_queue_discards_and_never_blocks);
	TEST(s, test_closed_dead_letter_queue_discards);
	TEST(s, test_dead_letter_move_hands_to_a_waiting_consumer);
	TEST(s, test_dead_letter_settings_are_validated_and_compared);
	TEST(s, test_lease_running_out_counts_as_coming_back);
	TEST(s, test_dead_letter_goes_to_the_end_of_its_queue);
	TEST(s, test_dead_letter_move_ignores_the_queue_policy);
	TEST(s, test_dead_letter_queue_without_room_for_the_bytes_discards);
	TEST(s, test_rendezvous_dead_letter_queue_takes_it_only_by_hand_off);
	TEST(s, test_dead_lettering_gives_room_to_a_parked_producer);
	TEST(s,
	    test_dead_lettering_the_last_message_ends_waits_on_closed_queue);
	TEST(s, test_stats_show_dead_letter_settings);
	TEST(s, test_delayed_nack_is_not_ready_before_its_delay);
	TEST(s, test_delayed_message_comes_back_at_the_head);
	TEST(s, test_delayed_message_counts_toward_capacity);
	TEST(s, test_purge_leaves_delayed_messages);
	TEST(s, test_delayed_message_keeps_closed_queue_from_being_drained);
	TEST(s, test_delayed_nack_counts_toward_max_deliveries);
	TEST(s, test_delete_discards_delayed_messages);
	TEST(s, test_nack_with_bad_delay_is_400);
	TEST(s, test_delayed_messages_become_ready_in_order_of_their_delays);
	TEST(s, test_nack_with_delay_zero_is_ready_at_once);
	/* With a configuration or a shutdown of their own. */
	TEST_OWN(s, test_missing_dead_letter_queue_discards_without_auto_create,
	    0);
	TEST_OWN(s, test_get_waiting_when_the_drain_ends_gets_503, 0);
	TEST_OWN(s, test_reserve_waiting_when_the_grace_period_ends_gets_503,
	    0);
	TEST_OWN(s,
	    test_100000_delayed_messages_are_never_early_and_cost_no_cpu, 120);
	return test_run(s);
}
