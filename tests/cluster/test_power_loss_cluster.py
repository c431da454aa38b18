"""A power cut of the whole 3-node cluster at once: every node runs under the power-loss shim
(tests/powerloss/powerloss.c), all three are killed mid-load, each loses what it had not made
durable (tests/pyharness/powerloss.py), and the restarted cluster must still hold every write it
acknowledged, through snapshots and WAL segment retirement. A Raft implementation that counts a follower's append before the follower's fsync,
or that answers before its own, fails this; a process kill of one node at a time does not show it."""

import os
import threading
import time

from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError

from cluster import Cluster
from pyharness import powerloss


def test_acknowledged_writes_survive_a_cluster_wide_power_cut(tmp_path):
    # Snapshots every 200 entries and 16 KiB WAL segments: segments are retired on every node
    # between the cuts, and a deletion no directory fsync made durable is undone by the cut.
    c = Cluster(3, extra_args=["--snapshot-entries", "200", "--wal-segment-bytes", "16384"])
    journals = {}
    for i, node in c.nodes.items():
        journals[i] = tmp_path / ("node%d.journal" % i)
        extra = powerloss.environment(node.data_dir, journals[i])
        node.env = lambda extra=extra: {**os.environ, **extra}
    c.start()
    acked = []
    try:
        for rnd in range(2):
            c.wait_leader()
            zk = KazooClient(hosts=c.hosts(), timeout=10.0)
            zk.start(timeout=15)
            zk.ensure_path("/cut")
            stop = threading.Event()

            def writer(rnd=rnd, zk=zk, stop=stop):
                inflight, k = [], 0
                try:
                    while not stop.is_set():
                        path = "/cut/r%d-%05d" % (rnd, k)
                        inflight.append((path, zk.create_async(path, path.encode())))
                        k += 1
                        if len(inflight) >= 32:
                            p, r = inflight.pop(0)
                            r.get(timeout=10)
                            acked.append(p)
                except Exception:
                    pass

            t = threading.Thread(target=writer, daemon=True)
            t.start()
            start, deadline = len(acked), time.monotonic() + 60
            while len(acked) - start < 300 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert len(acked) > start, "round %d: nothing acknowledged" % rnd
            for node in c.nodes.values():
                node.kill9()
            stop.set()
            t.join(15)
            zk.stop()
            zk.close()
            undone = {i: powerloss.lose_unsynced(journals[i]) for i in c.nodes}
            print("round %d: %d acked; undone %r" % (rnd, len(acked), undone))
            assert all(u["records"] > 0 for u in undone.values()), undone
            c.start()
            check = KazooClient(hosts=c.hosts(), timeout=10.0)
            check.start(timeout=15)
            try:
                missing = []
                for p in acked:
                    try:
                        if check.get(p)[0] != p.encode():
                            missing.append(p)
                    except NoNodeError:
                        missing.append(p)
                assert not missing, "%d of %d acknowledged writes lost (e.g. %r)" % (len(missing), len(acked), missing[:5])
            finally:
                check.stop()
                check.close()
        c.wait_converged()
    finally:
        c.stop()
