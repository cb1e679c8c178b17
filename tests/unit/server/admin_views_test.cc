#include "proxy/server/admin_views.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <string>

#include "config/loader.h"
#include "proxy/common/logging.h"
#include "proxy/common/time.h"
#include "proxy/server/active_config.h"
#include "proxy/stats/stats.h"

namespace switchyard::server {
namespace {

using nlohmann::json;

class AdminViewsTest : public ::testing::Test {
 protected:
  AdminViewsTest() {
    filters::registerBuiltinFilters(filters_);
    config_ = config::loadConfigString(
        "listeners: [{name: public, address: 127.0.0.1:18080}]\n"
        "clusters:\n"
        "  - {name: legacy, endpoints: [127.0.0.1:19001]}\n"
        "  - {name: modern, endpoints: ['127.0.0.1:19002', '127.0.0.1:19003']}\n"
        "routes:\n"
        "  - name: api\n"
        "    match: {prefix: /api/}\n"
        "    versions:\n"
        "      default: v2\n"
        "      v1: {cluster: legacy}\n"
        "      v2: {split: [{cluster: modern, weight: 90}, {cluster: legacy, weight: 10}]}\n"
        "  - {name: other, match: {prefix: /}, cluster: legacy}\n"
        "filters:\n"
        "  - retry: {}\n"
        "  - circuit_breaker: {consecutive_failures: 1}\n",
        "test.yaml", {filters_, metrics_, time_});
    active_ = activateConfig(config_, state_);
  }

  // Opens the breaker of `cluster` through the policy the router would use.
  void trip(const std::string& cluster) {
    const router::UpstreamPolicy* p = active_->policy("other", "", cluster);
    if (p == nullptr) p = active_->policy("api", "v2", cluster);
    ASSERT_NE(p, nullptr);
    ASSERT_NE(p->admission, nullptr);
    p->admission->onResult(time_.monotonicNow(), false, false);
  }

  HealthInputs health(std::map<std::string, std::vector<EndpointProber::Result>> endpoints) {
    return HealthInputs{*config_, stats_, std::move(endpoints), nullptr, nullptr, true, nullptr};
  }

  filters::FilterRegistry filters_;
  prometheus::Registry metrics_;
  common::SimulatedTimeSource time_;
  stats::ProxyStats stats_{metrics_};
  upstream::RuntimeStateRegistry state_;
  config::ConfigConstSharedPtr config_;
  ActiveConfigPtr active_;
};

TEST_F(AdminViewsTest, ClustersShowWhatEachFilterAdds) {
  const json v = clustersView(*config_, stats_)["clusters"];
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[1]["name"], "modern");
  EXPECT_EQ(v[1]["endpoints"], json::parse(R"(["127.0.0.1:19002", "127.0.0.1:19003"])"));
  EXPECT_EQ(v[1]["circuit_breaker"]["state"], "closed");
  EXPECT_EQ(v[1]["retry_budget"]["retry_limit"], 3);
  EXPECT_EQ(v[1]["connections"]["open"], 0);
}

TEST_F(AdminViewsTest, HealthFromTheLastProbeAndTheFilters) {
  common::setLogLevel(common::LogLevel::Error);
  using R = EndpointProber::Result;
  int status = 0;
  json h = healthView(
      health(
          {{"legacy", {R{"127.0.0.1:19001", true, ""}}},
           {"modern", {R{"127.0.0.1:19002", true, ""}, R{"127.0.0.1:19003", std::nullopt, ""}}}}),
      status);
  EXPECT_EQ(status, 200);
  EXPECT_EQ(h["status"], "ok") << h.dump(2);
  EXPECT_EQ(h["components"]["clusters"]["modern"]["endpoints"][1]["reachable"], nullptr);

  // One endpoint of two unreachable: degraded. An open breaker: degraded.
  h = healthView(health({{"legacy", {R{"127.0.0.1:19001", true, ""}}},
                         {"modern",
                          {R{"127.0.0.1:19002", true, ""},
                           R{"127.0.0.1:19003", false, "Connection refused"}}}}),
                 status);
  EXPECT_EQ(status, 200);
  EXPECT_EQ(h["status"], "degraded");
  EXPECT_EQ(h["components"]["clusters"]["modern"]["status"], "degraded");
  EXPECT_EQ(h["components"]["clusters"]["modern"]["endpoints"][1]["error"], "Connection refused");
  trip("legacy");
  h = healthView(health({{"legacy", {R{"127.0.0.1:19001", true, ""}}}}), status);
  EXPECT_EQ(h["components"]["clusters"]["legacy"]["status"], "degraded");
  EXPECT_EQ(h["components"]["clusters"]["legacy"]["circuit_breaker"], "open");

  // No endpoint reachable: down, 503.
  h = healthView(health({{"legacy", {R{"127.0.0.1:19001", false, "timed out"}}}}), status);
  EXPECT_EQ(status, 503);
  EXPECT_EQ(h["status"], "down");
  EXPECT_EQ(h["components"]["redis"]["status"], "not_configured");
  EXPECT_EQ(h["components"]["rollback"]["status"], "disabled");
  common::setLogLevel(common::LogLevel::Info);
}

TEST_F(AdminViewsTest, RedisMakesTheProxyDegradedNeverDown) {
  using R = EndpointProber::Result;
  HealthInputs in = health(
      {{"legacy", {R{"127.0.0.1:19001", true, ""}}}, {"modern", {R{"127.0.0.1:19002", true, ""}}}});
  const redis::ClientStatus::View up{redis::ClientState::Connected, 0, ""};
  const redis::ClientStatus::View lost{redis::ClientState::CoolingDown, 3,
                                       "connect: Connection refused"};
  HealthInputs::Redis redis{"127.0.0.1:6379", {up, up}};
  in.redis = &redis;
  int status = 0;
  json h = healthView(in, status);
  EXPECT_EQ(status, 200);
  EXPECT_EQ(h["status"], "ok") << h.dump(2);
  EXPECT_EQ(h["components"]["redis"]["status"], "ok");
  EXPECT_EQ(h["components"]["redis"]["address"], "127.0.0.1:6379");
  EXPECT_EQ(h["components"]["redis"]["workers"][0],
            json::parse(R"({"state": "connected", "consecutive_failures": 0, "last_error": ""})"));

  // One worker without its connection: degraded.
  redis.workers = {up, lost};
  h = healthView(in, status);
  EXPECT_EQ(status, 200);
  EXPECT_EQ(h["status"], "degraded");
  EXPECT_EQ(h["components"]["redis"]["status"], "degraded");
  EXPECT_EQ(h["components"]["redis"]["workers"][1],
            json::parse(R"({"state": "cooling_down", "consecutive_failures": 3,
                            "last_error": "connect: Connection refused"})"));

  // Redis down: the component is down, the proxy (which serves without it) degraded.
  redis.workers = {lost, lost};
  h = healthView(in, status);
  EXPECT_EQ(status, 200);
  EXPECT_EQ(h["status"], "degraded");
  EXPECT_EQ(h["components"]["redis"]["status"], "down");
}

TEST_F(AdminViewsTest, WeightRequestsAnswerWithTheRightStatus) {
  router::WeightOverrides overrides;
  struct Case {
    std::string body;
    int status;
    std::string detail;
  };
  const Case cases[] = {
      {R"([1])", 400, "expected a JSON object"},
      {R"({"route":"api","weights":{},"x":1})", 400, "unknown key \"x\""},
      {R"({"version":"v2","weights":{}})", 400, "\"route\" (a string) is required"},
      {R"({"route":"api","version":2,"weights":{}})", 400, "\"version\" must be a string"},
      {R"({"route":"api","version":"v2"})", 400, "\"weights\" is required"},
      {R"({"route":"api","version":"v2","weights":[1]})", 400, "must be an object"},
      {R"({"route":"api","version":"v2","weights":{"modern":-1}})", 400, "integer from 0"},
      {R"({"route":"nope","version":"v2","weights":{"modern":1}})", 404, "does not exist"},
      {R"({"route":"api","version":"v9","weights":{"modern":1}})", 400, "has no version"},
      {R"({"route":"api","weights":{"modern":1}})", 400, "is versioned"},
      {R"({"route":"api","version":"v2","weights":{"other":1}})", 400, "not part of the split"},
      {R"({"route":"api","version":"v2","weights":{"modern":0}})", 400, "add up to 0"},
      {R"({"route":"nope","version":"v2","weights":null})", 404, "does not exist"},
      {R"({"route":"api","version":"v9","weights":null})", 404, "has no version"},
  };
  for (const Case& c : cases) {
    AdminResult r = setWeightsRequest(json::parse(c.body), *config_, overrides);
    EXPECT_EQ(r.status, c.status) << c.body;
    EXPECT_NE(r.body.value("error", "").find(c.detail), std::string::npos)
        << c.body << " -> " << r.body.dump();
  }
  EXPECT_FALSE(overrides.get("api", "v2").has_value());

  common::setLogLevel(common::LogLevel::Error);
  AdminResult ok =
      setWeightsRequest(json::parse(R"({"route":"api","version":"v2","weights":{"legacy":100}})"),
                        *config_, overrides);
  EXPECT_EQ(ok.status, 200);
  const json routes = routesView(*config_, overrides)["routes"];
  EXPECT_EQ(routes[0]["versions"]["v2"]["overridden"], true);
  EXPECT_EQ(routes[0]["versions"]["v2"]["split"][0]["weight"], 0);
  EXPECT_EQ(routes[0]["versions"]["v2"]["split"][1]["weight"], 100);
  EXPECT_TRUE(routes[0]["rollout"].is_null());
  const std::map<std::string, std::string> rollouts = {{"api", "paused"}};
  EXPECT_EQ(routesView(*config_, overrides, &rollouts)["routes"][0]["rollout"], "paused");
  AdminResult cleared = setWeightsRequest(
      json::parse(R"({"route":"api","version":"v2","weights":null})"), *config_, overrides);
  EXPECT_EQ(cleared.status, 200);
  EXPECT_EQ(cleared.body["cleared"], true);
  common::setLogLevel(common::LogLevel::Info);
}

}  // namespace
}  // namespace switchyard::server
