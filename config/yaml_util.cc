#include "config/yaml_util.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <sstream>

#include "proxy/common/duration.h"
#include "proxy/common/http_token.h"
#include "proxy/common/strings.h"

namespace switchyard::config {
namespace {

using common::quote;

std::string joined(std::initializer_list<std::string_view> items) {
  std::string out;
  for (std::string_view item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

bool isNameStart(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool isNameChar(char c) { return isNameStart(c) || (c >= '0' && c <= '9'); }
bool isDigit(char c) { return c >= '0' && c <= '9'; }

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// Reads the leading run of digits as a non-negative integer; false on overflow or no digits.
bool readDigits(std::string_view text, size_t& pos, uint64_t& out) {
  size_t start = pos;
  while (pos < text.size() && isDigit(text[pos])) ++pos;
  if (pos == start) return false;
  auto [ptr, ec] = std::from_chars(text.data() + start, text.data() + pos, out);
  return ec == std::errc() && ptr == text.data() + pos;
}

// The scalar text after environment expansion, or a ConfigError naming what was expected.
std::string scalarText(const YAML::Node& node, const std::string& path,
                       const std::string& expected) {
  if (!node.IsScalar()) throw ConfigError(node, path, "expected " + expected);
  return expandEnv(node.Scalar(), node, path);
}

std::string formatNumber(double v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

std::string intRange(int64_t min, int64_t max) {
  constexpr int64_t Lowest = std::numeric_limits<int64_t>::min();
  constexpr int64_t Highest = std::numeric_limits<int64_t>::max();
  if (min == Lowest && max == Highest) return "an integer";
  if (max == Highest) return "an integer of at least " + std::to_string(min);
  if (min == Lowest) return "an integer of at most " + std::to_string(max);
  return "an integer between " + std::to_string(min) + " and " + std::to_string(max);
}

}  // namespace

std::vector<ConfigError> mapKeyErrors(const YAML::Node& node, const std::string& path,
                                      std::initializer_list<std::string_view> allowed) {
  std::vector<ConfigError> errors;
  if (node.IsNull()) return errors;
  if (!node.IsMap()) {
    errors.emplace_back(node, path, "expected a map");
    return errors;
  }
  std::vector<std::pair<std::string, int>> seen;  // key, 1-based line
  for (const auto& kv : node) {
    const YAML::Node& key = kv.first;
    if (!key.IsScalar()) {
      errors.emplace_back(key, path, "expected a plain string as a key");
      continue;
    }
    const std::string& name = key.Scalar();
    bool known = false;
    for (std::string_view a : allowed) known = known || a == name;
    if (!known) {
      std::string expected =
          allowed.size() == 0 ? "this map takes no keys" : "expected one of: " + joined(allowed);
      errors.emplace_back(key, child(path, name),
                          "unknown key " + quote(name) + " (" + expected + ")");
      continue;
    }
    bool duplicate = false;
    for (const auto& [prev, line] : seen) {
      if (prev == name) {
        errors.emplace_back(
            key, child(path, name),
            "duplicate key " + quote(name) + " (first set on line " + std::to_string(line) + ")");
        duplicate = true;
        break;
      }
    }
    if (!duplicate) seen.emplace_back(name, key.Mark().line + 1);
  }
  return errors;
}

void expectMap(const YAML::Node& node, const std::string& path,
               std::initializer_list<std::string_view> allowed) {
  std::vector<ConfigError> errors = mapKeyErrors(node, path, allowed);
  if (!errors.empty()) throw errors.front();
}

void expectSequence(const YAML::Node& node, const std::string& path) {
  if (!node.IsNull() && !node.IsSequence()) throw ConfigError(node, path, "expected a sequence");
}

std::string getString(const YAML::Node& node, const std::string& path) {
  return scalarText(node, path, "a string");
}

std::string getHeaderName(const YAML::Node& node, const std::string& path) {
  const std::string name = getString(node, path);
  if (!common::isToken(name)) throw ConfigError(node, path, "invalid header name " + quote(name));
  return common::toLowerAscii(name);
}

bool getBool(const YAML::Node& node, const std::string& path) {
  const std::string expected = "a boolean (true or false)";
  std::string text = scalarText(node, path, expected);
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  throw ConfigError(node, path, "expected " + expected + ", got " + quote(text));
}

int64_t getInt(const YAML::Node& node, const std::string& path, int64_t min, int64_t max) {
  const std::string expected = intRange(min, max);
  std::string text = scalarText(node, path, expected);
  std::string_view digits = text;
  if (!digits.empty() && digits.front() == '+') digits.remove_prefix(1);
  int64_t value = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (digits.empty() || ec != std::errc() || ptr != digits.data() + digits.size() || value < min ||
      value > max) {
    throw ConfigError(node, path, "expected " + expected + ", got " + quote(text));
  }
  return value;
}

double getDouble(const YAML::Node& node, const std::string& path, double min, double max) {
  const std::string expected =
      "a number between " + formatNumber(min) + " and " + formatNumber(max);
  std::string text = scalarText(node, path, expected);
  std::string_view digits = text;
  if (!digits.empty() && digits.front() == '+') digits.remove_prefix(1);
  double value = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (digits.empty() || ec != std::errc() || ptr != digits.data() + digits.size() ||
      !std::isfinite(value) || value < min || value > max) {
    throw ConfigError(node, path, "expected " + expected + ", got " + quote(text));
  }
  return value;
}

std::chrono::milliseconds getDuration(const YAML::Node& node, const std::string& path) {
  const std::string expected = "a duration such as \"250ms\", \"30s\", \"1m\" or \"1m30s\"";
  std::string text = scalarText(node, path, expected);
  std::chrono::milliseconds out{0};
  if (!parseDuration(text, out)) {
    throw ConfigError(node, path, "expected " + expected + ", got " + quote(text));
  }
  return out;
}

std::chrono::milliseconds getPositiveDuration(const YAML::Node& node, const std::string& path,
                                              std::chrono::milliseconds max) {
  const std::chrono::milliseconds d = getDuration(node, path);
  if (d <= std::chrono::milliseconds(0)) throw ConfigError(node, path, "must be above 0");
  if (d > max) throw ConfigError(node, path, "must be at most " + common::formatDuration(max));
  return d;
}

uint64_t getBytes(const YAML::Node& node, const std::string& path) {
  const std::string expected = "a size such as 512, \"64KiB\", \"10MiB\" or \"1GiB\"";
  std::string text = scalarText(node, path, expected);
  uint64_t out = 0;
  if (!parseBytes(text, out)) {
    throw ConfigError(node, path, "expected " + expected + ", got " + quote(text));
  }
  return out;
}

std::string expandEnv(const std::string& value, const YAML::Node& node, const std::string& path) {
  std::string out;
  size_t i = 0;
  while (i < value.size()) {
    char c = value[i];
    if (c != '$' || i + 1 == value.size()) {
      out += c;
      ++i;
      continue;
    }
    if (value[i + 1] == '$') {
      out += '$';
      i += 2;
      continue;
    }
    if (value[i + 1] != '{') {
      out += c;
      ++i;
      continue;
    }
    size_t close = value.find('}', i + 2);
    if (close == std::string::npos) {
      throw ConfigError(node, path, "unterminated \"${\" (write \"$$\" for a literal \"$\")");
    }
    std::string_view inner(value.data() + i + 2, close - i - 2);
    // ${context.route} and the like belong to the rollback steps, which fill them in when they
    // run (proxy/rollback/config.h); no environment variable has a dot in its name.
    if (inner.starts_with("context.")) {
      out.append(value, i, close + 1 - i);
      i = close + 1;
      continue;
    }
    size_t sep = inner.find(":-");
    std::string_view name = inner.substr(0, sep);
    bool valid = !name.empty() && isNameStart(name.front());
    for (char n : name) valid = valid && isNameChar(n);
    if (!valid) {
      throw ConfigError(node, path,
                        "invalid environment variable name " + quote(name) +
                            " in \"${...}\" (letters, digits and '_', not starting with a digit)");
    }
    const char* env = std::getenv(std::string(name).c_str());
    if (sep != std::string_view::npos) {
      // As in the shell, ":-" also replaces a variable that is set but empty.
      out += (env != nullptr && *env != '\0') ? std::string_view(env) : inner.substr(sep + 2);
    } else if (env != nullptr) {
      out += env;
    } else {
      throw ConfigError(node, path,
                        "environment variable " + quote(name) + " is not set (use ${" +
                            std::string(name) + ":-default} to give a default)");
    }
    i = close + 1;
  }
  return out;
}

bool parseDuration(std::string_view text, std::chrono::milliseconds& out) {
  struct Unit {
    std::string_view suffix;
    int64_t ms;
  };
  // Largest first: components must appear in this order, each at most once ("1h30m", not "30m1h").
  static constexpr Unit Units[] = {{"h", 3'600'000}, {"m", 60'000}, {"s", 1'000}, {"ms", 1}};
  if (text.empty()) return false;
  int64_t total = 0;
  size_t next_unit = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    uint64_t value = 0;
    if (!readDigits(text, pos, value)) return false;
    // "ms" before "m": the longest suffix that matches wins.
    size_t unit = std::size(Units);
    size_t unit_len = 0;
    for (size_t u = 0; u < std::size(Units); ++u) {
      std::string_view suffix = Units[u].suffix;
      if (text.substr(pos, suffix.size()) == suffix && suffix.size() > unit_len) {
        unit = u;
        unit_len = suffix.size();
      }
    }
    if (unit == std::size(Units) || unit < next_unit) return false;
    pos += unit_len;
    next_unit = unit + 1;
    int64_t part = 0;
    if (value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
        __builtin_mul_overflow(static_cast<int64_t>(value), Units[unit].ms, &part) ||
        __builtin_add_overflow(total, part, &total)) {
      return false;
    }
  }
  out = std::chrono::milliseconds(total);
  return true;
}

bool parseBytes(std::string_view text, uint64_t& out) {
  struct Suffix {
    std::string_view name;
    uint64_t factor;
  };
  static constexpr Suffix Suffixes[] = {
      {"", 1},
      {"b", 1},
      {"k", 1ULL << 10},
      {"kb", 1ULL << 10},
      {"kib", 1ULL << 10},
      {"m", 1ULL << 20},
      {"mb", 1ULL << 20},
      {"mib", 1ULL << 20},
      {"g", 1ULL << 30},
      {"gb", 1ULL << 30},
      {"gib", 1ULL << 30},
  };
  size_t pos = 0;
  uint64_t value = 0;
  if (!readDigits(text, pos, value)) return false;
  std::string_view suffix = text.substr(pos);
  for (const Suffix& s : Suffixes) {
    if (equalsIgnoreCase(suffix, s.name)) {
      uint64_t bytes = 0;
      if (__builtin_mul_overflow(value, s.factor, &bytes)) return false;
      out = bytes;
      return true;
    }
  }
  return false;
}

std::string child(const std::string& path, std::string_view key) {
  if (path.empty()) return std::string(key);
  std::string out = path;
  out += '.';
  out += key;
  return out;
}

std::string child(const std::string& path, size_t index) {
  return path + "[" + std::to_string(index) + "]";
}

}  // namespace switchyard::config
