#include "proxy/stats/traffic_window.h"

#include <gtest/gtest.h>
#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "proxy/stats/histogram.h"

namespace switchyard::stats {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr double Inf = std::numeric_limits<double>::infinity();

TEST(HistogramQuantileTest, InterpolatesWithinTheBucketAsPromQLDoes) {
  // 100 observations: 50 up to 10 ms, 40 more up to 100 ms, 10 more up to 1 s.
  const std::vector<double> bounds = {0.01, 0.1, 1, Inf};
  const std::vector<uint64_t> counts = {50, 90, 100, 100};
  // Rank 95 falls half-way into the third bucket (90..100): 0.1 + 0.9 * 0.5.
  EXPECT_NEAR(*histogramQuantile(0.95, bounds, counts), 0.55, 1e-9);
  // Rank 50 is the top of the first bucket.
  EXPECT_NEAR(*histogramQuantile(0.5, bounds, counts), 0.01, 1e-9);
  EXPECT_NEAR(*histogramQuantile(0.25, bounds, counts), 0.005, 1e-9);
}

TEST(HistogramQuantileTest, EmptyIsNoneAndBeyondTheLastBoundIsThatBound) {
  EXPECT_FALSE(histogramQuantile(0.95, {0.1, Inf}, {0, 0}));
  EXPECT_FALSE(histogramQuantile(0.95, {}, {}));
  EXPECT_FALSE(histogramQuantile(0.95, {0.1, Inf}, {1}));  // mismatched sizes
  EXPECT_NEAR(*histogramQuantile(0.95, {0.1, 1, Inf}, {0, 0, 10}), 1.0, 1e-9);
}

class TrafficWindowTest : public ::testing::Test {
 protected:
  TrafficWindowTest()
      : registry_(std::make_shared<prometheus::Registry>()),
        requests_(prometheus::BuildCounter().Name("requests_total").Register(*registry_)),
        duration_(std::make_shared<LatencyHistogramFamily>("duration_seconds", "help",
                                                           std::vector<double>{0.01, 0.1, 1})),
        window_({{&requests_, duration_.get(), {"route", "version"}}}, seconds(60), seconds(5)) {}

  // `n` requests of route api, `version`, answered `code` in `latency`.
  void serve(const std::string& version, int code, int n, milliseconds latency) {
    requests_.Add({{"route", "api"}, {"version", version}, {"code", std::to_string(code)}})
        .Increment(n);
    LatencyHistogram& h = duration_->Add({{"route", "api"}, {"version", version}});
    for (int i = 0; i < n; ++i) h.observe(latency);
  }

  // The result must outlive the pointer: no temporaries.
  const TrafficWindow::Series* find(TrafficWindow::Result&&, const std::string&) = delete;
  const TrafficWindow::Series* find(const TrafficWindow::Result& r, const std::string& version) {
    for (const auto& s : r.sources.at(0)) {
      if (s.key == std::vector<std::string>{"api", version}) return &s;
    }
    return nullptr;
  }

  common::MonotonicTime at(int s) const { return common::MonotonicTime{} + seconds(1000 + s); }

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& requests_;
  std::shared_ptr<LatencyHistogramFamily> duration_;
  TrafficWindow window_;
};

TEST_F(TrafficWindowTest, FiguresCoverOnlyTheLastMinute) {
  window_.sample(at(0));
  serve("v1", 200, 600, milliseconds(5));  // an old burst: before the window of the query
  for (int t = 5; t <= 60; t += 5) window_.sample(at(t));
  serve("v1", 200, 110, milliseconds(5));
  serve("v1", 503, 10, milliseconds(50));
  serve("v2", 200, 30, milliseconds(500));
  const TrafficWindow::Result r = window_.query(at(62));
  // The baseline is the youngest snapshot at least a minute old: t=0 (t=5 is only 57 s old), so
  // the window reaches back 62 s and the early burst is in it.
  EXPECT_NEAR(r.window_seconds, 62.0, 1e-9);
  const TrafficWindow::Series* v1 = find(r, "v1");
  ASSERT_NE(v1, nullptr);
  EXPECT_EQ(v1->requests, 720u);

  // A minute later, only what happened since counts.
  for (int t = 65; t <= 125; t += 5) window_.sample(at(t));
  serve("v1", 200, 60, milliseconds(5));
  const TrafficWindow::Result later = window_.query(at(126));
  EXPECT_NEAR(later.window_seconds, 61.0, 1e-9);  // from the snapshot at t=65
  const TrafficWindow::Series* v1_later = find(later, "v1");
  ASSERT_NE(v1_later, nullptr);
  EXPECT_EQ(v1_later->requests, 60u);
  EXPECT_NEAR(v1_later->requests_per_second, 60.0 / 61.0, 1e-9);
  EXPECT_EQ(v1_later->errors, 0u);
  ASSERT_TRUE(v1_later->error_ratio);
  EXPECT_EQ(*v1_later->error_ratio, 0.0);
  const TrafficWindow::Series* v2_later = find(later, "v2");
  ASSERT_NE(v2_later, nullptr);
  EXPECT_EQ(v2_later->requests, 0u);
  EXPECT_FALSE(v2_later->error_ratio);
  EXPECT_FALSE(v2_later->p95_seconds);
}

TEST_F(TrafficWindowTest, ErrorsAreServerErrorsAndP95ComesFromTheBuckets) {
  window_.sample(at(0));
  serve("v2", 200, 90, milliseconds(5));  // bucket <= 10 ms
  serve("v2", 500, 5, milliseconds(50));  // bucket <= 100 ms
  serve("v2", 404, 5, milliseconds(50));  // a client error is not an error of the side
  const TrafficWindow::Result r = window_.query(at(20));
  EXPECT_NEAR(r.window_seconds, 20.0, 1e-9);  // less than a minute since the first snapshot
  const TrafficWindow::Series* v2 = find(r, "v2");
  ASSERT_NE(v2, nullptr);
  EXPECT_EQ(v2->requests, 100u);
  EXPECT_EQ(v2->errors, 5u);
  EXPECT_NEAR(*v2->error_ratio, 0.05, 1e-9);
  EXPECT_NEAR(v2->requests_per_second, 5.0, 1e-9);
  // Rank 95 is the 5th of the 10 in (10 ms, 100 ms]: 10 + 90 * 5/10 ms.
  ASSERT_TRUE(v2->p95_seconds);
  EXPECT_NEAR(*v2->p95_seconds, 0.055, 1e-9);
}

TEST_F(TrafficWindowTest, NoResponseCountsAsAnError) {
  window_.sample(at(0));
  serve("v2", 0, 3, milliseconds(5));
  serve("v2", 200, 1, milliseconds(5));
  const TrafficWindow::Result r = window_.query(at(10));
  const TrafficWindow::Series* v2 = find(r, "v2");
  ASSERT_NE(v2, nullptr);
  EXPECT_EQ(v2->errors, 3u);
}

TEST_F(TrafficWindowTest, WithoutARecentSnapshotTheWindowStartsNow) {
  serve("v1", 200, 10, milliseconds(5));
  window_.sample(at(0));
  // Nobody sampled for ten minutes: that snapshot is no baseline for "the last minute".
  serve("v1", 200, 10, milliseconds(5));
  const TrafficWindow::Result first = window_.query(at(600));
  EXPECT_EQ(first.window_seconds, 0.0);
  const TrafficWindow::Series* v1 = find(first, "v1");
  ASSERT_NE(v1, nullptr);
  EXPECT_EQ(v1->requests, 0u);
  EXPECT_EQ(v1->requests_per_second, 0.0);
  // The query kept its snapshot: the next one measures from it.
  serve("v1", 200, 4, milliseconds(5));
  const TrafficWindow::Result second = window_.query(at(602));
  const TrafficWindow::Series* next = find(second, "v1");
  ASSERT_NE(next, nullptr);
  EXPECT_EQ(next->requests, 4u);
  EXPECT_NEAR(next->requests_per_second, 2.0, 1e-9);
}

TEST_F(TrafficWindowTest, SnapshotsAreKeptNoMoreOftenThanTheInterval) {
  window_.sample(at(0));
  serve("v1", 200, 10, milliseconds(5));
  window_.sample(at(1));  // too soon: not kept, so t=0 stays the baseline
  serve("v1", 200, 10, milliseconds(5));
  const TrafficWindow::Result r = window_.query(at(3));
  const TrafficWindow::Series* v1 = find(r, "v1");
  ASSERT_NE(v1, nullptr);
  EXPECT_EQ(v1->requests, 20u);
}

}  // namespace
}  // namespace switchyard::stats
