// The replicated state machine: ZooKeeper's data tree plus the session table.
//
// Owns: znodes (data, Stat, ACL), sessions and their ephemerals, the indexes of container and
// TTL nodes, and the encoding of all of it into a snapshot. Applies commands (command.h) in log
// order and reports what changed (ApplyResult::triggers) so that each node's watch registry can
// notify its clients.
//
// Must never: read a clock, touch a file or socket, or depend on anything but the command and
// the current state — every node applies the same entries and must reach the same state.
// Not thread-safe: the owning server applies and reads on one thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/bytes.h"
#include "state/catalog.h"
#include "state/cluster_config.h"
#include "state/command.h"
#include "state/node_store.h"
#include "state/types.h"

namespace conclave::state {

/// Interned ACL lists; nodes refer to them by number (as ZooKeeper's ReferenceCountedACLCache).
/// Entries are never freed while the process runs; a snapshot load rebuilds the cache from the
/// lists still in use.
class AclCache {
 public:
  uint32_t intern(const AclList& acl);
  const AclList& get(uint32_t ref) const { return lists_[ref]; }
  size_t size() const { return lists_.size(); }

 private:
  std::vector<AclList> lists_;
  std::map<AclList, uint32_t> index_;
};

/// One table for ZooKeeper and Consul sessions. A ZooKeeper session shows through the Consul API
/// as a session named by consul_uuid() whose ephemerals are keys it holds; a Consul session holds
/// the keys it acquired.
struct SessionInfo {
  int32_t timeout_ms = 0;
  std::string password;
  std::set<std::string, std::less<>> ephemerals;
  bool consul = false;
  ConsulSessionSpec spec;  // consul only
  int64_t create_index = 0;
  std::set<std::string, std::less<>> held;  // consul only: paths of keys acquired (KvMeta::session)
  /// How long the session may stay silent before the leader expires it (0: never). Consul
  /// invalidates a TTL session after twice its TTL (its sessionTTLMultiplier).
  int64_t liveness_ms() const { return consul ? spec.ttl_ms * 2 : timeout_ms; }
};

/// The Consul view of a ZooKeeper session id (and back): "00000000-0000-0000-" + 16 hex digits.
std::string zk_session_uuid(SessionId id);

/// Consul metadata of a znode. Stored beside the node only when it has any, so znodes that never
/// had Consul metadata cost nothing extra.
struct KvMeta {
  uint64_t flags = 0;
  uint64_t lock_index = 0;
  SessionId session = 0;  // the Consul session holding the key (acquire)
  /// A parent created only because a KV write needed it: a znode for ZooKeeper clients, no key for
  /// Consul clients, and removed again when its last child goes.
  bool implicit = false;
  bool empty() const { return flags == 0 && lock_index == 0 && session == 0 && !implicit; }
};

class DataTree {
 public:
  DataTree();

  /// Applies the command stored at log index `index`. The zxid of every change is `index`.
  ApplyResult apply(int64_t index, const Command& cmd);

  // ---- reads (local, per ZooKeeper's sequential consistency) ----
  const Node* find(std::string_view path) const;
  /// Calls `f(name)` for each child of `n`, in no particular order (ZooKeeper's is a HashSet's).
  template <typename F>
  void for_each_child(const Node& n, F&& f) const {
    for (const NodeId* k = n.kids_begin(); k != n.kids_end(); ++k) f(store_.at(*k).name());
  }
  Stat stat_of(const Node& n) const;
  const AclList& acl_of(const Node& n) const { return acls_.get(n.acl); }
  /// Number of descendants of `path` (ZooKeeper's getAllChildrenNumber).
  int32_t count_descendants(std::string_view path) const;
  const std::unordered_map<SessionId, SessionInfo>& sessions() const { return sessions_; }
  const SessionInfo* session(SessionId id) const;
  /// The session a Consul client names by UUID (a Consul session, or a ZooKeeper one).
  SessionId session_by_uuid(std::string_view uuid) const;
  std::string session_uuid(SessionId id) const;
  /// Consul metadata of the node at `path`, or nullptr.
  const KvMeta* kv_meta(std::string_view path) const;
  /// Whether the node is a Consul key (every znode but the implicit parents and the root).
  bool is_kv_key(const Node& n) const;
  /// The session holding `n` for Consul: its acquirer, or the ZooKeeper session owning the
  /// ephemeral. 0 when none.
  SessionId kv_holder(const Node& n) const;
  /// Every znode under a key prefix: the children of `dir` whose names start with `fragment`, and
  /// everything below them (the /zookeeper subtree excluded), parents before their children.
  std::vector<std::string> prefix_subtree(std::string_view dir, std::string_view fragment) const;
  /// The Consul keys among prefix_subtree(dir, fragment), in no particular order.
  void kv_scan(std::string_view dir, std::string_view fragment, std::vector<std::string>* paths) const;
  KvRead kv_read(const Node& n) const;
  /// Lock-delay end (leader ms) for `path`, or 0.
  int64_t lock_delay_until(std::string_view path) const;
  /// The service catalog (nodes, services, health checks), replicated with the tree.
  const Catalog& catalog() const { return catalog_; }
  /// Whether the znode at `path` mirrors an instance registered through Consul.
  bool is_mirrored(std::string_view path) const { return mirrored_.count(path) != 0; }
  size_t node_count() const { return store_.live(); }
  int64_t last_zxid() const { return last_zxid_; }
  /// The membership /zookeeper/config holds (state/cluster_config.h).
  ClusterConfig cluster_config() const;
  size_t ephemeral_count() const;
  /// Sum of path lengths and data sizes (mntr's zk_approximate_data_size).
  uint64_t approximate_data_size() const;
  /// Containers that are empty and have had children, and TTL nodes that are empty and expired
  /// at `now_ms`: candidates for a kReap command. The leader proposes; apply re-checks.
  std::vector<std::string> reap_candidates(int64_t now_ms) const;

  // ---- snapshots ----
  /// The snapshot encoding's version, the first u32 of every encoded snapshot.
  /// (state/snapshot.h describes it; SnapshotWriter takes one while the tree changes.)
  static constexpr uint32_t kSnapshotFormat = 7;  // 4-6 are still read (7: znodes by id, any order)
  void encode_snapshot(Bytes& out) const;
  bool decode_snapshot(std::string_view bytes);
  /// Order-independent digest of the whole replicated state (znodes with their ACLs, sessions,
  /// the Consul side and the catalog), to compare replicas and snapshots.
  uint64_t digest() const;

 private:
  friend class SnapshotWriter;
  static bool decode_nodes_by_ordinal(Reader& r, uint32_t nacls, DataTree* fresh, std::vector<NodeId>* owned);
  static bool decode_nodes_by_id(Reader& r, uint32_t nacls, DataTree* fresh, std::vector<NodeId>* owned);
  struct Undo;
  Code apply_op(const Op& op, const Command& cmd, int64_t zxid, OpResult* result,
                std::vector<Trigger>* triggers, std::vector<Undo>* undo);
  Code do_create(const CreateOp& op, const Command& cmd, int64_t zxid, OpResult* result,
                 std::vector<Trigger>* triggers, std::vector<Undo>* undo);
  Code do_delete(const DeleteOp& op, const Command& cmd, int64_t zxid, std::vector<Trigger>* triggers,
                 std::vector<Undo>* undo);
  Code do_set_data(const SetDataOp& op, const Command& cmd, int64_t zxid, OpResult* result,
                   std::vector<Trigger>* triggers, std::vector<Undo>* undo);
  Code do_set_acl(const SetAclOp& op, const Command& cmd, int64_t zxid, OpResult* result,
                  std::vector<Undo>* undo);
  Code do_check(const CheckOp& op, const Command& cmd);
  /// Rewrites /zookeeper/config for a membership change or a member's announcement.
  Code apply_membership(const MemberOp& op, int64_t time_ms, int64_t zxid, std::vector<Trigger>* triggers);
  template <class CatalogOp>
  Code do_catalog(const CatalogOp& op, int64_t zxid, OpResult* result);
  /// Keeps the two views of the service registry in step after a command (service_mirror.h):
  /// imports ServiceInstance znodes that `triggers` touched, re-mirrors the services whose
  /// catalog index moved in `fx`.
  void mirror_services(const Command& cmd, int64_t zxid, Catalog::Effects* fx, std::vector<Trigger>* triggers);
  /// Runs the mirror and records the catalog keys that moved (every command kind).
  void finish_catalog(const Command& cmd, int64_t zxid, Catalog::Effects* fx, ApplyResult* out);
  /// Invalidates the Consul sessions that relied on checks or nodes the catalog just lost.
  void invalidate_sessions(const Catalog::Effects& fx, int64_t time_ms, int64_t zxid, std::vector<Trigger>* triggers);
  Code do_kv(const KvOp& op, const Command& cmd, int64_t zxid, OpResult* result, std::vector<Trigger>* triggers,
             std::vector<Undo>* undo);
  Code do_kv_op(const KvOp& op, const Command& cmd, int64_t zxid, OpResult* result, std::vector<Trigger>* triggers,
                std::vector<Undo>* undo);
  Code kv_write(const std::string& path, const std::string& value, const Command& cmd, int64_t zxid,
                std::vector<Trigger>* triggers, std::vector<Undo>* undo);
  Code kv_delete(const std::string& path, const Command& cmd, int64_t zxid, std::vector<Trigger>* triggers,
                 std::vector<Undo>* undo);
  /// Removes `from` and then each of its ancestors while it is an implicit parent without children.
  void kv_prune_implicit(std::string from, int64_t zxid, std::vector<Trigger>* triggers, std::vector<Undo>* undo);
  /// Sets (or with an empty meta, removes) the Consul metadata of `path`, keeping the sessions'
  /// held sets in step and recording the old value for rollback.
  void set_meta(const std::string& path, const KvMeta& meta, std::vector<Undo>* undo);
  void touch_node(Node* n, const std::string& path, const std::string& value, int64_t zxid, int64_t time_ms,
                  std::vector<Trigger>* triggers, std::vector<Undo>* undo);
  void remove_node(std::string_view path, int64_t zxid, std::vector<Trigger>* triggers,
                   std::vector<Undo>* undo);
  void rollback(std::vector<Undo>& undo);
  void close_session(SessionId id, int64_t time_ms, int64_t zxid, std::vector<Trigger>* triggers);
  void index_special(std::string_view path, const Node& n, bool add);
  Node* find_mut(std::string_view path);
  NodeId add_node(std::string_view path, std::string_view data, bool data_null, NodeId parent,
                  const NodeMeta& meta);
  void init_system_nodes();

  NodeStore store_;
  PathIndex index_;
  AclCache acls_;
  std::unordered_map<SessionId, SessionInfo> sessions_;
  std::set<std::string, std::less<>> containers_;
  std::set<std::string, std::less<>> ttls_;
  std::unordered_map<std::string, KvMeta> kv_meta_;           // by path
  std::unordered_map<std::string, SessionId> session_by_uuid_;  // Consul sessions
  std::map<std::string, int64_t, std::less<>> lock_delay_;     // path -> leader ms the delay ends
  int64_t last_zxid_ = 0;
  Catalog catalog_;
  std::set<std::string, std::less<>> mirrored_;  // znodes that mirror Consul instances (service_mirror.h)
  // Set while a kTxn command applies: what its catalog ops changed, and how to undo them.
  Catalog::Effects* catalog_fx_ = nullptr;
  Catalog::Undo* catalog_undo_ = nullptr;
};

}  // namespace conclave::state
