// Migration routing against the real binary: API versions, sticky weighted splits, runtime
// weights through the admin API, and live reload (SIGHUP, POST /reload), with v1 and v2 test
// upstreams on loopback.

#include <signal.h>

#include <atomic>
#include <functional>
#include <map>
#include <thread>

#include "tests/integration/harness.h"

namespace switchyard::test::integration {
namespace {

const std::string Token = "integration-secret-token";

class MigrationTest : public ProxyTest {
 protected:
  // v1 behind cluster `legacy`, v2 behind `modern`; route `api` is versioned with v2 split
  // `v2_split` (modern first) and sticky by X-User-Id; a catch-all `other` goes to legacy.
  ProxyConfig migrationConfig(int modern_weight = 90, int legacy_weight = 10) {
    if (upstreams_.empty()) {
      addUpstream("v1");
      addUpstream("v2");
    }
    ProxyConfig config;
    config.clusters.push_back({"legacy", {upstreams_[0]->address()}, ""});
    config.clusters.push_back({"modern", {upstreams_[1]->address()}, ""});
    config.routes.push_back({"api", "/api/", "",
                             "    versions:\n"
                             "      default: v2\n"
                             "      v1: {cluster: legacy}\n"
                             "      v2:\n"
                             "        split: [{cluster: modern, weight: " +
                                 std::to_string(modern_weight) +
                                 "}, {cluster: legacy, weight: " + std::to_string(legacy_weight) +
                                 "}]\n"
                                 "        sticky: {header: X-User-Id}\n"});
    config.routes.push_back({"other", "/", "legacy", ""});
    return config;
  }

  // Which upstream served each user's request, over one keep-alive connection per call.
  std::map<std::string, std::string> sidesOf(uint16_t port, int users, int first = 0) {
    std::map<std::string, std::string> out;
    RawConnection conn;
    for (int i = first; i < first + users; ++i) {
      if (!conn.connected()) {
        EXPECT_TRUE(conn.connect(port));
      }
      const std::string user = "user-" + std::to_string(i);
      conn.send(buildRequest("GET", "/api/items", {{"X-User-Id", user}}));
      auto r = conn.readResponse();
      if (!r || r->status != 200) {
        ADD_FAILURE() << "request for " << user
                      << " failed: " << (r ? std::to_string(r->status) : conn.error());
        conn.close();
        continue;
      }
      out[user] = r->header("x-upstream-name").value_or("?");
      if (r->header("connection") == std::optional<std::string>("close")) conn.close();
    }
    return out;
  }

  Response admin(std::string_view method, std::string_view path, std::string_view body = {},
                 bool with_token = true) {
    Headers headers;
    if (with_token) headers.push_back({"Authorization", "Bearer " + Token});
    if (!body.empty()) headers.push_back({"Content-Type", "application/json"});
    return httpRequest(adminPort(), method, path, headers, body);
  }

  std::string metrics() { return httpGet(adminPort(), "/metrics").body; }
};

TEST_F(MigrationTest, ResolvesTheVersionFromHeaderPathOrDefault) {
  startProxy(migrationConfig(100, 0));
  // X-API-Version: "1", "v1", "V1" all mean v1; the upstream sees the canonical spelling.
  for (const char* value : {"1", "v1", "V1"}) {
    Response r = httpGet(port(), "/api/items", {{"X-API-Version", value}});
    ASSERT_EQ(r.status, 200) << value;
    EXPECT_EQ(r.header("x-upstream-name"), "v1") << value;
    EXPECT_EQ(upstreamHeader(r.body, "x-api-version"), "v1") << value;
    EXPECT_EQ(r.header("x-switchyard-upstream"), "legacy") << value;
  }
  Response r = httpGet(port(), "/api/v1/items");
  EXPECT_EQ(r.header("x-upstream-name"), "v1");
  EXPECT_EQ(upstreamHeader(r.body, "x-api-version"), "v1");
  // The header wins over the path.
  r = httpGet(port(), "/api/v1/items", {{"X-API-Version", "2"}});
  EXPECT_EQ(r.header("x-upstream-name"), "v2");
  // Neither: the route's default.
  r = httpGet(port(), "/api/items");
  EXPECT_EQ(r.header("x-upstream-name"), "v2");
  EXPECT_EQ(upstreamHeader(r.body, "x-api-version"), "v2");
  EXPECT_EQ(r.header("x-switchyard-upstream"), "modern");
  // Unversioned route: no version sent upstream.
  r = httpGet(port(), "/other", {{"X-API-Version", "9"}});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(upstreamHeader(r.body, "x-api-version"), "9");  // passed through untouched

  const std::string m = metrics();
  EXPECT_NE(
      m.find("switchyard_downstream_requests_total{code=\"200\",route=\"api\",version=\"v1\"} 4"),
      std::string::npos)
      << m;
  EXPECT_NE(
      m.find("switchyard_downstream_requests_total{code=\"200\",route=\"api\",version=\"v2\"} 2"),
      std::string::npos);
  EXPECT_NE(
      m.find("switchyard_downstream_request_duration_seconds_count{route=\"api\",version=\"v1\"}"),
      std::string::npos);
}

TEST_F(MigrationTest, UnknownVersionIs400ListingTheKnownOnes) {
  startProxy(migrationConfig());
  for (auto [path, header] : std::vector<std::pair<std::string, std::string>>{
           {"/api/items", "3"}, {"/api/v7/items", ""}, {"/api/items", "latest"}}) {
    Headers h;
    if (!header.empty()) h.push_back({"X-API-Version", header});
    Response r = httpGet(port(), path, h);
    ASSERT_TRUE(isProblem(r, 400)) << path << " " << header;
    EXPECT_NE(r.body.find("this route serves v1, v2"), std::string::npos) << r.body;
  }
  EXPECT_EQ(upstreams_[0]->stats().requests, 0);
  EXPECT_EQ(upstreams_[1]->stats().requests, 0);
  EXPECT_NE(metrics().find("switchyard_downstream_requests_total{code=\"400\",route=\"api\","
                           "version=\"unknown\"} 3"),
            std::string::npos);
  expectProxyServes("/other/still-alive");
}

TEST_F(MigrationTest, NinetyTenSplitOverTenThousandUsersIsWithinOnePercent) {
  startProxy(migrationConfig(90, 10));
  auto sides = sidesOf(port(), 10000);
  int v1 = 0;
  int v2 = 0;
  for (const auto& [user, side] : sides) {
    v1 += side == "v1";
    v2 += side == "v2";
  }
  EXPECT_EQ(v1 + v2, 10000);
  EXPECT_NEAR(v2 / 100.0, 90.0, 1.0);
  EXPECT_NEAR(v1 / 100.0, 10.0, 1.0);
  // Stickiness within one sidecar: the same users again land on the same side.
  std::map<std::string, std::string> first;
  for (int i = 0; i < 300; ++i) {
    const std::string u = "user-" + std::to_string(i);
    first[u] = sides[u];
  }
  EXPECT_EQ(sidesOf(port(), 300), first);
  const std::string m = metrics();
  EXPECT_NE(m.find("switchyard_route_weight{cluster=\"modern\",route=\"api\",version=\"v2\"} 90"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("switchyard_route_weight{cluster=\"legacy\",route=\"api\",version=\"v1\"} 100"),
            std::string::npos);
}

TEST_F(MigrationTest, OneUserLandsOnTheSameSideOnTwoSidecarsAndAcrossRestarts) {
  const ProxyConfig config = migrationConfig(50, 50);
  startProxy(config);
  const auto first = sidesOf(port(), 500);

  // A second sidecar process with the same configuration, on its own ports.
  const int port2 = freePort();
  const int admin2 = freePort();
  ASSERT_GT(port2, 0);
  ASSERT_GT(admin2, 0);
  const std::string path2 = writeFile(
      "second.yaml", config.render(static_cast<uint16_t>(port2), static_cast<uint16_t>(admin2)));
  Process second(SWITCHYARD_BIN, {"--config", path2});
  ASSERT_TRUE(waitForPort(static_cast<uint16_t>(port2), 10s)) << second.output();
  const auto other = sidesOf(static_cast<uint16_t>(port2), 500);
  EXPECT_EQ(first, other);
  EXPECT_EQ(second.stop(5s), std::optional<int>(0));

  int v1 = 0;
  for (const auto& [user, side] : first) v1 += side == "v1";
  EXPECT_GT(v1, 150);  // both sides are in play
  EXPECT_LT(v1, 350);

  // And after a restart of the first one.
  stopProxy();
  startProxy(config);
  EXPECT_EQ(sidesOf(port(), 500), first);
}

TEST_F(MigrationTest, AdminWeightsMoveUsersOnlyTowardsTheGrowingSide) {
  startProxy(migrationConfig(90, 10));
  auto setLegacy = [&](int legacy) {
    const std::string body = R"({"route":"api","version":"v2","weights":{"modern":)" +
                             std::to_string(100 - legacy) + R"(,"legacy":)" +
                             std::to_string(legacy) + "}}";
    Response r = admin("POST", "/routes/weights", body);
    ASSERT_EQ(r.status, 200) << r.body;
  };
  const auto at10 = sidesOf(port(), 2000);
  setLegacy(20);
  const auto at20 = sidesOf(port(), 2000);
  int moved = 0;
  int at20_v1 = 0;
  for (const auto& [user, side] : at20) {
    at20_v1 += side == "v1";
    if (at10.at(user) == "v1") {
      EXPECT_EQ(side, "v1") << user << " moved back";
    } else if (side == "v1") {
      ++moved;
    }
  }
  EXPECT_GT(moved, 100);
  EXPECT_NEAR(at20_v1 / 20.0, 20.0, 2.5);
  EXPECT_NE(
      metrics().find("switchyard_route_weight{cluster=\"legacy\",route=\"api\",version=\"v2\"} 20"),
      std::string::npos);

  // Everything back to v1 (what a rollback does), visible on /routes.
  setLegacy(100);
  for (const auto& [user, side] : sidesOf(port(), 200)) EXPECT_EQ(side, "v1") << user;
  Response routes = httpGet(adminPort(), "/routes");
  EXPECT_NE(routes.body.find("\"overridden\": true"), std::string::npos) << routes.body;

  // Cleared: the configured 90/10 again.
  Response r = admin("POST", "/routes/weights", R"({"route":"api","version":"v2","weights":null})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(sidesOf(port(), 2000), at10);
}

TEST_F(MigrationTest, BadWeightRequestsChangeNothing) {
  startProxy(migrationConfig(90, 10));
  const auto before = sidesOf(port(), 300);
  struct Case {
    std::string body;
    bool token;
    int status;
    std::string detail;
  };
  const std::vector<Case> cases = {
      {R"({"route":"api","version":"v2","weights":{"legacy":100}})", false, 401, ""},
      {"{not json", true, 400, "not valid JSON"},
      {R"(["api"])", true, 400, "expected a JSON object"},
      {R"({"route":"nope","version":"v2","weights":{"legacy":1}})", true, 404, "does not exist"},
      {R"({"route":"api","version":"v9","weights":{"legacy":1}})", true, 400, "has no version"},
      {R"({"route":"api","weights":{"legacy":1}})", true, 400, "is versioned"},
      {R"({"route":"api","version":"v2","weights":{"elsewhere":1}})", true, 400,
       "not part of the split"},
      {R"({"route":"api","version":"v2","weights":{"legacy":-5}})", true, 400,
       "integer from 0 to 1000000"},
      {R"({"route":"api","version":"v2","weights":{"legacy":0,"modern":0}})", true, 400,
       "add up to 0"},
      {R"({"route":"api","version":"v2"})", true, 400, "is required"},
      {R"({"route":"api","version":"v2","weights":{},"extra":1})", true, 400, "unknown key"},
  };
  for (const Case& c : cases) {
    Response r = admin("POST", "/routes/weights", c.body, c.token);
    EXPECT_EQ(r.status, c.status) << c.body << " -> " << r.body;
    EXPECT_NE(r.body.find(c.detail), std::string::npos) << c.body << " -> " << r.body;
  }
  EXPECT_EQ(sidesOf(port(), 300), before);
  EXPECT_NE(
      metrics().find("switchyard_route_weight{cluster=\"modern\",route=\"api\",version=\"v2\"} 90"),
      std::string::npos);
}

TEST_F(MigrationTest, ReloadAppliesAValidConfigAndRefusesAnInvalidOne) {
  ProxyConfig config = migrationConfig(100, 0);
  startProxy(config);
  EXPECT_EQ(httpGet(port(), "/api/items").header("x-upstream-name"), "v2");

  // SIGHUP with every v2 user moved to legacy.
  writeFile("switchyard.yaml", migrationConfig(0, 100).render(port(), adminPort()));
  ASSERT_TRUE(proxy().terminate(SIGHUP));
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (httpGet(port(), "/api/items").header("x-upstream-name") != "v1") {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << proxy().output();
    std::this_thread::sleep_for(10ms);  // waiting on another process, bounded by the deadline
  }
  EXPECT_NE(metrics().find("switchyard_config_reloads_total{result=\"success\"} 1"),
            std::string::npos);

  // An invalid file: refused with the --validate errors, the config in effect stays.
  writeFile("switchyard.yaml", "listeners: []\nroutes: 7\n");
  Response r = admin("POST", "/reload");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("\"result\": \"failure\""), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("switchyard.yaml:1:12: listeners: at least one listener is required"),
            std::string::npos)
      << r.body;
  EXPECT_EQ(httpGet(port(), "/api/items").header("x-upstream-name"), "v1");

  // A change to the listeners needs a restart.
  ProxyConfig moved = migrationConfig(100, 0);
  moved.listener_extra = "    max_connections: 5\n";
  writeFile("switchyard.yaml", moved.render(port(), adminPort()));
  r = admin("POST", "/reload");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("listeners: changing them needs a restart"), std::string::npos) << r.body;
  EXPECT_EQ(httpGet(port(), "/api/items").header("x-upstream-name"), "v1");

  // Without the token nothing is reloaded.
  EXPECT_EQ(admin("POST", "/reload", {}, false).status, 401);
  const std::string m = metrics();
  EXPECT_NE(m.find("switchyard_config_reloads_total{result=\"failure\"} 2"), std::string::npos)
      << m;

  // Back to a valid file through the admin API.
  writeFile("switchyard.yaml", migrationConfig(100, 0).render(port(), adminPort()));
  r = admin("POST", "/reload");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(httpGet(port(), "/api/items").header("x-upstream-name"), "v2");
  EXPECT_TRUE(proxy().running());
}

TEST_F(MigrationTest, TwentyReloadsUnderLoadFailNoRequest) {
  startProxy(migrationConfig(50, 50));
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0};
  std::atomic<int> failed{0};
  std::vector<std::string> failures;
  std::mutex failures_mutex;
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&, t] {
      RawConnection conn;
      // Bounded: at most 200k requests or until told to stop.
      for (int i = 0; i < 200000 && !stop.load(); ++i) {
        if (!conn.connected() && !conn.connect(port())) {
          ++failed;
          continue;
        }
        const std::string user = "u" + std::to_string(t) + "-" + std::to_string(i % 500);
        const bool sent = conn.send(buildRequest("GET", "/api/items", {{"X-User-Id", user}}));
        auto r = sent ? conn.readResponse(5s) : std::nullopt;
        if (r && r->status == 200) {
          ++ok;
          if (r->header("connection") == std::optional<std::string>("close")) conn.close();
          continue;
        }
        ++failed;
        std::lock_guard<std::mutex> lock(failures_mutex);
        failures.push_back(r ? std::to_string(r->status) + " " + r->body : conn.error());
        conn.close();
      }
    });
  }
  for (int i = 0; i < 20; ++i) {
    // Alternate the split (and a cluster setting, so pools are replaced too).
    ProxyConfig next = migrationConfig(i % 2 ? 80 : 20, i % 2 ? 20 : 80);
    next.clusters[1].extra = "    idle_timeout: " + std::to_string(30 + i) + "s\n";
    writeFile("switchyard.yaml", next.render(port(), adminPort()));
    Response r = admin("POST", "/reload");
    EXPECT_EQ(r.status, 200) << r.body;
    std::this_thread::sleep_for(50ms);  // let traffic run under each config
  }
  stop = true;
  for (auto& c : clients) c.join();
  EXPECT_EQ(failed.load(), 0) << (failures.empty() ? "" : failures.front());
  EXPECT_GT(ok.load(), 400);
  EXPECT_NE(metrics().find("switchyard_config_reloads_total{result=\"success\"} 20"),
            std::string::npos);
  EXPECT_TRUE(proxy().running());
}

// v1 deprecated (sunset in the future), v2 not; a second route `old` is past its sunset with
// enforcement, a third `brown` in a brownout window that spans the test.
ProxyConfig deprecationConfig(std::vector<std::unique_ptr<TestUpstream>>& upstreams,
                              const std::function<TestUpstream&(const std::string&)>& add) {
  if (upstreams.empty()) {
    add("v1");
    add("v2");
  }
  ProxyConfig config;
  config.clusters.push_back({"legacy", {upstreams[0]->address()}, ""});
  config.clusters.push_back({"modern", {upstreams[1]->address()}, ""});
  config.routes.push_back({"api", "/api/", "",
                           "    versions:\n"
                           "      default: v2\n"
                           "      v1:\n"
                           "        cluster: legacy\n"
                           "        deprecated:\n"
                           "          since: 2025-01-01T00:00:00Z\n"
                           "          sunset: 2099-06-30T23:59:59Z\n"
                           "          link: https://example.com/migrate-to-v2\n"
                           "          sunset_link: https://example.com/v1-retirement\n"
                           "      v2: {cluster: modern}\n"});
  config.routes.push_back(
      {"old", "/old/", "legacy",
       "    deprecated: {since: 2020-01-01, sunset: 2021-01-01,\n"
       "                 link: https://example.com/old, enforce_sunset: true}\n"});
  config.routes.push_back({"brown", "/brown/", "legacy",
                           "    deprecated:\n"
                           "      since: 2024-01-01\n"
                           "      brownouts: [{start: 2024-06-01T00:00:00Z, end: "
                           "2199-01-01T00:00:00Z, status: 503}]\n"});
  config.filters =
      "  - correlation_id: {}\n"
      "  - deprecation: {client_header: X-Client-Id, clients: [mobile, web]}\n";
  return config;
}

TEST_F(MigrationTest, DeprecatedV1CarriesEveryHeaderAndV2None) {
  startProxy(deprecationConfig(
      upstreams_, [this](const std::string& n) -> TestUpstream& { return addUpstream(n); }));
  Response v1 = httpGet(port(), "/api/v1/orders", {{"X-Client-Id", "mobile"}});
  ASSERT_EQ(v1.status, 200) << v1.body;
  EXPECT_EQ(v1.header("x-upstream-name"), "v1");
  EXPECT_EQ(v1.header("deprecation"), "@1735689600");
  EXPECT_EQ(v1.header("sunset"), "Tue, 30 Jun 2099 23:59:59 GMT");
  EXPECT_EQ(v1.headerValues("link"),
            (std::vector<std::string>{"<https://example.com/migrate-to-v2>; rel=\"deprecation\"",
                                      "<https://example.com/v1-retirement>; rel=\"sunset\""}));
  EXPECT_EQ(v1.header("x-api-deprecation"), "true");
  EXPECT_EQ(v1.header("x-api-sunset"), "2099-06-30");

  Response v2 = httpGet(port(), "/api/v2/orders", {{"X-Client-Id", "mobile"}});
  ASSERT_EQ(v2.status, 200);
  EXPECT_EQ(v2.header("x-upstream-name"), "v2");
  for (const char* h : {"deprecation", "sunset", "link", "x-api-deprecation", "x-api-sunset"}) {
    EXPECT_FALSE(v2.header(h).has_value()) << h;
  }

  // Counted per client: allow-listed names, `other`, `unknown`.
  httpGet(port(), "/api/orders", {{"X-API-Version", "1"}, {"X-Client-Id", "web"}});
  httpGet(port(), "/api/orders", {{"X-API-Version", "1"}, {"X-Client-Id", "curl-script"}});
  httpGet(port(), "/api/orders", {{"X-API-Version", "1"}});
  const std::string m = metrics();
  for (const char* series :
       {"switchyard_deprecated_requests_total{client=\"mobile\",route=\"api\",version=\"v1\"} 1",
        "switchyard_deprecated_requests_total{client=\"web\",route=\"api\",version=\"v1\"} 1",
        "switchyard_deprecated_requests_total{client=\"other\",route=\"api\",version=\"v1\"} 1",
        "switchyard_deprecated_requests_total{client=\"unknown\",route=\"api\",version=\"v1\"} "
        "1"}) {
    EXPECT_NE(m.find(series), std::string::npos) << series << "\n" << m;
  }
  EXPECT_EQ(m.find("switchyard_deprecated_requests_total{client=\"mobile\",route=\"api\","
                   "version=\"v2\"}"),
            std::string::npos);
}

TEST_F(MigrationTest, SunsetAndBrownoutAreEnforcedWithoutReachingTheUpstream) {
  startProxy(deprecationConfig(
      upstreams_, [this](const std::string& n) -> TestUpstream& { return addUpstream(n); }));
  Response gone = httpGet(port(), "/old/thing");
  ASSERT_TRUE(isProblem(gone, 410)) << gone.body;
  EXPECT_EQ(gone.header("deprecation"), "@1577836800");
  EXPECT_EQ(gone.header("sunset"), "Fri, 01 Jan 2021 00:00:00 GMT");
  EXPECT_EQ(gone.header("link"), "<https://example.com/old>; rel=\"deprecation\"");
  EXPECT_TRUE(gone.header("x-correlation-id").has_value());

  Response brown = httpGet(port(), "/brown/thing");
  ASSERT_TRUE(isProblem(brown, 503)) << brown.body;
  EXPECT_EQ(brown.header("deprecation"), "@1704067200");
  ASSERT_TRUE(brown.header("retry-after").has_value());
  EXPECT_GT(std::stoll(*brown.header("retry-after")), 0);
  EXPECT_NE(brown.body.find("brownout"), std::string::npos) << brown.body;

  EXPECT_EQ(upstreams_[0]->stats().requests, 0);
  expectProxyServes("/api/v2/still-alive");
}

}  // namespace
}  // namespace switchyard::test::integration
