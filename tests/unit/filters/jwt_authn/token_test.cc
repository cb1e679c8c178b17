#include "filters/jwt_authn/token.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/support/jwt_keys.h"

namespace switchyard::filters::jwt_authn {
namespace {

using test::base64Url;

std::string tokenOf(const std::string& header, const std::string& payload,
                    const std::string& sig = "sig") {
  return base64Url(header) + "." + base64Url(payload) + "." + base64Url(sig);
}

TEST(JwtBase64UrlTest, RoundTripsEveryLength) {
  std::string bytes;
  for (int i = 0; i < 70; ++i) {
    std::string decoded;
    const std::string encoded = encodeBase64Url(bytes);
    EXPECT_EQ(encoded, base64Url(bytes));
    ASSERT_TRUE(decodeBase64Url(encoded, decoded)) << encoded;
    EXPECT_EQ(decoded, bytes);
    bytes.push_back(static_cast<char>(i * 37 + 250));
  }
}

TEST(JwtBase64UrlTest, RefusesWhatIsNotUnpaddedBase64Url) {
  std::string out;
  EXPECT_FALSE(decodeBase64Url("YQ==", out));   // padding
  EXPECT_FALSE(decodeBase64Url("a+b/", out));   // the other alphabet
  EXPECT_FALSE(decodeBase64Url("abcde", out));  // 4n+1 characters
  EXPECT_FALSE(decodeBase64Url("YR", out));     // non-zero leftover bits
  EXPECT_FALSE(decodeBase64Url("a b", out));
  EXPECT_TRUE(decodeBase64Url("YQ", out));
  EXPECT_EQ(out, "a");
  EXPECT_TRUE(decodeBase64Url("", out));
}

TEST(JwtParseTest, LiftsOutWhatVerificationNeeds) {
  const std::string text =
      tokenOf(R"({"alg":"RS256","kid":"k1","typ":"JWT"})",
              R"({"iss":"https://issuer/","aud":["a","b"],"exp":2000000000,"nbf":1500000000.7,)"
              R"("sub":"user-1","admin":true,"n":42,"obj":{"x":1},"bad":"line\nbreak"})");
  Token t;
  ParseError e;
  ASSERT_TRUE(parseToken(text, 8192, t, e)) << e.reason;
  EXPECT_EQ(t.alg, Alg::RS256);
  EXPECT_EQ(t.kid, "k1");
  EXPECT_EQ(t.iss, "https://issuer/");
  EXPECT_EQ(t.aud, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(*t.exp, 2000000000);
  EXPECT_EQ(*t.nbf, 1500000000);
  EXPECT_EQ(t.signature, "sig");
  EXPECT_EQ(t.signing_input, text.substr(0, text.rfind('.')));
  std::map<std::string, std::string> claims(t.claims.begin(), t.claims.end());
  EXPECT_EQ(claims["sub"], "user-1");
  EXPECT_EQ(claims["admin"], "true");
  EXPECT_EQ(claims["n"], "42");
  EXPECT_EQ(claims.count("obj"), 0u);  // objects are not claims one can key on
  EXPECT_EQ(claims.count("bad"), 0u);  // a control character could not be forwarded
}

TEST(JwtParseTest, AudienceAsAString) {
  Token t;
  ParseError e;
  ASSERT_TRUE(parseToken(tokenOf(R"({"alg":"ES256"})", R"({"aud":"only"})"), 8192, t, e));
  EXPECT_EQ(t.aud, (std::vector<std::string>{"only"}));
  EXPECT_TRUE(t.has_aud);
  EXPECT_FALSE(t.exp.has_value());
}

TEST(JwtParseTest, AlgorithmNames) {
  EXPECT_EQ(algFromName("none"), Alg::None);
  EXPECT_EQ(algFromName("HS256"), Alg::Hmac);
  EXPECT_EQ(algFromName("HS512"), Alg::Hmac);
  EXPECT_EQ(algFromName("EdDSA"), Alg::EdDSA);
  EXPECT_EQ(algFromName("PS256"), Alg::PS256);
  EXPECT_EQ(algFromName("rs256"), Alg::Unknown);
}

TEST(JwtParseTest, RefusesMalformedTokens) {
  const std::string ok_header = R"({"alg":"RS256"})";
  const std::string ok_payload = R"({"exp":1})";
  struct Case {
    std::string text;
    std::string reason;
  };
  const Case cases[] = {
      {"", "three"},
      {"abc", "three"},
      {base64Url(ok_header) + "." + base64Url(ok_payload), "three"},
      {tokenOf(ok_header, ok_payload) + ".x", "three"},
      {base64Url(ok_header) + "." + base64Url(ok_payload) + ".a+b", "base64url"},
      {"e30=." + base64Url(ok_payload) + ".c2ln", "base64url"},
      {tokenOf("not json", ok_payload), "header is not a JSON object"},
      {tokenOf("[1]", ok_payload), "header is not a JSON object"},
      {tokenOf(ok_header, "{\"exp\":"), "payload is not a JSON object"},
      {tokenOf(R"({"typ":"JWT"})", ok_payload), "no \"alg\""},
      {tokenOf(R"({"alg":5})", ok_payload), "no \"alg\""},
      {tokenOf(R"({"alg":"RS256","crit":["b64"]})", ok_payload), "crit"},
      {tokenOf(R"({"alg":"RS256","kid":7})", ok_payload), "kid"},
      {tokenOf(ok_header, R"({"iss":1})"), "iss"},
      {tokenOf(ok_header, R"({"aud":5})"), "aud"},
      {tokenOf(ok_header, R"({"aud":["a",5]})"), "aud"},
      {tokenOf(ok_header, R"({"exp":"tomorrow"})"), "exp"},
      {tokenOf(ok_header, R"({"nbf":null})"), "nbf"},
  };
  for (const Case& c : cases) {
    Token t;
    ParseError e;
    EXPECT_FALSE(parseToken(c.text, 8192, t, e)) << c.text;
    EXPECT_NE(e.reason.find(c.reason), std::string::npos) << c.text << ": " << e.reason;
  }
}

TEST(JwtParseTest, RefusesOversizedTokens) {
  const std::string text =
      tokenOf(R"({"alg":"RS256"})", R"({"pad":")" + std::string(200, 'x') + "\"}");
  Token t;
  ParseError e;
  EXPECT_FALSE(parseToken(text, 100, t, e));
  EXPECT_NE(e.reason.find("longer than 100 bytes"), std::string::npos);
  EXPECT_TRUE(parseToken(text, text.size(), t, e));
}

}  // namespace
}  // namespace switchyard::filters::jwt_authn
