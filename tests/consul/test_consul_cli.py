"""`conclave kv`, `lock`, `services`, `catalog`, `members` and `watch`: Consul CLI output shapes and exit codes."""

import json
import os
import subprocess
import time

import harness


def cli(node, *args, input=None, timeout=30, env=None):
    e = dict(os.environ)
    e["CONCLAVE_HTTP_ADDR"] = "127.0.0.1:%d" % node.http_port
    e.update(env or {})
    return subprocess.run([str(harness.resolve_conclave_bin()), *args], input=input, capture_output=True,
                          timeout=timeout, env=e)


def test_kv_put_get_delete(node, prefix, tmp_path):
    k = prefix + "cli"
    r = cli(node, "kv", "put", "-flags=9", k, "hello world")
    assert r.returncode == 0 and r.stdout == b"Success! Data written to: %s\n" % k.encode()
    r = cli(node, "kv", "get", k)
    assert r.returncode == 0 and r.stdout == b"hello world\n"
    r = cli(node, "kv", "get", "-detailed", k)
    assert b"Flags            9" in r.stdout and b"Value            hello world" in r.stdout
    f = tmp_path / "v"
    f.write_bytes(b"from-file")
    assert cli(node, "kv", "put", k + "2", "@%s" % f).returncode == 0
    assert cli(node, "kv", "put", k + "3", "-", input=b"from-stdin").returncode == 0
    r = cli(node, "kv", "get", "-recurse", prefix)
    assert r.stdout.decode().splitlines() == ["%s:hello world" % k, "%s2:from-file" % k, "%s3:from-stdin" % k]
    r = cli(node, "kv", "get", "-keys", prefix)
    assert r.stdout.decode().split() == [k, k + "2", k + "3"]
    r = cli(node, "kv", "put", "-cas", "-modify-index=1", k, "nope")
    assert r.returncode == 1 and b"CAS failed" in r.stderr
    r = cli(node, "kv", "get", prefix + "missing")
    assert r.returncode == 1 and r.stderr == b"Error! No key exists at: %smissing\n" % prefix.encode()
    r = cli(node, "kv", "delete", k)
    assert r.returncode == 0 and r.stdout == b"Success! Deleted key: %s\n" % k.encode()
    r = cli(node, "kv", "delete", "-recurse", prefix)
    assert r.returncode == 0 and b"Deleted keys with prefix" in r.stdout
    assert cli(node, "kv", "get", k + "2").returncode == 1


def test_kv_export_import_round_trip(node, c, prefix):
    for k, v in (("a", "1"), ("b/c", "two"), ("empty", "")):
        c.kv.put(prefix + k, v)
    c.kv.put(prefix + "a", "1", flags=3)
    r = cli(node, "kv", "export", prefix)
    assert r.returncode == 0
    data = json.loads(r.stdout)
    assert [d["key"] for d in data] == [prefix + "a", prefix + "b/c", prefix + "empty"]
    assert data[0]["flags"] == 3 and data[0]["value"] == "MQ=="
    moved = json.dumps([dict(d, key=d["key"].replace(prefix, prefix + "copy/", 1)) for d in data])
    r = cli(node, "kv", "import", "-", input=moved.encode())
    assert r.returncode == 0 and r.stdout.count(b"Imported: ") == 3
    assert c.kv.get(prefix + "copy/a")[1]["Flags"] == 3
    assert c.kv.get(prefix + "copy/b/c")[1]["Value"] == b"two"
    r = cli(node, "kv", "import", "-", input=b"{not json")
    assert r.returncode == 1 and r.stderr.startswith(b"Error!")


def test_lock_runs_child_while_holding_and_excludes_a_second_holder(node, c, prefix, tmp_path):
    log = tmp_path / "log"
    child = "echo start $$ >> %s; sleep 1; echo end $$ >> %s" % (log, log)
    procs = [subprocess.Popen([str(harness.resolve_conclave_bin()), "lock", "-http-addr=127.0.0.1:%d" % node.http_port,
                               prefix + "svc", child]) for _ in range(2)]
    deadline = time.monotonic() + 10
    holder = None
    while time.monotonic() < deadline and not holder:
        e = c.kv.get(prefix + "svc/.lock")[1]
        holder = e and e.get("Session")
        time.sleep(0.05)
    assert holder, "no lock holder seen while the child runs"
    for p in procs:
        assert p.wait(60) == 0
    lines = log.read_text().split()
    # start A, end A, start B, end B: the two children never overlap.
    words = lines[0::2]
    assert words == ["start", "end", "start", "end"], lines
    assert lines[1] == lines[3] and lines[5] == lines[7]
    e = c.kv.get(prefix + "svc/.lock")[1]
    assert "Session" not in e, "lock released after the last child"


def test_lock_child_exit_code(node, prefix):
    r = cli(node, "lock", "-child-exit-code", prefix + "x", "exit 3")
    assert r.returncode == 2
    r = cli(node, "lock", prefix + "x", "exit 3")
    assert r.returncode == 0
    r = cli(node, "lock", prefix + "x")
    assert r.returncode == 1


def test_services_catalog_members(node, tmp_path):
    import uuid
    name = "cli-" + uuid.uuid4().hex[:6]
    d = tmp_path / "svc.json"
    d.write_text(json.dumps({"service": {"name": name, "id": name + "-1", "port": 81, "tags": ["blue"],
                                         "check": {"ttl": "30s"}}}))
    r = cli(node, "services", "register", str(d))
    assert r.returncode == 0 and r.stdout == b"Registered service: %s\n" % name.encode(), r
    r = cli(node, "services", "register", "-name=" + name + "-x", "-port=82")
    assert r.returncode == 0 and r.stdout == b"Registered service: %s-x\n" % name.encode()
    r = cli(node, "catalog", "services", "-tags")
    lines = r.stdout.decode().splitlines()
    assert r.returncode == 0 and [name, "blue"] in [l.split() for l in lines], lines
    r = cli(node, "catalog", "nodes", "-service=" + name)
    rows = r.stdout.decode().splitlines()
    assert rows[0].split() == ["Node", "ID", "Address", "DC"] and len(rows) == 2, rows
    r = cli(node, "members")
    rows = r.stdout.decode().splitlines()
    assert rows[0].split()[:3] == ["Node", "Address", "Status"] and rows[1].split()[2] == "alive", rows
    r = cli(node, "services", "deregister", str(d))
    assert r.returncode == 0 and r.stdout == b"Deregistered service: %s-1\n" % name.encode()
    r = cli(node, "services", "deregister", "-id=" + name + "-x")
    assert r.returncode == 0
    r = cli(node, "services", "deregister", "-id=never-" + name)
    assert r.returncode == 1 and b"404" in r.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("service { name = \"hcl\" }")
    r = cli(node, "services", "register", str(bad))
    assert r.returncode == 1 and b"HCL is not supported" in r.stderr
    assert name not in cli(node, "catalog", "services").stdout.decode().split()


def test_watch_runs_the_handler_on_every_change(node, prefix, tmp_path):
    out = tmp_path / "calls"
    key = prefix + "watched"
    cli(node, "kv", "put", key, "one")
    # Without a handler: the JSON once, then exit.
    r = cli(node, "watch", "-type=key", "-key=" + key)
    assert r.returncode == 0 and json.loads(r.stdout)[0]["Key"] == key
    e = dict(os.environ)
    e["CONCLAVE_HTTP_ADDR"] = "127.0.0.1:%d" % node.http_port
    p = subprocess.Popen([str(harness.resolve_conclave_bin()), "watch", "-type=key", "-key=" + key,
                          "cat >> %s; echo >> %s" % (out, out)], env=e)
    try:
        harness.wait_until(lambda: out.exists() and out.read_text().count("\n\n") >= 1, timeout=10,
                           what="the first handler run")
        cli(node, "kv", "put", key, "two")
        harness.wait_until(lambda: out.read_text().count("\n\n") >= 2, timeout=10, what="a handler run for the change")
        runs = [json.loads(chunk) for chunk in out.read_text().split("\n\n") if chunk.strip()]
        import base64
        assert [base64.b64decode(r[0]["Value"]) for r in runs] == [b"one", b"two"]
    finally:
        p.terminate()
        p.wait(10)
    r = cli(node, "watch", "-type=nope")
    assert r.returncode == 1 and b"Unsupported watch type" in r.stderr
