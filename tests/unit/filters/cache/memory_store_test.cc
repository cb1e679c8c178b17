#include "filters/cache/memory_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "proxy/common/random.h"

namespace switchyard::filters::cache {
namespace {

using ResponsePtr = std::shared_ptr<const CachedResponse>;

ResponsePtr makeResponse(std::string body, std::vector<std::string> tags = {}, int status = 200) {
  auto response = std::make_shared<CachedResponse>();
  response->status = status;
  response->headers = {{"content-type", "text/plain"}, {"cache-control", "max-age=60"}};
  response->body = std::move(body);
  response->freshness_lifetime = std::chrono::seconds(60);
  response->etag = "\"v1\"";
  response->tags = std::move(tags);
  return response;
}

// One shard, so that eviction order does not depend on the hash seed.
MemoryStoreOptions oneShard(size_t max_bytes, size_t max_object_bytes = 0) {
  MemoryStoreOptions options;
  options.max_bytes = max_bytes;
  options.max_object_bytes = max_object_bytes == 0 ? max_bytes : max_object_bytes;
  options.shards = 1;
  return options;
}

// Keys of one length and bodies of one size make entries of one charge.
std::string pathOf(int i) {
  std::string digits = std::to_string(i);
  return "/k" + std::string(4 - digits.size(), '0') + digits;
}
std::string key(int i) { return "GET\nhttp\nexample.com\n" + pathOf(i); }

size_t sumOfCharges(const MemoryStore& store, size_t* entries = nullptr) {
  size_t bytes = 0;
  size_t count = 0;
  store.forEach([&](const MemoryStoreEntryView& entry) {
    bytes += entry.bytes;
    ++count;
    EXPECT_EQ(entry.bytes,
              MemoryStore::chargeOf(entry.primary, entry.secondary, entry.path, entry.response));
  });
  if (entries != nullptr) *entries = count;
  return bytes;
}

TEST(MemoryStoreTest, InsertThenLookup) {
  MemoryStore store(MemoryStoreOptions{});
  ResponsePtr response = makeResponse("hello");
  const size_t charge = MemoryStore::chargeOf(key(1), "", pathOf(1), *response);
  EXPECT_EQ(store.insert(key(1), "", pathOf(1), response), InsertStatus::Stored);

  CacheHit hit = store.lookup(key(1), "");
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit.response, response);  // the same object, not a copy
  EXPECT_FALSE(hit.soft_purged);
  EXPECT_EQ(hit.response->body, "hello");

  EXPECT_FALSE(store.lookup(key(2), ""));
  EXPECT_FALSE(store.lookup(key(1), "gzip"));
  // Keys are compared whole.
  EXPECT_FALSE(store.lookup(key(1) + " ", ""));
  EXPECT_FALSE(store.lookup(key(1).substr(0, key(1).size() - 1), ""));
  EXPECT_FALSE(store.lookup(key(1) + std::string(1, '\0'), ""));

  const MemoryStoreStats stats = store.stats();
  EXPECT_EQ(stats.bytes, charge);
  EXPECT_EQ(stats.entries, 1u);
  EXPECT_EQ(stats.keys, 1u);
  EXPECT_EQ(stats.inserts, 1u);
}

TEST(MemoryStoreTest, ChargeCountsEveryStoredString) {
  CachedResponse response;
  const size_t empty = MemoryStore::chargeOf("", "", "", response);
  EXPECT_EQ(empty, MemoryStore::EntryOverhead);
  response.body = std::string(1000, 'x');
  response.headers = {{"etag", "\"abc\""}, {"x", ""}};
  response.etag = "\"abc\"";
  response.last_modified = "Thu, 01 Jan 2026 00:00:00 GMT";
  response.tags = {"t1", "tag2"};
  response.vary_names = {"accept-encoding"};
  response.secondary_key = "accept-encoding=gzip";
  const size_t expected =
      MemoryStore::EntryOverhead + 3 + 4 + 5 + 1000 + (2 * MemoryStore::ItemOverhead + 4 + 5 + 1) +
      5 + 29 + (2 * MemoryStore::ItemOverhead + 2 + 4) + (MemoryStore::ItemOverhead + 15) + 20;
  EXPECT_EQ(MemoryStore::chargeOf("abc", "gzip", "/path", response), expected);
}

TEST(MemoryStoreTest, VariantsAreKeptApart) {
  MemoryStore store(MemoryStoreOptions{});
  auto gzip = std::make_shared<CachedResponse>(*makeResponse("gzip bytes"));
  gzip->vary_names = {"accept-encoding"};
  auto identity = std::make_shared<CachedResponse>(*makeResponse("plain bytes"));
  identity->vary_names = {"accept-encoding"};
  auto by_language = std::make_shared<CachedResponse>(*makeResponse("bonjour"));
  by_language->vary_names = {"accept-language"};

  EXPECT_EQ(store.insert(key(1), "gzip", pathOf(1), gzip), InsertStatus::Stored);
  EXPECT_EQ(store.insert(key(1), "\x01", pathOf(1), identity), InsertStatus::Stored);
  EXPECT_EQ(store.insert(key(1), "fr", pathOf(1), by_language), InsertStatus::Stored);
  EXPECT_EQ(store.lookup(key(1), "gzip").response->body, "gzip bytes");
  EXPECT_EQ(store.lookup(key(1), "\x01").response->body, "plain bytes");
  EXPECT_EQ(store.lookup(key(1), "fr").response->body, "bonjour");
  EXPECT_FALSE(store.lookup(key(1), ""));
  EXPECT_EQ(store.stats().entries, 3u);
  EXPECT_EQ(store.stats().keys, 1u);

  // Distinct lists, the latest insert's first.
  const auto lists = store.varyNames(key(1));
  ASSERT_EQ(lists.size(), 2u);
  EXPECT_EQ(lists[0], std::vector<std::string>{"accept-language"});
  EXPECT_EQ(lists[1], std::vector<std::string>{"accept-encoding"});
  EXPECT_TRUE(store.varyNames(key(2)).empty());
}

TEST(MemoryStoreTest, VariantsAreCappedByLeastRecentlyUsed) {
  MemoryStoreOptions options;
  options.max_variants = 4;
  MemoryStore store(options);
  for (int v = 0; v < 4; ++v) {
    ASSERT_EQ(store.insert(key(1), "v" + std::to_string(v), pathOf(1), makeResponse("x")),
              InsertStatus::Stored);
  }
  ASSERT_TRUE(store.lookup(key(1), "v0"));
  // v1 is the least recently used now.
  EXPECT_EQ(store.insert(key(1), "v4", pathOf(1), makeResponse("x")), InsertStatus::Stored);
  EXPECT_TRUE(store.lookup(key(1), "v0"));
  EXPECT_FALSE(store.lookup(key(1), "v1"));
  EXPECT_TRUE(store.lookup(key(1), "v2"));
  EXPECT_TRUE(store.lookup(key(1), "v3"));
  EXPECT_TRUE(store.lookup(key(1), "v4"));
  EXPECT_EQ(store.stats().entries, 4u);
  EXPECT_EQ(store.stats().evictions_variants, 1u);

  // Every variant was just looked up at the same tick: the oldest insert goes.
  EXPECT_EQ(store.insert(key(1), "v5", pathOf(1), makeResponse("x")), InsertStatus::Stored);
  EXPECT_FALSE(store.lookup(key(1), "v0"));
  EXPECT_EQ(store.stats().entries, 4u);
  EXPECT_EQ(store.stats().evictions_variants, 2u);
  // Replacing a variant of a full key evicts nothing else.
  EXPECT_EQ(store.insert(key(1), "v5", pathOf(1), makeResponse("y")), InsertStatus::Replaced);
  EXPECT_EQ(store.stats().evictions_variants, 2u);
  // Other keys have their own cap.
  EXPECT_EQ(store.insert(key(2), "v0", pathOf(2), makeResponse("x")), InsertStatus::Stored);
  EXPECT_EQ(store.stats().entries, 5u);
  EXPECT_EQ(store.stats().bytes, sumOfCharges(store));
}

TEST(MemoryStoreTest, InsertReplacesTheSameVariant) {
  MemoryStore store(MemoryStoreOptions{});
  ResponsePtr first = makeResponse("first version", {"t"});
  ResponsePtr second = makeResponse("second", {"u"});
  ASSERT_EQ(store.insert(key(1), "gzip", pathOf(1), first), InsertStatus::Stored);
  ASSERT_EQ(store.purgeKey(key(1), PurgeMode::Soft), 1u);
  ASSERT_TRUE(store.lookup(key(1), "gzip").soft_purged);

  EXPECT_EQ(store.insert(key(1), "gzip", pathOf(1), second), InsertStatus::Replaced);
  CacheHit hit = store.lookup(key(1), "gzip");
  EXPECT_EQ(hit.response, second);
  EXPECT_FALSE(hit.soft_purged);  // a new response is fresh again
  EXPECT_EQ(first->body, "first version");
  const MemoryStoreStats stats = store.stats();
  EXPECT_EQ(stats.entries, 1u);
  EXPECT_EQ(stats.bytes, MemoryStore::chargeOf(key(1), "gzip", pathOf(1), *second));
  EXPECT_EQ(stats.evictions_replaced, 1u);
  EXPECT_EQ(stats.inserts, 2u);
  // The replaced response's tags left the index with it.
  EXPECT_EQ(store.purgeTag("t", PurgeMode::Hard), 0u);
  EXPECT_EQ(store.purgeTag("u", PurgeMode::Hard), 1u);
  EXPECT_EQ(store.stats().bytes, 0u);
}

TEST(MemoryStoreTest, EvictsUntouchedEntriesFirst) {
  const size_t charge = MemoryStore::chargeOf(key(0), "", pathOf(0), *makeResponse("body"));
  // Room for exactly four entries.
  MemoryStore store(oneShard(4 * charge, charge));
  for (int i = 0; i < 4; ++i) store.insert(key(i), "", pathOf(i), makeResponse("body"));
  ASSERT_EQ(store.stats().bytes, 4 * charge);
  ASSERT_TRUE(store.lookup(key(0), ""));
  ASSERT_TRUE(store.lookup(key(2), ""));

  store.insert(key(4), "", pathOf(4), makeResponse("body"));
  EXPECT_FALSE(store.lookup(key(1), ""));  // the oldest untouched one
  EXPECT_TRUE(store.lookup(key(0), ""));
  store.insert(key(5), "", pathOf(5), makeResponse("body"));
  EXPECT_FALSE(store.lookup(key(3), ""));
  EXPECT_TRUE(store.lookup(key(0), ""));
  EXPECT_TRUE(store.lookup(key(2), ""));
  EXPECT_TRUE(store.lookup(key(4), ""));
  EXPECT_TRUE(store.lookup(key(5), ""));
  EXPECT_EQ(store.stats().evictions_capacity, 2u);
  EXPECT_EQ(store.stats().bytes, 4 * charge);
}

TEST(MemoryStoreTest, AHotEntrySurvivesAScan) {
  const size_t charge = MemoryStore::chargeOf(key(0), "", pathOf(0), *makeResponse("body"));
  MemoryStore store(oneShard(8 * charge, charge));
  store.insert(key(0), "", pathOf(0), makeResponse("body"));
  for (int i = 1; i < 200; ++i) {
    ASSERT_TRUE(store.lookup(key(0), "")) << i;
    store.insert(key(i), "", pathOf(i), makeResponse("body"));
    ASSERT_LE(store.stats().bytes, 8 * charge);
  }
  EXPECT_TRUE(store.lookup(key(0), ""));
  // Once nobody asks for it, it ages out like the others.
  for (int i = 200; i < 220; ++i) store.insert(key(i), "", pathOf(i), makeResponse("body"));
  EXPECT_FALSE(store.lookup(key(0), ""));
  EXPECT_EQ(store.stats().entries, 8u);
  EXPECT_EQ(store.stats().evictions_capacity, 220u - 8u);
}

TEST(MemoryStoreTest, SoftPurgedEntriesAreEvictedFirst) {
  const size_t charge = MemoryStore::chargeOf(key(0), "", pathOf(0), *makeResponse("body"));
  MemoryStore store(oneShard(3 * charge, charge));
  for (int i = 0; i < 3; ++i) store.insert(key(i), "", pathOf(i), makeResponse("body"));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(store.lookup(key(i), ""));
  store.purgeKey(key(1), PurgeMode::Soft);
  store.insert(key(3), "", pathOf(3), makeResponse("body"));
  EXPECT_TRUE(store.lookup(key(0), ""));
  EXPECT_FALSE(store.lookup(key(1), ""));
  EXPECT_TRUE(store.lookup(key(2), ""));
}

TEST(MemoryStoreTest, LargeEntriesEvictAsManyAsNeeded) {
  const size_t small = MemoryStore::chargeOf(key(0), "", pathOf(0), *makeResponse("body"));
  MemoryStore store(oneShard(10 * small));
  for (int i = 0; i < 10; ++i) store.insert(key(i), "", pathOf(i), makeResponse("body"));
  auto big = makeResponse(std::string(3 * small, 'b'));
  const size_t big_charge = MemoryStore::chargeOf(key(10), "", pathOf(10), *big);
  ASSERT_EQ(store.insert(key(10), "", pathOf(10), big), InsertStatus::Stored);
  const MemoryStoreStats stats = store.stats();
  EXPECT_EQ(stats.evictions_capacity, 4u);  // 3 small ones are not room enough for 3 + overhead
  EXPECT_EQ(stats.bytes, 6 * small + big_charge);
  EXPECT_LE(stats.bytes, 10 * small);
  for (int i = 0; i < 4; ++i) EXPECT_FALSE(store.lookup(key(i), "")) << i;
  for (int i = 4; i <= 10; ++i) EXPECT_TRUE(store.lookup(key(i), "")) << i;
}

TEST(MemoryStoreTest, RefusesOversizedAndNullEntries) {
  const size_t limit = 4096;
  MemoryStore store(oneShard(16 * limit, limit));
  auto at_limit = std::make_shared<CachedResponse>();
  at_limit->body.assign(limit - MemoryStore::chargeOf(key(1), "", pathOf(1), *at_limit), 'a');
  ASSERT_EQ(MemoryStore::chargeOf(key(1), "", pathOf(1), *at_limit), limit);
  EXPECT_EQ(store.insert(key(1), "", pathOf(1), at_limit), InsertStatus::Stored);

  auto over = std::make_shared<CachedResponse>(*at_limit);
  over->body.push_back('a');
  EXPECT_EQ(store.insert(key(2), "", pathOf(2), over), InsertStatus::TooLarge);
  // A refused replacement leaves the stored variant alone.
  EXPECT_EQ(store.insert(key(1), "", pathOf(1), over), InsertStatus::TooLarge);
  EXPECT_EQ(store.lookup(key(1), "").response, at_limit);
  EXPECT_FALSE(store.lookup(key(2), ""));
  EXPECT_EQ(store.insert(key(3), "", pathOf(3), nullptr), InsertStatus::Invalid);

  const MemoryStoreStats stats = store.stats();
  EXPECT_EQ(stats.refused_too_large, 2u);
  EXPECT_EQ(stats.entries, 1u);
  EXPECT_EQ(stats.bytes, limit);
}

TEST(MemoryStoreTest, PurgeKeyHardAndSoft) {
  MemoryStore store(MemoryStoreOptions{});
  for (const char* secondary : {"a", "b", "c"}) {
    store.insert(key(1), secondary, pathOf(1), makeResponse("one"));
  }
  store.insert(key(2), "a", pathOf(2), makeResponse("two"));
  const size_t bytes = store.stats().bytes;

  EXPECT_EQ(store.purgeKey(key(1), PurgeMode::Soft), 3u);
  for (const char* secondary : {"a", "b", "c"}) {
    CacheHit hit = store.lookup(key(1), secondary);
    ASSERT_TRUE(hit);
    EXPECT_TRUE(hit.soft_purged);
    EXPECT_EQ(hit.response->body, "one");
  }
  EXPECT_FALSE(store.lookup(key(2), "a").soft_purged);
  EXPECT_EQ(store.stats().bytes, bytes);  // a soft purge keeps everything
  EXPECT_EQ(store.stats().purges_soft, 3u);

  EXPECT_EQ(store.purgeKey(key(1), PurgeMode::Hard), 3u);
  EXPECT_FALSE(store.lookup(key(1), "a"));
  EXPECT_TRUE(store.lookup(key(2), "a"));
  EXPECT_EQ(store.purgeKey(key(1), PurgeMode::Hard), 0u);
  EXPECT_EQ(store.purgeKey(key(3), PurgeMode::Soft), 0u);
  EXPECT_EQ(store.stats().purges_hard, 3u);
  EXPECT_EQ(store.stats().keys, 1u);
  EXPECT_EQ(store.stats().bytes,
            MemoryStore::chargeOf(key(2), "a", pathOf(2), *makeResponse("two")));
}

TEST(MemoryStoreTest, PurgePrefixMatchesExactlyThePaths) {
  MemoryStoreOptions options;
  options.shards = 8;  // the matches are spread over shards
  MemoryStore store(options);
  const std::vector<std::string> paths = {
      "/api/users/1",  "/api/users/2", "/api/users", "/api/usersx",
      "/api/orders/1", "/apiary",      "/",          "/api/users/1/a"};
  for (size_t i = 0; i < paths.size(); ++i) {
    store.insert("GET\nhttp\nh\n" + paths[i], "", paths[i], makeResponse("p"));
    store.insert("GET\nhttp\nh\n" + paths[i] + "?q=1", "", paths[i], makeResponse("p"));
  }
  // Two variants on one of the keys.
  store.insert("GET\nhttp\nh\n/api/users/2", "gzip", "/api/users/2", makeResponse("p"));

  const auto matching = [&](const std::string& prefix, bool soft) {
    std::set<std::string> keys;
    store.forEach([&](const MemoryStoreEntryView& entry) {
      if (entry.soft_purged == soft && entry.path.starts_with(prefix)) {
        keys.insert(std::string(entry.primary) + "|" + std::string(entry.secondary));
      }
    });
    return keys;
  };

  EXPECT_EQ(store.purgePrefix("/api/users/", PurgeMode::Soft), 7u);
  EXPECT_EQ(matching("/api/users/", true).size(), 7u);
  size_t soft = 0;
  store.forEach([&](const MemoryStoreEntryView& entry) { soft += entry.soft_purged; });
  EXPECT_EQ(soft, 7u);

  EXPECT_EQ(store.purgePrefix("/api/users/", PurgeMode::Hard), 7u);
  EXPECT_TRUE(matching("/api/users/", false).empty());
  EXPECT_EQ(store.stats().entries, 2 * paths.size() + 1 - 7);
  EXPECT_TRUE(store.lookup("GET\nhttp\nh\n/api/users", ""));
  EXPECT_TRUE(store.lookup("GET\nhttp\nh\n/api/usersx", ""));
  EXPECT_TRUE(store.lookup("GET\nhttp\nh\n/apiary?q=1", ""));

  EXPECT_EQ(store.purgePrefix("/api/users/", PurgeMode::Hard), 0u);
  EXPECT_EQ(store.purgePrefix("/nothing", PurgeMode::Soft), 0u);
  EXPECT_EQ(store.purgePrefix("/api", PurgeMode::Hard), 8u);
  EXPECT_EQ(store.purgePrefix("", PurgeMode::Hard), 2u);  // "/" and "/?q=1"
  EXPECT_EQ(store.stats().bytes, 0u);
  EXPECT_EQ(store.stats().keys, 0u);
}

TEST(MemoryStoreTest, AKeyMovesInThePathIndexWhenItsPathChanges) {
  MemoryStore store(MemoryStoreOptions{});
  store.insert(key(1), "a", "/old", makeResponse("x"));
  store.insert(key(1), "b", "/new", makeResponse("x"));
  EXPECT_EQ(store.purgePrefix("/old", PurgeMode::Hard), 0u);
  EXPECT_EQ(store.purgePrefix("/new", PurgeMode::Hard), 2u);
  EXPECT_EQ(store.stats().bytes, 0u);
}

TEST(MemoryStoreTest, PurgeTargetMatchesOneUrlUnderEveryHostAndRoute) {
  MemoryStoreOptions options;
  options.shards = 4;
  MemoryStore store(options);
  for (const char* host : {"a", "b"}) {
    for (const char* target : {"/x", "/x?q=1", "/xy", "/y/x"}) {
      const std::string primary = std::string("G\nhttp\n") + host + "\nroute\n\ncluster\n" + target;
      const std::string_view t(target);
      store.insert(primary, "", t.substr(0, t.find('?')), makeResponse("1"));
    }
  }
  store.insert("G\nhttp\na\nroute\n\ncluster\n/x", "gzip", "/x", makeResponse("2"));
  EXPECT_EQ(store.purgeTarget("/x", "/x", PurgeMode::Soft), 3u);
  EXPECT_EQ(store.purgeTarget("/x", "/x", PurgeMode::Hard), 3u);
  EXPECT_EQ(store.purgeTarget("/x", "/x", PurgeMode::Hard), 0u);
  EXPECT_EQ(store.purgeTarget("/x", "/x?q=1", PurgeMode::Hard), 2u);
  EXPECT_EQ(store.purgeTarget("/x", "/x?q", PurgeMode::Hard), 0u);
  EXPECT_EQ(store.stats().entries, 4u);  // "/xy" and "/y/x" under both hosts
}

TEST(MemoryStoreTest, PurgeTagMatchesExactlyTheTaggedEntries) {
  MemoryStoreOptions options;
  options.shards = 4;
  MemoryStore store(options);
  store.insert(key(1), "", pathOf(1), makeResponse("1", {"product-1", "products"}));
  store.insert(key(2), "", pathOf(2), makeResponse("2", {"product-2", "products"}));
  store.insert(key(2), "gzip", pathOf(2), makeResponse("2", {"product-2", "products"}));
  store.insert(key(3), "", pathOf(3), makeResponse("3", {"product-3", "product-3"}));
  store.insert(key(4), "", pathOf(4), makeResponse("4"));

  EXPECT_EQ(store.purgeTag("products", PurgeMode::Soft), 3u);
  EXPECT_TRUE(store.lookup(key(1), "").soft_purged);
  EXPECT_TRUE(store.lookup(key(2), "gzip").soft_purged);
  EXPECT_FALSE(store.lookup(key(3), "").soft_purged);
  EXPECT_FALSE(store.lookup(key(4), "").soft_purged);

  EXPECT_EQ(store.purgeTag("product-2", PurgeMode::Hard), 2u);
  EXPECT_FALSE(store.lookup(key(2), ""));
  EXPECT_FALSE(store.lookup(key(2), "gzip"));
  EXPECT_TRUE(store.lookup(key(1), ""));
  // A tag listed twice is one entry.
  EXPECT_EQ(store.purgeTag("product-3", PurgeMode::Hard), 1u);
  EXPECT_EQ(store.purgeTag("product-3", PurgeMode::Hard), 0u);
  EXPECT_EQ(store.purgeTag("product", PurgeMode::Hard), 0u);  // tags are compared whole
  EXPECT_EQ(store.purgeTag("products", PurgeMode::Hard), 1u);
  EXPECT_EQ(store.stats().entries, 1u);
  EXPECT_TRUE(store.lookup(key(4), ""));
  EXPECT_EQ(store.stats().purges_hard, 4u);
  EXPECT_EQ(store.stats().purges_soft, 3u);
}

TEST(MemoryStoreTest, RemoveTakesOneVariant) {
  MemoryStore store(MemoryStoreOptions{});
  store.insert(key(1), "a", pathOf(1), makeResponse("x", {"t"}));
  store.insert(key(1), "b", pathOf(1), makeResponse("x", {"t"}));
  EXPECT_TRUE(store.remove(key(1), "a"));
  EXPECT_FALSE(store.remove(key(1), "a"));
  EXPECT_FALSE(store.remove(key(2), "a"));
  EXPECT_FALSE(store.lookup(key(1), "a"));
  EXPECT_TRUE(store.lookup(key(1), "b"));
  EXPECT_EQ(store.stats().removals, 1u);
  EXPECT_EQ(store.purgeTag("t", PurgeMode::Hard), 1u);
  EXPECT_EQ(store.stats().keys, 0u);
  EXPECT_EQ(store.stats().bytes, 0u);
}

TEST(MemoryStoreTest, ByteAccountingIsExact) {
  MemoryStoreOptions options;
  options.max_bytes = 64 << 20;
  options.max_object_bytes = 1 << 20;
  MemoryStore store(options);
  common::SeededRandom random(7);
  std::map<std::pair<std::string, std::string>, size_t> expected;
  for (int i = 0; i < 2000; ++i) {
    const int k = static_cast<int>(random.uniform(300));
    const std::string primary = key(k);
    const std::string secondary = "v" + std::to_string(random.uniform(3));
    auto response = std::make_shared<CachedResponse>();
    response->body.assign(random.uniform(5000), 'b');
    for (uint64_t h = random.uniform(5); h > 0; --h) {
      response->headers.emplace_back("x-h" + std::to_string(h),
                                     std::string(random.uniform(40), 'v'));
    }
    for (uint64_t t = random.uniform(3); t > 0; --t) {
      response->tags.push_back("tag" + std::to_string(random.uniform(10)));
    }
    response->vary_names = {"accept-encoding"};
    response->secondary_key = secondary;
    const std::string path = "/p" + std::to_string(k % 20);
    expected[{primary, secondary}] = MemoryStore::chargeOf(primary, secondary, path, *response);
    ASSERT_NE(store.insert(primary, secondary, path, response), InsertStatus::TooLarge);
  }
  size_t sum = 0;
  for (const auto& [keys, charge] : expected) sum += charge;
  size_t entries = 0;
  EXPECT_EQ(store.stats().bytes, sum);
  EXPECT_EQ(sumOfCharges(store, &entries), sum);
  EXPECT_EQ(entries, expected.size());
  EXPECT_EQ(store.stats().entries, expected.size());
  EXPECT_EQ(store.stats().evictions_capacity, 0u);

  // Every kind of removal gives its bytes back.
  store.purgeTag("tag3", PurgeMode::Hard);
  store.purgePrefix("/p1", PurgeMode::Hard);  // /p1 and /p10../p19
  store.purgeKey(key(5), PurgeMode::Hard);
  store.remove(key(6), "v0");
  store.purgePrefix("/p2", PurgeMode::Soft);
  EXPECT_EQ(store.stats().bytes, sumOfCharges(store));
  store.purgePrefix("", PurgeMode::Hard);
  const MemoryStoreStats stats = store.stats();
  EXPECT_EQ(stats.bytes, 0u);
  EXPECT_EQ(stats.entries, 0u);
  EXPECT_EQ(stats.keys, 0u);
  const MemoryStoreSnapshot snap = store.snapshot();
  EXPECT_EQ(snap.bytes, 0u);
  for (const auto& shard : snap.shards) EXPECT_EQ(shard.bytes, 0u);
}

TEST(MemoryStoreTest, AReaderKeepsItsResponseAfterEviction) {
  const size_t charge = MemoryStore::chargeOf(key(0), "", pathOf(0), *makeResponse("0123456789"));
  MemoryStore store(oneShard(2 * charge, charge));
  store.insert(key(0), "", pathOf(0), makeResponse(std::string("0123456789")));
  CacheHit held = store.lookup(key(0), "");
  ASSERT_TRUE(held);
  // The second insert makes room by giving key 0 its second chance and evicting key 1; with no
  // lookup since, the third evicts key 0.
  store.insert(key(1), "", pathOf(1), makeResponse("0123456789"));
  store.insert(key(2), "", pathOf(2), makeResponse("0123456789"));
  store.insert(key(3), "", pathOf(3), makeResponse("0123456789"));
  ASSERT_FALSE(store.lookup(key(0), ""));
  EXPECT_EQ(held.response->body, "0123456789");
  EXPECT_EQ(held.response->headers.size(), 2u);
  EXPECT_EQ(held.response.use_count(), 1);

  CacheHit purged = store.lookup(key(3), "");
  store.purgePrefix("", PurgeMode::Hard);
  EXPECT_EQ(purged.response->body, "0123456789");
}

TEST(MemoryStoreTest, ValidatesOptions) {
  const auto make = [](size_t max_bytes, size_t max_object, size_t variants, size_t shards) {
    MemoryStoreOptions options;
    options.max_bytes = max_bytes;
    options.max_object_bytes = max_object;
    options.max_variants = variants;
    options.shards = shards;
    return MemoryStore(options).shardCount();
  };
  EXPECT_THROW(make(0, 0, 16, 0), std::invalid_argument);
  EXPECT_THROW(make(1024, 0, 16, 0), std::invalid_argument);
  EXPECT_THROW(make(1024, 2048, 16, 0), std::invalid_argument);
  EXPECT_THROW(make(1024, 512, 0, 0), std::invalid_argument);
  EXPECT_THROW(make(1024, 512, 16, 3), std::invalid_argument);
  EXPECT_THROW(make(1 << 20, 1024, 16, 128), std::invalid_argument);
  EXPECT_THROW(make(1024, 512, 16, 4), std::invalid_argument);  // 256 bytes per shard
  EXPECT_EQ(make(1024, 256, 16, 4), 4u);

  // Picked: room for four of the largest objects per shard, at most 64 shards.
  EXPECT_EQ(make(256 << 20, 2 << 20, 16, 0), 32u);
  EXPECT_EQ(make(256 << 20, 64 << 10, 16, 0), 64u);
  EXPECT_EQ(make(8 << 20, 8 << 20, 16, 0), 1u);
  EXPECT_EQ(make(8 << 20, 3 << 20, 16, 0), 1u);
  EXPECT_EQ(make(8 << 20, 1 << 20, 16, 0), 2u);
}

TEST(MemoryStoreTest, AnObjectOfTheMaximumSizeAlwaysFits) {
  MemoryStoreOptions options;
  options.max_bytes = (1 << 20) + 3;  // a remainder that does not split evenly
  options.max_object_bytes = 64 << 10;
  MemoryStore store(options);
  ASSERT_EQ(store.shardCount(), 4u);
  common::SeededRandom random(3);
  for (int i = 0; i < 500; ++i) {
    auto response = std::make_shared<CachedResponse>();
    const std::string primary = key(i);
    const size_t base = MemoryStore::chargeOf(primary, "", pathOf(i), *response);
    const size_t size =
        i % 5 == 0 ? options.max_object_bytes : base + random.uniform(options.max_object_bytes / 2);
    response->body.assign(size - base, 'z');
    ASSERT_EQ(store.insert(primary, "", pathOf(i), response), InsertStatus::Stored) << i;
    ASSERT_TRUE(store.lookup(primary, "")) << i;
    ASSERT_LE(store.stats().bytes, options.max_bytes);
  }
  const MemoryStoreSnapshot snap = store.snapshot();
  size_t budget = 0;
  for (const auto& shard : snap.shards) {
    EXPECT_LE(shard.bytes, shard.max_bytes);
    budget += shard.max_bytes;
  }
  EXPECT_EQ(budget, options.max_bytes);
}

TEST(MemoryStoreTest, SnapshotForTheAdminPage) {
  MemoryStoreOptions options;
  options.shards = 2;
  MemoryStore store(options);
  for (int i = 0; i < 20; ++i) {
    store.insert(key(i), "", pathOf(i), makeResponse(std::string(100 * i, 'x'), {}, 200 + i));
  }
  store.purgeKey(key(19), PurgeMode::Soft);
  const MemoryStoreSnapshot snap = store.snapshot(3);
  EXPECT_EQ(snap.entries, 20u);
  EXPECT_EQ(snap.keys, 20u);
  EXPECT_EQ(snap.bytes, store.stats().bytes);
  EXPECT_EQ(snap.soft_purged, 1u);
  EXPECT_EQ(snap.max_bytes, options.max_bytes);
  ASSERT_EQ(snap.shards.size(), 2u);
  EXPECT_EQ(snap.shards[0].entries + snap.shards[1].entries, 20u);
  ASSERT_EQ(snap.largest.size(), 3u);
  EXPECT_EQ(snap.largest[0].primary, key(19));
  EXPECT_EQ(snap.largest[0].status, 219);
  EXPECT_TRUE(snap.largest[0].soft_purged);
  EXPECT_EQ(snap.largest[1].primary, key(18));
  EXPECT_EQ(snap.largest[2].primary, key(17));
  EXPECT_EQ(snap.largest[2].path, pathOf(17));
  EXPECT_TRUE(store.snapshot(0).largest.empty());
  EXPECT_EQ(store.snapshot(100).largest.size(), 20u);
}

// Workers insert, look up, remove and purge a small set of keys at random while a monitor reads
// the totals; every response found must be the one stored under the keys it was found by. Then
// the totals must agree with what the store holds.
TEST(MemoryStoreTest, ConcurrentUseKeepsTheInvariants) {
  constexpr int Workers = 6;
  constexpr int Iterations = 6000;
  constexpr int Keys = 150;
  MemoryStoreOptions options;
  options.max_bytes = 256 << 10;
  options.max_object_bytes = 8 << 10;
  options.max_variants = 3;
  MemoryStore store(options);
  ASSERT_EQ(store.shardCount(), 8u);

  std::barrier start(Workers + 1);
  std::atomic<int> running{Workers};
  std::atomic<uint64_t> hits{0};
  std::atomic<bool> bound_ok{true};
  std::vector<std::thread> threads;
  for (int t = 0; t < Workers; ++t) {
    threads.emplace_back([&, t] {
      common::SeededRandom random(100 + t);
      start.arrive_and_wait();
      for (int i = 0; i < Iterations; ++i) {
        const int k = static_cast<int>(random.uniform(Keys));
        const std::string primary = key(k);
        const std::string secondary = "v" + std::to_string(random.uniform(4));
        const uint64_t op = random.uniform(100);
        if (op < 50) {
          CacheHit hit = store.lookup(primary, secondary);
          if (hit) {
            const std::string expected = primary + "|" + secondary + "|";
            EXPECT_EQ(hit.response->body.compare(0, expected.size(), expected), 0);
            hits.fetch_add(1, std::memory_order_relaxed);
          }
        } else if (op < 80) {
          auto response = std::make_shared<CachedResponse>();
          response->body = primary + "|" + secondary + "|" + std::string(random.uniform(6000), 'b');
          response->tags = {"t" + std::to_string(k % 7), "all"};
          store.insert(primary, secondary, pathOf(k), std::move(response));
        } else if (op < 86) {
          store.remove(primary, secondary);
        } else if (op < 92) {
          store.purgeKey(primary, random.uniform(2) ? PurgeMode::Hard : PurgeMode::Soft);
        } else if (op < 95) {
          store.purgePrefix(pathOf(k % 10), random.uniform(2) ? PurgeMode::Hard : PurgeMode::Soft);
        } else if (op < 98) {
          store.purgeTag("t" + std::to_string(k % 7),
                         random.uniform(2) ? PurgeMode::Hard : PurgeMode::Soft);
        } else {
          store.varyNames(primary);
        }
      }
      running.fetch_sub(1);
    });
  }
  threads.emplace_back([&] {
    start.arrive_and_wait();
    // Bounded by the workers' progress, not by time.
    while (running.load() > 0) {
      if (store.stats().bytes > options.max_bytes) bound_ok = false;
      const MemoryStoreSnapshot snap = store.snapshot(5);
      for (const auto& shard : snap.shards) {
        if (shard.bytes > shard.max_bytes) bound_ok = false;
      }
      std::this_thread::yield();
    }
  });
  for (std::thread& thread : threads) thread.join();

  EXPECT_TRUE(bound_ok.load());
  const MemoryStoreStats stats = store.stats();
  EXPECT_GT(hits.load(), 0u);
  EXPECT_GT(stats.evictions_capacity, 0u);
  EXPECT_LE(stats.bytes, options.max_bytes);
  size_t entries = 0;
  EXPECT_EQ(sumOfCharges(store, &entries), stats.bytes);
  EXPECT_EQ(entries, stats.entries);
  std::set<std::string> primaries;
  store.forEach([&](const MemoryStoreEntryView& e) { primaries.insert(std::string(e.primary)); });
  EXPECT_EQ(primaries.size(), stats.keys);
  // Every entry inserted is still there or was taken out for one counted reason.
  EXPECT_EQ(stats.entries, stats.inserts - stats.evictions_capacity - stats.evictions_variants -
                               stats.evictions_replaced - stats.removals - stats.purges_hard);

  store.purgeTag("all", PurgeMode::Hard);
  EXPECT_EQ(store.stats().bytes, 0u);
  EXPECT_EQ(store.stats().entries, 0u);
  EXPECT_EQ(store.stats().keys, 0u);
}

}  // namespace
}  // namespace switchyard::filters::cache
