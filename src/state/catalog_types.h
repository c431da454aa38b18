// The service catalog's records as commands carry them: nodes, services and health checks in
// the shapes of Consul's structs.Node, structs.NodeService and structs.HealthCheck.
//
// Plain values only: the catalog (catalog.h) stores them, commands (command.h) encode them with
// one field list each, and the Consul front-end maps them to and from JSON. A check's runner
// settings (interval, HTTP target, ...) travel as `definition`, a JSON text the state machine
// stores and hands back without reading: only the node that runs the check interprets it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace conclave::state {

struct KeyValue {
  std::string key;
  std::string value;
  bool operator==(const KeyValue&) const = default;
};

/// One entry of a service's TaggedAddresses ("lan", "wan", "lan_ipv4", ...).
struct TaggedAddress {
  std::string tag;
  std::string address;
  int32_t port = 0;
  bool operator==(const TaggedAddress&) const = default;
};

struct NodeSpec {
  std::string name;
  std::string id;  // a UUID, or empty
  std::string address;
  std::vector<KeyValue> tagged_addresses;
  std::vector<KeyValue> meta;
  bool operator==(const NodeSpec&) const = default;
};

struct ServiceSpec {
  std::string id;  // unique on its node; defaults to the name
  std::string name;
  std::string kind;  // "" for a typical service
  std::vector<std::string> tags;
  std::string address;  // empty: the node's address
  int32_t port = 0;
  std::vector<KeyValue> meta;
  std::vector<TaggedAddress> tagged_addresses;
  int32_t weight_passing = 1;
  int32_t weight_warning = 1;
  bool enable_tag_override = false;
  bool operator==(const ServiceSpec&) const = default;
};

inline constexpr std::string_view kPassing = "passing";
inline constexpr std::string_view kWarning = "warning";
inline constexpr std::string_view kCritical = "critical";
inline constexpr std::string_view kMaintenance = "maintenance";

struct CheckSpec {
  std::string id;  // unique on its node
  std::string name;
  std::string status = "critical";  // passing | warning | critical
  std::string notes;
  std::string output;
  std::string service_id;  // empty: a node check
  std::string type;        // "ttl", "http", "tcp", "udp", "alias", "serf", "" (catalog-registered)
  std::string definition;  // JSON object text (Consul's HealthCheckDefinition), opaque to state/
  bool operator==(const CheckSpec&) const = default;
};

/// A check's new status and output, as a runner reports it.
struct CheckStatus {
  std::string node;
  std::string check_id;
  std::string status;
  std::string output;
  bool operator==(const CheckStatus&) const = default;
};

}  // namespace conclave::state
