#include "proxy/rollback/manager.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "proxy/rollback/state_file.h"
#include "tests/unit/rollback/manager_fixture.h"

namespace switchyard::rollback {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

Trigger trig(TriggerKind kind, std::string reason) {
  Trigger t;
  t.kind = kind;
  t.reason = std::move(reason);
  return t;
}

// The engine on its own; its admin endpoints are tested in admin_handlers_test.cc.
class ManagerTest : public test::ManagerFixture {};

TEST_F(ManagerTest, AFailedStepStopsThePlan) {
  RollbackManager& m = make(standardPlan());
  m.load();
  control_.failPin("route api has no version v1");
  RollbackManager::TriggerResult t = m.trigger("api", trig(TriggerKind::Manual, "test"));
  ASSERT_EQ(t.outcome, RollbackManager::Outcome::Started);
  m.runOnce();
  std::optional<Execution> e = m.execution(t.execution_id);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->status, "failed");
  EXPECT_EQ(e->steps[0].status, "succeeded");
  EXPECT_EQ(e->steps[1].status, "failed");
  EXPECT_EQ(e->steps[1].log.back(),
            "2026-01-01T00:00:00.000Z attempt 1: pin api to v1: route api has no version v1");
  EXPECT_EQ(e->steps[2].status, "skipped");
  EXPECT_EQ(e->steps[3].status, "skipped");
  EXPECT_EQ(e->steps[3].attempts, 0u);
  EXPECT_EQ(sink_.requestCount(), 0u);
  EXPECT_EQ(m.routeStatus("api"), RouteStatus::RollbackFailed);
  EXPECT_EQ(m.stateJson()["routes"]["api"]["state"], "rollback_failed");
  EXPECT_EQ(metric("switchyard_rollback_step_failures_total",
                   {{"route", "api"}, {"step", "pin_version"}}),
            1);
  EXPECT_EQ(metric("switchyard_rollback_active", {{"route", "api"}}), 1);
  // A failed rollback can be retried by an operator (or a new alert), not by the guard.
  EXPECT_EQ(m.trigger("api", trig(TriggerKind::Guard, "g")).outcome,
            RollbackManager::Outcome::AlreadyRolledBack);
  control_.failPin("");
  ASSERT_EQ(m.trigger("api", trig(TriggerKind::Manual, "again")).outcome,
            RollbackManager::Outcome::Started);
  m.runOnce();
  EXPECT_EQ(m.routeStatus("api"), RouteStatus::RolledBack);
}

TEST_F(ManagerTest, RetriesWaitTheirBackoffAndCountAttempts) {
  int calls = 0;
  std::vector<std::string> bodies;
  ManagerOptions options;
  options.http = [&](const HttpUrl&, const std::vector<std::pair<std::string, std::string>>&,
                     const std::string& body, milliseconds timeout) {
    EXPECT_EQ(timeout, milliseconds(2000));
    bodies.push_back(body);
    HttpPostResult r;
    if (++calls < 3) {
      r.status = 503;
      r.body = "deploying";
    } else {
      r.status = 200;
    }
    return r;
  };
  RollbackManager& m = make(
      "rollback:\n"
      "  plans:\n"
      "    - route: simple\n"
      "      steps:\n"
      "        - webhook: {url: 'http://127.0.0.1:9/x'}\n"
      "          timeout: 2s\n"
      "          retry: {attempts: 3, backoff: 500ms}\n"
      "        - set_weights: {weights: {modern: 1}}\n",
      options);
  m.load();
  auto t = m.trigger("simple", trig(TriggerKind::Manual, "why"));
  common::MonotonicTime next = m.runOnce();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(next, time_.monotonicNow() + milliseconds(500));
  time_.advance(milliseconds(499));
  m.runOnce();
  EXPECT_EQ(calls, 1);
  time_.advance(milliseconds(1));
  m.runOnce();
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(m.execution(t.execution_id)->steps[0].status, "running");
  time_.advance(milliseconds(500));
  m.runOnce();
  EXPECT_EQ(calls, 3);
  Execution e = *m.execution(t.execution_id);
  EXPECT_EQ(e.status, "succeeded");
  EXPECT_EQ(e.steps[0].attempts, 3u);
  EXPECT_EQ(e.steps[0].started_at, "2026-01-01T00:00:00.000Z");
  EXPECT_EQ(e.steps[0].finished_at, "2026-01-01T00:00:01.000Z");
  EXPECT_EQ(e.steps[0].log,
            (std::vector<std::string>{
                "2026-01-01T00:00:00.000Z attempt 1: POST http://127.0.0.1:9/x -> 503: deploying",
                "2026-01-01T00:00:00.000Z retrying in 500ms (2 attempts left)",
                "2026-01-01T00:00:00.500Z attempt 2: POST http://127.0.0.1:9/x -> 503: deploying",
                "2026-01-01T00:00:00.500Z retrying in 500ms (1 attempts left)",
                "2026-01-01T00:00:01.000Z attempt 3: POST http://127.0.0.1:9/x -> 200"}));
  // The default body names what happened.
  json body = json::parse(bodies[0]);
  EXPECT_EQ(body["route"], "simple");
  EXPECT_EQ(body["reason"], "why");
  EXPECT_EQ(body["trigger"], "manual");
  EXPECT_EQ(body["execution_id"], t.execution_id);
  EXPECT_EQ(body["version"], "");
  EXPECT_EQ(control_.calls(), std::vector<std::string>{"set_weights simple  modern=1"});
}

TEST_F(ManagerTest, RetriesRunOutAndTheStepFails) {
  ManagerOptions options;
  options.http = [](const HttpUrl&, const std::vector<std::pair<std::string, std::string>>&,
                    const std::string&, milliseconds) {
    HttpPostResult r;
    r.error = "connect: Connection refused";
    return r;
  };
  RollbackManager& m = make(
      "rollback:\n"
      "  plans:\n"
      "    - route: simple\n"
      "      steps:\n"
      "        - notify: {url: 'http://127.0.0.1:9/x', message: hi}\n"
      "          retry: {attempts: 2, backoff: 1s}\n",
      options);
  m.load();
  auto t = m.trigger("simple", trig(TriggerKind::Manual, "why"));
  m.runOnce();
  time_.advance(seconds(1));
  m.runOnce();
  Execution e = *m.execution(t.execution_id);
  EXPECT_EQ(e.status, "failed");
  EXPECT_EQ(e.steps[0].attempts, 2u);
  EXPECT_EQ(e.steps[0].log.back(),
            "2026-01-01T00:00:01.000Z attempt 2: POST http://127.0.0.1:9/x failed: connect: "
            "Connection refused");
  EXPECT_EQ(
      metric("switchyard_rollback_step_failures_total", {{"route", "simple"}, {"step", "notify"}}),
      1);
}

TEST_F(ManagerTest, AWebhookThatHangsTimesOut) {
  sink_.setHang(true);
  RollbackManager& m = make(
      "rollback:\n"
      "  plans:\n"
      "    - route: simple\n"
      "      steps:\n"
      "        - webhook: {url: '" +
      sink_.url("/slow") +
      "'}\n"
      "          timeout: 100ms\n");
  m.load();
  auto t = m.trigger("simple", trig(TriggerKind::Manual, "why"));
  m.runOnce();  // blocks for the step's 100 ms (real time: a socket timeout)
  Execution e = *m.execution(t.execution_id);
  EXPECT_EQ(e.status, "failed");
  EXPECT_EQ(e.steps[0].log.back(), "2026-01-01T00:00:00.000Z attempt 1: POST " +
                                       sink_.url("/slow") +
                                       " failed: waiting for the response: timed out");
  EXPECT_EQ(sink_.requestCount(), 1u);
}

TEST_F(ManagerTest, ResumeSaysWhyItCannot) {
  using R = RollbackManager::ResumeOutcome;
  RollbackManager& m = make(standardPlan());
  m.load();
  EXPECT_EQ(m.resume("nope").outcome, R::NoPlan);
  EXPECT_EQ(m.resume("simple").outcome, R::NoPlan);  // configured, but without a plan
  EXPECT_EQ(m.resume("api").outcome, R::Active);
  const std::string id = m.trigger("api", trig(TriggerKind::Manual, "r")).execution_id;
  RollbackManager::ResumeResult r = m.resume("api");
  EXPECT_EQ(r.outcome, R::InProgress);
  EXPECT_EQ(r.execution_id, id);
  EXPECT_TRUE(control_.calls().empty());
  m.runOnce();
  control_.clear();
  control_.failResume("overrides are locked");
  r = m.resume("api");
  EXPECT_EQ(r.outcome, R::ControlFailed);
  EXPECT_EQ(r.error, "overrides are locked");
  EXPECT_EQ(m.routeStatus("api"), RouteStatus::RolledBack);
  control_.failResume("");
  r = m.resume("api");
  EXPECT_EQ(r.outcome, R::Resumed);
  EXPECT_EQ(r.execution_id, id);
  EXPECT_EQ(m.routeStatus("api"), RouteStatus::Active);
  EXPECT_EQ(control_.calls(), (std::vector<std::string>{"resume api", "resume api"}));
}

TEST_F(ManagerTest, ReceivedAlertsGetADecisionEach) {
  RollbackManager& m = make(standardPlan());
  m.load();
  AlertmanagerPayload parsed;
  std::string error;
  ASSERT_TRUE(parseAlertmanagerPayload(payload([](json& d) {
                                         json other = d["alerts"][0];
                                         other["labels"]["cluster"] = "elsewhere";
                                         other["fingerprint"] = "other";
                                         d["alerts"].push_back(other);
                                       }),
                                       parsed, error))
      << error;
  std::vector<AlertDecision> d = m.receiveAlerts(parsed);
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].result, AlertResult::Accepted);
  EXPECT_EQ(d[0].fingerprint, "0f12e33329fd4126");
  EXPECT_EQ(d[0].alertname, "SidecarCanaryHighErrorRatio");
  EXPECT_EQ(d[0].status, "firing");
  ASSERT_EQ(d[0].routes.size(), 1u);
  EXPECT_EQ(d[0].routes[0].route, "api");
  EXPECT_EQ(d[0].routes[0].outcome, TriggerOutcome::Started);
  EXPECT_EQ(d[0].routes[0].execution_id, m.executions().at(0).id);
  EXPECT_EQ(d[1].result, AlertResult::Unmatched);
  EXPECT_TRUE(d[1].routes.empty());
  EXPECT_EQ(m.routeStatus("api"), RouteStatus::RollingBack);

  // Again: both are duplicates, neither is recorded again.
  d = m.receiveAlerts(parsed);
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].result, AlertResult::Duplicate);
  EXPECT_EQ(d[1].result, AlertResult::Duplicate);
  EXPECT_EQ(m.executions().size(), 1u);
  EXPECT_EQ(m.stateJson()["alerts"].size(), 2u);
  EXPECT_EQ(metric("switchyard_rollback_webhooks_total", {{"result", "duplicate"}}), 2);
  EXPECT_EQ(metric("switchyard_rollback_webhooks_total", {{"result", "invalid"}}), 0);
  m.recordRejectedWebhook();
  EXPECT_EQ(metric("switchyard_rollback_webhooks_total", {{"result", "invalid"}}), 1);
}

TEST_F(ManagerTest, TheGuardTriggersOnceWhileTheRouteIsActive) {
  RollbackManager& m = make(
      "rollback:\n"
      "  plans:\n"
      "    - route: api\n"
      "      steps: [{set_weights: {version: v2, weights: {legacy: 100}}}]\n"
      "      guard: {version: v2, window: 10s, min_requests: 10, max_error_ratio: 0.1}\n");
  m.load();
  EXPECT_EQ(m.guard("simple"), nullptr);
  Guard* guard = m.guard("api");
  ASSERT_NE(guard, nullptr);
  for (int i = 0; i < 9; ++i) guard->record(time_.monotonicNow(), 503, milliseconds(5));
  m.runOnce();
  EXPECT_TRUE(m.executions().empty());  // below min_requests
  guard->record(time_.monotonicNow(), 503, milliseconds(5));
  m.runOnce();
  EXPECT_TRUE(m.executions().empty());  // the guard is polled every 250 ms, not on every pass
  time_.advance(milliseconds(250));
  m.runOnce();
  ASSERT_EQ(m.executions().size(), 1u);
  Execution e = m.executions()[0];
  EXPECT_EQ(e.trigger.kind, TriggerKind::Guard);
  EXPECT_EQ(e.trigger.reason, "error ratio 100% over 10s (10/10) above 10%");
  EXPECT_EQ(e.status, "succeeded");
  EXPECT_EQ(metric("switchyard_rollbacks_total", {{"route", "api"}, {"trigger", "guard"}}), 1);
  // Still breached, but the route is rolled back: no second execution.
  time_.advance(milliseconds(250));
  m.runOnce();
  EXPECT_EQ(m.executions().size(), 1u);
  // Resuming starts the guard afresh, so the old errors do not roll it back at once.
  time_.advance(seconds(1));
  EXPECT_EQ(m.resume("api").outcome, RollbackManager::ResumeOutcome::Resumed);
  time_.advance(milliseconds(250));
  m.runOnce();
  EXPECT_EQ(m.executions().size(), 1u);
  EXPECT_EQ(m.stateJson()["routes"]["api"]["guard"]["requests"], 0);
}

// api's plan is the standard one, started when every endpoint of cluster v2 is down; simple's
// plan watches modern.
class RollbackClusterHealthTest : public ManagerTest {
 protected:
  RollbackManager& makeWatching() {
    return make(standardPlan() +
                "      trigger: {cluster_unhealthy: v2}\n"
                "    - route: simple\n"
                "      steps: [{set_weights: {weights: {modern: 1}}}]\n"
                "      trigger: {cluster_unhealthy: modern}\n");
  }
  static constexpr const char* Reason =
      "every endpoint of cluster v2 failed its health checks: 3 of 3 endpoints failed 3 "
      "consecutive probes";
  static constexpr const char* Detail = "3 of 3 endpoints failed 3 consecutive probes";
};

TEST_F(RollbackClusterHealthTest, StartsThePlanOnTheTransitionAndRecordsIt) {
  RollbackManager& m = makeWatching();
  m.load();
  EXPECT_EQ(m.stateJson()["routes"]["api"]["cluster_health"],
            (json{{"cluster", "v2"}, {"every_endpoint_unhealthy", false}}));
  EXPECT_EQ(
      metric("switchyard_rollbacks_total", {{"route", "api"}, {"trigger", "cluster_unhealthy"}}),
      0);
  m.onClusterHealth("v2", false, "");
  EXPECT_TRUE(m.executions().empty());

  m.onClusterHealth("v2", true, Detail);
  ASSERT_EQ(m.executions().size(), 1u);
  const Execution started = m.executions()[0];
  EXPECT_EQ(started.route, "api");
  EXPECT_EQ(started.trigger.kind, TriggerKind::ClusterUnhealthy);
  EXPECT_EQ(started.trigger.reason, Reason);
  EXPECT_EQ(m.routeStatus("api"), RouteStatus::RollingBack);
  EXPECT_EQ(m.routeStatus("simple"), RouteStatus::Active);
  EXPECT_EQ(
      metric("switchyard_rollbacks_total", {{"route", "api"}, {"trigger", "cluster_unhealthy"}}),
      1);
  EXPECT_EQ(
      metric("switchyard_rollbacks_total", {{"route", "simple"}, {"trigger", "cluster_unhealthy"}}),
      0);
  EXPECT_EQ(metric("switchyard_rollback_active", {{"route", "api"}}), 1);

  m.runOnce();
  EXPECT_EQ(m.routeStatus("api"), RouteStatus::RolledBack);
  EXPECT_EQ(control_.calls(),
            (std::vector<std::string>{"set_weights api v2 legacy=100", "pin api v1"}));
  // {trigger} and {reason} in the steps.
  auto requests = sink_.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(json::parse(requests[0].body)["why"], Reason);
  json chat = json::parse(requests[1].body);
  EXPECT_EQ(chat["trigger"], "cluster_unhealthy");
  EXPECT_EQ(chat["text"], std::string("rolled back api v2 (cluster_unhealthy): ") + Reason);

  // GET /rollback and the state file.
  json state = m.stateJson();
  EXPECT_EQ(
      state["executions"][0]["trigger"],
      (json{{"kind", "cluster_unhealthy"}, {"reason", Reason}, {"triggered_by", "health_check"}}));
  EXPECT_EQ(state["routes"]["api"]["cluster_health"],
            (json{{"cluster", "v2"}, {"every_endpoint_unhealthy", true}}));
  EXPECT_EQ(state["routes"]["simple"]["cluster_health"],
            (json{{"cluster", "modern"}, {"every_endpoint_unhealthy", false}}));
  json saved = json::parse(readState());
  EXPECT_EQ(saved["executions"][0]["trigger"]["kind"], "cluster_unhealthy");
  EXPECT_EQ(saved["routes"]["api"]["state"], "rolled_back");
}

TEST_F(RollbackClusterHealthTest, DoesNotStartAgainWhileTheClusterStaysUnhealthy) {
  RollbackManager& m = makeWatching();
  m.load();
  m.onClusterHealth("v2", true, Detail);
  m.onClusterHealth("v2", true, Detail);  // still running
  m.runOnce();
  m.onClusterHealth("v2", true, Detail);  // rolled back
  EXPECT_EQ(m.executions().size(), 1u);
  // Not even once an operator has resumed the route: the cluster has not recovered since.
  ASSERT_EQ(m.resume("api").outcome, RollbackManager::ResumeOutcome::Resumed);
  m.onClusterHealth("v2", true, Detail);
  EXPECT_EQ(m.executions().size(), 1u);
  EXPECT_EQ(m.routeStatus("api"), RouteStatus::Active);
  EXPECT_EQ(
      metric("switchyard_rollbacks_total", {{"route", "api"}, {"trigger", "cluster_unhealthy"}}),
      1);
}

TEST_F(RollbackClusterHealthTest, RecoveryReArmsWithoutRollingForward) {
  RollbackManager& m = makeWatching();
  m.load();
  m.onClusterHealth("v2", true, Detail);
  m.runOnce();
  control_.clear();
  m.onClusterHealth("v2", false, "");
  EXPECT_EQ(m.routeStatus("api"), RouteStatus::RolledBack);
  EXPECT_TRUE(control_.calls().empty());
  EXPECT_EQ(m.stateJson()["routes"]["api"]["cluster_health"]["every_endpoint_unhealthy"], false);
  ASSERT_EQ(m.resume("api").outcome, RollbackManager::ResumeOutcome::Resumed);
  m.onClusterHealth("v2", false, "");
  EXPECT_EQ(m.executions().size(), 1u);

  m.onClusterHealth("v2", true, "");
  ASSERT_EQ(m.executions().size(), 2u);
  EXPECT_EQ(m.executions()[1].trigger.kind, TriggerKind::ClusterUnhealthy);
  EXPECT_EQ(m.executions()[1].trigger.reason,
            "every endpoint of cluster v2 failed its health checks");
  EXPECT_EQ(
      metric("switchyard_rollbacks_total", {{"route", "api"}, {"trigger", "cluster_unhealthy"}}),
      2);
}

TEST_F(RollbackClusterHealthTest, ClustersNoPlanNamesAreIgnored) {
  RollbackManager& m = makeWatching();
  m.load();
  m.onClusterHealth("legacy", true, Detail);  // a cluster of api, but no plan watches it
  m.onClusterHealth("elsewhere", true, Detail);
  EXPECT_TRUE(m.executions().empty());
  EXPECT_EQ(m.routeStatus("api"), RouteStatus::Active);
  EXPECT_EQ(m.routeStatus("simple"), RouteStatus::Active);
  EXPECT_TRUE(m.stateJson()["routes"]["api"]["cluster_health"]["every_endpoint_unhealthy"] ==
              false);

  // A plan without the trigger shows none.
  RollbackManager& plain = make(standardPlan());
  plain.load();
  plain.onClusterHealth("v2", true, Detail);
  EXPECT_TRUE(plain.executions().empty());
  EXPECT_TRUE(plain.stateJson()["routes"]["api"]["cluster_health"].is_null());
}

TEST_F(RollbackClusterHealthTest, EveryPlanWatchingTheClusterStarts) {
  auto routes = std::make_shared<config::Config>(*routes_);
  routes->routes[1].target.split = {{"v2", 1}};  // simple goes to v2 too
  routes_ = routes;
  RollbackManager& m = make(standardPlan() +
                            "      trigger: {cluster_unhealthy: v2}\n"
                            "    - route: simple\n"
                            "      steps: [{notify: {url: 'http://127.0.0.1:9/x', message: m}}]\n"
                            "      trigger: {cluster_unhealthy: v2}\n");
  m.load();
  m.onClusterHealth("v2", true, Detail);
  ASSERT_EQ(m.executions().size(), 2u);
  EXPECT_EQ(m.executions()[0].route, "api");
  EXPECT_EQ(m.executions()[1].route, "simple");
  EXPECT_EQ(m.executions()[1].trigger.reason, Reason);
  EXPECT_EQ(m.routeStatus("simple"), RouteStatus::RollingBack);
}

TEST_F(RollbackClusterHealthTest, StartsOnlyForAnActiveRouteAsTheGuardDoes) {
  RollbackManager& m = makeWatching();
  m.load();
  // Rolling back already (an operator asked): the report changes nothing.
  const std::string id = m.trigger("api", trig(TriggerKind::Manual, "by hand")).execution_id;
  m.onClusterHealth("v2", true, Detail);
  ASSERT_EQ(m.executions().size(), 1u);
  EXPECT_EQ(m.routeStatus("api"), RouteStatus::RollingBack);
  EXPECT_EQ(m.executions()[0].trigger.kind, TriggerKind::Manual);

  // Rolled back: neither.
  m.runOnce();
  m.onClusterHealth("v2", false, "");
  m.onClusterHealth("v2", true, Detail);
  EXPECT_EQ(m.executions().size(), 1u);
  EXPECT_EQ(m.routeStatus("api"), RouteStatus::RolledBack);

  // A failed rollback is not retried by the health checks (an operator or an alert may).
  ASSERT_EQ(m.resume("api").outcome, RollbackManager::ResumeOutcome::Resumed);
  control_.failPin("pinned elsewhere");
  m.trigger("api", trig(TriggerKind::Manual, "again"));
  m.runOnce();
  ASSERT_EQ(m.routeStatus("api"), RouteStatus::RollbackFailed);
  m.onClusterHealth("v2", false, "");
  m.onClusterHealth("v2", true, Detail);
  EXPECT_EQ(m.executions().size(), 2u);
  EXPECT_EQ(m.trigger("api", trig(TriggerKind::ClusterUnhealthy, "r")).outcome,
            RollbackManager::Outcome::AlreadyRolledBack);
  EXPECT_EQ(m.routeStatus("api"), RouteStatus::RollbackFailed);
  EXPECT_EQ(
      metric("switchyard_rollbacks_total", {{"route", "api"}, {"trigger", "cluster_unhealthy"}}),
      0);
  EXPECT_EQ(m.execution(id)->trigger.reason, "by hand");
}

TEST_F(ManagerTest, RestartReappliesTrafficStepsWithoutCallingOut) {
  {
    RollbackManager& m = make(standardPlan());
    m.load();
    receive(m, payload());
    m.runOnce();
    ASSERT_EQ(m.routeStatus("api"), RouteStatus::RolledBack);
  }
  const std::string id = managers_.back()->executions()[0].id;
  managers_.clear();
  control_.clear();
  const size_t requests = sink_.requestCount();
  time_.advance(seconds(60));

  RollbackManager& m = make(standardPlan());
  m.load();
  EXPECT_EQ(m.routeStatus("api"), RouteStatus::RolledBack);
  EXPECT_EQ(control_.calls(),
            (std::vector<std::string>{"set_weights api v2 legacy=100", "pin api v1"}));
  EXPECT_EQ(sink_.requestCount(), requests);
  m.runOnce();
  EXPECT_EQ(sink_.requestCount(), requests);
  Execution e = *m.execution(id);
  EXPECT_EQ(e.status, "succeeded");
  EXPECT_EQ(e.log, (std::vector<std::string>{
                       "2026-01-01T00:01:00.000Z restart: set weights of api v2 to legacy=100 "
                       "re-applied",
                       "2026-01-01T00:01:00.000Z restart: pin api to v1 re-applied"}));
  EXPECT_EQ(metric("switchyard_rollback_active", {{"route", "api"}}), 1);
  // The idempotency keys survived too.
  EXPECT_EQ(receive(m, payload()).at(0).result, AlertResult::Duplicate);
  // And the next execution id does not reuse an old one.
  m.resume("api");
  auto t = m.trigger("api", trig(TriggerKind::Manual, "again"));
  EXPECT_NE(t.execution_id, id);
  EXPECT_EQ(t.execution_id.rfind("rb-2-", 0), 0u) << t.execution_id;
}

TEST_F(ManagerTest, AnExecutionCutShortByACrashIsMarkedFailed) {
  // What the file holds when the process died during the webhook step of the standard plan.
  json state = {{"format", 1},
                {"next_id", 8},
                {"routes",
                 {{"api", {{"state", "rolling_back"}, {"since", "x"}, {"execution_id", "rb-7-x"}}},
                  {"gone", {{"state", "rolled_back"}, {"since", "x"}, {"execution_id", nullptr}}}}},
                {"executions",
                 {{{"id", "rb-7-x"},
                   {"route", "api"},
                   {"trigger", {{"kind", "guard"}, {"reason", "r"}}},
                   {"started_at", "2025-12-31T23:59:00.000Z"},
                   {"finished_at", nullptr},
                   {"status", "running"},
                   {"steps",
                    {{{"type", "set_weights"},
                      {"status", "succeeded"},
                      {"attempts", 1},
                      {"log", json::array()}},
                     {{"type", "pin_version"}, {"status", "failed"}, {"attempts", 1}},
                     {{"type", "webhook"}, {"status", "running"}, {"attempts", 2}},
                     {{"type", "notify"}, {"status", "pending"}, {"attempts", 0}}}}}}},
                {"alert_keys", {"k1"}},
                {"alerts", json::array()}};
  ASSERT_EQ(writeFileAtomically(statePath(), state.dump()), "");
  RollbackManager& m = make(standardPlan());
  m.load();
  // Only the traffic step that had succeeded is applied again; nothing calls out.
  EXPECT_EQ(control_.calls(), std::vector<std::string>{"set_weights api v2 legacy=100"});
  EXPECT_EQ(sink_.requestCount(), 0u);
  EXPECT_EQ(m.routeStatus("api"), RouteStatus::RolledBack);
  EXPECT_FALSE(m.routeStatus("gone").has_value());
  Execution e = *m.execution("rb-7-x");
  EXPECT_EQ(e.status, "failed");
  EXPECT_EQ(e.finished_at, "2026-01-01T00:00:00.000Z");
  EXPECT_EQ(e.steps[2].status, "failed");
  EXPECT_EQ(e.steps[2].log.back(),
            "2026-01-01T00:00:00.000Z interrupted: the sidecar stopped during this step");
  EXPECT_EQ(e.steps[3].status, "skipped");
  ASSERT_EQ(e.log.size(), 3u);
  EXPECT_EQ(e.log[0],
            "2026-01-01T00:00:00.000Z interrupted: the sidecar stopped while this "
            "execution ran");
  EXPECT_EQ(e.log[1], "2026-01-01T00:00:00.000Z route api is rolled_back after the restart");
  EXPECT_EQ(e.log[2],
            "2026-01-01T00:00:00.000Z restart: set weights of api v2 to legacy=100 re-applied");
  m.runOnce();
  EXPECT_TRUE(m.idle());
  // The corrected state is what is on disk now.
  json saved = json::parse(readState());
  EXPECT_EQ(saved["routes"]["api"]["state"], "rolled_back");
  EXPECT_EQ(saved["executions"][0]["status"], "failed");
  EXPECT_EQ(saved["next_id"], 8);
}

TEST_F(ManagerTest, AnExecutionInterruptedBeforeMovingTrafficLeavesTheRouteFailed) {
  json state = {
      {"format", 1},
      {"next_id", 2},
      {"routes", {{"api", {{"state", "rolling_back"}, {"since", "x"}, {"execution_id", "rb-1"}}}}},
      {"executions",
       {{{"id", "rb-1"},
         {"route", "api"},
         {"trigger", {{"kind", "manual"}, {"reason", "r"}}},
         {"started_at", "x"},
         {"status", "running"},
         {"steps", {{{"type", "set_weights"}, {"status", "running"}, {"attempts", 1}}}}}}}};
  ASSERT_EQ(writeFileAtomically(statePath(), state.dump()), "");
  RollbackManager& m = make(standardPlan());
  m.load();
  EXPECT_TRUE(control_.calls().empty());
  EXPECT_EQ(m.routeStatus("api"), RouteStatus::RollbackFailed);
  EXPECT_EQ(metric("switchyard_rollback_active", {{"route", "api"}}), 1);
}

TEST_F(ManagerTest, ACorruptStateFileIsSetAsideAndTheManagerStartsEmpty) {
  for (const std::string& bad :
       {std::string("{not json"), std::string("[]"), std::string(R"({"format": 2})"),
        std::string(R"({"format":1,"next_id":1,"routes":{"api":{"state":"sideways","since":"x"}},)"
                    R"("executions":[]})"),
        std::string(R"({"format":1,"next_id":1,"routes":{},"executions":[{"id":"x"}]})")}) {
    {
      std::ofstream out(statePath());
      out << bad;
    }
    managers_.clear();
    control_.clear();
    RollbackManager& m = make(standardPlan());
    m.load();
    EXPECT_EQ(m.routeStatus("api"), RouteStatus::Active) << bad;
    EXPECT_TRUE(m.executions().empty()) << bad;
    EXPECT_TRUE(control_.calls().empty()) << bad;
    // The bad file is kept aside, and the next change writes a good one.
    EXPECT_FALSE(dir_.entries().count("rollback.json")) << bad;
    m.trigger("api", trig(TriggerKind::Manual, "r"));
    m.runOnce();
    EXPECT_EQ(json::parse(readState())["routes"]["api"]["state"], "rolled_back") << bad;
  }
  size_t aside = 0;
  for (const std::string& name : dir_.entries()) {
    if (name.rfind("rollback.json.corrupt-20260101T000000Z", 0) == 0) ++aside;
  }
  EXPECT_EQ(aside, 5u);
}

TEST_F(ManagerTest, AnUnreadableStateFileIsHandledLikeACorruptOne) {
  ASSERT_EQ(::mkdir(statePath().c_str(), 0755), 0);  // a directory where the file should be
  RollbackManager& m = make(standardPlan());
  m.load();
  EXPECT_EQ(m.routeStatus("api"), RouteStatus::Active);
  EXPECT_TRUE(dir_.entries().count("rollback.json.corrupt-20260101T000000Z"));
}

TEST_F(ManagerTest, NothingIsWrittenBeforeTheStateIsLoaded) {
  ASSERT_EQ(writeFileAtomically(statePath(), "previous"), "");
  RollbackManager& m = make(standardPlan());
  receive(m, payload([](json& d) { d["alerts"][0]["status"] = "resolved"; }));
  EXPECT_EQ(readState(), "previous");
}

TEST_F(ManagerTest, ExecutionsAndAlertKeysAreBounded) {
  RollbackManager& m = make(standardPlan("  max_executions: 2\n  max_alert_keys: 10\n"));
  m.load();
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    ids.push_back(m.trigger("api", trig(TriggerKind::Manual, "r")).execution_id);
    m.runOnce();
    m.resume("api");
  }
  ASSERT_EQ(m.executions().size(), 2u);
  EXPECT_EQ(m.executions()[0].id, ids[1]);
  EXPECT_FALSE(m.execution(ids[0]).has_value());
  EXPECT_EQ(json::parse(readState())["executions"].size(), 2u);

  auto resolved = [&](int n) {
    return receive(m, payload([n](json& d) {
                     d["alerts"][0]["status"] = "resolved";
                     d["alerts"][0]["fingerprint"] = "f" + std::to_string(n);
                   }));
  };
  for (int i = 0; i < 11; ++i) resolved(i);
  EXPECT_EQ(resolved(10).at(0).result, AlertResult::Duplicate);
  // The oldest key was forgotten to make room.
  EXPECT_EQ(resolved(0).at(0).result, AlertResult::Resolved);
  EXPECT_EQ(json::parse(readState())["alert_keys"].size(), 10u);
}

TEST_F(ManagerTest, TheThreadRunsTriggeredPlans) {
  common::RealTimeSource real_time;
  registries_.push_back(std::make_unique<prometheus::Registry>());
  RollbackConfig config = parseRollbackConfig(
      YAML::Load("rollback:\n  plans: [{route: simple, steps: [{set_weights: {weights: "
                 "{modern: 1}}}]}]\n")["rollback"],
      "rollback");
  ManagerOptions options;
  options.guard_interval = milliseconds(20);
  RollbackManager m(std::move(config), routes_, control_, real_time, *registries_.back(), options);
  m.load();
  m.start();
  EXPECT_THROW(m.start(), std::logic_error);
  m.trigger("simple", trig(TriggerKind::Manual, "r"));
  // Bounded wait for the other thread (woken by the trigger, not by a timer).
  for (int i = 0; i < 5000 && m.routeStatus("simple") != RouteStatus::RolledBack; ++i) {
    std::this_thread::sleep_for(milliseconds(1));
  }
  EXPECT_EQ(m.routeStatus("simple"), RouteStatus::RolledBack);
  m.stop();
  m.stop();
}

// What a fake HTTP poster saw: the url, the headers and the body of each call.
struct Calls {
  std::vector<std::string> urls;
  std::vector<std::vector<std::pair<std::string, std::string>>> headers;
  std::vector<json> bodies;
  int status = 200;
  ManagerOptions options() {
    ManagerOptions o;
    o.http = [this](const HttpUrl& url, const std::vector<std::pair<std::string, std::string>>& h,
                    const std::string& body, milliseconds) {
      urls.push_back(url.text);
      headers.push_back(h);
      bodies.push_back(json::parse(body));
      HttpPostResult r;
      r.status = status;
      return r;
    };
    return o;
  }
};

TEST_F(ManagerTest, StepsFillInTheContextPlaceholders) {
  Calls calls;
  RollbackManager& m = make(
      "rollback:\n"
      "  environment: staging\n"
      "  plans:\n"
      "    - route: api\n"
      "      steps:\n"
      "        - webhook:\n"
      "            url: 'http://127.0.0.1:9/deploy/${context.route}?env=${context.environment}'\n"
      "            headers: {X-Triggered-By: '${context.triggered_by}'}\n"
      "            body: {route: '${context.route}', sev: '${context.labels.severity}',\n"
      "                   nested: ['${context.trigger} by ${context.triggered_by}'],\n"
      "                   missing: '[${context.labels.team}]', old: '{route}'}\n"
      "        - notify: {url: 'http://127.0.0.1:9/chat', message: '${context.route} rolled back "
      "in ${context.environment}: ${context.reason}'}\n",
      calls.options());
  m.load();
  std::vector<AlertDecision> d = receive(m, payload());
  ASSERT_EQ(d.size(), 1u);
  m.runOnce();
  ASSERT_EQ(calls.urls.size(), 2u);
  EXPECT_EQ(calls.urls[0], "http://127.0.0.1:9/deploy/api?env=staging");
  EXPECT_EQ(calls.headers[0], (std::vector<std::pair<std::string, std::string>>{
                                  {"X-Triggered-By", "SidecarCanaryHighErrorRatio"}}));
  EXPECT_EQ(calls.bodies[0], (json{{"route", "api"},
                                   {"sev", "critical"},
                                   {"nested", {"alertmanager by SidecarCanaryHighErrorRatio"}},
                                   {"missing", "[]"},
                                   {"old", "api"}}));
  EXPECT_EQ(calls.bodies[1]["text"],
            "api rolled back in staging: alert SidecarCanaryHighErrorRatio: 5xx ratio on cluster "
            "v2 is 19.15%");
  // The default fields of a notify body: the values, the alert's labels as an object.
  EXPECT_EQ(calls.bodies[1]["triggered_by"], "SidecarCanaryHighErrorRatio");
  EXPECT_EQ(calls.bodies[1]["environment"], "staging");
  EXPECT_EQ(calls.bodies[1]["labels"]["severity"], "critical");

  // A manual trigger names its operator; a line break in it cannot reach a header.
  ASSERT_EQ(m.resume("api").outcome, RollbackManager::ResumeOutcome::Resumed);
  Trigger manual = trig(TriggerKind::Manual, "by hand");
  manual.by = "alice\r\nX-Evil: 1";
  m.trigger("api", manual);
  m.runOnce();
  ASSERT_EQ(calls.urls.size(), 4u);
  EXPECT_EQ(calls.headers[2][0].second, "aliceX-Evil: 1");
  EXPECT_EQ(calls.bodies[2]["nested"][0], "manual by alice\r\nX-Evil: 1");
  EXPECT_EQ(calls.bodies[2]["sev"], "");
}

TEST_F(ManagerTest, BackoffGrowsByItsMultiplierUpToItsBound) {
  Calls calls;
  calls.status = 503;
  RollbackManager& m = make(
      "rollback:\n"
      "  plans:\n"
      "    - route: simple\n"
      "      steps:\n"
      "        - webhook: {url: 'http://127.0.0.1:9/x'}\n"
      "          retry: {attempts: 5, backoff: 100ms, backoff_multiplier: 3, max_backoff: 500ms}\n",
      calls.options());
  m.load();
  auto t = m.trigger("simple", trig(TriggerKind::Manual, "why"));
  std::vector<milliseconds> waits;
  for (int i = 0; i < 10 && !m.idle(); ++i) {
    const common::MonotonicTime next = m.runOnce();
    if (m.idle()) break;
    waits.push_back(std::chrono::duration_cast<milliseconds>(next - time_.monotonicNow()));
    time_.advance(next - time_.monotonicNow());
  }
  EXPECT_EQ(waits, (std::vector<milliseconds>{milliseconds(100), milliseconds(300),
                                              milliseconds(500), milliseconds(500)}));
  Execution e = *m.execution(t.execution_id);
  EXPECT_EQ(e.status, "failed");
  EXPECT_EQ(e.steps[0].attempts, 5u);
  EXPECT_EQ(e.steps[0].log[3], "2026-01-01T00:00:00.100Z retrying in 300ms (3 attempts left)");
}

TEST_F(ManagerTest, APlanWaitsForThePlansItDependsOn) {
  Calls calls;
  calls.status = 503;
  RollbackManager& m = make(
      "rollback:\n"
      "  plans:\n"
      "    - route: simple\n"
      "      steps:\n"
      "        - webhook: {url: 'http://127.0.0.1:9/simple'}\n"
      "          retry: {attempts: 2, backoff: 1s}\n"
      "    - route: api\n"
      "      depends_on: [simple]\n"
      "      steps: [{pin_version: {version: v1}}]\n",
      calls.options());
  m.load();
  auto t = m.trigger("api", trig(TriggerKind::Guard, "errors"));
  ASSERT_EQ(t.outcome, RollbackManager::Outcome::Started);
  // The dependency was started first, on the same trigger.
  EXPECT_EQ(m.routeStatus("simple"), RouteStatus::RollingBack);
  std::vector<Execution> all = m.executions();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].route, "simple");
  EXPECT_EQ(all[0].trigger.kind, TriggerKind::Guard);
  EXPECT_EQ(all[0].trigger.reason, "needed by the rollback of route api: errors");
  EXPECT_EQ(all[1].log,
            (std::vector<std::string>{"2026-01-01T00:00:00.000Z depends_on: waits for " +
                                      all[0].id + " (route simple, started)"}));
  m.runOnce();  // simple's first attempt fails; api waits
  EXPECT_EQ(control_.calls(), std::vector<std::string>{});
  EXPECT_EQ(m.execution(t.execution_id)->steps[0].status, "pending");
  calls.status = 200;
  time_.advance(seconds(1));
  m.runOnce();  // simple succeeds, then api runs
  EXPECT_EQ(m.routeStatus("simple"), RouteStatus::RolledBack);
  EXPECT_EQ(m.routeStatus("api"), RouteStatus::RolledBack);
  EXPECT_EQ(control_.calls(), std::vector<std::string>{"pin api v1"});

  // A route already rolled back is not rolled back again; one that failed fails the plan.
  m.resume("api");
  auto again = m.trigger("api", trig(TriggerKind::Manual, "again"));
  EXPECT_EQ(m.execution(again.execution_id)->log.back(),
            "2026-01-01T00:00:01.000Z depends_on: route simple is rolled back already");
  m.runOnce();
  EXPECT_EQ(m.routeStatus("api"), RouteStatus::RolledBack);
  m.resume("api");
  m.resume("simple");
  calls.status = 503;
  auto third = m.trigger("api", trig(TriggerKind::Manual, "third"));
  for (int i = 0; i < 4; ++i) {
    m.runOnce();
    time_.advance(seconds(1));
  }
  EXPECT_EQ(m.routeStatus("simple"), RouteStatus::RollbackFailed);
  EXPECT_EQ(m.routeStatus("api"), RouteStatus::RollbackFailed);
  Execution e = *m.execution(third.execution_id);
  EXPECT_EQ(e.status, "failed");
  EXPECT_EQ(e.steps[0].status, "failed");
  EXPECT_EQ(e.steps[0].log.back(),
            "2026-01-01T00:00:02.000Z not run: route simple did not roll back, and this plan "
            "depends on it");
  // The pin of the first two executions only.
  const std::vector<std::string> made = control_.calls();
  EXPECT_EQ(std::count(made.begin(), made.end(), "pin api v1"), 2);
}

TEST_F(ManagerTest, VerifyWaitsForALowErrorRatioOverItsWindow) {
  RollbackManager& m = make(
      "rollback:\n"
      "  plans:\n"
      "    - route: api\n"
      "      estimated_duration: 5s\n"
      "      steps:\n"
      "        - pin_version: {version: v1}\n"
      "        - verify: {max_error_ratio: 0.05, for: 2s, timeout: 10s, min_requests: 10}\n");
  m.load();
  control_.setCounts("api", 1000, 500);  // before: half of everything failed
  auto t = m.trigger("api", trig(TriggerKind::Manual, "bad"));
  m.runOnce();
  EXPECT_EQ(m.execution(t.execution_id)->steps[1].status, "running");
  EXPECT_EQ(m.routeStatus("api"), RouteStatus::RollingBack);
  // Errors go on for 2 more seconds after the pin, then stop.
  for (int i = 0; i < 8; ++i) {  // 250ms polls
    time_.advance(milliseconds(250));
    control_.addCounts("api", 10, 5);
    m.runOnce();
  }
  EXPECT_EQ(m.execution(t.execution_id)->steps[1].status, "running");
  for (int i = 0; i < 7; ++i) {
    time_.advance(milliseconds(250));
    control_.addCounts("api", 10, 0);
    m.runOnce();
  }
  // The window still holds the last errors (5 of 80, 6.25%).
  EXPECT_EQ(m.routeStatus("api"), RouteStatus::RollingBack);
  time_.advance(milliseconds(250));
  control_.addCounts("api", 10, 0);
  m.runOnce();
  Execution e = *m.execution(t.execution_id);
  EXPECT_EQ(m.routeStatus("api"), RouteStatus::RolledBack);
  EXPECT_EQ(e.steps[1].status, "succeeded");
  EXPECT_EQ(e.steps[1].log.back(),
            "2026-01-01T00:00:04.000Z passed: error ratio 0.00% over the last 2s (0 of 80 "
            "requests)");
  EXPECT_EQ(e.duration_ms, 4000u);
  EXPECT_EQ(e.estimated_duration_ms, 5000u);
  EXPECT_EQ(metric("switchyard_rollback_recovery_seconds", {{"route", "api"}}), 4);
  EXPECT_EQ(metric("switchyard_rollback_estimated_duration_seconds", {{"route", "api"}}), 5);
  EXPECT_EQ(metric("switchyard_rollback_over_estimate_total", {{"route", "api"}}), 0);
  json view = m.executionsJson()[0];
  EXPECT_EQ(view["duration_seconds"], 4.0);
  EXPECT_EQ(view["estimated_duration_seconds"], 5.0);
}

TEST_F(ManagerTest, VerifyFailsTheExecutionWhenErrorsGoOn) {
  RollbackManager& m = make(
      "rollback:\n"
      "  plans:\n"
      "    - route: api\n"
      "      estimated_duration: 1s\n"
      "      steps:\n"
      "        - pin_version: {version: v1}\n"
      "        - verify: {max_error_ratio: 0.05, for: 1s, timeout: 3s}\n"
      "    - route: simple\n"
      "      steps:\n"
      "        - verify: {max_error_ratio: 0.05, for: 1s}\n");
  m.load();
  control_.setCounts("api", 0, 0);
  auto t = m.trigger("api", trig(TriggerKind::Manual, "bad"));
  for (int i = 0; i < 20 && !m.idle(); ++i) {
    m.runOnce();
    time_.advance(milliseconds(250));
    control_.addCounts("api", 10, 1);  // 10%
  }
  Execution e = *m.execution(t.execution_id);
  EXPECT_EQ(e.status, "failed");
  EXPECT_EQ(m.routeStatus("api"), RouteStatus::RollbackFailed);
  EXPECT_EQ(e.steps[1].status, "failed");
  EXPECT_EQ(e.steps[1].log.back(),
            "2026-01-01T00:00:03.000Z failed after 3s: error ratio 10.00% over the last 1s (4 "
            "of 40 requests), above 5.00%");
  EXPECT_EQ(
      metric("switchyard_rollback_step_failures_total", {{"route", "api"}, {"step", "verify"}}), 1);
  // Longer than its estimate: counted and logged, and no recovery time for a failure.
  EXPECT_EQ(metric("switchyard_rollback_over_estimate_total", {{"route", "api"}}), 1);
  EXPECT_EQ(e.log.back(),
            "2026-01-01T00:00:03.000Z step 2 (verify) failed; the plan stopped there and the "
            "route needs an operator");
  EXPECT_EQ(metric("switchyard_rollback_recovery_seconds", {{"route", "api"}}), -1);

  // Without figures for the route the step cannot judge: it fails at once.
  auto s = m.trigger("simple", trig(TriggerKind::Manual, "no figures"));
  m.runOnce();
  EXPECT_EQ(m.execution(s.execution_id)->steps[0].log.back(),
            "2026-01-01T00:00:03.250Z the route's response counts are not available");
  EXPECT_EQ(m.routeStatus("simple"), RouteStatus::RollbackFailed);
}

TEST_F(ManagerTest, FleetChangesArePublishedAndOthersAppliedWithoutEcho) {
  RollbackManager& m = make(standardPlan());
  m.load();
  std::vector<std::pair<std::string, json>> published;
  std::vector<std::string> claimed;
  bool fleet_says_new = true;
  m.setFleet(
      [&](const std::string& route, const json& state) { published.emplace_back(route, state); },
      [&](const std::string& key) {
        claimed.push_back(key);
        return fleet_says_new;
      });
  // Another replica rolled api back: its traffic steps apply here, nothing is called out,
  // nothing is published back.
  m.applyFleetState("api", json{{"state", "rolling_back"},
                                {"execution_id", "rb-7-x"},
                                {"trigger", {{"kind", "guard"}, {"reason", "errors"}}}});
  EXPECT_EQ(m.routeStatus("api"), RouteStatus::RolledBack);
  EXPECT_EQ(control_.calls(),
            (std::vector<std::string>{"set_weights api v2 legacy=100", "pin api v1"}));
  EXPECT_EQ(sink_.requestCount(), 0u);
  EXPECT_TRUE(published.empty());
  Execution e = *m.execution("rb-7-x");
  EXPECT_EQ(e.trigger.kind, TriggerKind::Guard);
  EXPECT_EQ(e.steps[2].status, "skipped");
  EXPECT_EQ(e.log.back(),
            "2026-01-01T00:00:00.000Z rollback rb-7-x of another replica of the fleet (guard: "
            "errors): its traffic steps applied here");
  EXPECT_EQ(metric("switchyard_rollback_active", {{"route", "api"}}), 1);
  // Applied twice (a reconcile): nothing more.
  m.applyFleetState("api", json{{"state", "rolled_back"}, {"execution_id", "rb-7-x"}});
  EXPECT_EQ(control_.calls().size(), 2u);
  // Resumed there: resumed here, still without publishing.
  m.applyFleetState("api", json{{"state", "active"}});
  EXPECT_EQ(m.routeStatus("api"), RouteStatus::Active);
  EXPECT_EQ(control_.calls().back(), "resume api");
  EXPECT_TRUE(published.empty());
  // Unknown routes and shapes change nothing.
  m.applyFleetState("nope", json{{"state", "rolled_back"}});
  m.applyFleetState("api", json::array());
  m.applyFleetState("api", json{{"state", "sideways"}});
  EXPECT_EQ(m.routeStatus("api"), RouteStatus::Active);

  // This replica's own rollback is published at its start and at its end.
  auto t = m.trigger("api", trig(TriggerKind::Manual, "here"));
  m.runOnce();
  ASSERT_EQ(published.size(), 2u);
  EXPECT_EQ(published[0].first, "api");
  EXPECT_EQ(published[0].second["state"], "rolling_back");
  EXPECT_EQ(published[0].second["execution_id"], t.execution_id);
  EXPECT_EQ(published[0].second["trigger"]["kind"], "manual");
  EXPECT_EQ(published[1].second["state"], "rolled_back");
  m.resume("api");
  EXPECT_EQ(published.back().second["state"], "active");

  // An alert another replica already took is a duplicate here.
  fleet_says_new = false;
  std::vector<AlertDecision> d = receive(m, payload());
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].result, AlertResult::Duplicate);
  EXPECT_EQ(claimed.size(), 1u);
  EXPECT_EQ(m.routeStatus("api"), RouteStatus::Active);
}

}  // namespace
}  // namespace switchyard::rollback
