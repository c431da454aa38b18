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
    # It blocked until the write: an early answer would carry the old index and value.
    assert status == 200 and new_index > int(index) and b"djI=" in body   # base64("v2")


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


def test_two_thousand_long_polls_on_one_key_all_wake(c, http, node, prefix):
    """Thousands of concurrent blocking queries on one node, no thread each: all are held, one PUT
    wakes every one of them (the 10k-waiter timing and memory figures are in docs/benchmarks.md)."""
    import resource
    import selectors
    import socket
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 2000 + 256
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    n = min(2000, resource.getrlimit(resource.RLIMIT_NOFILE)[0] - 256)
    assert c.kv.put(prefix + "fan", "v0")
    index, _ = c.kv.get(prefix + "fan")
    req = ("GET /v1/kv/%sfan?index=%s&wait=60s HTTP/1.1\r\nHost: x\r\n\r\n" % (prefix, index)).encode()
    socks = []
    try:
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", node.http_port), timeout=10)
            s.sendall(req)
            socks.append(s)

        def waiting():
            text = http.call("GET", "/metrics")[2].decode()
            for line in text.splitlines():
                if line.startswith("conclave_consul_blocking_queries "):
                    return int(line.split()[1]) >= n
            return False
        import harness
        harness.wait_until(waiting, timeout=30, what="%d blocking queries held" % n)
        assert c.kv.put(prefix + "fan", "v1")
        sel = selectors.DefaultSelector()
        for s in socks:
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ, bytearray())
        done = 0
        deadline = time.monotonic() + 30
        while done < n and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=1):
                buf = key.data
                chunk = key.fileobj.recv(65536)
                assert chunk, "a waiting connection was closed"
                buf += chunk
                if b"\r\n\r\n" in buf and buf.endswith(b"]"):
                    assert buf.startswith(b"HTTP/1.1 200") and b"djE=" in buf  # base64("v1")
                    sel.unregister(key.fileobj)
                    done += 1
        assert done == n, "%d of %d blocking queries woke" % (done, n)
    finally:
        for s in socks:
            s.close()
