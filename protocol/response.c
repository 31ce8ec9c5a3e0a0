/*
 * response.c - response lines: formatting for the server, parsing for
 * clients.  See response.h.
 */
#include <string.h>

#include "request.h"
#include "response.h"

/* Append n bytes of src at *p if they fit before end. */
static bool
put(char **p, const char *end, const char *src, size_t n)
{
	if ((size_t)(end - *p) < n)
		return false;
	memcpy(*p, src, n);
	*p += n;
	return true;
}

size_t
proto_write_status(char *buf, size_t size, int code, const char *token,
    const char *arg)
{
	char *p = buf, *end = buf + size;
	char digits[3] = { (char)('0' + code / 100 % 10),
		(char)('0' + code / 10 % 10), (char)('0' + code % 10) };

	if (!put(&p, end, digits, 3) || !put(&p, end, " ", 1) ||
	    !put(&p, end, token, strlen(token)))
		return 0;
	if (arg != NULL &&
	    (!put(&p, end, " ", 1) || !put(&p, end, arg, strlen(arg))))
		return 0;
	if (!put(&p, end, "\r\n\0", 3))
		return 0;
	return (size_t)(p - buf) - 1;
}

size_t
proto_write_msg(char *buf, size_t size, uint64_t id, size_t len)
{
	char num[PROTO_U64_DIGITS];
	char *p = buf, *end = buf + size;
	size_t n;

	if (!put(&p, end, "200 MSG ", 8))
		return 0;
	n = proto_format_u64(num, id);
	if (!put(&p, end, num, n) || !put(&p, end, " ", 1))
		return 0;
	n = proto_format_u64(num, len);
	if (!put(&p, end, num, n) || !put(&p, end, "\r\n\0", 3))
		return 0;
	return (size_t)(p - buf) - 1;
}

bool
proto_word_number(const struct proto_word *w, uint64_t *out)
{
	return proto_parse_number(w->s, w->len, out);
}

bool
proto_word_is(const struct proto_word *w, const char *s)
{
	return strlen(s) == w->len && memcmp(w->s, s, w->len) == 0;
}

/* Split the status line into code, token, arguments and hints. */
static enum proto_status
parse_status_line(const char *line, size_t len, struct proto_response *r)
{
	size_t i = 0;
	int nword = 0;

	while (i < len) {
		while (i < len && line[i] == ' ')
			i++;
		if (i == len)
			break;
		struct proto_word w = { line + i, 0 };
		while (i < len && line[i] != ' ')
			i++;
		w.len = (size_t)(line + i - w.s);
		if (nword == 0) {
			if (w.len != 3 || w.s[0] < '1' || w.s[0] > '5' ||
			    w.s[1] < '0' || w.s[1] > '9' || w.s[2] < '0' ||
			    w.s[2] > '9')
				return PROTO_FATAL;
			r->code = (w.s[0] - '0') * 100 + (w.s[1] - '0') * 10 +
			    (w.s[2] - '0');
		} else if (nword == 1) {
			r->token = w;
		} else if (memchr(w.s, '=', w.len) != NULL) {
			static const char key[] = "retry_after_ms=";
			size_t k = sizeof key - 1;
			if (w.len > k && memcmp(w.s, key, k) == 0 &&
			    proto_parse_number(w.s + k, w.len - k,
				&r->retry_after_ms))
				r->has_retry_after = true;
		} else if (r->argc < PROTO_RESP_ARGS_MAX) {
			r->argv[r->argc++] = w;
		}
		nword++;
	}
	return nword >= 2 ? PROTO_OK : PROTO_FATAL;
}

enum proto_status
proto_parse_response(const char *buf, size_t len, size_t max_body,
    struct proto_response *r)
{
	size_t look = len < PROTO_RESP_LINE_MAX ? len : PROTO_RESP_LINE_MAX;
	/* memchr may not be given NULL, even for no bytes. */
	const char *nl = look ? memchr(buf, '\n', look) : NULL;
	size_t line_len, consumed, term;
	uint64_t body_len;
	enum proto_status st;

	memset(r, 0, sizeof *r);
	if (nl == NULL)
		return len >= PROTO_RESP_LINE_MAX ? PROTO_FATAL
						  : PROTO_NEED_MORE;
	consumed = (size_t)(nl - buf) + 1;
	line_len = consumed - 1;
	if (line_len > 0 && buf[line_len - 1] == '\r')
		line_len--;
	st = parse_status_line(buf, line_len, r);
	if (st != PROTO_OK)
		return st;
	r->frame_len = consumed;
	if (!proto_word_is(&r->token, "MSG") &&
	    !proto_word_is(&r->token, "JSON"))
		return PROTO_OK;
	if (r->argc < 1 ||
	    !proto_word_number(&r->argv[r->argc - 1], &body_len) ||
	    body_len > max_body)
		return PROTO_FATAL;
	if (len - consumed < body_len)
		return PROTO_NEED_MORE;
	st = proto_scan_body_end(buf + consumed + body_len,
	    len - consumed - body_len, &term);
	if (st != PROTO_OK)
		return st;
	r->has_body = true;
	r->body = buf + consumed;
	r->body_len = (size_t)body_len;
	r->frame_len = consumed + (size_t)body_len + term;
	return PROTO_OK;
}
