"""Metrics as operators read them (docs/observability.md, "Metrics"): Debian's Prometheus scrapes
a running 3-node cluster and answers queries over it, and `promtool check metrics` accepts every
node's exposition, with the latency histograms of both protocols in it."""

import json
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request

import pytest
from kazoo.client import KazooClient

from cluster import Cluster
from pyharness.servers import HOST, free_port


def get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def query(port, q):
    body = json.loads(get("http://%s:%d/api/v1/query?%s" % (HOST, port, urllib.parse.urlencode({"query": q}))))
    assert body["status"] == "success", body
    return body["data"]["result"]


@pytest.fixture(scope="module")
def cluster():
    c = Cluster(3).start()
    yield c
    c.stop()


def exercise(c):
    """Writes and reads through both protocols, so that every family has samples."""
    leader = c.wait_leader()
    for i in c.nodes:
        req = urllib.request.Request("http://%s:%d/v1/kv/metrics/k%d" % (HOST, c.nodes[i].http_port, i), data=b"v",
                                     method="PUT")
        urllib.request.urlopen(req, timeout=10).read()
    zk = KazooClient(hosts=c.nodes[leader].hosts, timeout=10)
    zk.start(timeout=15)
    try:
        for _ in range(5):
            zk.get(zk.create("/metrics-", b"x", sequence=True))
    finally:
        zk.stop()
        zk.close()
    return leader


def test_promtool_accepts_every_nodes_exposition(cluster):
    assert shutil.which("promtool"), "promtool is missing: scripts/install-deps.sh installs Debian's prometheus"
    leader = exercise(cluster)
    for i, node in cluster.nodes.items():
        for path in ("/metrics", "/v1/agent/metrics?format=prometheus"):
            text = get("http://%s:%d%s" % (HOST, node.http_port, path))
            r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
            assert r.returncode == 0, "node %d %s: %s%s" % (i, path, r.stdout, r.stderr)
            assert "conclave_http_request_duration_seconds_bucket{method=\"PUT\",route=\"/v1/kv/\"" in text
        if i == leader:
            m = re.search(r'^conclave_zk_request_duration_seconds_count\{op="create"\} (\d+)$', text, re.M)
            assert m and int(m.group(1)) >= 5
        # Raft on every node: its WAL wrote the entries, it applied them, it knows of the election.
        def value(name):
            m = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
            assert m, "node %d has no %s" % (i, name)
            return float(m.group(1))
        assert value("conclave_wal_write_duration_seconds_count") >= 1, i
        assert value("conclave_raft_apply_duration_seconds_count") >= 8, i
        assert value("conclave_raft_apply_lag") >= 0
        if i == leader:
            assert value("conclave_raft_became_leader_total") >= 1, i
            # Replication latency per follower: every write reached both followers.
            for f in cluster.nodes:
                if f != leader:
                    assert value('conclave_raft_replication_duration_seconds_count{follower="%d"}' % f) >= 8, (f, text)
        else:
            assert "conclave_raft_replication_duration_seconds" not in text  # followers replicate to no one
    texts = [get("http://%s:%d/metrics" % (HOST, n.http_port)) for n in cluster.nodes.values()]
    elections = sum(float(re.search(r"^conclave_raft_elections_total (\S+)$", t, re.M).group(1)) for t in texts)
    assert elections >= 1, "no node counted the election that made the leader"


def test_prometheus_scrapes_the_cluster(cluster, tmp_path):
    assert shutil.which("prometheus"), "prometheus is missing: scripts/install-deps.sh installs it"
    exercise(cluster)
    port = free_port()
    targets = ["%s:%d" % (HOST, n.http_port) for n in cluster.nodes.values()]
    config = tmp_path / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                      "scrape_configs:\n  - job_name: conclave\n    static_configs:\n      - targets: %s\n"
                      % json.dumps(targets))
    log = open(tmp_path / "prometheus.log", "w")
    proc = subprocess.Popen(["prometheus", "--config.file=%s" % config, "--storage.tsdb.path=%s" % (tmp_path / "data"),
                             "--web.listen-address=%s:%d" % (HOST, port)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        up = []
        while time.monotonic() < deadline:
            try:
                up = query(port, "up")
                if len(up) == 3 and all(r["value"][1] == "1" for r in up):
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.5)
        else:
            pytest.fail("Prometheus did not scrape all three nodes: %s\n%s" % (up, (tmp_path / "prometheus.log").read_text()[-3000:]))
        assert sorted(r["metric"]["instance"] for r in up) == sorted(targets)
        (leaders,) = query(port, "sum(conclave_raft_leader)")
        assert leaders["value"][1] == "1", "exactly one node reports itself leader"
        assert len(query(port, "conclave_applied_index > 0")) == 3
        (writes,) = query(port, 'sum(conclave_http_request_duration_seconds_count{method="PUT",route="/v1/kv/"})')
        assert float(writes["value"][1]) >= 3
        (creates,) = query(port, 'sum(conclave_zk_request_duration_seconds_count{op="create"})')
        assert float(creates["value"][1]) >= 5
        # A latency quantile across the cluster, as a dashboard computes it.
        (p99,) = query(port, 'histogram_quantile(0.99, sum by (le) (conclave_http_request_duration_seconds_bucket{route="/v1/kv/"}))')
        assert 0 < float(p99["value"][1]) < 10
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()
