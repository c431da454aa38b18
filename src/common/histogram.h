// A latency histogram in Prometheus's form: fixed buckets from 50 µs to 10 s, cumulative counts on
// output, a sum and a count. One per operation; single-threaded (the event loop's).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace conclave {

class LatencyHistogram {
 public:
  /// Upper bounds in µs (the `le` labels are these in seconds).
  static constexpr std::array<int64_t, 16> kBoundsUs = {50,    100,    250,    500,     1000,    2500,    5000,    10000,
                                                        25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 10000000};

  void observe_us(int64_t us) {
    if (us < 0) us = 0;
    size_t i = 0;
    while (i < kBoundsUs.size() && us > kBoundsUs[i]) ++i;
    ++counts_[i];
    ++count_;
    sum_us_ += static_cast<uint64_t>(us);
  }
  uint64_t count() const { return count_; }

  /// `{name}_bucket{{labels,}le="..."}`, `{name}_sum`, `{name}_count` lines; `labels` is
  /// `key="value",...` or empty. The caller writes the HELP and TYPE lines once per family.
  std::string text(std::string_view name, std::string_view labels) const;

 private:
  std::array<uint64_t, kBoundsUs.size() + 1> counts_{};  // last: above every bound
  uint64_t count_ = 0;
  uint64_t sum_us_ = 0;
};

}  // namespace conclave
