// A span in Zipkin v2's model (its JSON form is in trace/zipkin_json.h, so that front-ends can hold
// spans without the JSON library's headers).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "trace/context.h"
#include "trace/tags.h"

namespace conclave::trace {

enum class Kind { kUnset, kServer, kClient, kProducer, kConsumer };

struct Endpoint {
  std::string service_name;  // lower case, as Zipkin stores it
  std::string ip;            // v4 or v6 literal ("" when unknown)
  uint16_t port = 0;
};

/// Zipkin stores span names in lower case.
inline std::string lower_case(std::string s) {
  for (auto& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

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
  Tags tags;
};

}  // namespace conclave::trace
