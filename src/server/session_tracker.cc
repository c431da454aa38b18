#include "server/session_tracker.h"

namespace conclave::server {

void SessionTracker::set_leader(bool leader, const state::DataTree& tree, int64_t now_ms) {
  if (leader && !leader_) restore(tree, now_ms);
  leader_ = leader;
  if (!leader)
    for (auto& [id, l] : liveness_) l.closing = false;
}

void SessionTracker::touch(state::SessionId id, const state::DataTree& tree, int64_t now_ms) {
  if (id == 0) return;
  if (!leader_) touched_.insert(id);
  touch_remote(id, tree, now_ms);
}

void SessionTracker::touch_remote(state::SessionId id, const state::DataTree& tree, int64_t now_ms) {
  const state::SessionInfo* s = tree.session(id);
  if (!s) return;
  int64_t limit = s->liveness_ms();
  if (limit <= 0) return;  // never expires on silence
  liveness_[id].deadline_ms = now_ms + limit;
}

void SessionTracker::closing(state::SessionId id) {
  auto it = liveness_.find(id);
  if (it != liveness_.end()) it->second.closing = true;
}

void SessionTracker::close_failed(state::SessionId id) {
  auto it = liveness_.find(id);
  if (it != liveness_.end()) it->second.closing = false;
}

std::vector<state::SessionId> SessionTracker::take_touched() {
  std::vector<state::SessionId> out(touched_.begin(), touched_.end());
  touched_.clear();
  return out;
}

std::vector<state::SessionId> SessionTracker::expired(const state::DataTree& tree, int64_t now_ms) {
  std::vector<state::SessionId> out;
  if (!leader_) return out;
  // Sessions created through other nodes start their clock here.
  for (const auto& [id, s] : tree.sessions())
    if (s.liveness_ms() > 0 && !liveness_.count(id)) liveness_[id] = Liveness{now_ms + s.liveness_ms(), false};
  for (auto it = liveness_.begin(); it != liveness_.end();) {
    if (!tree.session(it->first)) {
      it = liveness_.erase(it);
      continue;
    }
    if (!it->second.closing && now_ms > it->second.deadline_ms) {
      it->second.closing = true;
      out.push_back(it->first);
    }
    ++it;
  }
  return out;
}

void SessionTracker::restore(const state::DataTree& tree, int64_t now_ms) {
  liveness_.clear();
  for (const auto& [id, s] : tree.sessions())
    if (s.liveness_ms() > 0) liveness_[id] = Liveness{now_ms + s.liveness_ms(), false};
}

int64_t SessionTracker::remaining_ms(state::SessionId id, int64_t now_ms) const {
  auto it = liveness_.find(id);
  if (it == liveness_.end()) return -1;
  return it->second.deadline_ms - now_ms;
}

}  // namespace conclave::server
