// Reads: linearizable read points for the Consul API (`?consistent`, and default reads on a
// follower), Raft's ReadIndex (Ongaro's thesis §6.4). ZooKeeper's `sync` goes through the log
// instead.
//
//   read_index(done) -> on the leader: Core::read_index(context), confirmed by a heartbeat round a
//   majority answers (RaftDriver's read_state hook -> on_read_state), the read point being the
//   commit index when the request arrived -> on a follower: the context goes to the leader (kAsk),
//   which takes a read point for it the same way and answers with its index (kAnswer; 0: refused)
//   -> wait until this node has applied through the read point -> done(true). done(false): no
//   leader known, refused, or no answer within the timeout.
//
// Contexts name a request between a follower and the leader. They must never repeat across a
// node's restarts: the leader may still hold a read point for a request of the node's earlier
// life and send its answer to the new one, whose request under a reused context would then be
// served at that older read point, missing writes acknowledged in between.
//
// Event-loop thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "raft/types.h"
#include "server/raft_driver.h"

namespace conclave::server {

class Reads {
 public:
  using Done = std::function<void(bool)>;
  struct Hooks {
    /// Sends a payload to a peer (absent on a lone node).
    std::function<void(uint64_t to, std::string payload)> send;
    std::function<int64_t()> monotonic_ms;
  };
  // Peer payload kinds this part owns (first byte of a peer message).
  static constexpr uint8_t kAsk = 5;     // u64 context: a follower asks the leader for a read point
  static constexpr uint8_t kAnswer = 6;  // u64 context, u64 index (0: refused)

  /// `first_context` numbers this incarnation's first request (the node passes its wall clock in
  /// µs at start, as for proposal origins; see above).
  Reads(RaftDriver& driver, uint64_t node_id, int64_t timeout_ms, uint64_t first_context, Hooks hooks);

  void read_index(Done done);
  /// The core confirmed the read point of `context` (RaftDriver::Hooks::read_state).
  void on_read_state(uint64_t context, raft::Index index);
  void on_ask(uint64_t from, std::string_view body);
  void on_answer(std::string_view body);
  /// The node applied more entries (one by one, or by a snapshot): reads waiting for them go.
  void applied();
  /// Periodic: requests unanswered past the timeout fail.
  void tick();
  size_t outstanding() const { return requests_.size() + waiting_.size(); }

 private:
  struct Request {
    Done done;               // a local request; empty when asked by `peer`
    uint64_t peer = 0;       // the follower that asked, and its context
    uint64_t peer_context = 0;
    int64_t deadline_ms = 0;
  };
  uint64_t next_context();

  RaftDriver& driver_;
  uint64_t node_id_;
  int64_t timeout_ms_;
  Hooks hooks_;
  uint64_t seq_;                                 // the last context sequence used
  std::map<uint64_t, Request> requests_;         // by context, until the read point is known
  std::multimap<raft::Index, Done> waiting_;     // until applied >= the read point
};

}  // namespace conclave::server
