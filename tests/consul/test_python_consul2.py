"""Runs tests/consul/consul2 (python3-consul2) in its own interpreter.

python3-consul2 and python3-consul both provide the `consul` module, and Debian
will not install both; scripts/test.sh unpacks python3-consul2's .deb into
build/debs/python3-consul2 (scripts/unpack-deb.sh). A missing unpack fails this
test rather than skipping it."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
UNPACKED = ROOT / "build" / "debs" / "python3-consul2" / "usr" / "lib" / "python3" / "dist-packages"


def test_python_consul2_suite():
    assert (UNPACKED / "consul" / "base.py").exists(), (
        "python3-consul2 is not unpacked; run scripts/unpack-deb.sh python3-consul2 build/debs/python3-consul2")
    env = dict(os.environ)
    env["PYTHONPATH"] = str(UNPACKED) + os.pathsep + env.get("PYTHONPATH", "")
    r = subprocess.run(
        ["/usr/bin/python3", "-m", "pytest", "-q", "-p", "no:cacheprovider", str(ROOT / "tests" / "consul" / "consul2")],
        env=env, cwd=str(ROOT), capture_output=True, text=True, timeout=300)
    sys.stdout.write(r.stdout[-20000:])
    sys.stderr.write(r.stderr[-5000:])
    assert r.returncode == 0, "python3-consul2 suite failed:\n" + r.stdout[-8000:]
