// /v1/agent/* for services and checks: the agent's view is this node's part of the replicated
// catalog. Registering goes through the log (the catalog is the one registry; there is no
// separate local state to sync), and this node runs its own checks' TTL clocks.
//
// Also here: the node's own catalog entry (name, address, a serfHealth check), kept registered
// from the periodic tick, and the batching of check results into one CheckUpdateOp per tick.
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <map>
#include <set>

#include "consul/api.h"
#include "consul/registry_json.h"

namespace conclave::consul {
namespace {

constexpr std::string_view kSerfHealth = "serfHealth";
constexpr std::string_view kNodeMaintenance = "_node_maintenance";
constexpr std::string_view kServiceMaintenancePrefix = "_service_maintenance:";

std::string unknown_check(const std::string& id) {
  return "Unknown check ID \"" + id + "\". Ensure that the check ID is passed, not the check name.";
}

std::string unknown_service(const std::string& id) {
  return "Unknown service ID \"" + id + "\". Ensure that the service ID is passed, not the service name.";
}

}  // namespace

state::NodeSpec ConsulApi::own_node_spec() const {
  auto info = replica_.info();
  std::string addr = info.client_address.substr(0, info.client_address.rfind(':'));
  state::NodeSpec n;
  n.name = info.node_name;
  n.id = fmt::format("00000000-0000-0000-0000-{:012x}", info.node_id);
  n.address = addr;
  n.tagged_addresses = {{"lan", addr}, {"lan_ipv4", addr}, {"wan", addr}, {"wan_ipv4", addr}};
  // The raft id lets the leader tell which catalog node is which member (serfHealth below).
  n.meta = {{std::string(state::Catalog::kRaftIdMeta), std::to_string(info.node_id)}, {"consul-network-segment", ""}};
  return n;
}

const state::Catalog::NodeEntry* ConsulApi::own_node() const {
  return replica_.tree().catalog().node(replica_.info().node_name);
}

void ConsulApi::sync_own_node() {
  if (own_sync_in_flight_ || leaving_ || !replica_.leader_view().known_leader) return;
  state::NodeSpec spec = own_node_spec();
  const auto* n = own_node();
  bool healthy = n && n->spec == spec && n->checks.count(std::string(kSerfHealth)) &&
                 n->checks.at(std::string(kSerfHealth)).spec.status == state::kPassing;
  if (healthy) return;
  state::CatalogRegisterOp op;
  op.node = std::move(spec);
  state::CheckSpec serf;
  serf.id = std::string(kSerfHealth);
  serf.name = "Serf Health Status";
  serf.status = std::string(state::kPassing);
  serf.output = "Agent alive and reachable";
  serf.type = "serf";
  op.checks.push_back(std::move(serf));
  state::Command cmd = multi_command({std::move(op)});
  own_sync_in_flight_ = true;
  replica_.propose(std::move(cmd), [this](const state::ApplyResult&) { own_sync_in_flight_ = false; });
}

void ConsulApi::queue_check_update(const std::string& check_id, std::string status, std::string output,
                                   std::function<void(bool)> done) {
  auto& p = pending_checks_[check_id];
  p.status = std::move(status);
  p.output = std::move(output);
  if (done) p.waiters.push_back(std::move(done));
}

void ConsulApi::flush_check_updates() {
  if (pending_checks_.empty() || check_flush_in_flight_) return;
  state::CheckUpdateOp op;
  std::vector<std::function<void(bool)>> waiters;
  const std::string node = replica_.info().node_name;
  for (auto& [id, p] : pending_checks_) {
    op.updates.push_back({node, id, p.status, p.output});
    for (auto& w : p.waiters) waiters.push_back(std::move(w));
  }
  pending_checks_.clear();
  state::Command cmd = multi_command({std::move(op)});
  check_flush_in_flight_ = true;
  ++check_batches_;
  replica_.propose(std::move(cmd), [this, waiters = std::move(waiters)](const state::ApplyResult& r) {
    check_flush_in_flight_ = false;
    for (const auto& w : waiters) w(r.code == state::Code::kOk);
  });
}

void ConsulApi::agent_services(const net::HttpRequest& req, Respond respond) {
  std::shared_ptr<const Filter> filter;
  if (!parse_filter(req, kAgentServiceFields, &filter, respond)) return;
  json::object out;
  if (const auto* n = own_node())
    for (const auto& [id, s] : n->services) {
      json::object o = agent_service_json(s, datacenter_, false);
      if (!filter || filter->matches(o)) out[id] = std::move(o);
    }
  respond(json_response(out));
}

void ConsulApi::agent_service(const net::HttpRequest& req, Respond respond) {
  std::string id = tail_of(req.path, "/v1/agent/service/");
  const auto* n = own_node();
  auto it = n ? n->services.find(id) : decltype(n->services.end()){};
  if (!n || it == n->services.end()) return respond(text_error(404, "unknown service ID: " + id));
  json::object o = agent_service_json(it->second, datacenter_, false);
  o["ContentHash"] = fmt::format("{:016x}", std::hash<std::string>{}(json::serialize(o)));
  respond(json_response(o));
}

void ConsulApi::agent_service_register(const net::HttpRequest& req, Respond respond) {
  json::value body;
  if (!parse_body_object(req, &body, respond)) return;
  state::CatalogRegisterOp op;
  op.node = own_node_spec();
  op.has_service = true;
  if (auto e = parse_service_registration(body.as_object(), &op.service, &op.checks); !e.empty())
    return respond(text_error(400, e));
  std::vector<state::Op> ops;
  const std::string service_id = op.service.id;
  bool replace = req.has_query("replace-existing-checks") && req.query.at("replace-existing-checks") != "false";
  if (const auto* n = own_node(); n && replace) {
    for (const auto& [check_id, c] : n->checks) {
      if (c.spec.service_id != service_id) continue;
      const std::string& id = check_id;  // a plain reference: lambdas cannot capture bindings (C++20)
      bool kept = std::any_of(op.checks.begin(), op.checks.end(), [&](const auto& k) { return k.id == id; });
      if (!kept && id.rfind(kServiceMaintenancePrefix, 0) != 0)
        ops.push_back(state::CatalogDeregisterOp{op.node.name, "", id});
    }
  }
  ops.insert(ops.begin(), std::move(op));
  propose_catalog(std::move(ops), std::move(respond), nullptr);
}

void ConsulApi::agent_service_deregister(const net::HttpRequest& req, Respond respond) {
  std::string id = tail_of(req.path, "/v1/agent/service/deregister/");
  const auto* n = own_node();
  if (!n || !n->services.count(id)) return respond(text_error(404, unknown_service(id)));
  propose_catalog({state::CatalogDeregisterOp{n->spec.name, id, ""}}, std::move(respond), nullptr);
}

void ConsulApi::agent_checks(const net::HttpRequest& req, Respond respond) {
  std::shared_ptr<const Filter> filter;
  if (!parse_filter(req, kHealthCheckFields, &filter, respond)) return;
  json::object out;
  if (const auto* n = own_node())
    for (const auto& [id, c] : n->checks) {
      if (id == kSerfHealth) continue;
      json::object o = check_json(*n, c);
      if (!filter || filter->matches(o)) out[id] = std::move(o);
    }
  respond(json_response(out));
}

void ConsulApi::agent_check_register(const net::HttpRequest& req, Respond respond) {
  json::value body;
  if (!parse_body_object(req, &body, respond)) return;
  state::CatalogRegisterOp op;
  op.node = own_node_spec();
  state::CheckSpec c;
  if (auto e = parse_check(body.as_object(), "", "", "", &c); !e.empty()) return respond(text_error(400, e));
  if (!c.service_id.empty()) {
    const auto* n = own_node();
    if (!n || !n->services.count(c.service_id))
      return respond(text_error(400, "ServiceID \"" + c.service_id + "\" does not exist"));
  }
  op.checks.push_back(std::move(c));
  propose_catalog({std::move(op)}, std::move(respond), nullptr);
}

void ConsulApi::agent_check_deregister(const net::HttpRequest& req, Respond respond) {
  std::string id = tail_of(req.path, "/v1/agent/check/deregister/");
  const auto* n = own_node();
  if (!n || !n->checks.count(id)) return respond(text_error(404, unknown_check(id)));
  propose_catalog({state::CatalogDeregisterOp{n->spec.name, "", id}}, std::move(respond), nullptr);
}

void ConsulApi::agent_check_ttl(const net::HttpRequest& req, Respond respond) {
  std::string status, id, output;
  if (req.path.rfind("/v1/agent/check/update/", 0) == 0) {
    id = tail_of(req.path, "/v1/agent/check/update/");
    json::value body;
    if (!parse_body_object(req, &body, respond)) return;
    const auto& o = body.as_object();
    const json::value* s = field(o, "Status");
    const json::value* out = field(o, "Output");
    if ((s && !s->is_string() && !s->is_null()) || (out && !out->is_string() && !out->is_null()))
      return respond(text_error(400, "Request decode failed: Status and Output must be strings"));
    status = s && s->is_string() ? std::string(s->as_string()) : "";
    output = out && out->is_string() ? std::string(out->as_string()) : "";
    if (status != state::kPassing && status != state::kWarning && status != state::kCritical)
      return respond(text_error(400, "Invalid check status: \"" + status + "\""));
  } else {
    for (auto [prefix, st] : {std::pair{"/v1/agent/check/pass/", state::kPassing},
                              std::pair{"/v1/agent/check/warn/", state::kWarning},
                              std::pair{"/v1/agent/check/fail/", state::kCritical}}) {
      if (req.path.rfind(prefix, 0) == 0) {
        id = tail_of(req.path, prefix);
        status = std::string(st);
      }
    }
    if (auto it = req.query.find("note"); it != req.query.end()) output = it->second;
  }
  const auto* n = own_node();
  auto it = n ? n->checks.find(id) : decltype(n->checks.end()){};
  if (!n || it == n->checks.end()) return respond(text_error(404, unknown_check(id)));
  if (it->second.spec.type != "ttl")
    return respond(text_error(500, "CheckID \"" + id + "\" does not have associated TTL"));
  runner_.ttl_reported(id, replica_.monotonic_ms());
  // Consul caps a check's output at 4 KiB (check_output_max_size).
  if (output.size() > 4096) output.resize(4096);
  queue_check_update(id, std::move(status), std::move(output), [respond](bool ok) {
    if (!ok) return respond(text_error(500, "rpc error: leadership lost or no cluster leader while committing"));
    net::HttpResponse r;
    r.body.clear();
    respond(std::move(r));
  });
}

void ConsulApi::agent_maintenance(const net::HttpRequest& req, Respond respond) {
  bool node_wide = req.path == "/v1/agent/maintenance";
  std::string service_id = node_wide ? "" : tail_of(req.path, "/v1/agent/service/maintenance/");
  auto it = req.query.find("enable");
  if (it == req.query.end() || it->second.empty()) return respond(text_error(400, "Missing value for enable"));
  // Go's strconv.ParseBool, as Consul parses it (python-consul sends "True").
  static const std::set<std::string> kTrue{"1", "t", "T", "TRUE", "true", "True"};
  static const std::set<std::string> kFalse{"0", "f", "F", "FALSE", "false", "False"};
  if (!kTrue.count(it->second) && !kFalse.count(it->second))
    return respond(text_error(400, "Invalid value for enable: \"" + it->second + "\""));
  bool enable = kTrue.count(it->second) != 0;
  const auto* n = own_node();
  if (!node_wide && (!n || !n->services.count(service_id))) return respond(text_error(404, unknown_service(service_id)));
  std::string check_id = node_wide ? std::string(kNodeMaintenance) : std::string(kServiceMaintenancePrefix) + service_id;
  if (!enable) {
    if (!n || !n->checks.count(check_id)) {
      net::HttpResponse r;
      r.body.clear();
      return respond(std::move(r));
    }
    return propose_catalog({state::CatalogDeregisterOp{n->spec.name, "", check_id}}, std::move(respond), nullptr);
  }
  std::string reason = req.query.count("reason") ? req.query.at("reason") : "";
  state::CatalogRegisterOp op;
  op.node = own_node_spec();
  state::CheckSpec c;
  c.id = check_id;
  c.name = node_wide ? "Node Maintenance Mode" : "Service Maintenance Mode";
  c.notes = !reason.empty() ? reason
            : node_wide     ? "Maintenance mode is enabled for this node, but no reason was provided. This is a default message."
                            : "Maintenance mode is enabled for this service, but no reason was provided. This is a default message.";
  c.status = std::string(state::kCritical);
  c.service_id = service_id;
  c.type = "maintenance";
  op.checks.push_back(std::move(c));
  propose_catalog({std::move(op)}, std::move(respond), nullptr);
}

void ConsulApi::agent_health_service(const net::HttpRequest& req, Respond respond) {
  bool by_id = req.path.rfind("/v1/agent/health/service/id/", 0) == 0;
  std::string key = tail_of(req.path, by_id ? "/v1/agent/health/service/id/" : "/v1/agent/health/service/name/");
  const auto* n = own_node();
  auto entry = [&](const state::Catalog::Service& s, int* rank) {
    json::array checks;
    *rank = 0;  // 0 passing, 1 warning, 2 critical, 3 maintenance
    for (const auto& [id, c] : n->checks) {
      if (!c.spec.service_id.empty() && c.spec.service_id != s.spec.id) continue;
      int r = c.spec.status == state::kPassing ? 0 : c.spec.status == state::kWarning ? 1 : 2;
      if (id == kNodeMaintenance || id.rfind(kServiceMaintenancePrefix, 0) == 0) r = 3;
      *rank = std::max(*rank, r);
      checks.push_back(check_json(*n, c));
    }
    static const char* kNames[] = {"passing", "warning", "critical", "maintenance"};
    return json::object{{"AggregatedStatus", kNames[*rank]},
                        {"Service", agent_service_json(s, datacenter_, false)},
                        {"Checks", std::move(checks)}};
  };
  auto status_of = [](int rank) { return rank == 0 ? 200 : rank == 1 ? 429 : 503; };
  const bool as_text = req.has_query("format") && req.query.at("format") == "text";
  if (by_id) {
    auto it = n ? n->services.find(key) : decltype(n->services.end()){};
    if (!n || it == n->services.end()) {
      auto r = text_error(404, "ServiceId " + key + " not found");
      return respond(std::move(r));
    }
    int rank = 0;
    json::object o = entry(it->second, &rank);
    net::HttpResponse r = json_response(o, status_of(rank));
    if (as_text) {
      r.content_type = "text/plain";
      r.body = std::string(o["AggregatedStatus"].as_string());
    }
    return respond(std::move(r));
  }
  json::array a;
  int worst = 0;
  if (n) {
    for (const auto& [_, s] : n->services) {
      if (s.spec.name != key) continue;
      int rank = 0;
      a.push_back(entry(s, &rank));
      worst = std::max(worst, rank);
    }
  }
  if (a.empty()) return respond(text_error(404, "ServiceName " + key + " Not Found"));
  static const char* kNames[] = {"passing", "warning", "critical", "maintenance"};
  net::HttpResponse r = json_response(a, status_of(worst));
  if (as_text) {
    r.content_type = "text/plain";
    r.body = kNames[worst];
  }
  respond(std::move(r));
}

}  // namespace conclave::consul
