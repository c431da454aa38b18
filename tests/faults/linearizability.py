"""Linearizability of a compare-and-set register (Wing & Gong's search with Lowe's memoisation, the
algorithm behind Knossos and Porcupine), for the histories tests/faults/runner.py records.

An operation is a dict:
    {"f": "read" | "write" | "cas", "value": ..., "expect": ... (cas),
     "type": "ok" | "fail" | "info", "result": ... (read: the value seen; cas: True/False),
     "invoke": t0, "complete": t1}
"ok" operations happened, with the result given; "fail" operations certainly did not happen and
are dropped; "info" operations (timeouts, lost connections) may or may not have happened, at any
time after their invocation, and their results are unknown. Written values are unique, so a
conditional write on a version (ZooKeeper) or a ModifyIndex (Consul) is a compare-and-set on the
value read with that version.

check(ops, initial) returns (True, None), (False, explanation), or (None, explanation) when the
search ran out of its budget (states explored, or seconds) before deciding: unknown, which a caller
must not count as a pass. explain(ops, initial) also returns the acknowledged operation no
linearization could place (None when linearizable or unknown), the centre of the window of history
a failure report shows.
"""

import math
import time

INF = math.inf


def _apply(state, op):
    """(allowed, new state) of `op` on `state`."""
    f = op["f"]
    if f == "read":
        return op["result"] == state, state
    if f == "write":
        return True, op["value"]
    if f == "cas":
        matches = state == op["expect"]
        if op["type"] == "info":
            return True, op["value"] if matches else state
        if op["result"]:
            return matches, op["value"] if matches else state
        return not matches, state
    raise ValueError("unknown op %r" % f)


def check(history, initial=None, max_states=2_000_000, seconds=None):
    ok, why, _ = explain(history, initial, max_states, seconds)
    return ok, why


def explain(history, initial=None, max_states=2_000_000, seconds=None):
    deadline = None if seconds is None else time.monotonic() + seconds
    # Values some acknowledged operation observed (a read's result, a cas's expected value).
    observed = {o.get("result") for o in history if o["type"] == "ok" and o["f"] == "read"}
    observed |= {o.get("expect") for o in history if o["type"] == "ok" and o["f"] == "cas"}
    failed_cas = any(o["type"] == "ok" and o["f"] == "cas" and not o.get("result") for o in history)
    ops = []
    for op in history:
        if op["type"] == "fail":
            continue
        if op["type"] == "info" and op["f"] == "read":
            continue  # an unanswered read constrains nothing
        if op["type"] == "info" and op["value"] not in observed and not failed_cas:
            # An unanswered write nobody observed: taking effect could only hide the register's
            # value from later operations, never explain one, so it is left out. (With failed
            # cas operations in the history it is kept: it could explain one.)
            continue
        o = dict(op)
        o["complete"] = INF if op["type"] == "info" else op["complete"]
        ops.append(o)
    ops.sort(key=lambda o: o["invoke"])
    n = len(ops)
    required = 0
    for i, o in enumerate(ops):
        if o["type"] == "ok":
            required |= 1 << i
    infos = [i for i, o in enumerate(ops) if o["type"] == "info"]
    seen = set()
    # Depth-first search over (set of linearized ops, register state); `done` is a bitmask.
    # Only a window of operations can go next: those invoked before the earliest completion
    # among the pending ones. The window is scanned from the first pending acknowledged op, so
    # the cost per state follows the concurrency, not the history's length; unanswered (info)
    # operations stay candidates from their invocation on.
    stack = [(0, initial, 0)]
    explored = 0
    best, best_count = 0, -1
    while stack:
        done, state, count = stack.pop()
        pending_required = required & ~done
        if not pending_required:
            return True, None, None
        key = (done, state)
        if key in seen:
            continue
        seen.add(key)
        explored += 1
        if explored > max_states:
            return None, "unknown: the search gave up after %d states (history too concurrent to decide)" % max_states, None
        if deadline is not None and explored % 1024 == 0 and time.monotonic() > deadline:
            return None, "unknown: the search ran out of its %g s after %d states" % (seconds, explored), None
        if count > best_count:
            best, best_count = done, count
        lo = (pending_required & -pending_required).bit_length() - 1  # first pending acknowledged op
        horizon = INF
        i = lo
        while i < n and ops[i]["invoke"] <= horizon:
            if not done >> i & 1 and ops[i]["type"] == "ok":
                horizon = min(horizon, ops[i]["complete"])
            i += 1
        window_end = i
        ready = [j for j in range(lo, window_end) if not done >> j & 1 and ops[j]["invoke"] <= horizon]
        # An unanswered write need only take effect right before an operation that depends on
        # it: one that observes its value, or a failed cas (which it might explain). Placing it
        # anywhere earlier is never necessary, so it is a candidate only then.
        needed, explains = set(), False
        for j in ready:
            o = ops[j]
            if o["type"] != "ok":
                continue
            if o["f"] == "read":
                needed.add(o["result"])
            elif o["f"] == "cas":
                needed.add(o["expect"])
                explains = explains or not o["result"]
        candidates = [j for j in ready if ops[j]["type"] == "ok" or explains or ops[j]["value"] in needed]
        candidates += [j for j in infos if j < lo and not done >> j & 1 and (explains or ops[j]["value"] in needed)]
        for j in candidates:
            allowed, new_state = _apply(state, ops[j])
            if allowed:
                stack.append((done | 1 << j, new_state, count + (ops[j]["type"] == "ok")))
    done = best
    stuck = [ops[i] for i in range(n) if not done >> i & 1 and ops[i]["type"] == "ok"]
    first = min(stuck, key=lambda o: o["complete"]) if stuck else None
    return False, ("no linearization: the longest one found covers %d of %d acknowledged operations; "
                   "it cannot place %s" % (bin(done & required).count("1"), bin(required).count("1"), _describe(first))), first


def window(history, op, before=1.0, most=40):
    """The operations of `history` that overlap [op's invocation - before, op's completion], in
    invocation order (at most `most`, nearest first): what a reader needs to see why `op` cannot
    be placed."""
    lo, hi = op["invoke"] - before, op["complete"]
    near = [o for o in history if o["type"] != "fail" and o["invoke"] <= hi
            and (o["complete"] is None or o["complete"] >= lo)]
    near.sort(key=lambda o: abs(o["invoke"] - op["invoke"]))
    return sorted(near[:most], key=lambda o: o["invoke"])


def describe(op):
    return _describe(op)


def _describe(op):
    if op is None:
        return "?"
    extra = {"read": "-> %r" % (op.get("result"),), "write": "%r" % (op.get("value"),),
             "cas": "%r -> %r = %r" % (op.get("expect"), op.get("value"), op.get("result"))}[op["f"]]
    return "%s %s by %s [%.4f, %.4f]" % (op["f"], extra, op.get("process", "?"), op["invoke"], op["complete"])
