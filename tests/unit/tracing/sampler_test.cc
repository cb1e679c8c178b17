#include "proxy/tracing/sampler.h"

#include <gtest/gtest.h>

#include <limits>

#include "proxy/common/random.h"

namespace switchyard::tracing {
namespace {

TraceId traceId(const char* hex) {
  TraceId id{};
  EXPECT_TRUE(parseHex(hex, id)) << hex;
  return id;
}

int sampledOutOf(double ratio, int n, uint64_t seed) {
  Sampler sampler(ratio);
  common::SeededRandom random(seed);
  int sampled = 0;
  for (int i = 0; i < n; ++i) sampled += sampler.shouldSample(nullptr, generateTraceId(random));
  return sampled;
}

TEST(SamplerTest, RatioOverManyIdsIsWithinTolerance) {
  // 10k draws: one standard deviation is at most 0.5 percentage points; allow 2.
  for (double ratio : {0.01, 0.1, 0.25, 0.5, 0.9}) {
    const int sampled = sampledOutOf(ratio, 10000, 1234);
    EXPECT_NEAR(sampled / 10000.0, ratio, 0.02) << "ratio " << ratio;
  }
}

TEST(SamplerTest, ZeroAndOneAreExact) {
  EXPECT_EQ(sampledOutOf(0.0, 10000, 99), 0);
  EXPECT_EQ(sampledOutOf(1.0, 10000, 99), 10000);
}

TEST(SamplerTest, OutOfRangeRatiosAreClamped) {
  EXPECT_EQ(Sampler(-1).ratio(), 0.0);
  EXPECT_EQ(Sampler(2).ratio(), 1.0);
  EXPECT_EQ(Sampler(std::numeric_limits<double>::quiet_NaN()).ratio(), 0.0);
  EXPECT_EQ(sampledOutOf(7.0, 100, 1), 100);
}

TEST(SamplerTest, DecisionDependsOnlyOnTheLow56BitsOfTheTraceId) {
  // Ratio 0.5: sampled when the last 14 hex digits, as a number, are below 0x80000000000000.
  const Sampler half(0.5);
  EXPECT_TRUE(
      half.sampledByRatio(traceId("000000000000000000"
                                  "00000000000000")));
  EXPECT_TRUE(
      half.sampledByRatio(traceId("000000000000000000"
                                  "7fffffffffffff")));
  EXPECT_FALSE(
      half.sampledByRatio(traceId("000000000000000000"
                                  "80000000000000")));
  EXPECT_FALSE(
      half.sampledByRatio(traceId("000000000000000000"
                                  "ffffffffffffff")));
  // The first 9 bytes do not matter.
  EXPECT_TRUE(
      half.sampledByRatio(traceId("ffffffffffffffffff"
                                  "7fffffffffffff")));
  EXPECT_FALSE(
      half.sampledByRatio(traceId("0123456789abcdef01"
                                  "80000000000000")));

  // Ratio 1 samples even the largest value; any ratio above 0 samples the smallest.
  EXPECT_TRUE(Sampler(1.0).sampledByRatio(traceId("ffffffffffffffffffffffffffffffff")));
  EXPECT_TRUE(Sampler(1e-9).sampledByRatio(traceId("ffffffffffffffffff00000000000000")));
  EXPECT_FALSE(Sampler(0.0).sampledByRatio(traceId("ffffffffffffffffff00000000000000")));
}

TEST(SamplerTest, SameTraceIdSameDecisionEverywhere) {
  // Two sidecars with the same ratio agree; a lower ratio samples a subset of a higher one.
  common::SeededRandom random(5);
  const Sampler a(0.3);
  const Sampler b(0.3);
  const Sampler lower(0.1);
  for (int i = 0; i < 2000; ++i) {
    const TraceId id = generateTraceId(random);
    EXPECT_EQ(a.sampledByRatio(id), b.sampledByRatio(id));
    if (lower.sampledByRatio(id)) {
      EXPECT_TRUE(a.sampledByRatio(id));
    }
  }
}

TEST(SamplerTest, ParentDecisionWins) {
  TraceParent sampled_parent;
  sampled_parent.flags = SampledFlag;
  TraceParent unsampled_parent;
  unsampled_parent.flags = 0x02;  // another flag, not the sampled one
  const TraceId low = traceId(
      "000000000000000000"
      "00000000000000");
  const TraceId high = traceId("ffffffffffffffffffffffffffffffff");

  EXPECT_TRUE(Sampler(0.0).shouldSample(&sampled_parent, high));
  EXPECT_FALSE(Sampler(1.0).shouldSample(&unsampled_parent, low));
  EXPECT_TRUE(Sampler(0.5).shouldSample(nullptr, low));
  EXPECT_FALSE(Sampler(0.5).shouldSample(nullptr, high));
}

}  // namespace
}  // namespace switchyard::tracing
