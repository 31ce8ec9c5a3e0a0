/**
 * shard.js - which group of servers holds a queue: rendezvous hashing.
 *
 * The same function is written in libsluice, the Python client and here,
 * and all three are checked against tests/shard_vectors.json; it must
 * never change, or queues would move between groups:
 *
 *     score(groupKey, queue) = splitmix64Finalizer(
 *         FNV-1a-64(groupKey + "\n" + queue))
 *
 * over the UTF-8 bytes, arithmetic modulo 2^64.  The group with the
 * highest score holds the queue; on a tie the one listed first.  A
 * group's key is its server list exactly as written ("a:7470,b:7470"; a
 * list is joined with commas), or its name when it is written
 * "NAME=a:7470,b:7470" (then its servers may change without moving its
 * queues).  Adding a group moves only the queues whose highest score is
 * now the new group's: about 1/n of them.
 */

const MASK = (1n << 64n) - 1n;
const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;

/**
 * FNV-1a, 64 bits.
 * @param {Uint8Array} bytes
 * @returns {bigint}
 */
export function fnv1a64(bytes) {
	let h = FNV_OFFSET;
	for (const b of bytes)
		h = ((h ^ BigInt(b)) * FNV_PRIME) & MASK;
	return h;
}

/**
 * The finalizer (mixing step) of splitmix64.
 * @param {bigint} z
 * @returns {bigint}
 */
export function splitmix64(z) {
	z ^= z >> 30n;
	z = (z * 0xbf58476d1ce4e5b9n) & MASK;
	z ^= z >> 27n;
	z = (z * 0x94d049bb133111ebn) & MASK;
	z ^= z >> 31n;
	return z;
}

/**
 * The key of a group written "NAME=servers" (NAME) or "servers" (the
 * whole string).
 * @param {string} group
 * @returns {string}
 */
export function groupKey(group) {
	const eq = group.indexOf('=');
	return eq < 0 ? group : group.slice(0, eq);
}

/**
 * The rendezvous score of `queue` on the group `groupKey`.
 * @param {string} groupKey
 * @param {string} queue
 * @returns {bigint}
 */
export function score(groupKey, queue) {
	return splitmix64(fnv1a64(Buffer.from(`${groupKey}\n${queue}`, 'utf8')));
}

/**
 * The index of the group that holds `queue`: the highest score, the
 * first listed on a tie.
 * @param {string[]} groups  as written ("NAME=..." or a server list), or
 *     their keys
 * @param {string} queue
 * @returns {number}
 */
export function pick(groups, queue) {
	if (groups.length === 0)
		throw new RangeError('no groups to choose from');
	let best = 0, bestScore = -1n;
	for (let i = 0; i < groups.length; i++) {
		const s = score(groupKey(groups[i]), queue);
		if (s > bestScore) {
			best = i;
			bestScore = s;
		}
	}
	return best;
}
