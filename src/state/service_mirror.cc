#include "state/service_mirror.h"

#include <algorithm>

#include "common/json.h"

namespace conclave::state {

std::string mirror_znode_name(std::string_view service_id, std::string_view node) {
  return std::string(service_id) + "@" + std::string(node);
}

std::string curator_instance_json(const std::string& znode_id, const NodeSpec& node, const ServiceSpec& s,
                                  int64_t registration_ms) {
  // Readers resolve the payload's "@class" (Curator's ServiceInstance types it): a map every JVM
  // has, holding the Meta as Spring Cloud Zookeeper's "metadata"; no payload when there is no Meta.
  json::value payload = nullptr;
  if (!s.meta.empty()) {
    json::object metadata;
    for (const auto& kv : s.meta) metadata[kv.key] = kv.value;
    payload = json::object{{"@class", "java.util.LinkedHashMap"}, {"metadata", std::move(metadata)}};
  }
  json::object o{{"name", s.name},
                 {"id", znode_id},
                 {"address", s.address.empty() ? node.address : s.address},
                 {"port", s.port},
                 {"sslPort", nullptr},
                 {"payload", std::move(payload)},
                 {"registrationTimeUTC", registration_ms},
                 {"serviceType", "DYNAMIC"},
                 {"uriSpec", nullptr},
                 {"enabled", true}};
  return json::serialize(o);
}

std::optional<CuratorInstance> parse_curator_instance(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  const auto& o = v.as_object();
  const json::value* name = o.if_contains("name");
  if (!name || !name->is_string()) return std::nullopt;
  CuratorInstance c;
  c.name = std::string(name->as_string());
  if (const json::value* a = o.if_contains("address"); a && a->is_string()) c.address = std::string(a->as_string());
  for (const char* port : {"port", "sslPort"}) {
    const json::value* p = o.if_contains(port);
    if (c.port == 0 && p && p->is_int64() && p->as_int64() > 0 && p->as_int64() <= 65535)
      c.port = static_cast<int32_t>(p->as_int64());
  }
  if (const json::value* e = o.if_contains("enabled"); e && e->is_bool()) c.enabled = e->as_bool();
  if (const json::value* p = o.if_contains("payload"); p && p->is_object()) {
    if (const json::value* m = p->as_object().if_contains("metadata"); m && m->is_object())
      for (const auto& [k, x] : m->as_object())
        if (x.is_string()) c.meta.push_back({std::string(k), std::string(x.as_string())});
  }
  std::sort(c.meta.begin(), c.meta.end(), [](const auto& a, const auto& b) { return a.key < b.key; });
  return c;
}

bool split_mirror_path(std::string_view path, std::string* name, std::string* id) {
  if (path.substr(0, kServicesRoot.size()) != kServicesRoot || path.size() <= kServicesRoot.size() + 1 ||
      path[kServicesRoot.size()] != '/')
    return false;
  std::string_view rest = path.substr(kServicesRoot.size() + 1);
  auto slash = rest.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 >= rest.size()) return false;
  if (rest.find('/', slash + 1) != std::string_view::npos) return false;
  *name = std::string(rest.substr(0, slash));
  *id = std::string(rest.substr(slash + 1));
  return true;
}

}  // namespace conclave::state
