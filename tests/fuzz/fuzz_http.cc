// HTTP/1.1 request parsing (Beast's parser behind net::parse_http_request): any bytes are either
// refused with a status or parsed into a request that consumed a prefix of the input.
#include <cstdint>
#include <string>

#include "common/assert.h"
#include "net/http.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t offset = 0;
  for (int i = 0; i < 8 && offset < in.size(); ++i) {  // pipelined requests, as a connection sees them
    conclave::net::HttpRequest req;
    size_t consumed = 0;
    std::string error;
    int status = 0;
    auto st = conclave::net::parse_http_request(in.substr(offset), 64 * 1024, &req, &consumed, &error, &status);
    if (st == conclave::net::ParseStatus::kBad) {
      CONCLAVE_ASSERT(status >= 400 && status < 500 && !error.empty(), "a refusal has a 4xx status and a reason");
      break;
    }
    if (st == conclave::net::ParseStatus::kIncomplete) break;
    CONCLAVE_ASSERT(consumed > 0 && consumed <= in.size() - offset, "a request consumes part of the input");
    CONCLAVE_ASSERT(!req.path.empty() && req.body.size() <= 64 * 1024, "parsed request is within limits");
    offset += consumed;
  }
  return 0;
}
