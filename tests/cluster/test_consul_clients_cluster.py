"""The npm `consul` client and python3-consul2 against a follower of a 3-node cluster: every KV,
session, txn, registry and event call they make is forwarded to the leader or served after a
ReadIndex round, and must behave as on one node."""

from cluster import Cluster
from pyharness.clients import run_consul2_suite, run_npm_client


def test_npm_and_consul2_clients_through_a_follower():
    c = Cluster(3).start()
    try:
        leader = c.wait_leader()
        follower = [i for i in c.nodes if i != leader][0]
        port = c.nodes[follower].http_port
        ok, output = run_npm_client(port)
        assert ok, "npm consul through a follower failed:\n" + output
        ok, output = run_consul2_suite(port)
        assert ok, "python3-consul2 through a follower failed:\n" + output
    finally:
        c.stop()
