"""The real npm `consul` client (node-consul, pinned in npm/package-lock.json)
against a Conclave node: KV, sessions, locks, blocking queries and txn.

Runs npm/consul_client_test.js with Node.js.  If npm/node_modules is missing
(or holds another consul version than the lockfile pins), it is installed first
with `npm ci` from the lockfile; when that fails (no registry access, no npm)
the test is skipped locally and fails under CI (env CI set)."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pyharness.clients import run_npm_client

NPM_DIR = Path(__file__).resolve().parent / "npm"
SCRIPT = NPM_DIR / "consul_client_test.js"
NPM_CI_TIMEOUT = 300
RUN_TIMEOUT = 120


def _out(p):
    return "--- stdout ---\n%s\n--- stderr ---\n%s" % (
        (p.stdout or b"").decode(errors="replace")[-8000:],
        (p.stderr or b"").decode(errors="replace")[-8000:])


def _npm_unavailable(msg):
    if os.environ.get("CI"):
        pytest.fail(msg, pytrace=False)
    pytest.skip(msg)


def _installed_matches_lockfile():
    """node_modules/consul is there and is the version package-lock.json pins."""
    try:
        pinned = json.loads((NPM_DIR / "package-lock.json").read_text())["packages"]["node_modules/consul"]["version"]
        installed = json.loads((NPM_DIR / "node_modules" / "consul" / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return False
    return pinned == installed


def _ensure_node_modules():
    if _installed_matches_lockfile():
        return
    npm = shutil.which("npm")
    if not npm:
        _npm_unavailable("npm not found on PATH: cannot install %s/node_modules (Debian: nodejs/npm)" % NPM_DIR)
    cmd = [npm, "ci", "--no-audit", "--no-fund"]
    try:
        p = subprocess.run(cmd, cwd=str(NPM_DIR), stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=NPM_CI_TIMEOUT)
    except subprocess.TimeoutExpired as e:
        _npm_unavailable("`%s` in %s timed out after %d s:\n%s" % (" ".join(cmd), NPM_DIR, NPM_CI_TIMEOUT, _out(e)))
    if p.returncode != 0:
        _npm_unavailable("`%s` in %s failed (exit %d):\n%s" % (" ".join(cmd), NPM_DIR, p.returncode, _out(p)))
    if not _installed_matches_lockfile():
        pytest.fail("`%s` succeeded but node_modules/consul does not match package-lock.json" % " ".join(cmd),
                    pytrace=False)


def test_npm_consul_client(node):
    if not shutil.which("node"):
        _npm_unavailable("Node.js (`node`) not found on PATH (Debian: nodejs)")
    _ensure_node_modules()
    try:
        ok, output = run_npm_client(node.http_port, timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired as e:
        pytest.fail("node-consul test timed out after %d s:\n%s" % (RUN_TIMEOUT, _out(e)), pytrace=False)
    assert ok, "node-consul test failed:\n" + output
    print(output)  # the per-check lines, shown with -s / -rP
