"""Snapshots taken while clients read and write.

While a snapshot is encoded (a slice at a time, copy-on-write per znode), the
node keeps serving reads and applying writes. With a snapshot every 50
entries, four sessions each create znodes and read every one back at once (a
session must read its own writes, in the middle of a snapshot too), and a
fifth session only reads. Then the node is killed with
SIGKILL mid-load and restarted: every acknowledged create is there with its
data, and the tree survives a second restart from the snapshots alone.
"""

import re
import threading

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException

from pyharness.servers import ConclaveServer, HOST

WRITERS = 4
PER_WRITER = 300


def connect(port):
    zk = KazooClient(hosts="%s:%d" % (HOST, port), timeout=10)
    zk.start(timeout=15)
    return zk


def snapshot_lines(server):
    return re.findall(r"snapshot at index \d+ written", server.log_path.read_text())


def test_reads_and_writes_across_snapshots_and_kill9(tmp_path):
    srv = ConclaveServer(workdir=tmp_path / "node", extra_args=["--snapshot-entries", "50"])
    srv.start()
    try:
        setup = connect(srv.port)
        setup.ensure_path("/snap")
        acked = {}
        lock = threading.Lock()
        failures = []
        stop_reading = threading.Event()

        def writer(w):
            zk = connect(srv.port)
            try:
                for k in range(PER_WRITER):
                    path = "/snap/w%d-%04d" % (w, k)
                    data = ("%d:%d" % (w, k)).encode()
                    zk.create(path, data)
                    with lock:
                        acked[path] = data
                    got, _ = zk.get(path)
                    if got != data:
                        failures.append("%s read back %r" % (path, got))
            except Exception as e:  # noqa: BLE001 - reported below
                failures.append("writer %d: %r" % (w, e))
            finally:
                zk.stop()
                zk.close()

        reads = [0]

        def reader():
            zk = connect(srv.port)
            try:
                while not stop_reading.is_set():
                    zk.get_children("/snap")
                    zk.exists("/snap")
                    reads[0] += 1
            except Exception as e:  # noqa: BLE001
                failures.append("reader: %r" % e)
            finally:
                zk.stop()
                zk.close()

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
        rt = threading.Thread(target=reader)
        rt.start()
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        stop_reading.set()
        rt.join(30)
        assert not failures, failures[:5]
        assert len(acked) == WRITERS * PER_WRITER
        assert reads[0] > 0
        assert len(snapshot_lines(srv)) >= 10, "expected a snapshot every 50 entries"

        # kill -9 in the middle of more writes; every acknowledged create survives.
        setup.stop()
        setup.close()
        more = {}
        enough = threading.Event()

        def late_writer():
            zk = connect(srv.port)
            try:
                for k in range(100000):
                    path = "/snap/late-%05d" % k
                    zk.create(path, b"late")
                    more[path] = b"late"
                    if len(more) == 250:
                        enough.set()
            except KazooException:
                pass  # the crash
            finally:
                zk.stop()
                zk.close()

        lt = threading.Thread(target=late_writer)
        lt.start()
        assert enough.wait(60)
        srv.kill9()
        lt.join(60)
        assert not lt.is_alive()
        acked.update(more)
        for _ in range(2):  # after the kill, then again from a clean stop
            srv.start()
            zk = connect(srv.port)
            try:
                children = set(zk.get_children("/snap"))
                missing = [p for p in acked if p.rsplit("/", 1)[1] not in children]
                assert not missing, missing[:5]
                for path in list(acked)[::97]:
                    assert zk.get(path)[0] == acked[path]
            finally:
                zk.stop()
                zk.close()
            srv.stop()
    finally:
        srv.stop()
