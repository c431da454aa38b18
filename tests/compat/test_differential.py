"""Differential tests: identical raw-protocol scripts against Apache ZooKeeper
3.8 (reference) and Conclave (subject); replies must match after
normalisation (see difftest.py).  Run with CONCLAVE_TEST_TARGET=zookeeper to
compare ZooKeeper with a second ZooKeeper (self-check of this suite).

Each test's script gets `t` (difftest.Run): t.root is a path unique to the
test, t.session('A') opens a recorded session.  Every call on a session is
recorded together with its normalised reply.
"""

import re
import socket
import time

import pytest

import zkwire as zw
from zkwire import (ALL, READ, WRITE, CREATE, DELETE, ADMIN, OPEN_ACL_UNSAFE, READ_ACL_UNSAFE,
                    PERSISTENT, EPHEMERAL, SEQUENTIAL, EPHEMERAL_SEQUENTIAL, CONTAINER,
                    PERSISTENT_WITH_TTL, PERSISTENT_SEQUENTIAL_WITH_TTL,
                    WT_CHILDREN, WT_DATA, WT_ANY, WT_PERSISTENT, WT_PERSISTENT_RECURSIVE,
                    AW_PERSISTENT, AW_PERSISTENT_RECURSIVE, digest_id,
                    op_create, op_create2, op_create_ttl, op_create_container, op_delete,
                    op_set_data, op_check, op_get_children, op_get_data)

U1 = digest_id("u1", "p1")
U2 = digest_id("u2", "p2")


# ---------------------------------------------------------------------------
# handshake / sessions
# ---------------------------------------------------------------------------

def test_connect_handshake(diff):
    def script(t):
        # ConnectRequest with the trailing readOnly byte (Java >= 3.4, kazoo, C client)
        a = t.session("A")
        a.exists("/zookeeper/quota")
        # ConnectRequest WITHOUT the readOnly byte (very old clients): the server
        # must accept it and (ZooKeeper) answer without the readOnly byte too.
        b = t.session("B", send_read_only=False)
        b.exists("/zookeeper/quota")
        # a non-zero protocolVersion in the ConnectRequest
        c = t.session("C", protocol_version=1)
        c.ping()
        c.ping()
        a.close_session()
        b.close_session()
    diff(script)


def test_session_timeout_negotiation(diff):
    # ZooKeeper (tickTime=2000) clamps to [minSessionTimeout=4000, maxSessionTimeout=40000].
    def script(t):
        for i, ms in enumerate((0, 1000, 4000, 10000, 30000, 40000, 100000)):
            s = t.session("S%d" % i, timeout_ms=ms)
            s.close_session()
    diff(script)


def test_ping(diff):
    def script(t):
        a = t.session("A")
        a.ping()
        a.create(t.root)
        a.ping()
        # ping with a non -2 xid: ZooKeeper still answers with xid -2, so a
        # reply for xid 5 never comes (we only wait briefly)
        a.call("ping", b"", xid=5, timeout=0.5)
    diff(script)


def test_close_session_removes_ephemerals_and_fires_watches(diff):
    def script(t):
        a = t.session("A")
        b = t.session("B")
        a.create(t.root)
        a.create(t.root + "/p", b"")
        a.create(t.root + "/p/eph1", b"1", flags=EPHEMERAL)
        a.create(t.root + "/p/e-", b"2", flags=EPHEMERAL_SEQUENTIAL)
        a.create2(t.root + "/eph2", b"3", flags=EPHEMERAL)
        b.exists(t.root + "/p/eph1", watch=True)
        b.get_data(t.root + "/eph2", watch=True)
        b.get_children(t.root + "/p", watch=True)
        b.exists(t.root + "/p/eph1")
        b.get_ephemerals("/")
        a.get_ephemerals(t.root)
        a.get_ephemerals(t.root + "/p/e")
        a.get_ephemerals(t.root + "/nothing")
        a.close_session()
        a.closed(timeout=2)
        # NodeDeleted x2 and NodeChildrenChanged; ZooKeeper's order depends on
        # hash order of the session's ephemeral set, so compare sorted.
        b.events(3, sort=True)
        b.exists(t.root + "/p/eph1")
        b.exists(t.root + "/eph2")
        b.get_children2(t.root + "/p")
        b.get_children2(t.root)
        b.get_ephemerals("/")
    diff(script)


def test_session_reattach_and_wrong_password(diff):
    def script(t):
        a = t.session("A")
        a.create(t.root)
        a.create(t.root + "/eph", b"x", flags=EPHEMERAL)
        # reattach the same session on a new connection: same id/password/timeout
        a2 = t.session("A2", session_of="A")
        # ZooKeeper closes the old connection of a session that moved
        a.closed(timeout=3)
        a2.exists(t.root + "/eph")
        a2.get_ephemerals(t.root)
        # wrong password: ConnectResponse{timeOut=0, sessionId=0, passwd=16 zero
        # bytes} and the connection is closed
        bad = t.session("BAD", session_of="A", passwd=b"\x01" * 16)
        bad.closed(timeout=3)
        # unknown / expired session id: same answer
        unk = t.session("UNK", session_id=0x7ead00000000beef, passwd=b"\x00" * 16)
        unk.closed(timeout=3)
        # the session itself is still alive: reattach works again
        a3 = t.session("A3", session_of="A")
        a3.exists(t.root + "/eph")
        a3.create(t.root + "/eph2", b"", flags=EPHEMERAL)
        a3.close_session()
        c = t.session("C")
        c.get_children(t.root)
    diff(script)


@pytest.mark.zk_quirk
def test_wrong_password_disconnects_current_owner(diff):
    # ZooKeeper quirk: a reconnect attempt for a session id first closes the
    # session's current connection, *then* checks the password.  So a wrong
    # password kicks the legitimate owner off (its session survives).
    def script(t):
        a = t.session("A")
        a.exists("/zookeeper/quota")
        bad = t.session("BAD", session_of="A", passwd=b"\x02" * 16)
        bad.closed(timeout=3)
        a.closed(timeout=3)
        a2 = t.session("A2", session_of="A")
        a2.exists("/zookeeper/quota")
    diff(script)


def test_connect_with_future_last_zxid_is_refused(diff):
    def script(t):
        # A client that has seen a zxid the server does not have must be refused
        # (ZooKeeper closes the socket without a ConnectResponse).
        s = t.session("S", last_zxid=1 << 50)
        s.closed(timeout=3)
    diff(script)


# ---------------------------------------------------------------------------
# system subtree and root
# ---------------------------------------------------------------------------

def test_system_subtree(diff):
    def root_stat(r):
        # fields of "/" that do not depend on other tests' roots
        st = r.get("stat")
        if not st:
            return r
        keep = ("czxid", "mzxid", "ctime", "mtime", "version", "aversion",
                "ephemeralOwner", "dataLength")
        return {"err": r["err"], "stat": {k: st[k] for k in keep}}

    def script(t):
        a = t.session("A")
        r = a.get_children("/")
        t.note("'/' children (test roots removed)",
               sorted(c for c in r.get("children", []) if not c.startswith("dt_")))
        # (the root's cversion/numChildren/pzxid depend on the other tests)
        t.note("exists('/') stable fields", root_stat(a.conn.exists("/")))
        r = a.conn.get_data("/")
        t.note("getData('/') data + stable fields", (r.get("data"), root_stat(r)))
        r = a.conn.get_acl("/")
        t.note("getACL('/') acl + stable fields", (r.get("acl"), root_stat(r)))
        a.get_children("/zookeeper")
        a.get_children2("/zookeeper")
        a.get_data("/zookeeper")
        a.exists("/zookeeper")
        a.get_acl("/zookeeper")
        a.get_data("/zookeeper/quota")
        a.get_acl("/zookeeper/quota")
        a.get_children("/zookeeper/quota")
        a.get_data("/zookeeper/config")
        a.get_acl("/zookeeper/config")
        a.get_all_children_number("/zookeeper")
        # writes to the system subtree
        a.set_data("/zookeeper/config", b"x")           # NoAuth (READ-only ACL)
        a.set_data("/zookeeper/quota", b"x", 5)         # BadVersion
        a.create("/zookeeper")                          # NodeExists
        a.create("/")                                   # NodeExists
        a.delete("/")                                   # BadArguments
        a.delete("/zookeeper")                          # BadArguments
        a.delete("/zookeeper", 9)
        a.delete("/zookeeper/quota")                    # BadArguments
        a.delete("/zookeeper/config")
        a.set_acl("/zookeeper/config", OPEN_ACL_UNSAFE)
        # ZooKeeper allows creating (and deleting) ordinary nodes under /zookeeper
        a.create("/zookeeper/dt_tmp", b"t")
        a.get_children("/zookeeper")
        a.delete("/zookeeper/dt_tmp")
        a.get_children2("/zookeeper")
        a.sync("/")
        a.sync("/zookeeper")
    diff(script)


# ---------------------------------------------------------------------------
# create: every flag and opcode
# ---------------------------------------------------------------------------

def test_create_modes(diff):
    def script(t):
        a = t.session("A")
        b = t.session("B")
        R = t.root
        a.create(R, b"root")
        a.create(R, b"again")                            # NodeExists
        a.create(R + "/missing/child")                   # NoNode
        a.create(R + "/pers", b"p", flags=PERSISTENT)
        a.create(R + "/eph", b"e", flags=EPHEMERAL)
        a.create(R + "/seq-", b"s", flags=SEQUENTIAL)
        a.create(R + "/eseq-", b"es", flags=EPHEMERAL_SEQUENTIAL)
        a.create2(R + "/pers2", b"p2")
        a.create2(R + "/eph2", b"e2", flags=EPHEMERAL)
        a.create2(R + "/seq2-", b"s2", flags=SEQUENTIAL)
        a.create2(R + "/eseq2-", b"es2", flags=EPHEMERAL_SEQUENTIAL)
        a.create2(R + "/pers2", b"dup")                  # NodeExists
        # containers: opcode 19; also flag 4 through create/create2
        a.create_container(R + "/cont", b"c")
        a.create(R + "/cont1", flags=CONTAINER)
        a.create2(R + "/cont2", flags=CONTAINER)
        a.create_container(R + "/cont3", flags=PERSISTENT)
        # TTL nodes: opcode 21 (extended types enabled)
        a.create_ttl(R + "/ttl", b"t", ttl=60000)
        a.create_ttl(R + "/ttlseq-", b"ts", flags=PERSISTENT_SEQUENTIAL_WITH_TTL, ttl=60000)
        a.create_ttl(R + "/ttl0", ttl=0)                 # BadArguments
        a.create_ttl(R + "/ttlneg", ttl=-5)
        a.create_ttl(R + "/ttlbig", ttl=1 << 40)         # > max TTL
        a.create_ttl(R + "/ttlmax", ttl=(1 << 40) - 1)   # max TTL
        a.create_ttl(R + "/ttlflag0", flags=PERSISTENT, ttl=1000)
        a.create_ttl(R + "/ttlflag1", flags=EPHEMERAL, ttl=1000)
        a.create(R + "/f5", flags=PERSISTENT_WITH_TTL)   # TTL mode via plain create
        a.create2(R + "/f6", flags=PERSISTENT_SEQUENTIAL_WITH_TTL)
        a.create(R + "/f7", flags=7)                     # invalid flags
        a.create(R + "/fneg", flags=-1)
        # NoChildrenForEphemerals
        a.create(R + "/eph/child")
        a.create(R + "/eph/child", flags=SEQUENTIAL)
        a.create(R + "/eph/child", flags=EPHEMERAL)
        b.create(R + "/eph/child")
        # stats as seen by another session (ephemeralOwner = owning session;
        # 0 for containers and TTL nodes)
        for n in ("pers", "eph", "seq-0000000002", "eseq-0000000003", "cont", "cont1",
                  "cont2", "cont3", "ttl", "ttlmax"):
            b.exists(R + "/" + n)
        b.get_children2(R)
        b.get_data(R + "/ttl")
        b.get_all_children_number(R)
        a.get_ephemerals(R)
    diff(script)


def test_create_data_and_acl_encoding(diff):
    def script(t):
        a = t.session("A")
        R = t.root
        a.create(R)
        # null data buffer (length -1): ZooKeeper keeps null and returns it
        a.call("create", zw.Writer().string(R + "/nul").buffer(None).acls(OPEN_ACL_UNSAFE).int(0).bytes())
        a.get_data(R + "/nul")
        a.call("setData", zw.Writer().string(R + "/nul").buffer(None).int(-1).bytes())
        a.get_data(R + "/nul")
        a.set_data(R + "/nul", b"")
        a.get_data(R + "/nul")
        a.create(R + "/empty", b"")
        a.get_data(R + "/empty")
        a.create(R + "/bin", bytes(range(256)) * 4)
        a.get_data(R + "/bin")
        a.create(R + "/utf8-\u00e9\u4e2d", "\u00e9".encode())
        a.get_children(R)
        a.get_data(R + "/utf8-\u00e9\u4e2d")
        # null ACL vector / empty ACL list -> InvalidACL
        a.call("create", zw.Writer().string(R + "/nacl").buffer(b"").int(-1).int(0).bytes())
        a.create(R + "/eacl", acl=[])
        # truncated request body -> MarshallingError, connection stays open
        a.call("create", zw.Writer().string(R + "/trunc").bytes())
        a.call("getData", b"")
        # trailing garbage after a valid request body is ignored
        a.call("getData", zw.enc_path_watch(R + "/empty") + b"junk")
        a.exists(R)
    diff(script)


def test_sequential_numbering(diff):
    def script(t):
        a = t.session("A")
        R = t.root
        a.create(R)
        a.create(R + "/s-", flags=SEQUENTIAL)          # s-0000000000
        a.create(R + "/s-", flags=SEQUENTIAL)          # s-0000000001
        a.create(R + "/plain")                         # cversion 3
        a.delete(R + "/s-0000000000")                  # deletes also bump cversion
        a.create(R + "/s-", flags=SEQUENTIAL)          # s-0000000004
        a.create2(R + "/", flags=SEQUENTIAL)           # name is just the number
        a.create(R + "/x/", flags=SEQUENTIAL)          # parent /x missing -> NoNode
        a.create(R + "/e-", flags=EPHEMERAL_SEQUENTIAL)
        a.create(R + "/other-", flags=SEQUENTIAL)      # the counter is per parent, not per prefix
        a.create_ttl(R + "/t-", flags=PERSISTENT_SEQUENTIAL_WITH_TTL, ttl=100000)
        a.multi([op_create(R + "/m-", flags=SEQUENTIAL), op_create(R + "/m-", flags=SEQUENTIAL)])
        a.multi([op_create(R + "/f-", flags=SEQUENTIAL), op_create(R + "/plain")])  # fails
        a.create(R + "/after-fail-", flags=SEQUENTIAL)
        a.get_children2(R)
        a.create(R + "/plain/c", flags=SEQUENTIAL)     # fresh parent: 0000000000
        a.get_children2(R + "/plain")
    diff(script)


# ---------------------------------------------------------------------------
# delete / exists / getData / setData
# ---------------------------------------------------------------------------

def test_delete_semantics(diff):
    def script(t):
        a = t.session("A")
        R = t.root
        a.create(R)
        a.create(R + "/n", b"1")
        a.create(R + "/n/c")
        a.delete(R + "/nope")                           # NoNode
        a.delete(R + "/nope", 3)                        # NoNode beats BadVersion
        a.delete(R + "/n")                              # NotEmpty
        a.delete(R + "/n", 7)                           # BadVersion beats NotEmpty
        a.delete(R + "/n/c", 1)                         # BadVersion
        a.delete(R + "/n/c", -2)                        # only -1 is the wildcard
        a.delete(R + "/n/c", 0)
        a.set_data(R + "/n", b"2")
        a.delete(R + "/n", 0)                           # BadVersion (now 1)
        a.exists(R + "/n")
        a.delete(R + "/n", 1)
        a.exists(R + "/n")
        a.get_children2(R)
        a.delete(R + "/n")                              # NoNode
    diff(script)


def test_exists_getdata_setdata(diff):
    def script(t):
        a = t.session("A")
        R = t.root
        a.exists(R)
        a.get_data(R)
        a.set_data(R, b"x")                             # NoNode
        a.set_data(R, b"x", 3)
        a.create(R, b"v0")
        a.exists(R)
        a.get_data(R)
        a.set_data(R, b"v1")                            # version -1: any
        a.set_data(R, b"v2", 1)
        a.set_data(R, b"v3", 1)                         # BadVersion
        a.set_data(R, b"v3", -2)                        # BadVersion
        a.set_data(R, b"v3", 2)
        a.set_data(R, b"")
        a.get_data(R)
        a.set_data(R, b"x" * 1000)
        a.exists(R)
        a.get_data(R)
        a.create(R + "/c")
        a.exists(R)                                     # pzxid/cversion/numChildren
        a.set_data(R + "/c", b"y")
        a.exists(R)                                     # unchanged by child setData
        a.delete(R + "/c")
        a.exists(R)
    diff(script)


def test_get_children(diff):
    def script(t):
        a = t.session("A")
        b = t.session("B")
        R = t.root
        a.get_children(R)
        a.get_children2(R)
        a.create(R)
        a.get_children(R)
        a.get_children2(R)
        for n in ("c", "a", "b", "zz", "a1"):
            a.create(R + "/" + n)
        a.create(R + "/a/deep")
        a.create(R + "/a/deep/er")
        b.create(R + "/beph", flags=EPHEMERAL)
        a.get_children(R)
        a.get_children2(R)
        a.get_children2(R + "/a")
        a.get_children(R + "/a/deep/er")
        a.get_all_children_number(R)
        a.get_all_children_number(R + "/a")
        a.get_all_children_number(R + "/a/deep/er")
        a.get_all_children_number(R + "/nope")
        a.get_ephemerals(R)
        b.get_ephemerals(R)
        b.get_ephemerals(R + "/b")                      # plain string-prefix match
        b.get_ephemerals(R + "/c")
        b.get_ephemerals("")
    diff(script)


def test_sync(diff):
    def script(t):
        a = t.session("A")
        a.sync("/")
        a.sync(t.root)                                  # missing node: still OK
        a.create(t.root)
        a.sync(t.root)
        a.sync("not/a/path")
    diff(script)


def test_check_version_standalone_errors(diff):
    # NOTE: a *successful* standalone check (opcode 13 outside multi) gets no
    # reply at all from ZooKeeper 3.8.0, so only the error cases are compared.
    def script(t):
        a = t.session("A")
        a.create(t.root, b"")
        a.check(t.root, 5)                              # BadVersion
        a.check(t.root + "/nope", 0)                    # NoNode
        a.exists(t.root)
    diff(script)


# ---------------------------------------------------------------------------
# multi / multiRead
# ---------------------------------------------------------------------------

def test_multi(diff):
    def script(t):
        a = t.session("A")
        b = t.session("B")
        R = t.root
        a.create(R)
        a.create(R + "/x", b"x")
        b.get_children(R, watch=True)
        b.get_data(R + "/x", watch=True)
        # success: results per op; create2 inside multi is answered like create
        a.multi([op_create(R + "/a", b"1"), op_create2(R + "/b", b"2"),
                 op_set_data(R + "/a", b"3"), op_check(R + "/a", 1),
                 op_delete(R + "/b"), op_set_data(R + "/x", b"y", 0),
                 op_create(R + "/s-", flags=SEQUENTIAL),
                 op_create_ttl(R + "/ttl", ttl=100000), op_create_container(R + "/cont")])
        b.events(2)
        a.get_children2(R)
        a.exists(R + "/a")
        # failure in the middle: earlier ops report 0, failing op its error,
        # later ops RuntimeInconsistency (-2); nothing is applied
        a.multi([op_create(R + "/c"), op_set_data(R + "/a", b"z", 7),
                 op_create(R + "/d"), op_delete(R + "/nope")])
        a.multi([op_check(R + "/nope", 0), op_create(R + "/c")])
        a.multi([op_create(R + "/c"), op_create(R + "/c")])
        a.multi([op_create(R + "/c"), op_delete(R + "/a"), op_create(R + "/a/child")])
        a.multi([op_create(R + "/e", flags=EPHEMERAL), op_create(R + "/e/c")])
        a.multi([op_delete(R + "/x", 5)])
        a.multi([op_create_ttl(R + "/badttl", ttl=0)])
        a.multi([op_create(R + "/acl", acl=[])])
        a.exists(R + "/c")
        a.exists(R + "/d")
        a.get_children2(R)
        # ops that depend on earlier ops of the same multi
        a.multi([op_create(R + "/p"), op_create(R + "/p/q"), op_set_data(R + "/p/q", b"v"),
                 op_check(R + "/p/q", 1)])
        a.multi([op_delete(R + "/p/q"), op_delete(R + "/p")])
        a.multi([])                                     # empty multi
        # read ops are not allowed in multi (14)
        a.multi([op_get_data(R + "/a")])
        a.exists(R)
        b.events(0)
    diff(script)


def test_multi_read(diff):
    def script(t):
        a = t.session("A")
        b = t.session("B")
        R = t.root
        a.create(R)
        a.create(R + "/a", b"A")
        a.create(R + "/b", b"B")
        a.multi_read([op_get_data(R + "/a"), op_get_children(R), op_get_data(R + "/nope"),
                      op_get_children(R + "/nope"), op_get_data(R + "/b")])
        a.multi_read([])
        # write op inside multiRead -> MarshallingError
        a.multi_read([op_create(R + "/x")])
        a.exists(R + "/x")
        # (not compared: the watch flag inside multiRead ops, which ZooKeeper
        # 3.8 ignores -- the Java API cannot even express it)
        b.set_data(R + "/a", b"A2")
        b.create(R + "/c")
        # multiRead honours ACLs per op
        b.create(R + "/secret", b"s", acl=[(ALL, "digest", U1)])
        a.multi_read([op_get_data(R + "/secret"), op_get_data(R + "/a")])
    diff(script)


# ---------------------------------------------------------------------------
# ACLs and auth
# ---------------------------------------------------------------------------

def test_acl_validation(diff):
    def script(t):
        a = t.session("A")
        R = t.root
        a.create(R)
        a.create(R + "/x", acl=[(ALL, "auth", "")])              # no auth -> InvalidACL
        a.create(R + "/x", acl=[(ALL, "world", "other")])
        a.create(R + "/x", acl=[])
        a.create(R + "/x", acl=[(ALL, "nosuchscheme", "id")])
        a.create(R + "/x", acl=[(ALL, "ip", "300.1.1.1")])
        a.create(R + "/x", acl=[(ALL, "ip", "127.0.0.1/33")])
        a.create(R + "/x", acl=[(ALL, "digest", "nocolon")])
        a.create(R + "/x", acl=[(ALL, "super", "")])
        a.create(R + "/x", acl=[(ALL, "world", "anyone"), (ALL, "auth", "")])
        a.create(R + "/p0", acl=[(0, "world", "anyone")])          # perms 0 allowed
        a.create(R + "/p63", acl=[(63, "world", "anyone")])        # extra bits kept
        a.create(R + "/dup", acl=[(ALL, "world", "anyone"), (ALL, "world", "anyone"),
                                  (READ, "world", "anyone")])      # exact duplicates dropped
        a.create(R + "/ipok", acl=[(ALL, "ip", "127.0.0.1")])
        a.create(R + "/ipnet", acl=[(ALL, "ip", "127.0.0.0/8")])
        a.create(R + "/ipother", acl=[(ALL, "ip", "10.0.0.0/8")])
        a.create(R + "/dg", acl=[(ALL, "digest", U1)])
        for n in ("p0", "p63", "dup", "ipok", "ipnet", "ipother", "dg"):
            a.get_acl(R + "/" + n)
        a.get_acl(R + "/nope")
        # setACL: validation before existence, version = aversion
        a.set_acl(R + "/nope", [])                                 # InvalidACL
        a.set_acl(R + "/nope", OPEN_ACL_UNSAFE)                    # NoNode
        a.set_acl(R + "/dup", [(ALL, "auth", "")])                 # InvalidACL
        a.set_acl(R + "/dup", READ_ACL_UNSAFE + [(WRITE | ADMIN, "world", "anyone")], 3)  # BadVersion
        a.set_acl(R + "/dup", [(READ | ADMIN, "world", "anyone")], 0)
        a.set_acl(R + "/dup", [(READ | ADMIN, "world", "anyone")], 0)  # BadVersion now
        a.set_acl(R + "/dup", [(READ, "world", "anyone")], -1)
        a.exists(R + "/dup")                                       # aversion 2, mzxid unchanged
        a.set_acl(R + "/dup", OPEN_ACL_UNSAFE)                     # NoAuth: no ADMIN left
        a.get_acl(R + "/dup")
    diff(script)


def test_acl_enforcement_and_digest_auth(diff):
    def script(t):
        a = t.session("A")
        b = t.session("B")
        R = t.root
        a.create(R)
        a.auth("digest", "u1:p1")
        a.who_am_i()
        a.create(R + "/d", b"secret", acl=[(ALL, "digest", U1)])
        a.create(R + "/r", b"ro", acl=[(READ, "digest", U1), (READ, "world", "anyone")])
        a.create(R + "/au", b"", acl=[(READ | WRITE, "auth", "")])   # expands to digest:u1
        a.create(R + "/cw", b"", acl=[(CREATE | WRITE, "world", "anyone")])
        a.create(R + "/dl", b"", acl=[(DELETE | READ, "world", "anyone")])
        a.create(R + "/dl/x")                                           # NoAuth (no CREATE)
        a.create(R + "/cw/x")
        a.create(R + "/cw/y")
        a.get_acl(R + "/d")
        a.get_acl(R + "/r")                                             # no ADMIN -> redacted
        a.get_acl(R + "/au")
        # unauthenticated session B
        b.who_am_i()
        b.get_data(R + "/d")
        b.exists(R + "/d")                                               # exists needs no perms
        b.get_children(R + "/d")
        b.get_children2(R + "/d")
        b.get_acl(R + "/d")
        b.set_data(R + "/d", b"x")
        b.set_acl(R + "/d", OPEN_ACL_UNSAFE)
        b.create(R + "/d/child")
        b.get_all_children_number(R + "/d")
        b.get_data(R + "/r")
        b.get_acl(R + "/r")
        b.set_data(R + "/r", b"x")
        b.get_data(R + "/cw")                                            # no READ
        b.get_children(R + "/cw")
        b.set_data(R + "/cw", b"w")
        b.delete(R + "/cw/x")                                            # no DELETE on parent
        b.delete(R + "/dl")                                              # NotEmpty? / perms on parent
        b.multi([op_create(R + "/ok"), op_set_data(R + "/d", b"no")])
        b.multi_read([op_get_data(R + "/d"), op_get_children(R + "/cw")])
        # wrong password: auth "succeeds" (digest auth never fails) but grants nothing
        b.auth("digest", "u1:wrong")
        b.who_am_i()
        b.get_data(R + "/d")
        # right password
        b.auth("digest", "u1:p1")
        b.who_am_i()
        b.get_data(R + "/d")
        b.set_data(R + "/d", b"new")
        b.get_acl(R + "/d")
        b.create(R + "/d/child", b"c", acl=[(ALL, "auth", "")])
        # "auth" expands to every digest identity of the session (here the
        # wrong-password and the right-password u1); the order is unspecified
        b.get_acl(R + "/d/child", _unordered=True)
        b.auth("digest", "u2:p2")
        b.who_am_i()
        b.create(R + "/two", b"", acl=[(ALL, "auth", "")])              # both identities
        b.get_acl(R + "/two", _unordered=True)
        b.auth("digest", "nocolon")                                      # accepted as-is
        b.who_am_i()
        b.auth("ip", "10.1.2.3")                                         # ip auth: OK, no effect
        b.who_am_i()
        a.delete(R + "/d/child")
        a.delete(R + "/d")
    diff(script)


def test_ip_and_world_acls(diff):
    def script(t):
        a = t.session("A")
        R = t.root
        a.create(R)
        a.create(R + "/ip", b"i", acl=[(READ, "ip", "127.0.0.1")])
        a.create(R + "/net", b"n", acl=[(READ | WRITE, "ip", "127.0.0.0/8")])
        a.create(R + "/other", b"o", acl=[(ALL, "ip", "10.0.0.0/8")])
        a.create(R + "/w", b"w", acl=[(READ, "world", "anyone")])
        a.get_data(R + "/ip")
        a.set_data(R + "/ip", b"x")                                      # NoAuth
        a.get_data(R + "/net")
        a.set_data(R + "/net", b"x")
        a.get_data(R + "/other")
        a.get_acl(R + "/other")                                          # needs READ|ADMIN
        a.get_children(R + "/other")
        a.get_data(R + "/w")
        a.set_data(R + "/w", b"x")
        a.create(R + "/w/c")
        a.delete(R + "/w")                                               # parent R is open
    diff(script)


def test_auth_failed_closes_connection(diff):
    def script(t):
        a = t.session("A")
        a.auth("nosuchscheme", "whatever")                               # AuthFailed (-115)
        a.closed(timeout=3)
        b = t.session("B")
        b.auth("digest", "u1:p1")
        b.who_am_i()
    diff(script)


@pytest.mark.zk_quirk
def test_auth_with_ordinary_xid(diff):
    # Real clients always send auth packets with xid -4; ZooKeeper however
    # dispatches on the opcode (100) and echoes whatever xid was used.
    def script(t):
        b = t.session("B")
        b.call("auth", zw.enc_auth("digest", b"u1:p1"), xid=77, timeout=2)
        b.who_am_i()
    diff(script)


def test_super_digest(diff):
    def script(t):
        a = t.session("A")
        R = t.root
        a.create(R)
        a.auth("digest", "u1:p1")
        a.create(R + "/locked", b"L", acl=[(READ, "digest", U1)])
        a.create(R + "/none", b"N", acl=[(0, "world", "anyone")])
        s = t.session("S")
        s.get_data(R + "/locked")
        s.auth("digest", "super:wrongpw")
        s.get_data(R + "/locked")
        s.auth("digest", "super:superpw")
        s.who_am_i()
        s.get_data(R + "/locked")
        s.get_acl(R + "/locked")
        s.set_data(R + "/locked", b"by super")
        s.get_data(R + "/none")
        s.set_acl(R + "/none", OPEN_ACL_UNSAFE)
        s.get_acl(R + "/none")
        s.delete(R + "/locked")
    diff(script)


def test_who_am_i(diff):
    def script(t):
        a = t.session("A")
        a.who_am_i()
        a.auth("digest", "alice:pw")
        a.who_am_i()
        a.auth("digest", "alice:pw")                                     # duplicate ignored
        a.who_am_i()
        a.auth("digest", "bob:pw")
        a.who_am_i()
    diff(script)


# ---------------------------------------------------------------------------
# watches
# ---------------------------------------------------------------------------

def test_one_shot_watches(diff):
    def script(t):
        a = t.session("A")
        b = t.session("B")
        R = t.root
        a.create(R)
        # exists watch on a missing node -> NodeCreated
        a.exists(R + "/x", watch=True)
        # getData / getChildren on a missing node set no watch
        a.get_data(R + "/y", watch=True)
        a.get_children(R + "/y", watch=True)
        a.get_children(R, watch=True)
        b.create(R + "/x", b"1")
        a.events(2)                                     # NodeCreated /x, NodeChildrenChanged R
        b.create(R + "/y", b"1")
        a.events(0)                                     # nothing: no watch on /y, child watch used up
        # data + exists + child watches on one node: deletion fires once per
        # connection (NodeDeleted), the parent's child watch separately
        a.get_data(R + "/x", watch=True)
        a.exists(R + "/x", watch=True)
        a.get_children(R + "/x", watch=True)
        a.get_children(R, watch=True)
        b.delete(R + "/x")
        a.events(2)
        # data watch: fires once on setData, then is gone
        a.get_data(R + "/y", watch=True)
        b.set_data(R + "/y", b"2")
        a.events(1)
        b.set_data(R + "/y", b"3")
        a.events(0)
        # watch triggered by the watcher's own write: the event is delivered
        # before the reply of the write
        a.exists(R + "/y", watch=True)
        a.set_data(R + "/y", b"4")
        a.events(1)
        # child watch: fires for create and delete of children, not for child data changes
        a.get_children2(R + "/y", watch=True)
        b.create(R + "/y/c")
        a.events(1)
        a.get_children(R + "/y", watch=True)
        b.set_data(R + "/y/c", b"cc")
        a.events(0)
        b.delete(R + "/y/c")
        a.events(1)
        # several watchers in different sessions
        c = t.session("C")
        a.get_data(R + "/y", watch=True)
        c.get_data(R + "/y", watch=True)
        b.exists(R + "/y", watch=True)
        b.delete(R + "/y")
        a.events(1)
        c.events(1)
        b.events(1)
        # checkWatches reflects what is registered
        a.exists(R + "/z", watch=True)
        a.check_watches(R + "/z", WT_DATA)
        a.check_watches(R + "/z", WT_CHILDREN)
        a.check_watches(R + "/z", WT_ANY)
    diff(script)


def test_persistent_watches(diff):
    def script(t):
        a = t.session("A")
        b = t.session("B")
        R = t.root
        b.create(R)
        a.add_watch(R + "/p", AW_PERSISTENT)            # on a missing node: allowed
        a.add_watch(R, AW_PERSISTENT_RECURSIVE)
        a.add_watch(R + "/q", 7)                        # bad mode
        a.check_watches(R + "/p", WT_ANY)
        a.check_watches(R + "/p", WT_DATA)
        a.check_watches(R + "/p", WT_CHILDREN)
        a.check_watches(R, WT_DATA)
        a.check_watches(R + "/p", WT_PERSISTENT)        # 4/5 are not valid here
        a.check_watches(R, WT_PERSISTENT_RECURSIVE)
        b.create(R + "/p", b"")                         # one event although two watches match
        b.create(R + "/p/c", b"")
        b.set_data(R + "/p", b"1")
        b.set_data(R + "/p/c", b"1")
        b.create(R + "/other", b"")
        b.delete(R + "/p/c")
        b.delete(R + "/p")
        a.events(9)
        # persistent watches survive firing
        b.create(R + "/p", b"again")
        a.events(1)
        # the recursive watch does not produce NodeChildrenChanged
        a.remove_watches(R + "/p", WT_ANY)
        b.create(R + "/p/c2")
        a.events(1)
        a.remove_watches(R + "/p", WT_ANY)              # NoWatcher now
        a.remove_watches(R, WT_DATA)
        b.create(R + "/p/c3")
        a.events(0)
        a.remove_watches(R, WT_ANY)                     # NoWatcher
        # persistent (non-recursive) watch: data + children of that node only
        a.add_watch(R + "/p", AW_PERSISTENT)
        b.create(R + "/p/c2/deep")
        b.set_data(R + "/p/c2", b"x")
        b.set_data(R + "/p", b"y")
        b.delete(R + "/p/c3")
        a.events(2)
        a.remove_watches(R + "/p", WT_CHILDREN)
        b.create(R + "/p/c4")
        b.set_data(R + "/p", b"z")
        a.events(1)
        a.check_watches(R + "/p", WT_CHILDREN)
        a.check_watches(R + "/p", WT_DATA)
    diff(script)


def test_remove_and_check_watches(diff):
    def script(t):
        a = t.session("A")
        b = t.session("B")
        R = t.root
        a.create(R, b"")
        a.create(R + "/n", b"")
        a.check_watches(R + "/n", WT_ANY)               # NoWatcher
        a.remove_watches(R + "/n", WT_ANY)              # NoWatcher
        a.remove_watches(R + "/nope", WT_DATA)
        a.get_data(R + "/n", watch=True)
        a.get_children(R + "/n", watch=True)
        a.check_watches(R + "/n", WT_DATA)
        a.check_watches(R + "/n", WT_CHILDREN)
        a.check_watches(R + "/n", 9)                    # invalid type
        a.remove_watches(R + "/n", 9)
        a.remove_watches(R + "/n", WT_DATA)             # no event sent by the server
        a.check_watches(R + "/n", WT_DATA)
        a.check_watches(R + "/n", WT_CHILDREN)
        b.create(R + "/n/c")
        a.events(1)                                     # child watch still there
        a.exists(R + "/n", watch=True)
        a.remove_watches(R + "/n", WT_DATA)             # removes exists watch too
        b.set_data(R + "/n", b"x")
        a.events(0)
        a.get_children(R + "/n", watch=True)
        a.get_data(R + "/n", watch=True)
        a.remove_watches(R + "/n", WT_ANY)
        a.check_watches(R + "/n", WT_ANY)
        b.delete(R + "/n/c")
        a.events(0)
        # watches of another session are not visible
        b.get_data(R + "/n", watch=True)
        a.check_watches(R + "/n", WT_DATA)
        a.remove_watches(R + "/n", WT_DATA)
        b.check_watches(R + "/n", WT_DATA)
    diff(script)


def test_set_watches_on_reconnect(diff):
    def script(t):
        a = t.session("A")
        b = t.session("B")
        R = t.root
        a.create(R)
        for n in ("a", "b", "c", "d", "gone"):
            a.create(R + "/" + n)
        a.get_data(R + "/a", watch=True)
        a.exists(R + "/b", watch=True)
        a.get_children(R, watch=True)
        a.exists(R + "/new", watch=True)
        a.add_watch(R + "/c", AW_PERSISTENT)
        a.add_watch(R + "/d", AW_PERSISTENT_RECURSIVE)
        a.drop()                                        # TCP gone, session alive
        b.set_data(R + "/a", b"1")
        b.delete(R + "/b")
        b.create(R + "/new")
        b.set_data(R + "/c", b"1")
        b.set_data(R + "/d", b"1")
        b.delete(R + "/gone")
        a2 = t.session("A2", session_of="A")
        a2.events(0)                                    # watches died with the connection
        # SetWatches (101, xid -8): replays what changed since relativeZxid
        a2.set_watches(t.last_zxid_of("A"),
                       data=[R + "/a", R + "/gone", R + "/unchanged-missing"],
                       exist=[R + "/b", R + "/new", R + "/later"],
                       child=[R, R + "/gone"])
        # 6 events: /gone is reported twice (data watch and child watch)
        a2.events(6)
        b.create(R + "/later")
        a2.events(1)
        # SetWatches2 (105) also carries persistent / persistent-recursive watches;
        # those get no catch-up events
        a2.set_watches2(t.last_zxid_of("A2"), persistent=[R + "/c"], persistent_recursive=[R + "/d"])
        a2.events(0)
        b.set_data(R + "/c", b"2")
        b.create(R + "/d/sub")
        a2.events(2)
        a2.check_watches(R + "/c", WT_DATA)
        # a relativeZxid that is current produces no events for unchanged nodes
        a3 = t.session("A3")
        a3.set_watches(t.last_zxid_of("B"), data=[R + "/a"], exist=[R + "/zzz"], child=[R])
        a3.events(0)
        b.set_data(R + "/a", b"2")
        a3.events(1)
    diff(script)


def test_event_ordering_across_triggers(diff):
    def script(t):
        a = t.session("A")
        b = t.session("B")
        R = t.root
        a.create(R)
        a.create(R + "/k")
        a.get_children(R, watch=True)
        a.get_data(R + "/k", watch=True)
        a.get_children(R + "/k", watch=True)
        # one multi that triggers several watches at once
        b.multi([op_set_data(R + "/k", b"1"), op_create(R + "/k/c"), op_create(R + "/n")])
        a.events(3)
        a.get_children(R, watch=True)
        a.exists(R + "/k/c", watch=True)
        a.get_children(R + "/k", watch=True)
        b.multi([op_delete(R + "/k/c"), op_delete(R + "/k")])
        a.events(3)
    diff(script)


# ---------------------------------------------------------------------------
# invalid input
# ---------------------------------------------------------------------------

INVALID_PATHS = ["", "a", "/a/", "//", "/.", "/..", "/a/./b", "/a/../b", "/x/.", "/a//b",
                 "/a\x01", "/a\x00b", "/\x7f", "/\u0085", "/\ufff0", "/zookeeper/",
                 "/.a", "/..a", "/a.", "/a..b", "/ space", "/\u00e9"]


@pytest.mark.parametrize("group", ["write", "read"])
def test_invalid_paths(diff, group):
    """Server-side path validation.  Every path is tried at the top level and
    below the test root.  Top-level variants are never passed to create (some
    "invalid-looking" paths are valid and would litter '/')."""
    def script(t):
        a = t.session("A")
        R = t.root
        a.create(R)
        a.create(R + "/a")
        for p in INVALID_PATHS:
            for q in (p, R + p if p.startswith("/") else None):
                if q is None:
                    continue
                top = (q == p)
                if group == "write":
                    if not (top and p.startswith("/")):
                        a.create(q, b"")
                        a.create(q, b"", flags=SEQUENTIAL)
                        a.create2(q, b"")
                        a.multi([op_create(q)])
                    a.set_data(q, b"")
                    a.set_acl(q, OPEN_ACL_UNSAFE)
                    a.delete(q)
                elif q == "":
                    # reads of "" are covered by test_empty_path_reads_root
                    a.check_watches(q, WT_ANY)
                    a.remove_watches(q, WT_ANY)
                    a.sync(q)
                else:
                    a.exists(q)
                    a.get_data(q)
                    a.get_children(q)
                    a.get_children2(q)
                    a.get_acl(q)
                    a.get_all_children_number(q)
                    a.check_watches(q, WT_ANY)
                    a.remove_watches(q, WT_ANY)
                    a.sync(q)
        a.get_children(R)       # which of the odd names were actually created
    diff(script)


@pytest.mark.zk_quirk
def test_empty_path_reads_root(diff):
    # ZooKeeper stores the root under "" as well as "/": reads of "" behave
    # like reads of "/" (writes to "" are BadArguments, see test_invalid_paths).
    # Compared: that equivalence, not the (test-order dependent) root contents.
    def script(t):
        a = t.session("A")
        c = a.conn
        for name, f in (("exists", c.exists), ("getData", c.get_data),
                        ("getChildren", c.get_children), ("getChildren2", c.get_children2),
                        ("getACL", c.get_acl)):
            r1, r2 = f(""), f("/")
            for r in (r1, r2):
                r.pop("xid", None)
                r.pop("zxid", None)
            t.note("%s('') == %s('/')" % (name, name), (r1.get("err"), r1 == r2))
        # (ZooKeeper's count for "" differs from "/" -- only the error code is compared)
        t.note("getAllChildrenNumber('') err", c.get_all_children_number("").get("err"))
    diff(script)


def test_invalid_path_add_watch(diff):
    def script(t):
        a = t.session("A")
        for p in ("", "a", "/a/", "//", "/a\x00b"):
            a.add_watch(p, AW_PERSISTENT)
        a.exists("/zookeeper/quota")
    diff(script)


@pytest.mark.parametrize("opcode", [999, 0, 10, 23, 108, -1])
def test_unknown_opcode(diff, opcode):
    def script(t):
        a = t.session("A")
        a.exists("/zookeeper/quota")
        # ZooKeeper: reply err -6 (Unimplemented), header zxid -1, then closes
        a.call(opcode, b"", timeout=3)
        a.closed(timeout=3)
    diff(script)


def test_reconfig_and_internal_opcodes(diff):
    def script(t):
        a = t.session("A")
        a.call("reconfig", zw.Writer().string("").string("").string("").long(-1).bytes())
        a.call("createSession", b"")
        a.exists("/zookeeper/quota")
    diff(script)


def test_pipelined_requests(diff):
    """Many requests written at once must be answered in order."""
    def script(t):
        a = t.session("A")
        R = t.root
        a.create(R)
        conn = a.conn
        payload = b""
        xids = []
        for i in range(60):
            xid = conn.next_xid()
            xids.append(xid)
            if i % 3 == 0:
                body = zw.Writer().int(xid).int(zw.OP["create"]).bytes() + zw.enc_create(R + "/n%02d" % i, b"%d" % i)
            elif i % 3 == 1:
                body = zw.Writer().int(xid).int(zw.OP["getData"]).bytes() + zw.enc_path_watch(R + "/n%02d" % (i - 1))
            else:
                body = zw.Writer().int(xid).int(zw.OP["exists"]).bytes() + zw.enc_path_watch(R + "/n%02d" % (i + 1))
            payload += zw.Writer().int(len(body)).bytes() + body
        conn.sock.sendall(payload)
        got = []
        for xid in xids:
            rep = conn.wait_reply(xid, timeout=5)
            got.append((rep.get("xid"), rep.get("err")))
        t.note("pipelined (xid, err) in arrival order", got)
        t.note("unexpected replies", [(u["xid"], u["err"]) for u in conn.unexpected])
        a.get_children2(R)
    diff(script)


# ---------------------------------------------------------------------------
# four letter words
# ---------------------------------------------------------------------------

def _kv_lines(text, sep):
    out = {}
    for line in text.splitlines():
        if sep in line:
            k, v = line.split(sep, 1)
            out[k.strip()] = v.strip()
    return out


MNTR_CORE = ["zk_version", "zk_server_state", "zk_avg_latency", "zk_max_latency", "zk_min_latency",
             "zk_packets_received", "zk_packets_sent", "zk_num_alive_connections",
             "zk_outstanding_requests", "zk_znode_count", "zk_watch_count", "zk_ephemerals_count",
             "zk_approximate_data_size", "zk_open_file_descriptor_count",
             "zk_max_file_descriptor_count"]
SRVR_KEYS = ["Zookeeper version", "Latency min/avg/max", "Received", "Sent", "Connections",
             "Outstanding", "Zxid", "Mode", "Node count"]
CONF_KEYS = ["clientPort", "dataDir", "tickTime", "maxClientCnxns", "minSessionTimeout",
             "maxSessionTimeout"]


def test_four_letter_words_exact(diff):
    def script(t):
        t.note("ruok", t.four_letter("ruok"))
        t.note("isro", t.four_letter("isro"))
        # not a 4lw: read as a packet length -> connection closed without output
        t.note("xxxx", t.four_letter("xxxx", timeout=3))
    diff(script)


def test_four_letter_words_formats(diff):
    def script(t):
        a = t.session("A")
        R = t.root
        a.create(R)
        srvr0 = t.four_letter("srvr").decode()
        mntr0 = _kv_lines(t.four_letter("mntr").decode(), "\t")
        for i in range(3):
            a.create(R + "/n%d" % i, b"abc")
        a.create(R + "/e", b"", flags=EPHEMERAL)
        a.get_data(R + "/n0", watch=True)
        a.exists(R + "/missing", watch=True)
        a.get_children(R, watch=True)
        srvr = t.four_letter("srvr").decode()
        kv = _kv_lines(srvr, ": ")
        t.note("srvr first line", srvr.splitlines()[0].startswith("Zookeeper version: 3."))
        t.note("srvr keys", [k for k in SRVR_KEYS if k in kv])
        t.note("srvr Mode", kv.get("Mode"))
        t.note("srvr Zxid is hex >= our last zxid",
               bool(re.match(r"^0x[0-9a-f]+$", kv.get("Zxid", ""))) and
               int(kv.get("Zxid", "0x0"), 16) >= a.last_zxid)
        t.note("srvr Latency format", bool(re.match(r"^\d+/[\d.]+/\d+$", kv.get("Latency min/avg/max", ""))))
        t.note("srvr Node count delta",
               int(kv.get("Node count", -99)) - int(_kv_lines(srvr0, ": ").get("Node count", 0)))
        stat = t.four_letter("stat").decode()
        skv = _kv_lines(stat, ": ")
        t.note("stat keys", [k for k in SRVR_KEYS if k in skv])
        t.note("stat has Clients section", "\nClients:\n" in stat)
        mntr = _kv_lines(t.four_letter("mntr").decode(), "\t")
        t.note("mntr core keys", [k for k in MNTR_CORE if k in mntr])
        t.note("mntr server_state", mntr.get("zk_server_state"))
        t.note("mntr znode_count delta", int(mntr.get("zk_znode_count", -99)) - int(mntr0.get("zk_znode_count", 0)))
        t.note("mntr ephemerals delta",
               int(mntr.get("zk_ephemerals_count", -99)) - int(mntr0.get("zk_ephemerals_count", 0)))
        t.note("mntr watch_count delta",
               int(mntr.get("zk_watch_count", -99)) - int(mntr0.get("zk_watch_count", 0)))
        t.note("mntr zk_version starts with 3.", mntr.get("zk_version", "").startswith("3."))
        conf = _kv_lines(t.four_letter("conf").decode(), "=")
        t.note("conf keys", [k for k in CONF_KEYS if k in conf])
        t.note("conf clientPort is ours", conf.get("clientPort") == str(t.port))
        envi = t.four_letter("envi").decode()
        ekv = _kv_lines(envi, "=")
        t.note("envi first line", envi.splitlines()[0] if envi else None)
        t.note("envi zookeeper.version 3.x", ekv.get("zookeeper.version", "").startswith("3."))
        # kazoo's server_version() parsing
        m = re.match(r"^([\d.]*).*", ekv.get("zookeeper.version", ""), re.DOTALL)
        t.note("envi version digits", tuple(int(x) for x in m.group(1).split(".") if x)[:2] if m else None)
        t.note("envi keys", [k for k in ("zookeeper.version", "host.name", "os.name") if k in ekv])
        # cons: one line per connection, ours included with its session id
        lport = a.conn.sock.getsockname()[1]
        cons = t.four_letter("cons").decode()
        mine = [l for l in cons.splitlines() if l.startswith(" /127.0.0.1:%d[" % lport)]
        t.note("cons has our connection", len(mine))
        if mine:
            inner = re.match(r"^ /[\d.]+:\d+\[\d+\]\((.*)\)$", mine[0])
            fields = dict(f.split("=", 1) for f in inner.group(1).split(",")) if inner else {}
            t.note("cons fields", sorted(fields))
            t.note("cons sid is ours", fields.get("sid") == "0x%x" % a.session_id)
            t.note("cons to", fields.get("to"))
        # wchs / wchc / wchp
        wchs = t.four_letter("wchs").decode()
        t.note("wchs format", bool(re.match(r"^\d+ connections watching \d+ paths\nTotal watches:\d+\n?$", wchs)))
        hexmap = t.session_hex_map()
        wchc = t.four_letter("wchc").decode()
        cur, byses = None, {}
        for line in wchc.splitlines():
            if line.startswith("0x"):
                cur = hexmap.get(line.strip(), "other")
                byses.setdefault(cur, [])
            elif line.startswith("\t") and cur:
                byses[cur].append(line.strip())
        t.note("wchc (our session)", sorted(byses.get("session:A", [])))
        wchp = t.four_letter("wchp").decode()
        cur, bypath = None, {}
        for line in wchp.splitlines():
            if line.startswith("/"):
                cur = line.strip()
            elif line.startswith("\t") and cur and cur.startswith(R):
                bypath.setdefault(cur, []).append(hexmap.get(line.strip(), "other"))
        t.note("wchp (our paths)", {k: sorted(v) for k, v in sorted(bypath.items())})
        dump = t.four_letter("dump").decode()
        t.note("dump sections", [s for s in ("SessionTracker dump:", "ephemeral nodes dump:",
                                              "Sessions with Ephemerals")
                                 if s in dump])
        eph, cur = {}, None
        eph_section = dump.split("ephemeral nodes dump:", 1)[-1].split("Connections dump:", 1)[0]
        for line in eph_section.splitlines():
            m = re.match(r"^(0x[0-9a-f]+):$", line.strip())
            if m:
                cur = hexmap.get(m.group(1))
            elif line.startswith("\t") and cur:
                eph.setdefault(cur, []).append(line.strip())
        t.note("dump ephemerals of our session", sorted(eph.get("session:A", [])))
    diff(script)
