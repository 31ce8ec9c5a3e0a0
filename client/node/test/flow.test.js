// Pipelining, backpressure that reaches the caller's await, redelivery.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { startDaemon, until } from './helpers.js';

const gc = globalThis.gc ?? (() => {});
function rss() {
	gc();
	return process.memoryUsage().rss;
}

describe('pipelining', () => {
	let d, c;
	before(async () => {
		d = await startDaemon();
		c = d.client();
	});
	after(() => d.stop());

	it('100,000 pipelined PUTs get exact, in-order ids and read back in order', async () => {
		const N = 100000;
		await c.create('pipe', { capacity: N });
		const ids = [];
		const p = c.producer('pipe', {
			onQueued: (id, i) => { ids[i] = id; },
		});
		let maxPending = 0;
		for (let i = 0; i < N; i++) {
			await p.put(`m${i}`);
			maxPending = Math.max(maxPending, p.pending);
		}
		await p.flush();
		assert.equal(p.queued, N);
		assert.ok(maxPending > 1, 'requests were in flight together');
		assert.ok(maxPending <= 256, `window held: ${maxPending}`);
		for (let i = 1; i < N; i++)
			if (ids[i] !== ids[0] + BigInt(i))
				assert.fail(`id ${i} is ${ids[i]}, want ${ids[0] + BigInt(i)}`);
		assert.equal((await c.stats('pipe')).depth, N);
		let i = 0;
		for await (const m of c.consume('pipe', { mode: 'get', prefetch: 256,
		    waitMs: 100 })) {
			if (m.id !== ids[i] || m.text() !== `m${i}`)
				assert.fail(`message ${i}: ${m.id} ${m.text()}`);
			i++;
		}
		assert.equal(i, N);
	});

	it('concurrent put() calls are pipelined and resolve in order', async () => {
		await c.create('pipe2', { capacity: 10000 });
		const ids = await Promise.all(Array.from({ length: 10000 },
		    (_, i) => c.put('pipe2', String(i))));
		for (let i = 1; i < ids.length; i++)
			assert.equal(ids[i], ids[0] + BigInt(i));
	});
});

describe('backpressure', () => {
	let d;
	before(async () => { d = await startDaemon(); });
	after(() => d.stop());

	it('await client.put() into a full block queue does not resolve until a consumer takes', async () => {
		const c = d.client(), watch = d.client(), cons = d.client();
		await c.create('bp.one', { capacity: 1 });
		await c.put('bp.one', 'first');
		let settled = false;
		const p = c.put('bp.one', 'second').then((id) => {
			settled = true;
			return id;
		});
		await until(async () => (await watch.stats('bp.one'))
		    .blocked_producers === 1, 'the PUT to park');
		await watch.ping();
		assert.equal(settled, false, 'the PUT resolved into a full queue');
		assert.equal((await cons.get('bp.one')).text(), 'first');
		const id = await p;
		assert.equal((await cons.get('bp.one')).id, id);
	});

	it('a pipelined producer is held at its await with memory flat, and resumes when drained', async () => {
		const producer = d.client(), watch = d.client(), cons = d.client();
		const N = 2048, SIZE = 65536;	/* 128 MiB offered */
		await producer.create('bp.flood', { capacity: 4 });
		const ids = [];
		const p = producer.producer('bp.flood', {
			onQueued: (id, i) => { ids[i] = id; },
		});
		const before = rss();
		let written = 0;
		const run = (async () => {
			for (let i = 0; i < N; i++) {
				/* A fresh body each time: a Buffer handed to put() is
				 * the socket's until its answer comes. */
				const body = Buffer.alloc(SIZE, 0x61);
				body.writeUInt32BE(i, 0);
				await p.put(body);
				written++;
			}
			await p.flush();
		})();
		await until(async () => p.stalled &&
		    (await watch.stats('bp.flood')).blocked_producers === 1,
		    'the producer to stall on the full queue');
		const grown = rss() - before;
		/*
		 * More round trips to the server: still held.  A few more
		 * put()s may return meanwhile (the kernel grows the socket's
		 * buffers as they fill), but never more than the buffers hold.
		 */
		for (let i = 0; i < 20; i++)
			await watch.ping();
		const stuckAt = written;
		assert.ok(p.stalled, 'the producer is still held');
		assert.ok(stuckAt < N / 4, `only what fits in buffers was written: ${stuckAt}`);
		assert.ok(grown < 48 * 1024 * 1024,
		    `memory grew by ${(grown / 1048576).toFixed(1)} MiB while held`);
		const s = await watch.stats('bp.flood');
		assert.equal(s.depth, 4);
		/* A consumer drains; the producer resumes and finishes. */
		let got = 0;
		for await (const m of cons.consume('bp.flood', { mode: 'get',
		    prefetch: 8 })) {
			if (m.body.readUInt32BE(0) !== got || m.body.length !== SIZE)
				assert.fail(`message ${got} out of order or cut`);
			got++;
			if (got === N)
				break;
		}
		await run;
		assert.equal(p.queued, N);
		for (let i = 1; i < N; i++)
			assert.equal(ids[i], ids[0] + BigInt(i));
		const after = rss() - before;
		assert.ok(after < 64 * 1024 * 1024,
		    `memory grew by ${(after / 1048576).toFixed(1)} MiB over the flood`);
	});
});

describe('at least once', () => {
	it('a consumer killed mid-reservation has its message redelivered', async () => {
		const d = await startDaemon();
		try {
			const c = d.client();
			const id = await c.put('redeliver', 'precious');
			const fixture = fileURLToPath(new URL('./fixtures/reserve-and-hang.js',
			    import.meta.url));
			const child = spawn(process.execPath, [fixture, String(d.port),
			    'redeliver'], { stdio: ['ignore', 'pipe', 'inherit'] });
			const [line] = await once(createInterface({ input: child.stdout }),
			    'line');
			assert.equal(line, `${id} precious`);
			assert.equal((await c.stats('redeliver')).reserved, 1);
			assert.equal(await c.get('redeliver'), null, 'it is reserved');
			const exited = once(child, 'exit');
			child.kill('SIGKILL');
			await exited;
			const m = await c.reserve('redeliver', { timeoutMs: 10000 });
			assert.ok(m, 'redelivered');
			assert.equal(m.id, id);
			assert.equal(m.text(), 'precious');
			await m.ack();
		} finally {
			await d.stop();
		}
	});
});
