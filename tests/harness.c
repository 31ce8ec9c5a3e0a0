/*
 * harness.c - the integration tests' daemon, connections and the
 * request, MSG and STATS helpers every suite shares.  See harness.h.
 */
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define TC_TIMEOUT_SEC 10
/* tc_await_stat()'s pause between two polls. */
#define TC_AWAIT_PAUSE_US 1000

struct drain {
	int fd;
	char tag[16];
	unsigned long *reloads; /* the daemon's count of them */
};

/*
 * Copy the daemon's log to our stderr until it closes; with a tag, line
 * by line, each line after it (a cluster's members share the stderr).
 */
static void *
drain_log(void *arg)
{
	struct drain *dr = arg;
	char buf[4096];
	ssize_t n;
	FILE *in;

	if (dr->tag[0] == '\0') {
		while ((n = read(dr->fd, buf, sizeof buf)) > 0)
			(void)!write(STDERR_FILENO, buf, (size_t)n);
		close(dr->fd);
	} else if ((in = fdopen(dr->fd, "r")) != NULL) {
		while (fgets(buf, sizeof buf, in) != NULL) {
			fprintf(stderr, "%s%s", dr->tag, buf);
			if (strstr(buf, "reloaded ") != NULL)
				__atomic_add_fetch(dr->reloads, 1,
				    __ATOMIC_SEQ_CST);
		}
		fclose(in);
	}
	free(dr);
	return NULL;
}

/*
 * Read the daemon's log line by line until it says where it listens:
 * its first plain listener, and its first TLS one when tls_port is not
 * NULL (those come after the plain ones).
 */
static int
wait_for_port(int fd, int *tls_port, const char *tag)
{
	char line[1024];
	size_t len = 0;
	int port = -1;
	char ch;

	while (read(fd, &ch, 1) == 1) {
		if (ch != '\n') {
			if (len < sizeof line - 1)
				line[len++] = ch;
			continue;
		}
		line[len] = '\0';
		len = 0;
		fprintf(stderr, "%s%s\n", tag, line);
		char *at = strstr(line, "listening on ");
		char *colon = at ? strrchr(at, ':') : NULL;
		if (colon == NULL)
			continue;
		if (strstr(at, "(TLS)") == NULL) {
			if (port < 0)
				port = atoi(colon + 1);
		} else if (tls_port != NULL) {
			*tls_port = atoi(colon + 1);
		}
		if (port > 0 && (tls_port == NULL || *tls_port > 0))
			return port;
	}
	return -1;
}

/*
 * Run $SLUICED with argv[1..] (argv[0] is filled in here) and wait until
 * it listens; the TLS port too when `tls`.
 */
static void
spawn(struct daemon *d, const char **argv, bool tls)
{
	const char *bin = getenv("SLUICED");
	int pipefd[2];

	ck_assert_msg(bin != NULL, "SLUICED must name the daemon binary");
	argv[0] = bin;
	ck_assert_int_eq(pipe(pipefd), 0);
	d->pid = fork();
	ck_assert_int_ge(d->pid, 0);
	if (d->pid == 0) {
		/*
		 * A failed check ends the test process without teardown:
		 * take the daemon down with it rather than leave it running.
		 */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(pipefd[1], STDERR_FILENO);
		/*
		 * Nothing else of ours: a test's client socket inherited
		 * by a daemon it starts later stays open in that daemon
		 * after the test closes it, so the server it talks to
		 * never sees the close (and keeps its reservations).
		 */
		closefrom(STDERR_FILENO + 1);
		execv(bin, (char *const *)argv);
		fprintf(stderr, "exec %s: %s\n", bin, strerror(errno));
		_exit(127);
	}
	close(pipefd[1]);
	d->log_fd = pipefd[0];
	d->port = wait_for_port(d->log_fd, tls ? &d->tls_port : NULL, d->tag);
	ck_assert_msg(d->port > 0, "sluiced did not start");
	pthread_t th;
	struct drain *dr = calloc(1, sizeof *dr);
	ck_assert_ptr_nonnull(dr);
	dr->fd = d->log_fd;
	snprintf(dr->tag, sizeof dr->tag, "%s", d->tag);
	d->reloads = 0;
	dr->reloads = &d->reloads;
	ck_assert_int_eq(pthread_create(&th, NULL, drain_log, dr), 0);
	d->drainer = (unsigned long)th;
	d->drainer_started = true;
}

/* harness_start(), and the TLS port too when `tls`. */
static void
start(struct daemon *d, const char *const *extra, bool tls)
{
	const char *addr = getenv("SLUICE_TEST_ADDR");
	const char *argv[32];
	int argc = 1;

	memset(d, 0, sizeof *d);
	d->log_fd = -1;
	if (addr != NULL) {
		const char *colon = strrchr(addr, ':');
		ck_assert_msg(colon != NULL, "SLUICE_TEST_ADDR is host:port");
		snprintf(d->host, sizeof d->host, "%.*s", (int)(colon - addr),
		    addr);
		d->port = atoi(colon + 1);
		if (tls && getenv("SLUICE_TEST_TLS_PORT") != NULL)
			d->tls_port = atoi(getenv("SLUICE_TEST_TLS_PORT"));
		return;
	}
	strcpy(d->host, "127.0.0.1");
	argv[argc++] = "-l";
	argv[argc++] = "127.0.0.1";
	argv[argc++] = "-p";
	argv[argc++] = "0";
	for (int i = 0; extra != NULL && extra[i] != NULL && argc < 31; i++)
		argv[argc++] = extra[i];
	argv[argc] = NULL;
	spawn(d, argv, tls);
}

void
harness_start_args(struct daemon *d, const char *host, const char *const *args)
{
	const char *argv[32];
	int argc = 1;

	char tag[sizeof d->tag];

	memcpy(tag, d->tag, sizeof tag); /* the caller's, kept */
	memset(d, 0, sizeof *d);
	memcpy(d->tag, tag, sizeof tag);
	d->log_fd = -1;
	snprintf(d->host, sizeof d->host, "%s", host);
	for (int i = 0; args != NULL && args[i] != NULL && argc < 31; i++)
		argv[argc++] = args[i];
	argv[argc] = NULL;
	spawn(d, argv, false);
}

void
harness_start(struct daemon *d, const char *const *extra)
{
	start(d, extra, false);
}

void
harness_start_tls(struct daemon *d, const char *const *extra)
{
	start(d, extra, true);
}

void
harness_start_with_config(struct daemon *d, const char *json)
{
	char path[] = "/tmp/sluice_test.XXXXXX";
	const char *extra[] = { "-c", path, NULL };
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, json, strlen(json)), (ssize_t)strlen(json));
	close(fd);
	harness_start(d, extra);
	unlink(path);
}

int
harness_stop(struct daemon *d)
{
	if (d->pid == 0)
		return 0;
	/*
	 * SIGTERM starts a graceful drain, which waits for messages left
	 * in queues; a second stop signal ends it at once.  Two different
	 * signals, because two SIGTERMs sent together may merge into one.
	 */
	kill(d->pid, SIGTERM);
	kill(d->pid, SIGINT);
	return harness_wait(d);
}

int
harness_wait(struct daemon *d)
{
	int status;

	if (d->pid == 0)
		return 0;
	ck_assert_int_eq(waitpid(d->pid, &status, 0), d->pid);
	/* A test that killed it knows; any other signal is news. */
	if (WIFSIGNALED(status) && WTERMSIG(status) != SIGKILL)
		fprintf(stderr, "%ssluiced (pid %d) died of signal %d%s\n",
		    d->tag, (int)d->pid, WTERMSIG(status),
		    WCOREDUMP(status) ? " (core dumped)" : "");
	d->pid = 0;
	if (d->drainer_started)
		pthread_join((pthread_t)d->drainer, NULL);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

unsigned long
harness_reloads(const struct daemon *d)
{
	return __atomic_load_n(&d->reloads, __ATOMIC_SEQ_CST);
}

long
harness_rss_kb(const struct daemon *d)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/status", (int)d->pid);
	ck_assert_ptr_nonnull(f = fopen(path, "r"));
	while (fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

uint64_t
harness_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct tconn *
tc_open(const struct daemon *d)
{
	struct tconn *t = calloc(1, sizeof *t);
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct timeval tv = { TC_TIMEOUT_SEC, 0 };
	int one = 1;

	ck_assert_ptr_nonnull(t);
	sin.sin_port = htons((uint16_t)d->port);
	ck_assert_int_eq(inet_pton(AF_INET, d->host, &sin.sin_addr), 1);
	t->fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(t->fd, 0);
	ck_assert_msg(connect(t->fd, (struct sockaddr *)&sin, sizeof sin) == 0,
	    "connect: %s", strerror(errno));
	setsockopt(t->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(t->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	setsockopt(t->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return t;
}

void
tc_close(struct tconn *t)
{
	if (t == NULL)
		return;
	close(t->fd);
	free(t);
}

void
tc_send_raw(struct tconn *t, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = send(t->fd, p, len, MSG_NOSIGNAL);
		ck_assert_msg(n > 0, "send: %s", strerror(errno));
		p += n;
		len -= (size_t)n;
	}
}

void
tc_send(struct tconn *t, const char *fmt, ...)
{
	char buf[8192];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	ck_assert(n >= 0 && (size_t)n < sizeof buf);
	tc_send_raw(t, buf, (size_t)n);
}

/* Read more bytes into the buffer; false on EOF. Fails on timeout. */
static bool
fill(struct tconn *t)
{
	ssize_t n;

	ck_assert_msg(t->len < sizeof t->buf, "test read buffer full");
	n = recv(t->fd, t->buf + t->len, sizeof t->buf - t->len, 0);
	if (n == 0)
		return false;
	ck_assert_msg(n > 0, "recv: %s (no reply within %d s?)",
	    strerror(errno), TC_TIMEOUT_SEC);
	t->len += (size_t)n;
	return true;
}

static void
consume(struct tconn *t, size_t n)
{
	memmove(t->buf, t->buf + n, t->len - n);
	t->len -= n;
}

const char *
tc_line(struct tconn *t)
{
	char *nl;

	while ((nl = memchr(t->buf, '\n', t->len)) == NULL)
		ck_assert_msg(fill(t), "connection closed while reading a line");
	size_t n = (size_t)(nl - t->buf);
	size_t keep = n > 0 && t->buf[n - 1] == '\r' ? n - 1 : n;
	ck_assert(keep < sizeof t->line);
	memcpy(t->line, t->buf, keep);
	t->line[keep] = '\0';
	consume(t, n + 1);
	return t->line;
}

void
tc_expect(struct tconn *t, const char *want)
{
	ck_assert_str_eq(tc_line(t), want);
}

const char *
tc_expect_prefix(struct tconn *t, const char *prefix)
{
	const char *l = tc_line(t);

	ck_assert_msg(strncmp(l, prefix, strlen(prefix)) == 0,
	    "got \"%s\", wanted \"%s...\"", l, prefix);
	return l;
}

void
tc_read(struct tconn *t, void *out, size_t n)
{
	char *p = out;

	while (n > 0) {
		if (t->len == 0)
			ck_assert_msg(fill(t), "connection closed mid-body");
		size_t k = n < t->len ? n : t->len;
		memcpy(p, t->buf, k);
		consume(t, k);
		p += k;
		n -= k;
	}
}

void
tc_request(struct tconn *t, const char *req, const char *want)
{
	tc_send(t, "%s\r\n", req);
	tc_expect(t, want);
}

void
tc_send_put_bytes(struct tconn *t, const char *q, const void *body,
    size_t len, const char *timeout)
{
	char head[256];
	int n = snprintf(head, sizeof head, "PUT %s %zu%s%s\r\n", q, len,
	    timeout ? " " : "", timeout ? timeout : "");
	char *frame;

	ck_assert(n > 0 && (size_t)n < sizeof head);
	ck_assert_ptr_nonnull(frame = malloc((size_t)n + len + 2));
	memcpy(frame, head, (size_t)n);
	if (len > 0)
		memcpy(frame + n, body, len);
	memcpy(frame + n + len, "\r\n", 2);
	tc_send_raw(t, frame, (size_t)n + len + 2);
	free(frame);
}

void
tc_send_put(struct tconn *t, const char *q, const char *body)
{
	tc_send_put_bytes(t, q, body, strlen(body), NULL);
}

unsigned long long
tc_expect_queued(struct tconn *t)
{
	unsigned long long id;
	int end = 0;
	const char *l = tc_expect_prefix(t, "200 QUEUED ");

	ck_assert_msg(sscanf(l, "200 QUEUED %llu%n", &id, &end) == 1 &&
		l[end] == '\0',
	    "bad QUEUED line \"%s\"", l);
	return id;
}

unsigned long long
tc_put(struct tconn *t, const char *q, const char *body)
{
	tc_send_put(t, q, body);
	return tc_expect_queued(t);
}

unsigned long long
tc_expect_msg_bytes(struct tconn *t, const void *body, size_t len)
{
	unsigned long long id;
	size_t got_len;
	int end = 0;
	char *got;

	const char *l = tc_expect_prefix(t, "200 MSG ");
	ck_assert_msg(sscanf(l, "200 MSG %llu %zu%n", &id, &got_len, &end) ==
		    2 && l[end] == '\0',
	    "bad MSG line \"%s\"", l);
	ck_assert_uint_eq(got_len, len);
	ck_assert_ptr_nonnull(got = malloc(len + 2));
	tc_read(t, got, len + 2);
	ck_assert_msg(memcmp(got, body, len) == 0,
	    "body \"%.*s\" != \"%.*s\"", (int)(len < 64 ? len : 64), got,
	    (int)(len < 64 ? len : 64), (const char *)body);
	ck_assert_msg(got[len] == '\r' && got[len + 1] == '\n',
	    "body not followed by \\r\\n");
	free(got);
	return id;
}

unsigned long long
tc_expect_msg(struct tconn *t, const char *body)
{
	return tc_expect_msg_bytes(t, body, strlen(body));
}

unsigned long long
tc_reserve(struct tconn *t, const char *q, const char *body)
{
	tc_send(t, "RESERVE %s\r\n", q);
	return tc_expect_msg(t, body);
}

void
tc_ack(struct tconn *t, unsigned long long id)
{
	tc_send(t, "ACK %llu\r\n", id);
	tc_expect(t, "200 ACKED");
}

void
tc_nack(struct tconn *t, unsigned long long id)
{
	tc_send(t, "NACK %llu\r\n", id);
	tc_expect(t, "200 REQUEUED");
}

void
tc_expect_closed(struct tconn *t)
{
	ck_assert_msg(t->len == 0, "unread bytes before close: \"%.*s\"",
	    (int)t->len, t->buf);
	ck_assert_msg(!fill(t), "expected EOF, got \"%.*s\"", (int)t->len,
	    t->buf);
}

void
tc_close_rst(struct tconn *t)
{
	struct linger lg = { 1, 0 };

	setsockopt(t->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	tc_close(t);
}

bool
tc_quiet(struct tconn *t, int ms)
{
	struct pollfd p = { t->fd, POLLIN, 0 };

	return t->len == 0 && poll(&p, 1, ms) == 0;
}

void
tc_sync(struct tconn *t)
{
	tc_send(t, "PING\r\n");
	tc_expect(t, "200 PONG");
}

/* Parse the body of a JSON reply whose status line l was just read. */
static json_t *
read_json_after(struct tconn *t, const char *l)
{
	json_error_t err;
	size_t len;
	int end = 0;
	json_t *j;
	char *buf;

	ck_assert_msg(sscanf(l, "200 JSON %zu%n", &len, &end) == 1 &&
		l[end] == '\0',
	    "wanted \"200 JSON <n>\", got \"%s\"", l);
	ck_assert_ptr_nonnull(buf = malloc(len + 2));
	tc_read(t, buf, len + 2);
	ck_assert_msg(buf[len] == '\r' && buf[len + 1] == '\n',
	    "JSON body not followed by \\r\\n");
	j = json_loadb(buf, len, 0, &err);
	ck_assert_msg(j != NULL, "STATS body is not JSON: %s", err.text);
	ck_assert(json_is_object(j));
	free(buf);
	return j;
}

json_t *
tc_stats(struct tconn *t, const char *q)
{
	char want[256];
	const char *l;

	if (q == NULL) {
		tc_send(t, "STATS\r\n");
		return read_json_after(t, tc_line(t));
	}
	tc_send(t, "STATS %s\r\n", q);
	l = tc_line(t);
	if (strncmp(l, "404 ", 4) != 0)
		return read_json_after(t, l);
	snprintf(want, sizeof want, "404 NO_QUEUE %s", q);
	ck_assert_str_eq(l, want);
	return NULL;
}

long long
tc_stat(struct tconn *t, const char *q, const char *field)
{
	json_t *j = tc_stats(t, q);
	long long v;

	ck_assert_msg(j != NULL, "queue %s does not exist", q);
	v = stats_int(j, field);
	json_decref(j);
	return v;
}

void
tc_await_stat(struct tconn *t, const char *q, const char *field,
    long long want)
{
	uint64_t until = harness_now_ms() + TC_AWAIT_MS;
	long long got = -1;

	for (;;) {
		json_t *j = tc_stats(t, q);
		if (j != NULL) {
			got = stats_int(j, field);
			json_decref(j);
			if (got == want)
				return;
		}
		ck_assert_msg(harness_now_ms() < until,
		    "STATS%s%s: %s stayed %lld, wanted %lld", q ? " " : "",
		    q ? q : "", field, got, want);
		usleep(TC_AWAIT_PAUSE_US);
	}
}

long long
stats_int(json_t *j, const char *field)
{
	json_t *v = json_object_get(j, field);

	ck_assert_msg(json_is_integer(v), "STATS: no integer \"%s\"", field);
	ck_assert_int_ge(json_integer_value(v), 0);
	return json_integer_value(v);
}

const char *
stats_str(json_t *j, const char *field)
{
	json_t *v = json_object_get(j, field);

	ck_assert_msg(json_is_string(v), "STATS: no string \"%s\"", field);
	return json_string_value(v);
}
