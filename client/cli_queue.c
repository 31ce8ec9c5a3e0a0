/*
 * cli_queue.c - the one-request commands: create, delete, purge, close,
 * stats, ping, ack and nack.  Each parses its options, makes one blocking
 * library call, and turns the result into output and an exit status.
 * Also the queue helpers bench shares: CREATE from command-line
 * options, and STATS parsed with jansson.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"

static const char create_usage[] =
    "usage: sluice create [--capacity N] [--max-bytes N] [--policy P]\n"
    "                     [--lease-ms N] [--max-deliveries N]\n"
    "                     [--dead-letter QUEUE] QUEUE\n"
    "\n"
    "Create QUEUE; options left out take the server's defaults.  Creating\n"
    "a queue that exists with the same settings succeeds; with other\n"
    "settings it fails (409 CONFLICT).\n"
    "\n"
    "  -c, --capacity N   most messages held (0: a rendezvous queue)\n"
    "  -m, --max-bytes N  most body bytes held\n"
    "  -P, --policy P     what a PUT into a full queue does: block (wait),\n"
    "                     reject (503 FULL), drop-oldest, drop-newest\n"
    "  -L, --lease-ms N   a reservation not acknowledged within N ms goes\n"
    "                     back to the queue (0: never)\n"
    "  -D, --max-deliveries N\n"
    "                     a message delivered N times that comes back\n"
    "                     (NACK, a worker's crash, its lease) is\n"
    "                     dead-lettered, not retried (0: no limit)\n"
    "  -d, --dead-letter QUEUE\n"
    "                     where such messages go (default: discarded)\n"
    "  -h, --help         this help\n";

static const char delete_usage[] =
    "usage: sluice delete QUEUE\n"
    "\n"
    "Delete QUEUE with all its messages, reserved ones included.\n";

static const char close_usage[] =
    "usage: sluice close QUEUE\n"
    "\n"
    "Close QUEUE: the end of its stream.  PUTs into it are refused from\n"
    "now on; consumers get what is left, then \"sluice get -f\" and\n"
    "\"sluice reserve -f\" end with status 0.  It stays closed until it\n"
    "is deleted.\n";

static const char purge_usage[] =
    "usage: sluice purge QUEUE\n"
    "\n"
    "Discard QUEUE's ready messages (reserved ones stay) and print how\n"
    "many went.\n";

static const char stats_usage[] =
    "usage: sluice stats [--json] [--wide] [QUEUE]\n"
    "\n"
    "Show the statistics of QUEUE, or of the server and all its queues: a\n"
    "table on a terminal, the server's JSON when piped or with --json.\n"
    "The table fits the terminal: numbers are shortened (1.2M), long\n"
    "names cut; RSVD is reserved, BLOCK producers blocked on a full queue,\n"
    "WAIT consumers waiting on an empty one.  For a live view, see\n"
    "\"sluice top\".\n"
    "\n"
    "  -j, --json   print JSON (one line) even on a terminal\n"
    "  -w, --wide   every counter, in full (RESERVED, BYTES, ACKS, ...)\n"
    "  -h, --help   this help\n";

static const char ping_usage[] =
    "usage: sluice ping\n"
    "\n"
    "Check that the server answers, and print the round trip; with\n"
    "several groups (-H repeated), each group's, one line each.\n";

static const char ack_usage[] =
    "usage: sluice ack ID\n"
    "       sluice nack ID\n"
    "\n"
    "Acknowledge (ack) or give back (nack) reservation ID.  Reservations\n"
    "belong to the connection that made them, and each sluice run is a\n"
    "connection of its own, so from a shell these only answer \"no such\n"
    "reservation\"; use \"sluice reserve QUEUE -- COMMAND\" instead.  They\n"
    "are here to check a server by hand.\n";

/* Options for commands that take only --help; returns -1 to go on. */
static int
plain_options(struct cli *cli, const char *usage, int argc, char **argv,
    int nargs_min, int nargs_max)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch, n;

	while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		if (ch == 'h') {
			fputs(usage, stdout);
			return 0;
		}
		return cli_option_error(cli, ch, argv);
	}
	n = argc - optind;
	if (n < nargs_min || n > nargs_max)
		return cli_usage_error(cli, usage, "%s",
		    n < nargs_min ? "missing argument" : "too many arguments");
	return -1;
}

bool
cli_queue_name_ok(const char *name)
{
	struct sluice_queue_opts *o = sluice_queue_opts_new();
	bool ok = o != NULL &&
	    sluice_queue_opts_dead_letter(o, name) == SLUICE_OK;

	sluice_queue_opts_free(o);
	return ok;
}

bool
cli_policy_ok(const char *policy)
{
	struct sluice_queue_opts *o = sluice_queue_opts_new();
	bool ok = o != NULL && sluice_queue_opts_policy(o, policy) == SLUICE_OK;

	sluice_queue_opts_free(o);
	return ok;
}

enum sluice_result
cli_create_queue(struct sluice_ctx *ctx, const char *queue,
    const struct cli_queue_opts *o)
{
	struct sluice_queue_opts *so = sluice_queue_opts_new();
	enum sluice_result r = so != NULL ? SLUICE_OK : SLUICE_ERR_NOMEM;

	/* The numbers were checked against INT64_MAX when parsed, and the
	 * policy by cli_policy_ok(). */
	if (r == SLUICE_OK && o->has_capacity)
		r = sluice_queue_opts_capacity(so, o->capacity);
	if (r == SLUICE_OK && o->has_max_bytes)
		r = sluice_queue_opts_max_bytes(so, o->max_bytes);
	if (r == SLUICE_OK && o->has_lease_ms)
		r = sluice_queue_opts_lease_ms(so, o->lease_ms);
	if (r == SLUICE_OK && o->policy != NULL)
		r = sluice_queue_opts_policy(so, o->policy);
	if (r == SLUICE_OK && o->has_max_deliveries)
		r = sluice_queue_opts_max_deliveries(so, o->max_deliveries);
	if (r == SLUICE_OK && o->dead_letter != NULL)
		r = sluice_queue_opts_dead_letter(so, o->dead_letter);
	if (r == SLUICE_OK)
		r = sluice_create(ctx, queue, so);
	sluice_queue_opts_free(so);
	return r;
}

enum sluice_result
cli_stats_json(struct sluice_ctx *ctx, const char *queue, json_t **out)
{
	enum sluice_result res;
	json_error_t jerr;
	char *text;
	size_t len;

	*out = NULL;
	if ((res = sluice_stats(ctx, queue, &text, &len)) != SLUICE_OK)
		return res;
	*out = json_loadb(text, len, 0, &jerr);
	free(text);
	if (*out != NULL && json_is_object(*out))
		return SLUICE_OK;
	json_decref(*out);
	*out = NULL;
	return SLUICE_ERR_PROTOCOL;
}

bool
cli_queue_exists(struct cli *cli, struct sluice_ctx *ctx, const char *queue,
    int *status)
{
	enum sluice_result r;
	char *text;

	/*
	 * PEEK and STATS never create a queue; GET and RESERVE would (with
	 * the server's auto_create).  A queue deleted between the two is
	 * created again by the GET: rare, and harmless.  PEEK first: in a
	 * replication group only the leader answers it, where a follower's
	 * STATS may not show a queue made a moment ago.  STATS when the
	 * token may not PEEK (a producer's check of move's target).
	 */
	r = sluice_peek(ctx, queue, 1, &text, NULL);
	if (r == SLUICE_FORBIDDEN)
		r = sluice_stats(ctx, queue, &text, NULL);
	if (r == SLUICE_OK) {
		free(text);
		return true;
	}
	*status = cli_fail(cli, ctx, queue, r);
	return false;
}

int
cli_create(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "capacity", required_argument, NULL, 'c' },
		{ "max-bytes", required_argument, NULL, 'm' },
		{ "policy", required_argument, NULL, 'P' },
		{ "lease-ms", required_argument, NULL, 'L' },
		{ "max-deliveries", required_argument, NULL, 'D' },
		{ "dead-letter", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_queue_opts o = { 0 };
	struct sluice_ctx *ctx;
	enum sluice_result r;
	int ch, status;

	while ((ch = getopt_long(argc, argv, ":c:m:P:L:D:d:h", longopts,
		    NULL)) != -1) {
		switch (ch) {
		case 'c':
			if (!cli_number(cli, create_usage, "--capacity",
				optarg, INT64_MAX, &o.capacity))
				return EX_USAGE;
			o.has_capacity = true;
			break;
		case 'm':
			if (!cli_number(cli, create_usage, "--max-bytes",
				optarg, INT64_MAX, &o.max_bytes))
				return EX_USAGE;
			o.has_max_bytes = true;
			break;
		case 'P':
			if (!cli_policy_ok(optarg))
				return cli_usage_error(cli, create_usage, "%s",
				    CLI_POLICY_ERROR);
			o.policy = optarg;
			break;
		case 'L':
			if (!cli_number(cli, create_usage, "--lease-ms",
				optarg, INT64_MAX, &o.lease_ms))
				return EX_USAGE;
			o.has_lease_ms = true;
			break;
		case 'D':
			if (!cli_number(cli, create_usage, "--max-deliveries",
				optarg, INT64_MAX, &o.max_deliveries))
				return EX_USAGE;
			o.has_max_deliveries = true;
			break;
		case 'd':
			if (!cli_queue_name_ok(optarg))
				return cli_usage_error(cli, create_usage,
				    "--dead-letter wants a queue name (1 to "
				    "128 of A-Z a-z 0-9 _ . : -)");
			o.dead_letter = optarg;
			break;
		case 'h':
			fputs(create_usage, stdout);
			return 0;
		default:
			return cli_option_error(cli, ch, argv);
		}
	}
	if (argc - optind != 1)
		return cli_usage_error(cli, create_usage, "%s",
		    argc == optind ? "which queue?" : "too many arguments");
	/* The server moves dead letters itself, within its group. */
	if (o.dead_letter != NULL &&
	    cli_group_of(cli, argv[optind]) != cli_group_of(cli, o.dead_letter))
		return cli_usage_error(cli, create_usage,
		    "%s and its dead-letter queue %s live in different groups "
		    "of servers (sluice shard)",
		    argv[optind], o.dead_letter);
	if ((ctx = cli_connect_queue(cli, argv[optind], &status)) == NULL)
		return status;
	r = cli_create_queue(ctx, argv[optind], &o);
	if (r != SLUICE_OK && r != SLUICE_EXISTS)
		status = cli_fail(cli, ctx, argv[optind], r);
	sluice_free(ctx);
	return status;
}

int
cli_delete(struct cli *cli, int argc, char **argv)
{
	struct sluice_ctx *ctx;
	enum sluice_result r;
	int status;

	if ((status = plain_options(cli, delete_usage, argc, argv, 1, 1)) >= 0)
		return status;
	if ((ctx = cli_connect_queue(cli, argv[optind], &status)) == NULL)
		return status;
	if ((r = sluice_delete(ctx, argv[optind])) != SLUICE_OK)
		status = cli_fail(cli, ctx, argv[optind], r);
	sluice_free(ctx);
	return status;
}

int
cli_close(struct cli *cli, int argc, char **argv)
{
	struct sluice_ctx *ctx;
	enum sluice_result r;
	int status;

	if ((status = plain_options(cli, close_usage, argc, argv, 1, 1)) >= 0)
		return status;
	if ((ctx = cli_connect_queue(cli, argv[optind], &status)) == NULL)
		return status;
	if ((r = sluice_close(ctx, argv[optind])) != SLUICE_OK)
		status = cli_fail(cli, ctx, argv[optind], r);
	sluice_free(ctx);
	return status;
}

int
cli_purge(struct cli *cli, int argc, char **argv)
{
	struct sluice_ctx *ctx;
	enum sluice_result r;
	uint64_t n;
	int status;

	if ((status = plain_options(cli, purge_usage, argc, argv, 1, 1)) >= 0)
		return status;
	if ((ctx = cli_connect_queue(cli, argv[optind], &status)) == NULL)
		return status;
	if ((r = sluice_purge(ctx, argv[optind], &n)) != SLUICE_OK)
		status = cli_fail(cli, ctx, argv[optind], r);
	else
		printf("%" PRIu64 "\n", n);
	sluice_free(ctx);
	return status;
}

/* Ping group i: one line, "PONG from SERVER in T ms". */
static int
ping_group(struct cli *cli, size_t i)
{
	struct sluice_ctx *ctx;
	enum sluice_result r;
	struct timespec t0, t1;
	int status;

	if ((ctx = cli_connect_group(cli, i, &status)) == NULL)
		return status;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((r = sluice_ping(ctx)) != SLUICE_OK) {
		status = cli_fail(cli, ctx, cli->groups[i], r);
	} else {
		clock_gettime(CLOCK_MONOTONIC, &t1);
		printf("PONG from %s in %.3f ms\n", sluice_server(ctx),
		    (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
		        (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	}
	sluice_free(ctx);
	return status;
}

int
cli_ping(struct cli *cli, int argc, char **argv)
{
	int status, st;

	if ((status = plain_options(cli, ping_usage, argc, argv, 0, 0)) >= 0)
		return status;
	/* Each group of -H: a script checks them all at once. */
	status = 0;
	for (size_t i = 0; i < cli->ngroups; i++)
		if ((st = ping_group(cli, i)) != 0 && status == 0)
			status = st;
	return status;
}

/* ack and nack. */
static int
settle(struct cli *cli, int argc, char **argv, bool ack)
{
	struct sluice_ctx *ctx;
	enum sluice_result r;
	uint64_t id;
	int status;

	if ((status = plain_options(cli, ack_usage, argc, argv, 1, 1)) >= 0)
		return status;
	if (!cli_number(cli, ack_usage, "ID", argv[optind], INT64_MAX, &id))
		return EX_USAGE;
	if ((ctx = cli_connect(cli, &status)) == NULL)
		return status;
	r = ack ? sluice_ack(ctx, id) : sluice_nack(ctx, id);
	if (r != SLUICE_OK)
		status = cli_fail(cli, ctx, argv[optind], r);
	sluice_free(ctx);
	return status;
}

int
cli_ack(struct cli *cli, int argc, char **argv)
{
	return settle(cli, argc, argv, true);
}

int
cli_nack(struct cli *cli, int argc, char **argv)
{
	return settle(cli, argc, argv, false);
}

/* The stats table: a column per counter, a row per queue. */
struct column {
	const char *title;
	const char *key;
};

/* -w: every counter, in full. */
static const struct column wide_columns[] = {
	{ "QUEUE", "name" },
	{ "POLICY", "policy" },
	{ "DEPTH", "depth" },
	{ "RESERVED", "reserved" },
	{ "CAPACITY", "capacity" },
	{ "BYTES", "bytes" },
	{ "PUTS", "puts" },
	{ "GETS", "gets" },
	{ "ACKS", "acks" },
	{ "DELAYED", "delayed" },
	{ "REJECTED", "rejected" },
	{ "DROPPED", "dropped" },
	{ "DEAD", "dead_lettered" },
	{ "BLOCKED", "blocked_producers" },
	{ "WAITING", "waiting_consumers" },
};

/* The default: what fits 80 columns, numbers shortened (1.2M). */
static const struct column compact_columns[] = {
	{ "QUEUE", "name" },
	{ "POLICY", "policy" },
	{ "DEPTH", "depth" },
	{ "CAP", "capacity" },
	{ "RSVD", "reserved" },
	{ "PUTS", "puts" },
	{ "GETS", "gets" },
	{ "BLOCK", "blocked_producers" },
	{ "WAIT", "waiting_consumers" },
};
#define MAXCOLUMNS (sizeof wide_columns / sizeof wide_columns[0])

/* A cell as text: strings as they are, numbers in decimal, or short. */
static void
cell(const json_t *row, const struct column *c, bool wide, char *buf,
    size_t size)
{
	const json_t *v = json_object_get(row, c->key);

	if (json_is_string(v))
		snprintf(buf, size, "%s", json_string_value(v));
	else if (json_is_integer(v) && wide)
		snprintf(buf, size, "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
	else if (json_is_integer(v))
		cli_human((double)json_integer_value(v), buf, size);
	else
		snprintf(buf, size, "-");
}

static int
compare_names(const void *a, const void *b)
{
	return strcmp(json_string_value(json_object_get(
			  *(json_t *const *)a, "name")) ?: "",
	    json_string_value(json_object_get(*(json_t *const *)b, "name"))
		?: "");
}

/*
 * Print rows as a table, sorted by name, columns as wide as needed.
 * Compact, the names are cut (ending in '~') so that a line fits the
 * terminal's width.
 */
static void
print_table(json_t **rows, size_t n, bool wide)
{
	const struct column *columns = wide ? wide_columns : compact_columns;
	size_t ncolumns =
	    wide ? MAXCOLUMNS : sizeof compact_columns / sizeof *columns;
	size_t width[MAXCOLUMNS], total = 0;
	size_t limit = (size_t)cli_term_width(STDOUT_FILENO) - 1;
	char buf[256];

	qsort(rows, n, sizeof *rows, compare_names);
	for (size_t c = 0; c < ncolumns; c++) {
		width[c] = strlen(columns[c].title);
		for (size_t i = 0; i < n; i++) {
			cell(rows[i], &columns[c], wide, buf, sizeof buf);
			if (strlen(buf) > width[c])
				width[c] = strlen(buf);
		}
		total += width[c] + (c > 0 ? 2 : 0);
	}
	if (!wide && total > limit && width[0] - 5 > total - limit)
		width[0] -= total - limit;
	else if (!wide && total > limit)
		width[0] = 5;
	for (size_t i = 0; i <= n; i++) {
		for (size_t c = 0; c < ncolumns; c++) {
			const char *s = columns[c].title;
			if (i > 0) {
				cell(rows[i - 1], &columns[c], wide, buf,
				    sizeof buf);
				s = buf;
			}
			if (c == 0 && strlen(s) > width[0]) {
				buf[width[0] - 1] = '~';
				buf[width[0]] = '\0';
			}
			/* Names and policies left, numbers right. */
			printf("%s%*s", c > 0 ? "  " : "",
			    c < 2 ? -(int)width[c] : (int)width[c], s);
		}
		putchar('\n');
	}
}

void
cli_uptime(int64_t s, char *buf, size_t size)
{
	if (s < 60)
		snprintf(buf, size, "%ds", (int)s);
	else if (s < 3600)
		snprintf(buf, size, "%dm%02ds", (int)(s / 60), (int)(s % 60));
	else if (s < 86400)
		snprintf(buf, size, "%dh%02dm", (int)(s / 3600),
		    (int)(s / 60 % 60));
	else
		snprintf(buf, size, "%" PRId64 "d%02dh", s / 86400,
		    (int)(s / 3600 % 24));
}

/* The server line and the table of all queues. */
static void
print_server(json_t *j, bool wide)
{
	json_t *queues = json_object_get(j, "queues"), *q;
	const char *name;
	json_int_t up = json_integer_value(json_object_get(j, "uptime_s"));
	size_t n = 0, max = json_object_size(queues);
	json_t **rows = calloc(max + 1, sizeof *rows);

	char uptime[32];

	cli_uptime(up, uptime, sizeof uptime);
	printf("sluiced %s, up %s, %" JSON_INTEGER_FORMAT " connections, %"
	       JSON_INTEGER_FORMAT " messages, %" JSON_INTEGER_FORMAT
	       " bytes\n",
	    json_string_value(json_object_get(j, "version")) ?: "?", uptime,
	    json_integer_value(json_object_get(j, "connections")),
	    json_integer_value(json_object_get(j, "messages")),
	    json_integer_value(json_object_get(j, "bytes")));
	if (json_object_get(j, "fsync") != NULL)
		printf("log: fsync %s, %" JSON_INTEGER_FORMAT
		       " bytes (%" JSON_INTEGER_FORMAT
		       " live) in %" JSON_INTEGER_FORMAT
		       " segments, %" JSON_INTEGER_FORMAT
		       " syncs, p99 %" JSON_INTEGER_FORMAT " us%s%s\n",
		    json_string_value(json_object_get(j, "fsync")),
		    json_integer_value(json_object_get(j, "log_bytes")),
		    json_integer_value(json_object_get(j, "log_live_bytes")),
		    json_integer_value(json_object_get(j, "log_segments")),
		    json_integer_value(json_object_get(j, "log_syncs")),
		    json_integer_value(json_object_get(j, "log_sync_p99_us")),
		    json_is_string(json_object_get(j, "log_error"))
		        ? ", last error: "
		        : "",
		    json_is_string(json_object_get(j, "log_error"))
		        ? json_string_value(json_object_get(j, "log_error"))
		        : "");
	/* A member of a replication group says its role and the leader. */
	if (json_is_string(json_object_get(j, "role")))
		printf("cluster: %s, leader %s\n",
		    json_string_value(json_object_get(j, "role")),
		    json_is_string(json_object_get(j, "leader"))
		        ? json_string_value(json_object_get(j, "leader"))
		        : "unknown");
	if (rows == NULL)
		return;
	json_object_foreach(queues, name, q)
		rows[n++] = q;
	if (n == 0)
		printf("no queues\n");
	else {
		putchar('\n');
		print_table(rows, n, wide);
	}
	free(rows);
}

int
cli_stats(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "wide", no_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool as_json = !isatty(STDOUT_FILENO), wide = false;
	const char *queue;
	struct sluice_ctx *ctx;
	enum sluice_result r;
	char *text;
	json_t *j;
	int ch, status;

	while ((ch = getopt_long(argc, argv, ":jwh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			as_json = true;
			break;
		case 'w':
			wide = true;
			break;
		case 'h':
			fputs(stats_usage, stdout);
			return 0;
		default:
			return cli_option_error(cli, ch, argv);
		}
	}
	if (argc - optind > 1)
		return cli_usage_error(cli, stats_usage, "too many arguments");
	queue = optind < argc ? argv[optind] : NULL;
	if ((ctx = (queue != NULL ? cli_connect_queue(cli, queue, &status)
	                          : cli_connect(cli, &status))) == NULL)
		return status;
	if (as_json) {
		if ((r = sluice_stats(ctx, queue, &text, NULL)) == SLUICE_OK) {
			printf("%s\n", text);
			free(text);
		}
	} else if ((r = cli_stats_json(ctx, queue, &j)) == SLUICE_OK) {
		if (queue == NULL)
			print_server(j, wide);
		else
			print_table(&j, 1, wide);
		json_decref(j);
	}
	if (r != SLUICE_OK)
		status = cli_fail(cli, ctx, queue, r);
	sluice_free(ctx);
	return status;
}
