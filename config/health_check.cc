#include "config/health_check.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <sstream>
#include <string_view>

#include "config/config_error.h"
#include "config/yaml_util.h"
#include "proxy/common/duration.h"
#include "proxy/common/strings.h"

namespace switchyard::upstream {
namespace {

using common::formatDuration;
using common::quote;
using config::child;
using config::ConfigError;

constexpr milliseconds MaxInterval = std::chrono::hours(1);
constexpr milliseconds MaxBaseEjection = std::chrono::hours(1);
constexpr milliseconds MaxEjection = std::chrono::hours(24);
constexpr int64_t MaxThreshold = 1000;

// Visible ASCII only: a path or Host value goes into the request head as it is.
bool visibleAscii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

bool parseNumber(std::string_view text, int& out) {
  if (text.empty()) return false;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

StatusRange parseStatusItem(const YAML::Node& node, const std::string& path) {
  const std::string text = config::getString(node, path);
  const std::string expected =
      "expected a status such as 200, a range such as 200-399 or a class such as 2xx, got " +
      quote(text);
  StatusRange range;
  const size_t dash = text.find('-');
  if (text.size() == 3 && text[1] == 'x' && text[2] == 'x' && text[0] >= '1' && text[0] <= '5') {
    range.first = (text[0] - '0') * 100;
    range.last = range.first + 99;
    return range;
  }
  if (dash == std::string::npos) {
    if (!parseNumber(text, range.first)) throw ConfigError(node, path, expected);
    range.last = range.first;
  } else if (!parseNumber(std::string_view(text).substr(0, dash), range.first) ||
             !parseNumber(std::string_view(text).substr(dash + 1), range.last)) {
    throw ConfigError(node, path, expected);
  }
  for (int status : {range.first, range.last}) {
    if (status < MinProbeStatus || status > MaxProbeStatus) {
      throw ConfigError(node, path,
                        "status " + std::to_string(status) + " is outside " +
                            std::to_string(MinProbeStatus) + "-" + std::to_string(MaxProbeStatus));
    }
  }
  if (range.first > range.last) {
    throw ConfigError(node, path, "range " + quote(text) + " runs backwards");
  }
  return range;
}

std::vector<StatusRange> parseStatuses(const YAML::Node& node, const std::string& path) {
  std::vector<StatusRange> out;
  if (node.IsScalar()) {
    out.push_back(parseStatusItem(node, path));
    return out;
  }
  config::expectSequence(node, path);
  for (size_t i = 0; i < node.size(); ++i) out.push_back(parseStatusItem(node[i], child(path, i)));
  if (out.empty()) throw ConfigError(node, path, "at least one status is required");
  return out;
}

double parseJitter(const YAML::Node& node, const std::string& path) {
  const std::string text = config::getString(node, path);
  const std::string expected = "expected a percentage such as \"10%\", got " + quote(text);
  std::string_view digits = text;
  if (digits.empty() || digits.back() != '%') throw ConfigError(node, path, expected);
  digits.remove_suffix(1);
  double percent = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), percent);
  if (digits.empty() || ec != std::errc() || ptr != digits.data() + digits.size() ||
      !std::isfinite(percent)) {
    throw ConfigError(node, path, expected);
  }
  if (percent < 0 || percent > 100) throw ConfigError(node, path, "must be between 0% and 100%");
  return percent / 100;
}

uint32_t threshold(const YAML::Node& node, const std::string& path) {
  return static_cast<uint32_t>(config::getInt(node, path, 1, MaxThreshold));
}

std::string formatPercent(double share) {
  std::ostringstream out;
  out << share * 100 << '%';
  return out.str();
}

}  // namespace

bool HealthCheckConfig::isExpectedStatus(int status) const {
  return std::any_of(
      expected_statuses.begin(), expected_statuses.end(),
      [status](const StatusRange& r) { return status >= r.first && status <= r.last; });
}

nlohmann::json HealthCheckConfig::toJson() const {
  nlohmann::json statuses = nlohmann::json::array();
  for (const StatusRange& r : expected_statuses) {
    if (r.first == r.last) {
      statuses.push_back(r.first);
    } else {
      statuses.push_back(std::to_string(r.first) + "-" + std::to_string(r.last));
    }
  }
  nlohmann::json out = {
      {"path", path},
      {"interval", formatDuration(interval)},
      {"timeout", formatDuration(timeout)},
      {"unhealthy_threshold", unhealthy_threshold},
      {"healthy_threshold", healthy_threshold},
      {"expected_statuses", std::move(statuses)},
      {"jitter", formatPercent(jitter)},
  };
  if (!host.empty()) out["host"] = host;
  return out;
}

nlohmann::json OutlierDetectionConfig::toJson() const {
  return {
      {"consecutive_5xx", consecutive_5xx},
      {"consecutive_connect_failures", consecutive_connect_failures},
      {"base_ejection_time", formatDuration(base_ejection_time)},
      {"max_ejection_time", formatDuration(max_ejection_time)},
      {"max_ejection_percent", max_ejection_percent},
  };
}

HealthCheckConfig parseHealthCheckConfig(const YAML::Node& node, const std::string& path) {
  HealthCheckConfig out;
  if (!node.IsDefined() || node.IsNull()) return out;
  config::expectMap(node, path,
                    {"path", "host", "interval", "timeout", "unhealthy_threshold",
                     "healthy_threshold", "expected_statuses", "jitter"});
  if (const YAML::Node n = node["path"]) {
    const std::string p = child(path, "path");
    out.path = config::getString(n, p);
    if (out.path.empty() || out.path.front() != '/') {
      throw ConfigError(n, p, "invalid path " + quote(out.path) + " (must start with \"/\")");
    }
    if (!visibleAscii(out.path)) {
      throw ConfigError(n, p, "invalid path " + quote(out.path) + " (spaces or control bytes)");
    }
  }
  if (const YAML::Node n = node["host"]) {
    const std::string p = child(path, "host");
    out.host = config::getString(n, p);
    if (out.host.empty() || !visibleAscii(out.host)) {
      throw ConfigError(n, p, "invalid host " + quote(out.host));
    }
  }
  if (const YAML::Node n = node["interval"]) {
    out.interval = config::getPositiveDuration(n, child(path, "interval"), MaxInterval);
  }
  if (const YAML::Node n = node["timeout"]) {
    out.timeout = config::getPositiveDuration(n, child(path, "timeout"), MaxInterval);
  }
  if (out.timeout >= out.interval) {
    // Reported where the user wrote something: the timeout if given, else the interval.
    if (const YAML::Node n = node["timeout"]) {
      throw ConfigError(n, child(path, "timeout"),
                        "must be below the interval (" + formatDuration(out.interval) + ")");
    }
    throw ConfigError(node["interval"], child(path, "interval"),
                      "must be above the timeout (" + formatDuration(out.timeout) + ")");
  }
  if (const YAML::Node n = node["unhealthy_threshold"]) {
    out.unhealthy_threshold = threshold(n, child(path, "unhealthy_threshold"));
  }
  if (const YAML::Node n = node["healthy_threshold"]) {
    out.healthy_threshold = threshold(n, child(path, "healthy_threshold"));
  }
  if (const YAML::Node n = node["expected_statuses"]) {
    out.expected_statuses = parseStatuses(n, child(path, "expected_statuses"));
  }
  if (const YAML::Node n = node["jitter"]) out.jitter = parseJitter(n, child(path, "jitter"));
  return out;
}

OutlierDetectionConfig parseOutlierDetectionConfig(const YAML::Node& node,
                                                   const std::string& path) {
  OutlierDetectionConfig out;
  if (!node.IsDefined() || node.IsNull()) return out;
  config::expectMap(node, path,
                    {"consecutive_5xx", "consecutive_connect_failures", "base_ejection_time",
                     "max_ejection_time", "max_ejection_percent"});
  if (const YAML::Node n = node["consecutive_5xx"]) {
    out.consecutive_5xx =
        static_cast<uint32_t>(config::getInt(n, child(path, "consecutive_5xx"), 0, 10'000));
  }
  if (const YAML::Node n = node["consecutive_connect_failures"]) {
    out.consecutive_connect_failures = static_cast<uint32_t>(
        config::getInt(n, child(path, "consecutive_connect_failures"), 0, 10'000));
  }
  if (const YAML::Node n = node["base_ejection_time"]) {
    out.base_ejection_time =
        config::getPositiveDuration(n, child(path, "base_ejection_time"), MaxBaseEjection);
  }
  if (const YAML::Node n = node["max_ejection_time"]) {
    const std::string p = child(path, "max_ejection_time");
    out.max_ejection_time = config::getPositiveDuration(n, p, MaxEjection);
    if (out.max_ejection_time < out.base_ejection_time) {
      throw ConfigError(
          n, p,
          "must not be below base_ejection_time (" + formatDuration(out.base_ejection_time) + ")");
    }
  } else {
    out.max_ejection_time = std::max(out.max_ejection_time, out.base_ejection_time);
  }
  if (const YAML::Node n = node["max_ejection_percent"]) {
    out.max_ejection_percent =
        static_cast<uint32_t>(config::getInt(n, child(path, "max_ejection_percent"), 0, 100));
  }
  return out;
}

}  // namespace switchyard::upstream
