"""Simulated power loss: runs a server under tests/powerloss/powerloss.c (an LD_PRELOAD shim that
journals every write, truncate, create, rename and deletion under the data directory and every
fsync), and
after a SIGKILL undoes, newest first, everything that no fsync had made durable yet
(see the shim's header for the model).

    env = powerloss.environment(data_dir, journal)   # add to the server's environment
    ... run, then kill -9 the server ...
    report = powerloss.lose_unsynced(journal)        # the files as after a power cut

Env: CONCLAVE_POWERLOSS_SO overrides the shim's path (default
<repo>/build/release/tests/libconclave_powerloss.so).
"""

import bisect
import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SO = REPO_ROOT / "build" / "release" / "tests" / "libconclave_powerloss.so"


def shim_path():
    p = Path(os.environ.get("CONCLAVE_POWERLOSS_SO", DEFAULT_SO))
    if not p.exists():
        raise AssertionError("%s is missing: the test build makes it (tests/CMakeLists.txt)" % p)
    return p


def environment(root, journal):
    """Environment variables that put a process under the shim."""
    return {"LD_PRELOAD": str(shim_path()), "POWERLOSS_ROOT": str(root), "POWERLOSS_JOURNAL": str(journal)}


def _records(journal):
    data = Path(journal).read_bytes() if Path(journal).exists() else b""
    pos, out = 0, []
    while pos < len(data):
        nl = data.index(b"\n", pos)
        fields = data[pos:nl].decode().split("\t")
        pos = nl + 1
        kind, rest = fields[0], fields[1:]
        payload = b""
        if kind in ("W", "T", "R", "U"):
            n = int(rest[-1])
            payload = data[pos:pos + n]
            if len(payload) != n:
                break  # a record torn by the kill: the call it describes never ran
            pos += n
        out.append((kind, rest, payload))
    return out


def lose_unsynced(journal):
    """Rewinds the files under the journal's root to their durable state, and empties the
    journal. Returns counts of what was undone (and `records`, `deletions_seen`: what the
    journal held)."""
    recs = _records(journal)
    # A path's data syncs count for the writes before them until the file under that name is
    # deleted: a later file of the same name is another file.
    syncs, deletions, last_dirsync = {}, {}, {}
    for i, (kind, rest, _) in enumerate(recs):
        if kind == "S":
            syncs.setdefault(rest[0], []).append(i)
        elif kind == "U":
            deletions.setdefault(rest[0], []).append(i)
        elif kind == "D":
            last_dirsync[rest[0].rstrip("/")] = i

    def first_after(indices, i):
        k = bisect.bisect_right(indices, i)
        return indices[k] if k < len(indices) else None

    def synced(path, i):
        s = first_after(syncs.get(path, []), i)
        u = first_after(deletions.get(path, []), i)
        return s is not None and (u is None or s < u)

    def dir_synced(path, i):
        return last_dirsync.get(os.path.dirname(path), -1) > i

    undone = {"records": len(recs), "writes": 0, "truncates": 0, "creates": 0, "renames": 0, "deletions": 0,
              "deletions_seen": sum(len(v) for v in deletions.values())}
    for i in range(len(recs) - 1, -1, -1):
        kind, rest, payload = recs[i]
        if kind in ("W", "T"):
            # A write at `at` or a cut down to `at`: the file gets its old size back, and the
            # bytes that stood from `at` on.
            path, at, oldsize = rest[0], int(rest[1]), int(rest[2])
            if synced(path, i) or not os.path.exists(path):
                continue
            with open(path, "r+b") as f:
                f.truncate(oldsize)
                if payload:
                    f.seek(at)
                    f.write(payload)
            undone["writes" if kind == "W" else "truncates"] += 1
        elif kind == "C":
            path = rest[0]
            if dir_synced(path, i):
                continue
            if os.path.exists(path):
                os.unlink(path)
            undone["creates"] += 1
        elif kind == "R":
            old, new, existed = rest[0], rest[1], rest[2] == "1"
            if dir_synced(new, i) and dir_synced(old, i):
                continue
            if os.path.exists(new):
                os.rename(new, old)
            if existed:
                Path(new).write_bytes(payload)
            undone["renames"] += 1
        elif kind == "U":
            # A deletion its directory's fsync had not made durable: the file is back, with the
            # content it had then (older unsynced writes to it are undone next).
            path = rest[0]
            if dir_synced(path, i):
                continue
            Path(path).write_bytes(payload)
            undone["deletions"] += 1
    Path(journal).write_bytes(b"")
    return undone
