// Producer: PUT one message per line of stdin, pipelined, at the pace of
// the queue's consumers (a full `block` queue holds this loop at its
// await; nothing piles up in memory).
//
//   node examples/producer.js jobs < lines.txt
import { createInterface } from 'node:readline';
import { Client } from 'sluice';

const queue = process.argv[2] ?? 'jobs';
const client = new Client({
	host: process.env.SLUICE_HOST ?? '127.0.0.1',
	port: Number(process.env.SLUICE_PORT ?? 7470),
	auth: process.env.SLUICE_AUTH,
});
const producer = client.producer(queue);
for await (const line of createInterface({ input: process.stdin }))
	await producer.put(line);
await producer.flush();
console.error(`${producer.queued} messages queued on ${queue}`);
await client.quit();
