"""Differential test framework: run one scripted sequence of raw ZooKeeper
protocol operations against a *reference* server (Apache ZooKeeper) and a
*subject* server (Conclave, or a second ZooKeeper in self-check mode), record
every reply, normalise what legitimately differs, and compare.

What is normalised
------------------
* zxids in Stat (czxid/mzxid/pzxid) and the reply-header zxid of *successful
  writes* are replaced by labels Z1, Z2, ... in first-seen order within one
  run (0 and negative values are kept literally: system nodes have zxid 0).
  So equalities such as "czxid == mzxid after create", "pzxid == czxid of the
  newest child", "all nodes of one multi share one czxid", "header zxid of a
  create == czxid" are compared, but absolute values and gaps are not.
* the reply-header zxid of reads, failed writes, sync, ping, setWatches... is
  replaced by '*' after checking that it never goes backwards on a
  connection (a property checked on both servers).
* ctime/mtime: 0 stays 0 (system nodes), otherwise it must be a plausible
  wall-clock time in milliseconds (checked) and becomes 'T'.
* session ids (connect reply, ephemeralOwner, 4lw output) become 'session:A'
  using the labels the script gave its sessions; passwords become their length.
* lists whose order ZooKeeper does not define (children, getEphemerals,
  whoAmI) are sorted.

Everything else -- error codes, paths, data, versions, cversion, aversion,
numChildren, dataLength, ACLs, event type/state/path and order -- must match
exactly.
"""

import re
import socket
import time

import zkwire
from zkwire import ZKConn, EVENT, STATE, ERR, OP, OP_NAME

SUCCESS_WRITE_OPS = {
    "create", "create2", "create_container", "create_ttl", "delete", "set_data", "set_acl",
}
TIME_SLACK_MS = 10 * 60 * 1000


class Labeled(int):
    """An int argument shown by a stable description in transcripts (e.g. a
    zxid, whose raw value differs between servers)."""

    def __new__(cls, value, desc):
        o = int.__new__(cls, value)
        o.desc = desc
        return o

    def __repr__(self):
        return self.desc


class Step:
    __slots__ = ("idx", "session", "op", "args", "reply", "raw", "note", "t")

    def __init__(self, idx, session, op, args, reply, raw, note=None):
        self.idx, self.session, self.op, self.args = idx, session, op, args
        self.reply, self.raw, self.note = reply, raw, note
        self.t = time.monotonic()

    def call_text(self):
        return "[session %s] %s(%s)" % (self.session, self.op, self.args)

    def key(self):
        return (self.session, self.op, self.args)


def _fmt_args(args, kw):
    parts = [repr(a) for a in args]
    parts += ["%s=%r" % (k, v) for k, v in sorted(kw.items())]
    return ", ".join(parts)


class Sess:
    """A recorded session handle used by scripts (wraps zkwire.ZKConn)."""

    RECORDED = (
        "create", "create2", "create_container", "create_ttl", "delete", "exists",
        "get_data", "set_data", "get_acl", "set_acl", "get_children", "get_children2",
        "sync", "check", "multi", "multi_read", "get_all_children_number",
        "get_ephemerals", "who_am_i", "add_watch", "check_watches", "remove_watches",
        "auth", "set_watches", "set_watches2", "call", "ping",
    )

    def __init__(self, run, label, conn):
        self.run = run
        self.label = label
        self.conn = conn
        self.dead = None  # reason string once a request timed out

    @property
    def session_id(self):
        return self.conn.session_id

    @property
    def passwd(self):
        return self.conn.passwd

    @property
    def last_zxid(self):
        return self.conn.last_zxid

    def __getattr__(self, name):
        if name not in self.RECORDED:
            raise AttributeError(name)
        method = getattr(self.conn, name)

        def wrapper(*args, **kw):
            unordered = kw.pop("_unordered", False)
            if self.dead:
                reply = {"skipped": self.dead}
            else:
                try:
                    reply = method(*args, **kw)
                except (OSError, zkwire.Closed) as e:
                    reply = {"closed": True, "exc": type(e).__name__}
                except (ValueError, AssertionError) as e:
                    reply = {"protocol_error": str(e)}
            if reply.get("timeout"):
                self.dead = "an earlier request on this session timed out"
            self.run.record(self, name, _fmt_args(args, kw), reply, unordered=unordered)
            return reply

        return wrapper

    def events(self, n=1, timeout=3.0, sort=False, grace=0.05, quiet=0.3):
        """Wait for >= n watch notifications (or timeout), record them.
        n=0 means "expect none": listen for `quiet` seconds."""
        if self.dead:
            evs = None
        else:
            if n == 0:
                self.conn.poll(quiet)
                evs = self.conn.wait_events(0, 0)
            else:
                evs = self.conn.wait_events(n, timeout)
                self.conn.poll(grace)
                evs += self.conn.wait_events(0, 0)
        self.run.record_events(self, evs, n, sort)
        return evs

    def closed(self, timeout=3.0):
        """Record whether the server closed this connection within timeout."""
        c = self.conn.wait_closed(timeout)
        self.run.record_value(self.label, "connection_closed", "", c)
        return c

    def close_session(self):
        reply = self.conn.close_session(timeout=5.0) if not self.conn.closed else {"closed": True}
        self.run.record(self, "close_session", "", reply)
        return reply

    def drop(self):
        """Close the TCP connection without closeSession (session stays alive)."""
        self.conn.close_socket()
        self.run.record_value(self.label, "drop_connection", "", None)


class Run:
    """One execution of a script against one server."""

    def __init__(self, server, role, root):
        self.server = server
        self.role = role
        self.root = root
        self.steps = []
        self.sessions = {}       # label -> Sess
        self.session_labels = {} # session id -> label
        self.zxids = {}          # zxid -> label
        self.violations = []
        self.t0_ms = int(time.time() * 1000)
        self.last_hdr_zxid = {}  # session label -> last header zxid

    # -- script API ---------------------------------------------------------
    @property
    def port(self):
        return self.server.port

    def session(self, label, session_of=None, passwd=None, record=True, **connect_kw):
        """Open a new connection.  session_of=<label> reattaches to that
        label's session id (with its password unless passwd is given)."""
        conn = ZKConn("127.0.0.1", self.server.port, timeout=5.0)
        if session_of is not None:
            src = self.sessions[session_of]
            connect_kw.setdefault("session_id", src.session_id)
            connect_kw.setdefault("passwd", src.passwd if passwd is None else passwd)
            connect_kw.setdefault("last_zxid", src.last_zxid)
        if "timeout_ms" not in connect_kw:
            connect_kw["timeout_ms"] = 10000
        try:
            resp = conn.connect(**connect_kw)
        except (OSError, zkwire.Closed) as e:
            resp = {"closed": True, "exc": type(e).__name__}
        sess = Sess(self, label, conn)
        if "sessionId" in resp and resp["sessionId"] and session_of is None:
            self.session_labels.setdefault(resp["sessionId"], label)
        self.sessions[label] = sess
        if record:
            args = ", ".join("%s=%s" % (k, self._arg_repr(k, v)) for k, v in sorted(connect_kw.items()))
            self.record(sess, "connect", args, resp)
        return sess

    def _arg_repr(self, k, v):
        if k == "session_id":
            return self.session_name(v)
        if k == "passwd":
            return "<%d bytes%s>" % (len(v), "" if any(v) else ", zero")
        if k == "last_zxid":
            return "<last zxid seen>" if v else "0"
        return repr(v)

    def last_zxid_of(self, label):
        """The highest reply-header zxid session `label` has seen, as an argument."""
        return Labeled(self.sessions[label].last_zxid, "<last zxid seen by %s>" % label)

    def four_letter(self, cmd, timeout=5.0):
        return zkwire.four_letter_word("127.0.0.1", self.server.port, cmd, timeout=timeout)

    def record_value(self, session, name, args, value):
        """Record an arbitrary (already normalised) value as a step."""
        self.steps.append(Step(len(self.steps), session, name, args, value, value))

    def note(self, name, value):
        self.record_value("-", name, "", value)

    def check(self, cond, what):
        """A property that must hold on every server (recorded as a violation)."""
        if not cond:
            self.violations.append("step %d: %s" % (len(self.steps), what))

    # -- normalisation -------------------------------------------------------
    def session_name(self, sid):
        if sid == 0:
            return 0
        if sid in self.session_labels:
            return "session:%s" % self.session_labels[sid]
        return "session:<unknown %#x>" % (sid & 0xFFFFFFFFFFFFFFFF)

    def session_hex_map(self):
        return {("0x%x" % sid): "session:%s" % lbl for sid, lbl in self.session_labels.items()}

    def zx(self, z):
        if z is None or z <= 0:
            return z
        if z not in self.zxids:
            self.zxids[z] = "Z%d" % (len(self.zxids) + 1)
        return self.zxids[z]

    def tm(self, t, what):
        if t == 0:
            return 0
        now = int(time.time() * 1000)
        ok = self.t0_ms - TIME_SLACK_MS <= t <= now + TIME_SLACK_MS
        self.check(ok, "%s=%r is not a plausible wall-clock time in ms (now=%d)" % (what, t, now))
        return "T" if ok else "BAD_TIME(%r)" % t

    def stat(self, st):
        if st is None:
            return None
        out = dict(st)
        for k in ("czxid", "mzxid", "pzxid"):
            out[k] = self.zx(st[k])
        out["ctime"] = self.tm(st["ctime"], "ctime")
        out["mtime"] = self.tm(st["mtime"], "mtime")
        self.check(st["mtime"] >= st["ctime"], "mtime < ctime in %r" % (st,))
        self.check(st["mzxid"] >= st["czxid"], "mzxid < czxid in %r" % (st,))
        self.check(st["pzxid"] >= st["czxid"], "pzxid < czxid in %r" % (st,))
        out["ephemeralOwner"] = (self.session_name(st["ephemeralOwner"])
                                 if st["ephemeralOwner"] in self.session_labels
                                 else st["ephemeralOwner"])
        return out

    def _norm_multi_results(self, results):
        out = []
        for r in results:
            r = dict(r)
            if "stat" in r:
                r["stat"] = self.stat(r["stat"])
            if "children" in r and r["children"] is not None:
                r["children"] = sorted(r["children"])
            out.append(r)
        return out

    def normalize(self, sess, op, reply):
        rep = dict(reply)
        label = sess.label
        if "timeout" in rep or "closed" in rep or "skipped" in rep or "protocol_error" in rep:
            rep.pop("exc", None)
            return rep
        if op == "connect":
            rep["sessionId"] = self.session_name(rep["sessionId"])
            rep["passwd"] = None if rep["passwd"] is None else "<%d bytes%s>" % (
                len(rep["passwd"]), "" if any(rep["passwd"]) else ", zero")
            return rep
        err = rep.get("err")
        hz = rep.get("zxid")
        xid = rep.get("xid")
        # --- reply header zxid
        if hz is not None:
            special = xid in (zkwire.AUTH_XID, zkwire.NOTIFICATION_XID) or err == -6 or op == "auth"
            if not special:
                prev = self.last_hdr_zxid.get(label)
                self.check(prev is None or hz >= prev,
                           "reply-header zxid went backwards on session %s: %r after %r"
                           % (label, hz, prev))
                self.last_hdr_zxid[label] = max(hz, prev or hz)
            if special:
                pass  # keep literal (ZooKeeper: auth reply zxid 0, unimplemented -1)
            elif err == 0 and (op in SUCCESS_WRITE_OPS or (op == "multi" and rep.get("results") and all(
                    r.get("type") != "error" for r in rep["results"]))):
                rep["zxid"] = self.zx(hz)
            else:
                rep["zxid"] = "*"
        if "stat" in rep:
            st = rep["stat"]
            if err == 0 and op in ("create2", "create_container", "create_ttl"):
                self.check(st["czxid"] == hz, "create reply header zxid %r != czxid %r" % (hz, st["czxid"]))
            if err == 0 and op == "set_data":
                self.check(st["mzxid"] == hz, "setData reply header zxid %r != mzxid %r" % (hz, st["mzxid"]))
            rep["stat"] = self.stat(st)
        if "results" in rep:
            rep["results"] = self._norm_multi_results(rep["results"])
        for k in ("children", "ephemerals"):
            if rep.get(k) is not None:
                rep[k] = sorted(rep[k])
        if rep.get("clientInfo") is not None:
            rep["clientInfo"] = sorted(rep["clientInfo"])
        return rep

    def record(self, sess, op, args, reply, unordered=False):
        norm = self.normalize(sess, op, reply)
        if sess.conn.unexpected:
            # Replies nobody asked for (wrong xid, duplicates) are part of what is compared.
            norm = dict(norm)
            norm["stray_replies"] = [(u["xid"], u["err"]) for u in sess.conn.unexpected]
            sess.conn.unexpected.clear()
        if unordered and isinstance(norm.get("acl"), list):
            norm["acl"] = sorted(norm["acl"])
        self.steps.append(Step(len(self.steps), sess.label, op, args, norm, reply))

    def record_events(self, sess, evs, n, sort):
        if evs is None:
            norm = {"skipped": sess.dead}
        else:
            norm = []
            for e in evs:
                norm.append((EVENT.get(e["type"], e["type"]), STATE.get(e["state"], e["state"]),
                             e["path"], e["zxid"]) + ((("err", e["err"]),) if e["err"] else ()))
            if sort:
                norm.sort(key=repr)
        self.steps.append(Step(len(self.steps), sess.label, "events",
                               "expect=%d%s" % (n, ", sorted" if sort else ""), norm, evs))

    # -- teardown ------------------------------------------------------------
    def finish(self):
        """Record leftover events, close sessions (unrecorded) and remove the root."""
        live = [s for s in self.sessions.values() if not s.conn.closed and not s.dead]
        if live:
            time.sleep(0.15)
        for label in sorted(self.sessions):
            s = self.sessions[label]
            if s.conn.closed or s.dead:
                continue
            s.conn.poll(0.01)
            evs = s.conn.wait_events(0, 0)
            if evs:
                self.record_events(s, evs, 0, False)
                self.steps[-1].op = "unexpected_leftover_events"
            if s.conn.unexpected:
                self.record_value(label, "unexpected_leftover_replies", "",
                                  [(u["xid"], u["err"]) for u in s.conn.unexpected])
                s.conn.unexpected.clear()
        for s in self.sessions.values():
            if not s.conn.closed:
                try:
                    if not s.dead:
                        s.conn.close_session(timeout=3.0)
                finally:
                    s.conn.close_socket()
        if self.root:
            cleanup_tree(self.server.port, self.root)


SUPER_USER, SUPER_PASSWORD = "super", "superpw"


def cleanup_tree(port, root, deadline_s=10.0):
    """Delete root recursively (as the super user).  Best effort, bounded."""
    deadline = time.monotonic() + deadline_s
    try:
        c = ZKConn("127.0.0.1", port, timeout=3.0)
        c.connect()
        c.auth("digest", "%s:%s" % (SUPER_USER, SUPER_PASSWORD))
    except Exception:
        return

    def rm(path):
        if time.monotonic() > deadline:
            return
        r = c.get_children(path)
        if r.get("err") == 0:
            for ch in r["children"]:
                rm(path.rstrip("/") + "/" + ch)
        c.delete(path)

    try:
        rm(root)
        c.close_session(timeout=3.0)
    except Exception:
        pass
    finally:
        c.close_socket()


# ---------------------------------------------------------------------------
# comparison
# ---------------------------------------------------------------------------

def _short(v, limit=1500):
    s = repr(v)
    return s if len(s) <= limit else s[:limit] + "...<%d chars>" % len(s)


def _field_diff(x, y, prefix=""):
    """['stat.cversion: -1 vs 0', ...] for nested dicts/lists of equal shape."""
    if isinstance(x, dict) and isinstance(y, dict):
        out = []
        for k in sorted(set(x) | set(y), key=str):
            out += _field_diff(x.get(k, "<absent>"), y.get(k, "<absent>"),
                               "%s%s" % (prefix + "." if prefix else "", k))
        return out
    if isinstance(x, list) and isinstance(y, list) and len(x) == len(y) and all(
            isinstance(e, dict) for e in x + y):
        out = []
        for i, (ex, ey) in enumerate(zip(x, y)):
            out += _field_diff(ex, ey, "%s[%d]" % (prefix, i))
        return out
    if x != y:
        return ["%s: %s vs %s" % (prefix or "value", _short(x, 200), _short(y, 200))]
    return []


def compare_runs(ref, sub, ref_name, sub_name, context=4, max_diffs=8):
    """Return a failure message (str) or None."""
    problems = []
    if ref.violations:
        problems.append("PROPERTY VIOLATIONS ON THE REFERENCE (%s) -- the test/harness is wrong:\n  %s"
                        % (ref_name, "\n  ".join(ref.violations)))
    if sub.violations:
        problems.append("property violations on %s:\n  %s" % (sub_name, "\n  ".join(sub.violations)))
    diffs = []
    n = max(len(ref.steps), len(sub.steps))
    for i in range(n):
        a = ref.steps[i] if i < len(ref.steps) else None
        b = sub.steps[i] if i < len(sub.steps) else None
        if a is None or b is None:
            diffs.append((i, a, b, "one transcript is longer"))
            break
        if a.key() != b.key():
            diffs.append((i, a, b, "the scripts diverged (different call at this step)"))
            break
        if a.reply != b.reply:
            diffs.append((i, a, b, None))
            if len(diffs) >= max_diffs:
                break
    if diffs:
        out = []
        for i, a, b, why in diffs:
            s = a or b
            lines = ["--- step %d: %s" % (i, s.call_text())]
            if why:
                lines.append("    (%s)" % why)
            lines.append("    %-10s -> %s" % (ref_name, _short(a.reply if a else "<no step>")))
            lines.append("    %-10s -> %s" % (sub_name, _short(b.reply if b else "<no step>")))
            if a is not None and b is not None:
                d = _field_diff(a.reply, b.reply)
                if d and len(d) < 12:
                    lines.append("    differing fields (zookeeper vs %s): %s" % (sub_name, "; ".join(d)))
            out.append("\n".join(lines))
        first = diffs[0][0]
        ctx = ["    #%d %s -> %s" % (st.idx, st.call_text(), _short(st.reply, 300))
               for st in ref.steps[max(0, first - context):first]]
        problems.append("%d differing step(s) between %s and %s:\n%s\n  context (reference run, steps before #%d):\n%s"
                        % (len(diffs), ref_name, sub_name, "\n".join(out), first,
                           "\n".join(ctx) if ctx else "    <none>"))
    return "\n\n".join(problems) if problems else None


def transcript(run, limit=400):
    t0 = run.steps[0].t if run.steps else 0
    return "\n".join("#%d +%.3fs %s -> %s" % (s.idx, s.t - t0, s.call_text(), _short(s.reply, 3000))
                     for s in run.steps[:limit])
