"""The sluice line protocol without I/O: request encoding, answer parsing,
and what each command's answer means.  Both clients share it."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from .errors import Empty, ProtocolError, ServerError, error_for

MAX_NUMBER = 2**63 - 1
MAX_LINE = 1024
# Longest answer line accepted before the stream is declared broken.
MAX_ANSWER_LINE = 65536
# How long one server-side wait lasts when the caller asked to wait
# forever: the client asks again after each.
FOREVER_CHUNK_MS = 60000

_QUEUE_RE = re.compile(rb"[A-Za-z0-9_.:\-]{1,128}\Z")
POLICIES = ("block", "reject", "drop-oldest", "drop-newest")
STORAGES = ("memory", "disk")


@dataclass(slots=True)
class Reply:
    """One answer as it came off the wire.

    :ivar code: three-digit code
    :ivar token: upper-case token
    :ivar args: arguments after the token (a body's length excluded)
    :ivar hints: ``key=value`` hints
    :ivar body: the body of a ``MSG`` or ``JSON`` answer, else None
    """

    code: int
    token: str
    args: list[str]
    hints: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None

    @property
    def ok(self) -> bool:
        """Whether the code is 2xx."""
        return 200 <= self.code < 300


@dataclass(slots=True, eq=False)
class Message:
    """A message taken by ``get`` or ``reserve``.

    :ivar id: the server's id for it (a Python int)
    :ivar body: its body, exactly as it was put
    :ivar queue: the queue it came from
    :ivar reserved: True when it came from ``reserve`` and awaits ACK/NACK

    A reserved message is a context manager: ``with client.reserve(q) as
    msg:`` ACKs it when the block ends normally and NACKs it (after
    ``retry_delay`` seconds, when given) when the block raises.  Its
    ``ack()`` and ``nack()`` (coroutines on the asyncio client) settle it
    by hand; settling twice is a no-op.
    """

    id: int
    body: bytes
    queue: str
    reserved: bool = False
    retry_delay: float | None = None
    _client: Any = field(default=None, repr=False)
    _settled: bool = field(default=False, repr=False)

    def __repr__(self) -> str:
        b = self.body if len(self.body) <= 32 else self.body[:32] + b"..."
        return f"Message(id={self.id}, queue={self.queue!r}, body={b!r})"

    # Blocking client helpers; the asyncio client uses AsyncMessage.
    def ack(self) -> None:
        """ACK this reserved message (blocking client)."""
        if not self._settled:
            self._settled = True
            self._client.ack(self.id)

    def nack(self, delay: float | None = None) -> None:
        """NACK this reserved message, optionally delayed by ``delay``
        seconds (blocking client)."""
        if not self._settled:
            self._settled = True
            self._client.nack(self.id, delay)

    def __enter__(self) -> "Message":
        return self

    def __exit__(self, et, ev, tb) -> None:
        if et is None:
            self.ack()
        else:
            self.nack(self.retry_delay)


class AsyncMessage(Message):
    """A message of the asyncio client: ``await msg.ack()``, ``async with``."""

    __slots__ = ()

    async def ack(self) -> None:  # type: ignore[override]
        """ACK this reserved message; a second settle is a no-op."""
        if not self._settled:
            self._settled = True
            await self._client.ack(self.id)

    async def nack(self, delay: float | None = None) -> None:  # type: ignore[override]
        """NACK this reserved message, optionally delayed by ``delay``
        seconds (protocol 1.1)."""
        if not self._settled:
            self._settled = True
            await self._client.nack(self.id, delay)

    def __enter__(self):  # pragma: no cover - misuse
        raise TypeError("use 'async with' on the asyncio client's messages")

    async def __aenter__(self) -> "AsyncMessage":
        return self

    async def __aexit__(self, et, ev, tb) -> None:
        if et is None:
            await self.ack()
        else:
            await self.nack(self.retry_delay)


# ---------------------------------------------------------------- encoding

def queue_bytes(name: str) -> bytes:
    """A queue name on the wire; ValueError when it is not a valid name."""
    if not isinstance(name, str):
        raise TypeError(f"queue name must be str, not {type(name).__name__}")
    b = name.encode("ascii", "replace")
    if not _QUEUE_RE.match(b):
        raise ValueError(f"bad queue name {name!r}: 1 to 128 of "
                         "A-Z a-z 0-9 _ . : -")
    return b


def number(v: int, what: str) -> bytes:
    """A protocol number (0..2^63-1); ValueError/TypeError otherwise."""
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"{what} must be an int, not {type(v).__name__}")
    if not 0 <= v <= MAX_NUMBER:
        raise ValueError(f"{what} must be between 0 and 2^63-1, not {v}")
    return b"%d" % v


def millis(seconds: float | None, what: str) -> int | None:
    """Seconds (the Python API's unit) to the protocol's milliseconds."""
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"{what} must be a number of seconds")
    if seconds < 0:
        raise ValueError(f"{what} must not be negative")
    return min(int(round(seconds * 1000)), MAX_NUMBER)


def body_bytes(body: bytes | bytearray | memoryview | str) -> bytes:
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body) if not isinstance(body, bytes) else body
    raise TypeError(f"body must be bytes or str, not {type(body).__name__}")


def encode_put(queue: bytes, body: bytes, timeout_ms: int | None) -> bytes:
    if timeout_ms is None:
        return b"PUT %s %d\r\n%s\r\n" % (queue, len(body), body)
    return b"PUT %s %d %d\r\n%s\r\n" % (queue, len(body), timeout_ms, body)


def encode_line(*words: bytes) -> bytes:
    line = b" ".join(words) + b"\r\n"
    if len(line) > MAX_LINE:
        raise ValueError(f"request line longer than {MAX_LINE} bytes")
    return line


def encode_words(words: tuple[Any, ...]) -> list[bytes]:
    """Words for the generic ``command()``: str, bytes or int."""
    out = []
    for w in words:
        if isinstance(w, int) and not isinstance(w, bool):
            out.append(number(w, "argument"))
        elif isinstance(w, str):
            out.append(w.encode("utf-8"))
        elif isinstance(w, (bytes, bytearray)):
            out.append(bytes(w))
        else:
            raise TypeError(f"argument {w!r}: str, bytes or int")
        if not out[-1] or any(c in out[-1] for c in b" \r\n"):
            raise ValueError(f"argument {w!r} is empty or has a space or "
                             "line break")
    return out


def encode_create(queue: bytes, capacity: int | None, max_bytes: int | None,
                  policy: str | None, storage: str | None,
                  max_deliveries: int | None, dead_letter: str | None,
                  extra: dict[str, Any]) -> bytes:
    words = [b"CREATE", queue]
    if capacity is not None:
        words.append(b"capacity=" + number(capacity, "capacity"))
    if max_bytes is not None:
        words.append(b"max_bytes=" + number(max_bytes, "max_bytes"))
    if policy is not None:
        if policy not in POLICIES:
            raise ValueError(f"policy {policy!r} is not one of "
                             + ", ".join(POLICIES))
        words.append(b"policy=" + policy.encode())
    if storage is not None:
        if storage not in STORAGES:
            raise ValueError(f"storage {storage!r} is not memory or disk")
        words.append(b"storage=" + storage.encode())
    if max_deliveries is not None:
        words.append(b"max_deliveries=" +
                     number(max_deliveries, "max_deliveries"))
    if dead_letter is not None:
        words.append(b"dead_letter=" + queue_bytes(dead_letter))
    for k, v in extra.items():
        if not re.fullmatch(r"[a-z_]+", k):
            raise ValueError(f"bad option name {k!r}")
        vb = number(v, k) if isinstance(v, int) else encode_words((v,))[0]
        words.append(k.encode() + b"=" + vb)
    return encode_line(*words)


# ---------------------------------------------------------------- parsing

class Parser:
    """Turns the bytes a server sends into :class:`Reply` objects.

    ``feed()`` the bytes as they come; ``next()`` returns the next complete
    answer or None.  Raises :class:`ProtocolError` on anything that does
    not follow the protocol.
    """

    __slots__ = ("_buf", "_pos")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pos = 0

    def feed(self, data: bytes) -> None:
        if self._pos:
            if self._pos == len(self._buf):
                self._buf.clear()
                self._pos = 0
            elif self._pos > 65536:
                del self._buf[:self._pos]
                self._pos = 0
        self._buf += data

    def buffered(self) -> int:
        return len(self._buf) - self._pos

    def next(self) -> Reply | None:
        buf = self._buf
        pos = self._pos
        nl = buf.find(b"\n", pos)
        if nl < 0:
            if len(buf) - pos > MAX_ANSWER_LINE:
                raise ProtocolError("answer line too long")
            return None
        end = nl - 1 if nl > pos and buf[nl - 1] == 13 else nl
        words = bytes(buf[pos:end]).split()
        if len(words) < 2 or len(words[0]) != 3 or not words[0].isdigit():
            raise ProtocolError(f"bad answer line {bytes(buf[pos:end])!r}")
        code = int(words[0])
        try:
            token = words[1].decode("ascii")
            rest = [w.decode("utf-8") for w in words[2:]]
        except UnicodeDecodeError:
            raise ProtocolError("answer line is not text") from None
        body = None
        hints: dict[str, str] = {}
        if token == "MSG" or token == "JSON":
            if not rest or not rest[-1].isdigit():
                raise ProtocolError(f"{token} answer without a body length")
            n = int(rest.pop())
            start = nl + 1
            stop = start + n
            if len(buf) < stop + 1:
                return None
            if buf[stop] == 13:
                if len(buf) < stop + 2:
                    return None
                if buf[stop + 1] != 10:
                    raise ProtocolError("body not followed by a line end")
                after = stop + 2
            elif buf[stop] == 10:
                after = stop + 1
            else:
                raise ProtocolError("body not followed by a line end")
            body = bytes(buf[start:stop])
            self._pos = after
        else:
            self._pos = nl + 1
            args = []
            for w in rest:
                k, eq, v = w.partition("=")
                if eq:
                    hints[k] = v
                else:
                    args.append(w)
            rest = args
        return Reply(code, token, rest, hints, body)


def fail(r: Reply) -> ServerError:
    return error_for(r.code, r.token, r.args, r.hints)


def _int_arg(r: Reply, i: int = 0) -> int:
    try:
        return int(r.args[i])
    except (IndexError, ValueError):
        raise ProtocolError(f"{r.code} {r.token} without a number") from None


# What each command's answer means: a function from Reply to the value
# the caller gets, raising the error the answer stands for.

def decode_put(r: Reply) -> int | None:
    if r.code == 200:
        return _int_arg(r)
    if r.code == 202:
        return None
    raise fail(r)


def decode_status(r: Reply) -> None:
    if 200 <= r.code < 300:
        return None
    raise fail(r)


def decode_create(r: Reply) -> bool:
    if r.code == 201:
        return True
    if 200 <= r.code < 300:
        return False
    raise fail(r)


def decode_purge(r: Reply) -> int:
    if r.code == 200:
        return _int_arg(r)
    raise fail(r)


def decode_stats(r: Reply) -> dict:
    if r.code == 200 and r.body is not None:
        try:
            return json.loads(r.body)
        except ValueError:
            raise ProtocolError("STATS answer is not JSON") from None
    raise fail(r)


def decode_raw(r: Reply) -> Reply:
    if 200 <= r.code < 300:
        return r
    raise fail(r)


def message_decoder(queue: str, reserved: bool,
                    cls: type[Message] = Message) -> Callable[[Reply], Any]:
    """Decoder for GET/RESERVE: a Message, or :class:`Empty` raised."""
    def decode(r: Reply) -> Message:
        if r.code == 200 and r.body is not None:
            return cls(_int_arg(r), r.body, queue, reserved)
        if r.code == 204:
            raise Empty(f"{queue}: no message")
        raise fail(r)
    return decode
