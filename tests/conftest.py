"""Rules for every suite under tests/ when run by the test command (scripts/test.sh sets
CONCLAVE_NO_SKIPS=1): a test that would skip (a missing Apache ZooKeeper, zkCli, C client, npm,
curl...) fails instead, and the suites run against Conclave only (CONCLAVE_TEST_TARGET=zookeeper is
for checking the tests themselves against ZooKeeper, by hand)."""

import os

import pytest

NO_SKIPS = os.environ.get("CONCLAVE_NO_SKIPS") == "1"


def pytest_configure(config):
    if NO_SKIPS and os.environ.get("CONCLAVE_TEST_TARGET", "conclave").strip().lower() != "conclave":
        raise pytest.UsageError("CONCLAVE_NO_SKIPS=1 (the test command) runs the suites against Conclave only; "
                                "unset CONCLAVE_TEST_TARGET")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if NO_SKIPS and rep.skipped and not hasattr(rep, "wasxfail"):
        reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) and len(rep.longrepr) == 3 else str(rep.longrepr)
        rep.outcome = "failed"
        rep.longrepr = "skipped in the test command, which must run every suite: %s" % reason
