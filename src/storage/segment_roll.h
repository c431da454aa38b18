// The WAL's segment rules with no files involved, so storage::Wal and the driver simulation's
// log (tests/sim/driver_sim.cc) open, roll over and retire segments by the same code.
//
// A segment is named after the first index it may hold, and recovery reads segments in name
// order (storage::Wal::open), so names must increase in the order segments are written:
//   - open: the log goes on in a new segment named after the index it continues from, unless
//     that name is not above the newest segment's (after an installed snapshot voided a tail that
//     reached into it); then it goes on in the newest segment;
//   - roll-over: a write starts a new segment once the current one holds segment_bytes or more,
//     the write begins with an entry record, and that entry's index is above the newest
//     segment's name (a rewrite below it stays in the current segment). The new segment opens
//     with a record of the hard state in effect before the write, so retiring older segments
//     never loses the term and vote: a node that forgets its vote can vote twice in one term;
//   - retire: the oldest segments go while the next one is named at or below index + 1 (all
//     their live entries are covered by the snapshot at `index`); the newest always stays.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "raft/entry.h"

namespace conclave::storage {

class SegmentRoll {
 public:
  explicit SegmentRoll(uint64_t segment_bytes) : limit_(segment_bytes) {}

  /// At open: the segments on disk (names ascending) and the index the log continues from.
  /// Returns the segment to write in next: the newest on disk, or `next`, a new one.
  raft::Index open(std::vector<raft::Index> on_disk, raft::Index next);
  /// The segment being written holds `bytes` (its size on disk when opened for appending).
  void set_size(uint64_t bytes) { size_ = bytes; }
  /// Before writing `batch`, which follows hard state `before`: 0 to append it to the current
  /// segment, or the name of the new segment it starts, with `head` set to the records that
  /// open that segment (to be written first).
  raft::Index roll_before(std::string_view batch, const raft::HardState& before, std::string* head);
  void wrote(uint64_t bytes) { size_ += bytes; }
  /// Forgets, and returns the names of, the oldest segments retire_through(index) removes.
  std::vector<raft::Index> retire(raft::Index index);

  const std::vector<raft::Index>& segments() const { return names_; }

 private:
  uint64_t limit_;
  uint64_t size_ = 0;
  std::vector<raft::Index> names_;  // ascending; the last is being written
};

}  // namespace conclave::storage
