// The gated rollout driven with simulated time: whole rollouts in milliseconds.
#include "proxy/rollback/rollout.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "proxy/rollback/state_file.h"
#include "tests/unit/rollback/fixtures.h"
#include "tests/unit/rollback/temp_dir.h"

namespace switchyard::rollback {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using Action = RolloutController::Action;

class FakeRolloutControl final : public RolloutControl {
 public:
  std::string setWeights(const std::string& route, const std::string& version,
                         const std::map<std::string, uint32_t>& weights) override {
    std::string text;
    for (const auto& [cluster, weight] : weights) {
      text += (text.empty() ? "" : ",") + cluster + "=" + std::to_string(weight);
    }
    calls.push_back("set_weights " + route + " " + version + " " + text);
    return fail_weights;
  }
  bool migrationHalted() const override { return halted; }
  std::optional<RouteStatus> rollbackStatus(const std::string&) const override { return status; }
  std::string triggerRollback(const std::string& route, const std::string& reason) override {
    calls.push_back("rollback " + route + ": " + reason);
    if (status) status = RouteStatus::RollingBack;
    return "";
  }

  std::vector<std::string> calls;
  std::string fail_weights;
  bool halted = false;
  std::optional<RouteStatus> status = RouteStatus::Active;
};

class FakeMismatches final : public MismatchSource {
 public:
  std::optional<Counts> counts(const std::string&) const override { return counts_; }
  std::optional<Counts> counts_;
};

// api: v1 on legacy; v2 splits between modern (the new side) and legacy (the old side).
std::shared_ptr<config::Config> routes(const config::RolloutConfig& rollout) {
  auto c = std::make_shared<config::Config>();
  for (const char* name : {"legacy", "modern"}) {
    config::ClusterConfig cluster;
    cluster.name = name;
    c->clusters.push_back(cluster);
  }
  config::RouteConfig api;
  api.name = "api";
  config::VersionConfig v1;
  v1.name = "v1";
  v1.target.split = {{"legacy", 1}};
  config::VersionConfig v2;
  v2.name = "v2";
  v2.target.split = {{"modern", 0}, {"legacy", 100}};
  api.versions = {v1, v2};
  api.default_version = "v2";
  api.rollout = std::make_shared<const config::RolloutConfig>(rollout);
  c->routes = {api};
  return c;
}

config::RolloutConfig defaultRollout() {
  config::RolloutConfig r;
  r.steps = {10, 50, 100};
  r.hold = 10min;
  r.gates.max_error_ratio_vs_baseline = 1.5;
  r.gates.max_p95 = 1s;
  r.gates.min_requests = 200;
  return r;
}

const std::map<std::string, std::string> Stable = {{"api", "v1"}};

class RolloutTest : public ::testing::Test {
 protected:
  void SetUp() override { start(); }

  void start(const config::RolloutConfig& rollout = defaultRollout(), std::string file = "") {
    controller_.reset();
    registry_ = std::make_unique<prometheus::Registry>();
    config_ = routes(rollout);
    controller_ = std::make_unique<RolloutController>(control_, time_, *registry_, file);
    controller_->configure(*config_, Stable);
  }

  // `n` requests on one side of v2: every `error_every`-th one a 503 (0: none), each taking
  // `latency`.
  void traffic(const std::string& cluster, int n, int error_every = 0,
               common::Duration latency = 20ms) {
    router::RequestObserver* o = controller_->observer("api", "v2", cluster);
    ASSERT_NE(o, nullptr) << cluster;
    for (int i = 1; i <= n; ++i) {
      o->record(time_.monotonicNow(), error_every > 0 && i % error_every == 0 ? 503 : 200, latency);
    }
  }
  json view() { return controller_->view()["routes"][0]; }
  std::string state() { return view()["state"]; }
  uint32_t weight() { return view()["weight"]; }
  double metric(const std::string& name, const std::map<std::string, std::string>& labels) {
    return test::metricValue(*registry_, name, labels);
  }
  // Healthy traffic for one hold, then an evaluation.
  void healthyHold() {
    traffic("modern", 300);
    traffic("legacy", 300, 50);
    time_.advance(10min);
    controller_->tick();
  }

  common::SimulatedTimeSource time_;
  FakeRolloutControl control_;
  std::unique_ptr<prometheus::Registry> registry_;
  std::shared_ptr<config::Config> config_;
  std::unique_ptr<RolloutController> controller_;
};

TEST(RolloutSidesTest, NewVersionIsTheNewestNonStableOneAndItsSplitHasOneClusterOfEachSide) {
  auto c = routes(defaultRollout());
  RolloutSides sides;
  EXPECT_EQ(rolloutSides(c->routes[0], "v1", sides), "");
  EXPECT_EQ(sides.version, "v2");
  EXPECT_EQ(sides.stable_version, "v1");
  EXPECT_EQ(sides.new_cluster, "modern");
  EXPECT_EQ(sides.old_cluster, "legacy");

  config::RouteConfig r = c->routes[0];
  r.versions[1].target.split = {{"modern", 1}};
  EXPECT_NE(rolloutSides(r, "v1", sides).find("exactly two clusters"), std::string::npos);
  r.versions[1].target.split = {{"modern", 1}, {"other", 1}};
  EXPECT_NE(rolloutSides(r, "v1", sides).find("one cluster of \"v1\""), std::string::npos);
  r.versions.pop_back();
  EXPECT_NE(rolloutSides(r, "v1", sides).find("at least two versions"), std::string::npos);
}

TEST_F(RolloutTest, AdvancesTenFiftyHundredWithHealthyFigures) {
  EXPECT_EQ(state(), "pending");
  EXPECT_EQ(metric("switchyard_rollout_state", {{"route", "api"}, {"state", "pending"}}), 1);
  controller_->tick();
  EXPECT_EQ(state(), "progressing");
  EXPECT_EQ(weight(), 10u);
  EXPECT_EQ(control_.calls.back(), "set_weights api v2 legacy=90,modern=10");
  EXPECT_EQ(view()["step"], 1);
  EXPECT_FALSE(view()["next_evaluation_at"].is_null());

  // Gates hold, but the hold has not passed: no step yet.
  traffic("modern", 300);
  traffic("legacy", 300, 50);
  time_.advance(9min);
  controller_->tick();
  EXPECT_EQ(weight(), 10u);
  EXPECT_EQ(view()["gates"]["new"]["requests"], 300);
  EXPECT_EQ(view()["gates"]["old"]["errors"], 6);

  time_.advance(1min);
  controller_->tick();
  EXPECT_EQ(weight(), 50u);
  EXPECT_EQ(state(), "progressing");
  EXPECT_EQ(control_.calls.back(), "set_weights api v2 legacy=50,modern=50");
  EXPECT_EQ(metric("switchyard_rollout_step", {{"route", "api"}}), 50);
  // A new hold: its figures start from zero.
  EXPECT_TRUE(view()["gates"].is_null());

  healthyHold();
  EXPECT_EQ(weight(), 100u);
  EXPECT_EQ(state(), "completed");
  EXPECT_EQ(control_.calls.back(), "set_weights api v2 legacy=0,modern=100");
  EXPECT_EQ(metric("switchyard_rollout_state", {{"route", "api"}, {"state", "completed"}}), 1);
  EXPECT_EQ(metric("switchyard_rollout_state", {{"route", "api"}, {"state", "progressing"}}), 0);
  EXPECT_EQ(metric("switchyard_rollout_transitions_total", {{"route", "api"}, {"to", "completed"}}),
            1);
  const json history = view()["history"];
  ASSERT_GE(history.size(), 4u);
  EXPECT_EQ(history.back()["to"], "completed");
  EXPECT_EQ(history.back()["by"], "rollout");
  EXPECT_NE(history.back()["reason"].get<std::string>().find("gates held"), std::string::npos);
  EXPECT_TRUE(view()["next_evaluation_at"].is_null());
}

TEST_F(RolloutTest, HoldsPastTheHoldWhileTheNewSideHasFewerThanMinRequests) {
  controller_->tick();
  traffic("modern", 199);
  traffic("legacy", 2000);
  time_.advance(30min);
  controller_->tick();
  EXPECT_EQ(weight(), 10u);
  EXPECT_EQ(state(), "progressing");
  EXPECT_EQ(view()["holding_for_requests"], true);
  EXPECT_EQ(view()["gates"]["gates"][0]["result"], "waiting");
  traffic("modern", 1);
  controller_->tick();
  EXPECT_EQ(weight(), 50u);
}

TEST_F(RolloutTest, AbortsAtTenAndRunsTheRollbackPlanWhenTheNewSideErrsThreeTimesTheOld) {
  controller_->tick();
  traffic("modern", 300, 17);   // 17 errors: 5.7%
  traffic("legacy", 3000, 50);  // 2%
  time_.advance(1min);
  controller_->tick();
  EXPECT_EQ(state(), "aborted");
  EXPECT_EQ(weight(), 0u);
  ASSERT_GE(control_.calls.size(), 2u);
  EXPECT_EQ(control_.calls[control_.calls.size() - 2], "set_weights api v2 legacy=100,modern=0");
  const std::string rollback = control_.calls.back();
  EXPECT_EQ(rollback.rfind("rollback api: gate failed at 10%: max_error_ratio_vs_baseline", 0), 0u)
      << rollback;
  EXPECT_NE(rollback.find("5.7% (17/300) above 3%"), std::string::npos) << rollback;
  const json gates = view()["gates"]["gates"];
  EXPECT_EQ(gates[1]["gate"], "max_error_ratio_vs_baseline");
  EXPECT_EQ(gates[1]["result"], "fail");
  EXPECT_EQ(metric("switchyard_rollout_transitions_total", {{"route", "api"}, {"to", "aborted"}}),
            1);
  // Ended: nothing more happens.
  control_.calls.clear();
  time_.advance(1h);
  controller_->tick();
  EXPECT_TRUE(control_.calls.empty());
}

TEST_F(RolloutTest, AnOldSideWithoutErrorsIsComparedAgainstTheFloor) {
  controller_->tick();
  traffic("modern", 400, 100);  // 1%: within 1.5 x the 1% floor
  traffic("legacy", 400);
  time_.advance(10min);
  controller_->tick();
  EXPECT_EQ(weight(), 50u);
  traffic("modern", 400, 50);  // 2%: above it
  traffic("legacy", 400);
  controller_->tick();
  EXPECT_EQ(state(), "aborted");
  EXPECT_NE(view()["history"].back()["reason"].get<std::string>().find("floor 1%"),
            std::string::npos);
}

TEST_F(RolloutTest, ErrorsBelowMinRequestsAreNotJudged) {
  controller_->tick();
  traffic("modern", 199, 1);  // every one a 503
  traffic("legacy", 300);
  controller_->tick();
  EXPECT_EQ(state(), "progressing");
  traffic("modern", 1, 1);
  controller_->tick();
  EXPECT_EQ(state(), "aborted");
}

TEST_F(RolloutTest, AbortsWhenTheNewSidesP95IsAboveMaxP95) {
  controller_->tick();
  traffic("modern", 280, 0, 20ms);
  traffic("modern", 20, 0, 1500ms);  // 6.7% slower than 1s
  traffic("legacy", 300);
  controller_->tick();
  EXPECT_EQ(state(), "aborted");
  EXPECT_NE(control_.calls.back().find("max_p95"), std::string::npos) << control_.calls.back();
}

TEST_F(RolloutTest, TheMismatchGateIsReportedUnevaluatedWithoutASourceAndJudgedWithOne) {
  config::RolloutConfig r = defaultRollout();
  r.gates.max_mismatch_ratio = 0.01;
  start(r);
  controller_->tick();
  healthyHold();
  EXPECT_EQ(weight(), 50u);
  // The last figures before the step are gone with the new hold; look at a fresh evaluation.
  traffic("modern", 10);
  controller_->tick();
  json gates = view()["gates"]["gates"];
  ASSERT_EQ(gates.size(), 4u);
  EXPECT_EQ(gates[3]["gate"], "max_mismatch_ratio");
  EXPECT_EQ(gates[3]["result"], "not_evaluated");

  FakeMismatches mismatches;
  mismatches.counts_ = MismatchSource::Counts{100, 0};
  controller_->setMismatchSource(&mismatches);
  controller_->act(Action::Pause, "api", "", "test");
  controller_->act(Action::Resume, "api", "", "test");  // a new hold, from the source's counts
  mismatches.counts_ = MismatchSource::Counts{200, 5};  // 5 of the last 100
  traffic("modern", 300);
  traffic("legacy", 300);
  controller_->tick();
  EXPECT_EQ(state(), "aborted");
  EXPECT_NE(view()["history"].back()["reason"].get<std::string>().find("max_mismatch_ratio"),
            std::string::npos);
  controller_->setMismatchSource(nullptr);
}

TEST_F(RolloutTest, PauseResumePromoteAbortAndTheirConflicts) {
  EXPECT_EQ(controller_->act(Action::Resume, "api", "", "api").status, 409);
  EXPECT_EQ(controller_->act(Action::Pause, "nope", "", "api").status, 404);
  controller_->tick();

  auto r = controller_->act(Action::Pause, "api", "investigating", "console");
  ASSERT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(r.view["state"], "paused");
  EXPECT_EQ(r.view["paused_reason"], "investigating");
  EXPECT_EQ(controller_->act(Action::Pause, "api", "", "api").status, 409);
  // Paused: the hold does not run out.
  traffic("modern", 300);
  time_.advance(1h);
  controller_->tick();
  EXPECT_EQ(weight(), 10u);
  EXPECT_EQ(state(), "paused");

  control_.calls.clear();
  r = controller_->act(Action::Resume, "api", "", "api");
  ASSERT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(r.view["state"], "progressing");
  EXPECT_EQ(control_.calls, std::vector<std::string>{"set_weights api v2 legacy=90,modern=10"});
  // The hold starts again on resume: the traffic from before does not count.
  time_.advance(10min);
  controller_->tick();
  EXPECT_EQ(weight(), 10u);
  EXPECT_EQ(view()["holding_for_requests"], true);

  r = controller_->act(Action::Promote, "api", "", "api");
  ASSERT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(r.view["state"], "completed");
  EXPECT_EQ(r.view["weight"], 100);
  EXPECT_EQ(control_.calls.back(), "set_weights api v2 legacy=0,modern=100");
  r = controller_->act(Action::Promote, "api", "", "api");
  EXPECT_EQ(r.status, 409);
  EXPECT_NE(r.error.find("completed"), std::string::npos) << r.error;
  EXPECT_EQ(controller_->act(Action::Resume, "api", "", "api").status, 409);

  r = controller_->act(Action::Abort, "api", "v2 pages", "api");
  ASSERT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(r.view["state"], "aborted");
  EXPECT_EQ(r.view["weight"], 0);
  EXPECT_EQ(control_.calls.back(), "set_weights api v2 legacy=100,modern=0");
  EXPECT_EQ(r.view["history"].back()["reason"], "v2 pages");
  // An operator's abort does not run the rollback plan.
  for (const std::string& call : control_.calls)
    EXPECT_EQ(call.find("rollback"), std::string::npos);
  EXPECT_EQ(controller_->act(Action::Abort, "api", "", "api").status, 409);
  EXPECT_EQ(controller_->act(Action::Pause, "api", "", "api").status, 409);
  EXPECT_EQ(controller_->act(Action::Promote, "api", "", "api").status, 409);

  // Ended: it may start again from the first step.
  r = controller_->act(Action::Restart, "api", "", "api");
  ASSERT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(r.view["state"], "pending");
  EXPECT_TRUE(r.view["step"].is_null());
  EXPECT_EQ(controller_->act(Action::Restart, "api", "", "api").status, 409);
  controller_->tick();
  EXPECT_EQ(state(), "progressing");
  EXPECT_EQ(weight(), 10u);
}

TEST_F(RolloutTest, ARestartWaitsForTheRollbackToBeResumed) {
  controller_->tick();
  traffic("modern", 300, 1);
  traffic("legacy", 300);
  controller_->tick();
  ASSERT_EQ(state(), "aborted");
  ASSERT_EQ(control_.status, RouteStatus::RollingBack);
  auto r = controller_->act(Action::Restart, "api", "", "api");
  EXPECT_EQ(r.status, 409);
  EXPECT_NE(r.error.find("POST /rollback/resume first"), std::string::npos) << r.error;
  control_.status = RouteStatus::Active;
  EXPECT_EQ(controller_->act(Action::Restart, "api", "", "api").status, 200);
}

TEST_F(RolloutTest, RefusedWeightsLeaveTheStateAsItWas) {
  controller_->tick();
  controller_->act(Action::Pause, "api", "", "api");
  control_.fail_weights = "no such split";
  auto r = controller_->act(Action::Resume, "api", "", "api");
  EXPECT_EQ(r.status, 502);
  EXPECT_EQ(state(), "paused");
  r = controller_->act(Action::Promote, "api", "", "api");
  EXPECT_EQ(r.status, 502);
  EXPECT_EQ(state(), "paused");
  EXPECT_EQ(weight(), 10u);
}

TEST_F(RolloutTest, TheKillSwitchPausesAndResumeWaitsForItToBeLifted) {
  control_.halted = true;
  controller_->tick();
  EXPECT_EQ(state(), "pending");  // does not start while halted
  control_.halted = false;
  controller_->tick();
  EXPECT_EQ(state(), "progressing");
  control_.halted = true;
  controller_->tick();
  EXPECT_EQ(state(), "paused");
  EXPECT_EQ(view()["history"].back()["by"], "halt");
  auto r = controller_->act(Action::Resume, "api", "", "api");
  EXPECT_EQ(r.status, 409);
  EXPECT_NE(r.error.find("halted"), std::string::npos);
  control_.halted = false;
  EXPECT_EQ(controller_->act(Action::Resume, "api", "", "api").status, 200);
}

TEST_F(RolloutTest, AManualWeightChangeOfTheSplitPausesIt) {
  controller_->tick();
  controller_->onManualWeights("api", "v1", "api");  // another split: ignored
  EXPECT_EQ(state(), "progressing");
  controller_->onManualWeights("api", "v2", "console");
  EXPECT_EQ(state(), "paused");
  EXPECT_EQ(view()["history"].back()["by"], "console");
  EXPECT_NE(view()["paused_reason"].get<std::string>().find("by hand"), std::string::npos);
}

TEST_F(RolloutTest, ARollbackOfTheRouteAbortsIt) {
  controller_->tick();
  control_.status = RouteStatus::RolledBack;
  control_.calls.clear();
  controller_->tick();
  EXPECT_EQ(state(), "aborted");
  EXPECT_EQ(view()["history"].back()["by"], "rollback");
  // It does not start the plan again.
  EXPECT_EQ(control_.calls, std::vector<std::string>{"set_weights api v2 legacy=100,modern=0"});
}

TEST_F(RolloutTest, AReloadKeepsTheStateUnlessTheRolloutSettingsChanged) {
  controller_->tick();
  healthyHold();
  EXPECT_EQ(weight(), 50u);
  auto same = routes(defaultRollout());
  controller_->configure(*same, Stable);
  EXPECT_EQ(weight(), 50u);
  EXPECT_EQ(state(), "progressing");

  config::RolloutConfig changed = defaultRollout();
  changed.hold = 5min;
  controller_->configure(*routes(changed), Stable);
  EXPECT_EQ(state(), "pending");
  EXPECT_EQ(weight(), 0u);

  auto without = routes(defaultRollout());
  without->routes[0].rollout.reset();
  controller_->configure(*without, Stable);
  EXPECT_EQ(controller_->view()["routes"].size(), 0u);
  EXPECT_EQ(controller_->observer("api", "v2", "modern"), nullptr);
  EXPECT_EQ(metric("switchyard_rollout_step", {{"route", "api"}}), -1);
  EXPECT_EQ(metric("switchyard_rollout_state", {{"route", "api"}, {"state", "pending"}}), -1);
}

TEST_F(RolloutTest, StateSurvivesARestartAndTheHoldStartsAgain) {
  test::TempDir dir;
  const std::string file = dir.path() + "/rollback.json.rollout";
  start(defaultRollout(), file);
  controller_->tick();
  healthyHold();
  ASSERT_EQ(weight(), 50u);
  traffic("modern", 300);
  traffic("legacy", 300);
  time_.advance(9min);  // one minute short of the next step

  start(defaultRollout(), file);
  EXPECT_EQ(state(), "progressing");
  EXPECT_EQ(weight(), 50u);
  EXPECT_EQ(view()["step"], 2);
  EXPECT_GE(view()["history"].size(), 3u);
  // The figures from before the restart are gone and the hold starts again in full: a restart
  // never promotes early.
  traffic("modern", 300);
  traffic("legacy", 300);
  time_.advance(9min);
  controller_->tick();
  EXPECT_EQ(weight(), 50u);
  time_.advance(1min);
  controller_->tick();
  EXPECT_EQ(state(), "completed");

  // Saved for other settings: starts anew.
  config::RolloutConfig changed = defaultRollout();
  changed.steps = {25, 100};
  start(changed, file);
  EXPECT_EQ(state(), "pending");
}

TEST_F(RolloutTest, AnUnreadableStateFileIsMovedAside) {
  test::TempDir dir;
  const std::string file = dir.path() + "/rollback.json.rollout";
  ASSERT_EQ(writeFileAtomically(file, "{not json"), "");
  start(defaultRollout(), file);
  EXPECT_EQ(state(), "pending");
  bool moved = false;
  for (const std::string& name : dir.entries()) {
    moved = moved || name.find("rollout.corrupt-") != std::string::npos;
  }
  EXPECT_TRUE(moved);
}

TEST(RolloutCodecTest, RoundTrip) {
  RolloutRecord r;
  r.state = RolloutState::Paused;
  r.step = 1;
  r.weight = 50;
  r.paused_reason = "why";
  r.step_started_at = "2026-01-01T00:00:00.000Z";
  r.history.push_back({"2026-01-01T00:00:00.000Z", "progressing", "paused", 50, "why", "api"});
  r.settings = rolloutSettingsJson(defaultRollout());
  std::map<std::string, RolloutRecord> out;
  std::string error;
  ASSERT_TRUE(decodeRolloutState(encodeRolloutState({{"api", r}}), out, error)) << error;
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out["api"].state, RolloutState::Paused);
  EXPECT_EQ(out["api"].step, 1);
  EXPECT_EQ(out["api"].weight, 50u);
  EXPECT_EQ(out["api"].paused_reason, "why");
  ASSERT_EQ(out["api"].history.size(), 1u);
  EXPECT_EQ(out["api"].history[0].by, "api");
  EXPECT_EQ(out["api"].settings, r.settings);

  EXPECT_FALSE(decodeRolloutState(json{{"format", 2}}, out, error));
  json bad = encodeRolloutState({{"api", r}});
  bad["routes"]["api"]["state"] = "sideways";
  EXPECT_FALSE(decodeRolloutState(bad, out, error));
  bad = encodeRolloutState({{"api", r}});
  bad["routes"]["api"]["weight"] = 101;
  EXPECT_FALSE(decodeRolloutState(bad, out, error));
  bad = encodeRolloutState({{"api", r}});
  bad["routes"]["api"].erase("history");
  EXPECT_FALSE(decodeRolloutState(bad, out, error));
}

}  // namespace
}  // namespace switchyard::rollback
