#!/usr/bin/env bash
# Installs the Debian 12 packages Conclave needs to build, run and test. Idempotent: packages
# already present are not touched, and apt-get runs only when something is missing.
set -euo pipefail

PACKAGES=(
  # build
  g++ cmake ninja-build ccache pkg-config
  libboost1.81-dev libfmt-dev libgtest-dev libgmock-dev libbenchmark-dev
  # tests: real ZooKeeper peers and clients
  zookeeper libzookeeper-mt-dev python3-kazoo python3-pure-sasl python3-pytest python3-consul default-jre-headless
  # tests: kazoo's own TestReconfig (tests/cluster/test_zk_reconfig.py) imports mock
  python3-mock
  # tests: Patroni with PostgreSQL 15 on the Consul API (python3-consul2 is unpacked by scripts/test.sh)
  patroni postgresql-15
  # tests: Curator's ServiceDiscovery (tests/consul/curator, run with the JDK's source launcher)
  libcurator-discovery-java libcurator-recipes-java openjdk-17-jdk-headless
  # DNS: ldns is the wire codec; dig and dnspython test it
  libldns-dev bind9-dnsutils python3-dnspython
  # tracing: py_zipkin is an instrumented B3 client (tests/integration/test_tracing.py)
  python3-py-zipkin
  # metrics: Prometheus scrapes a cluster and promtool lints the exposition (tests/cluster/test_metrics_cluster.py)
  prometheus
  # fuzzing (tests/fuzz): clang with libFuzzer and the sanitizer runtimes
  clang-14 libclang-rt-14-dev
  # tools used by scripts and tests
  curl procps
  # benchmarks only: liburing for the io_uring build (cmake --preset release-uring, bench/compare.py --only io-backend)
  liburing-dev
  # benchmarks only: callgrind counts the instructions of a request (bench/compare.py --only trace-instructions)
  valgrind
  # benchmarks only (bench/compare.py): etcd 3.4 as a second anchor
  # etcd-server is installed by bench/compare.py itself when missing
)

# Node.js and npm run the npm `consul` client tests; any Node.js >= 18 will do (Debian's nodejs +
# npm when the machine has none).
if ! command -v npm >/dev/null 2>&1; then PACKAGES+=(nodejs npm); fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y --no-install-recommends "${missing[@]}"; then
  $SUDO apt-get update
  $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi
