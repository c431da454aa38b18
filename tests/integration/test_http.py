"""Conclave's HTTP endpoints (Conclave only; skipped for ZooKeeper)."""

import json
import re

import pytest

import harness


@pytest.fixture
def conclave(target_server):
    if not isinstance(target_server, harness.ConclaveServer):
        pytest.skip("HTTP API is Conclave-specific")
    return target_server


def test_status_leader_is_json_string(conclave):
    status, headers, body = conclave.http_get("/v1/status/leader")
    assert status == 200
    value = json.loads(body.decode())
    assert isinstance(value, str), body


def test_metrics_prometheus_text(conclave, zk):
    zk.ensure_path("/http_metrics_probe")
    status, headers, body = conclave.http_get("/metrics")
    assert status == 200
    text = body.decode()
    samples = [l for l in text.splitlines() if l and not l.startswith("#")]
    assert samples, text[:2000]
    for line in samples:
        assert re.match(r"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? [-+0-9.eEinfINFaN]+( \d+)?$", line), line
    zk.delete("/http_metrics_probe")
