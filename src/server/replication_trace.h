// Replication in a write's trace: what the Raft messages of a traced entry (server/entry_codec.h)
// show, seen from outside raft::Core, which knows nothing of traces.
//
//   on the leader: a "replicate" span per follower and traced entry, from the first append that
//   carries the entry to that follower until the follower acknowledges it (its append response
//   matching the entry's index: the network both ways plus the follower's own fsync), a child
//   of the leader's "raft propose" span, tagged with the follower and the index;
//   on a follower: each traced entry that arrives in an append is handed to `await_wal` (the
//   node's "wal fsync" span of that entry, under the leader's span, once its WAL batch is durable).
//
// The leader's pending spans are bounded (the oldest are dropped, counted); a lost leadership
// drops them all. Event-loop thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <utility>

#include "raft/types.h"
#include "trace/tracer.h"

namespace conclave::server {

class ReplicationTrace {
 public:
  struct Hooks {
    trace::Tracer* tracer = nullptr;
    std::function<int64_t()> wall_us;
    /// A traced entry arrived here in an append (followers): its fsync span's parent.
    std::function<void(raft::Index, const trace::Parent&)> await_wal;
  };
  static constexpr size_t kMaxPending = 8192;

  explicit ReplicationTrace(Hooks hooks) : hooks_(std::move(hooks)) {}

  /// A Raft message this node is about to send.
  void on_send(const raft::Message& m);
  /// A Raft message this node received (before the core steps it).
  void on_receive(const raft::Message& m);
  /// This node is no longer the leader: its pending spans end unfinished.
  void leadership_lost() { pending_.clear(); }

  size_t pending() const { return pending_.size(); }
  uint64_t dropped() const { return dropped_; }

 private:
  struct Pending {
    trace::Parent parent;
    int64_t sent_us = 0;
  };
  Hooks hooks_;
  std::map<std::pair<raft::Index, uint64_t>, Pending> pending_;  // (index, follower)
  uint64_t dropped_ = 0;
};

}  // namespace conclave::server
