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
	{ "put", cli_put, "put a message, or each line of stdin (-l)" },
	{ "get", cli_get, "take messages and print them (-f: follow)" },
	{ "reserve", cli_reserve,
	    "take messages at least once: ACK after a command succeeds" },
	{ "ack", cli_ack, "acknowledge a reservation of this connection" },
	{ "nack", cli_nack, "give back a reservation of this connection" },
	{ "create", cli_create, "create a queue with capacity and policy" },
	{ "delete", cli_delete, "delete a queue and its messages" },
	{ "purge", cli_purge, "discard a queue's ready messages" },
	{ "close", cli_close, "close a queue: the end of its stream" },
	{ "relay", cli_relay,
	    "move messages between queues, at least once (-- COMMAND)" },
	{ "stats", cli_stats, "show the server's or a queue's statistics" },
	{ "ping", cli_ping, "check that the server answers" },
	{ "bench", cli_bench, "load test: producers and consumers, report" },
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: sluice [-H HOST] [-p PORT] [-a TOKEN] [--tls [--cacert "
	    "FILE]\n"
	    "              [--cert FILE [--key FILE]]] COMMAND [ARG...]\n"
	    "\n"
	    "Talk to a sluiced message broker.\n"
	    "\n"
	    "Commands:\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(f, "  %-8s %s\n", commands[i].name,
		    commands[i].summary);
	fprintf(f,
	    "\n"
	    "Options:\n"
	    "  -H HOST        server (default $SLUICE_HOST, else %s)\n"
	    "  -p PORT        port (default $SLUICE_PORT, else %d)\n"
	    "  -a TOKEN       send AUTH TOKEN first (default $SLUICE_AUTH)\n"
	    "  --tls          speak TLS (the server's tls_listen port), "
	    "checking its\n"
	    "                 certificate and name (or set SLUICE_TLS=1)\n"
	    "  --cacert FILE  CA certificates to check it against, PEM "
	    "(default\n"
	    "                 $SLUICE_CACERT, else the system's)\n"
	    "  --cert FILE    client certificate for servers that ask "
	    "(mTLS), PEM\n"
	    "                 (default $SLUICE_CERT)\n"
	    "  --key FILE     its private key (default $SLUICE_KEY, else in "
	    "--cert)\n"
	    "  -h, --help     this help; \"sluice COMMAND --help\" for one "
	    "command\n"
	    "  -V, --version  print the version\n"
	    "\n"
	    "Exit status: 0 done, 64 bad usage, 69 cannot connect, 75 the "
	    "server refused\nfor now (503: queue full, busy, shutting down), "
	    "1 any other error.\n",
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

int
cli_usage_error(struct cli *cli, const char *usage_text, const char *fmt,
    ...)
{
	va_list ap;

	fprintf(stderr, "sluice: %s%s", cli->cmd ? cli->cmd : "",
	    cli->cmd ? ": " : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n%s", usage_text);
	return EX_USAGE;
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

struct sluice_ctx *
cli_connect(struct cli *cli, int *status)
{
	struct sluice_ctx *ctx;
	enum sluice_result r;

	*status = 0;
	ctx = sluice_connect(cli->host, cli->port, CLI_CONNECT_TIMEOUT_MS);
	if (ctx == NULL) {
		*status = cli_error(cli, EX_OSERR, "out of memory");
		return NULL;
	}
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

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "tls", no_argument, NULL, OPT_TLS },
		{ "cacert", required_argument, NULL, OPT_CACERT },
		{ "cert", required_argument, NULL, OPT_CERT },
		{ "key", required_argument, NULL, OPT_KEY },
		{ NULL, 0, NULL, 0 },
	};
	struct cli cli = { SLUICE_DEFAULT_HOST, SLUICE_DEFAULT_PORT, NULL, NULL,
		false, NULL, NULL, NULL };
	const char *env, *tls_opt = NULL;
	int ch;

	if ((env = getenv("SLUICE_HOST")) != NULL && *env != '\0')
		cli.host = env;
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
	while ((ch = getopt_long(argc, argv, "+H:p:a:hV", longopts,
		    NULL)) != -1) {
		switch (ch) {
		case 'H':
			cli.host = optarg;
			break;
		case 'p':
			if (!parse_port(optarg, &cli.port)) {
				fprintf(stderr, "sluice: -p %s: not a port\n",
				    optarg);
				return EX_USAGE;
			}
			break;
		case 'a':
			cli.token = optarg;
			break;
		case OPT_TLS:
			cli.tls = true;
			break;
		case OPT_CACERT:
			cli.cacert = optarg;
			tls_opt = "--cacert";
			break;
		case OPT_CERT:
			cli.cert = optarg;
			tls_opt = "--cert";
			break;
		case OPT_KEY:
			cli.key = optarg;
			tls_opt = "--key";
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("sluice %s\n", PACKAGE_VERSION);
			return 0;
		default:
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (tls_opt != NULL && !cli.tls) {
		fprintf(stderr, "sluice: %s needs --tls\n", tls_opt);
		return EX_USAGE;
	}
	if (cli.key != NULL && cli.cert == NULL) {
		fprintf(stderr,
		    "sluice: a key (--key, SLUICE_KEY) needs its "
		    "certificate (--cert, SLUICE_CERT)\n");
		return EX_USAGE;
	}
	if (optind >= argc) {
		usage(stderr);
		return EX_USAGE;
	}
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
		if (strcmp(argv[optind], commands[i].name) != 0)
			continue;
		cli.cmd = commands[i].name;
		argc -= optind;
		argv += optind;
		/* Let the command's getopt start afresh on its words. */
		optind = 0;
		return commands[i].run(&cli, argc, argv);
	}
	fprintf(stderr, "sluice: unknown command \"%s\"\n\n", argv[optind]);
	usage(stderr);
	return EX_USAGE;
}
