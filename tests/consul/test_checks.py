"""Health checks the agent runs, against real HTTP, TCP and UDP servers this test starts:
passing -> warning -> critical -> passing, the request an HTTP check sends, thresholds,
alias checks and DeregisterCriticalServiceAfter. Registrations go through python-consul and raw
HTTP; every wait is bounded."""

import http.server
import json
import socket
import threading
import uuid

import pytest

import harness
from pyharness.servers import free_port


class Backend:
    """An HTTP server whose status code the test sets; it records what checks send."""

    def __init__(self):
        self.code = 200
        self.body = b"ok"
        self.requests = []
        backend = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                backend.requests.append((self.command, dict(self.headers), self.rfile.read(length)))
                self.send_response(backend.code)
                self.send_header("Content-Length", str(len(backend.body)))
                self.end_headers()
                self.wfile.write(backend.body)

            do_GET = do_POST = do_PUT = _answer

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def backend():
    b = Backend()
    yield b
    b.close()


def register(http, body):
    status, _, out = http.call("PUT", "/v1/agent/service/register", body)
    assert status == 200, out


def check_of(http, check_id):
    status, _, checks = http.json("GET", "/v1/agent/checks")
    assert status == 200
    return checks.get(check_id)


def wait_status(http, check_id, want, timeout=10):
    return harness.wait_until(lambda: (check_of(http, check_id) or {}).get("Status") == want and check_of(http, check_id),
                              timeout=timeout, what="check %s to be %s (now %r)" % (check_id, want, check_of(http, check_id)))


def test_http_check_follows_the_backend(http, backend):
    svc = "web-" + uuid.uuid4().hex[:6]
    url = "http://127.0.0.1:%d/health" % backend.port
    register(http, {"Name": svc, "Port": backend.port,
                    "Check": {"HTTP": url, "Interval": "1s", "Timeout": "2s", "Method": "POST",
                              "Header": {"X-Probe": ["yes"]}, "Body": "ping"}})
    cid = "service:" + svc
    c = wait_status(http, cid, "passing")
    assert c["Output"] == "HTTP POST %s: 200 OK Output: ok" % url, c["Output"]
    assert c["Type"] == "http" and c["Definition"]["HTTP"] == url
    method, headers, body = backend.requests[-1]
    assert method == "POST" and headers.get("X-Probe") == "yes" and body == b"ping"
    assert headers.get("User-Agent") == "Consul Health Check"
    backend.code = 429
    wait_status(http, cid, "warning")
    backend.code = 503
    c = wait_status(http, cid, "critical")
    assert "503" in c["Output"]
    backend.code = 200
    wait_status(http, cid, "passing")
    # The health endpoint sees the same states.
    _, _, entries = http.json("GET", "/v1/health/service/%s?passing" % svc)
    assert len(entries) == 1
    http.call("PUT", "/v1/agent/service/deregister/" + svc)


def test_http_check_to_a_closed_port_is_critical(http):
    svc = "dead-" + uuid.uuid4().hex[:6]
    port = free_port()
    register(http, {"Name": svc, "Check": {"HTTP": "http://127.0.0.1:%d/" % port, "Interval": "1s", "Status": "passing"}})
    c = wait_status(http, "service:" + svc, "critical")
    assert "refused" in c["Output"], c["Output"]
    http.call("PUT", "/v1/agent/service/deregister/" + svc)


def test_tcp_check(http):
    svc = "tcp-" + uuid.uuid4().hex[:6]
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    register(http, {"Name": svc, "Checks": [{"TCP": "127.0.0.1:%d" % port, "Interval": "1s"}]})
    c = wait_status(http, "service:" + svc, "passing")
    assert c["Output"] == "TCP connect 127.0.0.1:%d: Success" % port
    listener.close()
    wait_status(http, "service:" + svc, "critical")
    http.call("PUT", "/v1/agent/service/deregister/" + svc)


def test_udp_check(http):
    svc = "udp-" + uuid.uuid4().hex[:6]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    register(http, {"Name": svc, "Check": {"UDP": "127.0.0.1:%d" % port, "Interval": "1s", "Timeout": "300ms"}})
    wait_status(http, "service:" + svc, "passing")
    data, _ = sock.recvfrom(512)
    assert data, "the UDP check sent nothing"
    sock.close()  # now the port answers with ICMP port unreachable
    wait_status(http, "service:" + svc, "critical")
    http.call("PUT", "/v1/agent/service/deregister/" + svc)


def test_failures_before_critical_passes_through_warning(http, backend):
    svc = "thr-" + uuid.uuid4().hex[:6]
    url = "http://127.0.0.1:%d/" % backend.port
    register(http, {"Name": svc, "Check": {"HTTP": url, "Interval": "1s", "FailuresBeforeWarning": 1,
                                           "FailuresBeforeCritical": 3}})
    cid = "service:" + svc
    wait_status(http, cid, "passing")
    backend.code = 500
    seen = []

    def critical():
        s = check_of(http, cid)["Status"]
        if not seen or seen[-1] != s:
            seen.append(s)
        return s == "critical"

    harness.wait_until(critical, timeout=15, interval=0.05, what="the check to turn critical")
    assert seen[-3:] == ["passing", "warning", "critical"] or seen[-2:] == ["warning", "critical"], seen
    http.call("PUT", "/v1/agent/service/deregister/" + svc)


def test_alias_check_mirrors_the_aliased_service(http):
    base = "base-" + uuid.uuid4().hex[:6]
    front = "front-" + uuid.uuid4().hex[:6]
    register(http, {"Name": base, "Check": {"TTL": "60s"}})
    register(http, {"Name": front, "Check": {"AliasService": base}})
    wait_status(http, "service:" + front, "critical")
    assert http.call("PUT", "/v1/agent/check/pass/service:" + base)[0] == 200
    wait_status(http, "service:" + front, "passing")
    assert http.call("PUT", "/v1/agent/check/warn/service:" + base)[0] == 200
    wait_status(http, "service:" + front, "warning")
    for s in (front, base):
        http.call("PUT", "/v1/agent/service/deregister/" + s)


def test_deregister_critical_service_after(http):
    svc = "reap-" + uuid.uuid4().hex[:6]
    register(http, {"Name": svc, "Check": {"TCP": "127.0.0.1:%d" % free_port(), "Interval": "1s",
                                           "DeregisterCriticalServiceAfter": "2s"}})
    wait_status(http, "service:" + svc, "critical")

    def gone():
        _, _, services = http.json("GET", "/v1/agent/services")
        return svc not in services

    harness.wait_until(gone, timeout=15, what="the critical service to be deregistered")
    _, _, rows = http.json("GET", "/v1/catalog/service/" + svc)
    assert rows == []
