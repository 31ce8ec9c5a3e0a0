/**
 * client.js - the Client: one command connection to a sluice server (or
 * to the leader of a group of them), a promise per command.
 */

import { Connection, DEFAULT_WINDOW } from './connection.js';
import {
	checkNumber, checkQueue, encodeLine, encodePut, toBody,
} from './protocol.js';
import {
	ClosedError, ConnectionError, NotLeaderError, ProtocolError,
	ServerBusyError, ShuttingDownError, SluiceError, errorFromReply,
} from './errors.js';
import { Message } from './message.js';
import { Producer } from './producer.js';
import { consume } from './consume.js';

/** The default port of sluiced. */
export const DEFAULT_PORT = 7470;

const POLICIES = new Set(['block', 'reject', 'drop-oldest', 'drop-newest']);
const STORAGES = new Set(['memory', 'disk']);

/**
 * Parse "host:port", "[v6]:port" or "host" (default port).
 * @param {string | {host?: string, port?: number}} s
 * @returns {{host: string, port: number}}
 */
export function parseServer(s) {
	if (typeof s === 'object' && s !== null)
		return { host: s.host ?? '127.0.0.1', port: s.port ?? DEFAULT_PORT };
	if (typeof s !== 'string' || s.length === 0)
		throw new TypeError(`bad server address ${JSON.stringify(s)}`);
	let m = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
	if (!m)
		m = /^([^:]+)(?::(\d+))?$/.exec(s);
	if (!m)
		throw new RangeError(`bad server address ${JSON.stringify(s)}: ` +
		    'want host:port');
	const port = m[2] === undefined ? DEFAULT_PORT : Number(m[2]);
	if (!(port > 0 && port < 65536))
		throw new RangeError(`bad port in ${JSON.stringify(s)}`);
	return { host: m[1], port };
}

/**
 * The servers of one replication group and the group's key.
 * @param {string | Array<string | {host?: string, port?: number}>} servers
 *     "host:port,host:port", optionally named "NAME=host:port,...", or a
 *     list of addresses (joined with commas, then read as the string)
 * @returns {{servers: {host: string, port: number}[], key: string}} the
 *     key (for sharding) is NAME, or else the string exactly as given
 */
export function parseServers(servers) {
	if (Array.isArray(servers)) {
		servers = servers.map((x) => {
			if (typeof x !== 'object' || x === null)
				return x;
			const a = parseServer(x);
			return a.host.includes(':') ? `[${a.host}]:${a.port}` :
			    `${a.host}:${a.port}`;
		}).join(',');
	} else if (typeof servers !== 'string') {
		throw new TypeError('servers must be "host:port,host:port" or an ' +
		    `array, got ${typeof servers}`);
	}
	const eq = servers.indexOf('=');
	if (eq === 0)
		throw new RangeError(`empty group name in ${JSON.stringify(servers)}`);
	const key = eq < 0 ? servers : servers.slice(0, eq);
	const list = [];
	for (const p of servers.slice(eq + 1).split(',')) {
		const a = parseServer(p.trim());
		if (!list.some((x) => x.host === a.host && x.port === a.port))
			list.push(a);
	}
	return { servers: list, key };
}

/*
 * How long to wait before trying again a request refused with NOT_LEADER
 * (or not sent: no server reachable): a hint is followed at once the
 * first round; otherwise (an election under way) 25 ms, doubling up to
 * 500 ms.
 */
export function backoffMs(attempt, hinted, nServers) {
	if (hinted && attempt <= nServers)
		return 0;
	return Math.min(25 * 2 ** Math.min(attempt, 5), 500);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The answer as an error when it is 4xx/5xx. */
function check(reply) {
	if (reply.code >= 400)
		throw errorFromReply(reply);
	return reply;
}

function parseId(reply, i = 0) {
	const s = reply.args[i];
	if (s === undefined || !/^[0-9]{1,19}$/.test(s))
		throw new ProtocolError(`bad id in ${JSON.stringify(reply.line)}`);
	return BigInt(s);
}

/**
 * A client of one sluice server, or of a replication group given as a
 * list of servers.  Commands share one connection and are pipelined:
 * calls made without awaiting each other are written together, at most
 * `window` in flight, and answered in order.
 */
export class Client {
	/**
	 * @param {import('../index.js').ClientOptions} [options]
	 */
	constructor(options = {}) {
		const o = { ...options };
		if (o.servers !== undefined) {
			const g = parseServers(o.servers);
			this.servers = g.servers;
			/** @type {string} the group's key for sharding */
			this.groupKey = g.key;
		} else {
			const a = parseServer({ host: o.host, port: o.port });
			this.servers = [a];
			this.groupKey = `${a.host}:${a.port}`;
		}
		this.serverIndex = 0;
		this.auth = o.auth ?? null;
		if (this.auth !== null)
			encodeLine(['AUTH', String(this.auth)]);
		this.tls = o.tls ?? false;
		this.connectTimeoutMs = o.connectTimeoutMs ?? 10000;
		this.requestTimeoutMs = o.requestTimeoutMs ?? 0;
		this.window = o.window ?? DEFAULT_WINDOW;
		if (!(Number.isInteger(this.window) && this.window >= 1))
			throw new RangeError('window must be an integer >= 1');
		this.highWaterBytes = o.highWaterBytes;
		this.followLeader = o.followLeader ?? true;
		this.retryTimeoutMs = o.retryTimeoutMs ?? 10000;
		if (!(Number.isFinite(this.retryTimeoutMs) && this.retryTimeoutMs >= 0))
			throw new RangeError('retryTimeoutMs must be a number >= 0');
		this.allowDuplicates = o.allowDuplicates ?? false;
		/* Fail over on more than NOT_LEADER even with one server (a
		 * ShardedClient's groups do, as libsluice's sharded handle). */
		this.alwaysFailOver = false;
		this.conn = null;
		this.connecting = null;
		this.ended = false;
		/** connections of running consume() loops */
		this.consumers = new Set();
	}

	/* ---------- connections ---------- */

	/**
	 * Open a new connection to the first server that answers, starting
	 * with the current one, authenticated when a token is set.
	 * @param {{host: string, port: number}} [prefer]  try this one first
	 * @returns {Promise<Connection>}
	 */
	async openConnection(prefer) {
		const order = [];
		if (prefer)
			order.push(prefer);
		for (let i = 0; i < this.servers.length; i++)
			order.push(this.servers[(this.serverIndex + i) %
			    this.servers.length]);
		const errors = [];
		for (const s of order) {
			const conn = new Connection({
				host: s.host, port: s.port, tls: this.tls,
				window: this.window, highWaterBytes: this.highWaterBytes,
				requestTimeoutMs: this.requestTimeoutMs,
			});
			try {
				await conn.open(this.connectTimeoutMs);
				if (this.auth !== null)
					check(await conn.request(
					    [encodeLine(['AUTH', String(this.auth)])], 0));
				const k = this.servers.findIndex(
				    (x) => x.host === s.host && x.port === s.port);
				if (k >= 0)
					this.serverIndex = k;
				return conn;
			} catch (err) {
				conn.destroy();
				/* A wrong token is wrong everywhere. */
				if (err instanceof SluiceError &&
				    !(err instanceof ConnectionError) && !err.retryable)
					throw err;
				errors.push(err);
			}
		}
		if (errors.length === 1)
			throw errors[0];
		const where = order.map((s) => `${s.host}:${s.port}`).join(', ');
		const e = new ConnectionError(`cannot connect to ${where}: ` +
		    errors.map((x) => x.message).join('; '), { cause: errors[0] });
		e.errors = errors;
		throw e;
	}

	/**
	 * Connect now rather than at the first command.  Safe to call more
	 * than once.
	 * @returns {Promise<void>}
	 */
	async connect() {
		await this.connection();
	}

	/** @returns {Promise<Connection>} the command connection, opened if need be */
	connection(prefer) {
		if (this.ended)
			return Promise.reject(new ConnectionError('client is closed'));
		if (this.conn !== null && !this.conn.closed)
			return Promise.resolve(this.conn);
		if (this.connecting === null) {
			this.connecting = this.openConnection(prefer).then((c) => {
				this.connecting = null;
				if (this.ended) {
					c.destroy();
					throw new ConnectionError('client is closed');
				}
				this.conn = c;
				return c;
			}, (err) => {
				this.connecting = null;
				throw err;
			});
		}
		return this.connecting;
	}

	/* Try again elsewhere, or later, on more than NOT_LEADER: with
	 * several servers, and in a ShardedClient. */
	get failsOver() {
		return this.alwaysFailOver || this.servers.length > 1;
	}

	/*
	 * Stop sending on `conn`, which is not the leader (or broke), and
	 * choose where to connect next: the hinted leader (added to the list
	 * when new), else the next server.  Only the first request to learn
	 * it moves on; those pipelined behind it are answered NOT_LEADER too
	 * and follow on their own, so the connection is closed after their
	 * answers.
	 */
	leave(conn, leader) {
		if (conn.left)
			return;
		conn.left = true;
		if (this.conn === conn)
			this.conn = null;
		if (conn.closed) {
			/* broke: nothing to wait for */
		} else {
			conn.request([encodeLine(['QUIT'])], 0).catch(() => {})
			    .finally(() => conn.destroy('left for the leader'));
		}
		this.follow(leader);
	}

	/*
	 * The next server to connect to: the hinted leader (added to the
	 * list when new), else the one after the current.
	 */
	follow(leader) {
		let hint;
		try {
			hint = leader ? parseServer(leader) : undefined;
		} catch {
			hint = undefined;
		}
		if (hint === undefined) {
			this.serverIndex = (this.serverIndex + 1) % this.servers.length;
			return;
		}
		let k = this.servers.findIndex(
		    (x) => x.host === hint.host && x.port === hint.port);
		if (k < 0)
			k = this.servers.push(hint) - 1;
		this.serverIndex = k;
	}

	/**
	 * Send one encoded request on the command connection and return its
	 * checked reply.  Refused with NOT_LEADER (which did nothing), it is
	 * sent again, to the hinted leader or the next server, until
	 * `retryTimeoutMs` has passed (with `follow` false, or followLeader
	 * off, NotLeaderError is thrown at once).  With several servers, so
	 * is one refused with 503 BUSY or SHUTTING_DOWN, or not sent because
	 * none could be reached; one whose connection broke before its
	 * answer only with `resend` (PING, AUTH, STATS, CREATE, CLOSE; PUT
	 * with allowDuplicates).
	 * @param {Buffer[]} chunks
	 * @param {number | undefined} waitMs
	 * @param {{resend?: boolean, follow?: boolean}} [how]
	 */
	async call(chunks, waitMs, how = {}) {
		const deadline = Date.now() + this.retryTimeoutMs;
		for (let attempt = 1; ; attempt++) {
			let conn = null, err, hinted = false;
			try {
				conn = this.conn !== null && !this.conn.closed ?
				    this.conn : await this.connection();
				const reply = await conn.request(chunks, waitMs);
				if (reply.code < 400)
					return reply;
				err = errorFromReply(reply);
				if (err instanceof NotLeaderError) {
					if (!this.followLeader || how.follow === false)
						throw err;
					hinted = err.leader !== null;
					this.leave(conn, err.leader);
				} else if ((err instanceof ServerBusyError ||
				    err instanceof ShuttingDownError) &&
				    this.failsOver && this.followLeader) {
					/* Refused, so not done: another member may take it. */
					this.leave(conn, null);
				} else {
					throw err;
				}
			} catch (e) {
				if ((e instanceof ServerBusyError ||
				    e instanceof ShuttingDownError) &&
				    this.failsOver && this.followLeader) {
					/* Said on connecting: nothing was done. */
					if (conn !== null)
						this.leave(conn, null);
					err = e;
				} else if (!(e instanceof ConnectionError)) {
					throw e;
				} else {
					const sent = conn !== null && !e.notSent;
					if (conn !== null)
						this.leave(conn, null);
					if (!this.failsOver || (sent && !how.resend))
						throw e;
					err = e;
				}
			}
			const pause = backoffMs(attempt, hinted, this.servers.length);
			if (Date.now() + pause >= deadline)
				throw err;
			if (pause > 0)
				await sleep(pause);
		}
	}

	/* ---------- commands ---------- */

	/**
	 * PING: resolves when the server answers.
	 * @returns {Promise<void>}
	 */
	async ping() {
		await this.call([encodeLine(['PING'])], 0, { resend: true });
	}

	/**
	 * AUTH on the command connection.  (A token given to the constructor
	 * is sent on every new connection by itself.)
	 * @param {string} token
	 * @returns {Promise<void>}
	 */
	async authenticate(token) {
		const chunks = [encodeLine(['AUTH', String(token)])];
		this.auth = String(token);
		await this.call(chunks, 0, { resend: true });
	}

	/**
	 * PUT one message.
	 * @param {string} queue
	 * @param {Buffer | Uint8Array | string} body
	 * @param {{timeoutMs?: number}} [options]  how long the server may
	 *     hold the PUT while a `block` queue is full (absent: as long as it
	 *     takes; 0: not at all)
	 * @returns {Promise<bigint | null>} the id, or null when a
	 *     `drop-newest` queue dropped it
	 */
	async put(queue, body, options) {
		const reply = await this.call(...putRequest(queue, body, options),
		    { resend: this.allowDuplicates });
		return putResult(reply);
	}

	/**
	 * GET: take the oldest ready message (at most once).
	 * @param {string} queue
	 * @param {{timeoutMs?: number}} [options]  wait up to this long
	 *     (absent or 0: do not wait)
	 * @returns {Promise<Message | null>} null when empty
	 */
	async get(queue, options) {
		const reply = await this.call(...takeRequest('GET', queue, options));
		return messageFrom(reply, queue, null);
	}

	/**
	 * RESERVE: take the oldest ready message until ACKed or NACKed (at
	 * least once).  The reservation belongs to the command connection.
	 * @param {string} queue
	 * @param {{timeoutMs?: number}} [options]
	 * @returns {Promise<Message | null>} null when empty
	 */
	async reserve(queue, options) {
		const [chunks, waitMs] = takeRequest('RESERVE', queue, options);
		const conn = await this.connection();
		const reply = await this.call(chunks, waitMs);
		return messageFrom(reply, queue, this.conn ?? conn);
	}

	/**
	 * ACK a message reserved on the command connection.
	 * @param {bigint | number} id
	 * @returns {Promise<void>}
	 */
	async ack(id) {
		await this.call([encodeLine(['ACK', checkNumber('id', id)])], 0,
		    { follow: false });
	}

	/**
	 * NACK: give a reserved message back, at once or after `delayMs`.
	 * @param {bigint | number} id
	 * @param {{delayMs?: number}} [options]
	 * @returns {Promise<void>}
	 */
	async nack(id, options) {
		await this.call([nackLine(id, options)], 0, { follow: false });
	}

	/**
	 * CREATE a queue.
	 * @param {string} queue
	 * @param {import('../index.js').QueueOptions} [options]
	 * @returns {Promise<'created' | 'exists'>}
	 */
	async create(queue, options = {}) {
		const words = ['CREATE', checkQueue(queue)];
		const o = options;
		const known = new Set(['capacity', 'maxBytes', 'policy', 'storage',
		    'maxDeliveries', 'deadLetter', 'leaseMs']);
		for (const k of Object.keys(o))
			if (!known.has(k))
				throw new RangeError(`unknown queue option ${k}`);
		if (o.capacity !== undefined)
			words.push(`capacity=${checkNumber('capacity', o.capacity)}`);
		if (o.maxBytes !== undefined)
			words.push(`max_bytes=${checkNumber('maxBytes', o.maxBytes)}`);
		if (o.policy !== undefined) {
			if (!POLICIES.has(o.policy))
				throw new RangeError(`policy must be one of ${
				    [...POLICIES].join(', ')}, got ${o.policy}`);
			words.push(`policy=${o.policy}`);
		}
		if (o.storage !== undefined) {
			if (!STORAGES.has(o.storage))
				throw new RangeError('storage must be memory or disk, ' +
				    `got ${o.storage}`);
			words.push(`storage=${o.storage}`);
		}
		if (o.maxDeliveries !== undefined)
			words.push(`max_deliveries=${
			    checkNumber('maxDeliveries', o.maxDeliveries)}`);
		if (o.deadLetter !== undefined)
			words.push(`dead_letter=${checkQueue(o.deadLetter)}`);
		if (o.leaseMs !== undefined)
			words.push(`lease_ms=${checkNumber('leaseMs', o.leaseMs)}`);
		const reply = await this.call([encodeLine(words)], 0,
		    { resend: true });
		return reply.code === 201 ? 'created' : 'exists';
	}

	/**
	 * DELETE a queue with every message in it.
	 * @param {string} queue
	 * @returns {Promise<void>}
	 */
	async delete(queue) {
		await this.call([encodeLine(['DELETE', checkQueue(queue)])], 0);
	}

	/**
	 * PURGE a queue's ready messages.
	 * @param {string} queue
	 * @returns {Promise<number>} how many were discarded
	 */
	async purge(queue) {
		const reply = await this.call(
		    [encodeLine(['PURGE', checkQueue(queue)])], 0);
		return Number(parseId(reply));
	}

	/**
	 * CLOSE a queue: it takes no more messages; consumers drain it, then
	 * get ClosedError (consume() ends).
	 * @param {string} queue
	 * @returns {Promise<void>}
	 */
	async closeQueue(queue) {
		await this.call([encodeLine(['CLOSE', checkQueue(queue)])], 0,
		    { resend: true });
	}

	/**
	 * STATS of one queue, or of the server (with every queue) when no
	 * name is given.
	 * @param {string} [queue]
	 * @returns {Promise<Record<string, any>>}
	 */
	async stats(queue) {
		const words = ['STATS'];
		if (queue !== undefined)
			words.push(checkQueue(queue));
		const reply = await this.call([encodeLine(words)], 0,
		    { resend: true });
		if (reply.token !== 'JSON' || reply.body === null)
			throw new ProtocolError(`STATS answered ${reply.line}`);
		try {
			return JSON.parse(reply.body.toString('utf8'));
		} catch (err) {
			throw new ProtocolError(`STATS: bad JSON: ${err.message}`);
		}
	}

	/**
	 * Send any request and return the raw reply without checking it: for
	 * commands this library does not know yet.
	 * @param {string[]} words  the request line's words
	 * @param {Buffer | string} [body]  appended with its terminator; give
	 *     its length among `words` yourself
	 * @returns {Promise<import('./protocol.js').Reply>}
	 */
	async send(words, body) {
		const chunks = [encodeLine(words)];
		if (body !== undefined)
			chunks.push(toBody(body), Buffer.from('\r\n'));
		const conn = await this.connection();
		return conn.request(chunks, undefined);
	}

	/* ---------- helpers ---------- */

	/**
	 * A pipelined producer into one queue with a bounded window: `await
	 * producer.put(body)` returns as soon as the PUT is written, and does
	 * not return while the window or the socket is full.
	 * @param {string} queue
	 * @param {import('../index.js').ProducerOptions} [options]
	 * @returns {Producer}
	 */
	producer(queue, options) {
		return new Producer(this, checkQueue(queue), options);
	}

	/**
	 * Consume a queue as an async iterator, on a connection of its own.
	 * @param {string} queue
	 * @param {import('../index.js').ConsumeOptions} [options]
	 * @returns {AsyncIterableIterator<Message>}
	 */
	consume(queue, options) {
		return consume(this, checkQueue(queue), options);
	}

	/**
	 * Reserve one message and run `handler` on it: ACK when the handler
	 * resolves, NACK (after `retryDelayMs`, if given) when it throws, then
	 * rethrow.  Resolves with null when no message came within
	 * `timeoutMs`.
	 * @template T
	 * @param {string} queue
	 * @param {(msg: Message) => T | Promise<T>} handler
	 * @param {{timeoutMs?: number, retryDelayMs?: number}} [options]
	 * @returns {Promise<{message: Message, result: T} | null>}
	 */
	async process(queue, handler, options = {}) {
		const msg = await this.reserve(queue, { timeoutMs: options.timeoutMs });
		if (msg === null)
			return null;
		let result;
		try {
			result = await handler(msg);
		} catch (err) {
			if (!msg.settled)
				await msg.nack({ delayMs: options.retryDelayMs });
			throw err;
		}
		if (!msg.settled)
			await msg.ack();
		return { message: msg, result };
	}

	/**
	 * QUIT: let the answers to earlier commands arrive, then close.
	 * @returns {Promise<void>}
	 */
	async quit() {
		this.ended = true;
		const conn = this.conn;
		this.conn = null;
		if (conn === null || conn.closed)
			return;
		try {
			await conn.request([encodeLine(['QUIT'])], 0);
		} catch {
			/* closing anyway */
		}
		conn.destroy();
	}

	/** Close at once; commands still unanswered fail with ConnectionError. */
	destroy() {
		this.ended = true;
		this.conn?.destroy();
		this.conn = null;
		for (const c of this.consumers)
			c.destroy('client destroyed');
		this.consumers.clear();
	}
}

/* ---------- request builders shared with Producer and consume ---------- */

/** @returns {[Buffer[], number | undefined]} */
export function putRequest(queue, body, options) {
	const b = toBody(body);
	const t = options?.timeoutMs;
	const ts = t === undefined ? undefined : checkNumber('timeoutMs', t);
	return [encodePut(checkQueue(queue), b, ts), t === undefined ? undefined :
	    Number(t)];
}

export function putResult(reply) {
	if (reply.code === 202)
		return null;
	if (reply.token !== 'QUEUED')
		throw new ProtocolError(`PUT answered ${reply.line}`);
	return parseId(reply);
}

/** @returns {[Buffer[], number | undefined]} */
export function takeRequest(cmd, queue, options) {
	const words = [cmd, checkQueue(queue)];
	const t = options?.timeoutMs;
	if (t !== undefined)
		words.push(checkNumber('timeoutMs', t));
	return [[encodeLine(words)], t === undefined ? 0 : Number(t)];
}

export function nackLine(id, options) {
	const words = ['NACK', checkNumber('id', id)];
	if (options?.delayMs !== undefined)
		words.push(checkNumber('delayMs', options.delayMs));
	return encodeLine(words);
}

/** A MSG reply as a Message, 204 as null, anything else thrown. */
export function messageFrom(reply, queue, conn) {
	check(reply);
	if (reply.code === 204)
		return null;
	if (reply.token !== 'MSG' || reply.body === null)
		throw new ProtocolError(`expected MSG, got ${reply.line}`);
	return new Message(parseId(reply), reply.body, queue, conn);
}

export { check as checkReply, ClosedError };
