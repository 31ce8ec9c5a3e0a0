/**
 * errors.js - one class per answer a caller may want to catch.
 *
 * The server's three-digit code says what kind of answer it is and the
 * token says which one; callers dispatch with `instanceof`, never by
 * parsing a message string.  Every server error carries `code`, `token`,
 * `args` and `hints` exactly as they came off the wire.
 */

/** Base class of every error this library throws for a server answer. */
export class SluiceError extends Error {
	/**
	 * @param {string} message
	 * @param {{code?: number, token?: string, args?: string[],
	 *          hints?: Record<string, string>}} [reply]
	 */
	constructor(message, reply = {}) {
		super(message);
		this.name = new.target.name;
		/** @type {number} three-digit code, 0 when not from the server */
		this.code = reply.code ?? 0;
		/** @type {string} upper-case token, '' when not from the server */
		this.token = reply.token ?? '';
		/** @type {string[]} */
		this.args = reply.args ?? [];
		/** @type {Record<string, string>} */
		this.hints = reply.hints ?? {};
	}

	/** True for 5xx: the same request may succeed later. */
	get retryable() {
		return this.code >= 500 && this.code < 600;
	}
}

/** 400 BAD_REQUEST: the server could not accept the request as written. */
export class BadRequestError extends SluiceError {}
/** 401 UNAUTHORIZED: no or wrong AUTH token. */
export class UnauthorizedError extends SluiceError {}
/** 403 FORBIDDEN: authenticated, but not allowed to do this. */
export class ForbiddenError extends SluiceError {}

/** 404 NO_QUEUE: the queue does not exist (and was not auto-created). */
export class NoQueueError extends SluiceError {
	constructor(message, reply) {
		super(message, reply);
		/** @type {string} */
		this.queue = this.args[0] ?? '';
	}
}

/** 404 NO_MSG: this connection holds no reservation with that id. */
export class NoMessageError extends SluiceError {
	constructor(message, reply) {
		super(message, reply);
		/** @type {bigint | null} */
		this.id = parseBig(this.args[0]);
	}
}

/** 409 CONFLICT: the queue exists with other settings. */
export class ConflictError extends SluiceError {
	constructor(message, reply) {
		super(message, reply);
		/** @type {string} */
		this.queue = this.args[0] ?? '';
	}
}

/** 410 CLOSED: the queue is closed (and, for a consumer, drained). */
export class ClosedError extends SluiceError {
	constructor(message, reply) {
		super(message, reply);
		/** @type {string} */
		this.queue = this.args[0] ?? '';
	}
}

/** 413 TOO_LARGE: the body could never fit; `limit` is the bound. */
export class TooLargeError extends SluiceError {
	constructor(message, reply) {
		super(message, reply);
		/** @type {number | null} */
		this.limit = parseNum(this.args[0]);
	}
}

/** 500 INTERNAL: a fault of the server's own. */
export class InternalError extends SluiceError {}

/** 503 FULL: the queue is full; `retryAfterMs` is the server's estimate. */
export class FullError extends SluiceError {
	constructor(message, reply) {
		super(message, reply);
		/** @type {string} */
		this.queue = this.args[0] ?? '';
		/** @type {number | null} */
		this.retryAfterMs = parseNum(this.hints.retry_after_ms);
	}
}

/** 503 BUSY: the server is at its connection limit. */
export class ServerBusyError extends SluiceError {}
/** 503 SHUTTING_DOWN: the server is stopping and takes no new messages. */
export class ShuttingDownError extends SluiceError {}
/** 503 TOO_MANY_RESERVED: this connection holds too many reservations. */
export class TooManyReservedError extends SluiceError {}
/** 503 TOO_MANY_QUEUES: the server's queue limit is reached. */
export class TooManyQueuesError extends SluiceError {}

/** 503 NOT_LEADER: another server leads; `leader` is its host:port. */
export class NotLeaderError extends SluiceError {
	constructor(message, reply) {
		super(message, reply);
		/** @type {string | null} "host:port", null while unknown */
		this.leader = this.hints.leader ?? null;
	}
}

/** The server said something this library cannot read. */
export class ProtocolError extends SluiceError {}

/** The connection could not be made, broke, or timed out. */
export class ConnectionError extends SluiceError {
	constructor(message, options) {
		super(message);
		if (options?.cause !== undefined)
			this.cause = options.cause;
	}
}

/* code + token -> class; a known code with an unknown token falls back
 * to the plain class for its code so that new tokens still dispatch. */
const BY_TOKEN = {
	'400 BAD_REQUEST': BadRequestError,
	'401 UNAUTHORIZED': UnauthorizedError,
	'403 FORBIDDEN': ForbiddenError,
	'404 NO_QUEUE': NoQueueError,
	'404 NO_MSG': NoMessageError,
	'409 CONFLICT': ConflictError,
	'410 CLOSED': ClosedError,
	'413 TOO_LARGE': TooLargeError,
	'500 INTERNAL': InternalError,
	'503 FULL': FullError,
	'503 BUSY': ServerBusyError,
	'503 SHUTTING_DOWN': ShuttingDownError,
	'503 TOO_MANY_RESERVED': TooManyReservedError,
	'503 TOO_MANY_QUEUES': TooManyQueuesError,
	'503 NOT_LEADER': NotLeaderError,
};
const BY_CODE = {
	400: BadRequestError,
	401: UnauthorizedError,
	403: ForbiddenError,
	409: ConflictError,
	410: ClosedError,
	413: TooLargeError,
	500: InternalError,
};

/**
 * The error for a 4xx/5xx reply.
 * @param {{code: number, token: string, args: string[],
 *          hints: Record<string, string>, line: string}} reply
 * @returns {SluiceError}
 */
export function errorFromReply(reply) {
	const Cls = BY_TOKEN[`${reply.code} ${reply.token}`] ??
	    BY_CODE[reply.code] ?? SluiceError;
	return new Cls(reply.line, reply);
}

function parseNum(s) {
	if (s === undefined || !/^[0-9]{1,19}$/.test(s))
		return null;
	return Number(s);
}

function parseBig(s) {
	if (s === undefined || !/^[0-9]{1,19}$/.test(s))
		return null;
	return BigInt(s);
}
