// Upstream pools and connection limits: round-robin over a cluster's endpoints, the per-worker
// bulkhead (max_connections, then a bounded pending queue, then a fast 503), the listener's
// connection cap, and the idle timeout of pooled connections.

#include <thread>

#include "tests/integration/harness.h"

namespace switchyard::test::integration {
namespace {

class PoolLimitsTest : public ProxyTest {};

TEST_F(PoolLimitsTest, RoundRobinOverEndpoints) {
  TestUpstream& a = addUpstream("a");
  TestUpstream& b = addUpstream("b");
  ProxyConfig config;
  config.workers = 1;  // one round-robin counter, so the split is exact
  config.clusters.push_back({"pair", {a.address(), b.address()}, ""});
  config.routes.push_back({"default", "/", "pair", ""});
  startProxy(config);
  a.recover();
  b.recover();
  int served_by_a = 0;
  for (int i = 0; i < 20; ++i) {
    Response r = httpGet(port(), "/rr/" + std::to_string(i));
    ASSERT_EQ(r.status, 200) << r.reason;
    if (r.header("x-upstream-name") == "a") ++served_by_a;
  }
  EXPECT_EQ(served_by_a, 10);
  EXPECT_EQ(a.stats().requests, 10);
  EXPECT_EQ(b.stats().requests, 10);
}

TEST_F(PoolLimitsTest, BulkheadQueuesThenRejectsWith503) {
  ProxyConfig config = defaultConfig();
  config.workers = 1;
  config.clusters.push_back(
      {"narrow", {upstream().address()}, "    max_connections: 1\n    max_pending_requests: 1\n"});
  config.routes.insert(config.routes.begin(), {"narrow", "/delay/", "narrow", ""});
  startProxy(config);

  // The first request holds the only connection for 600 ms, the second waits for it, the third
  // finds the queue full. (A request waiting for a connection that is still being established
  // counts as pending too, so each one is given time to settle before the next.)
  RawConnection first, second, third;
  ASSERT_TRUE(first.connect(port()));
  ASSERT_TRUE(first.send(buildRequest("GET", "/delay/600")));
  std::this_thread::sleep_for(150ms);
  ASSERT_TRUE(second.connect(port()));
  ASSERT_TRUE(second.send(buildRequest("GET", "/delay/600")));
  std::this_thread::sleep_for(150ms);
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(third.connect(port()));
  ASSERT_TRUE(third.send(buildRequest("GET", "/delay/600")));
  auto rejected = third.readResponse(3s);
  ASSERT_TRUE(rejected.has_value()) << third.error();
  EXPECT_TRUE(isProblem(*rejected, 503)) << rejected->raw_head << rejected->body;
  EXPECT_LT(std::chrono::steady_clock::now() - start, 300ms) << "an overflow must be fast";

  auto r1 = first.readResponse(3s);
  auto r2 = second.readResponse(3s);  // served on the first one's connection once it is free
  ASSERT_TRUE(r1.has_value()) << first.error();
  ASSERT_TRUE(r2.has_value()) << second.error();
  EXPECT_EQ(r1->status, 200);
  EXPECT_EQ(r2->status, 200);

  Response metrics = httpGet(adminPort(), "/metrics");
  EXPECT_NE(metrics.body.find("switchyard_upstream_pending_overflow_total{cluster=\"narrow\"} 1"),
            std::string::npos);
}

TEST_F(PoolLimitsTest, ListenerConnectionCap) {
  ProxyConfig config = defaultConfig();
  config.workers = 1;
  config.listener_extra = "    max_connections: 2\n";
  startProxy(config);
  // Two connections each with a request in flight: neither can make room for a third (an idle
  // one could: see OverloadTest).
  RawConnection held[2];
  for (auto& c : held) {
    ASSERT_TRUE(c.connect(port()));
    ASSERT_TRUE(c.send(buildRequest("GET", "/delay/1500")));
  }
  std::this_thread::sleep_for(200ms);  // both requests are with the upstream
  // A third connection is accepted by the kernel and closed by the proxy at once.
  RawConnection over;
  ASSERT_TRUE(over.connect(port()));
  over.send(buildRequest("GET", "/over"));
  EXPECT_TRUE(over.closedByPeer(2s));
  Response metrics = httpGet(adminPort(), "/metrics");
  EXPECT_NE(metrics.body.find("switchyard_downstream_connections_rejected_total{listener="),
            std::string::npos);
  for (auto& c : held) {
    auto r = c.readResponse(3s);
    ASSERT_TRUE(r.has_value()) << c.error();
    EXPECT_EQ(r->status, 200);
  }
  // Once a held connection goes away, new ones are served again.
  held[0].close();
  held[1].close();
  const auto deadline = std::chrono::steady_clock::now() + 3s;
  Response r;
  do {
    r = httpGet(port(), "/after");
  } while (r.status != 200 && std::chrono::steady_clock::now() < deadline);
  EXPECT_EQ(r.status, 200);
}

TEST_F(PoolLimitsTest, IdlePooledConnectionsAreClosedAfterTheIdleTimeout) {
  ProxyConfig config = defaultConfig();
  config.workers = 1;
  config.clusters.push_back({"brief", {upstream().address()}, "    idle_timeout: 200ms\n"});
  config.routes.insert(config.routes.begin(), {"brief", "/brief/", "brief", ""});
  startProxy(config);
  upstream().recover();
  ASSERT_EQ(httpGet(port(), "/brief/1").status, 200);
  ASSERT_EQ(httpGet(port(), "/brief/2").status, 200);
  // The proxy's idle timer (configured small) has to run out: a real wait, bounded.
  std::this_thread::sleep_for(600ms);
  ASSERT_EQ(httpGet(port(), "/brief/3").status, 200);
  // Two proxied connections for three requests (reused once, then replaced after the idle
  // timeout), plus the stats request's own connection. Without the timeout it would be 2.
  EXPECT_EQ(upstream().stats().connections, 3);
}

}  // namespace
}  // namespace switchyard::test::integration
