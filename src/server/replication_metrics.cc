#include "server/replication_metrics.h"

namespace conclave::server {

void ReplicationLatency::on_send(const raft::Message& m, int64_t now_us) {
  if (m.type != raft::MessageType::kAppend || m.entries.empty()) return;
  auto& q = in_flight_[m.to];
  raft::Index last = m.entries.back().index;
  if (!q.empty() && q.back().first >= last) return;  // already in flight
  if (q.size() >= kMaxInFlight) q.pop_front();
  q.emplace_back(last, now_us);
}

void ReplicationLatency::on_receive(const raft::Message& m, int64_t now_us) {
  if (m.type != raft::MessageType::kAppendResp || m.reject) return;
  auto it = in_flight_.find(m.from);
  if (it == in_flight_.end()) return;
  auto& q = it->second;
  while (!q.empty() && q.front().first <= m.index) {
    histograms_[m.from].observe_us(now_us - q.front().second);
    q.pop_front();
  }
}

void ReplicationLatency::leadership_lost() { in_flight_.clear(); }

}  // namespace conclave::server
