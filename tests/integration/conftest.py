"""Fixtures for the integration suite.

CONCLAVE_TEST_TARGET=conclave (default) runs everything against the Conclave
binary; CONCLAVE_TEST_TARGET=zookeeper runs the same tests against Apache
ZooKeeper 3.8 (used to validate the tests themselves).
"""

import sys
import uuid
from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent
for p in (str(_HERE), str(_HERE.parent)):
    if p not in sys.path:
        sys.path.insert(0, p)

import harness  # noqa: E402
# hookwrapper that appends server log tails to failing tests' reports
from pyharness.pytest_support import pytest_runtest_makereport  # noqa: E402,F401


def pytest_configure(config):
    # kazoo 2.8 uses Event.isSet(); keep the output readable
    config.addinivalue_line("filterwarnings", "ignore:isSet\\(\\) is deprecated:DeprecationWarning")


def _check_available():
    if harness.test_target() == "zookeeper" and not harness.zookeeper_available():
        pytest.skip("CONCLAVE_TEST_TARGET=zookeeper but ZooKeeper/java is not installed")


@pytest.fixture(scope="session")
def target_server(tmp_path_factory):
    """One server (Conclave or ZooKeeper) shared by the integration modules
    that do not restart it."""
    _check_available()
    srv = harness.make_target_server(workdir=tmp_path_factory.mktemp("target-" + harness.test_target()))
    srv.start()
    yield srv
    srv.retire()


@pytest.fixture
def fresh_server(tmp_path):
    """A dedicated server for tests that kill/restart it."""
    _check_available()
    srv = harness.make_target_server(workdir=tmp_path / "server")
    yield srv
    srv.retire()


@pytest.fixture
def zk(target_server):
    """A connected KazooClient, stopped after the test."""
    c = harness.kazoo_client(target_server)
    yield c
    harness.stop_client(c)


@pytest.fixture
def make_client(target_server):
    """Factory for additional KazooClients (all stopped after the test)."""
    clients = []

    def make(**kw):
        c = harness.kazoo_client(target_server, **kw)
        clients.append(c)
        return c

    yield make
    for c in clients:
        harness.stop_client(c)


@pytest.fixture
def root(zk, request):
    """A unique path for this test, removed afterwards."""
    name = "/it_%s_%s" % (request.node.name.replace("[", "_").replace("]", "")[:60], uuid.uuid4().hex[:6])
    zk.ensure_path(name)
    yield name
    try:
        if zk.connected:
            zk.delete(name, recursive=True)
    except Exception:
        pass
