/*
 * cli_take.c - pipelined GETs that adapt to the queue.  See struct
 * cli_take in cli.h.  Three modes:
 *
 *   IDLE     one GET waiting wait_ms: the queue is empty, and an idle
 *            consumer costs one request per wait_ms.
 *   DEEP     a window of GETs that do not wait: messages are ready,
 *            and the window keeps the link full.
 *   SHALLOW  a window of GETs that wait up to CLI_SHALLOW_WAIT_MS
 *            each: the messages come as fast as they are taken, but
 *            the queue holds (next to) none, as behind a capacity-1
 *            queue or a producer slower than the consumer.  GETs that
 *            do not wait would find it empty between two PUTs, and one
 *            waiting GET at a time would cost a round trip per message;
 *            a waiting GET in the server takes each message as it is
 *            put (sluice bench --capacity 1: 8x the messages per
 *            second of the other two).
 *
 * A message moves IDLE to DEEP; an empty answer to a GET that did not
 * wait, DEEP to SHALLOW; an empty answer to a SHALLOW GET (no message
 * within its short wait: the stream paused), SHALLOW to IDLE; and an
 * empty answer in IDLE ends the run unless it follows the queue.
 *
 * Why not a window of GETs that wait wait_ms: a request that waits
 * holds back the ones behind it, so at the end of a stream every one of
 * them would wait out its timeout in turn.  SHALLOW's waits are short,
 * and its window starts at one GET and doubles with each message, so a
 * queue that has merely run dry costs one short wait; the tail after a
 * stream that stops in full flow is about window x CLI_SHALLOW_WAIT_MS
 * (plus the server's timer granularity), and a caller that knows that
 * nothing more can come (t->finished) ends the run at once.
 */
#include <poll.h>
#include <string.h>

#include "cli.h"

/*
 * How long a SHALLOW GET waits: long enough for the next PUT to arrive
 * on a busy machine, short enough that the tail of a stream is a
 * fraction of a second.
 */
#define CLI_SHALLOW_WAIT_MS 2

enum take_mode {
	TAKE_IDLE,
	TAKE_DEEP,
	TAKE_SHALLOW,
};

/* The state of one cli_take_run(). */
struct take_run {
	enum take_mode mode;
	uint64_t sent;		/* GETs appended */
	uint64_t mode_from;	/* the first GET sent in this mode */
	uint64_t trust_from;	/* the first GET sent after drain was seen */
	unsigned shallow;	/* SHALLOW's window, grown per message */
};

/* Enter a mode: GETs from the next one sent on are of its kind. */
static void
set_mode(struct take_run *tr, enum take_mode mode)
{
	tr->mode = mode;
	tr->mode_from = tr->sent;
	tr->shallow = 1;
}

/* The GETs in flight the mode allows, and how long each waits. */
static unsigned
mode_window(const struct cli_take *t, const struct take_run *tr)
{
	switch (tr->mode) {
	case TAKE_DEEP:
		return t->window;
	case TAKE_SHALLOW:
		return tr->shallow;
	default:
		return 1;
	}
}

static int64_t
mode_wait(const struct cli_take *t, const struct take_run *tr)
{
	if (tr->trust_from != UINT64_MAX || tr->mode == TAKE_DEEP)
		return 0;
	if (tr->mode == TAKE_SHALLOW && t->wait_ms > CLI_SHALLOW_WAIT_MS)
		return CLI_SHALLOW_WAIT_MS;
	return t->wait_ms;
}

/*
 * Fill the window the mode allows.  While streaming, top up once a
 * quarter of it has been answered: requests go out in batches, not one
 * write per reply, and the rest keeps the server busy meanwhile.
 */
static int
send_gets(struct sluice_ctx *ctx, struct cli_take *t, struct take_run *tr)
{
	unsigned window = mode_window(t, tr);
	int64_t wait = mode_wait(t, tr);

	if (window > 1 && sluice_pending(ctx) > window - window / 4)
		return 0;
	for (;;) {
		unsigned p = sluice_pending(ctx);

		/* Each GET in flight may still bring a message. */
		if (t->limit > 0 && t->taken + p >= t->limit)
			return 0;
		if (p >= window)
			return 0;
		if (sluice_append_get(ctx, t->queue, wait) < 0)
			return -1;
		tr->sent++;
	}
}

/* One run of GETs on one connection; see cli_take_run(). */
static enum sluice_result
take_once(struct sluice_ctx *ctx, struct cli_take *t)
{
	enum sluice_result res, failed = SLUICE_OK;
	struct sluice_reply *r;
	bool stopping = false, delivering = true;
	struct take_run tr = { TAKE_IDLE, 0, 0, UINT64_MAX, 1 };
	uint64_t idx;

	if (t->window == 0)
		t->window = 1;
	for (idx = 0;; idx++) {
		if (t->drain != NULL && tr.trust_from == UINT64_MAX &&
		    atomic_load(t->drain))
			tr.trust_from = tr.sent;
		if (t->finished != NULL && t->finished(t->arg))
			break;
		if (!stopping && send_gets(ctx, t, &tr) < 0)
			return sluice_error(ctx);
		if (sluice_pending(ctx) == 0)
			break;
		if (t->on_idle != NULL && !sluice_reply_ready(ctx))
			t->on_idle(t->arg);
		res = sluice_read_reply(ctx, &r);
		if (res == SLUICE_OK) {
			if (tr.mode == TAKE_IDLE)
				set_mode(&tr, TAKE_DEEP);
			else if (tr.mode == TAKE_SHALLOW)
				tr.shallow = tr.shallow < t->window / 2
				    ? tr.shallow * 2
				    : t->window;
			if (delivering && t->on_msg(t->arg, r) == 0) {
				t->taken++;
			} else if (delivering) {
				delivering = false;
				stopping = true;
			}
		} else if (res == SLUICE_EMPTY) {
			/* Which GET came back: one of this mode's, or one
			 * sent before it began. */
			bool current = idx >= tr.mode_from;

			if (idx >= tr.trust_from ||
			    (!t->follow &&
			        (t->wait_ms <= 0 ||
			            (current && tr.mode == TAKE_IDLE))))
				stopping = true;
			else if (current && tr.mode == TAKE_DEEP)
				set_mode(&tr, TAKE_SHALLOW);
			else if (current && tr.mode == TAKE_SHALLOW)
				set_mode(&tr, TAKE_IDLE);
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

enum sluice_result
cli_take_run(struct sluice_ctx *ctx, struct cli_take *t)
{
	enum sluice_result r;
	uint64_t since = 0;
	unsigned tries = 0;

	/*
	 * A server that is not the leader took nothing (every reply is in
	 * once take_once() returns): go on at the leader, pausing a little
	 * longer each time while the group has none, up to the failover
	 * time.
	 */
	while ((r = take_once(ctx, t)) == SLUICE_NOT_LEADER) {
		if (since == 0)
			since = cli_now_ms();
		if (cli_now_ms() - since > SLUICE_DEFAULT_FAILOVER_MS)
			break;
		if (tries > 0)
			(void)poll(NULL, 0, tries > 5 ? 500 : 10 << tries);
		tries++;
		if ((r = sluice_reconnect(ctx)) != SLUICE_OK)
			break;
	}
	return r;
}
