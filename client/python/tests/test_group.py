"""A real replication group of three sluiced (conf/README.md's
"cluster"): the client, given the three addresses, finds the leader,
follows it through a kill -9, and nothing it was told was queued is
lost."""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import unittest

import harness
import sluice


def free_ports(n: int) -> list[int]:
    """Ports the kernel hands out now (closed before the daemons bind)."""
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


class GroupTest(unittest.TestCase):
    def setUp(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="sluice-py-group-")
        p = free_ports(6)
        self.members = [{"id": i + 1, "raft": f"127.0.0.1:{p[i]}",
                         "client": f"127.0.0.1:{p[3 + i]}"}
                        for i in range(3)]
        self.procs: dict[int, subprocess.Popen] = {}
        for m in self.members:
            path = os.path.join(self.dir, f"n{m['id']}.json")
            with open(path, "w") as f:
                json.dump({"listen": m["client"],
                           "data_dir": os.path.join(self.dir, f"d{m['id']}"),
                           "cluster": {"id": m["id"],
                                       "members": self.members,
                                       "election_timeout_ms": 500,
                                       "heartbeat_timeout_ms": 50}}, f)
            self.procs[m["id"]] = subprocess.Popen(
                [harness.SLUICED, "-c", path], stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                preexec_fn=harness.die_with_parent)

    def tearDown(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def leader(self) -> int:
        for m in self.members:
            try:
                with sluice.Client(servers=m["client"],
                                   retry_timeout=1) as c:
                    if c.stats().get("role") == "leader":
                        return m["id"]
            except (sluice.SluiceError, OSError):
                pass
        return 0

    def test_follows_the_leader_through_a_kill(self) -> None:
        servers = ",".join(m["client"] for m in self.members)
        queued = []
        with sluice.Client(servers=servers, retry_timeout=20) as c:
            queued.append(c.put("g", "before-1"))
            queued.append(c.put("g", "before-2"))
        lead = harness.wait_until(self.leader, "a leader")
        self.procs[lead].send_signal(signal.SIGKILL)
        self.procs[lead].wait()
        with sluice.Client(servers=servers, retry_timeout=20) as c:
            queued.append(c.put("g", "after-1"))
            self.assertGreater(queued[2], queued[1], "ids keep rising")
            got = []
            while True:
                try:
                    got.append(c.get("g", timeout=0).id)
                except sluice.Empty:
                    break
        self.assertEqual(got, queued)


if __name__ == "__main__":
    unittest.main()
