// Write-ahead log: segment files of CRC32C-framed records, group commit, recovery.
//
// Owns every byte under <data-dir>/wal. Record framing: u32 payload length, u32 crc32c(payload),
// payload. A payload is an Entry or a HardState (see wal.cc). Segments are named after the
// first index they may hold (%020llu.wal) and roll over at Options::segment_bytes, by the rules
// of storage/segment_roll.h (names increase in write order; each new segment opens with the hard
// state, so retiring old segments never loses the term and vote).
//
// Group commit: submit() only queues and returns a ticket; one writer thread writes everything
// queued with a single write() and a single fdatasync(), then reports the highest durable ticket
// through the ticket callback. Nothing is acknowledged to a client before its ticket is durable.
// A batch submitted with sync=false (only the commit index moved, which Raft can recover) is
// written without an fdatasync of its own: its ticket completes once written, and the next synced
// batch makes it durable too (etcd's MustSync).
//
// Recovery: a record cut short at the end of the last segment (a torn write) is truncated with a
// log line. Any other damage — a bad checksum or length before the tail, an unreadable file —
// fails open() with an error naming the file and the offset. Nothing is ever skipped silently.
//
// Entries may be appended again at an index that already exists (Raft log truncation after a
// conflict); on recovery the later record wins and everything after it is discarded.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"
#include "raft/entry.h"
#include "storage/log_replay.h"
#include "storage/log_store.h"
#include "storage/segment_roll.h"

namespace conclave::storage {

struct WalOptions {
  std::string dir;
  uint64_t segment_bytes = 64ull << 20;
  bool fsync = true;  // off only in benchmarks that measure the engine without the disk
};

class Wal final : public LogStore {
 public:
  /// Opens (creating if needed) the log in options.dir and reads back everything in it.
  /// Entries at or below `after_index` (covered by a snapshot) are not returned.
  static Result<std::unique_ptr<Wal>> open(const WalOptions& options, raft::Index after_index,
                                           RecoveredLog* recovered);
  ~Wal();
  Wal(const Wal&) = delete;
  Wal& operator=(const Wal&) = delete;

  /// Queues one batch for the next group commit: a hard state, entries, and/or "discard
  /// everything from index `truncate_from`" (written before the entries; used after installing a
  /// snapshot). Thread-safe. Returns a ticket, increasing by one per call.
  uint64_t submit(const std::optional<raft::HardState>& hs, const std::vector<raft::Entry>& entries,
                  raft::Index truncate_from = 0, bool sync = true) override;
  /// Called on the writer thread after each group commit with the highest durable ticket (every
  /// lower ticket is durable too). Set before the first submit.
  void set_ticket_callback(TicketCallback cb) override { ticket_cb_ = std::move(cb); }

  /// Deletes whole segments whose entries are all <= index (they are covered by a snapshot).
  void retire_through(raft::Index index) override;

  /// Stops the writer thread after draining what is queued.
  void close() override;
  Stats stats() const override;

 private:
  explicit Wal(WalOptions options);
  void writer_loop();
  /// Makes the segment named `first_index` the one written (creating it, or appending to it).
  Status open_segment(raft::Index first_index);
  Status write_batch(const std::string& buf, raft::Index last_index, bool sync = true);

  WalOptions options_;
  TicketCallback ticket_cb_;
  uint64_t next_ticket_ = 0;      // guarded by mu_
  uint64_t pending_ticket_ = 0;   // guarded by mu_

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string pending_;               // encoded records waiting for the writer
  raft::Index pending_last_index_ = 0;
  bool pending_has_data_ = false;
  bool pending_needs_sync_ = false;   // some queued batch needs its fdatasync
  raft::HardState queued_hs_;         // the latest hard state submitted
  raft::HardState pending_before_hs_; // the hard state in effect before what is pending
  bool closing_ = false;
  Stats stats_;

  // Writer-thread state.
  int fd_ = -1;
  SegmentRoll roll_;  // guarded by mu_ (the loop thread retires, the writer rolls over)
  std::thread writer_;
};

/// Encodes one record (length, crc, payload) and appends it to `out`. Exposed for tests/fuzzers.
void encode_entry_record(const raft::Entry& e, std::string& out);
void encode_hard_state_record(const raft::HardState& hs, std::string& out);
void encode_truncate_record(raft::Index from, std::string& out);

}  // namespace conclave::storage
