"""Fixtures for the Consul API suite: one Conclave node shared by the module,
python-consul (Debian's python3-consul 0.7.1) and kazoo clients on it, and a
raw HTTP helper for what python-consul does not cover (txn, bad input)."""

import json
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

_TESTS = Path(__file__).resolve().parents[1]
for p in (str(_TESTS), str(_TESTS / "integration")):
    if p not in sys.path:
        sys.path.insert(0, p)

import harness  # noqa: E402
from pyharness.pytest_support import pytest_runtest_makereport  # noqa: E402,F401


class Http:
    """Raw HTTP/1.1 calls: (status, headers, body bytes). Never raises on 4xx/5xx."""

    def __init__(self, port):
        self.base = "http://127.0.0.1:%d" % port

    def call(self, method, path, body=None, headers=None, timeout=30.0):
        data = body if isinstance(body, (bytes, type(None))) else body.encode()
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
        except urllib.error.HTTPError as e:
            return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()

    def json(self, method, path, body=None, **kw):
        status, headers, data = self.call(method, path, body, **kw)
        return status, headers, (json.loads(data) if data and data[:1] in (b"[", b"{", b'"', b"t", b"f", b"n") else data)


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
