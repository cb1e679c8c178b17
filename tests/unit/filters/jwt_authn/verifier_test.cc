#include "filters/jwt_authn/verifier.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "filters/jwt_authn/jwks.h"
#include "filters/jwt_authn/key_source.h"
#include "tests/support/jwt_keys.h"

namespace switchyard::filters::jwt_authn {
namespace {

using nlohmann::json;
using test::JwtKey;

constexpr int64_t Now = 1767225600;  // 2026-01-01T00:00:00Z

// Generated once: RSA key generation takes a while.
struct Keys {
  JwtKey rsa = JwtKey::rsa("rsa-1");
  JwtKey rsa_other = JwtKey::rsa("rsa-1");  // same kid, other key: a forged signature
  JwtKey p256 = JwtKey::ec("ec-256", 256);
  JwtKey p384 = JwtKey::ec("ec-384", 384);
  JwtKey ed = JwtKey::ed25519("ed-1");
  JwtKey rsa_later = JwtKey::rsa("rsa-2");
};
const Keys& keys() {
  static const Keys k;
  return k;
}

class FixedKeys final : public KeyProvider {
 public:
  explicit FixedKeys(const std::string& jwks) {
    auto set = std::make_shared<KeySet>();
    std::string error;
    EXPECT_TRUE(parseJwks(jwks, *set, error)) << error;
    keys_ = set;
  }
  std::shared_ptr<const KeySet> keys() const override { return keys_; }
  uint64_t generation() const override { return 7; }
  void onUnknownKid() const override { ++unknown_kids; }
  mutable int unknown_kids = 0;

 private:
  std::shared_ptr<const KeySet> keys_;
};

class VerifierTest : public ::testing::Test {
 protected:
  VerifierTest()
      : provider_keys_(test::jwksJson({&keys().rsa, &keys().p256, &keys().p384, &keys().ed})) {
    ProviderConfig p;
    p.name = "main";
    p.issuer = "https://auth.example.com/";
    p.audiences = {"orders-api"};
    p.clock_skew = std::chrono::seconds(30);
    config_.providers.push_back(p);
  }

  json claims() const {
    return {{"iss", "https://auth.example.com/"},
            {"aud", "orders-api"},
            {"sub", "user-1"},
            {"exp", Now + 600},
            {"iat", Now}};
  }
  Verification verify(const std::string& token, int64_t now = Now) {
    return verifyToken(token, config_, {&provider_keys_}, now);
  }

  JwtAuthnConfig config_;
  FixedKeys provider_keys_;
};

TEST_F(VerifierTest, EveryAlgorithmVerifies) {
  for (const JwtKey* k : {&keys().rsa, &keys().p256, &keys().p384, &keys().ed}) {
    const Verification v = verify(k->sign(claims()));
    EXPECT_EQ(v.result, Result::Ok) << k->alg() << ": " << v.detail;
    ASSERT_TRUE(v.claims);
    EXPECT_EQ(*v.claims->get("sub"), "user-1");
    EXPECT_EQ(v.exp, Now + 600);
    EXPECT_EQ(v.generation, 7u);
  }
  for (const char* alg : {"RS384", "RS512", "PS256", "PS384", "PS512"}) {
    const Verification v = verify(keys().rsa.sign(claims(), alg));
    EXPECT_EQ(v.result, Result::Ok) << alg << ": " << v.detail;
  }
}

TEST_F(VerifierTest, ExpiryAndNotBeforeWithTheSkew) {
  json c = claims();
  c["exp"] = Now - 29;  // within the 30 s skew
  EXPECT_EQ(verify(keys().rsa.sign(c)).result, Result::Ok);
  c["exp"] = Now - 30;
  EXPECT_EQ(verify(keys().rsa.sign(c)).result, Result::Expired);
  c["exp"] = Now - 3600;
  EXPECT_EQ(verify(keys().p256.sign(c)).result, Result::Expired);

  c = claims();
  c["nbf"] = Now + 30;
  EXPECT_EQ(verify(keys().rsa.sign(c)).result, Result::Ok);
  c["nbf"] = Now + 31;
  EXPECT_EQ(verify(keys().rsa.sign(c)).result, Result::NotYetValid);
  // The same token becomes valid as time passes: verification is a function of `now`.
  EXPECT_EQ(verify(keys().rsa.sign(c), Now + 1).result, Result::Ok);

  c = claims();
  c.erase("exp");
  const Verification v = verify(keys().rsa.sign(c));
  EXPECT_EQ(v.result, Result::Malformed);
  EXPECT_NE(v.detail.find("exp"), std::string::npos);
}

TEST_F(VerifierTest, IssuerAndAudience) {
  json c = claims();
  c["iss"] = "https://evil.example.com/";
  EXPECT_EQ(verify(keys().rsa.sign(c)).result, Result::BadIssuer);
  c.erase("iss");
  EXPECT_EQ(verify(keys().rsa.sign(c)).result, Result::BadIssuer);

  c = claims();
  c["aud"] = "billing-api";
  EXPECT_EQ(verify(keys().rsa.sign(c)).result, Result::BadAudience);
  c["aud"] = json::array({"billing-api", "orders-api"});
  EXPECT_EQ(verify(keys().rsa.sign(c)).result, Result::Ok);
  c["aud"] = json::array();
  EXPECT_EQ(verify(keys().rsa.sign(c)).result, Result::BadAudience);
  c.erase("aud");
  EXPECT_EQ(verify(keys().rsa.sign(c)).result, Result::BadAudience);
  // A provider without audiences does not look at aud.
  config_.providers[0].audiences.clear();
  EXPECT_EQ(verify(keys().rsa.sign(c)).result, Result::Ok);
}

TEST_F(VerifierTest, TheProviderIsPickedByIssuer) {
  ProviderConfig second = config_.providers[0];
  second.name = "partner";
  second.issuer = "https://partner.example.com/";
  config_.providers.push_back(second);
  FixedKeys partner_keys(test::jwksJson({&keys().rsa_later}));
  json c = claims();
  c["iss"] = "https://partner.example.com/";
  Verification v =
      verifyToken(keys().rsa_later.sign(c), config_, {&provider_keys_, &partner_keys}, Now);
  EXPECT_EQ(v.result, Result::Ok) << v.detail;
  EXPECT_EQ(v.provider, 1u);
  // The main provider's key does not sign for the partner.
  v = verifyToken(keys().rsa.sign(c), config_, {&provider_keys_, &partner_keys}, Now);
  EXPECT_EQ(v.result, Result::UnknownKid);
}

TEST_F(VerifierTest, BadSignatures) {
  // Same kid, another key.
  EXPECT_EQ(verify(keys().rsa_other.sign(claims())).result, Result::BadSignature);
  // A payload swapped under a valid signature.
  const std::string good = keys().p256.sign(claims());
  json c = claims();
  c["sub"] = "admin";
  const std::string forged = keys().p256.sign(c);
  const std::string spliced = forged.substr(0, forged.rfind('.')) + good.substr(good.rfind('.'));
  EXPECT_EQ(verify(spliced).result, Result::BadSignature);
  // An ES256 signature of the wrong length.
  EXPECT_EQ(verify(good.substr(0, good.rfind('.')) + ".AAAA").result, Result::BadSignature);
  // An empty signature.
  EXPECT_EQ(verify(good.substr(0, good.rfind('.') + 1)).result, Result::BadSignature);
}

TEST_F(VerifierTest, NoneAndHmacAreRefused) {
  Verification v = verify(test::unsignedToken(claims()));
  EXPECT_EQ(v.result, Result::BadSignature);
  EXPECT_NE(v.detail.find("\"none\""), std::string::npos);
  // The classic confusion: HS256 keyed with the RSA public key a verifier might hold.
  for (const std::string& secret :
       {keys().rsa.publicPem(), keys().rsa.jwk().dump(), std::string(keys().rsa.jwk()["n"])}) {
    const std::string token =
        test::signHs256({{"alg", "HS256"}, {"kid", "rsa-1"}}, claims(), secret);
    EXPECT_EQ(verify(token).result, Result::BadSignature);
  }
  // Even with a token naming an unknown algorithm.
  EXPECT_EQ(verify(keys().rsa.sign(claims(), "RS1")).result, Result::BadSignature);
}

TEST_F(VerifierTest, KeyLookupByKid) {
  // Unknown kid: the source is told (it may fetch the set again).
  EXPECT_EQ(verify(keys().rsa_later.sign(claims())).result, Result::UnknownKid);
  EXPECT_EQ(provider_keys_.unknown_kids, 1);
  // A known kid whose key does not fit the algorithm: an EC key for an RS256 token.
  EXPECT_EQ(verify(keys().rsa.sign(claims(), "", {{"kid", "ec-256"}})).result, Result::UnknownKid);
  EXPECT_EQ(provider_keys_.unknown_kids, 1);
  // ES384 token naming the P-256 key.
  EXPECT_EQ(verify(keys().p384.sign(claims(), "", {{"kid", "ec-256"}})).result, Result::UnknownKid);
  // Without kid: every key that fits is tried.
  EXPECT_EQ(verify(keys().p256.sign(claims(), "", {{"kid", nullptr}})).result, Result::Ok);
  EXPECT_EQ(verify(keys().rsa_other.sign(claims(), "", {{"kid", nullptr}})).result,
            Result::BadSignature);
  // No keys yet (a URL not fetched): unknown kid.
  EXPECT_EQ(verifyToken(keys().rsa.sign(claims()), config_, {nullptr}, Now).result,
            Result::UnknownKid);
}

TEST_F(VerifierTest, AKeysOwnAlgRestrictsIt) {
  json jwk = keys().rsa.jwk();
  jwk["alg"] = "PS256";
  FixedKeys restricted(json({{"keys", {jwk}}}).dump());
  EXPECT_EQ(verifyToken(keys().rsa.sign(claims()), config_, {&restricted}, Now).result,
            Result::UnknownKid);
  EXPECT_EQ(verifyToken(keys().rsa.sign(claims(), "PS256"), config_, {&restricted}, Now).result,
            Result::Ok);
}

TEST_F(VerifierTest, MalformedTokens) {
  EXPECT_EQ(verify("not-a-token").result, Result::Malformed);
  EXPECT_EQ(verify("a.b").result, Result::Malformed);
  EXPECT_EQ(verify("a.b.c.d").result, Result::Malformed);
  EXPECT_EQ(verify("@@.@@.@@").result, Result::Malformed);
  const std::string big = keys().rsa.sign({{"pad", std::string(9000, 'x')}});
  EXPECT_EQ(verify(big).result, Result::Malformed);
}

TEST(JwksTest, ParsesAndSkips) {
  const Keys& k = keys();
  json doc = json::parse(test::jwksJson({&k.rsa, &k.p256, &k.p384, &k.ed}));
  doc["keys"].push_back({{"kty", "oct"}, {"k", "c2VjcmV0"}, {"kid", "hmac"}});
  doc["keys"].push_back({{"kty", "EC"}, {"crv", "secp256k1"}, {"x", "AA"}, {"y", "AA"}});
  json enc = k.rsa.jwk();
  enc["use"] = "enc";
  enc["kid"] = "encryption";
  doc["keys"].push_back(enc);
  KeySet set;
  std::string error;
  std::vector<std::string> skipped;
  ASSERT_TRUE(parseJwks(doc.dump(), set, error, &skipped)) << error;
  EXPECT_EQ(set.keys().size(), 4u);
  EXPECT_EQ(skipped.size(), 3u);
  EXPECT_NE(set.find("ed-1"), nullptr);
  EXPECT_EQ(set.find("hmac"), nullptr);
  // A single JWK is a set of one.
  ASSERT_TRUE(parseJwks(k.ed.jwk().dump(), set, error)) << error;
  EXPECT_EQ(set.keys().size(), 1u);
}

TEST(JwksTest, RefusesBrokenSets) {
  KeySet set;
  std::string error;
  EXPECT_FALSE(parseJwks("not json", set, error));
  EXPECT_FALSE(parseJwks(R"({"keys": 5})", set, error));
  EXPECT_FALSE(parseJwks(R"({"keys": []})", set, error));
  EXPECT_NE(error.find("no usable key"), std::string::npos);
  EXPECT_FALSE(parseJwks(R"({"keys": [{"kty":"oct","k":"AAAA"}]})", set, error));
  EXPECT_FALSE(parseJwks(R"({"keys": [{"kty":"RSA","n":"AQAB"}]})", set, error));
  EXPECT_NE(error.find("\"e\""), std::string::npos);

  const JwtKey small = JwtKey::rsa("small", 1024);
  EXPECT_FALSE(parseJwks(test::jwksJson({&small}), set, error));
  EXPECT_NE(error.find("1024 bits is too weak"), std::string::npos) << error;

  // A point that is not on the curve.
  json bad = keys().p256.jwk();
  std::string y = bad["y"];
  y[3] = y[3] == 'A' ? 'B' : 'A';
  bad["y"] = y;
  EXPECT_FALSE(parseJwks(json({{"keys", {bad}}}).dump(), set, error));
  EXPECT_NE(error.find("not on P-256"), std::string::npos) << error;
}

TEST(JwtRefetchTest, AtMostOncePerInterval) {
  EXPECT_TRUE(refetchDue(100, 0, 30));
  EXPECT_FALSE(refetchDue(100, 80, 30));
  EXPECT_TRUE(refetchDue(110, 80, 30));
}

}  // namespace
}  // namespace switchyard::filters::jwt_authn

namespace switchyard::filters::jwt_authn {
namespace {

// Not tests: the cost of a fresh verification (no cache), for the performance notes. Run one
// under callgrind with --toggle-collect='*verifyToken*' (see scripts/bench-jwt-token.sh) and
// divide by the count it prints; it also prints verifications per second.
void freshVerifications(const JwtKey& key) {
  const int n = 200;
  JwtAuthnConfig config;
  ProviderConfig p;
  p.name = "main";
  p.issuer = "https://auth.example.com/";
  p.audiences = {"orders-api"};
  config.providers.push_back(p);
  FixedKeys provider(test::jwksJson({&key}));
  std::vector<std::string> tokens;
  for (int i = 0; i < n; ++i) {
    tokens.push_back(key.sign({{"iss", "https://auth.example.com/"},
                               {"aud", "orders-api"},
                               {"sub", "user-" + std::to_string(i)},
                               {"exp", Now + 600}}));
  }
  const auto start = std::chrono::steady_clock::now();
  int ok = 0;
  for (const std::string& t : tokens) {
    ok += verifyToken(t, config, {&provider}, Now).result == Result::Ok ? 1 : 0;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(ok, n);
  std::printf("%s: %d verifications, %.0f per second\n", key.alg().c_str(), n, n / seconds);
}

TEST(JwtVerifyCost, DISABLED_RS256) { freshVerifications(keys().rsa); }
TEST(JwtVerifyCost, DISABLED_ES256) { freshVerifications(keys().p256); }
TEST(JwtVerifyCost, DISABLED_EdDSA) { freshVerifications(keys().ed); }

}  // namespace
}  // namespace switchyard::filters::jwt_authn
