"""Smoke run of the benchmark tools (seconds): the load generator against a Conclave node with
every operation of its mix, the physical-floor probe, and the micro-benchmarks. The real
comparison is bench/compare.py (docs/benchmarks.md)."""

import json
import subprocess
from pathlib import Path

import pytest

import harness
from pyharness.servers import ConclaveServer

BUILD = Path(__file__).resolve().parents[2] / "build" / "release" / "bench"


def result_line(stdout):
    lines = [l for l in stdout.splitlines() if l.startswith("RESULT ")]
    assert lines, stdout
    return json.loads(lines[-1][7:])


@pytest.mark.skipif(harness.test_target() != "conclave", reason="Conclave-only")
def test_loadgen_smoke(tmp_path):
    srv = ConclaveServer(workdir=tmp_path / "srv")
    srv.start()
    try:
        out = subprocess.run([str(BUILD / "conclave_loadgen"), "--hosts", srv.hosts, "--connections", "4",
                              "--outstanding", "4", "--keys", "500", "--wide-children", "50", "--duration", "1",
                              "--mix", "get=30,set=20,create_seq=10,create_delete=10,exists=10,children=10,multi=10"],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        r = result_line(out.stdout)
        assert set(r["ops"]) == {"get", "set", "create_seq", "create_delete", "exists", "children", "multi"}
        for op, v in r["ops"].items():
            assert v["errors"] == 0, (op, v)
            assert v["ops_per_s"] > 0, (op, v)
    finally:
        srv.stop()


def test_floor_and_microbench_smoke(tmp_path):
    out = subprocess.run([str(BUILD / "conclave_loadgen"), "--floor", "--dir", str(tmp_path)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    r = result_line(out.stdout)
    assert r["fdatasync_p50_ms"] > 0 and r["loopback_rtt_p50_us"] > 0
    mb = subprocess.run([str(BUILD / "conclave_microbench"), "--benchmark_min_time=0.01",
                         "--benchmark_filter=Jute|TreeLookup|CommandEncode"],
                        capture_output=True, text=True, timeout=120)
    assert mb.returncode == 0, mb.stderr
    assert "BM_JuteDecodeCreate" in mb.stdout
