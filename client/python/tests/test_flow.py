"""Pipelining, backpressure and redelivery: what the library promises
about flow."""

import asyncio
import os
import subprocess
import sys
import threading
import unittest

import harness
import sluice

N_PIPELINED = 100_000
BIG = 65536           # body size of the backpressure tests
N_BIG = 2000          # 128 MiB offered to a queue that holds 4 of them
MEMORY_SLACK = 32 << 20


class Pipelining(unittest.TestCase):
    def setUp(self):
        self.d = harness.shared()
        self.c = sluice.Client(port=self.d.port)
        self.addCleanup(self.c.close)
        self.q = harness.qname(self._testMethodName)
        self.c.create(self.q, capacity=N_PIPELINED, max_bytes=1 << 30)

    def check_round_trip(self, ids, bodies):
        self.assertEqual(len(ids), N_PIPELINED)
        # The only producer: ids are consecutive, in the order sent.
        self.assertEqual(ids, list(range(ids[0], ids[0] + N_PIPELINED)))
        got = []
        for m in self.c.consume(self.q, prefetch=256, timeout=0):
            got.append((m.id, m.body))
        self.assertEqual(got, list(zip(ids, bodies)))

    def test_100k_pipelined_puts_sync(self):
        bodies = [b"m%d" % i for i in range(N_PIPELINED)]
        ids = list(self.c.put_many(self.q, bodies))
        self.check_round_trip(ids, bodies)

    def test_100k_pipelined_puts_async(self):
        bodies = [b"a%d" % i for i in range(N_PIPELINED)]

        async def run():
            async with sluice.AsyncClient(port=self.d.port) as a:
                return [i async for i in a.put_many(self.q, bodies)]
        ids = asyncio.run(run())
        self.check_round_trip(ids, bodies)

    def test_pipelined_puts_into_full_reject_queue(self):
        q = self.q + "r"
        self.c.create(q, capacity=3, policy="reject")
        with self.c.pipeline(raise_on_error=False) as p:
            hs = [p.put(q, b"x") for _ in range(10)]
        ok = [h.result() for h in hs[:3]]
        self.assertEqual(ok, sorted(ok))
        for h in hs[3:]:
            e = h.exception()
            self.assertIsInstance(e, sluice.Full)
            self.assertIsInstance(e.retry_after_ms, int)
        with self.assertRaises(sluice.Full):
            list(self.c.put_many(q, [b"y"]))


class Backpressure(unittest.TestCase):
    """A producer into a full block queue is held at its call/await with
    flat memory, and resumes when a consumer drains."""

    def setUp(self):
        self.d = harness.shared()
        self.admin = sluice.Client(port=self.d.port)
        self.addCleanup(self.admin.close)
        self.q = harness.qname(self._testMethodName)
        self.admin.create(self.q, capacity=4, policy="block")
        self.body = os.urandom(BIG)

    def blocked(self):
        return self.admin.stats(self.q)["blocked_producers"] == 1

    def test_async_producer_waits_at_its_await(self):
        async def run():
            # The window does not bound it: flow control has to.
            prod = sluice.AsyncClient(port=self.d.port, window=N_BIG)
            cons = sluice.AsyncClient(port=self.d.port)
            sent = 0
            futs = []

            async def produce():
                nonlocal sent
                async with prod.pipeline() as p:
                    for _ in range(N_BIG):
                        futs.append(await p.put(self.q, self.body))
                        sent += 1
            base = harness.rss_bytes()
            task = asyncio.create_task(produce())

            def held():
                c = prod._conn
                return (c is not None and self.blocked() and
                        c.writer.transport.get_write_buffer_size() > 0)
            # The server parks the PUT and stops reading; the kernel's
            # buffers fill; the transport buffers past its high-water
            # mark and the producer's await does not return.
            while not held():
                await asyncio.sleep(0.005)
            self.assertFalse(task.done())
            self.assertLess(sent, N_BIG // 4)
            grown = harness.rss_bytes() - base
            self.assertLess(grown, MEMORY_SLACK,
                            f"{sent} messages sent, memory grew {grown}")
            got = 0
            async for m in cons.consume(self.q, prefetch=8):
                got += 1
                if got == N_BIG:
                    break
            await task
            ids = [f.result() for f in futs]
            self.assertEqual(ids, sorted(ids))
            self.assertEqual(len(ids), N_BIG)
            self.assertLess(harness.rss_bytes() - base, MEMORY_SLACK)
            await prod.close()
            await cons.close()
        asyncio.run(run())

    def test_sync_producer_waits_in_its_call(self):
        prod = sluice.Client(port=self.d.port, window=N_BIG)
        self.addCleanup(prod.close)
        sent = 0
        ids = []

        def bodies():
            nonlocal sent
            for _ in range(N_BIG):
                yield self.body
                sent += 1

        def produce():
            ids.extend(prod.put_many(self.q, bodies()))
        base = harness.rss_bytes()
        t = threading.Thread(target=produce)
        t.start()
        harness.wait_until(lambda: self.blocked() and prod._write_blocked,
                           "the producer to be held")
        self.assertTrue(t.is_alive())
        self.assertLess(sent, N_BIG // 4)
        grown = harness.rss_bytes() - base
        self.assertLess(grown, MEMORY_SLACK,
                        f"{sent} messages sent, memory grew {grown}")
        got = 0
        for m in self.admin.consume(self.q, prefetch=8):
            got += 1
            if got == N_BIG:
                break
        t.join(30)
        self.assertFalse(t.is_alive())
        self.assertEqual(len(ids), N_BIG)
        self.assertEqual(ids, sorted(ids))


WORKER = r"""
import asyncio, sys
sys.path.insert(0, sys.argv[1])
import sluice
port, queue, style = int(sys.argv[2]), sys.argv[3], sys.argv[4]
if style == "sync":
    c = sluice.Client(port=port)
    with c.reserve(queue) as m:
        print(m.id, flush=True)
        sys.stdin.read()        # killed here, mid-reservation
else:
    async def main():
        async with sluice.AsyncClient(port=port) as c:
            async with c.reserving(queue) as m:
                print(m.id, flush=True)
                await asyncio.get_running_loop().run_in_executor(
                    None, sys.stdin.read)
    asyncio.run(main())
"""


class Redelivery(unittest.TestCase):
    def run_killed_worker(self, style):
        d = harness.shared()
        c = sluice.Client(port=d.port)
        self.addCleanup(c.close)
        q = harness.qname("redeliver" + style)
        i = c.put(q, b"work item")
        w = subprocess.Popen(
            [harness.PYTHON, "-c", WORKER, os.path.join(harness.ROOT, "src"),
             str(d.port), q, style], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, preexec_fn=harness.die_with_parent)
        self.addCleanup(w.stdin.close)
        self.addCleanup(w.stdout.close)
        self.assertEqual(int(w.stdout.readline()), i)
        self.assertEqual(c.stats(q)["reserved"], 1)
        w.kill()
        w.wait()
        m = c.reserve(q, timeout=10)
        self.assertEqual((m.id, m.body), (i, b"work item"))
        m.ack()

    def test_killed_sync_worker(self):
        self.run_killed_worker("sync")

    def test_killed_async_worker(self):
        self.run_killed_worker("async")


if __name__ == "__main__":
    unittest.main()
