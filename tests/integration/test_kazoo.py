"""kazoo (python3-kazoo 2.8, Debian) against the target server, plus zkCli."""

import os
import re
import shutil
import subprocess
import threading
import time
import uuid

import pytest
from kazoo.exceptions import (BadVersionError, LockTimeout, NoAuthError, NoChildrenForEphemeralsError,
                              NodeExistsError, NoNodeError, NotEmptyError, RolledBackError,
                              RuntimeInconsistency)
from kazoo.protocol.states import EventType, KazooState
from kazoo.security import make_digest_acl

import harness


# ---------------------------------------------------------------------------
# basics
# ---------------------------------------------------------------------------

def test_crud(zk, root):
    p = root + "/node"
    assert zk.create(p, b"hello") == p
    data, st = zk.get(p)
    assert data == b"hello"
    assert st.version == 0 and st.data_length == 5 and st.numChildren == 0
    assert st.czxid == st.mzxid == st.pzxid
    assert st.ephemeralOwner == 0
    with pytest.raises(NodeExistsError):
        zk.create(p, b"again")
    st2 = zk.set(p, b"world")
    assert st2.version == 1 and st2.mzxid > st.mzxid and st2.czxid == st.czxid
    with pytest.raises(BadVersionError):
        zk.set(p, b"x", version=0)
    assert zk.get(p)[0] == b"world"
    assert zk.exists(p).version == 1
    assert zk.exists(root + "/missing") is None
    with pytest.raises(NoNodeError):
        zk.get(root + "/missing")
    zk.create(p + "/child", b"")
    with pytest.raises(NotEmptyError):
        zk.delete(p)
    assert zk.get_children(p) == ["child"]
    children, st3 = zk.get_children(p, include_data=True)
    assert children == ["child"] and st3.numChildren == 1 and st3.cversion == 1
    zk.delete(p, recursive=True)
    assert zk.exists(p) is None
    # makepath / ensure_path
    zk.create(root + "/a/b/c", b"deep", makepath=True)
    assert zk.get(root + "/a/b/c")[0] == b"deep"
    zk.ensure_path(root + "/a/b/c")
    # empty data, binary data, 512 KiB data
    zk.create(root + "/empty")
    assert zk.get(root + "/empty")[0] == b""
    blob = bytes(range(256)) * 2048
    zk.create(root + "/blob", blob)
    assert zk.get(root + "/blob")[0] == blob


def test_acls_and_auth(zk, make_client, root):
    acl = make_digest_acl("alice", "secret", all=True)
    other = make_client()
    zk.add_auth("digest", "alice:secret")
    zk.create(root + "/private", b"p", acl=[acl])
    with pytest.raises(NoAuthError):
        other.get(root + "/private")
    assert other.exists(root + "/private") is not None
    other.add_auth("digest", "alice:secret")
    assert other.get(root + "/private")[0] == b"p"
    acls, _ = zk.get_acls(root + "/private")
    assert acls[0].id.scheme == "digest" and acls[0].id.id.startswith("alice:")
    zk.delete(root + "/private")


def test_ephemeral_removed_on_session_close(make_client, root):
    a = make_client()
    b = make_client()
    a.create(root + "/eph", b"e", ephemeral=True)
    seq = a.create(root + "/eseq-", b"", ephemeral=True, sequence=True)
    st = b.exists(root + "/eph")
    assert st is not None and st.ephemeralOwner == a.client_id[0]
    with pytest.raises(NoChildrenForEphemeralsError):
        a.create(root + "/eph/child")
    deleted = threading.Event()

    @b.DataWatch(root + "/eph")
    def watch(data, stat, event=None):
        if event is not None and event.type == EventType.DELETED:
            deleted.set()

    a.stop()
    a.close()
    assert deleted.wait(10), "DataWatch did not see the ephemeral deleted"
    assert b.exists(root + "/eph") is None
    assert b.exists(seq) is None
    assert b.get_children(root) == []


def test_session_reconnect_keeps_ephemerals(make_client, root):
    a = make_client()
    a.create(root + "/eph", b"", ephemeral=True)
    sid = a.client_id[0]
    states = []
    a.add_listener(lambda s: states.append(s))
    # drop the TCP connection; kazoo reconnects and re-attaches the session
    a._connection._socket.shutdown(2)
    harness.wait_until(lambda: KazooState.SUSPENDED in states and a.state == KazooState.CONNECTED,
                       timeout=15, what="kazoo to reconnect")
    assert a.client_id[0] == sid
    assert a.exists(root + "/eph").ephemeralOwner == sid


def test_sequential_nodes(zk, root):
    paths = [zk.create(root + "/job-", b"%d" % i, sequence=True) for i in range(12)]
    assert paths == [root + "/job-%010d" % i for i in range(12)]
    # The suffix is the parent's count of children *ever created* (ZooKeeper's
    # internal cversion); deletes do not advance it, although the cversion
    # reported in Stat (2*creates - numChildren) does grow on deletes.
    zk.delete(paths[-1])
    assert zk.exists(root).cversion == 13
    nxt = zk.create(root + "/job-", sequence=True)
    assert nxt == root + "/job-%010d" % 12
    # the counter is per parent, shared by all prefixes
    other = zk.create(root + "/other-", sequence=True)
    assert other == root + "/other-%010d" % 13
    expect = [p.rsplit("/", 1)[1] for p in paths[:-1] + [nxt, other]]
    assert sorted(zk.get_children(root)) == sorted(expect)
    st = zk.exists(root)
    assert st.numChildren == 13 and st.cversion == 2 * 14 - 13


def test_transactions(zk, root):
    zk.create(root + "/x", b"x")
    t = zk.transaction()
    t.create(root + "/a", b"a")
    t.create(root + "/a/b", b"b")
    t.set_data(root + "/x", b"x2", version=0)
    t.check(root + "/x", 1)                  # sees the setData of this transaction
    results = t.commit()
    assert results[0] == root + "/a" and results[1] == root + "/a/b", results
    assert results[2].version == 1 and results[3] is True, results
    assert zk.get(root + "/x")[0] == b"x2"

    t = zk.transaction()
    t.create(root + "/c", b"")
    t.check(root + "/x", 99)                 # fails
    t.create(root + "/d", b"")
    results = t.commit()
    # ops before the failing one report 0 (kazoo: RolledBackError), the
    # failing op its error, later ops RuntimeInconsistency (-2)
    assert isinstance(results[0], RolledBackError), results
    assert isinstance(results[1], BadVersionError), results
    assert isinstance(results[2], RuntimeInconsistency), results
    assert zk.exists(root + "/c") is None and zk.exists(root + "/d") is None

    with zk.transaction() as t:
        t.delete(root + "/a/b")
        t.delete(root + "/a")
    assert zk.exists(root + "/a") is None


def test_data_watch_and_children_watch(zk, make_client, root):
    other = make_client()
    data_seen, children_seen = [], []
    dw_event = threading.Event()
    cw_event = threading.Event()

    @zk.DataWatch(root + "/w")
    def dw(data, stat, event=None):
        data_seen.append(data)
        dw_event.set()

    @zk.ChildrenWatch(root)
    def cw(children):
        children_seen.append(sorted(children))
        cw_event.set()

    harness.wait_until(lambda: data_seen == [None] and children_seen == [[]], what="initial callbacks")
    other.create(root + "/w", b"1")
    harness.wait_until(lambda: data_seen[-1] == b"1", what="DataWatch create")
    harness.wait_until(lambda: children_seen[-1] == ["w"], what="ChildrenWatch create")
    other.set(root + "/w", b"2")
    harness.wait_until(lambda: data_seen[-1] == b"2", what="DataWatch change")
    other.create(root + "/v", b"")
    harness.wait_until(lambda: children_seen[-1] == ["v", "w"], what="ChildrenWatch second child")
    other.delete(root + "/w")
    harness.wait_until(lambda: data_seen[-1] is None, what="DataWatch delete")
    harness.wait_until(lambda: children_seen[-1] == ["v"], what="ChildrenWatch delete")
    assert data_seen == [None, b"1", b"2", None]


def test_one_shot_watch_events(zk, make_client, root):
    other = make_client()
    events = []
    got = threading.Event()

    def w(ev):
        events.append(ev)
        got.set()

    zk.exists(root + "/n", watch=w)
    other.create(root + "/n", b"")
    assert got.wait(10)
    assert events[0].type == EventType.CREATED and events[0].path == root + "/n"
    got.clear()
    zk.get(root + "/n", watch=w)
    other.set(root + "/n", b"1")
    assert got.wait(10)
    assert events[1].type == EventType.CHANGED
    got.clear()
    zk.get_children(root, watch=w)
    other.delete(root + "/n")
    assert got.wait(10)
    assert events[2].type == EventType.CHILD and events[2].path == root
    time.sleep(0.3)
    assert len(events) == 3


# ---------------------------------------------------------------------------
# recipes
# ---------------------------------------------------------------------------

def test_lock_mutual_exclusion(make_client, root):
    clients = [make_client() for _ in range(3)]
    holder = []
    violations = []
    counts = [0, 0, 0]
    stop = time.monotonic() + 4.0

    def worker(i):
        lock = clients[i].Lock(root + "/lock", "worker-%d" % i)
        while time.monotonic() < stop:
            with lock:
                holder.append(i)
                if len(holder) != 1:
                    violations.append(list(holder))
                counts[i] += 1
                time.sleep(0.01)
                holder.remove(i)
            time.sleep(0.005)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads), "lock workers hung"
    assert not violations, "two clients held the lock at once: %r" % violations[:5]
    assert all(c > 0 for c in counts), "a client never got the lock: %r" % counts
    # contenders list
    lock = clients[0].Lock(root + "/lock2", "a")
    lock2 = clients[1].Lock(root + "/lock2", "b")
    assert lock.acquire(timeout=5)
    with pytest.raises(LockTimeout):
        lock2.acquire(timeout=0.5)
    assert lock2.contenders() == ["a"]
    lock.release()
    assert lock2.acquire(timeout=5)
    lock2.release()


def test_lock_released_when_holder_session_closes(make_client, root):
    a = make_client()
    b = make_client()
    la = a.Lock(root + "/lock", "a")
    lb = b.Lock(root + "/lock", "b")
    assert la.acquire(timeout=5)
    got = []
    t = threading.Thread(target=lambda: got.append(lb.acquire(timeout=15)))
    t.start()
    time.sleep(0.3)
    assert not got
    a.stop()                   # closes the session: the lock node is ephemeral
    t.join(20)
    assert got == [True]
    lb.release()


def test_election(make_client, root):
    clients = [make_client() for _ in range(3)]
    leaders = []
    leader_lock = threading.Lock()
    current = []
    overlaps = []  # leaderships that began while another was running: must stay empty

    def make_run(i):
        def run():
            with leader_lock:
                if current:
                    overlaps.append((i, list(current)))
                current.append(i)
                leaders.append(i)
            time.sleep(0.3)
            with leader_lock:
                current.remove(i)
        return run

    elections = [c.Election(root + "/election", "node-%d" % i) for i, c in enumerate(clients)]
    threads = [threading.Thread(target=e.run, args=(make_run(i),)) for i, e in enumerate(elections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(leaders) == [0, 1, 2], leaders
    assert not overlaps, "two leaders at once: %r" % overlaps
    assert elections[0].contenders() == []


def test_counter(make_client, root):
    clients = [make_client() for _ in range(3)]
    n = 25

    def bump(c):
        counter = c.Counter(root + "/counter")
        for _ in range(n):
            counter += 1

    threads = [threading.Thread(target=bump, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert clients[0].Counter(root + "/counter").value == 3 * n
    fc = clients[0].Counter(root + "/fcounter", default=0.5)
    fc += 1.25
    assert fc.value == 1.75
    fc -= 0.75
    assert fc.value == 1.0


def test_barrier(make_client, root):
    a = make_client()
    b = make_client()
    barrier = a.Barrier(root + "/barrier")
    barrier.create()
    waiter = b.Barrier(root + "/barrier")
    assert waiter.wait(timeout=0.3) is False
    result = []
    t = threading.Thread(target=lambda: result.append(waiter.wait(timeout=10)))
    t.start()
    time.sleep(0.2)
    barrier.remove()
    t.join(15)
    assert result == [True]


def test_double_barrier(make_client, root):
    n = 3
    clients = [make_client() for _ in range(n)]
    entered, left = [], []
    lock = threading.Lock()

    def participant(i):
        db = clients[i].DoubleBarrier(root + "/dbarrier", n)
        db.enter()
        with lock:
            entered.append((i, time.monotonic()))
        time.sleep(0.1 * i)
        db.leave()
        with lock:
            left.append((i, time.monotonic()))

    threads = [threading.Thread(target=participant, args=(i,)) for i in range(n)]
    for i, t in enumerate(threads):
        t.start()
        time.sleep(0.2)
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "double barrier hung"
    assert len(entered) == n and len(left) == n
    # nobody entered before all had arrived, nobody left before all had entered
    assert max(t for _, t in entered) <= min(t for _, t in left)


def test_queue(make_client, root):
    producer = make_client()
    consumer = make_client()
    q = producer.Queue(root + "/queue")
    for i in range(10):
        q.put(b"item-%d" % i)
    q.put(b"urgent", priority=1)
    assert len(q) == 11
    cq = consumer.Queue(root + "/queue")
    got = [cq.get() for _ in range(11)]
    assert got[0] == b"urgent"
    assert got[1:] == [b"item-%d" % i for i in range(10)]
    assert cq.get() is None


def test_locking_queue(make_client, root):
    a = make_client()
    b = make_client()
    qa = a.LockingQueue(root + "/lq")
    qb = b.LockingQueue(root + "/lq")
    qa.put_all([b"one", b"two", b"three"])
    assert len(qa) == 3
    assert qa.get(timeout=5) == b"one"
    assert qb.get(timeout=5) == b"two"        # "one" is locked by a
    assert qa.holds_lock()
    assert qa.consume()
    # b's item goes back to the queue if b's session dies without consuming
    b.stop()
    harness.wait_until(lambda: len(qa) == 2, timeout=10, what="released item to be visible")
    got = [qa.get(timeout=5)]
    assert qa.consume()
    got.append(qa.get(timeout=5))
    assert qa.consume()
    assert sorted(got) == [b"three", b"two"]
    assert qa.get(timeout=0.3) is None


def test_semaphore(make_client, root):
    clients = [make_client() for _ in range(4)]
    inside = []
    peak = []
    lock = threading.Lock()

    def worker(i):
        sem = clients[i].Semaphore(root + "/sem", "w%d" % i, max_leases=2)
        with sem:
            with lock:
                inside.append(i)
                peak.append(len(inside))
            time.sleep(0.3)
            with lock:
                inside.remove(i)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads), "semaphore workers hung"
    assert len(peak) == 4 and max(peak) == 2, peak


# ---------------------------------------------------------------------------
# four letter words through kazoo
# ---------------------------------------------------------------------------

def test_server_version_and_commands(zk):
    version = zk.server_version()
    assert isinstance(version, tuple) and len(version) >= 2 and version[0] == 3, version
    assert zk.command(b"ruok") == "imok"
    srvr = zk.command(b"srvr")
    assert "Mode: " in srvr and "Zxid: 0x" in srvr and "Node count: " in srvr, srvr
    stat = zk.command(b"stat")
    assert "Clients:" in stat, stat
    mntr = zk.command(b"mntr")
    assert re.search(r"^zk_znode_count\t\d+$", mntr, re.M), mntr


# ---------------------------------------------------------------------------
# zkCli.sh (Apache ZooKeeper's Java CLI)
# ---------------------------------------------------------------------------

ZKCLI = "/usr/share/zookeeper/bin/zkCli.sh"


def _zkcli_env(tmp_path):
    env = dict(os.environ)
    # zkEnv.sh points ZOO_LOG_DIR at /var/log/zookeeper; keep logs local
    env["ZOO_LOG_DIR"] = str(tmp_path)
    env.setdefault("CLIENT_JVMFLAGS", "-Xshare:auto -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xmx128m")
    return env


@pytest.mark.skipif(not os.path.exists(ZKCLI), reason="zkCli.sh (Debian 'zookeeper' package) not installed")
def test_zkcli(target_server, tmp_path):
    node = "/zkcli_%s" % uuid.uuid4().hex[:8]
    script = "\n".join([
        "create %s hello-zkcli" % node,
        "get %s" % node,
        "ls /",
        "stat %s" % node,
        "set %s v2" % node,
        "get -s %s" % node,
        "create -e %s/eph e" % node,
        "create -s %s/seq- s" % node,
        "ls -s %s" % node,
        "delete %s/eph" % node,
        "deleteall %s" % node,
        "ls /",
        "quit",
    ]) + "\n"
    # All commands in ONE JVM (commands piped on stdin, JLine is absent so
    # ZooKeeperMain reads lines from stdin).
    p = subprocess.run([ZKCLI, "-server", target_server.hosts], input=script.encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       env=_zkcli_env(tmp_path), timeout=90)
    out = p.stdout.decode("utf-8", "replace")
    ctx = "zkCli output:\n" + out[-4000:]
    assert "Created %s" % node in out, ctx
    assert "hello-zkcli" in out, ctx
    assert re.search(r"^\[.*\b%s\b.*zookeeper.*\]$|^\[.*zookeeper.*\b%s\b.*\]$"
                     % (node[1:], node[1:]), out, re.M), ctx
    for key in ("cZxid = 0x", "ctime = ", "mZxid = 0x", "pZxid = 0x", "cversion = ",
                "dataVersion = ", "aclVersion = ", "ephemeralOwner = 0x0", "dataLength = 11",
                "numChildren = 0"):
        assert key in out, "%r missing from stat output; %s" % (key, ctx)
    assert "dataVersion = 1" in out, ctx
    assert "Created %s/eph" % node in out, ctx
    assert re.search(r"Created %s/seq-\d{10}" % re.escape(node), out), ctx
    assert "Exception" not in out.replace("WatchedEvent", ""), ctx
    # the last `ls /` no longer shows the node
    last_ls = [l for l in out.splitlines() if l.startswith("[") and "zookeeper" in l][-1]
    assert node[1:] not in last_ls, ctx


@pytest.mark.skipif(not os.path.exists(ZKCLI), reason="zkCli.sh (Debian 'zookeeper' package) not installed")
def test_zkcli_single_command_mode(target_server, tmp_path):
    # `zkCli.sh -server host:port cmd args` runs one command and exits
    p = subprocess.run([ZKCLI, "-server", target_server.hosts, "ls", "/zookeeper"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                       env=_zkcli_env(tmp_path), timeout=90)
    out = p.stdout.decode("utf-8", "replace")
    assert p.returncode == 0, out[-3000:]
    assert re.search(r"^\[config, quota\]$|^\[quota, config\]$", out, re.M), out[-3000:]
