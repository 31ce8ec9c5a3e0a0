// Pipeline: read queue `from`, transform, write queue `to`.  It runs at
// the pace of `to`'s consumers: when `to` is full, the PUT's await holds
// the loop, so no more is taken from `from` either.  Consuming and
// producing use separate connections (consume() opens its own), as the
// protocol asks of a client that RESERVEs and PUTs into block queues.
//
//   node examples/pipeline.js raw clean
import { Client, FullError } from 'sluice';

const [from = 'raw', to = 'clean'] = process.argv.slice(2);
const client = new Client({
	host: process.env.SLUICE_HOST ?? '127.0.0.1',
	port: Number(process.env.SLUICE_PORT ?? 7470),
	auth: process.env.SLUICE_AUTH,
});
for await (const msg of client.consume(from)) {
	try {
		await client.put(to, msg.text().toUpperCase());
	} catch (err) {
		if (err instanceof FullError)	/* a reject queue: retry later */
			await msg.nack({ delayMs: err.retryAfterMs ?? 1000 });
		else
			throw err;
	}
}
await client.quit();
