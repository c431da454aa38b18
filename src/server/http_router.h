// The HTTP router: every `/v1/...` route is registered here by the part of the node that serves
// it (the node's own status/operator/metrics routes, the Consul front-end's KV, session, txn ...).
//
// A route is an exact path or a path prefix (`/v1/kv/` serves every key), with the methods it
// accepts. Exact routes win over prefixes, longer prefixes over shorter. An unknown path gets
// 404, a known path with another method 405 with an `Allow` header (Consul's behaviour).
//
// With a tracer set, each request (except the Zipkin read API's own) may get a server span named
// "<method> <route>" ("get /v1/kv/"), continuing the caller's B3 or W3C context; a sampled
// response carries `X-Trace-Id` and `traceresponse` so the caller can find its trace.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>

#include "common/boxed.h"
#include "common/histogram.h"
#include "net/http.h"
#include "trace/tracer.h"

namespace conclave::server {

class HttpRouter : public net::HttpHandler {
 public:
  using Handler = std::function<void(const net::HttpRequest&, Respond)>;

  void exact(const std::string& path, std::set<std::string> methods, Handler handler);
  void prefix(const std::string& prefix, std::set<std::string> methods, Handler handler);

  void handle(const net::HttpRequest& request, Respond respond) override;

  static net::HttpResponse text(int status, std::string body);

  /// Traces requests through `tracer` (which must outlive the router); `wall_us` is the clock of
  /// span timestamps, `monotonic_ms` the sampler's.
  void set_tracer(trace::Tracer* tracer, std::function<int64_t()> wall_us, std::function<int64_t()> monotonic_ms);
  /// Measures each routed request (handler called -> response given) on this clock, by route and
  /// method; without one nothing is measured.
  void set_latency_clock(std::function<int64_t()> monotonic_us) { monotonic_us_ = std::move(monotonic_us); }
  /// `conclave_http_request_duration_seconds{method,route}`, Prometheus histogram lines.
  std::string metrics_text() const;

 private:
  /// What the router keeps per route and method (a method the route does not serve is "other").
  struct PerMethod {
    LatencyHistogram latency;
    trace::Name span_name;  // "<method> <route>", lower case
  };
  struct Route {
    std::set<std::string> methods;
    Handler handler;
    std::map<std::string, PerMethod, std::less<>> by_method;  // nodes are stable: respond keeps a pointer
  };
  void dispatch(const Route& route, const net::HttpRequest& request, Respond respond);
  /// The matched route's key (exact path or prefix), or nullptr.
  std::pair<const std::string, Route>* find(const std::string& path);
  /// The route's entry for the request's method, made on first use.
  PerMethod& per_method(std::pair<const std::string, Route>& route, const std::string& method);
  /// The request's server span when it is traced (the context it carries, the sampler's choice),
  /// named and tagged, started now.
  Boxed<trace::Span> start_span(const net::HttpRequest& request, const std::string* route, trace::Name name);
  /// Ends the span of a traced request with its response, whose headers name the trace.
  void finish_span(trace::Span& span, net::HttpResponse& response);
  trace::Tracer* tracer_ = nullptr;
  std::function<int64_t()> wall_us_, monotonic_ms_, monotonic_us_;
  std::map<std::string, Route> exact_;
  std::map<std::string, Route, std::greater<>> prefixes_;  // longest first among shared prefixes
};

}  // namespace conclave::server
