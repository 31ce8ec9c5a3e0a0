/**
 * consume.js - a queue as an async iterator, on a connection of its own
 * (so the client's other commands are not held behind a waiting RESERVE,
 * and the reservations end with the loop).
 *
 * Mode 'reserve' (default, at least once): one RESERVE at a time; a
 * message the loop body did not settle is ACKed when the loop asks for
 * the next one (autoAck), and given back by closing the connection when
 * the loop ends by break, return or throw.  Mode 'get' (at most once):
 * up to `prefetch` GETs in flight.  The iteration ends when the queue is
 * closed and drained (410 CLOSED), or, with `waitMs`, when nothing
 * arrives in that time.
 */

import { encodeLine, checkNumber } from './protocol.js';
import { ClosedError, NotLeaderError } from './errors.js';
import { messageFrom, parseServer } from './client.js';

/* How long one waiting RESERVE/GET lasts before it is sent again. */
const POLL_MS = 30000;

export async function* consume(client, queue, options = {}) {
	const mode = options.mode ?? 'reserve';
	if (mode !== 'reserve' && mode !== 'get')
		throw new RangeError(`mode must be reserve or get, got ${mode}`);
	const autoAck = options.autoAck ?? true;
	const prefetch = mode === 'get' ? options.prefetch ?? 1 : 1;
	if (!(Number.isInteger(prefetch) && prefetch >= 1))
		throw new RangeError('prefetch must be an integer >= 1');
	const wait = options.waitMs;
	const t = checkNumber('waitMs', wait ?? POLL_MS);
	const line = encodeLine([mode === 'get' ? 'GET' : 'RESERVE', queue, t]);
	const waitMs = Number(t);

	let conn = await client.openConnection();
	client.consumers.add(conn);
	const inflight = [];
	let acking = null;	/* the autoAck of the previous message */
	try {
		for (;;) {
			while (inflight.length < prefetch) {
				const p = conn.request([line], waitMs);
				/* Abandoned when the loop ends: not an unhandled rejection. */
				p.catch(() => {});
				inflight.push(p);
			}
			let msg;
			try {
				const reply = inflight.shift();
				if (acking !== null) {
					const a = acking;
					acking = null;
					await a;
				}
				msg = messageFrom(await reply, queue,
				    mode === 'get' ? null : conn);
			} catch (err) {
				if (err instanceof ClosedError)
					return;
				if (!(err instanceof NotLeaderError) || !client.followLeader)
					throw err;
				/* Reconnect to the leader; reservations end with conn. */
				client.consumers.delete(conn);
				conn.destroy('redirected to the leader');
				inflight.length = 0;
				let prefer;
				try {
					prefer = err.leader ? parseServer(err.leader) : undefined;
				} catch { prefer = undefined; }
				conn = await client.openConnection(prefer);
				client.consumers.add(conn);
				continue;
			}
			if (msg === null) {
				if (wait !== undefined)
					return;
				continue;
			}
			yield msg;
			/* ACK and the next RESERVE go out together. */
			if (autoAck && !msg.settled)
				acking = msg.ack();
			acking?.catch(() => {});
		}
	} finally {
		client.consumers.delete(conn);
		conn.destroy('consumer finished');
	}
}
