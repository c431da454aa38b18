// A span in Zipkin v2's model, and its Zipkin v2 JSON form.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/json.h"
#include "trace/context.h"

namespace conclave::trace {

enum class Kind { kUnset, kServer, kClient, kProducer, kConsumer };

struct Endpoint {
  std::string service_name;  // lower case, as Zipkin stores it
  std::string ip;            // v4 or v6 literal ("" when unknown)
  uint16_t port = 0;
};

struct Span {
  TraceId trace_id;
  uint64_t id = 0;
  uint64_t parent_id = 0;  // 0: a root span
  std::string name;        // lower case
  Kind kind = Kind::kUnset;
  int64_t timestamp_us = 0;  // epoch microseconds
  int64_t duration_us = 0;
  Endpoint local;
  Endpoint remote;
  bool debug = false;
  bool shared = false;
  std::vector<std::pair<int64_t, std::string>> annotations;  // (epoch µs, value)
  std::vector<std::pair<std::string, std::string>> tags;
};

/// One span as a Zipkin v2 JSON object (the shape POST /api/v2/spans takes and the read API returns).
json::object to_zipkin_json(const Span& s);

}  // namespace conclave::trace
