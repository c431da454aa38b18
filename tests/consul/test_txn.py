"""PUT /v1/txn: every KV verb, all-or-nothing, Consul's result and error shapes."""

import base64
import json


def b64(s):
    return base64.b64encode(s.encode()).decode()


def op(verb, key, **kw):
    d = {"Verb": verb, "Key": key}
    d.update(kw)
    return {"KV": d}


def test_txn_all_verbs(http, c, prefix):
    status, _, r = http.json("PUT", "/v1/txn", json.dumps([
        op("set", prefix + "a", Value=b64("A"), Flags=7),
        op("set", prefix + "b", Value=b64("B")),
        op("get", prefix + "a"),
    ]))
    assert status == 200 and r["Errors"] is None
    assert [x["KV"]["Key"] for x in r["Results"]] == [prefix + "a", prefix + "b", prefix + "a"]
    assert r["Results"][0]["KV"]["Value"] is None          # write results carry no value
    assert base64.b64decode(r["Results"][2]["KV"]["Value"]) == b"A" and r["Results"][2]["KV"]["Flags"] == 7
    idx = r["Results"][0]["KV"]["ModifyIndex"]
    s = c.session.create(lock_delay=0)
    status, _, r = http.json("PUT", "/v1/txn", json.dumps([
        op("check-index", prefix + "a", Index=idx),
        op("cas", prefix + "a", Value=b64("A2"), Index=idx),
        op("lock", prefix + "l", Value=b64("L"), Session=s),
        op("check-session", prefix + "l", Session=s),
        op("check-not-exists", prefix + "nope"),
        op("get-tree", prefix),
        op("unlock", prefix + "l", Session=s),
        op("delete", prefix + "b"),
    ]))
    assert status == 200, r
    tree = [x["KV"]["Key"] for x in r["Results"] if x["KV"]["Value"] is not None]
    assert tree == [prefix + "a", prefix + "b", prefix + "l"]
    assert c.kv.get(prefix + "a")[1]["Value"] == b"A2"
    assert c.kv.get(prefix + "b")[1] is None
    assert "Session" not in c.kv.get(prefix + "l")[1]
    e = c.kv.get(prefix + "l")[1]
    status, _, r = http.json("PUT", "/v1/txn", json.dumps([
        op("delete-cas", prefix + "l", Index=e["ModifyIndex"]),
        op("delete-tree", prefix),
    ]))
    assert status == 200 and r["Errors"] is None and r["Results"] == [], r
    assert c.kv.get(prefix, recurse=True)[1] is None
    c.session.destroy(s)


def test_txn_failure_changes_nothing(http, c, prefix):
    assert c.kv.put(prefix + "keep", "orig")
    before = c.kv.get(prefix, recurse=True)[1]
    status, _, r = http.json("PUT", "/v1/txn", json.dumps([
        op("set", prefix + "keep", Value=b64("changed")),
        op("set", prefix + "new", Value=b64("x")),
        op("cas", prefix + "keep", Value=b64("y"), Index=1),
    ]))
    assert status == 409 and r["Results"] is None
    assert r["Errors"] == [{"OpIndex": 2, "What": 'failed to set key "%skeep", index is stale' % prefix}]
    assert c.kv.get(prefix, recurse=True)[1] == before
    status, _, r = http.json("PUT", "/v1/txn", json.dumps([op("get", prefix + "missing")]))
    assert status == 409 and "doesn't exist" in r["Errors"][0]["What"]
    status, _, r = http.json("PUT", "/v1/txn", json.dumps([op("check-not-exists", prefix + "keep")]))
    assert status == 409 and r["Errors"][0]["OpIndex"] == 0


def test_txn_bad_requests(http, prefix):
    assert http.call("PUT", "/v1/txn", "{not json")[0] == 400
    assert http.call("PUT", "/v1/txn", '{"KV": {}}')[0] == 400
    assert http.call("PUT", "/v1/txn", json.dumps([op("set", prefix + "x", Value="%%%")]))[0] == 400
    assert http.call("PUT", "/v1/txn", json.dumps([{"KV": {"Verb": "set", "Key": 5}}]))[0] == 400
    status, _, r = http.json("PUT", "/v1/txn", json.dumps([op("frobnicate", prefix + "x")]))
    assert status == 409 and "frobnicate" in r["Errors"][0]["What"]
    too_many = [op("set", prefix + "k%d" % i, Value=b64("v")) for i in range(65)]
    assert http.call("PUT", "/v1/txn", json.dumps(too_many))[0] == 413
    status, _, r = http.json("PUT", "/v1/txn", json.dumps([op("lock", prefix + "x", Session="no-such-session")]))
    assert status == 409 and "invalid session" in r["Errors"][0]["What"]
    assert http.call("GET", "/v1/txn")[0] == 405
