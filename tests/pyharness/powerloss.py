"""Simulated power loss: runs a server under tests/powerloss/powerloss.c (an LD_PRELOAD shim that
journals every write, truncate, create and rename under the data directory and every fsync), and
after a SIGKILL undoes, newest first, everything that no fsync had made durable yet
(see the shim's header for the model).

    env = powerloss.environment(data_dir, journal)   # add to the server's environment
    ... run, then kill -9 the server ...
    report = powerloss.lose_unsynced(journal)        # the files as after a power cut

Env: CONCLAVE_POWERLOSS_SO overrides the shim's path (default
<repo>/build/release/tests/libconclave_powerloss.so).
"""

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
        if kind in ("W", "T", "R"):
            n = int(rest[-1])
            payload = data[pos:pos + n]
            if len(payload) != n:
                break  # a record torn by the kill: the call it describes never ran
            pos += n
        out.append((kind, rest, payload))
    return out


def lose_unsynced(journal):
    """Rewinds the files under the journal's root to their durable state, and empties the
    journal. Returns counts of what was undone."""
    recs = _records(journal)
    last_sync, last_dirsync = {}, {}
    for i, (kind, rest, _) in enumerate(recs):
        if kind == "S":
            last_sync[rest[0]] = i
        elif kind == "D":
            last_dirsync[rest[0].rstrip("/")] = i

    def synced(path, i):
        return last_sync.get(path, -1) > i

    def dir_synced(path, i):
        return last_dirsync.get(os.path.dirname(path), -1) > i

    undone = {"records": len(recs), "writes": 0, "truncates": 0, "creates": 0, "renames": 0}
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
    Path(journal).write_bytes(b"")
    return undone
