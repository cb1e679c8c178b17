#include "config/health_check.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

#include "config/config_error.h"
#include "tests/support/config_errors.h"

namespace switchyard::upstream {
namespace {

using namespace std::chrono_literals;

constexpr const char* HealthPath = "clusters[1].health_check";
constexpr const char* OutlierPath = "clusters[1].outlier_detection";

HealthCheckConfig parseHealth(const std::string& yaml) {
  YAML::Node root = YAML::Load(yaml);
  return parseHealthCheckConfig(root["health_check"], HealthPath);
}

OutlierDetectionConfig parseOutlier(const std::string& yaml) {
  YAML::Node root = YAML::Load(yaml);
  return parseOutlierDetectionConfig(root["outlier_detection"], OutlierPath);
}

// The error is at `key` under the block, on `line` and `column`.
template <class Parse>
void expectError(Parse parse, const char* block, const std::string& yaml, const std::string& key,
                 int line, int column, const std::string& message_part) {
  const config::ConfigError e = test::configErrorOf([&] { parse(yaml); }, yaml);
  test::expectConfigError(e, key.empty() ? std::string(block) : std::string(block) + "." + key,
                          line, message_part, yaml);
  EXPECT_EQ(e.column(), column) << yaml;
}

void expectHealthError(const std::string& yaml, const std::string& key, int line, int column,
                       const std::string& message_part) {
  expectError(parseHealth, HealthPath, yaml, key, line, column, message_part);
}

void expectOutlierError(const std::string& yaml, const std::string& key, int line, int column,
                        const std::string& message_part) {
  expectError(parseOutlier, OutlierPath, yaml, key, line, column, message_part);
}

TEST(HealthCheckConfigTest, EmptyBlockMeansDefaults) {
  for (const char* yaml : {"health_check:", "health_check: {}"}) {
    const HealthCheckConfig c = parseHealth(yaml);
    EXPECT_EQ(c, HealthCheckConfig{}) << yaml;
    EXPECT_EQ(c.path, "/health");
    EXPECT_EQ(c.host, "");
    EXPECT_EQ(c.interval, 5s);
    EXPECT_EQ(c.timeout, 1s);
    EXPECT_EQ(c.unhealthy_threshold, 3u);
    EXPECT_EQ(c.healthy_threshold, 2u);
    EXPECT_EQ(c.expected_statuses, (std::vector<StatusRange>{{200, 399}}));
    EXPECT_DOUBLE_EQ(c.jitter, 0.10);
  }
}

TEST(HealthCheckConfigTest, TheIssuesExample) {
  const HealthCheckConfig c = parseHealth(
      "health_check: {path: /health, interval: 5s, timeout: 1s, unhealthy_threshold: 3, "
      "healthy_threshold: 2, expected_statuses: [200-399], jitter: 10%}");
  EXPECT_EQ(c, HealthCheckConfig{});
}

TEST(HealthCheckConfigTest, EveryKey) {
  const HealthCheckConfig c = parseHealth(R"(
health_check:
  path: /ready?deep=1
  host: api.internal
  interval: 1m30s
  timeout: 250ms
  unhealthy_threshold: 5
  healthy_threshold: 1
  expected_statuses: [200, 204, 300-399, 4xx]
  jitter: 2.5%
)");
  EXPECT_EQ(c.path, "/ready?deep=1");
  EXPECT_EQ(c.host, "api.internal");
  EXPECT_EQ(c.interval, 90s);
  EXPECT_EQ(c.timeout, 250ms);
  EXPECT_EQ(c.unhealthy_threshold, 5u);
  EXPECT_EQ(c.healthy_threshold, 1u);
  EXPECT_EQ(c.expected_statuses,
            (std::vector<StatusRange>{{200, 200}, {204, 204}, {300, 399}, {400, 499}}));
  EXPECT_DOUBLE_EQ(c.jitter, 0.025);
  EXPECT_NE(c, HealthCheckConfig{});
}

TEST(HealthCheckConfigTest, ExpectedStatuses) {
  const HealthCheckConfig c = parseHealth("health_check: {expected_statuses: [200, 300-302]}");
  EXPECT_TRUE(c.isExpectedStatus(200));
  EXPECT_FALSE(c.isExpectedStatus(201));
  EXPECT_FALSE(c.isExpectedStatus(299));
  EXPECT_TRUE(c.isExpectedStatus(300));
  EXPECT_TRUE(c.isExpectedStatus(302));
  EXPECT_FALSE(c.isExpectedStatus(303));
  EXPECT_FALSE(c.isExpectedStatus(0));
  // One status needs no list.
  EXPECT_EQ(parseHealth("health_check: {expected_statuses: 204}").expected_statuses,
            (std::vector<StatusRange>{{204, 204}}));
  EXPECT_TRUE(HealthCheckConfig{}.isExpectedStatus(399));
  EXPECT_FALSE(HealthCheckConfig{}.isExpectedStatus(400));
}

TEST(HealthCheckConfigTest, DumpsAsWritten) {
  const HealthCheckConfig c = parseHealth(
      "health_check: {host: h, interval: 10s, expected_statuses: [200, 300-399], jitter: 5%}");
  const nlohmann::json j = c.toJson();
  EXPECT_EQ(j["path"], "/health");
  EXPECT_EQ(j["host"], "h");
  EXPECT_EQ(j["interval"], "10s");
  EXPECT_EQ(j["timeout"], "1s");
  EXPECT_EQ(j["expected_statuses"], nlohmann::json::parse(R"([200, "300-399"])"));
  EXPECT_EQ(j["jitter"], "5%");
  // What the dump says parses back to the same configuration.
  YAML::Node again = YAML::Load("health_check: " + j.dump());
  EXPECT_EQ(parseHealthCheckConfig(again["health_check"], HealthPath), c);
}

TEST(HealthCheckConfigTest, BadValuesArePositioned) {
  expectHealthError("health_check: {interval: 5}", "interval", 1, 26, "expected a duration");
  expectHealthError("health_check: {interval: 0s}", "interval", 1, 26, "must be above 0");
  expectHealthError("health_check:\n  timeout: soon", "timeout", 2, 12, "expected a duration");
  expectHealthError("health_check: {unhealthy_threshold: 0}", "unhealthy_threshold", 1, 37,
                    "between 1 and 1000");
  expectHealthError("health_check: {healthy_threshold: 0}", "healthy_threshold", 1, 35,
                    "between 1 and 1000");
  expectHealthError("health_check: {healthy_threshold: -2}", "healthy_threshold", 1, 35,
                    "between 1 and 1000");
  expectHealthError("health_check: {path: health}", "path", 1, 22, "must start with \"/\"");
  expectHealthError("health_check: {path: \"/a b\"}", "path", 1, 22, "spaces or control bytes");
  expectHealthError("health_check: {host: \"a b\"}", "host", 1, 22, "invalid host");
  expectHealthError("health_check: {colour: red}", "colour", 1, 16, "colour");
}

TEST(HealthCheckConfigTest, TimeoutMustBeBelowTheInterval) {
  expectHealthError("health_check: {interval: 2s, timeout: 2s}", "timeout", 1, 39,
                    "must be below the interval (2s)");
  expectHealthError("health_check: {interval: 2s, timeout: 3s}", "timeout", 1, 39,
                    "must be below the interval");
  // Without a timeout, the default one (1s) is what the interval is measured against.
  expectHealthError("health_check:\n  interval: 500ms", "interval", 2, 13,
                    "must be above the timeout (1s)");
  EXPECT_EQ(parseHealth("health_check: {interval: 2s, timeout: 1999ms}").timeout, 1999ms);
}

TEST(HealthCheckConfigTest, JitterIsAPercentage) {
  EXPECT_DOUBLE_EQ(parseHealth("health_check: {jitter: 0%}").jitter, 0.0);
  EXPECT_DOUBLE_EQ(parseHealth("health_check: {jitter: 100%}").jitter, 1.0);
  expectHealthError("health_check: {jitter: 101%}", "jitter", 1, 24, "between 0% and 100%");
  expectHealthError("health_check: {jitter: -1%}", "jitter", 1, 24, "between 0% and 100%");
  expectHealthError("health_check: {jitter: 10}", "jitter", 1, 24, "expected a percentage");
  expectHealthError("health_check: {jitter: ten%}", "jitter", 1, 24, "expected a percentage");
  expectHealthError("health_check: {jitter: \"%\"}", "jitter", 1, 24, "expected a percentage");
}

TEST(HealthCheckConfigTest, MalformedStatusesArePositioned) {
  expectHealthError("health_check: {expected_statuses: [600-700]}", "expected_statuses[0]", 1, 36,
                    "status 600 is outside 100-599");
  expectHealthError("health_check: {expected_statuses: [200, abc]}", "expected_statuses[1]", 1, 41,
                    "expected a status such as 200");
  expectHealthError("health_check: {expected_statuses: [399-200]}", "expected_statuses[0]", 1, 36,
                    "runs backwards");
  expectHealthError(R"(health_check:
  expected_statuses:
    - 200
    - 99
)",
                    "expected_statuses[1]", 4, 7, "status 99 is outside 100-599");
  expectHealthError("health_check: {expected_statuses: [200-]}", "expected_statuses[0]", 1, 36,
                    "expected a status");
  expectHealthError("health_check: {expected_statuses: [-200]}", "expected_statuses[0]", 1, 36,
                    "expected a status");
  expectHealthError("health_check: {expected_statuses: [6xx]}", "expected_statuses[0]", 1, 36,
                    "expected a status");
  expectHealthError("health_check: {expected_statuses: []}", "expected_statuses", 1, 35,
                    "at least one status");
  expectHealthError("health_check: {expected_statuses: {a: 1}}", "expected_statuses", 1, 35,
                    "expected");
}

TEST(OutlierDetectionConfigTest, EmptyBlockMeansDefaults) {
  for (const char* yaml : {"outlier_detection:", "outlier_detection: {}"}) {
    const OutlierDetectionConfig c = parseOutlier(yaml);
    EXPECT_EQ(c, OutlierDetectionConfig{}) << yaml;
    EXPECT_EQ(c.consecutive_5xx, 5u);
    EXPECT_EQ(c.consecutive_connect_failures, 5u);
    EXPECT_EQ(c.base_ejection_time, 30s);
    EXPECT_EQ(c.max_ejection_time, 300s);
    EXPECT_EQ(c.max_ejection_percent, 50u);
  }
}

TEST(OutlierDetectionConfigTest, TheIssuesExampleAndEveryKey) {
  EXPECT_EQ(parseOutlier("outlier_detection: {consecutive_5xx: 5, consecutive_connect_failures: "
                         "5, base_ejection_time: 30s, max_ejection_time: 300s, "
                         "max_ejection_percent: 50}"),
            OutlierDetectionConfig{});
  const OutlierDetectionConfig c = parseOutlier(R"(
outlier_detection:
  consecutive_5xx: 0
  consecutive_connect_failures: 2
  base_ejection_time: 10s
  max_ejection_time: 1m
  max_ejection_percent: 100
)");
  EXPECT_EQ(c.consecutive_5xx, 0u);
  EXPECT_EQ(c.consecutive_connect_failures, 2u);
  EXPECT_EQ(c.base_ejection_time, 10s);
  EXPECT_EQ(c.max_ejection_time, 60s);
  EXPECT_EQ(c.max_ejection_percent, 100u);
  const nlohmann::json j = c.toJson();
  EXPECT_EQ(j["base_ejection_time"], "10s");
  EXPECT_EQ(j["max_ejection_time"], "1m");
  YAML::Node again = YAML::Load("outlier_detection: " + j.dump());
  EXPECT_EQ(parseOutlierDetectionConfig(again["outlier_detection"], OutlierPath), c);
}

TEST(OutlierDetectionConfigTest, MaxEjectionTimeFollowsALongerBase) {
  // Without a max of its own, a base above the default max raises the max to it.
  EXPECT_EQ(parseOutlier("outlier_detection: {base_ejection_time: 10m}").max_ejection_time, 10min);
}

TEST(OutlierDetectionConfigTest, BadValuesArePositioned) {
  expectOutlierError("outlier_detection: {base_ejection_time: 30}", "base_ejection_time", 1, 41,
                     "expected a duration");
  expectOutlierError("outlier_detection: {base_ejection_time: 0s}", "base_ejection_time", 1, 41,
                     "must be above 0");
  expectOutlierError("outlier_detection:\n  base_ejection_time: 1m\n  max_ejection_time: 30s",
                     "max_ejection_time", 3, 22, "must not be below base_ejection_time (1m)");
  expectOutlierError("outlier_detection: {max_ejection_percent: 101}", "max_ejection_percent", 1,
                     43, "between 0 and 100");
  expectOutlierError("outlier_detection: {consecutive_5xx: -1}", "consecutive_5xx", 1, 38,
                     "between 0 and 10000");
  expectOutlierError("outlier_detection: {consecutive_connect_failures: x}",
                     "consecutive_connect_failures", 1, 51, "between 0 and 10000");
  expectOutlierError("outlier_detection: [5]", "", 1, 20, "expected a map");
}

}  // namespace
}  // namespace switchyard::upstream
