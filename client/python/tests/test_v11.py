"""Protocol 1.1 additions.  Each test first asks the daemon whether it
has the feature (a version 1 server answers the new forms with 400) and
skips, saying so, when it does not: they run as soon as it does."""

import asyncio
import threading
import unittest

import harness
import sluice

_probes: dict[str, str | None] = {}


def missing(feature: str) -> str | None:
    """None when the shared daemon has ``feature``, else the reason."""
    if feature in _probes:
        return _probes[feature]
    with sluice.Client(port=harness.shared().port) as c:
        q = harness.qname("probe" + feature)
        try:
            if feature == "close":
                c.command("CLOSE", q)
            elif feature == "nack_delay":
                c.command("NACK", 1, 10)
            elif feature == "storage":
                c.command("CREATE", q, "storage=memory")
            elif feature == "dead_letter":
                c.command("CREATE", q, "max_deliveries=1",
                          "dead_letter=" + q + "dlq")
            why = None
        except sluice.BadRequest as e:
            why = f"daemon lacks protocol 1.1 {feature} (answered {e})"
        except sluice.ServerError:
            why = None   # understood (e.g. 404): the feature is there
    _probes[feature] = why
    return why


def needs(feature):
    def wrap(fn):
        def run(self, *a, **kw):
            why = missing(feature)
            if why:
                self.skipTest(why)
            return fn(self, *a, **kw)
        run.__name__ = fn.__name__
        run.__doc__ = fn.__doc__
        return run
    return wrap


class V11(unittest.TestCase):
    def setUp(self):
        self.d = harness.shared()
        self.c = sluice.Client(port=self.d.port)
        self.addCleanup(self.c.close)
        self.q = harness.qname(self._testMethodName)

    @needs("close")
    def test_close_ends_consumers(self):
        ids = list(self.c.put_many(self.q, [b"a", b"b"]))
        self.c.close_queue(self.q)
        self.c.close_queue(self.q)  # closing twice is fine
        with self.assertRaises(sluice.Closed) as cm:
            self.c.put(self.q, b"late")
        self.assertEqual((cm.exception.code, cm.exception.queue),
                         (410, self.q))
        self.assertEqual([m.id for m in self.c.consume(self.q, prefetch=4)],
                         ids)
        with self.assertRaises(sluice.Closed):
            self.c.get(self.q)
        with self.assertRaises(sluice.NoQueue):
            self.c.close_queue(self.q + "none")
        self.assertTrue(self.c.stats(self.q)["closed"])

    @needs("close")
    def test_close_wakes_a_waiting_consumer(self):
        got = []
        other = sluice.Client(port=self.d.port)
        self.addCleanup(other.close)
        self.c.create(self.q)

        def consume():
            got.extend(m.body for m in other.consume(self.q))
        t = threading.Thread(target=consume)
        t.start()
        harness.wait_until(
            lambda: self.c.stats(self.q)["waiting_consumers"] == 1,
            "the consumer to wait")
        self.c.put(self.q, b"one")
        self.c.close_queue(self.q)
        t.join(10)
        self.assertFalse(t.is_alive())
        self.assertEqual(got, [b"one"])

    @needs("close")
    def test_close_async(self):
        async def run():
            async with sluice.AsyncClient(port=self.d.port) as a:
                await a.put(self.q, b"x")
                await a.close_queue(self.q)
                with self.assertRaises(sluice.Closed):
                    await a.put(self.q, b"y")
                return [m.body async for m in a.consume(self.q)]
        self.assertEqual(asyncio.run(run()), [b"x"])

    @needs("nack_delay")
    def test_nack_with_delay(self):
        i = self.c.put(self.q, b"retry me")
        m = self.c.reserve(self.q)
        self.c.nack(m, delay=0.3)
        self.assertEqual(self.c.stats(self.q)["delayed"], 1)
        with self.assertRaises(sluice.Empty):
            self.c.get(self.q, timeout=0)
        self.assertEqual(self.c.get(self.q, timeout=10).id, i)

    @needs("nack_delay")
    def test_reserve_context_retry_delay(self):
        self.c.put(self.q, b"x")
        with self.assertRaises(ValueError):
            with self.c.reserve(self.q, retry_delay=0.3):
                raise ValueError
        self.assertEqual(self.c.stats(self.q)["delayed"], 1)
        self.assertEqual(self.c.get(self.q, timeout=10).body, b"x")

    @needs("storage")
    def test_storage_option(self):
        self.assertTrue(self.c.create(self.q, storage="memory"))
        self.assertFalse(self.c.create(self.q, storage="memory"))
        self.assertEqual(self.c.stats(self.q)["storage"], "memory")
        with self.assertRaises((sluice.Conflict, sluice.BadRequest)):
            self.c.create(self.q, storage="disk")

    @needs("dead_letter")
    def test_max_deliveries_and_dead_letter(self):
        dlq = self.q + "dlq"
        self.assertTrue(self.c.create(self.q, max_deliveries=1,
                                      dead_letter=dlq))
        i = self.c.put(self.q, b"poison")
        self.c.nack(self.c.reserve(self.q))
        m = self.c.get(dlq, timeout=10)
        self.assertEqual((m.id, m.body), (i, b"poison"))
        self.assertEqual(self.c.stats(self.q)["dead_lettered"], 1)
        with self.assertRaises(sluice.BadRequest):
            self.c.create(self.q + "self", dead_letter=self.q + "self")


if __name__ == "__main__":
    unittest.main()
