#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <yaml-cpp/yaml.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "config/config.h"
#include "config/config_error.h"
#include "filters/circuit_breaker/bulkhead.h"
#include "filters/circuit_breaker/circuit_breaker.h"
#include "filters/circuit_breaker/circuit_breaker_filter.h"
#include "filters/circuit_breaker/config.h"
#include "filters/registry.h"
#include "proxy/common/logging.h"
#include "proxy/common/random.h"
#include "proxy/common/time.h"
#include "proxy/upstream/runtime_state.h"
#include "tests/support/activation.h"
#include "tests/support/config_errors.h"
#include "tests/support/fake_filter_callbacks.h"
#include "tests/support/quiet_logs.h"

namespace switchyard::filters::circuit_breaker {
namespace {

using namespace std::chrono_literals;
using Kind = Admission::Kind;

// The value of the counter or gauge `name` with exactly `labels`; nullopt if it does not exist.
std::optional<double> metricValue(prometheus::Registry& registry, const std::string& name,
                                  const std::map<std::string, std::string>& labels) {
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const prometheus::ClientMetric& metric : family.metric) {
      std::map<std::string, std::string> have;
      for (const auto& label : metric.label) have[label.name] = label.value;
      if (have != labels) continue;
      return family.type == prometheus::MetricType::Gauge ? metric.gauge.value
                                                          : metric.counter.value;
    }
  }
  return std::nullopt;
}

using test::QuietLogs;

class CircuitBreakerTest : public testing::Test {
 protected:
  // Builds the breaker under test with settings_ and counts into registry_.
  CircuitBreaker& make() {
    metrics_ = std::make_unique<BreakerMetrics>(registry_);
    breaker_ =
        std::make_unique<CircuitBreaker>("legacy", settings_, BreakerStats(*metrics_, "legacy"));
    return *breaker_;
  }

  common::MonotonicTime now() const { return time_.monotonicNow(); }
  void advance(common::Duration d) { time_.advance(d); }

  // One attempt admitted now and reported at once.
  Admission attempt(bool success) {
    Admission a = breaker_->admit(now());
    if (a.allowed()) breaker_->onResult(now(), success, a.probe());
    return a;
  }
  void fail(int n) {
    for (int i = 0; i < n; ++i) EXPECT_TRUE(attempt(false).allowed()) << "failure " << i;
  }

  double stateGauge() {
    return metricValue(registry_, "switchyard_circuit_breaker_state", {{"cluster", "legacy"}})
        .value_or(-1);
  }
  double transitions(const char* from, const char* to) {
    return metricValue(registry_, "switchyard_circuit_breaker_transitions_total",
                       {{"cluster", "legacy"}, {"from", from}, {"to", to}})
        .value_or(-1);
  }
  double rejected() {
    return metricValue(registry_, "switchyard_circuit_breaker_rejected_total",
                       {{"cluster", "legacy"}})
        .value_or(-1);
  }

  QuietLogs quiet_;
  BreakerSettings settings_;
  common::SimulatedTimeSource time_;
  prometheus::Registry registry_;
  std::unique_ptr<BreakerMetrics> metrics_;
  std::unique_ptr<CircuitBreaker> breaker_;
};

TEST_F(CircuitBreakerTest, StartsClosedAndAdmitsEverything) {
  CircuitBreaker& b = make();
  EXPECT_EQ(b.state(), BreakerState::Closed);
  for (int i = 0; i < 100; ++i) {
    Admission a = b.admit(now());
    EXPECT_EQ(a.kind, Kind::Allowed);
    b.onResult(now(), true, a.probe());
  }
  EXPECT_EQ(stateGauge(), 0);
  EXPECT_EQ(b.transitionCount(), 0u);
}

TEST_F(CircuitBreakerTest, OpensAfterConsecutiveFailures) {
  CircuitBreaker& b = make();  // 5 within 60s
  fail(4);
  EXPECT_EQ(b.state(), BreakerState::Closed);
  EXPECT_EQ(b.consecutiveFailures(), 4u);
  fail(1);
  EXPECT_EQ(b.state(), BreakerState::Open);
  EXPECT_EQ(stateGauge(), 2);
  EXPECT_EQ(transitions("closed", "open"), 1);
}

TEST_F(CircuitBreakerTest, ASuccessEndsTheStreak) {
  CircuitBreaker& b = make();
  fail(4);
  attempt(true);
  EXPECT_EQ(b.consecutiveFailures(), 0u);
  fail(4);
  EXPECT_EQ(b.state(), BreakerState::Closed);
  fail(1);
  EXPECT_EQ(b.state(), BreakerState::Open);
}

TEST_F(CircuitBreakerTest, TheStreakMustFitInTheInterval) {
  CircuitBreaker& b = make();
  // Five failures in a row, 16s apart: the first and the fifth are 64s apart.
  for (int i = 0; i < 5; ++i) {
    if (i > 0) advance(16s);
    fail(1);
  }
  EXPECT_EQ(b.state(), BreakerState::Closed);
  EXPECT_EQ(b.consecutiveFailures(), 5u);
  // A sixth one second later: the last five (2nd to 6th) are 49s apart.
  advance(1s);
  fail(1);
  EXPECT_EQ(b.state(), BreakerState::Open);
}

TEST_F(CircuitBreakerTest, StreakOfFailuresSpreadOverExactlyTheInterval) {
  CircuitBreaker& b = make();
  for (int i = 0; i < 4; ++i) {
    fail(1);
    advance(15s);
  }
  // 60s after the first: still within the interval.
  fail(1);
  EXPECT_EQ(b.state(), BreakerState::Open);
}

TEST_F(CircuitBreakerTest, OpenRejectsUntilTheCooldownHasPassed) {
  CircuitBreaker& b = make();
  fail(5);
  ASSERT_EQ(b.state(), BreakerState::Open);
  Admission a = b.admit(now());
  EXPECT_EQ(a.kind, Kind::Rejected);
  EXPECT_EQ(a.retry_after, 30s);
  advance(29s);
  a = b.admit(now());
  EXPECT_EQ(a.kind, Kind::Rejected);
  EXPECT_EQ(a.retry_after, 1s);
  advance(999ms);
  EXPECT_EQ(b.admit(now()).retry_after, 1ms);
  EXPECT_EQ(rejected(), 3);
  EXPECT_EQ(b.state(), BreakerState::Open);

  advance(1ms);
  a = b.admit(now());
  EXPECT_EQ(a.kind, Kind::AllowedProbe);
  EXPECT_EQ(b.state(), BreakerState::HalfOpen);
  EXPECT_EQ(stateGauge(), 1);
  EXPECT_EQ(transitions("open", "half_open"), 1);
}

TEST_F(CircuitBreakerTest, HalfOpenLetsOnlyTheConfiguredProbesThrough) {
  settings_.half_open_max_requests = 2;
  CircuitBreaker& b = make();
  fail(5);
  advance(30s);
  Admission p1 = b.admit(now());
  Admission p2 = b.admit(now());
  Admission p3 = b.admit(now());
  EXPECT_EQ(p1.kind, Kind::AllowedProbe);
  EXPECT_EQ(p2.kind, Kind::AllowedProbe);
  EXPECT_EQ(p3.kind, Kind::Rejected);
  EXPECT_EQ(p3.retry_after, 1s);
  EXPECT_EQ(b.probesInFlight(), 2u);
  // A probe that ends without a verdict frees its place.
  b.onCancelled(true);
  EXPECT_EQ(b.probesInFlight(), 1u);
  EXPECT_EQ(b.state(), BreakerState::HalfOpen);
  EXPECT_EQ(b.admit(now()).kind, Kind::AllowedProbe);
  EXPECT_EQ(b.admit(now()).kind, Kind::Rejected);
}

TEST_F(CircuitBreakerTest, ProbeSuccessCloses) {
  CircuitBreaker& b = make();
  fail(5);
  advance(30s);
  Admission probe = b.admit(now());
  ASSERT_TRUE(probe.probe());
  b.onResult(now(), true, true);
  EXPECT_EQ(b.state(), BreakerState::Closed);
  EXPECT_EQ(stateGauge(), 0);
  EXPECT_EQ(transitions("half_open", "closed"), 1);
  EXPECT_EQ(b.probesInFlight(), 0u);
  // Judged afresh: the failures from before do not count.
  EXPECT_EQ(b.consecutiveFailures(), 0u);
  fail(4);
  EXPECT_EQ(b.state(), BreakerState::Closed);
}

TEST_F(CircuitBreakerTest, ProbeFailureReopensForAFullCooldown) {
  CircuitBreaker& b = make();
  fail(5);
  advance(30s);
  ASSERT_TRUE(b.admit(now()).probe());
  advance(2s);
  b.onResult(now(), false, true);
  EXPECT_EQ(b.state(), BreakerState::Open);
  EXPECT_EQ(transitions("half_open", "open"), 1);
  EXPECT_EQ(b.admit(now()).retry_after, 30s);
  advance(30s);
  EXPECT_TRUE(b.admit(now()).probe());
  EXPECT_EQ(transitions("open", "half_open"), 2);
  EXPECT_EQ(b.transitionCount(), 4u);
}

TEST_F(CircuitBreakerTest, SuccessThresholdNeedsSeveralProbes) {
  settings_.success_threshold = 3;
  CircuitBreaker& b = make();
  fail(5);
  advance(30s);
  for (int i = 0; i < 2; ++i) {
    Admission a = attempt(true);
    EXPECT_TRUE(a.probe()) << i;
    EXPECT_EQ(b.state(), BreakerState::HalfOpen) << i;
  }
  EXPECT_TRUE(attempt(true).probe());
  EXPECT_EQ(b.state(), BreakerState::Closed);
}

TEST_F(CircuitBreakerTest, StaleResultsAreIgnored) {
  settings_.half_open_max_requests = 2;
  CircuitBreaker& b = make();
  // Let a request through while closed; it will finish after the breaker opened.
  Admission early = b.admit(now());
  ASSERT_EQ(early.kind, Kind::Allowed);
  fail(5);
  ASSERT_EQ(b.state(), BreakerState::Open);
  b.onResult(now(), true, false);
  b.onResult(now(), false, false);
  EXPECT_EQ(b.state(), BreakerState::Open);
  EXPECT_EQ(b.transitionCount(), 1u);

  advance(30s);
  Admission p1 = b.admit(now());
  Admission p2 = b.admit(now());
  ASSERT_TRUE(p1.probe() && p2.probe());
  // Results of requests let through while closed say nothing about the probes.
  b.onResult(now(), false, false);
  EXPECT_EQ(b.state(), BreakerState::HalfOpen);
  b.onResult(now(), true, true);  // p1 closes it
  EXPECT_EQ(b.state(), BreakerState::Closed);
  b.onResult(now(), false, true);  // p2, late: a probe of a half-open period that is over
  EXPECT_EQ(b.state(), BreakerState::Closed);
  EXPECT_EQ(b.consecutiveFailures(), 0u);
  EXPECT_EQ(b.probesInFlight(), 0u);
}

TEST_F(CircuitBreakerTest, CancelledRequestsCountForNothing) {
  CircuitBreaker& b = make();
  fail(4);
  b.onCancelled(false);
  EXPECT_EQ(b.consecutiveFailures(), 4u);
  b.onCancelled(true);  // no probe out: nothing to give back
  EXPECT_EQ(b.probesInFlight(), 0u);
}

TEST_F(CircuitBreakerTest, ConsecutiveRuleOff) {
  settings_.consecutive_failures = 0;
  CircuitBreaker& b = make();
  fail(1000);
  EXPECT_EQ(b.state(), BreakerState::Closed);
}

TEST_F(CircuitBreakerTest, RatioOpensOnlyOverTheMinimumVolume) {
  settings_.consecutive_failures = 0;
  settings_.failure_ratio = 0.5;
  settings_.min_requests = 10;
  CircuitBreaker& b = make();
  // Alternate, so no streak matters: 9 requests, 5 failures.
  for (int i = 0; i < 9; ++i) attempt(i % 2 == 1 ? true : false);
  EXPECT_EQ(b.window(now()).requests, 9u);
  EXPECT_EQ(b.window(now()).failures, 5u);
  EXPECT_EQ(b.state(), BreakerState::Closed);
  // The 10th, a success: 5 of 10, but only a failure is judged.
  attempt(true);
  EXPECT_EQ(b.state(), BreakerState::Closed);
  attempt(false);  // 6 of 11
  EXPECT_EQ(b.state(), BreakerState::Open);
  EXPECT_EQ(transitions("closed", "open"), 1);
}

TEST_F(CircuitBreakerTest, RatioBelowTheThresholdStaysClosed) {
  settings_.consecutive_failures = 0;
  settings_.failure_ratio = 0.5;
  settings_.min_requests = 10;
  CircuitBreaker& b = make();
  for (int i = 0; i < 100; ++i) attempt(i % 3 == 0 ? false : true);  // a third fail
  EXPECT_EQ(b.state(), BreakerState::Closed);
}

TEST_F(CircuitBreakerTest, RatioExactlyAtTheThresholdOpens) {
  settings_.consecutive_failures = 0;
  settings_.failure_ratio = 0.1;
  settings_.min_requests = 30;
  CircuitBreaker& b = make();
  for (int i = 0; i < 27; ++i) attempt(true);
  attempt(false);
  attempt(false);
  EXPECT_EQ(b.state(), BreakerState::Closed);  // 2 of 29
  attempt(false);                              // 3 of 30
  EXPECT_EQ(b.state(), BreakerState::Open);
}

TEST_F(CircuitBreakerTest, RatioWindowForgetsOldResults) {
  settings_.consecutive_failures = 0;
  settings_.failure_ratio = 0.5;
  settings_.min_requests = 4;
  CircuitBreaker& b = make();
  attempt(false);
  attempt(false);
  attempt(false);
  advance(30s);
  EXPECT_EQ(b.window(now()).requests, 3u);
  advance(31s);
  EXPECT_EQ(b.window(now()).requests, 0u);
  // Three old failures are gone: one new one among three successes is a quarter.
  attempt(true);
  attempt(true);
  attempt(true);
  attempt(false);
  EXPECT_EQ(b.state(), BreakerState::Closed);
  EXPECT_EQ(b.window(now()).failures, 1u);
}

TEST_F(CircuitBreakerTest, RatioWindowSlidesBucketByBucket) {
  settings_.consecutive_failures = 0;
  settings_.failure_ratio = 0.9;
  settings_.min_requests = 1000;
  CircuitBreaker& b = make();
  // One result per 6s bucket for a minute, then each new one pushes the oldest out.
  for (int i = 0; i < 10; ++i) {
    attempt(true);
    advance(6s);
  }
  EXPECT_EQ(b.window(now()).requests, 9u);
  attempt(true);
  EXPECT_EQ(b.window(now()).requests, 10u);
  advance(6s);
  EXPECT_EQ(b.window(now()).requests, 9u);
}

TEST_F(CircuitBreakerTest, EitherRuleOpens) {
  settings_.consecutive_failures = 3;
  settings_.failure_ratio = 0.5;
  settings_.min_requests = 4;
  CircuitBreaker& b = make();
  attempt(true);
  attempt(false);
  attempt(true);
  attempt(false);  // 2 of 4: the ratio rule
  EXPECT_EQ(b.state(), BreakerState::Open);

  settings_.failure_ratio = 0.9;
  settings_.min_requests = 100;
  CircuitBreaker& c = make();
  fail(3);  // the streak rule
  EXPECT_EQ(c.state(), BreakerState::Open);
}

TEST_F(CircuitBreakerTest, FailureStatus) {
  CircuitBreaker& b = make();
  EXPECT_TRUE(b.isFailureStatus(500));
  EXPECT_TRUE(b.isFailureStatus(503));
  EXPECT_TRUE(b.isFailureStatus(599));
  EXPECT_FALSE(b.isFailureStatus(404));
  EXPECT_FALSE(b.isFailureStatus(429));
  EXPECT_FALSE(b.isFailureStatus(200));
  EXPECT_FALSE(b.isFailureStatus(600));
  EXPECT_FALSE(b.isFailureStatus(-1));
}

TEST_F(CircuitBreakerTest, Snapshot) {
  settings_.failure_ratio = 0.9;
  CircuitBreaker& b = make();
  fail(2);
  attempt(true);
  fail(1);
  EXPECT_EQ(b.snapshot(now()), nlohmann::json::parse(R"({
    "state": "closed", "consecutive_failures": 1, "window": {"requests": 4, "failures": 3},
    "probes_in_flight": 0, "transitions": 0})"));
  fail(4);
  advance(10s);
  nlohmann::json open = b.snapshot(now());
  EXPECT_EQ(open["state"], "open");
  EXPECT_EQ(open["open_remaining_ms"], 20000);
  EXPECT_EQ(open["transitions"], 1);
  // What opened it, until the window moves past it.
  EXPECT_EQ(open["window"], nlohmann::json::parse(R"({"requests": 8, "failures": 7})"));
}

TEST_F(CircuitBreakerTest, NoMetricsCountsNothing) {
  CircuitBreaker b("x", settings_);
  for (int i = 0; i < 5; ++i) b.onResult(now(), false, false);
  EXPECT_EQ(b.state(), BreakerState::Open);
  EXPECT_FALSE(b.admit(now()).allowed());
}

// Two threads drive one breaker through its states with random results, each with its own
// clock that moves forward 1ms per attempt: probes never exceed the limit, nothing is lost, and
// the breaker ends in a consistent state.
TEST(CircuitBreakerHammerTest, TwoThreads) {
  QuietLogs quiet;
  BreakerSettings settings;
  settings.consecutive_failures = 3;
  settings.failure_ratio = 0.5;
  settings.min_requests = 20;
  settings.interval = 1s;
  settings.cooldown = 50ms;
  settings.half_open_max_requests = 2;
  settings.success_threshold = 2;
  prometheus::Registry registry;
  BreakerMetrics metrics(registry);
  CircuitBreaker breaker("hammer", settings, BreakerStats(metrics, "hammer"));

  std::atomic<int> probes_out{0};
  std::atomic<int> most_probes{0};
  std::atomic<int> admitted{0};
  std::atomic<int> refused{0};
  auto work = [&](uint64_t seed) {
    common::SeededRandom random(seed);
    common::MonotonicTime now{std::chrono::seconds(1000)};
    for (int i = 0; i < 40000; ++i) {
      now += 1ms;
      Admission a = breaker.admit(now);
      if (!a.allowed()) {
        refused.fetch_add(1);
        continue;
      }
      admitted.fetch_add(1);
      if (a.probe()) {
        const int out = probes_out.fetch_add(1) + 1;
        int seen = most_probes.load();
        while (out > seen && !most_probes.compare_exchange_weak(seen, out)) {
        }
        probes_out.fetch_sub(1);
      }
      // Failures come in phases so every state is visited.
      const bool bad_phase = (i / 2000) % 2 == 0;
      const bool success = random.uniform(100) >= (bad_phase ? 70u : 5u);
      if (random.uniform(50) == 0) {
        breaker.onCancelled(a.probe());
      } else {
        breaker.onResult(now, success, a.probe());
      }
    }
  };
  std::thread t1(work, 1);
  std::thread t2(work, 2);
  t1.join();
  t2.join();

  EXPECT_LE(most_probes.load(), 2);
  EXPECT_GT(admitted.load(), 0);
  EXPECT_GT(refused.load(), 0);
  EXPECT_EQ(breaker.probesInFlight(), 0u);
  const auto opened = metricValue(registry, "switchyard_circuit_breaker_transitions_total",
                                  {{"cluster", "hammer"}, {"from", "closed"}, {"to", "open"}});
  ASSERT_TRUE(opened.has_value());
  EXPECT_GT(*opened, 0);
  const double gauge =
      metricValue(registry, "switchyard_circuit_breaker_state", {{"cluster", "hammer"}}).value();
  EXPECT_EQ(gauge, static_cast<double>(breaker.state()));
  // Every opening is followed by the states in order: counts agree along the cycle.
  auto count = [&](const char* from, const char* to) {
    return metricValue(registry, "switchyard_circuit_breaker_transitions_total",
                       {{"cluster", "hammer"}, {"from", from}, {"to", to}})
        .value();
  };
  const double to_open = count("closed", "open") + count("half_open", "open");
  const double to_half_open = count("open", "half_open");
  const double to_closed = count("half_open", "closed");
  EXPECT_EQ(static_cast<double>(breaker.transitionCount()), to_open + to_half_open + to_closed);
  EXPECT_LE(to_half_open, to_open);
  EXPECT_GE(to_half_open, to_open - 1);
  EXPECT_LE(to_closed, to_half_open);
  EXPECT_GT(to_closed, 0);
  EXPECT_GT(count("half_open", "open"), 0);
}

// ---- bulkheads ----

TEST(BulkheadTest, RefusesBeyondTheLimit) {
  prometheus::Registry registry;
  prometheus::Counter& overflow =
      prometheus::BuildCounter().Name("overflow").Register(registry).Add({});
  Bulkhead b(2, &overflow);
  EXPECT_TRUE(b.tryAcquire());
  EXPECT_TRUE(b.tryAcquire());
  EXPECT_FALSE(b.tryAcquire());
  EXPECT_FALSE(b.tryAcquire());
  EXPECT_EQ(b.active(), 2u);
  EXPECT_EQ(overflow.Value(), 2);
  b.release();
  EXPECT_TRUE(b.tryAcquire());
  EXPECT_EQ(b.active(), 2u);
  EXPECT_EQ(b.limit(), 2u);
}

TEST(BulkheadTest, ZeroMeansUnlimitedButCounted) {
  Bulkhead b(0, nullptr);
  for (int i = 0; i < 10000; ++i) ASSERT_TRUE(b.tryAcquire());
  EXPECT_EQ(b.active(), 10000u);
  for (int i = 0; i < 10000; ++i) b.release();
  EXPECT_EQ(b.active(), 0u);
}

TEST(BulkheadTest, GuardGivesTheSlotBack) {
  Bulkhead b(1, nullptr);
  {
    BulkheadGuard first(b);
    EXPECT_TRUE(first);
    BulkheadGuard second(b);
    EXPECT_FALSE(second);
    EXPECT_EQ(b.active(), 1u);
  }
  EXPECT_EQ(b.active(), 0u);

  BulkheadGuard held(b);
  BulkheadGuard moved(std::move(held));
  EXPECT_FALSE(held);  // NOLINT(bugprone-use-after-move): moved-from state is specified
  EXPECT_TRUE(moved);
  EXPECT_EQ(b.active(), 1u);
  BulkheadGuard assigned;
  EXPECT_FALSE(assigned);
  assigned = std::move(moved);
  EXPECT_EQ(b.active(), 1u);
  assigned.reset();
  EXPECT_FALSE(assigned);
  EXPECT_EQ(b.active(), 0u);
  assigned.reset();  // twice is harmless
  EXPECT_EQ(b.active(), 0u);
}

TEST(BulkheadTest, TwoThreadHammer) {
  Bulkhead b(3, nullptr);
  std::atomic<int> inside{0};
  std::atomic<int> most{0};
  auto work = [&] {
    for (int i = 0; i < 50000; ++i) {
      BulkheadGuard g(b);
      if (!g) continue;
      const int now = inside.fetch_add(1) + 1;
      int seen = most.load();
      while (now > seen && !most.compare_exchange_weak(seen, now)) {
      }
      inside.fetch_sub(1);
    }
  };
  std::thread t1(work);
  std::thread t2(work);
  t1.join();
  t2.join();
  EXPECT_LE(most.load(), 3);
  EXPECT_EQ(b.active(), 0u);
}

// ---- configuration ----

class CircuitBreakerConfigTest : public testing::Test {
 protected:
  static constexpr const char* Path = "filters[4].circuit_breaker";

  static CircuitBreakerConfig parse(const std::string& yaml) {
    YAML::Node root = YAML::Load(yaml);
    return parseCircuitBreakerConfig(root["circuit_breaker"], Path);
  }

  static config::ConfigError parseError(const std::string& yaml) {
    return test::configErrorOf([&] { parse(yaml); }, yaml);
  }

  static void expectError(const std::string& yaml, const std::string& key, int line,
                          const std::string& message_part) {
    test::expectConfigError(parseError(yaml),
                            key.empty() ? std::string(Path) : std::string(Path) + "." + key, line,
                            message_part, yaml);
  }
};

void expectDefaults(const BreakerSettings& s) {
  EXPECT_EQ(s.consecutive_failures, 5u);
  EXPECT_EQ(s.interval, 60s);
  EXPECT_FALSE(s.failure_ratio.has_value());
  EXPECT_EQ(s.min_requests, 20u);
  EXPECT_EQ(s.cooldown, 30s);
  EXPECT_EQ(s.half_open_max_requests, 1u);
  EXPECT_EQ(s.success_threshold, 1u);
  EXPECT_EQ(s.failureStatusNames(), std::vector<std::string>{"5xx"});
  EXPECT_EQ(s.max_concurrent_requests, 0u);
  EXPECT_EQ(s.max_concurrent_retries, 0u);
}

TEST_F(CircuitBreakerConfigTest, NullOrEmptyMeansDefaults) {
  expectDefaults(parse("circuit_breaker:").defaults);
  expectDefaults(parse("circuit_breaker: {}").defaults);
  EXPECT_TRUE(parse("circuit_breaker: {}").clusters.empty());
}

TEST_F(CircuitBreakerConfigTest, EveryKey) {
  CircuitBreakerConfig c = parse(R"(
circuit_breaker:
  consecutive_failures: 3
  interval: 10s
  failure_ratio: 0.25
  min_requests: 50
  cooldown: 5s
  half_open_max_requests: 4
  success_threshold: 2
  failure_status: [502, 503, "504"]
  max_concurrent_requests: 100
  max_concurrent_retries: 10
)");
  const BreakerSettings& s = c.defaults;
  EXPECT_EQ(s.consecutive_failures, 3u);
  EXPECT_EQ(s.interval, 10s);
  EXPECT_EQ(s.failure_ratio, std::optional<double>(0.25));
  EXPECT_EQ(s.min_requests, 50u);
  EXPECT_EQ(s.cooldown, 5s);
  EXPECT_EQ(s.half_open_max_requests, 4u);
  EXPECT_EQ(s.success_threshold, 2u);
  EXPECT_EQ(s.failureStatusNames(), (std::vector<std::string>{"502", "503", "504"}));
  EXPECT_FALSE(s.isFailureStatus(500));
  EXPECT_EQ(s.max_concurrent_requests, 100u);
  EXPECT_EQ(s.max_concurrent_retries, 10u);
}

TEST_F(CircuitBreakerConfigTest, FailureStatusForms) {
  EXPECT_EQ(parse("circuit_breaker: {failure_status: 5xx}").defaults.failureStatusNames(),
            std::vector<std::string>{"5xx"});
  const BreakerSettings s = parse("circuit_breaker: {failure_status: [5xx, 429]}").defaults;
  EXPECT_TRUE(s.isFailureStatus(429));
  EXPECT_TRUE(s.isFailureStatus(500));
  EXPECT_EQ(s.failureStatusNames(), (std::vector<std::string>{"429", "5xx"}));
  EXPECT_TRUE(parse("circuit_breaker: {failure_status: []}").defaults.failureStatusNames().empty());
  EXPECT_EQ(parse("circuit_breaker: {failure_status: 503}").defaults.failureStatusNames(),
            std::vector<std::string>{"503"});
}

TEST_F(CircuitBreakerConfigTest, ClusterOverridesInheritTheTopLevel) {
  CircuitBreakerConfig c = parse(R"(
circuit_breaker:
  cooldown: 10s
  clusters:
    legacy:
      consecutive_failures: 2
    modern: {}
  max_concurrent_requests: 50
)");
  ASSERT_EQ(c.clusters.size(), 2u);
  const BreakerSettings& legacy = c.forCluster("legacy");
  EXPECT_EQ(legacy.consecutive_failures, 2u);
  EXPECT_EQ(legacy.cooldown, 10s);
  // Written after `clusters` in the file, still inherited.
  EXPECT_EQ(legacy.max_concurrent_requests, 50u);
  EXPECT_EQ(c.forCluster("modern").consecutive_failures, 5u);
  EXPECT_EQ(&c.forCluster("other"), &c.defaults);
  EXPECT_EQ(c.defaults.consecutive_failures, 5u);
}

TEST_F(CircuitBreakerConfigTest, Errors) {
  expectError("circuit_breaker:\n  cooldown: 1s\n  cool_down: 2s\n", "cool_down", 3,
              "unknown key \"cool_down\"");
  expectError("circuit_breaker: [cooldown]\n", "", 1, "expected a map");
  expectError("circuit_breaker:\n  consecutive_failures: 10001\n", "consecutive_failures", 2,
              "between 0 and 10000");
  expectError("circuit_breaker:\n  interval: 0s\n", "interval", 2, "must be greater than 0s");
  expectError("circuit_breaker:\n  cooldown: 30\n", "cooldown", 2, "expected a duration");
  expectError("circuit_breaker:\n  failure_ratio: 0\n", "failure_ratio", 2,
              "must be greater than 0");
  expectError("circuit_breaker:\n  failure_ratio: 1.5\n", "failure_ratio", 2, "between 0 and 1");
  expectError("circuit_breaker:\n  failure_ratio: half\n", "failure_ratio", 2, "between 0 and 1");
  expectError("circuit_breaker:\n  min_requests: 0\n", "min_requests", 2, "between 1 and");
  expectError("circuit_breaker:\n  half_open_max_requests: 0\n", "half_open_max_requests", 2,
              "between 1 and");
  expectError("circuit_breaker:\n  success_threshold: -2\n", "success_threshold", 2,
              "between 1 and");
  expectError("circuit_breaker:\n  max_concurrent_requests: -1\n", "max_concurrent_requests", 2,
              "between 0 and");
  expectError("circuit_breaker:\n  failure_status: 4xx\n", "failure_status", 2,
              "expected \"5xx\" or a status code 400-599, got \"4xx\"");
  expectError("circuit_breaker:\n  failure_status: [502, 200]\n", "failure_status[1]", 2,
              "between 400 and 599");
  expectError("circuit_breaker:\n  failure_status: {code: 500}\n", "failure_status", 2,
              "expected a sequence");
}

TEST_F(CircuitBreakerConfigTest, ClusterErrors) {
  expectError("circuit_breaker:\n  clusters: [legacy]\n", "clusters", 2,
              "expected a map from cluster names to settings");
  expectError("circuit_breaker:\n  clusters:\n    legacy:\n      cooldown: 0s\n",
              "clusters.legacy.cooldown", 4, "must be greater than 0s");
  expectError("circuit_breaker:\n  clusters:\n    legacy:\n      clusters: {}\n",
              "clusters.legacy.clusters", 4, "unknown key \"clusters\"");
  expectError("circuit_breaker:\n  clusters:\n    legacy: 5\n", "clusters.legacy", 3,
              "expected a map");
  expectError("circuit_breaker:\n  clusters:\n    legacy: {}\n    legacy: {}\n", "clusters.legacy",
              4, "duplicate cluster \"legacy\"");
}

// ---- factory ----

TEST(CircuitBreakerFactoryTest, RegisteredAsAnAdmissionPolicyWithoutAStreamFilter) {
  FilterRegistry registry;
  registerBuiltinFilters(registry);
  const FilterRegistration* registration = registry.find("circuit_breaker");
  ASSERT_NE(registration, nullptr);
  EXPECT_FALSE(registration->stream_filter);
  EXPECT_EQ(registration->policies, std::vector<PolicyKind>{PolicyKind::Admission});

  prometheus::Registry metrics;
  common::SimulatedTimeSource time;
  BuildContext ctx{"filters[1].circuit_breaker", metrics, time};
  YAML::Node root = YAML::Load("circuit_breaker: {cooldown: 5s}");
  FilterFactoryPtr factory = registration->build(root["circuit_breaker"], ctx);
  ASSERT_NE(factory, nullptr);
  const auto& cb = static_cast<const CircuitBreakerFilterFactory&>(*factory);
  EXPECT_EQ(cb.config().defaults.cooldown, 5s);
  // The router applies it per attempt; nothing runs per request.
  test::FakeFilterCallbacks callbacks;
  EXPECT_EQ(factory->create(callbacks.workerContext(), nullptr), nullptr);

  YAML::Node bad = YAML::Load("circuit_breaker: {cooldown: soon}");
  try {
    registration->build(bad["circuit_breaker"], ctx);
    ADD_FAILURE() << "no error";
  } catch (const config::ConfigError& e) {
    EXPECT_EQ(e.path(), "filters[1].circuit_breaker.cooldown");
  }
}

// A configuration with these clusters, for activating factories.
using test::activate;
using test::clustersConfig;

TEST(CircuitBreakerFactoryTest, PerClusterStateWithItsOwnSettingsAndMetrics) {
  QuietLogs quiet;
  prometheus::Registry metrics;
  common::SimulatedTimeSource time;
  CircuitBreakerConfig config;
  config.defaults.max_concurrent_requests = 2;
  BreakerSettings legacy = config.defaults;
  legacy.consecutive_failures = 1;
  legacy.max_concurrent_retries = 1;
  config.clusters.emplace("legacy", legacy);
  CircuitBreakerFilterFactory factory(config, &metrics, time);
  EXPECT_EQ(factory.admissionFor("legacy"), nullptr);  // nothing before activation

  // Every cluster of the configuration has its state, and metrics, before any traffic.
  upstream::RuntimeStateRegistry state;
  activate(factory, clustersConfig({"modern", "legacy"}), state);
  EXPECT_EQ(metricValue(metrics, "switchyard_circuit_breaker_state", {{"cluster", "legacy"}}), 0);
  EXPECT_EQ(metricValue(metrics, "switchyard_circuit_breaker_state", {{"cluster", "modern"}}), 0);
  EXPECT_EQ(state.liveNames(),
            (std::vector<std::string>{"circuit_breaker/legacy", "circuit_breaker/modern"}));

  ClusterAdmission* l = factory.admissionFor("legacy");
  ClusterAdmission* m = factory.admissionFor("modern");
  ASSERT_NE(l, nullptr);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(l->circuit().breaker.settings().consecutive_failures, 1u);
  EXPECT_EQ(m->circuit().breaker.settings().consecutive_failures, 5u);
  EXPECT_EQ(l->circuit().retries.limit(), 1u);
  EXPECT_EQ(m->circuit().retries.limit(), 0u);
  EXPECT_EQ(m->maxConcurrentRequests(), 2u);
  EXPECT_TRUE(l->isFailureStatus(503));
  EXPECT_FALSE(l->isFailureStatus(404));

  // The router's policy for any route to a cluster is that cluster's admission control.
  router::UpstreamPolicy policy;
  factory.contributePolicy({"api", "v2", "legacy", nullptr}, policy);
  EXPECT_EQ(policy.admission, l);
  EXPECT_EQ(policy.retry, nullptr);

  l->onResult(time.monotonicNow(), false, false);
  EXPECT_EQ(l->circuit().breaker.state(), BreakerState::Open);
  EXPECT_EQ(m->circuit().breaker.state(), BreakerState::Closed);
  EXPECT_FALSE(l->admit(time.monotonicNow()).allowed());
  EXPECT_EQ(metricValue(metrics, "switchyard_circuit_breaker_state", {{"cluster", "legacy"}}), 2);
  EXPECT_EQ(
      metricValue(metrics, "switchyard_circuit_breaker_rejected_total", {{"cluster", "legacy"}}),
      1);

  EXPECT_TRUE(m->tryStartRequest());
  EXPECT_TRUE(m->tryStartRequest());
  EXPECT_FALSE(m->tryStartRequest());
  EXPECT_TRUE(l->tryStartRetry());
  EXPECT_FALSE(l->tryStartRetry());
  EXPECT_EQ(metricValue(metrics, "switchyard_bulkhead_overflow_total",
                        {{"cluster", "modern"}, {"limit", "max_concurrent_requests"}}),
            1);
  EXPECT_EQ(metricValue(metrics, "switchyard_bulkhead_overflow_total",
                        {{"cluster", "legacy"}, {"limit", "max_concurrent_retries"}}),
            1);
  // An unlimited bulkhead has no series.
  EXPECT_EQ(metricValue(metrics, "switchyard_bulkhead_overflow_total",
                        {{"cluster", "modern"}, {"limit", "max_concurrent_retries"}}),
            std::nullopt);

  time.advance(12s);
  nlohmann::json out = nlohmann::json::object();
  ClusterView view{out};
  factory.describeCluster("legacy", view);
  EXPECT_TRUE(view.degraded);  // open
  EXPECT_EQ(out["circuit_breaker"]["state"], "open");
  EXPECT_EQ(out["circuit_breaker"]["open_remaining_ms"], 18000);
  EXPECT_EQ(out["circuit_breaker"]["concurrent_retries"],
            nlohmann::json::parse(R"({"active": 1, "limit": 1})"));
  nlohmann::json modern = nlohmann::json::object();
  ClusterView modern_view{modern};
  factory.describeCluster("modern", modern_view);
  EXPECT_FALSE(modern_view.degraded);
  EXPECT_EQ(modern["circuit_breaker"]["state"], "closed");
  EXPECT_EQ(modern["circuit_breaker"]["concurrent_requests"],
            nlohmann::json::parse(R"({"active": 2, "limit": 2})"));
  m->endRequest();
  m->endRequest();
  l->endRetry();
}

TEST(CircuitBreakerFactoryTest, AReloadKeepsTheStateAndAppliesTheNewSettings) {
  QuietLogs quiet;
  prometheus::Registry metrics;
  common::SimulatedTimeSource time;
  upstream::RuntimeStateRegistry state;
  CircuitBreakerConfig first;
  first.defaults.consecutive_failures = 1;
  first.defaults.max_concurrent_requests = 1;
  auto before = std::make_unique<CircuitBreakerFilterFactory>(first, &metrics, time);
  activate(*before, clustersConfig({"legacy", "modern"}), state);
  ClusterAdmission* old_legacy = before->admissionFor("legacy");
  old_legacy->onResult(time.monotonicNow(), false, false);
  ASSERT_EQ(old_legacy->circuit().breaker.state(), BreakerState::Open);
  ASSERT_TRUE(before->admissionFor("modern")->tryStartRequest());  // a request in flight

  // The reload: stricter thresholds, a larger bulkhead, and no more `modern`.
  CircuitBreakerConfig second;
  second.defaults.consecutive_failures = 3;
  second.defaults.max_concurrent_requests = 5;
  second.defaults.cooldown = 90s;
  CircuitBreakerFilterFactory after(second, &metrics, time);
  activate(after, clustersConfig({"legacy"}), state);
  ClusterAdmission* legacy = after.admissionFor("legacy");
  // The same breaker, still open (its cooldown as it was when it opened), no probe let through.
  EXPECT_EQ(&legacy->circuit(), &old_legacy->circuit());
  EXPECT_EQ(legacy->circuit().breaker.state(), BreakerState::Open);
  EXPECT_FALSE(legacy->admit(time.monotonicNow()).allowed());
  EXPECT_EQ(legacy->circuit().breaker.settings().consecutive_failures, 3u);
  EXPECT_EQ(legacy->maxConcurrentRequests(), 5u);
  EXPECT_EQ(after.admissionFor("modern"), nullptr);

  // `modern` is retired, not gone: the old configuration's request still holds it.
  EXPECT_EQ(state.liveNames(), std::vector<std::string>{"circuit_breaker/legacy"});
  EXPECT_EQ(state.retiredCount(), 1u);
  EXPECT_EQ(state.collect(), 0u);
  EXPECT_EQ(metricValue(metrics, "switchyard_circuit_breaker_state", {{"cluster", "modern"}}), 0);
  before->admissionFor("modern")->endRequest();
  before.reset();  // the last stream under the old configuration ended
  EXPECT_EQ(state.collect(), 1u);
  EXPECT_EQ(state.retiredCount(), 0u);
  // Its series go with it; the kept cluster's stay.
  EXPECT_EQ(metricValue(metrics, "switchyard_circuit_breaker_state", {{"cluster", "modern"}}),
            std::nullopt);
  EXPECT_EQ(metricValue(metrics, "switchyard_circuit_breaker_state", {{"cluster", "legacy"}}), 2);

  // New thresholds act on the kept state: after the cooldown, a probe; its failure re-opens.
  time.advance(31s);
  Admission probe = legacy->admit(time.monotonicNow());
  ASSERT_TRUE(probe.probe());
  legacy->onResult(time.monotonicNow(), true, true);
  EXPECT_EQ(legacy->circuit().breaker.state(), BreakerState::Closed);
  for (int i = 0; i < 2; ++i) legacy->onResult(time.monotonicNow(), false, false);
  EXPECT_EQ(legacy->circuit().breaker.state(), BreakerState::Closed);  // 3 needed now
  legacy->onResult(time.monotonicNow(), false, false);
  EXPECT_EQ(legacy->circuit().breaker.state(), BreakerState::Open);
  EXPECT_EQ(legacy->circuit().breaker.snapshot(time.monotonicNow())["open_remaining_ms"], 90000);
}

TEST(CircuitBreakerFactoryTest, ReconfiguringTheIntervalStartsTheRatioWindowAfresh) {
  QuietLogs quiet;
  common::SimulatedTimeSource time;
  BreakerSettings s;
  s.consecutive_failures = 0;
  s.failure_ratio = 0.5;
  s.min_requests = 4;
  s.interval = 10s;
  CircuitBreaker b("legacy", s);
  for (int i = 0; i < 3; ++i) b.onResult(time.monotonicNow(), i == 0, false);
  EXPECT_EQ(b.window(time.monotonicNow()).requests, 3u);
  s.interval = 60s;
  b.reconfigure(s);
  EXPECT_EQ(b.window(time.monotonicNow()).requests, 0u);
  // Counting goes on in buckets of the new length.
  for (int i = 0; i < 3; ++i) b.onResult(time.monotonicNow(), true, false);
  time.advance(30s);
  b.onResult(time.monotonicNow(), false, false);
  EXPECT_EQ(b.window(time.monotonicNow()).requests, 4u);
  EXPECT_EQ(b.state(), BreakerState::Closed);  // 1 of 4
  s.failure_ratio.reset();
  b.reconfigure(s);
  EXPECT_EQ(b.window(time.monotonicNow()).requests, 0u);  // off
}

TEST(CircuitBreakerFactoryTest, ToJson) {
  common::SimulatedTimeSource time;
  CircuitBreakerConfig config = parseCircuitBreakerConfig(
      YAML::Load("{failure_ratio: 0.5, clusters: {legacy: {cooldown: 90s}}}"), "cb");
  CircuitBreakerFilterFactory factory(config, nullptr, time);
  EXPECT_EQ(factory.toJson(), nlohmann::json::parse(R"({
    "consecutive_failures": 5, "interval": "1m", "failure_ratio": 0.5, "min_requests": 20,
    "cooldown": "30s", "half_open_max_requests": 1, "success_threshold": 1,
    "failure_status": ["5xx"], "max_concurrent_requests": 0, "max_concurrent_retries": 0,
    "clusters": {"legacy": {
      "consecutive_failures": 5, "interval": "1m", "failure_ratio": 0.5, "min_requests": 20,
      "cooldown": "1m30s", "half_open_max_requests": 1, "success_threshold": 1,
      "failure_status": ["5xx"], "max_concurrent_requests": 0, "max_concurrent_retries": 0}}})"));
  // The dump parses back to the same configuration.
  CircuitBreakerConfig again = parseCircuitBreakerConfig(YAML::Load(factory.toJson().dump()), "cb");
  EXPECT_EQ(CircuitBreakerFilterFactory(again, nullptr, time).toJson(), factory.toJson());
}

}  // namespace
}  // namespace switchyard::filters::circuit_breaker
