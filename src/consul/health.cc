// /v1/health/*: node/<node>, checks/<service>, service/<service> (with ?passing, ?tag, ?node-meta),
// state/<state>. An instance's health is its own checks plus its node's checks (serfHealth among
// them), as Consul reports it; ?passing keeps only instances whose checks all pass.
#include "consul/api.h"
#include "consul/registry_json.h"

namespace conclave::consul {
namespace {

}  // namespace

json::array ConsulApi::service_health(std::string_view name, const std::vector<std::string>& tags,
                                      const std::vector<std::string>& node_meta, bool passing_only) const {
  const auto& cat = replica_.tree().catalog();
  json::array a;
  const auto* instances = cat.instances(name);
  if (!instances) return a;
  for (const auto& [node, id] : *instances) {
    const auto* n = cat.node(node);
    const auto& s = n->services.at(id);
    if (!has_tags(s.spec, tags) || !has_node_meta(n->spec, node_meta)) continue;
    json::array checks;
    bool all_passing = true;
    for (const auto& [_, c] : n->checks) {
      if (!c.spec.service_id.empty() && c.spec.service_id != id) continue;
      all_passing = all_passing && c.spec.status == state::kPassing;
      checks.push_back(check_json(*n, c));
    }
    if (passing_only && !all_passing) continue;
    a.push_back(json::object{{"Node", node_json(*n, datacenter_)},
                             {"Service", agent_service_json(s, datacenter_, true)},
                             {"Checks", std::move(checks)}});
  }
  return a;
}

void ConsulApi::health_read(const net::HttpRequest& req, Respond respond) {
  QueryOptions opts;
  net::HttpResponse err;
  if (!parse_query_options(req, datacenter_, &opts, &err)) return respond(std::move(err));
  std::shared_ptr<const Filter> filter;
  const bool service = req.path.rfind("/v1/health/service/", 0) == 0;
  if (!parse_filter(req, service ? kServiceEntryFields : kHealthCheckFields, &filter, respond)) return;
  const std::vector<std::string> tags = req.query_all("tag");
  const std::vector<std::string> node_meta = req.query_all("node-meta");
  const auto cat = [this]() -> const state::Catalog& { return replica_.tree().catalog(); };
  std::string watch;
  Read read;
  if (req.path.rfind("/v1/health/service/", 0) == 0) {
    std::string name = tail_of(req.path, "/v1/health/service/");
    if (name.empty()) return respond(text_error(400, "Missing service name"));
    bool passing = req.has_query("passing") && req.query.at("passing") != "false" && req.query.at("passing") != "0";
    watch = catalog_watch(state::Catalog::service_key(name));
    read = [this, name, tags, node_meta, passing, filter] {
      json::array a = service_health(name, tags, node_meta, passing);
      filter_rows(filter.get(), &a);
      return ReadResult{json_response(a), catalog_index(state::Catalog::service_key(name))};
    };
  } else if (req.path.rfind("/v1/health/checks/", 0) == 0) {
    std::string name = tail_of(req.path, "/v1/health/checks/");
    if (name.empty()) return respond(text_error(400, "Missing service name"));
    watch = catalog_watch(state::Catalog::service_key(name));
    read = [this, cat, name, node_meta, filter] {
      json::array a;
      if (const auto* instances = cat().instances(name)) {
        for (const auto& [node, id] : *instances) {
          const auto* n = cat().node(node);
          if (!has_node_meta(n->spec, node_meta)) continue;
          for (const auto& [_, c] : n->checks)
            if (c.spec.service_id == id) a.push_back(check_json(*n, c));
        }
      }
      filter_rows(filter.get(), &a);
      return ReadResult{json_response(a), catalog_index(state::Catalog::service_key(name))};
    };
  } else if (req.path.rfind("/v1/health/node/", 0) == 0) {
    std::string name = tail_of(req.path, "/v1/health/node/");
    if (name.empty()) return respond(text_error(400, "Missing node name"));
    watch = catalog_watch(state::Catalog::node_key(name));
    read = [this, cat, name, filter] {
      json::array a;
      if (const auto* n = cat().node(name))
        for (const auto& [_, c] : n->checks) a.push_back(check_json(*n, c));
      filter_rows(filter.get(), &a);
      return ReadResult{json_response(a), catalog_index(state::Catalog::node_key(name))};
    };
  } else if (req.path.rfind("/v1/health/state/", 0) == 0) {
    std::string want = tail_of(req.path, "/v1/health/state/");
    if (want != "any" && want != state::kPassing && want != state::kWarning && want != state::kCritical)
      return respond(text_error(400, "Invalid check state"));
    watch = catalog_watch(state::Catalog::kChecks);
    read = [this, cat, want, node_meta, filter] {
      json::array a;
      for (const auto& [_, n] : cat().nodes()) {
        if (!has_node_meta(n.spec, node_meta)) continue;
        for (const auto& [id, c] : n.checks)
          if (want == "any" || c.spec.status == want) a.push_back(check_json(n, c));
      }
      filter_rows(filter.get(), &a);
      return ReadResult{json_response(a), catalog_index(state::Catalog::kChecks)};
    };
  } else {
    return respond(text_error(404, "Not found: " + req.path));
  }
  serve_read(req, opts, std::move(watch), std::move(read), std::move(respond));
}

}  // namespace conclave::consul
