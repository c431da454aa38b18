"""Tracing of HTTP requests (docs/observability.md): B3 and W3C context continued, sampling
decisions honoured, spans read back through the node's Zipkin v2 read API.

The instrumented client is py_zipkin (Debian python3-py-zipkin): its client span's ids go out as
B3 headers, and the node's server span must be that span's child in the same trace."""

import json
import re
import urllib.error
import urllib.parse
import urllib.request

import pytest
from py_zipkin import Encoding
from py_zipkin.transport import BaseTransportHandler
from py_zipkin.zipkin import zipkin_client_span, zipkin_span

from pyharness.servers import ConclaveServer, HOST


class Collect(BaseTransportHandler):
    def __init__(self):
        self.spans = []

    def get_max_payload_bytes(self):
        return None

    def send(self, payload):
        self.spans.extend(json.loads(payload))


def call(srv, method, path, body=None, headers=None):
    req = urllib.request.Request("http://%s:%d%s" % (HOST, srv.http_port, path), data=body, method=method,
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def trace_of(srv, trace_id):
    status, _, body = call(srv, "GET", "/api/v2/trace/" + trace_id)
    assert status == 200, (status, body)
    return json.loads(body)


def metric(srv, name):
    body = call(srv, "GET", "/metrics")[2].decode()
    m = re.search(r"^%s (\S+)$" % re.escape(name), body, re.M)
    assert m, name
    return float(m.group(1))


@pytest.fixture
def server():
    # Unmarked requests are never sampled here, so every span comes from a marked request.
    srv = ConclaveServer(extra_args=["--trace-sample", "0"], name="traced")
    srv.start()
    yield srv
    srv.stop()


def test_py_zipkin_client_span_is_the_server_spans_parent(server):
    t = Collect()
    with zipkin_span(service_name="orders", span_name="checkout", transport_handler=t, sample_rate=100.0,
                     encoding=Encoding.V2_JSON, use_128bit_trace_id=True):
        with zipkin_client_span(service_name="orders", span_name="put config") as client:
            a = client.zipkin_attrs
            headers = {"X-B3-TraceId": a.trace_id, "X-B3-SpanId": a.span_id, "X-B3-Sampled": "1"}
            if a.parent_span_id:
                headers["X-B3-ParentSpanId"] = a.parent_span_id
            status, rh, body = call(server, "PUT", "/v1/kv/orders/config", b"v1", headers)
            client_ids = (a.trace_id, a.span_id)
    assert status == 200 and body == b"true"
    assert rh["x-trace-id"] == client_ids[0]
    assert rh["traceresponse"].startswith("00-%s-" % client_ids[0]) and rh["traceresponse"].endswith("-01")
    spans = trace_of(server, client_ids[0])
    (s,) = [x for x in spans if x.get("kind") == "SERVER"]
    # Under it, the write's stages on this node (a lone leader): propose, its WAL batch, apply.
    (propose,) = [x for x in spans if x.get("parentId") == s["id"]]
    assert propose["name"] == "raft propose"
    assert sorted(x["name"] for x in spans if x.get("parentId") == propose["id"]) == ["apply", "wal fsync"]
    assert s["traceId"] == client_ids[0] and s["parentId"] == client_ids[1]
    assert s["name"] == "put /v1/kv/" and s["kind"] == "SERVER"
    assert s["localEndpoint"]["serviceName"] == "conclave" and s["localEndpoint"]["port"] == server.http_port
    assert s["tags"]["http.method"] == "PUT" and s["tags"]["http.path"] == "/v1/kv/orders/config"
    assert s["tags"]["http.status_code"] == "200" and s["duration"] >= 1
    assert rh["traceresponse"] == "00-%s-%s-01" % (s["traceId"], s["id"])
    # The client's own spans (reported by py_zipkin) and ours form one tree.
    by_id = {x["id"]: x for x in t.spans}
    assert s["parentId"] in by_id and by_id[s["parentId"]]["kind"] == "CLIENT"
    root = by_id[by_id[s["parentId"]]["parentId"]]
    assert root["name"] == "checkout" and "parentId" not in root


def test_sampling_decisions_are_honoured(server):
    tid = "463ac35c9f6413ad48485a3953bb6124"
    status, rh, _ = call(server, "GET", "/v1/kv/nothing", headers={
        "X-B3-TraceId": tid, "X-B3-SpanId": "a2fb4a1d1a96d312", "X-B3-Sampled": "0"})
    assert status == 404 and "x-trace-id" not in rh
    assert call(server, "GET", "/api/v2/trace/" + tid)[0] == 404
    # Unmarked: this node samples nothing (--trace-sample 0).
    status, rh, _ = call(server, "GET", "/v1/kv/nothing")
    assert "x-trace-id" not in rh
    # b3 single header with the debug flag: sampled, and the span says debug.
    status, rh, _ = call(server, "GET", "/v1/kv/nothing", headers={"b3": "80f198ee56343ba8-e457b5a2e4d86bd1-d"})
    assert rh["x-trace-id"] == "80f198ee56343ba8"
    [s] = trace_of(server, "80f198ee56343ba8")
    assert s["debug"] is True and s["parentId"] == "e457b5a2e4d86bd1"
    assert s["name"] == "get /v1/kv/" and s["tags"]["http.status_code"] == "404"
    # A lone sampling flag starts a new trace that is sampled.
    status, rh, _ = call(server, "GET", "/v1/status/leader", headers={"b3": "1"})
    [s] = trace_of(server, rh["x-trace-id"])
    assert "parentId" not in s and len(rh["x-trace-id"]) == 32 and s["name"] == "get /v1/status/leader"


def test_w3c_traceparent_and_malformed_headers(server):
    tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    status, rh, _ = call(server, "PUT", "/v1/kv/w3c", b"x", headers={"traceparent": tp, "tracestate": "vendor=1"})
    assert status == 200 and rh["x-trace-id"] == "0af7651916cd43dd8448eb211c80319c"
    [s] = [x for x in trace_of(server, "0af7651916cd43dd8448eb211c80319c") if x.get("kind") == "SERVER"]
    assert s["parentId"] == "b7ad6b7169203331"
    # b3 wins over traceparent when both come (Brave's order).
    status, rh, _ = call(server, "GET", "/v1/kv/w3c", headers={"traceparent": tp, "b3": "00000000000000aa-00000000000000bb-1"})
    assert rh["x-trace-id"] == "00000000000000aa"
    # Malformed context: ignored, as if absent (not sampled here), and the request is served.
    for h in ({"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331"},
              {"traceparent": "00-00000000000000000000000000000000-b7ad6b7169203331-01"},
              {"X-B3-TraceId": "xyz", "X-B3-SpanId": "a2fb4a1d1a96d312", "X-B3-Sampled": "1"},
              {"b3": "80f198ee56343ba8-0000000000000000-1"},
              {"b3": "not-a-context-at-all"}):
        status, rh, body = call(server, "GET", "/v1/kv/w3c?raw", headers=h)
        assert status == 200 and body == b"x" and "x-trace-id" not in rh, h


def test_zipkin_read_api(server):
    ids = []
    for n in range(3):
        status, rh, _ = call(server, "PUT", "/v1/kv/api/%d" % n, b"x", headers={"b3": "1"})
        ids.append(rh["x-trace-id"])
    call(server, "GET", "/v1/kv/api/0", headers={"b3": "1"})
    assert json.loads(call(server, "GET", "/api/v2/services")[2]) == ["conclave"]
    names = json.loads(call(server, "GET", "/api/v2/spans?serviceName=conclave")[2])
    assert "put /v1/kv/" in names and "get /v1/kv/" in names
    assert call(server, "GET", "/api/v2/spans")[0] == 400
    q = urllib.parse.urlencode({"serviceName": "conclave", "spanName": "put /v1/kv/", "limit": "2"})
    traces = json.loads(call(server, "GET", "/api/v2/traces?" + q)[2])
    assert [t[0]["traceId"] for t in traces] == [ids[2], ids[1]]  # newest first, limited
    q = urllib.parse.urlencode({"serviceName": "conclave", "annotationQuery": "http.path=/v1/kv/api/1"})
    traces = json.loads(call(server, "GET", "/api/v2/traces?" + q)[2])
    assert [t[0]["traceId"] for t in traces] == [ids[1]]
    q = urllib.parse.urlencode({"serviceName": "conclave", "minDuration": "60000000"})
    assert json.loads(call(server, "GET", "/api/v2/traces?" + q)[2]) == []
    many = json.loads(call(server, "GET", "/api/v2/traceMany?traceIds=%s,%s" % (ids[0], ids[2]))[2])
    assert sorted(t[0]["traceId"] for t in many) == sorted([ids[0], ids[2]])
    assert call(server, "GET", "/api/v2/trace/zz")[0] == 400
    assert call(server, "GET", "/api/v2/trace/00000000000000ff")[0] == 404
    assert call(server, "GET", "/api/v2/traces?limit=-1")[0] == 400
    # The read API's own requests are not traced.
    assert "get /api/v2/" not in json.loads(call(server, "GET", "/api/v2/spans?serviceName=conclave")[2])


def test_span_store_is_bounded_and_counts_drops():
    srv = ConclaveServer(extra_args=["--trace-sample", "1", "--trace-max-spans", "5"], name="bounded")
    srv.start()
    try:
        ids = []
        for n in range(8):
            ids.append(call(srv, "GET", "/v1/kv/b%d" % n)[1]["x-trace-id"])  # sampled without being asked
        assert call(srv, "GET", "/api/v2/trace/" + ids[0])[0] == 404  # oldest dropped first
        assert call(srv, "GET", "/api/v2/trace/" + ids[-1])[0] == 200
        assert metric(srv, "conclave_trace_spans_stored") == 5
        assert metric(srv, "conclave_trace_spans_dropped_total") >= 3
        assert metric(srv, "conclave_trace_sampled_total") >= 8
    finally:
        srv.stop()


def test_bad_trace_flags_are_refused():
    for args in (["--trace-sample", "2"], ["--trace-sample", "x"], ["--trace-rate-limit", "-1"],
                 ["--trace-max-spans", "-5"]):
        srv = ConclaveServer(extra_args=args, name="badflags")
        with pytest.raises(Exception) as e:
            srv.start()
        assert "--trace-" in str(e.value), args


def test_zookeeper_session_joins_a_trace_through_addauth(server):
    from kazoo.client import KazooClient
    zk = KazooClient(hosts="%s:%d" % (HOST, server.port), timeout=10)
    zk.start(timeout=15)
    try:
        zk.create("/untraced", b"x")  # this node samples nothing unmarked
        t = Collect()
        with zipkin_span(service_name="kafka", span_name="elect", transport_handler=t, sample_rate=100.0,
                         encoding=Encoding.V2_JSON, use_128bit_trace_id=True) as root:
            a = root.zipkin_attrs
            zk.add_auth("b3", "%s-%s-1" % (a.trace_id, a.span_id))
            zk.create("/traced", b"v")
            zk.get("/traced")
            zk.exists("/missing")
            trace_id, parent = a.trace_id, a.span_id
        zk.add_auth("b3", "")  # leaves the trace
        zk.set("/traced", b"w")
        all_spans = trace_of(server, trace_id)
        spans = [s for s in all_spans if s.get("kind") == "SERVER"]
        assert [s["name"] for s in spans] == ["create", "getdata", "exists"]
        # Only the write proposed anything.
        assert [s["name"] for s in all_spans if s.get("parentId") == spans[0]["id"]] == ["raft propose"]
        assert not [s for s in all_spans if s.get("parentId") in (spans[1]["id"], spans[2]["id"])]
        for s in spans:
            assert s["parentId"] == parent and s["kind"] == "SERVER"
            assert s["tags"]["zk.session"] == "0x%x" % zk.client_id[0]
        create, get, exists = spans
        assert create["tags"]["zk.op"] == "create" and create["tags"]["zk.path"] == "/traced"
        assert create["tags"]["zk.err"] == "0" and int(create["tags"]["zk.zxid"], 16) == zk.get("/traced")[1].czxid
        assert get["tags"]["zk.op"] == "getData"
        assert exists["tags"]["zk.path"] == "/missing" and exists["tags"]["zk.err"] == "-101" and "error" not in exists["tags"]
        assert int(create["tags"]["zk.xid"]) < int(get["tags"]["zk.xid"]) < int(exists["tags"]["zk.xid"])
        # The b3 scheme is not an identity.
        assert metric(server, "conclave_trace_sampled_total") == 3
        # W3C form; a not-sampled context turns tracing off for the session.
        zk.add_auth("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
        zk.get_children("/")
        [s] = trace_of(server, "0af7651916cd43dd8448eb211c80319c")
        assert s["name"] == "getchildren2" or s["name"] == "getchildren", s["name"]
        zk.add_auth("b3", "0")
        zk.get("/traced")
        assert metric(server, "conclave_trace_sampled_total") == 4
    finally:
        zk.stop()
        zk.close()


def test_conclave_trace_prints_a_timeline_and_the_slowest_recent_traces(server):
    import subprocess
    from pyharness.servers import resolve_conclave_bin

    def cli(*args):
        return subprocess.run([str(resolve_conclave_bin()), "trace", "-http-addr=%s:%d" % (HOST, server.http_port), *args],
                              capture_output=True, text=True, timeout=20)

    tid = "5af7651916cd43dd8448eb211c80319c"
    status, _, _ = call(server, "PUT", "/v1/kv/cli/k", b"v", {"b3": tid + "-b7ad6b7169203331-1"})
    assert status == 200
    out = cli(tid)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("Trace %s: 5 spans on 1 service, " % tid)
    rows = [l for l in lines[3:] if l.strip()]
    # Indented by depth under the request's span, each with its bar in the trace's extent.
    assert [r.split("|")[-1].split(" [")[0] for r in rows] == [
        "  put /v1/kv/", "    raft propose", "      wal fsync", "      apply", "        notify"]
    assert "http.status_code=200" in rows[0] and "raft.index=" in rows[1]
    assert all(r.count("|") == 2 and len(r.split("|")[1]) == 30 for r in rows)

    call(server, "GET", "/v1/kv/cli/k", headers={"b3": "00000000000000ab-00000000000000cd-1"})
    out = cli("-recent", "-limit=5")
    assert out.returncode == 0, out.stderr
    table = out.stdout.splitlines()
    assert table[0].split() == ["Trace", "ID", "Duration", "Spans", "Root", "Started"]
    ids = [l.split()[0] for l in table[1:]]
    assert tid in ids and "00000000000000ab" in ids
    durations = [float(l.split()[1]) for l in table[1:]]
    assert durations == sorted(durations, reverse=True)

    missing = cli("0123456789abcdef")
    assert missing.returncode == 1 and "no trace 0123456789abcdef" in missing.stderr
    bad = cli("not-hex")
    assert bad.returncode == 1 and "is not a trace id" in bad.stderr


def test_log_lines_carry_the_requests_trace_ids():
    """Lines written while a traced request is served name its trace and span: Sleuth's
    [service,traceId,spanId] in text, trace_id/span_id in JSON (docs/observability.md, "Logs")."""
    for fmt in ("json", "text"):
        srv = ConclaveServer(extra_args=["--trace-sample", "0", "--log-level", "debug", "--log-format", fmt],
                             name="logs-" + fmt)
        srv.start()
        try:
            tid = ("a1" if fmt == "json" else "b2") * 16
            status, rh, _ = call(srv, "PUT", "/v1/kv/logged", b"v", {"b3": tid + "-00000000000000c3-1"})
            assert status == 200
            span_id = rh["traceresponse"].split("-")[2]
            call(srv, "GET", "/v1/kv/logged")  # not traced
        finally:
            srv.stop()
        lines = [l for l in srv.log_tail(400).splitlines() if "request finished" in l]
        put = [l for l in lines if "PUT /v1/kv/logged" in l]
        get = [l for l in lines if "GET /v1/kv/logged" in l]
        assert len(put) == 1 and len(get) == 1, lines
        if fmt == "json":
            rec = json.loads(put[0][put[0].index("{"):])
            assert rec["level"] == "DEBUG" and rec["component"] == "http" and "status=200" in rec["msg"]
            assert (rec["trace_id"], rec["span_id"]) == (tid, span_id)
            assert "trace_id" not in json.loads(get[0][get[0].index("{"):])
            # Every line the node wrote is one JSON object.
            for l in srv.log_tail(400).splitlines():
                if l.startswith("{"):
                    json.loads(l)
        else:
            assert "[http] [conclave,%s,%s] request finished: PUT /v1/kv/logged" % (tid, span_id) in put[0]
            assert "[conclave," not in get[0]


def test_npm_opentelemetry_and_zipkin_js_clients_are_the_server_spans_parents(server):
    """OpenTelemetry JS (W3C traceparent) and zipkin-js (B3) from npm, pinned by
    tests/consul/npm/package-lock.json (scripts/test.sh runs `npm ci` there)."""
    import subprocess
    from pathlib import Path
    npm_dir = Path(__file__).resolve().parents[1] / "consul" / "npm"
    assert (npm_dir / "node_modules" / "@opentelemetry" / "core").is_dir() and (npm_dir / "node_modules" / "zipkin").is_dir(), \
        "npm clients missing: run (cd tests/consul/npm && npm ci)"
    r = subprocess.run(["node", str(npm_dir / "tracing_client_test.js"), "%s:%d" % (HOST, server.http_port)],
                       capture_output=True, text=True, timeout=60, cwd=str(npm_dir))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])

    otel = out["otel"]
    assert otel["sent"]["traceparent"] == "00-%s-%s-01" % (otel["traceId"], otel["spanId"])
    assert otel["status"] == 200 and otel["finished"] == 1
    spans = trace_of(server, otel["traceId"])
    (s,) = [x for x in spans if x.get("kind") == "SERVER"]
    assert s["parentId"] == otel["spanId"] and s["name"] == "put /v1/kv/"
    assert otel["traceresponse"] == "00-%s-%s-01" % (otel["traceId"], s["id"])

    z = out["zipkin"]
    assert z["sent"]["X-B3-TraceId"] == z["traceId"] and z["sent"]["X-B3-Sampled"] == "1"
    assert z["status"] == 404 and z["xTraceId"] == z["traceId"]  # the key does not exist: still traced
    (s,) = trace_of(server, z["traceId"])
    assert s["parentId"] == z["spanId"] and s["name"] == "get /v1/kv/" and s["tags"]["http.status_code"] == "404"


def _raw_session_in_trace(srv, b3, timeout_ms):
    """A ZooKeeper session opened by hand (ConnectRequest, then addauth b3), whose socket is then
    dropped without a closeSession: the session is left to expire."""
    import socket
    import struct

    def frame(payload):
        return struct.pack(">i", len(payload)) + payload

    def read_frame(sock):
        head = b""
        while len(head) < 4:
            head += sock.recv(4 - len(head))
        n = struct.unpack(">i", head)[0]
        body = b""
        while len(body) < n:
            body += sock.recv(n - len(body))
        return body

    sock = socket.create_connection((HOST, srv.port), timeout=10)
    sock.sendall(frame(struct.pack(">iqiqi", 0, 0, timeout_ms, 0, 16) + b"\0" * 16 + b"\0"))
    _, _, sid = struct.unpack(">iiq", read_frame(sock)[:16])
    auth = b3.encode()
    sock.sendall(frame(struct.pack(">iii", -4, 100, 0) + struct.pack(">i", 2) + b"b3" + struct.pack(">i", len(auth)) + auth))
    xid, _, err = struct.unpack(">iqi", read_frame(sock)[:16])
    assert (xid, err) == (-4, 0)
    sock.close()
    return sid


def test_a_session_in_a_trace_ends_in_it_expired_or_closed():
    """A session that joined a trace (addauth b3) ends as a span of that trace, and the log line of
    its expiry carries the trace: whether its client closed it or it expired."""
    import time
    from kazoo.client import KazooClient
    srv = ConclaveServer(extra_args=["--trace-sample", "0", "--log-format", "text"], name="session-trace")
    srv.start()
    try:
        # Expired: the client vanished.
        tid, parent = "c4" * 16, "00000000000000d5"
        sid = _raw_session_in_trace(srv, "%s-%s-1" % (tid, parent), 4000)
        deadline = time.monotonic() + 30
        spans = []
        while time.monotonic() < deadline:
            status, _, body = call(srv, "GET", "/api/v2/trace/" + tid)
            spans = json.loads(body) if status == 200 else []
            if any(s["name"] == "session closed" for s in spans):
                break
            time.sleep(0.1)
        (end,) = [s for s in spans if s["name"] == "session closed"]
        assert end["parentId"] == parent and end["tags"]["zk.session"] == "0x%x" % sid
        assert end["tags"]["zk.close"] == "expired or closed elsewhere"
        log = srv.log_tail(400)
        assert "[zk] [conclave,%s,%s] session 0x%x expired" % (tid, parent, sid) in log, log
        assert "[zk] [conclave,%s,%s] session 0x%x ended: expired or closed elsewhere" % (tid, end["id"], sid) in log

        # Closed by its client.
        tid2, parent2 = "e6" * 16, "00000000000000f7"
        zk = KazooClient(hosts=srv.hosts, timeout=10)
        zk.start(timeout=15)
        zk.add_auth("b3", "%s-%s-1" % (tid2, parent2))
        sid2 = zk.client_id[0]
        zk.stop()
        zk.close()
        spans = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(s["name"] == "session closed" for s in spans):
            status, _, body = call(srv, "GET", "/api/v2/trace/" + tid2)
            spans = json.loads(body) if status == 200 else []
            time.sleep(0.05)
        (end,) = [s for s in spans if s["name"] == "session closed"]
        assert end["tags"]["zk.close"] == "closed by its client" and end["tags"]["zk.session"] == "0x%x" % sid2
    finally:
        srv.stop()
