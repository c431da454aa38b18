"""Integration-test helpers (thin layer over tests/pyharness/servers.py).

Importable from both suites: tests/integration and tests/compat put tests/ on
sys.path in their conftest.py, so `from pyharness import servers` and
`import harness` (from tests/integration) both work.
"""

import os
import sys
import time
from pathlib import Path

_TESTS = Path(__file__).resolve().parents[1]
if str(_TESTS) not in sys.path:
    sys.path.insert(0, str(_TESTS))

from pyharness.servers import (  # noqa: E402,F401
    ALL_SERVERS, HOST, REPO_ROOT, BaseServer, ConclaveServer, ServerError, ZooKeeperServer,
    digest, four_letter_word, free_port, free_ports, make_server, make_target_server,
    resolve_conclave_bin, test_target, zookeeper_available,
)


def kazoo_client(server, timeout=10.0, **kw):
    """A started KazooClient connected to `server` (127.0.0.1 only)."""
    from kazoo.client import KazooClient

    kw.setdefault("connection_retry", dict(max_tries=-1, delay=0.1, max_delay=1.0))
    kw.setdefault("command_retry", dict(max_tries=3, delay=0.1, max_delay=1.0))
    c = KazooClient(hosts=server.hosts, timeout=timeout, **kw)
    c.start(timeout=20)
    return c


def stop_client(client):
    """Stop and close a kazoo client; never raises."""
    try:
        client.stop()
    except Exception:
        pass
    try:
        client.close()
    except Exception:
        pass


def wait_until(pred, timeout=10.0, interval=0.05, what="condition"):
    """Poll pred() until truthy (returns its value) or raise AssertionError."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError("timed out after %.1fs waiting for %s (last value %r)" % (timeout, what, last))
