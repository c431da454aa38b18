#include "state/node_store.h"

#include <algorithm>
#include <functional>

#include "common/assert.h"

namespace conclave::state {

NodeMeta Node::meta() const {
  NodeMeta m;
  m.czxid = czxid;
  m.mzxid = mzxid;
  m.pzxid = pzxid();
  m.ctime = ctime;
  m.mtime = mtime;
  m.ephemeral_owner = ephemeral_owner();
  m.version = version;
  m.cversion = cversion();
  m.aversion = aversion();
  m.acl = acl;
  return m;
}

static bool needs_extra(const NodeMeta& m) {
  return m.pzxid != m.czxid || m.cversion != 0 || m.aversion != 0 || m.ephemeral_owner != 0;
}

void NodeStore::fill(Node& n, std::string_view path, std::string_view data, bool data_null, Node::Extra* extra) {
  CONCLAVE_ASSERT(path.size() <= UINT32_MAX && data.size() <= UINT32_MAX, "znode too large");
  const bool wide = path.size() > 0xff || data.size() > 0xffff;
  const size_t lengths = wide ? 9 : 4;
  const size_t header = extra ? Node::extra_offset(wide) + sizeof extra : lengths;
  char* b = bytes_.allocate(header + path.size() + data.size());
  b[0] = static_cast<char>((data_null ? Node::kDataNull : 0) | (wide ? Node::kWide : 0) |
                           (extra ? Node::kHasExtra : 0));
  if (wide) {
    const auto p = static_cast<uint32_t>(path.size()), d = static_cast<uint32_t>(data.size());
    std::memcpy(b + 1, &p, 4);
    std::memcpy(b + 5, &d, 4);
  } else {
    b[1] = static_cast<char>(path.size());
    b[2] = static_cast<char>(data.size() & 0xff);
    b[3] = static_cast<char>(data.size() >> 8);
  }
  if (extra) {
    std::memset(b + lengths, 0, Node::extra_offset(wide) - lengths);
    std::memcpy(b + Node::extra_offset(wide), &extra, sizeof extra);
  }
  std::memcpy(b + header, path.data(), path.size());
  if (!data.empty()) std::memcpy(b + header + path.size(), data.data(), data.size());
  n.bytes_ = b;
}

Node::Extra& NodeStore::extra(Node& n) {
  if (Node::Extra* e = n.ext()) return *e;
  auto* e = new Node::Extra;
  e->pzxid = n.czxid;
  char* old = n.bytes_;  // the path and data are copied from it
  const size_t old_size = n.block_size();
  fill(n, n.path(), n.data(), n.data_null(), e);
  bytes_.release(old, old_size);
  return *e;
}

NodeId NodeStore::create(std::string_view path, std::string_view data, bool data_null, NodeId parent,
                         const NodeMeta& meta) {
  NodeId id;
  if (!free_.empty()) {
    id = free_.back();
    free_.pop_back();
  } else {
    id = next_++;
    CONCLAVE_ASSERT(id != kNoNodeId, "node ids exhausted");
    if ((id >> kChunkBits) >= chunks_.size()) chunks_.push_back(std::make_unique<Node[]>(kChunkMask + 1));
  }
  if (observer_) observer_->created(id);
  Node& n = slot(id);
  n.czxid = meta.czxid;
  n.mzxid = meta.mzxid;
  n.ctime = meta.ctime;
  n.mtime = meta.mtime;
  n.version = meta.version;
  n.acl = meta.acl;
  Node::Extra* e = nullptr;
  if (needs_extra(meta)) {
    e = new Node::Extra;
    e->pzxid = meta.pzxid;
    e->ephemeral_owner = meta.ephemeral_owner;
    e->cversion = meta.cversion;
    e->aversion = meta.aversion;
  }
  fill(n, path, data, data_null, e);
  n.parent_ = parent;
  if (parent != kNoNodeId) {
    auto& kids = extra(slot(parent)).kids;
    n.slot_in_parent_ = static_cast<uint32_t>(kids.size());
    kids.push_back(id);
  }
  ++live_;
  return id;
}

void NodeStore::destroy(NodeId id) {
  Node& n = at(id);
  CONCLAVE_ASSERT(n.bytes_ && !n.has_children(), "destroy of a free node or of a node with children");
  if (n.parent_ != kNoNodeId) {
    auto& kids = slot(n.parent_).ext()->kids;
    NodeId last = kids.back();
    kids[n.slot_in_parent_] = last;
    slot(last).slot_in_parent_ = n.slot_in_parent_;
    kids.pop_back();
    if (kids.empty()) std::vector<NodeId>().swap(kids);  // a parent that had many children keeps no array
  }
  n.czxid = n.mzxid = n.ctime = n.mtime = 0;
  n.version = 0;
  n.acl = 0;
  delete n.ext();
  bytes_.release(n.bytes_, n.block_size());
  n.bytes_ = nullptr;
  n.parent_ = kNoNodeId;
  n.slot_in_parent_ = 0;
  free_.push_back(id);
  --live_;
}

void NodeStore::set_data(NodeId id, std::string_view data, bool data_null) {
  Node& n = at(id);
  char* old = n.bytes_;  // `n.path()` points into it until the copy is made
  const size_t old_size = n.block_size();
  fill(n, n.path(), data, data_null, n.ext());
  bytes_.release(old, old_size);
}

void NodeStore::set_meta(NodeId id, const NodeMeta& m) {
  Node& n = at(id);
  n.czxid = m.czxid;
  n.mzxid = m.mzxid;
  n.ctime = m.ctime;
  n.mtime = m.mtime;
  n.version = m.version;
  n.acl = m.acl;
  if (n.ext() || needs_extra(m)) {
    Node::Extra& e = extra(n);
    e.pzxid = m.pzxid;
    e.ephemeral_owner = m.ephemeral_owner;
    e.cversion = m.cversion;
    e.aversion = m.aversion;
  }
}

void NodeStore::set_pzxid(NodeId id, int64_t v) {
  Node& n = at(id);
  if (n.ext() || v != n.czxid) extra(n).pzxid = v;
}

void NodeStore::set_cversion(NodeId id, int32_t v) {
  Node& n = at(id);
  if (n.ext() || v != 0) extra(n).cversion = v;
}

void NodeStore::set_aversion(NodeId id, int32_t v) {
  Node& n = at(id);
  if (n.ext() || v != 0) extra(n).aversion = v;
}

void NodeStore::free_extras() {
  for (NodeId id = 0; id < next_; ++id) delete slot(id).ext();  // free records hold no block
}

NodeStore& NodeStore::operator=(NodeStore&& other) noexcept {
  if (this == &other) return *this;
  clear();
  observer_ = other.observer_;
  bytes_ = std::move(other.bytes_);
  chunks_ = std::move(other.chunks_);
  free_ = std::move(other.free_);
  next_ = other.next_;
  live_ = other.live_;
  other.observer_ = nullptr;
  other.chunks_.clear();
  other.free_.clear();
  other.next_ = 0;
  other.live_ = 0;
  return *this;
}

void NodeStore::clear() {
  free_extras();
  chunks_.clear();
  bytes_.clear();
  free_.clear();
  next_ = 0;
  live_ = 0;
}

// ---- PathIndex ----

uint32_t PathIndex::hash_of(std::string_view path) {
  uint64_t h = std::hash<std::string_view>{}(path);
  return static_cast<uint32_t>(h ^ (h >> 32));
}

// A hash's home slot: multiply-shift over the table's size, which need not be a power of two
// (the table grows by half, not by doubling: 1.36M slots instead of 2M for 1M znodes).
static inline size_t home_of(uint32_t hash, size_t slots) { return static_cast<size_t>((uint64_t(hash) * slots) >> 32); }

NodeId PathIndex::find(const NodeStore& store, std::string_view path) const {
  const size_t n = slots_.size();
  if (n == 0) return kNoNodeId;
  const uint32_t h = hash_of(path);
  for (size_t i = home_of(h, n);; i = i + 1 == n ? 0 : i + 1) {
    const Slot& s = slots_[i];
    if (s.id == kNoNodeId) return kNoNodeId;
    if (s.hash == h && store.at(s.id).path() == path) return s.id;
  }
}

void PathIndex::insert(const NodeStore& store, NodeId id) {
  if ((size_ + 1) * 4 > slots_.size() * 3) grow(std::max<size_t>(16, slots_.size() + slots_.size() / 2));
  const size_t n = slots_.size();
  const uint32_t h = hash_of(store.at(id).path());
  size_t i = home_of(h, n);
  while (slots_[i].id != kNoNodeId) i = i + 1 == n ? 0 : i + 1;
  slots_[i] = Slot{h, id};
  ++size_;
}

void PathIndex::erase(const NodeStore& store, std::string_view path) {
  const size_t n = slots_.size();
  if (n == 0) return;
  const uint32_t h = hash_of(path);
  size_t i = home_of(h, n);
  for (;; i = i + 1 == n ? 0 : i + 1) {
    const Slot& s = slots_[i];
    if (s.id == kNoNodeId) return;
    if (s.hash == h && store.at(s.id).path() == path) break;
  }
  // Backward-shift deletion: move later entries of the probe run into the hole when their home
  // slot does not lie cyclically in (hole, their position].
  size_t hole = i;
  for (size_t j = hole + 1 == n ? 0 : hole + 1; slots_[j].id != kNoNodeId; j = j + 1 == n ? 0 : j + 1) {
    size_t home = home_of(slots_[j].hash, n);
    bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
    if (stays) continue;
    slots_[hole] = slots_[j];
    hole = j;
  }
  slots_[hole] = Slot{0, kNoNodeId};
  --size_;
}

void PathIndex::reserve(size_t n) {
  const size_t want = std::max<size_t>(16, n * 4 / 3 + 1);
  if (want > slots_.size()) grow(want);
}

void PathIndex::grow(size_t slots) {
  CONCLAVE_ASSERT(slots <= UINT32_MAX, "path index too large");
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(slots, Slot{0, kNoNodeId});
  for (const Slot& s : old) {
    if (s.id == kNoNodeId) continue;
    size_t i = home_of(s.hash, slots);
    while (slots_[i].id != kNoNodeId) i = i + 1 == slots ? 0 : i + 1;
    slots_[i] = s;
  }
}

void PathIndex::clear() {
  slots_.clear();
  size_ = 0;
}

}  // namespace conclave::state
