#include "proxy/common/rfc3339.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <string>

namespace switchyard::common {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

TEST(Rfc3339Test, Formats) {
  EXPECT_EQ(formatRfc3339Millis(SystemTime{}), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(formatRfc3339Millis(SystemTime(seconds(1767225600))), "2026-01-01T00:00:00.000Z");
  EXPECT_EQ(formatRfc3339Millis(SystemTime(seconds(1767225599) + milliseconds(999))),
            "2025-12-31T23:59:59.999Z");
  EXPECT_EQ(formatRfc3339Millis(SystemTime(seconds(4107542399))), "2100-02-28T23:59:59.000Z");
}

TEST(Rfc3339Test, TruncatesToTheMillisecond) {
  EXPECT_EQ(formatRfc3339Millis(SystemTime(seconds(59) + nanoseconds(999999999))),
            "1970-01-01T00:00:59.999Z");
}

TEST(Rfc3339Test, BeforeTheEpoch) {
  EXPECT_EQ(formatRfc3339Millis(SystemTime(milliseconds(-1))), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(formatRfc3339Millis(SystemTime(milliseconds(-1000))), "1969-12-31T23:59:59.000Z");
}

SystemTime at(int64_t unix_seconds) { return SystemTime(seconds(unix_seconds)); }

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

TEST(ParseRfc3339Test, Forms) {
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
    ASSERT_TRUE(parseRfc3339(c.text, t, &error)) << c.text << ": " << error;
    EXPECT_EQ(std::chrono::duration_cast<milliseconds>(t.time_since_epoch()).count(), c.unix_ms)
        << c.text;
  }
}

TEST(ParseRfc3339Test, NanosecondFractionKeptAndBeyondDropped) {
  common::SystemTime t;
  ASSERT_TRUE(parseRfc3339("1970-01-01T00:00:01.123456789123Z", t));
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count(),
            1'123'456'789);
}

TEST(ParseRfc3339Test, DoesNotDependOnTz) {
  const char* old = getenv("TZ");
  const std::string saved = old != nullptr ? old : "";
  setenv("TZ", "America/New_York", 1);
  common::SystemTime t;
  ASSERT_TRUE(parseRfc3339("2025-06-01", t));
  if (old != nullptr) {
    setenv("TZ", saved.c_str(), 1);
  } else {
    unsetenv("TZ");
  }
  EXPECT_EQ(t, at(1748736000));
}

TEST(ParseRfc3339Test, Errors) {
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
    EXPECT_FALSE(parseRfc3339(c.text, t, &error)) << c.text;
    EXPECT_EQ(error, c.error) << c.text;
  }
  common::SystemTime t;
  EXPECT_FALSE(parseRfc3339("nope", t));  // no error string asked for
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
    ASSERT_TRUE(parseRfc3339(text, t)) << text;
    EXPECT_EQ(formatRfc3339(t), text);
  }
}

// --- the deprecated: block ---

TEST(Rfc3339Test, CompactForm) {
  const SystemTime t{milliseconds(1787392800123)};
  EXPECT_EQ(formatRfc3339Millis(t), "2026-08-22T10:00:00.123Z");
  EXPECT_EQ(formatCompactUtc(t), "20260822T100000Z");
}

TEST(Rfc3339Test, SyntaxCheckAcceptsWhatAlertmanagerSends) {
  for (const char* good :
       {"2026-08-22T10:00:00Z", "2026-11-21T20:57:58.396Z", "0001-01-01T00:00:00Z",
        "2026-08-22T10:00:00.123456789+02:00", "2026-08-22t10:00:00z"}) {
    EXPECT_TRUE(isRfc3339(good)) << good;
  }
  for (const char* bad :
       {"", "2026-08-22", "2026-08-22T10:00:00", "2026-13-01T00:00:00Z", "2026-08-22T24:00:00Z",
        "2026-08-22T10:00:00.Z", "2026-08-22T10:00:00+0200", "2026-08-22 10:00:00Z",
        "2026-08-22T10:00:00Zjunk"}) {
    EXPECT_FALSE(isRfc3339(bad)) << bad;
  }
}

}  // namespace
}  // namespace switchyard::common
