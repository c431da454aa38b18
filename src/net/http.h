// The HTTP/1.1 server over net::Stream. Parsing is Boost.Beast's request parser (fed from the
// connection's bytes, so it runs without Beast's sockets): Content-Length and chunked bodies,
// `Expect: 100-continue` (answered once the header is in), header and body limits. Keep-alive,
// pipelined requests answered in order, asynchronous responses (blocking queries hold a request
// open without a thread), and idle / slow-header timeouts swept by tick().
// Beast stays inside http.cc: this header includes neither Beast nor Asio.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "net/stream.h"

namespace conclave::net {

struct HttpRequest {
  std::string method;
  std::string target;  // as sent: path + query
  std::string path;    // percent-decoded path
  std::map<std::string, std::string> query;  // decoded; a flag without value maps to ""; last one wins
  std::vector<std::pair<std::string, std::string>> query_list;  // every parameter, in order (repeatable ones)
  std::map<std::string, std::string, std::less<>> headers;  // lower-case names
  std::string body;
  std::string remote_address;
  std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
  bool has_query(const std::string& k) const { return query.count(k) != 0; }
  /// Every value of a repeatable parameter (?tag=a&tag=b), in order.
  std::vector<std::string> query_all(const std::string& k) const {
    std::vector<std::string> out;
    for (const auto& [key, v] : query_list)
      if (key == k) out.push_back(v);
    return out;
  }
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  /// More header lines, already formatted ("Name: value\r\n" each), written after `headers`:
  /// for a header added on every response of a kind (tracing's), without a string per name and value.
  std::string raw_headers;
  std::string body;
  /// When set, the body (and `body` is unused): one reply shared by many responses, sent without
  /// a copy per connection (blocking queries woken together).
  std::shared_ptr<const std::string> shared_body;
  const std::string& body_bytes() const { return shared_body ? *shared_body : body; }
};

std::string_view status_text(int status);
std::string percent_decode(std::string_view s, bool plus_is_space);

enum class ParseStatus { kComplete, kIncomplete, kBad };
/// Parses one request from the front of `in`. On kComplete, `consumed` is its length. On kBad,
/// `error` says why and `status` (when given) is the HTTP status to answer with.
ParseStatus parse_http_request(std::string_view in, size_t max_body_bytes, HttpRequest* out, size_t* consumed,
                               std::string* error, int* status = nullptr);

struct HttpLimits {
  size_t max_header_bytes = 64 * 1024;
  size_t max_body_bytes = 4 * 1024 * 1024;
  int64_t idle_timeout_ms = 90 * 1000;    // keep-alive connection with no request in flight
  int64_t header_timeout_ms = 30 * 1000;  // a request started but not complete (slow clients)
};

class HttpHandler {
 public:
  using Respond = std::function<void(HttpResponse)>;
  virtual ~HttpHandler() = default;
  /// May call `respond` now or later (on the loop thread), exactly once.
  virtual void handle(const HttpRequest& request, Respond respond) = 0;
};

class HttpConnectionBase;

class HttpServer : public Acceptor {
 public:
  explicit HttpServer(HttpHandler& handler, HttpLimits limits = {});
  ~HttpServer() override;
  std::unique_ptr<StreamHandler> accept(Stream& stream) override;
  HttpHandler& handler() { return handler_; }
  const HttpLimits& limits() const { return limits_; }
  /// Closes connections idle or stuck mid-request past their timeouts. Call about once a second.
  void tick(int64_t now_ms);
  size_t connection_count() const { return connections_.size(); }

  // Used by connections.
  void add(HttpConnectionBase* c) { connections_.insert(c); }
  void remove(HttpConnectionBase* c) { connections_.erase(c); }
  int64_t now_ms() const { return now_ms_; }

 private:
  HttpHandler& handler_;
  HttpLimits limits_;
  std::set<HttpConnectionBase*> connections_;
  int64_t now_ms_ = 0;
};

}  // namespace conclave::net
