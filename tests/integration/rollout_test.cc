// Gated progressive rollout against the real binary: a healthy v2 taken to 100% step by step, a
// v2 that errs three times as often as v1 rolled back at 10%, and the admin API (token, wrong
// state, kill -9, a manual weight change).

#include <signal.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/integration/harness.h"

namespace switchyard::test::integration {
namespace {

using nlohmann::json;
const std::string Token = "integration-secret-token";

class RolloutTest : public ProxyTest {
 protected:
  void SetUp() override {
    ProxyTest::SetUp();
    v1_ = &addUpstream("v1");
    v2_ = &addUpstream("v2");
  }

  // Route `api`: v1 on legacy; v2 (the default) splitting between modern (the new side, 0% as
  // configured) and legacy, sticky per X-User-Id; a plan pinning v1.
  ProxyConfig config(const std::string& rollout) {
    ProxyConfig c;
    c.clusters.push_back({"legacy", {v1_->address()}, ""});
    c.clusters.push_back({"modern", {v2_->address()}, ""});
    c.routes.push_back({"api", "/api/", "",
                        "    rollout: " + rollout +
                            "\n"
                            "    versions:\n"
                            "      default: v2\n"
                            "      v1: {cluster: legacy}\n"
                            "      v2:\n"
                            "        split: [{cluster: modern, weight: 0}, "
                            "{cluster: legacy, weight: 100}]\n"
                            "        sticky: {header: X-User-Id}\n"});
    c.top_extra =
        "rollback:\n"
        "  state_file: " +
        tempDir() +
        "/rollback.json\n"
        "  plans:\n"
        "    - route: api\n"
        "      steps:\n"
        "        - pin_version: {version: v1}\n";
    return c;
  }

  Response admin(std::string_view method, std::string_view path, std::string_view body = {},
                 const std::string& token = Token) {
    Headers h;
    if (!token.empty()) h.push_back({"Authorization", "Bearer " + token});
    if (!body.empty()) h.push_back({"Content-Type", "application/json"});
    return httpRequest(adminPort(), method, path, h, body);
  }
  json rollout() {
    Response r = httpGet(adminPort(), "/rollout");
    EXPECT_EQ(r.status, 200);
    json doc = json::parse(r.body, nullptr, false);
    return doc.is_object() && doc["routes"].size() == 1 ? doc["routes"][0] : json();
  }
  std::string metrics() { return httpGet(adminPort(), "/metrics").body; }
  // One request of user `i` on `path`; the upstream's name, or the status.
  std::string request(int i, const std::string& path = "/api/orders") {
    Response r = httpRequest(port(), "GET", path, {{"X-User-Id", "user-" + std::to_string(i)}}, {});
    return r.status == 200 ? r.header("x-upstream-name").value_or("?") : std::to_string(r.status);
  }
  // Sends traffic until the rollout's state is `state` (or `timeout` passes); `path_of(i)` is the
  // path of request i. Returns the last view.
  json driveUntil(const std::string& state, std::chrono::milliseconds timeout,
                  const std::function<std::string(int)>& path_of) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    json view;
    for (int i = 0; i < 100000 && std::chrono::steady_clock::now() < until; ++i) {
      request(i, path_of(i));
      if (i % 20 == 0) {
        view = rollout();
        if (view.value("state", "") == state) return view;
      }
    }
    return rollout();
  }

  TestUpstream* v1_ = nullptr;
  TestUpstream* v2_ = nullptr;
};

TEST_F(RolloutTest, AdvancesTenFiftyHundredWithAHealthyV2) {
  startProxy(config("{steps: [10, 50, 100], hold: 500ms, gates: {min_requests: 5}}"));
  json v = driveUntil("completed", 30s, [](int) { return "/api/orders"; });
  ASSERT_EQ(v["state"], "completed") << v.dump(2);
  EXPECT_EQ(v["weight"], 100);
  EXPECT_EQ(v["new_cluster"], "modern");
  EXPECT_EQ(v["old_cluster"], "legacy");
  std::vector<uint32_t> weights;
  for (const json& t : v["history"]) weights.push_back(t["weight"]);
  EXPECT_EQ(weights, (std::vector<uint32_t>{0, 10, 50, 100})) << v["history"].dump(2);
  EXPECT_EQ(v["history"].back()["to"], "completed");
  for (int i = 0; i < 20; ++i) EXPECT_EQ(request(i), "v2");
  const std::string m = metrics();
  EXPECT_NE(m.find("switchyard_rollout_step{route=\"api\"} 100"), std::string::npos) << m;
  EXPECT_NE(m.find("switchyard_rollout_state{route=\"api\",state=\"completed\"} 1"),
            std::string::npos);
  EXPECT_NE(m.find("switchyard_rollout_transitions_total{route=\"api\",to=\"completed\"} 1"),
            std::string::npos);
  // Finished: promote and resume are conflicts.
  Response r = admin("POST", "/rollout/promote", R"({"route": "api"})");
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_EQ(r.header("content-type"), std::optional<std::string>("application/problem+json"));
  EXPECT_EQ(admin("POST", "/rollout/resume", R"({"route": "api"})").status, 409);
}

TEST_F(RolloutTest, RollsBackAtTenWhenV2ErrsThreeTimesAsOftenAsV1) {
  // v1 fails /api/x/a (one request in ten), v2 every /api/x/ path (three in ten).
  ASSERT_EQ(httpGet(v1_->port(), "/control/fail?status=500&count=-1&path=/api/x/a").status, 200);
  ASSERT_EQ(httpGet(v2_->port(), "/control/fail?status=500&count=-1&path=/api/x/").status, 200);
  startProxy(config("{steps: [10, 50, 100], hold: 3s, gates: {min_requests: 40}}"));
  json v = driveUntil("aborted", 30s, [](int i) {
    switch (i % 10) {
      case 0:
        return std::string("/api/x/a");
      case 3:
      case 7:
        return std::string("/api/x/b");
      default:
        return std::string("/api/ok");
    }
  });
  ASSERT_EQ(v["state"], "aborted") << v.dump(2);
  EXPECT_EQ(v["weight"], 0);
  const std::string reason = v["history"].back()["reason"];
  EXPECT_EQ(reason.rfind("gate failed at 10%: max_error_ratio_vs_baseline", 0), 0u) << reason;
  EXPECT_EQ(v["gates"]["gates"][1]["result"], "fail");

  // The route's rollback plan ran, recorded with the gate's trigger.
  json rb;
  for (int i = 0; i < 100; ++i) {
    rb = json::parse(httpGet(adminPort(), "/rollback").body);
    if (rb["routes"]["api"]["state"] == "rolled_back") break;
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_EQ(rb["routes"]["api"]["state"], "rolled_back") << rb.dump(2);
  ASSERT_EQ(rb["executions"].size(), 1u);
  EXPECT_EQ(rb["executions"][0]["trigger"]["kind"], "rollout_gate");
  EXPECT_NE(rb["executions"][0]["trigger"]["reason"].get<std::string>().find("gate failed"),
            std::string::npos);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(request(i), "v1");
  const std::string m = metrics();
  EXPECT_NE(m.find("switchyard_rollbacks_total{route=\"api\",trigger=\"rollout_gate\"} 1"),
            std::string::npos);
  EXPECT_NE(m.find("switchyard_rollout_state{route=\"api\",state=\"aborted\"} 1"),
            std::string::npos);
  EXPECT_EQ(admin("POST", "/rollout/abort", R"({"route": "api"})").status, 409);

  // Started again only once the rollback is undone.
  EXPECT_EQ(admin("POST", "/rollout/restart", R"({"route": "api"})").status, 409);
  ASSERT_EQ(admin("POST", "/rollback/resume", R"({"route": "api"})").status, 200);
  Response r = admin("POST", "/rollout/restart", R"({"route": "api"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["state"], "pending");
}

TEST_F(RolloutTest, AdminCallsNeedTheTokenAndTheRightStateAndTheStateSurvivesKillNine) {
  const ProxyConfig c = config("{steps: [10, 50, 100], hold: 10m, gates: {min_requests: 5}}");
  startProxy(c);
  json v;
  for (int i = 0; i < 100; ++i) {
    v = rollout();
    if (v.value("state", "") == "progressing") break;
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_EQ(v["state"], "progressing") << v.dump(2);
  EXPECT_EQ(v["weight"], 10);

  EXPECT_EQ(admin("POST", "/rollout/pause", R"({"route": "api"})", "").status, 401);
  EXPECT_EQ(admin("POST", "/rollout/pause", R"({"route": "api"})", "wrong").status, 401);
  EXPECT_EQ(admin("POST", "/rollout/resume", R"({"route": "api"})").status, 409);
  EXPECT_EQ(admin("POST", "/rollout/pause", R"({"route": "nope"})").status, 404);
  EXPECT_EQ(admin("POST", "/rollout/pause", R"({"route": 1})").status, 400);
  EXPECT_EQ(admin("POST", "/rollout/pause", "not json").status, 400);
  EXPECT_EQ(rollout()["state"], "progressing");

  Response r = admin("POST", "/rollout/pause", R"({"route": "api", "reason": "looking"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["state"], "paused");
  EXPECT_EQ(admin("POST", "/rollout/pause", R"({"route": "api"})").status, 409);

  // kill -9 and start again: still paused at 10%, the history kept.
  proxy().terminate(SIGKILL);
  proxy().waitExit(5s);
  startProxy(c);
  v = rollout();
  EXPECT_EQ(v["state"], "paused") << v.dump(2);
  EXPECT_EQ(v["weight"], 10);
  EXPECT_EQ(v["paused_reason"], "looking");
  EXPECT_EQ(v["history"].back()["by"], "api");

  r = admin("POST", "/rollout/resume", R"({"route": "api"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["state"], "progressing");

  // A weight set by hand pauses the rollout.
  r = admin("POST", "/routes/weights",
            R"({"route": "api", "version": "v2", "weights": {"modern": 30, "legacy": 70}})");
  ASSERT_EQ(r.status, 200) << r.body;
  v = rollout();
  EXPECT_EQ(v["state"], "paused");
  EXPECT_NE(v["paused_reason"].get<std::string>().find("by hand"), std::string::npos);

  r = admin("POST", "/rollout/promote", R"({"route": "api"})");
  ASSERT_EQ(r.status, 200) << r.body;
  for (int i = 0; i < 20; ++i) EXPECT_EQ(request(i), "v2");
  r = admin("POST", "/rollout/abort", R"({"route": "api", "reason": "changed our minds"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["weight"], 0);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(request(i), "v1");
  EXPECT_EQ(admin("POST", "/rollout/abort", R"({"route": "api"})").status, 409);
  const std::string actions = httpGet(adminPort(), "/actions").body;
  EXPECT_NE(actions.find("/rollout/abort"), std::string::npos) << actions;
}

TEST_F(RolloutTest, AReloadKeepsAnUnchangedRolloutRefusesABadOneAndRestartsAChangedOne) {
  const std::string settings = "{steps: [10, 50, 100], hold: 10m, gates: {min_requests: 5}}";
  startProxy(config(settings));
  json v;
  for (int i = 0; i < 100; ++i) {
    v = rollout();
    if (v.value("state", "") == "progressing") break;
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_EQ(v["state"], "progressing") << v.dump(2);
  ASSERT_EQ(admin("POST", "/rollout/pause", R"({"route": "api"})").status, 200);
  const size_t history = rollout()["history"].size();

  // The same rollout settings (another route added): the state is kept.
  ProxyConfig same = config(settings);
  same.routes.push_back({"other", "/other/", "legacy", ""});
  writeFile("switchyard.yaml", same.render(port(), adminPort()));
  Response r = admin("POST", "/reload");
  ASSERT_EQ(r.status, 200) << r.body;
  v = rollout();
  EXPECT_EQ(v["state"], "paused");
  EXPECT_EQ(v["weight"], 10);
  EXPECT_EQ(v["history"].size(), history);

  // Bad settings: refused with the error, nothing changed.
  writeFile("switchyard.yaml", config("{steps: [50, 10, 100]}").render(port(), adminPort()));
  r = admin("POST", "/reload");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("routes[0].rollout.steps[1]: steps must be strictly increasing"),
            std::string::npos)
      << r.body;
  EXPECT_EQ(rollout()["state"], "paused");

  // Changed settings: a new rollout, from the first step.
  writeFile("switchyard.yaml", config("{steps: [25, 100], hold: 10m, gates: {min_requests: 5}}")
                                   .render(port(), adminPort()));
  r = admin("POST", "/reload");
  ASSERT_EQ(r.status, 200) << r.body;
  for (int i = 0; i < 100; ++i) {
    v = rollout();
    if (v.value("state", "") == "progressing") break;
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(v["state"], "progressing") << v.dump(2);
  EXPECT_EQ(v["weight"], 25);
  EXPECT_EQ(v["steps"], json::array({25, 100}));
}

TEST_F(RolloutTest, TheKillSwitchPausesTheRollout) {
  startProxy(config("{steps: [10, 50, 100], hold: 10m, gates: {min_requests: 5}}"));
  ASSERT_EQ(admin("POST", "/migration/halt").status, 200);
  json v;
  for (int i = 0; i < 100; ++i) {
    v = rollout();
    if (v.value("state", "") == "paused") break;
    std::this_thread::sleep_for(20ms);
  }
  // Halted before it started, or paused right after: either way it waits.
  EXPECT_TRUE(v["state"] == "paused" || v["state"] == "pending") << v.dump(2);
  Response r = admin("POST", "/rollout/resume", R"({"route": "api"})");
  EXPECT_EQ(r.status, 409) << r.body;
}

}  // namespace
}  // namespace switchyard::test::integration
