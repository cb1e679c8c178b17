// Endpoint health against the real binary: active health checks taking an endpoint out and
// bringing it back, clusters following a DNS name served by a real dnsmasq, a name that never
// resolves, the cluster_unhealthy rollback trigger and passive outlier ejection. Upstreams are
// test upstreams on loopback addresses; every wait is a bounded poll.

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/integration/harness.h"
#include "tests/support/dnsmasq.h"

namespace switchyard::test::integration {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// Probes every 200 ms: 3 failures take an endpoint out, 2 successes bring it back.
const std::string FastHealthCheck =
    "    health_check: {path: /health, interval: 200ms, timeout: 100ms, unhealthy_threshold: 3, "
    "healthy_threshold: 2}\n";
// Time for the probes in flight and the jitter, on a loaded machine.
constexpr auto Slack = 1000ms;

int64_t msSince(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
}

// Polls `condition` every few milliseconds until it holds or `timeout` passes.
template <typename Condition>
bool eventually(Condition condition, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!condition()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(5ms);  // another process's timers; bounded by the deadline
  }
  return true;
}

// The value of `series` (the name and labels exactly as exposed) in a /metrics body.
std::optional<double> metricValue(const std::string& metrics, const std::string& series) {
  const std::string needle = "\n" + series + " ";
  const size_t at = metrics.find(needle);
  if (at == std::string::npos) return std::nullopt;
  return std::strtod(metrics.c_str() + at + needle.size(), nullptr);
}

// GETs `path` through the proxy on one keep-alive connection every few milliseconds, on a thread
// of its own, until stop() or `limit`; counts the answers by the upstream that gave them.
class Traffic {
 public:
  Traffic(uint16_t port, std::string path, std::chrono::milliseconds limit = 20s)
      : thread_([this, port, path = std::move(path), limit] { run(port, path, limit); }) {}
  ~Traffic() { stop(); }

  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int failures() const { return failures_; }
  int total() const { return total_; }
  int64_t served(const std::string& upstream) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = served_.find(upstream);
    return it == served_.end() ? 0 : it->second;
  }
  std::string lastFailure() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return last_failure_;
  }

 private:
  void run(uint16_t port, const std::string& path, std::chrono::milliseconds limit) {
    RawConnection conn;
    const auto until = Clock::now() + limit;
    while (!stop_ && Clock::now() < until) {
      if (!conn.connected() && !conn.connect(port)) {
        fail("connect: " + conn.error());
        continue;
      }
      conn.send(buildRequest("GET", path));
      auto r = conn.readResponse(5s);
      ++total_;
      if (!r) {
        fail("no response: " + conn.error());
        conn.close();
      } else if (r->status != 200) {
        fail(std::to_string(r->status) + " " + r->body);
      } else {
        std::lock_guard<std::mutex> lock(mutex_);
        ++served_[r->header("x-upstream-name").value_or("?")];
      }
      std::this_thread::sleep_for(5ms);  // a steady trickle, not a flood
    }
  }
  void fail(std::string what) {
    ++failures_;
    std::lock_guard<std::mutex> lock(mutex_);
    last_failure_ = std::move(what);
  }

  std::atomic<bool> stop_{false};
  std::atomic<int> failures_{0};
  std::atomic<int> total_{0};
  mutable std::mutex mutex_;
  std::map<std::string, int64_t> served_;
  std::string last_failure_;
  std::thread thread_;
};

class UpstreamHealthTest : public ProxyTest {
 protected:
  json adminJson(const std::string& path) {
    return json::parse(httpGet(adminPort(), path).body, nullptr, false);
  }
  std::string metrics() { return httpGet(adminPort(), "/metrics").body; }

  // Cluster `name` in GET /clusters; null if there is none.
  json clusterView(const std::string& name) {
    const json view = adminJson("/clusters");
    if (!view.is_object() || !view.contains("clusters")) return nullptr;
    for (const json& c : view["clusters"]) {
      if (c.value("name", "") == name) return c;
    }
    return nullptr;
  }

  // The entry of `address` in the "addresses" of cluster `cluster` in GET /clusters; null if
  // there is none.
  json addressView(const std::string& cluster, const std::string& address) {
    const json c = clusterView(cluster);
    if (!c.is_object()) return nullptr;
    for (const json& a : c.value("addresses", json::array())) {
      if (a.value("address", "") == address) return a;
    }
    return nullptr;
  }
  bool addressHealthy(const std::string& cluster, const std::string& address) {
    const json a = addressView(cluster, address);
    return a.is_object() && a.value("healthy", false);
  }
  // Its health checks have passed (not merely: none has failed yet).
  bool addressChecked(const std::string& cluster, const std::string& address) {
    const json a = addressView(cluster, address);
    return a.is_object() && a.value("active_health", "") == "healthy";
  }
  bool addressUnhealthy(const std::string& cluster, const std::string& address) {
    const json a = addressView(cluster, address);
    return a.is_object() && !a.value("healthy", true);
  }

  // The upstream that answered a GET of `path`, or its status when that was not 200.
  std::string servedBy(const std::string& path = "/orders") {
    Response r = httpGet(port(), path);
    return r.status == 200 ? r.header("x-upstream-name").value_or("?")
                           : std::to_string(r.status) + " " + r.body;
  }
};

TEST_F(UpstreamHealthTest, HealthCheckTakesAnEndpointOutAndBringsItBack) {
  TestUpstream& a = addUpstream("a");
  TestUpstream& b = addUpstream("b");
  ProxyConfig config;
  config.clusters.push_back({"api", {a.address(), b.address()}, FastHealthCheck});
  config.routes.push_back({"default", "/", "api", ""});
  startProxy(config);
  ASSERT_TRUE(eventually(
      [&] { return addressChecked("api", a.address()) && addressChecked("api", b.address()); }, 5s))
      << adminJson("/clusters").dump(2);

  Traffic traffic(port(), "/orders");
  ASSERT_TRUE(eventually([&] { return traffic.served("b") > 0; }, 5s));
  const auto t0 = Clock::now();
  ASSERT_NE(b.control("fail?status=503&count=-1&path=/health"), "");
  ASSERT_TRUE(eventually([&] { return addressUnhealthy("api", b.address()); }, 10s))
      << adminJson("/clusters").dump(2);
  const int64_t out_ms = msSince(t0);
  EXPECT_LT(out_ms, (3 * 200ms + Slack).count()) << "b went out after " << out_ms << " ms";
  traffic.stop();
  // b failed only its health checks: the requests it took meanwhile were served.
  EXPECT_EQ(traffic.failures(), 0) << traffic.lastFailure();
  std::printf("health check: b out of rotation %lld ms after its /health failed; %d requests\n",
              static_cast<long long>(out_ms), traffic.total());

  for (int i = 0; i < 50; ++i) ASSERT_EQ(servedBy("/burst/" + std::to_string(i)), "a") << i;

  const json entry = addressView("api", b.address());
  EXPECT_EQ(entry.value("active_health", ""), "unhealthy") << entry.dump();
  const json health = adminJson("/health");
  const json& api = health["components"]["clusters"]["api"];
  EXPECT_EQ(api["status"], "degraded") << health.dump(2);
  bool listed = false;
  for (const json& e : api["endpoints"]) {
    if (e.value("address", "") != b.address()) continue;
    listed = true;
    EXPECT_FALSE(e.value("healthy", true)) << e.dump();
  }
  EXPECT_TRUE(listed) << health.dump(2);
  const std::string m = metrics();
  EXPECT_EQ(metricValue(m, "switchyard_upstream_endpoint_healthy{cluster=\"api\",endpoint=\"" +
                               b.address() + "\"}"),
            std::optional<double>(0))
      << m;
  EXPECT_EQ(metricValue(m, "switchyard_upstream_endpoint_healthy{cluster=\"api\",endpoint=\"" +
                               a.address() + "\"}"),
            std::optional<double>(1))
      << m;
  EXPECT_GE(metricValue(m,
                        "switchyard_upstream_health_checks_total{cluster=\"api\","
                        "result=\"failure_status\"}")
                .value_or(0),
            3)
      << m;

  // Back after two passing probes: not sooner than one interval (less its jitter) after the
  // first of them.
  const auto t1 = Clock::now();
  b.control("recover");
  ASSERT_TRUE(eventually([&] { return addressChecked("api", b.address()); }, 10s))
      << adminJson("/clusters").dump(2);
  EXPECT_TRUE(addressHealthy("api", b.address()));
  const int64_t back_ms = msSince(t1);
  EXPECT_GE(back_ms, 150) << "b came back after a single probe";
  EXPECT_LT(back_ms, (2 * 200ms + Slack).count()) << "b came back after " << back_ms << " ms";
  std::printf("health check: b back %lld ms after its /health passed again\n",
              static_cast<long long>(back_ms));
  int to_b = 0;
  for (int i = 0; i < 10; ++i) to_b += servedBy() == "b";
  EXPECT_GE(to_b, 3) << "round robin over a and b again";
}

// `dns:` for a dnsmasq at `resolver`: answers kept 1 s, a failed lookup retried soon.
std::string dnsBlock(const std::string& resolver) {
  return "dns:\n"
         "  resolvers: [\"" +
         resolver +
         "\"]\n"
         "  refresh: 1s\n"
         "  min_refresh: 1s\n"
         "  timeout: 500ms\n"
         "  attempts: 1\n"
         "  retry: {base: 200ms, max: 500ms}\n";
}

TEST_F(UpstreamHealthTest, ClusterFollowsItsDnsNameAndKeepsTheLastAddressWhenDnsGoesAway) {
  // Two upstreams on one port of two loopback addresses: what a DNS change looks like.
  TestUpstream& a = *upstreams_.emplace_back(std::make_unique<TestUpstream>(
      TEST_UPSTREAM_BIN, "a", std::vector<std::string>{}, "127.0.0.2"));
  TestUpstream& b = *upstreams_.emplace_back(std::make_unique<TestUpstream>(
      TEST_UPSTREAM_BIN, "b", std::vector<std::string>{}, "127.0.0.3", a.port()));
  ASSERT_EQ(a.port(), b.port());
  Dnsmasq dns({{"orders.test", "127.0.0.2"}}, 1s);
  const std::string endpoint = "orders.test:" + std::to_string(a.port());

  ProxyConfig config;
  config.clusters.push_back({"orders", {endpoint}, ""});
  config.routes.push_back({"default", "/", "orders", ""});
  config.top_extra = dnsBlock(dns.address());
  startProxy(config);
  ASSERT_TRUE(eventually([&] { return servedBy() == "a"; }, 5s)) << servedBy();
  EXPECT_TRUE(addressView("orders", a.address()).is_object()) << adminJson("/clusters").dump(2);

  Traffic traffic(port(), "/orders");
  ASSERT_TRUE(eventually([&] { return traffic.served("a") > 0; }, 5s));
  const auto t0 = Clock::now();
  dns.setRecords({{"orders.test", "127.0.0.3"}});
  ASSERT_TRUE(eventually([&] { return traffic.served("b") > 0; }, 10s))
      << adminJson("/clusters").dump(2);
  const int64_t switch_ms = msSince(t0);
  // refresh: 1s, plus the lookup.
  EXPECT_LT(switch_ms, (1s + Slack).count());
  std::printf("dns: requests reach the new address %lld ms after the record changed\n",
              static_cast<long long>(switch_ms));

  const json now_b = addressView("orders", b.address());
  ASSERT_TRUE(now_b.is_object()) << adminJson("/clusters").dump(2);
  EXPECT_EQ(now_b.value("name", ""), endpoint) << now_b.dump();
  EXPECT_TRUE(addressView("orders", a.address()).is_null()) << adminJson("/clusters").dump(2);
  const json cluster = clusterView("orders");
  ASSERT_TRUE(cluster.is_object()) << adminJson("/clusters").dump(2);
  EXPECT_EQ(cluster.value("resolved", false), true) << cluster.dump(2);
  EXPECT_TRUE(cluster.contains("dns")) << cluster.dump(2);

  // No DNS at all: the last answer stands, and the failures are counted.
  const std::string failures =
      "switchyard_dns_resolutions_total{cluster=\"orders\",result=\"failure\"}";
  const double failed_before = metricValue(metrics(), failures).value_or(0);
  const int64_t b_before = traffic.served("b");
  dns.stop();
  ASSERT_TRUE(eventually(
      [&] { return metricValue(metrics(), failures).value_or(0) >= failed_before + 2; }, 10s))
      << metrics();
  ASSERT_TRUE(eventually([&] { return traffic.served("b") >= b_before + 20; }, 5s));
  traffic.stop();
  EXPECT_EQ(traffic.failures(), 0) << traffic.lastFailure();
  EXPECT_EQ(servedBy(), "b");
  EXPECT_TRUE(addressView("orders", b.address()).is_object()) << adminJson("/clusters").dump(2);
  std::printf("dns: %d requests, none failed\n", traffic.total());
}

TEST_F(UpstreamHealthTest, ANameThatNeverResolvesAnswers503AtOnceAndTheClusterIsDown) {
  Dnsmasq dns(std::vector<Dnsmasq::Record>{{"orders.test", "127.0.0.1"}});
  TestUpstream& main = addUpstream("main");
  ProxyConfig config;
  config.clusters.push_back({"main", {main.address()}, ""});
  config.clusters.push_back({"nowhere", {"nowhere.test:80"}, "    connect_timeout: 5s\n"});
  config.routes.push_back({"nowhere", "/nowhere/", "nowhere", ""});
  config.routes.push_back({"default", "/", "main", ""});
  config.top_extra = dnsBlock(dns.address());
  startProxy(config);

  // Give the lookup time to fail (NXDOMAIN) so the answer is about a name that does not resolve.
  ASSERT_TRUE(eventually(
      [&] {
        return metricValue(metrics(),
                           "switchyard_dns_resolutions_total{cluster=\"nowhere\","
                           "result=\"failure\"}")
                   .value_or(0) >= 1;
      },
      5s))
      << metrics();
  const auto t0 = Clock::now();
  auto r = sendRaw(rawHead("GET", "/nowhere/x", ""), 10s);
  const int64_t took_ms = msSince(t0);
  EXPECT_TRUE(isProblem(r, 503));
  EXPECT_LT(took_ms, 1000) << "a request for an unresolved cluster took " << took_ms << " ms";
  EXPECT_EQ(servedBy(), "main");

  Response h = httpGet(adminPort(), "/health");
  const json health = json::parse(h.body, nullptr, false);
  EXPECT_EQ(health["components"]["clusters"]["nowhere"]["status"], "down") << h.body;
  EXPECT_EQ(health["components"]["clusters"]["main"]["status"], "ok") << h.body;
  EXPECT_EQ(h.status, 503) << h.body;
  const json cluster = clusterView("nowhere");
  ASSERT_TRUE(cluster.is_object()) << adminJson("/clusters").dump(2);
  EXPECT_EQ(cluster.value("resolved", true), false) << cluster.dump(2);
}

TEST_F(UpstreamHealthTest, UnhealthyClusterTriggersItsRollbackPlan) {
  TestUpstream& v1 = addUpstream("v1");
  TestUpstream& v2 = addUpstream("v2");
  ProxyConfig config;
  config.clusters.push_back({"legacy", {v1.address()}, ""});
  config.clusters.push_back({"modern", {v2.address()}, FastHealthCheck});
  config.routes.push_back({"api", "/api/", "",
                           "    versions:\n"
                           "      default: v2\n"
                           "      v1: {cluster: legacy}\n"
                           "      v2: {split: [{cluster: modern, weight: 100}, "
                           "{cluster: legacy, weight: 0}]}\n"});
  config.top_extra =
      "rollback:\n"
      "  state_file: " +
      tempDir() +
      "/rollback.json\n"
      "  plans:\n"
      "    - route: api\n"
      "      trigger: {cluster_unhealthy: modern}\n"
      "      steps:\n"
      "        - set_weights: {version: v2, weights: {legacy: 100}}\n";
  startProxy(config);
  ASSERT_TRUE(eventually([&] { return addressChecked("modern", v2.address()); }, 5s))
      << adminJson("/clusters").dump(2);
  EXPECT_EQ(servedBy("/api/orders"), "v2");

  Traffic traffic(port(), "/api/orders");
  const auto t0 = Clock::now();
  ASSERT_NE(v2.control("fail?status=503&count=-1&path=/health"), "");
  ASSERT_TRUE(eventually([&] { return traffic.served("v1") > 0; }, 10s))
      << adminJson("/rollback").dump(2);
  const int64_t rollback_ms = msSince(t0);
  EXPECT_LT(rollback_ms, (3 * 200ms + Slack).count());
  std::printf("cluster_unhealthy: traffic on v1 %lld ms after modern's /health failed\n",
              static_cast<long long>(rollback_ms));
  traffic.stop();
  EXPECT_EQ(traffic.failures(), 0) << traffic.lastFailure();

  json state = adminJson("/rollback");
  ASSERT_TRUE(eventually(
      [&] {
        state = adminJson("/rollback");
        return state["routes"]["api"]["state"] == "rolled_back";
      },
      5s))
      << state.dump(2);
  ASSERT_EQ(state["executions"].size(), 1u) << state.dump(2);
  const json& e = state["executions"][0];
  EXPECT_EQ(e["trigger"]["kind"], "cluster_unhealthy") << e.dump(2);
  EXPECT_EQ(e["status"], "succeeded") << e.dump(2);
  EXPECT_NE(e["trigger"].dump().find("modern"), std::string::npos) << e.dump(2);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(servedBy("/api/orders"), "v1");
  EXPECT_EQ(metricValue(metrics(),
                        "switchyard_rollbacks_total{route=\"api\",trigger=\"cluster_unhealthy\"}"),
            std::optional<double>(1));
}

TEST_F(UpstreamHealthTest, OutlierDetectionEjectsAnEndpointThatAnswers5xx) {
  TestUpstream& a = addUpstream("a");
  TestUpstream& b = addUpstream("b");
  ProxyConfig config;
  config.clusters.push_back(
      {"api",
       {a.address(), b.address()},
       "    outlier_detection: {consecutive_5xx: 3, base_ejection_time: 2s}\n"});
  config.routes.push_back({"default", "/", "api", ""});
  startProxy(config);
  ASSERT_NE(b.control("fail?status=503&count=-1"), "");

  // Round robin sends every other request to b; three 503s in a row eject it.
  int errors = 0;
  bool ejected = false;
  for (int i = 0; i < 100 && !ejected; ++i) {
    errors += servedBy() != "a";
    ejected = addressView("api", b.address()).value("ejected", false);
  }
  ASSERT_TRUE(ejected) << adminJson("/clusters").dump(2);
  EXPECT_GE(errors, 3);
  EXPECT_LE(errors, 12) << "b kept getting requests after 3 failures in a row";
  EXPECT_GE(metricValue(metrics(),
                        "switchyard_upstream_ejections_total{cluster=\"api\","
                        "reason=\"consecutive_5xx\"}")
                .value_or(0),
            1)
      << metrics();
  // Well within the 2 s ejection.
  for (int i = 0; i < 20; ++i) EXPECT_EQ(servedBy(), "a") << i;
}

}  // namespace
}  // namespace switchyard::test::integration
