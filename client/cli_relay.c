/*
 * cli_relay.c - "sluice relay SRC DST [-- COMMAND]": a pipeline stage
 * that loses nothing.
 *
 * "sluice get -f a | f | sluice put -l b" takes messages out of a at
 * most once: what sits in the tools' windows and the pipes' buffers is
 * lost if the stage is killed.  relay RESERVEs each message from SRC,
 * runs COMMAND on it (or passes it on as it is), PUTs the result into
 * DST, and ACKs it in SRC only once DST has answered 200 QUEUED.  One
 * message is in flight at a time: killed at any moment, the relay has
 * lost nothing, and at most that one message reaches DST twice (its
 * reservation comes back to SRC and is delivered again, first).
 *
 * Two connections, one per queue: a PUT waiting for room in DST must
 * not hold back the ACKs on SRC's connection (the protocol's rule).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "cli.h"

/* How long one RESERVE waits before asking again (as get -f does). */
#define RELAY_WAIT_MS 30000

static const char relay_usage[] =
    "usage: sluice relay [--close] [--retry-delay MS] SRC DST\n"
    "                    [[--] COMMAND [ARG...]]\n"
    "\n"
    "Move every message of SRC into DST, at least once, in order: each is\n"
    "reserved in SRC, given to COMMAND on its stdin (with SLUICE_ID and\n"
    "SLUICE_QUEUE in its environment) whose stdout is the message put\n"
    "into DST (without COMMAND: the message as it is), and acknowledged\n"
    "in SRC only once DST has queued the result.  One message is in\n"
    "flight at a time, so a relay killed at any moment loses nothing; the\n"
    "one in flight comes back to SRC and may reach DST twice.\n"
    "\n"
    "It runs until SRC is closed and drained (exit status 0), or a\n"
    "COMMAND fails: the message goes back to SRC and relay stops with\n"
    "status 1 (with --retry-delay: it goes on, status 1 at the end).\n"
    "SRC must exist: relay never creates it (status 66: no such queue).\n"
    "\n"
    "  -c, --close       close DST when SRC is closed and drained: the end\n"
    "                    of the stream passes on\n"
    "  -R, --retry-delay MS\n"
    "                    give a message whose COMMAND failed back to be\n"
    "                    retried in MS ms, and go on\n"
    "  -h, --help        this help\n";

struct relay {
	struct cli *cli;
	const char *src;
	const char *dst;
	char **command;	 /* NULL-terminated, or NULL */
	bool close_dst;
	bool retry;
	uint64_t retry_ms;
	struct sluice_ctx *in;	/* SRC: RESERVE, ACK, NACK */
	struct sluice_ctx *out; /* DST: PUT, CLOSE */
};

/* Append what fd gives until its end to *buf; -1 on a read error. */
static int
read_all(int fd, char **buf, size_t *len)
{
	size_t cap = 4096;
	ssize_t k;
	char *b;

	*len = 0;
	if ((*buf = malloc(cap)) == NULL)
		return -1;
	for (;;) {
		if (*len == cap) {
			if ((b = realloc(*buf, cap *= 2)) == NULL)
				return -1;
			*buf = b;
		}
		k = read(fd, *buf + *len, cap - *len);
		if (k == 0)
			return 0;
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -1;
		*len += (size_t)k;
	}
}

/*
 * Run the command with m's body on its stdin and its stdout into *out
 * (malloc'd, *len bytes).  Returns its exit status, -1 (errno) when it
 * could not be run.  The body is written from a child process of our
 * own, so that a command writing much before reading never deadlocks
 * against us.
 */
static int
run_filter(const struct relay *rl, const struct sluice_msg *m, char **out,
    size_t *len)
{
	int in[2], op[2], st, rc;
	pid_t pid, writer;
	char idbuf[24];

	*out = NULL;
	*len = 0;
	if (pipe(in) < 0)
		return -1;
	if (pipe(op) < 0) {
		close(in[0]);
		close(in[1]);
		return -1;
	}
	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		snprintf(idbuf, sizeof idbuf, "%" PRIu64, m->id);
		setenv("SLUICE_ID", idbuf, 1);
		setenv("SLUICE_QUEUE", rl->src, 1);
		signal(SIGPIPE, SIG_DFL);
		dup2(in[0], STDIN_FILENO);
		dup2(op[1], STDOUT_FILENO);
		close(in[0]);
		close(in[1]);
		close(op[0]);
		close(op[1]);
		execvp(rl->command[0], rl->command);
		fprintf(stderr, "sluice: relay: %s: %s\n", rl->command[0],
		    strerror(errno));
		_exit(127);
	}
	close(in[0]);
	close(op[1]);
	if ((writer = fork()) == 0) {
		close(op[0]);
		for (size_t off = 0; off < m->len;) {
			ssize_t k = write(in[1], m->body + off, m->len - off);
			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0)
				break;
			off += (size_t)k;
		}
		_exit(0);
	}
	close(in[1]);
	rc = read_all(op[0], out, len);
	close(op[0]);
	if (writer > 0)
		while (waitpid(writer, &st, 0) < 0 && errno == EINTR)
			;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (rc < 0 || writer < 0) {
		free(*out);
		*out = NULL;
		return -1;
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* m's COMMAND failed (status st): give it back; 0 to go on. */
static int
give_back(struct relay *rl, const struct sluice_msg *m, int st)
{
	enum sluice_result r = sluice_nack_delay(rl->in, m->id,
	    rl->retry ? rl->retry_ms : 0);
	bool moved;

	if (r != SLUICE_OK)
		return cli_fail(rl->cli, rl->in, rl->src, r);
	if (st < 0)
		cli_error(rl->cli, 0, "%s: %s: %s; message %" PRIu64
		    " given back", rl->src, rl->command[0], strerror(errno),
		    m->id);
	else
		cli_error(rl->cli, 0, "%s: %s exited with status %d; "
		    "message %" PRIu64 " given back", rl->src,
		    rl->command[0], st, m->id);
	if (sluice_dead_lettered(rl->in, &moved))
		cli_error(rl->cli, 0, "%s: message %" PRIu64
		    " dead-lettered: %s", rl->src, m->id,
		    moved ? "moved to the dead-letter queue" : "discarded");
	return rl->retry ? 0 : CLI_EX_ERROR;
}

/* Relay one reserved message; 0 when done, else an exit status. */
static int
relay_one(struct relay *rl, const struct sluice_msg *m, bool *failed)
{
	char *body = NULL;
	size_t len = m->len;
	enum sluice_result r;
	int st;

	if (rl->command != NULL) {
		fflush(stdout);
		if ((st = run_filter(rl, m, &body, &len)) != 0) {
			free(body);
			*failed = true;
			return give_back(rl, m, st);
		}
	}
	r = sluice_put(rl->out, rl->dst, body != NULL ? body : m->body, len,
	    SLUICE_FOREVER, NULL);
	free(body);
	if (r != SLUICE_OK) {
		/* Not in DST: it must stay in SRC. */
		(void)sluice_nack(rl->in, m->id);
		return cli_fail(rl->cli, rl->out, rl->dst, r);
	}
	if ((r = sluice_ack(rl->in, m->id)) != SLUICE_OK)
		return cli_fail(rl->cli, rl->in, rl->src, r);
	return 0;
}

static int
relay_run(struct relay *rl)
{
	struct sluice_msg *m;
	enum sluice_result r;
	bool failed = false;
	int status = 0;

	while (status == 0) {
		r = sluice_reserve(rl->in, rl->src, RELAY_WAIT_MS, &m);
		if (r == SLUICE_EMPTY)
			continue;
		if (r == SLUICE_CLOSED)
			break;
		if (r != SLUICE_OK)
			return cli_fail(rl->cli, rl->in, rl->src, r);
		status = relay_one(rl, m, &failed);
		sluice_msg_free(m);
	}
	if (status != 0)
		return status;
	/* SRC is closed and drained: the end of the stream. */
	if (rl->close_dst && (r = sluice_close(rl->out, rl->dst)) != SLUICE_OK)
		return cli_fail(rl->cli, rl->out, rl->dst, r);
	return failed ? CLI_EX_ERROR : 0;
}

int
cli_relay(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "close", no_argument, NULL, 'c' },
		{ "retry-delay", required_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct relay rl = { .cli = cli };
	int ch, status;

	while ((ch = getopt_long(argc, argv, "+:cR:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			rl.close_dst = true;
			break;
		case 'R':
			if (!cli_number(cli, relay_usage, "--retry-delay",
				optarg, INT64_MAX, &rl.retry_ms))
				return EX_USAGE;
			rl.retry = true;
			break;
		case 'h':
			fputs(relay_usage, stdout);
			return 0;
		default:
			return cli_option_error(cli, ch, argv);
		}
	}
	if (argc - optind < 2)
		return cli_usage_error(cli, relay_usage,
		    "which queues? (SRC and DST)");
	rl.src = argv[optind];
	rl.dst = argv[optind + 1];
	optind += 2;
	/* Options end at SRC ("+"), so a "--" before COMMAND is ours. */
	if (optind < argc && strcmp(argv[optind], "--") == 0)
		optind++;
	if (optind < argc)
		rl.command = argv + optind;
	if (rl.retry && rl.command == NULL)
		return cli_usage_error(cli, relay_usage,
		    "--retry-delay needs a COMMAND");
	if (strcmp(rl.src, rl.dst) == 0)
		return cli_usage_error(cli, relay_usage,
		    "SRC and DST are the same queue");
	signal(SIGPIPE, SIG_IGN);
	if ((rl.in = cli_connect_queue(cli, rl.src, &status)) == NULL)
		return status;
	/* As get and reserve: a typo in SRC is "no such queue", not a
	 * queue made and followed forever. */
	if (!cli_queue_exists(cli, rl.in, rl.src, &status) ||
	    (rl.out = cli_connect_queue(cli, rl.dst, &status)) == NULL) {
		sluice_free(rl.in);
		return status;
	}
	status = relay_run(&rl);
	sluice_free(rl.in);
	sluice_free(rl.out);
	return status;
}
