// The wire format without a socket: the reply parser and the error map.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ReplyParser } from '../src/protocol.js';
import { errorFromReply } from '../src/errors.js';
import * as sluice from '../src/index.js';

const STREAM = Buffer.concat([
	Buffer.from('200 QUEUED 1\r\n'),
	Buffer.from('200 MSG 7 6\r\na\r\nb\0c\r\n'),
	Buffer.from('503 FULL jobs retry_after_ms=250\r\n'),
	Buffer.from('200 JSON 2\n{}\n'),	/* bare \n is accepted */
	Buffer.from('204 EMPTY\r\n'),
	Buffer.from('200 MSG 8 0\r\n\r\n'),
]);

function parseAll(chunks) {
	const out = [];
	const p = new ReplyParser((r) => out.push(r));
	for (const c of chunks)
		p.feed(c);
	return out;
}

describe('ReplyParser', () => {
	it('reads codes, args, hints and binary bodies', () => {
		const r = parseAll([STREAM]);
		assert.equal(r.length, 6);
		assert.deepEqual([r[0].code, r[0].token, r[0].args], [200, 'QUEUED', ['1']]);
		assert.deepEqual(r[1].body, Buffer.from('a\r\nb\0c'));
		assert.deepEqual(r[1].args, ['7', '6']);
		assert.deepEqual(r[2].hints, { retry_after_ms: '250' });
		assert.deepEqual(r[2].args, ['jobs']);
		assert.equal(r[3].body.toString(), '{}');
		assert.equal(r[4].token, 'EMPTY');
		assert.equal(r[5].body.length, 0);
	});

	it('gives the same replies however the stream is cut', () => {
		const whole = parseAll([STREAM]);
		for (let i = 0; i <= STREAM.length; i++) {
			const cut = parseAll([STREAM.subarray(0, i), STREAM.subarray(i)]);
			assert.deepEqual(cut, whole, `cut at ${i}`);
		}
		const bytes = [];
		for (let i = 0; i < STREAM.length; i++)
			bytes.push(STREAM.subarray(i, i + 1));
		assert.deepEqual(parseAll(bytes), whole);
	});

	it('throws ProtocolError on what is not sluice', () => {
		for (const bad of ['HTTP/1.1 200 OK\r\n', '20 X\r\n', '200\r\n',
		    '200 MSG 1 x\r\n', '200 MSG 1 2\r\nabX']) {
			assert.throws(() => parseAll([Buffer.from(bad)]),
			    sluice.ProtocolError, bad);
		}
	});
});

describe('errorFromReply', () => {
	const cases = [
		['400 BAD_REQUEST unknown command', 'BadRequestError'],
		['401 UNAUTHORIZED', 'UnauthorizedError'],
		['403 FORBIDDEN', 'ForbiddenError'],
		['404 NO_QUEUE jobs', 'NoQueueError', { queue: 'jobs' }],
		['404 NO_MSG 42', 'NoMessageError', { id: 42n }],
		['409 CONFLICT jobs', 'ConflictError', { queue: 'jobs' }],
		['410 CLOSED jobs', 'ClosedError', { queue: 'jobs' }],
		['413 TOO_LARGE 1048576', 'TooLargeError', { limit: 1048576 }],
		['500 INTERNAL oops', 'InternalError'],
		['503 FULL jobs retry_after_ms=17', 'FullError',
		    { queue: 'jobs', retryAfterMs: 17 }],
		['503 FULL jobs', 'FullError', { retryAfterMs: null }],
		['503 BUSY', 'ServerBusyError'],
		['503 SHUTTING_DOWN', 'ShuttingDownError'],
		['503 TOO_MANY_RESERVED', 'TooManyReservedError'],
		['503 TOO_MANY_QUEUES', 'TooManyQueuesError'],
		['503 NOT_LEADER leader=10.0.0.2:7470', 'NotLeaderError',
		    { leader: '10.0.0.2:7470' }],
		['503 NOT_LEADER', 'NotLeaderError', { leader: null }],
		['409 SOMETHING_NEW', 'ConflictError'],
		['503 SOMETHING_NEW', 'SluiceError'],
		['418 TEAPOT', 'SluiceError'],
	];
	for (const [line, name, fields] of cases) {
		it(`${line} -> ${name}`, () => {
			let reply;
			parseAll([Buffer.from(line + '\r\n')]).forEach((r) => { reply = r; });
			const err = errorFromReply(reply);
			assert.ok(err instanceof sluice[name]);
			assert.ok(err instanceof sluice.SluiceError);
			assert.equal(err.name, name);
			assert.equal(err.code, Number(line.slice(0, 3)));
			assert.equal(err.token, line.split(' ')[1]);
			assert.equal(err.retryable, line.startsWith('5'));
			for (const [k, v] of Object.entries(fields ?? {}))
				assert.deepEqual(err[k], v, k);
		});
	}
});
