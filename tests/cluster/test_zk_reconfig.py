"""ZooKeeper's dynamic reconfiguration on a 3-node cluster: kazoo 2.8's own TestReconfig, then a real
fourth node added as an observer, promoted and removed through `reconfig`, with /zookeeper/config
read and watched through every node and Consul's operator API kept consistent with it."""

import json
import threading
import urllib.request

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import BadArgumentsError, BadVersionError, NoAuthError
import kazoo.testing.harness as kazoo_harness

from cluster import Cluster
from pyharness.servers import HOST, ConclaveServer, free_port
from test_cluster import wait_for

# kazoo's harness starts ZooKeeper with this super digest (super:test).
SUPER = ["--zk-super-digest", "super:D/InIHSb7yEEbrWz8b9l71RjZJU=", "--zk-reconfig", "--4lw-whitelist", "*"]

# kazoo's own test class, collected here and run against the cluster below.
from kazoo.tests.test_client import TestReconfig  # noqa: E402,F401


class _Server:
    def __init__(self, address):
        self.address = address
        self.running = True


class _ClusterView(list):
    """What kazoo's KazooTestHarness needs of its ZooKeeper cluster."""

    def start(self):
        pass

    def terminate(self):
        pass


@pytest.fixture(scope="module", autouse=True)
def cluster():
    c = Cluster(3, extra_args=SUPER).start()
    view = _ClusterView(_Server("%s:%d" % (HOST, n.port)) for n in c.nodes.values())
    saved = kazoo_harness.get_global_cluster
    kazoo_harness.get_global_cluster = lambda: view
    try:
        yield c
    finally:
        kazoo_harness.get_global_cluster = saved
        c.stop()


def super_client(hosts):
    zk = KazooClient(hosts=hosts, timeout=10.0, auth_data=[("digest", "super:test")])
    zk.start(timeout=15)
    return zk


def parse_config(data):
    lines = data.decode().split("\n")
    servers = {}
    for line in lines[:-1]:
        key, value = line.split("=", 1)
        servers[int(key.split(".")[1])] = value
    assert lines[-1].startswith("version="), lines
    return servers, int(lines[-1].split("=")[1], 16)


def test_config_lists_every_member_the_same_through_every_node(cluster):
    def configs():
        out = {}
        for i, node in cluster.nodes.items():
            zk = KazooClient(hosts=node.hosts, timeout=10.0)
            zk.start(timeout=15)
            try:
                out[i] = zk.get("/zookeeper/config")[0]
            finally:
                zk.stop()
                zk.close()
        return out

    # Every member announces its client address once it is up.
    wait_for(lambda: all(len(parse_config(d)[0]) == 3 and d.count(b";") == 3 for d in configs().values() if d),
             what="every node to list the three members with their client ports")
    seen = configs()
    assert len(set(seen.values())) == 1, seen
    servers, version = parse_config(seen[1])
    for i, node in cluster.nodes.items():
        assert servers[i] == "%s:%d:%d:participant;%s:%d" % (HOST, cluster.raft_ports[i], cluster.raft_ports[i], HOST,
                                                             node.port)
    assert version > 0


def test_observer_joins_is_promoted_and_leaves(cluster):
    raft4 = free_port()
    peers = ",".join("%d=%s:%d" % (i, HOST, cluster.raft_ports[i]) for i in (1, 2, 3))
    n4 = ConclaveServer(extra_args=["--node-id", "4", "--raft-port", str(raft4), "--peers", peers, "--learner",
                                    "--tick-ms", "1000"] + SUPER, name="node4")
    n4.start(wait=False)
    follower = next(i for i in cluster.nodes if i != cluster.wait_leader())
    admin = super_client(cluster.nodes[follower].hosts)  # reconfig through a follower: forwarded
    plain = KazooClient(hosts=cluster.hosts(), timeout=10.0)
    plain.start(timeout=15)
    try:
        changed = threading.Event()
        _, before = admin.get("/zookeeper/config", watch=lambda ev: changed.set())
        plain.ensure_path("/reconfig")
        for k in range(20):
            plain.create("/reconfig/n%02d" % k, b"v")
        zk4_port = n4.port
        joining = "server.4=%s:%d:%d:observer;%s:%d" % (HOST, raft4, raft4, HOST, zk4_port)

        # Refused: no super user, a stale version, a malformed spec. Nothing changes.
        with pytest.raises(NoAuthError):
            plain.reconfig(joining=joining, leaving=None, new_members=None)
        data, stat = admin.get("/zookeeper/config")
        _, version = parse_config(data)
        with pytest.raises(BadVersionError):
            admin.reconfig(joining=joining, leaving=None, new_members=None, from_config=version + 1)
        with pytest.raises(BadArgumentsError):
            admin.reconfig(joining="server.4=%s:%d" % (HOST, raft4), leaving=None, new_members=None)
        assert admin.get("/zookeeper/config")[0] == data

        data, stat = admin.reconfig(joining=joining, leaving=None, new_members=None, from_config=version)
        assert joining.encode() in data
        assert stat.mzxid > before.mzxid
        assert changed.wait(10), "the data watch on /zookeeper/config did not fire"
        n4.wait_ready()
        wait_for(lambda: cluster_mode(n4) == "observer", what="node 4 to serve as an observer")
        zk4 = KazooClient(hosts=n4.hosts, timeout=10.0)
        zk4.start(timeout=15)
        wait_for(lambda: len(zk4.get_children("/reconfig")) == 20, what="node 4 to catch up")
        assert zk4.get("/zookeeper/config")[0] == data or parse_config(zk4.get("/zookeeper/config")[0])[1] >= parse_config(data)[1]
        peers_json = http_json(cluster.nodes[1], "/v1/operator/raft/configuration")
        assert {s["ID"]: s["Voter"] for s in peers_json["Servers"]}["4"] is False

        # Promote: the same id joins again as a participant.
        data, _ = admin.reconfig(joining=joining.replace("observer", "participant"), leaving=None, new_members=None)
        assert b"server.4=%s:%d:%d:participant" % (HOST.encode(), raft4, raft4) in data
        wait_for(lambda: cluster_mode(n4) == "follower", what="node 4 to become a voter")
        assert sorted(http_json(cluster.nodes[1], "/v1/status/peers")) == sorted(
            "%s:%d" % (HOST, p) for p in list(cluster.raft_ports.values()) + [raft4])

        # Leave, by id; the config and Consul's view agree.
        data, _ = admin.reconfig(joining=None, leaving="4", new_members=None)
        assert b"server.4=" not in data
        servers, _ = parse_config(data)
        assert sorted(servers) == [1, 2, 3]
        ids = [s["ID"] for s in http_json(cluster.nodes[follower], "/v1/operator/raft/configuration")["Servers"]]
        assert sorted(ids) == ["1", "2", "3"]
        plain.create("/reconfig/after", b"")
        cluster.wait_converged(ids=[1, 2, 3])
        zk4.stop()
        zk4.close()
    finally:
        admin.stop()
        admin.close()
        plain.stop()
        plain.close()
        if n4.is_running():
            n4.stop()


def test_consul_operator_removes_a_peer_by_address_through_a_follower(cluster):
    raft5 = free_port()
    peers = ",".join("%d=%s:%d" % (i, HOST, cluster.raft_ports[i]) for i in (1, 2, 3))
    n5 = ConclaveServer(extra_args=["--node-id", "5", "--raft-port", str(raft5), "--peers", peers, "--learner",
                                    "--tick-ms", "1000"], name="node5")
    n5.start(wait=False)
    try:
        follower = next(i for i in cluster.nodes if i != cluster.wait_leader())
        node = cluster.nodes[follower]
        assert http(node, "PUT", "/v1/operator/raft/peer?id=5&address=%s:%d&voter=false" % (HOST, raft5)) == (200, "true")
        n5.wait_ready()
        wait_for(lambda: cluster_mode(n5) == "observer", what="node 5 to serve as an observer")
        admin = super_client(node.hosts)
        try:
            wait_for(lambda: b"server.5=" in admin.get("/zookeeper/config")[0], what="server.5 in /zookeeper/config")
            assert http(node, "DELETE", "/v1/operator/raft/peer?address=%s:%d" % (HOST, raft5)) == (200, "true")
            assert b"server.5=" not in admin.get("/zookeeper/config")[0]
        finally:
            admin.stop()
            admin.close()
        status, body = http(node, "DELETE", "/v1/operator/raft/peer?address=%s:1" % HOST)
        assert status == 400 and "no member" in body
    finally:
        n5.stop()


def cluster_mode(node):
    import re
    try:
        m = re.search(r"Mode: (\w+)", node.four_letter(b"srvr").decode())
    except OSError:
        return None
    return m.group(1) if m else None


def http(node, method, path):
    req = urllib.request.Request("http://%s:%d%s" % (HOST, node.http_port, path), method=method, data=b"" if method != "GET" else None)
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def http_json(node, path):
    status, body = http(node, "GET", path)
    assert status == 200, body
    return json.loads(body)
