// Zipkin's v2 read API over a SpanStore, so a Zipkin UI (or any Zipkin client) pointed at a node
// shows its recent traces with no collector: GET /api/v2/services, /spans, /remoteServices,
// /traces, /trace/{id}, /traceMany. Free of sockets: a request is a path and its query
// parameters, the answer a status and a JSON body.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "trace/store.h"

namespace conclave::trace {

struct ApiAnswer {
  int status = 200;
  std::string body;  // JSON, or plain text for errors
};

/// `path` starts with /api/v2/; `now_ms` is the default endTs (epoch milliseconds).
ApiAnswer zipkin_api(const SpanStore& store, const std::string& path, const std::map<std::string, std::string>& query,
                     int64_t now_ms);

}  // namespace conclave::trace
