#!/usr/bin/env node
// The Node client as a command, for other languages' cross-language
// tests: `node xlang.js put|get HOST PORT QUEUE`.  put sends stdin as one
// message; get waits up to 10 s for one and writes its body to stdout,
// byte for byte.  `node xlang.js pick` reads [groups, queues] as JSON on
// stdin and writes the index of each queue's group (the rendezvous hash),
// as JSON.
import { readFileSync } from 'node:fs';
import { connect, shard } from '../src/index.js';

const [verb, host, port, queue] = process.argv.slice(2);
if (verb === 'pick') {
	const [groups, queues] = JSON.parse(readFileSync(0, 'utf8'));
	process.stdout.write(JSON.stringify(queues.map((q) =>
	    shard.pick(groups, q))) + '\n');
	process.exit(0);
}
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
		throw new Error('usage: xlang.js put|get HOST PORT QUEUE | pick');
	}
} finally {
	await c.quit();
}
