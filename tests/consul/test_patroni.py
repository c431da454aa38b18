"""Patroni (Debian's patroni 3.0.2) runs a two-member PostgreSQL 15 cluster with
Conclave as its Consul DCS, unmodified.

What it exercises, as Patroni drives it: sessions with `behavior=delete`,
lock-delay 0.001s and a fractional TTL ("10.0s"), `acquire` of the leader key,
CAS writes of config/history/optime keys, recursive reads of the cluster prefix,
blocking queries on the leader key (Patroni's watch), CAS delete of the leader
key on a clean shutdown, and `/v1/agent/self`. The leader key is also checked
through the ZooKeeper view (the znode is ephemeral-like: it goes with the session).

Flow: member A bootstraps and takes the leader key; member B clones it with
pg_basebackup and streams; a row written on A is read on B; A stops cleanly
(Patroni deletes its leader key with cas=index); B is promoted and accepts writes.
"""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

import harness
from pyharness.servers import free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PATRONI = "/usr/bin/patroni"


def _as_postgres():
    """initdb refuses to run as root: when the suite runs as root, members run as `postgres`."""
    if os.geteuid() != 0:
        return []
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"]


class Member:
    def __init__(self, root, scope, name, consul_port):
        self.name = name
        self.dir = root / name
        self.dir.mkdir(mode=0o700)
        self.pg_port = free_port()
        self.api_port = free_port()
        self.log = self.dir / "patroni.log"
        self.config = self.dir / "patroni.yml"
        # JSON is valid YAML; Patroni reads it as its configuration file.
        self.config.write_text(json.dumps({
            "scope": scope,
            "name": name,
            "namespace": "/service/",
            "log": {"level": "INFO"},
            "restapi": {"listen": "127.0.0.1:%d" % self.api_port,
                        "connect_address": "127.0.0.1:%d" % self.api_port},
            "consul": {"host": "127.0.0.1:%d" % consul_port, "register_service": False},
            "bootstrap": {
                "dcs": {"ttl": 20, "loop_wait": 1, "retry_timeout": 5,
                        "maximum_lag_on_failover": 1048576,
                        "postgresql": {"use_pg_rewind": False, "parameters": {
                            "max_connections": 20, "shared_buffers": "16MB",
                            "wal_level": "replica", "max_wal_senders": 5, "hot_standby": "on"}}},
                "initdb": [{"encoding": "UTF8"}],
            },
            "postgresql": {
                "listen": "127.0.0.1:%d" % self.pg_port,
                "connect_address": "127.0.0.1:%d" % self.pg_port,
                "data_dir": str(self.dir / "pgdata"),
                "bin_dir": str(PG_BIN),
                "pgpass": str(self.dir / "pgpass"),
                "authentication": {
                    "superuser": {"username": "postgres", "password": "su-secret"},
                    "replication": {"username": "replicator", "password": "rep-secret"},
                },
                "pg_hba": ["local all all trust",
                           "host replication replicator 127.0.0.1/32 md5",
                           "host all all 127.0.0.1/32 md5"],
                "parameters": {"unix_socket_directories": str(self.dir)},
            },
            "tags": {"nofailover": False, "noloadbalance": False},
        }))
        if _as_postgres():
            shutil.chown(self.dir, "postgres", "postgres")
            shutil.chown(self.config, "postgres", "postgres")
        self.proc = None
        self.stopped = False

    def start(self):
        out = open(self.log, "ab")
        self.proc = subprocess.Popen(_as_postgres() + [PATRONI, str(self.config)],
                                     stdout=out, stderr=subprocess.STDOUT, cwd=str(self.dir))
        out.close()

    def role(self):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/patroni" % self.api_port, timeout=2) as r:
                return json.load(r).get("role")
        except Exception as e:  # 503 on a replica's health endpoints; /patroni answers always
            if hasattr(e, "read"):
                try:
                    return json.loads(e.read()).get("role")
                except Exception:
                    return None
            return None

    def psql(self, sql):
        r = subprocess.run(_as_postgres() + [str(PG_BIN.parent / "bin" / "psql"), "-h", str(self.dir),
                                              "-p", str(self.pg_port), "-U", "postgres", "-d", "postgres",
                                              "-Atc", sql],
                           capture_output=True, text=True, timeout=20)
        if r.returncode != 0:
            raise RuntimeError("psql on %s: %s" % (self.name, r.stderr.strip()))
        return r.stdout.strip()

    def stop(self, timeout=40):
        self.stopped = True
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def kill_postgres(self):
        """After a hard stop of Patroni, its postmaster may outlive it: stop it by its pid file."""
        pid_file = self.dir / "pgdata" / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().split()[0])
            os.kill(pid, signal.SIGQUIT)
        except (OSError, ValueError, IndexError):
            pass

    def log_tail(self, n=40):
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"


def _wait(pred, timeout, what, members):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for m in members:
            if m.proc is not None and m.proc.poll() is not None and not m.stopped:
                raise AssertionError("patroni %s exited (%s) while waiting for %s\n%s"
                                     % (m.name, m.proc.returncode, what, m.log_tail()))
        try:
            v = pred()
            if v:
                return v
        except Exception:
            pass
        time.sleep(0.25)
    logs = "\n".join("--- %s ---\n%s" % (m.name, m.log_tail()) for m in members)
    raise AssertionError("timed out after %ss waiting for %s\n%s" % (timeout, what, logs))


@pytest.fixture
def cluster(node):
    assert Path(PATRONI).exists(), "patroni is not installed (scripts/install-deps.sh installs it)"
    assert (PG_BIN / "initdb").exists(), "PostgreSQL 15 is not installed"
    # pytest's tmp_path sits under a root-only folder when run as root: the members
    # (running as `postgres` then) get a folder of their own under the system temp dir.
    root = Path(tempfile.mkdtemp(prefix="conclave-patroni-"))
    if _as_postgres():
        os.chmod(root, 0o755)
        shutil.chown(root, "postgres", "postgres")
    scope = "pg-" + uuid.uuid4().hex[:8]
    members = [Member(root, scope, n, node.http_port) for n in ("a", "b")]
    yield scope, members
    for m in members:
        m.stop()
        m.kill_postgres()
    shutil.rmtree(root, ignore_errors=True)


def test_patroni_bootstraps_replicates_and_fails_over(c, zk, cluster):
    scope, (a, b) = cluster
    leader_key = "service/%s/leader" % scope
    a.start()
    _wait(lambda: a.role() in ("master", "primary"), 90, "member a to bootstrap as primary", [a])
    # Patroni takes the leader key after bootstrap's first start of PostgreSQL (post_bootstrap),
    # so the key can trail the role by a loop.
    _wait(lambda: (c.kv.get(leader_key)[1] or {}).get("Value") == b"a", 30, "member a's leader key", [a])
    _, e = c.kv.get(leader_key)
    assert e["Value"] == b"a" and e.get("Session"), e
    session = c.session.info(e["Session"])[1]
    assert session["Behavior"] == "delete" and session["Name"] == scope + "-a", session
    # The same key through the ZooKeeper view.
    data, _ = zk.get("/" + leader_key)
    assert data == b"a"
    _, init = c.kv.get("service/%s/initialize" % scope)
    assert init and init["Value"], "Patroni did not record the system identifier"

    b.start()
    _wait(lambda: b.role() == "replica", 90, "member b to stream from a", [a, b])
    a.psql("CREATE TABLE t (v text); INSERT INTO t VALUES ('through conclave')")
    _wait(lambda: b.psql("SELECT v FROM t") == "through conclave", 30, "the row to reach b", [a, b])
    _, members = c.kv.get("service/%s/members/" % scope, recurse=True)
    assert sorted(m["Key"].rsplit("/", 1)[1] for m in members) == ["a", "b"]

    # A clean stop of the primary deletes its leader key; b sees that through its
    # blocking query on the key and takes over.
    a.stop()
    assert a.proc.returncode == 0, a.log_tail()
    _, e = c.kv.get(leader_key)
    assert e is None or e["Value"] == b"b", "a's clean stop left its leader key: %r" % (e,)
    _wait(lambda: b.role() in ("master", "primary"), 60, "member b to be promoted", [a, b])
    _wait(lambda: (c.kv.get(leader_key)[1] or {}).get("Value") == b"b", 30, "member b's leader key", [a, b])
    b.psql("INSERT INTO t VALUES ('after failover')")
    assert b.psql("SELECT count(*) FROM t") == "2"
