"""The Apache ZooKeeper C client (libzookeeper_mt) against the target server.

Compiles c_client/zk_c_client_test.c with `cc ... -lzookeeper_mt` into a tmp
dir, or uses a prebuilt binary from $CONCLAVE_C_CLIENT_TEST.
"""

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent / "c_client" / "zk_c_client_test.c"


@pytest.fixture(scope="module")
def c_client_binary(tmp_path_factory):
    pre = os.environ.get("CONCLAVE_C_CLIENT_TEST")
    if pre:
        if not os.access(pre, os.X_OK):
            pytest.fail("CONCLAVE_C_CLIENT_TEST=%s is not an executable" % pre)
        return pre
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        pytest.skip("no C compiler (cc) found")
    if not Path("/usr/include/zookeeper/zookeeper.h").exists():
        pytest.skip("ZooKeeper C client headers missing (Debian: libzookeeper-mt-dev)")
    out = tmp_path_factory.mktemp("c_client") / "zk_c_client_test"
    p = subprocess.run([cc, "-O1", "-g", "-Wall", "-o", str(out), str(SRC), "-lzookeeper_mt", "-lpthread"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    assert p.returncode == 0, "compiling %s failed:\n%s" % (SRC, p.stdout.decode(errors="replace"))
    return str(out)


def test_c_client(c_client_binary, target_server):
    root = "/c_client_%s" % uuid.uuid4().hex[:8]
    p = subprocess.run([c_client_binary, target_server.hosts, root],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    out = p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")
    assert p.returncode == 0, "C client test failed (exit %d):\n%s" % (p.returncode, out[-5000:])
    assert "OK: all C client checks passed" in out, out
