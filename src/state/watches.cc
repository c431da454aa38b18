#include "state/watches.h"

#include "state/path.h"

namespace conclave::state {

void WatchRegistry::Manager::add(WatcherId w, const std::string& path, WatchMode mode) {
  auto& m = by_path[path];
  auto [it, inserted] = m.emplace(w, mode);
  if (!inserted) {
    // A persistent registration upgrades a one-shot one (ZooKeeper keeps the stronger mode).
    if (it->second == WatchMode::kPersistentRecursive) --recursive;
    if (mode != WatchMode::kStandard) it->second = mode;
  } else {
    ++count;
    by_watcher[w].insert(path);
  }
  if (it->second == WatchMode::kPersistentRecursive) ++recursive;
}

bool WatchRegistry::Manager::contains(WatcherId w, const std::string& path) const {
  auto it = by_path.find(path);
  return it != by_path.end() && it->second.count(w);
}

bool WatchRegistry::Manager::remove(WatcherId w, const std::string& path) {
  auto it = by_path.find(path);
  if (it == by_path.end()) return false;
  auto wi = it->second.find(w);
  if (wi == it->second.end()) return false;
  if (wi->second == WatchMode::kPersistentRecursive) --recursive;
  it->second.erase(wi);
  --count;
  if (it->second.empty()) by_path.erase(it);
  auto bw = by_watcher.find(w);
  if (bw != by_watcher.end()) {
    bw->second.erase(path);
    if (bw->second.empty()) by_watcher.erase(bw);
  }
  return true;
}

void WatchRegistry::Manager::trigger(const std::string& path, EventType type, std::set<WatcherId>* done,
                                     std::vector<Delivery>* out) {
  // The path itself: every mode; one-shot watches are consumed.
  auto it = by_path.find(path);
  if (it != by_path.end()) {
    std::vector<WatcherId> consumed;
    for (const auto& [w, mode] : it->second) {
      if (mode == WatchMode::kPersistentRecursive && type == EventType::kNodeChildrenChanged) continue;
      if (mode == WatchMode::kStandard) consumed.push_back(w);
      if (done->insert(w).second) out->push_back({w, type, path});
    }
    for (auto w : consumed) remove(w, path);
  }
  // Ancestors: recursive watches only, and never for NodeChildrenChanged.
  if (recursive == 0 || type == EventType::kNodeChildrenChanged) return;
  std::string_view p = path;
  while (p.size() > 1) {
    p = parent_of(p);
    auto a = by_path.find(std::string(p));
    if (a == by_path.end()) continue;
    for (const auto& [w, mode] : a->second)
      if (mode == WatchMode::kPersistentRecursive && done->insert(w).second) out->push_back({w, type, path});
  }
}

void WatchRegistry::add(WatcherId w, WatchKind kind, const std::string& path) {
  switch (kind) {
    case WatchKind::kData: data_.add(w, path, WatchMode::kStandard); break;
    case WatchKind::kChild: child_.add(w, path, WatchMode::kStandard); break;
    case WatchKind::kPersistent:
      data_.add(w, path, WatchMode::kPersistent);
      child_.add(w, path, WatchMode::kPersistent);
      break;
    case WatchKind::kPersistentRecursive:
      data_.add(w, path, WatchMode::kPersistentRecursive);
      child_.add(w, path, WatchMode::kPersistentRecursive);
      break;
  }
}

bool WatchRegistry::has(WatcherId w, const std::string& path, int zk_type) const {
  switch (zk_type) {
    case 1: return child_.contains(w, path);
    case 2: return data_.contains(w, path);
    case 3: return child_.contains(w, path) || data_.contains(w, path);
    default: return false;
  }
}

bool WatchRegistry::any_on(const std::string& path, int zk_type) const {
  switch (zk_type) {
    case 1: return child_.any(path);
    case 2: return data_.any(path);
    case 3: return child_.any(path) || data_.any(path);
    default: return false;
  }
}

bool WatchRegistry::remove(WatcherId w, const std::string& path, int zk_type) {
  switch (zk_type) {
    case 1: return child_.remove(w, path);
    case 2: return data_.remove(w, path);
    case 3: {
      bool a = child_.remove(w, path);
      bool b = data_.remove(w, path);
      return a || b;
    }
    default: return false;
  }
}

void WatchRegistry::remove_watcher(WatcherId w) {
  for (Manager* m : {&data_, &child_}) {
    auto bw = m->by_watcher.find(w);
    if (bw == m->by_watcher.end()) continue;
    auto paths = bw->second;
    for (const auto& p : paths) m->remove(w, p);
  }
}

void WatchRegistry::fire(const Trigger& t, std::vector<Delivery>* out) {
  // DataTree: data watches hear created/changed/deleted; child watches hear deleted (of the node
  // itself) and children-changed (of the parent). A watcher processed by the data manager is not
  // told twice by the child manager.
  std::set<WatcherId> done;
  switch (t.type) {
    case EventType::kNodeCreated:
    case EventType::kNodeDataChanged:
      data_.trigger(t.path, t.type, &done, out);
      break;
    case EventType::kNodeDeleted:
      data_.trigger(t.path, t.type, &done, out);
      child_.trigger(t.path, t.type, &done, out);
      break;
    case EventType::kNodeChildrenChanged:
      child_.trigger(t.path, t.type, &done, out);
      break;
    default:
      break;
  }
}

std::map<std::string, std::set<WatcherId>> WatchRegistry::dump_data() const {
  std::map<std::string, std::set<WatcherId>> out;
  for (const auto& [path, ws] : data_.by_path)
    for (const auto& [w, mode] : ws) out[path].insert(w);
  return out;
}

}  // namespace conclave::state
