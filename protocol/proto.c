/*
 * proto.c - the command grammar table and the validators for numbers,
 * queue names and policies.  See proto.h.
 */
#include <string.h>
#include <strings.h>

#include "proto.h"

const struct proto_cmd_info proto_cmds[PROTO_CMD_COUNT] = {
	[PROTO_CMD_PING] = { "PING", 0, 0, PROTO_F_NO_AUTH, "" },
	[PROTO_CMD_PUT] = { "PUT", 2, 3, PROTO_F_BODY, "qbT" },
	[PROTO_CMD_GET] = { "GET", 1, 2, 0, "qT" },
	[PROTO_CMD_RESERVE] = { "RESERVE", 1, 2, 0, "qT" },
	[PROTO_CMD_ACK] = { "ACK", 1, 1, 0, "i" },
	[PROTO_CMD_NACK] = { "NACK", 1, 1, 0, "i" },
	[PROTO_CMD_CREATE] = { "CREATE", 1, PROTO_WORDS_MAX - 1, 0, "qo" },
	[PROTO_CMD_DELETE] = { "DELETE", 1, 1, 0, "q" },
	[PROTO_CMD_PURGE] = { "PURGE", 1, 1, 0, "q" },
	[PROTO_CMD_STATS] = { "STATS", 0, 1, 0, "q" },
	[PROTO_CMD_AUTH] = { "AUTH", 1, 1, PROTO_F_NO_AUTH, "t" },
	[PROTO_CMD_QUIT] = { "QUIT", 0, 0, PROTO_F_NO_AUTH, "" },
};

static const char *const policy_names[] = {
	[PROTO_POLICY_BLOCK] = "block",
	[PROTO_POLICY_REJECT] = "reject",
	[PROTO_POLICY_DROP_OLDEST] = "drop-oldest",
	[PROTO_POLICY_DROP_NEWEST] = "drop-newest",
};

int
proto_cmd_lookup(const char *name, size_t len)
{
	for (int i = 0; i < PROTO_CMD_COUNT; i++) {
		if (strlen(proto_cmds[i].name) == len &&
		    strncasecmp(proto_cmds[i].name, name, len) == 0)
			return i;
	}
	return -1;
}

bool
proto_parse_number(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0 || len > PROTO_NUM_DIGITS_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	/* 19 digits cannot overflow 64 bits, but can pass 2^63-1. */
	if (v > (uint64_t)PROTO_NUM_MAX)
		return false;
	*out = v;
	return true;
}

bool
proto_valid_queue_name(const char *s, size_t len)
{
	if (len == 0 || len > PROTO_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' ||
		    ch == ':' || ch == '-')
			continue;
		return false;
	}
	return true;
}

int
proto_policy_parse(const char *s, size_t len)
{
	for (size_t i = 0; i < sizeof policy_names / sizeof *policy_names;
	     i++) {
		if (strlen(policy_names[i]) == len &&
		    memcmp(policy_names[i], s, len) == 0)
			return (int)i;
	}
	return -1;
}

const char *
proto_policy_name(enum proto_policy p)
{
	return policy_names[p];
}
