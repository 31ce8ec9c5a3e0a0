"""Typed errors: one class per answer a sluice server can refuse with.

A refusal is dispatched on its three-digit code and its token, never on
free text.  Every server refusal is a :class:`ServerError` carrying
``code`` (int), ``token`` (str), ``arguments`` (list of str) and ``hints``
(dict of str to str, unknown hints included and otherwise ignored).
``4xx`` refusals derive from :class:`RequestError` (the request was wrong
and changed nothing), ``5xx`` ones from :class:`RetryLater` (the same
request may succeed later).  Failures on the client's side of the wire
(:class:`ConnectionLost`, :class:`ProtocolError`) have ``code`` None.
"""

from __future__ import annotations

__all__ = [
    "SluiceError", "ServerError", "RequestError", "RetryLater",
    "Empty", "BadRequest", "Unauthorized", "Forbidden", "NoQueue",
    "NoMessage", "Conflict", "Closed", "TooLarge", "Full", "ServerBusy",
    "ShuttingDown", "NotLeader", "TooManyReserved", "TooManyQueues",
    "InternalError", "ProtocolError", "ConnectionLost", "Timeout",
]


class SluiceError(Exception):
    """Base of every error this library raises."""

    code: int | None = None
    token: str | None = None


class ServerError(SluiceError):
    """The server answered with a refusal (a 4xx or 5xx code).

    :ivar code: the three-digit code, e.g. ``503``
    :ivar token: the upper-case token, e.g. ``"FULL"``
    :ivar arguments: the answer's arguments after the token
    :ivar hints: the answer's ``key=value`` hints
    """

    def __init__(self, code: int, token: str, args: list[str] | None = None,
                 hints: dict[str, str] | None = None) -> None:
        self.code = code
        self.token = token
        self.arguments = list(args or [])
        self.hints = dict(hints or {})
        text = " ".join([str(code), token, *self.arguments] +
                        [f"{k}={v}" for k, v in self.hints.items()])
        super().__init__(text)

    def __reduce__(self):
        # Picklable (multiprocessing, logging handlers) despite __init__.
        return (type(self), (self.code, self.token, self.arguments,
                             self.hints))

    @property
    def queue(self) -> str | None:
        """The queue the answer names, for answers that name one."""
        return None


class _QueueNamed(ServerError):
    @property
    def queue(self) -> str | None:
        return self.arguments[0] if self.arguments else None


class RequestError(ServerError):
    """A 4xx answer: the request was wrong and changed nothing."""


class RetryLater(ServerError):
    """A 5xx answer: refused for now; the same request may succeed later."""


class Empty(SluiceError):
    """No message arrived within the time asked for (``204 EMPTY``)."""

    code = 204
    token = "EMPTY"


class BadRequest(RequestError):
    """``400 BAD_REQUEST <reason>``: malformed request or bad option."""

    @property
    def reason(self) -> str:
        """The server's reason, as text for people."""
        return " ".join(self.arguments)


class Unauthorized(RequestError):
    """``401 UNAUTHORIZED``: wrong token, or AUTH is needed first."""


class Forbidden(RequestError):
    """``403 FORBIDDEN``: the token may not do this."""


class NoQueue(_QueueNamed, RequestError):
    """``404 NO_QUEUE <queue>``: no such queue (and not auto-created)."""


class NoMessage(RequestError):
    """``404 NO_MSG <id>``: this connection holds no such reservation."""

    @property
    def id(self) -> int | None:
        """The id that has no reservation here."""
        return int(self.arguments[0]) if self.arguments else None


class Conflict(_QueueNamed, RequestError):
    """``409 CONFLICT <queue>``: the queue exists with other settings."""


class Closed(_QueueNamed, RequestError):
    """``410 CLOSED <queue>``: the queue is closed (and, for a consumer,
    drained); nothing more will come of it."""


class TooLarge(RequestError):
    """``413 TOO_LARGE <limit>``: the body could never fit.

    :ivar limit: the largest body the queue takes, in bytes
    """

    @property
    def limit(self) -> int | None:
        """The largest body the queue takes, in bytes."""
        return int(self.arguments[0]) if self.arguments else None


class Full(_QueueNamed, RetryLater):
    """``503 FULL <queue>``: no room (policy ``reject``, or the PUT's
    timeout ran out).

    :ivar retry_after_ms: the server's estimate of when there will be
        room, in milliseconds, or None when it gave none
    """

    @property
    def retry_after_ms(self) -> int | None:
        """The server's estimate of when there will be room, in ms."""
        v = self.hints.get("retry_after_ms")
        return int(v) if v is not None and v.isdigit() else None


class ServerBusy(RetryLater):
    """``503 BUSY``: the server is at its connection limit."""


class ShuttingDown(RetryLater):
    """``503 SHUTTING_DOWN``: the server is stopping."""


class NotLeader(RetryLater):
    """``503 NOT_LEADER``: ask the replication group's leader.

    :ivar leader: ``"host:port"`` of the leader, or None while an
        election is under way
    """

    @property
    def leader(self) -> str | None:
        """``"host:port"`` of the leader, or None (election under way)."""
        return self.hints.get("leader")


class TooManyReserved(RetryLater):
    """``503 TOO_MANY_RESERVED``: this connection holds its maximum of
    reservations; ACK some first."""


class TooManyQueues(RetryLater):
    """``503 TOO_MANY_QUEUES``: the server holds its maximum of queues."""


class InternalError(RetryLater):
    """``500 INTERNAL <reason>``: a fault of the server's own."""


class ProtocolError(SluiceError):
    """The server's bytes do not follow the protocol; the connection is
    closed."""


class ConnectionLost(SluiceError):
    """The connection broke (or could not be made).  Requests in flight
    may or may not have taken effect; the next call reconnects."""


class Timeout(ConnectionLost):
    """No answer within the client's ``timeout``; the connection is
    closed, since its answer might still come."""


_BY_TOKEN: dict[tuple[int, str], type[ServerError]] = {
    (400, "BAD_REQUEST"): BadRequest,
    (401, "UNAUTHORIZED"): Unauthorized,
    (403, "FORBIDDEN"): Forbidden,
    (404, "NO_QUEUE"): NoQueue,
    (404, "NO_MSG"): NoMessage,
    (409, "CONFLICT"): Conflict,
    (410, "CLOSED"): Closed,
    (413, "TOO_LARGE"): TooLarge,
    (500, "INTERNAL"): InternalError,
    (503, "FULL"): Full,
    (503, "BUSY"): ServerBusy,
    (503, "SHUTTING_DOWN"): ShuttingDown,
    (503, "NOT_LEADER"): NotLeader,
    (503, "TOO_MANY_RESERVED"): TooManyReserved,
    (503, "TOO_MANY_QUEUES"): TooManyQueues,
}

# Codes whose meaning does not depend on the token.
_BY_CODE: dict[int, type[ServerError]] = {
    400: BadRequest, 401: Unauthorized, 403: Forbidden, 409: Conflict,
    410: Closed, 413: TooLarge, 500: InternalError,
}


def error_for(code: int, token: str, args: list[str],
              hints: dict[str, str]) -> ServerError:
    """The exception for a refusal: by code and token, then by code,
    then by class of code (4xx or 5xx)."""
    cls = _BY_TOKEN.get((code, token)) or _BY_CODE.get(code)
    if cls is None:
        cls = RequestError if code < 500 else RetryLater
    return cls(code, token, args, hints)
