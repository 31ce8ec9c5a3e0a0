// Replication groups and sharding: server lists, NOT_LEADER hints
// followed until a deadline, what is sent again after a broken
// connection, and the rendezvous hash that maps queues to groups
// (checked against tests/shard_vectors.json, which libsluice and the
// Python client also reproduce, and against the Python client itself).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { readFileSync, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
	Client, ShardedClient, NotLeaderError, ConnectionError, parseServers,
	shard,
} from '../src/index.js';
import { startDaemon, fakeServer } from './helpers.js';

const VECTORS = fileURLToPath(new URL('../../../tests/shard_vectors.json',
    import.meta.url));
const PY_SRC = fileURLToPath(new URL('../../python/src', import.meta.url));

const G2 = ['127.0.0.1:7471,127.0.0.1:7472,127.0.0.1:7473',
	'127.0.0.1:7481,127.0.0.1:7482,127.0.0.1:7483'];
const G3 = [...G2, '127.0.0.1:7491,127.0.0.1:7492,127.0.0.1:7493'];
const hex = (b) => b.toString(16).padStart(16, '0');

describe('rendezvous hash', () => {
	it('known values', () => {
		assert.equal(shard.fnv1a64(Buffer.from('')), 0xcbf29ce484222325n);
		assert.equal(shard.fnv1a64(Buffer.from('a')), 0xaf63dc4c8601ec8cn);
		assert.equal(shard.fnv1a64(Buffer.from('foobar')),
		    0x85944171f73967e8n);
		assert.equal(shard.splitmix64(0n), 0n);
		assert.equal(shard.score('', ''), 0x8f322bb9678204b8n);
		assert.equal(shard.score('127.0.0.1:7470', 'jobs'),
		    0x29048fa4b5beb584n);
		assert.equal(shard.score(G2[0], 'jobs'), 0xe3d502702a1146d7n);
		assert.equal(shard.pick(G2, 'jobs'), 0);
		assert.equal(shard.pick(G3, 'q1'), 2);
		assert.equal(shard.pick(['h:1', 'h:1'], 'jobs'), 0);
	});

	it('the shared vectors', () => {
		const v = JSON.parse(readFileSync(VECTORS, 'utf8'));
		assert.ok(v.scores.length > 5 && v.picks.length > 50);
		for (const s of v.scores) {
			const b = Buffer.from(`${s.group}\n${s.queue}`);
			assert.equal(hex(shard.fnv1a64(b)), s.fnv1a64, JSON.stringify(s));
			assert.equal(hex(shard.score(s.group, s.queue)), s.score,
			    JSON.stringify(s));
		}
		for (const p of v.picks)
			assert.equal(shard.pick(p.groups, p.queue), p.index,
			    JSON.stringify(p));
	});

	it('two groups, then a third: a third moves, only into it', () => {
		const qs = Array.from({ length: 100 }, (_, i) => `q${i}`);
		const two = qs.map((q) => shard.pick(G2, q));
		const n0 = two.filter((g) => g === 0).length;
		assert.ok(n0 > 20 && n0 < 80, `${n0} of 100 in group 0`);
		const three = qs.map((q) => shard.pick(G3, q));
		const moved = qs.filter((_, i) => two[i] !== three[i]);
		assert.ok(moved.length >= 20 && moved.length <= 47,
		    `${moved.length} moved`);
		for (let i = 0; i < 100; i++)
			if (two[i] !== three[i])
				assert.equal(three[i], 2);
		/* The groups' order does not matter (but for ties). */
		const rev = [...G3].reverse();
		assert.deepEqual(qs.map((q) => 2 - shard.pick(rev, q)), three);
	});

	it('Node and Python put the same queues in the same groups',
	    { skip: existsSync(PY_SRC) ? false : `no Python client at ${PY_SRC}` },
	    () => {
		const groups = ['10.1.0.1:7470,10.1.0.2:7470', 'b:1', 'c:2,d:3',
		    'name=x,e:4'];
		const qs = Array.from({ length: 200 }, (_, i) => `xq.${i * 7919}`);
		const r = spawnSync('python3', ['-c', 'import sys, json; ' +
		    'sys.path.insert(0, sys.argv[1]); from sluice.shard import pick; ' +
		    'g, qs = json.load(sys.stdin); ' +
		    'print(json.dumps([pick(g, q) for q in qs]))', PY_SRC],
		{ input: JSON.stringify([groups, qs]) });
		assert.equal(r.status, 0, String(r.stderr));
		assert.deepEqual(JSON.parse(r.stdout),
		    qs.map((q) => shard.pick(groups, q)));
	});

	it('group keys are the server lists as written', () => {
		assert.deepEqual(parseServers('a:1,b:2'), { key: 'a:1,b:2',
		    servers: [{ host: 'a', port: 1 }, { host: 'b', port: 2 }] });
		assert.equal(parseServers(['a:1', { host: 'b', port: 2 },
		    { host: '::1', port: 3 }]).key, 'a:1,b:2,[::1]:3');
		assert.equal(new Client({ servers: 'x:1, y:2' }).groupKey,
		    'x:1, y:2');
		assert.deepEqual(parseServers('east=a:1,b:2'), { key: 'east',
		    servers: [{ host: 'a', port: 1 }, { host: 'b', port: 2 }] });
		assert.equal(parseServers(['east=a:1', 'b:2']).key, 'east');
		assert.equal(shard.groupKey('east=a:1'), 'east');
		assert.equal(shard.pick(['east=a:1', 'west=b:2'], 'jobs'),
		    shard.pick(['east=c:3', 'west=d:4'], 'jobs'));
		assert.equal(new Client({ port: 9 }).groupKey, '127.0.0.1:9');
		for (const bad of ['', 'a:1,', 'a:x', 'a:0', 'a:70000', ':1', [],
		    '=a:1', 'x='])
			assert.throws(() => new Client({ servers: bad }),
			    /bad|empty group name|want host:port/, JSON.stringify(bad));
		assert.throws(() => new ShardedClient({ groups: ['a:1', 'a:1'] }),
		    /same server list/);
		assert.throws(() => new ShardedClient({ groups: 'a:1,b:2' }),
		    TypeError);
		const s = new ShardedClient({ groups: G3 });
		assert.deepEqual(s.keys, G3);
		assert.equal(s.clientFor('q1'), s.clients[2]);
		assert.throws(() => s.groupFor('bad queue'), /queue/);
	});
});

/* Answers like a member that is not the leader; `leader` may be a
 * function (the hint of the moment, or null). */
function follower(leader, seen) {
	return (w) => {
		seen?.push(w[0]);
		if (w[0] === 'PING')
			return '200 PONG\r\n';
		const hint = typeof leader === 'function' ? leader() : leader;
		return hint ? `503 NOT_LEADER leader=${hint}\r\n` :
		    '503 NOT_LEADER\r\n';
	};
}

/* Breaks each connection after its first request, unanswered: a leader
 * killed at that moment. */
function breaker(seen) {
	return (w, s) => {
		if (!s.destroyed) {
			seen.push(w[0]);
			s.destroy();
		}
		return null;
	};
}

async function deadAddr() {
	const srv = net.createServer();
	srv.listen(0, '127.0.0.1');
	await once(srv, 'listening');
	const a = `127.0.0.1:${srv.address().port}`;
	srv.close();
	await once(srv, 'close');
	return a;
}

describe('a replication group', () => {
	let d, real;
	const fakes = [], clients = [];
	before(async () => {
		d = await startDaemon();
		real = `127.0.0.1:${d.port}`;
	});
	after(async () => {
		for (const c of clients)
			c.destroy();
		for (const f of fakes)
			f.close();
		await d.stop();
	});
	async function fake(answer) {
		const f = await fakeServer(answer);
		fakes.push(f);
		return f;
	}
	function client(o) {
		const c = new Client(o);
		clients.push(c);
		return c;
	}
	const direct = () => d.client();

	it('follows the hint to the leader', async () => {
		const f = await fake(follower(real));
		const c = client({ servers: f.addr });
		const id = await c.put('cl.hint', 'via the hint');
		assert.ok(c.servers.some((s) => s.port === d.port));
		const m = await direct().get('cl.hint');
		assert.equal(m.id, id);
		assert.equal(m.text(), 'via the hint');
	});

	it('goes past a dead server', async () => {
		const c = client({ servers: `${await deadAddr()},${real}` });
		const id = await c.put('cl.dead', 'x');
		assert.equal((await c.get('cl.dead')).id, id);
	});

	it('no leader until the deadline: NotLeaderError', async () => {
		const seen = [];
		const f = await fake(follower(null, seen));
		const c = client({ servers: [f.addr], retryTimeoutMs: 300 });
		const err = await c.put('q', 'x').catch((e) => e);
		assert.ok(err instanceof NotLeaderError, String(err));
		assert.equal(err.leader, null);
		assert.ok(seen.filter((w) => w === 'PUT').length > 2, seen.join());
	});

	it('an election that ends within the deadline is invisible', async () => {
		const seen = [];
		const puts = () => seen.filter((w) => w === 'PUT').length;
		const f = await fake(follower(() => puts() > 3 ? real : null, seen));
		const c = client({ servers: [f.addr] });
		assert.equal(typeof await c.put('cl.elect', 'x'), 'bigint');
		assert.equal(puts(), 4);
	});

	it('BUSY and SHUTTING_DOWN: the next server, when there is one', async () => {
		for (const token of ['BUSY', 'SHUTTING_DOWN']) {
			const seen = [];
			const f = await fake((w) => {
				seen.push(w[0]);
				return `503 ${token}\r\n`;
			});
			const c = client({ servers: [f.addr, real] });
			assert.equal(typeof await c.put('cl.busy', 'x'), 'bigint');
			assert.deepEqual(seen.filter((w) => w === 'PUT'), ['PUT']);
			const one = client({ servers: [f.addr] });
			const err = await one.put('cl.busy', 'x').catch((e) => e);
			assert.equal(err.token, token);
		}
	});

	it('a ShardedClient\'s group of one server fails over too', async () => {
		let puts = 0;
		const f = await fake((w) => w[0] !== 'PUT' ? null :
		    ++puts <= 2 ? '503 BUSY\r\n' : '200 QUEUED 7\r\n');
		const err = await client({ servers: f.addr }).put('q', 'x')
		    .catch((e) => e);
		assert.equal(err.token, 'BUSY');
		const s = new ShardedClient({ groups: [f.addr] });
		try {
			assert.equal(await s.put('q', 'x'), 7n);
		} finally {
			s.destroy();
		}
		assert.equal(puts, 3);
	});

	it('ACK and NACK are not sent elsewhere', async () => {
		const seen = [];
		const f = await fake(follower(real, seen));
		const c = client({ servers: [f.addr] });
		assert.ok(await c.ack(1).catch((e) => e) instanceof NotLeaderError);
		assert.ok(await c.nack(1).catch((e) => e) instanceof NotLeaderError);
		assert.deepEqual(seen, ['ACK', 'NACK']);
	});

	it('a PUT whose connection broke is sent again only with allowDuplicates', async () => {
		const seen = [];
		const b = await fake(breaker(seen));
		const c = client({ servers: [b.addr, real] });
		const err = await c.put('cl.dup', 'maybe').catch((e) => e);
		assert.ok(err instanceof ConnectionError, String(err));
		assert.deepEqual(seen, ['PUT']);
		const c2 = client({ servers: [b.addr, real], allowDuplicates: true });
		const id = await c2.put('cl.dup', 'again');
		assert.deepEqual(seen, ['PUT', 'PUT']);
		assert.equal((await direct().get('cl.dup')).id, id);
	});

	it('GET and RESERVE whose connection broke are never sent again', async () => {
		const seen = [];
		const b = await fake(breaker(seen));
		await direct().put('cl.nodup', 'stays');
		for (const verb of ['get', 'reserve']) {
			const c = client({ servers: [b.addr, real],
			    allowDuplicates: true });
			const err = await c[verb]('cl.nodup').catch((e) => e);
			assert.ok(err instanceof ConnectionError, String(err));
			/* The next command starts at the next server. */
			if (verb === 'reserve')
				assert.equal((await c.get('cl.nodup')).text(), 'stays');
		}
		assert.deepEqual(seen, ['GET', 'RESERVE']);
	});

	it('STATS and CREATE are sent again after a break', async () => {
		const seen = [];
		const b = await fake(breaker(seen));
		const c = client({ servers: [b.addr, real] });
		assert.ok('queues' in await c.stats());
		assert.equal(await c.create('cl.again'), 'created');
		assert.deepEqual(seen, ['STATS']);
	});

	it('pipelined commands on a follower each follow the hint', async () => {
		const f = await fake(follower(real));
		const c = client({ servers: [f.addr] });
		const ids = await Promise.all(Array.from({ length: 50 },
		    (_, i) => c.put('cl.many', `m${i}`)));
		const sorted = [...ids].sort((x, y) => (x < y ? -1 : 1));
		for (let i = 1; i < sorted.length; i++)
			assert.equal(sorted[i], sorted[0] + BigInt(i));
		assert.equal((await c.stats('cl.many')).depth, 50);
	});
});

describe('sharding over two groups', () => {
	let d1, d2;
	before(async () => {
		[d1, d2] = await Promise.all([startDaemon(), startDaemon()]);
	});
	after(async () => {
		await Promise.all([d1.stop(), d2.stop()]);
	});

	it('each of 100 queues lives in exactly one group', async () => {
		const groups = [`127.0.0.1:${d1.port}`, [`127.0.0.1:${d2.port}`]];
		const s = new ShardedClient({ groups });
		try {
			const qs = Array.from({ length: 100 }, (_, i) => `sh.${i}`);
			await Promise.all(qs.map((q, i) => s.put(q, `${i}`)));
			const [st1, st2] = await s.stats();
			let in1 = 0;
			for (const q of qs) {
				const g = s.groupFor(q);
				assert.equal(q in st1.queues, g === 0, q);
				assert.equal(q in st2.queues, g === 1, q);
				in1 += g === 0;
			}
			assert.ok(in1 > 0 && in1 < 100);
			for (const [i, q] of qs.entries()) {
				const m = await s.reserve(q);
				assert.equal(m.text(), `${i}`);
				await m.ack();
				assert.equal((await s.stats(q)).depth, 0);
			}
		} finally {
			s.destroy();
		}
	});
});
