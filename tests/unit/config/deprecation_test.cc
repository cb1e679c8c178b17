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

TEST(CivilDateTest, KnownDays) {
  EXPECT_EQ(daysFromCivil(1970, 1, 1), 0);
  EXPECT_EQ(daysFromCivil(1970, 1, 2), 1);
  EXPECT_EQ(daysFromCivil(1969, 12, 31), -1);
  EXPECT_EQ(daysFromCivil(2000, 3, 1), 11017);
  EXPECT_EQ(daysFromCivil(2024, 2, 29), 19782);
  EXPECT_EQ(daysFromCivil(2025, 1, 1), 20089);
  EXPECT_EQ(daysFromCivil(2025, 6, 1), 20240);
  EXPECT_EQ(daysFromCivil(2100, 3, 1), 47541);
  EXPECT_EQ(daysFromCivil(2200, 12, 31), 84370);
}

TEST(CivilDateTest, EndsOfMonthAndYearRollOver) {
  EXPECT_EQ(daysFromCivil(2024, 2, 29) + 1, daysFromCivil(2024, 3, 1));
  EXPECT_EQ(daysFromCivil(2023, 2, 28) + 1, daysFromCivil(2023, 3, 1));
  EXPECT_EQ(daysFromCivil(2024, 12, 31) + 1, daysFromCivil(2025, 1, 1));
  EXPECT_EQ(daysFromCivil(2024, 4, 30) + 1, daysFromCivil(2024, 5, 1));
  EXPECT_EQ(daysFromCivil(2025, 1, 1) - daysFromCivil(2024, 1, 1), 366);
  EXPECT_EQ(daysFromCivil(2026, 1, 1) - daysFromCivil(2025, 1, 1), 365);
  EXPECT_EQ(daysFromCivil(2101, 1, 1) - daysFromCivil(2100, 1, 1), 365);
  EXPECT_EQ(daysFromCivil(2001, 1, 1) - daysFromCivil(2000, 1, 1), 366);
}

TEST(CivilDateTest, RoundTripsEveryDayFrom1960To2210) {
  int64_t expected = daysFromCivil(1960, 1, 1);
  for (int64_t year = 1960; year <= 2210; ++year) {
    for (unsigned month = 1; month <= 12; ++month) {
      for (unsigned day = 1; day <= daysInMonth(year, month); ++day) {
        ASSERT_EQ(daysFromCivil(year, month, day), expected) << year << "-" << month << "-" << day;
        const CivilDate back = civilFromDays(expected);
        ASSERT_EQ(back.year, year);
        ASSERT_EQ(back.month, month);
        ASSERT_EQ(back.day, day);
        ++expected;
      }
    }
  }
}

TEST(CivilDateTest, Weekdays) {
  EXPECT_EQ(weekdayFromDays(0), 4u);  // Thursday 1970-01-01
  EXPECT_EQ(weekdayFromDays(-1), 3u);
  EXPECT_EQ(weekdayFromDays(-4), 0u);
  EXPECT_EQ(weekdayFromDays(-5), 6u);
  EXPECT_EQ(weekdayFromDays(daysFromCivil(2024, 6, 30)), 0u);  // Sunday
  EXPECT_EQ(weekdayFromDays(daysFromCivil(2023, 6, 30)), 5u);  // Friday
  EXPECT_EQ(weekdayFromDays(daysFromCivil(2024, 2, 29)), 4u);  // Thursday
  EXPECT_EQ(weekdayFromDays(daysFromCivil(2025, 6, 1)), 0u);   // Sunday
}

TEST(CivilDateTest, LeapYearsAndMonthLengths) {
  EXPECT_TRUE(isLeapYear(2024));
  EXPECT_TRUE(isLeapYear(2000));
  EXPECT_FALSE(isLeapYear(1900));
  EXPECT_FALSE(isLeapYear(2100));
  EXPECT_FALSE(isLeapYear(2025));
  EXPECT_EQ(daysInMonth(2024, 2), 29u);
  EXPECT_EQ(daysInMonth(2025, 2), 28u);
  EXPECT_EQ(daysInMonth(2100, 2), 28u);
  EXPECT_EQ(daysInMonth(2025, 1), 31u);
  EXPECT_EQ(daysInMonth(2025, 4), 30u);
  EXPECT_EQ(daysInMonth(2025, 12), 31u);
}

// --- timestamps ---

TEST(ParseTimestampTest, Forms) {
  struct Case {
    const char* text;
    int64_t unix_ms;
  };
  const Case cases[] = {
      {"2025-01-01T00:00:00Z", 1735689600'000},
      {"2025-06-01", 1748736000'000},
      {"2025-01-01t00:00:00z", 1735689600'000},
      {"2025-01-01T02:00:00+02:00", 1735689600'000},
      {"2024-12-31T19:30:00-04:30", 1735689600'000},
      {"2025-01-01T00:00:00.250Z", 1735689600'250},
      {"2025-01-01T00:00:00.5+00:00", 1735689600'500},
      {"2023-06-30T23:59:59Z", 1688169599'000},
      {"2024-02-29T12:00:00Z", 1709208000'000},
      {"1970-01-01T00:00:00Z", 0},
      {"2200-12-31T23:59:59Z", 7289654399'000},
  };
  for (const Case& c : cases) {
    common::SystemTime t;
    std::string error;
    ASSERT_TRUE(parseTimestamp(c.text, t, &error)) << c.text << ": " << error;
    EXPECT_EQ(std::chrono::duration_cast<milliseconds>(t.time_since_epoch()).count(), c.unix_ms)
        << c.text;
  }
}

TEST(ParseTimestampTest, NanosecondFractionKeptAndBeyondDropped) {
  common::SystemTime t;
  ASSERT_TRUE(parseTimestamp("1970-01-01T00:00:01.123456789123Z", t));
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count(),
            1'123'456'789);
}

TEST(ParseTimestampTest, DoesNotDependOnTz) {
  const char* old = getenv("TZ");
  const std::string saved = old != nullptr ? old : "";
  setenv("TZ", "America/New_York", 1);
  common::SystemTime t;
  ASSERT_TRUE(parseTimestamp("2025-06-01", t));
  if (old != nullptr) {
    setenv("TZ", saved.c_str(), 1);
  } else {
    unsetenv("TZ");
  }
  EXPECT_EQ(t, at(1748736000));
}

TEST(ParseTimestampTest, Errors) {
  const std::string syntax =
      "expected an RFC 3339 date-time such as \"2025-01-01T00:00:00Z\" or a date such as "
      "\"2025-06-01\", got ";
  struct Case {
    const char* text;
    std::string error;
  };
  const Case cases[] = {
      {"", syntax + "\"\""},
      {"2025/01/01", syntax + "\"2025/01/01\""},
      {"25-01-01", syntax + "\"25-01-01\""},
      {"2025-1-1", syntax + "\"2025-1-1\""},
      {"2025-01-01 00:00:00Z", syntax + "\"2025-01-01 00:00:00Z\""},
      {"2025-01-01T00:00Z", syntax + "\"2025-01-01T00:00Z\""},
      {"2025-01-01T00:00:00.Z", syntax + "\"2025-01-01T00:00:00.Z\""},
      {"2025-01-01T00:00:00+0200", syntax + "\"2025-01-01T00:00:00+0200\""},
      {"2025-01-01T00:00:00Zx", syntax + "\"2025-01-01T00:00:00Zx\""},
      {"2025-01-01x", syntax + "\"2025-01-01x\""},
      {"Wed, 01 Jan 2025 00:00:00 GMT", syntax + "\"Wed, 01 Jan 2025 00:00:00 GMT\""},
      {"2025-01-01T00:00:00",
       "\"2025-01-01T00:00:00\": a date-time needs a UTC offset (\"Z\" or \"+02:00\")"},
      {"2025-13-01", "\"2025-13-01\": there is no month 13"},
      {"2025-00-10", "\"2025-00-10\": there is no month 00"},
      {"2025-02-29", "\"2025-02-29\": 2025-02 has no day 29"},
      {"2024-04-31", "\"2024-04-31\": 2024-04 has no day 31"},
      {"2024-01-00", "\"2024-01-00\": 2024-01 has no day 00"},
      {"2025-01-01T24:00:00Z",
       "\"2025-01-01T24:00:00Z\": the time of day must be between 00:00:00 and 23:59:59"},
      {"2025-01-01T23:60:00Z",
       "\"2025-01-01T23:60:00Z\": the time of day must be between 00:00:00 and 23:59:59"},
      {"2016-12-31T23:59:60Z",
       "\"2016-12-31T23:59:60Z\": seconds must be 00 to 59 (leap seconds are not supported)"},
      {"2025-01-01T00:00:00+24:00",
       "\"2025-01-01T00:00:00+24:00\": the UTC offset must be between -23:59 and +23:59"},
      {"2025-01-01T00:00:00-01:60",
       "\"2025-01-01T00:00:00-01:60\": the UTC offset must be between -23:59 and +23:59"},
      {"1969-12-31", "\"1969-12-31\": the year must be between 1970 and 2200"},
      {"2201-01-01", "\"2201-01-01\": the year must be between 1970 and 2200"},
  };
  for (const Case& c : cases) {
    common::SystemTime t;
    std::string error;
    EXPECT_FALSE(parseTimestamp(c.text, t, &error)) << c.text;
    EXPECT_EQ(error, c.error) << c.text;
  }
  common::SystemTime t;
  EXPECT_FALSE(parseTimestamp("nope", t));  // no error string asked for
}

TEST(FormatRfc3339Test, Utc) {
  EXPECT_EQ(formatRfc3339(at(0)), "1970-01-01T00:00:00Z");
  EXPECT_EQ(formatRfc3339(at(1735689600)), "2025-01-01T00:00:00Z");
  EXPECT_EQ(formatRfc3339(at(1688169599)), "2023-06-30T23:59:59Z");
  EXPECT_EQ(formatRfc3339(at(1709164800 + 86399)), "2024-02-29T23:59:59Z");
  EXPECT_EQ(formatRfc3339(at(1735689600) + milliseconds(250)), "2025-01-01T00:00:00.25Z");
  EXPECT_EQ(formatRfc3339(at(1) + std::chrono::nanoseconds(1)), "1970-01-01T00:00:01.000000001Z");
  EXPECT_EQ(formatRfc3339(at(-1)), "1969-12-31T23:59:59Z");
}

TEST(FormatRfc3339Test, RoundTrips) {
  for (const char* text :
       {"2025-01-01T00:00:00Z", "2024-02-29T23:59:59.5Z", "2199-12-31T00:00:01.000001Z"}) {
    common::SystemTime t;
    ASSERT_TRUE(parseTimestamp(text, t)) << text;
    EXPECT_EQ(formatRfc3339(t), text);
  }
}

// --- the deprecated: block ---

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
