"""Snapshots do not stop writes.

A snapshot is written by a forked child from its copy-on-write image of the
node, so applies go on while it is encoded and written. The failpoint
CONCLAVE_FAILPOINT_SNAPSHOT_HOLD names a file; while it exists a snapshot
waits before encoding. Holding one open-endedly makes the difference
client-visible without measuring time: with the child, every write made while
the snapshot is held is acknowledged; with in-process snapshots
(--snapshot-in-process, what the node falls back to when fork fails) writes
made meanwhile are not answered until the hold is released.
"""

import os
import re
import signal
import time

from kazoo.client import KazooClient

from pyharness.servers import ConclaveServer, HOST


class HeldSnapshotServer(ConclaveServer):
    def __init__(self, hold, **kw):
        super().__init__(**kw)
        self.hold = hold

    def env(self):
        env = super().env()
        env["CONCLAVE_FAILPOINT_SNAPSHOT_HOLD"] = str(self.hold)
        return env


def connect(port):
    zk = KazooClient(hosts="%s:%d" % (HOST, port), timeout=10)
    zk.start(timeout=15)
    return zk


def log_count(server, pattern):
    return len(re.findall(pattern, server.log_path.read_text()))


def wait_for(what, cond, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("timed out after %d s waiting for %s" % (timeout, what))


def children_of(pid):
    kids = []
    for task in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/children" % (pid, task)) as f:
            kids += [int(x) for x in f.read().split()]
    return kids


def test_writes_are_acknowledged_while_a_snapshot_is_held(tmp_path):
    hold = tmp_path / "hold"
    hold.write_text("")
    srv = HeldSnapshotServer(hold, workdir=tmp_path / "node", extra_args=["--snapshot-entries", "100"])
    srv.start()
    zk = connect(srv.port)
    try:
        zk.ensure_path("/s")
        for k in range(150):
            zk.create("/s/a%03d" % k, b"a")
        wait_for("the snapshot process to start", lambda: log_count(srv, r"started in process \d+") >= 1)
        assert children_of(srv.pid), "the snapshot is written by a child process"
        # The snapshot is held: every one of these is still applied and answered.
        for k in range(300):
            zk.create("/s/b%03d" % k, str(k).encode())
            assert zk.get("/s/b%03d" % k)[0] == str(k).encode()
        assert log_count(srv, r"snapshot at index \d+ written") == 0, "the snapshot was held throughout"
        hold.unlink()
        wait_for("the snapshot to be written", lambda: log_count(srv, r"snapshot at index \d+ written") >= 1)
        assert "applies went on" in srv.log_path.read_text()
    finally:
        zk.stop()
        zk.close()
    srv.stop()
    srv.start()
    zk = connect(srv.port)
    try:
        assert len(zk.get_children("/s")) == 450
    finally:
        zk.stop()
        zk.close()
        srv.stop()


def test_in_process_snapshots_hold_applies(tmp_path):
    """The check above can fail: the in-process fallback stops applies while encoding."""
    hold = tmp_path / "hold"
    hold.write_text("")
    srv = HeldSnapshotServer(hold, workdir=tmp_path / "node",
                             extra_args=["--snapshot-entries", "100", "--snapshot-in-process"])
    srv.start()
    zk = connect(srv.port)
    try:
        zk.ensure_path("/s")
        waiting = None
        for k in range(150):
            w = zk.create_async("/s/a%03d" % k, b"a")
            w.wait(3)
            if not w.ready():
                waiting = w  # applies are held from here on
                break
        assert waiting is not None, "a write made during the in-process snapshot waited for it"
        assert log_count(srv, r"snapshot at index \d+ written") == 0
        hold.unlink()
        waiting.get(timeout=30)
        wait_for("the snapshot to be written", lambda: log_count(srv, r"snapshot at index \d+ written") >= 1)
        assert "applies waited" in srv.log_path.read_text()
    finally:
        zk.stop()
        zk.close()
        srv.stop()


def test_shutdown_does_not_wait_for_a_held_snapshot(tmp_path):
    hold = tmp_path / "hold"
    hold.write_text("")
    srv = HeldSnapshotServer(hold, workdir=tmp_path / "node", extra_args=["--snapshot-entries", "100"])
    srv.start()
    zk = connect(srv.port)
    try:
        zk.ensure_path("/s")
        for k in range(150):
            zk.create("/s/a%03d" % k, b"a")
        wait_for("the snapshot process to start", lambda: log_count(srv, r"started in process \d+") >= 1)
        kids = children_of(srv.pid)
        assert kids
    finally:
        zk.stop()
        zk.close()
    os.kill(srv.pid, signal.SIGTERM)
    srv.proc.wait(30)  # bounded: the held child is killed, not waited for
    for kid in kids:
        wait_for("snapshot process %d to go" % kid, lambda: not os.path.exists("/proc/%d/stat" % kid)
                 or open("/proc/%d/stat" % kid).read().rsplit(")", 1)[1].split()[0] == "Z")
    # No snapshot file was left half-written under its final name; the node restarts from the WAL.
    srv.start()
    zk = connect(srv.port)
    try:
        assert len(zk.get_children("/s")) == 150
    finally:
        zk.stop()
        zk.close()
        srv.stop()
