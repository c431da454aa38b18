"""A node serving its clients through I/O threads (--io-threads, net/io_threads.h) keeps what the
loop thread alone guarantees: per-connection order of replies, ZooKeeper's event-before-reply
rule, sessions and their ephemerals ending with their connections, and HTTP long-polls."""

import json
import os
import socket
import struct
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "compat"))
import zkwire  # noqa: E402
from zkwire import OP, Reader, Writer  # noqa: E402

from pyharness.servers import HOST, ConclaveServer  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = ConclaveServer(workdir=tmp_path_factory.mktemp("io-threads"), extra_args=["--io-threads", "2"])
    srv.start()
    yield srv
    srv.stop()


def connect(server):
    c = zkwire.ZKConn(HOST, server.port)
    c.connect(timeout_ms=10000)
    return c


def header(xid, op):
    return Writer().int(xid).int(OP[op]).bytes()


def read_header(pkt):
    r = Reader(pkt)
    return r.int(), r.long(), r.int(), r


def test_event_before_reply_and_reply_order_when_pipelined(server):
    """200 rounds of (getData with a watch, setData) sent in one go: each round's reply to
    getData, then the data-changed event, then the reply to setData, in order."""
    c = connect(server)
    try:
        assert c.create("/iot-w", b"0")["err"] == 0
        out = b""
        rounds = 200
        for i in range(rounds):
            g = header(2 * i + 1, "getData") + zkwire.enc_path_watch("/iot-w", True)
            s = header(2 * i + 2, "setData") + zkwire.enc_set_data("/iot-w", b"v%d" % i)
            out += struct.pack(">i", len(g)) + g + struct.pack(">i", len(s)) + s
        c.sock.sendall(out)
        seen = []
        deadline = time.monotonic() + 30
        while len(seen) < 3 * rounds and time.monotonic() < deadline:
            xid, _, err, r = read_header(c.read_packet(timeout=10))
            if xid == zkwire.NOTIFICATION_XID:
                seen.append(("event", r.int(), r.int(), r.string()))
            else:
                assert err == 0, (xid, err)
                seen.append(("reply", xid))
        assert len(seen) == 3 * rounds, "only %d of %d packets arrived" % (len(seen), 3 * rounds)
        for i in range(rounds):
            assert seen[3 * i] == ("reply", 2 * i + 1), (i, seen[3 * i:3 * i + 3])
            assert seen[3 * i + 1][0] == "event" and seen[3 * i + 1][3] == "/iot-w", (i, seen[3 * i:3 * i + 3])
            assert seen[3 * i + 2] == ("reply", 2 * i + 2), (i, seen[3 * i:3 * i + 3])
    finally:
        c.close_socket()


def test_a_flood_of_pipelined_reads_is_answered_in_order(server):
    """One connection sends 60 000 reads of a 1 KiB znode (about 1.4 MB of requests, 60 MB of
    replies) from one thread while another reads: every reply arrives, in xid order, and other
    clients are answered meanwhile."""
    c = connect(server)
    other = connect(server)
    try:
        assert c.create("/iot-big", b"x" * 1024)["err"] == 0
        n = 60000
        errors = []

        def send():
            try:
                chunk = b""
                for i in range(1, n + 1):
                    p = header(i, "getData") + zkwire.enc_path_watch("/iot-big", False)
                    chunk += struct.pack(">i", len(p)) + p
                    if len(chunk) > 64 * 1024:
                        c.sock.sendall(chunk)
                        chunk = b""
                c.sock.sendall(chunk)
            except OSError as e:
                errors.append(e)

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        expect = 1
        side = 0
        deadline = time.monotonic() + 120
        while expect <= n and time.monotonic() < deadline:
            xid, _, err, _ = read_header(c.read_packet(timeout=30))
            assert xid == expect and err == 0, (xid, expect, err)
            expect += 1
            if expect % 10000 == 0:
                assert other.exists("/iot-big")["err"] == 0
                side += 1
        sender.join(timeout=30)
        assert not errors, errors
        assert expect == n + 1, "%d of %d replies" % (expect - 1, n)
        assert side == n // 10000
    finally:
        c.close_socket()
        other.close_socket()


def four(server, cmd):
    with socket.create_connection((HOST, server.port), timeout=5) as s:
        s.sendall(cmd.encode())
        data = b""
        while True:
            d = s.recv(65536)
            if not d:
                return data.decode()
            data += d


def connections(server):
    for line in four(server, "mntr").splitlines():
        k, _, v = line.partition("\t")
        if k == "zk_num_alive_connections":
            return int(v)
    raise AssertionError("mntr has no zk_num_alive_connections")


def test_connections_dropped_mid_request_end_their_sessions(server):
    """150 sessions each create an ephemeral, then half close their sockets with requests still
    unanswered and half close their sessions: the connections are gone and the dropped sessions'
    ephemerals vanish when they expire (timeout 4 s)."""
    base = connections(server)
    owner = connect(server)
    assert owner.create("/iot-eph", b"")["err"] == 0
    conns = []
    for i in range(150):
        c = zkwire.ZKConn(HOST, server.port)
        c.connect(timeout_ms=4000)
        assert c.create("/iot-eph/e%d" % i, b"", flags=zkwire.EPHEMERAL)["err"] == 0
        conns.append(c)
    assert len(owner.get_children("/iot-eph")["children"]) == 150
    for i, c in enumerate(conns):
        if i % 2:
            c.close_session()
            c.close_socket()
        else:
            p = header(99, "getData") + zkwire.enc_path_watch("/iot-eph", False)
            c.sock.sendall(struct.pack(">i", len(p)) + p)
            c.sock.close()
    deadline = time.monotonic() + 30
    left = None
    while time.monotonic() < deadline:
        owner.ping()
        left = len(owner.get_children("/iot-eph")["children"])
        if left == 0 and connections(server) <= base + 1:
            break
        time.sleep(0.2)
    assert left == 0, "%d ephemerals of dropped or closed sessions remain" % left
    assert connections(server) <= base + 1, "connections still open: %d (before: %d)" % (connections(server), base)
    owner.close_socket()


def test_http_long_poll_woken_by_a_put_on_another_connection(server):
    url = "http://%s:%d/v1/kv/iot/key" % (HOST, server.http_port)
    req = urllib.request.Request(url, data=b"one", method="PUT")
    with urllib.request.urlopen(req, timeout=5) as r:
        assert json.loads(r.read()) is True
    with urllib.request.urlopen(url, timeout=5) as r:
        index = int(r.headers["X-Consul-Index"])
    got = {}

    def poll():
        with urllib.request.urlopen("%s?index=%d&wait=20s" % (url, index), timeout=30) as r:
            got["index"] = int(r.headers["X-Consul-Index"])
            got["body"] = json.loads(r.read())

    t = threading.Thread(target=poll, daemon=True)
    t.start()
    time.sleep(0.3)
    assert t.is_alive(), "the long-poll returned before any change"
    req = urllib.request.Request(url, data=b"two", method="PUT")
    with urllib.request.urlopen(req, timeout=5) as r:
        assert json.loads(r.read()) is True
    t.join(timeout=10)
    assert not t.is_alive(), "the long-poll was not woken by the PUT"
    assert got["index"] > index
    import base64
    assert base64.b64decode(got["body"][0]["Value"]) == b"two"
