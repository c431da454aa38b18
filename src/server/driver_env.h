// Everything the Raft driver (server/raft_driver.h) does to the world outside it: the loop it
// runs on, the one helper thread it uses for slow snapshot work, and the storage under its log
// and snapshots.
//
// The real environment (make_loop_driver_env) is the node's net::EventLoop, a thread, and files
// under the data directory. The driver simulation (tests/sim/driver_sim.cc) implements it with
// a seeded event queue and in-memory storage, so the driver's own logic — persist before send,
// held messages, batches in flight, recovery, snapshots taken while applies go on — runs
// deterministically, crashes included.
//
// Contract: everything the driver calls runs on the loop; post() and after() run their function
// on the loop later, never inside the call; post() is safe from any thread. background() work
// runs off the loop and reports back only through post().
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "common/result.h"
#include "storage/log_replay.h"
#include "storage/log_store.h"
#include "storage/snapshot_store.h"

namespace conclave::net {
class EventLoop;
}

namespace conclave::server {

class DriverEnv {
 public:
  virtual ~DriverEnv() = default;

  virtual void post(std::function<void()> fn) = 0;
  virtual void after(std::chrono::milliseconds delay, std::function<void()> fn) = 0;
  /// Runs `work` away from the loop; a call first waits for the previous work to finish.
  virtual void background(std::function<void()> work) = 0;
  /// Waits for the last background work (the driver's destructor calls it).
  virtual void join_background() = 0;

  virtual Result<std::unique_ptr<storage::SnapshotStorage>> open_snapshots() = 0;
  /// Opens the log and reads back what is durable; entries at or below `after_index` (covered by
  /// the snapshot loaded first) are not returned.
  virtual Result<std::unique_ptr<storage::LogStore>> open_log(raft::Index after_index,
                                                              storage::RecoveredLog* recovered) = 0;
  /// Whether snapshot parts are made ahead on a helper thread (server/snapshot_parts.h). The
  /// simulation says no: it has no threads, and the parts' memory is not what it checks.
  virtual bool prefault_snapshot_parts() const { return true; }
};

/// The real environment: `loop`, the WAL under <data_dir>/wal and snapshots under
/// <data_dir>/snap (fdatasync'ed unless `fsync` is false), and one low-priority thread.
std::unique_ptr<DriverEnv> make_loop_driver_env(net::EventLoop& loop, std::string data_dir, bool fsync,
                                                uint64_t wal_segment_bytes);

}  // namespace conclave::server
