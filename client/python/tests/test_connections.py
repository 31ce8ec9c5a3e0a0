"""Connections: server lists, NOT_LEADER hints, TLS, timeouts, and a
server that breaks the protocol (scripted fake servers where sluiced
cannot be made to do it)."""

import asyncio
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import unittest

import harness
import sluice


def follower(leader: str | None):
    """A replication follower: serves PING, refuses the rest."""
    def handle(conn):
        f = conn.makefile("rb")
        while line := f.readline():
            words = line.split()
            if not words:
                continue
            if words[0].upper() == b"PUT":
                f.read(int(words[2]))
                f.readline()
            if words[0].upper() == b"PING":
                conn.sendall(b"200 PONG\r\n")
            elif leader:
                conn.sendall(b"503 NOT_LEADER leader=%s term=7\r\n"
                             % leader.encode())
            else:
                conn.sendall(b"503 NOT_LEADER\r\n")
    return handle


def scripted(answer: bytes | None):
    """Reads one line, then sends ``answer`` (None: closes at once;
    b"": never answers)."""
    def handle(conn):
        f = conn.makefile("rb")
        f.readline()
        if answer is None:
            return
        if answer:
            conn.sendall(answer)
        f.read()  # until the client goes
    return handle


class Servers(unittest.TestCase):
    def fake(self, handler, **kw):
        s = harness.FakeServer(handler, **kw)
        self.addCleanup(s.close)
        return s

    def test_follows_not_leader_hint(self):
        d = harness.shared()
        f = self.fake(follower(d.addr))
        c = sluice.Client(servers=[f.addr])
        self.addCleanup(c.close)
        c.ping()
        self.assertEqual(c.address, ("127.0.0.1", f.port))
        q = harness.qname("leader")
        i = c.put(q, b"to the leader")
        self.assertEqual(c.address, ("127.0.0.1", d.port))
        with sluice.Client(port=d.port) as direct:
            self.assertEqual(direct.get(q).id, i)

    def test_tries_next_server_without_hint(self):
        d = harness.shared()
        f = self.fake(follower(None))
        dead = socket.socket()
        dead.bind(("127.0.0.1", 0))  # bound, not listening: refused
        self.addCleanup(dead.close)
        c = sluice.Client(servers=[
            f"127.0.0.1:{dead.getsockname()[1]}", f.addr, d.addr])
        self.addCleanup(c.close)
        self.assertIsInstance(c.put(harness.qname("next"), b"x"), int)
        self.assertEqual(c.address, ("127.0.0.1", d.port))

    def test_gives_up_when_nobody_leads(self):
        f = self.fake(follower(None))
        c = sluice.Client(servers=[f.addr], retry_timeout=0.2)
        self.addCleanup(c.close)
        with self.assertRaises(sluice.NotLeader) as cm:
            c.put("q", b"x")
        self.assertIsNone(cm.exception.leader)

    def test_async_follows_hint(self):
        d = harness.shared()
        f = self.fake(follower(d.addr))

        async def run():
            async with sluice.AsyncClient(servers=[f.addr]) as c:
                i = await c.put(harness.qname("aleader"), b"x")
                return i, c.address
        i, addr = asyncio.run(run())
        self.assertIsInstance(i, int)
        self.assertEqual(addr, ("127.0.0.1", d.port))

    def test_cannot_connect(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.addCleanup(s.close)
        c = sluice.Client(port=s.getsockname()[1])
        with self.assertRaises(sluice.ConnectionLost):
            c.ping()

        async def run():
            with self.assertRaises(sluice.ConnectionLost):
                await sluice.AsyncClient(port=s.getsockname()[1]).ping()
        asyncio.run(run())


class BrokenServers(unittest.TestCase):
    def fake(self, answer):
        s = harness.FakeServer(scripted(answer))
        self.addCleanup(s.close)
        return s

    def test_protocol_error(self):
        s = self.fake(b"this is not sluice\r\n")
        c = sluice.Client(port=s.port)
        with self.assertRaises(sluice.ProtocolError):
            c.ping()
        self.assertFalse(c.connected)

    def test_answer_to_nothing(self):
        s = self.fake(b"200 PONG\r\n200 PONG\r\n")
        c = sluice.Client(port=s.port)
        self.addCleanup(c.close)
        with self.assertRaises(sluice.ProtocolError):
            c.ping()
            c.ping()

    def test_connection_lost(self):
        s = self.fake(None)
        c = sluice.Client(port=s.port)
        with self.assertRaises(sluice.ConnectionLost):
            c.ping()

        async def run():
            with self.assertRaises(sluice.ConnectionLost):
                await sluice.AsyncClient(port=s.port).ping()
        asyncio.run(run())

    def test_timeout(self):
        s = self.fake(b"")
        c = sluice.Client(port=s.port, timeout=0.1)
        with self.assertRaises(sluice.Timeout):
            c.ping()
        self.assertFalse(c.connected)

        async def run():
            a = sluice.AsyncClient(port=s.port, timeout=0.1)
            with self.assertRaises(sluice.Timeout):
                await a.ping()
            await a.close()
        asyncio.run(run())

    def test_async_protocol_error(self):
        s = self.fake(b"garbage\r\n")

        async def run():
            a = sluice.AsyncClient(port=s.port)
            with self.assertRaises(sluice.ProtocolError):
                await a.ping()
            await a.close()
        asyncio.run(run())


class TlsProxy:
    """TLS in front of sluiced (which may not speak it itself yet): an
    asyncio server in a thread of its own."""

    def __init__(self, ctx: ssl.SSLContext, port: int) -> None:
        self.loop = asyncio.new_event_loop()
        # A refused handshake is what one test wants: no log for it.
        self.loop.set_exception_handler(lambda loop, context: None)
        ready = threading.Event()

        async def pipe(r, w):
            try:
                while data := await r.read(65536):
                    w.write(data)
                    await w.drain()
            except (OSError, ssl.SSLError):
                pass
            finally:
                w.close()

        async def serve(r, w):
            ur, uw = await asyncio.open_connection("127.0.0.1", port)
            await asyncio.gather(pipe(r, uw), pipe(ur, w))

        async def start():
            self.server = await asyncio.start_server(serve, "127.0.0.1", 0,
                                                     ssl=ctx)
            self.port = self.server.sockets[0].getsockname()[1]
            ready.set()

        def run():
            self.loop.run_until_complete(start())
            self.loop.run_forever()
        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        ready.wait(10)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@unittest.skipUnless(shutil.which("openssl"), "no openssl to make a cert")
class Tls(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="sluice_tls_")
        cls.cert = os.path.join(cls.dir, "cert.pem")
        key = os.path.join(cls.dir, "key.pem")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
             "-out", cls.cert, "-days", "1", "-subj", "/CN=localhost",
             "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
            check=True, capture_output=True)
        os.chmod(key, 0o600)
        # The daemon's own TLS when it has it (the hardening work adds
        # "tls_listen"); else a TLS proxy in front of it.
        try:
            cls.daemon = harness.Daemon({"tls_listen": "127.0.0.1:0",
                                         "tls_cert_file": cls.cert,
                                         "tls_key_file": key},
                                        want_tls=True)
            cls.port = cls.daemon.tls_port
            cls.proxy = None
        except RuntimeError:
            cls.daemon = None
            server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            server.load_cert_chain(cls.cert, key)
            cls.proxy = TlsProxy(server, harness.shared().port)
            cls.port = cls.proxy.port

    @classmethod
    def tearDownClass(cls):
        if cls.proxy is not None:
            cls.proxy.close()
        if cls.daemon is not None:
            cls.daemon.stop()
        shutil.rmtree(cls.dir)

    def context(self):
        return ssl.create_default_context(cafile=self.cert)

    def test_sync_over_tls(self):
        q = harness.qname("tls")
        with sluice.Client(port=self.port, ssl=self.context()) as c:
            c.create(q, capacity=5000, max_bytes=1 << 30)
            ids = list(c.put_many(q, (b"%d" % i for i in range(2000))))
            self.assertEqual(ids, sorted(ids))
            got = [m.id for m in c.consume(q, prefetch=64, timeout=0)]
            self.assertEqual(got, ids)
            big = os.urandom(1 << 20)
            c.put(q, big)
            self.assertEqual(c.get(q).body, big)

    def test_async_over_tls(self):
        q = harness.qname("atls")

        async def run():
            async with sluice.AsyncClient(port=self.port,
                                          ssl=self.context(),
                                          server_hostname="localhost") as c:
                i = await c.put(q, b"secret")
                return i, (await c.get(q)).id
        i, j = asyncio.run(run())
        self.assertEqual(i, j)

    def test_untrusted_certificate_is_refused(self):
        c = sluice.Client(port=self.port, ssl=True)
        with self.assertRaises(sluice.ConnectionLost):
            c.ping()


if __name__ == "__main__":
    unittest.main()
