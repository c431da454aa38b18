"""The fault runner's short mode (tests/faults/runner.py; the long mode is its command line), and the
linearizability checker shown to reject what it must."""

import copy
import json
import time

import linearizability
import runner


def ok(f, invoke, complete, **kw):
    return dict(f=f, type="ok", invoke=invoke, complete=complete, **kw)


def test_checker_accepts_and_rejects_known_histories():
    check = linearizability.check
    assert check([ok("write", 0, 1, value="a"), ok("read", 2, 3, result="a"),
                  ok("cas", 4, 5, expect="a", value="b", result=True), ok("read", 6, 7, result="b")], "init")[0]
    # A read that misses a write completed before it began.
    assert not check([ok("write", 0, 1, value="a"), ok("write", 2, 3, value="b"), ok("read", 4, 5, result="a")], "init")[0]
    # Concurrent operations may take effect in either order.
    assert check([ok("write", 0, 1, value="a"), ok("write", 2, 5, value="b"), ok("read", 3, 4, result="a")], "init")[0]
    # An unanswered write may take effect at any time after it was sent, or never.
    info = dict(f="write", type="info", invoke=2, complete=None, value="b")
    assert check([ok("write", 0, 1, value="a"), info, ok("read", 10, 11, result="b")], "init")[0]
    assert check([ok("write", 0, 1, value="a"), info, ok("read", 10, 11, result="a")], "init")[0]
    assert not check([ok("write", 0, 1, value="a"), info, ok("read", 10, 11, result="b"),
                      ok("read", 12, 13, result="a")], "init")[0]
    # Two compare-and-sets succeeding from the same value; a failed cas that should have worked.
    assert not check([ok("write", 0, 1, value="a"), ok("cas", 2, 3, expect="a", value="b", result=True),
                      ok("cas", 4, 5, expect="a", value="c", result=True)], "init")[0]
    assert not check([ok("write", 0, 1, value="a"), ok("cas", 2, 3, expect="a", value="b", result=False)], "init")[0]
    # Out of budget: unknown (None), neither a pass nor a proven violation.
    wide = [ok("write", 0, 100, value="w%d" % i) for i in range(12)] + [ok("read", 0, 100, result="w%d" % i)
                                                                          for i in range(12)]
    wide.append(ok("read", 101, 102, result="never"))
    verdict, why = check(wide, "init", max_states=50)
    assert verdict is None and why.startswith("unknown"), (verdict, why)


def test_append_checker_rejects_what_it_must():
    def ap(value, invoke, complete, n):
        return dict(f="append", key="seq", type="ok", value=value, invoke=invoke, complete=complete,
                    result="/seq/n-%010d" % n)
    ops = [ap("a", 0, 1, 1), ap("b", 2, 3, 2), ap("c", 2.5, 4, 3)]
    present = {"n-%010d" % n: v for n, v in ((1, "a"), (2, "b"), (3, "c"))}
    assert runner.check_appends(ops, present) == []
    assert runner.check_appends([ap("a", 0, 1, 1), ap("b", 2, 3, 1)], {"n-0000000001": "a"})  # a number twice
    assert runner.check_appends([ap("a", 0, 1, 2), ap("b", 2, 3, 1)], present)  # later call, lower number
    assert runner.check_appends(ops, {k: v for k, v in present.items() if v != "b"})  # lost
    assert runner.check_appends(ops, dict(present, **{"n-0000000009": "zz"}))  # never created


def test_queue_checker_rejects_what_it_must():
    def q(process, f, value, t0, t1, kind="ok"):
        return {"process": process, "key": "queue", "f": f, "value": value, "type": kind,
                "result": value if f == "dequeue" else "/queue/e-1", "invoke": t0, "complete": t1}
    ops = [q("a", "enqueue", "x", 0, 1), q("a", "enqueue", "y", 1, 2), q("b", "enqueue", "z", 1, 2, kind="info"),
           q("b", "dequeue", "x", 3, 4), q("b", "enqueue", "w", 4, 5), q("a", "dequeue", "w", 6, 7, kind="info")]
    assert runner.check_queue(ops, ["y"]) == []
    assert runner.check_queue(ops, ["y", "z"]) == []  # the unanswered enqueue took effect
    assert runner.check_queue(ops, [])  # y lost
    assert runner.check_queue(ops, ["y", "x"])  # dequeued, yet still queued
    assert runner.check_queue(ops + [q("a", "dequeue", "x", 5, 6)], ["y"])  # dequeued twice
    assert runner.check_queue(ops + [q("a", "dequeue", "v", 5, 6)], ["y"])  # never enqueued
    assert runner.check_queue(ops + [q("a", "dequeue", "y", 0.5, 0.8)], [])  # dequeued before its enqueue began
    assert runner.check_queue(ops, ["y", "u"])  # queued, never enqueued


def test_counter_checker_rejects_what_it_must():
    def inc(proc, frm, t0, t1, kind="ok", result=True):
        return {"process": proc, "key": "ctr", "f": "incr", "expect": frm, "value": frm + 1, "type": kind,
                "result": result, "invoke": t0, "complete": t1}
    good = [inc("a", 0, 0, 1), inc("b", 1, 2, 3), inc("c", 1, 2, 3.5, result=False), inc("d", 2, 4, 9, kind="info")]
    assert runner.check_counter(good, 2) == []
    assert runner.check_counter(good, 3) == []  # the unanswered one took effect
    assert runner.check_counter(good, 1)  # an acknowledged increment lost
    assert runner.check_counter(good, 4)  # more increments than were attempted
    assert runner.check_counter(good + [inc("e", 1, 5, 6)], 3)  # two acknowledged increments of 1: lost update
    assert runner.check_counter(good, None)


def test_lock_checker_rejects_what_it_must():
    def fenced(process, session, lock_index, modify_index):
        return {"process": process, "key": "lock", "f": "fenced", "value": "%s@%d" % (process, modify_index),
                "expect": session, "type": "ok",
                "result": {"session": session, "lock_index": lock_index, "modify_index": modify_index}}
    good = [fenced("a", "s1", 1, 10), fenced("a", "s1", 1, 11), fenced("b", "s2", 2, 12), fenced("a", "s3", 3, 14)]
    assert runner.check_locks(good) == []
    # Two sessions under one acquisition: two holders at once.
    assert runner.check_locks(good + [fenced("b", "s2", 1, 13)])
    # A write ordered after a newer acquisition's, under the older one.
    assert runner.check_locks([fenced("a", "s1", 2, 10), fenced("b", "s2", 1, 11)])
    # A write that ran while another session held the lock.
    bad = fenced("a", "s1", 4, 20)
    bad["result"]["session"] = "s2"
    assert runner.check_locks(good + [bad])


def test_watch_checker_rejects_what_it_must():
    from types import SimpleNamespace
    good = SimpleNamespace(name="w", observed=[(1, 5, 0), (1, 9, 1), (2, 7, 1), (2, 12, 2)])
    assert runner.check_watches([good], 12) == []
    # A read that went back within a session (a reconnect to a server behind what it had seen).
    assert runner.check_watches([SimpleNamespace(name="w", observed=[(1, 9, 1), (1, 5, 0), (1, 12, 2)])], 12)
    # A watcher that never heard of the final write.
    assert runner.check_watches([good], 13)
    # Blocking queries: ModifyIndex going back, and a watcher that never read the final write.
    blocking = SimpleNamespace(name="b", observed=[(5, 5, "a"), (9, 9, "b"), (9, 9, "b"), (12, 12, "final")])
    assert runner.check_consul_watches([blocking], "final") == []
    assert runner.check_consul_watches([SimpleNamespace(name="b", observed=[(9, 9, "b"), (12, 5, "a"),
                                                                             (14, 14, "final")])], "final")
    assert runner.check_consul_watches([blocking], "later")


def test_read_order_checker_rejects_what_it_must():
    def op(process, group, f, key, index, invoke, complete, result=None, value=None, seen=0):
        return {"process": process, "group": group, "f": f, "key": key, "index": index, "invoke": invoke,
                "complete": complete, "type": "ok", "result": result, "value": value, "seen": seen}
    writes = [op("w", "w/1", "write", "k0", 10, 0, 1, value="a"), op("w", "w/1", "write", "k0", 20, 2, 3, value="b"),
              op("w", "w/1", "write", "k1", 30, 4, 5, value="c")]
    check = runner.check_read_order
    # A client that saw index 20 on k0 reads k0 again: "b" (20) is fine, "a" (10, overwritten at 20) is not.
    assert check(writes + [op("r", "r/1", "read", "k0", 20, 6, 7, "b"), op("r", "r/1", "sread", "k0", 20, 8, 9, "b")],
                 ["k0", "k1"]) == []
    assert check(writes + [op("r", "r/1", "read", "k0", 20, 6, 7, "b"), op("r", "r/1", "sread", "k0", 10, 8, 9, "a")],
                 ["k0", "k1"])
    # Across keys: having seen k1 at 30, k0's "a" (overwritten at 20) is too old.
    assert check(writes + [op("r", "r/1", "sread", "k1", 30, 6, 7, "c"), op("r", "r/1", "sread", "k0", 10, 8, 9, "a")],
                 ["k0", "k1"])
    # The client's last zxid counts as seen; another client, or a later run of a Consul node, may lag.
    assert check(writes + [op("r", "r/1", "sread", "k0", 10, 8, 9, "a", seen=25)], ["k0", "k1"])
    assert check(writes + [op("r", "r/1", "sread", "k1", 30, 6, 7, "c"), op("r", "r/2", "sread", "k0", 10, 8, 9, "a")],
                 ["k0", "k1"]) == []
    # One value at two indexes; a value nobody had begun to write.
    assert check(writes + [op("r", "r/1", "stale", "k0", 11, 6, 7, "a")], ["k0", "k1"])
    assert check(writes + [op("r", "r/1", "stale", "k1", 30, 3.5, 3.8, "c")], ["k0", "k1"])


def test_short_fault_run_is_linearizable(tmp_path):
    lines = []
    good, results, out = runner.run(seed=7, seconds=20, nodes=3, keys=3, out=tmp_path, log=lines.append)
    print("\n".join(lines))
    ops = [json.loads(l) for l in open(out / "history.jsonl")]
    faults = [json.loads(l) for l in open(out / "faults.jsonl")]
    assert sum(1 for f in faults if f["fault"] != "healed") >= 4, faults
    acked = [o for o in ops if o["type"] == "ok" and o["f"] not in runner.READS]
    assert len(acked) >= 50, "too few acknowledged writes to mean anything: %d" % len(acked)
    assert {o["process"][:2] for o in acked} >= {"zk", "co"}, "both protocols must have written"
    assert sum(1 for o in acked if o["f"] == "append") >= 20, "too few acknowledged appends"
    incs = [o for o in acked if o["f"] == "incr" and o["result"] is True]
    assert {o["process"][:2] for o in incs} == {"zk", "co"}, "both protocols must have incremented the counter"
    for key in ("lock", "zklock", "curlock"):
        fenced = [o for o in acked if o["key"] == key and o["f"] == "fenced"]
        assert len(fenced) >= 10 and len({o["expect"] for o in fenced}) >= 2, key + " changed hands too little"
    for f in ("sread", "stale", "enqueue", "dequeue"):
        assert sum(1 for o in ops if o["f"] == f and o["type"] == "ok") >= 20, "too few %s operations" % f
    assert good, "\n".join(lines)
    # With one plain read made to return the value its key held before the client's previous
    # write (one its client had already seen overwritten), the read-order check objects.
    assert runner.check_read_order(ops, list(results)) == []
    forged = copy.deepcopy(ops)
    by_group = {}
    for o in sorted(forged, key=lambda o: o["invoke"]):
        if o["type"] == "ok" and o.get("group") and o.get("index") is not None and o["key"] in results:
            by_group.setdefault(o["group"], []).append(o)
    planted = False
    for seq in by_group.values():
        for a, b in zip(seq, seq[1:]):
            if not planted and b["f"] == "sread" and b["key"] == a["key"] and b["index"] == a["index"] and a["f"] in (
                    "write", "cas"):
                older = [o for o in forged if o["key"] == a["key"] and o.get("index") is not None
                         and o["index"] < a["index"] and o["type"] == "ok"]
                if older:
                    prev = max(older, key=lambda o: o["index"])
                    b["index"] = prev["index"]
                    b["result"] = prev["result"] if prev["f"] in runner.READS else prev["value"]
                    planted = True
    assert planted, "no plain read right after its client's own write to plant a stale value in"
    assert runner.check_read_order(forged, list(results)), "a read older than its client's own write passed"
    # The same history with one acknowledged read altered is rejected: the check can fail.
    key = max(results, key=lambda k: results[k][2]["ok"])
    reads = [o for o in ops if o["key"] == key and o["type"] == "ok" and o["f"] == "read"]
    target = reads[len(reads) // 2]
    forged = copy.deepcopy([o for o in ops if o["key"] == key and o["f"] in ("read", "write", "cas")])
    for o in forged:
        if o["invoke"] == target["invoke"] and o["process"] == target["process"]:
            o["result"] = "never-written"
    assert linearizability.check(forged, runner.INITIAL)[0] is False
    # The report shows the history around the operation no linearization can place.
    forged_results = runner.check_history(forged, [key])
    assert not forged_results[key][0] and len(forged_results[key]) == 5
    near, stuck = forged_results[key][3], forged_results[key][4]
    assert stuck in near and any(o["result"] == "never-written" for o in near), (stuck, near)


def test_session_checker_rejects_what_it_must(tmp_path):
    from types import SimpleNamespace
    from kazoo.client import KazooClient
    from pyharness.servers import ConclaveServer
    srv = ConclaveServer(workdir=tmp_path / "node")
    srv.start()
    zk = KazooClient(hosts=srv.hosts, timeout=10.0)
    zk.start(timeout=15)
    try:
        zk.ensure_path("/eph")
        sid = zk.client_id[0]
        live = SimpleNamespace(name="live", zk=zk, sessions=[{"id": sid, "path": "/eph/live-%x" % sid, "ended": None}])
        # A live session whose ephemeral is gone.
        assert runner.check_ephemerals([live], {1: srv}, timeout=0)
        zk.create("/eph/live-%x" % sid, b"", ephemeral=True)
        assert runner.check_ephemerals([live], {1: srv}, timeout=0) == []
        # A session given up whose ephemeral stayed (here: a persistent znode of that name).
        zk.create("/eph/gone-1", b"")
        gone = SimpleNamespace(name="gone", zk=None, sessions=[{"id": 1, "path": "/eph/gone-1", "ended": 0.0}])
        assert runner.check_ephemerals([gone], {1: srv}, timeout=0)
    finally:
        zk.stop()
        zk.close()
        srv.stop()


def test_one_way_stall_holds_one_direction_only():
    import socket
    from cluster import Proxy
    from pyharness.servers import HOST
    srv = socket.socket()
    srv.bind((HOST, 0))
    srv.listen(1)
    proxy = Proxy(srv.getsockname()[1])
    try:
        dialer = socket.create_connection((HOST, proxy.port), timeout=5)
        target, _ = srv.accept()
        target.settimeout(5)
        proxy.stall("dialer")
        dialer.sendall(b"held")
        target.sendall(b"passes")
        assert dialer.recv(16) == b"passes"
        target.settimeout(0.5)
        try:
            got = target.recv(16)
        except socket.timeout:
            got = None
        assert got is None, "the stalled direction delivered %r" % got
        proxy.heal()
        target.settimeout(5)
        assert target.recv(16) == b"held"  # held, not lost: delivered once healed
    finally:
        proxy.close()
        srv.close()


def test_failing_fsync_stops_the_node_before_it_acknowledges(tmp_path):
    """Under tests/faults/fsyncfault.c: a slow disk slows syncs down, a failing one stops the node
    (fail-stop: no acknowledgement without durability), and after a restart on a healthy disk
    every acknowledged write is there."""
    from kazoo.client import KazooClient
    from kazoo.exceptions import KazooException
    from kazoo.handlers.threading import KazooTimeoutError
    from cluster import Cluster
    c = Cluster(1, fsync_faults=True).start()
    node = c.nodes[1]
    zk = KazooClient(hosts=node.hosts, timeout=10.0, connection_retry=None, command_retry=None)
    zk.start(timeout=15)
    try:
        zk.create("/before", b"x")
        before = c.metrics(1)
        c.set_disk(1, "delay 100")
        time.sleep(0.1)  # the shim reads its control file at most every 20 ms
        for k in range(3):
            zk.create("/slow%d" % k, b"x")
        after = c.metrics(1)
        syncs = after["conclave_wal_fsyncs_total"] - before["conclave_wal_fsyncs_total"]
        spent = after["conclave_wal_fsync_seconds_total"] - before["conclave_wal_fsync_seconds_total"]
        assert syncs >= 3 and spent >= 0.1 * syncs * 0.99, (syncs, spent)
        c.set_disk(1, "fail")
        time.sleep(0.1)
        acknowledged = True
        try:
            zk.create_async("/during", b"x").get(timeout=5)
        except (KazooException, KazooTimeoutError):
            acknowledged = False
        assert not acknowledged, "a write was acknowledged while fsync failed"
        deadline = time.monotonic() + 10
        while node.is_running() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not node.is_running(), "the node kept running on a disk whose fsync fails"
        c.set_disk(1, "")
        node.start()
        zk2 = KazooClient(hosts=node.hosts, timeout=10.0)
        zk2.start(timeout=15)
        try:
            for p in ["/before", "/slow0", "/slow1", "/slow2"]:
                assert zk2.exists(p), p + " was acknowledged and is gone"
        finally:
            zk2.stop()
            zk2.close()
    finally:
        zk.stop()
        zk.close()
        c.stop()
