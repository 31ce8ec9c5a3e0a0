/*
 * cli.h - the sluice command-line tool: what its commands share.
 *
 * cli.c parses the global options (-H servers, -p port, -a token), finds
 * the command in a table and runs it; each command lives in a
 * cli_<topic>.c file, takes its own options with getopt_long, and
 * returns the process's exit status.  Every conversation with the
 * server goes through libsluice (sluice.h): the tool never speaks the
 * protocol itself.
 *
 * Exit statuses follow <sysexits.h> where it has a word for the case: 0
 * done, 1 an error the server reported (400, 409, ...), 2 no message
 * (CLI_EX_EMPTY), EX_USAGE (64) bad usage, EX_NOINPUT (66) no such
 * queue, EX_UNAVAILABLE (69) cannot connect (or lost the server),
 * EX_TEMPFAIL (75) the server said 503 (full, busy, shutting down, ...),
 * EX_NOPERM (77) not authorized (401) or not allowed (403).  Errors are one
 * line on stderr, "sluice: <command>: <queue>: <what happened>".
 */
#ifndef SLUICE_CLI_H
#define SLUICE_CLI_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice.h"

/* The status for an error no sysexits.h code describes. */
#define CLI_EX_ERROR 1
/* No message: get, reserve or peek found the queue empty (as grep's 1
 * for no match, a result a script branches on, not a failure). */
#define CLI_EX_EMPTY 2

/* Groups of servers -H may name (sharding): far more than a
 * deployment has, few enough for a fixed array. */
#define CLI_GROUPS_MAX 64

struct cli {
	/* The groups of servers, each "host:port,..." as -H gave it (or
	 * $SLUICE_HOST, groups separated by spaces); a queue lives in the
	 * one sluice_shard_pick() names. */
	const char *groups[CLI_GROUPS_MAX];
	size_t ngroups;
	bool groups_from_flag;  /* -H seen: $SLUICE_HOST's are dropped */
	int port;               /* for servers written without one */
	const char *token;	/* -a / SLUICE_AUTH: AUTH on connect */
	const char *cmd;	/* the command being run, for messages */
	bool token_in_argv;     /* -a: visible in ps */
	bool tls;		/* --tls / SLUICE_TLS: speak TLS */
	const char *cacert;	/* --cacert: CA certificates (PEM); NULL:
				 * the system's */
	const char *cert;	/* --cert, --key: a client certificate */
	const char *key;
	const char *tls_opt;	/* the last of --cacert, --cert, --key
				 * given: each needs --tls */
};

/* One command: its name, its entry point, and a line for --help. */
struct cli_command {
	const char *name;
	int (*run)(struct cli *cli, int argc, char **argv);
	const char *summary;
	/* Short options the command uses itself that would otherwise be
	 * global ones after it (bench's -p); NULL: none. */
	const char *own;
};

/*
 * Connect to the one group of servers (and AUTH when a token is set),
 * with failover on.  Returns the context with *status 0, or NULL after
 * printing why, with *status the exit status; a usage error when -H
 * named several groups, since the command is not about one queue.
 */
struct sluice_ctx *cli_connect(struct cli *cli, int *status);

/* cli_connect() to the group that holds queue. */
struct sluice_ctx *cli_connect_queue(struct cli *cli, const char *queue,
    int *status);

/* cli_connect() to group i. */
struct sluice_ctx *cli_connect_group(struct cli *cli, size_t i, int *status);

/* The group that holds queue (an index into cli->groups). */
size_t cli_group_of(const struct cli *cli, const char *queue);

/*
 * STATS parsed: *out is a new JSON object (json_decref() it).  A reply
 * that is not a JSON object is SLUICE_ERR_PROTOCOL (ctx's error says
 * why).  json_t is jansson's, kept out of libsluice's API.
 */
struct json_t;
enum sluice_result cli_stats_json(struct sluice_ctx *ctx, const char *queue,
    struct json_t **out);

/*
 * True when the queue exists (a STATS, which never creates one); else
 * reports why ("no such queue", exit status 66) and sets *status.
 */
bool cli_queue_exists(struct cli *cli, struct sluice_ctx *ctx,
    const char *queue, int *status);

/* CREATE's options as the command line gives them. */
struct cli_queue_opts {
	bool has_capacity;
	bool has_max_bytes;
	bool has_lease_ms;
	uint64_t capacity;
	uint64_t max_bytes;
	uint64_t lease_ms;
	const char *policy; /* NULL: the server's default */
	bool has_max_deliveries;
	uint64_t max_deliveries;
	const char *dead_letter; /* NULL: none */
};

/* What a bad --policy gets told. */
#define CLI_POLICY_ERROR \
	"--policy wants block, reject, drop-oldest or drop-newest"

/* True when libsluice knows the policy. */
bool cli_policy_ok(const char *policy);

/* True when name is a valid queue name. */
bool cli_queue_name_ok(const char *name);

/* CREATE the queue through libsluice's option set. */
enum sluice_result cli_create_queue(struct sluice_ctx *ctx, const char *queue,
    const struct cli_queue_opts *o);

/* Start TLS on a new connection when the options ask for it. */
enum sluice_result cli_start_tls(struct cli *cli, struct sluice_ctx *ctx);

/* The exit status a result calls for. */
int cli_status(enum sluice_result r);

/*
 * Report a result that is not success on stderr ("sluice: put jobs:
 * queue is full (503 FULL jobs retry_after_ms=40)") and return its exit
 * status.  what names the object (a queue, an id), may be NULL.
 */
int cli_fail(struct cli *cli, struct sluice_ctx *ctx, const char *what,
    enum sluice_result r);

/* Print "sluice: <command>: <message>" and return status. */
int cli_error(struct cli *cli, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Print a usage error, one line that points at --help, and return
 * EX_USAGE.  usage (the command's help) is not printed; may be NULL. */
int cli_usage_error(struct cli *cli, const char *usage, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));

/*
 * Report what getopt_long returned for a bad option (ch '?' or ':';
 * every optstring starts with ':', after any '+', and opterr is 0) and
 * return EX_USAGE.
 */
int cli_option_error(struct cli *cli, int ch, char **argv);

/* Parse a number option ("-t 500"); false (after a usage message) when
 * it is not a decimal in 0..max. */
bool cli_number(struct cli *cli, const char *usage, const char *opt,
    const char *s, uint64_t max, uint64_t *out);

/* The width of the terminal on fd (else $COLUMNS, else 80). */
int cli_term_width(int fd);

/* A count or rate in at most 5 characters: 12345, 123k, 1.2M, 0.5. */
void cli_human(double v, char *buf, size_t size);

/* An uptime for people: "42s", "3m07s", "5h02m", "12d04h". */
void cli_uptime(int64_t seconds, char *buf, size_t size);

/* strcmp() for qsort() of an array of strings. */
int cli_compare_strings(const void *a, const void *b);

/*
 * Write a body to stdout for a terminal: control bytes, escapes and
 * invalid UTF-8 as \n, \r, \xNN, a backslash as \\ (cli_get.c).
 */
void cli_print_quoted(const char *body, size_t len);

/* Milliseconds on a monotonic clock. */
uint64_t cli_now_ms(void);

/*
 * Pipelined GETs (cli_take.c), for get and bench.  While messages are
 * ready, a window of GETs that do not wait keeps the link full; while
 * they come as fast as they are taken, a window of GETs that wait a
 * few milliseconds takes each as it is put; once the stream pauses, a
 * single GET waits (wait_ms) for the next message, so an idle consumer
 * costs one request per wait_ms and never sits behind a row of waits.
 */
struct cli_take {
	const char *queue;
	unsigned window;	/* GETs in flight while messages flow */
	uint64_t limit;		/* take at most this many; 0: no limit */
	int64_t wait_ms;        /* how long a GET waits on an empty queue */
	bool follow;		/* keep waiting when a wait runs out */
	/*
	 * When set (by another thread), stop at the first empty reply to
	 * a GET sent after it was seen: with every producer finished, that
	 * means the queue is drained.  May be NULL.
	 */
	const atomic_bool *drain;
	/* Called for each message; -1 stops taking more (the messages
	 * already on their way are read and not passed on). */
	int (*on_msg)(void *arg, const struct sluice_reply *r);
	/* Called before waiting for the server, e.g. to flush output. */
	void (*on_idle)(void *arg);
	/*
	 * May be NULL.  Called before each read; true when no message can
	 * come any more (every one put is accounted for): the run ends at
	 * once, with GETs still unanswered, so the caller must close the
	 * connection rather than use it again.
	 */
	bool (*finished)(void *arg);
	void *arg;
	uint64_t taken;		/* out: messages handed to on_msg */
};

/*
 * Run the GETs until the limit, an empty queue (unless follow), a stop
 * from on_msg, or an error.  Returns SLUICE_OK, or the first failing
 * result (the ctx then says what happened).
 */
enum sluice_result cli_take_run(struct sluice_ctx *ctx, struct cli_take *t);

/* The commands, each in its cli_<topic>.c. */
int cli_put(struct cli *cli, int argc, char **argv);
int cli_get(struct cli *cli, int argc, char **argv);
int cli_reserve(struct cli *cli, int argc, char **argv);
int cli_ack(struct cli *cli, int argc, char **argv);
int cli_nack(struct cli *cli, int argc, char **argv);
int cli_create(struct cli *cli, int argc, char **argv);
int cli_delete(struct cli *cli, int argc, char **argv);
int cli_purge(struct cli *cli, int argc, char **argv);
int cli_close(struct cli *cli, int argc, char **argv);
int cli_relay(struct cli *cli, int argc, char **argv);
int cli_ping(struct cli *cli, int argc, char **argv);
int cli_stats(struct cli *cli, int argc, char **argv);
int cli_queues(struct cli *cli, int argc, char **argv);
int cli_top(struct cli *cli, int argc, char **argv);
int cli_peek(struct cli *cli, int argc, char **argv);
int cli_move(struct cli *cli, int argc, char **argv);
int cli_bench(struct cli *cli, int argc, char **argv);
int cli_cluster(struct cli *cli, int argc, char **argv);
int cli_shard(struct cli *cli, int argc, char **argv);

#endif
