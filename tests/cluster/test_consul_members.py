"""Consul's cluster management on a 3-node cluster, with python-consul: a new server joins through
/v1/agent/join, leaves gracefully through /v1/agent/leave (its catalog entry goes, its process
stops), and a killed server is removed with /v1/agent/force-leave, while a live one is left alone."""

import json
import time
import urllib.error
import urllib.request

import consul

from cluster import Cluster
from pyharness.servers import HOST, ConclaveServer, free_port
from test_cluster import wait_for


def http(node, method, path):
    req = urllib.request.Request("http://%s:%d%s" % (HOST, node.http_port, path), method=method,
                                 data=b"" if method != "GET" else None)
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def raft_ids(node):
    status, body = http(node, "GET", "/v1/operator/raft/configuration")
    assert status == 200, body
    return sorted(int(s["ID"]) for s in json.loads(body)["Servers"])


def member_names(c):
    return sorted(m["Name"] for m in c.agent.members())


def test_join_leave_and_force_leave():
    cluster = Cluster(3).start()
    n4 = None
    try:
        leader = cluster.wait_leader()
        first = consul.Consul(host=HOST, port=cluster.nodes[leader].http_port)
        wait_for(lambda: sorted(first.catalog.nodes()[1], key=lambda n: n["Node"]) and
                 {"node-1", "node-2", "node-3"} <= {n["Node"] for n in first.catalog.nodes()[1]},
                 what="the three servers in the catalog")

        # A fourth server, started as a learner that knows the members, joins through a follower.
        raft4 = free_port()
        peers = ",".join("%d=%s:%d" % (i, HOST, cluster.raft_ports[i]) for i in (1, 2, 3))
        n4 = ConclaveServer(extra_args=["--node-id", "4", "--raft-port", str(raft4), "--peers", peers, "--learner",
                                        "--tick-ms", "1000"], name="node4")
        n4.start(wait=False)
        wait_for(lambda: http(n4, "GET", "/v1/status/peers")[0] == 200, what="node 4's HTTP API")
        follower = next(i for i in cluster.nodes if i != leader)
        fourth = consul.Consul(host=HOST, port=n4.http_port)
        assert fourth.agent.join("%s:%d" % (HOST, cluster.nodes[follower].http_port)) is True
        n4.wait_ready()
        wait_for(lambda: raft_ids(cluster.nodes[leader]) == [1, 2, 3, 4], what="node 4 in the configuration")
        wait_for(lambda: "node-4" in member_names(first), what="node 4 among the members")
        wait_for(lambda: first.catalog.node("node-4")[1] is not None, what="node 4's catalog entry")
        # Joining again is harmless.
        assert fourth.agent.join("%s:%d" % (HOST, cluster.nodes[leader].http_port)) is True

        # Graceful leave: catalog entry gone, configuration without it, process stopped.
        assert http(n4, "PUT", "/v1/agent/leave") == (200, "")
        deadline = time.monotonic() + 15
        while n4.is_running() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not n4.is_running(), "the agent kept running after leave"
        assert raft_ids(cluster.nodes[leader]) == [1, 2, 3]
        wait_for(lambda: first.catalog.node("node-4")[1] is None, what="node 4's catalog entry to go")
        assert "node-4" not in member_names(first)

        # force-leave: a live member is left alone; an unknown name is an error.
        live = next(i for i in cluster.nodes if i != leader)
        assert first.agent.force_leave("node-%d" % live) is True
        assert raft_ids(cluster.nodes[leader]) == [1, 2, 3]
        assert http(cluster.nodes[leader], "PUT", "/v1/agent/force-leave/nobody")[0] == 500

        # A killed member is removed with its catalog entry.
        cluster.nodes[live].kill9()
        wait_for(lambda: [m["Status"] for m in first.agent.members() if m["Name"] == "node-%d" % live] == [4],
                 what="the killed member to show as failed")
        assert first.agent.force_leave("node-%d" % live) is True
        expected = sorted({1, 2, 3} - {live})
        assert raft_ids(cluster.nodes[leader]) == expected
        wait_for(lambda: first.catalog.node("node-%d" % live)[1] is None, what="the killed member's catalog entry to go")
        # The two left still take writes.
        assert first.kv.put("after-force-leave", "v") is True
    finally:
        if n4 is not None and n4.is_running():
            n4.stop()
        cluster.stop()


def test_join_from_a_lone_node_is_refused():
    lone = ConclaveServer(extra_args=["--raft-port", str(free_port())], name="lone")
    lone.start()
    try:
        status, body = http(lone, "PUT", "/v1/agent/join/%s:1" % HOST)
        assert status == 400 and "--peers" in body
    finally:
        lone.stop()
