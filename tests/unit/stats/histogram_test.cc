#include "proxy/stats/histogram.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <chrono>
#include <cmath>
#include <thread>
#include <vector>

namespace switchyard::stats {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(LatencyHistogramTest, BoundsAreInclusiveAndTheLastBucketIsInfinite) {
  LatencyHistogram h({0.001, 0.01, 1});
  h.observe(microseconds(0));
  h.observe(milliseconds(1));     // exactly on a bound: counted in it (le)
  h.observe(microseconds(1001));  // just above
  h.observe(milliseconds(10));
  h.observe(seconds(5));  // beyond every bound
  const auto s = h.snapshot();
  ASSERT_EQ(s.bucket.size(), 4u);
  EXPECT_EQ(s.bucket[0].cumulative_count, 2u);
  EXPECT_EQ(s.bucket[1].cumulative_count, 4u);
  EXPECT_EQ(s.bucket[2].cumulative_count, 4u);
  EXPECT_EQ(s.bucket[3].cumulative_count, 5u);
  EXPECT_TRUE(std::isinf(s.bucket[3].upper_bound));
  EXPECT_DOUBLE_EQ(s.bucket[1].upper_bound, 0.01);
  EXPECT_EQ(s.sample_count, 5u);
  EXPECT_NEAR(s.sample_sum, 0.001 + 0.001001 + 0.01 + 5, 1e-12);
}

TEST(LatencyHistogramTest, CountsFromManyThreadsAddUp) {
  LatencyHistogram h({0.001});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&h] {
      for (int i = 0; i < 10000; ++i) h.observe(microseconds(i % 2 == 0 ? 10 : 5000));
    });
  }
  for (auto& t : threads) t.join();
  const auto s = h.snapshot();
  EXPECT_EQ(s.sample_count, 40000u);
  EXPECT_EQ(s.bucket[0].cumulative_count, 20000u);
  EXPECT_NEAR(s.sample_sum, 20000 * 10e-6 + 20000 * 5e-3, 1e-6);
}

TEST(LatencyHistogramFamilyTest, SameLabelsSameHistogramAndTheTextFormat) {
  LatencyHistogramFamily family("test_duration_seconds", "A test histogram", {0.5});
  EXPECT_TRUE(family.Collect().empty());  // no series yet: no family either
  LatencyHistogram& a = family.Add({{"route", "api"}, {"version", "v1"}});
  EXPECT_EQ(&a, &family.Add({{"version", "v1"}, {"route", "api"}}));
  a.observe(milliseconds(250));
  family.Add({{"route", "health"}, {"version", ""}}).observe(seconds(2));
  const std::string text = prometheus::TextSerializer().Serialize(family.Collect());
  EXPECT_NE(text.find("# TYPE test_duration_seconds histogram"), std::string::npos) << text;
  EXPECT_NE(text.find("test_duration_seconds_bucket{route=\"api\",version=\"v1\",le=\"0.5\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("test_duration_seconds_bucket{route=\"health\",version=\"\",le=\"+Inf\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("test_duration_seconds_count{route=\"health\",version=\"\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("test_duration_seconds_sum{route=\"api\",version=\"v1\"} 0.25"),
            std::string::npos)
      << text;
}

}  // namespace
}  // namespace switchyard::stats
