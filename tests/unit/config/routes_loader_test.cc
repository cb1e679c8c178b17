// The route forms of the loader: cluster, split and versions.
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <string>
#include <vector>

#include "config/loader.h"

namespace switchyard::config {
namespace {

class RoutesLoaderTest : public ::testing::Test {
 protected:
  static std::string withRoutes(const std::string& routes) {
    return "listeners: [{name: public, address: 127.0.0.1:18080}]\n"
           "clusters:\n"
           "  - {name: legacy, endpoints: [127.0.0.1:19001]}\n"
           "  - {name: modern, endpoints: [127.0.0.1:19002]}\n"
           "routes:\n" +
           routes;
  }
  ConfigConstSharedPtr load(const std::string& routes) {
    return loadConfigString(withRoutes(routes), "test.yaml", {filters_, metrics_, time_});
  }
  std::vector<std::string> errorsOf(const std::string& routes) {
    try {
      load(routes);
    } catch (const ConfigErrors& e) {
      std::vector<std::string> out;
      for (const auto& error : e.errors()) out.push_back(error.format("test.yaml"));
      return out;
    }
    return {};
  }

  filters::FilterRegistry filters_;
  prometheus::Registry metrics_;
  common::SimulatedTimeSource time_;
};

TEST_F(RoutesLoaderTest, LoadsAllThreeForms) {
  auto config = load(
      "  - {name: simple, match: {prefix: /s}, cluster: modern, upstream_header: ''}\n"
      "  - name: canary\n"
      "    match: {prefix: /c}\n"
      "    split: [{cluster: legacy, weight: 80}, {cluster: modern, weight: 20}]\n"
      "    sticky: {header: X-User-Id}\n"
      "  - name: api\n"
      "    match: {prefix: /api/}\n"
      "    upstream_header: X-Served-By\n"
      "    versions:\n"
      "      default: v2\n"
      "      v1: {cluster: legacy}\n"
      "      v2: {split: [{cluster: modern, weight: 9}, {cluster: legacy, weight: 1}]}\n");
  const auto& simple = config->routes[0];
  EXPECT_EQ(simple.cluster, "modern");
  ASSERT_EQ(simple.target.split.size(), 1u);
  EXPECT_EQ(simple.target.split[0].cluster, "modern");
  EXPECT_EQ(simple.upstream_header, "");
  const auto& canary = config->routes[1];
  EXPECT_EQ(canary.cluster, "");
  ASSERT_EQ(canary.target.split.size(), 2u);
  EXPECT_EQ(canary.target.split[1].cluster, "modern");
  EXPECT_EQ(canary.target.split[1].weight, 20u);
  EXPECT_EQ(canary.target.sticky_header, "x-user-id");
  EXPECT_EQ(canary.upstream_header, "x-switchyard-upstream");
  const auto& api = config->routes[2];
  EXPECT_EQ(api.default_version, "v2");
  ASSERT_EQ(api.versions.size(), 2u);
  EXPECT_EQ(api.versions[0].name, "v1");
  EXPECT_EQ(api.versions[1].target.split.size(), 2u);
  EXPECT_EQ(api.findVersion("v2"), &api.versions[1]);
  EXPECT_EQ(api.findVersion("v3"), nullptr);
  EXPECT_EQ(api.upstream_header, "x-served-by");
  const auto json = configToJson(*config);
  EXPECT_EQ(json["routes"][1]["split"][0]["weight"], 80);
  EXPECT_EQ(json["routes"][1]["sticky"]["header"], "x-user-id");
  EXPECT_EQ(json["routes"][2]["versions"]["default"], "v2");
  EXPECT_EQ(json["routes"][2]["versions"]["v1"]["cluster"], "legacy");
}

TEST_F(RoutesLoaderTest, RejectsConflictingOrMissingForms) {
  EXPECT_EQ(errorsOf("  - {name: r, match: {prefix: /}, cluster: legacy,\n"
                     "     split: [{cluster: modern, weight: 1}]}\n"),
            std::vector<std::string>{
                "test.yaml:7:6: routes[0].split: a route takes one of \"cluster\", \"split\" or "
                "\"versions\"; \"cluster\" is already set"});
  EXPECT_EQ(errorsOf("  - {name: r, match: {prefix: /}}\n"),
            std::vector<std::string>{"test.yaml:6:5: routes[0]: missing required key "
                                     "\"cluster\" (or \"split\" or \"versions\")"});
}

TEST_F(RoutesLoaderTest, RejectsBadSplits) {
  EXPECT_EQ(errorsOf("  - {name: r, match: {prefix: /}, split: []}\n"),
            std::vector<std::string>{
                "test.yaml:6:42: routes[0].split: at least one cluster is required"});
  EXPECT_EQ(errorsOf("  - name: r\n"
                     "    match: {prefix: /}\n"
                     "    split: [{cluster: legacy, weight: 0}, {cluster: modern, weight: 0}]\n"),
            std::vector<std::string>{"test.yaml:8:12: routes[0].split: the weights add up to 0; "
                                     "at least one must be positive"});
  EXPECT_EQ(
      errorsOf("  - name: r\n"
               "    match: {prefix: /}\n"
               "    split: [{cluster: legacy, weight: 1}, {cluster: legacy, weight: 2},\n"
               "            {cluster: nope, weight: 1}, {cluster: modern, weight: -1},\n"
               "            {cluster: modern}]\n"),
      (std::vector<std::string>{
          "test.yaml:8:53: routes[0].split[1].cluster: cluster \"legacy\" appears twice in the "
          "split",
          "test.yaml:9:23: routes[0].split[2].cluster: unknown cluster \"nope\" (defined "
          "clusters: legacy, modern)",
          "test.yaml:9:67: routes[0].split[3].weight: expected an integer between 0 and "
          "1000000, got \"-1\"",
          "test.yaml:10:13: routes[0].split[4]: missing required key \"weight\"",
          "test.yaml:10:23: routes[0].split[4].cluster: cluster \"modern\" appears twice in the "
          "split"}));
  EXPECT_EQ(errorsOf("  - name: r\n"
                     "    match: {prefix: /}\n"
                     "    split: [{cluster: legacy, weight: 1}]\n"
                     "    sticky: {header: 'X User'}\n"),
            std::vector<std::string>{
                "test.yaml:9:22: routes[0].sticky.header: invalid header name \"X User\""});
}

TEST_F(RoutesLoaderTest, StickyByAClaim) {
  auto config = load(
      "  - name: r\n"
      "    match: {prefix: /}\n"
      "    split: [{cluster: legacy, weight: 1}, {cluster: modern, weight: 1}]\n"
      "    sticky: {claim: sub}\n");
  EXPECT_EQ(config->routes[0].target.sticky_claim, "sub");
  EXPECT_EQ(config->routes[0].target.sticky_header, "");
  EXPECT_EQ(errorsOf("  - name: r\n"
                     "    match: {prefix: /}\n"
                     "    split: [{cluster: legacy, weight: 1}]\n"
                     "    sticky: {header: X-User-Id, claim: sub}\n"),
            std::vector<std::string>{
                "test.yaml:9:13: routes[0].sticky: sticky takes one key: header or claim"});
  EXPECT_EQ(errorsOf("  - name: r\n"
                     "    match: {prefix: /}\n"
                     "    split: [{cluster: legacy, weight: 1}]\n"
                     "    sticky: {claim: ''}\n"),
            std::vector<std::string>{"test.yaml:9:21: routes[0].sticky.claim: a claim name is 1 "
                                     "to 128 visible ASCII characters"});
}

TEST_F(RoutesLoaderTest, RejectsBadVersions) {
  EXPECT_EQ(errorsOf("  - name: r\n"
                     "    match: {prefix: /}\n"
                     "    versions:\n"
                     "      default: v3\n"
                     "      V1: {cluster: legacy}\n"
                     "      v2: {cluster: legacy, split: [{cluster: modern, weight: 1}]}\n"
                     "      v4: {}\n"
                     "      v5: {cluster: legacy, color: blue}\n"),
            (std::vector<std::string>{
                "test.yaml:9:16: routes[0].versions.default: unknown version \"v3\" (defined "
                "versions: v2, v4, v5)",
                "test.yaml:10:7: routes[0].versions.V1: invalid version name \"V1\" (expected "
                "\"default\" or v<number>, e.g. v1)",
                "test.yaml:11:29: routes[0].versions.v2.split: a version takes one of "
                "\"cluster\" or \"split\", not both",
                "test.yaml:12:11: routes[0].versions.v4: missing required key \"cluster\" (or "
                "\"split\")",
                "test.yaml:13:29: routes[0].versions.v5.color: unknown key \"color\" (expected "
                "one of: cluster, split, sticky, deprecated, filters, rewrite, force, fallback)"}));
  EXPECT_EQ(errorsOf("  - name: r\n"
                     "    match: {prefix: /}\n"
                     "    versions: {v1: {cluster: legacy}}\n"),
            std::vector<std::string>{
                "test.yaml:8:15: routes[0].versions: missing required key \"default\""});
  EXPECT_EQ(errorsOf("  - name: r\n"
                     "    match: {prefix: /}\n"
                     "    versions: {default: v1}\n"),
            std::vector<std::string>{"test.yaml:8:15: routes[0].versions: at least one version "
                                     "(v1, v2, ...) is required"});
  EXPECT_EQ(errorsOf("  - name: r\n"
                     "    match: {prefix: /}\n"
                     "    sticky: {header: X-User-Id}\n"
                     "    versions: {default: v1, v1: {cluster: legacy}}\n"),
            std::vector<std::string>{"test.yaml:8:13: routes[0].sticky: a versioned route sets "
                                     "\"sticky\" on each version"});
}

}  // namespace
}  // namespace switchyard::config
