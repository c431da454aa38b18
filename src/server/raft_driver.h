// The Raft driver: carries out what raft::Core asks for, in the order Raft requires.
//
//   Ready -> hard state + new entries go to the WAL as one group-commit batch (a ticket); the
//   Ready's messages are held until that ticket is durable ("persist before send") -> committed
//   entries are handed to `apply` in index order, exactly once each -> snapshots of the tree are
//   taken every N entries (encoded a slice at a time on the loop thread by a copy-on-write
//   SnapshotWriter while applies go on, then written and synced on the snapshot thread) and
//   installed when the leader sends one.
//
// Owns the Core, the log store and the snapshot storage. Knows nothing of commands or front-ends:
// it sees log entries and the tree only as bytes to snapshot. Runs on its environment's loop
// (server/driver_env.h: the node's event loop, or the driver simulation's event queue); the WAL
// writer and the snapshot work report back through posts.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/histogram.h"
#include "common/result.h"
#include "raft/core.h"
#include "server/driver_env.h"
#include "server/snapshot_parts.h"
#include "state/snapshot.h"
#include "state/tree.h"

namespace conclave::server {

struct RaftDriverOptions {
  uint64_t node_id = 1;
  raft::ConfState bootstrap_conf;  // used when the data directory is empty
  int election_ticks = 6;
  uint64_t snapshot_every_entries = 100000;
  /// Also snapshot once the commands applied since the last snapshot hold this many bytes, or as
  /// many as the last snapshot if that is more: it bounds the WAL on disk and the replay at start
  /// when values are large, at most one snapshot's worth of writing per snapshot.
  uint64_t snapshot_every_bytes = 64ull << 20;
  /// Znodes encoded per turn of the loop while a snapshot is taken (about 1 ms of work); 0
  /// encodes each snapshot in one go, stopping everything meanwhile (for comparison).
  size_t snapshot_slice_nodes = 2048;
};

class RaftDriver {
 public:
  struct Hooks {
    /// A committed entry, in index order, never twice.
    std::function<void(const raft::Entry&)> apply;
    /// The tree was replaced by a snapshot (from disk at start-up or from the leader).
    std::function<void()> tree_replaced;
    /// Leadership or role changed (after the Ready that changed it was handled).
    std::function<void(raft::Role old_role, raft::Role new_role)> role_changed;
    /// Sends a Raft message to a peer (absent on a lone node).
    std::function<void(const raft::Message&)> send;
    /// A ReadIndex request (Core::read_index) was confirmed by a quorum.
    std::function<void(const raft::ReadState&)> read_state;
    /// Entries [first, last] became durable in WAL batch `ticket`, submitted at `submitted_us`
    /// (wall_us below): the "wal fsync" spans of traced proposals. Optional.
    std::function<void(uint64_t ticket, raft::Index first, raft::Index last, int64_t submitted_us)> entries_durable;
    std::function<int64_t()> wall_us;
    /// A whole tree is about to be decoded (true) or is done (false): a snapshot from the leader.
    /// The node faults such bulk loads in huge pages (server/node.cc). Optional.
    std::function<void(bool)> bulk_load;
    /// A monotonic clock for the WAL write histogram (wall time can step). Optional.
    std::function<int64_t()> monotonic_us;
  };

  /// `env` must outlive the driver.
  RaftDriver(DriverEnv& env, RaftDriverOptions options, state::DataTree& tree, Hooks hooks, uint64_t seed);
  ~RaftDriver();

  /// Loads the newest snapshot into the tree and replays the WAL into the Core.
  Status recover();
  /// Handles every pending Ready now.
  void drive();
  /// Runs drive() once at the end of this event-loop turn, so that every proposal and message
  /// handled in the turn shares one Ready: one WAL batch, one append per follower.
  void schedule_drive();
  void tick();
  void step(const raft::Message& m);

  raft::Core& core() { return *core_; }
  const raft::Core& core() const { return *core_; }
  storage::LogStore& wal() { return *wal_; }
  raft::Index applied_index() const { return applied_index_; }

  /// What /metrics reports of the driver (loop thread only).
  struct Stats {
    LatencyHistogram wal_write;  // a batch with entries: submitted to the WAL until durable
    uint64_t elections = 0;      // times this node became a candidate
    uint64_t became_leader = 0;
    uint64_t snapshots_written = 0;
    uint64_t snapshots_failed = 0;
    uint64_t snapshots_installed = 0;  // received from the leader
    uint64_t last_snapshot_bytes = 0;
    int64_t last_snapshot_encode_ms = 0;
    int64_t last_snapshot_longest_slice_us = 0;
  };
  const Stats& stats() const { return stats_; }

 private:
  struct Held {
    uint64_t ticket;
    raft::Index last_index;
    std::vector<raft::Message> messages;
    raft::Index first_new = 0;  // the batch's entries (0: none)
    raft::Index last_new = 0;
    int64_t submitted_us = 0;       // wall clock, for spans
    int64_t submitted_mono_us = 0;  // monotonic, for the WAL write histogram
  };
  void apply(const raft::Entry& e);
  /// Encodes the next slice of the snapshot in progress; when it is complete, hands the bytes
  /// to the snapshot thread. `generation` tells a slice of an abandoned snapshot to stop.
  void snapshot_slice(uint64_t generation);
  /// Freezes the tree and encodes the first slice, once the parts are ready.
  void begin_snapshot(uint64_t generation);
  /// The snapshot at `meta` is on disk (or failed): prune old files, retire WAL segments.
  void snapshot_written(const Status& st, const raft::SnapshotMeta& meta, int64_t encode_ms, uint64_t copied,
                        int64_t longest_slice_us, size_t size);
  /// Abandons a snapshot in progress (its tree is about to be replaced).
  void cancel_snapshot();
  void install_snapshot(const raft::Snapshot& s);
  void on_ticket_durable(uint64_t ticket);
  void send_messages(std::vector<raft::Message>& messages);
  void maybe_snapshot();
  void update_role();

  DriverEnv& env_;
  RaftDriverOptions options_;
  state::DataTree& tree_;
  Hooks hooks_;
  uint64_t seed_;
  std::unique_ptr<raft::Core> core_;
  std::unique_ptr<storage::LogStore> wal_;
  std::unique_ptr<storage::SnapshotStorage> snapshots_;

  std::deque<Held> held_;
  raft::HardState submitted_hs_;  // the last hard state handed to the WAL
  uint64_t term_ticket_ = 0;      // the WAL batch carrying the latest term or vote change
  uint64_t durable_ticket_ = 0;
  raft::Index submitted_last_index_ = 0;
  raft::Index applied_index_ = 0;
  raft::Index snapshot_index_ = 0;
  bool drive_scheduled_ = false;
  raft::Role last_role_ = raft::Role::kFollower;

  bool snapshot_running_ = false;  // from maybe_snapshot() until the file is written
  bool snapshot_starting_ = false; // from maybe_snapshot() until begin_snapshot()
  std::unique_ptr<state::SnapshotWriter> writer_;  // while encoding
  std::unique_ptr<SnapshotPartPool> parts_;        // from maybe_snapshot() until encoded
  size_t last_snapshot_bytes_ = 0;
  const char* snapshot_reason_ = "";   // why the snapshot under way was started, for its log line
  uint64_t bytes_since_snapshot_ = 0;  // command bytes applied since the last snapshot began
  Stats stats_;
  raft::SnapshotMeta snapshot_meta_;
  std::chrono::steady_clock::time_point snapshot_started_;
  std::chrono::steady_clock::duration longest_slice_{};
  uint64_t snapshot_generation_ = 0;
};

}  // namespace conclave::server
