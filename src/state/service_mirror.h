// One service registry seen through both protocols (docs/consul.md, "Services across the two
// protocols"): the JSON Curator's ServiceDiscovery (and Spring Cloud Zookeeper) keeps under
// /services/<name>/<id>, and the catalog records the Consul API serves.
//
//   Consul -> ZooKeeper: every instance registered through the Consul API whose checks are not
//   critical is the znode /services/<name>/<service id>@<node>, holding Curator's ServiceInstance
//   JSON (payload: a java.util.LinkedHashMap holding the service's Meta as "metadata", or none
//   when it has no Meta), read-only
//   for ZooKeeper clients, removed when the instance goes critical or is deregistered.
//   ZooKeeper -> Consul: a znode written there by a ZooKeeper client that parses as a
//   ServiceInstance is a service on the catalog node "zookeeper", with one check, passing while the
//   znode exists (an ephemeral: while its session lives) and `enabled` is not false.
//
// Pure functions of the JSON; DataTree applies them inside the command that changed either side,
// so the mirror is part of the replicated state, not a sync job.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "state/catalog_types.h"

namespace conclave::state {

inline constexpr std::string_view kServicesRoot = "/services";
/// The catalog node that holds instances registered through ZooKeeper.
inline constexpr std::string_view kZooKeeperNode = "zookeeper";

/// The znode name of a Consul instance: "<service id>@<node>" (unique across nodes).
std::string mirror_znode_name(std::string_view service_id, std::string_view node);

/// Curator's ServiceInstance JSON for an instance registered through Consul.
std::string curator_instance_json(const std::string& znode_id, const NodeSpec& node, const ServiceSpec& s,
                                  int64_t registration_ms);

struct CuratorInstance {
  std::string name;
  std::string address;
  int32_t port = 0;
  bool enabled = true;
  std::vector<KeyValue> meta;  // payload.metadata (Spring Cloud Zookeeper) when it is a string map
};
/// A ServiceInstance read back, or nullopt when `json` is not one.
std::optional<CuratorInstance> parse_curator_instance(std::string_view json);

/// Splits "/services/<name>/<id>" into its two names; false for any other path.
bool split_mirror_path(std::string_view path, std::string* name, std::string* id);

}  // namespace conclave::state
