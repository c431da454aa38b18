// Watch registry: which watcher (a client connection) wants to hear about which path.
//
// Watches are not replicated: each node keeps the watches of its own clients and matches them
// against the triggers that apply() reports, following ZooKeeper's WatchManager — one-shot data
// and child watches, persistent and persistent-recursive watches (addWatch), and at most one
// event per watcher per trigger.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "state/types.h"

namespace conclave::state {

using WatcherId = uint64_t;

enum class WatchKind : uint8_t { kData = 0, kChild = 1, kPersistent = 2, kPersistentRecursive = 3 };

struct Delivery {
  WatcherId watcher;
  EventType type;
  std::string path;
};

class WatchRegistry {
 public:
  void add(WatcherId w, WatchKind kind, const std::string& path);
  /// Removes watches of `kind` (or of every kind when kind is nullopt-like `any`).
  /// Returns whether anything was removed. ZooKeeper's removeWatches: type 1 = children,
  /// 2 = data, 3 = any (including persistent ones).
  bool remove(WatcherId w, const std::string& path, int zk_type);
  bool has(WatcherId w, const std::string& path, int zk_type) const;
  void remove_watcher(WatcherId w);
  /// Matches a trigger and removes the one-shot watches it fires.
  void fire(const Trigger& t, std::vector<Delivery>* out);

  size_t watch_count() const { return total_; }
  size_t path_count() const { return by_path_.size(); }
  size_t watcher_count() const { return by_watcher_.size(); }
  /// For `wchs`/`wchc`/`wchp`: path -> watchers.
  std::map<std::string, std::set<WatcherId>> dump() const;
  size_t count_for(WatcherId w) const;

 private:
  struct PathWatches {
    std::set<WatcherId> kinds[4];
    bool empty() const {
      return kinds[0].empty() && kinds[1].empty() && kinds[2].empty() && kinds[3].empty();
    }
  };
  void erase(WatcherId w, WatchKind kind, const std::string& path);

  std::unordered_map<std::string, PathWatches> by_path_;
  std::unordered_map<WatcherId, std::set<std::pair<uint8_t, std::string>>> by_watcher_;
  size_t total_ = 0;
  bool any_recursive_ = false;
};

}  // namespace conclave::state
