/*
 * request.h - framing and parsing of requests, with no I/O.
 *
 * Framing is two steps, asked each time more input arrives:
 *   1. proto_frame_line()     is a whole line buffered, and what does
 *                             it ask for?  (proto_scan_line() then
 *                             proto_parse_request())
 *   2. proto_frame_body_end() is the body (if any) followed by its
 *                             terminator?  (proto_scan_body_end())
 * proto_frame_request() composes the two over one contiguous buffer,
 * for the tests and the fuzzer; the daemon, whose input is an evbuffer
 * that may be split anywhere, calls the same two steps itself (its
 * body need not be contiguous, nor all there yet).  Every function
 * works on whatever prefix of the stream has arrived and answers
 * PROTO_NEED_MORE until it can decide, so input split at any byte
 * frames exactly as input that arrives whole.
 *
 * Every reason a request is refused 400 is a row of proto_reasons[].
 */
#ifndef SLUICE_REQUEST_H
#define SLUICE_REQUEST_H

#include "proto.h"

/* Why a request is refused 400: the words after "400 BAD_REQUEST". */
enum proto_reason {
	PROTO_R_LINE_TOO_LONG,
	PROTO_R_EMPTY_LINE,
	PROTO_R_UNKNOWN_COMMAND,
	PROTO_R_MISSING_BODY_LENGTH,
	PROTO_R_BAD_BODY_LENGTH,
	PROTO_R_WRONG_ARG_COUNT,
	PROTO_R_BAD_QUEUE_NAME,
	PROTO_R_BAD_TIMEOUT,
	PROTO_R_BAD_MESSAGE_ID,
	PROTO_R_BAD_DELAY,
	PROTO_R_OPTION_WITHOUT_VALUE,
	PROTO_R_UNKNOWN_OPTION,
	PROTO_R_REPEATED_OPTION,
	PROTO_R_BAD_OPTION_VALUE,
	PROTO_R_UNKNOWN_POLICY,
	PROTO_R_BAD_DEAD_LETTER,
	PROTO_R_BAD_BODY_END,
	PROTO_R_BAD_COUNT,
	PROTO_R_DROP_NEEDS_CAPACITY, /* judged by the server, not the parser */
	PROTO_R_SELF_DEAD_LETTER,    /* likewise */
	PROTO_R_GRAMMAR,             /* a grammar row the parser cannot read */
	PROTO_R_COUNT
};

extern const char *const proto_reasons[PROTO_R_COUNT];

/* CREATE's options; a has_ flag says the option was given. */
struct proto_queue_opts {
	bool has_capacity;
	bool has_max_bytes;
	bool has_policy;
	bool has_lease_ms;
	bool has_storage;
	bool has_max_deliveries;
	bool has_dead_letter;
	uint64_t capacity;
	uint64_t max_bytes;
	enum proto_policy policy;
	uint64_t lease_ms; /* extension: reservations expire after this */
	bool storage_memory; /* storage=memory (else storage=disk) */
	uint64_t max_deliveries; /* 0: no limit */
	const char *dead_letter; /* a valid queue name, in the line */
};

/*
 * A parsed request.  String fields (opts.dead_letter too) point into the
 * caller's line buffer, which proto_parse_request() splits in place
 * (NUL-terminating words), so they live as long as that buffer.
 */
struct proto_request {
	enum proto_cmd cmd;
	const char *queue; /* the queue named, for the commands that name one */
	const char *token; /* AUTH; may hold NULs, so see token_len */
	size_t token_len;
	uint64_t id;	   /* ACK NACK */
	uint64_t count;    /* PEEK: 1..PROTO_PEEK_MAX; 0 when not given */
	bool has_delay;	   /* NACK: delay_ms was given */
	uint64_t delay_ms;
	bool has_timeout;  /* PUT GET RESERVE: timeout_ms was given */
	uint64_t timeout_ms;
	bool has_body;	   /* PUT: body_len bytes follow the line */
	uint64_t body_len;
	struct proto_queue_opts opts; /* CREATE */
	/* CLUSTER: its words, each NUL-terminated in the line. */
	const char *args[PROTO_ARGS_MAX];
	size_t nargs;
	const char *error; /* PROTO_BAD / PROTO_FATAL: the 400 reason, a
			    * row of proto_reasons[] */
};

/*
 * Find the first line in buf[0..len).  On PROTO_OK, *line_len is the
 * length without terminator and *consumed includes it.  PROTO_FATAL
 * when the line is (or must become) longer than PROTO_LINE_MAX.
 */
enum proto_status proto_scan_line(const char *buf, size_t len,
    size_t *line_len, size_t *consumed);

/*
 * Parse one request line (no terminator), splitting it in place.
 * PROTO_OK: req is complete.  PROTO_BAD: answer 400 req->error; if
 * req->has_body, first read and discard body_len bytes and their
 * terminator.  PROTO_FATAL: answer 400 req->error and close.
 * req->cmd is set whenever the command name was known.
 */
enum proto_status proto_parse_request(char *line, size_t len,
    struct proto_request *req);

/*
 * Check the bytes that follow a body: "\r\n" or "\n".  buf holds what
 * has arrived of them (0..2 bytes).  PROTO_OK sets *term_len to 1 or
 * 2; PROTO_FATAL when anything else stands there.
 */
enum proto_status proto_scan_body_end(const char *buf, size_t len,
    size_t *term_len);

/* A whole request located in a contiguous buffer. */
struct proto_frame {
	size_t line_len;  /* request line, without terminator */
	size_t body_off;  /* where the body starts (the line's length with
			   * its terminator) */
	size_t term_len;  /* the body's terminator: 1 or 2; 0 no body */
	size_t frame_len; /* line, body and both terminators */
};

/*
 * Step 1: frame and parse the request line at the start of buf[0..len)
 * (only the first PROTO_LINE_MAX bytes are looked at).  `scratch` (at
 * least PROTO_LINE_MAX + 1 bytes) receives the line, split in place by
 * proto_parse_request(), so req's strings point into it.  Returns
 * PROTO_NEED_MORE (no whole line yet), or the parse status, with
 * fr->line_len and fr->body_off set and fr->frame_len = fr->body_off
 * (PROTO_FATAL for a line too long sets neither; req->error always).
 */
enum proto_status proto_frame_line(const char *buf, size_t len,
    char *scratch, struct proto_request *req, struct proto_frame *fr);

/*
 * Step 2, for a request with a body: buf[0..len) holds what has
 * arrived of the bytes that follow the body (0..2 are looked at).
 * PROTO_OK sets fr->term_len and fr->frame_len (fr->body_off +
 * req->body_len + term_len); PROTO_NEED_MORE; PROTO_FATAL sets
 * req->error (the framing is lost).
 */
enum proto_status proto_frame_body_end(const char *buf, size_t len,
    struct proto_request *req, struct proto_frame *fr);

/*
 * Frame and parse the first request of buf[0..len).  `scratch` (at
 * least PROTO_LINE_MAX + 1 bytes) receives the line for parsing.
 * Returns PROTO_NEED_MORE, or the parse status with *fr filled (for
 * PROTO_BAD, frame_len covers the discarded body too).  A body whose
 * terminator is wrong makes it PROTO_FATAL.
 */
enum proto_status proto_frame_request(const char *buf, size_t len,
    char *scratch, struct proto_request *req, struct proto_frame *fr);

#endif
