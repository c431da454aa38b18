"""The registry on a 3-node cluster through python-consul 0.7.1: every server is a catalog node
with serfHealth; a service registered through a follower's agent is found through every node's
health endpoint and DNS; a killed member's serfHealth turns critical (the leader stops hearing it),
which invalidates the sessions bound to it and hides its services, and comes back passing when it
restarts."""

import consul
import dns.message
import dns.query
import dns.rcode

from cluster import Cluster
from integration.harness import wait_until  # tests/ is on the path (conftest)


def client(node):
    return consul.Consul(host="127.0.0.1", port=node.http_port)


def serf_status(c, name):
    _, checks = c.health.node(name)
    return {ch["CheckID"]: ch["Status"] for ch in checks}.get("serfHealth")


def dns_addresses(node, name):
    r = dns.query.udp(dns.message.make_query(name, "A"), "127.0.0.1", port=node.dns_port, timeout=5)
    return r.rcode(), sorted(x.address for rrset in r.answer for x in rrset)


def test_registry_across_the_cluster_and_serf_health():
    c = Cluster(3).start()
    try:
        leader = c.wait_leader()
        f1, f2 = [i for i in c.nodes if i != leader]
        lc = client(c.nodes[leader])
        names = {i: client(c.nodes[i]).agent.self()["Config"]["NodeName"] for i in c.nodes}

        def all_registered():
            _, nodes = lc.catalog.nodes()
            return sorted(n["Node"] for n in nodes) == sorted(names.values()) and \
                all(serf_status(lc, n) == "passing" for n in names.values())

        wait_until(all_registered, timeout=15, what="every server to be a passing catalog node")

        # Registration through a follower's agent: visible through every node.
        fc = client(c.nodes[f1])
        assert fc.agent.service.register("clsvc", service_id="clsvc-1", address="10.9.0.1", port=80)
        c.wait_converged()
        for i in c.nodes:
            _, entries = client(c.nodes[i]).health.service("clsvc", passing=True)
            assert [e["Node"]["Node"] for e in entries] == [names[f1]], i
            assert dns_addresses(c.nodes[i], "clsvc.service.consul") == (dns.rcode.NOERROR, ["10.9.0.1"])
        # The follower's agent lists it; another node's agent does not.
        assert "clsvc-1" in fc.agent.services()
        assert "clsvc-1" not in client(c.nodes[f2]).agent.services()

        # A session on f1's node relies on its serfHealth (the default check).
        sid = fc.session.create(lock_delay=0)
        assert fc.kv.put("cl-registry-lock", "x", acquire=sid) is True
        import json as _json
        import urllib.request
        ap = _json.loads(urllib.request.urlopen("http://127.0.0.1:%d/v1/operator/autopilot/health" % c.nodes[leader].http_port, timeout=5).read())
        assert ap["Healthy"] is True and ap["FailureTolerance"] == 1 and len(ap["Servers"]) == 3, ap
        assert sum(1 for s in ap["Servers"] if s["Leader"]) == 1, ap
        members = lc.agent.members()
        assert sorted(m["Name"] for m in members) == sorted(names.values())
        assert all(m["Status"] == 1 for m in members)

        c.nodes[f1].kill9()
        wait_until(lambda: serf_status(lc, names[f1]) == "critical", timeout=20,
                           what="the killed member's serfHealth to turn critical")
        wait_until(lambda: lc.session.info(sid)[1] is None, timeout=10,
                           what="the session bound to the dead member's serfHealth to be invalidated")
        assert "Session" not in lc.kv.get("cl-registry-lock")[1]
        assert lc.health.service("clsvc", passing=True)[1] == []
        assert dns_addresses(c.nodes[leader], "clsvc.service.consul")[0] == dns.rcode.NXDOMAIN
        assert {m["Name"]: m["Status"] for m in lc.agent.members()}[names[f1]] == 4
        import urllib.error
        try:
            urllib.request.urlopen("http://127.0.0.1:%d/v1/operator/autopilot/health" % c.nodes[leader].http_port, timeout=5)
            raise AssertionError("autopilot health stayed 200 with a dead server")
        except urllib.error.HTTPError as e:
            ap = _json.loads(e.read())
            assert e.code == 429 and ap["Healthy"] is False and ap["FailureTolerance"] == 0, ap

        c.nodes[f1].restart()
        wait_until(lambda: serf_status(lc, names[f1]) == "passing", timeout=20,
                           what="the restarted member to turn its serfHealth passing again")
        wait_until(lambda: len(lc.health.service("clsvc", passing=True)[1]) == 1, timeout=10,
                           what="the member's service to be healthy again")
    finally:
        c.stop()
