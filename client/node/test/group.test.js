/*
 * A real replication group of three sluiced (conf/README.md's
 * "cluster"): the client, given the three addresses, finds the leader,
 * follows it through a kill -9, and nothing it was told was queued is
 * lost.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { once } from 'node:events';
import { Client } from '../src/index.js';
import { SLUICED, until } from './helpers.js';

/* Ports the kernel hands out now (closed again before the daemons bind). */
async function freePorts(n) {
	const servers = [];
	for (let i = 0; i < n; i++) {
		const s = net.createServer();
		s.listen(0, '127.0.0.1');
		await once(s, 'listening');
		servers.push(s);
	}
	const ports = servers.map((s) => s.address().port);
	await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
	return ports;
}

describe('a replication group', { skip: !existsSync(SLUICED) }, () => {
	const dir = mkdtempSync(join(tmpdir(), 'sluice-node-group-'));
	const nodes = [];
	let members;

	function start(i) {
		const m = members[i];
		const child = spawn(SLUICED, ['-c', join(dir, `n${m.id}.json`)],
		    { stdio: ['ignore', 'ignore', 'ignore'] });
		const reap = () => child.kill('SIGKILL');
		process.once('exit', reap);
		child.once('exit', () => process.removeListener('exit', reap));
		nodes[i] = child;
	}

	before(async () => {
		const p = await freePorts(6);
		members = [1, 2, 3].map((id, i) => ({ id,
		    raft: `127.0.0.1:${p[i]}`, client: `127.0.0.1:${p[3 + i]}` }));
		for (const m of members)
			writeFileSync(join(dir, `n${m.id}.json`), JSON.stringify({
				listen: m.client, data_dir: join(dir, `d${m.id}`),
				cluster: { id: m.id, members,
				    election_timeout_ms: 500,
				    heartbeat_timeout_ms: 50 } }));
		members.forEach((m, i) => start(i));
	});

	after(async () => {
		for (const n of nodes)
			if (n.exitCode === null && n.signalCode === null) {
				n.kill('SIGKILL');
				await once(n, 'exit');
			}
		rmSync(dir, { recursive: true, force: true });
	});

	it('follows the leader through a kill -9 and loses nothing queued', async () => {
		const servers = members.map((m) => m.client).join(',');
		const c = new Client({ servers, retryTimeoutMs: 20000 });
		const queued = [];
		/* The first PUT finds the leader (refused addresses, hints). */
		queued.push(await c.put('g', 'before-1'));
		queued.push(await c.put('g', 'before-2'));
		const leader = await until(async () => {
			for (let i = 0; i < 3; i++) {
				const one = new Client({ servers: members[i].client,
				    retryTimeoutMs: 1000 });
				try {
					const st = await one.stats();
					if (st.role === 'leader')
						return i + 1;
				} catch { /* down or refusing: not it */ }
				finally { one.destroy(); }
			}
			return 0;
		}, 'a leader');
		nodes[leader - 1].kill('SIGKILL');
		await once(nodes[leader - 1], 'exit');
		c.destroy();
		/* A new client, as after a crash of the caller's connection. */
		const d = new Client({ servers, retryTimeoutMs: 20000 });
		queued.push(await d.put('g', 'after-1'));
		assert.ok(queued[2] > queued[1], 'ids keep rising');
		const got = [];
		for (;;) {
			const m = await d.get('g');
			if (m === null)
				break;
			got.push(m.id);
		}
		assert.deepEqual(got, queued);
		d.destroy();
	});
});
