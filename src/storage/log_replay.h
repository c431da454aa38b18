// Rebuilds a Raft log from WAL records (storage/wal.h's framing), with no files involved, so the
// real WAL's recovery and the driver simulation's in-memory log read back through the same code.
//
// Records are fed in the order they were written, one segment's bytes at a time. An entry record
// at an index that already exists is a rewrite (Raft conflict resolution): it and everything
// after it replace the old suffix. A truncate record voids everything from its index on (a
// snapshot was installed). The latest hard state record wins.
//
// Damage: a record cut short, a zero-filled tail or a bad checksum on the very last record of the
// last segment is a torn write, reported through `torn` so the caller can cut it off. Anything
// else — a bad length or checksum before the end, a gap in the indexes, an unknown record kind —
// is corruption, returned as an error naming the segment and offset.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "raft/entry.h"

namespace conclave::storage {

/// Record framing: u32 payload length, u32 crc32c(payload), payload; the payload's first byte
/// is its kind.
namespace record {
constexpr uint8_t kEntry = 1;      // u64 term, u64 index, u8 type, data
constexpr uint8_t kHardState = 2;  // u64 term, u64 vote, u64 commit
constexpr uint8_t kTruncate = 3;   // u64 from: entries at and after it are void
constexpr uint32_t kMaxBytes = 256u << 20;
constexpr size_t kHeaderBytes = 8;
}  // namespace record

struct RecoveredLog {
  raft::HardState hard_state;
  std::vector<raft::Entry> entries;  // consecutive indexes, after `first_index - 1`
  uint64_t truncated_bytes = 0;      // torn tail removed during recovery
};

class RecordReplay {
 public:
  /// Entries at or below `after_index` (covered by a snapshot) are read but not kept.
  explicit RecordReplay(raft::Index after_index) : after_index_(after_index) {}

  struct Torn {
    size_t offset = 0;  // where the valid records of the segment end
    std::string why;
  };
  /// Reads one segment's bytes. `name` appears in errors. On a torn tail of the last segment,
  /// fills `torn` (and adds the cut-off bytes to truncated_bytes); a torn tail elsewhere is
  /// corruption.
  Status feed(std::string_view data, bool last_segment, const std::string& name, Torn* torn);

  /// The index of the last entry record read (0: none since the snapshot).
  raft::Index last_index() const { return log_last_; }
  /// The index the log continues from: after its last entry, or after the snapshot.
  raft::Index next_index() const {
    return (out_.entries.empty() ? std::max(log_last_, after_index_) : out_.entries.back().index) + 1;
  }
  RecoveredLog& log() { return out_; }

 private:
  raft::Index after_index_;
  raft::Index log_last_ = 0;
  RecoveredLog out_;
};

}  // namespace conclave::storage
