// The Raft driver: carries out what raft::Core asks for, in the order Raft requires.
//
//   Ready -> hard state + new entries go to the WAL as one group-commit batch (a ticket); the
//   Ready's messages are held until that ticket is durable ("persist before send") -> committed
//   entries are handed to `apply` in index order, exactly once each -> snapshots of the tree are
//   taken every N entries (written by a forked child from its copy-on-write image, so applies go
//   straight on: see snapshot_child.h; if fork fails, encoded on the snapshot thread while
//   applies wait) and installed when the leader sends one.
//
// Owns the Core, the WAL and the snapshot store. Knows nothing of commands or front-ends: it sees
// log entries and the tree only as bytes to snapshot. Runs on the event-loop thread; the WAL
// writer and the snapshot thread report back through loop posts.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"
#include "net/event_loop.h"
#include "raft/core.h"
#include "server/snapshot_child.h"
#include "state/tree.h"
#include "storage/snapshot_store.h"
#include "storage/wal.h"

namespace conclave::server {

struct RaftDriverOptions {
  std::string data_dir;
  uint64_t node_id = 1;
  raft::ConfState bootstrap_conf;  // used when the data directory is empty
  int election_ticks = 6;
  bool fsync = true;
  uint64_t snapshot_every_entries = 100000;
  /// Snapshots from a forked child (no apply waits); false encodes them in-process while applies
  /// wait, as when fork is not possible.
  bool fork_snapshots = true;
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
  };

  RaftDriver(net::EventLoop& loop, RaftDriverOptions options, state::DataTree& tree, Hooks hooks, uint64_t seed);
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
  storage::Wal& wal() { return *wal_; }
  raft::Index applied_index() const { return applied_index_; }
  /// Blocks until the snapshot thread has stopped reading the tree (shutdown, tests).
  void wait_for_encoding();

 private:
  struct Held {
    uint64_t ticket;
    raft::Index last_index;
    std::vector<raft::Message> messages;
  };
  void apply_or_defer(const raft::Entry& e);
  void apply(const raft::Entry& e);
  void start_encoding(std::string buffer);
  /// Writes the snapshot at `meta` from a forked child; false when fork failed.
  bool start_child_snapshot(const raft::SnapshotMeta& meta);
  /// The snapshot at `meta` is on disk (or failed): prune old files, retire WAL segments.
  void snapshot_written(const Status& st, const raft::SnapshotMeta& meta, int64_t encode_ms, size_t size,
                        const char* how);
  void finish_encoding();
  void install_snapshot(const raft::Snapshot& s);
  void on_ticket_durable(uint64_t ticket);
  void send_messages(std::vector<raft::Message>& messages);
  void maybe_snapshot();
  void update_role();

  net::EventLoop& loop_;
  RaftDriverOptions options_;
  state::DataTree& tree_;
  Hooks hooks_;
  uint64_t seed_;
  std::unique_ptr<raft::Core> core_;
  std::unique_ptr<storage::Wal> wal_;
  std::unique_ptr<storage::SnapshotStore> snapshots_;

  std::deque<Held> held_;
  raft::HardState submitted_hs_;  // the last hard state handed to the WAL
  uint64_t term_ticket_ = 0;      // the WAL batch carrying the latest term or vote change  // messages waiting for their WAL batch to be durable
  uint64_t durable_ticket_ = 0;
  raft::Index submitted_last_index_ = 0;
  raft::Index applied_index_ = 0;
  raft::Index snapshot_index_ = 0;
  bool drive_scheduled_ = false;
  raft::Role last_role_ = raft::Role::kFollower;

  bool snapshot_running_ = false;
  std::thread snapshot_thread_;
  std::shared_ptr<SnapshotChild> snapshot_child_;  // while a child writes a snapshot
  // While the snapshot thread encodes the tree, the loop thread keeps serving reads, Raft and the
  // WAL but applies nothing: committed entries wait in apply_backlog_.
  bool encoding_ = false;
  std::deque<raft::Entry> apply_backlog_;
  std::mutex encode_mu_;
  std::condition_variable encode_cv_;
  bool encode_done_ = false;        // guarded by encode_mu_
  uint64_t encode_generation_ = 0;  // numbers encodings, so a late "done" cannot end a newer one
  size_t last_snapshot_bytes_ = 0;
};

}  // namespace conclave::server
