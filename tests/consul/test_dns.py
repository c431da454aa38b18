"""DNS with dnspython (Debian's python3-dnspython) and dig (bind9-dnsutils): SRV/A answers with
additional records, only healthy instances, tags and RFC 2782 names, nodes, NXDOMAIN/REFUSED,
truncation over UDP and the full answer over TCP, EDNS0, garbage datagrams, and a service
registered through ZooKeeper found by DNS."""

import json
import socket
import subprocess
import uuid

import dns.edns
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

import harness


def ask(node, name, rdtype="A", tcp=False, payload=None):
    q = dns.message.make_query(name, rdtype, use_edns=payload is not None, payload=payload or 512)
    if tcp:
        return dns.query.tcp(q, "127.0.0.1", port=node.dns_port, timeout=5)
    return dns.query.udp(q, "127.0.0.1", port=node.dns_port, timeout=5)


def register(http, body):
    status, _, out = http.call("PUT", "/v1/agent/service/register", body)
    assert status == 200, out


def addresses(reply):
    return sorted(r.address for rrset in reply.answer for r in rrset if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA))


def test_service_a_and_srv_with_additional_records(node, http):
    svc = "dns" + uuid.uuid4().hex[:6]
    register(http, {"Name": svc, "ID": svc + "-1", "Address": "10.2.0.1", "Port": 8001, "Tags": ["blue"]})
    register(http, {"Name": svc, "ID": svc + "-2", "Port": 8002, "Tags": ["green"], "Weights": {"Passing": 7}})
    r = ask(node, "%s.service.consul" % svc)
    assert r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.AA and not r.flags & dns.flags.RA
    assert addresses(r) == ["10.2.0.1", "127.0.0.1"]
    assert all(rrset.ttl == 0 for rrset in r.answer)
    srv = ask(node, "%s.service.dc1.consul" % svc, "SRV")
    rows = sorted((x.port, x.weight, str(x.target)) for rrset in srv.answer for x in rrset)
    me = node.http_json("/v1/agent/self")["Config"]["NodeName"]
    assert rows == [(8001, 1, "0a020001.addr.dc1.consul."), (8002, 7, "%s.node.dc1.consul." % me)]
    extra = {str(rrset.name): [x.address for x in rrset] for rrset in srv.additional if rrset.rdtype == dns.rdatatype.A}
    assert extra == {"0a020001.addr.dc1.consul.": ["10.2.0.1"], "%s.node.dc1.consul." % me: ["127.0.0.1"]}
    # Tags: <tag>.<service> and RFC 2782's _<service>._<tag> (_tcp: every instance).
    assert addresses(ask(node, "blue.%s.service.consul" % svc)) == ["10.2.0.1"]
    assert len(list(ask(node, "_%s._green.service.consul" % svc, "SRV").answer[0])) == 1
    assert len(list(ask(node, "_%s._tcp.service.consul" % svc, "SRV").answer[0])) == 2
    # The node and addr names.
    assert addresses(ask(node, "%s.node.consul" % me)) == ["127.0.0.1"]
    assert addresses(ask(node, "0a020001.addr.dc1.consul")) == ["10.2.0.1"]
    # dig, as an operator would ask.
    out = subprocess.run(["dig", "@127.0.0.1", "-p", str(node.dns_port), "+short", "%s.service.consul" % svc, "SRV"],
                         capture_output=True, text=True, timeout=20).stdout
    assert "8001" in out and "8002" in out, out
    for i in (1, 2):
        http.call("PUT", "/v1/agent/service/deregister/%s-%d" % (svc, i))


def test_only_healthy_instances_and_nxdomain(node, http):
    svc = "hc" + uuid.uuid4().hex[:6]
    register(http, {"Name": svc, "ID": "a", "Address": "10.3.0.1", "Check": {"TTL": "60s"}})
    r = ask(node, "%s.service.consul" % svc)
    assert r.rcode() == dns.rcode.NXDOMAIN, "a critical instance must not be answered"
    assert any(rrset.rdtype == dns.rdatatype.SOA for rrset in r.authority)
    http.call("PUT", "/v1/agent/check/warn/service:a")
    assert addresses(ask(node, "%s.service.consul" % svc)) == ["10.3.0.1"]  # warning still answers
    http.call("PUT", "/v1/agent/check/fail/service:a")
    assert ask(node, "%s.service.consul" % svc).rcode() == dns.rcode.NXDOMAIN
    http.call("PUT", "/v1/agent/check/pass/service:a")
    r = ask(node, "%s.service.consul" % svc, "AAAA")
    assert r.rcode() == dns.rcode.NOERROR and r.answer == [], "an IPv4 instance has no AAAA: NOERROR, empty"
    assert ask(node, "nosuch.service.consul").rcode() == dns.rcode.NXDOMAIN
    assert ask(node, "%s.service.otherdc.consul" % svc).rcode() == dns.rcode.NXDOMAIN
    assert ask(node, "example.com").rcode() == dns.rcode.REFUSED
    soa = ask(node, "consul", "SOA")
    assert soa.answer and soa.answer[0].rdtype == dns.rdatatype.SOA
    http.call("PUT", "/v1/agent/service/deregister/a")


def test_large_answers_truncate_over_udp_and_come_whole_over_tcp(node, http):
    svc = "big" + uuid.uuid4().hex[:6]
    for i in range(60):
        register(http, {"Name": svc, "ID": "%s-%d" % (svc, i), "Address": "10.4.%d.%d" % (i // 250, i % 250 + 1),
                        "Port": 9000 + i})
    udp = ask(node, "%s.service.consul" % svc, "SRV")
    assert udp.flags & dns.flags.TC, "a 60-instance SRV answer cannot fit 512 bytes without TC"
    assert 0 < sum(len(x) for x in udp.answer) < 60
    big = ask(node, "%s.service.consul" % svc, "SRV", payload=4096)
    assert len(big.to_wire()) <= 4096 and sum(len(x) for x in big.answer) > sum(len(x) for x in udp.answer)
    tcp = ask(node, "%s.service.consul" % svc, "SRV", tcp=True)
    assert not tcp.flags & dns.flags.TC and sum(len(x) for x in tcp.answer) == 60
    # Shuffled: two full answers over TCP are not always in the same order.
    orders = {tuple(str(x.target) + str(x.port) for x in ask(node, "%s.service.consul" % svc, "SRV", tcp=True).answer[0])
              for _ in range(5)}
    assert len(orders) > 1
    # dig retries over TCP by itself on TC.
    out = subprocess.run(["dig", "@127.0.0.1", "-p", str(node.dns_port), "+short", "%s.service.consul" % svc, "A"],
                         capture_output=True, text=True, timeout=20).stdout
    assert len(out.split()) == 60, out
    for i in range(60):
        http.call("PUT", "/v1/agent/service/deregister/%s-%d" % (svc, i))


def test_garbage_datagrams_and_bad_queries(node, http):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1)
    for junk in [b"", b"x", b"\x00" * 11, b"\xff" * 12 + b"garbage", b"\x12\x34" + b"\x01\x00" + b"\x00\x05" + b"\x00" * 6]:
        s.sendto(junk, ("127.0.0.1", node.dns_port))
        try:
            data, _ = s.recvfrom(4096)
            assert data[:2] == junk[:2] and data[2] & 0x80, "a reply to garbage must be a FORMERR response"
            assert data[3] & 0x0F in (1, 4), data[:4]
        except socket.timeout:
            assert len(junk) < 12, "a 12-byte header deserves a FORMERR"
    # A query with two questions is FORMERR; a NOTIFY is NOTIMP.
    q = dns.message.make_query("a.service.consul", "A")
    wire = bytearray(q.to_wire())
    s.sendto(bytes(wire[:4]) + b"\x00\x00" + bytes(wire[6:]), ("127.0.0.1", node.dns_port))  # QDCOUNT 0
    data, _ = s.recvfrom(4096)
    assert data[3] & 0x0F == 1
    n = dns.message.make_query("consul", "SOA")
    n.set_opcode(dns.opcode.NOTIFY)
    r = dns.query.udp(n, "127.0.0.1", port=node.dns_port, timeout=5)
    assert r.rcode() == dns.rcode.NOTIMP
    # A TCP connection sending a runt message is closed; the server keeps answering.
    t = socket.create_connection(("127.0.0.1", node.dns_port), timeout=5)
    t.sendall(b"\x00\x03abc")
    assert t.recv(10) == b""
    t.close()
    assert ask(node, "consul", "SOA").rcode() == dns.rcode.NOERROR


def test_zookeeper_registration_is_found_by_dns(node, zk):
    svc = "zkdns" + uuid.uuid4().hex[:6]
    zk.create("/services/%s/i1" % svc, json.dumps({"name": svc, "id": "i1", "address": "10.6.0.9", "port": 6000}).encode(),
              ephemeral=True, makepath=True)
    assert addresses(ask(node, "%s.service.consul" % svc)) == ["10.6.0.9"]
    srv = ask(node, "%s.service.consul" % svc, "SRV")
    assert [x.port for x in srv.answer[0]] == [6000]
    zk.delete("/services/%s/i1" % svc)
    assert ask(node, "%s.service.consul" % svc).rcode() == dns.rcode.NXDOMAIN


def test_hostname_addresses_answer_with_cname(node, http):
    svc = "cn" + uuid.uuid4().hex[:6]
    register(http, {"Name": svc, "ID": svc + "-1", "Address": "db.example.internal", "Port": 5432})
    r = ask(node, "%s.service.consul" % svc)
    assert r.rcode() == dns.rcode.NOERROR
    assert [(rrset.rdtype, str(x.target)) for rrset in r.answer for x in rrset] == [
        (dns.rdatatype.CNAME, "db.example.internal.")]
    srv = ask(node, "%s.service.consul" % svc, "SRV")
    assert [(x.port, str(x.target)) for x in srv.answer[0]] == [(5432, "db.example.internal.")]
    http.call("PUT", "/v1/agent/service/deregister/%s-1" % svc)
