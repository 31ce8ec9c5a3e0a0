/**
 * message.js - a delivered message, and for a reserved one the ACK/NACK
 * that settle it on the connection that holds the reservation.
 */

import { checkNumber, encodeLine } from './protocol.js';
import { errorFromReply } from './errors.js';

export class Message {
	#conn;

	/**
	 * @param {bigint} id
	 * @param {Buffer} body
	 * @param {string} queue
	 * @param {import('./connection.js').Connection | null} conn  the
	 *     connection holding the reservation; null for a GET
	 */
	constructor(id, body, queue, conn) {
		/** @type {bigint} */
		this.id = id;
		/** @type {Buffer} */
		this.body = body;
		/** @type {string} */
		this.queue = queue;
		/** @type {boolean} true once ack() or nack() was called */
		this.settled = conn === null;
		this.#conn = conn;
	}

	/** True when the message is reserved (RESERVE), false for a GET. */
	get reserved() {
		return this.#conn !== null;
	}

	/** The body as UTF-8 text. */
	text() {
		return this.body.toString('utf8');
	}

	/** The body parsed as JSON. */
	json() {
		return JSON.parse(this.text());
	}

	async settle(line) {
		if (this.#conn === null)
			throw new TypeError(`message ${this.id} was taken by GET: ` +
			    'there is no reservation to settle');
		if (this.settled)
			throw new TypeError(`message ${this.id} is already settled`);
		this.settled = true;
		const reply = await this.#conn.request([line], 0);
		if (reply.code >= 400)
			throw errorFromReply(reply);
	}

	/**
	 * ACK: the message is done and gone from the server.
	 * @returns {Promise<void>}
	 */
	ack() {
		return this.settle(encodeLine(['ACK', this.id.toString()]));
	}

	/**
	 * NACK: give the message back, ready again at once or after
	 * `delayMs` milliseconds.
	 * @param {{delayMs?: number}} [options]
	 * @returns {Promise<void>}
	 */
	nack(options) {
		const words = ['NACK', this.id.toString()];
		if (options?.delayMs !== undefined)
			words.push(checkNumber('delayMs', options.delayMs));
		return this.settle(encodeLine(words));
	}
}
