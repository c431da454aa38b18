// Snapshot files: <data-dir>/snap/%020llu.snap, one per snapshot index.
// Layout: magic "CNCLSNP1", u64 index, u64 term, u64 payload length, payload, u32 crc32c of all
// preceding bytes. Written atomically (temp + fsync + rename). The payload is opaque here: it is
// produced and read by state/ (the state machine's own encoding).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "raft/entry.h"

namespace conclave::storage {

struct SnapshotFile {
  raft::Index index = 0;
  raft::Term term = 0;
  std::string payload;
};

/// What the Raft driver needs of its snapshots' storage. SnapshotStore below is the real one;
/// the driver simulation keeps them in memory. A written snapshot is whole or absent, never
/// partly there, and survives a crash once write() returned.
class SnapshotStorage {
 public:
  virtual ~SnapshotStorage() = default;
  /// Writes a snapshot (atomically, synced) and then removes all but the newest `keep`.
  virtual Status save(raft::Index index, raft::Term term, std::string_view payload, int keep = 2) = 0;
  /// save() in two steps: write (the payload in parts, written in order, never joined in memory),
  /// then prune. write() touches nothing but the new snapshot, so another thread can run it.
  virtual Status write(raft::Index index, raft::Term term, const std::vector<std::string>& payload) = 0;
  virtual void prune(int keep = 2) = 0;
  /// Newest snapshot that passes its checksum.
  virtual Result<std::optional<SnapshotFile>> load_latest() = 0;
};

class SnapshotStore final : public SnapshotStorage {
 public:
  SnapshotStore(std::string dir, bool fsync) : dir_(std::move(dir)), fsync_(fsync) {}
  Status init();
  /// Writes a snapshot and then removes all but the newest `keep` snapshots.
  Status save(const SnapshotFile& snap, int keep = 2);
  Status save(raft::Index index, raft::Term term, std::string_view payload, int keep = 2) override;
  Status write(raft::Index index, raft::Term term, std::string_view payload);
  Status write(raft::Index index, raft::Term term, const std::vector<std::string>& payload) override;
  void prune(int keep = 2) override;
  /// Size of the snapshot file at `index`, 0 if there is none.
  size_t size_of(raft::Index index) const;
  /// A damaged newer snapshot is reported in the log and skipped in favour of an older valid one
  /// (the WAL still holds the entries after it only if segments were not retired, so recovery
  /// then checks for a gap and fails loudly).
  Result<std::optional<SnapshotFile>> load_latest() override;

  static std::string encode(const SnapshotFile& snap);
  /// Checks and unwraps a whole file; the payload reuses `bytes`' buffer.
  static Result<SnapshotFile> decode(std::string bytes, const std::string& name);

 private:
  std::string dir_;
  bool fsync_;
};

}  // namespace conclave::storage
