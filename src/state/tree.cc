#include "state/tree.h"

#include <fmt/format.h>

#include <algorithm>

#include "common/assert.h"
#include "common/crc32c.h"
#include "state/acl.h"
#include "state/path.h"

namespace conclave::state {

uint32_t AclCache::intern(const AclList& acl) {
  auto it = index_.find(acl);
  if (it != index_.end()) return it->second;
  auto ref = static_cast<uint32_t>(lists_.size());
  lists_.push_back(acl);
  index_.emplace(acl, ref);
  return ref;
}

/// One step to undo when a multi fails part-way (ZooKeeper rolls back its pending changes; we
/// apply ops in place and restore what they touched, in reverse order).
struct DataTree::Undo {
  enum Kind { kCreated, kDeleted, kSetData, kSetAcl } kind;
  std::string path;
  Node before;            // kDeleted: the removed node; kSetData/kSetAcl: the node's old fields
  int32_t parent_cversion = 0;
  int64_t parent_pzxid = 0;
};

DataTree::DataTree() { init_system_nodes(); }

void DataTree::init_system_nodes() {
  nodes_.clear();
  acls_ = AclCache();
  uint32_t open = acls_.intern(open_acl_unsafe());
  uint32_t read_only = acls_.intern({Acl{perms::kRead, Id{"world", "anyone"}}});
  Node root;
  root.acl = open;
  root.children = {"zookeeper"};
  Node zk;
  zk.acl = open;
  zk.children = {"quota", "config"};
  Node quota;
  quota.acl = open;
  Node config;
  config.acl = read_only;
  config.aversion = -1;
  nodes_.emplace("/", std::move(root));
  nodes_.emplace("/zookeeper", std::move(zk));
  nodes_.emplace("/zookeeper/quota", std::move(quota));
  nodes_.emplace("/zookeeper/config", std::move(config));
}

const Node* DataTree::find(std::string_view path) const {
  auto it = nodes_.find(path);
  return it == nodes_.end() ? nullptr : &it->second;
}

Node* DataTree::find_mut(std::string_view path) {
  auto it = nodes_.find(path);
  return it == nodes_.end() ? nullptr : &it->second;
}

Stat DataTree::stat_of(const Node& n) const {
  Stat s;
  s.czxid = n.czxid;
  s.mzxid = n.mzxid;
  s.ctime = n.ctime;
  s.mtime = n.mtime;
  s.version = n.version;
  // Deletes do not bump the stored cversion (it numbers sequential children), yet clients must
  // see a change: ZooKeeper reports 2 * cversion - numChildren.
  s.cversion = n.cversion * 2 - static_cast<int32_t>(n.children.size());
  s.aversion = n.aversion;
  // Containers and TTL nodes keep their type in ephemeralOwner, but clients see 0.
  s.ephemeral_owner = owner_is_session(n.ephemeral_owner) ? n.ephemeral_owner : 0;
  s.data_length = static_cast<int32_t>(n.data.size());
  s.num_children = static_cast<int32_t>(n.children.size());
  s.pzxid = n.pzxid;
  return s;
}

int32_t DataTree::count_descendants(std::string_view path) const {
  const Node* n = find(path);
  if (!n) return 0;
  int32_t count = 0;
  std::vector<std::string> stack{std::string(path)};
  while (!stack.empty()) {
    std::string p = std::move(stack.back());
    stack.pop_back();
    const Node* cur = find(p);
    if (!cur) continue;
    for (const auto& c : cur->children) {
      ++count;
      stack.push_back(child_path(p, c));
    }
  }
  return count;
}

const SessionInfo* DataTree::session(SessionId id) const {
  auto it = sessions_.find(id);
  return it == sessions_.end() ? nullptr : &it->second;
}

size_t DataTree::ephemeral_count() const {
  size_t n = 0;
  for (const auto& [id, s] : sessions_) n += s.ephemerals.size();
  return n;
}

uint64_t DataTree::approximate_data_size() const {
  uint64_t total = 0;
  for (const auto& [path, n] : nodes_) total += path.size() + n.data.size();
  return total;
}

void DataTree::index_special(const std::string& path, const Node& n, bool add) {
  if (owner_is_container(n.ephemeral_owner)) {
    if (add) containers_.insert(path); else containers_.erase(path);
  } else if (owner_is_ttl(n.ephemeral_owner)) {
    if (add) ttls_.insert(path); else ttls_.erase(path);
  } else if (owner_is_session(n.ephemeral_owner)) {
    auto it = sessions_.find(n.ephemeral_owner);
    if (it != sessions_.end()) {
      if (add) it->second.ephemerals.insert(path); else it->second.ephemerals.erase(path);
    }
  }
}

std::vector<std::string> DataTree::reap_candidates(int64_t now_ms) const {
  std::vector<std::string> out;
  for (const auto& p : containers_) {
    const Node* n = find(p);
    if (n && n->children.empty() && n->cversion > 0) out.push_back(p);
  }
  for (const auto& p : ttls_) {
    const Node* n = find(p);
    if (!n || !n->children.empty()) continue;
    int64_t ttl = n->ephemeral_owner & ~kTtlOwnerMask;
    if (now_ms - n->mtime > ttl) out.push_back(p);
  }
  return out;
}

ApplyResult DataTree::apply(int64_t index, const Command& cmd) {
  ApplyResult out;
  const int64_t zxid = index;
  CONCLAVE_ASSERT(zxid > last_zxid_, "commands must be applied in increasing index order");
  last_zxid_ = zxid;
  out.zxid = zxid;
  switch (cmd.kind) {
    case CommandKind::kNoop:
      break;
    case CommandKind::kCreateSession: {
      auto& s = sessions_[cmd.session];
      s.timeout_ms = cmd.timeout_ms;
      s.password = cmd.password;
      break;
    }
    case CommandKind::kCloseSession:
      if (!sessions_.count(cmd.session)) {
        out.code = Code::kSessionExpired;
        break;
      }
      close_session(cmd.session, zxid, &out.triggers);
      break;
    case CommandKind::kReap: {
      const Node* n = find(cmd.reap_path);
      bool still_due = false;
      if (n && n->children.empty()) {
        if (owner_is_container(n->ephemeral_owner)) still_due = n->cversion > 0;
        if (owner_is_ttl(n->ephemeral_owner))
          still_due = cmd.time_ms - n->mtime > (n->ephemeral_owner & ~kTtlOwnerMask);
      }
      if (still_due) remove_node(cmd.reap_path, zxid, &out.triggers, nullptr);
      else out.code = Code::kNoNode;
      break;
    }
    case CommandKind::kTxn: {
      if (cmd.session != 0 && !sessions_.count(cmd.session)) {
        out.code = Code::kSessionExpired;
        out.results.resize(cmd.ops.size(), OpResult{Code::kSessionExpired, {}, {}});
        break;
      }
      std::vector<Undo> undo;
      std::vector<Trigger> triggers;
      out.results.resize(cmd.ops.size());
      size_t failed_at = cmd.ops.size();
      for (size_t i = 0; i < cmd.ops.size(); ++i) {
        Code c = apply_op(cmd.ops[i], cmd, zxid, &out.results[i], &triggers, cmd.multi ? &undo : nullptr);
        out.results[i].code = c;
        if (c != Code::kOk) {
          failed_at = i;
          break;
        }
      }
      if (failed_at < cmd.ops.size()) {
        out.code = out.results[failed_at].code;
        if (cmd.multi) {
          // ZooKeeper's multi: earlier ops report OK, later ones RuntimeInconsistency, and
          // nothing of the multi remains applied.
          rollback(undo);
          for (size_t i = 0; i < cmd.ops.size(); ++i) {
            if (i < failed_at) out.results[i] = OpResult{Code::kOk, {}, {}};
            if (i > failed_at) out.results[i] = OpResult{Code::kRuntimeInconsistency, {}, {}};
          }
          triggers.clear();
        }
      }
      out.triggers = std::move(triggers);
      break;
    }
  }
  return out;
}

Code DataTree::apply_op(const Op& op, const Command& cmd, int64_t zxid, OpResult* result,
                        std::vector<Trigger>* triggers, std::vector<Undo>* undo) {
  if (auto* o = std::get_if<CreateOp>(&op)) return do_create(*o, cmd, zxid, result, triggers, undo);
  if (auto* o = std::get_if<DeleteOp>(&op)) return do_delete(*o, cmd, zxid, triggers, undo);
  if (auto* o = std::get_if<SetDataOp>(&op)) return do_set_data(*o, cmd, zxid, result, triggers, undo);
  if (auto* o = std::get_if<SetAclOp>(&op)) return do_set_acl(*o, cmd, zxid, result, undo);
  return do_check(std::get<CheckOp>(op), cmd);
}

// Order of checks follows PrepRequestProcessor.pRequest2TxnCreate, so the first failing rule
// yields the same code as ZooKeeper.
Code DataTree::do_create(const CreateOp& op, const Command& cmd, int64_t zxid, OpResult* result,
                         std::vector<Trigger>* triggers, std::vector<Undo>* undo) {
  auto mode_num = static_cast<int32_t>(op.mode);
  if (mode_num < 0 || mode_num > 6) return Code::kBadArguments;
  if (is_ttl(op.mode)) {
    if (op.ttl_ms <= 0 || op.ttl_ms > kMaxTtlMs) return Code::kBadArguments;
  } else if (op.ttl_ms >= 0) {
    return Code::kBadArguments;
  }
  auto slash = op.path.rfind('/');
  if (slash == std::string::npos || op.path.find('\0') != std::string::npos) return Code::kBadArguments;
  AclList acl;
  Code c = fixup_acl(op.acl, cmd.auth, &acl);
  if (c != Code::kOk) return c;
  std::string parent_path = slash == 0 ? "/" : op.path.substr(0, slash);
  Node* parent = find_mut(parent_path);
  if (!parent) return Code::kNoNode;
  if (!acl_allows(acls_.get(parent->acl), perms::kCreate, cmd.auth)) return Code::kNoAuth;
  std::string path = op.path;
  if (is_sequential(op.mode)) path += fmt::format("{:010d}", parent->cversion);
  if (!valid_path(path)) return Code::kBadArguments;
  if (find(path)) return Code::kNodeExists;
  if (owner_is_session(parent->ephemeral_owner)) return Code::kNoChildrenForEphemerals;

  if (undo) undo->push_back(Undo{Undo::kCreated, path, {}, parent->cversion, parent->pzxid});
  parent->cversion++;
  parent->pzxid = zxid;
  Node n;
  n.data = op.data;
  n.data_null = op.data_null;
  n.czxid = n.mzxid = n.pzxid = zxid;
  n.ctime = n.mtime = cmd.time_ms;
  n.acl = acls_.intern(acl);
  if (is_ephemeral(op.mode)) n.ephemeral_owner = cmd.session;
  else if (op.mode == CreateMode::kContainer) n.ephemeral_owner = kContainerOwner;
  else if (is_ttl(op.mode)) n.ephemeral_owner = ttl_owner(op.ttl_ms);
  parent->children.insert(std::string(basename_of(path)));
  auto [it, inserted] = nodes_.emplace(path, std::move(n));
  CONCLAVE_ASSERT(inserted, "create of an existing path");
  index_special(path, it->second, true);
  result->path = path;
  result->stat = stat_of(it->second);
  triggers->push_back({EventType::kNodeCreated, path});
  triggers->push_back({EventType::kNodeChildrenChanged, parent_path});
  return Code::kOk;
}

static bool special_path(std::string_view p) {
  return p == "/" || p == "/zookeeper" || p == "/zookeeper/quota" || p == "/zookeeper/config";
}

Code DataTree::do_delete(const DeleteOp& op, const Command& cmd, int64_t zxid,
                         std::vector<Trigger>* triggers, std::vector<Undo>* undo) {
  auto slash = op.path.rfind('/');
  if (slash == std::string::npos || op.path.find('\0') != std::string::npos || special_path(op.path))
    return Code::kBadArguments;
  std::string parent_path = slash == 0 ? "/" : op.path.substr(0, slash);
  const Node* parent = find(parent_path);
  if (!parent) return Code::kNoNode;
  if (!acl_allows(acls_.get(parent->acl), perms::kDelete, cmd.auth)) return Code::kNoAuth;
  const Node* n = find(op.path);
  if (!n) return Code::kNoNode;
  if (op.version != -1 && op.version != n->version) return Code::kBadVersion;
  if (!n->children.empty()) return Code::kNotEmpty;
  remove_node(op.path, zxid, triggers, undo);
  return Code::kOk;
}

void DataTree::remove_node(const std::string& path, int64_t zxid, std::vector<Trigger>* triggers,
                           std::vector<Undo>* undo) {
  auto it = nodes_.find(path);
  CONCLAVE_ASSERT(it != nodes_.end(), "remove of a missing node");
  std::string parent_path(parent_of(path));
  Node* parent = find_mut(parent_path);
  CONCLAVE_ASSERT(parent != nullptr, "node without parent");
  index_special(path, it->second, false);
  if (undo) undo->push_back(Undo{Undo::kDeleted, path, std::move(it->second), parent->cversion, parent->pzxid});
  nodes_.erase(it);
  parent->children.erase(std::string(basename_of(path)));
  if (zxid > parent->pzxid) parent->pzxid = zxid;
  triggers->push_back({EventType::kNodeDeleted, path});
  triggers->push_back({EventType::kNodeChildrenChanged, parent_path});
}

Code DataTree::do_set_data(const SetDataOp& op, const Command& cmd, int64_t zxid, OpResult* result,
                           std::vector<Trigger>* triggers, std::vector<Undo>* undo) {
  if (!valid_path(op.path)) return Code::kBadArguments;
  Node* n = find_mut(op.path);
  if (!n) return Code::kNoNode;
  if (!acl_allows(acls_.get(n->acl), perms::kWrite, cmd.auth)) return Code::kNoAuth;
  if (op.version != -1 && op.version != n->version) return Code::kBadVersion;
  if (undo) {
    Undo u{Undo::kSetData, op.path, {}, 0, 0};
    u.before.data = n->data;
    u.before.mzxid = n->mzxid;
    u.before.mtime = n->mtime;
    u.before.version = n->version;
    u.before.data_null = n->data_null;
    undo->push_back(std::move(u));
  }
  n->data = op.data;
  n->data_null = op.data_null;
  n->mzxid = zxid;
  n->mtime = cmd.time_ms;
  n->version++;
  result->stat = stat_of(*n);
  triggers->push_back({EventType::kNodeDataChanged, op.path});
  return Code::kOk;
}

Code DataTree::do_set_acl(const SetAclOp& op, const Command& cmd, int64_t zxid, OpResult* result,
                          std::vector<Undo>* undo) {
  if (!valid_path(op.path)) return Code::kBadArguments;
  AclList acl;
  Code c = fixup_acl(op.acl, cmd.auth, &acl);
  if (c != Code::kOk) return c;
  Node* n = find_mut(op.path);
  if (!n) return Code::kNoNode;
  if (!acl_allows(acls_.get(n->acl), perms::kAdmin, cmd.auth)) return Code::kNoAuth;
  if (op.version != -1 && op.version != n->aversion) return Code::kBadVersion;
  if (undo) {
    Undo u{Undo::kSetAcl, op.path, {}, 0, 0};
    u.before.acl = n->acl;
    u.before.aversion = n->aversion;
    undo->push_back(std::move(u));
  }
  n->acl = acls_.intern(acl);
  n->aversion++;
  result->stat = stat_of(*n);
  return Code::kOk;
}

Code DataTree::do_check(const CheckOp& op, const Command& cmd) {
  if (!valid_path(op.path)) return Code::kBadArguments;
  const Node* n = find(op.path);
  if (!n) return Code::kNoNode;
  if (!acl_allows(acls_.get(n->acl), perms::kRead, cmd.auth)) return Code::kNoAuth;
  if (op.version != -1 && op.version != n->version) return Code::kBadVersion;
  return Code::kOk;
}

void DataTree::rollback(std::vector<Undo>& undo) {
  for (auto it = undo.rbegin(); it != undo.rend(); ++it) {
    Undo& u = *it;
    switch (u.kind) {
      case Undo::kCreated: {
        auto node = nodes_.find(u.path);
        CONCLAVE_ASSERT(node != nodes_.end(), "rollback of a create whose node is gone");
        index_special(u.path, node->second, false);
        nodes_.erase(node);
        Node* parent = find_mut(parent_of(u.path));
        parent->children.erase(std::string(basename_of(u.path)));
        parent->cversion = u.parent_cversion;
        parent->pzxid = u.parent_pzxid;
        break;
      }
      case Undo::kDeleted: {
        Node* parent = find_mut(parent_of(u.path));
        parent->children.insert(std::string(basename_of(u.path)));
        parent->cversion = u.parent_cversion;
        parent->pzxid = u.parent_pzxid;
        auto [node, ok] = nodes_.emplace(u.path, std::move(u.before));
        index_special(u.path, node->second, true);
        break;
      }
      case Undo::kSetData: {
        Node* n = find_mut(u.path);
        n->data = std::move(u.before.data);
        n->data_null = u.before.data_null;
        n->mzxid = u.before.mzxid;
        n->mtime = u.before.mtime;
        n->version = u.before.version;
        break;
      }
      case Undo::kSetAcl: {
        Node* n = find_mut(u.path);
        n->acl = u.before.acl;
        n->aversion = u.before.aversion;
        break;
      }
    }
  }
}

void DataTree::close_session(SessionId id, int64_t zxid, std::vector<Trigger>* triggers) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return;
  // Deepest paths first so that a (theoretical) nested ephemeral never blocks its parent.
  std::vector<std::string> paths(it->second.ephemerals.rbegin(), it->second.ephemerals.rend());
  for (const auto& p : paths)
    if (find(p)) remove_node(p, zxid, triggers, nullptr);
  sessions_.erase(id);
}

// ---- snapshot encoding ----
// u32 version, i64 last_zxid, u32 ACL-list count, the ACL lists (position = reference),
// u64 node count, nodes (path, data-null flag, data, zxids, times, owner, versions, ACL ref),
// u64 session count, sessions (id, timeout, password). Children, ephemeral sets and the
// container/TTL indexes are derived on load.

namespace {
constexpr uint32_t kSnapshotVersion = 3;
}

void DataTree::encode_snapshot(Bytes& out) const {
  // One pass to size the buffer: the encoding runs on the loop thread, so no reallocation.
  size_t bytes = 64;
  for (const auto& [path, n] : nodes_) bytes += path.size() + n.data.size() + 73;
  out.reserve(out.size() + bytes + sessions_.size() * 40);
  Writer w(out);
  w.u32(kSnapshotVersion);
  w.i64(last_zxid_);
  w.u32(static_cast<uint32_t>(acls_.size()));
  for (uint32_t i = 0; i < acls_.size(); ++i) {
    const AclList& acl = acls_.get(i);
    w.u32(static_cast<uint32_t>(acl.size()));
    for (const auto& a : acl) {
      w.i32(a.perms);
      w.blob(a.id.scheme);
      w.blob(a.id.id);
    }
  }
  w.u64(nodes_.size());
  for (const auto& [path, n] : nodes_) {
    w.blob(path);
    w.boolean(n.data_null);
    w.blob(n.data);
    w.i64(n.czxid);
    w.i64(n.mzxid);
    w.i64(n.pzxid);
    w.i64(n.ctime);
    w.i64(n.mtime);
    w.i64(n.ephemeral_owner);
    w.i32(n.version);
    w.i32(n.cversion);
    w.i32(n.aversion);
    w.u32(n.acl);
  }
  w.u64(sessions_.size());
  for (const auto& [id, s] : sessions_) {
    w.i64(id);
    w.i32(s.timeout_ms);
    w.blob(s.password);
  }
}

bool DataTree::decode_snapshot(std::string_view bytes) {
  Reader r(bytes);
  if (r.u32() != kSnapshotVersion) return false;
  DataTree fresh;
  fresh.nodes_.clear();
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
  uint64_t count = r.u64();
  if (!r.ok() || count > bytes.size()) return false;
  fresh.nodes_.reserve(count);
  for (uint64_t i = 0; i < count && r.ok(); ++i) {
    std::string_view path = r.blob();
    Node n;
    n.data_null = r.boolean();
    n.data = std::string(r.blob());
    n.czxid = r.i64();
    n.mzxid = r.i64();
    n.pzxid = r.i64();
    n.ctime = r.i64();
    n.mtime = r.i64();
    n.ephemeral_owner = r.i64();
    n.version = r.i32();
    n.cversion = r.i32();
    n.aversion = r.i32();
    n.acl = r.u32();
    if (n.acl >= nacls) return false;
    fresh.nodes_.emplace(std::string(path), std::move(n));
  }
  uint64_t nsessions = r.u64();
  if (!r.ok() || nsessions > bytes.size()) return false;
  for (uint64_t i = 0; i < nsessions && r.ok(); ++i) {
    SessionId id = r.i64();
    auto& s = fresh.sessions_[id];
    s.timeout_ms = r.i32();
    s.password = std::string(r.blob());
  }
  if (!r.ok() || !r.at_end() || !fresh.find("/")) return false;
  // Rebuild the derived structures: children sets, ephemerals, container/TTL indexes.
  for (auto& [path, n] : fresh.nodes_) {
    if (path == "/") continue;
    Node* parent = fresh.find_mut(parent_of(path));
    if (!parent) return false;
    parent->children.insert(std::string(basename_of(path)));
    if (n.ephemeral_owner != 0) fresh.index_special(path, n, true);
  }
  *this = std::move(fresh);
  return true;
}

uint64_t DataTree::digest() const {
  uint64_t total = 0;
  for (const auto& [path, n] : nodes_) {
    Bytes b;
    Writer w(b);
    w.blob(path);
    w.blob(n.data);
    w.i64(n.czxid);
    w.i64(n.mzxid);
    w.i64(n.pzxid);
    w.i32(n.version);
    w.i32(n.cversion);
    w.i32(n.aversion);
    w.i64(n.ephemeral_owner);
    w.boolean(n.data_null);
    total += (uint64_t(crc32c(b)) << 32 | crc32c(b, 0x5bd1e995u)) * 0x9E3779B97F4A7C15ull;
  }
  return total;
}

}  // namespace conclave::state
