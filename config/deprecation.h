#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/common/time.h"

namespace switchyard::config {

// A scheduled brownout: between `start` (inclusive) and `end` (exclusive) requests to the
// deprecated route or version are refused with `status`, carrying the deprecation headers.
struct BrownoutWindow {
  common::SystemTime start;
  common::SystemTime end;
  int status = 503;
};

// The `deprecated:` block of a route or of one version of a route.
//
//   deprecated:
//     since: 2025-01-01T00:00:00Z          # required; Deprecation: @<unix-seconds>
//     sunset: 2025-06-01T00:00:00Z         # optional, not before `since`; Sunset: <IMF-fixdate>
//     link: https://example.com/migrate    # optional; Link: <...>; rel="deprecation"
//     sunset_link: https://example.com/sunset   # optional; Link: <...>; rel="sunset"
//     brownouts: [{start: ..., end: ..., status: 503}]   # optional, each end after its start
//     enforce_sunset: true                 # optional; 410 Gone once the sunset has passed
//     sunset_status: 410                   # optional, 400..599; the status enforce_sunset uses
struct DeprecationPolicy {
  common::SystemTime since;
  std::optional<common::SystemTime> sunset;
  std::string link;
  std::string sunset_link;
  std::vector<BrownoutWindow> brownouts;
  bool enforce_sunset = false;
  int sunset_status = 410;
};

// Parses a `deprecated:` node found at `path`; throws ConfigError (with the node's position and
// key path) for unknown keys, unparseable or inconsistent dates, bad URLs or statuses.
DeprecationPolicy parseDeprecationPolicy(const YAML::Node& node, const std::string& path);

// The policy as JSON for the admin /config dump (dates as RFC 3339 UTC strings).
nlohmann::json deprecationPolicyToJson(const DeprecationPolicy& policy);

// Calendar arithmetic in UTC on the proleptic Gregorian calendar. Pure functions: they depend
// neither on the TZ environment nor on the C library's time functions (timegm and friends).
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

// Parses an RFC 3339 date-time ("2025-01-01T00:00:00Z", "2025-01-01T02:00:00.250+02:00"; 'T'
// and 'Z' may be lower case; fractional seconds beyond nanoseconds are dropped) or a plain date
// "2025-06-01", meaning midnight UTC. Years 1970..2200. On failure returns false and, when
// `error` is given, sets it to a sentence that quotes `text` and says what is wrong.
bool parseTimestamp(std::string_view text, common::SystemTime& out, std::string* error = nullptr);
// RFC 3339 in UTC: "2025-06-01T00:00:00Z", with a fraction ("...:00.25Z") only when there is one.
std::string formatRfc3339(common::SystemTime t);

}  // namespace switchyard::config
