#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <array>
#include <string>
#include <vector>

#include "config/loader.h"
#include "proxy/http/headers.h"
#include "proxy/router/route_table.h"
#include "proxy/router/sticky.h"
#include "proxy/router/versioning.h"
#include "proxy/router/weights.h"

namespace switchyard::router {
namespace {

TEST(VersioningTest, NormalizesHeaderValues) {
  std::string out;
  for (const char* v : {"2", "v2", "V2", " v2 ", "\tv02", "002"}) {
    ASSERT_TRUE(normalizeVersion(v, out)) << v;
    EXPECT_EQ(out, "v2") << v;
  }
  ASSERT_TRUE(normalizeVersion("v0", out));
  EXPECT_EQ(out, "v0");
  ASSERT_TRUE(normalizeVersion("10", out));
  EXPECT_EQ(out, "v10");
  for (const char* v : {"", "v", "vv2", "2.0", "v2beta", "two", "-1", "1234567890", "v 2"}) {
    EXPECT_FALSE(normalizeVersion(v, out)) << v;
  }
}

TEST(VersioningTest, FindsTheFirstVersionSegmentOfThePath) {
  EXPECT_EQ(versionFromPath("/api/v1/users"), "v1");
  EXPECT_EQ(versionFromPath("/v2/"), "v2");
  EXPECT_EQ(versionFromPath("/api/v03/x/v4/y"), "v3");
  // Only a whole segment followed by '/' counts.
  EXPECT_EQ(versionFromPath("/api/v1"), "");
  EXPECT_EQ(versionFromPath("/api/v1x/users"), "");
  EXPECT_EQ(versionFromPath("/api/xv1/users"), "");
  EXPECT_EQ(versionFromPath("/api/V1/users"), "");
  EXPECT_EQ(versionFromPath("/api/v/users"), "");
  EXPECT_EQ(versionFromPath("/"), "");
  EXPECT_EQ(versionFromPath(""), "");
}

TEST(StickyTest, HashIsTheDocumentedFunction) {
  // Pinned: a change here moves users between the sides of every running canary.
  EXPECT_EQ(stickyHash(""), 0xf52a15e9a9b5e89bULL);
  EXPECT_EQ(stickyHash("user-1"), 0xc499b5f8a721df58ULL);
  EXPECT_EQ(stickyBucket("user-1"), 7624u);
  EXPECT_EQ(stickyBucket("alice"), 572u);
  EXPECT_EQ(stickyBucket("127.0.0.1"), 9370u);
}

TEST(StickyTest, BucketBounds) {
  EXPECT_EQ(bucketBounds({90, 10}), (std::vector<uint32_t>{9000, 10000}));
  EXPECT_EQ(bucketBounds({1}), (std::vector<uint32_t>{10000}));
  EXPECT_EQ(bucketBounds({0, 1}), (std::vector<uint32_t>{0, 10000}));
  EXPECT_EQ(bucketBounds({1, 0}), (std::vector<uint32_t>{10000, 10000}));
  EXPECT_EQ(bucketBounds({1, 1, 1}), (std::vector<uint32_t>{3333, 6666, 10000}));
  const auto b = bucketBounds({0, 1});
  EXPECT_EQ(pickByBucket(b, 0), 1u);
  EXPECT_EQ(pickByBucket(b, 9999), 1u);
  const auto c = bucketBounds({90, 10});
  EXPECT_EQ(pickByBucket(c, 8999), 0u);
  EXPECT_EQ(pickByBucket(c, 9000), 1u);
  EXPECT_EQ(pickByBucket(c, 9999), 1u);
}

TEST(StickyTest, SplitLandsWithinOnePercentOfTheWeights) {
  for (uint32_t percent : {1u, 10u, 25u, 50u, 90u}) {
    const auto bounds = bucketBounds({100 - percent, percent});
    int second = 0;
    for (int i = 0; i < 10000; ++i) {
      second += pickByBucket(bounds, stickyBucket("user-" + std::to_string(i))) == 1;
    }
    EXPECT_NEAR(second / 100.0, percent, 1.0) << percent;
  }
}

TEST(StickyTest, RaisingAWeightOnlyMovesUsersTowardsIt) {
  // Either order of the two clusters in the split.
  for (bool new_first : {false, true}) {
    std::vector<uint32_t> previous;
    for (uint32_t percent = 0; percent <= 100; percent += 5) {
      const auto bounds = new_first ? bucketBounds({percent, 100 - percent})
                                    : bucketBounds({100 - percent, percent});
      const size_t new_side = new_first ? 0 : 1;
      std::vector<uint32_t> on_new;
      for (int i = 0; i < 2000; ++i) {
        const bool is_new = pickByBucket(bounds, stickyBucket("u" + std::to_string(i))) == new_side;
        on_new.push_back(is_new);
      }
      for (size_t i = 0; i < previous.size(); ++i) {
        ASSERT_FALSE(previous[i] && !on_new[i]) << "user u" << i << " moved back at " << percent
                                                << "% (new first: " << new_first << ")";
      }
      previous = on_new;
    }
  }
}

class RoutingConfigTest : public ::testing::Test {
 protected:
  config::ConfigConstSharedPtr load(const std::string& routes) {
    const std::string yaml =
        "listeners: [{name: public, address: 127.0.0.1:18080}]\n"
        "clusters:\n"
        "  - {name: legacy, endpoints: [127.0.0.1:19001]}\n"
        "  - {name: modern, endpoints: [127.0.0.1:19002]}\n"
        "routes:\n" +
        routes;
    return config::loadConfigString(yaml, "test.yaml", {filters_, metrics_, time_});
  }

  RouteTable table(const config::Config& config) {
    return RouteTable(
        config, [this](const std::string& name) { return pool(name); }, nullptr,
        [](const std::string&, const std::string&) { return nullptr; });
  }
  upstream::ConnPool* pool(const std::string& name) {
    return reinterpret_cast<upstream::ConnPool*>(&pools_[name == "legacy" ? 0 : 1]);
  }

  RouteDecision resolve(const RouteTable& t, const std::string& path,
                        std::vector<std::pair<std::string, std::string>> headers = {},
                        const std::string& client = "10.0.0.1") {
    http::RequestHeaders request;
    request.method = "GET";
    request.path = path;
    for (const auto& [name, value] : headers) request.headers.add(name, value);
    RouteDecision d;
    t.resolve(request, client, d);
    return d;
  }

  filters::FilterRegistry filters_;
  prometheus::Registry metrics_;
  common::SimulatedTimeSource time_;
  std::array<char, 2> pools_{};
};

constexpr const char* Versioned =
    "  - name: api\n"
    "    match: {prefix: /api/}\n"
    "    versions:\n"
    "      default: v2\n"
    "      v1: {cluster: legacy}\n"
    "      v2:\n"
    "        split: [{cluster: modern, weight: 90}, {cluster: legacy, weight: 10}]\n"
    "        sticky: {header: X-User-Id}\n"
    "  - name: other\n"
    "    match: {prefix: /}\n"
    "    cluster: legacy\n";

TEST_F(RoutingConfigTest, ResolvesTheVersionFromHeaderThenPathThenDefault) {
  auto config = load(Versioned);
  RouteTable t = table(*config);
  RouteDecision d = resolve(t, "/api/users", {{"x-api-version", "1"}});
  ASSERT_EQ(d.status, 0);
  EXPECT_EQ(d.route->name, "api");
  EXPECT_EQ(d.target->version, "v1");
  EXPECT_EQ(d.pool, pool("legacy"));
  // The header wins over the path.
  d = resolve(t, "/api/v2/users", {{"x-api-version", "v1"}});
  EXPECT_EQ(d.target->version, "v1");
  d = resolve(t, "/api/v1/users?x=/v2/");
  EXPECT_EQ(d.target->version, "v1");
  d = resolve(t, "/api/users");
  EXPECT_EQ(d.target->version, "v2");
  // Unversioned routes carry no version.
  d = resolve(t, "/health", {{"x-api-version", "7"}});
  ASSERT_EQ(d.status, 0);
  EXPECT_EQ(d.route->name, "other");
  EXPECT_EQ(d.target->version, "");
}

// The gated rollout's view: one observer per cluster of a version's split, in the split's order;
// none at all where nobody watches any cluster of a target.
TEST_F(RoutingConfigTest, ClusterObserversFollowTheSplitsOrder) {
  auto config = load(Versioned);
  struct Observer final : RequestObserver {
    void record(common::MonotonicTime, int, common::Duration) override {}
  } modern;
  RouteTable t(
      *config, [this](const std::string& name) { return pool(name); }, nullptr,
      [](const std::string&, const std::string&) { return nullptr; }, nullptr,
      [&modern](const std::string& route, const std::string& version,
                const std::string& cluster) -> RequestObserver* {
        return route == "api" && version == "v2" && cluster == "modern" ? &modern : nullptr;
      });
  RouteDecision d = resolve(t, "/api/users");
  ASSERT_EQ(d.target->version, "v2");
  EXPECT_EQ(d.target->cluster_observers, (std::vector<RequestObserver*>{&modern, nullptr}));
  d = resolve(t, "/api/v1/users");
  EXPECT_TRUE(d.target->cluster_observers.empty());
  d = resolve(t, "/health");
  EXPECT_TRUE(d.target->cluster_observers.empty());
}

TEST_F(RoutingConfigTest, UnknownOrMalformedVersionsAre400WithTheKnownVersions) {
  auto config = load(Versioned);
  RouteTable t = table(*config);
  RouteDecision d = resolve(t, "/api/users", {{"x-api-version", "3"}});
  EXPECT_EQ(d.status, 400);
  EXPECT_EQ(d.detail, "unknown API version \"v3\"; this route serves v1, v2");
  EXPECT_EQ(d.target, nullptr);
  EXPECT_EQ(d.route->name, "api");
  d = resolve(t, "/api/v9/users");
  EXPECT_EQ(d.status, 400);
  EXPECT_EQ(d.detail, "unknown API version \"v9\"; this route serves v1, v2");
  d = resolve(t, "/api/users", {{"x-api-version", "latest"}});
  EXPECT_EQ(d.status, 400);
  EXPECT_EQ(d.detail, "X-API-Version \"latest\" is not a version; this route serves v1, v2");
  d = resolve(t, "/nothing-matches-this", {});
  EXPECT_EQ(d.status, 0);  // the catch-all route
  auto narrow = load("  - {name: only, match: {prefix: /only}, cluster: legacy}\n");
  RouteTable t2 = table(*narrow);
  d = resolve(t2, "/elsewhere");
  EXPECT_EQ(d.status, 404);
  EXPECT_EQ(d.route, nullptr);
}

TEST_F(RoutingConfigTest, SplitIsStickyByHeaderElseClientAddress) {
  auto config = load(Versioned);
  RouteTable t = table(*config);
  int legacy = 0;
  for (int i = 0; i < 10000; ++i) {
    const std::string user = "user-" + std::to_string(i);
    RouteDecision d = resolve(t, "/api/x", {{"x-user-id", user}});
    RouteDecision again = resolve(t, "/api/y", {{"x-user-id", user}}, "10.9.9.9");
    ASSERT_EQ(d.pool, again.pool) << user;
    EXPECT_EQ(d.cluster_slot, stickyBucket(user) < 9000 ? 0u : 1u);
    legacy += d.pool == pool("legacy");
  }
  EXPECT_NEAR(legacy / 100.0, 10.0, 1.0);
  // Without the header, the client address decides.
  EXPECT_EQ(resolve(t, "/api/x", {}, "127.0.0.1").cluster_slot,
            stickyBucket("127.0.0.1") < 9000 ? 0u : 1u);
  EXPECT_EQ(resolve(t, "/api/x", {{"x-user-id", ""}}, "127.0.0.1").cluster_slot,
            resolve(t, "/api/x", {}, "127.0.0.1").cluster_slot);
}

TEST_F(RoutingConfigTest, ASplitStickyByAClaimIsPickedAgainWithTheClaim) {
  auto config = load(
      "  - name: api\n"
      "    match: {prefix: /api/}\n"
      "    split: [{cluster: modern, weight: 50}, {cluster: legacy, weight: 50}]\n"
      "    sticky: {claim: sub}\n");
  EXPECT_EQ(config->routes[0].target.sticky_claim, "sub");
  EXPECT_EQ(configToJson(*config)["routes"][0]["sticky"]["claim"], "sub");
  RouteTable t = table(*config);
  for (int i = 0; i < 200; ++i) {
    const std::string user = "user-" + std::to_string(i);
    // Routing places the request by its client address (no identity yet), whatever header the
    // client sends...
    RouteDecision d = resolve(t, "/api/x", {{"x-user-id", user}}, "10.0.0.7");
    EXPECT_EQ(d.cluster_slot, stickyBucket("10.0.0.7") < 5000 ? 0u : 1u);
    // ...and the verified claim places it again.
    RouteTable::pickCluster(*d.target, user, d);
    EXPECT_EQ(d.cluster_slot, stickyBucket(user) < 5000 ? 0u : 1u) << user;
    EXPECT_EQ(d.pool, pool(d.cluster_slot == 0 ? "modern" : "legacy"));
    EXPECT_EQ(d.cluster->name, d.cluster_slot == 0 ? "modern" : "legacy");
  }
}

TEST_F(RoutingConfigTest, OverridesChangeTheSplitWhenApplied) {
  auto config = load(Versioned);
  RouteTable t = table(*config);
  WeightOverrides overrides;
  t.applyWeights(overrides);
  const uint64_t g = overrides.generation();
  EXPECT_EQ(t.weightsGeneration(), g);
  overrides.set("api", "v2", {{"legacy", 100}});
  EXPECT_GT(overrides.generation(), g);
  // Not applied yet: the table keeps its ranges until the worker notices the generation.
  EXPECT_EQ(resolve(t, "/api/x", {{"x-user-id", "alice"}}).pool, pool("modern"));
  t.applyWeights(overrides);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(resolve(t, "/api/x", {{"x-user-id", "u" + std::to_string(i)}}).pool, pool("legacy"));
  }
  // v1 is untouched.
  EXPECT_EQ(resolve(t, "/api/v1/x").pool, pool("legacy"));
  EXPECT_TRUE(overrides.clear("api", "v2"));
  EXPECT_FALSE(overrides.clear("api", "v2"));
  t.applyWeights(overrides);
  EXPECT_EQ(resolve(t, "/api/x", {{"x-user-id", "alice"}}).pool, pool("modern"));
}

TEST_F(RoutingConfigTest, APinnedRouteIgnoresTheRequestedVersion) {
  auto config = load(Versioned);
  RouteTable t = table(*config);
  WeightOverrides overrides;
  overrides.pin("api", "v1");
  t.applyWeights(overrides);
  for (auto headers : std::vector<std::vector<std::pair<std::string, std::string>>>{
           {}, {{"x-api-version", "2"}}, {{"x-api-version", "9"}}, {{"x-user-id", "alice"}}}) {
    RouteDecision d = resolve(t, "/api/v2/items", headers);
    ASSERT_EQ(d.status, 0);
    EXPECT_EQ(d.target->version, "v1");
    EXPECT_EQ(d.pool, pool("legacy"));
  }
  EXPECT_EQ(overrides.pinned("api"), std::optional<std::string>("v1"));
  EXPECT_TRUE(overrides.unpin("api"));
  EXPECT_FALSE(overrides.unpin("api"));
  t.applyWeights(overrides);
  EXPECT_EQ(resolve(t, "/api/v2/items").target->version, "v2");
  // A pin to a version the route no longer has is dropped on reload.
  overrides.pin("api", "v1");
  auto next = load(
      "  - {name: api, match: {prefix: /api/}, versions: {default: v2, v2: {cluster: modern}}}\n");
  auto dropped = overrides.retainValid(*next);
  ASSERT_EQ(dropped.size(), 1u);
  EXPECT_EQ(dropped[0],
            "pin of route \"api\" to version \"v1\": the route or version no longer exists");
  EXPECT_FALSE(overrides.pinned("api").has_value());
}

TEST_F(RoutingConfigTest, ValidatesOverridesAgainstTheConfiguration) {
  auto config = load(Versioned);
  EXPECT_EQ(validateOverride(*config, "api", "v2", {{"legacy", 1}, {"modern", 0}}), "");
  EXPECT_EQ(validateOverride(*config, "nope", "v2", {{"legacy", 1}}),
            "route \"nope\" does not exist");
  EXPECT_EQ(validateOverride(*config, "api", "", {{"legacy", 1}}),
            "route \"api\" is versioned: name one of its versions (v1, v2)");
  EXPECT_EQ(validateOverride(*config, "api", "v3", {{"legacy", 1}}),
            "route \"api\" has no version \"v3\"");
  EXPECT_EQ(validateOverride(*config, "other", "v1", {{"legacy", 1}}),
            "route \"other\" has no versions");
  EXPECT_EQ(validateOverride(*config, "api", "v1", {{"modern", 1}}),
            "cluster \"modern\" is not part of the split of route \"api\" version \"v1\" "
            "(legacy)");
  EXPECT_EQ(validateOverride(*config, "api", "v2", {{"legacy", 0}}),
            "the weights add up to 0; at least one must be positive");
}

TEST_F(RoutingConfigTest, ReloadKeepsOnlyOverridesThatStillFit) {
  auto config = load(Versioned);
  WeightOverrides overrides;
  overrides.set("api", "v2", {{"legacy", 100}});
  overrides.set("other", "", {{"legacy", 5}});
  auto next = load(
      "  - name: api\n"
      "    match: {prefix: /api/}\n"
      "    split: [{cluster: modern, weight: 1}, {cluster: legacy, weight: 1}]\n"
      "  - {name: other, match: {prefix: /}, cluster: legacy}\n");
  const uint64_t g = overrides.generation();
  auto dropped = overrides.retainValid(*next);
  ASSERT_EQ(dropped.size(), 1u);
  EXPECT_EQ(dropped[0], "route \"api\" has no versions");
  EXPECT_GT(overrides.generation(), g);
  EXPECT_TRUE(overrides.get("other", "").has_value());
  EXPECT_FALSE(overrides.get("api", "v2").has_value());
}

TEST(WeightsTest, EffectiveWeightsFollowTheSplitOrder) {
  config::TargetConfig target;
  target.split = {{"a", 3}, {"b", 1}, {"c", 0}};
  EXPECT_EQ(effectiveWeights(target, nullptr), (std::vector<uint32_t>{3, 1, 0}));
  WeightOverrides::Weights w = {{"c", 7}, {"a", 1}};
  EXPECT_EQ(effectiveWeights(target, &w), (std::vector<uint32_t>{1, 0, 7}));
}

}  // namespace
}  // namespace switchyard::router
