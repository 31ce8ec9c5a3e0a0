/*
 * response.h - writing and parsing responses, with no I/O.
 *
 * The daemon formats status lines with proto_write_status() and
 * message headers with proto_write_msg(); the client parses what comes
 * back with proto_parse_response(), which, like the request side,
 * answers PROTO_NEED_MORE for any prefix of a response.
 */
#ifndef SLUICE_RESPONSE_H
#define SLUICE_RESPONSE_H

#include "proto.h"

/* Longest response line the client accepts (hints included). */
#define PROTO_RESP_LINE_MAX 4096
/* Arguments kept per response line (hints not counted). */
#define PROTO_RESP_ARGS_MAX 4

/* A word of a response: not NUL-terminated, points into the input. */
struct proto_word {
	const char *s;
	size_t len;
};

struct proto_response {
	int code;			/* 100..599 */
	struct proto_word token;	/* MSG, QUEUED, FULL, ... */
	int argc;
	struct proto_word argv[PROTO_RESP_ARGS_MAX];
	bool has_retry_after;		/* hint retry_after_ms=<n> */
	uint64_t retry_after_ms;
	bool has_body;			/* token MSG or JSON */
	const char *body;
	size_t body_len;
	size_t frame_len;		/* bytes the whole response took */
};

/*
 * Parse the first response in buf[0..len).  max_body bounds the body a
 * caller will accept (PROTO_FATAL beyond it).  PROTO_FATAL also for a
 * line that is not `<3 digits> <TOKEN>...` or a body without its
 * terminator.
 */
enum proto_status proto_parse_response(const char *buf, size_t len,
    size_t max_body, struct proto_response *resp);

/*
 * Format "<code> <token>[ <arg>]\r\n" into buf, NUL-terminated; returns
 * its length without the NUL, or 0 when it does not fit.  arg may be
 * NULL.
 */
size_t proto_write_status(char *buf, size_t size, int code,
    const char *token, const char *arg);

/* Format "200 MSG <id> <len>\r\n" likewise. */
size_t proto_write_msg(char *buf, size_t size, uint64_t id, size_t len);

/* Parse a decimal response argument (same rules as request numbers). */
bool proto_word_number(const struct proto_word *w, uint64_t *out);

/* True when the word equals the NUL-terminated string s. */
bool proto_word_is(const struct proto_word *w, const char *s);

#endif
