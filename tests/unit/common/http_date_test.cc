#include "proxy/common/http_date.h"

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>

namespace switchyard::common {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

SystemTime at(int64_t unix_seconds) { return SystemTime(seconds(unix_seconds)); }

// 1994-11-06T08:49:37Z, RFC 9110's example.
constexpr int64_t Example = 784111777;
// 2026-01-01T00:00:00Z, a Thursday.
const SystemTime Now = at(1767225600);

TEST(HttpDateTest, TheThreeFormsOfRfc9110) {
  EXPECT_EQ(parseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT", Now), at(Example));
  EXPECT_EQ(parseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT", Now), at(Example));
  EXPECT_EQ(parseHttpDate("Sun Nov  6 08:49:37 1994", Now), at(Example));
  EXPECT_EQ(parseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT"), at(Example));
  EXPECT_EQ(parseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT"), at(Example));
  EXPECT_EQ(parseHttpDate("Sun Nov  6 08:49:37 1994"), at(Example));
}

TEST(HttpDateTest, AsctimeDayWithTwoDigits) {
  EXPECT_EQ(parseHttpDate("Wed Nov 16 08:49:37 1994"), at(Example + 10 * 86400));
  // 2DIGIT also allows a leading zero.
  EXPECT_EQ(parseHttpDate("Sun Nov 06 08:49:37 1994"), at(Example));
}

TEST(HttpDateTest, EveryMonthAndWeekdayName) {
  const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  // The first of each month of 2025 (not a leap year).
  const int first_day[] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
  const int64_t jan1 = 1735689600;  // 2025-01-01, a Wednesday
  for (int m = 0; m < 12; ++m) {
    const std::string imf = std::string("Mon, 01 ") + months[m] + " 2025 00:00:00 GMT";
    EXPECT_EQ(parseHttpDate(imf), at(jan1 + first_day[m] * 86400)) << imf;
  }
  const char* short_days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  const char* long_days[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                             "Thursday", "Friday", "Saturday"};
  for (int d = 0; d < 7; ++d) {
    EXPECT_EQ(parseHttpDate(std::string(short_days[d]) + ", 01 Jan 2025 00:00:00 GMT"), at(jan1));
    EXPECT_EQ(parseHttpDate(std::string(long_days[d]) + ", 01-Jan-25 00:00:00 GMT"), at(jan1));
    EXPECT_EQ(parseHttpDate(std::string(short_days[d]) + " Jan  1 00:00:00 2025"), at(jan1));
  }
}

TEST(HttpDateTest, WeekdayIsNotCheckedAgainstTheDate) {
  // 2026-01-01 is a Thursday.
  EXPECT_EQ(parseHttpDate("Mon, 01 Jan 2026 00:00:00 GMT"), Now);
}

TEST(HttpDateTest, CalendarEdges) {
  EXPECT_EQ(parseHttpDate("Thu, 01 Jan 1970 00:00:00 GMT"), at(0));
  EXPECT_EQ(parseHttpDate("Wed, 31 Dec 1969 23:59:59 GMT"), at(-1));
  EXPECT_EQ(parseHttpDate("Thu, 29 Feb 2024 00:00:00 GMT"), at(1709164800));
  EXPECT_EQ(parseHttpDate("Tue, 29 Feb 2000 00:00:00 GMT"), at(951782400));
  EXPECT_EQ(parseHttpDate("Mon, 01 Jan 1900 00:00:00 GMT"), at(-2208988800));
  // A leap second is the first second of the next minute.
  EXPECT_EQ(parseHttpDate("Wed, 31 Dec 2025 23:59:60 GMT"), Now);
}

TEST(HttpDateTest, OutOfRangeFields) {
  for (const char* text : {
           "Sun, 32 Jan 2026 00:00:00 GMT",
           "Sun, 00 Jan 2026 00:00:00 GMT",
           "Sun, 29 Feb 2025 00:00:00 GMT",  // not a leap year
           "Sun, 29 Feb 2100 00:00:00 GMT",  // nor is 2100
           "Sun, 31 Apr 2025 00:00:00 GMT",
           "Sun, 01 Jan 2026 24:00:00 GMT",
           "Sun, 01 Jan 2026 00:60:00 GMT",
           "Sun, 01 Jan 2026 00:00:61 GMT",
           "Sunday, 31-Jun-25 00:00:00 GMT",
           "Sunday, 01-Jan-25 25:00:00 GMT",
           "Sun Feb 30 00:00:00 2024",
           "Sun Jan  0 00:00:00 2024",
           "Sun Jan  1 00:00:99 2024",
       }) {
    EXPECT_EQ(parseHttpDate(text, Now), std::nullopt) << '"' << text << '"';
  }
}

TEST(HttpDateTest, AnythingElseIsRejected) {
  for (const char* text : {
           "",
           "0",
           "-1",
           "1767225600",
           "2026-01-01T00:00:00Z",
           "Thu, 01 Jan 2026 00:00:00 UTC",       // must be GMT
           "Thu, 01 Jan 2026 00:00:00 gmt",       // case-sensitive
           "Thu, 01 Jan 2026 00:00:00 +0000",     // RFC 5322 zone
           "thu, 01 Jan 2026 00:00:00 GMT",       //
           "Thu, 01 JAN 2026 00:00:00 GMT",       //
           "Thu, 1 Jan 2026 00:00:00 GMT",        // day must have two digits
           "Thu, 01 Jan 26 00:00:00 GMT",         // year must have four
           "Thu, 01 Jan 2026 0:00:00 GMT",        //
           "Thu, 01 Jan 2026 00:00 GMT",          //
           "Thu,  01 Jan 2026 00:00:00 GMT",      // spacing is fixed
           "Thu 01 Jan 2026 00:00:00 GMT",        //
           " Thu, 01 Jan 2026 00:00:00 GMT",      // no blanks around
           "Thu, 01 Jan 2026 00:00:00 GMT ",      //
           "Thu, 01 Jan 2026 00:00:00 GMTx",      //
           "Thu, 01 Jan 2026 00:00:00",           //
           "Thursday, 01 Jan 2026 00:00:00 GMT",  // IMF-fixdate takes the short name
           "Thu, 01-Jan-26 00:00:00 GMT",         // rfc850-date takes the long one
           "Thursday, 01-Jan-2026 00:00:00 GMT",  // two-digit year only
           "Thursday, 1-Jan-26 00:00:00 GMT",     //
           "Thursday, 01-Jan-26 00:00:00",        //
           "Thu Jan 1 00:00:00 2026",             // one space before a one-digit day is two
           "Thu Jan  1 00:00:00 26",              //
           "Thu Jan  1 00:00:00 2026 GMT",        //
           "Thu, Jan  1 00:00:00 2026",           //
           "Xyz, 01 Jan 2026 00:00:00 GMT",       //
           "Thu, 01 Foo 2026 00:00:00 GMT",       //
           "Thu, 01 Jan 2O26 00:00:00 GMT",       // letter O
           "Thu, 0x Jan 2026 00:00:00 GMT",       //
       }) {
    EXPECT_EQ(parseHttpDate(text, Now), std::nullopt) << '"' << text << '"';
  }
}

TEST(HttpDateTest, Rfc850YearWithinFiftyYearsOfNow) {
  // RFC 9110: a two-digit year that would be more than 50 years ahead is in the past century.
  EXPECT_EQ(parseHttpDate("Thursday, 01-Jan-26 00:00:00 GMT", Now), Now);
  EXPECT_EQ(parseHttpDate("Wednesday, 01-Jan-76 00:00:00 GMT", Now), at(3345062400));  // 2076
  EXPECT_EQ(parseHttpDate("Saturday, 01-Jan-77 00:00:00 GMT", Now), at(220924800));    // 1977
  EXPECT_EQ(parseHttpDate("Saturday, 01-Jan-00 00:00:00 GMT", Now), at(946684800));    // 2000
  // Late in a century, small years belong to the next one.
  const SystemTime in_2090 = at(3786912000);  // 2090-01-01
  EXPECT_EQ(parseHttpDate("Wednesday, 01-Jan-10 00:00:00 GMT", in_2090),
            at(4417977600));  // 2110, not 2010
  EXPECT_EQ(parseHttpDate("Saturday, 01-Jan-89 00:00:00 GMT", in_2090),
            at(3755376000));  // 2089
}

TEST(HttpDateTest, Rfc850YearWithoutReferenceTime) {
  EXPECT_EQ(parseHttpDate("Thursday, 01-Jan-70 00:00:00 GMT"), at(0));
  EXPECT_EQ(parseHttpDate("Friday, 31-Dec-99 23:59:59 GMT"), at(946684799));
  EXPECT_EQ(parseHttpDate("Saturday, 01-Jan-00 00:00:00 GMT"), at(946684800));
  EXPECT_EQ(parseHttpDate("Tuesday, 01-Jan-69 00:00:00 GMT"), at(3124224000));  // 2069
}

TEST(HttpDateTest, FarDatesSaturate) {
  // Nanosecond SystemTime ends in 2262: a common "never expires" date stays far in the future
  // rather than failing or wrapping.
  const std::optional<SystemTime> far = parseHttpDate("Fri, 31 Dec 9999 23:59:59 GMT", Now);
  ASSERT_TRUE(far);
  EXPECT_GT(*far, at(9'000'000'000));
  EXPECT_LE(*far, SystemTime::max());
  EXPECT_EQ(*far, std::chrono::floor<seconds>(*far));
  const std::optional<SystemTime> old = parseHttpDate("Mon, 01 Jan 0001 00:00:00 GMT", Now);
  ASSERT_TRUE(old);
  EXPECT_LT(*old, at(-9'000'000'000));
  EXPECT_GE(*old, SystemTime::min());
}

TEST(HttpDateTest, ImfFixdateOnly) {
  using std::chrono::sys_days;
  using std::chrono::year;
  EXPECT_EQ(parseImfFixdate("Sun, 06 Nov 1994 08:49:37 GMT"),
            std::chrono::sys_seconds(seconds(Example)));
  // Seconds, so any four-digit year is exact.
  EXPECT_EQ(parseImfFixdate("Fri, 31 Dec 9999 23:59:59 GMT"),
            sys_days(year(9999) / 12 / 31) + seconds(86399));
  EXPECT_EQ(parseImfFixdate("Sunday, 06-Nov-94 08:49:37 GMT"), std::nullopt);
  EXPECT_EQ(parseImfFixdate("Sun Nov  6 08:49:37 1994"), std::nullopt);
  EXPECT_EQ(parseImfFixdate("Sat, 29 Feb 2025 00:00:00 GMT"), std::nullopt);
}

TEST(HttpDateTest, Formats) {
  EXPECT_EQ(formatHttpDate(at(Example)), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(formatHttpDate(at(0)), "Thu, 01 Jan 1970 00:00:00 GMT");
  EXPECT_EQ(formatHttpDate(Now), "Thu, 01 Jan 2026 00:00:00 GMT");
  EXPECT_EQ(formatHttpDate(at(1709164800)), "Thu, 29 Feb 2024 00:00:00 GMT");
  EXPECT_EQ(formatHttpDate(at(-2208988800)), "Mon, 01 Jan 1900 00:00:00 GMT");
}

TEST(HttpDateTest, FormatRoundsDownToTheSecond) {
  EXPECT_EQ(formatHttpDate(Now + milliseconds(999)), "Thu, 01 Jan 2026 00:00:00 GMT");
  EXPECT_EQ(formatHttpDate(Now - milliseconds(1)), "Wed, 31 Dec 2025 23:59:59 GMT");
  EXPECT_EQ(formatHttpDate(at(0) - milliseconds(1)), "Wed, 31 Dec 1969 23:59:59 GMT");
}

TEST(HttpDateTest, FormatThenParseIsTheSameSecond) {
  // Every 1,000,003 s (a prime, so the time of day and weekday wander) from 1900 to 2200.
  for (int64_t t = -2208988800; t < 7258118400; t += 1'000'003) {
    const std::string text = formatHttpDate(at(t));
    EXPECT_EQ(parseHttpDate(text), at(t)) << text;
    EXPECT_EQ(parseImfFixdate(text), std::chrono::sys_seconds(seconds(t))) << text;
  }
}

}  // namespace
}  // namespace switchyard::common
