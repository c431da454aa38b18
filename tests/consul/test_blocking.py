"""Blocking queries on KV and sessions: woken by KV writes and by ZooKeeper writes, index never
goes backwards, wait times out with the same index, consistency headers."""

import threading
import time


def blocking_get(http, path, index, wait="10s"):
    sep = "&" if "?" in path else "?"
    t0 = time.monotonic()
    status, headers, body = http.call("GET", "%s%sindex=%s&wait=%s" % (path, sep, index, wait))
    return status, int(headers["x-consul-index"]), body, time.monotonic() - t0


def later(delay, fn):
    t = threading.Timer(delay, fn)
    t.start()
    return t


def test_blocking_get_woken_by_kv_put(c, http, prefix):
    assert c.kv.put(prefix + "k", "v1")
    index, _ = c.kv.get(prefix + "k")
    t = later(0.5, lambda: c.kv.put(prefix + "k", "v2"))
    status, new_index, body, took = blocking_get(http, "/v1/kv/" + prefix + "k", index)
    t.join()
    assert status == 200 and new_index > int(index) and b"djI=" in body   # base64("v2")
    assert 0.3 < took < 5


def test_blocking_get_woken_by_zookeeper_write(c, http, zk, prefix):
    assert c.kv.put(prefix + "zk", "from-consul")
    index, _ = c.kv.get(prefix + "zk")
    t = later(0.5, lambda: zk.set("/" + prefix + "zk", b"from-zookeeper"))
    status, new_index, body, took = blocking_get(http, "/v1/kv/" + prefix + "zk", index)
    t.join()
    assert status == 200 and new_index > int(index)
    assert c.kv.get(prefix + "zk")[1]["Value"] == b"from-zookeeper"


def test_recursive_blocking_woken_by_delete_under_prefix(c, http, prefix):
    for k in ("a/1", "a/2"):
        assert c.kv.put(prefix + k, "v")
    index, _ = c.kv.get(prefix + "a/", recurse=True)
    t = later(0.5, lambda: c.kv.delete(prefix + "a/2"))
    status, new_index, body, took = blocking_get(http, "/v1/kv/" + prefix + "a/?recurse", index)
    t.join()
    assert status == 200 and new_index > int(index) and took > 0.3
    assert (prefix + "a/2").encode() not in body


def test_unrelated_write_does_not_wake_and_wait_times_out(c, http, prefix):
    assert c.kv.put(prefix + "quiet", "v")
    index, _ = c.kv.get(prefix + "quiet", recurse=True)
    t = later(0.3, lambda: c.kv.put(prefix + "other", "x"))
    status, new_index, _, took = blocking_get(http, "/v1/kv/" + prefix + "quiet?recurse", index, wait="1s")
    t.join()
    # Not woken by the sibling; at the deadline it answers (the directory's child-change index
    # may have moved with the sibling, never backwards).
    assert status == 200 and new_index >= int(index)
    assert took >= 0.95, took


def test_index_never_goes_backwards(c, http, prefix):
    last = 0
    for i in range(20):
        c.kv.put(prefix + "k%d" % (i % 3), str(i))
        if i % 4 == 0:
            c.kv.delete(prefix + "k%d" % (i % 3))
        idx, _ = c.kv.get(prefix, recurse=True)
        assert int(idx) >= last
        last = int(idx)


def test_python_consul_blocking_get(c, prefix):
    assert c.kv.put(prefix + "pc", "1")
    index, _ = c.kv.get(prefix + "pc")
    t = later(0.3, lambda: c.kv.put(prefix + "pc", "2"))
    new_index, e = c.kv.get(prefix + "pc", index=index, wait="5s")
    t.join()
    assert int(new_index) > int(index) and e["Value"] == b"2"


def test_session_list_blocks_until_a_session_appears(c, http):
    index, _ = c.session.list()
    made = []
    t = later(0.4, lambda: made.append(c.session.create()))
    status, new_index, body, took = blocking_get(http, "/v1/session/list", index)
    t.join()
    assert status == 200 and new_index > int(index) and made[0].encode() in body
    c.session.destroy(made[0])


def test_consistency_modes_single_node(http, c, prefix):
    assert c.kv.put(prefix + "m", "v")
    for q, mode in (("", "leader"), ("?consistent", "consistent"), ("?stale", "stale")):
        status, headers, _ = http.call("GET", "/v1/kv/" + prefix + "m" + q)
        assert status == 200 and headers["x-consul-effective-consistency"] == mode
    assert http.call("GET", "/v1/kv/" + prefix + "m?stale&consistent")[0] == 400
    assert c.kv.get(prefix + "m", consistency="consistent")[1]["Value"] == b"v"
    assert c.kv.get(prefix + "m", consistency="stale")[1]["Value"] == b"v"
