// Every error answer, from daemons configured to give it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
	Client, UnauthorizedError, NoQueueError, TooLargeError,
	TooManyReservedError, TooManyQueuesError, ServerBusyError,
	ShuttingDownError, SluiceError,
} from '../src/index.js';
import { startDaemon, until } from './helpers.js';

describe('errors from a configured daemon', () => {
	it('UnauthorizedError without or with a wrong token; the right one works', async () => {
		const d = await startDaemon({ config: { auth_token: 's3cret' } });
		try {
			const anon = d.client();
			await anon.ping();	/* PING needs no AUTH */
			const err = await anon.put('q', 'x').catch((e) => e);
			assert.ok(err instanceof UnauthorizedError, String(err));
			assert.equal(err.code, 401);
			assert.equal(err.retryable, false);
			const wrong = d.client({ auth: 'nope' });
			const err2 = await wrong.ping().catch((e) => e);
			assert.ok(err2 instanceof UnauthorizedError, String(err2));
			const good = d.client({ auth: 's3cret' });
			assert.equal(typeof await good.put('q', 'x'), 'bigint');
			await anon.authenticate('s3cret');
			assert.equal((await anon.get('q')).text(), 'x');
		} finally {
			await d.stop();
		}
	});

	it('NoQueueError when auto-create is off', async () => {
		const d = await startDaemon({ config: { auto_create: false } });
		try {
			const c = d.client();
			for (const op of [() => c.put('ghost', 'x'), () => c.get('ghost'),
			    () => c.reserve('ghost')]) {
				const err = await op().catch((e) => e);
				assert.ok(err instanceof NoQueueError, String(err));
				assert.equal(err.queue, 'ghost');
			}
		} finally {
			await d.stop();
		}
	});

	it('TooLargeError carries the limit; the connection stays usable', async () => {
		const d = await startDaemon({ config: { max_message: 1000 } });
		try {
			const c = d.client();
			const err = await c.put('big', Buffer.alloc(1001)).catch((e) => e);
			assert.ok(err instanceof TooLargeError, String(err));
			assert.equal(err.code, 413);
			assert.equal(err.limit, 1000);
			await c.create('small', { maxBytes: 10 });
			const err2 = await c.put('small', Buffer.alloc(11)).catch((e) => e);
			assert.equal(err2.limit, 10);
			assert.equal(typeof await c.put('big', Buffer.alloc(1000)), 'bigint');
		} finally {
			await d.stop();
		}
	});

	it('TooManyReservedError beyond max_reserved', async () => {
		const d = await startDaemon({ config: { max_reserved: 1 } });
		try {
			const c = d.client();
			await c.put('r', 'a');
			await c.put('r', 'b');
			assert.ok(await c.reserve('r'));
			const err = await c.reserve('r').catch((e) => e);
			assert.ok(err instanceof TooManyReservedError, String(err));
			assert.equal(err.code, 503);
		} finally {
			await d.stop();
		}
	});

	it('TooManyQueuesError beyond max_queues', async () => {
		const d = await startDaemon({ config: { max_queues: 1 } });
		try {
			const c = d.client();
			await c.put('one', 'x');
			const err = await c.put('two', 'x').catch((e) => e);
			assert.ok(err instanceof TooManyQueuesError, String(err));
			const err2 = await c.create('three').catch((e) => e);
			assert.ok(err2 instanceof TooManyQueuesError, String(err2));
		} finally {
			await d.stop();
		}
	});

	it('ServerBusyError beyond max_connections', async () => {
		const d = await startDaemon({ config: { max_connections: 1 } });
		try {
			const first = d.client();
			await first.ping();
			const second = d.client();
			const err = await second.ping().catch((e) => e);
			assert.ok(err instanceof ServerBusyError, String(err));
			assert.equal(err.token, 'BUSY');
			assert.equal(err.retryable, true);
		} finally {
			await d.stop();
		}
	});

	it('ShuttingDownError for PUTs while the daemon drains', async () => {
		const d = await startDaemon({ config: { shutdown_grace_ms: 60000 } });
		try {
			const c = d.client();
			await c.put('drain', 'left');	/* keeps the daemon draining */
			process.kill(d.pid, 'SIGTERM');
			const err = await until(async () => {
				const e = await c.put('drain', 'more').then(() => null,
				    (x) => x);
				return e;
			}, 'the daemon to start draining');
			assert.ok(err instanceof ShuttingDownError, String(err));
			assert.equal(err.code, 503);
			/* consumers still drain */
			assert.equal((await c.get('drain')).text(), 'left');
		} finally {
			await d.stop();
		}
	});

	it('every error is a SluiceError with code and token', async () => {
		const d = await startDaemon();
		try {
			const c = d.client();
			const err = await c.ack(12345).catch((e) => e);
			assert.ok(err instanceof SluiceError);
			assert.equal(err.code, 404);
			assert.equal(err.token, 'NO_MSG');
			assert.match(err.message, /404 NO_MSG 12345/);
		} finally {
			await d.stop();
		}
	});
});
