"""Snapshots do not stop writes.

A snapshot is encoded a slice at a time while applies go on; a znode about to
change before its turn is encoded first, as it was (state/snapshot.h). The
failpoint CONCLAVE_FAILPOINT_SNAPSHOT_HOLD names a file; while it exists a
snapshot in progress encodes nothing more. Holding one open-endedly makes the
difference client-visible without measuring time: every write made while the
snapshot is held is acknowledged, and the snapshot, once released, is the tree
as it was when it started. With --snapshot-blocking (each snapshot in one go)
writes made meanwhile are not answered until the hold is released.
"""

import os
import re
import shutil
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


def start_held(tmp_path, *extra):
    """A node taking a snapshot every 100 entries, with the hold file in place."""
    hold = tmp_path / "hold"
    hold.write_text("")
    srv = HeldSnapshotServer(hold, workdir=tmp_path / "node", extra_args=["--snapshot-entries", "100", *extra])
    srv.start()
    return hold, srv


def fill_until_held(srv, zk):
    """150 creates under /s: the snapshot starts among them and is held."""
    zk.ensure_path("/s")
    for k in range(150):
        zk.create("/s/a%03d" % k, b"a")
    wait_for("the snapshot to start", lambda: log_count(srv, r"snapshot at index \d+ started") >= 1)


def test_writes_are_acknowledged_while_a_snapshot_is_held(tmp_path):
    hold, srv = start_held(tmp_path)
    zk = connect(srv.port)
    try:
        fill_until_held(srv, zk)
        started = int(re.search(r"snapshot at index (\d+) started", srv.log_path.read_text()).group(1))
        # The snapshot is held: every one of these is still applied and answered, and changes
        # of znodes the snapshot has not encoded yet.
        for k in range(300):
            zk.create("/s/b%03d" % k, str(k).encode())
            assert zk.get("/s/b%03d" % k)[0] == str(k).encode()
        for k in range(0, 150, 2):
            zk.set("/s/a%03d" % k, b"changed")
        for k in range(1, 150, 4):
            zk.delete("/s/a%03d" % k)
        assert log_count(srv, r"snapshot at index \d+ written") == 0, "the snapshot was held throughout"
        hold.unlink()
        wait_for("the snapshot to be written", lambda: log_count(srv, r"snapshot at index \d+ written") >= 1)
        assert "in slices while applies went on" in srv.log_path.read_text()
        copied = int(re.search(r"(\d+) znodes copied on write", srv.log_path.read_text()).group(1))
        assert copied > 0, "changed znodes were encoded ahead of their turn"
    finally:
        zk.stop()
        zk.close()
    srv.stop()
    # The snapshot holds the tree as it was when it started: load it on its own (later snapshots
    # and the WAL moved aside), and it has the znodes of that moment, with their old data.
    snap_dir = srv.data_dir / "snap"
    aside = srv.data_dir / "aside"
    aside.mkdir()
    for f in snap_dir.glob("*.snap"):
        if int(f.name.split(".")[0]) != started:
            f.rename(aside / f.name)
    assert (snap_dir / ("%020d.snap" % started)).exists()
    wal = srv.data_dir / "wal"
    wal.rename(srv.data_dir / "wal-aside")
    srv.start()
    zk = connect(srv.port)
    try:
        names = set(zk.get_children("/s"))
        assert {n for n in names if n.startswith("b")} == set(), "znodes created after the start are not in it"
        assert len(names) >= 80 and all(zk.get("/s/" + n)[0] == b"a" for n in names), \
            "znodes keep the data they had when the snapshot started"
        print("snapshot at index %d: %d znodes under /s" % (started, len(names)))
    finally:
        zk.stop()
        zk.close()
        srv.stop()
    shutil.rmtree(wal)
    (srv.data_dir / "wal-aside").rename(wal)
    for f in aside.glob("*.snap"):
        f.rename(snap_dir / f.name)
    srv.start()
    zk = connect(srv.port)
    try:
        names = set(zk.get_children("/s"))
        assert len(names) == 450 - len(range(1, 150, 4))
        assert zk.get("/s/a000")[0] == b"changed"
    finally:
        zk.stop()
        zk.close()
        srv.stop()


def test_blocking_snapshots_hold_applies(tmp_path):
    """The check above can fail: --snapshot-blocking stops applies while encoding."""
    hold, srv = start_held(tmp_path, "--snapshot-blocking")
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
        assert waiting is not None, "a write made during the blocking snapshot waited for it"
        assert log_count(srv, r"snapshot at index \d+ written") == 0
        hold.unlink()
        waiting.get(timeout=30)
        wait_for("the snapshot to be written", lambda: log_count(srv, r"snapshot at index \d+ written") >= 1)
        assert "in one go while everything waited" in srv.log_path.read_text()
    finally:
        zk.stop()
        zk.close()
        srv.stop()


def test_shutdown_does_not_wait_for_a_held_snapshot(tmp_path):
    _, srv = start_held(tmp_path)
    zk = connect(srv.port)
    try:
        fill_until_held(srv, zk)
    finally:
        zk.stop()
        zk.close()
    os.kill(srv.pid, signal.SIGTERM)
    srv.proc.wait(30)  # bounded: a snapshot in progress is abandoned, not waited for
    # No snapshot file was written; the node restarts from the WAL.
    assert not list(srv.data_dir.rglob("*.snap"))
    srv.start()
    zk = connect(srv.port)
    try:
        assert len(zk.get_children("/s")) == 150
    finally:
        zk.stop()
        zk.close()
        srv.stop()
