// The rate_limit filter: its configuration (errors at their positions, route blocks), the request
// path (local and global policies, shadow mode, Redis failures, the remembered denials) and what
// it answers (429 problem+json, Retry-After, the RateLimit fields), on simulated time.

#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "config/loader.h"
#include "filters/rate_limit/config.h"
#include "filters/rate_limit/headers.h"
#include "filters/rate_limit/rate_limit_filter.h"
#include "filters/rate_limit/redis_gcra_store.h"
#include "proxy/common/path.h"
#include "proxy/http/filter_manager.h"
#include "proxy/upstream/runtime_state.h"
#include "tests/support/activation.h"
#include "tests/support/config_errors.h"
#include "tests/support/fake_filter_callbacks.h"

namespace switchyard::filters::rate_limit {
namespace {

using http::FilterHeadersStatus;
using std::chrono::milliseconds;
using std::chrono::seconds;

RateLimitConfig parse(const std::string& yaml) {
  return parseRateLimitConfig(YAML::Load(yaml), "filters[0].rate_limit");
}

config::ConfigError errorOf(const std::string& yaml) {
  return test::configErrorOf([&] { parse(yaml); }, yaml);
}

// A header's value, "" when absent.
std::string field(const http::HeaderMap& headers, std::string_view name) {
  const std::string_view* v = headers.get(name);
  return v != nullptr ? std::string(*v) : std::string();
}

// --- configuration ------------------------------------------------------------------------------

TEST(RateLimitConfigTest, TheIssueExampleAndItsDefaults) {
  const RateLimitConfig c = parse(
      "policies:\n"
      "  - name: per-user\n"
      "    key: {header: X-User-Id}\n"
      "    limit: 100\n"
      "    window: 1m\n"
      "    burst: 100\n"
      "    scope: global\n"
      "    on_redis_error: allow\n"
      "  - name: per-ip\n"
      "    key: client_address\n"
      "    limit: 1000\n"
      "    window: 1m\n"
      "  - name: login\n"
      "    key: client_address\n"
      "    limit: 5\n"
      "    window: 1m\n"
      "    match: {path_prefix: /api/login, methods: [post]}\n"
      "    shadow: true\n");
  ASSERT_EQ(c.policies.size(), 3u);
  EXPECT_FALSE(c.headers);
  EXPECT_EQ(c.max_keys, 100'000u);
  const PolicyConfig& user = c.policies[0];
  EXPECT_EQ(user.key, KeyKind::Header);
  EXPECT_EQ(user.header, "x-user-id");
  EXPECT_EQ(user.scope, Scope::Global);
  EXPECT_EQ(user.window, seconds(60));
  const PolicyConfig& ip = c.policies[1];
  EXPECT_EQ(ip.key, KeyKind::ClientAddress);
  EXPECT_EQ(ip.burst, 1000) << "burst defaults to the limit";
  EXPECT_EQ(ip.scope, Scope::Local);
  EXPECT_EQ(ip.on_redis_error, OnRedisError::Allow);
  const PolicyConfig& login = c.policies[2];
  EXPECT_TRUE(login.shadow);
  EXPECT_EQ(login.path_prefix, "/api/login");
  EXPECT_EQ(login.methods, std::vector<std::string>{"POST"});

  const nlohmann::json j = toJson(c);
  EXPECT_EQ(j["policies"][0]["key"]["header"], "x-user-id");
  EXPECT_EQ(j["policies"][1]["window"], "1m");
  EXPECT_EQ(j["policies"][2]["match"]["methods"][0], "POST");
}

TEST(RateLimitConfigTest, BadInputIsAnErrorAtItsPosition) {
  struct Case {
    std::string yaml;
    std::string path;
    int line;
    std::string message;
  };
  const std::string head = "policies:\n  - name: p\n";
  const Case cases[] = {
      {head + "    limit: 0\n    window: 1m\n", "filters[0].rate_limit.policies[0].limit", 3,
       "expected an integer between 1 and 1000000000, got \"0\""},
      {head + "    limit: 5\n    window: 0s\n", "filters[0].rate_limit.policies[0].window", 4,
       "greater than 0s"},
      {head + "    limit: 5\n    window: soon\n", "filters[0].rate_limit.policies[0].window", 4,
       "duration"},
      {head + "    limit: 5\n    window: 1m\n    key: cookie\n",
       "filters[0].rate_limit.policies[0].key", 5, "unknown key 'cookie'"},
      {head + "    limit: 5\n    window: 1m\n    key: {cookie: sid}\n",
       "filters[0].rate_limit.policies[0].key.cookie", 5, "unknown key"},
      {head + "    limit: 5\n    window: 1m\n  - name: p\n    limit: 1\n    window: 1s\n",
       "filters[0].rate_limit.policies[1].name", 5, "duplicate policy name 'p'"},
      {head + "    window: 1m\n", "filters[0].rate_limit.policies[0]", 2, "needs a limit"},
      {head + "    limit: 5\n", "filters[0].rate_limit.policies[0]", 2, "needs a window"},
      {head + "    limit: 5\n    window: 1m\n    scope: everywhere\n",
       "filters[0].rate_limit.policies[0].scope", 5, "expected local or global"},
      {head + "    limit: 5\n    window: 1m\n    on_redis_error: panic\n",
       "filters[0].rate_limit.policies[0].on_redis_error", 5, "expected allow or deny"},
      {head + "    limit: 5\n    window: 1m\n    match: {path_prefix: api}\n",
       "filters[0].rate_limit.policies[0].match.path_prefix", 5, "starts with '/'"},
      {head + "    limit: 5\n    window: 1m\n    match: {methods: []}\n",
       "filters[0].rate_limit.policies[0].match.methods", 5, "match no request"},
      {head + "    limit: 5\n    window: 1m\n    match: {host: x}\n",
       "filters[0].rate_limit.policies[0].match.host", 5, "unknown key"},
      {"policies:\n  - name: \"a b\"\n    limit: 5\n    window: 1m\n",
       "filters[0].rate_limit.policies[0].name", 2, "not a valid policy name"},
      {"policies:\n  - limit: 5\n    window: 1m\n", "filters[0].rate_limit.policies[0]", 2,
       "needs a name"},
      {"policies: []\n", "filters[0].rate_limit", 1, "at least one policy"},
      {head + "    limit: 5\n    window: 25h\n", "filters[0].rate_limit.policies[0].window", 4,
       "at most 24h"},
  };
  for (const Case& c : cases) {
    test::expectConfigError(errorOf(c.yaml), c.path, c.line, c.message, c.yaml);
  }
}

TEST(RateLimitConfigTest, ARouteBlockRedefinesAddsAndDisablesPolicies) {
  const RateLimitConfig base = parse(
      "policies:\n"
      "  - {name: per-ip, limit: 1000, window: 1m}\n"
      "  - {name: per-user, limit: 100, window: 1m, key: {header: x-user-id}}\n");
  const RateLimitConfig route =
      parseRateLimitRouteConfig(YAML::Load("headers: true\n"
                                           "disable: [per-ip]\n"
                                           "policies:\n"
                                           "  - {name: per-user, limit: 10}\n"
                                           "  - {name: login, limit: 5, window: 1m}\n"),
                                "routes[0].filters.rate_limit", base);
  EXPECT_TRUE(route.headers);
  ASSERT_EQ(route.policies.size(), 2u);
  EXPECT_EQ(route.policies[0].name, "per-user");
  EXPECT_EQ(route.policies[0].limit, 10);
  EXPECT_EQ(route.policies[0].window, seconds(60)) << "unset keys keep the filter's values";
  EXPECT_EQ(route.policies[0].header, "x-user-id");
  EXPECT_EQ(route.policies[0].burst, 10) << "a burst left to its default follows the limit";
  EXPECT_EQ(route.policies[1].name, "login");

  const std::string path = "routes[0].filters.rate_limit";
  test::expectConfigError(
      test::configErrorOf(
          [&] {
            parseRateLimitRouteConfig(YAML::Load("policies:\n  - {name: x, limit: 1, window: 1s, "
                                                 "match: {route: api}}\n"),
                                      path, base);
          },
          "match.route"),
      path + ".policies[0].match.route", 2, "unknown key", "match.route under a route");
  test::expectConfigError(
      test::configErrorOf(
          [&] { parseRateLimitRouteConfig(YAML::Load("max_keys: 5\n"), path, base); }, "max_keys"),
      path + ".max_keys", 1, "unknown key", "max_keys under a route");
  test::expectConfigError(
      test::configErrorOf(
          [&] { parseRateLimitRouteConfig(YAML::Load("disable: [nope]\n"), path, base); },
          "disable"),
      path + ".disable[0]", 1, "no policy named 'nope'", "disable of an unknown policy");
}

TEST(RateLimitConfigTest, BucketsAreSharedOnlyBetweenPoliciesWithTheSameNumbers) {
  const RateLimitConfig c = parse(
      "policies:\n"
      "  - {name: p, limit: 10, window: 1m}\n");
  PolicyConfig shadowed = c.policies[0];
  shadowed.shadow = true;
  shadowed.path_prefix = "/x";
  EXPECT_EQ(shadowed.bucketId(), c.policies[0].bucketId());
  PolicyConfig stricter = c.policies[0];
  stricter.limit = 5;
  EXPECT_NE(stricter.bucketId(), c.policies[0].bucketId());
}

TEST(RateLimitHeadersTest, StructuredFieldLists) {
  const RateLimitConfig c = parse(
      "policies:\n"
      "  - {name: per-user, limit: 100, window: 1m}\n"
      "  - {name: fast, limit: 10, window: 500ms}\n"
      "  - {name: slow, limit: 10, window: 1500ms}\n");
  EXPECT_EQ(policyItem(c.policies[0]), "\"per-user\";q=100;w=60");
  EXPECT_EQ(policyItem(c.policies[1]), "\"fast\";q=10;w=1") << "w is whole seconds, at least 1";
  EXPECT_EQ(policyItem(c.policies[2]), "\"slow\";q=10;w=2") << "rounded up";
  std::string list;
  appendStateItem(list, "per-user", 41, 1);
  appendStateItem(list, "per-ip", 998, 1);
  EXPECT_EQ(list, "\"per-user\";r=41;t=1, \"per-ip\";r=998;t=1");
}

TEST(PathForMatchTest, SpellingsOfOnePathAreOnePath) {
  std::string scratch;
  auto norm = [&](const char* target) {
    return std::string(common::normalizePathForMatch(target, scratch));
  };
  EXPECT_EQ(norm("/api/login?next=/x"), "/api/login");
  EXPECT_EQ(norm("/api//login"), "/api/login");
  EXPECT_EQ(norm("//api/./login"), "/api/login");
  EXPECT_EQ(norm("/api/x/../login"), "/api/login");
  EXPECT_EQ(norm("/%61pi/%6Cogin"), "/api/login");
  EXPECT_EQ(norm("/api/%2e%2e/api/login"), "/api/login");
  EXPECT_EQ(norm("/api/a%2Fb"), "/api/a%2Fb") << "an encoded slash is not a separator";
  EXPECT_EQ(norm("/../../etc"), "/etc");
  EXPECT_EQ(norm("/api/"), "/api/");
  EXPECT_EQ(norm("/api/."), "/api/");
  EXPECT_EQ(norm("/"), "/");
  EXPECT_EQ(norm("/%"), "/%");
  EXPECT_EQ(norm("/%zz"), "/%zz");
  EXPECT_EQ(norm("/.well-known/x"), "/.well-known/x");
  // Nothing to do: a view of the input, no copy.
  const std::string plain = "/api/login?x=1";
  EXPECT_EQ(common::normalizePathForMatch(plain, scratch).data(), plain.data());
}

// --- the filter -------------------------------------------------------------------------------

// A GcraStore in memory with GCRA on the test's simulated clock, whose answers the test releases
// (or fails) when it wants.
class FakeStore final : public GcraStore {
 public:
  struct Call {
    std::string key;
    GcraScriptArgs args;
    Callback done;
    Handle handle;
  };

  explicit FakeStore(const common::TimeSource& time) : time_(time) {}

  Handle decide(std::string_view key, const GcraScriptArgs& args, Callback done) override {
    ++calls;
    if (fail_at_once) {
      StoreResult r;
      r.error_kind = "unavailable";
      done(r);
      return 0;
    }
    pending_.push_back({std::string(key), args, std::move(done), ++next_});
    return pending_.back().handle;
  }
  void cancel(Handle handle) override {
    ++cancels;
    std::erase_if(pending_, [handle](const Call& c) { return c.handle == handle; });
  }

  size_t pendingCount() const { return pending_.size(); }
  const Call& front() const { return pending_.front(); }

  // Answers the oldest call with GCRA over the store's timestamps.
  void answer() {
    Call c = std::move(pending_.front());
    pending_.pop_front();
    const int64_t now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                               time_.monotonicNow().time_since_epoch())
                               .count();
    GcraParams p;
    p.emission_interval_ns = c.args.emission_interval_us * 1000;
    p.tolerance_ns = c.args.tolerance_us * 1000;
    p.limit = p.burst = c.args.tolerance_us / c.args.emission_interval_us;
    int64_t& tat = tats_[c.key];
    const GcraDecision d = gcraDecide(tat, now_us * 1000, p);
    if (d.allowed) tat = d.tat;
    StoreResult r;
    r.ok = true;
    r.decision = d;
    c.done(r);
  }
  void fail(std::string_view kind) {
    Call c = std::move(pending_.front());
    pending_.pop_front();
    StoreResult r;
    r.error_kind = kind;
    c.done(r);
  }
  void answerAll() {
    while (!pending_.empty()) answer();
  }

  int calls = 0;
  int cancels = 0;
  bool fail_at_once = false;

 private:
  const common::TimeSource& time_;
  std::deque<Call> pending_;
  std::map<std::string, int64_t> tats_;
  Handle next_ = 0;
};

class RateLimitFilterTest : public ::testing::Test {
 protected:
  // Builds the filter's factory from `yaml` and activates it; global policies go to a FakeStore.
  void configure(const std::string& yaml) {
    factory_ = std::make_shared<RateLimitFilterFactory>(parse(yaml), metrics_);
    config_ = test::clustersConfig({"legacy"});
    test::activate(*factory_, config_, state_);
    auto store = std::make_unique<FakeStore>(worker_.timeSource());
    store_ = store.get();
    worker_state_ = factory_->makeWorkerState(std::move(store));
  }

  struct Stream {
    test::FakeFilterCallbacks* callbacks;
    http::StreamFilterPtr filter;
    FilterHeadersStatus status;
  };

  // One request through the filter: its decodeHeaders() status, and the fake that recorded the
  // rest. Streams stay alive until the test ends (or destroy() is called).
  Stream& send(const std::string& client = "192.0.2.1", const std::string& path = "/api/items",
               const std::vector<std::pair<std::string, std::string>>& headers = {},
               const std::string& method = "GET") {
    auto callbacks = std::make_unique<test::FakeFilterCallbacks>();
    // The filter reads the worker's clock (worker_), shared by every stream of the test.
    callbacks->streamInfo().downstream_address = client;
    callbacks->streamInfo().route_name = "api";
    callbacks->streamInfo().start = worker_.timeSource().monotonicNow();
    callbacks->requestHeaders().method = method;
    callbacks->requestHeaders().path = path;
    for (const auto& [name, value] : headers) callbacks->requestHeaders().headers.add(name, value);
    callbacks->setRouteConfig(route_config_);
    auto filter =
        std::make_unique<RateLimitFilter>(*factory_, *worker_state_, worker_.timeSource(), nullptr);
    callbacks->attach(*filter);
    Stream s{callbacks.get(), std::move(filter), FilterHeadersStatus::Continue};
    s.status = s.filter->decodeHeaders(callbacks->requestHeaders(), true);
    fakes_.push_back(std::move(callbacks));
    streams_.push_back(std::move(s));
    return streams_.back();
  }

  // Whether the request went on (Continue, or continueDecoding() later) without a local reply.
  static bool admitted(const Stream& s) {
    return s.callbacks->localReplies().empty() &&
           (s.status == FilterHeadersStatus::Continue || s.callbacks->continueDecodingCalls() == 1);
  }
  static int replied(const Stream& s) {
    return s.callbacks->localReplies().empty() ? 0 : s.callbacks->lastLocalReply().status;
  }
  // The response headers an admitted request's response gets from the filter.
  static http::HeaderMap responseHeaders(Stream& s) {
    http::ResponseHeaders response;
    s.filter->encodeHeaders(response, true);
    return response.headers;
  }
  static std::string logValue(const Stream& s) {
    std::string out;
    s.callbacks->streamInfo().filter_state.forEachLogValue(
        [&](std::string_view name, const common::FieldValue& v) {
          if (name == "rate_limit") out = std::get<std::string>(v);
        });
    return out;
  }
  double counter(prometheus::Family<prometheus::Counter>& family, const std::string& a,
                 const std::string& av, const std::string& b, const std::string& bv) {
    return family.Add({{a, av}, {b, bv}}).Value();
  }
  void advance(common::Duration d) { worker_.timeSource().advance(d); }

  prometheus::Registry metrics_;
  upstream::RuntimeStateRegistry state_;
  config::Config config_;
  test::FakeFilterCallbacks worker_;  // the worker's clock
  std::shared_ptr<RateLimitFilterFactory> factory_;
  FakeStore* store_ = nullptr;
  std::unique_ptr<WorkerState> worker_state_;
  const http::RouteFilterConfig* route_config_ = nullptr;
  std::vector<std::unique_ptr<test::FakeFilterCallbacks>> fakes_;
  std::deque<Stream> streams_;
};

TEST_F(RateLimitFilterTest, ALocalPolicyAdmitsItsBurstThenAnswers429) {
  configure(
      "policies:\n"
      "  - {name: per-ip, limit: 3, window: 3s}\n");
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(admitted(send())) << i;
  Stream& denied = send();
  ASSERT_EQ(replied(denied), 429);
  const http::LocalReply& reply = denied.callbacks->lastLocalReply();
  EXPECT_EQ(reply.type, "https://iana.org/assignments/http-problem-types#quota-exceeded");
  EXPECT_EQ(reply.members["violated-policies"], nlohmann::json::array({"per-ip"}));
  EXPECT_EQ(field(reply.headers, "retry-after"), "1");
  EXPECT_EQ(field(reply.headers, "ratelimit-policy"), "\"per-ip\";q=3;w=3");
  EXPECT_EQ(field(reply.headers, "ratelimit"), "\"per-ip\";r=0;t=1");
  EXPECT_EQ(logValue(denied), "limited per-ip=denied");
  EXPECT_EQ(counter(factory_->metrics().limited, "route", "api", "policy", "per-ip"), 1);

  // The problem+json body as the filter manager writes it.
  const nlohmann::json body = nlohmann::json::parse(
      http::problemJson(reply.status, reply.title, reply.detail, "cid", reply.type, reply.members));
  EXPECT_EQ(body["violated-policies"][0], "per-ip");
  EXPECT_EQ(body["status"], 429);
  EXPECT_EQ(body["type"], reply.type);

  // Another client has a bucket of its own.
  EXPECT_TRUE(admitted(send("192.0.2.2")));
  // One emission interval later, one more request.
  advance(seconds(1));
  EXPECT_TRUE(admitted(send()));
  EXPECT_EQ(replied(send()), 429);
}

TEST_F(RateLimitFilterTest, RetryAfterIsNeverEarlierThanTheBucketAllows) {
  configure(
      "policies:\n"
      "  - {name: slow, limit: 1, window: 1m}\n");
  EXPECT_TRUE(admitted(send()));
  advance(milliseconds(500));
  Stream& denied = send();
  ASSERT_EQ(replied(denied), 429);
  // 59.5 s left: rounded up.
  EXPECT_EQ(field(denied.callbacks->lastLocalReply().headers, "retry-after"), "60");
  EXPECT_EQ(field(denied.callbacks->lastLocalReply().headers, "ratelimit"), "\"slow\";r=0;t=60");
  advance(milliseconds(59'499));
  EXPECT_EQ(replied(send()), 429);
  advance(milliseconds(1));
  EXPECT_TRUE(admitted(send()));
}

TEST_F(RateLimitFilterTest, HeaderKeysFallBackToTheClientAddress) {
  configure(
      "policies:\n"
      "  - {name: per-user, limit: 1, window: 1m, key: {header: X-User-Id}}\n");
  EXPECT_TRUE(admitted(send("192.0.2.1", "/a", {{"x-user-id", "alice"}})));
  EXPECT_EQ(replied(send("192.0.2.9", "/a", {{"x-user-id", "alice"}})), 429)
      << "alice from another address is still alice";
  EXPECT_TRUE(admitted(send("192.0.2.1", "/a", {{"x-user-id", "bob"}})));
  // Without the header: the address, in a space of its own (no user named "192.0.2.1" shares it).
  EXPECT_TRUE(admitted(send("192.0.2.1", "/a")));
  EXPECT_TRUE(admitted(send("192.0.2.3", "/a", {{"x-user-id", "192.0.2.1"}})));
  EXPECT_EQ(replied(send("192.0.2.1", "/a")), 429);
  // A long value is hashed, and still one key.
  const std::string big(4096, 'x');
  EXPECT_TRUE(admitted(send("192.0.2.5", "/a", {{"x-user-id", big}})));
  EXPECT_EQ(replied(send("192.0.2.6", "/a", {{"x-user-id", big}})), 429);
}

TEST_F(RateLimitFilterTest, AdmittedResponsesCarryTheFieldsWhenAskedTo) {
  configure(
      "headers: true\n"
      "policies:\n"
      "  - {name: per-user, limit: 100, window: 1m}\n"
      "  - {name: quiet, limit: 10, window: 1m, shadow: true}\n");
  Stream& first = send();
  ASSERT_TRUE(admitted(first));
  const http::HeaderMap h = responseHeaders(first);
  EXPECT_EQ(field(h, "ratelimit-policy"), "\"per-user\";q=100;w=60") << "no shadow policy";
  EXPECT_EQ(field(h, "ratelimit"), "\"per-user\";r=99;t=1");
  for (int i = 0; i < 58; ++i) send();
  EXPECT_EQ(field(responseHeaders(send()), "ratelimit"), "\"per-user\";r=40;t=1");
}

TEST_F(RateLimitFilterTest, WithoutHeadersTrueAdmittedResponsesAreUntouched) {
  configure(
      "policies:\n"
      "  - {name: per-user, limit: 100, window: 1m}\n");
  Stream& s = send();
  EXPECT_TRUE(responseHeaders(s).entries().empty());
  EXPECT_EQ(logValue(s), "allowed");
}

TEST_F(RateLimitFilterTest, ShadowPoliciesCountButNeverDeny) {
  configure(
      "policies:\n"
      "  - {name: login, limit: 2, window: 1m, shadow: true,\n"
      "     match: {path_prefix: /api/login, methods: [POST]}}\n");
  for (int i = 0; i < 10; ++i) {
    Stream& s = send("192.0.2.1", "/api/login", {}, "POST");
    ASSERT_TRUE(admitted(s)) << i;
    if (i >= 2) {
      EXPECT_EQ(logValue(s), "allowed login=shadow_denied");
    }
  }
  EXPECT_EQ(counter(factory_->metrics().shadow_denied, "route", "api", "policy", "login"), 8);
  EXPECT_EQ(counter(factory_->metrics().limited, "route", "api", "policy", "login"), 0);
}

TEST_F(RateLimitFilterTest, MatchSelectsRequestsAndCannotBeDodgedBySpelling) {
  configure(
      "policies:\n"
      "  - {name: login, limit: 1, window: 1m, match: {path_prefix: /api/login, methods: "
      "[POST]}}\n");
  EXPECT_TRUE(admitted(send("192.0.2.1", "/api/login", {}, "POST")));
  EXPECT_TRUE(admitted(send("192.0.2.1", "/api/login", {}, "GET"))) << "another method";
  EXPECT_TRUE(admitted(send("192.0.2.1", "/api/items", {}, "POST"))) << "another path";
  for (const char* path : {"/api//login", "/api/./login", "/%61pi/login", "/api/x/../login?a=b"}) {
    EXPECT_EQ(replied(send("192.0.2.1", path, {}, "POST")), 429) << path;
  }
}

TEST_F(RateLimitFilterTest, EveryMatchingPolicyMustAdmit) {
  configure(
      "policies:\n"
      "  - {name: a, limit: 5, window: 1m}\n"
      "  - {name: b, limit: 2, window: 1m}\n"
      "  - {name: c, limit: 1, window: 1m, shadow: true}\n");
  EXPECT_TRUE(admitted(send()));
  Stream& second = send();
  EXPECT_TRUE(admitted(second));
  EXPECT_EQ(logValue(second), "allowed c=shadow_denied");
  Stream& third = send();
  ASSERT_EQ(replied(third), 429);
  EXPECT_EQ(third.callbacks->lastLocalReply().members["violated-policies"],
            nlohmann::json::array({"b"}));
  EXPECT_EQ(logValue(third), "limited b=denied c=shadow_denied")
      << "the shadow policy is evaluated whatever the others decide";
}

TEST_F(RateLimitFilterTest, ARouteBlockAppliesToItsRequests) {
  configure(
      "policies:\n"
      "  - {name: per-ip, limit: 100, window: 1m}\n");
  auto route = factory_->parseRouteConfig(YAML::Load("policies: [{name: per-ip, limit: 1}]"),
                                          "routes[0].filters.rate_limit", nullptr);
  config::RouteConfig r;
  r.name = "api";
  r.filters = {route};
  config_.routes.push_back(r);
  config_.filters.push_back({"rate_limit", factory_, true});
  test::activate(*factory_, config_, state_);
  route_config_ = route.get();
  EXPECT_TRUE(admitted(send()));
  EXPECT_EQ(replied(send()), 429);
  route_config_ = nullptr;
  EXPECT_TRUE(admitted(send())) << "the filter's own bucket (100/min) is another one";
}

TEST_F(RateLimitFilterTest, BucketsSurviveAReloadThatKeepsTheNumbers) {
  configure(
      "policies:\n"
      "  - {name: per-ip, limit: 1, window: 1m}\n");
  EXPECT_TRUE(admitted(send()));
  // The same policy in a new configuration: the registry hands back the same buckets.
  auto old_factory = factory_;
  configure(
      "policies:\n"
      "  - {name: per-ip, limit: 1, window: 1m, shadow: false}\n");
  EXPECT_EQ(replied(send()), 429);
  // New numbers: new buckets.
  configure(
      "policies:\n"
      "  - {name: per-ip, limit: 2, window: 1m}\n");
  EXPECT_TRUE(admitted(send()));
}

// --- global policies ---

TEST_F(RateLimitFilterTest, AGlobalPolicyWaitsForTheStore) {
  configure(
      "headers: true\n"
      "policies:\n"
      "  - {name: per-user, limit: 2, window: 1m, scope: global, key: {header: x-user-id}}\n");
  Stream& s = send("192.0.2.1", "/a", {{"x-user-id", "alice"}});
  EXPECT_EQ(s.status, FilterHeadersStatus::StopIteration);
  ASSERT_EQ(store_->pendingCount(), 1u);
  EXPECT_EQ(store_->front().key, "switchyard:rl:per-user/2/60000ms/2:{h:alice}")
      << "the client key is the hash tag";
  EXPECT_EQ(store_->front().args.emission_interval_us, 30'000'000);
  EXPECT_EQ(store_->front().args.tolerance_us, 60'000'000);
  store_->answer();
  EXPECT_EQ(s.callbacks->continueDecodingCalls(), 1);
  EXPECT_EQ(field(responseHeaders(s), "ratelimit"), "\"per-user\";r=1;t=30");

  Stream& s2 = send("192.0.2.1", "/a", {{"x-user-id", "alice"}});
  store_->answer();
  EXPECT_TRUE(admitted(s2));
  Stream& s3 = send("192.0.2.1", "/a", {{"x-user-id", "alice"}});
  store_->answer();
  ASSERT_EQ(replied(s3), 429);
  EXPECT_EQ(field(s3.callbacks->lastLocalReply().headers, "retry-after"), "30");
  EXPECT_EQ(store_->calls, 3);

  // The denial is remembered until its retry time: no round trip meanwhile.
  advance(seconds(29));
  EXPECT_EQ(replied(send("192.0.2.1", "/a", {{"x-user-id", "alice"}})), 429);
  EXPECT_EQ(store_->calls, 3);
  EXPECT_EQ(store_->pendingCount(), 0u);
  advance(seconds(1));
  Stream& later = send("192.0.2.1", "/a", {{"x-user-id", "alice"}});
  EXPECT_EQ(store_->calls, 4);
  store_->answer();
  EXPECT_TRUE(admitted(later));
}

TEST_F(RateLimitFilterTest, ALocalDenialIsNotSentToRedis) {
  configure(
      "policies:\n"
      "  - {name: local, limit: 1, window: 1m}\n"
      "  - {name: global, limit: 100, window: 1m, scope: global}\n");
  Stream& first = send();
  store_->answer();
  EXPECT_TRUE(admitted(first));
  Stream& second = send();
  EXPECT_EQ(replied(second), 429);
  EXPECT_EQ(store_->calls, 1);
}

TEST_F(RateLimitFilterTest, RedisFailuresApplyOnRedisError) {
  configure(
      "headers: true\n"
      "policies:\n"
      "  - {name: open, limit: 10, window: 1m, scope: global}\n"
      "  - {name: closed, limit: 10, window: 1m, scope: global, on_redis_error: deny,\n"
      "     match: {path_prefix: /closed}}\n");
  Stream& open = send("192.0.2.1", "/open");
  store_->fail("timeout");
  EXPECT_TRUE(admitted(open));
  EXPECT_EQ(logValue(open), "allowed open=redis_error_allowed");
  EXPECT_TRUE(responseHeaders(open).entries().empty()) << "no fields from missing data";
  EXPECT_EQ(counter(factory_->metrics().redis_errors, "policy", "open", "kind", "timeout"), 1);

  Stream& closed = send("192.0.2.1", "/closed");
  store_->answer();              // open: fine
  store_->fail("disconnected");  // closed: no decision
  ASSERT_EQ(replied(closed), 503);
  EXPECT_EQ(field(closed.callbacks->lastLocalReply().headers, "retry-after"), "1");
  EXPECT_TRUE(field(closed.callbacks->lastLocalReply().headers, "ratelimit").empty());
  EXPECT_EQ(logValue(closed), "unavailable closed=redis_error_denied");

  // Failures known at once (the client's cooldown) answer before decodeHeaders() returns.
  store_->fail_at_once = true;
  Stream& fast = send("192.0.2.1", "/closed");
  EXPECT_EQ(fast.status, FilterHeadersStatus::StopIteration);
  EXPECT_EQ(replied(fast), 503);
  Stream& fast_open = send("192.0.2.1", "/open");
  EXPECT_EQ(fast_open.status, FilterHeadersStatus::Continue);
  EXPECT_EQ(fast_open.callbacks->continueDecodingCalls(), 0);
  EXPECT_EQ(counter(factory_->metrics().redis_errors, "policy", "open", "kind", "unavailable"), 2);
}

TEST_F(RateLimitFilterTest, AStreamThatEndsWhileWaitingCancelsItsCalls) {
  configure(
      "policies:\n"
      "  - {name: a, limit: 10, window: 1m, scope: global}\n"
      "  - {name: b, limit: 10, window: 1m, scope: global, key: route}\n");
  Stream& s = send();
  EXPECT_EQ(store_->pendingCount(), 2u);
  s.filter->onDestroy();
  EXPECT_EQ(store_->cancels, 2);
  EXPECT_EQ(store_->pendingCount(), 0u);
  EXPECT_EQ(s.callbacks->continueDecodingCalls(), 0);
}

TEST_F(RateLimitFilterTest, WithoutAStoreGlobalPoliciesApplyOnRedisError) {
  configure(
      "policies:\n"
      "  - {name: a, limit: 10, window: 1m, scope: global, on_redis_error: deny}\n");
  worker_state_ = factory_->makeWorkerState(nullptr);
  EXPECT_EQ(replied(send()), 503);
}

// --- validation through the loader ---

class RateLimitLoadTest : public ::testing::Test {
 protected:
  RateLimitLoadTest() { registerBuiltinFilters(filters_); }

  std::vector<std::string> errorsOf(const std::string& yaml) {
    try {
      config::loadConfigString(yaml, "test.yaml", {filters_, metrics_, time_});
    } catch (const config::ConfigErrors& e) {
      std::vector<std::string> out;
      for (const config::ConfigError& error : e.errors()) out.push_back(error.format(e.file()));
      return out;
    }
    return {};
  }

  FilterRegistry filters_;
  prometheus::Registry metrics_;
  common::SimulatedTimeSource time_;
};

TEST_F(RateLimitLoadTest, NamesAreCheckedAgainstTheWholeConfiguration) {
  const std::string head =
      "listeners: [{name: public, address: 127.0.0.1:18080}]\n"
      "clusters: [{name: legacy, endpoints: [127.0.0.1:19001]}]\n"
      "routes:\n"
      "  - name: api\n"
      "    match: {prefix: /}\n"
      "    cluster: legacy\n"
      "    filters:\n"
      "      rate_limit:\n"
      "        policies: [{name: r, limit: 1, window: 1s, scope: global}]\n"
      "filters:\n"
      "  - rate_limit:\n"
      "      policies:\n";
  EXPECT_EQ(errorsOf(head + "        - {name: a, limit: 1, window: 1s, scope: global}\n"
                            "        - {name: b, limit: 1, window: 1s, match: {route: nope}}\n"),
            (std::vector<std::string>{
                "test.yaml:9:59: routes[0].filters.rate_limit.policies[0].scope: policy 'r' has "
                "scope: global, which needs a top-level redis: block",
                "test.yaml:13:50: filters[0].rate_limit.policies[0].scope: policy 'a' has scope: "
                "global, which needs a top-level redis: block",
                "test.yaml:14:58: filters[0].rate_limit.policies[1].match.route: policy 'b' "
                "matches route 'nope', which is not defined",
            }));
  EXPECT_EQ(
      errorsOf(head + "        - {name: b, limit: 1, window: 1s, match: {route: api}}\n").size(),
      1u)
      << "only the route's global policy is left";
}

}  // namespace
}  // namespace switchyard::filters::rate_limit

namespace switchyard::filters::rate_limit {
namespace {

redis::Value integer(int64_t v) {
  redis::Value out;
  out.type = redis::Value::Type::Integer;
  out.integer = v;
  return out;
}

TEST(RedisGcraStoreTest, RepliesBecomeDecisionsOrErrorKinds) {
  redis::Result reply;
  reply.value.type = redis::Value::Type::Array;
  reply.value.array = {integer(1), integer(41), integer(0), integer(1500000)};
  StoreResult r = gcraStoreResult(reply);
  ASSERT_TRUE(r.ok);
  EXPECT_TRUE(r.decision.allowed);
  EXPECT_EQ(r.decision.remaining, 41);
  EXPECT_EQ(r.decision.retry_after_ns, 0);
  EXPECT_EQ(r.decision.reset_ns, 1500000000);

  reply.value.array = {integer(0), integer(0), integer(2000001), integer(2000001)};
  r = gcraStoreResult(reply);
  ASSERT_TRUE(r.ok);
  EXPECT_FALSE(r.decision.allowed);
  EXPECT_EQ(r.decision.retry_after_ns, 2000001000);

  // What the client could not get, by its kind.
  redis::Result failed;
  failed.error = redis::ErrorKind::Timeout;
  r = gcraStoreResult(failed);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error_kind, "timeout");
  failed.error = redis::ErrorKind::ServerError;
  failed.message = "ERR Error running script";
  EXPECT_EQ(gcraStoreResult(failed).error_kind, "server_error");

  // A reply of another shape is never read as a decision.
  const std::vector<std::vector<redis::Value>> wrong = {
      {},
      {integer(1), integer(2), integer(3)},
      {integer(1), integer(-1), integer(0), integer(0)},
      {integer(1), integer(2), integer(3), redis::Value{}},
  };
  for (const auto& array : wrong) {
    reply.value.array = array;
    r = gcraStoreResult(reply);
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.error_kind, "protocol");
  }
  reply.value = integer(1);
  EXPECT_EQ(gcraStoreResult(reply).error_kind, "protocol");
}

}  // namespace
}  // namespace switchyard::filters::rate_limit
