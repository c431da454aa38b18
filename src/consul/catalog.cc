// /v1/catalog/*: register, deregister, datacenters, nodes, services, service/<name>, node/<name>,
// node-services/<name>. Reads are served from the replicated catalog (state/catalog.h) with the
// usual consistency modes, and block on the catalog's per-table and per-name indexes.
#include "consul/api.h"
#include "consul/registry_json.h"

namespace conclave::consul {
namespace {

}  // namespace

std::string ConsulApi::catalog_watch(std::string_view key) { return "\x02" + std::string(key) + "\x1f"; }

uint64_t ConsulApi::catalog_index(std::string_view key) const {
  return static_cast<uint64_t>(std::max<int64_t>(1, replica_.tree().catalog().index(key)));
}

bool ConsulApi::parse_filter(const net::HttpRequest& req, const std::vector<std::string>& fields,
                             std::shared_ptr<const Filter>* out, Respond& respond) {
  auto it = req.query.find("filter");
  if (it == req.query.end() || it->second.empty()) return true;
  std::string error;
  std::shared_ptr<const Filter> f = Filter::parse(it->second, &error);
  if (!f || !f->validate(fields, &error)) {
    respond(text_error(400, error));
    return false;
  }
  *out = std::move(f);
  return true;
}

bool ConsulApi::parse_body_object(const net::HttpRequest& req, json::value* body, Respond& respond) {
  boost::system::error_code ec;
  *body = json::parse(req.body, ec);
  if (ec) {
    respond(text_error(400, "Request decode failed: " + ec.message()));
    return false;
  }
  if (!body->is_object()) {
    respond(text_error(400, "Request decode failed: the body must be a JSON object"));
    return false;
  }
  return true;
}

void ConsulApi::propose_catalog(std::vector<state::Op> ops, Respond respond, json::value ok_body) {
  state::Command cmd = multi_command(std::move(ops));
  propose(std::move(cmd), std::move(respond), [ok_body = std::move(ok_body)](const state::ApplyResult& r) -> net::HttpResponse {
    if (r.code == state::Code::kOk) {
      auto resp = json_response(ok_body);
      if (ok_body.is_null()) resp.body.clear();
      return resp;
    }
    for (const auto& res : r.results)
      if (!res.error.empty()) return text_error(500, res.error);
    return text_error(500, "catalog update failed");
  });
}

void ConsulApi::catalog_register(const net::HttpRequest& req, Respond respond) {
  net::HttpResponse err;
  if (!check_datacenter(req, datacenter_, &err)) return respond(std::move(err));
  json::value body;
  if (!parse_body_object(req, &body, respond)) return;
  state::CatalogRegisterOp op;
  if (auto e = parse_catalog_register(body.as_object(), &op); !e.empty()) return respond(text_error(400, e));
  propose_catalog({std::move(op)}, std::move(respond), true);
}

void ConsulApi::catalog_deregister(const net::HttpRequest& req, Respond respond) {
  net::HttpResponse err;
  if (!check_datacenter(req, datacenter_, &err)) return respond(std::move(err));
  json::value body;
  if (!parse_body_object(req, &body, respond)) return;
  state::CatalogDeregisterOp op;
  if (auto e = parse_catalog_deregister(body.as_object(), &op); !e.empty()) return respond(text_error(400, e));
  propose_catalog({std::move(op)}, std::move(respond), true);
}

void ConsulApi::catalog_datacenters(const net::HttpRequest&, Respond respond) {
  respond(json_response(json::array{json::value(datacenter_)}));
}

void ConsulApi::catalog_read(const net::HttpRequest& req, Respond respond) {
  QueryOptions opts;
  net::HttpResponse err;
  if (!parse_query_options(req, datacenter_, &opts, &err)) return respond(std::move(err));
  const std::vector<std::string> tags = req.query_all("tag");
  std::shared_ptr<const Filter> filter;
  const std::vector<std::string> node_meta = req.query_all("node-meta");
  const std::string dc = datacenter_;
  const auto& cat = [this]() -> const state::Catalog& { return replica_.tree().catalog(); };
  std::string watch;
  Read read;
  const bool has_filter = req.has_query("filter") && !req.query.at("filter").empty();
  if (req.path == "/v1/catalog/nodes") {
    if (!parse_filter(req, kNodeFields, &filter, respond)) return;
    watch = catalog_watch(state::Catalog::kNodes);
    read = [this, cat, dc, node_meta, filter] {
      json::array a;
      for (const auto& [_, n] : cat().nodes())
        if (has_node_meta(n.spec, node_meta)) a.push_back(node_json(n, dc));
      filter_rows(filter.get(), &a);
      return ReadResult{json_response(a), catalog_index(state::Catalog::kNodes)};
    };
  } else if (req.path == "/v1/catalog/services") {
    if (has_filter) return respond(text_error(400, "filter is not supported on /v1/catalog/services by this agent"));
    watch = catalog_watch(state::Catalog::kServices);
    read = [this, cat, node_meta] {
      json::object o;
      for (const auto& [name, instances] : cat().by_name()) {
        std::vector<std::string> all;
        bool any = false;
        for (const auto& [node, id] : instances) {
          const auto* n = cat().node(node);
          if (!has_node_meta(n->spec, node_meta)) continue;
          any = true;
          for (const auto& t : n->services.at(id).spec.tags)
            if (std::find(all.begin(), all.end(), t) == all.end()) all.push_back(t);
        }
        if (!any) continue;
        std::sort(all.begin(), all.end());
        json::array tags;
        for (auto& t : all) tags.emplace_back(t);
        o[name] = std::move(tags);
      }
      return ReadResult{json_response(o), catalog_index(state::Catalog::kServices)};
    };
  } else if (req.path.rfind("/v1/catalog/service/", 0) == 0) {
    std::string name = tail_of(req.path, "/v1/catalog/service/");
    if (name.empty()) return respond(text_error(400, "Missing service name"));
    if (!parse_filter(req, kCatalogServiceFields, &filter, respond)) return;
    watch = catalog_watch(state::Catalog::service_key(name));
    read = [this, cat, dc, name, tags, node_meta, filter] {
      json::array a;
      if (const auto* instances = cat().instances(name)) {
        for (const auto& [node, id] : *instances) {
          const auto* n = cat().node(node);
          const auto& s = n->services.at(id);
          if (has_tags(s.spec, tags) && has_node_meta(n->spec, node_meta)) a.push_back(catalog_service_json(*n, s, dc));
        }
      }
      filter_rows(filter.get(), &a);
      return ReadResult{json_response(a), catalog_index(state::Catalog::service_key(name))};
    };
  } else if (req.path.rfind("/v1/catalog/node/", 0) == 0 || req.path.rfind("/v1/catalog/node-services/", 0) == 0) {
    bool as_list = req.path.rfind("/v1/catalog/node-services/", 0) == 0;
    std::string name = tail_of(req.path, as_list ? "/v1/catalog/node-services/" : "/v1/catalog/node/");
    if (name.empty()) return respond(text_error(400, "Missing node name"));
    if (has_filter) return respond(text_error(400, "filter is not supported on " + req.path + " by this agent"));
    watch = catalog_watch(state::Catalog::node_key(name));
    read = [this, cat, dc, name, as_list] {
      const auto* n = cat().node(name);
      uint64_t index = catalog_index(state::Catalog::node_key(name));
      if (!n) {
        if (as_list) return ReadResult{text_error(404, "Node not found"), index};
        return ReadResult{json_response(nullptr), index};
      }
      json::object out{{"Node", node_json(*n, dc)}};
      if (as_list) {
        json::array services;
        for (const auto& [_, s] : n->services) services.push_back(agent_service_json(s, dc, true));
        out["Services"] = std::move(services);
      } else {
        json::object services;
        for (const auto& [id, s] : n->services) services[id] = agent_service_json(s, dc, true);
        out["Services"] = std::move(services);
      }
      return ReadResult{json_response(out), index};
    };
  } else {
    return respond(text_error(404, "Not found: " + req.path));
  }
  serve_read(req, opts, std::move(watch), std::move(read), std::move(respond));
}

}  // namespace conclave::consul
