#include "state/tree.h"

#include "state/cluster_config.h"

#include <fmt/format.h>

#include <algorithm>

#include "common/assert.h"
#include "common/crc32c.h"
#include "state/acl.h"
#include "state/cluster_config.h"
#include "state/path.h"
#include "state/service_mirror.h"

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
  enum Kind { kCreated, kDeleted, kSetData, kSetAcl, kMeta } kind;
  std::string path;
  NodeMeta before;   // kDeleted: the removed node's fields; kSetData/kSetAcl: the node's old fields
  std::string data;  // kDeleted/kSetData: the old data
  bool data_null = false;
  int32_t parent_cversion = 0;
  int64_t parent_pzxid = 0;
  KvMeta meta = {};  // kMeta: the metadata before (empty: none)
};

static OpResult result_with(Code code) {
  OpResult r;
  r.code = code;
  return r;
}

std::string zk_session_uuid(SessionId id) {
  auto u = static_cast<uint64_t>(id);
  return fmt::format("00000000-0000-0000-{:04x}-{:012x}", u >> 48, u & 0xFFFFFFFFFFFFull);
}

static SessionId parse_zk_session_uuid(std::string_view uuid) {
  constexpr std::string_view kPrefix = "00000000-0000-0000-";
  if (uuid.size() != 36 || uuid.substr(0, kPrefix.size()) != kPrefix || uuid[23] != '-') return 0;
  uint64_t v = 0;
  for (size_t i = kPrefix.size(); i < uuid.size(); ++i) {
    if (i == 23) continue;
    char c = uuid[i];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) return 0;
    v = v << 4 | static_cast<uint64_t>(d);
  }
  return static_cast<SessionId>(v);
}

SessionId DataTree::session_by_uuid(std::string_view uuid) const {
  if (auto it = session_by_uuid_.find(std::string(uuid)); it != session_by_uuid_.end()) return it->second;
  SessionId id = parse_zk_session_uuid(uuid);
  auto s = sessions_.find(id);
  return s != sessions_.end() && !s->second.consul ? id : 0;
}

std::string DataTree::session_uuid(SessionId id) const {
  auto it = sessions_.find(id);
  if (it != sessions_.end() && it->second.consul) return it->second.spec.uuid;
  return zk_session_uuid(id);
}

const KvMeta* DataTree::kv_meta(std::string_view path) const {
  if (kv_meta_.empty()) return nullptr;
  auto it = kv_meta_.find(std::string(path));
  return it == kv_meta_.end() ? nullptr : &it->second;
}

bool DataTree::is_kv_key(const Node& n) const {
  if (n.parent() == kNoNodeId) return false;
  const KvMeta* m = kv_meta(n.path());
  return !m || !m->implicit;
}

SessionId DataTree::kv_holder(const Node& n) const {
  if (const KvMeta* m = kv_meta(n.path()); m && m->session) return m->session;
  return owner_is_session(n.ephemeral_owner()) ? n.ephemeral_owner() : 0;
}

int64_t DataTree::lock_delay_until(std::string_view path) const {
  auto it = lock_delay_.find(path);
  return it == lock_delay_.end() ? 0 : it->second;
}

void DataTree::set_meta(const std::string& path, const KvMeta& meta, std::vector<Undo>* undo) {
  KvMeta before;
  if (auto it = kv_meta_.find(path); it != kv_meta_.end()) before = it->second;
  if (undo) {
    Undo u{Undo::kMeta, path, {}, {}, false, 0, 0};
    u.meta = before;
    undo->push_back(std::move(u));
  }
  if (before.session != meta.session) {
    if (auto s = sessions_.find(before.session); s != sessions_.end()) s->second.held.erase(path);
    if (auto s = sessions_.find(meta.session); s != sessions_.end()) s->second.held.insert(path);
  }
  if (meta.empty()) kv_meta_.erase(path);
  else kv_meta_[path] = meta;
}

static std::string parent_str(std::string_view p) { return std::string(parent_of(p)); }

static bool special_path(std::string_view p) {
  return p == "/" || p == "/zookeeper" || p == "/zookeeper/quota" || p == "/zookeeper/config";
}

DataTree::DataTree() { init_system_nodes(); }

void DataTree::init_system_nodes() {
  store_.clear();
  index_.clear();
  acls_ = AclCache();
  NodeMeta open;
  open.acl = acls_.intern(open_acl_unsafe());
  NodeMeta read_only;
  read_only.acl = acls_.intern({Acl{perms::kRead, Id{"world", "anyone"}}});
  read_only.aversion = -1;
  NodeId root = add_node("/", {}, false, kNoNodeId, open);
  NodeId zk = add_node("/zookeeper", {}, false, root, open);
  add_node("/zookeeper/quota", {}, false, zk, open);
  add_node("/zookeeper/config", {}, false, zk, read_only);
}

NodeId DataTree::add_node(std::string_view path, std::string_view data, bool data_null, NodeId parent,
                          const NodeMeta& meta) {
  NodeId id = store_.create(path, data, data_null, parent, meta);
  index_.insert(store_, id);
  return id;
}

const Node* DataTree::find(std::string_view path) const {
  NodeId id = index_.find(store_, path);
  return id == kNoNodeId ? nullptr : &store_.at(id);
}

Node* DataTree::find_mut(std::string_view path) {
  NodeId id = index_.find(store_, path);
  return id == kNoNodeId ? nullptr : &store_.at(id);
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
  s.cversion = n.cversion() * 2 - static_cast<int32_t>(n.child_count());
  s.aversion = n.aversion();
  // Containers and TTL nodes keep their type in ephemeralOwner, but clients see 0.
  s.ephemeral_owner = owner_is_session(n.ephemeral_owner()) ? n.ephemeral_owner() : 0;
  s.data_length = static_cast<int32_t>(n.data().size());
  s.num_children = static_cast<int32_t>(n.child_count());
  s.pzxid = n.pzxid();
  return s;
}

int32_t DataTree::count_descendants(std::string_view path) const {
  const Node* n = find(path);
  if (!n) return 0;
  int32_t count = 0;
  std::vector<const Node*> stack{n};
  while (!stack.empty()) {
    const Node* cur = stack.back();
    stack.pop_back();
    for (const NodeId* k = cur->kids_begin(); k != cur->kids_end(); ++k) {
      ++count;
      stack.push_back(&store_.at(*k));
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
  for (NodeId id = 0; id < store_.capacity(); ++id) {
    if (!store_.in_use(id)) continue;
    const Node& n = store_.at(id);
    total += n.path().size() + n.data().size();
  }
  return total;
}

void DataTree::index_special(std::string_view path, const Node& n, bool add) {
  auto update = [&](std::set<std::string, std::less<>>& set) {
    if (add) {
      set.emplace(path);
    } else if (auto it = set.find(path); it != set.end()) {
      set.erase(it);
    }
  };
  if (owner_is_container(n.ephemeral_owner())) {
    update(containers_);
  } else if (owner_is_ttl(n.ephemeral_owner())) {
    update(ttls_);
  } else if (owner_is_session(n.ephemeral_owner())) {
    auto it = sessions_.find(n.ephemeral_owner());
    if (it != sessions_.end()) update(it->second.ephemerals);
  }
}

std::vector<std::string> DataTree::reap_candidates(int64_t now_ms) const {
  std::vector<std::string> out;
  for (const auto& p : containers_) {
    const Node* n = find(p);
    if (n && !n->has_children() && n->cversion() > 0) out.push_back(p);
  }
  for (const auto& p : ttls_) {
    const Node* n = find(p);
    if (!n || n->has_children()) continue;
    int64_t ttl = n->ephemeral_owner() & ~kTtlOwnerMask;
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
    case CommandKind::kUserEvent:  // for the front-ends' eyes only
      break;
    case CommandKind::kCreateSession: {
      if (sessions_.count(cmd.session) || (cmd.consul && session_by_uuid_.count(cmd.consul_session.uuid))) {
        out.code = Code::kNodeExists;  // the leader picked an id in use: refuse, never merge
        break;
      }
      auto& s = sessions_[cmd.session];
      s.timeout_ms = cmd.timeout_ms;
      s.password = cmd.password;
      s.create_index = zxid;
      if (cmd.consul) {
        s.consul = true;
        s.spec = cmd.consul_session;
        session_by_uuid_[s.spec.uuid] = cmd.session;
      }
      break;
    }
    case CommandKind::kCloseSession:
      if (!sessions_.count(cmd.session)) {
        out.code = Code::kSessionExpired;
        break;
      }
      close_session(cmd.session, cmd.time_ms, zxid, &out.triggers);
      {
        Catalog::Effects fx;
        finish_catalog(cmd, zxid, &fx, &out);
      }
      break;
    case CommandKind::kReap: {
      const Node* n = find(cmd.reap_path);
      bool still_due = false;
      if (n && !n->has_children()) {
        if (owner_is_container(n->ephemeral_owner())) still_due = n->cversion() > 0;
        if (owner_is_ttl(n->ephemeral_owner()))
          still_due = cmd.time_ms - n->mtime > (n->ephemeral_owner() & ~kTtlOwnerMask);
      }
      if (still_due) remove_node(cmd.reap_path, zxid, &out.triggers, nullptr);
      else out.code = Code::kNoNode;
      Catalog::Effects fx;
      finish_catalog(cmd, zxid, &fx, &out);
      break;
    }
    case CommandKind::kTxn: {
      if (cmd.session != 0 && !sessions_.count(cmd.session)) {
        out.code = Code::kSessionExpired;
        out.results.resize(cmd.ops.size(), result_with(Code::kSessionExpired));
        break;
      }
      std::vector<Undo> undo;
      std::vector<Trigger> triggers;
      Catalog::Effects fx;
      Catalog::Undo catalog_undo;
      catalog_fx_ = &fx;
      catalog_undo_ = cmd.multi ? &catalog_undo : nullptr;
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
          catalog_.rollback(catalog_undo);
          fx = Catalog::Effects{};
          for (size_t i = 0; i < cmd.ops.size(); ++i) {
            if (i < failed_at) out.results[i] = result_with(Code::kOk);
            if (i > failed_at) out.results[i] = result_with(Code::kRuntimeInconsistency);
          }
          triggers.clear();
        }
      }
      catalog_fx_ = nullptr;
      catalog_undo_ = nullptr;
      invalidate_sessions(fx, cmd.time_ms, zxid, &triggers);
      out.triggers = std::move(triggers);
      finish_catalog(cmd, zxid, &fx, &out);
      break;
    }
    case CommandKind::kMembership:
      out.code = apply_membership(cmd.member, cmd.time_ms, zxid, &out.triggers);
      break;
  }
  return out;
}

ClusterConfig DataTree::cluster_config() const {
  const Node* n = find("/zookeeper/config");
  return n ? parse_cluster_config(n->data()) : ClusterConfig{};
}

Code DataTree::apply_membership(const MemberOp& op, int64_t time_ms, int64_t zxid, std::vector<Trigger>* triggers) {
  static const std::string kPath = "/zookeeper/config";
  Node* n = find_mut(kPath);
  CONCLAVE_ASSERT(n != nullptr, "the tree always holds /zookeeper/config");
  const std::string old_text(n->data());
  const ClusterConfig before = parse_cluster_config(old_text);
  ClusterConfig cfg = before;
  auto given = op.spec.empty() ? std::nullopt : parse_server_spec(op.spec);
  auto from_raft = spec_from_raft_address(op.raft_address, op.change == MemberChange::kAddLearner);
  auto it = cfg.servers.find(op.id);
  switch (op.change) {
    case MemberChange::kAddVoter:
    case MemberChange::kAddLearner: {
      const bool observer = op.change == MemberChange::kAddLearner;
      if (given) cfg.servers[op.id] = *given;
      else if (it == cfg.servers.end() && from_raft) cfg.servers[op.id] = *from_raft;
      if (cfg.servers.count(op.id)) cfg.servers[op.id].observer = observer;
      break;
    }
    case MemberChange::kRemove:
      if (it != cfg.servers.end()) cfg.servers.erase(it);
      break;
    case MemberChange::kAnnounce:
      // A member publishes its client address; a line given to reconfig keeps its addresses.
      if (!given) return Code::kBadArguments;
      if (it == cfg.servers.end()) cfg.servers[op.id] = *given;
      else if (!it->second.has_client()) {
        it->second.client_host = given->client_host;
        it->second.client_port = given->client_port;
      }
      break;
  }
  if (before.servers == cfg.servers) return Code::kOk;  // nothing to publish
  cfg.version = zxid;
  touch_node(n, kPath, render_cluster_config(cfg), zxid, time_ms ? time_ms : n->mtime, triggers, nullptr);
  return Code::kOk;
}

Code DataTree::apply_op(const Op& op, const Command& cmd, int64_t zxid, OpResult* result,
                        std::vector<Trigger>* triggers, std::vector<Undo>* undo) {
  if (auto* o = std::get_if<CreateOp>(&op)) return do_create(*o, cmd, zxid, result, triggers, undo);
  if (auto* o = std::get_if<DeleteOp>(&op)) return do_delete(*o, cmd, zxid, triggers, undo);
  if (auto* o = std::get_if<SetDataOp>(&op)) return do_set_data(*o, cmd, zxid, result, triggers, undo);
  if (auto* o = std::get_if<SetAclOp>(&op)) return do_set_acl(*o, cmd, zxid, result, undo);
  if (auto* o = std::get_if<KvOp>(&op)) return do_kv(*o, cmd, zxid, result, triggers, undo);
  if (auto* o = std::get_if<CatalogRegisterOp>(&op)) return do_catalog(*o, zxid, result);
  if (auto* o = std::get_if<CatalogDeregisterOp>(&op)) return do_catalog(*o, zxid, result);
  if (auto* o = std::get_if<CheckUpdateOp>(&op)) return do_catalog(*o, zxid, result);
  if (auto* o = std::get_if<CatalogTxnOp>(&op)) {
    CONCLAVE_ASSERT(catalog_fx_ != nullptr, "catalog ops apply inside a kTxn command");
    result->error = catalog_.apply(*o, zxid, catalog_fx_, catalog_undo_, &result->catalog);
    return result->error.empty() ? Code::kOk : Code::kBadArguments;
  }
  return do_check(std::get<CheckOp>(op), cmd);
}

template <class CatalogOp>
Code DataTree::do_catalog(const CatalogOp& op, int64_t zxid, OpResult* result) {
  CONCLAVE_ASSERT(catalog_fx_ != nullptr, "catalog ops apply inside a kTxn command");
  result->error = catalog_.apply(op, zxid, catalog_fx_, catalog_undo_);
  return result->error.empty() ? Code::kOk : Code::kBadArguments;
}

void DataTree::finish_catalog(const Command& cmd, int64_t zxid, Catalog::Effects* fx, ApplyResult* out) {
  mirror_services(cmd, zxid, fx, &out->triggers);
  std::sort(fx->changed.begin(), fx->changed.end());
  fx->changed.erase(std::unique(fx->changed.begin(), fx->changed.end()), fx->changed.end());
  out->catalog_changes = std::move(fx->changed);
}

void DataTree::mirror_services(const Command& cmd, int64_t zxid, Catalog::Effects* fx,
                               std::vector<Trigger>* triggers) {
  // ZooKeeper -> catalog: ServiceInstance znodes that ZooKeeper clients created, changed or
  // deleted (the mirror's own znodes excluded).
  std::set<std::string> touched;
  std::string name, id;
  for (const auto& t : *triggers)
    if (split_mirror_path(t.path, &name, &id) && !mirrored_.count(t.path)) touched.insert(t.path);
  for (const auto& path : touched) {
    split_mirror_path(path, &name, &id);
    const Node* n = find(path);
    std::optional<CuratorInstance> inst;
    if (n) inst = parse_curator_instance(n->data());
    if (!inst) {
      catalog_.apply(CatalogDeregisterOp{std::string(kZooKeeperNode), id, ""}, zxid, fx, nullptr);
      continue;
    }
    CatalogRegisterOp op;
    op.node.name = std::string(kZooKeeperNode);
    op.node.meta = {{"conclave-source", "zookeeper"}};
    op.has_service = true;
    op.service.id = id;
    op.service.name = name;
    op.service.address = inst->address;
    op.service.port = inst->port;
    op.service.meta = inst->meta;
    CheckSpec check;
    check.id = "zookeeper:" + id;
    check.name = "ZooKeeper registration";
    check.service_id = id;
    check.type = "zookeeper";
    check.status = std::string(inst->enabled ? kPassing : kCritical);
    check.output = !inst->enabled ? "disabled in ZooKeeper (enabled: false)"
                   : owner_is_session(n->ephemeral_owner())
                       ? fmt::format("ephemeral znode {} of ZooKeeper session 0x{:x}", path, n->ephemeral_owner())
                       : fmt::format("persistent znode {}", path);
    op.checks.push_back(std::move(check));
    catalog_.apply(op, zxid, fx, nullptr);
  }

  // Catalog -> ZooKeeper: each instance the command touched is mirrored again (and only those:
  // a write to one of 5,000 instances costs one znode, not 5,000).
  if (fx->touched.empty()) return;
  std::sort(fx->touched.begin(), fx->touched.end());
  fx->touched.erase(std::unique(fx->touched.begin(), fx->touched.end()), fx->touched.end());
  Command as_leader;
  as_leader.time_ms = cmd.time_ms;
  as_leader.auth = {Id{"super", ""}};
  static const AclList kReadOnly{Acl{perms::kRead, Id{"world", "anyone"}}};
  for (const auto& [service, node, sid] : fx->touched) {
    if (node == kZooKeeperNode || service.empty() || service.find('/') != std::string::npos) continue;
    const std::string path = std::string(kServicesRoot) + "/" + service + "/" + mirror_znode_name(sid, node);
    if (!valid_path(path)) continue;
    // Desired: the instance still exists under this name and has no critical check.
    std::string json;
    const auto* ne = catalog_.node(node);
    auto svc = ne ? ne->services.find(sid) : decltype(ne->services.end()){};
    if (ne && svc != ne->services.end() && svc->second.spec.name == service) {
      bool critical = false;
      for (const auto& [cid, c] : ne->checks)
        critical = critical || ((c.spec.service_id.empty() || c.spec.service_id == sid) && c.spec.status == kCritical);
      const Node* existing = find(path);
      if (!critical)
        json = curator_instance_json(mirror_znode_name(sid, node), ne->spec, svc->second.spec,
                                     existing ? existing->ctime : cmd.time_ms);
    }
    const bool mirrored = mirrored_.count(path) != 0;
    const Node* existing = find(path);
    if (json.empty()) {
      if (mirrored) {
        mirrored_.erase(path);
        kv_delete(path, as_leader, zxid, triggers, nullptr);
      }
      continue;
    }
    if (existing && !mirrored) continue;  // a ZooKeeper client's znode of that name wins
    if (existing && existing->data() == json) continue;
    if (kv_write(path, json, as_leader, zxid, triggers, nullptr) != Code::kOk) continue;
    mirrored_.insert(path);
    if (!existing) find_mut(path)->acl = acls_.intern(kReadOnly);
  }
}

void DataTree::invalidate_sessions(const Catalog::Effects& fx, int64_t time_ms, int64_t zxid,
                                   std::vector<Trigger>* triggers) {
  if (fx.lost_checks.empty() && fx.removed_nodes.empty()) return;
  auto has = [](const std::vector<std::string>& v, const std::string& x) {
    return std::find(v.begin(), v.end(), x) != v.end();
  };
  std::vector<SessionId> doomed;
  for (const auto& [id, s] : sessions_) {
    if (!s.consul) continue;
    bool lost = has(fx.removed_nodes, s.spec.node);
    for (const auto& [node, check] : fx.lost_checks)
      lost = lost || (node == s.spec.node && (has(s.spec.node_checks, check) || has(s.spec.service_checks, check)));
    if (lost) doomed.push_back(id);
  }
  std::sort(doomed.begin(), doomed.end());  // the same order on every replica
  for (SessionId id : doomed) close_session(id, time_ms, zxid, triggers);
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
  const NodeId parent_id = index_.find(store_, parent_path);
  if (parent_id == kNoNodeId) return Code::kNoNode;
  const Node* parent = &store_.at(parent_id);
  if (!acl_allows(acls_.get(parent->acl), perms::kCreate, cmd.auth)) return Code::kNoAuth;
  std::string path = op.path;
  if (is_sequential(op.mode)) path += fmt::format("{:010d}", parent->cversion());
  if (!valid_path(path)) return Code::kBadArguments;
  if (find(path)) return Code::kNodeExists;
  if (owner_is_session(parent->ephemeral_owner())) return Code::kNoChildrenForEphemerals;

  if (undo) undo->push_back(Undo{Undo::kCreated, path, {}, {}, false, parent->cversion(), parent->pzxid()});
  store_.set_cversion(parent_id, parent->cversion() + 1);
  store_.set_pzxid(parent_id, zxid);
  NodeMeta m;
  m.czxid = m.mzxid = m.pzxid = zxid;
  m.ctime = m.mtime = cmd.time_ms;
  m.acl = acls_.intern(acl);
  if (is_ephemeral(op.mode)) m.ephemeral_owner = cmd.session;
  else if (op.mode == CreateMode::kContainer) m.ephemeral_owner = kContainerOwner;
  else if (is_ttl(op.mode)) m.ephemeral_owner = ttl_owner(op.ttl_ms);
  const Node& n = store_.at(add_node(path, op.data, op.data_null, parent_id, m));
  index_special(path, n, true);
  result->path = path;
  result->stat = stat_of(n);
  triggers->push_back({EventType::kNodeCreated, path});
  triggers->push_back({EventType::kNodeChildrenChanged, parent_path});
  return Code::kOk;
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
  if (n->has_children()) return Code::kNotEmpty;
  remove_node(op.path, zxid, triggers, undo);
  return Code::kOk;
}

void DataTree::remove_node(std::string_view path_view, int64_t zxid, std::vector<Trigger>* triggers,
                           std::vector<Undo>* undo) {
  std::string path(path_view);  // the caller's view may point into the node being removed
  NodeId id = index_.find(store_, path);
  CONCLAVE_ASSERT(id != kNoNodeId, "remove of a missing node");
  const Node& n = store_.at(id);
  CONCLAVE_ASSERT(n.parent() != kNoNodeId, "node without parent");
  const NodeId parent_id = n.parent();
  const Node& parent = store_.at(parent_id);
  std::string parent_path(parent.path());
  index_special(path, n, false);
  if (!kv_meta_.empty() && kv_meta_.count(path)) set_meta(path, KvMeta{}, undo);
  if (undo) {
    undo->push_back(Undo{Undo::kDeleted, path, n.meta(), std::string(n.data()), n.data_null(), parent.cversion(),
                         parent.pzxid()});
  }
  index_.erase(store_, path);
  store_.destroy(id);
  if (zxid > parent.pzxid()) store_.set_pzxid(parent_id, zxid);
  triggers->push_back({EventType::kNodeDeleted, std::move(path)});
  triggers->push_back({EventType::kNodeChildrenChanged, std::move(parent_path)});
}

Code DataTree::do_set_data(const SetDataOp& op, const Command& cmd, int64_t zxid, OpResult* result,
                           std::vector<Trigger>* triggers, std::vector<Undo>* undo) {
  if (!valid_path(op.path)) return Code::kBadArguments;
  Node* n = find_mut(op.path);
  if (!n) return Code::kNoNode;
  if (!acl_allows(acls_.get(n->acl), perms::kWrite, cmd.auth)) return Code::kNoAuth;
  if (op.version != -1 && op.version != n->version) return Code::kBadVersion;
  if (undo) undo->push_back(Undo{Undo::kSetData, op.path, n->meta(), std::string(n->data()), n->data_null(), 0, 0});
  store_.set_data(index_.find(store_, op.path), op.data, op.data_null);
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
  if (op.version != -1 && op.version != n->aversion()) return Code::kBadVersion;
  if (undo) undo->push_back(Undo{Undo::kSetAcl, op.path, n->meta(), {}, false, 0, 0});
  n->acl = acls_.intern(acl);
  store_.set_aversion(index_.find(store_, op.path), n->aversion() + 1);
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
        NodeId id = index_.find(store_, u.path);
        CONCLAVE_ASSERT(id != kNoNodeId, "rollback of a create whose node is gone");
        index_special(u.path, store_.at(id), false);
        const NodeId parent_id = store_.at(id).parent();
        index_.erase(store_, u.path);
        store_.destroy(id);
        store_.set_cversion(parent_id, u.parent_cversion);
        store_.set_pzxid(parent_id, u.parent_pzxid);
        break;
      }
      case Undo::kDeleted: {
        NodeId parent_id = index_.find(store_, parent_of(u.path));
        store_.set_cversion(parent_id, u.parent_cversion);
        store_.set_pzxid(parent_id, u.parent_pzxid);
        NodeId id = add_node(u.path, u.data, u.data_null, parent_id, u.before);
        index_special(u.path, store_.at(id), true);
        break;
      }
      case Undo::kSetData: {
        NodeId id = index_.find(store_, u.path);
        store_.set_data(id, u.data, u.data_null);
        Node* n = &store_.at(id);
        n->mzxid = u.before.mzxid;
        n->mtime = u.before.mtime;
        n->version = u.before.version;
        break;
      }
      case Undo::kSetAcl: {
        const NodeId id = index_.find(store_, u.path);
        store_.at(id).acl = u.before.acl;
        store_.set_aversion(id, u.before.aversion);
        break;
      }
      case Undo::kMeta:
        set_meta(u.path, u.meta, nullptr);
        break;
    }
  }
}

void DataTree::close_session(SessionId id, int64_t time_ms, int64_t zxid, std::vector<Trigger>* triggers) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return;
  // Consul's session invalidation: every held key is released (or deleted, Behavior=delete),
  // and may not be acquired again until the lock delay has passed.
  for (auto d = lock_delay_.begin(); d != lock_delay_.end();) d = d->second <= time_ms ? lock_delay_.erase(d) : std::next(d);
  const bool consul = it->second.consul;
  const ConsulSessionSpec spec = it->second.spec;
  std::vector<std::string> held(it->second.held.begin(), it->second.held.end());
  Command as_leader;
  as_leader.time_ms = time_ms;
  as_leader.auth = {Id{"super", ""}};
  for (const auto& p : held) {
    if (consul && spec.lock_delay_ms > 0) lock_delay_[p] = time_ms + spec.lock_delay_ms;
    Node* n = find_mut(p);
    if (!n) continue;
    if (consul && spec.behavior == 1) {
      kv_delete(p, as_leader, zxid, triggers, nullptr);
    } else {
      KvMeta m = *kv_meta(p);
      m.session = 0;
      set_meta(p, m, nullptr);
      n->mzxid = zxid;
      n->mtime = time_ms;
      n->version++;
      triggers->push_back({EventType::kNodeDataChanged, p});
    }
  }
  if (consul) session_by_uuid_.erase(spec.uuid);
  it = sessions_.find(id);
  // Deepest paths first so that a (theoretical) nested ephemeral never blocks its parent.
  std::vector<std::string> paths(it->second.ephemerals.rbegin(), it->second.ephemerals.rend());
  for (const auto& p : paths)
    if (find(p)) remove_node(p, zxid, triggers, nullptr);
  sessions_.erase(id);
}

// ---- Consul KV (docs/consul.md, "One namespace, two views") ----

void DataTree::touch_node(Node* n, const std::string& path, const std::string& value, int64_t zxid,
                          int64_t time_ms, std::vector<Trigger>* triggers, std::vector<Undo>* undo) {
  if (undo) undo->push_back(Undo{Undo::kSetData, path, n->meta(), std::string(n->data()), n->data_null(), 0, 0});
  store_.set_data(index_.find(store_, path), value, false);
  n->mzxid = zxid;
  n->mtime = time_ms;
  n->version++;
  triggers->push_back({EventType::kNodeDataChanged, path});
}

Code DataTree::kv_write(const std::string& path, const std::string& value, const Command& cmd, int64_t zxid,
                        std::vector<Trigger>* triggers, std::vector<Undo>* undo) {
  if (!valid_path(path) || path == "/") return Code::kBadArguments;
  if (Node* n = find_mut(path)) {
    if (!acl_allows(acls_.get(n->acl), perms::kWrite, cmd.auth)) return Code::kNoAuth;
    touch_node(n, path, value, zxid, cmd.time_ms, triggers, undo);
    return Code::kOk;
  }
  // Create the missing ancestors (implicit parents) and the key, shallowest first.
  std::vector<std::string> missing{path};
  std::string p = parent_str(path);
  while (p != "/" && !find(p)) {
    missing.push_back(p);
    p = parent_str(p);
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    const std::string& cur = *it;
    std::string parent_path = parent_str(cur);
    const NodeId parent_id = index_.find(store_, parent_path);
    if (parent_id == kNoNodeId) return Code::kNoNode;
    const Node* parent = &store_.at(parent_id);
    if (!acl_allows(acls_.get(parent->acl), perms::kCreate, cmd.auth)) return Code::kNoAuth;
    if (owner_is_session(parent->ephemeral_owner())) return Code::kNoChildrenForEphemerals;
    if (undo) undo->push_back(Undo{Undo::kCreated, cur, {}, {}, false, parent->cversion(), parent->pzxid()});
    store_.set_cversion(parent_id, parent->cversion() + 1);
    store_.set_pzxid(parent_id, zxid);
    NodeMeta m;
    m.czxid = m.mzxid = m.pzxid = zxid;
    m.ctime = m.mtime = cmd.time_ms;
    m.acl = acls_.intern(open_acl_unsafe());
    add_node(cur, cur == path ? std::string_view(value) : std::string_view(), false, parent_id, m);
    if (cur != path) {
      KvMeta im;
      im.implicit = true;
      set_meta(cur, im, undo);
    }
    triggers->push_back({EventType::kNodeCreated, cur});
    triggers->push_back({EventType::kNodeChildrenChanged, parent_path});
  }
  return Code::kOk;
}

void DataTree::kv_prune_implicit(std::string from, int64_t zxid, std::vector<Trigger>* triggers,
                                 std::vector<Undo>* undo) {
  for (std::string p = std::move(from); !p.empty() && p != "/"; p = parent_str(p)) {
    const Node* n = find(p);
    const KvMeta* m = n ? kv_meta(p) : nullptr;
    if (!n || n->has_children() || !m || !m->implicit) break;
    remove_node(p, zxid, triggers, undo);
  }
}

Code DataTree::kv_delete(const std::string& path, const Command& cmd, int64_t zxid, std::vector<Trigger>* triggers,
                         std::vector<Undo>* undo) {
  Node* n = find_mut(path);
  if (!n || !is_kv_key(*n) || special_path(path)) return Code::kOk;  // Consul: deleting nothing succeeds
  const Node& parent = store_.at(n->parent());
  if (!acl_allows(acls_.get(parent.acl), perms::kDelete, cmd.auth)) return Code::kNoAuth;
  if (n->has_children()) {
    // Other keys live below it: the znode stays, as an implicit parent without data.
    touch_node(n, path, std::string(), zxid, cmd.time_ms, triggers, undo);
    KvMeta im;
    im.implicit = true;
    set_meta(path, im, undo);
    return Code::kOk;
  }
  remove_node(path, zxid, triggers, undo);
  kv_prune_implicit(parent_str(path), zxid, triggers, undo);
  return Code::kOk;
}

std::vector<std::string> DataTree::prefix_subtree(std::string_view dir, std::string_view fragment) const {
  std::vector<std::string> out;
  const Node* d = find(dir);
  if (!d) return out;
  std::vector<std::string> stack;
  for_each_child(*d, [&](std::string_view name) {
    if (name.substr(0, fragment.size()) != fragment) return;
    if (dir == "/" && name == "zookeeper") return;
    stack.push_back(dir == "/" ? "/" + std::string(name) : std::string(dir) + "/" + std::string(name));
  });
  while (!stack.empty()) {
    std::string p = std::move(stack.back());
    stack.pop_back();
    const Node* n = find(p);
    if (!n) continue;
    for_each_child(*n, [&](std::string_view name) { stack.push_back(p + "/" + std::string(name)); });
    out.push_back(std::move(p));
  }
  return out;
}

void DataTree::kv_scan(std::string_view dir, std::string_view fragment, std::vector<std::string>* paths) const {
  for (auto& p : prefix_subtree(dir, fragment))
    if (is_kv_key(*find(p))) paths->push_back(std::move(p));
}

KvRead DataTree::kv_read(const Node& n) const {
  KvRead r;
  r.path = std::string(n.path());
  r.value = std::string(n.data());
  if (const KvMeta* m = kv_meta(n.path())) {
    r.flags = m->flags;
    r.lock_index = m->lock_index;
  }
  r.session = kv_holder(n);
  r.create_index = n.czxid;
  r.modify_index = n.mzxid;
  return r;
}

Code DataTree::do_kv(const KvOp& op, const Command& cmd, int64_t zxid, OpResult* result,
                     std::vector<Trigger>* triggers, std::vector<Undo>* undo) {
  Code c = do_kv_op(op, cmd, zxid, result, triggers, undo);
  if (c != Code::kOk) return c;
  switch (op.verb) {
    case KvVerb::kDelete:
    case KvVerb::kDeleteCas:
    case KvVerb::kDeleteTree:
    case KvVerb::kCheckNotExists:
      break;
    case KvVerb::kGetTree: {
      auto slash = op.path.rfind('/');
      std::vector<std::string> paths;
      kv_scan(slash == 0 ? std::string_view("/") : std::string_view(op.path).substr(0, slash),
              std::string_view(op.path).substr(slash + 1), &paths);
      std::sort(paths.begin(), paths.end());
      for (const auto& p : paths) result->kv.push_back(kv_read(*find(p)));
      break;
    }
    default:
      if (const Node* n = find(op.path)) result->kv.push_back(kv_read(*n));
  }
  return Code::kOk;
}

Code DataTree::do_kv_op(const KvOp& op, const Command& cmd, int64_t zxid, OpResult* result,
                        std::vector<Trigger>* triggers, std::vector<Undo>* undo) {
  result->path = op.path;
  if (op.verb != KvVerb::kDeleteTree && op.verb != KvVerb::kGetTree && (!valid_path(op.path) || op.path == "/"))
    return Code::kBadArguments;
  Node* n = find_mut(op.path);
  const bool exists = n && is_kv_key(*n);
  const KvMeta* meta = exists ? kv_meta(op.path) : nullptr;
  KvMeta m = meta ? *meta : KvMeta{};
  auto write = [&](const KvMeta& next) {
    Code c = kv_write(op.path, op.value, cmd, zxid, triggers, undo);
    if (c != Code::kOk) return c;
    KvMeta fixed = next;
    fixed.implicit = false;
    set_meta(op.path, fixed, undo);
    if (const Node* w = find(op.path)) result->stat = stat_of(*w);
    return Code::kOk;
  };
  switch (op.verb) {
    case KvVerb::kSet:
      m.flags = op.flags;
      return write(m);
    case KvVerb::kCas:
      if (op.index == 0 ? exists : (!exists || n->mzxid != op.index)) return Code::kBadVersion;
      m.flags = op.flags;
      return write(m);
    case KvVerb::kLock: {
      if (!sessions_.count(op.session)) return Code::kSessionExpired;
      SessionId holder = exists ? kv_holder(*n) : 0;
      if (holder && holder != op.session) return Code::kBadVersion;
      if (holder != op.session && lock_delay_until(op.path) > cmd.time_ms) return Code::kBadVersion;
      m.flags = op.flags;
      if (holder != op.session) m.lock_index++;
      m.session = op.session;
      return write(m);
    }
    case KvVerb::kUnlock:
      if (!sessions_.count(op.session)) return Code::kSessionExpired;
      if (!exists || m.session != op.session) return Code::kBadVersion;
      m.flags = op.flags;
      m.session = 0;
      return write(m);
    case KvVerb::kGet:
      return exists ? Code::kOk : Code::kNoNode;
    case KvVerb::kGetTree:
      return Code::kOk;
    case KvVerb::kCheckIndex:
      if (!exists) return Code::kNoNode;
      return n->mzxid == op.index ? Code::kOk : Code::kBadVersion;
    case KvVerb::kCheckSession:
      if (!exists) return Code::kNoNode;
      return kv_holder(*n) == op.session ? Code::kOk : Code::kBadVersion;
    case KvVerb::kCheckNotExists:
      return exists ? Code::kNodeExists : Code::kOk;
    case KvVerb::kDelete:
      return kv_delete(op.path, cmd, zxid, triggers, undo);
    case KvVerb::kDeleteCas:
      if (!exists) return Code::kOk;
      if (n->mzxid != op.index) return Code::kBadVersion;
      return kv_delete(op.path, cmd, zxid, triggers, undo);
    case KvVerb::kDeleteTree: {
      // Every key whose name starts with the prefix: the children of the prefix's directory whose
      // names start with its last fragment, and everything below them.
      auto slash = op.path.rfind('/');
      if (slash == std::string::npos) return Code::kBadArguments;
      std::string dir = slash == 0 ? "/" : op.path.substr(0, slash);
      std::string fragment = op.path.substr(slash + 1);
      // Reversed pre-order: every node after its descendants, so each is childless when removed.
      auto nodes = prefix_subtree(dir, fragment);
      for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) {
        const Node* c = find(*it);
        if (!acl_allows(acls_.get(store_.at(c->parent()).acl), perms::kDelete, cmd.auth)) return Code::kNoAuth;
        remove_node(*it, zxid, triggers, undo);
      }
      kv_prune_implicit(dir, zxid, triggers, undo);
      return Code::kOk;
    }
  }
  return Code::kBadArguments;
}

uint64_t DataTree::digest() const {
  uint64_t total = 0;
  Bytes b;
  for (NodeId id = 0; id < store_.capacity(); ++id) {
    if (!store_.in_use(id)) continue;
    const Node& n = store_.at(id);
    b.clear();
    Writer w(b);
    w.blob(n.path());
    w.blob(n.data());
    w.i64(n.czxid);
    w.i64(n.mzxid);
    w.i64(n.pzxid());
    w.i32(n.version);
    w.i32(n.cversion());
    w.i32(n.aversion());
    w.i64(n.ephemeral_owner());
    w.boolean(n.data_null());
    for (const Acl& a : acls_.get(n.acl)) {  // the list, not its number in this replica's cache
      w.i32(a.perms);
      w.blob(a.id.scheme);
      w.blob(a.id.id);
    }
    total += (uint64_t(crc32c(b)) << 32 | crc32c(b, 0x5bd1e995u)) * 0x9E3779B97F4A7C15ull;
  }
  for (const auto& [id, s] : sessions_) {
    b.clear();
    Writer w(b);
    w.i64(id);
    w.i32(s.timeout_ms);
    w.blob(s.password);
    for (const auto& p : s.ephemerals) w.blob(p);
    w.u32(0xE9E9E9E9u);
    w.boolean(s.consul);
    w.blob(s.spec.uuid);
    w.blob(s.spec.name);
    w.blob(s.spec.node);
    w.u8(s.spec.behavior);
    w.i64(s.spec.ttl_ms);
    w.i64(s.spec.lock_delay_ms);
    for (const auto& c : s.spec.node_checks) w.blob(c);
    w.u32(0xC4C4C4C4u);
    for (const auto& c : s.spec.service_checks) w.blob(c);
    w.i64(s.create_index);
    for (const auto& p : s.held) w.blob(p);
    total += (uint64_t(crc32c(b, 0x5E55u)) << 32 | crc32c(b, 0x10Eu)) * 0xFF51AFD7ED558CCDull;
  }
  for (const auto& [path, until] : lock_delay_) {
    b.clear();
    Writer w(b);
    w.blob(path);
    w.i64(until);
    total += uint64_t(crc32c(b, 0xDE1A7u)) * 0xC4CEB9FE1A85EC53ull;
  }
  for (const auto& [path, m] : kv_meta_) {
    b.clear();
    Writer w(b);
    w.blob(path);
    w.u64(m.flags);
    w.u64(m.lock_index);
    w.i64(m.session);
    w.boolean(m.implicit);
    total += (uint64_t(crc32c(b, 0x1234567u)) << 32 | crc32c(b, 0x7654321u)) * 0xC2B2AE3D27D4EB4Full;
  }
  for (const auto& p : mirrored_) total += uint64_t(crc32c(p, 0x5eed)) * 0xD6E8FEB86659FD93ull;
  return total + catalog_.digest();
}

}  // namespace conclave::state
