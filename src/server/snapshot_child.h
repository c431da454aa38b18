// Snapshots written by a forked child process, so that taking one never stops the applies.
//
// fork() gives the child a copy-on-write image of the whole process at that instant: the tree it
// encodes is exactly the state after the last applied entry, while the parent goes straight on
// applying. The parent pays the fork itself (copying page tables, a few milliseconds per GB
// resident) and, while the child lives, a page copy the first time it writes to each page.
// ZooKeeper gets the same effect with fuzzy snapshots plus idempotent replay; Redis with fork.
//
// The child runs only the given function (encode, write the file, fsync) and leaves with _exit:
// it must not log, take locks other threads may hold, or touch sockets. It closes its copies of
// the parent's sockets first (so a connection the parent closes really closes), and dies with its
// parent (PR_SET_PDEATHSIG).
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "common/result.h"

namespace conclave::server {

class SnapshotChild {
 public:
  /// Forks and runs `write` in the child, which exits 0 when it returns true. An error when the
  /// fork itself failed (the caller falls back to encoding in-process).
  static Result<std::shared_ptr<SnapshotChild>> start(const std::function<bool()>& write);

  explicit SnapshotChild(int pid) : pid_(pid) {}
  SnapshotChild(const SnapshotChild&) = delete;
  SnapshotChild& operator=(const SnapshotChild&) = delete;
  /// Kills and reaps a child still running.
  ~SnapshotChild();

  /// Blocks until the child has exited, then reaps it; Ok when it succeeded.
  Status wait();
  /// Stops the child at once (shutdown): its half-written file is a ".tmp" that nothing reads.
  /// Safe from another thread while wait() blocks: the child is reaped only under the same lock,
  /// so its pid cannot have been reused.
  void kill();
  int pid() const { return pid_; }

 private:
  std::mutex mu_;
  int pid_;  // -1 once reaped
};

/// Test failpoint: when the environment names a file in CONCLAVE_FAILPOINT_SNAPSHOT_HOLD, a
/// snapshot (child or in-process) waits before encoding for as long as that file exists.
void snapshot_failpoint_hold();

}  // namespace conclave::server
