// Replication latency per follower, for /metrics on the leader: each append that carries new
// entries, from its sending to the follower's acknowledgement of its last entry (the network both
// ways and the follower's fsync). Fed with the Raft messages the node sends and receives, outside
// raft::Core; a retransmission of entries already in flight does not restart their clock.
// Event-loop thread only.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <utility>

#include "common/histogram.h"
#include "raft/types.h"

namespace conclave::server {

class ReplicationLatency {
 public:
  static constexpr size_t kMaxInFlight = 1024;  // per follower; the oldest are dropped beyond it

  /// A Raft message this node sends, at `now_us` on a monotonic clock.
  void on_send(const raft::Message& m, int64_t now_us);
  /// A Raft message this node received.
  void on_receive(const raft::Message& m, int64_t now_us);
  /// No longer the leader: appends in flight are forgotten (the histograms stay).
  void leadership_lost();

  const std::map<uint64_t, LatencyHistogram>& by_follower() const { return histograms_; }

 private:
  std::map<uint64_t, std::deque<std::pair<raft::Index, int64_t>>> in_flight_;  // follower -> (last index, sent)
  std::map<uint64_t, LatencyHistogram> histograms_;
};

}  // namespace conclave::server
