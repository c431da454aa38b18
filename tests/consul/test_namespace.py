"""One namespace, two views: KV keys are znodes, znodes are keys, sessions and locks are shared
(docs/consul.md describes the mapping and the guarantees tested here)."""

import threading

from kazoo.exceptions import NodeExistsError


def test_kv_key_is_a_znode_and_back(c, zk, prefix):
    assert c.kv.put(prefix + "app/config", "from-consul")
    data, stat = zk.get("/" + prefix + "app/config")
    assert data == b"from-consul"
    e = c.kv.get(prefix + "app/config")[1]
    assert stat.czxid == e["CreateIndex"] and stat.mzxid == e["ModifyIndex"]
    # The parent a KV write needed is a znode for ZooKeeper, and no key for Consul.
    assert zk.exists("/" + prefix + "app") is not None
    assert c.kv.get(prefix + "app")[1] is None
    zk.create("/" + prefix + "zk/made/here", b"from-zookeeper", makepath=True)
    assert c.kv.get(prefix + "zk/made/here")[1]["Value"] == b"from-zookeeper"
    assert c.kv.get(prefix + "zk/made")[1] is not None   # znodes made by ZooKeeper clients are keys
    # Once the last key below it goes, an implicit parent goes too.
    assert c.kv.delete(prefix + "app/config")
    assert zk.exists("/" + prefix + "app") is None


def test_zookeeper_watch_fires_on_kv_write(c, zk, prefix):
    assert c.kv.put(prefix + "w", "1")
    fired = threading.Event()
    events = []
    zk.get("/" + prefix + "w", watch=lambda ev: (events.append(ev), fired.set()))
    assert c.kv.put(prefix + "w", "2")
    assert fired.wait(5) and events[0].type == "CHANGED"
    fired.clear()
    zk.get_children("/" + prefix.rstrip("/"), watch=lambda ev: (events.append(ev), fired.set()))
    assert c.kv.put(prefix + "new-child", "x")
    assert fired.wait(5) and events[-1].type == "CHILD"


def test_zookeeper_session_is_a_consul_session(c, zk, prefix):
    zk.ensure_path("/" + prefix.rstrip("/"))
    zk.create("/" + prefix + "eph", b"mine", ephemeral=True)
    sid = zk.client_id[0]
    uuid = "00000000-0000-0000-%04x-%012x" % (sid >> 48, sid & 0xFFFFFFFFFFFF)
    assert uuid in [s["ID"] for s in c.session.list()[1]]
    e = c.kv.get(prefix + "eph")[1]
    assert e["Session"] == uuid
    # A Consul session cannot acquire what a ZooKeeper session holds ...
    s = c.session.create(lock_delay=0)
    assert c.kv.put(prefix + "eph", "stolen", acquire=s) is False
    # ... and a ZooKeeper client cannot create a key a Consul session holds.
    assert c.kv.put(prefix + "consul-lock", "held", acquire=s)
    try:
        zk.create("/" + prefix + "consul-lock", b"", ephemeral=True)
        assert False, "create of a held key succeeded"
    except NodeExistsError:
        pass
    c.session.destroy(s)


def test_acl_forbidding_write_gives_403(c, zk, http, prefix):
    from kazoo.security import make_digest_acl
    acl = [make_digest_acl("owner", "secret", all=True)]
    zk.ensure_path("/" + prefix.rstrip("/"))
    zk.create("/" + prefix + "locked", b"v", acl=acl)
    status, _, body = http.call("PUT", "/v1/kv/" + prefix + "locked", b"x")
    assert status == 403
    status, _, body = http.call("PUT", "/v1/kv/" + prefix + "locked/child", b"x")
    assert status == 403
    # Reads need READ: the key is hidden from listings and refused when named.
    assert http.call("GET", "/v1/kv/" + prefix + "locked")[0] == 403
    assert c.kv.get(prefix + "locked", recurse=True)[1] is None


def test_destroying_a_zookeeper_session_through_consul_ends_it(c, node, prefix):
    import harness
    from kazoo.protocol.states import KazooState
    zk = harness.kazoo_client(node)
    states = []
    zk.add_listener(lambda s: states.append(s))
    try:
        zk.ensure_path("/" + prefix.rstrip("/"))
        zk.create("/" + prefix + "eph2", b"", ephemeral=True)
        sid = zk.client_id[0]
        uuid = "00000000-0000-0000-%04x-%012x" % (sid >> 48, sid & 0xFFFFFFFFFFFF)
        assert c.session.destroy(uuid) is True
        assert c.kv.get(prefix + "eph2")[1] is None
        harness.wait_until(lambda: KazooState.LOST in states, timeout=15, what="kazoo to see its session lost")
    finally:
        harness.stop_client(zk)
