#pragma once

// RFC 3339 timestamps and the UTC calendar arithmetic behind them. Pure functions: they depend
// neither on the TZ environment nor on the C library's time functions (timegm and friends),
// except formatRfc3339Millis(), which uses gmtime_r.

#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/common/time.h"

namespace switchyard::common {

// "2026-01-01T12:34:56.789Z": UTC, always three fractional digits (truncated, not rounded, so a
// timestamp never moves into the next second). For logs and JSON status pages.
std::string formatRfc3339Millis(SystemTime t);
// "20260822T100000Z": UTC to the second, ISO 8601's basic form, for ids and file names.
std::string formatCompactUtc(SystemTime t);
// RFC 3339 in UTC: "2025-06-01T00:00:00Z", with a fraction ("...:00.25Z") only when there is one.
std::string formatRfc3339(SystemTime t);

// Parses an RFC 3339 date-time ("2025-01-01T00:00:00Z", "2025-01-01T02:00:00.250+02:00"; 'T'
// and 'Z' may be lower case; fractional seconds beyond nanoseconds are dropped) or a plain date
// "2025-06-01", meaning midnight UTC. Years 1970..2200. On failure returns false and, when
// `error` is given, sets it to a sentence that quotes `text` and says what is wrong.
bool parseRfc3339(std::string_view text, SystemTime& out, std::string* error = nullptr);
// Whether `text` has RFC 3339's date-time syntax (YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM),
// leap second allowed, any year, so Alertmanager's "0001-01-01T00:00:00Z" passes), without
// converting it.
bool isRfc3339(std::string_view text);

// Calendar arithmetic in UTC on the proleptic Gregorian calendar.
struct CivilDate {
  int64_t year;
  unsigned month;  // 1..12
  unsigned day;    // 1..31
};
// Days since 1970-01-01 (negative before it). `month` and `day` must form a valid date.
int64_t daysFromCivil(int64_t year, unsigned month, unsigned day);
// The inverse of daysFromCivil().
CivilDate civilFromDays(int64_t days);
// 0 = Sunday ... 6 = Saturday.
unsigned weekdayFromDays(int64_t days);
bool isLeapYear(int64_t year);
// 28..31; `month` must be 1..12.
unsigned daysInMonth(int64_t year, unsigned month);

}  // namespace switchyard::common
