// The HTTP router: every `/v1/...` route is registered here by the part of the node that serves
// it (the node's own status/operator/metrics routes, the Consul front-end's KV, session, txn ...).
//
// A route is an exact path or a path prefix (`/v1/kv/` serves every key), with the methods it
// accepts. Exact routes win over prefixes, longer prefixes over shorter. An unknown path gets
// 404, a known path with another method 405 with an `Allow` header (Consul's behaviour).
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>

#include "net/http.h"

namespace conclave::server {

class HttpRouter : public net::HttpHandler {
 public:
  using Handler = std::function<void(const net::HttpRequest&, Respond)>;

  void exact(const std::string& path, std::set<std::string> methods, Handler handler);
  void prefix(const std::string& prefix, std::set<std::string> methods, Handler handler);

  void handle(const net::HttpRequest& request, Respond respond) override;

  static net::HttpResponse text(int status, std::string body);

 private:
  struct Route {
    std::set<std::string> methods;
    Handler handler;
  };
  void dispatch(const Route& route, const net::HttpRequest& request, Respond respond);
  std::map<std::string, Route> exact_;
  std::map<std::string, Route, std::greater<>> prefixes_;  // longest first among shared prefixes
};

}  // namespace conclave::server
