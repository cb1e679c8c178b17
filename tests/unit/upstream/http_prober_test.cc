#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "proxy/common/random.h"
#include "proxy/common/time.h"
#include "proxy/event/connection.h"
#include "proxy/event/dispatcher.h"
#include "proxy/upstream/health_checker.h"
#include "tests/support/fake_transport.h"
#include "tests/support/http_sink.h"
#include "tests/support/run_loop.h"

namespace switchyard::upstream {
namespace {

using namespace std::chrono_literals;
using Kind = ProbeResponse::Kind;

common::SocketAddress address(const std::string& text) {
  common::SocketAddress out;
  EXPECT_TRUE(common::parseSocketAddress(text, out)) << text;
  return out;
}

ProbeRequest request(const std::string& to, std::chrono::milliseconds timeout = 1s) {
  ProbeRequest r;
  r.address = address(to);
  r.host = "api.internal";
  r.path = "/health";
  r.timeout = timeout;
  return r;
}

// ---- against fake transports, on simulated time ----

class HealthHttpProberTest : public testing::Test {
 protected:
  // Starts a probe whose answer lands in `response_`.
  ProbeId start(std::chrono::milliseconds timeout = 1s) {
    return prober_->probe(request("127.0.0.1:9001", timeout), [this](const ProbeResponse& r) {
      ++answers_;
      response_ = r;
    });
  }

  common::SimulatedTimeSource time_;
  event::SimulatedDispatcher dispatcher_{time_};
  test::FakeConnector connector_;
  std::unique_ptr<HttpProber> prober_ = std::make_unique<HttpProber>(dispatcher_, connector_);
  std::optional<ProbeResponse> response_;
  int answers_ = 0;
};

TEST_F(HealthHttpProberTest, SendsAGetAndReadsTheStatusFromTheHead) {
  start();
  test::FakeTransport* t = connector_.last();
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(connector_.connectCalls(), std::vector<std::string>{"127.0.0.1:9001"});
  t->completeConnect();
  EXPECT_EQ(t->written(),
            "GET /health HTTP/1.1\r\nhost: api.internal\r\nuser-agent: Switchyard-HealthCheck/1\r\n"
            "connection: close\r\n\r\n");
  // The head is enough: the body is not waited for.
  t->receive("HTTP/1.1 503 Service Unavailable\r\ncontent-length: 1000\r\n\r\npartial");
  ASSERT_EQ(answers_, 1);
  EXPECT_EQ(response_->kind, Kind::Responded);
  EXPECT_EQ(response_->status, 503);
  EXPECT_EQ(response_->detail, "status 503");
  EXPECT_EQ(t->closeType(), event::Transport::CloseType::NoFlush);
  EXPECT_EQ(prober_->inFlight(), 0u);
  dispatcher_.runPosted();  // the finished probe is deleted, with its transport
  EXPECT_EQ(connector_.liveTransports(), 0u);
}

TEST_F(HealthHttpProberTest, AHeadSplitAcrossReads) {
  start();
  test::FakeTransport* t = connector_.last();
  t->completeConnect();
  t->receive("HTTP/1.1 20");
  EXPECT_EQ(answers_, 0);
  t->receive("0 OK\r\ncontent-length: 0\r\n\r\n");
  ASSERT_EQ(answers_, 1);
  EXPECT_EQ(response_->status, 200);
}

TEST_F(HealthHttpProberTest, ARefusedConnectIsReportedFromTheLoopNotFromProbe) {
  connector_.failNextConnect("Connection refused");
  start();
  EXPECT_EQ(answers_, 0);
  dispatcher_.advance(0ms);
  ASSERT_EQ(answers_, 1);
  EXPECT_EQ(response_->kind, Kind::ConnectFailed);
  EXPECT_EQ(response_->detail, "connect failed: Connection refused");
  EXPECT_EQ(prober_->inFlight(), 0u);
}

TEST_F(HealthHttpProberTest, AConnectThatFailsLater) {
  start();
  connector_.last()->failConnect(ECONNREFUSED);
  ASSERT_EQ(answers_, 1);
  EXPECT_EQ(response_->kind, Kind::ConnectFailed);
  EXPECT_EQ(response_->detail, "connect failed: Connection refused");
}

TEST_F(HealthHttpProberTest, TimesOutWithoutAResponse) {
  start(250ms);
  test::FakeTransport* t = connector_.last();
  t->completeConnect();
  dispatcher_.advance(249ms);
  EXPECT_EQ(answers_, 0);
  dispatcher_.advance(1ms);
  ASSERT_EQ(answers_, 1);
  EXPECT_EQ(response_->kind, Kind::TimedOut);
  EXPECT_EQ(response_->detail, "no response within 250ms");
  // The timeout covers the connect too.
  start(250ms);
  dispatcher_.advance(250ms);
  EXPECT_EQ(answers_, 2);
  EXPECT_EQ(response_->kind, Kind::TimedOut);
}

TEST_F(HealthHttpProberTest, ClosedOrResetBeforeAResponse) {
  start();
  connector_.last()->completeConnect();
  connector_.last()->remoteClose(event::CloseReason::RemoteClose);
  ASSERT_EQ(answers_, 1);
  EXPECT_EQ(response_->kind, Kind::ConnectFailed);
  EXPECT_EQ(response_->detail, "connection closed before a response");
  start();
  connector_.last()->completeConnect();
  connector_.last()->remoteClose(event::CloseReason::Reset);
  ASSERT_EQ(answers_, 2);
  EXPECT_EQ(response_->kind, Kind::ConnectFailed);
  EXPECT_EQ(response_->detail, "connection reset before a response");
}

TEST_F(HealthHttpProberTest, AnAnswerThatIsNotHttpIsABadStatus) {
  start();
  connector_.last()->completeConnect();
  connector_.last()->receive("SSH-2.0-OpenSSH_9.2\r\n");
  ASSERT_EQ(answers_, 1);
  EXPECT_EQ(response_->kind, Kind::Responded);
  EXPECT_EQ(response_->status, 0);
  EXPECT_EQ(classifyProbe(*response_, HealthCheckConfig{}), ProbeResult::FailureStatus);
  // A head cut short by the peer closing.
  start();
  connector_.last()->completeConnect();
  connector_.last()->receive("HTTP/1.1 200 OK\r\ncontent-");
  connector_.last()->remoteClose(event::CloseReason::RemoteClose);
  ASSERT_EQ(answers_, 2);
  EXPECT_EQ(response_->kind, Kind::Responded);
  EXPECT_EQ(response_->status, 0);
}

TEST_F(HealthHttpProberTest, CancelledProbesAreAbandonedSilently) {
  const ProbeId id = start();
  test::FakeTransport* t = connector_.last();
  t->completeConnect();
  prober_->cancel(id);
  EXPECT_EQ(t->closeType(), event::Transport::CloseType::NoFlush);
  prober_->cancel(id);  // twice is harmless
  dispatcher_.advance(5s);
  EXPECT_EQ(answers_, 0);
  EXPECT_EQ(prober_->inFlight(), 0u);

  // Destroying the prober abandons what is in flight the same way.
  start();
  start();
  EXPECT_EQ(prober_->inFlight(), 2u);
  prober_.reset();
  dispatcher_.advance(5s);
  dispatcher_.runPosted();  // deletes the probe cancelled first
  EXPECT_EQ(answers_, 0);
  EXPECT_EQ(connector_.liveTransports(), 0u);
}

// ---- against real sockets on 127.0.0.1 ----

// A loopback port nothing listens on: bound, never listened to, closed.
uint16_t closedPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  ::close(fd);
  return ntohs(a.sin_port);
}

class HealthHttpProberLoopbackTest : public testing::Test {
 protected:
  // Probes `port` and runs the loop until the answer, at most 5s.
  ProbeResponse probe(uint16_t port, std::chrono::milliseconds timeout = 2s) {
    std::optional<ProbeResponse> out;
    prober_.probe(request("127.0.0.1:" + std::to_string(port), timeout),
                  [&out](const ProbeResponse& r) { out = r; });
    EXPECT_TRUE(test::runLoopUntil(
        dispatcher_, [&] { return out.has_value(); }, 5s));
    return out.value_or(ProbeResponse{Kind::TimedOut, 0, "the test's own bound"});
  }

  common::RealTimeSource time_;
  event::LibeventDispatcher dispatcher_{time_};
  event::LibeventConnector connector_{dispatcher_.base()};
  HttpProber prober_{dispatcher_, connector_};
  test::HttpSink sink_;
};

TEST_F(HealthHttpProberLoopbackTest, A200IsASuccessWithTheHeadersAsSent) {
  sink_.setStatus(200);
  const ProbeResponse r = probe(sink_.port());
  EXPECT_EQ(r.kind, Kind::Responded);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(classifyProbe(r, HealthCheckConfig{}), ProbeResult::Success);
  const auto requests = sink_.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "GET");
  EXPECT_EQ(requests[0].path, "/health");
  EXPECT_EQ(requests[0].headers.at("host"), "api.internal");
  EXPECT_EQ(requests[0].headers.at("user-agent"), "Switchyard-HealthCheck/1");
  EXPECT_EQ(requests[0].headers.at("connection"), "close");
}

TEST_F(HealthHttpProberLoopbackTest, A503IsAFailedStatus) {
  sink_.setStatus(503);
  const ProbeResponse r = probe(sink_.port());
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(classifyProbe(r, HealthCheckConfig{}), ProbeResult::FailureStatus);
}

TEST_F(HealthHttpProberLoopbackTest, AClosedPortIsAConnectFailure) {
  const ProbeResponse r = probe(closedPort());
  EXPECT_EQ(r.kind, Kind::ConnectFailed);
  EXPECT_EQ(classifyProbe(r, HealthCheckConfig{}), ProbeResult::FailureConnect);
  EXPECT_NE(r.detail.find("refused"), std::string::npos) << r.detail;
}

TEST_F(HealthHttpProberLoopbackTest, AServerThatNeverAnswersTimesOutWithinTheTimeout) {
  sink_.setHang(true);
  const auto begin = std::chrono::steady_clock::now();
  const ProbeResponse r = probe(sink_.port(), 300ms);
  const auto took = std::chrono::steady_clock::now() - begin;
  EXPECT_EQ(r.kind, Kind::TimedOut);
  EXPECT_EQ(classifyProbe(r, HealthCheckConfig{}), ProbeResult::Timeout);
  EXPECT_GE(took, 300ms);
  // Generous for sanitizer builds on a busy machine; the loop's own bound is 5s.
  EXPECT_LT(took, 2s);
  EXPECT_EQ(sink_.requestCount(), 1u);
}

TEST_F(HealthHttpProberLoopbackTest, TheCheckerTakesAFailingEndpointOutAndBack) {
  HealthCheckConfig config;
  config.interval = 200ms;
  config.timeout = 150ms;
  config.jitter = 0;
  common::SeededRandom random(5);
  auto health = std::make_shared<EndpointHealth>(1);
  std::vector<HealthTransition> transitions;
  HealthChecker::Callbacks callbacks;
  callbacks.on_transition = [&](const HealthTransition& t) { transitions.push_back(t); };
  sink_.setStatus(503);
  HealthChecker checker(dispatcher_, random, prober_, config,
                        {{address("127.0.0.1:" + std::to_string(sink_.port())), ""}}, health,
                        callbacks);
  ASSERT_TRUE(test::runLoopUntil(
      dispatcher_, [&] { return !transitions.empty(); }, 5s));
  EXPECT_EQ(transitions[0].to, ActiveHealth::Unhealthy);
  EXPECT_EQ(checker.count(ProbeResult::FailureStatus), 3u);
  EXPECT_TRUE(health->allActiveUnhealthy());
  EXPECT_EQ(sink_.requests().at(0).headers.at("host"), "127.0.0.1:" + std::to_string(sink_.port()));

  sink_.setStatus(200);
  ASSERT_TRUE(test::runLoopUntil(
      dispatcher_, [&] { return transitions.size() == 2; }, 5s));
  EXPECT_EQ(transitions[1].to, ActiveHealth::Healthy);
  EXPECT_EQ(checker.count(ProbeResult::Success), 2u);
  EXPECT_TRUE(health->usable(0, time_.monotonicNow()));
}

}  // namespace
}  // namespace switchyard::upstream
