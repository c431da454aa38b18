// What the Raft driver needs of the storage under its log (server/raft_driver.h).
//
// storage::Wal is the real one: segment files, a writer thread, group commit, fdatasync. The
// driver simulation (tests/sim/driver_sim.cc) runs the same driver over an in-memory one whose
// batches become durable when the simulation says so, and which loses what was not synced at a
// simulated power cut.
//
// Contract (both):
//   - submit() queues one batch and returns its ticket, increasing by one per call;
//   - the ticket callback reports the highest ticket written; every lower one is written too. A
//     batch with sync=true (entries, a truncation, or a term/vote change) is durable when its
//     ticket is reported; a sync=false batch (only the commit index moved) is durable once a
//     later synced batch is reported;
//   - what recovery returns is exactly what was durable, read back through RecordReplay
//     (storage/log_replay.h).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "raft/entry.h"

namespace conclave::storage {

class LogStore {
 public:
  virtual ~LogStore() = default;

  /// Queues one batch: "discard everything from index `truncate_from`" (0: nothing; used after
  /// installing a snapshot), then a hard state, then entries. Returns the batch's ticket.
  virtual uint64_t submit(const std::optional<raft::HardState>& hs, const std::vector<raft::Entry>& entries,
                          raft::Index truncate_from = 0, bool sync = true) = 0;
  using TicketCallback = std::function<void(uint64_t written_ticket)>;
  /// Set before the first submit. May be called on another thread (the real WAL's writer).
  virtual void set_ticket_callback(TicketCallback cb) = 0;
  /// Entries at or below `index` are covered by a snapshot and may be forgotten.
  virtual void retire_through(raft::Index index) = 0;
  /// Finishes what is queued and stops.
  virtual void close() = 0;

  struct Stats {
    uint64_t fsyncs = 0;
    uint64_t records = 0;
    uint64_t bytes = 0;
    uint64_t fsync_ns_total = 0;
  };
  virtual Stats stats() const = 0;
};

}  // namespace conclave::storage
