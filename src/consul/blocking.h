// Blocking queries: reads that wait until the data they watch changes (Consul's ?index=&wait=).
//
// A waiter watches a znode-path prefix; an applied change whose path starts with the prefix wakes
// it (the handler then re-runs its read and answers if the index moved past the client's, or waits
// again). A waiter whose deadline passes is woken with timed_out. Matching walks the prefixes of
// each changed path in an ordered map, so one change costs O(path length · log waiters), not
// O(waiters): ten thousand long-polls on one key cost nothing until that key changes.
// No threads or sockets: time comes in through tick().
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace conclave::consul {

class BlockingQueries {
 public:
  using Wake = std::function<void(bool timed_out)>;
  /// Special prefix for the session table (no znode path starts with it).
  static constexpr std::string_view kSessions = "\x01sessions";

  uint64_t wait(std::string prefix, int64_t deadline_ms, Wake wake);
  /// Wakes every waiter whose prefix is a prefix of `path`.
  void changed(std::string_view path);
  /// Wakes everyone (the tree was replaced).
  void changed_all();
  void tick(int64_t now_ms);
  size_t size() const { return by_id_.size(); }

 private:
  using PrefixMap = std::multimap<std::string, uint64_t, std::less<>>;
  using DeadlineMap = std::multimap<int64_t, uint64_t>;
  struct Waiter {
    PrefixMap::iterator by_prefix;  // multimap iterators stay valid: removal is O(1)
    DeadlineMap::iterator by_deadline;
    Wake wake;
  };
  void fire(std::vector<uint64_t> ids, bool timed_out);
  std::unordered_map<uint64_t, Waiter> by_id_;
  PrefixMap by_prefix_;
  DeadlineMap by_deadline_;
  uint64_t next_id_ = 1;
};

}  // namespace conclave::consul
