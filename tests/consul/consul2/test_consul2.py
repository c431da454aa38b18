"""What python3-consul2 adds over python-consul 0.7.1 (txn, session behaviours,
consistency flags, blocking reads) and the calls both share, as that library sends them."""

import base64
import threading
import time
import uuid

import consul


def b64(s):
    return base64.b64encode(s.encode()).decode()


def test_kv_every_parameter(c, prefix):
    assert c.kv.put(prefix + "a", "1", flags=7) is True
    idx, e = c.kv.get(prefix + "a")
    assert e["Value"] == b"1" and e["Flags"] == 7
    assert c.kv.put(prefix + "a", "2", cas=e["ModifyIndex"] + 1000) is False
    assert c.kv.put(prefix + "a", "2", cas=e["ModifyIndex"]) is True
    assert c.kv.put(prefix + "b/c", "3") is True
    _, keys = c.kv.get(prefix, keys=True, separator="/")
    assert keys == [prefix + "a", prefix + "b/"]
    for mode in ("consistent", "stale"):
        _, e = c.kv.get(prefix + "a", consistency=mode)
        assert e["Value"] == b"2"
    _, e = c.kv.get(prefix + "a")
    assert c.kv.delete(prefix + "a", cas=e["ModifyIndex"] - 1) is False
    assert c.kv.delete(prefix + "a", cas=e["ModifyIndex"]) is True
    assert c.kv.delete(prefix, recurse=True) is True
    assert c.kv.get(prefix, recurse=True)[1] is None


def test_blocking_get_returns_on_write(c, prefix):
    c.kv.put(prefix + "w", "0")
    idx, _ = c.kv.get(prefix + "w")
    got = {}

    def waiter():
        got["r"] = c.kv.get(prefix + "w", index=idx, wait="20s")

    t = threading.Thread(target=waiter)
    t.start()
    time.sleep(0.3)
    assert t.is_alive(), "a blocking query returned before any write"
    c.kv.put(prefix + "w", "1")
    t.join(10)
    assert not t.is_alive(), "the blocking query was not woken by the write"
    new_idx, e = got["r"]
    assert int(new_idx) > int(idx) and e["Value"] == b"1"


def test_session_delete_behavior_and_lock(c, prefix):
    sid = c.session.create(name="c2", behavior="delete", lock_delay=0, ttl=10)
    info = c.session.info(sid)[1]
    assert info["Behavior"] == "delete" and info["TTL"] == "10s" and info["LockDelay"] == 0
    assert c.kv.put(prefix + "lock", "me", acquire=sid) is True
    other = c.session.create(lock_delay=0)
    assert c.kv.put(prefix + "lock", "you", acquire=other) is False
    assert c.session.renew(sid)["ID"] == sid  # consul2 returns the one session, not a list
    assert any(s["ID"] == sid for s in c.session.list()[1])
    assert any(s["ID"] == sid for s in c.session.node(info["Node"])[1])
    # Destroying a delete-behaviour session deletes the keys it holds.
    assert c.session.destroy(sid) is True
    assert c.kv.get(prefix + "lock")[1] is None
    assert c.kv.put(prefix + "lock", "you", acquire=other) is True
    _, e = c.kv.get(prefix + "lock")
    assert e["Session"] == other and e["LockIndex"] == 1
    assert c.kv.put(prefix + "lock", "bye", release=other) is True
    assert "Session" not in c.kv.get(prefix + "lock")[1]
    c.session.destroy(other)


def test_txn_commits_all_or_nothing(c, prefix):
    r = c.txn.put([
        {"KV": {"Verb": "set", "Key": prefix + "x", "Value": b64("X")}},
        {"KV": {"Verb": "set", "Key": prefix + "y", "Value": b64("Y")}},
        {"KV": {"Verb": "get", "Key": prefix + "x"}},
    ])
    assert r["Errors"] is None and len(r["Results"]) == 3
    assert base64.b64decode(r["Results"][2]["KV"]["Value"]) == b"X"
    # A failing check rolls back the whole transaction: python3-consul2 raises on 409.
    try:
        c.txn.put([
            {"KV": {"Verb": "set", "Key": prefix + "x", "Value": b64("changed")}},
            {"KV": {"Verb": "check-not-exists", "Key": prefix + "y"}},
        ])
    except consul.ConsulException as e:
        assert "409" in str(e) or "check-not-exists" in str(e) or "exists" in str(e), str(e)
    else:
        raise AssertionError("a failed txn was reported as committed")
    assert c.kv.get(prefix + "x")[1]["Value"] == b"X"


def test_status_and_agent_self(c, node):
    assert c.status.leader().startswith("127.0.0.1:")
    assert len(c.status.peers()) >= 1
    me = c.agent.self()
    assert me["Config"]["Datacenter"] == "dc1" and me["Config"]["NodeName"]


def test_registry_agent_health_catalog_events(c):
    name = "c2svc-" + uuid.uuid4().hex[:6]
    assert c.agent.service.register(name, service_id=name + "-1", address="10.12.0.1", port=8200, tags=["c2"],
                                    meta={"via": "consul2"}, check=consul.Check.ttl("30s")) is True
    try:
        assert c.agent.services()[name + "-1"]["Meta"] == {"via": "consul2"}
        assert c.health.service(name, passing=True)[1] == []
        c.agent.check.ttl_pass("service:%s-1" % name, "ok")
        _, entries = c.health.service(name, passing=True)
        assert len(entries) == 1 and entries[0]["Service"]["Port"] == 8200
        _, rows = c.catalog.service(name, tag="c2")
        assert rows[0]["ServiceAddress"] == "10.12.0.1"
        _, nodes = c.catalog.nodes()
        assert any(n["Node"] == c.agent.self()["Config"]["NodeName"] for n in nodes)
        c.agent.check.ttl_fail("service:%s-1" % name)
        assert c.health.service(name, passing=True)[1] == []
    finally:
        assert c.agent.service.deregister(name + "-1") is True
    assert c.catalog.service(name)[1] == []
    ev = "c2ev-" + uuid.uuid4().hex[:6]
    assert c.event.fire(ev, "payload") is not None
    _, events = c.event.list(ev)
    assert [base64.b64decode(e["Payload"]) for e in events] == [b"payload"]  # consul2 leaves it base64
