"""A tiny raw ZooKeeper (3.8) client-protocol implementation for tests.

It speaks the jute wire format directly so that tests can see *exactly*
what a server replies: error codes, reply-header zxids, payload bytes,
watch notifications (xid -1), ping replies (xid -2), auth replies (xid -4)
and setWatches replies (xid -8).  It deliberately does no retrying, no
client-side validation and no reconnecting: whatever is asked is sent.

Framing: every packet is a 4-byte big-endian length followed by the payload.
Handshake: ConnectRequest / ConnectResponse (no request header).
After that: RequestHeader{int xid, int type} + record, and
ReplyHeader{int xid, long zxid, int err} + record.
"""

import hashlib
import base64
import socket
import struct
import time

# --------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------

OP = {
    "notification": 0,
    "create": 1,
    "delete": 2,
    "exists": 3,
    "getData": 4,
    "setData": 5,
    "getACL": 6,
    "setACL": 7,
    "getChildren": 8,
    "sync": 9,
    "ping": 11,
    "getChildren2": 12,
    "check": 13,
    "multi": 14,
    "create2": 15,
    "reconfig": 16,
    "checkWatches": 17,
    "removeWatches": 18,
    "createContainer": 19,
    "deleteContainer": 20,
    "createTTL": 21,
    "multiRead": 22,
    "auth": 100,
    "setWatches": 101,
    "sasl": 102,
    "getEphemerals": 103,
    "getAllChildrenNumber": 104,
    "setWatches2": 105,
    "addWatch": 106,
    "whoAmI": 107,
    "createSession": -10,
    "closeSession": -11,
    "error": -1,
}
OP_NAME = {v: k for k, v in OP.items()}

ERR = {
    0: "OK",
    -1: "SystemError",
    -2: "RuntimeInconsistency",
    -3: "DataInconsistency",
    -4: "ConnectionLoss",
    -5: "MarshallingError",
    -6: "Unimplemented",
    -7: "OperationTimeout",
    -8: "BadArguments",
    -12: "UnknownSession",
    -13: "NewConfigNoQuorum",
    -14: "ReconfigInProgress",
    -100: "APIError",
    -101: "NoNode",
    -102: "NoAuth",
    -103: "BadVersion",
    -108: "NoChildrenForEphemerals",
    -110: "NodeExists",
    -111: "NotEmpty",
    -112: "SessionExpired",
    -113: "InvalidCallback",
    -114: "InvalidACL",
    -115: "AuthFailed",
    -118: "SessionMoved",
    -119: "NotReadOnly",
    -120: "EphemeralOnLocalSession",
    -121: "NoWatcher",
    -123: "ReconfigDisabled",
    -124: "SessionClosedRequireSaslAuth",
    -125: "QuotaExceeded",
    -127: "Throttled",
}

EVENT = {
    -1: "None",
    1: "NodeCreated",
    2: "NodeDeleted",
    3: "NodeDataChanged",
    4: "NodeChildrenChanged",
    5: "DataWatchRemoved",
    6: "ChildWatchRemoved",
    7: "PersistentWatchRemoved",
}

STATE = {
    -1: "Unknown",
    0: "Disconnected",
    3: "SyncConnected",
    4: "AuthFailed",
    5: "ConnectedReadOnly",
    6: "SaslAuthenticated",
    -112: "Expired",
    7: "Closed",
}

# CreateMode flags
PERSISTENT = 0
EPHEMERAL = 1
SEQUENTIAL = 2
EPHEMERAL_SEQUENTIAL = 3
CONTAINER = 4
PERSISTENT_WITH_TTL = 5
PERSISTENT_SEQUENTIAL_WITH_TTL = 6

# Permissions
READ, WRITE, CREATE, DELETE, ADMIN = 1, 2, 4, 8, 16
ALL = 31

# Watcher types (checkWatches / removeWatches)
WT_CHILDREN, WT_DATA, WT_ANY, WT_PERSISTENT, WT_PERSISTENT_RECURSIVE = 1, 2, 3, 4, 5
# addWatch modes
AW_PERSISTENT, AW_PERSISTENT_RECURSIVE = 0, 1

NOTIFICATION_XID = -1
PING_XID = -2
AUTH_XID = -4
SET_WATCHES_XID = -8

OPEN_ACL_UNSAFE = [(ALL, "world", "anyone")]
READ_ACL_UNSAFE = [(READ, "world", "anyone")]


def digest_id(user, password):
    """The digest-scheme id for user/password: user:base64(sha1(user:password))."""
    raw = hashlib.sha1(("%s:%s" % (user, password)).encode()).digest()
    return "%s:%s" % (user, base64.b64encode(raw).decode())


# --------------------------------------------------------------------------
# Jute encoding
# --------------------------------------------------------------------------

class Writer:
    def __init__(self):
        self.parts = []

    def int(self, v):
        self.parts.append(struct.pack(">i", v))
        return self

    def long(self, v):
        self.parts.append(struct.pack(">q", v))
        return self

    def bool(self, v):
        self.parts.append(b"\x01" if v else b"\x00")
        return self

    def buffer(self, b):
        if b is None:
            return self.int(-1)
        self.int(len(b))
        self.parts.append(bytes(b))
        return self

    def string(self, s):
        if s is None:
            return self.int(-1)
        if isinstance(s, str):
            s = s.encode("utf-8")
        return self.buffer(s)

    def raw(self, b):
        self.parts.append(bytes(b))
        return self

    def vector(self, items, fn):
        if items is None:
            return self.int(-1)
        self.int(len(items))
        for it in items:
            fn(self, it)
        return self

    def strings(self, items):
        return self.vector(items, lambda w, s: w.string(s))

    def acls(self, acls):
        def one(w, a):
            perms, scheme, ident = a
            w.int(perms).string(scheme).string(ident)
        return self.vector(acls, one)

    def bytes(self):
        return b"".join(self.parts)


class Reader:
    def __init__(self, data, offset=0):
        self.data = data
        self.off = offset

    def remaining(self):
        return len(self.data) - self.off

    def _take(self, n):
        if self.off + n > len(self.data):
            raise ValueError("short read: need %d bytes at offset %d of %d"
                             % (n, self.off, len(self.data)))
        b = self.data[self.off:self.off + n]
        self.off += n
        return b

    def int(self):
        return struct.unpack(">i", self._take(4))[0]

    def long(self):
        return struct.unpack(">q", self._take(8))[0]

    def bool(self):
        return self._take(1) != b"\x00"

    def buffer(self):
        n = self.int()
        if n < 0:
            return None
        return self._take(n)

    def string(self):
        b = self.buffer()
        return None if b is None else b.decode("utf-8", "surrogateescape")

    def vector(self, fn):
        n = self.int()
        if n < 0:
            return None
        return [fn(self) for _ in range(n)]

    def strings(self):
        return self.vector(lambda r: r.string())

    def acls(self):
        return self.vector(lambda r: (r.int(), r.string(), r.string()))

    def stat(self):
        keys = ("czxid", "mzxid", "ctime", "mtime", "version", "cversion",
                "aversion", "ephemeralOwner", "dataLength", "numChildren", "pzxid")
        vals = struct.unpack(">qqqqiiiqiiq", self._take(68))
        return dict(zip(keys, vals))


# --------------------------------------------------------------------------
# Request bodies
# --------------------------------------------------------------------------

def enc_create(path, data=b"", acl=OPEN_ACL_UNSAFE, flags=0, ttl=None):
    w = Writer().string(path).buffer(data).acls(acl).int(flags)
    if ttl is not None:
        w.long(ttl)
    return w.bytes()


def enc_path_watch(path, watch=False):
    return Writer().string(path).bool(watch).bytes()


def enc_path(path):
    return Writer().string(path).bytes()


def enc_path_int(path, v):
    return Writer().string(path).int(v).bytes()


def enc_set_data(path, data, version=-1):
    return Writer().string(path).buffer(data).int(version).bytes()


def enc_set_acl(path, acl, version=-1):
    return Writer().string(path).acls(acl).int(version).bytes()


def enc_multi(ops):
    """ops: list of (opcode, body-bytes).  Each op is MultiHeader{type, done=false,
    err=-1} + body; terminated by MultiHeader{-1, true, -1}."""
    w = Writer()
    for opcode, body in ops:
        w.int(opcode).bool(False).int(-1).raw(body)
    w.int(-1).bool(True).int(-1)
    return w.bytes()


def enc_auth(scheme, auth, typ=0):
    return Writer().int(typ).string(scheme).buffer(auth).bytes()


def enc_set_watches(rel_zxid, data=(), exist=(), child=(),
                    persistent=None, persistent_recursive=None):
    w = Writer().long(rel_zxid).strings(list(data)).strings(list(exist)).strings(list(child))
    if persistent is not None or persistent_recursive is not None:
        w.strings(list(persistent or ())).strings(list(persistent_recursive or ()))
    return w.bytes()


# --------------------------------------------------------------------------
# Reply bodies
# --------------------------------------------------------------------------

def _dec_multi(r, read=False):
    results = []
    while True:
        typ = r.int()
        done = r.bool()
        err = r.int()
        if done:
            break
        if typ == -1:
            results.append({"type": "error", "hdr_err": err, "err": r.int()})
        elif typ == OP["create"]:
            results.append({"type": "create", "path": r.string()})
        elif typ in (OP["create2"], OP["createContainer"], OP["createTTL"]):
            results.append({"type": OP_NAME[typ], "path": r.string(), "stat": r.stat()})
        elif typ == OP["delete"]:
            results.append({"type": "delete"})
        elif typ == OP["setData"]:
            results.append({"type": "setData", "stat": r.stat()})
        elif typ == OP["check"]:
            results.append({"type": "check"})
        elif typ == OP["getChildren"]:
            results.append({"type": "getChildren", "children": r.strings()})
        elif typ == OP["getData"]:
            results.append({"type": "getData", "data": r.buffer(), "stat": r.stat()})
        else:
            raise ValueError("unexpected multi result type %d" % typ)
    return results


DECODERS = {
    OP["create"]: lambda r: {"path": r.string()},
    OP["create2"]: lambda r: {"path": r.string(), "stat": r.stat()},
    OP["createContainer"]: lambda r: {"path": r.string(), "stat": r.stat()},
    OP["createTTL"]: lambda r: {"path": r.string(), "stat": r.stat()},
    OP["delete"]: lambda r: {},
    OP["exists"]: lambda r: {"stat": r.stat()},
    OP["getData"]: lambda r: {"data": r.buffer(), "stat": r.stat()},
    OP["setData"]: lambda r: {"stat": r.stat()},
    OP["getACL"]: lambda r: {"acl": r.acls(), "stat": r.stat()},
    OP["setACL"]: lambda r: {"stat": r.stat()},
    OP["getChildren"]: lambda r: {"children": r.strings()},
    OP["getChildren2"]: lambda r: {"children": r.strings(), "stat": r.stat()},
    OP["sync"]: lambda r: {"path": r.string()},
    OP["check"]: lambda r: {},
    OP["multi"]: lambda r: {"results": _dec_multi(r)},
    OP["multiRead"]: lambda r: {"results": _dec_multi(r, read=True)},
    OP["getAllChildrenNumber"]: lambda r: {"count": r.int()},
    OP["getEphemerals"]: lambda r: {"ephemerals": r.strings()},
    OP["whoAmI"]: lambda r: {"clientInfo": r.vector(lambda rr: (rr.string(), rr.string()))},
    # ZooKeeper 3.8 answers addWatch with a 4-byte body (an ErrorResponse, err 0)
    OP["addWatch"]: lambda r: {"body_int": r.int()} if r.remaining() >= 4 else {},
    OP["checkWatches"]: lambda r: {},
    OP["removeWatches"]: lambda r: {},
    OP["closeSession"]: lambda r: {},
    OP["auth"]: lambda r: {},
    OP["setWatches"]: lambda r: {},
    OP["setWatches2"]: lambda r: {},
    OP["ping"]: lambda r: {},
}


class ProtocolError(AssertionError):
    pass


class Closed(Exception):
    """The server closed the connection."""


# --------------------------------------------------------------------------
# Connection
# --------------------------------------------------------------------------

class ZKConn:
    """One TCP connection to a ZooKeeper-protocol server."""

    def __init__(self, host, port, timeout=10.0):
        self.host, self.port = host, port
        self.io_timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.xid = 0
        self.events = []          # list of dicts: {"type", "state", "path", "zxid"}
        self.closed = False
        self.session_id = None
        self.passwd = None
        self.timeout_ms = None
        self.last_zxid = 0
        self.last_send = time.monotonic()
        self.unexpected = []      # packets with unexpected xids
        self.event_count = 0      # notifications received so far (their order against replies)

    # -- low level ---------------------------------------------------------

    def send_packet(self, payload):
        self.sock.sendall(struct.pack(">i", len(payload)) + payload)
        self.last_send = time.monotonic()

    def _recv_some(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("timed out")
        self.sock.settimeout(remaining)
        try:
            d = self.sock.recv(65536)
        except ConnectionResetError:
            d = b""
        if not d:
            self.closed = True
            raise Closed()
        self.buf += d

    def read_packet(self, timeout=None):
        """Return the next raw packet payload; raises Closed / socket.timeout."""
        deadline = time.monotonic() + (self.io_timeout if timeout is None else timeout)
        while len(self.buf) < 4:
            self._recv_some(deadline)
        (n,) = struct.unpack(">i", self.buf[:4])
        if n < 0 or n > 64 * 1024 * 1024:
            raise ProtocolError("bad frame length %d" % n)
        while len(self.buf) < 4 + n:
            self._recv_some(deadline)
        pkt = self.buf[4:4 + n]
        self.buf = self.buf[4 + n:]
        return pkt

    # -- handshake ---------------------------------------------------------

    def connect(self, session_id=0, passwd=b"\x00" * 16, timeout_ms=10000,
                last_zxid=0, read_only=False, send_read_only=True, protocol_version=0):
        w = (Writer().int(protocol_version).long(last_zxid).int(timeout_ms)
             .long(session_id).buffer(passwd))
        if send_read_only:
            w.bool(read_only)
        self.send_packet(w.bytes())
        pkt = self.read_packet()
        r = Reader(pkt)
        resp = {
            "protocolVersion": r.int(),
            "timeOut": r.int(),
            "sessionId": r.long(),
            "passwd": r.buffer(),
        }
        resp["readOnly"] = r.bool() if r.remaining() >= 1 else None
        resp["trailing"] = r.remaining()
        resp["raw_len"] = len(pkt)
        self.session_id = resp["sessionId"]
        self.passwd = resp["passwd"]
        self.timeout_ms = resp["timeOut"]
        return resp

    # -- requests ----------------------------------------------------------

    def next_xid(self):
        self.xid += 1
        return self.xid

    def _handle_special(self, xid, zxid, err, r):
        if xid == NOTIFICATION_XID:
            ev = {"type": r.int(), "state": r.int(), "path": r.string(), "zxid": zxid,
                  "err": err}
            self.events.append(ev)
            self.event_count += 1
            return True
        if xid == PING_XID:
            return True
        return False

    def request(self, opcode, body=b"", xid=None, timeout=None):
        """Send a request and wait for its reply (buffering notifications).

        Returns a dict {"xid", "zxid", "err", "body" (raw bytes)} or
        {"closed": True} if the server closed the connection first.
        """
        if xid is None:
            xid = self.next_xid()
        payload = Writer().int(xid).int(opcode).bytes() + body
        events_at_send = self.event_count
        try:
            self.send_packet(payload)
        except OSError:
            self.closed = True
            return {"closed": True}
        rep = self.wait_reply(xid, timeout=timeout)
        if "xid" in rep:
            # Notifications that arrived after the request and before its reply: ZooKeeper sends
            # those a write triggers ahead of the write's reply.
            rep["events_before"] = self.event_count - events_at_send
        return rep

    def wait_reply(self, xid, timeout=None):
        deadline = time.monotonic() + (self.io_timeout if timeout is None else timeout)
        while True:
            try:
                pkt = self.read_packet(timeout=max(0.001, deadline - time.monotonic()))
            except Closed:
                return {"closed": True}
            except socket.timeout:
                return {"timeout": True}
            r = Reader(pkt)
            rxid, zxid, err = r.int(), r.long(), r.int()
            if rxid == xid:
                if zxid > self.last_zxid:
                    self.last_zxid = zxid
                return {"xid": rxid, "zxid": zxid, "err": err, "body": pkt[16:]}
            if self._handle_special(rxid, zxid, err, r):
                continue
            self.unexpected.append({"xid": rxid, "zxid": zxid, "err": err, "body": pkt[16:]})

    def call(self, opname, body=b"", xid=None, timeout=None):
        """request() + decode the body according to the opcode."""
        opcode = OP[opname] if isinstance(opname, str) else opname
        rep = self.request(opcode, body, xid=xid, timeout=timeout)
        if "xid" not in rep:
            return rep
        out = {"err": rep["err"], "zxid": rep["zxid"], "xid": rep["xid"]}
        if rep.get("events_before"):
            out["events_before_reply"] = rep["events_before"]
        raw = rep["body"]
        if rep["err"] == 0 and opcode in DECODERS:
            r = Reader(raw)
            try:
                out.update(DECODERS[opcode](r))
            except ValueError as e:
                out["decode_error"] = str(e)
                out["raw"] = raw.hex()
            if r.remaining():
                out["trailing_bytes"] = r.remaining()
        elif rep["err"] == 0 and raw:
            out["raw"] = raw.hex()
        elif rep["err"] != 0 and raw:
            # ZooKeeper sends only the reply header for errors (except multi)
            out["error_body_len"] = len(raw)
        return out

    def ping(self, timeout=None):
        return self.request(OP["ping"], b"", xid=PING_XID, timeout=timeout)

    def send_ping(self):
        """Fire-and-forget ping (the xid -2 reply is swallowed when reading)."""
        try:
            self.send_packet(Writer().int(PING_XID).int(OP["ping"]).bytes())
        except OSError:
            self.closed = True

    def keepalive(self):
        if self.timeout_ms and not self.closed:
            if time.monotonic() - self.last_send > self.timeout_ms / 3000.0:
                self.send_ping()

    def _read_one(self, timeout):
        """Read and dispatch one packet; False on timeout/close."""
        try:
            pkt = self.read_packet(timeout=timeout)
        except (Closed, socket.timeout):
            return False
        r = Reader(pkt)
        rxid, zxid, err = r.int(), r.long(), r.int()
        if not self._handle_special(rxid, zxid, err, r):
            self.unexpected.append({"xid": rxid, "zxid": zxid, "err": err, "body": pkt[16:]})
        return True

    def poll(self, timeout):
        """Read whatever arrives during `timeout` seconds (events / pings)."""
        deadline = time.monotonic() + timeout
        while not self.closed:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._read_one(remaining)

    def wait_events(self, n, timeout=5.0):
        """Wait until at least n events are buffered (or timeout); return and clear them."""
        deadline = time.monotonic() + timeout
        while len(self.events) < n and not self.closed:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self.keepalive()
            self._read_one(min(remaining, 0.5))
        evs, self.events = self.events, []
        return evs

    def wait_closed(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        while not self.closed and time.monotonic() < deadline:
            self.poll(min(0.2, max(0.001, deadline - time.monotonic())))
        return self.closed

    def close_socket(self):
        try:
            self.sock.close()
        except OSError:
            pass
        self.closed = True

    def close_session(self, timeout=None):
        rep = self.call("closeSession", b"", timeout=timeout)
        self.close_socket()
        return rep

    # -- convenience wrappers (return decoded dicts) -------------------------

    def create(self, path, data=b"", acl=OPEN_ACL_UNSAFE, flags=0):
        return self.call("create", enc_create(path, data, acl, flags))

    def create2(self, path, data=b"", acl=OPEN_ACL_UNSAFE, flags=0):
        return self.call("create2", enc_create(path, data, acl, flags))

    def create_container(self, path, data=b"", acl=OPEN_ACL_UNSAFE, flags=CONTAINER):
        return self.call("createContainer", enc_create(path, data, acl, flags))

    def create_ttl(self, path, data=b"", acl=OPEN_ACL_UNSAFE, flags=PERSISTENT_WITH_TTL, ttl=1000):
        return self.call("createTTL", enc_create(path, data, acl, flags, ttl=ttl))

    def delete(self, path, version=-1):
        return self.call("delete", enc_path_int(path, version))

    def exists(self, path, watch=False):
        return self.call("exists", enc_path_watch(path, watch))

    def get_data(self, path, watch=False):
        return self.call("getData", enc_path_watch(path, watch))

    def set_data(self, path, data, version=-1):
        return self.call("setData", enc_set_data(path, data, version))

    def get_acl(self, path):
        return self.call("getACL", enc_path(path))

    def set_acl(self, path, acl, version=-1):
        return self.call("setACL", enc_set_acl(path, acl, version))

    def get_children(self, path, watch=False):
        return self.call("getChildren", enc_path_watch(path, watch))

    def get_children2(self, path, watch=False):
        return self.call("getChildren2", enc_path_watch(path, watch))

    def sync(self, path):
        return self.call("sync", enc_path(path))

    def check(self, path, version):
        return self.call("check", enc_path_int(path, version))

    def multi(self, ops):
        return self.call("multi", enc_multi(ops))

    def multi_read(self, ops):
        return self.call("multiRead", enc_multi(ops))

    def get_all_children_number(self, path):
        return self.call("getAllChildrenNumber", enc_path(path))

    def get_ephemerals(self, prefix):
        return self.call("getEphemerals", enc_path(prefix))

    def who_am_i(self):
        return self.call("whoAmI", b"")

    def add_watch(self, path, mode):
        return self.call("addWatch", enc_path_int(path, mode))

    def check_watches(self, path, wtype):
        return self.call("checkWatches", enc_path_int(path, wtype))

    def remove_watches(self, path, wtype):
        return self.call("removeWatches", enc_path_int(path, wtype))

    def auth(self, scheme, auth):
        if isinstance(auth, str):
            auth = auth.encode()
        return self.call("auth", enc_auth(scheme, auth), xid=AUTH_XID)

    def set_watches(self, rel_zxid, data=(), exist=(), child=()):
        return self.call("setWatches", enc_set_watches(rel_zxid, data, exist, child),
                         xid=SET_WATCHES_XID)

    def set_watches2(self, rel_zxid, data=(), exist=(), child=(), persistent=(),
                     persistent_recursive=()):
        return self.call("setWatches2",
                         enc_set_watches(rel_zxid, data, exist, child,
                                         list(persistent), list(persistent_recursive)),
                         xid=SET_WATCHES_XID)



class MultiOp(tuple):
    """(opcode, body) pair for multi/multiRead with a readable repr."""

    def __new__(cls, opcode, body, desc):
        t = tuple.__new__(cls, (opcode, body))
        t.desc = desc
        return t

    def __repr__(self):
        return self.desc


def _flags_name(flags):
    names = {0: "PERSISTENT", 1: "EPHEMERAL", 2: "SEQUENTIAL", 3: "EPHEMERAL_SEQUENTIAL",
             4: "CONTAINER", 5: "PERSISTENT_WITH_TTL", 6: "PERSISTENT_SEQUENTIAL_WITH_TTL"}
    return names.get(flags, str(flags))


# Multi op helpers: each returns a MultiOp (opcode, body)
def op_create(path, data=b"", acl=OPEN_ACL_UNSAFE, flags=0):
    return MultiOp(OP["create"], enc_create(path, data, acl, flags),
                   "create(%r, %r, flags=%s)" % (path, data, _flags_name(flags)))


def op_create2(path, data=b"", acl=OPEN_ACL_UNSAFE, flags=0):
    return MultiOp(OP["create2"], enc_create(path, data, acl, flags),
                   "create2(%r, %r, flags=%s)" % (path, data, _flags_name(flags)))


def op_create_ttl(path, data=b"", acl=OPEN_ACL_UNSAFE, flags=PERSISTENT_WITH_TTL, ttl=1000):
    return MultiOp(OP["createTTL"], enc_create(path, data, acl, flags, ttl=ttl),
                   "createTTL(%r, %r, flags=%s, ttl=%d)" % (path, data, _flags_name(flags), ttl))


def op_create_container(path, data=b"", acl=OPEN_ACL_UNSAFE):
    return MultiOp(OP["createContainer"], enc_create(path, data, acl, CONTAINER),
                   "createContainer(%r, %r)" % (path, data))


def op_delete(path, version=-1):
    return MultiOp(OP["delete"], enc_path_int(path, version),
                   "delete(%r, version=%d)" % (path, version))


def op_set_data(path, data, version=-1):
    return MultiOp(OP["setData"], enc_set_data(path, data, version),
                   "setData(%r, %r, version=%d)" % (path, data, version))


def op_check(path, version):
    return MultiOp(OP["check"], enc_path_int(path, version),
                   "check(%r, version=%d)" % (path, version))


def op_get_children(path, watch=False):
    return MultiOp(OP["getChildren"], enc_path_watch(path, watch),
                   "getChildren(%r, watch=%s)" % (path, watch))


def op_get_data(path, watch=False):
    return MultiOp(OP["getData"], enc_path_watch(path, watch),
                   "getData(%r, watch=%s)" % (path, watch))


def connect(host, port, **kw):
    c = ZKConn(host, port)
    c.connect(**kw)
    return c


def four_letter_word(host, port, cmd, timeout=5.0):
    """Send a four letter word and read until the server closes."""
    if isinstance(cmd, str):
        cmd = cmd.encode()
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        s.sendall(cmd)
        data = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                d = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                break
            if not d:
                break
            data += d
        return data
    finally:
        s.close()
