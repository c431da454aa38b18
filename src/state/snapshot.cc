#include "state/snapshot.h"

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "common/assert.h"
#include "common/bytes.h"
#include "state/tree.h"

namespace conclave::state {
namespace {
constexpr uint32_t kNoParent = UINT32_MAX;
// Bytes of a format-7 znode record besides its name and data.
constexpr size_t kNodeFixedBytes = 4 + 4 + 4 + 1 + 4 + 6 * 8 + 3 * 4 + 4;
// The same for formats 4-6 (parent ordinal instead of id and parent id).
constexpr size_t kOrdinalNodeFixedBytes = 4 + 4 + 1 + 4 + 6 * 8 + 3 * 4 + 4;

char* put_be(char* p, uint32_t v) {
  p[0] = char(v >> 24);
  p[1] = char(v >> 16);
  p[2] = char(v >> 8);
  p[3] = char(v);
  return p + 4;
}
char* put_be(char* p, uint64_t v) { return put_be(put_be(p, static_cast<uint32_t>(v >> 32)), static_cast<uint32_t>(v)); }
}  // namespace

// ---- writing ----

SnapshotWriter::SnapshotWriter(DataTree& tree) : SnapshotWriter(tree, &tree.store_) {}

SnapshotWriter::SnapshotWriter(const DataTree& tree, NodeStore* observe)
    : tree_(tree), observed_(observe), end_(tree.store_.capacity()), done_(end_, false),
      expected_(tree.store_.live()) {
  std::string head;
  Writer w(head);
  w.u32(DataTree::kSnapshotFormat);
  w.i64(tree.last_zxid_);
  w.u32(static_cast<uint32_t>(tree.acls_.size()));
  for (uint32_t i = 0; i < tree.acls_.size(); ++i) {
    const AclList& acl = tree.acls_.get(i);
    w.u32(static_cast<uint32_t>(acl.size()));
    for (const auto& a : acl) {
      w.i32(a.perms);
      w.blob(a.id.scheme);
      w.blob(a.id.id);
    }
  }
  w.u64(expected_);
  append(head.data(), head.size());
  Writer rw(rest_);
  encode_rest(tree, rw);
  if (observed_) observed_->set_observer(this);
}

SnapshotWriter::~SnapshotWriter() {
  if (observed_) observed_->set_observer(nullptr);
}

std::vector<std::string> SnapshotWriter::encode_all(const DataTree& tree) {
  SnapshotWriter w(tree, nullptr);
  w.step(SIZE_MAX);
  return w.take_parts();
}

bool SnapshotWriter::step(size_t max_nodes) {
  const NodeStore& store = tree_.store_;
  for (size_t n = 0; n < max_nodes && cursor_ < end_; ++cursor_) {
    if (done_[cursor_] || !store.in_use(cursor_)) continue;
    encode_node(cursor_);
    ++n;
  }
  if (cursor_ >= end_ && !finished_) finish();
  return done();
}

void SnapshotWriter::before_change(NodeId id) {
  if (id >= end_ || id < cursor_ || done_[id] || !tree_.store_.in_use(id)) return;
  encode_node(id);
  ++copied_;
}

void SnapshotWriter::created(NodeId id) {
  if (id < end_) done_[id] = true;  // a reused id: not a znode of the snapshot
}

void SnapshotWriter::encode_node(NodeId id) {
  done_[id] = true;
  ++written_;
  const Node& n = tree_.store_.at(id);
  std::string_view name = n.name();
  std::string_view data = n.data();
  char head[13];
  char* p = put_be(head, id);
  p = put_be(p, n.parent() == kNoNodeId ? kNoParent : n.parent());
  p = put_be(p, static_cast<uint32_t>(name.size()));
  append(head, p - head);
  append(name.data(), name.size());
  char mid[5];
  mid[0] = n.data_null() ? 1 : 0;
  put_be(mid + 1, static_cast<uint32_t>(data.size()));
  append(mid, 5);
  append(data.data(), data.size());
  char tail[64];
  p = tail;
  for (int64_t v : {n.czxid, n.mzxid, n.pzxid(), n.ctime, n.mtime, n.ephemeral_owner()}) p = put_be(p, static_cast<uint64_t>(v));
  for (int32_t v : {n.version, n.cversion(), n.aversion()}) p = put_be(p, static_cast<uint32_t>(v));
  p = put_be(p, n.acl);
  append(tail, p - tail);
}

void SnapshotWriter::append(const char* p, size_t n) {
  // Fixed-size parts: the encoding never reallocates (and copies) what it has written so far.
  size_ += n;
  while (n > 0) {
    if (parts_.empty() || parts_.back().size() == parts_.back().capacity()) {
      // A part from the source, or when it has none ready, a small fresh one: faulting in fresh
      // memory is what costs, so a miss costs a few pages, not a whole part. Without a source, the
      // parts grow from 64 KiB to kPartBytes, so that a small tree's encoding stays small.
      const size_t fresh = part_source_ ? kSmallPartBytes : std::min(kPartBytes, (size_t(64) << 10) << std::min<size_t>(parts_.size(), 6));
      parts_.push_back(part_source_ ? part_source_() : std::string());
      if (parts_.back().capacity() < kSmallPartBytes) parts_.back().reserve(fresh);
      parts_.back().clear();
    }
    std::string& part = parts_.back();
    size_t k = std::min(n, part.capacity() - part.size());
    part.append(p, k);
    p += k;
    n -= k;
  }
}

void SnapshotWriter::finish() {
  CONCLAVE_ASSERT(written_ == expected_, "a snapshot holds every znode of its freeze exactly once");
  append(rest_.data(), rest_.size());
  rest_ = std::string();
  finished_ = true;
  if (observed_) {
    observed_->set_observer(nullptr);
    observed_ = nullptr;
  }
}

void DataTree::encode_snapshot(Bytes& out) const {
  auto parts = SnapshotWriter::encode_all(*this);
  size_t total = out.size();
  for (const auto& p : parts) total += p.size();
  out.reserve(total);
  for (const auto& p : parts) out += p;
}

void SnapshotWriter::encode_rest(const DataTree& t, Writer& w) {
  w.u64(t.sessions_.size());
  for (const auto& [id, s] : t.sessions_) {
    w.i64(id);
    w.i32(s.timeout_ms);
    w.blob(s.password);
  }
  // Format 5: the Consul side. Sessions in the same order as above.
  for (const auto& [id, s] : t.sessions_) {
    w.i64(s.create_index);
    w.boolean(s.consul);
    if (!s.consul) continue;
    w.blob(s.spec.uuid);
    w.blob(s.spec.name);
    w.blob(s.spec.node);
    w.u8(s.spec.behavior);
    w.i64(s.spec.ttl_ms);
    w.i64(s.spec.lock_delay_ms);
    for (const auto* list : {&s.spec.node_checks, &s.spec.service_checks}) {
      w.u32(static_cast<uint32_t>(list->size()));
      for (const auto& c : *list) w.blob(c);
    }
  }
  w.u64(t.kv_meta_.size());
  for (const auto& [path, m] : t.kv_meta_) {
    w.blob(path);
    w.u64(m.flags);
    w.u64(m.lock_index);
    w.i64(m.session);
    w.boolean(m.implicit);
  }
  w.u64(t.lock_delay_.size());
  for (const auto& [path, until] : t.lock_delay_) {
    w.blob(path);
    w.i64(until);
  }
  t.catalog_.encode(w);  // format 6
  w.u64(t.mirrored_.size());
  for (const auto& p : t.mirrored_) w.blob(p);
}

// ---- reading ----

namespace {
NodeMeta read_meta(Reader& r) {
  NodeMeta m;
  m.czxid = r.i64();
  m.mzxid = r.i64();
  m.pzxid = r.i64();
  m.ctime = r.i64();
  m.mtime = r.i64();
  m.ephemeral_owner = r.i64();
  m.version = r.i32();
  m.cversion = r.i32();
  m.aversion = r.i32();
  m.acl = r.u32();
  return m;
}

std::string child_path(std::string_view parent, std::string_view name) {
  std::string path(parent);
  if (path.size() > 1) path += '/';
  path += name;
  return path;
}
}  // namespace

// Formats 4-6: parent-first, each znode naming its parent by ordinal.
bool DataTree::decode_nodes_by_ordinal(Reader& r, uint32_t nacls, DataTree* fresh, std::vector<NodeId>* owned) {
  uint64_t count = r.u64();
  if (!r.ok() || count == 0 || count > r.remaining() / kOrdinalNodeFixedBytes) return false;
  fresh->index_.reserve(count);
  std::vector<NodeId> by_ordinal;
  by_ordinal.reserve(count);
  std::string path;
  for (uint64_t i = 0; i < count; ++i) {
    uint32_t parent_ordinal = r.u32();
    std::string_view name = r.blob();
    bool data_null = r.boolean();
    std::string_view data = r.blob();
    NodeMeta m = read_meta(r);
    if (!r.ok() || m.acl >= nacls) return false;
    NodeId parent = kNoNodeId;
    if (i == 0) {
      // The root comes first and only once.
      if (parent_ordinal != kNoParent || !name.empty()) return false;
      path = "/";
    } else {
      if (parent_ordinal >= i || name.empty() || name.find('/') != std::string_view::npos) return false;
      parent = by_ordinal[parent_ordinal];
      path = child_path(fresh->store_.at(parent).path(), name);
      if (fresh->index_.find(fresh->store_, path) != kNoNodeId) return false;
    }
    NodeId id = fresh->add_node(path, data, data_null, parent, m);
    by_ordinal.push_back(id);
    if (m.ephemeral_owner != 0) owned->push_back(id);
  }
  return true;
}

// Format 7: znodes in any order, each with its id and its parent's. One pass in file order: a
// znode whose parent is already made is made at once (nearly all of them: the writer goes in id
// order, and a parent is older than its children unless ids were reused); the others wait for
// their parent, and are made, with their own waiting children, when it is.
bool DataTree::decode_nodes_by_id(Reader& r, uint32_t nacls, DataTree* fresh, std::vector<NodeId>* owned) {
  uint64_t count = r.u64();
  if (!r.ok() || count == 0 || count > r.remaining() / kNodeFixedBytes) return false;
  fresh->index_.reserve(count);
  // The snapshot's id -> the new tree's id. Ids are mostly dense (the store reuses freed ones), so
  // a vector holds those up to a bound the input's size justifies; the survivors of a mass delete
  // keep their high ids, and those go to a map, so no input can make the table outgrow it.
  const uint64_t dense_bound = count * 16 + 1024;
  std::vector<NodeId> dense;
  dense.reserve(count);
  std::unordered_map<uint32_t, NodeId> sparse;
  auto made_of = [&](uint32_t id) -> NodeId {
    if (id < dense_bound) return id < dense.size() ? dense[id] : kNoNodeId;
    auto it = sparse.find(id);
    return it == sparse.end() ? kNoNodeId : it->second;
  };
  auto set_made = [&](uint32_t id, NodeId v) {
    if (id >= dense_bound) {
      sparse[id] = v;
      return;
    }
    if (id >= dense.size()) dense.resize(id + 1, kNoNodeId);
    dense[id] = v;
  };
  std::unordered_map<uint32_t, std::vector<size_t>> waiting;  // parent id -> records' offsets
  uint64_t created = 0;
  std::string path;
  // Makes the record at `offset` (its id and parent already read), then whatever waited for it.
  struct Todo {
    size_t offset;
    uint32_t id, parent;
  };
  std::vector<Todo> todo;  // reused: no allocation per record
  auto make = [&](size_t offset, uint32_t id, uint32_t parent_id) -> bool {
    todo.clear();
    todo.push_back({offset, id, parent_id});
    while (!todo.empty()) {
      const Todo t = todo.back();
      todo.pop_back();
      const size_t off = t.offset;
      const uint32_t nid = t.id, pid = t.parent;
      Reader rr(r.span().substr(off));
      std::string_view name = rr.blob();
      bool data_null = rr.boolean();
      std::string_view data = rr.blob();
      NodeMeta m = read_meta(rr);
      if (!rr.ok() || m.acl >= nacls) return false;
      if (made_of(nid) != kNoNodeId) return false;  // an id twice
      NodeId parent = kNoNodeId;
      if (pid == kNoParent) {
        if (!name.empty() || created != 0) return false;  // the root, once, before anything else is made
        path = "/";
      } else {
        if (name.empty() || name.find('/') != std::string_view::npos) return false;
        parent = made_of(pid);
        path = child_path(fresh->store_.at(parent).path(), name);
        if (fresh->index_.find(fresh->store_, path) != kNoNodeId) return false;
      }
      const NodeId made = fresh->add_node(path, data, data_null, parent, m);
      set_made(nid, made);
      ++created;
      if (m.ephemeral_owner != 0) owned->push_back(made);
      if (waiting.empty()) continue;
      auto it = waiting.find(nid);
      if (it == waiting.end()) continue;
      for (size_t child_off : it->second) {
        Reader ids_of(r.span().substr(child_off - 8, 8));
        uint32_t cid = ids_of.u32();
        todo.push_back({child_off, cid, nid});
      }
      waiting.erase(it);
    }
    return true;
  };
  for (uint64_t i = 0; i < count; ++i) {
    uint32_t id = r.u32();
    uint32_t parent = r.u32();
    size_t offset = r.position();
    r.blob();
    r.boolean();
    r.blob();
    r.raw(6 * 8 + 3 * 4 + 4);
    if (!r.ok() || id == kNoParent || id == parent) return false;
    bool parent_made = parent == kNoParent || made_of(parent) != kNoNodeId;
    if (parent == kNoParent && created != 0) return false;  // a second root
    if (parent_made) {
      if (!make(offset, id, parent)) return false;
    } else {
      waiting[parent].push_back(offset);
    }
  }
  return created == count;  // else some waited for a parent that never came (missing, or a cycle)
}

bool DataTree::decode_snapshot(std::string_view bytes) {
  Reader r(bytes);
  const uint32_t format = r.u32();
  if (format < 4 || format > kSnapshotFormat) return false;
  DataTree fresh;
  fresh.store_.clear();
  fresh.index_.clear();
  fresh.acls_ = AclCache();
  fresh.last_zxid_ = r.i64();
  uint32_t nacls = r.u32();
  if (nacls > r.remaining()) return false;
  for (uint32_t i = 0; i < nacls; ++i) {
    uint32_t n = r.u32();
    if (n > r.remaining()) return false;
    AclList acl(n);
    for (auto& a : acl) {
      a.perms = r.i32();
      a.id.scheme = std::string(r.blob());
      a.id.id = std::string(r.blob());
    }
    if (!r.ok() || fresh.acls_.intern(acl) != i) return false;  // the table has no duplicates
  }
  std::vector<NodeId> owned;  // nodes with an ephemeral owner, a container or a TTL
  if (!(format >= 7 ? decode_nodes_by_id(r, nacls, &fresh, &owned) : decode_nodes_by_ordinal(r, nacls, &fresh, &owned)))
    return false;
  uint64_t nsessions = r.u64();
  if (!r.ok() || nsessions > bytes.size()) return false;
  std::vector<SessionId> session_order;
  for (uint64_t i = 0; i < nsessions && r.ok(); ++i) {
    SessionId id = r.i64();
    auto& s = fresh.sessions_[id];
    s.timeout_ms = r.i32();
    s.password = std::string(r.blob());
    session_order.push_back(id);
  }
  if (format >= 5) {
    for (SessionId id : session_order) {
      auto& s = fresh.sessions_[id];
      s.create_index = r.i64();
      s.consul = r.boolean();
      if (!s.consul || !r.ok()) continue;
      s.spec.uuid = std::string(r.blob());
      s.spec.name = std::string(r.blob());
      s.spec.node = std::string(r.blob());
      s.spec.behavior = r.u8();
      s.spec.ttl_ms = r.i64();
      s.spec.lock_delay_ms = r.i64();
      for (auto* list : {&s.spec.node_checks, &s.spec.service_checks}) {
        uint32_t n = r.u32();
        if (n > r.remaining()) return false;
        for (uint32_t k = 0; k < n; ++k) list->emplace_back(r.blob());
      }
      if (!fresh.session_by_uuid_.emplace(s.spec.uuid, id).second) return false;
    }
    uint64_t nmeta = r.u64();
    if (!r.ok() || nmeta > r.remaining()) return false;
    for (uint64_t i = 0; i < nmeta && r.ok(); ++i) {
      std::string path(r.blob());
      KvMeta m;
      m.flags = r.u64();
      m.lock_index = r.u64();
      m.session = r.i64();
      m.implicit = r.boolean();
      if (!r.ok() || !fresh.find(path)) return false;
      if (m.session) {
        auto it = fresh.sessions_.find(m.session);
        if (it == fresh.sessions_.end()) return false;
        it->second.held.insert(path);
      }
      fresh.kv_meta_[path] = m;
    }
    uint64_t ndelay = r.u64();
    if (!r.ok() || ndelay > r.remaining()) return false;
    for (uint64_t i = 0; i < ndelay && r.ok(); ++i) {
      std::string path(r.blob());
      fresh.lock_delay_[path] = r.i64();
    }
  }
  if (format >= 6) {
    if (!fresh.catalog_.decode(r)) return false;
    uint64_t nmirrored = r.u64();
    if (!r.ok() || nmirrored > r.remaining()) return false;
    for (uint64_t i = 0; i < nmirrored && r.ok(); ++i) fresh.mirrored_.emplace(r.blob());
  }
  if (!r.ok() || !r.at_end()) return false;
  for (NodeId id : owned) {
    const Node& n = fresh.store_.at(id);
    fresh.index_special(n.path(), n, true);
  }
  *this = std::move(fresh);
  return true;
}


}  // namespace conclave::state
