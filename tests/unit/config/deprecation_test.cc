#include "config/deprecation.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <string>

#include "config/config_error.h"

namespace switchyard::config {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

common::SystemTime at(int64_t unix_seconds) { return common::SystemTime(seconds(unix_seconds)); }

constexpr const char* Path = "routes[0].versions.v1.deprecated";

// Parses the value of `deprecated:` in `yaml`.
DeprecationPolicy parse(const std::string& yaml) {
  YAML::Node root = YAML::Load(yaml);
  return parseDeprecationPolicy(root["deprecated"], Path);
}

// The error parse() throws for `yaml`, formatted against file "t.yaml"; "" if it throws none.
std::string errorOf(const std::string& yaml) {
  try {
    parse(yaml);
  } catch (const ConfigError& e) {
    return e.format("t.yaml");
  }
  return "";
}

// --- calendar arithmetic ---

TEST(DeprecationPolicyTest, EveryKey) {
  const DeprecationPolicy p = parse(R"(
deprecated:
  since: 2025-01-01T00:00:00Z
  sunset: 2025-06-01
  link: https://example.com/migrate-to-v2
  sunset_link: HTTP://example.com/v1-retirement?x=1#top
  brownouts:
    - {start: 2025-03-01T12:00:00Z, end: 2025-03-01T13:00:00Z}
    - {start: "2025-04-01T12:00:00+02:00", end: 2025-04-01T12:30:00Z, status: 410}
  enforce_sunset: true
  sunset_status: 404
)");
  EXPECT_EQ(p.since, at(1735689600));
  ASSERT_TRUE(p.sunset.has_value());
  EXPECT_EQ(*p.sunset, at(1748736000));
  EXPECT_EQ(p.link, "https://example.com/migrate-to-v2");
  EXPECT_EQ(p.sunset_link, "HTTP://example.com/v1-retirement?x=1#top");
  ASSERT_EQ(p.brownouts.size(), 2u);
  EXPECT_EQ(p.brownouts[0].start, at(1740830400));
  EXPECT_EQ(p.brownouts[0].end, at(1740834000));
  EXPECT_EQ(p.brownouts[0].status, 503);
  EXPECT_EQ(p.brownouts[1].start, at(1743501600));
  EXPECT_EQ(p.brownouts[1].end, at(1743510600));
  EXPECT_EQ(p.brownouts[1].status, 410);
  EXPECT_TRUE(p.enforce_sunset);
  EXPECT_EQ(p.sunset_status, 404);
}

TEST(DeprecationPolicyTest, OnlySinceGivesDefaults) {
  const DeprecationPolicy p = parse("deprecated: {since: 2025-01-01}");
  EXPECT_EQ(p.since, at(1735689600));
  EXPECT_FALSE(p.sunset.has_value());
  EXPECT_TRUE(p.link.empty());
  EXPECT_TRUE(p.sunset_link.empty());
  EXPECT_TRUE(p.brownouts.empty());
  EXPECT_FALSE(p.enforce_sunset);
  EXPECT_EQ(p.sunset_status, 410);
}

TEST(DeprecationPolicyTest, SunsetEqualToSinceIsAllowed) {
  const DeprecationPolicy p = parse("deprecated: {since: 2025-01-01, sunset: 2025-01-01}");
  EXPECT_EQ(*p.sunset, p.since);
}

TEST(DeprecationPolicyTest, EnvironmentIsExpanded) {
  setenv("SWITCHYARD_TEST_SUNSET", "2025-06-01", 1);
  const DeprecationPolicy p =
      parse("deprecated: {since: 2025-01-01, sunset: '${SWITCHYARD_TEST_SUNSET}'}");
  unsetenv("SWITCHYARD_TEST_SUNSET");
  EXPECT_EQ(*p.sunset, at(1748736000));
}

TEST(DeprecationPolicyTest, EmptyBrownoutListIsFine) {
  EXPECT_TRUE(parse("deprecated: {since: 2025-01-01, brownouts: []}").brownouts.empty());
  EXPECT_TRUE(parse("deprecated: {since: 2025-01-01, brownouts: }").brownouts.empty());
}

TEST(DeprecationPolicyTest, Errors) {
  const std::string p = "routes[0].versions.v1.deprecated";
  struct Case {
    std::string yaml;
    std::string error;
  };
  const Case cases[] = {
      {"deprecated: true", "t.yaml:1:13: " + p + ": expected a map"},
      {"deprecated: [2025-01-01]", "t.yaml:1:13: " + p + ": expected a map"},
      {"deprecated:", "t.yaml:1:1: " + p + ": missing required key \"since\""},
      {"deprecated: {}", "t.yaml:1:13: " + p + ": missing required key \"since\""},
      {"deprecated: {sunset: 2025-06-01}",
       "t.yaml:1:13: " + p + ": missing required key \"since\""},
      {"deprecated:\n  since: 2025-01-01\n  sunsett: 2025-06-01",
       "t.yaml:3:3: " + p +
           ".sunsett: unknown key \"sunsett\" (expected one of: since, sunset, link, "
           "sunset_link, brownouts, enforce_sunset, sunset_status)"},
      {"deprecated: {since: 2025-01-01, since: 2025-02-01}",
       "t.yaml:1:33: " + p + ".since: duplicate key \"since\" (first set on line 1)"},
      {"deprecated: {since: [2025]}", "t.yaml:1:21: " + p + ".since: expected a string"},
      {"deprecated: {since: 2025-01-01T00:00:00}",
       "t.yaml:1:21: " + p +
           ".since: \"2025-01-01T00:00:00\": a date-time needs a UTC offset (\"Z\" or "
           "\"+02:00\")"},
      {"deprecated: {since: yesterday}",
       "t.yaml:1:21: " + p +
           ".since: expected an RFC 3339 date-time such as \"2025-01-01T00:00:00Z\" or a date "
           "such as \"2025-06-01\", got \"yesterday\""},
      {"deprecated:\n  since: 2025-01-01\n  sunset: 2025-02-30",
       "t.yaml:3:11: " + p + ".sunset: \"2025-02-30\": 2025-02 has no day 30"},
      {"deprecated:\n  since: 2025-06-01\n  sunset: 2025-05-31T23:59:59Z",
       "t.yaml:3:11: " + p +
           ".sunset: the sunset (2025-05-31T23:59:59Z) is before since (2025-06-01T00:00:00Z)"},
      {"deprecated: {since: 2025-01-01, link: /migrate}",
       "t.yaml:1:39: " + p +
           ".link: expected an absolute http:// or https:// URL, got \"/migrate\""},
      {"deprecated: {since: 2025-01-01, link: ftp://example.com/x}",
       "t.yaml:1:39: " + p +
           ".link: expected an absolute http:// or https:// URL, got \"ftp://example.com/x\""},
      {"deprecated: {since: 2025-01-01, link: 'https:///path'}",
       "t.yaml:1:39: " + p + ".link: the URL \"https:///path\" has no host"},
      {"deprecated: {since: 2025-01-01, link: 'https://'}",
       "t.yaml:1:39: " + p + ".link: the URL \"https://\" has no host"},
      {"deprecated: {since: 2025-01-01, link: 'https://user@/x'}",
       "t.yaml:1:39: " + p + ".link: the URL \"https://user@/x\" has no host"},
      {"deprecated: {since: 2025-01-01, link: 'https://:443/x'}",
       "t.yaml:1:39: " + p + ".link: the URL \"https://:443/x\" has no host"},
      {"deprecated: {since: 2025-01-01, link: ''}",
       "t.yaml:1:39: " + p + ".link: expected an absolute http:// or https:// URL, got \"\""},
      {"deprecated: {since: 2025-01-01, link: 'https://example.com/a b'}",
       "t.yaml:1:39: " + p + ".link: a URL must not contain spaces (write %20)"},
      {"deprecated: {since: 2025-01-01, link: 'https://example.com/<a>'}",
       "t.yaml:1:39: " + p + ".link: a URL must not contain '<' or '>'"},
      {"deprecated: {since: 2025-01-01, link: \"https://example.com/\\r\\nX-Evil: 1\"}",
       "t.yaml:1:39: " + p + ".link: a URL must not contain control characters"},
      {"deprecated: {since: 2025-01-01, link: \"https://example.com/\\x7f\"}",
       "t.yaml:1:39: " + p + ".link: a URL must not contain control characters"},
      {"deprecated: {since: 2025-01-01, link: 'https://example.com/caf\xc3\xa9'}",
       "t.yaml:1:39: " + p + ".link: a URL must be ASCII (percent-encode other characters)"},
      {"deprecated: {since: 2025-01-01, sunset_link: example.com}",
       "t.yaml:1:46: " + p +
           ".sunset_link: expected an absolute http:// or https:// URL, got \"example.com\""},
      {"deprecated: {since: 2025-01-01, brownouts: {start: 2025-02-01}}",
       "t.yaml:1:44: " + p + ".brownouts: expected a sequence"},
      {"deprecated: {since: 2025-01-01, brownouts: [2025-02-01]}",
       "t.yaml:1:45: " + p + ".brownouts[0]: expected a map"},
      {"deprecated:\n  since: 2025-01-01\n  brownouts:\n    -",
       "t.yaml:4:1: " + p + ".brownouts[0]: missing required key \"start\""},
      {"deprecated:\n  since: 2025-01-01\n  brownouts:\n    - {end: 2025-02-01}",
       "t.yaml:4:7: " + p + ".brownouts[0]: missing required key \"start\""},
      {"deprecated:\n  since: 2025-01-01\n  brownouts:\n    - {start: 2025-02-01}",
       "t.yaml:4:7: " + p + ".brownouts[0]: missing required key \"end\""},
      {"deprecated:\n  since: 2025-01-01\n  brownouts:\n"
       "    - {start: 2025-02-01, end: 2025-02-02}\n"
       "    - {start: 2025-02-01T10:00:00Z, end: 2025-02-01T10:00:00Z}",
       "t.yaml:5:42: " + p +
           ".brownouts[1].end: the brownout must end after it starts (2025-02-01T10:00:00Z is "
           "not after 2025-02-01T10:00:00Z)"},
      {"deprecated:\n  since: 2025-01-01\n  brownouts:\n"
       "    - {start: 2025-02-02, end: 2025-02-01}",
       "t.yaml:4:32: " + p +
           ".brownouts[0].end: the brownout must end after it starts (2025-02-01T00:00:00Z is "
           "not after 2025-02-02T00:00:00Z)"},
      {"deprecated:\n  since: 2025-01-01\n  brownouts:\n"
       "    - {start: 2025-02-01, end: 2025-02-02, status: 302}",
       "t.yaml:4:52: " + p +
           ".brownouts[0].status: expected an integer between 400 and 599, got \"302\""},
      {"deprecated:\n  since: 2025-01-01\n  brownouts:\n"
       "    - {start: 2025-02-01, end: 2025-02-02, status: 600}",
       "t.yaml:4:52: " + p +
           ".brownouts[0].status: expected an integer between 400 and 599, got \"600\""},
      {"deprecated:\n  since: 2025-01-01\n  brownouts:\n"
       "    - {start: 2025-02-01, end: 2025-02-02, reason: x}",
       "t.yaml:4:44: " + p +
           ".brownouts[0].reason: unknown key \"reason\" (expected one of: start, end, status)"},
      {"deprecated:\n  since: 2025-01-01\n  brownouts:\n"
       "    - {start: 2025-02-31, end: 2025-03-02}",
       "t.yaml:4:15: " + p + ".brownouts[0].start: \"2025-02-31\": 2025-02 has no day 31"},
      {"deprecated: {since: 2025-01-01, sunset: 2025-06-01, enforce_sunset: yes}",
       "t.yaml:1:69: " + p + ".enforce_sunset: expected a boolean (true or false), got \"yes\""},
      {"deprecated: {since: 2025-01-01, enforce_sunset: true}",
       "t.yaml:1:49: " + p + ".enforce_sunset: enforce_sunset needs a sunset date"},
      {"deprecated: {since: 2025-01-01, sunset_status: 200}",
       "t.yaml:1:48: " + p +
           ".sunset_status: expected an integer between 400 and 599, got \"200\""},
  };
  for (const Case& c : cases) EXPECT_EQ(errorOf(c.yaml), c.error) << c.yaml;
}

TEST(DeprecationPolicyTest, EnforceSunsetFalseNeedsNoSunset) {
  EXPECT_FALSE(parse("deprecated: {since: 2025-01-01, enforce_sunset: false}").enforce_sunset);
}

TEST(DeprecationPolicyTest, ToJson) {
  const DeprecationPolicy p = parse(R"(
deprecated:
  since: 2025-01-01T00:00:00Z
  sunset: 2025-06-01T00:00:00.5+02:00
  link: https://example.com/migrate
  brownouts: [{start: 2025-03-01T12:00:00Z, end: 2025-03-01T13:00:00Z}]
  enforce_sunset: true
)");
  EXPECT_EQ(deprecationPolicyToJson(p), nlohmann::json::parse(R"({
    "since": "2025-01-01T00:00:00Z",
    "sunset": "2025-05-31T22:00:00.5Z",
    "link": "https://example.com/migrate",
    "sunset_link": "",
    "brownouts": [{"start": "2025-03-01T12:00:00Z", "end": "2025-03-01T13:00:00Z",
                   "status": 503}],
    "enforce_sunset": true,
    "sunset_status": 410})"));
  EXPECT_EQ(deprecationPolicyToJson(parse("deprecated: {since: 2025-01-01}"))["sunset"], nullptr);
}

}  // namespace
}  // namespace switchyard::config
