/*
 * cli_peek.c - "sluice peek" (PEEK, sluiced's extension: look without
 * taking) and "sluice move" (RESERVE from one queue, PUT into another,
 * ACK only once the PUT is queued: a message is never lost, and at
 * worst, if sluice dies between the PUT and the ACK, it is in both).
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"

static const char peek_usage[] =
    "usage: sluice peek [-i] [-r] [-j] QUEUE [N]\n"
    "\n"
    "Show the first N ready messages of QUEUE (default 1, at most 100) in\n"
    "the order get would take them, without taking them: nothing is\n"
    "removed, reserved or counted as delivered.  Each body is printed on\n"
    "a line of its own, as by get (quoted on a terminal).  A body longer\n"
    "than 64 KiB is shown cut, and stderr says so.\n"
    "\n"
    "  -i, --id     print \"<id> \" before each body\n"
    "  -r, --raw    print bodies exactly, with no newline after them\n"
    "  -j, --json   print the server's JSON (bodies in base64)\n"
    "  -h, --help   this help\n"
    "\n"
    "Exit status 0 when a message was shown, 2 when the queue had none,\n"
    "66 when there is no such queue.\n";

static const char move_usage[] =
    "usage: sluice move [-t MS] SRC DST [N]\n"
    "\n"
    "Move the first N ready messages (default 1) of queue SRC to the end\n"
    "of queue DST, one at a time: each is reserved in SRC, put into DST,\n"
    "and acknowledged in SRC only once DST has queued it.  A message that\n"
    "DST refuses (full, dropped, too large) goes back to SRC and sluice\n"
    "stops, so none is ever lost; if sluice dies between the put and the\n"
    "acknowledgement, the message is in both queues.  Both queues must\n"
    "exist.  Prints how many were moved.\n"
    "\n"
    "  -t, --timeout MS  wait at most MS ms for room in DST (default: as\n"
    "                    long as it takes)\n"
    "  -h, --help        this help\n"
    "\n"
    "Exit status 0 when all N were moved (or SRC ran out after at least\n"
    "one), 2 when SRC had none, 66 when a queue does not exist, 75 when\n"
    "DST refused for now (503 FULL).\n";

/* Decode base64 (RFC 4648) in place; its length, or -1 when bad. */
static long
unbase64(char *s)
{
	static const char abc[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = 0, len = strlen(s);
	uint32_t v = 0;
	int bits = 0;

	for (size_t i = 0; i < len && s[i] != '='; i++) {
		const char *p = s[i] != '\0' ? strchr(abc, s[i]) : NULL;
		if (p == NULL)
			return -1;
		v = v << 6 | (uint32_t)(p - abc);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			s[n++] = (char)(v >> bits & 0xff);
		}
	}
	return (long)n;
}

int
cli_peek(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "id", no_argument, NULL, 'i' },
		{ "raw", no_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool ids = false, raw = false, as_json = false, quote;
	uint64_t n = 1;
	struct sluice_ctx *ctx;
	enum sluice_result r;
	json_t *j, *msgs, *m;
	json_error_t jerr;
	char *text;
	size_t len, i;
	int ch, status;

	while ((ch = getopt_long(argc, argv, ":irjh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'i':
			ids = true;
			break;
		case 'r':
			raw = true;
			break;
		case 'j':
			as_json = true;
			break;
		case 'h':
			fputs(peek_usage, stdout);
			return 0;
		default:
			return cli_option_error(cli, ch, argv);
		}
	}
	if (argc - optind < 1 || argc - optind > 2)
		return cli_usage_error(cli, peek_usage, "%s",
		    argc == optind ? "which queue?" : "too many arguments");
	if (argc - optind == 2 &&
	    (!cli_number(cli, peek_usage, "N", argv[optind + 1], 100, &n) ||
	        n == 0))
		return n == 0
		    ? cli_usage_error(cli, peek_usage, "N wants 1 to 100")
		    : EX_USAGE;
	quote = !raw && isatty(STDOUT_FILENO);
	if ((ctx = cli_connect_queue(cli, argv[optind], &status)) == NULL)
		return status;
	r = sluice_peek(ctx, argv[optind], (unsigned)n, &text, &len);
	if (r != SLUICE_OK) {
		status = cli_fail(cli, ctx, argv[optind], r);
		sluice_free(ctx);
		return status;
	}
	j = json_loadb(text, len, 0, &jerr);
	msgs = json_object_get(j, "messages");
	if (!json_is_array(msgs))
		status = cli_fail(cli, ctx, argv[optind], SLUICE_ERR_PROTOCOL);
	else if (json_array_size(msgs) == 0)
		status = cli_error(cli, CLI_EX_EMPTY, "%s: no message",
		    argv[optind]);
	else if (as_json)
		printf("%s\n", text);
	json_array_foreach(as_json || status != 0 ? NULL : msgs, i, m)
	{
		char *body = strdup(
		    json_string_value(json_object_get(m, "body_base64")) ?: "");
		long k = body != NULL ? unbase64(body) : -1;
		json_int_t id = json_integer_value(json_object_get(m, "id"));
		if (k < 0) {
			free(body);
			status = cli_fail(cli, ctx, argv[optind],
			    SLUICE_ERR_PROTOCOL);
			break;
		}
		if (ids)
			printf("%" JSON_INTEGER_FORMAT " ", id);
		if (quote)
			cli_print_quoted(body, (size_t)k);
		else
			fwrite(body, 1, (size_t)k, stdout);
		if (!raw)
			putchar('\n');
		if (json_is_true(json_object_get(m, "cut")))
			cli_error(cli, 0,
			    "%s: message %" JSON_INTEGER_FORMAT
			    ": only the first %ld of its %" JSON_INTEGER_FORMAT
			    " bytes shown",
			    argv[optind], id, k,
			    json_integer_value(json_object_get(m, "bytes")));
		free(body);
	}
	json_decref(j);
	free(text);
	if (fflush(stdout) != 0 && status == 0)
		status = cli_error(cli, CLI_EX_ERROR, "stdout failed");
	sluice_free(ctx);
	return status;
}

/* Move one message; SLUICE_OK when moved, else why not (reported). */
static enum sluice_result
move_one(struct cli *cli, struct sluice_ctx *from, struct sluice_ctx *to,
    const char *src, const char *dst, int64_t timeout, int *status)
{
	struct sluice_msg *m;
	enum sluice_result r, put;

	if ((r = sluice_reserve(from, src, 0, &m)) != SLUICE_OK) {
		if (r != SLUICE_EMPTY)
			*status = cli_fail(cli, from, src, r);
		return r;
	}
	/* DST on its own connection: a PUT waiting for room there must not
	 * hold back this connection's ACK or NACK. */
	put = sluice_put(to, dst, m->body, m->len, timeout, NULL);
	if (put == SLUICE_OK) {
		if ((r = sluice_ack(from, m->id)) != SLUICE_OK)
			/* The reservation ended (a lease ran out): the
			 * message is back in SRC and also in DST. */
			*status = cli_error(cli, CLI_EX_ERROR,
			    "%s: message %" PRIu64 " was put into %s but "
			    "could not be acknowledged (%s); it may be in "
			    "both",
			    src, m->id, dst, sluice_status_line(from));
	} else {
		/* Given back; if the NACK is lost too, the connection's
		 * end gives it back. */
		(void)sluice_nack(from, m->id);
		*status = cli_fail(cli, to, dst, put);
		r = put == SLUICE_DROPPED ? SLUICE_FULL : put;
	}
	sluice_msg_free(m);
	return *status == 0 ? SLUICE_OK : (r == SLUICE_OK ? SLUICE_ERR_IO : r);
}

int
cli_move(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int64_t timeout = SLUICE_FOREVER;
	uint64_t n = 1, moved = 0, v;
	struct sluice_ctx *from = NULL, *to = NULL;
	const char *src, *dst;
	int ch, status = 0;

	while ((ch = getopt_long(argc, argv, ":t:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 't':
			if (!cli_number(cli, move_usage, "-t", optarg,
			        INT32_MAX, &v))
				return EX_USAGE;
			timeout = (int64_t)v;
			break;
		case 'h':
			fputs(move_usage, stdout);
			return 0;
		default:
			return cli_option_error(cli, ch, argv);
		}
	}
	if (argc - optind < 2 || argc - optind > 3)
		return cli_usage_error(cli, move_usage, "%s",
		    argc - optind < 2 ? "which queues?" : "too many arguments");
	src = argv[optind];
	dst = argv[optind + 1];
	if (argc - optind == 3 &&
	    (!cli_number(cli, move_usage, "N", argv[optind + 2], INT64_MAX,
	         &n) ||
	        n == 0))
		return n == 0
		    ? cli_usage_error(cli, move_usage, "N wants at least 1")
		    : EX_USAGE;
	if (strcmp(src, dst) == 0)
		return cli_usage_error(cli, move_usage,
		    "SRC and DST are the same queue");
	if ((from = cli_connect_queue(cli, src, &status)) == NULL ||
	    (to = cli_connect_queue(cli, dst, &status)) == NULL)
		goto out;
	if (!cli_queue_exists(cli, from, src, &status) ||
	    !cli_queue_exists(cli, to, dst, &status))
		goto out;
	while (moved < n && status == 0 &&
	    move_one(cli, from, to, src, dst, timeout, &status) == SLUICE_OK)
		moved++;
	if (status == 0 && moved == 0)
		status = cli_error(cli, CLI_EX_EMPTY, "%s: no message", src);
	if (moved > 0 || status != CLI_EX_EMPTY)
		printf("%" PRIu64 "\n", moved);
out:
	sluice_free(from);
	sluice_free(to);
	return status;
}
