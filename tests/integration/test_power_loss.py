"""Durability across a power cut, not just a process kill: the node runs under the power-loss shim
(tests/powerloss/powerloss.c), is killed with SIGKILL mid-load, and everything it had written but
not made durable is undone (tests/pyharness/powerloss.py) before it restarts. Every write that was
acknowledged, through either protocol, must still be there.

The same run with --no-fsync (a server that acknowledges before its data is on disk) must lose
acknowledged writes: that is what shows the check can fail, which `kill -9` alone cannot (the
page cache survives a process kill)."""

import threading
import time
import urllib.request

import consul
import pytest
from kazoo.exceptions import KazooException, NoNodeError

import harness
from pyharness import powerloss

KILL_AFTER = 400  # acknowledgements per round before the power cut


class PowerLossServer(harness.ConclaveServer):
    def __init__(self, journal, **kw):
        super().__init__(**kw)
        self.journal = journal

    def env(self):
        e = super().env()
        e.update(powerloss.environment(self.data_dir, self.journal))
        return e


def load(srv, rnd, acked, stop):
    """ZooKeeper creates (pipelined, 32 in flight) and Consul KV puts, until `stop`."""
    zk = harness.kazoo_client(srv)
    kv = consul.Consul(host="127.0.0.1", port=srv.http_port)

    def zk_writer():
        inflight, k = [], 0
        try:
            while not stop.is_set():
                path = "/pl/r%d-%05d" % (rnd, k)
                inflight.append((path, zk.create_async(path, path.encode())))
                k += 1
                if len(inflight) >= 32:
                    p, r = inflight.pop(0)
                    r.get(timeout=10)
                    acked.append(("zk", p))
        except KazooException:
            pass
        except Exception:
            pass

    def kv_writer():
        k = 0
        try:
            while not stop.is_set():
                key = "pl/r%d-kv-%05d" % (rnd, k)
                if kv.kv.put(key, key):
                    acked.append(("kv", key))
                k += 1
        except Exception:
            pass

    threads = [threading.Thread(target=zk_writer, daemon=True), threading.Thread(target=kv_writer, daemon=True)]
    for t in threads:
        t.start()
    return zk, threads


def missing_after_restart(srv, acked):
    zk = harness.kazoo_client(srv)
    kv = consul.Consul(host="127.0.0.1", port=srv.http_port)
    try:
        missing = []
        for kind, key in acked:
            if kind == "zk":
                try:
                    if zk.get(key)[0] != key.encode():
                        missing.append(key)
                except NoNodeError:
                    missing.append(key)
            else:
                _, item = kv.kv.get(key)
                if item is None or item["Value"] != key.encode():
                    missing.append(key)
        return missing
    finally:
        harness.stop_client(zk)


def power_cut_rounds(tmp_path, extra_args, rounds):
    journal = tmp_path / "powerloss.journal"
    srv = PowerLossServer(journal, workdir=tmp_path / "node", extra_args=extra_args)
    srv.start()
    setup = harness.kazoo_client(srv)
    setup.ensure_path("/pl")
    harness.stop_client(setup)
    acked, undone_total, missing = [], {}, []
    try:
        for rnd in range(rounds):
            stop = threading.Event()
            zk, threads = load(srv, rnd, acked, stop)
            deadline = time.monotonic() + 60
            start = len(acked)
            while len(acked) - start < KILL_AFTER and time.monotonic() < deadline:
                time.sleep(0.01)
            assert len(acked) > start, "round %d: nothing was acknowledged" % rnd
            srv.kill9()
            stop.set()
            for t in threads:
                t.join(15)
            harness.stop_client(zk)
            undone = powerloss.lose_unsynced(journal)
            for k, v in undone.items():
                undone_total[k] = undone_total.get(k, 0) + v
            srv.start()
            missing = missing_after_restart(srv, list(acked))
            if missing:
                break
    finally:
        if srv.is_running():
            srv.stop()
    return acked, undone_total, missing


@pytest.mark.parametrize("snapshots", [False, True], ids=["wal", "with-snapshots"])
def test_acknowledged_writes_survive_power_loss(tmp_path, snapshots):
    # With snapshots every 200 entries, forked children write snapshot files (through the shim
    # too), and the WAL, in 16 KiB segments, retires the segments they cover, across the power
    # cuts. A retired segment whose deletion no directory fsync had made durable comes back.
    extra = ["--snapshot-entries", "200", "--wal-segment-bytes", "16384"] if snapshots else []
    acked, undone, missing = power_cut_rounds(tmp_path, extra, rounds=3)
    print("acked %d, undone at the power cuts: %r" % (len(acked), undone))
    assert undone["records"] > 0, "the shim journalled nothing: is it loaded?"
    if snapshots:
        snaps = list((tmp_path / "node").rglob("*.snap"))
        assert snaps, "no snapshot was written"
        assert undone["deletions_seen"] > 0, "no WAL segment or snapshot was deleted: %r" % undone
    assert not missing, "%d of %d acknowledged writes lost at a power cut (e.g. %r); undone %r" % (
        len(missing), len(acked), missing[:5], undone)


def test_a_server_that_skips_fdatasync_is_caught(tmp_path):
    acked, undone, missing = power_cut_rounds(tmp_path, ["--no-fsync"], rounds=1)
    print("acked %d, undone %r, lost %d" % (len(acked), undone, len(missing)))
    assert missing, ("with --no-fsync every acknowledged write was still there after the power cut: "
                     "the power-loss check cannot see a missing fdatasync (undone %r)" % undone)


SCRIPT = r"""
import ctypes, os, sys
d = sys.argv[1]
W = os.O_WRONLY | os.O_CREAT
dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
n = os.open(d + "/n", W); os.fsync(dfd); os.write(n, b"first"); os.close(n)  # created durably, data never synced
m = os.open(d + "/m", W); os.write(m, b"base"); os.fsync(m); os.fsync(dfd)
g = os.open(d + "/g", W); os.write(g, b"gone"); os.fsync(g); os.close(g); os.fsync(dfd)
os.unlink(d + "/g"); os.fsync(dfd)                    # a deletion made durable
old = os.open(d + "/c", W); os.write(old, b"old"); os.fsync(old); os.close(old)
a = os.open(d + "/a", W); os.write(a, b"one"); os.fsync(a); os.fsync(dfd)
k = os.open(d + "/k", W); os.write(k, b"keep-this"); os.fsync(k); os.fsync(dfd)
os.ftruncate(k, 4)                                    # a cut, never synced: undone
os.write(a, b"two")                                   # never synced: lost
b = os.open(d + "/b", W); os.write(b, b"x"); os.fsync(b)  # data synced, its directory entry not
t = os.open(d + "/c.tmp", W); os.write(t, b"new"); os.fsync(t); os.close(t)
os.rename(d + "/c.tmp", d + "/c")                     # not made durable by a directory fsync
os.write(m, b"more"); os.close(m)                     # never synced
ctypes.CDLL(None).remove((d + "/m").encode())         # remove(3), not made durable: m comes back
os.unlink("n", dir_fd=dfd)                            # unlinkat(2), not durable either
n = os.open(d + "/n", W); os.write(n, b"second"); os.fsync(n); os.close(n)  # another file of that name
"""


def test_the_shim_keeps_exactly_what_was_made_durable(tmp_path):
    import subprocess
    import sys
    root = tmp_path / "root"
    root.mkdir()
    journal = tmp_path / "j"
    env = dict(__import__("os").environ)
    env.update(powerloss.environment(root, journal))
    subprocess.run([sys.executable, "-c", SCRIPT, str(root)], env=env, check=True, timeout=30)
    assert (root / "a").read_bytes() == b"onetwo" and (root / "c").read_bytes() == b"new"
    assert not (root / "m").exists() and not (root / "g").exists() and (root / "n").read_bytes() == b"second"
    undone = powerloss.lose_unsynced(journal)
    assert (root / "a").read_bytes() == b"one", undone
    assert not (root / "b").exists(), undone
    assert (root / "c").read_bytes() == b"old" and not (root / "c.tmp").exists(), undone  # its creation was not durable either
    assert (root / "k").read_bytes() == b"keep-this", undone
    assert not (root / "g").exists(), undone  # its deletion was made durable
    assert (root / "m").read_bytes() == b"base", undone  # back, without the unsynced write
    # Back with its creation, but the sync of the later file of that name did not sync its data.
    assert (root / "n").read_bytes() == b"", undone
    assert undone["writes"] >= 1 and undone["creates"] >= 1 and undone["renames"] == 1 and undone["truncates"] == 1
    assert undone["deletions"] == 2, undone
