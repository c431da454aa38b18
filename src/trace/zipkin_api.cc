#include "trace/zipkin_api.h"

#include "trace/zipkin_json.h"

#include <charconv>

namespace conclave::trace {
namespace {

std::string param(const std::map<std::string, std::string>& q, const char* name) {
  auto it = q.find(name);
  return it == q.end() ? std::string() : it->second;
}

bool number(const std::string& s, int64_t* out) {
  if (s.empty()) return true;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size() && *out >= 0;
}

json::array names(const std::vector<std::string>& v) {
  json::array a;
  for (const auto& s : v) a.emplace_back(s);
  return a;
}

json::array spans_json(const std::vector<Span>& spans) {
  json::array a;
  for (const auto& s : spans) a.push_back(to_zipkin_json(s));
  return a;
}

ApiAnswer ok(const json::value& v) { return {200, json::serialize(v)}; }
ApiAnswer bad(std::string why) { return {400, std::move(why)}; }

}  // namespace

ApiAnswer zipkin_api(const SpanStore& store, const std::string& path, const std::map<std::string, std::string>& query,
                     int64_t now_ms) {
  std::string rest = path.substr(std::string("/api/v2/").size());
  if (rest == "services") return ok(names(store.services()));
  if (rest == "spans" || rest == "remoteServices") {
    std::string service = param(query, "serviceName");
    if (service.empty()) return bad("serviceName is required");
    return ok(names(rest == "spans" ? store.span_names(service) : store.remote_services(service)));
  }
  if (rest.compare(0, 6, "trace/") == 0) {
    auto id = TraceId::parse(rest.substr(6));
    if (!id) return bad("invalid trace id: " + rest.substr(6));
    auto spans = store.trace(*id);
    if (spans.empty()) return {404, "trace not found: " + rest.substr(6)};
    return ok(spans_json(spans));
  }
  if (rest == "traceMany") {
    std::string ids = param(query, "traceIds");
    if (ids.empty()) return bad("traceIds is required");
    json::array out;
    size_t start = 0;
    while (start <= ids.size()) {
      size_t comma = ids.find(',', start);
      std::string one = ids.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      auto id = TraceId::parse(one);
      if (!id) return bad("invalid trace id: " + one);
      auto spans = store.trace(*id);
      if (!spans.empty()) out.push_back(spans_json(spans));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    return ok(out);
  }
  if (rest == "traces") {
    TraceQuery q;
    q.service_name = param(query, "serviceName");
    q.span_name = param(query, "spanName");
    if (q.span_name == "all") q.span_name.clear();
    q.remote_service_name = param(query, "remoteServiceName");
    int64_t limit = 10, lookback = 86400000, end = now_ms;
    if (!number(param(query, "minDuration"), &q.min_duration_us) ||
        !number(param(query, "maxDuration"), &q.max_duration_us) || !number(param(query, "endTs"), &end) ||
        !number(param(query, "lookback"), &lookback) || !number(param(query, "limit"), &limit))
      return bad("minDuration, maxDuration, endTs, lookback and limit must be non-negative integers");
    q.end_ts_ms = end ? end : now_ms;
    q.lookback_ms = lookback;
    q.limit = static_cast<size_t>(limit ? limit : 10);
    // annotationQuery: "error and http.method=GET"
    std::string aq = param(query, "annotationQuery");
    size_t start = 0;
    while (start < aq.size()) {
      size_t and_at = aq.find(" and ", start);
      std::string term = aq.substr(start, and_at == std::string::npos ? std::string::npos : and_at - start);
      size_t eq = term.find('=');
      if (!term.empty())
        q.annotation_query.emplace_back(term.substr(0, eq), eq == std::string::npos ? "" : term.substr(eq + 1));
      if (and_at == std::string::npos) break;
      start = and_at + 5;
    }
    json::array out;
    for (const auto& t : store.traces(q)) out.push_back(spans_json(t));
    return ok(out);
  }
  return {404, "Not found: " + path};
}

}  // namespace conclave::trace
