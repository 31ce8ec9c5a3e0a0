"""The blocking client: one TCP (or TLS) connection, pipelined."""

from __future__ import annotations

import select
import socket
import ssl as _ssl
import time
from collections import deque
from typing import Any, Callable, Iterable, Iterator

from . import protocol as P
from ._conn import (DEFAULT_PORT, Servers, ServerList, backoff,
                    ssl_context)
from .errors import (Closed, ConnectionLost, Empty, NotLeader, ProtocolError,
                     ServerBusy, ShuttingDown,
                     ServerError, SluiceError, Timeout)
from .protocol import Message, Reply

# Requests are sent once this much is queued, and the caller waits
# while this much is unsent: the write side is bounded.
_OUT_FLUSH = 65536
_RECV = 262144
_POLL_IN = select.POLLIN | select.POLLPRI


class Pending:
    """The answer to a pipelined request, once it has come.

    ``result()`` waits for it, then returns the command's value or raises
    its error; ``done`` says whether it has come.
    """

    __slots__ = ("_client", "_decode", "_value", "_error", "done", "wait")

    def __init__(self, client: "Client", decode: Callable[[Reply], Any],
                 wait: float | None) -> None:
        self._client = client
        self._decode = decode
        self._value: Any = None
        self._error: BaseException | None = None
        self.done = False
        self.wait = wait

    def _resolve(self, r: Reply) -> None:
        try:
            self._value = self._decode(r)
        except SluiceError as e:
            self._error = e.with_traceback(None)
        self.done = True

    def _fail(self, e: BaseException) -> None:
        self._error = e
        self.done = True

    def result(self) -> Any:
        """The value of the answer (waiting for it); raises its error."""
        if not self.done:
            self._client._pump(lambda: self.done)
        if self._error is not None:
            raise self._error
        return self._value

    def exception(self) -> BaseException | None:
        """The error of the answer (waiting for it), or None."""
        if not self.done:
            self._client._pump(lambda: self.done)
        return self._error


class Client:
    """A blocking sluice client.

    :param host: server host (default ``127.0.0.1``)
    :param port: server port (default 7470)
    :param servers: instead of host/port, the servers of one
        replication group: ``"host:port,host:port"`` (optionally named,
        ``"NAME=host:port,..."``) or a list of ``"host:port"`` or
        ``(host, port)``, tried in turn; a ``503 NOT_LEADER`` answer's
        ``leader=`` hint is followed
    :param retry_timeout: seconds a call keeps trying while it is
        refused with ``503 NOT_LEADER`` (or, with several servers or in a
        sharded client, with ``503 BUSY`` or ``SHUTTING_DOWN``, or none
        can be reached); then
        the last error is raised (:class:`NotLeader` with its ``leader``,
        or :class:`ConnectionLost`...).  0: one try.
    :param allow_duplicates: a PUT whose connection broke before its
        answer is sent again (to the new leader): it may then be stored
        twice.  Default False: :class:`ConnectionLost` is raised, and the
        PUT may or may not have been stored.  GET, RESERVE, ACK, NACK,
        DELETE and PURGE are never sent again after a break; PING, AUTH,
        STATS, CREATE and CLOSE always may be.
    :param auth: token sent with ``AUTH`` on every (re)connection
    :param timeout: seconds a call may wait on the network beyond what
        the request itself asks the server to wait (a GET's or RESERVE's
        wait, a PUT's timeout; a PUT without one may wait for room
        forever); None (default): no limit.  On expiry the connection is
        closed and :class:`Timeout` raised.
    :param connect_timeout: seconds to connect (and TLS handshake)
    :param ssl: True or an :class:`ssl.SSLContext` to speak TLS
    :param server_hostname: the name TLS verifies (default: the host)
    :param window: requests in flight at most when pipelining (>= 1)

    The client connects on first use (or ``connect()``) and reconnects on
    the first call after the connection was lost; reservations do not
    survive a reconnection (the server gives them back).  One client is
    one connection: use it from one thread at a time, and use separate
    clients for streams that wait independently (a waiting GET holds up
    every request behind it on its connection).
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
        self._sock: socket.socket | None = None
        self._parser = P.Parser()
        self._out = bytearray()
        self._pending: deque[Pending] = deque()
        self._write_blocked = False
        self.address: tuple[str, int] | None = None
        """The server this client is connected to, or None."""

    # ------------------------------------------------------------ lifecycle

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        sock = getattr(self, "_sock", None)
        if sock is not None:
            try:
                sock.close()
            except Exception:
                pass

    @property
    def connected(self) -> bool:
        """Whether the client holds an open connection."""
        return self._sock is not None

    def connect(self) -> None:
        """Connect (and authenticate) now, trying each server in turn.

        :raises ConnectionLost: when no server could be reached
        :raises Unauthorized: when the token is refused
        """
        if self._sock is not None:
            return
        errors = []
        for addr in self._servers.order():
            try:
                self._open(addr)
            except OSError as e:
                errors.append(f"{addr[0]}:{addr[1]}: {e}")
                continue
            self._servers.worked(addr)
            if self._auth is not None:
                try:
                    self._wait(self._send(P.encode_line(
                        b"AUTH", self._auth.encode()), P.decode_status, 0.0))
                except SluiceError as e:
                    # Not half connected: the next call tries again.
                    self._drop(ConnectionLost(f"AUTH failed: {e}"))
                    raise
            return
        raise ConnectionLost("cannot connect: " + "; ".join(errors))

    def _open(self, addr: tuple[str, int]) -> None:
        sock = socket.create_connection(addr, timeout=self.connect_timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._ssl is not None:
                sock = self._ssl.wrap_socket(
                    sock, server_hostname=self._server_hostname or addr[0])
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        self.address = addr
        self._poll = select.poll()
        self._poll.register(sock, _POLL_IN)
        self._poll_mask = _POLL_IN
        self._parser = P.Parser()
        self._out = bytearray()
        self._pending = deque()

    def close(self) -> None:
        """Close the connection; requests in flight fail with
        :class:`ConnectionLost`.  The client may be used again."""
        self._drop(ConnectionLost("connection closed by the client"))

    def _drop(self, err: BaseException) -> None:
        sock, self._sock = self._sock, None
        self.address = None
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass
        pending, self._pending = self._pending, deque()
        for p in pending:
            p._fail(err)
        self._out = bytearray()

    # ------------------------------------------------------------ I/O

    def _send(self, data: bytes, decode: Callable[[Reply], Any],
              wait: float | None) -> Pending:
        """Queue one request; waits while the window or the output is full."""
        if self._sock is None:
            self.connect()
        if len(self._pending) >= self.window:
            self._pump(lambda: len(self._pending) < self.window)
        p = Pending(self, decode, wait)
        self._pending.append(p)
        self._out += data
        if len(self._out) >= _OUT_FLUSH:
            self._pump(lambda: len(self._out) < _OUT_FLUSH)
        return p

    def _wait(self, p: Pending) -> Any:
        if not p.done:
            self._pump(lambda: p.done)
        return p.result()

    def _io_timeout(self) -> float | None:
        if self.timeout is None:
            return None
        longest = 0.0
        for p in self._pending:
            if p.wait is None:
                return None
            longest = max(longest, p.wait)
        return self.timeout + longest

    def _pump(self, until: Callable[[], bool]) -> None:
        """Write queued requests and read answers until ``until()``."""
        parser = self._parser
        while not until():
            sock = self._sock
            if sock is None:
                raise ConnectionLost("not connected")
            # Answers already buffered first.
            progressed = False
            while self._pending:
                try:
                    r = parser.next()
                except ProtocolError as e:
                    self._drop(e)
                    raise
                if r is None:
                    break
                self._pending.popleft()._resolve(r)
                progressed = True
                if not self._pending and parser.buffered():
                    e = ProtocolError("answer to no request")
                    self._drop(e)
                    raise e
            if progressed:
                continue
            if parser.buffered() and not self._pending:
                e = ProtocolError("answer to no request")
                self._drop(e)
                raise e
            tls_ready = isinstance(sock, _ssl.SSLSocket) and sock.pending()
            if tls_ready:
                readable, writable = True, False
            else:
                # poll(), not select(): any descriptor number works.
                mask = _POLL_IN | select.POLLOUT if self._out else _POLL_IN
                if mask != self._poll_mask:
                    self._poll.modify(sock, mask)
                    self._poll_mask = mask
                self._write_blocked = bool(self._out)
                t = self._io_timeout()
                try:
                    events = self._poll.poll(None if t is None
                                             else int(t * 1000) + 1)
                except InterruptedError:
                    continue
                self._write_blocked = False
                if not events:
                    e = Timeout("no answer within the client's timeout")
                    self._drop(e)
                    raise e
                ev = events[0][1]
                readable = bool(ev & (_POLL_IN | select.POLLHUP |
                                      select.POLLERR))
                writable = bool(ev & select.POLLOUT)
            if writable and self._out:
                try:
                    n = sock.send(self._out)
                except (BlockingIOError, _ssl.SSLWantWriteError,
                        _ssl.SSLWantReadError):
                    n = 0
                except OSError as e:
                    if not readable:
                        err = ConnectionLost(f"send: {e}")
                        self._drop(err)
                        raise err from None
                    n = 0
                if n:
                    del self._out[:n]
            if readable:
                try:
                    data = sock.recv(_RECV)
                except (BlockingIOError, _ssl.SSLWantReadError,
                        _ssl.SSLWantWriteError):
                    continue
                except OSError as e:
                    err = ConnectionLost(f"recv: {e}")
                    self._drop(err)
                    raise err from None
                if not data:
                    err = ConnectionLost("the server closed the connection")
                    self._drop(err)
                    raise err
                parser.feed(data)

    @property
    def group_key(self) -> str:
        """The server list as given (``"a:1,b:2"``): the group's key for
        sharding (:mod:`sluice.shard`)."""
        return self._servers.key

    @property
    def _failover(self) -> bool:
        return self._always_fail_over or len(self._servers.addrs) > 1

    @property
    def servers(self) -> list[tuple[str, int]]:
        """The servers this client tries, leaders it was sent to
        included."""
        return list(self._servers.addrs)

    def _call(self, data: bytes, decode: Callable[[Reply], Any],
              wait: float | None = 0.0, resend: bool = False,
              follow: bool = True) -> Any:
        """One request and its answer.  Refused with NOT_LEADER (which
        did nothing), it is sent again, to the hinted leader or the next
        server, until ``retry_timeout`` (``follow`` False: raised at
        once).  A request not sent because no server could be reached is
        tried again likewise when there are several servers; one whose
        connection broke before its answer, only then and when
        ``resend``.  After a break the next server is tried first."""
        deadline = time.monotonic() + self.retry_timeout
        attempt = 0
        while True:
            sent = False
            try:
                if self._sock is None:
                    self.connect()
                sent = True
                return self._wait(self._send(data, decode, wait))
            except NotLeader as e:
                if not follow:
                    raise
                err, hinted = e, bool(e.leader)
                self._drop(ConnectionLost("left a server that is not "
                                          "the leader"))
                self._servers.follow(e.leader)
            except (ServerBusy, ShuttingDown) as e:
                # Refused, so not done: another member may take it.
                if not self._failover:
                    raise
                err, hinted = e, False
                self._drop(ConnectionLost("left a busy or stopping server"))
                self._servers.follow(None)
            except ConnectionLost as e:
                # One server: nowhere else to go.  Several: a failover,
                # perhaps; a request that may have been done is sent
                # again only when that is harmless.
                if not self._failover or (sent and not resend):
                    if sent:
                        self._servers.follow(None)
                    raise
                err, hinted = e, False
                if sent:
                    self._servers.follow(None)
            attempt += 1
            pause = backoff(attempt, hinted, len(self._servers.addrs))
            if time.monotonic() + pause >= deadline:
                raise err
            if pause:
                time.sleep(pause)

    # ------------------------------------------------------------ commands

    def ping(self) -> None:
        """``PING``: check the connection (connecting if needed)."""
        self._call(b"PING\r\n", P.decode_status, resend=True)

    def auth(self, token: str) -> None:
        """``AUTH``: authenticate this connection (the ``auth`` argument of
        the constructor does it on every connection).

        :raises Unauthorized: wrong token
        """
        self._call(P.encode_line(b"AUTH", token.encode()), P.decode_status,
                   resend=True)

    def put(self, queue: str, body: bytes | str, *,
            timeout: float | None = None) -> int | None:
        """``PUT``: add a message to ``queue``.

        :param body: bytes (a str is sent as UTF-8)
        :param timeout: seconds to wait for room in a full ``block``
            queue; None (default): as long as it takes (the call blocks,
            which is the point); 0: not at all
        :returns: the message's id, or None when a ``drop-newest`` queue
            dropped it (``202 DROPPED``)
        :raises Full: no room (``reject`` queue, or the timeout ran out);
            ``e.retry_after_ms`` is the server's estimate
        :raises TooLarge: the body could never fit (``e.limit``)
        :raises Closed: the queue is closed
        :raises NoQueue: no such queue and auto-create is off
        """
        ms = P.millis(timeout, "timeout")
        return self._call(P.encode_put(P.queue_bytes(queue),
                                       P.body_bytes(body), ms),
                          P.decode_put, None if ms is None else ms / 1000,
                          resend=self.allow_duplicates)

    def _take(self, cmd: bytes, queue: str, timeout: float | None,
              reserved: bool) -> Message:
        q = P.queue_bytes(queue)
        decode = P.message_decoder(queue, reserved)
        if timeout is not None:
            ms = P.millis(timeout, "timeout")
            msg = self._call(P.encode_line(cmd, q, b"%d" % ms), decode,
                             ms / 1000)
        else:
            line = P.encode_line(cmd, q, b"%d" % P.FOREVER_CHUNK_MS)
            while True:
                try:
                    msg = self._call(line, decode, P.FOREVER_CHUNK_MS / 1000)
                    break
                except Empty:
                    continue
        msg._client = self
        return msg

    def get(self, queue: str, *, timeout: float | None = None) -> Message:
        """``GET``: take the oldest message (at most once: it is gone from
        the server once sent).

        :param timeout: seconds to wait for one; None (default): until one
            comes; 0: do not wait
        :raises Empty: nothing came within ``timeout``
        :raises Closed: the queue is closed and drained
        """
        return self._take(b"GET", queue, timeout, False)

    def reserve(self, queue: str, *, timeout: float | None = None,
                retry_delay: float | None = None) -> Message:
        """``RESERVE``: take the oldest message at least once: it stays on
        the server, reserved for this connection, until ACKed.

        Use it as a context manager to ACK on success and NACK on an
        exception::

            with client.reserve("jobs") as msg:
                handle(msg.body)

        :param timeout: as for :meth:`get`
        :param retry_delay: seconds the NACK of the ``with`` block delays
            the message's return (protocol 1.1); None: at once
        :raises Empty: nothing came within ``timeout``
        :raises Closed: the queue is closed and drained
        :raises TooManyReserved: this connection holds too many
        """
        msg = self._take(b"RESERVE", queue, timeout, True)
        msg.retry_delay = retry_delay
        return msg

    def ack(self, id: int | Message) -> None:
        """``ACK``: a reserved message is done and gone.

        :raises NoMessage: this connection holds no such reservation
        """
        if isinstance(id, Message):
            id = id.id
        self._call(P.encode_line(b"ACK", P.number(id, "id")),
                   P.decode_status, follow=False)

    def nack(self, id: int | Message, delay: float | None = None) -> None:
        """``NACK``: give a reserved message back to the head of its queue,
        at once or (protocol 1.1) after ``delay`` seconds.

        :raises NoMessage: this connection holds no such reservation
        """
        if isinstance(id, Message):
            id = id.id
        words = [b"NACK", P.number(id, "id")]
        if delay is not None:
            words.append(b"%d" % P.millis(delay, "delay"))
        self._call(P.encode_line(*words), P.decode_status, follow=False)

    def create(self, queue: str, *, capacity: int | None = None,
               max_bytes: int | None = None, policy: str | None = None,
               storage: str | None = None, max_deliveries: int | None = None,
               dead_letter: str | None = None, **options: Any) -> bool:
        """``CREATE``: make a queue; omitted settings take the server's
        defaults.

        :param capacity: messages it holds (0: rendezvous)
        :param max_bytes: body bytes it holds
        :param policy: ``"block"``, ``"reject"``, ``"drop-oldest"`` or
            ``"drop-newest"``
        :param storage: ``"memory"`` or ``"disk"`` (protocol 1.1)
        :param max_deliveries: deliveries before a returning message is
            dead-lettered (protocol 1.1; 0: no limit)
        :param dead_letter: the queue dead letters go to (protocol 1.1)
        :param options: server extensions, e.g. ``lease_ms=30000``
        :returns: True when created, False when it existed with exactly
            these settings
        :raises Conflict: it exists with other settings
        :raises BadRequest: an option or value the server does not take
        """
        return self._call(P.encode_create(
            P.queue_bytes(queue), capacity, max_bytes, policy, storage,
            max_deliveries, dead_letter, options), P.decode_create,
            resend=True)

    def delete(self, queue: str) -> None:
        """``DELETE``: discard a queue and every message in it.

        :raises NoQueue: no such queue
        """
        self._call(P.encode_line(b"DELETE", P.queue_bytes(queue)),
                   P.decode_status)

    def purge(self, queue: str) -> int:
        """``PURGE``: discard a queue's ready messages.

        :returns: how many were discarded
        :raises NoQueue: no such queue
        """
        return self._call(P.encode_line(b"PURGE", P.queue_bytes(queue)),
                          P.decode_purge)

    def close_queue(self, queue: str) -> None:
        """``CLOSE`` (protocol 1.1): the queue takes no more messages; its
        consumers drain it, then get :class:`Closed` (``consume`` ends).

        :raises NoQueue: no such queue
        """
        self._call(P.encode_line(b"CLOSE", P.queue_bytes(queue)),
                   P.decode_status, resend=True)

    def stats(self, queue: str | None = None) -> dict:
        """``STATS``: the server's counters (a dict from the JSON), or one
        queue's.

        :raises NoQueue: no such queue
        """
        words = [b"STATS"] if queue is None else [b"STATS",
                                                  P.queue_bytes(queue)]
        return self._call(P.encode_line(*words), P.decode_stats,
                          resend=True)

    def quit(self) -> None:
        """``QUIT``: say goodbye and close the connection."""
        if self._sock is None:
            return
        try:
            self._wait(self._send(b"QUIT\r\n", P.decode_status, 0.0))
        finally:
            self._drop(ConnectionLost("connection closed by QUIT"))

    def command(self, *words: str | bytes | int,
                body: bytes | None = None) -> Reply:
        """Send any request (for server extensions) and return its raw
        answer.  With ``body`` the request carries it, its length added
        as the last word.

        :raises ServerError: (the matching subclass) on a 4xx/5xx answer
        """
        ws = P.encode_words(words)
        if body is not None:
            body = P.body_bytes(body)
            data = P.encode_line(*ws, b"%d" % len(body)) + body + b"\r\n"
        else:
            data = P.encode_line(*ws)
        return self._call(data, P.decode_raw, None)

    # ------------------------------------------------------------ streams

    def pipeline(self, *, raise_on_error: bool = True) -> "Pipeline":
        """A context for pipelined requests: see :class:`Pipeline`."""
        return Pipeline(self, raise_on_error)

    def put_many(self, queue: str, bodies: Iterable[bytes | str], *,
                 timeout: float | None = None) -> Iterator[int | None]:
        """PUT every body, pipelined (``window`` in flight); yields each
        answer's id (None when dropped) in order, as answers come.

        The iteration blocks while the window is full, so a full
        ``block`` queue holds the producer with flat memory.  An error
        (e.g. :class:`Full`) is raised at the message it concerns; the
        requests behind it still complete on the connection.
        """
        q = P.queue_bytes(queue)
        ms = P.millis(timeout, "timeout")
        wait = None if ms is None else ms / 1000
        inflight: deque[tuple[Pending, bytes]] = deque()
        window = self.window
        send = self._send
        retry = _Retry(self)

        def head() -> int | None:
            while True:
                p, data = inflight[0]
                try:
                    v = p.result()
                except (NotLeader, ConnectionLost) as e:
                    self._put_again(inflight, e, retry, wait)
                    continue
                inflight.popleft()
                retry.attempt = 0
                return v
        for body in bodies:
            if len(inflight) >= window:
                yield head()
            data = P.encode_put(q, P.body_bytes(body), ms)
            inflight.append((send(data, P.decode_put, wait), data))
        while inflight:
            yield head()

    def _put_again(self, inflight: deque, err: SluiceError, retry: "_Retry",
                   wait: float | None) -> None:
        """``put_many``'s head was refused with NOT_LEADER (or its
        connection broke): once every answer on that connection is in,
        send again, to the next server, those that did nothing (and,
        with ``allow_duplicates``, those whose connection broke); or
        raise ``err`` when that may not or cannot be done."""
        dup_ok = self.allow_duplicates and self._failover

        def again(e: BaseException | None) -> bool:
            return isinstance(e, NotLeader) or (
                dup_ok and isinstance(e, ConnectionLost))
        if not again(err):
            raise err
        for p, _ in inflight:
            if not p.done:
                try:
                    p.exception()
                except SluiceError:
                    pass  # the connection broke: all failed
        self._drop(ConnectionLost("left a server that is not the leader"))
        self._servers.follow(err.leader if isinstance(err, NotLeader)
                             else None)
        retry.pause(err, isinstance(err, NotLeader) and bool(err.leader))
        for i, (p, data) in enumerate(inflight):
            if again(p._error):
                inflight[i] = (self._send(data, P.decode_put, wait), data)

    def consume(self, queue: str, *, reserve: bool = False,
                prefetch: int = 1, timeout: float | None = None,
                retry_delay: float | None = None) -> Iterator[Message]:
        """Every message of ``queue``, as it comes; ends when the queue is
        closed and drained (``410 CLOSED``), or after ``timeout`` seconds
        without a message (None, the default: never).

        :param reserve: RESERVE (at least once: ``with msg:`` ACKs, or call
            ``msg.ack()``) instead of GET (at most once)
        :param prefetch: GETs/RESERVEs kept in flight.  Leaving the loop
            early with some in flight closes the connection (the next
            call reconnects): with GET, messages already sent are lost
            (at most once), so keep 1 unless you drain to the end; with
            RESERVE they are given back.  Requests sent ahead do not
            wait on the server (only a lone request does, once the queue
            is empty), so ACKs and NACKs are not held up behind them.
        """
        if prefetch < 1:
            raise ValueError("prefetch must be at least 1")
        q = P.queue_bytes(queue)
        cmd = b"RESERVE" if reserve else b"GET"
        # While messages flow, `prefetch` requests that do not wait are
        # kept in flight; once one finds the queue empty, a single
        # waiting request (the others would wait one after another).
        now_line = P.encode_line(cmd, q)
        decode = P.message_decoder(queue, reserve)
        inflight: deque[Pending] = deque()
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
                        inflight.append(self._send(now_line, decode, 0.0))
                elif not closed and not inflight:
                    ms = P.FOREVER_CHUNK_MS
                    if timeout is not None:
                        left = timeout - (time.monotonic() - idle_since)
                        if left <= 0:
                            return
                        ms = min(ms, max(1, int(left * 1000)))
                    inflight.append(self._send(
                        P.encode_line(cmd, q, b"%d" % ms), decode, ms / 1000))
                if not inflight:
                    return
                p = inflight.popleft()
                try:
                    msg = p.result()
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
                    self._drop(ConnectionLost("left a server that is not "
                                              "the leader"))
                    inflight.clear()
                    self._servers.follow(e.leader)
                    retry.pause(e, bool(e.leader))
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
            if any(not p.done for p in inflight) or (
                    reserve and inflight):
                self._drop(ConnectionLost("consume() left early"))


class _Retry:
    """NOT_LEADER refusals in a row of a stream (``put_many``,
    ``consume``): the pause before each next try, and the end of
    ``retry_timeout`` counted from the first."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.attempt = 0
        self.since = 0.0

    def pause(self, err: BaseException, hinted: bool) -> None:
        now = time.monotonic()
        if self.attempt == 0:
            self.since = now
        self.attempt += 1
        t = backoff(self.attempt, hinted, len(self.client._servers.addrs))
        if now + t - self.since >= self.client.retry_timeout:
            raise err
        if t:
            time.sleep(t)


def _failed(p: Pending) -> bool:
    # An empty GET is an answer, not a failure.
    return p._error is not None and not isinstance(p._error, Empty)


class Pipeline:
    """Pipelined requests on one client: each method sends its request
    (waiting only while ``window`` requests are unanswered or the output
    is full) and returns a :class:`Pending` for its answer.

    ::

        with client.pipeline() as p:
            handles = [p.put("jobs", b) for b in bodies]
        ids = [h.result() for h in handles]

    Leaving the ``with`` block waits for every answer; with
    ``raise_on_error`` (default) it then raises the first error among
    them whose handle nobody asked about.
    """

    def __init__(self, client: Client, raise_on_error: bool = True) -> None:
        self._c = client
        self._raise = raise_on_error
        self._last: Pending | None = None
        self._first_error: Pending | None = None
        self._unchecked: deque[Pending] = deque()

    def __enter__(self) -> "Pipeline":
        return self

    def __exit__(self, et, ev, tb) -> None:
        if et is None:
            self.flush()

    def _track(self, p: Pending) -> Pending:
        self._last = p
        if self._raise:
            # Keep only answers not yet seen to be fine: bounded by the
            # window plus the errors.
            self._unchecked.append(p)
            while self._unchecked and self._unchecked[0].done:
                q = self._unchecked.popleft()
                if self._first_error is None and _failed(q):
                    self._first_error = q
        return p

    def send(self) -> None:
        """Write every request queued so far (they are otherwise written
        in 64 KiB batches, or when an answer is awaited), without waiting
        for answers."""
        c = self._c
        c._pump(lambda: not c._out)

    def flush(self) -> None:
        """Wait for every answer so far; raise the first error (see the
        class).  The pipeline may be used again afterwards."""
        if self._last is not None and not self._last.done:
            self._c._pump(lambda: self._last.done)
        for q in self._unchecked:
            if self._first_error is None and _failed(q):
                self._first_error = q
        self._unchecked.clear()
        first, self._first_error = self._first_error, None
        if first is not None:
            raise first._error

    def put(self, queue: str, body: bytes | str, *,
            timeout: float | None = None) -> Pending:
        """Pipelined :meth:`Client.put`."""
        ms = P.millis(timeout, "timeout")
        return self._track(self._c._send(
            P.encode_put(P.queue_bytes(queue), P.body_bytes(body), ms),
            P.decode_put, None if ms is None else ms / 1000))

    def get(self, queue: str, *, timeout: float = 0) -> Pending:
        """Pipelined :meth:`Client.get` (``timeout`` must be a number)."""
        return self._take(b"GET", queue, timeout, False)

    def reserve(self, queue: str, *, timeout: float = 0) -> Pending:
        """Pipelined :meth:`Client.reserve` (``timeout`` a number)."""
        return self._take(b"RESERVE", queue, timeout, True)

    def _take(self, cmd, queue, timeout, reserved) -> Pending:
        ms = P.millis(timeout, "timeout")
        dec = P.message_decoder(queue, reserved)
        c = self._c

        def decode(r: Reply) -> Message:
            m = dec(r)
            m._client = c
            return m
        return self._track(c._send(
            P.encode_line(cmd, P.queue_bytes(queue), b"%d" % ms), decode,
            ms / 1000))

    def ack(self, id: int | Message) -> Pending:
        """Pipelined :meth:`Client.ack`."""
        if isinstance(id, Message):
            id = id.id
        return self._track(self._c._send(
            P.encode_line(b"ACK", P.number(id, "id")), P.decode_status, 0.0))

    def nack(self, id: int | Message, delay: float | None = None) -> Pending:
        """Pipelined :meth:`Client.nack`."""
        if isinstance(id, Message):
            id = id.id
        words = [b"NACK", P.number(id, "id")]
        if delay is not None:
            words.append(b"%d" % P.millis(delay, "delay"))
        return self._track(self._c._send(P.encode_line(*words),
                                         P.decode_status, 0.0))

    def ping(self) -> Pending:
        """Pipelined :meth:`Client.ping`."""
        return self._track(self._c._send(b"PING\r\n", P.decode_status, 0.0))
