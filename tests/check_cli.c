/*
 * check_cli.c - the sluice command-line tool ($SLUICE_CLI) end to end,
 * run with fork/exec and pipes against the real sluiced: lines round
 * trip exactly, exit statuses (0, 1, 64, 69, 75) with one line on
 * stderr, JSON that parses, --help for every command, reserve's ACK
 * and NACK, bench's report, and a chained pipeline
 *
 *   sluice put -l a < test  |  sluice get -f a | tr a-z A-Z | sluice put -l b
 *
 * with the test as the slow consumer of b: backpressure must reach the
 * test's own writes into the first producer, both queues stay within
 * their capacity, and every line arrives once, transformed, in order.
 *
 * The end of a stream (protocol 1.1) runs through a three-stage
 * pipeline that ends by itself,
 *
 *   seq 1 200000 | sluice put -l --close a
 *   sluice get -f a | tr 0-9 a-j | sluice put -l --close b
 *   sluice get -f b                        (read by the test)
 *
 * with every stage exiting 0 and the output exact; a relay killed at
 * random moments loses nothing; a poison message is dead-lettered while
 * the worker goes on.
 *
 * The test sets SLUICE_HOST and SLUICE_PORT for the tools it runs, and
 * uses libsluice itself to set up queues, poll STATS and consume.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <pty.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "harness_sluice.h"
#include "sluice.h"

#define EX_EMPTY 2
#define EX_USAGE 64
#define EX_NOINPUT 66
#define EX_UNAVAILABLE 69
#define EX_TEMPFAIL 75
#define EX_NOPERM 77
#define EX_FAILED 1

/* How many STATS polls the chain test makes, and the pause between. */
#define AWAIT_POLLS 5000
#define AWAIT_PAUSE_US 1000
/* How long the test waits for a tool's output or exit. */
#define IO_WAIT_MS 10000

static struct daemon d;

static void
daemon_setup(void)
{
	char port[16];

	harness_start(&d, NULL);
	snprintf(port, sizeof port, "%d", d.port);
	setenv("SLUICE_HOST", d.host, 1);
	setenv("SLUICE_PORT", port, 1);
	unsetenv("SLUICE_AUTH");
}

static void
daemon_teardown(void)
{
	ck_assert_int_eq(harness_stop(&d), 0);
}

static const char *
cli_path(void)
{
	const char *p = getenv("SLUICE_CLI");

	ck_assert_msg(p != NULL, "SLUICE_CLI must name the sluice binary");
	return p;
}

/*
 * Run argv with its stdin, stdout and stderr on the given descriptors
 * (-1: inherit).  Every other descriptor is closed in the child, so
 * pipe ends the test holds do not keep a reader from seeing the end.
 */
static pid_t
spawn(const char *const *argv, int in, int out, int err)
{
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid > 0)
		return pid;
	if (in >= 0)
		dup2(in, STDIN_FILENO);
	if (out >= 0)
		dup2(out, STDOUT_FILENO);
	if (err >= 0)
		dup2(err, STDERR_FILENO);
	for (int fd = 3; fd < 1024; fd++)
		close(fd);
	signal(SIGPIPE, SIG_DFL);
	execvp(argv[0], (char *const *)argv);
	fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* Wait for a process; its exit status, or 128 + signal. */
static int
reap(pid_t pid)
{
	int st;

	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* A pipe whose buffer is one page: backpressure shows after few lines. */
static void
small_pipe(int fds[2])
{
	ck_assert_int_eq(pipe(fds), 0);
	ck_assert_int_ge(fcntl(fds[1], F_SETPIPE_SZ, 4096), 4096);
}

/* What a finished run of the tool printed. */
struct output {
	char *out;
	size_t out_len;
	char *err;
	size_t err_len;
};

static void
output_free(struct output *o)
{
	free(o->out);
	free(o->err);
}

/* Read what fd has into a growing, NUL-terminated buffer; false at EOF. */
static bool
drain_into(int fd, char **buf, size_t *len)
{
	char chunk[65536];
	ssize_t n = read(fd, chunk, sizeof chunk);

	if (n <= 0)
		return false;
	*buf = realloc(*buf, *len + (size_t)n + 1);
	memcpy(*buf + *len, chunk, (size_t)n);
	*len += (size_t)n;
	(*buf)[*len] = '\0';
	return true;
}

/*
 * Run "sluice ARGS..." (NULL-terminated) with `in` as its stdin, collect
 * stdout and stderr, and return its exit status.
 */
static int
run(struct output *o, const char *in, size_t in_len, ...)
{
	const char *argv[32];
	int ip[2], op[2], ep[2], argc = 0;
	struct pollfd pf[3];
	size_t off = 0;
	va_list ap;
	pid_t pid;

	memset(o, 0, sizeof *o);
	o->out = calloc(1, 1);
	o->err = calloc(1, 1);
	argv[argc++] = cli_path();
	va_start(ap, in_len);
	while ((argv[argc] = va_arg(ap, const char *)) != NULL)
		argc++;
	va_end(ap);
	ck_assert(pipe(ip) == 0 && pipe(op) == 0 && pipe(ep) == 0);
	pid = spawn(argv, ip[0], op[1], ep[1]);
	close(ip[0]);
	close(op[1]);
	close(ep[1]);
	if (in == NULL || in_len == 0) {
		close(ip[1]);
		ip[1] = -1;
	} else {
		/* Never block on the tool's stdin while it waits on us. */
		fcntl(ip[1], F_SETFL, O_NONBLOCK);
	}
	pf[0] = (struct pollfd){ op[0], POLLIN, 0 };
	pf[1] = (struct pollfd){ ep[0], POLLIN, 0 };
	pf[2] = (struct pollfd){ ip[1], POLLOUT, 0 };
	while (pf[0].fd >= 0 || pf[1].fd >= 0) {
		ck_assert_msg(poll(pf, 3, IO_WAIT_MS) > 0, "sluice hangs");
		if (pf[0].revents && !drain_into(op[0], &o->out, &o->out_len))
			pf[0].fd = -1;
		if (pf[1].revents && !drain_into(ep[0], &o->err, &o->err_len))
			pf[1].fd = -1;
		if (pf[2].revents) {
			ssize_t n = write(ip[1], in + off, in_len - off);
			if (n > 0)
				off += (size_t)n;
			if ((n < 0 && errno != EAGAIN) || off == in_len) {
				close(ip[1]);
				pf[2].fd = -1;
			}
		}
	}
	if (pf[2].fd >= 0)
		close(ip[1]);
	close(op[0]);
	close(ep[0]);
	return reap(pid);
}

/* Assert stderr holds exactly one line, mentioning `word`. */
static void
assert_one_error_line(const struct output *o, const char *word)
{
	const char *nl = strchr(o->err, '\n');

	ck_assert_msg(nl != NULL && nl[1] == '\0',
	    "stderr is not one line: \"%s\"", o->err);
	ck_assert_msg(strncmp(o->err, "sluice: ", 8) == 0, "stderr: %s",
	    o->err);
	ck_assert_msg(strstr(o->err, word) != NULL,
	    "stderr \"%s\" does not mention \"%s\"", o->err, word);
}

/* ---- put and get ------------------------------------------------------ */

START_TEST(test_lines_round_trip_exactly_through_put_l_and_get_n)
{
	static const char in[] =
	    "first\n"
	    "\n"
	    "  spaces  around  \n"
	    "tab\there\n"
	    "carriage\r\n"
	    "caf\xc3\xa9\n"
	    "last, without newline";
	static const char want[] =
	    "first\n\n  spaces  around  \ntab\there\ncarriage\r\n"
	    "caf\xc3\xa9\nlast, without newline\n";
	struct output o;

	ck_assert_int_eq(run(&o, in, sizeof in - 1, "put", "-l", "lines",
			     NULL), 0);
	ck_assert_str_eq(o.err, "");
	output_free(&o);
	ck_assert_int_eq(run(&o, NULL, 0, "get", "-n", "100", "lines", NULL),
	    0);
	ck_assert_str_eq(o.out, want);
	ck_assert_str_eq(o.err, "");
	output_free(&o);
}
END_TEST

START_TEST(test_many_lines_round_trip_in_order)
{
	size_t n = 20000, cap = n * 8, len = 0;
	char *in = malloc(cap);
	struct output o;

	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(in + len, cap - len, "%zu\n", i);
	ck_assert_int_eq(run(&o, NULL, 0, "create", "--capacity", "20000",
			     "many", NULL), 0);
	output_free(&o);
	ck_assert_int_eq(run(&o, in, len, "put", "-l", "-w", "16", "many",
			     NULL), 0);
	output_free(&o);
	ck_assert_int_eq(run(&o, NULL, 0, "get", "-n", "100000", "many",
			     NULL), 0);
	ck_assert_uint_eq(o.out_len, len);
	ck_assert(memcmp(o.out, in, len) == 0);
	output_free(&o);
	free(in);
}
END_TEST

START_TEST(test_put_argument_and_stdin_are_one_message_each)
{
	struct output o;

	ck_assert_int_eq(run(&o, NULL, 0, "put", "-i", "one", "hello world",
			     NULL), 0);
	ck_assert_str_eq(o.out, "1\n");
	output_free(&o);
	ck_assert_int_eq(run(&o, "two\nlines\n", 10, "put", "one", NULL), 0);
	output_free(&o);
	ck_assert_int_eq(run(&o, NULL, 0, "get", "-r", "-n", "5", "one",
			     NULL), 0);
	ck_assert_str_eq(o.out, "hello worldtwo\nlines\n");
	output_free(&o);
	ck_assert_int_eq(run(&o, NULL, 0, "get", "-i", "one", NULL), EX_EMPTY);
	assert_one_error_line(&o, "no message");
	output_free(&o);
}
END_TEST

START_TEST(test_put_into_full_reject_queue_exits_75)
{
	struct output o;

	ck_assert_int_eq(run(&o, NULL, 0, "create", "--capacity", "1",
			     "--policy", "reject", "r", NULL), 0);
	output_free(&o);
	ck_assert_int_eq(run(&o, NULL, 0, "put", "r", "a", NULL), 0);
	output_free(&o);
	ck_assert_int_eq(run(&o, NULL, 0, "put", "r", "b", NULL), EX_TEMPFAIL);
	assert_one_error_line(&o, "503 FULL r");
	output_free(&o);
	ck_assert_int_eq(run(&o, "x\ny\n", 4, "put", "-l", "r", NULL),
	    EX_TEMPFAIL);
	ck_assert_ptr_nonnull(strstr(o.err, "0 of 2 lines"));
	output_free(&o);
}
END_TEST

/*
 * A server at its queue limit refuses for now (75) and the message says
 * which limit: the library's own result, not "busy".
 */
START_TEST(test_create_beyond_the_queue_limit_exits_75)
{
	struct output o;
	char port[16];

	ck_assert_int_eq(harness_stop(&d), 0);
	harness_start_with_config(&d, "{\"max_queues\": 1}");
	snprintf(port, sizeof port, "%d", d.port);
	setenv("SLUICE_PORT", port, 1);
	ck_assert_int_eq(run(&o, NULL, 0, "create", "one", NULL), 0);
	output_free(&o);
	ck_assert_int_eq(run(&o, NULL, 0, "create", "two", NULL), EX_TEMPFAIL);
	assert_one_error_line(&o, "limit of queues");
	ck_assert_ptr_nonnull(strstr(o.err, "503 TOO_MANY_QUEUES"));
	output_free(&o);
}
END_TEST

START_TEST(test_put_with_timeout_on_full_block_queue_exits_75)
{
	struct output o;

	ck_assert_int_eq(run(&o, NULL, 0, "create", "-c", "1", "b", NULL), 0);
	output_free(&o);
	ck_assert_int_eq(run(&o, NULL, 0, "put", "b", "a", NULL), 0);
	output_free(&o);
	ck_assert_int_eq(run(&o, NULL, 0, "put", "-t", "0", "b", "x", NULL),
	    EX_TEMPFAIL);
	assert_one_error_line(&o, "full");
	output_free(&o);
}
END_TEST

START_TEST(test_put_lines_into_drop_newest_queue_counts_the_dropped)
{
	struct output o;

	ck_assert_int_eq(run(&o, NULL, 0, "create", "-c", "2", "-P",
			     "drop-newest", "dn", NULL), 0);
	output_free(&o);
	ck_assert_int_eq(run(&o, "1\n2\n3\n4\n", 8, "put", "-l", "dn", NULL),
	    0);
	assert_one_error_line(&o, "2 of 4 lines were dropped");
	output_free(&o);
}
END_TEST

/* get -f flushes before it waits: each message reaches the pipe before
 * the next is put, with no line buffering to count on. */
START_TEST(test_get_follow_streams_each_message_as_it_arrives)
{
	const char *argv[] = { cli_path(), "get", "-f", "-n", "3", "live",
		NULL };
	struct sluice_ctx *c = sc_open(&d);
	int op[2];
	char buf[64], want[16];
	pid_t pid;

	/* A follower needs its queue to exist (get never creates one). */
	ck_assert_int_eq(sluice_create(c, "live", NULL), SLUICE_OK);
	ck_assert_int_eq(pipe(op), 0);
	pid = spawn(argv, -1, op[1], -1);
	close(op[1]);
	for (int i = 0; i < 3; i++) {
		struct pollfd pfd = { op[0], POLLIN, 0 };
		int n = snprintf(want, sizeof want, "msg %d\n", i);
		ck_assert_int_eq(sluice_put(c, "live", want, (size_t)n - 1,
		                     SLUICE_FOREVER, NULL),
		    SLUICE_OK);
		ck_assert_int_eq(poll(&pfd, 1, IO_WAIT_MS), 1);
		ck_assert_int_eq(read(op[0], buf, sizeof buf), n);
		ck_assert_mem_eq(buf, want, (size_t)n);
	}
	ck_assert_int_eq(reap(pid), 0);
	close(op[0]);
	sluice_free(c);
}
END_TEST

/* put -l sends what it has before it waits for more input: a line
 * reaches the queue while the tool's stdin is still open. */
START_TEST(test_put_lines_sends_each_line_before_waiting_for_the_next)
{
	const char *argv[] = { cli_path(), "put", "-l", "trickle", NULL };
	struct sluice_ctx *c = sc_open(&d);
	struct sluice_msg *m;
	char line[16];
	int ip[2];
	pid_t pid;

	ck_assert_int_eq(pipe(ip), 0);
	pid = spawn(argv, ip[0], -1, -1);
	close(ip[0]);
	for (int i = 0; i < 3; i++) {
		int n = snprintf(line, sizeof line, "line %d\n", i);
		ck_assert_int_eq(write(ip[1], line, (size_t)n), n);
		ck_assert_int_eq(sluice_get(c, "trickle", IO_WAIT_MS / 2, &m),
		    SLUICE_OK);
		ck_assert_mem_eq(m->body, line, (size_t)n - 1);
		sluice_msg_free(m);
	}
	close(ip[1]);
	ck_assert_int_eq(reap(pid), 0);
	sluice_free(c);
}
END_TEST

/* ---- reserve ---------------------------------------------------------- */

START_TEST(test_reserve_acks_when_the_command_succeeds_and_nacks_otherwise)
{
	struct sluice_ctx *c = sc_open(&d);
	struct output o;

	ck_assert_int_eq(sluice_put(c, "w", "ok", 2, 0, NULL), SLUICE_OK);
	ck_assert_int_eq(sluice_put(c, "w", "bad", 3, 0, NULL), SLUICE_OK);
	ck_assert_int_eq(run(&o, NULL, 0, "reserve", "w", "--", "sh", "-c",
			     "read x; echo \"$SLUICE_ID:$x\"; "
			     "test \"$x\" = ok", NULL), 0);
	ck_assert_str_eq(o.out, "1:ok\n");
	output_free(&o);
	ck_assert_int_eq(sc_stat(c, "w", "acks"), 1);
	ck_assert_int_eq(run(&o, NULL, 0, "reserve", "w", "--", "sh", "-c",
			     "read x; test \"$x\" = ok", NULL), 1);
	assert_one_error_line(&o, "given back");
	output_free(&o);
	ck_assert_int_eq(sc_stat(c, "w", "acks"), 1);
	ck_assert_int_eq(sc_stat(c, "w", "depth"), 1);
	ck_assert_int_eq(sc_stat(c, "w", "reserved"), 0);
	/* Without a command: printed, then acknowledged. */
	ck_assert_int_eq(run(&o, NULL, 0, "reserve", "-i", "w", NULL), 0);
	ck_assert_str_eq(o.out, "2 bad\n");
	output_free(&o);
	ck_assert_int_eq(sc_stat(c, "w", "acks"), 2);
	ck_assert_int_eq(sc_stat(c, "w", "depth"), 0);
	sluice_free(c);
}
END_TEST

/* ---- queues, stats, exit statuses -------------------------------------- */

/*
 * A field of queue q as a global STATS shows it to a new connection
 * (-1: q not listed).  The server may answer a global STATS from a
 * copy up to 250 ms old (PROTOCOL.md); the tools that read it (top,
 * queues, stats) each run on a new connection, so the tests wait for
 * that copy to show what they set up.
 */
static long long
global_stat(const char *q, const char *field)
{
	struct sluice_ctx *c = sc_open(&d);
	json_t *j, *row;
	long long v = -1;
	char *text;
	size_t len;

	ck_assert_int_eq(sluice_stats(c, NULL, &text, &len), SLUICE_OK);
	j = json_loadb(text, len, 0, NULL);
	free(text);
	ck_assert_ptr_nonnull(j);
	row = json_object_get(json_object_get(j, "queues"), q);
	if (row != NULL)
		v = json_integer_value(json_object_get(row, field));
	json_decref(j);
	sluice_free(c);
	return v;
}

static void
await_global_stat(const char *q, const char *field, long long want)
{
	int i;

	for (i = 0; i < AWAIT_POLLS && global_stat(q, field) != want; i++)
		usleep(AWAIT_PAUSE_US);
	ck_assert_msg(i < AWAIT_POLLS, "global STATS: %s %s never %lld", q,
	    field, want);
}

START_TEST(test_stats_output_is_json_when_piped_and_with_json)
{
	struct output o;
	json_error_t e;
	json_t *j;

	ck_assert_int_eq(run(&o, NULL, 0, "put", "s", "abc", NULL), 0);
	output_free(&o);
	await_global_stat("s", "depth", 1);
	ck_assert_int_eq(run(&o, NULL, 0, "stats", NULL), 0);
	j = json_loads(o.out, 0, &e);
	ck_assert_msg(j != NULL, "not JSON: %s", o.out);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(
			     json_object_get(j, "queues"), "s"), "depth")), 1);
	json_decref(j);
	output_free(&o);
	ck_assert_int_eq(run(&o, NULL, 0, "stats", "--json", "s", NULL), 0);
	j = json_loads(o.out, 0, &e);
	ck_assert_msg(j != NULL, "not JSON: %s", o.out);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "bytes")), 3);
	json_decref(j);
	output_free(&o);
	ck_assert_int_eq(run(&o, NULL, 0, "stats", "missing", NULL),
	    EX_NOINPUT);
	assert_one_error_line(&o, "no such queue");
	output_free(&o);
}
END_TEST

START_TEST(test_queue_commands_report_their_results)
{
	struct output o;

	ck_assert_int_eq(run(&o, NULL, 0, "create", "-c", "5", "q", NULL), 0);
	output_free(&o);
	ck_assert_int_eq(run(&o, NULL, 0, "create", "-c", "5", "q", NULL), 0);
	output_free(&o);
	ck_assert_int_eq(run(&o, NULL, 0, "create", "-c", "6", "q", NULL), 1);
	assert_one_error_line(&o, "409 CONFLICT q");
	output_free(&o);
	ck_assert_int_eq(run(&o, "a\nb\n", 4, "put", "-l", "q", NULL), 0);
	output_free(&o);
	ck_assert_int_eq(run(&o, NULL, 0, "purge", "q", NULL), 0);
	ck_assert_str_eq(o.out, "2\n");
	output_free(&o);
	ck_assert_int_eq(run(&o, NULL, 0, "delete", "q", NULL), 0);
	output_free(&o);
	ck_assert_int_eq(run(&o, NULL, 0, "delete", "q", NULL), EX_NOINPUT);
	assert_one_error_line(&o, "no such queue");
	output_free(&o);
	ck_assert_int_eq(run(&o, NULL, 0, "ack", "1", NULL), 1);
	assert_one_error_line(&o, "404 NO_MSG 1");
	output_free(&o);
	ck_assert_int_eq(run(&o, NULL, 0, "ping", NULL), 0);
	ck_assert_ptr_nonnull(strstr(o.out, "PONG"));
	output_free(&o);
}
END_TEST

START_TEST(test_nothing_listening_exits_69)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof sin;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct output o;
	char port[16];

	/* Bound, never listening: connections to it are refused. */
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	snprintf(port, sizeof port, "%d", ntohs(sin.sin_port));
	ck_assert_int_eq(run(&o, NULL, 0, "-H", "127.0.0.1", "-p", port,
			     "ping", NULL), EX_UNAVAILABLE);
	assert_one_error_line(&o, "cannot connect");
	output_free(&o);
	setenv("SLUICE_PORT", port, 1);
	ck_assert_int_eq(run(&o, "x\n", 2, "put", "-l", "q", NULL),
	    EX_UNAVAILABLE);
	output_free(&o);
	close(fd);
}
END_TEST

START_TEST(test_usage_errors_exit_64)
{
	struct output o;

	ck_assert_int_eq(run(&o, NULL, 0, NULL), EX_USAGE);
	ck_assert_ptr_nonnull(strstr(o.err, "usage: sluice"));
	output_free(&o);
	ck_assert_int_eq(run(&o, NULL, 0, "frobnicate", NULL), EX_USAGE);
	output_free(&o);
	ck_assert_int_eq(run(&o, NULL, 0, "put", NULL), EX_USAGE);
	output_free(&o);
	ck_assert_int_eq(run(&o, NULL, 0, "get", "-n", "many", "q", NULL),
	    EX_USAGE);
	output_free(&o);
	ck_assert_int_eq(run(&o, NULL, 0, "put", "bad name", "x", NULL),
	    EX_USAGE);
	assert_one_error_line(&o, "queue name");
	output_free(&o);
	ck_assert_int_eq(run(&o, NULL, 0, "create", "--policy", "maybe", "q",
			     NULL), EX_USAGE);
	output_free(&o);
	ck_assert_int_eq(run(&o, NULL, 0, "-p", "0", "ping", NULL), EX_USAGE);
	output_free(&o);
}
END_TEST

START_TEST(test_every_command_has_help)
{
	static const char *const cmds[] = { "put", "get", "reserve", "ack",
		"nack", "create", "delete", "purge", "close", "relay", "stats",
		"queues", "top", "peek", "move", "ping", "bench" };
	struct output o;

	ck_assert_int_eq(run(&o, NULL, 0, "--help", NULL), 0);
	for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++)
		ck_assert_msg(strstr(o.out, cmds[i]) != NULL,
		    "sluice --help does not list %s", cmds[i]);
	output_free(&o);
	for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
		char want[64];
		ck_assert_int_eq(run(&o, NULL, 0, cmds[i], "--help", NULL), 0);
		snprintf(want, sizeof want, "usage: sluice %s", cmds[i]);
		ck_assert_msg(strstr(o.out, want) != NULL || (strcmp(cmds[i],
			"nack") == 0 && strstr(o.out, "sluice nack")),
		    "%s --help: %s", cmds[i], o.out);
		output_free(&o);
	}
}
END_TEST

START_TEST(test_bench_json_reports_every_message_exactly_once)
{
	struct sluice_ctx *c = sc_open(&d);
	struct output o;
	json_error_t e;
	json_t *j;

	ck_assert_int_eq(run(&o, NULL, 0, "bench", "-P", "2", "-C", "2", "-n",
			     "3000", "-s", "100", "-w", "8", "--capacity",
			     "50", "-q", "b1", "--json", NULL), 0);
	j = json_loads(o.out, 0, &e);
	ck_assert_msg(j != NULL, "not JSON: %s", o.out);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "queued")),
	    3000);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "received")),
	    3000);
	ck_assert(json_is_true(json_object_get(json_object_get(j,
	    "exactly_once"), "ok")));
	ck_assert(json_is_object(json_object_get(j, "latency_ms")));
	json_decref(j);
	output_free(&o);
	/* The bench queue is gone afterwards. */
	ck_assert_int_eq(sc_stat(c, "b1", "depth"), -1);
	sluice_free(c);
}
END_TEST

/*
 * Through a capacity-1 queue every GET finds the queue empty or holding
 * the one message just admitted: the consumers' short waiting GETs
 * (and their end once all has arrived) must still take every message
 * exactly once.
 */
START_TEST(test_bench_through_a_capacity_one_queue_is_exactly_once)
{
	struct output o;
	json_error_t e;
	json_t *j;

	ck_assert_int_eq(run(&o, NULL, 0, "bench", "-C", "2", "-n", "2000",
	                     "--capacity", "1", "--json", NULL),
	    0);
	j = json_loads(o.out, 0, &e);
	ck_assert_msg(j != NULL, "not JSON: %s", o.out);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "received")),
	    2000);
	ck_assert(json_is_true(
	    json_object_get(json_object_get(j, "exactly_once"), "ok")));
	json_decref(j);
	output_free(&o);
}
END_TEST

START_TEST(test_bench_under_reject_counts_refusals_and_checks_the_rest)
{
	struct output o;
	json_error_t e;
	json_t *j;

	ck_assert_int_eq(run(&o, NULL, 0, "bench", "-n", "2000", "--policy",
			     "reject", "--capacity", "4", "--json", NULL), 0);
	j = json_loads(o.out, 0, &e);
	ck_assert_msg(j != NULL, "not JSON: %s", o.out);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "queued")) +
		json_integer_value(json_object_get(j, "rejected")),
	    2000);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "queued")),
	    json_integer_value(json_object_get(j, "received")));
	ck_assert(json_is_true(json_object_get(json_object_get(j,
	    "exactly_once"), "ok")));
	json_decref(j);
	output_free(&o);
}
END_TEST

/* ---- the chained pipeline -------------------------------------------- */

#define CHAIN_LINES 3000
#define CHAIN_CAPACITY 8
/* Each line is this long: a few lines fill a one-page pipe. */
#define CHAIN_LINE_LEN 100

static void
chain_line(int i, char *buf)
{
	int n = snprintf(buf, CHAIN_LINE_LEN + 1, "line %05d ", i);

	memset(buf + n, 'a' + i % 26, (size_t)(CHAIN_LINE_LEN - n));
	buf[CHAIN_LINE_LEN] = '\0';
}

/* The test's writer into the first producer's stdin. */
struct feeder {
	int fd;
	atomic_int written;	/* lines whose write() returned */
};

static void *
feed(void *arg)
{
	struct feeder *f = arg;
	char line[CHAIN_LINE_LEN + 2];

	for (int i = 0; i < CHAIN_LINES; i++) {
		chain_line(i, line);
		line[CHAIN_LINE_LEN] = '\n';
		if (write(f->fd, line, CHAIN_LINE_LEN + 1) !=
		    CHAIN_LINE_LEN + 1)
			break;
		atomic_fetch_add(&f->written, 1);
	}
	close(f->fd);
	return NULL;
}

/* Both queues within their bound; true when both have a parked PUT. */
static bool
chain_parked(struct sluice_ctx *c)
{
	ck_assert_int_le(sc_stat(c, "a", "depth"), CHAIN_CAPACITY);
	ck_assert_int_le(sc_stat(c, "b", "depth"), CHAIN_CAPACITY);
	return sc_stat(c, "a", "blocked_producers") == 1 &&
	    sc_stat(c, "b", "blocked_producers") == 1;
}

START_TEST(test_chained_pipeline_is_throttled_by_its_slow_consumer)
{
	char count[16], want[CHAIN_LINE_LEN + 1];
	const char *put_a[] = { cli_path(), "put", "-l", "a", NULL };
	const char *get_a[] = { cli_path(), "get", "-f", "-n", count, "a",
		NULL };
	const char *tr[] = { "tr", "a-z", "A-Z", NULL };
	const char *put_b[] = { cli_path(), "put", "-l", "b", NULL };
	struct sluice_ctx *c = sc_open(&d);
	struct feeder f = { -1, 0 };
	int in[2], x[2], y[2], i;
	pid_t pids[4];
	pthread_t th;
	struct sluice_msg *m;

	snprintf(count, sizeof count, "%d", CHAIN_LINES);
	for (const char *q = "a"; q != NULL; q = q[0] == 'a' ? "b" : NULL) {
		struct sluice_queue_opts *o = sluice_queue_opts_new();
		ck_assert_int_eq(sluice_queue_opts_capacity(o, CHAIN_CAPACITY),
		    SLUICE_OK);
		ck_assert_int_eq(sluice_queue_opts_policy(o, "block"),
		    SLUICE_OK);
		ck_assert_int_eq(sluice_create(c, q, o), SLUICE_OK);
		sluice_queue_opts_free(o);
	}
	small_pipe(in);
	small_pipe(x);
	small_pipe(y);
	pids[0] = spawn(put_a, in[0], -1, -1);
	pids[1] = spawn(get_a, -1, x[1], -1);
	pids[2] = spawn(tr, x[0], y[1], -1);
	pids[3] = spawn(put_b, y[0], -1, -1);
	close(in[0]);
	close(x[0]);
	close(x[1]);
	close(y[0]);
	close(y[1]);
	f.fd = in[1];
	ck_assert_int_eq(pthread_create(&th, NULL, feed, &f), 0);

	/* Nobody takes from b: b fills, its producer parks, the chain
	 * backs up into a, a's producer parks, and the test's writes stop. */
	for (i = 0; i < AWAIT_POLLS && !chain_parked(c); i++)
		usleep(AWAIT_PAUSE_US);
	ck_assert_msg(i < AWAIT_POLLS, "the chain never backed up");
	ck_assert_int_lt(atomic_load(&f.written), CHAIN_LINES);

	/* The slow consumer: one message at a time, bounds checked. */
	for (i = 0; i < CHAIN_LINES; i++) {
		ck_assert_int_eq(sluice_get(c, "b", IO_WAIT_MS / 2, &m),
		    SLUICE_OK);
		chain_line(i, want);
		for (char *p = want; *p; p++)
			if (*p >= 'a' && *p <= 'z')
				*p = (char)(*p - 'a' + 'A');
		ck_assert_str_eq(m->body, want);
		sluice_msg_free(m);
		if (i % 16 == 0)
			(void)chain_parked(c);
	}
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(atomic_load(&f.written), CHAIN_LINES);
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(reap(pids[i]), 0);
	ck_assert_int_eq(sluice_get(c, "b", 0, &m), SLUICE_EMPTY);
	ck_assert_int_eq(sc_stat(c, "a", "depth"), 0);
	ck_assert_int_eq(sc_stat(c, "a", "puts"), CHAIN_LINES);
	ck_assert_int_eq(sc_stat(c, "b", "puts"), CHAIN_LINES);
	sluice_free(c);
}
END_TEST

/* ---- manners: options, exit statuses, terminals ------------------------ */

/* A tool run on a pseudo-terminal of a given width, as a user sees it. */
struct tty {
	pid_t pid;
	int master;
	char *out; /* all it wrote so far, without \r */
	size_t len;
};

static void
tty_spawn(struct tty *t, int cols, ...)
{
	struct winsize ws = { .ws_row = 24, .ws_col = (unsigned short)cols };
	const char *argv[32];
	int argc = 0;
	va_list ap;

	argv[argc++] = cli_path();
	va_start(ap, cols);
	while ((argv[argc] = va_arg(ap, const char *)) != NULL)
		argc++;
	va_end(ap);
	t->out = calloc(1, 1);
	t->len = 0;
	t->pid = forkpty(&t->master, NULL, NULL, &ws);
	ck_assert_int_ge(t->pid, 0);
	if (t->pid == 0) {
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
		signal(SIGPIPE, SIG_DFL);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
}

/* Read what the tool wrote, waiting up to IO_WAIT_MS; false at EOF. */
static bool
tty_read(struct tty *t)
{
	struct pollfd p = { t->master, POLLIN, 0 };
	char buf[4096];
	ssize_t n;

	ck_assert_msg(poll(&p, 1, IO_WAIT_MS) > 0, "sluice hangs: %s", t->out);
	if ((n = read(t->master, buf, sizeof buf)) <= 0)
		return false;
	t->out = realloc(t->out, t->len + (size_t)n + 1);
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] != '\r')
			t->out[t->len++] = buf[i];
	t->out[t->len] = '\0';
	return true;
}

/* Read until the output holds want. */
static void
tty_expect(struct tty *t, const char *want)
{
	while (strstr(t->out, want) == NULL)
		ck_assert_msg(tty_read(t), "no \"%s\" in: %s", want, t->out);
}

/* Type into the terminal. */
static void
tty_type(struct tty *t, const char *s)
{
	ck_assert_int_eq(write(t->master, s, strlen(s)), (ssize_t)strlen(s));
}

/* Read to the end; the exit status.  t->out stays for the asserts. */
static int
tty_finish(struct tty *t)
{
	while (tty_read(t))
		;
	close(t->master);
	return reap(t->pid);
}

/* Remove terminal escapes (ESC [ ... final byte) in place. */
static void
strip_escapes(char *s)
{
	char *w = s;

	while (*s != '\0') {
		if (s[0] == '\033' && s[1] == '[') {
			s += 2;
			while (*s != '\0' && (*s < 0x40 || *s > 0x7e))
				s++;
			if (*s != '\0')
				s++;
			continue;
		}
		*w++ = *s++;
	}
	*w = '\0';
}

/* Assert every line of s is at most max columns (ASCII text). */
static void
assert_lines_fit(const char *s, size_t max)
{
	while (*s != '\0') {
		size_t n = strcspn(s, "\n");
		ck_assert_msg(n <= max, "a line of %zu columns: \"%.*s\"", n,
		    (int)n, s);
		s += n + (s[n] == '\n');
	}
}

/* A port where nothing listens (bound, never listening): fd to close. */
static int
dead_port(char *port, size_t size)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof sin;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	snprintf(port, size, "%d", ntohs(sin.sin_port));
	return fd;
}

START_TEST(test_global_options_go_before_or_after_the_command)
{
	char port[16], dead[16];
	int fd = dead_port(dead, sizeof dead);
	struct output o;

	/* The environment points nowhere: only the flags can work. */
	snprintf(port, sizeof port, "%d", d.port);
	setenv("SLUICE_PORT", dead, 1);
	ck_assert_int_eq(run(&o, NULL, 0, "--port", port, "ping", NULL), 0);
	output_free(&o);
	ck_assert_int_eq(run(&o, NULL, 0, "ping", "--host", d.host, "--port",
	                     port, NULL),
	    0);
	output_free(&o);
	ck_assert_int_eq(run(&o, NULL, 0, "put", "g", "x", "-p", port, NULL),
	    0);
	output_free(&o);
	ck_assert_int_eq(run(&o, NULL, 0, "get", "-H", d.host, "g", "--port=8",
	                     "-n", "1", "--port", port, NULL),
	    0);
	ck_assert_str_eq(o.out, "x\n");
	output_free(&o);
	/* Not parsed past "--": reserve's command keeps its -p. */
	ck_assert_int_eq(run(&o, NULL, 0, "put", "g", "y", "-p", port, NULL),
	    0);
	output_free(&o);
	ck_assert_int_eq(run(&o, NULL, 0, "reserve", "g", "-p", port, "--",
	                     "sh", "-c", "cat; echo \" $0\"", "-p", NULL),
	    0);
	ck_assert_str_eq(o.out, "y -p\n");
	output_free(&o);
	/* The TLS options are global ones too, wherever they come. */
	ck_assert_int_eq(run(&o, NULL, 0, "ping", "--cacert", "/dev/null",
	                     NULL),
	    EX_USAGE);
	assert_one_error_line(&o, "--cacert needs --tls");
	output_free(&o);
	/* redis-cli's -h HOST: a hint, not the help. */
	ck_assert_int_eq(run(&o, NULL, 0, "-h", "db1", "ping", NULL), EX_USAGE);
	assert_one_error_line(&o, "-H db1");
	ck_assert_str_eq(o.out, "");
	output_free(&o);
	ck_assert_int_eq(run(&o, NULL, 0, "-h", NULL), 0);
	ck_assert_ptr_nonnull(strstr(o.out, "--host"));
	output_free(&o);
	close(fd);
}
END_TEST

START_TEST(test_option_errors_are_one_line_that_points_at_help)
{
	static const char *const bad[][4] = {
		{ "get", "-x", "q", NULL },
		{ "put", "--bogus", "q", NULL },
		{ "get", "q", "-t", NULL },
		{ "-Z", "ping", NULL, NULL },
		{ "stats", "--wide=3", NULL, NULL },
		{ "frobnicate", NULL, NULL, NULL },
	};
	struct output o;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ck_assert_int_eq(run(&o, NULL, 0, bad[i][0], bad[i][1],
		                     bad[i][2], bad[i][3], NULL),
		    EX_USAGE);
		assert_one_error_line(&o, "--help\")");
		ck_assert_msg(strstr(o.err, "usage:") == NULL &&
		        strstr(o.err, "lt-") == NULL &&
		        strstr(o.err, ".libs") == NULL,
		    "stderr: %s", o.err);
		output_free(&o);
	}
	ck_assert_int_eq(run(&o, NULL, 0, "get", "-x", "q", NULL), EX_USAGE);
	assert_one_error_line(&o, "unknown option -x");
	output_free(&o);
	ck_assert_int_eq(run(&o, NULL, 0, "get", "q", "--timeout", NULL),
	    EX_USAGE);
	assert_one_error_line(&o, "missing after --timeout (");
	output_free(&o);
}
END_TEST

START_TEST(test_exit_statuses_tell_empty_missing_and_unauthorized_apart)
{
	char path[] = "/tmp/check_cli_token.XXXXXX", json[256];
	struct sluice_ctx *c = sc_open(&d);
	struct output o;
	int fd;

	ck_assert_int_eq(sluice_create(c, "e", NULL), SLUICE_OK);
	ck_assert_int_eq(run(&o, NULL, 0, "get", "e", NULL), EX_EMPTY);
	assert_one_error_line(&o, "no message");
	output_free(&o);
	ck_assert_int_eq(run(&o, NULL, 0, "reserve", "e", NULL), EX_EMPTY);
	output_free(&o);
	/* A typo is an error, and creates nothing. */
	ck_assert_int_eq(run(&o, NULL, 0, "get", "typo", NULL), EX_NOINPUT);
	assert_one_error_line(&o, "no such queue");
	output_free(&o);
	ck_assert_int_eq(run(&o, NULL, 0, "get", "-f", "-n", "1", "typo", NULL),
	    EX_NOINPUT);
	output_free(&o);
	ck_assert_int_eq(run(&o, NULL, 0, "reserve", "typo", NULL), EX_NOINPUT);
	output_free(&o);
	ck_assert_int_eq(sc_stat(c, "typo", "depth"), -1);
	sluice_free(c);

	ck_assert_int_eq(harness_stop(&d), 0);
	ck_assert_int_ge(fd = mkstemp(path), 0);
	ck_assert_int_eq(write(fd, "s3cret\n", 7), 7);
	close(fd);
	snprintf(json, sizeof json, "{\"auth_token_file\": \"%s\"}", path);
	harness_start_with_config(&d, json);
	unlink(path);
	snprintf(json, sizeof json, "%d", d.port);
	setenv("SLUICE_PORT", json, 1);
	ck_assert_int_eq(run(&o, NULL, 0, "put", "e", "x", NULL), EX_NOPERM);
	assert_one_error_line(&o, "not authorized");
	output_free(&o);
	setenv("SLUICE_AUTH", "wrong", 1);
	ck_assert_int_eq(run(&o, NULL, 0, "put", "e", "x", NULL), EX_NOPERM);
	output_free(&o);
	setenv("SLUICE_AUTH", "s3cret", 1);
	ck_assert_int_eq(run(&o, NULL, 0, "put", "e", "x", NULL), 0);
	/* Not a terminal: no warning about -a either. */
	output_free(&o);
	ck_assert_int_eq(run(&o, NULL, 0, "-a", "s3cret", "get", "e", NULL), 0);
	ck_assert_str_eq(o.err, "");
	output_free(&o);
}
END_TEST

START_TEST(test_get_count_zero_is_refused_and_takes_nothing)
{
	struct sluice_ctx *c = sc_open(&d);
	struct output o;

	ck_assert_int_eq(sluice_put(c, "z", "1", 1, 0, NULL), SLUICE_OK);
	ck_assert_int_eq(run(&o, NULL, 0, "get", "-n", "0", "z", NULL),
	    EX_USAGE);
	assert_one_error_line(&o, "at least 1");
	output_free(&o);
	ck_assert_int_eq(run(&o, NULL, 0, "reserve", "-n", "0", "z", NULL),
	    EX_USAGE);
	output_free(&o);
	ck_assert_int_eq(sc_stat(c, "z", "depth"), 1);
	sluice_free(c);
}
END_TEST

START_TEST(test_auth_on_the_command_line_warns_on_a_terminal)
{
	struct tty t;

	tty_spawn(&t, 80, "-a", "tok", "ping", NULL);
	ck_assert_int_eq(tty_finish(&t), 0);
	ck_assert_ptr_nonnull(strstr(t.out, "set SLUICE_AUTH instead"));
	free(t.out);
	setenv("SLUICE_AUTH", "tok", 1);
	tty_spawn(&t, 80, "ping", NULL);
	ck_assert_int_eq(tty_finish(&t), 0);
	ck_assert_ptr_null(strstr(t.out, "SLUICE_AUTH"));
	free(t.out);
}
END_TEST

START_TEST(test_get_quotes_control_bytes_on_a_terminal_unless_raw)
{
	static const char body[] = "a\033[31mb\\c\x01\x7f\xc3\xa9\xff\xc2\x9b"
	                           "\nz";
	struct sluice_ctx *c = sc_open(&d);
	struct tty t;

	ck_assert_int_eq(sluice_put(c, "esc", body, sizeof body - 1, 0, NULL),
	    SLUICE_OK);
	ck_assert_int_eq(sluice_put(c, "esc", body, sizeof body - 1, 0, NULL),
	    SLUICE_OK);
	tty_spawn(&t, 80, "get", "esc", NULL);
	ck_assert_int_eq(tty_finish(&t), 0);
	ck_assert_str_eq(t.out,
	    "a\\x1b[31mb\\\\c\\x01\\x7f\xc3\xa9\\xff\\xc2\\x9b\\nz\n");
	free(t.out);
	tty_spawn(&t, 80, "get", "--raw", "esc", NULL);
	ck_assert_int_eq(tty_finish(&t), 0);
	/* The terminal turns \n into \r\n; the \r are dropped. */
	ck_assert_str_eq(t.out, body);
	free(t.out);
	sluice_free(c);
}
END_TEST

START_TEST(test_put_on_a_terminal_says_it_reads_stdin_and_ctrl_d_puts_nothing)
{
	struct sluice_ctx *c = sc_open(&d);
	struct tty t;

	ck_assert_int_eq(sluice_create(c, "typed", NULL), SLUICE_OK);
	tty_spawn(&t, 80, "put", "typed", NULL);
	tty_expect(&t, "Ctrl-D");
	tty_type(&t, "\004");
	ck_assert_int_eq(tty_finish(&t), 1);
	ck_assert_ptr_nonnull(strstr(t.out, "nothing put"));
	free(t.out);
	ck_assert_int_eq(sc_stat(c, "typed", "puts"), 0);
	tty_spawn(&t, 80, "put", "typed", NULL);
	tty_expect(&t, "Ctrl-D");
	tty_type(&t, "hello\n\004");
	ck_assert_int_eq(tty_finish(&t), 0);
	free(t.out);
	ck_assert_int_eq(sc_stat(c, "typed", "bytes"), 6);
	sluice_free(c);
}
END_TEST

START_TEST(test_put_lines_on_a_terminal_says_it_waits_for_room)
{
	struct sluice_ctx *c = sc_open(&d);
	struct sluice_queue_opts *opts = sluice_queue_opts_new();
	struct sluice_msg *m;
	struct tty t;

	ck_assert_int_eq(sluice_queue_opts_capacity(opts, 1), SLUICE_OK);
	ck_assert_int_eq(sluice_create(c, "room", opts), SLUICE_OK);
	sluice_queue_opts_free(opts);
	tty_spawn(&t, 80, "put", "-l", "room", NULL);
	tty_expect(&t, "Ctrl-D ends it");
	tty_type(&t, "a\nb\n");
	sc_await_stat(c, "room", "blocked_producers", 1);
	tty_type(&t, "\004");
	tty_expect(&t, "room is full (1 messages): waiting for room");
	ck_assert_int_eq(sluice_get(c, "room", 0, &m), SLUICE_OK);
	ck_assert_str_eq(m->body, "a");
	sluice_msg_free(m);
	ck_assert_int_eq(tty_finish(&t), 0);
	free(t.out);
	ck_assert_int_eq(sc_stat(c, "room", "depth"), 1);
	sluice_free(c);
}
END_TEST

START_TEST(test_stats_table_fits_80_columns_unless_wide)
{
	static const char name[] =
	    "a-rather-long-queue-name-that-would-not-fit-in-the-table-at-all";
	struct sluice_ctx *c = sc_open(&d);
	struct sluice_queue_opts *opts = sluice_queue_opts_new();
	struct tty t;

	ck_assert_int_eq(sluice_queue_opts_capacity(opts, 1000000), SLUICE_OK);
	ck_assert_int_eq(sluice_queue_opts_policy(opts, "drop-oldest"),
	    SLUICE_OK);
	ck_assert_int_eq(sluice_create(c, name, opts), SLUICE_OK);
	sluice_queue_opts_free(opts);
	ck_assert_int_eq(sluice_put(c, name, "x", 1, 0, NULL), SLUICE_OK);
	await_global_stat(name, "depth", 1);
	tty_spawn(&t, 80, "stats", NULL);
	ck_assert_int_eq(tty_finish(&t), 0);
	assert_lines_fit(t.out, 79);
	ck_assert_ptr_nonnull(strstr(t.out, "1.0M"));
	ck_assert_ptr_nonnull(
	    strstr(t.out, "a-rather-long-queue-n~  drop-oldest"));
	ck_assert_ptr_nonnull(strstr(t.out, "BLOCK"));
	free(t.out);
	tty_spawn(&t, 80, "stats", "-w", NULL);
	ck_assert_int_eq(tty_finish(&t), 0);
	ck_assert_ptr_nonnull(strstr(t.out, name));
	ck_assert_ptr_nonnull(strstr(t.out, "1000000"));
	ck_assert_ptr_nonnull(strstr(t.out, "REJECTED"));
	free(t.out);
	sluice_free(c);
}
END_TEST

/* The row of queue q in a frame: its fields, false when missing. */
static bool
top_row(const char *frame, const char *q, char *bar, long *depth, long *blocked,
    long *waiting)
{
	char name[64], in[16], out[16];
	const char *line = frame;

	while (line != NULL && *line != '\0') {
		if (sscanf(line, "%63s %ld %127s %15s %15s %ld %ld", name,
		        depth, bar, in, out, blocked, waiting) == 7 &&
		    strcmp(name, q) == 0)
			return true;
		line = strchr(line, '\n');
		line = line ? line + 1 : NULL;
	}
	return false;
}

START_TEST(test_top_frame_fits_the_terminal_and_shows_waits)
{
	struct sluice_ctx *c = sc_open(&d), *p = sc_open(&d), *w = sc_open(&d);
	struct sluice_queue_opts *opts = sluice_queue_opts_new();
	char bar[128];
	long depth, blocked, waiting;
	struct output o;
	struct tty t;

	ck_assert_int_eq(sluice_queue_opts_capacity(opts, 1), SLUICE_OK);
	ck_assert_int_eq(sluice_create(c, "full", opts), SLUICE_OK);
	sluice_queue_opts_free(opts);
	ck_assert_int_eq(sluice_create(c, "idle", NULL), SLUICE_OK);
	ck_assert_int_eq(sluice_put(c, "full", "1", 1, 0, NULL), SLUICE_OK);
	/* A producer parked on the full queue, a consumer on the idle. */
	ck_assert_int_eq(sluice_append_put(p, "full", "2", 1, SLUICE_FOREVER),
	    SLUICE_OK);
	ck_assert_int_eq(sluice_flush(p), SLUICE_OK);
	ck_assert_int_eq(sluice_append_get(w, "idle", 60000), SLUICE_OK);
	ck_assert_int_eq(sluice_flush(w), SLUICE_OK);
	await_global_stat("full", "blocked_producers", 1);
	await_global_stat("idle", "waiting_consumers", 1);

	tty_spawn(&t, 80, "top", "-n", "1", "-i", "100", NULL);
	ck_assert_int_eq(tty_finish(&t), 0);
	strip_escapes(t.out);
	assert_lines_fit(t.out, 79);
	ck_assert_ptr_nonnull(strstr(t.out, "IN/s"));
	ck_assert_msg(top_row(t.out, "full", bar, &depth, &blocked, &waiting),
	    "no row for full: %s", t.out);
	ck_assert_int_eq(depth, 1);
	ck_assert_int_eq(blocked, 1);
	ck_assert_int_eq(waiting, 0);
	ck_assert_msg(strspn(bar + 1, "#") == strlen(bar) - 2, "bar %s", bar);
	ck_assert(top_row(t.out, "idle", bar, &depth, &blocked, &waiting));
	ck_assert_int_eq(depth, 0);
	ck_assert_int_eq(blocked, 0);
	ck_assert_int_eq(waiting, 1);
	ck_assert_msg(strchr(bar, '#') == NULL, "bar %s", bar);
	free(t.out);
	/* A wider terminal gets a wider bar, still within its width. */
	tty_spawn(&t, 120, "top", "-n", "1", "-i", "100", NULL);
	ck_assert_int_eq(tty_finish(&t), 0);
	strip_escapes(t.out);
	assert_lines_fit(t.out, 119);
	ck_assert(top_row(t.out, "full", bar, &depth, &blocked, &waiting));
	ck_assert_int_gt(strlen(bar), 32);
	free(t.out);
	/* Piped: frames one after another, no escapes. */
	ck_assert_int_eq(run(&o, NULL, 0, "top", "-n", "2", "-i", "100", NULL),
	    0);
	ck_assert_ptr_null(strchr(o.out, '\033'));
	ck_assert_ptr_nonnull(strstr(strstr(o.out, "QUEUE") + 1, "QUEUE"));
	output_free(&o);
	sluice_free(p);
	sluice_free(w);
	sluice_free(c);
}
END_TEST

START_TEST(test_queues_lists_every_queue_sorted)
{
	struct sluice_ctx *c = sc_open(&d);
	struct output o;

	ck_assert_int_eq(run(&o, NULL, 0, "queues", NULL), 0);
	ck_assert_str_eq(o.out, "");
	output_free(&o);
	ck_assert_int_eq(sluice_create(c, "zeta", NULL), SLUICE_OK);
	ck_assert_int_eq(sluice_create(c, "alpha", NULL), SLUICE_OK);
	ck_assert_int_eq(sluice_create(c, "mid", NULL), SLUICE_OK);
	await_global_stat("mid", "depth", 0);
	ck_assert_int_eq(run(&o, NULL, 0, "queues", NULL), 0);
	ck_assert_str_eq(o.out, "alpha\nmid\nzeta\n");
	output_free(&o);
	sluice_free(c);
}
END_TEST

START_TEST(test_peek_shows_messages_without_taking_them)
{
	struct sluice_ctx *c = sc_open(&d);
	struct output o;

	ck_assert_int_eq(sluice_put(c, "pk", "a", 1, 0, NULL), SLUICE_OK);
	ck_assert_int_eq(sluice_put(c, "pk", "b\x1b", 2, 0, NULL), SLUICE_OK);
	ck_assert_int_eq(run(&o, NULL, 0, "peek", "-i", "pk", "5", NULL), 0);
	ck_assert_str_eq(o.out, "1 a\n2 b\x1b\n");
	output_free(&o);
	ck_assert_int_eq(run(&o, NULL, 0, "peek", "pk", NULL), 0);
	ck_assert_str_eq(o.out, "a\n");
	output_free(&o);
	ck_assert_int_eq(sc_stat(c, "pk", "depth"), 2);
	ck_assert_int_eq(sc_stat(c, "pk", "gets"), 0);
	ck_assert_int_eq(run(&o, NULL, 0, "peek", "nosuch", NULL), EX_NOINPUT);
	assert_one_error_line(&o, "no such queue");
	output_free(&o);
	ck_assert_int_eq(sc_stat(c, "nosuch", "depth"), -1);
	ck_assert_int_eq(sluice_create(c, "pe", NULL), SLUICE_OK);
	ck_assert_int_eq(run(&o, NULL, 0, "peek", "pe", NULL), EX_EMPTY);
	output_free(&o);
	ck_assert_int_eq(run(&o, NULL, 0, "peek", "pk", "0", NULL), EX_USAGE);
	output_free(&o);
	ck_assert_int_eq(run(&o, NULL, 0, "peek", "pk", "101", NULL), EX_USAGE);
	output_free(&o);
	sluice_free(c);
}
END_TEST

START_TEST(test_move_moves_in_order_and_never_loses_a_message)
{
	struct sluice_ctx *c = sc_open(&d);
	struct sluice_queue_opts *opts = sluice_queue_opts_new();
	struct sluice_msg *m;
	struct output o;

	for (int i = 1; i <= 3; i++) {
		char b[2] = { (char)('0' + i), '\0' };
		ck_assert_int_eq(sluice_put(c, "src", b, 1, 0, NULL),
		    SLUICE_OK);
	}
	ck_assert_int_eq(sluice_create(c, "dst", NULL), SLUICE_OK);
	ck_assert_int_eq(run(&o, NULL, 0, "move", "src", "dst", "2", NULL), 0);
	ck_assert_str_eq(o.out, "2\n");
	output_free(&o);
	ck_assert_int_eq(sc_stat(c, "src", "depth"), 1);
	ck_assert_int_eq(sc_stat(c, "src", "acks"), 2);
	for (int i = 1; i <= 2; i++) {
		ck_assert_int_eq(sluice_get(c, "dst", 0, &m), SLUICE_OK);
		ck_assert_int_eq(m->body[0], '0' + i);
		sluice_msg_free(m);
	}
	/* A destination that refuses: the message goes back, status 75. */
	ck_assert_int_eq(sluice_queue_opts_capacity(opts, 1), SLUICE_OK);
	ck_assert_int_eq(sluice_queue_opts_policy(opts, "reject"), SLUICE_OK);
	ck_assert_int_eq(sluice_create(c, "full", opts), SLUICE_OK);
	sluice_queue_opts_free(opts);
	ck_assert_int_eq(sluice_put(c, "full", "x", 1, 0, NULL), SLUICE_OK);
	ck_assert_int_eq(run(&o, NULL, 0, "move", "src", "full", NULL),
	    EX_TEMPFAIL);
	ck_assert_ptr_nonnull(strstr(o.err, "503 FULL full"));
	output_free(&o);
	ck_assert_int_eq(sc_stat(c, "src", "depth"), 1);
	ck_assert_int_eq(sc_stat(c, "src", "reserved"), 0);
	ck_assert_int_eq(sc_stat(c, "full", "depth"), 1);
	/* Both queues must exist; a queue is not moved onto itself. */
	ck_assert_int_eq(run(&o, NULL, 0, "move", "src", "typo", NULL),
	    EX_NOINPUT);
	output_free(&o);
	ck_assert_int_eq(sc_stat(c, "typo", "depth"), -1);
	ck_assert_int_eq(run(&o, NULL, 0, "move", "src", "src", NULL),
	    EX_USAGE);
	output_free(&o);
	ck_assert_int_eq(run(&o, NULL, 0, "move", "dst", "src", NULL),
	    EX_EMPTY);
	output_free(&o);
	ck_assert_int_eq(sc_stat(c, "src", "depth"), 1);
	sluice_free(c);
}
END_TEST

/* ---- end of stream, dead letters, relay (protocol 1.1) -------------- */

/* Create queue q with these settings through libsluice. */
static void
create_queue(struct sluice_ctx *c, const char *q, uint64_t capacity)
{
	struct sluice_queue_opts *o = sluice_queue_opts_new();

	ck_assert_int_eq(sluice_queue_opts_capacity(o, capacity), SLUICE_OK);
	ck_assert_int_eq(sluice_create(c, q, o), SLUICE_OK);
	sluice_queue_opts_free(o);
}

START_TEST(test_close_ends_get_and_reserve_follow_with_status_0)
{
	struct output o;

	ck_assert_int_eq(run(&o, "x\ny\n", 4, "put", "-l", "--close", "q",
			     NULL), 0);
	ck_assert_str_eq(o.err, "");
	output_free(&o);
	/* Closed: a PUT is refused for good (status 1, not 75). */
	ck_assert_int_eq(run(&o, NULL, 0, "put", "q", "z", NULL),
	    EX_FAILED);
	assert_one_error_line(&o, "closed");
	output_free(&o);
	/* What is left is delivered, then follow mode ends by itself. */
	ck_assert_int_eq(run(&o, NULL, 0, "reserve", "-f", "-n", "1", "q",
			     NULL), 0);
	ck_assert_str_eq(o.out, "x\n");
	output_free(&o);
	ck_assert_int_eq(run(&o, NULL, 0, "get", "-f", "q", NULL), 0);
	ck_assert_str_eq(o.out, "y\n");
	ck_assert_str_eq(o.err, "");
	output_free(&o);
	ck_assert_int_eq(run(&o, NULL, 0, "reserve", "-f", "q", NULL), 0);
	ck_assert_str_eq(o.out, "");
	output_free(&o);
	/* Without -f, a closed queue is an error like an empty one. */
	ck_assert_int_eq(run(&o, NULL, 0, "get", "q", NULL), EX_FAILED);
	assert_one_error_line(&o, "closed");
	output_free(&o);
	ck_assert_int_eq(run(&o, NULL, 0, "close", "q", NULL), 0);
	output_free(&o);
	ck_assert_int_eq(run(&o, NULL, 0, "close", "nosuch", NULL),
	    EX_NOINPUT);
	assert_one_error_line(&o, "no such queue");
	output_free(&o);
	/* relay, like get and reserve, never creates its source. */
	ck_assert_int_eq(run(&o, NULL, 0, "relay", "nosuch", "q", NULL),
	    EX_NOINPUT);
	assert_one_error_line(&o, "no such queue");
	output_free(&o);
	ck_assert_int_eq(run(&o, NULL, 0, "relay", "--bogus", "nosuch", "q",
	                     NULL),
	    EX_USAGE);
	assert_one_error_line(&o, "unknown option --bogus");
	output_free(&o);
}
END_TEST

START_TEST(test_poison_message_is_dead_lettered_and_the_worker_goes_on)
{
	struct sluice_ctx *c = sc_open(&d);
	struct sluice_msg *m;
	uint64_t poison;
	struct output o;

	ck_assert_int_eq(run(&o, NULL, 0, "create", "--max-deliveries", "3",
			     "--dead-letter", "jobs.dead", "jobs", NULL), 0);
	output_free(&o);
	ck_assert_int_eq(sc_stat(c, "jobs", "max_deliveries"), 3);
	ck_assert_int_eq(sluice_put(c, "jobs", "poison", 6, 0, &poison),
	    SLUICE_OK);
	ck_assert_int_eq(sluice_put(c, "jobs", "fine", 4, 0, NULL), SLUICE_OK);
	ck_assert_int_eq(sluice_close(c, "jobs"), SLUICE_OK);
	/* A worker that fails on "poison" and nothing else. */
	ck_assert_int_eq(run(&o, NULL, 0, "reserve", "-f", "--retry-delay",
			     "10", "jobs", "--", "sh", "-c",
			     "! grep -q poison", NULL), EX_FAILED);
	ck_assert_msg(strstr(o.err, "dead-lettered: moved") != NULL,
	    "stderr: %s", o.err);
	output_free(&o);
	ck_assert_int_eq(sc_stat(c, "jobs", "acks"), 1);
	ck_assert_int_eq(sc_stat(c, "jobs", "dead_lettered"), 1);
	ck_assert_int_eq(sc_stat(c, "jobs", "gets"), 4);
	ck_assert_int_eq(sluice_get(c, "jobs.dead", 0, &m), SLUICE_OK);
	ck_assert_uint_eq(m->id, poison);
	ck_assert_str_eq(m->body, "poison");
	sluice_msg_free(m);
	sluice_free(c);
}
END_TEST

#define PIPE_LINES 200000
#define PIPE_CAPACITY 4

/* seq 1 PIPE_LINES, written into a pipe by a thread. */
static void *
feed_seq(void *arg)
{
	int fd = *(int *)arg;
	char buf[65536];
	size_t len = 0;

	for (int i = 1; i <= PIPE_LINES; i++) {
		len += (size_t)snprintf(buf + len, sizeof buf - len, "%d\n", i);
		if (len > sizeof buf - 16 || i == PIPE_LINES) {
			if (write(fd, buf, len) != (ssize_t)len)
				break;
			len = 0;
		}
	}
	close(fd);
	return NULL;
}

/* Neither queue holds more than its capacity. */
static void
pipe_bounded(struct sluice_ctx *c)
{
	for (const char *q = "a"; q != NULL; q = q[0] == 'a' ? "b" : NULL) {
		long long held = sc_stat(c, q, "depth") +
		    sc_stat(c, q, "reserved");
		ck_assert_msg(held <= PIPE_CAPACITY, "%s holds %lld", q, held);
	}
}

/*
 * seq 1 200000 | sluice put -l --close a
 * sluice get -f a | tr 0-9 a-j | sluice put -l --close b
 * sluice get -f b                          (read by the test)
 */
START_TEST(test_three_stage_pipeline_ends_by_itself_with_exact_output)
{
	const char *put_a[] = { cli_path(), "put", "-l", "--close", "a",
		NULL };
	const char *get_a[] = { cli_path(), "get", "-f", "a", NULL };
	const char *tr[] = { "tr", "0-9", "a-j", NULL };
	const char *put_b[] = { cli_path(), "put", "-l", "--close", "b",
		NULL };
	const char *get_b[] = { cli_path(), "get", "-f", "b", NULL };
	struct sluice_ctx *c = sc_open(&d);
	int in[2], x[2], y[2], out[2];
	char *got = NULL, want[16];
	size_t len = 0, at = 0, reads = 0;
	pid_t pids[5];
	pthread_t th;

	create_queue(c, "a", PIPE_CAPACITY);
	create_queue(c, "b", PIPE_CAPACITY);
	ck_assert(pipe(in) == 0 && pipe(x) == 0 && pipe(y) == 0 &&
	    pipe(out) == 0);
	pids[0] = spawn(put_a, in[0], -1, -1);
	pids[1] = spawn(get_a, -1, x[1], -1);
	pids[2] = spawn(tr, x[0], y[1], -1);
	pids[3] = spawn(put_b, y[0], -1, -1);
	pids[4] = spawn(get_b, -1, out[1], -1);
	close(in[0]);
	close(x[0]);
	close(x[1]);
	close(y[0]);
	close(y[1]);
	close(out[1]);
	ck_assert_int_eq(pthread_create(&th, NULL, feed_seq, &in[1]), 0);
	got = calloc(1, 1);
	/* Read to the end: it comes only once every stage has ended. */
	while (drain_into(out[0], &got, &len))
		if (++reads % 64 == 0)
			pipe_bounded(c);
	close(out[0]);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	for (int i = 0; i < 5; i++)
		ck_assert_msg(reap(pids[i]) == 0, "stage %d failed", i);
	for (int i = 1; i <= PIPE_LINES; i++) {
		int n = snprintf(want, sizeof want, "%d\n", i);
		for (int k = 0; k < n - 1; k++)
			want[k] = (char)(want[k] - '0' + 'a');
		ck_assert_msg(at + (size_t)n <= len &&
			memcmp(got + at, want, (size_t)n) == 0,
		    "line %d differs", i);
		at += (size_t)n;
	}
	ck_assert_uint_eq(at, len);
	ck_assert_int_eq(sc_stat(c, "a", "puts"), PIPE_LINES);
	ck_assert_int_eq(sc_stat(c, "b", "puts"), PIPE_LINES);
	free(got);
	sluice_free(c);
}
END_TEST

#define RELAY_MSGS 500

/*
 * A relay killed with SIGKILL at random moments and restarted until it
 * ends by itself: every message of a reaches b at least once, in order
 * apart from redeliveries (each first arrival is the next message).
 */
START_TEST(test_relay_killed_at_random_moments_loses_nothing)
{
	const char *relay[] = { cli_path(), "relay", "--close", "a", "b",
		"--", "tr", "0-9", "a-j", NULL };
	struct sluice_ctx *c = sc_open(&d);
	uint64_t seed = (uint64_t)getpid() * 2654435761u | 1, seed0 = seed;
	struct sluice_msg *m;
	bool seen[RELAY_MSGS + 1] = { false };
	int next = 1, kills = 0, st = -1, dups = 0, early = 0;
	int null = open("/dev/null", O_WRONLY);
	char buf[32];

	create_queue(c, "a", RELAY_MSGS);
	create_queue(c, "b", 3 * RELAY_MSGS);
	for (int i = 1; i <= RELAY_MSGS; i++) {
		int n = snprintf(buf, sizeof buf, "%d", i);
		ck_assert_int_eq(sluice_append_put(c, "a", buf, (size_t)n, 0),
		    SLUICE_OK);
		if (sluice_pending(c) == sluice_window(c) || i == RELAY_MSGS)
			while (sluice_pending(c) > 0) {
				struct sluice_reply *r;
				ck_assert_int_eq(sluice_read_reply(c, &r),
				    SLUICE_OK);
				sluice_reply_free(r);
			}
	}
	ck_assert_int_eq(sluice_close(c, "a"), SLUICE_OK);
	while (st != 0) {
		pid_t pid = spawn(relay, -1, -1, null);
		int ms, w = 0;

		/* Let it run 0 to 60 ms, then kill it, unless it is done. */
		seed = seed * 6364136223846793005ULL + 1;
		ms = (int)((seed >> 33) % 60);
		for (int t = 0; t < ms && w == 0; t++) {
			w = waitpid(pid, &st, WNOHANG);
			if (w == 0)
				usleep(1000);
		}
		if (w == 0) {
			kill(pid, SIGKILL);
			ck_assert_int_eq(waitpid(pid, &st, 0), pid);
			kills++;
			continue;
		}
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		    "the relay failed: status %d", st);
		st = 0;
	}
	close(null);
	ck_assert_int_gt(kills, 0);
	while (sluice_get(c, "b", 0, &m) == SLUICE_OK) {
		int v = 0;
		for (char *p = m->body; *p; p++)
			v = v * 10 + (*p - 'a');
		ck_assert_msg(v >= 1 && v <= RELAY_MSGS, "body %s", m->body);
		if (seen[v])
			dups++;
		else if (v != next)
			early++; /* next was in flight at a kill */
		seen[v] = true;
		while (next <= RELAY_MSGS && seen[next])
			next++;
		sluice_msg_free(m);
	}
	fprintf(stderr, "relay: %d messages, %d kills, %d twice, %d late "
			"(seed %llu)\n", RELAY_MSGS, kills, dups, early,
	    (unsigned long long)seed0);
	ck_assert_int_eq(next, RELAY_MSGS + 1);
	/*
	 * Each kill leaves at most the one message in flight behind: it
	 * may reach b twice, or come back to a only after the next relay
	 * has taken the one behind it (the daemon sees the old connection
	 * close after the new one's RESERVE).
	 */
	ck_assert_int_le(dups, kills);
	ck_assert_int_le(early, kills);
	ck_assert_int_eq(sc_stat(c, "a", "depth"), 0);
	ck_assert_int_eq(sc_stat(c, "a", "reserved"), 0);
	sluice_free(c);
}
END_TEST

static void
add(Suite *s, const char *name, const TTest *t, double timeout)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, daemon_setup, daemon_teardown);
	if (timeout > 0)
		tcase_set_timeout(tc, timeout);
	tcase_add_test(tc, t);
	suite_add_tcase(s, tc);
}

int
main(void)
{
	Suite *s = suite_create("cli");

	signal(SIGPIPE, SIG_IGN);
#define T(fn) add(s, &#fn[5], fn, 0)
#define T_SLOW(fn) add(s, &#fn[5], fn, 30)
	T(test_lines_round_trip_exactly_through_put_l_and_get_n);
	T_SLOW(test_many_lines_round_trip_in_order);
	T(test_put_argument_and_stdin_are_one_message_each);
	T(test_put_into_full_reject_queue_exits_75);
	T(test_create_beyond_the_queue_limit_exits_75);
	T(test_put_with_timeout_on_full_block_queue_exits_75);
	T(test_put_lines_into_drop_newest_queue_counts_the_dropped);
	T(test_get_follow_streams_each_message_as_it_arrives);
	T(test_put_lines_sends_each_line_before_waiting_for_the_next);
	T(test_reserve_acks_when_the_command_succeeds_and_nacks_otherwise);
	T(test_stats_output_is_json_when_piped_and_with_json);
	T(test_queue_commands_report_their_results);
	T(test_nothing_listening_exits_69);
	T(test_usage_errors_exit_64);
	T(test_every_command_has_help);
	T_SLOW(test_bench_json_reports_every_message_exactly_once);
	T_SLOW(test_bench_through_a_capacity_one_queue_is_exactly_once);
	T_SLOW(test_bench_under_reject_counts_refusals_and_checks_the_rest);
	T_SLOW(test_chained_pipeline_is_throttled_by_its_slow_consumer);
	T(test_global_options_go_before_or_after_the_command);
	T(test_option_errors_are_one_line_that_points_at_help);
	T(test_exit_statuses_tell_empty_missing_and_unauthorized_apart);
	T(test_get_count_zero_is_refused_and_takes_nothing);
	T(test_auth_on_the_command_line_warns_on_a_terminal);
	T(test_get_quotes_control_bytes_on_a_terminal_unless_raw);
	T(test_put_on_a_terminal_says_it_reads_stdin_and_ctrl_d_puts_nothing);
	T(test_put_lines_on_a_terminal_says_it_waits_for_room);
	T(test_stats_table_fits_80_columns_unless_wide);
	T(test_top_frame_fits_the_terminal_and_shows_waits);
	T(test_queues_lists_every_queue_sorted);
	T(test_peek_shows_messages_without_taking_them);
	T(test_move_moves_in_order_and_never_loses_a_message);
	T(test_close_ends_get_and_reserve_follow_with_status_0);
	T(test_poison_message_is_dead_lettered_and_the_worker_goes_on);
	add(s, "three_stage_pipeline_ends_by_itself_with_exact_output",
	    test_three_stage_pipeline_ends_by_itself_with_exact_output, 180);
	add(s, "relay_killed_at_random_moments_loses_nothing",
	    test_relay_killed_at_random_moments_loses_nothing, 120);
#undef T
#undef T_SLOW
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
