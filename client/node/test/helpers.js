/**
 * helpers.js - start the real sluiced for a test file, as tests/harness.c
 * does: `-l 127.0.0.1 -p 0`, then read its log until it says
 * "listening on ADDR:PORT".
 */

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { once } from 'node:events';
import net from 'node:net';
import { Client } from '../src/index.js';

const here = dirname(fileURLToPath(import.meta.url));
/** The daemon under test: $SLUICED, or the tree's build. */
export const SLUICED = process.env.SLUICED ??
    join(here, '../../../build/daemon/sluiced');
/** The C command-line client: $SLUICE_CLI, or the tree's build. */
export const SLUICE_CLI = process.env.SLUICE_CLI ??
    join(here, '../../../build/client/sluice');

/**
 * Start sluiced on an ephemeral port.
 * @param {{config?: object, args?: string[]}} [o]  a JSON config to pass
 *     with -c, extra flags
 * @returns {Promise<{host: string, port: number, pid: number,
 *     log: () => string, stop: (sig?: string) => Promise<number|null>,
 *     client: (o?: object) => Client, dir: string}>}
 */
export async function startDaemon(o = {}) {
	if (!existsSync(SLUICED))
		throw new Error(`no daemon at ${SLUICED}: build it or set SLUICED`);
	const dir = mkdtempSync(join(tmpdir(), 'sluice-node-'));
	const args = ['-l', '127.0.0.1', '-p', '0', ...(o.args ?? [])];
	if (o.config !== undefined) {
		const cfg = { ...o.config };
		if (cfg.auth_token !== undefined) {
			writeFileSync(join(dir, 'token'), cfg.auth_token + '\n');
			delete cfg.auth_token;
			cfg.auth_token_file = join(dir, 'token');
		}
		writeFileSync(join(dir, 'sluiced.json'), JSON.stringify(cfg));
		args.push('-c', join(dir, 'sluiced.json'));
	}
	const child = spawn(SLUICED, args, { stdio: ['ignore', 'ignore', 'pipe'] });
	/* A test process that dies takes its daemon with it. */
	const reap = () => child.kill('SIGKILL');
	process.once('exit', reap);
	child.once('exit', () => process.removeListener('exit', reap));
	let log = '';
	const port = await new Promise((resolve, reject) => {
		child.stderr.setEncoding('utf8');
		child.stderr.on('data', (d) => {
			log += d;
			const m = /listening on [^\s]*:(\d+)/.exec(log);
			if (m)
				resolve(Number(m[1]));
		});
		child.once('exit', (code) => reject(new Error(
		    `sluiced exited (${code}) before listening:\n${log}`)));
		child.once('error', reject);
	});
	const clients = [];
	let exited = null;
	child.once('exit', (code, sig) => { exited = code ?? sig; });
	return {
		host: '127.0.0.1', port, pid: child.pid, dir, child,
		log: () => log,
		client(opts = {}) {
			const c = new Client({ host: '127.0.0.1', port, ...opts });
			clients.push(c);
			return c;
		},
		async stop(sig = 'SIGKILL') {
			for (const c of clients)
				c.destroy();
			if (exited === null && child.exitCode === null) {
				const done = once(child, 'exit');
				child.kill(sig);
				await done;
			}
			rmSync(dir, { recursive: true, force: true });
			return exited;
		},
	};
}

/**
 * Poll `fn` until it returns a truthy value, at most `tries` times
 * `everyMs` apart: for states the server only shows through STATS.
 * @template T
 * @param {() => Promise<T>} fn
 * @param {string} what  for the failure message
 * @returns {Promise<T>}
 */
export async function until(fn, what, tries = 500, everyMs = 10) {
	for (let i = 0; i < tries; i++) {
		const v = await fn();
		if (v)
			return v;
		await new Promise((r) => setTimeout(r, everyMs));
	}
	throw new Error(`timed out waiting for ${what}`);
}

/**
 * Does the daemon know a command or option?  Sends `words` and reports
 * whether the answer is anything but a 400 (which is how a server that
 * does not know it answers).
 */
export async function probe(client, words) {
	const r = await client.send(words);
	return { known: r.code !== 400, reply: r };
}

/** Run the C CLI against the daemon; returns {status, stdout, stderr}. */
export function cli(d, args, input) {
	const r = spawnSync(SLUICE_CLI, ['-H', d.host, '-p', String(d.port),
	    ...args], { input, maxBuffer: 64 << 20 });
	return r;
}

/*
 * A server that hands each request (line words, and a PUT's body) to
 * `answer`, which returns the reply text or null for none.
 */
export async function fakeServer(answer) {
	const sockets = new Set();
	const srv = net.createServer((s) => {
		sockets.add(s);
		let buf = Buffer.alloc(0);
		s.on('error', () => {});
		s.on('data', (d) => {
			buf = Buffer.concat([buf, d]);
			for (;;) {
				const nl = buf.indexOf(10);
				if (nl < 0)
					return;
				const words = buf.subarray(0, nl).toString('latin1').trim()
				    .split(/ +/);
				let end = nl + 1;
				if (words[0] === 'PUT') {
					end += Number(words[2]) + 2;
					if (buf.length < end)
						return;
				}
				buf = buf.subarray(end);
				const r = answer(words, s);
				if (r !== null)
					s.write(r);
			}
		});
	});
	srv.listen(0, '127.0.0.1');
	await once(srv, 'listening');
	return {
		port: srv.address().port,
		addr: `127.0.0.1:${srv.address().port}`,
		close() {
			for (const s of sockets)
				s.destroy();
			srv.close();
		},
	};
}

