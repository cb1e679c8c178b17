#include "proxy/http/headers.h"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

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

TEST(HeaderMapTest, EntriesStayValidWhileTheArenaGrows) {
  HeaderMap h;
  std::vector<std::string> values;
  for (int i = 0; i < 200; ++i) {
    values.push_back(std::string(static_cast<size_t>(37 + i), static_cast<char>('a' + i % 26)));
    h.add("x-h" + std::to_string(i), values.back());
  }
  ASSERT_EQ(h.size(), 200u);
  for (int i = 0; i < 200; ++i) {
    EXPECT_EQ(h.entries()[i].name, "x-h" + std::to_string(i));
    EXPECT_EQ(h.entries()[i].value, values[i]);
  }
  // A value larger than any block so far gets a block of its own.
  const std::string big(100000, 'z');
  h.set("x-h3", big);
  EXPECT_EQ(*h.get("x-h3"), big);
  EXPECT_EQ(h.entries()[0].value, values[0]);
}

TEST(HeaderMapTest, AnOpenTokenMovesWholeToANewBlock) {
  HeaderMap h;
  h.add("a", std::string(1000, 'a'));  // nearly fills the first block
  std::string expected;
  for (int i = 0; i < 50; ++i) {
    const std::string part = "part" + std::to_string(i) + "-";
    memcpy(h.extendToken(part.size()), part.data(), part.size());
    expected += part;
  }
  const std::string_view token = h.takeToken();
  EXPECT_EQ(token, expected);
  h.addOwned("b", token);
  EXPECT_EQ(*h.get("b"), expected);
  EXPECT_EQ(h.entries()[0].value, std::string(1000, 'a'));
  EXPECT_TRUE(h.takeToken().empty());
}

TEST(HeaderMapTest, ClearKeepsNothingVisibleAndReusesTheArena) {
  HeaderMap h;
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 100; ++i)
      h.add("name", std::string(static_cast<size_t>(round * 100 + i), 'v'));
    ASSERT_EQ(h.size(), 100u);
    EXPECT_EQ(h.entries()[99].value.size(), static_cast<size_t>(round * 100 + 99));
    h.clear();
    EXPECT_EQ(h.size(), 0u);
    EXPECT_EQ(h.get("name"), nullptr);
  }
}

TEST(HeaderMapTest, CopiesAreDeepAndMovesKeepTheViews) {
  HeaderMap a;
  a.add("x", "1");
  a.add("y", std::string(3000, 'y'));
  HeaderMap b = a;
  a.set("x", "changed");
  EXPECT_EQ(*b.get("x"), "1");
  EXPECT_EQ(b.get("y")->size(), 3000u);
  HeaderMap c = std::move(b);
  EXPECT_EQ(*c.get("x"), "1");
  EXPECT_EQ(b.size(), 0u);  // NOLINT(bugprone-use-after-move): a moved-from map is empty
  b.add("z", "usable after a move");
  EXPECT_EQ(*b.get("z"), "usable after a move");
  c = a;
  EXPECT_EQ(*c.get("x"), "changed");
}

TEST(HeaderMapTest, SetValueAtAndRemoveIf) {
  HeaderMap h;
  h.add("a", "1");
  h.add("b", "2");
  h.add("c", "3");
  h.setValueAt(1, "two");
  EXPECT_EQ(*h.get("b"), "two");
  EXPECT_EQ(h.removeIf([](const HeaderMap::Entry& e) { return e.value != "two"; }), 2u);
  ASSERT_EQ(h.size(), 1u);
  EXPECT_EQ(h.entries()[0].name, "b");
}

TEST(HeaderHelpersTest, CopyShortCopiesExactlyTheBytesAskedFor) {
  std::string src;
  for (int i = 0; i < 40; ++i) src.push_back(static_cast<char>('A' + i));
  for (size_t n = 0; n <= 40; ++n) {
    std::string dst(48, '.');
    copyShort(dst.data() + 4, src.data(), n);
    EXPECT_EQ(dst, std::string(4, '.') + src.substr(0, n) + std::string(44 - n, '.')) << n;
  }
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

TEST(HeaderMapTest, SharedEntriesKeepTheirOwnerAliveUntilCleared) {
  auto owner = std::make_shared<std::vector<std::string>>(
      std::vector<std::string>{"content-type", "text/plain", "etag", "\"v1\""});
  std::weak_ptr<std::vector<std::string>> watch = owner;
  HeaderMap map;
  map.add("age", "3");
  std::shared_ptr<const void> keep = owner;
  map.addShared((*owner)[0], (*owner)[1], keep);
  map.addShared((*owner)[2], (*owner)[3], keep);
  // Not copied: the map's views are the owner's bytes.
  EXPECT_EQ(map.get("content-type")->data(), (*owner)[1].data());
  const std::string* stored_etag = &(*owner)[3];

  // A copy copies the bytes and holds nothing.
  HeaderMap copy = map;
  EXPECT_NE(copy.get("etag")->data(), stored_etag->data());

  owner.reset();
  EXPECT_FALSE(watch.expired());  // the map and `keep`
  HeaderMap moved = std::move(map);
  EXPECT_EQ(*moved.get("etag"), "\"v1\"");
  moved.clear();
  EXPECT_FALSE(watch.expired());  // `keep` still
  keep.reset();
  EXPECT_TRUE(watch.expired());
  EXPECT_EQ(*copy.get("etag"), "\"v1\"");
}

TEST(HeaderMapTest, EntriesOfASecondOwnerAreCopied) {
  const auto a = std::make_shared<const std::string>("first");
  const auto b = std::make_shared<const std::string>("second");
  HeaderMap map;
  map.addShared("x-a", *a, a);
  map.addShared("x-b", *b, b);
  EXPECT_EQ(map.get("x-a")->data(), a->data());
  EXPECT_NE(map.get("x-b")->data(), b->data());
  EXPECT_EQ(*map.get("x-b"), "second");
}

}  // namespace
}  // namespace switchyard::http
