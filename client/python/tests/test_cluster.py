"""Replication groups and sharding: server lists, NOT_LEADER hints
followed until a deadline, what is sent again after a broken
connection, and the rendezvous hash that maps queues to groups (checked
against tests/shard_vectors.json, which libsluice and the Node client
also reproduce)."""

import asyncio
import json
import os
import shutil
import socket
import subprocess
import unittest

import harness
import sluice
from sluice import shard

VECTORS = os.path.normpath(os.path.join(harness.ROOT, "..", "..", "tests",
                                        "shard_vectors.json"))

NODE_XLANG = os.path.join(harness.ROOT, "..", "node", "test", "xlang.js")

G2 = ["127.0.0.1:7471,127.0.0.1:7472,127.0.0.1:7473",
      "127.0.0.1:7481,127.0.0.1:7482,127.0.0.1:7483"]
G3 = G2 + ["127.0.0.1:7491,127.0.0.1:7492,127.0.0.1:7493"]


class Hash(unittest.TestCase):
    def test_known_values(self):
        # The building blocks' published values, then a few of the
        # shared vectors written out here too.
        self.assertEqual(shard.fnv1a64(b""), 0xcbf29ce484222325)
        self.assertEqual(shard.fnv1a64(b"a"), 0xaf63dc4c8601ec8c)
        self.assertEqual(shard.fnv1a64(b"foobar"), 0x85944171f73967e8)
        self.assertEqual(shard.splitmix64(0), 0)
        self.assertEqual(shard.score("", ""), 0x8f322bb9678204b8)
        self.assertEqual(shard.score("127.0.0.1:7470", "jobs"),
                         0x29048fa4b5beb584)
        self.assertEqual(shard.score(G2[0], "jobs"), 0xe3d502702a1146d7)
        self.assertEqual(shard.pick(G2, "jobs"), 0)
        self.assertEqual(shard.pick(G3, "q1"), 2)
        self.assertEqual(shard.pick(["h:1", "h:1"], "jobs"), 0)

    def test_shared_vectors(self):
        with open(VECTORS) as f:
            v = json.load(f)
        self.assertGreater(len(v["scores"]), 5)
        self.assertGreater(len(v["picks"]), 50)
        for s in v["scores"]:
            data = (s["group"] + "\n" + s["queue"]).encode()
            self.assertEqual("%016x" % shard.fnv1a64(data), s["fnv1a64"], s)
            self.assertEqual("%016x" % shard.score(s["group"], s["queue"]),
                             s["score"], s)
        for p in v["picks"]:
            self.assertEqual(shard.pick(p["groups"], p["queue"]),
                             p["index"], p)

    @unittest.skipUnless(shutil.which("node") and os.path.exists(NODE_XLANG),
                         "no node, or no client/node/test/xlang.js")
    def test_node_agrees(self):
        groups = ["10.1.0.1:7470,10.1.0.2:7470", "b:1", "c:2,d:3",
                  "name=x,e:4", "[::1]:7470"]
        queues = [f"pq.{i * 104729}" for i in range(300)]
        r = subprocess.run(["node", NODE_XLANG, "pick"],
                           input=json.dumps([groups, queues]).encode(),
                           capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout),
                         [shard.pick(groups, q) for q in queues])

    def test_ties_go_to_the_first(self):
        for q in ("a", "b", "jobs"):
            self.assertEqual(shard.pick(["x:1", "x:1", "x:1"], q), 0)

    def test_two_groups_then_three(self):
        queues = [f"q{i}" for i in range(100)]
        two = [shard.pick(G2, q) for q in queues]
        # Each queue in exactly one group, and both groups used.
        self.assertEqual(set(two), {0, 1})
        self.assertGreater(min(two.count(0), two.count(1)), 20)
        three = [shard.pick(G3, q) for q in queues]
        moved = [i for i in range(100) if two[i] != three[i]]
        # About a third moves, and only into the new group.
        self.assertTrue(20 <= len(moved) <= 47, len(moved))
        self.assertTrue(all(three[i] == 2 for i in moved))
        # The groups' order does not matter (but for ties).
        rev = [2 - shard.pick(G3[::-1], q) for q in queues]
        self.assertEqual(rev, three)

    def test_group_keys(self):
        c = sluice.Client(servers="a:1,b:2")
        self.assertEqual(c.group_key, "a:1,b:2")
        self.assertEqual(c.servers, [("a", 1), ("b", 2)])
        c = sluice.Client(servers=["a:1", ("b", 2), ("::1", 3)])
        self.assertEqual(c.group_key, "a:1,b:2,[::1]:3")
        self.assertEqual(sluice.Client("h", 7).group_key, "h:7")
        # Named: the name is the key, so the servers may change.
        c = sluice.Client(servers="east=a:1,b:2")
        self.assertEqual((c.group_key, c.servers),
                         ("east", [("a", 1), ("b", 2)]))
        self.assertEqual(sluice.Client(servers=["east=a:1", ("b", 2)])
                         .group_key, "east")
        self.assertEqual(shard.group_key("east=a:1"), "east")
        for q in ("jobs", "q1", "orders.eu"):
            self.assertEqual(shard.pick(["east=a:1", "west=b:2"], q),
                             shard.pick(["east=c:3", "west=d:4"], q))
        for bad in ("", "a:1,", "a:x", "a:0", "a:70000", ":1", [], "=a:1",
                    "x="):
            with self.assertRaises(ValueError, msg=repr(bad)):
                sluice.Client(servers=bad)
        with self.assertRaises(ValueError):
            sluice.ShardedClient([])
        with self.assertRaises(ValueError):
            sluice.ShardedClient(["a:1,b:2", "a:1,b:2"])
        with self.assertRaises(TypeError):
            sluice.ShardedClient("a:1,b:2")
        s = sluice.ShardedClient(G3)
        self.assertEqual(s.keys, G3)
        self.assertIs(s.client_for("q1"), s.clients[2])
        self.assertEqual(s.group_for("q1"), 2)


def follower(leader, seen=None):
    """A member that is not the leader: every request but PING is
    refused with NOT_LEADER (and the hint, when given)."""
    def handle(conn):
        f = conn.makefile("rb")
        while line := f.readline():
            words = line.split()
            if not words:
                continue
            if seen is not None:
                seen.append(words[0].decode())
            if words[0] == b"PUT":
                f.read(int(words[2]))
                f.readline()
            if words[0] == b"PING":
                conn.sendall(b"200 PONG\r\n")
            elif leader() if callable(leader) else leader:
                hint = leader() if callable(leader) else leader
                conn.sendall(b"503 NOT_LEADER leader=%s\r\n" % hint.encode())
            else:
                conn.sendall(b"503 NOT_LEADER\r\n")
    return handle


def breaker(seen):
    """A server whose connections break after the first request line
    (and body), before any answer: a leader killed at that moment."""
    def handle(conn):
        f = conn.makefile("rb")
        line = f.readline()
        words = line.split()
        if words:
            seen.append(words[0].decode())
            if words[0] == b"PUT":
                f.read(int(words[2]) + 2)
    return handle


def dead_addr(test) -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))  # bound, not listening: refused
    test.addCleanup(s.close)
    return f"127.0.0.1:{s.getsockname()[1]}"


class Group(unittest.TestCase):
    def fake(self, handler):
        s = harness.FakeServer(handler)
        self.addCleanup(s.close)
        return s

    def client(self, **kw):
        c = sluice.Client(**kw)
        self.addCleanup(c.close)
        return c

    def test_hint_to_the_leader(self):
        d = harness.shared()
        f = self.fake(follower(d.addr))
        c = self.client(servers=f.addr)
        q = harness.qname("hint")
        i = c.put(q, b"via the hint")
        self.assertEqual(c.address, ("127.0.0.1", d.port))
        self.assertIn(("127.0.0.1", d.port), c.servers)
        with sluice.Client(port=d.port) as direct:
            m = direct.get(q, timeout=0)
        self.assertEqual((m.id, m.body), (i, b"via the hint"))

    def test_past_a_dead_server(self):
        d = harness.shared()
        c = self.client(servers=f"{dead_addr(self)},{d.addr}")
        q = harness.qname("dead")
        i = c.put(q, b"x")
        self.assertEqual(c.get(q, timeout=0).id, i)
        self.assertEqual(c.address, ("127.0.0.1", d.port))

    def test_no_leader_until_the_deadline(self):
        seen = []
        f = self.fake(follower(None, seen))
        c = self.client(servers=[f.addr], retry_timeout=0.3)
        with self.assertRaises(sluice.NotLeader) as cm:
            c.put("q", b"x")
        self.assertIsNone(cm.exception.leader)
        # Tried again (with a pause between tries), then gave up.
        self.assertGreater(seen.count("PUT"), 2)

    def test_an_election_ends_within_the_deadline(self):
        # No leader for the first tries, then the hint appears.
        d = harness.shared()
        seen = []
        f = self.fake(follower(lambda: d.addr if len(seen) > 3 else None,
                               seen))
        c = self.client(servers=[f.addr])
        self.assertIsInstance(c.put(harness.qname("elect"), b"x"), int)
        self.assertEqual(seen.count("PUT"), 4)

    def test_hints_in_a_circle_give_not_leader_with_hint(self):
        a_seen, b_seen = [], []
        b = None
        a = self.fake(follower(lambda: b.addr, a_seen))
        b = self.fake(follower(a.addr, b_seen))
        c = self.client(servers=[a.addr], retry_timeout=0.3)
        with self.assertRaises(sluice.NotLeader) as cm:
            c.stats()
        self.assertIn(cm.exception.leader, (a.addr, b.addr))
        self.assertGreater(len(a_seen), 1)
        self.assertGreater(len(b_seen), 1)

    def test_busy_and_stopping_go_to_the_next_server(self):
        d = harness.shared()
        for token in (b"BUSY", b"SHUTTING_DOWN"):
            seen = []

            def refuse(conn, token=token, seen=seen):
                f = conn.makefile("rb")
                while line := f.readline():
                    words = line.split()
                    seen.append(words[0].decode())
                    if words[0] == b"PUT":
                        f.read(int(words[2]) + 2)
                    conn.sendall(b"503 " + token + b"\r\n")
            f = self.fake(refuse)
            c = self.client(servers=[f.addr, d.addr])
            self.assertIsInstance(c.put(harness.qname("busy"), b"x"), int)
            self.assertEqual(seen, ["PUT"])
            one = self.client(servers=[f.addr])
            with self.assertRaises(sluice.RetryLater) as cm:
                one.put("q", b"x")
            self.assertEqual(cm.exception.token, token.decode())

    def test_a_sharded_group_of_one_fails_over_too(self):
        seen = []

        def busy_twice(conn):
            f = conn.makefile("rb")
            while line := f.readline():
                words = line.split()
                seen.append(words[0].decode())
                f.read(int(words[2]) + 2)
                conn.sendall(b"503 BUSY\r\n" if len(seen) <= 2 else
                             b"200 QUEUED 7\r\n")
        f = self.fake(busy_twice)
        with self.assertRaises(sluice.ServerBusy):
            self.client(servers=f.addr).put("q", b"x")
        with sluice.ShardedClient([f.addr]) as s:
            self.assertEqual(s.put("q", b"x"), 7)
        self.assertEqual(seen, ["PUT"] * 3)

    def test_ack_is_not_sent_elsewhere(self):
        d = harness.shared()
        seen = []
        f = self.fake(follower(d.addr, seen))
        c = self.client(servers=[f.addr])
        with self.assertRaises(sluice.NotLeader):
            c.ack(1)
        with self.assertRaises(sluice.NotLeader):
            c.nack(1)
        self.assertEqual(seen, ["ACK", "NACK"])

    def test_put_after_a_break_only_with_duplicates_allowed(self):
        d = harness.shared()
        seen = []
        b = self.fake(breaker(seen))
        q = harness.qname("dup")
        c = self.client(servers=[b.addr, d.addr])
        with self.assertRaises(sluice.ConnectionLost):
            c.put(q, b"maybe stored")
        self.assertEqual(seen, ["PUT"])
        c2 = self.client(servers=[b.addr, d.addr], allow_duplicates=True)
        i = c2.put(q, b"sent again")
        self.assertEqual(seen, ["PUT", "PUT"])
        self.assertEqual(c2.address, ("127.0.0.1", d.port))
        self.assertEqual(c2.get(q, timeout=0).id, i)

    def test_get_reserve_are_never_sent_again(self):
        d = harness.shared()
        seen = []
        b = self.fake(breaker(seen))
        q = harness.qname("nodup")
        with sluice.Client(port=d.port) as direct:
            direct.put(q, b"stays")
        c = self.client(servers=[b.addr, d.addr], allow_duplicates=True)
        with self.assertRaises(sluice.ConnectionLost):
            c.get(q, timeout=0)
        c = self.client(servers=[b.addr, d.addr], allow_duplicates=True)
        with self.assertRaises(sluice.ConnectionLost):
            c.reserve(q, timeout=0)
        self.assertEqual(seen, ["GET", "RESERVE"])
        # The next call starts at the next server.
        self.assertEqual(c.get(q, timeout=0).body, b"stays")
        self.assertEqual(c.address, ("127.0.0.1", d.port))

    def test_stats_and_create_are_sent_again(self):
        d = harness.shared()
        seen = []
        b = self.fake(breaker(seen))
        c = self.client(servers=[b.addr, d.addr])
        self.assertIn("queues", c.stats())
        self.assertTrue(c.create(harness.qname("again")))
        self.assertEqual(seen, ["STATS"])

    def test_streams_follow_the_hint(self):
        d = harness.shared()
        seen = []
        # An election for the first 40 requests, then a hint.
        f = self.fake(follower(lambda: d.addr if len(seen) > 40 else None,
                               seen))
        q = harness.qname("streams")
        c = self.client(servers=f.addr, window=16)
        ids = list(c.put_many(q, (b"%d" % i for i in range(100))))
        self.assertEqual(ids, list(range(ids[0], ids[0] + 100)))
        c = self.client(servers=f.addr)
        got = []
        for m in c.consume(q, reserve=True, prefetch=8, timeout=0.2):
            with m:
                got.append(int(m.body))
        self.assertEqual(got, list(range(100)))

    def test_put_many_after_a_break(self):
        d = harness.shared()
        seen = []
        b = self.fake(breaker(seen))
        q = harness.qname("pmbreak")
        c = self.client(servers=[b.addr, d.addr], window=8)
        with self.assertRaises(sluice.ConnectionLost):
            list(c.put_many(q, [b"a", b"b"]))
        c = self.client(servers=[b.addr, d.addr], window=8,
                        allow_duplicates=True)
        ids = list(c.put_many(q, (b"%d" % i for i in range(20))))
        self.assertEqual(len(ids), 20)
        self.assertEqual(c.stats(q)["depth"], 20)

    def test_async(self):
        d = harness.shared()
        f = self.fake(follower(d.addr))
        seen = []
        b = self.fake(breaker(seen))
        nobody = self.fake(follower(None))
        q = harness.qname("async")

        async def run():
            async with sluice.AsyncClient(servers=f.addr) as c:
                # Concurrent requests on the follower each follow.
                ids = await asyncio.gather(*(c.put(q, b"%d" % i)
                                             for i in range(20)))
                self.assertEqual(c.address, ("127.0.0.1", d.port))
                self.assertEqual(sorted(ids), list(range(min(ids),
                                                         min(ids) + 20)))
                self.assertEqual((await c.stats(q))["depth"], 20)
            async with sluice.AsyncClient(
                    servers=[dead_addr(self), b.addr, d.addr]) as c:
                with self.assertRaises(sluice.ConnectionLost):
                    await c.put(q, b"x")
                self.assertEqual(seen, ["PUT"])
                self.assertIsInstance(await c.put(q, b"x"), int)
            async with sluice.AsyncClient(servers=[b.addr, d.addr],
                                          allow_duplicates=True) as c:
                self.assertIsInstance(await c.put(q, b"y"), int)
                self.assertEqual(seen, ["PUT", "PUT"])
            async with sluice.AsyncClient(servers=f.addr, window=8) as c:
                ids = [i async for i in c.put_many(
                    q + "s", (b"%d" % i for i in range(50)))]
                self.assertEqual(ids, list(range(ids[0], ids[0] + 50)))
            async with sluice.AsyncClient(servers=f.addr) as c:
                got = []
                async for m in c.consume(q + "s", reserve=True, prefetch=4,
                                         timeout=0.2):
                    async with m:
                        got.append(int(m.body))
                self.assertEqual(got, list(range(50)))
            async with sluice.AsyncClient(servers=[nobody.addr],
                                          retry_timeout=0.2) as c:
                with self.assertRaises(sluice.NotLeader) as cm:
                    await c.put(q, b"z")
                self.assertIsNone(cm.exception.leader)
        asyncio.run(run())


class Sharded(unittest.TestCase):
    """Two real daemons, each a group of one."""

    @classmethod
    def setUpClass(cls):
        cls.d1 = harness.shared()
        cls.d2 = harness.Daemon()

    @classmethod
    def tearDownClass(cls):
        cls.d2.stop()

    def queues_on(self, d):
        with sluice.Client(port=d.port) as c:
            return set(c.stats()["queues"])

    def test_each_queue_in_exactly_one_group(self):
        groups = [self.d1.addr, self.d2.addr]
        prefix = harness.qname("shard")
        queues = [f"{prefix}.{i}" for i in range(100)]
        with sluice.ShardedClient(groups) as s:
            for i, q in enumerate(queues):
                s.put(q, b"%d" % i)
            on = [self.queues_on(self.d1), self.queues_on(self.d2)]
            for i, q in enumerate(queues):
                self.assertEqual([q in on[0], q in on[1]],
                                 [s.group_for(q) == 0, s.group_for(q) == 1],
                                 q)
            self.assertTrue(0 < sum(q in on[0] for q in queues) < 100)
            for i, q in enumerate(queues):
                with s.reserve(q, timeout=0) as m:
                    self.assertEqual(m.body, b"%d" % i)
            self.assertEqual(len(s.stats()), 2)
            self.assertEqual(s.stats(queues[0])["depth"], 0)
        # A client that lists the groups in the other order agrees.
        with sluice.ShardedClient(groups[::-1]) as r:
            for q in queues:
                self.assertIs(r.client_for(q).group_key,
                              r.keys[1 - s.group_for(q)])

    def test_command_line(self):
        # -H once: one group (a dead server first); -H twice: two groups.
        env = dict(os.environ, PYTHONPATH=os.path.join(harness.ROOT, "src"))
        dead = dead_addr(self)

        def run(args, data=b""):
            r = subprocess.run([harness.PYTHON, "-m", "sluice", *args],
                               input=data, capture_output=True, env=env,
                               timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            return r.stdout
        q = harness.qname("cli")
        run(["put", "-H", f"{dead},{self.d2.addr}", q], b"one group")
        self.assertIn(q, self.queues_on(self.d2))
        two = ["-H", self.d1.addr, "-H", self.d2.addr]
        names = [f"{q}.{i}" for i in range(6)]
        for n in names:
            run(["put", *two, n], n.encode())
        with sluice.ShardedClient([self.d1.addr, self.d2.addr]) as s:
            on2 = self.queues_on(self.d2)
            self.assertEqual([n in on2 for n in names],
                             [s.group_for(n) == 1 for n in names])
        for n in names:
            self.assertEqual(run(["get", *two, "-t", "0", n]), n.encode())

    def test_async(self):
        groups = [[self.d1.addr], (self.d2.addr,)]
        prefix = harness.qname("ashard")

        async def run():
            async with sluice.AsyncShardedClient(groups) as s:
                for i in range(10):
                    await s.put(f"{prefix}.{i}", b"x")
                for i in range(10):
                    m = await s.reserve(f"{prefix}.{i}", timeout=0)
                    await s.ack(m)
                    self.assertEqual(
                        (await s.stats(f"{prefix}.{i}"))["depth"], 0)
                return [s.group_for(f"{prefix}.{i}") for i in range(10)]
        where = asyncio.run(run())
        on2 = self.queues_on(self.d2)
        self.assertEqual([f"{prefix}.{i}" in on2 for i in range(10)],
                         [g == 1 for g in where])


if __name__ == "__main__":
    unittest.main()
