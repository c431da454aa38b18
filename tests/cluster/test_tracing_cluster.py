"""One write's trace across a 3-node cluster (docs/observability.md, "Through the cluster"): a write
sent to a follower is a SERVER span there, with a CLIENT "forward" span to the leader; the leader's
"raft propose" span is that forward's child and holds the leader's "wal fsync", "apply" and one
"replicate" per follower; the entry carries the leader's span, so every follower's "wal fsync" and the
third node's "apply" are its children too, while the follower that took the request applies under its
forward. Each node keeps its own spans; the test reads all three nodes' Zipkin read APIs and checks
they form one trace. Through the HTTP API (B3 header)
and through the ZooKeeper protocol (a kazoo session joined with `addauth b3`)."""

import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request

import subprocess

import pytest
from kazoo.client import KazooClient
from pyharness.servers import resolve_conclave_bin

from cluster import Cluster


def http(node, method, path, body=None, headers=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (node.http_port, path), data=body, method=method,
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def spans_of(node, trace_id, names, timeout=10.0):
    """The node's own spans of the trace, once every name in `names` is among them (bounded wait)."""
    deadline = time.monotonic() + timeout
    spans = []
    while time.monotonic() < deadline:
        status, body = http(node, "GET", "/api/v2/trace/%s?local=true" % trace_id)
        spans = json.loads(body) if status == 200 else []
        if set(names) <= {s["name"] for s in spans}:
            return spans
        time.sleep(0.05)
    pytest.fail("node has spans %s of trace %s, expected %s" % (sorted(s["name"] for s in spans), trace_id, names))


@pytest.fixture(scope="module")
def cluster():
    c = Cluster(3, extra_args=["--trace-sample", "0"]).start()
    yield c
    c.stop()


def only(spans, name, parent):
    """The one span named `name` whose parent is `parent`."""
    found = [s for s in spans if s["name"] == name and s.get("parentId") == parent]
    assert len(found) == 1, "expected one %r under %s, got %s" % (name, parent, spans)
    return found[0]


def check_one_trace(c, leader, follower, trace_id, server_name, client_parent):
    other = next(i for i in c.nodes if i not in (leader, follower))
    on_follower = spans_of(c.nodes[follower], trace_id, [server_name, "forward", "apply", "wal fsync", "notify"])
    on_leader = spans_of(c.nodes[leader], trace_id, ["raft propose", "wal fsync", "apply", "notify", "replicate"])
    on_other = spans_of(c.nodes[other], trace_id, ["wal fsync", "apply", "notify"])
    server = only(on_follower, server_name, client_parent)
    assert server["kind"] == "SERVER"
    forward = only(on_follower, "forward", server["id"])
    assert forward["kind"] == "CLIENT" and forward["tags"]["raft.leader"] == str(leader)
    follower_apply = only(on_follower, "apply", forward["id"])

    propose = only(on_leader, "raft propose", forward["id"])  # the leader's span is the forward's child
    assert propose["kind"] == "SERVER" and propose["tags"]["raft.forwarded_by"] == str(follower)
    assert [a["value"] for a in propose.get("annotations", [])] == ["committed"]
    assert propose["timestamp"] <= propose["annotations"][0]["timestamp"] <= propose["timestamp"] + propose["duration"]
    index = propose["tags"]["raft.index"]
    assert forward["tags"]["raft.index"] == index
    wal, leader_apply = only(on_leader, "wal fsync", propose["id"]), only(on_leader, "apply", propose["id"])
    assert int(wal["tags"]["wal.entries"]) >= 1
    # The entry carries the leader's span: every follower stores and applies it under that span,
    # the follower that took the request applying under its own forward.
    follower_wal = only(on_follower, "wal fsync", propose["id"])
    other_wal, other_apply = only(on_other, "wal fsync", propose["id"]), only(on_other, "apply", propose["id"])
    for span in (wal, leader_apply, follower_apply, follower_wal, other_wal, other_apply):
        assert span["tags"]["raft.index"] == index, span
    # A "notify" under every apply: the watches and blocking queries the change woke.
    for spans, apply in ((on_leader, leader_apply), (on_follower, follower_apply), (on_other, other_apply)):
        assert only(spans, "notify", apply["id"])["tags"]["watch.triggers"].isdigit()
    # One "replicate" per follower under the leader's span: sent -> acknowledged.
    on_leader = spans_of(c.nodes[leader], trace_id, ["replicate"])
    replicate = [s for s in on_leader if s["name"] == "replicate" and s["parentId"] == propose["id"]]
    deadline = time.monotonic() + 10
    while len(replicate) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
        replicate = [s for s in spans_of(c.nodes[leader], trace_id, ["replicate"])
                     if s["name"] == "replicate" and s["parentId"] == propose["id"]]
    assert sorted(s["tags"]["raft.follower"] for s in replicate) == sorted([str(follower), str(other)]), replicate
    for s in replicate:
        assert s["parentId"] == propose["id"] and s["kind"] == "CLIENT" and s["tags"]["raft.index"] == index
    # One host's clock: the forward starts before the leader's span, and a follower acknowledges
    # only what it has made durable.
    assert forward["timestamp"] <= propose["timestamp"]
    by_follower = {s["tags"]["raft.follower"]: s for s in replicate}
    for node, fsync in ((follower, follower_wal), (other, other_wal)):
        rep = by_follower[str(node)]
        assert fsync["timestamp"] + fsync["duration"] <= rep["timestamp"] + rep["duration"], (fsync, rep)
    return other


def test_an_http_write_through_a_follower_is_one_trace_over_all_three_nodes(cluster):
    c = cluster
    leader = c.wait_leader()
    follower = next(i for i in c.nodes if i != leader)
    trace_id, parent = os.urandom(16).hex(), os.urandom(8).hex()
    status, body = http(c.nodes[follower], "PUT", "/v1/kv/traced/key", b"v", {"b3": "%s-%s-1" % (trace_id, parent)})
    assert status == 200 and body == b"true"
    other = check_one_trace(c, leader, follower, trace_id, "put /v1/kv/", parent)
    # `conclave trace -nodes=...` draws the spans of all nodes as one tree.
    nodes = ",".join("127.0.0.1:%d" % c.nodes[i].http_port for i in sorted(c.nodes))
    out = subprocess.run([str(resolve_conclave_bin()), "trace", "-nodes=" + nodes, trace_id],
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    rows = [l.split("|")[-1] for l in out.stdout.splitlines()[3:] if l.strip()]
    names = [r.split(" [")[0] for r in rows]
    assert names[:3] == ["  put /v1/kv/", "    forward", "      raft propose"], out.stdout
    # Under the leader's span: two replicates, three fsyncs and two applies (leader, other node);
    # under the forward the follower's own apply; a notify under each apply.
    assert names.count("        replicate") == 2 and names.count("        wal fsync") == 3, out.stdout
    assert names.count("        apply") == 2 and names.count("      apply") == 1, out.stdout
    assert names.count("          notify") == 2 and names.count("        notify") == 1, out.stdout
    assert ":%d SERVER]" % c.nodes[leader].http_port in rows[2]  # each span names the node that made it
    assert " committed@+" in rows[2], rows[2]  # the commit point, at its time in the trace
    assert any(":%d]" % c.nodes[other].http_port in r for r in rows)


def test_a_zookeeper_write_through_a_follower_is_one_trace_over_both_nodes(cluster):
    c = cluster
    leader = c.wait_leader()
    follower = next(i for i in c.nodes if i != leader)
    trace_id, parent = os.urandom(16).hex(), os.urandom(8).hex()
    zk = KazooClient(hosts=c.nodes[follower].hosts, timeout=10)
    zk.start(timeout=15)
    try:
        zk.add_auth("b3", "%s-%s-1" % (trace_id, parent))
        zk.create("/traced-zk", b"v")
    finally:
        zk.stop()
        zk.close()
    check_one_trace(c, leader, follower, trace_id, "create", parent)


def test_a_write_on_the_leader_has_its_raft_stages(cluster):
    c = cluster
    leader = c.wait_leader()
    trace_id, parent = os.urandom(16).hex(), os.urandom(8).hex()
    status, _ = http(c.nodes[leader], "PUT", "/v1/kv/traced/leader", b"v", {"b3": "%s-%s-1" % (trace_id, parent)})
    assert status == 200
    spans = spans_of(c.nodes[leader], trace_id, ["put /v1/kv/", "raft propose", "wal fsync", "apply", "replicate"])
    assert "forward" not in [s["name"] for s in spans]
    server = only(spans, "put /v1/kv/", parent)
    propose = only(spans, "raft propose", server["id"])
    assert [a["value"] for a in propose.get("annotations", [])] == ["committed"]
    only(spans, "wal fsync", propose["id"])
    only(spans, "notify", only(spans, "apply", propose["id"])["id"])
    # Both followers store and apply the entry under the leader's span.
    for i in c.nodes:
        if i != leader:
            theirs = spans_of(c.nodes[i], trace_id, ["wal fsync", "apply"])
            only(theirs, "apply", propose["id"])
    # Reads propose nothing: a traced GET is one span.
    status, _ = http(c.nodes[leader], "GET", "/v1/kv/traced/leader", None, {"b3": "%s-%s-1" % (trace_id, parent)})
    assert status == 200
    names = [s["name"] for s in json.loads(http(c.nodes[leader], "GET", "/api/v2/trace/" + trace_id)[1])]
    assert names.count("get /v1/kv/") == 1 and names.count("raft propose") == 1


def test_any_node_answers_with_every_members_spans_of_a_trace(cluster):
    """GET /api/v2/trace/{id} gathers the other members' spans over the peer links: a Zipkin UI
    pointed at one node sees the whole write. A member that does not answer in time is left out,
    and the answer says so."""
    import signal
    c = cluster
    leader = c.wait_leader()
    follower = next(i for i in c.nodes if i != leader)
    other = next(i for i in c.nodes if i not in (leader, follower))
    trace_id, parent = os.urandom(16).hex(), os.urandom(8).hex()
    status, _ = http(c.nodes[follower], "PUT", "/v1/kv/traced/gather", b"v", {"b3": "%s-%s-1" % (trace_id, parent)})
    assert status == 200
    check_one_trace(c, leader, follower, trace_id, "put /v1/kv/", parent)  # every node has its spans
    own = {i: {s["id"] for s in json.loads(http(c.nodes[i], "GET", "/api/v2/trace/%s?local=true" % trace_id)[1])}
           for i in c.nodes}
    for i in c.nodes:
        req = urllib.request.Request("http://127.0.0.1:%d/api/v2/trace/%s" % (c.nodes[i].http_port, trace_id))
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.headers["X-Conclave-Members-Replied"] == "2/2"
            ids = [s["id"] for s in json.loads(r.read())]
        assert len(ids) == len(set(ids)) and set(ids) == own[1] | own[2] | own[3], i
    # The other follower paused: its spans are missing, and the answer counts 1 of 2.
    os.kill(c.nodes[other].pid, signal.SIGSTOP)
    try:
        req = urllib.request.Request("http://127.0.0.1:%d/api/v2/trace/%s" % (c.nodes[leader].http_port, trace_id))
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.headers["X-Conclave-Members-Replied"] == "1/2"
            assert {s["id"] for s in json.loads(r.read())} == own[leader] | own[follower]
    finally:
        os.kill(c.nodes[other].pid, signal.SIGCONT)
    assert http(c.nodes[leader], "GET", "/api/v2/trace/" + os.urandom(16).hex())[0] == 404

    # A search on a follower finds what only the leader holds (its replicate spans), and answers
    # with the whole trace; the span names are the union of every member's.
    leader_spans = json.loads(http(c.nodes[leader], "GET", "/api/v2/trace/%s?local=true" % trace_id)[1])
    index = next(s["tags"]["raft.index"] for s in leader_spans if s["name"] == "raft propose")
    query = urllib.parse.urlencode({"serviceName": "conclave", "spanName": "replicate",
                                    "annotationQuery": "raft.index=" + index, "limit": "5"})
    status, body = http(c.nodes[other], "GET", "/api/v2/traces?" + query)
    assert status == 200, body
    traces = json.loads(body)
    assert len(traces) == 1 and {s["id"] for s in traces[0]} == own[1] | own[2] | own[3], traces
    assert http(c.nodes[other], "GET", "/api/v2/traces?" + query + "&local=true")[1] == b"[]"
    names = json.loads(http(c.nodes[other], "GET", "/api/v2/spans?serviceName=conclave")[1])
    assert {"replicate", "raft propose", "put /v1/kv/", "forward", "apply", "wal fsync"} <= set(names), names
    assert "replicate" not in json.loads(http(c.nodes[other], "GET", "/api/v2/spans?serviceName=conclave&local=true")[1])
