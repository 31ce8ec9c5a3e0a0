/*
 * fuzz_response.c - libFuzzer target for response parsing: what a
 * server (or anything else on the port) may send to libsluice, through
 * proto_parse_response().
 *
 * Beyond "no crash, no undefined behaviour": a parsed response lies
 * inside the input, its body does too, and each prefix of the input
 * answers PROTO_NEED_MORE or the whole input's answer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "response.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A body limit small enough that the fuzzer reaches it. */
#define FUZZ_MAX_BODY 4096

static enum proto_status
parse(const char *buf, size_t len, struct proto_response *r)
{
	enum proto_status st = proto_parse_response(buf, len, FUZZ_MAX_BODY, r);

	if (st != PROTO_OK)
		return st;
	if (r->frame_len == 0 || r->frame_len > len || r->code < 100 ||
	    r->code > 599 || r->argc < 0 || r->argc > PROTO_RESP_ARGS_MAX ||
	    r->token.s < buf || r->token.s + r->token.len > buf + len)
		abort();
	for (int i = 0; i < r->argc; i++)
		if (r->argv[i].s < buf ||
		    r->argv[i].s + r->argv[i].len > buf + len)
			abort();
	if (r->has_body &&
	    (r->body < buf || r->body_len > FUZZ_MAX_BODY ||
	        r->body + r->body_len > buf + r->frame_len))
		abort();
	return st;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct proto_response whole, part;
	enum proto_status st, pst;
	size_t off = 0;

	st = parse(buf, size, &whole);
	for (size_t k = 0; k < size; k += 1 + k / 8) {
		pst = parse(buf, k, &part);
		if (pst == PROTO_NEED_MORE)
			continue;
		if (pst != st)
			abort();
		if (st == PROTO_OK && part.frame_len != whole.frame_len)
			abort();
	}
	/* Then every response in turn, as a pipelining client reads them. */
	while (off < size && parse(buf + off, size - off, &whole) == PROTO_OK)
		off += whole.frame_len;
	return 0;
}
