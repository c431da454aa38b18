#include "server/http_router.h"

namespace conclave::server {

void HttpRouter::exact(const std::string& path, std::set<std::string> methods, Handler handler) {
  exact_[path] = Route{std::move(methods), std::move(handler)};
}

void HttpRouter::prefix(const std::string& prefix, std::set<std::string> methods, Handler handler) {
  prefixes_[prefix] = Route{std::move(methods), std::move(handler)};
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

void HttpRouter::handle(const net::HttpRequest& request, Respond respond) {
  if (auto it = exact_.find(request.path); it != exact_.end()) return dispatch(it->second, request, std::move(respond));
  // std::greater ordering visits "/v1/kv/" before "/v1/", so the first match is the longest.
  for (const auto& [p, route] : prefixes_)
    if (request.path.compare(0, p.size(), p) == 0) return dispatch(route, request, std::move(respond));
  respond(text(404, "Not found: " + request.path));
}

}  // namespace conclave::server
