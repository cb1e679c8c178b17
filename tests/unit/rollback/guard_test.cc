#include "proxy/rollback/guard.h"

#include <gtest/gtest.h>

#include <thread>

namespace switchyard::rollback {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

GuardConfig guardConfig(int window_s = 30, uint64_t min_requests = 20, double ratio = 0.05,
                        milliseconds max_latency = milliseconds(0)) {
  GuardConfig c;
  c.version = "v2";
  c.window = seconds(window_s);
  c.min_requests = min_requests;
  c.max_error_ratio = ratio;
  c.max_latency = max_latency;
  return c;
}

class GuardTest : public ::testing::Test {
 protected:
  // `count` responses with `status`, spread evenly over the current second.
  void record(Guard& guard, int count, int status, milliseconds latency = milliseconds(10)) {
    for (int i = 0; i < count; ++i) guard.record(time_.monotonicNow(), status, latency);
  }
  common::SimulatedTimeSource time_;
};

TEST_F(GuardTest, ErrorRatioAboveTheLimitBreachesWithAReason) {
  Guard guard(guardConfig());
  record(guard, 769, 200);
  record(guard, 200, 500);
  record(guard, 31, 503);
  GuardStatus s = guard.evaluate(time_.monotonicNow());
  EXPECT_EQ(s.requests, 1000u);
  EXPECT_EQ(s.errors, 231u);
  EXPECT_DOUBLE_EQ(s.error_ratio, 0.231);
  EXPECT_TRUE(s.breached);
  EXPECT_EQ(s.reason, "error ratio 23.1% over 30s (231/1000) above 5%");
}

TEST_F(GuardTest, RatioAtTheLimitAndClientErrorsDoNotBreach) {
  Guard guard(guardConfig());
  record(guard, 95, 200);
  record(guard, 5, 502);  // exactly 5%
  record(guard, 50, 404);
  record(guard, 50, 429);
  GuardStatus s = guard.evaluate(time_.monotonicNow());
  EXPECT_EQ(s.requests, 200u);
  EXPECT_EQ(s.errors, 5u);
  EXPECT_FALSE(s.breached);
  EXPECT_EQ(s.reason, "");
}

TEST_F(GuardTest, MinimumVolumeIsRequired) {
  Guard guard(guardConfig(30, 20));
  record(guard, 19, 500);
  GuardStatus s = guard.evaluate(time_.monotonicNow());
  EXPECT_EQ(s.requests, 19u);
  EXPECT_DOUBLE_EQ(s.error_ratio, 1.0);
  EXPECT_FALSE(s.breached);
  record(guard, 1, 500);
  EXPECT_TRUE(guard.evaluate(time_.monotonicNow()).breached);
}

TEST_F(GuardTest, CountsExpireWithTheWindow) {
  Guard guard(guardConfig(10, 1));
  record(guard, 10, 500);  // second 0
  time_.advance(seconds(5));
  record(guard, 10, 200);  // second 5
  EXPECT_EQ(guard.evaluate(time_.monotonicNow()).requests, 20u);
  time_.advance(seconds(4));  // second 9: both still inside the 10 s window
  EXPECT_EQ(guard.evaluate(time_.monotonicNow()).requests, 20u);
  time_.advance(seconds(1));  // second 10: second 0 has left the window
  GuardStatus s = guard.evaluate(time_.monotonicNow());
  EXPECT_EQ(s.requests, 10u);
  EXPECT_EQ(s.errors, 0u);
  EXPECT_FALSE(s.breached);
  time_.advance(seconds(5));
  EXPECT_EQ(guard.evaluate(time_.monotonicNow()).requests, 0u);
  // The ring is reused: a bucket written a window ago counts only its new second.
  record(guard, 3, 500);
  s = guard.evaluate(time_.monotonicNow());
  EXPECT_EQ(s.requests, 3u);
  EXPECT_EQ(s.errors, 3u);
  // Much later, nothing of the old seconds comes back.
  time_.advance(seconds(3600));
  EXPECT_EQ(guard.evaluate(time_.monotonicNow()).requests, 0u);
}

TEST_F(GuardTest, LateSamplesOlderThanTheRingAreDropped) {
  Guard guard(guardConfig(10, 1));
  const common::MonotonicTime old = time_.monotonicNow();
  time_.advance(seconds(12));  // the ring has 12 buckets: old's bucket is now this second's
  record(guard, 4, 200);
  guard.record(old, 500, milliseconds(1));  // a worker that stalled for 12 s
  GuardStatus s = guard.evaluate(time_.monotonicNow());
  EXPECT_EQ(s.requests, 4u);
  EXPECT_EQ(s.errors, 0u);
}

TEST_F(GuardTest, ResetForgetsEarlierSeconds) {
  Guard guard(guardConfig(30, 1));
  record(guard, 50, 500);
  EXPECT_TRUE(guard.evaluate(time_.monotonicNow()).breached);
  time_.advance(seconds(1));
  guard.reset(time_.monotonicNow());
  EXPECT_EQ(guard.evaluate(time_.monotonicNow()).requests, 0u);
  record(guard, 5, 200);
  EXPECT_EQ(guard.evaluate(time_.monotonicNow()).requests, 5u);
}

TEST_F(GuardTest, P95LatencyAboveTheLimitBreaches) {
  Guard guard(guardConfig(30, 20, 0.05, milliseconds(1000)));
  record(guard, 940, 200, milliseconds(80));
  record(guard, 60, 200, milliseconds(1800));  // 6% slower than 1 s
  GuardStatus s = guard.evaluate(time_.monotonicNow());
  EXPECT_EQ(s.slow, 60u);
  EXPECT_TRUE(s.breached);
  // Rank 950 falls in the (1s, 2.5s] bucket, 10 of its 60 requests in: 1s + 1.5s * 10/60.
  EXPECT_NEAR(s.p95_seconds, 1.25, 1e-9);
  EXPECT_EQ(s.reason, "p95 latency 1.2s over 30s (60/1000 slower than 1s) above 1s");
}

TEST_F(GuardTest, P95AtOrBelowTheLimitDoesNotBreach) {
  // The limit is a bucket bound of its own, so 700 ms vs 800 ms is decided exactly.
  Guard guard(guardConfig(30, 20, 0.05, milliseconds(700)));
  record(guard, 95, 200, milliseconds(600));
  record(guard, 5, 200, milliseconds(800));  // exactly 5% slower: p95 is still <= 700 ms
  GuardStatus s = guard.evaluate(time_.monotonicNow());
  EXPECT_EQ(s.slow, 5u);
  EXPECT_FALSE(s.breached);
  EXPECT_GT(s.p95_seconds, 0.5);
  EXPECT_LE(s.p95_seconds, 0.7);
  record(guard, 1, 200, milliseconds(800));
  s = guard.evaluate(time_.monotonicNow());
  EXPECT_TRUE(s.breached);
  EXPECT_GT(s.p95_seconds, 0.7);
  // Without a latency limit, slow responses alone never trip the guard.
  Guard ratio_only(guardConfig());
  record(ratio_only, 100, 200, milliseconds(20000));
  EXPECT_FALSE(ratio_only.evaluate(time_.monotonicNow()).breached);
  // Rank 95 of 100 in the (10s, 30s] bucket.
  EXPECT_NEAR(ratio_only.evaluate(time_.monotonicNow()).p95_seconds, 29.0, 1e-9);
}

TEST_F(GuardTest, P95InTheUnboundedBucketReportsItsFloor) {
  Guard guard(guardConfig(30, 1, 1.0, milliseconds(100)));
  record(guard, 10, 200, milliseconds(60000));
  GuardStatus s = guard.evaluate(time_.monotonicNow());
  EXPECT_DOUBLE_EQ(s.p95_seconds, 30.0);
  EXPECT_TRUE(s.breached);
}

TEST(GuardFormatTest, PercentAndSeconds) {
  EXPECT_EQ(formatPercent(0.05), "5%");
  EXPECT_EQ(formatPercent(0.231), "23.1%");
  EXPECT_EQ(formatPercent(0.0025), "0.2%");
  EXPECT_EQ(formatPercent(1), "100%");
  EXPECT_EQ(formatSeconds(30), "30s");
  EXPECT_EQ(formatSeconds(1.5), "1.5s");
  EXPECT_EQ(formatSeconds(0.25), "250ms");
}

// Workers record while the manager evaluates: no torn counts, nothing lost, no data race (run
// under the thread sanitizer in CI). Bounded: a fixed number of records per thread.
TEST(GuardRaceTest, TwoThreadsRecordWhileOneEvaluates) {
  Guard guard(guardConfig(60, 1, 0.5));
  const common::MonotonicTime start{seconds(5000)};
  constexpr int PerThread = 200000;
  auto worker = [&](int status) {
    for (int i = 0; i < PerThread; ++i) {
      // Ten seconds' worth of traffic, so writers race on bucket changes too.
      guard.record(start + milliseconds(i / (PerThread / 10000)), status, milliseconds(i % 50));
    }
  };
  std::atomic<bool> done{false};
  uint64_t max_seen = 0;
  std::thread evaluator([&] {
    while (!done.load()) {
      GuardStatus s = guard.evaluate(start + seconds(10));
      EXPECT_LE(s.errors, s.requests);
      EXPECT_LE(s.requests, 2u * PerThread);
      max_seen = std::max(max_seen, s.requests);
    }
  });
  std::thread a(worker, 200);
  std::thread b(worker, 500);
  a.join();
  b.join();
  done = true;
  evaluator.join();
  GuardStatus s = guard.evaluate(start + seconds(10));
  EXPECT_EQ(s.requests, 2u * PerThread);
  EXPECT_EQ(s.errors, static_cast<uint64_t>(PerThread));
  EXPECT_LE(max_seen, 2u * PerThread);
}

}  // namespace
}  // namespace switchyard::rollback
