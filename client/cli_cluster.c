/*
 * cli_cluster.c - "sluice cluster": a replication group's state
 * (CLUSTER STATUS, as a table or raw JSON) and its membership (CLUSTER
 * ADD, CLUSTER REMOVE, which the leader makes: failover finds it), and
 * "sluice shard": which group of servers (-H) holds a queue, by the
 * rendezvous hash every client shares (sluice_shard_pick()).
 */
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "cli.h"

static const char cluster_usage[] =
    "usage: sluice cluster status [-j]\n"
    "       sluice cluster add ID RAFT CLIENT\n"
    "       sluice cluster remove ID\n"
    "\n"
    "A replication group of sluiced servers (-H: the group's servers).\n"
    "\n"
    "  status      the group as this member sees it: the leader, the "
    "term,\n"
    "              and each member's id, role and addresses\n"
    "  add         add member ID, whose Raft address is RAFT and client\n"
    "              address CLIENT (a.b.c.d:port each), started with\n"
    "              \"join\"; done once it has caught up and votes\n"
    "  remove      remove member ID\n"
    "\n"
    "  -j, --json  status: the server's JSON as it is\n"
    "  -h, --help  this help\n"
    "\n"
    "add and remove go to the leader (found by following the servers'\n"
    "hints) and need a token with the admin right.  Exit status 66 when\n"
    "ID is no member, 1 when it is one already or a change is under "
    "way.\n";

static const char shard_usage[] =
    "usage: sluice shard [-i] QUEUE...\n"
    "\n"
    "Print the group of servers (as -H gave it) that holds each QUEUE, one\n"
    "line each, without asking any server.  Each -H is a group; a queue\n"
    "lives in the one where the rendezvous hash of its name scores\n"
    "highest, the same in every sluice client (see protocol/PROTOCOL.md,\n"
    "\"Sharding\").  Name a group NAME=HOST:PORT,... to keep its queues\n"
    "when its servers change: the name is then what is hashed.\n"
    "\n"
    "  -i, --index  print the group's number instead (0: the first -H)\n"
    "  -h, --help   this help\n";

/* The group's state, for people: a line about the group, a row each
 * member. */
static void
print_status(json_t *j)
{
	json_t *members = json_object_get(j, "members"), *m;
	const char *leader = json_string_value(json_object_get(j, "leader"));
	json_int_t self = json_integer_value(json_object_get(j, "id"));
	size_t i;

	printf("leader %s, term %" JSON_INTEGER_FORMAT
	       ", applied %" JSON_INTEGER_FORMAT
	       "; asked member %" JSON_INTEGER_FORMAT " (%s)\n",
	    leader != NULL ? leader : "unknown",
	    json_integer_value(json_object_get(j, "term")),
	    json_integer_value(json_object_get(j, "applied")), self,
	    json_string_value(json_object_get(j, "role")) != NULL
	        ? json_string_value(json_object_get(j, "role"))
	        : "?");
	printf("%-6s %-8s %-22s %s\n", "ID", "ROLE", "RAFT", "CLIENT");
	json_array_foreach(members, i, m)
	{
		const char *client =
		    json_string_value(json_object_get(m, "client"));
		const char *role =
		    json_string_value(json_object_get(m, "role"));
		const char *raft =
		    json_string_value(json_object_get(m, "raft"));

		printf("%-6" JSON_INTEGER_FORMAT " %-8s %-22s %s%s\n",
		    json_integer_value(json_object_get(m, "id")),
		    role ? role : "?", raft ? raft : "?", client ? client : "?",
		    leader != NULL && client != NULL &&
		            strcmp(leader, client) == 0
		        ? " leader"
		        : "");
	}
}

static int
cluster_status(struct cli *cli, struct sluice_ctx *ctx, bool as_json)
{
	enum sluice_result r;
	json_error_t err;
	size_t len;
	char *text;
	json_t *j;

	if ((r = sluice_cluster_status(ctx, &text, &len)) != SLUICE_OK)
		return cli_fail(cli, ctx, NULL, r);
	if (as_json) {
		printf("%s\n", text);
		free(text);
		return 0;
	}
	j = json_loadb(text, len, 0, &err);
	free(text);
	if (!json_is_object(j)) {
		json_decref(j);
		return cli_error(cli, CLI_EX_ERROR,
		    "CLUSTER STATUS is not a JSON object: %s", err.text);
	}
	print_status(j);
	json_decref(j);
	return 0;
}

/* A member id, 1..2^63-1; false after a usage message. */
static bool
member_id(struct cli *cli, const char *s, uint64_t *id)
{
	if (!cli_number(cli, cluster_usage, "ID", s, INT64_MAX, id))
		return false;
	if (*id == 0) {
		cli_usage_error(cli, cluster_usage, "ID wants 1 or more");
		return false;
	}
	return true;
}

/* How long add waits for the new member to vote. */
#define VOTER_WAIT_MS 60000
#define VOTER_POLL_MS 100

/* Is member id a voter in the group's status?  -1: cannot tell. */
static int
is_voter(struct sluice_ctx *ctx, uint64_t id)
{
	char *text = NULL;
	json_t *j, *ms, *m;
	size_t i;
	int voter = -1;

	if (sluice_cluster_status(ctx, &text, NULL) != SLUICE_OK)
		return -1;
	j = json_loads(text, 0, NULL);
	free(text);
	ms = json_object_get(j, "members");
	json_array_foreach(ms, i, m)
	{
		json_t *mid = json_object_get(m, "id");
		const char *role = json_string_value(json_object_get(m, "role"));
		if (json_is_integer(mid) &&
		    (uint64_t)json_integer_value(mid) == id)
			voter = role != NULL && strcmp(role, "voter") == 0;
	}
	json_decref(j);
	return voter < 0 ? 0 : voter;
}

/*
 * The leader accepts a new member as a spare and promotes it once it
 * has caught up: add waits for that (bounded), asking the status.
 */
static bool
await_voter(struct sluice_ctx *ctx, uint64_t id)
{
	for (int waited = 0; waited < VOTER_WAIT_MS; waited += VOTER_POLL_MS) {
		if (is_voter(ctx, id) == 1)
			return true;
		usleep(VOTER_POLL_MS * 1000);
	}
	return false;
}

/* add and remove; argv[0] is the subcommand. */
static int
cluster_change(struct cli *cli, struct sluice_ctx *ctx, int argc, char **argv)
{
	bool add = strcmp(argv[0], "add") == 0;
	enum sluice_result r;
	uint64_t id;

	if (!member_id(cli, argv[1], &id))
		return EX_USAGE;
	r = add ? sluice_cluster_add(ctx, id, argv[2], argv[3])
	        : sluice_cluster_remove(ctx, id);
	if (r == SLUICE_NO_MEMBER)
		return cli_error(cli, EX_NOINPUT, "%s: no such member (%s)",
		    argv[1], sluice_status_line(ctx));
	if (r != SLUICE_OK)
		return cli_fail(cli, ctx, argv[1], r);
	(void)argc;
	if (add && !await_voter(ctx, id)) {
		printf("added member %" PRIu64 "; not a voter after %d s "
		       "(see sluice cluster status)\n",
		    id, VOTER_WAIT_MS / 1000);
		return EX_TEMPFAIL;
	}
	printf("%s member %" PRIu64 "%s\n", add ? "added" : "removed", id,
	    add ? ", a voter" : "");
	return 0;
}

int
cli_cluster(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sluice_ctx *ctx;
	bool as_json = false;
	int ch, status, want = -1;
	const char *sub;

	while ((ch = getopt_long(argc, argv, ":jh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			as_json = true;
			break;
		case 'h':
			fputs(cluster_usage, stdout);
			return 0;
		default:
			return cli_option_error(cli, ch, argv);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		return cli_usage_error(cli, cluster_usage,
		    "status, add or remove?");
	sub = argv[0];
	if (strcmp(sub, "status") == 0)
		want = 1;
	else if (strcmp(sub, "add") == 0)
		want = 4;
	else if (strcmp(sub, "remove") == 0)
		want = 2;
	if (want < 0)
		return cli_usage_error(cli, cluster_usage,
		    "unknown subcommand \"%s\" (status, add or remove)", sub);
	if (argc != want)
		return cli_usage_error(cli, cluster_usage,
		    "cluster %s wants %s", sub,
		    want == 1       ? "no argument"
		        : want == 2 ? "ID"
		                    : "ID RAFT CLIENT");
	if (as_json && want != 1)
		return cli_usage_error(cli, cluster_usage,
		    "--json is for cluster status");
	if ((ctx = cli_connect(cli, &status)) == NULL)
		return status;
	status = want == 1 ? cluster_status(cli, ctx, as_json)
	                   : cluster_change(cli, ctx, argc, argv);
	sluice_free(ctx);
	return status;
}

int
cli_shard(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "index", no_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool index = false;
	int ch;

	while ((ch = getopt_long(argc, argv, ":ih", longopts, NULL)) != -1) {
		switch (ch) {
		case 'i':
			index = true;
			break;
		case 'h':
			fputs(shard_usage, stdout);
			return 0;
		default:
			return cli_option_error(cli, ch, argv);
		}
	}
	if (optind >= argc)
		return cli_usage_error(cli, shard_usage, "which queue?");
	for (int i = optind; i < argc; i++)
		if (!cli_queue_name_ok(argv[i]))
			return cli_usage_error(cli, shard_usage,
			    "bad queue name \"%.40s\" (1 to 128 of A-Z a-z "
			    "0-9 _ . : -)",
			    argv[i]);
	for (int i = optind; i < argc; i++) {
		size_t g = cli_group_of(cli, argv[i]);
		if (index)
			printf("%zu\n", g);
		else
			printf("%s\n", cli->groups[g]);
	}
	return 0;
}
