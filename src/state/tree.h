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

struct SessionInfo {
  int32_t timeout_ms = 0;
  std::string password;
  std::set<std::string, std::less<>> ephemerals;
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
  size_t node_count() const { return store_.live(); }
  int64_t last_zxid() const { return last_zxid_; }
  size_t ephemeral_count() const;
  /// Sum of path lengths and data sizes (mntr's zk_approximate_data_size).
  uint64_t approximate_data_size() const;
  /// Containers that are empty and have had children, and TTL nodes that are empty and expired
  /// at `now_ms`: candidates for a kReap command. The leader proposes; apply re-checks.
  std::vector<std::string> reap_candidates(int64_t now_ms) const;

  // ---- snapshots ----
  /// The snapshot encoding's version, the first u32 of every encoded snapshot.
  static constexpr uint32_t kSnapshotFormat = 4;
  void encode_snapshot(Bytes& out) const;
  bool decode_snapshot(std::string_view bytes);
  /// Order-independent digest of the whole tree, to compare replicas and snapshots.
  uint64_t digest() const;

 private:
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
  void remove_node(std::string_view path, int64_t zxid, std::vector<Trigger>* triggers,
                   std::vector<Undo>* undo);
  void rollback(std::vector<Undo>& undo);
  void close_session(SessionId id, int64_t zxid, std::vector<Trigger>* triggers);
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
  int64_t last_zxid_ = 0;
};

}  // namespace conclave::state
