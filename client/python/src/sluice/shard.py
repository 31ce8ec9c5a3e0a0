"""Which group of servers holds a queue: rendezvous hashing.

The same function is written in libsluice, the Node client and here, and
all three are checked against ``tests/shard_vectors.json``; it must never
change, or queues would move between groups:

    score(group_key, queue) = splitmix64_finalizer(
        FNV-1a-64(group_key + "\\n" + queue))

over the UTF-8 bytes, all arithmetic modulo 2**64.  The group with the
highest score holds the queue; on a tie the one listed first.  A group's
key is its server list exactly as the caller wrote it
(``"10.0.0.1:7470,10.0.0.2:7470"``; a list is joined with commas), or
its name when it is written ``"NAME=host:port,..."`` (then its servers
may change without moving its queues).  Every client of a deployment
must write each group the same way; the order of the groups does not
matter (except for ties).

Adding a group moves only the queues whose new highest score is the new
group's: about 1/n of them for n groups, and none between old groups.
"""

from __future__ import annotations

from typing import Sequence

_MASK = (1 << 64) - 1
FNV_OFFSET = 0xcbf29ce484222325
FNV_PRIME = 0x100000001b3


def fnv1a64(data: bytes) -> int:
    """FNV-1a, 64 bits."""
    h = FNV_OFFSET
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & _MASK
    return h


def splitmix64(z: int) -> int:
    """The finalizer (mixing step) of splitmix64."""
    z ^= z >> 30
    z = (z * 0xbf58476d1ce4e5b9) & _MASK
    z ^= z >> 27
    z = (z * 0x94d049bb133111eb) & _MASK
    z ^= z >> 31
    return z


def _utf8(s: str | bytes) -> bytes:
    return s if isinstance(s, bytes) else s.encode("utf-8")


def group_key(group: str) -> str:
    """The key of a group written ``"NAME=servers"`` (NAME) or
    ``"servers"`` (the whole string)."""
    name, eq, _ = group.partition("=")
    return name if eq else group


def score(group_key: str | bytes, queue: str | bytes) -> int:
    """The rendezvous score of ``queue`` on the group ``group_key``."""
    return splitmix64(fnv1a64(_utf8(group_key) + b"\n" + _utf8(queue)))


def pick(groups: Sequence[str], queue: str | bytes) -> int:
    """The index of the group that holds ``queue``: the highest score,
    the first listed on a tie.  ``groups`` as written (``"NAME=..."``
    or a server list), or their keys."""
    if not groups:
        raise ValueError("no groups to choose from")
    q = _utf8(queue)
    best, best_score = 0, -1
    for i, g in enumerate(groups):
        s = splitmix64(fnv1a64(_utf8(group_key(g)) + b"\n" + q))
        if s > best_score:
            best, best_score = i, s
    return best
