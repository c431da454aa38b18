#!/usr/bin/python3
"""Side-by-side benchmarks: Conclave vs Apache ZooKeeper 3.8 (and etcd 3.4), ratios in one run.

Every system runs on this machine, on free loopback ports, with its defaults (ZooKeeper: forceSync
on; etcd: its defaults; Conclave: fsync on). Systems alternate within each repetition so drift
hits all of them alike. The load generator (bench/loadgen.cc) shares the 2 cores, so server CPU
time per operation is reported beside throughput.

    /usr/bin/python3 bench/compare.py                  # everything (about 40 minutes)
    /usr/bin/python3 bench/compare.py --quick          # short runs, fewer repetitions
    /usr/bin/python3 bench/compare.py --only single-mixed,failover

Results: a table on stdout and bench/results/<time>.json.
"""

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "compat"))

from pyharness.servers import (ConclaveServer, ZooKeeperServer, free_port, four_letter_word,  # noqa: E402
                               resolve_conclave_bin,
                               java_bin, zookeeper_classpath, HOST)
import zkwire  # noqa: E402

LOADGEN = REPO / "build" / "release" / "bench" / "conclave_loadgen"
ZKC_LOADGEN = REPO / "build" / "release" / "bench" / "conclave_zkc_loadgen"  # through libzookeeper_mt
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- process metrics

def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def thread_cpu_seconds(pid):
    """CPU seconds per thread of a process, summed by role: "loop" (the main thread), "io" (the
    conclave-io-N threads) and "other" (WAL writer, snapshots, ...)."""
    out = {"loop": 0.0, "io": 0.0, "other": 0.0}
    tick = os.sysconf("SC_CLK_TCK")
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return out
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        secs = (int(fields[11]) + int(fields[12])) / tick
        role = "loop" if int(tid) == pid else "io" if comm.startswith("conclave-io") else "other"
        out[role] += secs
    return out


def rss_bytes(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


# ---------------------------------------------------------------- systems

class BenchZooKeeper(ZooKeeperServer):
    """ZooKeeper as zkServer.sh starts it: QuorumPeerMain, the JVM's default JIT and GC, the
    Debian default heap (ZK_SERVER_HEAP=1000 MB) unless a scenario needs more. (The test
    harness trims the JVM for fast start-up; a benchmark must not.)"""

    def __init__(self, myid=None, servers=None, **kw):
        super().__init__(**kw)
        self.myid = myid
        self.servers = servers or {}

    def command(self):
        self.write_cfg()
        if self.servers:
            (self.data_dir / "myid").write_text(str(self.myid))
            cfg = self.cfg_path.read_text() + "initLimit=10\nsyncLimit=5\n"
            for i, (p1, p2) in self.servers.items():
                cfg += "server.%d=%s:%d:%d\n" % (i, HOST, p1, p2)
            self.cfg_path.write_text(cfg)
        return [java_bin(), "-Xmx%dm" % self.heap_mb, "-Dzookeeper.log.dir=%s" % self.workdir,
                "-Dzookeeper.4lw.commands.whitelist=*", "-Dzookeeper.admin.enableServer=false",
                "-cp", zookeeper_classpath(), "org.apache.zookeeper.server.quorum.QuorumPeerMain", str(self.cfg_path)]


class System:
    """A running system: one or more server processes and the addresses clients use."""

    def __init__(self, name, nodes):
        self.name = name
        self.nodes = nodes

    @property
    def pids(self):
        return [n.pid for n in self.nodes if n.is_running()]

    def hosts(self):
        return ",".join("%s:%d" % (HOST, n.port) for n in self.nodes)

    def cpu(self):
        return sum(cpu_seconds(p) for p in self.pids)

    def rss(self):
        return sum(rss_bytes(p) for p in self.pids)

    def stop(self):
        for n in self.nodes:
            if n.is_running():
                n.stop()

    def leader_index(self):
        for i, n in enumerate(self.nodes):
            if not n.is_running():
                continue
            try:
                text = four_letter_word(n.port, b"srvr", timeout=2).decode()
            except OSError:
                continue
            if "Mode: leader" in text or "Mode: standalone" in text:
                return i
        return None


def start_conclave(n, tmp, heap_mb=None, extra_args=()):
    if n == 1:
        node = ConclaveServer(workdir=tmp / "conclave-1", extra_args=list(extra_args))
        node.start()
        return System("conclave", [node])
    raft = {i: free_port() for i in range(1, n + 1)}
    peers = ",".join("%d=%s:%d" % (i, HOST, raft[i]) for i in raft)
    nodes = [ConclaveServer(workdir=tmp / ("conclave-%d" % i),
                            extra_args=["--node-id", str(i), "--raft-port", str(raft[i]), "--peers", peers])
             for i in range(1, n + 1)]
    for node in nodes:
        node.start(wait=False)
    for node in nodes:
        node.wait_ready()
    return System("conclave", nodes)


def start_zookeeper(n, tmp, heap_mb=1000):
    if n == 1:
        node = BenchZooKeeper(workdir=tmp / "zk-1", heap_mb=heap_mb)
        node.start()
        return System("zookeeper", [node])
    servers = {i: (free_port(), free_port()) for i in range(1, n + 1)}
    nodes = [BenchZooKeeper(i, servers, workdir=tmp / ("zk-%d" % i), heap_mb=heap_mb) for i in range(1, n + 1)]
    for node in nodes:
        node.start(wait=False)
    for node in nodes:
        node.wait_ready(timeout=90)
    return System("zookeeper", nodes)


class EtcdNode:
    def __init__(self, name, workdir, client_port, peer_port, cluster):
        self.name = name
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = client_port
        self.peer_port = peer_port
        self.cluster = cluster
        self.proc = None

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def is_running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self):
        log = open(self.workdir / "etcd.log", "ab")
        cmd = ["etcd", "--name", self.name, "--data-dir", str(self.workdir / "data"),
               "--listen-client-urls", "http://%s:%d" % (HOST, self.port),
               "--advertise-client-urls", "http://%s:%d" % (HOST, self.port),
               "--listen-peer-urls", "http://%s:%d" % (HOST, self.peer_port),
               "--initial-advertise-peer-urls", "http://%s:%d" % (HOST, self.peer_port),
               "--initial-cluster", self.cluster, "--initial-cluster-state", "new"]
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)

    def wait_ready(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if etcd_put(self.port, b"/ready", b"1", timeout=1):
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("etcd %s not ready" % self.name)

    def stop(self):
        if self.is_running():
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)

    def kill9(self):
        if self.is_running():
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)


def etcd_put(port, key, value, timeout=2):
    import base64
    import http.client
    body = json.dumps({"key": base64.b64encode(key).decode(), "value": base64.b64encode(value).decode()})
    c = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        c.request("POST", "/v3/kv/put", body, {"Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
        return r.status == 200
    finally:
        c.close()


def start_etcd(n, tmp):
    ports = {i: (free_port(), free_port()) for i in range(1, n + 1)}
    cluster = ",".join("e%d=http://%s:%d" % (i, HOST, ports[i][1]) for i in ports)
    nodes = [EtcdNode("e%d" % i, tmp / ("etcd-%d" % i), ports[i][0], ports[i][1], cluster) for i in ports]
    for node in nodes:
        node.start()
    for node in nodes:
        node.wait_ready()
    s = System("etcd", nodes)
    return s


def etcd_available():
    if shutil.which("etcd") is None:
        # Debian's etcd 3.4 is the second anchor; install it on first use.
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        subprocess.run(sudo + ["apt-get", "install", "-y", "--no-install-recommends", "etcd-server"],
                       capture_output=True, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    return shutil.which("etcd") is not None


# ---------------------------------------------------------------- measurements

def loadgen(system, protocol, args, timeout=600, hosts=None, driver="loadgen"):
    """One run of a load generator against `system`: conclave_loadgen ("loadgen") or the same
    ZooKeeper load through the official C client ("libzk", conclave_zkc_loadgen)."""
    if driver == "libzk":
        cmd = [str(ZKC_LOADGEN), "--hosts", hosts or system.hosts()] + args
    else:
        cmd = [str(LOADGEN), "--protocol", protocol, "--hosts", hosts or system.hosts()] + args
    cpu0 = system.cpu()
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    cpu1 = system.cpu()
    if out.returncode != 0:
        raise RuntimeError("loadgen failed: %s\n%s" % (" ".join(cmd), out.stderr[-2000:]))
    line = [l for l in out.stdout.splitlines() if l.startswith("RESULT ")][-1]
    result = json.loads(line[7:])
    total_ops = result["total_ops_per_s"] * result["seconds"]
    result["server_cpu_s"] = cpu1 - cpu0
    result["server_cpu_us_per_op"] = (cpu1 - cpu0) * 1e6 / max(total_ops, 1)
    return result


def failover_zk(system, how):
    """Signal to the first write acknowledged through a survivor, in ms."""
    leader = system.leader_index()
    survivors = [n for i, n in enumerate(system.nodes) if i != leader]
    victim = system.nodes[leader]
    conns = {}

    def ensure(n):
        if n.port in conns:
            return conns[n.port]
        try:
            c = zkwire.ZKConn(HOST, n.port, timeout=1)
            c.connect(timeout_ms=30000)
            conns[n.port] = c
            return c
        except Exception:
            return None

    for n in survivors:
        ensure(n)
    t0 = time.monotonic()
    if how == "kill9":
        victim.kill9()
    else:
        os.kill(victim.pid, signal.SIGSTOP)
    try:
        k = 0
        while time.monotonic() - t0 < 60:
            for n in survivors:
                c = ensure(n)
                if c is None:
                    continue
                k += 1
                try:
                    r = c.call("create", zkwire.enc_create("/failover-%d-%d" % (os.getpid(), k)), timeout=0.5)
                    if r.get("err") == 0:
                        return (time.monotonic() - t0) * 1000
                    conns.pop(n.port, None)  # closed, timed out or refused: reconnect next round
                except Exception:
                    conns.pop(n.port, None)  # connection lost: reconnect on the next round
            time.sleep(0.002)
        return None
    finally:
        if how == "sigstop":
            os.kill(victim.pid, signal.SIGCONT)


def failover_etcd(system):
    # etcd's leader: ask each member; simplest is to kill members in order until writes stall.
    import http.client
    leader = None
    for i, n in enumerate(system.nodes):
        c = http.client.HTTPConnection(HOST, n.port, timeout=2)
        c.request("POST", "/v3/maintenance/status", "{}")
        st = json.loads(c.getresponse().read())
        c.close()
        if st.get("leader") == st.get("header", {}).get("member_id"):
            leader = i
    survivors = [n for i, n in enumerate(system.nodes) if i != leader]
    t0 = time.monotonic()
    system.nodes[leader].kill9()
    k = 0
    while time.monotonic() - t0 < 60:
        for n in survivors:
            k += 1
            try:
                if etcd_put(n.port, b"/failover/%d" % k, b"x", timeout=0.5):
                    return (time.monotonic() - t0) * 1000
            except OSError:
                pass
        time.sleep(0.002)
    return None


def wait_ready_time(node):
    t0 = time.monotonic()
    node.start(wait=False)
    node.wait_ready(timeout=300)
    return time.monotonic() - t0


# ---------------------------------------------------------------- scenarios

@contextlib.contextmanager
def running(sname, starter, prefix):
    """A freshly started system in its own temporary directory, stopped and removed afterwards."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-%s-%s-" % (prefix, sname)))
    system = None
    try:
        system = starter(tmp)
        yield system
    finally:
        if system is not None:
            system.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def scenario_load(name, nodes, mix, args, opts, with_etcd=False, driver="loadgen"):
    systems = [("conclave", lambda t: start_conclave(nodes, t)), ("zookeeper", lambda t: start_zookeeper(nodes, t))]
    if driver == "libzk":
        return scenario_libzk(nodes, mix, opts, systems)
    if with_etcd and etcd_available():
        systems.append(("etcd", lambda t: start_etcd(nodes, t)))
    runs = {s: [] for s, _ in systems}
    for rep in range(opts.repeat):
        for sname, starter in systems:
            with running(sname, starter, "load") as system:
                protocol = "etcd" if sname == "etcd" else "zk"
                conns = str(opts.connections * (4 if sname == "etcd" else 1))
                base = ["--connections", conns, "--outstanding", str(opts.outstanding), "--keys", str(opts.keys),
                        "--value-size", "100", "--duration", str(opts.duration), "--mix", mix]
                if sname == "etcd":
                    base = [a if a != "--outstanding" else "--outstanding" for a in base]
                if opts.warmup > 0:
                    # Unmeasured warm-up (the JVM's JIT needs it; Conclave gets the same).
                    warm = [a for a in base]
                    warm[warm.index("--duration") + 1] = str(opts.warmup)
                    loadgen(system, protocol, warm + args)
                    base = base + ["--no-prepare"]
                r = loadgen(system, protocol, base + args)
                runs[sname].append(r)
                print("  %-10s rep %d: %8.0f ops/s  cpu %.1f us/op" % (sname, rep, r["total_ops_per_s"],
                                                                       r["server_cpu_us_per_op"]), flush=True)
    return runs


def scenario_libzk(nodes, mix, opts, systems):
    """The real-client load: opts.c_sessions handles of the official C client, each
    with opts.c_outstanding asynchronous requests in flight, 1000 znodes of 100 B."""
    runs = {s: [] for s, _ in systems}
    base = ["--sessions", str(opts.c_sessions), "--outstanding", str(opts.c_outstanding), "--keys", "1000",
            "--value-size", "100", "--mix", mix]
    for rep in range(opts.repeat):
        for sname, starter in systems:
            with running(sname, starter, "libzk") as system:
                if opts.warmup > 0:
                    loadgen(system, "zk", base + ["--duration", str(opts.warmup)], driver="libzk")
                r = loadgen(system, "zk", base + ["--duration", str(opts.duration), "--no-prepare"], driver="libzk")
                runs[sname].append(r)
                print("  %-10s rep %d: %8.0f ops/s  cpu %.1f us/op" % (sname, rep, r["total_ops_per_s"],
                                                                       r["server_cpu_us_per_op"]), flush=True)
    return runs


def scenario_snapshot_stall(opts):
    """The longest write while snapshots are taken of opts.znodes znodes: 8 connections doing sets,
    one request in flight each, a snapshot every 25 000 entries; snapshots encoded in slices while
    applies go on (the default) against each in one go (--snapshot-blocking) and against no
    snapshots at all (what the disk and the host do anyway), alternating. The node logs the
    longest time applies were held by the encoding (its longest slice, the freeze included)."""
    out = {}
    for rep in range(opts.memory_repeat):
        for mode, extra in [("slices", ["--snapshot-entries", "25000"]),
                            ("one-go", ["--snapshot-entries", "25000", "--snapshot-blocking"]),
                            ("none", ["--snapshot-entries", str(10 ** 12)])]:
            tmp = Path(tempfile.mkdtemp(prefix="bench-stall-"))
            node = ConclaveServer(workdir=tmp / "c", extra_args=extra)
            try:
                node.start()
                system = System("conclave", [node])
                subprocess.run([str(LOADGEN), "--protocol", "zk", "--hosts", system.hosts(), "--keys", str(opts.znodes),
                                "--connections", "8", "--prepare-only"], check=True, capture_output=True, timeout=900)
                log0 = len(node.log_path.read_text())
                r = loadgen(system, "zk", ["--keys", str(opts.znodes), "--connections", "8", "--outstanding", "1",
                                           "--mix", "set=100", "--duration", str(max(opts.duration, 10)),
                                           "--no-prepare"])
                text = node.log_path.read_text()[log0:]
                encode = [int(x) for x in re.findall(r"encoded in (\d+) ms", text)]
                held = [int(x) / 1000 for x in re.findall(r"longest slice (\d+) us", text)]
                snaps = len(re.findall(r"snapshot at index \d+ written", text))
                s = r["ops"]["set"]
                row = {"sets_per_s": s["ops_per_s"], "p999_ms": s["p999_ms"], "max_ms": s["max_ms"],
                       "snapshots": snaps, "encode_ms": encode,
                       "longest_slice_ms": held}
                out.setdefault(mode, []).append(row)
                print("  %-10s rep %d: %d snapshots during the run, set max %.1f ms, p99.9 %.1f ms, %.0f sets/s%s" % (
                    mode, rep, snaps, s["max_ms"], s["p999_ms"], s["ops_per_s"],
                    (", encoding took %d-%d ms" % (min(encode), max(encode))) if encode else "") +
                    (", applies held at most %.1f ms" % max(held) if held else ""), flush=True)
            finally:
                node.stop()
                shutil.rmtree(tmp, ignore_errors=True)
    return out


def scenario_memory_recovery(opts):
    """RSS growth per znode after loading opts.znodes znodes of 100 B, then the time from a restart
    (SIGTERM, start) to the first established session; repeated, systems alternating."""
    out = {"conclave": [], "conclave-no-hugepages": [], "zookeeper": []}
    systems = [("conclave", lambda t: start_conclave(1, t)),
               ("conclave-no-hugepages", lambda t: start_conclave(1, t)),
               ("zookeeper", lambda t: start_zookeeper(1, t, heap_mb=4096))]
    for rep in range(opts.memory_repeat):
        for sname, starter in systems:
            # The same binary with its heap in normal pages (CONCLAVE_MALLOC_HUGEPAGES=0), for the comparison.
            if sname == "conclave-no-hugepages":
                os.environ["CONCLAVE_MALLOC_HUGEPAGES"] = "0"
            else:
                os.environ.pop("CONCLAVE_MALLOC_HUGEPAGES", None)
            with running(sname.split("-")[0], starter, "mem") as system:
                base_rss = system.rss()
                subprocess.run([str(LOADGEN), "--hosts", system.hosts(), "--connections", "8", "--keys",
                                str(opts.znodes), "--wide-children", "0", "--value-size", "100", "--prepare-only"],
                               check=True, capture_output=True, timeout=1800)
                time.sleep(2)
                if sname == "zookeeper":
                    # Let the JVM collect garbage left by the load before reading RSS.
                    subprocess.run(["jcmd", str(system.pids[0]), "GC.run"], capture_output=True, timeout=60)
                    time.sleep(2)
                rss = system.rss()
                node = system.nodes[0]
                node.stop()
                recovery = wait_ready_time(node)
                out[sname].append({"znodes": opts.znodes, "rss_bytes": rss, "rss_base_bytes": base_rss,
                                   "bytes_per_znode": (rss - base_rss) / opts.znodes, "recovery_s": recovery})
                print("  %-10s rep %d: %d znodes: RSS %.0f MiB (%.0f B/znode), restart to ready %.2f s" % (
                    sname, rep, opts.znodes, rss / 2**20, (rss - base_rss) / opts.znodes, recovery), flush=True)
    os.environ.pop("CONCLAVE_MALLOC_HUGEPAGES", None)
    return out


def scenario_failover(opts):
    out = {}
    for sname, starter in [("conclave", lambda t: start_conclave(3, t)), ("zookeeper", lambda t: start_zookeeper(3, t))]:
        for how in ("kill9", "sigstop"):
            samples = []
            for rep in range(opts.failover_repeat):
                with running(sname, starter, "fo") as system:
                    time.sleep(1)
                    ms = failover_zk(system, how)
                    samples.append(ms)
                    print("  %-10s %-8s rep %d: %s ms" % (sname, how, rep, "%.0f" % ms if ms else "no write in 60 s"),
                          flush=True)
            out["%s-%s" % (sname, how)] = samples
    if etcd_available():
        samples = []
        for rep in range(opts.failover_repeat):
            with running("etcd", lambda t: start_etcd(3, t), "fo") as system:
                time.sleep(1)
                ms = failover_etcd(system)
                samples.append(ms)
                print("  %-10s %-8s rep %d: %s ms" % ("etcd", "kill9", rep, "%.0f" % ms if ms else "none"), flush=True)
        out["etcd-kill9"] = samples
    return out


def follower_reads(system, rounds):
    """Creates through the leader, each followed at once by an exists through a follower (one
    client each, kazoo-like: one request at a time): how often the follower does not show it yet."""
    leader = system.leader_index()
    follower = next(i for i in range(len(system.nodes)) if i != leader)
    w = zkwire.ZKConn(HOST, system.nodes[leader].port, timeout=5)
    w.connect(timeout_ms=30000)
    r = zkwire.ZKConn(HOST, system.nodes[follower].port, timeout=5)
    r.connect(timeout_ms=30000)
    base = "/fr-%d" % os.getpid()
    w.call("create", zkwire.enc_create(base))
    misses = 0
    for k in range(rounds):
        path = "%s/n%05d" % (base, k)
        if w.call("create", zkwire.enc_create(path)).get("err") != 0:
            continue
        if r.call("exists", zkwire.enc_path_watch(path, False)).get("err") != 0:
            misses += 1
    return misses


def scenario_follower_reads(opts):
    out = {}
    rounds = 300 if opts.quick else 1000
    for rep in range(opts.repeat):
        for sname, starter in [("conclave", lambda t: start_conclave(3, t)), ("zookeeper", lambda t: start_zookeeper(3, t))]:
            with running(sname, starter, "fr") as system:
                time.sleep(1)
                m = follower_reads(system, rounds)
                out.setdefault(sname, []).append(m)
                print("  %-10s rep %d: %d of %d reads through a follower missed the acknowledged create" % (
                    sname, rep, m, rounds), flush=True)
    return out


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else float("nan")


def scenario_consul_kv(opts):
    """Consul KV GET and PUT over keep-alive HTTP (one request per connection at a time, 100 B values)
    against etcd 3.4's JSON gateway, and the same Conclave store through the ZooKeeper protocol."""
    conns = str(opts.http_connections)
    runs = {}
    for rep in range(opts.repeat):
        for sname, starter in [("conclave", lambda t: start_conclave(1, t)), ("etcd", lambda t: start_etcd(1, t))]:
            if sname == "etcd" and not etcd_available():
                continue
            with running(sname, starter, "ckv") as system:
                variants = [("consul", "http")] if sname == "conclave" else [("etcd", None)]
                if sname == "conclave":
                    variants.append(("zk", None))
                for protocol, port_kind in variants:
                    hosts = "%s:%d" % (HOST, system.nodes[0].http_port) if port_kind == "http" else None
                    label = {"consul": "conclave-http", "zk": "conclave-zk", "etcd": "etcd-gateway"}[protocol]
                    for mix in ("get=100", "set=100"):
                        base = ["--connections", conns, "--outstanding", "1", "--keys", str(opts.keys),
                                "--value-size", "100", "--duration", str(opts.duration), "--mix", mix,
                                "--prefix", "/ckv"]
                        if opts.warmup > 0:
                            warm = list(base)
                            warm[warm.index("--duration") + 1] = str(opts.warmup)
                            loadgen(system, protocol, warm, hosts=hosts)
                        r = loadgen(system, protocol, base + ["--no-prepare"] if opts.warmup > 0 else base, hosts=hosts)
                        key = "%s %s" % (label, mix.split("=")[0])
                        runs.setdefault(key, []).append(r)
                        print("  %-22s rep %d: %8.0f ops/s  p99 %.2f ms  cpu %.1f us/op" % (
                            key, rep, r["total_ops_per_s"], list(r["ops"].values())[0]["p99_ms"],
                            r["server_cpu_us_per_op"]), flush=True)
    print("\nconsul-kv (1 node, %s connections, one request per connection in flight)" % conns)
    for op in ("get", "set"):
        row = {k.split()[0]: med([r["total_ops_per_s"] for r in v]) for k, v in runs.items() if k.endswith(op)}
        print("  %-4s %s" % (op, ", ".join("%s %.0f/s" % kv for kv in sorted(row.items()))))
        if "conclave-http" in row and "etcd-gateway" in row:
            print("       ratio conclave-http/etcd-gateway: %.2fx" % (row["conclave-http"] / row["etcd-gateway"]))
    return runs


TRACE_VARIANTS = [
    ("off", ["--trace-sample", "0"]),
    ("default", []),  # --trace-sample 0.01, at most 100 sampled requests per second
    ("all", ["--trace-sample", "1", "--trace-rate-limit", "1000000000"]),
]


def scenario_trace_cost(opts):
    """What tracing costs the requests of real clients: one node per variant (tracing off, at the
    default sampling, at 100 %: every request a span, every write five: request, raft propose, wal
    fsync, apply, notify), loaded with the official C client (libzk, opts.c_sessions sessions x
    opts.c_outstanding in flight), conclave_loadgen (one write per request, opts.connections x
    opts.outstanding: it leaves the server the cores, so its throughput is bound by the server's
    cost per request) and keep-alive HTTP (Consul KV, one request per connection in flight).

    The three nodes run side by side (an idle node costs nothing measurable) and each round loads
    them one after another, in an order that rotates, so a round's three runs are seconds apart.
    The host's speed drifts by tens of percent over minutes; within a round it mostly does not, so
    the change is reported as the median over rounds of each round's ratio to tracing off."""
    runs = {}
    zk = ["--sessions", str(opts.c_sessions), "--outstanding", str(opts.c_outstanding), "--keys", "1000",
          "--value-size", "100"]
    http = ["--connections", str(opts.http_connections), "--outstanding", "1", "--keys", str(opts.keys),
            "--value-size", "100", "--prefix", "/tcost"]
    cheap = ["--connections", str(opts.connections), "--outstanding", str(opts.outstanding), "--keys", "1000",
             "--value-size", "100"]
    args_of = {"libzk": zk, "loadgen": cheap, "http": http}
    loads = (("libzk", "get=100"), ("libzk", "set=100"), ("loadgen", "get=100"), ("loadgen", "set=100"),
             ("http", "get=100"), ("http", "set=100"))
    names = [v for v, _ in TRACE_VARIANTS]
    with contextlib.ExitStack() as stack:
        systems = {variant: stack.enter_context(running(
            variant, lambda t, args=args: start_conclave(1, t, extra_args=args), "tcost"))
            for variant, args in TRACE_VARIANTS}
        for client, mix in loads:
            base = args_of[client] + ["--mix", mix]
            protocol = "consul" if client == "http" else "zk"

            def kw(system):
                return {"libzk": {"driver": "libzk"}, "loadgen": {},
                        "http": {"hosts": "%s:%d" % (HOST, system.nodes[0].http_port)}}[client]
            for variant in names:  # fills the keys and warms the node
                loadgen(systems[variant], protocol, base + ["--duration", str(max(opts.warmup, 1))],
                        **kw(systems[variant]))
            for rep in range(opts.repeat):
                for variant in names[rep % 3:] + names[:rep % 3]:
                    system = systems[variant]
                    r = loadgen(system, protocol, base + ["--duration", str(opts.duration), "--no-prepare"],
                                **kw(system))
                    key = "%s %s %s" % (client, mix.split("=")[0], variant)
                    runs.setdefault(key, []).append(r)
                    print("  %-20s rep %d: %8.0f ops/s  cpu %.1f us/op" % (key, rep, r["total_ops_per_s"],
                                                                          r["server_cpu_us_per_op"]), flush=True)
    print("\ntrace-cost (1 node per variant; median ops/s and server CPU per op; change against tracing off: "
          "the median of the rounds' ratios, and their range)")
    for client, mix in loads:
        op = mix.split("=")[0]
        off = runs["%s %s off" % (client, op)]
        cells = ["off %.0f/s %.1f us" % (med([r["total_ops_per_s"] for r in off]),
                                         med([r["server_cpu_us_per_op"] for r in off]))]
        for variant in ("default", "all"):
            rs = runs["%s %s %s" % (client, op, variant)]
            ops = [100 * (r["total_ops_per_s"] / o["total_ops_per_s"] - 1) for r, o in zip(rs, off)]
            cpu = [100 * (r["server_cpu_us_per_op"] / o["server_cpu_us_per_op"] - 1) for r, o in zip(rs, off)]
            cells.append("%s %+.1f%% [%+.0f..%+.0f] cpu %+.1f%%" % (variant, med(ops), min(ops), max(ops), med(cpu)))
        print("  %-7s %-3s  %s" % (client, op, " | ".join(cells)))
    return runs


def callgrind_instructions(proto, mix, variant_args, seconds, warmup):
    """User-space instructions per request of one node under callgrind (Debian valgrind): the node
    runs as it does alone, slower, and the count of what it executes per request does not move with
    the host's load, where throughput on 2 shared cores moves by tens of percent. Counters are
    zeroed after the warm-up and dumped after the measured run (callgrind_control); the node's idle
    instructions over as long (its timers, measured right after) are subtracted."""
    def start(t):
        wrapper = t / "conclave-under-callgrind"
        # The agent re-executes itself to set a glibc tunable, which valgrind cannot follow.
        wrapper.write_text("#!/bin/sh\nCONCLAVE_MALLOC_HUGEPAGES=0 exec valgrind --tool=callgrind "
                           "--callgrind-out-file=%s/callgrind.%%p.out %s \"$@\"\n" % (t, resolve_conclave_bin()))
        wrapper.chmod(0o755)
        node = ConclaveServer(workdir=t / "node", binary=wrapper, extra_args=list(variant_args))
        node.ready_timeout = 120
        node.start()
        return System("conclave", [node])

    with running("conclave", start, "cg") as system:
        node = system.nodes[0]
        dumps = node.workdir.parent

        def dump():
            """Instructions since the last zeroing, from a fresh dump."""
            before = set(dumps.glob("callgrind.%d.out.*" % node.pid))
            subprocess.run(["callgrind_control", "-d", str(node.pid)], check=True, capture_output=True, timeout=60)
            for f in sorted(set(dumps.glob("callgrind.%d.out.*" % node.pid)) - before):
                for line in f.read_text(errors="replace").splitlines():
                    if line.startswith("summary:") or line.startswith("totals:"):
                        return int(line.split()[1])
            raise RuntimeError("callgrind wrote no dump for pid %d" % node.pid)

        def zero():
            subprocess.run(["callgrind_control", "-z", str(node.pid)], check=True, capture_output=True, timeout=60)

        port = node.http_port if proto == "consul" else node.port
        cmd = [str(LOADGEN), "--protocol", proto, "--hosts", "%s:%d" % (HOST, port), "--keys", "200",
               "--value-size", "100", "--mix", mix, "--connections", "1", "--outstanding", "1", "--prefix", "/cg"]
        subprocess.run(cmd + ["--duration", str(warmup)], check=True, capture_output=True, timeout=300)
        zero()
        out = subprocess.run(cmd + ["--duration", str(seconds), "--no-prepare"], check=True, capture_output=True,
                             text=True, timeout=300)
        busy = dump()
        result = json.loads([l for l in out.stdout.splitlines() if l.startswith("RESULT ")][-1][7:])
        ops = result["total_ops_per_s"] * result["seconds"]
        # What the node runs with no request at all (its timers), over the same time, is taken out.
        idle_seconds = 2.0
        zero()
        time.sleep(idle_seconds)
        idle = dump() * result["seconds"] / idle_seconds
        return {"ops": ops, "instructions": busy, "idle_instructions": idle, "per_op": (busy - idle) / max(ops, 1)}


def scenario_trace_instructions(opts):
    """The cost of tracing as instructions per request (user space, callgrind): ZooKeeper and HTTP
    gets and sets, tracing off, at the default sampling and on every request. Counts repeat within
    ~1-2 % between runs, so they resolve the small differences that the throughput of `trace-cost`
    cannot on this host. Under callgrind a node serves a few thousand requests/s, so the default 1 %
    is not held back by its 100/s limit: the default row traces 1 % of requests, more than at full
    speed, where the limit leaves 100/s of 20 000-100 000."""
    if not shutil.which("valgrind") or not shutil.which("callgrind_control"):
        print("  skipped: valgrind not installed (Debian: valgrind)")
        return {}
    runs = {}
    seconds = max(4.0, min(opts.duration, 10.0))
    # The variants alternate and the median of opts.repeat runs is reported.
    for rep in range(opts.repeat):
        for proto, mix in (("zk", "get=100"), ("zk", "set=100"), ("consul", "get=100"), ("consul", "set=100")):
            for variant, args in TRACE_VARIANTS:
                r = callgrind_instructions(proto, mix, args, seconds, max(2.0, opts.warmup))
                key = "%s %s %s" % ("http" if proto == "consul" else "zk", mix.split("=")[0], variant)
                runs.setdefault(key, []).append(r)
                print("  %-16s rep %d: %8.0f requests, %8.0f instructions/request" % (key, rep, r["ops"], r["per_op"]),
                      flush=True)
    print("\ntrace-instructions (1 node under callgrind; user-space instructions per request, median of %d; "
          "change against off)" % opts.repeat)
    for client in ("zk", "http"):
        for op in ("get", "set"):
            off = med([r["per_op"] for r in runs["%s %s off" % (client, op)]])
            cells = ["off %.0f" % off]
            for variant in ("default", "all"):
                v = med([r["per_op"] for r in runs["%s %s %s" % (client, op, variant)]])
                cells.append("%s %.0f (%+.2f%%)" % (variant, v, 100 * (v / off - 1)))
            print("  %-4s %-3s  %s" % (client, op, " | ".join(cells)))
    return runs


URING_BIN = REPO / "build" / "uring" / "src" / "cli" / "conclave"  # cmake --preset release-uring


def conclave_variants(opts, variants, title):
    """Throughput and server CPU per operation of one node in each of `variants` ((label, binary or
    None for the release build, I/O threads)), with the cheap client (conclave_loadgen, one write
    per request, opts.connections x opts.outstanding) and the official C client; and 1x1 round
    trips, where a hand-off between threads is pure added latency. Variants alternate within each
    repetition."""
    runs = {}
    cheap = ["--connections", str(opts.connections), "--outstanding", str(opts.outstanding), "--keys", str(opts.keys),
             "--value-size", "100"]
    one = ["--connections", "1", "--outstanding", "1", "--keys", "1000", "--value-size", "100"]
    libzk = ["--sessions", str(opts.c_sessions), "--outstanding", str(opts.c_outstanding), "--keys", "1000",
             "--value-size", "100"]
    loads = [("loadgen", cheap, "get=100"), ("loadgen", cheap, "set=100"), ("libzk", libzk, "get=100"),
             ("1x1", one, "get=100"), ("1x1", one, "set=100")]
    for rep in range(opts.repeat):
        for label, binary, n in variants:
            args = ["--io-threads", str(n)]

            def start(t, args=args, binary=binary):
                if binary is None:
                    return start_conclave(1, t, extra_args=args)
                node = ConclaveServer(workdir=t / "conclave-1", binary=binary, extra_args=args)
                node.start()
                return System("conclave", [node])
            with running("conclave", start, "var") as system:
                for client, base, mix in loads:
                    kw = {"driver": "libzk"} if client == "libzk" else {}
                    base = base + ["--mix", mix]
                    if opts.warmup > 0:
                        loadgen(system, "zk", base + ["--duration", str(opts.warmup)], **kw)
                    t0 = thread_cpu_seconds(system.nodes[0].pid)
                    r = loadgen(system, "zk", base + ["--duration", str(opts.duration), "--no-prepare"], **kw)
                    t1 = thread_cpu_seconds(system.nodes[0].pid)
                    total = r["total_ops_per_s"] * r["seconds"]
                    r["thread_cpu_us_per_op"] = {k: (t1[k] - t0[k]) * 1e6 / max(total, 1) for k in t0}
                    key = "%s %s %s" % (client, mix.split("=")[0], label)
                    runs.setdefault(key, []).append(r)
                    op = list(r["ops"].values())[0]
                    tc = r["thread_cpu_us_per_op"]
                    print("  %-24s rep %d: %8.0f ops/s  p50 %.3f ms  p99 %.2f ms  cpu %.1f us/op "
                          "(loop %.1f, io %.1f, other %.1f)" % (
                              key, rep, r["total_ops_per_s"], op["p50_ms"], op["p99_ms"], r["server_cpu_us_per_op"],
                              tc["loop"], tc["io"], tc["other"]), flush=True)
    print("\n%s (1 node; medians: ops/s, p50, server CPU per op, of it the loop thread's)" % title)
    for client, _, mix in loads:
        cells = []
        for label, _, _ in variants:
            rs = runs["%s %s %s" % (client, mix.split("=")[0], label)]
            cells.append("%s %.0f/s p50 %.3f ms %.1f us (loop %.1f)" % (
                label, med([r["total_ops_per_s"] for r in rs]), med([list(r["ops"].values())[0]["p50_ms"] for r in rs]),
                med([r["server_cpu_us_per_op"] for r in rs]), med([r["thread_cpu_us_per_op"]["loop"] for r in rs])))
        print("  %-7s %-3s  %s" % (client, mix.split("=")[0], " | ".join(cells)))
    return runs


def scenario_io_threads(opts):
    """0 (the loop thread does the socket work), 1 and 2 I/O threads."""
    return conclave_variants(opts, [("io=%d" % n, None, n) for n in (0, 1, 2)], "io-threads")


def scenario_io_backend(opts):
    """Asio on epoll (the release build) against Asio on io_uring (cmake --preset release-uring &&
    ninja -C build/uring conclave), without and with one I/O thread."""
    if not URING_BIN.exists():
        raise SystemExit("io-backend needs the io_uring build: cmake --preset release-uring && ninja -C build/uring conclave")
    return conclave_variants(opts, [("epoll io=0", None, 0), ("uring io=0", URING_BIN, 0),
                                    ("epoll io=1", None, 1), ("uring io=1", URING_BIN, 1)], "io-backend")


def scenario_idle_sessions(opts):
    """opts.idle_sessions idle sessions held on one node, each pinging every 10 s as client
    libraries do (timeout 30 s), while 4 connections x 1 request do gets: server memory per idle
    session and the active requests' latency."""
    runs = {}
    n = opts.idle_sessions
    for rep in range(opts.repeat):
        for sname, starter in [("conclave", lambda t: start_conclave(1, t)), ("zookeeper", lambda t: start_zookeeper(1, t))]:
            with running(sname, starter, "idle") as system:
                subprocess.run([str(LOADGEN), "--protocol", "zk", "--hosts", system.hosts(), "--keys", "1000",
                                "--prepare-only"], check=True, capture_output=True, timeout=120)
                args = ["--connections", "4", "--outstanding", "1", "--keys", "1000", "--value-size", "100",
                        "--mix", "get=100", "--no-prepare", "--idle-sessions", str(n),
                        "--server-pid", str(system.pids[0]), "--duration", str(max(opts.duration, 35))]
                r = loadgen(system, "zk", args, timeout=900)
                runs.setdefault(sname, []).append(r)
                op = r["ops"]["get"]
                print("  %-10s rep %d: %d idle sessions, %d pings; %.0f B per idle session (%.0f B at the end); "
                      "active gets %.0f/s p50 %.3f ms p99 %.2f ms max %.1f ms errors %d" % (
                          sname, rep, r["idle_sessions"], r["idle_pings"], r["idle_bytes_per_session"],
                          r["idle_bytes_per_session_end"], r["total_ops_per_s"], op["p50_ms"], op["p99_ms"],
                          op["max_ms"], op["errors"]), flush=True)
    return runs


def scenario_consul_fanout(opts):
    """N blocking queries on one key held by one node; one PUT wakes them all."""
    out = []
    for rep in range(opts.repeat):
        with running("conclave", lambda t: start_conclave(1, t), "cfan") as system:
            node = system.nodes[0]
            cmd = [str(LOADGEN), "--protocol", "consul", "--hosts", "%s:%d" % (HOST, node.http_port),
                   "--fanout", str(opts.blocking), "--server-pid", str(node.pid), "--prefix", "/cfan"]
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
            if res.returncode != 0:
                raise RuntimeError("loadgen failed: %s\n%s" % (" ".join(cmd), res.stderr[-2000:]))
            r = json.loads([l for l in res.stdout.splitlines() if l.startswith("RESULT ")][-1][7:])
            out.append(r)
            print("  rep %d: %d woken, wake-up p50 %.1f ms, p99 %.1f ms, max %.1f ms, %.0f B per waiting query" % (
                rep, r["woken"], r["p50_ms"], r["p99_ms"], r["max_ms"], r["bytes_per_query"]), flush=True)
    print("  median p99 %.1f ms, median %.0f B per waiting query" % (
        med([r["p99_ms"] for r in out]), med([r["bytes_per_query"] for r in out])))
    return out


def summarize(name, runs):
    rows = []
    for sname, rs in runs.items():
        if not rs:
            continue
        ops = [r["total_ops_per_s"] for r in rs]
        cpu = [r["server_cpu_us_per_op"] for r in rs]
        pct = {}
        for r in rs:
            for op, v in r["ops"].items():
                pct.setdefault(op, []).append((v["p50_ms"], v["p99_ms"]))
        rows.append((sname, med(ops), min(ops), max(ops), med(cpu),
                     {op: (med([a for a, _ in v]), med([b for _, b in v])) for op, v in pct.items()}))
    print("\n%s" % name)
    print("  %-10s %22s %14s  %s" % ("system", "ops/s median (min-max)", "cpu us/op", "p50 / p99 ms by op"))
    base = {r[0]: r for r in rows}
    for sname, m, lo, hi, cpu, pct in rows:
        print("  %-10s %9.0f (%.0f-%.0f) %11.1f  %s" % (sname, m, lo, hi, cpu, ", ".join(
            "%s %.3f / %.2f" % (op, a, b) for op, (a, b) in sorted(pct.items()))))
    if "conclave" in base and "zookeeper" in base:
        c, z = base["conclave"], base["zookeeper"]
        print("  ratio conclave/zookeeper: throughput %.2fx, cpu per op %.2fx (lower is better)" % (
            c[1] / z[1], c[4] / z[4]))
    if "conclave" in base and "etcd" in base:
        c, e = base["conclave"], base["etcd"]
        print("  ratio conclave/etcd: throughput %.2fx, cpu per op %.2fx" % (c[1] / e[1], c[4] / e[4]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--outstanding", type=int, default=16)
    ap.add_argument("--keys", type=int, default=10000)
    ap.add_argument("--znodes", type=int, default=1000000)
    ap.add_argument("--failover-repeat", type=int, default=3)
    ap.add_argument("--memory-repeat", type=int, default=3)
    ap.add_argument("--warmup", type=float, default=5)
    ap.add_argument("--http-connections", type=int, default=64)
    ap.add_argument("--blocking", type=int, default=10000)
    ap.add_argument("--c-sessions", type=int, default=32, help="C-client handles in the libzk-* scenarios")
    ap.add_argument("--c-outstanding", type=int, default=8)
    ap.add_argument("--idle-sessions", type=int, default=15000)
    opts = ap.parse_args()
    if opts.quick:
        opts.repeat, opts.duration, opts.znodes, opts.failover_repeat, opts.warmup = 1, 3, 100000, 1, 1
        opts.memory_repeat = 1
        opts.blocking = 2000
    if not LOADGEN.exists():
        sys.exit("build first: cmake --preset release && ninja -C build/release")
    only = set(filter(None, opts.only.split(",")))
    want = lambda n: not only or n in only  # noqa: E731
    results = {"machine": {"nproc": os.cpu_count(), "uname": " ".join(os.uname())}, "scenarios": {}}

    print("physical floors:")
    floor = subprocess.run([str(LOADGEN), "--floor", "--dir", tempfile.gettempdir()], capture_output=True, text=True)
    print("  " + "\n  ".join(l for l in floor.stdout.splitlines() if not l.startswith("RESULT")))
    results["floor"] = json.loads([l for l in floor.stdout.splitlines() if l.startswith("RESULT")][0][7:])

    # Headline scenarios first: the official C client (libzk-*), then conclave_loadgen sending one
    # request per write as client libraries do, then the engine figures (engine-*: bursts written
    # in one write(), which no client library does).
    load_scenarios = [
        ("libzk-single-get", 1, "get=100", "libzk", False),
        ("libzk-single-set", 1, "set=100", "libzk", False),
        ("libzk-cluster3-get", 3, "get=100", "libzk", False),
        ("libzk-cluster3-set", 3, "set=100", "libzk", False),
        ("single-read", 1, "get=100", [], True),
        ("single-mixed", 1, "get=90,set=10", [], True),
        ("single-write", 1, "set=100", [], True),
        ("single-1x1-get", 1, "get=100", ["--connections", "1", "--outstanding", "1"], False),
        ("single-1x1-set", 1, "set=100", ["--connections", "1", "--outstanding", "1"], False),
        ("single-ops", 1, "get=30,set=20,create_seq=10,create_delete=10,exists=10,children=10,multi=10", [], False),
        ("cluster3-read", 3, "get=100", [], True),
        ("cluster3-mixed", 3, "get=90,set=10", [], True),
        ("cluster3-write", 3, "set=100", [], True),
        ("sessions10k-mixed", 1, "get=90,set=10", ["--idle-sessions", "2000" if opts.quick else "10000"], False),
        ("engine-single-read", 1, "get=100", ["--send", "batched"], False),
        ("engine-single-write", 1, "set=100", ["--send", "batched"], False),
    ]
    for name, nodes, mix, args, etcd in load_scenarios:
        if not want(name):
            continue
        driver = "libzk" if args == "libzk" else "loadgen"
        if driver == "libzk" and not ZKC_LOADGEN.exists():
            print("\n== %s skipped: conclave_zkc_loadgen not built (Debian: libzookeeper-mt-dev)" % name)
            continue
        print("\n== %s (%d node%s, mix %s)" % (name, nodes, "s" if nodes > 1 else "", mix), flush=True)
        runs = scenario_load(name, nodes, mix, [] if driver == "libzk" else args, opts, with_etcd=etcd, driver=driver)
        results["scenarios"][name] = runs
        summarize(name, runs)
    if want("fanout"):
        print("\n== watch fan-out (1 node, 200 watchers of one node)", flush=True)
        runs = {}
        for rep in range(opts.repeat):
            for sname, starter in [("conclave", lambda t: start_conclave(1, t)), ("zookeeper", lambda t: start_zookeeper(1, t))]:
                with running(sname, starter, "fan") as system:
                    r = loadgen(system, "zk", ["--fanout", "200", "--duration", str(opts.duration)])
                    runs.setdefault(sname, []).append(r)
                    print("  %-10s rep %d: %.0f rounds/s (p99 %.2f ms)" % (sname, rep, r["total_ops_per_s"],
                                                                         r["ops"]["watch_fanout"]["p99_ms"]), flush=True)
        results["scenarios"]["fanout"] = runs
        summarize("fanout", runs)
    # Scenarios that print their own results: (name, heading, function).
    for name, heading, fn in [
        ("follower-reads", "reads through a follower right after a create acknowledged by the leader (3 nodes)",
         scenario_follower_reads),
        ("consul-kv", "Consul KV over HTTP vs etcd's gateway and the ZooKeeper protocol (1 node)", scenario_consul_kv),
        ("trace-cost", "the cost of tracing: off, default sampling, every request (1 node)", scenario_trace_cost),
        ("trace-instructions", "the cost of tracing in instructions per request (1 node under callgrind)",
         scenario_trace_instructions),
        ("io-threads", "I/O threads: 0, 1, 2 (1 node)", scenario_io_threads),
        ("io-backend", "epoll or io_uring under Asio (1 node)", scenario_io_backend),
        ("idle-sessions", "%d idle sessions with their pings (1 node)" % opts.idle_sessions, scenario_idle_sessions),
        ("consul-fanout", "Consul blocking-query fan-out (1 node, %d long-polls on one key)" % opts.blocking,
         scenario_consul_fanout),
    ]:
        if want(name):
            print("\n== " + heading, flush=True)
            results["scenarios"][name] = fn(opts)
    if want("snapshot-stall"):
        print("\n== longest write while snapshots of %d znodes are taken (1 node)" % opts.znodes, flush=True)
        results["scenarios"]["snapshot-stall"] = scenario_snapshot_stall(opts)
    if want("memory"):
        print("\n== memory and recovery (%d znodes of 100 B)" % opts.znodes, flush=True)
        results["scenarios"]["memory"] = m = scenario_memory_recovery(opts)
        stats = {}
        for sname, rs in m.items():
            if not rs:
                continue
            b = [r["bytes_per_znode"] for r in rs]
            t = [r["recovery_s"] for r in rs]
            stats[sname] = (med(b), med(t))
            print("  %-10s B/znode median %.0f (%.0f-%.0f), restart to ready median %.2f s (%.2f-%.2f)" % (
                sname, med(b), min(b), max(b), med(t), min(t), max(t)))
        if "conclave" in stats and "zookeeper" in stats:
            print("  ratio conclave/zookeeper: memory per znode %.2fx, recovery time %.2fx" % (
                stats["conclave"][0] / stats["zookeeper"][0], stats["conclave"][1] / stats["zookeeper"][1]))
    if want("failover"):
        print("\n== failover, 3 nodes: signal -> first acknowledged write through a survivor", flush=True)
        results["scenarios"]["failover"] = f = scenario_failover(opts)
        for k, v in f.items():
            print("  %-22s median %s ms (samples %s)" % (k, "%.0f" % med(v), ", ".join("%.0f" % x if x else "-" for x in v)))
    outdir = REPO / "bench" / "results"
    outdir.mkdir(exist_ok=True)
    path = outdir / (time.strftime("%Y%m%d-%H%M%S") + ".json")
    path.write_text(json.dumps(results, indent=1))
    print("\nwrote %s" % path)


if __name__ == "__main__":
    main()
