#!/usr/bin/env bash
# Installs dependencies, builds, and starts a single-node dev server (like `consul agent -dev`):
# data in a fresh temp dir, ZooKeeper protocol on 127.0.0.1:2181, HTTP on 127.0.0.1:8500.
# Extra arguments go to `conclave agent`, e.g. scripts/dev.sh --zk-port 2182.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset release >/dev/null
ninja -C build/release conclave
exec build/release/src/cli/conclave agent --dev "$@"
