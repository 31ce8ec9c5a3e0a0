/**
 * protocol.js - the wire format: encoding requests and parsing replies.
 *
 * No I/O here: the encoder returns Buffers and the parser is fed chunks,
 * so both can be tested without a socket.  Everything follows the sluice
 * line protocol, version 1.1.
 */

import { ProtocolError } from './errors.js';

const QUEUE_RE = /^[A-Za-z0-9_.:-]{1,128}$/;
const NUMBER_MAX = (1n << 63n) - 1n;
const CRLF = Buffer.from('\r\n');
/** A request line is at most this long, terminator included. */
export const LINE_MAX = 1024;
/* A reply line longer than this is not sluice. */
const REPLY_LINE_MAX = 64 * 1024;

/**
 * Check a queue name; throw a TypeError/RangeError naming the fault.
 * @param {string} name
 * @returns {string}
 */
export function checkQueue(name) {
	if (typeof name !== 'string')
		throw new TypeError(`queue name must be a string, got ${typeof name}`);
	if (!QUEUE_RE.test(name))
		throw new RangeError(`bad queue name ${JSON.stringify(name)}: ` +
		    '1 to 128 bytes of A-Z a-z 0-9 _ . : -');
	return name;
}

/**
 * Check a protocol number (unsigned, at most 2^63-1); return its decimal.
 * @param {string} what  what the number is, for the error message
 * @param {number | bigint} n
 * @returns {string}
 */
export function checkNumber(what, n) {
	let b;
	if (typeof n === 'bigint')
		b = n;
	else if (typeof n === 'number' && Number.isSafeInteger(n))
		b = BigInt(n);
	else
		throw new TypeError(`${what} must be an integer or bigint, got ${
		    typeof n === 'number' ? n : typeof n}`);
	if (b < 0n || b > NUMBER_MAX)
		throw new RangeError(`${what} must be in 0..2^63-1, got ${b}`);
	return b.toString();
}

/**
 * A body as a Buffer: Buffers and typed arrays as they are, strings as
 * UTF-8.
 * @param {Buffer | Uint8Array | string} body
 * @returns {Buffer}
 */
export function toBody(body) {
	if (Buffer.isBuffer(body))
		return body;
	if (typeof body === 'string')
		return Buffer.from(body, 'utf8');
	if (body instanceof Uint8Array)
		return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
	throw new TypeError('body must be a Buffer, Uint8Array or string, got ' +
	    (body === null ? 'null' : typeof body));
}

/**
 * One request line (without body) as a Buffer.
 * @param {string[]} words
 * @returns {Buffer}
 */
export function encodeLine(words) {
	for (const w of words)
		if (w.length === 0 || /[\s]/.test(w))
			throw new RangeError(`bad request word ${JSON.stringify(w)}`);
	const line = Buffer.from(words.join(' ') + '\r\n', 'latin1');
	if (line.length > LINE_MAX)
		throw new RangeError(`request line longer than ${LINE_MAX} bytes`);
	return line;
}

/**
 * A PUT as the chunks to write: its line, its body, its terminator.
 * @param {string} queue  already checked
 * @param {Buffer} body
 * @param {string} [timeout]  already checked decimal
 * @returns {Buffer[]}
 */
export function encodePut(queue, body, timeout) {
	const line = timeout === undefined ?
	    `PUT ${queue} ${body.length}\r\n` :
	    `PUT ${queue} ${body.length} ${timeout}\r\n`;
	return [Buffer.from(line, 'latin1'), body, CRLF];
}

/**
 * @typedef {object} Reply
 * @property {number} code     three-digit code
 * @property {string} token    upper-case token
 * @property {string[]} args   arguments after the token (not hints)
 * @property {Record<string, string>} hints  key=value hints
 * @property {Buffer | null} body  the body of a MSG or JSON reply
 * @property {string} line     the reply line, for messages
 */

/**
 * Parse one reply line (terminator removed).
 * @param {string} line
 * @returns {Reply}
 */
export function parseLine(line) {
	let words = line.split(' ');
	if (line.includes('  ') || line[0] === ' ' || line.endsWith(' '))
		words = words.filter((w) => w.length > 0);
	const code = words[0];
	if (words.length < 2 || code.length !== 3 || !(code >= '100' &&
	    code <= '599') || !/^[0-9]{3}$/.test(code))
		throw new ProtocolError(`bad reply line ${JSON.stringify(line)}`);
	const reply = {
		code: Number(code), token: words[1], args: [], hints: {},
		body: null, line,
	};
	const hasBody = reply.token === 'MSG' || reply.token === 'JSON';
	for (let i = 2; i < words.length; i++) {
		const w = words[i];
		const eq = hasBody ? -1 : w.indexOf('=');
		if (eq > 0)
			reply.hints[w.slice(0, eq)] = w.slice(eq + 1);
		else
			reply.args.push(w);
	}
	return reply;
}

const S_LINE = 0, S_BODY = 1, S_END = 2;

/**
 * Turns a stream of chunks into replies, in order.  Bodies are copied
 * out of the chunks, so a reply keeps no reference to network buffers.
 */
export class ReplyParser {
	/** @param {(reply: Reply) => void} onReply */
	constructor(onReply) {
		this.onReply = onReply;
		this.state = S_LINE;
		this.pending = null;	/* the start of an unfinished line */
		this.reply = null;	/* the reply whose body is being read */
		this.filled = 0;
	}

	/**
	 * Feed the next chunk from the socket.  Throws ProtocolError when
	 * the stream is not sluice.
	 * @param {Buffer} chunk
	 */
	feed(chunk) {
		let buf = chunk;
		if (this.pending !== null) {
			buf = Buffer.concat([this.pending, chunk]);
			this.pending = null;
		}
		let off = 0;
		const len = buf.length;
		while (off < len) {
			if (this.state === S_LINE) {
				const nl = buf.indexOf(10, off);
				if (nl < 0) {
					if (len - off > REPLY_LINE_MAX)
						throw new ProtocolError('reply line too long');
					this.pending = buf.subarray(off);
					return;
				}
				const end = nl > off && buf[nl - 1] === 13 ? nl - 1 : nl;
				const reply = parseLine(buf.toString('latin1', off, end));
				off = nl + 1;
				if (reply.token !== 'MSG' && reply.token !== 'JSON') {
					this.onReply(reply);
					continue;
				}
				const n = reply.args[reply.args.length - 1];
				if (n === undefined || !/^[0-9]{1,19}$/.test(n) ||
				    Number(n) > 0x7fffffff)
					throw new ProtocolError(
					    `bad body length in ${JSON.stringify(reply.line)}`);
				reply.body = Buffer.allocUnsafe(Number(n));
				this.reply = reply;
				this.filled = 0;
				this.state = S_BODY;
			} else if (this.state === S_BODY) {
				const body = this.reply.body;
				const take = Math.min(body.length - this.filled, len - off);
				buf.copy(body, this.filled, off, off + take);
				this.filled += take;
				off += take;
				if (this.filled === body.length)
					this.state = S_END;
			} else {
				/* The body's terminator: "\r\n" or "\n". */
				if (buf[off] === 13) {
					if (off + 1 >= len) {
						this.pending = buf.subarray(off);
						return;
					}
					off++;
				}
				if (buf[off] !== 10)
					throw new ProtocolError('body not followed by a line end');
				off++;
				const reply = this.reply;
				this.reply = null;
				this.state = S_LINE;
				this.onReply(reply);
			}
		}
	}
}
