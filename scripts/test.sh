#!/usr/bin/env bash
# Installs dependencies, builds, and runs the whole test suite:
#   1. unit tests under AddressSanitizer + UndefinedBehaviorSanitizer (debug build)
#   2. unit tests in the release build
#   3. the Raft simulation, the driver simulation, the mutation tests, the libFuzzer targets for a short fixed number of inputs each
#   4. differential tests against Apache ZooKeeper 3.8 and integration tests with real clients
#      (kazoo, the ZooKeeper C client, zkCli.sh, python-consul, npm consul), kill -9 durability
#      runs and cluster fault runs.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

start=$(date +%s)
step() { echo; echo "==> $* ($(( $(date +%s) - start ))s)"; }

step "module boundaries"
scripts/check-boundaries.sh

step "build: release"
cmake --preset release >/dev/null
ninja -C build/release

step "build: asan-ubsan unit tests"
cmake --preset asan-ubsan >/dev/null
ninja -C build/asan conclave_unit_tests conclave_driver_sim

step "unit tests (asan+ubsan)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  build/asan/tests/conclave_unit_tests --gtest_brief=1

step "unit tests (release)"
build/release/tests/conclave_unit_tests --gtest_brief=1

step "raft: deterministic simulation (3000 seeds, run twice: same trace hash)"
a=$(build/release/tests/conclave_raft_sim --seeds 3000 | tail -1)
b=$(build/release/tests/conclave_raft_sim --seeds 3000 | tail -1)
echo "$a"
if [ "$a" != "$b" ]; then echo "simulation is not deterministic: '$a' vs '$b'"; exit 1; fi
case "$a" in *" 0 failed;"*) ;; *) exit 1 ;; esac

step "raft: scenario scripts (tests/sim/scenarios: commands and the Readys they must produce)"
build/release/tests/conclave_raft_scenarios tests/sim/scenarios/*.txt

step "raft: mutation tests (the simulation or the scenarios must catch each bug planted in a copy of the core)"
# ctest knows the current mutants (tests/CMakeLists.txt) and passes each only if one of them fails.
ctest --test-dir build/release -R '^raft_mutant_' --output-on-failure

step "driver: the node's Raft driver and state machine under simulation (200 seeds, run twice: same trace hash)"
a=$(build/release/tests/conclave_driver_sim --seeds 200 | tail -1)
b=$(build/release/tests/conclave_driver_sim --seeds 200 | tail -1)
echo "$a"
if [ "$a" != "$b" ]; then echo "driver simulation is not deterministic: '$a' vs '$b'"; exit 1; fi
case "$a" in *" 0 failed;"*) ;; *) exit 1 ;; esac

step "driver simulation under asan+ubsan (20 seeds: the same trace hash as the release build)"
c=$(ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  build/asan/tests/conclave_driver_sim --seeds 20 | tail -1)
d=$(build/release/tests/conclave_driver_sim --seeds 20 | tail -1)
echo "$c"
if [ "$c" != "$d" ]; then echo "the sanitized driver simulation differs: '$c' vs '$d'"; exit 1; fi

step "driver: mutation tests (the driver simulation must catch each bug planted in a copy of the driver)"
# pipefail: a survivor fails the step, and its line ("survived") is printed.
ctest --test-dir build/release -R '^driver_mutant_' --output-on-failure --verbose | grep -E "caught|survived|tests passed|tests failed"

step "fuzz targets: a short fixed number of inputs each (long mode: scripts/fuzz.sh --minutes 15)"
scripts/fuzz.sh --runs 20000

step "npm test clients (pinned by tests/consul/npm/package-lock.json)"
(cd tests/consul/npm && npm ci --no-audit --no-fund --loglevel=error)

step "python3-consul2 (conflicts with python3-consul: unpacked, not installed)"
scripts/unpack-deb.sh python3-consul2 build/debs/python3-consul2

step "differential + integration tests"
export CONCLAVE_BIN="$PWD/build/release/src/cli/conclave"
# Every suite runs or fails here (tests/conftest.py): no skips, and against Conclave only.
export CONCLAVE_NO_SKIPS=1
unset CONCLAVE_TEST_TARGET
/usr/bin/python3 -m pytest -q -p no:cacheprovider tests/compat tests/integration tests/consul tests/cluster tests/faults

step "all tests passed"
