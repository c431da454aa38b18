"""python3-consul2 (Debian 0.1.5) against one Conclave node.

Debian's python3-consul2 conflicts with python3-consul (both install the
`consul` module), so scripts/test.sh unpacks its .deb into
build/debs/python3-consul2 and tests/consul/test_python_consul2.py runs this
folder in a separate interpreter with that directory first on PYTHONPATH.
The outer suite does not collect this folder (see tests/consul/conftest.py)."""

import sys
import uuid
from pathlib import Path

import pytest

_TESTS = Path(__file__).resolve().parents[2]
for p in (str(_TESTS), str(_TESTS / "integration")):
    if p not in sys.path:
        sys.path.insert(0, p)

import harness  # noqa: E402
from pyharness.pytest_support import pytest_runtest_makereport  # noqa: E402,F401

import consul  # noqa: E402

# Refuse to run against the wrong library: python-consul 0.7.1 has no Txn class.
assert hasattr(consul.Consul, "Txn") and "python3-consul2" in consul.__file__, consul.__file__


class _External:
    """A node someone else runs (CONSUL2_TARGET_PORT: a cluster member, from tests/cluster)."""

    def __init__(self, http_port):
        self.http_port = http_port


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    import os
    if os.environ.get("CONSUL2_TARGET_PORT"):
        yield _External(int(os.environ["CONSUL2_TARGET_PORT"]))
        return
    srv = harness.ConclaveServer(workdir=tmp_path_factory.mktemp("consul2"))
    srv.start()
    yield srv
    srv.retire()


@pytest.fixture
def c(node):
    return consul.Consul(host="127.0.0.1", port=node.http_port)


@pytest.fixture
def prefix(request):
    return "c2-%s-%s/" % (request.node.name[:40], uuid.uuid4().hex[:6])
