"""The service registry through python-consul 0.7.1: agent services and checks, TTL checks and
their expiry, maintenance, the catalog and health endpoints, blocking health queries, session
invalidation by a check, and bad registrations."""

import threading
import time
import uuid

import consul
import pytest

import harness


def name(prefix):
    return "svc-" + uuid.uuid4().hex[:8]


def test_agent_registration_is_in_catalog_and_health(c, node):
    svc = name("a")
    assert c.agent.service.register(svc, service_id=svc + "-1", address="10.1.2.3", port=8080,
                                    tags=["v1", "primary"], check=consul.Check.ttl("30s")) is True
    services = c.agent.services()
    assert services[svc + "-1"]["Service"] == svc and services[svc + "-1"]["Port"] == 8080
    assert services[svc + "-1"]["Tags"] == ["v1", "primary"]
    checks = c.agent.checks()
    check_id = "service:%s-1" % svc
    assert checks[check_id]["Status"] == "critical" and checks[check_id]["ServiceName"] == svc
    assert "serfHealth" not in checks  # the agent lists only what was registered with it

    index, rows = c.catalog.service(svc)
    assert len(rows) == 1 and rows[0]["ServiceAddress"] == "10.1.2.3" and rows[0]["ServicePort"] == 8080
    assert rows[0]["Node"] == c.agent.self()["Config"]["NodeName"] and int(index) >= rows[0]["ModifyIndex"]
    _, tagged = c.catalog.service(svc, tag="primary")
    assert len(tagged) == 1
    _, none = c.catalog.service(svc, tag="nope")
    assert none == []
    _, services = c.catalog.services()
    assert services[svc] == ["primary", "v1"]

    _, entries = c.health.service(svc)
    assert len(entries) == 1
    assert sorted(ch["CheckID"] for ch in entries[0]["Checks"]) == sorted(["serfHealth", check_id])
    _, passing = c.health.service(svc, passing=True)
    assert passing == [], "a critical TTL check must hide the instance from ?passing"

    c.agent.check.ttl_pass(check_id, "all good")
    _, passing = c.health.service(svc, passing=True)
    assert len(passing) == 1
    out = [ch for ch in passing[0]["Checks"] if ch["CheckID"] == check_id][0]
    assert out["Status"] == "passing" and out["Output"] == "all good"
    c.agent.check.ttl_warn(check_id)
    assert c.health.service(svc, passing=True)[1] == []
    _, warning = c.health.state("warning")
    assert any(ch["CheckID"] == check_id for ch in warning)

    assert c.agent.service.deregister(svc + "-1") is True
    assert c.catalog.service(svc)[1] == []
    assert svc not in c.catalog.services()[1]
    assert check_id not in c.agent.checks()


def test_ttl_check_expires_to_critical(c):
    svc = name("ttl")
    c.agent.service.register(svc, check=consul.Check.ttl("1s"))
    check_id = "service:" + svc
    c.agent.check.ttl_pass(check_id)
    assert c.agent.checks()[check_id]["Status"] == "passing"
    harness.wait_until(lambda: c.agent.checks()[check_id]["Status"] == "critical", timeout=10,
                       what="the TTL check to expire")
    assert c.agent.checks()[check_id]["Output"] == "TTL expired"
    c.agent.service.deregister(svc)


def test_unchanged_check_results_do_not_write(c, http):
    svc = name("quiet")
    c.agent.service.register(svc, check=consul.Check.ttl("60s"))
    check_id = "service:" + svc
    c.agent.check.ttl_pass(check_id, "same")
    index, _ = c.health.service(svc)
    for _ in range(5):
        c.agent.check.ttl_pass(check_id, "same")
    index2, _ = c.health.service(svc)
    assert index2 == index, "reporting the same status and output must not write"
    c.agent.service.deregister(svc)


def test_blocking_health_query_wakes_on_check_change(c):
    svc = name("block")
    c.agent.service.register(svc, check=consul.Check.ttl("60s"))
    check_id = "service:" + svc
    index, _ = c.health.service(svc, passing=True)
    got = {}

    def waiter():
        got["r"] = c.health.service(svc, index=index, wait="20s", passing=True)

    t = threading.Thread(target=waiter)
    t.start()
    time.sleep(0.3)
    assert t.is_alive(), "the blocking query returned before any change"
    c.agent.check.ttl_pass(check_id)
    t.join(10)
    assert not t.is_alive(), "the blocking health query was not woken by the check"
    new_index, entries = got["r"]
    assert int(new_index) > int(index) and len(entries) == 1
    # An unrelated service's change does not move this service's index.
    other = name("other")
    c.agent.service.register(other)
    assert c.health.service(svc)[0] == new_index
    c.agent.service.deregister(other)
    c.agent.service.deregister(svc)


def test_agent_check_register_and_maintenance(c):
    svc = name("maint")
    c.agent.service.register(svc, service_id=svc)
    assert c.agent.check.register("extra", consul.Check.ttl("30s"), check_id=svc + "-extra", service_id=svc)
    assert c.agent.checks()[svc + "-extra"]["ServiceID"] == svc
    c.agent.check.ttl_pass(svc + "-extra")
    assert len(c.health.service(svc, passing=True)[1]) == 1
    assert c.agent.service.maintenance(svc, True, "upgrading") is True
    maint = c.agent.checks()["_service_maintenance:" + svc]
    assert maint["Status"] == "critical" and maint["Notes"] == "upgrading"
    assert c.health.service(svc, passing=True)[1] == []
    assert c.agent.service.maintenance(svc, False) is True
    assert len(c.health.service(svc, passing=True)[1]) == 1
    assert c.agent.maintenance(True) is True
    assert c.health.service(svc, passing=True)[1] == []  # node maintenance hides every service
    assert c.agent.maintenance(False) is True
    assert c.agent.check.deregister(svc + "-extra") is True
    assert svc + "-extra" not in c.agent.checks()
    c.agent.service.deregister(svc)


def test_catalog_register_and_deregister_external_node(c):
    ext = "ext-" + uuid.uuid4().hex[:6]
    svc = name("ext")
    assert c.catalog.register(ext, "192.0.2.10", service={"Service": svc, "ID": svc + "-a", "Port": 5432,
                                                          "Tags": ["db"]},
                              check={"CheckID": "db-ok", "Name": "db", "Status": "passing", "ServiceID": svc + "-a"})
    _, nodes = c.catalog.nodes()
    assert any(n["Node"] == ext and n["Address"] == "192.0.2.10" for n in nodes)
    _, info = c.catalog.node(ext)
    assert info["Node"]["Address"] == "192.0.2.10" and svc + "-a" in info["Services"]
    _, entries = c.health.service(svc, passing=True)
    assert len(entries) == 1 and entries[0]["Node"]["Node"] == ext
    _, checks = c.health.checks(svc)
    assert [ch["CheckID"] for ch in checks] == ["db-ok"]
    _, node_checks = c.health.node(ext)
    assert [ch["CheckID"] for ch in node_checks] == ["db-ok"]
    assert c.catalog.deregister(ext, check_id="db-ok")
    assert c.health.checks(svc)[1] == []
    assert c.catalog.deregister(ext, service_id=svc + "-a")
    assert c.catalog.service(svc)[1] == []
    assert c.catalog.deregister(ext)
    assert c.catalog.node(ext)[1] is None
    assert c.catalog.datacenters() == ["dc1"]


def test_session_is_invalidated_when_its_check_goes_critical(c, http):
    svc = name("sess")
    c.agent.service.register(svc, check=consul.Check.ttl("60s"))
    check_id = "service:" + svc
    # A session may not rely on a critical check.
    status, _, body = http.call("PUT", "/v1/session/create", {"ServiceChecks": [{"ID": check_id}]})
    assert status == 500 and b"critical" in body, body
    c.agent.check.ttl_pass(check_id)
    status, _, body = http.call("PUT", "/v1/session/create", {"ServiceChecks": [{"ID": check_id}], "LockDelay": "0s"})
    assert status == 200, body
    import json
    sid = json.loads(body)["ID"]
    key = "registry-lock-" + svc
    assert c.kv.put(key, "me", acquire=sid) is True
    c.agent.check.ttl_fail(check_id)
    harness.wait_until(lambda: c.session.info(sid)[1] is None, timeout=5, what="the session to be invalidated")
    assert "Session" not in c.kv.get(key)[1]
    c.kv.delete(key)
    c.agent.service.deregister(svc)


@pytest.mark.parametrize("body,expect", [
    ({}, b"Missing service name"),
    ({"Name": "x", "Port": "80"}, b"Port must be an integer"),
    ({"Name": "x", "Check": {"Args": ["/bin/true"], "Interval": "10s"}}, b"Scripts are disabled"),
    ({"Name": "x", "Check": {"HTTP": "http://127.0.0.1:1/"}}, b"Interval must be > 0"),
    ({"Name": "x", "Check": {"TTL": "nonsense"}}, b"TTL is not a valid duration"),
    ({"Name": "x", "Check": {"Status": "sideways", "TTL": "10s"}}, b"Status must be one of"),
    ({"Name": "x", "Weights": {"Passing": 0}}, b"Passing must be greater than 0"),
    ({"Name": "x", "Tags": "v1"}, b"Tags must be a list"),
])
def test_bad_registrations_are_refused_and_change_nothing(c, http, body, expect):
    before = c.agent.services()
    index, _ = c.catalog.services()
    status, _, out = http.call("PUT", "/v1/agent/service/register", body)
    assert status == 400 and expect in out, (status, out)
    assert c.agent.services() == before
    assert c.catalog.services()[0] == index


def test_bad_catalog_and_check_requests(c, http):
    status, _, out = http.call("PUT", "/v1/catalog/register", {"Node": "n"})
    assert status == 400 and b"Must provide address" in out
    status, _, out = http.call("PUT", "/v1/catalog/register", b"{not json")
    assert status == 400 and b"Request decode failed" in out
    status, _, out = http.call("PUT", "/v1/catalog/register",
                               {"Node": "n", "Address": "1.2.3.4", "Check": {"CheckID": "c", "ServiceID": "none"}})
    assert status == 500 and b"Missing service registration" in out
    assert c.catalog.node("n")[1] is None, "a refused registration left its node behind"
    status, _, out = http.call("PUT", "/v1/agent/check/pass/no-such-check")
    assert status == 404 and b"Unknown check ID" in out
    status, _, out = http.call("PUT", "/v1/agent/check/update/serfHealth", {"Status": "bogus"})
    assert status == 400 and b"Invalid check status" in out
    status, _, out = http.call("PUT", "/v1/agent/check/pass/serfHealth")
    assert status == 500 and b"does not have associated TTL" in out
    status, _, out = http.call("GET", "/v1/health/state/sideways")
    assert status == 400 and b"Invalid check state" in out
    status, _, out = http.call("PUT", "/v1/agent/service/deregister/never-registered")
    assert status == 404 and b"Unknown service ID" in out
    status, _, out = http.call("PUT", "/v1/agent/service/maintenance/never-registered?enable=true")
    assert status == 404
    status, _, out = http.call("PUT", "/v1/agent/maintenance")
    assert status == 400 and b"Missing value for enable" in out


def test_filter_expressions(c, http):
    svc = name("flt")
    for i, (tags, version) in enumerate([(["v1"], "1"), (["v2", "canary"], "2"), (["v2"], "2")]):
        status, _, out = http.call("PUT", "/v1/agent/service/register",
                                   {"Name": svc, "ID": "%s-%d" % (svc, i), "Port": 9000 + i, "Tags": tags,
                                    "Meta": {"version": version}, "Check": {"TTL": "60s", "Status": "passing"}})
        assert status == 200, out
    http.call("PUT", "/v1/agent/check/warn/service:%s-2" % svc)
    import urllib.parse

    def ids(path, expr):
        status, _, rows = http.json("GET", path + "?filter=" + urllib.parse.quote(expr))
        assert status == 200, (expr, rows)
        if isinstance(rows, dict):
            return sorted(rows)
        return sorted(r.get("CheckID") or r.get("ServiceID") or r["Service"]["ID"] for r in rows)

    cat = "/v1/catalog/service/" + svc
    assert ids(cat, 'ServiceMeta.version == "2"') == [svc + "-1", svc + "-2"]
    assert ids(cat, '"canary" in ServiceTags') == [svc + "-1"]
    assert ids(cat, 'ServiceTags contains v2 and not ("canary" in ServiceTags)') == [svc + "-2"]
    assert ids(cat, 'ServicePort == 9000 or ServiceID matches "-2$"') == [svc + "-0", svc + "-2"]
    health = "/v1/health/service/" + svc
    assert ids(health, 'Checks.Status == warning') == [svc + "-2"]
    assert ids(health, 'Service.Meta.version != "2" and Checks.Status != critical') == [svc + "-0"]
    assert ids("/v1/health/checks/" + svc, 'Status == passing') == ["service:%s-0" % svc, "service:%s-1" % svc]
    assert ids("/v1/agent/services", 'Service == "%s" and Port == 9001' % svc) == [svc + "-1"]
    # Bad expressions and selectors: Consul's 400.
    for expr, why in [("ServiceName ==", b"Failed to create boolean expression evaluator"),
                      ("NoSuchField == 1", b'Selector "NoSuchField" is not valid'),
                      ('ServiceName matches "("', b"invalid regular expression")]:
        status, _, out = http.call("GET", cat + "?filter=" + urllib.parse.quote(expr))
        assert status == 400 and why in out, (expr, status, out)
    for i in range(3):
        c.agent.service.deregister("%s-%d" % (svc, i))


def test_user_events(c):
    name_ = "ev-" + uuid.uuid4().hex[:6]
    index, events = c.event.list(name_)
    assert events == []
    got = {}

    def waiter():
        got["r"] = c.event.list(name_, index=index, wait="20s")

    t = threading.Thread(target=waiter)
    t.start()
    time.sleep(0.3)
    assert c.event.fire(name_, "payload-1") is not None
    t.join(10)
    assert not t.is_alive(), "a blocking event list was not woken by a fire"
    new_index, events = got["r"]
    assert new_index != index and [e["Payload"] for e in events] == [b"payload-1"]
    assert events[0]["Name"] == name_ and events[0]["Version"] == 1
    # A node filter that does not match this agent: fired, but not kept here.
    c.event.fire(name_, "elsewhere", node="^no-such-node$")
    me = c.agent.self()["Config"]["NodeName"]
    c.event.fire(name_, "here", node="^%s$" % me)
    _, events = c.event.list(name_)
    assert [e["Payload"] for e in events] == [b"payload-1", b"here"]
    assert c.event.list("other-" + name_)[1] == []


def test_txn_node_service_check_ops(c, http):
    node_name = "txn-" + uuid.uuid4().hex[:6]
    ops = [
        {"Node": {"Verb": "set", "Node": {"Node": node_name, "Address": "192.0.2.50", "Meta": {"a": "b"}}}},
        {"Service": {"Verb": "set", "Node": node_name, "Service": {"ID": "s1", "Service": "txnsvc", "Port": 81}}},
        {"Check": {"Verb": "set", "Check": {"Node": node_name, "CheckID": "k1", "Name": "k", "Status": "passing",
                                             "ServiceID": "s1"}}},
        {"KV": {"Verb": "set", "Key": node_name + "/kv", "Value": ""}},
        {"Node": {"Verb": "get", "Node": {"Node": node_name}}},
    ]
    status, _, out = http.json("PUT", "/v1/txn", ops)
    assert status == 200 and out["Errors"] is None, out
    kinds = [list(r)[0] for r in out["Results"]]
    assert kinds == ["Node", "Service", "Check", "KV", "Node"], kinds
    assert out["Results"][0]["Node"]["Address"] == "192.0.2.50" and out["Results"][4]["Node"]["Meta"] == {"a": "b"}
    assert out["Results"][1]["Service"]["Service"] == "txnsvc" and out["Results"][2]["Check"]["ServiceName"] == "txnsvc"
    _, entries = c.health.service("txnsvc", passing=True)
    assert [e["Node"]["Node"] for e in entries] == [node_name]
    modify = out["Results"][1]["Service"]["ModifyIndex"]
    # A stale cas fails the whole transaction, with Consul's 409 shape, and changes nothing.
    status, _, out = http.json("PUT", "/v1/txn", [
        {"KV": {"Verb": "set", "Key": node_name + "/kv2", "Value": ""}},
        {"Service": {"Verb": "cas", "Node": node_name, "Service": {"ID": "s1", "Service": "txnsvc", "Port": 82,
                                                                   "ModifyIndex": modify + 1000}}}])
    assert status == 409 and out["Errors"][0]["OpIndex"] == 1 and "index is stale" in out["Errors"][0]["What"], out
    assert c.kv.get(node_name + "/kv2")[1] is None
    status, _, out = http.json("PUT", "/v1/txn", [
        {"Service": {"Verb": "cas", "Node": node_name, "Service": {"ID": "s1", "Service": "txnsvc", "Port": 82,
                                                                   "ModifyIndex": modify}}}])
    assert status == 200 and out["Results"][0]["Service"]["Port"] == 82, out
    status, _, out = http.json("PUT", "/v1/txn", [{"Service": {"Verb": "get", "Node": node_name,
                                                               "Service": {"ID": "nope", "Service": "x"}}}])
    assert status == 409 and "doesn't exist" in out["Errors"][0]["What"], out
    status, _, out = http.json("PUT", "/v1/txn", [{"Node": {"Verb": "delete", "Node": {"Node": node_name}}},
                                                  {"KV": {"Verb": "delete", "Key": node_name + "/kv"}}])
    assert status == 200, out
    assert c.catalog.node(node_name)[1] is None and c.health.service("txnsvc")[1] == []
    status, _, out = http.call("PUT", "/v1/txn", [{"Session": {"Verb": "delete", "Session": {"ID": "x"}}}])
    assert status == 400 and b"Session operations are not supported" in out
