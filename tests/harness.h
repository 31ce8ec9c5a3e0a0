/*
 * harness.h - start a real sluiced on an ephemeral port and talk to it.
 *
 * harness_start() runs the daemon built in this tree ($SLUICED) with
 * "-l 127.0.0.1 -p 0", reads its log until the "listening on" line,
 * and keeps copying the log to the test's stderr.  No sleeps: the port
 * is known once the daemon says it listens.  harness_start_with_config()
 * adds "-c <file>" with the JSON it is given.
 *
 * For debugging against a daemon you started yourself (under gdb, say),
 * set SLUICE_TEST_ADDR=127.0.0.1:7470 and nothing is spawned.
 *
 * tconn is a blocking test connection with a read buffer and a 10 s
 * receive timeout, so a missing reply fails the test instead of hanging.
 * On top of it: PUT and read its id, read a MSG exactly, STATS as
 * jansson objects, and tc_await_stat(), which polls STATS until a field
 * reaches a value: how a test learns that a request on another
 * connection now waits, with no sleep standing in for the event.
 * Every helper fails the test (ck_assert) on a reply it did not expect.
 * Connections through libsluice, with the same STATS polling, are in
 * harness_sluice.h.
 */
#ifndef SLUICE_HARNESS_H
#define SLUICE_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

/* How long tc_await_stat() polls before it fails the test. */
#define TC_AWAIT_MS 3000

struct daemon {
	pid_t pid;	   /* 0 when SLUICE_TEST_ADDR is used */
	int port;
	int tls_port; /* harness_start_tls(): its TLS listener */
	char host[64];
	int log_fd;	   /* read end of the daemon's stderr */
	bool drainer_started;
	unsigned long drainer; /* pthread_t of the log copier */
	char tag[16]; /* harness_start_args(): put before each log line */
	unsigned long reloads; /* harness_reloads() */
};

/*
 * Start sluiced with extra arguments (NULL-terminated list, may be
 * NULL).  Fails the test (ck_abort) if it does not come up.
 */
void harness_start(struct daemon *d, const char *const *extra);

/*
 * harness_start() for a daemon whose config (in extra) has a TLS
 * listener: waits for its port too, into d->tls_port.  With
 * SLUICE_TEST_ADDR, SLUICE_TEST_TLS_PORT names it.
 */
void harness_start_tls(struct daemon *d, const char *const *extra);

/*
 * Start sluiced with exactly these arguments (NULL-terminated; no "-l"
 * or "-p" added, so its config decides where it listens), to be reached
 * at host; d->port is its first plain listener's.  SLUICE_TEST_ADDR does
 * not apply.  d->tag, if the caller set it, starts each line of the
 * daemon's log.  Fails the test if it does not come up.
 */
void harness_start_args(struct daemon *d, const char *host,
    const char *const *args);

/*
 * harness_start() with a config file (-c) holding `json`; the file is
 * gone once the daemon listens (it has read it by then).
 */
void harness_start_with_config(struct daemon *d, const char *json);

/*
 * Stop the daemon at once (SIGTERM, then SIGINT to skip the graceful
 * drain), wait for it, and return its exit status (-1 if it died of a
 * signal).
 */
int harness_stop(struct daemon *d);

/* Wait for the daemon to exit by itself; its exit status as above. */
int harness_wait(struct daemon *d);

/*
 * How many times a daemon started with a tag (harness_start_args())
 * has logged "reloaded <file>" (a SIGHUP done), from its log as copied.
 */
unsigned long harness_reloads(const struct daemon *d);

/* Resident set size of the daemon in KiB. */
long harness_rss_kb(const struct daemon *d);

/* Milliseconds on the monotonic clock. */
uint64_t harness_now_ms(void);

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

/* Send a request line (tc_send adds \r\n) and expect this exact reply. */
void tc_request(struct tconn *t, const char *req, const char *want);

/*
 * Send "PUT q <len>[ <timeout>]", the body and its \r\n in one write
 * (timeout may be NULL); nothing is read back.
 */
void tc_send_put_bytes(struct tconn *t, const char *q, const void *body,
    size_t len, const char *timeout);

/* tc_send_put_bytes() of a text body without a timeout. */
void tc_send_put(struct tconn *t, const char *q, const char *body);

/* Read exactly "200 QUEUED <id>" and return the id. */
unsigned long long tc_expect_queued(struct tconn *t);

/* PUT a text body, expect 200 QUEUED; returns the id. */
unsigned long long tc_put(struct tconn *t, const char *q, const char *body);

/*
 * Read exactly "200 MSG <id> <len>" (a line with a body has no hints)
 * and the body with its \r\n; asserts the body is body[0..len) and
 * returns the id.
 */
unsigned long long tc_expect_msg_bytes(struct tconn *t, const void *body,
    size_t len);

/* tc_expect_msg_bytes() of a text body. */
unsigned long long tc_expect_msg(struct tconn *t, const char *body);

/* RESERVE from q without waiting; asserts the body, returns the id. */
unsigned long long tc_reserve(struct tconn *t, const char *q, const char *body);

/* ACK id, expect "200 ACKED". */
void tc_ack(struct tconn *t, unsigned long long id);

/* NACK id, expect "200 REQUEUED" (and nothing else on the line). */
void tc_nack(struct tconn *t, unsigned long long id);

/* Assert the server closes the connection (EOF before any more bytes). */
void tc_expect_closed(struct tconn *t);

/* Close t with an RST, as a crashed process does: nothing is flushed. */
void tc_close_rst(struct tconn *t);

/* True when the connection has no byte to read within ms milliseconds. */
bool tc_quiet(struct tconn *t, int ms);

/* Send "PING" and wait for "200 PONG": everything before it is done. */
void tc_sync(struct tconn *t);

/*
 * STATS <q> (server-wide when q is NULL) as a JSON object the caller
 * json_decref()s; NULL when the daemon answers "404 NO_QUEUE <q>".
 */
json_t *tc_stats(struct tconn *t, const char *q);

/* One integer field of STATS [q]; the queue must exist. */
long long tc_stat(struct tconn *t, const char *q, const char *field);

/*
 * Poll STATS [q] on t until field equals want (a queue that does not
 * exist yet counts as not yet); fails the test after TC_AWAIT_MS.
 */
void tc_await_stat(struct tconn *t, const char *q, const char *field,
    long long want);

/* An integer field (never negative) of a STATS object; fails if missing. */
long long stats_int(json_t *j, const char *field);

/* A string field of a STATS object; fails the test if missing. */
const char *stats_str(json_t *j, const char *field);

#endif
