#include "state/watches.h"

#include <algorithm>

#include "state/path.h"

namespace conclave::state {

void WatchRegistry::add(WatcherId w, WatchKind kind, const std::string& path) {
  auto& set = by_path_[path].kinds[static_cast<int>(kind)];
  if (set.insert(w).second) {
    ++total_;
    by_watcher_[w].insert({static_cast<uint8_t>(kind), path});
  }
  if (kind == WatchKind::kPersistentRecursive) any_recursive_ = true;
}

void WatchRegistry::erase(WatcherId w, WatchKind kind, const std::string& path) {
  auto it = by_path_.find(path);
  if (it == by_path_.end()) return;
  if (it->second.kinds[static_cast<int>(kind)].erase(w)) {
    --total_;
    auto bw = by_watcher_.find(w);
    if (bw != by_watcher_.end()) {
      bw->second.erase({static_cast<uint8_t>(kind), path});
      if (bw->second.empty()) by_watcher_.erase(bw);
    }
  }
  if (it->second.empty()) by_path_.erase(it);
}

static std::vector<WatchKind> kinds_for(int zk_type) {
  switch (zk_type) {
    case 1: return {WatchKind::kChild};
    case 2: return {WatchKind::kData};
    case 3: return {WatchKind::kData, WatchKind::kChild, WatchKind::kPersistent, WatchKind::kPersistentRecursive};
    case 4: return {WatchKind::kPersistent};
    case 5: return {WatchKind::kPersistentRecursive};
    default: return {};
  }
}

bool WatchRegistry::has(WatcherId w, const std::string& path, int zk_type) const {
  auto it = by_path_.find(path);
  if (it == by_path_.end()) return false;
  for (auto k : kinds_for(zk_type))
    if (it->second.kinds[static_cast<int>(k)].count(w)) return true;
  return false;
}

bool WatchRegistry::remove(WatcherId w, const std::string& path, int zk_type) {
  if (!has(w, path, zk_type)) return false;
  for (auto k : kinds_for(zk_type)) erase(w, k, path);
  return true;
}

void WatchRegistry::remove_watcher(WatcherId w) {
  auto bw = by_watcher_.find(w);
  if (bw == by_watcher_.end()) return;
  auto entries = bw->second;
  for (const auto& [kind, path] : entries) erase(w, static_cast<WatchKind>(kind), path);
}

void WatchRegistry::fire(const Trigger& t, std::vector<Delivery>* out) {
  std::set<WatcherId> done;
  auto emit = [&](WatcherId w) {
    if (done.insert(w).second) out->push_back({w, t.type, t.path});
  };
  auto it = by_path_.find(t.path);
  if (it != by_path_.end()) {
    auto& pw = it->second;
    auto take = [&](WatchKind k) {
      auto& set = pw.kinds[static_cast<int>(k)];
      std::vector<WatcherId> ws(set.begin(), set.end());
      for (auto w : ws) {
        emit(w);
        --total_;
        auto bw = by_watcher_.find(w);
        if (bw != by_watcher_.end()) {
          bw->second.erase({static_cast<uint8_t>(k), t.path});
          if (bw->second.empty()) by_watcher_.erase(bw);
        }
      }
      set.clear();
    };
    switch (t.type) {
      case EventType::kNodeCreated:
      case EventType::kNodeDataChanged:
        take(WatchKind::kData);
        break;
      case EventType::kNodeDeleted:
        take(WatchKind::kData);
        take(WatchKind::kChild);
        break;
      case EventType::kNodeChildrenChanged:
        take(WatchKind::kChild);
        break;
      default:
        break;
    }
    for (auto w : pw.kinds[static_cast<int>(WatchKind::kPersistent)]) emit(w);
    if (t.type != EventType::kNodeChildrenChanged)
      for (auto w : pw.kinds[static_cast<int>(WatchKind::kPersistentRecursive)]) emit(w);
    if (pw.empty()) by_path_.erase(it);
  }
  // Persistent recursive watches on ancestors see every change below them except
  // NodeChildrenChanged (ZooKeeper's WatchManager).
  if (any_recursive_ && t.type != EventType::kNodeChildrenChanged) {
    std::string_view p = t.path;
    while (!p.empty() && p != "/") {
      p = parent_of(p);
      if (p.empty()) break;
      auto a = by_path_.find(std::string(p));
      if (a == by_path_.end()) continue;
      for (auto w : a->second.kinds[static_cast<int>(WatchKind::kPersistentRecursive)]) emit(w);
    }
  }
}

std::map<std::string, std::set<WatcherId>> WatchRegistry::dump() const {
  std::map<std::string, std::set<WatcherId>> out;
  for (const auto& [path, pw] : by_path_)
    for (const auto& set : pw.kinds) out[path].insert(set.begin(), set.end());
  return out;
}

size_t WatchRegistry::count_for(WatcherId w) const {
  auto it = by_watcher_.find(w);
  return it == by_watcher_.end() ? 0 : it->second.size();
}

}  // namespace conclave::state
