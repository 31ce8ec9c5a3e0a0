#!/usr/bin/env node
/**
 * sluice-bench - messages per second through sluice with this library:
 * 1 producer + 1 consumer connection, a window of requests in flight on
 * each, every message checked (count, order, size).  With --redis, the
 * same loop with RPUSH/LPOP against Redis through node-redis and/or
 * ioredis (if they can be loaded), in the same sitting.
 *
 *   node bin/sluice-bench.js [-H HOST] [-p PORT] [-a TOKEN] [-n COUNT]
 *       [-s SIZE]... [-w WINDOW] [--reserve] [--redis PORT]
 *       [--redis-from DIR] [--blpop] [--runs N]
 */

import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Client } from '../src/index.js';

const USAGE = `usage: sluice-bench [options]
  -H, --host HOST      sluice server (default 127.0.0.1)
  -p, --port PORT      sluice port (default 7470)
  -a, --auth TOKEN     AUTH token
  -n, --count N        messages per run (default 200000)
  -s, --size BYTES     body size; repeat for several (default 64 and 1024)
  -w, --window N       requests in flight per connection (default 256)
      --reserve        consume with RESERVE+ACK instead of GET
      --runs N         runs per case, the median is printed (default 1)
      --redis PORT     also measure RPUSH/LPOP on Redis at HOST:PORT
      --blpop          Redis consumer uses pipelined BLPOP (waits like a
                       sluice GET with a timeout) instead of LPOP
      --redis-from DIR where node-redis/ioredis are installed
                       (a directory with node_modules; default: cwd)
  -h, --help
`;

let opts;
try {
	opts = parseArgs({
		options: {
			host: { type: 'string', short: 'H', default: '127.0.0.1' },
			port: { type: 'string', short: 'p', default: '7470' },
			auth: { type: 'string', short: 'a' },
			count: { type: 'string', short: 'n', default: '200000' },
			size: { type: 'string', short: 's', multiple: true },
			window: { type: 'string', short: 'w', default: '256' },
			reserve: { type: 'boolean', default: false },
			runs: { type: 'string', default: '1' },
			redis: { type: 'string' },
			'redis-from': { type: 'string', default: process.cwd() },
			blpop: { type: 'boolean', default: false },
			help: { type: 'boolean', short: 'h' },
		},
	}).values;
} catch (err) {
	process.stderr.write(`sluice-bench: ${err.message}\n${USAGE}`);
	process.exit(64);
}
if (opts.help) {
	process.stdout.write(USAGE);
	process.exit(0);
}
function int(name, v, min) {
	const n = Number(v);
	if (!Number.isInteger(n) || n < min) {
		process.stderr.write(`sluice-bench: --${name} wants an integer >= ${min}, got ${v}\n`);
		process.exit(64);
	}
	return n;
}
const N = int('count', opts.count, 1);
const WINDOW = int('window', opts.window, 1);
const RUNS = int('runs', opts.runs, 1);
const SIZES = (opts.size ?? ['64', '1024']).map((s) => int('size', s, 4));
const PORT = int('port', opts.port, 1);

function makeBody(size, i) {
	const b = Buffer.alloc(size, 0x78);
	b.writeUInt32BE(i, 0);
	return b;
}

/* One sluice run: resolves with msgs/s once the consumer has all N. */
async function sluiceRun(size) {
	const base = { host: opts.host, port: PORT, auth: opts.auth,
	    window: WINDOW };
	const prod = new Client(base), cons = new Client(base);
	const queue = `bench.${process.pid}.${size}`;
	await prod.delete(queue).catch(() => {});
	await prod.create(queue);
	const t0 = process.hrtime.bigint();
	const consumed = (async () => {
		let got = 0;
		const it = cons.consume(queue, opts.reserve ?
		    { mode: 'reserve', prefetch: WINDOW } :
		    { mode: 'get', prefetch: WINDOW });
		for await (const m of it) {
			if (m.body.length !== size || m.body.readUInt32BE(0) !== got)
				throw new Error(`message ${got} out of order or cut`);
			if (++got === N)
				break;
		}
	})();
	const p = prod.producer(queue);
	for (let i = 0; i < N; i++)
		await p.put(makeBody(size, i));
	await p.flush();
	await consumed;
	const s = Number(process.hrtime.bigint() - t0) / 1e9;
	await prod.delete(queue);
	await prod.quit();
	await cons.quit();
	return N / s;
}

/* A windowed loop: keep up to WINDOW calls of `op` in flight; replies
 * come in order on one connection, so waiting for the oldest is exact. */
async function windowed(count, op) {
	const ring = new Array(WINDOW);
	let head = 0, n = 0;
	for (let i = 0; i < count; i++) {
		if (n === WINDOW) {
			await ring[head];
			head = (head + 1) % WINDOW;
			n--;
		}
		ring[(head + n) % WINDOW] = op(i);
		n++;
	}
	while (n > 0) {
		await ring[head];
		head = (head + 1) % WINDOW;
		n--;
	}
}

/* Redis clients as {name, connect() -> {rpush, lpop, del, quit}}. */
function redisDrivers() {
	const req = createRequire(join(resolve(opts['redis-from']), 'noop.js'));
	const drivers = [];
	try {
		const redis = req('redis');
		drivers.push({
			name: `node-redis ${req('redis/package.json').version}`,
			async connect() {
				let c = redis.createClient({ socket: { host: opts.host,
				    port: Number(opts.redis) } });
				await c.connect();
				const raw = c;
				if (redis.RESP_TYPES && c.withTypeMapping)
					c = c.withTypeMapping({
						[redis.RESP_TYPES.BLOB_STRING]: Buffer });
				return {
					rpush: (k, v) => c.rPush(k, v),
					lpop: (k) => c.lPop(k),
					blpop: (k) => c.blPop(k, 30).then((r) =>
					    r === null ? null : r.element),
					del: (k) => c.del(k),
					quit: () => raw.quit(),
				};
			},
		});
	} catch { /* not installed */ }
	try {
		const Redis = req('ioredis');
		drivers.push({
			name: `ioredis ${req('ioredis/package.json').version}`,
			async connect() {
				const c = new Redis({ host: opts.host,
				    port: Number(opts.redis), lazyConnect: true });
				await c.connect();
				return {
					rpush: (k, v) => c.rpush(k, v),
					lpop: (k) => c.lpopBuffer(k),
					blpop: (k) => c.blpopBuffer(k, 30).then((r) =>
					    r === null ? null : r[1]),
					del: (k) => c.del(k),
					quit: () => c.quit(),
				};
			},
		});
	} catch { /* not installed */ }
	return drivers;
}

async function redisRun(driver, size) {
	const prod = await driver.connect(), cons = await driver.connect();
	const key = `bench.${process.pid}.${size}`;
	await prod.del(key);
	const t0 = process.hrtime.bigint();
	let got = 0;
	const consumed = (async () => {
		/* LPOP answers nil when the list is empty: ask again. */
		while (got < N) {
			await windowed(Math.min(WINDOW, N - got), () =>
			    (opts.blpop ? cons.blpop(key) : cons.lpop(key)).then((v) => {
				if (v === null)
					return;
				const b = Buffer.isBuffer(v) ? v : Buffer.from(v, 'latin1');
				if (b.length !== size || b.readUInt32BE(0) !== got)
					throw new Error(`message ${got} out of order or cut`);
				got++;
			}));
		}
	})();
	await windowed(N, (i) => prod.rpush(key, makeBody(size, i)));
	await consumed;
	const s = Number(process.hrtime.bigint() - t0) / 1e9;
	await prod.del(key);
	await prod.quit();
	await cons.quit();
	return N / s;
}

function median(xs) {
	const s = [...xs].sort((a, b) => a - b);
	return s[Math.floor(s.length / 2)];
}

function line(what, size, rate) {
	console.log(`${what.padEnd(28)} ${String(size).padStart(5)} B  ` +
	    `${Math.round(rate).toString().padStart(8)} msgs/s  ` +
	    `${(rate * size / 1e6).toFixed(1).padStart(7)} MB/s`);
}

const drivers = opts.redis === undefined ? [] : redisDrivers();
if (opts.redis !== undefined && drivers.length === 0)
	console.log(`(no node-redis or ioredis under ${opts['redis-from']}: ` +
	    'Redis skipped)');
console.log(`${N} messages per run, 1 producer + 1 consumer, window ${WINDOW}` +
    `, consumer ${opts.reserve ? 'RESERVE+ACK' : 'GET'}` +
    `${drivers.length ? ` / ${opts.blpop ? 'BLPOP' : 'LPOP'}` : ''}` +
    `${RUNS > 1 ? `, median of ${RUNS} runs alternating` : ''}`);
try {
	for (const size of SIZES) {
		const rates = { sluice: [] };
		for (const d of drivers)
			rates[d.name] = [];
		/* Alternate the systems run by run, so load shifts hit all. */
		for (let r = 0; r < RUNS; r++) {
			rates.sluice.push(await sluiceRun(size));
			for (const d of drivers)
				rates[d.name].push(await redisRun(d, size));
		}
		line('sluice (this library)', size, median(rates.sluice));
		for (const d of drivers)
			line(`Redis via ${d.name}`, size, median(rates[d.name]));
	}
} catch (err) {
	console.error(`sluice-bench: ${err.message}`);
	process.exit(err.name === 'ConnectionError' ? 69 : 1);
}
