#include "server/snapshot_parts.h"

#include <sys/resource.h>

namespace conclave::server {

void lower_thread_priority() {
  // On Linux a nice value set with PRIO_PROCESS and who = 0 applies to the calling thread only.
  setpriority(PRIO_PROCESS, 0, 10);
}

SnapshotPartPool::SnapshotPartPool(size_t count, size_t bytes, std::function<void()> made) {
  maker_ = std::thread([this, count, bytes, made = std::move(made)] {
    for (size_t i = 0; i < count; ++i) {
      if (stop_.load(std::memory_order_relaxed)) return;
      std::string part(bytes, '\0');  // touches every page
      part.clear();                   // keeps the capacity, and the pages
      std::lock_guard lock(mu_);
      ready_.push_back(std::move(part));
    }
    if (made && !stop_.load(std::memory_order_relaxed)) made();
  });
}

SnapshotPartPool::~SnapshotPartPool() {
  stop_ = true;
  if (maker_.joinable()) maker_.join();
}

std::string SnapshotPartPool::take() {
  std::lock_guard lock(mu_);
  if (ready_.empty()) {
    ++misses_;
    return {};
  }
  std::string part = std::move(ready_.front());
  ready_.pop_front();
  return part;
}

}  // namespace conclave::server
