// A small HTTP/1.1 server over net::Stream: request parsing (request line, headers,
// Content-Length bodies; chunked request bodies are refused with 411/400), keep-alive,
// pipelined requests answered in order, and asynchronous responses (for blocking queries).
// No Asio here; the parser is a pure function so that it can be fuzzed.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "net/stream.h"

namespace conclave::net {

struct HttpRequest {
  std::string method;
  std::string target;  // as sent: path + query
  std::string path;    // percent-decoded path
  std::map<std::string, std::string> query;  // decoded; a flag without value maps to ""
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string remote_address;
  std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
  bool has_query(const std::string& k) const { return query.count(k) != 0; }
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

std::string status_text(int status);
std::string percent_decode(std::string_view s, bool plus_is_space);

enum class ParseStatus { kComplete, kIncomplete, kBad };
/// Parses one request from the front of `in`. On kComplete, `consumed` is its length.
ParseStatus parse_http_request(std::string_view in, size_t max_body_bytes, HttpRequest* out, size_t* consumed,
                               std::string* error);

class HttpHandler {
 public:
  using Respond = std::function<void(HttpResponse)>;
  virtual ~HttpHandler() = default;
  /// May call `respond` now or later (on the loop thread), exactly once.
  virtual void handle(const HttpRequest& request, Respond respond) = 0;
};

class HttpServer : public Acceptor {
 public:
  HttpServer(HttpHandler& handler, size_t max_body_bytes = 4 * 1024 * 1024)
      : handler_(handler), max_body_bytes_(max_body_bytes), alive_(std::make_shared<bool>(true)) {}
  ~HttpServer() override { *alive_ = false; }
  std::unique_ptr<StreamHandler> accept(Stream& stream) override;
  HttpHandler& handler() { return handler_; }
  size_t max_body_bytes() const { return max_body_bytes_; }

 private:
  HttpHandler& handler_;
  size_t max_body_bytes_;
  std::shared_ptr<bool> alive_;
};

}  // namespace conclave::net
