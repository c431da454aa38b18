#include <gtest/gtest.h>

#include "common/histogram.h"

using conclave::LatencyHistogram;

TEST(LatencyHistogram, CumulativeBucketsSumAndCount) {
  LatencyHistogram h;
  h.observe_us(40);       // <= 50 µs
  h.observe_us(50);       // <= 50 µs (bounds are inclusive, as Prometheus's `le`)
  h.observe_us(700);      // <= 1 ms
  h.observe_us(20000000); // above every bound
  h.observe_us(-5);       // a clock step back counts as 0
  EXPECT_EQ(h.count(), 5u);
  std::string t = h.text("x_seconds", "op=\"get\"");
  EXPECT_NE(t.find("x_seconds_bucket{op=\"get\",le=\"5e-05\"} 3\n"), std::string::npos) << t;
  EXPECT_NE(t.find("x_seconds_bucket{op=\"get\",le=\"0.0005\"} 3\n"), std::string::npos) << t;
  EXPECT_NE(t.find("x_seconds_bucket{op=\"get\",le=\"0.001\"} 4\n"), std::string::npos) << t;
  EXPECT_NE(t.find("x_seconds_bucket{op=\"get\",le=\"10\"} 4\n"), std::string::npos) << t;
  EXPECT_NE(t.find("x_seconds_bucket{op=\"get\",le=\"+Inf\"} 5\n"), std::string::npos) << t;
  EXPECT_NE(t.find("x_seconds_sum{op=\"get\"} 20.00079\n"), std::string::npos) << t;
  EXPECT_NE(t.find("x_seconds_count{op=\"get\"} 5\n"), std::string::npos) << t;
  std::string bare = LatencyHistogram().text("y", "");
  EXPECT_NE(bare.find("y_bucket{le=\"+Inf\"} 0\n"), std::string::npos) << bare;
  EXPECT_NE(bare.find("y_count 0\n"), std::string::npos) << bare;
}
