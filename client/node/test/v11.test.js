// Protocol 1.1 additions.  Each test first asks the daemon whether it
// knows the feature (a version 1 server answers 400 BAD_REQUEST) and is
// skipped, saying so, when it does not; they run once sluiced has them.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ClosedError, BadRequestError } from '../src/index.js';
import { startDaemon, probe, until } from './helpers.js';

describe('protocol 1.1', () => {
	let d, c, has;
	before(async () => {
		d = await startDaemon();
		c = d.client();
		await c.create('probe.q');
		has = {
			close: (await probe(c, ['CLOSE', 'probe.nothing'])).known,
			/* v1: wrong argument count (400); 1.1: no such id (404) */
			nackDelay: (await probe(c, ['NACK', '999999', '10'])).known,
			storage: (await probe(c, ['CREATE', 'probe.s',
			    'storage=memory'])).known,
			deadLetter: (await probe(c, ['CREATE', 'probe.d',
			    'max_deliveries=1', 'dead_letter=probe.dlq'])).known,
		};
	});
	after(() => d.stop());

	it('CLOSE: PUT gets ClosedError, consume() drains then ends', async (t) => {
		if (!has.close)
			return t.skip('sluiced does not implement CLOSE yet (400)');
		await c.put('v11.close', 'a');
		await c.put('v11.close', 'b');
		await c.closeQueue('v11.close');
		await c.closeQueue('v11.close');	/* again: still 200 */
		const err = await c.put('v11.close', 'c').catch((e) => e);
		assert.ok(err instanceof ClosedError, String(err));
		assert.equal(err.code, 410);
		assert.equal(err.queue, 'v11.close');
		const seen = [];
		for await (const m of c.consume('v11.close'))
			seen.push(m.text());
		assert.deepEqual(seen, ['a', 'b'], 'ended cleanly after draining');
		assert.equal((await c.stats('v11.close')).closed, true);
	});

	it('CLOSE ends a consumer already waiting', async (t) => {
		if (!has.close)
			return t.skip('sluiced does not implement CLOSE yet (400)');
		await c.create('v11.closewait');
		const done = (async () => {
			let n = 0;
			for await (const m of d.client().consume('v11.closewait')) {
				void m;
				n++;
			}
			return n;
		})();
		await until(async () => (await c.stats('v11.closewait'))
		    .waiting_consumers === 1, 'the consumer to wait');
		await c.closeQueue('v11.closewait');
		assert.equal(await done, 0);
	});

	it('NACK with a delay: delayed, then ready again', async (t) => {
		if (!has.nackDelay)
			return t.skip('sluiced does not implement NACK <id> <delay_ms> yet (400)');
		const id = await c.put('v11.delay', 'later');
		const m = await c.reserve('v11.delay');
		/* Long enough for the two checks below on a loaded machine. */
		await m.nack({ delayMs: 3000 });
		const s = await c.stats('v11.delay');
		assert.equal(s.delayed, 1);
		assert.equal(await c.get('v11.delay'), null, 'not ready yet');
		const again = await c.reserve('v11.delay', { timeoutMs: 10000 });
		assert.equal(again.id, id);
		await again.ack();
	});

	it('CREATE storage=memory; STATS shows it', async (t) => {
		if (!has.storage)
			return t.skip('sluiced does not implement storage= yet (400)');
		assert.equal(await c.create('v11.mem', { storage: 'memory' }), 'created');
		assert.equal(await c.create('v11.mem', { storage: 'memory' }), 'exists');
		assert.equal((await c.stats('v11.mem')).storage, 'memory');
		const r = await c.create('v11.disk', { storage: 'disk' }).catch((e) => e);
		assert.ok(r === 'created' || r instanceof BadRequestError, String(r));
	});

	it('max_deliveries + dead_letter: a message NACKed too often moves', async (t) => {
		if (!has.deadLetter)
			return t.skip('sluiced does not implement max_deliveries/dead_letter yet (400)');
		await c.create('v11.src', { maxDeliveries: 1, deadLetter: 'v11.dlq' });
		const id = await c.put('v11.src', 'poison');
		const m = await c.reserve('v11.src');
		await m.nack();
		assert.equal(await c.get('v11.src'), null);
		const dead = await c.get('v11.dlq');
		assert.equal(dead.id, id);
		assert.equal(dead.text(), 'poison');
		assert.equal((await c.stats('v11.src')).dead_lettered, 1);
	});
});
