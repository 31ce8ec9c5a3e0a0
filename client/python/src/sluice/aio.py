"""The asyncio client: one connection, pipelined by concurrent awaits."""

from __future__ import annotations

import asyncio
import ssl as _ssl
import time
from collections import deque
from typing import Any, AsyncIterator, Callable, Iterable

from . import protocol as P
from ._conn import (DEFAULT_PORT, Servers, ServerList, backoff,
                    ssl_context)
from .errors import (Closed, ConnectionLost, Empty, NotLeader, ProtocolError,
                     ServerBusy, ShuttingDown,
                     SluiceError, Timeout)
from .protocol import AsyncMessage, Message, Reply

_RECV = 262144
_OUT_FLUSH = 65536


class _Conn:
    """One open connection: writer, the answers awaited in order, and the
    task that reads them."""

    def __init__(self, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter, window: int,
                 addr: tuple[str, int]) -> None:
        self.reader = reader
        self.writer = writer
        self.addr = addr
        self.pending: deque[tuple[asyncio.Future, Callable]] = deque()
        self.window = asyncio.Semaphore(window)
        self.parser = P.Parser()
        self.error: BaseException | None = None
        self.loop = asyncio.get_running_loop()
        self.task = self.loop.create_task(self._read())
        # Requests written in this turn of the event loop, sent together
        # at its end (the transport would make a system call for each).
        self.out = bytearray()
        self.flush_scheduled = False

    def write(self, data: bytes) -> None:
        self.out += data
        if len(self.out) >= _OUT_FLUSH:
            self.flush()
        elif not self.flush_scheduled:
            self.flush_scheduled = True
            self.loop.call_soon(self.flush)

    def flush(self) -> None:
        self.flush_scheduled = False
        if self.out and self.error is None:
            self.writer.write(bytes(self.out))
        self.out.clear()

    async def _read(self) -> None:
        parser = self.parser
        pending = self.pending
        try:
            while True:
                data = await self.reader.read(_RECV)
                if not data:
                    raise ConnectionLost("the server closed the connection")
                parser.feed(data)
                while pending:
                    r = parser.next()
                    if r is None:
                        break
                    fut, decode = pending.popleft()
                    self.window.release()
                    if fut.done():
                        continue
                    try:
                        fut.set_result(decode(r))
                    except SluiceError as e:
                        # Without this task's frames in its traceback:
                        # unittest's assertRaises clears the frames of
                        # the errors it catches, which would finish
                        # this coroutine.
                        fut.set_exception(e.with_traceback(None))
                if parser.buffered() and not pending:
                    raise ProtocolError("answer to no request")
        except asyncio.CancelledError:
            self.fail(ConnectionLost("connection closed by the client"))
        except BaseException as e:
            if isinstance(e, OSError):
                e = ConnectionLost(f"recv: {e}")
            elif not isinstance(e, SluiceError):
                e = ProtocolError(f"reading answers: {e!r}")
            self.fail(e.with_traceback(None))

    def fail(self, err: BaseException) -> None:
        if self.error is None:
            self.error = err
        self.out.clear()
        try:
            self.writer.close()
        except Exception:
            pass
        while self.pending:
            fut, _ = self.pending.popleft()
            self.window.release()
            if not fut.done():
                fut.set_exception(err)
                # Pipelined answers nobody awaits should not be logged.
                fut.exception()

    def close(self) -> None:
        self.fail(ConnectionLost("connection closed by the client"))
        if not self.task.done():
            self.task.cancel()


class AsyncClient:
    """An asyncio sluice client; same parameters as :class:`sluice.Client`.

    Every method is a coroutine.  Concurrent awaits on one client are
    pipelined on its connection (at most ``window`` unanswered; answers
    matched in order), and a write waits while the transport's buffer is
    above its high-water mark, so a producer into a full ``block`` queue
    stays suspended at its ``await`` with flat memory.  A waiting GET or
    RESERVE holds up everything behind it on the connection: give
    independent streams their own clients.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = DEFAULT_PORT, *,
                 servers: Servers | None = None,
                 auth: str | None = None, timeout: float | None = None,
                 connect_timeout: float = 10.0,
                 ssl: bool | _ssl.SSLContext | None = None,
                 server_hostname: str | None = None,
                 window: int = 256, retry_timeout: float = 10.0,
                 allow_duplicates: bool = False) -> None:
        if window < 1:
            raise ValueError("window must be at least 1")
        if retry_timeout < 0:
            raise ValueError("retry_timeout must not be negative")
        self._servers = ServerList(host, port, servers)
        self.retry_timeout = retry_timeout
        self.allow_duplicates = allow_duplicates
        # Fail over (try again elsewhere, or later) on more than
        # NOT_LEADER: with several servers, and in a sharded client.
        self._always_fail_over = False
        self._auth = auth
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._ssl = ssl_context(ssl)
        self._server_hostname = server_hostname
        self.window = window
        self._conn: _Conn | None = None
        self._lock: asyncio.Lock | None = None

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def address(self) -> tuple[str, int] | None:
        """The server this client is connected to, or None."""
        c = self._conn
        return c.addr if c is not None and c.error is None else None

    @property
    def connected(self) -> bool:
        """Whether the client holds an open connection."""
        return self._conn is not None and self._conn.error is None

    async def connect(self) -> None:
        """Connect (and authenticate), trying each server in turn.

        :raises ConnectionLost: when no server could be reached
        :raises Unauthorized: when the token is refused
        """
        if self.connected:
            return
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self.connected:
                return
            errors = []
            for addr in self._servers.order():
                try:
                    kw: dict[str, Any] = {}
                    if self._ssl is not None:
                        kw = {"ssl": self._ssl, "server_hostname":
                              self._server_hostname or addr[0]}
                    r, w = await asyncio.wait_for(
                        asyncio.open_connection(*addr, limit=_RECV, **kw),
                        self.connect_timeout)
                except (OSError, asyncio.TimeoutError) as e:
                    errors.append(f"{addr[0]}:{addr[1]}: {e or 'timeout'}")
                    continue
                self._servers.worked(addr)
                self._conn = _Conn(r, w, self.window, addr)
                if self._auth is not None:
                    try:
                        fut = await self._send(P.encode_line(
                            b"AUTH", self._auth.encode()), P.decode_status)
                        await self._await(fut, 0.0)
                    except SluiceError:
                        c, self._conn = self._conn, None
                        if c is not None:
                            c.close()
                        raise
                return
            raise ConnectionLost("cannot connect: " + "; ".join(errors))

    async def close(self) -> None:
        """Close the connection; requests in flight fail with
        :class:`ConnectionLost`.  The client may be used again."""
        c, self._conn = self._conn, None
        if c is not None:
            c.close()
            try:
                await c.writer.wait_closed()
            except Exception:
                pass

    # ------------------------------------------------------------ I/O

    def _send_nowait(self, data: bytes, decode: Callable[[Reply], Any]
                     ) -> asyncio.Future | None:
        """The fast path of :meth:`_send`: None when it would have to wait
        (not connected, window full, transport above its high-water
        mark)."""
        c = self._conn
        if (c is None or c.error is not None or c.window.locked() or
                c.writer.transport.get_write_buffer_size() > 0):
            return None
        c.window._value -= 1  # acquire() that cannot wait
        fut = c.loop.create_future()
        c.pending.append((fut, decode))
        c.write(data)
        return fut

    async def _send(self, data: bytes, decode: Callable[[Reply], Any]
                    ) -> asyncio.Future:
        """Send one request once the window has room; returns the future
        of its answer.  Waits while the transport's buffer is full."""
        c = self._conn
        if c is None or c.error is not None:
            await self.connect()
            c = self._conn
        await c.window.acquire()
        if c.error is not None:
            c.window.release()
            raise c.error
        fut = c.loop.create_future()
        c.pending.append((fut, decode))
        c.write(data)
        if c.writer.transport.get_write_buffer_size() == 0:
            return fut
        try:
            await c.writer.drain()
        except (ConnectionError, OSError) as e:
            c.fail(ConnectionLost(f"send: {e}"))
        return fut

    async def _await(self, fut: asyncio.Future, wait: float | None) -> Any:
        if fut.done() or self.timeout is None or wait is None:
            return await fut
        try:
            return await asyncio.wait_for(asyncio.shield(fut),
                                          self.timeout + wait)
        except asyncio.TimeoutError:
            c = self._conn
            err = Timeout("no answer within the client's timeout")
            if c is not None:
                c.fail(err)
            raise err from None

    @property
    def group_key(self) -> str:
        """The server list as given: the group's key for sharding."""
        return self._servers.key

    @property
    def _failover(self) -> bool:
        return self._always_fail_over or len(self._servers.addrs) > 1

    @property
    def servers(self) -> list[tuple[str, int]]:
        """The servers this client tries, leaders it was sent to
        included."""
        return list(self._servers.addrs)

    def _drop_now(self) -> None:
        c, self._conn = self._conn, None
        if c is not None:
            c.close()

    def _retire(self, c: "_Conn | None") -> None:
        """Stop sending on ``c`` (a server that is not the leader); close
        it once the requests pipelined on it are answered, since they
        get NOT_LEADER too and follow the hint on their own."""
        if c is None:
            return
        if self._conn is c:
            self._conn = None
        if not c.pending or c.error is not None:
            c.close()
        else:
            c.pending[-1][0].add_done_callback(lambda _: c.close())

    async def _call(self, data: bytes, decode: Callable[[Reply], Any],
                    wait: float | None = 0.0, resend: bool = False,
                    follow: bool = True) -> Any:
        """As :meth:`sluice.Client._call`: NOT_LEADER followed until
        ``retry_timeout``, a broken connection's request sent again only
        when ``resend``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.retry_timeout
        attempt = 0
        while True:
            sent = False
            c = None
            try:
                if not self.connected:
                    await self.connect()
                c = self._conn
                sent = True
                return await self._await(await self._send(data, decode),
                                         wait)
            except NotLeader as e:
                if not follow:
                    raise
                err, hinted = e, bool(e.leader)
                if self._conn is c:
                    self._servers.follow(e.leader)
                self._retire(c)
            except (ServerBusy, ShuttingDown) as e:
                # Refused, so not done: another member may take it.
                if not self._failover:
                    raise
                err, hinted = e, False
                if self._conn is c:
                    self._servers.follow(None)
                self._retire(c)
            except ConnectionLost as e:
                # As in Client._call.
                moved = sent and c is not None and self._conn is c
                if moved:
                    self._retire(c)
                    self._servers.follow(None)
                if not self._failover or (sent and not resend):
                    raise
                err, hinted = e, False
            attempt += 1
            pause = backoff(attempt, hinted, len(self._servers.addrs))
            if loop.time() + pause >= deadline:
                raise err
            if pause:
                await asyncio.sleep(pause)

    # ------------------------------------------------------------ commands

    async def ping(self) -> None:
        """``PING``."""
        await self._call(b"PING\r\n", P.decode_status, resend=True)

    async def auth(self, token: str) -> None:
        """``AUTH``; :raises Unauthorized: wrong token."""
        await self._call(P.encode_line(b"AUTH", token.encode()),
                         P.decode_status, resend=True)

    async def put(self, queue: str, body: bytes | str, *,
                  timeout: float | None = None) -> int | None:
        """``PUT``; as :meth:`sluice.Client.put`.  The await does not end
        while a ``block`` queue is full (unless ``timeout`` runs out)."""
        ms = P.millis(timeout, "timeout")
        return await self._call(P.encode_put(P.queue_bytes(queue),
                                             P.body_bytes(body), ms),
                                P.decode_put,
                                None if ms is None else ms / 1000,
                                resend=self.allow_duplicates)

    async def _take(self, cmd: bytes, queue: str, timeout: float | None,
                    reserved: bool) -> AsyncMessage:
        q = P.queue_bytes(queue)
        decode = P.message_decoder(queue, reserved, AsyncMessage)
        if timeout is not None:
            ms = P.millis(timeout, "timeout")
            msg = await self._call(P.encode_line(cmd, q, b"%d" % ms), decode,
                                   ms / 1000)
        else:
            line = P.encode_line(cmd, q, b"%d" % P.FOREVER_CHUNK_MS)
            while True:
                try:
                    msg = await self._call(line, decode,
                                           P.FOREVER_CHUNK_MS / 1000)
                    break
                except Empty:
                    continue
        msg._client = self
        return msg

    async def get(self, queue: str, *, timeout: float | None = None
                  ) -> AsyncMessage:
        """``GET``; as :meth:`sluice.Client.get`."""
        return await self._take(b"GET", queue, timeout, False)

    async def reserve(self, queue: str, *, timeout: float | None = None,
                      retry_delay: float | None = None) -> AsyncMessage:
        """``RESERVE``; as :meth:`sluice.Client.reserve`.  The message is an
        async context manager: ``async with await client.reserve(q) as
        m:`` ACKs on success and NACKs on an exception; or use
        ``async with client.reserving(q) as m:``."""
        msg = await self._take(b"RESERVE", queue, timeout, True)
        msg.retry_delay = retry_delay
        return msg

    def reserving(self, queue: str, *, timeout: float | None = None,
                  retry_delay: float | None = None) -> "_Reserving":
        """``async with client.reserving("jobs") as msg:`` — RESERVE, then
        ACK when the block ends normally, NACK (after ``retry_delay``
        seconds, when given) when it raises."""
        return _Reserving(self, queue, timeout, retry_delay)

    async def ack(self, id: int | Message) -> None:
        """``ACK``; :raises NoMessage: no such reservation here."""
        if isinstance(id, Message):
            id = id.id
        await self._call(P.encode_line(b"ACK", P.number(id, "id")),
                         P.decode_status, follow=False)

    async def nack(self, id: int | Message, delay: float | None = None
                   ) -> None:
        """``NACK``, optionally delayed ``delay`` seconds (protocol 1.1)."""
        if isinstance(id, Message):
            id = id.id
        words = [b"NACK", P.number(id, "id")]
        if delay is not None:
            words.append(b"%d" % P.millis(delay, "delay"))
        await self._call(P.encode_line(*words), P.decode_status,
                         follow=False)

    async def create(self, queue: str, *, capacity: int | None = None,
                     max_bytes: int | None = None, policy: str | None = None,
                     storage: str | None = None,
                     max_deliveries: int | None = None,
                     dead_letter: str | None = None, **options: Any) -> bool:
        """``CREATE``; as :meth:`sluice.Client.create`."""
        return await self._call(P.encode_create(
            P.queue_bytes(queue), capacity, max_bytes, policy, storage,
            max_deliveries, dead_letter, options), P.decode_create,
            resend=True)

    async def delete(self, queue: str) -> None:
        """``DELETE``; :raises NoQueue: no such queue."""
        await self._call(P.encode_line(b"DELETE", P.queue_bytes(queue)),
                         P.decode_status)

    async def purge(self, queue: str) -> int:
        """``PURGE``: how many ready messages were discarded."""
        return await self._call(P.encode_line(b"PURGE",
                                              P.queue_bytes(queue)),
                                P.decode_purge)

    async def close_queue(self, queue: str) -> None:
        """``CLOSE`` (protocol 1.1); as :meth:`sluice.Client.close_queue`."""
        await self._call(P.encode_line(b"CLOSE", P.queue_bytes(queue)),
                         P.decode_status, resend=True)

    async def stats(self, queue: str | None = None) -> dict:
        """``STATS``: the server's or one queue's counters, as a dict."""
        words = [b"STATS"] if queue is None else [b"STATS",
                                                  P.queue_bytes(queue)]
        return await self._call(P.encode_line(*words), P.decode_stats,
                                resend=True)

    async def quit(self) -> None:
        """``QUIT``, then close."""
        if not self.connected:
            return
        try:
            await self._await(await self._send(b"QUIT\r\n", P.decode_status),
                              0.0)
        finally:
            await self.close()

    async def command(self, *words: str | bytes | int,
                      body: bytes | None = None) -> Reply:
        """Any request, raw answer; as :meth:`sluice.Client.command`."""
        ws = P.encode_words(words)
        if body is not None:
            body = P.body_bytes(body)
            data = P.encode_line(*ws, b"%d" % len(body)) + body + b"\r\n"
        else:
            data = P.encode_line(*ws)
        return await self._call(data, P.decode_raw, None)

    # ------------------------------------------------------------ streams

    def pipeline(self, *, raise_on_error: bool = True) -> "AsyncPipeline":
        """A context for pipelined requests: see :class:`AsyncPipeline`."""
        return AsyncPipeline(self, raise_on_error)

    async def put_many(self, queue: str, bodies: Iterable[bytes | str], *,
                       timeout: float | None = None
                       ) -> AsyncIterator[int | None]:
        """PUT every body pipelined; an async iterator of the ids (None
        when dropped), in order.  Suspends while the window or the
        transport is full."""
        q = P.queue_bytes(queue)
        ms = P.millis(timeout, "timeout")
        wait = None if ms is None else ms / 1000
        inflight: deque[tuple[asyncio.Future, bytes]] = deque()
        window = self.window
        retry = _Retry(self)

        async def head() -> int | None:
            while True:
                fut, data = inflight[0]
                try:
                    # An answer already in needs no trip through the loop.
                    v = (fut.result() if fut.done()
                         else await self._await(fut, wait))
                except (NotLeader, ConnectionLost) as e:
                    await self._put_again(inflight, e, retry)
                    continue
                inflight.popleft()
                retry.attempt = 0
                return v
        for body in bodies:
            if len(inflight) >= window:
                yield await head()
            data = P.encode_put(q, P.body_bytes(body), ms)
            fut = self._send_nowait(data, P.decode_put)
            if fut is None:
                fut = await self._send(data, P.decode_put)
            inflight.append((fut, data))
        while inflight:
            yield await head()

    async def _put_again(self, inflight: deque, err: SluiceError,
                         retry: "_Retry") -> None:
        """As :meth:`sluice.Client._put_again`."""
        dup_ok = self.allow_duplicates and self._failover

        def again(e: BaseException | None) -> bool:
            return isinstance(e, NotLeader) or (
                dup_ok and isinstance(e, ConnectionLost))
        if not again(err):
            raise err
        waiting = [f for f, _ in inflight if not f.done()]
        if waiting:
            await asyncio.wait(waiting)
        self._retire(self._conn)
        self._servers.follow(err.leader if isinstance(err, NotLeader)
                             else None)
        await retry.pause(err, isinstance(err, NotLeader) and
                          bool(err.leader))
        for i, (f, data) in enumerate(inflight):
            e = None if f.cancelled() else f.exception()
            if again(e):
                inflight[i] = (await self._send(data, P.decode_put), data)

    async def consume(self, queue: str, *, reserve: bool = False,
                      prefetch: int = 1, timeout: float | None = None,
                      retry_delay: float | None = None
                      ) -> AsyncIterator[AsyncMessage]:
        """``async for msg in client.consume(q)``; as
        :meth:`sluice.Client.consume`, ending at ``410 CLOSED``."""
        if prefetch < 1:
            raise ValueError("prefetch must be at least 1")
        q = P.queue_bytes(queue)
        cmd = b"RESERVE" if reserve else b"GET"
        now_line = P.encode_line(cmd, q)
        decode = P.message_decoder(queue, reserve, AsyncMessage)
        inflight: deque[tuple[asyncio.Future, float]] = deque()
        closed = False
        flowing = True
        # Requests kept in flight while flowing: back to 1 when the queue
        # runs dry, doubling with each message up to `prefetch`, so a
        # consumer that keeps up with its producer does not send a
        # window of requests to learn the queue is empty each time.
        target = prefetch
        idle_since = time.monotonic()
        retry = _Retry(self)
        try:
            while True:
                if not closed and flowing:
                    while len(inflight) < target:
                        fut = self._send_nowait(now_line, decode)
                        if fut is None:
                            fut = await self._send(now_line, decode)
                        inflight.append((fut, 0.0))
                elif not closed and not inflight:
                    ms = P.FOREVER_CHUNK_MS
                    if timeout is not None:
                        left = timeout - (time.monotonic() - idle_since)
                        if left <= 0:
                            return
                        ms = min(ms, max(1, int(left * 1000)))
                    inflight.append((await self._send(
                        P.encode_line(cmd, q, b"%d" % ms), decode),
                        ms / 1000))
                if not inflight:
                    return
                fut, wait = inflight.popleft()
                try:
                    msg = (fut.result() if fut.done()
                           else await self._await(fut, wait))
                except Empty:
                    retry.attempt = 0
                    flowing = False
                    target = 1
                    continue
                except Closed:
                    closed = True
                    continue
                except NotLeader as e:
                    # Nothing was taken: to the leader, and again.
                    for f, _ in inflight:
                        if f.done() and not f.cancelled():
                            f.exception()
                    inflight.clear()
                    self._drop_now()
                    self._servers.follow(e.leader)
                    await retry.pause(e, bool(e.leader))
                    continue
                retry.attempt = 0
                flowing = True
                if target < prefetch:
                    target = min(prefetch, target * 2)
                msg._client = self
                msg.retry_delay = retry_delay
                idle_since = time.monotonic()
                yield msg
        finally:
            for f, _ in inflight:
                if f.done() and not f.cancelled():
                    f.exception()  # answered, unread: not worth a log line
            if any(not f.done() for f, _ in inflight) or (
                    reserve and inflight):
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None


class _Retry:
    """As sluice.client._Retry, for the asyncio client."""

    def __init__(self, client: AsyncClient) -> None:
        self.client = client
        self.attempt = 0
        self.since = 0.0

    async def pause(self, err: BaseException, hinted: bool) -> None:
        now = time.monotonic()
        if self.attempt == 0:
            self.since = now
        self.attempt += 1
        t = backoff(self.attempt, hinted, len(self.client._servers.addrs))
        if now + t - self.since >= self.client.retry_timeout:
            raise err
        if t:
            await asyncio.sleep(t)


class _Reserving:
    def __init__(self, client: AsyncClient, queue: str,
                 timeout: float | None, retry_delay: float | None) -> None:
        self._args = (client, queue, timeout, retry_delay)
        self._msg: AsyncMessage | None = None

    async def __aenter__(self) -> AsyncMessage:
        c, q, t, d = self._args
        self._msg = await c.reserve(q, timeout=t, retry_delay=d)
        return self._msg

    async def __aexit__(self, et, ev, tb) -> None:
        await self._msg.__aexit__(et, ev, tb)


class AsyncPipeline:
    """Pipelined requests on an :class:`AsyncClient` from one coroutine:
    each method awaits only until its request is sent (window and
    transport permitting) and returns an :class:`asyncio.Future` of the
    answer's value.

    ::

        async with client.pipeline() as p:
            futs = [await p.put("jobs", b) for b in bodies]
        ids = [f.result() for f in futs]

    Leaving the block awaits every answer; with ``raise_on_error``
    (default) it then raises the first error among them (:class:`Empty`
    excepted).
    """

    def __init__(self, client: AsyncClient, raise_on_error: bool) -> None:
        self._c = client
        self._raise = raise_on_error
        self._last: asyncio.Future | None = None
        self._first_error: BaseException | None = None

    async def __aenter__(self) -> "AsyncPipeline":
        return self

    async def __aexit__(self, et, ev, tb) -> None:
        if et is None:
            await self.flush()

    def _seen(self, fut: asyncio.Future) -> None:
        if fut.cancelled():
            return
        e = fut.exception()
        if e is not None and not isinstance(e, Empty) and self._raise and self._first_error is None:
            self._first_error = e

    async def _track(self, send) -> asyncio.Future:
        fut = await send
        fut.add_done_callback(self._seen)
        self._last = fut
        return fut

    async def flush(self) -> None:
        """Await every answer so far; raise the first error (see the
        class)."""
        if self._last is not None:
            try:
                await asyncio.shield(self._last)
            except SluiceError:
                pass
        e, self._first_error = self._first_error, None
        if e is not None:
            raise e

    async def put(self, queue: str, body: bytes | str, *,
                  timeout: float | None = None) -> asyncio.Future:
        """Pipelined :meth:`AsyncClient.put`."""
        ms = P.millis(timeout, "timeout")
        return await self._track(self._c._send(
            P.encode_put(P.queue_bytes(queue), P.body_bytes(body), ms),
            P.decode_put))

    async def get(self, queue: str, *, timeout: float = 0) -> asyncio.Future:
        """Pipelined :meth:`AsyncClient.get`."""
        return await self._take(b"GET", queue, timeout, False)

    async def reserve(self, queue: str, *, timeout: float = 0
                      ) -> asyncio.Future:
        """Pipelined :meth:`AsyncClient.reserve`."""
        return await self._take(b"RESERVE", queue, timeout, True)

    async def _take(self, cmd, queue, timeout, reserved) -> asyncio.Future:
        ms = P.millis(timeout, "timeout")
        dec = P.message_decoder(queue, reserved, AsyncMessage)
        c = self._c

        def decode(r: Reply) -> AsyncMessage:
            m = dec(r)
            m._client = c
            return m
        return await self._track(c._send(
            P.encode_line(cmd, P.queue_bytes(queue), b"%d" % ms), decode))

    async def ack(self, id: int | Message) -> asyncio.Future:
        """Pipelined :meth:`AsyncClient.ack`."""
        if isinstance(id, Message):
            id = id.id
        return await self._track(self._c._send(
            P.encode_line(b"ACK", P.number(id, "id")), P.decode_status))

    async def nack(self, id: int | Message, delay: float | None = None
                   ) -> asyncio.Future:
        """Pipelined :meth:`AsyncClient.nack`."""
        if isinstance(id, Message):
            id = id.id
        words = [b"NACK", P.number(id, "id")]
        if delay is not None:
            words.append(b"%d" % P.millis(delay, "delay"))
        return await self._track(self._c._send(P.encode_line(*words),
                                               P.decode_status))
