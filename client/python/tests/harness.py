"""Test support: a real sluiced on an ephemeral port, unique queue names,
and small fake servers for what the daemon cannot be made to do."""

from __future__ import annotations

import atexit
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "src"))

SLUICED = os.environ.get("SLUICED") or os.path.normpath(
    os.path.join(ROOT, "..", "..", "build", "daemon", "sluiced"))
SLUICE_CLI = os.environ.get("SLUICE_CLI") or os.path.normpath(
    os.path.join(ROOT, "..", "..", "build", "client", "sluice"))
PYTHON = sys.executable


def die_with_parent() -> None:
    """In a child: be killed when the test process dies, so a crashed
    or killed run leaves no daemon behind."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Daemon:
    """A sluiced started with ``-p 0``; learns its port from the log line
    ``listening on ADDR:PORT`` as tests/harness.c does."""

    def __init__(self, config: dict | None = None,
                 files: dict[str, str] | None = None,
                 want_tls: bool = False) -> None:
        self.dir = tempfile.mkdtemp(prefix="sluice_py_")
        argv = [SLUICED, "-l", "127.0.0.1", "-p", "0"]
        for name, text in (files or {}).items():
            with open(os.path.join(self.dir, name), "w") as f:
                f.write(text)
        if config is not None:
            path = os.path.join(self.dir, "sluiced.json")
            with open(path, "w") as f:
                json.dump(config, f)
            argv += ["-c", path]
        self.proc = subprocess.Popen(argv, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL,
                                     preexec_fn=die_with_parent)
        self.log: list[str] = []
        self.port = 0
        self.tls_port = 0
        for raw in self.proc.stderr:
            line = raw.decode(errors="replace").rstrip("\n")
            self.log.append(line)
            m = re.search(r"listening on .*:(\d+)( \(TLS\))?", line)
            if m and m.group(2):
                self.tls_port = int(m.group(1))
            elif m:
                self.port = int(m.group(1))
            if self.port and (self.tls_port or not want_tls):
                break
        if not self.port or (want_tls and not self.tls_port):
            self.proc.kill()
            self.proc.wait()
            self.proc.stderr.close()
            shutil.rmtree(self.dir, ignore_errors=True)
            raise RuntimeError("sluiced did not start:\n" +
                               "\n".join(self.log))
        self._drainer = threading.Thread(target=self._drain, daemon=True)
        self._drainer.start()
        self.host = "127.0.0.1"
        self.addr = f"127.0.0.1:{self.port}"

    def _drain(self) -> None:
        for raw in self.proc.stderr:
            self.log.append(raw.decode(errors="replace").rstrip("\n"))
            del self.log[:-200]

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGTERM)  # second: at once
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        self._drainer.join(5)
        self.proc.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)


_shared: Daemon | None = None


def shared() -> Daemon:
    """The daemon most tests share (default settings)."""
    global _shared
    if _shared is None:
        _shared = Daemon()
        atexit.register(_shared.stop)
    return _shared


_names = itertools.count(1)


def qname(hint: str = "q") -> str:
    """A queue name no other test uses."""
    return f"py{os.getpid()}.{next(_names)}.{re.sub(r'[^A-Za-z0-9]', '', hint)[:40]}"


def rss_bytes() -> int:
    """This process's resident memory."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def wait_until(cond, what: str, limit: float = 20.0):
    """Poll ``cond`` (bounded) until it is true; the event, not a sleep."""
    deadline = time.monotonic() + limit
    delay = 0.001
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


class FakeServer:
    """A loopback server whose answers a test scripts: ``handler(conn)``
    runs in a thread for each connection."""

    def __init__(self, handler, ssl_context=None) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.addr = f"127.0.0.1:{self.port}"
        self.handler = handler
        self.ssl = ssl_context
        self.conns: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,),
                             daemon=True).start()

    def _serve(self, c: socket.socket) -> None:
        try:
            if self.ssl is not None:
                c = self.ssl.wrap_socket(c, server_side=True)
            self.handler(c)
        except OSError:
            pass
        finally:
            try:
                c.close()
            except OSError:
                pass

    def close(self) -> None:
        self.sock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass


def read_line(f) -> bytes:
    return f.readline()
