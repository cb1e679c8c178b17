#include "filters/cache/cache_filter.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <yaml-cpp/yaml.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "config/config_error.h"
#include "config/loader.h"
#include "proxy/http/headers.h"
#include "proxy/upstream/runtime_state.h"
#include "tests/support/activation.h"
#include "tests/support/fake_filter_callbacks.h"
#include "tests/support/fake_pool.h"

namespace switchyard::filters::cache {
namespace {

using namespace std::chrono_literals;
using Fields = std::vector<std::pair<std::string, std::string>>;
using http::FilterHeadersStatus;

std::string field(const http::HeaderMap& headers, std::string_view name) {
  const std::string_view* v = headers.get(name);
  return v != nullptr ? std::string(*v) : std::string("<absent>");
}

// One request through the filter, and through a stand-in upstream when the filter lets it pass.
struct Exchange {
  std::unique_ptr<test::FakeFilterCallbacks> callbacks;
  http::StreamFilterPtr filter;
  FilterHeadersStatus status = FilterHeadersStatus::Continue;
  http::ResponseHeadersPtr upstream;  // the upstream response as it left the filter
  bool forwarded = false;

  // The response the client got: served by the filter, replaced, or the upstream's.
  const http::ResponseHeaders& response() const {
    if (callbacks->encodedHeaders() != nullptr) return *callbacks->encodedHeaders();
    return *upstream;
  }
  std::string header(std::string_view name) const { return field(response().headers, name); }
  bool served() const { return !forwarded; }
};

class CacheFilterTest : public ::testing::Test {
 protected:
  void SetUp() override { configure("{}"); }

  void configure(const std::string& yaml, const std::string& route_yaml = "") {
    factory_ = std::make_unique<CacheFilterFactory>(
        parseCacheConfig(YAML::Load(yaml), "filters[0].cache"), metrics_);
    test::activate(*factory_, config::Config{}, state_);
    route_.reset();
    if (!route_yaml.empty()) {
      route_ =
          factory_->parseRouteConfig(YAML::Load(route_yaml), "routes[0].filters.cache", nullptr);
    }
  }

  // Sends `method target` with `request_fields`; when it goes upstream, answers with `status`,
  // `response_fields` and `body`.
  Exchange send(const std::string& method, const std::string& target, const Fields& request_fields,
                int status = 200, const Fields& response_fields = {},
                const std::string& body = "hello") {
    Exchange x = begin(method, target, request_fields);
    if (x.status == FilterHeadersStatus::StopIteration) return x;
    answer(x, status, response_fields, body);
    return x;
  }
  // The request half of send().
  Exchange begin(const std::string& method, const std::string& target,
                 const Fields& request_fields) {
    Exchange x;
    x.callbacks = std::make_unique<test::FakeFilterCallbacks>();
    http::StreamInfo& info = x.callbacks->streamInfo();
    info.route_name = "api";
    info.cluster = "modern";
    info.forwarded_proto = "http";
    http::RequestHeaders& request = x.callbacks->requestHeaders();
    request.method = method;
    request.path = target;
    request.headers.add("host", "api.example.com");
    for (const auto& [n, v] : request_fields) request.headers.add(n, v);
    x.callbacks->setRouteConfig(route_.get());
    x.filter = std::make_unique<CacheFilter>(*factory_, time_, worker_state_);
    x.callbacks->attach(*x.filter);
    x.status = x.filter->decodeHeaders(request, true);
    return x;
  }
  // The upstream's answer to a request that went on (the response half of send()).
  void answer(Exchange& x, int status, const Fields& response_fields, const std::string& body) {
    x.forwarded = true;
    x.upstream = http::makeResponseHeaders();
    x.upstream->status = status;
    for (const auto& [n, v] : response_fields) x.upstream->headers.add(n, v);
    const std::string& method = x.callbacks->requestHeaders().method;
    const bool has_body = method != "HEAD" && !body.empty();
    if (has_body) {
      x.upstream->headers.add("content-length", std::to_string(body.size()));
      x.upstream->content_length = static_cast<int64_t>(body.size());
    }
    x.filter->encodeHeaders(*x.upstream, !has_body);
    if (has_body && x.callbacks->replaceResponseCalls() == 0) {
      http::Buffer data(body);
      x.filter->encodeData(data, true);
    }
  }
  Exchange get(const std::string& target, const Fields& request_fields = {},
               const Fields& response_fields = {{"cache-control", "max-age=60"}},
               const std::string& body = "hello") {
    return send("GET", target, request_fields, 200, response_fields, body);
  }

  double lookups(const std::string& result) {
    for (const auto& family : metrics_.Collect()) {
      if (family.name != "switchyard_cache_lookups_total") continue;
      for (const auto& m : family.metric) {
        for (const auto& l : m.label) {
          if (l.name == "result" && l.value == result) return m.counter.value;
        }
      }
    }
    return 0;
  }

  // A worker for background refreshes, with `pool_` as every cluster's pool.
  CacheWorkerState& worker() {
    if (worker_state_ == nullptr) {
      config::ClusterConfig cluster;
      cluster.name = "modern";
      cluster.endpoints = {{"10.0.0.1", 8080, "10.0.0.1:8080"}};
      cluster.response_timeout = 15s;
      pool_ = std::make_shared<test::FakePool>(cluster, dispatcher_);
      worker_context_.upstream_pool = [this](std::string_view) { return pool_; };
      local_ = factory_->workerLocal(worker_context_, nullptr);
      worker_state_ = static_cast<CacheWorkerState*>(local_.get());
    }
    return *worker_state_;
  }
  double refreshes(const std::string& result) {
    for (const auto& family : metrics_.Collect()) {
      if (family.name != "switchyard_cache_refreshes_total") continue;
      for (const auto& m : family.metric) {
        if (m.label[0].value == result) return m.counter.value;
      }
    }
    return 0;
  }

  common::SimulatedTimeSource time_;
  event::SimulatedDispatcher dispatcher_{time_};
  common::SeededRandom random_{1};
  WorkerContext worker_context_{dispatcher_, random_, time_, 0, nullptr, nullptr};
  std::shared_ptr<test::FakePool> pool_;
  WorkerLocalPtr local_;
  CacheWorkerState* worker_state_ = nullptr;
  prometheus::Registry metrics_;
  upstream::RuntimeStateRegistry state_;
  std::unique_ptr<CacheFilterFactory> factory_;
  RouteFilterConfigPtr route_;
};

TEST_F(CacheFilterTest, AMissIsStoredAndTheNextRequestIsAHitWithItsAge) {
  Exchange miss = get("/orders");
  ASSERT_TRUE(miss.forwarded);
  EXPECT_EQ(miss.header("cache-status"), "Switchyard; fwd=uri-miss; fwd-status=200; stored");

  time_.advance(10s);
  Exchange hit = get("/orders");
  ASSERT_TRUE(hit.served());
  EXPECT_EQ(hit.response().status, 200);
  EXPECT_EQ(hit.callbacks->encodedBody(), "hello");
  EXPECT_EQ(hit.header("age"), "10");
  EXPECT_EQ(hit.header("cache-status"), "Switchyard; hit; ttl=50");
  EXPECT_EQ(hit.header("cache-control"), "max-age=60");
  EXPECT_EQ(hit.header("content-length"), "5");
  EXPECT_EQ(lookups("hit"), 1);
  EXPECT_EQ(lookups("miss"), 1);

  // Expired: forwarded again (and stored again).
  time_.advance(51s);
  Exchange again = get("/orders");
  EXPECT_TRUE(again.forwarded);
  EXPECT_EQ(again.header("cache-status"), "Switchyard; fwd=stale; fwd-status=200; stored");
  EXPECT_TRUE(get("/orders").served());
  // Another query is another resource.
  EXPECT_TRUE(get("/orders?page=2").forwarded);
}

TEST_F(CacheFilterTest, HeadIsAnsweredFromAStoredGetButNeverStored) {
  Exchange head = send("HEAD", "/h", {}, 200, {{"cache-control", "max-age=60"}});
  EXPECT_TRUE(head.forwarded);
  EXPECT_EQ(head.header("cache-status"), "Switchyard; fwd=uri-miss; fwd-status=200");
  EXPECT_TRUE(get("/h").forwarded) << "a stored HEAD never answers a GET";

  Exchange from_get = send("HEAD", "/h", {});
  ASSERT_TRUE(from_get.served());
  EXPECT_EQ(from_get.header("content-length"), "5");
  EXPECT_EQ(from_get.callbacks->encodedBody(), "");
  EXPECT_TRUE(from_get.callbacks->encodeEnded());
}

TEST_F(CacheFilterTest, WhatASharedCacheMustNotReuseIsNeverReused) {
  const std::vector<Fields> never = {
      {{"cache-control", "no-store"}},
      {{"cache-control", "private, max-age=60"}},
      {{"cache-control", "max-age=60"}, {"set-cookie", "session=abc"}},
      {{"cache-control", "max-age=60"}, {"vary", "*"}},
  };
  int n = 0;
  for (const Fields& response : never) {
    const std::string target = "/never/" + std::to_string(n++);
    Exchange first = get(target, {}, response);
    EXPECT_EQ(first.header("cache-status").find("stored"), std::string::npos) << target;
    EXPECT_TRUE(get(target, {}, response).forwarded) << target;
  }
  // A request with Authorization: only what the response made public.
  EXPECT_TRUE(get("/auth", {{"authorization", "Bearer x"}}).forwarded);
  EXPECT_TRUE(get("/auth", {{"authorization", "Bearer x"}}).forwarded);
  get("/auth-public", {{"authorization", "Bearer x"}}, {{"cache-control", "public, max-age=60"}});
  EXPECT_TRUE(get("/auth-public", {{"authorization", "Bearer x"}}).served());
  // A request with no-store stores nothing.
  get("/asked", {{"cache-control", "no-store"}});
  EXPECT_TRUE(get("/asked").forwarded);
  // Errors the upstream did not make cacheable are not stored.
  send("GET", "/err", {}, 500, {});
  EXPECT_TRUE(get("/err").forwarded);
}

TEST_F(CacheFilterTest, VariantsAreKeptApart) {
  const Fields vary = {{"cache-control", "max-age=60"}, {"vary", "Accept-Language"}};
  get("/v", {{"accept-language", "en"}}, vary, "english");
  get("/v", {{"accept-language", "fr"}}, vary, "french");
  Exchange en = get("/v", {{"accept-language", " en "}});
  ASSERT_TRUE(en.served());
  EXPECT_EQ(en.callbacks->encodedBody(), "english");
  Exchange fr = get("/v", {{"accept-language", "fr"}});
  ASSERT_TRUE(fr.served());
  EXPECT_EQ(fr.callbacks->encodedBody(), "french");
  Exchange de = get("/v", {{"accept-language", "de"}}, vary, "german");
  EXPECT_TRUE(de.forwarded);
  EXPECT_EQ(de.header("cache-status"), "Switchyard; fwd=vary-miss; fwd-status=200; stored");
}

TEST_F(CacheFilterTest, ConditionalRequestsGet304FromAMatchingEntry) {
  get("/c", {},
      {{"cache-control", "max-age=60"},
       {"etag", "\"v1\""},
       {"last-modified", "Sun, 06 Nov 1994 08:49:37 GMT"},
       {"content-type", "text/plain"}});
  Exchange inm = get("/c", {{"if-none-match", "\"v0\", W/\"v1\""}});
  ASSERT_TRUE(inm.served());
  EXPECT_EQ(inm.response().status, 304);
  EXPECT_EQ(inm.header("etag"), "\"v1\"");
  EXPECT_EQ(inm.header("content-type"), "<absent>");
  EXPECT_EQ(inm.callbacks->encodedBody(), "");
  EXPECT_EQ(get("/c", {{"if-none-match", "\"v2\""}}).response().status, 200);
  EXPECT_EQ(get("/c", {{"if-modified-since", "Sun, 06 Nov 1994 08:49:37 GMT"}}).response().status,
            304);
  EXPECT_EQ(get("/c", {{"if-modified-since", "Sat, 05 Nov 1994 08:49:37 GMT"}}).response().status,
            200);
}

TEST_F(CacheFilterTest, AStaleEntryIsRevalidatedAndA304RefreshesIt) {
  get("/v", {},
      {{"cache-control", "max-age=10"},
       {"etag", "\"v1\""},
       {"content-type", "text/plain"},
       {"x-version", "1"}},
      "stored body");
  time_.advance(20s);
  // The stored validator goes upstream in place of the client's own conditional.
  Exchange x = send("GET", "/v", {{"if-none-match", "\"other\""}}, 304,
                    {{"cache-control", "max-age=100"}, {"x-version", "2"}}, "");
  EXPECT_EQ(field(x.callbacks->requestHeaders().headers, "if-none-match"), "\"v1\"");
  ASSERT_EQ(x.callbacks->replaceResponseCalls(), 1);
  EXPECT_EQ(x.response().status, 200);
  EXPECT_EQ(x.callbacks->encodedBody(), "stored body");
  EXPECT_EQ(x.header("x-version"), "2");
  EXPECT_EQ(x.header("content-type"), "text/plain");
  EXPECT_EQ(x.header("content-length"), "11");
  EXPECT_EQ(x.header("cache-status"), "Switchyard; fwd=stale; fwd-status=304; ttl=100; stored");
  EXPECT_EQ(lookups("revalidated"), 1);
  EXPECT_EQ(lookups("miss"), 1);  // the first request only

  // Fresh again for the 304's max-age, with the 304's fields.
  time_.advance(50s);
  Exchange hit = get("/v");
  ASSERT_TRUE(hit.served());
  EXPECT_EQ(hit.header("x-version"), "2");
  EXPECT_EQ(hit.header("age"), "50");
  EXPECT_EQ(hit.callbacks->encodedBody(), "stored body");

  // Stale again: a client's matching conditional gets a 304 from the refreshed entry, and a HEAD
  // gets the head without a body.
  time_.advance(60s);
  Exchange conditional = send("GET", "/v", {{"if-none-match", "\"v1\""}}, 304, {}, "");
  EXPECT_EQ(conditional.response().status, 304);
  EXPECT_EQ(conditional.callbacks->encodedBody(), "");
  time_.advance(200s);
  Exchange head = send("HEAD", "/v", {}, 304, {{"cache-control", "max-age=100"}}, "");
  EXPECT_EQ(head.response().status, 200);
  EXPECT_EQ(head.header("content-length"), "11");
  EXPECT_EQ(head.callbacks->encodedBody(), "");

  // A 200 instead of a 304: the new response goes to the client and replaces the entry.
  time_.advance(200s);
  Exchange changed = send("GET", "/v", {}, 200, {{"cache-control", "max-age=60"}}, "new body");
  EXPECT_EQ(changed.callbacks->replaceResponseCalls(), 0);
  EXPECT_EQ(changed.header("cache-status"), "Switchyard; fwd=stale; fwd-status=200; stored");
  Exchange after = get("/v");
  ASSERT_TRUE(after.served());
  EXPECT_EQ(after.callbacks->encodedBody(), "new body");

  // Only Last-Modified: If-Modified-Since goes upstream. No validator: nothing conditional.
  get("/lm", {},
      {{"cache-control", "max-age=1"}, {"last-modified", "Sun, 06 Nov 1994 08:49:37 GMT"}});
  get("/none", {}, {{"cache-control", "max-age=1"}});
  time_.advance(5s);
  Exchange lm = get("/lm");
  EXPECT_EQ(field(lm.callbacks->requestHeaders().headers, "if-modified-since"),
            "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(field(lm.callbacks->requestHeaders().headers, "if-none-match"), "<absent>");
  Exchange none = get("/none", {{"if-none-match", "\"mine\""}});
  EXPECT_EQ(field(none.callbacks->requestHeaders().headers, "if-none-match"), "\"mine\"");
}

TEST_F(CacheFilterTest, A304ThatForbidsStoringRemovesTheEntryButAnswersThisRequest) {
  get("/n", {}, {{"cache-control", "max-age=1"}, {"etag", "\"a\""}}, "body");
  time_.advance(5s);
  Exchange x = send("GET", "/n", {}, 304, {{"cache-control", "no-store"}}, "");
  EXPECT_EQ(x.response().status, 200);
  EXPECT_EQ(x.callbacks->encodedBody(), "body");
  EXPECT_EQ(x.header("cache-status"), "Switchyard; fwd=stale; fwd-status=304; ttl=-4");
  EXPECT_TRUE(get("/n").forwarded);
  EXPECT_EQ(factory_->store().stats().entries, 1u);  // the last request's response
}

TEST_F(CacheFilterTest, ConcurrentMissesWaitForTheFirstAndAreAnsweredFromTheStore) {
  Exchange leader = begin("GET", "/hot", {});
  ASSERT_EQ(leader.status, FilterHeadersStatus::Continue);
  std::vector<Exchange> waiters;
  for (int i = 0; i < 3; ++i) {
    waiters.push_back(begin("GET", "/hot", {}));
    ASSERT_EQ(waiters.back().status, FilterHeadersStatus::StopIteration);
  }
  // A request that asks for something newer, or its own conditional, does not wait.
  EXPECT_EQ(begin("GET", "/hot", {{"cache-control", "no-cache"}}).status,
            FilterHeadersStatus::Continue);
  EXPECT_EQ(begin("GET", "/hot", {{"if-none-match", "\"x\""}}).status,
            FilterHeadersStatus::Continue);
  EXPECT_EQ(factory_->coalescer().waiting(), 3u);

  answer(leader, 200, {{"cache-control", "max-age=60"}}, "shared body");
  EXPECT_EQ(factory_->coalescer().inFlight(), 0u);
  for (Exchange& w : waiters) {
    EXPECT_EQ(w.callbacks->encodedHeaders(), nullptr);  // woken only on its own loop
    w.callbacks->simulatedDispatcher().runPosted();
    ASSERT_NE(w.callbacks->encodedHeaders(), nullptr);
    EXPECT_EQ(w.callbacks->encodedBody(), "shared body");
    EXPECT_EQ(w.header("cache-status").rfind("Switchyard; hit; ttl=60", 0), 0u)
        << w.header("cache-status");
    EXPECT_EQ(w.callbacks->continueDecodingCalls(), 0);
  }
  EXPECT_EQ(lookups("coalesced"), 3);
  EXPECT_EQ(lookups("miss"), 1);  // the leader (the two that did not wait count at their end)
}

TEST_F(CacheFilterTest, WaitersGoUpstreamWhenTheAnswerCannotBeSharedOrTakesTooLong) {
  configure("{coalesce_timeout: 2s, max_coalesced: 1}");
  // An uncacheable answer: the waiter goes on, and later requests skip the queue (bypass).
  Exchange leader = begin("GET", "/private", {});
  Exchange waiter = begin("GET", "/private", {});
  ASSERT_EQ(waiter.status, FilterHeadersStatus::StopIteration);
  EXPECT_EQ(begin("GET", "/private", {}).status, FilterHeadersStatus::Continue);  // over the cap
  answer(leader, 200, {{"cache-control", "private"}}, "mine");
  waiter.callbacks->simulatedDispatcher().runPosted();
  EXPECT_EQ(waiter.callbacks->continueDecodingCalls(), 1);
  Exchange passing = begin("GET", "/private", {});
  EXPECT_EQ(passing.status, FilterHeadersStatus::Continue);
  Exchange behind = begin("GET", "/private", {});
  EXPECT_EQ(behind.status, FilterHeadersStatus::Continue);  // not queued behind `passing`
  answer(passing, 200, {{"cache-control", "private"}}, "mine");
  EXPECT_EQ(lookups("bypass"), 1);
  // When the key turns cacheable, a bypassing request stores it and the mark goes.
  answer(behind, 200, {{"cache-control", "max-age=60"}}, "public now");
  EXPECT_EQ(factory_->coalescer().marked(), 0u);

  // A leader that takes too long: the waiter gives up after coalesce_timeout.
  Exchange slow = begin("GET", "/slow", {});
  Exchange patient = begin("GET", "/slow", {});
  ASSERT_EQ(patient.status, FilterHeadersStatus::StopIteration);
  patient.callbacks->advance(1999ms);
  EXPECT_EQ(patient.callbacks->continueDecodingCalls(), 0);
  patient.callbacks->advance(1ms);
  EXPECT_EQ(patient.callbacks->continueDecodingCalls(), 1);
  EXPECT_EQ(factory_->coalescer().waiting(), 0u);

  // A leader whose client goes away: the waiter goes upstream, and the key is not marked.
  Exchange gone = begin("GET", "/gone", {});
  Exchange left = begin("GET", "/gone", {});
  gone.filter->onDestroy();
  left.callbacks->simulatedDispatcher().runPosted();
  EXPECT_EQ(left.callbacks->continueDecodingCalls(), 1);
  EXPECT_EQ(begin("GET", "/gone", {}).status, FilterHeadersStatus::Continue);
  // A waiter whose client went away is not woken.
  Exchange again = begin("GET", "/again", {});
  Exchange quitter = begin("GET", "/again", {});
  quitter.filter->onDestroy();
  EXPECT_EQ(factory_->coalescer().waiting(), 0u);
  answer(again, 200, {{"cache-control", "max-age=60"}}, "x");
  quitter.callbacks->simulatedDispatcher().runPosted();
  EXPECT_EQ(quitter.callbacks->continueDecodingCalls(), 0);
  slow.filter->onDestroy();
}

TEST_F(CacheFilterTest, StaleWhileRevalidateServesStaleAndRefreshesOncePerKeyInTheBackground) {
  worker();
  get("/swr", {},
      {{"cache-control", "max-age=1, stale-while-revalidate=60"},
       {"etag", "\"e1\""},
       {"x-version", "1"}},
      "old");
  time_.advance(5s);
  Exchange stale = get("/swr", {{"accept", "text/plain"}});
  ASSERT_TRUE(stale.served());
  EXPECT_EQ(stale.callbacks->encodedBody(), "old");
  EXPECT_EQ(stale.header("cache-status"), "Switchyard; hit; ttl=-4; detail=stale_while_revalidate");
  EXPECT_EQ(stale.header("age"), "5");
  // One refresh for the key, however many stale answers.
  ASSERT_EQ(pool_->newStreamCalls(), 1u);
  EXPECT_TRUE(get("/swr").served());
  EXPECT_EQ(pool_->newStreamCalls(), 1u);
  EXPECT_EQ(lookups("stale"), 2);

  test::FakeUpstreamConnection& conn = pool_->ready();
  ASSERT_NE(conn.head(), nullptr);
  EXPECT_EQ(conn.head()->method, "GET");
  EXPECT_EQ(conn.head()->path, "/swr");
  EXPECT_EQ(conn.headHeader("host"), "api.example.com");
  EXPECT_EQ(conn.headHeader("if-none-match"), "\"e1\"");
  conn.respond(304, true,
               {{"cache-control", "max-age=100, stale-while-revalidate=60"}, {"x-version", "2"}});
  EXPECT_TRUE(conn.releasedReusable());
  EXPECT_EQ(refreshes("stored"), 1);
  EXPECT_EQ(worker().refreshes().active(), 0u);
  Exchange fresh = get("/swr");
  ASSERT_TRUE(fresh.served());
  EXPECT_EQ(fresh.header("cache-status"), "Switchyard; hit; ttl=100");
  EXPECT_EQ(fresh.header("x-version"), "2");
  EXPECT_EQ(fresh.callbacks->encodedBody(), "old");

  // A refresh that fails leaves the entry; the next stale answer tries again.
  time_.advance(120s);
  EXPECT_TRUE(get("/swr").served());
  pool_->fail(upstream::PoolFailure::ConnectFailed);
  EXPECT_EQ(refreshes("failed"), 1);
  EXPECT_EQ(factory_->coalescer().inFlight(), 0u);
  EXPECT_TRUE(get("/swr").served());
  // A new response replaces the entry.
  test::FakeUpstreamConnection& again = pool_->ready();
  again.respond(200, false, {{"cache-control", "max-age=50"}, {"content-length", "3"}});
  again.respondBody("new", true);
  EXPECT_EQ(refreshes("stored"), 2);
  Exchange replaced = get("/swr");
  ASSERT_TRUE(replaced.served());
  EXPECT_EQ(replaced.callbacks->encodedBody(), "new");
  EXPECT_EQ(replaced.header("cache-status"), "Switchyard; hit; ttl=50");

  // Past the window, a stale entry is revalidated by the request itself.
  time_.advance(200s);
  EXPECT_TRUE(get("/swr").forwarded);
  EXPECT_EQ(pool_->newStreamCalls(), 3u);
  EXPECT_TRUE(pool_->expectQuiescent());
}

TEST_F(CacheFilterTest, ARefreshThatTimesOutOrIsCutShortLeavesTheEntry) {
  worker();
  get("/t", {}, {{"cache-control", "max-age=1, stale-while-revalidate=600"}}, "kept");
  time_.advance(2s);
  EXPECT_TRUE(get("/t").served());
  test::FakeUpstreamConnection& slow = pool_->ready();
  dispatcher_.advance(15s);  // the cluster's response timeout
  EXPECT_EQ(refreshes("failed"), 1);
  EXPECT_FALSE(slow.busy());
  EXPECT_TRUE(get("/t").served());
  test::FakeUpstreamConnection& cut = pool_->ready();
  cut.reset();
  EXPECT_EQ(refreshes("failed"), 2);
  EXPECT_TRUE(get("/t").served());
  // An answer that may not be stored: the entry stays, counted as uncacheable.
  test::FakeUpstreamConnection& priv = pool_->ready();
  priv.respond(200, true, {{"cache-control", "private"}});
  EXPECT_EQ(refreshes("uncacheable"), 1);
  Exchange still = get("/t");
  EXPECT_TRUE(still.served());
  EXPECT_EQ(still.callbacks->encodedBody(), "kept");
  // The key is marked uncacheable for 30 s: no refresh meanwhile.
  EXPECT_EQ(pool_->newStreamCalls(), 3u);
  time_.advance(31s);
  EXPECT_TRUE(get("/t").served());
  ASSERT_EQ(pool_->newStreamCalls(), 4u);
  // Destroying the worker's refreshes withdraws what is pending and frees the key.
  local_.reset();
  worker_state_ = nullptr;
  EXPECT_EQ(pool_->cancelled(), 1u);
  EXPECT_EQ(factory_->coalescer().inFlight(), 0u);
}

TEST_F(CacheFilterTest, RequestDirectives) {
  get("/r");
  // no-cache: asks upstream; the answer is stored again.
  Exchange no_cache = get("/r", {{"cache-control", "no-cache"}});
  EXPECT_TRUE(no_cache.forwarded);
  EXPECT_EQ(no_cache.header("cache-status"), "Switchyard; fwd=request; fwd-status=200; stored");
  time_.advance(5s);
  EXPECT_TRUE(get("/r", {{"cache-control", "max-age=2"}}).forwarded);
  // only-if-cached with nothing stored: 504.
  Exchange only = get("/nothing", {{"cache-control", "only-if-cached"}});
  ASSERT_EQ(only.callbacks->localReplies().size(), 1u);
  EXPECT_EQ(only.callbacks->lastLocalReply().status, 504);
  // Unknown directives change nothing.
  EXPECT_TRUE(get("/r", {{"cache-control", "foo"}, {"pragma", "x"}}).served());
}

TEST_F(CacheFilterTest, StaleIfErrorServesTheStoredResponseInsteadOfAnUpstreamFailure) {
  get("/s", {}, {{"cache-control", "max-age=1, stale-if-error=60"}}, "stored body");
  time_.advance(10s);
  Exchange failed = send("GET", "/s", {}, 503, {}, "upstream error");
  ASSERT_EQ(failed.callbacks->replaceResponseCalls(), 1);
  EXPECT_EQ(failed.response().status, 200);
  EXPECT_EQ(failed.callbacks->encodedBody(), "stored body");
  EXPECT_EQ(failed.header("age"), "10");
  EXPECT_EQ(failed.header("cache-status"),
            "Switchyard; fwd=stale; fwd-status=503; ttl=-9; detail=stale-if-error");
  EXPECT_EQ(lookups("stale"), 1);

  // Past the window: the error goes through.
  time_.advance(60s);
  EXPECT_EQ(send("GET", "/s", {}, 503, {}, "upstream error").callbacks->replaceResponseCalls(), 0);

  // must-revalidate forbids it.
  get("/m", {}, {{"cache-control", "max-age=1, must-revalidate, stale-if-error=60"}});
  time_.advance(5s);
  Exchange forbidden = send("GET", "/m", {}, 503, {}, "upstream error");
  EXPECT_EQ(forbidden.callbacks->replaceResponseCalls(), 0);
  EXPECT_EQ(forbidden.response().status, 503);

  // The configured default applies when the response names no window.
  configure("{stale_if_error: 1m}");
  get("/d", {}, {{"cache-control", "max-age=1"}});
  time_.advance(30s);
  EXPECT_EQ(send("GET", "/d", {}, 502, {}, "x").callbacks->replaceResponseCalls(), 1);
}

TEST_F(CacheFilterTest, ASuccessfulUnsafeRequestInvalidatesItsTarget) {
  get("/items/1");
  EXPECT_TRUE(get("/items/1").served());
  send("POST", "/items/1", {}, 500, {});
  EXPECT_TRUE(get("/items/1").served()) << "a failed POST changes nothing";
  send("DELETE", "/items/1", {}, 204, {}, "");
  EXPECT_TRUE(get("/items/1").forwarded);
}

TEST_F(CacheFilterTest, ASuccessfulUnsafeRequestInvalidatesItsSameOriginLocations) {
  get("/items/2");
  get("/items/3");
  get("/items/4");
  send("POST", "/items", {}, 201, {{"location", "/items/2"}}, "");
  EXPECT_TRUE(get("/items/2").forwarded);
  send("PUT", "/items/x", {}, 200, {{"content-location", "HTTP://API.example.com/items/3"}}, "");
  EXPECT_TRUE(get("/items/3").forwarded);
  send("PUT", "/items/y", {}, 200, {{"location", "http://elsewhere.example/items/4"}}, "");
  EXPECT_TRUE(get("/items/4").served()) << "another origin's URI is not ours to invalidate";
}

TEST_F(CacheFilterTest, AnUnreachableUpstreamIs504WhenStaleUseIsForbidden) {
  get("/m", {}, {{"cache-control", "max-age=1, must-revalidate"}});
  time_.advance(5s);
  Exchange x;
  x.callbacks = std::make_unique<test::FakeFilterCallbacks>();
  http::StreamInfo& info = x.callbacks->streamInfo();
  info.route_name = "api";
  info.cluster = "modern";
  info.forwarded_proto = "http";
  x.callbacks->requestHeaders().method = "GET";
  x.callbacks->requestHeaders().path = "/m";
  x.callbacks->requestHeaders().headers.add("host", "api.example.com");
  x.filter = std::make_unique<CacheFilter>(*factory_, time_, nullptr);
  x.callbacks->attach(*x.filter);
  ASSERT_EQ(x.filter->decodeHeaders(x.callbacks->requestHeaders(), true),
            FilterHeadersStatus::Continue);
  // The router could not connect: its local reply comes back through the filter.
  info.local_reply = true;
  auto reply = http::makeResponseHeaders();
  reply->status = 503;
  x.filter->encodeHeaders(*reply, false);
  ASSERT_EQ(x.callbacks->replaceResponseCalls(), 1);
  EXPECT_EQ(x.callbacks->encodedHeaders()->status, 504);
}

TEST_F(CacheFilterTest, RouteBlocks) {
  // A TTL for responses that state no freshness.
  configure("{}", "{ttl: 30s}");
  get("/t", {}, {});
  time_.advance(20s);
  Exchange hit = get("/t");
  ASSERT_TRUE(hit.served());
  EXPECT_EQ(hit.header("cache-status"), "Switchyard; hit; ttl=10");
  // Explicit freshness wins over it.
  get("/explicit", {}, {{"cache-control", "max-age=5"}});
  time_.advance(6s);
  EXPECT_TRUE(get("/explicit").forwarded);

  // Off: nothing is looked up or stored, and no Cache-Status.
  configure("{}", "{enabled: false}");
  Exchange off = get("/o");
  EXPECT_EQ(off.header("cache-status"), "<absent>");
  EXPECT_TRUE(get("/o").forwarded);
}

TEST_F(CacheFilterTest, TagsAreTakenFromTheResponseAndNotPassedOn) {
  Exchange tagged = get("/tagged", {}, {{"cache-control", "max-age=60"}, {"surrogate-key", "a b"}});
  EXPECT_EQ(tagged.header("surrogate-key"), "<absent>");
  EXPECT_EQ(factory_->store().purgeTag("b", PurgeMode::Hard), 1u);
  EXPECT_TRUE(get("/tagged").forwarded);
}

TEST_F(CacheFilterTest, TooLargeResponsesStreamThroughUncached) {
  configure("{max_bytes: 1MiB, max_object_bytes: 16}");
  get("/big", {}, {{"cache-control", "max-age=60"}}, std::string(100, 'x'));
  EXPECT_TRUE(get("/big").forwarded);
  get("/small", {}, {{"cache-control", "max-age=60"}}, "tiny");
  EXPECT_TRUE(get("/small").served());
}

TEST_F(CacheFilterTest, StaleWhileRevalidateRevalidatesUntilBackgroundRefreshExists) {
  get("/swr", {}, {{"cache-control", "max-age=1, stale-while-revalidate=60"}});
  time_.advance(5s);
  Exchange x = get("/swr");
  EXPECT_TRUE(x.forwarded);
  EXPECT_EQ(x.header("cache-status"), "Switchyard; fwd=stale; fwd-status=200; stored");
}

TEST(CacheFilterLoadTest, TheRedisTierNeedsARedisBlockAndEveryKeyLoads) {
  FilterRegistry filters;
  registerBuiltinFilters(filters);
  prometheus::Registry metrics;
  common::SimulatedTimeSource time;
  const std::string head =
      "listeners: [{name: public, address: 127.0.0.1:18080}]\n"
      "clusters: [{name: legacy, endpoints: [127.0.0.1:19001]}]\n"
      "routes: [{name: api, match: {prefix: /}, cluster: legacy}]\n"
      "filters:\n";
  try {
    config::loadConfigString(head + "  - cache: {redis: true}\n", "test.yaml",
                             {filters, metrics, time});
    ADD_FAILURE() << "redis: true without a redis: block was accepted";
  } catch (const config::ConfigErrors& e) {
    ASSERT_EQ(e.errors().size(), 1u);
    const std::string error = e.errors()[0].format(e.file());
    EXPECT_EQ(error.rfind("test.yaml:5:", 0), 0u) << error;
    EXPECT_NE(error.find("needs a top-level redis: block"), std::string::npos) << error;
  }
  config::loadConfigString(
      head +
          "  - cache: {max_bytes: 64MiB, stale_if_error: 1m, coalesce_timeout: 1s, "
          "max_coalesced: 10, stale_while_revalidate: 30s, redis: true, "
          "redis_max_object_bytes: 1MiB}\n"
          "redis: {address: 127.0.0.1:6379}\n",
      "test.yaml", {filters, metrics, time});
}

}  // namespace
}  // namespace switchyard::filters::cache
