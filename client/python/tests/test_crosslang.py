"""Bodies written by one language's client are read back exactly by
another's.  A language joins by adding a Peer to PEERS (for Node, a
CommandPeer running node); every pair of a Python peer and another
language's is tested in both directions."""

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


class CommandPeer(Peer):
    """A client driven by commands: ``put`` gets the body on stdin,
    ``get`` writes it to stdout; ``{port}`` and ``{queue}`` in the
    argument lists are filled in.  The Node client joins with one line:
    ``CommandPeer("node", ["node", ...put...], ["node", ...get...])``."""

    def __init__(self, name, put_argv, get_argv, needs=None):
        self.name = name
        self.put_argv = put_argv
        self.get_argv = get_argv
        self.needs = needs or put_argv[0]

    def available(self):
        if not shutil.which(self.needs) and not os.access(self.needs,
                                                          os.X_OK):
            return f"no {self.needs} for the {self.name} peer"
        return None

    def _argv(self, argv, port, queue):
        return [w.format(port=port, queue=queue) for w in argv]

    def put(self, port, queue, body):
        subprocess.run(self._argv(self.put_argv, port, queue), input=body,
                       check=True)

    def get(self, port, queue):
        return subprocess.run(self._argv(self.get_argv, port, queue),
                              stdout=subprocess.PIPE, check=True).stdout


# Python through its own command line, `python3 -m sluice put|get`: what
# another language's suite runs to reach the Python client.
_PYCMD = [harness.PYTHON, "-c",
          "import sys; sys.path.insert(0, sys.argv.pop(1)); "
          "from sluice.__main__ import main; sys.exit(main())",
          os.path.join(harness.ROOT, "src")]

# Node through its test command, client/node/test/xlang.js.
_NODE_XLANG = os.path.join(harness.ROOT, "..", "node", "test", "xlang.js")

PEERS = [
    PythonPeer(),
    CliPeer(),
    CommandPeer("pythoncli",
                _PYCMD + ["put", "-p", "{port}", "{queue}"],
                _PYCMD + ["get", "-p", "{port}", "-t", "10", "{queue}"]),
    CommandPeer("node",
                ["node", _NODE_XLANG, "put", "127.0.0.1", "{port}", "{queue}"],
                ["node", _NODE_XLANG, "get", "127.0.0.1", "{port}", "{queue}"]),
]


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
            # Exactly one side Python: the other language's suite
            # covers its own pairs.
            if w.name.startswith("python") == r.name.startswith("python"):
                continue
            setattr(CrossLanguage, f"test_{w.name}_to_{r.name}",
                    lambda self, w=w, r=r: self.round_trip(w, r))


_add_pairs()

if __name__ == "__main__":
    unittest.main()
