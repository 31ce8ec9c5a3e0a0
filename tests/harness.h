/*
 * harness.h - start a real sluiced on an ephemeral port and talk to it.
 *
 * harness_start() runs the daemon built in this tree ($SLUICED) with
 * "-l 127.0.0.1 -p 0", reads its log until the "listening on" line,
 * and keeps copying the log to the test's stderr.  No sleeps: the port
 * is known once the daemon says it listens.
 *
 * For debugging against a daemon you started yourself (under gdb, say),
 * set SLUICE_TEST_ADDR=127.0.0.1:7470 and nothing is spawned.
 *
 * tconn is a blocking test connection with a read buffer and a 10 s
 * receive timeout, so a missing reply fails the test instead of hanging.
 */
#ifndef SLUICE_HARNESS_H
#define SLUICE_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct daemon {
	pid_t pid;	   /* 0 when SLUICE_TEST_ADDR is used */
	int port;
	char host[64];
	int log_fd;	   /* read end of the daemon's stderr */
	bool drainer_started;
	unsigned long drainer; /* pthread_t of the log copier */
};

/*
 * Start sluiced with extra arguments (NULL-terminated list, may be
 * NULL).  Fails the test (ck_abort) if it does not come up.
 */
void harness_start(struct daemon *d, const char *const *extra);

/*
 * Stop the daemon at once (SIGTERM, then SIGINT to skip the graceful
 * drain), wait for it, and return its exit status (-1 if it died of a
 * signal).
 */
int harness_stop(struct daemon *d);

/* Wait for the daemon to exit by itself; its exit status as above. */
int harness_wait(struct daemon *d);

/* Resident set size of the daemon in KiB. */
long harness_rss_kb(const struct daemon *d);

struct tconn {
	int fd;
	size_t len;	   /* bytes buffered in buf */
	char buf[65536];
	char line[8192];   /* the last line read, without terminator */
};

/* Connect to the daemon; fails the test if it cannot. */
struct tconn *tc_open(const struct daemon *d);
void tc_close(struct tconn *t);

/* Send formatted text as is (the caller writes the \r\n). */
void tc_send(struct tconn *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void tc_send_raw(struct tconn *t, const void *data, size_t len);

/* Read one line (without its \r\n); fails the test on EOF or timeout. */
const char *tc_line(struct tconn *t);

/* Read a line and assert it equals `want`. */
void tc_expect(struct tconn *t, const char *want);

/* Read a line and assert it starts with `prefix`; returns the line. */
const char *tc_expect_prefix(struct tconn *t, const char *prefix);

/* Read exactly n bytes into out. */
void tc_read(struct tconn *t, void *out, size_t n);

/*
 * Read a "200 MSG <id> <len>" reply and its body; asserts the body
 * equals `body` and returns the id.
 */
unsigned long long tc_expect_msg(struct tconn *t, const char *body);

/* Assert the server closes the connection (EOF before any more bytes). */
void tc_expect_closed(struct tconn *t);

/* True when the connection has no byte to read within ms milliseconds. */
bool tc_quiet(struct tconn *t, int ms);

/* Send "PING" and wait for "200 PONG": everything before it is done. */
void tc_sync(struct tconn *t);

#endif
