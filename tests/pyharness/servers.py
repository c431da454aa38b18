"""Shared test harness: start/stop Conclave and Apache ZooKeeper servers.

Used by tests/compat (differential tests) and tests/integration.

Environment variables
---------------------
CONCLAVE_BIN            path of the conclave binary
                        (default <repo>/build/release/src/cli/conclave)
CONCLAVE_TEST_TARGET    "conclave" (default) or "zookeeper": which server the
                        integration tests run against, and which server is the
                        *subject* of the differential tests (the reference is
                        always Apache ZooKeeper).
CONCLAVE_REQUIRE_BIN    if "1" (or if CI is set), a missing Conclave binary is a
                        test *failure* instead of a skip.
ZK_JAVA                 java binary for ZooKeeper (default $JAVA or /usr/bin/java)
ZK_CLASSPATH            override the ZooKeeper classpath
CONCLAVE_TEST_KEEP_LOGS if "1", print the location of server logs at exit.

Servers only ever bind 127.0.0.1, pick free ports, and are stopped by PID.
"""

import atexit
import base64
import glob
import hashlib
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
DEFAULT_CONCLAVE_BIN = REPO_ROOT / "build" / "release" / "src" / "cli" / "conclave"

# Every server object ever started in this process (for log tails / cleanup).
ALL_SERVERS = []


# ---------------------------------------------------------------------------
# small utilities
# ---------------------------------------------------------------------------

_handed_out_ports = set()


def free_port():
    """A currently free TCP port on 127.0.0.1 (not handed out before by us)."""
    for _ in range(100):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind((HOST, 0))
            port = s.getsockname()[1]
        finally:
            s.close()
        if port not in _handed_out_ports:
            _handed_out_ports.add(port)
            return port
    raise RuntimeError("could not find a free port")


def free_ports(n):
    return [free_port() for _ in range(n)]


def four_letter_word(port, cmd, host=HOST, timeout=5.0):
    """Send a 4lw (e.g. b'ruok') and return everything read until EOF."""
    if isinstance(cmd, str):
        cmd = cmd.encode()
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        s.sendall(cmd)
        chunks = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                d = s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not d:
                break
            chunks.append(d)
        return b"".join(chunks)
    finally:
        s.close()


def session_probe(port, host=HOST, timeout=2.0):
    """True if a ZooKeeper session can be established (and is then closed).

    `ruok` alone is not a sufficient readiness check: ZooKeeper answers imok
    while it is still loading its database and refuses sessions meanwhile."""
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        req = struct.pack(">iqiqi", 0, 0, 10000, 0, 16) + b"\0" * 16 + b"\0"
        s.sendall(struct.pack(">i", len(req)) + req)
        buf = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(buf) >= 4 and len(buf) >= 4 + struct.unpack(">i", buf[:4])[0]:
                break
            s.settimeout(max(0.01, deadline - time.monotonic()))
            d = s.recv(4096)
            if not d:
                return False
            buf += d
        if len(buf) < 4 + 16:
            return False
        _proto, _timeout, sid = struct.unpack(">iiq", buf[4:20])
        if sid == 0:
            return False
        close = struct.pack(">ii", 1, -11)
        s.sendall(struct.pack(">i", len(close)) + close)
        try:
            s.settimeout(1.0)
            s.recv(4096)
        except OSError:
            pass
        return True
    except OSError:
        return False
    finally:
        s.close()


def digest(user, password):
    """user:base64(sha1('user:password')) -- the ZooKeeper digest ACL id / superDigest."""
    h = hashlib.sha1(("%s:%s" % (user, password)).encode()).digest()
    return "%s:%s" % (user, base64.b64encode(h).decode())


def test_target():
    t = os.environ.get("CONCLAVE_TEST_TARGET", "conclave").strip().lower()
    if t in ("zk", "zookeeper"):
        return "zookeeper"
    if t != "conclave":
        raise ValueError("CONCLAVE_TEST_TARGET must be 'conclave' or 'zookeeper', got %r" % t)
    return t


def _require_bin():
    return os.environ.get("CONCLAVE_REQUIRE_BIN") == "1" or bool(os.environ.get("CI"))


def resolve_conclave_bin(required=None):
    """Path of the conclave binary.  Skips the test (or fails, in CI /
    CONCLAVE_REQUIRE_BIN=1) when it does not exist."""
    import pytest  # only needed when called from tests

    p = Path(os.environ.get("CONCLAVE_BIN") or DEFAULT_CONCLAVE_BIN)
    if p.is_file() and os.access(str(p), os.X_OK):
        return p
    msg = ("Conclave binary not found at %s (set CONCLAVE_BIN, build with "
           "`cmake --preset release && cmake --build build/release`, or run with "
           "CONCLAVE_TEST_TARGET=zookeeper to exercise the tests against Apache ZooKeeper)" % p)
    if required is None:
        required = _require_bin()
    if required:
        pytest.fail(msg, pytrace=False)
    pytest.skip(msg)


def java_bin():
    j = os.environ.get("ZK_JAVA") or os.environ.get("JAVA")
    if j:
        return j
    if os.path.exists("/usr/bin/java"):
        return "/usr/bin/java"
    return shutil.which("java") or "java"


def zookeeper_classpath():
    """Classpath for the Debian ZooKeeper 3.8 server.

    Debian's zkEnv.sh uses CLASSPATH="/etc/zookeeper/conf:/usr/share/java/zookeeper.jar";
    zookeeper.jar's MANIFEST Class-Path pulls in jute, netty, jackson, jetty,
    commons-*, metrics-core, slf4j-api, snappy...  We add slf4j-simple so the
    server log goes to stderr (captured in the log file) instead of nowhere.
    """
    if os.environ.get("ZK_CLASSPATH"):
        return os.environ["ZK_CLASSPATH"]
    jars = []
    main = "/usr/share/java/zookeeper.jar"
    if not os.path.exists(main):
        cands = sorted(glob.glob("/usr/share/java/zookeeper-3*.jar"))
        cands = [c for c in cands if "contrib" not in c and "recipes" not in c and "-it-" not in c]
        if cands:
            main = cands[0]
    jars.append(main)
    jute = "/usr/share/java/zookeeper-jute.jar"
    if os.path.exists(jute):
        jars.append(jute)
    simple = "/usr/share/java/slf4j-simple.jar"
    if os.path.exists(simple):
        jars.append(simple)
    return ":".join(jars)


def zookeeper_available():
    return os.path.exists(zookeeper_classpath().split(":")[0]) and bool(
        shutil.which(java_bin()) or os.path.exists(java_bin()))


def _tail(path, n=60):
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 256 * 1024))
            lines = f.read().decode("utf-8", "replace").splitlines()
        return "\n".join(lines[-n:])
    except OSError as e:
        return "<no log: %s>" % e


# ---------------------------------------------------------------------------
# servers
# ---------------------------------------------------------------------------

class ServerError(RuntimeError):
    pass


class BaseServer:
    """A server process bound to 127.0.0.1:<port>, managed by PID."""

    kind = "server"
    ready_timeout = 20.0
    stop_timeout = 10.0

    def __init__(self, workdir=None, port=None, name=None):
        if workdir is None:
            workdir = tempfile.mkdtemp(prefix="conclave-test-%s-" % self.kind)
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir = self.workdir / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.name = name or "%s:%d" % (self.kind, self.port)
        self.log_path = self.workdir / "server.log"
        self.proc = None
        self.starts = 0
        self.retired = False
        ALL_SERVERS.append(self)

    # -- things subclasses define ----------------------------------------
    def command(self):
        raise NotImplementedError

    def env(self):
        return dict(os.environ)

    # -- public API ---------------------------------------------------------
    @property
    def host(self):
        return HOST

    @property
    def hosts(self):
        """kazoo-style connection string."""
        return "%s:%d" % (HOST, self.port)

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def is_running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, wait=True):
        if self.is_running():
            raise ServerError("%s already running (pid %d)" % (self.name, self.proc.pid))
        self.starts += 1
        self.retired = False
        cmd = self.command()
        with open(self.log_path, "ab") as log:
            log.write(("\n===== start #%d: %s\n" % (self.starts, " ".join(map(str, cmd)))).encode())
            log.flush()
            self.proc = subprocess.Popen(
                [str(c) for c in cmd], stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, cwd=str(self.workdir), env=self.env(),
                start_new_session=True)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=None):
        timeout = self.ready_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if not self.is_running():
                raise ServerError("%s exited with code %s during startup\n--- log tail (%s) ---\n%s"
                                  % (self.name, self.proc.returncode, self.log_path,
                                     self.log_tail()))
            try:
                r = four_letter_word(self.port, b"ruok", timeout=1.0)
                if r == b"imok":
                    if session_probe(self.port):
                        self.after_ready(deadline)
                        return
                    r = b"imok, but no session could be established yet"
                last = r
            except OSError as e:
                last = e
            time.sleep(0.1)
        raise ServerError("%s not ready after %.0fs (last ruok result: %r)\n--- log tail (%s) ---\n%s"
                          % (self.name, timeout, last, self.log_path, self.log_tail()))

    def after_ready(self, deadline):
        pass

    def _signal(self, sig):
        if self.is_running():
            try:
                os.kill(self.proc.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, timeout=None):
        """SIGTERM by PID, SIGKILL after a timeout.  Returns the exit code."""
        if self.proc is None:
            return None
        timeout = self.stop_timeout if timeout is None else timeout
        if self.is_running():
            self._signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._note("did not exit %.0fs after SIGTERM; sending SIGKILL" % timeout)
                self._signal(signal.SIGKILL)
                self.proc.wait(10)
        rc = self.proc.returncode
        self._note("stopped, exit code %s" % rc)
        return rc

    def kill9(self):
        """SIGKILL by PID (simulated crash) and reap."""
        if self.is_running():
            self._signal(signal.SIGKILL)
            self.proc.wait(10)
            self._note("killed with SIGKILL")
        return self.proc.returncode if self.proc else None

    def restart(self, wait=True, kill=False):
        if kill:
            self.kill9()
        else:
            self.stop()
        return self.start(wait=wait)

    def retire(self):
        """Stop and mark as no longer relevant for failure log tails."""
        try:
            self.stop()
        finally:
            self.retired = True

    def log_tail(self, n=60):
        return _tail(self.log_path, n)

    def four_letter(self, cmd, timeout=5.0):
        return four_letter_word(self.port, cmd, timeout=timeout)

    def _note(self, msg):
        try:
            with open(self.log_path, "ab") as log:
                log.write(("\n===== harness: %s\n" % msg).encode())
        except OSError:
            pass

    def __repr__(self):
        return "<%s %s pid=%s workdir=%s>" % (type(self).__name__, self.hosts, self.pid, self.workdir)


class ConclaveServer(BaseServer):
    kind = "conclave"
    ready_timeout = 20.0

    def __init__(self, workdir=None, port=None, http_port=None, binary=None,
                 super_digest=None, sasl_users_file=None, extra_args=(), name=None):
        super().__init__(workdir=workdir, port=port, name=name)
        self.http_port = http_port or free_port()
        self.dns_port = free_port()  # UDP and TCP
        self.binary = Path(binary) if binary else resolve_conclave_bin()
        self.super_digest = super_digest
        self.sasl_users_file = sasl_users_file
        self.extra_args = list(extra_args)

    def command(self):
        cmd = [self.binary, "agent", "--data-dir", self.data_dir, "--bind", HOST,
               "--zk-port", self.port, "--http-port", self.http_port, "--dns-port", self.dns_port,
               "--4lw-whitelist", "*"]
        if self.super_digest:
            cmd += ["--zk-super-digest", self.super_digest]
        if self.sasl_users_file:
            cmd += ["--zk-sasl-users", self.sasl_users_file]
        # CONCLAVE_TEST_IO_THREADS=N runs every server of a suite with N I/O threads.
        io_threads = os.environ.get("CONCLAVE_TEST_IO_THREADS")
        if io_threads and "--io-threads" not in [str(a) for a in self.extra_args]:
            cmd += ["--io-threads", io_threads]
        return cmd + self.extra_args

    def after_ready(self, deadline):
        # Readiness is `ruok` == imok.  Additionally give the node a short,
        # non-fatal grace period to report a leader over HTTP.
        soft = min(deadline, time.monotonic() + 5.0)
        while time.monotonic() < soft:
            try:
                v = self.http_json("/v1/status/leader", timeout=1.0)
                if isinstance(v, str) and v:
                    return
            except Exception:
                pass
            time.sleep(0.1)

    def http_get(self, path, timeout=5.0):
        url = "http://%s:%d%s" % (HOST, self.http_port, path)
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()

    def http_json(self, path, timeout=5.0):
        return json.loads(self.http_get(path, timeout=timeout)[2].decode())


class ZooKeeperServer(BaseServer):
    """Apache ZooKeeper 3.8 (Debian package) in the foreground, standalone."""

    kind = "zookeeper"
    ready_timeout = 40.0  # JVM start on a busy 2-core box

    def __init__(self, workdir=None, port=None, super_digest=None, extra_cfg=None,
                 extra_jvm_args=(), name=None, heap_mb=256):
        super().__init__(workdir=workdir, port=port, name=name)
        self.super_digest = super_digest
        self.extra_cfg = dict(extra_cfg or {})
        self.extra_jvm_args = list(extra_jvm_args)
        self.heap_mb = heap_mb
        self.cfg_path = self.workdir / "zoo.cfg"

    def write_cfg(self):
        cfg = {
            "tickTime": "2000",
            "dataDir": str(self.data_dir),
            "clientPort": str(self.port),
            "clientPortAddress": HOST,
            "4lw.commands.whitelist": "*",
            "admin.enableServer": "false",
            "maxClientCnxns": "0",
        }
        cfg.update({k: str(v) for k, v in self.extra_cfg.items()})
        self.cfg_path.write_text("".join("%s=%s\n" % kv for kv in cfg.items()))

    def command(self):
        self.write_cfg()
        cmd = [java_bin(),
               "-Xmx%dm" % self.heap_mb, "-Xss512k",
               "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xshare:auto",
               "-Djava.net.preferIPv4Stack=true",
               "-Dzookeeper.extendedTypesEnabled=true",
               "-Dzookeeper.admin.enableServer=false",
               "-Dzookeeper.4lw.commands.whitelist=*",
               "-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
               "-Dorg.slf4j.simpleLogger.showDateTime=true",
               "-Dzookeeper.log.dir=%s" % self.workdir]
        if self.super_digest:
            cmd.append("-Dzookeeper.DigestAuthenticationProvider.superDigest=%s" % self.super_digest)
        cmd += self.extra_jvm_args
        cmd += ["-cp", zookeeper_classpath(),
                "org.apache.zookeeper.server.ZooKeeperServerMain", str(self.cfg_path)]
        return cmd


def make_server(kind, workdir=None, super_digest=None, **kw):
    if kind == "zookeeper":
        return ZooKeeperServer(workdir=workdir, super_digest=super_digest, **kw)
    if kind == "conclave":
        return ConclaveServer(workdir=workdir, super_digest=super_digest, **kw)
    raise ValueError(kind)


def make_target_server(workdir=None, super_digest=None, **kw):
    """A server of the kind selected by CONCLAVE_TEST_TARGET (not started)."""
    return make_server(test_target(), workdir=workdir, super_digest=super_digest, **kw)


def live_servers():
    return [s for s in ALL_SERVERS if not s.retired and s.proc is not None]


@atexit.register
def _cleanup_all():
    for s in ALL_SERVERS:
        try:
            if s.is_running():
                s._signal(signal.SIGKILL)
                s.proc.wait(5)
        except Exception:
            pass
    if os.environ.get("CONCLAVE_TEST_KEEP_LOGS") == "1":
        for s in ALL_SERVERS:
            print("server log: %s -> %s" % (s.name, s.log_path))
