/*
 * check_security.c - what keeps hostile or careless clients from
 * holding the daemon: the request, idle and auth deadlines, the
 * permissions of tokens, and the memory budget.  Each test starts its
 * own sluiced with a config that makes the bound small.
 *
 * Deadlines are tested by waiting for the close they cause, with a
 * bounded read (tc_expect_closed gives up after 10 s), never by
 * sleeping; that a connection was NOT closed is shown against another
 * connection of the same daemon that the same deadline did close.
 */
#include <check.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "testcase.h"

static struct daemon d;

static void
setup(void)
{
}

static void
teardown(void)
{
	/* A clean exit: under the sanitizers, also no leak and no report. */
	ck_assert_int_eq(harness_stop(&d), 0);
}

/* ---- deadlines --------------------------------------------------- */

#define SHORT_MS 300

/* A partial request line is cut off once request_timeout_ms is over. */
START_TEST(test_slow_request_line_is_closed_after_request_timeout)
{
	struct tconn *t;
	uint64_t t0;

	harness_start_with_config(&d, "{\"request_timeout_ms\": 300}");
	t = tc_open(&d);
	tc_sync(t);
	t0 = harness_now_ms();
	tc_send(t, "PI");
	tc_expect_closed(t);
	ck_assert_uint_ge(harness_now_ms() - t0, SHORT_MS - 10);
	tc_close(t);
}
END_TEST

/* The same for a body that stops coming (slowloris on the body). */
START_TEST(test_slow_body_is_closed_after_request_timeout)
{
	struct tconn *t, *other;

	harness_start_with_config(&d, "{\"request_timeout_ms\": 300}");
	t = tc_open(&d);
	other = tc_open(&d);
	tc_send(t, "PUT q 10\r\nabc");
	tc_expect_closed(t);
	/* Nothing of it was stored, and the daemon serves others. */
	tc_request(other, "GET q", "204 EMPTY");
	tc_close(t);
	tc_close(other);
}
END_TEST

/*
 * A client that keeps sending whole requests, one after another, for
 * longer than the timeout is never cut off: the clock is per request.
 */
START_TEST(test_whole_requests_for_longer_than_the_timeout_stay_open)
{
	struct tconn *t;
	uint64_t t0;

	harness_start_with_config(&d, "{\"request_timeout_ms\": 300}");
	t = tc_open(&d);
	t0 = harness_now_ms();
	while (harness_now_ms() - t0 < 3 * SHORT_MS) {
		/* Each request split in two writes: started, then finished. */
		tc_send(t, "PUT q 2\r\nh");
		tc_send(t, "i\r\n");
		tc_expect_queued(t);
		tc_send(t, "GET q\r\n");
		tc_expect_msg(t, "hi");
	}
	tc_sync(t);
	tc_close(t);
}
END_TEST

/*
 * An idle connection is closed after idle_timeout_s; one waiting in a
 * GET, one holding a reservation and one parked on a full queue are not.
 */
START_TEST(test_idle_connection_closes_but_waiting_and_reserving_ones_stay)
{
	struct tconn *idle, *waiting, *reserving, *parked, *t;
	unsigned long long id;
	char ack[64];

	harness_start_with_config(&d,
	    "{\"idle_timeout_s\": 1, \"queues\": [{\"name\": \"full\", "
	    "\"capacity\": 1}]}");
	t = tc_open(&d);
	tc_put(t, "r", "job");
	tc_put(t, "full", "x");
	waiting = tc_open(&d);
	tc_send(waiting, "GET w 20000\r\n");
	reserving = tc_open(&d);
	tc_send(reserving, "RESERVE r\r\n");
	id = tc_expect_msg(reserving, "job");
	parked = tc_open(&d);
	tc_send_put(parked, "full", "y");
	tc_close(t);
	idle = tc_open(&d);
	tc_sync(idle);
	/* The idle one goes; by then the deadline has passed for all. */
	tc_expect_closed(idle);
	t = tc_open(&d);
	tc_await_stat(t, "full", "blocked_producers", 1);
	tc_put(t, "w", "late");
	tc_expect_msg(waiting, "late");
	tc_send(t, "GET full\r\n");
	tc_expect_msg(t, "x");
	tc_expect_queued(parked);
	snprintf(ack, sizeof ack, "ACK %llu", id);
	tc_request(reserving, ack, "200 ACKED");
	tc_close(idle);
	tc_close(waiting);
	tc_close(reserving);
	tc_close(parked);
	tc_close(t);
}
END_TEST

/* Write a token to a new temporary file; its name goes to path. */
static void
token_file(char *path, size_t size, const char *token)
{
	int fd;

	snprintf(path, size, "/tmp/sluice_token.XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, token, strlen(token)),
	    (ssize_t)strlen(token));
	close(fd);
}

/* With a token, a connection must AUTH within auth_timeout_ms. */
START_TEST(test_unauthenticated_connection_is_closed_after_auth_timeout)
{
	char tok[64], json[256];
	struct tconn *anon, *authed;

	token_file(tok, sizeof tok, "s3cret");
	snprintf(json, sizeof json,
	    "{\"auth_token_file\": \"%s\", \"auth_timeout_ms\": 300}", tok);
	harness_start_with_config(&d, json);
	unlink(tok);
	authed = tc_open(&d);
	tc_request(authed, "AUTH s3cret", "200 OK");
	anon = tc_open(&d);
	tc_request(anon, "PING", "200 PONG");
	tc_request(anon, "AUTH wrong", "401 UNAUTHORIZED");
	tc_expect_closed(anon);
	tc_request(authed, "PING", "200 PONG");
	tc_close(anon);
	tc_close(authed);
}
END_TEST

/* 0 turns each deadline off. */
START_TEST(test_timeouts_of_0_are_off)
{
	struct tconn *slow, *t;

	harness_start_with_config(&d,
	    "{\"request_timeout_ms\": 0, \"idle_timeout_s\": 0, "
	    "\"auth_timeout_ms\": 0}");
	slow = tc_open(&d);
	tc_send(slow, "PI");
	ck_assert(tc_quiet(slow, 2 * SHORT_MS));
	tc_send(slow, "NG\r\n");
	tc_expect(slow, "200 PONG");
	t = tc_open(&d);
	tc_sync(t);
	tc_close(t);
	tc_close(slow);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("security");

	TEST(s, test_slow_request_line_is_closed_after_request_timeout);
	TEST(s, test_slow_body_is_closed_after_request_timeout);
	TEST(s, test_whole_requests_for_longer_than_the_timeout_stay_open);
	TEST(s,
	    test_idle_connection_closes_but_waiting_and_reserving_ones_stay);
	TEST(s, test_unauthenticated_connection_is_closed_after_auth_timeout);
	TEST(s, test_timeouts_of_0_are_off);
	return test_run(s);
}
