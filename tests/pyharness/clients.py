"""Runs the client suites that live outside this interpreter against any node: the npm `consul`
client script and the python3-consul2 suite (a separate interpreter: it cannot be imported beside
python3-consul). Used by tests/consul (one node) and tests/cluster (a follower of 3 nodes)."""

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NPM_DIR = ROOT / "tests" / "consul" / "npm"
NPM_SCRIPT = NPM_DIR / "consul_client_test.js"
CONSUL2_DIR = ROOT / "build" / "debs" / "python3-consul2" / "usr" / "lib" / "python3" / "dist-packages"
CONSUL2_SUITE = ROOT / "tests" / "consul" / "consul2"


def _out(p):
    out = p.stdout if isinstance(p.stdout, str) else (p.stdout or b"").decode(errors="replace")
    err = p.stderr if isinstance(p.stderr, str) else (p.stderr or b"").decode(errors="replace")
    return "--- stdout ---\n%s\n--- stderr ---\n%s" % (out[-8000:], err[-8000:])


def run_npm_client(http_port, timeout=120):
    """(ok, output) of the npm consul script against 127.0.0.1:http_port."""
    node_bin = shutil.which("node")
    assert node_bin, "Node.js (`node`) not found on PATH (Debian: nodejs)"
    p = subprocess.run([node_bin, str(NPM_SCRIPT), str(http_port)], cwd=str(NPM_DIR), stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=timeout)
    return p.returncode == 0, _out(p)


def run_consul2_suite(http_port=None, timeout=300):
    """(ok, output) of tests/consul/consul2 with python3-consul2; against http_port when given,
    else against a node the suite starts itself."""
    assert (CONSUL2_DIR / "consul" / "base.py").exists(), (
        "python3-consul2 is not unpacked; run scripts/unpack-deb.sh python3-consul2 build/debs/python3-consul2")
    env = dict(os.environ)
    env["PYTHONPATH"] = str(CONSUL2_DIR) + os.pathsep + env.get("PYTHONPATH", "")
    if http_port:
        env["CONSUL2_TARGET_PORT"] = str(http_port)
    p = subprocess.run(["/usr/bin/python3", "-m", "pytest", "-q", "-p", "no:cacheprovider", str(CONSUL2_SUITE)],
                       env=env, cwd=str(ROOT), capture_output=True, text=True, timeout=timeout)
    return p.returncode == 0, _out(p)
