// The admin endpoints behind the operations console, against the real binary: the last minute of
// traffic per version and cluster (GET /traffic), the action log (GET /actions), the rate-limit
// figures (GET /rate_limit), and the console's page with its security headers (GET /ui).

#include <nlohmann/json.hpp>
#include <string>

#include "tests/integration/harness.h"

namespace switchyard::test::integration {
namespace {

using nlohmann::json;
const std::string Token = "integration-secret-token";

class ConsoleApiTest : public ProxyTest {
 protected:
  ProxyConfig twoVersions() {
    TestUpstream& v1 = addUpstream("v1");
    TestUpstream& v2 = addUpstream("v2");
    ProxyConfig c;
    c.clusters.push_back({"legacy", {v1.address()}, ""});
    c.clusters.push_back({"modern", {v2.address()}, ""});
    c.routes.push_back({"api", "/", "",
                        "    versions:\n"
                        "      default: v2\n"
                        "      v1: {cluster: legacy}\n"
                        "      v2: {split: [{cluster: modern, weight: 100}, "
                        "{cluster: legacy, weight: 0}]}\n"});
    return c;
  }

  json adminJson(const std::string& path) {
    const Response r = httpGet(adminPort(), path);
    EXPECT_EQ(r.status, 200) << path << ": " << r.body;
    return json::parse(r.body, nullptr, false);
  }

  static const json* entry(const json& list, const std::string& key, const std::string& value,
                           const std::string& key2 = "", const std::string& value2 = "") {
    for (const json& e : list) {
      if (e.value(key, "") == value && (key2.empty() || e.value(key2, "") == value2)) return &e;
    }
    return nullptr;
  }
};

TEST_F(ConsoleApiTest, TrafficShowsEachVersionAndClusterSideBySide) {
  startProxy(twoVersions());
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(httpGet(port(), "/orders", {{"X-API-Version", "v1"}}).status, 200);
  }
  for (int i = 0; i < 8; ++i) {
    ASSERT_EQ(httpGet(port(), "/orders", {{"X-API-Version", "v2"}}).status, 200);
  }
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(httpGet(port(), "/status/503", {{"X-API-Version", "v2"}}).status, 503);
  }
  const json traffic = adminJson("/traffic");
  EXPECT_GT(traffic["window_seconds"].get<double>(), 0.0);
  EXPECT_LE(traffic["window_seconds"].get<double>(), 65.0);

  const json* v1 = entry(traffic["routes"], "route", "api", "version", "v1");
  const json* v2 = entry(traffic["routes"], "route", "api", "version", "v2");
  ASSERT_NE(v1, nullptr) << traffic.dump();
  ASSERT_NE(v2, nullptr) << traffic.dump();
  EXPECT_EQ((*v1)["requests"], 20);
  EXPECT_EQ((*v1)["errors"], 0);
  EXPECT_EQ((*v1)["error_ratio"], 0.0);
  EXPECT_EQ((*v2)["requests"], 10);
  EXPECT_EQ((*v2)["errors"], 2);
  EXPECT_DOUBLE_EQ((*v2)["error_ratio"].get<double>(), 0.2);
  EXPECT_GT((*v2)["requests_per_second"].get<double>(), 0.0);
  ASSERT_TRUE((*v2)["p95_ms"].is_number());
  EXPECT_GT((*v2)["p95_ms"].get<double>(), 0.0);
  EXPECT_LT((*v2)["p95_ms"].get<double>(), 5000.0);

  const json* legacy = entry(traffic["clusters"], "cluster", "legacy");
  const json* modern = entry(traffic["clusters"], "cluster", "modern");
  ASSERT_NE(legacy, nullptr);
  ASSERT_NE(modern, nullptr);
  EXPECT_EQ((*legacy)["requests"], 20);
  EXPECT_EQ((*modern)["requests"], 10);
  EXPECT_EQ((*modern)["errors"], 2);
}

TEST_F(ConsoleApiTest, EveryMutatingCallIsRecordedWithItsClientAndNoOriginGetsIn) {
  startProxy(twoVersions());
  const std::string body = R"({"route":"api","version":"v2","weights":{"modern":50,"legacy":50}})";
  // A page of another origin: no token, so no change, and nothing that lets a browser read the
  // answer (no CORS headers, preflight refused).
  const Response foreign =
      httpRequest(adminPort(), "POST", "/routes/weights",
                  {{"Origin", "http://attacker.example"}, {"Content-Type", "text/plain"}}, body);
  EXPECT_EQ(foreign.status, 401);
  EXPECT_FALSE(foreign.header("access-control-allow-origin"));
  const Response preflight = httpRequest(adminPort(), "OPTIONS", "/routes/weights",
                                         {{"Origin", "http://attacker.example"},
                                          {"Access-Control-Request-Method", "POST"},
                                          {"Access-Control-Request-Headers", "authorization"}});
  EXPECT_EQ(preflight.status, 405);
  EXPECT_FALSE(preflight.header("access-control-allow-origin"));
  EXPECT_FALSE(preflight.header("access-control-allow-headers"));
  json routes = adminJson("/routes");
  EXPECT_EQ(routes["routes"][0]["versions"]["v2"]["overridden"], false);

  const Response ok =
      httpRequest(adminPort(), "POST", "/routes/weights",
                  {{"Authorization", "Bearer " + Token}, {"X-Switchyard-Client", "console"}}, body);
  ASSERT_EQ(ok.status, 200) << ok.body;

  const json actions = adminJson("/actions")["actions"];
  ASSERT_EQ(actions.size(), 2u) << actions.dump();
  EXPECT_EQ(actions[0]["path"], "/routes/weights");
  EXPECT_EQ(actions[0]["status"], 200);
  EXPECT_EQ(actions[0]["client"], "console");
  EXPECT_EQ(actions[0]["remote"], "127.0.0.1");
  EXPECT_NE(actions[0]["summary"].get<std::string>().find("\"modern\":50"), std::string::npos);
  EXPECT_EQ(actions[1]["status"], 401);
  EXPECT_EQ(actions[1]["client"], "api");
  // Read-only requests are not recorded.
  EXPECT_EQ(adminJson("/actions")["actions"].size(), 2u);
}

TEST_F(ConsoleApiTest, RateLimitFiguresCountDenialsPerPolicy) {
  ProxyConfig c = defaultConfig();
  c.filters +=
      "  - rate_limit:\n"
      "      policies:\n"
      "        - {name: tight, key: route, limit: 2, window: 1m}\n";
  startProxy(c);
  int limited = 0;
  for (int i = 0; i < 5; ++i) limited += httpGet(port(), "/x").status == 429 ? 1 : 0;
  EXPECT_EQ(limited, 3);
  const json rl = adminJson("/rate_limit");
  ASSERT_EQ(rl["policies"].size(), 1u) << rl.dump();
  const json& p = rl["policies"][0];
  EXPECT_EQ(p["name"], "tight");
  EXPECT_EQ(p["mode"], "local");
  EXPECT_EQ(p["limit"], 2);
  EXPECT_EQ(p["window_seconds"], 60.0);
  EXPECT_EQ(p["denied"], 3);
  EXPECT_EQ(p["shadow_denied"], 0);
}

TEST_F(ConsoleApiTest, WithoutTheFiltersTheirEndpointsAre404) {
  startProxy();
  EXPECT_EQ(httpGet(adminPort(), "/rate_limit").status, 404);
  EXPECT_EQ(httpGet(adminPort(), "/cache").status, 404);
}

}  // namespace
}  // namespace switchyard::test::integration
