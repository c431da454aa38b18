"""Runs tests/consul/consul2 (python3-consul2) in its own interpreter.

python3-consul2 and python3-consul both provide the `consul` module, and Debian
will not install both; scripts/test.sh unpacks python3-consul2's .deb into
build/debs/python3-consul2 (scripts/unpack-deb.sh). A missing unpack fails this
test rather than skipping it."""

from pyharness.clients import run_consul2_suite


def test_python_consul2_suite():
    ok, output = run_consul2_suite()
    print(output)
    assert ok, "python3-consul2 suite failed:\n" + output
