#pragma once

// HTTP-date (RFC 9110 section 5.6.7): the preferred IMF-fixdate and the two obsolete forms a
// recipient must still accept. Pure functions: no clock, no locale, no TZ.
//
//   IMF-fixdate   "Sun, 06 Nov 1994 08:49:37 GMT"
//   rfc850-date   "Sunday, 06-Nov-94 08:49:37 GMT"
//   asctime-date  "Sun Nov  6 08:49:37 1994"
//
// The grammar is followed exactly: names are case-sensitive, the spacing is fixed, no blanks
// around the value (callers trim a field value's OWS). Fields out of range (day 32, hour 24, 30
// February) are rejected; second 60 (a leap second) is read as the first second of the next
// minute. The weekday is not checked against the date: senders get it wrong and nothing depends
// on it.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "proxy/common/time.h"

namespace switchyard::common {

// IMF-fixdate only, to the second. Any four-digit year fits in sys_seconds.
std::optional<std::chrono::sys_seconds> parseImfFixdate(std::string_view text);

// Any of the three forms. An rfc850-date's two-digit year is placed in the century that puts it
// within 50 years of `now` (RFC 9110: a year more than 50 years ahead is the most recent past
// one with those digits). Dates beyond what SystemTime holds (before 1677 or after 2262 with
// nanosecond ticks) saturate to its ends, whole seconds, so "31 Dec 9999" is "far future".
std::optional<SystemTime> parseHttpDate(std::string_view text, SystemTime now);
// As above without a reference time: an rfc850-date's year 70..99 is 19xx, 00..69 is 20xx.
std::optional<SystemTime> parseHttpDate(std::string_view text);

// IMF-fixdate, UTC, rounded down to the second, always the literal "GMT".
std::string formatHttpDate(SystemTime t);

}  // namespace switchyard::common
