/*
 * cli_take.c - pipelined GETs that adapt to the queue: a full window of
 * GETs without a wait while messages flow, one waiting GET when the
 * queue is empty.  See struct cli_take in cli.h.
 *
 * Why not a window of waiting GETs: a request that waits holds back the
 * ones behind it, so at the end of a stream every one of them would
 * wait out its timeout in turn.
 */
#include <string.h>

#include "cli.h"

/*
 * Fill the window: one waiting GET, or many that do not wait.  While
 * streaming, top up once a quarter of the window has been answered:
 * requests go out in batches, not one write per reply, and the rest of
 * the window keeps the server busy meanwhile.
 */
static int
send_gets(struct sluice_ctx *ctx, struct cli_take *t, bool streaming,
    bool draining, uint64_t *sent, uint64_t *waiting_idx)
{
	if (streaming && sluice_pending(ctx) > t->window - t->window / 4)
		return 0;
	for (;;) {
		unsigned p = sluice_pending(ctx);
		int64_t wait = streaming || draining ? 0 : t->wait_ms;

		/* Each GET in flight may still bring a message. */
		if (t->limit > 0 && t->taken + p >= t->limit)
			return 0;
		if (streaming ? p >= t->window : p > 0)
			return 0;
		if (sluice_append_get(ctx, t->queue, wait) < 0)
			return -1;
		if (!streaming)
			*waiting_idx = *sent;
		(*sent)++;
	}
}

enum sluice_result
cli_take_run(struct sluice_ctx *ctx, struct cli_take *t)
{
	enum sluice_result res, failed = SLUICE_OK;
	struct sluice_reply *r;
	bool streaming = false, stopping = false, delivering = true;
	uint64_t sent = 0, idx = 0, waiting_idx = UINT64_MAX;
	uint64_t trust_from = UINT64_MAX;

	if (t->window == 0)
		t->window = 1;
	for (;; idx++) {
		if (t->drain != NULL && trust_from == UINT64_MAX &&
		    atomic_load(t->drain))
			trust_from = sent;
		if (!stopping && send_gets(ctx, t, streaming,
				     trust_from != UINT64_MAX, &sent,
				     &waiting_idx) < 0)
			return sluice_error(ctx);
		if (sluice_pending(ctx) == 0)
			break;
		if (t->on_idle != NULL && !sluice_reply_ready(ctx))
			t->on_idle(t->arg);
		res = sluice_read_reply(ctx, &r);
		if (res == SLUICE_OK) {
			streaming = true;
			if (delivering && t->on_msg(t->arg, r) == 0) {
				t->taken++;
			} else if (delivering) {
				delivering = false;
				stopping = true;
			}
		} else if (res == SLUICE_EMPTY) {
			if (idx >= trust_from ||
			    (!t->follow && (t->wait_ms <= 0 ||
					       idx == waiting_idx)))
				stopping = true;
			else if (idx != waiting_idx)
				streaming = false;
		} else if (res < 0) {
			return res;
		} else if (failed == SLUICE_OK) {
			failed = res;
			stopping = true;
		}
		sluice_reply_free(r);
	}
	return failed;
}
