#include "config/deprecation.h"

#include <chrono>
#include <cstdio>

#include "config/config_error.h"
#include "config/yaml_util.h"

namespace switchyard::config {
namespace {

using std::chrono::nanoseconds;
using std::chrono::seconds;

constexpr int64_t SecondsPerDay = 86'400;
constexpr int64_t MinYear = 1970;
// Far enough for any sunset, and well inside what a nanosecond system_clock can hold (2262).
constexpr int64_t MaxYear = 2200;

std::string quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

bool isDigit(char c) { return c >= '0' && c <= '9'; }

// `prefix` must be lower case.
bool startsWithIgnoreCase(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    const char c = text[i];
    if ((c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c) != prefix[i]) return false;
  }
  return true;
}

// Reads exactly `count` digits at `pos`.
bool readFixed(std::string_view text, size_t& pos, size_t count, unsigned& out) {
  if (text.size() - pos < count) return false;
  unsigned value = 0;
  for (size_t i = 0; i < count; ++i) {
    const char c = text[pos + i];
    if (!isDigit(c)) return false;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  pos += count;
  out = value;
  return true;
}

bool expectChar(std::string_view text, size_t& pos, char a, char b = '\0') {
  if (pos >= text.size() || (text[pos] != a && (b == '\0' || text[pos] != b))) return false;
  ++pos;
  return true;
}

std::string twoDigits(unsigned v) {
  char buf[4];
  std::snprintf(buf, sizeof buf, "%02u", v % 100);
  return buf;
}

// An absolute http(s) URL that can go between the angle brackets of a Link header as it is.
// Returns an empty string when `url` is fine, else what is wrong with it.
std::string urlProblem(std::string_view url) {
  for (char ch : url) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == ' ') return "a URL must not contain spaces (write %20)";
    if (c < 0x20 || c == 0x7f) return "a URL must not contain control characters";
    if (c >= 0x80) return "a URL must be ASCII (percent-encode other characters)";
    if (c == '<' || c == '>') return "a URL must not contain '<' or '>'";
  }
  std::string_view rest;
  if (startsWithIgnoreCase(url, "https://")) {
    rest = url.substr(8);
  } else if (startsWithIgnoreCase(url, "http://")) {
    rest = url.substr(7);
  } else {
    return "expected an absolute http:// or https:// URL, got " + quote(url);
  }
  const std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (authority.empty() || authority.back() == '@' || authority.front() == ':') {
    return "the URL " + quote(url) + " has no host";
  }
  return "";
}

std::string parseUrl(const YAML::Node& node, const std::string& path) {
  std::string url = getString(node, path);
  if (std::string problem = urlProblem(url); !problem.empty()) {
    throw ConfigError(node, path, problem);
  }
  return url;
}

common::SystemTime parseTime(const YAML::Node& node, const std::string& path) {
  const std::string text = getString(node, path);
  common::SystemTime out;
  std::string error;
  if (!parseTimestamp(text, out, &error)) throw ConfigError(node, path, error);
  return out;
}

int parseStatus(const YAML::Node& node, const std::string& path) {
  return static_cast<int>(getInt(node, path, 400, 599));
}

BrownoutWindow parseBrownout(const YAML::Node& node, const std::string& path) {
  expectMap(node, path, {"start", "end", "status"});
  if (node.IsNull()) throw ConfigError(node, path, "missing required key \"start\"");
  BrownoutWindow out;
  const YAML::Node start = node["start"];
  if (!start) throw ConfigError(node, path, "missing required key \"start\"");
  const YAML::Node end = node["end"];
  if (!end) throw ConfigError(node, path, "missing required key \"end\"");
  out.start = parseTime(start, child(path, "start"));
  out.end = parseTime(end, child(path, "end"));
  if (out.end <= out.start) {
    throw ConfigError(end, child(path, "end"),
                      "the brownout must end after it starts (" + formatRfc3339(out.end) +
                          " is not after " + formatRfc3339(out.start) + ")");
  }
  if (const YAML::Node n = node["status"]) out.status = parseStatus(n, child(path, "status"));
  return out;
}

}  // namespace

bool isLeapYear(int64_t year) { return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0); }

unsigned daysInMonth(int64_t year, unsigned month) {
  static constexpr unsigned Days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && isLeapYear(year) ? 29 : Days[month - 1];
}

// Howard Hinnant's days_from_civil: counts in 400-year eras (146097 days each) of years that
// start on March 1st, so the leap day is the last day of its year and needs no special case.
int64_t daysFromCivil(int64_t year, unsigned month, unsigned day) {
  year -= month <= 2 ? 1 : 0;
  const int64_t era = (year >= 0 ? year : year - 399) / 400;
  const auto year_of_era = static_cast<unsigned>(year - era * 400);
  const unsigned day_of_year = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
  const unsigned day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146'097 + static_cast<int64_t>(day_of_era) - 719'468;
}

CivilDate civilFromDays(int64_t days) {
  days += 719'468;
  const int64_t era = (days >= 0 ? days : days - 146'096) / 146'097;
  const auto day_of_era = static_cast<unsigned>(days - era * 146'097);
  const unsigned year_of_era =
      (day_of_era - day_of_era / 1460 + day_of_era / 36'524 - day_of_era / 146'096) / 365;
  const unsigned day_of_year =
      day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  const unsigned mp = (5 * day_of_year + 2) / 153;  // March = 0
  const unsigned day = day_of_year - (153 * mp + 2) / 5 + 1;
  const unsigned month = mp < 10 ? mp + 3 : mp - 9;
  const int64_t year = static_cast<int64_t>(year_of_era) + era * 400 + (month <= 2 ? 1 : 0);
  return {year, month, day};
}

unsigned weekdayFromDays(int64_t days) {
  // 1970-01-01 was a Thursday (4).
  return static_cast<unsigned>(days >= -4 ? (days + 4) % 7 : (days + 5) % 7 + 6);
}

bool parseTimestamp(std::string_view text, common::SystemTime& out, std::string* error) {
  auto fail = [&](const std::string& why) {
    if (error != nullptr) *error = why;
    return false;
  };
  auto syntax = [&] {
    return fail(
        "expected an RFC 3339 date-time such as \"2025-01-01T00:00:00Z\" or a date such "
        "as \"2025-06-01\", got " +
        quote(text));
  };

  size_t pos = 0;
  unsigned year = 0;
  unsigned month = 0;
  unsigned day = 0;
  if (!readFixed(text, pos, 4, year) || !expectChar(text, pos, '-') ||
      !readFixed(text, pos, 2, month) || !expectChar(text, pos, '-') ||
      !readFixed(text, pos, 2, day)) {
    return syntax();
  }
  if (year < MinYear || year > MaxYear) {
    return fail(quote(text) + ": the year must be between " + std::to_string(MinYear) + " and " +
                std::to_string(MaxYear));
  }
  if (month < 1 || month > 12) return fail(quote(text) + ": there is no month " + twoDigits(month));
  if (day < 1 || day > daysInMonth(year, month)) {
    return fail(quote(text) + ": " + std::to_string(year) + "-" + twoDigits(month) +
                " has no day " + twoDigits(day));
  }
  int64_t secs = daysFromCivil(year, month, day) * SecondsPerDay;
  int64_t nanos = 0;

  if (pos < text.size()) {
    unsigned hour = 0;
    unsigned minute = 0;
    unsigned second = 0;
    if (!expectChar(text, pos, 'T', 't') || !readFixed(text, pos, 2, hour) ||
        !expectChar(text, pos, ':') || !readFixed(text, pos, 2, minute) ||
        !expectChar(text, pos, ':') || !readFixed(text, pos, 2, second)) {
      return syntax();
    }
    if (pos < text.size() && text[pos] == '.') {
      ++pos;
      const size_t start = pos;
      int64_t scale = 100'000'000;
      for (; pos < text.size() && isDigit(text[pos]); ++pos) {
        nanos += (text[pos] - '0') * scale;
        scale /= 10;
      }
      if (pos == start) return syntax();
    }
    int64_t offset = 0;
    if (expectChar(text, pos, 'Z', 'z')) {
      offset = 0;
    } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
      const int64_t sign = text[pos] == '-' ? -1 : 1;
      ++pos;
      unsigned off_hour = 0;
      unsigned off_minute = 0;
      if (!readFixed(text, pos, 2, off_hour) || !expectChar(text, pos, ':') ||
          !readFixed(text, pos, 2, off_minute)) {
        return syntax();
      }
      if (off_hour > 23 || off_minute > 59) {
        return fail(quote(text) + ": the UTC offset must be between -23:59 and +23:59");
      }
      offset = sign * (off_hour * 3600 + off_minute * 60);
    } else {
      // A date-time without an offset would depend on where the proxy runs.
      return pos == text.size() ? fail(quote(text) +
                                       ": a date-time needs a UTC offset (\"Z\" or "
                                       "\"+02:00\")")
                                : syntax();
    }
    if (pos != text.size()) return syntax();
    if (hour > 23 || minute > 59) {
      return fail(quote(text) + ": the time of day must be between 00:00:00 and 23:59:59");
    }
    if (second > 59) {
      // Unix time has no leap seconds; RFC 3339 allows :60 only on the day one was inserted.
      return fail(quote(text) + ": seconds must be 00 to 59 (leap seconds are not supported)");
    }
    secs += hour * 3600 + minute * 60 + second - offset;
  }
  out = common::SystemTime(
      std::chrono::duration_cast<common::SystemTime::duration>(seconds(secs) + nanoseconds(nanos)));
  return true;
}

std::string formatRfc3339(common::SystemTime t) {
  const auto since_epoch = std::chrono::duration_cast<nanoseconds>(t.time_since_epoch());
  const auto secs = std::chrono::floor<seconds>(since_epoch);
  const int64_t nanos = (since_epoch - secs).count();
  int64_t days = secs.count() / SecondsPerDay;
  int64_t of_day = secs.count() % SecondsPerDay;
  if (of_day < 0) {
    of_day += SecondsPerDay;
    --days;
  }
  const CivilDate date = civilFromDays(days);
  char buf[48];
  int n = std::snprintf(
      buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lld", static_cast<long long>(date.year),
      date.month, date.day, static_cast<long long>(of_day / 3600),
      static_cast<long long>(of_day / 60 % 60), static_cast<long long>(of_day % 60));
  std::string out(buf, static_cast<size_t>(n));
  if (nanos != 0) {
    std::snprintf(buf, sizeof buf, ".%09lld", static_cast<long long>(nanos));
    std::string fraction = buf;
    while (fraction.back() == '0') fraction.pop_back();
    out += fraction;
  }
  out += 'Z';
  return out;
}

DeprecationPolicy parseDeprecationPolicy(const YAML::Node& node, const std::string& path) {
  expectMap(
      node, path,
      {"since", "sunset", "link", "sunset_link", "brownouts", "enforce_sunset", "sunset_status"});
  if (node.IsNull() || !node["since"]) {
    throw ConfigError(node, path, "missing required key \"since\"");
  }
  DeprecationPolicy out;
  out.since = parseTime(node["since"], child(path, "since"));
  if (const YAML::Node n = node["sunset"]) {
    const std::string p = child(path, "sunset");
    out.sunset = parseTime(n, p);
    if (*out.sunset < out.since) {
      // RFC 9745: the Sunset date must not be earlier than the Deprecation date.
      throw ConfigError(n, p,
                        "the sunset (" + formatRfc3339(*out.sunset) + ") is before since (" +
                            formatRfc3339(out.since) + ")");
    }
  }
  if (const YAML::Node n = node["link"]) out.link = parseUrl(n, child(path, "link"));
  if (const YAML::Node n = node["sunset_link"]) {
    out.sunset_link = parseUrl(n, child(path, "sunset_link"));
  }
  if (const YAML::Node n = node["brownouts"]) {
    const std::string p = child(path, "brownouts");
    expectSequence(n, p);
    for (size_t i = 0; i < n.size(); ++i) out.brownouts.push_back(parseBrownout(n[i], child(p, i)));
  }
  if (const YAML::Node n = node["enforce_sunset"]) {
    const std::string p = child(path, "enforce_sunset");
    out.enforce_sunset = getBool(n, p);
    if (out.enforce_sunset && !out.sunset) {
      throw ConfigError(n, p, "enforce_sunset needs a sunset date");
    }
  }
  if (const YAML::Node n = node["sunset_status"]) {
    out.sunset_status = parseStatus(n, child(path, "sunset_status"));
  }
  return out;
}

nlohmann::json deprecationPolicyToJson(const DeprecationPolicy& policy) {
  nlohmann::json brownouts = nlohmann::json::array();
  for (const BrownoutWindow& w : policy.brownouts) {
    brownouts.push_back(
        {{"start", formatRfc3339(w.start)}, {"end", formatRfc3339(w.end)}, {"status", w.status}});
  }
  return {{"since", formatRfc3339(policy.since)},
          {"sunset", policy.sunset ? nlohmann::json(formatRfc3339(*policy.sunset)) : nullptr},
          {"link", policy.link},
          {"sunset_link", policy.sunset_link},
          {"brownouts", std::move(brownouts)},
          {"enforce_sunset", policy.enforce_sunset},
          {"sunset_status", policy.sunset_status}};
}

}  // namespace switchyard::config
