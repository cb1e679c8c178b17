#include "proxy/accesslog/config.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <string>

#include "config/config_error.h"
#include "tests/support/config_errors.h"

namespace switchyard::accesslog {
namespace {

AccessLogConfig parse(const std::string& yaml) {
  YAML::Node root = YAML::Load(yaml);
  return parseAccessLogConfig(root["access_log"], "access_log");
}

config::ConfigError parseError(const std::string& yaml) {
  return test::configErrorOf([&] { parse(yaml); }, yaml);
}

TEST(AccessLogConfigTest, AbsentBlockDisablesTheLog) {
  const AccessLogConfig c = parse("workers: 1");
  EXPECT_FALSE(c.enabled);
  EXPECT_EQ(c.path, "");
}

TEST(AccessLogConfigTest, PathAndDefaults) {
  const AccessLogConfig c = parse("access_log: {path: /var/log/switchyard/access.log}");
  EXPECT_TRUE(c.enabled);
  EXPECT_EQ(c.path, "/var/log/switchyard/access.log");
  EXPECT_FALSE(c.toStdout());
  EXPECT_EQ(c.max_queue_lines, 10000u);
}

TEST(AccessLogConfigTest, StandardOutput) {
  const AccessLogConfig c = parse("access_log:\n  path: '-'\n  max_queue_lines: 1\n");
  EXPECT_TRUE(c.toStdout());
  EXPECT_EQ(c.max_queue_lines, 1u);
}

TEST(AccessLogConfigTest, ToJson) {
  const nlohmann::json expected = {{"enabled", true}, {"path", "-"}, {"max_queue_lines", 500}};
  EXPECT_EQ(parse("access_log: {path: '-', max_queue_lines: 500}").toJson(), expected);
}

TEST(AccessLogConfigTest, PathIsRequired) {
  config::ConfigError e = parseError("access_log:\n  max_queue_lines: 5\n");
  EXPECT_EQ(e.path(), "access_log.path");
  EXPECT_EQ(e.line(), 2);
  EXPECT_NE(std::string(e.what()).find("required"), std::string::npos) << e.what();

  e = parseError("access_log:");
  EXPECT_EQ(e.path(), "access_log.path");
}

TEST(AccessLogConfigTest, BadValues) {
  struct Case {
    const char* yaml;
    const char* key;
    const char* message;
  };
  for (const Case& c : {
           Case{"path: ''", "path", "must not be empty"},
           Case{"path: [a]", "path", "expected a string"},
           Case{"path: \"a\\0b\"", "path", "NUL"},
           Case{"max_queue_lines: 0", "max_queue_lines", "between 1 and 10000000"},
           Case{"max_queue_lines: 10000001", "max_queue_lines", "between 1 and 10000000"},
           Case{"max_queue_lines: lots", "max_queue_lines", "integer"},
       }) {
    const std::string first = std::string(c.key) == "path" ? "max_queue_lines: 5" : "path: '-'";
    config::ConfigError e = parseError("access_log:\n  " + first + "\n  " + c.yaml + "\n");
    EXPECT_EQ(e.path(), std::string("access_log.") + c.key) << c.yaml;
    EXPECT_EQ(e.line(), 3) << c.yaml;
    EXPECT_EQ(e.column(), 3 + static_cast<int>(std::string(c.key).size()) + 2) << c.yaml;
    EXPECT_NE(std::string(e.what()).find(c.message), std::string::npos)
        << c.yaml << ": " << e.what();
  }
}

TEST(AccessLogConfigTest, NotAMapAndUnknownKeys) {
  config::ConfigError e = parseError("access_log: /var/log/access.log");
  EXPECT_EQ(e.path(), "access_log");
  EXPECT_EQ(e.line(), 1);

  e = parseError("access_log:\n  path: '-'\n  format: json\n");
  EXPECT_EQ(e.path(), "access_log.format");
  EXPECT_EQ(e.line(), 3);
}

}  // namespace
}  // namespace switchyard::accesslog
