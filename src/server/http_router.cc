#include "server/http_router.h"

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

HttpRouter::Respond HttpRouter::traced(const net::HttpRequest& request, const std::string* route, Respond respond,
                                       std::optional<trace::Parent>* active) {
  auto span = tracer_->start(trace::extract([&](const std::string& name) { return request.header(name); }),
                             monotonic_ms_());
  if (!span) return respond;
  std::string_view route_name = route ? std::string_view(*route) : std::string_view("not_found");
  span->name.reserve(request.method.size() + 1 + route_name.size());
  span->name.append(request.method).append(" ").append(route_name);
  span->name = trace::lower_case(std::move(span->name));
  span->kind = trace::Kind::kServer;
  span->timestamp_us = wall_us_();
  span->tags.add("http.method", request.method);
  span->tags.add("http.path", request.path);
  if (route) span->tags.add("http.route", *route);
  span->remote.ip = request.remote_address;
  *active = trace::parent_of(*span);
  return [this, span = std::move(*span), respond = std::move(respond)](net::HttpResponse r) mutable {
    span.tags.add("http.status_code", r.status);
    if (r.status >= 500) span.tags.add("error", r.status);
    r.headers.emplace_back("X-Trace-Id", span.trace_id.hex());
    r.headers.emplace_back("traceresponse", trace::traceparent(span.trace_id, span.id, true));
    // What is logged while the response goes out (the request-finished line) names the span.
    log::ScopedTrace ids(span.trace_id.high, span.trace_id.low, span.id);
    tracer_->finish(std::move(span), wall_us_());
    respond(std::move(r));
  };
}

void HttpRouter::handle(const net::HttpRequest& request, Respond respond) {
  auto* route = find(request.path);
  if (route && monotonic_us_) {
    // Only the route's own methods get a label of their own: a client picks the method string.
    static const std::string kOther = "other";
    bool known = route->second.methods.count(request.method) || request.method == "HEAD";
    LatencyHistogram* h = &route->second.latency_by_method[known ? request.method : kOther];
    if (log::level() <= log::Level::kDebug) {
      // Consul's agent logs the same line at debug level ("Request finished").
      respond = [this, h, start = monotonic_us_(), what = request.method + " " + request.path,
                 from = request.remote_address, respond = std::move(respond)](net::HttpResponse r) mutable {
        int64_t us = monotonic_us_() - start;
        h->observe_us(us);
        log::debug("http", "request finished: {} from={} status={} latency={}us", what, from, r.status, us);
        respond(std::move(r));
      };
    } else {
      respond = [this, h, start = monotonic_us_(), respond = std::move(respond)](net::HttpResponse r) mutable {
        h->observe_us(monotonic_us_() - start);
        respond(std::move(r));
      };
    }
  }
  std::optional<trace::Parent> active;
  if (tracer_ && request.path.compare(0, 8, "/api/v2/") != 0)
    respond = traced(request, route ? &route->first : nullptr, std::move(respond), &active);
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
    for (const auto& [method, h] : r.latency_by_method)
      if (h.count())
        out += h.text("conclave_http_request_duration_seconds",
                      "method=\"" + method + "\",route=\"" + route + "\"");
  };
  for (const auto& [route, r] : exact_) add(route, r);
  for (const auto& [route, r] : prefixes_) add(route, r);
  return out;
}

}  // namespace conclave::server
