"""KV through python-consul 0.7.1: every GET/PUT/DELETE parameter, CAS races."""

import base64
import threading

import consul


def test_put_get_delete_with_flags_and_indexes(c, http, prefix):
    assert c.kv.put(prefix + "a", "one", flags=42) is True
    index, entry = c.kv.get(prefix + "a")
    assert entry["Value"] == b"one" and entry["Flags"] == 42
    assert entry["Key"] == prefix + "a" and entry["LockIndex"] == 0 and "Session" not in entry
    assert entry["CreateIndex"] == entry["ModifyIndex"] and int(index) >= entry["ModifyIndex"]
    assert c.kv.put(prefix + "a", "two") is True
    _, e2 = c.kv.get(prefix + "a")
    assert e2["Value"] == b"two" and e2["Flags"] == 0
    assert e2["CreateIndex"] == entry["CreateIndex"] and e2["ModifyIndex"] > entry["ModifyIndex"]
    assert c.kv.delete(prefix + "a") is True
    idx_missing, none = c.kv.get(prefix + "a")
    assert none is None and int(idx_missing) > int(index)
    # A missing key is 404 with X-Consul-Index, as Consul answers.
    status, headers, _ = http.call("GET", "/v1/kv/" + prefix + "a")
    assert status == 404 and int(headers["x-consul-index"]) >= int(idx_missing)
    assert headers["x-consul-knownleader"] == "true" and headers["x-consul-lastcontact"] == "0"
    # Deleting what is not there succeeds.
    assert c.kv.delete(prefix + "never") is True


def test_empty_value_is_null(c, prefix):
    assert c.kv.put(prefix + "empty", "") is True
    _, e = c.kv.get(prefix + "empty")
    assert e["Value"] is None


def test_recurse_keys_separator_raw(c, http, prefix):
    for k in ["a", "b/1", "b/2", "b/deep/x", "c"]:
        assert c.kv.put(prefix + k, k.upper())
    _, entries = c.kv.get(prefix, recurse=True)
    assert [e["Key"] for e in entries] == [prefix + k for k in ["a", "b/1", "b/2", "b/deep/x", "c"]]
    # "b/deep" was created only as a parent: it is a znode, not a key.
    _, none = c.kv.get(prefix + "b/deep")
    assert none is None
    _, keys = c.kv.get(prefix, keys=True)
    assert keys == [prefix + k for k in ["a", "b/1", "b/2", "b/deep/x", "c"]]
    _, keys = c.kv.get(prefix, keys=True, separator="/")
    assert keys == [prefix + "a", prefix + "b/", prefix + "c"]
    _, keys = c.kv.get(prefix + "b/", keys=True, separator="/")
    assert keys == [prefix + "b/1", prefix + "b/2", prefix + "b/deep/"]
    # A prefix is a string prefix, as in Consul: "b/d" matches "b/deep/x".
    _, entries = c.kv.get(prefix + "b/d", recurse=True)
    assert [e["Key"] for e in entries] == [prefix + "b/deep/x"]
    status, headers, body = http.call("GET", "/v1/kv/" + prefix + "b/1?raw")
    assert status == 200 and body == b"B/1"
    # Recursive delete removes keys and the parents that only they needed.
    assert c.kv.delete(prefix + "b", recurse=True) is True
    _, entries = c.kv.get(prefix, recurse=True)
    assert [e["Key"] for e in entries] == [prefix + "a", prefix + "c"]
    assert c.kv.get(prefix + "zzz", recurse=True)[1] is None


def test_delete_key_with_children_keeps_them(c, prefix):
    assert c.kv.put(prefix + "p", "parent") and c.kv.put(prefix + "p/child", "x")
    assert c.kv.delete(prefix + "p") is True
    assert c.kv.get(prefix + "p")[1] is None
    assert c.kv.get(prefix + "p/child")[1]["Value"] == b"x"
    assert c.kv.delete(prefix + "p/child") is True
    assert c.kv.get(prefix, recurse=True)[1] is None


def test_cas_put_and_delete(c, prefix):
    k = prefix + "cas"
    assert c.kv.put(k, "v0", cas=0) is True          # create-only
    assert c.kv.put(k, "again", cas=0) is False
    _, e = c.kv.get(k)
    assert c.kv.put(k, "v1", cas=e["ModifyIndex"] + 1000) is False
    assert c.kv.put(k, "v1", cas=e["ModifyIndex"]) is True
    assert c.kv.put(k, "v2", cas=e["ModifyIndex"]) is False  # stale now
    _, e = c.kv.get(k)
    assert e["Value"] == b"v1"
    assert c.kv.delete(k, cas=e["ModifyIndex"] - 1) is False
    assert c.kv.get(k)[1] is not None
    assert c.kv.delete(k, cas=e["ModifyIndex"]) is True
    assert c.kv.get(k)[1] is None


def test_cas_race_counts_every_increment_once(node, prefix):
    k = prefix + "counter"
    first = consul.Consul(host="127.0.0.1", port=node.http_port)
    assert first.kv.put(k, "0")
    wins = []

    def worker():
        cl = consul.Consul(host="127.0.0.1", port=node.http_port)
        mine = 0
        for _ in range(200):
            _, e = cl.kv.get(k)
            if cl.kv.put(k, str(int(e["Value"]) + 1), cas=e["ModifyIndex"]):
                mine += 1
            if mine >= 25:
                break
        wins.append(mine)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    _, e = first.kv.get(k)
    assert int(e["Value"]) == sum(wins) > 0


def test_binary_values_round_trip(c, http, prefix):
    data = bytes(range(256)) * 4
    status, _, body = http.call("PUT", "/v1/kv/" + prefix + "bin", data)
    assert status == 200 and body == b"true"
    _, e = c.kv.get(prefix + "bin")
    assert e["Value"] == data
    status, _, raw = http.call("GET", "/v1/kv/" + prefix + "bin?raw")
    assert raw == data
    # And through a chunked body: same bytes.
    assert base64.b64encode(data)
