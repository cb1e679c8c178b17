#include "filters/jwt_authn/jwt_authn_filter.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "filters/jwt_authn/config.h"
#include "filters/rate_limit/rate_limit_filter.h"
#include "proxy/http/verified_identity.h"
#include "tests/support/activation.h"
#include "tests/support/config_errors.h"
#include "tests/support/fake_filter_callbacks.h"
#include "tests/support/jwt_keys.h"

namespace switchyard::filters::jwt_authn {
namespace {

using http::FilterHeadersStatus;
using nlohmann::json;
using test::JwtKey;

const JwtKey& rsaKey() {
  static const JwtKey k = JwtKey::rsa("rsa-1");
  return k;
}
const JwtKey& ecKey() {
  static const JwtKey k = JwtKey::ec("ec-1", 256);
  return k;
}

// ctest runs the tests of this fixture in parallel processes, each with keys of its own: the
// process id keeps one test from reading another's key set.
std::string writeTemp(const std::string& name, const std::string& content) {
  const std::string path =
      ::testing::TempDir() + "/jwt_authn_" + std::to_string(::getpid()) + "_" + name;
  std::ofstream(path) << content;
  return path;
}

class JwtAuthnFilterTest : public ::testing::Test {
 protected:
  void SetUp() override { jwks_ = writeTemp("jwks.json", test::jwksJson({&rsaKey(), &ecKey()})); }

  void configure(const std::string& extra = "", const std::string& provider_extra = "") {
    const std::string yaml =
        "providers:\n"
        "  - name: main\n"
        "    issuer: https://auth.example.com/\n"
        "    audiences: [orders-api]\n"
        "    jwks: {file: " +
        jwks_ +
        "}\n"
        "    forward_claims: {sub: X-User-Id, tenant: X-Tenant-Id}\n" +
        provider_extra + extra;
    factory_ = std::make_shared<JwtAuthnFilterFactory>(
        parseJwtAuthnConfig(YAML::Load(yaml), "filters[0].jwt_authn"), metrics_, time());
    state_ = factory_->makeWorkerState();
  }

  common::SimulatedTimeSource& time() { return worker_.timeSource(); }

  json claims(const std::string& sub = "user-1") {
    const int64_t now =
        std::chrono::duration_cast<std::chrono::seconds>(time().systemNow().time_since_epoch())
            .count();
    return {{"iss", "https://auth.example.com/"},
            {"aud", "orders-api"},
            {"sub", sub},
            {"tenant", "acme"},
            {"exp", now + 300}};
  }

  struct Stream {
    std::unique_ptr<test::FakeFilterCallbacks> callbacks;
    http::StreamFilterPtr filter;
    FilterHeadersStatus status;
    int replied() const {
      return callbacks->localReplies().empty() ? 0 : callbacks->lastLocalReply().status;
    }
    std::string header(const std::string& name) const {
      const std::string_view* v = callbacks->requestHeaders().headers.get(name);
      return v != nullptr ? std::string(*v) : "<none>";
    }
    std::string logValue() const {
      std::string out;
      callbacks->streamInfo().filter_state.forEachLogValue(
          [&](std::string_view name, const common::FieldValue& v) {
            if (name == "jwt_authn") out = std::get<std::string>(v);
          });
      return out;
    }
    std::string claim(const std::string& name) const {
      return std::string(http::verifiedClaim(callbacks->streamInfo().filter_state, name));
    }
  };

  Stream send(const std::vector<std::pair<std::string, std::string>>& headers,
              const http::RouteFilterConfig* route = nullptr) {
    Stream s;
    s.callbacks = std::make_unique<test::FakeFilterCallbacks>();
    s.callbacks->streamInfo().route_name = "api";
    s.callbacks->streamInfo().downstream_address = "192.0.2.1";
    s.callbacks->requestHeaders().method = "GET";
    s.callbacks->requestHeaders().path = "/api/orders";
    for (const auto& [n, v] : headers) s.callbacks->requestHeaders().headers.add(n, v);
    s.callbacks->setRouteConfig(route);
    s.filter = std::make_unique<JwtAuthnFilter>(*factory_, *state_, time());
    s.callbacks->attach(*s.filter);
    s.status = s.filter->decodeHeaders(s.callbacks->requestHeaders(), true);
    return s;
  }
  Stream sendToken(const std::string& token,
                   std::vector<std::pair<std::string, std::string>> headers = {}) {
    headers.emplace_back("authorization", "Bearer " + token);
    return send(headers);
  }

  double count(const std::string& result) {
    return factory_->metrics().decisions.Add({{"route", "api"}, {"result", result}}).Value();
  }

  test::FakeFilterCallbacks worker_;
  prometheus::Registry metrics_;
  std::string jwks_;
  std::shared_ptr<JwtAuthnFilterFactory> factory_;
  std::unique_ptr<WorkerState> state_;
};

TEST_F(JwtAuthnFilterTest, AValidTokenPassesWithItsClaims) {
  configure();
  Stream s = sendToken(rsaKey().sign(claims()));
  EXPECT_EQ(s.status, FilterHeadersStatus::Continue);
  EXPECT_EQ(s.replied(), 0);
  EXPECT_EQ(s.header("x-user-id"), "user-1");
  EXPECT_EQ(s.header("x-tenant-id"), "acme");
  EXPECT_EQ(s.claim("sub"), "user-1");
  EXPECT_EQ(s.logValue(), "ok");
  EXPECT_EQ(s.callbacks->reselectClusterCalls(), 1);
  EXPECT_EQ(count("ok"), 1);
}

TEST_F(JwtAuthnFilterTest, MissingTokenUnderRequired) {
  configure();
  Stream s = send({});
  EXPECT_EQ(s.status, FilterHeadersStatus::StopIteration);
  ASSERT_EQ(s.replied(), 401);
  const http::LocalReply& r = s.callbacks->lastLocalReply();
  EXPECT_EQ(*r.headers.get("www-authenticate"), "Bearer");  // RFC 6750: no error
  EXPECT_EQ(s.logValue(), "missing");
  EXPECT_EQ(count("missing"), 1);
  // Another scheme is no bearer token.
  s = send({{"authorization", "Basic dXNlcjpwdw=="}});
  EXPECT_EQ(s.replied(), 401);
  EXPECT_EQ(*s.callbacks->lastLocalReply().headers.get("www-authenticate"), "Bearer");
}

TEST_F(JwtAuthnFilterTest, InvalidTokensAreRefused) {
  configure();
  json expired = claims();
  expired["exp"] = expired["exp"].get<int64_t>() - 3600;
  json wrong_aud = claims();
  wrong_aud["aud"] = "billing";
  json wrong_iss = claims();
  wrong_iss["iss"] = "https://evil/";
  json later = claims();
  later["nbf"] = later["exp"].get<int64_t>() - 10;
  const JwtKey other = JwtKey::ec("ec-1", 256);
  const JwtKey unknown = JwtKey::ec("ec-2", 256);
  struct Case {
    std::string token;
    std::string result;
  };
  const std::vector<Case> cases = {
      {rsaKey().sign(expired), "expired"},
      {rsaKey().sign(later), "not_yet_valid"},
      {rsaKey().sign(wrong_aud), "bad_audience"},
      {rsaKey().sign(wrong_iss), "bad_issuer"},
      {other.sign(claims()), "bad_signature"},
      {test::unsignedToken(claims()), "bad_signature"},
      {test::signHs256({{"alg", "HS256"}, {"kid", "rsa-1"}}, claims(), rsaKey().publicPem()),
       "bad_signature"},
      {unknown.sign(claims()), "unknown_kid"},
      {"a.b", "malformed"},
      {"!!!.@@@.###", "malformed"},
      {rsaKey().sign({{"pad", std::string(10000, 'x')}}), "malformed"},
  };
  for (const Case& c : cases) {
    Stream s = sendToken(c.token);
    EXPECT_EQ(s.status, FilterHeadersStatus::StopIteration) << c.result;
    ASSERT_EQ(s.replied(), 401) << c.result;
    const http::LocalReply& r = s.callbacks->lastLocalReply();
    EXPECT_EQ(*r.headers.get("www-authenticate"), "Bearer error=\"invalid_token\"") << c.result;
    EXPECT_EQ(r.detail.find(c.token), std::string::npos);  // never the token
    EXPECT_EQ(s.logValue(), c.result);
    EXPECT_EQ(s.claim("sub"), "");
  }
  for (const char* result :
       {"expired", "not_yet_valid", "bad_audience", "bad_issuer", "unknown_kid"}) {
    EXPECT_EQ(count(result), 1) << result;
  }
  EXPECT_EQ(count("bad_signature"), 3);
  EXPECT_EQ(count("malformed"), 3);
  EXPECT_EQ(count("ok"), 0);
}

TEST_F(JwtAuthnFilterTest, SpoofedForwardHeadersAreRemoved) {
  configure();
  // With a valid token: the client's value is replaced by the claim.
  Stream s = sendToken(rsaKey().sign(claims()), {{"x-user-id", "admin"}, {"X-User-Id", "root"}});
  EXPECT_EQ(s.callbacks->requestHeaders().headers.count("x-user-id"), 1u);
  EXPECT_EQ(s.header("x-user-id"), "user-1");
  // A token without the claim: the header is gone.
  json no_tenant = claims();
  no_tenant.erase("tenant");
  s = sendToken(rsaKey().sign(no_tenant), {{"x-tenant-id", "other-tenant"}});
  EXPECT_EQ(s.header("x-tenant-id"), "<none>");
  // Where no token is needed, the header is removed all the same.
  auto none = std::make_shared<JwtAuthnRouteConfig>(Requirement::None);
  s = send({{"x-user-id", "admin"}}, none.get());
  EXPECT_EQ(s.replied(), 0);
  EXPECT_EQ(s.header("x-user-id"), "<none>");
}

TEST_F(JwtAuthnFilterTest, RequirementsPerRoute) {
  configure("requirement: optional\n");
  // Optional: a missing token passes without an identity...
  Stream s = send({{"x-user-id", "admin"}});
  EXPECT_EQ(s.replied(), 0);
  EXPECT_EQ(s.status, FilterHeadersStatus::Continue);
  EXPECT_EQ(s.claim("sub"), "");
  EXPECT_EQ(s.header("x-user-id"), "<none>");
  EXPECT_EQ(s.logValue(), "missing");
  // ...a bad one is refused...
  s = sendToken("x.y.z");
  EXPECT_EQ(s.replied(), 401);
  // ...a good one verified.
  s = sendToken(ecKey().sign(claims()));
  EXPECT_EQ(s.claim("sub"), "user-1");
  // A route's block wins.
  auto required = std::make_shared<JwtAuthnRouteConfig>(Requirement::Required);
  s = send({}, required.get());
  EXPECT_EQ(s.replied(), 401);
  auto none = std::make_shared<JwtAuthnRouteConfig>(Requirement::None);
  s = send({{"authorization", "Bearer garbage"}}, none.get());
  EXPECT_EQ(s.replied(), 0);
  EXPECT_EQ(s.logValue(), "");
}

TEST_F(JwtAuthnFilterTest, TokenFromAnotherHeaderOrACookie) {
  configure("token: {header: X-Token}\n");
  EXPECT_EQ(send({{"x-token", rsaKey().sign(claims())}}).claim("sub"), "user-1");
  EXPECT_EQ(send({{"x-token", "Bearer " + rsaKey().sign(claims())}}).claim("sub"), "user-1");
  EXPECT_EQ(send({{"authorization", "Bearer " + rsaKey().sign(claims())}}).replied(), 401);
  configure("token: {cookie: session}\n");
  EXPECT_EQ(send({{"cookie", "a=b; session=" + rsaKey().sign(claims()) + "; c=d"}}).claim("sub"),
            "user-1");
  EXPECT_EQ(send({{"cookie", "a=b"}, {"cookie", "session=\"" + rsaKey().sign(claims()) + "\""}})
                .claim("sub"),
            "user-1");
  EXPECT_EQ(send({{"cookie", "sessionx=1"}}).replied(), 401);
}

TEST(JwtExtractTokenTest, BearerScheme) {
  TokenLocation auth;
  http::HeaderMap h;
  h.add("authorization", "  bEaReR   abc.def.ghi  ");
  EXPECT_EQ(extractToken(h, auth), "abc.def.ghi");
  h.set("authorization", "Bearer");
  EXPECT_EQ(extractToken(h, auth), "");
  h.set("authorization", "Bearerabc");
  EXPECT_EQ(extractToken(h, auth), "");
}

// A provider whose keys the test changes and whose use it counts.
class CountingKeys final : public KeyProvider {
 public:
  explicit CountingKeys(std::shared_ptr<const KeySet> keys) : keys_(std::move(keys)) {}
  std::shared_ptr<const KeySet> keys() const override {
    ++lookups;
    return keys_;
  }
  uint64_t generation() const override { return generation_; }
  void onUnknownKid() const override { ++unknown; }
  void replace(std::shared_ptr<const KeySet> keys) {
    keys_ = std::move(keys);
    ++generation_;
  }
  mutable int lookups = 0;
  mutable int unknown = 0;

 private:
  std::shared_ptr<const KeySet> keys_;
  uint64_t generation_ = 1;
};

std::shared_ptr<const KeySet> setOf(const std::vector<const JwtKey*>& keys) {
  auto set = std::make_shared<KeySet>();
  std::string error;
  EXPECT_TRUE(parseJwks(test::jwksJson(keys), *set, error)) << error;
  return set;
}

TEST_F(JwtAuthnFilterTest, ARepeatedTokenIsNotVerifiedAgain) {
  configure();
  CountingKeys keys(setOf({&rsaKey()}));
  factory_->bindKeys(0, &keys);
  const std::string token = rsaKey().sign(claims());
  for (int i = 0; i < 5; ++i) {
    Stream s = sendToken(token);
    EXPECT_EQ(s.claim("sub"), "user-1");
    EXPECT_EQ(s.header("x-user-id"), "user-1");
  }
  EXPECT_EQ(keys.lookups, 1);
  EXPECT_EQ(state_->cache().size(), 1u);
  EXPECT_EQ(count("ok"), 5);

  // New keys: the cached verification no longer counts; the token is checked against them.
  keys.replace(setOf({&ecKey()}));
  Stream s = sendToken(token);
  EXPECT_EQ(s.replied(), 401);
  EXPECT_EQ(s.logValue(), "unknown_kid");
  EXPECT_EQ(keys.unknown, 1);
  EXPECT_EQ(state_->cache().size(), 0u);
}

TEST_F(JwtAuthnFilterTest, ACachedTokenExpiresWithItsExp) {
  configure("", "    clock_skew: 10s\n");
  CountingKeys keys(setOf({&rsaKey()}));
  factory_->bindKeys(0, &keys);
  const std::string token = rsaKey().sign(claims());  // exp: now + 300 s
  EXPECT_EQ(sendToken(token).replied(), 0);
  time().advance(std::chrono::seconds(309));
  EXPECT_EQ(sendToken(token).replied(), 0);
  EXPECT_EQ(keys.lookups, 1);
  time().advance(std::chrono::seconds(1));
  Stream s = sendToken(token);
  EXPECT_EQ(s.replied(), 401);
  EXPECT_EQ(s.logValue(), "expired");
  EXPECT_EQ(state_->cache().size(), 0u);
}

TEST(JwtTokenCacheTest, BoundedInEntries) {
  TokenCache cache(3);
  common::MonotonicTime now{std::chrono::seconds(100)};
  auto entry = [&](int64_t ttl) {
    TokenCache::Entry e;
    e.expires = now + std::chrono::seconds(ttl);
    e.claims = std::make_shared<const http::IdentityClaims>();
    return e;
  };
  cache.insert("t1", entry(1), now);
  cache.insert("t2", entry(100), now);
  cache.insert("t3", entry(100), now);
  EXPECT_EQ(cache.size(), 3u);
  now += std::chrono::seconds(2);
  cache.insert("t4", entry(100), now);  // t1 expired: swept
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_EQ(cache.find("t1", now), nullptr);
  EXPECT_NE(cache.find("t4", now), nullptr);
  cache.insert("t5", entry(100), now);  // none expired: one goes
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_NE(cache.find("t5", now), nullptr);
  // A token that differs in one byte is another token.
  EXPECT_EQ(cache.find("t6", now), nullptr);
  TokenCache off(0);
  off.insert("t1", entry(100), now);
  EXPECT_EQ(off.size(), 0u);
}

TEST_F(JwtAuthnFilterTest, PerUserRateLimitKeysOnTheVerifiedSub) {
  configure();
  rate_limit::RateLimitConfig rl = rate_limit::parseRateLimitConfig(
      YAML::Load("policies:\n"
                 "  - {name: per-user, key: {claim: sub}, limit: 2, window: 1m}\n"),
      "filters[1].rate_limit");
  auto limiter = std::make_shared<rate_limit::RateLimitFilterFactory>(rl, metrics_);
  const config::Config cfg = test::clustersConfig({"main"});
  upstream::RuntimeStateRegistry registry;
  test::activate(*limiter, cfg, registry);
  auto rl_state = limiter->makeWorkerState(nullptr);

  // The client rotates X-User-Id; the token stays the same user.
  const std::string token = rsaKey().sign(claims("user-1"));
  std::vector<int> statuses;
  for (int i = 0; i < 4; ++i) {
    Stream s = sendToken(token, {{"x-user-id", "spoof-" + std::to_string(i)}});
    rate_limit::RateLimitFilter rate(*limiter, *rl_state, time(), nullptr);
    s.callbacks->attach(rate);
    rate.decodeHeaders(s.callbacks->requestHeaders(), true);
    statuses.push_back(s.replied());
    rate.onDestroy();
  }
  EXPECT_EQ(statuses, (std::vector<int>{0, 0, 429, 429}));
  // Another user has a budget of its own.
  Stream s = sendToken(rsaKey().sign(claims("user-2")));
  rate_limit::RateLimitFilter rate(*limiter, *rl_state, time(), nullptr);
  s.callbacks->attach(rate);
  rate.decodeHeaders(s.callbacks->requestHeaders(), true);
  EXPECT_EQ(s.replied(), 0);
  rate.onDestroy();
}

// --- configuration ---------------------------------------------------------------------------

class JwtAuthnConfigTest : public ::testing::Test {
 protected:
  void SetUp() override { jwks_ = writeTemp("cfg.json", test::jwksJson({&ecKey()})); }
  config::ConfigError error(const std::string& yaml) {
    return test::configErrorOf(
        [&] { parseJwtAuthnConfig(YAML::Load(yaml), "filters[0].jwt_authn"); }, yaml);
  }
  std::string provider(const std::string& extra = "", const std::string& jwks = "") {
    return "providers:\n  - name: main\n    issuer: https://a/\n    jwks: " +
           (jwks.empty() ? "{file: " + jwks_ + "}" : jwks) + "\n" + extra;
  }
  std::string jwks_;
};

TEST_F(JwtAuthnConfigTest, Defaults) {
  const JwtAuthnConfig c = parseJwtAuthnConfig(YAML::Load(provider()), "f");
  EXPECT_EQ(c.requirement, Requirement::Required);
  EXPECT_EQ(c.token.name, "authorization");
  EXPECT_EQ(c.max_token_bytes, 8192u);
  EXPECT_EQ(c.providers[0].clock_skew, std::chrono::seconds(30));
  ASSERT_TRUE(c.providers[0].jwks.file_keys);
  EXPECT_EQ(c.providers[0].jwks.file_keys->keys().size(), 1u);
  const JwtAuthnConfig u = parseJwtAuthnConfig(
      YAML::Load(provider("", "{url: 'http://127.0.0.1:9/jwks', refresh: 10s}")), "f");
  EXPECT_EQ(u.providers[0].jwks.refresh, std::chrono::seconds(10));
  EXPECT_EQ(u.providers[0].jwks.min_refetch, std::chrono::seconds(10));
  EXPECT_EQ(toJson(u)["providers"][0]["jwks"]["url"], "http://127.0.0.1:9/jwks");
}

TEST_F(JwtAuthnConfigTest, Errors) {
  struct Case {
    std::string yaml;
    std::string path;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"", "filters[0].jwt_authn", "at least one provider"},
      {"providers: []", "filters[0].jwt_authn.providers", "needs a provider"},
      {provider("requirement: sometimes\n"), "filters[0].jwt_authn.requirement",
       "unknown requirement"},
      {provider("colour: red\n"), "filters[0].jwt_authn.colour", ""},
      {"providers:\n  - {name: main, jwks: {file: x}}\n", "filters[0].jwt_authn.providers[0]",
       "needs an issuer"},
      {"providers:\n  - {name: 'bad name', issuer: a, jwks: {file: x}}\n",
       "filters[0].jwt_authn.providers[0].name", "not a valid provider name"},
      {provider("", "{file: /nonexistent/jwks.json}"),
       "filters[0].jwt_authn.providers[0].jwks.file", "cannot read"},
      {provider("", "{url: 'https://idp.example.com/jwks'}"),
       "filters[0].jwt_authn.providers[0].jwks.url", "https:// is not supported yet"},
      {provider("", "{url: 'http://idp.example.com/jwks'}"),
       "filters[0].jwt_authn.providers[0].jwks.url", "numeric"},
      {provider("", "{}"), "filters[0].jwt_authn.providers[0].jwks", "exactly one of file and url"},
      {provider("", "{file: x, url: 'http://127.0.0.1/'}"),
       "filters[0].jwt_authn.providers[0].jwks", "exactly one"},
      {provider("", "{url: 'http://127.0.0.1/', refresh: 0s}"),
       "filters[0].jwt_authn.providers[0].jwks.refresh", "above 0"},
      {provider("", "{url: 'http://127.0.0.1/', refresh: 1m, min_refetch: 2m}"),
       "filters[0].jwt_authn.providers[0].jwks.min_refetch", "at most refresh"},
      {"providers:\n  - name: main\n    issuer: a\n    jwks: {file: " + jwks_ +
           "}\n    clock_skew: 1h\n",
       "filters[0].jwt_authn.providers[0].clock_skew", "0s to 10m"},
      {provider("token: {header: A, cookie: b}\n"), "filters[0].jwt_authn.token", "exactly one"},
      {provider("max_token_bytes: 10\n"), "filters[0].jwt_authn.max_token_bytes", "64 to 64KiB"},
  };
  for (const Case& c : cases) {
    const config::ConfigError e = error(c.yaml);
    EXPECT_EQ(e.path(), c.path) << c.yaml;
    EXPECT_NE(std::string(e.what()).find(c.message), std::string::npos) << c.yaml << e.what();
  }
  // A file that is not a JWKS.
  const std::string junk =
      writeTemp("junk.json", "{\"keys\": [{\"kty\": \"oct\", \"k\": \"AA\"}]}");
  const config::ConfigError e = error(provider("", "{file: " + junk + "}"));
  EXPECT_NE(std::string(e.what()).find("not usable"), std::string::npos) << e.what();
  // Two providers with one issuer.
  const config::ConfigError dup = error(provider() +
                                        "  - name: other\n    issuer: https://a/\n"
                                        "    jwks: {file: " +
                                        jwks_ + "}\n");
  EXPECT_EQ(dup.path(), "filters[0].jwt_authn.providers[1].issuer");
  // Forwarding a claim as a header the proxy manages.
  const config::ConfigError host =
      error("providers:\n  - name: main\n    issuer: a\n    jwks: {file: " + jwks_ +
            "}\n    forward_claims: {sub: Host}\n");
  EXPECT_EQ(host.path(), "filters[0].jwt_authn.providers[0].forward_claims.sub");
  EXPECT_NE(std::string(host.what()).find("cannot be forwarded as host"), std::string::npos);
}

TEST_F(JwtAuthnConfigTest, RouteBlock) {
  EXPECT_EQ(parseJwtAuthnRouteConfig(YAML::Load("{requirement: none}"), "r"), Requirement::None);
  const std::string bad = "{requirement: maybe}";
  const config::ConfigError e = test::configErrorOf(
      [&] { parseJwtAuthnRouteConfig(YAML::Load(bad), "routes[0].filters.jwt_authn"); }, bad);
  EXPECT_EQ(e.path(), "routes[0].filters.jwt_authn.requirement");
}

}  // namespace
}  // namespace switchyard::filters::jwt_authn
