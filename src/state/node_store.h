// Compact storage for znodes: a slab of fixed-size records plus an open-addressing path index.
//
// A znode costs one 56-byte record in a chunk (no per-node malloc), one block in the store's
// ByteArena holding a short header, its full path and its data, one slot in the path index and one
// id in its parent's child list (parents and ephemeral nodes also carry a small extra block:
// Node::Extra). Records never move once allocated, so `Node*` stays valid while other nodes are
// created or removed; ids of removed nodes are reused.
//
// Owned by DataTree; knows nothing of ZooKeeper semantics beyond "a node has a path, data, a
// parent and children".
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

#include "state/byte_arena.h"

namespace conclave::state {

using NodeId = uint32_t;
inline constexpr NodeId kNoNodeId = UINT32_MAX;

/// The fields of a znode that are plain values (what a Stat is derived from, plus the ACL ref), as
/// one value: what is read from a snapshot, kept for an undo, or given to a new node.
struct NodeMeta {
  int64_t czxid = 0;
  int64_t mzxid = 0;
  int64_t pzxid = 0;
  int64_t ctime = 0;
  int64_t mtime = 0;
  int64_t ephemeral_owner = 0;
  int32_t version = 0;
  int32_t cversion = 0;  // children ever created; clients see 2 * cversion - numChildren (ZooKeeper's DataNode.copyStat)
  int32_t aversion = 0;
  uint32_t acl = 0;
};

/// A znode's record: 56 bytes. The fields every znode uses are members; the ones most znodes
/// leave at their defaults (pzxid = czxid, cversion 0, aversion 0, no ephemeral owner) and the
/// child list live in an `Extra` block that only parents, ephemeral/container/TTL nodes and
/// nodes whose ACL changed carry; its address sits in the node's byte block, after the header,
/// so leaves, which most znodes are, pay for none of it. Fields that may need the extra block are
/// changed through NodeStore (set_meta, set_pzxid, ...), which moves the byte block to make room.
class Node {
 public:
  Node() = default;
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  int64_t czxid = 0;
  int64_t mzxid = 0;
  int64_t ctime = 0;
  int64_t mtime = 0;
  int32_t version = 0;
  uint32_t acl = 0;

  int64_t pzxid() const {
    const Extra* e = ext();
    return e ? e->pzxid : czxid;
  }
  int32_t cversion() const {
    const Extra* e = ext();
    return e ? e->cversion : 0;
  }
  int32_t aversion() const {
    const Extra* e = ext();
    return e ? e->aversion : 0;
  }
  int64_t ephemeral_owner() const {
    const Extra* e = ext();
    return e ? e->ephemeral_owner : 0;
  }
  NodeMeta meta() const;

  /// Views into the node's byte block: valid until the node's data or rare fields change (the
  /// block may move then) or the node goes away.
  std::string_view path() const {
    const Lengths l = lengths();
    return {bytes_ + l.header, l.path};
  }
  std::string_view data() const {
    const Lengths l = lengths();
    return {bytes_ + l.header + l.path, l.data};
  }
  /// The last path segment ("" for the root).
  std::string_view name() const {
    std::string_view p = path();
    return p.substr(p.rfind('/') + 1);
  }
  bool data_null() const { return bytes_ && (bytes_[0] & kDataNull); }
  size_t child_count() const {
    const Extra* e = ext();
    return e ? e->kids.size() : 0;
  }
  bool has_children() const { return child_count() != 0; }
  NodeId parent() const { return parent_; }
  /// Child ids, in no particular order (as ZooKeeper's HashSet of children).
  const NodeId* kids_begin() const {
    const Extra* e = ext();
    return e ? e->kids.data() : nullptr;
  }
  const NodeId* kids_end() const {
    const Extra* e = ext();
    return e ? e->kids.data() + e->kids.size() : nullptr;
  }

 private:
  friend class NodeStore;
  struct Extra {
    std::vector<NodeId> kids;
    int64_t pzxid = 0;
    int64_t ephemeral_owner = 0;
    int32_t cversion = 0;
    int32_t aversion = 0;
  };

  // The block in the store's arena: a header, the extra block's address if the node has one, the
  // path, the data. The header's first byte holds flags; the short form (path < 256 bytes, data
  // < 64 KiB) follows it with a one-byte path length and a two-byte little-endian data length
  // (4 bytes in all), the wide form with two four-byte lengths (9 bytes). The extra block's address
  // sits at the next 8-byte boundary (blocks are 8-aligned), so that it is an ordinary aligned
  // pointer to leak checkers and heap profilers, which only scan aligned words.
  static constexpr char kDataNull = 1;
  static constexpr char kWide = 2;
  static constexpr char kHasExtra = 4;
  struct Lengths {
    uint32_t header;  // including the extra block's address
    uint32_t path;
    uint32_t data;
  };
  Lengths lengths() const {
    if (!bytes_) return {0, 0, 0};
    const auto* b = reinterpret_cast<const unsigned char*>(bytes_);
    const bool wide = b[0] & kWide;
    const uint32_t header = (b[0] & kHasExtra) ? extra_offset(wide) + sizeof(Extra*) : (wide ? 9 : 4);
    if (!wide) return {header, b[1], uint32_t(b[2]) | uint32_t(b[3]) << 8};
    Lengths l{header, 0, 0};
    std::memcpy(&l.path, b + 1, 4);
    std::memcpy(&l.data, b + 5, 4);
    return l;
  }
  size_t block_size() const {
    const Lengths l = lengths();
    return size_t(l.header) + l.path + l.data;
  }
  Extra* ext() const {
    if (!bytes_ || !(bytes_[0] & kHasExtra)) return nullptr;
    Extra* e;
    std::memcpy(&e, bytes_ + extra_offset(bytes_[0] & kWide), sizeof e);
    return e;
  }
  static constexpr uint32_t extra_offset(bool wide) { return wide ? 16 : 8; }

  char* bytes_ = nullptr;  // the block; null for a free record
  NodeId parent_ = kNoNodeId;
  uint32_t slot_in_parent_ = 0;  // position in the parent's child list, for O(1) unlinking
};

/// Told before a znode's stored fields change (data, metadata, or the node going away) and when a
/// node is created, so that an incremental snapshot can encode a znode as it was before it
/// changes (state/snapshot.h).
class NodeObserver {
 public:
  virtual ~NodeObserver() = default;
  virtual void before_change(NodeId id) = 0;
  virtual void created(NodeId id) = 0;
};

/// Node records in fixed chunks, with a free list.
class NodeStore {
 public:
  NodeStore() = default;
  NodeStore(const NodeStore&) = delete;
  NodeStore& operator=(const NodeStore&) = delete;
  /// The moved-from store is left empty.
  NodeStore(NodeStore&& other) noexcept { *this = std::move(other); }
  NodeStore& operator=(NodeStore&& other) noexcept;
  ~NodeStore() { free_extras(); }

  /// A new node with `path`, `data` and `meta`, linked under `parent` (kNoNodeId for the root).
  NodeId create(std::string_view path, std::string_view data, bool data_null, NodeId parent,
                const NodeMeta& meta = {});
  /// Unlinks `id` from its parent and frees it. The node must have no children.
  void destroy(NodeId id);
  void set_data(NodeId id, std::string_view data, bool data_null);
  /// Every stored field but the path and data. Like the three setters below, it may move the
  /// node's byte block (to give it an extra block), so views of its path and data go stale.
  void set_meta(NodeId id, const NodeMeta& m);
  void set_pzxid(NodeId id, int64_t v);
  void set_cversion(NodeId id, int32_t v);
  void set_aversion(NodeId id, int32_t v);

  /// A node for changing: the observer, if any, hears of it first.
  Node& at(NodeId id) {
    if (observer_) [[unlikely]]
      observer_->before_change(id);
    return slot(id);
  }
  const Node& at(NodeId id) const { return chunks_[id >> kChunkBits][id & kChunkMask]; }
  /// At most one observer at a time; nullptr removes it.
  void set_observer(NodeObserver* o) { observer_ = o; }
  size_t live() const { return live_; }
  /// One past the highest id ever handed out; ids below it may be free (check `in_use`).
  NodeId capacity() const { return next_; }
  bool in_use(NodeId id) const { return id < next_ && at(id).bytes_ != nullptr; }
  void clear();

 private:
  static_assert(sizeof(Node) == 56, "the record layout is part of the memory budget per znode");
  static constexpr unsigned kChunkBits = 10;
  static constexpr uint32_t kChunkMask = (1u << kChunkBits) - 1;
  // Writes a new block for `n` (the old one, if any, is the caller's to release).
  void fill(Node& n, std::string_view path, std::string_view data, bool data_null, Node::Extra* extra);
  // `n`'s extra block, made on first need with the defaults a leaf reports (the byte block moves).
  Node::Extra& extra(Node& n);
  void free_extras();
  // Unobserved access, for changes to what no snapshot records (child lists, slots).
  Node& slot(NodeId id) { return chunks_[id >> kChunkBits][id & kChunkMask]; }

  NodeObserver* observer_ = nullptr;
  ByteArena bytes_;
  std::vector<std::unique_ptr<Node[]>> chunks_;
  std::vector<NodeId> free_;
  NodeId next_ = 0;
  size_t live_ = 0;
};

/// Path → node id: open addressing with linear probing over (hash, id) slots; deletion shifts
/// entries back, so there are no tombstones.
class PathIndex {
 public:
  // The index stores ids only; paths are compared against the records in `store`.
  NodeId find(const NodeStore& store, std::string_view path) const;
  /// `id`'s path must not be present yet.
  void insert(const NodeStore& store, NodeId id);
  void erase(const NodeStore& store, std::string_view path);
  void reserve(size_t n);
  void clear();
  size_t size() const { return size_; }

 private:
  struct Slot {
    uint32_t hash;
    NodeId id;  // kNoNodeId: empty
  };
  static uint32_t hash_of(std::string_view path);
  void grow(size_t slots);

  std::vector<Slot> slots_;
  size_t size_ = 0;
};

}  // namespace conclave::state
