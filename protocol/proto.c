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
	[PROTO_CMD_NACK] = { "NACK", 1, 2, 0, "id" },
	[PROTO_CMD_CREATE] = { "CREATE", 1, PROTO_WORDS_MAX - 1, 0, "qo" },
	[PROTO_CMD_DELETE] = { "DELETE", 1, 1, 0, "q" },
	[PROTO_CMD_PURGE] = { "PURGE", 1, 1, 0, "q" },
	[PROTO_CMD_STATS] = { "STATS", 0, 1, 0, "q" },
	[PROTO_CMD_AUTH] = { "AUTH", 1, 1, PROTO_F_NO_AUTH, "t" },
	[PROTO_CMD_QUIT] = { "QUIT", 0, 0, PROTO_F_NO_AUTH, "" },
	[PROTO_CMD_CLOSE] = { "CLOSE", 1, 1, 0, "q" },
	[PROTO_CMD_PEEK] = { "PEEK", 1, 2, 0, "qn" },
	[PROTO_CMD_CLUSTER] = { "CLUSTER", 1, PROTO_ARGS_MAX, 0, "w" },
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
	/* The first letter, folded to upper case, rules out most rows. */
	char first = len > 0 ? (char)(name[0] & ~0x20) : 0;

	for (int i = 0; i < PROTO_CMD_COUNT; i++) {
		const char *n = proto_cmds[i].name;
		if (n[0] == first && strlen(n) == len &&
		    strncasecmp(n, name, len) == 0)
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

size_t
proto_format_u64(char *buf, uint64_t v)
{
	static const char pairs[] =
	    "00010203040506070809101112131415161718192021222324252627282930"
	    "31323334353637383940414243444546474849505152535455565758596061"
	    "6263646566676869707172737475767778798081828384858687888990919293"
	    "949596979899";
	char tmp[PROTO_U64_DIGITS];
	char *p = tmp + sizeof tmp;
	size_t n;

	/* Two digits per division: ids and lengths are formatted per message. */
	while (v >= 100) {
		p -= 2;
		memcpy(p, pairs + (v % 100) * 2, 2);
		v /= 100;
	}
	if (v >= 10) {
		p -= 2;
		memcpy(p, pairs + v * 2, 2);
	} else {
		*--p = (char)('0' + v);
	}
	n = (size_t)(tmp + sizeof tmp - p);
	memcpy(buf, p, n);
	return n;
}

/* The bytes a queue name may contain: A-Z a-z 0-9 _ . : - */
static bool
name_byte(unsigned char ch)
{
	static const unsigned char ok[256] = {
		['_'] = 1, ['.'] = 1, [':'] = 1, ['-'] = 1,
		['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1,
		['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
		['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1,
		['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1,
		['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1,
		['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1,
		['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1,
		['Z'] = 1,
		['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1,
		['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1,
		['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1,
		['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1,
		['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1,
		['z'] = 1,
	};

	return ok[ch];
}

bool
proto_valid_queue_name(const char *s, size_t len)
{
	if (len == 0 || len > PROTO_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!name_byte((unsigned char)s[i]))
			return false;
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
