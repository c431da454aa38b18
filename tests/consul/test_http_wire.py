"""The HTTP layer as curl and raw clients use it: Expect: 100-continue, chunked bodies,
pipelining, keep-alive, limits, garbage."""

import shutil
import socket
import subprocess

import pytest


def raw(node, data, timeout=5.0, read_until_close=True):
    s = socket.create_connection(("127.0.0.1", node.http_port), timeout=timeout)
    s.sendall(data)
    out = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
            if not read_until_close and out.count(b"\r\n\r\n") >= 1 and b"Content-Length" in out:
                break
    except socket.timeout:
        pass
    s.close()
    return out


@pytest.mark.skipif(not shutil.which("curl"), reason="curl not installed")
def test_curl_large_put_uses_100_continue(node, c, prefix, tmp_path):
    f = tmp_path / "big"
    f.write_bytes(b"z" * 200000)
    out = subprocess.run(["curl", "-sS", "-v", "-X", "PUT", "-H", "Expect: 100-continue", "--data-binary", "@%s" % f,
                          "http://127.0.0.1:%d/v1/kv/%sbig" % (node.http_port, prefix)],
                         capture_output=True, timeout=30)
    assert out.stdout == b"true", out
    assert b"100 Continue" in out.stderr
    assert len(c.kv.get(prefix + "big")[1]["Value"]) == 200000


def test_chunked_put_and_pipelining(node, c, prefix):
    key = "/v1/kv/%schunked" % prefix
    req = ("PUT %s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
           "4\r\nabcd\r\n3\r\nefg\r\n0\r\n\r\n"
           "GET %s?raw HTTP/1.1\r\nHost: x\r\n\r\n"
           "GET %s?raw HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % (key, key, key)).encode()
    out = raw(node, req)
    assert out.count(b"HTTP/1.1 200 OK") == 3, out
    assert out.index(b"true") < out.index(b"abcdefg")
    assert out.count(b"abcdefg") == 2


def test_garbage_and_limits(node, c, prefix):
    assert raw(node, b"\x00\x01garbage\r\n\r\n").startswith(b"HTTP/1.1 400")
    assert raw(node, b"GET / HTTP/1.1\r\nX: " + b"h" * (70 * 1024) + b"\r\n\r\n").startswith(b"HTTP/1.1 431")
    out = raw(node, b"PUT /v1/kv/%sbig HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % (prefix.encode(), 5 * 1024 * 1024))
    assert out.startswith(b"HTTP/1.1 413")
    assert c.kv.get(prefix, recurse=True)[1] is None
    # The server is still fine.
    assert c.kv.put(prefix + "after", "ok")
