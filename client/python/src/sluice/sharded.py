"""Clients over several replication groups: each queue lives in exactly
one group, chosen by rendezvous hashing of its name (:mod:`sluice.shard`).
"""

from __future__ import annotations

from typing import Any, AsyncIterator, Iterable, Iterator, Sequence

from . import shard
from ._conn import Servers
from .aio import AsyncClient
from .client import Client
from .protocol import AsyncMessage, Message


def _groups(groups: Sequence[Servers]) -> list[Servers]:
    if isinstance(groups, (str, bytes)):
        raise TypeError("groups must be a list of server lists, e.g. "
                        "['a:7470,b:7470', 'c:7470,d:7470']")
    groups = list(groups)
    if not groups:
        raise ValueError("a sharded client needs at least one group")
    return groups


def _check_keys(keys: list[str]) -> None:
    seen: dict[str, int] = {}
    for i, k in enumerate(keys):
        if k in seen:
            raise ValueError(f"groups {seen[k]} and {i} are the same "
                             f"server list {k!r}")
        seen[k] = i


class _Sharding:
    """What both sharded clients share: the groups' keys and the map."""

    clients: list

    def _setup(self, clients: list) -> None:
        # A group of one server fails over too: it is tried again until
        # retry_timeout, as libsluice's sharded handle does.
        for c in clients:
            c._always_fail_over = True
        self.clients = clients
        self.keys = [c.group_key for c in clients]
        _check_keys(self.keys)

    def group_for(self, queue: str) -> int:
        """The index of the group that holds ``queue``."""
        return shard.pick(self.keys, queue)

    def client_for(self, queue: str):
        """The client of the group that holds ``queue``."""
        return self.clients[shard.pick(self.keys, queue)]


class ShardedClient(_Sharding):
    """A blocking client over several replication groups.

    ::

        c = sluice.ShardedClient(["10.0.0.1:7470,10.0.0.2:7470,10.0.0.3:7470",
                                  "10.0.1.1:7470,10.0.1.2:7470,10.0.1.3:7470"])
        c.put("jobs", b"x")            # to the group that holds "jobs"

    :param groups: each group's servers, as :class:`Client`'s ``servers``
        (``"host:port,host:port"`` or a list).  A group's key for the hash
        is its list exactly as written, so every client of a deployment
        must write each group the same way.
    :param options: passed to each group's :class:`Client` (``auth``,
        ``timeout``, ``retry_timeout``, ``allow_duplicates``, ...)

    One :class:`Client` (one connection) per group, opened on first use.
    ``clients[i]`` is group ``i``'s; :meth:`client_for` gives the one for
    a queue, for what this class does not wrap (``pipeline()``).
    """

    def __init__(self, groups: Sequence[Servers], **options: Any) -> None:
        self._setup([Client(servers=g, **options) for g in _groups(groups)])

    def __enter__(self) -> "ShardedClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every group's connection."""
        for c in self.clients:
            c.close()

    def ping(self) -> None:
        """PING every group."""
        for c in self.clients:
            c.ping()

    def put(self, queue: str, body: bytes | str, **kw: Any) -> int | None:
        """:meth:`Client.put` on the queue's group."""
        return self.client_for(queue).put(queue, body, **kw)

    def get(self, queue: str, **kw: Any) -> Message:
        """:meth:`Client.get` on the queue's group."""
        return self.client_for(queue).get(queue, **kw)

    def reserve(self, queue: str, **kw: Any) -> Message:
        """:meth:`Client.reserve` on the queue's group; the message's
        ``ack()``/``nack()`` go to that group."""
        return self.client_for(queue).reserve(queue, **kw)

    def ack(self, msg: Message) -> None:
        """ACK a reserved message (on the group it came from)."""
        _reserved(msg).ack()

    def nack(self, msg: Message, delay: float | None = None) -> None:
        """NACK a reserved message (on the group it came from)."""
        _reserved(msg).nack(delay)

    def create(self, queue: str, **kw: Any) -> bool:
        """:meth:`Client.create` on the queue's group."""
        return self.client_for(queue).create(queue, **kw)

    def delete(self, queue: str) -> None:
        """:meth:`Client.delete` on the queue's group."""
        self.client_for(queue).delete(queue)

    def purge(self, queue: str) -> int:
        """:meth:`Client.purge` on the queue's group."""
        return self.client_for(queue).purge(queue)

    def close_queue(self, queue: str) -> None:
        """:meth:`Client.close_queue` on the queue's group."""
        self.client_for(queue).close_queue(queue)

    def stats(self, queue: str | None = None) -> Any:
        """One queue's STATS (from its group), or without a queue a list
        of every group's server STATS, in the groups' order."""
        if queue is not None:
            return self.client_for(queue).stats(queue)
        return [c.stats() for c in self.clients]

    def put_many(self, queue: str, bodies: Iterable[bytes | str],
                 **kw: Any) -> Iterator[int | None]:
        """:meth:`Client.put_many` on the queue's group."""
        return self.client_for(queue).put_many(queue, bodies, **kw)

    def consume(self, queue: str, **kw: Any) -> Iterator[Message]:
        """:meth:`Client.consume` on the queue's group."""
        return self.client_for(queue).consume(queue, **kw)


class AsyncShardedClient(_Sharding):
    """:class:`ShardedClient` for asyncio: one :class:`AsyncClient` per
    group; every method is a coroutine (iterators are async)."""

    def __init__(self, groups: Sequence[Servers], **options: Any) -> None:
        self._setup([AsyncClient(servers=g, **options)
                     for g in _groups(groups)])

    async def __aenter__(self) -> "AsyncShardedClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close every group's connection."""
        for c in self.clients:
            await c.close()

    async def ping(self) -> None:
        """PING every group."""
        for c in self.clients:
            await c.ping()

    async def put(self, queue: str, body: bytes | str,
                  **kw: Any) -> int | None:
        return await self.client_for(queue).put(queue, body, **kw)

    async def get(self, queue: str, **kw: Any) -> AsyncMessage:
        return await self.client_for(queue).get(queue, **kw)

    async def reserve(self, queue: str, **kw: Any) -> AsyncMessage:
        return await self.client_for(queue).reserve(queue, **kw)

    async def ack(self, msg: Message) -> None:
        await _reserved(msg).ack()

    async def nack(self, msg: Message, delay: float | None = None) -> None:
        await _reserved(msg).nack(delay)

    async def create(self, queue: str, **kw: Any) -> bool:
        return await self.client_for(queue).create(queue, **kw)

    async def delete(self, queue: str) -> None:
        await self.client_for(queue).delete(queue)

    async def purge(self, queue: str) -> int:
        return await self.client_for(queue).purge(queue)

    async def close_queue(self, queue: str) -> None:
        await self.client_for(queue).close_queue(queue)

    async def stats(self, queue: str | None = None) -> Any:
        if queue is not None:
            return await self.client_for(queue).stats(queue)
        return [await c.stats() for c in self.clients]

    def put_many(self, queue: str, bodies: Iterable[bytes | str],
                 **kw: Any) -> AsyncIterator[int | None]:
        return self.client_for(queue).put_many(queue, bodies, **kw)

    def consume(self, queue: str, **kw: Any) -> AsyncIterator[AsyncMessage]:
        return self.client_for(queue).consume(queue, **kw)


def _reserved(msg: Message) -> Message:
    if not isinstance(msg, Message) or msg._client is None:
        raise TypeError("ack/nack on a sharded client take the Message "
                        "that reserve() returned (its id alone does not "
                        "say which group holds it)")
    return msg
