/*
 * cli_put.c - "sluice put": one message from an argument or stdin, or
 * with -l each line of stdin, pipelined through the library's window.
 *
 * With -l the tool reads stdin itself instead of through stdio, so it
 * can tell when the next read would block: queued PUTs are flushed to
 * the server first, or a slow trickle of lines would sit in the output
 * buffer.  When the queue is full (block), replies stop, the window
 * fills, and the tool stops reading stdin: backpressure reaches the
 * writer of the pipe, and memory stays at one window.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "cli.h"

/* PUTs in flight: enough to keep the link busy, bounded memory. */
#define PUT_WINDOW_DEFAULT 128
/* On a terminal, a wait for a reply longer than this is explained. */
#define WAIT_NOTICE_MS 1000

static const char put_usage[] =
    "usage: sluice put [-l] [-t MS] [-w N] [-i] [--close] [-D] QUEUE "
    "[MESSAGE]\n"
    "\n"
    "Put MESSAGE into QUEUE; without MESSAGE, all of stdin is one message.\n"
    "\n"
    "  -l, --lines       each line of stdin is a message (without its\n"
    "                    newline), sent pipelined; when the queue is full\n"
    "                    (policy block) the tool waits, and so does its "
    "input\n"
    "  -t, --timeout MS  wait at most MS ms for room (0: not at all); a\n"
    "                    message that finds no room is refused\n"
    "  -w, --window N    PUTs in flight with -l (default 128)\n"
    "  -i, --id          print the id of each message queued\n"
    "  -c, --close       once every message is queued, close QUEUE: the\n"
    "                    end of its stream (consumers following it with\n"
    "                    get -f or reserve -f then end); not after a\n"
    "                    failure, since a closed queue stays closed\n"
    "  -D, --allow-duplicates\n"
    "                    when the connection breaks before a message's\n"
    "                    answer (a failover), send it again to the new\n"
    "                    leader: it may then be queued twice; without\n"
    "                    this, the tool stops and says how many may be "
    "lost\n"
    "  -h, --help        this help\n"
    "\n"
    "Without MESSAGE, stdin is read to its end: on a terminal, sluice says\n"
    "so, and Ctrl-D with nothing typed puts nothing (exit status 1; give\n"
    "\"\" as MESSAGE for an empty message).  On a terminal, a wait for room\n"
    "in a full queue is shown, with how long it has lasted.\n"
    "\n"
    "Exit status 75 when the queue refused a message (503 FULL); with -l\n"
    "the tool stops at the first refused line and says how many were\n"
    "queued.  Messages dropped by a drop-newest queue are counted on\n"
    "stderr, and the status stays 0.\n"
    "\n"
    "Given a group's servers (-H), messages a server refuses because it\n"
    "is not the leader go to the leader, for up to 10 s; with -l they may\n"
    "then be queued after lines that followed them.\n";

/* stdin, read in blocks, handed out a line at a time. */
struct lines {
	char *buf;
	size_t off;		/* start of the unread bytes */
	size_t len;		/* end of the unread bytes */
	size_t cap;
	bool eof;
};

/*
 * The next line of stdin, without its newline: 1 with *line and *n, or
 * 0 at the end, -1 on a read error.  Before a read that would block,
 * flushes the PUTs queued on ctx.  *line lives until the next call.
 */
static int
lines_next(struct lines *l, struct sluice_ctx *ctx, const char **line,
    size_t *n)
{
	char *nl;
	ssize_t k;

	for (;;) {
		nl = l->len > l->off
		    ? memchr(l->buf + l->off, '\n', l->len - l->off) : NULL;
		if (nl != NULL || (l->eof && l->len > l->off)) {
			*line = l->buf + l->off;
			*n = nl ? (size_t)(nl - *line) : l->len - l->off;
			l->off = nl ? (size_t)(nl - l->buf) + 1 : l->len;
			return 1;
		}
		if (l->eof)
			return 0;
		if (l->off > 0) {
			memmove(l->buf, l->buf + l->off, l->len - l->off);
			l->len -= l->off;
			l->off = 0;
		}
		if (l->cap - l->len < 4096) {
			size_t cap = l->cap ? l->cap * 2 : 65536;
			char *b = realloc(l->buf, cap);
			if (b == NULL)
				return -1;
			l->buf = b;
			l->cap = cap;
		}
		struct pollfd pfd = { STDIN_FILENO, POLLIN, 0 };
		if (poll(&pfd, 1, 0) == 0 && sluice_flush(ctx) < 0)
			return -1;
		do
			k = read(STDIN_FILENO, l->buf + l->len,
			    l->cap - l->len);
		while (k < 0 && errno == EINTR);
		if (k < 0)
			return -1;
		if (k == 0)
			l->eof = true;
		l->len += (size_t)k;
	}
}

/*
 * On a terminal, wait for the next reply saying why it is late: after
 * a second without one, a STATS on a second connection tells whether
 * the queue is full, and a line on stderr, redrawn every second, says
 * so and for how long.  The line is erased once the reply comes.
 * Elsewhere (or with nothing pending) this returns at once and
 * sluice_read_reply() waits as before.
 */
static void
await_reply(struct cli *cli, struct sluice_ctx *ctx, const char *queue)
{
	uint64_t start = cli_now_ms(), said = 0, now;
	struct sluice_ctx *side = NULL;
	int status;

	if (!isatty(STDERR_FILENO) || sluice_pending(ctx) == 0)
		return;
	while (!sluice_reply_ready(ctx)) {
		struct pollfd p = { sluice_fd(ctx), POLLIN, 0 };
		json_t *j = NULL;

		if (poll(&p, 1, 100) < 0 && errno != EINTR)
			break;
		now = cli_now_ms();
		if (now - start < WAIT_NOTICE_MS ||
		    (said > 0 && now - said < 1000))
			continue;
		said = now;
		if (side == NULL)
			side = cli_connect_queue(cli, queue, &status);
		if (side != NULL &&
		    cli_stats_json(side, queue, &j) == SLUICE_OK &&
		    json_integer_value(json_object_get(j, "depth")) >=
		        json_integer_value(json_object_get(j, "capacity")))
			fprintf(stderr,
			    "\rsluice: put: %s is full (%" JSON_INTEGER_FORMAT
			    " messages): waiting for "
			    "room, %" PRIu64 " s so far; Ctrl-C to stop\033[K",
			    queue,
			    json_integer_value(json_object_get(j, "depth")),
			    (now - start) / 1000);
		else
			fprintf(stderr,
			    "\rsluice: put: %s: no answer for %" PRIu64
			    " s; Ctrl-C to stop\033[K",
			    queue, (now - start) / 1000);
		json_decref(j);
	}
	if (said > 0)
		fputs("\r\033[K", stderr);
	sluice_free(side);
}

static int lost(struct cli *cli, struct sluice_ctx *ctx, const char *queue,
    uint64_t n);

/* A line sent and not yet answered, kept to be sent again. */
struct kept {
	char *line;
	size_t len;
};

/* The state of a put -l run. */
struct put_run {
	struct cli *cli;
	struct sluice_ctx *ctx;
	const char *queue;
	int64_t timeout;
	bool print_ids;
	bool allow_dups;        /* send again what a broken link left open */
	uint64_t sent;		/* lines appended */
	uint64_t answered;	/* replies read */
	uint64_t queued;	/* 200 QUEUED */
	uint64_t dropped;	/* 202 DROPPED */
	uint64_t resent;        /* appends that were lines sent again */
	int status;		/* first failure's exit status, else 0 */
	bool io_failed;		/* the connection is gone */
	/*
	 * Failover: ring[i % window] holds line i while it is in flight;
	 * redo, the lines to send again (refused by a server that is not
	 * the leader, or left open by a broken connection with
	 * allow_dups) once every reply is in.  Both hold at most a window.
	 */
	struct kept *ring;
	unsigned window;
	struct kept *redo;
	unsigned nredo;
	uint64_t failing_since; /* ms of the first refusal since the last
	                         * line queued; 0: none */
};

/* Keep a copy of line i (just appended) for failover; false when out
 * of memory. */
static bool
keep_line(struct put_run *pr, uint64_t i, const char *line, size_t n)
{
	struct kept *k = &pr->ring[i % pr->window];

	if ((k->line = malloc(n + 1)) == NULL)
		return false;
	memcpy(k->line, line, n);
	k->len = n;
	return true;
}

/* Line i was answered: drop its copy, or move it to redo. */
static void
settle_line(struct put_run *pr, uint64_t i, bool again)
{
	struct kept *k = &pr->ring[i % pr->window];

	if (again)
		pr->redo[pr->nredo++] = *k;
	else
		free(k->line);
	k->line = NULL;
}

/*
 * Every reply is in and some lines must go again: connect to the leader
 * (or the next server) and send them, unless failover has tried for
 * long enough.
 */
static void
put_again(struct put_run *pr)
{
	enum sluice_result r;
	unsigned i;

	if (pr->failing_since == 0)
		pr->failing_since = cli_now_ms();
	if (cli_now_ms() - pr->failing_since > SLUICE_DEFAULT_FAILOVER_MS ||
	    (r = sluice_reconnect(pr->ctx)) != SLUICE_OK) {
		if (pr->status == 0)
			pr->status = pr->io_failed
			    ? lost(pr->cli, pr->ctx, pr->queue, pr->nredo)
			    : cli_fail(pr->cli, pr->ctx, pr->queue,
			          sluice_error(pr->ctx) != SLUICE_OK
			              ? sluice_error(pr->ctx)
			              : SLUICE_NOT_LEADER);
		pr->io_failed = true;
		return;
	}
	pr->io_failed = false;
	for (i = 0; i < pr->nredo && pr->status == 0; i++) {
		r = sluice_append_put(pr->ctx, pr->queue, pr->redo[i].line,
		    pr->redo[i].len, pr->timeout);
		if (r != SLUICE_OK) {
			pr->status = cli_fail(pr->cli, pr->ctx, pr->queue, r);
			pr->io_failed = true;
			break;
		}
		pr->ring[pr->sent++ % pr->window] = pr->redo[i];
		pr->redo[i].line = NULL;
		pr->resent++;
	}
	for (; i < pr->nredo; i++)
		free(pr->redo[i].line);
	pr->nredo = 0;
}

/* Read one reply and account for it; the first refusal is reported. */
static void
put_reply(struct put_run *pr)
{
	struct sluice_reply *r;
	enum sluice_result res;
	char what[200];

	await_reply(pr->cli, pr->ctx, pr->queue);
	res = sluice_read_reply(pr->ctx, &r);
	if (res == SLUICE_OK && pr->print_ids)
		printf("%" PRIu64 "\n", r->id);
	sluice_reply_free(r);
	if (res == SLUICE_ERR_EOF || res == SLUICE_ERR_IO) {
		/* Every line in flight is lost with the connection. */
		pr->io_failed = true;
		while (pr->answered < pr->sent)
			settle_line(pr, pr->answered++, true);
		if (pr->allow_dups)
			put_again(pr);
		else if (pr->status == 0)
			pr->status =
			    lost(pr->cli, pr->ctx, pr->queue, pr->nredo);
		return;
	}
	/* Not the leader: the line did nothing; it goes again. */
	settle_line(pr, pr->answered++, res == SLUICE_NOT_LEADER);
	if (res == SLUICE_OK || res == SLUICE_DROPPED)
		pr->failing_since = 0;
	if (res == SLUICE_OK) {
		pr->queued++;
	} else if (res == SLUICE_DROPPED) {
		pr->dropped++;
	} else if (res != SLUICE_NOT_LEADER) {
		if (res < 0)
			pr->io_failed = true;
		if (pr->status != 0)
			return;
		snprintf(what, sizeof what, "%s: line %" PRIu64, pr->queue,
		    pr->answered - pr->resent);
		pr->status = cli_fail(pr->cli, pr->ctx, what, res);
	}
	if (pr->nredo > 0 && sluice_pending(pr->ctx) == 0 && pr->status == 0)
		put_again(pr);
}

static int
put_lines(struct put_run *pr)
{
	struct sluice_ctx *ctx = pr->ctx;
	struct lines in = { 0 };
	const char *line;
	size_t n;
	int got = 0;

	pr->window = sluice_window(ctx);
	pr->ring = calloc(pr->window, sizeof *pr->ring);
	pr->redo = calloc(pr->window, sizeof *pr->redo);
	if (pr->ring == NULL || pr->redo == NULL)
		pr->status = cli_error(pr->cli, EX_OSERR, "out of memory");
	while (pr->status == 0 && (got = lines_next(&in, ctx, &line, &n)) > 0) {
		/*
		 * A full window: take half back, then send a batch.  Lines
		 * to send again: no new one before them (and redo stays
		 * within a window); put_reply() sends them once every
		 * reply is in, which may fill the window again.
		 */
		while (pr->status == 0 && !pr->io_failed &&
		    (sluice_pending(ctx) == sluice_window(ctx) ||
		        (pr->nredo > 0 && sluice_pending(ctx) > 0))) {
			if (sluice_pending(ctx) < sluice_window(ctx))
				put_reply(pr);
			else
				while (pr->status == 0 && !pr->io_failed &&
				    sluice_pending(ctx) >
				        sluice_window(ctx) / 2)
					put_reply(pr);
		}
		if (pr->status != 0)
			break;
		enum sluice_result res =
		    sluice_append_put(ctx, pr->queue, line, n, pr->timeout);
		if (res < 0) {
			pr->status = cli_fail(pr->cli, ctx, pr->queue, res);
			pr->io_failed = res != SLUICE_ERR_ARG;
		} else if (!keep_line(pr, pr->sent++, line, n)) {
			pr->status =
			    cli_error(pr->cli, EX_OSERR, "out of memory");
		}
	}
	if (got < 0 && pr->status == 0)
		pr->status = sluice_error(ctx) != SLUICE_OK
		    ? cli_fail(pr->cli, ctx, pr->queue, sluice_error(ctx))
		    : cli_error(pr->cli, CLI_EX_ERROR, "reading stdin: %s",
		          strerror(errno));
	/* What is in flight was sent: its fate is worth reporting. */
	while (!pr->io_failed && sluice_pending(ctx) > 0)
		put_reply(pr);
	free(in.buf);
	for (unsigned i = 0; pr->ring != NULL && i < pr->window; i++)
		free(pr->ring[i].line);
	for (unsigned i = 0; i < pr->nredo; i++)
		free(pr->redo[i].line);
	free(pr->ring);
	free(pr->redo);
	if (pr->status != 0)
		cli_error(pr->cli, pr->status,
		    "%s: %" PRIu64 " of %" PRIu64 " lines sent were queued",
		    pr->queue, pr->queued, pr->sent - pr->resent);
	if (pr->dropped > 0)
		cli_error(pr->cli, 0,
		    "%s: %" PRIu64 " of %" PRIu64 " lines were "
		    "dropped: the queue was full (drop-newest)",
		    pr->queue, pr->dropped, pr->sent - pr->resent);
	if (fflush(stdout) != 0 && pr->status == 0)
		pr->status = cli_error(pr->cli, CLI_EX_ERROR, "stdout: %s",
		    strerror(errno));
	return pr->status;
}

/* Read all of stdin; NULL on error. */
static char *
slurp_stdin(size_t *len)
{
	size_t cap = 65536;
	char *buf = malloc(cap), *b;
	ssize_t k;

	*len = 0;
	while (buf != NULL) {
		if (cap - *len < 4096) {
			if ((b = realloc(buf, cap *= 2)) == NULL)
				break;
			buf = b;
		}
		k = read(STDIN_FILENO, buf + *len, cap - *len);
		if (k == 0)
			return buf;
		if (k < 0 && errno != EINTR)
			break;
		if (k > 0)
			*len += (size_t)k;
	}
	free(buf);
	return NULL;
}

/*
 * The connection broke with n PUTs unanswered: say, in one line, that
 * they may or may not be queued, and how to have them sent again.
 * Returns the exit status.
 */
static int
lost(struct cli *cli, struct sluice_ctx *ctx, const char *queue, uint64_t n)
{
	return cli_error(cli, EX_UNAVAILABLE,
	    "%s: %s: %" PRIu64 " message%s may or may not be queued: the "
	    "connection broke before the answer (--allow-duplicates sends "
	    "%s again)",
	    queue, sluice_errstr(ctx), n, n == 1 ? "" : "s",
	    n == 1 ? "it" : "them");
}

static int
put_one(struct cli *cli, struct sluice_ctx *ctx, const char *queue,
    const char *message, int64_t timeout, bool print_id, bool allow_dups)
{
	struct sluice_reply *reply;
	char *body = NULL;
	size_t len;
	uint64_t id = 0;
	enum sluice_result r;

	if (message == NULL && (body = slurp_stdin(&len)) == NULL)
		return cli_error(cli, CLI_EX_ERROR, "reading stdin: %s",
		    strerror(errno));
	/* Ctrl-D at once on a terminal is "never mind", not a message. */
	if (message == NULL && len == 0 && isatty(STDIN_FILENO)) {
		free(body);
		return cli_error(cli, CLI_EX_ERROR,
		    "%s: nothing typed, "
		    "nothing put (for an empty message, give \"\")",
		    queue);
	}
	if (message != NULL)
		len = strlen(message);
	/* Appended, not sluice_put(): await_reply() can then say why a
	 * reply is late. */
	r = sluice_append_put(ctx, queue, message ? message : body, len,
	    timeout);
	if (r == SLUICE_OK) {
		await_reply(cli, ctx, queue);
		r = sluice_read_reply(ctx, &reply);
		if (reply != NULL)
			id = reply->id;
		sluice_reply_free(reply);
	}
	/* Not the leader (it did nothing), or the connection broke and a
	 * duplicate is allowed: sluice_put()'s failover takes it from
	 * there. */
	if (r == SLUICE_NOT_LEADER || r == SLUICE_BUSY ||
	    r == SLUICE_SHUTTING_DOWN ||
	    (allow_dups && (r == SLUICE_ERR_EOF || r == SLUICE_ERR_IO)))
		r = sluice_put(ctx, queue, message ? message : body, len,
		    timeout, &id);
	free(body);
	if (r == SLUICE_ERR_EOF || r == SLUICE_ERR_IO)
		return lost(cli, ctx, queue, 1);
	if (r == SLUICE_DROPPED)
		cli_fail(cli, ctx, queue, r);
	else if (r != SLUICE_OK)
		return cli_fail(cli, ctx, queue, r);
	else if (print_id)
		printf("%" PRIu64 "\n", id);
	return 0;
}

int
cli_put(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "lines", no_argument, NULL, 'l' },
		{ "timeout", required_argument, NULL, 't' },
		{ "window", required_argument, NULL, 'w' },
		{ "id", no_argument, NULL, 'i' },
		{ "close", no_argument, NULL, 'c' },
		{ "allow-duplicates", no_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool lines = false, ids = false, close_it = false, allow_dups = false;
	enum sluice_result r;
	uint64_t v, window = PUT_WINDOW_DEFAULT;
	int64_t timeout = SLUICE_FOREVER;
	struct sluice_ctx *ctx;
	int ch, status;

	while ((ch = getopt_long(argc, argv, ":lt:w:icDh", longopts, NULL)) !=
	    -1) {
		switch (ch) {
		case 'l':
			lines = true;
			break;
		case 't':
			if (!cli_number(cli, put_usage, "-t", optarg,
				INT32_MAX, &v))
				return EX_USAGE;
			timeout = (int64_t)v;
			break;
		case 'w':
			if (!cli_number(cli, put_usage, "-w", optarg, 65536,
				&window) || window == 0)
				return cli_usage_error(cli, put_usage,
				    "-w wants at least 1");
			break;
		case 'i':
			ids = true;
			break;
		case 'c':
			close_it = true;
			break;
		case 'D':
			allow_dups = true;
			break;
		case 'h':
			fputs(put_usage, stdout);
			return 0;
		default:
			return cli_option_error(cli, ch, argv);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1 || argc > 2 || (lines && argc > 1))
		return cli_usage_error(cli, put_usage,
		    argc < 1 ? "which queue?" : "too many arguments");
	if ((ctx = cli_connect_queue(cli, argv[0], &status)) == NULL)
		return status;
	if ((lines || argc == 1) && isatty(STDIN_FILENO))
		fprintf(stderr,
		    "sluice: put: reading %s from the terminal; "
		    "Ctrl-D ends it\n",
		    lines ? "lines, each a message," : "one message");
	if (lines) {
		struct put_run pr = { .cli = cli,
			.ctx = ctx,
			.queue = argv[0],
			.timeout = timeout,
			.print_ids = ids,
			.allow_dups = allow_dups };

		sluice_set_window(ctx, (unsigned)window);
		sluice_set_allow_duplicates(ctx, allow_dups);
		status = put_lines(&pr);
	} else {
		sluice_set_allow_duplicates(ctx, allow_dups);
		status = put_one(cli, ctx, argv[0], argc > 1 ? argv[1] : NULL,
		    timeout, ids, allow_dups);
	}
	if (close_it && status == 0 &&
	    (r = sluice_close(ctx, argv[0])) != SLUICE_OK)
		status = cli_fail(cli, ctx, argv[0], r);
	else if (close_it && status != 0)
		cli_error(cli, status, "%s: left open after the failure",
		    argv[0]);
	sluice_free(ctx);
	return status;
}
