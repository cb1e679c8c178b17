#include "filters/rate_limit/gcra.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/common/random.h"
#include "tests/support/process.h"

namespace switchyard::filters::rate_limit {
namespace {

constexpr int64_t Ms = 1'000'000;
constexpr int64_t S = 1'000 * Ms;
// An arbitrary monotonic start time.
constexpr int64_t T0 = 1'000 * S;

// One key's state, kept the way a store keeps it: the TAT is written only when allowed.
struct Key {
  GcraParams params;
  int64_t tat = 0;

  GcraDecision send(int64_t now, int64_t cost = 1) {
    GcraDecision decision = gcraDecide(tat, now, params, cost);
    if (decision.allowed) tat = decision.tat;
    return decision;
  }
};

TEST(GcraParamsTest, EmissionIntervalAndTolerance) {
  GcraParams p = GcraParams::make(10, S);
  EXPECT_EQ(p.limit, 10);
  EXPECT_EQ(p.window_ns, S);
  EXPECT_EQ(p.burst, 10);
  EXPECT_EQ(p.emission_interval_ns, 100 * Ms);
  EXPECT_EQ(p.tolerance_ns, S);

  p = GcraParams::make(10, S, 3);
  EXPECT_EQ(p.burst, 3);
  EXPECT_EQ(p.emission_interval_ns, 100 * Ms);
  EXPECT_EQ(p.tolerance_ns, 300 * Ms);
}

TEST(GcraParamsTest, WindowsThatDoNotDivideRoundTheIntervalUp) {
  GcraParams p = GcraParams::make(3, S);
  EXPECT_EQ(p.emission_interval_ns, 333'333'334);
  EXPECT_EQ(p.tolerance_ns, 3 * 333'333'334);  // a whole number of intervals

  // More requests than nanoseconds in the window: one per nanosecond at most.
  p = GcraParams::make(1000, 10);
  EXPECT_EQ(p.emission_interval_ns, 1);
  EXPECT_EQ(p.tolerance_ns, 1000);
}

TEST(GcraParamsTest, RefusesNonsense) {
  EXPECT_THROW(GcraParams::make(0, S), std::invalid_argument);
  EXPECT_THROW(GcraParams::make(-1, S), std::invalid_argument);
  EXPECT_THROW(GcraParams::make(1, 0), std::invalid_argument);
  EXPECT_THROW(GcraParams::make(1, -S), std::invalid_argument);
  EXPECT_THROW(GcraParams::make(1, S, 0), std::invalid_argument);
  // A tolerance beyond 100 years.
  EXPECT_THROW(GcraParams::make(1, GcraParams::MaxToleranceNs + 1), std::invalid_argument);
  EXPECT_THROW(GcraParams::make(1, 3600 * S, 1'000'000), std::invalid_argument);
  EXPECT_NO_THROW(GcraParams::make(1, GcraParams::MaxToleranceNs));
  try {
    GcraParams::make(10, S, 0);
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "burst must be at least 1, not 0");
  }
}

TEST(GcraTest, LimitBackToBackThenDeniedForOneInterval) {
  Key key{GcraParams::make(10, S)};
  for (int i = 0; i < 10; ++i) {
    GcraDecision d = key.send(T0);
    ASSERT_TRUE(d.allowed) << i;
    EXPECT_EQ(d.remaining, 9 - i);
    EXPECT_EQ(d.retry_after_ns, 0);
  }
  const int64_t tat = key.tat;
  EXPECT_EQ(tat, T0 + S);
  GcraDecision denied = key.send(T0);
  EXPECT_FALSE(denied.allowed);
  EXPECT_EQ(denied.retry_after_ns, 100 * Ms);
  EXPECT_EQ(denied.reset_ns, 100 * Ms);
  EXPECT_EQ(denied.remaining, 0);
  EXPECT_EQ(denied.tat, tat);  // the state to keep is the one passed in
  EXPECT_EQ(retryAfterSeconds(denied.retry_after_ns), 1);
  EXPECT_EQ(ceilSeconds(denied.reset_ns), 1);

  // Exactly at the retry time it is admitted, a nanosecond earlier it is not.
  EXPECT_FALSE(key.send(T0 + 100 * Ms - 1).allowed);
  EXPECT_EQ(key.tat, tat);
  EXPECT_TRUE(key.send(T0 + 100 * Ms).allowed);
}

TEST(GcraTest, RetryAfterIsRoundedUpToWholeSeconds) {
  // 4 per 10 s: T = 2.5 s.
  Key key{GcraParams::make(4, 10 * S)};
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(key.send(T0).allowed);
  GcraDecision denied = key.send(T0);
  EXPECT_EQ(denied.retry_after_ns, 2500 * Ms);
  EXPECT_EQ(retryAfterSeconds(denied.retry_after_ns), 3);
  denied = key.send(T0 + 2 * S);
  EXPECT_EQ(denied.retry_after_ns, 500 * Ms);
  EXPECT_EQ(retryAfterSeconds(denied.retry_after_ns), 1);
}

TEST(GcraTest, CeilSecondsAndRetryAfterSeconds) {
  EXPECT_EQ(ceilSeconds(-5), 0);
  EXPECT_EQ(ceilSeconds(0), 0);
  EXPECT_EQ(ceilSeconds(1), 1);
  EXPECT_EQ(ceilSeconds(S), 1);
  EXPECT_EQ(ceilSeconds(S + 1), 2);
  EXPECT_EQ(ceilSeconds(60 * S), 60);
  EXPECT_EQ(ceilSeconds(std::numeric_limits<int64_t>::max()), 9'223'372'037);
  EXPECT_EQ(retryAfterSeconds(-1), 1);
  EXPECT_EQ(retryAfterSeconds(0), 1);
  EXPECT_EQ(retryAfterSeconds(1), 1);
  EXPECT_EQ(retryAfterSeconds(S), 1);
  EXPECT_EQ(retryAfterSeconds(S + 1), 2);
}

TEST(GcraTest, SteadyRateIsAdmittedForever) {
  const GcraParams params = GcraParams::make(10, S);
  const int64_t t = params.emission_interval_ns;
  // From a full bucket: one request per T never dips into the burst.
  Key full{params};
  for (int i = 0; i < 10'000; ++i) {
    GcraDecision d = full.send(T0 + i * t);
    ASSERT_TRUE(d.allowed) << i;
    ASSERT_EQ(d.remaining, 9) << i;
  }
  // From an empty bucket: one request per T is still admitted, with nothing to spare.
  Key empty{params};
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(empty.send(T0).allowed);
  for (int i = 1; i <= 10'000; ++i) {
    ASSERT_FALSE(empty.send(T0 + i * t - 1).allowed) << i;
    GcraDecision d = empty.send(T0 + i * t);
    ASSERT_TRUE(d.allowed) << i;
    ASSERT_EQ(d.remaining, 0) << i;
  }
}

TEST(GcraTest, OverloadAdmitsBurstPlusRateAndRecoversOnTime) {
  const GcraParams params = GcraParams::make(10, S);  // T = 100 ms, burst 10
  Key key{params};
  // 10x the rate (one request per 10 ms) for 10 s, both ends included.
  int admitted = 0;
  GcraDecision last;
  int64_t now = T0;
  for (; now <= T0 + 10 * S; now += 10 * Ms) {
    last = key.send(now);
    admitted += last.allowed ? 1 : 0;
  }
  // burst + 10 s / T; had the 891 denied requests counted, the client would be locked out.
  EXPECT_EQ(admitted, 10 + 100);
  EXPECT_EQ(key.tat, T0 + 110 * params.emission_interval_ns);
  ASSERT_TRUE(last.allowed);  // the one at exactly T0 + 10 s
  EXPECT_EQ(last.remaining, 0);

  // Back to a polite client: the next request fits at 10.1 s, as a denial just before says.
  GcraDecision denied = key.send(T0 + 10 * S + 50 * Ms);
  ASSERT_FALSE(denied.allowed);
  EXPECT_EQ(denied.retry_after_ns, 50 * Ms);
  EXPECT_FALSE(key.send(T0 + 10 * S + 100 * Ms - 1).allowed);
  EXPECT_TRUE(key.send(T0 + 10 * S + 100 * Ms).allowed);
  // And a full burst is back once the TAT is reached.
  const int64_t full_again = key.tat;
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(key.send(full_again).allowed) << i;
  EXPECT_FALSE(key.send(full_again).allowed);
}

// In any closed interval of length L, GCRA admits at most burst + floor(L / T): a client that
// sends `limit` just before a fixed-window boundary and `limit` just after (2 * limit for a
// fixed-window counter) gets only the burst plus what the gap between them refills.
TEST(GcraTest, NoDoubleBurstAcrossAnyWindowBoundary) {
  const GcraParams params = GcraParams::make(100, 60 * S);  // T = 600 ms
  const int64_t t = params.emission_interval_ns;
  common::SeededRandom random(7);
  for (int trial = 0; trial < 200; ++trial) {
    // The boundary at an arbitrary offset, after arbitrary earlier use of the bucket.
    const int64_t boundary = T0 + 60 * S + static_cast<int64_t>(random.uniform(60 * S));
    const int64_t gap = static_cast<int64_t>(random.uniform(10 * S)) + 1;  // both sides
    Key key{params};
    const int64_t earlier = static_cast<int64_t>(random.uniform(150));
    for (int64_t i = 0; i < earlier; ++i) key.send(boundary - gap - 60 * S + i * 400 * Ms);
    int before = 0;
    int after = 0;
    for (int i = 0; i < 100; ++i) before += key.send(boundary - gap).allowed ? 1 : 0;
    for (int i = 0; i < 100; ++i) after += key.send(boundary + gap).allowed ? 1 : 0;
    ASSERT_LE(before + after, params.burst + 2 * gap / t)
        << "trial " << trial << " gap " << gap << " earlier " << earlier;
    ASSERT_LE(after, 1 + 2 * gap / t) << "trial " << trial;
  }
}

TEST(GcraTest, NoIntervalAdmitsMoreThanBurstPlusRefill) {
  // A bursty client: random gaps from 0 to 3 T, at random offsets. For every admitted request,
  // count the admissions in the L that follows it (the worst-placed intervals start at one).
  for (int64_t burst : {1, 5, 20, 60}) {
    const GcraParams params = GcraParams::make(20, 10 * S, burst);  // T = 500 ms
    const int64_t t = params.emission_interval_ns;
    common::SeededRandom random(static_cast<uint64_t>(burst));
    Key key{params};
    std::vector<int64_t> admitted;
    int64_t now = T0;
    for (int i = 0; i < 5000; ++i) {
      now += static_cast<int64_t>(random.uniform(static_cast<uint64_t>(3 * t)));
      if (key.send(now).allowed) admitted.push_back(now);
    }
    for (int64_t length : {int64_t{0}, t / 2, t, 7 * t / 3, 10 * S, 60 * S}) {
      const int64_t bound = burst + length / t;
      size_t end = 0;
      for (size_t start = 0; start < admitted.size(); ++start) {
        end = std::max(end, start);
        while (end < admitted.size() && admitted[end] <= admitted[start] + length) ++end;
        ASSERT_LE(static_cast<int64_t>(end - start), bound)
            << "burst " << burst << " length " << length << " from " << admitted[start];
      }
    }
  }
}

TEST(GcraTest, RemainingAndResetAtSeveralPoints) {
  const GcraParams params = GcraParams::make(10, 10 * S);  // T = 1 s, DVT = 10 s
  Key key{params};
  GcraDecision d = key.send(T0);
  EXPECT_EQ(d.remaining, 9);
  EXPECT_EQ(d.reset_ns, S);  // the request just taken comes back in T
  EXPECT_EQ(ceilSeconds(d.reset_ns), 1);
  key.send(T0);
  d = key.send(T0);
  EXPECT_EQ(d.remaining, 7);
  EXPECT_EQ(d.reset_ns, S);
  EXPECT_EQ(key.tat, T0 + 3 * S);

  // Half an interval later: TAT T0 + 4 s, 3.5 s ahead of now; 6.5 s of room is 6 whole requests,
  // and the 7th comes back when the TAT is 3 s ahead, in 0.5 s.
  d = key.send(T0 + 500 * Ms);
  EXPECT_EQ(d.remaining, 6);
  EXPECT_EQ(d.reset_ns, 500 * Ms);
  EXPECT_EQ(ceilSeconds(d.reset_ns), 1);

  // Drain: the last one leaves nothing, and one more comes back in 0.5 s.
  for (int i = 0; i < 6; ++i) d = key.send(T0 + 500 * Ms);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.remaining, 0);
  EXPECT_EQ(d.reset_ns, 500 * Ms);
  d = key.send(T0 + 500 * Ms);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.remaining, 0);
  EXPECT_EQ(d.retry_after_ns, 500 * Ms);
  EXPECT_EQ(d.reset_ns, d.retry_after_ns);

  // Long idle: the bucket is full again whatever the stored TAT was.
  d = key.send(T0 + 3600 * S);
  EXPECT_EQ(d.remaining, 9);
  EXPECT_EQ(d.reset_ns, S);
  EXPECT_EQ(d.tat, T0 + 3601 * S);

  // A stored TAT of 0 is a full bucket.
  d = gcraDecide(0, T0, params);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.remaining, 9);
  EXPECT_EQ(d.tat, T0 + S);
}

TEST(GcraTest, CostAboveOne) {
  const GcraParams params = GcraParams::make(10, 10 * S);  // T = 1 s
  Key key{params};
  for (int64_t expected_remaining : {7, 4, 1}) {
    GcraDecision d = key.send(T0, 3);
    ASSERT_TRUE(d.allowed);
    EXPECT_EQ(d.remaining, expected_remaining);
  }
  EXPECT_EQ(key.tat, T0 + 9 * S);
  // 3 more need 2 intervals more than the one left.
  GcraDecision denied = key.send(T0, 3);
  EXPECT_FALSE(denied.allowed);
  EXPECT_EQ(denied.retry_after_ns, 2 * S);
  EXPECT_EQ(key.tat, T0 + 9 * S);
  // The single one left still fits.
  EXPECT_TRUE(key.send(T0, 1).allowed);
  // At the retry time of the earlier denial, 3 fit again (one more interval has gone by for the
  // request of cost 1 taken since).
  EXPECT_FALSE(key.send(T0 + 3 * S - 1, 3).allowed);
  EXPECT_TRUE(key.send(T0 + 3 * S, 3).allowed);

  // Cost 0 asks without taking.
  Key fresh{params};
  GcraDecision peek = fresh.send(T0, 0);
  EXPECT_TRUE(peek.allowed);
  EXPECT_EQ(peek.remaining, 10);
  // A cost above the burst never fits, even in a full bucket.
  GcraDecision too_big = gcraDecide(0, T0, params, 11);
  EXPECT_FALSE(too_big.allowed);
  EXPECT_EQ(too_big.retry_after_ns, S);
  EXPECT_FALSE(gcraDecide(0, T0 + 3600 * S, params, 11).allowed);
}

TEST(GcraTest, BurstBelowLimit) {
  const GcraParams params = GcraParams::make(10, S, 2);  // T = 100 ms, at most 2 at once
  Key key{params};
  EXPECT_EQ(key.send(T0).remaining, 1);
  EXPECT_EQ(key.send(T0).remaining, 0);
  GcraDecision denied = key.send(T0);
  EXPECT_FALSE(denied.allowed);
  EXPECT_EQ(denied.retry_after_ns, 100 * Ms);
  // The rate is still 10 per second.
  int admitted = 0;
  for (int64_t now = T0; now < T0 + 10 * S; now += Ms) admitted += key.send(now).allowed ? 1 : 0;
  EXPECT_EQ(admitted, 99);  // one per 100 ms, from T0 + 100 ms to T0 + 9.9 s
}

TEST(GcraTest, BurstAboveLimit) {
  const GcraParams params = GcraParams::make(10, S, 30);  // T = 100 ms, 30 at once
  Key key{params};
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(key.send(T0).allowed) << i;
  GcraDecision denied = key.send(T0);
  EXPECT_FALSE(denied.allowed);
  EXPECT_EQ(denied.retry_after_ns, 100 * Ms);
  // Then the rate: one per 100 ms.
  for (int i = 1; i <= 100; ++i) {
    ASSERT_FALSE(key.send(T0 + i * 100 * Ms - 1).allowed) << i;
    ASSERT_TRUE(key.send(T0 + i * 100 * Ms).allowed) << i;
  }
  // Full again after 3 s of quiet.
  const int64_t quiet = key.tat;
  EXPECT_EQ(key.send(quiet).remaining, 29);
}

TEST(GcraTest, WindowsThatDoNotDivideNeverAdmitMoreThanThePolicy) {
  // 3 per second: T = 333'333'334 ns, slightly more than a third of a second.
  const GcraParams params = GcraParams::make(3, S);
  Key key{params};
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(key.send(T0).allowed);
  EXPECT_FALSE(key.send(T0).allowed);
  // Saturated for 300 s: the burst plus floor(300 s / T), one below 3 per second.
  int admitted = 3;
  for (int64_t now = T0 + Ms; now <= T0 + 300 * S; now += Ms) {
    admitted += key.send(now).allowed ? 1 : 0;
  }
  EXPECT_EQ(admitted, 3 + 899);
  EXPECT_LE(admitted, 3 + 900);

  // 7 per 10 s, burst 2: T = 1'428'571'429 ns.
  const GcraParams odd = GcraParams::make(7, 10 * S, 2);
  EXPECT_EQ(odd.emission_interval_ns, 1'428'571'429);
  Key other{odd};
  GcraDecision d = other.send(T0);
  EXPECT_EQ(d.remaining, 1);
  EXPECT_EQ(d.reset_ns, 1'428'571'429);
  other.send(T0);
  d = other.send(T0 + S);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.retry_after_ns, 1'428'571'429 - S);
  EXPECT_EQ(retryAfterSeconds(d.retry_after_ns), 1);
}

TEST(GcraTest, ExtremeValuesSaturateInsteadOfOverflowing) {
  const GcraParams params = GcraParams::make(1, GcraParams::MaxToleranceNs);
  constexpr int64_t Max = std::numeric_limits<int64_t>::max();
  GcraDecision d = gcraDecide(Max - 5, T0, params);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.tat, Max - 5);
  d = gcraDecide(0, T0, params, Max);
  EXPECT_FALSE(d.allowed);
  EXPECT_GT(d.retry_after_ns, 0);
  d = gcraDecide(0, 0, params, 1);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.remaining, 0);
  EXPECT_EQ(d.tat, GcraParams::MaxToleranceNs);
}

TEST(GcraTest, ScriptArgsInMicroseconds) {
  GcraScriptArgs args = gcraScriptArgs(GcraParams::make(10, S));
  EXPECT_EQ(args.emission_interval_us, 100'000);
  EXPECT_EQ(args.tolerance_us, 1'000'000);
  args = gcraScriptArgs(GcraParams::make(3, S));  // T = 333'333'334 ns
  EXPECT_EQ(args.emission_interval_us, 333'334);
  EXPECT_EQ(args.tolerance_us, 3 * 333'334);
  args = gcraScriptArgs(GcraParams::make(1000, 10, 5));  // T = 1 ns
  EXPECT_EQ(args.emission_interval_us, 1);
  EXPECT_EQ(args.tolerance_us, 5);
}

// The script against a real Redis (Debian's redis-server), through redis-cli. Redis's clock
// runs on its own, so each call is bracketed by two TIME readings and compared with gcraDecide
// at both ends: with T = 10 s and calls a few milliseconds long, `allowed` and `remaining` are
// exact and the durations fall between the two.
std::string findOnPath(std::string_view name) {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    std::string candidate = dir + "/" + std::string(name);
    if (!dir.empty() && ::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

class GcraScriptTest : public testing::Test {
 protected:
  void SetUp() override {
    const std::string server = findOnPath("redis-server");
    cli_ = findOnPath("redis-cli");
    if (server.empty() || cli_.empty()) GTEST_SKIP() << "redis-server or redis-cli not installed";
    port_ = test::freePort();
    ASSERT_GT(port_, 0);
    redis_.emplace(server,
                   std::vector<std::string>{"--port", std::to_string(port_), "--bind", "127.0.0.1",
                                            "--save", "", "--appendonly", "no"});
    ASSERT_TRUE(test::waitForPort(static_cast<uint16_t>(port_), std::chrono::seconds(10)))
        << redis_->output();
  }
  void TearDown() override {
    if (redis_) redis_->stop();
  }

  // The reply's lines (redis-cli prints one value per line when its output is not a terminal).
  std::vector<std::string> command(const std::vector<std::string>& args) {
    std::vector<std::string> argv{"-p", std::to_string(port_)};
    argv.insert(argv.end(), args.begin(), args.end());
    test::Process cli(cli_, argv);
    EXPECT_EQ(cli.waitExit(std::chrono::seconds(10)), 0);
    std::vector<std::string> lines;
    std::istringstream out(cli.output());
    for (std::string line; std::getline(out, line);) lines.push_back(line);
    return lines;
  }

  // A whole decimal integer, or a test failure.
  static int64_t integer(const std::string& text) {
    size_t used = 0;
    int64_t value = 0;
    try {
      value = std::stoll(text, &used);
    } catch (const std::exception&) {
    }
    EXPECT_TRUE(!text.empty() && used == text.size()) << "not an integer: '" << text << "'";
    return value;
  }

  int64_t timeMicros() {
    std::vector<std::string> reply = command({"TIME"});
    EXPECT_EQ(reply.size(), 2u);
    return reply.size() == 2 ? integer(reply[0]) * 1'000'000 + integer(reply[1]) : 0;
  }

  // The stored TAT, 0 when the key does not exist.
  int64_t storedTat(const std::string& key) {
    std::vector<std::string> reply = command({"GET", key});
    return reply.empty() || reply[0].empty() ? 0 : integer(reply[0]);
  }

  std::vector<int64_t> eval(const std::string& key, const GcraParams& params, int64_t cost) {
    std::vector<std::string> reply =
        command({"EVAL", GcraScript, "1", key, std::to_string(params.emission_interval_ns),
                 std::to_string(params.tolerance_ns), std::to_string(cost)});
    std::vector<int64_t> values;
    for (const std::string& line : reply) values.push_back(integer(line));
    return values;
  }

  // One EVAL checked against gcraDecide at Redis's time just before and just after it. `params`
  // is in microseconds. Returns whether it was allowed.
  bool checkedEval(const std::string& key, const GcraParams& params, int64_t cost) {
    const int64_t stored = storedTat(key);
    const std::vector<std::string> ttl_before = command({"PTTL", key});
    const int64_t lo = timeMicros();
    const std::vector<int64_t> reply = eval(key, params, cost);
    const int64_t hi = timeMicros();
    EXPECT_EQ(reply.size(), 4u);
    if (reply.size() != 4) return false;
    const GcraDecision early = gcraDecide(stored, lo, params, cost);
    const GcraDecision late = gcraDecide(stored, hi, params, cost);
    EXPECT_EQ(early.allowed, late.allowed) << "calls too slow for the test's interval";
    EXPECT_EQ(reply[0], early.allowed ? 1 : 0);
    EXPECT_EQ(reply[1], early.remaining);
    EXPECT_EQ(reply[1], late.remaining);
    EXPECT_GE(reply[2], late.retry_after_ns);
    EXPECT_LE(reply[2], early.retry_after_ns);
    EXPECT_GE(reply[3], std::min(early.reset_ns, late.reset_ns));
    EXPECT_LE(reply[3], std::max(early.reset_ns, late.reset_ns));
    const int64_t tat = storedTat(key);
    const int64_t ttl_ms = integer(command({"PTTL", key}).at(0));
    if (reply[0] == 1) {
      EXPECT_GE(tat, early.tat);
      EXPECT_LE(tat, late.tat);
      EXPECT_GT(ttl_ms, 0);
      EXPECT_LE(ttl_ms, (tat - lo + 999) / 1000);
    } else {
      // A denial writes nothing: same TAT, and the TTL was not renewed.
      EXPECT_EQ(tat, stored);
      EXPECT_LE(ttl_ms, integer(ttl_before.at(0)));
    }
    return reply[0] == 1;
  }

  std::string cli_;
  int port_ = 0;
  std::optional<test::Process> redis_;
};

TEST_F(GcraScriptTest, BurstThenRetryAsGcraDecide) {
  const GcraParams params = GcraParams::make(5, 50'000'000);  // in microseconds: T = 10 s
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(checkedEval("sy:rl:{a}", params, 1)) << i;
  EXPECT_FALSE(checkedEval("sy:rl:{a}", params, 1));
  EXPECT_FALSE(checkedEval("sy:rl:{a}", params, 1));
  // Another key is untouched by the first.
  EXPECT_TRUE(checkedEval("sy:rl:{b}", params, 1));
  // The TAT is stored as a plain integer of microseconds since the epoch.
  const int64_t tat = storedTat("sy:rl:{a}");
  EXPECT_GT(tat, int64_t{1'600'000'000} * 1'000'000);
}

TEST_F(GcraScriptTest, CostsAndOddStates) {
  const GcraParams params = GcraParams::make(10, 100'000'000);  // T = 10 s in microseconds
  EXPECT_TRUE(checkedEval("k", params, 4));
  EXPECT_TRUE(checkedEval("k", params, 6));
  EXPECT_FALSE(checkedEval("k", params, 1));
  // A cost above the burst never fits.
  EXPECT_FALSE(checkedEval("big", params, 11));
  EXPECT_EQ(command({"EXISTS", "big"}), std::vector<std::string>{"0"});
  // A key that does not hold a number is a full bucket (and is then overwritten).
  command({"SET", "junk", "not a number"});
  std::vector<int64_t> reply = eval("junk", params, 1);
  EXPECT_EQ(reply, (std::vector<int64_t>{1, 9, 0, 10'000'000}));
  // A TAT from the past is a full bucket too.
  command({"SET", "old", "1000"});
  EXPECT_TRUE(checkedEval("old", params, 10));
}

}  // namespace
}  // namespace switchyard::filters::rate_limit
