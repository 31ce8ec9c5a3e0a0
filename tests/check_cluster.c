/*
 * check_cluster.c - replication (issue 15) against real sluiced groups
 * of three: elections and roles, failover under load, partitions,
 * membership changes, what a new leader keeps of its predecessor's
 * promises (dead letters, ids, a follower's reload), whole-group
 * restarts.  See harness_cluster.h for
 * how the groups are made and faultproxy.h for the partitions.
 *
 * The load is check_crash's: two producers PUT into two queues, one
 * consumer GETs and one RESERVEs and ACKs (or NACKs, with a delay of up
 * to 30 ms), request by request and then as a pipelined burst, and what
 * the answers promised is checked at the end, when every queue is
 * drained through the leader:
 *   - every message answered 200 QUEUED was received, unless a GET that
 *     was never answered took it (at most one per unanswered GET of its
 *     queue);
 *   - a PUT answered 503 NOT_LEADER did nothing: its message never shows;
 *   - no message received by GET or answered 200 ACKED comes back, and a
 *     message received twice was RESERVEd before (the leader changed
 *     and its reservation came back);
 *   - a message keeps its id and body, ids are unique, each producer's
 *     ids rise, and an id given after a leader change is larger than
 *     every id seen before it.
 * The clients talk to the leader only.  When a connection ends (the
 * leader died, or lost leadership and closed it) or an answer is 503
 * NOT_LEADER, the answers that arrived count, the connections are
 * dropped, and the clients find the leader again.
 *
 * The seed of each run is printed; CLUSTER_SEED=<n> repeats one and
 * CLUSTER_SEEDS=<k> runs k of them (3 by default).  The tests that need
 * a daemon with replication say "skipped" and pass when $SLUICED does
 * not take a "cluster" config; the proxy's own test always runs.
 */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "faultproxy.h"
#include "harness.h"
#include "harness_cluster.h"
#include "harness_dir.h"
#include "testcase.h"

static void
setup(void)
{
}

static void
teardown(void)
{
}

/* Say why a test does nothing, and let it pass. */
#define SKIP_UNLESS_CLUSTER()                            \
	do {                                             \
		if (!cluster_supported()) {              \
			fprintf(stderr,                  \
			    "skipped: sluiced takes no " \
			    "\"cluster\" config\n");     \
			return;                          \
		}                                        \
	} while (0)

/* Start c and wait for its leader; NULL (skipped) without replication. */
static int
start_and_elect(struct cluster *c)
{
	int leader;

	cluster_start(c);
	leader = cluster_await_leader(c, 0);
	if (leader == -2)
		fprintf(stderr,
		    "skipped: sluiced takes a \"cluster\" config "
		    "but its STATS has no \"role\"\n");
	return leader;
}

/* ---- the proxy on its own (no daemon) ---- */

static int
listen_on(const char *host, int *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof sin;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(inet_pton(AF_INET, host, &sin.sin_addr), 1);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	ck_assert_int_eq(listen(fd, 16), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

static int
dial(const char *addr)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct timeval tv = { 10, 0 };
	char host[64];
	const char *colon = strrchr(addr, ':');
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_ptr_nonnull(colon);
	snprintf(host, sizeof host, "%.*s", (int)(colon - addr), addr);
	sin.sin_port = htons((uint16_t)atoi(colon + 1));
	ck_assert_int_eq(inet_pton(AF_INET, host, &sin.sin_addr), 1);
	ck_assert_int_ge(fd, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	return fd;
}

/* libraft 0.15's handshake for server id from address addr. */
static size_t
handshake(unsigned char *out, uint64_t id, const char *addr)
{
	size_t alen = (strlen(addr) + 1 + 7) / 8 * 8;
	uint64_t v[3] = { 1, id, alen };

	for (int k = 0; k < 3; k++)
		for (int b = 0; b < 8; b++)
			out[8 * k + b] = (unsigned char)(v[k] >> (8 * b));
	memset(out + 24, 0, alen);
	memcpy(out + 24, addr, strlen(addr));
	return 24 + alen;
}

static void
send_all(int fd, const void *p, size_t n)
{
	ck_assert_int_eq(send(fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

static void
recv_exactly(int fd, void *out, size_t n)
{
	char *p = out;

	while (n > 0) {
		ssize_t r = recv(fd, p, n, 0);
		ck_assert_msg(r > 0, "recv: %s", r ? strerror(errno) : "EOF");
		p += r;
		n -= (size_t)r;
	}
}

/* The next thing fd reads is the end: EOF or a reset. */
static void
expect_end(int fd)
{
	char b;
	ssize_t r = recv(fd, &b, 1, 0);

	ck_assert_msg(r == 0 || (r < 0 && errno == ECONNRESET),
	    "wanted EOF or a reset, got %zd (%s)", r,
	    r < 0 ? strerror(errno) : "a byte");
}

/*
 * Open a connection as server `from` to proxy listener 0 and send the
 * handshake and a word; returns it.
 */
static int
raft_dial(struct faultproxy *fp, uint64_t from, const char *word)
{
	unsigned char hs[128];
	size_t n = handshake(hs, from, "127.0.0.1:9");
	int fd = dial(faultproxy_addr(fp, 0));

	send_all(fd, hs, n);
	send_all(fd, word, strlen(word));
	return fd;
}

/* Accept on the fake node; assert the handshake of `from` and word. */
static int
raft_accept(int lfd, uint64_t from, const char *word)
{
	unsigned char want[128], got[128];
	size_t n = handshake(want, from, "127.0.0.1:9");
	struct timeval tv = { 10, 0 };
	int fd = accept(lfd, NULL, NULL);

	ck_assert_int_ge(fd, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	memcpy(want + n, word, strlen(word));
	recv_exactly(fd, got, n + strlen(word));
	ck_assert(memcmp(got, want, n + strlen(word)) == 0);
	return fd;
}

#define COUNT(f) offsetof(struct faultproxy_counts, f)

START_TEST(test_proxy_forwards_holds_and_cuts_by_sender)
{
	struct faultproxy *fp = faultproxy_start("127.0.0.1", 2);
	int port, lfd = listen_on("127.0.0.1", &port);
	int a, a_in, b, c, c_in, d, d_in;
	char buf[8];

	/* Node 0 is server 1 (the fake one here); node 1 is server 2. */
	faultproxy_target(fp, 0, 1, "127.0.0.1", port);
	faultproxy_target(fp, 1, 2, "127.0.0.1", 1);

	/* Forwarded verbatim, both ways. */
	a = raft_dial(fp, 2, "hello");
	a_in = raft_accept(lfd, 2, "hello");
	send_all(a_in, "back", 4);
	recv_exactly(a, buf, 4);
	ck_assert(memcmp(buf, "back", 4) == 0);

	/* Blocking 2 -> 1 cuts the connection at both ends. */
	faultproxy_isolate(fp, 2);
	expect_end(a_in);
	expect_end(a);
	ck_assert_uint_eq(faultproxy_counts(fp).cut, 1);

	/* A new one from 2 is accepted but held: node 1 never sees it. */
	b = raft_dial(fp, 2, "lost");
	ck_assert(faultproxy_await(fp, COUNT(held), 1, 5000));
	/* Server 3 is not blocked: the next one node 1 accepts is its. */
	c = raft_dial(fp, 3, "third");
	c_in = raft_accept(lfd, 3, "third");

	/* Healing cuts the held connection; a new one goes through. */
	faultproxy_heal(fp);
	expect_end(b);
	d = raft_dial(fp, 2, "again");
	d_in = raft_accept(lfd, 2, "again");
	send_all(d, "more", 4);
	recv_exactly(d_in, buf, 4);
	ck_assert(memcmp(buf, "more", 4) == 0);

	/* One direction only: 3 -> 1 blocked leaves 2 -> 1 alone. */
	faultproxy_block(fp, 3, 1, true);
	expect_end(c_in);
	send_all(d, "still", 5);
	recv_exactly(d_in, buf, 5);
	ck_assert(memcmp(buf, "still", 5) == 0);

	/* A sender's close reaches the node after its bytes. */
	close(d);
	expect_end(d_in);
	ck_assert(faultproxy_await(fp, COUNT(open), 0, 0) ||
	    faultproxy_counts(fp).open <= 1);
	ck_assert_uint_eq(faultproxy_counts(fp).forwarded, 3);
	ck_assert_uint_eq(faultproxy_counts(fp).held, 1);

	close(a);
	close(a_in);
	close(b);
	close(c);
	close(c_in);
	close(d_in);
	close(lfd);
	faultproxy_stop(fp);
}
END_TEST

/*
 * Wait until t holds a whole line (true) or its connection ends
 * (false, a reset included); fails the test when nothing comes within
 * the harness's 10 s: a request held forever.
 */
static bool
tc_readable_line(struct tconn *t)
{
	while (memchr(t->buf, '\n', t->len) == NULL) {
		ssize_t n =
		    recv(t->fd, t->buf + t->len, sizeof t->buf - t->len, 0);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return false;
		ck_assert_msg(n > 0, "no answer: %s", strerror(errno));
		t->len += (size_t)n;
	}
	return true;
}

/* ---- roles and the NOT_LEADER answer ---- */

START_TEST(test_one_leader_and_followers_point_at_it)
{
	struct cluster *c;
	struct tconn *t;
	char hint[128], line[256];
	int leader;
	json_t *j;

	SKIP_UNLESS_CLUSTER();
	c = cluster_new(3, false, NULL);
	if ((leader = start_and_elect(c)) < 0)
		goto out;
	snprintf(hint, sizeof hint, "503 NOT_LEADER leader=%s",
	    c->node[leader].client);

	/* The leader's STATS names itself. */
	ck_assert_ptr_nonnull(j = cluster_stats(c, leader));
	ck_assert_str_eq(stats_str(j, "role"), "leader");
	ck_assert_str_eq(stats_str(j, "leader"), c->node[leader].client);
	json_decref(j);

	/* Through the leader: PUT, GET, RESERVE, ACK, NACK. */
	t = cluster_tc_open(c, leader);
	unsigned long long id1 = tc_put(t, "jobs", "one");
	unsigned long long id2 = tc_put(t, "jobs", "two");
	unsigned long long id3 = tc_put(t, "jobs", "three");
	ck_assert(id1 < id2 && id2 < id3);
	tc_send(t, "GET jobs\r\n");
	ck_assert_uint_eq(tc_expect_msg(t, "one"), id1);
	ck_assert_uint_eq(tc_reserve(t, "jobs", "two"), id2);
	tc_nack(t, id2);
	ck_assert_uint_eq(tc_reserve(t, "jobs", "two"), id2);
	tc_ack(t, id2);
	tc_put(t, "other", "x");
	/* A reservation whose connection closes comes back. */
	struct tconn *r = cluster_tc_open(c, leader);
	ck_assert_uint_eq(tc_reserve(r, "jobs", "three"), id3);
	tc_await_stat(t, "jobs", "reserved", 1);
	tc_close(r);
	tc_await_stat(t, "jobs", "reserved", 0);
	tc_await_stat(t, "jobs", "depth", 1);

	for (int i = 0; i < 3; i++) {
		struct tconn *f;
		static const char *const reqs[] = { "GET jobs", "RESERVE jobs",
			"ACK 1", "NACK 1", "CREATE fresh", "PURGE jobs",
			"CLOSE jobs", "DELETE jobs", "GET nowhere" };
		if (i == leader)
			continue;
		/* Every member serves STATS, with its role and leader. */
		ck_assert_ptr_nonnull(j = cluster_stats(c, i));
		ck_assert_str_eq(stats_str(j, "role"), "follower");
		ck_assert_str_eq(stats_str(j, "leader"),
		    c->node[leader].client);
		json_decref(j);
		/* A queue request did nothing and names the leader. */
		f = cluster_tc_open(c, i);
		tc_send_put(f, "jobs", "not here");
		tc_expect(f, hint);
		for (size_t k = 0; k < sizeof reqs / sizeof *reqs; k++)
			tc_request(f, reqs[k], hint);
		/* The PUT's body was read and skipped: PING frames. */
		tc_sync(f);
		/* The follower holds the replicated queue. */
		cluster_await_queue(c, i, "jobs", "depth", 1);
		cluster_await_queue(c, i, "other", "depth", 1);
		tc_close(f);
	}
	/* Nothing the followers were asked happened. */
	ck_assert_int_eq(tc_stat(t, "jobs", "depth"), 1);
	ck_assert_uint_eq(tc_reserve(t, "jobs", "three"), id3);
	tc_ack(t, id3);
	tc_request(t, "GET jobs 0", "204 EMPTY");
	tc_send(t, "STATS fresh\r\n");
	tc_expect(t, "404 NO_QUEUE fresh");
	tc_close(t);

	/* CLUSTER STATUS, from every member. */
	for (int i = 0; i < 3; i++) {
		json_t *m;
		size_t k;
		ck_assert_ptr_nonnull(j = cluster_json(c, i, "CLUSTER STATUS"));
		ck_assert_int_eq(json_integer_value(json_object_get(j, "id")),
		    i + 1);
		ck_assert_str_eq(stats_str(j, "role"),
		    i == leader ? "leader" : "follower");
		ck_assert_str_eq(stats_str(j, "leader"),
		    c->node[leader].client);
		ck_assert_int_ge(stats_int(j, "term"), 1);
		ck_assert_int_ge(stats_int(j, "applied"), 1);
		m = json_object_get(j, "members");
		ck_assert_uint_eq(json_array_size(m), 3);
		for (k = 0; k < json_array_size(m); k++) {
			json_t *e = json_array_get(m, k);
			uint64_t id = (uint64_t)json_integer_value(
			    json_object_get(e, "id"));
			ck_assert(id >= 1 && id <= 3);
			ck_assert_str_eq(stats_str(e, "client"),
			    c->node[id - 1].client);
			ck_assert_str_eq(stats_str(e, "role"), "voter");
		}
		json_decref(j);
	}
	/* PING is every member's. */
	for (int i = 0; i < 3; i++) {
		ck_assert(cluster_request(c, i, "PING", line, sizeof line));
		ck_assert_str_eq(line, "200 PONG");
	}
out:
	cluster_free(c);
}
END_TEST

START_TEST(test_cluster_commands_refuse_what_they_cannot_do)
{
	struct cluster *c;
	char line[256], req[256], hint[128];
	int leader, f;

	SKIP_UNLESS_CLUSTER();
	c = cluster_new(3, false, NULL);
	if ((leader = start_and_elect(c)) < 0)
		goto out;
	f = (leader + 1) % 3;
	snprintf(hint, sizeof hint, "503 NOT_LEADER leader=%s",
	    c->node[leader].client);
	/* Only the leader changes the membership. */
	snprintf(req, sizeof req, "CLUSTER ADD 9 %s:1 %s:2", c->host, c->host);
	ck_assert(cluster_request(c, f, req, line, sizeof line));
	ck_assert_str_eq(line, hint);
	ck_assert(cluster_request(c, f, "CLUSTER REMOVE 1", line, sizeof line));
	ck_assert_str_eq(line, hint);
	/* An id that is a member already. */
	snprintf(req, sizeof req, "CLUSTER ADD %d %s:1 %s:2", f + 1, c->host,
	    c->host);
	ck_assert(cluster_request(c, leader, req, line, sizeof line));
	ck_assert_msg(strncmp(line, "409 CONFLICT", 12) == 0, "%s", line);
	/* No such member. */
	ck_assert(
	    cluster_request(c, leader, "CLUSTER REMOVE 7", line, sizeof line));
	ck_assert_str_eq(line, "404 NO_MEMBER 7");
	/* Bad ids and addresses. */
	static const char *const bad[] = {
		"CLUSTER ADD 0 127.0.0.1:1 127.0.0.1:2",
		"CLUSTER ADD x 127.0.0.1:1 127.0.0.1:2",
		"CLUSTER ADD 9 localhost:1 127.0.0.1:2",
		"CLUSTER ADD 9 127.0.0.1 127.0.0.1:2",
		"CLUSTER ADD 9 127.0.0.1:1",
		"CLUSTER REMOVE",
		"CLUSTER REMOVE -1",
	};
	for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
		ck_assert(
		    cluster_request(c, leader, bad[k], line, sizeof line));
		ck_assert_msg(strncmp(line, "400 BAD_REQUEST ", 16) == 0,
		    "%s: %s", bad[k], line);
	}
	/* Nothing changed. */
	json_t *j = cluster_json(c, leader, "CLUSTER STATUS");
	ck_assert_ptr_nonnull(j);
	ck_assert_uint_eq(json_array_size(json_object_get(j, "members")), 3);
	json_decref(j);
out:
	cluster_free(c);
}
END_TEST

/* ---- the load and its bookkeeping (after check_crash) ---- */

#define NPROD 2
#define MAXSEQ 3000
#define NQUEUES 2
#define NCLIENT 4 /* producers 0, 1; getter 2; reserver 3 */

static const char *const qnames[NQUEUES] = { "a", "b" };
#define QUEUES_JSON                                              \
	"\"queues\": [{\"name\": \"a\", \"capacity\": 100000}, " \
	"{\"name\": \"b\", \"capacity\": 100000}]"

struct rec {
	int queue;
	bool sent;
	bool queued;  /* 200 QUEUED */
	bool refused; /* 503 NOT_LEADER: did nothing */
	uint64_t id;  /* 0 until known */
	bool got;     /* received by GET */
	bool acked;   /* 200 ACKED */
	bool reserved;
	int received;
};

enum kind { K_PUT, K_GET, K_RESERVE, K_ACK, K_NACK };

struct pending {
	enum kind kind;
	int p, s;
	uint64_t id;
	int queue;
};

struct client {
	int fd;
	char buf[1 << 16];
	size_t len;
	struct pending pend[512];
	size_t npend;
};

struct load {
	unsigned seed, seed0;
	struct cluster *c;
	int leader; /* the node the clients talk to */
	struct rec recs[NPROD][MAXSEQ];
	int nseq[NPROD];
	uint64_t max_seen, max_before, last_id[NPROD];
	int lost_gets[NQUEUES];
	uint64_t outstanding[64];
	int nout;
	int changes;     /* leader changes the clients went through */
	bool moved;      /* an answer said the leader is elsewhere */
	bool last_empty; /* the last GET or RESERVE answered 204 EMPTY */
	struct client cl[NCLIENT];
};

static unsigned
rnd(struct load *l)
{
	return (unsigned)rand_r(&l->seed);
}

static unsigned
seed_for(int i)
{
	const char *env = getenv("CLUSTER_SEED");

	if (env != NULL)
		return (unsigned)strtoul(env, NULL, 10) + (unsigned)i;
	return (unsigned)time(NULL) ^ ((unsigned)getpid() << 8) ^
	    (unsigned)(i * 7919);
}

static int
seeds(void)
{
	const char *env = getenv("CLUSTER_SEEDS");
	int n = env ? atoi(env) : 3;

	return n > 0 ? n : 3;
}

static void
c_open(struct load *l, struct client *cl)
{
	struct tconn *t = cluster_tc_open(l->c, l->leader);

	cl->fd = dup(t->fd);
	tc_close(t);
	cl->len = 0;
	cl->npend = 0;
}

static void
c_send(struct client *cl, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = send(cl->fd, data, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* gone: the answers will say */
		data += n;
		len -= (size_t)n;
	}
}

static bool
c_fill(struct client *cl)
{
	ssize_t n;

	if (cl->len == sizeof cl->buf)
		return false;
	do
		n = recv(cl->fd, cl->buf + cl->len, sizeof cl->buf - cl->len,
		    0);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return false;
	cl->len += (size_t)n;
	return true;
}

static void
c_consume(struct client *cl, size_t n)
{
	memmove(cl->buf, cl->buf + n, cl->len - n);
	cl->len -= n;
}

static void
queue_request(struct client *cl, struct pending pd)
{
	ck_assert_uint_lt(cl->npend, sizeof cl->pend / sizeof *cl->pend);
	cl->pend[cl->npend++] = pd;
}

static void
send_put(struct load *l, int p)
{
	int s = l->nseq[p]++;
	struct rec *m = &l->recs[p][s];
	char body[32], req[96];
	int n, blen;

	ck_assert_int_lt(s, MAXSEQ);
	m->queue = (int)(rnd(l) % NQUEUES);
	m->sent = true;
	blen = snprintf(body, sizeof body, "m%d-%d", p, s);
	n = snprintf(req, sizeof req, "PUT %s %d\r\n%s\r\n", qnames[m->queue],
	    blen, body);
	c_send(&l->cl[p], req, (size_t)n);
	queue_request(&l->cl[p], (struct pending){ K_PUT, p, s, 0, m->queue });
}

static void
send_take(struct load *l, int who, bool reserve)
{
	int q = (int)(rnd(l) % NQUEUES);
	char req[64];
	int n = snprintf(req, sizeof req, "%s %s\r\n",
	    reserve ? "RESERVE" : "GET", qnames[q]);

	c_send(&l->cl[who], req, (size_t)n);
	queue_request(&l->cl[who],
	    (struct pending){ reserve ? K_RESERVE : K_GET, 0, 0, 0, q });
}

static void
send_ack(struct load *l, bool nack)
{
	int i = (int)(rnd(l) % (unsigned)l->nout);
	uint64_t id = l->outstanding[i];
	char req[64];
	int n = nack ? snprintf(req, sizeof req, "NACK %" PRIu64 " %u\r\n", id,
	                   rnd(l) % 30)
	             : snprintf(req, sizeof req, "ACK %" PRIu64 "\r\n", id);

	l->outstanding[i] = l->outstanding[--l->nout];
	c_send(&l->cl[3], req, (size_t)n);
	queue_request(&l->cl[3],
	    (struct pending){ nack ? K_NACK : K_ACK, 0, 0, id, 0 });
}

static struct rec *
rec_of_body(struct load *l, const char *body, size_t len)
{
	char copy[32];
	int p, s;

	snprintf(copy, sizeof copy, "%.*s", (int)len, body);
	ck_assert_msg(sscanf(copy, "m%d-%d", &p, &s) == 2 && p >= 0 &&
	        p < NPROD && s >= 0 && s < l->nseq[p],
	    "seed %u: unknown body %s", l->seed0, copy);
	return &l->recs[p][s];
}

static void
received(struct load *l, uint64_t id, const char *body, size_t len, bool by_get)
{
	struct rec *m = rec_of_body(l, body, len);

	ck_assert_msg(m->id == 0 || m->id == id,
	    "seed %u: %.*s came back as %" PRIu64 ", was %" PRIu64, l->seed0,
	    (int)len, body, id, m->id);
	ck_assert_msg(!m->refused,
	    "seed %u: %.*s was refused (NOT_LEADER) but is there", l->seed0,
	    (int)len, body);
	ck_assert_msg(!m->got, "seed %u: %.*s taken by GET came back", l->seed0,
	    (int)len, body);
	ck_assert_msg(!m->acked, "seed %u: %.*s ACKed came back", l->seed0,
	    (int)len, body);
	m->id = id;
	if (id > l->max_seen)
		l->max_seen = id;
	m->received++;
	if (by_get) {
		m->got = true;
	} else {
		m->reserved = true;
		if (l->nout <
		    (int)(sizeof l->outstanding / sizeof *l->outstanding))
			l->outstanding[l->nout++] = id;
	}
}

/*
 * Parse one answer for the oldest pending request of cl; false when the
 * buffer does not hold a whole one.
 */
static bool
parse_one(struct load *l, struct client *cl)
{
	struct pending *pd = &cl->pend[0];
	char *eol = memchr(cl->buf, '\n', cl->len);
	char line[256];
	size_t used, blen;
	uint64_t id;

	if (cl->npend == 0 || eol == NULL)
		return false;
	used = (size_t)(eol - cl->buf) + 1;
	snprintf(line, sizeof line, "%.*s", (int)(used - 2), cl->buf);
	if (strncmp(line, "503 NOT_LEADER", 14) == 0) {
		/* It did nothing (a GET took nothing); the leader moved. */
		if (pd->kind == K_PUT)
			l->recs[pd->p][pd->s].refused = true;
		l->moved = true;
		goto done;
	}
	switch (pd->kind) {
	case K_PUT: {
		struct rec *m = &l->recs[pd->p][pd->s];
		ck_assert_msg(sscanf(line, "200 QUEUED %" SCNu64, &id) == 1,
		    "seed %u: PUT answered \"%s\"", l->seed0, line);
		ck_assert_msg(m->id == 0 || m->id == id,
		    "seed %u: QUEUED %" PRIu64
		    " for a message seen as %" PRIu64,
		    l->seed0, id, m->id);
		ck_assert_msg(id > l->max_before,
		    "seed %u: id %" PRIu64 " after a leader change, %" PRIu64
		    " seen before",
		    l->seed0, id, l->max_before);
		ck_assert_msg(id > l->last_id[pd->p],
		    "seed %u: ids not rising: %" PRIu64 " after %" PRIu64,
		    l->seed0, id, l->last_id[pd->p]);
		l->last_id[pd->p] = id;
		m->id = id;
		m->queued = true;
		if (id > l->max_seen)
			l->max_seen = id;
		break;
	}
	case K_GET:
	case K_RESERVE:
		l->last_empty = strcmp(line, "204 EMPTY") == 0;
		if (l->last_empty)
			break;
		ck_assert_msg(sscanf(line, "200 MSG %" SCNu64 " %zu", &id,
		                  &blen) == 2,
		    "seed %u: %s answered \"%s\"", l->seed0,
		    pd->kind == K_GET ? "GET" : "RESERVE", line);
		if (cl->len < used + blen + 2)
			return false;
		received(l, id, cl->buf + used, blen, pd->kind == K_GET);
		used += blen + 2;
		break;
	case K_NACK:
		ck_assert_msg(strncmp(line, "200 REQUEUED", 12) == 0 ||
		        strncmp(line, "404 NO_MSG", 10) == 0,
		    "seed %u: NACK answered \"%s\"", l->seed0, line);
		break;
	case K_ACK:
		if (strcmp(line, "200 ACKED") == 0) {
			for (int p = 0; p < NPROD; p++)
				for (int s = 0; s < l->nseq[p]; s++)
					if (l->recs[p][s].id == pd->id)
						l->recs[p][s].acked = true;
		} else {
			ck_assert_msg(strncmp(line, "404 NO_MSG", 10) == 0,
			    "seed %u: ACK answered \"%s\"", l->seed0, line);
		}
		break;
	}
done:
	c_consume(cl, used);
	memmove(cl->pend, cl->pend + 1, (cl->npend - 1) * sizeof *cl->pend);
	cl->npend--;
	return true;
}

/* The connection ended: take the answers that made it, then close. */
static void
c_salvage(struct load *l, struct client *cl)
{
	if (cl->fd < 0)
		return;
	for (;;) {
		while (parse_one(l, cl))
			;
		if (cl->npend == 0 || !c_fill(cl))
			break;
	}
	for (size_t i = 0; i < cl->npend; i++)
		if (cl->pend[i].kind == K_GET)
			l->lost_gets[cl->pend[i].queue]++;
	cl->npend = 0;
	close(cl->fd);
	cl->fd = -1;
}

static void
connect_all(struct load *l)
{
	for (int i = 0; i < NCLIENT; i++)
		c_open(l, &l->cl[i]);
	l->nout = 0; /* the reservations went with the old connections */
	l->moved = false;
}

/*
 * The leader is gone or elsewhere: close every connection (shutting
 * down our side first, so a live server answers what it holds and
 * closes), count what arrived, find the leader, connect again.
 */
static void
follow_leader(struct load *l)
{
	for (int i = 0; i < NCLIENT; i++)
		if (l->cl[i].fd >= 0)
			shutdown(l->cl[i].fd, SHUT_WR);
	for (int i = 0; i < NCLIENT; i++)
		c_salvage(l, &l->cl[i]);
	l->max_before = l->max_seen;
	l->leader = cluster_await_leader(l->c, 0);
	ck_assert_int_ge(l->leader, 0);
	l->changes++;
	connect_all(l);
}

/* Read every answer cl is owed; false if its connection ended. */
static bool
c_settle(struct load *l, struct client *cl)
{
	while (cl->npend > 0)
		if (!parse_one(l, cl) && !c_fill(cl))
			return false;
	return true;
}

/* One random request from one random client; answered, if `wait`. */
static void
step(struct load *l, bool wait)
{
	unsigned pick = rnd(l) % 10;
	int who;

	if (pick < 5) {
		who = (int)(pick % NPROD);
		send_put(l, who);
	} else if (pick < 7) {
		who = 2;
		send_take(l, who, false);
	} else if (pick < 9 || l->nout == 0) {
		who = 3;
		if (l->nout >= 32)
			send_ack(l, false);
		else
			send_take(l, who, true);
	} else {
		who = 3;
		send_ack(l, rnd(l) % 4 == 0);
	}
	if (wait && (!c_settle(l, &l->cl[who]) || l->moved))
		follow_leader(l);
}

static struct load *
load_new(struct cluster *c, int leader, int i)
{
	struct load *l = calloc(1, sizeof *l);

	ck_assert_ptr_nonnull(l);
	l->seed = l->seed0 = seed_for(i);
	l->c = c;
	l->leader = leader;
	fprintf(stderr, "cluster: seed %u (CLUSTER_SEED=%u repeats it)\n",
	    l->seed, l->seed);
	for (int k = 0; k < NCLIENT; k++)
		l->cl[k].fd = -1;
	connect_all(l);
	return l;
}

static void
load_free(struct load *l)
{
	for (int i = 0; i < NCLIENT; i++)
		if (l->cl[i].fd >= 0)
			close(l->cl[i].fd);
	free(l);
}

/* n requests, each answered before the next. */
static void
work(struct load *l, int n)
{
	for (int k = 0; k < n; k++)
		step(l, true);
}

/*
 * Take every message left, through the leader: first the reservations
 * come back (the reserver leaves), then GET until empty; every member
 * ends with the queues empty.
 */
static void
drain_all(struct load *l)
{
	struct client *cl = &l->cl[2];

	for (;;) {
		bool again = false;
		for (int i = 0; i < NCLIENT; i++)
			if (!c_settle(l, &l->cl[i]) || l->moved)
				again = true;
		if (again) {
			follow_leader(l);
			continue;
		}
		/* The reserver leaves: its messages come back. */
		c_salvage(l, &l->cl[3]);
		for (int q = 0; q < NQUEUES; q++) {
			cluster_await_queue(l->c, l->leader, qnames[q],
			    "reserved", 0);
			cluster_await_queue(l->c, l->leader, qnames[q],
			    "delayed", 0);
		}
		for (int q = 0; q < NQUEUES && !again; q++) {
			for (;;) {
				char req[32];
				int n = snprintf(req, sizeof req, "GET %s\r\n",
				    qnames[q]);
				bool empty;
				c_send(cl, req, (size_t)n);
				queue_request(cl,
				    (struct pending){ K_GET, 0, 0, 0, q });
				if (!c_settle(l, cl) || l->moved) {
					again = true;
					break;
				}
				empty = l->last_empty;
				if (empty)
					break;
			}
		}
		if (again) {
			follow_leader(l);
			continue;
		}
		break;
	}
	for (int i = 0; i < l->c->n; i++)
		if (l->c->node[i].up)
			for (int q = 0; q < NQUEUES; q++)
				cluster_await_queue(l->c, i, qnames[q], "depth",
				    0);
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void
check_complete(struct load *l, const char *what)
{
	int missing[NQUEUES] = { 0 }, queued = 0, dup = 0, refused = 0;
	uint64_t *ids = calloc(NPROD * MAXSEQ, sizeof *ids);
	size_t nids = 0;

	for (int p = 0; p < NPROD; p++) {
		for (int s = 0; s < l->nseq[p]; s++) {
			struct rec *m = &l->recs[p][s];
			ck_assert_msg(m->received <= 1 || m->reserved,
			    "seed %u: %s received twice, never reserved",
			    l->seed0, what);
			dup += m->received > 1;
			refused += m->refused;
			if (m->id != 0)
				ids[nids++] = m->id;
			if (!m->queued)
				continue;
			queued++;
			if (m->received == 0)
				missing[m->queue]++;
		}
	}
	qsort(ids, nids, sizeof *ids, cmp_u64);
	for (size_t i = 1; i < nids; i++)
		ck_assert_msg(ids[i] != ids[i - 1],
		    "seed %u: id %" PRIu64 " given to two messages", l->seed0,
		    ids[i]);
	free(ids);
	for (int q = 0; q < NQUEUES; q++)
		ck_assert_msg(missing[q] <= l->lost_gets[q],
		    "seed %u, %s: %d acknowledged messages of %s lost "
		    "(%d GETs unanswered)",
		    l->seed0, what, missing[q], qnames[q], l->lost_gets[q]);
	fprintf(stderr,
	    "cluster: seed %u, %s: %d messages queued, %d refused "
	    "(NOT_LEADER), %d received again after a reservation, %d "
	    "leader changes\n",
	    l->seed0, what, queued, refused, dup, l->changes);
}

/* ---- failover ---- */

#define FAILOVERS 3

START_TEST(test_failover_under_load_keeps_every_promise)
{
	struct cluster *c;
	struct load *l;
	int leader;

	SKIP_UNLESS_CLUSTER();
	c = cluster_new(3, false, QUEUES_JSON);
	if ((leader = start_and_elect(c)) < 0)
		goto out;
	l = load_new(c, leader, _i);
	for (int round = 0; round < FAILOVERS; round++) {
		struct timespec pause;
		int victim;
		uint64_t t0;
		work(l, 20 + (int)(rnd(l) % 100));
		/* A burst in flight, and the leader dies at a random time. */
		for (int k = 0; k < 60; k++)
			step(l, false);
		pause.tv_sec = 0;
		pause.tv_nsec = (long)(rnd(l) % 20000) * 1000;
		nanosleep(&pause, NULL);
		victim = l->leader;
		t0 = harness_now_ms();
		cluster_kill(c, victim);
		follow_leader(l);
		ck_assert_int_ne(l->leader, victim);
		/* The first acknowledged PUT on the new leader. */
		do {
			send_put(l, 0);
			if (!c_settle(l, &l->cl[0]) || l->moved)
				follow_leader(l);
		} while (!l->recs[0][l->nseq[0] - 1].queued);
		fprintf(stderr,
		    "cluster: seed %u: n%d killed, n%d leads, first PUT "
		    "acknowledged after %llu ms\n",
		    l->seed0, victim + 1, l->leader + 1,
		    (unsigned long long)(harness_now_ms() - t0));
		cluster_start_node(c, victim);
	}
	work(l, 50);
	drain_all(l);
	check_complete(l, "failover");
	load_free(l);
out:
	cluster_free(c);
}
END_TEST

/* ---- partition ---- */

/* Body "<tag>-<n>" answered how: */
enum fate { F_UNKNOWN, F_QUEUED, F_REFUSED };

/*
 * Read the answer to PUT number k on t (k < nb: before[k], else
 * after[k - nb]); false when the connection ended first.  Only a PUT
 * sent before the cut may be acknowledged.
 */
static bool
read_fate(struct tconn *t, int k, enum fate *before, int nb, enum fate *after)
{
	enum fate *f = k < nb ? &before[k] : &after[k - nb];
	const char *line;

	if (!tc_readable_line(t))
		return false;
	line = tc_line(t);
	if (strncmp(line, "503 NOT_LEADER", 14) == 0) {
		*f = F_REFUSED;
		return true;
	}
	ck_assert_msg(k < nb, "the isolated leader acknowledged after-%d: %s",
	    k - nb, line);
	ck_assert_msg(strncmp(line, "200 QUEUED ", 11) == 0, "PUT answered %s",
	    line);
	*f = F_QUEUED;
	return true;
}

START_TEST(test_isolated_leader_acknowledges_nothing)
{
	enum { PRE = 5, BEFORE = 10, AFTER = 10, MAJ = 5 };
	enum fate before[BEFORE], after[AFTER];
	struct cluster *c;
	struct tconn *t;
	int leader, l2, l3, answered, got[BEFORE + AFTER + PRE + MAJ] = { 0 };
	unsigned seed = seed_for(100);
	char req[128];
	unsigned mask = 0;

	SKIP_UNLESS_CLUSTER();
	fprintf(stderr, "cluster: partition seed %u\n", seed);
	c = cluster_new(3, true, NULL);
	if ((leader = start_and_elect(c)) < 0)
		goto out;
	t = cluster_tc_open(c, leader);
	for (int k = 0; k < PRE; k++) {
		snprintf(req, sizeof req, "pre-%d", k);
		tc_put(t, "p", req);
	}
	tc_close(t);

	/*
	 * PUTs in flight on the leader when it is cut off (a seeded number
	 * of them answered before), and PUTs sent after.
	 */
	for (int k = 0; k < BEFORE; k++)
		before[k] = F_UNKNOWN;
	for (int k = 0; k < AFTER; k++)
		after[k] = F_UNKNOWN;
	t = cluster_tc_open(c, leader);
	answered = 0;
	for (int k = 0; k < BEFORE; k++) {
		snprintf(req, sizeof req, "before-%d", k);
		tc_send_put(t, "p", req);
		if (k != (int)(seed % (BEFORE / 2)))
			continue;
		while (answered <= k)
			ck_assert(
			    read_fate(t, answered++, before, BEFORE, after));
	}
	faultproxy_isolate(c->fp, c->node[leader].id);
	for (int k = 0; k < AFTER; k++) {
		snprintf(req, sizeof req, "after-%d", k);
		tc_send_put(t, "p", req);
	}

	/* The other two elect one of theirs, which acknowledges. */
	for (int i = 0; i < 3; i++)
		if (i != leader)
			mask |= 1u << i;
	l2 = cluster_await_leader(c, mask);
	ck_assert_int_ne(l2, leader);
	struct tconn *t2 = cluster_tc_open(c, l2);
	for (int k = 0; k < MAJ; k++) {
		snprintf(req, sizeof req, "maj-%d", k);
		tc_put(t2, "p", req);
	}
	tc_close(t2);

	/*
	 * The old leader answers what it held: nothing sent after the cut
	 * is acknowledged (503 NOT_LEADER, or the connection closes).
	 */
	while (answered < BEFORE + AFTER &&
	    read_fate(t, answered, before, BEFORE, after))
		answered++;
	tc_close(t);
	/* It knows it leads no more. */
	for (uint64_t t0 = harness_now_ms();;) {
		json_t *j = cluster_stats(c, leader);
		bool leads =
		    j == NULL || strcmp(stats_str(j, "role"), "leader") == 0;
		json_decref(j);
		if (!leads)
			break;
		ck_assert_msg(harness_now_ms() - t0 < CLUSTER_ELECT_WAIT_MS,
		    "the isolated leader still says it leads");
		nanosleep(&(struct timespec){ 0, 10000000 }, NULL);
	}

	/* Healed: one leader, one history on every member. */
	faultproxy_heal(c->fp);
	l3 = cluster_await_leader(c, 0);
	json_t *j = cluster_json(c, l3, "STATS p");
	ck_assert_ptr_nonnull(j);
	long long depth = stats_int(j, "depth");
	json_decref(j);
	for (int i = 0; i < 3; i++)
		cluster_await_queue(c, i, "p", "depth", depth);
	t = cluster_tc_open(c, l3);
	for (long long k = 0; k < depth; k++) {
		char line[256];
		size_t blen;
		unsigned long long id;
		int n;
		tc_send(t, "GET p 0\r\n");
		snprintf(line, sizeof line, "%s",
		    tc_expect_prefix(t, "200 MSG "));
		ck_assert(sscanf(line, "200 MSG %llu %zu", &id, &blen) == 2);
		ck_assert_uint_lt(blen, sizeof req);
		tc_read(t, req, blen + 2);
		req[blen] = '\0';
		if (sscanf(req, "pre-%d", &n) == 1)
			got[n]++;
		else if (sscanf(req, "maj-%d", &n) == 1)
			got[PRE + n]++;
		else if (sscanf(req, "before-%d", &n) == 1)
			got[PRE + MAJ + n]++;
		else if (sscanf(req, "after-%d", &n) == 1)
			got[PRE + MAJ + BEFORE + n]++;
		else
			ck_abort_msg("unknown body %s", req);
	}
	tc_request(t, "GET p 0", "204 EMPTY");
	tc_close(t);
	for (int k = 0; k < PRE + MAJ; k++)
		ck_assert_msg(got[k] == 1, "%s-%d: %d times",
		    k < PRE ? "pre" : "maj", k < PRE ? k : k - PRE, got[k]);
	for (int k = 0; k < BEFORE; k++) {
		int g = got[PRE + MAJ + k];
		ck_assert_msg(g <= 1, "before-%d twice", k);
		ck_assert_msg(before[k] != F_QUEUED || g == 1,
		    "before-%d acknowledged, lost", k);
		ck_assert_msg(before[k] != F_REFUSED || g == 0,
		    "before-%d refused, there", k);
	}
	for (int k = 0; k < AFTER; k++)
		ck_assert_msg(got[PRE + MAJ + BEFORE + k] == 0,
		    "after-%d, sent to the cut-off leader, is there", k);
	int fates[2][3] = { { 0 } }, kept = 0;
	for (int k = 0; k < BEFORE; k++) {
		fates[0][before[k]]++;
		kept += before[k] == F_UNKNOWN && got[PRE + MAJ + k];
	}
	for (int k = 0; k < AFTER; k++)
		fates[1][after[k]]++;
	fprintf(stderr,
	    "cluster: partition seed %u: before the cut %d queued, %d "
	    "refused, %d unanswered (%d of them kept); after it %d refused, "
	    "%d unanswered\n",
	    seed, fates[0][F_QUEUED], fates[0][F_REFUSED], fates[0][F_UNKNOWN],
	    kept, fates[1][F_REFUSED], fates[1][F_UNKNOWN]);
out:
	cluster_free(c);
}
END_TEST

/* ---- membership ---- */

/* How long a member added under load may take to become a voter. */
#define VOTER_WAIT_MS 20000

/*
 * Send req on admin (to the leader) and keep the load going until its
 * answer comes; returns it.
 */
static const char *
admin_under_load(struct load *l, struct tconn *admin, const char *req,
    int *steps)
{
	uint64_t t0 = harness_now_ms();

	tc_send(admin, "%s\r\n", req);
	for (;;) {
		struct pollfd p = { admin->fd, POLLIN, 0 };
		if (admin->len > 0 || poll(&p, 1, 0) == 1)
			return tc_line(admin);
		step(l, true);
		(*steps)++;
		ck_assert_msg(harness_now_ms() - t0 < 30000,
		    "%s: no answer in 30 s", req);
	}
}

START_TEST(test_membership_changes_under_load_lose_nothing)
{
	struct cluster *c;
	struct load *l;
	struct tconn *admin;
	char req[256];
	int leader, joiner, gone, steps = 0;
	json_t *j, *m, *e;
	size_t k;

	SKIP_UNLESS_CLUSTER();
	c = cluster_new(3, false, QUEUES_JSON);
	if ((leader = start_and_elect(c)) < 0)
		goto out;
	l = load_new(c, leader, 200 + _i);
	work(l, 50);

	/* A fourth server starts empty and waits to be added. */
	joiner = cluster_add_joiner(c);
	cluster_start_node(c, joiner);
	ck_assert(cluster_request(c, joiner, "GET a 0", req, sizeof req));
	ck_assert_msg(strncmp(req, "503 NOT_LEADER", 14) == 0, "%s", req);

	admin = cluster_tc_open(c, l->leader);
	snprintf(req, sizeof req, "CLUSTER ADD %llu %s %s",
	    (unsigned long long)c->node[joiner].id, c->node[joiner].raft,
	    c->node[joiner].client);
	ck_assert_str_eq(admin_under_load(l, admin, req, &steps), "200 ADDED");
	/*
	 * ADDED: accepted as a spare; it becomes a voter once it has
	 * caught up, which under load takes a while.  The load goes on.
	 */
	for (uint64_t t0 = harness_now_ms();;) {
		int voters = 0;
		ck_assert_ptr_nonnull(
		    j = cluster_json(c, l->leader, "CLUSTER STATUS"));
		m = json_object_get(j, "members");
		ck_assert_uint_eq(json_array_size(m), 4);
		for (k = 0; k < json_array_size(m); k++)
			voters +=
			    strcmp(stats_str(json_array_get(m, k), "role"),
			        "voter") == 0;
		json_decref(j);
		if (voters == 4)
			break;
		ck_assert_msg(harness_now_ms() - t0 < VOTER_WAIT_MS,
		    "n%d not a voter %d ms after ADDED", joiner + 1,
		    VOTER_WAIT_MS);
		step(l, true);
		steps++;
	}
	/* It follows, and holds what the others hold. */
	cluster_await_leader(c, 0);

	/* One of the original followers leaves. */
	gone = (l->leader + 1) % 3;
	snprintf(req, sizeof req, "CLUSTER REMOVE %llu",
	    (unsigned long long)c->node[gone].id);
	ck_assert_str_eq(admin_under_load(l, admin, req, &steps),
	    "200 REMOVED");
	tc_close(admin);
	ck_assert_ptr_nonnull(j = cluster_json(c, l->leader, "CLUSTER STATUS"));
	m = json_object_get(j, "members");
	ck_assert_uint_eq(json_array_size(m), 3);
	for (k = 0; k < json_array_size(m); k++) {
		e = json_array_get(m, k);
		ck_assert_uint_ne(json_integer_value(json_object_get(e, "id")),
		    c->node[gone].id);
	}
	json_decref(j);
	ck_assert_int_eq(cluster_stop(c, gone), 0);
	fprintf(stderr,
	    "cluster: n%d added, n%d removed, %d requests "
	    "meanwhile\n",
	    joiner + 1, gone + 1, steps);

	/*
	 * The new member is a voter: with the leader killed, the other
	 * original and it elect a leader (two of three).
	 */
	work(l, 30);
	int victim = l->leader;
	cluster_kill(c, victim);
	follow_leader(l);
	ck_assert_int_ne(l->leader, victim);
	ck_assert_int_ne(l->leader, gone);
	work(l, 30);
	cluster_start_node(c, victim);
	drain_all(l);
	check_complete(l, "membership");
	load_free(l);
out:
	cluster_free(c);
}
END_TEST

/* ---- what a new leader keeps of its predecessor's promises ---- */

/*
 * Send `req` (a GET or RESERVE) on t; the message's id and its body
 * into body, or 0 for 204 EMPTY.
 */
static unsigned long long
take(struct tconn *t, const char *req, char *body, size_t size)
{
	unsigned long long id;
	size_t len;
	const char *l;

	tc_send(t, "%s\r\n", req);
	l = tc_line(t);
	if (strcmp(l, "204 EMPTY") == 0)
		return 0;
	ck_assert_msg(sscanf(l, "200 MSG %llu %zu", &id, &len) == 2,
	    "%s answered \"%s\"", req, l);
	ck_assert_uint_lt(len + 2, size);
	tc_read(t, body, len + 2);
	body[len] = '\0';
	return id;
}

START_TEST(test_reserved_its_last_time_is_dead_lettered_after_failover)
{
	struct cluster *c;
	struct tconn *t, *w, *h;
	unsigned long long id_ready, id_handed, id_again, id;
	char body[64];
	int leader, next, dead = 0;

	SKIP_UNLESS_CLUSTER();
	c = cluster_new(3, false, NULL);
	if ((leader = start_and_elect(c)) < 0)
		goto out;
	t = cluster_tc_open(c, leader);
	tc_request(t, "CREATE q max_deliveries=1 dead_letter=q.dead",
	    "201 CREATED");
	tc_request(t, "CREATE r max_deliveries=2 dead_letter=r.dead",
	    "201 CREATED");
	/* Reserved its only allowed time by a RESERVE that finds it. */
	id_ready = tc_put(t, "q", "ready");
	w = cluster_tc_open(c, leader);
	ck_assert_uint_eq(tc_reserve(w, "q", "ready"), id_ready);
	/* ... and by a hand-off: the RESERVE waits, the PUT goes to it. */
	h = cluster_tc_open(c, leader);
	tc_send(h, "RESERVE q 10000\r\n");
	tc_await_stat(t, "q", "waiting_consumers", 1);
	id_handed = tc_put(t, "q", "handed");
	ck_assert_uint_eq(tc_expect_msg(h, "handed"), id_handed);
	/* Delivered once of twice allowed: it comes back ready. */
	id_again = tc_put(t, "r", "again");
	ck_assert_uint_eq(tc_reserve(w, "r", "again"), id_again);
	tc_close(t);

	/* The reservations' answers came: the leader dies with them. */
	cluster_kill(c, leader);
	next = cluster_await_leader(c, 0);
	ck_assert_int_ne(next, leader);
	tc_close(w);
	tc_close(h);
	/* Every member agrees: the new leader logged the moves. */
	for (int i = 0; i < 3; i++) {
		if (i == leader)
			continue;
		cluster_await_queue(c, i, "q.dead", "depth", 2);
		cluster_await_queue(c, i, "q", "depth", 0);
		cluster_await_queue(c, i, "r", "depth", 1);
	}
	t = cluster_tc_open(c, next);
	ck_assert_uint_eq(take(t, "GET q 0", body, sizeof body), 0);
	while ((id = take(t, "GET q.dead 0", body, sizeof body)) != 0) {
		/* Moved with their ids and bodies, in either order. */
		if (strcmp(body, "ready") == 0)
			ck_assert_uint_eq(id, id_ready);
		else if (strcmp(body, "handed") == 0)
			ck_assert_uint_eq(id, id_handed);
		else
			ck_abort_msg("q.dead holds %s", body);
		dead++;
	}
	ck_assert_int_eq(dead, 2);
	tc_send(t, "GET r 0\r\n");
	ck_assert_uint_eq(tc_expect_msg(t, "again"), id_again);
	tc_close(t);
out:
	cluster_free(c);
}
END_TEST

START_TEST(test_ids_rise_past_those_given_without_a_record)
{
	struct cluster *c;
	struct tconn *t, *g;
	unsigned long long id, max_id;
	char body[64];
	int leader, next;

	SKIP_UNLESS_CLUSTER();
	c = cluster_new(3, false, NULL);
	if ((leader = start_and_elect(c)) < 0)
		goto out;
	t = cluster_tc_open(c, leader);
	/* The last id with a record behind it. */
	max_id = tc_put(t, "q", "logged");
	tc_send(t, "GET q\r\n");
	ck_assert_uint_eq(tc_expect_msg(t, "logged"), max_id);
	/* A hand-off: the GET waits, the PUT's message goes to it. */
	g = cluster_tc_open(c, leader);
	tc_send(g, "GET q 5000\r\n");
	tc_await_stat(t, "q", "waiting_consumers", 1);
	id = tc_put(t, "q", "handed");
	ck_assert_uint_gt(id, max_id);
	ck_assert_uint_eq(tc_expect_msg(g, "handed"), id);
	max_id = id;
	/* A memory queue's messages live on the leader only. */
	tc_request(t, "CREATE m storage=memory", "201 CREATED");
	for (int k = 0; k < 5; k++) {
		id = tc_put(t, "m", "volatile");
		ck_assert_uint_gt(id, max_id);
		max_id = id;
	}
	tc_close(t);
	tc_close(g);

	cluster_kill(c, leader);
	next = cluster_await_leader(c, 0);
	ck_assert_int_ne(next, leader);
	t = cluster_tc_open(c, next);
	id = tc_put(t, "q", "after");
	ck_assert_msg(id > max_id,
	    "id %llu on the new leader, %llu given by the old one", id, max_id);
	/* The hand-off's message, answered, is not delivered again. */
	ck_assert_uint_eq(take(t, "GET q 0", body, sizeof body), id);
	ck_assert_str_eq(body, "after");
	ck_assert_uint_eq(take(t, "GET q 0", body, sizeof body), 0);
	tc_close(t);
out:
	cluster_free(c);
}
END_TEST

#define CFG_QUEUES "\"queues\": [{\"name\": \"cfg\", \"capacity\": 1000}]"
#define CFG_QUEUES_MORE                                          \
	"\"queues\": [{\"name\": \"cfg\", \"capacity\": 1000}, " \
	"{\"name\": \"extra\", \"capacity\": 5}]"

START_TEST(test_reload_on_a_follower_makes_and_loses_nothing)
{
	struct cluster *c;
	struct tconn *t;
	unsigned long long ids[30];
	char body[64], line[256];
	int leader, next;

	SKIP_UNLESS_CLUSTER();
	c = cluster_new(3, false, CFG_QUEUES);
	if ((leader = start_and_elect(c)) < 0)
		goto out;
	t = cluster_tc_open(c, leader);
	for (int k = 0; k < 20; k++) {
		snprintf(body, sizeof body, "c-%d", k);
		ids[k] = tc_put(t, "cfg", body);
	}
	tc_request(t, "CREATE made", "201 CREATED");
	tc_put(t, "made", "x");
	/*
	 * Both followers reload a file that lists one more queue: neither
	 * makes it (only a leader applies the file), and neither loses
	 * track of what is committed.
	 */
	for (int i = 0; i < 3; i++) {
		if (i == leader)
			continue;
		cluster_await_queue(c, i, "cfg", "depth", 20);
		cluster_write_settings(c, i, CFG_QUEUES_MORE);
		cluster_reload(c, i);
		ck_assert(
		    cluster_request(c, i, "STATS extra", line, sizeof line));
		ck_assert_str_eq(line, "404 NO_QUEUE extra");
	}
	tc_request(t, "STATS extra", "404 NO_QUEUE extra");
	for (int k = 20; k < 30; k++) {
		snprintf(body, sizeof body, "c-%d", k);
		ids[k] = tc_put(t, "cfg", body);
	}
	tc_close(t);

	/* Whichever follower leads now had reloaded. */
	cluster_kill(c, leader);
	next = cluster_await_leader(c, 0);
	ck_assert_int_ne(next, leader);
	for (int i = 0; i < 3; i++) {
		if (i == leader)
			continue;
		cluster_await_queue(c, i, "cfg", "depth", 30);
		/* Its file's queues apply now that it leads. */
		cluster_await_queue(c, i, "extra", "capacity", 5);
	}
	t = cluster_tc_open(c, next);
	for (int k = 0; k < 30; k++) {
		snprintf(body, sizeof body, "c-%d", k);
		tc_send(t, "GET cfg 0\r\n");
		ck_assert_uint_eq(tc_expect_msg(t, body), ids[k]);
	}
	tc_request(t, "GET cfg 0", "204 EMPTY");
	tc_send(t, "GET made 0\r\n");
	tc_expect_msg(t, "x");
	tc_close(t);
out:
	cluster_free(c);
}
END_TEST

/* ---- the whole group restarts ---- */

START_TEST(test_group_restart_keeps_queues_and_messages)
{
	struct cluster *c;
	struct tconn *t;
	unsigned long long ids[40], max_id = 0, id;
	char body[32];
	int leader;

	SKIP_UNLESS_CLUSTER();
	c = cluster_new(3, false, NULL);
	if ((leader = start_and_elect(c)) < 0)
		goto out;
	t = cluster_tc_open(c, leader);
	tc_request(t, "CREATE made capacity=7 policy=reject", "201 CREATED");
	for (int k = 0; k < 40; k++) {
		snprintf(body, sizeof body, "r-%d", k);
		ids[k] = tc_put(t, k % 2 ? "odd" : "even", body);
		if (ids[k] > max_id)
			max_id = ids[k];
	}
	/* even: r-0 taken by GET; odd: r-1 reserved and ACKed. */
	tc_send(t, "GET even\r\n");
	ck_assert_uint_eq(tc_expect_msg(t, "r-0"), ids[0]);
	ck_assert_uint_eq(tc_reserve(t, "odd", "r-1"), ids[1]);
	tc_ack(t, ids[1]);
	/* A reservation held at the stop comes back. */
	ck_assert_uint_eq(tc_reserve(t, "odd", "r-3"), ids[3]);
	for (int i = 0; i < 3; i++)
		cluster_await_queue(c, i, "even", "depth", 19);
	tc_close(t);

	/* _i 0: SIGTERM every member; _i 1: kill -9 every member. */
	for (int i = 0; i < 3; i++) {
		if (_i == 0)
			ck_assert_int_eq(cluster_stop(c, i), 0);
		else
			cluster_kill(c, i);
	}
	cluster_start(c);
	leader = cluster_await_leader(c, 0);
	ck_assert_int_ge(leader, 0);
	for (int i = 0; i < 3; i++) {
		cluster_await_queue(c, i, "even", "depth", 19);
		cluster_await_queue(c, i, "odd", "depth", 19);
		cluster_await_queue(c, i, "made", "capacity", 7);
	}
	t = cluster_tc_open(c, leader);
	for (int k = 2; k < 40; k++) {
		snprintf(body, sizeof body, "r-%d", k);
		tc_send(t, "GET %s 0\r\n", k % 2 ? "odd" : "even");
		ck_assert_uint_eq(tc_expect_msg(t, body), ids[k]);
	}
	tc_request(t, "GET even 0", "204 EMPTY");
	tc_request(t, "GET odd 0", "204 EMPTY");
	id = tc_put(t, "even", "new");
	ck_assert_uint_gt(id, max_id);
	tc_close(t);
out:
	cluster_free(c);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("cluster");
	char tmp[] = "/tmp/sluice_check_cluster.XXXXXX";
	int rc;

	/* Every group's files go below it, failed tests' too (see harness). */
	if (mkdtemp(tmp) == NULL) {
		perror("mkdtemp");
		return EXIT_FAILURE;
	}
	setenv("CLUSTER_TMPDIR", tmp, 1);

	TEST_TIMEOUT(s, test_proxy_forwards_holds_and_cuts_by_sender, 30);
	TEST_TIMEOUT(s, test_one_leader_and_followers_point_at_it, 60);
	TEST_TIMEOUT(s, test_cluster_commands_refuse_what_they_cannot_do, 60);
	test_add(s, "test_failover_under_load_keeps_every_promise",
	    test_failover_under_load_keeps_every_promise, setup, teardown, 120,
	    seeds());
	TEST_TIMEOUT(s, test_isolated_leader_acknowledges_nothing, 90);
	TEST_TIMEOUT(s, test_membership_changes_under_load_lose_nothing, 120);
	TEST_TIMEOUT(s,
	    test_reserved_its_last_time_is_dead_lettered_after_failover, 60);
	TEST_TIMEOUT(s, test_ids_rise_past_those_given_without_a_record, 60);
	TEST_TIMEOUT(s, test_reload_on_a_follower_makes_and_loses_nothing, 60);
	test_add(s, "test_group_restart_keeps_queues_and_messages",
	    test_group_restart_keeps_queues_and_messages, setup, teardown, 90,
	    2);
	rc = test_run(s);
	harness_rm_rf(tmp);
	return rc;
}
