/*
 * cli_get.c - "sluice get" (at most once, pipelined) and "sluice reserve"
 * (at least once: ACK only once the message is written out, or once a
 * command run on it succeeds).
 *
 * Output goes through stdio and is flushed whenever the tool is about
 * to wait for the server, not per message: a fast stream leaves in big
 * writes, and a trickle still reaches the next program in a pipe at
 * once, so "sluice get -f a | tr a-z A-Z | sluice put -l b" streams.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "cli.h"

/* How long one GET or RESERVE waits in -f mode before asking again;
 * only the request rate of an idle follower depends on it. */
#define FOLLOW_WAIT_MS 30000
/*
 * GETs in flight while messages flow.  Each may hold a message taken
 * from the queue and not yet printed, so a killed `get` loses up to
 * this many (GET is at most once); smaller windows stream far slower
 * (1,000,000 64-byte messages: 10.7 s at 16, 0.8 s at 128).
 */
#define GET_WINDOW_DEFAULT 128

static const char get_usage[] =
    "usage: sluice get [-n COUNT] [-t MS] [-f] [-r] [-i] [-w N] QUEUE\n"
    "\n"
    "Take messages from QUEUE and print each body on a line of its own.\n"
    "A message is gone from the server once sent (at most once); for at\n"
    "least once, see \"sluice reserve\".\n"
    "\n"
    "  -n, --count N     take at most N messages, N >= 1 (default 1, or\n"
    "                    no limit with -f)\n"
    "  -t, --timeout MS  wait up to MS ms for a message when none is "
    "ready\n"
    "                    (default 0: do not wait)\n"
    "  -f, --follow      keep taking messages as they come, until -n or\n"
    "                    the queue is closed and drained (status 0):\n"
    "                    sluice get -f jobs | worker\n"
    "  -r, --raw         print bodies exactly, with no newline after them\n"
    "                    (without it, on a terminal, control bytes and\n"
    "                    invalid UTF-8 are shown quoted: \\n, \\x1b, \\\\)\n"
    "  -i, --id          print \"<id> \" before each body\n"
    "  -w, --window N    GETs in flight while messages flow (default 128)\n"
    "  -h, --help        this help\n"
    "\n"
    "The queue must exist: a missing one is not created (exit status 66,\n"
    "\"no such queue\"); \"sluice create\" or a put makes it.\n"
    "\n"
    "Exit status 0 when a message was taken, 2 when the queue had none,\n"
    "66 when there is no such queue.\n";

static const char reserve_usage[] =
    "usage: sluice reserve [-n COUNT] [-t MS] [-f] [-r] [-i]\n"
    "                      [--retry-delay MS] QUEUE [[--] COMMAND [ARG...]]\n"
    "\n"
    "Take messages from QUEUE at least once: each stays reserved until it\n"
    "is done, and goes back to the queue if sluice dies first.\n"
    "\n"
    "Without COMMAND, each body is printed as by \"get\" and acknowledged\n"
    "(ACK) once it has been written out.  With COMMAND, each body is the\n"
    "stdin of a run of COMMAND (with SLUICE_ID and SLUICE_QUEUE in its\n"
    "environment): exit 0 acknowledges it; anything else gives it back\n"
    "(NACK) and stops sluice with status 1, or with --retry-delay goes\n"
    "on with the next message.\n"
    "\n"
    "  -n, --count N     take at most N messages, N >= 1 (default 1, or\n"
    "                    no limit with -f)\n"
    "  -t, --timeout MS  wait up to MS ms for a message when none is "
    "ready\n"
    "  -f, --follow      keep taking messages as they come, until -n or\n"
    "                    the queue is closed and drained (status 0)\n"
    "  -R, --retry-delay MS\n"
    "                    give a message whose COMMAND failed back to be\n"
    "                    retried in MS ms, and go on; past the queue's\n"
    "                    max_deliveries the server dead-letters it, and\n"
    "                    sluice says so.  Status 1 at the end if any\n"
    "                    COMMAND failed\n"
    "  -r, --raw         print bodies exactly, with no newline after them\n"
    "                    (without it, on a terminal, control bytes and\n"
    "                    invalid UTF-8 are shown quoted: \\n, \\x1b, \\\\)\n"
    "  -i, --id          print \"<id> \" before each body\n"
    "  -h, --help        this help\n"
    "\n"
    "The queue must exist: a missing one is not created (exit status 66,\n"
    "\"no such queue\"); \"sluice create\" or a put makes it.\n"
    "\n"
    "Exit status 0 when a message was taken, 2 when the queue had none,\n"
    "66 when there is no such queue.\n";

/* Options get and reserve share. */
struct take_opts {
	uint64_t count;		/* 0: no limit */
	int64_t wait_ms;
	bool follow;
	bool raw;
	bool quote; /* stdout is a terminal and not --raw */
	bool ids;
	uint64_t window;
	const char *queue;
	char **command;		/* reserve: NULL-terminated, or NULL */
	bool retry;		/* reserve: --retry-delay given */
	uint64_t retry_ms;
};

/* Parse the shared options; returns -1 to go on, else an exit status. */
static int
take_options(struct cli *cli, const char *usage, int argc, char **argv,
    struct take_opts *o)
{
	static const struct option longopts[] = {
		{ "count", required_argument, NULL, 'n' },
		{ "timeout", required_argument, NULL, 't' },
		{ "follow", no_argument, NULL, 'f' },
		{ "raw", no_argument, NULL, 'r' },
		{ "id", no_argument, NULL, 'i' },
		{ "window", required_argument, NULL, 'w' },
		{ "retry-delay", required_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool has_count = false;
	uint64_t v;
	int ch;

	memset(o, 0, sizeof *o);
	o->window = GET_WINDOW_DEFAULT;
	while ((ch = getopt_long(argc, argv, ":n:t:frihw:R:", longopts,
		    NULL)) != -1) {
		switch (ch) {
		case 'n':
			if (!cli_number(cli, usage, "-n", optarg, INT64_MAX,
				&o->count))
				return EX_USAGE;
			/* 0 used to mean "no limit" and drained a queue
			 * by surprise: -f says that. */
			if (o->count == 0)
				return cli_usage_error(cli, usage,
				    "-n wants at least 1 (for no limit, use "
				    "-f)");
			has_count = true;
			break;
		case 't':
			if (!cli_number(cli, usage, "-t", optarg, INT32_MAX,
				&v))
				return EX_USAGE;
			o->wait_ms = (int64_t)v;
			break;
		case 'f':
			o->follow = true;
			break;
		case 'r':
			o->raw = true;
			break;
		case 'i':
			o->ids = true;
			break;
		case 'w':
			if (!cli_number(cli, usage, "-w", optarg, 65536,
				&o->window) || o->window == 0)
				return cli_usage_error(cli, usage,
				    "-w wants at least 1");
			break;
		case 'R':
			if (usage != reserve_usage)
				return cli_usage_error(cli, usage,
				    "--retry-delay is for reserve");
			if (!cli_number(cli, usage, "--retry-delay", optarg,
				INT64_MAX, &o->retry_ms))
				return EX_USAGE;
			o->retry = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			return cli_option_error(cli, ch, argv);
		}
	}
	if (!has_count)
		o->count = o->follow ? 0 : 1;
	o->quote = !o->raw && isatty(STDOUT_FILENO);
	if (o->follow && o->wait_ms == 0)
		o->wait_ms = FOLLOW_WAIT_MS;
	if (optind >= argc)
		return cli_usage_error(cli, usage, "which queue?");
	o->queue = argv[optind++];
	if (optind < argc)
		o->command = argv + optind;
	return -1;
}

/*
 * The length of the UTF-8 sequence at s (at most n bytes) that a
 * terminal shows as a character, or 0: invalid, overlong, a surrogate,
 * or a C1 control (U+0080..U+009F, which some terminals obey).
 */
static size_t
utf8_printable(const unsigned char *s, size_t n)
{
	uint32_t cp;
	size_t len;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < 0xa0 || (len == 3 && cp < 0x800) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/*
 * Write a body for a terminal: what would move the cursor, change the
 * colours or retitle the window (control bytes, escapes, invalid
 * UTF-8) is shown as \n, \r, \xNN, and a backslash as \\, so that
 * what is seen is what the bytes are.  Tabs stay.
 */
void
cli_print_quoted(const char *body, size_t len)
{
	const unsigned char *s = (const unsigned char *)body;

	for (size_t i = 0; i < len;) {
		size_t k;

		if (s[i] == '\\')
			fputs("\\\\", stdout);
		else if (s[i] == '\n')
			fputs("\\n", stdout);
		else if (s[i] == '\r')
			fputs("\\r", stdout);
		else if (s[i] == '\t' || (s[i] >= 0x20 && s[i] < 0x7f))
			putchar(s[i]);
		else if (s[i] >= 0x80 &&
		    (k = utf8_printable(s + i, len - i)) > 0) {
			fwrite(s + i, 1, k, stdout);
			i += k;
			continue;
		} else
			printf("\\x%02x", s[i]);
		i++;
	}
}

/* Print one message as the options say; -1 when stdout failed. */
static int
print_msg(const struct take_opts *o, uint64_t id, const char *body,
    size_t len)
{
	if (o->ids)
		printf("%" PRIu64 " ", id);
	if (o->quote)
		cli_print_quoted(body, len);
	else
		fwrite(body, 1, len, stdout);
	if (!o->raw)
		putchar('\n');
	return ferror(stdout) ? -1 : 0;
}

static int
get_on_msg(void *arg, const struct sluice_reply *r)
{
	return print_msg(arg, r->id, r->body, r->body_len);
}

static void
get_on_idle(void *arg)
{
	(void)arg;
	fflush(stdout);
}

int
cli_get(struct cli *cli, int argc, char **argv)
{
	struct take_opts o;
	struct cli_take t = { 0 };
	struct sluice_ctx *ctx;
	enum sluice_result r;
	int status;

	if ((status = take_options(cli, get_usage, argc, argv, &o)) >= 0)
		return status;
	if (o.command != NULL)
		return cli_usage_error(cli, get_usage, "too many arguments");
	if ((ctx = cli_connect_queue(cli, o.queue, &status)) == NULL)
		return status;
	if (!cli_queue_exists(cli, ctx, o.queue, &status)) {
		sluice_free(ctx);
		return status;
	}
	sluice_set_window(ctx, (unsigned)o.window);
	t.queue = o.queue;
	t.window = (unsigned)o.window;
	t.limit = o.count;
	t.wait_ms = o.wait_ms;
	t.follow = o.follow;
	t.on_msg = get_on_msg;
	t.on_idle = get_on_idle;
	t.arg = &o;
	r = cli_take_run(ctx, &t);
	if (fflush(stdout) != 0 || ferror(stdout))
		status = cli_error(cli, CLI_EX_ERROR, "stdout: %s",
		    strerror(errno));
	else if (r == SLUICE_CLOSED && o.follow)
		status = 0; /* the end of the stream */
	else if (r != SLUICE_OK)
		status = cli_fail(cli, ctx, o.queue, r);
	else if (t.taken == 0)
		status =
		    cli_error(cli, CLI_EX_EMPTY, "%s: no message", o.queue);
	sluice_free(ctx);
	return status;
}

/*
 * Run the command with the body on its stdin.  Returns its exit status
 * (0: done), or -1 with errno when it could not be run at all.
 */
static int
run_command(const struct take_opts *o, const struct sluice_msg *m)
{
	char idbuf[24];
	int fds[2], st;
	pid_t pid;

	fflush(stdout);
	if (pipe(fds) < 0 || (pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		snprintf(idbuf, sizeof idbuf, "%" PRIu64, m->id);
		setenv("SLUICE_ID", idbuf, 1);
		setenv("SLUICE_QUEUE", o->queue, 1);
		signal(SIGPIPE, SIG_DFL);
		dup2(fds[0], STDIN_FILENO);
		close(fds[0]);
		close(fds[1]);
		execvp(o->command[0], o->command);
		fprintf(stderr, "sluice: reserve: %s: %s\n", o->command[0],
		    strerror(errno));
		_exit(127);
	}
	close(fds[0]);
	/* A command that does not read its stdin may close it early:
	 * SIGPIPE is ignored, and the short write does not matter. */
	for (size_t off = 0; off < m->len;) {
		ssize_t k = write(fds[1], m->body + off, m->len - off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		off += (size_t)k;
	}
	close(fds[1]);
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Do the work a reserved message asks; 0 when it may be ACKed. */
static int
reserve_work(struct cli *cli, const struct take_opts *o,
    const struct sluice_msg *m)
{
	int st;

	if (o->command == NULL) {
		if (print_msg(o, m->id, m->body, m->len) < 0 ||
		    fflush(stdout) != 0)
			return cli_error(cli, CLI_EX_ERROR, "stdout: %s",
			    strerror(errno));
		return 0;
	}
	if ((st = run_command(o, m)) < 0)
		return cli_error(cli, CLI_EX_ERROR, "%s: %s", o->command[0],
		    strerror(errno));
	if (st != 0)
		return cli_error(cli, CLI_EX_ERROR,
		    "%s: %s exited with status %d; message %" PRIu64
		    " given back", o->queue, o->command[0], st, m->id);
	return 0;
}

/*
 * A run of the command failed: give m back, after --retry-delay if
 * given, and say when the server dead-lettered it instead.
 */
static enum sluice_result
reserve_give_back(struct cli *cli, struct sluice_ctx *ctx,
    const struct take_opts *o, const struct sluice_msg *m)
{
	enum sluice_result r = sluice_nack_delay(ctx, m->id,
	    o->retry ? o->retry_ms : 0);
	bool moved;

	if (r == SLUICE_OK && sluice_dead_lettered(ctx, &moved))
		cli_error(cli, 0, "%s: message %" PRIu64 " dead-lettered: %s",
		    o->queue, m->id,
		    moved ? "moved to the dead-letter queue" : "discarded");
	else if (r == SLUICE_OK && o->retry)
		cli_error(cli, 0, "%s: message %" PRIu64 " to be retried in "
		    "%" PRIu64 " ms", o->queue, m->id, o->retry_ms);
	return r;
}

int
cli_reserve(struct cli *cli, int argc, char **argv)
{
	struct take_opts o;
	struct sluice_msg *m;
	struct sluice_ctx *ctx;
	enum sluice_result r = SLUICE_OK;
	uint64_t taken = 0;
	int status, failed = 0;

	if ((status = take_options(cli, reserve_usage, argc, argv, &o)) >= 0)
		return status;
	if (o.retry && o.command == NULL)
		return cli_usage_error(cli, reserve_usage,
		    "--retry-delay needs a COMMAND");
	if (o.command != NULL)
		signal(SIGPIPE, SIG_IGN);
	if ((ctx = cli_connect_queue(cli, o.queue, &status)) == NULL)
		return status;
	if (!cli_queue_exists(cli, ctx, o.queue, &status)) {
		sluice_free(ctx);
		return status;
	}
	while (status == 0 && (o.count == 0 || taken < o.count)) {
		r = sluice_reserve(ctx, o.queue, o.wait_ms, &m);
		if (r == SLUICE_EMPTY && o.follow)
			continue;
		if (r != SLUICE_OK)
			break;
		if ((status = reserve_work(cli, &o, m)) != 0) {
			r = reserve_give_back(cli, ctx, &o, m);
			/* With a retry delay, a failure does not stop us. */
			if (o.retry && o.command != NULL) {
				failed = status;
				status = 0;
			}
		} else if ((r = sluice_ack(ctx, m->id)) == SLUICE_OK) {
			taken++;
		}
		sluice_msg_free(m);
		if (r != SLUICE_OK)
			break;
	}
	if (status == 0 && r == SLUICE_CLOSED && o.follow)
		status = failed; /* the end of the stream */
	else if (status == 0 && r != SLUICE_OK && r != SLUICE_EMPTY)
		status = cli_fail(cli, ctx, o.queue, r);
	else if (status == 0 && failed != 0)
		status = failed;
	else if (status == 0 && taken == 0)
		status =
		    cli_error(cli, CLI_EX_EMPTY, "%s: no message", o.queue);
	sluice_free(ctx);
	return status;
}
