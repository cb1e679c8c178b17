#include "proxy/common/rfc3339.h"

#include <cstdio>
#include <ctime>

#include "proxy/common/strings.h"

namespace switchyard::common {
namespace {

using std::chrono::nanoseconds;
using std::chrono::seconds;

constexpr int64_t SecondsPerDay = 86'400;
constexpr int64_t MinYear = 1970;
// Far enough for any sunset, and well inside what a nanosecond system_clock can hold (2262).
constexpr int64_t MaxYear = 2200;

bool isDigit(char c) { return c >= '0' && c <= '9'; }

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

// `count` digits at `pos`.
bool digitsAt(std::string_view s, size_t pos, size_t count) {
  if (s.size() < pos + count) return false;
  for (size_t i = pos; i < pos + count; ++i) {
    if (!isDigit(s[i])) return false;
  }
  return true;
}

}  // namespace

std::string formatRfc3339Millis(SystemTime t) {
  using std::chrono::milliseconds;
  // floor, not duration_cast: a time before 1970 must not round towards the epoch.
  const int64_t ms = std::chrono::floor<milliseconds>(t.time_since_epoch()).count();
  int64_t secs = ms / 1000;
  int64_t frac = ms % 1000;
  if (frac < 0) {
    frac += 1000;
    secs -= 1;
  }
  const time_t tt = static_cast<time_t>(secs);
  tm parts{};
  gmtime_r(&tt, &parts);
  char buf[96];
  const int n = std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                              parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday, parts.tm_hour,
                              parts.tm_min, parts.tm_sec, static_cast<int>(frac));
  return std::string(buf, n > 0 ? static_cast<size_t>(n) : 0);
}

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

bool parseRfc3339(std::string_view text, SystemTime& out, std::string* error) {
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
  out = SystemTime(
      std::chrono::duration_cast<SystemTime::duration>(seconds(secs) + nanoseconds(nanos)));
  return true;
}

std::string formatRfc3339(SystemTime t) {
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

bool isRfc3339(std::string_view s) {
  // YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)
  if (!digitsAt(s, 0, 4) || s.size() < 20 || s[4] != '-' || !digitsAt(s, 5, 2) || s[7] != '-' ||
      !digitsAt(s, 8, 2) || (s[10] != 'T' && s[10] != 't') || !digitsAt(s, 11, 2) || s[13] != ':' ||
      !digitsAt(s, 14, 2) || s[16] != ':' || !digitsAt(s, 17, 2)) {
    return false;
  }
  auto num = [&](size_t pos) { return (s[pos] - '0') * 10 + (s[pos + 1] - '0'); };
  if (num(5) < 1 || num(5) > 12 || num(8) < 1 || num(8) > 31 || num(11) > 23 || num(14) > 59 ||
      num(17) > 60) {
    return false;
  }
  size_t pos = 19;
  if (pos < s.size() && s[pos] == '.') {
    size_t start = ++pos;
    while (pos < s.size() && isDigit(s[pos])) ++pos;
    if (pos == start) return false;
  }
  if (pos == s.size()) return false;
  if (s[pos] == 'Z' || s[pos] == 'z') return pos + 1 == s.size();
  if (s[pos] != '+' && s[pos] != '-') return false;
  return pos + 6 == s.size() && digitsAt(s, pos + 1, 2) && s[pos + 3] == ':' &&
         digitsAt(s, pos + 4, 2) && num(pos + 1) <= 23 && num(pos + 4) <= 59;
}

std::string formatCompactUtc(SystemTime t) {
  const int64_t secs = std::chrono::floor<std::chrono::seconds>(t.time_since_epoch()).count();
  const time_t tt = static_cast<time_t>(secs);
  tm p{};
  gmtime_r(&tt, &p);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d%02d%02dT%02d%02d%02dZ", p.tm_year + 1900, p.tm_mon + 1,
                p.tm_mday, p.tm_hour, p.tm_min, p.tm_sec);
  return buf;
}

}  // namespace switchyard::common
