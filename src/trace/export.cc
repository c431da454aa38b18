#include "trace/export.h"

#include <map>

#include "common/json.h"
#include "trace/zipkin_json.h"

namespace conclave::trace {

void ExportQueue::push(const Span& s) {
  if (queue_.size() >= options_.max_queue) {
    ++dropped_;
    return;
  }
  queue_.push_back(s);
}

std::optional<std::vector<Span>> ExportQueue::take(int64_t now_ms) {
  if (in_flight_ || queue_.empty()) return std::nullopt;
  if (queue_.size() < options_.max_batch && now_ms - last_take_ms_ < options_.flush_ms) return std::nullopt;
  size_t n = std::min(queue_.size(), options_.max_batch);
  std::vector<Span> batch(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.begin() + n));
  queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
  in_flight_ = true;
  last_take_ms_ = now_ms;
  return batch;
}

void ExportQueue::done(bool ok, size_t n) {
  in_flight_ = false;
  (ok ? sent_ : failed_) += n;
}

std::string zipkin_v2_body(const std::vector<Span>& spans) {
  json::array a;
  a.reserve(spans.size());
  for (const auto& s : spans) a.push_back(to_zipkin_json(s));
  return json::serialize(a);
}

namespace {

// OTLP's SpanKind: INTERNAL 1, SERVER 2, CLIENT 3, PRODUCER 4, CONSUMER 5.
int otlp_kind(Kind k) {
  switch (k) {
    case Kind::kServer: return 2;
    case Kind::kClient: return 3;
    case Kind::kProducer: return 4;
    case Kind::kConsumer: return 5;
    case Kind::kUnset: break;
  }
  return 1;
}

json::object string_attribute(std::string_view key, std::string_view value) {
  return {{"key", key}, {"value", json::object{{"stringValue", value}}}};
}

std::string nanos(int64_t us) { return std::to_string(us) + "000"; }

json::object otlp_span(const Span& s) {
  std::string trace_hex = s.trace_id.hex();
  if (trace_hex.size() < 32) trace_hex.insert(0, 32 - trace_hex.size(), '0');  // OTLP ids are 16 bytes
  json::object o;
  o["traceId"] = trace_hex;
  o["spanId"] = span_id_hex(s.id);
  if (s.parent_id) o["parentSpanId"] = span_id_hex(s.parent_id);
  o["name"] = s.name.view();
  o["kind"] = otlp_kind(s.kind);
  o["startTimeUnixNano"] = nanos(s.timestamp_us);
  o["endTimeUnixNano"] = nanos(s.timestamp_us + std::max<int64_t>(s.duration_us, 1));
  json::array attrs;
  bool error = false;
  std::string error_message;
  for (const auto& [k, v] : s.tags) {
    if (k == "error") {
      error = true;
      error_message = v;
    }
    attrs.push_back(string_attribute(k, v));
  }
  if (!s.remote.service_name.empty()) attrs.push_back(string_attribute("peer.service", s.remote.service_name));
  if (!s.remote.ip.empty()) attrs.push_back(string_attribute("net.peer.ip", s.remote.ip.view()));
  if (!s.local.ip.empty()) attrs.push_back(string_attribute("net.host.ip", s.local.ip));
  if (!attrs.empty()) o["attributes"] = std::move(attrs);
  if (!s.annotations.empty()) {
    json::array events;
    for (const auto& [ts, v] : s.annotations) events.push_back(json::object{{"timeUnixNano", nanos(ts)}, {"name", v.view()}});
    o["events"] = std::move(events);
  }
  if (error) {
    json::object status{{"code", 2}};
    if (!error_message.empty()) status["message"] = error_message;
    o["status"] = std::move(status);
  }
  return o;
}

}  // namespace

std::string otlp_json_body(const std::vector<Span>& spans) {
  std::map<std::string, json::array> by_service;
  for (const auto& s : spans) by_service[s.local.service_name.str()].push_back(otlp_span(s));
  json::array resource_spans;
  for (auto& [service, list] : by_service) {
    json::object resource{{"attributes", json::array{string_attribute("service.name", service)}}};
    json::object scope_spans{{"scope", json::object{{"name", "conclave"}}}, {"spans", std::move(list)}};
    resource_spans.push_back(
        json::object{{"resource", std::move(resource)}, {"scopeSpans", json::array{std::move(scope_spans)}}});
  }
  return json::serialize(json::object{{"resourceSpans", std::move(resource_spans)}});
}

}  // namespace conclave::trace
