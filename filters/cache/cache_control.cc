#include "filters/cache/cache_control.h"

#include "proxy/common/http_token.h"

namespace switchyard::filters::cache {
namespace {

using std::chrono::seconds;

bool isOws(char c) { return c == ' ' || c == '\t'; }

bool isDigit(char c) { return c >= '0' && c <= '9'; }

// Adds one digit to a delta-seconds value, saturating at MaxDeltaSeconds.
int64_t pushDigit(int64_t value, char digit) {
  const int64_t next = value * 10 + (digit - '0');
  return next > MaxDeltaSeconds.count() ? MaxDeltaSeconds.count() : next;
}

// A directive's argument as written.
struct Argument {
  bool present = false;     // there was an "="
  bool well_formed = true;  // a token or a closed quoted-string, and nothing after it
  std::string_view raw;     // the token, or the quoted-string with its quotes
};

// Calls `f(name, argument)` for each member of one Cache-Control field line, in order.
template <class F>
void forEachDirective(std::string_view value, F&& f) {
  size_t i = 0;
  const size_t n = value.size();
  // Moves `i` to the next comma outside a quoted string (or the end); returns whether anything
  // but blanks was skipped.
  auto skipToComma = [&] {
    bool skipped = false;
    bool quoted = false;
    for (; i < n; ++i) {
      const char c = value[i];
      if (quoted) {
        if (c == '\\') {
          ++i;
        } else if (c == '"') {
          quoted = false;
        }
      } else if (c == ',') {
        break;
      } else if (c == '"') {
        quoted = true;
      }
      if (!isOws(c)) skipped = true;
    }
    if (i > n) i = n;  // a backslash at the very end
    return skipped;
  };
  auto skipOws = [&] {
    while (i < n && isOws(value[i])) ++i;
  };
  while (i < n) {
    skipOws();
    if (i < n && value[i] == ',') {
      ++i;
      continue;
    }
    if (i == n) break;
    const size_t name_start = i;
    while (i < n && common::isTchar(value[i])) ++i;
    const std::string_view name = value.substr(name_start, i - name_start);
    if (name.empty()) {
      skipToComma();  // not a directive at all
      continue;
    }
    Argument arg;
    skipOws();
    if (i < n && value[i] == '=') {
      arg.present = true;
      ++i;
      skipOws();
      const size_t arg_start = i;
      if (i < n && value[i] == '"') {
        bool closed = false;
        for (++i; i < n; ++i) {
          if (value[i] == '\\') {
            ++i;
          } else if (value[i] == '"') {
            closed = true;
            ++i;
            break;
          }
        }
        if (i > n) i = n;  // a backslash at the very end
        arg.well_formed = closed;
      } else {
        while (i < n && common::isTchar(value[i])) ++i;
      }
      arg.raw = value.substr(arg_start, i - arg_start);
    }
    if (skipToComma()) arg.well_formed = false;
    f(name, arg);
  }
}

// A delta-seconds argument, as a token or inside a quoted string (backslash escapes allowed).
std::optional<seconds> durationArgument(const Argument& arg) {
  if (!arg.present || !arg.well_formed) return std::nullopt;
  std::string_view raw = arg.raw;
  if (raw.empty() || raw.front() != '"') return parseDeltaSeconds(raw);
  raw = raw.substr(1, raw.size() - 2);  // well formed: it ends with the closing quote
  if (raw.empty()) return std::nullopt;
  int64_t value = 0;
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '\\') ++i;
    if (i == raw.size() || !isDigit(raw[i])) return std::nullopt;
    value = pushDigit(value, raw[i]);
  }
  return seconds(value);
}

// A directive with a duration, seen any number of times. Invalid once a value is malformed or
// two values differ (see the header).
class DurationDirective {
 public:
  // `bare` is the value of the directive written without "=", when that is allowed.
  void add(const Argument& arg, std::optional<seconds> bare = std::nullopt) {
    const std::optional<seconds> v = !arg.present && bare ? bare : durationArgument(arg);
    if (!seen_) {
      seen_ = true;
      value_ = v;
    } else if (v != value_) {
      value_ = std::nullopt;
    }
  }
  // Absent: nullopt; valid: its value; invalid: `if_invalid`.
  std::optional<seconds> result(std::optional<seconds> if_invalid) const {
    if (!seen_) return std::nullopt;
    return value_ ? value_ : if_invalid;
  }

 private:
  bool seen_ = false;
  std::optional<seconds> value_;  // nullopt when invalid
};

bool is(std::string_view name, std::string_view lower_case) {
  return http::equalsIgnoreCase(name, lower_case);
}

class ResponseParser {
 public:
  void line(std::string_view value) {
    forEachDirective(value, [this](std::string_view name, const Argument& arg) {
      if (is(name, "max-age")) {
        max_age_.add(arg);
      } else if (is(name, "s-maxage")) {
        s_maxage_.add(arg);
      } else if (is(name, "no-store")) {
        out_.no_store = true;
      } else if (is(name, "no-cache")) {
        out_.no_cache = true;
      } else if (is(name, "private")) {
        out_.is_private = true;
      } else if (is(name, "public")) {
        out_.is_public = true;
      } else if (is(name, "must-revalidate")) {
        out_.must_revalidate = true;
      } else if (is(name, "proxy-revalidate")) {
        out_.proxy_revalidate = true;
      } else if (is(name, "must-understand")) {
        out_.must_understand = true;
      } else if (is(name, "no-transform")) {
        out_.no_transform = true;
      } else if (is(name, "immutable")) {
        out_.immutable = true;
      } else if (is(name, "stale-while-revalidate")) {
        stale_while_revalidate_.add(arg);
      } else if (is(name, "stale-if-error")) {
        stale_if_error_.add(arg);
      }
    });
  }

  ResponseCacheControl result() {
    out_.max_age = max_age_.result(seconds(0));
    out_.s_maxage = s_maxage_.result(seconds(0));
    out_.stale_while_revalidate = stale_while_revalidate_.result(std::nullopt);
    out_.stale_if_error = stale_if_error_.result(std::nullopt);
    return out_;
  }

 private:
  ResponseCacheControl out_;
  DurationDirective max_age_;
  DurationDirective s_maxage_;
  DurationDirective stale_while_revalidate_;
  DurationDirective stale_if_error_;
};

class RequestParser {
 public:
  void line(std::string_view value) {
    forEachDirective(value, [this](std::string_view name, const Argument& arg) {
      if (is(name, "max-age")) {
        max_age_.add(arg);
      } else if (is(name, "max-stale")) {
        max_stale_.add(arg, AnyStaleness);
      } else if (is(name, "min-fresh")) {
        min_fresh_.add(arg);
      } else if (is(name, "no-cache")) {
        out_.no_cache = true;
      } else if (is(name, "no-store")) {
        out_.no_store = true;
      } else if (is(name, "only-if-cached")) {
        out_.only_if_cached = true;
      } else if (is(name, "stale-if-error")) {
        stale_if_error_.add(arg);
      }
    });
  }

  // Pragma's only defined directive (RFC 9111 5.4); anything else on the line is ignored.
  void pragmaLine(std::string_view value) {
    forEachDirective(value, [this](std::string_view name, const Argument&) {
      if (is(name, "no-cache")) out_.no_cache = true;
    });
  }

  RequestCacheControl result() {
    out_.max_age = max_age_.result(seconds(0));
    out_.max_stale = max_stale_.result(std::nullopt);
    out_.min_fresh = min_fresh_.result(std::nullopt);
    out_.stale_if_error = stale_if_error_.result(std::nullopt);
    return out_;
  }

 private:
  RequestCacheControl out_;
  DurationDirective max_age_;
  DurationDirective max_stale_;
  DurationDirective min_fresh_;
  DurationDirective stale_if_error_;
};

}  // namespace

std::optional<seconds> parseDeltaSeconds(std::string_view text) {
  if (text.empty()) return std::nullopt;
  int64_t value = 0;
  for (char c : text) {
    if (!isDigit(c)) return std::nullopt;
    value = pushDigit(value, c);
  }
  return seconds(value);
}

ResponseCacheControl parseResponseCacheControl(const http::HeaderMap& headers) {
  ResponseParser parser;
  for (const http::HeaderMap::Entry& entry : headers.entries()) {
    if (entry.name == "cache-control") parser.line(entry.value);
  }
  return parser.result();
}

ResponseCacheControl parseResponseCacheControl(std::string_view value) {
  ResponseParser parser;
  parser.line(value);
  return parser.result();
}

RequestCacheControl parseRequestCacheControl(const http::HeaderMap& headers) {
  RequestParser parser;
  bool has_cache_control = false;
  for (const http::HeaderMap::Entry& entry : headers.entries()) {
    if (entry.name == "cache-control") {
      has_cache_control = true;
      parser.line(entry.value);
    }
  }
  if (!has_cache_control) {
    for (const http::HeaderMap::Entry& entry : headers.entries()) {
      if (entry.name == "pragma") parser.pragmaLine(entry.value);
    }
  }
  return parser.result();
}

RequestCacheControl parseRequestCacheControl(std::string_view value) {
  RequestParser parser;
  parser.line(value);
  return parser.result();
}

}  // namespace switchyard::filters::cache
