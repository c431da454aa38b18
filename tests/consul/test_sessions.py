"""Sessions: create/info/list/node/renew/destroy, TTL bounds and expiry, lock-delay,
acquire/release and both invalidation behaviours."""

import time

import pytest


def test_session_lifecycle(c, http, node):
    sid = c.session.create(name="svc-lock", ttl=15, lock_delay=5)
    _, info = c.session.info(sid)
    assert info["ID"] == sid and info["Name"] == "svc-lock" and info["TTL"] == "15s"
    assert info["Behavior"] == "release" and info["LockDelay"] == 5 * 10**9
    assert info["Node"] == "node-1" and info["NodeChecks"] == ["serfHealth"]
    assert sid in [s["ID"] for s in c.session.list()[1]]
    assert sid in [s["ID"] for s in c.session.node("node-1")[1]]
    renewed = c.session.renew(sid)
    assert renewed["ID"] == sid
    assert c.session.destroy(sid) is True
    assert c.session.info(sid)[1] is None
    status, _, _ = http.call("PUT", "/v1/session/renew/" + sid)
    assert status == 404


@pytest.mark.parametrize("ttl", ["5s", "25h", "bogus"])
def test_ttl_out_of_range_is_refused(http, ttl):
    status, _, body = http.call("PUT", "/v1/session/create", '{"TTL": "%s"}' % ttl)
    assert status == 400, body


def test_unknown_node_or_check_is_refused(http):
    status, _, body = http.call("PUT", "/v1/session/create", '{"Node": "elsewhere"}')
    assert status == 500 and b"node" in body.lower()
    status, _, body = http.call("PUT", "/v1/session/create", '{"NodeChecks": ["service:web"]}')
    assert status == 500 and b"service:web" in body


def test_acquire_release_lock_index(c, prefix):
    k = prefix + "leader"
    s1 = c.session.create(lock_delay=0)
    s2 = c.session.create(lock_delay=0)
    try:
        assert c.kv.put(k, "me", acquire=s1) is True
        _, e = c.kv.get(k)
        assert e["Session"] == s1 and e["LockIndex"] == 1 and e["Value"] == b"me"
        assert c.kv.put(k, "you", acquire=s2) is False
        assert c.kv.put(k, "me again", acquire=s1) is True   # re-acquire by the holder: same LockIndex
        assert c.kv.get(k)[1]["LockIndex"] == 1
        assert c.kv.put(k, "x", release=s2) is False
        assert c.kv.put(k, "released", release=s1) is True
        _, e = c.kv.get(k)
        assert "Session" not in e and e["Value"] == b"released" and e["LockIndex"] == 1
        assert c.kv.put(k, "you", acquire=s2) is True
        assert c.kv.get(k)[1]["LockIndex"] == 2
    finally:
        c.session.destroy(s1)
        c.session.destroy(s2)


def test_acquire_with_unknown_session_is_an_error(http, prefix):
    status, _, body = http.call("PUT", "/v1/kv/%sx?acquire=6e0a5c4e-0000-4000-8000-000000000000" % prefix, b"v")
    assert status == 500 and b"invalid session" in body


def test_destroy_releases_and_lock_delay_blocks_reacquire(c, prefix):
    k = prefix + "lock"
    s1 = c.session.create(lock_delay=2)
    s2 = c.session.create(lock_delay=0)
    assert c.kv.put(k, "held", acquire=s1)
    before = c.kv.get(k)[1]["ModifyIndex"]
    c.session.destroy(s1)
    e = c.kv.get(k)[1]
    assert "Session" not in e and e["ModifyIndex"] > before and e["Value"] == b"held"
    assert c.kv.put(k, "mine", acquire=s2) is False   # within the lock delay
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not c.kv.put(k, "mine", acquire=s2):
        time.sleep(0.2)
    assert c.kv.get(k)[1]["Session"] == s2
    c.session.destroy(s2)


def test_behavior_delete_removes_held_keys(c, prefix):
    k = prefix + "ephemeral-ish"
    s = c.session.create(behavior="delete", lock_delay=0)
    assert c.kv.put(k, "v", acquire=s)
    c.session.destroy(s)
    assert c.kv.get(k)[1] is None


def test_ttl_session_expires_after_twice_its_ttl(c, prefix):
    k = prefix + "ttl"
    s = c.session.create(ttl=10, lock_delay=0)
    assert c.kv.put(k, "v", acquire=s)
    t0 = time.monotonic()
    c.session.renew(s)
    while c.session.info(s)[1] is not None and time.monotonic() - t0 < 40:
        time.sleep(0.5)
    elapsed = time.monotonic() - t0
    assert c.session.info(s)[1] is None, "not invalidated after 40 s"
    assert elapsed >= 10, "invalidated before its TTL (%.1fs)" % elapsed
    assert "Session" not in c.kv.get(k)[1]
