// The service catalog: nodes, their services and health checks (Consul's catalog tables), part
// of the replicated state beside the data tree.
//
// Owns: the records, an index of instances by service name, and Consul-style modification
// indexes per table ("nodes", "services", "checks") and per service name and node name, which
// blocking queries on the catalog and health endpoints read. Applies the catalog ops of a command
// (command.h) at a zxid, reports which index keys moved and which checks a session may no longer
// rely on (gone critical or removed), and can undo a command's changes (all-or-nothing txns).
//
// Writes happen only on change, as in Consul: re-registering an identical service or reporting
// the same check status and output changes nothing and moves no index.
//
// Must never: read a clock, touch a file or socket. Not thread-safe (the replica's loop thread).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "common/bytes.h"
#include "state/command.h"

namespace conclave::state {

class Catalog {
 public:
  struct Service {
    ServiceSpec spec;
    int64_t create_index = 0;
    int64_t modify_index = 0;
  };
  struct Check {
    CheckSpec spec;
    int64_t create_index = 0;
    int64_t modify_index = 0;
  };
  struct NodeEntry {
    NodeSpec spec;
    int64_t create_index = 0;
    int64_t modify_index = 0;
    std::map<std::string, Service, std::less<>> services;  // by service id
    std::map<std::string, Check, std::less<>> checks;      // by check id
  };
  using Instance = std::pair<std::string, std::string>;  // (node name, service id)

  /// What an applied op changed, for the caller to act on.
  struct Effects {
    std::vector<std::string> changed;  // index keys that moved
    /// Checks that went critical or were removed: sessions bound to them are invalidated.
    std::vector<std::pair<std::string, std::string>> lost_checks;  // (node, check id)
    std::vector<std::string> removed_nodes;  // sessions on them are invalidated
    /// Instances whose record or health may have changed, as (service name, node, service id):
    /// what the ZooKeeper mirror looks at again (service_mirror.h). Removed ones included.
    std::vector<std::tuple<std::string, std::string, std::string>> touched;
  };
  /// The state before a command's first change to each node and index, to roll back with.
  struct Undo {
    std::vector<std::pair<std::string, std::optional<NodeEntry>>> nodes;
    std::vector<std::pair<std::string, std::optional<int64_t>>> indexes;
  };

  // ---- index keys ----
  static constexpr std::string_view kNodes = "nodes";
  static constexpr std::string_view kServices = "services";
  static constexpr std::string_view kChecks = "checks";
  static std::string service_key(std::string_view name) { return "service." + std::string(name); }
  static std::string node_key(std::string_view name) { return "node." + std::string(name); }

  // ---- reads ----
  const std::map<std::string, NodeEntry, std::less<>>& nodes() const { return nodes_; }
  const NodeEntry* node(std::string_view name) const;
  /// Meta key under which every Conclave server's own catalog node names its Raft id.
  static constexpr std::string_view kRaftIdMeta = "conclave-raft-id";
  /// The catalog nodes of Conclave servers, by Raft id (a scan of the nodes).
  std::map<uint64_t, const NodeEntry*> server_nodes() const;
  /// Instances of a service, sorted by node then id; nullptr when the name has none.
  const std::set<Instance>* instances(std::string_view service) const;
  /// Every service name with instances, and its instances.
  const std::map<std::string, std::set<Instance>, std::less<>>& by_name() const { return by_name_; }
  /// The modification index for `key`; a per-name key that is gone falls back to its table's
  /// index (which moved when the name went), so indexes never go backwards.
  int64_t index(std::string_view key) const;
  size_t service_count() const;
  size_t check_count() const;

  // ---- apply (DataTree calls these inside a command; `undo` may be null) ----
  /// Empty on success, else Consul's error text (nothing changed).
  std::string apply(const CatalogRegisterOp& op, int64_t zxid, Effects* fx, Undo* undo);
  std::string apply(const CatalogDeregisterOp& op, int64_t zxid, Effects* fx, Undo* undo);
  std::string apply(const CheckUpdateOp& op, int64_t zxid, Effects* fx, Undo* undo);
  /// A txn Node/Service/Check op; `out` receives the record for set, cas and get.
  std::string apply(const CatalogTxnOp& op, int64_t zxid, Effects* fx, Undo* undo, std::vector<CatalogRecord>* out);
  void rollback(Undo& undo);

  // ---- snapshots ----
  void encode(Writer& w) const;
  bool decode(Reader& r);
  uint64_t digest() const;

 private:
  NodeEntry* mutable_node(const std::string& name, Undo* undo);  // records the undo entry
  void erase_node(const std::string& name, Undo* undo);
  void bump(std::string_view key, int64_t zxid, Effects* fx, Undo* undo);
  void drop_index(const std::string& key, Undo* undo);
  /// Moves the indexes every view of `node` depends on: the node's, its services' names', checks.
  void bump_node_views(const NodeEntry& n, int64_t zxid, Effects* fx, Undo* undo);
  /// Moves the indexes one instance's views depend on and records it as touched.
  void bump_instance(const std::string& node, const Service& s, int64_t zxid, Effects* fx, Undo* undo);
  void index_instances(const std::string& node, const NodeEntry& n, bool add);

  std::map<std::string, NodeEntry, std::less<>> nodes_;
  std::map<std::string, std::set<Instance>, std::less<>> by_name_;
  std::map<std::string, int64_t, std::less<>> indexes_;
};

}  // namespace conclave::state
