#include "consul/blocking.h"

namespace conclave::consul {

uint64_t BlockingQueries::wait(std::string prefix, int64_t deadline_ms, Wake wake) {
  uint64_t id = next_id_++;
  auto p = by_prefix_.emplace(std::move(prefix), id);
  auto d = by_deadline_.emplace(deadline_ms, id);
  by_id_.emplace(id, Waiter{p, d, std::move(wake)});
  return id;
}

void BlockingQueries::fire(std::vector<uint64_t> ids, bool timed_out) {
  std::vector<Wake> wakes;
  for (uint64_t id : ids) {
    auto it = by_id_.find(id);
    if (it == by_id_.end()) continue;
    by_prefix_.erase(it->second.by_prefix);
    by_deadline_.erase(it->second.by_deadline);
    wakes.push_back(std::move(it->second.wake));
    by_id_.erase(it);
  }
  // Wake after the bookkeeping: a woken query may register itself again.
  for (auto& w : wakes) w(timed_out);
}

void BlockingQueries::changed(std::string_view path) {
  if (by_prefix_.empty()) return;
  std::vector<uint64_t> ids;
  for (size_t len = 0; len <= path.size(); ++len) {
    auto range = by_prefix_.equal_range(path.substr(0, len));
    for (auto it = range.first; it != range.second; ++it) ids.push_back(it->second);
  }
  if (!ids.empty()) fire(std::move(ids), false);
}

void BlockingQueries::changed_all() {
  std::vector<uint64_t> ids;
  for (const auto& [id, w] : by_id_) ids.push_back(id);
  fire(std::move(ids), false);
}

void BlockingQueries::tick(int64_t now_ms) {
  std::vector<uint64_t> ids;
  for (auto it = by_deadline_.begin(); it != by_deadline_.end() && it->first <= now_ms; ++it) ids.push_back(it->second);
  if (!ids.empty()) fire(std::move(ids), true);
}

}  // namespace conclave::consul
