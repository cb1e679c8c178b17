#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <yaml-cpp/yaml.h>

#include <atomic>
#include <chrono>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "config/config.h"
#include "config/config_error.h"
#include "filters/registry.h"
#include "filters/retry/config.h"
#include "filters/retry/retry_filter.h"
#include "filters/retry/retry_policy.h"
#include "proxy/common/random.h"
#include "proxy/common/time.h"
#include "proxy/upstream/runtime_state.h"
#include "tests/support/activation.h"
#include "tests/support/config_errors.h"
#include "tests/support/fake_filter_callbacks.h"

namespace switchyard::filters::retry {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using namespace std::chrono_literals;

// A Random that always returns the same word: 1 makes every jittered backoff 0, ~0 makes it
// the cap. For tests that need to know the exact delay.
class FixedRandom final : public common::Random {
 public:
  explicit FixedRandom(uint64_t value) : value_(value) {}
  uint64_t next() override { return value_; }

 private:
  uint64_t value_;
};

FixedRandom shortestBackoff() { return FixedRandom(1); }
FixedRandom longestBackoff() { return FixedRandom(std::numeric_limits<uint64_t>::max()); }

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

// ---- backoff ----

TEST(BackoffTest, CapDoublesFromTheBaseUpToTheMaximum) {
  RetryConfig config;  // 1s, factor 2, cap 30s
  EXPECT_EQ(backoffCap(0, config), 1s);
  EXPECT_EQ(backoffCap(1, config), 2s);
  EXPECT_EQ(backoffCap(2, config), 4s);
  EXPECT_EQ(backoffCap(3, config), 8s);
  EXPECT_EQ(backoffCap(4, config), 16s);
  EXPECT_EQ(backoffCap(5, config), 30s);
  EXPECT_EQ(backoffCap(100, config), 30s);
  // factor^attempt overflows a double to infinity; the cap still holds.
  EXPECT_EQ(backoffCap(std::numeric_limits<uint32_t>::max(), config), 30s);
}

TEST(BackoffTest, CapWithOtherFactors) {
  RetryConfig config;
  config.base_interval = 100ms;
  config.max_interval = 1s;
  config.backoff_factor = 1.5;
  EXPECT_EQ(backoffCap(0, config), 100ms);
  EXPECT_EQ(backoffCap(1, config), 150ms);
  EXPECT_EQ(backoffCap(2, config), 225ms);
  EXPECT_EQ(backoffCap(10, config), 1s);

  config.backoff_factor = 1;
  EXPECT_EQ(backoffCap(0, config), 100ms);
  EXPECT_EQ(backoffCap(50, config), 100ms);
}

TEST(BackoffTest, StaysWithinZeroAndTheCapForManySeeds) {
  RetryConfig config;
  for (uint64_t seed = 1; seed <= 500; ++seed) {
    common::SeededRandom random(seed);
    for (uint32_t attempt = 0; attempt < 10; ++attempt) {
      const common::Duration d = backoff(attempt, config, random);
      EXPECT_GE(d, common::Duration::zero()) << "seed " << seed << " attempt " << attempt;
      EXPECT_LE(d, backoffCap(attempt, config)) << "seed " << seed << " attempt " << attempt;
    }
  }
}

TEST(BackoffTest, FullJitterCoversTheWholeRange) {
  RetryConfig config;
  common::SeededRandom random(7);
  const double cap = common::toSeconds(backoffCap(2, config));  // 4s
  double sum = 0;
  double lowest = cap;
  double highest = 0;
  constexpr int Draws = 20000;
  for (int i = 0; i < Draws; ++i) {
    const double d = common::toSeconds(backoff(2, config, random));
    sum += d;
    lowest = std::min(lowest, d);
    highest = std::max(highest, d);
  }
  // Uniform on [0, 4s]: mean 2s; the extremes come close to both ends.
  EXPECT_NEAR(sum / Draws, cap / 2, cap * 0.02);
  EXPECT_LT(lowest, cap * 0.01);
  EXPECT_GT(highest, cap * 0.99);
}

TEST(BackoffTest, SameSeedSameSequence) {
  RetryConfig config;
  common::SeededRandom a(99);
  common::SeededRandom b(99);
  for (uint32_t attempt = 0; attempt < 6; ++attempt) {
    EXPECT_EQ(backoff(attempt, config, a), backoff(attempt, config, b));
  }
}

TEST(BackoffTest, ExtremeDrawsGiveZeroAndTheCap) {
  RetryConfig config;
  FixedRandom zero = shortestBackoff();
  FixedRandom max = longestBackoff();
  EXPECT_EQ(backoff(1, config, zero), common::Duration::zero());
  EXPECT_EQ(backoff(1, config, max), 2s);
}

// ---- Retry-After ----

// SimulatedTimeSource's default: 2026-01-01T00:00:00Z, a Thursday.
const common::SystemTime Now{seconds(1767225600)};

TEST(RetryAfterTest, DelaySeconds) {
  EXPECT_EQ(parseRetryAfter("120", Now), common::Duration(120s));
  EXPECT_EQ(parseRetryAfter("0", Now), common::Duration::zero());
  EXPECT_EQ(parseRetryAfter("007", Now), common::Duration(7s));
  EXPECT_EQ(parseRetryAfter(" \t5 ", Now), common::Duration(5s));
}

TEST(RetryAfterTest, HugeDelaySecondsAreCutNotWrapped) {
  EXPECT_EQ(parseRetryAfter("99999999999999999999999999", Now),
            common::Duration(seconds(1'000'000'000)));
}

TEST(RetryAfterTest, HttpDate) {
  EXPECT_EQ(parseRetryAfter("Thu, 01 Jan 2026 00:02:00 GMT", Now), common::Duration(120s));
  EXPECT_EQ(parseRetryAfter("Fri, 02 Jan 2026 00:00:00 GMT", Now), common::Duration(86400s));
  // The weekday is not checked against the date.
  EXPECT_EQ(parseRetryAfter("Mon, 01 Jan 2026 00:00:10 GMT", Now), common::Duration(10s));
}

TEST(RetryAfterTest, ObsoleteDateFormsAreAccepted) {
  // RFC 9110 section 5.6.7: recipients accept the RFC 850 and asctime forms too.
  EXPECT_EQ(parseRetryAfter("Thursday, 01-Jan-26 00:02:00 GMT", Now), common::Duration(120s));
  EXPECT_EQ(parseRetryAfter("Thu Jan  1 00:02:00 2026", Now), common::Duration(120s));
}

TEST(RetryAfterTest, HttpDateInThePastMeansNoWait) {
  EXPECT_EQ(parseRetryAfter("Wed, 31 Dec 2025 23:59:00 GMT", Now), common::Duration::zero());
  EXPECT_EQ(parseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", Now), common::Duration::zero());
  EXPECT_EQ(parseRetryAfter("Thu, 01 Jan 2026 00:00:00 GMT", Now), common::Duration::zero());
}

TEST(RetryAfterTest, HttpDateCountsFromTheExactNow) {
  const common::SystemTime now = Now + 500ms;
  EXPECT_EQ(parseRetryAfter("Thu, 01 Jan 2026 00:00:02 GMT", now), common::Duration(1500ms));
}

TEST(RetryAfterTest, FarFutureDateIsCutNotWrapped) {
  EXPECT_EQ(parseRetryAfter("Fri, 31 Dec 9999 23:59:59 GMT", Now),
            common::Duration(seconds(1'000'000'000)));
}

TEST(RetryAfterTest, Garbage) {
  for (const char* value : {
           "",
           "   ",
           "-1",
           "+5",
           "1.5",
           "5s",
           "abc",
           "0x10",
           "1 2",
           "Thu, 01 Jan 2026 00:02:00 UTC",        // must be GMT
           "Thu, 01 Jan 2026 00:02:00 gmt",        //
           "thu, 01 Jan 2026 00:02:00 GMT",        // names are case-sensitive
           "Thu, 01 jan 2026 00:02:00 GMT",        //
           "Thu, 1 Jan 2026 00:02:00 GMT",         // day must be two digits
           "Thu, 01 Jan 2026 0:02:00 GMT",         //
           "Thu, 01 Jan 2026 00:02:00 GMT extra",  //
           "Thu,  01 Jan 2026 00:02:00 GMT",       //
           "Xyz, 01 Jan 2026 00:02:00 GMT",        //
           "Thu, 01 Foo 2026 00:02:00 GMT",        //
           "Thu, 32 Jan 2026 00:02:00 GMT",        //
           "Thu, 00 Jan 2026 00:02:00 GMT",        //
           "Sun, 29 Feb 2026 00:00:00 GMT",        // 2026 is not a leap year
           "Thu, 01 Jan 2026 24:00:00 GMT",        //
           "Thu, 01 Jan 2026 00:60:00 GMT",        //
           "Thu, 01 Jan 2026 00:00:61 GMT",        //
           "Thu, 01 Jan 2O26 00:02:00 GMT",        // letter O
       }) {
    EXPECT_EQ(parseRetryAfter(value, Now), std::nullopt) << '"' << value << '"';
  }
}

TEST(RetryAfterTest, ImfFixdateCalendar) {
  using std::chrono::sys_days;
  using std::chrono::year;
  EXPECT_EQ(parseImfFixdate("Thu, 29 Feb 2024 00:00:00 GMT"),
            sys_days(year(2024) / 2 / 29) + seconds(0));
  EXPECT_EQ(parseImfFixdate("Wed, 31 Dec 2025 23:59:60 GMT"),  // a leap second
            sys_days(year(2026) / 1 / 1) + seconds(0));
  EXPECT_EQ(parseImfFixdate("Sun, 06 Nov 1994 08:49:37 GMT"),
            sys_days(year(1994) / 11 / 6) + std::chrono::hours(8) + std::chrono::minutes(49) +
                seconds(37));
  EXPECT_EQ(parseImfFixdate("Sat, 29 Feb 2025 00:00:00 GMT"), std::nullopt);
  EXPECT_EQ(parseImfFixdate("Mon, 31 Apr 2025 00:00:00 GMT"), std::nullopt);
}

// ---- idempotency and replayable bodies ----

http::RequestHeaders request(const std::string& method) {
  http::RequestHeaders r;
  r.method = method;
  r.path = "/api/orders";
  return r;
}

TEST(IdempotencyTest, SafeAndIdempotentMethods) {
  for (const char* m : {"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"}) {
    EXPECT_TRUE(isIdempotentMethod(m)) << m;
  }
  for (const char* m : {"POST", "PATCH", "CONNECT", "get", "Put", "", "PROPFIND"}) {
    EXPECT_FALSE(isIdempotentMethod(m)) << m;
  }
}

TEST(IdempotencyTest, NonIdempotentMethodNeedsAKeyHeader) {
  RetryConfig config;
  http::RequestHeaders post = request("POST");
  EXPECT_FALSE(isIdempotent(post, config));
  post.headers.add("idempotency-key", "8e03978e-40d5-43e8-bc93-6894a57f9324");
  EXPECT_TRUE(isIdempotent(post, config));

  http::RequestHeaders patch = request("PATCH");
  patch.headers.add("x-operation-id", "op-17");
  EXPECT_TRUE(isIdempotent(patch, config));

  EXPECT_TRUE(isIdempotent(request("GET"), config));
}

TEST(IdempotencyTest, BlankKeyDoesNotCount) {
  RetryConfig config;
  http::RequestHeaders post = request("POST");
  post.headers.add("idempotency-key", "");
  post.headers.add("x-operation-id", " \t ");
  EXPECT_FALSE(isIdempotent(post, config));
  // A later non-blank value of the same header does.
  post.headers.add("idempotency-key", "k1");
  EXPECT_TRUE(isIdempotent(post, config));
}

TEST(IdempotencyTest, ConfiguredHeadersOnly) {
  RetryConfig config;
  config.idempotency_headers = {"x-request-key"};
  http::RequestHeaders post = request("POST");
  post.headers.add("idempotency-key", "k1");
  EXPECT_FALSE(isIdempotent(post, config));
  post.headers.add("x-request-key", "k2");
  EXPECT_TRUE(isIdempotent(post, config));

  config.idempotency_headers.clear();
  EXPECT_FALSE(isIdempotent(post, config));
  EXPECT_TRUE(isIdempotent(request("PUT"), config));
}

TEST(ReplayTest, BodyFitsReplay) {
  RetryConfig config;  // 64KiB
  http::RequestHeaders r = request("POST");
  EXPECT_TRUE(bodyFitsReplay(r, config));  // no body
  r.content_length = 0;
  EXPECT_TRUE(bodyFitsReplay(r, config));
  r.content_length = 64 * 1024;
  EXPECT_TRUE(bodyFitsReplay(r, config));
  r.content_length = 64 * 1024 + 1;
  EXPECT_FALSE(bodyFitsReplay(r, config));
  r.content_length = -1;
  r.chunked = true;  // unknown until it arrives
  EXPECT_TRUE(bodyFitsReplay(r, config));
}

// ---- budget ----

RetryBudgetConfig budgetConfig(double percent, uint32_t min_retries) {
  RetryBudgetConfig c;
  c.percent = percent;
  c.min_retries = min_retries;
  return c;
}

TEST(RetryBudgetTest, LimitIsAShareOfActiveRequestsButNeverBelowTheMinimum) {
  RetryBudget budget(budgetConfig(20, 3));
  struct Case {
    int active;
    uint64_t limit;
  };
  int active = 0;
  for (const Case& c : {Case{0, 3}, Case{1, 3}, Case{10, 3}, Case{19, 3}, Case{20, 4}, Case{24, 4},
                        Case{25, 5}, Case{100, 20}, Case{1000, 200}}) {
    while (active < c.active) {
      budget.startRequest();
      ++active;
    }
    EXPECT_EQ(budget.limit(), c.limit) << c.active << " active";
  }
  while (active-- > 0) budget.endRequest();
  EXPECT_EQ(budget.activeRequests(), 0u);
  EXPECT_EQ(budget.limit(), 3u);
}

TEST(RetryBudgetTest, FractionalPercent) {
  RetryBudget budget(budgetConfig(12.5, 0));
  for (int i = 0; i < 8; ++i) budget.startRequest();
  EXPECT_EQ(budget.limit(), 1u);
  for (int i = 0; i < 7; ++i) budget.startRequest();
  EXPECT_EQ(budget.limit(), 1u);  // 15 * 12.5% = 1.875
  budget.startRequest();
  EXPECT_EQ(budget.limit(), 2u);
}

TEST(RetryBudgetTest, RetriesStopAtTheLimitAndResumeWhenOneEnds) {
  RetryBudget budget(budgetConfig(20, 2));
  for (int i = 0; i < 5; ++i) budget.startRequest();  // 20% of 5 = 1; minimum 2
  EXPECT_TRUE(budget.tryStartRetry());
  EXPECT_TRUE(budget.tryStartRetry());
  EXPECT_FALSE(budget.tryStartRetry());
  EXPECT_EQ(budget.activeRetries(), 2u);
  budget.endRetry();
  EXPECT_TRUE(budget.tryStartRetry());
  EXPECT_FALSE(budget.tryStartRetry());
  // More traffic, more room: 20% of 15 = 3.
  for (int i = 0; i < 10; ++i) budget.startRequest();
  EXPECT_TRUE(budget.tryStartRetry());
  EXPECT_FALSE(budget.tryStartRetry());
}

TEST(RetryBudgetTest, ZeroMinimumAndNoTrafficMeansNoRetry) {
  RetryBudget budget(budgetConfig(20, 0));
  EXPECT_FALSE(budget.tryStartRetry());
  RetryBudget everything(budgetConfig(100, 0));
  everything.startRequest();
  EXPECT_TRUE(everything.tryStartRetry());
  EXPECT_FALSE(everything.tryStartRetry());
}

// Two threads take and give back retry slots of a budget whose limit is one: never two
// retries in flight, and every count returns to zero.
TEST(RetryBudgetTest, TwoThreadHammer) {
  RetryBudget budget(budgetConfig(0, 1));
  std::atomic<int> holding{0};
  std::atomic<int> most{0};
  std::atomic<int> granted{0};
  auto work = [&] {
    for (int i = 0; i < 50000; ++i) {
      budget.startRequest();
      if (budget.tryStartRetry()) {
        const int now = holding.fetch_add(1) + 1;
        int seen = most.load();
        while (now > seen && !most.compare_exchange_weak(seen, now)) {
        }
        granted.fetch_add(1);
        holding.fetch_sub(1);
        budget.endRetry();
      }
      budget.endRequest();
    }
  };
  std::thread a(work);
  std::thread b(work);
  a.join();
  b.join();
  EXPECT_EQ(most.load(), 1);
  EXPECT_GT(granted.load(), 0);
  EXPECT_EQ(budget.activeRequests(), 0u);
  EXPECT_EQ(budget.activeRetries(), 0u);
}

// ---- RetryState ----

class RetryStateTest : public testing::Test {
 protected:
  RetryStateTest() { request_.method = "GET"; }

  std::unique_ptr<RetryState> make(common::Duration route_timeout = 15s,
                                   bool body_replayable = true, RetryCluster* cluster = nullptr) {
    return std::make_unique<RetryState>(config_, cluster, request_, body_replayable, start_,
                                        route_timeout);
  }

  RetryDecision fail(RetryState& s, AttemptOutcome outcome, int status = 0,
                     const http::ResponseHeaders* response = nullptr,
                     common::Duration elapsed = 0s) {
    return s.decide(outcome, status, response, start_ + elapsed, system_start_ + elapsed, random_);
  }

  static http::ResponseHeaders response(int status, const char* retry_after = nullptr) {
    http::ResponseHeaders r;
    r.status = status;
    if (retry_after != nullptr) r.headers.add("retry-after", retry_after);
    return r;
  }

  RetryConfig config_;
  http::RequestHeaders request_;
  common::MonotonicTime start_{seconds(5000)};
  common::SystemTime system_start_ = Now;
  common::SeededRandom random_{3};
};

TEST_F(RetryStateTest, DeadlineAndAttemptTimeouts) {
  config_.per_try_timeout = 5s;
  auto s = make();
  EXPECT_EQ(s->deadline(), start_ + 30s);
  EXPECT_EQ(s->attemptTimeout(start_), 5s);
  EXPECT_EQ(s->attemptTimeout(start_ + 25s), 5s);
  EXPECT_EQ(s->attemptTimeout(start_ + 27s), 3s);
  EXPECT_EQ(s->attemptTimeout(start_ + 30s), 0s);
  EXPECT_EQ(s->attemptTimeout(start_ + 31s), 0s);
}

TEST_F(RetryStateTest, WithoutPerTryTimeoutTheRouteTimeoutApplies) {
  auto s = make(15s);
  EXPECT_EQ(s->attemptTimeout(start_), 15s);
  EXPECT_EQ(s->attemptTimeout(start_ + 20s), 10s);
  auto unbounded = make(0s);  // the route sets none: only the deadline
  EXPECT_EQ(unbounded->attemptTimeout(start_), 30s);
  EXPECT_EQ(unbounded->attemptTimeout(start_ + 12s), 18s);
}

TEST_F(RetryStateTest, DefaultConditionsRetry) {
  for (AttemptOutcome outcome : {AttemptOutcome::ConnectFailure, AttemptOutcome::Reset}) {
    auto s = make();
    RetryDecision d = fail(*s, outcome);
    EXPECT_TRUE(d.retry);
    EXPECT_EQ(d.why_not, NoRetry::None);
  }
  for (int status : {502, 503, 504}) {
    auto s = make();
    http::ResponseHeaders r = response(status);
    RetryDecision d = fail(*s, AttemptOutcome::Response, status, &r);
    EXPECT_TRUE(d.retry) << status;
    EXPECT_EQ(d.reason, std::to_string(status));
  }
}

TEST_F(RetryStateTest, ReasonLabels) {
  auto s = make();
  EXPECT_EQ(fail(*s, AttemptOutcome::ConnectFailure).reason, "connect_failure");
  EXPECT_EQ(fail(*s, AttemptOutcome::Reset).reason, "reset");
  EXPECT_EQ(fail(*s, AttemptOutcome::Timeout).reason, "timeout");
  EXPECT_EQ(fail(*s, AttemptOutcome::Response, 429).reason, "429");
  EXPECT_EQ(fail(*s, AttemptOutcome::Response, 200).reason, "response");
}

TEST_F(RetryStateTest, OutcomesOutsideRetryOnAreFinal) {
  auto s = make();
  http::ResponseHeaders r500 = response(500);
  EXPECT_EQ(fail(*s, AttemptOutcome::Response, 500, &r500).why_not, NoRetry::NotRetriable);
  EXPECT_EQ(fail(*s, AttemptOutcome::Timeout).why_not, NoRetry::NotRetriable);
  EXPECT_EQ(fail(*s, AttemptOutcome::Response, 404).why_not, NoRetry::NotRetriable);
  EXPECT_EQ(s->retries(), 0u);

  config_.retry_reset = false;
  config_.retry_timeout = true;
  auto t = make();
  EXPECT_EQ(fail(*t, AttemptOutcome::Reset).why_not, NoRetry::NotRetriable);
  EXPECT_TRUE(fail(*t, AttemptOutcome::Timeout).retry);
}

TEST_F(RetryStateTest, BackoffGrowsPerRetryAndStopsAtMaxRetries) {
  auto s = make(0s);
  const common::Duration caps[] = {1s, 2s, 4s};
  common::Duration elapsed = 0s;
  for (uint32_t i = 0; i < 3; ++i) {
    RetryDecision d = fail(*s, AttemptOutcome::Reset, 0, nullptr, elapsed);
    ASSERT_TRUE(d.retry) << i;
    EXPECT_GE(d.delay, 0s);
    EXPECT_LE(d.delay, caps[i]);
    EXPECT_EQ(s->retries(), i + 1);
    elapsed += d.delay + 100ms;
  }
  RetryDecision d = fail(*s, AttemptOutcome::Reset, 0, nullptr, elapsed);
  EXPECT_FALSE(d.retry);
  EXPECT_EQ(d.why_not, NoRetry::MaxRetries);
}

TEST_F(RetryStateTest, ZeroMaxRetriesNeverRetries) {
  config_.max_retries = 0;
  auto s = make();
  EXPECT_EQ(fail(*s, AttemptOutcome::ConnectFailure).why_not, NoRetry::MaxRetries);
}

TEST_F(RetryStateTest, NextAttemptTimeoutIsClampedToTheDeadline) {
  config_.per_try_timeout = 5s;
  FixedRandom longest = longestBackoff();
  auto s = make();
  // 27s in, the first backoff (the whole 1s) leaves 2s.
  RetryDecision d =
      s->decide(AttemptOutcome::Reset, 0, nullptr, start_ + 27s, system_start_ + 27s, longest);
  ASSERT_TRUE(d.retry);
  EXPECT_EQ(d.delay, 1s);
  EXPECT_EQ(d.attempt_timeout, 2s);

  auto early = make();
  d = early->decide(AttemptOutcome::Reset, 0, nullptr, start_ + 3s, system_start_ + 3s, longest);
  ASSERT_TRUE(d.retry);
  EXPECT_EQ(d.attempt_timeout, 5s);
}

TEST_F(RetryStateTest, NoBackoffThatEndsAtOrPastTheDeadline) {
  FixedRandom longest = longestBackoff();
  FixedRandom shortest = shortestBackoff();
  auto s = make();
  // A 1s backoff from 29s ends exactly at the deadline: nothing left for an attempt.
  RetryDecision d =
      s->decide(AttemptOutcome::Reset, 0, nullptr, start_ + 29s, system_start_ + 29s, longest);
  EXPECT_FALSE(d.retry);
  EXPECT_EQ(d.why_not, NoRetry::Deadline);
  // Less than 1ms left is not an attempt either.
  d = s->decide(AttemptOutcome::Reset, 0, nullptr, start_ + 30s - 999us, system_start_ + 30s,
                shortest);
  EXPECT_EQ(d.why_not, NoRetry::Deadline);
  // 1ms is.
  d = s->decide(AttemptOutcome::Reset, 0, nullptr, start_ + 30s - 1ms, system_start_ + 30s,
                shortest);
  EXPECT_TRUE(d.retry);
  EXPECT_EQ(d.attempt_timeout, 1ms);
  EXPECT_EQ(s->retries(), 1u);
}

TEST_F(RetryStateTest, NonIdempotentRequestsAreRetriedOnlyWithAKey) {
  request_.method = "POST";
  auto s = make();
  EXPECT_EQ(fail(*s, AttemptOutcome::Reset).why_not, NoRetry::NotIdempotent);
  http::ResponseHeaders r = response(503);
  EXPECT_EQ(fail(*s, AttemptOutcome::Response, 503, &r).why_not, NoRetry::NotIdempotent);
  EXPECT_EQ(fail(*s, AttemptOutcome::Timeout).why_not, NoRetry::NotRetriable);

  request_.headers.add("idempotency-key", "abc");
  auto keyed = make();
  EXPECT_TRUE(fail(*keyed, AttemptOutcome::Reset).retry);
}

TEST_F(RetryStateTest, ConnectFailureIsRetriedWhateverTheMethod) {
  // Nothing reached the upstream: sending the request now is its first delivery.
  request_.method = "POST";
  auto s = make();
  EXPECT_TRUE(fail(*s, AttemptOutcome::ConnectFailure).retry);
}

TEST_F(RetryStateTest, BodyThatCannotBeReplayedIsNotRetried) {
  auto s = make(15s, /*body_replayable=*/false);
  EXPECT_EQ(fail(*s, AttemptOutcome::ConnectFailure).why_not, NoRetry::BodyNotReplayable);

  auto later = make();
  EXPECT_TRUE(fail(*later, AttemptOutcome::Reset).retry);
  later->markBodyNotReplayable();
  EXPECT_EQ(fail(*later, AttemptOutcome::Reset).why_not, NoRetry::BodyNotReplayable);
}

TEST_F(RetryStateTest, RetryAfterSetsAFloorUnderTheBackoff) {
  FixedRandom shortest = shortestBackoff();
  FixedRandom longest = longestBackoff();
  http::ResponseHeaders r = response(503, "5");
  auto s = make();
  RetryDecision d = s->decide(AttemptOutcome::Response, 503, &r, start_, system_start_, shortest);
  ASSERT_TRUE(d.retry);
  EXPECT_EQ(d.delay, 5s);

  // A backoff longer than Retry-After wins.
  http::ResponseHeaders soon = response(503, "0");
  d = s->decide(AttemptOutcome::Response, 503, &soon, start_ + 6s, system_start_ + 6s, longest);
  ASSERT_TRUE(d.retry);
  EXPECT_EQ(d.delay, 2s);
}

TEST_F(RetryStateTest, RetryAfterAsAnHttpDate) {
  FixedRandom shortest = shortestBackoff();
  http::ResponseHeaders r = response(503, "Thu, 01 Jan 2026 00:00:12 GMT");
  auto s = make();
  RetryDecision d =
      s->decide(AttemptOutcome::Response, 503, &r, start_ + 2s, system_start_ + 2s, shortest);
  ASSERT_TRUE(d.retry);
  EXPECT_EQ(d.delay, 10s);
  EXPECT_EQ(d.attempt_timeout, 15s);
}

TEST_F(RetryStateTest, RetryAfterBeyondTheCapOrTheDeadlineMeansNoRetry) {
  http::ResponseHeaders too_long = response(503, "31");
  auto s = make();
  EXPECT_EQ(fail(*s, AttemptOutcome::Response, 503, &too_long).why_not, NoRetry::RetryAfterTooLong);

  http::ResponseHeaders twenty = response(503, "20");
  EXPECT_EQ(fail(*s, AttemptOutcome::Response, 503, &twenty, 10s).why_not, NoRetry::Deadline);
  EXPECT_TRUE(fail(*s, AttemptOutcome::Response, 503, &twenty, 9s).retry);
}

TEST_F(RetryStateTest, RetryAfterIgnoredWhenNotHonouredOrUnreadable) {
  FixedRandom shortest = shortestBackoff();
  http::ResponseHeaders r = response(503, "20");
  config_.honor_retry_after = false;
  auto s = make();
  RetryDecision d = s->decide(AttemptOutcome::Response, 503, &r, start_, system_start_, shortest);
  ASSERT_TRUE(d.retry);
  EXPECT_EQ(d.delay, 0s);

  config_.honor_retry_after = true;
  http::ResponseHeaders garbage = response(503, "soon");
  auto t = make();
  d = t->decide(AttemptOutcome::Response, 503, &garbage, start_, system_start_, shortest);
  ASSERT_TRUE(d.retry);
  EXPECT_EQ(d.delay, 0s);

  // No headers given at all.
  auto u = make();
  EXPECT_TRUE(
      u->decide(AttemptOutcome::Response, 503, nullptr, start_, system_start_, shortest).retry);
}

TEST_F(RetryStateTest, RequestsAndRetriesCountInTheClusterBudget) {
  RetryCluster cluster("legacy", budgetConfig(0, 1), nullptr);
  {
    auto a = make(15s, true, &cluster);
    auto b = make(15s, true, &cluster);
    EXPECT_EQ(cluster.budget.activeRequests(), 2u);

    EXPECT_TRUE(fail(*a, AttemptOutcome::Reset).retry);
    EXPECT_EQ(cluster.budget.activeRetries(), 1u);
    RetryDecision d = fail(*b, AttemptOutcome::Reset);
    EXPECT_FALSE(d.retry);
    EXPECT_EQ(d.why_not, NoRetry::BudgetExhausted);
    EXPECT_EQ(b->retries(), 0u);

    // a's retry attempt failed as well: its slot is free again whatever a does next.
    EXPECT_EQ(fail(*a, AttemptOutcome::Response, 500).why_not, NoRetry::NotRetriable);
    EXPECT_EQ(cluster.budget.activeRetries(), 0u);
    EXPECT_TRUE(fail(*b, AttemptOutcome::Reset).retry);
    EXPECT_EQ(cluster.budget.activeRetries(), 1u);
  }
  // Destroyed mid-retry: everything is given back.
  EXPECT_EQ(cluster.budget.activeRequests(), 0u);
  EXPECT_EQ(cluster.budget.activeRetries(), 0u);
}

TEST_F(RetryStateTest, RefusalsForOtherReasonsDoNotTouchTheBudget) {
  prometheus::Registry registry;
  RetryMetrics metrics(registry);
  RetryCluster cluster("legacy", budgetConfig(0, 0), &metrics);
  request_.method = "POST";
  auto s = make(15s, true, &cluster);
  EXPECT_EQ(fail(*s, AttemptOutcome::Reset).why_not, NoRetry::NotIdempotent);
  EXPECT_EQ(
      metricValue(registry, "switchyard_retry_budget_exhausted_total", {{"cluster", "legacy"}}), 0);
  EXPECT_EQ(fail(*s, AttemptOutcome::ConnectFailure).why_not, NoRetry::BudgetExhausted);
  EXPECT_EQ(
      metricValue(registry, "switchyard_retry_budget_exhausted_total", {{"cluster", "legacy"}}), 1);
}

TEST_F(RetryStateTest, RetriesAreCountedByReason) {
  prometheus::Registry registry;
  RetryMetrics metrics(registry);
  RetryCluster cluster("modern", budgetConfig(20, 100), &metrics);
  config_.max_retries = 10;
  config_.retry_timeout = true;
  config_.retriable_status.set(429);
  auto s = make(0s, true, &cluster);
  http::ResponseHeaders r503 = response(503);
  http::ResponseHeaders r429 = response(429);
  ASSERT_TRUE(fail(*s, AttemptOutcome::ConnectFailure).retry);
  ASSERT_TRUE(fail(*s, AttemptOutcome::Reset).retry);
  ASSERT_TRUE(fail(*s, AttemptOutcome::Timeout).retry);
  ASSERT_TRUE(fail(*s, AttemptOutcome::Response, 503, &r503).retry);
  ASSERT_TRUE(fail(*s, AttemptOutcome::Response, 503, &r503).retry);
  ASSERT_TRUE(fail(*s, AttemptOutcome::Response, 429, &r429).retry);
  EXPECT_FALSE(fail(*s, AttemptOutcome::Response, 500).retry);

  auto value = [&](const char* reason) {
    return metricValue(registry, "switchyard_retries_total",
                       {{"cluster", "modern"}, {"reason", reason}});
  };
  EXPECT_EQ(value("connect_failure"), 1);
  EXPECT_EQ(value("reset"), 1);
  EXPECT_EQ(value("timeout"), 1);
  EXPECT_EQ(value("503"), 2);
  EXPECT_EQ(value("429"), 1);
  EXPECT_EQ(value("500"), std::nullopt);  // no retry, no series
}

// ---- configuration ----

class RetryConfigTest : public testing::Test {
 protected:
  static constexpr const char* Path = "filters[3].retry";

  static RetryConfig parse(const std::string& yaml) {
    YAML::Node root = YAML::Load(yaml);
    return parseRetryConfig(root["retry"], Path);
  }

  static config::ConfigError parseError(const std::string& yaml) {
    return test::configErrorOf([&] { parse(yaml); }, yaml);
  }

  static void expectError(const std::string& yaml, const std::string& key, int line,
                          const std::string& message_part) {
    test::expectConfigError(parseError(yaml), std::string(Path) + "." + key, line, message_part,
                            yaml);
  }
};

void expectDefaults(const RetryConfig& c) {
  EXPECT_EQ(c.max_retries, 3u);
  EXPECT_EQ(c.base_interval, 1s);
  EXPECT_EQ(c.max_interval, 30s);
  EXPECT_EQ(c.backoff_factor, 2.0);
  EXPECT_FALSE(c.per_try_timeout.has_value());
  EXPECT_EQ(c.timeout, 30s);
  EXPECT_TRUE(c.retry_connect_failure);
  EXPECT_TRUE(c.retry_reset);
  EXPECT_FALSE(c.retry_timeout);
  EXPECT_EQ(c.retryOnNames(),
            (std::vector<std::string>{"connect-failure", "reset", "502", "503", "504"}));
  EXPECT_EQ(c.idempotency_headers, (std::vector<std::string>{"idempotency-key", "x-operation-id"}));
  EXPECT_EQ(c.max_replay_body_bytes, 65536u);
  EXPECT_EQ(c.budget.percent, 20.0);
  EXPECT_EQ(c.budget.min_retries, 3u);
  EXPECT_TRUE(c.honor_retry_after);
  EXPECT_EQ(c.max_retry_after, 30s);
}

TEST_F(RetryConfigTest, NullOrEmptyMeansDefaults) {
  expectDefaults(parse("retry:"));
  expectDefaults(parse("retry: {}"));
  expectDefaults(RetryConfig());
}

TEST_F(RetryConfigTest, EveryKey) {
  RetryConfig c = parse(R"(
retry:
  max_retries: 5
  base_interval: 250ms
  max_interval: 10s
  backoff_factor: 1.5
  per_try_timeout: 2s
  timeout: 20s
  retry_on: [connect-failure, timeout, 503, "429"]
  idempotency_headers: [X-Request-Key, Idempotency-Key]
  max_replay_body_bytes: 1MiB
  budget: {percent: 10, min_retries: 1}
  honor_retry_after: false
  max_retry_after: 5s
)");
  EXPECT_EQ(c.max_retries, 5u);
  EXPECT_EQ(c.base_interval, 250ms);
  EXPECT_EQ(c.max_interval, 10s);
  EXPECT_EQ(c.backoff_factor, 1.5);
  EXPECT_EQ(c.per_try_timeout, std::optional<milliseconds>(2s));
  EXPECT_EQ(c.timeout, 20s);
  EXPECT_TRUE(c.retry_connect_failure);
  EXPECT_FALSE(c.retry_reset);
  EXPECT_TRUE(c.retry_timeout);
  EXPECT_TRUE(c.retriableStatus(503));
  EXPECT_TRUE(c.retriableStatus(429));
  EXPECT_FALSE(c.retriableStatus(502));
  EXPECT_EQ(c.retryOnNames(),
            (std::vector<std::string>{"connect-failure", "timeout", "429", "503"}));
  EXPECT_EQ(c.idempotency_headers, (std::vector<std::string>{"x-request-key", "idempotency-key"}));
  EXPECT_EQ(c.max_replay_body_bytes, 1024u * 1024);
  EXPECT_EQ(c.budget.percent, 10.0);
  EXPECT_EQ(c.budget.min_retries, 1u);
  EXPECT_FALSE(c.honor_retry_after);
  EXPECT_EQ(c.max_retry_after, 5s);
}

TEST_F(RetryConfigTest, MultiplierIsAnAlias) {
  EXPECT_EQ(parse("retry: {multiplier: 3}").backoff_factor, 3.0);
  expectError("retry:\n  backoff_factor: 2\n  multiplier: 3\n", "multiplier", 3, "set only one");
}

TEST_F(RetryConfigTest, RetryOnClassesAndEmpty) {
  RetryConfig c = parse("retry: {retry_on: [5xx, reset]}");
  for (int code = 500; code <= 599; ++code) EXPECT_TRUE(c.retriableStatus(code)) << code;
  EXPECT_FALSE(c.retriableStatus(499));
  EXPECT_EQ(c.retryOnNames(), (std::vector<std::string>{"reset", "5xx"}));

  RetryConfig none = parse("retry: {retry_on: []}");
  EXPECT_FALSE(none.retry_connect_failure);
  EXPECT_FALSE(none.retry_reset);
  EXPECT_TRUE(none.retryOnNames().empty());
  EXPECT_FALSE(none.retriableStatus(503));
}

TEST_F(RetryConfigTest, RetryOnErrors) {
  expectError("retry:\n  retry_on: [reset, gateway-error]\n", "retry_on[1]", 2,
              "unknown retry condition \"gateway-error\" (expected connect-failure, reset, "
              "timeout, 5xx or a status code 400-599)");
  expectError("retry:\n  retry_on: [302]\n", "retry_on[0]", 2, "between 400 and 599");
  expectError("retry:\n  retry_on: [600]\n", "retry_on[0]", 2, "between 400 and 599");
  expectError("retry:\n  retry_on: reset\n", "retry_on", 2, "expected a sequence");
  expectError("retry:\n  retry_on: [[503]]\n", "retry_on[0]", 2, "expected a string");
}

TEST_F(RetryConfigTest, IntervalsAndTimeouts) {
  expectError("retry:\n  base_interval: 0s\n", "base_interval", 2, "must be greater than 0s");
  expectError("retry:\n  base_interval: 1\n", "base_interval", 2, "expected a duration");
  expectError("retry:\n  max_interval: 500ms\n", "max_interval", 2,
              "max_interval must not be shorter than base_interval");
  expectError("retry:\n  base_interval: 1m\n", "base_interval", 2,
              "max_interval must not be shorter than base_interval");
  expectError("retry:\n  base_interval: 2s\n  max_interval: 1s\n", "max_interval", 3,
              "must not be shorter");
  expectError("retry:\n  per_try_timeout: 31s\n", "per_try_timeout", 2,
              "must not be longer than timeout");
  expectError("retry:\n  timeout: 5s\n  per_try_timeout: 6s\n", "per_try_timeout", 3,
              "must not be longer than timeout");
  expectError("retry:\n  timeout: 0s\n", "timeout", 2, "must be greater than 0s");
  expectError("retry:\n  max_retry_after: 0s\n", "max_retry_after", 2, "greater than 0s");
  EXPECT_EQ(parse("retry: {base_interval: 1s, max_interval: 1s}").max_interval, 1s);
}

TEST_F(RetryConfigTest, NumbersOutOfRange) {
  expectError("retry:\n  max_retries: -1\n", "max_retries", 2, "between 0 and 100");
  expectError("retry:\n  max_retries: 101\n", "max_retries", 2, "between 0 and 100");
  expectError("retry:\n  backoff_factor: 0.5\n", "backoff_factor", 2, "between 1 and 100");
  expectError("retry:\n  budget: {percent: 150}\n", "budget.percent", 2, "between 0 and 100");
  expectError("retry:\n  budget: {min_retries: x}\n", "budget.min_retries", 2, "integer");
  expectError("retry:\n  max_replay_body_bytes: 17MiB\n", "max_replay_body_bytes", 2,
              "at most 16MiB");
  expectError("retry:\n  max_replay_body_bytes: lots\n", "max_replay_body_bytes", 2,
              "expected a size");
  expectError("retry:\n  honor_retry_after: yes\n", "honor_retry_after", 2, "boolean");
}

TEST_F(RetryConfigTest, IdempotencyHeaders) {
  EXPECT_TRUE(parse("retry: {idempotency_headers: []}").idempotency_headers.empty());
  EXPECT_EQ(parse("retry: {idempotency_headers: [X-A, x-a, X-B]}").idempotency_headers,
            (std::vector<std::string>{"x-a", "x-b"}));
  expectError("retry:\n  idempotency_headers: [ok, 'not ok']\n", "idempotency_headers[1]", 2,
              "invalid header name \"not ok\"");
  expectError("retry:\n  idempotency_headers: Idempotency-Key\n", "idempotency_headers", 2,
              "expected a sequence");
}

TEST_F(RetryConfigTest, UnknownKeys) {
  expectError("retry:\n  max_retries: 2\n  retries: 3\n", "retries", 3, "unknown key \"retries\"");
  expectError("retry:\n  budget:\n    percent: 5\n    minimum: 1\n", "budget.minimum", 4,
              "unknown key \"minimum\"");
  config::ConfigError e = parseError("retry: [max_retries]");
  EXPECT_EQ(e.path(), Path);
  EXPECT_EQ(e.line(), 1);
}

// ---- factory ----

TEST(RetryFactoryTest, RegisteredAsARetryPolicyWithoutAStreamFilter) {
  FilterRegistry registry;
  registerBuiltinFilters(registry);
  const FilterRegistration* registration = registry.find("retry");
  ASSERT_NE(registration, nullptr);
  EXPECT_FALSE(registration->stream_filter);
  EXPECT_EQ(registration->policies, std::vector<PolicyKind>{PolicyKind::Retry});

  prometheus::Registry metrics;
  common::SimulatedTimeSource time;
  BuildContext ctx{"filters[0].retry", metrics, time};
  YAML::Node root = YAML::Load("retry: {max_retries: 2}");
  FilterFactoryPtr factory = registration->build(root["retry"], ctx);
  ASSERT_NE(factory, nullptr);
  const auto& retry = static_cast<const RetryFilterFactory&>(*factory);
  EXPECT_EQ(retry.config().max_retries, 2u);
  test::FakeFilterCallbacks callbacks;
  EXPECT_EQ(factory->create(callbacks.workerContext(), nullptr), nullptr);

  // Errors carry the filter's path.
  YAML::Node bad = YAML::Load("retry: {max_retries: 1000}");
  try {
    registration->build(bad["retry"], ctx);
    ADD_FAILURE() << "no error";
  } catch (const config::ConfigError& e) {
    EXPECT_EQ(e.path(), "filters[0].retry.max_retries");
  }
}

using test::activate;
using test::clustersConfig;

TEST(RetryFactoryTest, ClusterStateIsClaimedOnceAndOutlivesTheFactory) {
  prometheus::Registry metrics;
  upstream::RuntimeStateRegistry state;
  RetryConfig config;
  config.budget.min_retries = 5;
  auto factory = std::make_unique<RetryFilterFactory>(config, &metrics);
  EXPECT_EQ(factory->clusterFor("legacy"), nullptr);
  activate(*factory, clustersConfig({"legacy", "modern"}), state);
  RetryCluster* a = factory->clusterFor("legacy");
  ASSERT_NE(a, nullptr);
  EXPECT_NE(factory->clusterFor("modern"), a);
  a->budget.startRequest();
  nlohmann::json out = nlohmann::json::object();
  ClusterView view{out};
  factory->describeCluster("legacy", view);
  EXPECT_EQ(out["retry_budget"], nlohmann::json::parse(
                                     R"({"active_requests": 1, "active_retries": 0,
                                         "retry_limit": 5})"));
  // Counters exist (at zero) from the moment the cluster is known.
  EXPECT_EQ(metricValue(metrics, "switchyard_retries_total",
                        {{"cluster", "modern"}, {"reason", "reset"}}),
            0);
  EXPECT_EQ(
      metricValue(metrics, "switchyard_retry_budget_exhausted_total", {{"cluster", "modern"}}), 0);

  // A reloaded configuration takes the same budget (the request in flight still counts) with
  // its new settings.
  config.budget.min_retries = 1;
  RetryFilterFactory again(config, &metrics);
  activate(again, clustersConfig({"legacy"}), state);
  EXPECT_EQ(again.clusterFor("legacy"), a);
  EXPECT_EQ(a->budget.activeRequests(), 1u);
  EXPECT_EQ(a->budget.limit(), 1u);
  a->budget.endRequest();
  factory.reset();
  EXPECT_EQ(state.collect(), 1u);  // modern
}

TEST(RetryFactoryTest, PoliciesPerRouteAndVersion) {
  upstream::RuntimeStateRegistry state;
  RetryConfig config;
  config.max_retries = 2;
  RetryFilterFactory factory(config, nullptr);
  activate(factory, clustersConfig({"legacy", "modern"}), state);

  // A route's block refines the filter's configuration; a version's block refines the route's.
  RouteFilterConfigPtr route = factory.parseRouteConfig(
      YAML::Load("{max_retries: 5, per_try_timeout: 2s}"), "routes[0].filters.retry", nullptr);
  RouteFilterConfigPtr version =
      factory.parseRouteConfig(YAML::Load("{retry_on: [connect-failure]}"),
                               "routes[0].versions.v2.filters.retry", route.get());
  const RetryConfig& r = static_cast<const RetryRouteConfig&>(*route).config();
  EXPECT_EQ(r.max_retries, 5u);
  EXPECT_EQ(r.per_try_timeout, 2000ms);
  EXPECT_TRUE(r.retriableStatus(503));
  const RetryConfig& v = static_cast<const RetryRouteConfig&>(*version).config();
  EXPECT_EQ(v.max_retries, 5u);
  EXPECT_EQ(v.per_try_timeout, 2000ms);
  EXPECT_FALSE(v.retriableStatus(503));
  EXPECT_TRUE(v.retry_connect_failure);
  EXPECT_FALSE(v.retry_reset);

  router::UpstreamPolicy plain;
  factory.contributePolicy({"other", "", "legacy", nullptr}, plain);
  router::UpstreamPolicy routed;
  factory.contributePolicy({"api", "v1", "legacy", route.get()}, routed);
  router::UpstreamPolicy routed_again;
  factory.contributePolicy({"api", "v3", "legacy", route.get()}, routed_again);
  router::UpstreamPolicy other_cluster;
  factory.contributePolicy({"api", "v1", "modern", route.get()}, other_cluster);
  ASSERT_NE(plain.retry, nullptr);
  ASSERT_NE(routed.retry, nullptr);
  EXPECT_NE(plain.retry, routed.retry);
  EXPECT_EQ(routed.retry, routed_again.retry);  // one policy per (configuration, cluster)
  EXPECT_NE(routed.retry, other_cluster.retry);
  EXPECT_EQ(static_cast<const RetryPolicyImpl*>(plain.retry)->config().max_retries, 2u);
  EXPECT_EQ(static_cast<const RetryPolicyImpl*>(routed.retry)->config().max_retries, 5u);
  EXPECT_EQ(static_cast<const RetryPolicyImpl*>(routed.retry)->cluster(),
            factory.clusterFor("legacy"));

  // A route that turns retries off gets no policy at all.
  RouteFilterConfigPtr off =
      factory.parseRouteConfig(YAML::Load("{max_retries: 0}"), "routes[1].filters.retry", nullptr);
  router::UpstreamPolicy none;
  factory.contributePolicy({"health", "", "legacy", off.get()}, none);
  EXPECT_EQ(none.retry, nullptr);

  // A request's state from a policy: the per-try timeout of the route's block.
  http::RequestHeaders request;
  request.method = "GET";
  common::SimulatedTimeSource time;
  router::RetryStateStorage storage;
  router::RetryStatePtr s =
      routed.retry->newRetryState(request, time.monotonicNow(), std::chrono::seconds(15), storage);
  EXPECT_EQ(s->attemptTimeout(time.monotonicNow()), 2s);
  EXPECT_TRUE(s->bodyReplayable());
  EXPECT_TRUE(s->retriableStatus(502));
  EXPECT_EQ(factory.clusterFor("legacy")->budget.activeRequests(), 1u);
  s.reset();
  EXPECT_EQ(factory.clusterFor("legacy")->budget.activeRequests(), 0u);

  // The budget is per cluster, not per route.
  try {
    factory.parseRouteConfig(YAML::Load("{budget: {percent: 50}}"), "routes[0].filters.retry",
                             nullptr);
    ADD_FAILURE() << "no error";
  } catch (const config::ConfigError& e) {
    EXPECT_EQ(e.path(), "routes[0].filters.retry.budget");
    EXPECT_NE(std::string(e.what()).find("per cluster"), std::string::npos) << e.what();
  }
  EXPECT_EQ(route->toJson()["max_retries"], 5);
}

TEST(RetryFactoryTest, ToJson) {
  RetryConfig config;
  config.per_try_timeout = 1500ms;
  config.max_interval = 90s;
  RetryFilterFactory factory(config, nullptr);
  EXPECT_EQ(factory.toJson(), nlohmann::json::parse(R"({
    "max_retries": 3, "base_interval": "1s", "max_interval": "1m30s", "backoff_factor": 2.0,
    "per_try_timeout": "1500ms", "timeout": "30s",
    "retry_on": ["connect-failure", "reset", "502", "503", "504"],
    "idempotency_headers": ["idempotency-key", "x-operation-id"],
    "max_replay_body_bytes": 65536, "budget": {"percent": 20.0, "min_retries": 3},
    "honor_retry_after": true, "max_retry_after": "30s"})"));
}

TEST(RetryFactoryTest, DumpedConfigurationParsesBackTheSame) {
  RetryConfig config = parseRetryConfig(
      YAML::Load("{retry_on: [reset, 5xx, 429], per_try_timeout: 2s, multiplier: 3}"), "retry");
  RetryFilterFactory factory(config, nullptr);
  const nlohmann::json dumped = factory.toJson();
  RetryConfig again = parseRetryConfig(YAML::Load(dumped.dump()), "retry");
  EXPECT_EQ(RetryFilterFactory(again, nullptr).toJson(), dumped);
}

}  // namespace
}  // namespace switchyard::filters::retry
