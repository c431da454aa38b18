"""pytest glue shared by tests/compat and tests/integration conftests."""

import pytest

from . import servers


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On failure, append the tail of every live test server's log."""
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and call.when in ("setup", "call"):
        for srv in servers.live_servers():
            rep.sections.append(("server log tail: %s (%s)" % (srv.name, srv.log_path),
                                 srv.log_tail(40)))
