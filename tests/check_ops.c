/*
 * check_ops.c - what operators lean on, against the real sluiced over
 * TCP: PEEK (sluiced's extension: the first ready messages, in GET's
 * order, without disturbing order, reservations or waits; bounded),
 * and nothing else yet.
 */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Send a PEEK line and read its 200 JSON answer as an object. */
static json_t *
peek(struct tconn *t, const char *line)
{
	const char *l;
	size_t len;
	char *body;
	json_error_t e;
	json_t *j;

	tc_send(t, "%s\r\n", line);
	l = tc_expect_prefix(t, "200 JSON ");
	ck_assert_int_eq(sscanf(l, "200 JSON %zu", &len), 1);
	body = malloc(len + 2);
	tc_read(t, body, len + 2);
	ck_assert_mem_eq(body + len, "\r\n", 2);
	j = json_loadb(body, len, 0, &e);
	ck_assert_msg(j != NULL, "not JSON: %.*s", (int)len, body);
	free(body);
	return j;
}

/* Decode base64 (the test's own decoder); returns the length. */
static size_t
unbase64(const char *s, char *out)
{
	static const char abc[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = 0, len = strlen(s);
	unsigned v = 0;
	int bits = 0;

	ck_assert_int_eq(len % 4, 0);
	for (size_t i = 0; i < len && s[i] != '='; i++) {
		const char *p = strchr(abc, s[i]);
		ck_assert_ptr_nonnull(p);
		v = v << 6 | (unsigned)(p - abc);
		if ((bits += 6) >= 8) {
			bits -= 8;
			out[n++] = (char)(v >> bits & 0xff);
		}
	}
	return n;
}

/* The i-th message of a PEEK answer: its id, and its body in out. */
static long long
peeked(json_t *j, size_t i, char *out, size_t *len)
{
	json_t *m = json_array_get(json_object_get(j, "messages"), i);

	ck_assert_ptr_nonnull(m);
	*len =
	    unbase64(json_string_value(json_object_get(m, "body_base64")), out);
	return json_integer_value(json_object_get(m, "id"));
}

static size_t
npeeked(json_t *j)
{
	return json_array_size(json_object_get(j, "messages"));
}

START_TEST(test_peek_shows_ready_messages_in_get_order_without_taking_them)
{
	struct tconn *t = tc_open(&d);
	unsigned long long a, b, c, e;
	char body[16];
	size_t len;
	json_t *j;

	a = tc_put(t, "q", "a");
	b = tc_put(t, "q", "b");
	c = tc_put(t, "q", "c");
	e = tc_put(t, "q", "e");
	/* a stays reserved; b is given back, so it goes first again. */
	tc_send(t, "RESERVE q\r\n");
	ck_assert_uint_eq(tc_expect_msg(t, "a"), a);
	tc_send(t, "RESERVE q\r\n");
	ck_assert_uint_eq(tc_expect_msg(t, "b"), b);
	tc_send(t, "NACK %llu\r\n", b);
	tc_expect(t, "200 REQUEUED");

	j = peek(t, "PEEK q 10");
	ck_assert_str_eq(json_string_value(json_object_get(j, "queue")), "q");
	ck_assert_int_eq(json_integer_value(json_object_get(j, "depth")), 3);
	ck_assert_uint_eq(npeeked(j), 3);
	ck_assert_int_eq(peeked(j, 0, body, &len), (long long)b);
	ck_assert_int_eq(peeked(j, 1, body, &len), (long long)c);
	ck_assert_int_eq(peeked(j, 2, body, &len), (long long)e);
	ck_assert_mem_eq(body, "e", len);
	json_decref(j);
	/* Without a count: one. */
	j = peek(t, "peek q");
	ck_assert_uint_eq(npeeked(j), 1);
	ck_assert_int_eq(peeked(j, 0, body, &len), (long long)b);
	json_decref(j);

	/* Nothing moved: counters, reservation and order as they were. */
	ck_assert_int_eq(tc_stat(t, "q", "gets"), 2);
	ck_assert_int_eq(tc_stat(t, "q", "reserved"), 1);
	ck_assert_int_eq(tc_stat(t, "q", "depth"), 3);
	tc_send(t, "GET q\r\n");
	ck_assert_uint_eq(tc_expect_msg(t, "b"), b);
	tc_send(t, "ACK %llu\r\n", a);
	tc_expect(t, "200 ACKED");
	tc_close(t);
}
END_TEST

START_TEST(test_peek_bodies_are_base64_and_binary_safe)
{
	static const char bin[] = "\0\r\nPUT x 3\r\n\xff\xfe";
	struct tconn *t = tc_open(&d);
	char body[64];
	size_t len;
	json_t *j;

	tc_send_put_bytes(t, "bin", bin, sizeof bin - 1, NULL);
	tc_expect_queued(t);
	tc_send_put_bytes(t, "bin", "", 0, NULL);
	tc_expect_queued(t);
	j = peek(t, "PEEK bin 2");
	peeked(j, 0, body, &len);
	ck_assert_uint_eq(len, sizeof bin - 1);
	ck_assert_mem_eq(body, bin, len);
	peeked(j, 1, body, &len);
	ck_assert_uint_eq(len, 0);
	json_decref(j);
	tc_close(t);
}
END_TEST

START_TEST(test_peek_is_bounded_in_count_and_bytes)
{
	struct tconn *t = tc_open(&d);
	size_t big = 100 * 1024, len;
	char *body = malloc(big), *out = malloc(big);
	json_t *j, *m;

	tc_request(t, "PEEK q 0", "400 BAD_REQUEST bad count: 1 to 100");
	tc_request(t, "PEEK q 101", "400 BAD_REQUEST bad count: 1 to 100");
	tc_request(t, "PEEK q x", "400 BAD_REQUEST bad count: 1 to 100");
	tc_request(t, "PEEK", "400 BAD_REQUEST wrong number of arguments");
	memset(body, 'x', big);
	for (int i = 0; i < 20; i++) {
		tc_send_put_bytes(t, "big", body, big, NULL);
		tc_expect_queued(t);
	}
	j = peek(t, "PEEK big 100");
	/* Each body cut at 64 KiB, and 1 MiB of them in all. */
	ck_assert_uint_eq(npeeked(j), 16);
	m = json_array_get(json_object_get(j, "messages"), 0);
	ck_assert(json_is_true(json_object_get(m, "cut")));
	ck_assert_int_eq(json_integer_value(json_object_get(m, "bytes")),
	    (json_int_t)big);
	peeked(j, 15, out, &len);
	ck_assert_uint_eq(len, 64 * 1024);
	json_decref(j);
	/* A short body is not cut. */
	tc_put(t, "small", "hi");
	j = peek(t, "PEEK small");
	m = json_array_get(json_object_get(j, "messages"), 0);
	ck_assert_ptr_null(json_object_get(m, "cut"));
	json_decref(j);
	free(body);
	free(out);
	tc_close(t);
}
END_TEST

START_TEST(test_peek_of_an_unknown_queue_is_404_and_makes_none)
{
	struct tconn *t = tc_open(&d);

	tc_request(t, "PEEK nosuch 5", "404 NO_QUEUE nosuch");
	ck_assert_ptr_null(tc_stats(t, "nosuch"));
	tc_close(t);
}
END_TEST

START_TEST(test_peek_leaves_parked_producers_and_waiting_consumers_waiting)
{
	struct tconn *t = tc_open(&d), *p = tc_open(&d), *w = tc_open(&d);
	char body[16];
	size_t len;
	json_t *j;

	tc_request(t, "CREATE full capacity=1", "201 CREATED");
	tc_request(t, "CREATE idle", "201 CREATED");
	tc_put(t, "full", "a");
	tc_send_put(p, "full", "b");
	tc_send(w, "GET idle 60000\r\n");
	tc_await_stat(t, "full", "blocked_producers", 1);
	tc_await_stat(t, "idle", "waiting_consumers", 1);

	j = peek(t, "PEEK full 5");
	ck_assert_uint_eq(npeeked(j), 1);
	peeked(j, 0, body, &len);
	ck_assert_mem_eq(body, "a", len);
	json_decref(j);
	j = peek(t, "PEEK idle 5");
	ck_assert_uint_eq(npeeked(j), 0);
	json_decref(j);
	ck_assert(tc_quiet(p, 50));
	ck_assert(tc_quiet(w, 50));
	ck_assert_int_eq(tc_stat(t, "full", "blocked_producers"), 1);
	ck_assert_int_eq(tc_stat(t, "idle", "waiting_consumers"), 1);

	/* And they are served as if PEEK had never come. */
	tc_send(t, "GET full\r\n");
	tc_expect_msg(t, "a");
	tc_expect_queued(p);
	tc_put(t, "idle", "x");
	tc_expect_msg(w, "x");
	tc_close(w);
	tc_close(p);
	tc_close(t);
}
END_TEST

/*
 * PEEK next to protocol 1.1: a message NACKed with a delay is not ready,
 * so not shown; a closed queue is still read, never answered 410.
 */
START_TEST(test_peek_skips_delayed_messages_and_reads_a_closed_queue)
{
	struct tconn *t = tc_open(&d);
	unsigned long long a, b;
	char body[16];
	size_t len;
	json_t *j;

	a = tc_put(t, "dq", "a");
	b = tc_put(t, "dq", "b");
	tc_send(t, "RESERVE dq\r\n");
	ck_assert_uint_eq(tc_expect_msg(t, "a"), a);
	tc_send(t, "NACK %llu 600000\r\n", a);
	tc_expect(t, "200 REQUEUED");
	ck_assert_int_eq(tc_stat(t, "dq", "delayed"), 1);

	j = peek(t, "PEEK dq 10");
	ck_assert_int_eq(json_integer_value(json_object_get(j, "depth")), 1);
	ck_assert_uint_eq(npeeked(j), 1);
	ck_assert_int_eq(peeked(j, 0, body, &len), (long long)b);
	json_decref(j);

	tc_send(t, "CLOSE dq\r\n");
	tc_expect(t, "200 CLOSED");
	j = peek(t, "PEEK dq 10");
	ck_assert_uint_eq(npeeked(j), 1);
	ck_assert_int_eq(peeked(j, 0, body, &len), (long long)b);
	json_decref(j);
	tc_send(t, "GET dq\r\n");
	ck_assert_uint_eq(tc_expect_msg(t, "b"), b);
	j = peek(t, "PEEK dq");
	ck_assert_int_eq(json_integer_value(json_object_get(j, "depth")), 0);
	ck_assert_uint_eq(npeeked(j), 0);
	json_decref(j);
	ck_assert_int_eq(tc_stat(t, "dq", "delayed"), 1);
	tc_close(t);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("ops");

	TEST(s,
	    test_peek_shows_ready_messages_in_get_order_without_taking_them);
	TEST(s, test_peek_bodies_are_base64_and_binary_safe);
	TEST_TIMEOUT(s, test_peek_is_bounded_in_count_and_bytes, 20);
	TEST(s, test_peek_of_an_unknown_queue_is_404_and_makes_none);
	TEST(s,
	    test_peek_leaves_parked_producers_and_waiting_consumers_waiting);
	TEST(s, test_peek_skips_delayed_messages_and_reads_a_closed_queue);
	return test_run(s);
}
