"""Bodies written by one language's client are read back exactly by
another's.  A language joins by adding a Peer subclass to PEERS (the Node
client's suite can add one that runs node); every pair that involves
Python is tested in both directions."""

import os
import shutil
import subprocess
import unittest

import harness
import sluice

LIMIT = 1048576  # the daemon's default message limit


def bodies():
    every = bytes(range(256))
    out = [b"", every, every[::-1], b"\r\n", b"line\n", b"\n\n", b"\0",
           b"end with cr\r", os.urandom(4096)]
    for n in (1, 255, 256, 1023, 1024, 65535, 65536, 65537,
              LIMIT - 1, LIMIT):
        out.append((every * (n // 256 + 1))[:n])
    return out


class Peer:
    name = "?"

    def available(self) -> str | None:
        """None when usable, else why not."""
        return None

    def put(self, port: int, queue: str, body: bytes) -> None:
        raise NotImplementedError

    def get(self, port: int, queue: str) -> bytes:
        raise NotImplementedError


class PythonPeer(Peer):
    name = "python"

    def put(self, port, queue, body):
        with sluice.Client(port=port) as c:
            c.put(queue, body)

    def get(self, port, queue):
        with sluice.Client(port=port) as c:
            return c.get(queue, timeout=10).body


class CliPeer(Peer):
    """The C client, through the sluice CLI."""
    name = "c"

    def available(self):
        if not os.access(harness.SLUICE_CLI, os.X_OK):
            return f"no sluice CLI at {harness.SLUICE_CLI} (set SLUICE_CLI)"
        return None

    def put(self, port, queue, body):
        subprocess.run([harness.SLUICE_CLI, "-H", "127.0.0.1", "-p",
                        str(port), "put", queue], input=body, check=True)

    def get(self, port, queue):
        return subprocess.run(
            [harness.SLUICE_CLI, "-H", "127.0.0.1", "-p", str(port), "get",
             "-r", "-t", "10000", queue],
            stdout=subprocess.PIPE, check=True).stdout


PEERS = [PythonPeer(), CliPeer()]


class CrossLanguage(unittest.TestCase):
    def round_trip(self, writer: Peer, reader: Peer):
        for p in (writer, reader):
            why = p.available()
            if why:
                self.skipTest(why)
        port = harness.shared().port
        q = harness.qname(f"x{writer.name}to{reader.name}")
        bs = bodies()
        for b in bs:
            writer.put(port, q, b)
        for i, b in enumerate(bs):
            got = reader.get(port, q)
            self.assertEqual(len(got), len(b), f"body {i}")
            self.assertEqual(got, b, f"body {i}")


def _add_pairs():
    for w in PEERS:
        for r in PEERS:
            if w is r or "python" not in (w.name, r.name):
                continue
            setattr(CrossLanguage, f"test_{w.name}_to_{r.name}",
                    lambda self, w=w, r=r: self.round_trip(w, r))


_add_pairs()

if __name__ == "__main__":
    unittest.main()
