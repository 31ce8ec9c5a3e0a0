/**
 * producer.js - pipelined PUTs into one queue with a bounded window.
 *
 * put() resolves when the PUT has been handed to the socket, not when it
 * is answered, and waits while the window or the socket is full; so a
 * loop of `await producer.put(...)` runs as fast as the server accepts
 * messages and stops, holding no more memory, when it does not.  Answers
 * are reported in order through `onQueued`; the first failure is kept
 * and thrown by the next put() and by flush().
 */

import { putRequest, putResult } from './client.js';
import { SluiceError } from './errors.js';

export class Producer {
	constructor(client, queue, options = {}) {
		this.client = client;
		this.queue = queue;
		this.timeoutMs = options.timeoutMs;
		this.window = options.window ?? Infinity;
		this.onQueued = options.onQueued ?? null;
		/** @type {number} PUTs written so far */
		this.sent = 0;
		/** @type {number} PUTs answered 200 QUEUED */
		this.queued = 0;
		/** @type {number} PUTs answered 202 DROPPED */
		this.dropped = 0;
		/** @type {Error | null} the first failure, thrown from then on */
		this.error = null;
		this.outstanding = 0;
		this.waiters = [];
		/** @type {boolean} true while a put() waits for room */
		this.stalled = false;
	}

	/**
	 * Write one PUT.  Resolves once it is written; waits while the
	 * window is full or the socket is not draining (a full `block` queue).
	 * @param {Buffer | Uint8Array | string} body
	 * @returns {Promise<void>}
	 */
	async put(body) {
		const [chunks, waitMs] = putRequest(this.queue, body,
		    { timeoutMs: this.timeoutMs });
		if (this.error)
			throw this.error;
		let conn = await this.client.connection();
		while (!conn.hasRoom() || this.outstanding >= this.window) {
			this.stalled = true;
			try {
				if (this.outstanding >= this.window)
					await new Promise((r) => this.waiters.push(r));
				else
					await conn.room();
			} finally {
				this.stalled = false;
			}
			if (this.error)
				throw this.error;
			conn = await this.client.connection();
		}
		const index = this.sent++;
		this.outstanding++;
		/* call(), not conn.request(): the PUT is written at once on
		 * conn, and a NOT_LEADER answer is followed like any command's. */
		this.client.call(chunks, waitMs,
		    { resend: this.client.allowDuplicates }).then((reply) => {
			let id;
			try {
				id = putResult(reply);
				if (id === null)
					this.dropped++;
				else
					this.queued++;
				if (this.onQueued !== null)
					this.onQueued(id, index);
			} catch (err) {
				this.fail(err);
			}
			this.done();
		}, (err) => {
			if (err instanceof SluiceError && err.index === undefined)
				err.index = index;
			this.fail(err);
			this.done();
		});
	}

	fail(err) {
		if (this.error === null)
			this.error = err;
	}

	done() {
		this.outstanding--;
		const w = this.waiters;
		this.waiters = [];
		for (const r of w)
			r();
	}

	/** PUTs written and not yet answered. */
	get pending() {
		return this.outstanding;
	}

	/**
	 * Wait for every written PUT's answer; throws the first failure.
	 * @returns {Promise<void>}
	 */
	async flush() {
		while (this.outstanding > 0)
			await new Promise((r) => this.waiters.push(r));
		if (this.error)
			throw this.error;
	}
}
