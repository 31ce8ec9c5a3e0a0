"""Every command and every error it can answer, on a real sluiced."""

import asyncio
import unittest

import harness
import sluice


class SyncCommands(unittest.TestCase):
    def setUp(self):
        self.d = harness.shared()
        self.c = sluice.Client(port=self.d.port)
        self.addCleanup(self.c.close)
        self.q = harness.qname(self._testMethodName)

    def test_ping_and_quit(self):
        self.c.ping()
        self.assertTrue(self.c.connected)
        self.c.quit()
        self.assertFalse(self.c.connected)
        self.c.ping()  # reconnects
        self.assertTrue(self.c.connected)

    def test_put_get_ids_increase(self):
        a = self.c.put(self.q, b"one")
        b = self.c.put(self.q, "two")
        self.assertIsInstance(a, int)
        self.assertGreater(b, a)
        m = self.c.get(self.q)
        self.assertEqual((m.id, m.body, m.queue), (a, b"one", self.q))
        self.assertEqual(self.c.get(self.q, timeout=0).body, b"two")
        with self.assertRaises(sluice.Empty):
            self.c.get(self.q, timeout=0)
        with self.assertRaises(sluice.Empty):
            self.c.get(self.q, timeout=0.01)

    def test_get_waits_for_a_message(self):
        other = sluice.Client(port=self.d.port)
        self.addCleanup(other.close)
        p = self.c.pipeline()
        h = p.get(self.q, timeout=30)   # waits on the server
        p.send()

        def waiting():
            try:
                return other.stats(self.q)["waiting_consumers"]
            except sluice.NoQueue:
                return 0
        harness.wait_until(waiting, "the GET to wait")
        i = other.put(self.q, b"late")
        self.assertEqual((h.result().id, h.result().body), (i, b"late"))

    def test_reserve_ack_nack(self):
        i = self.c.put(self.q, b"job")
        m = self.c.reserve(self.q, timeout=0)
        self.assertEqual((m.id, m.body), (i, b"job"))
        s = self.c.stats(self.q)
        self.assertEqual((s["depth"], s["reserved"]), (0, 1))
        self.c.nack(m)
        m2 = self.c.reserve(self.q, timeout=0)
        self.assertEqual(m2.id, i)
        self.c.ack(m2.id)
        with self.assertRaises(sluice.NoMessage) as cm:
            self.c.ack(m2.id)
        self.assertEqual(cm.exception.id, i)
        with self.assertRaises(sluice.NoMessage):
            self.c.nack(123456789)
        self.assertEqual(self.c.stats(self.q)["reserved"], 0)

    def test_reserve_context_manager(self):
        i = self.c.put(self.q, b"ok")
        with self.c.reserve(self.q) as m:
            self.assertEqual(m.id, i)
        self.assertEqual(self.c.stats(self.q)["acks"], 1)
        self.c.put(self.q, b"fails")
        with self.assertRaises(RuntimeError):
            with self.c.reserve(self.q) as m:
                raise RuntimeError("worker failed")
        s = self.c.stats(self.q)
        self.assertEqual((s["depth"], s["reserved"], s["acks"]), (1, 0, 1))
        with self.c.reserve(self.q) as m2:
            self.assertEqual(m2.id, m.id)  # redelivered, same id

    def test_create_exists_conflict_bad(self):
        self.assertTrue(self.c.create(self.q, capacity=5, max_bytes=100,
                                      policy="reject"))
        self.assertFalse(self.c.create(self.q, capacity=5, max_bytes=100,
                                       policy="reject"))
        with self.assertRaises(sluice.Conflict) as cm:
            self.c.create(self.q, capacity=6)
        self.assertEqual(cm.exception.queue, self.q)
        s = self.c.stats(self.q)
        self.assertEqual((s["capacity"], s["max_bytes"], s["policy"]),
                         (5, 100, "reject"))
        with self.assertRaises(sluice.BadRequest):
            self.c.create(self.q + "x", capacity=0, policy="drop-oldest")
        with self.assertRaises(sluice.BadRequest):
            self.c.create(self.q + "y", no_such_option=1)
        with self.assertRaises(sluice.NoQueue):  # 4xx created nothing
            self.c.stats(self.q + "x")

    def test_delete_and_purge(self):
        for i in range(3):
            self.c.put(self.q, b"%d" % i)
        m = self.c.reserve(self.q)
        self.assertEqual(self.c.purge(self.q), 2)
        self.assertEqual(self.c.stats(self.q)["reserved"], 1)
        self.c.delete(self.q)
        with self.assertRaises(sluice.NoMessage):
            self.c.ack(m)
        for call in (self.c.delete, self.c.purge, self.c.stats):
            with self.subTest(call=call.__name__):
                with self.assertRaises(sluice.NoQueue) as cm:
                    call(self.q)
                self.assertEqual(cm.exception.queue, self.q)

    def test_stats(self):
        self.c.put(self.q, b"x")
        s = self.c.stats()
        self.assertIn("version", s)
        self.assertIn(self.q, s["queues"])
        self.assertEqual(self.c.stats(self.q)["puts"], 1)

    def test_auth_without_token(self):
        self.c.auth("anything")

    def test_full_reject_with_retry_after(self):
        self.c.create(self.q, capacity=1, policy="reject")
        self.c.put(self.q, b"a")
        with self.assertRaises(sluice.Full) as cm:
            self.c.put(self.q, b"b")
        e = cm.exception
        self.assertEqual((e.code, e.token, e.queue), (503, "FULL", self.q))
        self.assertIsInstance(e.retry_after_ms, int)
        self.assertIsInstance(e, sluice.RetryLater)

    def test_full_block_with_timeout(self):
        self.c.create(self.q, capacity=1)
        self.c.put(self.q, b"a")
        with self.assertRaises(sluice.Full):
            self.c.put(self.q, b"b", timeout=0)
        with self.assertRaises(sluice.Full):
            self.c.put(self.q, b"b", timeout=0.02)
        self.c.get(self.q)
        self.assertIsInstance(self.c.put(self.q, b"b", timeout=0), int)

    def test_drop_policies(self):
        self.c.create(self.q, capacity=1, policy="drop-newest")
        self.c.put(self.q, b"first")
        self.assertIsNone(self.c.put(self.q, b"second"))
        self.assertEqual(self.c.get(self.q).body, b"first")
        q2 = self.q + "o"
        self.c.create(q2, capacity=1, policy="drop-oldest")
        self.c.put(q2, b"first")
        self.c.put(q2, b"second")
        self.assertEqual(self.c.get(q2).body, b"second")

    def test_too_large_and_connection_stays(self):
        self.c.create(self.q, max_bytes=10)
        with self.assertRaises(sluice.TooLarge) as cm:
            self.c.put(self.q, b"x" * 11)
        self.assertEqual(cm.exception.limit, 10)
        self.assertIsInstance(self.c.put(self.q, b"x" * 10), int)
        with self.assertRaises(sluice.TooLarge) as cm:
            self.c.put(self.q + "big", b"x" * (1048576 + 1))
        self.assertEqual(cm.exception.limit, 1048576)

    def test_bad_request_keeps_connection(self):
        with self.assertRaises(sluice.BadRequest) as cm:
            self.c.command("NO_SUCH_COMMAND")
        self.assertTrue(cm.exception.reason)
        self.c.ping()
        r = self.c.command("PUT", self.q, body=b"raw")
        self.assertEqual((r.code, r.token), (200, "QUEUED"))
        self.assertEqual(self.c.command("get", self.q).body, b"raw")

    def test_ids_are_python_ints_and_ack_takes_them(self):
        i = self.c.put(self.q, b"x")
        m = self.c.reserve(self.q)
        self.assertIs(type(m.id), int)
        self.c.ack(i)

    def test_pipeline_handles(self):
        with self.c.pipeline() as p:
            hs = [p.put(self.q, b"%d" % i) for i in range(10)]
            g = p.get(self.q)
            e = p.get(self.q + "none")
        ids = [h.result() for h in hs]
        self.assertEqual(ids, sorted(ids))
        self.assertEqual(g.result().id, ids[0])
        self.assertIsInstance(e.exception(), sluice.Empty)

    def test_pipeline_raises_first_error(self):
        self.c.create(self.q, capacity=1, policy="reject")
        with self.assertRaises(sluice.Full):
            with self.c.pipeline() as p:
                for _ in range(3):
                    p.put(self.q, b"x")
        self.c.ping()  # still in step

    def test_consume_until_timeout(self):
        ids = list(self.c.put_many(self.q, [b"a", b"b", b"c"]))
        got = [m.id for m in self.c.consume(self.q, prefetch=8,
                                            timeout=0.05)]
        self.assertEqual(got, ids)

    def test_consume_reserve_with(self):
        ids = list(self.c.put_many(self.q, [b"a", b"b"]))
        got = []
        for m in self.c.consume(self.q, reserve=True, timeout=0.05):
            with m:
                got.append(m.id)
        self.assertEqual(got, ids)
        self.assertEqual(self.c.stats(self.q)["acks"], 2)

    def test_consume_break_early_keeps_client_usable(self):
        list(self.c.put_many(self.q, [b"a", b"b", b"c"]))
        for m in self.c.consume(self.q, reserve=True, prefetch=4):
            break
        # The connection was dropped: the reservations came back.
        self.c.ping()
        harness.wait_until(lambda: self.c.stats(self.q)["depth"] == 3,
                           "reservations to come back")


class AsyncCommands(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self):
        self.d = harness.shared()
        self.c = sluice.AsyncClient(port=self.d.port)
        self.q = harness.qname(self._testMethodName)

    async def asyncTearDown(self):
        await self.c.close()

    async def test_every_command(self):
        c, q = self.c, self.q
        await c.ping()
        await c.auth("x")
        self.assertTrue(await c.create(q, capacity=4, policy="reject"))
        self.assertFalse(await c.create(q, capacity=4, policy="reject"))
        with self.assertRaises(sluice.Conflict):
            await c.create(q, capacity=5)
        a = await c.put(q, b"a")
        b = await c.put(q, b"b")
        m = await c.get(q)
        self.assertEqual((m.id, m.body), (a, b"a"))
        m = await c.reserve(q, timeout=0)
        self.assertEqual(m.id, b)
        await c.nack(m)
        async with c.reserving(q) as m:
            self.assertEqual(m.id, b)
        with self.assertRaises(sluice.NoMessage):
            await c.ack(b)
        with self.assertRaises(sluice.Empty):
            await c.get(q, timeout=0)
        await c.put(q, b"c")
        self.assertEqual(await c.purge(q), 1)
        self.assertEqual((await c.stats(q))["acks"], 1)
        self.assertIn(q, (await c.stats())["queues"])
        await c.delete(q)
        with self.assertRaises(sluice.NoQueue):
            await c.delete(q)
        with self.assertRaises(sluice.BadRequest):
            await c.command("BOGUS")
        await c.quit()
        self.assertFalse(c.connected)

    async def test_errors(self):
        c, q = self.c, self.q
        await c.create(q, capacity=1, max_bytes=8, policy="reject")
        await c.put(q, b"x")
        with self.assertRaises(sluice.Full) as cm:
            await c.put(q, b"y")
        self.assertIsInstance(cm.exception.retry_after_ms, int)
        with self.assertRaises(sluice.TooLarge) as cm:
            await c.put(q, b"123456789")
        self.assertEqual(cm.exception.limit, 8)

    async def test_concurrent_awaits_are_pipelined_in_order(self):
        ids = await asyncio.gather(*(self.c.put(self.q, b"%d" % i)
                                     for i in range(500)))
        self.assertEqual(ids, sorted(ids))
        self.assertEqual(len(set(ids)), 500)
        got = [m.body async for m in self.c.consume(self.q, prefetch=64,
                                                     timeout=0.05)]
        self.assertEqual(got, [b"%d" % i for i in range(500)])

    async def test_reserve_context_nacks_on_error(self):
        i = await self.c.put(self.q, b"x")
        with self.assertRaises(KeyError):
            async with await self.c.reserve(self.q) as m:
                raise KeyError
        self.assertEqual((await self.c.stats(self.q))["depth"], 1)
        async with self.c.reserving(self.q) as m:
            self.assertEqual(m.id, i)

    async def test_pipeline(self):
        async with self.c.pipeline() as p:
            futs = [await p.put(self.q, b"x") for _ in range(20)]
            g = await p.get(self.q)
        ids = [f.result() for f in futs]
        self.assertEqual(ids, sorted(ids))
        self.assertEqual(g.result().id, ids[0])


if __name__ == "__main__":
    unittest.main()
