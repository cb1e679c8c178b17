#include "proxy/upstream/outlier_detector.h"

#include <gtest/gtest.h>

#include <memory>
#include <thread>
#include <vector>

#include "proxy/common/time.h"
#include "proxy/event/dispatcher.h"

namespace switchyard::upstream {
namespace {

using namespace std::chrono_literals;
using common::MonotonicTime;

const MonotonicTime T0{std::chrono::seconds(1000)};

OutlierDetectionConfig config(uint32_t max_percent = 100) {
  OutlierDetectionConfig c;
  c.consecutive_5xx = 3;
  c.consecutive_connect_failures = 2;
  c.base_ejection_time = 30s;
  c.max_ejection_time = 100s;
  c.max_ejection_percent = max_percent;
  return c;
}

struct Cluster {
  explicit Cluster(size_t endpoints, const OutlierDetectionConfig& c = config())
      : health(std::make_shared<EndpointHealth>(endpoints, outlierOptions(c))),
        detector(c, health) {}

  // `n` outcomes in a row on endpoint `i`; the last decision, if any.
  std::optional<OutlierDetector::Result> fail(
      size_t i, int n, MonotonicTime now, UpstreamOutcome outcome = UpstreamOutcome::ServerError) {
    std::optional<OutlierDetector::Result> last;
    for (int k = 0; k < n; ++k) {
      if (auto r = detector.onOutcome(i, outcome, now)) last = r;
    }
    return last;
  }

  std::shared_ptr<EndpointHealth> health;
  OutlierDetector detector;
};

TEST(OutlierDetectorTest, EjectsAfterExactlyTheThreshold) {
  Cluster c(4);
  EXPECT_EQ(c.fail(0, 2, T0), std::nullopt);
  EXPECT_TRUE(c.health->usable(0, T0));
  const auto r = c.fail(0, 1, T0);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->decision, EjectionDecision::Ejected);
  EXPECT_EQ(r->until, T0 + 30s);
  EXPECT_FALSE(c.health->usable(0, T0));
  EXPECT_EQ(c.detector.ejections(EjectionReason::Consecutive5xx), 1u);
  EXPECT_EQ(c.detector.ejections(EjectionReason::ConnectFailure), 0u);
  // The streak starts again.
  EXPECT_EQ(c.health->streak(0, EjectionReason::Consecutive5xx), 0u);

  // Connect failures have their own threshold.
  EXPECT_EQ(c.fail(1, 1, T0, UpstreamOutcome::ConnectFailure), std::nullopt);
  const auto r2 = c.fail(1, 1, T0, UpstreamOutcome::ConnectFailure);
  ASSERT_TRUE(r2.has_value());
  EXPECT_EQ(r2->decision, EjectionDecision::Ejected);
  EXPECT_EQ(c.detector.ejections(EjectionReason::ConnectFailure), 1u);
}

TEST(OutlierDetectorTest, ASuccessResetsTheStreak) {
  Cluster c(4);
  for (int round = 0; round < 5; ++round) {
    EXPECT_EQ(c.fail(0, 2, T0), std::nullopt);
    EXPECT_EQ(c.detector.onOutcome(0, UpstreamOutcome::Success, T0), std::nullopt);
  }
  EXPECT_TRUE(c.health->usable(0, T0));
  EXPECT_EQ(c.detector.ejections(EjectionReason::Consecutive5xx), 0u);
}

TEST(OutlierDetectorTest, EjectionTimeGrowsWithEachEjectionUpToTheCap) {
  Cluster c(4);
  MonotonicTime now = T0;
  // 30s, 60s, 90s, then capped at 100s.
  for (auto expected : {30s, 60s, 90s, 100s, 100s}) {
    const auto r = c.fail(0, 3, now);
    ASSERT_TRUE(r.has_value());
    ASSERT_EQ(r->decision, EjectionDecision::Ejected);
    EXPECT_EQ(r->until - now, expected);
    EXPECT_EQ(c.detector.nextUnejection(), r->until);
    // Still ejected a moment before the end; back at the end.
    EXPECT_TRUE(c.detector.unejectDue(r->until - 1ms).empty());
    EXPECT_FALSE(c.health->usable(0, r->until - 1ms));
    now = r->until;
    EXPECT_EQ(c.detector.unejectDue(now), std::vector<size_t>{0});
    EXPECT_TRUE(c.health->usable(0, now));
    EXPECT_EQ(c.detector.nextUnejection(), std::nullopt);
  }
  EXPECT_EQ(c.detector.ejections(EjectionReason::Consecutive5xx), 5u);
}

TEST(OutlierDetectorTest, TheCountFadesWhileTheEndpointBehaves) {
  Cluster c(4);
  MonotonicTime now = T0;
  for (int k = 0; k < 3; ++k) {
    now = c.fail(0, 3, now)->until;
    c.detector.unejectDue(now);
  }
  EXPECT_EQ(c.detector.timesEjected(0), 3u);
  // Two max_ejection_times (100s each) without an ejection forget two of the three.
  now += 200s;
  const auto r = c.fail(0, 3, now);
  EXPECT_EQ(r->until - now, 60s);
  EXPECT_EQ(c.detector.timesEjected(0), 2u);
}

TEST(OutlierDetectorTest, AtMostMaxEjectionPercentAtOnce) {
  // Five endpoints at 40%: two may be ejected, not a third.
  Cluster c(5, config(40));
  EXPECT_EQ(c.fail(0, 3, T0)->decision, EjectionDecision::Ejected);
  EXPECT_EQ(c.fail(1, 3, T0)->decision, EjectionDecision::Ejected);
  EXPECT_EQ(c.fail(2, 3, T0)->decision, EjectionDecision::MaxEjectionPercent);
  EXPECT_TRUE(c.health->usable(2, T0));
  EXPECT_EQ(c.detector.refusals(EjectionDecision::MaxEjectionPercent), 1u);
  EXPECT_EQ(c.detector.ejectedCount(), 2u);
  // A refusal restarts the streak: the next threshold's worth is asked again, and once an
  // ejection has run out there is room.
  EXPECT_EQ(c.fail(2, 2, T0 + 30s), std::nullopt);
  EXPECT_EQ(c.fail(2, 1, T0 + 30s)->decision, EjectionDecision::Ejected);
  EXPECT_EQ(c.detector.ejectedCount(), 1u);

  // The share is rounded down: at 40% of two endpoints nothing is ever ejected.
  Cluster two(2, config(40));
  EXPECT_EQ(two.fail(0, 3, T0)->decision, EjectionDecision::MaxEjectionPercent);
  // 0% turns ejection off.
  Cluster none(4, config(0));
  EXPECT_EQ(none.fail(0, 3, T0)->decision, EjectionDecision::MaxEjectionPercent);
}

TEST(OutlierDetectorTest, NeverEjectsTheLastUsableEndpoint) {
  Cluster c(3);
  c.health->setActiveHealth(1, ActiveHealth::Unhealthy);
  EXPECT_EQ(c.fail(0, 3, T0)->decision, EjectionDecision::Ejected);
  // Endpoint 2 is the last one usable: kept, however badly it does.
  EXPECT_EQ(c.fail(2, 3, T0)->decision, EjectionDecision::LastUsable);
  EXPECT_EQ(c.fail(2, 3, T0)->decision, EjectionDecision::LastUsable);
  EXPECT_TRUE(c.health->usable(2, T0));
  EXPECT_EQ(c.detector.refusals(EjectionDecision::LastUsable), 2u);
  // An endpoint already out (active check) may still be ejected: it takes nothing from the rest.
  EXPECT_EQ(c.fail(1, 3, T0)->decision, EjectionDecision::Ejected);
  // With the endpoint ejected first back, the other may go.
  EXPECT_EQ(c.detector.unejectDue(T0 + 30s), (std::vector<size_t>{0, 1}));
  EXPECT_EQ(c.fail(2, 3, T0 + 30s)->decision, EjectionDecision::Ejected);

  // A single endpoint is never ejected.
  Cluster one(1);
  EXPECT_EQ(one.fail(0, 3, T0)->decision, EjectionDecision::LastUsable);
}

TEST(OutlierDetectorTest, AStreakWhileEjectedChangesNothing) {
  // In panic every endpoint takes requests, ejected ones included.
  Cluster c(2);
  const auto first = c.fail(0, 3, T0);
  const auto again = c.fail(0, 3, T0 + 1s);
  EXPECT_EQ(again->decision, EjectionDecision::AlreadyEjected);
  EXPECT_EQ(again->until, first->until);
  EXPECT_EQ(c.detector.timesEjected(0), 1u);
}

TEST(OutlierDetectorTest, PanicWhenTooManyAreOut) {
  // Four endpoints: two ejected and one unhealthy leave one usable, below the panic threshold
  // (50%): load balancing uses all four.
  Cluster c(4);
  c.fail(0, 3, T0);
  c.fail(1, 3, T0);
  EXPECT_FALSE(c.health->panic());
  c.health->setActiveHealth(2, ActiveHealth::Unhealthy);
  EXPECT_TRUE(c.health->panic());
  for (size_t i = 0; i < 4; ++i) EXPECT_TRUE(c.health->mayUse(i, T0));
  c.detector.unejectDue(T0 + 30s);
  EXPECT_FALSE(c.health->panic());
}

TEST(OutlierDetectorTest, EndpointListReplacement) {
  Cluster c(3);
  const MonotonicTime until = c.fail(1, 3, T0)->until;
  c.fail(2, 2, T0);

  // Old 1 stays (as 0), old 2 goes, a new endpoint comes.
  const std::vector<size_t> previous = {1, NewEndpoint};
  auto next = c.health->carryOver(previous, c.health->options());
  c.detector.setEndpoints(next, previous);
  EXPECT_EQ(c.detector.health(), next);
  EXPECT_EQ(c.detector.timesEjected(0), 1u);
  EXPECT_EQ(c.detector.nextUnejection(), until);
  EXPECT_FALSE(next->usable(0, T0));
  EXPECT_TRUE(next->usable(1, T0));
  EXPECT_EQ(c.detector.timesEjected(1), 0u);
  EXPECT_EQ(c.detector.unejectDue(until), std::vector<size_t>{0});
  EXPECT_TRUE(next->usable(0, until));
}

class OutlierMonitorTest : public testing::Test {
 protected:
  common::SimulatedTimeSource time_;
  event::SimulatedDispatcher dispatcher_{time_};
  std::vector<OutlierEvent> events_;
};

TEST_F(OutlierMonitorTest, WorkersReportAndTheWriterEjectsThenReturns) {
  auto health = std::make_shared<EndpointHealth>(3, outlierOptions(config()));
  auto monitor = OutlierMonitor::create(dispatcher_, config(), health,
                                        [this](const OutlierEvent& e) { events_.push_back(e); });
  const MonotonicTime start = time_.monotonicNow();

  // Reports from worker threads: counted there, the threshold posted to the writer.
  std::thread worker([&] {
    for (int k = 0; k < 3; ++k) monitor->report(health, 0, UpstreamOutcome::ServerError);
  });
  worker.join();
  EXPECT_TRUE(health->usable(0, start));  // nothing happens until the writer runs
  dispatcher_.runPosted();
  EXPECT_FALSE(health->usable(0, time_.monotonicNow()));
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_FALSE(events_[0].returned);
  EXPECT_EQ(events_[0].reason, EjectionReason::Consecutive5xx);
  EXPECT_EQ(events_[0].decision, EjectionDecision::Ejected);
  EXPECT_EQ(events_[0].until, start + 30s);

  // The writer clears the ejection on its own timer, which also brings the panic count back.
  dispatcher_.advance(30s - 1ms);
  EXPECT_EQ(health->usableCount(), 2u);
  dispatcher_.advance(1ms);
  EXPECT_EQ(health->usableCount(), 3u);
  ASSERT_EQ(events_.size(), 2u);
  EXPECT_TRUE(events_[1].returned);
  EXPECT_EQ(events_[1].endpoint, 0u);
  EXPECT_EQ(dispatcher_.pendingTimers(), 0u);
}

TEST_F(OutlierMonitorTest, ReportsAgainstAReplacedListAreDropped) {
  auto health = std::make_shared<EndpointHealth>(3, outlierOptions(config()));
  auto monitor = OutlierMonitor::create(dispatcher_, config(), health);
  for (int k = 0; k < 2; ++k) monitor->report(health, 2, UpstreamOutcome::ConnectFailure);

  // The list changes before the writer sees the report: index 2 is now someone else.
  const std::vector<size_t> previous = {2, 0};
  auto next = health->carryOver(previous, health->options());
  monitor->setEndpoints(next, previous);
  dispatcher_.runPosted();
  EXPECT_TRUE(next->usable(0, time_.monotonicNow()));
  EXPECT_EQ(monitor->detector().ejections(EjectionReason::ConnectFailure), 0u);
  // The carried-over streak starts again, so the endpoint can still be ejected.
  for (int k = 0; k < 2; ++k) monitor->report(next, 0, UpstreamOutcome::ConnectFailure);
  dispatcher_.runPosted();
  EXPECT_FALSE(next->usable(0, time_.monotonicNow()));
}

TEST_F(OutlierMonitorTest, WorkDoneAfterTheMonitorIsGoneIsDropped) {
  auto health = std::make_shared<EndpointHealth>(3, outlierOptions(config()));
  auto monitor = OutlierMonitor::create(dispatcher_, config(), health);
  for (int k = 0; k < 3; ++k) monitor->report(health, 0, UpstreamOutcome::ServerError);
  monitor.reset();
  dispatcher_.runPosted();
  EXPECT_TRUE(health->usable(0, time_.monotonicNow()));
}

}  // namespace
}  // namespace switchyard::upstream
