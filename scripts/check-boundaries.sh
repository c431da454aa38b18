#!/usr/bin/env bash
# Module boundaries (docs/ARCHITECTURE.md): raft/ and state/ stay free of sockets, threads, clocks
# and files so they can be simulated; the front-ends never include each other. Run by the test
# command; prints every offending include and fails.
set -euo pipefail
cd "$(dirname "$0")/../src"
fail=0
check() {  # dir, regex, reason
  local hits
  hits=$(grep -nE "^\s*#\s*include\s*[<\"]($2)" -r "$1" --include='*.h' --include='*.cc' || true)
  if [ -n "$hits" ]; then
    echo "boundary violation: $1 must not include $3:"
    echo "$hits" | sed 's/^/  /'
    fail=1
  fi
}
# (arpa/inet.h is allowed: inet_pton only parses addresses, for ip: ACLs.)
for pure in raft state; do
  check "$pure" 'boost/|asio|thread>|mutex>|condition_variable>|future>|chrono>|ctime>|time\.h|fstream>|filesystem>|cstdio>|sys/|unistd\.h|fcntl\.h|netinet/|sys/socket|net/|storage/|server/|zk/|consul/|dns/' \
    "Asio, threads, clocks, files or outer modules"
done
# trace/ is told the time and owns no sockets or threads, so spans and the store are unit-tested as data.
check trace 'boost/|asio|thread>|mutex>|chrono>|ctime>|time\.h|fstream>|filesystem>|sys/|unistd\.h|net/|storage/|state/|raft/|server/|zk/|consul/|dns/' \
  "Asio, threads, clocks, files or other modules"
check zk 'consul/|dns/|server/node|server/raft_driver|server/proposals|raft/|storage/' "the Consul front-end or the node's internals"
check server 'zk/|consul/|dns/' "a front-end (the agent in cli/ wires them)"
check consul 'zk/|dns/|server/node|server/raft_driver|server/proposals|raft/|storage/|boost/asio|net/event_loop|net/udp' "another front-end, the node's internals or sockets"
check dns 'zk/|consul/|server/node|server/raft_driver|server/proposals|raft/|storage/|boost/|net/event_loop|net/udp' "another front-end, the node's internals or sockets"
check common 'net/|storage/|state/|raft/|server/|zk/|consul/|dns/' "other modules"
if [ "$fail" -ne 0 ]; then exit 1; fi
echo "module boundaries hold"
