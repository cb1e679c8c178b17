#include "proxy/router/router.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.h"
#include "filters/circuit_breaker/circuit_breaker.h"
#include "filters/circuit_breaker/circuit_breaker_filter.h"
#include "filters/circuit_breaker/config.h"
#include "filters/registry.h"
#include "filters/retry/config.h"
#include "filters/retry/retry_filter.h"
#include "filters/retry/retry_policy.h"
#include "proxy/common/logging.h"
#include "proxy/common/random.h"
#include "proxy/http/filter.h"
#include "proxy/http/headers.h"
#include "proxy/http/stream_info.h"
#include "proxy/router/route_table.h"
#include "proxy/router/upstream_policy.h"
#include "proxy/upstream/conn_pool.h"
#include "proxy/upstream/runtime_state.h"
#include "tests/support/activation.h"
#include "tests/support/fake_filter_callbacks.h"
#include "tests/support/fake_pool.h"
#include "tests/support/quiet_logs.h"

namespace switchyard::router {
namespace {

using namespace std::chrono_literals;
using filters::circuit_breaker::BreakerState;
using filters::circuit_breaker::CircuitBreakerConfig;
using filters::circuit_breaker::CircuitBreakerFilterFactory;
using filters::circuit_breaker::ClusterAdmission;
using filters::retry::RetryConfig;
using filters::retry::RetryFilterFactory;
using std::chrono::milliseconds;
using test::FakePool;
using test::FakeUpstreamConnection;
using upstream::PoolFailure;
using PoolRequestState = FakePool::StreamRequest::State;

constexpr size_t NoEndpoint = upstream::ConnPool::NoEndpoint;
// The stream's random source: the router draws retry backoffs from it and from nothing else, so a
// test can draw the same waits from a generator with the same seed.
constexpr uint64_t Seed = 42;

config::SocketAddress address(const std::string& host, uint16_t port) {
  return {host, port, host + ":" + std::to_string(port)};
}

// The value of `name` in `headers`, or "" when absent.
std::string header(const http::HeaderMap& headers, std::string_view name) {
  const std::string_view* value = headers.get(name);
  return value == nullptr ? "" : std::string(*value);
}

using test::QuietLogs;

// Records what the router tells the stream about its attempts, one line per call.
class RecordingObserver final : public http::AttemptObserver {
 public:
  void onAttemptStart(http::RequestHeaders&, std::string_view cluster,
                      std::string_view endpoint) override {
    events.push_back("start " + std::string(cluster) + " " +
                     (endpoint.empty() ? std::string("(no endpoint)") : std::string(endpoint)));
  }
  void onAttemptEnd(int status, std::string_view error) override {
    events.push_back("end " + std::to_string(status) +
                     (error.empty() ? std::string() : ": " + std::string(error)));
  }

  std::vector<std::string> events;
};

// An AdmissionControl that admits everything unless told otherwise and records, in order, what
// the router takes, gives back and reports. 5xx statuses are failures.
class RecordingAdmission final : public AdmissionControl {
 public:
  bool tryStartRequest() override {
    events.emplace_back(request_allowed ? "start request" : "request refused");
    return request_allowed;
  }
  void endRequest() override { events.emplace_back("end request"); }
  bool tryStartRetry() override {
    events.emplace_back(retry_allowed ? "start retry" : "retry refused");
    return retry_allowed;
  }
  void endRetry() override { events.emplace_back("end retry"); }
  uint32_t maxConcurrentRequests() const override { return 0; }
  Admission admit(common::MonotonicTime) override {
    events.emplace_back(next.probe() ? "admit probe" : "admit");
    return next;
  }
  void onResult(common::MonotonicTime, bool success, bool was_probe) override {
    events.push_back(std::string(success ? "success" : "failure") + (was_probe ? " (probe)" : ""));
  }
  void onCancelled(bool was_probe) override {
    events.push_back(std::string("cancelled") + (was_probe ? " (probe)" : ""));
  }
  bool isFailureStatus(int status) const override { return status >= 500; }

  Admission next;
  bool request_allowed = true;
  bool retry_allowed = true;
  std::vector<std::string> events;
};

// One request through a router::Router: the stream is a FakeFilterCallbacks (simulated time,
// seeded randomness), the cluster a FakePool with two endpoints, and the policies the real
// retry and circuit_breaker ones (or a RecordingAdmission) when a test asks for them.
class RouterTest : public testing::Test {
 protected:
  RouterTest() {
    cluster_.name = "legacy";
    cluster_.endpoints = {address("10.0.0.1", 8080), address("10.0.0.2", 8080)};
    cluster_.response_timeout = 15s;
    route_.name = "api";
    route_.prefix = "/api";
    route_.timeout = 0ms;
    route_.upstream_header = "x-upstream-cluster";
    route_.unknown_stats = nullptr;
    callbacks_.streamInfo().downstream_address = "192.0.2.7";
  }

  // The stream ends, if the test has not ended it: nothing may be left waiting for a connection
  // or holding one.
  void TearDown() override {
    finish();
    if (pool_) pool_->expectQuiescent();
  }

  // Tests adjust cluster_ before the first use.
  FakePool& pool() {
    if (!pool_) pool_ = std::make_unique<FakePool>(cluster_, callbacks_.simulatedDispatcher());
    return *pool_;
  }

  // The request head the stream received.
  http::RequestHeaders& request(const std::string& method = "GET",
                                const std::string& path = "/api/items") {
    http::RequestHeaders& h = callbacks_.requestHeaders();
    h.method = method;
    h.path = path;
    return h;
  }

  // Routes the request to pool() with policy_ and hands it to a new router.
  void start(bool end_stream = true) {
    Target target;
    target.config = &target_config_;
    target.version = version_;
    target.pools = {&pool()};
    target.policies = {&policy_};
    target.deprecation = nullptr;
    target.stats = nullptr;
    route_.targets = {std::move(target)};
    decision_.route = &route_;
    decision_.target = &route_.targets[0];
    decision_.pool = &pool();
    decision_.policy = &policy_;
    run(end_stream);
  }

  // Hands the request to a new router with decision_ as it is.
  void run(bool end_stream) {
    router_ = std::make_unique<Router>(ctx_, decision_);
    callbacks_.attach(*router_);
    EXPECT_EQ(router_->decodeHeaders(callbacks_.requestHeaders(), end_stream),
              http::FilterHeadersStatus::StopIteration);
  }

  // The client sends body bytes.
  void sendBody(std::string_view data, bool end_stream) {
    http::Buffer buffer(data);
    EXPECT_EQ(router_->decodeData(buffer, end_stream), http::FilterDataStatus::Continue);
    EXPECT_TRUE(buffer.empty());
  }

  // The stream ends (the response is complete, or the client went away).
  void finish() {
    if (!router_) return;
    router_->onDestroy();
    router_.reset();
  }

  // The retry filter's policy for the route, from `config`, as the server activates it.
  void useRetry(const RetryConfig& config) {
    retry_factory_ = std::make_unique<RetryFilterFactory>(config, nullptr);
    test::activate(*retry_factory_, test::clustersConfig({"legacy"}), state_);
    retry_factory_->contributePolicy({"api", "", "legacy", nullptr}, policy_);
    ASSERT_NE(policy_.retry, nullptr);
  }

  // The circuit_breaker filter's admission control for the cluster, from `config`; its breaker
  // reads the stream's simulated clock.
  ClusterAdmission& useBreaker(const CircuitBreakerConfig& config) {
    breaker_factory_ =
        std::make_unique<CircuitBreakerFilterFactory>(config, nullptr, callbacks_.timeSource());
    test::activate(*breaker_factory_, test::clustersConfig({"legacy"}), state_);
    breaker_factory_->contributePolicy({"api", "", "legacy", nullptr}, policy_);
    return *breaker_factory_->admissionFor("legacy");
  }

  // The waits before the first `n` retries of this request under `config`, as the router arms
  // them (rounded up to the timer's milliseconds).
  static std::vector<milliseconds> backoffs(const RetryConfig& config, uint32_t n) {
    common::SeededRandom random(Seed);
    std::vector<milliseconds> out;
    for (uint32_t i = 0; i < n; ++i) {
      out.push_back(std::chrono::ceil<milliseconds>(filters::retry::backoff(i, config, random)));
    }
    return out;
  }

  common::MonotonicTime now() { return callbacks_.timeSource().monotonicNow(); }
  void advance(common::Duration d) { callbacks_.advance(d); }

  const http::LocalReply* lastReply() const {
    return callbacks_.localReplies().empty() ? nullptr : &callbacks_.lastLocalReply();
  }
  // The status of the response the client got so far: a local reply's, else the upstream's; 0
  // while it has none.
  int clientStatus() const {
    if (const http::LocalReply* reply = lastReply()) return reply->status;
    return callbacks_.encodedHeaders() != nullptr ? callbacks_.encodedHeaders()->status : 0;
  }

  QuietLogs quiet_;
  test::FakeFilterCallbacks callbacks_{Seed};
  RouterContext ctx_{callbacks_.timeSource()};
  config::ClusterConfig cluster_;
  std::unique_ptr<FakePool> pool_;
  upstream::RuntimeStateRegistry state_;
  std::unique_ptr<RetryFilterFactory> retry_factory_;
  std::unique_ptr<CircuitBreakerFilterFactory> breaker_factory_;
  RecordingAdmission admission_;
  UpstreamPolicy policy_;
  config::TargetConfig target_config_;
  std::string version_;
  RouteEntry route_;
  RouteDecision decision_;
  RecordingObserver observer_;
  std::unique_ptr<Router> router_;  // last, so it goes first
};

// ---- the plain exchange ----

// A GET goes upstream with the forwarding headers added, the response streams back naming the
// cluster, and the connection goes back to the pool reusable once both sides are complete.
TEST_F(RouterTest, ProxiesAGet) {
  request("GET", "/api/items?page=2");
  start();
  ASSERT_EQ(pool().newStreamCalls(), 1u);
  EXPECT_EQ(pool().request(0).avoid, NoEndpoint);
  FakeUpstreamConnection& conn = pool().ready();
  ASSERT_NE(conn.head(), nullptr);
  EXPECT_EQ(conn.head()->method, "GET");
  EXPECT_EQ(conn.head()->path, "/api/items?page=2");
  EXPECT_EQ(conn.headHeader("x-forwarded-for"), "192.0.2.7");
  EXPECT_EQ(conn.headHeader("x-forwarded-proto"), "http");
  EXPECT_EQ(conn.headHeader("host"), "10.0.0.1:8080");
  EXPECT_EQ(conn.headHeader("x-api-version"), "");
  EXPECT_EQ(conn.body(), "");
  EXPECT_FALSE(conn.expectNoBody());
  EXPECT_EQ(callbacks_.streamInfo().upstream_attempts, 1u);

  conn.respond(200, false, {{"content-type", "text/plain"}, {"content-length", "5"}});
  ASSERT_NE(callbacks_.encodedHeaders(), nullptr);
  EXPECT_EQ(callbacks_.encodedHeaders()->status, 200);
  EXPECT_EQ(header(callbacks_.encodedHeaders()->headers, "x-upstream-cluster"), "legacy");
  EXPECT_EQ(header(callbacks_.encodedHeaders()->headers, "content-type"), "text/plain");
  EXPECT_FALSE(callbacks_.encodeEnded());
  conn.respondBody("hel", false);
  EXPECT_EQ(callbacks_.encodedBody(), "hel");
  EXPECT_TRUE(conn.busy());  // the response is not complete yet
  conn.respondBody("lo", true);
  EXPECT_EQ(callbacks_.encodedBody(), "hello");
  EXPECT_TRUE(callbacks_.encodeEnded());
  EXPECT_TRUE(conn.releasedReusable());
  ASSERT_EQ(pool().releases().size(), 1u);
  EXPECT_EQ(pool().releases()[0].conn, conn.id());
  EXPECT_TRUE(callbacks_.localReplies().empty());
  EXPECT_EQ(pool().requestsWithCode(200), 1);
}

// Forwarding headers the client sent are extended or replaced, its Host is kept, the version of
// a versioned target is named, and a HEAD tells the connection to expect no body.
TEST_F(RouterTest, ForwardingHeadersExtendWhatTheClientSent) {
  http::RequestHeaders& h = request("HEAD", "/api/v2/items");
  h.headers.add("host", "api.example.com");
  h.headers.add("x-forwarded-for", "203.0.113.1");
  h.headers.add("x-forwarded-proto", "http");
  callbacks_.streamInfo().forwarded_proto = "https";
  version_ = "v2";
  start();
  FakeUpstreamConnection& conn = pool().ready();
  EXPECT_EQ(conn.headHeader("x-forwarded-for"), "203.0.113.1, 192.0.2.7");
  EXPECT_EQ(conn.headHeader("x-forwarded-proto"), "https");
  EXPECT_EQ(conn.head()->headers.count("x-forwarded-proto"), 1u);
  EXPECT_EQ(conn.headHeader("host"), "api.example.com");
  EXPECT_EQ(conn.head()->headers.count("host"), 1u);
  EXPECT_EQ(conn.headHeader("x-api-version"), "v2");
  EXPECT_TRUE(conn.expectNoBody());
  conn.respond(200, true);
  EXPECT_TRUE(callbacks_.encodeEnded());
  EXPECT_TRUE(conn.releasedReusable());
}

// A response that ends before the request body was all sent leaves the connection in no state
// to be reused, and the rest of the body does not go to it.
TEST_F(RouterTest, ConnectionIsNotReusedBeforeTheRequestIsComplete) {
  request("POST", "/api/upload").content_length = 10;
  start(false);
  FakeUpstreamConnection& conn = pool().ready();
  sendBody("hello", false);
  conn.respond(413, true);
  EXPECT_EQ(callbacks_.encodedHeaders()->status, 413);
  EXPECT_TRUE(conn.released());
  EXPECT_FALSE(conn.releasedReusable());
  sendBody("world", true);
  EXPECT_EQ(conn.body(), "hello");
}

// A response that does not allow keep-alive closes its connection.
TEST_F(RouterTest, ResponseWithoutKeepAliveIsNotReused) {
  request();
  start();
  FakeUpstreamConnection& conn = pool().ready();
  conn.respond(200, false, {}, /*keep_alive=*/false);
  conn.respondBody("ok", true);
  EXPECT_TRUE(conn.released());
  EXPECT_FALSE(conn.releasedReusable());
}

// Body bytes that arrive while the pool has no connection yet are kept and sent after the head.
TEST_F(RouterTest, BodyThatArrivesBeforeTheConnectionFollowsTheHead) {
  request("POST", "/api/items").content_length = 11;
  start(false);
  sendBody("hello ", false);
  sendBody("world", true);
  ASSERT_EQ(pool().newStreamCalls(), 1u);
  FakeUpstreamConnection& conn = pool().ready();
  EXPECT_EQ(conn.headsSent(), 1);
  EXPECT_EQ(conn.body(), "hello world");
  conn.respond(201, true);
  EXPECT_EQ(callbacks_.encodedHeaders()->status, 201);
  EXPECT_TRUE(conn.releasedReusable());
}

// Body bytes that arrive once the connection is there go straight to it.
TEST_F(RouterTest, BodyThatArrivesAfterTheConnectionStreamsToIt) {
  request("POST", "/api/items").content_length = 11;
  start(false);
  FakeUpstreamConnection& conn = pool().ready();
  EXPECT_EQ(conn.body(), "");
  sendBody("hello ", false);
  EXPECT_EQ(conn.body(), "hello ");
  sendBody("world", true);
  EXPECT_EQ(conn.body(), "hello world");
  conn.respond(201, true);
  EXPECT_TRUE(conn.releasedReusable());
}

// A chunked request body goes upstream chunked again, the last chunk with the end of the body.
TEST_F(RouterTest, ChunkedRequestBodyIsSentChunked) {
  request("POST", "/api/items").chunked = true;
  start(false);
  sendBody("abc", false);
  FakeUpstreamConnection& conn = pool().ready();
  EXPECT_EQ(conn.headHeader("transfer-encoding"), "chunked");
  EXPECT_EQ(conn.body(), "3\r\nabc\r\n");
  sendBody("defgh", true);
  EXPECT_EQ(conn.body(), "3\r\nabc\r\n5\r\ndefgh\r\n0\r\n\r\n");
  conn.respond(200, true);
  EXPECT_TRUE(conn.releasedReusable());
}

// A client waiting for "100 Continue" is asked for its body once the connection is there.
TEST_F(RouterTest, ExpectContinueAsksForTheBodyOnceConnected) {
  http::RequestHeaders& h = request("PUT", "/api/items/1");
  h.content_length = 2;
  h.expect_continue = true;
  start(false);
  EXPECT_EQ(callbacks_.requestBodyCalls(), 0);
  FakeUpstreamConnection& conn = pool().ready();
  EXPECT_EQ(callbacks_.requestBodyCalls(), 1);
  sendBody("{}", true);
  EXPECT_EQ(conn.body(), "{}");
  conn.respond(204, true);
}

// The upstream's hop-by-hop headers stay on its connection.
TEST_F(RouterTest, HopByHopResponseHeadersAreStripped) {
  request();
  start();
  http::ResponseHeadersPtr response = http::makeResponseHeaders();
  response->headers.add("connection", "keep-alive");
  response->headers.add("keep-alive", "timeout=5");
  response->headers.add("etag", "\"v1\"");
  response->hop_by_hop = true;
  pool().ready().respondHeaders(std::move(response), true);
  ASSERT_NE(callbacks_.encodedHeaders(), nullptr);
  const http::HeaderMap& h = callbacks_.encodedHeaders()->headers;
  EXPECT_EQ(h.count("connection"), 0u);
  EXPECT_EQ(h.count("keep-alive"), 0u);
  EXPECT_EQ(header(h, "etag"), "\"v1\"");
  EXPECT_EQ(header(h, "x-upstream-cluster"), "legacy");
}

// ---- timeouts and pool failures ----

// The route's timeout runs to the response head: then the client gets a 504, the timeout is
// counted and the connection, with a request on it, is closed.
TEST_F(RouterTest, RouteTimeoutBeforeTheResponseHeadIs504) {
  route_.timeout = 2s;
  request();
  start();
  FakeUpstreamConnection& conn = pool().ready();
  advance(1999ms);
  EXPECT_TRUE(callbacks_.localReplies().empty());
  EXPECT_TRUE(conn.busy());
  advance(1ms);
  ASSERT_NE(lastReply(), nullptr);
  EXPECT_EQ(lastReply()->status, 504);
  EXPECT_EQ(lastReply()->title, "Gateway Timeout");
  EXPECT_EQ(lastReply()->detail, "the upstream did not respond within 2000ms");
  EXPECT_EQ(header(lastReply()->headers, "x-upstream-cluster"), "legacy");
  EXPECT_EQ(pool().timeouts(), 1);
  EXPECT_EQ(pool().requestsWithCode(0), 1);
  EXPECT_TRUE(conn.released());
  EXPECT_FALSE(conn.releasedReusable());
}

// Without a route timeout the cluster's response_timeout applies, and it also covers the wait
// for a connection: the pool request is withdrawn.
TEST_F(RouterTest, TimeoutWhileWaitingForAConnectionCancelsThePoolRequest) {
  cluster_.response_timeout = 3s;
  request();
  start();
  advance(2999ms);
  EXPECT_EQ(pool().request(0).state, PoolRequestState::Pending);
  advance(1ms);
  EXPECT_EQ(pool().request(0).state, PoolRequestState::Cancelled);
  EXPECT_EQ(pool().cancelled(), 1u);
  EXPECT_EQ(clientStatus(), 504);
  EXPECT_EQ(pool().timeouts(), 1);
  EXPECT_EQ(pool().connectionCount(), 0u);
}

// A full pool queue is a local limit: 503, no breaker verdict, no retry.
TEST_F(RouterTest, PoolOverflowIs503WithoutABreakerVerdictOrARetry) {
  useRetry(RetryConfig());
  CircuitBreakerConfig breaker;
  breaker.defaults.consecutive_failures = 1;
  ClusterAdmission& admission = useBreaker(breaker);
  pool().answerNextWithFailure(PoolFailure::Overflow);
  request();
  start();
  ASSERT_NE(lastReply(), nullptr);
  EXPECT_EQ(lastReply()->status, 503);
  EXPECT_EQ(lastReply()->detail, "too many requests are waiting for a connection to legacy");
  EXPECT_EQ(header(lastReply()->headers, "x-upstream-cluster"), "legacy");
  advance(60s);
  EXPECT_EQ(pool().newStreamCalls(), 1u);
  EXPECT_EQ(admission.circuit().breaker.state(), BreakerState::Closed);
  EXPECT_EQ(admission.circuit().breaker.consecutiveFailures(), 0u);
}

// A connection that could not be made is a 502.
TEST_F(RouterTest, ConnectFailureIs502) {
  pool().answerNextWithFailure(PoolFailure::ConnectFailed);
  request();
  start();
  ASSERT_NE(lastReply(), nullptr);
  EXPECT_EQ(lastReply()->status, 502);
  EXPECT_EQ(lastReply()->title, "Bad Gateway");
  EXPECT_EQ(lastReply()->detail, "cannot connect to 10.0.0.1:8080: Connection refused");
  EXPECT_EQ(pool().requestsWithCode(0), 1);
}

// A connection that did not connect in time is a 504.
TEST_F(RouterTest, ConnectTimeoutIs504) {
  request();
  start();
  pool().fail(PoolFailure::ConnectTimeout);
  ASSERT_NE(lastReply(), nullptr);
  EXPECT_EQ(lastReply()->status, 504);
  EXPECT_EQ(lastReply()->detail, "timed out connecting to 10.0.0.1:8080");
}

// A request no route matched gets its 404 from the router, with nothing upstream to ask.
TEST_F(RouterTest, UnroutedRequestIs404) {
  request("GET", "/nowhere");
  decision_.status = 404;
  decision_.detail = "no route matches the request path";
  run(true);
  ASSERT_NE(lastReply(), nullptr);
  EXPECT_EQ(lastReply()->status, 404);
  EXPECT_EQ(lastReply()->title, "Not Found");
  EXPECT_EQ(lastReply()->detail, "no route matches the request path");
  EXPECT_EQ(callbacks_.encodedHeaders(), nullptr);
  EXPECT_EQ(callbacks_.simulatedDispatcher().pendingTimers(), 0u);
  EXPECT_EQ(pool_.get(), nullptr);
}

// A request naming a version the route does not have gets its 400 without touching the pool.
TEST_F(RouterTest, UnknownVersionIs400WithoutAskingThePool) {
  pool();
  request("GET", "/api/v9/items");
  decision_.route = &route_;
  decision_.status = 400;
  decision_.detail = "unknown API version \"v9\"; this route serves v1, v2";
  run(true);
  ASSERT_NE(lastReply(), nullptr);
  EXPECT_EQ(lastReply()->status, 400);
  EXPECT_EQ(lastReply()->detail, decision_.detail);
  EXPECT_EQ(pool().newStreamCalls(), 0u);
  EXPECT_EQ(callbacks_.simulatedDispatcher().pendingTimers(), 0u);
}

// ---- retries ----

// A connect failure is retried once the jittered backoff, drawn from the stream's random, has
// passed on the simulated clock, and not a millisecond earlier.
TEST_F(RouterTest, RetriesAConnectFailureAfterTheBackoff) {
  const RetryConfig config;
  useRetry(config);
  const milliseconds delay = backoffs(config, 1)[0];
  ASSERT_GT(delay, 1ms) << "pick a seed whose first backoff is measurable";
  pool().answerNextWithFailure(PoolFailure::ConnectFailed);
  request();
  start();
  EXPECT_TRUE(callbacks_.localReplies().empty());
  EXPECT_EQ(pool().newStreamCalls(), 1u);
  advance(delay - 1ms);
  EXPECT_EQ(pool().newStreamCalls(), 1u);
  advance(1ms);
  ASSERT_EQ(pool().newStreamCalls(), 2u);
  // The pool named no endpoint at fault, so there is none to avoid.
  EXPECT_EQ(pool().request(1).avoid, NoEndpoint);
  FakeUpstreamConnection& conn = pool().ready();
  conn.respond(200, true);
  EXPECT_EQ(clientStatus(), 200);
  EXPECT_TRUE(callbacks_.localReplies().empty());
  EXPECT_TRUE(conn.releasedReusable());
  // The failed connect was an attempt: the access log says 2 attempts, 1 retry.
  EXPECT_EQ(callbacks_.streamInfo().upstream_attempts, 2u);
}

// A retriable status is held back from the client and its connection closed; the request is sent
// again, with the same head, to the other endpoint.
TEST_F(RouterTest, HoldsARetriableStatusAndRetriesOnAnotherEndpoint) {
  const RetryConfig config;
  useRetry(config);
  const std::vector<milliseconds> delays = backoffs(config, 1);
  request();
  start();
  FakeUpstreamConnection& first = pool().ready();
  EXPECT_EQ(first.endpointIndex(), 0u);
  first.respond(503, false, {{"content-length", "4"}});
  EXPECT_EQ(callbacks_.encodedHeaders(), nullptr);
  EXPECT_TRUE(callbacks_.localReplies().empty());
  EXPECT_TRUE(first.released());
  EXPECT_FALSE(first.releasedReusable());
  EXPECT_EQ(pool().requestsWithCode(503), 1);

  advance(delays[0]);
  ASSERT_EQ(pool().newStreamCalls(), 2u);
  EXPECT_EQ(pool().request(1).avoid, 0u);
  FakeUpstreamConnection& second = pool().ready();
  EXPECT_EQ(second.endpointIndex(), 1u);
  EXPECT_EQ(second.headHeader("x-forwarded-for"), "192.0.2.7");
  second.respond(200, true);
  EXPECT_EQ(clientStatus(), 200);
  EXPECT_EQ(callbacks_.streamInfo().upstream_attempts, 2u);
}

// A held response's Retry-After is waited for when it is longer than the backoff.
TEST_F(RouterTest, RetryWaitsForTheHeldResponsesRetryAfter) {
  const RetryConfig config;  // backoffs of at most 1s for the first retry
  useRetry(config);
  request();
  start();
  pool().ready().respond(503, true, {{"retry-after", "2"}});
  advance(1999ms);
  EXPECT_EQ(pool().newStreamCalls(), 1u);
  advance(1ms);
  ASSERT_EQ(pool().newStreamCalls(), 2u);
  pool().ready().respond(200, true);
  EXPECT_EQ(clientStatus(), 200);
}

// A status the policy does not retry goes to the client at once.
TEST_F(RouterTest, NonRetriableStatusPassesThrough) {
  useRetry(RetryConfig());
  request();
  start();
  FakeUpstreamConnection& conn = pool().ready();
  conn.respond(500, false);
  EXPECT_EQ(clientStatus(), 500);
  conn.respondBody("oops", true);
  EXPECT_EQ(callbacks_.encodedBody(), "oops");
  EXPECT_TRUE(conn.releasedReusable());
  advance(60s);
  EXPECT_EQ(pool().newStreamCalls(), 1u);
}

// Once max_retries are spent, the last attempt's response is the client's, body and all.
TEST_F(RouterTest, ExhaustedRetriesGiveTheLastResponseToTheClient) {
  RetryConfig config;
  config.max_retries = 2;
  useRetry(config);
  const std::vector<milliseconds> delays = backoffs(config, 2);
  request();
  start();
  pool().ready().respond(503, true);
  advance(delays[0]);
  pool().ready().respond(503, true);
  advance(delays[1]);
  ASSERT_EQ(pool().newStreamCalls(), 3u);
  FakeUpstreamConnection& last = pool().ready();
  last.respond(503, false, {{"retry-after", "1"}});
  last.respondBody("busy", true);
  EXPECT_EQ(clientStatus(), 503);
  EXPECT_EQ(callbacks_.encodedBody(), "busy");
  EXPECT_TRUE(callbacks_.localReplies().empty());
  advance(60s);
  EXPECT_EQ(pool().newStreamCalls(), 3u);
}

// Once max_retries are spent on connect failures, the client gets the last one's 502.
TEST_F(RouterTest, ExhaustedRetriesAfterConnectFailuresAre502) {
  RetryConfig config;
  config.max_retries = 1;
  useRetry(config);
  pool().answerNextWithFailure(PoolFailure::ConnectFailed);
  pool().answerNextWithFailure(PoolFailure::ConnectFailed, "cannot connect to 10.0.0.2:8080: no");
  request();
  start();
  advance(backoffs(config, 1)[0]);
  EXPECT_EQ(pool().newStreamCalls(), 2u);
  ASSERT_EQ(callbacks_.localReplies().size(), 1u);
  EXPECT_EQ(lastReply()->status, 502);
  EXPECT_EQ(lastReply()->detail, "cannot connect to 10.0.0.2:8080: no");
}

// An attempt that outlives per_try_timeout is given up (its connection closed) and retried.
TEST_F(RouterTest, PerTryTimeoutThenRetry) {
  RetryConfig config;
  config.per_try_timeout = 200ms;
  config.retry_timeout = true;
  useRetry(config);
  request();
  start();
  FakeUpstreamConnection& first = pool().ready();
  advance(199ms);
  EXPECT_TRUE(first.busy());
  advance(1ms);
  EXPECT_TRUE(first.released());
  EXPECT_FALSE(first.releasedReusable());
  EXPECT_EQ(pool().timeouts(), 1);
  EXPECT_TRUE(callbacks_.localReplies().empty());
  advance(backoffs(config, 1)[0]);
  ASSERT_EQ(pool().newStreamCalls(), 2u);
  pool().ready().respond(200, true);
  EXPECT_EQ(clientStatus(), 200);
}

// No attempt starts that could not end before the request's deadline (`timeout`): the last one
// is cut to what is left, and its failure goes to the client although retries remain.
TEST_F(RouterTest, DeadlineStopsRetrying) {
  RetryConfig config;
  config.per_try_timeout = 400ms;
  config.retry_timeout = true;
  config.timeout = 1000ms;
  config.base_interval = 1ms;
  config.max_interval = 1ms;
  useRetry(config);  // max_retries 3
  request();
  start();
  // Attempts at 0, ~400ms and ~800ms; the third has ~200ms left.
  advance(990ms);
  EXPECT_EQ(pool().newStreamCalls(), 3u);
  EXPECT_TRUE(callbacks_.localReplies().empty());
  advance(20ms);
  EXPECT_EQ(pool().newStreamCalls(), 3u);
  EXPECT_EQ(clientStatus(), 504);
  EXPECT_EQ(pool().timeouts(), 3);
  EXPECT_EQ(callbacks_.simulatedDispatcher().pendingTimers(), 0u);
}

// A retry after a reset asks the pool to avoid the endpoint whose connection broke.
TEST_F(RouterTest, RetryAvoidsTheEndpointOfTheFailedAttempt) {
  const RetryConfig config;
  useRetry(config);
  request();
  start();
  pool().ready({.endpoint = 1}).reset(event::CloseReason::Reset);
  EXPECT_TRUE(callbacks_.localReplies().empty());
  advance(backoffs(config, 1)[0]);
  ASSERT_EQ(pool().newStreamCalls(), 2u);
  EXPECT_EQ(pool().request(1).avoid, 1u);
  FakeUpstreamConnection& second = pool().ready();
  EXPECT_EQ(second.endpointIndex(), 0u);
  second.respond(200, true);
  EXPECT_EQ(clientStatus(), 200);
}

// The endpoint that refused the connection is the one the retry avoids, not an earlier one.
TEST_F(RouterTest, RetryAfterAConnectFailureAvoidsTheEndpointThatRefused) {
  const RetryConfig config;
  useRetry(config);
  request();
  start();
  pool().ready({.endpoint = 0}).reset(event::CloseReason::Reset);
  advance(backoffs(config, 1)[0]);
  ASSERT_EQ(pool().newStreamCalls(), 2u);
  EXPECT_EQ(pool().request(1).avoid, 0u);
  pool().fail(PoolFailure::ConnectFailed, "", 1);
  advance(backoffs(config, 2)[1]);
  ASSERT_EQ(pool().newStreamCalls(), 3u);
  EXPECT_EQ(pool().request(2).avoid, 1u);
  pool().ready().respond(200, true);
  EXPECT_EQ(clientStatus(), 200);
}

// A POST without an idempotency key may have been acted on when its connection broke: no retry.
TEST_F(RouterTest, PostWithoutIdempotencyKeyIsNotRetriedAfterAReset) {
  useRetry(RetryConfig());
  request("POST", "/api/orders").content_length = 5;
  start(false);
  FakeUpstreamConnection& conn = pool().ready();
  sendBody("hello", true);
  conn.reset();
  ASSERT_NE(lastReply(), nullptr);
  EXPECT_EQ(lastReply()->status, 502);
  EXPECT_EQ(lastReply()->detail, "the upstream connection closed before a complete response");
  advance(60s);
  EXPECT_EQ(pool().newStreamCalls(), 1u);
}

// A POST that never reached the upstream (no connection) is retried, with its whole body, also
// the part that arrived during the backoff.
TEST_F(RouterTest, PostIsRetriedAfterAConnectFailureWithItsWholeBody) {
  const RetryConfig config;
  useRetry(config);
  request("POST", "/api/orders").content_length = 11;
  start(false);
  sendBody("hello ", false);
  pool().fail(PoolFailure::ConnectFailed);
  EXPECT_TRUE(callbacks_.localReplies().empty());
  sendBody("world", true);
  advance(backoffs(config, 1)[0]);
  FakeUpstreamConnection& conn = pool().ready();
  EXPECT_EQ(conn.body(), "hello world");
  conn.respond(201, true);
  EXPECT_EQ(clientStatus(), 201);
}

// A body already sent on a failed attempt is sent again in full on the retry.
TEST_F(RouterTest, ReplayedBodyIsSentAgainInFull) {
  const RetryConfig config;
  useRetry(config);
  http::RequestHeaders& h = request("POST", "/api/orders");
  h.content_length = 11;
  h.headers.add("idempotency-key", "order-17");
  start(false);
  FakeUpstreamConnection& first = pool().ready();
  sendBody("hello ", false);
  sendBody("world", true);
  EXPECT_EQ(first.body(), "hello world");
  first.respond(503, true);
  advance(backoffs(config, 1)[0]);
  FakeUpstreamConnection& second = pool().ready();
  EXPECT_EQ(second.headsSent(), 1);
  EXPECT_EQ(second.body(), "hello world");
  second.respond(201, true);
  EXPECT_EQ(clientStatus(), 201);
  EXPECT_TRUE(second.releasedReusable());
}

// The second retry sends the body in full too (its bytes are a copy of a copy by then).
TEST_F(RouterTest, EveryRetrySendsTheWholeBody) {
  const RetryConfig config;
  useRetry(config);
  http::RequestHeaders& h = request("PUT", "/api/orders/17");
  h.content_length = 11;
  start(false);
  FakeUpstreamConnection& first = pool().ready();
  sendBody("hello world", true);
  first.respond(503, true);
  const auto waits = backoffs(config, 2);
  advance(waits[0]);
  FakeUpstreamConnection& second = pool().ready();
  EXPECT_EQ(second.body(), "hello world");
  second.respond(503, true);
  advance(waits[1]);
  FakeUpstreamConnection& third = pool().ready();
  EXPECT_EQ(third.body(), "hello world");
  third.respond(200, true);
  EXPECT_EQ(clientStatus(), 200);
}

// A body that grows past max_replay_body_bytes is streamed rather than kept, and its request is
// then not retried.
TEST_F(RouterTest, BodyLargerThanTheReplayLimitStreamsAndIsNotRetried) {
  RetryConfig config;
  config.max_replay_body_bytes = 8;
  useRetry(config);
  http::RequestHeaders& h = request("POST", "/api/orders");
  h.chunked = true;
  h.headers.add("idempotency-key", "order-18");
  start(false);
  FakeUpstreamConnection& conn = pool().ready();
  sendBody("0123", false);
  sendBody("456789ab", false);
  EXPECT_EQ(conn.body(), "4\r\n0123\r\n8\r\n456789ab\r\n");
  conn.reset();
  EXPECT_EQ(clientStatus(), 502);
  advance(60s);
  EXPECT_EQ(pool().newStreamCalls(), 1u);
}

// ---- circuit breaker and bulkheads ----

// An open breaker answers 503 with Retry-After (what is left of its cooldown) and the cluster's
// name, and the pool is never asked.
TEST_F(RouterTest, OpenBreakerRefusesWithRetryAfter) {
  CircuitBreakerConfig config;
  config.defaults.consecutive_failures = 1;
  ClusterAdmission& admission = useBreaker(config);
  admission.onResult(now(), false, false);
  ASSERT_EQ(admission.circuit().breaker.state(), BreakerState::Open);
  advance(10s);
  request();
  start();
  EXPECT_EQ(pool().newStreamCalls(), 0u);
  ASSERT_NE(lastReply(), nullptr);
  EXPECT_EQ(lastReply()->status, 503);
  EXPECT_EQ(lastReply()->detail, "the circuit breaker of cluster legacy is open; retry in 20s");
  EXPECT_EQ(header(lastReply()->headers, "retry-after"), "20");
  EXPECT_EQ(header(lastReply()->headers, "x-upstream-cluster"), "legacy");
  EXPECT_EQ(callbacks_.simulatedDispatcher().pendingTimers(), 0u);
  finish();
  EXPECT_EQ(admission.circuit().requests.active(), 0u);
}

// A failure that opens the breaker also stops its own retry: the retry is refused with the
// breaker's 503, not sent.
TEST_F(RouterTest, BreakerOpenedByAFailureRefusesItsRetry) {
  const RetryConfig config;
  useRetry(config);
  CircuitBreakerConfig breaker;
  breaker.defaults.consecutive_failures = 1;
  ClusterAdmission& admission = useBreaker(breaker);
  request();
  start();
  pool().ready().reset();
  EXPECT_EQ(admission.circuit().breaker.state(), BreakerState::Open);
  EXPECT_TRUE(callbacks_.localReplies().empty());
  advance(backoffs(config, 1)[0]);
  EXPECT_EQ(pool().newStreamCalls(), 1u);
  ASSERT_NE(lastReply(), nullptr);
  EXPECT_EQ(lastReply()->status, 503);
  EXPECT_EQ(header(lastReply()->headers, "retry-after"), "30");
  finish();
  EXPECT_EQ(admission.circuit().requests.active(), 0u);
  EXPECT_EQ(admission.circuit().retries.active(), 0u);
}

// A response with a failure status is reported to the breaker as a failed attempt.
TEST_F(RouterTest, FailureStatusIsABreakerFailure) {
  policy_.admission = &admission_;
  request();
  start();
  pool().ready().respond(502, true);
  EXPECT_EQ(clientStatus(), 502);
  finish();
  EXPECT_EQ(admission_.events,
            (std::vector<std::string>{"start request", "admit", "failure", "end request"}));
}

// Any other response is a success, whatever its status.
TEST_F(RouterTest, OtherResponsesAreBreakerSuccesses) {
  policy_.admission = &admission_;
  request();
  start();
  pool().ready().respond(404, true);
  finish();
  EXPECT_EQ(admission_.events,
            (std::vector<std::string>{"start request", "admit", "success", "end request"}));
}

// A timeout is a failed attempt for the breaker.
TEST_F(RouterTest, TimeoutIsABreakerFailure) {
  policy_.admission = &admission_;
  request();
  start();
  pool().ready();
  advance(15s);
  EXPECT_EQ(clientStatus(), 504);
  EXPECT_EQ(admission_.events, (std::vector<std::string>{"start request", "admit", "failure"}));
}

// A connection that breaks before the response head is a failed attempt for the breaker.
TEST_F(RouterTest, ResetIsABreakerFailure) {
  policy_.admission = &admission_;
  request();
  start();
  pool().ready().reset(event::CloseReason::Reset);
  EXPECT_EQ(clientStatus(), 502);
  EXPECT_EQ(admission_.events, (std::vector<std::string>{"start request", "admit", "failure"}));
}

// A response that cannot be parsed is a failed attempt for the breaker.
TEST_F(RouterTest, CodecErrorIsABreakerFailure) {
  policy_.admission = &admission_;
  request();
  start();
  pool().ready().codecError("malformed status line");
  ASSERT_NE(lastReply(), nullptr);
  EXPECT_EQ(lastReply()->status, 502);
  EXPECT_EQ(lastReply()->detail, "malformed status line");
  EXPECT_EQ(admission_.events, (std::vector<std::string>{"start request", "admit", "failure"}));
}

// A connection that could not be made is a failed attempt for the breaker.
TEST_F(RouterTest, ConnectFailureIsABreakerFailure) {
  policy_.admission = &admission_;
  pool().answerNextWithFailure(PoolFailure::ConnectFailed);
  request();
  start();
  EXPECT_EQ(clientStatus(), 502);
  EXPECT_EQ(admission_.events, (std::vector<std::string>{"start request", "admit", "failure"}));
}

// After the cooldown one probe goes through; its success closes the breaker.
TEST_F(RouterTest, HalfOpenProbeSuccessClosesTheBreaker) {
  CircuitBreakerConfig config;
  config.defaults.consecutive_failures = 1;
  ClusterAdmission& admission = useBreaker(config);
  admission.onResult(now(), false, false);
  advance(30s);
  request();
  start();
  EXPECT_EQ(admission.circuit().breaker.state(), BreakerState::HalfOpen);
  EXPECT_EQ(admission.circuit().breaker.probesInFlight(), 1u);
  pool().ready().respond(200, true);
  EXPECT_EQ(admission.circuit().breaker.state(), BreakerState::Closed);
  EXPECT_EQ(admission.circuit().breaker.probesInFlight(), 0u);
}

// A probe that fails opens the breaker again.
TEST_F(RouterTest, HalfOpenProbeFailureReopensTheBreaker) {
  CircuitBreakerConfig config;
  config.defaults.consecutive_failures = 1;
  ClusterAdmission& admission = useBreaker(config);
  admission.onResult(now(), false, false);
  advance(30s);
  request();
  start();
  pool().ready().respond(503, true);
  EXPECT_EQ(clientStatus(), 503);
  EXPECT_EQ(admission.circuit().breaker.state(), BreakerState::Open);
}

// A probe whose client goes away is withdrawn without a verdict: the next request may probe.
TEST_F(RouterTest, AbandonedProbeIsCancelled) {
  CircuitBreakerConfig config;
  config.defaults.consecutive_failures = 1;
  ClusterAdmission& admission = useBreaker(config);
  admission.onResult(now(), false, false);
  advance(30s);
  request();
  start();
  EXPECT_EQ(admission.circuit().breaker.probesInFlight(), 1u);
  finish();
  EXPECT_EQ(pool().request(0).state, PoolRequestState::Cancelled);
  EXPECT_EQ(admission.circuit().breaker.state(), BreakerState::HalfOpen);
  EXPECT_EQ(admission.circuit().breaker.probesInFlight(), 0u);
  EXPECT_TRUE(admission.admit(now()).probe());
  admission.onCancelled(true);
}

// With every concurrent-request slot taken the request is refused with a 503 naming the limit.
TEST_F(RouterTest, MaxConcurrentRequestsRefusal) {
  CircuitBreakerConfig config;
  config.defaults.max_concurrent_requests = 1;
  ClusterAdmission& admission = useBreaker(config);
  ASSERT_TRUE(admission.tryStartRequest());  // another request holds the only slot
  request();
  start();
  EXPECT_EQ(pool().newStreamCalls(), 0u);
  ASSERT_NE(lastReply(), nullptr);
  EXPECT_EQ(lastReply()->status, 503);
  EXPECT_EQ(lastReply()->detail,
            "too many concurrent requests to cluster legacy (max_concurrent_requests 1)");
  EXPECT_EQ(header(lastReply()->headers, "x-upstream-cluster"), "legacy");
  finish();
  // The router gives back nothing it did not take.
  EXPECT_EQ(admission.circuit().requests.active(), 1u);
  admission.endRequest();
}

// A request holds its concurrent-request slot until its stream ends.
TEST_F(RouterTest, RequestSlotIsHeldUntilTheStreamEnds) {
  CircuitBreakerConfig config;
  config.defaults.max_concurrent_requests = 1;
  ClusterAdmission& admission = useBreaker(config);
  request();
  start();
  EXPECT_EQ(admission.maxConcurrentRequests(), 1u);
  EXPECT_EQ(admission.circuit().requests.active(), 1u);
  pool().ready().respond(200, true);
  EXPECT_EQ(admission.circuit().requests.active(), 1u);
  finish();
  EXPECT_EQ(admission.circuit().requests.active(), 0u);
}

// A retry holds a retry slot from its decision on, one per request at a time, until the stream
// ends.
TEST_F(RouterTest, RetryHoldsOneRetrySlotUntilTheStreamEnds) {
  const RetryConfig config;
  useRetry(config);
  CircuitBreakerConfig breaker;
  breaker.defaults.max_concurrent_retries = 1;
  ClusterAdmission& admission = useBreaker(breaker);
  const std::vector<milliseconds> delays = backoffs(config, 2);
  request();
  start();
  EXPECT_EQ(admission.circuit().retries.active(), 0u);
  pool().ready().reset();
  EXPECT_EQ(admission.circuit().retries.active(), 1u);
  advance(delays[0]);
  // The second retry gives the first one's slot back before it takes one.
  pool().ready().reset();
  EXPECT_EQ(admission.circuit().retries.active(), 1u);
  advance(delays[1]);
  pool().ready().respond(200, true);
  EXPECT_EQ(clientStatus(), 200);
  EXPECT_EQ(admission.circuit().retries.active(), 1u);
  finish();
  EXPECT_EQ(admission.circuit().retries.active(), 0u);
  EXPECT_EQ(admission.circuit().requests.active(), 0u);
}

// Without a free retry slot the failure goes to the client.
TEST_F(RouterTest, NoRetryWithoutAFreeRetrySlot) {
  useRetry(RetryConfig());
  CircuitBreakerConfig breaker;
  breaker.defaults.max_concurrent_retries = 1;
  ClusterAdmission& admission = useBreaker(breaker);
  ASSERT_TRUE(admission.tryStartRetry());  // another request is retrying
  request();
  start();
  pool().ready().reset();
  EXPECT_EQ(clientStatus(), 502);
  advance(60s);
  EXPECT_EQ(pool().newStreamCalls(), 1u);
  finish();
  EXPECT_EQ(admission.circuit().retries.active(), 1u);
  admission.endRetry();
}

// ---- the resend after a stale keep-alive connection ----

// A connection reused from the pool that breaks before any response byte was most likely closed
// by the server while idle: an idempotent request without a body is sent once more at once,
// without a breaker verdict for the broken attempt.
TEST_F(RouterTest, ResetOnAReusedConnectionIsResentOnce) {
  policy_.admission = &admission_;
  pool().answerNextWithConnection({.reused = true});
  request();
  start();
  FakeUpstreamConnection& stale = pool().connection(0);
  EXPECT_EQ(stale.headsSent(), 1);
  stale.reset();
  EXPECT_TRUE(callbacks_.localReplies().empty());
  ASSERT_EQ(pool().newStreamCalls(), 2u);
  EXPECT_EQ(pool().request(1).avoid, 0u);
  FakeUpstreamConnection& fresh = pool().ready();
  EXPECT_EQ(fresh.headsSent(), 1);
  fresh.respond(200, true);
  EXPECT_EQ(clientStatus(), 200);
  finish();
  EXPECT_EQ(admission_.events, (std::vector<std::string>{"start request", "admit", "cancelled",
                                                         "admit", "success", "end request"}));
}

// The resend happens once: a second reset is the client's 502.
TEST_F(RouterTest, ResendIsNotRepeated) {
  pool().answerNextWithConnection({.reused = true});
  request();
  start();
  pool().connection(0).reset();
  pool().ready({.reused = true}).reset();
  EXPECT_EQ(clientStatus(), 502);
  EXPECT_EQ(pool().newStreamCalls(), 2u);
}

// A POST is not sent again after a reset, reused connection or not.
TEST_F(RouterTest, ResetOnAReusedConnectionIsNotResentForAPost) {
  pool().answerNextWithConnection({.reused = true});
  request("POST", "/api/orders");
  start();
  pool().connection(0).reset();
  EXPECT_EQ(clientStatus(), 502);
  EXPECT_EQ(pool().newStreamCalls(), 1u);
}

// Once response bytes have come on a reused connection the server did not close it while idle:
// a reset then is not resent.
TEST_F(RouterTest, ResetAfterResponseBytesIsNotResent) {
  pool().answerNextWithConnection({.reused = true});
  request();
  start();
  FakeUpstreamConnection& conn = pool().connection(0);
  conn.receivePartialHead();
  conn.reset();
  EXPECT_EQ(clientStatus(), 502);
  EXPECT_EQ(pool().newStreamCalls(), 1u);
}

// A retry, started from its timer, may get an idle connection whose write fails at once (the
// server had closed it). The resend that follows waits for a connection and still belongs to the
// router: the client leaving withdraws it from the pool, which would otherwise answer a router
// that is gone.
TEST_F(RouterTest, ResendAfterAFailedWriteCanStillBeCancelled) {
  const RetryConfig config;
  useRetry(config);
  request();
  start();
  pool().ready().respond(503, true);
  pool().answerNextWithConnection({.reused = true, .fail_send = true});
  advance(backoffs(config, 1)[0]);
  ASSERT_EQ(pool().newStreamCalls(), 3u);
  EXPECT_TRUE(pool().connection(1).wasReset());
  EXPECT_EQ(pool().connection(1).headsSent(), 0);
  EXPECT_EQ(pool().request(2).state, PoolRequestState::Pending);
  finish();
  EXPECT_EQ(pool().request(2).state, PoolRequestState::Cancelled);
}

// A reset after the response head went out can only end the stream: the router asks for a local
// reply, which the filter manager turns into a reset once the response has started. No retry,
// no resend.
TEST_F(RouterTest, ResetAfterTheResponseStartedEndsTheStream) {
  useRetry(RetryConfig());
  pool().answerNextWithConnection({.reused = true});
  request();
  start();
  FakeUpstreamConnection& conn = pool().connection(0);
  conn.respond(200, false);
  conn.respondBody("par", false);
  conn.reset();
  ASSERT_EQ(callbacks_.localReplies().size(), 1u);
  EXPECT_EQ(lastReply()->status, 502);
  EXPECT_EQ(callbacks_.encodedHeaders()->status, 200);
  EXPECT_EQ(callbacks_.encodedBody(), "par");
  advance(60s);
  EXPECT_EQ(pool().newStreamCalls(), 1u);
}

// An unparsable response after the head went out ends the stream the same way.
TEST_F(RouterTest, CodecErrorAfterTheResponseStartedEndsTheStream) {
  request();
  start();
  FakeUpstreamConnection& conn = pool().ready();
  conn.respond(200, false);
  conn.codecError("invalid chunk size");
  ASSERT_EQ(callbacks_.localReplies().size(), 1u);
  EXPECT_EQ(lastReply()->status, 502);
  EXPECT_TRUE(conn.released());
  EXPECT_FALSE(conn.releasedReusable());
}

// ---- flow control ----

// A client that reads too slowly stops the reading of the upstream connection until it catches
// up; the connection goes back to the pool reading again.
TEST_F(RouterTest, DownstreamBackpressurePausesTheUpstream) {
  request();
  start();
  http::DownstreamWatermarkCallbacks* downstream = callbacks_.downstreamWatermarkCallbacks();
  ASSERT_EQ(downstream, router_.get());
  FakeUpstreamConnection& conn = pool().ready();
  conn.respond(200, false);
  downstream->onAboveWriteBufferHighWatermark();
  EXPECT_EQ(conn.readDisableDepth(), 1);
  downstream->onAboveWriteBufferHighWatermark();
  EXPECT_EQ(conn.readDisableDepth(), 1);
  downstream->onBelowWriteBufferLowWatermark();
  EXPECT_EQ(conn.readDisableDepth(), 0);
  downstream->onAboveWriteBufferHighWatermark();
  conn.respondBody("done", true);
  EXPECT_TRUE(conn.releasedReusable());
  EXPECT_EQ(conn.readDisableDepth(), 0);
}

// A client already behind when the connection comes gets it paused from the start.
TEST_F(RouterTest, DownstreamBackpressureAppliesToALaterConnection) {
  request();
  start();
  callbacks_.downstreamWatermarkCallbacks()->onAboveWriteBufferHighWatermark();
  FakeUpstreamConnection& conn = pool().ready();
  EXPECT_EQ(conn.readDisableDepth(), 1);
  callbacks_.downstreamWatermarkCallbacks()->onBelowWriteBufferLowWatermark();
  EXPECT_EQ(conn.readDisableDepth(), 0);
  conn.respond(200, true);
}

// An upstream that does not take the body fast enough pauses the client, once, until it drains;
// a connection handed back while over its mark undoes the pause.
TEST_F(RouterTest, UpstreamBackpressurePausesTheClient) {
  request("POST", "/api/upload").content_length = 100;
  start(false);
  FakeUpstreamConnection& conn = pool().ready();
  conn.aboveHighWatermark();
  EXPECT_EQ(callbacks_.upstreamAboveHighWatermarkCalls(), 1);
  conn.aboveHighWatermark();
  EXPECT_EQ(callbacks_.upstreamAboveHighWatermarkCalls(), 1);
  conn.belowLowWatermark();
  EXPECT_EQ(callbacks_.upstreamBelowLowWatermarkCalls(), 1);
  conn.aboveHighWatermark();
  EXPECT_EQ(callbacks_.upstreamAboveHighWatermarkCalls(), 2);
  conn.respond(413, true);
  EXPECT_TRUE(conn.released());
  EXPECT_EQ(callbacks_.upstreamBelowLowWatermarkCalls(), 2);
}

// A body piling up while no connection is there pauses the client until one comes.
TEST_F(RouterTest, BodyWaitingForAConnectionPausesTheClient) {
  request("POST", "/api/upload").chunked = true;
  start(false);
  const std::string chunk(40 * 1024, 'x');
  sendBody(chunk, false);
  EXPECT_EQ(callbacks_.upstreamAboveHighWatermarkCalls(), 0);
  sendBody(chunk, false);
  EXPECT_EQ(callbacks_.upstreamAboveHighWatermarkCalls(), 1);
  FakeUpstreamConnection& conn = pool().ready();
  EXPECT_EQ(callbacks_.upstreamBelowLowWatermarkCalls(), 1);
  EXPECT_EQ(conn.body().size(), 2 * chunk.size() + 9);  // one chunk: "14000\r\n" ... "\r\n"
  sendBody("", true);
  conn.respond(200, true);
  EXPECT_TRUE(conn.releasedReusable());
}

// ---- the stream ending early ----

// A client gone while the request waits for a connection: the pool request is withdrawn, the
// breaker hears no verdict, and the slots are given back.
TEST_F(RouterTest, DestroyWhileWaitingCancelsThePoolRequest) {
  policy_.admission = &admission_;
  request();
  start();
  finish();
  EXPECT_EQ(pool().request(0).state, PoolRequestState::Cancelled);
  EXPECT_EQ(admission_.events,
            (std::vector<std::string>{"start request", "admit", "cancelled", "end request"}));
  EXPECT_EQ(callbacks_.simulatedDispatcher().pendingTimers(), 0u);
}

// A client gone in the middle of the response: the connection, with an unfinished exchange on
// it, is closed.
TEST_F(RouterTest, DestroyWithABusyConnectionClosesIt) {
  CircuitBreakerConfig config;
  config.defaults.max_concurrent_requests = 5;
  ClusterAdmission& admission = useBreaker(config);
  request();
  start();
  FakeUpstreamConnection& conn = pool().ready();
  conn.respond(200, false);
  conn.respondBody("part", false);
  finish();
  EXPECT_TRUE(conn.released());
  EXPECT_FALSE(conn.releasedReusable());
  EXPECT_EQ(admission.circuit().requests.active(), 0u);
  EXPECT_EQ(admission.circuit().breaker.consecutiveFailures(), 0u);
}

// A client gone during a retry's backoff: the retry is called off and its slot given back.
TEST_F(RouterTest, DestroyDuringTheBackoffCallsTheRetryOff) {
  useRetry(RetryConfig());
  CircuitBreakerConfig breaker;
  breaker.defaults.max_concurrent_retries = 1;
  ClusterAdmission& admission = useBreaker(breaker);
  request();
  start();
  pool().ready().reset();
  EXPECT_EQ(admission.circuit().retries.active(), 1u);
  finish();
  EXPECT_EQ(admission.circuit().retries.active(), 0u);
  EXPECT_EQ(admission.circuit().requests.active(), 0u);
  advance(60s);
  EXPECT_EQ(pool().newStreamCalls(), 1u);
}

// ---- the attempt observer ----

// The stream's observer hears each attempt's start (with the endpoint, if a connection was made)
// and its end (with the upstream status, or what went wrong).
TEST_F(RouterTest, AttemptObserverHearsEveryAttempt) {
  const RetryConfig config;
  useRetry(config);
  const std::vector<milliseconds> delays = backoffs(config, 2);
  callbacks_.streamInfo().attempt_observer = &observer_;
  pool().answerNextWithFailure(PoolFailure::ConnectFailed);
  request();
  start();
  advance(delays[0]);
  FakeUpstreamConnection& second = pool().ready();
  advance(100ms);
  second.respond(503, true);
  advance(delays[1]);
  FakeUpstreamConnection& last = pool().ready();
  EXPECT_EQ(last.endpointIndex(), 1u);
  last.respond(200, false);
  EXPECT_EQ(observer_.events.size(), 5u);  // the last attempt ends with its response
  advance(50ms);
  last.respondBody("ok", true);
  EXPECT_EQ(observer_.events, (std::vector<std::string>{
                                  "start legacy (no endpoint)",
                                  "end 0: cannot connect to 10.0.0.1:8080: Connection refused",
                                  "start legacy 10.0.0.1:8080",
                                  "end 503",
                                  "start legacy 10.0.0.2:8080",
                                  "end 200",
                              }));
  EXPECT_EQ(callbacks_.streamInfo().upstream_duration, 150ms);
}

// An attempt that never got a connection (it timed out waiting for one) is reported as started,
// without an endpoint, before its end.
TEST_F(RouterTest, AttemptObserverHearsTheStartOfAnAttemptWithoutAConnection) {
  route_.timeout = 1s;
  callbacks_.streamInfo().attempt_observer = &observer_;
  request();
  start();
  advance(1s);
  EXPECT_EQ(clientStatus(), 504);
  EXPECT_EQ(observer_.events, (std::vector<std::string>{
                                  "start legacy (no endpoint)",
                                  "end 0: timed out waiting for the response",
                              }));
}

// Likewise for an attempt whose client went away while it waited for a connection.
TEST_F(RouterTest, AttemptObserverHearsTheStartOfAnAttemptAbandonedWhileWaiting) {
  callbacks_.streamInfo().attempt_observer = &observer_;
  request();
  start();
  finish();
  EXPECT_EQ(observer_.events, (std::vector<std::string>{
                                  "start legacy (no endpoint)",
                                  "end 0: the request ended before the response (client gone)",
                              }));
}

}  // namespace
}  // namespace switchyard::router
