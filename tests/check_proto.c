/*
 * check_proto.c - unit tests of protocol/: the words (numbers, queue
 * names, commands, policies), request lines and their framing, and
 * responses.  No sockets: every function here takes bytes and answers.
 *
 * Framing tests feed each stream at every prefix length, byte by byte
 * and in chunks of every size, because a network splits input anywhere
 * and the parser must frame it exactly as if it had arrived whole.
 */
#include <check.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "request.h"
#include "response.h"
#include "testrand.h"

/* The bytes of a string literal that may hold NULs, without its own. */
#define LIT(s) (s), (sizeof(s) - 1)

/*
 * An assertion for loops that run many thousand times: check's own
 * ck_assert reports every passing check to the runner (a write and an
 * allocation each), which would make these tests slow for no benefit.
 */
#define CHECK(cond, ...)                          \
	do {                                      \
		if (!(cond))                      \
			ck_abort_msg(__VA_ARGS__); \
	} while (0)

/* Room for any stream these tests build. */
#define STREAM_MAX 4096

/* ---- numbers ---------------------------------------------------------- */

static bool
number(const char *s, uint64_t *out)
{
	return proto_parse_number(s, strlen(s), out);
}

START_TEST(test_number_zero_parses)
{
	uint64_t v = 99;

	ck_assert(number("0", &v));
	ck_assert_uint_eq(v, 0);
}
END_TEST

START_TEST(test_number_with_leading_zeros_parses)
{
	uint64_t v = 0;

	ck_assert(number("007", &v));
	ck_assert_uint_eq(v, 7);
	ck_assert(number("0000000000000000001", &v)); /* 19 digits */
	ck_assert_uint_eq(v, 1);
}
END_TEST

START_TEST(test_number_of_19_digits_parses)
{
	uint64_t v = 0;

	ck_assert(number("1234567890123456789", &v));
	ck_assert_uint_eq(v, 1234567890123456789ULL);
}
END_TEST

START_TEST(test_number_2_pow_63_minus_1_parses)
{
	uint64_t v = 0;

	ck_assert(number("9223372036854775807", &v));
	ck_assert_uint_eq(v, (uint64_t)INT64_MAX);
}
END_TEST

START_TEST(test_number_2_pow_63_is_rejected)
{
	uint64_t v = 0;

	ck_assert(!number("9223372036854775808", &v));
	ck_assert(!number("9999999999999999999", &v));
}
END_TEST

START_TEST(test_number_of_20_digits_is_rejected)
{
	uint64_t v = 0;

	ck_assert(!number("00000000000000000001", &v));
	ck_assert(!number("12345678901234567890", &v));
}
END_TEST

START_TEST(test_number_with_sign_or_other_bytes_is_rejected)
{
	static const char *const bad[] = {
		"+1", "-1", "-0", "1a", "0x1", " 1", "1 ", "1.0", "1e3", "\t1",
	};
	uint64_t v = 0;

	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		ck_assert_msg(!number(bad[i], &v), "accepted \"%s\"", bad[i]);
	ck_assert(!proto_parse_number(LIT("1\0"), &v));
}
END_TEST

START_TEST(test_number_empty_is_rejected)
{
	uint64_t v = 0;

	ck_assert(!proto_parse_number("", 0, &v));
	ck_assert(!proto_parse_number("5", 0, &v));
}
END_TEST

/* Every digit count and carry: 0, 9, 10, 99, 100, ... up to 2^64-1. */
START_TEST(test_format_u64_matches_printf_at_every_digit_boundary)
{
	char buf[PROTO_U64_DIGITS + 1], want[32];
	uint64_t p = 1;

	for (int digits = 1; digits <= 20; digits++) {
		const uint64_t vals[] = { p - 1, p, p + 1, p * 5 + 3,
			p * 9 + (p - 1) };

		for (size_t i = 0; i < sizeof vals / sizeof *vals; i++) {
			size_t n = proto_format_u64(buf, vals[i]);

			snprintf(want, sizeof want, "%" PRIu64, vals[i]);
			ck_assert_uint_eq(n, strlen(want));
			buf[n] = '\0';
			ck_assert_str_eq(buf, want);
		}
		if (digits < 20)
			p *= 10;
	}
	for (uint64_t v = 0; v < 100000; v += 7) {
		size_t n = proto_format_u64(buf, v);

		snprintf(want, sizeof want, "%" PRIu64, v);
		if (n != strlen(want) || memcmp(buf, want, n) != 0)
			ck_abort_msg("%" PRIu64 " formatted as %.*s", v,
			    (int)n, buf);
	}
	ck_assert_uint_eq(proto_format_u64(buf, UINT64_MAX), 20);
	ck_assert_int_eq(memcmp(buf, "18446744073709551615", 20), 0);
}
END_TEST

/* ---- queue names ------------------------------------------------------ */

static bool
name_byte_allowed(int b)
{
	static const char allowed[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				      "abcdefghijklmnopqrstuvwxyz"
				      "0123456789_.:-";

	return b != 0 && strchr(allowed, b) != NULL;
}

START_TEST(test_name_of_every_allowed_class_is_valid)
{
	static const char all[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				  "abcdefghijklmnopqrstuvwxyz"
				  "0123456789_.:-";

	ck_assert(proto_valid_queue_name(LIT(all)));
	ck_assert(proto_valid_queue_name(LIT("a")));
	ck_assert(proto_valid_queue_name(LIT("-")));
	ck_assert(proto_valid_queue_name(LIT("jobs.high:2_x-y")));
}
END_TEST

/* Each of the 256 byte values, in the middle of a name. */
START_TEST(test_name_accepts_exactly_the_allowed_bytes)
{
	char name[3] = { 'a', (char)_i, 'z' };

	ck_assert_msg(proto_valid_queue_name(name, 3) == name_byte_allowed(_i),
	    "byte 0x%02x judged wrongly", _i);
	ck_assert_msg(proto_valid_queue_name(name + 1, 1) ==
		name_byte_allowed(_i),
	    "lone byte 0x%02x judged wrongly", _i);
}
END_TEST

START_TEST(test_name_of_128_bytes_is_valid_and_129_is_not)
{
	char name[PROTO_NAME_MAX + 1];

	memset(name, 'n', sizeof name);
	ck_assert(proto_valid_queue_name(name, 128));
	ck_assert(!proto_valid_queue_name(name, 129));
	ck_assert(!proto_valid_queue_name(name, 0));
}
END_TEST

START_TEST(test_name_with_tab_nul_space_or_slash_is_invalid)
{
	ck_assert(!proto_valid_queue_name(LIT("a\tb")));
	ck_assert(!proto_valid_queue_name(LIT("a\0b")));
	ck_assert(!proto_valid_queue_name(LIT("a b")));
	ck_assert(!proto_valid_queue_name(LIT("a/b")));
	ck_assert(!proto_valid_queue_name(LIT("a\r")));
	ck_assert(!proto_valid_queue_name(LIT("\xc3\xa9")));
}
END_TEST

/* ---- commands and policies -------------------------------------------- */

START_TEST(test_cmd_lookup_ignores_case)
{
	for (int i = 0; i < PROTO_CMD_COUNT; i++) {
		const char *name = proto_cmds[i].name;
		size_t len = strlen(name);
		char lower[16], mixed[16];

		for (size_t k = 0; k < len; k++) {
			lower[k] = (char)(name[k] | 0x20);
			mixed[k] = k % 2 ? lower[k] : name[k];
		}
		ck_assert_int_eq(proto_cmd_lookup(name, len), i);
		ck_assert_int_eq(proto_cmd_lookup(lower, len), i);
		ck_assert_int_eq(proto_cmd_lookup(mixed, len), i);
	}
}
END_TEST

START_TEST(test_cmd_lookup_needs_the_whole_name)
{
	ck_assert_int_eq(proto_cmd_lookup(LIT("PIN")), -1);
	ck_assert_int_eq(proto_cmd_lookup(LIT("PINGS")), -1);
	ck_assert_int_eq(proto_cmd_lookup(LIT("")), -1);
	ck_assert_int_eq(proto_cmd_lookup(LIT("GETS")), -1);
	ck_assert_int_eq(proto_cmd_lookup(LIT("P\0NG")), -1);
	/* Only len bytes count: the rest of the buffer is not looked at. */
	ck_assert_int_eq(proto_cmd_lookup("PUTX", 3), PROTO_CMD_PUT);
}
END_TEST

START_TEST(test_policy_names_round_trip)
{
	static const enum proto_policy all[] = {
		PROTO_POLICY_BLOCK, PROTO_POLICY_REJECT,
		PROTO_POLICY_DROP_OLDEST, PROTO_POLICY_DROP_NEWEST,
	};

	for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
		const char *n = proto_policy_name(all[i]);
		ck_assert_int_eq(proto_policy_parse(n, strlen(n)), (int)all[i]);
	}
	ck_assert_int_eq(proto_policy_parse(LIT("block")), PROTO_POLICY_BLOCK);
	ck_assert_int_eq(proto_policy_parse(LIT("reject")),
	    PROTO_POLICY_REJECT);
	ck_assert_int_eq(proto_policy_parse(LIT("drop-oldest")),
	    PROTO_POLICY_DROP_OLDEST);
	ck_assert_int_eq(proto_policy_parse(LIT("drop-newest")),
	    PROTO_POLICY_DROP_NEWEST);
}
END_TEST

START_TEST(test_policy_parse_is_case_sensitive_and_exact)
{
	static const char *const bad[] = {
		"BLOCK", "Block", "drop_oldest", "drop-oldest ", "drop", "",
		"blocked", "fifo",
	};

	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		ck_assert_msg(proto_policy_parse(bad[i], strlen(bad[i])) == -1,
		    "accepted \"%s\"", bad[i]);
	ck_assert_int_eq(proto_policy_parse("blockade", 5), PROTO_POLICY_BLOCK);
}
END_TEST

/* ---- request lines ---------------------------------------------------- */

/* Parse a copy of s[0..len) (the parser splits its line in place). */
static enum proto_status
parse_n(const char *s, size_t len, struct proto_request *req,
    char line[PROTO_LINE_MAX + 1])
{
	ck_assert_uint_le(len, PROTO_LINE_MAX);
	memcpy(line, s, len);
	return proto_parse_request(line, len, req);
}

static enum proto_status
parse(const char *s, struct proto_request *req,
    char line[PROTO_LINE_MAX + 1])
{
	return parse_n(s, strlen(s), req, line);
}

/* A 400 reason goes on a response line: free text, no '=', one line. */
static void
assert_reason(const struct proto_request *req)
{
	ck_assert_ptr_nonnull(req->error);
	ck_assert_uint_gt(strlen(req->error), 0);
	ck_assert_ptr_null(strpbrk(req->error, "=\r\n"));
}

START_TEST(test_ping_and_quit_parse)
{
	char line[PROTO_LINE_MAX + 1];
	struct proto_request r;

	ck_assert_int_eq(parse("PING", &r, line), PROTO_OK);
	ck_assert_int_eq(r.cmd, PROTO_CMD_PING);
	ck_assert(!r.has_body);
	ck_assert_int_eq(parse("QUIT", &r, line), PROTO_OK);
	ck_assert_int_eq(r.cmd, PROTO_CMD_QUIT);
}
END_TEST

START_TEST(test_put_parses_queue_length_and_timeout)
{
	char line[PROTO_LINE_MAX + 1];
	struct proto_request r;

	ck_assert_int_eq(parse("PUT jobs 5", &r, line), PROTO_OK);
	ck_assert_int_eq(r.cmd, PROTO_CMD_PUT);
	ck_assert_str_eq(r.queue, "jobs");
	ck_assert(r.has_body);
	ck_assert_uint_eq(r.body_len, 5);
	ck_assert(!r.has_timeout);

	ck_assert_int_eq(parse("PUT jobs 0 0", &r, line), PROTO_OK);
	ck_assert(r.has_body);
	ck_assert_uint_eq(r.body_len, 0);
	ck_assert(r.has_timeout);
	ck_assert_uint_eq(r.timeout_ms, 0);

	ck_assert_int_eq(parse("PUT a 9223372036854775807 250", &r, line),
	    PROTO_OK);
	ck_assert_uint_eq(r.body_len, (uint64_t)INT64_MAX);
	ck_assert_uint_eq(r.timeout_ms, 250);
}
END_TEST

START_TEST(test_get_and_reserve_parse_optional_timeout)
{
	char line[PROTO_LINE_MAX + 1];
	struct proto_request r;

	ck_assert_int_eq(parse("GET jobs", &r, line), PROTO_OK);
	ck_assert_int_eq(r.cmd, PROTO_CMD_GET);
	ck_assert_str_eq(r.queue, "jobs");
	ck_assert(!r.has_timeout);
	ck_assert(!r.has_body);

	ck_assert_int_eq(parse("GET jobs 1000", &r, line), PROTO_OK);
	ck_assert(r.has_timeout);
	ck_assert_uint_eq(r.timeout_ms, 1000);

	ck_assert_int_eq(parse("RESERVE q.1 0", &r, line), PROTO_OK);
	ck_assert_int_eq(r.cmd, PROTO_CMD_RESERVE);
	ck_assert_str_eq(r.queue, "q.1");
	ck_assert(r.has_timeout);
	ck_assert_uint_eq(r.timeout_ms, 0);
}
END_TEST

START_TEST(test_ack_and_nack_parse_id)
{
	char line[PROTO_LINE_MAX + 1];
	struct proto_request r;

	ck_assert_int_eq(parse("ACK 7", &r, line), PROTO_OK);
	ck_assert_int_eq(r.cmd, PROTO_CMD_ACK);
	ck_assert_uint_eq(r.id, 7);
	ck_assert_int_eq(parse("NACK 9223372036854775807", &r, line),
	    PROTO_OK);
	ck_assert_int_eq(r.cmd, PROTO_CMD_NACK);
	ck_assert_uint_eq(r.id, (uint64_t)INT64_MAX);
	ck_assert(!r.has_delay);
}
END_TEST

START_TEST(test_nack_parses_optional_delay)
{
	char line[PROTO_LINE_MAX + 1];
	struct proto_request r;

	ck_assert_int_eq(parse("NACK 7 30000", &r, line), PROTO_OK);
	ck_assert_int_eq(r.cmd, PROTO_CMD_NACK);
	ck_assert_uint_eq(r.id, 7);
	ck_assert(r.has_delay);
	ck_assert_uint_eq(r.delay_ms, 30000);
	ck_assert_int_eq(parse("nack 7 0", &r, line), PROTO_OK);
	ck_assert(r.has_delay);
	ck_assert_uint_eq(r.delay_ms, 0);
}
END_TEST

START_TEST(test_create_parses_dead_letter_options)
{
	char line[PROTO_LINE_MAX + 1];
	struct proto_request r;

	ck_assert_int_eq(parse("CREATE q dead_letter=q.dead max_deliveries=5 "
			       "capacity=1 max_bytes=2 policy=reject "
			       "lease_ms=3", &r, line), PROTO_OK);
	ck_assert(r.opts.has_dead_letter && r.opts.has_max_deliveries);
	ck_assert_str_eq(r.opts.dead_letter, "q.dead");
	ck_assert_uint_eq(r.opts.max_deliveries, 5);
	ck_assert_uint_eq(r.opts.lease_ms, 3);
	ck_assert_int_eq(parse("CREATE q", &r, line), PROTO_OK);
	ck_assert(!r.opts.has_dead_letter && !r.opts.has_max_deliveries);
}
END_TEST

START_TEST(test_close_parses_queue)
{
	char line[PROTO_LINE_MAX + 1];
	struct proto_request r;

	ck_assert_int_eq(parse("CLOSE jobs", &r, line), PROTO_OK);
	ck_assert_int_eq(r.cmd, PROTO_CMD_CLOSE);
	ck_assert_str_eq(r.queue, "jobs");
}
END_TEST

START_TEST(test_create_parses_options_in_any_order)
{
	char line[PROTO_LINE_MAX + 1];
	struct proto_request r;

	ck_assert_int_eq(parse("CREATE q", &r, line), PROTO_OK);
	ck_assert_int_eq(r.cmd, PROTO_CMD_CREATE);
	ck_assert_str_eq(r.queue, "q");
	ck_assert(!r.opts.has_capacity && !r.opts.has_max_bytes &&
	    !r.opts.has_policy);

	ck_assert_int_eq(parse("CREATE alerts capacity=2 policy=reject",
			     &r, line), PROTO_OK);
	ck_assert_str_eq(r.queue, "alerts");
	ck_assert(r.opts.has_capacity);
	ck_assert_uint_eq(r.opts.capacity, 2);
	ck_assert(r.opts.has_policy);
	ck_assert_int_eq(r.opts.policy, PROTO_POLICY_REJECT);
	ck_assert(!r.opts.has_max_bytes);

	ck_assert_int_eq(parse("CREATE x policy=drop-newest max_bytes=10 "
			       "capacity=0", &r, line), PROTO_OK);
	ck_assert_uint_eq(r.opts.capacity, 0);
	ck_assert_uint_eq(r.opts.max_bytes, 10);
	ck_assert_int_eq(r.opts.policy, PROTO_POLICY_DROP_NEWEST);
}
END_TEST

START_TEST(test_queue_commands_and_auth_parse)
{
	char line[PROTO_LINE_MAX + 1];
	struct proto_request r;

	ck_assert_int_eq(parse("DELETE q", &r, line), PROTO_OK);
	ck_assert_int_eq(r.cmd, PROTO_CMD_DELETE);
	ck_assert_str_eq(r.queue, "q");
	ck_assert_int_eq(parse("PURGE q", &r, line), PROTO_OK);
	ck_assert_int_eq(r.cmd, PROTO_CMD_PURGE);
	ck_assert_int_eq(parse("STATS", &r, line), PROTO_OK);
	ck_assert_int_eq(r.cmd, PROTO_CMD_STATS);
	ck_assert_ptr_null(r.queue);
	ck_assert_int_eq(parse("STATS q", &r, line), PROTO_OK);
	ck_assert_str_eq(r.queue, "q");
	/* sluiced's PEEK: a count from 1 to PROTO_PEEK_MAX, or none. */
	ck_assert_int_eq(parse("PEEK q", &r, line), PROTO_OK);
	ck_assert_int_eq(r.cmd, PROTO_CMD_PEEK);
	ck_assert_str_eq(r.queue, "q");
	ck_assert_uint_eq(r.count, 0);
	ck_assert_int_eq(parse("peek q 100", &r, line), PROTO_OK);
	ck_assert_uint_eq(r.count, PROTO_PEEK_MAX);
	ck_assert_int_eq(parse("AUTH s3cr=t/!", &r, line), PROTO_OK);
	ck_assert_int_eq(r.cmd, PROTO_CMD_AUTH);
	ck_assert_uint_eq(r.token_len, 8);
	ck_assert_int_eq(memcmp(r.token, "s3cr=t/!", 8), 0);
}
END_TEST

START_TEST(test_spaces_around_and_between_words_are_ignored)
{
	char line[PROTO_LINE_MAX + 1];
	struct proto_request r;

	ck_assert_int_eq(parse("   PING   ", &r, line), PROTO_OK);
	ck_assert_int_eq(r.cmd, PROTO_CMD_PING);
	ck_assert_int_eq(parse("  PUT   jobs    5     100  ", &r, line),
	    PROTO_OK);
	ck_assert_str_eq(r.queue, "jobs");
	ck_assert_uint_eq(r.body_len, 5);
	ck_assert_uint_eq(r.timeout_ms, 100);
}
END_TEST

START_TEST(test_command_name_is_case_insensitive_but_arguments_are_not)
{
	char line[PROTO_LINE_MAX + 1];
	struct proto_request r;

	ck_assert_int_eq(parse("get Jobs", &r, line), PROTO_OK);
	ck_assert_int_eq(r.cmd, PROTO_CMD_GET);
	ck_assert_str_eq(r.queue, "Jobs");
	ck_assert_int_eq(parse("rEsErVe jobs", &r, line), PROTO_OK);
	ck_assert_int_eq(r.cmd, PROTO_CMD_RESERVE);
	ck_assert_str_eq(r.queue, "jobs");
	ck_assert_int_eq(parse("create q Capacity=1", &r, line), PROTO_BAD);
	ck_assert_int_eq(parse("create q policy=Reject", &r, line), PROTO_BAD);
}
END_TEST

START_TEST(test_longest_queue_name_parses)
{
	char line[PROTO_LINE_MAX + 1];
	char s[4 + PROTO_NAME_MAX + 1];
	struct proto_request r;

	memcpy(s, "GET ", 4);
	memset(s + 4, 'q', PROTO_NAME_MAX);
	s[4 + PROTO_NAME_MAX] = '\0';
	ck_assert_int_eq(parse(s, &r, line), PROTO_OK);
	ck_assert_uint_eq(strlen(r.queue), PROTO_NAME_MAX);
}
END_TEST

/*
 * Every request line the spec answers 400 (and the FATAL ones, where
 * framing is lost), one row each.  has_body rows are PUTs whose length
 * is valid: the body is read and discarded, so body_len must be right.
 */
struct bad_row {
	const char *line;
	enum proto_status want;
	int cmd; /* expected req.cmd, or -1 when the command is unknown */
	bool has_body;
	uint64_t body_len;
};

/* A queue name one byte too long. */
#define Q32 "qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq"
#define L129 Q32 Q32 Q32 Q32 "q"
_Static_assert(sizeof(L129) - 1 == PROTO_NAME_MAX + 1, "L129 is 129 bytes");

static const struct bad_row bad_rows[] = {
	/* empty line */
	{ "", PROTO_BAD, -1, false, 0 },
	{ " ", PROTO_BAD, -1, false, 0 },
	{ "      ", PROTO_BAD, -1, false, 0 },
	/* unknown command; a tab is not a separator */
	{ "FOO", PROTO_BAD, -1, false, 0 },
	{ "PINGS", PROTO_BAD, -1, false, 0 },
	{ "PING\tx", PROTO_BAD, -1, false, 0 },
	{ "GET\tq", PROTO_BAD, -1, false, 0 },
	{ "\tPING", PROTO_BAD, -1, false, 0 },
	{ "PING\r", PROTO_BAD, -1, false, 0 },
	/* wrong argument count, for every command */
	{ "PING x", PROTO_BAD, PROTO_CMD_PING, false, 0 },
	{ "PUT q 5 100 x", PROTO_BAD, PROTO_CMD_PUT, true, 5 },
	{ "GET", PROTO_BAD, PROTO_CMD_GET, false, 0 },
	{ "GET q 1 2", PROTO_BAD, PROTO_CMD_GET, false, 0 },
	{ "RESERVE", PROTO_BAD, PROTO_CMD_RESERVE, false, 0 },
	{ "RESERVE q 1 2", PROTO_BAD, PROTO_CMD_RESERVE, false, 0 },
	{ "ACK", PROTO_BAD, PROTO_CMD_ACK, false, 0 },
	{ "ACK 1 2", PROTO_BAD, PROTO_CMD_ACK, false, 0 },
	{ "NACK", PROTO_BAD, PROTO_CMD_NACK, false, 0 },
	{ "NACK 1 2 3", PROTO_BAD, PROTO_CMD_NACK, false, 0 },
	{ "CLOSE", PROTO_BAD, PROTO_CMD_CLOSE, false, 0 },
	{ "CLOSE q r", PROTO_BAD, PROTO_CMD_CLOSE, false, 0 },
	{ "CLOSE q/r", PROTO_BAD, PROTO_CMD_CLOSE, false, 0 },
	{ "CREATE", PROTO_BAD, PROTO_CMD_CREATE, false, 0 },
	{ "CREATE q capacity=1 max_bytes=1 policy=block lease_ms=1 a b c",
	    PROTO_BAD, PROTO_CMD_CREATE, false, 0 },
	{ "DELETE", PROTO_BAD, PROTO_CMD_DELETE, false, 0 },
	{ "DELETE q r", PROTO_BAD, PROTO_CMD_DELETE, false, 0 },
	{ "PURGE", PROTO_BAD, PROTO_CMD_PURGE, false, 0 },
	{ "PURGE q r", PROTO_BAD, PROTO_CMD_PURGE, false, 0 },
	{ "STATS q r", PROTO_BAD, PROTO_CMD_STATS, false, 0 },
	{ "AUTH", PROTO_BAD, PROTO_CMD_AUTH, false, 0 },
	{ "AUTH a b", PROTO_BAD, PROTO_CMD_AUTH, false, 0 },
	{ "QUIT now", PROTO_BAD, PROTO_CMD_QUIT, false, 0 },
	{ "PING a b c d e f g h i j", PROTO_BAD, PROTO_CMD_PING, false, 0 },
	/* bad queue name */
	{ "GET q/x", PROTO_BAD, PROTO_CMD_GET, false, 0 },
	{ "GET q\tx", PROTO_BAD, PROTO_CMD_GET, false, 0 },
	{ "GET " L129, PROTO_BAD, PROTO_CMD_GET, false, 0 },
	{ "RESERVE q! 5", PROTO_BAD, PROTO_CMD_RESERVE, false, 0 },
	{ "CREATE q@ capacity=1", PROTO_BAD, PROTO_CMD_CREATE, false, 0 },
	{ "DELETE *", PROTO_BAD, PROTO_CMD_DELETE, false, 0 },
	{ "PURGE a,b", PROTO_BAD, PROTO_CMD_PURGE, false, 0 },
	{ "STATS \xc3\xa9", PROTO_BAD, PROTO_CMD_STATS, false, 0 },
	{ "PUT bad/name 3", PROTO_BAD, PROTO_CMD_PUT, true, 3 },
	{ "PUT " L129 " 4 10", PROTO_BAD, PROTO_CMD_PUT, true, 4 },
	/* bad number */
	{ "GET q -1", PROTO_BAD, PROTO_CMD_GET, false, 0 },
	{ "GET q +1", PROTO_BAD, PROTO_CMD_GET, false, 0 },
	{ "GET q 1x", PROTO_BAD, PROTO_CMD_GET, false, 0 },
	{ "GET q 9223372036854775808", PROTO_BAD, PROTO_CMD_GET, false, 0 },
	{ "RESERVE q 00000000000000000001", PROTO_BAD, PROTO_CMD_RESERVE,
	    false, 0 },
	{ "ACK abc", PROTO_BAD, PROTO_CMD_ACK, false, 0 },
	{ "ACK 1\t", PROTO_BAD, PROTO_CMD_ACK, false, 0 },
	{ "NACK 99999999999999999999", PROTO_BAD, PROTO_CMD_NACK, false, 0 },
	{ "NACK 1 x", PROTO_BAD, PROTO_CMD_NACK, false, 0 },
	{ "NACK 1 -5", PROTO_BAD, PROTO_CMD_NACK, false, 0 },
	{ "NACK 1 9223372036854775808", PROTO_BAD, PROTO_CMD_NACK, false, 0 },
	{ "CREATE q max_deliveries=x", PROTO_BAD, PROTO_CMD_CREATE, false, 0 },
	{ "CREATE q max_deliveries=", PROTO_BAD, PROTO_CMD_CREATE, false, 0 },
	{ "CREATE q dead_letter=", PROTO_BAD, PROTO_CMD_CREATE, false, 0 },
	{ "CREATE q dead_letter=a/b", PROTO_BAD, PROTO_CMD_CREATE, false, 0 },
	{ "CREATE q dead_letter=a dead_letter=b", PROTO_BAD, PROTO_CMD_CREATE,
	    false, 0 },
	{ "PUT q 5 x", PROTO_BAD, PROTO_CMD_PUT, true, 5 },
	{ "PUT q 0 9223372036854775808", PROTO_BAD, PROTO_CMD_PUT, true, 0 },
	{ "CREATE q capacity=x", PROTO_BAD, PROTO_CMD_CREATE, false, 0 },
	{ "CREATE q capacity=", PROTO_BAD, PROTO_CMD_CREATE, false, 0 },
	{ "CREATE q max_bytes=-1", PROTO_BAD, PROTO_CMD_CREATE, false, 0 },
	{ "CREATE q max_bytes=9223372036854775808", PROTO_BAD,
	    PROTO_CMD_CREATE, false, 0 },
	/* unknown or repeated option */
	{ "CREATE q size=5", PROTO_BAD, PROTO_CMD_CREATE, false, 0 },
	{ "CREATE q capacity", PROTO_BAD, PROTO_CMD_CREATE, false, 0 },
	{ "CREATE q =5", PROTO_BAD, PROTO_CMD_CREATE, false, 0 },
	{ "CREATE q Capacity=5", PROTO_BAD, PROTO_CMD_CREATE, false, 0 },
	{ "CREATE q capacity=1 capacity=2", PROTO_BAD, PROTO_CMD_CREATE,
	    false, 0 },
	{ "CREATE q capacity=1 capacity=1", PROTO_BAD, PROTO_CMD_CREATE,
	    false, 0 },
	{ "CREATE q max_bytes=1 policy=block max_bytes=1", PROTO_BAD,
	    PROTO_CMD_CREATE, false, 0 },
	{ "CREATE q policy=block policy=reject", PROTO_BAD,
	    PROTO_CMD_CREATE, false, 0 },
	/* bad policy */
	{ "CREATE q policy=BLOCK", PROTO_BAD, PROTO_CMD_CREATE, false, 0 },
	{ "CREATE q policy=fifo", PROTO_BAD, PROTO_CMD_CREATE, false, 0 },
	{ "CREATE q policy=", PROTO_BAD, PROTO_CMD_CREATE, false, 0 },
	{ "CREATE q policy=drop_oldest", PROTO_BAD, PROTO_CMD_CREATE,
	    false, 0 },
	/* PUT whose <bytes> is missing or not a number: framing is lost */
	{ "PUT", PROTO_FATAL, PROTO_CMD_PUT, false, 0 },
	{ "PUT q", PROTO_FATAL, PROTO_CMD_PUT, false, 0 },
	{ "put q", PROTO_FATAL, PROTO_CMD_PUT, false, 0 },
	{ "PUT q x", PROTO_FATAL, PROTO_CMD_PUT, false, 0 },
	{ "PUT q -1", PROTO_FATAL, PROTO_CMD_PUT, false, 0 },
	{ "PUT q +5", PROTO_FATAL, PROTO_CMD_PUT, false, 0 },
	{ "PUT q 5x 100", PROTO_FATAL, PROTO_CMD_PUT, false, 0 },
	{ "PUT q 5\t", PROTO_FATAL, PROTO_CMD_PUT, false, 0 },
	{ "PUT q 9223372036854775808", PROTO_FATAL, PROTO_CMD_PUT, false, 0 },
	{ "PUT q 00000000000000000005", PROTO_FATAL, PROTO_CMD_PUT, false, 0 },
	{ "PUT bad/name x", PROTO_FATAL, PROTO_CMD_PUT, false, 0 },
	/* PEEK's count: 1 to 100 */
	{ "PEEK", PROTO_BAD, PROTO_CMD_PEEK, false, 0 },
	{ "PEEK q 0", PROTO_BAD, PROTO_CMD_PEEK, false, 0 },
	{ "PEEK q 101", PROTO_BAD, PROTO_CMD_PEEK, false, 0 },
	{ "PEEK q x", PROTO_BAD, PROTO_CMD_PEEK, false, 0 },
	{ "PEEK q 1 2", PROTO_BAD, PROTO_CMD_PEEK, false, 0 },
	{ "PEEK bad/name", PROTO_BAD, PROTO_CMD_PEEK, false, 0 },
};

#define NBAD_ROWS ((int)(sizeof bad_rows / sizeof *bad_rows))

START_TEST(test_bad_request_line_gets_400)
{
	const struct bad_row *row = &bad_rows[_i];
	char line[PROTO_LINE_MAX + 1];
	struct proto_request r;
	enum proto_status st = parse(row->line, &r, line);

	ck_assert_msg(st == row->want, "\"%s\": status %d, want %d",
	    row->line, st, row->want);
	assert_reason(&r);
	if (row->cmd >= 0)
		ck_assert_msg((int)r.cmd == row->cmd, "\"%s\": cmd %d",
		    row->line, r.cmd);
	if (st == PROTO_BAD) {
		ck_assert_msg(r.has_body == row->has_body,
		    "\"%s\": has_body %d", row->line, r.has_body);
		if (row->has_body)
			ck_assert_uint_eq(r.body_len, row->body_len);
	}
}
END_TEST

/* ---- lines ------------------------------------------------------------ */

/* A buffer of n copies of c followed by the string tail. */
static size_t
fill(char *buf, size_t n, char c, const char *tail, size_t tail_len)
{
	memset(buf, c, n);
	memcpy(buf + n, tail, tail_len);
	return n + tail_len;
}

START_TEST(test_line_ends_at_crlf_or_bare_lf)
{
	size_t ll = 0, used = 0;

	ck_assert_int_eq(proto_scan_line(LIT("PING\r\n"), &ll, &used),
	    PROTO_OK);
	ck_assert_uint_eq(ll, 4);
	ck_assert_uint_eq(used, 6);
	ck_assert_int_eq(proto_scan_line(LIT("PING\n"), &ll, &used),
	    PROTO_OK);
	ck_assert_uint_eq(ll, 4);
	ck_assert_uint_eq(used, 5);
	ck_assert_int_eq(proto_scan_line(LIT("\r\n"), &ll, &used), PROTO_OK);
	ck_assert_uint_eq(ll, 0);
	ck_assert_uint_eq(used, 2);
	ck_assert_int_eq(proto_scan_line(LIT("\n"), &ll, &used), PROTO_OK);
	ck_assert_uint_eq(ll, 0);
	ck_assert_uint_eq(used, 1);
	/* Only the first line of a pipeline. */
	ck_assert_int_eq(proto_scan_line(LIT("GET q\nPING\r\n"), &ll, &used),
	    PROTO_OK);
	ck_assert_uint_eq(ll, 5);
	ck_assert_uint_eq(used, 6);
}
END_TEST

START_TEST(test_line_without_terminator_needs_more)
{
	size_t ll, used;

	ck_assert_int_eq(proto_scan_line("", 0, &ll, &used), PROTO_NEED_MORE);
	ck_assert_int_eq(proto_scan_line(LIT("PING"), &ll, &used),
	    PROTO_NEED_MORE);
	ck_assert_int_eq(proto_scan_line(LIT("PING\r"), &ll, &used),
	    PROTO_NEED_MORE);
}
END_TEST

START_TEST(test_cr_not_followed_by_lf_is_part_of_the_line)
{
	char line[PROTO_LINE_MAX + 1];
	struct proto_request r;
	size_t ll = 0, used = 0;

	ck_assert_int_eq(proto_scan_line(LIT("PI\rNG\r\n"), &ll, &used),
	    PROTO_OK);
	ck_assert_uint_eq(ll, 5);
	ck_assert_uint_eq(used, 7);
	ck_assert_int_eq(proto_scan_line(LIT("PING\r\r\n"), &ll, &used),
	    PROTO_OK);
	ck_assert_uint_eq(ll, 5);
	/* So "PING\r" is not PING, and "GET q\r" names a bad queue. */
	ck_assert_int_eq(parse_n(LIT("PING\r"), &r, line), PROTO_BAD);
	ck_assert_int_eq(parse_n(LIT("GET q\r"), &r, line), PROTO_BAD);
	ck_assert_int_eq(r.cmd, PROTO_CMD_GET);
}
END_TEST

START_TEST(test_line_of_1024_bytes_with_crlf_is_accepted)
{
	static char buf[STREAM_MAX];
	size_t len = fill(buf, 1022, 'a', LIT("\r\nPING\r\n"));
	size_t ll = 0, used = 0;

	ck_assert_int_eq(proto_scan_line(buf, len, &ll, &used), PROTO_OK);
	ck_assert_uint_eq(ll, 1022);
	ck_assert_uint_eq(used, PROTO_LINE_MAX);
	/* Exactly up to the terminator, too. */
	ck_assert_int_eq(proto_scan_line(buf, 1024, &ll, &used), PROTO_OK);
	ck_assert_int_eq(proto_scan_line(buf, 1023, &ll, &used),
	    PROTO_NEED_MORE);
}
END_TEST

START_TEST(test_line_of_1024_bytes_with_bare_lf_is_accepted)
{
	static char buf[STREAM_MAX];
	size_t len = fill(buf, 1023, 'a', LIT("\nPING\r\n"));
	size_t ll = 0, used = 0;

	ck_assert_int_eq(proto_scan_line(buf, len, &ll, &used), PROTO_OK);
	ck_assert_uint_eq(ll, 1023);
	ck_assert_uint_eq(used, PROTO_LINE_MAX);
	ck_assert_int_eq(proto_scan_line(buf, 1023, &ll, &used),
	    PROTO_NEED_MORE);
}
END_TEST

START_TEST(test_line_of_1025_bytes_is_fatal)
{
	static char buf[STREAM_MAX];
	size_t len = fill(buf, 1023, 'a', LIT("\r\n"));
	size_t ll, used;

	ck_assert_int_eq(proto_scan_line(buf, len, &ll, &used), PROTO_FATAL);
	/* Known as soon as the 1024th byte is not the terminator's end. */
	ck_assert_int_eq(proto_scan_line(buf, 1024, &ll, &used), PROTO_FATAL);
	ck_assert_int_eq(proto_scan_line(buf, 1023, &ll, &used),
	    PROTO_NEED_MORE);
}
END_TEST

START_TEST(test_1024_bytes_without_lf_are_fatal)
{
	static char buf[STREAM_MAX];
	size_t ll, used;

	fill(buf, 3000, 'a', LIT("\n"));
	ck_assert_int_eq(proto_scan_line(buf, 1024, &ll, &used), PROTO_FATAL);
	ck_assert_int_eq(proto_scan_line(buf, 3001, &ll, &used), PROTO_FATAL);
}
END_TEST

START_TEST(test_body_end_is_crlf_or_lf)
{
	size_t t = 0;

	ck_assert_int_eq(proto_scan_body_end("", 0, &t), PROTO_NEED_MORE);
	ck_assert_int_eq(proto_scan_body_end(LIT("\r"), &t), PROTO_NEED_MORE);
	ck_assert_int_eq(proto_scan_body_end(LIT("\r\n"), &t), PROTO_OK);
	ck_assert_uint_eq(t, 2);
	ck_assert_int_eq(proto_scan_body_end(LIT("\nX"), &t), PROTO_OK);
	ck_assert_uint_eq(t, 1);
	ck_assert_int_eq(proto_scan_body_end(LIT("x"), &t), PROTO_FATAL);
	ck_assert_int_eq(proto_scan_body_end(LIT("\rx"), &t), PROTO_FATAL);
	ck_assert_int_eq(proto_scan_body_end(LIT("\r\r\n"), &t), PROTO_FATAL);
	ck_assert_int_eq(proto_scan_body_end(LIT(" \r\n"), &t), PROTO_FATAL);
}
END_TEST

/* ---- framing ---------------------------------------------------------- */

/* One request of the pipelined stream and what framing must find. */
struct frame_want {
	const char *bytes;
	size_t len;
	enum proto_status st;
	int cmd;
	size_t line_len;
	const char *body; /* NULL: no body expected */
	size_t body_len;
};

#define FRAME(lit, st, cmd, ll, body, blen) \
	{ lit, sizeof(lit) - 1, st, cmd, ll, body, blen }

static const struct frame_want stream_frames[] = {
	FRAME("PING\r\n", PROTO_OK, PROTO_CMD_PING, 4, NULL, 0),
	FRAME("PUT jobs 5\r\nhello\r\n", PROTO_OK, PROTO_CMD_PUT, 10,
	    "hello", 5),
	FRAME("PUT bin 7\r\na\r\n\0b\nc\r\n", PROTO_OK, PROTO_CMD_PUT, 9,
	    "a\r\n\0b\nc", 7),
	FRAME("PUT q 0\r\n\r\n", PROTO_OK, PROTO_CMD_PUT, 7, "", 0),
	FRAME("GET jobs 1000\n", PROTO_OK, PROTO_CMD_GET, 13, NULL, 0),
	FRAME("PUT q 3\nabc\n", PROTO_OK, PROTO_CMD_PUT, 7, "abc", 3),
	FRAME("PUT q 0\n\n", PROTO_OK, PROTO_CMD_PUT, 7, "", 0),
	FRAME("PUT q 2 0\r\n\n\n\r\n", PROTO_OK, PROTO_CMD_PUT, 9, "\n\n", 2),
	FRAME("PUT q 1\r\n\r\r\n", PROTO_OK, PROTO_CMD_PUT, 7, "\r", 1),
	FRAME("PUT bad/name 4\r\nxx\0x\r\n", PROTO_BAD, PROTO_CMD_PUT, 14,
	    "xx\0x", 4),
	FRAME("PUT q 2 soon\nhi\n", PROTO_BAD, PROTO_CMD_PUT, 12, "hi", 2),
	FRAME("FOO bar\r\n", PROTO_BAD, -1, 7, NULL, 0),
	FRAME("\r\n", PROTO_BAD, -1, 0, NULL, 0),
	FRAME("  get   jobs  \r\n", PROTO_OK, PROTO_CMD_GET, 14, NULL, 0),
	FRAME("ACK 3\r\n", PROTO_OK, PROTO_CMD_ACK, 5, NULL, 0),
	FRAME("QUIT\n", PROTO_OK, PROTO_CMD_QUIT, 4, NULL, 0),
};

#define NSTREAM_FRAMES \
	((int)(sizeof stream_frames / sizeof *stream_frames))

static size_t
build_stream(char *buf, size_t *starts)
{
	size_t len = 0;

	for (int i = 0; i < NSTREAM_FRAMES; i++) {
		ck_assert_uint_le(len + stream_frames[i].len, STREAM_MAX);
		starts[i] = len;
		memcpy(buf + len, stream_frames[i].bytes, stream_frames[i].len);
		len += stream_frames[i].len;
	}
	return len;
}

/* Check a framed request against what the stream says it must be. */
static void
check_frame(const struct frame_want *w, const char *at, enum proto_status st,
    const struct proto_request *r, const struct proto_frame *fr)
{
	ck_assert_int_eq(st, w->st);
	ck_assert_uint_eq(fr->frame_len, w->len);
	ck_assert_uint_eq(fr->line_len, w->line_len);
	if (w->cmd >= 0)
		ck_assert_int_eq(r->cmd, w->cmd);
	if (w->body != NULL) {
		ck_assert(r->has_body);
		ck_assert_uint_eq(r->body_len, w->body_len);
		ck_assert_uint_eq(fr->body_off,
		    (size_t)((const char *)memchr(w->bytes, '\n', w->len) -
			w->bytes) + 1);
		ck_assert_int_eq(memcmp(at + fr->body_off, w->body,
				     w->body_len), 0);
	} else {
		ck_assert(!r->has_body);
	}
}

/* Every prefix of the stream from frame _i on: NEED_MORE, then exact. */
START_TEST(test_frame_at_every_prefix_length)
{
	static char buf[STREAM_MAX];
	size_t starts[NSTREAM_FRAMES];
	size_t len = build_stream(buf, starts);
	const struct frame_want *w = &stream_frames[_i];
	const char *at = buf + starts[_i];
	size_t rest = len - starts[_i];
	char scratch[PROTO_LINE_MAX + 1];

	for (size_t k = 0; k <= rest; k++) {
		struct proto_request r;
		struct proto_frame fr;
		enum proto_status st;

		st = proto_frame_request(at, k, scratch, &r, &fr);
		if (k < w->len) {
			ck_assert_msg(st == PROTO_NEED_MORE,
			    "frame %d, %zu of %zu bytes: status %d", _i, k,
			    w->len, st);
			continue;
		}
		check_frame(w, at, st, &r, &fr);
	}
}
END_TEST

/*
 * A receiver that gets the stream in chunks of _i bytes, appends them to
 * its buffer and frames while it can, as the daemon does.
 */
START_TEST(test_frame_stream_fed_in_chunks)
{
	static char stream[STREAM_MAX], buf[STREAM_MAX];
	size_t starts[NSTREAM_FRAMES];
	size_t len = build_stream(stream, starts);
	size_t chunk = (size_t)_i, have = 0, sent = 0;
	char scratch[PROTO_LINE_MAX + 1];
	int next = 0;

	while (sent < len) {
		size_t n = len - sent < chunk ? len - sent : chunk;

		memcpy(buf + have, stream + sent, n);
		have += n;
		sent += n;
		for (;;) {
			struct proto_request r;
			struct proto_frame fr;
			enum proto_status st;

			st = proto_frame_request(buf, have, scratch, &r, &fr);
			if (st == PROTO_NEED_MORE)
				break;
			ck_assert_int_lt(next, NSTREAM_FRAMES);
			check_frame(&stream_frames[next], buf, st, &r, &fr);
			next++;
			memmove(buf, buf + fr.frame_len, have - fr.frame_len);
			have -= fr.frame_len;
		}
	}
	ck_assert_int_eq(next, NSTREAM_FRAMES);
	ck_assert_uint_eq(have, 0);
}
END_TEST

/*
 * Every 400 reason is a row of the one table, and each fits a status
 * line: printable words, no line break.
 */
START_TEST(test_every_400_reason_is_a_printable_phrase)
{
	const char *why = proto_reasons[_i];

	ck_assert_ptr_nonnull(why);
	ck_assert_uint_gt(strlen(why), 0);
	ck_assert_uint_lt(strlen(why), PROTO_LINE_MAX - 20);
	for (const char *p = why; *p != '\0'; p++)
		ck_assert_msg(*p >= ' ' && *p <= '~', "reason %d: byte %d",
		    _i, *p);
}
END_TEST

/* A body not followed by its terminator; each split still decides. */
struct fatal_frame {
	const char *bytes;
	size_t len;
};

static const struct fatal_frame fatal_frames[] = {
	{ LIT("PUT q 5\r\nhelloX\r\n") },
	{ LIT("PUT q 5\r\nhello\rX") },
	{ LIT("PUT q 5\r\nhello\r\r\n") },
	{ LIT("PUT q 3\r\nhello\r\n") },
	{ LIT("PUT q 0\r\nPING\r\n") },
	{ LIT("PUT q 2 x\r\nhiX") }, /* wins over the other fault */
	{ LIT("PUT q 5 x\r\nhello world\r\n") },
	{ LIT("PUT q x\r\nhello\r\n") },
	{ LIT("PUT\r\n") },
};

START_TEST(test_body_without_terminator_is_fatal_at_every_split)
{
	const struct fatal_frame *f = &fatal_frames[_i];
	char scratch[PROTO_LINE_MAX + 1];
	bool fatal = false;

	for (size_t k = 0; k <= f->len; k++) {
		struct proto_request r;
		struct proto_frame fr;
		enum proto_status st;

		st = proto_frame_request(f->bytes, k, scratch, &r, &fr);
		if (fatal) {
			ck_assert_msg(st == PROTO_FATAL, "row %d at %zu: %d",
			    _i, k, st);
			continue;
		}
		ck_assert_msg(st == PROTO_NEED_MORE || st == PROTO_FATAL,
		    "row %d at %zu: %d", _i, k, st);
		if (st == PROTO_FATAL) {
			assert_reason(&r);
			fatal = true;
		}
	}
	ck_assert_msg(fatal, "row %d never fatal", _i);
}
END_TEST

START_TEST(test_frame_of_overlong_line_is_fatal)
{
	static char buf[STREAM_MAX];
	char scratch[PROTO_LINE_MAX + 1];
	struct proto_request r;
	struct proto_frame fr;
	size_t len = fill(buf, 1100, 'G', LIT("\r\n"));

	ck_assert_int_eq(proto_frame_request(buf, len, scratch, &r, &fr),
	    PROTO_FATAL);
	assert_reason(&r);
	ck_assert_int_eq(proto_frame_request(buf, 1023, scratch, &r, &fr),
	    PROTO_NEED_MORE);
	ck_assert_int_eq(proto_frame_request(buf, 1024, scratch, &r, &fr),
	    PROTO_FATAL);
}
END_TEST

START_TEST(test_frame_of_longest_line_parses)
{
	static char buf[STREAM_MAX];
	char scratch[PROTO_LINE_MAX + 1];
	struct proto_request r;
	struct proto_frame fr;
	size_t len;

	/* "GET q" and 1017 spaces: 1022 bytes, then CRLF. */
	memcpy(buf, "GET q", 5);
	len = 5 + fill(buf + 5, 1017, ' ', LIT("\r\n"));
	ck_assert_uint_eq(len, PROTO_LINE_MAX);
	ck_assert_int_eq(proto_frame_request(buf, len, scratch, &r, &fr),
	    PROTO_OK);
	ck_assert_int_eq(r.cmd, PROTO_CMD_GET);
	ck_assert_str_eq(r.queue, "q");
	ck_assert_uint_eq(fr.frame_len, PROTO_LINE_MAX);
}
END_TEST

/* ---- responses -------------------------------------------------------- */

struct resp_want {
	const char *bytes;
	size_t len;
	int code;
	const char *token;
	int argc;
	const char *argv[PROTO_RESP_ARGS_MAX];
	bool has_retry;
	uint64_t retry;
	const char *body; /* NULL: no body */
	size_t body_len;
};

#define RESP(lit, c, tok, ...) \
	{ .bytes = lit, .len = sizeof(lit) - 1, .code = c, .token = tok, \
	  __VA_ARGS__ }

static const struct resp_want resp_wants[] = {
	RESP("200 PONG\r\n", 200, "PONG", .argc = 0),
	RESP("200 QUEUED 42\r\n", 200, "QUEUED", .argc = 1,
	    .argv = { "42" }),
	RESP("200 MSG 1 5\r\nhello\r\n", 200, "MSG", .argc = 2,
	    .argv = { "1", "5" }, .body = "hello", .body_len = 5),
	RESP("200 MSG 9 6\r\na\r\n\0\r\n\r\n", 200, "MSG", .argc = 2,
	    .argv = { "9", "6" }, .body = "a\r\n\0\r\n", .body_len = 6),
	RESP("200 MSG 3 0\r\n\r\n", 200, "MSG", .argc = 2,
	    .argv = { "3", "0" }, .body = "", .body_len = 0),
	RESP("200 MSG 4 2\nhi\n", 200, "MSG", .argc = 2,
	    .argv = { "4", "2" }, .body = "hi", .body_len = 2),
	RESP("200 JSON 12\r\n{\"depth\": 0}\r\n", 200, "JSON", .argc = 1,
	    .argv = { "12" }, .body = "{\"depth\": 0}", .body_len = 12),
	RESP("503 FULL q retry_after_ms=12\r\n", 503, "FULL", .argc = 1,
	    .argv = { "q" }, .has_retry = true, .retry = 12),
	RESP("503 FULL jobs color=blue retry_after_ms=7 x=y\r\n", 503,
	    "FULL", .argc = 1, .argv = { "jobs" }, .has_retry = true,
	    .retry = 7),
	RESP("503 FULL jobs future=1\r\n", 503, "FULL", .argc = 1,
	    .argv = { "jobs" }),
	RESP("503 FULL jobs retry_after_ms=soon\r\n", 503, "FULL", .argc = 1,
	    .argv = { "jobs" }),
	RESP("204 EMPTY\r\n", 204, "EMPTY", .argc = 0),
	RESP("404 NO_MSG 7\r\n", 404, "NO_MSG", .argc = 1, .argv = { "7" }),
	RESP("202 DROPPED q\r\n", 202, "DROPPED", .argc = 1,
	    .argv = { "q" }),
	RESP("201 CREATED\n", 201, "CREATED", .argc = 0),
	RESP("400 BAD_REQUEST unknown command\r\n", 400, "BAD_REQUEST",
	    .argc = 2, .argv = { "unknown", "command" }),
	RESP("413 TOO_LARGE 1048576\r\n", 413, "TOO_LARGE", .argc = 1,
	    .argv = { "1048576" }),
	RESP("503 SHUTTING_DOWN\r\n", 503, "SHUTTING_DOWN", .argc = 0),
};

#define NRESP_WANTS ((int)(sizeof resp_wants / sizeof *resp_wants))

static void
check_response(const struct resp_want *w, const char *at,
    const struct proto_response *r)
{
	ck_assert_int_eq(r->code, w->code);
	ck_assert_msg(proto_word_is(&r->token, w->token), "token %.*s",
	    (int)r->token.len, r->token.s);
	ck_assert_int_eq(r->argc, w->argc);
	for (int i = 0; i < w->argc; i++)
		ck_assert_msg(proto_word_is(&r->argv[i], w->argv[i]),
		    "arg %d is %.*s", i, (int)r->argv[i].len, r->argv[i].s);
	ck_assert_int_eq(r->has_retry_after, w->has_retry);
	if (w->has_retry)
		ck_assert_uint_eq(r->retry_after_ms, w->retry);
	ck_assert_uint_eq(r->frame_len, w->len);
	if (w->body != NULL) {
		ck_assert(r->has_body);
		ck_assert_uint_eq(r->body_len, w->body_len);
		ck_assert(r->body >= at && r->body < at + r->frame_len);
		ck_assert_int_eq(memcmp(r->body, w->body, w->body_len), 0);
	} else {
		ck_assert(!r->has_body);
	}
}

/* Response _i at every prefix length, followed by the others. */
START_TEST(test_response_at_every_split_point)
{
	static char buf[STREAM_MAX];
	const struct resp_want *w = &resp_wants[_i];
	size_t len = 0;

	for (int i = _i; i < NRESP_WANTS; i++) {
		memcpy(buf + len, resp_wants[i].bytes, resp_wants[i].len);
		len += resp_wants[i].len;
	}
	for (size_t k = 0; k <= len; k++) {
		struct proto_response r;
		enum proto_status st;

		st = proto_parse_response(buf, k, 1 << 20, &r);
		if (k < w->len) {
			ck_assert_msg(st == PROTO_NEED_MORE,
			    "response %d, %zu of %zu bytes: %d", _i, k,
			    w->len, st);
			continue;
		}
		ck_assert_int_eq(st, PROTO_OK);
		check_response(w, buf, &r);
	}
}
END_TEST

START_TEST(test_responses_fed_in_chunks)
{
	static char stream[STREAM_MAX], buf[STREAM_MAX];
	size_t chunk = (size_t)_i, len = 0, have = 0, sent = 0;
	int next = 0;

	for (int i = 0; i < NRESP_WANTS; i++) {
		memcpy(stream + len, resp_wants[i].bytes, resp_wants[i].len);
		len += resp_wants[i].len;
	}
	while (sent < len) {
		size_t n = len - sent < chunk ? len - sent : chunk;
		struct proto_response r;

		memcpy(buf + have, stream + sent, n);
		have += n;
		sent += n;
		while (proto_parse_response(buf, have, 1 << 20, &r) ==
		    PROTO_OK) {
			ck_assert_int_lt(next, NRESP_WANTS);
			check_response(&resp_wants[next], buf, &r);
			next++;
			memmove(buf, buf + r.frame_len, have - r.frame_len);
			have -= r.frame_len;
		}
	}
	ck_assert_int_eq(next, NRESP_WANTS);
	ck_assert_uint_eq(have, 0);
}
END_TEST

START_TEST(test_response_body_over_max_body_is_fatal)
{
	struct proto_response r;

	ck_assert_int_eq(proto_parse_response(LIT("200 MSG 1 5\r\nhello\r\n"),
			     5, &r), PROTO_OK);
	ck_assert_int_eq(proto_parse_response(LIT("200 MSG 1 5\r\nhello\r\n"),
			     4, &r), PROTO_FATAL);
	/* Decided from the status line, before the body arrives. */
	ck_assert_int_eq(proto_parse_response(LIT("200 MSG 1 5\r\n"), 4, &r),
	    PROTO_FATAL);
	ck_assert_int_eq(proto_parse_response(LIT("200 JSON 3\r\n"), 2, &r),
	    PROTO_FATAL);
	ck_assert_int_eq(proto_parse_response(LIT("200 MSG 1 0\r\n\r\n"), 0,
			     &r), PROTO_OK);
	/* Hints and other responses are not bodies. */
	ck_assert_int_eq(proto_parse_response(LIT("200 QUEUED 99999\r\n"), 0,
			     &r), PROTO_OK);
}
END_TEST

static const char *const malformed_responses[] = {
	"\r\n",
	"\n",
	"OK\r\n",
	"200\r\n",
	"200 \r\n",
	"20 PONG\r\n",
	"2000 PONG\r\n",
	"600 PONG\r\n",
	"099 PONG\r\n",
	"abc PONG\r\n",
	"2x0 PONG\r\n",
	"200 MSG\r\n",
	"200 MSG 1 x\r\n",
	"200 MSG 1 -1\r\n",
	"200 MSG 1 99999999999999999999\r\n",
	"200 JSON\r\n",
	"200 JSON 2\r\n{}X",
	"200 MSG 1 5\r\nhelloXX",
	"200 MSG 1 5\r\nhello\rX",
};

START_TEST(test_malformed_response_is_fatal)
{
	const char *s = malformed_responses[_i];
	struct proto_response r;

	ck_assert_msg(proto_parse_response(s, strlen(s), 1 << 20, &r) ==
		PROTO_FATAL,
	    "accepted \"%s\"", s);
}
END_TEST

START_TEST(test_overlong_response_line_is_fatal)
{
	static char buf[PROTO_RESP_LINE_MAX + 16];
	struct proto_response r;
	size_t len;

	memcpy(buf, "200 PONG ", 9);
	len = 9 + fill(buf + 9, PROTO_RESP_LINE_MAX, 'x', LIT("\r\n"));
	ck_assert_int_eq(proto_parse_response(buf, PROTO_RESP_LINE_MAX - 1,
			     1024, &r), PROTO_NEED_MORE);
	ck_assert_int_eq(proto_parse_response(buf, len, 1024, &r),
	    PROTO_FATAL);
}
END_TEST

START_TEST(test_written_status_parses_back)
{
	char buf[64];
	struct proto_response r;
	size_t n;

	n = proto_write_status(buf, sizeof buf, 503, "FULL", "jobs");
	ck_assert_uint_eq(n, strlen("503 FULL jobs\r\n"));
	ck_assert_int_eq(memcmp(buf, "503 FULL jobs\r\n", n), 0);
	ck_assert_int_eq(proto_parse_response(buf, n, 0, &r), PROTO_OK);
	ck_assert_int_eq(r.code, 503);
	ck_assert(proto_word_is(&r.token, "FULL"));
	ck_assert_int_eq(r.argc, 1);
	ck_assert(proto_word_is(&r.argv[0], "jobs"));
	ck_assert_uint_eq(r.frame_len, n);

	n = proto_write_status(buf, sizeof buf, 200, "PONG", NULL);
	ck_assert_uint_eq(n, 10);
	ck_assert_int_eq(memcmp(buf, "200 PONG\r\n", n), 0);
	ck_assert_int_eq(proto_parse_response(buf, n, 0, &r), PROTO_OK);
	ck_assert_int_eq(r.code, 200);
	ck_assert_int_eq(r.argc, 0);
}
END_TEST

START_TEST(test_write_status_reports_a_short_buffer)
{
	char buf[16];

	/* "200 PONG\r\n" is 10 bytes and needs an 11th for the NUL. */
	ck_assert_uint_eq(proto_write_status(buf, 10, 200, "PONG", NULL), 0);
	ck_assert_uint_eq(proto_write_status(buf, 11, 200, "PONG", NULL), 10);
}
END_TEST

START_TEST(test_written_msg_header_parses_back)
{
	static const uint64_t ids[] = { 0, 1, 42, (uint64_t)INT64_MAX };
	static const char body[] = "x\r\n\0y";
	char buf[128];
	struct proto_response r;
	uint64_t v;

	for (size_t i = 0; i < sizeof ids / sizeof *ids; i++) {
		size_t n = proto_write_msg(buf, sizeof buf, ids[i],
		    sizeof body - 1);

		ck_assert_uint_gt(n, 0);
		memcpy(buf + n, body, sizeof body - 1);
		memcpy(buf + n + sizeof body - 1, "\r\n", 2);
		n += sizeof body - 1 + 2;
		ck_assert_int_eq(proto_parse_response(buf, n, 64, &r),
		    PROTO_OK);
		ck_assert_int_eq(r.code, 200);
		ck_assert(proto_word_is(&r.token, "MSG"));
		ck_assert_int_eq(r.argc, 2);
		ck_assert(proto_word_number(&r.argv[0], &v));
		ck_assert_uint_eq(v, ids[i]);
		ck_assert(r.has_body);
		ck_assert_uint_eq(r.body_len, sizeof body - 1);
		ck_assert_int_eq(memcmp(r.body, body, sizeof body - 1), 0);
		ck_assert_uint_eq(r.frame_len, n);
	}
	ck_assert_uint_eq(proto_write_msg(buf, 8, 1, 1), 0);
}
END_TEST

/* ---- split-invariance on random input --------------------------------- */

/* Pieces random streams are made of: mostly protocol, some noise. */
static const char *const request_pieces[] = {
	"PUT ", "put ", "GET ", "RESERVE ", "ACK ", "CREATE ", "PING", "q",
	" ", "  ", "0", "1", "2", "5", "x", "\r\n", "\n", "\r", "\t",
	"capacity=1", "policy=block", "hello", "-", "99999999999999999999",
};

static const char *const response_pieces[] = {
	"200 ", "503 ", "204 ", "MSG ", "JSON ", "QUEUED ", "FULL ", "EMPTY",
	"q ", "1 ", "2", "0", "5", "retry_after_ms=3 ", "x=y ", "hi",
	"\r\n", "\n", "\r", " ", "abc", "6", "999",
};

static size_t
random_stream(uint64_t *state, char *buf, size_t max,
    const char *const *pieces, size_t npieces)
{
	size_t len = 0, n = 1 + testrand_next(state) % 40;

	for (size_t i = 0; i < n; i++) {
		uint64_t r = testrand_next(state);
		const char *p = pieces[r % npieces];
		size_t plen = strlen(p);

		if (r % 50 == 0) /* a raw byte now and then, NUL included */
			p = (const char *)&r, plen = 1;
		if (len + plen > max)
			break;
		memcpy(buf + len, p, plen);
		len += plen;
	}
	return len;
}

/*
 * Whatever framing decides on a prefix of the input, it decides the same
 * on every longer prefix: input split anywhere frames as if whole.
 */
START_TEST(test_request_framing_never_changes_its_mind)
{
	uint64_t state = 0x853c49e6748fea9bULL + (uint64_t)_i;
	char buf[512], scratch[PROTO_LINE_MAX + 1];

	for (int round = 0; round < 500; round++) {
		size_t len = random_stream(&state, buf, sizeof buf,
		    request_pieces,
		    sizeof request_pieces / sizeof *request_pieces);
		struct proto_request r0 = { 0 }, r;
		struct proto_frame f0 = { 0 }, f;
		enum proto_status s0 = PROTO_NEED_MORE;
		size_t at = 0;

		for (size_t k = 0; k <= len; k++) {
			enum proto_status st =
			    proto_frame_request(buf, k, scratch, &r, &f);

			if (s0 == PROTO_NEED_MORE) {
				s0 = st, r0 = r, f0 = f, at = k;
				continue;
			}
			CHECK(st == s0, "round %d: %d at %zu, %d at %zu", round,
			    s0, at, st, k);
			if (st == PROTO_FATAL)
				continue;
			CHECK(f.frame_len == f0.frame_len &&
				f.line_len == f0.line_len &&
				r.cmd == r0.cmd && r.has_body == r0.has_body &&
				r.body_len == r0.body_len,
			    "round %d: frame differs at %zu", round, k);
			CHECK(f.frame_len <= at && f.frame_len > 0,
			    "round %d: frame_len %zu decided at %zu", round,
			    f.frame_len, at);
		}
	}
}
END_TEST

START_TEST(test_response_parsing_never_changes_its_mind)
{
	uint64_t state = 0xda942042e4dd58b5ULL + (uint64_t)_i;
	char buf[512];

	for (int round = 0; round < 500; round++) {
		size_t len = random_stream(&state, buf, sizeof buf,
		    response_pieces,
		    sizeof response_pieces / sizeof *response_pieces);
		struct proto_response r0 = { 0 }, r;
		enum proto_status s0 = PROTO_NEED_MORE;
		size_t at = 0;

		for (size_t k = 0; k <= len; k++) {
			enum proto_status st =
			    proto_parse_response(buf, k, 64, &r);

			if (s0 == PROTO_NEED_MORE) {
				s0 = st, r0 = r, at = k;
				continue;
			}
			CHECK(st == s0, "round %d: %d at %zu, %d at %zu", round,
			    s0, at, st, k);
			if (st == PROTO_FATAL)
				continue;
			CHECK(r.frame_len == r0.frame_len &&
				r.code == r0.code && r.argc == r0.argc &&
				r.has_body == r0.has_body &&
				r.body_len == r0.body_len,
			    "round %d: response differs at %zu", round, k);
			CHECK(r.frame_len <= at, "round %d: frame_len %zu "
			    "decided at %zu", round, r.frame_len, at);
		}
	}
}
END_TEST

/* ---- suite ------------------------------------------------------------ */

static Suite *
proto_suite(void)
{
	Suite *s = suite_create("proto");
	TCase *tc;

	tc = tcase_create("numbers");
	tcase_add_test(tc, test_number_zero_parses);
	tcase_add_test(tc, test_number_with_leading_zeros_parses);
	tcase_add_test(tc, test_number_of_19_digits_parses);
	tcase_add_test(tc, test_number_2_pow_63_minus_1_parses);
	tcase_add_test(tc, test_number_2_pow_63_is_rejected);
	tcase_add_test(tc, test_number_of_20_digits_is_rejected);
	tcase_add_test(tc, test_number_with_sign_or_other_bytes_is_rejected);
	tcase_add_test(tc, test_number_empty_is_rejected);
	tcase_add_test(tc,
	    test_format_u64_matches_printf_at_every_digit_boundary);
	suite_add_tcase(s, tc);

	tc = tcase_create("names");
	tcase_add_test(tc, test_name_of_every_allowed_class_is_valid);
	tcase_add_loop_test(tc, test_name_accepts_exactly_the_allowed_bytes,
	    0, 256);
	tcase_add_test(tc, test_name_of_128_bytes_is_valid_and_129_is_not);
	tcase_add_test(tc, test_name_with_tab_nul_space_or_slash_is_invalid);
	suite_add_tcase(s, tc);

	tc = tcase_create("words");
	tcase_add_test(tc, test_cmd_lookup_ignores_case);
	tcase_add_test(tc, test_cmd_lookup_needs_the_whole_name);
	tcase_add_test(tc, test_policy_names_round_trip);
	tcase_add_test(tc, test_policy_parse_is_case_sensitive_and_exact);
	suite_add_tcase(s, tc);

	tc = tcase_create("requests");
	tcase_add_test(tc, test_ping_and_quit_parse);
	tcase_add_test(tc, test_put_parses_queue_length_and_timeout);
	tcase_add_test(tc, test_get_and_reserve_parse_optional_timeout);
	tcase_add_test(tc, test_ack_and_nack_parse_id);
	tcase_add_test(tc, test_nack_parses_optional_delay);
	tcase_add_test(tc, test_create_parses_dead_letter_options);
	tcase_add_test(tc, test_close_parses_queue);
	tcase_add_test(tc, test_create_parses_options_in_any_order);
	tcase_add_test(tc, test_queue_commands_and_auth_parse);
	tcase_add_test(tc, test_spaces_around_and_between_words_are_ignored);
	tcase_add_test(tc,
	    test_command_name_is_case_insensitive_but_arguments_are_not);
	tcase_add_test(tc, test_longest_queue_name_parses);
	tcase_add_loop_test(tc, test_bad_request_line_gets_400, 0, NBAD_ROWS);
	tcase_add_loop_test(tc, test_every_400_reason_is_a_printable_phrase, 0,
	    PROTO_R_COUNT);
	suite_add_tcase(s, tc);

	tc = tcase_create("lines");
	tcase_add_test(tc, test_line_ends_at_crlf_or_bare_lf);
	tcase_add_test(tc, test_line_without_terminator_needs_more);
	tcase_add_test(tc, test_cr_not_followed_by_lf_is_part_of_the_line);
	tcase_add_test(tc, test_line_of_1024_bytes_with_crlf_is_accepted);
	tcase_add_test(tc, test_line_of_1024_bytes_with_bare_lf_is_accepted);
	tcase_add_test(tc, test_line_of_1025_bytes_is_fatal);
	tcase_add_test(tc, test_1024_bytes_without_lf_are_fatal);
	tcase_add_test(tc, test_body_end_is_crlf_or_lf);
	suite_add_tcase(s, tc);

	tc = tcase_create("framing");
	tcase_add_loop_test(tc, test_frame_at_every_prefix_length, 0,
	    NSTREAM_FRAMES);
	tcase_add_loop_test(tc, test_frame_stream_fed_in_chunks, 1, 80);
	tcase_add_loop_test(tc,
	    test_body_without_terminator_is_fatal_at_every_split, 0,
	    (int)(sizeof fatal_frames / sizeof *fatal_frames));
	tcase_add_test(tc, test_frame_of_overlong_line_is_fatal);
	tcase_add_test(tc, test_frame_of_longest_line_parses);
	suite_add_tcase(s, tc);

	tc = tcase_create("responses");
	tcase_add_loop_test(tc, test_response_at_every_split_point, 0,
	    NRESP_WANTS);
	tcase_add_loop_test(tc, test_responses_fed_in_chunks, 1, 64);
	tcase_add_test(tc, test_response_body_over_max_body_is_fatal);
	tcase_add_loop_test(tc, test_malformed_response_is_fatal, 0,
	    (int)(sizeof malformed_responses / sizeof *malformed_responses));
	tcase_add_test(tc, test_overlong_response_line_is_fatal);
	tcase_add_test(tc, test_written_status_parses_back);
	tcase_add_test(tc, test_write_status_reports_a_short_buffer);
	tcase_add_test(tc, test_written_msg_header_parses_back);
	suite_add_tcase(s, tc);

	tc = tcase_create("random_splits");
	tcase_add_loop_test(tc, test_request_framing_never_changes_its_mind,
	    0, 4);
	tcase_add_loop_test(tc, test_response_parsing_never_changes_its_mind,
	    0, 4);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(proto_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
