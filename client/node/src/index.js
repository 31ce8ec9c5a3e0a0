/**
 * sluice - a Node.js client for the sluice message broker.
 * @module sluice
 */
export { Client, DEFAULT_PORT, parseServer, parseServers } from './client.js';
export { ShardedClient } from './sharded.js';
export * as shard from './shard.js';
export { Message } from './message.js';
export { Producer } from './producer.js';
export {
	SluiceError, BadRequestError, UnauthorizedError, ForbiddenError,
	NoQueueError, NoMessageError, ConflictError, ClosedError, TooLargeError,
	InternalError, FullError, ServerBusyError, ShuttingDownError,
	TooManyReservedError, TooManyQueuesError, NotLeaderError, ProtocolError,
	ConnectionError,
} from './errors.js';
export { ReplyParser } from './protocol.js';

import { Client } from './client.js';

/**
 * Create a client and connect it.
 * @param {import('../index.js').ClientOptions} [options]
 * @returns {Promise<Client>}
 */
export async function connect(options) {
	const c = new Client(options);
	await c.connect();
	return c;
}
