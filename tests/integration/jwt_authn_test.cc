// The jwt_authn filter against the real binary: tokens made at test time with OpenSSL, keys from
// a JWKS file (rotated by rewriting it and reloading) or a JWKS URL served by a test HTTP server
// (rotated, and failing), forwarded claims replacing spoofed headers, a split sticky by a claim
// and a per-user rate limit keyed on the verified sub.

#include <chrono>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "tests/integration/harness.h"
#include "tests/support/http_sink.h"
#include "tests/support/jwt_keys.h"

namespace switchyard::test::integration {
namespace {

using nlohmann::json;

const std::string Issuer = "https://auth.example.com/";

const JwtKey& key1() {
  static const JwtKey k = JwtKey::rsa("k1");
  return k;
}
const JwtKey& key2() {
  static const JwtKey k = JwtKey::ec("k2", 256);
  return k;
}

double metricValue(const std::string& metrics, const std::string& series) {
  const std::string prefix = series + " ";
  size_t at = 0;
  while ((at = metrics.find(prefix, at)) != std::string::npos) {
    if (at == 0 || metrics[at - 1] == '\n') return std::stod(metrics.substr(at + prefix.size()));
    at += prefix.size();
  }
  return 0;
}

int64_t unixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

json claims(const std::string& sub = "user-1", int64_t exp_in = 600) {
  return {{"iss", Issuer}, {"aud", "orders-api"}, {"sub", sub}, {"exp", unixNow() + exp_in}};
}

class JwtAuthnTest : public ProxyTest {
 protected:
  // One upstream behind `default`, route `health` needing no token; `jwks` is the provider's
  // jwks block.
  ProxyConfig jwtConfig(const std::string& jwks, const std::string& filter_extra = "") {
    ProxyConfig config = defaultConfig();
    config.routes.insert(
        config.routes.begin(),
        {"health", "/health", "main", "    filters: {jwt_authn: {requirement: none}}\n"});
    config.filters =
        "  - correlation_id: {}\n"
        "  - jwt_authn:\n"
        "      providers:\n"
        "        - name: main\n"
        "          issuer: " +
        Issuer +
        "\n"
        "          audiences: [orders-api]\n"
        "          jwks: " +
        jwks +
        "\n"
        "          forward_claims: {sub: X-User-Id}\n" +
        filter_extra;
    return config;
  }

  Response get(const std::string& path, const std::string& token, Headers headers = {}) {
    if (!token.empty()) headers.push_back({"Authorization", "Bearer " + token});
    return httpGet(port(), path, headers);
  }
  std::string metrics() { return httpGet(adminPort(), "/metrics").body; }
  double decisions(const std::string& route, const std::string& result) {
    return metricValue(
        metrics(), "switchyard_jwt_authn_total{result=\"" + result + "\",route=\"" + route + "\"}");
  }
  bool reload() {
    return httpRequest(adminPort(), "POST", "/reload",
                       {{"Authorization", "Bearer integration-secret-token"}})
               .status == 200;
  }
};

TEST_F(JwtAuthnTest, VerifiesTokensFromAFile) {
  const std::string jwks = writeFile("jwks.json", jwksJson({&key1()}));
  ProxyConfig config = jwtConfig("{file: " + jwks + "}");
  config.top_extra = "access_log: {path: " + tempDir() + "/access.log}\n";
  startProxy(config);

  const std::string token = key1().sign(claims());
  Response r = get("/orders", token, {{"X-User-Id", "admin"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(upstreamHeader(r.body, "x-user-id"), "user-1");
  // The token itself still goes upstream (the service may want it); the spoofed id does not.
  EXPECT_EQ(r.body.find("admin"), std::string::npos) << r.body;

  r = get("/orders", "");
  EXPECT_TRUE(isProblem(r, 401));
  EXPECT_EQ(r.header("www-authenticate"), "Bearer");

  json expired = claims();
  expired["exp"] = unixNow() - 3600;
  const std::vector<std::pair<std::string, std::string>> bad = {
      {key1().sign(expired), "expired"},
      {key1().sign(claims(), "", {{"kid", "k1"}}).substr(0, 40) + ".e30.AAAA", "malformed"},
      {unsignedToken(claims()), "bad_signature"},
      {signHs256({{"alg", "HS256"}, {"kid", "k1"}}, claims(), key1().publicPem()), "bad_signature"},
      {key2().sign(claims()), "unknown_kid"},
      {std::string(9000, 'a') + ".b.c", "malformed"},
  };
  for (const auto& [t, result] : bad) {
    r = get("/orders", t);
    EXPECT_TRUE(isProblem(r, 401)) << result;
    EXPECT_EQ(r.header("www-authenticate"), "Bearer error=\"invalid_token\"") << result;
    EXPECT_EQ(r.header("content-type"), "application/problem+json") << result;
    EXPECT_EQ(r.body.find("\"service\""), std::string::npos) << result;  // not the upstream's
  }
  // No token needed on /health.
  EXPECT_EQ(get("/health", "").status, 200);

  const std::string m = metrics();
  EXPECT_EQ(metricValue(m, "switchyard_jwt_authn_total{result=\"ok\",route=\"default\"}"), 1);
  EXPECT_EQ(metricValue(m, "switchyard_jwt_authn_total{result=\"missing\",route=\"default\"}"), 1);
  EXPECT_EQ(metricValue(m, "switchyard_jwt_authn_total{result=\"expired\",route=\"default\"}"), 1);
  EXPECT_EQ(
      metricValue(m, "switchyard_jwt_authn_total{result=\"bad_signature\",route=\"default\"}"), 2);
  EXPECT_EQ(metricValue(m, "switchyard_jwt_authn_total{result=\"malformed\",route=\"default\"}"),
            2);
  stopProxy();
  std::ifstream in(tempDir() + "/access.log");
  std::stringstream log;
  log << in.rdbuf();
  EXPECT_NE(log.str().find("\"jwt_authn\":\"ok\""), std::string::npos) << log.str();
  EXPECT_NE(log.str().find("\"jwt_authn\":\"unknown_kid\""), std::string::npos);
  EXPECT_EQ(log.str().find(token.substr(token.rfind('.') + 1)), std::string::npos);
}

TEST_F(JwtAuthnTest, AFileRotationTakesEffectOnReload) {
  const std::string jwks = writeFile("jwks.json", jwksJson({&key1()}));
  startProxy(jwtConfig("{file: " + jwks + "}"));
  const std::string rotated = key2().sign(claims());
  EXPECT_EQ(get("/x", rotated).status, 401);
  writeFile("jwks.json", jwksJson({&key1(), &key2()}));
  ASSERT_TRUE(reload());
  EXPECT_EQ(get("/x", rotated).status, 200);
  EXPECT_EQ(get("/x", key1().sign(claims())).status, 200);
  // A file that no longer parses is refused at reload: the keys in effect stay.
  writeFile("jwks.json", "{not json");
  EXPECT_FALSE(reload());
  EXPECT_EQ(get("/x", rotated).status, 200);
}

TEST_F(JwtAuthnTest, KeysFromAUrlRotateAndSurviveItsFailure) {
  HttpSink idp;
  idp.setStatus(200, jwksJson({&key1()}));
  startProxy(jwtConfig("{url: '" + idp.url("/jwks.json") + "', refresh: 1h, min_refetch: 1s}"));
  EXPECT_EQ(get("/x", key1().sign(claims())).status, 200);
  const size_t fetched = idp.requestCount();
  EXPECT_GE(fetched, 1u);

  // The IdP rotates: a token with the new kid is refused until the set is fetched again, which
  // it asks for (at most once a second).
  idp.setStatus(200, jwksJson({&key1(), &key2()}));
  const std::string rotated = key2().sign(claims());
  int status = 0;
  for (int i = 0; i < 100 && status != 200; ++i) {
    status = get("/x", rotated).status;
    if (status != 200) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(status, 200);
  // Made-up kids do not fetch the set once per request.
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(get("/x", JwtKey::ec("nope-" + std::to_string(i), 256).sign(claims())).status, 401);
  }
  EXPECT_LE(idp.requestCount(), fetched + 3);

  // The IdP fails: the last good keys stay in use, and the failure is counted.
  idp.setStatus(500, "{}");
  const std::string unknown = JwtKey::ec("k3", 256).sign(claims());
  double failures = 0;
  for (int i = 0; i < 100 && failures == 0; ++i) {
    EXPECT_EQ(get("/x", unknown).status, 401);  // asks for a fetch, which fails
    failures =
        metricValue(metrics(), "switchyard_jwt_authn_jwks_fetch_failures_total{provider=\"main\"}");
    if (failures == 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_GE(failures, 1);
  EXPECT_EQ(get("/x", key1().sign(claims("user-9"))).status, 200);
  EXPECT_EQ(get("/x", key2().sign(claims("user-8"))).status, 200);
  const std::string log = proxy().output();
  EXPECT_NE(log.find("fetching the JWKS"), std::string::npos) << log;
}

TEST_F(JwtAuthnTest, AStickySplitKeysOnTheVerifiedClaim) {
  const std::string jwks = writeFile("jwks.json", jwksJson({&key1()}));
  addUpstream("a");
  addUpstream("b");
  ProxyConfig config = jwtConfig("{file: " + jwks + "}");
  config.clusters = {{"a", {upstreams_[0]->address()}, ""}, {"b", {upstreams_[1]->address()}, ""}};
  config.routes = {{"api", "/api/", "",
                    "    split: [{cluster: a, weight: 50}, {cluster: b, weight: 50}]\n"
                    "    sticky: {claim: sub}\n"}};
  startProxy(config);
  std::set<std::string> sides;
  for (int u = 0; u < 12; ++u) {
    const std::string token = key1().sign(claims("user-" + std::to_string(u)));
    std::set<std::string> mine;
    // The client's own X-User-Id changes nothing: the side follows the verified sub.
    for (int i = 0; i < 4; ++i) {
      Response r = get("/api/items", token, {{"X-User-Id", "spoof-" + std::to_string(i)}});
      ASSERT_EQ(r.status, 200) << r.body;
      mine.insert(*jsonString(r.body, "service"));
    }
    EXPECT_EQ(mine.size(), 1u) << "user-" << u;
    sides.insert(mine.begin(), mine.end());
  }
  EXPECT_EQ(sides.size(), 2u);  // twelve users land on both sides
}

TEST_F(JwtAuthnTest, APerUserLimitHoldsWhileTheClientRotatesItsId) {
  const std::string jwks = writeFile("jwks.json", jwksJson({&key1()}));
  ProxyConfig config = jwtConfig("{file: " + jwks + "}");
  config.filters +=
      "  - rate_limit:\n"
      "      policies:\n"
      "        - {name: per-user, key: {claim: sub}, limit: 3, window: 1m}\n";
  startProxy(config);
  const std::string token = key1().sign(claims("heavy-user"));
  std::vector<int> statuses;
  for (int i = 0; i < 6; ++i) {
    statuses.push_back(get("/x", token, {{"X-User-Id", "id-" + std::to_string(i)}}).status);
  }
  EXPECT_EQ(statuses, (std::vector<int>{200, 200, 200, 429, 429, 429}));
  EXPECT_EQ(get("/x", key1().sign(claims("light-user"))).status, 200);
}

}  // namespace
}  // namespace switchyard::test::integration
