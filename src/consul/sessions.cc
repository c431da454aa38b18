// /v1/session/*: create, destroy, renew, info, list, node. Consul sessions and ZooKeeper
// sessions are one table (state::SessionInfo); a ZooKeeper session shows here with the UUID
// state::zk_session_uuid gives it, Behavior "delete" (its ephemerals go with it) and no TTL.
#include <fmt/format.h>

#include "consul/api.h"

namespace conclave::consul {
namespace {

constexpr int64_t kMinTtlMs = 10 * 1000;
constexpr int64_t kMaxTtlMs = 24 * 3600 * 1000;
constexpr int64_t kMaxLockDelayMs = 60 * 1000;

std::string uuid_from(std::string b) {
  b[6] = static_cast<char>((b[6] & 0x0F) | 0x40);  // version 4
  b[8] = static_cast<char>((b[8] & 0x3F) | 0x80);  // RFC 4122 variant
  std::string hex;
  for (unsigned char c : b) hex += fmt::format("{:02x}", c);
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" + hex.substr(16, 4) + "-" +
         hex.substr(20, 12);
}

bool string_list(const json::value& v, std::vector<std::string>* out) {
  if (v.is_null()) return true;
  if (!v.is_array()) return false;
  for (const auto& e : v.as_array()) {
    if (e.is_string()) out->emplace_back(e.as_string());
    else if (const json::value* id = e.is_object() ? field(e.as_object(), "ID") : nullptr; id && id->is_string())
      out->emplace_back(id->as_string());  // ServiceChecks: [{"ID": ...}]
    else return false;
  }
  return true;
}

}  // namespace

json::object ConsulApi::session_json(state::SessionId id, const state::SessionInfo& s) const {
  const auto& tree = replica_.tree();
  auto info = replica_.info();
  json::object o;
  o["ID"] = tree.session_uuid(id);
  if (s.consul) {
    o["Name"] = s.spec.name;
    o["Node"] = s.spec.node;
    o["LockDelay"] = s.spec.lock_delay_ms * 1000000;  // nanoseconds, as Go's time.Duration
    o["Behavior"] = s.spec.behavior == 1 ? "delete" : "release";
    o["TTL"] = s.spec.ttl_ms ? format_duration(s.spec.ttl_ms) : "";
    json::array checks;
    for (const auto& c : s.spec.node_checks) checks.emplace_back(c);
    o["NodeChecks"] = checks;
    o["Checks"] = checks;
    if (s.spec.service_checks.empty()) {
      o["ServiceChecks"] = nullptr;
    } else {
      json::array sc;
      for (const auto& c : s.spec.service_checks) sc.push_back(json::object{{"ID", c}, {"Namespace", ""}});
      o["ServiceChecks"] = sc;
    }
  } else {
    o["Name"] = fmt::format("zookeeper session 0x{:x}", static_cast<uint64_t>(id));
    o["Node"] = info.node_name;
    o["LockDelay"] = 0;
    o["Behavior"] = "delete";
    o["TTL"] = "";
    o["NodeChecks"] = json::array{};
    o["Checks"] = json::array{};
    o["ServiceChecks"] = nullptr;
  }
  o["CreateIndex"] = static_cast<uint64_t>(s.create_index);
  o["ModifyIndex"] = static_cast<uint64_t>(s.create_index);
  return o;
}

void ConsulApi::session_create(const net::HttpRequest& req, Respond respond) {
  auto info = replica_.info();
  net::HttpResponse err;
  if (!check_datacenter(req, info.datacenter, &err)) return respond(std::move(err));
  state::ConsulSessionSpec spec;
  spec.node = info.node_name;
  spec.node_checks = {"serfHealth"};
  if (!req.body.empty()) {
    boost::system::error_code ec;
    json::value body = json::parse(req.body, ec);
    if (ec) return respond(text_error(400, "Request decode failed: " + ec.message()));
    if (!body.is_object()) return respond(text_error(400, "Request decode failed: the body must be a JSON object"));
    const auto& o = body.as_object();
    auto str = [&](const char* name, std::string* out) {
      const json::value* v = field(o, name);
      if (!v || v->is_null()) return true;
      if (!v->is_string()) return false;
      *out = std::string(v->as_string());
      return true;
    };
    std::string ttl, behavior;
    if (!str("Name", &spec.name) || !str("Node", &spec.node) || !str("TTL", &ttl) || !str("Behavior", &behavior))
      return respond(text_error(400, "Request decode failed: Name, Node, TTL and Behavior must be strings"));
    if (const json::value* lv = field(o, "LockDelay"); lv && !lv->is_null()) {
      const auto& v = *lv;
      std::optional<int64_t> ms;
      if (v.is_string()) ms = parse_duration_ms(v.as_string());
      else if (v.is_number()) {
        double d = v.to_number<double>();
        // Consul's FixupLockDelay: small numbers are seconds, large ones nanoseconds.
        ms = d < 1000 ? static_cast<int64_t>(d * 1000) : static_cast<int64_t>(d / 1e6);
      }
      if (!ms || *ms < 0) return respond(text_error(400, "Request decode failed: invalid LockDelay"));
      if (*ms > kMaxLockDelayMs) return respond(text_error(400, "Invalid Lock Delay: must be at most 60s"));
      spec.lock_delay_ms = *ms;
    }
    if (!ttl.empty()) {
      auto ms = parse_duration_ms(ttl);
      if (!ms) return respond(text_error(400, "Request decode failed: invalid TTL '" + ttl + "'"));
      if (*ms != 0 && (*ms < kMinTtlMs || *ms > kMaxTtlMs))
        return respond(text_error(400, "Invalid Session TTL '" + ttl + "', must be between [10s=24h0m0s]"));
      spec.ttl_ms = *ms;
    }
    if (behavior == "delete") spec.behavior = 1;
    else if (behavior.empty() || behavior == "release") spec.behavior = 0;
    else return respond(text_error(400, "Invalid Behavior setting '" + behavior + "'"));
    bool has_checks = field(o, "Checks") || field(o, "NodeChecks");
    std::vector<std::string> checks;
    for (const char* name : {"Checks", "NodeChecks"})
      if (const json::value* v = field(o, name); v && !string_list(*v, &checks))
        return respond(text_error(400, std::string("Request decode failed: ") + name + " must be a list of check IDs"));
    if (has_checks) spec.node_checks = checks;
    if (const json::value* v = field(o, "ServiceChecks"); v && !string_list(*v, &spec.service_checks))
      return respond(text_error(400, "Request decode failed: ServiceChecks must be a list of {\"ID\": ...}"));
  }
  // As Consul's session endpoint: the node must be registered, and every check the session
  // relies on must exist on it and not be critical. This node counts as registered (with its
  // serfHealth check) before its own catalog entry has been applied.
  const auto& catalog = replica_.tree().catalog();
  const state::Catalog::NodeEntry* node = catalog.node(spec.node);
  if (!node && spec.node != info.node_name)
    return respond(text_error(500, "Failed to create session: Missing node registration"));
  auto check_ok = [&](const std::string& id, bool service) -> std::optional<std::string> {
    const state::Catalog::Check* c = nullptr;
    if (node) {
      auto it = node->checks.find(id);
      if (it != node->checks.end() && (!service || !it->second.spec.service_id.empty())) c = &it->second;
    }
    if (!c) {
      if (!node && !service && id == "serfHealth") return std::nullopt;
      return "Missing check '" + id + "' registration";
    }
    if (c->spec.status == state::kCritical) return "Check '" + id + "' is in critical state";
    return std::nullopt;
  };
  for (const auto& c : spec.node_checks)
    if (auto e = check_ok(c, false)) return respond(text_error(500, "Failed to create session: " + *e));
  for (const auto& c : spec.service_checks)
    if (auto e = check_ok(c, true)) return respond(text_error(500, "Failed to create session: " + *e));
  spec.uuid = uuid_from(replica_.random_bytes(16));
  state::Command cmd;
  cmd.kind = state::CommandKind::kCreateSession;
  cmd.session = replica_.next_session_id();
  cmd.consul = true;
  cmd.consul_session = spec;
  std::string uuid = spec.uuid;
  propose(std::move(cmd), std::move(respond), [uuid](const state::ApplyResult& r) -> net::HttpResponse {
    if (r.code != state::Code::kOk) return text_error(500, "session id collision; retry");
    return json_response(json::object{{"ID", uuid}});
  });
}

void ConsulApi::session_destroy(const net::HttpRequest& req, Respond respond) {
  net::HttpResponse err;
  if (!check_datacenter(req, datacenter_, &err)) return respond(std::move(err));
  std::string uuid = tail_of(req.path, "/v1/session/destroy/");
  if (uuid.empty()) return respond(text_error(400, "Missing session"));
  state::SessionId id = replica_.tree().session_by_uuid(uuid);
  if (id == 0) return respond(json_response(true));  // Consul: destroying an unknown session succeeds
  replica_.session_closing(id);
  state::Command cmd;
  cmd.kind = state::CommandKind::kCloseSession;
  cmd.session = id;
  propose(std::move(cmd), std::move(respond), [](const state::ApplyResult&) -> net::HttpResponse { return json_response(true); });
}

void ConsulApi::session_renew(const net::HttpRequest& req, Respond respond) {
  net::HttpResponse err;
  if (!check_datacenter(req, datacenter_, &err)) return respond(std::move(err));
  std::string uuid = tail_of(req.path, "/v1/session/renew/");
  if (uuid.empty()) return respond(text_error(400, "Missing session"));
  const auto& tree = replica_.tree();
  state::SessionId id = tree.session_by_uuid(uuid);
  const state::SessionInfo* s = id ? tree.session(id) : nullptr;
  if (!s) return respond(text_error(404, "Session id '" + uuid + "' not found"));
  replica_.touch_session(id);  // liveness only, as Consul's renew: no log entry
  respond(json_response(json::array{session_json(id, *s)}));
}

void ConsulApi::session_read(const net::HttpRequest& req, Respond respond) {
  QueryOptions opts;
  net::HttpResponse err;
  if (!parse_query_options(req, datacenter_, &opts, &err)) return respond(std::move(err));
  std::string uuid, node;
  bool list = req.path == "/v1/session/list";
  if (req.path.rfind("/v1/session/info/", 0) == 0) {
    uuid = tail_of(req.path, "/v1/session/info/");
    if (uuid.empty()) return respond(text_error(400, "Missing session"));
  } else if (req.path.rfind("/v1/session/node/", 0) == 0) {
    node = tail_of(req.path, "/v1/session/node/");
    if (node.empty()) return respond(text_error(400, "Missing node name"));
  } else if (!list) {
    return respond(text_error(404, "Not found: " + req.path));
  }
  auto read = [this, uuid, node, list]() {
    ReadResult r;
    r.index = global_index();
    const auto& tree = replica_.tree();
    std::string me = replica_.info().node_name;
    std::vector<std::pair<int64_t, json::object>> rows;
    if (!uuid.empty()) {
      state::SessionId id = tree.session_by_uuid(uuid);
      if (const state::SessionInfo* s = id ? tree.session(id) : nullptr) rows.emplace_back(s->create_index, session_json(id, *s));
    } else {
      for (const auto& [id, s] : tree.sessions()) {
        const std::string& owner = s.consul ? s.spec.node : me;
        if (list || owner == node) rows.emplace_back(s.create_index, session_json(id, s));
      }
    }
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    json::array a;
    for (auto& [idx, o] : rows) a.emplace_back(std::move(o));
    r.response = json_response(a);
    return r;
  };
  serve_read(req, opts, std::string(BlockingQueries::kSessions), std::move(read), std::move(respond));
}

}  // namespace conclave::consul
