#include "proxy/upstream/conn_pool_impl.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <cerrno>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "proxy/common/time.h"
#include "proxy/event/dispatcher.h"
#include "proxy/stats/stats.h"
#include "tests/support/fake_transport.h"

namespace switchyard::upstream {
namespace {

using std::chrono::milliseconds;
using test::FakeTransport;

constexpr std::string_view kOk = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";

// A request as the router makes one: asks the pool, attaches to the connection it gets, records
// what it hears, and hands the connection back when the response is complete (reusable if the
// response allows keep-alive).
class FakeRequest final : public PoolCallbacks, public UpstreamStreamCallbacks {
 public:
  explicit FakeRequest(ConnPool& pool) : pool_(pool) {}

  // newStream(), keeping the handle if the request is queued.
  void start(size_t avoid = ConnPool::NoEndpoint) { handle = pool_.newStream(*this, avoid); }
  void sendGet(const std::string& path) {
    http::RequestHeaders h;
    h.method = "GET";
    h.path = path;
    h.headers.add("host", "backend");
    conn->sendHead(h);
  }
  void release(bool reusable) {
    UpstreamConnection* c = conn;
    conn = nullptr;
    pool_.release(*c, reusable);
  }

  // PoolCallbacks
  void onPoolReady(UpstreamConnection& c) override {
    handle = nullptr;
    ++ready;
    conn = &c;
    c.attach(*this);
  }
  void onPoolFailure(PoolFailure reason, const std::string& why, size_t endpoint) override {
    handle = nullptr;
    failure = reason;
    detail = why;
    failed_endpoint = endpoint;
  }

  // UpstreamStreamCallbacks
  void onResponseHeaders(http::ResponseHeadersPtr headers, bool end_stream) override {
    status = headers->status;
    keep_alive = headers->keep_alive;
    if (end_stream) complete();
  }
  void onBody(http::Buffer& data, bool end_stream) override {
    body += data.toString();
    data.drain(data.length());
    if (end_stream) complete();
  }
  void onCodecError(const http::CodecError& error) override {
    codec_error = error.detail;
    if (release_when_done && conn != nullptr) release(false);
  }
  void onUpstreamReset(event::CloseReason r) override {
    conn = nullptr;
    reset = r;
  }
  void onUpstreamAboveWriteBufferHighWatermark() override { ++above_high; }
  void onUpstreamBelowWriteBufferLowWatermark() override { ++below_low; }

  bool waiting() const { return handle != nullptr; }

  PoolHandle* handle = nullptr;
  UpstreamConnection* conn = nullptr;
  int ready = 0;
  std::optional<PoolFailure> failure;
  std::string detail;
  size_t failed_endpoint = NoEndpoint;
  int status = 0;
  bool keep_alive = false;
  bool done = false;
  std::string body;
  std::string codec_error;
  std::optional<event::CloseReason> reset;
  int above_high = 0;
  int below_low = 0;
  // Whether a complete response or a codec error hands the connection back, as in the router.
  bool release_when_done = true;

 private:
  void complete() {
    done = true;
    if (release_when_done && conn != nullptr) release(keep_alive);
  }

  ConnPool& pool_;
};

config::SocketAddress address(const std::string& host, uint16_t port) {
  return {host, port, host + ":" + std::to_string(port)};
}

class ConnPoolTest : public testing::Test {
 protected:
  ConnPoolTest() {
    cluster_.name = "backend";
    cluster_.endpoints = {address("10.0.0.1", 8080)};
    cluster_.connect_timeout = milliseconds(1000);
    cluster_.idle_timeout = milliseconds(60000);
    cluster_.max_connections = 8;
    cluster_.max_pending_requests = 8;
  }

  // Tests adjust cluster_ first.
  ConnPool& pool() {
    if (!pool_) {
      pool_ = std::make_unique<ConnPoolImpl>(dispatcher_, connector_, cluster_, stats_, endpoints_);
    }
    return *pool_;
  }
  // The cluster's endpoints as the cluster manager publishes them (tests that follow DNS or
  // health set it before the pool is made).
  std::shared_ptr<ClusterEndpoints> followList(std::vector<config::SocketAddress> addresses) {
    endpoints_ = std::make_shared<ClusterEndpoints>(cluster_.name,
                                                    staticEndpointList(std::move(addresses), true));
    return endpoints_;
  }
  FakeRequest& newRequest() {
    requests_.push_back(std::make_unique<FakeRequest>(pool()));
    return *requests_.back();
  }
  // A request that gets a new connection and completes its connect.
  FakeRequest& connectedRequest() {
    FakeRequest& r = newRequest();
    r.start();
    connector_.last()->completeConnect();
    EXPECT_NE(r.conn, nullptr);
    return r;
  }
  // A connection that has served one request and is idle in the pool.
  FakeTransport* idleConnection() {
    FakeRequest& r = connectedRequest();
    FakeTransport* t = connector_.last();
    r.sendGet("/warm");
    t->receive(kOk);
    EXPECT_TRUE(r.done);
    return t;
  }
  // Runs the deferred deletions (what the event loop does after each callback).
  void settle() { dispatcher_.runPosted(); }

  double gauge() const { return stats_.connections.Value(); }
  double connectFailures() const { return stats_.connect_failures.Value(); }
  double overflows() const { return stats_.overflow.Value(); }

  test::FakeConnector connector_;  // declared first: the transports it made go before it
  common::SimulatedTimeSource time_;
  event::SimulatedDispatcher dispatcher_{time_};
  prometheus::Registry registry_;
  stats::ProxyStats proxy_stats_{registry_};
  stats::ClusterStats stats_{proxy_stats_, "backend"};
  config::ClusterConfig cluster_;
  std::shared_ptr<ClusterEndpoints> endpoints_;
  std::unique_ptr<ConnPoolImpl> pool_;
  std::vector<std::unique_ptr<FakeRequest>> requests_;
};

TEST_F(ConnPoolTest, RequestGetsANewConnectionAndItsHeadIsWritten) {
  FakeRequest& r = newRequest();
  r.start();
  // Queued until the connection is up.
  EXPECT_TRUE(r.waiting());
  EXPECT_EQ(r.ready, 0);
  EXPECT_EQ(pool().pendingRequests(), 1u);
  EXPECT_EQ(pool().openConnections(), 1u);
  EXPECT_EQ(gauge(), 1);
  ASSERT_EQ(connector_.connectCalls(), std::vector<std::string>{"10.0.0.1:8080"});
  FakeTransport* t = connector_.last();
  ASSERT_NE(t, nullptr);
  EXPECT_TRUE(t->connecting());

  t->completeConnect();
  EXPECT_EQ(r.ready, 1);
  ASSERT_NE(r.conn, nullptr);
  EXPECT_EQ(pool().pendingRequests(), 0u);
  EXPECT_FALSE(r.conn->reused());
  EXPECT_FALSE(r.conn->responseStarted());
  EXPECT_EQ(r.conn->endpointIndex(), 0u);
  EXPECT_EQ(r.conn->endpoint().text, "10.0.0.1:8080");

  r.sendGet("/a");
  EXPECT_EQ(t->written(), "GET /a HTTP/1.1\r\nhost: backend\r\n\r\n");
  http::Buffer body("xyz");
  r.conn->sendData(body);
  EXPECT_TRUE(body.empty());
  EXPECT_EQ(t->written(), "GET /a HTTP/1.1\r\nhost: backend\r\n\r\nxyz");

  t->receive("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhel");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hel");
  EXPECT_TRUE(r.conn->responseStarted());
  t->receive("lo");
  EXPECT_TRUE(r.done);
  EXPECT_EQ(r.body, "hello");
}

TEST_F(ConnPoolTest, ReleasedReusableConnectionIsReused) {
  FakeRequest& first = connectedRequest();
  FakeTransport* t = connector_.last();
  first.sendGet("/1");
  t->receive(kOk);
  EXPECT_TRUE(first.done);
  EXPECT_EQ(first.conn, nullptr);  // released
  EXPECT_EQ(pool().openConnections(), 1u);
  EXPECT_FALSE(t->closed());

  FakeRequest& second = newRequest();
  second.start();
  // An idle connection is handed over at once, with nothing queued.
  EXPECT_FALSE(second.waiting());
  ASSERT_NE(second.conn, nullptr);
  EXPECT_TRUE(second.conn->reused());
  EXPECT_EQ(connector_.created(), 1u);
  t->takeWritten();
  second.sendGet("/2");
  EXPECT_EQ(t->written().rfind("GET /2 HTTP/1.1\r\n", 0), 0u);
  t->receive(kOk);
  EXPECT_TRUE(second.done);
  EXPECT_EQ(second.body, "ok");
  EXPECT_EQ(gauge(), 1);
}

TEST_F(ConnPoolTest, ConnectionReleasedAsNotReusableIsClosed) {
  FakeRequest& r = connectedRequest();
  FakeTransport* t = connector_.last();
  r.release(false);
  EXPECT_TRUE(t->closed());
  EXPECT_EQ(t->closeType(), event::Transport::CloseType::NoFlush);
  EXPECT_EQ(pool().openConnections(), 0u);
  EXPECT_EQ(gauge(), 0);
  // Deleted deferred, not from inside the release.
  EXPECT_EQ(connector_.liveTransports(), 1u);
  settle();
  EXPECT_EQ(connector_.liveTransports(), 0u);

  FakeRequest& next = newRequest();
  next.start();
  EXPECT_TRUE(next.waiting());
  EXPECT_EQ(connector_.created(), 2u);
}

TEST_F(ConnPoolTest, ConnectionWithAnUnfinishedResponseIsClosedEvenIfReleasedAsReusable) {
  FakeRequest& r = connectedRequest();
  FakeTransport* t = connector_.last();
  r.sendGet("/a");
  t->receive("HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc");
  r.release(true);
  EXPECT_TRUE(t->closed());
  EXPECT_EQ(pool().openConnections(), 0u);
}

TEST_F(ConnPoolTest, ResponseWithConnectionCloseIsNotReused) {
  FakeRequest& r = connectedRequest();
  FakeTransport* t = connector_.last();
  r.sendGet("/a");
  t->receive("HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok");
  EXPECT_TRUE(r.done);
  EXPECT_FALSE(r.keep_alive);
  EXPECT_TRUE(t->closed());
  EXPECT_EQ(pool().openConnections(), 0u);
}

TEST_F(ConnPoolTest, AtMaxConnectionsRequestsQueueAndTakeTheNextFreeConnection) {
  cluster_.max_connections = 1;
  FakeRequest& a = connectedRequest();
  FakeTransport* t = connector_.last();
  FakeRequest& b = newRequest();
  b.start();
  EXPECT_TRUE(b.waiting());
  EXPECT_EQ(pool().pendingRequests(), 1u);
  EXPECT_EQ(connector_.created(), 1u);  // no second connection beyond the limit

  a.sendGet("/a");
  t->receive(kOk);
  // a's release hands the connection straight to b.
  EXPECT_TRUE(a.done);
  EXPECT_EQ(b.ready, 1);
  ASSERT_NE(b.conn, nullptr);
  EXPECT_TRUE(b.conn->reused());
  EXPECT_EQ(pool().pendingRequests(), 0u);
  EXPECT_EQ(connector_.created(), 1u);
}

TEST_F(ConnPoolTest, AtMaxConnectionsAConnectionThatClosesIsReplacedForTheQueue) {
  // A request queued at the limit counts on a busy connection coming free; when that one closes
  // instead (not reusable, max_requests_per_connection, closed by the server), its room goes to
  // a new connection for the queue.
  cluster_.max_connections = 1;
  FakeRequest& a = connectedRequest();
  FakeRequest& b = newRequest();
  b.start();
  FakeRequest& c = newRequest();
  c.start();
  EXPECT_EQ(connector_.created(), 1u);
  a.release(false);
  EXPECT_EQ(connector_.created(), 2u);
  EXPECT_EQ(pool().openConnections(), 1u);  // never more than max_connections
  connector_.last()->completeConnect();
  // The queue is first come, first served.
  EXPECT_EQ(b.ready, 1);
  EXPECT_TRUE(c.waiting());
  // The server closes b's connection mid-request: c gets the next one.
  connector_.last()->remoteClose();
  EXPECT_EQ(connector_.created(), 3u);
  connector_.last()->completeConnect();
  EXPECT_EQ(c.ready, 1);
}

TEST_F(ConnPoolTest, AReplacementThatCannotBeOpenedFailsTheRequestWaitingForIt) {
  cluster_.max_connections = 1;
  FakeRequest& a = connectedRequest();
  FakeRequest& b = newRequest();
  b.start();
  connector_.failNextConnect("Network is unreachable");
  a.release(false);
  EXPECT_EQ(b.failure, PoolFailure::ConnectFailed);
  EXPECT_NE(b.detail.find("Network is unreachable"), std::string::npos) << b.detail;
  EXPECT_EQ(pool().pendingRequests(), 0u);
}

TEST_F(ConnPoolTest, RequestsBeyondMaxPendingOverflow) {
  cluster_.max_connections = 1;
  cluster_.max_pending_requests = 1;
  FakeRequest& a = newRequest();
  a.start();
  EXPECT_TRUE(a.waiting());
  FakeRequest& b = newRequest();
  b.start();
  EXPECT_FALSE(b.waiting());
  EXPECT_EQ(b.failure, PoolFailure::Overflow);
  EXPECT_EQ(b.detail, "too many requests are waiting for a connection to backend");
  EXPECT_EQ(overflows(), 1);
  EXPECT_EQ(pool().pendingRequests(), 1u);
  EXPECT_EQ(connector_.created(), 1u);
  EXPECT_STREQ(poolFailureName(*b.failure), "overflow");
}

TEST_F(ConnPoolTest, WithNoRoomToWaitNoConnectionIsOpened) {
  // A request waits in the queue while its connection is opened, so max_pending_requests 0
  // leaves only idle connections to serve requests, and there never is one.
  cluster_.max_pending_requests = 0;
  FakeRequest& a = newRequest();
  a.start();
  EXPECT_EQ(a.failure, PoolFailure::Overflow);
  EXPECT_EQ(connector_.created(), 0u);
  EXPECT_EQ(overflows(), 1);
}

TEST_F(ConnPoolTest, ImmediateConnectFailureFailsTheRequest) {
  connector_.failNextConnect("Network is unreachable");
  FakeRequest& a = newRequest();
  a.start();
  EXPECT_FALSE(a.waiting());
  EXPECT_EQ(a.failure, PoolFailure::ConnectFailed);
  EXPECT_EQ(a.detail, "cannot connect to 10.0.0.1:8080: Network is unreachable");
  EXPECT_EQ(a.failed_endpoint, 0u);
  EXPECT_EQ(connectFailures(), 1);
  EXPECT_EQ(gauge(), 0);
  EXPECT_EQ(pool().openConnections(), 0u);
  EXPECT_EQ(pool().pendingRequests(), 0u);
  EXPECT_EQ(dispatcher_.pendingTimers(), 0u);

  // The pool is not left in a state that stops the next request.
  FakeRequest& b = newRequest();
  b.start();
  EXPECT_TRUE(b.waiting());
  EXPECT_EQ(connector_.created(), 1u);
}

TEST_F(ConnPoolTest, AsynchronousConnectFailureFailsOneRequestOthersKeepWaiting) {
  FakeRequest& a = newRequest();
  a.start();
  FakeRequest& b = newRequest();
  b.start();
  ASSERT_EQ(connector_.created(), 2u);  // one connection per waiting request
  FakeTransport* first = connector_.transport(0);
  FakeTransport* second = connector_.transport(1);

  first->failConnect(ECONNREFUSED);
  EXPECT_EQ(a.failure, PoolFailure::ConnectFailed);
  EXPECT_EQ(a.failed_endpoint, 0u);
  EXPECT_EQ(a.detail, "cannot connect to 10.0.0.1:8080: Connection refused");
  EXPECT_TRUE(b.waiting());
  EXPECT_FALSE(b.failure.has_value());
  EXPECT_EQ(connectFailures(), 1);
  EXPECT_EQ(gauge(), 1);
  EXPECT_EQ(pool().pendingRequests(), 1u);
  settle();
  EXPECT_EQ(connector_.transport(0), nullptr);

  second->completeConnect();
  EXPECT_EQ(b.ready, 1);
  EXPECT_EQ(pool().pendingRequests(), 0u);
}

TEST_F(ConnPoolTest, ConnectFailureWhileAnotherConnectionIsOnItsWayFailsNobodyElse) {
  // Two connections on their way for one waiting request (the second for a request that was
  // cancelled): the first failing leaves the request to the second.
  FakeRequest& a = newRequest();
  a.start();
  FakeRequest& b = newRequest();
  b.start();
  b.handle->cancel();
  ASSERT_EQ(connector_.created(), 2u);
  connector_.transport(0)->failConnect(ECONNREFUSED);
  EXPECT_TRUE(a.waiting());
  EXPECT_FALSE(a.failure.has_value());
  connector_.transport(1)->completeConnect();
  EXPECT_EQ(a.ready, 1);
}

TEST_F(ConnPoolTest, ConnectTimeoutFailsTheRequest) {
  FakeRequest& a = newRequest();
  a.start();
  FakeTransport* t = connector_.last();
  dispatcher_.advance(milliseconds(999));
  EXPECT_TRUE(a.waiting());
  EXPECT_FALSE(t->closed());
  dispatcher_.advance(milliseconds(1));
  EXPECT_EQ(a.failure, PoolFailure::ConnectTimeout);
  EXPECT_EQ(a.detail, "timed out connecting to 10.0.0.1:8080");
  EXPECT_EQ(connectFailures(), 1);
  EXPECT_EQ(gauge(), 0);
  EXPECT_EQ(pool().openConnections(), 0u);
  EXPECT_EQ(connector_.liveTransports(), 0u);  // closed, and deleted once the timer returned
}

TEST_F(ConnPoolTest, ConnectedConnectionDoesNotTimeOut) {
  FakeRequest& a = connectedRequest();
  dispatcher_.advance(milliseconds(5000));
  EXPECT_FALSE(a.failure.has_value());
  EXPECT_NE(a.conn, nullptr);
  EXPECT_EQ(pool().openConnections(), 1u);
}

TEST_F(ConnPoolTest, IdleTimeoutClosesAnIdleConnection) {
  FakeTransport* t = idleConnection();
  dispatcher_.advance(milliseconds(59999));
  EXPECT_FALSE(t->closed());
  dispatcher_.advance(milliseconds(1));
  EXPECT_EQ(connector_.transport(0), nullptr);
  EXPECT_EQ(pool().openConnections(), 0u);
  EXPECT_EQ(gauge(), 0);
}

TEST_F(ConnPoolTest, IdleTimeoutRestartsEachTimeTheConnectionGoesIdle) {
  FakeTransport* t = idleConnection();
  dispatcher_.advance(milliseconds(40000));
  FakeRequest& r = newRequest();
  r.start();
  ASSERT_NE(r.conn, nullptr);
  // Busy: no idle timeout.
  dispatcher_.advance(milliseconds(40000));
  EXPECT_FALSE(t->closed());
  r.sendGet("/b");
  t->receive(kOk);
  dispatcher_.advance(milliseconds(59999));
  EXPECT_FALSE(t->closed());
  dispatcher_.advance(milliseconds(1));
  EXPECT_EQ(connector_.transport(0), nullptr);
}

TEST_F(ConnPoolTest, NewConnectionsGoRoundRobinOverTheEndpoints) {
  cluster_.endpoints = {address("10.0.0.1", 8080), address("10.0.0.2", 8080)};
  for (int i = 0; i < 4; ++i) newRequest().start();
  EXPECT_EQ(connector_.connectCalls(),
            (std::vector<std::string>{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.1:8080",
                                      "10.0.0.2:8080"}));
}

TEST_F(ConnPoolTest, IdleConnectionsArePickedRoundRobinToo) {
  cluster_.endpoints = {address("10.0.0.1", 8080), address("10.0.0.2", 8080)};
  FakeTransport* to_first = idleConnection();
  FakeTransport* to_second = idleConnection();
  ASSERT_EQ(to_first->host(), "10.0.0.1");
  ASSERT_EQ(to_second->host(), "10.0.0.2");

  FakeRequest& a = newRequest();
  a.start();
  ASSERT_NE(a.conn, nullptr);
  EXPECT_EQ(a.conn->endpointIndex(), 0u);
  FakeRequest& b = newRequest();
  b.start();
  ASSERT_NE(b.conn, nullptr);
  EXPECT_EQ(b.conn->endpointIndex(), 1u);
  EXPECT_EQ(connector_.created(), 2u);
}

TEST_F(ConnPoolTest, RetryAvoidsTheEndpointThatFailed) {
  cluster_.endpoints = {address("10.0.0.1", 8080), address("10.0.0.2", 8080)};
  // Round robin is at endpoint 0: avoiding it takes endpoint 1.
  newRequest().start(/*avoid=*/0);
  // Round robin has moved past 1 to 0: avoiding 1 changes nothing.
  newRequest().start(/*avoid=*/1);
  EXPECT_EQ(connector_.connectCalls(),
            (std::vector<std::string>{"10.0.0.2:8080", "10.0.0.1:8080"}));
}

TEST_F(ConnPoolTest, EndpointsOutOfLoadBalancingAreSkipped) {
  auto endpoints =
      followList({address("10.0.0.1", 8080), address("10.0.0.2", 8080), address("10.0.0.3", 8080)});
  const EndpointList& list = *endpoints->current();
  list.health->setActiveHealth(1, ActiveHealth::Unhealthy);
  for (int i = 0; i < 4; ++i) newRequest().start();
  EXPECT_EQ(connector_.connectCalls(),
            (std::vector<std::string>{"10.0.0.1:8080", "10.0.0.3:8080", "10.0.0.1:8080",
                                      "10.0.0.3:8080"}));
}

TEST_F(ConnPoolTest, InPanicEveryEndpointIsUsed) {
  auto endpoints = followList({address("10.0.0.1", 8080), address("10.0.0.2", 8080)});
  const EndpointList& list = *endpoints->current();
  list.health->setActiveHealth(0, ActiveHealth::Unhealthy);
  list.health->setActiveHealth(1, ActiveHealth::Unhealthy);
  for (int i = 0; i < 2; ++i) newRequest().start();
  EXPECT_EQ(connector_.connectCalls(),
            (std::vector<std::string>{"10.0.0.1:8080", "10.0.0.2:8080"}));
}

TEST_F(ConnPoolTest, ANewEndpointListRetiresConnectionsToAddressesThatLeft) {
  auto endpoints = followList({address("10.0.0.1", 8080), address("10.0.0.2", 8080)});
  FakeTransport* to_first = idleConnection();
  FakeRequest& busy = connectedRequest();  // to 10.0.0.2, still lent out
  FakeTransport* to_second = connector_.last();
  ASSERT_EQ(to_second->host(), "10.0.0.2");
  // DNS now answers 10.0.0.2 and 10.0.0.3: 10.0.0.1 left.
  endpoints->publish(
      staticEndpointList({address("10.0.0.2", 8080), address("10.0.0.3", 8080)}, true));
  FakeRequest& next = newRequest();
  next.start();
  EXPECT_TRUE(to_first->closed());  // idle, to an address that left: closed at once
  EXPECT_FALSE(to_second->closed());
  EXPECT_EQ(connector_.connectCalls().back(), "10.0.0.2:8080");
  // The busy connection kept its address: it follows it to its new index and is reused.
  EXPECT_EQ(busy.conn->endpointIndex(), 0u);
  busy.sendGet("/a");
  to_second->receive(kOk);
  EXPECT_TRUE(busy.done);
  EXPECT_FALSE(to_second->closed());
}

TEST_F(ConnPoolTest, ABusyConnectionToAnAddressThatLeftClosesWhenReleased) {
  auto endpoints = followList({address("10.0.0.1", 8080)});
  FakeRequest& busy = connectedRequest();
  FakeTransport* t = connector_.last();
  endpoints->publish(staticEndpointList({address("10.0.0.9", 8080)}, true));
  newRequest().start();  // takes the new list
  EXPECT_FALSE(t->closed());
  busy.sendGet("/a");
  t->receive(kOk);
  EXPECT_TRUE(busy.done);
  EXPECT_TRUE(t->closed());
}

TEST_F(ConnPoolTest, AClusterWhoseNamesHaveNotResolvedFailsAtOnce) {
  endpoints_ = std::make_shared<ClusterEndpoints>(cluster_.name, staticEndpointList({}, false));
  FakeRequest& r = newRequest();
  r.start();
  ASSERT_TRUE(r.failure.has_value());
  EXPECT_EQ(*r.failure, PoolFailure::NoEndpoint);
  EXPECT_EQ(r.detail, "the endpoints of cluster backend have not resolved yet");
  EXPECT_EQ(connector_.created(), 0u);
}

TEST_F(ConnPoolTest, AtTheLimitAnIdleConnectionToAHealthyEndpointIsPreferred) {
  cluster_.max_connections = 4;
  auto endpoints = followList({address("10.0.0.1", 8080), address("10.0.0.2", 8080),
                               address("10.0.0.3", 8080), address("10.0.0.4", 8080)});
  idleConnection();                         // to 10.0.0.1
  FakeRequest& busy2 = connectedRequest();  // to 10.0.0.2, lent out
  idleConnection();                         // to 10.0.0.3
  FakeRequest& busy4 = connectedRequest();  // to 10.0.0.4, lent out: the pool is full
  ASSERT_NE(busy2.conn, nullptr);
  ASSERT_NE(busy4.conn, nullptr);
  endpoints->current()->health->setActiveHealth(0, ActiveHealth::Unhealthy);
  // Round robin skips 10.0.0.1 and comes to 10.0.0.2, which has no idle connection: of the
  // idle ones, the one to the healthy 10.0.0.3 is taken.
  FakeRequest& a = newRequest();
  a.start();
  ASSERT_NE(a.conn, nullptr);
  EXPECT_EQ(a.conn->endpoint().host, "10.0.0.3");
  // Only the idle connection to 10.0.0.1 is left: better than queueing at the limit.
  FakeRequest& b = newRequest();
  b.start();
  ASSERT_NE(b.conn, nullptr);
  EXPECT_EQ(b.conn->endpoint().host, "10.0.0.1");
}

TEST_F(ConnPoolTest, AvoidIsIgnoredWithASingleEndpoint) {
  newRequest().start(/*avoid=*/0);
  EXPECT_EQ(connector_.connectCalls(), std::vector<std::string>{"10.0.0.1:8080"});
}

TEST_F(ConnPoolTest, AtTheLimitAnIdleConnectionToAnotherEndpointIsUsed) {
  cluster_.endpoints = {address("10.0.0.1", 8080), address("10.0.0.2", 8080)};
  cluster_.max_connections = 2;
  FakeRequest& a = connectedRequest();  // endpoint 0, kept busy
  FakeRequest& b = connectedRequest();  // endpoint 1
  ASSERT_EQ(b.conn->endpointIndex(), 1u);
  b.sendGet("/b");
  connector_.transport(1)->receive(kOk);
  ASSERT_TRUE(b.done);
  // Round robin is at endpoint 0, which has no idle connection and no room for one.
  FakeRequest& c = newRequest();
  c.start();
  ASSERT_NE(c.conn, nullptr);
  EXPECT_EQ(c.conn->endpointIndex(), 1u);
  EXPECT_EQ(connector_.created(), 2u);
  EXPECT_NE(a.conn, nullptr);
}

TEST_F(ConnPoolTest, AtTheLimitTheAvoidedEndpointsIdleConnectionIsUsedLast) {
  cluster_.endpoints = {address("10.0.0.1", 8080), address("10.0.0.2", 8080)};
  cluster_.max_connections = 2;
  idleConnection();  // endpoint 0
  idleConnection();  // endpoint 1
  FakeRequest& retry = newRequest();
  retry.start(/*avoid=*/0);
  ASSERT_NE(retry.conn, nullptr);
  EXPECT_EQ(retry.conn->endpointIndex(), 1u);
  // Only the avoided endpoint's connection is left, and no room for another: it is used.
  FakeRequest& again = newRequest();
  again.start(/*avoid=*/0);
  ASSERT_NE(again.conn, nullptr);
  EXPECT_EQ(again.conn->endpointIndex(), 0u);
  EXPECT_EQ(connector_.created(), 2u);
}

TEST_F(ConnPoolTest, BytesOnAnIdleConnectionCloseIt) {
  FakeTransport* t = idleConnection();
  t->receive("HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\n\r\n");
  EXPECT_TRUE(t->closed());
  EXPECT_EQ(pool().openConnections(), 0u);
  EXPECT_EQ(gauge(), 0);
  settle();
  EXPECT_EQ(connector_.liveTransports(), 0u);

  FakeRequest& r = newRequest();
  r.start();
  EXPECT_TRUE(r.waiting());  // a new connection, not the dropped one
  EXPECT_EQ(connector_.created(), 2u);
}

TEST_F(ConnPoolTest, IdleConnectionClosedByTheServerIsDropped) {
  FakeTransport* t = idleConnection();
  t->remoteClose();
  EXPECT_EQ(pool().openConnections(), 0u);
  EXPECT_EQ(gauge(), 0);
  FakeRequest& r = newRequest();
  r.start();
  EXPECT_TRUE(r.waiting());
}

TEST_F(ConnPoolTest, ConnectionClosedWhileBusyResetsTheStream) {
  FakeRequest& r = connectedRequest();
  FakeTransport* t = connector_.last();
  r.sendGet("/a");
  t->remoteClose(event::CloseReason::Reset);
  EXPECT_EQ(r.reset, event::CloseReason::Reset);
  EXPECT_EQ(r.conn, nullptr);
  EXPECT_EQ(pool().openConnections(), 0u);
  EXPECT_EQ(gauge(), 0);
  settle();
  EXPECT_EQ(connector_.liveTransports(), 0u);
}

TEST_F(ConnPoolTest, ServerClosingMidResponseReportsATruncatedResponse) {
  FakeRequest& r = connectedRequest();
  FakeTransport* t = connector_.last();
  r.sendGet("/a");
  t->receive("HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc");
  t->remoteClose();
  EXPECT_EQ(r.codec_error, "upstream closed the connection before the response ended");
  // Released from the codec error: no reset on top of it.
  EXPECT_FALSE(r.reset.has_value());
  EXPECT_EQ(pool().openConnections(), 0u);
  EXPECT_EQ(gauge(), 0);
}

TEST_F(ConnPoolTest, ServerClosingMidResponseResetsAStreamThatHoldsOn) {
  FakeRequest& r = connectedRequest();
  r.release_when_done = false;
  FakeTransport* t = connector_.last();
  r.sendGet("/a");
  t->receive("HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc");
  t->remoteClose();
  EXPECT_FALSE(r.codec_error.empty());
  EXPECT_EQ(r.reset, event::CloseReason::RemoteClose);
  EXPECT_EQ(gauge(), 0);
}

TEST_F(ConnPoolTest, ServerClosingEndsACloseDelimitedResponse) {
  FakeRequest& r = connectedRequest();
  FakeTransport* t = connector_.last();
  r.sendGet("/a");
  t->receive("HTTP/1.1 200 OK\r\n\r\nuntil the end");
  EXPECT_FALSE(r.done);
  t->remoteClose();
  EXPECT_TRUE(r.done);
  EXPECT_EQ(r.body, "until the end");
  EXPECT_FALSE(r.reset.has_value());  // released when complete: nothing left to reset
  EXPECT_EQ(pool().openConnections(), 0u);
}

TEST_F(ConnPoolTest, FailedWriteResetsTheStreamFromInsideTheWrite) {
  FakeRequest& r = connectedRequest();
  FakeTransport* t = connector_.last();
  t->failNextSend();
  r.sendGet("/a");
  EXPECT_EQ(r.reset, event::CloseReason::Reset);
  EXPECT_EQ(pool().openConnections(), 0u);
}

TEST_F(ConnPoolTest, CancelledRequestIsNotCalledAndItsConnectionGoesIdle) {
  FakeRequest& a = newRequest();
  a.start();
  ASSERT_TRUE(a.waiting());
  a.handle->cancel();
  EXPECT_EQ(pool().pendingRequests(), 0u);
  FakeTransport* t = connector_.last();
  t->completeConnect();
  EXPECT_EQ(a.ready, 0);
  EXPECT_FALSE(a.failure.has_value());
  EXPECT_EQ(pool().openConnections(), 1u);

  FakeRequest& b = newRequest();
  b.start();
  ASSERT_NE(b.conn, nullptr);
  EXPECT_FALSE(b.conn->reused());  // its first request
  EXPECT_EQ(connector_.created(), 1u);
}

TEST_F(ConnPoolTest, CancelledRequestIsNotFailedByAConnectTimeout) {
  FakeRequest& a = newRequest();
  a.start();
  a.handle->cancel();
  dispatcher_.advance(milliseconds(1000));
  EXPECT_FALSE(a.failure.has_value());
  EXPECT_EQ(connectFailures(), 1);
  EXPECT_EQ(pool().openConnections(), 0u);
}

TEST_F(ConnPoolTest, CloseIdleClosesOnlyIdleConnections) {
  cluster_.endpoints = {address("10.0.0.1", 8080), address("10.0.0.2", 8080)};
  FakeTransport* idle0 = idleConnection();
  FakeTransport* idle1 = idleConnection();
  FakeRequest& busy = newRequest();
  busy.start();
  ASSERT_NE(busy.conn, nullptr);  // takes idle0 (round robin at endpoint 0)
  // Endpoint 1 has an idle connection: avoiding it opens one to endpoint 0.
  FakeRequest& connecting = newRequest();
  connecting.start(/*avoid=*/1);
  ASSERT_TRUE(connecting.waiting());
  EXPECT_EQ(pool().openConnections(), 3u);

  pool().closeIdle();
  EXPECT_FALSE(idle0->closed());
  EXPECT_TRUE(idle1->closed());
  EXPECT_EQ(pool().openConnections(), 2u);
  EXPECT_EQ(gauge(), 2);
  EXPECT_TRUE(connecting.waiting());
  EXPECT_FALSE(busy.reset.has_value());
}

TEST_F(ConnPoolTest, ConnectionIsClosedAfterMaxRequestsPerConnection) {
  cluster_.max_requests_per_connection = 2;
  FakeTransport* t = idleConnection();  // request 1
  FakeRequest& second = newRequest();
  second.start();
  ASSERT_NE(second.conn, nullptr);
  EXPECT_EQ(connector_.created(), 1u);
  second.sendGet("/2");
  t->receive(kOk);
  EXPECT_TRUE(second.done);
  EXPECT_TRUE(t->closed());
  EXPECT_EQ(pool().openConnections(), 0u);

  FakeRequest& third = newRequest();
  third.start();
  EXPECT_TRUE(third.waiting());
  EXPECT_EQ(connector_.created(), 2u);
}

TEST_F(ConnPoolTest, ReadDisableAndWatermarksPassThrough) {
  FakeRequest& r = connectedRequest();
  FakeTransport* t = connector_.last();
  r.conn->readDisable(true);
  r.conn->readDisable(true);
  EXPECT_FALSE(t->readEnabled());
  r.conn->readDisable(false);
  EXPECT_FALSE(t->readEnabled());
  r.conn->readDisable(false);
  EXPECT_TRUE(t->readEnabled());

  t->setWriteBlocked(true);
  http::Buffer big(std::string(t->highWatermark() + 1, 'x'));
  r.conn->sendData(big);
  EXPECT_EQ(r.above_high, 1);
  t->setWriteBlocked(false);
  EXPECT_EQ(r.below_low, 1);
}

TEST_F(ConnPoolTest, DestroyingThePoolClosesEveryConnectionSilently) {
  cluster_.endpoints = {address("10.0.0.1", 8080), address("10.0.0.2", 8080)};
  idleConnection();                        // endpoint 0, idle
  FakeRequest& busy = connectedRequest();  // endpoint 1
  ASSERT_EQ(busy.conn->endpointIndex(), 1u);
  // Round robin is back at endpoint 0, whose idle connection this request avoids.
  FakeRequest& connecting = newRequest();
  connecting.start(/*avoid=*/0);
  ASSERT_TRUE(connecting.waiting());
  ASSERT_EQ(pool().openConnections(), 3u);
  EXPECT_EQ(gauge(), 3);
  EXPECT_EQ(connector_.openTransports(), 3u);

  pool_.reset();
  EXPECT_EQ(gauge(), 0);
  EXPECT_EQ(connector_.liveTransports(), 0u);  // the pool owned them
  EXPECT_FALSE(busy.reset.has_value());
  EXPECT_FALSE(connecting.failure.has_value());
  // Their timers went with them.
  EXPECT_EQ(dispatcher_.pendingTimers(), 0u);
}

TEST_F(ConnPoolTest, DestroyingThePoolLeavesConnectionsAlreadyClosedToTheDispatcher) {
  FakeRequest& r = connectedRequest();
  r.release(false);
  pool_.reset();
  EXPECT_EQ(connector_.liveTransports(), 1u);
  settle();
  EXPECT_EQ(connector_.liveTransports(), 0u);
}

}  // namespace
}  // namespace switchyard::upstream
