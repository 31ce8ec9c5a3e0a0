/*
 * check_client.c - libsluice against the real sluiced: every blocking
 * call and every result it can return, pipelining (order, the window
 * bound, a producer that parks on a full queue and resumes), and
 * servers that misbehave: gone in the middle of a reply, gone with
 * replies pending, talking nonsense, or silent.
 *
 * The misbehaving servers are fakes in this file: a thread with a
 * listening socket that reads one request and sends a scripted answer.
 * Results that need other server settings (auth, a connection limit, a
 * small message limit, auto-create off) start sluiced with a config
 * file.  To know that a request waits, a test polls STATS on another
 * connection; nothing sleeps in place of an event.
 */
#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "harness_sluice.h"
#include "sluice.h"

static struct daemon d;

static void
daemon_setup(void)
{
	harness_start(&d, NULL);
}

static void
daemon_teardown(void)
{
	ck_assert_int_eq(harness_stop(&d), 0);
}

static void
create(struct sluice_ctx *c, const char *queue, uint64_t capacity,
    const char *policy)
{
	struct sluice_queue_opts *o = sluice_queue_opts_new();

	ck_assert_int_eq(sluice_queue_opts_capacity(o, capacity), SLUICE_OK);
	ck_assert_int_eq(sluice_queue_opts_policy(o, policy), SLUICE_OK);
	ck_assert_int_eq(sluice_create(c, queue, o), SLUICE_OK);
	sluice_queue_opts_free(o);
}

/* The reply read_one() read last, freed by its next call. */
static struct sluice_reply *r;

/* sluice_read_reply() into r. */
static enum sluice_result
read_one(struct sluice_ctx *c)
{
	sluice_reply_free(r);
	r = NULL;
	return sluice_read_reply(c, &r);
}

/* ---- blocking calls and their results -------------------------------- */

START_TEST(test_put_then_get_returns_the_same_id_and_exact_body)
{
	static const char body[] = "a\0b\r\nc\n";
	struct sluice_ctx *c = sc_open(&d);
	struct sluice_msg *m;
	uint64_t id;

	ck_assert_int_eq(sluice_put(c, "jobs", body, sizeof body - 1,
	                     SLUICE_FOREVER, &id),
	    SLUICE_OK);
	ck_assert_uint_gt(id, 0);
	ck_assert_int_eq(sluice_get(c, "jobs", 0, &m), SLUICE_OK);
	ck_assert_uint_eq(m->id, id);
	ck_assert_uint_eq(m->len, sizeof body - 1);
	ck_assert_mem_eq(m->body, body, m->len);
	ck_assert_int_eq(m->body[m->len], '\0');
	sluice_msg_free(m);
	sluice_free(c);
}
END_TEST

START_TEST(test_empty_body_round_trips)
{
	struct sluice_ctx *c = sc_open(&d);
	struct sluice_msg *m;

	ck_assert_int_eq(sluice_put(c, "q", NULL, 0, SLUICE_FOREVER, NULL),
	    SLUICE_OK);
	ck_assert_int_eq(sluice_get(c, "q", 0, &m), SLUICE_OK);
	ck_assert_uint_eq(m->len, 0);
	ck_assert_str_eq(m->body, "");
	sluice_msg_free(m);
	sluice_free(c);
}
END_TEST

START_TEST(test_message_of_one_mib_round_trips)
{
	struct sluice_ctx *c = sc_open(&d);
	size_t len = 1048576;
	char *body = malloc(len);
	struct sluice_msg *m;

	for (size_t i = 0; i < len; i++)
		body[i] = (char)(i * 7);
	ck_assert_int_eq(sluice_put(c, "big", body, len, SLUICE_FOREVER, NULL),
	    SLUICE_OK);
	ck_assert_int_eq(sluice_get(c, "big", 0, &m), SLUICE_OK);
	ck_assert_uint_eq(m->len, len);
	ck_assert(memcmp(m->body, body, len) == 0);
	sluice_msg_free(m);
	free(body);
	sluice_free(c);
}
END_TEST

START_TEST(test_get_on_empty_queue_is_empty)
{
	struct sluice_ctx *c = sc_open(&d);
	struct sluice_msg *m;

	ck_assert_int_eq(sluice_get(c, "none", 0, &m), SLUICE_EMPTY);
	ck_assert_ptr_null(m);
	ck_assert_int_eq(sluice_get(c, "none", 20, &m), SLUICE_EMPTY);
	ck_assert_int_eq(sluice_reserve(c, "none", 0, &m), SLUICE_EMPTY);
	ck_assert_str_eq(sluice_status_line(c), "204 EMPTY");
	sluice_free(c);
}
END_TEST

/* A GET that waits gets the message a PUT on another connection makes. */
START_TEST(test_waiting_get_receives_a_later_put)
{
	struct sluice_ctx *c = sc_open(&d), *p = sc_open(&d);

	ck_assert_int_eq(sluice_append_get(c, "later", 10000), 0);
	ck_assert_int_eq(sluice_flush(c), 0);
	sc_await_stat(p, "later", "waiting_consumers", 1);
	ck_assert_int_eq(sluice_put(p, "later", "x", 1, SLUICE_FOREVER, NULL),
	    SLUICE_OK);
	ck_assert_int_eq(read_one(c), SLUICE_OK);
	ck_assert_str_eq(r->body, "x");
	sluice_free(c);
	sluice_free(p);
}
END_TEST

/*
 * SLUICE_FOREVER on a GET or RESERVE waits as long as the protocol can
 * say (the request carries the largest timeout), not "do not wait" as
 * a GET without a timeout would.
 */
START_TEST(test_get_and_reserve_forever_wait_for_a_later_put)
{
	struct sluice_ctx *c = sc_open(&d), *p = sc_open(&d);
	struct sluice_msg *m;

	ck_assert_int_eq(sluice_append_get(c, "later", SLUICE_FOREVER), 0);
	ck_assert_int_eq(sluice_append_reserve(c, "later", SLUICE_FOREVER), 0);
	ck_assert_int_eq(sluice_flush(c), 0);
	sc_await_stat(p, "later", "waiting_consumers", 1);
	ck_assert_int_eq(sluice_put(p, "later", "x", 1, SLUICE_FOREVER, NULL),
	    SLUICE_OK);
	ck_assert_int_eq(sluice_put(p, "later", "y", 1, SLUICE_FOREVER, NULL),
	    SLUICE_OK);
	ck_assert_int_eq(read_one(c), SLUICE_OK);
	ck_assert_str_eq(r->body, "x");
	ck_assert_int_eq(read_one(c), SLUICE_OK);
	ck_assert_str_eq(r->body, "y");
	ck_assert_int_eq(sluice_get(c, "later", 0, &m), SLUICE_EMPTY);
	sluice_free(c);
	sluice_free(p);
}
END_TEST

START_TEST(test_reserve_nack_redelivers_and_ack_deletes)
{
	struct sluice_ctx *c = sc_open(&d);
	struct sluice_msg *m, *again;
	uint64_t id;

	ck_assert_int_eq(sluice_put(c, "work", "job", 3, SLUICE_FOREVER, &id),
	    SLUICE_OK);
	ck_assert_int_eq(sluice_reserve(c, "work", 0, &m), SLUICE_OK);
	ck_assert_uint_eq(m->id, id);
	ck_assert_int_eq(sluice_nack(c, m->id), SLUICE_OK);
	ck_assert_int_eq(sluice_reserve(c, "work", 0, &again), SLUICE_OK);
	ck_assert_uint_eq(again->id, id);
	ck_assert_str_eq(again->body, "job");
	ck_assert_int_eq(sluice_ack(c, id), SLUICE_OK);
	ck_assert_int_eq(sluice_ack(c, id), SLUICE_NO_MSG);
	ck_assert_int_eq(sluice_nack(c, id), SLUICE_NO_MSG);
	ck_assert_int_eq(sc_stat(c, "work", "depth"), 0);
	ck_assert_int_eq(sc_stat(c, "work", "reserved"), 0);
	sluice_msg_free(m);
	sluice_msg_free(again);
	sluice_free(c);
}
END_TEST

START_TEST(test_close_nack_delay_and_dead_letters_through_the_library)
{
	struct sluice_ctx *c = sc_open(&d);
	struct sluice_queue_opts *o = sluice_queue_opts_new();
	struct sluice_msg *m;
	uint64_t id;
	bool moved = true;

	ck_assert_int_eq(sluice_queue_opts_max_deliveries(o, 2), SLUICE_OK);
	ck_assert_int_eq(sluice_queue_opts_dead_letter(o, "bad/name"),
	    SLUICE_ERR_ARG);
	ck_assert_int_eq(sluice_queue_opts_dead_letter(o, "work.dead"),
	    SLUICE_OK);
	ck_assert_int_eq(sluice_create(c, "work", o), SLUICE_OK);
	ck_assert_int_eq(sluice_create(c, "work", o), SLUICE_EXISTS);
	sluice_queue_opts_free(o);
	ck_assert_int_eq(sluice_put(c, "work", "job", 3, 0, &id), SLUICE_OK);
	ck_assert_int_eq(sluice_close(c, "work"), SLUICE_OK);
	ck_assert_int_eq(sluice_close(c, "work"), SLUICE_OK);
	ck_assert_int_eq(sluice_put(c, "work", "more", 4, 0, NULL),
	    SLUICE_CLOSED);
	/* A delayed NACK: not ready at once, then delivered again. */
	ck_assert_int_eq(sluice_reserve(c, "work", 0, &m), SLUICE_OK);
	ck_assert_int_eq(sluice_nack_delay(c, id, 50), SLUICE_OK);
	ck_assert(!sluice_dead_lettered(c, &moved));
	ck_assert(!moved);
	sluice_msg_free(m);
	ck_assert_int_eq(sc_stat(c, "work", "delayed"), 1);
	ck_assert_int_eq(sluice_reserve(c, "work", 5000, &m), SLUICE_OK);
	ck_assert_uint_eq(m->id, id);
	sluice_msg_free(m);
	/* The second delivery comes back: dead-lettered, and said so. */
	ck_assert_int_eq(sluice_nack(c, id), SLUICE_OK);
	ck_assert(sluice_dead_lettered(c, &moved));
	ck_assert(moved);
	ck_assert_int_eq(sluice_get(c, "work", 5000, &m), SLUICE_CLOSED);
	ck_assert_ptr_null(m);
	ck_assert_int_eq(sluice_get(c, "work.dead", 0, &m), SLUICE_OK);
	ck_assert_uint_eq(m->id, id);
	sluice_msg_free(m);
	ck_assert_int_eq(sluice_close(c, "nosuch"), SLUICE_NO_QUEUE);
	sluice_free(c);
}
END_TEST

START_TEST(test_create_reports_created_exists_and_conflict)
{
	struct sluice_ctx *c = sc_open(&d);
	struct sluice_queue_opts *o = sluice_queue_opts_new();

	ck_assert_int_eq(sluice_queue_opts_capacity(o, 5), SLUICE_OK);
	ck_assert_int_eq(sluice_queue_opts_max_bytes(o, 1000), SLUICE_OK);
	ck_assert_int_eq(sluice_queue_opts_policy(o, "reject"), SLUICE_OK);
	ck_assert_int_eq(sluice_queue_opts_lease_ms(o, 60000), SLUICE_OK);
	ck_assert_int_eq(sluice_create(c, "alerts", o), SLUICE_OK);
	ck_assert_int_eq(sluice_create(c, "alerts", o), SLUICE_EXISTS);
	/* Setting an option again replaces it. */
	ck_assert_int_eq(sluice_queue_opts_capacity(o, 6), SLUICE_OK);
	ck_assert_int_eq(sluice_create(c, "alerts", o), SLUICE_CONFLICT);
	ck_assert_int_eq(sc_stat(c, "alerts", "capacity"), 5);
	ck_assert_int_eq(sc_stat(c, "alerts", "max_bytes"), 1000);
	ck_assert_int_eq(sluice_create(c, "plain", NULL), SLUICE_OK);
	sluice_queue_opts_free(o);
	sluice_free(c);
}
END_TEST

START_TEST(test_create_drop_policy_with_capacity_zero_is_bad_request)
{
	struct sluice_ctx *c = sc_open(&d);
	struct sluice_queue_opts *o = sluice_queue_opts_new();

	ck_assert_int_eq(sluice_queue_opts_capacity(o, 0), SLUICE_OK);
	ck_assert_int_eq(sluice_queue_opts_policy(o, "drop-oldest"), SLUICE_OK);
	ck_assert_int_eq(sluice_create(c, "rdv", o), SLUICE_BAD_REQUEST);
	ck_assert_int_eq(sluice_ping(c), SLUICE_OK);
	sluice_queue_opts_free(o);
	sluice_free(c);
}
END_TEST

/* Options the protocol cannot carry are refused when set. */
START_TEST(test_queue_options_out_of_range_are_refused)
{
	struct sluice_queue_opts *o = sluice_queue_opts_new();

	ck_assert_ptr_nonnull(o);
	ck_assert_int_eq(sluice_queue_opts_capacity(o, (uint64_t)1 << 63),
	    SLUICE_ERR_ARG);
	ck_assert_int_eq(sluice_queue_opts_max_bytes(o, UINT64_MAX),
	    SLUICE_ERR_ARG);
	ck_assert_int_eq(sluice_queue_opts_lease_ms(o, UINT64_MAX),
	    SLUICE_ERR_ARG);
	ck_assert_int_eq(sluice_queue_opts_policy(o, "sometimes"),
	    SLUICE_ERR_ARG);
	ck_assert_int_eq(sluice_queue_opts_policy(o, NULL), SLUICE_ERR_ARG);
	ck_assert_int_eq(sluice_queue_opts_capacity(o, INT64_MAX), SLUICE_OK);
	sluice_queue_opts_free(o);
	sluice_queue_opts_free(NULL);
}
END_TEST

START_TEST(test_delete_and_purge_of_missing_queue_are_no_queue)
{
	struct sluice_ctx *c = sc_open(&d);
	uint64_t n = 99;
	char *json;

	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(sluice_put(c, "q", "m", 1, SLUICE_FOREVER,
		                     NULL),
		    SLUICE_OK);
	ck_assert_int_eq(sluice_purge(c, "q", &n), SLUICE_OK);
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(sluice_delete(c, "q"), SLUICE_OK);
	ck_assert_int_eq(sluice_delete(c, "q"), SLUICE_NO_QUEUE);
	ck_assert_int_eq(sluice_purge(c, "q", &n), SLUICE_NO_QUEUE);
	ck_assert_int_eq(sluice_stats(c, "q", &json, NULL), SLUICE_NO_QUEUE);
	ck_assert_ptr_null(json);
	ck_assert_str_eq(sluice_status_line(c), "404 NO_QUEUE q");
	sluice_free(c);
}
END_TEST

START_TEST(test_stats_gives_json_text)
{
	struct sluice_ctx *c = sc_open(&d);
	json_t *j;
	char *text;
	size_t len;

	ck_assert_int_eq(sluice_put(c, "s", "abc", 3, SLUICE_FOREVER, NULL),
	    SLUICE_OK);
	ck_assert_int_eq(sluice_stats(c, NULL, &text, &len), SLUICE_OK);
	ck_assert_uint_eq(strlen(text), len);
	j = json_loadb(text, len, 0, NULL);
	free(text);
	ck_assert(json_is_object(json_object_get(j, "queues")));
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(
			     json_object_get(j, "queues"), "s"), "bytes")), 3);
	json_decref(j);
	ck_assert_int_eq(sluice_stats(c, "s", &text, NULL), SLUICE_OK);
	ck_assert_int_eq(text[0], '{');
	free(text);
	sluice_free(c);
}
END_TEST

START_TEST(test_put_into_full_reject_queue_is_full_with_retry_hint)
{
	struct sluice_ctx *c = sc_open(&d);
	uint64_t id = 7;
	char hint[64];

	create(c, "r", 1, "reject");
	ck_assert_int_eq(sluice_put(c, "r", "a", 1, SLUICE_FOREVER, NULL),
	    SLUICE_OK);
	ck_assert_int_eq(sluice_retry_after_ms(c), -1);
	ck_assert_int_eq(sluice_put(c, "r", "b", 1, SLUICE_FOREVER, &id),
	    SLUICE_FULL);
	ck_assert_uint_eq(id, 0);
	/* The hint is optional ("should"); when sent, it is passed on. */
	snprintf(hint, sizeof hint, "retry_after_ms=%lld",
	    (long long)sluice_retry_after_ms(c));
	if (strstr(sluice_status_line(c), "retry_after_ms=") != NULL)
		ck_assert_ptr_nonnull(strstr(sluice_status_line(c), hint));
	else
		ck_assert_int_eq(sluice_retry_after_ms(c), -1);
	sluice_free(c);
}
END_TEST

START_TEST(test_put_with_timeout_zero_on_full_block_queue_is_full)
{
	struct sluice_ctx *c = sc_open(&d);

	create(c, "b", 1, "block");
	ck_assert_int_eq(sluice_put(c, "b", "a", 1, 0, NULL), SLUICE_OK);
	ck_assert_int_eq(sluice_put(c, "b", "b", 1, 0, NULL), SLUICE_FULL);
	ck_assert_int_eq(sluice_put(c, "b", "b", 1, 10, NULL), SLUICE_FULL);
	sluice_free(c);
}
END_TEST

START_TEST(test_put_into_full_drop_newest_queue_is_dropped)
{
	struct sluice_ctx *c = sc_open(&d);
	struct sluice_msg *m;

	create(c, "dn", 1, "drop-newest");
	ck_assert_int_eq(sluice_put(c, "dn", "old", 3, SLUICE_FOREVER, NULL),
	    SLUICE_OK);
	ck_assert_int_eq(sluice_put(c, "dn", "new", 3, SLUICE_FOREVER, NULL),
	    SLUICE_DROPPED);
	ck_assert_int_eq(sluice_get(c, "dn", 0, &m), SLUICE_OK);
	ck_assert_str_eq(m->body, "old");
	sluice_msg_free(m);
	sluice_free(c);
}
END_TEST

START_TEST(test_quit_answers_then_the_connection_is_closed)
{
	struct sluice_ctx *c = sc_open(&d);

	ck_assert_int_eq(sluice_ping(c), SLUICE_OK);
	ck_assert_int_eq(sluice_quit(c), SLUICE_OK);
	ck_assert_str_eq(sluice_status_line(c), "200 BYE");
	ck_assert_int_eq(sluice_ping(c), SLUICE_ERR_EOF);
	ck_assert_int_eq(sluice_error(c), SLUICE_ERR_EOF);
	/* Dead stays dead, without touching the socket again. */
	ck_assert_int_eq(sluice_ping(c), SLUICE_ERR_EOF);
	ck_assert_int_eq(sluice_append_ping(c), SLUICE_ERR_EOF);
	sluice_free(c);
}
END_TEST

START_TEST(test_bad_arguments_are_refused_locally_and_keep_the_connection)
{
	struct sluice_ctx *c = sc_open(&d);
	char long_name[200];

	memset(long_name, 'n', sizeof long_name - 1);
	long_name[sizeof long_name - 1] = '\0';
	ck_assert_int_eq(sluice_put(c, "bad name", "x", 1, 0, NULL),
	    SLUICE_ERR_ARG);
	ck_assert_int_eq(sluice_error(c), SLUICE_ERR_ARG);
	ck_assert_ptr_nonnull(strstr(sluice_errstr(c), "queue name"));
	/* A name with a newline would be a second request, not a bad one. */
	ck_assert_int_eq(sluice_delete(c, "a\r\nDELETE b"), SLUICE_ERR_ARG);
	ck_assert_int_eq(sluice_delete(c, long_name), SLUICE_ERR_ARG);
	ck_assert_int_eq(sluice_auth(c, "two words"), SLUICE_ERR_ARG);
	ck_assert_int_eq(sluice_ack(c, (uint64_t)1 << 63), SLUICE_ERR_ARG);
	ck_assert_int_eq(read_one(c), SLUICE_ERR_ARG);
	ck_assert_ptr_null(r);
	ck_assert_int_eq(sluice_pending(c), 0);
	/* The next call clears the refusal. */
	ck_assert_int_eq(sluice_ping(c), SLUICE_OK);
	ck_assert_int_eq(sluice_error(c), SLUICE_OK);
	ck_assert_int_eq(sc_stat(c, "q", "depth"), -1);
	sluice_free(c);
}
END_TEST

START_TEST(test_connect_to_a_port_nobody_listens_on_fails)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof sin;
	struct sluice_ctx *c;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	/* Bound but not listening: the port is ours and refuses. */
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	c = sluice_connect("127.0.0.1", ntohs(sin.sin_port), 1000);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(sluice_error(c), SLUICE_ERR_CONNECT);
	ck_assert_ptr_nonnull(strstr(sluice_errstr(c), "refused"));
	ck_assert_int_eq(sluice_ping(c), SLUICE_ERR_CONNECT);
	sluice_free(c);
	close(fd);
}
END_TEST

/* ---- results that need other server settings ------------------------- */

START_TEST(test_commands_before_auth_are_unauthorized)
{
	char path[] = "/tmp/check_client_token.XXXXXX", json[256];
	int fd = mkstemp(path);
	struct sluice_ctx *c;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "s3cret\n", 7), 7);
	close(fd);
	snprintf(json, sizeof json, "{\"auth_token_file\": \"%s\"}", path);
	harness_start_with_config(&d, json);
	unlink(path);
	c = sc_open(&d);
	ck_assert_int_eq(sluice_ping(c), SLUICE_OK);
	ck_assert_int_eq(sluice_put(c, "q", "x", 1, 0, NULL),
	    SLUICE_UNAUTHORIZED);
	ck_assert_int_eq(sluice_auth(c, "wrong"), SLUICE_UNAUTHORIZED);
	ck_assert_int_eq(sluice_auth(c, "s3cret"), SLUICE_OK);
	ck_assert_int_eq(sluice_put(c, "q", "x", 1, 0, NULL), SLUICE_OK);
	sluice_free(c);
}
END_TEST

/* A token that may not: 403 is SLUICE_FORBIDDEN, and nothing is made. */
START_TEST(test_command_a_token_may_not_do_is_forbidden)
{
	char path[] = "/tmp/check_client_token.XXXXXX", json[512];
	int fd = mkstemp(path);
	struct sluice_ctx *c;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "prod\n", 5), 5);
	close(fd);
	snprintf(json, sizeof json,
	    "{\"tokens\": [{\"token_file\": \"%s\", \"allow\": "
	    "[{\"queues\": \"jobs.*\", \"can\": [\"produce\"]}]}]}",
	    path);
	harness_start_with_config(&d, json);
	unlink(path);
	c = sc_open(&d);
	ck_assert_int_eq(sluice_auth(c, "prod"), SLUICE_OK);
	ck_assert_int_eq(sluice_put(c, "jobs.a", "x", 1, SLUICE_FOREVER, NULL),
	    SLUICE_OK);
	ck_assert_int_eq(sluice_put(c, "other", "x", 1, SLUICE_FOREVER, NULL),
	    SLUICE_FORBIDDEN);
	ck_assert_int_eq(sluice_purge(c, "jobs.a", NULL), SLUICE_FORBIDDEN);
	ck_assert_int_eq(sluice_ping(c), SLUICE_OK);
	sluice_free(c);
}
END_TEST

START_TEST(test_connection_over_the_limit_is_busy)
{
	struct sluice_ctx *a, *b;

	harness_start_with_config(&d, "{\"max_connections\": 1}");
	a = sc_open(&d);
	ck_assert_int_eq(sluice_ping(a), SLUICE_OK);
	b = sc_open(&d);
	ck_assert_int_eq(sluice_ping(b), SLUICE_BUSY);
	ck_assert_int_eq(sluice_ping(b), SLUICE_ERR_EOF);
	ck_assert_int_eq(sluice_error(b), SLUICE_ERR_EOF);
	ck_assert_int_eq(sluice_ping(a), SLUICE_OK);
	sluice_free(a);
	sluice_free(b);
}
END_TEST

START_TEST(test_put_over_the_message_limit_is_too_large_with_the_limit)
{
	struct sluice_ctx *c;

	harness_start_with_config(&d, "{\"max_message\": 10}");
	c = sc_open(&d);
	ck_assert_int_eq(sluice_put(c, "q", "0123456789x", 11, 0, NULL),
	    SLUICE_TOO_LARGE);
	ck_assert_int_eq(sluice_append_put(c, "q", "0123456789x", 11, 0), 0);
	ck_assert_int_eq(read_one(c), SLUICE_TOO_LARGE);
	ck_assert_int_eq(r->code, 413);
	ck_assert_uint_eq(r->count, 10);
	ck_assert_int_eq(sluice_put(c, "q", "0123456789", 10, 0, NULL),
	    SLUICE_OK);
	sluice_free(c);
}
END_TEST

START_TEST(test_get_without_auto_create_is_no_queue)
{
	struct sluice_ctx *c;
	struct sluice_msg *m;

	harness_start_with_config(&d, "{\"auto_create\": false}");
	c = sc_open(&d);
	ck_assert_int_eq(sluice_get(c, "nope", 0, &m), SLUICE_NO_QUEUE);
	ck_assert_int_eq(sluice_put(c, "nope", "x", 1, 0, NULL),
	    SLUICE_NO_QUEUE);
	sluice_free(c);
}
END_TEST

START_TEST(test_parked_put_is_answered_shutting_down_on_sigterm)
{
	struct sluice_ctx *p, *w;

	harness_start_with_config(&d, "{\"shutdown_grace_ms\": 60000}");
	p = sc_open(&d);
	w = sc_open(&d);
	create(p, "full", 1, "block");
	ck_assert_int_eq(sluice_put(p, "full", "a", 1, SLUICE_FOREVER, NULL),
	    SLUICE_OK);
	ck_assert_int_eq(sluice_append_put(p, "full", "b", 1, SLUICE_FOREVER),
	    0);
	ck_assert_int_eq(sluice_flush(p), 0);
	sc_await_stat(w, "full", "blocked_producers", 1);
	kill(d.pid, SIGTERM);
	ck_assert_int_eq(read_one(p), SLUICE_SHUTTING_DOWN);
	ck_assert_int_eq(r->code, 503);
	sluice_free(p);
	sluice_free(w);
}
END_TEST

/*
 * The 503s that refuse one request leave the connection healthy: the
 * caller goes on using it (an ACK makes room for the next RESERVE).
 */
START_TEST(test_too_many_reserved_keeps_the_connection)
{
	struct sluice_ctx *c;
	struct sluice_msg *m, *n;

	harness_start_with_config(&d, "{\"max_reserved\": 1}");
	c = sc_open(&d);
	ck_assert_int_eq(sluice_put(c, "q", "a", 1, 0, NULL), SLUICE_OK);
	ck_assert_int_eq(sluice_put(c, "q", "b", 1, 0, NULL), SLUICE_OK);
	ck_assert_int_eq(sluice_reserve(c, "q", 0, &m), SLUICE_OK);
	ck_assert_int_eq(sluice_reserve(c, "q", 0, &n),
	    SLUICE_TOO_MANY_RESERVED);
	ck_assert_ptr_null(n);
	ck_assert_int_eq(sluice_error(c), SLUICE_OK);
	ck_assert_int_eq(sluice_ack(c, m->id), SLUICE_OK);
	ck_assert_int_eq(sluice_reserve(c, "q", 0, &n), SLUICE_OK);
	ck_assert_str_eq(n->body, "b");
	sluice_msg_free(m);
	sluice_msg_free(n);
	sluice_free(c);
}
END_TEST

START_TEST(test_too_many_queues_keeps_the_connection)
{
	struct sluice_ctx *c;

	harness_start_with_config(&d, "{\"max_queues\": 1}");
	c = sc_open(&d);
	ck_assert_int_eq(sluice_create(c, "one", NULL), SLUICE_OK);
	ck_assert_int_eq(sluice_create(c, "two", NULL), SLUICE_TOO_MANY_QUEUES);
	ck_assert_int_eq(sluice_put(c, "three", "x", 1, 0, NULL),
	    SLUICE_TOO_MANY_QUEUES);
	ck_assert_int_eq(sluice_error(c), SLUICE_OK);
	ck_assert_int_eq(sluice_put(c, "one", "x", 1, 0, NULL), SLUICE_OK);
	sluice_free(c);
}
END_TEST

/* ---- pipelining ------------------------------------------------------- */

START_TEST(test_pipelined_replies_come_back_in_request_order)
{
	struct sluice_ctx *c = sc_open(&d);
	char body[32];
	uint64_t ids[100];

	ck_assert_int_eq(sluice_set_window(c, 256), 0);
	ck_assert_int_eq(sluice_append_create(c, "p", NULL), 0);
	ck_assert_int_eq(sluice_append_create(c, "p", NULL), 0);
	for (int i = 0; i < 100; i++) {
		int n = snprintf(body, sizeof body, "m%d", i);
		ck_assert_int_eq(sluice_append_put(c, "p", body, (size_t)n,
		                     SLUICE_FOREVER),
		    0);
	}
	ck_assert_int_eq(sluice_append_ping(c), 0);
	for (int i = 0; i < 100; i++)
		ck_assert_int_eq(sluice_append_get(c, "p", 0), 0);
	ck_assert_int_eq(sluice_append_get(c, "p", 0), 0);
	ck_assert_int_eq(sluice_append_ack(c, 1), 0);
	ck_assert_int_eq(sluice_append_stats(c, "p"), 0);
	ck_assert_int_eq(sluice_pending(c), 206);

	ck_assert_int_eq(read_one(c), SLUICE_OK);
	ck_assert_int_eq(r->code, 201);
	ck_assert_int_eq(read_one(c), SLUICE_EXISTS);
	for (int i = 0; i < 100; i++) {
		ck_assert_int_eq(read_one(c), SLUICE_OK);
		ids[i] = r->id;
		if (i > 0)
			ck_assert_uint_gt(ids[i], ids[i - 1]);
	}
	ck_assert_int_eq(read_one(c), SLUICE_OK);
	ck_assert_str_eq(r->line, "200 PONG");
	for (int i = 0; i < 100; i++) {
		ck_assert_int_eq(read_one(c), SLUICE_OK);
		snprintf(body, sizeof body, "m%d", i);
		ck_assert_str_eq(r->body, body);
		ck_assert_uint_eq(r->id, ids[i]);
	}
	ck_assert_int_eq(read_one(c), SLUICE_EMPTY);
	ck_assert_int_eq(read_one(c), SLUICE_NO_MSG);
	ck_assert_int_eq(read_one(c), SLUICE_OK);
	ck_assert_ptr_nonnull(strstr(r->body, "\"depth\":0"));
	ck_assert_int_eq(sluice_pending(c), 0);
	sluice_free(c);
}
END_TEST

START_TEST(test_append_beyond_the_window_is_refused_until_a_reply_is_read)
{
	struct sluice_ctx *c = sc_open(&d);

	ck_assert_int_eq(sluice_set_window(c, 0), SLUICE_ERR_ARG);
	ck_assert_int_eq(sluice_set_window(c, 4), 0);
	ck_assert_uint_eq(sluice_window(c), 4);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(sluice_append_ping(c), 0);
	ck_assert_int_eq(sluice_append_ping(c), SLUICE_ERR_ARG);
	ck_assert_int_eq(sluice_error(c), SLUICE_ERR_ARG);
	ck_assert_ptr_nonnull(strstr(sluice_errstr(c), "window"));
	ck_assert_uint_eq(sluice_pending(c), 4);
	/* Blocking calls would read another request's reply: refused. */
	ck_assert_int_eq(sluice_ping(c), SLUICE_ERR_ARG);
	ck_assert_int_eq(sluice_set_window(c, 8), SLUICE_ERR_ARG);
	ck_assert_int_eq(read_one(c), SLUICE_OK);
	ck_assert_int_eq(sluice_append_ping(c), 0);
	ck_assert_int_eq(sluice_error(c), SLUICE_OK);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(read_one(c), SLUICE_OK);
	ck_assert_int_eq(sluice_ping(c), SLUICE_OK);
	sluice_free(c);
}
END_TEST

START_TEST(test_reply_ready_says_when_a_read_will_not_wait)
{
	struct sluice_ctx *c = sc_open(&d);
	struct pollfd pfd = { sluice_fd(c), POLLIN, 0 };

	ck_assert(!sluice_reply_ready(c));
	ck_assert_int_eq(sluice_append_ping(c), 0);
	ck_assert_int_eq(sluice_flush(c), 0);
	ck_assert_int_eq(poll(&pfd, 1, 10000), 1);
	ck_assert(sluice_reply_ready(c));
	ck_assert_int_eq(read_one(c), SLUICE_OK);
	ck_assert(!sluice_reply_ready(c));
	sluice_free(c);
}
END_TEST

/* The producer of the window test, on its own thread. */
struct producer {
	struct sluice_ctx *ctx;
	int n;
	int accepted;
	unsigned max_pending;
};

static void *
pipelined_producer(void *arg)
{
	struct producer *p = arg;
	char body[32];

	for (int i = 0; i < p->n; i++) {
		if (sluice_pending(p->ctx) == sluice_window(p->ctx) &&
		    read_one(p->ctx) == SLUICE_OK)
			p->accepted++;
		int n = snprintf(body, sizeof body, "%d", i);
		if (sluice_append_put(p->ctx, "slow", body, (size_t)n,
		        SLUICE_FOREVER) < 0)
			return NULL;
		if (sluice_pending(p->ctx) > p->max_pending)
			p->max_pending = sluice_pending(p->ctx);
	}
	while (sluice_pending(p->ctx) > 0)
		if (read_one(p->ctx) == SLUICE_OK)
			p->accepted++;
	return NULL;
}

/*
 * A pipelining producer into a full block queue parks with at most a
 * window in flight, and once a consumer drains the queue every message
 * arrives, once, in order.
 */
START_TEST(test_pipelined_producer_parks_on_full_queue_and_resumes_in_order)
{
	struct sluice_ctx *w = sc_open(&d);
	struct producer p = { sc_open(&d), 200, 0, 0 };
	struct sluice_msg *m;
	pthread_t th;
	char want[32];

	create(w, "slow", 4, "block");
	ck_assert_int_eq(sluice_set_window(p.ctx, 8), 0);
	ck_assert_int_eq(pthread_create(&th, NULL, pipelined_producer, &p), 0);
	sc_await_stat(w, "slow", "blocked_producers", 1);
	ck_assert_int_eq(sc_stat(w, "slow", "depth"), 4);
	for (int i = 0; i < p.n; i++) {
		ck_assert_int_eq(sluice_get(w, "slow", 10000, &m), SLUICE_OK);
		snprintf(want, sizeof want, "%d", i);
		ck_assert_str_eq(m->body, want);
		sluice_msg_free(m);
		ck_assert_int_le(sc_stat(w, "slow", "depth"), 4);
	}
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(p.accepted, p.n);
	ck_assert_uint_le(p.max_pending, 8);
	ck_assert_int_eq(sluice_get(w, "slow", 0, &m), SLUICE_EMPTY);
	sluice_free(p.ctx);
	sluice_free(w);
}
END_TEST

/* ---- servers that misbehave ------------------------------------------ */

/* A fake server: reads one request line, sends `reply`, then closes
 * (or, when hold is set, waits for the client to close first). */
struct fake {
	int lfd;
	int port;
	const char *reply;
	size_t reply_len;
	bool hold;
	pthread_t th;
};

static void *
fake_serve(void *arg)
{
	struct fake *f = arg;
	char buf[4096];
	int fd = accept(f->lfd, NULL, NULL);
	ssize_t n;

	if (fd < 0)
		return NULL;
	while ((n = read(fd, buf, sizeof buf)) > 0 &&
	    memchr(buf, '\n', (size_t)n) == NULL)
		;
	if (f->reply_len > 0)
		(void)!write(fd, f->reply, f->reply_len);
	if (f->hold)
		while (read(fd, buf, sizeof buf) > 0)
			;
	close(fd);
	return NULL;
}

static void
fake_start(struct fake *f, const char *reply, size_t len, bool hold)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t slen = sizeof sin;

	f->reply = reply;
	f->reply_len = len;
	f->hold = hold;
	f->lfd = socket(AF_INET, SOCK_STREAM, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(f->lfd, (struct sockaddr *)&sin, sizeof sin), 0);
	ck_assert_int_eq(listen(f->lfd, 1), 0);
	ck_assert_int_eq(getsockname(f->lfd, (struct sockaddr *)&sin, &slen),
	    0);
	f->port = ntohs(sin.sin_port);
	ck_assert_int_eq(pthread_create(&f->th, NULL, fake_serve, f), 0);
}

static struct sluice_ctx *
fake_connect(struct fake *f)
{
	struct sluice_ctx *c = sluice_connect("127.0.0.1", f->port, 5000);

	ck_assert_int_eq(sluice_error(c), SLUICE_OK);
	sluice_set_io_timeout(c, 10000);
	return c;
}

static void
fake_stop(struct fake *f)
{
	pthread_join(f->th, NULL);
	close(f->lfd);
}

START_TEST(test_server_closing_in_the_middle_of_a_reply_is_an_eof_error)
{
	static const char half[] = "200 MSG 1 10\r\nhal";
	struct fake f;
	struct sluice_ctx *c;
	struct sluice_msg *m;

	fake_start(&f, half, sizeof half - 1, false);
	c = fake_connect(&f);
	ck_assert_int_eq(sluice_get(c, "q", 0, &m), SLUICE_ERR_EOF);
	ck_assert_ptr_null(m);
	ck_assert_int_eq(sluice_error(c), SLUICE_ERR_EOF);
	ck_assert_ptr_nonnull(strstr(sluice_errstr(c), "middle of a reply"));
	ck_assert_int_eq(sluice_ping(c), SLUICE_ERR_EOF);
	sluice_free(c);
	fake_stop(&f);
}
END_TEST

START_TEST(test_server_closing_in_the_middle_of_a_status_line_is_an_error)
{
	static const char half[] = "200 QUE";
	struct fake f;
	struct sluice_ctx *c;

	fake_start(&f, half, sizeof half - 1, false);
	c = fake_connect(&f);
	ck_assert_int_eq(sluice_put(c, "q", "x", 1, 0, NULL), SLUICE_ERR_EOF);
	ck_assert_int_eq(sluice_error(c), SLUICE_ERR_EOF);
	sluice_free(c);
	fake_stop(&f);
}
END_TEST

START_TEST(test_replies_that_arrived_before_a_close_are_still_read)
{
	static const char one[] = "200 PONG\r\n";
	struct fake f;
	struct sluice_ctx *c;

	fake_start(&f, one, sizeof one - 1, false);
	c = fake_connect(&f);
	ck_assert_int_eq(sluice_append_ping(c), 0);
	ck_assert_int_eq(sluice_append_ping(c), 0);
	ck_assert_int_eq(read_one(c), SLUICE_OK);
	ck_assert_int_eq(read_one(c), SLUICE_ERR_EOF);
	ck_assert_int_eq(sluice_error(c), SLUICE_ERR_EOF);
	ck_assert_ptr_null(strstr(sluice_errstr(c), "middle"));
	sluice_free(c);
	fake_stop(&f);
}
END_TEST

START_TEST(test_a_reply_that_is_not_sluice_is_a_protocol_error)
{
	static const char junk[] = "HTTP/1.1 400 Bad Request\r\n\r\n";
	struct fake f;
	struct sluice_ctx *c;

	fake_start(&f, junk, sizeof junk - 1, true);
	c = fake_connect(&f);
	ck_assert_int_eq(sluice_ping(c), SLUICE_ERR_PROTOCOL);
	ck_assert_int_eq(sluice_error(c), SLUICE_ERR_PROTOCOL);
	ck_assert_ptr_nonnull(strstr(sluice_errstr(c), "HTTP/1.1"));
	sluice_free(c);
	fake_stop(&f);
}
END_TEST

START_TEST(test_a_get_answered_without_a_message_is_a_protocol_error)
{
	static const char wrong[] = "200 QUEUED 5\r\n";
	struct fake f;
	struct sluice_ctx *c;
	struct sluice_msg *m;

	fake_start(&f, wrong, sizeof wrong - 1, true);
	c = fake_connect(&f);
	ck_assert_int_eq(sluice_get(c, "q", 0, &m), SLUICE_ERR_PROTOCOL);
	ck_assert_int_eq(sluice_error(c), SLUICE_ERR_PROTOCOL);
	sluice_free(c);
	fake_stop(&f);
}
END_TEST

START_TEST(test_a_silent_server_times_out_when_an_io_timeout_is_set)
{
	struct fake f;
	struct sluice_ctx *c;

	fake_start(&f, "", 0, true);
	c = fake_connect(&f);
	sluice_set_io_timeout(c, 50);
	ck_assert_int_eq(sluice_ping(c), SLUICE_ERR_TIMEOUT);
	ck_assert_int_eq(sluice_error(c), SLUICE_ERR_TIMEOUT);
	sluice_free(c);
	fake_stop(&f);
}
END_TEST

/* A reply to a request the library does not know maps by code class. */
START_TEST(test_unknown_codes_map_by_class_and_result_names_exist)
{
	static const char odd[] = "299 FINE\r\n";
	struct fake f;
	struct sluice_ctx *c;

	fake_start(&f, odd, sizeof odd - 1, true);
	c = fake_connect(&f);
	ck_assert_int_eq(sluice_ping(c), SLUICE_OK);
	ck_assert_str_eq(sluice_status_line(c), "299 FINE");
	sluice_free(c);
	fake_stop(&f);
	for (int i = SLUICE_ERR_TIMEOUT; i <= SLUICE_INTERNAL; i++)
		if (i <= SLUICE_EMPTY ||
		    (i >= SLUICE_BAD_REQUEST && i <= SLUICE_CLOSED) ||
		    i >= SLUICE_FULL)
			ck_assert_str_ne(sluice_result_name(i), "?");
	ck_assert_str_eq(sluice_result_name(4), "?");
	ck_assert_str_eq(sluice_result_name(SLUICE_FULL), "FULL");
}
END_TEST

/*
 * Every answer the protocol (1.1 included) defines for a refusal has a
 * result of its own, whatever the request; unknown 503 tokens are
 * UNAVAILABLE.  Scripted by a fake server, since sluiced does not send
 * them all yet.
 */
START_TEST(test_each_refusal_has_its_own_result)
{
	static const struct {
		const char *reply;
		enum sluice_result result;
		const char *leader;
	} cases[] = {
		{ "410 CLOSED q\r\n", SLUICE_CLOSED, NULL },
		{ "503 FULL q retry_after_ms=40\r\n", SLUICE_FULL, NULL },
		{ "503 TOO_MANY_RESERVED\r\n", SLUICE_TOO_MANY_RESERVED, NULL },
		{ "503 TOO_MANY_QUEUES\r\n", SLUICE_TOO_MANY_QUEUES, NULL },
		{ "503 SHUTTING_DOWN\r\n", SLUICE_SHUTTING_DOWN, NULL },
		{ "503 BUSY\r\n", SLUICE_BUSY, NULL },
		{ "503 NOT_LEADER\r\n", SLUICE_NOT_LEADER, NULL },
		{ "503 NOT_LEADER leader=10.0.0.2:7470\r\n", SLUICE_NOT_LEADER,
		    "10.0.0.2:7470" },
		{ "503 NOT_LEADER other=1 leader=[::1]:7471\r\n",
		    SLUICE_NOT_LEADER, "[::1]:7471" },
		{ "503 SOMETHING_NEW\r\n", SLUICE_UNAVAILABLE, NULL },
		{ "500 INTERNAL oops\r\n", SLUICE_INTERNAL, NULL },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct fake f;
		struct sluice_ctx *c;

		fake_start(&f, cases[i].reply, strlen(cases[i].reply), true);
		c = fake_connect(&f);
		ck_assert_int_eq(sluice_append_put(c, "q", "x", 1, 0), 0);
		ck_assert_int_eq(read_one(c), cases[i].result);
		ck_assert_int_eq(sluice_error(c), SLUICE_OK);
		if (cases[i].leader == NULL) {
			ck_assert_ptr_null(r->leader);
			ck_assert_ptr_null(sluice_leader(c));
		} else {
			ck_assert_str_eq(r->leader, cases[i].leader);
			ck_assert_str_eq(sluice_leader(c), cases[i].leader);
		}
		ck_assert_int_eq(r->retry_after_ms,
		    cases[i].result == SLUICE_FULL ? 40 : -1);
		ck_assert_int_eq(sluice_retry_after_ms(c), r->retry_after_ms);
		sluice_free(c);
		fake_stop(&f);
	}
}
END_TEST

/* The header, the library and the package agree on the version. */
START_TEST(test_version_macros_match_the_library_and_the_package)
{
	char v[32];

	ck_assert_uint_eq(sluice_version(), SLUICE_VERSION_NUMBER);
	ck_assert_uint_eq(SLUICE_VERSION_NUMBER,
	    (SLUICE_VERSION_MAJOR << 16) | (SLUICE_VERSION_MINOR << 8) |
	        SLUICE_VERSION_PATCH);
	snprintf(v, sizeof v, "%d.%d.%d", SLUICE_VERSION_MAJOR,
	    SLUICE_VERSION_MINOR, SLUICE_VERSION_PATCH);
	ck_assert_str_eq(v, PACKAGE_VERSION);
}
END_TEST

static void
add(Suite *s, const char *name, const TTest *t, bool with_daemon)
{
	TCase *tc = tcase_create(name);

	if (with_daemon)
		tcase_add_checked_fixture(tc, daemon_setup, daemon_teardown);
	else
		tcase_add_checked_fixture(tc, NULL, daemon_teardown);
	tcase_add_test(tc, t);
	suite_add_tcase(s, tc);
}

int
main(void)
{
	Suite *s = suite_create("client");

	signal(SIGPIPE, SIG_IGN);
#define T(fn) add(s, &#fn[5], fn, true)
#define T_OWN(fn) add(s, &#fn[5], fn, false)
	T(test_put_then_get_returns_the_same_id_and_exact_body);
	T(test_empty_body_round_trips);
	T(test_message_of_one_mib_round_trips);
	T(test_get_on_empty_queue_is_empty);
	T(test_waiting_get_receives_a_later_put);
	T(test_get_and_reserve_forever_wait_for_a_later_put);
	T(test_reserve_nack_redelivers_and_ack_deletes);
	T(test_close_nack_delay_and_dead_letters_through_the_library);
	T(test_create_reports_created_exists_and_conflict);
	T(test_create_drop_policy_with_capacity_zero_is_bad_request);
	T(test_delete_and_purge_of_missing_queue_are_no_queue);
	T(test_queue_options_out_of_range_are_refused);
	T(test_stats_gives_json_text);
	T(test_put_into_full_reject_queue_is_full_with_retry_hint);
	T(test_put_with_timeout_zero_on_full_block_queue_is_full);
	T(test_put_into_full_drop_newest_queue_is_dropped);
	T(test_quit_answers_then_the_connection_is_closed);
	T(test_bad_arguments_are_refused_locally_and_keep_the_connection);
	T_OWN(test_connect_to_a_port_nobody_listens_on_fails);
	T_OWN(test_commands_before_auth_are_unauthorized);
	T_OWN(test_command_a_token_may_not_do_is_forbidden);
	T_OWN(test_connection_over_the_limit_is_busy);
	T_OWN(test_put_over_the_message_limit_is_too_large_with_the_limit);
	T_OWN(test_get_without_auto_create_is_no_queue);
	T_OWN(test_parked_put_is_answered_shutting_down_on_sigterm);
	T_OWN(test_too_many_reserved_keeps_the_connection);
	T_OWN(test_too_many_queues_keeps_the_connection);
	T(test_pipelined_replies_come_back_in_request_order);
	T(test_append_beyond_the_window_is_refused_until_a_reply_is_read);
	T(test_reply_ready_says_when_a_read_will_not_wait);
	T(test_pipelined_producer_parks_on_full_queue_and_resumes_in_order);
	T_OWN(test_server_closing_in_the_middle_of_a_reply_is_an_eof_error);
	T_OWN(test_server_closing_in_the_middle_of_a_status_line_is_an_error);
	T_OWN(test_replies_that_arrived_before_a_close_are_still_read);
	T_OWN(test_a_reply_that_is_not_sluice_is_a_protocol_error);
	T_OWN(test_a_get_answered_without_a_message_is_a_protocol_error);
	T_OWN(test_a_silent_server_times_out_when_an_io_timeout_is_set);
	T_OWN(test_unknown_codes_map_by_class_and_result_names_exist);
	T_OWN(test_each_refusal_has_its_own_result);
	T_OWN(test_version_macros_match_the_library_and_the_package);
#undef T
#undef T_OWN
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
