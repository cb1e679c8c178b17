// Automatic rollback against the real binary: the built-in guard, the Alertmanager webhook (its
// real payload shape), persistence across kill -9, resume, and bad webhook input. Prometheus and
// Alertmanager themselves are in tests/e2e.

#include <signal.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/integration/harness.h"
#include "tests/support/http_sink.h"

namespace switchyard::test::integration {
namespace {

using nlohmann::json;
const std::string Token = "integration-secret-token";

class RollbackTest : public ProxyTest {
 protected:
  void SetUp() override {
    ProxyTest::SetUp();
    v1_ = &addUpstream("v1");
    v2_ = &addUpstream("v2");
  }

  // Route `api`: v1 on legacy, v2 all on modern; a plan that sends v2 back to legacy, with a
  // guard on v2 and a notify step to `sink`.
  ProxyConfig rollbackConfig(const std::string& sink_url, const std::string& guard) {
    ProxyConfig c;
    c.clusters.push_back({"legacy", {v1_->address()}, ""});
    c.clusters.push_back({"modern", {v2_->address()}, ""});
    c.routes.push_back({"api", "/api/", "",
                        "    versions:\n"
                        "      default: v2\n"
                        "      v1: {cluster: legacy}\n"
                        "      v2: {split: [{cluster: modern, weight: 100}, "
                        "{cluster: legacy, weight: 0}]}\n"});
    c.top_extra =
        "rollback:\n"
        "  state_file: " +
        tempDir() +
        "/rollback.json\n"
        "  webhook: {max_body_bytes: 64KiB}\n"
        "  plans:\n"
        "    - route: api\n"
        "      steps:\n"
        "        - set_weights: {version: v2, weights: {legacy: 100}}\n"
        "        - notify: {url: " +
        sink_url +
        ", message: 'rolled back {route}: {reason}'}\n"
        "          timeout: 1s\n" +
        guard;
    return c;
  }

  std::string side(const std::string& path = "/api/orders") {
    Response r = httpGet(port(), path);
    return r.status == 200 ? r.header("x-upstream-name").value_or("?") : std::to_string(r.status);
  }
  Response admin(std::string_view method, std::string_view path, std::string_view body = {},
                 const std::string& token = Token) {
    Headers h;
    if (!token.empty()) h.push_back({"Authorization", "Bearer " + token});
    if (!body.empty()) h.push_back({"Content-Type", "application/json"});
    return httpRequest(adminPort(), method, path, h, body);
  }
  json state() { return json::parse(httpGet(adminPort(), "/rollback").body); }
  std::string metrics() { return httpGet(adminPort(), "/metrics").body; }

  TestUpstream* v1_ = nullptr;
  TestUpstream* v2_ = nullptr;
};

const std::string Guard =
    "      guard: {version: v2, window: 2s, min_requests: 10, max_error_ratio: 0.2}\n";

TEST_F(RollbackTest, GuardRollsBackWithinTwoSecondsAndSurvivesKillNine) {
  HttpSink sink;
  const ProxyConfig config = rollbackConfig(sink.url("/chat"), Guard);
  startProxy(config);
  EXPECT_EQ(side(), "v2");
  EXPECT_NE(metrics().find("switchyard_rollback_active{route=\"api\"} 0"), std::string::npos);

  // Steady traffic; v2 starts failing at t0.
  std::atomic<bool> stop{false};
  std::atomic<int> failed{0};
  std::atomic<int64_t> first_v1_ms{-1};
  const auto t0 = std::chrono::steady_clock::now();
  v2_->control("fail?status=500");
  std::thread client([&] {
    RawConnection conn;
    // Bounded: at most 10 s of traffic.
    const auto until = t0 + 10s;
    for (int i = 0; i < 20000 && !stop && std::chrono::steady_clock::now() < until; ++i) {
      if (!conn.connected() && !conn.connect(port())) continue;
      conn.send(buildRequest("GET", "/api/orders"));
      auto r = conn.readResponse();
      if (!r) {
        conn.close();
        continue;
      }
      if (r->status != 200) {
        ++failed;
      } else if (r->header("x-upstream-name") == std::optional<std::string>("v1") &&
                 first_v1_ms < 0) {
        first_v1_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now() - t0)
                          .count();
        stop = true;
      }
      std::this_thread::sleep_for(5ms);  // a steady ~200 requests/s, not a flood
    }
  });
  client.join();
  ASSERT_GE(first_v1_ms.load(), 0) << state().dump(2);
  EXPECT_LT(first_v1_ms.load(), 2000) << "rollback took " << first_v1_ms << " ms";
  RecordProperty("guard_rollback_ms", static_cast<int>(first_v1_ms.load()));
  RecordProperty("failed_responses", failed.load());
  std::printf("guard rollback: %lld ms after the first failure, %d failed responses\n",
              static_cast<long long>(first_v1_ms.load()), failed.load());

  // The record: trigger, each step, the notification sent. Traffic moved with the first step;
  // the notification may still be on its way.
  json s = state();
  const auto recorded = std::chrono::steady_clock::now() + 5s;
  while (s["routes"]["api"]["state"] == "rolling_back" &&
         std::chrono::steady_clock::now() < recorded) {
    std::this_thread::sleep_for(10ms);  // the manager thread of another process; bounded
    s = state();
  }
  EXPECT_EQ(s["routes"]["api"]["state"], "rolled_back") << s.dump(2);
  ASSERT_EQ(s["executions"].size(), 1u);
  const json& e = s["executions"][0];
  EXPECT_EQ(e["trigger"]["kind"], "guard");
  EXPECT_EQ(e["status"], "succeeded");
  ASSERT_EQ(e["steps"].size(), 2u);
  EXPECT_EQ(e["steps"][0]["type"], "set_weights");
  EXPECT_EQ(e["steps"][0]["status"], "succeeded");
  EXPECT_EQ(e["steps"][1]["type"], "notify");
  EXPECT_EQ(e["steps"][1]["status"], "succeeded");
  ASSERT_GE(sink.requestCount(), 1u);
  EXPECT_NE(sink.requests()[0].body.find("rolled back api"), std::string::npos);
  const std::string m = metrics();
  EXPECT_NE(m.find("switchyard_rollbacks_total{route=\"api\",trigger=\"guard\"} 1"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("switchyard_rollback_active{route=\"api\"} 1"), std::string::npos);
  EXPECT_NE(m.find("switchyard_route_weight{cluster=\"legacy\",route=\"api\",version=\"v2\"} 100"),
            std::string::npos);

  // kill -9 and start again: still rolled back, from the first request on.
  proxy().terminate(SIGKILL);
  proxy().waitExit(5s);
  v2_->recover();
  startProxy(config);
  EXPECT_EQ(side(), "v1");
  s = state();
  EXPECT_EQ(s["routes"]["api"]["state"], "rolled_back") << s.dump(2);
  EXPECT_EQ(sink.requestCount(), 1u);  // the notification is not sent again

  // An operator resumes: v2 serves again.
  Response r = admin("POST", "/rollback/resume", R"({"route":"api"})");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(side(), "v2");
  EXPECT_EQ(state()["routes"]["api"]["state"], "active");
  EXPECT_NE(metrics().find("switchyard_rollback_active{route=\"api\"} 0"), std::string::npos);
}

// The payload Alertmanager 0.25 sent in a capture (see REFERENCE.md), aimed at route api.
std::string alertPayload(const std::string& status,
                         const std::string& fingerprint = "0f12e33329fd4126") {
  json alert = {{"status", status},
                {"labels",
                 {{"action", "rollback"},
                  {"alertname", "SwitchyardRouteErrorRatioHigh"},
                  {"route", "api"},
                  {"version", "v2"},
                  {"severity", "critical"}}},
                {"annotations", {{"summary", "5xx ratio on api v2 is 19.15%"}}},
                {"startsAt", "2026-11-21T20:57:58.396Z"},
                {"endsAt", status == "firing" ? "0001-01-01T00:00:00Z" : "2026-11-21T21:05:00Z"},
                {"generatorURL", "http://127.0.0.1:19090/graph"},
                {"fingerprint", fingerprint}};
  json body = {{"receiver", "switchyard-rollback"},
               {"status", status},
               {"alerts", json::array({alert})},
               {"groupLabels", {{"alertname", "SwitchyardRouteErrorRatioHigh"}}},
               {"commonLabels", alert["labels"]},
               {"commonAnnotations", alert["annotations"]},
               {"externalURL", "http://127.0.0.1:19093"},
               {"version", "4"},
               {"groupKey", "{}:{alertname=\"SwitchyardRouteErrorRatioHigh\"}"},
               {"truncatedAlerts", 0}};
  return body.dump();
}

TEST_F(RollbackTest, AlertmanagerWebhookRollsBackOnceAndResolvedNeverRollsForward) {
  HttpSink sink;
  startProxy(rollbackConfig(sink.url("/chat"), ""));
  EXPECT_EQ(side(), "v2");
  const auto start = std::chrono::steady_clock::now();
  Response r = admin("POST", "/alerts/alertmanager", alertPayload("firing"));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_LT(std::chrono::steady_clock::now() - start, 500ms);  // answered before the plan ends
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (side() != "v1" && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);  // the plan runs on the manager's thread; bounded
  }
  EXPECT_EQ(side(), "v1");
  // Alertmanager re-sends: nothing new happens.
  EXPECT_EQ(admin("POST", "/alerts/alertmanager", alertPayload("firing")).status, 200);
  // Resolved: recorded, the route stays rolled back.
  EXPECT_EQ(admin("POST", "/alerts/alertmanager", alertPayload("resolved")).status, 200);
  std::this_thread::sleep_for(100ms);  // give a (wrong) roll-forward the chance to show
  EXPECT_EQ(side(), "v1");
  json s = state();
  EXPECT_EQ(s["executions"].size(), 1u) << s.dump(2);
  EXPECT_EQ(s["executions"][0]["trigger"]["kind"], "alertmanager");
  EXPECT_EQ(s["routes"]["api"]["state"], "rolled_back");
  const std::string m = metrics();
  EXPECT_NE(m.find("switchyard_rollbacks_total{route=\"api\",trigger=\"alertmanager\"} 1"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("switchyard_rollback_webhooks_total{result=\"duplicate\"} 1"), std::string::npos)
      << m;
}

TEST_F(RollbackTest, BadWebhookInputGets4xxAndChangesNothing) {
  HttpSink sink;
  startProxy(rollbackConfig(sink.url("/chat"), ""));
  struct Case {
    std::string body;
    std::string token;
    std::string content_type;
    int status;
  };
  json wrong_version = json::parse(alertPayload("firing"));
  wrong_version["version"] = "3";
  json no_alerts = json::parse(alertPayload("firing"));
  no_alerts.erase("alerts");
  json bad_labels = json::parse(alertPayload("firing"));
  bad_labels["alerts"][0]["labels"] = json::array({1, 2});
  const std::vector<Case> cases = {
      {alertPayload("firing"), "", "application/json", 401},
      {alertPayload("firing"), "wrong-token", "application/json", 401},
      {"{not json", Token, "application/json", 400},
      {wrong_version.dump(), Token, "application/json", 400},
      {no_alerts.dump(), Token, "application/json", 400},
      {bad_labels.dump(), Token, "application/json", 400},
      {std::string(100 * 1024, 'x'), Token, "application/json", 413},
  };
  for (const Case& c : cases) {
    Headers h;
    if (!c.token.empty()) h.push_back({"Authorization", "Bearer " + c.token});
    h.push_back({"Content-Type", c.content_type});
    Response r = httpRequest(adminPort(), "POST", "/alerts/alertmanager", h, c.body);
    EXPECT_EQ(r.status, c.status) << c.body.substr(0, 80) << " -> " << r.body;
  }
  EXPECT_EQ(side(), "v2");
  json s = state();
  EXPECT_EQ(s["executions"].size(), 0u);
  EXPECT_EQ(s["routes"]["api"]["state"], "active");
  EXPECT_EQ(sink.requestCount(), 0u);
  EXPECT_TRUE(proxy().running());
}

TEST_F(RollbackTest, ManualTriggerAndBadRollbackConfig) {
  HttpSink sink;
  startProxy(rollbackConfig(sink.url("/chat"), ""));
  EXPECT_EQ(admin("POST", "/rollback/trigger", R"({"route":"api","reason":"drill"})", "").status,
            401);
  Response r = admin("POST", "/rollback/trigger", R"({"route":"api","reason":"drill"})");
  EXPECT_EQ(r.status, 202) << r.body;
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (side() != "v1" && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);  // the plan runs on the manager's thread; bounded
  }
  EXPECT_EQ(side(), "v1");
  EXPECT_EQ(admin("POST", "/rollback/trigger", R"({"route":"nope"})").status, 404);

  // A plan naming a cluster outside the split is refused at load with its position.
  ProxyConfig bad = rollbackConfig(sink.url("/chat"), "");
  bad.top_extra =
      "rollback:\n  plans:\n    - route: api\n      steps:\n"
      "        - set_weights: {version: v2, weights: {elsewhere: 100}}\n";
  const std::string file = writeFile("bad.yaml", bad.render(18080, 19901));
  Process validate(SWITCHYARD_BIN, {"--validate", "--config", file});
  EXPECT_EQ(validate.waitExit(10s), std::optional<int>(1));
  EXPECT_NE(validate.output().find("rollback.plans[0].steps[0]"), std::string::npos)
      << validate.output();
}

// A complete plan against the real binary: a plan it depends on runs first, the steps' text
// is filled in from the trigger (the environment through an environment variable), a verify
// step watches the route's real traffic until errors stop, and the execution's recovery time is
// exported.
TEST_F(RollbackTest, VerifyWatchesRealTrafficAndStepsFillInTheirContext) {
  HttpSink sink;
  ProxyConfig c = rollbackConfig(sink.url("/chat"), "");
  c.routes.push_back({"reports", "/reports/", "legacy", ""});
  c.top_extra =
      "rollback:\n"
      "  environment: ${SWITCHYARD_TEST_ENVIRONMENT:-staging}\n"
      "  plans:\n"
      "    - route: reports\n"
      "      steps:\n"
      "        - notify: {url: '" +
      sink.url("/chat/${context.route}") +
      "', message: 'first ${context.route}'}\n"
      "    - route: api\n"
      "      depends_on: [reports]\n"
      "      estimated_duration: 30s\n"
      "      steps:\n"
      "        - pin_version: {version: v1}\n"
      "        - verify: {max_error_ratio: 0.01, for: 1s, timeout: 20s, min_requests: 5}\n"
      "        - webhook:\n"
      "            url: '" +
      sink.url("/deploy/${context.environment}") +
      "'\n"
      "            headers: {X-Triggered-By: '${context.triggered_by}'}\n"
      "            body: {route: '${context.route}', by: '${context.triggered_by}',\n"
      "                   env: '${context.environment}', why: '${context.reason}'}\n";
  startProxy(c);
  v2_->control("fail?status=500");
  EXPECT_EQ(side(), "500");
  Response r =
      admin("POST", "/rollback/trigger", R"({"route":"api","reason":"v2 fails","by":"alice"})");
  ASSERT_EQ(r.status, 202) << r.body;
  // Requests go on through the rollback; the verify step sees them (bounded: 20 s at most).
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  int sent = 0;
  while (std::chrono::steady_clock::now() < deadline &&
         state()["routes"]["api"]["state"] == "rolling_back") {
    side();
    ++sent;
    std::this_thread::sleep_for(20ms);
  }
  json s = state();
  ASSERT_EQ(s["routes"]["api"]["state"], "rolled_back") << s.dump(2);
  EXPECT_EQ(s["routes"]["reports"]["state"], "rolled_back");
  EXPECT_EQ(side(), "v1");
  const json& e = s["executions"][0];  // newest first
  EXPECT_EQ(e["route"], "api");
  EXPECT_EQ(e["trigger"]["triggered_by"], "alice");
  EXPECT_EQ(e["steps"][1]["type"], "verify");
  EXPECT_EQ(e["steps"][1]["status"], "succeeded");
  EXPECT_NE(e["steps"][1]["log"].back().get<std::string>().find("passed: error ratio 0.00%"),
            std::string::npos)
      << e.dump(2);
  EXPECT_GE(e["duration_seconds"].get<double>(), 1.0);
  EXPECT_EQ(e["estimated_duration_seconds"], 30.0);
  EXPECT_GT(sent, 10);

  std::vector<HttpSink::Request> calls = sink.requests();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].path, "/chat/reports");
  EXPECT_EQ(json::parse(calls[0].body)["text"], "first reports");
  EXPECT_EQ(calls[1].path, "/deploy/staging");
  EXPECT_EQ(calls[1].headers["x-triggered-by"], "alice");
  EXPECT_EQ(json::parse(calls[1].body),
            (json{{"route", "api"}, {"by", "alice"}, {"env", "staging"}, {"why", "v2 fails"}}));
  const std::string m = metrics();
  EXPECT_NE(m.find("switchyard_rollback_recovery_seconds{route=\"api\"}"), std::string::npos) << m;
  EXPECT_NE(m.find("switchyard_rollback_estimated_duration_seconds{route=\"api\"} 30"),
            std::string::npos);
  EXPECT_NE(m.find("switchyard_rollback_over_estimate_total{route=\"api\"} 0"), std::string::npos);
}

}  // namespace
}  // namespace switchyard::test::integration
