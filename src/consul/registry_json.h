// The service registry in Consul's JSON shapes: registration bodies in (agent service and check
// definitions, catalog register/deregister) and records out (catalog rows, agent services, health
// checks, health service entries).
//
// Parsing follows Go's decoder: field names match case-insensitively (python-consul sends
// "name", "ttl"), unknown fields are ignored, a wrong type is a 400 with the field's name. The
// runner settings of a check (TTL, HTTP, TCP, UDP, alias, interval, timeout, thresholds) are
// validated here and stored as the check's `definition` JSON, which checks.h reads back.
#pragma once

#include <string>
#include <vector>

#include "common/json.h"
#include "state/catalog.h"

namespace conclave::consul {

/// Why a body was refused (Consul's text); empty on success.
using ParseError = std::string;

/// An agent check definition (api.AgentCheckRegistration / AgentServiceCheck). `service_id`
/// and `default_id`/`default_name` apply when the body names none (service checks get
/// "service:<id>" and "Service '<name>' check", as Consul's agent gives them).
ParseError parse_check(const json::object& o, const std::string& service_id, const std::string& default_id,
                       const std::string& default_name, state::CheckSpec* out);

/// An agent service registration (api.AgentServiceRegistration) with its Check/Checks.
ParseError parse_service_registration(const json::object& o, state::ServiceSpec* service,
                                      std::vector<state::CheckSpec>* checks);

/// A catalog register body (api.CatalogRegistration); `node` is the node registering when the
/// body names none.
ParseError parse_catalog_register(const json::object& o, state::CatalogRegisterOp* out);
ParseError parse_catalog_deregister(const json::object& o, state::CatalogDeregisterOp* out);
/// The records of a catalog registration (and of txn Node/Service/Check ops): structs.Node,
/// structs.NodeService (`Service` is the name), structs.HealthCheck (`node` gets its `Node`).
ParseError parse_catalog_node(const json::object& o, state::NodeSpec* out);
ParseError parse_catalog_service(const json::object& o, state::ServiceSpec* out);
ParseError parse_catalog_check(const json::object& o, state::CheckSpec* out, std::string* node);

// ---- records out ----
json::object node_json(const state::Catalog::NodeEntry& n, const std::string& dc);
/// A row of /v1/catalog/service/<name> (api.CatalogService).
json::object catalog_service_json(const state::Catalog::NodeEntry& n, const state::Catalog::Service& s,
                                  const std::string& dc);
/// api.AgentService (agent/services, catalog/node's Services, health's Service).
json::object agent_service_json(const state::Catalog::Service& s, const std::string& dc, bool with_indexes);
/// api.HealthCheck.
json::object check_json(const state::Catalog::NodeEntry& n, const state::Catalog::Check& c);

/// Whether `s` carries every tag in `tags`.
bool has_tags(const state::ServiceSpec& s, const std::vector<std::string>& tags);
/// Whether the node's Meta holds every "key:value" of `node_meta`.
bool has_node_meta(const state::NodeSpec& n, const std::vector<std::string>& node_meta);

}  // namespace conclave::consul
