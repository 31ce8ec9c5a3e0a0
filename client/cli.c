/*
 * cli.c - sluice, the command-line client: global options, the command
 * table, and the helpers every command shares (connecting, exit
 * statuses, error lines).  See cli.h.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

/* How long connecting may take before the server counts as gone. */
#define CLI_CONNECT_TIMEOUT_MS 5000

/* Long options without a short form. */
enum {
	OPT_TLS = 256,
	OPT_CACERT,
	OPT_CERT,
	OPT_KEY,
};

static const struct cli_command commands[] = {
	{ "put", cli_put, "put a message, or each line of stdin (-l)", NULL },
	{ "get", cli_get, "take messages and print them (-f: follow)", NULL },
	{ "reserve", cli_reserve,
	    "take messages at least once: ACK after a command succeeds", NULL },
	{ "ack", cli_ack, "acknowledge a reservation of this connection",
	    NULL },
	{ "nack", cli_nack, "give back a reservation of this connection",
	    NULL },
	{ "create", cli_create, "create a queue with capacity and policy",
	    NULL },
	{ "delete", cli_delete, "delete a queue and its messages", NULL },
	{ "purge", cli_purge, "discard a queue's ready messages", NULL },
	{ "close", cli_close, "close a queue: the end of its stream", NULL },
	{ "stats", cli_stats, "show the server's or a queue's statistics",
	    NULL },
	{ "peek", cli_peek, "show a queue's first messages without taking them",
	    NULL },
	{ "move", cli_move, "move messages to another queue, none lost", NULL },
	{ "relay", cli_relay,
	    "move messages between queues, at least once (-- COMMAND)", NULL },
	{ "queues", cli_queues, "list the queues, one name a line", NULL },
	{ "top", cli_top, "a live view of the queues: rates, depth, waits",
	    NULL },
	{ "ping", cli_ping, "check that the server answers", NULL },
	{ "bench", cli_bench, "load test: producers and consumers, report",
	    NULL },
	{ "cluster", cli_cluster,
	    "a replication group: status, add or remove a member", NULL },
	{ "shard", cli_shard, "say which group of servers (-H) holds a queue",
	    NULL },
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: sluice [-H SERVERS]... [-p PORT] [--tls [--cacert FILE]\n"
	    "              [--cert FILE [--key FILE]]] COMMAND [ARG...]\n"
	    "\n"
	    "Talk to a sluiced message broker.\n"
	    "\n"
	    "Commands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-8s %s\n", commands[i].name,
		    commands[i].summary);
	fprintf(f,
	    "\n"
	    "Options (before or after the command):\n"
	    "  -H, --host SERVERS\n"
	    "                    a server, or the servers of a replication "
	    "group,\n"
	    "                    HOST:PORT,HOST:PORT,... (tried in turn, "
	    "the leader\n"
	    "                    followed); repeated, one group each, and "
	    "each queue\n"
	    "                    goes to its group (\"sluice shard\"); "
	    "default\n"
	    "                    $SLUICE_HOST (groups apart by spaces), "
	    "else %s\n"
	    "  -p, --port PORT   port (default $SLUICE_PORT, else %d)\n"
	    "  -a, --auth TOKEN  send AUTH TOKEN first; better: set "
	    "$SLUICE_AUTH,\n"
	    "                    which other users cannot see in ps\n"
	    "  --tls             speak TLS (the server's tls_listen port), "
	    "checking its\n"
	    "                    certificate and name (or set SLUICE_TLS=1)\n"
	    "  --cacert FILE     CA certificates to check it against, PEM "
	    "(default\n"
	    "                    $SLUICE_CACERT, else the system's)\n"
	    "  --cert FILE       client certificate for servers that ask "
	    "(mTLS), PEM\n"
	    "                    (default $SLUICE_CERT)\n"
	    "  --key FILE        its private key (default $SLUICE_KEY, else "
	    "in --cert)\n"
	    "  -h, --help        this help; \"sluice COMMAND --help\" for "
	    "one command\n"
	    "  -V, --version     print the version\n"
	    "\n"
	    "Exit status: 0 done, 1 an error the server reported (bad "
	    "request, conflict,\n"
	    "...), 2 no message (empty queue), 64 bad usage, 66 no such "
	    "queue, 69 cannot\n"
	    "connect, 75 the server refused for now (503: queue full, busy, "
	    "shutting\n"
	    "down; retry later), 77 not authorized.\n",
	    SLUICE_DEFAULT_HOST, SLUICE_DEFAULT_PORT);
}

uint64_t
cli_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int
cli_error(struct cli *cli, int status, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "sluice: %s%s", cli->cmd ? cli->cmd : "",
	    cli->cmd ? ": " : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return status;
}

/* The hint that ends a usage error: where the whole story is. */
static void
help_hint(const struct cli *cli)
{
	fprintf(stderr, " (try \"sluice %s%s--help\")\n",
	    cli->cmd ? cli->cmd : "", cli->cmd ? " " : "");
}

int
cli_usage_error(struct cli *cli, const char *usage_text, const char *fmt,
    ...)
{
	va_list ap;

	/* One line and a pointer to --help, not the help itself: a
	 * script's log or a terminal keeps the line that matters. */
	(void)usage_text;
	fflush(stdout);
	fprintf(stderr, "sluice: %s%s", cli->cmd ? cli->cmd : "",
	    cli->cmd ? ": " : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	help_hint(cli);
	return EX_USAGE;
}

int
cli_option_error(struct cli *cli, int ch, char **argv)
{
	/* opterr is 0 and optstrings start with ':' (after any '+'):
	 * getopt says ':' for a missing value, '?' for an unknown
	 * option; optopt is the letter, 0 for an unknown long one. */
	const char *word = argv[optind - 1];
	char opt[3] = { '-', (char)optopt, '\0' };

	if (optopt == 0 || strncmp(word, "--", 2) == 0)
		return cli_usage_error(cli, NULL, "%s %.*s",
		    ch == ':' ? "a value is missing after" : "unknown option",
		    (int)strcspn(word, "="), word);
	return cli_usage_error(cli, NULL, "%s %s",
	    ch == ':' ? "a value is missing after" : "unknown option", opt);
}

bool
cli_number(struct cli *cli, const char *usage_text, const char *opt,
    const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno != 0 ||
	    v > max) {
		cli_usage_error(cli, usage_text,
		    "%s wants a number from 0 to %llu, not \"%s\"", opt,
		    (unsigned long long)max, s);
		return false;
	}
	*out = v;
	return true;
}

int
cli_status(enum sluice_result r)
{
	switch (r) {
	case SLUICE_OK:
	case SLUICE_EXISTS:
	case SLUICE_DROPPED:
		return 0;
	case SLUICE_EMPTY:
		return CLI_EX_EMPTY;
	case SLUICE_NO_QUEUE:
	case SLUICE_NO_MEMBER:
		return EX_NOINPUT;
	case SLUICE_UNAUTHORIZED:
	case SLUICE_FORBIDDEN:
		return EX_NOPERM;
	case SLUICE_FULL:
	case SLUICE_TOO_MANY_RESERVED:
	case SLUICE_TOO_MANY_QUEUES:
	case SLUICE_SHUTTING_DOWN:
	case SLUICE_NOT_LEADER:
	case SLUICE_BUSY:
	case SLUICE_UNAVAILABLE:
		return EX_TEMPFAIL;
	case SLUICE_ERR_ARG:
		return EX_USAGE;
	case SLUICE_ERR_CONNECT:
	case SLUICE_ERR_LOST:
		return EX_UNAVAILABLE;
	default:
		return CLI_EX_ERROR;
	}
}

/* What a result means, in words. */
static const char *
describe(enum sluice_result r)
{
	switch (r) {
	case SLUICE_EXISTS:
		return "queue exists";
	case SLUICE_DROPPED:
		return "message dropped: the queue is full (drop-newest)";
	case SLUICE_EMPTY:
		return "no message";
	case SLUICE_UNAUTHORIZED:
		return "not authorized (give a token with -a or SLUICE_AUTH)";
	case SLUICE_FORBIDDEN:
		return "forbidden: the token may not do this on that queue";
	case SLUICE_NO_QUEUE:
		return "no such queue";
	case SLUICE_NO_MEMBER:
		return "no such member";
	case SLUICE_NO_MSG:
		return "this connection holds no reservation with that id";
	case SLUICE_CONFLICT:
		return "the queue exists with other settings";
	case SLUICE_TOO_LARGE:
		return "message too large";
	case SLUICE_CLOSED:
		return "the queue is closed";
	case SLUICE_FULL:
		return "the queue is full";
	case SLUICE_TOO_MANY_RESERVED:
		return "this connection holds too many reservations";
	case SLUICE_TOO_MANY_QUEUES:
		return "the server holds its limit of queues";
	case SLUICE_SHUTTING_DOWN:
		return "the server is shutting down";
	case SLUICE_NOT_LEADER:
		return "this server is not the leader";
	case SLUICE_BUSY:
		return "the server is at its connection limit";
	case SLUICE_UNAVAILABLE:
		return "the server refused for now";
	case SLUICE_INTERNAL:
		return "server error";
	case SLUICE_ERR_NOMEM:
		return "out of memory";
	case SLUICE_ERR_PROTOCOL:
		return "the server's answer is not what was asked for";
	default:
		return "request refused";
	}
}

int
cli_fail(struct cli *cli, struct sluice_ctx *ctx, const char *what,
    enum sluice_result r)
{
	const char *sep = what != NULL ? ": " : "";

	if (what == NULL)
		what = "";
	/* A local error the library reported says why in its errstr;
	 * one of the CLI's own (a STATS that is not JSON) does not. */
	if (r < 0)
		return cli_error(cli, cli_status(r), "%s%s%s", what, sep,
		    sluice_error(ctx) == r ? sluice_errstr(ctx) : describe(r));
	if (r == SLUICE_NOT_LEADER && sluice_leader(ctx) != NULL)
		return cli_error(cli, cli_status(r),
		    "%s%s%s; the leader is %s (%s)", what, sep, describe(r),
		    sluice_leader(ctx), sluice_status_line(ctx));
	return cli_error(cli, cli_status(r), "%s%s%s (%s)", what, sep,
	    describe(r), sluice_status_line(ctx));
}

enum sluice_result
cli_start_tls(struct cli *cli, struct sluice_ctx *ctx)
{
	if (!cli->tls)
		return SLUICE_OK;
	return sluice_start_tls(ctx, cli->cacert, cli->cert, cli->key,
	    CLI_CONNECT_TIMEOUT_MS);
}

size_t
cli_group_of(const struct cli *cli, const char *queue)
{
	return sluice_shard_pick(queue, cli->groups, cli->ngroups);
}

struct sluice_ctx *
cli_connect_group(struct cli *cli, size_t i, int *status)
{
	struct sluice_ctx *ctx;
	enum sluice_result r;

	*status = 0;
	ctx = sluice_connect(cli->groups[i], cli->port, CLI_CONNECT_TIMEOUT_MS);
	if (ctx == NULL) {
		*status = cli_error(cli, EX_OSERR, "out of memory");
		return NULL;
	}
	/* Even one server may be a cluster's member: follow its hint. */
	sluice_set_failover(ctx, SLUICE_DEFAULT_FAILOVER_MS);
	if (sluice_error(ctx) != SLUICE_OK) {
		*status =
		    cli_error(cli, EX_UNAVAILABLE, "%s", sluice_errstr(ctx));
		sluice_free(ctx);
		return NULL;
	}
	if ((r = cli_start_tls(cli, ctx)) != SLUICE_OK) {
		*status = cli_error(cli,
		    r == SLUICE_ERR_TLS ? CLI_EX_ERROR : EX_UNAVAILABLE, "%s",
		    sluice_errstr(ctx));
		sluice_free(ctx);
		return NULL;
	}
	if (cli->token != NULL &&
	    (r = sluice_auth(ctx, cli->token)) != SLUICE_OK) {
		*status = cli_fail(cli, ctx, "AUTH", r);
		sluice_free(ctx);
		return NULL;
	}
	return ctx;
}

struct sluice_ctx *
cli_connect(struct cli *cli, int *status)
{
	if (cli->ngroups > 1) {
		*status = cli_usage_error(cli, NULL,
		    "%zu groups of servers given (-H); this command talks "
		    "to one: give one -H",
		    cli->ngroups);
		return NULL;
	}
	return cli_connect_group(cli, 0, status);
}

struct sluice_ctx *
cli_connect_queue(struct cli *cli, const char *queue, int *status)
{
	return cli_connect_group(cli, cli_group_of(cli, queue), status);
}

/* Add a group of servers (-H, $SLUICE_HOST); false when too many. */
static bool
add_group(struct cli *cli, const char *group)
{
	if (cli->ngroups >= CLI_GROUPS_MAX)
		return false;
	cli->groups[cli->ngroups++] = group;
	return true;
}

/* $SLUICE_HOST: groups separated by spaces, each a list of servers;
 * cut up in a copy that lives as long as the process. */
static bool
env_groups(struct cli *cli, const char *env)
{
	static char *copy;

	if ((copy = strdup(env)) == NULL)
		return false;
	for (char *g = strtok(copy, " \t\n"); g != NULL;
	     g = strtok(NULL, " \t\n"))
		if (!add_group(cli, g))
			return false;
	return true;
}

/* Parse a port (1..65535) from an option or the environment. */
static bool
parse_port(const char *s, int *port)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v < 1 || v > 65535)
		return false;
	*port = (int)v;
	return true;
}

static const struct cli_command *
find_command(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(name, commands[i].name) == 0)
			return &commands[i];
	return NULL;
}

/* Set a global option; returns -1 to go on, else an exit status. */
static int
set_global(struct cli *cli, int opt, const char *value)
{
	switch (opt) {
	case 'H':
		/* The first -H replaces $SLUICE_HOST; more add groups. */
		if (!cli->groups_from_flag)
			cli->ngroups = 0;
		cli->groups_from_flag = true;
		if (value[0] == '\0' || !add_group(cli, value))
			return cli_usage_error(cli, NULL,
			    value[0] == '\0' ? "--host wants servers"
			                     : "more than %d groups (-H)",
			    CLI_GROUPS_MAX);
		break;
	case 'p':
		if (!parse_port(value, &cli->port))
			return cli_usage_error(cli, NULL,
			    "--port wants a port from 1 to 65535, not \"%s\"",
			    value);
		break;
	case 'a':
		cli->token = value;
		cli->token_in_argv = true;
		break;
	case OPT_TLS:
		cli->tls = true;
		break;
	case OPT_CACERT:
		cli->cacert = value;
		cli->tls_opt = "--cacert";
		break;
	case OPT_CERT:
		cli->cert = value;
		cli->tls_opt = "--cert";
		break;
	case OPT_KEY:
		cli->key = value;
		cli->tls_opt = "--key";
		break;
	}
	return -1;
}

/*
 * Take the global options out of a command's words, so that they work
 * after the command too ("sluice get jobs -H db1", as redis-cli and
 * git allow); what is left goes to the command's own getopt.  Stops at
 * "--" (reserve's command follows it).  A short option the command
 * has a use of its own for (none does yet) stays the command's.  Returns
 * -1 to go on, else an exit status.
 */
static int
take_globals(struct cli *cli, const struct cli_command *c, int *argc,
    char **argv)
{
	static const struct {
		int opt; /* set_global()'s; a letter if it has a short form */
		const char *name;
		bool has_value;
	} globals[] = {
		{ 'H', "--host", true },
		{ 'p', "--port", true },
		{ 'a', "--auth", true },
		{ OPT_TLS, "--tls", false },
		{ OPT_CACERT, "--cacert", true },
		{ OPT_CERT, "--cert", true },
		{ OPT_KEY, "--key", true },
	};
	const size_t nglobals = sizeof globals / sizeof globals[0];
	int out = 1, st;

	for (int i = 1; i < *argc; i++) {
		const char *w = argv[i], *value = NULL;
		bool has_value = false;
		int opt = 0;

		if (strcmp(w, "--") == 0) {
			while (i < *argc)
				argv[out++] = argv[i++];
			break;
		}
		for (size_t g = 0; g < nglobals && opt == 0; g++) {
			size_t n = strlen(globals[g].name);
			has_value = globals[g].has_value;
			if (strncmp(w, globals[g].name, n) == 0 &&
			    (w[n] == '\0' || (w[n] == '=' && has_value))) {
				opt = globals[g].opt;
				value = w[n] == '=' ? w + n + 1 : NULL;
			} else if (globals[g].opt < 256 && w[0] == '-' &&
			    w[1] == globals[g].opt &&
			    (c->own == NULL || strchr(c->own, w[1]) == NULL)) {
				opt = globals[g].opt;
				value = w[2] != '\0' ? w + 2 : NULL;
			}
		}
		if (opt == 0) {
			argv[out++] = argv[i];
			continue;
		}
		if (has_value && value == NULL && i + 1 >= *argc)
			return cli_usage_error(cli, NULL,
			    "a value is missing after %s", w);
		if (has_value && value == NULL)
			value = argv[++i];
		if ((st = set_global(cli, opt, value)) >= 0)
			return st;
	}
	*argc = out;
	argv[out] = NULL;
	return -1;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "host", required_argument, NULL, 'H' },
		{ "port", required_argument, NULL, 'p' },
		{ "auth", required_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "tls", no_argument, NULL, OPT_TLS },
		{ "cacert", required_argument, NULL, OPT_CACERT },
		{ "cert", required_argument, NULL, OPT_CERT },
		{ "key", required_argument, NULL, OPT_KEY },
		{ NULL, 0, NULL, 0 },
	};
	struct cli cli = {
		.port = SLUICE_DEFAULT_PORT,
	};
	const struct cli_command *c;
	const char *env;
	int ch, st;

	/* Every command reports bad options itself, in one line. */
	opterr = 0;
	if ((env = getenv("SLUICE_HOST")) != NULL && *env != '\0' &&
	    !env_groups(&cli, env)) {
		fprintf(stderr, "sluice: SLUICE_HOST: more than %d groups\n",
		    CLI_GROUPS_MAX);
		return EX_USAGE;
	}
	if ((env = getenv("SLUICE_PORT")) != NULL && *env != '\0' &&
	    !parse_port(env, &cli.port)) {
		fprintf(stderr, "sluice: SLUICE_PORT=%s is not a port\n", env);
		return EX_USAGE;
	}
	if ((env = getenv("SLUICE_AUTH")) != NULL && *env != '\0')
		cli.token = env;
	if ((env = getenv("SLUICE_TLS")) != NULL && *env != '\0')
		cli.tls = strcmp(env, "0") != 0;
	if ((env = getenv("SLUICE_CACERT")) != NULL && *env != '\0')
		cli.cacert = env;
	if ((env = getenv("SLUICE_CERT")) != NULL && *env != '\0')
		cli.cert = env;
	if ((env = getenv("SLUICE_KEY")) != NULL && *env != '\0')
		cli.key = env;
	/* "+": stop at the command; its options are its own. */
	while ((ch = getopt_long(argc, argv, "+:H:p:a:hV", longopts, NULL)) !=
	    -1) {
		switch (ch) {
		case 'H':
		case 'p':
		case 'a':
		case OPT_TLS:
		case OPT_CACERT:
		case OPT_CERT:
		case OPT_KEY:
			if ((st = set_global(&cli, ch, optarg)) >= 0)
				return st;
			break;
		case 'h':
			/* redis-cli's -h is its host: say where ours is
			 * rather than answer "sluice -h db1 ping" with
			 * the help. */
			if (optind < argc && argv[optind][0] != '-' &&
			    find_command(argv[optind]) == NULL) {
				fprintf(stderr,
				    "sluice: -h is --help; for the "
				    "server, use -H %s or --host %s\n",
				    argv[optind], argv[optind]);
				return EX_USAGE;
			}
			usage(stdout);
			return 0;
		case 'V':
			printf("sluice %s\n", PACKAGE_VERSION);
			return 0;
		default:
			return cli_option_error(&cli, ch, argv);
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EX_USAGE;
	}
	if (cli.ngroups == 0)
		(void)add_group(&cli, SLUICE_DEFAULT_HOST);
	if ((c = find_command(argv[optind])) == NULL) {
		fprintf(stderr,
		    "sluice: unknown command \"%s\" (try \"sluice "
		    "--help\")\n",
		    argv[optind]);
		return EX_USAGE;
	}
	cli.cmd = c->name;
	argc -= optind;
	argv += optind;
	if ((st = take_globals(&cli, c, &argc, argv)) >= 0)
		return st;
	if (cli.tls_opt != NULL && !cli.tls) {
		fprintf(stderr, "sluice: %s needs --tls\n", cli.tls_opt);
		return EX_USAGE;
	}
	if (cli.key != NULL && cli.cert == NULL) {
		fprintf(stderr,
		    "sluice: a key (--key, SLUICE_KEY) needs its "
		    "certificate (--cert, SLUICE_CERT)\n");
		return EX_USAGE;
	}
	/* A token on the command line shows in ps to every user. */
	if (cli.token_in_argv && isatty(STDERR_FILENO))
		fprintf(stderr,
		    "sluice: warning: a token given with -a is "
		    "visible to other users (ps); set SLUICE_AUTH instead\n");
	/* Let the command's getopt start afresh on its words. */
	optind = 0;
	return c->run(&cli, argc, argv);
}
