// `rollout:` of a versioned route: parsing, defaults and every way it can be wrong.
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <string>
#include <vector>

#include "config/loader.h"

namespace switchyard::config {
namespace {

class RolloutConfigTest : public ::testing::Test {
 protected:
  // Route api: v1 on legacy, v2 splitting between modern and legacy, with `rollout` (the text
  // after "rollout: ") on line 9.
  static std::string withRollout(const std::string& rollout, const std::string& v2 = "") {
    return "listeners: [{name: public, address: 127.0.0.1:18080}]\n"
           "clusters:\n"
           "  - {name: legacy, endpoints: [127.0.0.1:19001]}\n"
           "  - {name: modern, endpoints: [127.0.0.1:19002]}\n"
           "  - {name: other, endpoints: [127.0.0.1:19003]}\n"
           "routes:\n"
           "  - name: api\n"
           "    match: {prefix: /api/}\n"
           "    rollout: " +
           rollout +
           "\n"
           "    versions:\n"
           "      default: v2\n"
           "      v1: {cluster: legacy}\n" +
           (v2.empty() ? "      v2: {split: [{cluster: modern, weight: 0}, {cluster: legacy, "
                         "weight: 100}]}\n"
                       : v2);
  }
  ConfigConstSharedPtr load(const std::string& yaml) {
    return loadConfigString(yaml, "test.yaml", {filters_, metrics_, time_});
  }
  std::vector<std::string> errorsOf(const std::string& yaml) {
    try {
      load(yaml);
    } catch (const ConfigErrors& e) {
      std::vector<std::string> out;
      for (const auto& error : e.errors()) out.push_back(error.format("test.yaml"));
      return out;
    }
    return {};
  }
  void expectError(const std::string& rollout, const std::string& expected,
                   const std::string& v2 = "") {
    const std::vector<std::string> errors = errorsOf(withRollout(rollout, v2));
    ASSERT_EQ(errors.size(), 1u) << rollout;
    EXPECT_EQ(errors[0], expected) << rollout;
  }

  filters::FilterRegistry filters_;
  prometheus::Registry metrics_;
  common::SimulatedTimeSource time_;
};

TEST_F(RolloutConfigTest, ParsesEveryKey) {
  auto config = load(withRollout(
      "{steps: [5, 25, 100], hold: 2m, gates: {max_error_ratio_vs_baseline: 2, max_p95: 800ms, "
      "max_mismatch_ratio: 0.02, min_requests: 50}}"));
  const RolloutConfig& r = *config->routes[0].rollout;
  EXPECT_EQ(r.steps, (std::vector<uint32_t>{5, 25, 100}));
  EXPECT_EQ(r.hold, std::chrono::minutes(2));
  EXPECT_EQ(r.gates.max_error_ratio_vs_baseline, 2);
  EXPECT_EQ(r.gates.max_p95, std::chrono::milliseconds(800));
  EXPECT_EQ(r.gates.max_mismatch_ratio, 0.02);
  EXPECT_EQ(r.gates.min_requests, 50u);
  const auto json = configToJson(*config);
  EXPECT_EQ(json["routes"][0]["rollout"]["steps"][1], 25);
  EXPECT_EQ(json["routes"][0]["rollout"]["gates"]["max_p95"], "800ms");
}

TEST_F(RolloutConfigTest, Defaults) {
  auto config = load(withRollout("{}"));
  const RolloutConfig& r = *config->routes[0].rollout;
  EXPECT_EQ(r.steps, (std::vector<uint32_t>{10, 50, 100}));
  EXPECT_EQ(r.hold, std::chrono::minutes(10));
  EXPECT_EQ(r.gates.max_error_ratio_vs_baseline, 1.5);
  EXPECT_EQ(r.gates.max_p95.count(), 0);
  EXPECT_FALSE(r.gates.max_mismatch_ratio);
  EXPECT_EQ(r.gates.min_requests, 200u);
}

TEST_F(RolloutConfigTest, StepsMustIncreaseStayWithin1To100AndEndAt100) {
  expectError("{steps: [10, 10, 100]}",
              "test.yaml:9:27: routes[0].rollout.steps[1]: steps must be strictly increasing (10 "
              "after 10)");
  expectError("{steps: [50, 10, 100]}",
              "test.yaml:9:27: routes[0].rollout.steps[1]: steps must be strictly increasing (10 "
              "after 50)");
  expectError("{steps: [0, 100]}",
              "test.yaml:9:23: routes[0].rollout.steps[0]: expected an integer between 1 and 100, "
              "got \"0\"");
  expectError("{steps: [10, 101]}",
              "test.yaml:9:27: routes[0].rollout.steps[1]: expected an integer between 1 and 100, "
              "got \"101\"");
  expectError("{steps: [10, 50]}",
              "test.yaml:9:22: routes[0].rollout.steps: the last step must be 100 (a rollout "
              "ends with every request on the new side; pause it to stay part-way)");
  expectError("{steps: []}",
              "test.yaml:9:22: routes[0].rollout.steps: at least one step is required");
}

TEST_F(RolloutConfigTest, HoldAndGatesOutOfRange) {
  expectError("{hold: 0s}", "test.yaml:9:21: routes[0].rollout.hold: must be greater than 0s");
  expectError("{gates: {max_error_ratio_vs_baseline: 0.9}}",
              "test.yaml:9:52: routes[0].rollout.gates.max_error_ratio_vs_baseline: expected a "
              "number between 1 and 1000, got \"0.9\"");
  expectError("{gates: {max_p95: 0s}}",
              "test.yaml:9:32: routes[0].rollout.gates.max_p95: must be greater than 0s");
  expectError("{gates: {max_mismatch_ratio: 1.5}}",
              "test.yaml:9:43: routes[0].rollout.gates.max_mismatch_ratio: expected a number "
              "between 0 and 1, got \"1.5\"");
  expectError("{gates: {min_requests: 0}}",
              "test.yaml:9:37: routes[0].rollout.gates.min_requests: expected an integer between 1 "
              "and 1000000000, got \"0\"");
  expectError("{gates: {max_errors: 1}}",
              "test.yaml:9:23: routes[0].rollout.gates.max_errors: unknown key \"max_errors\" "
              "(expected one of: max_error_ratio_vs_baseline, max_p95, max_mismatch_ratio, "
              "min_requests)");
}

TEST_F(RolloutConfigTest, NeedsARouteWithTwoVersionsWhoseNewSplitHasBothSides) {
  const std::string unversioned =
      "listeners: [{name: public, address: 127.0.0.1:18080}]\n"
      "clusters: [{name: legacy, endpoints: [127.0.0.1:19001]}]\n"
      "routes:\n"
      "  - {name: api, match: {prefix: /api/}, cluster: legacy, rollout: {}}\n";
  std::vector<std::string> errors = errorsOf(unversioned);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0],
            "test.yaml:4:67: routes[0].rollout: a rollout needs a route with at least two "
            "versions (v1, v2, ...)");
  expectError("{}",
              "test.yaml:9:14: routes[0].rollout: the new version \"v2\" (stable: \"v1\") must "
              "have a split of exactly two clusters: one \"v1\" also sends to (the old side) and "
              "one it does not (the new side)",
              "      v2: {cluster: modern}\n");
  expectError("{}",
              "test.yaml:9:14: routes[0].rollout: the new version \"v2\" (stable: \"v1\") must "
              "split between one cluster of \"v1\" (the old side) and one cluster it does not use "
              "(the new side)",
              "      v2: {split: [{cluster: modern, weight: 1}, {cluster: other, weight: 1}]}\n");
}

}  // namespace
}  // namespace switchyard::config
