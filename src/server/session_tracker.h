// Session liveness for both protocols: when each session in the tree last showed a sign of life,
// and which ones the leader must expire.
//
// One table of sessions lives in the replicated tree (ZooKeeper sessions and Consul sessions
// alike); how long a session may stay silent comes from it (SessionInfo::liveness_ms: the
// negotiated timeout of a ZooKeeper session, twice the TTL of a Consul session, never for a Consul
// session without TTL). Only the leader's clock decides expiry, as in ZooKeeper and Consul; other
// nodes collect their clients' activity and relay it (take_touched) to the leader.
//
// Pure logic: time comes in as arguments, the caller proposes the close commands.
#pragma once

#include <cstdint>
#include <set>
#include <unordered_map>
#include <vector>

#include "state/tree.h"

namespace conclave::server {

class SessionTracker {
 public:
  /// Leadership changed. A new leader gives every session a fresh timeout (ZooKeeper does the
  /// same on leader election: no session expires because its leader went away).
  void set_leader(bool leader, const state::DataTree& tree, int64_t now_ms);
  bool leader() const { return leader_; }
  /// Activity of a client on this node.
  void touch(state::SessionId id, const state::DataTree& tree, int64_t now_ms);
  /// Activity relayed from another node (meaningful on the leader).
  void touch_remote(state::SessionId id, const state::DataTree& tree, int64_t now_ms);
  /// The session is being closed on purpose; it is not expired meanwhile.
  void closing(state::SessionId id);
  /// A close that was proposed could not be committed: the session may be expired again.
  void close_failed(state::SessionId id);
  /// Sessions touched on this node since the last call (followers relay them to the leader).
  std::vector<state::SessionId> take_touched();
  /// On the leader: sessions past their deadline, each returned once (they are marked closing).
  /// Forgets sessions that are gone from the tree.
  std::vector<state::SessionId> expired(const state::DataTree& tree, int64_t now_ms);
  /// Every session in the tree starts a fresh timeout (after a snapshot install or election).
  void restore(const state::DataTree& tree, int64_t now_ms);
  /// Milliseconds until `id` expires on this node's clock (-1: unknown or never).
  int64_t remaining_ms(state::SessionId id, int64_t now_ms) const;

 private:
  struct Liveness {
    int64_t deadline_ms = 0;
    bool closing = false;
  };
  bool leader_ = false;
  std::unordered_map<state::SessionId, Liveness> liveness_;
  std::set<state::SessionId> touched_;
};

}  // namespace conclave::server
