#include "proxy/common/http_date.h"

#include <algorithm>
#include <cstdio>

namespace switchyard::common {
namespace {

using std::chrono::days;
using std::chrono::duration_cast;
using std::chrono::floor;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;
using std::chrono::sys_days;
using std::chrono::sys_seconds;
using std::chrono::year_month_day;

constexpr std::string_view ShortDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr std::string_view LongDays[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                         "Thursday", "Friday", "Saturday"};
constexpr std::string_view Months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// Reads a date left to right; every step fails without consuming on a mismatch.
class Cursor {
 public:
  explicit Cursor(std::string_view text) : rest_(text) {}

  bool literal(std::string_view expected) {
    if (!rest_.starts_with(expected)) return false;
    rest_.remove_prefix(expected.size());
    return true;
  }
  // Exactly `n` ASCII digits.
  bool digits(size_t n, int& out) {
    if (rest_.size() < n) return false;
    int value = 0;
    for (size_t i = 0; i < n; ++i) {
      if (rest_[i] < '0' || rest_[i] > '9') return false;
      value = value * 10 + (rest_[i] - '0');
    }
    rest_.remove_prefix(n);
    out = value;
    return true;
  }
  // One of `names` (none of which is a prefix of another); `index` is its position.
  template <size_t N>
  bool oneOf(const std::string_view (&names)[N], int& index) {
    for (size_t i = 0; i < N; ++i) {
      if (literal(names[i])) {
        index = static_cast<int>(i);
        return true;
      }
    }
    return false;
  }
  bool atEnd() const { return rest_.empty(); }

 private:
  std::string_view rest_;
};

struct Fields {
  int year = 0;   // as written: two digits in an rfc850-date
  int month = 0;  // 0..11
  int day = 0;
  int hour = 0;
  int minute = 0;
  int second = 0;
};

// time-of-day = hour ":" minute ":" second, two digits each.
bool timeOfDay(Cursor& c, Fields& f) {
  return c.digits(2, f.hour) && c.literal(":") && c.digits(2, f.minute) && c.literal(":") &&
         c.digits(2, f.second);
}

// "Sun, 06 Nov 1994 08:49:37 GMT"
bool imfFixdate(std::string_view text, Fields& f) {
  Cursor c(text);
  int weekday = 0;
  return c.oneOf(ShortDays, weekday) && c.literal(", ") && c.digits(2, f.day) && c.literal(" ") &&
         c.oneOf(Months, f.month) && c.literal(" ") && c.digits(4, f.year) && c.literal(" ") &&
         timeOfDay(c, f) && c.literal(" GMT") && c.atEnd();
}

// "Sunday, 06-Nov-94 08:49:37 GMT"; f.year gets the two digits.
bool rfc850Date(std::string_view text, Fields& f) {
  Cursor c(text);
  int weekday = 0;
  return c.oneOf(LongDays, weekday) && c.literal(", ") && c.digits(2, f.day) && c.literal("-") &&
         c.oneOf(Months, f.month) && c.literal("-") && c.digits(2, f.year) && c.literal(" ") &&
         timeOfDay(c, f) && c.literal(" GMT") && c.atEnd();
}

// "Sun Nov  6 08:49:37 1994": the day is two digits or a space and one digit.
bool asctimeDate(std::string_view text, Fields& f) {
  Cursor c(text);
  int weekday = 0;
  if (!c.oneOf(ShortDays, weekday) || !c.literal(" ") || !c.oneOf(Months, f.month) ||
      !c.literal(" ")) {
    return false;
  }
  if (!c.digits(2, f.day) && !(c.literal(" ") && c.digits(1, f.day))) return false;
  return c.literal(" ") && timeOfDay(c, f) && c.literal(" ") && c.digits(4, f.year) && c.atEnd();
}

std::optional<sys_seconds> toTime(const Fields& f) {
  // 60 is a leap second, which RFC 9110 allows; it lands on the next minute's first second.
  if (f.hour > 23 || f.minute > 59 || f.second > 60) return std::nullopt;
  const year_month_day date{std::chrono::year(f.year),
                            std::chrono::month(static_cast<unsigned>(f.month + 1)),
                            std::chrono::day(static_cast<unsigned>(f.day))};
  if (!date.ok()) return std::nullopt;
  return sys_days(date) + hours(f.hour) + minutes(f.minute) + seconds(f.second);
}

// The four-digit year of an rfc850-date's two digits, within 50 years of `now_year`.
int centuryNear(int two_digits, int now_year) {
  int year = now_year - now_year % 100 + two_digits;
  if (year > now_year + 50) {
    year -= 100;
  } else if (year <= now_year - 50) {
    year += 100;
  }
  return year;
}

// duration_cast truncates toward zero, so both ends stay inside SystemTime's range.
constexpr sys_seconds Earliest{duration_cast<seconds>(SystemTime::min().time_since_epoch())};
constexpr sys_seconds Latest{duration_cast<seconds>(SystemTime::max().time_since_epoch())};

std::optional<SystemTime> parse(std::string_view text, std::optional<SystemTime> now) {
  Fields f;
  if (!imfFixdate(text, f)) {
    f = Fields{};
    if (rfc850Date(text, f)) {
      if (now) {
        const year_month_day today{floor<days>(*now)};
        f.year = centuryNear(f.year, static_cast<int>(today.year()));
      } else {
        f.year += f.year >= 70 ? 1900 : 2000;
      }
    } else {
      f = Fields{};
      if (!asctimeDate(text, f)) return std::nullopt;
    }
  }
  const std::optional<sys_seconds> t = toTime(f);
  if (!t) return std::nullopt;
  return SystemTime(std::clamp(*t, Earliest, Latest));
}

}  // namespace

std::optional<sys_seconds> parseImfFixdate(std::string_view text) {
  Fields f;
  if (!imfFixdate(text, f)) return std::nullopt;
  return toTime(f);
}

std::optional<SystemTime> parseHttpDate(std::string_view text, SystemTime now) {
  return parse(text, now);
}

std::optional<SystemTime> parseHttpDate(std::string_view text) { return parse(text, std::nullopt); }

std::string formatHttpDate(SystemTime t) {
  const sys_seconds secs = floor<seconds>(t);
  const sys_days day = floor<days>(secs);
  const year_month_day date{day};
  const std::chrono::hh_mm_ss<seconds> time{secs - day};
  char buf[40];
  const int n = std::snprintf(
      buf, sizeof buf, "%.3s, %02u %.3s %04d %02d:%02d:%02d GMT",
      ShortDays[std::chrono::weekday(day).c_encoding()].data(), static_cast<unsigned>(date.day()),
      Months[static_cast<unsigned>(date.month()) - 1].data(), static_cast<int>(date.year()),
      static_cast<int>(time.hours().count()), static_cast<int>(time.minutes().count()),
      static_cast<int>(time.seconds().count()));
  return std::string(buf, static_cast<size_t>(n));
}

}  // namespace switchyard::common
