// A blocking HTTP/1.1 client for the CLI's calls to a node's HTTP API (loopback/LAN only).
#pragma once

#include <string>

#include "common/result.h"

namespace conclave::cli {

struct HttpReply {
  int status = 0;
  std::string body;
  std::string index;  // X-Consul-Index, when present
};

/// `address` is host:port. Sends `method path` with `body` and reads the whole reply.
Result<HttpReply> http_call(const std::string& address, const std::string& method, const std::string& path,
                            int timeout_ms = 5000, const std::string& body = "");

/// The address of the node's HTTP API: --http-addr, else CONCLAVE_HTTP_ADDR (or CONSUL_HTTP_ADDR),
/// else 127.0.0.1:8500. A leading "http://" is dropped.
std::string default_http_addr();
/// Percent-encodes a key for a URL path (keeps '/').
std::string url_path_escape(const std::string& s);

}  // namespace conclave::cli
