"""Errors that need a daemon with particular settings."""

import signal
import unittest

import harness
import sluice


class Limits(unittest.TestCase):
    def daemon(self, config=None, files=None):
        d = harness.Daemon(config, files)
        self.addCleanup(d.stop)
        return d

    def client(self, d, **kw):
        c = sluice.Client(port=d.port, **kw)
        self.addCleanup(c.close)
        return c

    def test_unauthorized_and_auth(self):
        d = self.daemon({"auth_token_file": "token"}, {"token": "s3cret\n"})
        anon = self.client(d)
        anon.ping()  # allowed before AUTH
        with self.assertRaises(sluice.Unauthorized) as cm:
            anon.put("q", b"x")
        self.assertEqual((cm.exception.code, cm.exception.token),
                         (401, "UNAUTHORIZED"))
        with self.assertRaises(sluice.Unauthorized):
            anon.auth("wrong")
        anon.auth("s3cret")
        anon.put("q", b"x")
        with self.assertRaises(sluice.Unauthorized):
            self.client(d, auth="wrong").ping()
        good = self.client(d, auth="s3cret")
        self.assertEqual(good.get("q").body, b"x")
        good.close()
        self.assertEqual(good.put("q", b"y") > 0, True)  # re-AUTHs

    def test_async_auth(self):
        import asyncio
        d = self.daemon({"auth_token_file": "token"}, {"token": "tok"})

        async def run():
            bad = sluice.AsyncClient(port=d.port, auth="nope")
            with self.assertRaises(sluice.Unauthorized):
                await bad.ping()
            await bad.close()
            async with sluice.AsyncClient(port=d.port, auth="tok") as ok:
                await ok.put("q", b"x")
        asyncio.run(run())

    def test_too_many_reserved(self):
        d = self.daemon({"max_reserved": 1})
        c = self.client(d)
        c.put("q", b"a")
        c.put("q", b"b")
        m = c.reserve("q")
        with self.assertRaises(sluice.TooManyReserved) as cm:
            c.reserve("q", timeout=0)
        self.assertIsInstance(cm.exception, sluice.RetryLater)
        c.ack(m)
        c.reserve("q", timeout=0)

    def test_too_many_queues(self):
        d = self.daemon({"max_queues": 2})
        c = self.client(d)
        c.create("a")
        c.put("b", b"x")
        with self.assertRaises(sluice.TooManyQueues):
            c.create("c")
        with self.assertRaises(sluice.TooManyQueues):
            c.put("c", b"x")
        c.delete("a")
        c.create("c")

    def test_server_busy(self):
        d = self.daemon({"max_connections": 1})
        first = self.client(d)
        first.ping()
        second = self.client(d)
        with self.assertRaises(sluice.ServerBusy) as cm:
            second.ping()
        self.assertEqual((cm.exception.code, cm.exception.token),
                         (503, "BUSY"))
        first.close()

        def served():
            try:
                second.ping()
                return True
            except (sluice.ServerBusy, sluice.ConnectionLost):
                return False
        harness.wait_until(served, "the slot to free up")

    def test_no_queue_without_auto_create(self):
        d = self.daemon({"auto_create": False})
        c = self.client(d)
        for call in (lambda: c.put("nope", b"x"),
                     lambda: c.get("nope", timeout=0),
                     lambda: c.reserve("nope", timeout=0)):
            with self.assertRaises(sluice.NoQueue) as cm:
                call()
            self.assertEqual(cm.exception.queue, "nope")

    def test_shutting_down(self):
        d = self.daemon()
        c = self.client(d)
        c.put("keep", b"left for the drain")
        d.signal(signal.SIGTERM)

        def refused():
            try:
                c.put("other", b"x", timeout=0)
                return False
            except sluice.ShuttingDown as e:
                return e
        e = harness.wait_until(refused, "503 SHUTTING_DOWN")
        self.assertEqual((e.code, e.token), (503, "SHUTTING_DOWN"))
        self.assertEqual(c.get("keep").body, b"left for the drain")

    def test_connection_lost_when_server_dies(self):
        d = self.daemon()
        c = self.client(d)
        c.create("q", capacity=1)
        p = c.pipeline()
        h = p.get("q", timeout=30)
        p.send()
        d.proc.kill()
        with self.assertRaises(sluice.ConnectionLost):
            h.result()
        self.assertFalse(c.connected)
        with self.assertRaises(sluice.ConnectionLost):
            c.ping()  # nobody to reconnect to


if __name__ == "__main__":
    unittest.main()
