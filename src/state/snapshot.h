// Snapshots of a DataTree, taken incrementally while the tree keeps changing.
//
// A SnapshotWriter freezes the tree as it is when it is created: it encodes the header, the ACL
// table and every part of the state that is not a znode (sessions, Consul metadata, catalog) at
// once, then the znodes a slice at a time (step()), in id order. Between slices the tree goes on
// applying commands; before a znode that is not encoded yet changes or goes away, NodeStore tells
// the writer, which encodes it first, as it was (copy-on-write at znode granularity). Znodes
// created after the freeze are not part of the snapshot. So the snapshot is exactly the state at
// the freeze, and no command waits for more than one slice.
//
// Format 7 (u32 version first, big-endian throughout):
//   i64 last_zxid; u32 ACL-list count and the ACL lists (position = reference);
//   u64 znode count, then the znodes in any order: u32 id, u32 parent id (UINT32_MAX for the
//   root), name, data-null flag, data, czxid, mzxid, pzxid, ctime, mtime, owner, version,
//   cversion, aversion, ACL ref; then the non-znode state as encoded at the freeze.
// Formats 4-6 listed the znodes parent-first with the parent's ordinal instead of ids; they are
// still read. Full paths are rebuilt from parent and name; child lists, ephemeral sets and the
// container/TTL indexes are derived.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "state/node_store.h"

namespace conclave::state {

class DataTree;

class SnapshotWriter final : public NodeObserver {
 public:
  /// Freezes `tree`; while the writer lives it observes the tree's znodes. The tree must not be
  /// replaced (assigned to) before the writer is destroyed.
  explicit SnapshotWriter(DataTree& tree);
  /// Encodes all of `tree` at once, observing nothing (the tree cannot change meanwhile).
  static std::vector<std::string> encode_all(const DataTree& tree);
  ~SnapshotWriter() override;
  SnapshotWriter(const SnapshotWriter&) = delete;
  SnapshotWriter& operator=(const SnapshotWriter&) = delete;

  /// Where empty parts come from (each with capacity kPartBytes). Without a source, parts are fresh
  /// allocations that grow from 64 KiB to kPartBytes, so a small tree's encoding stays small.
  /// Encoding into fresh memory is mostly page faults: a source that hands out parts already
  /// touched by another thread keeps that cost off the caller of step().
  void set_part_source(std::function<std::string()> source) { part_source_ = std::move(source); }

  /// Encodes up to `max_nodes` more znodes; true once the snapshot is complete.
  bool step(size_t max_nodes);
  bool done() const { return cursor_ >= end_ && finished_; }
  /// The encoding, in parts of at most kPartBytes (complete once done()).
  std::vector<std::string> take_parts() { return std::move(parts_); }
  size_t size() const { return size_; }
  /// Znodes encoded ahead of their turn because they were about to change.
  uint64_t copied_on_write() const { return copied_; }

  void before_change(NodeId id) override;
  void created(NodeId id) override;

  static constexpr size_t kPartBytes = size_t(4) << 20;
  static constexpr size_t kSmallPartBytes = size_t(256) << 10;  // when the part source has none ready

 private:
  SnapshotWriter(const DataTree& tree, NodeStore* observe);
  // Everything after the znodes: sessions, Consul metadata, lock delays, the catalog, mirrors.
  static void encode_rest(const DataTree& t, Writer& w);
  void encode_node(NodeId id);
  void append(const char* p, size_t n);
  void finish();

  const DataTree& tree_;
  NodeStore* observed_;
  NodeId end_;        // ids at and above this did not exist at the freeze
  NodeId cursor_ = 0;  // step() has passed every id below this
  std::vector<bool> done_;  // encoded already, or not part of the snapshot
  uint64_t expected_;
  uint64_t written_ = 0;
  uint64_t copied_ = 0;
  std::string rest_;  // the non-znode state, encoded at the freeze, appended last
  std::vector<std::string> parts_;
  std::function<std::string()> part_source_;
  size_t size_ = 0;
  bool finished_ = false;
};

}  // namespace conclave::state
