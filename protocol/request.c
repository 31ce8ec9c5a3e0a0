/*
 * request.c - framing and parsing of request lines.  See request.h.
 *
 * Invariant: every function here looks only at the bytes it is given
 * and keeps no state, so "more input" is simply a longer buffer.
 */
#include <string.h>

#include "request.h"

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
bad(struct proto_request *req, const char *why)
{
	req->error = why;
	return PROTO_BAD;
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
		return bad(req, "option without a value");
	klen = (size_t)(eq - w->s);
	val = eq + 1;
	vlen = w->len - klen - 1;
	if (klen == 8 && memcmp(w->s, "capacity", 8) == 0)
		seen = &o->has_capacity, num = &o->capacity;
	else if (klen == 9 && memcmp(w->s, "max_bytes", 9) == 0)
		seen = &o->has_max_bytes, num = &o->max_bytes;
	else if (klen == 8 && memcmp(w->s, "lease_ms", 8) == 0)
		seen = &o->has_lease_ms, num = &o->lease_ms;
	else if (klen == 6 && memcmp(w->s, "policy", 6) == 0)
		seen = &o->has_policy;
	else
		return bad(req, "unknown option");
	if (*seen)
		return bad(req, "repeated option");
	*seen = true;
	if (num != NULL) {
		if (!proto_parse_number(val, vlen, num))
			return bad(req, "bad option value");
	} else {
		int p = proto_policy_parse(val, vlen);
		if (p < 0)
			return bad(req, "unknown policy");
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
			return bad(req, "bad queue name");
		req->queue = w->s;
		return PROTO_OK;
	case 'b':
		return PROTO_OK; /* checked before anything else */
	case 'T':
		if (!proto_parse_number(w->s, w->len, &req->timeout_ms))
			return bad(req, "bad timeout");
		req->has_timeout = true;
		return PROTO_OK;
	case 'i':
		if (!proto_parse_number(w->s, w->len, &req->id))
			return bad(req, "bad message id");
		return PROTO_OK;
	case 't':
		req->token = w->s;
		req->token_len = w->len;
		return PROTO_OK;
	case 'o':
		return parse_option(req, w);
	}
	return bad(req, "internal grammar error");
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
		return bad(req, "empty line");
	cmd = proto_cmd_lookup(w[0].s, w[0].len);
	if (cmd < 0)
		return bad(req, "unknown command");
	req->cmd = (enum proto_cmd)cmd;
	ci = &proto_cmds[cmd];
	argc = n - 1;

	/*
	 * The body length frames the stream, so it is judged first: once
	 * it is known, any other fault costs only this request.
	 */
	if (ci->flags & PROTO_F_BODY) {
		if (argc < 2) {
			req->error = "missing body length";
			return PROTO_FATAL;
		}
		if (!proto_parse_number(w[2].s, w[2].len, &req->body_len)) {
			req->error = "bad body length";
			return PROTO_FATAL;
		}
		req->has_body = true;
	}
	if (argc < (size_t)ci->min_args || argc > (size_t)ci->max_args ||
	    n > PROTO_WORDS_MAX)
		return bad(req, "wrong number of arguments");
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
proto_frame_request(const char *buf, size_t len, char *scratch,
    struct proto_request *req, struct proto_frame *fr)
{
	enum proto_status st, end;
	size_t consumed, term, avail;

	memset(req, 0, sizeof *req);
	st = proto_scan_line(buf, len, &fr->line_len, &consumed);
	if (st == PROTO_FATAL)
		req->error = "line too long";
	if (st != PROTO_OK)
		return st;
	memcpy(scratch, buf, fr->line_len);
	st = proto_parse_request(scratch, fr->line_len, req);
	fr->body_off = consumed;
	fr->frame_len = consumed;
	if (st == PROTO_FATAL || !req->has_body)
		return st;
	avail = len - consumed;
	if (avail < req->body_len)
		return PROTO_NEED_MORE;
	end = proto_scan_body_end(buf + consumed + req->body_len,
	    avail - req->body_len, &term);
	if (end == PROTO_NEED_MORE)
		return end;
	if (end == PROTO_FATAL) {
		req->error = "body not followed by a line terminator";
		return PROTO_FATAL;
	}
	fr->frame_len = consumed + req->body_len + term;
	return st;
}
