// Watch registry: which watcher (a client connection) wants to hear about which path.
//
// Watches are not replicated: each node keeps the watches of its own clients and matches them
// against the triggers that apply() reports. The model is ZooKeeper's: two managers, one for data
// watches (getData, exists) and one for child watches (getChildren); a persistent or
// persistent-recursive watch (addWatch) is registered in both. One-shot watches fire once;
// recursive watches see changes below their path except NodeChildrenChanged; a watcher gets at
// most one event per change (ZooKeeper's WatchManager / DataTree).
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

enum class WatchMode : uint8_t { kStandard = 0, kPersistent = 1, kPersistentRecursive = 2 };
enum class WatchKind : uint8_t { kData = 0, kChild = 1, kPersistent = 2, kPersistentRecursive = 3 };

struct Delivery {
  WatcherId watcher;
  EventType type;
  std::string path;
};

class WatchRegistry {
 public:
  /// kData: getData/exists; kChild: getChildren; kPersistent/kPersistentRecursive: addWatch.
  void add(WatcherId w, WatchKind kind, const std::string& path);
  /// ZooKeeper's checkWatches/removeWatches types: 1 = children, 2 = data, 3 = any.
  bool has(WatcherId w, const std::string& path, int zk_type) const;
  /// ZooKeeper 3.8's checkWatches: true when *any* watcher is registered on `path` (its
  /// WatchManager.containsWatcher returns true for any watcher at the leaf path).
  bool any_on(const std::string& path, int zk_type) const;
  bool remove(WatcherId w, const std::string& path, int zk_type);
  void remove_watcher(WatcherId w);
  /// Matches a trigger and removes the one-shot watches it fires.
  void fire(const Trigger& t, std::vector<Delivery>* out);

  /// Watches in both managers (mntr's zk_watch_count).
  size_t watch_count() const { return data_.count + child_.count; }
  /// wchs/wchc/wchp report the data manager only, as ZooKeeper does.
  size_t data_watch_count() const { return data_.count; }
  size_t path_count() const { return data_.by_path.size(); }
  std::map<std::string, std::set<WatcherId>> dump_data() const;

 private:
  struct Manager {
    std::unordered_map<std::string, std::map<WatcherId, WatchMode>> by_path;
    std::unordered_map<WatcherId, std::set<std::string>> by_watcher;
    size_t count = 0;
    size_t recursive = 0;
    void add(WatcherId w, const std::string& path, WatchMode mode);
    bool contains(WatcherId w, const std::string& path) const;
    bool any(const std::string& path) const { return by_path.count(path) != 0; }
    bool remove(WatcherId w, const std::string& path);
    void trigger(const std::string& path, EventType type, std::set<WatcherId>* done, std::vector<Delivery>* out);
  };
  Manager data_;
  Manager child_;
};

}  // namespace conclave::state
