/*
 * check_durable.c - protocol 1.1's durable queues against the real
 * sluiced with a data directory: what a restart keeps, after SIGTERM
 * and after SIGKILL, for every fsync policy.
 *
 * SIGKILL keeps the page cache, so these tests prove what the log
 * holds once an answer is sent (the spec: an answer that reports a
 * change on a disk queue is sent only once the change is in the log);
 * what a power cut keeps is the power-cut tests' job.
 *
 * Each test runs once per fsync policy (loop index: always, everysec,
 * no) in a fresh data directory that it removes at the end.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "harness_dir.h"

static const char *const policies[] = { "always", "everysec", "no" };

static struct daemon d;
static char dir[64];
static const char *policy;

static void
start(void)
{
	const char *extra[] = { "-d", dir, "-f", policy, NULL };

	harness_start(&d, extra);
}

/* A restart: SIGTERM (graceful) or SIGKILL (a crash). */
static void
restart(int sig)
{
	if (sig == SIGKILL) {
		kill(d.pid, SIGKILL);
		ck_assert_int_eq(harness_wait(&d), -1);
	} else {
		ck_assert_int_eq(harness_stop(&d), 0);
	}
	start();
}

static void
setup_loop(int i)
{
	strcpy(dir, "/tmp/sluice_durable.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	policy = policies[i % 3];
	start();
}

static void
teardown(void)
{
	ck_assert_int_eq(harness_stop(&d), 0);
	harness_rm_rf(dir);
}

static const char *
stat_str(struct tconn *t, const char *q, const char *field)
{
	static char buf[64];
	json_t *j = tc_stats(t, q);

	ck_assert_ptr_nonnull(j);
	snprintf(buf, sizeof buf, "%s", stats_str(j, field));
	json_decref(j);
	return buf;
}

static bool
stat_bool(struct tconn *t, const char *q, const char *field)
{
	json_t *j = tc_stats(t, q);
	bool b;

	ck_assert_ptr_nonnull(j);
	b = json_is_true(json_object_get(j, field));
	json_decref(j);
	return b;
}

/* ---- messages and ids ---- */

static void
messages_survive(int sig)
{
	struct tconn *t = tc_open(&d);
	unsigned long long id[3], got, next;
	static unsigned char bin[70000];

	for (size_t i = 0; i < sizeof bin; i++)
		bin[i] = (unsigned char)(i * 131 + 7);
	id[0] = tc_put(t, "q", "one");
	tc_send_put_bytes(t, "q", bin, sizeof bin, NULL);
	id[1] = tc_expect_queued(t);
	id[2] = tc_put(t, "q", "");
	tc_close(t);
	restart(sig);
	t = tc_open(&d);
	ck_assert_int_eq(tc_stat(t, "q", "depth"), 3);
	ck_assert_str_eq(stat_str(t, "q", "storage"), "disk");
	tc_send(t, "GET q\r\n");
	ck_assert_uint_eq(tc_expect_msg(t, "one"), id[0]);
	tc_send(t, "GET q\r\n");
	ck_assert_uint_eq(tc_expect_msg_bytes(t, bin, sizeof bin), id[1]);
	tc_send(t, "GET q\r\n");
	got = tc_expect_msg(t, "");
	ck_assert_uint_eq(got, id[2]);
	next = tc_put(t, "q", "after");
	ck_assert_uint_gt(next, id[2]);
	tc_close(t);
}

START_TEST(test_messages_and_ids_survive_sigterm)
{
	setup_loop(_i);
	messages_survive(SIGTERM);
}
END_TEST

START_TEST(test_messages_and_ids_survive_sigkill)
{
	setup_loop(_i);
	messages_survive(SIGKILL);
}
END_TEST

START_TEST(test_got_and_acked_messages_do_not_come_back)
{
	setup_loop(_i);
	struct tconn *t = tc_open(&d);
	unsigned long long a = tc_put(t, "q", "a"), b = tc_put(t, "q", "b"),
			   c = tc_put(t, "q", "c"), e = tc_put(t, "q", "e");

	tc_send(t, "GET q\r\n");
	ck_assert_uint_eq(tc_expect_msg(t, "a"), a);
	ck_assert_uint_eq(tc_reserve(t, "q", "b"), b);
	tc_ack(t, b);
	/* c reserved, never acknowledged: ready again after the crash. */
	ck_assert_uint_eq(tc_reserve(t, "q", "c"), c);
	restart(SIGKILL);
	tc_close(t);
	t = tc_open(&d);
	ck_assert_int_eq(tc_stat(t, "q", "depth"), 2);
	ck_assert_int_eq(tc_stat(t, "q", "reserved"), 0);
	tc_send(t, "GET q\r\n");
	ck_assert_uint_eq(tc_expect_msg(t, "c"), c);
	tc_send(t, "GET q\r\n");
	ck_assert_uint_eq(tc_expect_msg(t, "e"), e);
	tc_request(t, "GET q", "204 EMPTY");
	tc_close(t);
}
END_TEST

START_TEST(test_ids_keep_rising_memory_queues_included)
{
	setup_loop(_i);
	struct tconn *t = tc_open(&d);
	unsigned long long last = 0, first_after;

	tc_request(t, "CREATE m storage=memory", "201 CREATED");
	for (int i = 0; i < 100; i++)
		last = tc_put(t, i % 2 ? "m" : "q", "x");
	restart(SIGKILL);
	tc_close(t);
	t = tc_open(&d);
	first_after = tc_put(t, "m", "y");
	ck_assert_uint_gt(first_after, last);
	ck_assert_uint_gt(tc_put(t, "q", "y"), first_after);
	tc_close(t);
}
END_TEST

START_TEST(test_memory_queues_are_gone_after_restart)
{
	setup_loop(_i);
	struct tconn *t = tc_open(&d);

	tc_request(t, "CREATE m storage=memory", "201 CREATED");
	tc_put(t, "m", "x");
	ck_assert_str_eq(stat_str(t, "m", "storage"), "memory");
	restart(SIGTERM);
	tc_close(t);
	t = tc_open(&d);
	ck_assert_ptr_null(tc_stats(t, "m"));
	tc_close(t);
}
END_TEST

/* ---- queue settings and state ---- */

START_TEST(test_settings_closed_state_purge_and_delete_survive)
{
	setup_loop(_i);
	struct tconn *t = tc_open(&d);

	tc_request(t, "CREATE s capacity=7 max_bytes=9999 policy=reject",
	    "201 CREATED");
	tc_request(t, "CREATE c", "201 CREATED");
	tc_put(t, "c", "last");
	tc_request(t, "CLOSE c", "200 CLOSED");
	tc_put(t, "p", "x");
	tc_put(t, "p", "y");
	tc_request(t, "PURGE p", "200 PURGED 2");
	tc_put(t, "gone", "z");
	tc_request(t, "DELETE gone", "200 DELETED");
	restart(SIGKILL);
	tc_close(t);
	t = tc_open(&d);
	tc_request(t, "CREATE s capacity=7 max_bytes=9999 policy=reject",
	    "200 EXISTS");
	tc_request(t, "CREATE s capacity=8", "409 CONFLICT s");
	ck_assert(stat_bool(t, "c", "closed"));
	tc_send(t, "GET c\r\n");
	tc_expect_msg(t, "last");
	tc_request(t, "GET c", "410 CLOSED c");
	ck_assert_int_eq(tc_stat(t, "p", "depth"), 0);
	ck_assert_ptr_null(tc_stats(t, "gone"));
	tc_close(t);
}
END_TEST

START_TEST(test_storage_is_compared_like_other_settings)
{
	setup_loop(_i);
	struct tconn *t = tc_open(&d);

	tc_request(t, "CREATE q", "201 CREATED");
	tc_request(t, "CREATE q storage=disk", "200 EXISTS");
	tc_request(t, "CREATE q storage=memory", "409 CONFLICT q");
	tc_send(t, "CREATE r storage=tape\r\n");
	tc_expect_prefix(t, "400 BAD_REQUEST");
	tc_close(t);
}
END_TEST

START_TEST(test_delayed_and_dead_letter_settings_survive)
{
	setup_loop(_i);
	struct tconn *t = tc_open(&d);
	unsigned long long id;

	tc_request(t, "CREATE q max_deliveries=2 dead_letter=dlq",
	    "201 CREATED");
	id = tc_put(t, "q", "later");
	tc_reserve(t, "q", "later");
	tc_send(t, "NACK %llu 200\r\n", id);
	tc_expect(t, "200 REQUEUED");
	restart(SIGKILL);
	tc_close(t);
	t = tc_open(&d);
	tc_request(t, "CREATE q max_deliveries=2 dead_letter=dlq",
	    "200 EXISTS");
	/* Kept (its delay may restart), then ready again. */
	tc_send(t, "RESERVE q 10000\r\n");
	ck_assert_uint_eq(tc_expect_msg(t, "later"), id);
	tc_close(t);
}
END_TEST

/*
 * A message given back after a delay is logged with its delivery
 * count; one given back at once is not: both are ready again in id
 * order, before the one never delivered.
 */
START_TEST(test_given_back_messages_come_back_in_id_order)
{
	setup_loop(_i);
	struct tconn *t = tc_open(&d);
	unsigned long long a = tc_put(t, "q", "a"), b = tc_put(t, "q", "b"),
			   c = tc_put(t, "q", "c");

	tc_reserve(t, "q", "a");
	tc_reserve(t, "q", "b");
	tc_send(t, "NACK %llu\r\n", a);
	tc_expect(t, "200 REQUEUED");
	tc_send(t, "NACK %llu 1\r\n", b);
	tc_expect(t, "200 REQUEUED");
	tc_await_stat(t, "q", "delayed", 0);
	restart(SIGKILL);
	tc_close(t);
	t = tc_open(&d);
	tc_send(t, "GET q\r\n");
	ck_assert_uint_eq(tc_expect_msg(t, "a"), a);
	tc_send(t, "GET q\r\n");
	ck_assert_uint_eq(tc_expect_msg(t, "b"), b);
	tc_send(t, "GET q\r\n");
	ck_assert_uint_eq(tc_expect_msg(t, "c"), c);
	tc_close(t);
}
END_TEST

static TCase *
tcase(Suite *s, const char *name)
{
	TCase *tc = tcase_create(name);

	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	return tc;
}

/* Every test in a fresh directory, once per fsync policy. */
#define ADD(tc, fn) tcase_add_loop_test(tc, fn, 0, 3)

int
main(void)
{
	Suite *s = suite_create("durable");
	TCase *tc;

	tc = tcase(s, "restart");
	tcase_add_checked_fixture(tc, NULL, teardown);
	ADD(tc, test_messages_and_ids_survive_sigterm);
	ADD(tc, test_messages_and_ids_survive_sigkill);
	ADD(tc, test_got_and_acked_messages_do_not_come_back);
	ADD(tc, test_ids_keep_rising_memory_queues_included);
	ADD(tc, test_memory_queues_are_gone_after_restart);
	ADD(tc, test_settings_closed_state_purge_and_delete_survive);
	ADD(tc, test_storage_is_compared_like_other_settings);
	ADD(tc, test_delayed_and_dead_letter_settings_survive);
	ADD(tc, test_given_back_messages_come_back_in_id_order);

	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
