// A blocking HTTP/1.1 client for the CLI's calls to a node's HTTP API (loopback/LAN only).
#pragma once

#include <string>

#include "common/result.h"

namespace conclave::cli {

struct HttpReply {
  int status = 0;
  std::string body;
};

/// `address` is host:port. Sends `method path` with an empty body and reads the whole reply.
Result<HttpReply> http_call(const std::string& address, const std::string& method, const std::string& path,
                            int timeout_ms = 5000);

}  // namespace conclave::cli
