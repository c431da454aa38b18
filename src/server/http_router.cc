#include "server/http_router.h"

#include <algorithm>

#include "common/log.h"

namespace conclave::server {

void HttpRouter::exact(const std::string& path, std::set<std::string> methods, Handler handler) {
  exact_[path] = Route{std::move(methods), std::move(handler), {}};
}

void HttpRouter::prefix(const std::string& prefix, std::set<std::string> methods, Handler handler) {
  prefixes_[prefix] = Route{std::move(methods), std::move(handler), {}};
}

net::HttpResponse HttpRouter::text(int status, std::string body) {
  net::HttpResponse r;
  r.status = status;
  r.content_type = "text/plain; charset=utf-8";
  if (!body.empty() && body.back() != '\n') body += '\n';
  r.body = std::move(body);
  return r;
}

void HttpRouter::dispatch(const Route& route, const net::HttpRequest& request, Respond respond) {
  std::string method = request.method == "HEAD" ? "GET" : request.method;
  if (!route.methods.count(method)) {
    auto r = text(405, "method " + request.method + " not allowed");
    std::string allow;
    for (const auto& m : route.methods) allow += (allow.empty() ? "" : ",") + m;
    r.headers.emplace_back("Allow", allow);
    respond(std::move(r));
    return;
  }
  route.handler(request, std::move(respond));
}

std::pair<const std::string, HttpRouter::Route>* HttpRouter::find(const std::string& path) {
  if (auto it = exact_.find(path); it != exact_.end()) return &*it;
  // std::greater ordering visits "/v1/kv/" before "/v1/", so the first match is the longest.
  for (auto& entry : prefixes_)
    if (path.compare(0, entry.first.size(), entry.first) == 0) return &entry;
  return nullptr;
}

void HttpRouter::set_tracer(trace::Tracer* tracer, std::function<int64_t()> wall_us,
                            std::function<int64_t()> monotonic_ms) {
  tracer_ = tracer;
  wall_us_ = std::move(wall_us);
  monotonic_ms_ = std::move(monotonic_ms);
}

HttpRouter::PerMethod& HttpRouter::per_method(std::pair<const std::string, Route>& route, const std::string& method) {
  // Only the route's own methods get an entry of their own: a client picks the method string.
  bool known = route.second.methods.count(method) || method == "HEAD";
  std::string_view key = known ? std::string_view(method) : std::string_view("other");
  auto it = route.second.by_method.find(key);
  if (it == route.second.by_method.end()) {
    it = route.second.by_method.emplace(std::string(key), PerMethod{}).first;
    it->second.span_name = trace::intern(trace::lower_case(it->first + " " + route.first));
  }
  return it->second;
}

namespace {

/// A request no route serves is named after its method, when it is one of HTTP's.
trace::Name unrouted_span_name(const std::string& method) {
  std::string lower = trace::lower_case(method);
  for (trace::Name n : {trace::Name("get not_found"), trace::Name("put not_found"), trace::Name("post not_found"),
                        trace::Name("delete not_found"), trace::Name("head not_found"),
                        trace::Name("patch not_found"), trace::Name("options not_found")})
    if (n.view().substr(0, n.view().find(' ')) == lower) return n;
  return "other not_found";
}

/// The trace headers of a sampled response, formatted in place: `X-Trace-Id` (the trace id as
/// Zipkin writes it, 16 or 32 digits) and W3C `traceresponse` (the `traceparent` form).
void add_trace_headers(const trace::Span& span, std::string& raw) {
  char response[trace::kTraceparentSize];
  trace::write_traceparent(span.trace_id, span.id, true, response);
  // A 64-bit trace id is the last 16 of the 32 digits.
  std::string_view trace_id = span.trace_id.high ? std::string_view(response + 3, 32) : std::string_view(response + 19, 16);
  constexpr std::string_view kId = "X-Trace-Id: ", kResponse = "\r\ntraceresponse: ";
  raw.reserve(raw.size() + kId.size() + 32 + kResponse.size() + sizeof response + 2);
  raw.append(kId).append(trace_id).append(kResponse).append(response, sizeof response).append("\r\n");
}

}  // namespace

Boxed<trace::Span> HttpRouter::start_span(const net::HttpRequest& request, const std::string* route, trace::Name name) {
  trace::Incoming in;
  for (const auto& header : request.headers)
    if (trace::is_context_header(header.first)) {
      in = trace::extract([&](std::string_view name) -> std::string_view {
        auto it = request.headers.find(name);
        return it == request.headers.end() ? std::string_view() : std::string_view(it->second);
      });
      break;
    }
  Boxed<trace::Span> span;
  if (!tracer_->sample(in, monotonic_ms_())) return span;
  trace::Span& s = span.emplace();
  tracer_->begin(s, in);
  s.name = name;
  s.kind = trace::Kind::kServer;
  s.timestamp_us = wall_us_();
  s.tags.add("http.method", request.method);
  s.tags.add("http.path", request.path);
  if (route) s.tags.add("http.route", *route);
  s.remote.ip = request.remote_address;
  return span;
}

void HttpRouter::finish_span(trace::Span& span, net::HttpResponse& response) {
  span.tags.add("http.status_code", response.status);
  if (response.status >= 500) span.tags.add("error", response.status);
  add_trace_headers(span, response.raw_headers);
  tracer_->finish(std::move(span), wall_us_());
}

void HttpRouter::handle(const net::HttpRequest& request, Respond respond) {
  auto* route = find(request.path);
  PerMethod* per = route ? &per_method(*route, request.method) : nullptr;
  LatencyHistogram* latency = per && monotonic_us_ ? &per->latency : nullptr;
  const int64_t start = latency ? monotonic_us_() : 0;  // the request's span is within its latency
  if (latency && log::level() <= log::Level::kDebug) {
    // Consul's agent logs the same line at debug level ("Request finished").
    respond = [this, latency, start, what = request.method + " " + request.path,
               from = request.remote_address, respond = std::move(respond)](net::HttpResponse r) mutable {
      int64_t us = monotonic_us_() - start;
      latency->observe_us(us);
      log::debug("http", "request finished: {} from={} status={} latency={}us", what, from, r.status, us);
      respond(std::move(r));
    };
    latency = nullptr;
  }
  Boxed<trace::Span> span;
  if (tracer_ && request.path.compare(0, 8, "/api/v2/") != 0)
    span = start_span(request, route ? &route->first : nullptr, per ? per->span_name : unrouted_span_name(request.method));
  std::optional<trace::Parent> active;
  if (span) active = trace::parent_of(*span);
  // One wrapper for both (each wrapper is an allocation and a call); the span rides boxed, so
  // that moving the callback moves a pointer.
  if (latency || span)
    respond = [this, latency, start, span = std::move(span), respond = std::move(respond)](net::HttpResponse r) mutable {
      if (!span) {
        latency->observe_us(monotonic_us_() - start);
        return respond(std::move(r));
      }
      // What is logged while the response goes out (the request-finished line) names the span.
      log::ScopedTrace ids(span->trace_id.high, span->trace_id.low, span->id);
      finish_span(*span, r);
      if (latency) latency->observe_us(monotonic_us_() - start);
      respond(std::move(r));
    };
  if (route) {
    // What the handler starts before it returns (a proposal, a forward) joins the request's span.
    trace::ActiveScope scope(tracer_, active);
    return dispatch(route->second, request, std::move(respond));
  }
  respond(text(404, "Not found: " + request.path));
}

std::string HttpRouter::metrics_text() const {
  std::string out =
      "# HELP conclave_http_request_duration_seconds HTTP request latency, from routing to the response (a blocking "
      "query's includes its wait), by method and route.\n# TYPE conclave_http_request_duration_seconds histogram\n";
  auto add = [&](const std::string& route, const Route& r) {
    for (const auto& [method, m] : r.by_method)
      if (m.latency.count())
        out += m.latency.text("conclave_http_request_duration_seconds",
                      "method=\"" + method + "\",route=\"" + route + "\"");
  };
  for (const auto& [route, r] : exact_) add(route, r);
  for (const auto& [route, r] : prefixes_) add(route, r);
  return out;
}

}  // namespace conclave::server
