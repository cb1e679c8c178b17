// The router's fallback to a route's stable version: which failures and requests take it, what
// the fallback attempt sends, and what the failing version's books still see. Simulated time.
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <chrono>
#include <memory>
#include <string>

#include "config/config.h"
#include "filters/retry/config.h"
#include "filters/retry/retry_filter.h"
#include "proxy/router/route_table.h"
#include "proxy/router/router.h"
#include "proxy/stats/stats.h"
#include "proxy/upstream/runtime_state.h"
#include "tests/support/activation.h"
#include "tests/support/fake_filter_callbacks.h"
#include "tests/support/fake_pool.h"
#include "tests/support/quiet_logs.h"

namespace switchyard::router {
namespace {

using namespace std::chrono_literals;
using test::FakePool;

config::ClusterConfig cluster(const std::string& name, const std::string& host) {
  config::ClusterConfig c;
  c.name = name;
  c.endpoints = {{host, 8080, host + ":8080"}};
  c.response_timeout = 1s;
  return c;
}

std::string header(const http::HeaderMap& headers, std::string_view name) {
  const std::string_view* value = headers.get(name);
  return value == nullptr ? "" : std::string(*value);
}

// Route `api`: v2 on `modern` falls back to v1 on `legacy`, with v1 rewriting /api/v2/ paths.
class FallbackTest : public testing::Test {
 protected:
  FallbackTest() {
    route_.name = "api";
    route_.prefix = "/api/";
    route_.timeout = 0ms;
    route_.upstream_header = "x-upstream-cluster";
    route_.versioned = true;
    v1_rewrite_.prefix = "/api/v2/";
    v1_rewrite_.to = "/api/v1/";
    fallback_.version = "v1";
    callbacks_.streamInfo().downstream_address = "192.0.2.7";
  }
  void TearDown() override {
    if (router_) router_->onDestroy();
    router_.reset();
    modern_->expectQuiescent();
    legacy_->expectQuiescent();
  }

  void start(const std::string& method, const std::string& path, bool end_stream = true) {
    http::RequestHeaders& h = callbacks_.requestHeaders();
    h.method = method;
    h.path = path;
    route_.targets.resize(2);
    Target& v1 = route_.targets[0];
    v1.config = &v1_config_;
    v1.version = "v1";
    v1.pools = {legacy_.get()};
    v1.clusters = {&legacy_cluster_};
    v1.policies = {&no_policy_};
    v1.rewrites = {&v1_rewrite_};
    v1.extras = true;
    v1.stats = &v1_stats_;
    Target& v2 = route_.targets[1];
    v2.config = &v2_config_;
    v2.version = "v2";
    v2.pools = {modern_.get()};
    v2.clusters = {&modern_cluster_};
    v2.policies = {&v2_policy_};
    v2.stats = &v2_stats_;
    v2.fallback = &v1;
    v2.fallback_config = &fallback_;
    v2.extras = true;
    decision_.route = &route_;
    decision_.target = &v2;
    decision_.pool = modern_.get();
    decision_.cluster = &modern_cluster_;
    decision_.policy = &v2_policy_;
    router_ = std::make_unique<Router>(ctx_, decision_);
    callbacks_.attach(*router_);
    router_->decodeHeaders(h, end_stream);
  }
  // The retry filter's policy for v2's cluster, as the server activates it.
  void useRetry(const filters::retry::RetryConfig& config) {
    retry_factory_ = std::make_unique<filters::retry::RetryFilterFactory>(config, nullptr);
    test::activate(*retry_factory_, test::clustersConfig({"modern"}), state_);
    retry_factory_->contributePolicy({"api", "v2", "modern", nullptr}, v2_policy_);
    ASSERT_NE(v2_policy_.retry, nullptr);
  }
  int clientStatus() const {
    if (!callbacks_.localReplies().empty()) return callbacks_.lastLocalReply().status;
    return callbacks_.encodedHeaders() != nullptr ? callbacks_.encodedHeaders()->status : 0;
  }
  double fallbacks() {
    return stats_.fallbacks.Add({{"route", "api"}, {"from", "v2"}, {"to", "v1"}}).Value();
  }

  test::QuietLogs quiet_;
  test::FakeFilterCallbacks callbacks_{42};
  RouterContext ctx_{callbacks_.timeSource()};
  config::ClusterConfig modern_cluster_ = cluster("modern", "10.0.0.2");
  config::ClusterConfig legacy_cluster_ = cluster("legacy", "10.0.0.1");
  std::unique_ptr<FakePool> modern_ =
      std::make_unique<FakePool>(modern_cluster_, callbacks_.simulatedDispatcher());
  std::unique_ptr<FakePool> legacy_ =
      std::make_unique<FakePool>(legacy_cluster_, callbacks_.simulatedDispatcher());
  prometheus::Registry registry_;
  stats::ProxyStats stats_{registry_};
  stats::RouteStats v1_stats_{stats_, "api", "v1"};
  stats::RouteStats v2_stats_{stats_, "api", "v2"};
  UpstreamPolicy no_policy_;
  UpstreamPolicy v2_policy_;
  upstream::RuntimeStateRegistry state_;
  std::unique_ptr<filters::retry::RetryFilterFactory> retry_factory_;
  config::TargetConfig v1_config_;
  config::TargetConfig v2_config_;
  config::PathRewrite v1_rewrite_;
  config::FallbackConfig fallback_;
  RouteEntry route_;
  RouteDecision decision_;
  std::unique_ptr<Router> router_;
};

TEST_F(FallbackTest, A503FromV2IsAnsweredByV1MarkedAndCounted) {
  start("GET", "/api/v2/orders?page=2");
  test::FakeUpstreamConnection& failed = modern_->ready();
  EXPECT_EQ(failed.head()->path, "/api/v2/orders?page=2");
  failed.respond(503, true);
  EXPECT_EQ(clientStatus(), 0);  // nothing reached the client
  EXPECT_FALSE(failed.releasedReusable());
  EXPECT_EQ(legacy_->newStreamCalls(), 0u);  // started from the loop, not inside the callback
  callbacks_.advance(0ms);
  ASSERT_EQ(legacy_->newStreamCalls(), 1u);
  test::FakeUpstreamConnection& conn = legacy_->ready();
  EXPECT_EQ(conn.head()->path, "/api/v1/orders?page=2");  // v1's rewrite, query kept
  EXPECT_EQ(conn.headHeader("x-api-version"), "v1");
  conn.respond(200, true);
  ASSERT_EQ(clientStatus(), 200);
  EXPECT_EQ(header(callbacks_.encodedHeaders()->headers, "x-switchyard-fallback"), "v1");
  EXPECT_EQ(header(callbacks_.encodedHeaders()->headers, "x-upstream-cluster"), "legacy");
  // The version's guard records v2's failure, not v1's answer.
  EXPECT_EQ(callbacks_.streamInfo().observed_status, 503);
  EXPECT_EQ(fallbacks(), 1);
  EXPECT_EQ(modern_->requestsWithCode(503), 1);
}

TEST_F(FallbackTest, ConnectFailureResetAndTimeoutFallBackByDefault) {
  start("GET", "/api/orders");
  modern_->fail(upstream::PoolFailure::ConnectFailed, "refused");
  callbacks_.advance(0ms);
  legacy_->ready().respond(200, true);
  EXPECT_EQ(clientStatus(), 200);
  EXPECT_EQ(callbacks_.streamInfo().observed_status, 502);
}

TEST_F(FallbackTest, NoEndpointAndAFullPoolFallBackWithTheBodyNeverSent) {
  // A body without a retry filter: v2 never got any of it, so all of it goes to v1.
  callbacks_.requestHeaders().content_length = 2;
  start("PUT", "/api/orders/1", false);
  http::Buffer body(std::string_view("{}"));
  router_->decodeData(body, true);
  modern_->fail(upstream::PoolFailure::NoEndpoint, "cluster modern has no endpoint");
  callbacks_.advance(0ms);
  test::FakeUpstreamConnection& conn = legacy_->ready();
  EXPECT_EQ(conn.body(), "{}");
  conn.respond(200, true);
  EXPECT_EQ(clientStatus(), 200);
  EXPECT_EQ(header(callbacks_.encodedHeaders()->headers, "x-switchyard-fallback"), "v1");
  // The version's guard sees the 503 it would have given.
  EXPECT_EQ(callbacks_.streamInfo().observed_status, 503);
  EXPECT_EQ(fallbacks(), 1);
}

TEST_F(FallbackTest, APoolOverflowFallsBackUnlessOnLeavesItOut) {
  start("GET", "/api/orders");
  modern_->fail(upstream::PoolFailure::Overflow, "queue full");
  callbacks_.advance(0ms);
  legacy_->ready().respond(200, true);
  EXPECT_EQ(clientStatus(), 200);
  EXPECT_EQ(fallbacks(), 1);
}

TEST_F(FallbackTest, RefusalsLeftOutOfOnGetTheir503) {
  fallback_.on_overloaded = false;
  fallback_.on_no_endpoint = false;
  start("GET", "/api/orders");
  modern_->fail(upstream::PoolFailure::Overflow, "queue full");
  EXPECT_EQ(clientStatus(), 503);
  EXPECT_EQ(legacy_->newStreamCalls(), 0u);
  EXPECT_EQ(fallbacks(), 0);
}

TEST_F(FallbackTest, ATimeoutFallsBackWithWhatIsLeftOfTheDeadline) {
  route_.timeout = 1000ms;
  start("GET", "/api/orders");
  modern_->ready();
  callbacks_.advance(1000ms);  // v2's attempt times out: no time is left for a fallback
  EXPECT_EQ(clientStatus(), 504);
  EXPECT_EQ(legacy_->newStreamCalls(), 0u);
  EXPECT_EQ(header(callbacks_.lastLocalReply().headers, "x-switchyard-fallback"), "");
}

TEST_F(FallbackTest, AResetFallsBackWhileTimeIsLeft) {
  route_.timeout = 1000ms;
  start("GET", "/api/orders");
  test::FakeUpstreamConnection& conn = modern_->ready();
  callbacks_.advance(300ms);
  conn.reset();
  callbacks_.advance(0ms);
  ASSERT_EQ(legacy_->newStreamCalls(), 1u);
  legacy_->ready();
  callbacks_.advance(700ms);  // the rest of the deadline
  EXPECT_EQ(clientStatus(), 504);
  EXPECT_EQ(header(callbacks_.lastLocalReply().headers, "x-switchyard-fallback"), "v1");
}

TEST_F(FallbackTest, StatusesNotListedAndNonIdempotentRequestsDoNotFallBack) {
  fallback_.statuses = {503};
  start("GET", "/api/orders");
  modern_->ready().respond(502, true);
  EXPECT_EQ(clientStatus(), 502);
  EXPECT_EQ(legacy_->newStreamCalls(), 0u);
  EXPECT_EQ(callbacks_.streamInfo().observed_status, 0);
}

TEST_F(FallbackTest, APostFallsBackOnlyWithAnIdempotencyKey) {
  start("POST", "/api/orders");
  modern_->ready().respond(503, true);
  EXPECT_EQ(clientStatus(), 503);
  EXPECT_EQ(legacy_->newStreamCalls(), 0u);
  EXPECT_EQ(fallbacks(), 0);
}

TEST_F(FallbackTest, APostWithAnOperationIdFallsBack) {
  callbacks_.requestHeaders().headers.add("x-operation-id", "op-1");
  start("POST", "/api/orders");
  modern_->ready().respond(503, true);
  callbacks_.advance(0ms);
  legacy_->ready().respond(201, true);
  EXPECT_EQ(clientStatus(), 201);
}

TEST_F(FallbackTest, ABodyNobodyKeptIsNotSentTwice) {
  callbacks_.requestHeaders().content_length = 2;
  start("PUT", "/api/orders/1", false);
  test::FakeUpstreamConnection& conn = modern_->ready();
  http::Buffer body(std::string_view("{}"));
  router_->decodeData(body, true);
  conn.respond(503, true);
  EXPECT_EQ(clientStatus(), 503);
  EXPECT_EQ(legacy_->newStreamCalls(), 0u);
}

TEST_F(FallbackTest, ABodyTheRetryFilterKeptIsSentToTheFallbackAfterTheRetries) {
  filters::retry::RetryConfig config;
  config.max_retries = 1;
  config.base_interval = 10ms;
  useRetry(config);
  callbacks_.requestHeaders().content_length = 9;
  start("PUT", "/api/v2/orders/1", false);
  test::FakeUpstreamConnection& first = modern_->ready();
  http::Buffer body(std::string_view("{\"qty\":3}"));
  router_->decodeData(body, true);
  EXPECT_EQ(first.body(), "{\"qty\":3}");
  first.respond(502, true);
  callbacks_.advance(10ms);  // the retry's backoff (at most base_interval)
  ASSERT_EQ(modern_->newStreamCalls(), 2u);
  test::FakeUpstreamConnection& second = modern_->ready();
  EXPECT_EQ(second.body(), "{\"qty\":3}");
  second.respond(502, true);
  callbacks_.advance(0ms);
  ASSERT_EQ(legacy_->newStreamCalls(), 1u);
  test::FakeUpstreamConnection& conn = legacy_->ready();
  EXPECT_EQ(conn.head()->path, "/api/v1/orders/1");
  EXPECT_EQ(conn.body(), "{\"qty\":3}");
  conn.respond(200, true);
  EXPECT_EQ(clientStatus(), 200);
  EXPECT_TRUE(conn.releasedReusable());
}

TEST_F(FallbackTest, NoFallbackOnceTheResponseStarted) {
  start("GET", "/api/orders");
  test::FakeUpstreamConnection& conn = modern_->ready();
  conn.respond(200, false, {{"content-length", "10"}});
  conn.respondBody("hello", false);
  conn.reset();
  callbacks_.advance(0ms);
  EXPECT_EQ(legacy_->newStreamCalls(), 0u);
  EXPECT_EQ(fallbacks(), 0);
}

TEST_F(FallbackTest, TheFallbackIsTakenOnceEvenIfItFailsToo) {
  start("GET", "/api/orders");
  modern_->ready().respond(503, true);
  callbacks_.advance(0ms);
  legacy_->ready().respond(503, true);
  EXPECT_EQ(clientStatus(), 503);
  EXPECT_EQ(header(callbacks_.encodedHeaders()->headers, "x-switchyard-fallback"), "v1");
  callbacks_.advance(10ms);
  EXPECT_EQ(modern_->newStreamCalls(), 1u);
  EXPECT_EQ(legacy_->newStreamCalls(), 1u);
}

}  // namespace
}  // namespace switchyard::router
