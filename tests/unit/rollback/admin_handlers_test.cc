#include "proxy/rollback/admin_handlers.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "proxy/admin/admin_server.h"
#include "proxy/common/time.h"
#include "tests/support/http_client.h"
#include "tests/unit/rollback/manager_fixture.h"

namespace switchyard::rollback {
namespace {

using nlohmann::json;

// The admin endpoints over a manager driven by hand (no manager thread): the request in, the
// reply and the manager's state out.
class RollbackAdminTest : public test::ManagerFixture {
 protected:
  // Handlers are stateless over their manager: a fresh one per call is the same as a kept one.
  static RollbackAdmin handlers(RollbackManager& m) { return RollbackAdmin(m); }

  static admin::AdminRequest webhookRequest(const std::string& body,
                                            const std::string& type = "application/json") {
    admin::AdminRequest r;
    r.method = "POST";
    r.path = "/alerts/alertmanager";
    r.body = body;
    if (!type.empty()) r.headers["content-type"] = type;
    return r;
  }
  static admin::AdminRequest postRequest(const std::string& path, const std::string& body) {
    admin::AdminRequest r;
    r.method = "POST";
    r.path = path;
    r.body = body;
    r.headers["content-type"] = "application/json";
    return r;
  }
};

TEST_F(RollbackAdminTest, CapturedAlertRunsThePlanStepByStep) {
  RollbackManager& m = make(standardPlan());
  m.load();
  EXPECT_EQ(metric("switchyard_rollback_active", {{"route", "api"}}), 0);

  admin::AdminResponse r = handlers(m).alertmanagerWebhook(webhookRequest(payload()));
  ASSERT_EQ(r.status, 200) << r.body;
  json summary = json::parse(r.body);
  EXPECT_EQ(summary["alerts"], 1);
  EXPECT_EQ(summary["results"][0]["result"], "accepted");
  EXPECT_EQ(summary["results"][0]["fingerprint"], "0f12e33329fd4126");
  EXPECT_EQ(summary["results"][0]["routes"][0]["route"], "api");
  EXPECT_EQ(summary["results"][0]["routes"][0]["outcome"], "started");
  const std::string id = summary["results"][0]["routes"][0]["execution_id"];
  // The answer comes before any step runs: the steps run on the manager's thread.
  EXPECT_TRUE(control_.calls().empty());
  EXPECT_EQ(sink_.requestCount(), 0u);
  EXPECT_EQ(m.routeStatus("api"), RouteStatus::RollingBack);
  EXPECT_FALSE(m.idle());

  m.runOnce();
  EXPECT_TRUE(m.idle());
  EXPECT_EQ(control_.calls(),
            (std::vector<std::string>{"set_weights api v2 legacy=100", "pin api v1"}));
  auto requests = sink_.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].path, "/deploy/rollback");
  const std::string reason = "alert SidecarCanaryHighErrorRatio: 5xx ratio on cluster v2 is 19.15%";
  EXPECT_EQ(json::parse(requests[0].body),
            (json{{"service", "orders"}, {"why", reason}, {"id", id}, {"n", 2}}));
  EXPECT_EQ(requests[1].path, "/chat");
  json chat = json::parse(requests[1].body);
  EXPECT_EQ(chat["text"], "rolled back api v2 (alertmanager): " + reason);
  EXPECT_EQ(chat["execution_id"], id);
  EXPECT_EQ(chat["trigger"], "alertmanager");

  std::optional<Execution> e = m.execution(id);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->status, "succeeded");
  EXPECT_EQ(e->route, "api");
  EXPECT_EQ(e->trigger.kind, TriggerKind::Alertmanager);
  EXPECT_EQ(e->trigger.fingerprint, "0f12e33329fd4126");
  EXPECT_EQ(e->trigger.alert_labels.at("cluster"), "v2");
  EXPECT_EQ(e->started_at, "2026-01-01T00:00:00.000Z");
  EXPECT_EQ(e->finished_at, "2026-01-01T00:00:00.000Z");
  ASSERT_EQ(e->steps.size(), 4u);
  for (const StepRecord& s : e->steps) {
    EXPECT_EQ(s.status, "succeeded") << s.type;
    EXPECT_EQ(s.attempts, 1u) << s.type;
    ASSERT_EQ(s.log.size(), 1u) << s.type;
  }
  EXPECT_EQ(e->steps[0].type, "set_weights");
  EXPECT_EQ(e->steps[0].log[0],
            "2026-01-01T00:00:00.000Z attempt 1: set weights of api v2 to legacy=100");
  EXPECT_EQ(e->steps[2].log[0], "2026-01-01T00:00:00.000Z attempt 1: POST " +
                                    sink_.url("/deploy/rollback") + " -> 200");
  EXPECT_EQ(m.routeStatus("api"), RouteStatus::RolledBack);

  EXPECT_EQ(metric("switchyard_rollbacks_total", {{"route", "api"}, {"trigger", "alertmanager"}}),
            1);
  EXPECT_EQ(metric("switchyard_rollback_active", {{"route", "api"}}), 1);
  EXPECT_EQ(metric("switchyard_rollback_webhooks_total", {{"result", "accepted"}}), 1);
  EXPECT_EQ(metric("switchyard_rollback_webhooks_total", {{"result", "invalid"}}), 0);

  json state = m.stateJson();
  EXPECT_EQ(state["routes"]["api"]["state"], "rolled_back");
  EXPECT_EQ(state["routes"]["api"]["execution_id"], id);
  EXPECT_EQ(state["executions"][0]["id"], id);
  EXPECT_EQ(state["executions"][0]["steps"][3]["type"], "notify");
  EXPECT_EQ(state["alerts"][0]["result"], "accepted");
  // Persisted after every change, atomically: only the state file is in the directory.
  EXPECT_EQ(json::parse(readState())["routes"]["api"]["state"], "rolled_back");
  EXPECT_EQ(dir_.entries(), std::set<std::string>{"rollback.json"});
}

TEST_F(RollbackAdminTest, SamePayloadTwiceRunsOnce) {
  RollbackManager& m = make(standardPlan());
  m.load();
  ASSERT_EQ(handlers(m).alertmanagerWebhook(webhookRequest(payload())).status, 200);
  // Again while the first is still running, and again once it is done.
  for (int i = 0; i < 2; ++i) {
    admin::AdminResponse again = handlers(m).alertmanagerWebhook(webhookRequest(payload()));
    ASSERT_EQ(again.status, 200);
    EXPECT_EQ(json::parse(again.body)["results"][0]["result"], "duplicate");
    m.runOnce();
  }
  EXPECT_EQ(m.executions().size(), 1u);
  EXPECT_EQ(control_.calls().size(), 2u);
  EXPECT_EQ(metric("switchyard_rollback_webhooks_total", {{"result", "duplicate"}}), 2);
  EXPECT_EQ(metric("switchyard_rollback_webhooks_total", {{"result", "accepted"}}), 1);
}

TEST_F(RollbackAdminTest, ResolvedIsRecordedAndNeverRollsForward) {
  RollbackManager& m = make(standardPlan());
  m.load();
  handlers(m).alertmanagerWebhook(webhookRequest(payload()));
  m.runOnce();
  control_.clear();
  admin::AdminResponse r = handlers(m).alertmanagerWebhook(webhookRequest(payload([](json& d) {
    d["status"] = "resolved";
    d["alerts"][0]["status"] = "resolved";
    d["alerts"][0]["endsAt"] = "2026-11-21T21:10:00Z";
  })));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body)["results"][0]["result"], "resolved");
  m.runOnce();
  EXPECT_TRUE(control_.calls().empty());
  EXPECT_EQ(m.routeStatus("api"), RouteStatus::RolledBack);
  json state = m.stateJson();
  EXPECT_EQ(state["alerts"][0]["result"], "resolved");
  EXPECT_EQ(state["alerts"][1]["result"], "accepted");
  EXPECT_EQ(metric("switchyard_rollback_webhooks_total", {{"result", "resolved"}}), 1);
}

TEST_F(RollbackAdminTest, ResolvedForAnActiveRouteDoesNothing) {
  RollbackManager& m = make(standardPlan());
  m.load();
  admin::AdminResponse r = handlers(m).alertmanagerWebhook(
      webhookRequest(payload([](json& d) { d["alerts"][0]["status"] = "resolved"; })));
  EXPECT_EQ(json::parse(r.body)["results"][0]["result"], "resolved");
  m.runOnce();
  EXPECT_EQ(m.routeStatus("api"), RouteStatus::Active);
  EXPECT_TRUE(m.executions().empty());
  EXPECT_TRUE(control_.calls().empty());
}

TEST_F(RollbackAdminTest, ARolledBackRouteRecordsNewAlertsWithoutRunningAgain) {
  RollbackManager& m = make(standardPlan());
  m.load();
  handlers(m).alertmanagerWebhook(webhookRequest(payload()));
  m.runOnce();
  const size_t requests = sink_.requestCount();
  admin::AdminResponse r = handlers(m).alertmanagerWebhook(webhookRequest(payload([](json& d) {
    d["alerts"][0]["startsAt"] = "2026-11-21T22:00:00Z";  // fired again: a new alert
  })));
  json result = json::parse(r.body)["results"][0];
  EXPECT_EQ(result["result"], "accepted");
  EXPECT_EQ(result["routes"][0]["outcome"], "already_rolled_back");
  m.runOnce();
  EXPECT_EQ(m.executions().size(), 1u);
  EXPECT_EQ(sink_.requestCount(), requests);
  const std::vector<std::string> log = m.executions()[0].log;
  ASSERT_EQ(log.size(), 1u);
  EXPECT_NE(log[0].find("already_rolled_back, not run again"), std::string::npos) << log[0];
}

TEST_F(RollbackAdminTest, UnmatchedAlertsDoNothing) {
  RollbackManager& m = make(standardPlan());
  m.load();
  for (const auto& labels : std::vector<json>{
           {{"alertname", "X"}, {"cluster", "elsewhere"}, {"action", "rollback"}},
           {{"alertname", "X"}, {"cluster", "v2"}},                            // no action=rollback
           {{"alertname", "X"}, {"route", "simple"}, {"action", "rollback"}},  // no plan
       }) {
    admin::AdminResponse r = handlers(m).alertmanagerWebhook(webhookRequest(payload([&](json& d) {
      d["alerts"][0]["labels"] = labels;
      d["alerts"][0]["fingerprint"] = labels.dump();
    })));
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(json::parse(r.body)["results"][0]["result"], "unmatched") << labels;
  }
  m.runOnce();
  EXPECT_TRUE(m.executions().empty());
  EXPECT_TRUE(control_.calls().empty());
  EXPECT_EQ(metric("switchyard_rollback_webhooks_total", {{"result", "unmatched"}}), 3);
}

TEST_F(RollbackAdminTest, BadRequestsAreRefusedWithoutAnyStateChange) {
  RollbackManager& m = make(standardPlan("  webhook: {max_body_bytes: 4KiB}\n"));
  m.load();
  struct Case {
    admin::AdminRequest request;
    int status;
    std::string detail;
  };
  const std::vector<Case> cases = {
      {webhookRequest("not json"), 400, "the body is not valid JSON"},
      {webhookRequest(payload([](json& d) { d["version"] = "3"; })), 400,
       "\"version\" must be \"4\" (Alertmanager webhook payload version 4)"},
      {webhookRequest(payload([](json& d) { d.erase("alerts"); })), 400,
       "\"alerts\" is required: an array of alerts"},
      {webhookRequest(payload([](json& d) { d["alerts"][0]["labels"]["route"] = 1; })), 400,
       "\"alerts[0].labels\".\"route\" must be a string"},
      {webhookRequest(payload([](json& d) { d["pad"] = std::string(5000, 'x'); })), 413,
       "the body is larger than 4096 bytes"},
      {webhookRequest(payload(), "text/plain"), 415, "expected Content-Type: application/json"},
      {webhookRequest(payload(), ""), 415, "expected Content-Type: application/json"},
  };
  for (const Case& c : cases) {
    admin::AdminResponse r = handlers(m).alertmanagerWebhook(c.request);
    EXPECT_EQ(r.status, c.status) << c.detail;
    EXPECT_EQ(r.content_type, "application/problem+json");
    EXPECT_EQ(json::parse(r.body)["detail"], c.detail);
  }
  m.runOnce();
  EXPECT_TRUE(m.executions().empty());
  EXPECT_EQ(m.stateJson()["alerts"], json::array());
  EXPECT_EQ(m.routeStatus("api"), RouteStatus::Active);
  EXPECT_EQ(metric("switchyard_rollback_webhooks_total", {{"result", "invalid"}}), 7);
  EXPECT_FALSE(dir_.entries().count("rollback.json"));  // nothing was ever written
  // Parameters of the media type are fine; the payload's first try was not recorded.
  admin::AdminResponse ok =
      handlers(m).alertmanagerWebhook(webhookRequest(payload(), "Application/JSON; charset=utf-8"));
  EXPECT_EQ(json::parse(ok.body)["results"][0]["result"], "accepted");
}

TEST_F(RollbackAdminTest, ManualTriggerAndResumeThroughTheAdminHandlers) {
  RollbackManager& m = make(standardPlan());
  m.load();
  admin::AdminResponse r = handlers(m).trigger(
      postRequest("/rollback/trigger", R"({"route":"api","reason":"bad deploy"})"));
  ASSERT_EQ(r.status, 202) << r.body;
  const std::string id = json::parse(r.body)["execution_id"];
  EXPECT_EQ(handlers(m).trigger(postRequest("/rollback/trigger", R"({"route":"api"})")).status,
            409);
  m.runOnce();
  EXPECT_EQ(m.execution(id)->trigger.kind, TriggerKind::Manual);
  EXPECT_EQ(m.execution(id)->trigger.reason, "bad deploy");
  r = handlers(m).trigger(postRequest("/rollback/trigger", R"({"route":"api"})"));
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(json::parse(r.body)["detail"],
            "route \"api\" is already rolled back (" + id + "); resume it first");
  EXPECT_EQ(metric("switchyard_rollbacks_total", {{"route", "api"}, {"trigger", "manual"}}), 1);

  for (const auto& [body, status] : std::vector<std::pair<std::string, int>>{
           {"{}", 400},
           {"[]", 400},
           {"nope", 400},
           {R"({"route":1})", 400},
           {R"({"route":"api","extra":"x"})", 400},
           {R"({"route":"simple"})", 404},
           {R"({"route":"api","by":"line\nbreak"})", 400},
           {R"({"route":"api","by":")" + std::string(201, 'a') + "\"}", 400},
           {R"({"route":")" + std::string(70000, 'a') + "\"}", 413}}) {
    EXPECT_EQ(handlers(m).trigger(postRequest("/rollback/trigger", body)).status, status) << body;
  }

  control_.clear();
  control_.failResume("overrides are locked");
  r = handlers(m).resume(postRequest("/rollback/resume", R"({"route":"api"})"));
  EXPECT_EQ(r.status, 502);
  EXPECT_EQ(m.routeStatus("api"), RouteStatus::RolledBack);
  control_.failResume("");
  r = handlers(m).resume(postRequest("/rollback/resume", R"({"route":"api"})"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["state"], "active");
  EXPECT_EQ(control_.calls(), (std::vector<std::string>{"resume api", "resume api"}));
  EXPECT_EQ(m.routeStatus("api"), RouteStatus::Active);
  EXPECT_EQ(metric("switchyard_rollback_active", {{"route", "api"}}), 0);
  EXPECT_NE(m.execution(id)->log.back().find("resumed by an operator"), std::string::npos);
  EXPECT_EQ(handlers(m).resume(postRequest("/rollback/resume", R"({"route":"api"})")).status, 409);
  EXPECT_EQ(handlers(m).resume(postRequest("/rollback/resume", R"({"route":"nope"})")).status, 404);
  EXPECT_EQ(handlers(m).resume(postRequest("/rollback/resume", R"({})")).status, 400);

  // A resumed route can roll back again.
  r = handlers(m).trigger(postRequest("/rollback/trigger", R"({"route":"api"})"));
  ASSERT_EQ(r.status, 202);
  EXPECT_EQ(handlers(m).resume(postRequest("/rollback/resume", R"({"route":"api"})")).status, 409);
  m.runOnce();
  EXPECT_EQ(m.routeStatus("api"), RouteStatus::RolledBack);
  EXPECT_EQ(m.executions().size(), 2u);

  admin::AdminRequest get;
  get.method = "GET";
  get.path = "/rollback/executions";
  json list = json::parse(handlers(m).executions(get).body);
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[1]["id"], id);  // newest first
  get.query_params["id"] = id;
  EXPECT_EQ(json::parse(handlers(m).executions(get).body)["id"], id);
  get.query_params["id"] = "nope";
  EXPECT_EQ(handlers(m).executions(get).status, 404);
  get.path = "/rollback";
  EXPECT_EQ(json::parse(handlers(m).state(get).body)["routes"]["api"]["state"], "rolled_back");
}

TEST_F(RollbackAdminTest, RefusalsSayWhy) {
  RollbackManager& m = make(standardPlan());
  m.load();
  auto detail = [](const admin::AdminResponse& r) {
    EXPECT_EQ(r.content_type, "application/problem+json");
    return json::parse(r.body)["detail"].get<std::string>();
  };
  auto resume = [&](const std::string& body) {
    return handlers(m).resume(postRequest("/rollback/resume", body));
  };
  auto trigger = [&](const std::string& body) {
    return handlers(m).trigger(postRequest("/rollback/trigger", body));
  };
  admin::AdminResponse r = resume(R"({"route":"simple"})");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(detail(r), "route \"simple\" has no rollback plan");
  r = trigger(R"({"route":"simple"})");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(detail(r), "route \"simple\" has no rollback plan");
  r = resume(R"({"route":"api"})");
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(json::parse(r.body)["title"], "Conflict");
  EXPECT_EQ(detail(r), "route \"api\" is active: nothing to resume");

  const std::string id = json::parse(trigger(R"({"route":"api"})").body)["execution_id"];
  r = trigger(R"({"route":"api"})");
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(detail(r), "a rollback of route \"api\" is running (" + id + ")");
  r = resume(R"({"route":"api"})");
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(detail(r),
            "a rollback of route \"api\" is running (" + id + "); resume it once it has finished");
  m.runOnce();
  control_.failResume("overrides are locked");
  r = resume(R"({"route":"api"})");
  EXPECT_EQ(r.status, 502);
  EXPECT_EQ(json::parse(r.body)["title"], "Bad Gateway");
  EXPECT_EQ(detail(r), "could not undo the rollback of route \"api\": overrides are locked");

  EXPECT_EQ(detail(trigger(R"({"route":"api","extra":"x"})")), "unknown key \"extra\"");
  EXPECT_EQ(detail(trigger(R"({"route":1})")), "\"route\" must be a string");
  EXPECT_EQ(detail(trigger(R"({"route":""})")), "\"route\" is required");
  EXPECT_EQ(detail(trigger("[]")), "expected a JSON object");

  admin::AdminRequest get;
  get.method = "GET";
  get.path = "/rollback/executions";
  get.query_params["id"] = "nope";
  EXPECT_EQ(detail(handlers(m).executions(get)), "no execution \"nope\"");
}

TEST_F(RollbackAdminTest, TheBodyLimitOfTriggerAndResumeIsTheHandlers) {
  RollbackManager& m = make(standardPlan());
  m.load();
  RollbackAdmin small(m, 8);
  admin::AdminResponse r = small.trigger(postRequest("/rollback/trigger", R"({"route":"api"})"));
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(json::parse(r.body)["detail"], "the body is larger than 8 bytes");
  EXPECT_EQ(small.resume(postRequest("/rollback/resume", R"({"route":"api"})")).status, 413);
  EXPECT_EQ(m.routeStatus("api"), RouteStatus::Active);
}

// registerRollbackAdmin() on a real admin server: methods, paths, which ones need the token,
// and a webhook larger than the server's default body limit reaching the handler.
TEST_F(RollbackAdminTest, RegisteredOnTheAdminServer) {
  RollbackManager& m = make(standardPlan("  webhook: {max_body_bytes: 2MiB}\n"));
  m.load();
  config::AdminConfig config;
  config.address = {"127.0.0.1", 0, "127.0.0.1:0"};
  config.token = "secret";
  common::RealTimeSource real_time;  // for the admin server's sockets
  admin::AdminServer server(config, real_time);
  registerRollbackAdmin(server, m);
  server.start();
  const uint16_t port = server.port();
  ASSERT_NE(port, 0);
  const ::switchyard::test::Headers json_type = {{"content-type", "application/json"}};
  ::switchyard::test::Headers authorized = json_type;
  authorized.emplace_back("authorization", "Bearer secret");
  auto post = [&](const std::string& path, const std::string& body,
                  const ::switchyard::test::Headers& headers) {
    return ::switchyard::test::httpRequest(port, "POST", path, headers, body);
  };

  EXPECT_EQ(::switchyard::test::httpGet(port, "/rollback").status, 200);
  EXPECT_EQ(::switchyard::test::httpGet(port, "/rollback/executions").status, 200);
  for (const char* path : {"/alerts/alertmanager", "/rollback/trigger", "/rollback/resume"}) {
    EXPECT_EQ(post(path, R"({"route":"api"})", json_type).status, 401) << path;
    EXPECT_EQ(::switchyard::test::httpGet(port, path).status, 405) << path;
  }
  EXPECT_EQ(post("/rollback", "{}", authorized).status, 405);
  EXPECT_EQ(m.routeStatus("api"), RouteStatus::Active);

  // Above AdminServer::DefaultMaxBodyBytes, within webhook.max_body_bytes.
  ::switchyard::test::Response r =
      post("/alerts/alertmanager", payload([](json& d) {
             d["pad"] = std::string(admin::AdminServer::DefaultMaxBodyBytes, 'x');
           }),
           authorized);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["results"][0]["result"], "accepted");
  EXPECT_EQ(m.routeStatus("api"), RouteStatus::RollingBack);
  m.runOnce();
  r = post("/rollback/trigger", R"({"route":"api"})", authorized);
  EXPECT_EQ(r.status, 409) << r.body;
  r = post("/rollback/resume", R"({"route":"api"})", authorized);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(m.routeStatus("api"), RouteStatus::Active);
  r = post("/rollback/trigger", R"({"route":"api","reason":"by hand"})", authorized);
  EXPECT_EQ(r.status, 202) << r.body;
  json state = json::parse(::switchyard::test::httpGet(port, "/rollback").body);
  EXPECT_EQ(state["routes"]["api"]["state"], "rolling_back");
  EXPECT_EQ(state["executions"][0]["trigger"]["reason"], "by hand");
  server.stop();
}

}  // namespace
}  // namespace switchyard::rollback
