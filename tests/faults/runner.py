"""Fault runs: a real Conclave cluster on loopback, concurrent clients through both protocols, faults
from a seeded schedule, every operation recorded, and the history checked for linearizability.

    /usr/bin/python3 tests/faults/runner.py [--seed N] [--seconds S] [--nodes 3|5] [--out DIR]
    /usr/bin/python3 tests/faults/runner.py --seeds 1-200 --seconds 10 --out DIR   (a batch)

Workloads: read order (plain ZooKeeper reads and Consul stale reads never older than what their client
had seen: check_read_order), sessions (every ZooKeeper client session creates an ephemeral; at the end a session
still held has it on every node, one given up has lost it everywhere), unique append (ZooKeeper sequential znodes under /seq: distinct numbers in real-time
order, all present on every node at the end), and compare-and-set registers. Each key is one znode `/reg/kN` and the same Consul key
`reg/kN`, so both protocols operate on one register:
  - ZooKeeper clients (kazoo, any node): read = sync + getData; write = setData; cas = a read, then
    setData conditioned on the version read (BadVersion: the cas failed);
  - Consul clients (HTTP, one node each): read = GET ?consistent; write = PUT; cas = a read, then
    PUT ?cas=<ModifyIndex read>.
Written values are unique, so both conditional writes are compare-and-sets on the value read.
A counter (znode /ctr, Consul key `ctr`: one value) is incremented the optimistic way through both
protocols (read it, write the next value at the version or ModifyIndex read): no two acknowledged
increments may have read the same value (a lost update), and the final value lies between the
acknowledged increments and those plus the unanswered ones.
Locks (three kinds, two contenders each): two Consul contenders (sessions with a TTL and a lock delay, `?acquire=` on the key `lock`)
make fenced writes while they hold it, each a txn that checks their session holds the lock, reads
the lock's entry and sets `fenced`; ordered by the index of their write, the lock indexes they ran
under never decrease and each belongs to one session (never two holders of one acquisition). The
same check covers two kazoo `Lock` contenders and two Curator `InterProcessMutex` contenders
(tests/faults/curator/CuratorLock.java, a JVM each), whose fenced write is a transaction that
checks the holder's lock znode, with the znode's sequence number as the fencing token.
A queue (`/queue`, two clients producing and consuming as kazoo's Queue recipe does; an unanswered
claim is recorded, not retried): every dequeued element was enqueued and is dequeued once, no
acknowledged enqueue is lost (check_queue, on every node's final view).
Watches: two kazoo clients watch `/reg/k0` as applications do (read with a data watch, wait for the
event, read again; never polling), and two Consul blocking queries (one per node) wait on `reg/k0`
the way consul-template does. Within a kazoo session the zxids read never go back, the
ModifyIndex a blocking query reads never goes back, and after the faults every watcher of either
kind is notified of one last write and reads it.
Outcomes: ok (acknowledged, with its result), fail (certainly not applied: refused before it was
sent, or a definite error), info (timeout, lost connection, 5xx: may or may not have happened).

Faults (seeded, one at a time, each healed before the next): kill -9 of a node (often the leader)
and its restart, SIGSTOP/SIGCONT, a leadership transfer, a partition of one node from the others
(majority/minority), a bridge (the others in two halves that reach each other only through one
node), a partial partition (the peer links one node dials, to higher ids: it still
reaches lower ids), a one-way partition (one direction of all of a node's links held), a slow disk
(every fsync of one node delayed 20-400 ms), a failing disk (fsync returns EIO: the node must
stop, and is restarted on a healthy disk; both through tests/faults/fsyncfault.c), and a
membership change: an extra node (outside the proxy mesh) leaves the voters or joins them again
with the log it kept; it ends the run a voter, and its state is checked with the others'.
At the end everything is healed and every key is read once more.

History: <out>/history.jsonl (one operation per line: process, key, f, value, expect, type, result,
invoke, complete in monotonic seconds, wall clock); faults in <out>/faults.jsonl. Exit status 0
when every key's history is linearizable.
"""

import argparse
import base64
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "cluster"))

from kazoo.client import KazooClient  # noqa: E402
from kazoo.exceptions import BadVersionError, KazooException, NoNodeError  # noqa: E402

from cluster import Cluster  # noqa: E402
from pyharness import servers  # noqa: E402
from pyharness.servers import HOST, ConclaveServer, free_port  # noqa: E402
import linearizability  # noqa: E402

INITIAL = "init"
CHECK_SECONDS = 120      # the linearizability search's budget per key; past it the key is "unknown"
QUEUE = "/queue"        # QueueProcess: kazoo's Queue recipe
COUNTER_ZNODE = "/ctr"  # the same value as the Consul key COUNTER_KEY
COUNTER_KEY = "ctr"
ZK_LOCK = "/zklock"      # kazoo Lock recipe; fenced writes go to ZK_FENCED
ZK_FENCED = "/zkfenced"
CURATOR_LOCK = "/curlock"      # Curator InterProcessMutex; fenced writes go to CURATOR_FENCED
CURATOR_FENCED = "/curfenced"


def settled(fn, what, timeout=30.0):
    """fn() once the cluster answers: after the faults an election may still be under way, and a
    ZooKeeper call then fails with ConnectionLoss (outcome unknown); the checks retry, bounded."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except KazooException as e:
            if time.monotonic() > deadline:
                raise AssertionError("%s did not succeed within %.0f s after the faults: %r" % (what, timeout, e))
            time.sleep(0.2)


def fault_client(hosts):
    """A kazoo client as the workloads use it: retries reconnecting for ever, quickly, so a fault
    costs it a session only when the session really expires."""
    return KazooClient(hosts=hosts, timeout=4.0, connection_retry={"max_tries": -1, "delay": 0.05, "max_delay": 0.5})


def close_quietly(zk):
    """Stops and closes a kazoo client whatever state the faults left it in."""
    try:
        zk.stop()
        zk.close()
    except Exception:
        pass


class History:
    def __init__(self):
        self.lock = threading.Lock()
        self.ops = []

    def invoke(self, process, key, f, value=None, expect=None):
        return {"process": process, "key": key, "f": f, "value": value, "expect": expect,
                "invoke": time.monotonic(), "wall": time.time()}

    def finish(self, op, kind, result=None):
        op["type"] = kind
        op["result"] = result
        op["complete"] = time.monotonic()
        with self.lock:
            self.ops.append(op)
        return op


class ZkProcess(threading.Thread):
    def __init__(self, name, hosts, keys, history, stop, rng):
        super().__init__(daemon=True, name=name)
        self.hosts, self.keys, self.h, self.stop_ev, self.rng = hosts, keys, history, stop, rng
        self.n = 0
        self.zk = None
        self.generation = 0  # one per KazooClient: the read-order check follows each one's view
        self.close_at_end = True
        # Each session this process opened, with the ephemeral it created in it:
        # {"id", "path", "ended": monotonic time we let it go (None: still ours)}.
        self.sessions = []

    def connect(self):
        if self.zk is not None:
            for sess in self.sessions:
                if sess["ended"] is None:
                    sess["ended"] = time.monotonic()
            close_quietly(self.zk)
        self.zk = fault_client(self.hosts)
        self.generation += 1
        try:
            self.zk.start(timeout=10)
            sid = self.zk.client_id[0]
            path = "/eph/%s-%x" % (self.name, sid)
            self.zk.create_async(path, b"", ephemeral=True).get(timeout=3)
            self.sessions.append({"id": sid, "path": path, "ended": None})
        except Exception:
            pass  # no session, or its ephemeral's fate is unknown: not tracked

    def tag(self, op):
        """Marks `op` for the read-order check: the client it ran in, and the newest zxid that
        client had been sent when it sent `op` (kazoo's last_zxid, which it also presents when it
        reconnects, and which a server behind it must refuse)."""
        op["group"] = "%s/%d" % (self.name, self.generation)
        op["seen"] = self.zk.last_zxid
        return op

    def read(self, key, synced=True):
        """synced: `sync` then getData (linearizable); otherwise a plain getData, which ZooKeeper
        only promises to be sequentially consistent."""
        op = self.tag(self.h.invoke(self.name, key, "read" if synced else "sread"))
        try:
            if synced:
                self.zk.sync_async("/reg/" + key).get(timeout=3)
            data, st = self.zk.get_async("/reg/" + key).get(timeout=3)
            op["index"] = st.mzxid
            self.h.finish(op, "ok", data.decode())
            return data.decode(), st.version
        except Exception:
            self.h.finish(op, "info")
            return None, None

    def increment(self):
        """Curator's optimistic increment of the shared counter: read it with its version, write
        the next value at that version."""
        try:
            data, st = self.zk.get_async(COUNTER_ZNODE).get(timeout=3)
        except Exception:
            return
        current = int(data.decode())
        op = self.h.invoke(self.name, "ctr", "incr", current + 1, current)
        try:
            self.zk.set_async(COUNTER_ZNODE, str(current + 1).encode(), version=st.version).get(timeout=3)
            self.h.finish(op, "ok", True)
        except BadVersionError:
            self.h.finish(op, "ok", False)
        except Exception:
            self.h.finish(op, "info")

    def run(self):
        self.connect()
        while not self.stop_ev.is_set():
            if self.zk is None or not self.zk.connected:
                time.sleep(0.05)
                if self.zk is None or self.rng.random() < 0.05:
                    self.connect()
                continue
            key = self.rng.choice(self.keys)
            f = self.rng.choice(["read", "sread", "write", "cas", "cas", "append", "incr"])
            if f in ("read", "sread"):
                self.read(key, synced=f == "read")
                continue
            if f == "incr":
                self.increment()
                continue
            self.n += 1
            value = "%s-%d" % (self.name, self.n)
            if f == "append":
                # Unique append: a sequential znode; its sequence number is its place in the log.
                op = self.h.invoke(self.name, "seq", "append", value)
                try:
                    path = self.zk.create_async("/seq/n-", value.encode(), sequence=True).get(timeout=3)
                    self.h.finish(op, "ok", path)
                except Exception:
                    self.h.finish(op, "info")
                continue
            if f == "write":
                op = self.tag(self.h.invoke(self.name, key, "write", value))
                try:
                    op["index"] = self.zk.set_async("/reg/" + key, value.encode()).get(timeout=3).mzxid
                    self.h.finish(op, "ok")
                except Exception:
                    self.h.finish(op, "info")
                continue
            current, version = self.read(key)
            if current is None:
                continue
            op = self.tag(self.h.invoke(self.name, key, "cas", value, current))
            try:
                op["index"] = self.zk.set_async("/reg/" + key, value.encode(), version=version).get(timeout=3).mzxid
                self.h.finish(op, "ok", True)
            except BadVersionError:
                self.h.finish(op, "ok", False)
            except Exception:
                self.h.finish(op, "info")
        if self.zk is not None and self.close_at_end:
            close_quietly(self.zk)


class ConsulProcess(threading.Thread):
    def __init__(self, name, node, keys, history, stop, rng):
        super().__init__(daemon=True, name=name)
        self.node, self.keys, self.h, self.stop_ev, self.rng = node, keys, history, stop, rng
        self.n = 0

    def call(self, method, path, body=None):
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.node.http_port, path), data=body, method=method)
        with urllib.request.urlopen(req, timeout=3) as r:
            return r.status, r.read()

    def classify(self, op, exc, write):
        # Refused before anything was sent: certainly not applied.
        reason = getattr(exc, "reason", None)
        if isinstance(reason, ConnectionRefusedError) or isinstance(exc, ConnectionRefusedError):
            return self.h.finish(op, "fail")
        if isinstance(exc, urllib.error.HTTPError) and exc.code < 500:
            return self.h.finish(op, "fail")
        return self.h.finish(op, "info")

    def read(self, key, consistent=True):
        """consistent: `?consistent` (linearizable); otherwise `?stale`, served by this node from
        what it has applied: it may lag, but within one run of the node it never goes back."""
        op = self.h.invoke(self.name, key, "read" if consistent else "stale")
        pid = self.node.pid
        if not consistent:
            op["group"] = "%s@%s" % (self.name, pid)
        try:
            _, body = self.call("GET", "/v1/kv/reg/%s?%s" % (key, "consistent" if consistent else "stale"))
            entry = json.loads(body)[0]
            value = base64.b64decode(entry["Value"] or "").decode()
            op["index"] = entry["ModifyIndex"]
            if self.node.pid != pid:
                op.pop("group", None)  # the node restarted meanwhile: which run answered is unknown
            self.h.finish(op, "ok", value)
            return value, entry["ModifyIndex"]
        except Exception as e:
            self.classify(op, e, False)
            return None, None

    def increment(self):
        """The same counter through the Consul API: a consistent read, then ?cas= at its ModifyIndex."""
        try:
            _, body = self.call("GET", "/v1/kv/%s?consistent" % COUNTER_KEY)
            entry = json.loads(body)[0]
            current = int(base64.b64decode(entry["Value"] or "").decode())
        except Exception:
            time.sleep(0.05)
            return
        op = self.h.invoke(self.name, "ctr", "incr", current + 1, current)
        try:
            _, body = self.call("PUT", "/v1/kv/%s?cas=%d" % (COUNTER_KEY, entry["ModifyIndex"]), str(current + 1).encode())
            self.h.finish(op, "ok", body.strip() == b"true")
        except Exception as e:
            self.classify(op, e, True)
            time.sleep(0.05)

    def run(self):
        while not self.stop_ev.is_set():
            key = self.rng.choice(self.keys)
            f = self.rng.choice(["read", "stale", "write", "cas", "cas", "incr"])
            if f in ("read", "stale"):
                if self.read(key, consistent=f == "read")[0] is None:
                    time.sleep(0.05)
                continue
            if f == "incr":
                self.increment()
                continue
            self.n += 1
            value = "%s-%d" % (self.name, self.n)
            if f == "write":
                op = self.h.invoke(self.name, key, "write", value)
                try:
                    _, body = self.call("PUT", "/v1/kv/reg/%s" % key, value.encode())
                    self.h.finish(op, "ok" if body.strip() == b"true" else "fail")
                except Exception as e:
                    self.classify(op, e, True)
                    time.sleep(0.05)
                continue
            current, index = self.read(key)
            if current is None:
                time.sleep(0.05)
                continue
            op = self.h.invoke(self.name, key, "cas", value, current)
            try:
                _, body = self.call("PUT", "/v1/kv/reg/%s?cas=%d" % (key, index), value.encode())
                self.h.finish(op, "ok", body.strip() == b"true")
            except Exception as e:
                self.classify(op, e, True)
                time.sleep(0.05)


class LockProcess(threading.Thread):
    """A Consul lock contender (one node): a session with a TTL and a lock delay, `?acquire=` on the
    key `lock`, and while it holds the lock, fenced writes: one txn that checks the session still
    holds the lock, reads the lock's entry and sets `fenced`. The txn's results give the lock index
    it ran under and the index of the write, so the checker can order the fenced writes."""

    def __init__(self, name, node, history, stop, rng):
        super().__init__(daemon=True, name=name)
        self.node, self.h, self.stop_ev, self.rng = node, history, stop, rng
        self.n = 0

    def call(self, method, path, body=None):
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.node.http_port, path), data=body, method=method)
        with urllib.request.urlopen(req, timeout=3) as r:
            return r.status, r.read()

    def finish_error(self, op, exc):
        reason = getattr(exc, "reason", None)
        definite = isinstance(reason, ConnectionRefusedError) or isinstance(exc, ConnectionRefusedError) or (
            isinstance(exc, urllib.error.HTTPError) and exc.code < 500)
        self.h.finish(op, "fail" if definite else "info")

    def fenced_write(self, sid):
        self.n += 1
        value = "%s-%d" % (self.name, self.n)
        ops = [{"KV": {"Verb": "check-session", "Key": "lock", "Session": sid}},
               {"KV": {"Verb": "get", "Key": "lock"}},
               {"KV": {"Verb": "set", "Key": "fenced", "Value": base64.b64encode(value.encode()).decode()}}]
        op = self.h.invoke(self.name, "lock", "fenced", value, sid)
        try:
            _, body = self.call("PUT", "/v1/txn", json.dumps(ops).encode())
            results = json.loads(body)["Results"]
            lock, write = results[1]["KV"], results[2]["KV"]
            self.h.finish(op, "ok", {"session": lock.get("Session"), "lock_index": lock["LockIndex"],
                                     "modify_index": write["ModifyIndex"]})
            return True
        except urllib.error.HTTPError as e:
            # 409: rolled back, the session no longer holds the lock.
            self.h.finish(op, "fail" if e.code == 409 else ("fail" if e.code < 500 else "info"))
            return False
        except Exception as e:
            self.finish_error(op, e)
            return False

    def run(self):
        sid = None
        while not self.stop_ev.is_set():
            if sid is None:
                try:
                    _, body = self.call("PUT", "/v1/session/create",
                                        json.dumps({"TTL": "15s", "LockDelay": "1s", "Name": self.name}).encode())
                    sid = json.loads(body)["ID"]
                except Exception:
                    time.sleep(0.1)
                    continue
            op = self.h.invoke(self.name, "lock", "acquire", None, sid)
            try:
                _, body = self.call("PUT", "/v1/kv/lock?acquire=" + sid, self.name.encode())
                held = body.strip() == b"true"
                self.h.finish(op, "ok", held)
            except Exception as e:
                self.finish_error(op, e)
                held = False
            if held:
                for _ in range(self.rng.randint(1, 3)):
                    if not self.fenced_write(sid):
                        break
                    time.sleep(self.rng.uniform(0, 0.03))
                op = self.h.invoke(self.name, "lock", "release", None, sid)
                try:
                    _, body = self.call("PUT", "/v1/kv/lock?release=" + sid)
                    self.h.finish(op, "ok", body.strip() == b"true")
                except Exception as e:
                    self.finish_error(op, e)
            else:
                time.sleep(0.05)
            try:
                if self.rng.random() < 0.1:
                    self.call("PUT", "/v1/session/destroy/" + sid)
                    sid = None
                else:
                    _, body = self.call("PUT", "/v1/session/renew/" + sid)
                    if not json.loads(body):
                        sid = None
            except urllib.error.HTTPError as e:
                if e.code == 404:
                    sid = None  # invalidated (TTL expired while a fault lasted)
                time.sleep(0.05)
            except Exception:
                time.sleep(0.05)


class QueueProcess(threading.Thread):
    """A producer and consumer of the queue `/queue`, as kazoo's `Queue` recipe works: put is a
    sequential create; get lists the children, reads the lowest and claims it by deleting it (a
    NoNode means another consumer took it: try the next). Unlike the recipe, an unanswered delete
    is not retried out of sight: it is recorded as a dequeue of unknown outcome."""

    def __init__(self, name, hosts, history, stop, rng):
        super().__init__(daemon=True, name=name)
        self.hosts, self.h, self.stop_ev, self.rng = hosts, history, stop, rng
        self.n = 0

    def dequeue(self, zk):
        try:
            names = sorted(zk.get_children_async(QUEUE).get(timeout=3))
        except Exception:
            time.sleep(0.05)
            return
        for name in names[:5]:
            path = QUEUE + "/" + name
            try:
                data = zk.get_async(path).get(timeout=3)[0].decode()
            except NoNodeError:
                continue
            except Exception:
                time.sleep(0.05)
                return
            op = self.h.invoke(self.name, "queue", "dequeue", data)
            try:
                zk.delete_async(path).get(timeout=3)
                self.h.finish(op, "ok", data)
                return
            except NoNodeError:
                self.h.finish(op, "fail")  # another consumer claimed it
            except Exception:
                self.h.finish(op, "info")
                time.sleep(0.05)
                return

    def run(self):
        zk = fault_client(self.hosts)
        try:
            zk.start(timeout=15)
        except Exception:
            return
        try:
            while not self.stop_ev.is_set():
                if not zk.connected:
                    time.sleep(0.05)
                    continue
                if self.rng.random() < 0.55:
                    self.n += 1
                    value = "%s-%d" % (self.name, self.n)
                    op = self.h.invoke(self.name, "queue", "enqueue", value)
                    try:
                        self.h.finish(op, "ok", zk.create_async(QUEUE + "/e-", value.encode(), sequence=True).get(timeout=3))
                    except Exception:
                        self.h.finish(op, "info")
                        time.sleep(0.05)
                else:
                    self.dequeue(zk)
        finally:
            close_quietly(zk)


class ZkLockProcess(threading.Thread):
    """A kazoo `Lock` contender on `/zklock` (any node). While it holds the lock it makes fenced
    writes: a transaction that checks its lock znode still exists and sets `/zkfenced`. The lock
    znode's sequence number is the fencing token (one per acquisition) and the write's mzxid orders
    the writes, so `check_locks` applies as to the Consul lock."""

    def __init__(self, name, hosts, history, stop, rng):
        super().__init__(daemon=True, name=name)
        self.hosts, self.h, self.stop_ev, self.rng = hosts, history, stop, rng
        self.n = 0

    def run(self):
        zk = fault_client(self.hosts)
        try:
            zk.start(timeout=15)
        except Exception:
            return
        lock = zk.Lock(ZK_LOCK, self.name)
        try:
            while not self.stop_ev.is_set():
                op = self.h.invoke(self.name, "zklock", "acquire")
                try:
                    held = lock.acquire(timeout=3)
                    self.h.finish(op, "ok", held)
                except Exception:
                    self.h.finish(op, "info")
                    held = False
                    time.sleep(0.1)
                if not held:
                    continue
                node = lock.node
                token = int(node[-10:])
                for _ in range(self.rng.randint(1, 3)):
                    self.n += 1
                    value = "%s-%d" % (self.name, self.n)
                    op = self.h.invoke(self.name, "zklock", "fenced", value, node)
                    try:
                        t = zk.transaction()
                        t.check(ZK_LOCK + "/" + node, 0)
                        t.set_data(ZK_FENCED, value.encode())
                        results = t.commit()
                        if isinstance(results[1], Exception):
                            self.h.finish(op, "fail")
                            break
                        self.h.finish(op, "ok", {"session": node, "lock_index": token,
                                                 "modify_index": results[1].mzxid})
                    except Exception:
                        self.h.finish(op, "info")
                        break
                    time.sleep(self.rng.uniform(0, 0.03))
                op = self.h.invoke(self.name, "zklock", "release")
                try:
                    self.h.finish(op, "ok", lock.release())
                except Exception:
                    self.h.finish(op, "info")
        finally:
            close_quietly(zk)


class CuratorLockProcess(threading.Thread):
    """A Curator `InterProcessMutex` contender on `/curlock` (tests/faults/curator/CuratorLock.java,
    a JVM of its own, every node in its connection string): the same fenced writes as the kazoo
    contender, under the recipe Java applications use. Its operations arrive as JSON lines on the
    program's stdout and go into the history as they come."""

    def __init__(self, name, hosts, history, stop):
        super().__init__(daemon=True, name=name)
        self.hosts, self.h, self.stop_ev = hosts, history, stop
        self.ready = threading.Event()
        self.errors = []

    def run(self):
        import subprocess
        from pyharness.curator import classpath
        proc = subprocess.Popen(["java", "-cp", classpath(), str(HERE / "curator" / "CuratorLock.java"), self.hosts,
                                 self.name, CURATOR_LOCK, CURATOR_FENCED],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        stopper = threading.Thread(target=self._stop_when_asked, args=(proc,), daemon=True)
        stopper.start()
        wall_offset = time.time() - time.monotonic()
        for line in proc.stdout:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if rec.get("ready"):
                self.ready.set()
                continue
            rec.update(process=self.name, key="curlock", wall=rec["invoke"] + wall_offset)
            with self.h.lock:
                self.h.ops.append(rec)
        proc.wait()
        if proc.returncode not in (0, None):
            self.errors.append("%s exited %s: %s" % (self.name, proc.returncode, proc.stderr.read()[-2000:]))
        self.ready.set()

    def _stop_when_asked(self, proc):
        self.stop_ev.wait()
        try:
            proc.stdin.close()
        except OSError:
            pass
        try:
            proc.wait(20)
        except Exception:
            proc.kill()


class ZkWatchProcess(threading.Thread):
    """A kazoo client watching one register znode the way applications do: read it with a data
    watch, wait for the event, read it again (which sets the next watch). It never polls: a lost
    notification leaves it behind for good. Runs until `done` is set, after the final write."""

    def __init__(self, name, hosts, path, done):
        super().__init__(daemon=True, name=name)
        self.hosts, self.path, self.done = hosts, path, done
        self.observed = []  # (session id, mzxid, version), in the order read
        self.fired = threading.Event()
        self.zk = None

    def on_event(self, event):
        self.fired.set()

    def on_state(self, state):
        if state == "LOST":
            self.fired.set()  # the session's watches died with it: read again in the new one

    def run(self):
        self.zk = fault_client(self.hosts)
        self.zk.add_listener(self.on_state)
        try:
            self.zk.start(timeout=15)
        except Exception:
            return
        self.fired.set()
        while not self.done.is_set():
            if not self.fired.wait(0.2):
                continue
            self.fired.clear()
            try:
                _, st = self.zk.get(self.path, watch=self.on_event)
                self.observed.append((self.zk.client_id[0], st.mzxid, st.version))
            except Exception:
                self.fired.set()  # not read, so no watch set: try again
                time.sleep(0.1)
        close_quietly(self.zk)


class ConsulWatchProcess(threading.Thread):
    """A Consul blocking query on one key through one node, as consul-template and `consul watch`
    do: GET ?index=<last X-Consul-Index>&wait=, then again with the index it returned (reset to 0
    if it goes back, as Consul's docs ask). It never polls faster than the server answers: a lost
    wake-up leaves it waiting out `wait` each time and, at the end, not having seen the final write."""

    def __init__(self, name, node, key, done):
        super().__init__(daemon=True, name=name)
        self.node, self.key, self.done = node, key, done
        self.observed = []  # (X-Consul-Index, ModifyIndex, value), in the order read
        self.index_went_back = 0

    def run(self):
        index = 0
        while not self.done.is_set():
            url = "http://127.0.0.1:%d/v1/kv/%s?index=%d&wait=2s" % (self.node.http_port, self.key, index)
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    header = int(r.headers.get("X-Consul-Index", "0"))
                    entry = json.loads(r.read())[0]
            except Exception:
                time.sleep(0.1)
                continue
            value = base64.b64decode(entry["Value"] or "").decode()
            self.observed.append((header, entry["ModifyIndex"], value))
            if header < index:
                self.index_went_back += 1
                index = 0
            else:
                index = header


def check_consul_watches(watchers, final_value):
    """Problems with the blocking-query watchers (empty: none): the ModifyIndex each one read never
    goes back, and each one read the final write."""
    problems = []
    for w in watchers:
        last = 0
        for header, modify, value in w.observed:
            if modify < last:
                problems.append("%s read ModifyIndex %d after %d (X-Consul-Index %d)" % (w.name, modify, last, header))
            last = max(last, modify)
        if not any(value == final_value for _, _, value in w.observed):
            problems.append("%s never read the final write %r (last read: %s)" % (
                w.name, final_value, w.observed[-1] if w.observed else "nothing"))
    return problems


def check_watches(watchers, final_mzxid):
    """Problems with the watchers (empty: none): within a session the zxids read never go back, and
    every watcher was notified of the final write and read it."""
    problems = []
    for w in watchers:
        last = {}
        for sid, mzxid, version in w.observed:
            if mzxid < last.get(sid, 0):
                problems.append("%s read mzxid %x after %x in session %x" % (w.name, mzxid, last[sid], sid))
            last[sid] = max(last.get(sid, 0), mzxid)
        seen = max((m for _, m, _ in w.observed), default=0)
        if final_mzxid is None or seen < final_mzxid:
            problems.append("%s was not notified of the final write (last read mzxid %x, final %s)" % (
                w.name, seen, "unknown" if final_mzxid is None else "%x" % final_mzxid))
    return problems


def check_locks(ops, key="lock"):
    """Problems with the Consul lock's fenced writes (empty: none). Ordered by the index of their
    write, fenced writes run under lock indexes that never decrease, and each lock index (one
    acquisition) belongs to one session: two holders at once would break one or the other."""
    fenced = sorted((o for o in ops if o["key"] == key and o["f"] == "fenced" and o["type"] == "ok"),
                    key=lambda o: o["result"]["modify_index"])
    problems = []
    owner = {}
    last = None
    for o in fenced:
        r = o["result"]
        if r["session"] != o["expect"]:
            problems.append("%s's fenced write %s ran while session %s held the lock, not its own %s" % (
                o["process"], o["value"], r["session"], o["expect"]))
        prev = owner.setdefault(r["lock_index"], (o["expect"], o))
        if prev[0] != o["expect"]:
            problems.append("two holders of lock index %d: sessions %s (%s) and %s (%s)" % (
                r["lock_index"], prev[0], prev[1]["value"], o["expect"], o["value"]))
        if last is not None and r["lock_index"] < last["result"]["lock_index"]:
            problems.append("fenced write %s at index %d ran under lock index %d, after %s at index %d under %d" % (
                o["value"], r["modify_index"], r["lock_index"], last["value"], last["result"]["modify_index"],
                last["result"]["lock_index"]))
        last = o
    return problems


class Member:
    """An extra node, outside the proxy mesh (the others reach it at its own port, which a
    membership change announces), that the "member" fault removes from and adds back to the
    voters. It starts as a learner and is made a voter before the load starts."""

    def __init__(self, cluster):
        self.id = cluster.n + 1
        self.raft_port = free_port()
        peers = ",".join("%d=%s:%d" % (i, HOST, cluster.raft_ports[i]) for i in sorted(cluster.nodes))
        self.node = ConclaveServer(extra_args=["--node-id", str(self.id), "--raft-port", str(self.raft_port),
                                               "--peers", peers, "--learner", "--tick-ms", "1000"],
                                   name="node%d" % self.id)
        self.voter = False
        self.changes = []  # (change, outcome)

    def change(self, via, voter):
        if voter:
            path = "/v1/operator/raft/peer?id=%d&address=%s:%d&voter=true" % (self.id, HOST, self.raft_port)
            method = "PUT"
        else:
            path, method = "/v1/operator/raft/peer?id=%d" % self.id, "DELETE"
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (via.http_port, path), data=b"", method=method)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                r.read()
            self.voter = voter
            return "done"
        except urllib.error.HTTPError as e:
            return "refused %d: %s" % (e.code, e.read().decode(errors="replace").strip()[:120])
        except Exception as e:  # a timeout: the change may or may not have been made
            return "unknown: %s" % e

    def toggle(self, via):
        what = "remove" if self.voter else "add voter"
        outcome = self.change(via, not self.voter)
        if outcome.startswith("unknown"):
            self.voter = None  # find out below
        if self.voter is None:
            self.voter = self.is_voter(via)
        self.changes.append((what, outcome))
        return what, outcome

    def is_leader(self):
        if not self.node.is_running():
            return False
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.node.http_port, timeout=3) as r:
                return "\nconclave_raft_leader 1\n" in "\n" + r.read().decode()
        except Exception:
            return False

    def is_voter(self, via):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/v1/operator/raft/configuration" % via.http_port,
                                        timeout=5) as r:
                servers = json.loads(r.read())["Servers"]
            return any(s["ID"] == str(self.id) and s["Voter"] for s in servers)
        except Exception:
            return False


def leader_node(c, member, timeout=30):
    """The leader's server, once there is one: a node of the mesh or the extra member (which can
    win an election once it is a voter)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        i = c.leader()
        if i is not None:
            return c.nodes[i]
        if member and member.is_leader():
            return member.node
        time.sleep(0.05)
    raise AssertionError("no leader among nodes %s and %d within %ss" % (sorted(c.nodes), member.id if member else 0,
                                                                        timeout))


class Nemesis(threading.Thread):
    """One fault at a time from a seeded schedule, each healed before the next."""

    def __init__(self, cluster, rng, stop, log, member=None):
        super().__init__(daemon=True, name="nemesis")
        self.c, self.rng, self.stop_ev, self.log = cluster, rng, stop, log
        self.member = member  # the node whose membership the "member" fault changes (Member)
        self.killed = set()  # nodes down because we killed them
        self.crashes = []    # (node, exit status) of nodes that died on their own

    def restart(self, i):
        """Starts node i again; it stays in `killed` (down on purpose) until a start succeeds."""
        try:
            self.c.nodes[i].start(wait=False)
            self.killed.discard(i)
        except Exception as e:  # e.g. the binary is being replaced: try again on the next round
            self.record("restart-failed", node=i, error=str(e))

    def check_alive(self):
        """A node that exited without being killed crashed: record it and bring it back."""
        for i, node in self.c.nodes.items():
            if node.is_running():
                continue
            if i not in self.killed:
                self.crashes.append((i, node.proc.returncode if node.proc else None))
                self.record("crash-found", node=i, status=self.crashes[-1][1], log=str(node.log_path))
                self.killed.add(i)
            self.restart(i)

    def record(self, what, **kw):
        entry = dict(kw, fault=what, at=time.monotonic(), wall=time.time())
        self.log.append(entry)

    def pick_node(self):
        if self.rng.random() < 0.5:
            leader = self.c.leader()
            if leader is not None:
                return leader
        return self.rng.choice(sorted(self.c.nodes))

    def run(self):
        while not self.stop_ev.wait(self.rng.uniform(1.0, 2.5)):
            self.check_alive()
            kind = self.rng.choice(["kill", "pause", "partition", "partial", "bridge", "transfer", "oneway",
                                    "slow-disk", "disk-fail"] + (["member"] if self.member else []))
            node = self.pick_node()
            hold = self.rng.uniform(1.0, 3.0)
            self.record(kind, node=node, hold=round(hold, 2))
            if kind == "kill":
                self.killed.add(node)
                self.c.nodes[node].kill9()
                self.stop_ev.wait(hold)
                self.restart(node)
            elif kind == "pause":
                os.kill(self.c.nodes[node].pid, signal.SIGSTOP)
                self.stop_ev.wait(hold)
                os.kill(self.c.nodes[node].pid, signal.SIGCONT)
            elif kind == "partition":
                for (a, b), p in self.c.proxies.items():
                    if node in (a, b):
                        p.cut()
                self.stop_ev.wait(hold)
                for p in self.c.proxies.values():
                    p.heal()
            elif kind == "oneway":
                # One direction of every link of this node is held: either it hears the others
                # but cannot reach them, or they hear it but it cannot hear them.
                outbound = self.rng.random() < 0.5
                self.log[-1]["direction"] = "outbound" if outbound else "inbound"
                for (a, b), p in self.c.proxies.items():
                    if node in (a, b):
                        p.stall("dialer" if (node == a) == outbound else "target")
                self.stop_ev.wait(hold)
                for p in self.c.proxies.values():
                    p.heal()
            elif kind == "bridge":
                # The others split in two halves that reach each other only through this node
                # (Jepsen's bridge): each half plus the bridge is a majority, so two leaders could
                # each believe they have one.
                others = [i for i in sorted(self.c.nodes) if i != node]
                self.rng.shuffle(others)
                half = set(others[:len(others) // 2])
                self.log[-1]["halves"] = [sorted(half), sorted(set(others) - half)]
                for (a, b), p in self.c.proxies.items():
                    if node not in (a, b) and ((a in half) != (b in half)):
                        p.cut()
                self.stop_ev.wait(hold)
                for p in self.c.proxies.values():
                    p.heal()
            elif kind == "slow-disk":
                ms = self.rng.choice([20, 100, 400])
                self.log[-1]["delay_ms"] = ms
                self.c.set_disk(node, "delay %d" % ms)
                self.stop_ev.wait(hold)
                self.c.set_disk(node, "")
            elif kind == "disk-fail":
                # fsync fails with EIO: the node must stop (fail-stop) rather than acknowledge;
                # it is expected to exit, and comes back on a healthy disk.
                self.killed.add(node)
                self.c.set_disk(node, "fail")
                self.stop_ev.wait(hold)
                self.c.set_disk(node, "")
                if self.c.nodes[node].is_running():
                    self.killed.discard(node)
                    self.log[-1]["outcome"] = "still running (no sync while failing)"
                else:
                    self.log[-1]["outcome"] = "stopped, exit status %s" % self.c.nodes[node].proc.returncode
                    self.restart(node)
            elif kind == "member":
                # A membership change while the load runs: the extra node leaves the voters, or
                # joins them again with the log it kept while it was out. Sent to any node (a
                # follower forwards it); refused when no quorum of the new set is reachable.
                via = self.c.nodes[node]
                self.log[-1]["change"], self.log[-1]["outcome"] = self.member.toggle(via)
                self.stop_ev.wait(hold)
            elif kind == "transfer":
                # Leadership handed to another voter (Raft §3.10) while the load runs.
                leader = self.c.leader()
                if leader is not None:
                    target = self.rng.choice([i for i in sorted(self.c.nodes) if i != leader])
                    try:
                        req = urllib.request.Request("http://127.0.0.1:%d/v1/operator/raft/transfer-leader?id=%d" % (
                            self.c.nodes[leader].http_port, target), data=b"", method="POST")
                        urllib.request.urlopen(req, timeout=3).read()
                    except Exception:
                        pass
                self.stop_ev.wait(hold)
            else:
                # Partial: the links this node dials (to higher ids) are cut; the lower ids
                # still reach it, so some pairs talk and others do not.
                cut = [p for (a, b), p in self.c.proxies.items() if a == node]
                for p in cut:
                    p.cut()
                self.stop_ev.wait(hold)
                for p in cut:
                    p.heal()
            self.record("healed", node=node)
        self.heal_all()

    def heal_all(self):
        for i in self.c.nodes:
            self.c.set_disk(i, "")
        self.check_alive()
        for p in self.c.proxies.values():
            p.heal()
        for node in self.c.nodes.values():
            if node.is_running():
                try:
                    os.kill(node.pid, signal.SIGCONT)
                except OSError:
                    pass


def check_queue(ops, remaining):
    """Problems with the queue (empty: none), as Jepsen's total-queue checker: every dequeued
    element was enqueued, before the dequeue was answered, and is dequeued once; every acknowledged
    enqueue is dequeued, or may have been (an unanswered dequeue of it), or is still queued at the
    end; nothing acknowledged as dequeued is still queued. `remaining`: the values queued at the
    end, as one node reads them."""
    problems = []
    enq = {o["value"]: o for o in ops if o["f"] == "enqueue"}
    taken = {}
    for o in ops:
        if o["f"] == "dequeue" and o["type"] == "ok":
            v = o["result"]
            e = enq.get(v)
            if e is None or e["invoke"] > o["complete"]:
                problems.append("%s dequeued %r, which nobody had begun to enqueue" % (o["process"], v))
            if v in taken:
                problems.append("%r dequeued twice: by %s and %s" % (v, taken[v]["process"], o["process"]))
            taken[v] = o
    maybe = {o["value"] for o in ops if o["f"] == "dequeue" and o["type"] == "info"}
    left = list(remaining)
    for v in sorted(set(left)):
        if v in taken:
            problems.append("%r is still queued, but %s dequeued it" % (v, taken[v]["process"]))
        if v not in enq:
            problems.append("%r is queued, but nobody enqueued it" % v)
    if len(set(left)) != len(left):
        problems.append("an element queued twice: %r" % sorted({v for v in left if left.count(v) > 1})[:5])
    lost = sorted(v for v, o in enq.items() if o["type"] == "ok" and v not in taken and v not in maybe
                  and v not in set(left))
    if lost:
        problems.append("%d acknowledged enqueues lost (neither dequeued nor queued): %r" % (len(lost), lost[:5]))
    return problems


def check_appends(ops, present):
    """Unique append: acknowledged sequential creates got distinct numbers, in real-time order
    (one acknowledged before another began has the lower number), and all are present at the
    end with their data; anything present was attempted. `present`: {name: data} read at the end.
    Returns a list of problems."""
    problems = []
    appends = [o for o in ops if o["f"] == "append"]
    acked = [o for o in appends if o["type"] == "ok"]
    seq = {id(o): int(o["result"].rsplit("-", 1)[1]) for o in acked}
    numbers = sorted(seq.values())
    dups = {n for n in numbers if numbers.count(n) > 1} if len(set(numbers)) != len(numbers) else set()
    if dups:
        problems.append("sequence numbers given twice: %r" % sorted(dups)[:5])
    by_complete = sorted(acked, key=lambda o: o["complete"])
    k, highest = 0, -1
    for o in sorted(acked, key=lambda o: o["invoke"]):
        while k < len(by_complete) and by_complete[k]["complete"] < o["invoke"]:
            highest = max(highest, seq[id(by_complete[k])])
            k += 1
        if seq[id(o)] <= highest:
            problems.append("append %s got %d after an append acknowledged earlier got %d" % (o["value"], seq[id(o)], highest))
            break
    for o in acked:
        name = o["result"].rsplit("/", 1)[1]
        if present.get(name) != o["value"]:
            problems.append("acknowledged append %s (%s) is %s at the end" % (o["value"], name,
                            "missing" if name not in present else "holding %r" % present.get(name)))
            break
    attempted = {o["value"] for o in appends}
    strays = [n for n, v in present.items() if v not in attempted]
    if strays:
        problems.append("sequential znodes nobody created: %r" % strays[:5])
    return problems


def check_ephemerals(procs, nodes, timeout=20.0):
    """Session semantics through every node: a session still held has its ephemeral everywhere;
    one given up (closed, or replaced after it expired) has lost it everywhere, within the
    session timeout. Returns a list of problems."""
    def views():
        out = {}
        for i, node in nodes.items():
            z = KazooClient(hosts=node.hosts, timeout=10.0)
            z.start(timeout=20)
            settled(lambda: z.sync("/eph"), "sync through node %d" % i)
            out[i] = set(settled(lambda: z.get_children("/eph"), "listing /eph on node %d" % i))
            z.stop()
            z.close()
        return out

    deadline = time.monotonic() + timeout
    while True:
        seen = views()
        problems = []
        for p in procs:
            live = p.zk.client_id[0] if p.zk is not None and p.zk.connected else None
            for sess in p.sessions:
                name = sess["path"].rsplit("/", 1)[1]
                where = sorted(i for i, names in seen.items() if name in names)
                if sess["ended"] is None and sess["id"] == live:
                    if len(where) != len(seen):
                        problems.append("live session %x of %s: its ephemeral is missing on nodes %s" % (
                            sess["id"], p.name, sorted(set(seen) - set(where))))
                elif where:
                    problems.append("session %x of %s was given up, yet its ephemeral is still on nodes %s" % (
                        sess["id"], p.name, where))
        if not problems or time.monotonic() > deadline:
            return problems
        time.sleep(0.5)  # expiry of given-up sessions takes up to their timeout


def check_counter(ops, final):
    """Problems with the shared counter's history (empty: none). Every acknowledged increment read
    a value no other acknowledged increment read (else one update was lost), and the final value is
    at least the acknowledged increments and at most those plus the unanswered ones."""
    incs = [o for o in ops if o["f"] == "incr"]
    done = [o for o in incs if o["type"] == "ok" and o["result"] is True]
    maybe = [o for o in incs if o["type"] == "info"]
    problems = []
    by_from = {}
    for o in sorted(done, key=lambda o: o["invoke"]):
        if o["expect"] in by_from:
            a = by_from[o["expect"]]
            problems.append("lost update: %s and %s both incremented %d (invoked %.3f and %.3f, completed %.3f and "
                            "%.3f)" % (a["process"], o["process"], o["expect"], a["invoke"], o["invoke"],
                                       a["complete"], o["complete"]))
        by_from[o["expect"]] = o
    if final is None:
        problems.append("the final value of the counter could not be read")
    elif not len(done) <= final <= len(done) + len(maybe):
        problems.append("final value %d outside [%d acknowledged, %d with the unanswered]" % (
            final, len(done), len(done) + len(maybe)))
    return problems


READS = ("read", "sread", "stale")


def check_read_order(ops, keys, initial=INITIAL):
    """Problems with the reads that need not be linearizable (empty: none): ZooKeeper's plain
    getData and Consul's `?stale`. ZooKeeper promises a client a sequentially consistent view: its
    server is never behind anything the client was sent (a server behind it refuses its
    reconnection), so what it reads is never older than what it has seen, on any key. A Consul
    node's stale reads may lag, but within one run of the node they never go back. So, within one
    group (a kazoo client; a Consul client and one run of its node), a read of key K that returned
    the write at index m must not have been overwritten (a write to K with an index in (m, f]) by
    the time f the group had seen when it sent the read: the largest index an earlier operation of
    the group observed, and the client's last zxid. Writes are known by the indexes any operation
    observed (reads, acknowledged ZooKeeper writes); an unobserved one cannot be used, so this
    never blames a good history. Also: each value has one index wherever it is seen, and no read
    returns a value whose write was sent after the read was answered."""
    problems = []
    known = {k: [] for k in keys}
    index_of = {}
    writer = {}
    for o in ops:
        if o["key"] in known and o["f"] in ("write", "cas"):
            writer.setdefault((o["key"], o["value"]), o)
    for o in ops:
        if o["type"] != "ok" or o["key"] not in known or o.get("index") is None:
            continue
        value = o["result"] if o["f"] in READS else o["value"]
        seen_at = index_of.setdefault((o["key"], value), (o["index"], o))
        if seen_at[0] != o["index"]:
            problems.append("%s=%r seen at index %d by %s and at index %d by %s" % (
                o["key"], value, seen_at[0], seen_at[1]["process"], o["index"], o["process"]))
        known[o["key"]].append(o["index"])
        if o["f"] in ("sread", "stale") and value != initial:
            w = writer.get((o["key"], value))
            if w is None or w["invoke"] > o["complete"]:
                problems.append("%s's %s read %s=%r, which nobody had begun to write" % (
                    o["process"], o["f"], o["key"], value))
    for k in known:
        known[k] = sorted(set(known[k]))
    groups = {}
    for o in ops:
        if o["type"] == "ok" and o.get("group") and o["key"] in known and o.get("index") is not None:
            groups.setdefault(o["group"], []).append(o)
    for g, seq in groups.items():
        seq.sort(key=lambda o: o["invoke"])
        high, high_op = 0, None
        for o in seq:
            floor = max(high, o.get("seen") or 0)
            if o["f"] in READS:
                over = [w for w in known[o["key"]] if o["index"] < w <= floor]
                if over:
                    problems.append(
                        "%s (%s) read %s=%r at index %d (%s, invoked %.4f) after it had seen index %d%s, but %s was "
                        "overwritten at index %d" % (
                            o["process"], g, o["key"], o["result"], o["index"], o["f"], o["invoke"], floor,
                            " (%s %s=%r)" % (high_op["f"], high_op["key"], high_op.get("result") or high_op["value"])
                            if high_op is not None and high == floor else " (its last zxid)", o["key"], over[0]))
            if o["index"] > high:
                high, high_op = o["index"], o
    return problems


def check_history(ops, keys):
    """{key: (linearizable, explanation, counts)}"""
    out = {}
    for key in keys:
        hist = [o for o in ops if o["key"] == key and o["f"] in ("read", "write", "cas")]
        counts = {t: sum(1 for o in hist if o["type"] == t) for t in ("ok", "fail", "info")}
        ok, why, stuck = linearizability.explain(hist, INITIAL, seconds=CHECK_SECONDS)
        out[key] = (ok, why, counts)
        if stuck is not None:
            out[key] = (ok, why, counts, linearizability.window(hist, stuck), stuck)
    return out


def run(seed=1, seconds=30.0, nodes=3, zk_clients=3, consul_clients=3, keys=3, lockers=2, watchers_n=2, out=None,
        log=print, membership=True):
    rng = random.Random(seed)
    out = Path(out or tempfile.mkdtemp(prefix="conclave-faults-"))
    out.mkdir(parents=True, exist_ok=True)
    key_names = ["k%d" % i for i in range(keys)]
    c = Cluster(nodes, proxied=True, fsync_faults=True)
    member = None
    history, faults = History(), []
    present_by_node = {}
    queued_by_node = {}
    counter_final = None
    session_problems = ["the run ended before sessions were checked"]
    watch_problems = ["the run ended before watches were checked"]
    watchers, consul_watchers, curators = [], [], []
    try:
        c.start()  # inside the try: a cluster that fails to start is still stopped
        member = Member(c) if membership else None
        setup = KazooClient(hosts=c.hosts(), timeout=10.0)
        setup.start(timeout=15)
        setup.ensure_path("/reg")
        setup.ensure_path("/seq")
        setup.ensure_path("/eph")
        setup.ensure_path(QUEUE)
        for k in key_names:
            try:
                setup.create("/reg/" + k, INITIAL.encode())
            except KazooException:
                setup.set("/reg/" + k, INITIAL.encode())
        setup.ensure_path(ZK_LOCK)
        setup.ensure_path(ZK_FENCED)
        setup.ensure_path(CURATOR_LOCK)
        setup.ensure_path(CURATOR_FENCED)
        setup.ensure_path(COUNTER_ZNODE)
        setup.set(COUNTER_ZNODE, b"0")
        setup.stop()
        setup.close()
        if member:
            member.node.start(wait=False)
            deadline = time.monotonic() + 30
            while member.change(c.nodes[c.wait_leader()], True) != "done":
                if time.monotonic() > deadline:
                    raise AssertionError("node %d could not join the voters" % member.id)
                time.sleep(0.5)
            member.node.wait_ready()
        stop = threading.Event()
        zk_procs = [ZkProcess("zk%d" % i, c.hosts(), key_names, history, stop, random.Random(rng.random()))
                    for i in range(zk_clients)]
        for p in zk_procs:
            p.close_at_end = False  # their sessions are checked once the faults are healed
        procs = list(zk_procs)
        ids = sorted(c.nodes)
        procs += [ConsulProcess("consul%d" % i, c.nodes[ids[i % len(ids)]], key_names, history, stop,
                                random.Random(rng.random())) for i in range(consul_clients)]
        procs += [LockProcess("locker%d" % i, c.nodes[ids[(i + 1) % len(ids)]], history, stop,
                              random.Random(rng.random())) for i in range(lockers)]
        procs += [ZkLockProcess("zklocker%d" % i, c.hosts(), history, stop, random.Random(rng.random()))
                  for i in range(lockers)]
        procs += [QueueProcess("queue%d" % i, c.hosts(), history, stop, random.Random(rng.random()))
                  for i in range(2)]
        curators = [CuratorLockProcess("curlocker%d" % i, c.hosts(), history, stop) for i in range(lockers)]
        for p in curators:
            p.start()  # a JVM takes a few seconds to start: before the clock starts
        for p in curators:
            p.ready.wait(60)
        watchers_done = threading.Event()
        watchers = [ZkWatchProcess("watcher%d" % i, c.hosts(), "/reg/" + key_names[0], watchers_done)
                    for i in range(watchers_n)]
        consul_watchers = [ConsulWatchProcess("blocking%d" % i, c.nodes[ids[i % len(ids)]], "reg/" + key_names[0],
                                              watchers_done) for i in range(watchers_n)]
        for w in watchers + consul_watchers:
            w.start()
        nemesis = Nemesis(c, random.Random(rng.random()), stop, faults, member)
        for p in procs:
            p.start()
        nemesis.start()
        time.sleep(seconds)
        stop.set()
        nemesis.join(30)
        for p in procs + curators:
            p.join(30)
        # Healed: every node back, and a final read of every key through a fresh client.
        nemesis.check_alive()
        for node in c.nodes.values():
            node.wait_ready()
        leader_node(c, member)
        checked = dict(c.nodes)  # the nodes whose state is checked at the end
        if member:
            # The extra node ends as a voter, with the log it kept while it was out: it must hold
            # everything the others do.
            deadline = time.monotonic() + 30
            while not member.is_voter(leader_node(c, member)):
                member.change(leader_node(c, member), True)
                if time.monotonic() > deadline:
                    raise AssertionError("node %d could not rejoin the voters at the end" % member.id)
                time.sleep(0.5)
            checked[member.id] = member.node
        final = ZkProcess("final", c.hosts(), key_names, history, threading.Event(), random.Random(0))
        final.connect()
        for k in key_names:
            deadline = time.monotonic() + 30
            while final.read(k)[0] is None and time.monotonic() < deadline:
                time.sleep(0.2)
        # A last write to the watched znode: every watcher must be notified of it and read it.
        op = history.invoke("final", key_names[0], "write", "final-watch")
        final_mzxid = settled(lambda: final.zk.set("/reg/" + key_names[0], b"final-watch"), "the final write").mzxid
        history.finish(op, "ok")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (
                all(max((m for _, m, _ in w.observed), default=0) >= final_mzxid for w in watchers)
                and all(any(v == "final-watch" for _, _, v in w.observed) for w in consul_watchers)):
            time.sleep(0.1)
        watchers_done.set()
        for w in watchers + consul_watchers:
            w.join(10)
        watch_problems = check_watches(watchers, final_mzxid) + check_consul_watches(consul_watchers, "final-watch")
        settled(lambda: final.zk.sync(COUNTER_ZNODE), "sync of the counter")
        counter_final = int(settled(lambda: final.zk.get(COUNTER_ZNODE), "the counter's read")[0].decode())
        # Every node's view of the appends, once it has caught up (sync through it).
        present_by_node = {}
        for i, node in checked.items():
            z = KazooClient(hosts=node.hosts, timeout=10.0)
            z.start(timeout=20)
            settled(lambda: z.sync("/seq"), "sync through node %d" % i)
            present_by_node[i] = settled(lambda: {n: z.get("/seq/" + n)[0].decode() for n in z.get_children("/seq")},
                                         "reading /seq on node %d" % i)
            queued_by_node[i] = settled(lambda: [z.get(QUEUE + "/" + n)[0].decode() for n in z.get_children(QUEUE)],
                                        "reading %s on node %d" % (QUEUE, i))
            z.stop()
            z.close()
        final.zk.stop()
        final.zk.close()
        # Give every client a moment to reconnect after the last fault, then check sessions.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not all(p.zk is None or p.zk.connected for p in zk_procs):
            time.sleep(0.1)
        session_problems = check_ephemerals(zk_procs, checked)
        for p in zk_procs:
            if p.zk is not None:
                close_quietly(p.zk)
        nemesis.check_alive()  # anything that died after the faults ended
    finally:
        c.stop()
        if member and member.node.is_running():
            member.node.stop()
    with open(out / "history.jsonl", "w") as f:
        for op in sorted(history.ops, key=lambda o: o["invoke"]):
            f.write(json.dumps(op) + "\n")
    with open(out / "faults.jsonl", "w") as f:
        for entry in faults:
            f.write(json.dumps(entry) + "\n")
    crashes = nemesis.crashes
    results = check_history(history.ops, key_names)
    append_problems = []
    for i, present in sorted(present_by_node.items()):
        append_problems += ["node %d: %s" % (i, p) for p in check_appends(history.ops, present)]
    n_appends = sum(1 for o in history.ops if o["f"] == "append" and o["type"] == "ok")
    log("unique append: %d acknowledged, %s" % (n_appends, "; ".join(append_problems) or "distinct, in real-time order, "
                                                 "present on every node"))
    for k, (ok, why, counts, *shown) in sorted(results.items()):
        log("key %s: %s (%s)%s" % (k, {True: "linearizable", None: "UNKNOWN"}.get(ok, "NOT LINEARIZABLE"),
                                  ", ".join("%d %s" % (v, t) for t, v in counts.items()), "" if ok else ": " + why))
        if shown:
            near, stuck = shown
            log("  the history around it (%d operations overlapping its interval and the second before):" % len(near))
            for o in near:
                log("    %s %s%s" % (o["type"], linearizability.describe(o) if o["complete"] is not None else
                                     "%s %r by %s [%.4f, -]" % (o["f"], o.get("value"), o.get("process"), o["invoke"]),
                                     "   <- cannot be placed" if o is stuck or o == stuck else ""))
            active = [e for e in faults if stuck["invoke"] - 5 <= e["at"] <= stuck["complete"]]
            log("  faults in the 5 s before it: %s" % (", ".join("%s node %s at %.4f" % (e["fault"], e.get("node"), e["at"])
                                                                  for e in active) or "none"))
    log("seed %d: %d operations, %d faults; history in %s" % (seed, len(history.ops),
                                                              sum(1 for e in faults if e["fault"] != "healed"), out))
    for node, status in crashes:
        log("node %d CRASHED (exit status %s) during the run (see faults.jsonl for its log)" % (node, status))
    queue_problems = [] if queued_by_node else ["the queue was not read at the end"]
    for i, queued in sorted(queued_by_node.items()):
        queue_problems += ["node %d: %s" % (i, p) for p in check_queue(history.ops, queued)]
    n_enq = sum(1 for o in history.ops if o["f"] == "enqueue" and o["type"] == "ok")
    n_deq = sum(1 for o in history.ops if o["f"] == "dequeue" and o["type"] == "ok")
    log("queue: %d acknowledged enqueues, %d dequeues, %s left; %s" % (
        n_enq, n_deq, len(next(iter(queued_by_node.values()), [])), "; ".join(queue_problems[:10]) or
        "each element dequeued at most once, none lost, none unexpected"))
    order_problems = check_read_order(history.ops, key_names)
    n_plain = sum(1 for o in history.ops if o["f"] == "sread" and o["type"] == "ok")
    n_stale = sum(1 for o in history.ops if o["f"] == "stale" and o["type"] == "ok")
    log("read order: %d plain ZooKeeper reads, %d Consul stale reads; %s" % (
        n_plain, n_stale, "; ".join(order_problems[:10]) or
        "never older than what their client had seen, no value from the future"))
    counter_problems = check_counter(history.ops, counter_final)
    n_incs = sum(1 for o in history.ops if o["f"] == "incr" and o["type"] == "ok" and o["result"] is True)
    log("counter: %d acknowledged increments (both protocols), final value %s; %s" % (
        n_incs, counter_final, "; ".join(counter_problems) or "no lost update, final value within bounds"))
    lock_problems = [e for p in curators for e in p.errors]
    for key, what in (("lock", "Consul lock"), ("zklock", "kazoo lock"), ("curlock", "Curator lock")):
        problems = check_locks(history.ops, key)
        lock_problems += problems
        fenced = [o for o in history.ops if o["key"] == key and o["f"] == "fenced" and o["type"] == "ok"]
        log("%s: %d acquisitions, %d fenced writes by %d holders; %s" % (
            what, sum(1 for o in history.ops if o["key"] == key and o["f"] == "acquire" and o["type"] == "ok"
                      and o["result"] is True),
            len(fenced), len({o["expect"] for o in fenced}),
            "; ".join(problems) or "one holder per fencing token, tokens in write order"))
    log("watches: %d kazoo watchers, %d reads on notification; %d blocking queries, %d answers (index went back %d "
        "times); %s" % (
        len(watchers), sum(len(w.observed) for w in watchers), len(consul_watchers),
        sum(len(w.observed) for w in consul_watchers), sum(w.index_went_back for w in consul_watchers),
        "; ".join(watch_problems) or "zxids never went back within a session, every watcher saw the final write"))
    if member:
        log("membership: node %d changed %d times (%s); ended a voter holding what the others hold" % (
            member.id, len(member.changes), ", ".join("%s: %s" % c for c in member.changes) or "no change drawn"))
    n_sessions = sum(len(p.sessions) for p in zk_procs)
    log("sessions: %d tracked, %s" % (n_sessions, "; ".join(session_problems) or
                                       "live ones' ephemerals on every node, given-up ones' gone everywhere"))
    good = (all(r[0] for r in results.values()) and not crashes and not append_problems and not session_problems
            and not counter_problems and not lock_problems and not watch_problems and not order_problems
            and not queue_problems)
    if not good:
        log("replay the fault schedule: /usr/bin/python3 tests/faults/runner.py --seed %d --seconds %g --nodes %d "
            "--keys %d" % (seed, seconds, nodes, keys))
    return good, results, out


def run_many(first, last, seconds, nodes, keys, out):
    """Seeds first..last one after another; one summary line per seed in <out>/summary.txt (the
    failing ones keep their histories in <out>/seed-N). Returns the failing seeds."""
    out = Path(out or tempfile.mkdtemp(prefix="conclave-faults-batch-"))
    out.mkdir(parents=True, exist_ok=True)
    failed = []
    with open(out / "summary.txt", "a") as summary:
        for seed in range(first, last + 1):
            lines = []
            t0 = time.monotonic()
            first_server = len(servers.ALL_SERVERS)
            try:
                ok, _, where = run(seed=seed, seconds=seconds, nodes=nodes, keys=keys, out=out / ("seed-%d" % seed),
                                   log=lines.append)
            except Exception as e:  # a run that could not finish is a failure, with its reason
                import traceback
                ok, where = False, out / ("seed-%d" % seed)
                lines.append(traceback.format_exc())
                lines.append("run aborted: %r" % e)
            faults = sorted({json.loads(l)["fault"] for l in open(where / "faults.jsonl")} - {"healed"}) \
                if (where / "faults.jsonl").exists() else []
            line = "seed %d: %s in %.0f s; faults %s; %s" % (seed, "ok" if ok else "FAILED", time.monotonic() - t0,
                                                             ",".join(faults), lines[-1] if lines else "")
            summary.write(line + "\n")
            summary.flush()
            print(line, flush=True)
            made = servers.ALL_SERVERS[first_server:]
            if ok:
                shutil.rmtree(where, ignore_errors=True)
            else:
                failed.append(seed)
                where.mkdir(parents=True, exist_ok=True)
                (where / "log.txt").write_text("\n".join(lines) + "\n")
                for srv in made:  # the nodes' logs stay with the failing seed
                    if Path(srv.log_path).exists():
                        shutil.copy(srv.log_path, where / ("%s.log" % srv.name))
            for srv in made:  # the nodes' data directories go, or a batch fills the disk
                shutil.rmtree(srv.workdir, ignore_errors=True)
    print("%d seeds, %d failed%s; summary in %s" % (last - first + 1, len(failed),
                                                    (": " + " ".join(map(str, failed))) if failed else "",
                                                    out / "summary.txt"), flush=True)
    return failed


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=int(time.time()) % 100000)
    ap.add_argument("--seeds", help="A-B: run seeds A..B one after another (a batch), summary in --out")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--nodes", type=int, default=3, choices=[3, 5])
    ap.add_argument("--keys", type=int, default=3)
    ap.add_argument("--out")
    a = ap.parse_args()
    if a.seeds:
        first, last = (int(x) for x in a.seeds.split("-"))
        sys.exit(1 if run_many(first, last, a.seconds, a.nodes, a.keys, a.out) else 0)
    ok, _, _ = run(seed=a.seed, seconds=a.seconds, nodes=a.nodes, keys=a.keys, out=a.out)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
