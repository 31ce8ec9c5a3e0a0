/*
 * fuzz_request.c - libFuzzer target for request framing: the bytes a
 * client may send, through proto_frame_request() (which composes
 * proto_scan_line(), proto_parse_request() and proto_scan_body_end()).
 *
 * Beyond "no crash, no undefined behaviour": every frame lies inside
 * the input, and the promise of request.h holds, that input split at
 * any byte frames exactly as input that arrives whole: each prefix of
 * a frame answers PROTO_NEED_MORE or the whole input's answer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Frame the first request of buf[0..len). */
static enum proto_status
frame(const char *buf, size_t len, struct proto_frame *fr)
{
	static char scratch[PROTO_LINE_MAX + 1];
	struct proto_request req;
	enum proto_status st;

	memset(fr, 0, sizeof *fr);
	st = proto_frame_request(buf, len, scratch, &req, fr);
	if (st == PROTO_OK || st == PROTO_BAD) {
		if (fr->frame_len == 0 || fr->frame_len > len ||
		    fr->line_len >= fr->body_off ||
		    fr->body_off > fr->frame_len)
			abort();
		if (st == PROTO_OK && req.has_body &&
		    fr->body_off + req.body_len > fr->frame_len)
			abort();
	}
	if ((st == PROTO_BAD || st == PROTO_FATAL) && req.error == NULL)
		abort();
	return st;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct proto_frame whole, part;
	enum proto_status st, pst;
	size_t off = 0;

	/* The first frame, whole and split. */
	st = frame(buf, size, &whole);
	for (size_t k = 0; k < size; k += 1 + k / 8) {
		pst = frame(buf, k, &part);
		if (pst == PROTO_NEED_MORE)
			continue;
		if (pst != st)
			abort();
		if (st != PROTO_FATAL && part.frame_len != whole.frame_len)
			abort();
	}
	/* Then every request in turn, as a pipelining client sends them. */
	while (off < size) {
		st = frame(buf + off, size - off, &whole);
		if (st == PROTO_NEED_MORE || st == PROTO_FATAL)
			break;
		off += whole.frame_len;
	}
	return 0;
}
