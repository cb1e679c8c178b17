// Path rewrites and forced sticky keys (test users): their configuration, its errors, and what
// the route table does with them.
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <array>
#include <string>
#include <vector>

#include "config/loader.h"
#include "proxy/http/headers.h"
#include "proxy/router/route_table.h"
#include "proxy/router/sticky.h"
#include "proxy/router/weights.h"

namespace switchyard::router {
namespace {

class MigrationRoutingTest : public ::testing::Test {
 protected:
  config::ConfigConstSharedPtr load(const std::string& routes) {
    return config::loadConfigString(
        "listeners: [{name: public, address: 127.0.0.1:18080}]\n"
        "clusters:\n"
        "  - {name: legacy, endpoints: [127.0.0.1:19001]}\n"
        "  - {name: modern, endpoints: [127.0.0.1:19002]}\n"
        "routes:\n" +
            routes,
        "test.yaml", {filters_, metrics_, time_});
  }
  std::vector<std::string> errorsOf(const std::string& routes) {
    try {
      load(routes);
    } catch (const config::ConfigErrors& e) {
      std::vector<std::string> out;
      for (const auto& error : e.errors()) out.push_back(error.format("test.yaml"));
      return out;
    }
    return {};
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
                        std::vector<std::pair<std::string, std::string>> headers = {}) {
    http::RequestHeaders request;
    request.method = "GET";
    request.path = path;
    for (const auto& [name, value] : headers) request.headers.add(name, value);
    RouteDecision d;
    t.resolve(request, "10.0.0.1", d);
    return d;
  }
  // What the router sends upstream for `target` after `decision`.
  static std::string rewritten(const RouteDecision& d, const std::string& target) {
    if (d.target->rewrites.empty()) return target;
    const config::PathRewrite* r = d.target->rewrites[d.cluster_slot];
    std::string out;
    return r != nullptr && r->apply(target, out) ? out : target;
  }

  filters::FilterRegistry filters_;
  prometheus::Registry metrics_;
  common::SimulatedTimeSource time_;
  std::array<char, 2> pools_{};
};

config::PathRewrite prefixRewrite(std::string prefix, std::string to) {
  config::PathRewrite r;
  r.prefix = std::move(prefix);
  r.to = std::move(to);
  return r;
}

config::PathRewrite regexRewrite(const std::string& regex, std::string to) {
  config::PathRewrite r;
  r.regex_text = regex;
  r.regex = std::make_shared<const std::regex>(regex);
  r.to = std::move(to);
  return r;
}

TEST(PathRewriteTest, PrefixFormReplacesThePrefixAndKeepsTheQuery) {
  const auto r = prefixRewrite("/api/v2/", "/api/v1/");
  std::string out;
  ASSERT_TRUE(r.apply("/api/v2/orders/7?page=2&x=/api/v2/", out));
  EXPECT_EQ(out, "/api/v1/orders/7?page=2&x=/api/v2/");
  ASSERT_TRUE(r.apply("/api/v2/", out));
  EXPECT_EQ(out, "/api/v1/");
  EXPECT_FALSE(r.apply("/api/v3/orders", out));
  EXPECT_FALSE(r.apply("/api/v2?q=/api/v2/", out));  // the query is not the path
}

TEST(PathRewriteTest, RegexFormSubstitutesGroups) {
  const auto r = regexRewrite("^/api/v2/([a-z]+)/(\\d+)$", "/api/v1/\\1?id=\\2&all=\\0");
  std::string out;
  ASSERT_TRUE(r.apply("/api/v2/orders/42", out));
  EXPECT_EQ(out, "/api/v1/orders?id=42&all=/api/v2/orders/42");
  ASSERT_TRUE(regexRewrite("^/v2/(.*)$", "/v1/\\1").apply("/v2/a/b?x=1", out));
  EXPECT_EQ(out, "/v1/a/b?x=1");
  EXPECT_FALSE(r.apply("/api/v2/orders/x", out));
  // A literal backslash, and a group that did not take part.
  ASSERT_TRUE(regexRewrite("^/(a)?b$", "/x\\\\y/\\1").apply("/b", out));
  EXPECT_EQ(out, "/x\\y/");
}

TEST_F(MigrationRoutingTest, TheRewriteOfTheChosenVersionOrClusterApplies) {
  auto config = load(
      "  - name: api\n"
      "    match: {prefix: /api/}\n"
      "    versions:\n"
      "      default: v2\n"
      "      v1:\n"
      "        cluster: legacy\n"
      "        rewrite: {prefix: /api/v2/, to: /api/v1/}\n"
      "      v2:\n"
      "        split:\n"
      "          - {cluster: modern, weight: 1}\n"
      "          - cluster: legacy\n"
      "            weight: 0\n"
      "            rewrite: {regex: '^/api/v2/(.*)$', to: '/api/v1/\\1'}\n"
      "        sticky: {header: X-User-Id}\n"
      "        force: [{cluster: legacy, keys: [tester]}]\n"
      "  - {name: other, match: {prefix: /}, cluster: legacy}\n");
  RouteTable t = table(*config);
  t.applyWeights(WeightOverrides{});
  RouteDecision d = resolve(t, "/api/v2/orders?x=1");
  EXPECT_EQ(d.pool, pool("modern"));
  EXPECT_EQ(rewritten(d, "/api/v2/orders?x=1"), "/api/v2/orders?x=1");  // modern: none
  d = resolve(t, "/api/v2/orders?x=1", {{"x-user-id", "tester"}});
  EXPECT_EQ(d.pool, pool("legacy"));
  EXPECT_EQ(rewritten(d, "/api/v2/orders?x=1"), "/api/v1/orders?x=1");
  // A rollback pins v1: /v2/ requests reach v1 with v1's paths.
  WeightOverrides pinned;
  pinned.pin("api", "v1");
  t.applyWeights(pinned);
  d = resolve(t, "/api/v2/orders?x=1");
  EXPECT_EQ(d.target->version, "v1");
  EXPECT_EQ(rewritten(d, "/api/v2/orders?x=1"), "/api/v1/orders?x=1");
  d = resolve(t, "/other");
  EXPECT_TRUE(d.target->rewrites.empty());
}

TEST_F(MigrationRoutingTest, ForcedKeysWinOverWeightsAndOverrides) {
  auto config = load(
      "  - name: api\n"
      "    match: {prefix: /api/}\n"
      "    versions:\n"
      "      default: v2\n"
      "      v1: {cluster: legacy}\n"
      "      v2:\n"
      "        split: [{cluster: legacy, weight: 100}, {cluster: modern, weight: 0}]\n"
      "        sticky: {header: X-User-Id}\n"
      "        force:\n"
      "          - {cluster: modern, keys: [u123, u456]}\n"
      "          - {cluster: legacy, keys: [old-timer]}\n");
  RouteTable t = table(*config);
  WeightOverrides overrides;
  t.applyWeights(overrides);
  for (const char* user : {"u123", "u456"}) {
    EXPECT_EQ(resolve(t, "/api/x", {{"x-user-id", user}}).pool, pool("modern")) << user;
  }
  for (int i = 0; i < 200; ++i) {
    EXPECT_EQ(resolve(t, "/api/x", {{"x-user-id", "user-" + std::to_string(i)}}).pool,
              pool("legacy"));
  }
  overrides.set("api", "v2", {{"modern", 100}});
  t.applyWeights(overrides);
  EXPECT_EQ(resolve(t, "/api/x", {{"x-user-id", "old-timer"}}).pool, pool("legacy"));
  EXPECT_EQ(resolve(t, "/api/x", {{"x-user-id", "u123"}}).pool, pool("modern"));
  EXPECT_EQ(resolve(t, "/api/x", {{"x-user-id", "someone"}}).pool, pool("modern"));
}

TEST_F(MigrationRoutingTest, RewriteErrorsArePlacedAtTheKey) {
  EXPECT_EQ(errorsOf("  - name: a\n"
                     "    match: {prefix: /a/}\n"
                     "    cluster: legacy\n"
                     "    rewrite: {prefix: v2/, to: /v1/}\n"),
            (std::vector<std::string>{"test.yaml:9:23: routes[0].rewrite.prefix: invalid prefix "
                                      "\"v2/\" (must start with \"/\")"}));
  EXPECT_EQ(
      errorsOf("  - name: a\n"
               "    match: {prefix: /a/}\n"
               "    cluster: legacy\n"
               "    rewrite: {prefix: /v2/, to: v1/}\n"),
      (std::vector<std::string>{
          "test.yaml:9:33: routes[0].rewrite.to: invalid path \"v1/\" (must start with \"/\")"}));
  const auto bad_regex = errorsOf(
      "  - name: a\n"
      "    match: {prefix: /a/}\n"
      "    versions:\n"
      "      default: v1\n"
      "      v1: {cluster: legacy, rewrite: {regex: '^/v2/(.*$', to: /v1/}}\n");
  ASSERT_EQ(bad_regex.size(), 1u);
  EXPECT_EQ(bad_regex[0].rfind("test.yaml:10:46: routes[0].versions.v1.rewrite.regex: invalid "
                               "regex \"^/v2/(.*$\": ",
                               0),
            0u)
      << bad_regex[0];
  EXPECT_EQ(errorsOf("  - name: a\n"
                     "    match: {prefix: /a/}\n"
                     "    cluster: legacy\n"
                     "    rewrite: {regex: '^/v2/(.*)$', to: '/v1/\\2'}\n"),
            (std::vector<std::string>{"test.yaml:9:40: routes[0].rewrite.to: \\2 names a group the "
                                      "regex does not have (it has 1)"}));
  EXPECT_EQ(errorsOf("  - name: a\n"
                     "    match: {prefix: /a/}\n"
                     "    cluster: legacy\n"
                     "    rewrite: {to: /v1/}\n"),
            (std::vector<std::string>{
                "test.yaml:9:14: routes[0].rewrite: a rewrite takes one of \"prefix\" or "
                "\"regex\" (with \"to\"), e.g. {prefix: /v2/, to: /v1/}"}));
  EXPECT_EQ(errorsOf("  - name: a\n"
                     "    match: {prefix: /a/}\n"
                     "    versions: {default: v1, v1: {cluster: legacy}}\n"
                     "    rewrite: {prefix: /a/, to: /b/}\n"),
            (std::vector<std::string>{"test.yaml:9:14: routes[0].rewrite: a versioned route sets "
                                      "\"rewrite\" on each version"}));
}

TEST_F(MigrationRoutingTest, ForceErrorsArePlacedAtTheKey) {
  EXPECT_EQ(errorsOf("  - name: a\n"
                     "    match: {prefix: /a/}\n"
                     "    versions:\n"
                     "      default: v2\n"
                     "      v2:\n"
                     "        split: [{cluster: legacy, weight: 1}, {cluster: modern, weight: 1}]\n"
                     "        force: [{cluster: modern, keys: [u1]}]\n"),
            (std::vector<std::string>{
                "test.yaml:12:16: routes[0].versions.v2.force: forced keys need \"sticky\" "
                "({header: ...} or {claim: ...}) on the same split: they are matched against its "
                "sticky key"}));
  EXPECT_EQ(errorsOf("  - name: a\n"
                     "    match: {prefix: /a/}\n"
                     "    versions:\n"
                     "      default: v2\n"
                     "      v2:\n"
                     "        split: [{cluster: legacy, weight: 1}]\n"
                     "        sticky: {header: X-User-Id}\n"
                     "        force: [{cluster: modern, keys: [u1]}]\n"),
            (std::vector<std::string>{"test.yaml:13:27: routes[0].versions.v2.force[0].cluster: "
                                      "cluster \"modern\" is not part of the split (legacy)"}));
  EXPECT_EQ(errorsOf("  - name: a\n"
                     "    match: {prefix: /a/}\n"
                     "    split: [{cluster: legacy, weight: 1}, {cluster: modern, weight: 1}]\n"
                     "    sticky: {header: X-User-Id}\n"
                     "    force: [{cluster: modern, keys: [u1]}, {cluster: legacy, keys: [u1]}]\n"),
            (std::vector<std::string>{"test.yaml:10:69: routes[0].force[1].keys[0]: key \"u1\" is "
                                      "already forced to cluster \"modern\""}));
}

TEST_F(MigrationRoutingTest, FallbackSettingsAndTheirErrors) {
  auto config = load(
      "  - name: api\n"
      "    match: {prefix: /api/}\n"
      "    versions:\n"
      "      default: v2\n"
      "      v1: {cluster: legacy}\n"
      "      v2: {cluster: modern, fallback: {version: v1}}\n"
      "      v3: {cluster: modern, fallback: {version: v1, on: [reset, 503]}}\n");
  const config::FallbackConfig& v2 = *config->routes[0].versions[1].target.fallback;
  EXPECT_EQ(v2.version, "v1");
  EXPECT_TRUE(v2.on_connect_failure && v2.on_reset && v2.on_timeout);
  EXPECT_TRUE(v2.on_circuit_open && v2.on_overloaded && v2.on_no_endpoint);
  EXPECT_EQ(v2.statuses, (std::vector<int>{502, 503, 504}));
  const config::FallbackConfig& v3 = *config->routes[0].versions[2].target.fallback;
  EXPECT_FALSE(v3.on_connect_failure || v3.on_timeout);
  EXPECT_TRUE(v3.on_reset);
  // Listing `on` replaces the defaults: the local refusals too.
  EXPECT_FALSE(v3.on_circuit_open || v3.on_overloaded || v3.on_no_endpoint);
  EXPECT_EQ(v3.statuses, (std::vector<int>{503}));
  RouteTable t = table(*config);
  EXPECT_EQ(t.route(0).targets[1].fallback, &t.route(0).targets[0]);
  EXPECT_TRUE(t.route(0).targets[1].extras);
  EXPECT_FALSE(t.route(0).targets[0].extras);

  EXPECT_EQ(errorsOf("  - name: api\n"
                     "    match: {prefix: /api/}\n"
                     "    versions:\n"
                     "      default: v2\n"
                     "      v2: {cluster: modern, fallback: {version: v7}}\n"),
            (std::vector<std::string>{"test.yaml:10:49: routes[0].versions.v2.fallback.version: "
                                      "unknown version \"v7\" (defined versions: v2)"}));
  EXPECT_EQ(errorsOf("  - name: api\n"
                     "    match: {prefix: /api/}\n"
                     "    versions:\n"
                     "      default: v2\n"
                     "      v2: {cluster: modern, fallback: {version: v2}}\n"),
            (std::vector<std::string>{"test.yaml:10:49: routes[0].versions.v2.fallback.version: a "
                                      "version cannot fall back to itself"}));
  const auto bad_on = errorsOf(
      "  - name: api\n"
      "    match: {prefix: /api/}\n"
      "    versions:\n"
      "      default: v2\n"
      "      v1: {cluster: legacy}\n"
      "      v2: {cluster: modern, fallback: {version: v1, on: [reset, 404]}}\n");
  EXPECT_EQ(bad_on, (std::vector<std::string>{
                        "test.yaml:11:65: routes[0].versions.v2.fallback.on[1]: invalid value "
                        "\"404\" (expected connect-failure, reset, timeout, circuit-open, "
                        "overloaded, no-endpoint or a status from 500 to 599)"}));
}

}  // namespace
}  // namespace switchyard::router
