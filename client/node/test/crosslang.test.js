// Cross-language: bodies of every byte value and of sizes up to the
// message limit, written by one client and read back exactly by another.
//
// PEERS lists the other clients.  Each peer has put(d, queue, body) and
// get(d, queue) -> Buffer, run as a separate process.  The Python client
// is reached through its command line (`python3 -m sluice put|get`, run
// from client/python/src); client/python's suite reaches this client
// through test/xlang.js.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startDaemon, cli, SLUICE_CLI } from './helpers.js';

const PY_SRC = fileURLToPath(new URL('../../python/src', import.meta.url));
const PY_MAIN = ['-c', 'import sys; sys.path.insert(0, sys.argv.pop(1)); ' +
    'from sluice.__main__ import main; sys.exit(main())', PY_SRC];

function run(cmd, args, input) {
	const r = spawnSync(cmd, args, { input, maxBuffer: 64 << 20 });
	if (r.status !== 0)
		throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
	return r.stdout;
}

const PEERS = [
	{
		name: 'C CLI',
		skip: existsSync(SLUICE_CLI) ? false :
		    `no C CLI at ${SLUICE_CLI} (set SLUICE_CLI)`,
		put: (d, q, body) => {
			const r = cli(d, ['put', q], body);
			assert.equal(r.status, 0, String(r.stderr));
		},
		get: (d, q) => {
			const r = cli(d, ['get', '-r', '-t', '5000', q]);
			assert.equal(r.status, 0, String(r.stderr));
			return r.stdout;
		},
	},
	{
		name: 'Python',
		skip: existsSync(PY_SRC) ? false : `no Python client at ${PY_SRC}`,
		put: (d, q, body) => run('python3', [...PY_MAIN, 'put', '-H',
		    d.host, '-p', String(d.port), q], body),
		get: (d, q) => run('python3', [...PY_MAIN, 'get', '-H', d.host,
		    '-p', String(d.port), '-t', '10', q]),
	},
];

const LIMIT = 1048576;	/* the daemon's default message limit */
/* Every byte value, in an order that is not just 0..255, repeated. */
function body(size) {
	const b = Buffer.allocUnsafe(size);
	for (let i = 0; i < size; i++)
		b[i] = (i * 167 + (i >> 8)) & 0xff;
	return b;
}
const SIZES = [0, 1, 2, 256, 1000, 65536, LIMIT - 1, LIMIT];
const SPECIAL = [Buffer.from('\r\n'), Buffer.from('\n'), Buffer.from('\0'),
    Buffer.from('PUT x 3\r\nabc\r\n'), Buffer.from('  lead and trail  ')];

describe('cross-language', () => {
	let d, c;
	before(async () => {
		d = await startDaemon();
		c = d.client();
	});
	after(() => d.stop());

	it('one body holds every byte value', () => {
		assert.equal(new Set(body(256)).size, 256);
	});

	for (const peer of PEERS) {
		const cases = [...SIZES.map((n) => [`${n} B`, body(n)]),
		    ...SPECIAL.map((b) => [JSON.stringify(b.toString()), b])];
		it(`Node writes, ${peer.name} reads back exactly`,
		    { skip: peer.skip }, async () => {
			for (const [what, b] of cases) {
				await c.put('xl.n2p', b);
				const got = peer.get(d, 'xl.n2p');
				assert.ok(got.equals(b), `${what}: got ${got.length} bytes`);
			}
		});
		it(`${peer.name} writes, Node reads back exactly`,
		    { skip: peer.skip }, async () => {
			for (const [what, b] of cases) {
				peer.put(d, 'xl.p2n', b);
				const m = await c.get('xl.p2n');
				assert.ok(m, `${what}: nothing queued`);
				assert.ok(m.body.equals(b), `${what}: got ${m.body.length} bytes`);
			}
		});
	}
});
