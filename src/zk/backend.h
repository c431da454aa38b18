// What the ZooKeeper front-end needs from the node it runs in. Implemented by server/; tests
// implement it with an in-memory fake. Everything is called on the node's event-loop thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "state/command.h"
#include "state/tree.h"

namespace conclave::zk {

struct NodeInfo {
  std::string mode = "standalone";  // standalone | leader | follower | observer
  std::string data_dir;
  std::string client_address;       // host:port the ZooKeeper port is bound to
  int64_t node_id = 0;
  uint64_t wal_fsyncs = 0;
  uint64_t outstanding_proposals = 0;
};

class Backend {
 public:
  using Done = std::function<void(const state::ApplyResult&)>;
  virtual ~Backend() = default;
  virtual const state::DataTree& tree() const = 0;
  /// Submits a command to the replicated log. `done` runs after the command is applied on this
  /// node (so the local tree already shows its effect), or with kConnectionLoss if it cannot be
  /// committed (e.g. this node lost leadership).
  virtual void propose(state::Command cmd, Done done) = 0;
  virtual int64_t wall_ms() = 0;
  virtual int64_t monotonic_ms() = 0;
  virtual state::SessionId next_session_id() = 0;
  virtual std::string random_bytes(size_t n) = 0;
  virtual NodeInfo info() = 0;
};

}  // namespace conclave::zk
