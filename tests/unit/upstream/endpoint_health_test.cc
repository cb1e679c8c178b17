#include "proxy/upstream/endpoint_health.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "proxy/common/time.h"

namespace switchyard::upstream {
namespace {

using namespace std::chrono_literals;
using common::MonotonicTime;

common::SocketAddress address(const std::string& text) {
  common::SocketAddress out;
  EXPECT_TRUE(common::parseSocketAddress(text, out)) << text;
  return out;
}

const MonotonicTime T0{std::chrono::seconds(1000)};

TEST(EndpointHealthTest, EverythingStartsUsable) {
  EndpointHealth h(3);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_TRUE(h.usable(i, T0));
    EXPECT_EQ(h.activeHealth(i), ActiveHealth::Unknown);
    EXPECT_FALSE(h.ejected(i, T0));
  }
  EXPECT_EQ(h.usableCount(), 3u);
  EXPECT_FALSE(h.panic());
  EXPECT_FALSE(h.allActiveUnhealthy());
}

TEST(EndpointHealthTest, ActiveHealthAndEjectionBothTakeAnEndpointOut) {
  EndpointHealth h(4);
  const uint64_t g0 = h.generation();
  h.setActiveHealth(1, ActiveHealth::Unhealthy);
  EXPECT_GT(h.generation(), g0);
  EXPECT_FALSE(h.usable(1, T0));
  EXPECT_EQ(h.usableCount(), 3u);

  h.eject(2, T0 + 30s);
  EXPECT_FALSE(h.usable(2, T0));
  EXPECT_FALSE(h.usable(2, T0 + 30s - 1ns));
  EXPECT_TRUE(h.ejected(2, T0 + 29s));
  // The ejection ends at its time, before the writer clears it.
  EXPECT_TRUE(h.usable(2, T0 + 30s));
  EXPECT_FALSE(h.ejected(2, T0 + 30s));
  EXPECT_EQ(h.usableCount(), 2u);

  // Both at once: the endpoint comes back only when both have cleared.
  h.eject(1, T0 + 10s);
  EXPECT_FALSE(h.usable(1, T0 + 20s));
  h.setActiveHealth(1, ActiveHealth::Healthy);
  EXPECT_FALSE(h.usable(1, T0 + 5s));
  EXPECT_TRUE(h.usable(1, T0 + 10s));
  h.uneject(1);
  h.uneject(2);
  EXPECT_TRUE(h.usable(1, T0));
  EXPECT_TRUE(h.usable(2, T0));
  EXPECT_EQ(h.usableCount(), 4u);
  EXPECT_EQ(h.activeHealth(1), ActiveHealth::Healthy);

  // Ejecting keeps the active check's verdict, and un-ejecting too.
  h.setActiveHealth(3, ActiveHealth::Unhealthy);
  h.eject(3, T0 + 1s);
  h.uneject(3);
  EXPECT_FALSE(h.usable(3, T0 + 2s));
}

TEST(EndpointHealthTest, PanicUsesEveryEndpoint) {
  // Four endpoints, panic below 50%: two usable is enough, one is not.
  EndpointHealth h(4);
  std::vector<size_t> picked;
  h.setActiveHealth(0, ActiveHealth::Unhealthy);
  h.eject(1, T0 + 30s);
  EXPECT_FALSE(h.panic());
  EXPECT_FALSE(h.pickUsable(T0, picked));
  EXPECT_EQ(picked, (std::vector<size_t>{2, 3}));
  EXPECT_FALSE(h.mayUse(0, T0));
  EXPECT_TRUE(h.mayUse(2, T0));

  h.setActiveHealth(2, ActiveHealth::Unhealthy);
  EXPECT_TRUE(h.panic());
  EXPECT_TRUE(h.pickUsable(T0, picked));
  EXPECT_EQ(picked, (std::vector<size_t>{0, 1, 2, 3}));
  EXPECT_TRUE(h.mayUse(0, T0));

  // Once the ejection runs out, pickUsable() (which reads the time) has two again.
  EXPECT_FALSE(h.pickUsable(T0 + 30s, picked));
  EXPECT_EQ(picked, (std::vector<size_t>{1, 3}));
}

TEST(EndpointHealthTest, NoUsableEndpointMeansAllEvenWithoutAThreshold) {
  EndpointHealth h(2, {.panic_threshold_percent = 0});
  std::vector<size_t> picked;
  h.setActiveHealth(0, ActiveHealth::Unhealthy);
  EXPECT_FALSE(h.panic());
  EXPECT_FALSE(h.pickUsable(T0, picked));
  EXPECT_EQ(picked, (std::vector<size_t>{1}));
  h.setActiveHealth(1, ActiveHealth::Unhealthy);
  EXPECT_TRUE(h.panic());
  EXPECT_TRUE(h.pickUsable(T0, picked));
  EXPECT_EQ(picked, (std::vector<size_t>{0, 1}));
  EXPECT_TRUE(h.allActiveUnhealthy());
}

TEST(EndpointHealthTest, PanicThresholdRoundsUp) {
  // Three endpoints at 50%: one usable is 33%, below the threshold.
  EndpointHealth h(3);
  h.setActiveHealth(0, ActiveHealth::Unhealthy);
  EXPECT_FALSE(h.panic());
  h.setActiveHealth(1, ActiveHealth::Unhealthy);
  EXPECT_TRUE(h.panic());
  // One endpoint: usable or panic, never nothing.
  EndpointHealth one(1);
  one.setActiveHealth(0, ActiveHealth::Unhealthy);
  EXPECT_TRUE(one.mayUse(0, T0));
}

TEST(EndpointHealthTest, StreaksReportTheirThresholdOnce) {
  EndpointHealth h(2, {.consecutive_5xx = 3, .consecutive_connect_failures = 2});
  EXPECT_EQ(h.recordOutcome(0, UpstreamOutcome::ServerError), std::nullopt);
  EXPECT_EQ(h.recordOutcome(0, UpstreamOutcome::ServerError), std::nullopt);
  EXPECT_EQ(h.recordOutcome(0, UpstreamOutcome::ServerError), EjectionReason::Consecutive5xx);
  // Past the threshold nothing more is reported until the writer restarts the streak.
  EXPECT_EQ(h.recordOutcome(0, UpstreamOutcome::ServerError), std::nullopt);
  EXPECT_EQ(h.streak(0, EjectionReason::Consecutive5xx), 4u);
  h.resetStreak(0, EjectionReason::Consecutive5xx);
  EXPECT_EQ(h.streak(0, EjectionReason::Consecutive5xx), 0u);

  // A success ends both streaks; a 5xx ends the connect-failure streak only.
  EXPECT_EQ(h.recordOutcome(1, UpstreamOutcome::ConnectFailure), std::nullopt);
  EXPECT_EQ(h.recordOutcome(1, UpstreamOutcome::ServerError), std::nullopt);
  EXPECT_EQ(h.streak(1, EjectionReason::ConnectFailure), 0u);
  EXPECT_EQ(h.recordOutcome(1, UpstreamOutcome::ConnectFailure), std::nullopt);
  EXPECT_EQ(h.streak(1, EjectionReason::Consecutive5xx), 1u);
  EXPECT_EQ(h.recordOutcome(1, UpstreamOutcome::ConnectFailure), EjectionReason::ConnectFailure);
  EXPECT_EQ(h.recordOutcome(1, UpstreamOutcome::Success), std::nullopt);
  EXPECT_EQ(h.streak(1, EjectionReason::Consecutive5xx), 0u);
  EXPECT_EQ(h.streak(1, EjectionReason::ConnectFailure), 0u);

  // A threshold of 0 counts nothing.
  EndpointHealth off(1);
  for (int i = 0; i < 10; ++i)
    EXPECT_EQ(off.recordOutcome(0, UpstreamOutcome::ServerError), std::nullopt);
  EXPECT_EQ(off.streak(0, EjectionReason::Consecutive5xx), 0u);
}

TEST(EndpointHealthTest, MatchEndpointsByHostAndPort) {
  const std::vector<common::SocketAddress> before = {address("10.0.0.1:80"), address("10.0.0.2:80"),
                                                     address("10.0.0.3:80")};
  const std::vector<common::SocketAddress> after = {address("10.0.0.3:80"), address("10.0.0.4:80"),
                                                    address("10.0.0.1:80"), address("10.0.0.1:81")};
  EXPECT_EQ(matchEndpoints(before, after), (std::vector<size_t>{2, NewEndpoint, 0, NewEndpoint}));
  // A duplicate is matched once per listing.
  const std::vector<common::SocketAddress> twice = {address("10.0.0.1:80"), address("10.0.0.1:80")};
  EXPECT_EQ(matchEndpoints(before, twice), (std::vector<size_t>{0, NewEndpoint}));
  EXPECT_EQ(matchEndpoints(twice, twice), (std::vector<size_t>{0, 1}));
}

TEST(EndpointHealthTest, CarryOverKeepsTheEndpointsThatStay) {
  EndpointHealthOptions options{.consecutive_5xx = 3, .consecutive_connect_failures = 2};
  EndpointHealth before(3, options);
  before.setActiveHealth(0, ActiveHealth::Unhealthy);
  before.eject(1, T0 + 30s);
  before.setActiveHealth(2, ActiveHealth::Healthy);
  before.recordOutcome(2, UpstreamOutcome::ServerError);
  // A streak at its threshold has been handed to the writer against `before`.
  before.recordOutcome(1, UpstreamOutcome::ConnectFailure);
  before.recordOutcome(1, UpstreamOutcome::ConnectFailure);

  // New list: old 2, a new one, old 1 (old 0 is gone).
  auto after = before.carryOver({2, NewEndpoint, 1}, options);
  ASSERT_EQ(after->size(), 3u);
  EXPECT_GT(after->generation(), before.generation());
  EXPECT_EQ(after->activeHealth(0), ActiveHealth::Healthy);
  EXPECT_EQ(after->streak(0, EjectionReason::Consecutive5xx), 1u);
  EXPECT_EQ(after->activeHealth(1), ActiveHealth::Unknown);
  EXPECT_TRUE(after->usable(1, T0));
  EXPECT_TRUE(after->ejected(2, T0));
  EXPECT_FALSE(after->usable(2, T0));
  EXPECT_TRUE(after->usable(2, T0 + 30s));
  EXPECT_EQ(after->streak(2, EjectionReason::ConnectFailure), 0u);
  EXPECT_EQ(after->usableCount(), 2u);
  // The old object is left as it was for the workers still reading it.
  EXPECT_EQ(before.activeHealth(0), ActiveHealth::Unhealthy);
}

// One writer changes the state while readers pick endpoints the way load balancing does: every
// read must be race-free (run under ThreadSanitizer) and see only states the writer wrote.
TEST(EndpointHealthTest, WorkersReadWhileTheWriterWrites) {
  constexpr size_t Endpoints = 4;
  constexpr uint64_t MinRounds = 20'000;
  constexpr uint64_t MinPasses = 20'000;  // over all readers
  constexpr uint64_t MaxRounds = 50'000'000;
  EndpointHealth health(Endpoints, {.consecutive_5xx = 5, .consecutive_connect_failures = 5});
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> passes{0};

  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&, r] {
      std::vector<size_t> picked;
      uint64_t last_generation = 0;
      for (uint64_t pass = 0; !stop.load(std::memory_order_relaxed); ++pass) {
        const MonotonicTime now = T0 + std::chrono::milliseconds(pass % 100);
        const size_t i = pass % Endpoints;
        const uint64_t g = health.generation();
        EXPECT_GE(g, last_generation);
        last_generation = g;
        (void)health.mayUse(i, now);
        health.pickUsable(now, picked);
        EXPECT_FALSE(picked.empty());
        // Workers count their requests' outcomes at the same time.
        health.recordOutcome(
            i, (pass + r) % 3 == 0 ? UpstreamOutcome::ServerError : UpstreamOutcome::Success);
        passes.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }

  // Bounded: the writer goes on until the readers have read enough alongside it, at most
  // MaxRounds.
  uint64_t round = 0;
  for (; round < MaxRounds && (round < MinRounds || passes.load() < MinPasses); ++round) {
    const size_t i = round % Endpoints;
    switch (round % 4) {
      case 0:
        health.setActiveHealth(i, ActiveHealth::Unhealthy);
        break;
      case 1:
        health.eject(i, T0 + std::chrono::milliseconds(round % 200));
        break;
      case 2:
        health.setActiveHealth(i, ActiveHealth::Healthy);
        break;
      case 3:
        health.uneject(i);
        health.resetStreak(i, EjectionReason::Consecutive5xx);
        break;
    }
  }
  stop.store(true, std::memory_order_relaxed);
  for (std::thread& t : readers) t.join();
  EXPECT_GE(passes.load(), MinPasses);
  EXPECT_LE(health.usableCount(), Endpoints);
}

}  // namespace
}  // namespace switchyard::upstream
