// Upstreams that misbehave or are missing: the client gets a local 502/504 problem reply, in
// bounded time, and the proxy keeps serving.

#include "tests/integration/harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vector>

namespace switchyard::test::integration {
namespace {

using Clock = std::chrono::steady_clock;

class UpstreamFailureTest : public ProxyTest {
 protected:
  // GETs `path` (on a new connection) while a keep-alive probe is open; expects a local `status`
  // reply within `limit`, then that the probe and a new connection still work.
  void expectLocalFailure(const std::string& path, int status, std::chrono::milliseconds limit = 3s,
                          const Headers& headers = {}) {
    KeepAliveProbe probe(port());
    ASSERT_TRUE(probe.ok());
    const auto start = Clock::now();
    Response r = httpGet(port(), path, headers, limit + 2s);
    const auto elapsed = Clock::now() - start;
    EXPECT_TRUE(isProblem(r, status)) << r.reason;
    EXPECT_LT(elapsed, limit);
    EXPECT_TRUE(r.header("x-correlation-id").has_value()) << r.raw_head;
    EXPECT_TRUE(probe.stillWorks());
    expectProxyServes();
  }
};

// 8.
TEST_F(UpstreamFailureTest, GarbageResponseIs502) {
  startProxy();
  expectLocalFailure("/garbage", 502);
}

TEST_F(UpstreamFailureTest, MalformedResponseHeaderIs502) {
  startProxy();
  expectLocalFailure("/bad-header", 502);
}

// 9.
TEST_F(UpstreamFailureTest, UpstreamDownIs502Quickly) {
  ProxyConfig config = defaultConfig();
  const int dead_port = freePort();
  ASSERT_GT(dead_port, 0);
  config.clusters.push_back({"down", {"127.0.0.1:" + std::to_string(dead_port)}, ""});
  config.routes.insert(config.routes.begin(), {"down", "/down/", "down", ""});
  startProxy(config);
  expectLocalFailure("/down/anything", 502, 1s);
  // Again, now that the pool has seen the failure once.
  const auto start = Clock::now();
  Response again = httpGet(port(), "/down/again");
  EXPECT_TRUE(isProblem(again, 502)) << again.reason;
  EXPECT_LT(Clock::now() - start, 1s);
}

// 10.
TEST_F(UpstreamFailureTest, RouteTimeoutIs504) {
  ProxyConfig config = defaultConfig();
  config.routes.insert(config.routes.begin(), {"slow", "/delay/", "main", "    timeout: 300ms\n"});
  startProxy(config);
  const auto start = Clock::now();
  Response r = httpGet(port(), "/delay/2000", {}, 5s);
  const auto elapsed = Clock::now() - start;
  EXPECT_TRUE(isProblem(r, 504)) << r.reason;
  EXPECT_GE(elapsed, 250ms);
  EXPECT_LT(elapsed, 1500ms);
  expectLocalFailure("/delay/2000", 504, 1500ms);
}

TEST_F(UpstreamFailureTest, ClusterResponseTimeoutIs504) {
  ProxyConfig config = defaultConfig();
  config.clusters.push_back({"impatient", {upstream().address()}, "    response_timeout: 300ms\n"});
  config.routes.insert(config.routes.begin(), {"impatient", "/impatient/", "impatient", ""});
  startProxy(config);
  const auto start = Clock::now();
  Response r = httpGet(port(), "/impatient/x", {{"X-Test-Delay-Ms", "2000"}}, 5s);
  const auto elapsed = Clock::now() - start;
  EXPECT_TRUE(isProblem(r, 504)) << r.reason;
  EXPECT_GE(elapsed, 250ms);
  EXPECT_LT(elapsed, 1500ms);
  // The same delay within the default route (15 s timeout) is not cut: a short one succeeds.
  Response fine = httpGet(port(), "/fine", {{"X-Test-Delay-Ms", "100"}});
  EXPECT_EQ(fine.status, 200) << fine.reason;
  expectLocalFailure("/impatient/again", 504, 1500ms, {{"X-Test-Delay-Ms", "2000"}});
}

TEST_F(UpstreamFailureTest, HangingUpstreamIs504) {
  ProxyConfig config = defaultConfig();
  config.routes.insert(config.routes.begin(), {"hang", "/hang", "main", "    timeout: 300ms\n"});
  startProxy(config);
  expectLocalFailure("/hang", 504, 1500ms);
}

// 11.
TEST_F(UpstreamFailureTest, UpstreamResetIs502) {
  startProxy();
  expectLocalFailure("/reset", 502);
}

TEST_F(UpstreamFailureTest, UpstreamResetOnReusedConnectionIs502) {
  startProxy();
  // Warm the pool on one client connection, then make the upstream reset the next requests.
  RawConnection conn;
  ASSERT_TRUE(conn.connect(port()));
  ASSERT_TRUE(conn.send(buildRequest("GET", "/warm")));
  auto warm = conn.readResponse();
  ASSERT_TRUE(warm && warm->status == 200);
  upstream().control("reset?count=-1");
  ASSERT_TRUE(conn.send(buildRequest("GET", "/will-reset")));
  auto r = conn.readResponse(5s);
  EXPECT_TRUE(isProblem(r, 502)) << conn.error();
  upstream().recover();
  expectProxyServes();
}

TEST_F(UpstreamFailureTest, UpstreamErrorStatusIsPassedThrough) {
  startProxy();
  // A 503 from the upstream is its answer, not a local reply.
  Response r = httpGet(port(), "/status/503");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.header("content-type"), std::optional<std::string>("application/json"));
  EXPECT_EQ(r.header("x-upstream-name"), std::optional<std::string>("main"));
  expectProxyServes();
}

}  // namespace
// A connect that never completes: a loopback listener whose accept queue is full drops further
// SYNs, so the proxy's connect hangs until the cluster's connect_timeout (504).
TEST_F(UpstreamFailureTest, ConnectTimeoutIs504) {
  const int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(listener, 0), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const int full_port = ntohs(addr.sin_port);
  // Fill the accept queue (never accepted) so the next handshake cannot complete.
  std::vector<int> fillers;
  for (int i = 0; i < 3; ++i) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    fillers.push_back(fd);
  }

  ProxyConfig config = defaultConfig();
  config.clusters.push_back(
      {"blackhole", {"127.0.0.1:" + std::to_string(full_port)}, "    connect_timeout: 300ms\n"});
  config.routes.insert(config.routes.begin(), {"blackhole", "/blackhole/", "blackhole", ""});
  startProxy(config);
  const auto start = Clock::now();
  Response r = httpGet(port(), "/blackhole/x", {}, 5s);
  const auto elapsed = Clock::now() - start;
  EXPECT_TRUE(isProblem(r, 504)) << r.reason << r.body;
  EXPECT_GE(elapsed, 250ms);
  EXPECT_LT(elapsed, 1500ms);
  expectProxyServes();
  for (int fd : fillers) close(fd);
  close(listener);
}

}  // namespace switchyard::test::integration
