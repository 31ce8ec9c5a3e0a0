/*
 * harness_cluster.c - a replication group of real sluiced processes;
 * see harness_cluster.h.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness_cluster.h"
#include "harness_dir.h"

/* The pause between two polls of the members' STATS. */
#define POLL_PAUSE_NS (10 * 1000 * 1000)
#define REPLY_TIMEOUT_SEC 10

static void
pause_poll(void)
{
	struct timespec ts = { 0, POLL_PAUSE_NS };

	nanosleep(&ts, NULL);
}

/* A port the kernel has free on host now (bound, read, released). */
static int
free_port(const char *host)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof sin;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(inet_pton(AF_INET, host, &sin.sin_addr), 1);
	ck_assert_msg(bind(fd, (struct sockaddr *)&sin, sizeof sin) == 0,
	    "bind %s:0: %s", host, strerror(errno));
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	return ntohs(sin.sin_port);
}

/* A loopback address no one else uses: 127.a.b.c at random. */
static void
pick_host(char *host, size_t len)
{
	const char *env = getenv("CLUSTER_HOST");
	unsigned r;
	int fd;

	if (env != NULL) {
		snprintf(host, len, "%s", env);
		return;
	}
	r = (unsigned)time(NULL) ^ ((unsigned)getpid() << 12);
	fd = open("/dev/urandom", O_RDONLY);
	if (fd >= 0) {
		(void)!read(fd, &r, sizeof r);
		close(fd);
	}
	snprintf(host, len, "127.%u.%u.%u", 1 + (r & 0xff) % 254,
	    (r >> 8) & 0xff, 1 + ((r >> 16) & 0xff) % 254);
}

bool
cluster_supported(void)
{
	static int known = -1;
	char dir[] = "/tmp/sluice_cprobe.XXXXXX";
	char conf[128], json[1024];
	const char *bin = getenv("SLUICED");
	FILE *f;
	pid_t pid;
	int status;

	if (known >= 0)
		return known;
	ck_assert_msg(bin != NULL, "SLUICED must name the daemon binary");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(conf, sizeof conf, "%s/probe.json", dir);
	snprintf(json, sizeof json,
	    "{\"data_dir\": \"%s/data\", \"cluster\": {\"id\": 1, "
	    "\"members\": [{\"id\": 1, \"raft\": \"127.0.0.1:1\", "
	    "\"client\": \"127.0.0.1:2\"}]}}\n",
	    dir);
	ck_assert_ptr_nonnull(f = fopen(conf, "w"));
	fputs(json, f);
	fclose(f);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		execl(bin, bin, "-t", "-c", conf, (char *)NULL);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	harness_rm_rf(dir);
	known = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	return known;
}

static void
write_config(struct cluster *c, int i)
{
	struct cluster_node *nd = &c->node[i];
	char members[2048] = "";
	size_t off = 0;
	FILE *f;

	for (int k = 0; k < c->nmembers; k++) {
		struct cluster_node *m = &c->node[k];
		/* Itself where it binds; the others through the proxy. */
		const char *raft = k == i ? m->raft_own : m->raft;
		off += (size_t)snprintf(members + off, sizeof members - off,
		    "%s{\"id\": %llu, \"raft\": \"%s\", \"client\": \"%s\"}",
		    k ? ", " : "", (unsigned long long)m->id, raft, m->client);
		ck_assert_uint_lt(off, sizeof members);
	}
	ck_assert_ptr_nonnull(f = fopen(nd->conf, "w"));
	fprintf(f,
	    "{\"data_dir\": \"%s\",\n \"listen\": \"%s:%d\",\n%s%s"
	    " \"cluster\": {\"id\": %llu,\n  \"members\": [%s],\n"
	    "  \"election_timeout_ms\": %d, \"heartbeat_timeout_ms\": %d",
	    nd->dir, c->host, nd->client_port, c->settings,
	    c->settings[0] ? ",\n" : "", (unsigned long long)nd->id, members,
	    CLUSTER_ELECTION_MS, CLUSTER_HEARTBEAT_MS);
	if (nd->join)
		fprintf(f,
		    ",\n  \"join\": true, \"raft\": \"%s\", \"client\": \"%s\"",
		    nd->raft_own, nd->client);
	fprintf(f, "}}\n");
	fclose(f);
}

/* Node i's addresses, files and tag (its config is written later). */
static void
make_node(struct cluster *c, int i)
{
	struct cluster_node *nd = &c->node[i];

	memset(nd, 0, sizeof *nd);
	nd->id = (uint64_t)i + 1;
	nd->client_port = free_port(c->host);
	nd->raft_port = free_port(c->host);
	snprintf(nd->client, sizeof nd->client, "%s:%d", c->host,
	    nd->client_port);
	snprintf(nd->raft_own, sizeof nd->raft_own, "%s:%d", c->host,
	    nd->raft_port);
	if (c->fp != NULL && i < c->nmembers) {
		faultproxy_target(c->fp, i, nd->id, c->host, nd->raft_port);
		snprintf(nd->raft, sizeof nd->raft, "%s",
		    faultproxy_addr(c->fp, i));
	} else {
		memcpy(nd->raft, nd->raft_own, sizeof nd->raft);
	}
	snprintf(nd->dir, sizeof nd->dir, "%s/n%d", c->root, i + 1);
	snprintf(nd->conf, sizeof nd->conf, "%s/n%d.json", c->root, i + 1);
	snprintf(nd->d.tag, sizeof nd->d.tag, "[n%d] ", i + 1);
}

struct cluster *
cluster_new(int n, bool proxy, const char *settings)
{
	struct cluster *c = calloc(1, sizeof *c);

	ck_assert_ptr_nonnull(c);
	ck_assert(n > 0 && n < CLUSTER_NODES);
	c->n = c->nmembers = n;
	pick_host(c->host, sizeof c->host);
	/* Below the suite's directory, if it made one (see the header). */
	snprintf(c->root, sizeof c->root, "%s/sluice_cluster.XXXXXX",
	    getenv("CLUSTER_TMPDIR") ? getenv("CLUSTER_TMPDIR") : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(c->root));
	if (settings != NULL)
		snprintf(c->settings, sizeof c->settings, " %s", settings);
	if (proxy)
		c->fp = faultproxy_start(c->host, n);
	for (int i = 0; i < n; i++)
		make_node(c, i);
	for (int i = 0; i < n; i++)
		write_config(c, i);
	fprintf(stderr, "cluster: %d members on %s in %s%s\n", n, c->host,
	    c->root, proxy ? ", Raft through the proxy" : "");
	return c;
}

int
cluster_add_joiner(struct cluster *c)
{
	int i = c->n;

	ck_assert_int_lt(i, CLUSTER_NODES);
	c->n++;
	make_node(c, i);
	c->node[i].join = true;
	write_config(c, i);
	return i;
}

void
cluster_start_node(struct cluster *c, int i)
{
	struct cluster_node *nd = &c->node[i];
	const char *args[] = { "-c", nd->conf, NULL };

	ck_assert(!nd->up);
	harness_start_args(&nd->d, c->host, args);
	ck_assert_int_eq(nd->d.port, nd->client_port);
	nd->up = true;
}

void
cluster_start(struct cluster *c)
{
	for (int i = 0; i < c->nmembers; i++)
		cluster_start_node(c, i);
}

void
cluster_kill(struct cluster *c, int i)
{
	struct cluster_node *nd = &c->node[i];

	ck_assert(nd->up);
	ck_assert_int_eq(kill(nd->d.pid, SIGKILL), 0);
	ck_assert_int_eq(harness_wait(&nd->d), -1);
	nd->up = false;
}

void
cluster_write_settings(struct cluster *c, int i, const char *settings)
{
	char saved[sizeof c->settings];

	memcpy(saved, c->settings, sizeof saved);
	snprintf(c->settings, sizeof c->settings, " %s", settings);
	write_config(c, i);
	memcpy(c->settings, saved, sizeof saved);
}

void
cluster_reload(struct cluster *c, int i)
{
	struct cluster_node *nd = &c->node[i];
	unsigned long before = harness_reloads(&nd->d);
	uint64_t t0 = harness_now_ms();

	ck_assert(nd->up);
	ck_assert_int_eq(kill(nd->d.pid, SIGHUP), 0);
	while (harness_reloads(&nd->d) == before) {
		ck_assert_msg(harness_now_ms() - t0 < REPLY_TIMEOUT_SEC * 1000,
		    "n%d: no \"reloaded\" in its log after SIGHUP", i + 1);
		nanosleep(&(struct timespec){ 0, 5000000 }, NULL);
	}
}

int
cluster_stop(struct cluster *c, int i)
{
	struct cluster_node *nd = &c->node[i];

	ck_assert(nd->up);
	nd->up = false;
	return harness_stop(&nd->d);
}

void
cluster_free(struct cluster *c)
{
	int rc[CLUSTER_NODES] = { 0 };

	for (int i = 0; i < c->n; i++)
		if (c->node[i].up)
			rc[i] = cluster_stop(c, i);
	faultproxy_stop(c->fp);
	harness_rm_rf(c->root);
	/* Each stopped as a daemon should: a signal or a failure is a bug. */
	for (int i = 0; i < c->n; i++)
		ck_assert_msg(rc[i] == 0, "n%d did not stop cleanly (%d)",
		    i + 1, rc[i]);
	free(c);
}

/* A connection to node i with a reply timeout, or -1. */
static int
hc_connect(struct cluster *c, int i)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct timeval tv = { REPLY_TIMEOUT_SEC, 0 };
	int fd, one = 1;

	if (!c->node[i].up)
		return -1;
	sin.sin_port = htons((uint16_t)c->node[i].client_port);
	ck_assert_int_eq(inet_pton(AF_INET, c->host, &sin.sin_addr), 1);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(fd, (struct sockaddr *)&sin, sizeof sin) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Read one line (without \r\n) byte by byte; false on EOF or error. */
static bool
hc_line(int fd, char *out, size_t len)
{
	size_t n = 0;
	char ch;

	for (;;) {
		ssize_t r = recv(fd, &ch, 1, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r != 1)
			return false;
		if (ch == '\n')
			break;
		if (n + 1 < len)
			out[n++] = ch;
	}
	if (n > 0 && out[n - 1] == '\r')
		n--;
	out[n] = '\0';
	return true;
}

static bool
hc_read(int fd, char *out, size_t len)
{
	while (len > 0) {
		ssize_t r = recv(fd, out, len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		out += r;
		len -= (size_t)r;
	}
	return true;
}

/* Send req and read its first line into line; -1 (closed) or the fd. */
static int
hc_ask(struct cluster *c, int i, const char *req, char *line, size_t len)
{
	int fd = hc_connect(c, i);
	char buf[1024];
	int n;

	if (fd < 0)
		return -1;
	n = snprintf(buf, sizeof buf, "%s\r\n", req);
	ck_assert(n > 0 && (size_t)n < sizeof buf);
	if (send(fd, buf, (size_t)n, MSG_NOSIGNAL) != n ||
	    !hc_line(fd, line, len)) {
		close(fd);
		return -1;
	}
	return fd;
}

bool
cluster_request(struct cluster *c, int i, const char *req, char *out,
    size_t outlen)
{
	int fd = hc_ask(c, i, req, out, outlen);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* cluster_json(), with the answer's first line left in line. */
static json_t *
json_ask(struct cluster *c, int i, const char *req, char *line, size_t len)
{
	char *body;
	json_t *j = NULL;
	size_t blen;
	int end = 0;
	int fd = hc_ask(c, i, req, line, len);

	if (fd < 0) {
		snprintf(line, len, "(no answer)");
		return NULL;
	}
	if (sscanf(line, "200 JSON %zu%n", &blen, &end) == 1 &&
	    line[end] == '\0') {
		ck_assert_ptr_nonnull(body = malloc(blen + 2));
		if (hc_read(fd, body, blen + 2))
			j = json_loadb(body, blen, 0, NULL);
		free(body);
	}
	close(fd);
	return j;
}

json_t *
cluster_json(struct cluster *c, int i, const char *req)
{
	char line[256];

	return json_ask(c, i, req, line, sizeof line);
}

json_t *
cluster_stats(struct cluster *c, int i)
{
	return cluster_json(c, i, "STATS");
}

int
cluster_node_by_client(struct cluster *c, const char *addr)
{
	for (int i = 0; i < c->n; i++)
		if (addr != NULL && strcmp(c->node[i].client, addr) == 0)
			return i;
	return -1;
}

/* One look at the members: the leader every one agrees on, or -1. */
static int
agreed_leader(struct cluster *c, unsigned mask, bool *no_role)
{
	int leader = -1, follows[CLUSTER_NODES];
	bool ok = true;

	for (int i = 0; i < c->n; i++) {
		json_t *j, *role, *lead;
		follows[i] = -1;
		if (!c->node[i].up || (mask && !(mask & (1u << i))))
			continue;
		if ((j = cluster_stats(c, i)) == NULL) {
			ok = false;
			continue;
		}
		role = json_object_get(j, "role");
		lead = json_object_get(j, "leader");
		if (!json_is_string(role)) {
			*no_role = true;
			json_decref(j);
			return -1;
		}
		if (strcmp(json_string_value(role), "leader") == 0) {
			if (leader >= 0)
				ok = false;
			leader = i;
		} else if (strcmp(json_string_value(role), "follower") == 0 &&
		    json_is_string(lead)) {
			follows[i] =
			    cluster_node_by_client(c, json_string_value(lead));
			if (follows[i] < 0)
				ok = false;
		} else {
			ok = false;
		}
		json_decref(j);
	}
	if (!ok || leader < 0)
		return -1;
	for (int i = 0; i < c->n; i++)
		if (c->node[i].up && (!mask || (mask & (1u << i))) &&
		    i != leader && follows[i] != leader)
			return -1;
	return leader;
}

/*
 * Whether node i serves queue requests: a leader still catching up
 * answers 503 NOT_LEADER.  PEEK changes nothing, whatever it answers.
 */
static bool
serves(struct cluster *c, int i)
{
	char line[256];

	return cluster_request(c, i, "PEEK sluice-test-probe", line,
	           sizeof line) &&
	    strncmp(line, "503 NOT_LEADER", 14) != 0;
}

int
cluster_await_leader(struct cluster *c, unsigned mask)
{
	uint64_t t0 = harness_now_ms();
	bool no_role = false;

	for (;;) {
		int leader = agreed_leader(c, mask, &no_role);
		if (no_role)
			return -2;
		if (leader >= 0 && serves(c, leader)) {
			fprintf(stderr, "cluster: n%d leads (%llu ms)\n",
			    leader + 1,
			    (unsigned long long)(harness_now_ms() - t0));
			return leader;
		}
		ck_assert_msg(harness_now_ms() - t0 < CLUSTER_ELECT_WAIT_MS,
		    "no agreed leader within %d ms", CLUSTER_ELECT_WAIT_MS);
		pause_poll();
	}
}

void
cluster_await_queue(struct cluster *c, int i, const char *q, const char *field,
    long long want)
{
	uint64_t until = harness_now_ms() + CLUSTER_ELECT_WAIT_MS;
	char req[256], line[256];
	long long got = -1;

	snprintf(req, sizeof req, "STATS %s", q);
	for (;;) {
		json_t *j = json_ask(c, i, req, line, sizeof line);
		json_t *v = j ? json_object_get(j, field) : NULL;
		if (json_is_integer(v))
			got = json_integer_value(v);
		json_decref(j);
		if (got == want)
			return;
		ck_assert_msg(harness_now_ms() < until,
		    "n%d: STATS %s: %s stayed %lld, wanted %lld (\"%s\")",
		    i + 1, q, field, got, want, line);
		pause_poll();
	}
}

struct tconn *
cluster_tc_open(struct cluster *c, int i)
{
	return tc_open(&c->node[i].d);
}
