#include "proxy/server/endpoint_prober.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "proxy/common/time.h"

namespace switchyard::server {
namespace {

using namespace std::chrono_literals;

// A socket listening on a free loopback port (connects succeed without an accept).
class Listener {
 public:
  Listener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    ::listen(fd_, 16);
    socklen_t len = sizeof(a);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~Listener() { ::close(fd_); }
  uint16_t port() const { return port_; }

 private:
  int fd_;
  uint16_t port_ = 0;
};

common::SocketAddress address(uint16_t port) {
  common::SocketAddress out;
  EXPECT_TRUE(common::parseSocketAddress("127.0.0.1:" + std::to_string(port), out));
  return out;
}

// A port nothing listens on: bound, never listened to, closed.
uint16_t closedPort() {
  Listener l;
  return l.port();
}

TEST(EndpointProberTest, ReportsEachEndpointFromTheLastRound) {
  Listener up;
  const uint16_t down = closedPort();
  common::RealTimeSource time;
  // A long interval: only the first round and the one setClusters() asks for run.
  EndpointProber prober({{"live", {address(up.port())}}, {"gone", {address(down)}}}, 1h, 1s, time);
  ASSERT_GE(prober.waitForRounds(1, 5s), 1u);
  auto results = prober.results();
  ASSERT_EQ(results["live"].size(), 1u);
  EXPECT_EQ(results["live"][0].reachable, true);
  EXPECT_EQ(results["gone"][0].reachable, false);
  EXPECT_FALSE(results["gone"][0].error.empty());

  // New clusters: an endpoint not probed yet is unknown, then probed.
  Listener added;
  prober.setClusters({{"live", {address(up.port()), address(added.port())}}});
  ASSERT_GE(prober.waitForRounds(2, 5s), 2u);
  results = prober.results();
  EXPECT_EQ(results.count("gone"), 0u);
  ASSERT_EQ(results["live"].size(), 2u);
  EXPECT_EQ(results["live"][1].reachable, true);
}

}  // namespace
}  // namespace switchyard::server
