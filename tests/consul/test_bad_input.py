"""Bad input gets Consul's error and changes nothing: malformed JSON, wrong types, bad indexes
and durations, path tricks, oversized values, unknown datacenters."""

import pytest


@pytest.fixture
def snapshot(c, http):
    def take():
        return http.call("GET", "/v1/kv/?recurse")[2], [s["ID"] for s in c.session.list()[1]]
    return take


def test_bad_input_changes_nothing(http, c, prefix, snapshot):
    assert c.kv.put(prefix + "keep", "v")
    before = snapshot()
    cases = [
        ("PUT", "/v1/kv/" + prefix + "a//b", b"x", 400),
        ("PUT", "/v1/kv/" + prefix + "../escape", b"x", 400),
        ("PUT", "/v1/kv/" + prefix + "./dot", b"x", 400),
        ("PUT", "/v1/kv/" + prefix + "nul%00byte", b"x", 400),
        ("PUT", "/v1/kv//leading", b"x", 400),
        ("PUT", "/v1/kv/", b"x", 400),
        ("PUT", "/v1/kv/zookeeper/config", b"x", 403),
        ("DELETE", "/v1/kv/zookeeper?recurse", None, 403),
        ("PUT", "/v1/kv/" + prefix + "big", b"x" * (512 * 1024 + 1), 413),
        ("PUT", "/v1/kv/" + prefix + "f?flags=-1", b"x", 400),
        ("PUT", "/v1/kv/" + prefix + "f?flags=abc", b"x", 400),
        ("PUT", "/v1/kv/" + prefix + "f?cas=1.5", b"x", 400),
        ("PUT", "/v1/kv/" + prefix + "f?dc=other", b"x", 500),
        ("DELETE", "/v1/kv/" + prefix + "keep?cas=x", None, 400),
        ("GET", "/v1/kv/" + prefix + "keep?index=abc", None, 400),
        ("GET", "/v1/kv/" + prefix + "keep?index=1&wait=forever", None, 400),
        ("GET", "/v1/kv/" + prefix + "keep?dc=dc2", None, 500),
        ("PUT", "/v1/session/create", b"{", 400),
        ("PUT", "/v1/session/create", b"[]", 400),
        ("PUT", "/v1/session/create", b'{"TTL": 15}', 400),
        ("PUT", "/v1/session/create", b'{"Behavior": "explode"}', 400),
        ("PUT", "/v1/session/create", b'{"LockDelay": "1h"}', 400),
        ("PUT", "/v1/session/create", b'{"NodeChecks": "serfHealth"}', 400),
        ("PATCH", "/v1/kv/" + prefix + "keep", b"x", 405),
        ("POST", "/v1/session/create", b"{}", 405),
        ("GET", "/v1/nothing/here", None, 404),
    ]
    for method, path, body, want in cases:
        status, _, text = http.call(method, path, body)
        assert status == want, (method, path, status, text)
        if status >= 400 and want != 404:
            assert text.strip(), (method, path, "error without a reason")
    assert snapshot() == before
    assert c.kv.get(prefix + "keep")[1]["Value"] == b"v"


def test_max_size_value_is_accepted(http, c, prefix):
    status, _, body = http.call("PUT", "/v1/kv/" + prefix + "max", b"y" * (512 * 1024))
    assert status == 200 and body == b"true"
    assert len(c.kv.get(prefix + "max")[1]["Value"]) == 512 * 1024
    c.kv.delete(prefix + "max")


def test_tokens_are_accepted(http, prefix):
    assert http.call("PUT", "/v1/kv/%stok?token=abc" % prefix, b"v")[0] == 200
    assert http.call("GET", "/v1/kv/%stok" % prefix, headers={"X-Consul-Token": "abc"})[0] == 200


def test_status_and_agent_self(c, node):
    assert c.status.leader().endswith(":%d" % 8300) or c.status.leader()
    assert len(c.status.peers()) == 1
    me = c.agent.self()
    assert me["Config"]["Datacenter"] == "dc1" and me["Config"]["NodeName"] == "node-1"
    assert me["Member"]["Name"] == "node-1"
