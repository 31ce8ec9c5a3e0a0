/**
 * sharded.js - a client over several replication groups: each queue
 * lives in exactly one group, chosen by rendezvous hashing of its name
 * (shard.js).  One Client (one command connection) per group.
 */

import { Client } from './client.js';
import { pick } from './shard.js';
import { checkQueue } from './protocol.js';

export class ShardedClient {
	/**
	 * @param {import('../index.js').ShardedClientOptions} options  `groups`:
	 *     each group's servers ("host:port,host:port" or an array); the
	 *     other options are every group's Client's
	 */
	constructor(options = {}) {
		const { groups, ...rest } = options;
		if (!Array.isArray(groups) || groups.length === 0)
			throw new TypeError('groups must be a non-empty array of ' +
			    'server lists, e.g. ["a:7470,b:7470", "c:7470,d:7470"]');
		for (const k of ['servers', 'host', 'port'])
			if (rest[k] !== undefined)
				throw new TypeError(`a ShardedClient takes groups, not ${k}`);
		/** @type {Client[]} group i's client */
		this.clients = groups.map((g) => new Client({ ...rest, servers: g }));
		/* A group of one server fails over too: it is tried again until
		 * retryTimeoutMs, as libsluice's sharded handle does. */
		for (const c of this.clients)
			c.alwaysFailOver = true;
		/** @type {string[]} group i's key */
		this.keys = this.clients.map((c) => c.groupKey);
		const seen = new Map();
		this.keys.forEach((k, i) => {
			if (seen.has(k))
				throw new RangeError(`groups ${seen.get(k)} and ${i} are ` +
				    `the same server list ${JSON.stringify(k)}`);
			seen.set(k, i);
		});
	}

	/**
	 * The index of the group that holds `queue`.
	 * @param {string} queue
	 * @returns {number}
	 */
	groupFor(queue) {
		return pick(this.keys, checkQueue(queue));
	}

	/**
	 * The client of the group that holds `queue`.
	 * @param {string} queue
	 * @returns {Client}
	 */
	clientFor(queue) {
		return this.clients[this.groupFor(queue)];
	}

	/** Connect to every group now. */
	async connect() {
		await Promise.all(this.clients.map((c) => c.connect()));
	}

	/** PING every group. */
	async ping() {
		await Promise.all(this.clients.map((c) => c.ping()));
	}

	put(queue, body, options) {
		return this.clientFor(queue).put(queue, body, options);
	}

	get(queue, options) {
		return this.clientFor(queue).get(queue, options);
	}

	/** RESERVE on the queue's group; the message's ack()/nack() go there. */
	reserve(queue, options) {
		return this.clientFor(queue).reserve(queue, options);
	}

	create(queue, options) {
		return this.clientFor(queue).create(queue, options);
	}

	delete(queue) {
		return this.clientFor(queue).delete(queue);
	}

	purge(queue) {
		return this.clientFor(queue).purge(queue);
	}

	closeQueue(queue) {
		return this.clientFor(queue).closeQueue(queue);
	}

	/**
	 * One queue's STATS (from its group), or without a queue every
	 * group's server STATS, in the groups' order.
	 */
	stats(queue) {
		if (queue !== undefined)
			return this.clientFor(queue).stats(queue);
		return Promise.all(this.clients.map((c) => c.stats()));
	}

	producer(queue, options) {
		return this.clientFor(queue).producer(queue, options);
	}

	consume(queue, options) {
		return this.clientFor(queue).consume(queue, options);
	}

	process(queue, handler, options) {
		return this.clientFor(queue).process(queue, handler, options);
	}

	/** QUIT every group's connection. */
	async quit() {
		await Promise.all(this.clients.map((c) => c.quit()));
	}

	/** Close every connection at once. */
	destroy() {
		for (const c of this.clients)
			c.destroy();
	}
}
