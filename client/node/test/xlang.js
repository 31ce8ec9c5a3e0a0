#!/usr/bin/env node
// The Node client as a command, for other languages' cross-language
// tests: `node xlang.js put|get HOST PORT QUEUE`.  put sends stdin as one
// message; get waits up to 10 s for one and writes its body to stdout,
// byte for byte.
import { readFileSync } from 'node:fs';
import { connect } from '../src/index.js';

const [verb, host, port, queue] = process.argv.slice(2);
const c = await connect({ host, port: Number(port) });
try {
	if (verb === 'put') {
		await c.put(queue, readFileSync(0));
	} else if (verb === 'get') {
		const m = await c.get(queue, { timeoutMs: 10000 });
		if (m === null || m === undefined)
			throw new Error(`no message in ${queue}`);
		process.stdout.write(m.body);
	} else {
		throw new Error('usage: xlang.js put|get HOST PORT QUEUE');
	}
} finally {
	await c.quit();
}
