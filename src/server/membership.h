// Membership: changes to the Raft configuration that front-ends ask for (ZooKeeper's reconfig,
// Consul's operator API), and each member's announcement of its own line in /zookeeper/config.
//
//   change() -> on the leader: checks (the configuration version the caller saw, a live quorum in
//   the new configuration), then one Raft configuration entry per change, each proposed once the
//   previous one is applied (Raft's single-server changes) -> answered when the last is applied
//   here. On a follower the request is forwarded to the leader (kChange); the leader's answer
//   (kChangeAck) carries the index of the last entry, and the follower answers once it has
//   applied through that index too, so the caller's next read here shows the new configuration.
//   A request of several changes is not atomic: when one fails, the earlier ones stay applied.
//
//   announce: every member proposes its own line (Raft address, role, ZooKeeper client address)
//   while /zookeeper/config lacks it or names no client address, so that the text lists every
//   member of a static cluster too (their first configuration is not in the log).
//
// Event-loop thread only.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "raft/types.h"
#include "server/proposals.h"
#include "server/raft_driver.h"
#include "server/replica.h"
#include "state/tree.h"
#include "state/types.h"

namespace conclave::server {

class Membership {
 public:
  using Done = std::function<void(const MembershipResult&)>;
  struct Hooks {
    std::function<void(uint64_t to, std::string payload)> send;  // absent on a lone node
    std::function<int64_t()> monotonic_ms;
    /// ms since this node last heard from `id`; -1: never.
    std::function<int64_t(uint64_t id)> heard_ms_ago;
    /// The ZooKeeper server spec this node announces for itself ("" announces nothing).
    std::function<std::string()> own_spec;
  };
  static constexpr uint8_t kChange = 7;     // u64 context, request
  static constexpr uint8_t kChangeAck = 8;  // u64 context, i32 code, message, u64 index
  static constexpr int64_t kTimeoutMs = 15000;
  /// Voters heard from within this long count as live in the quorum check.
  static constexpr int64_t kLiveMs = 3000;

  /// `first_context` numbers this incarnation's first forwarded request. Contexts must not repeat
  /// across restarts, or the leader's answer to a request of this node's earlier life would
  /// answer a new one (the node passes its wall clock in µs, as for proposal origins).
  Membership(RaftDriver& driver, Proposals& proposals, const state::DataTree& tree, uint64_t node_id,
             uint64_t first_context, Hooks hooks);

  void change(MembershipRequest request, Done done);
  void on_change(uint64_t from, std::string_view body);
  void on_change_ack(std::string_view body);
  /// Everything through `index` is applied on this node.
  void applied_through(raft::Index index);
  /// Periodic: timeouts, the next step of a job whose entry could not be proposed, announcements.
  void tick();
  void leadership_lost();

 private:
  struct Job {
    std::vector<raft::ConfChange> steps;
    size_t next = 0;
    raft::Index waiting_for = 0;  // index of the step in flight
    raft::Index last = 0;
    int64_t deadline_ms = 0;
    Done done;
  };
  struct Forwarded {
    Done done;
    int64_t deadline_ms = 0;
    raft::Index wait_index = 0;  // answered by the leader; waiting to apply through it
    MembershipResult result;
  };
  /// On the leader: validates and turns a request into Raft steps, or answers it.
  void start(MembershipRequest request, Done done);
  void advance();
  void finish_front(MembershipResult r);
  void announce();

  RaftDriver& driver_;
  Proposals& proposals_;
  const state::DataTree& tree_;
  uint64_t node_id_;
  Hooks hooks_;
  std::deque<Job> jobs_;                   // on the leader, one at a time
  std::map<uint64_t, Forwarded> forwarded_;  // by context
  uint64_t seq_;  // the last context sequence used
  bool announcing_ = false;
  int64_t last_announce_ms_ = -1000000;
};

}  // namespace conclave::server
