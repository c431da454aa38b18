// What both load generators print at the end of a run: a readable table and one JSON line
// (prefix "RESULT ") with ops/s, latency percentiles and the maximum per operation, which
// bench/compare.py reads.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace conclave::bench {

struct OpSamples {
  const char* name;
  std::vector<uint32_t>* latencies_us;  // sorted in place by print_report
  uint64_t errors;
};

inline double percentile_ms(const std::vector<uint32_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t i = std::min(sorted.size() - 1, static_cast<size_t>(p / 100.0 * double(sorted.size())));
  return sorted[i] / 1000.0;
}

/// `json_head` holds the run's own fields, without braces ("\"protocol\":\"zk\",...").
inline void print_report(const std::vector<OpSamples>& ops, double secs, const std::string& json_head) {
  std::printf("\n%-14s %10s %9s %9s %9s %9s %8s\n", "op", "ops/s", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "errors");
  std::string json = "{" + json_head + ",\"seconds\":" + std::to_string(secs) + ",\"ops\":{";
  uint64_t total = 0;
  bool first = true;
  for (const OpSamples& op : ops) {
    auto& v = *op.latencies_us;
    if (v.empty() && !op.errors) continue;
    std::sort(v.begin(), v.end());
    double rate = double(v.size()) / secs;
    total += v.size();
    double p50 = percentile_ms(v, 50), p90 = percentile_ms(v, 90), p99 = percentile_ms(v, 99),
           p999 = percentile_ms(v, 99.9), max = v.empty() ? 0.0 : v.back() / 1000.0;
    std::printf("%-14s %10.0f %9.3f %9.3f %9.3f %9.3f %8llu\n", op.name, rate, p50, p90, p99, p999,
                (unsigned long long)op.errors);
    char buf[400];
    std::snprintf(buf, sizeof buf,
                  "%s\"%s\":{\"ops_per_s\":%.1f,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,"
                  "\"max_ms\":%.3f,\"errors\":%llu}",
                  first ? "" : ",", op.name, rate, p50, p90, p99, p999, max, (unsigned long long)op.errors);
    json += buf;
    first = false;
  }
  std::printf("%-14s %10.0f\n", "total", double(total) / secs);
  json += "},\"total_ops_per_s\":" + std::to_string(double(total) / secs) + "}";
  std::printf("RESULT %s\n", json.c_str());
}

}  // namespace conclave::bench
