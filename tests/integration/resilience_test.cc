// Retries, retry budgets, circuit breakers and bulkheads against the real binary, with test
// upstreams that fail on command (/control/fail, /control/reset) on loopback.

#include <signal.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/integration/harness.h"

namespace switchyard::test::integration {
namespace {

class ResilienceTest : public ProxyTest {
 protected:
  // Cluster `api` over the given upstreams behind a catch-all route, with `filters` as the
  // chain.
  ProxyConfig config(const std::vector<TestUpstream*>& upstreams, const std::string& filters) {
    ProxyConfig c;
    std::vector<std::string> endpoints;
    for (auto* u : upstreams) endpoints.push_back(u->address());
    c.clusters.push_back({"api", endpoints, ""});
    c.routes.push_back({"default", "/", "api", ""});
    c.filters = "  - correlation_id: {}\n" + filters;
    return c;
  }

  // Sends `n` requests on one keep-alive connection; returns how many got each status.
  std::map<int, int> send(int n, std::string_view method = "GET", const Headers& headers = {},
                          std::string_view body = {}) {
    std::map<int, int> out;
    RawConnection conn;
    for (int i = 0; i < n; ++i) {
      if (!conn.connected() && !conn.connect(port())) {
        ++out[-1];
        continue;
      }
      conn.send(buildRequest(method, "/item/" + std::to_string(i), headers, body));
      auto r = conn.readResponse(10s);
      if (!r) {
        ++out[-1];
        conn.close();
        continue;
      }
      ++out[r->status];
      if (r->header("connection") == std::optional<std::string>("close")) conn.close();
    }
    return out;
  }

  std::string metrics() { return httpGet(adminPort(), "/metrics").body; }
  bool hasMetric(const std::string& series) { return metrics().find(series) != std::string::npos; }
};

const std::string FastRetry =
    "  - retry:\n"
    "      base_interval: 5ms\n"
    "      max_interval: 20ms\n"
    "      budget: {percent: 100, min_retries: 10}\n";

TEST_F(ResilienceTest, GetsRideOverOneFailingEndpoint) {
  auto& good = addUpstream("good");
  auto& bad = addUpstream("bad");
  startProxy(config({&good, &bad}, FastRetry));
  bad.control("fail?status=503");
  auto statuses = send(200);
  EXPECT_EQ(statuses, (std::map<int, int>{{200, 200}}));
  EXPECT_GT(bad.stats().requests, 20);  // it was tried, and failed over
  EXPECT_TRUE(hasMetric("switchyard_retries_total{cluster=\"api\",reason=\"503\"}"));

  bad.recover();
  bad.control("reset");  // now it resets every connection
  statuses = send(200);
  EXPECT_EQ(statuses, (std::map<int, int>{{200, 200}}));
  EXPECT_TRUE(hasMetric("switchyard_retries_total{cluster=\"api\",reason=\"reset\"}"));
}

TEST_F(ResilienceTest, PostIsRetriedOnlyWithAnIdempotencyKey) {
  auto& good = addUpstream("good");
  auto& bad = addUpstream("bad");
  startProxy(config({&good, &bad}, FastRetry));
  bad.control("fail?status=503");
  // Round-robin sends about half the POSTs to the failing endpoint; without a key they fail.
  auto plain = send(100, "POST", {{"Content-Type", "application/json"}}, R"({"order":1})");
  EXPECT_GT(plain[503], 20);
  EXPECT_EQ(plain[200] + plain[503], 100);
  const int64_t bad_requests = bad.stats().requests;
  EXPECT_EQ(bad_requests, plain[503]);  // each failed POST reached the bad endpoint once

  auto keyed = send(100, "POST", {{"Idempotency-Key", "order-42"}}, R"({"order":1})");
  EXPECT_EQ(keyed, (std::map<int, int>{{200, 100}}));
  // The retried POSTs carried their body to the good endpoint.
  Response echo = httpRequest(port(), "POST", "/echo", {{"X-Operation-ID", "op-1"}}, "payload!");
  EXPECT_EQ(echo.status, 200);
}

TEST_F(ResilienceTest, BreakerOpensAfterFiveFailuresAndAProbeClosesIt) {
  auto& only = addUpstream("only");
  startProxy(config({&only}, "  - circuit_breaker: {consecutive_failures: 5, cooldown: 1s}\n"));
  only.control("fail?status=503");
  auto first = send(5);
  EXPECT_EQ(first, (std::map<int, int>{{503, 5}}));
  EXPECT_EQ(only.stats().requests, 5);
  EXPECT_TRUE(hasMetric("switchyard_circuit_breaker_state{cluster=\"api\"} 2"));
  Response clusters = httpGet(adminPort(), "/clusters");
  ASSERT_EQ(clusters.status, 200);
  const auto view = nlohmann::json::parse(clusters.body);
  EXPECT_EQ(view["clusters"][0]["name"], "api");
  EXPECT_EQ(view["clusters"][0]["circuit_breaker"]["state"], "open") << clusters.body;
  EXPECT_TRUE(view["clusters"][0]["circuit_breaker"].contains("concurrent_requests"));

  // Open: refused by the proxy without touching the upstream, fast, with Retry-After.
  RawConnection conn;
  ASSERT_TRUE(conn.connect(port()));
  std::vector<double> ms;
  for (int i = 0; i < 200; ++i) {
    const auto start = std::chrono::steady_clock::now();
    conn.send(buildRequest("GET", "/x"));
    auto r = conn.readResponse();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                     .count());
    ASSERT_TRUE(r.has_value());
    ASSERT_TRUE(isProblem(*r, 503)) << r->body;
    EXPECT_TRUE(r->header("retry-after").has_value());
    EXPECT_NE(r->body.find("circuit breaker"), std::string::npos);
  }
  std::sort(ms.begin(), ms.end());
  // Round trip on loopback included; the proxy's own share is far below this.
  EXPECT_LT(ms[ms.size() / 2], 1.0) << "median " << ms[ms.size() / 2] << " ms";
  EXPECT_EQ(only.stats().requests, 5);
  EXPECT_TRUE(hasMetric("switchyard_circuit_breaker_rejected_total{cluster=\"api\"} 200"));

  // The upstream recovers; after the cooldown one probe goes through and closes the breaker.
  only.recover();
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    status = httpGet(port(), "/probe").status;
    if (status == 200) break;
    std::this_thread::sleep_for(50ms);  // waiting out the 1 s cooldown of another process
  }
  EXPECT_EQ(status, 200);
  EXPECT_TRUE(hasMetric("switchyard_circuit_breaker_state{cluster=\"api\"} 0"));
  EXPECT_EQ(send(20), (std::map<int, int>{{200, 20}}));
  const std::string m = metrics();
  EXPECT_NE(m.find("switchyard_circuit_breaker_transitions_total{cluster=\"api\",from=\"closed\","
                   "to=\"open\"} 1"),
            std::string::npos)
      << m;
  EXPECT_NE(
      m.find("switchyard_circuit_breaker_transitions_total{cluster=\"api\",from=\"half_open\","
             "to=\"closed\"} 1"),
      std::string::npos)
      << m;
}

TEST_F(ResilienceTest, TotalFailureUnderLoadCausesNoRetryStorm) {
  auto& a = addUpstream("a");
  auto& b = addUpstream("b");
  startProxy(config({&a, &b},
                    "  - retry:\n"
                    "      base_interval: 1ms\n"
                    "      max_interval: 5ms\n"
                    "      budget: {percent: 20, min_retries: 0}\n"));
  a.control("fail?status=503");
  b.control("fail?status=503");
  std::atomic<int> sent{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 8; ++t) {
    clients.emplace_back([&] {
      RawConnection conn;
      for (int i = 0; i < 150; ++i) {
        if (!conn.connected() && !conn.connect(port())) continue;
        if (!conn.send(buildRequest("GET", "/storm"))) {
          conn.close();
          continue;
        }
        ++sent;
        auto r = conn.readResponse(10s);
        if (!r || r->header("connection") == std::optional<std::string>("close")) conn.close();
      }
    });
  }
  for (auto& c : clients) c.join();
  const int64_t upstream = a.stats().requests + b.stats().requests;
  // At most (1 + budget) times what the clients sent.
  EXPECT_LE(upstream, static_cast<int64_t>(sent.load() * 1.2))
      << "clients " << sent.load() << ", upstream " << upstream;
  EXPECT_GE(upstream, sent.load());
  EXPECT_TRUE(hasMetric("switchyard_retry_budget_exhausted_total{cluster=\"api\"}"));
}

TEST_F(ResilienceTest, SlowAttemptsAreRetriedWithinTheOverallTimeout) {
  auto& slow = addUpstream("slow");
  startProxy(config({&slow},
                    "  - retry:\n"
                    "      retry_on: [connect-failure, reset, timeout, 503]\n"
                    "      per_try_timeout: 100ms\n"
                    "      timeout: 350ms\n"
                    "      base_interval: 10ms\n"
                    "      max_interval: 20ms\n"));
  for (int i = 0; i < 5; ++i) {
    const auto start = std::chrono::steady_clock::now();
    Response r = httpGet(port(), "/delay/1000");
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_TRUE(isProblem(r, 504)) << r.status << " " << r.body;
    EXPECT_LE(took, 350ms + 60ms) << "the overall timeout was exceeded";
    EXPECT_GE(took, 200ms) << "gave up before retrying";
  }
  // Each request made several attempts.
  EXPECT_GE(slow.stats().requests, 10);
  EXPECT_TRUE(hasMetric("switchyard_retries_total{cluster=\"api\",reason=\"timeout\"}"));
  // A fast answer is not disturbed.
  EXPECT_EQ(httpGet(port(), "/fast").status, 200);
}

TEST_F(ResilienceTest, ConcurrencyBulkheadRefusesFastInsteadOfQueueing) {
  auto& slow = addUpstream("slow");
  startProxy(config({&slow}, "  - circuit_breaker: {max_concurrent_requests: 2}\n"));
  std::vector<std::thread> holders;
  for (int i = 0; i < 2; ++i) {
    holders.emplace_back([&] { httpGet(port(), "/delay/700", {}, 5s); });
  }
  // Wait (bounded) until both requests are in flight at the upstream.
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (slow.stats().requests < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  const auto start = std::chrono::steady_clock::now();
  Response r = httpGet(port(), "/third");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 200ms);
  EXPECT_TRUE(isProblem(r, 503)) << r.body;
  EXPECT_NE(r.body.find("max_concurrent_requests"), std::string::npos);
  for (auto& h : holders) h.join();
  EXPECT_TRUE(hasMetric(
      "switchyard_bulkhead_overflow_total{cluster=\"api\",limit=\"max_concurrent_requests\"} 1"));
  EXPECT_EQ(httpGet(port(), "/after").status, 200);
}

TEST_F(ResilienceTest, AnOpenBreakerStaysOpenAcrossAReload) {
  auto& only = addUpstream("only");
  ProxyConfig before =
      config({&only}, "  - circuit_breaker: {consecutive_failures: 3, cooldown: 1h}\n");
  startProxy(before);
  only.control("fail?status=503");
  EXPECT_EQ(send(3), (std::map<int, int>{{503, 3}}));
  ASSERT_TRUE(hasMetric("switchyard_circuit_breaker_state{cluster=\"api\"} 2"));
  only.recover();

  // SIGHUP with a changed chain and breaker settings: the breaker is the same, still open.
  ProxyConfig after = config({&only},
                             "  - retry: {max_retries: 1}\n"
                             "  - circuit_breaker: {consecutive_failures: 10, "
                             "cooldown: 2h, max_concurrent_requests: 50}\n");
  writeFile("switchyard.yaml", after.render(port(), adminPort()));
  ASSERT_TRUE(proxy().terminate(SIGHUP));
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!hasMetric("switchyard_config_reloads_total{result=\"success\"} 1")) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << proxy().output();
    std::this_thread::sleep_for(10ms);  // waiting on another process, bounded by the deadline
  }
  const int64_t seen = only.stats().requests;
  auto statuses = send(50);
  EXPECT_EQ(statuses, (std::map<int, int>{{503, 50}}));
  EXPECT_EQ(only.stats().requests, seen) << "the backend saw requests while the breaker was open";
  const auto view = nlohmann::json::parse(httpGet(adminPort(), "/clusters").body);
  EXPECT_EQ(view["clusters"][0]["circuit_breaker"]["state"], "open");
  EXPECT_EQ(view["clusters"][0]["circuit_breaker"]["concurrent_requests"]["limit"], 50);
  // Opened under the old settings: the cooldown it was given (1h) still runs.
  EXPECT_LE(view["clusters"][0]["circuit_breaker"]["open_remaining_ms"].get<int64_t>(), 3'600'000);
  const std::string m = metrics();
  EXPECT_NE(m.find("switchyard_circuit_breaker_transitions_total{cluster=\"api\",from=\"closed\","
                   "to=\"open\"} 1"),
            std::string::npos)
      << m;
}

TEST_F(ResilienceTest, ReloadsUnderLoadKeepOneBulkheadAndDropNothing) {
  auto& a = addUpstream("a");
  auto& b = addUpstream("b");
  auto chain = [](int i) {
    return "  - retry: {max_retries: " + std::to_string(1 + i % 2) +
           ", base_interval: 5ms, max_interval: 10ms}\n"
           "  - circuit_breaker: {max_concurrent_requests: " +
           std::to_string(1000 + i) + "}\n";
  };
  startProxy(config({&a, &b}, chain(0)));
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&] {
      RawConnection conn;
      // Bounded: at most 100k requests or until told to stop.
      for (int i = 0; i < 100000 && !stop.load(); ++i) {
        if (!conn.connected() && !conn.connect(port())) {
          ++failed;
          continue;
        }
        auto r = conn.send(buildRequest("GET", "/item")) ? conn.readResponse(5s) : std::nullopt;
        if (r && r->status == 200) {
          ++ok;
          continue;
        }
        ++failed;
        conn.close();
      }
    });
  }
  for (int i = 1; i <= 20; ++i) {
    writeFile("switchyard.yaml", config({&a, &b}, chain(i)).render(port(), adminPort()));
    Response r = httpRequest(adminPort(), "POST", "/reload",
                             {{"Authorization", "Bearer integration-secret-token"}});
    EXPECT_EQ(r.status, 200) << r.body;
    std::this_thread::sleep_for(50ms);  // let traffic run under each configuration
  }
  stop = true;
  for (auto& c : clients) c.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_GT(ok.load(), 400);
  // Every request of every configuration gave its slot back to the one bulkhead. A worker gives
  // it back when the stream ends, which can be just after the client has read the response:
  // polled, for at most 2 s.
  nlohmann::json view;
  for (int i = 0; i < 100; ++i) {
    view = nlohmann::json::parse(httpGet(adminPort(), "/clusters").body);
    if (view["clusters"][0]["retry_budget"]["active_requests"] == 0 &&
        view["clusters"][0]["circuit_breaker"]["concurrent_requests"]["active"] == 0) {
      break;
    }
    std::this_thread::sleep_for(20ms);  // another process; bounded
  }
  EXPECT_EQ(view["clusters"][0]["circuit_breaker"]["concurrent_requests"],
            nlohmann::json::parse(R"({"active": 0, "limit": 1020})"));
  EXPECT_EQ(view["clusters"][0]["retry_budget"]["active_requests"], 0);
  EXPECT_TRUE(hasMetric("switchyard_config_reloads_total{result=\"success\"} 20"));
}

}  // namespace
}  // namespace switchyard::test::integration
