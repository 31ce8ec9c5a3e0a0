// Every command of protocol v1 against the real sluiced, and the answers
// a caller relies on.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
	Client, Message, BadRequestError, ConflictError, NoQueueError,
	NoMessageError, FullError,
} from '../src/index.js';
import { startDaemon, until } from './helpers.js';

describe('commands', () => {
	let d, c;
	before(async () => {
		d = await startDaemon();
		c = d.client();
	});
	after(() => d.stop());

	it('PING answers', async () => {
		await c.ping();
	});

	it('PUT then GET returns the body with the id PUT gave, as bigint', async () => {
		const id = await c.put('cmd.putget', 'hello');
		assert.equal(typeof id, 'bigint');
		const m = await c.get('cmd.putget');
		assert.ok(m instanceof Message);
		assert.equal(m.id, id);
		assert.equal(m.queue, 'cmd.putget');
		assert.ok(Buffer.isBuffer(m.body));
		assert.equal(m.text(), 'hello');
		assert.equal(m.reserved, false);
		assert.equal(await c.get('cmd.putget'), null, 'empty: null');
	});

	it('bodies: Buffer, Uint8Array, empty, JSON; ids increase', async () => {
		const a = await c.put('cmd.bodies', Buffer.from([0, 13, 10, 255]));
		const b = await c.put('cmd.bodies', new Uint8Array([1, 2, 3]));
		const e = await c.put('cmd.bodies', '');
		const j = await c.put('cmd.bodies', JSON.stringify({ n: 1 }));
		assert.ok(a < b && b < e && e < j);
		assert.deepEqual((await c.get('cmd.bodies')).body,
		    Buffer.from([0, 13, 10, 255]));
		assert.deepEqual((await c.get('cmd.bodies')).body, Buffer.from([1, 2, 3]));
		assert.equal((await c.get('cmd.bodies')).body.length, 0);
		assert.deepEqual((await c.get('cmd.bodies')).json(), { n: 1 });
	});

	it('GET with a timeout waits for a PUT from another connection', async () => {
		const other = d.client();
		const got = c.get('cmd.wait', { timeoutMs: 10000 });
		await until(async () => (await other.stats('cmd.wait'))
		    .waiting_consumers === 1, 'the GET to wait');
		const id = await other.put('cmd.wait', 'late');
		const m = await got;
		assert.equal(m.id, id);
		assert.equal(m.text(), 'late');
	});

	it('RESERVE then ACK removes the message; a second ACK is NoMessageError', async () => {
		const id = await c.put('cmd.ack', 'job');
		const m = await c.reserve('cmd.ack');
		assert.equal(m.id, id);
		assert.equal(m.reserved, true);
		let s = await c.stats('cmd.ack');
		assert.equal(s.reserved, 1);
		await m.ack();
		s = await c.stats('cmd.ack');
		assert.equal(s.reserved, 0);
		assert.equal(s.acks, 1);
		const err = await c.ack(id).catch((e) => e);
		assert.ok(err instanceof NoMessageError, String(err));
		assert.equal(err.code, 404);
		assert.equal(err.token, 'NO_MSG');
		assert.equal(err.id, id);
		await assert.rejects(m.ack(), TypeError, 'settled twice');
	});

	it('Client.ack and Client.nack settle reservations of the command connection', async () => {
		const id = await c.put('cmd.nack', 'again');
		const m = await c.reserve('cmd.nack');
		await c.nack(m.id);
		const m2 = await c.reserve('cmd.nack');
		assert.equal(m2.id, id, 'NACKed message comes back with its id');
		await c.ack(m2.id);
		assert.equal(await c.get('cmd.nack'), null);
	});

	it('GET messages cannot be settled', async () => {
		await c.put('cmd.getack', 'x');
		const m = await c.get('cmd.getack');
		await assert.rejects(m.ack(), TypeError);
	});

	it('CREATE: created, exists, conflict, bad request', async () => {
		assert.equal(await c.create('cmd.create',
		    { capacity: 5, maxBytes: 1000, policy: 'reject' }), 'created');
		assert.equal(await c.create('cmd.create',
		    { policy: 'reject', maxBytes: 1000, capacity: 5 }), 'exists');
		const err = await c.create('cmd.create', { capacity: 6 }).catch((e) => e);
		assert.ok(err instanceof ConflictError, String(err));
		assert.equal(err.queue, 'cmd.create');
		assert.equal(err.code, 409);
		const bad = await c.create('cmd.bad', { capacity: 0,
		    policy: 'drop-oldest' }).catch((e) => e);
		assert.ok(bad instanceof BadRequestError, String(bad));
		assert.equal(bad.code, 400);
		const s = await c.stats('cmd.create');
		assert.equal(s.capacity, 5);
		assert.equal(s.max_bytes, 1000);
		assert.equal(s.policy, 'reject');
		const l = await c.create('cmd.lease', { leaseMs: 60000 });
		assert.equal(l, 'created');
		assert.equal((await c.stats('cmd.lease')).lease_ms, 60000);
	});

	it('bad input is refused before anything is sent', async () => {
		await assert.rejects(c.put('bad name', 'x'), RangeError);
		await assert.rejects(c.put('', 'x'), RangeError);
		await assert.rejects(c.put('q'.repeat(129), 'x'), RangeError);
		await assert.rejects(c.put('ok', 5), TypeError);
		await assert.rejects(c.put('ok', 'x', { timeoutMs: -1 }), RangeError);
		await assert.rejects(c.ack(2n ** 63n), RangeError);
		await assert.rejects(c.create('ok', { policy: 'blok' }), RangeError);
		await assert.rejects(c.create('ok', { capacty: 1 }), RangeError);
		await assert.rejects(c.create('ok', { storage: 'tape' }), RangeError);
		await c.ping();
	});

	it('DELETE discards the queue; deleting it again is NoQueueError', async () => {
		await c.put('cmd.del', 'x');
		await c.delete('cmd.del');
		const err = await c.delete('cmd.del').catch((e) => e);
		assert.ok(err instanceof NoQueueError, String(err));
		assert.equal(err.queue, 'cmd.del');
		const st = await c.stats('cmd.del').catch((e) => e);
		assert.ok(st instanceof NoQueueError);
	});

	it('PURGE returns the count of ready messages discarded', async () => {
		for (let i = 0; i < 3; i++)
			await c.put('cmd.purge', `m${i}`);
		const r = await c.reserve('cmd.purge');
		assert.equal(await c.purge('cmd.purge'), 2);
		assert.equal((await c.stats('cmd.purge')).reserved, 1);
		await r.ack();
		const err = await c.purge('cmd.nope').catch((e) => e);
		assert.ok(err instanceof NoQueueError);
	});

	it('STATS of the server lists queues', async () => {
		await c.put('cmd.stats', 'x');
		const s = await c.stats();
		assert.equal(typeof s.version, 'string');
		assert.ok(s.connections >= 1);
		assert.equal(s.queues['cmd.stats'].depth, 1);
	});

	it('AUTH without a configured token answers OK', async () => {
		await c.authenticate('anything');
		await c.ping();
	});

	it('reject queue full: FullError with retryAfterMs', async () => {
		await c.create('cmd.full', { capacity: 1, policy: 'reject' });
		await c.put('cmd.full', 'a');
		const err = await c.put('cmd.full', 'b').catch((e) => e);
		assert.ok(err instanceof FullError, String(err));
		assert.equal(err.code, 503);
		assert.equal(err.token, 'FULL');
		assert.equal(err.queue, 'cmd.full');
		assert.equal(typeof err.retryAfterMs, 'number');
		assert.ok(err.retryAfterMs >= 0);
		assert.equal(err.retryable, true);
	});

	it('block queue full with a PUT timeout: FullError', async () => {
		await c.create('cmd.blockt', { capacity: 1 });
		await c.put('cmd.blockt', 'a');
		const err = await c.put('cmd.blockt', 'b', { timeoutMs: 0 })
		    .catch((e) => e);
		assert.ok(err instanceof FullError, String(err));
		const err2 = await c.put('cmd.blockt', 'b', { timeoutMs: 20 })
		    .catch((e) => e);
		assert.ok(err2 instanceof FullError, String(err2));
	});

	it('drop-newest full: put resolves null', async () => {
		await c.create('cmd.dropn', { capacity: 1, policy: 'drop-newest' });
		assert.equal(typeof await c.put('cmd.dropn', 'a'), 'bigint');
		assert.equal(await c.put('cmd.dropn', 'b'), null);
		assert.equal((await c.get('cmd.dropn')).text(), 'a');
	});

	it('send() returns the raw reply of any request', async () => {
		const r = await c.send(['PING']);
		assert.equal(r.code, 200);
		assert.equal(r.token, 'PONG');
		const bad = await c.send(['FROB']);
		assert.equal(bad.code, 400);
	});

	it('pipelined commands of different kinds are answered in order', async () => {
		const [a, b, e, s, g] = await Promise.all([
			c.put('cmd.mix', 'one'), c.put('cmd.mix', 'two'),
			c.get('cmd.empty'), c.stats('cmd.mix'), c.get('cmd.mix'),
		]);
		assert.equal(b, a + 1n);
		assert.equal(e, null);
		assert.equal(s.depth, 2);
		assert.equal(g.text(), 'one');
	});

	it('QUIT closes the client; later commands fail', async () => {
		const q = d.client();
		await q.ping();
		await q.quit();
		await assert.rejects(q.ping(), { name: 'ConnectionError' });
	});
});

describe('helpers', () => {
	let d, c;
	before(async () => {
		d = await startDaemon();
		c = d.client();
	});
	after(() => d.stop());

	it('process() ACKs when the handler resolves', async () => {
		await c.put('h.ok', 'work');
		const r = await c.process('h.ok', (m) => m.text().toUpperCase());
		assert.equal(r.result, 'WORK');
		const s = await c.stats('h.ok');
		assert.equal(s.acks, 1);
		assert.equal(s.depth + s.reserved, 0);
	});

	it('process() NACKs when the handler throws, and rethrows', async () => {
		const id = await c.put('h.fail', 'work');
		await assert.rejects(c.process('h.fail', () => {
			throw new Error('boom');
		}), /boom/);
		const s = await c.stats('h.fail');
		assert.equal(s.depth, 1, 'given back');
		assert.equal(s.acks, 0);
		const again = await c.reserve('h.fail');
		assert.equal(again.id, id);
		await again.ack();
	});

	it('process() resolves null when nothing comes', async () => {
		assert.equal(await c.process('h.none', () => 1, { timeoutMs: 10 }), null);
	});

	it('consume() yields messages in order and ACKs them', async () => {
		for (let i = 0; i < 5; i++)
			await c.put('h.consume', `m${i}`);
		const seen = [];
		for await (const m of c.consume('h.consume', { waitMs: 50 }))
			seen.push(m.text());
		assert.deepEqual(seen, ['m0', 'm1', 'm2', 'm3', 'm4']);
		const s = await c.stats('h.consume');
		assert.equal(s.acks, 5);
		assert.equal(s.depth + s.reserved, 0);
	});

	it('consume(): leaving the loop gives the unsettled message back', async () => {
		const id = await c.put('h.break', 'keep');
		await c.put('h.break', 'later');
		for await (const m of c.consume('h.break')) {
			assert.equal(m.id, id);
			break;
		}
		await until(async () => (await c.stats('h.break')).reserved === 0,
		    'the reservation to come back');
		const m = await c.get('h.break');
		assert.equal(m.id, id);
	});

	it('consume(): an explicit nack with autoAck off', async () => {
		const id = await c.put('h.manual', 'x');
		let n = 0;
		for await (const m of c.consume('h.manual', { autoAck: false })) {
			n++;
			if (n === 1) {
				await m.nack();
				continue;
			}
			assert.equal(m.id, id);
			await m.ack();
			break;
		}
		assert.equal((await c.stats('h.manual')).acks, 1);
	});

	it('consume() in reserve mode with prefetch: in order, every message ACKed', async () => {
		await c.create('h.rp', { capacity: 2000 });
		const p = c.producer('h.rp');
		for (let i = 0; i < 1000; i++)
			await p.put(String(i));
		await p.flush();
		let i = 0;
		for await (const m of c.consume('h.rp', { prefetch: 32, waitMs: 50 }))
			assert.equal(m.text(), String(i++));
		assert.equal(i, 1000);
		const s = await c.stats('h.rp');
		assert.equal(s.acks, 1000);
		assert.equal(s.depth + s.reserved, 0);
	});

	it('consume() with prefetch: leaving the loop gives back what was reserved ahead', async () => {
		for (let i = 0; i < 100; i++)
			await c.put('h.rpb', String(i));
		let n = 0;
		for await (const m of c.consume('h.rpb', { prefetch: 32 })) {
			assert.equal(m.text(), String(n));
			if (++n === 10)
				break;
		}
		const s = await until(async () => {
			const x = await c.stats('h.rpb');
			return x.reserved === 0 && x;
		}, 'the reservations to come back');
		assert.equal(s.acks, 9, 'ACKed all but the one the loop left unsettled');
		assert.equal(s.depth, 91);
		assert.equal((await c.get('h.rpb')).text(), '9');
	});

	it('consume() in get mode with prefetch', async () => {
		await c.create('h.get', { capacity: 2000 });
		const p = c.producer('h.get');
		for (let i = 0; i < 1000; i++)
			await p.put(String(i));
		await p.flush();
		let i = 0;
		for await (const m of c.consume('h.get', { mode: 'get', prefetch: 64,
		    waitMs: 50 }))
			assert.equal(m.text(), String(i++));
		assert.equal(i, 1000);
	});
});

describe('connections', () => {
	it('a closed port gives ConnectionError', async () => {
		const d = await startDaemon();
		const port = d.port;
		await d.stop();
		const c = new Client({ port, connectTimeoutMs: 2000 });
		const err = await c.ping().catch((e) => e);
		assert.equal(err?.name, 'ConnectionError', String(err));
	});

	it('a server that dies fails requests in flight with ConnectionError', async () => {
		const d = await startDaemon();
		const c = d.client();
		await c.create('x', { capacity: 0 });
		const p = c.put('x', 'waits for a consumer');
		p.catch(() => {});
		await until(async () => (await d.client().stats('x'))
		    .blocked_producers === 1, 'the PUT to block');
		process.kill(d.pid, 'SIGKILL');
		const err = await p.catch((e) => e);
		assert.equal(err?.name, 'ConnectionError', String(err));
		await d.stop();
	});
});
