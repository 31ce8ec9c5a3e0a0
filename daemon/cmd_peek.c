/*
 * cmd_peek.c - PEEK <q> [<n>], sluiced's extension: the first n ready
 * messages of a queue, in the order GET would take them, without
 * taking them.
 *
 * It only reads: no message is removed, reserved or counted as
 * delivered, no waiter is woken, and no queue is created, so order,
 * reservations and backpressure are as if it had never come.  The
 * answer is 200 JSON, the one answer form besides MSG that carries a
 * body, so a client written from the contract frames it already:
 *
 *   {"queue":"jobs","depth":3,"messages":[
 *     {"id":1,"bytes":5,"body_base64":"aGVsbG8="}, ...]}
 *
 * Bodies are base64 (they are binary).  The answer is bounded: at
 * most PROTO_PEEK_MAX messages, each body cut at PEEK_BODY_MAX bytes
 * ("cut":true; "bytes" is the whole length), and no more messages once
 * PEEK_TOTAL_MAX body bytes are in.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "queue.h"

/* The most of one body a PEEK shows. */
#define PEEK_BODY_MAX (64 * 1024)
/* The most body bytes one PEEK answer holds (before base64). */
#define PEEK_TOTAL_MAX (1024 * 1024)

struct peek {
	json_t *messages;
	uint64_t left; /* messages still wanted */
	size_t budget; /* body bytes still allowed */
	bool failed;   /* out of memory */
};

/* len bytes as base64 (RFC 4648, padded), NUL-terminated; NULL: no
 * memory. */
static char *
base64(const unsigned char *s, size_t len)
{
	static const char abc[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)s[i + 1] << 8;
		if (i + 2 < len)
			v |= s[i + 2];
		*o++ = abc[v >> 18 & 63];
		*o++ = abc[v >> 12 & 63];
		*o++ = i + 1 < len ? abc[v >> 6 & 63] : '=';
		*o++ = i + 2 < len ? abc[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

static bool
peek_one(void *arg, const struct queue_item *it)
{
	struct peek *p = arg;
	size_t shown = it->len < PEEK_BODY_MAX ? it->len : PEEK_BODY_MAX;
	json_t *m;
	char *b64;

	/* The first message always goes in (cut), the others only
	 * while the budget holds. */
	if (p->left == 0 ||
	    (json_array_size(p->messages) > 0 && shown > p->budget))
		return false;
	if ((b64 = base64((const unsigned char *)it->body, shown)) == NULL) {
		p->failed = true;
		return false;
	}
	m = json_pack("{s:I, s:I, s:s}", "id", (json_int_t)it->id, "bytes",
	    (json_int_t)it->len, "body_base64", b64);
	free(b64);
	if (m != NULL && shown < it->len)
		json_object_set_new(m, "cut", json_true());
	if (m == NULL || json_array_append_new(p->messages, m) != 0) {
		p->failed = true;
		return false;
	}
	p->left--;
	p->budget -= shown < p->budget ? shown : p->budget;
	return true;
}

enum cmd_result
cmd_peek(struct conn *c, const struct proto_request *r)
{
	struct queue *q = cmd_find_queue(c->server, r->queue, false);
	struct peek p = { json_array(), r->count > 0 ? r->count : 1,
		PEEK_TOTAL_MAX, false };
	json_t *j;
	char *text = NULL;
	size_t len;

	if (q == NULL) {
		json_decref(p.messages);
		conn_reply(c, 404, "NO_QUEUE", r->queue);
		return CMD_DONE;
	}
	if (p.messages != NULL)
		queue_walk(q, peek_one, &p);
	j = json_pack("{s:s, s:I, s:o}", "queue", q->name, "depth",
	    (json_int_t)queue_depth(q), "messages", p.messages);
	if (j != NULL && !p.failed)
		text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (text == NULL) {
		conn_reply(c, 500, "INTERNAL", "out of memory");
		return CMD_DONE;
	}
	len = strlen(text);
	evbuffer_add_printf(c->out, "200 JSON %zu\r\n", len);
	evbuffer_add(c->out, text, len);
	evbuffer_add(c->out, "\r\n", 2);
	free(text);
	return CMD_DONE;
}
