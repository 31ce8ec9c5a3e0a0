/**
 * consume.js - a queue as an async iterator, on a connection of its own
 * (so the client's other commands are not held behind a waiting RESERVE,
 * and the reservations end with the loop).
 *
 * Mode 'reserve' (default, at least once).  A message the loop body did
 * not settle is ACKed when the loop asks for the next one (autoAck), and
 * given back by closing the connection when the loop ends by break,
 * return or throw.  With `prefetch` n > 1, up to n RESERVEs that do not
 * wait (`RESERVE q 0`) are in flight; only when a whole batch came back
 * empty is one waiting RESERVE sent, alone.  So an ACK is never queued
 * behind a waiting RESERVE (requests run in order on a connection, and a
 * waiting one holds back those behind it), and messages reserved ahead
 * go back to the queue when the loop ends.
 *
 * Mode 'get' (at most once): up to `prefetch` waiting GETs in flight.
 *
 * The iteration ends when the queue is closed and drained (410 CLOSED),
 * or, with `waitMs`, when nothing arrives in that time.
 */

import { encodeLine, checkNumber } from './protocol.js';
import { ClosedError, NotLeaderError } from './errors.js';
import { backoffMs, messageFrom, sleep } from './client.js';

/* How long one waiting RESERVE/GET lasts before it is sent again. */
const POLL_MS = 30000;

export async function* consume(client, queue, options = {}) {
	const mode = options.mode ?? 'reserve';
	if (mode !== 'reserve' && mode !== 'get')
		throw new RangeError(`mode must be reserve or get, got ${mode}`);
	const autoAck = options.autoAck ?? true;
	const prefetch = options.prefetch ?? 1;
	if (!(Number.isInteger(prefetch) && prefetch >= 1))
		throw new RangeError('prefetch must be an integer >= 1');
	const wait = options.waitMs;
	const t = checkNumber('waitMs', wait ?? POLL_MS);
	const cmd = mode === 'get' ? 'GET' : 'RESERVE';
	const waiting = encodeLine([cmd, queue, t]);
	const waitMs = Number(t);
	const now = encodeLine([cmd, queue, '0']);
	/* reserve mode, n > 1: batches of non-waiting RESERVEs */
	const batches = mode === 'reserve' && prefetch > 1;

	let conn = await client.openConnection();
	client.consumers.add(conn);
	let inflight = [];	/* [reply promise, waits?] in order */
	let gotInBatch = true;	/* did the last batch bring a message? */
	let acking = [];	/* autoAcks not yet known to be answered */
	let refusedSince = 0, refusals = 0;	/* NOT_LEADER in a row */
	const send = (line, ms) => {
		const p = conn.request([line], ms);
		/* Abandoned when the loop ends: not an unhandled rejection. */
		p.catch(() => {});
		inflight.push([p, ms !== 0]);
	};
	try {
		for (;;) {
			if (!batches) {
				while (inflight.length < prefetch)
					send(waiting, waitMs);
			} else if (inflight.length === 0) {
				if (gotInBatch) {
					for (let i = 0; i < prefetch; i++)
						send(now, 0);
				} else {
					send(waiting, waitMs);
				}
				gotInBatch = false;
			}
			let msg, waited;
			try {
				const [reply, w] = inflight.shift();
				waited = w;
				/* ACKs were written before the requests now in flight,
				 * so they are answered first: check them, once per
				 * batch (every message without batches). */
				if (acking.length > 0 && (!batches || inflight.length ===
				    prefetch - 1 || w)) {
					const a = acking;
					acking = [];
					await Promise.all(a);
				}
				msg = messageFrom(await reply, queue,
				    mode === 'get' ? null : conn);
			} catch (err) {
				if (err instanceof ClosedError)
					return;
				if (!(err instanceof NotLeaderError) || !client.followLeader)
					throw err;
				/* Reconnect to the leader (reservations end with conn),
				 * for retryTimeoutMs from the first refusal. */
				client.consumers.delete(conn);
				conn.destroy('redirected to the leader');
				inflight = [];
				acking = [];
				gotInBatch = true;
				if (refusedSince === 0)
					refusedSince = Date.now();
				refusals++;
				const pause = backoffMs(refusals, err.leader !== null,
				    client.servers.length);
				if (Date.now() + pause - refusedSince >= client.retryTimeoutMs)
					throw err;
				client.follow(err.leader);
				if (pause > 0)
					await sleep(pause);
				conn = await client.openConnection();
				client.consumers.add(conn);
				continue;
			}
			refusedSince = 0;
			refusals = 0;
			if (msg === null) {
				/* Only a waiting request's EMPTY means "nothing came". */
				if (waited && wait !== undefined)
					return;
				continue;
			}
			gotInBatch = true;
			yield msg;
			/* The ACK goes out with the next requests. */
			if (autoAck && !msg.settled) {
				const a = msg.ack();
				a.catch(() => {});
				acking.push(a);
			}
		}
	} finally {
		/* Let the last ACKs be answered (they wait behind nothing)
		 * before closing gives back what is still reserved. */
		await Promise.allSettled(acking);
		client.consumers.delete(conn);
		conn.destroy('consumer finished');
	}
}
