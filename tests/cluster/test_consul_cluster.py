"""The Consul API on a 3-node cluster: writes through followers, the three consistency modes,
blocking queries on a follower woken by a write through the leader, and a lock taken from both
protocols at once (ZooKeeper ephemeral create and Consul acquire of the same key, released by
deleting it) across a kill -9 of the leader: never two holders (docs/consul.md, "Locks across
the two protocols")."""

import json
import random
import threading
import time
import urllib.error
import urllib.request

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException, NodeExistsError, NoNodeError

from cluster import Cluster


def http(node, method, path, body=None, timeout=10.0):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (node.http_port, path), data=body, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def value_of(body):
    import base64
    v = json.loads(body)[0]["Value"]
    return base64.b64decode(v) if v else b""


def test_follower_writes_consistency_modes_and_blocking():
    c = Cluster(3).start()
    try:
        leader = c.wait_leader()
        f1, f2 = [i for i in c.nodes if i != leader]
        # A write through a follower is forwarded and acknowledged after commit.
        assert http(c.nodes[f1], "PUT", "/v1/kv/cl/k", b"v1")[2] == b"true"
        for mode in ("", "?consistent"):
            # Default and consistent reads on any node see every acknowledged write.
            for i in c.nodes:
                status, headers, body = http(c.nodes[i], "GET", "/v1/kv/cl/k" + mode)
                assert status == 200 and value_of(body) == b"v1", (i, mode)
                assert headers["x-consul-knownleader"] == "true"
                want = "consistent" if mode else "leader"
                assert headers["x-consul-effective-consistency"] == want
        for n in range(20):
            assert http(c.nodes[leader], "PUT", "/v1/kv/cl/k", b"n%d" % n)[2] == b"true"
            status, _, body = http(c.nodes[f2], "GET", "/v1/kv/cl/k?consistent")
            assert value_of(body) == b"n%d" % n, "a consistent read on a follower missed an acknowledged write"
        status, headers, body = http(c.nodes[f2], "GET", "/v1/kv/cl/k?stale")
        assert status == 200 and headers["x-consul-effective-consistency"] == "stale"
        assert int(headers["x-consul-lastcontact"]) < 5000
        # A blocking query held by a follower wakes on a write through the leader.
        index = http(c.nodes[f1], "GET", "/v1/kv/cl/k")[1]["x-consul-index"]
        timer = threading.Timer(0.5, lambda: http(c.nodes[leader], "PUT", "/v1/kv/cl/k", b"woken"))
        timer.start()
        status, headers, body = http(c.nodes[f1], "GET", "/v1/kv/cl/k?index=%s&wait=20s" % index, timeout=30)
        timer.join()
        # Woken by the write (a timed-out query would carry the old value and index).
        assert status == 200 and value_of(body) == b"woken"
        assert int(headers["x-consul-index"]) > int(index)
        # Sessions made through a follower are seen everywhere; a lock taken on one node is held on all.
        status, _, body = http(c.nodes[f2], "PUT", "/v1/session/create", b'{"LockDelay": "0s"}')
        sid = json.loads(body)["ID"]
        assert http(c.nodes[f2], "PUT", "/v1/kv/cl/lock?acquire=" + sid, b"x")[2] == b"true"
        c.wait_converged()
        for i in c.nodes:
            status, _, body = http(c.nodes[i], "GET", "/v1/kv/cl/lock")
            assert json.loads(body)[0]["Session"] == sid
        assert http(c.nodes[leader], "PUT", "/v1/session/destroy/" + sid)[2] == b"true"
        assert "Session" not in json.loads(http(c.nodes[f1], "GET", "/v1/kv/cl/lock")[2])[0]
    finally:
        c.stop()


class Holds:
    """Intervals during which each contender believed it held the lock, on one monotonic clock."""

    def __init__(self):
        self.lock = threading.Lock()
        self.intervals = []  # (start, end, who)
        self.lost = []  # Consul contenders whose session was invalidated under them

    def add(self, start, end, who):
        with self.lock:
            self.intervals.append((start, end, who))

    def overlaps(self):
        iv = sorted(self.intervals)
        return [(a, b) for a, b in zip(iv, iv[1:]) if b[0] < a[1]]


def zk_contender(hosts, holds, stop, name, key):
    zk = KazooClient(hosts=hosts, timeout=10.0, connection_retry={"max_tries": -1, "delay": 0.05, "max_delay": 0.3},
                     command_retry={"max_tries": 0})
    zk.start(timeout=20)
    mine = 0
    try:
        while not stop.is_set():
            try:
                zk.create(key, name.encode(), ephemeral=True)
            except NodeExistsError:
                time.sleep(0.02)
                continue
            except KazooException:
                # Outcome unknown: do we own it?
                try:
                    data, stat = zk.get(key)
                    if stat.ephemeralOwner != zk.client_id[0]:
                        continue
                except (NoNodeError, KazooException):
                    time.sleep(0.05)
                    continue
            start = time.monotonic()
            time.sleep(0.05)
            end = time.monotonic()
            holds.add(start, end, name)
            mine += 1
            while True:
                try:
                    zk.delete(key)
                    break
                except NoNodeError:
                    break
                except KazooException:
                    time.sleep(0.05)
                    if stop.is_set() and not zk.connected:
                        break
    finally:
        zk.stop()
        zk.close()
    return mine


def consul_contender(nodes, holds, stop, name, key, first):
    state = {"i": first}

    def call(method, path, body=None):
        for _ in range(100):
            node = nodes[state["i"] % len(nodes)]
            if node.is_running():
                try:
                    return http(node, method, path, body, timeout=5)
                except OSError:
                    pass
            state["i"] += 1
            time.sleep(0.05)
        raise AssertionError("no node answered")

    sid = None
    while sid is None:
        # TTL-only: a session bound to its node's serfHealth (the default) is invalidated, and its
        # lock released, when that node is killed, which a holder that does not watch its
        # session cannot notice (Consul's own lock client learns it through its lost channel).
        status, _, body = call("PUT", "/v1/session/create", b'{"TTL": "10s", "LockDelay": "0s", "NodeChecks": []}')
        if status == 200:
            sid = json.loads(body)["ID"]
    last_renew = time.monotonic()
    try:
        while not stop.is_set():
            if time.monotonic() - last_renew > 2:
                status, _, _ = call("PUT", "/v1/session/renew/" + sid)
                if status == 404:
                    holds.lost.append(name)
                    return
                last_renew = time.monotonic()
            status, _, body = call("PUT", "/v1/kv/%s?acquire=%s" % (key, sid), name.encode())
            if status != 200:
                # Outcome unknown (leader lost): look.
                s2, _, b2 = call("GET", "/v1/kv/" + key + "?consistent")
                if not (s2 == 200 and json.loads(b2)[0].get("Session") == sid):
                    time.sleep(0.05)
                    continue
            elif body != b"true":
                time.sleep(0.02)
                continue
            start = time.monotonic()
            time.sleep(0.05)
            end = time.monotonic()
            holds.add(start, end, name)
            # Released by deleting the key while still holding it (the interoperable release:
            # ZooKeeper's side sees a lock as free only when the znode is gone).
            txn = json.dumps([{"KV": {"Verb": "check-session", "Key": key, "Session": sid}},
                              {"KV": {"Verb": "delete", "Key": key}}]).encode()
            for _ in range(50):
                status, _, body = call("PUT", "/v1/txn", txn)
                if status in (200, 409):  # 409: not ours any more (an earlier attempt went through)
                    break
                time.sleep(0.05)
    finally:
        call("PUT", "/v1/session/destroy/" + sid)


def test_cross_protocol_lock_exclusion_through_a_leader_kill():
    c = Cluster(3).start()
    try:
        holds = Holds()
        stop = threading.Event()
        nodes = list(c.nodes.values())
        zk_setup = KazooClient(hosts=c.hosts())
        zk_setup.start(timeout=20)
        zk_setup.ensure_path("/xlock")
        zk_setup.stop()
        threads = []
        leader = c.wait_leader()
        # consul0's session is made on the node about to be killed.
        first = {0: nodes.index(c.nodes[leader]), 1: random.randrange(len(nodes))}
        for n in range(2):
            threads.append(threading.Thread(target=zk_contender, args=(c.hosts(), holds, stop, "zk%d" % n, "/xlock/k")))
            threads.append(threading.Thread(target=consul_contender,
                                            args=(nodes, holds, stop, "consul%d" % n, "xlock/k", first[n])))
        for t in threads:
            t.start()
        time.sleep(3)
        assert c.wait_leader() == leader, "the leader changed before the kill"
        c.nodes[leader].kill9()
        c.wait_leader(exclude=leader, among=[i for i in c.nodes if i != leader])
        # Longer than the new leader takes to mark the killed node's serfHealth critical.
        time.sleep(5)
        c.nodes[leader].start()
        time.sleep(2)
        stop.set()
        for t in threads:
            t.join(60)
        who = {w for _, _, w in holds.intervals}
        print("\n%d holds by %s" % (len(holds.intervals), sorted(who)))
        assert any(w.startswith("zk") for w in who) and any(w.startswith("consul") for w in who), who
        assert len(holds.intervals) > 20
        assert holds.overlaps() == [], "two holders at once"
        assert holds.lost == [], "a TTL-only session did not survive its node's kill"
    finally:
        c.stop()
