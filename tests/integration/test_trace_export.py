"""Span export (docs/observability.md): finished spans go to a Zipkin v2 collector and to an OTLP/HTTP
JSON collector, in batches, off the request path. The collector here is a small HTTP server the test
runs; it can be made slow or be absent, and the node must go on serving, count what it could not
send, and resume exporting when the collector is back."""

import json
import os
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pyharness.servers import ConclaveServer, HOST

ZIPKIN_PATH = "/api/v2/spans"
OTLP_PATH = "/v1/traces"


class Collector:
    """Records every POST body by path; `delay` seconds before answering, with `status`."""

    def __init__(self, port=0):
        self.bodies = {ZIPKIN_PATH: [], OTLP_PATH: []}
        self.delay = 0.0
        self.status = 202
        self.lock = threading.Lock()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                time.sleep(collector.delay)
                with collector.lock:
                    collector.bodies.setdefault(self.path, []).append(json.loads(body))
                self.send_response(collector.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer((HOST, port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return "http://%s:%d%s" % (HOST, self.port, path)

    def zipkin_spans(self):
        with self.lock:
            return [s for batch in self.bodies[ZIPKIN_PATH] for s in batch]

    def otlp_spans(self):
        with self.lock:
            out = []
            for batch in self.bodies[OTLP_PATH]:
                for rs in batch["resourceSpans"]:
                    attrs = {a["key"]: a["value"]["stringValue"] for a in rs["resource"]["attributes"]}
                    for ss in rs["scopeSpans"]:
                        for s in ss["spans"]:
                            out.append((attrs, s))
            return out

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def call(srv, method, path, body=None, headers=None):
    req = urllib.request.Request("http://%s:%d%s" % (HOST, srv.http_port, path), data=body, method=method,
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def metric(srv, name, target):
    body = call(srv, "GET", "/metrics")[1].decode()
    m = re.search(r'^%s\{target="%s"\} (\S+)$' % (re.escape(name), target), body, re.M)
    assert m, (name, target, body[-2000:])
    return float(m.group(1))


def wait_for(what, fn, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.05)
    pytest.fail("timed out waiting for " + what)


def traced_put(srv, key):
    """A PUT the caller marks sampled, as a B3-instrumented client would; returns (trace id, parent span id)."""
    trace_id, parent = os.urandom(16).hex(), os.urandom(8).hex()
    status, body = call(srv, "PUT", "/v1/kv/" + key, b"v", {"b3": "%s-%s-1" % (trace_id, parent)})
    assert status == 200 and body == b"true"
    return trace_id, parent


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@pytest.fixture
def collector():
    c = Collector()
    yield c
    c.stop()


def start_server(name, *args):
    srv = ConclaveServer(extra_args=["--trace-sample", "0", *args], name=name)
    srv.start()
    return srv


def test_zipkin_and_otlp_collectors_receive_the_same_spans(collector):
    srv = start_server("export", "--trace-zipkin-url", collector.url(ZIPKIN_PATH),
                       "--trace-otlp-url", collector.url(OTLP_PATH))
    try:
        puts = [traced_put(srv, "export/k%d" % i) for i in range(3)]
        ids = {t for t, _ in puts}
        wait_for("the Zipkin collector to get all three traces",
                 lambda: ids <= {s["traceId"] for s in collector.zipkin_spans()})
        wait_for("the OTLP collector to get all three traces",
                 lambda: ids <= {s["traceId"] for _, s in collector.otlp_spans()})
        # Unmarked requests are not sampled here: nothing else was exported.
        assert {s["traceId"] for s in collector.zipkin_spans()} == ids

        # Each write is five spans (the request, raft propose, wal fsync, apply, notify); wait for all.
        wait_for("every span at both collectors",
                 lambda: len(collector.zipkin_spans()) == 15 and len(collector.otlp_spans()) == 15)
        stored = {}
        for trace_id, _ in puts:
            status, body = call(srv, "GET", "/api/v2/trace/" + trace_id)
            assert status == 200
            for span in json.loads(body):
                stored[span["id"]] = span
        assert len(stored) == 15
        for s in collector.zipkin_spans():
            assert s == stored[s["id"]], "the exported span differs from the stored one"

        parents = dict(puts)
        assert sorted(s["spanId"] for _, s in collector.otlp_spans()) == sorted(stored)
        for resource, s in collector.otlp_spans():
            z = stored[s["spanId"]]
            if s["kind"] != 2:
                assert s["kind"] == 1 and s["parentSpanId"] == z["parentId"]  # SPAN_KIND_INTERNAL
                continue
            assert resource == {"service.name": "conclave"}
            assert re.fullmatch(r"[0-9a-f]{32}", s["traceId"]) and s["spanId"] == z["id"]
            assert s["parentSpanId"] == parents[s["traceId"]]
            assert s["name"] == "put /v1/kv/" and s["kind"] == 2  # SPAN_KIND_SERVER
            start, end = int(s["startTimeUnixNano"]), int(s["endTimeUnixNano"])
            assert start == z["timestamp"] * 1000 and end - start == z["duration"] * 1000
            attrs = {a["key"]: a["value"]["stringValue"] for a in s["attributes"]}
            assert attrs["http.method"] == "PUT" and attrs["http.status_code"] == "200"
            assert "status" not in s

        wait_for("the sent counters", lambda: metric(srv, "conclave_trace_export_sent_total", "zipkin") == 15
                 and metric(srv, "conclave_trace_export_sent_total", "otlp") == 15)
        for target in ("zipkin", "otlp"):
            assert metric(srv, "conclave_trace_export_dropped_total", target) == 0
            assert metric(srv, "conclave_trace_export_failed_total", target) == 0
            # Every accepted span's delay (end -> accepted) is in the histogram, within its bounds.
            assert metric(srv, "conclave_trace_export_delay_seconds_count", target) == 15
            assert 0 <= metric(srv, "conclave_trace_export_delay_seconds_sum", target) < 15 * 30
    finally:
        srv.stop()


def test_a_slow_collector_costs_spans_not_requests(collector):
    collector.delay = 3.0
    srv = start_server("export-slow", "--trace-zipkin-url", collector.url(ZIPKIN_PATH),
                       "--trace-export-queue", "20", "--trace-export-timeout-ms", "500")
    try:
        for i in range(200):
            traced_put(srv, "slow/k%d" % i)  # each answered while the collector sits on a batch
        wait_for("spans dropped from the full queue",
                 lambda: metric(srv, "conclave_trace_export_dropped_total", "zipkin") > 0)
        wait_for("a batch that timed out", lambda: metric(srv, "conclave_trace_export_failed_total", "zipkin") > 0)
        assert metric(srv, "conclave_trace_export_queued", "zipkin") <= 20

        collector.delay = 0.0
        wait_for("the queue to drain", lambda: metric(srv, "conclave_trace_export_queued", "zipkin") == 0)
        trace_id, _ = traced_put(srv, "slow/after")
        wait_for("export to resume once the collector is quick again",
                 lambda: trace_id in {s["traceId"] for s in collector.zipkin_spans()})
    finally:
        srv.stop()


def test_export_resumes_when_an_absent_collector_comes_up():
    port = free_port()
    srv = start_server("export-down", "--trace-otlp-url", "http://%s:%d%s" % (HOST, port, OTLP_PATH))
    collector = None
    try:
        for i in range(5):
            traced_put(srv, "down/k%d" % i)
        wait_for("the refused batch to count as failed", lambda: metric(srv, "conclave_trace_export_failed_total", "otlp") >= 1)
        collector = Collector(port)
        trace_id, _ = traced_put(srv, "down/after")
        wait_for("the span made after the collector came up",
                 lambda: trace_id in {s["traceId"] for _, s in collector.otlp_spans()})
    finally:
        srv.stop()
        if collector:
            collector.stop()


def test_bad_collector_urls_are_refused_at_start():
    for flag, url in (("--trace-zipkin-url", "https://zipkin:9411/api/v2/spans"), ("--trace-otlp-url", "collector:4318")):
        srv = ConclaveServer(extra_args=[flag, url], name="export-bad")
        with pytest.raises(Exception) as e:
            srv.start()
        srv.stop()
        assert "expected an http:// URL" in str(e.value) + srv.log_tail()
