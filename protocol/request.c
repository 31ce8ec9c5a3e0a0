/*
 * request.c - framing and parsing of request lines.  See request.h.
 *
 * Invariant: every function here looks only at the bytes it is given
 * and keeps no state, so "more input" is simply a longer buffer.
 */
#include <string.h>

#include "request.h"

const char *const proto_reasons[PROTO_R_COUNT] = {
	[PROTO_R_LINE_TOO_LONG] = "line too long",
	[PROTO_R_EMPTY_LINE] = "empty line",
	[PROTO_R_UNKNOWN_COMMAND] = "unknown command",
	[PROTO_R_MISSING_BODY_LENGTH] = "missing body length",
	[PROTO_R_BAD_BODY_LENGTH] = "bad body length",
	[PROTO_R_WRONG_ARG_COUNT] = "wrong number of arguments",
	[PROTO_R_BAD_QUEUE_NAME] = "bad queue name",
	[PROTO_R_BAD_TIMEOUT] = "bad timeout",
	[PROTO_R_BAD_MESSAGE_ID] = "bad message id",
	[PROTO_R_BAD_DELAY] = "bad delay",
	[PROTO_R_OPTION_WITHOUT_VALUE] = "option without a value",
	[PROTO_R_UNKNOWN_OPTION] = "unknown option",
	[PROTO_R_REPEATED_OPTION] = "repeated option",
	[PROTO_R_BAD_OPTION_VALUE] = "bad option value",
	[PROTO_R_UNKNOWN_POLICY] = "unknown policy",
	[PROTO_R_BAD_DEAD_LETTER] = "bad dead_letter queue name",
	[PROTO_R_BAD_BODY_END] = "body not followed by a line terminator",
	[PROTO_R_BAD_COUNT] = "bad count: 1 to 100",
	[PROTO_R_DROP_NEEDS_CAPACITY] =
	    "drop policies need a capacity of at least 1",
	[PROTO_R_SELF_DEAD_LETTER] = "a queue cannot be its own dead_letter",
	[PROTO_R_GRAMMAR] = "internal grammar error",
};

/* A word of the request line, split in place. */
struct word {
	char *s;
	size_t len;
};

enum proto_status
proto_scan_line(const char *buf, size_t len, size_t *line_len,
    size_t *consumed)
{
	size_t look = len < PROTO_LINE_MAX ? len : PROTO_LINE_MAX;
	const char *nl = look ? memchr(buf, '\n', look) : NULL;

	if (nl == NULL)
		return len >= PROTO_LINE_MAX ? PROTO_FATAL : PROTO_NEED_MORE;
	*consumed = (size_t)(nl - buf) + 1;
	*line_len = (size_t)(nl - buf);
	if (*line_len > 0 && buf[*line_len - 1] == '\r')
		(*line_len)--;
	return PROTO_OK;
}

enum proto_status
proto_scan_body_end(const char *buf, size_t len, size_t *term_len)
{
	if (len == 0)
		return PROTO_NEED_MORE;
	if (buf[0] == '\n') {
		*term_len = 1;
		return PROTO_OK;
	}
	if (buf[0] != '\r')
		return PROTO_FATAL;
	if (len == 1)
		return PROTO_NEED_MORE;
	if (buf[1] != '\n')
		return PROTO_FATAL;
	*term_len = 2;
	return PROTO_OK;
}

/*
 * Split line into words at runs of spaces, NUL-terminating each.
 * Returns the number of words, which may exceed max (only max kept).
 */
static size_t
split_words(char *line, size_t len, struct word *w, size_t max)
{
	size_t n = 0, i = 0;

	while (i < len) {
		while (i < len && line[i] == ' ')
			line[i++] = '\0';
		if (i == len)
			break;
		size_t start = i;
		const char *sp = memchr(line + i, ' ', len - i);
		i = sp ? (size_t)(sp - line) : len;
		if (n < max) {
			w[n].s = line + start;
			w[n].len = i - start;
		}
		n++;
	}
	line[len] = '\0';
	return n;
}

static enum proto_status
refuse(struct proto_request *req, enum proto_reason why,
    enum proto_status st)
{
	req->error = proto_reasons[why];
	return st;
}

static enum proto_status
bad(struct proto_request *req, enum proto_reason why)
{
	return refuse(req, why, PROTO_BAD);
}

/* Parse one CREATE option "key=value" into req->opts. */
static enum proto_status
parse_option(struct proto_request *req, const struct word *w)
{
	struct proto_queue_opts *o = &req->opts;
	const char *eq = memchr(w->s, '=', w->len);
	const char *val;
	size_t klen, vlen;
	bool *seen;
	uint64_t *num = NULL;

	if (eq == NULL)
		return bad(req, PROTO_R_OPTION_WITHOUT_VALUE);
	klen = (size_t)(eq - w->s);
	val = eq + 1;
	vlen = w->len - klen - 1;
	if (klen == 8 && memcmp(w->s, "capacity", 8) == 0)
		seen = &o->has_capacity, num = &o->capacity;
	else if (klen == 9 && memcmp(w->s, "max_bytes", 9) == 0)
		seen = &o->has_max_bytes, num = &o->max_bytes;
	else if (klen == 8 && memcmp(w->s, "lease_ms", 8) == 0)
		seen = &o->has_lease_ms, num = &o->lease_ms;
	else if (klen == 14 && memcmp(w->s, "max_deliveries", 14) == 0)
		seen = &o->has_max_deliveries, num = &o->max_deliveries;
	else if (klen == 6 && memcmp(w->s, "policy", 6) == 0)
		seen = &o->has_policy;
	else if (klen == 7 && memcmp(w->s, "storage", 7) == 0)
		seen = &o->has_storage;
	else if (klen == 11 && memcmp(w->s, "dead_letter", 11) == 0)
		seen = &o->has_dead_letter;
	else
		return bad(req, PROTO_R_UNKNOWN_OPTION);
	if (*seen)
		return bad(req, PROTO_R_REPEATED_OPTION);
	*seen = true;
	if (num != NULL) {
		if (!proto_parse_number(val, vlen, num))
			return bad(req, PROTO_R_BAD_OPTION_VALUE);
	} else if (seen == &o->has_storage) {
		if (vlen == 4 && memcmp(val, "disk", 4) == 0)
			o->storage_memory = false;
		else if (vlen == 6 && memcmp(val, "memory", 6) == 0)
			o->storage_memory = true;
		else
			return bad(req, PROTO_R_BAD_OPTION_VALUE);
	} else if (seen == &o->has_dead_letter) {
		if (!proto_valid_queue_name(val, vlen))
			return bad(req, PROTO_R_BAD_DEAD_LETTER);
		o->dead_letter = val;
	} else {
		int p = proto_policy_parse(val, vlen);
		if (p < 0)
			return bad(req, PROTO_R_UNKNOWN_POLICY);
		o->policy = (enum proto_policy)p;
	}
	return PROTO_OK;
}

/* Check and store argument i (of kind `kind`) of the request. */
static enum proto_status
parse_arg(struct proto_request *req, char kind, const struct word *w)
{
	switch (kind) {
	case 'q':
		if (!proto_valid_queue_name(w->s, w->len))
			return bad(req, PROTO_R_BAD_QUEUE_NAME);
		req->queue = w->s;
		return PROTO_OK;
	case 'b':
		return PROTO_OK; /* checked before anything else */
	case 'T':
		if (!proto_parse_number(w->s, w->len, &req->timeout_ms))
			return bad(req, PROTO_R_BAD_TIMEOUT);
		req->has_timeout = true;
		return PROTO_OK;
	case 'i':
		if (!proto_parse_number(w->s, w->len, &req->id))
			return bad(req, PROTO_R_BAD_MESSAGE_ID);
		return PROTO_OK;
	case 'n':
		if (!proto_parse_number(w->s, w->len, &req->count) ||
		    req->count < 1 || req->count > PROTO_PEEK_MAX)
			return bad(req, PROTO_R_BAD_COUNT);
		return PROTO_OK;
	case 'd':
		if (!proto_parse_number(w->s, w->len, &req->delay_ms))
			return bad(req, PROTO_R_BAD_DELAY);
		req->has_delay = true;
		return PROTO_OK;
	case 't':
		req->token = w->s;
		req->token_len = w->len;
		return PROTO_OK;
	case 'o':
		return parse_option(req, w);
	case 'w':
		if (req->nargs == PROTO_ARGS_MAX)
			return bad(req, PROTO_R_WRONG_ARG_COUNT);
		req->args[req->nargs++] = w->s;
		return PROTO_OK;
	}
	return bad(req, PROTO_R_GRAMMAR);
}

enum proto_status
proto_parse_request(char *line, size_t len, struct proto_request *req)
{
	struct word w[PROTO_WORDS_MAX];
	const struct proto_cmd_info *ci;
	size_t n, argc;
	int cmd;

	memset(req, 0, sizeof *req);
	n = split_words(line, len, w, PROTO_WORDS_MAX);
	if (n == 0)
		return bad(req, PROTO_R_EMPTY_LINE);
	cmd = proto_cmd_lookup(w[0].s, w[0].len);
	if (cmd < 0)
		return bad(req, PROTO_R_UNKNOWN_COMMAND);
	req->cmd = (enum proto_cmd)cmd;
	ci = &proto_cmds[cmd];
	argc = n - 1;

	/*
	 * The body length frames the stream, so it is judged first: once
	 * it is known, any other fault costs only this request.
	 */
	if (ci->flags & PROTO_F_BODY) {
		if (argc < 2)
			return refuse(req, PROTO_R_MISSING_BODY_LENGTH,
			    PROTO_FATAL);
		if (!proto_parse_number(w[2].s, w[2].len, &req->body_len))
			return refuse(req, PROTO_R_BAD_BODY_LENGTH,
			    PROTO_FATAL);
		req->has_body = true;
	}
	if (argc < (size_t)ci->min_args || argc > (size_t)ci->max_args ||
	    n > PROTO_WORDS_MAX)
		return bad(req, PROTO_R_WRONG_ARG_COUNT);
	size_t k = strlen(ci->args);
	for (size_t i = 0; i < argc; i++) {
		char kind = ci->args[i < k ? i : k - 1];
		enum proto_status st = parse_arg(req, kind, &w[i + 1]);
		if (st != PROTO_OK)
			return st;
	}
	return PROTO_OK;
}

enum proto_status
proto_frame_line(const char *buf, size_t len, char *scratch,
    struct proto_request *req, struct proto_frame *fr)
{
	enum proto_status st;
	size_t consumed;

	st = proto_scan_line(buf, len, &fr->line_len, &consumed);
	if (st == PROTO_FATAL) {
		memset(req, 0, sizeof *req);
		return refuse(req, PROTO_R_LINE_TOO_LONG, PROTO_FATAL);
	}
	if (st != PROTO_OK)
		return st;
	memcpy(scratch, buf, fr->line_len);
	fr->body_off = consumed;
	fr->frame_len = consumed;
	fr->term_len = 0;
	return proto_parse_request(scratch, fr->line_len, req);
}

enum proto_status
proto_frame_body_end(const char *buf, size_t len,
    struct proto_request *req, struct proto_frame *fr)
{
	enum proto_status st;

	st = proto_scan_body_end(buf, len < 2 ? len : 2, &fr->term_len);
	if (st == PROTO_FATAL)
		return refuse(req, PROTO_R_BAD_BODY_END, PROTO_FATAL);
	if (st == PROTO_OK)
		fr->frame_len = fr->body_off + req->body_len + fr->term_len;
	return st;
}

enum proto_status
proto_frame_request(const char *buf, size_t len, char *scratch,
    struct proto_request *req, struct proto_frame *fr)
{
	enum proto_status st, end;
	size_t avail;

	memset(req, 0, sizeof *req);
	st = proto_frame_line(buf, len, scratch, req, fr);
	if (st == PROTO_NEED_MORE || st == PROTO_FATAL || !req->has_body)
		return st;
	avail = len - fr->body_off;
	if (avail < req->body_len)
		return PROTO_NEED_MORE;
	end = proto_frame_body_end(buf + fr->body_off + req->body_len,
	    avail - req->body_len, req, fr);
	return end == PROTO_OK ? st : end;
}
