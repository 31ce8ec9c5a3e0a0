/*
 * proto.h - the words of the sluice line protocol, version 1.
 *
 * Limits, the command grammar table, and validators for the small
 * things every request is made of (numbers, queue names, policies).
 * No I/O, no allocation, no globals but constant tables: the daemon,
 * the client library and the tests all share it.
 */
#ifndef SLUICE_PROTO_H
#define SLUICE_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A request line, terminator included, may not be longer (spec). */
#define PROTO_LINE_MAX 1024
/* Queue names are 1..128 bytes of [A-Za-z0-9_.:-] (spec). */
#define PROTO_NAME_MAX 128
/* Numbers: at most 19 decimal digits and at most 2^63-1 (spec). */
#define PROTO_NUM_DIGITS_MAX 19
#define PROTO_NUM_MAX INT64_MAX
/*
 * Words kept per request line.  The longest valid request is CREATE
 * with each of its six options once (eight words); two more leave room
 * for options to come.  A line with more words than this is answered
 * 400 whatever its command.
 */
#define PROTO_WORDS_MAX 10
/* Words CLUSTER hands its handler (subcommand and arguments). */
#define PROTO_ARGS_MAX 4

enum proto_status {
	PROTO_OK,	 /* a complete, valid item */
	PROTO_NEED_MORE, /* the input ends inside an item: feed more */
	PROTO_BAD,	 /* answer 400; the connection stays usable */
	PROTO_FATAL,	 /* answer 400 and close: framing is lost */
};

enum proto_cmd {
	PROTO_CMD_PING,
	PROTO_CMD_PUT,
	PROTO_CMD_GET,
	PROTO_CMD_RESERVE,
	PROTO_CMD_ACK,
	PROTO_CMD_NACK,
	PROTO_CMD_CREATE,
	PROTO_CMD_DELETE,
	PROTO_CMD_PURGE,
	PROTO_CMD_STATS,
	PROTO_CMD_AUTH,
	PROTO_CMD_QUIT,
	PROTO_CMD_CLOSE,
	PROTO_CMD_PEEK,	   /* sluiced's extension */
	PROTO_CMD_CLUSTER, /* sluiced's extension: replication groups */
	PROTO_CMD_COUNT
};

/* The most messages one PEEK shows. */
#define PROTO_PEEK_MAX 100

/* Flags of a command in the grammar table. */
#define PROTO_F_BODY 0x1    /* a body of <bytes> follows the line */
#define PROTO_F_NO_AUTH 0x2 /* allowed before AUTH when a token is set */

/*
 * One row of the grammar: everything that can be checked before a
 * handler runs.  `args` spells the argument kinds in order, one letter
 * each: q queue name, b body length, T timeout_ms, i message id,
 * d delay_ms, t token (any word), o CREATE option (repeats to the end
 * of the line), n PEEK's count (1..PROTO_PEEK_MAX), w a word kept for
 * the handler (repeats: CLUSTER's subcommand and its arguments).
 * Which arguments are optional follows from min_args.
 */
struct proto_cmd_info {
	const char *name;
	int min_args;
	int max_args;
	unsigned flags;
	const char *args;
};

extern const struct proto_cmd_info proto_cmds[PROTO_CMD_COUNT];

enum proto_policy {
	PROTO_POLICY_BLOCK,
	PROTO_POLICY_REJECT,
	PROTO_POLICY_DROP_OLDEST,
	PROTO_POLICY_DROP_NEWEST,
};

/* Look up a command name, case-insensitively; -1 when unknown. */
int proto_cmd_lookup(const char *name, size_t len);

/*
 * Parse a protocol number: 1..19 ASCII digits, value <= 2^63-1.
 * Returns true and sets *out on success.
 */
bool proto_parse_number(const char *s, size_t len, uint64_t *out);

/* True when s[0..len) is a valid queue name. */
bool proto_valid_queue_name(const char *s, size_t len);

/* Longest decimal form of a uint64_t, without NUL. */
#define PROTO_U64_DIGITS 20

/*
 * Write v in decimal to buf (at least PROTO_U64_DIGITS bytes, no NUL
 * added); returns the length.  For hot paths where snprintf shows.
 */
size_t proto_format_u64(char *buf, uint64_t v);

/* Parse a policy name ("block", ...); -1 when unknown. */
int proto_policy_parse(const char *s, size_t len);

/* The wire name of a policy. */
const char *proto_policy_name(enum proto_policy p);

#endif
