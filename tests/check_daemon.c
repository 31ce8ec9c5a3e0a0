/*
 * check_daemon.c - the real sluiced over TCP, checked against
 * PROTOCOL.md: every command but the RESERVE family (check_reserve.c),
 * every 400 row, the four policies, capacity 0, TCP backpressure and
 * the daemon's memory bounds, and clients that vanish at any point.
 *
 * Every test starts its own daemon (a checked fixture), so ids and
 * counters start fresh, and stops it (harness_stop) expecting a clean
 * exit (under ./test.sh --sanitize: also no leak, no sanitizer report).
 * To know that a request waits, a test polls STATS on another
 * connection until blocked_producers or waiting_consumers says so;
 * nothing waits on a clock to stand in for an event.  The few clock
 * reads check a lower bound (a timeout was honoured), never speed.
 *
 * The tests that need other server settings (the connection limit,
 * auto-create off) start the daemon with a config file (-c).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "testcase.h"

/* Server defaults the spec fixes (PROTOCOL.md, "Server defaults"). */
#define DEFAULT_CAPACITY 1024
#define DEFAULT_MAX_BYTES 16777216
#define MESSAGE_LIMIT 1048576
/* The longest request line, terminator included. */
#define LINE_MAX_BYTES 1024

/* How long a test watches for a reply that must not come. */
#define QUIET_MS 50

/*
 * Backpressure: the producer gives up if this many bytes go out without
 * the socket blocking (kernel buffers on loopback hold a few MiB up to
 * some tens), and the daemon may grow by less than RSS_GROWTH_MAX_KB
 * while a client floods it.
 */
#define FLOOD_MAX_BYTES (64ULL * 1024 * 1024)
#define RSS_GROWTH_MAX_KB (32L * 1024)

static struct daemon d;

static void
daemon_setup(void)
{
	harness_start(&d, NULL);
}

static void
daemon_teardown(void)
{
	/* A clean exit: under the sanitizers, also no leak and no report. */
	ck_assert_int_eq(harness_stop(&d), 0);
}

/* ---- requests and replies ---------------------------------------- */

/* Read a 503 FULL for q, with its retry_after_ms=<n> hint. */
static void
expect_full(struct tconn *t, const char *q)
{
	char want[256];
	unsigned long long ms;
	int end = 0;

	snprintf(want, sizeof want, "503 FULL %s ", q);
	const char *l = tc_expect_prefix(t, want);
	const char *hint = strstr(l + strlen(want) - 1, " retry_after_ms=");
	ck_assert_msg(hint != NULL, "no retry_after_ms hint in \"%s\"", l);
	ck_assert_msg(sscanf(hint, " retry_after_ms=%llu%n", &ms, &end) == 1 &&
		(hint[end] == '\0' || hint[end] == ' '),
	    "bad retry_after_ms hint in \"%s\"", l);
}

/* Read "404 NO_QUEUE <q>". */
static void
expect_no_queue(struct tconn *t, const char *q)
{
	char want[256];

	snprintf(want, sizeof want, "404 NO_QUEUE %s", q);
	tc_expect(t, want);
}

/* Read a "400 BAD_REQUEST <reason>"; the reason never holds '='. */
static void
expect_bad_request(struct tconn *t)
{
	const char *l = tc_expect_prefix(t, "400 BAD_REQUEST");

	ck_assert_msg(l[15] == '\0' || l[15] == ' ', "bad line \"%s\"", l);
	ck_assert_msg(strchr(l, '=') == NULL, "'=' in 400 reason: \"%s\"", l);
}

static void
expect_empty(struct tconn *t)
{
	tc_expect(t, "204 EMPTY");
}

/* ---- STATS ------------------------------------------------------- */

/* Assert that the per-queue object j has every field of the spec. */
static void
check_queue_fields(json_t *j, const char *name)
{
	static const char *const ints[] = { "capacity", "max_bytes", "depth",
		"reserved", "bytes", "puts", "gets", "acks", "rejected",
		"dropped", "blocked_producers", "waiting_consumers" };

	ck_assert_str_eq(stats_str(j, "name"), name);
	stats_str(j, "policy");
	for (size_t i = 0; i < sizeof ints / sizeof *ints; i++)
		stats_int(j, ints[i]);
}

/* ---- commands ---------------------------------------------------- */

START_TEST(test_ping_answers_pong)
{
	struct tconn *t = tc_open(&d);

	tc_request(t, "PING", "200 PONG");
	tc_close(t);
}
END_TEST

START_TEST(test_put_then_get_returns_binary_body_intact)
{
	static const char body[] = "a\0b\r\nc\nPUT x 1\r\n\r\0\xff";
	struct tconn *t = tc_open(&d);
	unsigned long long id;

	tc_send_put_bytes(t, "bin", body, sizeof body, NULL);
	id = tc_expect_queued(t);
	tc_send(t, "GET bin\r\n");
	ck_assert_uint_eq(tc_expect_msg_bytes(t, body, sizeof body), id);
	tc_send(t, "GET bin\r\n");
	expect_empty(t);
	tc_close(t);
}
END_TEST

START_TEST(test_empty_body_round_trips)
{
	struct tconn *t = tc_open(&d);
	unsigned long long id;

	tc_send(t, "PUT nil 0\r\n\r\n");
	id = tc_expect_queued(t);
	tc_send(t, "GET nil\r\n");
	ck_assert_uint_eq(tc_expect_msg_bytes(t, "", 0), id);
	ck_assert_int_eq(tc_stat(t, "nil", "depth"), 0);
	tc_close(t);
}
END_TEST

START_TEST(test_message_of_exactly_the_limit_round_trips)
{
	struct tconn *t = tc_open(&d);
	char *body = malloc(MESSAGE_LIMIT);
	unsigned long long id;

	for (size_t i = 0; i < MESSAGE_LIMIT; i++)
		body[i] = (char)(i * 7 + i / 251);
	tc_send_put_bytes(t, "lim", body, MESSAGE_LIMIT, NULL);
	id = tc_expect_queued(t);
	ck_assert_int_eq(tc_stat(t, "lim", "bytes"), MESSAGE_LIMIT);
	tc_send(t, "GET lim\r\n");
	ck_assert_uint_eq(tc_expect_msg_bytes(t, body, MESSAGE_LIMIT), id);
	free(body);
	tc_close(t);
}
END_TEST

START_TEST(test_message_ids_increase_in_acceptance_order)
{
	struct tconn *t = tc_open(&d);
	unsigned long long ids[6];

	for (int i = 0; i < 6; i++) {
		ids[i] = tc_put(t, i % 2 ? "ida" : "idb", "x");
		if (i > 0)
			ck_assert_uint_gt(ids[i], ids[i - 1]);
	}
	/* A message keeps its id when delivered. */
	for (int i = 0; i < 6; i += 2) {
		tc_send(t, "GET idb\r\n");
		ck_assert_uint_eq(tc_expect_msg(t, "x"), ids[i]);
	}
	tc_close(t);
}
END_TEST

START_TEST(test_get_on_empty_queue_answers_204)
{
	struct tconn *t = tc_open(&d);

	tc_request(t, "GET none", "204 EMPTY");
	tc_request(t, "GET none 0", "204 EMPTY");
	tc_close(t);
}
END_TEST

START_TEST(test_get_with_timeout_answers_204_when_nothing_arrives)
{
	struct tconn *t = tc_open(&d);
	uint64_t start = harness_now_ms();

	tc_request(t, "GET quiet 150", "204 EMPTY");
	ck_assert_uint_ge(harness_now_ms() - start, 140);
	ck_assert_int_eq(tc_stat(t, "quiet", "waiting_consumers"), 0);
	tc_close(t);
}
END_TEST

START_TEST(test_get_with_timeout_is_served_by_a_later_put)
{
	struct tconn *c = tc_open(&d), *p = tc_open(&d), *s = tc_open(&d);
	unsigned long long id;

	tc_send(c, "GET later 5000\r\n");
	tc_await_stat(s, "later", "waiting_consumers", 1);
	id = tc_put(p, "later", "news");
	ck_assert_uint_eq(tc_expect_msg(c, "news"), id);
	ck_assert_int_eq(tc_stat(s, "later", "waiting_consumers"), 0);
	ck_assert_int_eq(tc_stat(s, "later", "depth"), 0);
	tc_close(c);
	tc_close(p);
	tc_close(s);
}
END_TEST

START_TEST(test_get_with_the_largest_timeout_waits_for_a_put)
{
	struct tconn *c = tc_open(&d), *s = tc_open(&d);
	unsigned long long id;

	tc_send(c, "GET forever 9223372036854775807\r\n");
	tc_await_stat(s, "forever", "waiting_consumers", 1);
	ck_assert(tc_quiet(c, QUIET_MS));
	id = tc_put(s, "forever", "at last");
	ck_assert_uint_eq(tc_expect_msg(c, "at last"), id);
	tc_close(c);
	tc_close(s);
}
END_TEST

START_TEST(test_waiting_consumers_are_served_in_the_order_they_came)
{
	struct tconn *c[3], *p = tc_open(&d), *s = tc_open(&d);
	unsigned long long id[3];

	for (int i = 0; i < 3; i++) {
		c[i] = tc_open(&d);
		tc_send(c[i], "GET fifo 5000\r\n");
		tc_await_stat(s, "fifo", "waiting_consumers", i + 1);
	}
	tc_send(p, "PUT fifo 3\r\none\r\nPUT fifo 3\r\ntwo\r\n"
		   "PUT fifo 5\r\nthree\r\n");
	for (int i = 0; i < 3; i++)
		id[i] = tc_expect_queued(p);
	ck_assert_uint_eq(tc_expect_msg(c[0], "one"), id[0]);
	ck_assert_uint_eq(tc_expect_msg(c[1], "two"), id[1]);
	ck_assert_uint_eq(tc_expect_msg(c[2], "three"), id[2]);
	for (int i = 0; i < 3; i++)
		tc_close(c[i]);
	tc_close(p);
	tc_close(s);
}
END_TEST

START_TEST(test_consumer_whose_wait_ended_is_not_served_later)
{
	struct tconn *c1 = tc_open(&d), *c2 = tc_open(&d), *s = tc_open(&d);
	unsigned long long id;

	tc_send(c1, "GET skip 100\r\n");
	tc_await_stat(s, "skip", "waiting_consumers", 1);
	tc_send(c2, "GET skip 5000\r\n");
	tc_await_stat(s, "skip", "waiting_consumers", 2);
	expect_empty(c1);
	tc_await_stat(s, "skip", "waiting_consumers", 1);
	id = tc_put(s, "skip", "for c2");
	ck_assert_uint_eq(tc_expect_msg(c2, "for c2"), id);
	ck_assert(tc_quiet(c1, QUIET_MS));
	tc_close(c1);
	tc_close(c2);
	tc_close(s);
}
END_TEST

START_TEST(test_waiting_get_holds_back_the_requests_behind_it)
{
	struct tconn *c = tc_open(&d), *s = tc_open(&d);

	tc_send(c, "GET held 5000\r\nPING\r\n");
	tc_await_stat(s, "held", "waiting_consumers", 1);
	ck_assert(tc_quiet(c, QUIET_MS));
	tc_put(s, "held", "go");
	tc_expect_msg(c, "go");
	tc_expect(c, "200 PONG");
	tc_close(c);
	tc_close(s);
}
END_TEST

START_TEST(test_create_answers_201_and_applies_its_settings)
{
	struct tconn *t = tc_open(&d);
	json_t *j;

	tc_request(t, "CREATE made capacity=7 max_bytes=4096 policy=reject",
	    "201 CREATED");
	j = tc_stats(t, "made");
	ck_assert_ptr_nonnull(j);
	check_queue_fields(j, "made");
	ck_assert_int_eq(stats_int(j, "capacity"), 7);
	ck_assert_int_eq(stats_int(j, "max_bytes"), 4096);
	ck_assert_str_eq(stats_str(j, "policy"), "reject");
	json_decref(j);
	tc_close(t);
}
END_TEST

START_TEST(test_create_omitted_options_take_the_server_defaults)
{
	struct tconn *t = tc_open(&d);

	tc_request(t, "CREATE plain", "201 CREATED");
	ck_assert_int_eq(tc_stat(t, "plain", "capacity"), DEFAULT_CAPACITY);
	ck_assert_int_eq(tc_stat(t, "plain", "max_bytes"), DEFAULT_MAX_BYTES);
	tc_request(t, "CREATE plain policy=block", "200 EXISTS");
	tc_close(t);
}
END_TEST

START_TEST(test_create_with_the_same_settings_answers_200_exists)
{
	struct tconn *t = tc_open(&d);

	tc_request(t, "CREATE same capacity=3 policy=drop-oldest max_bytes=99",
	    "201 CREATED");
	/* Options in any order. */
	tc_request(t, "CREATE same max_bytes=99 capacity=3 policy=drop-oldest",
	    "200 EXISTS");
	tc_request(t,
	    "CREATE same   policy=drop-oldest  max_bytes=99 capacity=3",
	    "200 EXISTS");
	/* An auto-created queue has the defaults. */
	tc_put(t, "auto", "x");
	tc_request(t, "CREATE auto", "200 EXISTS");
	tc_request(t,
	    "CREATE auto capacity=1024 max_bytes=16777216 policy=block",
	    "200 EXISTS");
	tc_close(t);
}
END_TEST

START_TEST(test_create_with_other_settings_answers_409_and_changes_nothing)
{
	struct tconn *t = tc_open(&d);

	tc_request(t, "CREATE conf capacity=5 policy=reject", "201 CREATED");
	tc_request(t, "CREATE conf capacity=6 policy=reject",
	    "409 CONFLICT conf");
	tc_request(t, "CREATE conf capacity=5 policy=block",
	    "409 CONFLICT conf");
	tc_request(t, "CREATE conf capacity=5 policy=reject max_bytes=1",
	    "409 CONFLICT conf");
	/* An omitted option means the default, not "whatever it is". */
	tc_request(t, "CREATE conf capacity=5", "409 CONFLICT conf");
	tc_request(t, "CREATE conf", "409 CONFLICT conf");
	ck_assert_int_eq(tc_stat(t, "conf", "capacity"), 5);
	ck_assert_int_eq(tc_stat(t, "conf", "max_bytes"), DEFAULT_MAX_BYTES);
	tc_request(t, "CREATE conf capacity=5 policy=reject", "200 EXISTS");
	tc_close(t);
}
END_TEST

START_TEST(test_create_capacity_0_is_allowed_for_block_and_reject)
{
	struct tconn *t = tc_open(&d);

	tc_request(t, "CREATE rv0 capacity=0", "201 CREATED");
	tc_request(t, "CREATE rv1 capacity=0 policy=reject", "201 CREATED");
	ck_assert_int_eq(tc_stat(t, "rv0", "capacity"), 0);
	tc_close(t);
}
END_TEST

/* The attack of issue 11: a queue with no bound at all. */
START_TEST(test_create_beyond_the_queue_ceilings_gets_400_naming_the_limit)
{
	struct tconn *t = tc_open(&d);
	const char *line;

	tc_send(t,
	    "CREATE huge capacity=9223372036854775807 "
	    "max_bytes=9223372036854775807\r\n");
	line = tc_expect_prefix(t, "400 BAD_REQUEST ");
	ck_assert_ptr_nonnull(strstr(line, "max_queue_capacity"));
	ck_assert_ptr_null(strchr(line, '='));
	tc_request(t, "CREATE huge max_bytes=1073741825",
	    "400 BAD_REQUEST max_bytes is over the limit max_queue_bytes "
	    "1073741824");
	tc_request(t, "CREATE huge capacity=1000001",
	    "400 BAD_REQUEST capacity is over the limit max_queue_capacity "
	    "1000000");
	/* Nothing was made. */
	ck_assert_ptr_null(tc_stats(t, "huge"));
	/* At the ceilings exactly: accepted. */
	tc_request(t, "CREATE huge capacity=1000000 max_bytes=1073741824",
	    "201 CREATED");
	ck_assert_int_eq(tc_stat(t, "huge", "capacity"), 1000000);
	ck_assert_int_eq(tc_stat(t, "huge", "max_bytes"), 1073741824);
	/* Refused before the queue is looked at, even when it exists. */
	tc_request(t, "CREATE huge capacity=1000001 max_bytes=1073741824",
	    "400 BAD_REQUEST capacity is over the limit max_queue_capacity "
	    "1000000");
	tc_close(t);
}
END_TEST

static void
small_ceilings_setup(void)
{
	harness_start_with_config(&d,
	    "{\"max_queue_capacity\": 10, \"max_queue_bytes\": 4096,"
	    " \"queue_defaults\": {\"capacity\": 5, \"max_bytes\": 100}}");
}

START_TEST(test_create_ceilings_come_from_the_config)
{
	struct tconn *t = tc_open(&d);

	tc_request(t, "CREATE small capacity=11",
	    "400 BAD_REQUEST capacity is over the limit max_queue_capacity "
	    "10");
	tc_request(t, "CREATE small capacity=10 max_bytes=4097",
	    "400 BAD_REQUEST max_bytes is over the limit max_queue_bytes "
	    "4096");
	tc_request(t, "CREATE small capacity=10 max_bytes=4096", "201 CREATED");
	tc_close(t);
}
END_TEST

START_TEST(test_delete_discards_the_queue_and_its_messages)
{
	struct tconn *t = tc_open(&d);

	tc_put(t, "gone", "a");
	tc_put(t, "gone", "b");
	tc_request(t, "DELETE gone", "200 DELETED");
	ck_assert_ptr_null(tc_stats(t, "gone"));
	tc_request(t, "DELETE gone", "404 NO_QUEUE gone");
	tc_request(t, "PURGE gone", "404 NO_QUEUE gone");
	/* Auto-created afresh: empty, with the defaults. */
	tc_request(t, "GET gone", "204 EMPTY");
	ck_assert_int_eq(tc_stat(t, "gone", "puts"), 0);
	tc_close(t);
}
END_TEST

START_TEST(test_delete_answers_waiting_consumers_404_no_queue)
{
	struct tconn *c1 = tc_open(&d), *c2 = tc_open(&d), *s = tc_open(&d);

	tc_send(c1, "GET del 5000\r\n");
	tc_await_stat(s, "del", "waiting_consumers", 1);
	tc_send(c2, "GET del 5000\r\n");
	tc_await_stat(s, "del", "waiting_consumers", 2);
	tc_request(s, "DELETE del", "200 DELETED");
	expect_no_queue(c1, "del");
	expect_no_queue(c2, "del");
	tc_sync(c1);
	tc_sync(c2);
	tc_close(c1);
	tc_close(c2);
	tc_close(s);
}
END_TEST

START_TEST(test_delete_answers_parked_producers_404_no_queue)
{
	struct tconn *p = tc_open(&d), *s = tc_open(&d);

	tc_request(s, "CREATE delp capacity=1", "201 CREATED");
	tc_put(s, "delp", "full");
	tc_send_put(p, "delp", "parked");
	tc_await_stat(s, "delp", "blocked_producers", 1);
	tc_request(s, "DELETE delp", "200 DELETED");
	expect_no_queue(p, "delp");
	tc_sync(p);
	/* Its body went nowhere. */
	tc_request(s, "GET delp", "204 EMPTY");
	tc_close(p);
	tc_close(s);
}
END_TEST

START_TEST(test_purge_answers_the_count_of_discarded_messages)
{
	struct tconn *t = tc_open(&d);

	tc_put(t, "pq", "1");
	tc_put(t, "pq", "22");
	tc_put(t, "pq", "333");
	tc_request(t, "PURGE pq", "200 PURGED 3");
	ck_assert_int_eq(tc_stat(t, "pq", "depth"), 0);
	ck_assert_int_eq(tc_stat(t, "pq", "bytes"), 0);
	tc_request(t, "GET pq", "204 EMPTY");
	tc_request(t, "PURGE pq", "200 PURGED 0");
	tc_request(t, "PURGE nosuch", "404 NO_QUEUE nosuch");
	ck_assert_ptr_null(tc_stats(t, "nosuch"));
	tc_close(t);
}
END_TEST

START_TEST(test_purge_gives_room_to_parked_producers)
{
	struct tconn *p1 = tc_open(&d), *p2 = tc_open(&d), *s = tc_open(&d);
	unsigned long long id1, id2;

	tc_request(s, "CREATE pr capacity=2", "201 CREATED");
	tc_put(s, "pr", "old1");
	tc_put(s, "pr", "old2");
	tc_send_put(p1, "pr", "new1");
	tc_await_stat(s, "pr", "blocked_producers", 1);
	tc_send_put(p2, "pr", "new2");
	tc_await_stat(s, "pr", "blocked_producers", 2);
	tc_request(s, "PURGE pr", "200 PURGED 2");
	id1 = tc_expect_queued(p1);
	id2 = tc_expect_queued(p2);
	ck_assert_uint_lt(id1, id2);
	tc_send(s, "GET pr\r\n");
	ck_assert_uint_eq(tc_expect_msg(s, "new1"), id1);
	tc_send(s, "GET pr\r\n");
	ck_assert_uint_eq(tc_expect_msg(s, "new2"), id2);
	tc_close(p1);
	tc_close(p2);
	tc_close(s);
}
END_TEST

START_TEST(test_stats_of_a_queue_counts_exactly_after_a_known_sequence)
{
	struct tconn *t = tc_open(&d), *c = tc_open(&d);
	json_t *j;

	tc_request(t, "CREATE st capacity=3 max_bytes=100 policy=reject",
	    "201 CREATED");
	tc_put(t, "st", "a");
	tc_put(t, "st", "bb");
	tc_put(t, "st", "ccc");
	tc_send_put(t, "st", "dddd");
	expect_full(t, "st");
	tc_send(t, "GET st\r\n");
	tc_expect_msg(t, "a");
	/* A hand-off to a waiting consumer is a put and a get. */
	tc_request(t, "PURGE st", "200 PURGED 2");
	tc_send(c, "GET st 5000\r\n");
	tc_await_stat(t, "st", "waiting_consumers", 1);
	tc_put(t, "st", "eeeee");
	tc_expect_msg(c, "eeeee");
	tc_put(t, "st", "ff");

	j = tc_stats(t, "st");
	check_queue_fields(j, "st");
	ck_assert_int_eq(stats_int(j, "capacity"), 3);
	ck_assert_int_eq(stats_int(j, "max_bytes"), 100);
	ck_assert_str_eq(stats_str(j, "policy"), "reject");
	ck_assert_int_eq(stats_int(j, "depth"), 1);
	ck_assert_int_eq(stats_int(j, "reserved"), 0);
	ck_assert_int_eq(stats_int(j, "bytes"), 2);
	ck_assert_int_eq(stats_int(j, "puts"), 5);
	ck_assert_int_eq(stats_int(j, "gets"), 2);
	ck_assert_int_eq(stats_int(j, "acks"), 0);
	ck_assert_int_eq(stats_int(j, "rejected"), 1);
	ck_assert_int_eq(stats_int(j, "dropped"), 0);
	ck_assert_int_eq(stats_int(j, "blocked_producers"), 0);
	ck_assert_int_eq(stats_int(j, "waiting_consumers"), 0);
	json_decref(j);
	tc_close(t);
	tc_close(c);
}
END_TEST

START_TEST(test_stats_counts_drops_of_both_kinds)
{
	struct tconn *t = tc_open(&d);

	tc_request(t, "CREATE dn capacity=1 policy=drop-newest", "201 CREATED");
	tc_request(t, "CREATE do capacity=1 policy=drop-oldest", "201 CREATED");
	tc_put(t, "dn", "1");
	tc_send_put(t, "dn", "2");
	tc_expect(t, "202 DROPPED dn");
	tc_put(t, "do", "1");
	tc_put(t, "do", "2");
	tc_put(t, "do", "3");
	ck_assert_int_eq(tc_stat(t, "dn", "dropped"), 1);
	ck_assert_int_eq(tc_stat(t, "dn", "puts"), 1);
	ck_assert_int_eq(tc_stat(t, "do", "dropped"), 2);
	ck_assert_int_eq(tc_stat(t, "do", "puts"), 3);
	ck_assert_int_eq(tc_stat(t, "do", "rejected"), 0);
	tc_close(t);
}
END_TEST

START_TEST(test_global_stats_has_every_field_and_sums_the_queues)
{
	struct tconn *t = tc_open(&d), *u = tc_open(&d);
	json_t *j, *qs;
	const char *key;
	json_t *val;

	tc_put(t, "g1", "abc");
	tc_put(t, "g1", "de");
	tc_put(t, "g2", "fghij");
	tc_request(t, "CREATE g3 capacity=0", "201 CREATED");
	j = tc_stats(t, NULL);
	ck_assert_str_ne(stats_str(j, "version"), "");
	stats_int(j, "uptime_s");
	ck_assert_int_eq(stats_int(j, "connections"), 2);
	ck_assert_int_eq(stats_int(j, "messages"), 3);
	ck_assert_int_eq(stats_int(j, "bytes"), 10);
	qs = json_object_get(j, "queues");
	ck_assert(json_is_object(qs));
	ck_assert_uint_eq(json_object_size(qs), 3);
	json_object_foreach(qs, key, val)
		check_queue_fields(val, key);
	ck_assert_int_eq(stats_int(json_object_get(qs, "g1"), "depth"), 2);
	ck_assert_int_eq(stats_int(json_object_get(qs, "g2"), "bytes"), 5);
	ck_assert_int_eq(stats_int(json_object_get(qs, "g3"), "capacity"), 0);
	json_decref(j);
	tc_close(u);
	tc_await_stat(t, NULL, "connections", 1);
	tc_close(t);
}
END_TEST

START_TEST(test_stats_of_an_unknown_queue_is_404)
{
	struct tconn *t = tc_open(&d);

	tc_request(t, "STATS unknown", "404 NO_QUEUE unknown");
	/* STATS creates nothing. */
	json_t *j = tc_stats(t, NULL);
	ck_assert_uint_eq(json_object_size(json_object_get(j, "queues")), 0);
	json_decref(j);
	tc_close(t);
}
END_TEST

START_TEST(test_auth_without_a_configured_token_answers_ok)
{
	struct tconn *t = tc_open(&d);

	tc_request(t, "AUTH anything", "200 OK");
	tc_request(t, "PING", "200 PONG");
	tc_close(t);
}
END_TEST

START_TEST(test_quit_answers_bye_then_closes)
{
	struct tconn *t = tc_open(&d), *s = tc_open(&d);

	tc_request(t, "QUIT", "200 BYE");
	tc_expect_closed(t);
	tc_await_stat(s, NULL, "connections", 1);
	tc_close(t);
	tc_close(s);
}
END_TEST

START_TEST(test_put_to_an_unknown_queue_creates_it_with_the_defaults)
{
	struct tconn *t = tc_open(&d);
	json_t *j;

	tc_put(t, "fresh", "x");
	j = tc_stats(t, "fresh");
	ck_assert_ptr_nonnull(j);
	ck_assert_int_eq(stats_int(j, "capacity"), DEFAULT_CAPACITY);
	ck_assert_int_eq(stats_int(j, "max_bytes"), DEFAULT_MAX_BYTES);
	ck_assert_str_eq(stats_str(j, "policy"), "block");
	ck_assert_int_eq(stats_int(j, "depth"), 1);
	json_decref(j);
	tc_request(t, "GET other", "204 EMPTY");
	ck_assert_int_eq(tc_stat(t, "other", "capacity"), DEFAULT_CAPACITY);
	tc_close(t);
}
END_TEST

START_TEST(test_queue_names_are_case_sensitive_and_commands_are_not)
{
	struct tconn *t = tc_open(&d);

	tc_request(t, "ping", "200 PONG");
	tc_request(t, "PiNg", "200 PONG");
	tc_send(t, "put Jobs 2\r\nhi\r\n");
	tc_expect_queued(t);
	tc_request(t, "get jobs", "204 EMPTY");
	tc_send(t, "gEt Jobs\r\n");
	tc_expect_msg(t, "hi");
	/* Every character the spec allows in a name. */
	tc_request(t, "GET AZaz09_.:-", "204 EMPTY");
	tc_close(t);
}
END_TEST

START_TEST(test_bare_newlines_and_extra_spaces_are_accepted)
{
	struct tconn *t = tc_open(&d);

	tc_send(t, "  PING  \n");
	tc_expect(t, "200 PONG");
	tc_send(t, "PUT   sp   2 \nhi\n");
	tc_expect_queued(t);
	tc_send(t, "PUT sp 2\r\nho\n");
	tc_expect_queued(t);
	tc_send(t, "GET sp\n");
	tc_expect_msg(t, "hi");
	tc_send(t, " GET   sp   0  \r\n");
	tc_expect_msg(t, "ho");
	tc_close(t);
}
END_TEST

START_TEST(test_numbers_of_19_digits_with_leading_zeros_are_valid)
{
	struct tconn *t = tc_open(&d);
	unsigned long long id;

	tc_send(t, "PUT zeros 0000000000000000002 0000000000000000000\r\n"
		   "hi\r\n");
	id = tc_expect_queued(t);
	tc_send(t, "GET zeros 0000000000000000000\r\n");
	ck_assert_uint_eq(tc_expect_msg(t, "hi"), id);
	tc_request(t, "CREATE zq capacity=0000000000000000003", "201 CREATED");
	tc_request(t, "CREATE zq capacity=3", "200 EXISTS");
	tc_close(t);
}
END_TEST

START_TEST(test_pipelined_requests_are_answered_in_order)
{
	struct tconn *t = tc_open(&d);
	unsigned long long a, b;

	tc_send(t, "PUT pipe 1\r\na\r\nPUT pipe 1\r\nb\r\nSTATS nosuch\r\n"
		   "GET pipe\r\nGET pipe\r\nGET pipe\r\nPING\r\n");
	a = tc_expect_queued(t);
	b = tc_expect_queued(t);
	expect_no_queue(t, "nosuch");
	ck_assert_uint_eq(tc_expect_msg(t, "a"), a);
	ck_assert_uint_eq(tc_expect_msg(t, "b"), b);
	expect_empty(t);
	tc_expect(t, "200 PONG");
	tc_close(t);
}
END_TEST

START_TEST(test_request_split_into_single_bytes_is_understood)
{
	static const char reqs[] = "PUT bytes 7\r\nab\r\ncd\n\r\n"
				   "PUT bytes 0\n\n"
				   "GET bytes\r\nGET bytes 1000\nPING\r\n";
	struct tconn *t = tc_open(&d);
	unsigned long long a, b;

	for (size_t i = 0; i < sizeof reqs - 1; i++)
		tc_send_raw(t, reqs + i, 1);
	a = tc_expect_queued(t);
	b = tc_expect_queued(t);
	ck_assert_uint_eq(tc_expect_msg(t, "ab\r\ncd\n"), a);
	ck_assert_uint_eq(tc_expect_msg_bytes(t, "", 0), b);
	tc_expect(t, "200 PONG");
	tc_close(t);
}
END_TEST

/* ---- errors ------------------------------------------------------ */

/*
 * Requests answered 400 with the connection kept.  The probe after
 * each ("STATS q400", answered 404) shows the connection still frames
 * correctly, that a body holding "PING" was skipped rather than run,
 * and that the 400 created no queue.
 */
static const char *const bad_requests[] = {
	"\r\n",
	"\n",
	"    \r\n",
	"FROB q400\r\n",
	"GET\tq400\r\n",
	"GET q400\t\r\n",
	"PING extra\r\n",
	"GET\r\n",
	"GET q400 1 2\r\n",
	"RESERVE\r\n",
	"ACK\r\n",
	"ACK 1 2\r\n",
	"ACK x\r\n",
	"NACK -1\r\n",
	"ACK 9223372036854775808\r\n",
	"DELETE\r\n",
	"DELETE q400 q400\r\n",
	"PURGE\r\n",
	"STATS a b\r\n",
	"AUTH\r\n",
	"AUTH a b\r\n",
	"QUIT now\r\n",
	"GET bad/name\r\n",
	"GET caf\xc3\xa9\r\n",
	"GET q400 abc\r\n",
	"GET q400 -1\r\n",
	"GET q400 +1\r\n",
	"GET q400 1.5\r\n",
	"GET q400 12345678901234567890\r\n",
	"GET q400 9223372036854775808\r\n",
	"GET q400 00000000000000000000\r\n",
	"CREATE\r\n",
	"CREATE bad/name\r\n",
	"CREATE q400 size=5\r\n",
	"CREATE q400 Capacity=5\r\n",
	"CREATE q400 capacity\r\n",
	"CREATE q400 capacity=\r\n",
	"CREATE q400 capacity=x\r\n",
	"CREATE q400 capacity=-1\r\n",
	"CREATE q400 max_bytes=1e6\r\n",
	"CREATE q400 capacity=99999999999999999999\r\n",
	"CREATE q400 policy=BLOCK\r\n",
	"CREATE q400 policy=fifo\r\n",
	"CREATE q400 capacity=1 capacity=1\r\n",
	"CREATE q400 policy=block policy=reject\r\n",
	"CREATE q400 capacity=0 policy=drop-oldest\r\n",
	"CREATE q400 policy=drop-newest capacity=0\r\n",
	"CREATE q400 capacity=1 max_bytes=2 policy=block x=1 y=2 z=3\r\n",
	"PUT bad/name 6\r\nPING\r\n\r\n",
	"PUT q400 6 soon\r\nPING\r\n\r\n",
	"PUT q400 6 -1\r\nPING\r\n\r\n",
	"PUT q400 6 1 2\r\nPING\r\n\r\n",
	"PUT bad/name 0\r\n\n",
};

START_TEST(test_bad_request_gets_400_and_the_connection_stays_usable)
{
	struct tconn *t = tc_open(&d);

	tc_send(t, "%sSTATS q400\r\n", bad_requests[_i]);
	expect_bad_request(t);
	expect_no_queue(t, "q400");
	tc_close(t);
}
END_TEST

START_TEST(test_queue_name_of_128_bytes_is_valid_and_129_is_not)
{
	struct tconn *t = tc_open(&d);
	char name[130];

	memset(name, 'n', 129);
	name[128] = '\0';
	tc_send(t, "GET %s\r\n", name);
	expect_empty(t);
	name[128] = 'n';
	name[129] = '\0';
	tc_send(t, "GET %s\r\n", name);
	expect_bad_request(t);
	tc_sync(t);
	tc_close(t);
}
END_TEST

/* A request line of exactly `len` bytes: "PING", spaces, terminator. */
static void
send_padded_ping(struct tconn *t, size_t len, const char *term)
{
	char line[LINE_MAX_BYTES + 8];
	size_t tl = strlen(term);

	ck_assert(len <= sizeof line && len >= 4 + tl);
	memset(line, ' ', len);
	memcpy(line, "PING", 4);
	memcpy(line + len - tl, term, tl);
	tc_send_raw(t, line, len);
}

START_TEST(test_line_of_exactly_1024_bytes_is_accepted)
{
	struct tconn *t = tc_open(&d);

	send_padded_ping(t, LINE_MAX_BYTES, "\r\n");
	tc_expect(t, "200 PONG");
	send_padded_ping(t, LINE_MAX_BYTES, "\n");
	tc_expect(t, "200 PONG");
	tc_close(t);
}
END_TEST

START_TEST(test_line_longer_than_1024_bytes_gets_400_and_close)
{
	struct tconn *t = tc_open(&d);

	send_padded_ping(t, LINE_MAX_BYTES + 1, _i ? "\n" : "\r\n");
	expect_bad_request(t);
	tc_expect_closed(t);
	tc_close(t);
}
END_TEST

START_TEST(test_endless_line_gets_400_and_close)
{
	struct tconn *t = tc_open(&d);
	char junk[5000];

	memset(junk, 'x', sizeof junk);
	tc_send_raw(t, junk, sizeof junk);
	expect_bad_request(t);
	tc_expect_closed(t);
	tc_close(t);
}
END_TEST

/*
 * Requests after which the server cannot tell where the next one
 * starts: 400, then close, and the "PING" behind is never answered.
 */
static const char *const unframeable_requests[] = {
	"PUT\r\n",
	"PUT fq\r\n",
	"PUT fq abc\r\nhello\r\n",
	"PUT fq 5x\r\nhello\r\n",
	"PUT fq -5\r\nhello\r\n",
	"PUT fq 99999999999999999999\r\nhello\r\n",
	"PUT fq 9223372036854775808\r\nhello\r\n",
	"PUT fq 5\r\nhelloX\r\n",
	"PUT fq 5\r\nhello\rX",
	"PUT fq 0\r\nX\r\n",
	"PUT fq 3\r\nabcd\r\n",
	"PUT bad/name 2\r\nabXY",
};

START_TEST(test_unframeable_put_gets_400_and_close)
{
	struct tconn *t = tc_open(&d), *s = tc_open(&d);

	tc_send(t, "%sPING\r\n", unframeable_requests[_i]);
	expect_bad_request(t);
	tc_expect_closed(t);
	/* Nothing was created or stored. */
	ck_assert_ptr_null(tc_stats(s, "fq"));
	tc_close(t);
	tc_close(s);
}
END_TEST

/* Send "PUT q <len>" and a body of len bytes full of "PING\r\n". */
static void
send_ping_body(struct tconn *t, const char *q, size_t len, const char *end)
{
	char *body = malloc(len);

	for (size_t i = 0; i < len; i++)
		body[i] = "PING\r\n"[i % 6];
	tc_send(t, "PUT %s %zu\r\n", q, len);
	tc_send_raw(t, body, len);
	tc_send_raw(t, end, strlen(end));
	free(body);
}

START_TEST(test_body_over_the_limit_not_followed_by_terminator_closes)
{
	struct tconn *t = tc_open(&d);

	/* The lost framing wins over the 413. */
	send_ping_body(t, "big", MESSAGE_LIMIT + 1, "XY");
	expect_bad_request(t);
	tc_expect_closed(t);
	tc_close(t);
}
END_TEST

START_TEST(test_put_over_the_message_limit_gets_413_and_stays_usable)
{
	struct tconn *t = tc_open(&d);

	send_ping_body(t, "big", MESSAGE_LIMIT + 1, "\r\n");
	tc_expect(t, "413 TOO_LARGE 1048576");
	/* A 4xx creates nothing, and the body was skipped, not run. */
	tc_request(t, "STATS big", "404 NO_QUEUE big");
	tc_put(t, "big", "small");
	ck_assert_int_eq(tc_stat(t, "big", "depth"), 1);
	ck_assert_int_eq(tc_stat(t, "big", "rejected"), 0);
	tc_close(t);
}
END_TEST

START_TEST(test_put_over_the_queue_max_bytes_gets_413_with_that_limit)
{
	struct tconn *t = tc_open(&d);
	char body[102];

	memset(body, 'm', sizeof body);
	tc_request(t, "CREATE mb max_bytes=100", "201 CREATED");
	tc_send_put_bytes(t, "mb", body, 101, NULL);
	tc_expect(t, "413 TOO_LARGE 100");
	tc_send_put_bytes(t, "mb", body, 100, "0");
	tc_expect_queued(t);
	/* The limit is the smaller of the message limit and max_bytes. */
	tc_request(t, "CREATE mbig max_bytes=2097152", "201 CREATED");
	send_ping_body(t, "mbig", MESSAGE_LIMIT + 1, "\r\n");
	tc_expect(t, "413 TOO_LARGE 1048576");
	tc_sync(t);
	ck_assert_int_eq(tc_stat(t, "mb", "depth"), 1);
	ck_assert_int_eq(tc_stat(t, "mbig", "depth"), 0);
	tc_close(t);
}
END_TEST

START_TEST(test_bad_line_with_an_oversized_body_gets_400_not_413)
{
	struct tconn *t = tc_open(&d);

	send_ping_body(t, "bad/name", MESSAGE_LIMIT + 1, "\r\n");
	expect_bad_request(t);
	/* Not "200 PONG": the body was skipped, not run. */
	tc_request(t, "STATS nosuch", "404 NO_QUEUE nosuch");
	tc_close(t);
}
END_TEST

/* ---- policies ---------------------------------------------------- */

START_TEST(test_put_into_full_reject_queue_gets_503_with_retry_hint)
{
	struct tconn *t = tc_open(&d);

	tc_request(t, "CREATE rj capacity=2 policy=reject", "201 CREATED");
	tc_put(t, "rj", "1");
	tc_put(t, "rj", "2");
	tc_send_put(t, "rj", "3");
	expect_full(t, "rj");
	/* With a timeout it is still refused at once: only block waits. */
	tc_send_put_bytes(t, "rj", "4", 1, "5000");
	expect_full(t, "rj");
	ck_assert_int_eq(tc_stat(t, "rj", "rejected"), 2);
	ck_assert_int_eq(tc_stat(t, "rj", "depth"), 2);
	tc_send(t, "GET rj\r\n");
	tc_expect_msg(t, "1");
	tc_put(t, "rj", "5");
	tc_close(t);
}
END_TEST

START_TEST(test_put_into_full_drop_newest_queue_gets_202_dropped)
{
	struct tconn *t = tc_open(&d);

	tc_request(t, "CREATE dnq capacity=2 policy=drop-newest",
	    "201 CREATED");
	tc_put(t, "dnq", "1");
	tc_put(t, "dnq", "2");
	tc_send_put(t, "dnq", "3");
	tc_expect(t, "202 DROPPED dnq");
	tc_send(t, "GET dnq\r\nGET dnq\r\nGET dnq\r\n");
	tc_expect_msg(t, "1");
	tc_expect_msg(t, "2");
	expect_empty(t);
	ck_assert_int_eq(tc_stat(t, "dnq", "dropped"), 1);
	ck_assert_int_eq(tc_stat(t, "dnq", "rejected"), 0);
	tc_close(t);
}
END_TEST

START_TEST(test_put_into_full_drop_oldest_queue_discards_the_oldest)
{
	struct tconn *t = tc_open(&d);
	unsigned long long id;

	tc_request(t, "CREATE doq capacity=2 policy=drop-oldest",
	    "201 CREATED");
	tc_put(t, "doq", "1");
	tc_put(t, "doq", "2");
	id = tc_put(t, "doq", "3");
	tc_send(t, "GET doq\r\nGET doq\r\nGET doq\r\n");
	tc_expect_msg(t, "2");
	ck_assert_uint_eq(tc_expect_msg(t, "3"), id);
	expect_empty(t);
	ck_assert_int_eq(tc_stat(t, "doq", "dropped"), 1);
	tc_close(t);
}
END_TEST

START_TEST(test_drop_oldest_discards_as_many_as_the_bytes_need)
{
	struct tconn *t = tc_open(&d);

	tc_request(t, "CREATE dob capacity=10 max_bytes=10 policy=drop-oldest",
	    "201 CREATED");
	tc_put(t, "dob", "aaa");
	tc_put(t, "dob", "bbb");
	tc_put(t, "dob", "cccc");
	/* 10 bytes held; 6 more need 6 freed: "aaa" and "bbb" go. */
	tc_put(t, "dob", "dddddd");
	ck_assert_int_eq(tc_stat(t, "dob", "dropped"), 2);
	ck_assert_int_eq(tc_stat(t, "dob", "bytes"), 10);
	tc_send(t, "GET dob\r\nGET dob\r\nGET dob\r\n");
	tc_expect_msg(t, "cccc");
	tc_expect_msg(t, "dddddd");
	expect_empty(t);
	tc_close(t);
}
END_TEST

START_TEST(test_block_put_with_timeout_0_into_full_queue_gets_503_at_once)
{
	struct tconn *t = tc_open(&d);

	tc_request(t, "CREATE b0 capacity=1", "201 CREATED");
	tc_put(t, "b0", "1");
	tc_send_put_bytes(t, "b0", "2", 1, "0");
	expect_full(t, "b0");
	ck_assert_int_eq(tc_stat(t, "b0", "rejected"), 1);
	ck_assert_int_eq(tc_stat(t, "b0", "blocked_producers"), 0);
	ck_assert_int_eq(tc_stat(t, "b0", "depth"), 1);
	tc_close(t);
}
END_TEST

START_TEST(test_block_put_with_timeout_gets_503_after_waiting)
{
	struct tconn *t = tc_open(&d), *s = tc_open(&d);
	uint64_t start;

	tc_request(t, "CREATE bt capacity=1", "201 CREATED");
	tc_put(t, "bt", "1");
	start = harness_now_ms();
	tc_send_put_bytes(t, "bt", "2", 1, "150");
	tc_await_stat(s, "bt", "blocked_producers", 1);
	expect_full(t, "bt");
	ck_assert_uint_ge(harness_now_ms() - start, 140);
	ck_assert_int_eq(tc_stat(s, "bt", "blocked_producers"), 0);
	ck_assert_int_eq(tc_stat(s, "bt", "rejected"), 1);
	/* The refused body was skipped: the connection frames on. */
	tc_send(t, "GET bt\r\n");
	tc_expect_msg(t, "1");
	tc_request(t, "GET bt", "204 EMPTY");
	tc_close(t);
	tc_close(s);
}
END_TEST

START_TEST(test_block_put_without_timeout_parks_until_a_get_makes_room)
{
	struct tconn *p = tc_open(&d), *c = tc_open(&d);
	unsigned long long first, id;

	tc_request(c, "CREATE bp capacity=1", "201 CREATED");
	first = tc_put(c, "bp", "first");
	tc_send(p, "PUT bp 6\r\nsecond\r\nPING\r\n");
	tc_await_stat(c, "bp", "blocked_producers", 1);
	ck_assert(tc_quiet(p, QUIET_MS));
	tc_send(c, "GET bp\r\n");
	ck_assert_uint_eq(tc_expect_msg(c, "first"), first);
	/* The answer comes now, then the request held behind it. */
	id = tc_expect_queued(p);
	tc_expect(p, "200 PONG");
	ck_assert_uint_gt(id, first);
	ck_assert_int_eq(tc_stat(c, "bp", "blocked_producers"), 0);
	tc_send(c, "GET bp\r\n");
	ck_assert_uint_eq(tc_expect_msg(c, "second"), id);
	tc_close(p);
	tc_close(c);
}
END_TEST

START_TEST(test_parked_producers_resume_in_the_order_they_parked)
{
	struct tconn *p[3], *s = tc_open(&d);
	static const char *const bodies[] = { "p0", "p1", "p2" };
	unsigned long long id[3];

	tc_request(s, "CREATE order capacity=1", "201 CREATED");
	tc_put(s, "order", "full");
	for (int i = 0; i < 3; i++) {
		p[i] = tc_open(&d);
		tc_send_put(p[i], "order", bodies[i]);
		tc_await_stat(s, "order", "blocked_producers", i + 1);
	}
	tc_send(s, "GET order\r\n");
	tc_expect_msg(s, "full");
	for (int i = 0; i < 3; i++) {
		id[i] = tc_expect_queued(p[i]);
		if (i > 0)
			ck_assert_uint_gt(id[i], id[i - 1]);
		/* The next one is still parked: the queue is full again. */
		if (i < 2)
			ck_assert(tc_quiet(p[i + 1], QUIET_MS));
		tc_send(s, "GET order\r\n");
		ck_assert_uint_eq(tc_expect_msg(s, bodies[i]), id[i]);
	}
	for (int i = 0; i < 3; i++)
		tc_close(p[i]);
	tc_close(s);
}
END_TEST

START_TEST(test_put_waits_behind_parked_producers_even_if_it_would_fit)
{
	struct tconn *p1 = tc_open(&d), *p2 = tc_open(&d), *s = tc_open(&d);
	unsigned long long id1, id2;

	tc_request(s, "CREATE strict capacity=3 max_bytes=10", "201 CREATED");
	tc_put(s, "strict", "12345678");
	tc_send_put(p1, "strict", "abcde"); /* 13 bytes: does not fit */
	tc_await_stat(s, "strict", "blocked_producers", 1);
	tc_send_put(p2, "strict", "z");	   /* 9 bytes would fit */
	tc_await_stat(s, "strict", "blocked_producers", 2);
	ck_assert(tc_quiet(p2, QUIET_MS));
	/* With timeout 0: refused, not let past the line. */
	tc_send_put_bytes(s, "strict", "y", 1, "0");
	expect_full(s, "strict");
	tc_send(s, "GET strict\r\n");
	tc_expect_msg(s, "12345678");
	id1 = tc_expect_queued(p1);
	id2 = tc_expect_queued(p2);
	ck_assert_uint_lt(id1, id2);
	tc_send(s, "GET strict\r\nGET strict\r\n");
	ck_assert_uint_eq(tc_expect_msg(s, "abcde"), id1);
	ck_assert_uint_eq(tc_expect_msg(s, "z"), id2);
	tc_close(p1);
	tc_close(p2);
	tc_close(s);
}
END_TEST

START_TEST(test_producer_behind_one_that_timed_out_gets_room)
{
	struct tconn *p1 = tc_open(&d), *p2 = tc_open(&d), *s = tc_open(&d);

	tc_request(s, "CREATE to capacity=3 max_bytes=10", "201 CREATED");
	tc_put(s, "to", "12345678");
	tc_send_put_bytes(p1, "to", "abcde", 5, "100");
	tc_await_stat(s, "to", "blocked_producers", 1);
	tc_send_put(p2, "to", "z");
	tc_await_stat(s, "to", "blocked_producers", 2);
	/* The head of the line gives up; the one behind it fits. */
	expect_full(p1, "to");
	tc_expect_queued(p2);
	ck_assert_int_eq(tc_stat(s, "to", "blocked_producers"), 0);
	ck_assert_int_eq(tc_stat(s, "to", "depth"), 2);
	tc_close(p1);
	tc_close(p2);
	tc_close(s);
}
END_TEST

START_TEST(test_max_bytes_bounds_the_queue)
{
	struct tconn *t = tc_open(&d), *p = tc_open(&d);

	tc_request(t, "CREATE mx capacity=100 max_bytes=10 policy=reject",
	    "201 CREATED");
	tc_put(t, "mx", "123456");
	tc_send_put(t, "mx", "123456");
	expect_full(t, "mx");
	tc_put(t, "mx", "1234");
	ck_assert_int_eq(tc_stat(t, "mx", "bytes"), 10);
	tc_send_put(t, "mx", "");
	tc_expect_queued(t); /* an empty body takes no bytes */
	/* And under block, bytes park a producer like count does. */
	tc_request(t, "CREATE mxb capacity=100 max_bytes=10", "201 CREATED");
	tc_put(t, "mxb", "1234567890");
	tc_send_put(p, "mxb", "x");
	tc_await_stat(t, "mxb", "blocked_producers", 1);
	tc_send(t, "GET mxb\r\n");
	tc_expect_msg(t, "1234567890");
	tc_expect_queued(p);
	tc_close(t);
	tc_close(p);
}
END_TEST

/* ---- capacity 0 -------------------------------------------------- */

START_TEST(test_rendezvous_put_waits_until_a_get_takes_it)
{
	struct tconn *p = tc_open(&d), *c = tc_open(&d);
	unsigned long long id;

	tc_request(c, "CREATE rdv capacity=0", "201 CREATED");
	tc_send_put(p, "rdv", "hand");
	tc_await_stat(c, "rdv", "blocked_producers", 1);
	ck_assert_int_eq(tc_stat(c, "rdv", "depth"), 0);
	ck_assert(tc_quiet(p, QUIET_MS));
	/* Without a timeout: the waiting PUT's message is taken at once. */
	tc_send(c, "GET rdv\r\n");
	id = tc_expect_msg(c, "hand");
	ck_assert_uint_eq(tc_expect_queued(p), id);
	ck_assert_int_eq(tc_stat(c, "rdv", "puts"), 1);
	ck_assert_int_eq(tc_stat(c, "rdv", "gets"), 1);
	ck_assert_int_eq(tc_stat(c, "rdv", "bytes"), 0);
	tc_request(c, "GET rdv", "204 EMPTY");
	tc_close(p);
	tc_close(c);
}
END_TEST

START_TEST(test_rendezvous_get_takes_the_oldest_waiting_put)
{
	struct tconn *p1 = tc_open(&d), *p2 = tc_open(&d), *c = tc_open(&d);
	unsigned long long a, b;

	tc_request(c, "CREATE rdv2 capacity=0", "201 CREATED");
	tc_send_put(p1, "rdv2", "older");
	tc_await_stat(c, "rdv2", "blocked_producers", 1);
	tc_send_put(p2, "rdv2", "newer");
	tc_await_stat(c, "rdv2", "blocked_producers", 2);
	tc_send(c, "GET rdv2 1000\r\n");
	a = tc_expect_msg(c, "older");
	ck_assert_uint_eq(tc_expect_queued(p1), a);
	ck_assert(tc_quiet(p2, QUIET_MS));
	tc_send(c, "GET rdv2 0\r\n");
	b = tc_expect_msg(c, "newer");
	ck_assert_uint_eq(tc_expect_queued(p2), b);
	ck_assert_uint_lt(a, b);
	tc_close(p1);
	tc_close(p2);
	tc_close(c);
}
END_TEST

START_TEST(test_rendezvous_put_is_handed_to_a_waiting_get)
{
	struct tconn *p = tc_open(&d), *c = tc_open(&d);
	unsigned long long id;

	tc_request(p, "CREATE rdv3 capacity=0", "201 CREATED");
	tc_send(c, "GET rdv3 5000\r\n");
	tc_await_stat(p, "rdv3", "waiting_consumers", 1);
	/* Even with timeout 0: a consumer is there to take it. */
	tc_send_put_bytes(p, "rdv3", "direct", 6, "0");
	id = tc_expect_queued(p);
	ck_assert_uint_eq(tc_expect_msg(c, "direct"), id);
	tc_close(p);
	tc_close(c);
}
END_TEST

START_TEST(test_rendezvous_put_with_no_consumer_and_timeout_0_gets_503)
{
	struct tconn *t = tc_open(&d);

	tc_request(t, "CREATE rdv4 capacity=0", "201 CREATED");
	tc_send_put_bytes(t, "rdv4", "x", 1, "0");
	expect_full(t, "rdv4");
	ck_assert_int_eq(tc_stat(t, "rdv4", "rejected"), 1);
	tc_close(t);
}
END_TEST

START_TEST(test_rendezvous_put_with_timeout_gets_503_when_nobody_comes)
{
	struct tconn *t = tc_open(&d), *s = tc_open(&d);

	tc_request(t, "CREATE rdv6 capacity=0", "201 CREATED");
	tc_send_put_bytes(t, "rdv6", "late", 4, "100");
	tc_await_stat(s, "rdv6", "blocked_producers", 1);
	expect_full(t, "rdv6");
	ck_assert_int_eq(tc_stat(s, "rdv6", "blocked_producers"), 0);
	ck_assert_int_eq(tc_stat(s, "rdv6", "puts"), 0);
	tc_request(s, "GET rdv6", "204 EMPTY");
	tc_close(t);
	tc_close(s);
}
END_TEST

START_TEST(test_rendezvous_reject_queue_needs_a_waiting_consumer)
{
	struct tconn *p = tc_open(&d), *c = tc_open(&d);
	unsigned long long id;

	tc_request(p, "CREATE rdv5 capacity=0 policy=reject", "201 CREATED");
	tc_send_put(p, "rdv5", "nobody");
	expect_full(p, "rdv5");
	tc_send(c, "GET rdv5 5000\r\n");
	tc_await_stat(p, "rdv5", "waiting_consumers", 1);
	id = tc_put(p, "rdv5", "somebody");
	ck_assert_uint_eq(tc_expect_msg(c, "somebody"), id);
	ck_assert_int_eq(tc_stat(p, "rdv5", "rejected"), 1);
	ck_assert_int_eq(tc_stat(p, "rdv5", "puts"), 1);
	tc_close(p);
	tc_close(c);
}
END_TEST

/* ---- backpressure ------------------------------------------------ */

/*
 * A producer that writes framed PUTs of `body` bytes as fast as its
 * socket takes them.  Message n's body starts with n in 8 digits; the
 * rest is a letter that depends on n, so a consumer can check each.
 */
struct pump {
	int fd;
	const char *queue;
	size_t body;
	unsigned seq;	   /* the message being written */
	size_t off;	   /* bytes of it written so far */
	unsigned upto;	   /* write messages 0..upto-1 */
	char *frame;	   /* message seq, framed */
	size_t frame_len;
	unsigned long long sent;
	int err;	   /* errno of a failed write, from the thread */
};

static void
fill_body(char *b, size_t len, unsigned seq)
{
	char num[16];

	memset(b, 'a' + (int)(seq % 26), len);
	snprintf(num, sizeof num, "%08u", seq);
	memcpy(b, num, len < 8 ? len : 8);
}

static void
pump_frame(struct pump *p)
{
	int n = sprintf(p->frame, "PUT %s %zu\r\n", p->queue, p->body);

	fill_body(p->frame + n, p->body, p->seq);
	memcpy(p->frame + n + p->body, "\r\n", 2);
	p->frame_len = (size_t)n + p->body + 2;
	p->off = 0;
}

static void
pump_init(struct pump *p, int fd, const char *queue, size_t body)
{
	memset(p, 0, sizeof *p);
	p->fd = fd;
	p->queue = queue;
	p->body = body;
	p->frame = malloc(body + 300);
	pump_frame(p);
	ck_assert_int_eq(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK),
	    0);
}

/* Write until messages 0..upto-1 are out (1), EAGAIN (0), error (-1). */
static int
pump_send(struct pump *p)
{
	while (p->seq < p->upto) {
		ssize_t n = send(p->fd, p->frame + p->off,
		    p->frame_len - p->off, MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n <= 0)
			return -1;
		p->off += (size_t)n;
		p->sent += (unsigned long long)n;
		if (p->off == p->frame_len) {
			p->seq++;
			pump_frame(p);
		}
	}
	return 1;
}

/* Messages begun so far (the last maybe only in part). */
static unsigned
pump_begun(const struct pump *p)
{
	return p->seq + (p->off > 0);
}

/*
 * Write until the socket would block; fail if FLOOD_MAX_BYTES went out
 * first, which would mean the daemon kept reading a parked producer.
 */
static void
pump_until_blocked(struct pump *p)
{
	p->upto = (unsigned)(FLOOD_MAX_BYTES / p->frame_len) + 1;
	int r = pump_send(p);
	ck_assert_msg(r == 0, "%llu bytes written and the socket never "
			      "blocked (r=%d, %s)",
	    p->sent, r, strerror(errno));
}

/*
 * Flood q until the daemon parks the producer (STATS on s counts `parked`
 * producers) and
 * then until the socket blocks: from then on the daemon reads nothing
 * more from it, and what the producer wrote waits in the kernel.
 */
static void
flood_until_parked(struct pump *p, struct tconn *s, long long parked)
{
	uint64_t until = harness_now_ms() + TC_AWAIT_MS;

	for (;;) {
		pump_until_blocked(p);
		if (tc_stat(s, p->queue, "blocked_producers") == parked)
			break;
		ck_assert_msg(harness_now_ms() < until,
		    "producer never parked");
		/* The daemon is still reading: wait for room to write. */
		struct pollfd pfd = { p->fd, POLLOUT, 0 };
		poll(&pfd, 1, 10);
	}
	pump_until_blocked(p);
}

/* Thread: finish writing messages 0..upto-1, waiting with poll(). */
static void *
pump_thread(void *arg)
{
	struct pump *p = arg;
	int r;

	while ((r = pump_send(p)) == 0) {
		struct pollfd pfd = { p->fd, POLLOUT, 0 };
		if (poll(&pfd, 1, 10000) != 1) {
			p->err = ETIMEDOUT;
			return NULL;
		}
	}
	if (r < 0)
		p->err = errno;
	return NULL;
}

static void
pump_free(struct pump *p)
{
	free(p->frame);
}

static void
set_blocking(int fd)
{
	ck_assert_int_eq(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK),
	    0);
}

/* The local port of a connected socket. */
static int
local_port(int fd)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof sin;

	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	return ntohs(sin.sin_port);
}

/*
 * The kernel's view of the daemon's end of our connection fd, by a
 * sock_diag query, into r (with tcp_info); its attributes' length in
 * *alen.
 */
struct diag_reply {
	struct nlmsghdr nlh;
	char buf[8192];
};

static struct inet_diag_msg *
daemon_diag(int fd, struct diag_reply *r, int *alen)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 req;
	} q;
	struct sockaddr_nl nl = { .nl_family = AF_NETLINK };
	struct inet_diag_msg *msg;
	int ns, len;

	memset(&q, 0, sizeof q);
	q.nlh.nlmsg_len = sizeof q;
	q.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	q.nlh.nlmsg_flags = NLM_F_REQUEST;
	q.req.sdiag_family = AF_INET;
	q.req.sdiag_protocol = IPPROTO_TCP;
	q.req.idiag_states = ~0U;
	q.req.idiag_ext = 1 << (INET_DIAG_INFO - 1);
	q.req.id.idiag_sport = htons((uint16_t)d.port);
	q.req.id.idiag_dport = htons((uint16_t)local_port(fd));
	q.req.id.idiag_src[0] = htonl(INADDR_LOOPBACK);
	q.req.id.idiag_dst[0] = htonl(INADDR_LOOPBACK);
	q.req.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
	q.req.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
	ns = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	ck_assert_int_ge(ns, 0);
	ck_assert_int_eq(sendto(ns, &q, sizeof q, 0, (struct sockaddr *)&nl,
			     sizeof nl), (int)sizeof q);
	len = (int)recv(ns, r, sizeof *r, 0);
	close(ns);
	ck_assert_msg(len > 0 && NLMSG_OK(&r->nlh, (unsigned)len) &&
	        r->nlh.nlmsg_type == SOCK_DIAG_BY_FAMILY,
	    "sock_diag found no daemon socket for port %d", local_port(fd));
	msg = NLMSG_DATA(&r->nlh);
	*alen = (int)(r->nlh.nlmsg_len - NLMSG_LENGTH(sizeof *msg));
	return msg;
}

/*
 * Bytes the daemon has read out of its end of our connection fd: what
 * its kernel received less what still waits there unread.
 */
static unsigned long long
daemon_has_read(int fd)
{
	struct diag_reply r;
	struct inet_diag_msg *msg;
	struct rtattr *rta;
	int alen;

	msg = daemon_diag(fd, &r, &alen);
	for (rta = (struct rtattr *)(msg + 1); RTA_OK(rta, alen);
	     rta = RTA_NEXT(rta, alen)) {
		if (rta->rta_type != INET_DIAG_INFO)
			continue;
		struct tcp_info ti;
		memset(&ti, 0, sizeof ti);
		memcpy(&ti, RTA_DATA(rta),
		    RTA_PAYLOAD(rta) < sizeof ti ? RTA_PAYLOAD(rta)
						 : sizeof ti);
		ck_assert_uint_ge(ti.tcpi_bytes_received, msg->idiag_rqueue);
		return ti.tcpi_bytes_received - msg->idiag_rqueue;
	}
	ck_abort_msg("sock_diag gave no tcp_info");
	return 0;
}

/* Read one pump message: "200 MSG <id> <body>", body seq; returns id. */
static unsigned long long
expect_pump_msg(struct tconn *t, size_t body, unsigned seq, char *want,
    char *got)
{
	unsigned long long id;
	size_t len;

	const char *l = tc_expect_prefix(t, "200 MSG ");
	ck_assert_msg(sscanf(l, "200 MSG %llu %zu", &id, &len) == 2, "%s", l);
	ck_assert_uint_eq(len, body);
	tc_read(t, got, body + 2);
	fill_body(want, body, seq);
	ck_assert_msg(memcmp(got, want, body) == 0,
	    "message %u: got \"%.8s\"", seq, got);
	ck_assert(got[body] == '\r' && got[body + 1] == '\n');
	return id;
}

#define BP_BODY 65536

START_TEST(test_blocked_producer_is_held_back_by_tcp_not_by_daemon_memory)
{
	struct tconn *p = tc_open(&d), *c = tc_open(&d), *s = tc_open(&d);
	struct pump pm;
	pthread_t th;
	long rss0, rss1;
	unsigned total;
	unsigned long long *ids, held;
	char *want = malloc(BP_BODY), *got = malloc(BP_BODY + 2);

	tc_request(s, "CREATE flood capacity=2", "201 CREATED");
	rss0 = d.pid ? harness_rss_kb(&d) : 0;
	pump_init(&pm, p->fd, "flood", BP_BODY);
	/* Two messages fill the queue; the third parks; the rest pile up. */
	flood_until_parked(&pm, s, 1);
	ck_assert_uint_gt(pm.seq, 3);
	tc_sync(s);
	ck_assert_int_eq(tc_stat(s, "flood", "depth"), 2);
	ck_assert_int_eq(tc_stat(s, "flood", "blocked_producers"), 1);
	/* Held: at most 64 KiB of read-ahead plus the parked message. */
	held = daemon_has_read(p->fd) - 2 * pm.frame_len;
	ck_assert_msg(held <= 65536 + pm.frame_len,
	    "the parked producer's connection holds %llu bytes", held);
	if (d.pid) {
		rss1 = harness_rss_kb(&d);
		ck_assert_msg(rss1 - rss0 < RSS_GROWTH_MAX_KB,
		    "daemon grew by %ld KiB while %llu bytes were held back",
		    rss1 - rss0, pm.sent);
	}

	/* Drain; the producer finishes its message and writes 3 more. */
	total = pump_begun(&pm) + 3;
	pm.upto = total;
	ck_assert_int_eq(pthread_create(&th, NULL, pump_thread, &pm), 0);
	ids = calloc(total, sizeof *ids);
	for (unsigned i = 0; i < total; i++) {
		tc_send(c, "GET flood 5000\r\n");
		ids[i] = expect_pump_msg(c, BP_BODY, i, want, got);
		if (i > 0)
			ck_assert_uint_gt(ids[i], ids[i - 1]);
	}
	tc_request(c, "GET flood", "204 EMPTY");
	pthread_join(th, NULL);
	ck_assert_msg(pm.err == 0, "producer: %s", strerror(pm.err));
	ck_assert_uint_eq(pm.seq, total);
	/* Each PUT was answered once, with the id its message carried. */
	set_blocking(p->fd);
	for (unsigned i = 0; i < total; i++)
		ck_assert_uint_eq(tc_expect_queued(p), ids[i]);
	ck_assert(tc_quiet(p, 0));
	ck_assert_int_eq(tc_stat(s, "flood", "puts"), total);
	ck_assert_int_eq(tc_stat(s, "flood", "blocked_producers"), 0);
	free(ids);
	free(want);
	free(got);
	pump_free(&pm);
	tc_close(p);
	tc_close(c);
	tc_close(s);
}
END_TEST

/* A framed PUT of len bytes of `fill`, appended to buf at *at. */
static void
add_frame(char *buf, size_t *at, const char *q, size_t len, char fill)
{
	*at += (size_t)sprintf(buf + *at, "PUT %s %zu\r\n", q, len);
	memset(buf + *at, fill, len);
	*at += len;
	memcpy(buf + *at, "\r\n", 2);
	*at += 2;
}

/* Send non-blocking from buf[*off..len) until EAGAIN or the end. */
static void
send_some(int fd, const char *buf, size_t len, size_t *off)
{
	while (*off < len) {
		ssize_t n = send(fd, buf + *off, len - *off, MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		ck_assert_msg(n > 0, "send: %s", strerror(errno));
		*off += (size_t)n;
	}
}

#define RA_SMALL 64
#define RA_SMALL_BYTES (2 * 1024 * 1024)

/*
 * A parked producer holds at most the read-ahead (64 KiB) plus the
 * message it waits with, also when a message of the limit has just
 * gone through the same connection.  The producer first waits on a
 * full queue, so that a big PUT and many small ones behind it are all
 * queued in the kernel when the daemon turns back to it.
 */
START_TEST(test_parked_producer_holds_only_the_read_ahead_after_a_big_put)
{
	struct tconn *p = tc_open(&d), *s = tc_open(&d);
	static const char gate[] = "PUT gate 1\r\ng\r\n";
	size_t cap = MESSAGE_LIMIT + RA_SMALL_BYTES + 4096, len = 0, off = 0;
	size_t big_frame, small_frame = strlen("PUT ra 64\r\n") + RA_SMALL + 2;
	char *buf = malloc(cap);
	unsigned long long held;

	tc_request(s, "CREATE gate capacity=1", "201 CREATED");
	tc_put(s, "gate", "x");
	/* The big message is dropped: it is read, then forgotten. */
	tc_request(s, "CREATE sink capacity=1 policy=drop-newest",
	    "201 CREATED");
	tc_put(s, "sink", "x");
	tc_request(s, "CREATE ra capacity=1", "201 CREATED");
	tc_put(s, "ra", "x");
	tc_send_raw(p, gate, sizeof gate - 1);
	tc_await_stat(s, "gate", "blocked_producers", 1);

	add_frame(buf, &len, "sink", MESSAGE_LIMIT, 'L');
	big_frame = len;
	while (len + small_frame <= big_frame + RA_SMALL_BYTES)
		add_frame(buf, &len, "ra", RA_SMALL, 's');
	ck_assert_int_eq(fcntl(p->fd, F_SETFL,
			     fcntl(p->fd, F_GETFL) | O_NONBLOCK), 0);
	send_some(p->fd, buf, len, &off);
	ck_assert_uint_gt(off, big_frame + 2 * 65536);

	/* Open the gate: the big PUT is dropped, the first small one parks. */
	tc_send(s, "GET gate\r\n");
	tc_expect_msg(s, "x");
	tc_await_stat(s, "ra", "blocked_producers", 1);
	send_some(p->fd, buf, len, &off);
	held = daemon_has_read(p->fd) - (sizeof gate - 1) - big_frame;
	ck_assert_msg(held <= 65536 + small_frame,
	    "a parked producer holds %llu bytes of its input", held);
	free(buf);
	tc_close(p);
	tc_close(s);
}
END_TEST

#define OB_BODY (256 * 1024)
#define OB_GETS 256

START_TEST(test_client_that_never_reads_its_gets_does_not_grow_the_daemon)
{
	struct tconn *c = tc_open(&d), *p = tc_open(&d), *s = tc_open(&d);
	struct tconn *g;
	size_t one = strlen("GET ob 10000\r\n");
	char *gets = malloc(one * OB_GETS);
	struct pump pm;
	long rss0, rss1;
	int small = 64 * 1024;
	char *got = malloc(OB_BODY + 2);

	/*
	 * Keep the kernel's buffers toward the non-reader small, so what
	 * the test sees is the daemon's own bound, not loopback's autotuning.
	 */
	setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
	tc_request(s, "CREATE ob capacity=4", "201 CREATED");
	for (int i = 0; i < OB_GETS; i++)
		memcpy(gets + i * one, "GET ob 10000\r\n", one);
	tc_send_raw(c, gets, one * OB_GETS);
	free(gets);
	tc_await_stat(s, "ob", "waiting_consumers", 1);
	rss0 = d.pid ? harness_rss_kb(&d) : 0;

	/* Unbounded, the GETs would take OB_GETS * 256 KiB = 64 MiB. */
	pump_init(&pm, p->fd, "ob", OB_BODY);
	flood_until_parked(&pm, s, 1);
	tc_sync(s);
	ck_assert_int_eq(tc_stat(s, "ob", "depth"), 4);
	if (d.pid) {
		rss1 = harness_rss_kb(&d);
		ck_assert_msg(rss1 - rss0 < RSS_GROWTH_MAX_KB,
		    "daemon grew by %ld KiB for a client that does not read",
		    rss1 - rss0);
	}

	/* The non-reader leaves; the daemon notices and serves others. */
	tc_close(c);
	tc_await_stat(s, NULL, "connections", 2);
	g = tc_open(&d);
	tc_send(g, "GET ob\r\n");
	const char *l = tc_expect_prefix(g, "200 MSG ");
	ck_assert_msg(strstr(l, " 262144") != NULL, "%s", l);
	tc_read(g, got, OB_BODY + 2);
	tc_close(g);
	tc_sync(s);
	free(got);
	pump_free(&pm);
	tc_close(p);
	tc_close(s);
}
END_TEST

/* ---- clients that go away ---------------------------------------- */

START_TEST(test_producer_that_disconnects_while_parked_leaves_queue_working)
{
	struct tconn *p = tc_open(&d), *s = tc_open(&d), *c = tc_open(&d);
	unsigned long long after;

	tc_request(s, "CREATE pd capacity=1", "201 CREATED");
	tc_put(s, "pd", "first");
	tc_send_put(p, "pd", "orphan");
	tc_await_stat(s, "pd", "blocked_producers", 1);
	if (_i)
		tc_close_rst(p);
	else
		tc_close(p);
	/* Others carry on; the orphan may or may not have been stored. */
	tc_send(c, "GET pd\r\n");
	tc_expect_msg(c, "first");
	tc_await_stat(s, "pd", "blocked_producers", 0);
	tc_await_stat(s, NULL, "connections", 2);
	tc_send(c, "GET pd\r\n");
	if (strcmp(tc_line(c), "204 EMPTY") != 0) {
		ck_assert_msg(strncmp(c->line, "200 MSG ", 8) == 0, "%s",
		    c->line);
		char body[8];
		tc_read(c, body, 8);
		ck_assert(memcmp(body, "orphan\r\n", 8) == 0);
	}
	after = tc_put(s, "pd", "after");
	tc_send(c, "GET pd\r\nGET pd\r\n");
	ck_assert_uint_eq(tc_expect_msg(c, "after"), after);
	expect_empty(c);
	ck_assert_int_eq(tc_stat(s, "pd", "depth"), 0);
	ck_assert_int_eq(tc_stat(s, "pd", "bytes"), 0);
	ck_assert_int_eq(tc_stat(s, "pd", "waiting_consumers"), 0);
	tc_close(s);
	tc_close(c);
}
END_TEST

/*
 * A parked producer that leaves, by close (_i 0), reset (_i 1) or
 * shutting down its sending side (_i 2), is seen at once, though its
 * socket is not read: it leaves blocked_producers without waiting for
 * room or a timeout, and its PUT, never accepted, is not stored.
 */
START_TEST(test_producer_that_disconnects_while_parked_is_forgotten_at_once)
{
	struct tconn *p = tc_open(&d), *s = tc_open(&d);

	tc_request(s, "CREATE pdt capacity=1", "201 CREATED");
	tc_put(s, "pdt", "first");
	tc_send_put(p, "pdt", "gone");
	tc_await_stat(s, "pdt", "blocked_producers", 1);
	if (_i == 0)
		tc_close(p);
	else if (_i == 1)
		tc_close_rst(p);
	else
		ck_assert_int_eq(shutdown(p->fd, SHUT_WR), 0);
	tc_await_stat(s, "pdt", "blocked_producers", 0);
	tc_await_stat(s, NULL, "connections", 1);
	if (_i == 2) {
		tc_expect_closed(p);
		tc_close(p);
	}
	ck_assert_int_eq(tc_stat(s, "pdt", "depth"), 1);
	ck_assert_int_eq(tc_stat(s, "pdt", "rejected"), 0);
	ck_assert_int_eq(tc_stat(s, "pdt", "puts"), 1);
	tc_send(s, "GET pdt\r\n");
	tc_expect_msg(s, "first");
	tc_put(s, "pdt", "next");
	tc_close(s);
}
END_TEST

/*
 * A consumer whose GET waits and that then leaves, by close (_i 0), by
 * reset (_i 1) or by shutting down its sending side (_i 2), is never
 * handed a message: the next PUT is stored for whoever comes.
 */
START_TEST(test_waiting_consumer_that_leaves_is_never_handed_a_message)
{
	struct tconn *c = tc_open(&d), *s = tc_open(&d), *g;
	unsigned long long id;

	tc_send(c, "PING\r\nGET wc 5000\r\n");
	tc_expect(c, "200 PONG");
	tc_await_stat(s, "wc", "waiting_consumers", 1);
	if (_i == 0)
		tc_close(c);
	else if (_i == 1)
		tc_close_rst(c);
	else
		ck_assert_int_eq(shutdown(c->fd, SHUT_WR), 0);
	tc_await_stat(s, "wc", "waiting_consumers", 0);
	id = tc_put(s, "wc", "kept");
	ck_assert_int_eq(tc_stat(s, "wc", "depth"), 1);
	if (_i == 2) {
		/* Its wait ended unanswered, and the server hung up. */
		tc_expect_closed(c);
		tc_close(c);
	}
	tc_await_stat(s, NULL, "connections", 1);
	g = tc_open(&d);
	tc_send(g, "GET wc\r\n");
	ck_assert_uint_eq(tc_expect_msg(g, "kept"), id);
	tc_close(g);
	tc_close(s);
}
END_TEST

START_TEST(test_consumer_half_closing_right_after_its_get_is_never_served)
{
	struct tconn *c = tc_open(&d), *s = tc_open(&d);

	tc_request(s, "CREATE hcq capacity=4", "201 CREATED");
	tc_send(c, "GET hcq 5000\r\n");
	ck_assert_int_eq(shutdown(c->fd, SHUT_WR), 0);
	tc_expect_closed(c);
	ck_assert_int_eq(tc_stat(s, "hcq", "waiting_consumers"), 0);
	tc_put(s, "hcq", "stays");
	ck_assert_int_eq(tc_stat(s, "hcq", "depth"), 1);
	tc_close(c);
	tc_close(s);
}
END_TEST

START_TEST(test_half_closed_client_still_gets_answers_to_earlier_requests)
{
	struct tconn *c = tc_open(&d);
	unsigned long long id;

	tc_send(c, "PUT hc 1\r\na\r\nGET hc\r\nGET hc 1000\r\nPING\r\n");
	ck_assert_int_eq(shutdown(c->fd, SHUT_WR), 0);
	id = tc_expect_queued(c);
	ck_assert_uint_eq(tc_expect_msg(c, "a"), id);
	/* The second GET would wait: it ends unanswered, with the rest. */
	tc_expect_closed(c);
	tc_close(c);
}
END_TEST

/* Partial requests a client may leave behind when it vanishes. */
static const char *const torn_requests[] = {
	"P",
	"PUT vq 10",
	"PUT vq 10\r",
	"PUT vq 10\r\n",
	"PUT vq 10\r\nhel",
	"PUT vq 10\r\nhelloworld",
	"PUT vq 10\r\nhelloworld\r",
	"GET vq 5000",
	"CREATE vq capacity=1 polic",
	"PING\r\nSTATS v",
};

START_TEST(test_connections_vanishing_mid_request_leave_the_daemon_working)
{
	struct tconn *s = tc_open(&d);
	size_t n = sizeof torn_requests / sizeof *torn_requests;
	char *big = malloc(100000);

	for (size_t i = 0; i < 2 * n; i++) {
		struct tconn *t = tc_open(&d);
		tc_send(t, "%s", torn_requests[i % n]);
		if (i < n)
			tc_close(t);
		else
			tc_close_rst(t);
	}
	/* Mid-way through a body bigger than one read. */
	memset(big, 'b', 100000);
	for (int i = 0; i < 2; i++) {
		struct tconn *t = tc_open(&d);
		tc_send(t, "PUT vq 500000\r\n");
		tc_send_raw(t, big, 100000);
		if (i)
			tc_close_rst(t);
		else
			tc_close(t);
	}
	free(big);
	tc_await_stat(s, NULL, "connections", 1);
	/* Nothing half-sent was run or stored. */
	ck_assert_ptr_null(tc_stats(s, "vq"));
	tc_put(s, "vq", "whole");
	tc_send(s, "GET vq\r\n");
	tc_expect_msg(s, "whole");
	tc_close(s);
}
END_TEST

/* ---- server settings -------------------------------------------- */

#define CONN_LIMIT 2

static void
limit_setup(void)
{
	harness_start_with_config(&d, "{\"max_connections\": 2}");
}

static void
manual_setup(void)
{
	harness_start_with_config(&d, "{\"auto_create\": false}");
}

#define PER_ADDRESS_LIMIT 3

static void
per_address_setup(void)
{
	harness_start_with_config(&d,
	    "{\"max_connections\": 100, \"max_connections_per_address\": 3}");
}

/* One address cannot take every slot: the 4th from 127.0.0.1 is busy. */
START_TEST(test_connections_over_the_per_address_limit_get_503_busy)
{
	struct tconn *t[PER_ADDRESS_LIMIT], *over, *next;

	for (int i = 0; i < PER_ADDRESS_LIMIT; i++) {
		t[i] = tc_open(&d);
		tc_sync(t[i]);
	}
	over = tc_open(&d);
	tc_expect(over, "503 BUSY");
	tc_expect_closed(over);
	tc_close(over);
	/* The count follows closes: a freed place is served again. */
	tc_close(t[2]);
	tc_await_stat(t[0], NULL, "connections", PER_ADDRESS_LIMIT - 1);
	next = tc_open(&d);
	tc_request(next, "PING", "200 PONG");
	over = tc_open(&d);
	tc_expect(over, "503 BUSY");
	tc_close(over);
	tc_close(next);
	tc_close(t[1]);
	tc_close(t[0]);
}
END_TEST

static void
keepalive_setup(void)
{
	harness_start_with_config(&d, "{\"tcp_keepalive_s\": 30}");
}

static void
no_keepalive_setup(void)
{
	harness_start_with_config(&d, "{\"tcp_keepalive_s\": 0}");
}

/* The daemon's socket's timer: 2 is keepalive; *ms until it fires. */
static int
daemon_timer(int fd, unsigned *ms)
{
	struct diag_reply r;
	int alen;
	struct inet_diag_msg *msg = daemon_diag(fd, &r, &alen);

	*ms = msg->idiag_expires;
	return msg->idiag_timer;
}

/*
 * A peer that vanished without a FIN is found out by keepalive: an idle
 * client socket has its keepalive timer running, set to the config.
 */
START_TEST(test_idle_client_sockets_have_the_configured_keepalive)
{
	struct tconn *t = tc_open(&d);
	unsigned ms;

	tc_sync(t);
	ck_assert_int_eq(daemon_timer(t->fd, &ms), 2);
	ck_assert_uint_gt(ms, 0);
	ck_assert_uint_le(ms, 30000);
	tc_close(t);
}
END_TEST

START_TEST(test_keepalive_0_turns_it_off)
{
	struct tconn *t = tc_open(&d);
	unsigned ms;

	tc_sync(t);
	ck_assert_int_eq(daemon_timer(t->fd, &ms), 0);
	tc_close(t);
}
END_TEST

START_TEST(test_connection_over_the_limit_gets_503_busy_and_is_closed)
{
	struct tconn *t[CONN_LIMIT], *over, *next;

	for (int i = 0; i < CONN_LIMIT; i++) {
		t[i] = tc_open(&d);
		tc_sync(t[i]);
	}
	over = tc_open(&d);
	tc_expect(over, "503 BUSY");
	tc_expect_closed(over);
	tc_close(over);
	tc_await_stat(t[0], NULL, "connections", CONN_LIMIT);
	/* A place that frees up is given to the next client. */
	tc_close(t[1]);
	tc_await_stat(t[0], NULL, "connections", CONN_LIMIT - 1);
	next = tc_open(&d);
	tc_request(next, "PING", "200 PONG");
	tc_close(next);
	tc_close(t[0]);
}
END_TEST

START_TEST(test_without_auto_create_unknown_queues_get_404_no_queue)
{
	struct tconn *t = tc_open(&d);
	json_t *j;

	/* The body is skipped, not run: the next reply is not a PONG. */
	tc_send(t, "PUT nosuch 6\r\nPING\r\n\r\n");
	expect_no_queue(t, "nosuch");
	tc_request(t, "GET nosuch", "404 NO_QUEUE nosuch");
	/* No wait: there is nothing to wait on. */
	tc_request(t, "GET nosuch 5000", "404 NO_QUEUE nosuch");
	j = tc_stats(t, NULL);
	ck_assert_uint_eq(json_object_size(json_object_get(j, "queues")), 0);
	json_decref(j);
	tc_request(t, "CREATE nosuch", "201 CREATED");
	tc_put(t, "nosuch", "now");
	tc_close(t);
}
END_TEST

static void
few_queues_setup(void)
{
	harness_start_with_config(&d, "{\"max_queues\": 2}");
}

START_TEST(test_queues_beyond_max_queues_get_503_and_are_not_made)
{
	struct tconn *t = tc_open(&d);
	json_t *j;

	tc_put(t, "one", "1");
	tc_request(t, "CREATE two", "201 CREATED");
	/* A third name: refused, body skipped, nothing made. */
	tc_send(t, "PUT three 6\r\nPING\r\n\r\n");
	tc_expect(t, "503 TOO_MANY_QUEUES");
	tc_request(t, "GET three", "503 TOO_MANY_QUEUES");
	tc_request(t, "CREATE three", "503 TOO_MANY_QUEUES");
	j = tc_stats(t, NULL);
	ck_assert_uint_eq(json_object_size(json_object_get(j, "queues")), 2);
	json_decref(j);
	/* The queues that exist go on working; a deleted one frees a place. */
	tc_put(t, "two", "2");
	tc_request(t, "DELETE one", "200 DELETED");
	tc_put(t, "three", "3");
	tc_close(t);
}
END_TEST

/* ---- waiters the server must not forget (review findings) -------- */

/*
 * A consumer whose waiting GET is reached only after the server has
 * seen its end of file (a long pipeline ahead of it) is closed, never
 * parked: a message handed to it would be lost.
 */
START_TEST(test_get_reached_after_eof_is_not_parked)
{
	struct tconn *c = tc_open(&d), *p = tc_open(&d), *g;
	enum { NPING = 12000 };
	size_t len = NPING * 6 + 32;
	char *buf = malloc(len), *at = buf;

	for (int i = 0; i < NPING; i++, at += 6)
		memcpy(at, "PING\r\n", 6);
	at += sprintf(at, "GET q 5000\r\n");
	tc_send_raw(c, buf, (size_t)(at - buf));
	free(buf);
	shutdown(c->fd, SHUT_WR);
	for (int i = 0; i < NPING; i++)
		tc_expect(c, "200 PONG");
	tc_expect_closed(c);
	tc_close(c);
	tc_await_stat(p, "q", "waiting_consumers", 0);
	tc_put(p, "q", "precious");
	g = tc_open(&d);
	tc_send(g, "GET q\r\n");
	tc_expect_msg_bytes(g, "precious", 8);
	tc_close(g);
	tc_close(p);
}
END_TEST

/*
 * A waiting consumer whose read-ahead is full is no longer read, yet
 * its close is still seen: it leaves the line of consumers.
 */
START_TEST(test_waiting_consumer_with_full_input_is_seen_leaving)
{
	struct tconn *c = tc_open(&d), *p = tc_open(&d);
	size_t len = 72 * 1024;
	char *pings = malloc(len);

	for (size_t i = 0; i + 6 <= len; i += 6)
		memcpy(pings + i, "PING\r\n", 6);
	tc_send(c, "GET q 10000\r\n");
	tc_await_stat(p, "q", "waiting_consumers", 1);
	tc_send_raw(c, pings, len - len % 6);
	free(pings);
	tc_close(c);
	tc_await_stat(p, "q", "waiting_consumers", 0);
	tc_put(p, "q", "kept");
	tc_send(p, "GET q\r\n");
	tc_expect_msg_bytes(p, "kept", 4);
	tc_close(p);
}
END_TEST

/*
 * On a queue full of reservations a parked producer's message is not
 * ready (the spec: a PUT into a full queue meets its policy; only
 * capacity 0 hands a waiting PUT to a consumer): a GET answers 204 or
 * waits, and gets the message once an ACK makes room for the PUT.
 */
START_TEST(test_get_on_a_queue_full_of_reservations_waits_for_room)
{
	struct tconn *r = tc_open(&d), *p = tc_open(&d), *g = tc_open(&d);
	unsigned long long held;

	tc_request(r, "CREATE q capacity=1", "201 CREATED");
	held = tc_put(r, "q", "held");
	tc_reserve(r, "q", "held");
	tc_send_put(p, "q", "next");
	tc_await_stat(g, "q", "blocked_producers", 1);
	tc_request(g, "GET q", "204 EMPTY");
	tc_send(g, "GET q 5000\r\n");
	tc_await_stat(r, "q", "waiting_consumers", 1);
	ck_assert(tc_quiet(p, 50));
	tc_ack(r, held);
	tc_expect_msg_bytes(g, "next", 4);
	tc_expect_queued(p);
	tc_close(g);
	tc_close(p);
	tc_close(r);
}
END_TEST

/*
 * A waiting consumer that leaves (a RESERVE whose wait runs out) does
 * not hold up the GET behind it: once an ACK admits the parked PUT,
 * the GET is served.
 */
START_TEST(test_consumer_behind_one_that_leaves_gets_the_admitted_put)
{
	struct tconn *r = tc_open(&d), *r2 = tc_open(&d), *g = tc_open(&d);
	struct tconn *p = tc_open(&d);
	unsigned long long held;

	tc_request(r, "CREATE q capacity=1", "201 CREATED");
	held = tc_put(r, "q", "held");
	tc_reserve(r, "q", "held");
	tc_send(r2, "RESERVE q 300\r\n");
	tc_await_stat(p, "q", "waiting_consumers", 1);
	tc_send(g, "GET q 8000\r\n");
	tc_await_stat(p, "q", "waiting_consumers", 2);
	tc_send_put(p, "q", "next");
	tc_await_stat(r, "q", "blocked_producers", 1);
	expect_empty(r2);
	tc_await_stat(r, "q", "waiting_consumers", 1);
	tc_ack(r, held);
	tc_expect_msg_bytes(g, "next", 4);
	tc_expect_queued(p);
	tc_close(p);
	tc_close(g);
	tc_close(r2);
	tc_close(r);
}
END_TEST

/*
 * The 413 limit is judged again when the body is complete: a queue
 * made smaller meanwhile refuses a body it could never hold, instead
 * of parking it for ever in front of everyone else.
 */
START_TEST(test_put_is_judged_again_against_a_queue_shrunk_meanwhile)
{
	struct tconn *p = tc_open(&d), *a = tc_open(&d);

	tc_request(a, "CREATE q", "201 CREATED");
	/* The PONG proves the PUT line behind it was read and judged. */
	tc_send(p, "PING\r\nPUT q 20\r\n0123456789");
	tc_expect(p, "200 PONG");
	tc_request(a, "DELETE q", "200 DELETED");
	tc_request(a, "CREATE q max_bytes=10", "201 CREATED");
	tc_send(p, "0123456789\r\n");
	tc_expect(p, "413 TOO_LARGE 10");
	tc_put(a, "q", "fits");
	tc_request(p, "PING", "200 PONG");
	tc_close(a);
	tc_close(p);
}
END_TEST

/* ---- the suite --------------------------------------------------- */

/* Add a test case of one test, named after it, with the daemon. */
#define ADD(s, fn, timeout)                                             \
	add_case((s), #fn, (fn), daemon_setup, (timeout), 1)
#define ADD_LOOP(s, fn, timeout, n)                                     \
	add_case((s), #fn, (fn), daemon_setup, (timeout), (n))
/* The same with a daemon started by `setup`. */
#define ADD_WITH(s, fn, setup)                                          \
	add_case((s), #fn, (fn), (setup), 0, 1)

static void
add_case(Suite *s, const char *name, const TTest *fn, void (*setup)(void),
    double timeout, int n)
{
	test_add(s, name, fn, setup, daemon_teardown, timeout, n);
}

int
main(void)
{
	Suite *s = suite_create("daemon");
	int nbad = (int)(sizeof bad_requests / sizeof *bad_requests);
	int nunframe = (int)(sizeof unframeable_requests /
	    sizeof *unframeable_requests);

	/* Commands. */
	ADD(s, test_ping_answers_pong, 0);
	ADD(s, test_put_then_get_returns_binary_body_intact, 0);
	ADD(s, test_empty_body_round_trips, 0);
	ADD(s, test_message_of_exactly_the_limit_round_trips, 10);
	ADD(s, test_message_ids_increase_in_acceptance_order, 0);
	ADD(s, test_get_on_empty_queue_answers_204, 0);
	ADD(s, test_get_with_timeout_answers_204_when_nothing_arrives, 0);
	ADD(s, test_get_with_timeout_is_served_by_a_later_put, 0);
	ADD(s, test_get_with_the_largest_timeout_waits_for_a_put, 0);
	ADD(s, test_waiting_consumers_are_served_in_the_order_they_came, 0);
	ADD(s, test_consumer_whose_wait_ended_is_not_served_later, 0);
	ADD(s, test_waiting_get_holds_back_the_requests_behind_it, 0);
	ADD(s, test_create_answers_201_and_applies_its_settings, 0);
	ADD(s, test_create_omitted_options_take_the_server_defaults, 0);
	ADD(s, test_create_with_the_same_settings_answers_200_exists, 0);
	ADD(s, test_create_with_other_settings_answers_409_and_changes_nothing,
	    0);
	ADD(s, test_create_capacity_0_is_allowed_for_block_and_reject, 0);
	ADD(s, test_create_beyond_the_queue_ceilings_gets_400_naming_the_limit,
	    0);
	ADD_WITH(s, test_create_ceilings_come_from_the_config,
	    small_ceilings_setup);
	ADD(s, test_delete_discards_the_queue_and_its_messages, 0);
	ADD(s, test_delete_answers_waiting_consumers_404_no_queue, 0);
	ADD(s, test_delete_answers_parked_producers_404_no_queue, 0);
	ADD(s, test_purge_answers_the_count_of_discarded_messages, 0);
	ADD(s, test_purge_gives_room_to_parked_producers, 0);
	ADD(s, test_stats_of_a_queue_counts_exactly_after_a_known_sequence, 0);
	ADD(s, test_stats_counts_drops_of_both_kinds, 0);
	ADD(s, test_global_stats_has_every_field_and_sums_the_queues, 0);
	ADD(s, test_stats_of_an_unknown_queue_is_404, 0);
	ADD(s, test_auth_without_a_configured_token_answers_ok, 0);
	ADD(s, test_quit_answers_bye_then_closes, 0);
	ADD(s, test_put_to_an_unknown_queue_creates_it_with_the_defaults, 0);
	ADD(s, test_queue_names_are_case_sensitive_and_commands_are_not, 0);
	ADD(s, test_bare_newlines_and_extra_spaces_are_accepted, 0);
	ADD(s, test_numbers_of_19_digits_with_leading_zeros_are_valid, 0);
	ADD(s, test_pipelined_requests_are_answered_in_order, 0);
	ADD(s, test_request_split_into_single_bytes_is_understood, 0);

	/* Errors. */
	ADD_LOOP(s, test_bad_request_gets_400_and_the_connection_stays_usable,
	    0, nbad);
	ADD(s, test_queue_name_of_128_bytes_is_valid_and_129_is_not, 0);
	ADD(s, test_line_of_exactly_1024_bytes_is_accepted, 0);
	ADD_LOOP(s, test_line_longer_than_1024_bytes_gets_400_and_close, 0, 2);
	ADD(s, test_endless_line_gets_400_and_close, 0);
	ADD_LOOP(s, test_unframeable_put_gets_400_and_close, 0, nunframe);
	ADD(s, test_body_over_the_limit_not_followed_by_terminator_closes, 10);
	ADD(s, test_put_over_the_message_limit_gets_413_and_stays_usable, 10);
	ADD(s, test_put_over_the_queue_max_bytes_gets_413_with_that_limit, 10);
	ADD(s, test_bad_line_with_an_oversized_body_gets_400_not_413, 10);

	/* Policies and capacity 0. */
	ADD(s, test_put_into_full_reject_queue_gets_503_with_retry_hint, 0);
	ADD(s, test_put_into_full_drop_newest_queue_gets_202_dropped, 0);
	ADD(s, test_put_into_full_drop_oldest_queue_discards_the_oldest, 0);
	ADD(s, test_drop_oldest_discards_as_many_as_the_bytes_need, 0);
	ADD(s, test_block_put_with_timeout_0_into_full_queue_gets_503_at_once,
	    0);
	ADD(s, test_block_put_with_timeout_gets_503_after_waiting, 0);
	ADD(s, test_block_put_without_timeout_parks_until_a_get_makes_room, 0);
	ADD(s, test_parked_producers_resume_in_the_order_they_parked, 0);
	ADD(s, test_put_waits_behind_parked_producers_even_if_it_would_fit, 0);
	ADD(s, test_producer_behind_one_that_timed_out_gets_room, 0);
	ADD(s, test_max_bytes_bounds_the_queue, 0);
	ADD(s, test_rendezvous_put_waits_until_a_get_takes_it, 0);
	ADD(s, test_rendezvous_get_takes_the_oldest_waiting_put, 0);
	ADD(s, test_rendezvous_put_is_handed_to_a_waiting_get, 0);
	ADD(s, test_rendezvous_put_with_no_consumer_and_timeout_0_gets_503, 0);
	ADD(s, test_rendezvous_put_with_timeout_gets_503_when_nobody_comes, 0);
	ADD(s, test_rendezvous_reject_queue_needs_a_waiting_consumer, 0);

	/* Backpressure and memory bounds. */
	ADD(s, test_blocked_producer_is_held_back_by_tcp_not_by_daemon_memory,
	    60);
	ADD(s, test_client_that_never_reads_its_gets_does_not_grow_the_daemon,
	    30);
	ADD(s, test_parked_producer_holds_only_the_read_ahead_after_a_big_put,
	    0);

	/* Server settings. */
	ADD_WITH(s, test_connections_over_the_per_address_limit_get_503_busy,
	    per_address_setup);
	ADD_WITH(s, test_idle_client_sockets_have_the_configured_keepalive,
	    keepalive_setup);
	ADD_WITH(s, test_keepalive_0_turns_it_off, no_keepalive_setup);
	ADD_WITH(s, test_connection_over_the_limit_gets_503_busy_and_is_closed,
	    limit_setup);
	ADD_WITH(s, test_without_auto_create_unknown_queues_get_404_no_queue,
	    manual_setup);
	ADD_WITH(s, test_queues_beyond_max_queues_get_503_and_are_not_made,
	    few_queues_setup);

	/* Waiters the server must not forget. */
	ADD(s, test_get_reached_after_eof_is_not_parked, 20);
	ADD(s, test_waiting_consumer_with_full_input_is_seen_leaving, 20);
	ADD(s, test_get_on_a_queue_full_of_reservations_waits_for_room, 0);
	ADD(s, test_consumer_behind_one_that_leaves_gets_the_admitted_put, 20);
	ADD(s, test_put_is_judged_again_against_a_queue_shrunk_meanwhile, 0);

	/* Clients that go away. */
	ADD_LOOP(s,
	    test_producer_that_disconnects_while_parked_leaves_queue_working,
	    0, 2);
	ADD_LOOP(s,
	    test_producer_that_disconnects_while_parked_is_forgotten_at_once, 0,
	    3);
	ADD_LOOP(s, test_waiting_consumer_that_leaves_is_never_handed_a_message,
	    0, 3);
	ADD(s, test_consumer_half_closing_right_after_its_get_is_never_served,
	    0);
	ADD(s, test_half_closed_client_still_gets_answers_to_earlier_requests,
	    0);
	ADD(s, test_connections_vanishing_mid_request_leave_the_daemon_working,
	    10);

	return test_run(s);
}
