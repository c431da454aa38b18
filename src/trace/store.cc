#include "trace/store.h"

#include <algorithm>

namespace conclave::trace {

const Span* SpanStore::at(uint64_t seq) const {
  if (seq < next_seq_ || seq - next_seq_ >= spans_.size()) return nullptr;
  return &spans_[seq - next_seq_];
}

void SpanStore::add(Span s) {
  if (capacity_ == 0) {
    ++dropped_;
    return;
  }
  if (spans_.size() == capacity_) {
    const Span& old = spans_.front();
    auto [b, e] = by_trace_.equal_range(old.trace_id);
    for (auto it = b; it != e; ++it)
      if (it->second == next_seq_) {
        by_trace_.erase(it);
        break;
      }
    spans_.pop_front();
    ++next_seq_;
    ++dropped_;
  }
  by_trace_.emplace(s.trace_id, next_seq_ + spans_.size());
  spans_.push_back(std::move(s));
  ++accepted_;
}

std::vector<std::string> SpanStore::services() const {
  std::set<std::string> out;
  for (const auto& s : spans_) {
    if (!s.local.service_name.empty()) out.insert(s.local.service_name);
  }
  return {out.begin(), out.end()};
}

std::vector<std::string> SpanStore::span_names(const std::string& service) const {
  std::set<std::string> out;
  for (const auto& s : spans_)
    if (s.local.service_name == service) out.insert(s.name);
  return {out.begin(), out.end()};
}

std::vector<std::string> SpanStore::remote_services(const std::string& service) const {
  std::set<std::string> out;
  for (const auto& s : spans_)
    if (s.local.service_name == service && !s.remote.service_name.empty()) out.insert(s.remote.service_name);
  return {out.begin(), out.end()};
}

std::vector<Span> SpanStore::trace(const TraceId& id) const {
  std::vector<Span> out;
  auto match = [&](const TraceId& t) {
    // A 64-bit query id matches a 128-bit trace by its low half (Zipkin's strictTraceId=false).
    return t == id || (id.high == 0 && t.low == id.low);
  };
  if (id.high == 0) {
    for (const auto& s : spans_)
      if (match(s.trace_id)) out.push_back(s);
  } else {
    auto [b, e] = by_trace_.equal_range(id);
    for (auto it = b; it != e; ++it)
      if (const Span* s = at(it->second)) out.push_back(*s);
  }
  std::stable_sort(out.begin(), out.end(), [](const Span& a, const Span& b) { return a.timestamp_us < b.timestamp_us; });
  return out;
}

std::vector<std::vector<Span>> SpanStore::traces(const TraceQuery& q) const {
  auto matches = [&](const Span& s) {
    if (!q.service_name.empty() && s.local.service_name != q.service_name) return false;
    if (!q.span_name.empty() && s.name != q.span_name) return false;
    if (!q.remote_service_name.empty() && s.remote.service_name != q.remote_service_name) return false;
    if (q.min_duration_us && s.duration_us < q.min_duration_us) return false;
    if (q.max_duration_us && s.duration_us > q.max_duration_us) return false;
    if (q.end_ts_ms) {
      int64_t end_us = q.end_ts_ms * 1000;
      if (s.timestamp_us > end_us) return false;
      if (q.lookback_ms && s.timestamp_us <= end_us - q.lookback_ms * 1000) return false;
    }
    for (const auto& [k, v] : q.annotation_query) {
      bool found = false;
      for (const auto& [tk, tv] : s.tags)
        if (tk == k && (v.empty() || tv == v)) found = true;
      if (v.empty())
        for (const auto& a : s.annotations)
          if (a.second == k) found = true;
      if (!found) return false;
    }
    return true;
  };
  std::vector<std::vector<Span>> out;
  std::set<TraceId> seen;
  for (auto it = spans_.rbegin(); it != spans_.rend() && out.size() < q.limit; ++it) {
    if (seen.count(it->trace_id) || !matches(*it)) continue;
    seen.insert(it->trace_id);
    out.push_back(trace(it->trace_id));
  }
  return out;
}

}  // namespace conclave::trace
