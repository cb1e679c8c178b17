// Overload protection: idle keep-alive connections parked and woken, connection limits that make
// room by closing connections waiting for a request (a fair share for newcomers while slow heads
// sit on a worker), the total limit across listeners, and 503 shedding over the buffer-memory
// limit.

#include <string>
#include <thread>
#include <vector>

#include "tests/integration/harness.h"

namespace switchyard::test::integration {
namespace {

class OverloadTest : public ProxyTest {
 protected:
  std::string metrics() { return httpGet(adminPort(), "/metrics").body; }
  // The value of `series` (name and labels as /metrics prints them); 0 when absent.
  double value(const std::string& series) {
    const std::string all = metrics();
    const std::string prefix = series + " ";
    for (size_t at = all.find(prefix); at != std::string::npos; at = all.find(prefix, at + 1)) {
      if (at == 0 || all[at - 1] == '\n') return std::stod(all.substr(at + prefix.size()));
    }
    return 0;
  }
  static constexpr const char* kActive = "switchyard_active_connections{listener=\"public\"}";
};

// A connection quiet for more than a second is parked (socket and read event only); its next
// request wakes it and is served on the same connection, and it still counts as open.
TEST_F(OverloadTest, AParkedKeepAliveConnectionServesItsNextRequest) {
  ProxyConfig config = defaultConfig();
  config.workers = 1;
  startProxy(config);
  RawConnection c;
  ASSERT_TRUE(c.connect(port()));
  ASSERT_TRUE(c.send(buildRequest("GET", "/first")));
  auto first = c.readResponse(3s);
  ASSERT_TRUE(first.has_value()) << c.error();
  EXPECT_EQ(first->status, 200);
  std::this_thread::sleep_for(1500ms);  // parked after 1 s of silence
  EXPECT_EQ(value(kActive), 1);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c.send(buildRequest("GET", "/again/" + std::to_string(i))));
    auto again = c.readResponse(3s);
    ASSERT_TRUE(again.has_value()) << c.error();
    EXPECT_EQ(again->status, 200);
    EXPECT_NE(again->body.find("/again/" + std::to_string(i)), std::string::npos);
  }
  // The client closing a parked connection is counted as a close.
  std::this_thread::sleep_for(1500ms);
  c.close();
  const auto deadline = std::chrono::steady_clock::now() + 3s;
  while (value(kActive) != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(value(kActive), 0);
}

TEST_F(OverloadTest, AParkedConnectionIsClosedAtItsIdleTimeout) {
  ProxyConfig config = defaultConfig();
  config.workers = 1;
  config.listener_extra = "    idle_timeout: 1500ms\n";
  startProxy(config);
  RawConnection c;
  ASSERT_TRUE(c.connect(port()));
  ASSERT_TRUE(c.send(buildRequest("GET", "/once")));
  ASSERT_TRUE(c.readResponse(3s).has_value()) << c.error();
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(c.closedByPeer(4s));
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_GT(waited, 1200ms);
  EXPECT_LT(waited, 3s);
  EXPECT_EQ(value(kActive), 0);
}

// At the listener's limit, a newcomer takes the place of the connection that has waited longest
// for a request; the connection closed is one nobody was being answered on.
TEST_F(OverloadTest, AtTheListenerLimitTheOldestIdleConnectionMakesRoom) {
  ProxyConfig config = defaultConfig();
  config.workers = 1;
  config.listener_extra = "    max_connections: 2\n";
  startProxy(config);
  RawConnection held[2];
  for (auto& c : held) {
    ASSERT_TRUE(c.connect(port()));
    ASSERT_TRUE(c.send(buildRequest("GET", "/held")));
    ASSERT_TRUE(c.readResponse(3s).has_value()) << c.error();
  }
  Response r = httpGet(port(), "/newcomer");
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(held[0].closedByPeer(2s));
  EXPECT_EQ(value("switchyard_downstream_connections_evicted_total{listener=\"public\"}"), 1);
  EXPECT_EQ(value("switchyard_downstream_connections_rejected_total{listener=\"public\"}"), 0);
}

// 40 clients trickling request heads hold every place of a 40-connection listener; 20 new
// clients are still served (each in its turn takes the place of a slow head), and the slow
// heads never reach the upstream.
TEST_F(OverloadTest, SlowHeadsCannotHoldEveryPlace) {
  ProxyConfig config = defaultConfig();
  config.workers = 1;
  config.listener_extra = "    max_connections: 40\n";
  startProxy(config);
  std::vector<RawConnection> slow(40);
  for (auto& c : slow) {
    ASSERT_TRUE(c.connect(port()));
    ASSERT_TRUE(c.send("GET /slow HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n"));
  }
  std::this_thread::sleep_for(200ms);
  const uint64_t upstream_before = upstream().stats().requests;
  std::vector<RawConnection> fresh(20);  // kept open: each needs a place of its own
  for (size_t i = 0; i < fresh.size(); ++i) {
    ASSERT_TRUE(fresh[i].connect(port()));
    ASSERT_TRUE(fresh[i].send(buildRequest("GET", "/fair/" + std::to_string(i))));
    auto r = fresh[i].readResponse(3s);
    ASSERT_TRUE(r.has_value()) << i << " " << fresh[i].error();
    EXPECT_EQ(r->status, 200);
  }
  EXPECT_EQ(upstream().stats().requests - upstream_before, 20u);
  EXPECT_EQ(value("switchyard_downstream_connections_evicted_total{listener=\"public\"}"), 20);
  // The oldest slow heads made room, none of the newcomers.
  int closed = 0;
  for (auto& c : slow) closed += c.closedByPeer(10ms) ? 1 : 0;
  EXPECT_EQ(closed, 20);
  for (auto& c : fresh) EXPECT_FALSE(c.closedByPeer(10ms));
}

// overload.max_connections counts every listener together; busy connections cannot make room.
TEST_F(OverloadTest, TheTotalLimitRefusesWhenEveryConnectionIsBusy) {
  ProxyConfig config = defaultConfig();
  config.workers = 1;
  config.top_extra = "overload:\n  max_connections: 2\n";
  startProxy(config);
  RawConnection busy[2];
  for (auto& c : busy) {
    ASSERT_TRUE(c.connect(port()));
    ASSERT_TRUE(c.send(buildRequest("GET", "/delay/1500")));
  }
  std::this_thread::sleep_for(200ms);
  RawConnection over;
  ASSERT_TRUE(over.connect(port()));
  over.send(buildRequest("GET", "/over"));
  EXPECT_TRUE(over.closedByPeer(2s));
  EXPECT_EQ(value("switchyard_downstream_connections_rejected_total{listener=\"public\"}"), 1);
  for (auto& c : busy) {
    auto r = c.readResponse(3s);
    ASSERT_TRUE(r.has_value()) << c.error();
    EXPECT_EQ(r->status, 200);
  }
}

// Clients that do not read their large responses fill the worker's buffers past the limit: new
// requests are answered 503 with Retry-After (and their connections closed) until the memory
// comes back; requests already admitted are not disturbed.
TEST_F(OverloadTest, OverTheBufferLimitNewRequestsAreShedWith503) {
  ProxyConfig config = defaultConfig();
  config.workers = 1;
  config.top_extra = "overload:\n  max_buffer_bytes_per_worker: 1MiB\n  retry_after: 3s\n";
  startProxy(config);
  std::vector<RawConnection> readers(40);
  for (auto& c : readers) {
    ASSERT_TRUE(c.connect(port()));
    ASSERT_TRUE(c.send(buildRequest("GET", "/bytes/8000000")));
  }
  // Wait until the worker holds more than the limit (the kernel's socket buffers fill first).
  Response shed;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  do {
    std::this_thread::sleep_for(100ms);
    shed = httpGet(port(), "/shed-me");
  } while (shed.status != 503 && std::chrono::steady_clock::now() < deadline);
  ASSERT_EQ(shed.status, 503) << shed.body;
  EXPECT_TRUE(isProblem(shed, 503));
  EXPECT_EQ(shed.header("retry-after"), "3");
  EXPECT_NE(shed.body.find("overloaded"), std::string::npos);
  EXPECT_GE(value("switchyard_downstream_requests_shed_total{listener=\"public\"}"), 1);
  // The slow readers go: their buffers are freed and requests are served again.
  for (auto& c : readers) c.close();
  Response after;
  const auto back = std::chrono::steady_clock::now() + 10s;
  do {
    std::this_thread::sleep_for(100ms);
    after = httpGet(port(), "/after");
  } while (after.status != 200 && std::chrono::steady_clock::now() < back);
  EXPECT_EQ(after.status, 200);
}

}  // namespace
}  // namespace switchyard::test::integration
