// Recent spans, kept in memory and bounded: the store behind the node's Zipkin v2 read API
// (/api/v2/services, /spans, /traces, /trace/{id}). When full, the oldest span is dropped, and
// counted. Single-threaded (the event loop's); no clocks: callers pass times in.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "trace/span.h"

namespace conclave::trace {

struct TraceQuery {
  std::string service_name;  // "" = any
  std::string span_name;     // "" = any
  std::string remote_service_name;
  std::vector<std::pair<std::string, std::string>> annotation_query;  // tag key (value "" = key only)
  int64_t min_duration_us = 0;
  int64_t max_duration_us = 0;  // 0 = no bound
  int64_t end_ts_ms = 0;        // the window is (end - lookback, end]
  int64_t lookback_ms = 0;
  size_t limit = 10;
};

class SpanStore {
 public:
  explicit SpanStore(size_t capacity) : capacity_(capacity) {}

  void add(Span s);
  size_t size() const { return spans_.size(); }
  size_t capacity() const { return capacity_; }
  uint64_t dropped() const { return dropped_; }
  uint64_t accepted() const { return accepted_; }

  std::vector<std::string> services() const;
  std::vector<std::string> span_names(const std::string& service) const;
  std::vector<std::string> remote_services(const std::string& service) const;
  /// Spans of one trace, in start order (empty when unknown).
  std::vector<Span> trace(const TraceId& id) const;
  /// Traces with at least one span matching the query, newest first, each in start order.
  std::vector<std::vector<Span>> traces(const TraceQuery& q) const;

 private:
  size_t capacity_;
  std::deque<Span> spans_;  // oldest first
  uint64_t next_seq_ = 0;   // sequence of spans_.front()
  std::multimap<TraceId, uint64_t> by_trace_;  // trace -> span sequence
  uint64_t dropped_ = 0;
  uint64_t accepted_ = 0;
  const Span* at(uint64_t seq) const;
};

}  // namespace conclave::trace
