"""One service registry seen through both protocols: Curator's ServiceDiscovery (Debian's
libcurator-discovery-java, driven by curator/CuratorRegistry.java) and kazoo on the ZooKeeper
side, python-consul on the Consul side."""

import glob
import json
import subprocess
import threading
import time
import uuid
from pathlib import Path

import consul

import harness
from pyharness.curator import classpath

HERE = Path(__file__).resolve().parent


def curator(node, *args, **kw):
    return subprocess.Popen(["java", "-cp", classpath(), str(HERE / "curator" / "CuratorRegistry.java"),
                             "127.0.0.1:%d" % node.port] + list(args),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def test_curator_registration_is_a_consul_service_while_its_session_lives(c, node):
    name = "cur-" + uuid.uuid4().hex[:6]
    p = curator(node, "register", name, "10.7.7.7", "7000", "zone-a")
    try:
        line = p.stdout.readline()
        assert line.startswith("registered "), line + p.stderr.read()[-3000:]
        instance_id = line.split()[1]
        _, entries = c.health.service(name, passing=True)
        assert len(entries) == 1, entries
        e = entries[0]
        assert e["Node"]["Node"] == "zookeeper"
        assert e["Service"]["ID"] == instance_id and e["Service"]["Address"] == "10.7.7.7"
        assert e["Service"]["Port"] == 7000 and e["Service"]["Meta"] == {"zone": "zone-a"}
        assert [ch["Status"] for ch in e["Checks"]] == ["passing"]
        _, rows = c.catalog.service(name)
        assert rows[0]["ServiceAddress"] == "10.7.7.7"
        index, _ = c.health.service(name)
        # Closing Curator's session removes the ephemeral, and the instance with it; a blocking
        # query on the service wakes for it.
        got = {}
        t = threading.Thread(target=lambda: got.setdefault("r", c.health.service(name, index=index, wait="20s")))
        t.start()
        time.sleep(0.2)
        p.stdin.close()
        assert p.wait(30) == 0, p.stderr.read()[-3000:]
        t.join(20)
        assert not t.is_alive(), "the blocking health query did not wake when the instance left"
        assert got["r"][1] == []
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(10)


def test_consul_registration_is_found_by_curator(c, http, node):
    name = "con-" + uuid.uuid4().hex[:6]
    status, _, out = http.call("PUT", "/v1/agent/service/register",
                               {"Name": name, "ID": name + "-1", "Address": "10.8.8.8", "Port": 8088,
                                "Meta": {"zone": "b"}, "Check": {"TTL": "60s"}})
    assert status == 200, out
    me = c.agent.self()["Config"]["NodeName"]

    def query():
        p = curator(node, "query", name)
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err[-3000:]
        assert out.strip().endswith("done"), out + err[-3000:]
        return [l.split(" ", 4) for l in out.splitlines() if l.startswith("instance ")]

    # Critical (a new TTL check): not in the ZooKeeper view.
    assert query() == []
    c.agent.check.ttl_pass("service:%s-1" % name)
    rows = query()
    assert len(rows) == 1, rows
    _, iid, address, port, meta = rows[0]
    assert iid == "%s-1@%s" % (name, me) and address == "10.8.8.8" and port == "8088"
    assert json.loads(meta) == {"zone": "b"}
    c.agent.check.ttl_fail("service:%s-1" % name)
    assert query() == []
    c.agent.service.deregister(name + "-1")


def test_kazoo_sees_the_mirror_and_cannot_change_it(c, zk):
    from kazoo.exceptions import NoAuthError
    name = "kz-" + uuid.uuid4().hex[:6]
    c.agent.service.register(name, service_id="a", address="10.0.0.5", port=81)
    me = c.agent.self()["Config"]["NodeName"]
    children = zk.get_children("/services/" + name)
    assert children == ["a@" + me]
    data, stat = zk.get("/services/%s/a@%s" % (name, me))
    inst = json.loads(data)
    assert inst["name"] == name and inst["address"] == "10.0.0.5" and inst["port"] == 81
    assert inst["serviceType"] == "DYNAMIC" and inst["id"] == "a@" + me
    try:
        zk.set("/services/%s/a@%s" % (name, me), b"{}")
        raise AssertionError("a ZooKeeper client changed a mirrored registration")
    except NoAuthError:
        pass
    # A child watch fires when the instance goes.
    fired = threading.Event()
    zk.get_children("/services/" + name, watch=lambda ev: fired.set())
    c.agent.service.deregister("a")
    assert fired.wait(10), "no child watch fired on deregistration"
    assert not zk.exists("/services/" + name)

    # A persistent ServiceInstance written by kazoo is a catalog service; junk is not.
    zk.create("/services/%s-zk/x1" % name, json.dumps({"name": name + "-zk", "id": "x1", "address": "10.1.1.1",
                                                      "port": 90, "enabled": True}).encode(), makepath=True)
    zk.create("/services/%s-zk/junk" % name, b"not a service instance", makepath=True)
    _, rows = c.catalog.service(name + "-zk")
    assert [(r["ServiceID"], r["ServiceAddress"], r["ServicePort"]) for r in rows] == [("x1", "10.1.1.1", 90)]
    zk.set("/services/%s-zk/x1" % name, json.dumps({"name": name + "-zk", "address": "10.1.1.1", "port": 90,
                                                    "enabled": False}).encode())
    assert c.health.service(name + "-zk", passing=True)[1] == []
    zk.delete("/services/%s-zk" % name, recursive=True)
    assert c.catalog.service(name + "-zk")[1] == []
