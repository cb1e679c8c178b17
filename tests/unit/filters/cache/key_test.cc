#include "filters/cache/key.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace switchyard::filters::cache {
namespace {

http::HeaderMap headers(const std::vector<std::pair<std::string, std::string>>& fields) {
  http::HeaderMap map;
  for (const auto& [name, value] : fields) map.add(name, value);
  return map;
}

KeyInputs inputs(std::string_view method = "GET", std::string_view host = "api.example.com",
                 std::string_view target = "/orders?page=2") {
  KeyInputs in;
  in.method = method;
  in.scheme = "http";
  in.host = host;
  in.route = "api";
  in.version = "v2";
  in.cluster = "modern";
  in.target = target;
  return in;
}

TEST(CacheKeyTest, PrimaryKeyNamesWhatWasAskedAndWhereItWent) {
  EXPECT_EQ(primaryKey(inputs()), "G\nhttp\napi.example.com\napi\nv2\nmodern\n/orders?page=2");
  // GET and HEAD share; other methods do not.
  EXPECT_EQ(primaryKey(inputs("HEAD")), primaryKey(inputs("GET")));
  EXPECT_NE(primaryKey(inputs("POST")), primaryKey(inputs("GET")));
  // The host is case-insensitive and a default port is no port.
  EXPECT_EQ(primaryKey(inputs("GET", "API.Example.COM:80")), primaryKey(inputs()));
  EXPECT_NE(primaryKey(inputs("GET", "api.example.com:8080")), primaryKey(inputs()));
  KeyInputs https = inputs("GET", "api.example.com:443");
  https.scheme = "https";
  KeyInputs https_plain = inputs();
  https_plain.scheme = "https";
  EXPECT_EQ(primaryKey(https), primaryKey(https_plain));
  EXPECT_NE(primaryKey(https_plain), primaryKey(inputs()));
  // The query is part of the key; an empty target is "/".
  EXPECT_NE(primaryKey(inputs("GET", "h", "/orders?page=1")),
            primaryKey(inputs("GET", "h", "/orders?page=2")));
  EXPECT_EQ(primaryKey(inputs("GET", "h", "")), primaryKey(inputs("GET", "h", "/")));
}

TEST(CacheKeyTest, TheSplitDecisionIsPartOfTheKey) {
  // One URL, two users on two sides of a sticky split: two resources.
  KeyInputs v1 = inputs();
  v1.cluster = "legacy";
  EXPECT_NE(primaryKey(v1), primaryKey(inputs()));
  KeyInputs other_version = inputs();
  other_version.version = "v1";
  EXPECT_NE(primaryKey(other_version), primaryKey(inputs()));
  KeyInputs other_route = inputs();
  other_route.route = "reports";
  EXPECT_NE(primaryKey(other_route), primaryKey(inputs()));
}

TEST(CacheKeyTest, KeyPathStopsAtTheQuery) {
  EXPECT_EQ(keyPath("/api/orders?x=1"), "/api/orders");
  EXPECT_EQ(keyPath("/api/orders"), "/api/orders");
  EXPECT_EQ(keyPath("?x"), "");
}

TEST(CacheKeyTest, VaryNamesFromEveryLine) {
  VaryNames v = parseVary(headers({{"vary", "Accept-Encoding, accept-language"},
                                   {"content-type", "text/plain"},
                                   {"vary", " ACCEPT-encoding ,, X-Tenant"}}));
  EXPECT_FALSE(v.star);
  EXPECT_EQ(v.names, (std::vector<std::string>{"accept-encoding", "accept-language", "x-tenant"}));
  EXPECT_TRUE(parseVary(headers({})).empty());
  EXPECT_TRUE(parseVary(headers({{"vary", ""}})).empty());
  EXPECT_TRUE(parseVary(headers({{"vary", "accept, *"}})).star);
  // Not a token: what it varies on is unknown, so it is never reused.
  EXPECT_TRUE(parseVary(headers({{"vary", "accept, bad name"}})).star);
  EXPECT_TRUE(parseVary(headers({{"vary", "\"quoted\""}})).star);
}

TEST(CacheKeyTest, NormalizedValuesShareAVariant) {
  const http::HeaderMap a = headers({{"accept-encoding", "gzip,  br"}});
  const http::HeaderMap b = headers({{"accept-encoding", " gzip , br "}});
  const http::HeaderMap c = headers({{"accept-encoding", "gzip"}, {"accept-encoding", "br"}});
  EXPECT_EQ(normalizedFieldValue(a, "accept-encoding"), "gzip,br");
  EXPECT_EQ(normalizedFieldValue(b, "accept-encoding"), "gzip,br");
  EXPECT_EQ(normalizedFieldValue(c, "accept-encoding"), "gzip,br");
  // Whitespace inside a member folds to one space; quoted strings are kept exactly.
  EXPECT_EQ(normalizedFieldValue(headers({{"x", "a   b\t c"}}), "x"), "a b c");
  EXPECT_EQ(normalizedFieldValue(headers({{"x", "\"a  , b\" ,  c"}}), "x"), "\"a  , b\",c");
  EXPECT_EQ(normalizedFieldValue(headers({{"x", "\"a \\\" ,b\", c"}}), "x"), "\"a \\\" ,b\",c");
  EXPECT_EQ(normalizedFieldValue(headers({}), "x"), "");

  const VaryNames vary = parseVary(headers({{"vary", "Accept-Encoding"}}));
  EXPECT_EQ(secondaryKey(vary, a), secondaryKey(vary, b));
  EXPECT_EQ(secondaryKey(vary, a), secondaryKey(vary, c));
  EXPECT_NE(secondaryKey(vary, a), secondaryKey(vary, headers({{"accept-encoding", "br,gzip"}})));
}

TEST(CacheKeyTest, AnAbsentHeaderIsNotAnEmptyOne) {
  const VaryNames vary = parseVary(headers({{"vary", "x-tenant, accept"}}));
  const std::string absent = secondaryKey(vary, headers({{"accept", "*/*"}}));
  const std::string empty = secondaryKey(vary, headers({{"accept", "*/*"}, {"x-tenant", ""}}));
  EXPECT_NE(absent, empty);
  EXPECT_EQ(secondaryKey(vary, headers({{"x-tenant", "a"}, {"accept", "*/*"}})),
            "accept=*/*\nx-tenant=a\n");
  EXPECT_EQ(secondaryKey(VaryNames{}, headers({{"accept", "*/*"}})), "");
}

TEST(CacheKeyTest, ALongKeyIsTheSameAsAShortOneWouldBe) {
  // Past the inline buffer the key moves to the heap; a later short key comes back inline.
  const std::string long_target = "/search?q=" + std::string(400, 'x');
  KeyBuffer buffer;
  primaryKey(inputs("GET", "API.Example.com:80", long_target), buffer);
  EXPECT_EQ(buffer.view(), primaryKey(inputs("GET", "api.example.com", long_target)));
  EXPECT_TRUE(buffer.view().ends_with(long_target));
  primaryKey(inputs("GET", "API.EXAMPLE.COM", "/a"), buffer);
  EXPECT_EQ(buffer.view(), primaryKey(inputs("GET", "api.example.com", "/a")));
}

}  // namespace
}  // namespace switchyard::filters::cache
