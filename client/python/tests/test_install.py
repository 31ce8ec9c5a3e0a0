"""`pip install client/python` works without a package index."""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import harness


def _has_pip() -> bool:
    return subprocess.run([sys.executable, "-m", "pip", "--version"],
                          capture_output=True).returncode == 0


@unittest.skipUnless(_has_pip(), "no pip for this python (python3-pip)")
class Install(unittest.TestCase):
    def test_pip_install_offline(self):
        target = tempfile.mkdtemp(prefix="sluice_pip_")
        self.addCleanup(shutil.rmtree, target, True)
        src = tempfile.mkdtemp(prefix="sluice_src_")
        self.addCleanup(shutil.rmtree, src, True)
        # A copy, so the build leaves nothing in the tree.
        tree = os.path.join(src, "python")
        shutil.copytree(harness.ROOT, tree, ignore=shutil.ignore_patterns(
            "build", "*.egg-info", "__pycache__"))
        env = dict(os.environ, PIP_NO_INDEX="1",
                   PIP_DISABLE_PIP_VERSION_CHECK="1")
        r = subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                            "--target", target, tree],
                           capture_output=True, text=True, env=env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        r = subprocess.run(
            [sys.executable, "-c",
             "import sluice, sys; print(sluice.__file__); "
             "print(sluice.Client, sluice.AsyncClient, sluice.Full)"],
            capture_output=True, text=True,
            env=dict(os.environ, PYTHONPATH=target), cwd=target)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.startswith(target), r.stdout)


if __name__ == "__main__":
    unittest.main()
