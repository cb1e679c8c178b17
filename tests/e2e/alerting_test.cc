// End to end with Debian's real Prometheus and Alertmanager on loopback ports: every PromQL
// expression of the shipped dashboards and alert rules runs against a live sidecar's metrics, and
// the shipped alert rules and Alertmanager example roll a failing v2 back through the webhook.
// Prometheus scrapes and evaluates every second; the rules are rendered with short windows by
// deploy/prometheus/render-rules.sh, so the expressions are the shipped ones.

#include <signal.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "tests/integration/harness.h"
#include "tests/support/dnsmasq.h"
#include "tests/support/redis_server.h"

namespace switchyard::test::integration {
namespace {

using nlohmann::json;
const std::string Token = "integration-secret-token";

std::string urlEncode(const std::string& s) {
  std::string out;
  char buf[4];
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      std::snprintf(buf, sizeof(buf), "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

// Runs `command` through the shell and returns its standard output.
std::string run(const std::string& command) {
  std::string out;
  FILE* p = popen(command.c_str(), "r");
  if (p == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

bool haveBinary(const char* name) {
  return run(std::string("command -v ") + name + " 2>/dev/null").size() > 0;
}

class AlertingTest : public ProxyTest {
 protected:
  void SetUp() override {
    if (!haveBinary("prometheus") || !haveBinary("prometheus-alertmanager") ||
        !haveBinary("python3")) {
      GTEST_SKIP() << "prometheus, prometheus-alertmanager or python3 missing "
                      "(scripts/install-deps.sh --e2e installs them)";
    }
    ProxyTest::SetUp();
  }

  // Starts Prometheus scraping the sidecar's admin port every second, with the shipped rules
  // rendered with short windows, sending alerts to `alertmanager_port` (0: none).
  void startPrometheus(uint16_t alertmanager_port) {
    const std::string rules = tempDir() + "/rules.yml";
    ASSERT_EQ(std::system(("\"" + std::string(SOURCE_DIR) +
                           "/deploy/prometheus/render-rules.sh\" --window 10s --for 2s "
                           "--offset 30s > \"" +
                           rules + "\"")
                              .c_str()),
              0);
    std::ostringstream config;
    config << "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
           << "rule_files: [" << rules << "]\n"
           << "scrape_configs:\n"
           << "  - job_name: switchyard\n"
           << "    static_configs: [{targets: ['127.0.0.1:" << adminPort() << "']}]\n";
    if (alertmanager_port != 0) {
      config << "alerting:\n  alertmanagers:\n    - static_configs: [{targets: ['127.0.0.1:"
             << alertmanager_port << "']}]\n";
    }
    const std::string path = writeFile("prometheus.yml", config.str());
    prometheus_port_ = static_cast<uint16_t>(freePort());
    prometheus_ = std::make_unique<Process>(
        "/usr/bin/prometheus",
        std::vector<std::string>{
            "--config.file=" + path, "--storage.tsdb.path=" + tempDir() + "/tsdb",
            "--web.listen-address=127.0.0.1:" + std::to_string(prometheus_port_),
            "--rules.alert.resend-delay=1s", "--log.level=warn"});
    ASSERT_TRUE(waitForPort(prometheus_port_, 20s)) << prometheus_->output();
  }

  // Starts Alertmanager with the shipped example, pointed at this sidecar with the token, its
  // waits shortened for a test.
  void startAlertmanager() {
    std::ifstream in(std::string(SOURCE_DIR) + "/deploy/alertmanager/alertmanager.example.yml");
    std::stringstream text;
    text << in.rdbuf();
    std::string config = text.str();
    const std::string token_file = writeFile("token", Token);
    config = std::regex_replace(config, std::regex("http://127\\.0\\.0\\.1:9901"),
                                "http://127.0.0.1:" + std::to_string(adminPort()));
    config = std::regex_replace(config, std::regex("/etc/alertmanager/switchyard-admin-token"),
                                token_file);
    config = std::regex_replace(config, std::regex("group_wait: [0-9a-z]+"), "group_wait: 1s");
    config =
        std::regex_replace(config, std::regex("group_interval: [0-9a-z]+"), "group_interval: 1s");
    const std::string path = writeFile("alertmanager.yml", config);
    alertmanager_port_ = static_cast<uint16_t>(freePort());
    alertmanager_ = std::make_unique<Process>(
        "/usr/bin/prometheus-alertmanager",
        std::vector<std::string>{
            "--config.file=" + path, "--storage.path=" + tempDir() + "/am",
            "--web.listen-address=127.0.0.1:" + std::to_string(alertmanager_port_),
            "--cluster.listen-address=", "--log.level=warn"});
    ASSERT_TRUE(waitForPort(alertmanager_port_, 20s)) << alertmanager_->output();
  }

  json query(const std::string& expr) {
    Response r = httpGet(prometheus_port_, "/api/v1/query?query=" + urlEncode(expr), {}, 10s);
    json j = json::parse(r.body, nullptr, false);
    if (j.is_discarded()) return {{"status", "error"}, {"error", r.body}};
    return j;
  }

  // Waits (bounded) until Prometheus has scraped the sidecar `n` times.
  void waitForScrapes(int n) {
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (std::chrono::steady_clock::now() < deadline) {
      json j = query("count_over_time(up{job=\"switchyard\"}[5m])");
      if (j["status"] == "success" && !j["data"]["result"].empty() &&
          std::stoi(j["data"]["result"][0]["value"][1].get<std::string>()) >= n) {
        return;
      }
      std::this_thread::sleep_for(200ms);  // Prometheus scrapes on its own 1 s clock
    }
    FAIL() << "Prometheus did not scrape the sidecar " << n << " times";
  }

  void TearDown() override {
    if (alertmanager_) alertmanager_->stop(5s);
    if (prometheus_) prometheus_->stop(5s);
    ProxyTest::TearDown();
  }

  std::unique_ptr<Process> prometheus_;
  std::unique_ptr<Process> alertmanager_;
  uint16_t prometheus_port_ = 0;
  uint16_t alertmanager_port_ = 0;
};

// Every panel of every dashboard and every rule, against a sidecar that has seen a bit of
// everything: v1 and v2 traffic, deprecated calls, retries, an open breaker, overflows, a
// reload, a rollback, dropped spans, rate limiting (429s and shadow denials), a Redis that
// stops answering for a second, cache hits and misses, fallbacks to v1, a gated rollout and a
// TLS client certificate.
TEST_F(AlertingTest, EveryDashboardAndRuleQueryReturnsData) {
  RedisServer redis;
  auto& v1 = addUpstream("v1");
  auto& v2 = addUpstream("v2");
  const int dead = freePort();
  ProxyConfig c;
  c.clusters.push_back({"legacy", {v1.address()}, ""});
  c.clusters.push_back({"modern", {v2.address()}, ""});
  // Its endpoint fails every health check (nothing listens): out of load balancing.
  c.clusters.push_back({"dead",
                        {"127.0.0.1:" + std::to_string(dead)},
                        "    health_check: {path: /health, interval: 200ms, timeout: 100ms}\n"
                        "    outlier_detection: {consecutive_connect_failures: 2}\n"});
  // An endpoint given by name, looked up in a DNS server of the test's own.
  Dnsmasq dns({{"catalog.test", "127.0.0.1"}}, std::chrono::seconds(1));
  const std::string v1_port = v1.address().substr(v1.address().rfind(':') + 1);
  c.clusters.push_back({"named", {"catalog.test:" + v1_port}, ""});
  c.clusters.push_back({"slow", {v1.address()}, "    response_timeout: 50ms\n"});
  c.clusters.push_back(
      {"small", {v1.address()}, "    max_connections: 1\n    max_pending_requests: 0\n"});
  c.routes.push_back({"api", "/api/", "",
                      "    versions:\n"
                      "      default: v2\n"
                      "      v1:\n"
                      "        cluster: legacy\n"
                      "        deprecated: {since: 2025-01-01, sunset: 2099-01-01}\n"
                      "      v2: {split: [{cluster: modern, weight: 90}, "
                      "{cluster: legacy, weight: 10}], sticky: {header: X-User-Id}}\n"});
  c.routes.push_back({"dead", "/dead/", "dead", ""});
  // A gated rollout of v2 from legacy to modern (its step and state on the dashboard).
  c.routes.push_back({"canary", "/canary/", "",
                      "    versions:\n"
                      "      default: v2\n"
                      "      v1: {cluster: legacy}\n"
                      "      v2: {split: [{cluster: modern, weight: 0}, {cluster: legacy, weight: "
                      "100}]}\n"
                      "    rollout: {steps: [10, 100], hold: 1s, gates: {min_requests: 5}}\n"});
  // mTLS to a backend that is never asked: the client certificate's expiry is exported.
  const std::string tls = std::string(SOURCE_DIR) + "/config/examples/tls/";
  c.clusters.push_back({"secure",
                        {"127.0.0.1:" + std::to_string(dead)},
                        "    tls: {ca_file: " + tls + "ca.crt, certificate: " + tls +
                            "localhost.crt, private_key: " + tls + "localhost.key}\n"});
  c.routes.push_back({"secure", "/secure/", "secure", ""});
  // v2 of this route is the dead cluster: every request falls back to v1.
  c.routes.push_back({"shielded", "/shielded/", "",
                      "    versions:\n"
                      "      default: v2\n"
                      "      v1: {cluster: legacy}\n"
                      "      v2: {cluster: dead, fallback: {version: v1}}\n"});
  c.routes.push_back({"named", "/named/", "named", ""});
  c.routes.push_back({"slow", "/slow/", "slow", ""});
  c.routes.push_back({"small", "/small/", "small", ""});
  // The cache stores the catalog's responses for 30 s (the test upstream sends no freshness of
  // its own); on the other routes it looks up and misses, since nothing there is stored.
  c.routes.push_back({"catalog", "/catalog/", "legacy", "    filters: {cache: {ttl: 30s}}\n"});
  // Rate limits: /api/v2/export is limited to 5 requests an hour per client (the loop sends
  // more: 429s), v1 has a shadow limit it exceeds (counted, never denied), and the v2 orders go
  // through Redis with a key per request, so they are never denied, only counted in Redis's
  // errors while it is paused.
  c.filters =
      "  - correlation_id: {}\n"
      "  - rate_limit:\n"
      "      policies:\n"
      "        - {name: export, key: client_address, limit: 5, window: 1h,\n"
      "           match: {path_prefix: /api/v2/export}}\n"
      "        - {name: v1-clients, key: client_address, limit: 2, window: 1h, shadow: true,\n"
      "           match: {path_prefix: /api/v1/}}\n"
      "        - {name: per-user, key: {header: X-User-Id}, limit: 1000, window: 1m,\n"
      "           scope: global, on_redis_error: allow, match: {path_prefix: /api/v2/orders}}\n"
      "  - cache: {max_bytes: 16MiB}\n"
      "  - deprecation: {}\n"
      "  - retry: {base_interval: 1ms, max_interval: 2ms, budget: {percent: 1, min_retries: 0}}\n"
      "  - circuit_breaker:\n"
      "      consecutive_failures: 5\n"
      "      cooldown: 1s\n"
      "      clusters: {small: {max_concurrent_requests: 1}}\n";
  c.top_extra = "tracing: {collector: 'http://127.0.0.1:" + std::to_string(freePort()) +
                "/v1/traces', export_timeout: 100ms, flush_interval: 100ms}\n"
                "rollback:\n"
                "  plans:\n"
                "    - route: api\n"
                "      estimated_duration: 1m\n"
                "      steps: [{set_weights: {version: v2, weights: {legacy: 100}}}]\n"
                "dns: {resolvers: ['" +
                dns.address() +
                "'], refresh: 1s}\n"
                "redis: {address: " +
                redis.address() +
                ", timeout: 20ms, cooldown: 300ms, reconnect: {base: 10ms, max: 100ms}}\n";
  startProxy(c);
  startPrometheus(0);

  // Traffic for ~12 s, with every kind of event along the way.
  const auto begin = std::chrono::steady_clock::now();
  const auto until = begin + 12s;
  int round = 0;
  bool reloaded = false;
  bool rolled_back = false;
  bool redis_paused = false;
  bool redis_resumed = false;
  while (std::chrono::steady_clock::now() < until && round < 2000) {
    ++round;
    httpGet(port(), "/api/v2/orders", {{"X-User-Id", "u" + std::to_string(round)}});
    httpGet(port(), "/api/v1/orders", {{"X-Client-Id", "web"}});
    httpGet(port(), "/api/status/500");
    httpGet(port(), "/api/v2/export");
    // Four catalog items, stored on their first request and hits after that; a search with a
    // new query every fourth round, a miss each time; an item with an ETag that the client asks
    // to revalidate (no-cache), which the upstream confirms with a 304.
    httpGet(port(), "/catalog/items/" + std::to_string(round % 4));
    if (round % 4 == 0) httpGet(port(), "/catalog/search?q=" + std::to_string(round));
    if (round % 4 == 2) {
      httpGet(port(), "/catalog/items/tagged",
              {{"X-Test-Response-Header", "ETag: \"t1\""}, {"Cache-Control", "no-cache"}});
    }
    if (round % 5 == 0) httpGet(port(), "/dead/x");
    if (round % 5 == 1) httpGet(port(), "/named/x");
    if (round % 5 == 2) httpGet(port(), "/shielded/x");
    if (round % 5 == 3) httpGet(port(), "/canary/x");
    if (round % 10 == 0) httpGet(port(), "/slow/delay/200");
    if (round % 10 == 0) {
      // Two at once on a cluster of one connection and no queue: one overflows.
      std::thread other([&] { httpGet(port(), "/small/delay/100"); });
      httpGet(port(), "/small/delay/100");
      other.join();
    }
    const auto elapsed = std::chrono::steady_clock::now() - begin;
    if (!reloaded && elapsed > 3s) {
      reloaded = true;
      EXPECT_EQ(httpRequest(adminPort(), "POST", "/reload", {{"Authorization", "Bearer " + Token}})
                    .status,
                200);
    }
    if (round == 10) {
      // A request the codec refuses (two Content-Lengths).
      sendRaw("POST /api/x HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n");
    }
    // Redis stops answering for a second: the global policy's commands time out, then the
    // cooldown answers them at once (on_redis_error: allow lets the requests through).
    if (!redis_paused && elapsed > 4s) {
      redis_paused = true;
      redis.pause();
    }
    if (redis_paused && !redis_resumed && elapsed > 5s) {
      redis_resumed = true;
      redis.resume();
    }
    if (!rolled_back && elapsed > 6s) {
      rolled_back = true;
      EXPECT_EQ(httpRequest(adminPort(), "POST", "/rollback/trigger",
                            {{"Authorization", "Bearer " + Token}}, R"({"route":"api"})")
                    .status,
                202);
    }
    std::this_thread::sleep_for(20ms);  // a steady rate, not a flood
  }
  if (redis_paused && !redis_resumed) redis.resume();
  // The cache really answers: a catalog item stored during the loop is still fresh.
  const std::string cache_status =
      httpGet(port(), "/catalog/items/1").header("cache-status").value_or("");
  EXPECT_EQ(cache_status.rfind("Switchyard; hit", 0), 0u) << cache_status;
  waitForScrapes(8);
  // Prometheus has the catalog's hits, misses and revalidations.
  const json results =
      query("sum by (result) (switchyard_cache_lookups_total{route=\"catalog\"}) > 0");
  std::set<std::string> seen;
  for (const auto& s : results["data"]["result"]) seen.insert(s["metric"]["result"]);
  for (const char* result : {"hit", "miss", "revalidated"}) {
    EXPECT_TRUE(seen.count(result)) << result << ": " << results.dump();
  }

  const std::string lines =
      run("python3 \"" + std::string(SOURCE_DIR) + "/tests/prometheus/queries.py\"");
  std::istringstream in(lines);
  int checked = 0;
  std::set<std::string> empty_dashboard_queries;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    const json q = json::parse(line);
    const std::string expr = q["expr"];
    const std::string where = q["source"].get<std::string>() + ": " + q["title"].get<std::string>();
    json r = query(expr);
    ++checked;
    ASSERT_EQ(r["status"], "success") << where << "\n" << expr << "\n" << r.dump();
    // Every metric and recording rule the expression names has series: a renamed metric fails
    // here. Recording rules first, so the metric inside a rule's name is not taken alone.
    std::regex name_re("\\b([a-z_]+:[a-z0-9_:]+|switchyard_[a-z0-9_]+)");
    for (auto it = std::sregex_iterator(expr.begin(), expr.end(), name_re);
         it != std::sregex_iterator(); ++it) {
      std::string name = (*it)[1];
      for (const char* suffix : {"_bucket", "_count", "_sum"}) {
        if (expr.find(name + suffix) != std::string::npos) name += suffix;
      }
      json exists = query("count({__name__=\"" + name + "\"})");
      EXPECT_FALSE(exists["data"]["result"].empty()) << where << ": no series of " << name;
    }
    // A dashboard panel shows something; an alert's condition is allowed to be false.
    const bool is_alert = q["title"].get<std::string>().rfind("alert ", 0) == 0;
    if (!is_alert && r["data"]["result"].empty())
      empty_dashboard_queries.insert(where + "\n  " + expr);
  }
  EXPECT_GE(checked, 60);
  std::string empty;
  for (const auto& e : empty_dashboard_queries) empty += e + "\n";
  EXPECT_TRUE(empty_dashboard_queries.empty()) << "queries without data:\n" << empty;
}

// The shipped rules and Alertmanager example: v2 fails under steady traffic, the critical
// error-ratio alert fires, Alertmanager calls the webhook, and v2's traffic moves to v1.
TEST_F(AlertingTest, AlertmanagerWebhookRollsBackAFailingV2) {
  auto& v1 = addUpstream("v1");
  auto& v2 = addUpstream("v2");
  ProxyConfig c;
  c.clusters.push_back({"legacy", {v1.address()}, ""});
  c.clusters.push_back({"modern", {v2.address()}, ""});
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
      "  plans:\n"
      "    - route: api\n"
      "      steps: [{set_weights: {version: v2, weights: {legacy: 100}}}]\n";
  startProxy(c);
  startAlertmanager();
  startPrometheus(alertmanager_port_);
  waitForScrapes(3);

  std::atomic<bool> stop{false};
  std::atomic<int> failed{0};
  std::atomic<int> total{0};
  std::atomic<int64_t> on_v1_ms{-1};
  std::chrono::steady_clock::time_point t0{};
  std::atomic<bool> failing{false};
  std::thread client([&] {
    RawConnection conn;
    const auto until = std::chrono::steady_clock::now() + 60s;
    while (!stop && std::chrono::steady_clock::now() < until) {
      if (!conn.connected() && !conn.connect(port())) continue;
      conn.send(buildRequest("GET", "/api/orders"));
      auto r = conn.readResponse();
      if (!r) {
        conn.close();
        continue;
      }
      ++total;
      if (failing && r->status != 200) ++failed;
      if (failing && r->status == 200 &&
          r->header("x-upstream-name") == std::optional<std::string>("v1") && on_v1_ms < 0) {
        on_v1_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::steady_clock::now() - t0)
                       .count();
      }
      std::this_thread::sleep_for(20ms);  // ~50 requests/s, steady
    }
  });
  // Healthy traffic first, so the rates have a baseline.
  std::this_thread::sleep_for(3s);
  t0 = std::chrono::steady_clock::now();
  v2.control("fail?status=503");
  failing = true;
  const auto deadline = t0 + 45s;
  while (on_v1_ms < 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);  // the alerting pipeline runs on its own clocks
  }
  const int64_t took = on_v1_ms.load();
  const int failed_before = failed.load();
  ASSERT_GE(took, 0) << "no rollback; alertmanager:\n"
                     << alertmanager_->output() << "\nrollback state:\n"
                     << httpGet(adminPort(), "/rollback").body;
  std::printf(
      "alert-driven rollback: traffic on v1 %lld ms after v2 started failing; %d failed "
      "responses in between (of %d requests so far)\n",
      static_cast<long long>(took), failed_before, total.load());
  RecordProperty("rollback_ms", static_cast<int>(took));
  RecordProperty("failed_responses", failed_before);
  EXPECT_LT(took, 10000);
  json state = json::parse(httpGet(adminPort(), "/rollback").body);
  EXPECT_EQ(state["routes"]["api"]["state"], "rolled_back") << state.dump(2);
  ASSERT_FALSE(state["executions"].empty());
  EXPECT_EQ(state["executions"][0]["trigger"]["kind"], "alertmanager");

  // v2 gets no more traffic, the alert resolves, the resolved notification arrives; the route
  // stays rolled back.
  const auto resolved_deadline = std::chrono::steady_clock::now() + 60s;
  bool resolved = false;
  while (!resolved && std::chrono::steady_clock::now() < resolved_deadline) {
    state = json::parse(httpGet(adminPort(), "/rollback").body);
    for (const auto& a : state["alerts"])
      resolved = resolved || a.value("status", "") == "resolved";
    if (!resolved) std::this_thread::sleep_for(250ms);  // Alertmanager's own timers
  }
  stop = true;
  client.join();
  EXPECT_TRUE(resolved) << state.dump(2);
  EXPECT_EQ(state["routes"]["api"]["state"], "rolled_back");
  EXPECT_EQ(httpGet(port(), "/api/orders").header("x-upstream-name"), "v1");

  // kill -9 and restart: still rolled back.
  proxy().terminate(SIGKILL);
  proxy().waitExit(5s);
  v2.recover();
  startProxy(c);
  EXPECT_EQ(httpGet(port(), "/api/orders").header("x-upstream-name"), "v1");
  state = json::parse(httpGet(adminPort(), "/rollback").body);
  EXPECT_EQ(state["routes"]["api"]["state"], "rolled_back");
}

}  // namespace
}  // namespace switchyard::test::integration
