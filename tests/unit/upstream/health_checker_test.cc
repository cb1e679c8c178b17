#include "proxy/upstream/health_checker.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "proxy/common/random.h"
#include "proxy/common/time.h"
#include "proxy/event/dispatcher.h"

namespace switchyard::upstream {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;
using Kind = ProbeResponse::Kind;

common::SocketAddress address(const std::string& text) {
  common::SocketAddress out;
  EXPECT_TRUE(common::parseSocketAddress(text, out)) << text;
  return out;
}

ProbeResponse status(int code) { return {Kind::Responded, code, "status " + std::to_string(code)}; }
ProbeResponse refused() { return {Kind::ConnectFailed, 0, "connect failed: Connection refused"}; }
ProbeResponse timedOut() { return {Kind::TimedOut, 0, "no response within 1s"}; }

// ---- the state machine ----

TEST(HealthStateMachineTest, UnhealthyAfterExactlyTheThreshold) {
  HealthStateMachine m;
  EXPECT_FALSE(m.onResult(false, 2, 3));
  EXPECT_FALSE(m.onResult(false, 2, 3));
  EXPECT_EQ(m.state(), ActiveHealth::Unknown);
  EXPECT_EQ(m.consecutiveFailures(), 2u);
  EXPECT_TRUE(m.onResult(false, 2, 3));
  EXPECT_EQ(m.state(), ActiveHealth::Unhealthy);
  EXPECT_FALSE(m.onResult(false, 2, 3));
  EXPECT_EQ(m.consecutiveFailures(), 4u);

  // From Healthy the same.
  HealthStateMachine h;
  EXPECT_TRUE(h.onResult(true, 2, 3));
  EXPECT_EQ(h.state(), ActiveHealth::Healthy);
  EXPECT_FALSE(h.onResult(false, 2, 3));
  EXPECT_FALSE(h.onResult(false, 2, 3));
  EXPECT_EQ(h.state(), ActiveHealth::Healthy);
  EXPECT_TRUE(h.onResult(false, 2, 3));
  EXPECT_EQ(h.state(), ActiveHealth::Unhealthy);
}

TEST(HealthStateMachineTest, HealthyAgainAfterExactlyTheThreshold) {
  HealthStateMachine m;
  for (int i = 0; i < 3; ++i) m.onResult(false, 2, 3);
  ASSERT_EQ(m.state(), ActiveHealth::Unhealthy);
  EXPECT_FALSE(m.onResult(true, 2, 3));
  EXPECT_EQ(m.state(), ActiveHealth::Unhealthy);
  EXPECT_EQ(m.consecutiveSuccesses(), 1u);
  EXPECT_TRUE(m.onResult(true, 2, 3));
  EXPECT_EQ(m.state(), ActiveHealth::Healthy);
  EXPECT_EQ(m.consecutiveFailures(), 0u);
}

TEST(HealthStateMachineTest, AnEndpointNotProbedYetNeedsOneSuccess) {
  HealthStateMachine m;
  EXPECT_EQ(m.state(), ActiveHealth::Unknown);
  EXPECT_TRUE(m.onResult(true, 5, 3));
  EXPECT_EQ(m.state(), ActiveHealth::Healthy);
}

TEST(HealthStateMachineTest, FlappingCrossesNoThreshold) {
  HealthStateMachine healthy;
  healthy.onResult(true, 2, 3);
  HealthStateMachine unhealthy;
  for (int i = 0; i < 3; ++i) unhealthy.onResult(false, 2, 3);
  // Two failures then one success, over and over: never three failures in a row.
  for (int round = 0; round < 20; ++round) {
    for (bool ok : {false, false, true}) {
      EXPECT_FALSE(healthy.onResult(ok, 2, 3));
      EXPECT_FALSE(unhealthy.onResult(ok, 2, 3));
    }
  }
  EXPECT_EQ(healthy.state(), ActiveHealth::Healthy);
  EXPECT_EQ(unhealthy.state(), ActiveHealth::Unhealthy);
}

TEST(HealthStateMachineTest, StartsWhereItIsTold) {
  HealthStateMachine m(ActiveHealth::Unhealthy);
  EXPECT_FALSE(m.onResult(true, 2, 3));
  EXPECT_TRUE(m.onResult(true, 2, 3));
  EXPECT_EQ(m.state(), ActiveHealth::Healthy);
}

TEST(HealthStateMachineTest, ClassifiesProbeResponses) {
  const HealthCheckConfig c;
  EXPECT_EQ(classifyProbe(status(200), c), ProbeResult::Success);
  EXPECT_EQ(classifyProbe(status(399), c), ProbeResult::Success);
  EXPECT_EQ(classifyProbe(status(503), c), ProbeResult::FailureStatus);
  EXPECT_EQ(classifyProbe(status(0), c), ProbeResult::FailureStatus);
  EXPECT_EQ(classifyProbe(refused(), c), ProbeResult::FailureConnect);
  EXPECT_EQ(classifyProbe(timedOut(), c), ProbeResult::Timeout);
  EXPECT_STREQ(probeResultName(ProbeResult::Success), "success");
  EXPECT_STREQ(probeResultName(ProbeResult::FailureStatus), "failure_status");
  EXPECT_STREQ(probeResultName(ProbeResult::FailureConnect), "failure_connect");
  EXPECT_STREQ(probeResultName(ProbeResult::Timeout), "timeout");
}

// ---- jitter ----

TEST(HealthProbeScheduleTest, DelaysStayWithinTheJitter) {
  HealthCheckConfig c;
  c.interval = 5s;
  c.jitter = 0.10;
  common::SeededRandom random(7);
  milliseconds lowest = c.interval;
  milliseconds highest{0};
  for (int i = 0; i < 10000; ++i) {
    const milliseconds d = nextProbeDelay(c, random);
    ASSERT_GE(d, 4500ms);
    ASSERT_LE(d, 5000ms);
    lowest = std::min(lowest, d);
    highest = std::max(highest, d);
    const milliseconds first = firstProbeDelay(c, random);
    ASSERT_GE(first, 0ms);
    ASSERT_LE(first, 500ms);
  }
  // The draws spread over the whole span.
  EXPECT_LT(lowest, 4550ms);
  EXPECT_GT(highest, 4950ms);
}

TEST(HealthProbeScheduleTest, NoJitterAndAllJitter) {
  common::SeededRandom random(1);
  HealthCheckConfig c;
  c.interval = 2s;
  c.jitter = 0;
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(nextProbeDelay(c, random), 2s);
    EXPECT_EQ(firstProbeDelay(c, random), 0ms);
  }
  c.jitter = 1;
  for (int i = 0; i < 1000; ++i) {
    const milliseconds d = nextProbeDelay(c, random);
    ASSERT_GE(d, 1ms);
    ASSERT_LE(d, 2s);
  }
}

// ---- the checker, on simulated time with a fake prober ----

// Records each probe and lets the test answer it.
class FakeProber final : public Prober {
 public:
  struct Call {
    ProbeId id;
    ProbeRequest request;
    Done done;
    common::MonotonicTime at;
    bool cancelled = false;
    bool answered = false;
  };

  explicit FakeProber(const common::TimeSource& time) : time_(time) {}

  ProbeId probe(const ProbeRequest& request, Done done) override {
    calls.push_back({next_id_++, request, std::move(done), time_.monotonicNow()});
    return calls.back().id;
  }
  void cancel(ProbeId id) override {
    for (Call& c : calls) {
      if (c.id == id && !c.answered) c.cancelled = true;
    }
  }

  // Indices of the calls waiting for an answer.
  std::vector<size_t> pending() const {
    std::vector<size_t> out;
    for (size_t i = 0; i < calls.size(); ++i) {
      if (!calls[i].answered && !calls[i].cancelled) out.push_back(i);
    }
    return out;
  }
  void answer(size_t call, const ProbeResponse& response) {
    Call& c = calls.at(call);
    ASSERT_FALSE(c.answered || c.cancelled);
    c.answered = true;
    Done done = std::move(c.done);
    done(response);
  }
  // Answers every waiting probe to `port` (0: to any endpoint).
  void answerAll(const ProbeResponse& response, uint16_t port = 0) {
    for (size_t i : pending()) {
      if (port == 0 || calls[i].request.address.port == port) answer(i, response);
    }
  }

  std::vector<Call> calls;

 private:
  const common::TimeSource& time_;
  ProbeId next_id_ = 1;
};

class HealthCheckerTest : public testing::Test {
 protected:
  HealthCheckerTest() {
    config_.interval = 5s;
    config_.timeout = 1s;
    config_.jitter = 0;
  }

  std::vector<HealthCheckTarget> targets(std::vector<std::string> addresses) {
    std::vector<HealthCheckTarget> out;
    for (const std::string& a : addresses) out.push_back({address(a), ""});
    return out;
  }

  void start(std::vector<std::string> addresses) {
    auto list = targets(addresses);
    health_ = std::make_shared<EndpointHealth>(list.size());
    HealthChecker::Callbacks callbacks;
    callbacks.on_transition = [this](const HealthTransition& t) { transitions_.push_back(t); };
    callbacks.on_probe = [this](size_t, ProbeResult r) { results_.push_back(r); };
    checker_ = std::make_unique<HealthChecker>(dispatcher_, random_, prober_, config_,
                                               std::move(list), health_, std::move(callbacks));
  }

  // One probe round: the timers due within `wait` fire, then every probe started gets `answer`.
  void round(const ProbeResponse& answer, milliseconds wait = 5s, uint16_t port = 0) {
    dispatcher_.advance(wait);
    prober_.answerAll(answer, port);
  }

  common::SimulatedTimeSource time_;
  event::SimulatedDispatcher dispatcher_{time_};
  common::SeededRandom random_{42};
  FakeProber prober_{time_};
  HealthCheckConfig config_;
  std::shared_ptr<EndpointHealth> health_;
  std::unique_ptr<HealthChecker> checker_;
  std::vector<HealthTransition> transitions_;
  std::vector<ProbeResult> results_;
};

TEST_F(HealthCheckerTest, ProbesCarryTheHostPathAndTimeout) {
  config_.path = "/ready";
  start({"127.0.0.1:9001"});
  dispatcher_.advance(0ms);
  ASSERT_EQ(prober_.calls.size(), 1u);
  const ProbeRequest& r = prober_.calls[0].request;
  EXPECT_EQ(r.address.text, "127.0.0.1:9001");
  EXPECT_EQ(r.host, "127.0.0.1:9001");  // no authority given: the address as written
  EXPECT_EQ(r.path, "/ready");
  EXPECT_EQ(r.timeout, 1s);

  // The endpoint's authority, and the configured host over it.
  checker_.reset();
  HealthChecker named(dispatcher_, random_, prober_, config_,
                      {{address("127.0.0.1:9002"), "api.internal:9002"}},
                      std::make_shared<EndpointHealth>(1));
  dispatcher_.advance(0ms);
  EXPECT_EQ(prober_.calls.back().request.host, "api.internal:9002");
  config_.host = "override.example";
  HealthChecker overridden(dispatcher_, random_, prober_, config_,
                           {{address("127.0.0.1:9003"), "api.internal:9003"}},
                           std::make_shared<EndpointHealth>(1));
  dispatcher_.advance(0ms);
  EXPECT_EQ(prober_.calls.back().request.host, "override.example");
}

TEST_F(HealthCheckerTest, OutAfterThreeFailuresBackAfterTwoSuccesses) {
  start({"127.0.0.1:9001", "127.0.0.1:9002"});
  // First probes at once (no jitter): both answer, both Healthy.
  round(status(200), 0ms);
  EXPECT_EQ(checker_->state(0), ActiveHealth::Healthy);
  ASSERT_EQ(transitions_.size(), 2u);
  EXPECT_EQ(transitions_[0].from, ActiveHealth::Unknown);
  EXPECT_EQ(transitions_[0].to, ActiveHealth::Healthy);

  // Endpoint 0 fails: a 503, a refused connect, a timeout. Out on the third, not before.
  round(status(503), 5s, 9001);
  prober_.answerAll(status(200));
  round(refused(), 5s, 9001);
  prober_.answerAll(status(200));
  EXPECT_TRUE(health_->usable(0, time_.monotonicNow()));
  EXPECT_EQ(checker_->state(0), ActiveHealth::Healthy);
  round(timedOut(), 5s, 9001);
  prober_.answerAll(status(200));
  EXPECT_EQ(checker_->state(0), ActiveHealth::Unhealthy);
  EXPECT_EQ(health_->activeHealth(0), ActiveHealth::Unhealthy);
  EXPECT_FALSE(health_->usable(0, time_.monotonicNow()));
  EXPECT_TRUE(health_->usable(1, time_.monotonicNow()));
  ASSERT_EQ(transitions_.size(), 3u);
  EXPECT_EQ(transitions_[2].endpoint, 0u);
  EXPECT_EQ(transitions_[2].address, "127.0.0.1:9001");
  EXPECT_EQ(transitions_[2].from, ActiveHealth::Healthy);
  EXPECT_EQ(transitions_[2].to, ActiveHealth::Unhealthy);
  EXPECT_EQ(transitions_[2].cause, ProbeResult::Timeout);
  EXPECT_EQ(transitions_[2].detail, "no response within 1s");
  EXPECT_EQ(transitions_[2].consecutive, 3u);

  // Back after two successes, not one.
  round(status(204));
  EXPECT_FALSE(health_->usable(0, time_.monotonicNow()));
  round(status(200));
  EXPECT_TRUE(health_->usable(0, time_.monotonicNow()));
  ASSERT_EQ(transitions_.size(), 4u);
  EXPECT_EQ(transitions_[3].to, ActiveHealth::Healthy);
  EXPECT_EQ(transitions_[3].consecutive, 2u);

  // Counted by result: six rounds of two probes.
  EXPECT_EQ(checker_->count(ProbeResult::Success), 9u);
  EXPECT_EQ(checker_->count(ProbeResult::FailureStatus), 1u);
  EXPECT_EQ(checker_->count(ProbeResult::FailureConnect), 1u);
  EXPECT_EQ(checker_->count(ProbeResult::Timeout), 1u);
  EXPECT_EQ(results_.size(), 12u);
}

TEST_F(HealthCheckerTest, AllUnhealthyOnceEveryEndpointHasFailedTheThreshold) {
  start({"127.0.0.1:9001", "127.0.0.1:9002"});
  round(refused(), 0ms);
  round(refused());
  EXPECT_FALSE(checker_->allUnhealthy());
  // The third failure of the first endpoint only: not yet.
  round(refused(), 5s, 9001);
  EXPECT_FALSE(checker_->allUnhealthy());
  prober_.answerAll(refused());
  EXPECT_TRUE(checker_->allUnhealthy());
  EXPECT_TRUE(health_->allActiveUnhealthy());
  // Every endpoint out: the panic rule lets load balancing use them all anyway.
  EXPECT_TRUE(health_->panic());
  // One success is not enough to end it; two are.
  round(status(200), 5s, 9002);
  EXPECT_TRUE(checker_->allUnhealthy());
  prober_.answerAll(refused());
  round(status(200), 5s, 9002);
  EXPECT_FALSE(checker_->allUnhealthy());
  EXPECT_FALSE(health_->allActiveUnhealthy());
}

TEST_F(HealthCheckerTest, ProbesFollowTheIntervalWithJitterOnSimulatedTime) {
  config_.jitter = 0.2;  // 5s interval: each wait 4s to 5s, the first 0 to 1s
  start({"127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.1:9003"});
  const common::MonotonicTime start_time = time_.monotonicNow();
  // Answers come 100ms after each probe starts.
  std::vector<common::MonotonicTime> answered(3, start_time);
  std::vector<std::vector<common::MonotonicTime>> starts(3);
  for (int step = 0; step < 600; ++step) {  // 60s in 100ms steps
    for (size_t i : prober_.pending()) {
      const size_t e = prober_.calls[i].request.address.port - 9001;
      if (time_.monotonicNow() - prober_.calls[i].at >= 100ms) {
        answered[e] = time_.monotonicNow();
        prober_.answer(i, status(200));
      }
    }
    const size_t before = prober_.calls.size();
    dispatcher_.advance(100ms);
    for (size_t i = before; i < prober_.calls.size(); ++i) {
      const size_t e = prober_.calls[i].request.address.port - 9001;
      if (starts[e].empty()) {
        EXPECT_LE(prober_.calls[i].at - start_time, 1s);
      } else {
        // From the answer of the previous probe (seen at a 100ms step) to this start.
        const auto gap = prober_.calls[i].at - answered[e];
        EXPECT_GE(gap, 4s) << "endpoint " << e;
        EXPECT_LE(gap, 5s) << "endpoint " << e;
      }
      starts[e].push_back(prober_.calls[i].at);
    }
  }
  for (size_t e = 0; e < 3; ++e) {
    // About 60s / (4.5s + 0.1s) probes each.
    EXPECT_GE(starts[e].size(), 11u);
    EXPECT_LE(starts[e].size(), 15u);
  }
  // The endpoints do not probe in lockstep.
  EXPECT_FALSE(starts[0][3] == starts[1][3] && starts[1][3] == starts[2][3]);
}

TEST_F(HealthCheckerTest, TheSameSeedGivesTheSameSchedule) {
  config_.jitter = 0.5;
  auto schedule = [this](uint64_t seed) {
    common::SimulatedTimeSource time;
    event::SimulatedDispatcher dispatcher(time);
    common::SeededRandom random(seed);
    FakeProber prober(time);
    HealthChecker checker(dispatcher, random, prober, config_,
                          targets({"127.0.0.1:1", "127.0.0.1:2"}),
                          std::make_shared<EndpointHealth>(2));
    for (int step = 0; step < 300; ++step) {
      dispatcher.advance(100ms);
      prober.answerAll(status(200));
    }
    std::vector<common::MonotonicTime> out;
    for (const auto& c : prober.calls) out.push_back(c.at);
    return out;
  };
  EXPECT_EQ(schedule(3), schedule(3));
  EXPECT_NE(schedule(3), schedule(4));
}

TEST_F(HealthCheckerTest, ReplacingTheEndpointListKeepsTheEndpointsThatStay) {
  start({"127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.1:9003"});
  round(status(200), 0ms);
  for (int i = 0; i < 3; ++i) round(refused(), 5s, 9002);
  prober_.answerAll(status(200));
  ASSERT_EQ(checker_->state(1), ActiveHealth::Unhealthy);
  // A probe of 9003 is in flight when the list changes.
  dispatcher_.advance(5s);
  prober_.answerAll(status(200), 9001);
  prober_.answerAll(refused(), 9002);
  ASSERT_EQ(prober_.pending().size(), 1u);
  const size_t in_flight = prober_.pending()[0];

  // 9001 goes; 9002 and 9003 stay (in a new order); 9004 comes.
  const std::vector<common::SocketAddress> before = {
      address("127.0.0.1:9001"), address("127.0.0.1:9002"), address("127.0.0.1:9003")};
  auto next = targets({"127.0.0.1:9003", "127.0.0.1:9004", "127.0.0.1:9002"});
  std::vector<common::SocketAddress> next_addresses;
  for (const auto& t : next) next_addresses.push_back(t.address);
  const std::vector<size_t> previous = matchEndpoints(before, next_addresses);
  ASSERT_EQ(previous, (std::vector<size_t>{2, NewEndpoint, 1}));
  auto next_health = health_->carryOver(previous, health_->options());
  checker_->setEndpoints(std::move(next), next_health, previous);
  const size_t calls_before = prober_.calls.size();

  ASSERT_EQ(checker_->size(), 3u);
  EXPECT_EQ(checker_->health(), next_health);
  EXPECT_EQ(checker_->state(0), ActiveHealth::Healthy);
  EXPECT_EQ(checker_->state(1), ActiveHealth::Unknown);
  EXPECT_EQ(checker_->state(2), ActiveHealth::Unhealthy);
  EXPECT_EQ(checker_->machine(2).consecutiveFailures(), 4u);
  EXPECT_FALSE(next_health->usable(2, time_.monotonicNow()));
  EXPECT_TRUE(next_health->usable(1, time_.monotonicNow()));  // new: usable until probed

  // The probe in flight is still 9003's, and its answer lands on its new index.
  ASSERT_EQ(prober_.pending(), std::vector<size_t>{in_flight});
  transitions_.clear();
  prober_.answerAll(refused());
  EXPECT_EQ(checker_->machine(0).consecutiveFailures(), 1u);

  // The new endpoint is probed at once; the one removed is not probed any more.
  dispatcher_.advance(0ms);
  ASSERT_EQ(prober_.pending().size(), 1u);
  EXPECT_EQ(prober_.calls[prober_.pending()[0]].request.address.port, 9004);
  prober_.answerAll(status(200));
  EXPECT_EQ(checker_->state(1), ActiveHealth::Healthy);
  EXPECT_EQ(next_health->activeHealth(1), ActiveHealth::Healthy);
  for (int i = 0; i < 2; ++i) round(status(200));
  for (size_t i = calls_before; i < prober_.calls.size(); ++i) {
    EXPECT_NE(prober_.calls[i].request.address.port, 9001);
  }
  EXPECT_EQ(checker_->state(2), ActiveHealth::Healthy);
  EXPECT_TRUE(next_health->usable(2, time_.monotonicNow()));
}

TEST_F(HealthCheckerTest, ANewCheckerStartsFromTheVerdictsItFinds) {
  // A reload replaces the checker; the endpoints' state stays in EndpointHealth.
  start({"127.0.0.1:9001", "127.0.0.1:9002"});
  health_->setActiveHealth(0, ActiveHealth::Unhealthy);
  health_->setActiveHealth(1, ActiveHealth::Healthy);
  checker_.reset();
  HealthChecker again(dispatcher_, random_, prober_, config_,
                      targets({"127.0.0.1:9001", "127.0.0.1:9002"}), health_);
  EXPECT_EQ(again.state(0), ActiveHealth::Unhealthy);
  EXPECT_EQ(again.state(1), ActiveHealth::Healthy);
  // Still two successes to come back.
  round(status(200), 0ms);
  EXPECT_EQ(again.state(0), ActiveHealth::Unhealthy);
  round(status(200));
  EXPECT_EQ(again.state(0), ActiveHealth::Healthy);
  EXPECT_TRUE(health_->usable(0, time_.monotonicNow()));
}

TEST_F(HealthCheckerTest, RemovingAnEndpointCancelsItsProbe) {
  start({"127.0.0.1:9001", "127.0.0.1:9002"});
  dispatcher_.advance(0ms);
  ASSERT_EQ(prober_.pending().size(), 2u);
  const std::vector<size_t> previous = {1};
  checker_->setEndpoints(targets({"127.0.0.1:9002"}), health_->carryOver(previous, {}), previous);
  ASSERT_EQ(prober_.pending().size(), 1u);
  EXPECT_EQ(prober_.calls[prober_.pending()[0]].request.address.port, 9002);
  EXPECT_TRUE(prober_.calls[0].cancelled);
}

TEST_F(HealthCheckerTest, DestroyingTheCheckerCancelsItsProbes) {
  start({"127.0.0.1:9001", "127.0.0.1:9002"});
  dispatcher_.advance(0ms);
  ASSERT_EQ(prober_.pending().size(), 2u);
  checker_.reset();
  EXPECT_TRUE(prober_.pending().empty());
  EXPECT_EQ(dispatcher_.pendingTimers(), 0u);
}

}  // namespace
}  // namespace switchyard::upstream
