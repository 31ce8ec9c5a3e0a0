/**
 * connection.js - one socket to one server: a bounded pipeline of
 * requests whose replies are matched to them in order.
 *
 * Explicit states: 'connecting' -> 'open' -> 'closed'.  A request is
 * first `waiting` (not written), then `inflight` (written, unanswered).
 * It is written only while fewer than `window` requests are in flight and
 * the bytes handed to the socket but not yet sent stay under
 * `highWaterBytes`; otherwise it waits for a reply or for 'drain'.  That
 * is how a server that stops reading (a PUT parked on a full `block`
 * queue) reaches the caller: replies stop, the window fills, nothing more
 * is written, and the caller's `await` does not return.
 */

import net from 'node:net';
import tls from 'node:tls';
import { ReplyParser } from './protocol.js';
import { ConnectionError, ProtocolError, errorFromReply } from './errors.js';

/** Default bound on requests in flight on one connection. */
export const DEFAULT_WINDOW = 256;
/** Default bound on bytes written to the socket but not yet sent. */
export const DEFAULT_HIGH_WATER = 1 << 20;
/* Requests smaller than this are copied into one batch per write. */
const BATCH_PIECE_MAX = 16 * 1024;

/*
 * The error for requests that were never written: a ConnectionError
 * marked `notSent`, so that the client knows sending them elsewhere
 * cannot do anything twice.
 */
function unsent(err) {
	if (!(err instanceof ConnectionError) || err.notSent)
		return err;
	const e = new ConnectionError(err.message, { cause: err.cause });
	e.notSent = true;
	return e;
}

export class Connection {
	/**
	 * @param {object} o
	 * @param {string} o.host
	 * @param {number} o.port
	 * @param {boolean | import('node:tls').ConnectionOptions} [o.tls]
	 * @param {number} [o.window]
	 * @param {number} [o.highWaterBytes]
	 * @param {number} [o.requestTimeoutMs]
	 */
	constructor(o) {
		this.host = o.host;
		this.port = o.port;
		this.window = o.window ?? DEFAULT_WINDOW;
		this.highWater = o.highWaterBytes ?? DEFAULT_HIGH_WATER;
		this.requestTimeoutMs = o.requestTimeoutMs ?? 0;
		this.tlsOptions = o.tls;
		this.state = 'connecting';
		this.error = null;
		/** set by the Client once it stops sending here (not the leader) */
		this.left = false;
		this.socket = null;
		this.waiting = [];	/* requests not yet written, FIFO */
		this.waitHead = 0;
		this.inflight = [];	/* written, unanswered, FIFO */
		this.inHead = 0;
		this.out = [];		/* chunks to write on the next flush */
		this.outBytes = 0;
		this.flushScheduled = false;
		this.drainPending = false;
		this.roomWaiters = [];
		this.closeWaiters = [];
		this.timer = null;
		this.parser = new ReplyParser((r) => this.onReply(r));
	}

	/**
	 * Connect; resolves once the socket is open (TLS: once the handshake
	 * is done).
	 * @param {number} [timeoutMs]  0: no limit
	 * @returns {Promise<void>}
	 */
	open(timeoutMs = 0) {
		return new Promise((resolve, reject) => {
			const where = `${this.host}:${this.port}`;
			let sock;
			const fail = (err) => {
				clearTimeout(t);
				sock.destroy();
				this.state = 'closed';
				reject(err instanceof ConnectionError ? err :
				    new ConnectionError(`connect to ${where}: ${err.message}`,
					{ cause: err }));
			};
			if (this.tlsOptions) {
				const opts = typeof this.tlsOptions === 'object' ?
				    this.tlsOptions : {};
				sock = tls.connect({
					servername: net.isIP(this.host) ? undefined : this.host,
					...opts, host: this.host, port: this.port,
				});
			} else {
				sock = net.connect({ host: this.host, port: this.port });
			}
			const t = timeoutMs > 0 ? setTimeout(() => fail(
			    new ConnectionError(`connect to ${where}: timed out ` +
				`after ${timeoutMs} ms`)), timeoutMs) : null;
			sock.once('error', fail);
			sock.once(this.tlsOptions ? 'secureConnect' : 'connect', () => {
				clearTimeout(t);
				sock.removeListener('error', fail);
				this.attach(sock);
				resolve();
			});
		});
	}

	attach(sock) {
		this.socket = sock;
		this.state = 'open';
		sock.setNoDelay(true);
		sock.on('data', (chunk) => {
			try {
				this.parser.feed(chunk);
			} catch (err) {
				this.fail(err instanceof ProtocolError ? err :
				    new ProtocolError(String(err?.message ?? err)));
			}
		});
		sock.on('drain', () => {
			this.drainPending = false;
			this.pump();
		});
		sock.on('error', (err) => this.fail(new ConnectionError(
		    `${this.host}:${this.port}: ${err.message}`, { cause: err })));
		sock.on('close', () => this.fail(new ConnectionError(
		    `${this.host}:${this.port}: connection closed`)));
		this.pump();
	}

	/** Requests in flight (written, unanswered). */
	get inflightCount() {
		return this.inflight.length - this.inHead;
	}

	/** Requests not yet written. */
	get waitingCount() {
		return this.waiting.length - this.waitHead;
	}

	/* May one more request be written now? */
	canWrite() {
		return this.state === 'open' && !this.drainPending &&
		    this.inflightCount < this.window &&
		    this.outBytes + this.socket.writableLength < this.highWater;
	}

	/**
	 * True when a request made now would be written at once: nothing
	 * waits before it and the window and the socket have room.
	 */
	hasRoom() {
		return this.state !== 'open' ||
		    (this.waitingCount === 0 && this.canWrite());
	}

	/**
	 * Resolves when hasRoom() is true (or the connection is closed, so
	 * that the next request fails at once).
	 * @returns {Promise<void>}
	 */
	room() {
		if (this.hasRoom())
			return Promise.resolve();
		return new Promise((resolve) => this.roomWaiters.push(resolve));
	}

	/**
	 * Send a request; resolves with its reply (4xx/5xx included), rejects
	 * only when the connection fails first.
	 * @param {Buffer[]} chunks  the encoded request
	 * @param {number | undefined} waitMs  how long the server may hold it
	 *     (undefined: without limit), for the client-side timeout
	 * @returns {Promise<import('./protocol.js').Reply>}
	 */
	request(chunks, waitMs) {
		return new Promise((resolve, reject) => {
			if (this.state === 'closed') {
				reject(unsent(this.error ??
				    new ConnectionError('connection closed')));
				return;
			}
			let bytes = 0;
			for (const c of chunks)
				bytes += c.length;
			const req = { chunks, bytes, resolve, reject, deadline: 0 };
			if (this.requestTimeoutMs > 0 && waitMs !== undefined)
				req.waitMs = waitMs;
			this.waiting.push(req);
			this.pump();
		});
	}

	/* Write waiting requests while the window and the socket allow. */
	pump() {
		while (this.waitingCount > 0 && this.canWrite()) {
			const req = this.waiting[this.waitHead];
			this.waiting[this.waitHead++] = undefined;
			if (this.waitHead > 1024 && this.waitHead * 2 > this.waiting.length) {
				this.waiting = this.waiting.slice(this.waitHead);
				this.waitHead = 0;
			}
			if (req.waitMs !== undefined) {
				req.deadline = Date.now() + this.requestTimeoutMs + req.waitMs;
				this.armTimer();
			}
			this.inflight.push(req);
			for (const c of req.chunks)
				this.out.push(c);
			this.outBytes += req.bytes;
			req.chunks = null;
			if (!this.flushScheduled) {
				this.flushScheduled = true;
				process.nextTick(() => this.flush());
			}
		}
		this.wakeRoom();
	}

	wakeRoom() {
		if (this.roomWaiters.length === 0 || !this.hasRoom())
			return;
		const waiters = this.roomWaiters;
		this.roomWaiters = [];
		for (const w of waiters)
			w();
	}

	/* Hand what pump() collected to the socket in as few writes as can be. */
	flush() {
		this.flushScheduled = false;
		if (this.state !== 'open' || this.out.length === 0)
			return;
		const out = this.out;
		this.out = [];
		this.outBytes = 0;
		let ok = true;
		let batch = [], batchBytes = 0;
		const sock = this.socket;
		sock.cork();
		for (const c of out) {
			if (c.length < BATCH_PIECE_MAX) {
				batch.push(c);
				batchBytes += c.length;
				if (batchBytes < 64 * 1024)
					continue;
			} else if (batch.length === 0) {
				ok = sock.write(c) && ok;
				continue;
			}
			ok = sock.write(batch.length === 1 ? batch[0] :
			    Buffer.concat(batch, batchBytes)) && ok;
			batch = [];
			batchBytes = 0;
			if (c.length >= BATCH_PIECE_MAX)
				ok = sock.write(c) && ok;
		}
		if (batch.length > 0)
			ok = sock.write(batch.length === 1 ? batch[0] :
			    Buffer.concat(batch, batchBytes)) && ok;
		sock.uncork();
		if (!ok)
			this.drainPending = true;
		else
			this.pump();
	}

	onReply(reply) {
		if (this.inflightCount === 0) {
			/* A server that refuses a connection (503 BUSY) says so
			 * before any request, then closes: that is the error. */
			this.fail(reply.code >= 400 ? errorFromReply(reply) :
			    new ProtocolError(
				`reply with no request: ${JSON.stringify(reply.line)}`));
			return;
		}
		const req = this.inflight[this.inHead];
		this.inflight[this.inHead++] = undefined;
		if (this.inHead > 1024 && this.inHead * 2 > this.inflight.length) {
			this.inflight = this.inflight.slice(this.inHead);
			this.inHead = 0;
		}
		req.resolve(reply);
		this.pump();
	}

	/* One timer for the oldest deadline; requests are answered in order,
	 * so a late one stalls everything behind it anyway. */
	armTimer() {
		if (this.timer !== null)
			return;
		this.timer = setTimeout(() => {
			this.timer = null;
			const now = Date.now();
			for (let i = this.inHead; i < this.inflight.length; i++) {
				const req = this.inflight[i];
				if (req.deadline > 0 && req.deadline <= now) {
					this.fail(new ConnectionError(
					    `${this.host}:${this.port}: no reply within ` +
					    `${this.requestTimeoutMs} ms`));
					return;
				}
			}
			if (this.inflightCount > 0)
				this.armTimer();
		}, Math.max(this.requestTimeoutMs / 4, 10));
		this.timer.unref?.();
	}

	/* Close with an error: every unanswered request gets it. */
	fail(err) {
		if (this.state === 'closed')
			return;
		this.state = 'closed';
		this.error = err;
		clearTimeout(this.timer);
		this.timer = null;
		this.socket?.destroy();
		const sent = this.inflight.slice(this.inHead);
		const waiting = this.waiting.slice(this.waitHead);
		this.inflight = [];
		this.waiting = [];
		this.inHead = this.waitHead = 0;
		for (const r of sent)
			r.reject(err);
		if (waiting.length > 0) {
			const e = unsent(err);
			for (const r of waiting)
				r.reject(e);
		}
		this.wakeRoom();
		for (const w of this.roomWaiters.splice(0))
			w();
		for (const w of this.closeWaiters.splice(0))
			w();
	}

	/** True once the connection is closed, for any reason. */
	get closed() {
		return this.state === 'closed';
	}

	/**
	 * Resolves when the connection has closed.
	 * @returns {Promise<void>}
	 */
	whenClosed() {
		if (this.state === 'closed')
			return Promise.resolve();
		return new Promise((resolve) => this.closeWaiters.push(resolve));
	}

	/** Close at once; unanswered requests fail with ConnectionError. */
	destroy(reason = 'connection closed by the client') {
		this.fail(new ConnectionError(reason));
	}
}
