"""Acknowledged Consul writes survive kill -9: keys with flags, lock holders, sessions and
lock-delays come back from the WAL and from snapshots (format 5)."""

import json
import signal
import time

import harness
from consulhttp import Http


def test_consul_state_survives_kill9_and_snapshots(tmp_path):
    srv = harness.ConclaveServer(workdir=tmp_path / "node", extra_args=["--snapshot-entries", "50"])
    srv.start()
    try:
        http = Http(srv.http_port)
        status, _, body = http.call("PUT", "/v1/session/create", '{"Name": "keeper", "LockDelay": "30s"}')
        sid = json.loads(body)["ID"]
        status, _, body = http.call("PUT", "/v1/session/create", '{"Name": "gone", "LockDelay": "30s"}')
        gone = json.loads(body)["ID"]
        acked = []
        for i in range(300):  # several snapshots' worth
            status, _, body = http.call("PUT", "/v1/kv/dur/k%03d?flags=%d" % (i, i), b"v%d" % i)
            assert status == 200 and body == b"true"
            acked.append(i)
        assert http.call("PUT", "/v1/kv/dur/lock?acquire=" + sid, b"held")[2] == b"true"
        assert http.call("PUT", "/v1/kv/dur/delayed?acquire=" + gone, b"x")[2] == b"true"
        assert http.call("PUT", "/v1/session/destroy/" + gone)[2] == b"true"
        before = http.call("GET", "/v1/kv/dur/?recurse")[2]
        srv.kill9()
        srv.start()
        http = Http(srv.http_port)
        after = http.call("GET", "/v1/kv/dur/?recurse")[2]
        assert json.loads(after) == json.loads(before)
        entries = {e["Key"]: e for e in json.loads(after)}
        for i in acked:
            assert entries["dur/k%03d" % i]["Flags"] == i
        assert entries["dur/lock"]["Session"] == sid
        assert sid in [s["ID"] for s in json.loads(http.call("GET", "/v1/session/list")[2])]
        # The lock-delay of the destroyed session is still in force after the restart.
        status, _, body = http.call("PUT", "/v1/session/create", '{"LockDelay": "0s"}')
        other = json.loads(body)["ID"]
        assert http.call("PUT", "/v1/kv/dur/delayed?acquire=" + other, b"y")[2] == b"false"
        log = (tmp_path / "node" / "server.log").read_text(errors="replace")
        assert "snapshot at index" in log
    finally:
        srv.retire()
