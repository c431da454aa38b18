#include "trace/zipkin_json.h"

namespace conclave::trace {
namespace {

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::kServer: return "SERVER";
    case Kind::kClient: return "CLIENT";
    case Kind::kProducer: return "PRODUCER";
    case Kind::kConsumer: return "CONSUMER";
    case Kind::kUnset: break;
  }
  return nullptr;
}

json::object endpoint_json(const Endpoint& e) {
  json::object o;
  if (!e.service_name.empty()) o["serviceName"] = e.service_name.view();
  std::string_view ip = e.ip;
  if (!ip.empty()) o[ip.find(':') == std::string_view::npos ? "ipv4" : "ipv6"] = ip;
  if (e.port) o["port"] = e.port;
  return o;
}

}  // namespace

json::object to_zipkin_json(const Span& s) {
  json::object o;
  o["traceId"] = s.trace_id.hex();
  o["id"] = span_id_hex(s.id);
  if (s.parent_id) o["parentId"] = span_id_hex(s.parent_id);
  o["name"] = s.name.view();
  if (const char* k = kind_name(s.kind)) o["kind"] = k;
  o["timestamp"] = s.timestamp_us;
  o["duration"] = std::max<int64_t>(s.duration_us, 1);  // Zipkin: at least 1 µs when known
  auto local = endpoint_json(s.local);
  if (!local.empty()) o["localEndpoint"] = std::move(local);
  auto remote = endpoint_json(s.remote);
  if (!remote.empty()) o["remoteEndpoint"] = std::move(remote);
  if (!s.annotations.empty()) {
    json::array a;
    for (const auto& [ts, v] : s.annotations) a.push_back(json::object{{"timestamp", ts}, {"value", v.view()}});
    o["annotations"] = std::move(a);
  }
  if (!s.tags.empty()) {
    json::object t;
    for (const auto& [k, v] : s.tags) t[k] = v;
    o["tags"] = std::move(t);
  }
  if (s.debug) o["debug"] = true;
  if (s.shared) o["shared"] = true;
  return o;
}

}  // namespace conclave::trace
