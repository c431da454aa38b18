"""The `conclave` command line: help, flag errors, the config file, connection limits and the
reaping of containers and TTL nodes (with a short --reap-interval-ms)."""

import socket
import subprocess
import time

import pytest

import harness
from pyharness.servers import ConclaveServer, free_port, four_letter_word, resolve_conclave_bin

pytestmark = pytest.mark.skipif(harness.test_target() != "conclave", reason="Conclave-only")


def run(*args, timeout=20):
    return subprocess.run([str(resolve_conclave_bin()), *args], capture_output=True, text=True, timeout=timeout)


def test_help_for_every_subcommand():
    top = run("--help")
    assert top.returncode == 0
    for word in ("agent", "operator", "version"):
        assert word in top.stdout
    agent = run("agent", "--help")
    assert agent.returncode == 0
    for flag in ("--dev", "--data-dir", "--bind", "--zk-port", "--http-port", "--config", "--zk-super-digest",
                 "--zk-sasl-users", "--4lw-whitelist", "--node-id", "--raft-port", "--peers"):
        assert flag in agent.stdout, flag
    assert run("operator", "raft", "--help").returncode == 0
    assert run("version", "--help").returncode == 0
    assert "3.8" in run("version").stdout


def test_bad_flags_are_refused_clearly():
    r = run("agent", "--no-such-flag")
    assert r.returncode == 2 and "unknown option --no-such-flag" in r.stderr
    r = run("agent")
    assert r.returncode == 2 and "--data-dir is required" in r.stderr
    r = run("agent", "--data-dir", "/tmp/x", "--zk-port", "99999")
    assert r.returncode == 2 and "--zk-port" in r.stderr
    r = run("agent", "--data-dir", "/tmp/x", "--peers", "1=127.0.0.1")
    assert r.returncode == 2 and "--peers" in r.stderr
    assert run("frobnicate").returncode == 2


def test_config_file(tmp_path):
    port, http, dns = free_port(), free_port(), free_port()
    cfg = tmp_path / "conclave.conf"
    cfg.write_text("# a comment\ndata-dir = %s\nzk-port = %d\nhttp-port = %d\ndns-port = %d\n4lw-whitelist = ruok, srvr\n"
                   % (tmp_path / "data", port, http, dns))
    proc = subprocess.Popen([str(resolve_conclave_bin()), "agent", "--config", str(cfg)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                if four_letter_word(port, b"ruok", timeout=1) == b"imok":
                    break
            except OSError:
                time.sleep(0.1)
        assert four_letter_word(port, b"ruok") == b"imok"
        assert b"not in the whitelist" in four_letter_word(port, b"envi")
    finally:
        proc.terminate()
        proc.wait(10)
    bad = tmp_path / "bad.conf"
    bad.write_text("zk-port = 1\nno-such-setting = 3\n")
    r = run("agent", "--config", str(bad))
    assert r.returncode == 2 and "bad.conf:2" in r.stderr


def test_connection_limit(tmp_path):
    srv = ConclaveServer(workdir=tmp_path / "srv", extra_args=["--max-connections", "3"])
    srv.start()
    try:
        held = []
        for _ in range(3):
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=3)
            held.append(s)
        time.sleep(0.2)
        extra = socket.create_connection(("127.0.0.1", srv.port), timeout=3)
        extra.settimeout(3)
        assert extra.recv(10) == b"", "a connection beyond the limit must be closed"
        for s in held:
            s.close()
        time.sleep(0.3)
        assert four_letter_word(srv.port, b"ruok") == b"imok"
        status, _, body = srv.http_get("/metrics")
        assert b"conclave_zk_rejected_connections_total 1" in body
    finally:
        srv.stop()


def test_containers_and_ttl_nodes_are_reaped(tmp_path):
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "compat"))
    import zkwire  # kazoo 2.8 has no container/TTL arguments: use the raw protocol

    srv = ConclaveServer(workdir=tmp_path / "srv", extra_args=["--reap-interval-ms", "200"])
    srv.start()
    zk = harness.kazoo_client(srv)
    raw = zkwire.ZKConn("127.0.0.1", srv.port)
    raw.connect()
    try:
        assert raw.call("createContainer", zkwire.enc_create("/box", flags=4))["err"] == 0
        assert raw.call("createContainer", zkwire.enc_create("/never-used", flags=4))["err"] == 0
        assert raw.call("createTTL", zkwire.enc_create("/ttl", flags=5, ttl=300))["err"] == 0
        zk.create("/box/item", b"")
        zk.delete("/box/item")
        harness.wait_until(lambda: zk.exists("/box") is None, timeout=10, what="the emptied container to go")
        harness.wait_until(lambda: zk.exists("/ttl") is None, timeout=10, what="the TTL node to expire")
        time.sleep(0.5)
        assert zk.exists("/never-used") is not None, "a container that never had children stays"
    finally:
        raw.sock.close()
        harness.stop_client(zk)
        srv.stop()
