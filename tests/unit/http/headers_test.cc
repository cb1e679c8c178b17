#include "proxy/http/headers.h"

#include <gtest/gtest.h>

namespace switchyard::http {
namespace {

TEST(HeaderMapTest, GetCountAndOrder) {
  HeaderMap h;
  EXPECT_EQ(h.get("a"), nullptr);
  h.add("a", "1");
  h.add("b", "2");
  h.add("a", "3");
  ASSERT_NE(h.get("a"), nullptr);
  EXPECT_EQ(*h.get("a"), "1");
  EXPECT_EQ(h.count("a"), 2u);
  EXPECT_EQ(h.count("c"), 0u);
  EXPECT_EQ(h.size(), 3u);
  EXPECT_EQ(h.byteSize(), (1 + 1 + 4) * 3u);
}

TEST(HeaderMapTest, SetReplacesEveryValueWithOneInPlace) {
  HeaderMap h;
  h.add("a", "1");
  h.add("b", "2");
  h.add("a", "3");
  h.set("a", "x");
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h.entries()[0].name, "a");
  EXPECT_EQ(h.entries()[0].value, "x");
  EXPECT_EQ(h.entries()[1].name, "b");
  h.set("c", "new");
  ASSERT_EQ(h.size(), 3u);
  EXPECT_EQ(h.entries()[2].value, "new");
}

TEST(HeaderMapTest, RemoveReturnsHowManyWereRemoved) {
  HeaderMap h;
  h.add("a", "1");
  h.add("b", "2");
  h.add("a", "3");
  EXPECT_EQ(h.remove("a"), 2u);
  EXPECT_EQ(h.remove("a"), 0u);
  ASSERT_EQ(h.size(), 1u);
  EXPECT_EQ(h.entries()[0].name, "b");
  h.clear();
  EXPECT_EQ(h.size(), 0u);
}

TEST(HeaderHelpersTest, CaseFolding) {
  std::string s = "Content-TYPE";
  toLowerInPlace(s);
  EXPECT_EQ(s, "content-type");
  EXPECT_TRUE(equalsIgnoreCase("Keep-Alive", "keep-alive"));
  EXPECT_FALSE(equalsIgnoreCase("keep-alive", "keep-aliv"));
  EXPECT_FALSE(equalsIgnoreCase("a", "b"));
}

TEST(HeaderHelpersTest, ListContains) {
  EXPECT_TRUE(headerListContains("keep-alive, Upgrade", "upgrade"));
  EXPECT_TRUE(headerListContains(" close ", "close"));
  EXPECT_TRUE(headerListContains("a,\tb\t,c", "b"));
  EXPECT_FALSE(headerListContains("closed, x", "close"));
  EXPECT_FALSE(headerListContains("", "close"));
}

TEST(HeaderHelpersTest, ReasonPhrases) {
  EXPECT_STREQ(reasonPhrase(200), "OK");
  EXPECT_STREQ(reasonPhrase(413), "Content Too Large");
  EXPECT_STREQ(reasonPhrase(431), "Request Header Fields Too Large");
  EXPECT_STREQ(reasonPhrase(502), "Bad Gateway");
  EXPECT_STREQ(reasonPhrase(599), "Unknown");
}

TEST(HeaderRequestTest, PathWithoutQueryAndHead) {
  RequestHeaders r;
  r.method = "HEAD";
  r.path = "/a/b?x=1?y";
  EXPECT_EQ(r.pathWithoutQuery(), "/a/b");
  EXPECT_TRUE(r.isHead());
  r.path = "/plain";
  EXPECT_EQ(r.pathWithoutQuery(), "/plain");
  r.method = "GET";
  EXPECT_FALSE(r.isHead());
}

}  // namespace
}  // namespace switchyard::http
