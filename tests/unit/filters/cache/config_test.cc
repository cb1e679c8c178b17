#include "filters/cache/config.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <string>

#include "config/config_error.h"
#include "tests/support/config_errors.h"

namespace switchyard::filters::cache {
namespace {

using std::chrono::milliseconds;

CacheConfig parse(const std::string& yaml) {
  return parseCacheConfig(YAML::Load(yaml), "filters[0].cache");
}

TEST(CacheConfigTest, DefaultsAndTheIssueExample) {
  const CacheConfig d = parse("{}");
  EXPECT_EQ(d.max_bytes, 256u << 20);
  EXPECT_EQ(d.max_object_bytes, 2u << 20);
  EXPECT_EQ(d.max_variants, 16u);
  EXPECT_FALSE(d.redis);
  EXPECT_EQ(d.stale_if_error, milliseconds(0));
  EXPECT_EQ(d.coalesce_timeout, milliseconds(5000));
  EXPECT_EQ(d.tag_header, "surrogate-key");
  EXPECT_EQ(parse("").max_bytes, d.max_bytes);  // `cache:` with nothing after it

  const CacheConfig c = parse(
      "max_bytes: 64MiB\nmax_object_bytes: 1MiB\nredis: true\nstale_if_error: 10m\n"
      "stale_while_revalidate: 30s\ncoalesce_timeout: 2s\ntag_header: X-Tags\nmax_variants: 4\n");
  EXPECT_EQ(c.max_bytes, 64u << 20);
  EXPECT_EQ(c.max_object_bytes, 1u << 20);
  EXPECT_TRUE(c.redis);
  EXPECT_EQ(c.stale_if_error, milliseconds(600'000));
  EXPECT_EQ(c.stale_while_revalidate, milliseconds(30'000));
  EXPECT_EQ(c.coalesce_timeout, milliseconds(2000));
  EXPECT_EQ(c.tag_header, "x-tags");
  EXPECT_EQ(c.max_variants, 4u);
  EXPECT_EQ(toJson(c)["stale_if_error"], "10m");
  EXPECT_EQ(parse("tag_header: \"\"").tag_header, "");
}

TEST(CacheConfigTest, BadInputIsAnErrorAtItsPosition) {
  struct Case {
    std::string yaml;
    std::string path;
    int line;
    std::string message;
  };
  const Case cases[] = {
      {"max_bytes: lots\n", "filters[0].cache.max_bytes", 1, "expected a size"},
      {"max_bytes: 1KiB\n", "filters[0].cache.max_bytes", 1, "at least 65536 bytes"},
      {"max_bytes: 1MiB\nmax_object_bytes: 2MiB\n", "filters[0].cache.max_object_bytes", 2,
       "must not exceed max_bytes"},
      {"max_bytes: 1MiB\n", "filters[0].cache.max_bytes", 1, "must not exceed max_bytes"},
      {"max_object_bytes: 0\n", "filters[0].cache.max_object_bytes", 1, "at least 1 bytes"},
      {"redis: maybe\n", "filters[0].cache.redis", 1, "boolean"},
      {"stale_if_error: soon\n", "filters[0].cache.stale_if_error", 1, "duration"},
      {"stale_if_error: 200h\n", "filters[0].cache.stale_if_error", 1, "at most 168h"},
      {"coalesce_timeout: 0s\n", "filters[0].cache.coalesce_timeout", 1, "must be above 0"},
      {"coalesce_timeout: 10m\n", "filters[0].cache.coalesce_timeout", 1, "at most"},
      {"max_coalesced: -1\n", "filters[0].cache.max_coalesced", 1, "between 0 and 1000000"},
      {"max_coalesced: lots\n", "filters[0].cache.max_coalesced", 1, "integer"},
      {"stale_while_revalidate: 200h\n", "filters[0].cache.stale_while_revalidate", 1,
       "at most 168h"},
      {"redis_max_object_bytes: 0\n", "filters[0].cache.redis_max_object_bytes", 1,
       "at least 1 bytes"},
      {"redis_max_object_bytes: 1GiB\n", "filters[0].cache.redis_max_object_bytes", 1,
       "at most 512MiB"},
      {"max_variants: 0\n", "filters[0].cache.max_variants", 1, "between 1 and 1024"},
      {"tag_header: \"bad name\"\n", "filters[0].cache.tag_header", 1, "header name"},
      {"ttl: 30s\n", "filters[0].cache.ttl", 1, "unknown key"},
      {"[1, 2]\n", "filters[0].cache", 1, "map"},
  };
  for (const Case& c : cases) {
    test::expectConfigError(test::configErrorOf([&] { parse(c.yaml); }, c.yaml), c.path, c.line,
                            c.message, c.yaml);
  }
}

TEST(CacheConfigTest, RouteBlocks) {
  const CacheRouteConfig base;
  const auto route = [&](const std::string& yaml, const CacheRouteConfig& over) {
    return parseCacheRouteConfig(YAML::Load(yaml), "routes[0].filters.cache", over);
  };
  const CacheRouteConfig ttl = route("{ttl: 30s}", base);
  EXPECT_TRUE(ttl.enabled);
  ASSERT_TRUE(ttl.ttl);
  EXPECT_EQ(*ttl.ttl, milliseconds(30'000));
  // A version's block applies over its route's.
  const CacheRouteConfig off = route("{enabled: false}", ttl);
  EXPECT_FALSE(off.enabled);
  EXPECT_EQ(*off.ttl, milliseconds(30'000));
  EXPECT_EQ(toJson(off), nlohmann::json::parse(R"({"enabled": false, "ttl": "30s"})"));

  test::expectConfigError(test::configErrorOf([&] { route("{ttl: 0s}", base); }, "ttl 0"),
                          "routes[0].filters.cache.ttl", 1, "must be above 0", "ttl 0");
  test::expectConfigError(
      test::configErrorOf([&] { route("{max_bytes: 1MiB}", base); }, "max_bytes"),
      "routes[0].filters.cache.max_bytes", 1, "unknown key", "max_bytes");
}

}  // namespace
}  // namespace switchyard::filters::cache
