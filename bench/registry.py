#!/usr/bin/python3
"""The service registry as its clients see it, on one Conclave node (fsync on):

  catalog    5,000 instances of one service: /v1/catalog/service and /v1/health/service reads,
             one request at a time over keep-alive (as a client library polls)
  blocking   N health blocking queries on that service, then one instance's check changes:
             wake-up latency of every waiter (p50/p99) and server memory per waiting query
  dns        UDP queries for a 3-instance service, W outstanding (like a busy resolver):
             queries/s and server CPU per query
  checks     1,000 HTTP checks at a 10 s interval against a local HTTP server: server CPU
             per second of wall time, and log entries written (results only on change)

    /usr/bin/python3 bench/registry.py               # everything (about 3 minutes)
    /usr/bin/python3 bench/registry.py --only dns,blocking

Results: a table on stdout and bench/results/registry-<time>.json. Not a test: no assertions.
"""

import argparse
import http.client
import http.server
import json
import os
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from pyharness.servers import ConclaveServer  # noqa: E402

CLK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    fields = Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def rss_bytes(pid):
    for line in Path("/proc/%d/status" % pid).read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class Conn:
    def __init__(self, port, timeout=120):
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)

    def call(self, method, path, body=None):
        self.c.request(method, path, body=body)
        r = self.c.getresponse()
        data = r.read()
        return r.status, r.getheader("X-Consul-Index"), data


def percentile(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100.0 * len(xs)))]


def register_instances(port, name, n):
    c = Conn(port)
    t0 = time.monotonic()
    for i in range(n):
        body = json.dumps({"Node": "bench-%d" % (i % 50), "Address": "10.%d.%d.%d" % (i // 65536 % 256, i // 256 % 256, i % 256),
                           "Service": {"Service": name, "ID": "%s-%d" % (name, i), "Port": 1000 + i % 60000,
                                       "Tags": ["t%d" % (i % 4)], "Meta": {"i": str(i)}},
                           "Check": {"CheckID": "c-%s-%d" % (name, i), "Name": "c", "Status": "passing",
                                     "ServiceID": "%s-%d" % (name, i)}})
        status, _, out = c.call("PUT", "/v1/catalog/register", body)
        assert status == 200, out
    return n / (time.monotonic() - t0)


def bench_catalog(node, results, n=5000, reads=60):
    rate = register_instances(node.http_port, "big", n)
    c = Conn(node.http_port)
    for path, label in [("/v1/catalog/service/big", "catalog/service"), ("/v1/health/service/big?passing", "health/service?passing")]:
        lat = []
        size = 0
        cpu0 = cpu_seconds(node.pid)
        for _ in range(reads):
            t0 = time.monotonic()
            status, _, data = c.call("GET", path)
            lat.append(time.monotonic() - t0)
            size = len(data)
        cpu = (cpu_seconds(node.pid) - cpu0) / reads
        results[label + " (5k instances)"] = {
            "reads_per_s": round(reads / sum(lat), 1), "p50_ms": round(percentile(lat, 50) * 1000, 1),
            "p99_ms": round(percentile(lat, 99) * 1000, 1), "reply_bytes": size, "server_cpu_ms": round(cpu * 1000, 1)}
    results["catalog/register, one request at a time"] = {"writes_per_s": round(rate, 1)}


def bench_blocking(node, results, waiters=200):
    c = Conn(node.http_port)
    _, index, _ = c.call("GET", "/v1/health/service/big")
    woke = [None] * waiters
    half = waiters // 2
    barriers = [threading.Barrier(half + 1), threading.Barrier(waiters - half + 1)]

    def wait(i):
        w = Conn(node.http_port, timeout=300)
        barriers[0 if i < half else 1].wait()
        w.call("GET", "/v1/health/service/big?index=%s&wait=120s" % index)
        woke[i] = time.monotonic()

    threads = [threading.Thread(target=wait, args=(i,)) for i in range(waiters)]
    # Memory per waiting query: the second half's cost, once the first half (and the shared
    # reply they built) is in place.
    for t in threads[:half]:
        t.start()
    barriers[0].wait()
    time.sleep(2.0)
    rss_a = rss_bytes(node.pid)
    for t in threads[half:]:
        t.start()
    barriers[1].wait()
    time.sleep(2.0)
    rss_b = rss_bytes(node.pid)
    cpu0 = cpu_seconds(node.pid)
    change_at = time.monotonic()
    c.call("PUT", "/v1/catalog/register", json.dumps({
        "Node": "bench-7", "Address": "10.0.0.7", "SkipNodeUpdate": True,
        "Check": {"CheckID": "c-big-7", "Name": "c", "Status": "critical", "ServiceID": "big-7"}}))
    for t in threads:
        t.join(300)
    cpu = cpu_seconds(node.pid) - cpu0
    lat = [w - change_at for w in woke if w]
    results["health blocking on 5k instances, %d waiters, one check changes" % waiters] = {
        "woken": len(lat), "p50_ms": round(percentile(lat, 50) * 1000, 1), "p99_ms": round(percentile(lat, 99) * 1000, 1),
        "server_cpu_ms_for_the_wake": round(cpu * 1000, 1),
        "server_bytes_per_waiter": int(max(0, rss_b - rss_a) / (waiters - half))}


def bench_dns(node, results, seconds=5.0, window=32):
    c = Conn(node.http_port)
    for i in range(3):
        c.call("PUT", "/v1/agent/service/register", json.dumps({"Name": "dnsb", "ID": "dnsb-%d" % i, "Port": 80 + i,
                                                               "Address": "10.1.0.%d" % (i + 1)}))
    import dns.message
    q = bytearray(dns.message.make_query("dnsb.service.consul", "A").to_wire())
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect(("127.0.0.1", node.dns_port))
    s.settimeout(2)
    sent = got = 0
    cpu0 = cpu_seconds(node.pid)
    t0 = time.monotonic()
    for _ in range(window):
        q[0], q[1] = (sent >> 8) & 255, sent & 255
        s.send(q)
        sent += 1
    while time.monotonic() - t0 < seconds:
        try:
            s.recv(4096)
        except socket.timeout:
            break
        got += 1
        q[0], q[1] = (sent >> 8) & 255, sent & 255
        s.send(q)
        sent += 1
    elapsed = time.monotonic() - t0
    cpu = cpu_seconds(node.pid) - cpu0
    results["dns A, %d outstanding over UDP" % window] = {
        "queries_per_s": round(got / elapsed), "server_cpu_us_per_query": round(cpu / max(got, 1) * 1e6, 1)}


class Target(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *a):
        pass


def bench_checks(node, results, n=1000, seconds=30.0):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Target)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    c = Conn(node.http_port)
    for i in range(n):
        c.call("PUT", "/v1/agent/check/register", json.dumps({
            "Name": "http-%d" % i, "HTTP": "http://127.0.0.1:%d/h%d" % (srv.server_address[1], i),
            "Interval": "10s", "Timeout": "2s"}))
    time.sleep(12)  # every check ran once and turned passing
    metrics = lambda: node.http_get("/metrics")[2].decode()

    def counter(text, name):
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return 0.0

    m0 = metrics()
    cpu0 = cpu_seconds(node.pid)
    time.sleep(seconds)
    cpu = cpu_seconds(node.pid) - cpu0
    m1 = metrics()
    results["%d HTTP checks at 10s, steady (all passing)" % n] = {
        "server_cpu_percent": round(cpu / seconds * 100, 2),
        "probes_per_s": round((counter(m1, "conclave_consul_check_probes_total") - counter(m0, "conclave_consul_check_probes_total")) / seconds, 1),
        "log_entries_per_s": round((counter(m1, "conclave_consul_check_batches_total") - counter(m0, "conclave_consul_check_batches_total")) / seconds, 2)}
    srv.shutdown()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="catalog,blocking,dns,checks")
    ap.add_argument("--waiters", type=int, default=200)
    args = ap.parse_args()
    only = set(args.only.split(","))
    results = {}
    node = ConclaveServer(name="bench")
    node.start()
    try:
        if only & {"catalog", "blocking"}:
            bench_catalog(node, results)
        if "blocking" in only:
            bench_blocking(node, results, args.waiters)
        if "dns" in only:
            bench_dns(node, results)
        if "checks" in only:
            bench_checks(node, results)
    finally:
        node.retire()
    width = max(len(k) for k in results)
    for k, v in results.items():
        print("%-*s  %s" % (width, k, "  ".join("%s=%s" % kv for kv in v.items())))
    out = ROOT / "bench" / "results" / ("registry-%s.json" % time.strftime("%Y%m%dT%H%M%S"))
    out.write_text(json.dumps(results, indent=2))
    print("wrote", out)


if __name__ == "__main__":
    main()
