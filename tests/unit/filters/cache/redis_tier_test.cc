#include "filters/cache/redis_tier.h"

#include <event2/event.h>
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "filters/cache/key.h"
#include "proxy/common/random.h"
#include "proxy/common/socket_address.h"
#include "proxy/common/time.h"
#include "proxy/event/dispatcher.h"
#include "proxy/redis/client.h"
#include "tests/support/quiet_logs.h"
#include "tests/support/redis_server.h"
#include "tests/support/run_loop.h"

namespace switchyard::filters::cache {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

const common::SystemTime Epoch2026{std::chrono::seconds(1767225600)};

std::string primaryFor(std::string_view host, std::string_view target,
                       std::string_view route = "api") {
  return primaryKey({.method = "GET",
                     .scheme = "https",
                     .host = host,
                     .route = route,
                     .version = "v1",
                     .cluster = "blue",
                     .target = target});
}

// Every field set, binary bytes included.
CachedResponse fullEntry() {
  CachedResponse e;
  e.status = 203;
  e.headers = {{"content-type", "text/plain"},
               {"x-binary", std::string("a\0b\r\n", 5)},
               {"set-cookie", ""},
               {"content-type", "again"}};
  e.body = std::string("body\0with\xff\x00nul", 15);
  e.request_time = Epoch2026 + 123456789ns;
  e.response_time = Epoch2026 + 2s + 987654321ns;
  e.stored_at = common::MonotonicTime(555s);
  e.initial_age = 7s;
  e.freshness_lifetime = 60s;
  e.stale_while_revalidate = 30s;
  e.stale_if_error = 300s;
  e.etag = "\"v1\"";
  e.last_modified = "Thu, 01 Jan 2026 00:00:00 GMT";
  e.tags = {"product:1", "catalog"};
  e.vary_names = {"accept-encoding", "accept-language"};
  e.secondary_key = std::string("gzip\0en", 7);
  return e;
}

void expectSameResponse(const CachedResponse& a, const CachedResponse& b) {
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.headers, b.headers);
  EXPECT_EQ(a.body, b.body);
  EXPECT_EQ(a.request_time, b.request_time);
  EXPECT_EQ(a.response_time, b.response_time);
  EXPECT_EQ(a.initial_age, b.initial_age);
  EXPECT_EQ(a.freshness_lifetime, b.freshness_lifetime);
  EXPECT_EQ(a.stale_while_revalidate, b.stale_while_revalidate);
  EXPECT_EQ(a.stale_if_error, b.stale_if_error);
  EXPECT_EQ(a.etag, b.etag);
  EXPECT_EQ(a.last_modified, b.last_modified);
  EXPECT_EQ(a.tags, b.tags);
  EXPECT_EQ(a.vary_names, b.vary_names);
  EXPECT_EQ(a.secondary_key, b.secondary_key);
}

void putU32At(std::string& bytes, size_t offset, uint32_t v) {
  for (int i = 0; i < 4; ++i) bytes[offset + i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

// Offsets in encodeEntry()'s layout: flags, magic, version; status; six i64s; the primary's
// length.
constexpr size_t StatusOffset = 6;
constexpr size_t RequestTimeOffset = 8;
constexpr size_t InitialAgeOffset = 24;
constexpr size_t PrimaryLengthOffset = 56;

// ---- EntryCodec: no Redis ----

TEST(EntryCodecTest, RoundTripsEveryField) {
  const CachedResponse entry = fullEntry();
  const std::string primary = primaryFor("example.com", "/p?q=1");
  const std::string bytes = encodeEntry(entry, primary);
  EXPECT_EQ(bytes[0], '\0');
  EXPECT_EQ(bytes.substr(1, 4), "SYRC");
  EXPECT_EQ(bytes[5], '\x01');

  const common::MonotonicTime now_mono(1000s);
  const std::optional<DecodedEntry> decoded =
      decodeEntry(bytes, entry.response_time + 45s, now_mono);
  ASSERT_TRUE(decoded.has_value());
  ASSERT_NE(decoded->entry, nullptr);
  EXPECT_EQ(decoded->primary, primary);
  EXPECT_FALSE(decoded->soft_purged);
  expectSameResponse(*decoded->entry, entry);
  EXPECT_EQ(decoded->entry->stored_at, now_mono - 45s);
  // The same bytes again: encoding is deterministic.
  EXPECT_EQ(encodeEntry(*decoded->entry, decoded->primary), bytes);
}

TEST(EntryCodecTest, RoundTripsAnEmptyEntry) {
  CachedResponse entry;
  entry.response_time = Epoch2026;
  const std::string bytes = encodeEntry(entry, "");
  const std::optional<DecodedEntry> decoded = decodeEntry(bytes, Epoch2026, {});
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(decoded->primary, "");
  expectSameResponse(*decoded->entry, entry);
}

TEST(EntryCodecTest, NegativeDurationsAreStoredAsZero) {
  CachedResponse entry = fullEntry();
  entry.initial_age = -5s;
  const std::optional<DecodedEntry> decoded = decodeEntry(encodeEntry(entry, "k"), Epoch2026, {});
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(decoded->entry->initial_age, 0s);
}

TEST(EntryCodecTest, StoredAtCarriesTheResidentTime) {
  CachedResponse entry = fullEntry();
  entry.response_time = Epoch2026;
  const std::string bytes = encodeEntry(entry, "k");
  const common::MonotonicTime mono(5000s);
  EXPECT_EQ(decodeEntry(bytes, Epoch2026 + 30s, mono)->entry->stored_at, mono - 30s);
  EXPECT_EQ(decodeEntry(bytes, Epoch2026 + 1500ms, mono)->entry->stored_at, mono - 1500ms);
  EXPECT_EQ(decodeEntry(bytes, Epoch2026, mono)->entry->stored_at, mono);
  // A response_time ahead of this process's clock (skew between replicas): no resident time.
  EXPECT_EQ(decodeEntry(bytes, Epoch2026 - 10s, mono)->entry->stored_at, mono);
  // Before the epoch counts as no time since.
  EXPECT_EQ(decodeEntry(bytes, common::SystemTime(-5s), mono)->entry->stored_at, mono);
}

TEST(EntryCodecTest, TheFlagsByteCarriesTheSoftPurge) {
  std::string bytes = encodeEntry(fullEntry(), "k");
  bytes[EntryFlagsOffset] = static_cast<char>(EntryFlagSoftPurged);
  std::optional<DecodedEntry> decoded = decodeEntry(bytes, Epoch2026, {});
  ASSERT_TRUE(decoded.has_value());
  EXPECT_TRUE(decoded->soft_purged);
  // Bits this version does not know are ignored.
  bytes[EntryFlagsOffset] = '\x82';
  decoded = decodeEntry(bytes, Epoch2026, {});
  ASSERT_TRUE(decoded.has_value());
  EXPECT_FALSE(decoded->soft_purged);
}

TEST(EntryCodecTest, EveryTruncationIsRejected) {
  const std::string bytes = encodeEntry(fullEntry(), primaryFor("example.com", "/t"));
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(decodeEntry(std::string_view(bytes).substr(0, n), Epoch2026, {}).has_value())
        << "truncated to " << n << " of " << bytes.size();
  }
  EXPECT_TRUE(decodeEntry(bytes, Epoch2026, {}).has_value());
  EXPECT_FALSE(decodeEntry(bytes + "x", Epoch2026, {}).has_value()) << "a byte after the body";
}

TEST(EntryCodecTest, GarbageMagicAndVersionAreRejected) {
  const std::string bytes = encodeEntry(fullEntry(), "k");
  for (const std::string& garbage :
       {std::string(), std::string("\0", 1), std::string("SYRC"), std::string(64, '\0'),
        std::string(64, '\xff'), std::string("hello world, this is not an entry at all"),
        std::string("\0SYRC\x01", 6)}) {
    EXPECT_FALSE(decodeEntry(garbage, Epoch2026, {}).has_value()) << garbage.size();
  }
  std::string magic = bytes;
  magic[2] = 'X';
  EXPECT_FALSE(decodeEntry(magic, Epoch2026, {}).has_value());
  for (char version : {'\x00', '\x02', '\xff'}) {
    std::string other = bytes;
    other[5] = version;
    EXPECT_FALSE(decodeEntry(other, Epoch2026, {}).has_value()) << int(version);
  }
}

TEST(EntryCodecTest, LengthsAndCountsPastTheEndAreRejected) {
  const CachedResponse entry = fullEntry();
  const std::string primary = "k";
  const std::string bytes = encodeEntry(entry, primary);
  ASSERT_TRUE(decodeEntry(bytes, Epoch2026, {}).has_value());
  const size_t headers_count = PrimaryLengthOffset + 4 + primary.size() + 4 +
                               entry.secondary_key.size() + 4 + entry.etag.size() + 4 +
                               entry.last_modified.size();
  const size_t body_length = bytes.size() - entry.body.size() - 4;
  for (size_t offset : {PrimaryLengthOffset, headers_count, body_length}) {
    for (uint32_t value :
         {0xffffffffu, 0x7fffffffu, 0x00100001u, static_cast<uint32_t>(bytes.size())}) {
      std::string patched = bytes;
      putU32At(patched, offset, value);
      EXPECT_FALSE(decodeEntry(patched, Epoch2026, {}).has_value())
          << "offset " << offset << " value " << value;
    }
  }
}

TEST(EntryCodecTest, ValuesOutOfRangeAreRejected) {
  for (int status : {0, 99, 1000, 65535}) {
    CachedResponse entry = fullEntry();
    entry.status = status;
    EXPECT_FALSE(decodeEntry(encodeEntry(entry, "k"), Epoch2026, {}).has_value()) << status;
  }
  const std::string bytes = encodeEntry(fullEntry(), "k");
  std::string negative_time = bytes;
  negative_time[RequestTimeOffset + 7] = '\x80';
  EXPECT_FALSE(decodeEntry(negative_time, Epoch2026, {}).has_value());
  std::string far_time = bytes;
  far_time[RequestTimeOffset + 7] = '\x7f';
  EXPECT_FALSE(decodeEntry(far_time, Epoch2026, {}).has_value());
  std::string negative_age = bytes;
  negative_age[InitialAgeOffset + 7] = '\xff';
  EXPECT_FALSE(decodeEntry(negative_age, Epoch2026, {}).has_value());
  std::string bad_status = bytes;
  bad_status[StatusOffset] = '\0';
  bad_status[StatusOffset + 1] = '\0';
  EXPECT_FALSE(decodeEntry(bad_status, Epoch2026, {}).has_value());
}

TEST(EntryCodecTest, KeysFollowTheDocumentedLayout) {
  // FNV-1a 64 test vectors.
  EXPECT_EQ(stableHash64(""), 0xcbf29ce484222325ULL);
  EXPECT_EQ(stableHash64("a"), 0xaf63dc4c8601ec8cULL);
  EXPECT_EQ(stableHash64("foobar"), 0x85944171f73967e8ULL);

  const std::string primary = primaryFor("example.com", "/x?y=1");
  EXPECT_EQ(primaryTarget(primary), "/x?y=1");
  EXPECT_EQ(primaryTarget("no-newline"), "no-newline");
  char hp[17];
  char hs[17];
  std::snprintf(hp, sizeof(hp), "%016llx", static_cast<unsigned long long>(stableHash64(primary)));
  std::snprintf(hs, sizeof(hs), "%016llx", static_cast<unsigned long long>(stableHash64("gz")));
  EXPECT_EQ(entryKey("p:", primary, "gz"), std::string("p:e:/x?y=1\0", 11) + hp + ":" + hs);
  EXPECT_EQ(varyKey("p:", primary), std::string("p:v:/x?y=1\0", 11) + hp);
  EXPECT_EQ(tagKey("p:", "product:1"), "p:t:product:1");
  EXPECT_EQ(purgeLogKey("p:"), "p:purges");
  EXPECT_EQ(escapeGlob("/a*b?[c]\\d-^"), "/a\\*b\\?\\[c\\]\\\\d-^");
  EXPECT_EQ(purgeKindName(PurgeKind::Prefix), "prefix");
  EXPECT_EQ(purgeModeName(PurgeMode::Soft), "soft");
}

// ---- RedisTier: a real redis-server ----

class RedisTierTest : public ::testing::Test {
 protected:
  // hiredis writes with write(2): a server that went away would raise SIGPIPE.
  static void SetUpTestSuite() { std::signal(SIGPIPE, SIG_IGN); }

  void SetUp() override {
    redis_ = std::make_unique<test::RedisServer>();
    redis::RedisConfig config;
    common::parseSocketAddress(redis_->address(), config.address);
    config.timeout = 2s;
    config.connect_timeout = 2s;
    config.reconnect_base = 10ms;
    config.reconnect_max = 50ms;
    client_ = std::make_unique<redis::Client>(dispatcher_, random_, config, stats_, status_, 0);
    ASSERT_TRUE(runUntil([this] { return client_->state() == redis::ClientState::Connected; }));
    tier_ = std::make_unique<RedisTier>(*client_, sim_);
  }

  void TearDown() override {
    tier_.reset();
    client_.reset();
    redis_.reset();
  }

  // Runs the loop until `done` or `timeout`, never longer.
  bool runUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout = 5s) {
    return test::runLoopUntil(dispatcher_, done, timeout);
  }

  // Starts an operation with a callback and runs the loop until it is called. The result lives
  // in a shared_ptr: a callback after the deadline finds it still there.
  template <typename T>
  T await(const std::function<void(std::function<void(T)>)>& start) {
    auto out = std::make_shared<std::optional<T>>();
    start([out](T result) {
      EXPECT_FALSE(out->has_value()) << "a callback called twice";
      *out = std::move(result);
    });
    EXPECT_TRUE(runUntil([&] { return out->has_value(); })) << "no callback within 5s";
    return out->has_value() ? std::move(**out) : T{};
  }

  FetchResult fetch(std::string_view primary, std::string_view secondary = "",
                    RedisTier* tier = nullptr) {
    RedisTier& t = tier != nullptr ? *tier : *tier_;
    return await<FetchResult>([&](auto cb) { t.fetch(primary, secondary, std::move(cb)); });
  }
  bool store(std::string_view primary, const CachedResponse& entry,
             std::chrono::milliseconds ttl = 100s, RedisTier* tier = nullptr) {
    RedisTier& t = tier != nullptr ? *tier : *tier_;
    return await<bool>(
        [&](auto cb) { t.store(primary, entry.secondary_key, entry, ttl, std::move(cb)); });
  }
  PurgeResult purgeTarget(std::string_view target, PurgeMode mode = PurgeMode::Hard) {
    return await<PurgeResult>([&](auto cb) { tier_->purgeTarget(target, mode, std::move(cb)); });
  }
  PurgeResult purgePrefix(std::string_view prefix, PurgeMode mode = PurgeMode::Hard,
                          RedisTier* tier = nullptr) {
    RedisTier& t = tier != nullptr ? *tier : *tier_;
    return await<PurgeResult>([&](auto cb) { t.purgePrefix(prefix, mode, std::move(cb)); });
  }
  PurgeResult purgeTag(std::string_view tag, PurgeMode mode = PurgeMode::Hard) {
    return await<PurgeResult>([&](auto cb) { tier_->purgeTag(tag, mode, std::move(cb)); });
  }
  PurgeLogResult publish(PurgeKind kind, std::string_view value, PurgeMode mode,
                         std::string_view origin) {
    return await<PurgeLogResult>(
        [&](auto cb) { tier_->publishPurge(kind, value, mode, origin, std::move(cb)); });
  }
  PurgeLogResult readPurges(std::string_view after, RedisTier* tier = nullptr) {
    RedisTier& t = tier != nullptr ? *tier : *tier_;
    return await<PurgeLogResult>([&](auto cb) { t.readPurges(after, std::move(cb)); });
  }
  PurgeLogResult latestPurgeId() {
    return await<PurgeLogResult>([&](auto cb) { tier_->latestPurgeId(std::move(cb)); });
  }
  redis::Result call(std::vector<std::string> argv) {
    return await<redis::Result>([&](auto cb) { client_->command(std::move(argv), std::move(cb)); });
  }
  int64_t pttl(const std::string& key) {
    const redis::Result r = call({"PTTL", key});
    EXPECT_TRUE(r.ok()) << r.message;
    return r.value.integer;
  }
  bool exists(const std::string& key) { return call({"EXISTS", key}).value.integer == 1; }

  // An entry stored now (by the simulated clock), varying on nothing unless told.
  CachedResponse entryFor(std::string body, std::vector<std::string> tags = {},
                          std::vector<std::string> vary = {}, std::string secondary = "") {
    CachedResponse e;
    e.status = 200;
    e.headers = {{"content-type", "text/plain"}};
    e.body = std::move(body);
    e.request_time = sim_.systemNow() - 1s;
    e.response_time = sim_.systemNow();
    e.freshness_lifetime = 60s;
    e.tags = std::move(tags);
    e.vary_names = std::move(vary);
    e.secondary_key = std::move(secondary);
    return e;
  }
  std::string bodyOf(const FetchResult& r) {
    return r.kind == FetchResult::Hit && r.entry ? r.entry->entry->body : "<" + kindName(r) + ">";
  }
  static std::string kindName(const FetchResult& r) {
    switch (r.kind) {
      case FetchResult::Hit:
        return "hit";
      case FetchResult::Miss:
        return "miss";
      case FetchResult::VaryMismatch:
        return "vary-mismatch";
      case FetchResult::Error:
        return "error: " + r.error;
    }
    return "?";
  }

  test::QuietLogs quiet_;
  common::RealTimeSource time_;
  common::SimulatedTimeSource sim_;
  event::LibeventDispatcher dispatcher_{time_};
  common::SeededRandom random_{7};
  prometheus::Registry registry_;
  redis::RedisStats stats_{registry_};
  redis::ClientStatus status_;
  std::unique_ptr<test::RedisServer> redis_;
  std::unique_ptr<redis::Client> client_;
  std::unique_ptr<RedisTier> tier_;
};

TEST_F(RedisTierTest, FetchHitMissAndVaryMismatch) {
  const std::string plain = primaryFor("example.com", "/plain");
  const std::string varied = primaryFor("example.com", "/varied");

  FetchResult miss = fetch(plain);
  EXPECT_EQ(miss.kind, FetchResult::Miss);
  EXPECT_FALSE(miss.vary_known);
  EXPECT_FALSE(miss.entry.has_value());

  CachedResponse entry = entryFor("plain body", {"t"});
  entry.response_time = sim_.systemNow() - 10s;
  ASSERT_TRUE(store(plain, entry));
  sim_.advance(2s);
  FetchResult hit = fetch(plain);
  ASSERT_EQ(hit.kind, FetchResult::Hit) << kindName(hit);
  ASSERT_TRUE(hit.entry.has_value());
  EXPECT_EQ(hit.entry->primary, plain);
  EXPECT_FALSE(hit.entry->soft_purged);
  expectSameResponse(*hit.entry->entry, entry);
  EXPECT_EQ(hit.entry->entry->stored_at, sim_.monotonicNow() - 12s);
  EXPECT_TRUE(hit.vary_known);
  EXPECT_TRUE(hit.vary_names.empty());
  // A response that varies on nothing has one variant: any other secondary is a plain miss.
  EXPECT_EQ(fetch(plain, "gzip").kind, FetchResult::Miss);

  // Varies on two headers: the guess "" finds the names, the right secondary the entry.
  ASSERT_TRUE(store(varied, entryFor("gzip en", {}, {"accept-encoding", "accept-language"},
                                     std::string("gzip\0en", 7))));
  FetchResult mismatch = fetch(varied, "");
  ASSERT_EQ(mismatch.kind, FetchResult::VaryMismatch) << kindName(mismatch);
  EXPECT_TRUE(mismatch.vary_known);
  EXPECT_EQ(mismatch.vary_names, (std::vector<std::string>{"accept-encoding", "accept-language"}));
  EXPECT_FALSE(mismatch.entry.has_value());
  FetchResult right = fetch(varied, std::string("gzip\0en", 7));
  EXPECT_EQ(bodyOf(right), "gzip en");
  EXPECT_EQ(right.vary_names, mismatch.vary_names);
  // Another variant of the same primary: still a mismatch until it is stored.
  EXPECT_EQ(fetch(varied, std::string("br\0en", 5)).kind, FetchResult::VaryMismatch);
  ASSERT_TRUE(store(varied, entryFor("br en", {}, {"accept-encoding", "accept-language"},
                                     std::string("br\0en", 5))));
  EXPECT_EQ(bodyOf(fetch(varied, std::string("br\0en", 5))), "br en");
  EXPECT_EQ(bodyOf(fetch(varied, std::string("gzip\0en", 7))), "gzip en");

  // The same target under another host is another primary key.
  EXPECT_EQ(fetch(primaryFor("other.example", "/plain")).kind, FetchResult::Miss);
}

TEST_F(RedisTierTest, AHashCollisionOrAnUnreadableBlobIsAMiss) {
  const std::string mine = primaryFor("example.com", "/c");
  const std::string theirs = primaryFor("evil.example", "/c");
  // The entry key of `mine` holding an entry of `theirs`, as a 64-bit collision would leave it.
  ASSERT_TRUE(call({"SET", entryKey("switchyard:cache:", mine, ""),
                    encodeEntry(entryFor("theirs"), theirs)})
                  .ok());
  FetchResult collided = fetch(mine);
  EXPECT_EQ(collided.kind, FetchResult::Miss) << kindName(collided);
  EXPECT_FALSE(collided.entry.has_value());

  // Even when the vary key names headers: a collision is a miss, not a mismatch.
  ASSERT_TRUE(call({"SET", varyKey("switchyard:cache:", mine), "accept"}).ok());
  EXPECT_EQ(fetch(mine).kind, FetchResult::Miss);

  // Bytes that are no entry.
  const std::string garbage = primaryFor("example.com", "/garbage");
  ASSERT_TRUE(call({"SET", entryKey("switchyard:cache:", garbage, ""), "not an entry"}).ok());
  EXPECT_EQ(fetch(garbage).kind, FetchResult::Miss);
  std::string truncated = encodeEntry(entryFor("x"), garbage);
  truncated.pop_back();
  ASSERT_TRUE(call({"SET", entryKey("switchyard:cache:", garbage, ""), truncated}).ok());
  EXPECT_EQ(fetch(garbage).kind, FetchResult::Miss);
}

TEST_F(RedisTierTest, StoreSetsTheTtlOfTheEntryTheVaryKeyAndTheTags) {
  const std::string primary = primaryFor("example.com", "/ttl");
  const std::string e1 = entryKey("switchyard:cache:", primary, "a");
  const std::string e2 = entryKey("switchyard:cache:", primary, "b");
  const std::string vary = varyKey("switchyard:cache:", primary);
  const std::string tag = tagKey("switchyard:cache:", "ttl-tag");

  ASSERT_TRUE(store(primary, entryFor("a", {"ttl-tag"}, {"accept"}, "a"), 100s));
  EXPECT_GT(pttl(e1), 90000);
  EXPECT_LE(pttl(e1), 100000);
  EXPECT_GT(pttl(vary), 90000);
  EXPECT_LE(pttl(vary), 100000);
  EXPECT_GT(pttl(tag), 90000);
  EXPECT_LE(pttl(tag), 100000);
  EXPECT_EQ(call({"GET", vary}).value.string, "accept");
  const redis::Result members = call({"SMEMBERS", tag});
  ASSERT_EQ(members.value.array.size(), 1u);
  EXPECT_EQ(members.value.array[0].string, e1);

  // A shorter-lived variant lowers neither the vary key's TTL nor the tag's.
  ASSERT_TRUE(store(primary, entryFor("b", {"ttl-tag"}, {"accept"}, "b"), 10s));
  EXPECT_GT(pttl(e2), 0);
  EXPECT_LE(pttl(e2), 10000);
  EXPECT_GT(pttl(vary), 90000);
  EXPECT_GT(pttl(tag), 90000);
  EXPECT_EQ(call({"SCARD", tag}).value.integer, 2);

  // A longer-lived one raises both.
  ASSERT_TRUE(store(primary, entryFor("a2", {"ttl-tag"}, {"accept"}, "a"), 200s));
  EXPECT_GT(pttl(e1), 190000);
  EXPECT_GT(pttl(vary), 190000);
  EXPECT_GT(pttl(tag), 190000);
  EXPECT_EQ(call({"SCARD", tag}).value.integer, 2);

  // A new Vary replaces the names.
  ASSERT_TRUE(store(primary, entryFor("c", {}, {"accept", "cookie"}, "c"), 1s));
  EXPECT_EQ(call({"GET", vary}).value.string, "accept,cookie");
  EXPECT_GT(pttl(vary), 190000);

  // A TTL under a millisecond is one.
  const std::string brief = primaryFor("example.com", "/brief");
  ASSERT_TRUE(store(brief, entryFor("brief"), 0ms));
  EXPECT_LE(pttl(entryKey("switchyard:cache:", brief, "")), 1);
}

TEST_F(RedisTierTest, TagSetsArePrunedOfKeysThatAreGone) {
  RedisTierOptions options;
  options.tag_prune_threshold = 3;
  options.tag_prune_sample = 100;  // more than the set holds: every member is checked
  RedisTier tier(*client_, sim_, options);
  const std::string tag = tagKey(options.prefix, "p");
  std::vector<std::string> primaries;
  for (int i = 0; i < 5; ++i) {
    primaries.push_back(primaryFor("example.com", "/prune/" + std::to_string(i)));
    ASSERT_TRUE(store(primaries.back(), entryFor("x", {"p"}), 100s, &tier));
  }
  // Over the threshold, but every member is there.
  EXPECT_EQ(call({"SCARD", tag}).value.integer, 5);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(call({"DEL", entryKey(options.prefix, primaries[i], "")}).ok());
  }
  ASSERT_TRUE(store(primaryFor("example.com", "/prune/5"), entryFor("x", {"p"}), 100s, &tier));
  const redis::Result members = call({"SMEMBERS", tag});
  std::set<std::string> left;
  for (const redis::Value& v : members.value.array) left.insert(v.string);
  EXPECT_EQ(left, (std::set<std::string>{
                      entryKey(options.prefix, primaries[3], ""),
                      entryKey(options.prefix, primaries[4], ""),
                      entryKey(options.prefix, primaryFor("example.com", "/prune/5"), "")}));
}

TEST_F(RedisTierTest, PurgeTargetMatchesOnlyThatTargetUnderEveryHost) {
  const std::string a = primaryFor("a.example", "/x");
  const std::string b = primaryFor("b.example", "/x", "other-route");
  ASSERT_TRUE(store(a, entryFor("a gzip", {}, {"accept-encoding"}, "gzip")));
  ASSERT_TRUE(store(a, entryFor("a br", {}, {"accept-encoding"}, "br")));
  ASSERT_TRUE(store(b, entryFor("b")));
  const std::vector<std::string> others = {"/x?q", "/xy", "/x/y", "/", "/X"};
  for (const std::string& target : others) {
    ASSERT_TRUE(store(primaryFor("a.example", target), entryFor(target)));
    ASSERT_TRUE(store(primaryFor("b.example", target), entryFor(target)));
  }

  const PurgeResult purged = purgeTarget("/x");
  ASSERT_TRUE(purged.ok()) << purged.error;
  EXPECT_EQ(purged.matched, 3u);
  EXPECT_FALSE(purged.truncated);
  EXPECT_GT(purged.visited, 0u);
  EXPECT_EQ(fetch(a, "gzip").kind, FetchResult::VaryMismatch);  // the vary key stays
  EXPECT_EQ(fetch(a, "br").kind, FetchResult::VaryMismatch);
  EXPECT_EQ(fetch(b).kind, FetchResult::Miss);
  for (const std::string& target : others) {
    EXPECT_EQ(bodyOf(fetch(primaryFor("a.example", target))), target);
    EXPECT_EQ(bodyOf(fetch(primaryFor("b.example", target))), target);
  }
  // Nothing left to purge.
  EXPECT_EQ(purgeTarget("/x").matched, 0u);
  EXPECT_EQ(purgeTarget("/nothing").matched, 0u);
}

TEST_F(RedisTierTest, PurgePrefixMatchesTargetsStartingWithIt) {
  const std::vector<std::string> inside = {"/api/v1", "/api/v1/users?page=2", "/api/v1x"};
  const std::vector<std::string> outside = {"/api/v2", "/ap", "/", "/other/api/v1"};
  for (const std::string& target : inside) {
    ASSERT_TRUE(store(primaryFor("a.example", target), entryFor(target)));
    ASSERT_TRUE(store(primaryFor("b.example", target), entryFor(target)));
  }
  for (const std::string& target : outside) {
    ASSERT_TRUE(store(primaryFor("a.example", target), entryFor(target)));
  }
  const PurgeResult purged = purgePrefix("/api/v1");
  ASSERT_TRUE(purged.ok()) << purged.error;
  EXPECT_EQ(purged.matched, 6u);
  for (const std::string& target : inside) {
    EXPECT_EQ(fetch(primaryFor("a.example", target)).kind, FetchResult::Miss) << target;
    EXPECT_EQ(fetch(primaryFor("b.example", target)).kind, FetchResult::Miss) << target;
  }
  for (const std::string& target : outside) {
    EXPECT_EQ(bodyOf(fetch(primaryFor("a.example", target))), target);
  }
  // "" matches every entry.
  EXPECT_EQ(purgePrefix("").matched, outside.size());
  for (const std::string& target : outside) {
    EXPECT_EQ(fetch(primaryFor("a.example", target)).kind, FetchResult::Miss) << target;
  }
}

TEST_F(RedisTierTest, PurgeTagRemovesExactlyTheTaggedEntries) {
  const std::string p1 = primaryFor("example.com", "/1");
  const std::string p2 = primaryFor("example.com", "/2");
  const std::string p3 = primaryFor("example.com", "/3");
  const std::string p4 = primaryFor("example.com", "/4");
  ASSERT_TRUE(store(p1, entryFor("1", {"t1"})));
  ASSERT_TRUE(store(p2, entryFor("2", {"t1", "t2"})));
  ASSERT_TRUE(store(p3, entryFor("3", {"t2"})));
  ASSERT_TRUE(store(p4, entryFor("4")));

  const PurgeResult purged = purgeTag("t1");
  ASSERT_TRUE(purged.ok()) << purged.error;
  EXPECT_EQ(purged.matched, 2u);
  EXPECT_EQ(purged.visited, 2u);
  EXPECT_EQ(fetch(p1).kind, FetchResult::Miss);
  EXPECT_EQ(fetch(p2).kind, FetchResult::Miss);
  EXPECT_EQ(bodyOf(fetch(p3)), "3");
  EXPECT_EQ(bodyOf(fetch(p4)), "4");
  EXPECT_FALSE(exists(tagKey("switchyard:cache:", "t1")));

  // t2 still names p2's key, which is gone: not counted, and dropped from the set.
  EXPECT_EQ(call({"SCARD", tagKey("switchyard:cache:", "t2")}).value.integer, 2);
  const PurgeResult soft = purgeTag("t2", PurgeMode::Soft);
  ASSERT_TRUE(soft.ok()) << soft.error;
  EXPECT_EQ(soft.matched, 1u);
  const redis::Result members = call({"SMEMBERS", tagKey("switchyard:cache:", "t2")});
  ASSERT_EQ(members.value.array.size(), 1u);
  EXPECT_EQ(members.value.array[0].string, entryKey("switchyard:cache:", p3, ""));
  FetchResult marked = fetch(p3);
  ASSERT_EQ(marked.kind, FetchResult::Hit) << kindName(marked);
  EXPECT_TRUE(marked.entry->soft_purged);

  EXPECT_EQ(purgeTag("no-such-tag").matched, 0u);
}

TEST_F(RedisTierTest, SoftPurgeFlipsTheFlagInPlaceAndKeepsTheTtl) {
  const std::string primary = primaryFor("example.com", "/soft");
  const std::string key = entryKey("switchyard:cache:", primary, "");
  const CachedResponse entry = entryFor("soft body", {"s"});
  ASSERT_TRUE(store(primary, entry, 100s));
  const int64_t before = pttl(key);
  const std::string bytes_before = call({"GET", key}).value.string;

  const PurgeResult purged = purgeTarget("/soft", PurgeMode::Soft);
  ASSERT_TRUE(purged.ok()) << purged.error;
  EXPECT_EQ(purged.matched, 1u);
  const int64_t after = pttl(key);
  EXPECT_GT(after, before - 5000);
  EXPECT_LE(after, before);
  const std::string bytes_after = call({"GET", key}).value.string;
  ASSERT_EQ(bytes_after.size(), bytes_before.size());
  EXPECT_EQ(bytes_after[0], '\x01');
  EXPECT_EQ(bytes_after.substr(1), bytes_before.substr(1));
  FetchResult hit = fetch(primary);
  ASSERT_EQ(hit.kind, FetchResult::Hit) << kindName(hit);
  EXPECT_TRUE(hit.entry->soft_purged);
  expectSameResponse(*hit.entry->entry, entry);

  // Marked already: counted again, the flag stays, and so do prefix and tag purges.
  EXPECT_EQ(purgeTarget("/soft", PurgeMode::Soft).matched, 1u);
  EXPECT_EQ(purgePrefix("/so", PurgeMode::Soft).matched, 1u);
  EXPECT_EQ(purgeTag("s", PurgeMode::Soft).matched, 1u);
  EXPECT_EQ(call({"GET", key}).value.string[0], '\x01');
  EXPECT_GT(pttl(key), 0);

  // A new store clears it.
  ASSERT_TRUE(store(primary, entry, 100s));
  EXPECT_FALSE(fetch(primary).entry->soft_purged);

  // A soft prefix purge, then a hard one.
  EXPECT_EQ(purgePrefix("/s", PurgeMode::Soft).matched, 1u);
  EXPECT_TRUE(fetch(primary).entry->soft_purged);
  EXPECT_EQ(purgePrefix("/s").matched, 1u);
  EXPECT_EQ(fetch(primary).kind, FetchResult::Miss);
  // Nothing left: a soft purge matches nothing and creates nothing.
  EXPECT_EQ(purgeTarget("/soft", PurgeMode::Soft).matched, 0u);
  EXPECT_FALSE(exists(key));
}

TEST_F(RedisTierTest, GlobCharactersInTargetsAreMatchedLiterally) {
  // What "/a*b?[c]" would match as a pattern, and a backslash.
  const std::vector<std::string> targets = {"/a*b?[c]", "/aXXbYc", "/a*b?[c]x", "/a\\b", "/ab"};
  for (const std::string& target : targets) {
    ASSERT_TRUE(store(primaryFor("example.com", target), entryFor(target)));
  }
  auto alive = [&] {
    std::set<std::string> out;
    for (const std::string& target : targets) {
      if (fetch(primaryFor("example.com", target)).kind == FetchResult::Hit) out.insert(target);
    }
    return out;
  };

  EXPECT_EQ(purgeTarget("/a*b?[c]", PurgeMode::Soft).matched, 1u);
  FetchResult marked = fetch(primaryFor("example.com", "/a*b?[c]"));
  ASSERT_EQ(marked.kind, FetchResult::Hit);
  EXPECT_TRUE(marked.entry->soft_purged);
  EXPECT_FALSE(fetch(primaryFor("example.com", "/aXXbYc")).entry->soft_purged);

  EXPECT_EQ(purgeTarget("/a*b?[c]").matched, 1u);
  EXPECT_EQ(alive(), (std::set<std::string>{"/aXXbYc", "/a*b?[c]x", "/a\\b", "/ab"}));
  EXPECT_EQ(purgeTarget("/a\\b").matched, 1u);
  EXPECT_EQ(alive(), (std::set<std::string>{"/aXXbYc", "/a*b?[c]x", "/ab"}));
  EXPECT_EQ(purgePrefix("/a*").matched, 1u);
  EXPECT_EQ(alive(), (std::set<std::string>{"/aXXbYc", "/ab"}));
  EXPECT_EQ(purgePrefix("/a?").matched, 0u);
  EXPECT_EQ(purgePrefix("/[a]").matched, 0u);
}

TEST_F(RedisTierTest, PurgesWalkInBatchesAndStopAtTheCap) {
  constexpr int Count = 60;
  for (int i = 0; i < Count; ++i) {
    ASSERT_TRUE(store(primaryFor("example.com", "/many/" + std::to_string(i)), entryFor("x")));
  }
  RedisTierOptions capped;
  capped.scan_count = 5;
  capped.max_purge_visits = 10;
  RedisTier capped_tier(*client_, sim_, capped);
  const PurgeResult first = purgePrefix("/many/", PurgeMode::Hard, &capped_tier);
  ASSERT_TRUE(first.ok()) << first.error;
  EXPECT_TRUE(first.truncated);
  EXPECT_EQ(first.visited, 10u);
  EXPECT_LT(first.matched, static_cast<uint64_t>(Count));

  RedisTierOptions small;
  small.scan_count = 5;
  RedisTier small_tier(*client_, sim_, small);
  const PurgeResult rest = purgePrefix("/many/", PurgeMode::Hard, &small_tier);
  ASSERT_TRUE(rest.ok()) << rest.error;
  EXPECT_FALSE(rest.truncated);
  EXPECT_GT(rest.visited, 5u);  // more than one batch
  EXPECT_EQ(first.matched + rest.matched, static_cast<uint64_t>(Count));
  for (int i = 0; i < Count; ++i) {
    EXPECT_EQ(fetch(primaryFor("example.com", "/many/" + std::to_string(i))).kind,
              FetchResult::Miss);
  }
}

TEST_F(RedisTierTest, ACancelledPurgeCallsNothing) {
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(store(primaryFor("example.com", "/c/" + std::to_string(i)), entryFor("x")));
  }
  int called = 0;
  PurgeHandle handle =
      tier_->purgePrefix("/c/", PurgeMode::Hard, [&called](PurgeResult) { ++called; });
  EXPECT_TRUE(handle.active());
  handle.cancel();
  EXPECT_FALSE(handle.active());
  handle.cancel();  // harmless

  // Destroying the tier cancels the purges it runs.
  PurgeHandle orphan = tier_->purgeTag("t", PurgeMode::Hard, [&called](PurgeResult) { ++called; });
  tier_.reset();
  EXPECT_FALSE(orphan.active());
  // A command behind both batches: once it is answered, so were they.
  ASSERT_TRUE(call({"PING"}).ok());
  EXPECT_EQ(called, 0);
}

TEST_F(RedisTierTest, ThePurgeLogCarriesPurgesToOtherReplicas) {
  PurgeLogResult empty = latestPurgeId();
  ASSERT_TRUE(empty.ok()) << empty.error;
  EXPECT_EQ(empty.last_id, "0-0");
  PurgeLogResult nothing = readPurges("0-0");
  ASSERT_TRUE(nothing.ok()) << nothing.error;
  EXPECT_TRUE(nothing.records.empty());
  EXPECT_EQ(nothing.last_id, "0-0");

  const PurgeLogResult p1 = publish(PurgeKind::Key, "/x?y=1", PurgeMode::Hard, "replica-a");
  ASSERT_TRUE(p1.ok()) << p1.error;
  EXPECT_FALSE(p1.last_id.empty());
  // A stream entry of another writer: skipped, but read past.
  ASSERT_TRUE(call({"XADD", purgeLogKey("switchyard:cache:"), "*", "kind", "bogus"}).ok());
  const PurgeLogResult p2 = publish(PurgeKind::Prefix, "/api/", PurgeMode::Soft, "replica-b");
  const PurgeLogResult p3 = publish(PurgeKind::Tag, "product:1", PurgeMode::Hard, "replica-a");
  ASSERT_TRUE(p2.ok() && p3.ok());

  const PurgeLogResult latest = latestPurgeId();
  ASSERT_TRUE(latest.ok()) << latest.error;
  EXPECT_EQ(latest.last_id, p3.last_id);
  EXPECT_TRUE(latest.records.empty());

  const PurgeLogResult all = readPurges("0-0");
  ASSERT_TRUE(all.ok()) << all.error;
  ASSERT_EQ(all.records.size(), 3u);
  EXPECT_EQ(all.last_id, p3.last_id);
  EXPECT_EQ(all.records[0].id, p1.last_id);
  EXPECT_EQ(all.records[0].kind, PurgeKind::Key);
  EXPECT_EQ(all.records[0].value, "/x?y=1");
  EXPECT_EQ(all.records[0].mode, PurgeMode::Hard);
  EXPECT_EQ(all.records[0].origin, "replica-a");
  EXPECT_EQ(all.records[1].id, p2.last_id);
  EXPECT_EQ(all.records[1].kind, PurgeKind::Prefix);
  EXPECT_EQ(all.records[1].value, "/api/");
  EXPECT_EQ(all.records[1].mode, PurgeMode::Soft);
  EXPECT_EQ(all.records[1].origin, "replica-b");
  EXPECT_EQ(all.records[2].kind, PurgeKind::Tag);
  EXPECT_EQ(all.records[2].value, "product:1");

  // After the latest: nothing, and the same ID back.
  const PurgeLogResult none = readPurges(p3.last_id);
  ASSERT_TRUE(none.ok()) << none.error;
  EXPECT_TRUE(none.records.empty());
  EXPECT_EQ(none.last_id, p3.last_id);
  const PurgeLogResult after_first = readPurges(p1.last_id);
  ASSERT_EQ(after_first.records.size(), 2u);
  EXPECT_EQ(after_first.records[0].id, p2.last_id);

  // Read in pages of purge_log_read_count (the foreign entry takes a place in a page).
  RedisTierOptions paged;
  paged.purge_log_read_count = 2;
  RedisTier paged_tier(*client_, sim_, paged);
  const PurgeLogResult page1 = readPurges("0-0", &paged_tier);
  ASSERT_EQ(page1.records.size(), 1u);
  EXPECT_EQ(page1.records[0].id, p1.last_id);
  const PurgeLogResult page2 = readPurges(page1.last_id, &paged_tier);
  ASSERT_EQ(page2.records.size(), 2u);
  EXPECT_EQ(page2.last_id, p3.last_id);

  // The log is trimmed (approximately: MAXLEN ~ trims whole nodes).
  RedisTierOptions short_log;
  short_log.purge_log_max_len = 1;
  RedisTier short_tier(*client_, sim_, short_log);
  for (int i = 0; i < 500; ++i) {
    short_tier.publishPurge(PurgeKind::Key, "/" + std::to_string(i), PurgeMode::Hard, "r",
                            [](PurgeLogResult) {});
  }
  const redis::Result length = call({"XLEN", purgeLogKey("switchyard:cache:")});
  EXPECT_LT(length.value.integer, 503);
}

TEST_F(RedisTierTest, ErrorRepliesAreReported) {
  // A tag key of the wrong type: SADD fails inside the script.
  ASSERT_TRUE(call({"SET", tagKey("switchyard:cache:", "wrong"), "a string"}).ok());
  EXPECT_FALSE(store(primaryFor("example.com", "/w"), entryFor("w", {"wrong"})));
  const PurgeResult tag = purgeTag("wrong");
  EXPECT_FALSE(tag.ok());
  EXPECT_NE(tag.error.find("server_error"), std::string::npos) << tag.error;
  // The purge log's key of the wrong type.
  ASSERT_TRUE(call({"SET", purgeLogKey("switchyard:cache:"), "a string"}).ok());
  EXPECT_FALSE(publish(PurgeKind::Key, "/w", PurgeMode::Hard, "r").ok());
  EXPECT_FALSE(readPurges("0-0").ok());
  EXPECT_FALSE(latestPurgeId().ok());
  // A malformed ID.
  ASSERT_TRUE(call({"DEL", purgeLogKey("switchyard:cache:")}).ok());
  EXPECT_FALSE(readPurges("not-an-id").ok());
  // An entry key holding a set: MGET reads it as missing, a purge's SCAN (TYPE string) skips it.
  const std::string odd = primaryFor("example.com", "/odd");
  ASSERT_TRUE(call({"SADD", entryKey("switchyard:cache:", odd, ""), "m"}).ok());
  EXPECT_EQ(fetch(odd).kind, FetchResult::Miss);
  const PurgeResult target = purgeTarget("/odd");
  ASSERT_TRUE(target.ok()) << target.error;
  EXPECT_EQ(target.matched, 0u);
}

TEST_F(RedisTierTest, WithRedisDownEveryOperationReportsAnError) {
  const std::string primary = primaryFor("example.com", "/down");
  ASSERT_TRUE(store(primary, entryFor("x", {"t"})));
  redis_->kill();

  EXPECT_NO_THROW({
    const FetchResult f = fetch(primary);
    EXPECT_EQ(f.kind, FetchResult::Error);
    EXPECT_FALSE(f.error.empty());
    EXPECT_FALSE(store(primary, entryFor("y")));
    for (PurgeMode mode : {PurgeMode::Hard, PurgeMode::Soft}) {
      const PurgeResult target = purgeTarget("/down", mode);
      EXPECT_FALSE(target.ok());
      const PurgeResult prefix = purgePrefix("/", mode);
      EXPECT_FALSE(prefix.ok());
      const PurgeResult tag = purgeTag("t", mode);
      EXPECT_FALSE(tag.ok());
      EXPECT_EQ(target.matched + prefix.matched + tag.matched, 0u);
    }
    EXPECT_FALSE(publish(PurgeKind::Tag, "t", PurgeMode::Hard, "r").ok());
    EXPECT_FALSE(readPurges("0-0").ok());
    EXPECT_FALSE(latestPurgeId().ok());
  });

  // Back up: the tier works again once the client has reconnected (the scripts are loaded
  // anew on the new server).
  redis_->start();
  ASSERT_TRUE(runUntil([this] { return client_->state() == redis::ClientState::Connected; }));
  ASSERT_TRUE(store(primary, entryFor("again", {"t"})));
  EXPECT_EQ(bodyOf(fetch(primary)), "again");
  EXPECT_EQ(purgeTag("t").matched, 1u);
}

}  // namespace
}  // namespace switchyard::filters::cache
