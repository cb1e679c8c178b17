// Migration control against the real binary: the kill switch (POST /migration/halt and
// /migration/resume, kept across a kill -9), and bad calls that change nothing.

#include <signal.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "tests/integration/harness.h"

namespace switchyard::test::integration {
namespace {

using nlohmann::json;
const std::string Token = "integration-secret-token";

class MigrationControlTest : public ProxyTest {
 protected:
  void SetUp() override {
    ProxyTest::SetUp();
    v1_ = &addUpstream("v1");
    v2_ = &addUpstream("v2");
  }

  // Route `api`: v1 on legacy, v2 (the default) on modern; rollback state in the test's directory.
  ProxyConfig config(const std::string& v2_extra = "", const std::string& plan_steps = "") {
    ProxyConfig c;
    c.clusters.push_back({"legacy", {v1_->address()}, ""});
    c.clusters.push_back({"modern", {v2_->address()}, ""});
    c.routes.push_back({"api", "/api/", "",
                        "    versions:\n"
                        "      default: v2\n"
                        "      v1: {cluster: legacy}\n"
                        "      v2: {split: [{cluster: modern, weight: 100}, "
                        "{cluster: legacy, weight: 0}]" +
                            v2_extra + "}\n"});
    c.top_extra =
        "rollback:\n"
        "  state_file: " +
        tempDir() +
        "/rollback.json\n"
        "  plans:\n"
        "    - route: api\n"
        "      steps:\n" +
        (plan_steps.empty() ? "        - pin_version: {version: v1}\n" : plan_steps);
    return c;
  }

  std::string side(const std::string& path = "/api/orders", const Headers& headers = {}) {
    Response r = httpRequest(port(), "GET", path, headers, {});
    return r.status == 200 ? r.header("x-upstream-name").value_or("?") : std::to_string(r.status);
  }
  Response admin(std::string_view method, std::string_view path, std::string_view body = {},
                 const std::string& token = Token) {
    Headers h;
    if (!token.empty()) h.push_back({"Authorization", "Bearer " + token});
    if (!body.empty()) h.push_back({"Content-Type", "application/json"});
    return httpRequest(adminPort(), method, path, h, body);
  }
  json migration() {
    Response r = httpGet(adminPort(), "/migration");
    EXPECT_EQ(r.status, 200);
    return json::parse(r.body, nullptr, false);
  }
  std::string metrics() { return httpGet(adminPort(), "/metrics").body; }
  // An admin listener's refusal: `status` with a problem+json body.
  static ::testing::AssertionResult isAdminProblem(const Response& r, int status) {
    if (r.status != status) {
      return ::testing::AssertionFailure() << "status " << r.status << ": " << r.body;
    }
    if (r.header("content-type") != std::optional<std::string>("application/problem+json")) {
      return ::testing::AssertionFailure()
             << "content type " << r.header("content-type").value_or("");
    }
    return ::testing::AssertionSuccess();
  }

  TestUpstream* v1_ = nullptr;
  TestUpstream* v2_ = nullptr;
};

TEST_F(MigrationControlTest, HaltSendsEveryRouteToItsStableVersionUntilResumedAcrossKillNine) {
  const ProxyConfig c = config();
  startProxy(c);
  EXPECT_EQ(side(), "v2");
  json m = migration();
  EXPECT_EQ(m["halted"], false) << m.dump();
  ASSERT_EQ(m["routes"].size(), 1u);
  EXPECT_EQ(m["routes"][0]["stable_version"], "v1");
  EXPECT_NE(metrics().find("switchyard_migration_halted 0"), std::string::npos);

  Response r = admin("POST", "/migration/halt", R"({"reason":"v2 pages"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["halted"], true);
  // Whatever the request asks for.
  EXPECT_EQ(side(), "v1");
  EXPECT_EQ(side("/api/v2/orders"), "v1");
  EXPECT_EQ(side("/api/orders", {{"X-API-Version", "2"}}), "v1");
  m = migration();
  EXPECT_EQ(m["halted"], true);
  EXPECT_EQ(m["by"], "api");
  EXPECT_EQ(m["reason"], "v2 pages");
  EXPECT_EQ(m["routes"][0]["halted_to"], "v1");
  const std::string since = m["since"];
  EXPECT_NE(metrics().find("switchyard_migration_halted 1"), std::string::npos);
  const std::string actions = httpGet(adminPort(), "/actions").body;
  EXPECT_NE(actions.find("/migration/halt"), std::string::npos) << actions;

  // Halting twice is a conflict that changes nothing.
  r = admin("POST", "/migration/halt");
  EXPECT_TRUE(isAdminProblem(r, 409)) << r.body;
  EXPECT_EQ(migration()["since"], since);

  // kill -9 and start again: still halted, from the first request on.
  proxy().terminate(SIGKILL);
  proxy().waitExit(5s);
  startProxy(c);
  EXPECT_EQ(side(), "v1");
  m = migration();
  EXPECT_EQ(m["halted"], true);
  EXPECT_EQ(m["since"], since);

  r = admin("POST", "/migration/resume");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(side(), "v2");
  EXPECT_EQ(side("/api/v1/orders"), "v1");
  EXPECT_EQ(migration()["halted"], false);
  EXPECT_NE(metrics().find("switchyard_migration_halted 0"), std::string::npos);
  r = admin("POST", "/migration/resume");
  EXPECT_TRUE(isAdminProblem(r, 409)) << r.body;
  EXPECT_EQ(side(), "v2");

  // And resumed stays resumed after a restart.
  stopProxy();
  startProxy(c);
  EXPECT_EQ(side(), "v2");
  EXPECT_EQ(migration()["halted"], false);
}

TEST_F(MigrationControlTest, HaltAndResumeNeedTheTokenAndAWellFormedBody) {
  startProxy(config());
  EXPECT_EQ(admin("POST", "/migration/halt", "", "").status, 401);
  EXPECT_EQ(admin("POST", "/migration/halt", "", "wrong-token").status, 401);
  EXPECT_TRUE(isAdminProblem(admin("POST", "/migration/halt", "[1,2]"), 400));
  EXPECT_TRUE(isAdminProblem(admin("POST", "/migration/halt", R"({"reason":7})"), 400));
  EXPECT_EQ(migration()["halted"], false);
  EXPECT_EQ(side(), "v2");

  ASSERT_EQ(admin("POST", "/migration/halt").status, 200);
  EXPECT_EQ(admin("POST", "/migration/resume", "", "").status, 401);
  EXPECT_EQ(migration()["halted"], true);
  EXPECT_EQ(side(), "v1");
}

TEST_F(MigrationControlTest, TheStableVersionIsTheOneTheRollbackPins) {
  // A third version, pinned by the plan: the halt goes there, not to the oldest.
  addUpstream("v3");
  ProxyConfig c = config("", "        - pin_version: {version: v3}\n");
  c.clusters.push_back({"newest", {upstreams_.back()->address()}, ""});
  c.routes[0].extra += "      v3: {cluster: newest}\n";
  startProxy(c);
  EXPECT_EQ(migration()["routes"][0]["stable_version"], "v3");
  ASSERT_EQ(admin("POST", "/migration/halt").status, 200);
  EXPECT_EQ(side(), "v3");
  EXPECT_EQ(side("/api/v1/x"), "v3");
}

TEST_F(MigrationControlTest, APinnedV1GetsV2RequestsWithV1sPathsAndTheQueryKept) {
  ProxyConfig c = config();
  c.routes[0].extra =
      "    versions:\n"
      "      default: v2\n"
      "      v1:\n"
      "        cluster: legacy\n"
      "        rewrite: {regex: '^/api/v2/(.*)$', to: '/api/v1/\\1'}\n"
      "      v2: {cluster: modern}\n";
  startProxy(c);
  Response r = httpGet(port(), "/api/v2/orders/7?page=2");
  EXPECT_EQ(r.header("x-upstream-name"), std::optional<std::string>("v2"));
  EXPECT_EQ(jsonString(r.body, "path"), std::optional<std::string>("/api/v2/orders/7?page=2"));
  r = httpGet(port(), "/api/v1/orders");
  EXPECT_EQ(r.header("x-upstream-name"), std::optional<std::string>("v1"));
  EXPECT_EQ(jsonString(r.body, "path"), std::optional<std::string>("/api/v1/orders"));

  ASSERT_EQ(admin("POST", "/migration/halt").status, 200);
  r = httpGet(port(), "/api/v2/orders/7?page=2");
  EXPECT_EQ(r.header("x-upstream-name"), std::optional<std::string>("v1"));
  EXPECT_EQ(jsonString(r.body, "path"), std::optional<std::string>("/api/v1/orders/7?page=2"))
      << r.body;
  // A path the rewrite does not match goes as it came.
  r = httpGet(port(), "/api/orders");
  EXPECT_EQ(jsonString(r.body, "path"), std::optional<std::string>("/api/orders"));
}

TEST_F(MigrationControlTest, TestUsersAreForcedToTheNewSideWhateverTheWeights) {
  ProxyConfig c = config();
  c.routes[0].extra =
      "    versions:\n"
      "      default: v2\n"
      "      v1: {cluster: legacy}\n"
      "      v2:\n"
      "        split: [{cluster: legacy, weight: 100}, {cluster: modern, weight: 0}]\n"
      "        sticky: {header: X-User-Id}\n"
      "        force: [{cluster: modern, keys: [u123, u456]}]\n";
  startProxy(c);
  EXPECT_EQ(side("/api/x", {{"X-User-Id", "u123"}}), "v2");
  EXPECT_EQ(side("/api/x", {{"X-User-Id", "u456"}}), "v2");
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(side("/api/x", {{"X-User-Id", "user-" + std::to_string(i)}}), "v1");
  }
  // A runtime override does not move them either.
  Response r = admin("POST", "/routes/weights",
                     R"({"route":"api","version":"v2","weights":{"legacy":100}})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(side("/api/x", {{"X-User-Id", "u123"}}), "v2");
}

TEST_F(MigrationControlTest, RuntimeWeightsSurviveARestartAndStaleOnesAreIgnored) {
  const ProxyConfig c = config();
  startProxy(c);
  EXPECT_EQ(side(), "v2");
  Response r = admin("POST", "/routes/weights",
                     R"({"route":"api","version":"v2","weights":{"legacy":100}})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(side(), "v1");

  proxy().terminate(SIGKILL);
  proxy().waitExit(5s);
  startProxy(c);
  EXPECT_EQ(side(), "v1");
  json routes = json::parse(httpGet(adminPort(), "/routes").body);
  EXPECT_EQ(routes["routes"][0]["versions"]["v2"]["overridden"], true) << routes.dump();

  // Cleared is cleared after a restart too.
  r = admin("POST", "/routes/weights", R"({"route":"api","version":"v2","weights":null})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(side(), "v2");
  stopProxy();
  startProxy(c);
  EXPECT_EQ(side(), "v2");

  // An override the configuration no longer fits is dropped with a warning.
  r = admin("POST", "/routes/weights",
            R"({"route":"api","version":"v2","weights":{"legacy":100}})");
  ASSERT_EQ(r.status, 200) << r.body;
  stopProxy();
  ProxyConfig without_legacy = c;
  without_legacy.routes[0].extra =
      "    versions:\n"
      "      default: v2\n"
      "      v1: {cluster: legacy}\n"
      "      v2: {cluster: modern}\n";
  startProxy(without_legacy);
  EXPECT_EQ(side(), "v2");
  EXPECT_NE(proxy().output().find("weight override of route api version v2 ignored"),
            std::string::npos)
      << proxy().output();
}

// The issue's own case: v2 fails every request, a 50/50 split with a fallback to v1. No error
// reaches the client, and the guard still sees v2 failing and rolls it back.
TEST_F(MigrationControlTest, FallbackHidesV2FailuresFromClientsAndTheGuardStillRollsBack) {
  ProxyConfig c = config();
  c.routes[0].extra =
      "    versions:\n"
      "      default: v2\n"
      "      v1: {cluster: legacy}\n"
      "      v2:\n"
      "        split: [{cluster: modern, weight: 50}, {cluster: legacy, weight: 50}]\n"
      "        sticky: {header: X-User-Id}\n"
      "        fallback: {version: v1}\n";
  c.top_extra += "      guard: {version: v2, window: 5s, min_requests: 10, max_error_ratio: 0.2}\n";
  startProxy(c);
  v2_->control("fail?status=503");
  int errors = 0;
  int fallbacks = 0;
  for (int i = 0; i < 200; ++i) {
    Response r = httpRequest(port(), "GET", "/api/orders/" + std::to_string(i),
                             {{"X-User-Id", "user-" + std::to_string(i)}}, {});
    if (r.status != 200) {
      ++errors;
      continue;
    }
    if (r.header("x-switchyard-fallback") == std::optional<std::string>("v1")) {
      ++fallbacks;
      EXPECT_EQ(r.header("x-upstream-name"), std::optional<std::string>("v1"));
      EXPECT_EQ(upstreamHeader(r.body, "x-api-version"), std::optional<std::string>("v1"));
    }
  }
  EXPECT_EQ(errors, 0);
  EXPECT_GT(fallbacks, 0);
  const std::string m = metrics();
  EXPECT_NE(m.find("switchyard_fallbacks_total{from=\"v2\",route=\"api\",to=\"v1\"} " +
                   std::to_string(fallbacks)),
            std::string::npos)
      << m;
  // The guard saw the 503s; the rollback moves v2's traffic to legacy.
  std::string state;
  for (int i = 0; i < 500; ++i) {  // at most ~10 s
    json s = json::parse(httpGet(adminPort(), "/rollback").body, nullptr, false);
    state = s["routes"]["api"]["state"].get<std::string>();
    if (state == "rolled_back") break;
    std::this_thread::sleep_for(20ms);  // the manager thread of another process; bounded
  }
  EXPECT_EQ(state, "rolled_back");
  json s = json::parse(httpGet(adminPort(), "/rollback").body);
  EXPECT_EQ(s["executions"][0]["trigger"]["kind"], "guard") << s.dump(2);
}

TEST_F(MigrationControlTest, OnlyIdempotentRequestsWithAReplayableBodyFallBack) {
  ProxyConfig c = config();
  c.routes[0].extra =
      "    versions:\n"
      "      default: v2\n"
      "      v1: {cluster: legacy}\n"
      "      v2:\n"
      "        cluster: modern\n"
      "        fallback: {version: v1, on: [503]}\n";
  startProxy(c);
  v2_->control("fail?status=503");
  Response r = httpRequest(port(), "POST", "/api/orders", {}, {});
  EXPECT_EQ(r.status, 503);
  EXPECT_FALSE(r.header("x-switchyard-fallback").has_value());
  r = httpRequest(port(), "POST", "/api/orders", {{"Idempotency-Key", "k1"}}, {});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("x-switchyard-fallback"), std::optional<std::string>("v1"));
  // A body without a retry filter to keep it cannot be sent twice.
  r = httpRequest(port(), "PUT", "/api/orders/1", {{"Content-Type", "application/json"}}, "{}");
  EXPECT_EQ(r.status, 503);
  // 500 is not in `on`.
  v2_->recover();
  v2_->control("fail?status=500");
  r = httpGet(port(), "/api/orders");
  EXPECT_EQ(r.status, 500);
  // Recovered: v2 answers, nothing falls back.
  v2_->recover();
  r = httpGet(port(), "/api/orders");
  EXPECT_EQ(r.status, 200);
  EXPECT_FALSE(r.header("x-switchyard-fallback").has_value());
}

TEST_F(MigrationControlTest, ABodyKeptByTheRetryFilterFallsBackWithItsBodyAndV1sPath) {
  ProxyConfig c = config();
  c.routes[0].extra =
      "    versions:\n"
      "      default: v2\n"
      "      v1:\n"
      "        cluster: legacy\n"
      "        rewrite: {prefix: /api/v2/, to: /api/v1/}\n"
      "      v2:\n"
      "        cluster: modern\n"
      "        fallback: {version: v1}\n";
  c.filters += "  - retry: {max_retries: 1, base_interval: 10ms}\n";
  startProxy(c);
  v2_->control("fail?status=502");
  Response r = httpRequest(port(), "PUT", "/api/v2/orders/1?x=1",
                           {{"Content-Type", "application/json"}}, R"({"qty":3})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("x-switchyard-fallback"), std::optional<std::string>("v1"));
  EXPECT_EQ(jsonString(r.body, "path"), std::optional<std::string>("/api/v1/orders/1?x=1"));
  EXPECT_EQ(json::parse(r.body)["body_bytes"], 9) << r.body;
  // v2 got the first try and the retry.
  EXPECT_EQ(v2_->stats().requests, 2);
}

// An open circuit breaker (or a full bulkhead, below) on v2 refuses a request before any byte
// goes to v2: the request falls back to v1 instead of getting the 503, unless `on` leaves it out.
TEST_F(MigrationControlTest, AnOpenBreakerOnV2FallsBackToV1) {
  ProxyConfig c = config();
  c.routes[0].extra =
      "    versions:\n"
      "      default: v2\n"
      "      v1: {cluster: legacy}\n"
      "      v2:\n"
      "        cluster: modern\n"
      "        fallback: {version: v1, on: [circuit-open, overloaded]}\n";
  c.filters +=
      "  - circuit_breaker:\n"
      "      clusters:\n"
      "        modern: {consecutive_failures: 2, cooldown: 60s}\n";
  startProxy(c);
  // Two 503s from v2 (503 is not in `on`: the client sees them) open its breaker.
  v2_->control("fail?status=503&count=2");
  EXPECT_EQ(side(), "503");
  EXPECT_EQ(side(), "503");
  EXPECT_EQ(v2_->stats().requests, 2);
  // Open: refused before v2, answered by v1.
  for (int i = 0; i < 5; ++i) {
    Response r = httpGet(port(), "/api/orders");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.header("x-switchyard-fallback"), std::optional<std::string>("v1"));
    EXPECT_EQ(r.header("x-upstream-name"), std::optional<std::string>("v1"));
  }
  EXPECT_EQ(v2_->stats().requests, 2);
  const std::string m = metrics();
  EXPECT_NE(m.find("switchyard_fallbacks_total{from=\"v2\",route=\"api\",to=\"v1\"} 5"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("switchyard_circuit_breaker_rejected_total{cluster=\"modern\"} 5"),
            std::string::npos);
}

TEST_F(MigrationControlTest, AFullBulkheadOnV2FallsBackAndWithoutOverloadedItIsRefused) {
  for (const bool listed : {true, false}) {
    ProxyConfig c = config();
    c.routes[0].extra =
        "    versions:\n"
        "      default: v2\n"
        "      v1: {cluster: legacy}\n"
        "      v2:\n"
        "        cluster: modern\n"
        "        fallback: {version: v1, on: [" +
        std::string(listed ? "overloaded" : "503") + "]}\n";
    c.filters +=
        "  - circuit_breaker:\n"
        "      clusters:\n"
        "        modern: {consecutive_failures: 0, max_concurrent_requests: 1}\n";
    startProxy(c);
    // One slow request holds v2's only slot (bounded: the upstream answers after 1.5 s).
    std::thread slow([this] {
      Response r = httpRequest(port(), "GET", "/api/slow", {{"X-Test-Delay-Ms", "1500"}}, {});
      EXPECT_EQ(r.status, 200);
      EXPECT_EQ(r.header("x-upstream-name"), std::optional<std::string>("v2"));
    });
    // Until the slow one has reached v2 (bounded).
    for (int i = 0; i < 200 && v2_->stats().requests < 1; ++i) {
      std::this_thread::sleep_for(5ms);
    }
    Response r = httpGet(port(), "/api/orders");
    if (listed) {
      EXPECT_EQ(r.status, 200) << r.body;
      EXPECT_EQ(r.header("x-switchyard-fallback"), std::optional<std::string>("v1"));
    } else {
      EXPECT_EQ(r.status, 503) << r.body;
      EXPECT_FALSE(r.header("x-switchyard-fallback").has_value());
    }
    slow.join();
    stopProxy();
    v2_->recover();
  }
}

std::string runValidate(const std::string& path, int& exit_code) {
  Process p(SWITCHYARD_BIN, {"--validate", "--config", path});
  std::optional<int> code = p.waitExit(10s);
  if (!code) {
    p.stop(1s);
    exit_code = -1;
  } else {
    exit_code = *code;
  }
  return p.output();
}

TEST_F(MigrationControlTest, BadRewritesAndForcedKeysAreConfigErrors) {
  ProxyConfig c = config();
  c.routes[0].extra =
      "    versions:\n"
      "      default: v2\n"
      "      v1: {cluster: legacy, rewrite: {prefix: api/v2/, to: /api/v1/}}\n"
      "      v2:\n"
      "        split: [{cluster: legacy, weight: 1}, {cluster: modern, weight: 1}]\n"
      "        force: [{cluster: modern, keys: [u1]}]\n";
  int code = -1;
  const std::string output = runValidate(writeFile("bad.yaml", c.render(18080, 19901)), code);
  EXPECT_EQ(code, 1) << output;
  EXPECT_NE(output.find("routes[0].versions.v1.rewrite.prefix: invalid prefix \"api/v2/\" "
                        "(must start with \"/\")"),
            std::string::npos)
      << output;
  EXPECT_NE(output.find("routes[0].versions.v2.force: forced keys need \"sticky\""),
            std::string::npos)
      << output;
  EXPECT_NE(output.find("bad.yaml:"), std::string::npos) << output;
}

}  // namespace
}  // namespace switchyard::test::integration
