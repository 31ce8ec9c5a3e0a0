// Worker: take jobs at least once.  A job whose handler throws is given
// back (after 5 s when the server supports NACK delays) and retried;
// a worker killed mid-job has its job delivered to another worker.
//
//   node examples/worker.js jobs
import { Client } from 'sluice';

const queue = process.argv[2] ?? 'jobs';
const client = new Client({
	host: process.env.SLUICE_HOST ?? '127.0.0.1',
	port: Number(process.env.SLUICE_PORT ?? 7470),
	auth: process.env.SLUICE_AUTH,
});

async function handle(body) {
	if (body.length === 0)
		throw new Error('empty job');
	console.log(`done: ${body}`);
}

// Style 1: an async iterator; a message is ACKed when the loop moves on,
// given back when the loop is left by a throw or break.
for await (const msg of client.consume(queue)) {
	try {
		await handle(msg.text());
	} catch (err) {
		console.error(`job ${msg.id} failed: ${err.message}`);
		await msg.nack();
	}
}
// The loop ends when the queue is closed and drained (protocol 1.1).

// Style 2, one job at a time with ACK/NACK done for you:
//   await client.process(queue, (msg) => handle(msg.text()),
//       { timeoutMs: 5000, retryDelayMs: 5000 });
await client.quit();
