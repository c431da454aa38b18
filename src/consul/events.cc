// /v1/event/fire/<name> and /v1/event/list: Consul's user events. Where Consul gossips an event,
// Conclave puts it in the log (a kUserEvent command that changes no state), so every node's agent
// sees it once, in the same order. Each agent keeps the last kMaxEvents events whose node,
// service and tag filters (regular expressions, as Consul's) match it; the list is this agent's
// buffer, and its X-Consul-Index is derived from the last event's ID (Consul's uuidToUint64), so
// a blocking list returns when that ID differs from the client's index.
#include <fmt/format.h>

#include <regex>

#include "common/digest.h"
#include "consul/api.h"

namespace conclave::consul {
namespace {

constexpr size_t kMaxEventPayload = 512;  // Consul's UserEventSizeLimit

/// Consul's uuidToUint64: the two halves of the UUID's hex digits, XORed.
uint64_t uuid_index(const std::string& id) {
  std::string hex;
  for (char c : id)
    if (c != '-') hex += c;
  if (hex.size() != 32) return 0;
  uint64_t hi = std::strtoull(hex.substr(0, 16).c_str(), nullptr, 16);
  uint64_t lo = std::strtoull(hex.substr(16).c_str(), nullptr, 16);
  return hi ^ lo;
}

bool regex_matches(const std::string& pattern, const std::string& s) {
  if (pattern.empty()) return true;
  try {
    return std::regex_search(s, std::regex(pattern, std::regex::ECMAScript));
  } catch (const std::regex_error&) {
    return false;
  }
}

}  // namespace

void ConsulApi::event_fire(const net::HttpRequest& req, Respond respond) {
  net::HttpResponse err;
  if (!check_datacenter(req, datacenter_, &err)) return respond(std::move(err));
  std::string name = tail_of(req.path, "/v1/event/fire/");
  if (name.empty()) return respond(text_error(400, "Missing name"));
  if (req.body.size() > kMaxEventPayload)
    return respond(text_error(400, fmt::format("user event exceeds limit of {} bytes", kMaxEventPayload)));
  json::object ev;
  std::string b = replica_.random_bytes(16);
  std::string hex;
  for (unsigned char c : b) hex += fmt::format("{:02x}", c);
  ev["ID"] = hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" + hex.substr(16, 4) + "-" +
             hex.substr(20, 12);
  ev["Name"] = name;
  ev["Payload"] = req.body.empty() ? json::value(nullptr) : json::value(base64_encode(req.body));
  for (auto [param, field] : {std::pair{"node", "NodeFilter"}, std::pair{"service", "ServiceFilter"},
                              std::pair{"tag", "TagFilter"}}) {
    auto it = req.query.find(param);
    std::string v = it == req.query.end() ? "" : it->second;
    if (!v.empty()) {
      try {
        std::regex check(v, std::regex::ECMAScript);
      } catch (const std::regex_error&) {
        return respond(text_error(400, std::string("Invalid ") + param + " filter: '" + v + "'"));
      }
    }
    ev[field] = v;
  }
  if (!ev["TagFilter"].as_string().empty() && ev["ServiceFilter"].as_string().empty())
    return respond(text_error(400, "Cannot provide tag filter without service filter"));
  ev["Version"] = 1;
  state::Command cmd;
  cmd.kind = state::CommandKind::kUserEvent;
  cmd.event = json::serialize(ev);
  propose(std::move(cmd), std::move(respond), [ev](const state::ApplyResult& r) mutable -> net::HttpResponse {
    ev["LTime"] = r.zxid;
    return json_response(ev);
  });
}

void ConsulApi::record_event(const state::Command& cmd, int64_t zxid) {
  boost::system::error_code ec;
  json::value v = json::parse(cmd.event, ec);
  if (ec || !v.is_object()) return;
  json::object ev = std::move(v.as_object());
  auto text = [&](const char* k) {
    const json::value* x = ev.if_contains(k);
    return x && x->is_string() ? std::string(x->as_string()) : std::string();
  };
  // The agent's own filter, as a Consul agent applies it on receipt.
  if (!regex_matches(text("NodeFilter"), replica_.info().node_name)) return;
  const std::string service_filter = text("ServiceFilter"), tag_filter = text("TagFilter");
  if (!service_filter.empty()) {
    bool any = false;
    if (const auto* n = own_node())
      for (const auto& [_, s] : n->services) {
        if (!regex_matches(service_filter, s.spec.name)) continue;
        if (tag_filter.empty()) any = true;
        for (const auto& t : s.spec.tags) any = any || regex_matches(tag_filter, t);
      }
    if (!any) return;
  }
  ev["LTime"] = zxid;
  events_.push_back(std::move(ev));
  while (events_.size() > kMaxEvents) events_.pop_front();
  blocking_.changed(kEventsWatch);
}

void ConsulApi::event_list(const net::HttpRequest& req, Respond respond) {
  QueryOptions opts;
  net::HttpResponse err;
  if (!parse_query_options(req, datacenter_, &opts, &err)) return respond(std::move(err));
  opts.consistency = Consistency::kStale;  // this agent's buffer, as in Consul
  std::string name = req.query.count("name") ? req.query.at("name") : "";
  auto read = [this, name] {
    json::array a;
    uint64_t index = 1;  // no events yet (what X-Consul-Index says then)
    for (const auto& ev : events_) {
      const json::value* n = ev.if_contains("Name");
      if (!name.empty() && (!n || !n->is_string() || n->as_string() != name)) continue;
      a.push_back(ev);
      index = uuid_index(std::string(ev.at("ID").as_string()));
    }
    ReadResult r{json_response(a), index};
    r.index_is_id = true;
    return r;
  };
  serve_read(req, opts, std::string(kEventsWatch), std::move(read), std::move(respond));
}

}  // namespace conclave::consul
