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
#include <errno.h>
#include <jansson.h>
#include <sys/socket.h>
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

/*
 * A client that asks and never reads its answers is not read either
 * (output_high); it counts as idle, and is closed after idle_timeout_s.
 */
START_TEST(test_client_that_never_reads_its_answers_is_closed_when_idle)
{
	struct tconn *t, *hog;
	char req[64];

	harness_start_with_config(&d, "{\"idle_timeout_s\": 1}");
	t = tc_open(&d);
	for (int i = 0; i < 2000; i++) {
		snprintf(req, sizeof req, "CREATE hog.%04d", i);
		tc_request(t, req, "201 CREATED");
	}
	hog = tc_open(&d);
	/* Some 14 MB of answers: more than the socket buffers hold. */
	for (int i = 0; i < 20; i++)
		send(hog->fd, "STATS\r\n", 7, MSG_DONTWAIT | MSG_NOSIGNAL);
	tc_await_stat(t, NULL, "connections", 1);
	tc_close(hog);
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

/* ---- permissions ------------------------------------------------ */

/*
 * The tokens of the permission tests: "root" (auth_token_file: every
 * right), and one per right on the queues "jobs.*", plus "none", which
 * may do nothing.
 */
static char tok_files[5][64];

static void
perm_start(void)
{
	static const char *const toks[] = { "root", "prod", "cons", "adm",
		"none" };
	char json[2048];

	for (int i = 0; i < 5; i++)
		token_file(tok_files[i], sizeof tok_files[i], toks[i]);
	snprintf(json, sizeof json,
	    "{\"auth_token_file\": \"%s\", \"tokens\": ["
	    "{\"token_file\": \"%s\", \"allow\": [{\"queues\": \"jobs.*\","
	    " \"can\": [\"produce\"]}]},"
	    "{\"token_file\": \"%s\", \"allow\": [{\"queues\": [\"jobs.*\","
	    " \"x\"], \"can\": [\"consume\"]}]},"
	    "{\"token_file\": \"%s\", \"allow\": [{\"queues\": \"jobs.*\","
	    " \"can\": [\"admin\"]}]},"
	    "{\"token_file\": \"%s\", \"allow\": []}]}",
	    tok_files[0], tok_files[1], tok_files[2], tok_files[3],
	    tok_files[4]);
	harness_start_with_config(&d, json);
	for (int i = 0; i < 5; i++)
		unlink(tok_files[i]);
}

/* A connection authenticated with `token`. */
static struct tconn *
open_as(const char *token)
{
	struct tconn *t = tc_open(&d);
	char req[64];

	snprintf(req, sizeof req, "AUTH %s", token);
	tc_request(t, req, "200 OK");
	return t;
}

/*
 * Every verb that names a queue, sent to q: each is answered `ans`, or
 * "403 FORBIDDEN <q>" when ans is NULL.
 */
static void
expect_refused_everywhere(struct tconn *t, const char *q, const char *ans)
{
	static const char *const verbs[] = { "GET", "RESERVE", "CREATE",
		"DELETE", "PURGE", "STATS", "PEEK" };
	char req[128], forbidden[128];

	snprintf(forbidden, sizeof forbidden, "403 FORBIDDEN %s", q);
	if (ans == NULL)
		ans = forbidden;
	tc_send_put(t, q, "body");
	tc_expect(t, ans);
	for (size_t i = 0; i < sizeof verbs / sizeof *verbs; i++) {
		snprintf(req, sizeof req, "%s %s", verbs[i], q);
		tc_request(t, req, ans);
	}
}

START_TEST(test_every_command_but_ping_auth_quit_needs_auth)
{
	struct tconn *t;

	perm_start();
	t = tc_open(&d);
	expect_refused_everywhere(t, "jobs.a", "401 UNAUTHORIZED");
	tc_request(t, "ACK 1", "401 UNAUTHORIZED");
	tc_request(t, "NACK 1", "401 UNAUTHORIZED");
	tc_request(t, "STATS", "401 UNAUTHORIZED");
	tc_request(t, "PING", "200 PONG");
	tc_request(t, "QUIT", "200 BYE");
	tc_close(t);
}
END_TEST

/* "none" authenticates, and then may do nothing with any queue. */
START_TEST(test_token_without_grants_is_forbidden_every_queue)
{
	struct tconn *t, *root;
	json_t *j;

	perm_start();
	t = open_as("none");
	expect_refused_everywhere(t, "jobs.a", NULL);
	/* 4xx changes nothing: no queue was made by the refused PUT. */
	root = open_as("root");
	ck_assert_ptr_null(tc_stats(root, "jobs.a"));
	/* Its global STATS lists no queue. */
	tc_put(root, "jobs.b", "m");
	j = tc_stats(t, NULL);
	ck_assert_uint_eq(json_object_size(json_object_get(j, "queues")), 0);
	json_decref(j);
	tc_close(t);
	tc_close(root);
}
END_TEST

START_TEST(test_produce_allows_put_and_stats_only)
{
	struct tconn *t, *root;

	perm_start();
	t = open_as("prod");
	tc_put(t, "jobs.a", "one");
	ck_assert_int_eq(tc_stat(t, "jobs.a", "depth"), 1);
	tc_request(t, "GET jobs.a", "403 FORBIDDEN jobs.a");
	tc_request(t, "RESERVE jobs.a", "403 FORBIDDEN jobs.a");
	tc_request(t, "PEEK jobs.a", "403 FORBIDDEN jobs.a");
	tc_request(t, "CREATE jobs.b", "403 FORBIDDEN jobs.b");
	tc_request(t, "PURGE jobs.a", "403 FORBIDDEN jobs.a");
	tc_request(t, "DELETE jobs.a", "403 FORBIDDEN jobs.a");
	/* Outside its glob, even PUT is refused, and nothing is made. */
	tc_send_put(t, "other", "x");
	tc_expect(t, "403 FORBIDDEN other");
	tc_send_put(t, "jobs", "x");
	tc_expect(t, "403 FORBIDDEN jobs");
	root = open_as("root");
	ck_assert_ptr_null(tc_stats(root, "other"));
	ck_assert_int_eq(tc_stat(root, "jobs.a", "depth"), 1);
	tc_close(t);
	tc_close(root);
}
END_TEST

START_TEST(test_consume_allows_get_reserve_ack_nack)
{
	struct tconn *t, *root;
	unsigned long long id;
	char req[64], json[512];
	size_t len;

	perm_start();
	root = open_as("root");
	tc_put(root, "jobs.a", "one");
	tc_put(root, "jobs.a", "two");
	tc_put(root, "x", "three");
	t = open_as("cons");
	/* PEEK shows what GET would take: consume allows it too. */
	tc_send(t, "PEEK jobs.a\r\n");
	ck_assert_int_eq(
	    sscanf(tc_expect_prefix(t, "200 JSON "), "200 JSON %zu", &len), 1);
	ck_assert_uint_lt(len + 2, sizeof json);
	tc_read(t, json, len + 2);
	tc_send(t, "GET jobs.a\r\n");
	tc_expect_msg(t, "one");
	tc_send(t, "RESERVE jobs.a\r\n");
	id = tc_expect_msg(t, "two");
	snprintf(req, sizeof req, "NACK %llu", id);
	tc_request(t, req, "200 REQUEUED");
	tc_send(t, "RESERVE jobs.a\r\n");
	id = tc_expect_msg(t, "two");
	snprintf(req, sizeof req, "ACK %llu", id);
	tc_request(t, req, "200 ACKED");
	/* A second glob of the same grant. */
	tc_send(t, "GET x\r\n");
	tc_expect_msg(t, "three");
	tc_send_put(t, "jobs.a", "x");
	tc_expect(t, "403 FORBIDDEN jobs.a");
	tc_request(t, "CREATE jobs.b", "403 FORBIDDEN jobs.b");
	tc_request(t, "GET y", "403 FORBIDDEN y");
	tc_close(t);
	tc_close(root);
}
END_TEST

START_TEST(test_admin_allows_create_purge_delete)
{
	struct tconn *t, *root;

	perm_start();
	root = open_as("root");
	tc_put(root, "jobs.a", "one");
	t = open_as("adm");
	tc_request(t, "CREATE jobs.b capacity=3", "201 CREATED");
	tc_request(t, "PURGE jobs.a", "200 PURGED 1");
	tc_request(t, "DELETE jobs.a", "200 DELETED");
	tc_request(t, "CREATE other", "403 FORBIDDEN other");
	tc_request(t, "DELETE other", "403 FORBIDDEN other");
	tc_send_put(t, "jobs.b", "x");
	tc_expect(t, "403 FORBIDDEN jobs.b");
	tc_request(t, "GET jobs.b", "403 FORBIDDEN jobs.b");
	ck_assert_int_eq(tc_stat(t, "jobs.b", "capacity"), 3);
	tc_close(t);
	tc_close(root);
}
END_TEST

/* A global STATS lists the queues the token has a right on, only. */
START_TEST(test_global_stats_lists_only_the_queues_a_token_may_see)
{
	struct tconn *t, *root;
	json_t *j, *qs;

	perm_start();
	root = open_as("root");
	tc_put(root, "jobs.a", "one");
	tc_put(root, "secret", "two");
	t = open_as("prod");
	j = tc_stats(t, NULL);
	qs = json_object_get(j, "queues");
	ck_assert_uint_eq(json_object_size(qs), 1);
	ck_assert_ptr_nonnull(json_object_get(qs, "jobs.a"));
	ck_assert_int_eq(stats_int(j, "messages"), 1);
	json_decref(j);
	j = tc_stats(root, NULL);
	ck_assert_uint_eq(json_object_size(json_object_get(j, "queues")), 2);
	json_decref(j);
	tc_close(t);
	tc_close(root);
}
END_TEST

/* AUTH again with a weaker token: its reservations can no longer be ACKed. */
START_TEST(test_ack_is_checked_against_the_token_of_now)
{
	struct tconn *t, *root;
	unsigned long long id;
	char req[64];

	perm_start();
	root = open_as("root");
	tc_put(root, "jobs.a", "one");
	t = open_as("cons");
	tc_send(t, "RESERVE jobs.a\r\n");
	id = tc_expect_msg(t, "one");
	tc_request(t, "AUTH prod", "200 OK");
	snprintf(req, sizeof req, "ACK %llu", id);
	tc_request(t, req, "403 FORBIDDEN jobs.a");
	ck_assert_int_eq(tc_stat(root, "jobs.a", "reserved"), 1);
	tc_request(t, "AUTH cons", "200 OK");
	tc_request(t, req, "200 ACKED");
	tc_close(t);
	tc_close(root);
}
END_TEST

/* ---- the memory budget ------------------------------------------ */

#define KIB 1024
#define MIB (1024 * 1024)

/* Send up to len bytes of `fill` without blocking; how many went. */
static size_t
send_fill(struct tconn *t, size_t len, char fill)
{
	static char buf[64 * KIB];
	size_t sent = 0;

	memset(buf, fill, sizeof buf);
	while (sent < len) {
		size_t n = len - sent < sizeof buf ? len - sent : sizeof buf;
		ssize_t k = send(t->fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		ck_assert_msg(k > 0, "send: %s", strerror(errno));
		sent += (size_t)k;
	}
	return sent;
}

/* PUT a 64 KiB message of `fill`; the first reply line. */
static const char *
put_64k(struct tconn *t, const char *q, const char *timeout, char fill)
{
	static char body[64 * KIB];

	memset(body, fill, sizeof body);
	tc_send_put_bytes(t, q, body, sizeof body, timeout);
	return tc_line(t);
}

/* Poll STATS until what is counted has reached the budget. */
static void
await_memory_spent(struct tconn *t)
{
	uint64_t t0 = harness_now_ms();
	json_t *j;
	bool spent;

	do {
		j = tc_stats(t, NULL);
		spent = stats_int(j, "memory") >= stats_int(j, "max_memory");
		json_decref(j);
		ck_assert_msg(spent || harness_now_ms() - t0 < TC_AWAIT_MS,
		    "the memory budget was not spent");
	} while (!spent);
}

/*
 * With the budget spent, a PUT meets a full queue whatever its own
 * bounds say: block parks it until memory frees, reject answers 503
 * FULL, drop-newest drops it, drop-oldest drops the oldest; and GET
 * still drains.
 */
START_TEST(test_spent_budget_makes_every_queue_full_and_its_policy_decide)
{
	static char body[64 * KIB + 2];
	struct tconn *t, *p;
	const char *l;
	int n = 0;

	harness_start_with_config(&d, "{\"max_memory\": 1048576}");
	t = tc_open(&d);
	tc_request(t, "CREATE rej policy=reject", "201 CREATED");
	tc_request(t, "CREATE dn policy=drop-newest", "201 CREATED");
	tc_request(t, "CREATE do policy=drop-oldest", "201 CREATED");
	/* drop-oldest takes every message, dropping the oldest for memory. */
	for (int i = 0; i < 32; i++) {
		l = put_64k(t, "do", NULL, 'o');
		ck_assert_msg(strncmp(l, "200 QUEUED ", 11) == 0, "got %s", l);
	}
	ck_assert_int_le(tc_stat(t, "do", "depth"), 16);
	ck_assert_int_ge(tc_stat(t, "do", "dropped"), 16);
	tc_send(t, "PURGE do\r\n");
	tc_expect_prefix(t, "200 PURGED ");
	/* Far below the queue's own 16 MiB, the budget fills. */
	while ((l = put_64k(t, "a", "0", 'a')) != NULL &&
	    strncmp(l, "200 QUEUED", 10) == 0)
		n++;
	ck_assert_msg(strncmp(l, "503 FULL a ", 11) == 0, "got \"%s\"", l);
	ck_assert_int_ge(n, 8);
	ck_assert_int_le(n, 16);
	/*
	 * Memory stays spent while a producer holds its message: parked,
	 * or with its body not read on.
	 */
	p = tc_open(&d);
	tc_send_put_bytes(p, "b", body, 64 * KIB, NULL);
	await_memory_spent(t);
	ck_assert(tc_quiet(p, 50));
	ck_assert_str_eq(put_64k(t, "rej", NULL, 'r'),
	    "503 FULL rej retry_after_ms=1000");
	ck_assert_str_eq(put_64k(t, "dn", NULL, 'n'), "202 DROPPED dn");
	ck_assert_str_eq(put_64k(t, "a", "0", 'a'),
	    "503 FULL a retry_after_ms=1000");
	/* GET still drains; the producer gets in once memory frees. */
	for (int i = 0; i < 2; i++) {
		tc_send(t, "GET a\r\n");
		tc_expect_prefix(t, "200 MSG ");
		tc_read(t, body, sizeof body);
	}
	tc_expect_queued(p);
	tc_close(p);
	tc_close(t);
}
END_TEST

/*
 * A daemon stopped while producers wait for memory (parked, or with
 * their bodies not read on) exits cleanly: under the sanitizers, with
 * nothing touched after it is freed.
 */
START_TEST(test_stop_while_producers_wait_for_memory_is_clean)
{
	static char body[64 * KIB];
	struct tconn *t, *p[3];
	const char *l;

	harness_start_with_config(&d, "{\"max_memory\": 1048576}");
	t = tc_open(&d);
	while ((l = put_64k(t, "a", "0", 'a')) != NULL &&
	    strncmp(l, "200 QUEUED", 10) == 0)
		;
	for (int i = 0; i < 3; i++) {
		p[i] = tc_open(&d);
		tc_send_put_bytes(p[i], "a", body, sizeof body, NULL);
	}
	await_memory_spent(t);
	ck_assert(tc_quiet(p[0], 50));
	ck_assert_int_eq(harness_stop(&d), 0);
	for (int i = 0; i < 3; i++)
		tc_close(p[i]);
	tc_close(t);
}
END_TEST

/*
 * The global STATS (written by hand, shared between connections) says
 * of each queue exactly what STATS <q> says, and its totals add up.
 */
START_TEST(test_global_stats_agrees_with_each_queue_stats)
{
	static const char *const names[] = { "a", "b.c", "d:e-f_9" };
	struct tconn *t;
	json_t *all, *one, *qs;
	unsigned long long id;
	char req[64];

	harness_start(&d, NULL);
	t = tc_open(&d);
	tc_request(t,
	    "CREATE b.c capacity=7 max_bytes=99 policy=reject "
	    "lease_ms=5000 max_deliveries=3 dead_letter=a",
	    "201 CREATED");
	tc_put(t, "a", "one");
	tc_put(t, "a", "two");
	tc_put(t, "b.c", "three");
	tc_send(t, "RESERVE a\r\n");
	id = tc_expect_msg(t, "one");
	/* Delayed: neither ready nor reserved, still held. */
	snprintf(req, sizeof req, "NACK %llu 60000", id);
	tc_request(t, req, "200 REQUEUED");
	tc_request(t, "CREATE d:e-f_9 capacity=0", "201 CREATED");
	tc_request(t, "CLOSE d:e-f_9", "200 CLOSED");
	all = tc_stats(t, NULL);
	qs = json_object_get(all, "queues");
	ck_assert_uint_eq(json_object_size(qs), 3);
	for (size_t i = 0; i < 3; i++) {
		one = tc_stats(t, names[i]);
		ck_assert_msg(json_equal(json_object_get(qs, names[i]), one),
		    "queue %s differs", names[i]);
		json_decref(one);
	}
	ck_assert_int_eq(stats_int(all, "messages"), 3);
	ck_assert_int_eq(stats_int(all, "bytes"), 11);
	one = json_object_get(qs, "a");
	ck_assert_int_eq(stats_int(one, "delayed"), 1);
	ck_assert_int_eq(stats_int(all, "connections"), 1);
	ck_assert_int_gt(stats_int(all, "max_memory"), 0);
	ck_assert_int_gt(stats_int(all, "memory"), 0);
	json_decref(all);
	tc_close(t);
}
END_TEST

/* CLOSE ends a queue for good: like DELETE, it takes admin. */
START_TEST(test_close_needs_admin)
{
	struct tconn *t, *root;

	perm_start();
	root = open_as("root");
	tc_put(root, "jobs.a", "one");
	t = open_as("prod");
	tc_request(t, "CLOSE jobs.a", "403 FORBIDDEN jobs.a");
	tc_close(t);
	t = open_as("cons");
	tc_request(t, "CLOSE jobs.a", "403 FORBIDDEN jobs.a");
	tc_close(t);
	/* Refused: still open, a PUT goes in. */
	tc_put(root, "jobs.a", "two");
	t = open_as("adm");
	tc_request(t, "CLOSE other", "403 FORBIDDEN other");
	tc_request(t, "CLOSE jobs.a", "200 CLOSED");
	tc_close(t);
	tc_send_put(root, "jobs.a", "three");
	tc_expect(root, "410 CLOSED jobs.a");
	tc_close(root);
}
END_TEST

/*
 * A queue's dead letters go into the queue it names: CREATE with
 * dead_letter= needs the right to put there too, and makes nothing
 * when refused.
 */
START_TEST(test_dead_letter_queue_needs_produce_on_it)
{
	struct tconn *t, *root;

	perm_start();
	t = open_as("adm");
	tc_request(t, "CREATE jobs.b dead_letter=dlq", "403 FORBIDDEN dlq");
	tc_request(t, "CREATE jobs.b dead_letter=jobs.dlq",
	    "403 FORBIDDEN jobs.dlq");
	root = open_as("root");
	ck_assert_ptr_null(tc_stats(root, "jobs.b"));
	tc_request(root, "CREATE jobs.b dead_letter=dlq", "201 CREATED");
	tc_close(t);
	tc_close(root);
}
END_TEST

/* RESERVE q's head (a 64 KiB message of `fill`); its id. */
static unsigned long long
reserve_64k(struct tconn *t, const char *q, char fill)
{
	static char body[64 * KIB];

	memset(body, fill, sizeof body);
	tc_send(t, "RESERVE %s\r\n", q);
	return tc_expect_msg_bytes(t, body, sizeof body);
}

/*
 * Messages NACKed with a delay, and messages moved to a dead-letter
 * queue, still hold memory: the budget stays spent until they go.  The
 * moves themselves need no memory and are never refused for it.
 */
START_TEST(test_delayed_and_dead_lettered_messages_hold_the_budget)
{
	unsigned long long ids[32];
	struct tconn *t;
	const char *l;
	char req[64];
	int n = 0;

	harness_start_with_config(&d, "{\"max_memory\": 1048576}");
	t = tc_open(&d);
	tc_request(t, "CREATE b max_deliveries=1 dead_letter=dl",
	    "201 CREATED");
	/* Half the budget in a, delayed; the rest in b, dead-lettered. */
	for (int i = 0; i < 7; i++) {
		l = put_64k(t, "a", "0", 'a');
		ck_assert_msg(strncmp(l, "200 QUEUED ", 11) == 0, "got %s", l);
	}
	while ((l = put_64k(t, "b", "0", 'b')) != NULL &&
	    strncmp(l, "200 QUEUED", 10) == 0)
		n++;
	ck_assert_msg(strncmp(l, "503 FULL b ", 11) == 0, "got \"%s\"", l);
	ck_assert_int_ge(n, 2);
	ck_assert_int_le(n, 32);
	for (int i = 0; i < 7; i++) {
		snprintf(req, sizeof req, "NACK %llu 60000",
		    reserve_64k(t, "a", 'a'));
		tc_request(t, req, "200 REQUEUED");
	}
	for (int i = 0; i < n; i++)
		ids[i] = reserve_64k(t, "b", 'b');
	for (int i = 0; i < n; i++) {
		snprintf(req, sizeof req, "NACK %llu", ids[i]);
		tc_request(t, req, "200 REQUEUED dead_lettered=moved");
	}
	ck_assert_int_eq(tc_stat(t, "a", "delayed"), 7);
	ck_assert_int_eq(tc_stat(t, "dl", "depth"), n);
	/* Nothing was freed: still no memory for a new message. */
	l = put_64k(t, "c", "0", 'c');
	ck_assert_msg(strncmp(l, "503 FULL c ", 11) == 0, "got \"%s\"", l);
	/* Dropping them makes the room. */
	tc_request(t, "DELETE a", "200 DELETED");
	tc_send(t, "PURGE dl\r\n");
	tc_expect_prefix(t, "200 PURGED ");
	l = put_64k(t, "c", "0", 'c');
	ck_assert_msg(strncmp(l, "200 QUEUED ", 11) == 0, "got %s", l);
	tc_close(t);
}
END_TEST

/* Connections per vector in the budget test, and its budget. */
#define VEC_CONNS 24
#define VEC_BUDGET (8 * MIB)
/*
 * What the daemon may hold besides the budget: per-connection
 * structures, libevent's chains, allocator slack.  Under the
 * sanitizers every allocation has red zones and a freed block waits in
 * quarantine before reuse, so the slack is larger.
 */
#if defined(__SANITIZE_ADDRESS__)
#define VEC_OVERHEAD_KB (48L * 1024)
#else
#define VEC_OVERHEAD_KB (16L * 1024)
#endif
#define VEC_QUEUES 1500

/*
 * Every way a client could make the daemon hold memory for it, at
 * once, scaled down (a budget of 8 MiB, a few dozen connections): full
 * queues (their own bounds allow 16 MiB each), reservations on a
 * capacity-0 queue, global STATS answers never read (about 0.5 MB
 * each), and PUT bodies half sent.  Without the budget they add up to
 * more than 90 MiB; the daemon's RSS grows by at most the budget plus
 * a fixed overhead, and a consumer still drains the queues.
 */
START_TEST(test_daemon_stays_within_its_memory_budget_under_every_vector)
{
	static char body[64 * KIB + 2];
	struct tconn *t, *prod[4], *rp[VEC_CONNS], *rc[VEC_CONNS];
	struct tconn *st[VEC_CONNS], *part[VEC_CONNS];
	char name[64], json[256];
	long rss0, rss1;
	const char *l;
	json_t *j;

	snprintf(json, sizeof json, "{\"max_memory\": %d}", VEC_BUDGET);
	harness_start_with_config(&d, json);
	t = tc_open(&d);
	for (int i = 0; i < VEC_QUEUES; i++) {
		snprintf(name, sizeof name, "CREATE many.%04d", i);
		tc_request(t, name, "201 CREATED");
	}
	tc_request(t, "CREATE rv capacity=0", "201 CREATED");
	for (int i = 0; i < 4; i++)
		tc_sync(prod[i] = tc_open(&d));
	for (int i = 0; i < VEC_CONNS; i++) {
		tc_sync(rp[i] = tc_open(&d));
		tc_sync(rc[i] = tc_open(&d));
		tc_sync(st[i] = tc_open(&d));
		tc_sync(part[i] = tc_open(&d));
	}
	j = tc_stats(t, NULL);
	json_decref(j);
	rss0 = harness_rss_kb(&d);

	/* Full queues: each producer until its queue (or memory) is full. */
	for (int i = 0; i < 4; i++) {
		snprintf(name, sizeof name, "full.%d", i);
		while ((l = put_64k(prod[i], name, "0", 'f')) != NULL &&
		    strncmp(l, "200 QUEUED ", 11) == 0)
			;
		ck_assert_msg(strncmp(l, "503 FULL ", 9) == 0, "got %s", l);
	}
	/* Capacity 0: producers park, consumers reserve what they can. */
	for (int i = 0; i < VEC_CONNS; i++) {
		for (int k = 0; k < 4; k++) {
			size_t n = (size_t)sprintf(body, "PUT rv 65536\r\n");
			send(rp[i]->fd, body, n, MSG_DONTWAIT | MSG_NOSIGNAL);
			send_fill(rp[i], 64 * KIB, 'r');
			send(rp[i]->fd, "\r\n", 2, MSG_DONTWAIT | MSG_NOSIGNAL);
		}
		tc_send(rc[i],
		    "RESERVE rv\r\nRESERVE rv\r\n"
		    "RESERVE rv\r\nRESERVE rv\r\n");
	}
	/* STATS answers nobody reads. */
	for (int i = 0; i < VEC_CONNS; i++)
		for (int k = 0; k < 20; k++)
			send(st[i]->fd, "STATS\r\n", 7,
			    MSG_DONTWAIT | MSG_NOSIGNAL);
	/* PUT bodies half sent. */
	for (int i = 0; i < VEC_CONNS; i++) {
		tc_send(part[i], "PUT part.%d 1048576\r\n", i);
		send_fill(part[i], 512 * KIB, 'p');
	}
	/* Everything sent has been dealt with: a PING on each answers. */
	tc_sync(t);
	rss1 = harness_rss_kb(&d);
	j = tc_stats(t, NULL);
	fprintf(stderr, "budget test: memory %lld of %lld, rss +%ld KiB\n",
	    stats_int(j, "memory"), stats_int(j, "max_memory"), rss1 - rss0);
	ck_assert_int_le(stats_int(j, "memory"), VEC_BUDGET + 2 * MIB);
	json_decref(j);
	ck_assert_msg(rss1 - rss0 <= VEC_BUDGET / KIB + VEC_OVERHEAD_KB,
	    "the daemon grew by %ld KiB with a budget of %d KiB", rss1 - rss0,
	    VEC_BUDGET / KIB);

	/* Consumers still drain. */
	for (int i = 0; i < 4; i++) {
		snprintf(name, sizeof name, "GET full.%d", i);
		for (;;) {
			tc_send(t, "%s\r\n", name);
			l = tc_line(t);
			if (strcmp(l, "204 EMPTY") == 0)
				break;
			ck_assert_msg(strncmp(l, "200 MSG ", 8) == 0, "got %s",
			    l);
			tc_read(t, body, sizeof body);
		}
	}
	for (int i = 0; i < VEC_CONNS; i++) {
		tc_close(rp[i]);
		tc_close(rc[i]);
		tc_close(st[i]);
		tc_close(part[i]);
	}
	for (int i = 0; i < 4; i++)
		tc_close(prod[i]);
	tc_close(t);
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
	TEST(s, test_client_that_never_reads_its_answers_is_closed_when_idle);
	TEST(s, test_unauthenticated_connection_is_closed_after_auth_timeout);
	TEST(s, test_timeouts_of_0_are_off);
	TEST(s, test_every_command_but_ping_auth_quit_needs_auth);
	TEST(s, test_token_without_grants_is_forbidden_every_queue);
	TEST(s, test_produce_allows_put_and_stats_only);
	TEST(s, test_consume_allows_get_reserve_ack_nack);
	TEST(s, test_admin_allows_create_purge_delete);
	TEST(s, test_global_stats_lists_only_the_queues_a_token_may_see);
	TEST(s, test_ack_is_checked_against_the_token_of_now);
	TEST(s, test_close_needs_admin);
	TEST(s, test_dead_letter_queue_needs_produce_on_it);
	TEST(s, test_delayed_and_dead_lettered_messages_hold_the_budget);
	TEST(s, test_global_stats_agrees_with_each_queue_stats);
	TEST(s, test_stop_while_producers_wait_for_memory_is_clean);
	TEST(s, test_spent_budget_makes_every_queue_full_and_its_policy_decide);
	TEST_TIMEOUT(s,
	    test_daemon_stays_within_its_memory_budget_under_every_vector, 60);
	return test_run(s);
}
