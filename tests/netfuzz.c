/*
 * netfuzz.c - a network-level fuzzer for a running sluiced.
 *
 *   netfuzz -p PORT [-m METRICS_PORT] [-H HOST] [-s SEED]
 *           [-n CONNECTIONS] [-t SECONDS] [-c CONCURRENT]
 *
 * Many connections at once (-c, 64 by default), each sending a script
 * of random requests, valid and broken: every command with random
 * arguments, bodies of the right and the wrong length, bad numbers,
 * overlong lines, bare newlines, garbage.  Each script goes out in
 * pieces of random size (random split points), the answers are read
 * or, at times, left unread, and each connection ends in a random way:
 * a clean close, a half-close (shutdown) and reading to the end, an RST
 * (SO_LINGER 0), or a close in the middle of what it was sending.  The
 * run stops after -n connections or -t seconds, whichever is first.
 * With -m, one connection in ten goes to the metrics port instead, with
 * random HTTP requests (methods, paths, headers, overlong heads, no
 * end), ended the same ways.
 *
 * Then it checks the daemon: it must answer PING, and a global STATS
 * must add up: `messages` and `bytes` are the sums over the queues, no
 * queue with a capacity holds more than its bounds allow.  After every
 * queue is DELETEd (which answers any producer still parked) the
 * fuzzer's connections must all be gone.  With -m, /healthz and
 * /metrics must still answer 200.  Exit 0 when all of this
 * holds, 1 when not (with the reason), 2 on a usage error.
 *
 * Everything random comes from one seed, printed first; the run is not
 * exactly repeatable (timing decides what the daemon sees when), but
 * the same seed sends the same scripts.  tools/netfuzz.sh runs it
 * against a sanitized daemon.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "testrand.h"

#define CONCURRENT_MAX 1024
/* A script: a few requests, some of them broken, at most this long. */
#define SCRIPT_MAX (96 * 1024)
/* How long one connection may live before it is cut (ms). */
#define LIFETIME_MAX_MS 1500
/* Queue names drawn from a small set, so requests meet each other. */
#define NQUEUES 8

enum ending {
	END_CLOSE,      /* close once everything is sent and answered */
	END_HALF_CLOSE, /* shutdown(SHUT_WR), read until EOF */
	END_RST,        /* SO_LINGER 0: reset */
	END_MID,        /* close partway through the script */
	END_NREASONS,
};

static const char *const ending_names[] = { "close", "half-close", "rst",
	"mid-send" };

struct slot {
	int fd;
	char *script;
	size_t len, sent;
	size_t cut; /* END_MID: stop sending here */
	enum ending ending;
	bool reading; /* read answers (false: leave them unread) */
	bool shut;    /* shutdown(SHUT_WR) done */
	uint64_t deadline_ms;
};

static uint64_t rng;
static struct {
	uint64_t conns, requests, bytes_sent, bytes_read;
	uint64_t endings[END_NREASONS];
} count;

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A number in [0, n). */
static uint64_t
rnd(uint64_t n)
{
	return n == 0 ? 0 : testrand_next(&rng) % n;
}

static bool
chance(int percent)
{
	return rnd(100) < (uint64_t)percent;
}

/* The script being built: text appended, never past SCRIPT_MAX. */
struct script {
	char *buf;
	size_t len;
};

static void __attribute__((format(printf, 2, 3)))
emit(struct script *s, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (s->len >= SCRIPT_MAX)
		return;
	va_start(ap, fmt);
	n = vsnprintf(s->buf + s->len, SCRIPT_MAX - s->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		s->len += (size_t)n < SCRIPT_MAX - s->len ? (size_t)n
		                                          : SCRIPT_MAX - s->len;
}

static void
emit_bytes(struct script *s, size_t n, bool printable)
{
	for (size_t i = 0; i < n && s->len < SCRIPT_MAX; i++)
		s->buf[s->len++] =
		    printable ? (char)('a' + rnd(26)) : (char)rnd(256);
}

/* A line terminator: mostly CRLF, sometimes a bare LF. */
static const char *
eol(void)
{
	return chance(85) ? "\r\n" : "\n";
}

/* A queue name: usually one of a few, sometimes invalid or long. */
static void
emit_queue(struct script *s)
{
	switch (rnd(20)) {
	case 0:
		emit(s, "bad/name");
		break;
	case 1:
		emit(s, "q");
		emit_bytes(s, 120 + rnd(20), true); /* 128 is the limit */
		break;
	case 2:
		emit(s, "fz%" PRIu64, rnd(1000)); /* many queues */
		break;
	default:
		emit(s, "q%" PRIu64, rnd(NQUEUES));
	}
}

/* A number argument: small, a boundary, too big, or not a number. */
static void
emit_number(struct script *s, uint64_t small)
{
	switch (rnd(12)) {
	case 0:
		emit(s, "9223372036854775807");
		break;
	case 1:
		emit(s, "9223372036854775808");
		break;
	case 2:
		emit(s, "-1");
		break;
	case 3:
		emit(s, "0000000000000000000%" PRIu64, rnd(10));
		break;
	case 4:
		emit(s, "12x");
		break;
	default:
		emit(s, "%" PRIu64, rnd(small + 1));
	}
}

/* An optional timeout argument (ms), kept short so waits end. */
static void
emit_timeout(struct script *s)
{
	if (chance(50))
		emit(s, " %" PRIu64, rnd(60));
	else if (chance(5))
		emit(s, " ");
}

static void
emit_put(struct script *s)
{
	size_t len = chance(90) ? rnd(64) : rnd(70000);
	int kind = (int)rnd(20);

	emit(s, "PUT ");
	emit_queue(s);
	if (kind == 0) { /* unframeable: no length */
		emit(s, "%s", eol());
		return;
	}
	if (kind == 1) { /* a bad length */
		emit(s, " ");
		emit_number(s, 100);
		emit(s, "%s", eol());
		emit_bytes(s, rnd(100), false);
		emit(s, "%s", eol());
		return;
	}
	emit(s, " %zu", len);
	if (chance(30))
		emit_timeout(s);
	emit(s, "%s", eol());
	/* The body: its length, or off by a little (no terminator there). */
	if (kind == 2)
		len += rnd(3) + 1;
	else if (kind == 3 && len > 0)
		len -= 1;
	emit_bytes(s, len, chance(50));
	emit(s, "%s", kind == 4 ? "xx" : eol());
}

static void
emit_create(struct script *s)
{
	static const char *const policies[] = { "block", "reject",
		"drop-oldest", "drop-newest", "blok" };

	emit(s, "CREATE ");
	emit_queue(s);
	for (uint64_t i = rnd(5); i > 0; i--) {
		switch (rnd(8)) {
		case 6:
			emit(s, " max_deliveries=");
			emit_number(s, 4);
			break;
		case 7:
			emit(s, " dead_letter=");
			emit_queue(s);
			break;
		case 0:
			emit(s, " capacity=");
			emit_number(s, 8);
			break;
		case 1:
			emit(s, " max_bytes=");
			emit_number(s, 100000);
			break;
		case 2:
			emit(s, " policy=%s", policies[rnd(5)]);
			break;
		case 3:
			emit(s, " lease_ms=");
			emit_number(s, 50);
			break;
		case 4:
			emit(s, " nosuch=1");
			break;
		default:
			emit(s, " capacity");
		}
	}
	emit(s, "%s", eol());
}

/* One request, valid or not. */
static void
emit_request(struct script *s)
{
	count.requests++;
	switch (rnd(19)) {
	case 0:
	case 1:
	case 2:
		emit_put(s);
		break;
	case 3:
	case 4:
		emit(s, "%s ", chance(50) ? "GET" : "get");
		emit_queue(s);
		emit_timeout(s);
		emit(s, "%s", eol());
		break;
	case 5:
	case 6:
		emit(s, "RESERVE ");
		emit_queue(s);
		emit_timeout(s);
		emit(s, "%s", eol());
		break;
	case 7:
		emit(s, "%s ", chance(50) ? "ACK" : "NACK");
		emit_number(s, 200);
		/* A delayed NACK (1.1); on an ACK, a 400. */
		if (chance(30)) {
			emit(s, " ");
			emit_number(s, 100);
		}
		emit(s, "%s", eol());
		break;
	case 8:
		emit_create(s);
		break;
	case 9:
		/* CLOSE (1.1) seldom: a closed queue stays so until DELETE. */
		if (chance(10))
			emit(s, "CLOSE ");
		else
			emit(s, "%s ", chance(50) ? "DELETE" : "PURGE");
		emit_queue(s);
		emit(s, "%s", eol());
		break;
	case 10:
		emit(s, "STATS");
		if (chance(50)) {
			emit(s, " ");
			emit_queue(s);
		}
		emit(s, "%s", eol());
		break;
	case 11:
		emit(s, "AUTH %s%s", chance(50) ? "token" : "", eol());
		break;
	case 12:
		emit(s, "PING%s", eol());
		break;
	case 13: /* an overlong line */
		emit(s, "GET ");
		emit_bytes(s, 1000 + rnd(2000), true);
		emit(s, "%s", eol());
		break;
	case 14: /* garbage, binary included */
		emit_bytes(s, rnd(200), chance(50));
		emit(s, "%s", eol());
		break;
	case 15: /* too many or too few words */
		emit(s, "%s%s", chance(50) ? "ACK 1 2 3 4 5 6 7 8 9" : "PUT",
		    eol());
		break;
	case 16: /* an empty line, or spaces */
		emit(s, "%s%s", chance(50) ? "" : "   ", eol());
		break;
	case 17:
		emit(s, "QUIT%s", eol());
		break;
	default:
		emit(s, "PING\r\nPING\r\nSTATS\r\n");
	}
}

/* A random HTTP request for the metrics port. */
static void
emit_http(struct script *s)
{
	static const char *const methods[] = { "GET", "HEAD", "POST", "get",
		"" };
	static const char *const paths[] = { "/metrics", "/healthz", "/",
		"/metrics?x=1", "metrics", "/nosuch" };

	count.requests++;
	emit(s, "%s ", methods[rnd(5)]);
	if (chance(10))
		emit_bytes(s, rnd(10000), true);
	else
		emit(s, "%s", paths[rnd(6)]);
	emit(s, " %s%s", chance(90) ? "HTTP/1.1" : "HTTP/2.0", eol());
	for (uint64_t i = rnd(6); i > 0; i--) {
		switch (rnd(5)) {
		case 0:
			emit(s, "Authorization: Bearer %s%s",
			    chance(50) ? "x" : "", eol());
			break;
		case 1:
			emit(s, "X-Long: ");
			emit_bytes(s, rnd(12000), true);
			emit(s, "%s", eol());
			break;
		case 2:
			emit_bytes(s, rnd(100), false);
			emit(s, "%s", eol());
			break;
		default:
			emit(s, "Host: localhost%s", eol());
		}
	}
	if (chance(90))
		emit(s, "%s", eol());
}

static void
slot_close(struct slot *sl)
{
	if (sl->ending == END_RST) {
		struct linger lg = { 1, 0 };
		setsockopt(sl->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	}
	close(sl->fd);
	free(sl->script);
	count.endings[sl->ending]++;
	sl->fd = -1;
	sl->script = NULL;
}

static int
connect_to(const struct sockaddr_in *sin, bool block)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (connect(fd, (const struct sockaddr *)sin, sizeof *sin) < 0) {
		close(fd);
		return -1;
	}
	if (!block)
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

static bool
slot_open(struct slot *sl, const struct sockaddr_in *sin,
    const struct sockaddr_in *msin)
{
	struct script s = { malloc(SCRIPT_MAX), 0 };
	bool http = msin != NULL && chance(10);

	if ((sl->fd = connect_to(http ? msin : sin, false)) < 0) {
		free(s.buf);
		return false;
	}
	if (http)
		emit_http(&s);
	else
		for (uint64_t n = 1 + rnd(chance(10) ? 200 : 12); n > 0; n--)
			emit_request(&s);
	sl->script = s.buf;
	sl->len = s.len;
	sl->sent = 0;
	sl->ending = (enum ending)rnd(END_NREASONS);
	sl->cut = sl->ending == END_MID ? rnd(s.len + 1) : s.len;
	sl->reading = !chance(10);
	sl->shut = false;
	sl->deadline_ms = now_ms() + 50 + rnd(LIFETIME_MAX_MS);
	count.conns++;
	return true;
}

/* Send the next piece, of random size (the split points). */
static void
slot_send(struct slot *sl)
{
	size_t left = sl->cut - sl->sent, n;
	ssize_t w;

	if (left == 0)
		return;
	n = chance(30) ? 1 + rnd(8) : 1 + rnd(left);
	if (n > left)
		n = left;
	w = send(sl->fd, sl->script + sl->sent, n, MSG_NOSIGNAL);
	if (w > 0) {
		sl->sent += (size_t)w;
		count.bytes_sent += (uint64_t)w;
	}
}

/* Read what is there; false once the daemon has closed. */
static bool
slot_read(struct slot *sl)
{
	char buf[16384];
	ssize_t n;

	while ((n = read(sl->fd, buf, sizeof buf)) > 0)
		count.bytes_read += (uint64_t)n;
	return !(n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR));
}

/* One step of a connection; false when it is over (closed). */
static bool
slot_step(struct slot *sl, short revents, uint64_t now)
{
	if ((revents & (POLLIN | POLLHUP | POLLERR)) && !slot_read(sl))
		return false;
	if (now >= sl->deadline_ms)
		return false;
	if (revents & POLLOUT)
		slot_send(sl);
	if (sl->sent < sl->cut)
		return true;
	/* Everything it meant to send is sent: end as chosen. */
	switch (sl->ending) {
	case END_MID:
	case END_RST:
		return false;
	case END_HALF_CLOSE:
		if (!sl->shut) {
			shutdown(sl->fd, SHUT_WR);
			sl->shut = true;
		}
		return true; /* until EOF or the deadline */
	default:
		return chance(90); /* linger a little for the answers */
	}
}

static void
run(const struct sockaddr_in *sin, const struct sockaddr_in *msin,
    int concurrent, uint64_t max_conns, uint64_t end_ms)
{
	struct slot *slots = calloc((size_t)concurrent, sizeof *slots);
	struct pollfd *pf = calloc((size_t)concurrent, sizeof *pf);
	int live = 0;

	for (int i = 0; i < concurrent; i++)
		slots[i].fd = -1;
	for (;;) {
		uint64_t now = now_ms();
		bool more = now < end_ms && count.conns < max_conns;

		live = 0;
		for (int i = 0; i < concurrent; i++) {
			struct slot *sl = &slots[i];

			if (sl->fd < 0 && more)
				slot_open(sl, sin, msin);
			pf[i].fd = sl->fd;
			pf[i].events = 0;
			pf[i].revents = 0;
			if (sl->fd < 0)
				continue;
			live++;
			if (sl->reading || sl->shut)
				pf[i].events |= POLLIN;
			if (sl->sent < sl->cut)
				pf[i].events |= POLLOUT;
		}
		if (live == 0)
			break;
		poll(pf, (nfds_t)concurrent, 20);
		now = now_ms();
		for (int i = 0; i < concurrent; i++) {
			struct slot *sl = &slots[i];

			if (sl->fd < 0)
				continue;
			/* Past the end of the run everything is cut. */
			if (!more || !slot_step(sl, pf[i].revents, now))
				slot_close(sl);
		}
	}
	free(slots);
	free(pf);
}

/* ---- the checks after the run ------------------------------------ */

static int failures;

static void __attribute__((format(printf, 1, 2))) fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "netfuzz: FAIL: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	failures++;
}

/* A blocking connection with a 10 s receive timeout; -1 on failure. */
static int
check_connect(const struct sockaddr_in *sin)
{
	struct timeval tv = { 10, 0 };
	int fd = connect_to(sin, true);

	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	return fd;
}

/* Read one line (without its terminator) into buf; false on failure. */
static bool
read_line(int fd, char *buf, size_t size)
{
	size_t len = 0;
	char c;

	while (len + 1 < size) {
		if (read(fd, &c, 1) != 1)
			return false;
		if (c == '\n')
			break;
		buf[len++] = c;
	}
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	buf[len] = '\0';
	return true;
}

static json_t *
stats(int fd)
{
	char line[256], *text;
	size_t len;
	json_t *j;

	if (dprintf(fd, "STATS\r\n") < 0 || !read_line(fd, line, sizeof line) ||
	    sscanf(line, "200 JSON %zu", &len) != 1) {
		fail("STATS answered \"%s\"", line);
		return NULL;
	}
	text = malloc(len + 2);
	for (size_t got = 0; got < len + 2;) {
		ssize_t n = read(fd, text + got, len + 2 - got);
		if (n <= 0) {
			fail("STATS body cut short");
			free(text);
			return NULL;
		}
		got += (size_t)n;
	}
	j = json_loadb(text, len, 0, NULL);
	free(text);
	if (j == NULL)
		fail("STATS is not JSON");
	return j;
}

static long long
field(json_t *o, const char *name)
{
	json_t *v = json_object_get(o, name);

	if (!json_is_integer(v)) {
		fail("STATS field %s missing", name);
		return 0;
	}
	return json_integer_value(v);
}

/* The global STATS adds up; the names of the queues into *names. */
static void
check_stats(int fd, json_t **names)
{
	long long messages = 0, bytes = 0;
	json_t *all = stats(fd), *queues, *q;
	const char *name;

	*names = json_array();
	if (all == NULL)
		return;
	queues = json_object_get(all, "queues");
	if (!json_is_object(queues)) {
		fail("STATS has no queues object");
		json_decref(all);
		return;
	}
	json_object_foreach(queues, name, q)
	{
		long long depth = field(q, "depth"), res = field(q, "reserved");
		long long b = field(q, "bytes"), cap = field(q, "capacity");

		/* Delayed messages (NACK with a delay) are held too. */
		res += field(q, "delayed");
		json_array_append_new(*names, json_string(name));
		messages += depth + res;
		bytes += b;
		/* Capacity-0 reservations are outside the bounds. */
		if (cap > 0 && depth + res > cap)
			fail("queue %s holds %lld messages, capacity %lld",
			    name, depth + res, cap);
		if (cap > 0 && b > field(q, "max_bytes"))
			fail("queue %s holds %lld bytes, max_bytes %lld", name,
			    b, field(q, "max_bytes"));
		if (depth < 0 || res < 0 || b < 0)
			fail("queue %s has a negative count", name);
	}
	if (field(all, "messages") != messages)
		fail("messages %lld, but the queues hold %lld",
		    field(all, "messages"), messages);
	if (field(all, "bytes") != bytes)
		fail("bytes %lld, but the queues hold %lld",
		    field(all, "bytes"), bytes);
	printf("netfuzz: after the run: %zu queues, %lld messages, "
	       "%lld bytes, %lld connections\n",
	    json_object_size(queues), messages, bytes,
	    field(all, "connections"));
	json_decref(all);
}

/* Alive, consistent, and every fuzz connection eventually gone. */
static void
check_daemon(const struct sockaddr_in *sin)
{
	char line[512];
	json_t *names, *v, *all;
	uint64_t until;
	size_t i;
	int fd = check_connect(sin);

	if (fd < 0) {
		fail("cannot connect: %s", strerror(errno));
		return;
	}
	if (dprintf(fd, "PING\r\n") < 0 || !read_line(fd, line, sizeof line) ||
	    strcmp(line, "200 PONG") != 0) {
		fail("PING answered \"%s\"", line);
		close(fd);
		return;
	}
	check_stats(fd, &names);
	/* Deleting every queue answers producers still parked on them. */
	json_array_foreach(names, i, v)
	{
		dprintf(fd, "DELETE %s\r\n", json_string_value(v));
		if (!read_line(fd, line, sizeof line) ||
		    (strcmp(line, "200 DELETED") != 0 &&
		        strncmp(line, "404 ", 4) != 0))
			fail("DELETE %s answered \"%s\"", json_string_value(v),
			    line);
	}
	json_decref(names);
	/* Then only this connection is left (polled: closes take a pass). */
	until = now_ms() + 10000;
	for (;;) {
		long long n = -1;

		if ((all = stats(fd)) != NULL) {
			n = field(all, "connections");
			json_decref(all);
		}
		if (n == 1)
			break;
		if (n < 0 || now_ms() > until) {
			fail("%lld connections still open after the run", n);
			break;
		}
		poll(NULL, 0, 50);
	}
	close(fd);
}

/* GET path on the metrics port answers 200. */
static void
check_http(const struct sockaddr_in *msin, const char *path)
{
	char line[512];
	int fd = check_connect(msin);

	if (fd < 0) {
		fail("cannot connect to the metrics port: %s", strerror(errno));
		return;
	}
	dprintf(fd, "GET %s HTTP/1.0\r\n\r\n", path);
	if (!read_line(fd, line, sizeof line) ||
	    strcmp(line, "HTTP/1.1 200 OK") != 0)
		fail("GET %s answered \"%s\"", path, line);
	close(fd);
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: netfuzz -p PORT [-H HOST] [-s SEED] "
	    "[-n CONNECTIONS] [-t SECONDS] [-c CONCURRENT]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sin = { .sin_family = AF_INET }, msin;
	const char *host = "127.0.0.1";
	uint64_t seed = 0, max_conns = UINT64_MAX, seconds = 10;
	int ch, port = 0, mport = 0, concurrent = 64;

	while ((ch = getopt(argc, argv, "H:p:m:s:n:t:c:")) != -1) {
		switch (ch) {
		case 'H':
			host = optarg;
			break;
		case 'p':
			port = atoi(optarg);
			break;
		case 'm':
			mport = atoi(optarg);
			break;
		case 's':
			seed = strtoull(optarg, NULL, 0);
			break;
		case 'n':
			max_conns = strtoull(optarg, NULL, 0);
			break;
		case 't':
			seconds = strtoull(optarg, NULL, 0);
			break;
		case 'c':
			concurrent = atoi(optarg);
			break;
		default:
			usage();
		}
	}
	if (port <= 0 || port > 65535 || mport < 0 || mport > 65535 ||
	    concurrent < 1 || concurrent > CONCURRENT_MAX ||
	    inet_pton(AF_INET, host, &sin.sin_addr) != 1)
		usage();
	msin = sin;
	sin.sin_port = htons((uint16_t)port);
	msin.sin_port = htons((uint16_t)mport);
	if (seed == 0)
		seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	rng = seed;
	printf("netfuzz: seed %" PRIu64 " (-s %" PRIu64 " repeats the "
	       "scripts), %d at once, up to %" PRIu64 " s\n",
	    seed, seed, concurrent, seconds);
	fflush(stdout);
	signal(SIGPIPE, SIG_IGN);
	run(&sin, mport ? &msin : NULL, concurrent, max_conns,
	    now_ms() + seconds * 1000);
	printf("netfuzz: %" PRIu64 " connections, %" PRIu64 " requests, "
	       "%" PRIu64 " bytes sent, %" PRIu64 " read; endings:",
	    count.conns, count.requests, count.bytes_sent, count.bytes_read);
	for (int i = 0; i < END_NREASONS; i++)
		printf(" %s %" PRIu64, ending_names[i], count.endings[i]);
	printf("\n");
	check_daemon(&sin);
	if (mport) {
		check_http(&msin, "/healthz");
		check_http(&msin, "/metrics");
	}
	printf("netfuzz: %s\n", failures ? "FAILED" : "ok");
	return failures ? 1 : 0;
}
