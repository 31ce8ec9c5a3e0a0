"""Connection settings shared by both clients: the server list, the
NOT_LEADER hint, TLS."""

from __future__ import annotations

import ssl as _ssl
from typing import Iterable, Sequence, Union

DEFAULT_PORT = 7470
Address = Union[str, tuple[str, int]]


def parse_address(a: Address, default_port: int = DEFAULT_PORT
                  ) -> tuple[str, int]:
    """``"host"``, ``"host:port"``, ``"[v6]:port"`` or ``(host, port)``."""
    if isinstance(a, tuple):
        host, port = a
        return str(host), int(port)
    if not isinstance(a, str) or not a:
        raise ValueError(f"bad server address {a!r}")
    if a.startswith("["):
        host, _, rest = a[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") else default_port
        return host, port
    if a.count(":") == 1:
        host, _, port = a.partition(":")
        return host, int(port)
    return a, default_port


class ServerList:
    """The servers to try, in turn; the one that last worked first.

    A NOT_LEADER hint names the leader: it goes to the front (added when
    it was not in the list).
    """

    def __init__(self, host: str, port: int,
                 servers: Iterable[Address] | None) -> None:
        if servers:
            self.addrs = [parse_address(s, port) for s in servers]
        else:
            self.addrs = [(host, port)]
        self.current = 0

    def order(self) -> list[tuple[str, int]]:
        n = len(self.addrs)
        return [self.addrs[(self.current + i) % n] for i in range(n)]

    def worked(self, addr: tuple[str, int]) -> None:
        self.current = self.addrs.index(addr)

    def follow(self, leader: str | None) -> None:
        """After NOT_LEADER: the hinted leader next, else the next server."""
        if leader:
            try:
                addr = parse_address(leader)
            except ValueError:
                addr = None
            if addr is not None:
                if addr not in self.addrs:
                    self.addrs.append(addr)
                self.current = self.addrs.index(addr)
                return
        self.current = (self.current + 1) % len(self.addrs)


def ssl_context(ssl: bool | _ssl.SSLContext | None) -> _ssl.SSLContext | None:
    """``True``: the default verifying context; a context: itself."""
    if ssl is None or ssl is False:
        return None
    if ssl is True:
        return _ssl.create_default_context()
    if isinstance(ssl, _ssl.SSLContext):
        return ssl
    raise TypeError("ssl must be None, True or an ssl.SSLContext")
