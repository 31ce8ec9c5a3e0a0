// Type definitions for sluice, the Node.js client of the sluice message
// broker.  Hand-written; they describe src/*.js.

/// <reference types="node" />
import type { ConnectionOptions as TlsConnectionOptions } from 'node:tls';

/** A message body: Buffers and typed arrays as they are, strings as UTF-8. */
export type Body = Buffer | Uint8Array | string;

/** A server address: "host:port", "[v6addr]:port", "host", or an object. */
export type ServerAddress = string | { host?: string; port?: number };

export interface ClientOptions {
	/** Server host (default "127.0.0.1"); ignored when `servers` is given. */
	host?: string;
	/** Server port (default 7470); ignored when `servers` is given. */
	port?: number;
	/**
	 * Servers of one replication group, "host:port,host:port" (optionally
	 * "NAME=host:port,...") or a list, tried in turn; NOT_LEADER hints are
	 * followed. NAME, or else the string as written (a list joined with
	 * commas), is the group's key for sharding.
	 */
	servers?: string | ServerAddress[];
	/** AUTH token sent first on every connection. */
	auth?: string;
	/** TLS: true, or node:tls options (ca, cert, servername...). */
	tls?: boolean | TlsConnectionOptions;
	/** Give up connecting to one server after this long (default 10000; 0: no limit). */
	connectTimeoutMs?: number;
	/**
	 * Fail the connection when a reply is this late (default 0: never).
	 * Added to the server-side timeout of PUT/GET/RESERVE; not applied to
	 * a PUT without timeoutMs, which may wait as long as the queue is full.
	 */
	requestTimeoutMs?: number;
	/** Requests in flight per connection (default 256). */
	window?: number;
	/** Bytes handed to the socket but not yet sent before writing pauses (default 1 MiB). */
	highWaterBytes?: number;
	/** Follow `503 NOT_LEADER leader=host:port` (default true). */
	followLeader?: boolean;
	/**
	 * How long a command keeps trying while refused with NOT_LEADER (or,
	 * with several servers or in a ShardedClient, with BUSY or
	 * SHUTTING_DOWN, or while none can be reached) before the last error
	 * is thrown (default 10000; 0: one try).
	 */
	retryTimeoutMs?: number;
	/**
	 * Send a PUT again (to the new leader) when its connection broke
	 * before the answer: it may then be stored twice (default false:
	 * ConnectionError). GET, RESERVE, ACK, NACK, DELETE, PURGE are never
	 * sent again after a break.
	 */
	allowDuplicates?: boolean;
}

export interface ShardedClientOptions extends Omit<ClientOptions, 'host' | 'port' | 'servers'> {
	/** Each group's servers ("host:port,host:port" or a list); at least one. */
	groups: Array<string | ServerAddress[]>;
}

export type Policy = 'block' | 'reject' | 'drop-oldest' | 'drop-newest';

export interface QueueOptions {
	/** Most messages held, ready plus reserved (0: rendezvous). */
	capacity?: number | bigint;
	/** Most body bytes held. */
	maxBytes?: number | bigint;
	/** What a PUT into a full queue does. */
	policy?: Policy;
	/** Protocol 1.1: 'disk' survives restarts. */
	storage?: 'memory' | 'disk';
	/** Protocol 1.1: deliveries before a returning message is dead-lettered (0: no limit). */
	maxDeliveries?: number | bigint;
	/** Protocol 1.1: where dead messages go. */
	deadLetter?: string;
	/** sluiced extension: reservations come back after this long. */
	leaseMs?: number | bigint;
}

export interface PutOptions {
	/** How long the server may hold the PUT while a block queue is full (absent: no limit; 0: fail at once). */
	timeoutMs?: number | bigint;
}

export interface TakeOptions {
	/** Wait up to this long for a message (absent or 0: do not wait). */
	timeoutMs?: number | bigint;
}

export interface NackOptions {
	/** Protocol 1.1: ready again only after this long. */
	delayMs?: number | bigint;
}

export interface ProducerOptions extends PutOptions {
	/** PUTs of this producer unanswered at once (default: the connection's window). */
	window?: number;
	/** Called in order with each answer: the id, or null when dropped (drop-newest). */
	onQueued?: (id: bigint | null, index: number) => void;
}

export interface ConsumeOptions {
	/** 'reserve' (at least once, default) or 'get' (at most once). */
	mode?: 'reserve' | 'get';
	/** ACK a reserved message the loop body left unsettled when the next one is asked for (default true). */
	autoAck?: boolean;
	/**
	 * Requests in flight (default 1).  'reserve': batches of RESERVE <q> 0,
	 * one waiting RESERVE only after an empty batch; 'get': waiting GETs.
	 */
	prefetch?: number;
	/** End the iteration when nothing arrives within this long (default: wait for ever). */
	waitMs?: number;
}

/** A raw reply, as `Client.send` returns it. */
export interface Reply {
	code: number;
	token: string;
	args: string[];
	hints: Record<string, string>;
	body: Buffer | null;
	line: string;
}

export declare const DEFAULT_PORT: 7470;
export declare function parseServer(s: ServerAddress): { host: string; port: number };
/** Create a client and connect it. */
export declare function connect(options?: ClientOptions): Promise<Client>;

export declare class Message {
	readonly id: bigint;
	readonly body: Buffer;
	readonly queue: string;
	/** True once ack() or nack() was called (always true for GET messages). */
	readonly settled: boolean;
	/** True for a RESERVEd message. */
	readonly reserved: boolean;
	/** The body as UTF-8. */
	text(): string;
	/** The body parsed as JSON. */
	json(): unknown;
	/** ACK on the connection that holds the reservation. */
	ack(): Promise<void>;
	/** NACK, optionally with a delay (protocol 1.1). */
	nack(options?: NackOptions): Promise<void>;
}

export declare class Producer {
	readonly queue: string;
	/** PUTs written. */
	readonly sent: number;
	/** PUTs answered 200 QUEUED. */
	readonly queued: number;
	/** PUTs answered 202 DROPPED. */
	readonly dropped: number;
	/** PUTs written and not yet answered. */
	readonly pending: number;
	/** The first failure; thrown by every later put() and by flush(). */
	readonly error: Error | null;
	/** Resolves once the PUT is written; waits while the window or the socket is full. */
	put(body: Body): Promise<void>;
	/** True while a put() waits for room (window or socket full). */
	readonly stalled: boolean;
	/** Waits for every answer; throws the first failure. */
	flush(): Promise<void>;
}

export declare class Client {
	constructor(options?: ClientOptions);
	/** The server list as given: the group's key for sharding. */
	readonly groupKey: string;
	/** The servers tried, leaders the client was sent to included. */
	readonly servers: Array<{ host: string; port: number }>;
	/** Connect now rather than at the first command. */
	connect(): Promise<void>;
	ping(): Promise<void>;
	/** AUTH on the command connection (and on every later connection). */
	authenticate(token: string): Promise<void>;
	/** PUT; the id, or null when a drop-newest queue dropped it. */
	put(queue: string, body: Body, options?: PutOptions): Promise<bigint | null>;
	/** GET (at most once); null when empty. */
	get(queue: string, options?: TakeOptions): Promise<Message | null>;
	/** RESERVE (at least once) on the command connection; null when empty. */
	reserve(queue: string, options?: TakeOptions): Promise<Message | null>;
	/** ACK a message reserved on the command connection. */
	ack(id: bigint | number): Promise<void>;
	/** NACK a message reserved on the command connection. */
	nack(id: bigint | number, options?: NackOptions): Promise<void>;
	create(queue: string, options?: QueueOptions): Promise<'created' | 'exists'>;
	delete(queue: string): Promise<void>;
	/** The number of ready messages discarded. */
	purge(queue: string): Promise<number>;
	/** CLOSE (protocol 1.1): no more PUTs; consumers drain, then end. */
	closeQueue(queue: string): Promise<void>;
	/** One queue's STATS object, or the server's when no queue is named. */
	stats(queue?: string): Promise<Record<string, any>>;
	/** Any request, its raw reply unchecked. */
	send(words: string[], body?: Body): Promise<Reply>;
	/** A pipelined producer with a bounded window. */
	producer(queue: string, options?: ProducerOptions): Producer;
	/** An async iterator over a queue's messages, on its own connection. */
	consume(queue: string, options?: ConsumeOptions): AsyncIterableIterator<Message>;
	/** RESERVE, run handler, ACK on success, NACK (after retryDelayMs) on a throw. */
	process<T>(queue: string, handler: (msg: Message) => T | Promise<T>,
	    options?: { timeoutMs?: number; retryDelayMs?: number }):
	    Promise<{ message: Message; result: T } | null>;
	/** QUIT after earlier answers arrive, then close. */
	quit(): Promise<void>;
	/** Close at once. */
	destroy(): void;
}

/** A client over several replication groups; each queue lives in one. */
export declare class ShardedClient {
	constructor(options: ShardedClientOptions);
	/** Group i's client and key. */
	readonly clients: Client[];
	readonly keys: string[];
	/** The index of the group that holds the queue. */
	groupFor(queue: string): number;
	/** The client of the group that holds the queue. */
	clientFor(queue: string): Client;
	connect(): Promise<void>;
	ping(): Promise<void>;
	put(queue: string, body: Body, options?: { timeoutMs?: number }): Promise<bigint | null>;
	get(queue: string, options?: { timeoutMs?: number }): Promise<Message | null>;
	reserve(queue: string, options?: { timeoutMs?: number }): Promise<Message | null>;
	create(queue: string, options?: QueueOptions): Promise<'created' | 'exists'>;
	delete(queue: string): Promise<void>;
	purge(queue: string): Promise<number>;
	closeQueue(queue: string): Promise<void>;
	/** One queue's STATS, or every group's server STATS in order. */
	stats(): Promise<Array<Record<string, any>>>;
	stats(queue: string): Promise<Record<string, any>>;
	producer(queue: string, options?: ProducerOptions): Producer;
	consume(queue: string, options?: ConsumeOptions): AsyncIterableIterator<Message>;
	process<T>(queue: string, handler: (msg: Message) => T | Promise<T>,
	    options?: { timeoutMs?: number; retryDelayMs?: number }):
	    Promise<{ message: Message; result: T } | null>;
	quit(): Promise<void>;
	destroy(): void;
}

/** Rendezvous hashing of queues onto groups (the same in every sluice client). */
export declare const shard: {
	/** NAME of "NAME=servers", else the whole string. */
	groupKey(group: string): string;
	fnv1a64(bytes: Uint8Array): bigint;
	splitmix64(z: bigint): bigint;
	/** splitmix64(fnv1a64(groupKey + "\n" + queue)) */
	score(groupKey: string, queue: string): bigint;
	/** The index of the highest score; the first on a tie (groups as written, or keys). */
	pick(groups: string[], queue: string): number;
};

/** A group's servers and key from "host:port,host:port" or a list. */
export declare function parseServers(servers: string | ServerAddress[]):
	{ servers: Array<{ host: string; port: number }>; key: string };

export declare class SluiceError extends Error {
	/** Three-digit code (0 when not from the server). */
	readonly code: number;
	/** Upper-case token ('' when not from the server). */
	readonly token: string;
	readonly args: string[];
	readonly hints: Record<string, string>;
	/** True for 5xx: the same request may succeed later. */
	readonly retryable: boolean;
}
export declare class BadRequestError extends SluiceError {}
export declare class UnauthorizedError extends SluiceError {}
export declare class ForbiddenError extends SluiceError {}
export declare class NoQueueError extends SluiceError { readonly queue: string; }
export declare class NoMessageError extends SluiceError { readonly id: bigint | null; }
export declare class ConflictError extends SluiceError { readonly queue: string; }
export declare class ClosedError extends SluiceError { readonly queue: string; }
export declare class TooLargeError extends SluiceError { readonly limit: number | null; }
export declare class InternalError extends SluiceError {}
export declare class FullError extends SluiceError {
	readonly queue: string;
	/** The server's estimate of when there will be room; null without the hint. */
	readonly retryAfterMs: number | null;
	/** For a Producer's failure: which PUT (0-based). */
	readonly index?: number;
}
export declare class ServerBusyError extends SluiceError {}
export declare class ShuttingDownError extends SluiceError {}
export declare class TooManyReservedError extends SluiceError {}
export declare class TooManyQueuesError extends SluiceError {}
export declare class NotLeaderError extends SluiceError {
	/** "host:port" of the leader, null while an election is under way. */
	readonly leader: string | null;
}
export declare class ProtocolError extends SluiceError {}
export declare class ConnectionError extends SluiceError {
	/** For a failed connect over several servers: each server's error. */
	readonly errors?: Error[];
	/** True when the request was never written (nothing can have been done). */
	readonly notSent?: boolean;
}

/** The reply parser, for tools that read sluice traces. */
export declare class ReplyParser {
	constructor(onReply: (reply: Reply) => void);
	feed(chunk: Buffer): void;
}
