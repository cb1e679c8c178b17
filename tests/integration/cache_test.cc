// The cache filter in the real binary, in front of a real upstream: hits and misses counted at
// the upstream, variants, what is never reused, HEAD from a stored GET, invalidation, and a stale
// copy served when the upstream fails or is gone.

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/harness.h"

namespace switchyard::test::integration {
namespace {

class CacheTest : public ProxyTest {
 protected:
  void start(const std::string& cache = "{}", const std::string& route_extra = "") {
    ProxyConfig config = defaultConfig();
    config.filters += "  - cache: " + cache + "\n";
    config.routes.front().extra += route_extra;
    startProxy(config);
  }
  int64_t upstreamRequests() { return upstream().stats().requests; }
  Response purge(std::string_view body, bool with_token = true) {
    Headers headers = {{"Content-Type", "application/json"}};
    if (with_token) headers.push_back({"Authorization", "Bearer integration-secret-token"});
    return httpRequest(adminPort(), "POST", "/cache/purge", headers, body);
  }
  // Whether `path` is answered from the store (the upstream not asked).
  bool cached(const std::string& path) {
    const int64_t before = upstreamRequests();
    get(path);
    return upstreamRequests() == before;
  }
  // A GET whose response (when it reaches the upstream) carries `cache_control`.
  Response get(const std::string& path, const std::string& cache_control = "max-age=60",
               Headers more = {}) {
    more.push_back({"X-Test-Response-Header", "Cache-Control: " + cache_control});
    return httpGet(port(), path, more);
  }
};

TEST_F(CacheTest, AHitNeverReachesTheUpstream) {
  start();
  const Response miss = get("/orders");
  ASSERT_EQ(miss.status, 200) << miss.body;
  EXPECT_EQ(miss.header("cache-status").value_or(""),
            "Switchyard; fwd=uri-miss; fwd-status=200; stored");
  const int64_t before = upstreamRequests();
  for (int i = 0; i < 10; ++i) {
    const Response hit = get("/orders");
    ASSERT_EQ(hit.status, 200);
    EXPECT_EQ(hit.body, miss.body);
    EXPECT_EQ(hit.header("cache-status").value_or("").rfind("Switchyard; hit; ttl=", 0), 0u)
        << hit.header("cache-status").value_or("");
    EXPECT_TRUE(hit.header("age"));
  }
  EXPECT_EQ(upstreamRequests(), before);
  // HEAD from the stored GET (a hit too): its length, no body.
  const Response head = httpRequest(port(), "HEAD", "/orders", {});
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.header("content-length").value_or(""), std::to_string(miss.body.size()));
  EXPECT_EQ(upstreamRequests(), before);

  const std::string m = httpGet(adminPort(), "/metrics").body;
  EXPECT_NE(m.find("switchyard_cache_lookups_total{result=\"hit\",route=\"default\"} 11"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("switchyard_cache_entries 1"), std::string::npos);
}

TEST_F(CacheTest, WhatMustNotBeReusedIsNot) {
  start();
  for (const char* cc : {"no-store", "private, max-age=60"}) {
    const std::string path = std::string("/never-") + (cc[0] == 'n' ? "a" : "b");
    get(path, cc);
    const int64_t before = upstreamRequests();
    get(path, cc);
    EXPECT_EQ(upstreamRequests(), before + 1) << cc;
  }
  // A request with Authorization is not answered with what another client stored.
  get("/mine", "max-age=60", {{"Authorization", "Bearer a"}});
  const int64_t before = upstreamRequests();
  get("/mine", "max-age=60", {{"Authorization", "Bearer b"}});
  EXPECT_EQ(upstreamRequests(), before + 1);
}

TEST_F(CacheTest, VariantsAreKeptApart) {
  start();
  const Headers vary = {{"X-Test-Response-Header", "Vary: Accept-Language"}};
  Headers en = vary;
  en.push_back({"Accept-Language", "en"});
  Headers fr = vary;
  fr.push_back({"Accept-Language", "fr"});
  const Response en1 = get("/v", "max-age=60", en);
  const Response fr1 = get("/v", "max-age=60", fr);
  ASSERT_NE(en1.body, fr1.body);  // the upstream echoes the request's headers
  EXPECT_EQ(get("/v", "max-age=60", en).body, en1.body);
  EXPECT_EQ(get("/v", "max-age=60", fr).body, fr1.body);
}

TEST_F(CacheTest, RevalidationIsConditionalAndA304KeepsTheStoredBody) {
  start();
  const Response first =
      get("/refresh", "max-age=60", {{"X-Test-Response-Header", "ETag: \"r1\""}});
  ASSERT_EQ(first.status, 200) << first.body;
  // no-cache makes the cache ask again; the upstream sees the stored ETag and answers 304.
  const Headers again = {{"X-Test-Response-Header", "ETag: \"r1\""}, {"Cache-Control", "no-cache"}};
  int64_t before = upstreamRequests();
  const Response refreshed = get("/refresh", "max-age=60", again);
  EXPECT_EQ(upstreamRequests(), before + 1);
  EXPECT_EQ(refreshed.status, 200);
  EXPECT_EQ(refreshed.body, first.body);
  EXPECT_EQ(refreshed.header("etag").value_or(""), "\"r1\"");
  EXPECT_EQ(refreshed.header("cache-status").value_or(""),
            "Switchyard; fwd=request; fwd-status=304; ttl=60; stored");
  // The client's own conditional is answered by the cache after the upstream's 304.
  Headers conditional = again;
  conditional.push_back({"If-None-Match", "\"r1\""});
  const Response not_modified = get("/refresh", "max-age=60", conditional);
  EXPECT_EQ(not_modified.status, 304);
  EXPECT_EQ(not_modified.body, "");
  before = upstreamRequests();
  EXPECT_EQ(get("/refresh").body, first.body);  // a plain hit
  EXPECT_EQ(upstreamRequests(), before);

  // The resource changed: the upstream answers 200 with its new ETag, which replaces the entry.
  const Response changed =
      get("/refresh", "max-age=60",
          {{"X-Test-Response-Header", "ETag: \"r2\""}, {"Cache-Control", "no-cache"}});
  EXPECT_EQ(changed.status, 200);
  EXPECT_NE(changed.body, first.body);
  const Response hit = get("/refresh");
  EXPECT_EQ(hit.header("etag").value_or(""), "\"r2\"");
  EXPECT_EQ(hit.body, changed.body);
  EXPECT_NE(
      httpGet(adminPort(), "/metrics")
          .body.find("switchyard_cache_lookups_total{result=\"revalidated\",route=\"default\"} 2"),
      std::string::npos);
}

TEST_F(CacheTest, AHundredConcurrentRequestsOnAColdKeyMakeOneUpstreamRequest) {
  start();
  const int64_t before = upstreamRequests();
  constexpr int Clients = 100;
  std::vector<Response> responses(Clients);
  std::vector<std::thread> clients;
  for (int i = 0; i < Clients; ++i) {
    clients.emplace_back([&, i] {
      // The upstream takes 500 ms: every request comes while the first is in flight.
      responses[i] = get("/cold", "max-age=60", {{"X-Test-Delay-Ms", "500"}});
    });
  }
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(upstreamRequests(), before + 1);
  int stored = 0;
  for (const Response& r : responses) {
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.body, responses[0].body);
    const std::string status = r.header("cache-status").value_or("");
    if (status.find("stored") != std::string::npos) ++stored;
  }
  EXPECT_EQ(stored, 1);
  const std::string m = httpGet(adminPort(), "/metrics").body;
  EXPECT_NE(m.find("switchyard_cache_lookups_total{result=\"miss\",route=\"default\"} 1\n"),
            std::string::npos)
      << m;
}

TEST_F(CacheTest, ASlowLeaderClientDoesNotSlowTheWaiters) {
  start("{max_bytes: 64MiB, max_object_bytes: 32MiB, coalesce_timeout: 8s}");
  const std::string path = "/bytes/16777216";  // 16 MiB, far beyond the socket buffers
  const Headers headers = {{"X-Test-Response-Header", "Cache-Control: max-age=60"},
                           {"X-Test-Delay-Ms", "200"}};
  // The leader's client sends its request and never reads.
  RawConnection leader;
  ASSERT_TRUE(leader.connect(port()));
  const int small = 4096;
  ::setsockopt(leader.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  ASSERT_TRUE(leader.send(buildRequest("GET", path, headers)));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // it leads (bounded: one wait)
  const auto started = std::chrono::steady_clock::now();
  std::vector<Response> responses(4);
  std::vector<std::thread> clients;
  for (size_t i = 0; i < responses.size(); ++i) {
    clients.emplace_back(
        [&, i] { responses[i] = httpGet(port(), path, headers, std::chrono::seconds(15)); });
  }
  for (std::thread& t : clients) t.join();
  const auto took = std::chrono::steady_clock::now() - started;
  for (const Response& r : responses) {
    ASSERT_EQ(r.status, 200) << r.reason;
    EXPECT_EQ(r.body.size(), 16777216u);
  }
  // Answered from the leader's stored response, long before coalesce_timeout.
  EXPECT_LT(took, std::chrono::seconds(4));
  EXPECT_EQ(upstreamRequests(), 1);
}

TEST_F(CacheTest, AnUncacheableAnswerIsNotSharedAndLaterRequestsBypassTheQueue) {
  start();
  const int64_t before = upstreamRequests();
  std::vector<Response> responses(10);
  std::vector<std::thread> clients;
  for (int i = 0; i < 10; ++i) {
    clients.emplace_back([&, i] {
      responses[i] = get("/mine", "private", {{"X-Test-Delay-Ms", "300"}});
    });
  }
  for (std::thread& t : clients) t.join();
  // Every request got its own answer from the upstream.
  EXPECT_EQ(upstreamRequests(), before + 10);
  for (const Response& r : responses) EXPECT_EQ(r.status, 200);
  get("/mine", "private");
  const std::string m = httpGet(adminPort(), "/metrics").body;
  EXPECT_NE(m.find("switchyard_cache_lookups_total{result=\"bypass\",route=\"default\"} 1\n"),
            std::string::npos)
      << m;
}

TEST_F(CacheTest, PurgeByKeyPrefixAndTagRemovesExactlyTheMatchingEntries) {
  start();
  const Headers users = {{"X-Test-Response-Header", "Surrogate-Key: users people"}};
  for (const char* path : {"/orders/1", "/orders/2", "/orders/2?page=2", "/ordersx"}) get(path);
  get("/users/1", "max-age=60", users);
  get("/users/2", "max-age=60", users);
  get("/other");
  const Response before = httpGet(adminPort(), "/cache");
  ASSERT_EQ(before.status, 200) << before.body;
  EXPECT_NE(before.body.find("\"entries\": 7"), std::string::npos) << before.body;

  // Bad requests change nothing.
  struct Bad {
    std::string body;
    bool token;
    int status;
    std::string detail;
  };
  const std::vector<Bad> bad = {
      {R"({"prefix":"/orders"})", false, 401, ""},
      {"{not json", true, 400, "not valid JSON"},
      {"[]", true, 400, "expected a JSON object"},
      {"{}", true, 400, "one of key, prefix and tag is required"},
      {R"({"prefix":""})", true, 400, "non-empty string"},
      {R"({"tag":7})", true, 400, "non-empty string"},
      {R"({"key":"orders/1"})", true, 400, "starting with"},
      {R"({"key":"/a","tag":"b"})", true, 400, "exactly one"},
      {R"({"tag":"users","mode":"gentle"})", true, 400, "must be"},
      {R"({"url":"/orders"})", true, 400, "unknown key"},
  };
  for (const Bad& b : bad) {
    const Response r = purge(b.body, b.token);
    EXPECT_EQ(r.status, b.status) << b.body << " -> " << r.body;
    EXPECT_NE(r.body.find(b.detail), std::string::npos) << b.body << " -> " << r.body;
  }
  EXPECT_NE(httpGet(adminPort(), "/cache").body.find("\"entries\": 7"), std::string::npos);

  // One URL: its query is part of it.
  Response r = purge(R"({"key":"/orders/2"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("\"purged\": 1"), std::string::npos) << r.body;
  EXPECT_FALSE(cached("/orders/2"));
  EXPECT_TRUE(cached("/orders/2?page=2"));
  EXPECT_TRUE(cached("/orders/1"));
  // A prefix of the path.
  r = purge(R"({"prefix":"/orders/"})");
  EXPECT_NE(r.body.find("\"purged\": 3"), std::string::npos) << r.body;
  EXPECT_FALSE(cached("/orders/1"));
  EXPECT_FALSE(cached("/orders/2?page=2"));
  EXPECT_TRUE(cached("/ordersx"));
  // A tag, which the client never saw.
  EXPECT_FALSE(get("/users/1", "max-age=60", users).header("surrogate-key"));
  r = purge(R"({"tag":"people"})");
  EXPECT_NE(r.body.find("\"purged\": 2"), std::string::npos) << r.body;
  EXPECT_FALSE(cached("/users/2"));
  EXPECT_TRUE(cached("/other"));

  // Soft: the entry stays, stale, and is revalidated rather than served.
  r = purge(R"({"key":"/other","mode":"soft"})");
  EXPECT_NE(r.body.find("\"purged\": 1"), std::string::npos) << r.body;
  const int64_t upstream_before = upstreamRequests();
  const Response revalidated = get("/other");
  EXPECT_EQ(upstreamRequests(), upstream_before + 1);
  EXPECT_EQ(revalidated.header("cache-status").value_or(""),
            "Switchyard; fwd=stale; fwd-status=200; stored");

  const std::string m = httpGet(adminPort(), "/metrics").body;
  EXPECT_NE(m.find("switchyard_cache_purges_total{mode=\"hard\"} 6"), std::string::npos) << m;
  EXPECT_NE(m.find("switchyard_cache_purges_total{mode=\"soft\"} 1"), std::string::npos) << m;
}

TEST_F(CacheTest, StaleWhileRevalidateAnswersAtOnceAndRefreshesInTheBackground) {
  start();
  // Stale as soon as it is stored (Age 100 > max-age 60), within stale-while-revalidate. The
  // upstream takes 300 ms; the response varies on the test's headers, so the refresh sends them.
  const Headers h = {{"X-Test-Response-Header", "Age: 100"},
                     {"X-Test-Response-Header", "ETag: \"s1\""},
                     {"X-Test-Response-Header", "Vary: X-Test-Response-Header, X-Test-Delay-Ms"},
                     {"X-Test-Delay-Ms", "300"}};
  const Response first = get("/swr", "max-age=60, stale-while-revalidate=600", h);
  ASSERT_EQ(first.status, 200) << first.body;
  const int64_t before = upstreamRequests();
  const auto started = std::chrono::steady_clock::now();
  const Response stale = get("/swr", "max-age=60, stale-while-revalidate=600", h);
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(stale.status, 200);
  EXPECT_EQ(stale.body, first.body);
  // ttl=-40 or -41: the age counts whole seconds of two clocks.
  const std::string status = stale.header("cache-status").value_or("");
  EXPECT_EQ(status.rfind("Switchyard; hit; ttl=-4", 0), 0u) << status;
  EXPECT_TRUE(status.ends_with("; detail=stale_while_revalidate")) << status;
  EXPECT_LT(took, std::chrono::milliseconds(250));  // not the upstream's 300 ms
  // The refresh: one conditional request, answered 304, which renews the entry.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  std::string m;
  while ((m = httpGet(adminPort(), "/metrics").body)
             .find("switchyard_cache_refreshes_total{result=\"stored\"} 1") == std::string::npos) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << m;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // another process, bounded
  }
  EXPECT_EQ(upstreamRequests(), before + 1);
  EXPECT_NE(m.find("switchyard_upstream_requests_total{cluster=\"main\",code=\"304\"} 1"),
            std::string::npos)
      << m;
}

TEST_F(CacheTest, AStaleCopyBeatsAFailingOrMissingUpstream) {
  start("{stale_if_error: 10m}");
  // max-age=0: stale at once, kept for the stale-if-error window.
  const Response first = get("/s", "max-age=0");
  ASSERT_EQ(first.status, 200);
  // Failing: 503 from the upstream, the stored copy instead.
  ASSERT_EQ(httpGet(upstream().port(), "/control/fail?status=503&count=-1").status, 200);
  const Response failing = get("/s", "max-age=0");
  EXPECT_EQ(failing.status, 200);
  EXPECT_EQ(failing.body, first.body);
  EXPECT_EQ(failing.header("cache-status")
                .value_or("")
                .rfind("Switchyard; fwd=stale; fwd-status=503;", 0),
            0u)
      << failing.header("cache-status").value_or("");
  // Under must-revalidate the error goes through.
  ASSERT_EQ(httpGet(upstream().port(), "/control/recover").status, 200);
  ASSERT_EQ(get("/strict", "max-age=0, must-revalidate").status, 200);
  ASSERT_EQ(httpGet(upstream().port(), "/control/fail?status=503&count=-1").status, 200);
  EXPECT_EQ(get("/strict", "max-age=0, must-revalidate").status, 503);

  // Gone: the router's 502 is replaced too.
  upstream().process().stop();
  const Response gone = get("/s", "max-age=0");
  EXPECT_EQ(gone.status, 200);
  EXPECT_EQ(gone.body, first.body);
  EXPECT_EQ(gone.header("cache-status").value_or("").find("fwd=stale"), 12u)
      << gone.header("cache-status").value_or("");
  // ...but where stale use is forbidden, a disconnected cache answers 504.
  EXPECT_TRUE(isProblem(get("/strict", "max-age=0, must-revalidate"), 504));
}

TEST_F(CacheTest, AnOpenBreakerGetsTheStaleCopyWithoutReachingTheUpstream) {
  ProxyConfig config = defaultConfig();
  config.filters += "  - cache: {stale_if_error: 10m}\n";
  config.filters += "  - circuit_breaker: {consecutive_failures: 2, cooldown: 1h}\n";
  startProxy(config);
  const Response first = get("/b", "max-age=0");
  ASSERT_EQ(first.status, 200);
  // Two failures open the breaker (each already answered with the stale copy).
  ASSERT_EQ(httpGet(upstream().port(), "/control/fail?status=503&count=-1").status, 200);
  EXPECT_EQ(get("/b", "max-age=0").status, 200);
  EXPECT_EQ(get("/b", "max-age=0").status, 200);
  ASSERT_NE(httpGet(adminPort(), "/metrics")
                .body.find("switchyard_circuit_breaker_state{cluster=\"main\"} 2"),
            std::string::npos);
  const int64_t before = upstreamRequests();
  const Response open = get("/b", "max-age=0");
  EXPECT_EQ(upstreamRequests(), before);  // the breaker answered
  EXPECT_EQ(open.status, 200);
  EXPECT_EQ(open.body, first.body);
  EXPECT_EQ(
      open.header("cache-status").value_or("").rfind("Switchyard; fwd=stale; fwd-status=503;", 0),
      0u)
      << open.header("cache-status").value_or("");
  // Nothing stored for a URL: the breaker's own 503 goes through, without Cache-Status.
  const Response none = get("/never-stored");
  EXPECT_EQ(none.status, 503);
  EXPECT_FALSE(none.header("cache-status"));
}

TEST_F(CacheTest, ASuccessfulPostInvalidatesTheTarget) {
  start();
  get("/items/1");
  const int64_t before = upstreamRequests();
  get("/items/1");
  EXPECT_EQ(upstreamRequests(), before);
  ASSERT_EQ(httpRequest(port(), "POST", "/items/1", {}, "x").status, 200);
  get("/items/1");
  EXPECT_EQ(upstreamRequests(), before + 2);
}

TEST_F(CacheTest, ARouteMayTurnItOffOrGiveATtl) {
  start("{}", "    filters: {cache: {ttl: 30s}}\n");
  // No freshness in the response: the route's TTL.
  const Response first = httpGet(port(), "/plain");
  EXPECT_EQ(first.header("cache-status").value_or(""),
            "Switchyard; fwd=uri-miss; fwd-status=200; stored");
  EXPECT_EQ(
      httpGet(port(), "/plain").header("cache-status").value_or("").rfind("Switchyard; hit", 0),
      0u);
}

}  // namespace
}  // namespace switchyard::test::integration
