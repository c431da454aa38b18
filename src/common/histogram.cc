#include "common/histogram.h"

#include <fmt/format.h>

namespace conclave {

std::string LatencyHistogram::text(std::string_view name, std::string_view labels) const {
  std::string out;
  std::string sep = labels.empty() ? "" : ",";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < kBoundsUs.size(); ++i) {
    cumulative += counts_[i];
    out += fmt::format("{}_bucket{{{}{}le=\"{}\"}} {}\n", name, labels, sep, double(kBoundsUs[i]) / 1e6, cumulative);
  }
  out += fmt::format("{}_bucket{{{}{}le=\"+Inf\"}} {}\n", name, labels, sep, count_);
  std::string braces = labels.empty() ? "" : fmt::format("{{{}}}", labels);
  out += fmt::format("{}_sum{} {}\n{}_count{} {}\n", name, braces, double(sum_us_) / 1e6, name, braces, count_);
  return out;
}

}  // namespace conclave
