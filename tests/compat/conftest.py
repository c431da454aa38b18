"""Fixtures for the differential (ZooKeeper vs Conclave) suite."""

import os
import re
import sys
from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent
for p in (str(_HERE), str(_HERE.parent)):
    if p not in sys.path:
        sys.path.insert(0, p)

from pyharness import servers  # noqa: E402
# hookwrapper that appends server log tails to failing tests' reports
from pyharness.pytest_support import pytest_runtest_makereport  # noqa: E402,F401
import difftest  # noqa: E402

SUPER_DIGEST = servers.digest(difftest.SUPER_USER, difftest.SUPER_PASSWORD)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "zk_quirk: compares a ZooKeeper behaviour that real clients do not depend on "
        "(deselect with -m 'not zk_quirk')")


@pytest.fixture(scope="module")
def zk_reference(tmp_path_factory):
    if not servers.zookeeper_available():
        pytest.skip("Apache ZooKeeper (Debian package 'zookeeper') or java not installed")
    srv = servers.ZooKeeperServer(workdir=tmp_path_factory.mktemp("zk-reference"),
                                  super_digest=SUPER_DIGEST, name="zookeeper-reference")
    srv.start()
    yield srv
    srv.retire()


@pytest.fixture(scope="module")
def subject(tmp_path_factory, zk_reference):
    """The server under test: Conclave, or a second ZooKeeper when
    CONCLAVE_TEST_TARGET=zookeeper (self-check of the suite)."""
    target = servers.test_target()
    wd = tmp_path_factory.mktemp("subject-" + target)
    if target == "zookeeper":
        srv = servers.ZooKeeperServer(workdir=wd, super_digest=SUPER_DIGEST,
                                      name="zookeeper-subject")
    else:
        srv = servers.ConclaveServer(workdir=wd, super_digest=SUPER_DIGEST, name="conclave")
    srv.start()
    yield srv
    srv.retire()


def _root_for(nodeid):
    name = nodeid.split("::")[-1]
    name = re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_")
    return "/dt_" + name[:80]


@pytest.fixture
def diff(request, zk_reference, subject):
    """diff(script) runs script(run) against the reference and the subject
    and fails with a readable report if the normalised transcripts differ.

    The script receives a difftest.Run: run.root is a fresh path unique to the
    test, run.session('A') opens a recorded session, etc."""
    sub_name = "zk-2" if servers.test_target() == "zookeeper" else "conclave"
    root = _root_for(request.node.nodeid)

    def run_both(script, root_path=root):
        runs = []
        for srv, role in ((zk_reference, "zookeeper"), (subject, sub_name)):
            if not srv.is_running():
                pytest.fail("%s is not running (exit code %s); log tail:\n%s"
                            % (srv.name, srv.proc.returncode, srv.log_tail()), pytrace=False)
            difftest.cleanup_tree(srv.port, root_path)
            run = difftest.Run(srv, role, root_path)
            try:
                script(run)
            finally:
                run.finish()
            runs.append(run)
        ref, sub = runs
        msg = difftest.compare_runs(ref, sub, "zookeeper", sub_name)
        if os.environ.get("CONCLAVE_DIFF_VERBOSE") == "1":
            print("\n=== reference transcript (%s) ===\n%s" % (request.node.name, difftest.transcript(ref)))
        if msg:
            pytest.fail("%s\n\n(full reference transcript: set CONCLAVE_DIFF_VERBOSE=1 and use -s)"
                        % msg, pytrace=False)
        return ref, sub

    return run_both


@pytest.fixture
def both(zk_reference, subject):
    """[(role, server)] for non-differential per-server checks."""
    sub_name = "zk-2" if servers.test_target() == "zookeeper" else "conclave"
    return [("zookeeper", zk_reference), (sub_name, subject)]
