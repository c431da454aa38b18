"""Replication under real faults: 3- and 5-node clusters of conclave processes on loopback.

Each test records every write a client saw acknowledged and checks that all of them survive,
and that all nodes converge to the same applied index and state digest.
Failover times are printed (pytest -s) and logged; the bounds asserted here are generous
safety nets, the measured figures go to docs/replication.md.
"""

import os
import signal
import threading
import time

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import KazooException

from cluster import Cluster


def client(hosts, timeout=10.0):
    zk = KazooClient(hosts=hosts, timeout=timeout, connection_retry={"max_tries": -1, "delay": 0.05, "max_delay": 0.2},
                     command_retry={"max_tries": 0})
    zk.start(timeout=15)
    return zk


class Writer:
    """Writes /load/<n> in a loop through `hosts`, remembering what was acknowledged."""

    def __init__(self, hosts):
        self.zk = client(hosts)
        self.zk.ensure_path("/load")
        self.acked = []
        self.stop_flag = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.n = 0

    def run(self):
        while not self.stop_flag:
            self.n += 1
            path = "/load/w%06d" % self.n
            try:
                self.zk.create(path, b"v%d" % self.n)
                self.acked.append(path)
            except KazooException:
                time.sleep(0.01)
            except Exception:
                time.sleep(0.01)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stop_flag = True
        self.thread.join(30)
        self.zk.stop()
        self.zk.close()


def wait_acks_beyond(writer, count, limit=15.0, what="the writer's next acknowledgement"):
    """Bounded wait until `writer` has more than `count` acknowledged writes."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if len(writer.acked) > count:
            return len(writer.acked)
        time.sleep(0.02)
    raise AssertionError("timed out after %ss waiting for %s (acknowledged so far: %d)" % (limit, what, len(writer.acked)))


def first_ack_after(hosts, t0, limit=30.0, what="a write to be acknowledged"):
    """Retries a write through `hosts` until one is acknowledged; returns seconds since t0. A bounded
    wait: fails with `what` when nothing is acknowledged within `limit` seconds (the failover
    figures themselves are measured by bench/compare.py --only failover)."""
    zk = client(hosts)
    try:
        deadline = time.monotonic() + limit
        k = 0
        while time.monotonic() < deadline:
            k += 1
            try:
                zk.create("/probe-%d-%d" % (os.getpid(), time.monotonic_ns() + k), b"")
                return time.monotonic() - t0
            except Exception:
                time.sleep(0.005)
        raise AssertionError("timed out after %ss waiting for %s" % (limit, what))
    finally:
        zk.stop()
        zk.close()


def check_all_present(cluster, acked, node_ids, data=None):
    """Every acknowledged path exists on each node, with its data (`data(path)`; default: what
    Writer writes, b"v<n>" for /load/w<n>)."""
    data = data or (lambda p: b"v%d" % int(p.rsplit("w", 1)[1]))
    for i in node_ids:
        zk = client(cluster.nodes[i].hosts)
        try:
            zk.sync("/")
            present = set(zk.get_children("/load"))
            missing = [p for p in acked if p.rsplit("/", 1)[1] not in present]
            assert not missing, "node %d lost %d acknowledged writes, e.g. %s" % (i, len(missing), missing[:5])
            wrong = []
            for k in range(0, len(acked), 200):
                batch = [(p, zk.get_async(p)) for p in acked[k:k + 200]]
                wrong += [(p, got) for p, r in batch for got in [r.get(timeout=20)[0]] if got != data(p)]
            assert not wrong, "node %d has %d acknowledged writes with wrong data, e.g. %r" % (i, len(wrong), wrong[:3])
        finally:
            zk.stop()
            zk.close()


@pytest.mark.parametrize("size", [3, 5])
def test_kill9_leader_under_load(size):
    c = Cluster(size).start()
    try:
        leader = c.wait_leader()
        survivors = [i for i in c.nodes if i != leader]
        w = Writer(c.hosts(survivors)).start()
        time.sleep(1.0)
        t0 = time.monotonic()
        c.nodes[leader].kill9()
        took = first_ack_after(c.hosts(survivors), t0, limit=5.0,
                               what="a write acknowledged by the survivors after a kill -9 of the leader")
        print("\n%d nodes: kill -9 of the leader -> first acknowledged write after %.0f ms" % (size, took * 1000))
        new_leader = c.wait_leader(among=survivors)
        assert new_leader != leader
        time.sleep(0.5)
        w.stop()
        assert len(w.acked) > 50
        # The old leader comes back as a follower and catches up.
        c.nodes[leader].start()
        c.wait_converged()
        assert c.mode(leader) == "follower"
        check_all_present(c, w.acked, list(c.nodes))
    finally:
        c.stop()


def test_sigstop_leader_then_resume():
    c = Cluster(3).start()
    try:
        leader = c.wait_leader()
        others = [i for i in c.nodes if i != leader]
        w = Writer(c.hosts(others)).start()
        before = wait_acks_beyond(w, 20, what="writes acknowledged before the fault")
        t0 = time.monotonic()
        os.kill(c.nodes[leader].pid, signal.SIGSTOP)
        try:
            took = first_ack_after(c.hosts(others), t0, limit=10.0,
                                   what="a write acknowledged by the others while the leader is stopped")
            print("\nSIGSTOP of the leader -> first acknowledged write after %.0f ms" % (took * 1000))
            new_leader = c.wait_leader(among=others)
            # The load itself goes on through the new leader while the old one is stopped.
            wait_acks_beyond(w, max(before, len(w.acked)) + 20,
                             what="the writer's acknowledgements while the leader is stopped")
        finally:
            os.kill(c.nodes[leader].pid, signal.SIGCONT)
        # The paused leader hears a higher term, steps down and catches up.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and c.mode(leader) != "follower":
            time.sleep(0.1)
        assert c.mode(leader) == "follower"
        assert c.leader() == new_leader
        w.stop()
        c.wait_converged()
        check_all_present(c, w.acked, list(c.nodes))
    finally:
        c.stop()


def test_partitioned_leader_loses_writes_majority_continues_and_heals_to_one_history():
    c = Cluster(3, proxied=True).start()
    try:
        leader = c.wait_leader()
        others = [i for i in c.nodes if i != leader]
        w = Writer(c.hosts(others)).start()
        wait_acks_beyond(w, 20, what="writes acknowledged before the partition")
        # Cut the leader off from both followers.
        for (a, b), p in c.proxies.items():
            if leader in (a, b):
                p.cut()
        cut_at = len(w.acked)
        new_leader = c.wait_leader(among=others, timeout=15, exclude=leader)
        # The majority side takes the load on.
        wait_acks_beyond(w, cut_at + 20, what="the majority's acknowledgements during the partition")
        # The minority side stops accepting writes: its check-quorum makes it step down.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and c.mode(leader) == "leader":
            time.sleep(0.1)
        assert c.mode(leader) != "leader", "the partitioned leader kept leading"
        # A client of the minority node can neither open a session nor write.
        minority = KazooClient(hosts=c.nodes[leader].hosts, timeout=3.0,
                               connection_retry={"max_tries": 3, "delay": 0.1}, command_retry={"max_tries": 0})
        with pytest.raises(Exception):
            minority.start(timeout=3)
            minority.create("/minority-write", b"")
        minority.stop()
        minority.close()
        time.sleep(1.0)
        for p in c.proxies.values():
            p.heal()
        w.stop()
        c.wait_converged(timeout=30)
        assert c.leader() in others
        check_all_present(c, w.acked, list(c.nodes))
        zk = client(c.hosts())
        assert zk.exists("/minority-write") is None
        zk.stop()
        zk.close()
        assert new_leader in others
    finally:
        c.stop()


def test_kazoo_keeps_its_session_through_a_server_kill():
    c = Cluster(3).start()
    try:
        zk = client(c.hosts(), timeout=10.0)
        zk.create("/eph", b"mine", ephemeral=True)
        session = zk.client_id[0]
        connected = int(zk._connection._socket.getpeername()[1])
        victim = next(i for i, n in c.nodes.items() if n.port == connected)
        c.nodes[victim].kill9()
        deadline = time.monotonic() + 15
        value = None
        while time.monotonic() < deadline:
            try:
                value = zk.get("/eph")[0]
                break
            except Exception:
                time.sleep(0.05)
        assert value == b"mine"
        assert zk.client_id[0] == session
        zk.stop()
        zk.close()
    finally:
        c.stop()


def test_follower_restart_catches_up_by_snapshot():
    c = Cluster(3, extra_args=["--snapshot-entries", "200"]).start()
    try:
        leader = c.wait_leader()
        follower = next(i for i in c.nodes if i != leader)
        c.nodes[follower].stop()
        zk = client(c.hosts([leader]))
        zk.ensure_path("/load")
        acked = []
        for k in range(1000):
            p = "/load/s%05d" % k
            zk.create(p, b"x")
            acked.append(p)
        zk.stop()
        zk.close()
        c.nodes[follower].start()
        c.wait_converged(timeout=30)
        check_all_present(c, acked, [follower], data=lambda p: b"x")
        # It caught up from the leader's snapshot: the entries it lacked were compacted away.
        log = c.nodes[follower].log_path.read_text()
        assert "installed snapshot at index" in log, "the follower caught up without a snapshot"
    finally:
        c.stop()


def operator(cluster, node, *args):
    import subprocess
    out = subprocess.run([str(cluster.nodes[1].binary), "operator", "raft", *args, "--http-addr",
                          "127.0.0.1:%d" % cluster.nodes[node].http_port],
                         capture_output=True, text=True, timeout=15)
    return out.returncode, out.stdout + out.stderr


def wait_for(predicate, timeout=15, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except Exception:
            pass
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def test_membership_learner_promotion_transfer_and_removal():
    from pyharness.servers import ConclaveServer, HOST, free_port
    import json
    c = Cluster(3).start()
    try:
        leader = c.wait_leader()
        zk = client(c.hosts())
        zk.ensure_path("/load")
        for k in range(50):
            zk.create("/load/m%03d" % k, b"x")
        # A fourth node starts as a learner and is added through the CLI.
        raft4 = free_port()
        peers = ",".join("%d=%s:%d" % (i, HOST, c.raft_ports[i]) for i in (1, 2, 3))
        n4 = ConclaveServer(extra_args=["--node-id", "4", "--raft-port", str(raft4), "--peers", peers, "--learner",
                                        "--tick-ms", "1000"], name="node4")
        c.nodes[4] = n4
        n4.start(wait=False)
        rc, out = operator(c, leader, "add-learner", "4", "%s:%d" % (HOST, raft4))
        assert rc == 0, out
        n4.wait_ready()
        wait_for(lambda: c.mode(4) == "observer", what="node 4 to serve as an observer")
        c.wait_converged()
        # Learners serve reads and take writes (forwarded to the leader).
        zk4 = client(n4.hosts)
        assert len(zk4.get_children("/load")) == 50
        zk4.create("/load/from-learner", b"")
        # Promote it, hand it leadership, then remove the original leader.
        rc, out = operator(c, leader, "add-voter", "4", "%s:%d" % (HOST, raft4))
        assert rc == 0, out
        wait_for(lambda: c.mode(4) == "follower", what="node 4 to become a voter")
        rc, out = operator(c, leader, "transfer-leader", "4")
        assert rc == 0, out
        wait_for(lambda: c.leader() == 4, what="leadership to move to node 4")
        rc, out = operator(c, 4, "remove-peer", str(leader))
        assert rc == 0, out
        rc, out = operator(c, 4, "list-peers")
        assert rc == 0, out
        servers = json.loads(out)["Servers"]
        assert sorted(int(s["ID"]) for s in servers) == sorted({1, 2, 3, 4} - {leader})
        zk4.create("/load/after-removal", b"")
        remaining = [i for i in (1, 2, 3, 4) if i != leader]
        c.wait_converged(ids=remaining)
        zk4.stop()
        zk4.close()
        zk.stop()
        zk.close()
    finally:
        c.stop()


def test_session_expiry_on_a_follower_removes_ephemerals_everywhere():
    c = Cluster(3).start()
    try:
        leader = c.wait_leader()
        follower = next(i for i in c.nodes if i != leader)
        zk = client(c.nodes[follower].hosts, timeout=4.0)
        zk.create("/will-expire", b"", ephemeral=True)
        watcher = client(c.hosts([leader]))
        gone = threading.Event()

        @watcher.DataWatch("/will-expire")
        def _w(data, stat):
            if stat is None:
                gone.set()

        # kazoo's stop() sends closeSession: that session's ephemeral goes at once.
        zk.stop()
        zk.close()
        # A client that dies without closing (raw protocol: connect, create, drop the socket).
        # Its server relays no more activity, so the leader expires the session after 4 s.
        import sys
        from pathlib import Path
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "compat"))
        import zkwire
        raw = zkwire.ZKConn("127.0.0.1", c.nodes[follower].port, timeout=5)
        raw.connect(timeout_ms=4000)
        assert raw.call("create", zkwire.enc_create("/abandoned", flags=1))["err"] == 0
        raw.sock.close()
        wait_for(lambda: watcher.exists("/abandoned") is None, timeout=20, what="the abandoned session to expire")
        assert gone.wait(10), "the ephemeral of the closed session was not removed"
        c.wait_converged()
        for i in c.nodes:
            z = client(c.nodes[i].hosts)
            z.sync("/")
            assert z.exists("/abandoned") is None and z.exists("/will-expire") is None, i
            z.stop()
            z.close()
        watcher.stop()
        watcher.close()
    finally:
        c.stop()


def test_watch_survives_reconnect_to_another_node():
    c = Cluster(3).start()
    try:
        zk = client(c.hosts(), timeout=10.0)
        zk.create("/watched", b"v0")
        seen = []
        fired = threading.Event()

        @zk.DataWatch("/watched")
        def _w(data, stat):
            seen.append(data)
            if data == b"v1":
                fired.set()

        connected = int(zk._connection._socket.getpeername()[1])
        victim = next(i for i, n in c.nodes.items() if n.port == connected)
        c.nodes[victim].kill9()
        other = client(c.hosts([i for i in c.nodes if i != victim]))
        wait_for(lambda: zk.connected and zk.exists("/watched") is not None, timeout=15, what="reconnect")
        other.set("/watched", b"v1")
        assert fired.wait(10), "watch did not fire after the client moved to another node (seen %r)" % seen
        other.stop()
        other.close()
        zk.stop()
        zk.close()
    finally:
        c.stop()


def test_peer_port_garbage_is_refused_without_harm():
    import socket as _s
    c = Cluster(3).start()
    try:
        leader = c.wait_leader()
        target = next(i for i in c.nodes if i != leader)
        before = c.metrics(target).get("conclave_peer_malformed_frames_total", 0)
        for payload in (b"\xff\xff\xff\xff garbage", b"\x00\x00\x00\x05\x09hello", b"GET / HTTP/1.1\r\n\r\n"):
            s = _s.create_connection(("127.0.0.1", c.raft_ports[target]), timeout=3)
            s.sendall(payload)
            try:
                s.settimeout(3)
                s.recv(100)  # the node closes the connection
            except OSError:
                pass
            s.close()
        wait_for(lambda: c.metrics(target).get("conclave_peer_malformed_frames_total", 0) >= before + 3,
                 what="malformed peer frames to be counted")
        zk = client(c.hosts([target]))
        zk.create("/after-garbage", b"")
        zk.stop()
        zk.close()
        c.wait_converged()
        assert c.leader() == leader
    finally:
        c.stop()


def test_a_server_behind_the_client_refuses_its_session():
    """ZooKeeper's sequential consistency rests on one rule: a server behind the last zxid a
    client has seen refuses to take over its session, so a client's plain reads never go back.
    A follower cut off from the others keeps its old state; a session that saw a newer write
    through another node must not be served by it, until it has caught up."""
    c = Cluster(3, proxied=True).start()
    try:
        leader = c.wait_leader()
        lagging = next(i for i in c.nodes if i != leader)
        zk = client(c.nodes[leader].hosts)
        zk.create("/order", b"old")
        behind = client(c.nodes[lagging].hosts)
        wait_for(lambda: behind.get("/order")[0] == b"old", timeout=15, what="the follower to hold /order")
        behind.stop()
        behind.close()
        for (a, b), p in c.proxies.items():
            if lagging in (a, b):
                p.cut()
        zk.set("/order", b"new")
        assert zk.get("/order")[0] == b"new"
        seen = zk.last_zxid
        # The same session, moved to the cut-off follower, presenting the zxid it has seen.
        moved = KazooClient(hosts=c.nodes[lagging].hosts, timeout=10.0, client_id=zk.client_id,
                            connection_retry={"max_tries": -1, "delay": 0.05, "max_delay": 0.2},
                            command_retry={"max_tries": 0})
        moved.last_zxid = seen
        started = moved.start_async()  # kazoo retries in the background while it is refused
        if started.wait(4) and moved.connected:
            data = moved.get("/order")[0]
            raise AssertionError("a follower behind zxid 0x%x took over the session and served %r" % (seen, data))
        for p in c.proxies.values():
            p.heal()
        # Caught up, it takes the session and serves what the client saw.
        wait_for(lambda: moved.connected, timeout=30, what="the healed follower to take the session")
        assert moved.get("/order")[0] == b"new"
        moved.stop()
        moved.close()
    finally:
        c.stop()
