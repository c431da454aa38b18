// SessionLiveness: the node's part in session expiry, around the pure SessionTracker.
//
//   touch(id) (a front-end saw the client) -> on a follower, collected and relayed to the leader
//   every `relay_ms` (kTouch; ZooKeeper's followers do the same with their pings) -> on the
//   leader, the session's deadline moves -> expire(), run every 100 ms, proposes a CloseSession
//   for each session past its deadline (once; again if the close could not be committed).
//   Leadership and snapshot installs restart every session's clock (role_changed, tree_replaced):
//   no session expires because its leader went away.
//
// Event-loop thread only; time comes from the hooks.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "server/raft_driver.h"
#include "server/session_tracker.h"
#include "state/command.h"
#include "state/tree.h"

namespace conclave::server {

class SessionLiveness {
 public:
  struct Hooks {
    /// Sends a payload to a peer (absent on a lone node).
    std::function<void(uint64_t to, std::string payload)> send;
    std::function<int64_t()> monotonic_ms;
    /// Proposes the close of an expired session; `failed` runs when it could not be committed.
    std::function<void(state::Command cmd, std::function<void()> failed)> propose;
    /// The session is about to be closed for silence (front-ends tell its client).
    std::function<void(state::SessionId id)> expiring;
  };
  static constexpr uint8_t kTouch = 4;  // u32 n, n x i64 session id

  SessionLiveness(RaftDriver& driver, const state::DataTree& tree, int64_t relay_ms, Hooks hooks);

  void touch(state::SessionId id);
  /// The session is being closed on purpose; it is not expired meanwhile.
  void closing(state::SessionId id);
  void on_touch(std::string_view body);
  void role_changed(bool leader);
  void tree_replaced();
  /// On every Raft tick: a follower relays what it collected, at most every `relay_ms`.
  void relay();
  /// Every 100 ms: the leader proposes the close of each session past its deadline.
  void expire();
  const SessionTracker& tracker() const { return tracker_; }

 private:
  RaftDriver& driver_;
  const state::DataTree& tree_;
  int64_t relay_ms_;
  Hooks hooks_;
  SessionTracker tracker_;
  int64_t last_relay_ms_ = 0;
};

}  // namespace conclave::server
