"""Fixtures for the Consul API suite: one Conclave node shared by the module,
python-consul (Debian's python3-consul 0.7.1) and kazoo clients on it, and a
raw HTTP helper for what python-consul does not cover (txn, bad input)."""

import sys
import uuid
from pathlib import Path

import pytest

_TESTS = Path(__file__).resolve().parents[1]
for p in (str(_TESTS), str(_TESTS / "integration")):
    if p not in sys.path:
        sys.path.insert(0, p)

import harness  # noqa: E402

# tests/consul/consul2 needs python3-consul2 on its path; test_python_consul2.py runs it apart.
collect_ignore = ["consul2"]
from consulhttp import Http  # noqa: E402
from pyharness.pytest_support import pytest_runtest_makereport  # noqa: E402,F401


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    srv = harness.ConclaveServer(workdir=tmp_path_factory.mktemp("consul"))
    srv.start()
    yield srv
    srv.retire()


@pytest.fixture
def http(node):
    return Http(node.http_port)


@pytest.fixture
def c(node):
    import consul
    return consul.Consul(host="127.0.0.1", port=node.http_port)


@pytest.fixture
def zk(node):
    client = harness.kazoo_client(node)
    yield client
    harness.stop_client(client)


@pytest.fixture
def prefix(request):
    """A unique key prefix for this test."""
    return "t-%s-%s/" % (request.node.name.replace("[", "_").replace("]", "")[:40], uuid.uuid4().hex[:6])
