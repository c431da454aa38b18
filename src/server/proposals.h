// Proposals: from a front-end's command to its reply.
//
//   propose() numbers the command with an origin id ((node id << 48) | sequence) -> on the leader
//   it is stamped with the leader's wall time and appended to the Raft log; on a follower it is
//   forwarded to the leader (peer message), which stamps and appends it and acknowledges with the
//   log index -> when an entry is applied, complete() answers the proposer whose origin it
//   carries -> a proposal whose index was applied with someone else's entry, whose forward the
//   leader refused or never acknowledged, or that was pending when this node lost leadership, is
//   answered with Code::kConnectionLoss (ZooKeeper's "outcome unknown"; clients retry).
//
// Event-loop thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <unordered_map>

#include "raft/types.h"
#include "server/raft_driver.h"
#include "state/command.h"

namespace conclave::server {

class Proposals {
 public:
  using Done = std::function<void(const state::ApplyResult&)>;
  struct Hooks {
    /// Sends a forward or an acknowledgement to a peer (absent on a lone node).
    std::function<void(uint64_t to, std::string payload)> send;
    std::function<int64_t()> wall_ms;
    std::function<int64_t()> monotonic_ms;
  };
  // Peer payload kinds this part owns (first byte of a peer message).
  static constexpr uint8_t kForward = 2;     // u64 origin, command bytes
  static constexpr uint8_t kForwardAck = 3;  // u64 origin, u64 index (0: refused, not the leader)

  Proposals(RaftDriver& driver, uint64_t node_id, int64_t forward_timeout_ms, Hooks hooks);

  void propose(state::Command cmd, Done done);
  /// A peer forwarded a command (we may be the leader).
  void on_forward(uint64_t from, std::string_view body);
  void on_forward_ack(std::string_view body);
  /// The entry at `index` carrying `origin` was applied with result `r`.
  void complete(uint64_t origin, const state::ApplyResult& r);
  /// Everything through `index` is applied: proposals still waiting for an index at or below it
  /// were lost.
  void applied_through(raft::Index index);
  /// Periodic: forwards that the leader never acknowledged, or that went to a former leader.
  void tick();
  void leadership_lost();
  size_t outstanding() const { return pending_.size(); }

 private:
  struct Pending {
    Done done;
    raft::Index index = 0;  // known log index (0: forwarded, not yet acknowledged by the leader)
    int64_t deadline_ms = 0;
    uint64_t forwarded_to = 0;
  };
  void fail(uint64_t origin, const char* why);
  /// On the leader: stamps the leader's time and appends. Returns the index, or 0.
  raft::Index append(state::Command& cmd);

  RaftDriver& driver_;
  uint64_t node_id_;
  int64_t forward_timeout_ms_;
  Hooks hooks_;
  std::unordered_map<uint64_t, Pending> pending_;  // by command origin
  std::map<raft::Index, uint64_t> by_index_;       // known log index -> origin (may hold stale origins)
  uint64_t seq_ = 0;
};

}  // namespace conclave::server
