"""Real-process Conclave clusters on loopback, with a fault-injecting TCP proxy between peers.

Peer connections are dialled by the lower node id, so node i reaches node j > i through
proxy (i, j) when a proxy is requested; cutting a proxy partitions that pair, stalling one of its
directions makes a one-way partition.

With fsync_faults=True every node runs under tests/faults/fsyncfault.c, steered by
`Cluster.set_disk(i, "delay 50" | "fail" | "")`.
"""

import os
import re
from pathlib import Path
import select
import socket
import threading
import time
import urllib.request

from pyharness.servers import HOST, ConclaveServer, free_port


class Proxy:
    """Forwards 127.0.0.1:listen_port -> 127.0.0.1:target_port until cut()."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.listen = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listen.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listen.bind((HOST, 0))
        self.listen.listen(16)
        self.port = self.listen.getsockname()[1]
        self.blocked = False
        self.stalled = set()  # "dialer" and/or "target": that side's bytes are held, not forwarded
        self.pairs = []
        self.lock = threading.Lock()
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopped:
            try:
                c, _ = self.listen.accept()
            except OSError:
                return
            if self.blocked:
                c.close()
                continue
            try:
                s = socket.create_connection((HOST, self.target_port), timeout=2)
            except OSError:
                c.close()
                continue
            with self.lock:
                self.pairs.append((c, s))
            threading.Thread(target=self._pump, args=(c, s), daemon=True).start()

    def _pump(self, a, b):
        socks = [a, b]
        try:
            while not self.blocked and not self.stopped:
                # A stalled side is not read: its bytes wait in the kernel, and once its buffers
                # fill the sender blocks, as over a link that drops one direction's packets.
                live = [s for s, side in ((a, "dialer"), (b, "target")) if side not in self.stalled]
                r, _, _ = select.select(live, [], [], 0.2)
                for s in r:
                    if ("dialer" if s is a else "target") in self.stalled:
                        continue  # stalled while select waited: its bytes stay held
                    data = s.recv(65536)
                    if not data:
                        raise OSError("closed")
                    (b if s is a else a).sendall(data)
        except OSError:
            pass
        finally:
            for s in socks:
                try:
                    s.close()
                except OSError:
                    pass

    def cut(self):
        """Drops current connections and refuses new ones (a partition)."""
        self.blocked = True
        with self.lock:
            for a, b in self.pairs:
                for s in (a, b):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
            self.pairs = []

    def stall(self, side):
        """Holds the bytes sent by one side ("dialer": the lower id, "target": the higher)."""
        self.stalled.add(side)

    def heal(self):
        self.blocked = False
        self.stalled = set()

    def close(self):
        self.stopped = True
        self.cut()
        self.listen.close()


FSYNC_FAULT_SO = Path(__file__).resolve().parents[2] / "build" / "release" / "tests" / "libconclave_fsyncfault.so"


class Cluster:
    def __init__(self, n, proxied=False, extra_args=(), fsync_faults=False):
        self.n = n
        self.raft_ports = {i: free_port() for i in range(1, n + 1)}
        self.proxies = {}
        if proxied:
            for i in range(1, n + 1):
                for j in range(i + 1, n + 1):
                    self.proxies[(i, j)] = Proxy(self.raft_ports[j])
        self.nodes = {}
        for i in range(1, n + 1):
            peers = []
            for j in range(1, n + 1):
                port = self.raft_ports[j]
                if (i, j) in self.proxies:
                    port = self.proxies[(i, j)].port
                peers.append("%d=%s:%d" % (j, HOST, port))
            args = ["--node-id", str(i), "--raft-port", str(self.raft_ports[i]), "--peers", ",".join(peers),
                    "--tick-ms", "1000"] + list(extra_args)
            # The last node serves its clients through I/O threads (net/io_threads.h), the others
            # from the loop thread, so that every cluster test and fault run covers both.
            if i == n and n > 1 and "--io-threads" not in [str(a) for a in extra_args]:
                args += ["--io-threads", "2"]
            self.nodes[i] = ConclaveServer(extra_args=args, name="node%d" % i)
        self.disk_controls = {}
        if fsync_faults:
            so = Path(os.environ.get("CONCLAVE_FSYNCFAULT_SO", FSYNC_FAULT_SO))
            if not so.exists():
                raise AssertionError("%s is missing: the test build makes it (tests/CMakeLists.txt)" % so)
            for i, node in self.nodes.items():
                control = Path(node.workdir) / "fsync-fault"
                control.write_text("")
                self.disk_controls[i] = control
                extra = {"LD_PRELOAD": str(so), "FSYNC_FAULT_CONTROL": str(control)}
                node.env = lambda extra=extra: {**os.environ, **extra}

    def set_disk(self, i, fault):
        """Node i's disk from now on: "" (healthy), "delay <ms>" per sync, or "fail" (EIO)."""
        tmp = self.disk_controls[i].with_suffix(".tmp")
        tmp.write_text(fault)
        tmp.replace(self.disk_controls[i])

    def start(self):
        for node in self.nodes.values():
            node.start(wait=False)
        for node in self.nodes.values():
            node.wait_ready()
        self.wait_leader()
        return self

    def stop(self):
        for node in self.nodes.values():
            try:
                if node.is_running():
                    node.stop()
            except Exception:
                pass
        for p in self.proxies.values():
            p.close()

    def hosts(self, ids=None):
        ids = ids or list(self.nodes)
        return ",".join(self.nodes[i].hosts for i in ids)

    def metrics(self, i):
        url = "http://%s:%d/metrics" % (HOST, self.nodes[i].http_port)
        with urllib.request.urlopen(url, timeout=3) as r:
            text = r.read().decode()
        out = {}
        for line in text.splitlines():
            m = re.match(r"^(conclave_[a-z_]+) ([0-9.e+-]+)$", line)
            if m:
                out[m.group(1)] = float(m.group(2))
        return out

    def mode(self, i):
        text = self.nodes[i].four_letter(b"srvr").decode()
        m = re.search(r"Mode: (\w+)", text)
        return m.group(1) if m else None

    def leader(self, among=None):
        for i in among or self.nodes:
            node = self.nodes[i]
            if not node.is_running():
                continue
            try:
                if self.metrics(i).get("conclave_raft_leader") == 1:
                    return i
            except OSError:
                pass
        return None

    def wait_leader(self, among=None, timeout=15, exclude=None):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            l = self.leader(among)
            if l is not None and l != exclude:
                return l
            time.sleep(0.05)
        raise AssertionError("no leader among %s within %ss" % (among or list(self.nodes), timeout))

    def wait_converged(self, ids=None, timeout=20):
        """Waits until the given nodes report the same applied index and state digest."""
        ids = ids or [i for i in self.nodes if self.nodes[i].is_running()]
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                seen = {i: (self.metrics(i)["conclave_applied_index"], self.metrics(i)["conclave_state_digest"])
                        for i in ids}
            except OSError:
                time.sleep(0.1)
                continue
            last = seen
            if len(set(seen.values())) == 1:
                return seen
            time.sleep(0.1)
        raise AssertionError("nodes did not converge: %s" % last)
