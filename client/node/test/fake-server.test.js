// The client against stand-in servers, for what sluiced cannot show yet
// or on purpose: NOT_LEADER hints, end of stream, a server that answers
// garbage or nothing, TLS.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { once } from 'node:events';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
	Client, NotLeaderError, ProtocolError, ConnectionError,
} from '../src/index.js';
import { startDaemon, fakeServer } from './helpers.js';

describe('stand-in servers', () => {
	let d, real;
	const fakes = [];
	before(async () => {
		d = await startDaemon();
		real = `127.0.0.1:${d.port}`;
	});
	after(async () => {
		for (const f of fakes)
			f.close();
		await d.stop();
	});
	async function fake(answer) {
		const f = await fakeServer(answer);
		fakes.push(f);
		return f;
	}

	it('a command answered NOT_LEADER follows the leader= hint', async () => {
		const follower = await fake(() =>
		    `503 NOT_LEADER leader=${real}\r\n`);
		const c = new Client({ servers: [follower.addr] });
		try {
			const id = await c.put('nl.q', 'via the leader');
			assert.equal(typeof id, 'bigint');
			assert.equal((await c.get('nl.q')).id, id);
		} finally {
			c.destroy();
		}
	});

	it('pipelined commands and a Producer all follow the hint, in order', async () => {
		const follower = await fake(() =>
		    `503 NOT_LEADER leader=${real}\r\n`);
		const c = new Client({ servers: [follower.addr] });
		try {
			const ids = await Promise.all(Array.from({ length: 100 },
			    (_, i) => c.put('nl.many', `m${i}`)));
			for (let i = 1; i < ids.length; i++)
				assert.equal(ids[i], ids[0] + BigInt(i));
			const c2 = new Client({ servers: [follower.addr] });
			const got = [];
			const p = c2.producer('nl.many', { onQueued: (id) => got.push(id) });
			for (let i = 0; i < 100; i++)
				await p.put(`p${i}`);
			await p.flush();
			c2.destroy();
			assert.equal(got.length, 100);
			for (let i = 1; i < got.length; i++)
				assert.equal(got[i], got[0] + BigInt(i));
			assert.equal((await c.stats('nl.many')).depth, 200);
		} finally {
			c.destroy();
		}
	});

	it('with followLeader off, NotLeaderError carries the leader', async () => {
		const follower = await fake(() =>
		    `503 NOT_LEADER leader=${real}\r\n`);
		const c = new Client({ servers: [follower.addr], followLeader: false });
		try {
			const err = await c.ping().catch((e) => e);
			assert.ok(err instanceof NotLeaderError, String(err));
			assert.equal(err.leader, real);
			assert.equal(err.code, 503);
		} finally {
			c.destroy();
		}
	});

	it('servers are tried in turn: a dead one, a member without a hint, the leader', async () => {
		const gone = await fakeServer(() => null);
		const deadAddr = gone.addr;
		gone.close();
		const electing = await fake(() => '503 NOT_LEADER\r\n');
		const c = new Client({ servers: [deadAddr, electing.addr, real] });
		try {
			assert.equal(typeof await c.put('nl.turn', 'x'), 'bigint');
		} finally {
			c.destroy();
		}
	});

	it('redirects are bounded by retryTimeoutMs', async () => {
		let a, b;
		a = await fake(() => `503 NOT_LEADER leader=${b.addr}\r\n`);
		b = await fake(() => `503 NOT_LEADER leader=${a.addr}\r\n`);
		const c = new Client({ servers: [a.addr], retryTimeoutMs: 300 });
		try {
			const err = await c.ping().catch((e) => e);
			assert.ok(err instanceof NotLeaderError, String(err));
			assert.ok([a.addr, b.addr].includes(err.leader), err.leader);
		} finally {
			c.destroy();
		}
	});

	it('consume() follows NOT_LEADER too', async () => {
		const follower = await fake(() =>
		    `503 NOT_LEADER leader=${real}\r\n`);
		const seed = new Client({ port: d.port });
		const id = await seed.put('nl.consume', 'hello');
		seed.destroy();
		const c = new Client({ servers: [follower.addr] });
		try {
			for await (const m of c.consume('nl.consume')) {
				assert.equal(m.id, id);
				break;
			}
		} finally {
			c.destroy();
		}
	});

	it('consume() ends cleanly at 410 CLOSED after draining', async () => {
		let served = 0;
		const closing = await fake((w) => {
			if (w[0] === 'RESERVE') {
				served++;
				return served <= 2 ? `200 MSG ${served} 2\r\nm${served}\r\n` :
				    '410 CLOSED q\r\n';
			}
			if (w[0] === 'ACK')
				return '200 ACKED\r\n';
			return '400 BAD_REQUEST unexpected\r\n';
		});
		const c = new Client({ servers: [closing.addr] });
		try {
			const seen = [];
			for await (const m of c.consume('q'))
				seen.push([m.id, m.text()]);
			assert.deepEqual(seen, [[1n, 'm1'], [2n, 'm2']]);
		} finally {
			c.destroy();
		}
	});

	it('ids survive 2^63-1 as bigint', async () => {
		const big = await fake((w) => w[0] === 'PUT' ?
		    '200 QUEUED 9223372036854775807\r\n' : '400 BAD_REQUEST\r\n');
		const c = new Client({ servers: [big.addr] });
		try {
			assert.equal(await c.put('q', 'x'), 2n ** 63n - 1n);
		} finally {
			c.destroy();
		}
	});

	it('a server speaking something else: ProtocolError', async () => {
		const http = await fake(() => 'HTTP/1.1 400 Bad Request\r\n\r\n');
		const c = new Client({ servers: [http.addr] });
		try {
			const err = await c.ping().catch((e) => e);
			assert.ok(err instanceof ProtocolError, String(err));
		} finally {
			c.destroy();
		}
	});

	it('a TLS handshake that never completes: connectTimeoutMs', async () => {
		const silent = await fake(() => null);
		const c = new Client({ servers: [silent.addr], tls: true,
		    connectTimeoutMs: 100 });
		try {
			const err = await c.ping().catch((e) => e);
			assert.ok(err instanceof ConnectionError, String(err));
			assert.match(err.message, /timed out after 100 ms/);
		} finally {
			c.destroy();
		}
	});

	it('a server that never answers: requestTimeoutMs fails the connection', async () => {
		const mute = await fake(() => null);
		const c = new Client({ servers: [mute.addr], requestTimeoutMs: 100 });
		try {
			const err = await c.ping().catch((e) => e);
			assert.ok(err instanceof ConnectionError, String(err));
			assert.match(err.message, /no reply within 100 ms/);
		} finally {
			c.destroy();
		}
	});
});

describe('TLS', () => {
	let dir, d, proxy, cert;
	const haveOpenssl = spawnSync('openssl', ['version']).status === 0;
	before(async () => {
		if (!haveOpenssl)
			return;
		dir = mkdtempSync(join(tmpdir(), 'sluice-tls-'));
		const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048',
		    '-nodes', '-days', '1', '-subj', '/CN=localhost',
		    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
		    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')]);
		assert.equal(r.status, 0, String(r.stderr));
		cert = readFileSync(join(dir, 'cert.pem'));
		d = await startDaemon();
		/* sluiced does not offer TLS yet: terminate it in front. */
		proxy = tls.createServer({ key: readFileSync(join(dir, 'key.pem')),
		    cert }, (s) => {
			const up = net.connect(d.port, '127.0.0.1');
			s.pipe(up).pipe(s);
			s.on('error', () => up.destroy());
			up.on('error', () => s.destroy());
		});
		proxy.listen(0, '127.0.0.1');
		await once(proxy, 'listening');
	});
	after(async () => {
		proxy?.close();
		await d?.stop();
		if (dir)
			rmSync(dir, { recursive: true, force: true });
	});

	it('the tls option speaks sluice over TLS', { skip: haveOpenssl ? false :
	    'no openssl to make a test certificate' }, async () => {
		const c = new Client({ port: proxy.address().port, tls: { ca: cert } });
		try {
			const id = await c.put('tls.q', 'secret');
			const m = await c.get('tls.q');
			assert.equal(m.id, id);
			assert.equal(m.text(), 'secret');
		} finally {
			c.destroy();
		}
	});

	it('a certificate the client does not trust: ConnectionError', { skip:
	    haveOpenssl ? false : 'no openssl to make a test certificate' },
	    async () => {
		const c = new Client({ port: proxy.address().port, tls: true });
		try {
			const err = await c.ping().catch((e) => e);
			assert.ok(err instanceof ConnectionError, String(err));
		} finally {
			c.destroy();
		}
	});
});
