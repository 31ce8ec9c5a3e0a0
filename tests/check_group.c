/*
 * check_group.c - the client side of replication and sharding: libsluice
 * and the sluice CLI given the servers of a group, and several groups.
 *
 *   - sharding: sluice_shard_pick() against the test vectors of
 *     protocol/PROTOCOL.md (which the Python and Node clients check
 *     too); 100 queues through a sharded handle over two real daemons
 *     each live on exactly the daemon the hash names; a third group
 *     takes about a third of them, and only to itself;
 *   - failover against fake servers written here (a thread each that
 *     answers request lines by a script): a NOT_LEADER hint is
 *     followed, also to a server not in the list; without a hint the
 *     next server is tried; a NOT_LEADER that lasts past the deadline
 *     is returned; a GET whose connection breaks is lost, never sent
 *     twice; a PUT is sent again only when duplicates are allowed;
 *     CLUSTER requests are the documented lines;
 *   - a dead first server falls through to a live one (the real
 *     daemon);
 *   - the CLI: shard, cluster status, and put through a follower.
 *
 * The fakes tell the test what they saw; nothing sleeps in place of an
 * event (the fakes' answers are the events).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "harness_sluice.h"
#include "sluice.h"

/* ---- sharding -------------------------------------------------------- */

/* The groups of the vectors in protocol/PROTOCOL.md. */
#define G1 "127.0.0.1:7471,127.0.0.1:7472,127.0.0.1:7473"
#define G2 "127.0.0.1:7481,127.0.0.1:7482,127.0.0.1:7483"
#define G3 "127.0.0.1:7491,127.0.0.1:7492,127.0.0.1:7493"

START_TEST(test_shard_pick_matches_the_documented_vectors)
{
	static const char *const two[] = { G1, G2 };
	static const char *const three[] = { G1, G2, G3 };
	static const char *const five[] = { "10.0.0.1:7470", "10.0.0.2:7470",
		"10.0.0.3:7470", "10.0.0.4:7470", "10.0.0.5:7470" };
	static const char *const named[] = { "east=" G1, "west=" G2,
		"north=10.9.9.9:1" };
	static const char *const ties[] = { "h:2", "h:1", "h:1" };
	static const struct {
		const char *const *groups;
		size_t n;
		const char *queue;
		size_t index;
	} picks[] = {
		{ two, 2, "jobs", 0 },
		{ two, 2, "orders.eu", 1 },
		{ two, 2, "a", 1 },
		{ three, 3, "emails", 2 },
		{ three, 3, "orders.eu", 1 },
		{ three, 3, "Z", 2 },
		{ five, 5, "jobs", 3 },
		{ five, 5, "emails", 4 },
		{ five, 5, "a", 1 },
		{ ties, 3, "jobs", 1 },
		{ ties, 3, "q2", 0 },
		{ named, 3, "jobs", 0 },
		{ named, 3, "emails", 2 },
		{ named, 3, "orders.eu", 2 },
		{ named, 3, "a", 1 },
	};
	static const struct {
		const char *key;
		const char *queue;
		uint64_t score;
	} scores[] = {
		{ "", "", 0x8f322bb9678204b8ULL },
		{ "127.0.0.1:7470", "jobs", 0x29048fa4b5beb584ULL },
		{ G1, "jobs", 0xe3d502702a1146d7ULL },
		{ "east", "orders.eu", 0x37e28dc1624c01f7ULL },
	};

	for (size_t i = 0; i < sizeof picks / sizeof picks[0]; i++)
		ck_assert_msg(sluice_shard_pick(picks[i].queue, picks[i].groups,
		                  picks[i].n) == picks[i].index,
		    "pick %zu (%s): %zu, want %zu", i, picks[i].queue,
		    sluice_shard_pick(picks[i].queue, picks[i].groups,
		        picks[i].n),
		    picks[i].index);
	for (size_t i = 0; i < sizeof scores / sizeof scores[0]; i++)
		ck_assert_msg(sluice_shard_score(scores[i].key,
		                  strlen(scores[i].key),
		                  scores[i].queue) == scores[i].score,
		    "score %zu: %016llx", i,
		    (unsigned long long)sluice_shard_score(scores[i].key,
		        strlen(scores[i].key), scores[i].queue));
	/* A group's name is its key: its servers may change. */
	ck_assert_uint_eq(sluice_shard_pick("jobs",
	                      (const char *const[]){ "east=a:1", "west=b:1" },
	                      2),
	    sluice_shard_pick("jobs",
	        (const char *const[]){ "east=c:1,d:1", "west=e:1" }, 2));
}
END_TEST

/* Two daemons, the groups of a sharded handle. */
static struct daemon d1, d2;

static void
two_daemons_setup(void)
{
	harness_start(&d1, NULL);
	harness_start(&d2, NULL);
}

static void
two_daemons_teardown(void)
{
	ck_assert_int_eq(harness_stop(&d1), 0);
	ck_assert_int_eq(harness_stop(&d2), 0);
}

START_TEST(test_each_queue_lives_in_one_group_and_a_third_takes_a_third)
{
	char g[3][64], name[16];
	const char *groups[3] = { g[0], g[1], g[2] };
	struct sluice_shards *s;
	struct sluice_ctx *c1, *c2;
	int moved = 0, on[2] = { 0, 0 };

	snprintf(g[0], sizeof g[0], "127.0.0.1:%d", d1.port);
	snprintf(g[1], sizeof g[1], "127.0.0.1:%d", d2.port);
	snprintf(g[2], sizeof g[2], "third=127.0.0.1:1");
	s = sluice_shards_new(groups, 2, SLUICE_DEFAULT_PORT, 5000);
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(sluice_shards_count(s), 2);
	for (int i = 0; i < 100; i++) {
		snprintf(name, sizeof name, "q%d", i);
		ck_assert_int_eq(sluice_put(sluice_shards_for(s, name), name,
		                     "x", 1, SLUICE_FOREVER, NULL),
		    SLUICE_OK);
	}
	c1 = sc_open(&d1);
	c2 = sc_open(&d2);
	for (int i = 0; i < 100; i++) {
		size_t want, now;

		snprintf(name, sizeof name, "q%d", i);
		want = sluice_shard_pick(name, groups, 2);
		/* Exactly one daemon holds it: the one the hash names. */
		ck_assert_int_eq(sc_stat(c1, name, "depth"),
		    want == 0 ? 1 : -1);
		ck_assert_int_eq(sc_stat(c2, name, "depth"),
		    want == 1 ? 1 : -1);
		on[want]++;
		now = sluice_shard_pick(name, groups, 3);
		if (now != want) {
			ck_assert_uint_eq(now, 2);
			moved++;
		}
	}
	ck_assert_int_gt(on[0], 0);
	ck_assert_int_gt(on[1], 0);
	ck_assert_msg(moved >= 20 && moved <= 47,
	    "%d of 100 queues moved to a third group", moved);
	sluice_free(c1);
	sluice_free(c2);
	sluice_shards_free(s);
}
END_TEST

/* ---- fake servers ---------------------------------------------------- */

/* How a fake answers a request line that starts with `prefix`: `reply`
 * as is, or, when reply is NULL, by closing the connection unanswered
 * (a server that died with the request). */
struct rule {
	const char *prefix;
	const char *reply;
	bool then_close; /* close the connection after the reply */
};

/* A rule, and one that closes the connection once it has answered. */
#define RULE(prefix, reply) ((struct rule){ (prefix), (reply), false })
#define RULE_THEN_CLOSE(prefix, reply) \
	((struct rule){ (prefix), (reply), true })

#define FAKE_RULES 6
#define FAKE_SEEN 16

struct fake {
	int lfd;
	int port;
	pthread_t th;
	struct rule rules[FAKE_RULES];
	char seen[FAKE_SEEN][128]; /* the request lines, in order */
	atomic_int nseen;
	atomic_int conns; /* connections accepted */
};

/* Read a line (without terminator) into line; false at EOF.  A PUT's
 * body is read past. */
static bool
fake_read_request(int fd, char *line, size_t size)
{
	size_t n = 0;
	unsigned long body = 0;
	char c;

	while (read(fd, &c, 1) == 1) {
		if (c == '\n') {
			if (n > 0 && line[n - 1] == '\r')
				n--;
			line[n] = '\0';
			if (sscanf(line, "PUT %*s %lu", &body) == 1)
				for (body += 2; body > 0; body--)
					if (read(fd, &c, 1) != 1)
						return false;
			return true;
		}
		if (n + 1 < size)
			line[n++] = c;
	}
	return false;
}

static const struct rule *
fake_rule(const struct fake *f, const char *line)
{
	for (int i = 0; i < FAKE_RULES && f->rules[i].prefix != NULL; i++)
		if (strncmp(line, f->rules[i].prefix,
		        strlen(f->rules[i].prefix)) == 0)
			return &f->rules[i];
	return NULL;
}

static void *
fake_serve(void *arg)
{
	struct fake *f = arg;
	char line[1100];
	int fd;

	while ((fd = accept(f->lfd, NULL, NULL)) >= 0) {
		f->conns++;
		while (fake_read_request(fd, line, sizeof line)) {
			const struct rule *r = fake_rule(f, line);
			int k = f->nseen;

			if (k < FAKE_SEEN)
				snprintf(f->seen[k], sizeof f->seen[k],
				    "%.127s", line);
			f->nseen = k + 1;
			if (r == NULL || r->reply == NULL)
				break;
			(void)!write(fd, r->reply, strlen(r->reply));
			if (r->then_close)
				break;
		}
		close(fd);
	}
	return NULL;
}

/* Listen on an ephemeral loopback port (rules set after, before
 * fake_run()). */
static void
fake_listen(struct fake *f)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t slen = sizeof sin;

	memset(f, 0, sizeof *f);
	f->lfd = socket(AF_INET, SOCK_STREAM, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(f->lfd, (struct sockaddr *)&sin, sizeof sin), 0);
	ck_assert_int_eq(listen(f->lfd, 8), 0);
	ck_assert_int_eq(getsockname(f->lfd, (struct sockaddr *)&sin, &slen),
	    0);
	f->port = ntohs(sin.sin_port);
}

static void
fake_run(struct fake *f)
{
	ck_assert_int_eq(pthread_create(&f->th, NULL, fake_serve, f), 0);
}

/* Stop accepting (shutdown wakes accept()) and wait for the thread;
 * the client must have closed its connection first. */
static void
fake_stop(struct fake *f)
{
	shutdown(f->lfd, SHUT_RDWR);
	pthread_join(f->th, NULL);
	close(f->lfd);
}

/* A port where nothing listens: bound, never listening (close it after). */
static int
dead_port(int *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof sin;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

/* Connect to a list of servers, with a 10 s I/O timeout so a missing
 * answer fails the test rather than hanging it. */
static struct sluice_ctx *group_open(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static struct sluice_ctx *
group_open(const char *fmt, ...)
{
	char list[256];
	struct sluice_ctx *c;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(list, sizeof list, fmt, ap);
	va_end(ap);
	c = sluice_connect(list, SLUICE_DEFAULT_PORT, 5000);
	ck_assert_ptr_nonnull(c);
	ck_assert_msg(sluice_error(c) == SLUICE_OK, "%s", sluice_errstr(c));
	sluice_set_io_timeout(c, 10000);
	return c;
}

/* ---- failover -------------------------------------------------------- */

START_TEST(test_not_leader_hint_is_followed_to_a_server_not_in_the_list)
{
	struct fake a, b;
	char hint[128], where[64];
	struct sluice_ctx *c;
	uint64_t id = 0;

	fake_listen(&a);
	fake_listen(&b);
	snprintf(hint, sizeof hint, "503 NOT_LEADER leader=127.0.0.1:%d\r\n",
	    b.port);
	a.rules[0] = RULE("PUT", hint);
	b.rules[0] = RULE("PUT", "200 QUEUED 42\r\n");
	fake_run(&a);
	fake_run(&b);
	/* One server: failover is off until asked for. */
	c = group_open("127.0.0.1:%d", a.port);
	ck_assert_int_eq(sluice_put(c, "jobs", "hello", 5, SLUICE_FOREVER, &id),
	    SLUICE_NOT_LEADER);
	snprintf(where, sizeof where, "127.0.0.1:%d", b.port);
	ck_assert_str_eq(sluice_leader(c), where);
	sluice_set_failover(c, 5000);
	ck_assert_int_eq(sluice_put(c, "jobs", "hello", 5, SLUICE_FOREVER, &id),
	    SLUICE_OK);
	ck_assert_uint_eq(id, 42);
	ck_assert_str_eq(sluice_server(c), where);
	ck_assert_int_eq(a.nseen, 2);
	ck_assert_int_eq(b.nseen, 1);
	ck_assert_str_eq(b.seen[0], "PUT jobs 5");
	sluice_free(c);
	fake_stop(&a);
	fake_stop(&b);
}
END_TEST

START_TEST(test_not_leader_without_a_hint_moves_to_the_next_server)
{
	struct fake a, b;
	struct sluice_ctx *c;
	struct sluice_msg *m;

	fake_listen(&a);
	fake_listen(&b);
	a.rules[0] = RULE("GET", "503 NOT_LEADER\r\n");
	b.rules[0] = RULE("GET", "200 MSG 7 2\r\nhi\r\n");
	fake_run(&a);
	fake_run(&b);
	c = group_open("127.0.0.1:%d,127.0.0.1:%d", a.port, b.port);
	/* A NOT_LEADER did nothing: even a GET goes again. */
	ck_assert_int_eq(sluice_get(c, "jobs", 1000, &m), SLUICE_OK);
	ck_assert_uint_eq(m->id, 7);
	ck_assert_str_eq(m->body, "hi");
	sluice_msg_free(m);
	ck_assert_int_eq(a.nseen, 1);
	ck_assert_str_eq(b.seen[0], "GET jobs 1000");
	sluice_free(c);
	fake_stop(&a);
	fake_stop(&b);
}
END_TEST

START_TEST(test_not_leader_past_the_deadline_is_returned)
{
	struct fake a;
	struct sluice_ctx *c;

	fake_listen(&a);
	a.rules[0] = RULE("PUT", "503 NOT_LEADER\r\n");
	fake_run(&a);
	c = group_open("127.0.0.1:%d", a.port);
	sluice_set_failover(c, 200);
	ck_assert_int_eq(sluice_put(c, "jobs", "x", 1, SLUICE_FOREVER, NULL),
	    SLUICE_NOT_LEADER);
	ck_assert_ptr_null(sluice_leader(c));
	/* Asked again (with backoff), on a new connection each time. */
	ck_assert_int_ge(a.nseen, 2);
	ck_assert_int_eq(a.conns, a.nseen);
	sluice_free(c);
	fake_stop(&a);
}
END_TEST

START_TEST(test_a_get_whose_connection_breaks_is_lost_never_sent_twice)
{
	struct fake a, b;
	struct sluice_ctx *c;
	struct sluice_msg *m;

	fake_listen(&a);
	fake_listen(&b);
	a.rules[0] = RULE("GET", NULL);
	b.rules[0] = RULE("GET", "200 MSG 7 2\r\nhi\r\n");
	b.rules[1] = RULE("PING", "200 PONG\r\n");
	fake_run(&a);
	fake_run(&b);
	c = group_open("127.0.0.1:%d,127.0.0.1:%d", a.port, b.port);
	ck_assert_int_eq(sluice_get(c, "jobs", 0, &m), SLUICE_ERR_LOST);
	ck_assert_ptr_null(m);
	ck_assert_int_eq(sluice_error(c), SLUICE_ERR_LOST);
	ck_assert_ptr_nonnull(strstr(sluice_errstr(c), "GET"));
	ck_assert_int_eq(b.nseen, 0);
	/* The context lives on: the next call connects to the next one. */
	ck_assert_int_eq(sluice_ping(c), SLUICE_OK);
	ck_assert_int_eq(b.nseen, 1);
	ck_assert_str_eq(b.seen[0], "PING");
	sluice_free(c);
	fake_stop(&a);
	fake_stop(&b);
}
END_TEST

START_TEST(test_a_put_whose_connection_breaks_goes_again_only_if_allowed)
{
	struct fake a, b;
	struct sluice_ctx *c;
	uint64_t id = 0;

	fake_listen(&a);
	fake_listen(&b);
	a.rules[0] = RULE("PUT", NULL);
	b.rules[0] = RULE("PUT", "200 QUEUED 9\r\n");
	fake_run(&a);
	fake_run(&b);
	c = group_open("127.0.0.1:%d,127.0.0.1:%d", a.port, b.port);
	ck_assert_int_eq(sluice_put(c, "jobs", "x", 1, SLUICE_FOREVER, &id),
	    SLUICE_ERR_LOST);
	ck_assert_int_eq(b.nseen, 0);
	sluice_free(c);

	c = group_open("127.0.0.1:%d,127.0.0.1:%d", a.port, b.port);
	sluice_set_allow_duplicates(c, true);
	ck_assert_int_eq(sluice_put(c, "jobs", "x", 1, SLUICE_FOREVER, &id),
	    SLUICE_OK);
	ck_assert_uint_eq(id, 9);
	ck_assert_int_eq(a.nseen, 2);
	ck_assert_int_eq(b.nseen, 1);
	ck_assert_str_eq(b.seen[0], "PUT jobs 1");
	sluice_free(c);
	fake_stop(&a);
	fake_stop(&b);
}
END_TEST

START_TEST(test_a_dead_first_server_falls_through_to_a_live_one)
{
	struct daemon d;
	struct sluice_ctx *c;
	struct sluice_msg *m;
	char where[96];
	int dead, fd = dead_port(&dead);

	harness_start(&d, NULL);
	c = group_open("127.0.0.1:%d,%s:%d", dead, d.host, d.port);
	snprintf(where, sizeof where, "%s:%d", d.host, d.port);
	ck_assert_str_eq(sluice_server(c), where);
	ck_assert_int_eq(sluice_put(c, "jobs", "hi", 2, SLUICE_FOREVER, NULL),
	    SLUICE_OK);
	ck_assert_int_eq(sluice_get(c, "jobs", 0, &m), SLUICE_OK);
	ck_assert_str_eq(m->body, "hi");
	sluice_msg_free(m);
	sluice_free(c);
	/* Nobody at all: one clear error. */
	c = sluice_connect("127.0.0.1:1,127.0.0.1:2", 0, 5000);
	ck_assert_int_eq(sluice_error(c), SLUICE_ERR_CONNECT);
	ck_assert_ptr_nonnull(strstr(sluice_errstr(c), "no server"));
	sluice_free(c);
	close(fd);
	ck_assert_int_eq(harness_stop(&d), 0);
}
END_TEST

START_TEST(test_bad_server_lists_are_refused_clearly)
{
	static const char *const bad[] = { "a:1,", ",a:1", "a:0", "a:70000",
		"a:x", "[::1", "[::1]x", "a:1,,b:2" };

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct sluice_ctx *c = sluice_connect(bad[i], 7470, 1000);

		ck_assert_int_eq(sluice_error(c), SLUICE_ERR_CONNECT);
		ck_assert_msg(strstr(sluice_errstr(c), "bad server") != NULL,
		    "%s: %s", bad[i], sluice_errstr(c));
		sluice_free(c);
	}
}
END_TEST

START_TEST(test_cluster_calls_send_the_documented_lines)
{
	static const char status[] =
	    "{\"id\":1,\"role\":\"leader\",\"leader\":\"127.0.0.1:7471\"}";
	char json_reply[256];
	struct fake a;
	struct sluice_ctx *c;
	char *json;
	size_t len;

	snprintf(json_reply, sizeof json_reply, "200 JSON %zu\r\n%s\r\n",
	    sizeof status - 1, status);
	fake_listen(&a);
	a.rules[0] = RULE("CLUSTER STATUS", json_reply);
	a.rules[1] = RULE("CLUSTER ADD", "200 ADDED\r\n");
	a.rules[2] = RULE("CLUSTER REMOVE 9", "404 NO_MEMBER 9\r\n");
	a.rules[3] = RULE("CLUSTER REMOVE", "409 CONFLICT\r\n");
	fake_run(&a);
	c = group_open("127.0.0.1:%d", a.port);
	ck_assert_int_eq(sluice_cluster_status(c, &json, &len), SLUICE_OK);
	ck_assert_uint_eq(len, sizeof status - 1);
	ck_assert_str_eq(json, status);
	free(json);
	ck_assert_int_eq(sluice_cluster_add(c, 4, "127.0.0.1:7484",
	                     "127.0.0.1:7474"),
	    SLUICE_OK);
	ck_assert_int_eq(sluice_cluster_remove(c, 9), SLUICE_NO_MEMBER);
	ck_assert_int_eq(sluice_cluster_remove(c, 2), SLUICE_CONFLICT);
	/* Refused before anything is sent. */
	ck_assert_int_eq(sluice_cluster_remove(c, 0), SLUICE_ERR_ARG);
	ck_assert_int_eq(sluice_cluster_add(c, 5, "a b", "c:1"),
	    SLUICE_ERR_ARG);
	ck_assert_int_eq(a.nseen, 4);
	ck_assert_str_eq(a.seen[0], "CLUSTER STATUS");
	ck_assert_str_eq(a.seen[1],
	    "CLUSTER ADD 4 127.0.0.1:7484 127.0.0.1:7474");
	ck_assert_str_eq(a.seen[2], "CLUSTER REMOVE 9");
	ck_assert_str_eq(a.seen[3], "CLUSTER REMOVE 2");
	ck_assert_str_eq(sluice_result_name(SLUICE_NO_MEMBER), "NO_MEMBER");
	ck_assert_str_eq(sluice_result_name(SLUICE_ERR_LOST), "ERR_LOST");
	sluice_free(c);
	fake_stop(&a);
}
END_TEST

/* ---- the CLI --------------------------------------------------------- */

/*
 * Run "sluice ARGS..." (NULL-terminated) with `in` (NULL: nothing) as
 * its stdin; its stdout into out (NUL-terminated), stderr to the
 * test's.  Returns its exit status.
 */
static int
run_cli_in(const char *in, char *out, size_t size, va_list ap)
{
	const char *argv[24], *cli = getenv("SLUICE_CLI");
	int op[2], ip[2], argc = 0, st;
	size_t len = 0;
	ssize_t n;
	pid_t pid;

	ck_assert_msg(cli != NULL, "SLUICE_CLI must name the sluice binary");
	argv[argc++] = cli;
	while ((argv[argc] = va_arg(ap, const char *)) != NULL)
		argc++;
	ck_assert_int_eq(pipe(op), 0);
	ck_assert_int_eq(pipe(ip), 0);
	if ((pid = fork()) == 0) {
		dup2(ip[0], STDIN_FILENO);
		dup2(op[1], STDOUT_FILENO);
		close(op[0]);
		close(ip[1]);
		execv(cli, (char *const *)argv);
		_exit(127);
	}
	ck_assert_int_gt(pid, 0);
	close(op[1]);
	close(ip[0]);
	/* Small inputs only: they fit the pipe's buffer. */
	if (in != NULL)
		ck_assert_int_eq(write(ip[1], in, strlen(in)),
		    (ssize_t)strlen(in));
	close(ip[1]);
	while (
	    len + 1 < size && (n = read(op[0], out + len, size - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(op[0]);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* run_cli_in() with stdin empty. */
static int
run_cli(char *out, size_t size, ...)
{
	va_list ap;
	int st;

	va_start(ap, size);
	st = run_cli_in(NULL, out, size, ap);
	va_end(ap);
	return st;
}

/* run_cli_in() with `in` as stdin. */
static int
run_cli_input(const char *in, char *out, size_t size, ...)
{
	va_list ap;
	int st;

	va_start(ap, size);
	st = run_cli_in(in, out, size, ap);
	va_end(ap);
	return st;
}

START_TEST(test_cli_shard_prints_each_queue_s_group)
{
	char out[512];

	ck_assert_int_eq(run_cli(out, sizeof out, "-H", G1, "-H", G2, "-H", G3,
	                     "shard", "jobs", "emails", "orders.eu", NULL),
	    0);
	ck_assert_str_eq(out, G1 "\n" G3 "\n" G2 "\n");
	ck_assert_int_eq(run_cli(out, sizeof out, "-H", G1, "-H", G2, "shard",
	                     "-i", "jobs", "a", NULL),
	    0);
	ck_assert_str_eq(out, "0\n1\n");
	ck_assert_int_eq(run_cli(out, sizeof out, "shard", "no way", NULL), 64);
	/* A command about a whole server wants one group. */
	ck_assert_int_eq(run_cli(out, sizeof out, "-H", G1, "-H", G2, "stats",
	                     NULL),
	    64);
}
END_TEST

START_TEST(test_cli_cluster_status_and_put_through_a_follower)
{
	static const char status[] =
	    "{\"id\":2,\"role\":\"follower\",\"leader\":\"127.0.0.1:7471\","
	    "\"term\":3,\"applied\":12,\"members\":[{\"id\":1,\"raft\":"
	    "\"127.0.0.1:7481\",\"client\":\"127.0.0.1:7471\",\"role\":"
	    "\"voter\"},{\"id\":2,\"raft\":\"127.0.0.1:7482\",\"client\":"
	    "\"127.0.0.1:7472\",\"role\":\"voter\"}]}";
	char json_reply[512], hint[128], list[128], out[1024];
	struct fake a, b;

	fake_listen(&a);
	fake_listen(&b);
	snprintf(json_reply, sizeof json_reply, "200 JSON %zu\r\n%s\r\n",
	    sizeof status - 1, status);
	snprintf(hint, sizeof hint, "503 NOT_LEADER leader=127.0.0.1:%d\r\n",
	    b.port);
	a.rules[0] = RULE("CLUSTER STATUS", json_reply);
	a.rules[1] = RULE("PUT", hint);
	a.rules[2] = RULE("CLUSTER REMOVE", hint);
	a.rules[3] = RULE("STATS jobs", "200 JSON 2\r\n{}\r\n");
	a.rules[4] = RULE("GET", hint);
	a.rules[5] = RULE("PEEK", hint);
	b.rules[0] = RULE("PUT", "200 QUEUED 5\r\n");
	b.rules[1] = RULE("CLUSTER REMOVE 3", "404 NO_MEMBER 3\r\n");
	b.rules[2] = RULE("GET", "200 MSG 5 5\r\nhello\r\n");
	b.rules[3] = RULE("PEEK jobs", "200 JSON 2\r\n{}\r\n");
	fake_run(&a);
	fake_run(&b);
	snprintf(list, sizeof list, "127.0.0.1:%d", a.port);

	ck_assert_int_eq(run_cli(out, sizeof out, "-H", list, "cluster",
	                     "status", "--json", NULL),
	    0);
	ck_assert_mem_eq(out, status, sizeof status - 1);
	ck_assert_str_eq(out + sizeof status - 1, "\n");
	ck_assert_int_eq(run_cli(out, sizeof out, "-H", list, "cluster",
	                     "status", NULL),
	    0);
	ck_assert_msg(strstr(out, "leader 127.0.0.1:7471, term 3") != NULL &&
	        strstr(out, "127.0.0.1:7482") != NULL,
	    "%s", out);
	ck_assert_int_eq(run_cli(out, sizeof out, "-H", list, "put", "-i",
	                     "jobs", "hello", NULL),
	    0);
	ck_assert_str_eq(out, "5\n");
	ck_assert_int_eq(run_cli(out, sizeof out, "-H", list, "cluster",
	                     "remove", "3", NULL),
	    66);
	ck_assert_int_eq(run_cli(out, sizeof out, "-H", list, "cluster", "add",
	                     "3", NULL),
	    64);
	ck_assert_str_eq(b.seen[0], "PUT jobs 5");
	ck_assert_str_eq(b.seen[1], "CLUSTER REMOVE 3");
	/* get checks the queue with PEEK, which only the leader serves
	 * (a follower's STATS may not show it yet), then GETs there. */
	ck_assert_int_eq(run_cli(out, sizeof out, "-H", list, "get", "jobs",
	                     NULL),
	    0);
	ck_assert_str_eq(out, "hello\n");
	ck_assert_str_eq(b.seen[2], "PEEK jobs 1");
	ck_assert_str_eq(b.seen[3], "GET jobs");
	fake_stop(&a);
	fake_stop(&b);
}
END_TEST

START_TEST(test_cli_put_lines_go_to_the_leader_and_again_if_allowed)
{
	char hint[128], list[128], out[256];
	struct fake a, b;

	fake_listen(&a);
	fake_listen(&b);
	snprintf(hint, sizeof hint, "503 NOT_LEADER leader=127.0.0.1:%d\r\n",
	    b.port);
	/* A follower: every line goes to the leader it names. */
	a.rules[0] = RULE("PUT", hint);
	b.rules[0] = RULE("PUT", "200 QUEUED 1\r\n");
	fake_run(&a);
	fake_run(&b);
	snprintf(list, sizeof list, "127.0.0.1:%d", a.port);
	ck_assert_int_eq(run_cli_input("x\ny\nz\n", out, sizeof out, "-H", list,
	                     "put", "-l", "jobs", NULL),
	    0);
	ck_assert_int_eq(a.nseen, 3);
	ck_assert_int_eq(b.nseen, 3);
	/* More lines than a window: the refused ones go first, the rest
	 * after them, and only the first window is refused. */
	ck_assert_int_eq(run_cli_input("1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n", out,
	                     sizeof out, "-H", list, "put", "-l", "-w", "4",
	                     "jobs", NULL),
	    0);
	ck_assert_int_eq(a.nseen, 3 + 4);
	ck_assert_int_eq(b.nseen, 3 + 10);
	fake_stop(&a);
	fake_stop(&b);

	/* A leader that dies with the lines: lost, unless -D. */
	fake_listen(&a);
	fake_listen(&b);
	a.rules[0] = RULE("PUT", NULL);
	b.rules[0] = RULE("PUT", "200 QUEUED 1\r\n");
	fake_run(&a);
	fake_run(&b);
	snprintf(list, sizeof list, "127.0.0.1:%d,127.0.0.1:%d", a.port,
	    b.port);
	ck_assert_int_eq(run_cli_input("x\ny\nz\n", out, sizeof out, "-H", list,
	                     "put", "-l", "jobs", NULL),
	    69);
	ck_assert_int_eq(b.nseen, 0);
	ck_assert_int_eq(run_cli_input("x\ny\nz\n", out, sizeof out, "-H", list,
	                     "put", "-l", "--allow-duplicates", "jobs", NULL),
	    0);
	ck_assert_int_eq(b.nseen, 3);
	ck_assert_str_eq(b.seen[0], "PUT jobs 1");
	ck_assert_int_eq(run_cli(out, sizeof out, "-H", list, "put", "-D",
	                     "jobs", "hello", NULL),
	    0);
	ck_assert_int_eq(b.nseen, 4);
	ck_assert_str_eq(b.seen[3], "PUT jobs 5");
	fake_stop(&a);
	fake_stop(&b);
}
END_TEST

START_TEST(test_a_new_connection_logs_in_again)
{
	struct fake a, b;
	struct sluice_ctx *c;
	struct sluice_msg *m;

	fake_listen(&a);
	fake_listen(&b);
	a.rules[0] = RULE("AUTH", "200 OK\r\n");
	a.rules[1] = RULE("GET", NULL);
	b.rules[0] = RULE("AUTH", "200 OK\r\n");
	b.rules[1] = RULE("PING", "200 PONG\r\n");
	fake_run(&a);
	fake_run(&b);
	c = group_open("127.0.0.1:%d,127.0.0.1:%d", a.port, b.port);
	ck_assert_int_eq(sluice_auth(c, "s3cret"), SLUICE_OK);
	ck_assert_int_eq(sluice_get(c, "jobs", 0, &m), SLUICE_ERR_LOST);
	ck_assert_int_eq(sluice_ping(c), SLUICE_OK);
	ck_assert_int_eq(b.nseen, 2);
	ck_assert_str_eq(b.seen[0], "AUTH s3cret");
	ck_assert_str_eq(b.seen[1], "PING");
	sluice_free(c);
	fake_stop(&a);
	fake_stop(&b);
}
END_TEST

START_TEST(test_an_idle_connection_the_server_closed_is_replaced_first)
{
	struct fake a, b;
	struct sluice_ctx *c;
	struct sluice_msg *m;
	struct pollfd pfd;

	fake_listen(&a);
	fake_listen(&b);
	/* A leader that steps down closes its connections. */
	a.rules[0] = RULE_THEN_CLOSE("PING", "200 PONG\r\n");
	b.rules[0] = RULE("GET", "200 MSG 7 2\r\nhi\r\n");
	fake_run(&a);
	fake_run(&b);
	c = group_open("127.0.0.1:%d,127.0.0.1:%d", a.port, b.port);
	ck_assert_int_eq(sluice_ping(c), SLUICE_OK);
	/* The PONG is read: the socket is readable again at the close. */
	pfd = (struct pollfd){ sluice_fd(c), POLLIN, 0 };
	ck_assert_int_eq(poll(&pfd, 1, 10000), 1);
	/* Nothing is lost: the GET goes out on a new connection. */
	ck_assert_int_eq(sluice_get(c, "jobs", 0, &m), SLUICE_OK);
	ck_assert_str_eq(m->body, "hi");
	sluice_msg_free(m);
	ck_assert_int_eq(a.nseen, 1);
	sluice_free(c);
	fake_stop(&a);
	fake_stop(&b);
}
END_TEST

static void
add(Suite *s, const char *name, const TTest *t, bool two_daemons)
{
	TCase *tc = tcase_create(name);

	if (two_daemons)
		tcase_add_checked_fixture(tc, two_daemons_setup,
		    two_daemons_teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, t);
	suite_add_tcase(s, tc);
}

int
main(void)
{
	Suite *s = suite_create("group");

	signal(SIGPIPE, SIG_IGN);
#define T(fn) add(s, &#fn[5], fn, false)
	T(test_shard_pick_matches_the_documented_vectors);
	add(s, "each_queue_lives_in_one_group_and_a_third_takes_a_third",
	    test_each_queue_lives_in_one_group_and_a_third_takes_a_third, true);
	T(test_not_leader_hint_is_followed_to_a_server_not_in_the_list);
	T(test_not_leader_without_a_hint_moves_to_the_next_server);
	T(test_not_leader_past_the_deadline_is_returned);
	T(test_a_get_whose_connection_breaks_is_lost_never_sent_twice);
	T(test_a_put_whose_connection_breaks_goes_again_only_if_allowed);
	T(test_a_dead_first_server_falls_through_to_a_live_one);
	T(test_a_new_connection_logs_in_again);
	T(test_an_idle_connection_the_server_closed_is_replaced_first);
	T(test_bad_server_lists_are_refused_clearly);
	T(test_cluster_calls_send_the_documented_lines);
	T(test_cli_shard_prints_each_queue_s_group);
	T(test_cli_cluster_status_and_put_through_a_follower);
	T(test_cli_put_lines_go_to_the_leader_and_again_if_allowed);
#undef T
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
