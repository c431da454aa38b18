// Empty snapshot parts whose pages are already touched, made ahead of the encoder on a helper
// thread (SnapshotWriter::set_part_source). Encoding into fresh memory is mostly page faults;
// taking them here keeps them out of the slices the event loop runs.
#pragma once

#include <atomic>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace conclave::server {

/// Lowers the calling thread's CPU priority (nice 10): snapshot helpers yield to the event loop
/// on a busy host.
void lower_thread_priority();

class SnapshotPartPool {
 public:
  /// Starts making `count` parts of `bytes` each; `made` runs on the maker thread once they are
  /// all made (not if the pool is destroyed first).
  SnapshotPartPool(size_t count, size_t bytes, std::function<void()> made);
  /// Stops making parts; unused ones are freed.
  ~SnapshotPartPool();
  SnapshotPartPool(const SnapshotPartPool&) = delete;
  SnapshotPartPool& operator=(const SnapshotPartPool&) = delete;

  /// A ready part (empty, with its capacity touched), or an empty string when none is ready yet.
  std::string take();
  /// Parts asked for when none was ready.
  size_t misses() const { return misses_; }

 private:
  std::mutex mu_;
  std::deque<std::string> ready_;  // guarded by mu_
  size_t misses_ = 0;              // guarded by mu_ (read by the taker only)
  std::atomic<bool> stop_{false};
  std::thread maker_;
};

}  // namespace conclave::server
