#include "storage/segment_roll.h"

#include "common/bytes.h"
#include "storage/log_replay.h"
#include "storage/wal.h"

namespace conclave::storage {

raft::Index SegmentRoll::open(std::vector<raft::Index> on_disk, raft::Index next) {
  names_ = std::move(on_disk);
  size_ = 0;
  if (!names_.empty() && next <= names_.back()) return names_.back();
  names_.push_back(next);
  return next;
}

raft::Index SegmentRoll::roll_before(std::string_view batch, const raft::HardState& before, std::string* head) {
  if (size_ < limit_ || batch.size() < record::kHeaderBytes + 17) return 0;
  Reader r(batch.substr(record::kHeaderBytes));
  if (r.u8() != record::kEntry) return 0;
  r.u64();  // term
  raft::Index first = r.u64();
  if (!r.ok() || first == 0 || (!names_.empty() && first <= names_.back())) return 0;
  names_.push_back(first);
  size_ = 0;
  head->clear();
  encode_hard_state_record(before, *head);
  return first;
}

std::vector<raft::Index> SegmentRoll::retire(raft::Index index) {
  std::vector<raft::Index> doomed;
  size_t n = 0;
  while (n + 1 < names_.size() && names_[n + 1] <= index + 1) doomed.push_back(names_[n++]);
  names_.erase(names_.begin(), names_.begin() + static_cast<std::ptrdiff_t>(n));
  return doomed;
}

}  // namespace conclave::storage
