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
        try:
            p = int(port)
        except ValueError:
            p = -1
        if not host or not 0 < p < 65536:
            raise ValueError(f"bad server address {a!r}: want host:port")
        return host, p
    return a, default_port


Servers = Union[str, Iterable[Address]]


def _key_part(a: Address) -> str:
    if isinstance(a, tuple):
        host, port = a
        host = str(host)
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return a


def parse_servers(servers: Servers, default_port: int = DEFAULT_PORT
                  ) -> tuple[list[tuple[str, int]], str]:
    """The addresses of one group of servers and its key.

    ``servers`` is ``"host:port,host:port"``, optionally named
    ``"NAME=host:port,..."``, or a list of ``"host:port"`` or ``(host,
    port)`` (joined with commas, then read as the string).  The key (for
    sharding, see :mod:`sluice.shard`) is NAME, or else the string
    exactly as given.
    """
    if isinstance(servers, (bytes, bytearray)):
        raise TypeError("servers must be a str or a list, not bytes")
    if not isinstance(servers, str):
        servers = ",".join(_key_part(a) for a in servers)
    name, eq, rest = servers.partition("=")
    if eq and not name:
        raise ValueError(f"empty group name in {servers!r}")
    key = name if eq else servers
    addrs = []
    for a in (rest if eq else servers).split(","):
        addr = parse_address(a.strip(), default_port)
        if addr not in addrs:
            addrs.append(addr)
    return addrs, key


class ServerList:
    """The servers to try, in turn; the one that last worked first.

    A NOT_LEADER hint names the leader: it goes to the front (added when
    it was not in the list).
    """

    def __init__(self, host: str, port: int,
                 servers: Servers | None) -> None:
        if servers is not None:
            self.addrs, self.key = parse_servers(servers, port)
        else:
            self.addrs = [(host, port)]
            self.key = _key_part((host, port))
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


def backoff(attempt: int, hinted: bool, n_servers: int) -> float:
    """Seconds to wait before the next try of a request refused with
    NOT_LEADER (or not sent: no server reachable).  A hint to follow is
    followed at once, the first round; otherwise (an election under
    way) 25 ms, doubling up to 500 ms."""
    if hinted and attempt <= n_servers:
        return 0.0
    return min(0.025 * (1 << min(attempt, 5)), 0.5)


def ssl_context(ssl: bool | _ssl.SSLContext | None) -> _ssl.SSLContext | None:
    """``True``: the default verifying context; a context: itself."""
    if ssl is None or ssl is False:
        return None
    if ssl is True:
        return _ssl.create_default_context()
    if isinstance(ssl, _ssl.SSLContext):
        return ssl
    raise TypeError("ssl must be None, True or an ssl.SSLContext")
